//! The VRRP child (`-P`/`--vrrp`): maps the configuration into the VRRP
//! engine's types, runs the engine with its scripts and notifies, and stops
//! it the keepalived way on SIGTERM/SIGINT.
//!
//! - [`map`]: `kaconf::model::Config` → `vrrp::driver::DriverCfg`.
//! - [`track`]: vrrp_script (rise/fall) and track_file → tracker inputs.
//! - [`notify`]: notify scripts and the notify FIFO.

pub mod dump;
pub mod map;
pub mod notify;
pub mod track;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use checkers::script::Script;
use kaconf::model::{self, Config};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{error, warn};
use vrrp::driver::{self, Event};

use crate::daemon::{EXIT_CONFIG, EXIT_FATAL, EXIT_OK};

/// The command-line bits the VRRP role needs.
#[derive(Clone, Debug, Default)]
pub struct VrrpRoleOpts {
    /// `-V`: leave VIPs, routes and rules in place at stop.
    pub dont_release_vrrp: bool,
    /// `-D`: print keepalived's detail lines too.
    pub log_detail: bool,
}

/// Runs until SIGTERM/SIGINT; returns the exit code.
pub fn run(config_path: &Path, config: Config, opts: &VrrpRoleOpts) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("Unable to start runtime: {e}");
            return EXIT_FATAL;
        }
    };
    let _ = config_path;
    rt.block_on(serve(config, opts))
}

fn resolve_user(
    user: Option<&str>,
    group: Option<&str>,
    global: Option<&(String, Option<String>)>,
) -> Option<(u32, u32)> {
    let (u, g) = match (user, global) {
        (Some(u), _) => (u.to_owned(), group.map(str::to_owned)),
        (None, Some((u, g))) => (u.clone(), g.clone()),
        (None, None) => return None,
    };
    let pw = nix::unistd::User::from_name(&u).ok().flatten()?;
    let gid = match g {
        Some(g) => nix::unistd::Group::from_name(&g)
            .ok()
            .flatten()?
            .gid
            .as_raw(),
        None => pw.gid.as_raw(),
    };
    Some((pw.uid.as_raw(), gid))
}

fn script(s: &model::Script, global_user: Option<&(String, Option<String>)>) -> Option<Script> {
    match Script::new(s.argv.clone()) {
        Ok(sc) => Some(
            match resolve_user(s.user.as_deref(), s.group.as_deref(), global_user) {
                Some((uid, gid)) => sc.as_user(uid, gid),
                None => sc,
            },
        ),
        Err(e) => {
            warn!("{e} - disabling");
            None
        }
    }
}

fn notifies(n: &model::Notify, gu: Option<&(String, Option<String>)>) -> notify::Notifies {
    let f = |s: &Option<model::Script>| s.as_ref().and_then(|s| script(s, gu));
    notify::Notifies {
        master: f(&n.master),
        backup: f(&n.backup),
        fault: f(&n.fault),
        stop: f(&n.stop),
        notify: f(&n.notify),
        master_rx_lower_pri: f(&n.master_rx_lower_pri),
    }
}

