//! Tier 3, differential: for each configuration, the IPVS table our `-C`
//! daemon programs equals the one Debian's keepalived programs, in the same
//! VM boot; and both take everything away again on SIGTERM.
//!
//! Configurations: every sample in ../shared/keepalived-samples that has
//! virtual servers, plus tests/ipvs-configs/*.conf (each scheduler,
//! forwarding method, flag, fwmark, IPv6, SCTP, group form, sorry server).
//! Checker blocks are stripped from both copies: until checkers run, every
//! real server is alive (issue 3), and keepalived considers a real server
//! without checkers alive too, so both daemons must reach the same table.

#[path = "vm/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{sh, sorted_lines};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const OURS: &str = env!("CARGO_BIN_EXE_keepalived");
const THEIRS: &str = "/usr/sbin/keepalived";

const CHECKERS: &[&str] = &[
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "MISC_CHECK",
    "SMTP_CHECK",
    "DNS_CHECK",
    "PING_CHECK",
    "UDP_CHECK",
    "FILE_CHECK",
    "BFD_CHECK",
];

/// Removes checker blocks (keyword through its matching brace).
fn strip_checkers(text: &str) -> String {
    let mut out = String::new();
    let mut depth: Option<i32> = None;
    for line in text.lines() {
        let code = line.split(['#', '!']).next().unwrap_or("");
        if depth.is_none() {
            let first = code.split_whitespace().next().unwrap_or("");
            if CHECKERS.contains(&first) {
                depth = Some(0);
            }
        }
        match depth.as_mut() {
            Some(d) => {
                let opened = code.matches('{').count() as i32;
                *d += opened - code.matches('}').count() as i32;
                if *d <= 0 && (opened > 0 || code.contains('}')) {
                    depth = None;
                }
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn samples_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KEEPALIVED_SAMPLES") {
        return PathBuf::from(d);
    }
    let shared = Path::new(ROOT).join("../shared/keepalived-samples");
    if shared.is_dir() {
        return shared;
    }
    PathBuf::from("/usr/share/doc/keepalived/samples")
}

fn configs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = Vec::new();
    for dir in [samples_dir(), Path::new(ROOT).join("tests/ipvs-configs")] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                std::fs::read_to_string(p).is_ok_and(|t| {
                    t.lines()
                        .any(|l| l.trim_start().starts_with("virtual_server"))
                })
            })
            .collect();
        files.sort();
        v.extend(files);
    }
    v
}

/// The table a daemon reaches, and what it leaves after SIGTERM.
fn run_daemon(bin: &str, conf: &Path, dir: &Path) -> (String, String) {
    sh("ipvsadm -C");
    let child = harness::start_checker_daemon(bin, conf, dir);
    let table = harness::settled(Duration::from_millis(1500), Duration::from_secs(20));
    harness::stop_daemon(child, bin);
    std::thread::sleep(Duration::from_millis(200));
    (table, sh("ipvsadm -Sn"))
}

#[test]
fn differential_against_keepalived() {
    if harness::run_in_vm(ROOT, "differential_against_keepalived", 1200) {
        return;
    }
    // The samples name interfaces; the checker role doesn't need them, but
    // keepalived's parent reads the whole file.
    let _ = sh(
        "ip link add eth0 type dummy 2>/dev/null; ip link set eth0 up; ip link add eth1 type dummy 2>/dev/null; ip link set eth1 up; true",
    );
    let work = PathBuf::from("/tmp/kars-diff");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let mut failures = Vec::new();
    let mut compared = 0;
    for conf in configs() {
        let name = conf.file_name().unwrap().to_string_lossy().into_owned();
        let stripped = work.join(&name);
        std::fs::write(
            &stripped,
            strip_checkers(&std::fs::read_to_string(&conf).unwrap()),
        )
        .unwrap();
        let dir = work.join(format!("{name}.run"));
        std::fs::create_dir_all(&dir).unwrap();
        let (theirs, theirs_after) = run_daemon(THEIRS, &stripped, &dir);
        let (ours, ours_after) = run_daemon(OURS, &stripped, &dir);
        compared += 1;
        let same = sorted_lines(&theirs) == sorted_lines(&ours);
        println!(
            "{} {name}: keepalived {} lines, ours {} lines",
            if same { "same" } else { "DIFF" },
            theirs.lines().count(),
            ours.lines().count()
        );
        if !same {
            failures.push(format!("{name}:\n--- keepalived\n{theirs}--- ours\n{ours}"));
        }
        if !theirs_after.is_empty() {
            println!("note {name}: keepalived left entries after SIGTERM:\n{theirs_after}");
        }
        if !ours_after.is_empty() {
            failures.push(format!(
                "{name}: ours left entries after SIGTERM:\n{ours_after}"
            ));
        }
    }
    assert!(compared >= 10, "only {compared} configurations found");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn strip_checkers_removes_whole_blocks() {
    let t = "virtual_server 1.2.3.4 80 {\n real_server 10.0.0.1 80 {\n  weight 1\n  TCP_CHECK {\n   connect_timeout 3\n  }\n  HTTP_GET\n  {\n   url {\n    path /\n   }\n  }\n }\n}\n";
    assert_eq!(
        strip_checkers(t),
        "virtual_server 1.2.3.4 80 {\n real_server 10.0.0.1 80 {\n  weight 1\n }\n}\n"
    );
}
