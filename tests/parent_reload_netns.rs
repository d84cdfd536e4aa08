//! Differential test against Debian's keepalived 2.2.7 (tier 2: root,
//! netns): what the parent does at a reload. Each case runs both daemons
//! in turn, alone in a namespace of the test's, through the same steps
//! (write a configuration, SIGHUP the parent, wait); the lines that the
//! reload concerns must be the same in each step (sorted: the parent's
//! and the children's lines interleave by scheduling).
//!
//! - settings a running daemon cannot change: the reload is refused, the
//!   children are not told, and a later acceptable reload goes through;
//! - `reload_check_config`: a new file that fails `-t` is not loaded, one
//!   that passes is; `reload_file` left from before is removed at start;
//! - a child that the new file needs is started;
//! - `disable_local_igmp`: the namespace's link-local IGMP reports are off
//!   while the VRRP process runs and back on after; IPv4 VMACs get no
//!   IGMP rules;
//! - the script lines each process logs as it loads the file (the missing
//!   default script user, the script security violation), at start and at
//!   reloads;
//! - `reload_time_file`: scheduling, updating, refusing and cancelling a
//!   reload time, and the reload it makes.

mod oracle_common;
use oracle_common::{Netns, pid_args, require_netns_oracle};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const KEEPALIVED: &str = "/usr/sbin/keepalived";
const OURS: &str = env!("CARGO_BIN_EXE_keepalived");

fn instance(extra_global: &str, extra_instance: &str) -> String {
    format!(
        "global_defs {{\n  router_id t1\n{extra_global}}}\nvrrp_instance VI_1 {{\n  interface pr0\n  virtual_router_id 5\n  priority 100\n{extra_instance}  virtual_ipaddress {{\n    192.0.2.1/24\n  }}\n}}\n"
    )
}

/// The lines a reload concerns, from either process.
const KEPT: &[&str] = &[
    "Reloading",
    "Cannot change",
    "New config failed",
    "validate conf",
    "Starting VRRP child",
    "Starting Healthcheck child",
    "Reload complete",
    "Startup complete",
    "Configuration file",
    "Opening file",
    "Processing queued",
    "Warning - keepalived has no configuration",
    "truncate of",
    "Failed to create reload file",
    "Unable to",
    "Stopping",
    "config check",
    "Could not run",
    "Script user",
    "SECURITY VIOLATION",
    "Scheduling reload",
    "Reload time",
    "Cancelling reload",
    "Invalid reload time",
    "Reload date/time",
    "A thread timer expired",
    "Set realtime priority",
    "Unable to restart",
    "'lvs_process_name' is deprecated",
    "Keyword '",
    "WARNING - interface",
    "Non-existent interface",
    "pid N exited",
];

struct Run {
    /// The kept lines of each step (start, each reload, stop), sorted.
    steps: Vec<Vec<String>>,
    /// What the test's probe saw after each step but the last.
    probes: Vec<String>,
    /// The daemon's exit code.
    code: Option<i32>,
}

/// A log message as the comparison sees it: a configuration line's place
/// without our column, a child's pid as N.
fn normalize(m: &str) -> String {
    let m = match m.strip_prefix('(').and_then(|r| r.split_once(") ")) {
        Some((place, rest)) if place.contains(": Line ") => {
            let line = place.rsplit_once(": Line ").map_or("", |(_, l)| l);
            let line = line.split(':').next().unwrap_or(line);
            format!("(Line {line}) {rest}")
        }
        _ => m.to_string(),
    };
    match m.strip_prefix("pid ").and_then(|r| r.split_once(' ')) {
        Some((pid, rest)) if pid.bytes().all(|c| c.is_ascii_digit()) => format!("pid N {rest}"),
        _ => m,
    }
}

