//! Differential test against Debian's keepalived 2.2.7 (tier 2: root,
//! netns): which process logs which config error, at start and at a
//! reload. keepalived's parent and each child read the file with only
//! their own blocks' keywords active, so each logs the errors of its own
//! blocks and of the root level; the children log global_defs' only at a
//! reload; the parent names the file only when there are several. Under
//! syslog each process has its own ident (`Keepalived_vrrp`, ...), which
//! alert rules match.
//!
//! Both daemons run alone in a namespace with `-n -l -D` and one child
//! (`-P`, then `-C`), and the console's config errors are compared
//! (sorted; the column we add to keepalived's line number removed) in
//! three parts: the start; the parent's at a reload (from its "Reloading
//! ..."); the child's at a reload (from its own "Reloading", which comes
//! only once the parent has read the file and signalled it). At start the
//! parent's lines and the child's interleave (keepalived's child may log
//! before its parent says it started it), but the parent names no main
//! file and the children do, so the place tells them apart.
//!
//! This host has no IPVS: keepalived's checker process logs its errors
//! and then stops for want of it, so the checker is compared at start only.

mod oracle_common;
use oracle_common::{Netns, pid_args, require_netns_oracle};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEEPALIVED: &str = "/usr/sbin/keepalived";
const OURS: &str = env!("CARGO_BIN_EXE_keepalived");

/// Errors in every kind of block: global, root level, VRRP, both
/// children (track_file), checker. `tag` makes the reload's differ.
fn config(tag: &str, include: Option<&Path>) -> String {
    let include = include.map_or(String::new(), |p| format!("include {}\n", p.display()));
    format!(
        "{include}global_defs {{\n    router_id t1\n    {tag}_global 1\n}}\n\
         {tag}_top 5\n\
         static_ipaddress {{\n    10.7.7.7/32 dev ce0 {tag}_word\n}}\n\
         vrrp_script chk {{\n    script \"/bin/true\"\n    interval abc\n    {tag}_script 1\n}}\n\
         vrrp_script unused {{\n    script \"/bin/true\"\n}}\n\
         track_file tf {{\n    file /nonexistent/tf\n    {tag}_tf 1\n}}\n\
         vrrp_instance VI {{\n    state BACKUP\n    interface ce0\n    virtual_router_id 51\n    \
         priority 100\n    {tag}_vrrp 2\n    track_script {{\n        chk\n    }}\n    \
         virtual_ipaddress {{\n        10.9.9.100/24\n    }}\n}}\n\
         virtual_server_group G {{\n    10.9.9.50 80\n    {tag}_vsg\n}}\n\
         virtual_server 10.9.9.100 80 {{\n    lb_algo rr\n    lb_kind DR\n    protocol TCP\n    \
         {tag}_vs 3\n    real_server 10.9.9.2 80 {{\n        weight 1\n        \
         TCP_CHECK {{\n            {tag}_tcp 1\n        }}\n    }}\n}}\n"
    )
}

/// The console lines of one run, in order, time stamps removed.
fn run(ns: &str, dir: &Path, bin: &str, tag: &str, role: &str, confs: &[String]) -> Vec<String> {
    // one name for both daemons' runs: errors name the file
    let file = dir.join("k.conf");
    std::fs::write(&file, &confs[0]).unwrap();
    let log = dir.join(format!("{tag}.log"));
    let pids = pid_args(dir, tag);
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, bin, "-n", "-l", "-D", role, "-f"])
        .arg(&file)
        .args(&pids)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let parent = || -> Option<nix::unistd::Pid> {
        let text = std::fs::read_to_string(&pids[1]).ok()?;
        Some(nix::unistd::Pid::from_raw(text.trim().parse().ok()?))
    };
    std::thread::sleep(Duration::from_millis(2500));
    for conf in &confs[1..] {
        std::fs::write(&file, conf).unwrap();
        let pid = parent().expect("parent pid file");
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP);
        std::thread::sleep(Duration::from_millis(3000));
    }
    if let Some(pid) = parent() {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "{bin} {role}: did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, m)| m.to_string()))
        .collect()
}

