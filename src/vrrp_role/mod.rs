//! The VRRP child (`-P`/`--vrrp`): maps the configuration into the VRRP
//! engine's types, runs the engine with its scripts and notifies, reloads
//! on SIGHUP, and stops it the keepalived way on SIGTERM/SIGINT.
//!
//! Reload: the file is parsed again off the engine's thread; a file with
//! fatal errors, or an instance that cannot run, leaves everything as it
//! is. Otherwise the scripts are stopped (their results carried over by
//! name), the driver diffs and switches (`vrrp::reload`), and the event
//! side switches its notify tables and FIFO at the driver's `Reloaded`
//! marker, so that each event is read with the numbering it was sent in.
//!
//! - [`map`]: `kaconf::model::Config` → `vrrp::driver::DriverCfg`.
//! - [`track`]: vrrp_script (rise/fall) and track_file → tracker inputs.
//! - [`notify`]: notify scripts and the notify FIFO.
//! - [`igmp`]: the `disable_local_igmp` setting.
//! - [`mail`]: which transitions are mailed (`smtp_alert`); sent by
//!   [`crate::smtp`] in tasks of their own.

pub mod dump;
pub mod igmp;
pub mod mail;
pub mod map;
pub mod notify;
pub mod track;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use checkers::script::Script;
use kaconf::model::{self, Config};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{error, info, warn};
use vrrp::driver::{self, Event};

use crate::daemon::{EXIT_CONFIG, EXIT_FATAL, EXIT_OK};

/// The command-line bits the VRRP role needs.
#[derive(Clone, Debug, Default)]
pub struct VrrpRoleOpts {
    /// `-V`: leave VIPs, routes and rules in place at stop.
    pub dont_release_vrrp: bool,
    /// `-D`: print keepalived's detail lines too.
    pub log_detail: bool,
    /// `-u`, for the data dump.
    pub umask: Option<u32>,
    /// keepalived's lines for the interfaces the configuration names and
    /// the system lacked at start (see `syscheck::interfaces`), if any:
    /// the process then stops, saying so.
    pub missing_interfaces: Option<Vec<String>>,
}

/// Runs until SIGTERM/SIGINT, re-reading `config_path` (with `popts`, as
/// at start) on SIGHUP; returns the exit code.
pub fn run(
    config_path: &Path,
    popts: &kaconf::Options,
    config: Config,
    opts: &VrrpRoleOpts,
) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_start(crate::sched::normal_thread)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("Unable to start runtime: {e}");
            return EXIT_FATAL;
        }
    };
    rt.block_on(serve(config_path, popts, config, opts))
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
        notify_deleted: n.deleted.is_some(),
        deleted: n.deleted.as_ref().and_then(f),
    }
}

/// Instance and group numbers → names and notify scripts, for one
/// configuration.
#[derive(Default)]
struct Tables {
    names: Vec<String>,
    inst_notify: Vec<notify::Notifies>,
    group_notify: Vec<(String, notify::Notifies)>,
    /// `fifo_write_vrrp_states_on_reload`.
    fifo_states_on_reload: bool,
    /// Each instance's configuration and VMAC name, and the router id, for
    /// the dump files.
    dump: Vec<(model::VrrpInstance, Option<String>)>,
    globals: Config,
    /// Sync groups, scripts and track files for keepalived.data.
    track: dump::TrackView,
    /// Email alerts of this configuration.
    mail: mail::MailCfg,
}

/// A vrrp_script some instance tracks.
#[derive(Clone)]
struct ScriptSpec {
    name: String,
    script: Script,
    interval: Duration,
    timeout: Duration,
    rise: u32,
    fall: u32,
    init_fail: bool,
    trackers: Vec<track::Tracking>,
}

/// A track_file some instance tracks.
#[derive(Clone)]
struct FileSpec {
    name: String,
    path: String,
    weight: i32,
    trackers: Vec<track::Tracking>,
}

/// The notify FIFO and the script reading it.
#[derive(Clone)]
struct FifoCfg {
    path: String,
    script: Option<Script>,
}

/// One configuration, mapped for the driver and for the daemon's side.
struct Prepared {
    /// `vrrp_priority` and the rest, and `vrrp_process_name`.
    sched: (model::ProcessSched, Option<String>),
    dcfg: driver::DriverCfg,
    errors: Vec<map::MapError>,
    tables: Tables,
    fifo: Option<FifoCfg>,
    scripts: Vec<ScriptSpec>,
    files: Vec<FileSpec>,
}

