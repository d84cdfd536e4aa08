//! Tier 3, differential with live checkers: the IPVS table our `-C` daemon
//! reaches equals Debian keepalived's, in the same VM boot, while real
//! servers are up, down, flapping and inhibited; with quorum and a sorry
//! server, alpha, and MISC_CHECK (plain and misc_dynamic).
//!
//! Real servers are driven by the test: TCP_CHECKs point at listeners this
//! test opens (or not) on 127.0.0.1; MISC_CHECKs test state files the test
//! creates and removes. Each phase waits until both daemons' tables settle.

#[path = "vm/harness.rs"]
mod harness;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{sh, sorted_lines};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const OURS: &str = env!("CARGO_BIN_EXE_keepalived");
const THEIRS: &str = "/usr/sbin/keepalived";
const STATE: &str = "/tmp/kars-chk";

fn config(up_port: u16, down_port: u16) -> String {
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
    let mut c =
        String::from("global_defs {\n    enable_script_security\n    script_user root\n}\n");
    // up, down, flapping, inhibited
    c += "virtual_server 192.0.2.100 80 {\n    delay_loop 1\n    lb_algo wrr\n    lb_kind DR\n    protocol TCP\n";
    c += &rs("10.0.1.1", "        weight 3\n", tcp(up_port));
    c += &rs("10.0.1.2", "", tcp(down_port));
    c += &rs("10.0.1.3", "        weight 2\n", misc("flap"));
    c += &rs(
        "10.0.1.4",
        "        inhibit_on_failure\n        weight 5\n",
        misc("inhibited"),
    );
    c += "}\n";
    // quorum with a sorry server
    c += "virtual_server 192.0.2.101 80 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    quorum 2\n    hysteresis 0\n    sorry_server 10.0.9.9 8080\n";
    c += &rs("10.0.2.1", "", misc("q1"));
    c += &rs("10.0.2.2", "", misc("q2"));
    c += "}\n";
    // alpha: starts down, added after a success
    c += "virtual_server 192.0.2.102 80 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    alpha\n";
    c += &rs("10.0.3.1", "", misc("alpha_up"));
    c += &rs("10.0.3.2", "", misc("alpha_down"));
    c += "}\n";
    // misc_dynamic: exit status 2 + weight sets the weight
    c += "virtual_server 192.0.2.103 80 {\n    delay_loop 1\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n";
    c += &format!(
        "    real_server 10.0.4.1 80 {{\n        weight 1\n        MISC_CHECK {{\n            misc_path \"/bin/sh -c 'exit $(cat {STATE}/dyn)'\"\n            misc_timeout 5\n            misc_dynamic\n        }}\n    }}\n"
    );
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

/// The phases: (name, state changes before it). Tables are taken once
/// each phase has settled.
fn phases() -> Vec<(&'static str, Vec<(&'static str, bool)>)> {
    vec![
        ("start", vec![]),
        (
            "flap down, quorum lost",
            vec![("flap", false), ("q2", false)],
        ),
        (
            "flap up, quorum back, inhibited back",
            vec![("flap", true), ("q2", true), ("inhibited", true)],
        ),
    ]
}

fn run(bin: &str, conf: &Path, dir: &Path) -> Vec<String> {
    sh("ipvsadm -C");
    let _ = std::fs::remove_dir_all(STATE);
    std::fs::create_dir_all(STATE).unwrap();
    for f in ["flap", "q1", "q2", "alpha_up"] {
        set(f, true);
    }
    std::fs::write(Path::new(STATE).join("dyn"), "7\n").unwrap(); // weight 5
    let child = harness::start_checker_daemon(bin, conf, dir);
    let mut tables = Vec::new();
    for (_, changes) in phases() {
        for (f, on) in changes {
            set(f, on);
        }
        // generous: under TCG on a loaded host a script run can take seconds
        tables.push(harness::settled(
            Duration::from_secs(6),
            Duration::from_secs(60),
        ));
    }
    harness::stop_daemon(child, bin);
    std::thread::sleep(Duration::from_millis(300));
    tables.push(sh("ipvsadm -Sn"));
    tables
}

#[test]
fn checkers_differential_against_keepalived() {
    if harness::run_in_vm(ROOT, "checkers_differential_against_keepalived", 900) {
        return;
    }
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let down = TcpListener::bind("127.0.0.1:0").unwrap();
    let down_port = down.local_addr().unwrap().port();
    drop(down); // nothing listens there: refused
    let work = PathBuf::from("/tmp/kars-chkdiff");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let conf = work.join("keepalived.conf");
    std::fs::write(&conf, config(up.local_addr().unwrap().port(), down_port)).unwrap();
    // accept and close, so TCP_CHECK connects succeed quickly
    std::thread::spawn(move || {
        for s in up.incoming() {
            drop(s);
        }
    });
    let theirs = run(THEIRS, &conf, &work);
    let ours = run(OURS, &conf, &work);
    let mut diffs = Vec::new();
    let names: Vec<&str> = phases()
        .iter()
        .map(|p| p.0)
        .chain(["after SIGTERM"])
        .collect();
    for (i, name) in names.iter().enumerate() {
        let same = sorted_lines(&theirs[i]) == sorted_lines(&ours[i]);
        println!(
            "{} {name}: keepalived {} lines, ours {}",
            if same { "same" } else { "DIFF" },
            theirs[i].lines().count(),
            ours[i].lines().count()
        );
        if !same {
            diffs.push(format!(
                "{name}:\n--- keepalived\n{}--- ours\n{}",
                theirs[i], ours[i]
            ));
        }
    }
    // the scenario must actually exercise something
    assert!(
        theirs[0].contains("10.0.1.1:80"),
        "keepalived's table at start:\n{}",
        theirs[0]
    );
    assert!(
        theirs[1].contains("10.0.9.9:8080"),
        "quorum loss should bring the sorry server:\n{}",
        theirs[1]
    );
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
