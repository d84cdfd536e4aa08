//! Benchmark: N real servers with one TCP_CHECK each (delay_loop 1 s,
//! keepalived's default warmup = delay_loop), run by the checker driver for
//! SECS seconds; prints CPU time and peak RSS of this process. Pair it with
//! `keepalived -C` on the same real servers (benches/checkers.sh).
//!
//! Usage: bench_checkers N SECS PORT

use std::time::Duration;

use checkers::driver::{Driver, DriverOpts};
use checkers::*;
use ipvs::model::{Fwd, Scheduler};
use ipvs::{Dest, DestKey, Service, ServiceKey};

/// The address of real server `i` (127.1.0.1 upwards; loopback covers 127/8).
fn addr(i: u32) -> std::net::IpAddr {
    let n = u32::from(std::net::Ipv4Addr::new(127, 1, 0, 1)) + i;
    std::net::IpAddr::V4(n.into())
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n: u32 = a.get(1).and_then(|x| x.parse().ok()).unwrap_or(1000);
    let secs: u64 = a.get(2).and_then(|x| x.parse().ok()).unwrap_or(30);
    let port: u16 = a.get(3).and_then(|x| x.parse().ok()).unwrap_or(18080);
    let rss = (0..n)
        .map(|i| {
            let sa = std::net::SocketAddr::new(addr(i), port);
            RsCfg {
                key: DestKey::new(sa),
                dest: Dest::new(Fwd::Masq, 1),
                name: trio(sa.ip(), "tcp", port),
                inhibit_on_failure: false,
                smtp_alert: false,
                notify_up: None,
                notify_down: None,
                checkers: vec![CheckerCfg {
                    kind: CheckKind::Tcp,
                    conn: ConnOpts::new(sa, Duration::from_secs(3)),
                    retry: 1,
                    delay_loop: Duration::from_secs(1),
                    delay_before_retry: Duration::from_secs(1),
                    warmup: Duration::from_secs(1),
                    alpha: false,
                    log_all_failures: false,
                }],
            }
        })
        .collect();
    let cfg = LvsCfg {
        virtual_servers: vec![VsCfg {
            name: "[10.0.0.1]:tcp:80".into(),
            services: vec![(
                ServiceKey::tcp("10.0.0.1:80".parse().unwrap()),
                Service::new(Scheduler::Wlc),
            )],
            quorum: 1,
            hysteresis: 0,
            sorry_server: None,
            omega: false,
            smtp_alert: false,
            ha_suspend: false,
            addr: Some("10.0.0.1".parse().unwrap()),
            quorum_up: None,
            quorum_down: None,
            real_servers: rss,
        }],
        ..LvsCfg::default()
    };
    // one thread, like keepalived's checker process
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::var("KC_BENCH_STATE_ONLY").is_ok() {
        // memory of the manager state alone, no tasks
        let (m, fx) = checkers::Manager::new(cfg);
        let ru = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
        println!(
            "state_only maxrss_kib {} effects {}",
            ru.max_rss(),
            fx.len()
        );
        drop(m);
        return;
    }
    rt.block_on(async {
        let (mut driver, tables) = Driver::new(cfg, DriverOpts::default());
        let (_tx, rx) = tokio::sync::mpsc::channel(1);
        driver
            .run(rx, async {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                // resident now, with every checker running (peak is below)
                let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
                for l in status.lines().filter(|l| l.starts_with("VmRSS")) {
                    eprintln!("steady {l}");
                }
            })
            .await;
        drop(tables);
    });
    let ru = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
    let cpu = ru.user_time().tv_sec() as f64
        + ru.user_time().tv_usec() as f64 / 1e6
        + ru.system_time().tv_sec() as f64
        + ru.system_time().tv_usec() as f64 / 1e6;
    let user = ru.user_time().tv_sec() as f64 + ru.user_time().tv_usec() as f64 / 1e6;
    println!(
        "cpu_s {cpu:.3} maxrss_kib {} user_s {user:.3} sys_s {:.3}",
        ru.max_rss(),
        cpu - user
    );
}
