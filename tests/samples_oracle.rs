//! Differential test against Debian's keepalived 2.2.7 (tier 2: root, netns).
//!
//! Every file in ../shared/keepalived-samples (or $KEEPALIVED_SAMPLES) is
//! checked with `keepalived -t` by both binaries inside one network namespace
//! that has only `lo` and `eth0` (a veth), as the reference table in
//! keepalived-reference.md §7 assumes. Both must give the same exit code and
//! the same set of line numbers in their parse-time diagnostics. (keepalived
//! prints post-parse checks without a line; we print ours with one, and
//! `--diagnostics-json` tells the two phases apart.)
//!
//! Intentional differences are listed in README.md ("Compatibility").
//! Without root or without /usr/sbin/keepalived this test fails when CI=true
//! and is skipped loudly otherwise.

mod oracle_common;
use oracle_common::require;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("kasamples{}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        run(&[
            "ip", "-n", &name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer",
        ]);
        run(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        run(&["ip", "-n", &name, "link", "set", "eth0", "up"]);
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run(args: &[&str]) {
    let st = Command::new(args[0])
        .args(&args[1..])
        .status()
        .expect("spawn");
    assert!(st.success(), "{args:?} failed");
}

/// $KEEPALIVED_SAMPLES, else the project's shared copy, else the samples
/// Debian's keepalived package installs (the same 25 files).
fn samples_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KEEPALIVED_SAMPLES") {
        return PathBuf::from(d);
    }
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/keepalived-samples");
    if shared.is_dir() {
        return shared;
    }
    PathBuf::from("/usr/share/doc/keepalived/samples")
}

fn ka_lines(stderr: &str) -> BTreeSet<u32> {
    stderr
        .lines()
        .filter_map(|l| {
            let i = l.find("Line ")?;
            let rest = &l[i + 5..];
            let end = rest.find(|c: char| !c.is_ascii_digit())?;
            rest[..end].parse().ok()
        })
        .collect()
}

fn our_lines(stderr: &str) -> BTreeSet<u32> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|d| d["phase"] == "Parse" && d["note"] == false)
        .filter_map(|d| d["loc"]["line"].as_u64().map(|l| l as u32))
        .collect()
}

#[test]
fn samples_match_debian_keepalived() {
    let root = nix::unistd::geteuid().is_root();
    if !require("samples_oracle", root, "needs root for a network namespace") {
        return;
    }
    if !require(
        "samples_oracle",
        Path::new("/usr/sbin/keepalived").exists(),
        "Debian keepalived not installed (make test installs it)",
    ) {
        return;
    }
    let dir = samples_dir();
    if !require(
        "samples_oracle",
        dir.is_dir(),
        &format!("samples directory {} missing", dir.display()),
    ) {
        return;
    }
    let ns = Netns::new();
    let ours = env!("CARGO_BIN_EXE_keepalived");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("keepalived.conf"))
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected the keepalived samples, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for f in &files {
        let f = f.to_str().unwrap();
        let ka = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                "/usr/sbin/keepalived",
                "-t",
                "-f",
                f,
            ])
            .output()
            .unwrap();
        let us = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                ours,
                "-t",
                "--diagnostics-json",
                "-f",
                f,
            ])
            .output()
            .unwrap();
        let (krc, urc) = (ka.status.code(), us.status.code());
        let kl = ka_lines(&String::from_utf8_lossy(&ka.stderr));
        let ul = our_lines(&String::from_utf8_lossy(&us.stderr));
        if krc != urc || kl != ul {
            failures.push(format!(
                "{f}: exit keepalived={krc:?} ours={urc:?}; lines keepalived={kl:?} ours={ul:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} samples differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