/// Runs `bin` in a new namespace with `confs[0]`, then for each further
/// configuration writes it, sends SIGHUP to the parent and waits; `probe`
/// is called in the namespace after each step.
fn run(
    tag: &str,
    dir: &Path,
    bin: &str,
    confs: &[&str],
    probe: &dyn Fn(&str, &Path) -> String,
) -> Run {
    let ns = Netns::with_veth(format!("kpr-{tag}"), "pr0", "pr1");
    let ip = |args: &[&str]| {
        let ok = Command::new("ip")
            .args(["-n", &ns.0])
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip {args:?}");
    };
    ip(&["addr", "add", "10.9.9.1/24", "dev", "pr0"]);
    let file = dir.join("k.conf");
    std::fs::write(&file, confs[0]).unwrap();
    let log = dir.join(format!("{tag}.log"));
    let pids = pid_args(dir, tag);
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.0, bin, "-n", "-l", "-D", "-f"])
        .arg(&file)
        .args(&pids)
        // -l writes to stderr
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    // (a daemon that stopped by itself has removed its pid file)
    let parent_pid = || -> Option<nix::unistd::Pid> {
        let text = std::fs::read_to_string(&pids[1]).ok()?;
        Some(nix::unistd::Pid::from_raw(text.trim().parse().ok()?))
    };
    let lines = || -> Vec<String> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(": ").map(|(_, m)| normalize(m)))
            .filter(|m| {
                let msg = m.strip_prefix("(Line ").map_or(m.as_str(), |r| {
                    r.split_once(") ").map_or(r, |(_, rest)| rest)
                });
                KEPT.iter().any(|p| msg.starts_with(p))
            })
            .map(|m| match m.split_once(", pid=") {
                Some((h, _)) => format!("{h}, pid=N"),
                None => m,
            })
            .collect()
    };
    let mut seen = 0;
    let mut steps = Vec::new();
    let mut step = |seen: &mut usize| {
        let all = lines();
        let mut new = all[*seen..].to_vec();
        *seen = all.len();
        new.sort();
        steps.push(new);
    };
    let mut probes = Vec::new();
    std::thread::sleep(Duration::from_millis(2500));
    step(&mut seen);
    probes.push(probe(&ns.0, dir));
    for conf in &confs[1..] {
        std::fs::write(&file, conf).unwrap();
        let pid = parent_pid().expect("parent pid file");
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP);
        std::thread::sleep(Duration::from_millis(3000));
        step(&mut seen);
        probes.push(probe(&ns.0, dir));
    }
    if let Some(pid) = parent_pid() {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
    let code = child.wait().ok().and_then(|s| s.code());
    step(&mut seen);
    probes.push(probe(&ns.0, dir));
    Run {
        steps,
        probes,
        code,
    }
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kv-parent-reload-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn compare(name: &str, confs: &[&str], probe: &dyn Fn(&str, &Path) -> String) -> Run {
    let d = dir(name);
    let theirs = run(&format!("{name}-k"), &d, KEEPALIVED, confs, probe);
    let ours = run(&format!("{name}-o"), &d, OURS, confs, probe);
    for (i, (o, k)) in ours.steps.iter().zip(&theirs.steps).enumerate() {
        assert_eq!(o, k, "{name}: step {i}: ours vs keepalived");
    }
    assert_eq!(ours.probes, theirs.probes, "{name}: probes");
    assert_eq!(ours.code, theirs.code, "{name}: exit code");
    let _ = std::fs::remove_dir_all(&d);
    ours
}

/// The running process whose pid file in `d` ends in `{kind}.pid` (`p`
/// parent, `r` VRRP).
fn live_pid(d: &Path, kind: &str) -> Option<i32> {
    std::fs::read_dir(d)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .ends_with(&format!("{kind}.pid"))
        })
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| t.trim().parse::<i32>().ok())
        .find(|p| Path::new(&format!("/proc/{p}")).exists())
}

fn nothing(_: &str, _: &Path) -> String {
    String::new()
}

#[test]
fn refused_settings_cancel_the_reload() {
    if !require_netns_oracle("refused_settings_cancel_the_reload") {
        return;
    }
    let start = instance("", "");
    let refused = format!(
        "instance other\nnet_namespace_ipvs elsewhere\n{}",
        instance(
            "  nftables kv2\n  nftables_ipvs\n  tmp_config_directory /tmp\n  disable_local_igmp\n",
            "  priority 120\n"
        )
    );
    let fine = instance("", "  priority 110\n");
    let ours = compare("refused", &[&start, &refused, &fine], &nothing);
    let refused_step = &ours.steps[1];
    assert!(
        refused_step
            .iter()
            .any(|l| l.starts_with("Cannot change instance name")),
        "{refused_step:?}"
    );
    // the children were not told
    assert!(!refused_step.contains(&"Reloading".to_string()));
    assert!(ours.steps[2].contains(&"Reload complete".to_string()));
}

