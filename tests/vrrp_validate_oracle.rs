//! Differential test against Debian's keepalived 2.2.7 (tier 2: root,
//! netns): the checks keepalived makes when it completes a `vrrp_instance`
//! (strict mode's rules, the VMAC flags, unicast with a VMAC or a TTL), as
//! `keepalived -t` reports them, and the values they leave, as SIGUSR1's
//! keepalived.data shows them.
//!
//! Each case is one configuration with one instance on a veth of the
//! test's own namespace:
//! - `-t`: the same exit code and the same messages in the same order,
//!   locations reduced to keepalived's `(Line N)` (keepalived gives none
//!   for the checks made after the parse; ours name the instance's line,
//!   so those are compared without it);
//! - with `dump`, both daemons run for a moment as BACKUP and the
//!   instance's settings in keepalived.data are compared line by line.

mod oracle_common;
use oracle_common::{Netns, pid_args, require_netns_oracle};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// (global_defs body, instance lines, first VIP, compare keepalived.data).
const CASES: &[(&str, &str, &str, bool)] = &[
    // a second `interface`: the loopback is refused and the first one
    // forgotten; a name too long is refused and the first one kept
    ("", "priority 100\ninterface lo", "192.0.2.1", false),
    (
        "",
        "priority 100\ninterface abcdefghijklmnopq",
        "192.0.2.1",
        false,
    ),
    (
        "vrrp_strict",
        "state MASTER\npriority 100",
        "192.0.2.1",
        true,
    ),
    (
        "vrrp_strict",
        "state BACKUP\npriority 255",
        "192.0.2.1",
        false,
    ),
    (
        "vrrp_strict",
        "priority 100\nuse_vmac vm1 02:00:5e:00:01:05",
        "192.0.2.1",
        false,
    ),
    (
        "vrrp_strict",
        "priority 100\ndown_timer_adverts 5",
        "192.0.2.1",
        true,
    ),
    (
        "vrrp_strict\nvrrp_down_timer_adverts 5",
        "priority 100",
        "192.0.2.1",
        false,
    ),
    ("vrrp_strict", "priority 100\naccept", "192.0.2.1", true),
    (
        "vrrp_strict\nvrrp_version 3",
        "priority 100\naccept",
        "192.0.2.1",
        false,
    ),
    (
        "",
        "priority 100\nmcast_dst_ip 224.0.0.19\nunicast_peer {\n192.0.2.7\n}",
        "192.0.2.1",
        false,
    ),
    (
        "vrrp_strict",
        "priority 100\ngarp_lower_prio_repeat 2\ngarp_lower_prio_delay 3\nlower_prio_no_advert false\nhigher_prio_send_advert true",
        "192.0.2.1",
        true,
    ),
    // strict mode's values win over the global ones, silently
    (
        "vrrp_strict\nvrrp_garp_lower_prio_repeat 2\nvrrp_garp_lower_prio_delay 4\nvrrp_higher_prio_send_advert true\nvrrp_lower_prio_no_advert false",
        "priority 100",
        "192.0.2.1",
        true,
    ),
    ("", "priority 100\nvmac_xmit_base", "192.0.2.1", true),
    (
        "vrrp_strict",
        "priority 100\nuse_vmac\nvmac_xmit_base",
        "192.0.2.1",
        false,
    ),
    (
        "",
        "priority 100\nuse_vmac\npromote_secondaries",
        "192.0.2.1",
        false,
    ),
    (
        "",
        "priority 100\nuse_vmac\nunicast_peer {\n192.0.2.7\n}",
        "192.0.2.1",
        false,
    ),
    ("", "priority 100\nuse_vmac_addr", "192.0.2.1", true),
    ("vrrp_strict", "priority 100", "2001:db8::1", false),
    ("vrrp_strict", "priority 100", "fe80::1", false),
    ("", "priority 100\nunicast_ttl 5", "192.0.2.1", false),
    // an owner keeps accept mode in strict mode
    ("vrrp_strict", "priority 255", "192.0.2.1", true),
    (
        "vrrp_strict",
        "state MASTER\npriority 100\ndown_timer_adverts 5\naccept\ngarp_lower_prio_repeat 2\nuse_vmac vm1 02:00:5e:00:01:05\nvmac_xmit_base\npromote_secondaries\nauthentication {\nauth_type PASS\nauth_pass x\n}\nnopreempt\nadvert_int 1.5",
        "192.0.2.1",
        false,
    ),
];

fn config(global: &str, body: &str, vip: &str) -> String {
    format!(
        "global_defs {{\n{global}\n}}\nvrrp_instance VI_1 {{\ninterface vod0\nvirtual_router_id 5\n{body}\nvirtual_ipaddress {{\n{vip}\n}}\n}}\n"
    )
}

