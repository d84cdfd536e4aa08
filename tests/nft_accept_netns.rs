//! Differential test against Debian's keepalived 2.2.7 (tier 2: root,
//! netns): the nftables drop rules of masters without accept mode (strict
//! mode, `no_accept`). For each configuration both daemons run alone in
//! the test's namespace; `nft list ruleset` must be the same as BACKUP,
//! as MASTER and after the stop, and the VRRP process's log must have the
//! same lines (order aside: the parent's interleave by scheduling).

mod oracle_common;
use oracle_common::{Netns, require, require_netns_oracle};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Strict mode: an IPv4 master with an IPv6 eVIP.
const STRICT: &str = "global_defs {\n  vrrp_strict\n}\nvrrp_instance VI_1 {\n  interface nfd0\n  virtual_router_id 5\n  priority 100\n  virtual_ipaddress {\n    192.0.2.1/24\n    192.0.2.50/24\n  }\n  virtual_ipaddress_excluded {\n    2001:db8::5/64\n  }\n}\n";

/// no_accept on IPv6 with link-local VIPs, by index and (with
/// dont_track_primary) by name, an IPv4 eVIP, and an owner, which never
/// drops.
const NO_ACCEPT: &str = "vrrp_instance VI_6 {\n  interface nfd0\n  virtual_router_id 6\n  priority 100\n  no_accept\n  virtual_ipaddress {\n    fe80::99/64\n    2001:db8::9/64\n  }\n}\nvrrp_instance VI_7 {\n  interface nfd0\n  virtual_router_id 7\n  priority 100\n  no_accept\n  dont_track_primary\n  virtual_ipaddress {\n    fe80::77/64\n  }\n  virtual_ipaddress_excluded {\n    198.51.100.7/24\n  }\n}\nvrrp_instance VI_8 {\n  interface nfd0\n  virtual_router_id 8\n  priority 255\n  no_accept\n  virtual_ipaddress {\n    192.0.2.88/24\n  }\n}\n";

/// The `nftables*` keywords: table name, chain priority, counters, and
/// link-local VIPs by index despite dont_track_primary.
const KEYWORDS: &str = "global_defs {\n  nftables kavip\n  nftables_priority 10\n  nftables_counters\n  nftables_ifindex\n}\nvrrp_instance VI_7 {\n  interface nfd0\n  virtual_router_id 7\n  priority 100\n  no_accept\n  dont_track_primary\n  virtual_ipaddress {\n    fe80::77/64\n    192.0.2.77/24\n  }\n}\n";

/// VMACs (accept mode): keepalived's IGMP / MLD and router solicitation
/// rules, which send those from the base interface.
const VMAC: &str = "vrrp_instance VI_1 {\n  interface nfd0\n  virtual_router_id 5\n  priority 100\n  use_vmac\n  virtual_ipaddress {\n    192.0.2.1/24\n  }\n}\nvrrp_instance VI_2 {\n  interface nfd0\n  virtual_router_id 12\n  priority 100\n  use_vmac\n  virtual_ipaddress {\n    fe80::12/64\n    2001:db8::12/64\n  }\n}\n";

/// Accept mode (the default out of strict mode): no table at all.
const ACCEPT: &str = "vrrp_instance VI_9 {\n  interface nfd0\n  virtual_router_id 9\n  priority 100\n  virtual_ipaddress {\n    192.0.2.99/24\n  }\n}\n";

struct Phases {
    backup: String,
    master: String,
    after: String,
    log: Vec<String>,
}

fn nft(ns: &str, args: &[&str]) -> String {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "nft"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // counters count whatever crossed them (neighbour discovery): masked
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| match l.find("counter packets") {
            Some(i) => {
                let verdict = l[i..].split(' ').skip(5).collect::<Vec<_>>().join(" ");
                format!("{}counter {verdict}\n", &l[..i])
            }
            None => format!("{l}\n"),
        })
        .collect()
}

fn run(ns: &str, dir: &Path, bin: &str, conf: &str) -> Phases {
    run_with_reloads(ns, dir, bin, conf, &[]).0
}

