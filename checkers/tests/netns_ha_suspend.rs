//! `ha_suspend` end to end minus IPVS, in a namespace of its own (prefix
//! `kh-`): the driver's address monitor watches the namespace's
//! addresses; a TCP_CHECK on a virtual server with ha_suspend connects to
//! its real server only while the virtual server's address is configured,
//! and the real server's state follows those checks.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use checkers::driver::{Driver, DriverOpts};
use checkers::task::TaskEnv;
use checkers::*;
use ipvs::model::Fwd;
use ipvs::{Dest, DestKey};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const MS: Duration = Duration::from_millis(1);
const VS: &str = "[10.0.0.1]:tcp:80";

/// A real server that counts the connections it accepts; dropping it
/// closes the port (connects are refused).
struct CountingServer {
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingServer {
    async fn bind(addr: SocketAddr, accepts: Arc<AtomicUsize>) -> CountingServer {
        let l = TcpListener::bind(addr).await.unwrap();
        let addr = l.local_addr().unwrap();
        let n = accepts.clone();
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                n.fetch_add(1, Ordering::SeqCst);
                drop(s);
            }
        });
        CountingServer {
            addr,
            accepts,
            task,
        }
    }
    fn count(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }
}

impl Drop for CountingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lvs(rs_addr: SocketAddr) -> LvsCfg {
    let name = trio(rs_addr.ip(), "tcp", rs_addr.port());
    let mut cfg = common::one_vs(vec![RsCfg {
        key: DestKey::new(rs_addr),
        dest: Dest::new(Fwd::Masq, 1),
        name,
        inhibit_on_failure: false,
        smtp_alert: false,
        notify_up: None,
        notify_down: None,
        checkers: vec![CheckerCfg {
            kind: CheckKind::Tcp,
            conn: ConnOpts::new(rs_addr, 300 * MS),
            retry: 0,
            delay_loop: 100 * MS,
            delay_before_retry: 100 * MS,
            warmup: Duration::ZERO,
            alpha: false,
            log_all_failures: false,
        }],
    }]);
    cfg.virtual_servers[0].ha_suspend = true;
    cfg
}

fn opts(tap: mpsc::UnboundedSender<String>) -> DriverOpts {
    DriverOpts {
        env: TaskEnv {
            bootstrap: 10 * MS,
            log_all_failures: false,
        },
        fifos: vec![],
        log_tap: Some(tap),
        mail: None,
        watch_addrs: true,
        release_startup_memory: false,
    }
}

async fn wait_for(rx: &mut mpsc::UnboundedReceiver<String>, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(l)) => {
                let hit = l == want;
                seen.push(l);
                if hit {
                    return seen;
                }
            }
            _ => panic!("no {want:?}; saw {seen:?}"),
        }
    }
}

/// Waits until `f` holds (5 s at most).
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(20 * MS).await;
    }
}

fn ip(ns: &str, args: &[&str]) {
    let ok = std::process::Command::new("ip")
        .arg("-n")
        .arg(ns)
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "ip -n {ns} {args:?} failed");
}

