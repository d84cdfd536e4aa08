//! Tier 3, differential: the log of our `-C` daemon against Debian's
//! keepalived 2.2.7's, in the same VM boot (keepalived's checker process
//! needs IPVS). One virtual server with a real server that answers and one
//! that does not; start, a SIGHUP with the same file, SIGTERM. Every line
//! keepalived writes must be ours too, as often, timestamps and pids aside:
//! operators' alerting and deployment tooling match these lines
//! ("Startup complete", "Reload complete", "Removing service ...").
//!
//! The order is compared per process only: the parent's and the checker
//! process's lines interleave as their scheduling goes.

#[path = "vm/harness.rs"]
mod harness;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::sh;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const OURS: &str = env!("CARGO_BIN_EXE_keepalived");
const THEIRS: &str = "/usr/sbin/keepalived";
const WORK: &str = "/tmp/kl-checklog";

/// "Running on … (built for Linux X.Y.Z)": the kernel headers keepalived was
/// built with against the kernel we target; the rest is compared.
fn built_for_masked(m: &str) -> String {
    match m.split_once(" (built for Linux ") {
        Some((head, _)) if m.starts_with("Running on ") => format!("{head} (built for …)"),
        _ => m.to_owned(),
    }
}

/// keepalived's lines that are about keepalived itself, not about what it
/// does: its version and command line, and BFD, which it starts whether
/// configured or not (we have none).
fn about_keepalived(line: &str) -> bool {
    line.starts_with("Starting Keepalived v")
        || line.starts_with("Stopped Keepalived v")
        || line.starts_with("Command line: ")
        || line.starts_with("  ")
        || line == "Activating BFD healthchecker"
}

fn config(up: u16, down: u16) -> String {
    format!(
        "global_defs {{\n    router_id LVS_C\n}}\nvirtual_server 10.0.0.1 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server 127.0.0.1 {up} {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n    real_server 127.0.0.1 {down} {{\n        weight 2\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n}}\n"
    )
}

/// The log's messages, without the timestamp and with pids masked.
fn messages(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, m)| m.to_owned()))
        .map(|m| match m.split_once(", pid=") {
            Some((head, _)) => format!("{head}, pid=N"),
            None => m,
        })
        .map(|m| built_for_masked(&m))
        .filter(|m| !about_keepalived(m))
        .collect()
}

fn run(bin: &str, dir: &Path, conf: &Path) -> Vec<String> {
    sh("ipvsadm -C");
    let child = harness::start_checker_daemon(bin, conf, dir);
    std::thread::sleep(Duration::from_secs(5));
    let parent: i32 = std::fs::read_to_string(dir.join("parent.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(parent),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    harness::stop_daemon(child, bin);
    let name = Path::new(bin).file_name().unwrap().to_string_lossy();
    messages(&dir.join(format!("{name}.log")))
}

#[test]
fn checker_log_matches_keepalived() {
    if harness::run_in_vm(ROOT, "checker_log_matches_keepalived", 600) {
        return;
    }
    let work = PathBuf::from(WORK);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    sh("ip link set lo up");
    // the real server that answers; the other port is closed
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = listener.local_addr().unwrap().port();
    let down = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::thread::spawn(move || {
        for c in listener.incoming() {
            drop(c);
        }
    });
    let conf = work.join("keepalived.conf");
    std::fs::write(&conf, config(up, down)).unwrap();
    let theirs = run(THEIRS, &work, &conf);
    let ours = run(OURS, &work, &conf);
    sh("ipvsadm -C");
    eprintln!("keepalived:\n  {}", theirs.join("\n  "));
    eprintln!("ours:\n  {}", ours.join("\n  "));
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    assert_eq!(sorted(&ours), sorted(&theirs));
    // the lines the parent writes, in keepalived's order
    let parent = |v: &[String]| -> Vec<String> {
        v.iter()
            .filter(|m| {
                m.starts_with("Configuration file")
                    || m.starts_with("Starting Healthcheck child")
                    || m.ends_with(" complete")
                    || m.starts_with("Reloading ...")
                    || *m == "Stopping"
            })
            .cloned()
            .collect()
    };
    assert_eq!(parent(&ours), parent(&theirs));
    assert!(theirs.contains(&"Reload complete".to_owned()), "{theirs:?}");
}
