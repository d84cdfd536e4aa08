//! The checker child (`-C`): runs the health checkers and keeps the
//! kernel's IPVS table equal to what their verdicts say, across reloads,
//! and takes it away at shutdown.
//!
//! - [`crate::check_map`] turns the config into `checkers::LvsCfg`;
//!   `checkers::driver::Driver` runs the checker tasks and the LVS manager
//!   and publishes each new desired `ipvs::Table`.
//! - At start, a second thread maps the virtual servers and builds the
//!   manager a part at a time; each part's entries are programmed as soon
//!   as they are known (`ipvs::Client::apply_part`), and the checkers start
//!   once IPVS holds the whole start-up table, as keepalived's do.
//! - This module applies those tables with `ipvs::Client::reconcile_mirrored`:
//!   only services this daemon ever configured are dumped or touched, so
//!   entries of other tools stay as they are. SIGHUP re-parses; a config
//!   that fails leaves everything running as it is. SIGTERM stops the
//!   checkers, and the manager's final (empty) table removes every entry we
//!   created, unless `-I`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

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
    /// `-D`: the SMTP alerts' "connected" / "successfully sent" lines.
    pub log_detail: bool,
    /// `-u`: the umask the data dump reports.
    pub umask: Option<u32>,
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
    let detail = role.log_detail;
    let scripts = crate::syscheck::load_lines(&config, crate::syscheck::Loader::Check, false);
    for line in [scripts.user, scripts.violation].into_iter().flatten() {
        info!("{line}");
    }
    let sched = (
        config.global_defs.checker_sched.clone(),
        config.global_defs.checker_process_name.clone(),
    );
    if let Some(name) = &sched.1 {
        crate::sched::set_name(name);
    }
    let (parts_tx, parts_rx) = tokio::sync::mpsc::unbounded_channel();
    let prepare = std::thread::spawn(move || (prepare(&config, detail, parts_tx), config));
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
    rt.block_on(serve(path, opts, prepare, parts_rx, role, sched))
}

/// What [`prepare`] builds: the checker driver holding the startup table,
/// and the mapping's warnings (logged once IPVS is known to work).
struct Prepared {
    driver: checkers::driver::Driver,
    tables: tokio::sync::watch::Receiver<ipvs::Table>,
    warnings: Vec<String>,
    /// The manager's email alerts, and where they go.
    mail_rx: tokio::sync::mpsc::UnboundedReceiver<checkers::manager::Mail>,
    mailer: Option<Arc<crate::smtp::Mailer>>,
}

type Preparing = std::thread::JoinHandle<(Prepared, Config)>;

/// The mailer of `config`; may block (name resolution).
fn mailer(config: &Config, log_detail: bool) -> Option<Arc<crate::smtp::Mailer>> {
    crate::smtp::Mailer::from_config(
        &config.global_defs,
        crate::smtp::message::local_name,
        log_detail,
    )
    .map(Arc::new)
}

/// Sends each alert the manager raises, in a task of its own, through the
/// mailer of the running configuration (`current`, swapped at a reload).
async fn mail_loop(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<checkers::manager::Mail>,
    current: Arc<Mutex<Option<Arc<crate::smtp::Mailer>>>>,
) {
    use crate::smtp::message::About;
    use checkers::manager::Mail;
    while let Some(mail) = rx.recv().await {
        let Some(m) = current.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            continue;
        };
        let word = |up: bool| if up { "UP" } else { "DOWN" };
        let alert = match &mail {
            Mail::RealServer { rs, vs, up, body } => {
                crate::smtp::Alert::new(&m.router_id, About::RealServer { rs, vs }, word(*up), body)
            }
            Mail::VirtualServer { vs, up, body } => {
                crate::smtp::Alert::new(&m.router_id, About::VirtualServer(vs), word(*up), body)
            }
        };
        crate::smtp::client::spawn(&m, alert);
    }
}

/// Virtual servers per part of the start-up table: small enough that the
/// kernel starts on the first part early, large enough that a part's round
/// trip to the IPVS thread stays a small share of its cost.
const VS_PER_PART: usize = 100;