#[test]
fn reload_check_config_gates_the_reload() {
    if !require_netns_oracle("reload_check_config_gates_the_reload") {
        return;
    }
    // each daemon gets its own directory's files, named alike
    let probe = |_: &str, d: &Path| {
        let log = std::fs::read_to_string(d.join("check.log")).unwrap_or_default();
        let flagged = log.contains("Unknown keyword 'bogus_word'");
        format!(
            "reload file there: {}, check log names the error: {flagged}",
            d.join("reload").exists()
        )
    };
    let d = dir("check");
    let globals = format!(
        "  reload_check_config {}\n  reload_file {}\n",
        d.join("check.log").display(),
        d.join("reload").display()
    );
    let start = instance(&globals, "");
    let broken = instance(&globals, "  bogus_word 1\n");
    let fine = instance(&globals, "  priority 110\n");
    let confs = [start.as_str(), &broken, &fine];
    let mut runs = Vec::new();
    for (bin, tag) in [(KEEPALIVED, "check-k"), (OURS, "check-o")] {
        // a reload file left behind goes at start
        std::fs::write(d.join("reload"), "").unwrap();
        let _ = std::fs::remove_file(d.join("check.log"));
        runs.push(run(tag, &d, bin, &confs, &probe));
    }
    let (theirs, ours) = (&runs[0], &runs[1]);
    for (i, (o, k)) in ours.steps.iter().zip(&theirs.steps).enumerate() {
        assert_eq!(o, k, "check: step {i}: ours vs keepalived");
    }
    assert_eq!(ours.probes, theirs.probes);
    assert!(ours.steps[1].iter().any(|l| l.starts_with(&format!(
        "New config failed validation, see {}",
        d.join("check.log").display()
    ))));
    assert!(ours.steps[2].contains(&"Reload complete".to_string()));
    let _ = std::fs::remove_dir_all(&d);
}

/// keepalived's deprecation notices: the parent's at start and reload, the
/// VRRP child's at reload (children read the global settings only then).
#[test]
fn deprecated_keywords_logged_as_keepalived() {
    if !require_netns_oracle("deprecated_keywords_logged_as_keepalived") {
        return;
    }
    let globals = "  lvs_process_name lvs\n  vrrp_rlimit_rtime 100000\n  checker_rlimit_rtime 100000\n  bfd_rlimit_rtime 100000\n";
    let start = instance(globals, "");
    let reload = instance(globals, "  priority 110\n");
    let ours = compare("deprecated", &[&start, &reload], &nothing);
    let notice = "'lvs_process_name' is deprecated - please use 'checker_process_name'";
    let count = |step: &[String]| step.iter().filter(|l| *l == notice).count();
    assert_eq!(count(&ours.steps[0]), 1, "{:?}", ours.steps[0]);
    assert_eq!(count(&ours.steps[1]), 2, "{:?}", ours.steps[1]);
}

/// The VRRP process names the missing interface at its line and stops
/// with CONFIG; the parent then reports the child by its pid, logs no
/// "Startup complete", and exits with the child's code (2).
#[test]
fn missing_interface_stops_as_keepalived() {
    if !require_netns_oracle("missing_interface_stops_as_keepalived") {
        return;
    }
    let conf = instance("", "").replace("interface pr0", "interface nosuch0");
    let ours = compare("noif", &[&conf], &nothing);
    let want = [
        "(Line 5) WARNING - interface nosuch0 for vrrp_instance VI_1 doesn't exist",
        "Non-existent interface specified in configuration",
        "pid N exited with permanent error CONFIG. Terminating",
    ];
    for line in want {
        assert!(
            ours.steps[0].iter().any(|l| l == line),
            "{line}: {:?}",
            ours.steps[0]
        );
    }
    assert_eq!(ours.code, Some(2));
}