/// As [`run`]; after the MASTER snapshot, each configuration of `reloads`
/// is written and signalled (SIGHUP), and the ruleset taken 2 s later.
fn run_with_reloads(
    ns: &str,
    dir: &Path,
    bin: &str,
    conf: &str,
    reloads: &[&str],
) -> (Phases, Vec<String>) {
    nft(ns, &["flush", "ruleset"]);
    let file = dir.join("nf.conf");
    std::fs::write(&file, conf).unwrap();
    let log = dir.join("nf.log");
    let pid = |k: &str| {
        dir.join(format!("nf{k}.pid"))
            .to_string_lossy()
            .into_owned()
    };
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, bin, "-n", "-l", "-P", "-f"])
        .arg(&file)
        .args(["-p", &pid("p"), "-r", &pid("r"), "-c", &pid("c")])
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let backup = nft(ns, &["list", "ruleset"]);
    std::thread::sleep(Duration::from_millis(4800));
    let master = nft(ns, &["list", "ruleset"]);
    let mut reloaded = Vec::new();
    for text in reloads {
        std::fs::write(&file, text).unwrap();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGHUP,
        );
        std::thread::sleep(Duration::from_millis(2000));
        reloaded.push(nft(ns, &["list", "ruleset"]));
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
    let after = nft(ns, &["list", "ruleset"]);
    let mut lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, m)| m.to_string()))
        .filter(|m| {
            ![
                "Starting Keepalived",
                "Stopped Keepalived",
                "Running on",
                "Command line",
                "  ",
            ]
            .iter()
            .any(|p| m.starts_with(p))
        })
        .map(|m| match m.split_once(", pid=") {
            Some((h, _)) => format!("{h}, pid=N"),
            None => m,
        })
        .collect();
    lines.sort();
    (
        Phases {
            backup,
            master,
            after,
            log: lines,
        },
        reloaded,
    )
}

#[test]
fn drop_rules_match_keepalived() {
    const NAME: &str = "nft_accept_netns";
    if !require_netns_oracle(NAME)
        || !require(
            NAME,
            Command::new("nft")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success()),
            "nft not installed (make test installs nftables)",
        )
    {
        return;
    }
    let ns = Netns::with_veth(format!("nfaccept{}", std::process::id()), "nfd0", "nfd1");
    let ip = |args: &[&str]| {
        assert!(
            Command::new("ip").args(args).status().unwrap().success(),
            "ip {args:?}"
        )
    };
    ip(&["-n", &ns.0, "addr", "add", "192.0.2.2/24", "dev", "nfd0"]);
    let dir = std::env::temp_dir().join(format!("nfaccept{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ours = env!("CARGO_BIN_EXE_keepalived");
    let mut failures = Vec::new();
    for (name, conf) in [
        ("strict", STRICT),
        ("no_accept", NO_ACCEPT),
        ("keywords", KEYWORDS),
        ("vmac", VMAC),
        ("accept", ACCEPT),
    ] {
        let k = run(&ns.0, &dir, "/usr/sbin/keepalived", conf);
        let u = run(&ns.0, &dir, ours, conf);
        if name != "accept" {
            assert!(
                k.master.contains("drop") || k.backup.contains("vmac_map"),
                "{name}: keepalived set no drop rule:\n{}",
                k.master
            );
        }
        for (phase, a, b) in [
            ("BACKUP", &k.backup, &u.backup),
            ("MASTER", &k.master, &u.master),
            ("after stop", &k.after, &u.after),
        ] {
            if a != b {
                failures.push(format!(
                    "{name} {phase}:\n--- keepalived\n{a}\n--- ours\n{b}"
                ));
            }
        }
        if k.log != u.log {
            failures.push(format!(
                "{name} log:\n--- keepalived\n{:#?}\n--- ours\n{:#?}",
                k.log, u.log
            ));
        }
    }

    // Reloads: an instance removed takes its VIP out of the set, as with
    // keepalived. Then no_accept → accept: ours empties the set and deletes
    // the tables at stop; keepalived 2.2.7 keeps the element and leaves its
    // tables behind after the stop (the new configuration no longer names
    // nftables, so its exit skips the cleanup): VIP traffic stays dropped
    // with no keepalived running. Ours must not do that.
    let two = "vrrp_instance VI_6 {\n  interface nfd0\n  virtual_router_id 6\n  priority 100\n  no_accept\n  virtual_ipaddress {\n    192.0.2.66/24\n  }\n}\n";
    let both = format!(
        "{two}vrrp_instance VI_5 {{\n  interface nfd0\n  virtual_router_id 7\n  priority 100\n  no_accept\n  virtual_ipaddress {{\n    192.0.2.55/24\n  }}\n}}\n"
    );
    let accept = two.replace("no_accept", "accept");
    let (k, kr) = run_with_reloads(&ns.0, &dir, "/usr/sbin/keepalived", &both, &[two]);
    let (u, ur) = run_with_reloads(&ns.0, &dir, ours, &both, &[two, &accept]);
    assert!(k.master.contains("192.0.2.55, 192.0.2.66"), "{}", k.master);
    if k.master != u.master || kr[0] != ur[0] {
        failures.push(format!(
            "reload: keepalived\n{}\n{}\nours\n{}\n{}",
            k.master, kr[0], u.master, ur[0]
        ));
    }
    assert!(
        ur[0].contains("elements = { 192.0.2.66 }"),
        "the removed instance's VIP left the set: {}",
        ur[0]
    );
    assert!(
        !ur[1].contains("elements"),
        "accept mode after the reload: the set is empty\n{}",
        ur[1]
    );
    assert_eq!(u.after, "", "tables deleted at stop");

    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
