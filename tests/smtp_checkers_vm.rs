//! Tier 3, email alerts of the checker process (`-C` needs IPVS, hence the
//! VM): Debian's keepalived and ours run the same checkers, one after the
//! other in the same VM boot, against an SMTP sink on the VM's loopback;
//! the mails (Date masked) and the SMTP log lines must be the same.
//!
//! Real servers: a TCP_CHECK on a listener (up), one on a refused port
//! (down), MISC_CHECKs on state files the test flips (a flapping server,
//! and two servers behind `quorum 2` so the virtual server loses and
//! regains quorum). A reload removes a live real server ("Removing").

#[path = "vm/harness.rs"]
mod harness;
mod smtp_sink;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use smtp_sink::{Mode, Sink};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const OURS: &str = env!("CARGO_BIN_EXE_keepalived");
const THEIRS: &str = "/usr/sbin/keepalived";
const STATE: &str = "/tmp/kars-smtpchk";

fn config(smtp_port: u16, up_port: u16, down_port: u16, with_removed: bool) -> String {
    let misc = |name: &str| {
        format!(
            "        MISC_CHECK {{\n            misc_path \"/bin/sh -c 'test -e {STATE}/{name}'\"\n            misc_timeout 3\n        }}\n"
        )
    };
    let tcp = |port: u16| {
        format!(
            "        TCP_CHECK {{\n            connect_ip 127.0.0.1\n            connect_port {port}\n            connect_timeout 1\n        }}\n"
        )
    };
    let rs = |addr: &str, extra: &str, check: String| {
        format!("    real_server {addr} 80 {{\n{extra}{check}    }}\n")
    };
    let mut c = format!(
        "global_defs {{\n    enable_script_security\n    script_user root\n    router_id vmlb\n    notification_email {{\n        ops@example.com\n        \"Ops Two <ops2@example.com>\"\n    }}\n    notification_email_from kv@example.com\n    smtp_server 127.0.0.1 {smtp_port}\n    smtp_helo_name vmlb.example.com\n    smtp_alert_checker\n}}\n"
    );
    c += "virtual_server 192.0.2.100 80 {\n    delay_loop 1\n    lb_algo wrr\n    lb_kind DR\n    protocol TCP\n";
    c += &rs("10.0.1.1", "", tcp(up_port));
    c += &rs("10.0.1.2", "", tcp(down_port));
    c += &rs("10.0.1.3", "", misc("flap"));
    if with_removed {
        c += &rs("10.0.1.4", "", tcp(up_port));
    }
    c += "}\n";
    c += "virtual_server 192.0.2.101 80 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    quorum 2\n";
    c += &rs("10.0.2.1", "", misc("q1"));
    c += &rs("10.0.2.2", "        smtp_alert off\n", misc("q2"));
    c += "}\n";
    c
}

fn set(name: &str, on: bool) {
    let p = Path::new(STATE).join(name);
    if on {
        std::fs::write(p, "").unwrap();
    } else {
        let _ = std::fs::remove_file(p);
    }
}

/// Waits until the sink has seen no new session for `quiet`.
fn quiet(sink: &Sink, quiet: Duration, limit: Duration) {
    let start = Instant::now();
    let mut n = sink.sessions().len();
    let mut since = Instant::now();
    while start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(100));
        let m = sink.sessions().len();
        if m != n {
            n = m;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
    }
}

/// The phases' state-file changes; the reload comes last.
const PHASES: [&[(&str, bool)]; 3] = [
    &[],
    &[("flap", false), ("q2", false)],
    &[("flap", true), ("q2", true)],
];

