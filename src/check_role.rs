//! The checker child (`-C`): runs the health checkers and keeps the
//! kernel's IPVS table equal to what their verdicts say, across reloads,
//! and takes it away at shutdown.
//!
//! - [`crate::check_map`] turns the config into `checkers::LvsCfg`;
//!   `checkers::driver::Driver` runs the checker tasks and the LVS manager
//!   and publishes each new desired `ipvs::Table`.
//! - This module applies those tables with `ipvs::Client::reconcile_where`:
//!   only services this daemon ever configured are dumped or touched, so
//!   entries of other tools stay as they are. SIGHUP re-parses; a config
//!   that fails leaves everything running as it is. SIGTERM stops the
//!   checkers, and the manager's final (empty) table removes every entry we
//!   created, unless `-I`.

use std::collections::BTreeSet;
use std::path::Path;

use ipvs::ServiceKey;
use kaconf::model::Config;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use crate::daemon::{EXIT_FATAL, EXIT_OK};

/// Command-line bits the checker role needs.
#[derive(Debug, Clone, Default)]
pub struct CheckRoleOpts {
    /// `-I`: leave IPVS as it is at shutdown.
    pub dont_release_ipvs: bool,
}

/// Runs the checker child until SIGTERM; returns the exit code.
pub fn run(path: &Path, opts: &kaconf::Options, config: Config, role: &CheckRoleOpts) -> i32 {
    // One malloc arena, set before any thread allocates: the IPVS client's
    // blocking threads would otherwise each get their own.
    checkers::memory::one_malloc_arena();
    // The checkers' side is built from the config on a second thread while
    // this one starts the runtime and connects to IPVS: under the test VM
    // each takes a good part of the cold start (issue 3 point 6).
    // The config comes back with the result: dropped here at exit, as
    // before, not on that thread while this one waits for it.
    let prepare = std::thread::spawn(move || (prepare(&config), config));
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
    rt.block_on(serve(path, opts, prepare, role))
}

/// What [`prepare`] builds: the checker driver holding the startup table,
/// and the mapping's warnings (logged once IPVS is known to work).
struct Prepared {
    driver: checkers::driver::Driver,
    tables: tokio::sync::watch::Receiver<ipvs::Table>,
    warnings: Vec<String>,
}

type Preparing = std::thread::JoinHandle<(Prepared, Config)>;

fn prepare(config: &Config) -> Prepared {
    let (lvs, warnings) = crate::check_map::lvs_cfg(config);
    crate::log::mark("lvs mapped");
    let g = &config.global_defs;
    let fifos = [g.lvs_notify_fifo.as_ref(), g.notify_fifo.as_ref()]
        .into_iter()
        .flatten()
        .map(|f| std::path::PathBuf::from(&f.path))
        .collect();
    let env = checkers::task::TaskEnv {
        log_all_failures: g.checker_log_all_failures,
        ..Default::default()
    };
    fd_limit(&lvs);
    let (driver, tables) = checkers::driver::Driver::new(
        lvs,
        checkers::driver::DriverOpts {
            env,
            fifos,
            log_tap: None,
            watch_addrs: true,
            release_startup_memory: true,
        },
    );
    crate::log::mark("driver new");
    Prepared {
        driver,
        tables,
        warnings,
    }
}

/// One descriptor per network checker, as keepalived's checker process.
fn fd_limit(lvs: &checkers::LvsCfg) {
    use checkers::memory::FdLimit;
    match checkers::memory::raise_fd_limit(checkers::memory::fds_needed(lvs)) {
        FdLimit::Unchanged => {}
        FdLimit::Raised(soft, hard) => {
            tracing::debug!("Set open file limit to {soft}:{hard}.")
        }
        FdLimit::Failed(soft, hard, errno) => {
            info!("Failed to set open file limit to {soft}:{hard} failed - errno {errno}")
        }
    }
}

fn report(what: &str, r: &Result<ipvs::ReconcileReport, ipvs::ClientError>) {
    match r {
        Ok(rep) => {
            for (op, e) in &rep.failed {
                error!("IPVS ({what}): {op}: {e}");
            }
        }
        Err(e) => error!("IPVS ({what}): {e}"),
    }
}

