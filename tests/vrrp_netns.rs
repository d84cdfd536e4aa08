//! VRRP between real daemons in network namespaces: ours with ours, ours
//! with Debian's keepalived 2.2.7 in both roles, and the failure scenarios.
//! Each test builds its own bridge topology (`kv-<tag>-*`), captures on the
//! bridge, and checks that the VIP ends on exactly one router and that
//! gratuitous ARPs / unsolicited NAs were sent.
//!
//! Needs root, tcpdump, nft and /usr/sbin/keepalived; fails with CI=true when
//! they are missing, skips with a message otherwise.

mod netns;

use std::time::Duration;

use netns::{Capture, Daemon, Impl, Lab, garps, require, unsolicited_nas};
use nix::sys::signal::Signal;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// VRRPv2, auth PASS, advert_int 1.
    V2Pass,
    /// VRRPv3 over IPv4, advert_int 0.1.
    V3v4,
    /// VRRPv3 over IPv6, advert_int 0.1.
    V3v6,
    /// VRRPv3 over IPv4, unicast peers, advert_int 0.1.
    Unicast,
}

impl Variant {
    fn vip(self, lab: &Lab) -> String {
        match self {
            Variant::V3v6 => format!("fd{:02x}::100", lab.net),
            _ => format!("10.{}.0.100", lab.net),
        }
    }

    /// Time for a backup to take over after the master vanished, generously.
    fn takeover(self) -> Duration {
        match self {
            Variant::V2Pass => Duration::from_secs(6),
            _ => Duration::from_secs(3),
        }
    }
}

struct Inst<'a> {
    prio: u8,
    state: &'a str,
    extra: &'a str,
    global: &'a str,
}

impl Default for Inst<'_> {
    fn default() -> Self {
        Inst {
            prio: 100,
            state: "BACKUP",
            extra: "",
            global: "",
        }
    }
}

fn conf(lab: &Lab, i: usize, v: Variant, inst: &Inst) -> String {
    let vip = v.vip(lab);
    let (version, advert, auth, vipline) = match v {
        Variant::V2Pass => (
            2,
            "1",
            "authentication {\n auth_type PASS\n auth_pass kv-pass\n }\n",
            format!("{vip}/24"),
        ),
        Variant::V3v4 | Variant::Unicast => (3, "0.1", "", format!("{vip}/24")),
        Variant::V3v6 => (3, "0.1", "", format!("{vip}/64")),
    };
    let unicast = if v == Variant::Unicast {
        let peers: String = (0..lab.routers)
            .filter(|j| *j != i)
            .map(|j| format!("  {}\n", lab.ip4(j, "")))
            .collect();
        format!(
            "unicast_src_ip {}\nunicast_peer {{\n{peers}}}\n",
            lab.ip4(i, "")
        )
    } else {
        String::new()
    };
    format!(
        "global_defs {{\n vrrp_version {version}\n router_id kv{i}\n{}}}\nvrrp_instance VI_1 {{\n state {}\n interface kv-e0\n virtual_router_id {}\n priority {}\n advert_int {advert}\n {auth}{unicast}virtual_ipaddress {{\n {vipline}\n }}\n{}}}\n",
        inst.global,
        inst.state,
        40 + lab.net,
        inst.prio,
        inst.extra,
    )
}

fn announcements(lines: &[String], v: Variant, vip: &str) -> usize {
    match v {
        Variant::V3v6 => unsolicited_nas(lines, vip),
        _ => garps(lines, vip),
    }
}

/// Master (router 0, priority 150) and backup (router 1, priority 100):
/// election, then a graceful stop of the master (priority 0) and takeover.
fn pair(tag: &str, net: u8, master: Impl, backup: Impl, v: Variant) {
    if !require() {
        return;
    }
    let lab = Lab::new(tag, net, 2);
    let vip = v.vip(&lab);
    let cap = Capture::start(&lab, "pair");
    let mut m = Daemon::start(&lab, 0, master, &conf(&lab, 0, v, &Inst { prio: 150, ..Default::default() }));
    let b = Daemon::start(&lab, 1, backup, &conf(&lab, 1, v, &Inst::default()));
    assert!(
        lab.wait_sole_holder(0, &vip, v.takeover() * 2),
        "master never held the VIP alone: {:?}\n--- master\n{}\n--- backup\n{}",
        lab.holders(&vip),
        m.log_text(),
        b.log_text()
    );
    assert!(m.log_has("(VI_1) Entering MASTER STATE"), "{}", m.log_text());
    assert!(b.wait_log("(VI_1) Entering BACKUP STATE", Duration::from_secs(2)), "{}", b.log_text());
    // The backup must stay backup while the master advertises.
    std::thread::sleep(v.takeover() / 2);
    assert_eq!(lab.holders(&vip), vec![0]);
    assert!(!b.log_has("(VI_1) Entering MASTER STATE"), "{}", b.log_text());

    m.stop();
    assert!(
        lab.wait_sole_holder(1, &vip, v.takeover()),
        "backup did not take over: {:?}\n--- backup\n{}",
        lab.holders(&vip),
        b.log_text()
    );
    assert!(b.log_has("(VI_1) Entering MASTER STATE"));
    std::thread::sleep(Duration::from_millis(300));
    let lines = cap.finish();
    let prio0 = lines.iter().any(|l| l.contains("prio 0,"));
    assert!(prio0, "no priority-0 advert captured:\n{}", lines.join("\n"));
    let n = announcements(&lines, v, &vip);
    assert!(n >= 10, "expected 5 GARP/NA from each master, got {n}:\n{}", lines.join("\n"));
    assert_eq!(lab.holders(&vip), vec![1]);
}

#[test]
fn ours_ours_v2_pass() {
    pair("oov2", 101, Impl::Ours, Impl::Ours, Variant::V2Pass);
}

#[test]
fn ours_master_keepalived_backup_v2_pass() {
    pair("okv2", 102, Impl::Ours, Impl::Keepalived, Variant::V2Pass);
}

#[test]
fn keepalived_master_ours_backup_v2_pass() {
    pair("kov2", 103, Impl::Keepalived, Impl::Ours, Variant::V2Pass);
}

#[test]
fn ours_ours_v3_ipv4() {
    pair("oov3", 104, Impl::Ours, Impl::Ours, Variant::V3v4);
}

#[test]
fn ours_master_keepalived_backup_v3_ipv4() {
    pair("okv3", 105, Impl::Ours, Impl::Keepalived, Variant::V3v4);
}

#[test]
fn keepalived_master_ours_backup_v3_ipv4() {
    pair("kov3", 106, Impl::Keepalived, Impl::Ours, Variant::V3v4);
}

#[test]
fn ours_ours_v3_ipv6() {
    pair("oov6", 107, Impl::Ours, Impl::Ours, Variant::V3v6);
}

#[test]
fn ours_master_keepalived_backup_v3_ipv6() {
    pair("okv6", 108, Impl::Ours, Impl::Keepalived, Variant::V3v6);
}

#[test]
fn keepalived_master_ours_backup_v3_ipv6() {
    pair("kov6", 109, Impl::Keepalived, Impl::Ours, Variant::V3v6);
}

#[test]
fn ours_ours_unicast() {
    pair("oouc", 110, Impl::Ours, Impl::Ours, Variant::Unicast);
}

#[test]
fn ours_master_keepalived_backup_unicast() {
    pair("okuc", 111, Impl::Ours, Impl::Keepalived, Variant::Unicast);
}

#[test]
fn keepalived_master_ours_backup_unicast() {
    pair("kouc", 112, Impl::Keepalived, Impl::Ours, Variant::Unicast);
}
