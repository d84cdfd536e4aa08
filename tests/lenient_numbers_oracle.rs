//! Differential test against Debian's keepalived 2.2.7 (tier 2: root,
//! netns): keepalived's handlers that read a number with `ignore_error`
//! take the leading digits of a malformed one when running ("WARNING -
//! invalid number '2.5'", then 2) but reject it under `-t`.
//!
//! For each (block, keyword, malformed value) of `CASES`, one
//! configuration, run by both binaries in one network namespace:
//! - `-t`: the same exit code and the same messages on the keyword's line;
//! - running (`-n -l -D`, a few seconds): the same messages logged for
//!   that line (keepalived's must not be empty: the case would prove
//!   nothing);
//! - for the vrrp_script case, the value used, from SIGUSR1's
//!   keepalived.data (written to each daemon's own `$TMPDIR`).
//!
//! Checker (IPVS) keywords: this kernel has no IPVS, so keepalived's
//! checker process stops before it reads them and only `-t` is compared.

mod oracle_common;
use oracle_common::{Netns, pid_args, require_netns_oracle};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// An instance that lets the VRRP process run in the namespace.
const INSTANCE: &str = "vrrp_instance lnVI {\nstate BACKUP\ninterface lnd0\nvirtual_router_id 51\npriority 100\nvirtual_ipaddress {\n192.0.2.1/32\n}\n";
const RS: &str = "virtual_server 192.0.2.9 80 {\nreal_server 192.0.2.10 80 {\n";

/// (lines that open the block, keyword and value, compared when running).
const CASES: &[(&str, &str, bool)] = &[
    (
        "vrrp_script lns {\nscript /bin/true\n",
        "interval 2.5",
        true,
    ),
    (
        "vrrp_script lns {\nscript /bin/true\n",
        "interval 0x10",
        true,
    ),
    (
        "vrrp_script lns {\nscript /bin/true\n",
        "interval abc",
        true,
    ),
    ("vrrp_script lns {\nscript /bin/true\n", "interval -3", true),
    ("vrrp_script lns {\nscript /bin/true\n", "weight 7x", true),
    ("vrrp_script lns {\nscript /bin/true\n", "weight -9.5", true),
    ("vrrp_script lns {\nscript /bin/true\n", "weight 300x", true),
    ("vrrp_script lns {\nscript /bin/true\n", "weight 300", true),
    ("vrrp_script lns {\nscript /bin/true\n", "rise 3.", true),
    ("vrrp_script lns {\nscript /bin/true\n", "fall 0x5", true),
    ("INSTANCE", "advert_int 2x", true),
    ("INSTANCE", "advert_int 1.5x", true),
    ("INSTANCE", "advert_int 300", true),
    ("INSTANCE", "preempt_delay 7.1234567z", true),
    ("INSTANCE", "preempt_delay 7.5x", true),
    ("INSTANCE", "garp_master_delay 2.5", true),
    ("INSTANCE", "garp_master_repeat 3x", true),
    ("INSTANCE", "garp_master_refresh 4.", true),
    ("INSTANCE", "garp_master_refresh_repeat 5y", true),
    ("INSTANCE", "garp_lower_prio_delay 6z", true),
    ("INSTANCE", "garp_lower_prio_repeat 7z", true),
    ("INSTANCE", "down_timer_adverts 8.5", true),
    ("INSTANCE", "down_timer_adverts 500x", true),
    ("INSTANCE", "version 3x", true),
    ("global_defs {\n", "vrrp_garp_interval 0.5x", true),
    ("global_defs {\n", "vrrp_gna_interval 2y", true),
    ("global_defs {\n", "vrrp_startup_delay 3y", true),
    ("global_defs {\n", "vrrp_version 2x", true),
    ("global_defs {\n", "vrrp_garp_master_repeat 4x", true),
    ("global_defs {\n", "vrrp_garp_master_refresh 5x", true),
    ("global_defs {\n", "vrrp_down_timer_adverts 9x", true),
    ("global_defs {\n", "startup_script_timeout 5x", true),
    ("global_defs {\n", "max_auto_priority 2.5", true),
    ("global_defs {\n", "max_auto_priority 200", true),
    ("global_defs {\n", "max_auto_priority abc", true),
    ("global_defs {\n", "max_auto_priority -2", true),
    (
        "vrrp_track_process lnp {\nprocess lnnothing\n",
        "weight 9x",
        true,
    ),
    (
        "vrrp_track_process lnp {\nprocess lnnothing\n",
        "quorum 2x",
        true,
    ),
    (
        "vrrp_track_process lnp {\nprocess lnnothing\n",
        "quorum_max 3x",
        true,
    ),
    (
        "track_file lnf {\nfile /nonexistent/lnf\n",
        "weight 4x",
        true,
    ),
    ("virtual_server 192.0.2.9 80 {\n", "quorum 2x", false),
    ("virtual_server 192.0.2.9 80 {\n", "hysteresis 1x", false),
    ("virtual_server 192.0.2.9 80 {\n", "weight 3x", false),
    ("virtual_server 192.0.2.9 80 {\n", "delay_loop 3x", false),
    ("virtual_server 192.0.2.9 80 {\n", "delay_loop 0.5x", false),
    ("RS", "weight 3x", false),
    ("RS", "uthreshold 9x", false),
    ("RS", "lthreshold 9x", false),
    ("RS", "connect_timeout 3x", false),
    ("RS", "delay_before_retry 1.5z", false),
    ("RS TCP_CHECK", "connect_port 80x", false),
    ("RS TCP_CHECK", "bind_port 81x", false),
    ("RS TCP_CHECK", "retry 2x", false),
    ("RS TCP_CHECK", "fwmark 2x", false),
    ("RS TCP_CHECK", "connect_timeout 3x", false),
    ("RS TCP_CHECK", "warmup 3.5x", false),
];

