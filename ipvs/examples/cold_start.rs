//! Cold-start timer for `benches/ipvs.sh` (run as root where IPVS exists,
//! i.e. inside the test VM):
//!
//! `cold_start N M TIMEOUT_S -- DAEMON ARGS...`
//!
//! Starts the daemon on a config from `gen_config N M` (virtual servers
//! 10.x.y.z:80/TCP, M real servers each) and waits until the kernel lists
//! every real server; prints `<ms> <pid> <t0>` (time from just before the
//! spawn, the daemon's pid, the spawn time in ns since the epoch) and leaves
//! the daemon running for the caller to stop.
//!
//! The wait polls one small netlink dump every 10 ms: the real servers of
//! the last virtual server of the file, which both daemons program last
//! (they go through the file in order). When that one is complete, the
//! whole table is counted in `/proc/net/ip_vs`; the time reported is the
//! poll that found the last one complete, kept only if the count then
//! finds every real server (otherwise polling goes on). Polling the whole
//! table instead costs 0.3-0.6 s of guest CPU per read at 10,000 real
//! servers under qemu TCG, as much as the thing being measured, and slows
//! the daemon it competes with.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipvs::{Client, ServiceKey};

/// `gen_config`'s address of virtual server `v`.
fn service(v: u32) -> ServiceKey {
    let vip = Ipv4Addr::new(10, (v >> 16) as u8, (v >> 8) as u8, v as u8);
    ServiceKey::tcp(SocketAddr::new(IpAddr::V4(vip), 80))
}

/// Real-server lines of `/proc/net/ip_vs` (the header's "  -> RemoteAddress"
/// excluded).
fn proc_dests() -> usize {
    std::fs::read("/proc/net/ip_vs")
        .unwrap_or_default()
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"  -> ") && l.get(5).is_some_and(u8::is_ascii_hexdigit))
        .count()
}

fn usage() -> ! {
    eprintln!("usage: cold_start N M TIMEOUT_S -- DAEMON ARGS...");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u32>().ok());
    let (Some(n), Some(m), Some(timeout), Some("--")) =
        (num(0), num(1), num(2), args.get(3).map(String::as_str))
    else {
        usage()
    };
    let Some((daemon, daemon_args)) = args[4..].split_first() else {
        usage()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let client = rt
        .block_on(Client::connect())
        .unwrap_or_else(|e| panic!("IPVS: {e}"));
    let t0 = Instant::now();
    let t0_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let child = Command::new(daemon)
        .args(daemon_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            eprintln!("cannot start {daemon}: {e}");
            std::process::exit(2)
        });
    let deadline = t0 + Duration::from_secs(timeout.into());
    let last = service(n - 1);
    let mut checks = 0u32;
    let found = rt.block_on(async {
        loop {
            let have = client.list_dests(&last).await.map_or(0, |d| d.len());
            if have >= m as usize {
                let at = t0.elapsed();
                checks += 1;
                if proc_dests() == (n * m) as usize {
                    return Some(at);
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let Some(elapsed) = found else {
        eprintln!(
            "timeout: /proc/net/ip_vs lists {} of {} real servers after {timeout} s",
            proc_dests(),
            n * m
        );
        println!("timeout {}", child.id());
        std::process::exit(1)
    };
    if checks > 1 {
        eprintln!("note: {checks} full counts before every real server was listed");
    }
    println!("{} {} {t0_unix}", elapsed.as_millis(), child.id());
}