/// One daemon's mails, phase by phase (each sorted: concurrent sessions),
/// and its log.
fn main_flow(
    bin: &str,
    dir: &Path,
    sink: &Sink,
    conf: &Path,
    full: &str,
    reduced: &str,
) -> (Vec<Vec<String>>, String) {
    harness::sh("ipvsadm -C");
    let _ = std::fs::remove_dir_all(STATE);
    std::fs::create_dir_all(STATE).unwrap();
    for f in ["flap", "q1", "q2"] {
        set(f, true);
    }
    std::fs::write(conf, full).unwrap();
    let before = sink.sessions().len();
    let child = harness::start_checker_daemon(bin, conf, dir);
    let mut seen = before;
    let mut phases = Vec::new();
    let take = |sink: &Sink, seen: &mut usize| {
        // generous: under TCG a script run can take seconds
        quiet(sink, Duration::from_secs(6), Duration::from_secs(60));
        let all = sink.sessions();
        // keepalived's unfinished alerts at its stop carry no command
        let mut p: Vec<String> = all[*seen..]
            .iter()
            .filter(|t| t.contains("C: "))
            .cloned()
            .collect();
        *seen = all.len();
        p.sort();
        p
    };
    for changes in PHASES {
        for (f, on) in changes {
            set(f, *on);
        }
        phases.push(take(sink, &mut seen));
    }
    std::fs::write(conf, reduced).unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP);
    phases.push(take(sink, &mut seen));
    let name = Path::new(bin)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
    harness::stop_daemon(child, bin);
    (phases, log)
}

/// The SMTP client's lines of a log, without timestamps, sorted.
fn smtp_lines(log: &str) -> Vec<String> {
    let mut v: Vec<String> = log
        .lines()
        .filter_map(|l| {
            [
                "smtp fd ",
                "Error processing ",
                "Timeout ",
                "Remote SMTP server ",
                "SMTP alert",
            ]
            .iter()
            .filter_map(|n| l.find(n))
            .min()
            .map(|at| l[at..].to_owned())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn checker_alerts_match_keepalived() {
    if harness::run_in_vm(ROOT, "checker_alerts_match_keepalived", 900) {
        return;
    }
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let down = TcpListener::bind("127.0.0.1:0").unwrap();
    let down_port = down.local_addr().unwrap().port();
    drop(down); // nothing listens there: refused
    let up_port = up.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in up.incoming() {
            drop(s);
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let smtp_port = listener.local_addr().unwrap().port();
    let sink = Sink::start(listener, Mode::Accept);
    let work = PathBuf::from("/tmp/kars-smtpchk-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let conf = work.join("keepalived.conf");
    let full = config(smtp_port, up_port, down_port, true);
    let reduced = config(smtp_port, up_port, down_port, false);
    let (theirs, their_log) = main_flow(THEIRS, &work, &sink, &conf, &full, &reduced);
    let (ours, our_log) = main_flow(OURS, &work, &sink, &conf, &full, &reduced);
    let names = ["start", "flap and q2 down", "flap and q2 up", "reload"];
    let mut diffs = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let same = theirs[i] == ours[i];
        println!(
            "{} {name}: keepalived {} mails, ours {}",
            if same { "same" } else { "DIFF" },
            theirs[i].len(),
            ours[i].len()
        );
        if !same {
            diffs.push(format!(
                "{name}:\n--- keepalived\n{}\n--- ours\n{}",
                theirs[i].join("\n"),
                ours[i].join("\n")
            ));
        }
    }
    let (tl, ol) = (smtp_lines(&their_log), smtp_lines(&our_log));
    if tl != ol {
        diffs.push(format!(
            "SMTP log lines:\n--- keepalived\n{}\n--- ours\n{}",
            tl.join("\n"),
            ol.join("\n")
        ));
    }
    // The scenario must exercise real server and quorum mails.
    let all = theirs.concat().join("\n");
    for want in [
        "Realserver [10.0.1.2]:tcp:80",
        "Virtualserver [192.0.2.101]:tcp:80 - DOWN",
        "=> Removing <=",
    ] {
        assert!(all.contains(want), "keepalived sent no {want:?}:\n{all}");
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