/// Keywords whose handler's own message (after the reader's) we do not
/// give yet, under `-t` as at run time: a gap older than this test and
/// not about leniency. For them only the readers' lines ("... number
/// '...'") are compared.
const NO_HANDLER_MESSAGE: &[&str] = &[
    "garp_master_repeat",
    "garp_master_refresh",
    "garp_master_refresh_repeat",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "down_timer_adverts",
    "vrrp_startup_delay",
    "vrrp_version",
    "vrrp_garp_master_repeat",
    "vrrp_garp_master_refresh",
    "vrrp_down_timer_adverts",
    "startup_script_timeout",
    "weight",
    "quorum",
    "quorum_max",
    "hysteresis",
    "uthreshold",
    "lthreshold",
    "bind_port",
    "retry",
    "fwmark",
];

fn config(pre: &str, kw: &str) -> (String, u64) {
    let pre = match pre {
        "INSTANCE" => INSTANCE.to_string(),
        "RS" => RS.to_string(),
        "RS TCP_CHECK" => format!("{RS}TCP_CHECK {{\n"),
        p => p.to_string(),
    };
    let line = pre.lines().count() as u64 + 1;
    let depth = pre.matches('{').count() - pre.matches('}').count();
    let mut text = format!("{pre}{kw}\n{}", "}\n".repeat(depth));
    if !pre.starts_with("vrrp_instance") && !pre.starts_with("virtual_server") {
        // Something for the VRRP process to run, after the line tested.
        text.push_str(INSTANCE);
        text.push_str("}\n");
    }
    (text, line)
}

/// `(FILE: Line N) message` or `(Line N) message` (also after a log time
/// stamp) as (N, message); only lines with a location.
fn located(out: &str) -> BTreeSet<(u64, String)> {
    out.lines()
        .filter_map(|l| {
            let i = l.find("Line ")?;
            let close = i + l[i..].find(") ")?;
            let n = l[i + 5..close].split(':').next()?.parse().ok()?;
            Some((n, l[close + 2..].to_string()))
        })
        .collect()
}

fn at(set: &BTreeSet<(u64, String)>, line: u64, readers_only: bool) -> BTreeSet<String> {
    set.iter()
        .filter(|(l, m)| *l == line && (!readers_only || m.contains("number '")))
        .map(|(_, m)| m.clone())
        .collect()
}

struct Run<'a> {
    ns: &'a str,
    dir: &'a Path,
}