#[test]
fn a_child_the_new_file_needs_is_started() {
    if !require_netns_oracle("a_child_the_new_file_needs_is_started") {
        return;
    }
    let empty = "global_defs {\n  router_id t1\n}\n";
    let with_vrrp = instance("", "");
    let ours = compare("newchild", &[empty, &with_vrrp], &nothing);
    assert!(
        ours.steps[1].contains(&"Starting VRRP child process, pid=N".to_string()),
        "{:?}",
        ours.steps[1]
    );
}

#[test]
fn disable_local_igmp_while_running() {
    if !require_netns_oracle("disable_local_igmp_while_running") {
        return;
    }
    let probe = |ns: &str, _: &Path| {
        let cat = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "cat",
                "/proc/sys/net/ipv4/igmp_link_local_mcast_reports",
            ])
            .output()
            .unwrap();
        let rules = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "list", "ruleset"])
            .output()
            .unwrap();
        format!(
            "reports {}rules:\n{}",
            String::from_utf8_lossy(&cat.stdout),
            String::from_utf8_lossy(&rules.stdout)
        )
    };
    // an IPv4 VMAC (no IGMP rules with the option) and an IPv6 one (its
    // MLD rules stay)
    let conf = "global_defs {\n  router_id t1\n  disable_local_igmp\n}\nvrrp_instance VI_1 {\n  interface pr0\n  virtual_router_id 5\n  priority 100\n  use_vmac\n  virtual_ipaddress {\n    192.0.2.1/24\n  }\n}\nvrrp_instance VI_2 {\n  interface pr0\n  virtual_router_id 12\n  priority 100\n  use_vmac\n  virtual_ipaddress {\n    2001:db8::12/64\n  }\n}\n";
    let ours = compare("igmp", &[conf], &probe);
    assert!(
        ours.probes[0].starts_with("reports 0"),
        "{}",
        ours.probes[0]
    );
    assert!(
        ours.probes[1].starts_with("reports 1"),
        "{}",
        ours.probes[1]
    );
    assert!(ours.probes[0].contains("icmpv6"), "{}", ours.probes[0]);
}

#[test]
fn script_lines_at_start_and_reload() {
    if !require_netns_oracle("script_lines_at_start_and_reload") {
        return;
    }
    let track = "vrrp_script chk {\n  script \"/bin/true\"\n  interval 1\n}\n";
    let with_script = format!(
        "{track}{}",
        instance("", "  track_script {\n    chk\n  }\n")
    );
    // the parent's start/shutdown scripts: the child, forked after the
    // parent looked the default user up, does not say it again
    let with_startup = format!(
        "{track}{}",
        instance(
            "  startup_script /bin/true\n  shutdown_script /bin/true\n",
            "  track_script {\n    chk\n  }\n"
        )
    );
    let ours = compare(
        "scripts",
        &[&with_script, &with_script, &with_startup, &instance("", "")],
        &nothing,
    );
    assert!(
        ours.steps[0]
            .iter()
            .any(|l| l.starts_with("SECURITY VIOLATION - scripts")),
        "{:?}",
        ours.steps[0]
    );
}