/// A config error as compared: `(FILE: Line N)` or `(Line N)` kept, our
/// column dropped. keepalived's checks made after reading ("Virtual
/// server …: no forwarding method set") name no line where ours name the
/// block's: that place is dropped too.
fn config_error(m: &str) -> Option<String> {
    if m.starts_with("Virtual server ") || m.starts_with("Warning - script") {
        return Some(m.to_string());
    }
    let (place, rest) = m.strip_prefix('(')?.split_once(") ")?;
    let (file, line) = match place.rsplit_once("Line ") {
        Some((file, line)) if file.is_empty() || file.ends_with(": ") => (file, line),
        _ => return None,
    };
    let line = line.split(':').next().unwrap_or(line);
    if rest.starts_with("Virtual server ") {
        return Some(rest.to_string());
    }
    Some(format!("({file}Line {line}) {rest}"))
}

/// The config errors of each part of the log: the start's, then the
/// parent's and the child's at each reload.
fn parts(lines: &[String]) -> Vec<Vec<String>> {
    let mut parts = vec![Vec::new()];
    for m in lines {
        if m == "Reloading ..." || m == "Reloading" {
            parts.push(Vec::new());
        } else if let Some(e) = config_error(m) {
            parts.last_mut().unwrap().push(e);
        }
    }
    for p in &mut parts {
        p.sort();
    }
    parts
}

fn compare(name: &str, role: &str, confs: &[String], expect_parts: usize) -> Vec<Vec<String>> {
    let ns = Netns::with_veth(format!("kce-{name}"), "ce0", "ce1");
    let ok = Command::new("ip")
        .args(["-n", &ns.0, "addr", "add", "10.9.9.1/24", "dev", "ce0"])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let dir = std::env::temp_dir().join(format!("kce-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let confs: Vec<String> = confs
        .iter()
        .map(|c| c.replace("@DIR@", &dir.to_string_lossy()))
        .collect();
    if let Some(inc) = confs.iter().find_map(|c| c.strip_prefix("include ")) {
        let path = inc.lines().next().unwrap();
        std::fs::write(path, "global_defs {\n    inc_global 1\n}\ninc_top 1\n").unwrap();
    }
    let theirs = parts(&run(&ns.0, &dir, KEEPALIVED, "k", role, &confs));
    let ours = parts(&run(&ns.0, &dir, OURS, "o", role, &confs));
    assert_eq!(
        theirs.len(),
        expect_parts,
        "{name}: keepalived's log parts: {theirs:#?}"
    );
    for (i, (o, k)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(
            o, k,
            "{name}: part {i} (start, parent's reload, child's reload): ours vs keepalived"
        );
    }
    assert_eq!(ours.len(), theirs.len(), "{name}: parts");
    let _ = std::fs::remove_dir_all(&dir);
    theirs
}

#[test]
fn vrrp_process_logs_its_own_errors() {
    if !require_netns_oracle("vrrp_process_logs_its_own_errors") {
        return;
    }
    let parts = compare(
        "vrrp",
        "-P",
        &[config("bogus", None), config("bogus2", None)],
        3,
    );
    // the comparison saw what it is about
    assert!(parts[0].contains(&"(Line 3) Unknown keyword 'bogus_global'".to_string()));
    assert!(
        parts[0]
            .iter()
            .any(|l| l.ends_with("Unknown keyword 'bogus_vrrp'"))
    );
    assert!(parts[0].contains(&"Warning - script unused is not used".to_string()));
    assert!(parts[1].contains(&"(Line 3) Unknown keyword 'bogus2_global'".to_string()));
    assert!(
        parts[2]
            .iter()
            .any(|l| l.ends_with("Unknown keyword 'bogus2_global'"))
    );
}

#[test]
fn checker_process_logs_its_own_errors() {
    if !require_netns_oracle("checker_process_logs_its_own_errors") {
        return;
    }
    let parts = compare("check", "-C", &[config("bogus", None)], 1);
    assert!(
        parts[0]
            .iter()
            .any(|l| l.ends_with("Unknown keyword 'bogus_tcp'"))
    );
    assert!(
        parts[0]
            .iter()
            .any(|l| l.ends_with("Unknown keyword 'bogus_tf'"))
    );
}

#[test]
fn parent_names_the_files_when_there_are_several() {
    if !require_netns_oracle("parent_names_the_files_when_there_are_several") {
        return;
    }
    let inc = Path::new("@DIR@/inc.conf");
    let parts = compare("include", "-P", &[config("bogus", Some(inc))], 1);
    assert!(
        parts[0]
            .iter()
            .any(|l| l.contains("inc.conf: Line 2) Unknown keyword 'inc_global'")),
        "{parts:?}"
    );
}

/// How a start ends: the exit code if the daemon stopped within 4 s, and
/// the lines about it (places removed: keepalived names no line for its
/// instance checks, we do).
fn start_outcome(ns: &str, dir: &Path, bin: &str, conf: &str) -> (Option<i32>, Vec<String>) {
    const ABOUT: &[&str] = &[
        "VIP specified",
        "Unknown interface",
        "Non-existent interface",
        "WARNING - interface",
        "exited with permanent error",
    ];
    let file = dir.join("k.conf");
    std::fs::write(&file, conf).unwrap();
    let log = dir.join("start.log");
    let pids = pid_args(dir, "s");
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, bin, "-n", "-l", "-P", "-f"])
        .arg(&file)
        .args(&pids)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut code = None;
    while Instant::now() < deadline {
        if let Some(s) = child.try_wait().unwrap() {
            code = s.code();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if code.is_none() {
        // `ip netns exec` became the daemon's parent process
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
    let _ = child.wait();
    let mut lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, m)| m))
        .map(
            |m| match m.strip_prefix('(').and_then(|r| r.split_once(") ")) {
                Some((place, rest)) if place.contains("Line ") => rest.to_string(),
                _ => m.to_string(),
            },
        )
        .map(
            |m| match m.strip_prefix("pid ").and_then(|r| r.split_once(' ')) {
                Some((_, rest)) => format!("pid N {rest}"),
                None => m,
            },
        )
        .filter(|m| ABOUT.iter().any(|a| m.contains(a)))
        .collect();
    lines.sort();
    (code, lines)
}