/// Builds the checkers' side of `config`. The start-up table goes to
/// `parts` as it is built, a few virtual servers at a time, until a service
/// comes twice (then the whole table goes through the first reconcile).
fn prepare(
    config: &Config,
    log_detail: bool,
    parts: tokio::sync::mpsc::UnboundedSender<ipvs::Table>,
) -> Prepared {
    let mut startup = checkers::Manager::startup(crate::check_map::lvs_globals(config), &[]);
    let mut parts = Some(parts);
    let mut seen = BTreeSet::new();
    let mut sockets = 0;
    let warnings = crate::check_map::map_virtual_servers(config, VS_PER_PART, |vss| {
        sockets += vss
            .iter()
            .map(checkers::memory::checker_sockets)
            .sum::<u64>();
        let table = startup.add(vss);
        if table.services.keys().any(|k| !seen.insert(*k)) {
            parts = None;
        }
        if let Some(tx) = &parts {
            let _ = tx.send(table);
        }
    });
    drop(parts);
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
    fd_limit(checkers::memory::fds_for_sockets(sockets));
    let (mail_tx, mail_rx) = tokio::sync::mpsc::unbounded_channel();
    let (driver, tables) = checkers::driver::Driver::from_startup(
        startup,
        checkers::driver::DriverOpts {
            env,
            fifos,
            log_tap: None,
            mail: Some(mail_tx),
            watch_addrs: true,
            release_startup_memory: true,
        },
    );
    crate::log::mark("driver new");
    Prepared {
        driver,
        tables,
        warnings,
        mail_rx,
        mailer: mailer(config, log_detail),
    }
}

/// One descriptor per network checker, as keepalived's checker process.
fn fd_limit(needed: u64) {
    use checkers::memory::FdLimit;
    match checkers::memory::raise_fd_limit(needed) {
        FdLimit::Unchanged => {}
        FdLimit::Raised(soft, hard) => {
            tracing::debug!("Set open file limit to {soft}:{hard}.")
        }
        FdLimit::Failed(soft, hard, errno) => {
            info!("Failed to set open file limit to {soft}:{hard} failed - errno {errno}")
        }
    }
}