async fn serve(
    path: &Path,
    opts: &kaconf::Options,
    prepare: Preparing,
    role: &CheckRoleOpts,
) -> i32 {
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        error!("Unable to install signal handlers");
        return EXIT_FATAL;
    };
    crate::daemon::absorb_dump_signals("Keepalived_healthcheckers", &[]);
    let client = match ipvs::Client::connect().await {
        Ok(c) => std::sync::Arc::new(c),
        Err(e) => {
            error!("IPVS: Can't initialize ipvs: {e}");
            return EXIT_FATAL;
        }
    };
    crate::log::mark("ipvs connected");
    let (
        Prepared {
            mut driver,
            mut tables,
            warnings,
        },
        _config,
    ) = prepare
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    for w in warnings {
        warn!("{w}");
    }
    crate::log::mark("driver built");
    // With ha_suspend, the address monitor reads this host's addresses
    // before the checkers start.
    driver.watch_local_addrs().await;
    // The parser's and the start-up's code pages go now, before the
    // checkers' memory grows; the heap's free pages once they run.
    let early = checkers::memory::shed_startup();
    crate::log::mark("start-up shed");
    tracing::debug!(
        "start-up code released: {} KiB mapped out",
        early.text_bytes / 1024
    );
    tokio::spawn(async {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        let s = checkers::memory::shed_startup();
        tracing::debug!(
            "start-up memory released: {} KiB mapped out, heap trimmed {}",
            s.text_bytes / 1024,
            s.heap_trimmed
        );
    });
    // The IPVS side: every table the manager publishes is reconciled.
    // Shared so that the stop path knows every service we ever created.
    let owned = std::sync::Arc::new(std::sync::Mutex::new(BTreeSet::<ServiceKey>::new()));
    let applier_client = client.clone();
    let applier_owned = owned.clone();
    let applier = tokio::spawn(async move {
        // What the kernel holds as far as we know: a checker transition or
        // a reload costs its own ops, not a dump of the whole table.
        let mut mirror = ipvs::Mirror::default();
        let mut first = true;
        loop {
            let desired = tables.borrow_and_update().clone();
            let scope = {
                let mut o = applier_owned.lock().unwrap_or_else(|e| e.into_inner());
                o.extend(desired.services.keys().copied());
                o.clone()
            };
            crate::log::mark("reconcile begin");
            let r = applier_client
                .reconcile_mirrored(&desired, &mut mirror, |k| scope.contains(k))
                .await;
            crate::log::mark("reconcile end");
            if r.as_ref().map_or(true, |r| !r.is_complete()) {
                mirror.valid = false;
            }
            report("apply", &r);
            // not kept while waiting: the watch channel and the mirror
            // already hold two copies
            drop(desired);
            if first {
                // the first reconcile's code (all services and dests) is
                // rarely needed again
                first = false;
                checkers::memory::shed_startup();
            }
            if tables.changed().await.is_err() {
                return;
            }
        }
    });

    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let control = async {
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    info!("Reloading");
                    let parsed = kaconf::parse_file(&path.to_string_lossy(), opts);
                    let fatal = !parsed.found
                        || parsed.diags.list.iter().any(|d| matches!(d.class, kaconf::Class::Fatal | kaconf::Class::FileNotFound));
                    if fatal {
                        for line in parsed.render_diagnostics() {
                            warn!("{line}");
                        }
                        error!("Configuration reload failed - keeping the running configuration");
                        continue;
                    }
                    let (lvs, warnings) = crate::check_map::lvs_cfg(&parsed.config);
                    for w in warnings {
                        warn!("{w}");
                    }
                    fd_limit(&lvs);
                    let _ = reload_tx.send(lvs).await;
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        // Stop applying before the manager's shutdown publishes its empty
        // table: with -I the kernel keeps what it has.
        applier.abort();
        let _ = stop_tx.send(());
    };
    let run = driver.run(reload_rx, async {
        let _ = stop_rx.await;
    });
    // The applier's first reconcile (the startup table) goes to the
    // blocking pool before the driver logs its thousands of startup lines.
    tokio::task::yield_now().await;
    tokio::join!(control, run);
    let final_table = driver.manager().desired();
    let owned = owned.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if !role.dont_release_ipvs {
        // the manager's shutdown table is empty: reconcile what we own to it
        let r = client
            .reconcile_where(&final_table, |k| owned.contains(k))
            .await;
        report("stop", &r);
    }
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table the manager wants at startup: every real server of a
    /// non-alpha virtual server alive (what keepalived programs before the
    /// first check completes, and keeps while none fails).
    fn startup_table(config: &Config) -> ipvs::Table {
        let (lvs, _) = crate::check_map::lvs_cfg(config);
        checkers::Manager::new(lvs).0.desired()
    }

    fn table_of(conf: &str) -> String {
        let parsed = kaconf::parse_str(conf, &kaconf::Options::default());
        startup_table(&parsed.config).to_string()
    }

    #[test]
    fn plain_tcp_service_with_defaults() {
        let t = table_of(
            "virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n weight 3\n }\n real_server 10.0.0.3 8080 { }\n}\n",
        );
        assert_eq!(
            t,
            "-A -t 192.0.2.1:80 -s wlc\n-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m -w 3\n-a -t 192.0.2.1:80 -r 10.0.0.3:8080 -m -w 1\n"
        );
    }

    #[test]
    fn dr_port_reset_persistence_and_flags() {
        let t = table_of(
            "virtual_server 192.0.2.1 443 {\n protocol TCP\n lb_algo sh\n lb_kind DR\n persistence_timeout 600\n persistence_granularity 255.255.255.0\n sh-port\n real_server 10.0.0.2 8443 { }\n}\n",
        );
        assert_eq!(
            t,
            "-A -t 192.0.2.1:443 -s sh -p 600 -M 255.255.255.0 -b sh-port\n-a -t 192.0.2.1:443 -r 10.0.0.2:443 -g -w 1\n"
        );
    }

    #[test]
    fn groups_expand_ranges_and_fwmarks() {
        let t = startup_table(
            &kaconf::parse_str(
                "virtual_server_group G {\n 192.0.2.1-3 80\n fwmark 7\n}\nvirtual_server group G {\n protocol UDP\n lb_algo rr\n real_server 10.0.0.2 80 { }\n}\n",
                &kaconf::Options::default(),
            )
            .config,
        );
        assert_eq!((t.len(), t.dest_count()), (4, 4));
        let t = t.to_string();
        assert!(t.contains("-A -u 192.0.2.3:80 -s rr\n"), "{t}");
        assert!(t.contains("-A -f 7 -s rr\n"), "{t}");
    }

    #[test]
    fn fwmark_ipv6_tunnel_and_thresholds() {
        let conf = "virtual_server fwmark 9 {\n ip_family inet6\n lvs_method TUN type gue port 6080 csum\n real_server 2001:db8::2 0 {\n uthreshold 100\n lthreshold 10\n }\n}\n";
        let t = table_of(conf);
        assert!(t.starts_with("-A -f 9 -6 -s wlc\n"), "{t}");
        assert!(t.contains("-r [2001:db8::2]:0 -i"), "{t}");
        let table = startup_table(&kaconf::parse_str(conf, &kaconf::Options::default()).config);
        let dest = table
            .services
            .values()
            .next()
            .unwrap()
            .dests
            .values()
            .next()
            .unwrap();
        assert_eq!(
            dest.fwd,
            ipvs::Fwd::Tunnel(ipvs::model::Tunnel::Gue {
                port: 6080,
                csum: ipvs::model::TunCsum::Csum
            })
        );
        assert_eq!((dest.u_thresh, dest.l_thresh), (100, 10));
    }

    #[test]
    fn sorry_server_inhibited_and_empty_servers_ignored() {
        // 2.2.7 ignores a virtual server without real servers, sorry server or not
        let t = table_of(
            "virtual_server 192.0.2.1 80 {\n protocol TCP\n sorry_server 10.0.0.9 80\n}\n",
        );
        assert_eq!(t, "");
        let t = table_of(
            "virtual_server 192.0.2.1 80 {\n protocol TCP\n sorry_server 10.0.0.9 80\n sorry_server_inhibit\n real_server 10.0.0.2 80 { }\n}\n",
        );
        assert!(t.contains("-r 10.0.0.9:80 -m -w 0"), "{t}");
        assert!(t.contains("-r 10.0.0.2:80 -m -w 1"), "{t}");
    }
}