#[test]
fn checker_runs_only_while_the_vs_address_is_local() {
    let Some(ns) = common::netns_prefixed("kh", "suspend") else {
        return;
    };
    let name = ns.name.clone();
    ns.run(move || async move {
        let accepts = Arc::new(AtomicUsize::new(0));
        let server = CountingServer::bind("127.0.0.1:0".parse().unwrap(), accepts.clone()).await;
        let rs_addr = server.addr;
        let rs_name = trio(rs_addr.ip(), "tcp", rs_addr.port());
        let (tap, mut logs) = mpsc::unbounded_channel();
        let (mut driver, mut tables) = Driver::start(lvs(rs_addr), opts(tap)).await;
        let (_reload_tx, reload_rx) = mpsc::channel(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(async move {
            driver
                .run(reload_rx, async {
                    let _ = stop_rx.await;
                })
                .await;
        });

        // 1. no 10.0.0.1 here: deactivated, and no connection at all
        wait_for(
            &mut logs,
            &format!("Deactivating healthchecker for service {rs_name} for VS {VS}"),
        )
        .await;
        tokio::time::sleep(600 * MS).await;
        assert_eq!(server.count(), 0, "a suspended checker connected");
        // keepalived's init_services: the real server is in the table anyway
        assert_eq!(tables.borrow().dest_count(), 1);

        // 2. the address appears: the checks start
        ip(&name, &["addr", "add", "10.0.0.1/32", "dev", "lo"]);
        let seen = wait_for(
            &mut logs,
            &format!("Activating healthchecker for service {rs_name} for VS {VS}"),
        )
        .await;
        assert!(
            seen.contains(&"Netlink reflector reports IP 10.0.0.1 added".to_owned()),
            "{seen:?}"
        );
        until("connections after activation", || server.count() >= 2).await;

        // ... and the real server's state follows them
        drop(server);
        wait_for(
            &mut logs,
            &format!("TCP_CHECK on service {rs_name} failed."),
        )
        .await;
        wait_for(
            &mut logs,
            &format!("Removing service {rs_name} from VS {VS}"),
        )
        .await;
        tables.changed().await.unwrap();
        assert_eq!(tables.borrow_and_update().dest_count(), 0);
        let server = CountingServer::bind(rs_addr, accepts.clone()).await;
        wait_for(&mut logs, &format!("TCP connection to {rs_name} success.")).await;
        wait_for(&mut logs, &format!("Adding service {rs_name} to VS {VS}")).await;
        tables.changed().await.unwrap();
        assert_eq!(tables.borrow_and_update().dest_count(), 1);

        // 3. the address goes: suspended again, no more connections, and
        // the real server keeps its last state even when it dies
        ip(&name, &["addr", "del", "10.0.0.1/32", "dev", "lo"]);
        let seen = wait_for(
            &mut logs,
            &format!("Suspending healthchecker for service {rs_name} for VS {VS}"),
        )
        .await;
        assert!(
            seen.contains(&"Netlink reflector reports IP 10.0.0.1 removed".to_owned()),
            "{seen:?}"
        );
        // a probe already under way may still land
        tokio::time::sleep(200 * MS).await;
        let frozen = server.count();
        drop(server);
        tokio::time::sleep(600 * MS).await;
        assert_eq!(
            accepts.load(Ordering::SeqCst),
            frozen,
            "a suspended checker connected"
        );
        while let Ok(l) = logs.try_recv() {
            assert!(!l.contains("failed") && !l.contains("Removing"), "{l}");
        }
        assert_eq!(tables.borrow().dest_count(), 1);

        let _ = stop_tx.send(());
        run.await.unwrap();
    });
}

#[test]
fn checker_starts_activated_when_the_address_is_already_there() {
    let Some(ns) = common::netns_prefixed("kh", "present") else {
        return;
    };
    ns.ip(&["addr", "add", "10.0.0.1/32", "dev", "lo"]);
    // the same address on a second interface: one removal is not enough
    let peer = common::netns_prefixed("kh", "peer").expect("second namespace");
    assert!(
        std::process::Command::new("ip")
            .args([
                "link", "add", "kh-ha0", "netns", &ns.name, "type", "veth", "peer", "kh-ha1",
                "netns", &peer.name,
            ])
            .status()
            .unwrap()
            .success()
    );
    ns.ip(&["link", "set", "kh-ha0", "up"]);
    ns.ip(&["addr", "add", "10.0.0.1/32", "dev", "kh-ha0"]);
    let name = ns.name.clone();
    ns.run(move || async move {
        let accepts = Arc::new(AtomicUsize::new(0));
        let server = CountingServer::bind("127.0.0.1:0".parse().unwrap(), accepts.clone()).await;
        let rs_addr = server.addr;
        let rs_name = trio(rs_addr.ip(), "tcp", rs_addr.port());
        let (tap, mut logs) = mpsc::unbounded_channel();
        // built without a runtime (as the checker role does on a second
        // thread), then the monitor's dump is applied before it runs
        let (mut driver, _tables) = Driver::new(lvs(rs_addr), opts(tap));
        driver.watch_local_addrs().await;
        let (_reload_tx, reload_rx) = mpsc::channel(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(async move {
            driver
                .run(reload_rx, async {
                    let _ = stop_rx.await;
                })
                .await;
        });
        let seen = wait_for(
            &mut logs,
            &format!("Activating healthchecker for service {rs_name} for VS {VS}"),
        )
        .await;
        assert!(
            !seen.iter().any(|l| l.starts_with("Deactivating")),
            "{seen:?}"
        );
        // the dump's lines come first, one per interface
        assert_eq!(
            seen.iter()
                .filter(|l| *l == "Netlink reflector reports IP 10.0.0.1 added")
                .count(),
            2,
            "{seen:?}"
        );
        until("connections", || server.count() >= 2).await;

        ip(&name, &["addr", "del", "10.0.0.1/32", "dev", "lo"]);
        wait_for(&mut logs, "Netlink reflector reports IP 10.0.0.1 removed").await;
        let before = server.count();
        until("still checking", || server.count() > before + 1).await;

        ip(&name, &["addr", "del", "10.0.0.1/32", "dev", "kh-ha0"]);
        wait_for(
            &mut logs,
            &format!("Suspending healthchecker for service {rs_name} for VS {VS}"),
        )
        .await;
        let _ = stop_tx.send(());
        run.await.unwrap();
    });
    drop(peer);
}