/// An instance's own checks at start: without a VIP it runs (keepalived
/// says twice that one is sensible) unless strict; without `interface` the
/// VRRP process stops (CONFIG) and the whole daemon with it; with a
/// missing interface it stops before its instance checks.
#[test]
fn instance_checks_at_start_as_keepalived() {
    if !require_netns_oracle("instance_checks_at_start_as_keepalived") {
        return;
    }
    let ns = Netns::with_veth("kce-start".to_string(), "ce0", "ce1");
    let dir = std::env::temp_dir().join(format!("kce-start-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let inst = |name: &str, body: &str| {
        format!("vrrp_instance {name} {{\n    state BACKUP\n{body}    priority 100\n}}\n")
    };
    let vip = "    virtual_ipaddress {\n        10.9.9.100/24\n    }\n";
    let cases = [
        (
            "no VIP",
            inst("VI", "    interface ce0\n    virtual_router_id 51\n"),
            None,
        ),
        (
            "no VIP, strict",
            format!(
                "global_defs {{\n    vrrp_strict\n}}\n{}",
                inst("VI", "    interface ce0\n    virtual_router_id 51\n")
            ),
            Some(2),
        ),
        (
            "no interface",
            format!(
                "{}{}",
                inst(
                    "VI",
                    &format!("    interface ce0\n    virtual_router_id 51\n{vip}")
                ),
                inst("VJ", &format!("    virtual_router_id 52\n{vip}"))
            ),
            Some(2),
        ),
        (
            "missing interface",
            format!(
                "{}{}",
                inst(
                    "VI",
                    &format!("    interface nosuch0\n    virtual_router_id 51\n{vip}")
                ),
                inst("VJ", &format!("    virtual_router_id 52\n{vip}"))
            ),
            Some(2),
        ),
    ];
    let mut failures = Vec::new();
    for (name, conf, code) in &cases {
        let theirs = start_outcome(&ns.0, &dir, KEEPALIVED, conf);
        let ours = start_outcome(&ns.0, &dir, OURS, conf);
        if theirs.0 != *code || theirs.1.is_empty() || ours != theirs {
            failures.push(format!(
                "{name}:\n  keepalived {theirs:?}\n  ours       {ours:?}"
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