#[test]
fn reload_time_file_schedules_reloads() {
    if !require_netns_oracle("reload_time_file_schedules_reloads") {
        return;
    }
    let d = dir("timer");
    let timer_dir = d.join("rt");
    std::fs::create_dir_all(&timer_dir).unwrap();
    let file = timer_dir.join("reload-at");
    let conf = instance(&format!("  reload_time_file {}\n", file.display()), "");
    let mut runs = Vec::new();
    for (bin, tag) in [(KEEPALIVED, "timer-k"), (OURS, "timer-o")] {
        let _ = std::fs::remove_file(&file);
        // the times each step writes, and the names they have in the log
        let times = std::cell::RefCell::new(Vec::<(String, String)>::new());
        let write_in = |secs: i64, date: bool| {
            let at = chrono::Local::now() + chrono::Duration::seconds(secs);
            let text = if date {
                at.format("%Y-%m-%d %H:%M:%S").to_string()
            } else {
                at.format("%H:%M:%S").to_string()
            };
            let shown = at.format("%Y-%m-%d %H:%M:%S").to_string();
            let n = times.borrow().len();
            times.borrow_mut().push((shown, format!("T{n}")));
            std::fs::write(&file, format!("{text}\n")).unwrap();
        };
        let step = std::cell::Cell::new(0);
        let probe = |_: &str, _: &Path| {
            let i = step.get();
            step.set(i + 1);
            // after the start: schedule in 30 s, then move it to 3 s with a
            // date (the reload comes, the file goes), then a bad line, a
            // past date, a time of day and its removal
            match i {
                0 => {
                    write_in(30, false);
                    std::thread::sleep(Duration::from_millis(500));
                    write_in(3, true);
                    std::thread::sleep(Duration::from_millis(4500));
                    let gone = !file.exists();
                    std::fs::write(&file, "bogus\n").unwrap();
                    std::thread::sleep(Duration::from_millis(500));
                    std::fs::write(&file, "2020-01-01 00:00:00\n").unwrap();
                    std::thread::sleep(Duration::from_millis(500));
                    write_in(600, false);
                    std::thread::sleep(Duration::from_millis(500));
                    std::fs::remove_file(&file).unwrap();
                    std::thread::sleep(Duration::from_millis(500));
                    format!("file removed by the reload: {gone}")
                }
                _ => String::new(),
            }
        };
        let mut r = run(tag, &d, bin, &[&conf], &probe);
        // the times differ between the runs: named by their order
        for s in &mut r.steps {
            for l in s.iter_mut() {
                for (shown, name) in times.borrow().iter() {
                    *l = l.replace(shown.as_str(), name);
                }
            }
            s.sort();
        }
        runs.push(r);
    }
    let (theirs, ours) = (&runs[0], &runs[1]);
    assert_eq!(ours.probes, theirs.probes);
    assert_eq!(ours.probes[0], "file removed by the reload: true");
    assert_eq!(ours.steps, theirs.steps, "ours vs keepalived");
    assert!(
        ours.steps[1].contains(&"Reload complete".to_string()),
        "{:?}",
        ours.steps
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn process_settings_as_keepalived() {
    if !require_netns_oracle("process_settings_as_keepalived") {
        return;
    }
    // each process's name, scheduler, real-time priority, nice value,
    // CPUs, real-time CPU limit and whether it is locked in memory
    let probe = |_: &str, d: &Path| {
        let mut out = String::new();
        for kind in ["p", "r"] {
            let Some(pid) = live_pid(d, kind) else {
                out.push_str(&format!("{kind}: not running\n"));
                continue;
            };
            let ps = Command::new("ps")
                .args(["-o", "comm=,cls=,rtprio=,ni=", "-p", &pid.to_string()])
                .output()
                .unwrap();
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let field = |name: &str| {
                status
                    .lines()
                    .find(|l| l.starts_with(name))
                    .map(|l| l[name.len()..].trim().to_string())
                    .unwrap_or_default()
            };
            let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
            let rttime = limits
                .lines()
                .find(|l| l.starts_with("Max realtime timeout"))
                .map(|l| {
                    l.split_whitespace()
                        .skip(3)
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let locked = field("VmLck:") != "0 kB";
            out.push_str(&format!(
                "{kind}: {} cpus {} rttime {rttime} locked {locked}\n",
                String::from_utf8_lossy(&ps.stdout)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
                field("Cpus_allowed_list:"),
            ));
        }
        out
    };
    let tuned = instance(
        "  process_name kpar\n  vrrp_process_name kvrrp\n  vrrp_rt_priority 50\n  vrrp_no_swap\n  vrrp_cpu_affinity 1\n  vrrp_rlimit_rttime 20000\n",
        "",
    );
    // a reload to a nice value instead: real-time off, the name back
    let nice = instance("  vrrp_priority -5\n", "");
    let d = dir("sched");
    // keepalived 2.2.7 sets RLIMIT_RTTIME to 0 at a reload, cannot raise it
    // again ("child process cannot set realtime rlimit") and its real-time
    // VRRP process is killed and respawned: compared at start only
    let theirs = run("sched-k", &d, KEEPALIVED, &[&tuned], &probe);
    let ours = run("sched-o", &d, OURS, &[&tuned, &tuned, &nice], &probe);
    assert_eq!(ours.steps[0], theirs.steps[0]);
    assert_eq!(ours.probes[0], theirs.probes[0]);
    assert!(
        ours.probes[0].contains("r: kvrrp RR 50 - cpus 1 rttime 10000 20000 locked true"),
        "{}",
        ours.probes[0]
    );
    assert!(
        ours.probes[0].starts_with("p: kpar TS"),
        "{}",
        ours.probes[0]
    );
    // the same after a reload, and no child died
    assert_eq!(ours.probes[1], ours.probes[0]);
    assert!(!ours.steps[1].iter().any(|l| l.starts_with("Starting VRRP")));
    // then the normal scheduler with a nice value, and the default names
    // (keepalived leaves the CPUs as they were: so do we)
    assert!(
        ours.probes[2].contains("r: keepalived TS - -5 cpus 1 ")
            && ours.probes[2].contains("locked false"),
        "{}",
        ours.probes[2]
    );
    assert!(
        ours.probes[2].starts_with("p: keepalived TS"),
        "{}",
        ours.probes[2]
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn late_timers_raise_priority_as_keepalived() {
    if !require_netns_oracle("late_timers_raise_priority_as_keepalived") {
        return;
    }
    // the VRRP process, MASTER, held (SIGSTOP) for 2 s: its timer fires late,
    // which keepalived logs, then it goes real-time at priority 1
    let probe = |_: &str, d: &Path| {
        let Some(pid) = live_pid(d, "r") else {
            return "not running".to_owned();
        };
        let p = nix::unistd::Pid::from_raw(pid);
        // MASTER first: an advert is due each second
        std::thread::sleep(Duration::from_millis(2000));
        let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGSTOP);
        std::thread::sleep(Duration::from_millis(2000));
        let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGCONT);
        std::thread::sleep(Duration::from_millis(1000));
        let ps = Command::new("ps")
            .args(["-o", "cls=,rtprio=", "-p", &pid.to_string()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&ps.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let conf = instance(
        "  max_auto_priority 5\n  min_auto_priority_delay 500000\n",
        "",
    );
    let d = dir("late");
    let theirs = run("late-k", &d, KEEPALIVED, &[&conf], &probe);
    let ours = run("late-o", &d, OURS, &[&conf], &probe);
    // how late depends on the run: the seconds are masked
    let masked = |r: &Run| -> Vec<String> {
        r.steps[1]
            .iter()
            .map(|l| match l.strip_prefix("A thread timer expired ") {
                Some(_) => "A thread timer expired S seconds ago".to_owned(),
                None => l.clone(),
            })
            .collect()
    };
    assert_eq!(ours.probes[0], theirs.probes[0]);
    assert_eq!(ours.probes[0], "RR 1");
    assert_eq!(masked(&ours), masked(&theirs));
    assert!(
        ours.steps[1].contains(&"Set realtime priority 1".to_owned()),
        "{:?}",
        ours.steps
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// An upgrade replaces the binary while the daemon runs: a VRRP process
/// that dies is respawned from the new file (keepalived forks its
/// children; ours are executed again, from the path, not the deleted
/// file). Ours only.
#[test]
fn respawn_after_the_binary_is_replaced() {
    if !require_netns_oracle("respawn_after_the_binary_is_replaced") {
        return;
    }
    let d = dir("upgrade");
    let bin = d.join("keepalived-copy");
    std::fs::copy(OURS, &bin).unwrap();
    let probe = |_: &str, d: &Path| {
        let Some(old) = live_pid(d, "r") else {
            return "not running".to_owned();
        };
        std::fs::remove_file(&bin).unwrap();
        std::fs::copy(OURS, &bin).unwrap();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(old),
            nix::sys::signal::Signal::SIGKILL,
        );
        std::thread::sleep(Duration::from_millis(2500));
        match live_pid(d, "r") {
            Some(new) if new != old => "respawned".to_owned(),
            other => format!("not respawned: {other:?}"),
        }
    };
    let r = run(
        "upgrade-o",
        &d,
        bin.to_str().unwrap(),
        &[&instance("", "")],
        &probe,
    );
    assert_eq!(r.probes[0], "respawned", "{:?}", r.steps);
    let _ = std::fs::remove_dir_all(&d);
}