impl Run<'_> {
    fn pids(&self, tag: &str) -> Vec<String> {
        pid_args(self.dir, &format!("ln{tag}"))
    }

    fn test(&self, bin: &str, tag: &str, conf: &Path) -> (Option<i32>, String) {
        let o = Command::new("timeout")
            .args(["10", "ip", "netns", "exec", self.ns, bin, "-t", "-f"])
            .arg(conf)
            .args(self.pids(tag))
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// Runs the daemon for a moment; with `dump`, SIGUSR1 first and the
    /// keepalived.data it wrote is returned too.
    fn run(&self, bin: &str, tag: &str, conf: &Path, dump: bool, secs: u32) -> (String, String) {
        let tmp = self.dir.join(format!("lntmp{tag}"));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let log = self.dir.join(format!("ln{tag}.log"));
        let child = Command::new("timeout")
            .args([
                "-s",
                "TERM",
                &secs.to_string(),
                "ip",
                "netns",
                "exec",
                self.ns,
                bin,
                "-n",
                "-l",
                "-D",
                "-f",
            ])
            .arg(conf)
            .args(self.pids(tag))
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(self.dir.join(format!("ln{tag}.err"))).unwrap())
            .spawn()
            .unwrap();
        let mut child = child;
        let data_path = tmp.join("keepalived.data");
        let mut data = String::new();
        if dump {
            let pidf = self.dir.join(format!("ln{tag}p.pid"));
            let mut sent = false;
            for _ in 0..40 {
                std::thread::sleep(Duration::from_millis(100));
                if let Ok(p) = std::fs::read_to_string(&pidf)
                    && let Ok(p) = p.trim().parse::<i32>()
                    && !sent
                {
                    // Let the VRRP child read its configuration first.
                    std::thread::sleep(Duration::from_millis(1500));
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(p),
                        nix::sys::signal::Signal::SIGUSR1,
                    );
                    sent = true;
                }
                if sent && std::fs::metadata(&data_path).is_ok_and(|m| m.len() > 0) {
                    std::thread::sleep(Duration::from_millis(300));
                    data = std::fs::read_to_string(&data_path).unwrap_or_default();
                    break;
                }
            }
        }
        let _ = child.wait();
        let mut out = std::fs::read_to_string(&log).unwrap_or_default();
        out += &std::fs::read_to_string(self.dir.join(format!("ln{tag}.err"))).unwrap_or_default();
        (out, data)
    }
}

#[test]
fn malformed_numbers_match_keepalived_at_run_time_and_under_test() {
    if !require_netns_oracle("lenient_numbers_oracle") {
        return;
    }
    let ns = Netns::with_veth(format!("lnlenient{}", std::process::id()), "lnd0", "lnd1");
    let dir = std::env::temp_dir().join(format!("lnlenient{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("ln.conf");
    let ours = env!("CARGO_BIN_EXE_keepalived");
    let r = Run {
        ns: &ns.0,
        dir: &dir,
    };

    let mut failures = Vec::new();
    for &(pre, kw, running) in CASES {
        let (text, line) = config(pre, kw);
        let name = kw.split(' ').next().unwrap();
        // vrrp_script's weight has its handler message.
        let ro = NO_HANDLER_MESSAGE.contains(&name) && !pre.starts_with("vrrp_script");
        std::fs::write(&conf, &text).unwrap();
        let (krc, kout) = r.test("/usr/sbin/keepalived", "k", &conf);
        let (urc, uout) = r.test(ours, "u", &conf);
        let (k, u) = (at(&located(&kout), line, ro), at(&located(&uout), line, ro));
        if krc != urc || k != u || k.is_empty() {
            failures.push(format!(
                "-t `{kw}`: exit keepalived={krc:?} ours={urc:?}\n    keepalived: {k:?}\n    ours: {u:?}"
            ));
        }
        if !running {
            continue;
        }
        let (kout, _) = r.run("/usr/sbin/keepalived", "k", &conf, false, 2);
        let (uout, _) = r.run(ours, "u", &conf, false, 2);
        let (k, u) = (at(&located(&kout), line, ro), at(&located(&uout), line, ro));
        if k != u || k.is_empty() {
            failures.push(format!(
                "running `{kw}`:\n    keepalived: {k:?}\n    ours: {u:?}"
            ));
        }
    }

    // The value used: vrrp_script's section of keepalived.data.
    let text = format!(
        "global_defs {{\nscript_user root\nenable_script_security\n}}\nvrrp_script lns {{\nscript /bin/true\ninterval 2.5\nweight 7x\nrise 3.\nfall 0x5\n}}\n{INSTANCE}track_script {{\nlns\n}}\n}}\n"
    );
    std::fs::write(&conf, &text).unwrap();
    let script_lines = |data: &str| -> Vec<String> {
        data.lines()
            .skip_while(|l| !l.contains("VRRP Script = lns"))
            .take_while(|l| !l.trim().is_empty() && !l.starts_with("------"))
            .filter(|l| {
                ["Interval", "Weight", "Rise", "Fall"]
                    .iter()
                    .any(|k| l.trim_start().starts_with(k))
            })
            .map(str::to_string)
            .collect()
    };
    let (klog, kdata) = r.run("/usr/sbin/keepalived", "k", &conf, true, 6);
    let (ulog, udata) = r.run(ours, "u", &conf, true, 6);
    let (k, u) = (script_lines(&kdata), script_lines(&udata));
    if k.is_empty() || k != u {
        failures.push(format!(
            "keepalived.data vrrp_script values:\n    keepalived: {k:?}\n    ours: {u:?}\n--- keepalived log\n{klog}\n--- our log\n{ulog}"
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