async fn serve(config: Config, opts: &VrrpRoleOpts) -> i32 {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        error!("Unable to install signal handlers");
        return EXIT_FATAL;
    };
    crate::daemon::absorb_dump_signals("Keepalived_vrrp", &["SIGUSR2", "SIGRTMIN+2", "SIGRTMAX-1"]);
    let (dcfg, errors) = map::driver_cfg(&config, opts.log_detail, opts.dont_release_vrrp);
    for e in &errors {
        error!("{e}");
    }
    if !errors.is_empty() && dcfg.instances.is_empty() {
        return EXIT_CONFIG;
    }
    let g = &config.global_defs;
    let gu = g.script_user.as_ref();
    // Instance index → its config (the mapped list skips broken instances).
    let inst_cfgs: Vec<&model::VrrpInstance> = dcfg
        .instances
        .iter()
        .filter_map(|i| config.vrrp_instances.iter().find(|v| v.name == i.fsm.name))
        .collect();
    let names: Vec<String> = inst_cfgs.iter().map(|v| v.name.clone()).collect();
    let inst_notify: Vec<notify::Notifies> =
        inst_cfgs.iter().map(|v| notifies(&v.notify, gu)).collect();
    let group_notify: Vec<(String, notify::Notifies)> = dcfg
        .sync_groups
        .iter()
        .filter_map(|sg| config.sync_groups.iter().find(|s| s.name == sg.name))
        .map(|s| (s.name.clone(), notifies(&s.notify, gu)))
        .collect();
    let fifo_cfg = g.vrrp_notify_fifo.as_ref().or(g.notify_fifo.as_ref());
    let mut fifo = fifo_cfg.and_then(|f| match notify::Fifo::open(&f.path) {
        Ok(fifo) => {
            if let Some(s) = f.script.as_ref().and_then(|s| script(s, gu))
                && let Err(e) = s.notify(&[&f.path], None)
            {
                warn!("Unable to start notify FIFO script: {e}");
            }
            Some(fifo)
        }
        Err(e) => {
            warn!("Unable to open notify FIFO {}: {e}", f.path);
            None
        }
    });

    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let view = Arc::new(Mutex::new(dump::View::new(
        dcfg.instances
            .iter()
            .zip(&inst_cfgs)
            .map(|(i, v)| ((*v).clone(), i.vmac.as_ref().map(|m| m.ifname.clone())))
            .collect(),
    )));
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();

    // vrrp_script: one task per script that some instance tracks.
    let mut script_trackers: HashMap<String, Vec<track::Tracking>> = HashMap::new();
    let mut file_trackers: HashMap<String, Vec<track::Tracking>> = HashMap::new();
    for (i, v) in inst_cfgs.iter().enumerate() {
        for t in &v.track.script {
            let base = config
                .vrrp_scripts
                .iter()
                .find(|s| s.name == t.name)
                .map_or(0, |s| s.weight);
            let rev = config
                .vrrp_scripts
                .iter()
                .find(|s| s.name == t.name)
                .is_some_and(|s| s.weight_reverse);
            script_trackers
                .entry(t.name.clone())
                .or_default()
                .push(track::Tracking {
                    instance: i,
                    weight: t.weight.unwrap_or(base),
                    reverse: t.reverse || (t.weight.is_none() && rev),
                });
        }
        for t in &v.track.file {
            file_trackers
                .entry(t.name.clone())
                .or_default()
                .push(track::Tracking {
                    instance: i,
                    weight: t.weight.unwrap_or(0),
                    reverse: t.reverse,
                });
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(dump::serve_signals(cmd_tx.clone(), Arc::clone(&view)));
    for vs in &config.vrrp_scripts {
        let Some(trackers) = script_trackers.remove(&vs.name) else {
            continue;
        };
        let Some(sc) = vs.script.as_ref() else {
            warn!("No script set for vrrp_script {} - removing", vs.name);
            continue;
        };
        let Some(mut sc) = script(sc, None) else {
            continue;
        };
        if let Some((u, g)) = vs.user.as_ref().map(|(u, g)| (u.as_str(), g.as_deref()))
            && let Some((uid, gid)) = resolve_user(Some(u), g, None)
        {
            sc = sc.as_user(uid, gid);
        } else if let Some((uid, gid)) = resolve_user(None, None, gu) {
            sc = sc.as_user(uid, gid);
        }
        // keepalived: 0 means 1 s.
        let interval = if vs.interval == 0 {
            Duration::from_secs(1)
        } else {
            Duration::from_micros(vs.interval)
        };
        let timeout = vs.timeout.map_or(interval, Duration::from_micros);
        let t = track::ScriptTask {
            name: vs.name.clone(),
            script: sc,
            interval,
            timeout,
            hysteresis: track::Hysteresis::new(vs.rise, vs.fall, vs.init_fail),
            trackers,
        };
        tasks.spawn(t.run(cmd_tx.clone()));
    }
    for tf in &config.track_files {
        let (Some(trackers), Some(path)) = (file_trackers.remove(&tf.name), tf.file.clone()) else {
            continue;
        };
        let t = track::FileTask {
            name: tf.name.clone(),
            path,
            weight: tf.weight,
            trackers,
        };
        tasks.spawn(t.run(cmd_tx.clone()));
    }

    let shutdown = async {
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => warn!("Reloading is not supported by the VRRP process yet - keeping the running configuration"),
            }
        }
    };
    let engine = driver::run(dcfg, cmd_rx, ev_tx, shutdown);
    let events = async {
        while let Some(ev) = ev_rx.recv().await {
            match ev {
                Event::Instance {
                    instance,
                    transition,
                } => {
                    view.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .transitioned(instance);
                    let name = &names[instance];
                    let prio = transition.priority.get();
                    inst_notify[instance]
                        .run("INSTANCE", name, transition.to, prio)
                        .await;
                    if let Some(f) = &mut fifo {
                        f.line("INSTANCE", name, transition.to.keyword(), prio);
                    }
                }
                Event::Group { group, state } => {
                    if let Some((name, n)) = group_notify.get(group) {
                        n.run("GROUP", name, state, 0).await;
                        if let Some(f) = &mut fifo {
                            f.line("GROUP", name, state.keyword(), 0);
                        }
                    }
                }
                Event::MasterRxLowerPri { instance, priority } => {
                    if let Some(s) = &inst_notify[instance].master_rx_lower_pri {
                        let _ = s.notify(&[], None);
                    }
                    if let Some(f) = &mut fifo {
                        f.line(
                            "INSTANCE",
                            &names[instance],
                            "MASTER_RX_LOWER_PRI",
                            priority.get(),
                        );
                    }
                }
                Event::Priority {
                    instance,
                    state,
                    priority,
                } => {
                    if let Some(f) = &mut fifo {
                        let what = if state == vrrp::fsm::State::Master {
                            "MASTER_PRIORITY"
                        } else {
                            "BACKUP_PRIORITY"
                        };
                        f.line("INSTANCE", &names[instance], what, priority.get());
                    }
                }
            }
        }
    };
    let (res, ()) = tokio::join!(engine, events);
    tasks.abort_all();
    drop(cmd_tx);
    // Let the STOP notifies start their reaper tasks before the runtime ends.
    tokio::task::yield_now().await;
    match res {
        Ok(()) => EXIT_OK,
        Err(e) => {
            error!("{e}");
            match e {
                driver::DriverError::Config { .. } | driver::DriverError::NoInterface { .. } => {
                    EXIT_CONFIG
                }
                _ => EXIT_FATAL,
            }
        }
    }
}
