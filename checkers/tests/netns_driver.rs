//! The whole checker role minus IPVS: the driver runs real checker tasks
//! against servers in a namespace and publishes the desired table; a
//! reload keeps unchanged checkers running (no flap) and swaps the rest.

mod common;

use std::time::Duration;

use checkers::driver::{Driver, DriverOpts};
use checkers::task::TaskEnv;
use checkers::*;
use common::servers;
use ipvs::model::Fwd;
use ipvs::{Dest, DestKey};
use tokio::sync::mpsc;

const MS: Duration = Duration::from_millis(1);

fn rs(addr: std::net::SocketAddr, kind: CheckKind) -> RsCfg {
    RsCfg {
        key: DestKey::new(addr),
        dest: Dest::new(Fwd::Masq, 1),
        name: trio(addr.ip(), "tcp", addr.port()),
        inhibit_on_failure: false,
        smtp_alert: false,
        notify_up: None,
        notify_down: None,
        checkers: vec![CheckerCfg {
            kind,
            conn: ConnOpts::new(addr, 300 * MS),
            retry: 0,
            delay_loop: 100 * MS,
            delay_before_retry: 50 * MS,
            warmup: Duration::ZERO,
            alpha: false,
            log_all_failures: false,
        }],
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

#[test]
fn driver_publishes_tables_and_reload_keeps_unchanged_checkers() {
    let Some(ns) = common::netns("drv") else {
        return;
    };
    ns.run(|| async {
        let web = servers::http("127.0.0.1:0").await;
        let dead: std::net::SocketAddr = "127.0.0.2:1".parse().unwrap();
        let http = CheckKind::Http(Box::new(HttpCfg {
            urls: vec![UrlCfg {
                path: "/ok".into(),
                digest: checkers::http::parse_digest(servers::OK_MD5),
                status_code: vec![],
                virtualhost: None,
                regex: None,
            }],
            protocol: HttpProtocol::Http10,
            virtualhost: None,
            fast_recovery: false,
            tls: None,
        }));
        let (log_tx, mut logs) = mpsc::unbounded_channel();
        let opts = DriverOpts {
            env: TaskEnv {
                bootstrap: 10 * MS,
                log_all_failures: false,
            },
            fifos: vec![],
            log_tap: Some(log_tx),
            mail: None,
            watch_addrs: false,
            release_startup_memory: false,
        };
        let cfg1 = common::one_vs(vec![rs(web, http.clone()), rs(dead, CheckKind::Tcp)]);
        let (mut driver, mut tables) = Driver::new(cfg1, opts);
        // non-alpha: both start in the table
        assert_eq!(tables.borrow().dest_count(), 2);
        let (reload_tx, reload_rx) = mpsc::channel(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(async move {
            driver
                .run(reload_rx, async {
                    let _ = stop_rx.await;
                })
                .await;
            driver
        });

        wait_for(&mut logs, "TCP_CHECK on service [127.0.0.2]:tcp:1 failed.").await;
        wait_for(
            &mut logs,
            "Removing service [127.0.0.2]:tcp:1 from VS [10.0.0.1]:tcp:80",
        )
        .await;
        tables.changed().await.unwrap();
        let t = tables.borrow_and_update().to_string();
        assert_eq!(
            t,
            format!(
                "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 127.0.0.1:{} -m -w 1\n",
                web.port()
            )
        );

        // reload: the web server's checker is unchanged and keeps running;
        // the dead one is replaced by a TCP check on the web server's port
        let web2: std::net::SocketAddr = format!("127.0.0.1:{}", web.port()).parse().unwrap();
        let mut second = rs(web2, CheckKind::Tcp);
        second.key = DestKey::new("127.0.0.3:80".parse().unwrap());
        second.name = "[127.0.0.3]:tcp:80".into();
        reload_tx
            .send(common::one_vs(vec![rs(web, http.clone()), second]))
            .await
            .unwrap();
        let seen = wait_for(
            &mut logs,
            "Activating healthchecker for service [127.0.0.3]:tcp:80 for VS [10.0.0.1]:tcp:80",
        )
        .await;
        assert!(seen.contains(&"service [127.0.0.2]:tcp:1 no longer exist".to_owned()));
        // keepalived logs every checker's activation again at a reload, the
        // kept one's too (that it is not restarted is the manager's
        // reload_keeps_unchanged_checkers_and_state)
        let web_line = format!(
            "Activating healthchecker for service [127.0.0.1]:tcp:{} for VS [10.0.0.1]:tcp:80",
            web.port()
        );
        assert_eq!(
            seen.iter().filter(|l| **l == web_line).count(),
            1,
            "{seen:?}"
        );
        // new RS starts in the pool (non-alpha), and its check confirms it
        tokio::time::sleep(300 * MS).await;
        let t = tables.borrow_and_update().to_string();
        assert!(t.contains("-r 127.0.0.3:80 -m -w 1"), "{t}");
        assert!(
            t.contains(&format!("-r 127.0.0.1:{} -m -w 1", web.port())),
            "{t}"
        );
        while let Ok(l) = logs.try_recv() {
            assert!(!l.contains("Removing"), "flap: {l}");
        }

        stop_tx.send(()).unwrap();
        let driver = run.await.unwrap();
        assert!(tables.borrow().is_empty(), "shutdown empties the table");
        assert_eq!(driver.task_count(), 0);
    });
}