/// The mailer `config` asks for; may block (name resolution), so a reload
/// calls it off the engine's thread.
fn mailer(config: &Config, opts: &VrrpRoleOpts) -> Option<Arc<crate::smtp::Mailer>> {
    crate::smtp::Mailer::from_config(
        &config.global_defs,
        crate::smtp::message::local_name,
        opts.log_detail,
    )
    .map(Arc::new)
}

fn prepare(
    config: &Config,
    opts: &VrrpRoleOpts,
    mailer: Option<Arc<crate::smtp::Mailer>>,
) -> Prepared {
    let (dcfg, errors) = map::driver_cfg(config, opts.log_detail, opts.dont_release_vrrp);
    let g = &config.global_defs;
    let gu = g.script_user.as_ref();
    // Instance index → its config (the mapped list skips broken instances).
    let inst_cfgs: Vec<&model::VrrpInstance> = dcfg
        .instances
        .iter()
        .filter_map(|i| config.vrrp_instances.iter().find(|v| v.name == i.fsm.name))
        .collect();
    if config.global_defs.nftables.is_none()
        && inst_cfgs
            .iter()
            .any(|v| v.accept == Some(false) || v.use_vmac.is_some())
    {
        // keepalived's firewall choice, made while it completes the instances
        info!(
            "use_vmac or no_accept/strict specified, but no firewall configured - using nftables"
        );
    }
    let inst_names: Vec<&str> = inst_cfgs.iter().map(|v| v.name.as_str()).collect();
    let group_names: Vec<&str> = dcfg.sync_groups.iter().map(|sg| sg.name.as_str()).collect();
    let mail = mail::MailCfg::new(config, mailer, &inst_names, &group_names);
    let tables = Tables {
        track: dump::TrackView::new(config, &inst_names, &group_names),
        mail,
        names: inst_cfgs.iter().map(|v| v.name.clone()).collect(),
        inst_notify: inst_cfgs.iter().map(|v| notifies(&v.notify, gu)).collect(),
        group_notify: dcfg
            .sync_groups
            .iter()
            .filter_map(|sg| config.sync_groups.iter().find(|s| s.name == sg.name))
            .map(|s| (s.name.clone(), notifies(&s.notify, gu)))
            .collect(),
        fifo_states_on_reload: g.fifo_write_vrrp_states_on_reload,
        dump: dcfg
            .instances
            .iter()
            .zip(&inst_cfgs)
            .map(|(i, v)| ((*v).clone(), i.vmac.as_ref().map(|m| m.ifname.clone())))
            .collect(),
        globals: Config {
            root: config.root.clone(),
            global_defs: g.clone(),
            ..Config::default()
        },
    };
    let fifo = g
        .vrrp_notify_fifo
        .as_ref()
        .or(g.notify_fifo.as_ref())
        .map(|f| FifoCfg {
            path: f.path.clone(),
            script: f.script.as_ref().and_then(|s| script(s, gu)),
        });

    // vrrp_script: one task per script that some instance tracks.
    let mut script_trackers: HashMap<String, Vec<track::Tracking>> = HashMap::new();
    let mut file_trackers: HashMap<String, Vec<track::Tracking>> = HashMap::new();
    for (i, v) in inst_cfgs.iter().enumerate() {
        let track = map::tracking(config, v);
        for t in &track.script {
            let vs = config.vrrp_scripts.iter().find(|s| s.name == t.name);
            let base = vs.map_or(0, |s| s.weight);
            let rev = vs.is_some_and(|s| s.weight_reverse);
            script_trackers
                .entry(t.name.clone())
                .or_default()
                .push(track::Tracking {
                    instance: i,
                    weight: t.weight.unwrap_or(base),
                    reverse: t.reverse || (t.weight.is_none() && rev),
                });
        }
        for t in &track.file {
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
    let mut scripts = Vec::new();
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
        scripts.push(ScriptSpec {
            name: vs.name.clone(),
            script: sc,
            interval,
            timeout: vs.timeout.map_or(interval, Duration::from_micros),
            rise: vs.rise,
            fall: vs.fall,
            // keepalived 2.2.7 resets a script's init state when an
            // instance tracks it (alloc_track_script), so `init_fail` has
            // no effect: the first result decides, as without it (checked
            // against Debian's keepalived, tests/vrrp_netns.rs script_init_*).
            init_fail: false,
            trackers,
        });
    }
    let mut files = Vec::new();
    for tf in &config.track_files {
        let (Some(trackers), Some(path)) = (file_trackers.remove(&tf.name), tf.file.clone()) else {
            continue;
        };
        files.push(FileSpec {
            name: tf.name.clone(),
            path,
            weight: tf.weight,
            trackers,
        });
    }
    Prepared {
        sched: (
            config.global_defs.vrrp_sched.clone(),
            config.global_defs.vrrp_process_name.clone(),
        ),
        dcfg,
        errors,
        tables,
        fifo,
        scripts,
        files,
    }
}

/// The running vrrp_script and track_file tasks.
#[derive(Default)]
struct Trackers {
    tasks: tokio::task::JoinSet<()>,
    scripts: HashMap<String, Arc<Mutex<track::ScriptState>>>,
}

impl Trackers {
    /// Stops every task and returns the scripts' states.
    async fn stop(&mut self) -> HashMap<String, track::ScriptState> {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.scripts
            .drain()
            .map(|(n, s)| (n, s.lock().unwrap_or_else(|e| e.into_inner()).clone()))
            .collect()
    }
}

/// Tasks for `scripts` and `files` (not yet running), with the tracker
/// inputs their current state means: scripts continue from `carried` (by
/// name, as keepalived carries them over a reload, logging it if
/// `reload`), and those without a result since the start hold their
/// weight-0 trackers' instances; files are read now.
#[allow(clippy::type_complexity)]
fn tracker_tasks(
    scripts: &[ScriptSpec],
    files: &[FileSpec],
    carried: &HashMap<String, track::ScriptState>,
    epoch: u64,
    reload: bool,
) -> (
    Vec<track::ScriptTask>,
    Vec<track::FileTask>,
    Vec<(usize, vrrp::fsm::Input)>,
) {
    let mut inputs = Vec::new();
    let mut stasks = Vec::new();
    for s in scripts {
        let (hysteresis, last_status, holds) = match carried.get(&s.name) {
            Some(old) => {
                let (h, up) = old.hysteresis.carry(s.rise, s.fall, s.init_fail);
                if let Some(up) = up {
                    if reload {
                        info!(
                            "VRRP_Script({}) considered {} on reload",
                            s.name,
                            if up { "successful" } else { "unsuccessful" }
                        );
                    }
                    inputs.extend(track::inputs("script", &s.name, &s.trackers, up));
                }
                (h, old.last_status, old.holds && up.is_none())
            }
            None => (
                track::Hysteresis::new(s.rise, s.fall, s.init_fail),
                0,
                !reload,
            ),
        };
        if holds {
            inputs.extend(track::pending(&s.name, &s.trackers));
        }
        stasks.push(track::ScriptTask {
            name: s.name.clone(),
            script: s.script.clone(),
            interval: s.interval,
            timeout: s.timeout,
            state: Arc::new(Mutex::new(track::ScriptState {
                hysteresis,
                last_status,
                holds,
                running: false,
            })),
            trackers: s.trackers.clone(),
            epoch,
        });
    }
    let ftasks: Vec<track::FileTask> = files
        .iter()
        .map(|f| track::FileTask {
            name: f.name.clone(),
            path: f.path.clone(),
            weight: f.weight,
            trackers: f.trackers.clone(),
            epoch,
        })
        .collect();
    // keepalived reads tracked files before its instances start, and
    // again at a reload.
    for f in &ftasks {
        // a refused number leaves keepalived's start-up value, 0
        inputs.extend(f.inputs(f.read().unwrap_or(0)));
    }
    (stasks, ftasks, inputs)
}

fn spawn_trackers(
    stasks: Vec<track::ScriptTask>,
    ftasks: Vec<track::FileTask>,
    cmd_tx: &mpsc::UnboundedSender<driver::Command>,
) -> Trackers {
    let mut t = Trackers::default();
    for s in stasks {
        t.scripts.insert(s.name.clone(), s.state.clone());
        t.tasks.spawn(s.run(cmd_tx.clone()));
    }
    for f in ftasks {
        t.tasks.spawn(f.run(cmd_tx.clone()));
    }
    t
}

/// The open notify FIFO and the script reading it.
struct FifoState {
    fifo: notify::Fifo,
    script: Option<tokio::process::Child>,
}

fn open_fifo(cfg: Option<&FifoCfg>) -> Option<FifoState> {
    let f = cfg?;
    match notify::Fifo::open(&f.path) {
        Ok(fifo) => {
            let script = f.script.as_ref().and_then(|s| match s.spawn(&[&f.path]) {
                Ok(c) => Some(c),
                Err(e) => {
                    warn!("Unable to start notify FIFO script: {e}");
                    None
                }
            });
            Some(FifoState { fifo, script })
        }
        Err(e) => {
            warn!("Unable to open notify FIFO {}: {e}", f.path);
            None
        }
    }
}

/// keepalived closes the FIFO at a reload and stops its script (SIGTERM);
/// the new configuration's are opened and started.
fn close_fifo(f: Option<FifoState>) {
    let Some(FifoState { fifo, script }) = f else {
        return;
    };
    drop(fifo);
    if let Some(mut child) = script {
        if let Some(pid) = child.id() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
    }
}

/// What the event side switches to when the driver says the reload took.
struct Switch {
    tables: Tables,
    fifo: Option<FifoCfg>,
}

/// Parses and maps the file again; `None` (after logging why) if the
/// result cannot replace the running configuration.
async fn reparse(path: &Path, popts: &kaconf::Options, opts: &VrrpRoleOpts) -> Option<Prepared> {
    let (path, popts) = (path.to_string_lossy().into_owned(), popts.clone());
    // Off the engine's thread: a big file must not delay adverts.
    let o = opts.clone();
    let (parsed, mailer) = tokio::task::spawn_blocking(move || {
        let parsed = kaconf::parse_file(&path, &popts);
        let m = mailer(&parsed.config, &o);
        (parsed, m)
    })
    .await
    .ok()?;
    let fatal = !parsed.found
        || parsed
            .diags
            .list
            .iter()
            .any(|d| matches!(d.class, kaconf::Class::Fatal | kaconf::Class::FileNotFound));
    crate::log::config_diagnostics(&parsed, kaconf::Process::Vrrp, true);
    if fatal {
        return None;
    }
    crate::syscheck::forget_default_user();
    let scripts = crate::syscheck::load_lines(&parsed.config, crate::syscheck::Loader::Vrrp, true);
    if let Some(line) = scripts.user {
        info!("{line}");
    }
    let p = prepare(&parsed.config, opts, mailer);
    for e in &p.errors {
        error!("{e}");
    }
    if let Some(line) = scripts.violation {
        info!("{line}");
    }
    // An instance that cannot run would be stopped by the reload: refuse
    // it, as keepalived refuses such a file.
    p.errors.is_empty().then_some(p)
}

async fn serve(path: &Path, popts: &kaconf::Options, config: Config, opts: &VrrpRoleOpts) -> i32 {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        error!("Unable to install signal handlers");
        return EXIT_FATAL;
    };
    crate::daemon::absorb_dump_signals(
        "Keepalived_vrrp",
        &["SIGUSR1", "SIGUSR2", "SIGRTMIN+2", "SIGRTMAX-1"],
    );
    let m = mailer(&config, opts);
    let p = prepare(&config, opts, m);
    let scripts = crate::syscheck::load_lines(&config, crate::syscheck::Loader::Vrrp, false);
    if let Some(line) = scripts.user {
        info!("{line}");
    }
    // put back when this function returns, after the engine has stopped
    let _local_igmp = config
        .global_defs
        .disable_local_igmp
        .then(igmp::LocalIgmp::disable);
    drop(config);
    // keepalived's VRRP process stops at a missing interface once it has
    // read the file, before its script security and instance checks
    if let Some(lines) = &opts.missing_interfaces {
        // config errors: LOG_INFO, as keepalived logs them
        for line in lines {
            info!("{line}");
        }
        info!("Non-existent interface specified in configuration");
        return EXIT_CONFIG;
    }
    if let Some(line) = scripts.violation {
        info!("{line}");
    }
    // An instance that cannot run stops keepalived's VRRP process at start
    // (CONFIG), all the others with it; the reason is among the config
    // errors already logged, once, as keepalived logs it.
    if !p.errors.is_empty() {
        return EXIT_CONFIG;
    }
    let view = Arc::new(Mutex::new(dump::View::new(
        p.tables.dump.clone(),
        p.tables.globals.clone(),
    )));
    view.lock()
        .unwrap_or_else(|e| e.into_inner())
        .set_tracking(p.tables.track.clone(), false);
    let alerts = RefCell::new(mail::Alerts::new(p.tables.mail.clone()));
    let tables = RefCell::new(Rc::new(p.tables));
    let fifo = RefCell::new(open_fifo(p.fifo.as_ref()));
    let pending: RefCell<Option<Switch>> = RefCell::new(None);

    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let dumps = tokio::spawn(dump::serve_signals(
        cmd_tx.clone(),
        Arc::clone(&view),
        opts.umask,
    ));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();

    let (st, ft, start_inputs) = tracker_tasks(&p.scripts, &p.files, &HashMap::new(), 0, false);
    let mut trackers = spawn_trackers(st, ft, &cmd_tx);
    let mut dcfg = p.dcfg;
    dcfg.start_inputs = start_inputs;
    let scripts_to_view = |t: &Trackers| {
        view.lock().unwrap_or_else(|e| e.into_inner()).scripts = t.scripts.clone();
    };
    scripts_to_view(&trackers);
    let mut current = (p.scripts, p.files);
    let mut epoch = 0;
    // keepalived sets its scheduling once the configuration is loaded, and
    // drops back to the normal scheduler while it reloads
    let mut sched_now = p.sched;
    if let Some(name) = &sched_now.1 {
        crate::sched::set_name(name);
    }
    let mut applied = Some(crate::sched::apply(&sched_now.0, crate::sched::Role::Vrrp));

    let control = async {
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                () = cmd_tx.closed() => break,
                _ = hup.recv() => {
                    info!("Reloading");
                    if let Some(a) = applied.take() {
                        crate::sched::reset(a);
                    }
                    let Some(p) = reparse(path, popts, opts).await else {
                        error!("Configuration reload failed - keeping the running configuration");
                        applied = Some(crate::sched::apply(&sched_now.0, crate::sched::Role::Vrrp));
                        crate::ready::notify();
                        continue;
                    };
                    if p.sched.1 != sched_now.1 {
                        crate::sched::set_name(p.sched.1.as_deref().unwrap_or("keepalived"));
                    }
                    sched_now = p.sched;
                    // keepalived stops every script at a reload; results
                    // are carried over by name.
                    let carried = trackers.stop().await;
                    let (st, ft, inputs) =
                        tracker_tasks(&p.scripts, &p.files, &carried, epoch + 1, true);
                    *pending.borrow_mut() = Some(Switch {
                        tables: p.tables,
                        fifo: p.fifo,
                    });
                    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
                    let _ = cmd_tx.send(driver::Command::Reload {
                        cfg: Box::new(p.dcfg),
                        epoch: epoch + 1,
                        inputs,
                        done: done_tx,
                    });
                    match done_rx.await {
                        Ok(Ok(())) => {
                            epoch += 1;
                            trackers = spawn_trackers(st, ft, &cmd_tx);
                            scripts_to_view(&trackers);
                            current = (p.scripts, p.files);
                        }
                        Ok(Err(e)) => {
                            error!("{e}");
                            error!("Configuration reload failed - keeping the running configuration");
                            crate::ready::notify();
                            pending.borrow_mut().take();
                            let (st, ft, _) =
                                tracker_tasks(&current.0, &current.1, &carried, epoch, false);
                            trackers = spawn_trackers(st, ft, &cmd_tx);
                            scripts_to_view(&trackers);
                        }
                        Err(_) => break,
                    }
                    // once the engine has switched
                    applied = Some(crate::sched::apply(&sched_now.0, crate::sched::Role::Vrrp));
                }
            }
        }
        trackers.stop().await;
        let _ = stop_tx.send(());
    };
    let engine = driver::run(dcfg, cmd_rx, ev_tx, async {
        let _ = stop_rx.await;
    });
    let events = async {
        while let Some(ev) = ev_rx.recv().await {
            if let Event::Started = ev {
                crate::ready::notify();
            }
            if let Event::Reloaded { .. } = ev {
                crate::ready::notify();
                if let Some(sw) = pending.borrow_mut().take() {
                    {
                        let mut v = view.lock().unwrap_or_else(|e| e.into_inner());
                        v.reconfigure(sw.tables.dump.clone(), sw.tables.globals.clone());
                        v.set_tracking(sw.tables.track.clone(), true);
                    }
                    *alerts.borrow_mut() = mail::Alerts::new(sw.tables.mail.clone());
                    *tables.borrow_mut() = Rc::new(sw.tables);
                    close_fifo(fifo.borrow_mut().take());
                    *fifo.borrow_mut() = open_fifo(sw.fifo.as_ref());
                }
                continue;
            }
            let t = tables.borrow().clone();
            let line = |kind: &str, name: &str, what: &str, prio: u8| {
                if let Some(f) = fifo.borrow_mut().as_mut() {
                    f.fifo.line(kind, name, what, prio);
                }
            };
            // Mail goes last, after scripts and FIFO, as in keepalived's
            // send_instance_notifies / send_group_notifies.
            let send_mail = |pick: &dyn Fn(&mut mail::Alerts) -> Option<crate::smtp::Alert>| {
                let mut a = alerts.borrow_mut();
                if let Some(alert) = pick(&mut a)
                    && let Some(m) = a.mailer()
                {
                    crate::smtp::client::spawn(m, alert);
                }
            };
            match ev {
                Event::Instance {
                    instance,
                    transition,
                } => {
                    view.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .transitioned(instance);
                    let name = &t.names[instance];
                    let prio = transition.priority.get();
                    t.inst_notify[instance]
                        .run("INSTANCE", name, transition.to, prio)
                        .await;
                    line("INSTANCE", name, transition.to.keyword(), prio);
                    send_mail(&|a| instance_alert(a, instance, name, transition.to));
                }
                Event::Group { group, state } => {
                    if let Some((name, n)) = t.group_notify.get(group) {
                        n.run("GROUP", name, state, 0).await;
                        line("GROUP", name, state.keyword(), 0);
                        if state != vrrp::fsm::State::Stop {
                            send_mail(&|a| a.group(group, name, state.keyword()));
                        }
                    }
                }
                Event::MasterRxLowerPri { instance, priority } => {
                    if let Some(s) = &t.inst_notify[instance].master_rx_lower_pri {
                        let _ = s.notify(&[], None);
                    }
                    line(
                        "INSTANCE",
                        &t.names[instance],
                        "MASTER_RX_LOWER_PRI",
                        priority.get(),
                    );
                }
                Event::Priority {
                    instance,
                    state,
                    priority,
                } => {
                    let what = if state == vrrp::fsm::State::Master {
                        "MASTER_PRIORITY"
                    } else {
                        "BACKUP_PRIORITY"
                    };
                    line("INSTANCE", &t.names[instance], what, priority.get());
                }
                Event::Deleted {
                    instance,
                    was_fault,
                    priority,
                } => {
                    let name = &t.names[instance];
                    if let Some(word) =
                        t.inst_notify[instance].run_deleted(name, priority.get(), was_fault)
                    {
                        line("INSTANCE", name, word, priority.get());
                        send_mail(&|a| a.instance(instance, name, word));
                    }
                }
                Event::Unchanged {
                    instance,
                    state,
                    priority,
                } => {
                    if t.fifo_states_on_reload {
                        line(
                            "INSTANCE",
                            &t.names[instance],
                            state.keyword(),
                            priority.get(),
                        );
                    }
                }
                Event::GroupUnchanged { group, state } => {
                    if t.fifo_states_on_reload
                        && let Some((name, _)) = t.group_notify.get(group)
                    {
                        line("GROUP", name, state.keyword(), 0);
                    }
                }
                Event::TimerLate { late } => {
                    // keepalived's scheduler: said, then real-time
                    // priority raised by one (up to max_auto_priority)
                    let g = &t.globals.global_defs;
                    crate::sched::timer_late(
                        late,
                        g.max_auto_priority,
                        g.vrrp_sched.rlimit_rttime,
                        crate::sched::Role::Vrrp,
                    );
                }
                Event::Reloaded { .. } | Event::Started => {}
            }
        }
    };
    let (res, (), ()) = tokio::join!(engine, events, control);
    // Alerts still being sent end with the process, as keepalived's do.
    dumps.abort();
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

/// The alert for an instance's transition, if one is due. STOP is never
/// mailed: keepalived 2.2.7 queues those alerts at shutdown but exits before
/// its scheduler runs them (a sink sees each connection opened and closed
/// right after its greeting, with nothing sent), so none ever arrives.
fn instance_alert(
    alerts: &mut mail::Alerts,
    instance: usize,
    name: &str,
    to: vrrp::fsm::State,
) -> Option<crate::smtp::Alert> {
    if to == vrrp::fsm::State::Stop {
        return None;
    }
    alerts.instance(instance, name, to.keyword())
}