/// `-t`'s lines with keepalived's location form: `(FILE: Line N:C) m` and
/// `(Line N) m` become `(Line N) m`; a location on a post-parse check
/// (keepalived gives none; ours is the instance's line, `instance`) is
/// dropped.
fn normalized(out: &str, instance: usize) -> Vec<String> {
    let instance = instance.to_string();
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let Some(rest) = l.strip_prefix('(') else {
                return l.to_string();
            };
            let Some((loc, msg)) = rest.split_once(") ") else {
                return l.to_string();
            };
            let Some(i) = loc.find("Line ") else {
                return l.to_string();
            };
            let n = loc[i + 5..].split(':').next().unwrap_or("");
            if n == instance {
                msg.to_string()
            } else {
                format!("(Line {n}) {msg}")
            }
        })
        .collect()
}

/// The instance's settings in keepalived.data: from `VRRP Instance = VI_1`
/// to the next section, without the lines that carry times or counters.
fn instance_section(data: &str) -> Vec<String> {
    let varying = [
        "Last transition",
        "Master down timer",
        "Interface = ",
        "Using src_ip",
        "Master router",
        "Master priority",
        "Master advert interval",
        // not written by us yet (NOTES, issue 4: the partial keepalived.data)
        "Number of config faults",
        "Number of interface and track script faults",
        "Number of track scripts init",
        "Read timeout",
        "fd_in ",
    ];
    data.lines()
        .skip_while(|l| !l.contains("VRRP Instance = VI_1"))
        .take_while(|l| !l.starts_with("---") || l.contains("VRRP Instance"))
        .filter(|l| !varying.iter().any(|v| l.contains(v)))
        .map(str::to_string)
        .collect()
}

struct Lab<'a> {
    ns: &'a str,
    dir: &'a Path,
}

impl Lab<'_> {
    fn pids(&self, tag: &str) -> Vec<String> {
        pid_args(self.dir, &format!("vo{tag}"))
    }

    fn test(
        &self,
        bin: &str,
        tag: &str,
        conf: &Path,
        instance: usize,
    ) -> (Option<i32>, Vec<String>) {
        let o = Command::new("timeout")
            .args(["10", "ip", "netns", "exec", self.ns, bin, "-t", "-f"])
            .arg(conf)
            .args(self.pids(tag))
            .output()
            .unwrap();
        (
            o.status.code(),
            normalized(&String::from_utf8_lossy(&o.stderr), instance),
        )
    }

    /// Runs the daemon (VRRP only) for a moment, asks for its data dump,
    /// and returns the instance's section of it.
    fn data(&self, bin: &str, tag: &str, conf: &Path) -> Vec<String> {
        let tmp = self.dir.join(format!("votmp{tag}"));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", self.ns, bin, "-n", "-l", "-P", "-f"])
            .arg(conf)
            .args(self.pids(tag))
            .env("TMPDIR", &tmp)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let vrrp_pid = self.dir.join(format!("vo{tag}r.pid"));
        let file = tmp.join("keepalived.data");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline && !file.exists() {
            std::thread::sleep(Duration::from_millis(300));
            if let Some(pid) = std::fs::read_to_string(&vrrp_pid)
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGUSR1,
                );
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = child.wait();
        instance_section(&std::fs::read_to_string(&file).unwrap_or_default())
    }
}

#[test]
fn instance_checks_match_keepalived() {
    const NAME: &str = "vrrp_validate_oracle";
    if !require_netns_oracle(NAME) {
        return;
    }
    let ns = Netns::with_veth(format!("vovalid{}", std::process::id()), "vod0", "vod1");
    let dir = std::env::temp_dir().join(format!("vovalid{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("vo.conf");
    let lab = Lab {
        ns: &ns.0,
        dir: &dir,
    };
    let ours = env!("CARGO_BIN_EXE_keepalived");
    let mut failures = Vec::new();
    let mut said = 0;
    for (global, body, vip, dump) in CASES {
        std::fs::write(&conf, config(global, body, vip)).unwrap();
        // global_defs {, its lines, }: the instance opens on the next
        let instance = global.lines().count() + 3 + usize::from(global.is_empty());
        let (krc, k) = lab.test("/usr/sbin/keepalived", "k", &conf, instance);
        let (urc, u) = lab.test(ours, "u", &conf, instance);
        said += usize::from(!k.is_empty());
        if krc != urc || k != u {
            failures.push(format!(
                "-t [{global}] [{body}] {vip}: exit keepalived={krc:?} ours={urc:?}\n    keepalived: {k:?}\n    ours:       {u:?}"
            ));
        }
        if *dump {
            let k = lab.data("/usr/sbin/keepalived", "k", &conf);
            let u = lab.data(ours, "u", &conf);
            if k.is_empty() || k != u {
                failures.push(format!(
                    "keepalived.data [{global}] [{body}]:\n    keepalived: {k:#?}\n    ours:       {u:#?}"
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    // most cases are about a message: a keepalived that said nothing would
    // make them prove nothing
    assert!(
        said >= CASES.len() - 5,
        "keepalived said nothing in {} cases",
        CASES.len() - said
    );
    assert!(
        failures.is_empty(),
        "{} differences from keepalived:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