/// keepalived's SIGUSR1 in the checker process: log, then write
/// `$TMPDIR/keepalived_check.data` from the manager's state of the moment
/// and the running configuration (formats in crate::check_dump).
async fn serve_data_dump(
    mut usr1: tokio::signal::unix::Signal,
    views: tokio::sync::mpsc::UnboundedSender<checkers::driver::ViewRequest>,
    config: Arc<Mutex<Arc<Config>>>,
    umask: Option<u32>,
) {
    const NAME: &str = "keepalived_check.data";
    while usr1.recv().await.is_some() {
        info!(
            "Printing checker data for process({}) on signal",
            std::process::id()
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        if views.send(tx).is_err() {
            return;
        }
        let Ok(view) = rx.await else { return };
        let config = Arc::clone(&config.lock().unwrap_or_else(|e| e.into_inner()));
        // the local name may ask DNS, the script users the passwd file
        let written = tokio::task::spawn_blocking(move || {
            if let Some(line) = crate::syscheck::dump_default_user_line(&config.global_defs) {
                info!("{line}");
            }
            let env = crate::check_dump::Env::current(umask, &config.global_defs);
            let text = crate::check_dump::check_text(&config, &view, &env);
            crate::vrrp_role::dump::write(&crate::check_dump::file_name(&config, NAME), &text)
        })
        .await;
        if let Ok(Err(e)) = written {
            let errno = e.raw_os_error().unwrap_or(0);
            info!(
                "Can't open dump file {NAME} ({errno}: {})",
                nix::errno::Errno::from_raw(errno).desc()
            );
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

/// Programs the start-up table part by part as the preparing thread sends
/// it, and returns what the kernel then holds as far as we know: the first
/// reconcile of the whole table starts from it, so with every part done it
/// has nothing left to do. Refused ops are not logged here: that reconcile
/// tries them again and logs what stays refused, once.
async fn program_startup(
    client: &ipvs::Client,
    mut parts: tokio::sync::mpsc::UnboundedReceiver<ipvs::Table>,
    owned: &Mutex<BTreeSet<ServiceKey>>,
) -> ipvs::Mirror {
    let mut state = match client.begin_parts().await {
        Ok(state) => state,
        Err(e) => {
            tracing::debug!("IPVS: start-up table not programmed in parts: {e}");
            return ipvs::Mirror::default();
        }
    };
    crate::log::mark("parts begin");
    while let Some(part) = parts.recv().await {
        owned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(part.services.keys().copied());
        if let Err(e) = client.apply_part(part, &mut state).await {
            tracing::debug!("IPVS: start-up table not programmed in parts: {e}");
            return ipvs::Mirror::default();
        }
    }
    crate::log::mark("parts end");
    state.mirror
}

async fn serve(
    path: &Path,
    opts: &kaconf::Options,
    prepare: Preparing,
    parts: tokio::sync::mpsc::UnboundedReceiver<ipvs::Table>,
    role: &CheckRoleOpts,
    mut sched_now: (kaconf::model::ProcessSched, Option<String>),
) -> i32 {
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        error!("Unable to install signal handlers");
        return EXIT_FATAL;
    };
    crate::daemon::absorb_dump_signals("Keepalived_healthcheckers", &["SIGUSR1"]);
    let Ok(usr1) = signal(SignalKind::user_defined1()) else {
        error!("Unable to install signal handlers");
        return EXIT_FATAL;
    };
    tracing::info!(target: crate::log::ALWAYS_DEBUG, "Initializing ipvs");
    let client = match ipvs::Client::connect().await {
        Ok(c) => std::sync::Arc::new(c),
        Err(e) => {
            error!("IPVS: Can't initialize ipvs: {e}");
            return EXIT_FATAL;
        }
    };
    crate::log::mark("ipvs connected");
    // Services this daemon configured: the stop path removes them, the
    // reconciles never look at others.
    let owned = std::sync::Arc::new(std::sync::Mutex::new(BTreeSet::<ServiceKey>::new()));
    let mirror = program_startup(&client, parts, &owned).await;
    let (
        Prepared {
            mut driver,
            mut tables,
            warnings,
            mail_rx,
            mailer: first_mailer,
        },
        first_config,
    ) = prepare
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    for w in warnings {
        warn!("{w}");
    }
    let current_mailer = Arc::new(Mutex::new(first_mailer));
    // The running configuration, for the data dump (SIGUSR1).
    let current_config = Arc::new(Mutex::new(Arc::new(first_config)));
    tokio::spawn(serve_data_dump(
        usr1,
        driver.view_requests(),
        Arc::clone(&current_config),
        role.umask,
    ));
    // Alerts still being sent end with the process, as keepalived's do.
    tokio::spawn(mail_loop(mail_rx, Arc::clone(&current_mailer)));
    // keepalived's scheduler watches for late timers (max_auto_priority)
    let watched = Arc::clone(&current_config);
    tokio::spawn(crate::sched::watch_late(
        move || {
            let c = Arc::clone(&watched.lock().unwrap_or_else(|e| e.into_inner()));
            let g = &c.global_defs;
            (
                std::time::Duration::from_micros(u64::from(
                    g.min_auto_priority_delay.unwrap_or(1_000_000),
                )),
                g.max_auto_priority,
                g.checker_sched.rlimit_rttime,
            )
        },
        crate::sched::Role::Checker,
    ));
    crate::log::mark("driver built");
    // keepalived sets its scheduling once the configuration is loaded, and
    // drops back to the normal scheduler while it reloads
    let mut applied = Some(crate::sched::apply(
        &sched_now.0,
        crate::sched::Role::Checker,
    ));
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
    let applier_client = client.clone();
    let applier_owned = owned.clone();
    // keepalived programs IPVS before it registers its checkers: the
    // driver's start (thousands of "Activating" lines and checker tasks)
    // waits for the first reconcile instead of competing with it. Dropped
    // unsent if the applier is aborted first, which also lets it go.
    let (programmed_tx, programmed_rx) = tokio::sync::oneshot::channel::<()>();
    // Some until the first reconcile is done.
    let mut programmed_tx = Some(programmed_tx);
    let applier = tokio::spawn(async move {
        // What the kernel holds as far as we know: a checker transition or
        // a reload costs its own ops, not a dump of the whole table.
        let mut mirror = mirror;
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
            if let Some(tx) = programmed_tx.take() {
                let _ = tx.send(());
                // keepalived reports its configuration read once IPVS holds
                // the start-up table
                crate::ready::notify();
                // the first reconcile's code (all services and dests) is
                // rarely needed again
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
                    if let Some(a) = applied.take() {
                        crate::sched::reset(a);
                    }
                    let parsed = kaconf::parse_file(&path.to_string_lossy(), opts);
                    let fatal = !parsed.found
                        || parsed.diags.list.iter().any(|d| matches!(d.class, kaconf::Class::Fatal | kaconf::Class::FileNotFound));
                    if fatal {
                        crate::log::config_diagnostics(&parsed, kaconf::Process::Check, true);
                        error!("Configuration reload failed - keeping the running configuration");
                        applied = Some(crate::sched::apply(&sched_now.0, crate::sched::Role::Checker));
                        crate::ready::notify();
                        continue;
                    }
                    crate::log::config_diagnostics(&parsed, kaconf::Process::Check, true);
                    crate::syscheck::forget_default_user();
                    let scripts = crate::syscheck::load_lines(&parsed.config, crate::syscheck::Loader::Check, true);
                    for line in [scripts.user, scripts.violation].into_iter().flatten() {
                        info!("{line}");
                    }
                    tracing::info!(target: crate::log::ALWAYS_DEBUG, "Reinitializing ipvs");
                    let (lvs, warnings) = crate::check_map::lvs_cfg(&parsed.config);
                    for w in warnings {
                        warn!("{w}");
                    }
                    fd_limit(checkers::memory::fds_needed(&lvs));
                    *current_mailer.lock().unwrap_or_else(|e| e.into_inner()) =
                        mailer(&parsed.config, role.log_detail);
                    let _ = reload_tx.send(lvs).await;
                    let g = &parsed.config.global_defs;
                    if g.checker_process_name != sched_now.1 {
                        crate::sched::set_name(g.checker_process_name.as_deref().unwrap_or("keepalived"));
                    }
                    sched_now = (g.checker_sched.clone(), g.checker_process_name.clone());
                    applied = Some(crate::sched::apply(&sched_now.0, crate::sched::Role::Checker));
                    *current_config.lock().unwrap_or_else(|e| e.into_inner()) =
                        Arc::new(parsed.config);
                    crate::ready::notify();
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
    let run = async {
        let _ = programmed_rx.await;
        driver
            .run(reload_rx, async {
                let _ = stop_rx.await;
            })
            .await
    };
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

    /// The checker side end to end, without IPVS: a TCP_CHECK on a
    /// loopback port nobody listens on fails, the manager's alert goes
    /// through the mail loop, and a loopback SMTP sink receives keepalived's
    /// message (subject with the real server's state, check_tcp.c's body).
    #[tokio::test]
    async fn failing_checker_mails_through_the_sink() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead_port = dead.local_addr().unwrap().port();
        drop(dead);
        let conf = format!(
            "global_defs {{\n router_id lb1\n notification_email {{\n ops@example.com\n }}\n notification_email_from kv@example.com\n smtp_server 127.0.0.1 {}\n smtp_helo_name lb1.example.com\n}}\nvirtual_server 192.0.2.1 80 {{\n protocol TCP\n delay_loop 1\n real_server 127.0.0.1 {dead_port} {{\n TCP_CHECK {{\n connect_timeout 1\n retry 0\n }}\n }}\n}}\n",
            sink.local_addr().unwrap().port()
        );
        let config = kaconf::parse_str(&conf, &kaconf::Options::default()).config;
        let (lvs, _) = crate::check_map::lvs_cfg(&config);
        let (mail_tx, mail_rx) = tokio::sync::mpsc::unbounded_channel();
        let (mut driver, _tables) = checkers::driver::Driver::new(
            lvs,
            checkers::driver::DriverOpts {
                env: checkers::task::TaskEnv {
                    bootstrap: std::time::Duration::from_millis(10),
                    log_all_failures: false,
                },
                fifos: vec![],
                log_tap: None,
                mail: Some(mail_tx),
                watch_addrs: false,
                release_startup_memory: false,
            },
        );
        let current = Arc::new(Mutex::new(mailer(&config, false)));
        tokio::spawn(mail_loop(mail_rx, current));
        let (_reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(async move {
            driver
                .run(reload_rx, async {
                    let _ = stop_rx.await;
                })
                .await;
        });
        let session = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            let (mut c, _) = sink.accept().await.unwrap();
            c.write_all(b"220 sink\r\n").await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 2048];
            loop {
                let n = c.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                let reply: &[u8] = if buf[..n].starts_with(b"DATA") {
                    b"354 go\r\n"
                } else if buf[..n].starts_with(b"QUIT") {
                    c.write_all(b"221 bye\r\n").await.unwrap();
                    break;
                } else {
                    b"250 ok\r\n"
                };
                c.write_all(reply).await.unwrap();
            }
            String::from_utf8(seen).unwrap()
        })
        .await
        .expect("no alert reached the sink");
        let _ = stop_tx.send(());
        let _ = run.await;
        assert!(
            session.starts_with(
                "HELO lb1.example.com\r\nMAIL FROM:<kv@example.com>\r\nRCPT TO:<ops@example.com>\r\nDATA\r\nDate: "
            ),
            "{session}"
        );
        let want = format!(
            "\r\nFrom: kv@example.com\r\nSubject: [lb1] Realserver [127.0.0.1]:tcp:{dead_port} of virtual server [192.0.2.1]:tcp:80 - DOWN\r\nX-Mailer: Keepalived\r\nTo: ops@example.com\r\n\r\n=> TCP CHECK failed on service <=\r\n\r\n.\r\nQUIT\r\n"
        );
        assert!(session.contains(&want), "{session}");
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
