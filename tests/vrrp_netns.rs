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
    /// VRRPv2, auth AH (IPsec AH with HMAC-MD5-96), advert_int 1.
    V2Ah,
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
            Variant::V2Pass | Variant::V2Ah => Duration::from_secs(6),
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
        Variant::V2Ah => (
            2,
            "1",
            "authentication {\n auth_type AH\n auth_pass kv-ah\n }\n",
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
    let mut m = Daemon::start(
        &lab,
        0,
        master,
        &conf(
            &lab,
            0,
            v,
            &Inst {
                prio: 150,
                ..Default::default()
            },
        ),
    );
    assert!(
        lab.wait_sole_holder(0, &vip, v.takeover() * 2),
        "master never held the VIP alone: {:?}\n--- master\n{}",
        lab.holders(&vip),
        m.log_text(),
    );
    // The backup starts once the master advertises: started together, a
    // loaded host can let the backup's timer run out first.
    let b = Daemon::start(&lab, 1, backup, &conf(&lab, 1, v, &Inst::default()));
    assert!(
        m.log_has("(VI_1) Entering MASTER STATE"),
        "{}",
        m.log_text()
    );
    assert!(
        b.wait_log("(VI_1) Entering BACKUP STATE", Duration::from_secs(2)),
        "{}",
        b.log_text()
    );
    // The backup must stay backup while the master advertises.
    std::thread::sleep(v.takeover() / 2);
    assert_eq!(lab.holders(&vip), vec![0]);
    assert!(
        !b.log_has("(VI_1) Entering MASTER STATE"),
        "{}",
        b.log_text()
    );

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
    assert!(
        prio0,
        "no priority-0 advert captured:\n{}",
        lines.join("\n")
    );
    let n = announcements(&lines, v, &vip);
    assert!(
        n >= 10,
        "expected 5 GARP/NA from each master, got {n}:\n{}",
        lines.join("\n")
    );
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
fn ours_ours_v2_ah() {
    pair("ooah", 113, Impl::Ours, Impl::Ours, Variant::V2Ah);
}

#[test]
fn ours_master_keepalived_backup_v2_ah() {
    pair("okah", 114, Impl::Ours, Impl::Keepalived, Variant::V2Ah);
}

#[test]
fn keepalived_master_ours_backup_v2_ah() {
    pair("koah", 115, Impl::Keepalived, Impl::Ours, Variant::V2Ah);
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

// ---- scenarios ---------------------------------------------------------

/// A higher-priority router joining preempts the master; with `nopreempt`
/// it does not.
fn preemption(tag: &str, net: u8, joiner: Impl, nopreempt: bool) {
    if !require() {
        return;
    }
    let v = Variant::V3v4;
    let lab = Lab::new(tag, net, 2);
    let vip = v.vip(&lab);
    let cap = Capture::start(&lab, "preempt");
    let a = Daemon::start(&lab, 0, Impl::Ours, &conf(&lab, 0, v, &Inst::default()));
    assert!(
        lab.wait_sole_holder(0, &vip, v.takeover()),
        "{}",
        a.log_text()
    );
    let extra = if nopreempt { "nopreempt\n" } else { "" };
    let b = Daemon::start(
        &lab,
        1,
        joiner,
        &conf(
            &lab,
            1,
            v,
            &Inst {
                prio: 200,
                extra,
                ..Default::default()
            },
        ),
    );
    if nopreempt {
        assert!(
            b.wait_log("(VI_1) Entering BACKUP STATE", Duration::from_secs(3)),
            "{}",
            b.log_text()
        );
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(lab.holders(&vip), vec![0], "{}", b.log_text());
        assert!(!b.log_has("Entering MASTER STATE"), "{}", b.log_text());
    } else {
        assert!(
            lab.wait_sole_holder(1, &vip, v.takeover()),
            "{}\n{}",
            a.log_text(),
            b.log_text()
        );
        assert!(a.wait_log(
            "(VI_1) Master received advert from 10.",
            Duration::from_secs(1)
        ));
        assert!(
            a.log_has("with higher priority 200, ours 100"),
            "{}",
            a.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(lab.holders(&vip), vec![1]);
    }
    let lines = cap.finish();
    let want = if nopreempt { 5 } else { 10 };
    assert!(garps(&lines, &vip) >= want, "{}", lines.join("\n"));
}

#[test]
fn preemption_ours_ours() {
    preemption("pre", 120, Impl::Ours, false);
}

#[test]
fn preemption_by_keepalived() {
    preemption("prek", 121, Impl::Keepalived, false);
}

#[test]
fn nopreempt_ours_ours() {
    preemption("nop", 122, Impl::Ours, true);
}

#[test]
fn nopreempt_keepalived_joins() {
    preemption("nopk", 123, Impl::Keepalived, true);
}

/// The master's VRRP process hangs (SIGSTOP): the backup takes over after
/// Master_Down_Interval; when the master resumes, it reclaims the role and
/// the VIP ends on one router.
fn hung_master(tag: &str, net: u8, master: Impl, backup: Impl) {
    hung_master_v(tag, net, master, backup, Variant::V3v4);
}

/// With AH the two sides' sequence numbers drift apart while the master is
/// frozen, and must come back together when it thaws.
fn hung_master_v(tag: &str, net: u8, master: Impl, backup: Impl, v: Variant) {
    if !require() {
        return;
    }
    let lab = Lab::new(tag, net, 2);
    let vip = v.vip(&lab);
    let cap = Capture::start(&lab, "hang");
    let m = Daemon::start(
        &lab,
        0,
        master,
        &conf(
            &lab,
            0,
            v,
            &Inst {
                prio: 150,
                ..Default::default()
            },
        ),
    );
    assert!(
        lab.wait_sole_holder(0, &vip, v.takeover()),
        "{}",
        m.log_text()
    );
    // The backup starts once the master advertises (see `pair`).
    let b = Daemon::start(&lab, 1, backup, &conf(&lab, 1, v, &Inst::default()));
    assert!(
        b.wait_log("(VI_1) Entering BACKUP STATE", Duration::from_secs(3)),
        "{}",
        b.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    m.signal_vrrp(Signal::SIGSTOP);
    assert!(
        b.wait_log("(VI_1) Entering MASTER STATE", v.takeover()),
        "{}",
        b.log_text()
    );
    // Both hold the VIP while the master is frozen.
    assert!(lab.has_addr(1, &vip));
    m.signal_vrrp(Signal::SIGCONT);
    assert!(
        lab.wait_sole_holder(0, &vip, v.takeover()),
        "{:?}\n{}\n{}",
        lab.holders(&vip),
        m.log_text(),
        b.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lab.holders(&vip), vec![0]);
    if v == Variant::V2Ah {
        // The two sequence counters went apart while the master was frozen;
        // one side dropped the other's adverts as replays, or the master
        // synced past the backup's numbers, and they got back in step.
        let text = format!("{}\n{}", m.log_text(), b.log_text());
        assert!(
            text.contains("already processed. Packet dropped.")
                || text.contains("(VI_1) IPSEC-AH : Syncing seq_num - Increment seq"),
            "{text}"
        );
    }
    let lines = cap.finish();
    assert!(garps(&lines, &vip) >= 10, "{}", lines.join("\n"));
}

#[test]
fn hung_master_ours_ours() {
    hung_master("hang", 124, Impl::Ours, Impl::Ours);
}

#[test]
fn hung_keepalived_master_ours_backup() {
    hung_master("hangk", 125, Impl::Keepalived, Impl::Ours);
}

#[test]
fn hung_ours_master_keepalived_backup() {
    hung_master("hango", 126, Impl::Ours, Impl::Keepalived);
}

#[test]
fn hung_keepalived_master_ours_backup_ah() {
    hung_master_v("hangka", 116, Impl::Keepalived, Impl::Ours, Variant::V2Ah);
}

#[test]
fn hung_ours_master_keepalived_backup_ah() {
    hung_master_v("hangoa", 117, Impl::Ours, Impl::Keepalived, Variant::V2Ah);
}

/// Interface down on the master: FAULT, the backup takes over; link up:
/// the master recovers and preempts back. Run over IPv6 too, where the
/// kernel drops the addresses on link down.
fn iface_down(tag: &str, net: u8, v: Variant) {
    if !require() {
        return;
    }
    let lab = Lab::new(tag, net, 2);
    let vip = v.vip(&lab);
    let cap = Capture::start(&lab, "ifdown");
    let m = Daemon::start(
        &lab,
        0,
        Impl::Ours,
        &conf(
            &lab,
            0,
            v,
            &Inst {
                prio: 150,
                ..Default::default()
            },
        ),
    );
    let b = Daemon::start(&lab, 1, Impl::Ours, &conf(&lab, 1, v, &Inst::default()));
    assert!(lab.wait_sole_holder(0, &vip, v.takeover()));
    lab.link(0, false);
    assert!(
        m.wait_log("Netlink reports kv-e0 down", Duration::from_secs(2)),
        "{}",
        m.log_text()
    );
    assert!(
        m.wait_log("(VI_1) Entering FAULT STATE", Duration::from_secs(2)),
        "{}",
        m.log_text()
    );
    assert!(
        lab.wait_sole_holder(1, &vip, v.takeover()),
        "{:?}\n{}",
        lab.holders(&vip),
        b.log_text()
    );
    lab.link(0, true);
    assert!(
        m.wait_log("Netlink reports kv-e0 up", Duration::from_secs(2)),
        "{}",
        m.log_text()
    );
    assert!(
        lab.wait_sole_holder(0, &vip, v.takeover()),
        "{:?}\n{}\n{}",
        lab.holders(&vip),
        m.log_text(),
        b.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lab.holders(&vip), vec![0]);
    let lines = cap.finish();
    assert!(announcements(&lines, v, &vip) >= 10, "{}", lines.join("\n"));
}

#[test]
fn iface_down_fault_recovery_v4() {
    iface_down("ifd4", 127, Variant::V3v4);
}

#[test]
fn iface_down_fault_recovery_v6() {
    iface_down("ifd6", 128, Variant::V3v6);
}

/// A failing track_script lowers the master's priority below the backup's:
/// handover; the script recovering hands the role back.
fn track_script(tag: &str, net: u8, master: Impl) {
    if !require() {
        return;
    }
    let v = Variant::V3v4;
    let lab = Lab::new(tag, net, 2);
    let vip = v.vip(&lab);
    let flag = lab.file("kv-healthy");
    std::fs::write(&flag, "").unwrap();
    let global = " enable_script_security\n script_user root\n";
    let script = format!(
        "vrrp_script kv_chk {{\n script \"/usr/bin/test -e {}\"\n interval 0.2\n weight -60\n rise 1\n fall 1\n}}\n",
        flag.display()
    );
    let track = "track_script {\n kv_chk\n }\n";
    let mconf = format!(
        "{script}{}",
        conf(
            &lab,
            0,
            v,
            &Inst {
                prio: 150,
                extra: track,
                global,
                ..Default::default()
            }
        )
    );
    let cap = Capture::start(&lab, "track");
    let m = Daemon::start(&lab, 0, master, &mconf);
    let b = Daemon::start(&lab, 1, Impl::Ours, &conf(&lab, 1, v, &Inst::default()));
    assert!(
        lab.wait_sole_holder(0, &vip, Duration::from_secs(4)),
        "{}",
        m.log_text()
    );
    assert!(
        m.wait_log("VRRP_Script(kv_chk) succeeded", Duration::from_secs(2)),
        "{}",
        m.log_text()
    );
    std::fs::remove_file(&flag).unwrap();
    assert!(
        m.wait_log("VRRP_Script(kv_chk) failed", Duration::from_secs(2)),
        "{}",
        m.log_text()
    );
    assert!(
        m.wait_log(
            "(VI_1) Changing effective priority from 150 to 90",
            Duration::from_secs(1)
        ),
        "{}",
        m.log_text()
    );
    assert!(
        lab.wait_sole_holder(1, &vip, v.takeover()),
        "{:?}\n{}\n{}",
        lab.holders(&vip),
        m.log_text(),
        b.log_text()
    );
    std::fs::write(&flag, "").unwrap();
    assert!(
        m.wait_log(
            "(VI_1) Changing effective priority from 90 to 150",
            Duration::from_secs(2)
        ),
        "{}",
        m.log_text()
    );
    assert!(
        lab.wait_sole_holder(0, &vip, v.takeover()),
        "{:?}",
        lab.holders(&vip)
    );
    let lines = cap.finish();
    assert!(garps(&lines, &vip) >= 15, "{}", lines.join("\n"));
}

#[test]
fn track_script_handover_ours() {
    track_script("trk", 129, Impl::Ours);
}

#[test]
fn track_script_handover_keepalived_master() {
    track_script("trkk", 130, Impl::Keepalived);
}

/// Split brain: VRRP dropped both ways with nftables makes both routers
/// master; healing the partition leaves exactly one.
fn split_brain(tag: &str, net: u8, a: Impl, b: Impl) {
    if !require() {
        return;
    }
    let v = Variant::V3v4;
    let lab = Lab::new(tag, net, 2);
    let vip = v.vip(&lab);
    let cap = Capture::start(&lab, "split");
    let ra = Daemon::start(
        &lab,
        0,
        a,
        &conf(
            &lab,
            0,
            v,
            &Inst {
                prio: 150,
                ..Default::default()
            },
        ),
    );
    let rb = Daemon::start(&lab, 1, b, &conf(&lab, 1, v, &Inst::default()));
    assert!(lab.wait_sole_holder(0, &vip, v.takeover()));
    lab.block_vrrp(0, true);
    lab.block_vrrp(1, true);
    assert!(
        netns::wait_until(v.takeover(), || lab.holders(&vip) == vec![0, 1]),
        "partition did not make both masters: {:?}\n{}",
        lab.holders(&vip),
        rb.log_text()
    );
    lab.block_vrrp(0, false);
    lab.block_vrrp(1, false);
    assert!(
        lab.wait_sole_holder(0, &vip, v.takeover()),
        "{:?}\n{}\n{}",
        lab.holders(&vip),
        ra.log_text(),
        rb.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lab.holders(&vip), vec![0]);
    let lines = cap.finish();
    assert!(garps(&lines, &vip) >= 10, "{}", lines.join("\n"));
}

#[test]
fn split_brain_heals_ours_ours() {
    split_brain("split", 131, Impl::Ours, Impl::Ours);
}

#[test]
fn split_brain_heals_ours_keepalived() {
    split_brain("splitk", 132, Impl::Ours, Impl::Keepalived);
}

// ---- VIP options, routes, rules, VMAC, notifies -------------------------

/// virtual_routes and virtual_rules follow the master; the rule really
/// routes (RuleAction::ToTable), and the VIP's label, scope and broadcast
/// reach the kernel.
#[test]
fn routes_rules_and_vip_options_follow_master() {
    if !require() {
        return;
    }
    let v = Variant::V3v4;
    let lab = Lab::new("rtr", 133, 2);
    let n = lab.net;
    let extra = format!(
        "virtual_ipaddress_excluded {{\n 10.{n}.7.1/24 brd + label kv-e0:ex\n 10.{n}.7.2/32 scope host\n }}\nvirtual_routes {{\n 10.{n}.9.0/24 via 10.{n}.0.254 dev kv-e0 table 100\n }}\nvirtual_rules {{\n from 10.{n}.0.100 table 100 preference 1000\n }}\n"
    );
    let mut m = Daemon::start(
        &lab,
        0,
        Impl::Ours,
        &conf(
            &lab,
            0,
            v,
            &Inst {
                prio: 150,
                extra: &extra,
                ..Default::default()
            },
        ),
    );
    let b = Daemon::start(
        &lab,
        1,
        Impl::Ours,
        &conf(
            &lab,
            1,
            v,
            &Inst {
                extra: &extra,
                ..Default::default()
            },
        ),
    );
    let vip = v.vip(&lab);
    assert!(
        lab.wait_sole_holder(0, &vip, v.takeover()),
        "{}",
        m.log_text()
    );
    let ns0 = lab.ns(0);
    let routes = netns::sh(&["ip", "-n", &ns0, "route", "show", "table", "100"]);
    assert!(
        routes.contains(&format!("10.{n}.9.0/24 via 10.{n}.0.254 dev kv-e0")),
        "{routes}"
    );
    let rules = netns::sh(&["ip", "-n", &ns0, "rule"]);
    assert!(
        rules.contains(&format!("1000:\tfrom 10.{n}.0.100 lookup 100")),
        "{rules}"
    );
    let get = netns::sh(&[
        "ip",
        "-n",
        &ns0,
        "route",
        "get",
        &format!("10.{n}.9.5"),
        "from",
        &vip,
    ]);
    assert!(
        get.contains(&format!("via 10.{n}.0.254")) && get.contains("table 100"),
        "{get}"
    );
    let addrs = netns::sh(&["ip", "-n", &ns0, "addr", "show", "kv-e0"]);
    assert!(
        addrs.contains(&format!(
            "inet 10.{n}.7.1/24 brd 10.{n}.7.255 scope global kv-e0:ex"
        )),
        "{addrs}"
    );
    assert!(
        addrs.contains(&format!("inet 10.{n}.7.2/32 scope host")),
        "{addrs}"
    );
    let ns1 = lab.ns(1);
    // Table 100 does not even exist on the backup yet.
    let t100 = |ns: &str| netns::sh(&["ip", "-n", ns, "route", "show", "table", "all"]);
    assert!(!t100(&ns1).contains("table 100"), "{}", t100(&ns1));
    assert!(!netns::sh(&["ip", "-n", &ns1, "rule"]).contains("lookup 100"));
    m.stop();
    assert!(
        lab.wait_sole_holder(1, &vip, v.takeover()),
        "{}",
        b.log_text()
    );
    assert!(netns::wait_until(Duration::from_secs(2), || {
        netns::sh(&["ip", "-n", &ns1, "rule"]).contains("lookup 100")
            && t100(&ns1).contains(&format!(
                "10.{n}.9.0/24 via 10.{n}.0.254 dev kv-e0 table 100"
            ))
    }));
    assert!(!netns::sh(&["ip", "-n", &ns0, "rule"]).contains("lookup 100"));
    assert!(!t100(&ns0).contains("table 100"), "{}", t100(&ns0));
    assert!(!lab.has_addr(0, &format!("10.{n}.7.1")));
}

/// use_vmac: macvlan `vrrp.VRID` with 00:00:5e:00:01:VRID carries the VIP,
/// adverts and GARPs come from the virtual MAC, and it is removed at stop.
#[test]
fn use_vmac_macvlan() {
    if !require() {
        return;
    }
    let v = Variant::V3v4;
    let lab = Lab::new("vmac", 134, 2);
    let vrid = 40 + u32::from(lab.net);
    let ifname = format!("vrrp.{vrid}");
    let mac = format!("00:00:5e:00:01:{vrid:02x}");
    let cap = Capture::start(&lab, "vmac");
    let mut m = Daemon::start(
        &lab,
        0,
        Impl::Ours,
        &conf(
            &lab,
            0,
            v,
            &Inst {
                prio: 150,
                extra: "use_vmac\n",
                ..Default::default()
            },
        ),
    );
    let vip = v.vip(&lab);
    assert!(
        lab.wait_sole_holder(0, &vip, v.takeover()),
        "{}",
        m.log_text()
    );
    // The backup starts once the master advertises: started together, a
    // loaded host can let the backup's timer run out first.
    let b = Daemon::start(&lab, 1, Impl::Ours, &conf(&lab, 1, v, &Inst::default()));
    let link = netns::sh(&["ip", "-n", &lab.ns(0), "-d", "link", "show", &ifname]);
    assert!(
        link.contains(&format!("link/ether {mac}")) && link.contains("macvlan mode private"),
        "{link}"
    );
    let a = netns::sh(&["ip", "-n", &lab.ns(0), "addr", "show", &ifname]);
    assert!(a.contains(&format!("inet {vip}/24")), "{a}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!b.log_has("Entering MASTER STATE"), "{}", b.log_text());
    m.stop();
    assert!(lab.wait_sole_holder(1, &vip, v.takeover()));
    let gone = netns::wait_until(Duration::from_secs(2), || {
        !netns::sh(&["ip", "-n", &lab.ns(0), "link", "show"]).contains(&ifname)
    });
    assert!(gone, "VMAC left behind");
    let lines = cap.finish();
    let from_vmac = |what: &str| {
        lines
            .iter()
            .filter(|l| {
                l.starts_with(|c: char| c.is_ascii_digit())
                    && l.contains(&format!(" {mac} > "))
                    && l.contains(what)
            })
            .count()
    };
    assert!(from_vmac("VRRPv3") >= 3, "{}", lines.join("\n"));
    assert!(
        from_vmac(&format!("Request who-has {vip}")) >= 5,
        "{}",
        lines.join("\n")
    );
}

/// notify, notify_master/backup/stop and the notify FIFO: same argv and
/// lines as Debian's keepalived for the same configuration and life cycle.
#[test]
fn notify_scripts_and_fifo_match_keepalived() {
    if !require() {
        return;
    }
    let v = Variant::V3v4;
    let lab = Lab::new("ntf", 135, 1);
    let script = lab.file("kv-notify.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/kv-notify-$KV_WHO.out\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut outputs = Vec::new();
    for which in [Impl::Ours, Impl::Keepalived] {
        let who = if which == Impl::Ours { "ours" } else { "ka" };
        let fifo = lab.file(&format!("kv-{who}.fifo"));
        let global = format!(
            " enable_script_security\n script_user root\n vrrp_notify_fifo {}\n",
            fifo.display()
        );
        let s = script.display();
        let extra = format!(
            "notify \"/usr/bin/env KV_WHO={who} {s}\"\nnotify_master \"/usr/bin/env KV_WHO={who} {s} MASTER_SCRIPT\"\nnotify_backup \"/usr/bin/env KV_WHO={who} {s} BACKUP_SCRIPT\"\nnotify_stop \"/usr/bin/env KV_WHO={who} {s} STOP_SCRIPT\"\n"
        );
        let mut d = Daemon::start(
            &lab,
            0,
            which,
            &conf(
                &lab,
                0,
                v,
                &Inst {
                    prio: 150,
                    extra: &extra,
                    global: &global,
                    ..Default::default()
                },
            ),
        );
        assert!(
            lab.wait_sole_holder(0, &v.vip(&lab), v.takeover()),
            "{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
        let fifo_text = {
            use std::io::Read;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                .open(&fifo)
                .expect("notify FIFO exists");
            let mut buf = vec![0u8; 4096];
            let n = f.read(&mut buf).unwrap_or(0);
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        d.stop();
        let out = lab.file(&format!("kv-notify-{who}.out"));
        assert!(
            // Both stop notifies: the generic one and notify_stop's (they
            // run concurrently, and a loaded host can delay either).
            netns::wait_until(Duration::from_secs(5), || {
                std::fs::read_to_string(&out)
                    .is_ok_and(|t| t.contains("STOP_SCRIPT") && t.matches("STOP").count() >= 2)
            }),
            "{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
        let mut lines: Vec<String> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        // The per-state script and `notify` run concurrently: compare as sets per phase.
        lines.sort();
        outputs.push((lines, fifo_text));
    }
    assert_eq!(
        outputs[0].0, outputs[1].0,
        "notify argv differ (ours, keepalived)"
    );
    assert_eq!(
        outputs[0].1, outputs[1].1,
        "FIFO lines differ (ours, keepalived)"
    );
    assert!(
        outputs[0]
            .0
            .contains(&"INSTANCE VI_1 MASTER 150".to_string()),
        "{:?}",
        outputs[0].0
    );
    assert!(
        outputs[0].1.contains("INSTANCE \"VI_1\" MASTER 150\n"),
        "{:?}",
        outputs[0].1
    );
}

/// track_file: the value times the weight moves the priority; a value that
/// drops the master below the backup hands over.
#[test]
fn track_file_weight_handover() {
    if !require() {
        return;
    }
    let v = Variant::V3v4;
    let lab = Lab::new("tfile", 136, 2);
    let vip = v.vip(&lab);
    let file = lab.file("kv-track");
    std::fs::write(&file, "0\n").unwrap();
    let tf = format!(
        "track_file kv_tf {{\n file {}\n weight -10\n}}\n",
        file.display()
    );
    let mconf = format!(
        "{tf}{}",
        conf(
            &lab,
            0,
            v,
            &Inst {
                prio: 150,
                extra: "track_file {\n kv_tf\n }\n",
                ..Default::default()
            }
        )
    );
    let m = Daemon::start(&lab, 0, Impl::Ours, &mconf);
    let b = Daemon::start(&lab, 1, Impl::Ours, &conf(&lab, 1, v, &Inst::default()));
    assert!(
        lab.wait_sole_holder(0, &vip, v.takeover()),
        "{}",
        m.log_text()
    );
    std::fs::write(&file, "6\n").unwrap();
    assert!(
        m.wait_log(
            "(VI_1) Changing effective priority from 150 to 90",
            Duration::from_secs(2)
        ),
        "{}",
        m.log_text()
    );
    assert!(
        lab.wait_sole_holder(1, &vip, v.takeover()),
        "{}",
        b.log_text()
    );
    std::fs::write(&file, "0\n").unwrap();
    assert!(
        lab.wait_sole_holder(0, &vip, Duration::from_secs(3)),
        "{}",
        m.log_text()
    );
}

/// A weighted track_file whose value × weight reaches -254 puts the
/// instance in FAULT, and a value back in range brings it up with the new
/// share already counted: the same transitions and lines as keepalived.
#[test]
fn weighted_track_file_fault_matches_keepalived() {
    if !require() {
        return;
    }
    let v = Variant::V3v4;
    let lab = Lab::new("tfw", 149, 1);
    let vip = v.vip(&lab);
    let mut runs = Vec::new();
    for which in [Impl::Ours, Impl::Keepalived] {
        let file = lab.file(&format!("kv-track-{which:?}"));
        std::fs::write(&file, "2\n").unwrap();
        let body = conf(
            &lab,
            0,
            v,
            &Inst {
                prio: 150,
                extra: "track_file {\n kv_tf\n }\n",
                ..Default::default()
            },
        );
        let text = format!(
            "track_file kv_tf {{\n file {}\n weight -10\n}}\n{body}",
            file.display()
        );
        let mut d = Daemon::start(&lab, 0, which, &text);
        assert!(
            lab.wait_sole_holder(0, &vip, v.takeover()),
            "{}",
            d.log_text()
        );
        // -300 is clamped to -254: a fault.
        std::fs::write(&file, "30\n").unwrap();
        assert!(
            d.wait_log("(VI_1) Entering FAULT STATE", Duration::from_secs(3)),
            "{}",
            d.log_text()
        );
        assert!(lab.holders(&vip).is_empty());
        std::fs::write(&file, "1\n").unwrap();
        assert!(
            lab.wait_sole_holder(0, &vip, v.takeover()),
            "{}",
            d.log_text()
        );
        std::fs::write(&file, "3\n").unwrap();
        assert!(
            d.wait_log(
                "(VI_1) Changing effective priority from 140 to 120",
                Duration::from_secs(3)
            ),
            "{}",
            d.log_text()
        );
        d.stop();
        let lines: Vec<String> = d
            .log_text()
            .lines()
            .filter_map(|l| l.split_once(": ").map(|(_, t)| t.to_owned()))
            .filter(|t| {
                t.starts_with("(VI_1) Entering") || t.starts_with("(VI_1) Changing effective")
            })
            .collect();
        runs.push(lines);
    }
    assert_eq!(runs[0], runs[1], "ours vs keepalived");
    assert!(runs[0].contains(&"(VI_1) Entering FAULT STATE".to_owned()));
}

/// garp_master_repeat / garp_master_delay / garp_master_refresh: the same
/// number of gratuitous ARPs as keepalived in the same window.
#[test]
fn garp_schedule_matches_keepalived() {
    if !require() {
        return;
    }
    let v = Variant::V3v4;
    let lab = Lab::new("garp", 137, 1);
    let vip = v.vip(&lab);
    let extra = "garp_master_repeat 2\ngarp_master_delay 1\ngarp_master_refresh 1\ngarp_master_refresh_repeat 3\n";
    let mut counts = Vec::new();
    for which in [Impl::Ours, Impl::Keepalived] {
        let cap = Capture::start(&lab, &format!("garp-{which:?}"));
        let mut d = Daemon::start(
            &lab,
            0,
            which,
            &conf(
                &lab,
                0,
                v,
                &Inst {
                    prio: 150,
                    extra,
                    ..Default::default()
                },
            ),
        );
        assert!(
            lab.wait_sole_holder(0, &vip, v.takeover()),
            "{}",
            d.log_text()
        );
        // initial 2; at 1 s the delayed burst (2) and the first refresh (3),
        // which counts from becoming master; +3 at 2 s and 3 s; stop at 3.5 s.
        std::thread::sleep(Duration::from_millis(3500));
        d.stop();
        let lines = cap.finish();
        let times: Vec<f64> = lines
            .iter()
            .filter(|l| {
                l.contains(&format!(
                    "Request who-has {vip} (ff:ff:ff:ff:ff:ff) tell {vip}"
                ))
            })
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        let t0 = times.first().copied().unwrap_or(0.0);
        let buckets: Vec<usize> = (0..4)
            .map(|s| {
                times
                    .iter()
                    .filter(|t| {
                        let d = **t - t0;
                        d >= f64::from(s) - 0.25 && d < f64::from(s) + 0.75
                    })
                    .count()
            })
            .collect();
        counts.push(buckets);
    }
    assert_eq!(counts[0], vec![2, 5, 3, 3], "ours");
    assert_eq!(counts[0], counts[1], "ours vs keepalived");
}

// ---- reload (SIGHUP) ---------------------------------------------------

/// A VRRPv3 (advert_int 0.1) instance for the reload tests: VIPs are host
/// numbers in 10.<net>.0.0/24.
fn rl_inst(
    lab: &Lab,
    name: &str,
    vrid: u8,
    state: &str,
    prio: u8,
    vips: &[u8],
    extra: &str,
) -> String {
    let vips: String = vips
        .iter()
        .map(|h| format!("  10.{}.0.{h}/24\n", lab.net))
        .collect();
    format!(
        "vrrp_instance {name} {{\n state {state}\n interface kv-e0\n virtual_router_id {vrid}\n priority {prio}\n advert_int 0.1\n virtual_ipaddress {{\n{vips} }}\n{extra}}}\n"
    )
}

fn rl_conf(i: usize, global: &str, instances: &[String]) -> String {
    format!(
        "global_defs {{\n vrrp_version 3\n router_id kv{i}\n{global}}}\n{}",
        instances.concat()
    )
}

/// Adverts of `src` in a capture: their times, in seconds.
fn advert_times(lines: &[String], src: &str, vrid: u8) -> Vec<f64> {
    let from = format!("{src} > 224.0.0.18: VRRPv3, Advertisement, vrid {vrid},");
    lines
        .iter()
        .filter(|l| l.contains(&from))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

fn max_gap(times: &[f64]) -> f64 {
    times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

/// Ours MASTER, keepalived BACKUP: a reload that adds one VIP and removes
/// another (advertised and excluded) keeps ours MASTER without an election
/// and without a gap in its adverts; the VIP set follows the file and the
/// new VIPs are announced.
///
/// keepalived 2.2.7 as BACKUP drops adverts whose address list differs
/// from its own ("not present in MASTER advert", vrrp.c
/// `vrrp_check_packet`) and takes over, whoever the master is; operators
/// changing advertised VIPs run the backup with `skip_check_adv_addr`
/// (checks only when the master changes), as the peer here does.
#[test]
fn reload_keeps_master_and_updates_vips() {
    if !require() {
        return;
    }
    let lab = Lab::new("rlm", 140, 2);
    let net = lab.net;
    let vrid = 40 + net;
    let (a, b, c) = (
        format!("10.{net}.0.100"),
        format!("10.{net}.0.101"),
        format!("10.{net}.0.102"),
    );
    let (eb, ec) = (format!("10.{net}.9.101"), format!("10.{net}.9.102"));
    let ours = |vips: &[u8], ex: u8| {
        let extra = format!(
            "virtual_ipaddress_excluded {{
  10.{net}.9.{ex}/24
 }}
"
        );
        rl_conf(
            0,
            "",
            &[rl_inst(&lab, "VI_1", vrid, "BACKUP", 150, vips, &extra)],
        )
    };
    let m = Daemon::start(&lab, 0, Impl::Ours, &ours(&[100, 101], 101));
    let k = Daemon::start(
        &lab,
        1,
        Impl::Keepalived,
        &rl_conf(
            1,
            "",
            &[rl_inst(
                &lab,
                "VI_1",
                vrid,
                "BACKUP",
                100,
                &[100, 101],
                "skip_check_adv_addr\n",
            )],
        ),
    );
    assert!(
        lab.wait_sole_holder(0, &a, Duration::from_secs(3)) && lab.holders(&b) == vec![0],
        "{}\n{}",
        m.log_text(),
        k.log_text()
    );
    assert!(
        k.wait_log("(VI_1) Entering BACKUP STATE", Duration::from_secs(2)),
        "{}",
        k.log_text()
    );
    let cap = Capture::start(&lab, "reload");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lab.holders(&eb), vec![0]);
    m.reload(&ours(&[100, 102], 102));
    assert!(
        netns::wait_until(Duration::from_secs(3), || lab.holders(&c) == vec![0]
            && lab.holders(&b).is_empty()
            && lab.holders(&ec) == vec![0]
            && lab.holders(&eb).is_empty()),
        "VIPs not updated: {:?} {:?}\n{}",
        lab.holders(&b),
        lab.holders(&c),
        m.log_text()
    );
    std::thread::sleep(Duration::from_secs(2));
    let lines = cap.finish();
    assert_eq!(lab.holders(&a), vec![0]);
    assert!(m.log_has("Reloading"), "{}", m.log_text());
    assert!(
        m.log_has(&format!(
            "(VI_1) ip address {b}/24 dev kv-e0, no longer exist"
        )),
        "{}",
        m.log_text()
    );
    assert_eq!(m.log_count("Entering MASTER STATE"), 1, "{}", m.log_text());
    assert_eq!(m.log_count("Entering BACKUP STATE"), 1, "{}", m.log_text());
    assert!(
        !k.log_has("Entering MASTER STATE"),
        "peer took over:\n{}",
        k.log_text()
    );
    let times = advert_times(&lines, &lab.ip4(0, ""), vrid);
    assert!(times.len() >= 20, "{}", lines.join("\n"));
    // Below the peer's Master_Down_Interval (3 x 0.1 s + 0.06 s skew).
    assert!(
        max_gap(&times) < 0.3,
        "gap of {:.3} s in the master's adverts:\n{}",
        max_gap(&times),
        lines.join("\n")
    );
    assert!(garps(&lines, &c) >= 1, "{}", lines.join("\n"));
    assert!(garps(&lines, &ec) >= 1, "{}", lines.join("\n"));
}

/// A reload that removes the instance on the MASTER: priority 0 advert,
/// VIP gone, the keepalived backup takes over at once; FAULT notified (no
/// notify_deleted). A new instance in the same file comes up.
#[test]
fn reload_removing_instance_hands_over() {
    if !require() {
        return;
    }
    let lab = Lab::new("rlx", 141, 2);
    let net = lab.net;
    let vrid = 40 + net;
    let vip = format!("10.{net}.0.100");
    let other = format!("10.{net}.0.200");
    let script = lab.file("kv-notify.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/kv-notify.out\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let fifo = lab.file("kv-ours.fifo");
    let global = format!(
        " enable_script_security\n script_user root\n vrrp_notify_fifo {}\n",
        fifo.display()
    );
    let global = global.as_str();
    let notify = format!("notify \"{}\"\n", script.display());
    let m = Daemon::start(
        &lab,
        0,
        Impl::Ours,
        &rl_conf(
            0,
            global,
            &[rl_inst(&lab, "VI_1", vrid, "BACKUP", 150, &[100], &notify)],
        ),
    );
    let k = Daemon::start(
        &lab,
        1,
        Impl::Keepalived,
        &rl_conf(
            1,
            "",
            &[rl_inst(&lab, "VI_1", vrid, "BACKUP", 100, &[100], "")],
        ),
    );
    assert!(
        lab.wait_sole_holder(0, &vip, Duration::from_secs(3)),
        "{}\n{}",
        m.log_text(),
        k.log_text()
    );
    assert!(k.wait_log("(VI_1) Entering BACKUP STATE", Duration::from_secs(2)));
    // A reader keeps the FIFO's contents across the reload's close/reopen.
    let mut reader = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&fifo)
            .expect("notify FIFO exists")
    };
    let cap = Capture::start(&lab, "remove");
    m.reload(&rl_conf(
        0,
        global,
        &[rl_inst(
            &lab,
            "VI_2",
            vrid + 1,
            "BACKUP",
            150,
            &[200],
            &notify,
        )],
    ));
    let t0 = std::time::Instant::now();
    assert!(
        lab.wait_sole_holder(1, &vip, Duration::from_secs(2)),
        "{:?}\n{}\n{}",
        lab.holders(&vip),
        m.log_text(),
        k.log_text()
    );
    // Priority 0: skew time (about 60 ms), not the 3 adverts of a lost master.
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert!(
        k.log_has("(VI_1) Entering MASTER STATE"),
        "{}",
        k.log_text()
    );
    assert!(
        lab.wait_sole_holder(0, &other, Duration::from_secs(2)),
        "new instance: {}",
        m.log_text()
    );
    assert!(
        m.log_has("(VI_2) Entering BACKUP STATE (init)"),
        "{}",
        m.log_text()
    );
    std::thread::sleep(Duration::from_millis(300));
    let lines = cap.finish();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("{} > 224.0.0.18", lab.ip4(0, "")))
                && l.contains("prio 0,")),
        "no priority-0 advert:\n{}",
        lines.join("\n")
    );
    let out = std::fs::read_to_string(lab.file("kv-notify.out")).unwrap_or_default();
    assert!(out.contains("INSTANCE VI_1 FAULT 150"), "{out}");
    assert!(out.contains("INSTANCE VI_2 MASTER 150"), "{out}");
    let fifo_text = {
        use std::io::Read;
        let mut buf = vec![0u8; 4096];
        let n = reader.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let deleted = fifo_text.find("INSTANCE \"VI_1\" FAULT 150\n");
    let new_master = fifo_text.find("INSTANCE \"VI_2\" MASTER 150\n");
    assert!(
        deleted.is_some() && new_master.is_some() && deleted < new_master,
        "{fifo_text}"
    );
}

/// Broken files (an instance without its VRID, a missing file, an unknown
/// interface) are refused with an error and change nothing; a good file
/// afterwards is taken.
#[test]
fn reload_refuses_broken_config() {
    if !require() {
        return;
    }
    let lab = Lab::new("rlb", 142, 2);
    let net = lab.net;
    let vrid = 40 + net;
    let (a, c) = (format!("10.{net}.0.100"), format!("10.{net}.0.102"));
    let good = rl_conf(
        0,
        "",
        &[rl_inst(&lab, "VI_1", vrid, "BACKUP", 150, &[100], "")],
    );
    let m = Daemon::start(&lab, 0, Impl::Ours, &good);
    let k = Daemon::start(
        &lab,
        1,
        Impl::Keepalived,
        &rl_conf(
            1,
            "",
            &[rl_inst(&lab, "VI_1", vrid, "BACKUP", 100, &[100], "")],
        ),
    );
    assert!(
        lab.wait_sole_holder(0, &a, Duration::from_secs(3)),
        "{}",
        m.log_text()
    );
    assert!(k.wait_log("(VI_1) Entering BACKUP STATE", Duration::from_secs(2)));
    let refused = "Configuration reload failed - keeping the running configuration";
    let no_vrid = good.replace(&format!("virtual_router_id {vrid}"), "");
    let bad_if = rl_conf(
        0,
        "",
        &[rl_inst(&lab, "VI_1", vrid, "BACKUP", 150, &[102], "")],
    )
    .replace("interface kv-e0", "interface kv-nope");
    for (n, broken) in [Some(no_vrid), None, Some(bad_if)].into_iter().enumerate() {
        match broken {
            Some(text) => m.reload(&text),
            None => {
                std::fs::remove_file(&m.conf).unwrap();
                m.signal(Signal::SIGHUP);
            }
        }
        assert!(
            m.wait_log_count(refused, n + 1, Duration::from_secs(3)),
            "reload {n} not refused:\n{}",
            m.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(lab.holders(&a), vec![0], "{}", m.log_text());
        assert!(lab.holders(&c).is_empty());
    }
    assert!(m.log_has("virtual router id"), "{}", m.log_text());
    assert!(m.log_has("kv-nope"), "{}", m.log_text());
    m.reload(&rl_conf(
        0,
        "",
        &[rl_inst(&lab, "VI_1", vrid, "BACKUP", 150, &[100, 102], "")],
    ));
    assert!(
        netns::wait_until(Duration::from_secs(3), || lab.holders(&c) == vec![0]),
        "good reload not taken: {}",
        m.log_text()
    );
    assert_eq!(lab.holders(&a), vec![0]);
    assert_eq!(m.log_count("Entering MASTER STATE"), 1, "{}", m.log_text());
    assert!(!k.log_has("Entering MASTER STATE"), "{}", k.log_text());
}

/// Ours BACKUP to a keepalived MASTER: a reload adding a second instance
/// starts it (it becomes MASTER, nobody else has it) while the kept one
/// stays BACKUP; with `fifo_write_vrrp_states_on_reload` the kept
/// instance's unchanged state is written to the FIFO again.
#[test]
fn reload_starts_new_instance_keeps_backup() {
    if !require() {
        return;
    }
    let lab = Lab::new("rln", 143, 2);
    let net = lab.net;
    let vrid = 40 + net;
    let (a, n) = (format!("10.{net}.0.100"), format!("10.{net}.0.150"));
    let vi1 = rl_inst(&lab, "VI_1", vrid, "BACKUP", 100, &[100], "");
    let k = Daemon::start(
        &lab,
        1,
        Impl::Keepalived,
        &rl_conf(
            1,
            "",
            &[rl_inst(&lab, "VI_1", vrid, "BACKUP", 150, &[100], "")],
        ),
    );
    assert!(
        lab.wait_sole_holder(1, &a, Duration::from_secs(3)),
        "{}",
        k.log_text()
    );
    let fifo = lab.file("kv-ours.fifo");
    let global = format!(
        " vrrp_notify_fifo {}\n fifo_write_vrrp_states_on_reload\n",
        fifo.display()
    );
    let m = Daemon::start(
        &lab,
        0,
        Impl::Ours,
        &rl_conf(0, &global, std::slice::from_ref(&vi1)),
    );
    assert!(m.wait_log("(VI_1) Entering BACKUP STATE", Duration::from_secs(2)));
    let mut reader = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&fifo)
            .expect("notify FIFO exists")
    };
    std::thread::sleep(Duration::from_millis(500));
    m.reload(&rl_conf(
        0,
        &global,
        &[
            vi1.clone(),
            rl_inst(&lab, "VI_NEW", vrid + 1, "BACKUP", 100, &[150], ""),
        ],
    ));
    assert!(
        lab.wait_sole_holder(0, &n, Duration::from_secs(3)),
        "new instance did not come up: {}",
        m.log_text()
    );
    assert!(
        m.log_has("(VI_NEW) Entering BACKUP STATE (init)"),
        "{}",
        m.log_text()
    );
    assert!(
        m.log_has("(VI_NEW) Entering MASTER STATE"),
        "{}",
        m.log_text()
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(lab.holders(&a), vec![1]);
    assert!(
        !m.log_has("(VI_1) Entering MASTER STATE"),
        "{}",
        m.log_text()
    );
    assert_eq!(
        m.log_count("(VI_1) Entering BACKUP STATE"),
        1,
        "{}",
        m.log_text()
    );
    assert_eq!(k.log_count("Entering MASTER STATE"), 1, "{}", k.log_text());
    let fifo_text = {
        use std::io::Read;
        let mut buf = vec![0u8; 4096];
        let n = reader.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(
        fifo_text,
        // Start, then the reload in configuration order: the kept
        // instance's state re-sent, the new one starting.
        "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_NEW\" BACKUP 100\nINSTANCE \"VI_NEW\" MASTER 100\n"
    );
}

/// A priority change by reload hands over through the protocol: lowered
/// below the keepalived backup's, the backup preempts; raised again, ours
/// preempts back.
#[test]
fn reload_priority_change_preempts() {
    if !require() {
        return;
    }
    let lab = Lab::new("rlp", 144, 2);
    let net = lab.net;
    let vrid = 40 + net;
    let a = format!("10.{net}.0.100");
    let ours = |prio| {
        rl_conf(
            0,
            "",
            &[rl_inst(&lab, "VI_1", vrid, "BACKUP", prio, &[100], "")],
        )
    };
    let m = Daemon::start(&lab, 0, Impl::Ours, &ours(150));
    let k = Daemon::start(
        &lab,
        1,
        Impl::Keepalived,
        &rl_conf(
            1,
            "",
            &[rl_inst(&lab, "VI_1", vrid, "BACKUP", 100, &[100], "")],
        ),
    );
    assert!(
        lab.wait_sole_holder(0, &a, Duration::from_secs(3)),
        "{}",
        m.log_text()
    );
    assert!(k.wait_log("(VI_1) Entering BACKUP STATE", Duration::from_secs(2)));
    m.reload(&ours(50));
    assert!(
        lab.wait_sole_holder(1, &a, Duration::from_secs(3)),
        "{}\n{}",
        m.log_text(),
        k.log_text()
    );
    assert!(
        k.log_has("(VI_1) received lower priority (50) advert"),
        "{}",
        k.log_text()
    );
    assert!(
        m.wait_log("(VI_1) Master received advert from", Duration::from_secs(1))
            && m.log_has("with higher priority 100, ours 50"),
        "{}",
        m.log_text()
    );
    m.reload(&ours(200));
    assert!(
        lab.wait_sole_holder(0, &a, Duration::from_secs(3)),
        "{}\n{}",
        m.log_text(),
        k.log_text()
    );
    assert!(
        k.wait_log("with higher priority 200, ours 100", Duration::from_secs(1)),
        "{}",
        k.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lab.holders(&a), vec![0]);
}

/// vrrp_script results survive a reload (keepalived `clear_diff_script`):
/// a succeeding script keeps the MASTER up, a failing one keeps the
/// instance in FAULT, and the rise count continues from where it was.
#[test]
fn reload_carries_script_results() {
    if !require() {
        return;
    }
    let lab = Lab::new("rls", 145, 1);
    let net = lab.net;
    let vip = format!("10.{net}.0.100");
    let flag = lab.file("kv-healthy");
    std::fs::write(&flag, "").unwrap();
    let conf = |rise: u32| {
        let script = format!(
            "vrrp_script chk {{\n script \"/usr/bin/test -e {}\"\n interval 1\n rise {rise}\n fall 1\n}}\n",
            flag.display()
        );
        let track = "track_script {\n chk\n }\n";
        format!(
            "{script}{}",
            rl_conf(
                0,
                " enable_script_security\n script_user root\n",
                &[rl_inst(
                    &lab,
                    "VI_1",
                    40 + net,
                    "BACKUP",
                    150,
                    &[100],
                    track
                )],
            )
        )
    };
    let m = Daemon::start(&lab, 0, Impl::Ours, &conf(1));
    assert!(
        lab.wait_sole_holder(0, &vip, Duration::from_secs(3)),
        "{}",
        m.log_text()
    );
    assert!(m.wait_log("VRRP_Script(chk) succeeded", Duration::from_secs(1)));
    m.reload(&conf(2));
    assert!(
        m.wait_log(
            "VRRP_Script(chk) considered successful on reload",
            Duration::from_secs(2)
        ),
        "{}",
        m.log_text()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lab.holders(&vip), vec![0]);
    assert!(!m.log_has("FAULT"), "{}", m.log_text());

    std::fs::remove_file(&flag).unwrap();
    assert!(
        m.wait_log("(VI_1) Entering FAULT STATE", Duration::from_secs(3)),
        "{}",
        m.log_text()
    );
    m.reload(&conf(2));
    assert!(
        m.wait_log(
            "VRRP_Script(chk) considered unsuccessful on reload",
            Duration::from_secs(2)
        ),
        "{}",
        m.log_text()
    );
    assert!(m.wait_log(
        "(VI_1): entering FAULT state due to script chk",
        Duration::from_secs(1)
    ));
    std::thread::sleep(Duration::from_millis(800));
    assert!(lab.holders(&vip).is_empty(), "{}", m.log_text());
    assert_eq!(m.log_count("Entering MASTER STATE"), 1, "{}", m.log_text());
    // rise 2 from the carried failure: two runs, a second apart.
    std::fs::write(&flag, "").unwrap();
    let t0 = std::time::Instant::now();
    assert!(
        lab.wait_sole_holder(0, &vip, Duration::from_secs(4)),
        "{}",
        m.log_text()
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
}

/// A sync group survives a reload: kept MASTER members stay MASTER without
/// the group syncing again; a member removed from the file is stopped and
/// the rebuilt group goes on with the rest.
#[test]
fn reload_rebuilds_sync_group() {
    if !require() {
        return;
    }
    let lab = Lab::new("rlg", 146, 1);
    let net = lab.net;
    let (a, b, a2) = (
        format!("10.{net}.0.100"),
        format!("10.{net}.0.110"),
        format!("10.{net}.0.101"),
    );
    let conf = |members: &[&str], a_vips: &[u8]| {
        let mut insts = vec![rl_inst(&lab, "VI_A", 40 + net, "BACKUP", 150, a_vips, "")];
        if members.contains(&"VI_B") {
            insts.push(rl_inst(&lab, "VI_B", 41 + net, "BACKUP", 150, &[110], ""));
        }
        format!(
            "{}vrrp_sync_group G1 {{\n group {{\n{} }}\n}}\n",
            rl_conf(0, "", &insts),
            members
                .iter()
                .map(|m| format!("  {m}\n"))
                .collect::<String>()
        )
    };
    let m = Daemon::start(&lab, 0, Impl::Ours, &conf(&["VI_A", "VI_B"], &[100]));
    assert!(
        lab.wait_sole_holder(0, &a, Duration::from_secs(3))
            && lab.wait_sole_holder(0, &b, Duration::from_secs(1)),
        "{}",
        m.log_text()
    );
    assert!(m.wait_log(
        "VRRP_Group(G1) Syncing instances to MASTER state",
        Duration::from_secs(1)
    ));
    m.reload(&conf(&["VI_A", "VI_B"], &[100, 101]));
    assert!(
        lab.wait_sole_holder(0, &a2, Duration::from_secs(2)),
        "{}",
        m.log_text()
    );
    m.reload(&conf(&["VI_A"], &[100, 101]));
    assert!(
        netns::wait_until(Duration::from_secs(2), || lab.holders(&b).is_empty()),
        "{}",
        m.log_text()
    );
    m.wait_log_count("Reloading", 4, Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lab.holders(&a), vec![0]);
    assert_eq!(lab.holders(&a2), vec![0]);
    assert_eq!(m.log_count("Entering MASTER STATE"), 2, "{}", m.log_text());
    assert_eq!(
        m.log_count("VRRP_Group(G1) Syncing instances to"),
        1,
        "{}",
        m.log_text()
    );
    assert!(m.log_has("(VI_B) sent 0 priority"), "{}", m.log_text());
}

/// A vrrp_script tracked by the sync group (not by its members) puts the
/// whole group in FAULT when it fails, and back when it recovers: keepalived
/// adds the group's tracking to every member.
fn sync_group_track_script(tag: &str, net: u8, which: Impl) {
    if !require() {
        return;
    }
    let lab = Lab::new(tag, net, 1);
    let flag = lab.file("kv-healthy");
    std::fs::write(&flag, "").unwrap();
    let inst = |name: &str, vrid: u8, vip: u8| {
        format!(
            "vrrp_instance {name} {{\n state MASTER\n interface kv-e0\n virtual_router_id {vrid}\n \
             priority 150\n advert_int 0.2\n version 3\n virtual_ipaddress {{\n  10.{net}.0.{vip}/24\n }}\n}}\n"
        )
    };
    let conf = format!(
        "global_defs {{\n enable_script_security\n script_user root\n}}\n\
         vrrp_script kv_chk {{\n script \"/usr/bin/test -e {}\"\n interval 0.2\n rise 1\n fall 1\n}}\n\
         vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_2\n }}\n track_script {{\n  kv_chk\n }}\n}}\n{}{}",
        flag.display(),
        inst("VI_1", 81, 100),
        inst("VI_2", 82, 101),
    );
    let d = Daemon::start(&lab, 0, which, &conf);
    let (v1, v2) = (format!("10.{net}.0.100"), format!("10.{net}.0.101"));
    let both = |held: bool| {
        netns::wait_until(Duration::from_secs(5), || {
            lab.has_addr(0, &v1) == held && lab.has_addr(0, &v2) == held
        })
    };
    assert!(both(true), "{which:?}: group not master\n{}", d.log_text());
    std::fs::remove_file(&flag).unwrap();
    assert!(
        both(false),
        "{which:?}: VIPs kept after the group's script failed\n{}",
        d.log_text()
    );
    for i in ["VI_1", "VI_2"] {
        assert!(
            d.wait_log(
                &format!("({i}) Entering FAULT STATE"),
                Duration::from_secs(2)
            ),
            "{which:?}: {i} not in FAULT\n{}",
            d.log_text()
        );
    }
    std::fs::write(&flag, "").unwrap();
    assert!(
        both(true),
        "{which:?}: group did not recover\n{}",
        d.log_text()
    );
}

#[test]
fn sync_group_track_script_ours() {
    sync_group_track_script("sgto", 171, Impl::Ours);
}

#[test]
fn sync_group_track_script_keepalived() {
    sync_group_track_script("sgtk", 172, Impl::Keepalived);
}

/// `vrrp_garp_interval` spaces the gratuitous ARPs sent on one interface.
/// With 0.1 s, our first burst as a new master (5 per VIP, two VIPs) takes
/// about a second. keepalived 2.2.7 paces the same way but, with an interval
/// set, sends only one GARP per VIP plus one (measured; its repeat count is
/// lost in its queue): a documented difference, so only the spacing is
/// compared.
fn garp_interval(tag: &str, net: u8, which: Impl) {
    if !require() {
        return;
    }
    let lab = Lab::new(tag, net, 1);
    let conf = format!(
        "global_defs {{\n vrrp_garp_interval 0.1\n vrrp_garp_master_delay 0\n}}\n\
         vrrp_instance VI_1 {{\n state MASTER\n interface kv-e0\n virtual_router_id 83\n \
         priority 150\n advert_int 1\n virtual_ipaddress {{\n  10.{net}.0.100/24\n  10.{net}.0.101/24\n }}\n}}\n"
    );
    let cap = Capture::start(&lab, "garp");
    let d = Daemon::start(&lab, 0, which, &conf);
    assert!(
        netns::wait_until(Duration::from_secs(5), || lab
            .has_addr(0, &format!("10.{net}.0.101"))),
        "{which:?} not master\n{}",
        d.log_text()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let lines = cap.finish();
    let times: Vec<f64> = lines
        .iter()
        .filter(|l| l.contains("Request who-has") && l.contains("ff:ff:ff:ff:ff:ff) tell"))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    let want = if which == Impl::Ours { 10 } else { 3 };
    assert_eq!(times.len(), want, "{which:?}: {}", lines.join("\n"));
    for w in times.windows(2) {
        // 0.1 s apart, give or take the capture's and the timers' jitter.
        assert!(
            w[1] - w[0] > 0.08,
            "{which:?}: GARPs {:.3} s apart\n{}",
            w[1] - w[0],
            lines.join("\n")
        );
    }
}

#[test]
fn garp_interval_ours() {
    garp_interval("gio", 173, Impl::Ours);
}

#[test]
fn garp_interval_keepalived() {
    garp_interval("gik", 174, Impl::Keepalived);
}

/// `child_wait_time`: how long the parent waits for a child that does not
/// stop after SIGTERM before it kills it (keepalived's default 5 s).
#[test]
fn child_wait_time_bounds_the_stop() {
    if !require() {
        return;
    }
    let lab = Lab::new("cwt", 175, 1);
    let conf = "child_wait_time 1\nvrrp_instance VI_1 {\n state BACKUP\n interface kv-e0\n \
                virtual_router_id 85\n priority 100\n advert_int 1\n virtual_ipaddress {\n  10.175.0.100/24\n }\n}\n";
    let mut d = Daemon::start(&lab, 0, Impl::Ours, conf);
    // A VRRP process that cannot act on SIGTERM.
    d.signal_vrrp(Signal::SIGSTOP);
    let t = std::time::Instant::now();
    d.stop();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "stop took {took:?}\n{}",
        d.log_text()
    );
}

/// The IPv4 parameters read in a router namespace, `IF.param` → value.
fn ipv4_conf(lab: &Lab, i: usize, ifaces: &[&str]) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let params = [
        "rp_filter",
        "arp_ignore",
        "arp_filter",
        "accept_local",
        "promote_secondaries",
    ];
    for f in ifaces {
        let mut paths: Vec<String> = params
            .iter()
            .map(|p| format!("/proc/sys/net/ipv4/conf/{f}/{p}"))
            .collect();
        if *f != "all" && *f != "default" {
            paths.push(format!("/proc/sys/net/ipv6/conf/{f}/disable_ipv6"));
            paths.push(format!("/proc/sys/net/ipv6/conf/{f}/addr_gen_mode"));
        }
        for p in paths {
            let out_p = std::process::Command::new("ip")
                .args(["netns", "exec", &lab.ns(i), "cat", &p])
                .output()
                .unwrap();
            let v = if out_p.status.success() {
                String::from_utf8_lossy(&out_p.stdout).trim().to_owned()
            } else {
                "-".to_owned()
            };
            let key = format!("{f}.{}", p.rsplit('/').next().unwrap_or_default());
            out.insert(key, v);
        }
    }
    out
}

/// What one daemon did to the interface parameters over its life.
struct ConfRun {
    before: std::collections::BTreeMap<String, String>,
    running: std::collections::BTreeMap<String, String>,
    after: std::collections::BTreeMap<String, String>,
    /// keepalived's `NOTICE: ... sysctl ...` lines, without timestamps.
    notices: Vec<String>,
    /// `ip -6 addr show dev VMAC` address lines (scope link), normalised.
    vmac_ll: Vec<String>,
    /// The base interface's link-local address.
    base_ll: Vec<String>,
    /// The bridge capture (`tcpdump -e`).
    capture: Vec<String>,
}

fn link_locals(lab: &Lab, dev: &str) -> Vec<String> {
    let out = netns::sh(&["ip", "-n", &lab.ns(0), "-6", "addr", "show", "dev", dev]);
    let lines: Vec<&str> = out.lines().collect();
    let mut v = Vec::new();
    for (k, l) in lines.iter().enumerate() {
        if l.contains("scope link") {
            let life = lines.get(k + 1).map(|s| s.trim()).unwrap_or_default();
            v.push(format!("{} | {life}", l.trim()));
        }
    }
    v
}

/// One router with `kv-e0` (arp_ignore=0, all.rp_filter=1 set beforehand)
/// runs `which` with a use_vmac (or `extra`) instance until it is master,
/// then gets SIGTERM.
fn conf_run(tag: &str, net: u8, which: Impl, v: Variant, extra: &str) -> ConfRun {
    let lab = Lab::new(tag, net, 1);
    let ns = lab.ns(0);
    netns::sh(&[
        "ip",
        "netns",
        "exec",
        &ns,
        "sysctl",
        "-qw",
        "net.ipv4.conf.all.rp_filter=1",
        "net.ipv4.conf.kv-e0.arp_ignore=0",
        "net.ipv4.conf.kv-e0.arp_filter=0",
    ]);
    let vrid = 40 + u32::from(net);
    let vmac = format!("vrrp.{vrid}");
    let ifaces = ["all", "default", "lo", "kv-e0", vmac.as_str()];
    let before = ipv4_conf(&lab, 0, &ifaces);
    let cap = Capture::start(&lab, "conf");
    let mut d = Daemon::start(
        &lab,
        0,
        which,
        &conf(
            &lab,
            0,
            v,
            &Inst {
                prio: 150,
                extra,
                ..Default::default()
            },
        ),
    );
    let vip = v.vip(&lab);
    assert!(
        lab.wait_sole_holder(0, &vip, v.takeover() * 2),
        "{which:?} never became master:\n{}",
        d.log_text()
    );
    let running = ipv4_conf(&lab, 0, &ifaces);
    let has_vmac = extra.contains("use_vmac");
    let vmac_ll = if has_vmac {
        link_locals(&lab, &vmac)
    } else {
        Vec::new()
    };
    let base_ll = link_locals(&lab, "kv-e0");
    std::thread::sleep(Duration::from_millis(300));
    let capture = cap.finish();
    d.stop();
    assert!(
        netns::wait_until(Duration::from_secs(3), || !netns::sh(&[
            "ip", "-n", &ns, "link", "show"
        ])
        .contains(&vmac)),
        "{which:?} left the VMAC behind"
    );
    let after = ipv4_conf(&lab, 0, &ifaces);
    let notices: Vec<String> = d
        .log_text()
        .lines()
        .filter_map(|l| l.find("NOTICE: ").map(|p| l[p..].to_owned()))
        .filter(|l| l.contains("sysctl"))
        .collect();
    eprintln!(
        "{which:?}: before {before:?}\nrunning {running:?}\nafter {after:?}\nnotices {notices:?}\nvmac ll {vmac_ll:?}\nbase ll {base_ll:?}"
    );
    ConfRun {
        before,
        running,
        after,
        notices,
        vmac_ll,
        base_ll,
        capture,
    }
}

/// Keys whose values differ between two snapshots.
fn conf_diff(
    a: &std::collections::BTreeMap<String, String>,
    b: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}: {v} vs {}", b.get(k).map_or("?", |s| s)))
        .collect()
}

/// use_vmac over IPv4 with all.rp_filter=1 and a base interface with
/// arp_ignore=0: Debian's keepalived first, then ours, each in a fresh
/// namespace. The VMAC's, the base interface's and all/default values while
/// running, the values after SIGTERM and the NOTICE lines must be the same.
/// Two documented differences (see vrrp/src/ifconf.rs): keepalived 2.2.7
/// (IPV4_DEVCONF) leaves the base interface's arp_ignore/arp_filter at 1
/// after stop where we put back 0, and it does not raise `lo` (which keeps
/// rp_filter 0 while all.rp_filter is 0) where we do.
#[test]
fn vmac_interface_parameters_match_keepalived() {
    if !require() {
        return;
    }
    let ka = conf_run("vsk4", 190, Impl::Keepalived, Variant::V3v4, "use_vmac\n");
    let ours = conf_run("vso4", 191, Impl::Ours, Variant::V3v4, "use_vmac\n");
    let vm_ka = "vrrp.230";
    let vm_ours = "vrrp.231";
    let norm = |m: &std::collections::BTreeMap<String, String>, vm: &str| {
        m.iter()
            .map(|(k, v)| (k.replace(vm, "VMAC"), v.clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (kb, ob) = (norm(&ka.before, vm_ka), norm(&ours.before, vm_ours));
    assert_eq!(kb, ob, "different starting points");
    assert_eq!(kb["all.rp_filter"], "1");
    assert_eq!(kb["kv-e0.arp_ignore"], "0");

    // While running.
    let (mut kr, or) = (norm(&ka.running, vm_ka), norm(&ours.running, vm_ours));
    for (k, v) in [
        ("all.rp_filter", "0"),
        ("default.rp_filter", "1"),
        ("kv-e0.rp_filter", "1"),
        ("kv-e0.arp_ignore", "1"),
        ("kv-e0.arp_filter", "1"),
        ("VMAC.rp_filter", "0"),
        ("VMAC.arp_ignore", "1"),
        ("VMAC.accept_local", "1"),
        ("VMAC.promote_secondaries", "1"),
        ("VMAC.disable_ipv6", "1"),
        ("VMAC.addr_gen_mode", "1"),
    ] {
        assert_eq!(kr[k], v, "keepalived {k}");
    }
    assert_eq!(kr["lo.rp_filter"], "0", "keepalived left lo alone");
    assert_eq!(or["lo.rp_filter"], "1", "we raise lo with the others");
    kr.insert("lo.rp_filter".into(), "1".into());
    assert_eq!(conf_diff(&kr, &or), Vec::<String>::new(), "while running");
    assert!(ours.vmac_ll.is_empty(), "{:?}", ours.vmac_ll);
    assert!(ka.vmac_ll.is_empty(), "{:?}", ka.vmac_ll);

    // After SIGTERM.
    let (mut ka_after, ours_after) = (norm(&ka.after, vm_ka), norm(&ours.after, vm_ours));
    assert_eq!(
        ka_after["kv-e0.arp_ignore"], "1",
        "keepalived does not restore"
    );
    assert_eq!(
        ka_after["kv-e0.arp_filter"], "1",
        "keepalived does not restore"
    );
    ka_after.insert("kv-e0.arp_ignore".into(), "0".into());
    ka_after.insert("kv-e0.arp_filter".into(), "0".into());
    assert_eq!(
        conf_diff(&ka_after, &ours_after),
        Vec::<String>::new(),
        "after stop"
    );
    assert_eq!(
        conf_diff(&ours_after, &ob),
        Vec::<String>::new(),
        "ours restored all"
    );

    assert_eq!(
        ka.notices,
        [
            "NOTICE: setting sysctl net.ipv4.conf.default.rp_filter from 0 to 1",
            "NOTICE: setting sysctl net.ipv4.conf.all.rp_filter from 1 to 0",
            "NOTICE: resetting sysctl net.ipv4.conf.all.rp_filter to 1",
            "NOTICE: resetting sysctl net.ipv4.conf.default.rp_filter to 0",
        ]
    );
    assert_eq!(ours.notices, ka.notices);
}

/// use_vmac over IPv6: no IPv4 parameters change, the VMAC keeps IPv6
/// with addr_gen_mode none, and carries the base interface's link-local
/// address, nodad and deprecated, as keepalived gives it.
#[test]
fn vmac_ipv6_link_local_matches_keepalived() {
    if !require() {
        return;
    }
    let ka = conf_run("vsk6", 192, Impl::Keepalived, Variant::V3v6, "use_vmac\n");
    let ours = conf_run("vso6", 193, Impl::Ours, Variant::V3v6, "use_vmac\n");
    for (r, vm, who) in [(&ka, "vrrp.232", "keepalived"), (&ours, "vrrp.233", "ours")] {
        assert_eq!(r.running[&format!("{vm}.addr_gen_mode")], "1", "{who}");
        assert_eq!(r.running[&format!("{vm}.disable_ipv6")], "0", "{who}");
        assert_eq!(r.running[&format!("{vm}.arp_ignore")], "0", "{who}");
        assert_eq!(r.running["all.rp_filter"], "1", "{who}");
        assert_eq!(
            conf_diff(&r.after, &r.before),
            Vec::<String>::new(),
            "{who}"
        );
        assert!(r.notices.is_empty(), "{who}: {:?}", r.notices);
        assert_eq!(r.vmac_ll.len(), 1, "{who}: {:?}", r.vmac_ll);
        let ll = r.base_ll[0].split_whitespace().nth(1).unwrap().to_owned();
        assert!(
            r.vmac_ll[0].starts_with(&format!("inet6 {ll} scope link")),
            "{who}: {:?} vs {ll}",
            r.vmac_ll
        );
    }
    // Adverts leave from the VMAC's MAC with that link-local source.
    for (r, vrid, who) in [(&ka, 232u32, "keepalived"), (&ours, 233, "ours")] {
        let ll = r.base_ll[0].split_whitespace().nth(1).unwrap();
        let ll = ll.split('/').next().unwrap();
        let mac = format!("00:00:5e:00:02:{vrid:02x} > ");
        let from_vmac = r
            .capture
            .iter()
            .filter(|l| l.contains(&mac) && l.contains(&format!("{ll} > ff02::12")))
            .count();
        assert!(from_vmac >= 3, "{who}:\n{}", r.capture.join("\n"));
    }
    let strip = |s: &str| s.split_whitespace().skip(2).collect::<Vec<_>>().join(" ");
    assert_eq!(strip(&ours.vmac_ll[0]), strip(&ka.vmac_ll[0]));
}

/// `promote_secondaries` (no VMAC): set on the interface while running,
/// cleared at stop, as keepalived does.
#[test]
fn promote_secondaries_matches_keepalived() {
    if !require() {
        return;
    }
    let extra = "promote_secondaries\n";
    let ka = conf_run("psk", 194, Impl::Keepalived, Variant::V3v4, extra);
    let ours = conf_run("pso", 195, Impl::Ours, Variant::V3v4, extra);
    for (r, who) in [(&ka, "keepalived"), (&ours, "ours")] {
        assert_eq!(r.before["kv-e0.promote_secondaries"], "0", "{who}");
        assert_eq!(r.running["kv-e0.promote_secondaries"], "1", "{who}");
        assert_eq!(r.running["all.rp_filter"], "1", "{who}");
        assert_eq!(
            conf_diff(&r.after, &r.before),
            Vec::<String>::new(),
            "{who}"
        );
        assert!(r.notices.is_empty(), "{who}: {:?}", r.notices);
    }
    let no_vmac = |m: &std::collections::BTreeMap<String, String>| {
        m.iter()
            .filter(|(k, _)| !k.starts_with("vrrp."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(
        conf_diff(&no_vmac(&ka.running), &no_vmac(&ours.running)),
        Vec::<String>::new()
    );
}

/// SIGHUP with a new configuration: keepalived's own parent gets it (it
/// runs under `timeout`, which would send it to the whole group).
fn reload_with(d: &Daemon, conf: &str) {
    std::fs::write(&d.conf, conf).unwrap();
    match d.which {
        Impl::Ours => d.signal(Signal::SIGHUP),
        Impl::Keepalived => {
            let pid: i32 = std::fs::read_to_string(&d.pid)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGHUP).unwrap();
        }
    }
}

type Conf = std::collections::BTreeMap<String, String>;

/// A reload adds a use_vmac instance next to a plain one, a second reload
/// removes it, then SIGTERM: the parameters at each step and the NOTICE
/// lines (rp_filter is cleared at the first VMAC, also on reload, and only
/// put back at stop).
fn vmac_reload_run(tag: &str, net: u8, which: Impl) -> (Vec<Conf>, Vec<String>) {
    let lab = Lab::new(tag, net, 1);
    let ns = lab.ns(0);
    netns::sh(&[
        "ip",
        "netns",
        "exec",
        &ns,
        "sysctl",
        "-qw",
        "net.ipv4.conf.all.rp_filter=1",
        "net.ipv4.conf.kv-e0.arp_ignore=0",
        "net.ipv4.conf.kv-e0.arp_filter=0",
    ]);
    let plain = rl_inst(&lab, "VI_1", 60, "BACKUP", 150, &[100], "");
    let vmac = rl_inst(&lab, "VI_2", 61, "BACKUP", 150, &[101], "use_vmac\n");
    let one = rl_conf(0, "", std::slice::from_ref(&plain));
    let two = rl_conf(0, "", &[plain.clone(), vmac]);
    let ifaces = ["all", "default", "lo", "kv-e0", "vrrp.61"];
    let mut snaps = vec![ipv4_conf(&lab, 0, &ifaces)];
    let mut d = Daemon::start(&lab, 0, which, &one);
    let v1 = format!("10.{net}.0.100");
    let v2 = format!("10.{net}.0.101");
    assert!(
        lab.wait_sole_holder(0, &v1, Duration::from_secs(3)),
        "{}",
        d.log_text()
    );
    snaps.push(ipv4_conf(&lab, 0, &ifaces));
    reload_with(&d, &two);
    assert!(
        lab.wait_sole_holder(0, &v2, Duration::from_secs(5)),
        "{which:?}: VI_2 never master:\n{}",
        d.log_text()
    );
    snaps.push(ipv4_conf(&lab, 0, &ifaces));
    reload_with(&d, &one);
    assert!(
        netns::wait_until(Duration::from_secs(5), || !lab.has_addr(0, &v2)
            && !netns::sh(&["ip", "-n", &ns, "link", "show"]).contains("vrrp.61")),
        "{which:?}: VMAC not removed by the reload:\n{}",
        d.log_text()
    );
    std::thread::sleep(Duration::from_millis(300));
    snaps.push(ipv4_conf(&lab, 0, &ifaces));
    d.stop();
    snaps.push(ipv4_conf(&lab, 0, &ifaces));
    let notices = d
        .log_text()
        .lines()
        .filter_map(|l| l.find("NOTICE: ").map(|p| l[p..].to_owned()))
        .filter(|l| l.contains("sysctl"))
        .collect();
    eprintln!("{which:?}: {snaps:#?}\n{notices:?}");
    (snaps, notices)
}

#[test]
fn vmac_reload_parameters_match_keepalived() {
    if !require() {
        return;
    }
    let (ka, ka_notices) = vmac_reload_run("vrk", 196, Impl::Keepalived);
    let (ours, ours_notices) = vmac_reload_run("vro", 197, Impl::Ours);
    // Steps: 0 before, 1 plain instance, 2 VMAC added, 3 VMAC removed, 4 stopped.
    assert_eq!(ka[2]["all.rp_filter"], "0");
    assert_eq!(ka[2]["vrrp.61.rp_filter"], "0");
    assert_eq!(ka[3]["all.rp_filter"], "0", "not put back on reload");
    assert_eq!(ka[4]["all.rp_filter"], "1");
    for step in 0..5 {
        let mut k = ka[step].clone();
        let o = &ours[step];
        if step == 2 || step == 3 {
            // We raise lo too (see vmac_interface_parameters_match_keepalived).
            assert_eq!(
                (k["lo.rp_filter"].as_str(), o["lo.rp_filter"].as_str()),
                ("0", "1")
            );
            k.insert("lo.rp_filter".into(), "1".into());
        }
        if step >= 3 {
            // keepalived leaves the base interface's ARP settings at 1.
            for p in ["kv-e0.arp_ignore", "kv-e0.arp_filter"] {
                assert_eq!(
                    (k[p].as_str(), o[p].as_str()),
                    ("1", "0"),
                    "step {step} {p}"
                );
                k.insert(p.into(), "0".into());
            }
        }
        assert_eq!(conf_diff(&k, o), Vec::<String>::new(), "step {step}");
    }
    assert_eq!(conf_diff(&ours[4], &ours[0]), Vec::<String>::new());
    assert_eq!(ka_notices.len(), 4, "{ka_notices:?}");
    assert_eq!(ours_notices, ka_notices);
}

// ---- weight-0 scripts hold their instances until the first result ------

/// One run of [`script_init`]: the VRRP log lines without timestamps and
/// the notify FIFO's lines.
struct InitRun {
    lines: Vec<String>,
    fifo: String,
}

/// Runs `which` alone in router 0 of `lab` with `body` (instances and
/// scripts; the global_defs are added here, with a notify FIFO), checks
/// that nothing is advertised and no VIP added before `released` (the
/// releasing script's result, due after `hold`) is logged, then waits for
/// `until` in the log and stops the daemon.
fn script_init_run(
    lab: &Lab,
    which: Impl,
    body: &str,
    vips: &[String],
    (hold, released): (Duration, &str),
    until: &str,
) -> InitRun {
    let who = if which == Impl::Ours { "ours" } else { "ka" };
    let fifo = lab.file(&format!("kv-{who}.fifo"));
    let conf = format!(
        "global_defs {{\n enable_script_security\n script_user root\n router_id kv0\n vrrp_notify_fifo {}\n}}\n{body}",
        fifo.display()
    );
    let cap = Capture::start(lab, &format!("init-{who}"));
    let t0 = std::time::Instant::now();
    let mut d = Daemon::start(lab, 0, which, &conf);
    let mut reader = None;
    let mut first_result = None;
    // Watch the hold: no VIP, no state line, until the script reports.
    netns::wait_until(hold + Duration::from_secs(4), || {
        if reader.is_none() {
            use std::os::unix::fs::OpenOptionsExt;
            reader = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                .open(&fifo)
                .ok();
        }
        let log = d.log_text();
        let reported = log.contains(released);
        if !reported {
            assert!(
                !log.contains("Entering") && vips.iter().all(|v| !lab.has_addr(0, v)),
                "{which:?}: not held before the script's first result\n{log}"
            );
        }
        if reported && first_result.is_none() {
            first_result = Some(t0.elapsed());
        }
        reported
    });
    let first_result =
        first_result.unwrap_or_else(|| panic!("{which:?}: no script result\n{}", d.log_text()));
    assert!(
        first_result >= hold,
        "{which:?}: script reported after {first_result:?}"
    );
    let packets = cap.finish();
    let src = lab.ip4(0, "");
    assert!(
        !packets
            .iter()
            .any(|l| l.contains(&format!("{src} > ")) && l.contains("VRRP")),
        "{which:?}: advertised while held\n{}",
        packets.join("\n")
    );
    assert!(
        d.wait_log(until, Duration::from_secs(6)),
        "{which:?}: no {until:?}\n{}",
        d.log_text()
    );
    // Let anything that would wrongly follow show up.
    std::thread::sleep(Duration::from_millis(1200));
    d.stop();
    let fifo = {
        use std::io::Read;
        let mut buf = vec![0u8; 8192];
        let n = reader.as_mut().map_or(0, |r| r.read(&mut buf).unwrap_or(0));
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let lines = d
        .log_text()
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, t)| t))
        .filter(|t| {
            (t.starts_with("(VI_") || t.starts_with("VRRP_") || t.starts_with("Script `"))
                && !t.contains("Sending/queueing gratuitous ARPs")
        })
        .map(str::to_owned)
        .collect();
    InitRun { lines, fifo }
}

/// keepalived first, then ours, in the same namespace; the log lines and
/// FIFO lines must be the same (up to the first line containing `cut`, if
/// given, where timer ties may order the two differently).
fn script_init(
    tag: &str,
    net: u8,
    body: &str,
    (vips, released): (&[&str], &str),
    until: &str,
    cut: Option<&str>,
) {
    if !require() {
        return;
    }
    let lab = Lab::new(tag, net, 1);
    let vips: Vec<String> = vips.iter().map(|v| format!("10.{net}.0.{v}")).collect();
    let hold = Duration::from_millis(4500);
    let ka = script_init_run(&lab, Impl::Keepalived, body, &vips, (hold, released), until);
    let ours = script_init_run(&lab, Impl::Ours, body, &vips, (hold, released), until);
    let cut_lines = |l: &[String]| -> Vec<String> {
        let end = cut
            .and_then(|c| l.iter().position(|x| x.contains(c)))
            .unwrap_or(l.len());
        l[..end].to_vec()
    };
    assert_eq!(
        cut_lines(&ours.lines),
        cut_lines(&ka.lines),
        "log lines differ (ours, keepalived)"
    );
    let (of, kf) = match cut {
        None => (ours.fifo.clone(), ka.fifo.clone()),
        // With a cut, the FIFO lines up to the group's BACKUP.
        Some(_) => {
            let upto = |f: &str| {
                f.lines()
                    .take_while(|l| !l.contains("MASTER"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            (upto(&ours.fifo), upto(&ka.fifo))
        }
    };
    assert_eq!(of, kf, "FIFO lines differ (ours, keepalived)");
    assert!(!kf.is_empty(), "no FIFO lines");
}

fn script_init_conf(net: u8, scripts: &str, track: &str) -> String {
    format!(
        "{scripts}vrrp_instance VI_1 {{\n state BACKUP\n interface kv-e0\n virtual_router_id {}\n \
         priority 100\n advert_int 1\n virtual_ipaddress {{\n  10.{net}.0.100/24\n }}\n{track}}}\n",
        40 + net
    )
}

fn init_script(name: &str, body: &str, extra: &str) -> String {
    format!(
        "vrrp_script {name} {{\n script \"/bin/sh -c '{body}'\"\n interval 1\n timeout 10\n weight 0\n{extra}}}\n"
    )
}

/// A weight-0 script that takes 5 s and succeeds: held silently (no
/// "(init)" line, no notify, no advert), then "Entering BACKUP STATE"
/// with a BACKUP notify, and MASTER a master-down interval later.
#[test]
fn script_init_holds_until_success() {
    script_init(
        "kiok",
        190,
        &script_init_conf(
            190,
            &init_script("chk", "sleep 5; exit 0", ""),
            " track_script {\n  chk\n }\n",
        ),
        (&["100"], "VRRP_Script(chk)"),
        "(VI_1) Entering MASTER STATE",
        None,
    );
}

/// The same script failing: no "Entering" line at all, a FAULT notify.
#[test]
fn script_init_holds_until_failure() {
    script_init(
        "kifl",
        191,
        &script_init_conf(
            191,
            &init_script("chk", "sleep 5; exit 1", ""),
            " track_script {\n  chk\n }\n",
        ),
        (&["100"], "VRRP_Script(chk)"),
        "VRRP_Script(chk) failed",
        None,
    );
}

/// `init_fail` changes nothing in keepalived 2.2.7 for a tracked script
/// (tracking resets the script's init state): held, then up on success.
#[test]
fn script_init_fail_keyword_is_reset_by_tracking() {
    script_init(
        "kiif",
        192,
        &script_init_conf(
            192,
            &init_script("chk", "sleep 5; exit 0", " init_fail\n"),
            " track_script {\n  chk\n }\n",
        ),
        (&["100"], "VRRP_Script(chk)"),
        "(VI_1) Entering MASTER STATE",
        None,
    );
}

/// A sync group whose members track scripts reporting after 2 s and 5 s:
/// the whole group waits for the later one; its success brings that
/// member up and the group syncs the other. (Compared up to the master
/// election, where keepalived and we break the timer tie differently.)
#[test]
fn script_init_sync_group_waits_for_all() {
    let net = 193;
    let inst = |name: &str, vrid: u8, vip: u8, script: &str| {
        format!(
            "vrrp_instance {name} {{\n state BACKUP\n interface kv-e0\n virtual_router_id {vrid}\n \
             priority 100\n advert_int 1\n virtual_ipaddress {{\n  10.{net}.0.{vip}/24\n }}\n \
             track_script {{\n  {script}\n }}\n}}\n"
        )
    };
    let body = format!(
        "{}{}vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_2\n }}\n}}\n{}{}",
        init_script("chkA", "sleep 2; exit 0", ""),
        init_script("chkB", "sleep 5; exit 0", ""),
        inst("VI_1", 83, 100, "chkA"),
        inst("VI_2", 84, 101, "chkB"),
    );
    script_init(
        "kisg",
        net,
        &body,
        (&["100", "101"], "VRRP_Script(chkB)"),
        "VRRP_Group(G) Syncing instances to MASTER state",
        Some("Receive advertisement timeout"),
    );
}

/// The lines a reload comparison looks at: state changes and script
/// results, without timestamps.
fn init_state_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split_once(": ").map(|(_, t)| t))
        .filter(|t| {
            t.contains("Entering")
                || t.starts_with("VRRP_Script(")
                || t.contains("advertisement timeout")
        })
        .map(str::to_owned)
        .collect()
}

/// Reloads do not hold running instances (keepalived
/// SCRIPT_INIT_STATE_INIT_RELOAD): a reload adding a weight-0 script that
/// takes 3 s keeps the MASTER tracking it MASTER, and a new instance
/// tracking it starts in BACKUP (init) at once. A script still without a
/// result at a reload keeps holding (SCRIPT_INIT_STATE_INIT carried over):
/// nothing comes up until the restarted script reports.
#[test]
fn script_init_reload() {
    if !require() {
        return;
    }
    let net = 194;
    let lab = Lab::new("kirl", net, 1);
    let (v1, v2) = (format!("10.{net}.0.100"), format!("10.{net}.0.101"));
    let inst = |name: &str, vrid: u8, vip: &str, track: &str| {
        format!(
            "vrrp_instance {name} {{\n state BACKUP\n interface kv-e0\n virtual_router_id {vrid}\n \
             priority 100\n advert_int 1\n virtual_ipaddress {{\n  {vip}/24\n }}\n{track}}}\n"
        )
    };
    let global = "global_defs {\n enable_script_security\n script_user root\n router_id kv0\n}\n";
    let track = " track_script {\n  chk\n }\n";
    let before = format!("{global}{}", inst("VI_1", 85, &v1, ""));
    let after = format!(
        "{global}{}{}{}",
        init_script("chk", "sleep 3; exit 0", ""),
        inst("VI_1", 85, &v1, track),
        inst("VI_2", 86, &v2, track)
    );
    let held = format!(
        "{global}{}{}",
        init_script("chk", "sleep 5; exit 0", ""),
        inst("VI_1", 85, &v1, track)
    );
    // SIGHUP to the daemon's own process: `timeout`, which Debian's
    // keepalived runs under, would also pass it to the whole process group
    // and reload the VRRP child twice.
    let reload = |d: &Daemon, conf: &str| {
        std::fs::write(&d.conf, conf).unwrap();
        let pid: i32 = std::fs::read_to_string(&d.pid)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .expect("daemon pid file");
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGHUP);
    };
    let mut runs = Vec::new();
    for which in [Impl::Keepalived, Impl::Ours] {
        // A reload adding the script.
        let mut d = Daemon::start(&lab, 0, which, &before);
        assert!(
            lab.wait_sole_holder(0, &v1, Duration::from_secs(5)),
            "{which:?}\n{}",
            d.log_text()
        );
        reload(&d, &after);
        netns::wait_until(Duration::from_secs(5), || {
            assert!(
                lab.has_addr(0, &v1),
                "{which:?}: MASTER dropped its VIP at the reload\n{}",
                d.log_text()
            );
            d.log_has("VRRP_Script(chk) succeeded")
        });
        let log = d.log_text();
        let (init, result) = (
            log.find("(VI_2) Entering BACKUP STATE (init)"),
            log.find("VRRP_Script(chk) succeeded"),
        );
        assert!(
            init.is_some() && result.is_some() && init < result,
            "{which:?}: new instance held by a script the reload added\n{log}"
        );
        assert!(
            lab.wait_sole_holder(0, &v2, Duration::from_secs(6)),
            "{which:?}\n{}",
            d.log_text()
        );
        d.stop();
        let added = init_state_lines(&d.log_text());

        // A reload while the script has not reported yet.
        let t0 = std::time::Instant::now();
        let mut d = Daemon::start(&lab, 0, which, &held);
        std::thread::sleep(Duration::from_secs(2));
        let t_reload = t0.elapsed();
        reload(&d, &held);
        netns::wait_until(Duration::from_secs(8), || {
            let log = d.log_text();
            let reported = log.contains("VRRP_Script(chk)");
            assert!(
                reported || (!log.contains("Entering") && !lab.has_addr(0, &v1)),
                "{which:?}: not held across the reload\n{log}"
            );
            reported
        });
        let reported = t0.elapsed();
        assert!(
            reported >= t_reload + Duration::from_secs(4),
            "{which:?}: script reported {reported:?} after start (reload at {t_reload:?})\n{}",
            d.log_text()
        );
        assert!(
            d.wait_log("(VI_1) Entering MASTER STATE", Duration::from_secs(6)),
            "{which:?}\n{}",
            d.log_text()
        );
        d.stop();
        runs.push((added, init_state_lines(&d.log_text())));
    }
    assert_eq!(runs[1], runs[0], "state lines differ (ours, keepalived)");
}

/// A weight-0 track_file already non-zero at start: keepalived reads it
/// before its instances start, so they start in FAULT with its lines
/// ("entering FAULT state (tracked file ...)", "entering FAULT state") and
/// a FAULT notify, no "(init)" line, and come up when the file goes to 0.
/// In a sync group the group's line and notify follow. Compared with
/// keepalived (log lines up to the master election, FIFO lines up to the
/// group's BACKUP).
fn track_file_at_start(tag: &str, net: u8, group: bool) {
    if !require() {
        return;
    }
    let lab = Lab::new(tag, net, 1);
    let val = lab.file("kv-tf");
    let inst = |name: &str, vrid: u8, vip: u8, track: &str| {
        format!(
            "vrrp_instance {name} {{\n state BACKUP\n interface kv-e0\n virtual_router_id {vrid}\n \
             priority 100\n advert_int 1\n virtual_ipaddress {{\n  10.{net}.0.{vip}/24\n }}\n{track}}}\n"
        )
    };
    let track = " track_file {\n  tf\n }\n";
    let mut runs = Vec::new();
    for which in [Impl::Keepalived, Impl::Ours] {
        let who = if which == Impl::Ours { "ours" } else { "ka" };
        let fifo = lab.file(&format!("kv-{who}-tf.fifo"));
        let body = if group {
            format!(
                "vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_2\n }}\n}}\n{}{}",
                inst("VI_1", 87, 100, ""),
                inst("VI_2", 88, 101, track)
            )
        } else {
            inst("VI_1", 87, 100, track)
        };
        let conf = format!(
            "global_defs {{\n router_id kv0\n vrrp_notify_fifo {}\n}}\ntrack_file tf {{\n file {}\n weight 0\n}}\n{body}",
            fifo.display(),
            val.display()
        );
        std::fs::write(&val, "1\n").unwrap();
        let mut d = Daemon::start(&lab, 0, which, &conf);
        let mut reader = None;
        netns::wait_until(Duration::from_secs(2), || {
            use std::os::unix::fs::OpenOptionsExt;
            reader = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                .open(&fifo)
                .ok();
            reader.is_some()
        });
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            !lab.has_addr(0, &format!("10.{net}.0.100")) && !d.log_has("Entering"),
            "{which:?}: not in FAULT\n{}",
            d.log_text()
        );
        std::fs::write(&val, "0\n").unwrap();
        assert!(
            lab.wait_sole_holder(0, &format!("10.{net}.0.100"), Duration::from_secs(6)),
            "{which:?}: did not come up\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
        d.stop();
        let fifo = {
            use std::io::Read;
            let mut buf = vec![0u8; 8192];
            let n = reader.as_mut().map_or(0, |r| r.read(&mut buf).unwrap_or(0));
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        let fifo: Vec<String> = fifo
            .lines()
            .take_while(|l| !l.contains("MASTER"))
            .map(str::to_owned)
            .collect();
        let lines: Vec<String> = d
            .log_text()
            .lines()
            .filter_map(|l| l.split_once(": ").map(|(_, t)| t))
            .filter(|t| t.starts_with("(VI_") || t.starts_with("VRRP_Group"))
            .filter(|t| !t.contains("gratuitous ARP"))
            .take_while(|t| !t.contains("advertisement timeout"))
            .map(str::to_owned)
            .collect();
        runs.push((lines, fifo));
    }
    assert_eq!(runs[1].0, runs[0].0, "log lines differ (ours, keepalived)");
    assert_eq!(runs[1].1, runs[0].1, "FIFO lines differ (ours, keepalived)");
    assert!(
        runs[0]
            .0
            .iter()
            .any(|l| l.ends_with("entering FAULT state (tracked file tf has status -254)")),
        "{:?}",
        runs[0].0
    );
}

#[test]
fn track_file_at_start_single() {
    track_file_at_start("kitf", 195, false);
}

#[test]
fn track_file_at_start_sync_group() {
    track_file_at_start("kitg", 196, true);
}

// ---- rejected adverts ---------------------------------------------------

/// What makes router 1 reject router 0's adverts.
#[derive(Clone, Copy)]
enum Reject {
    Password,
    AhPassword,
    Interval,
}

/// Router 0 (ours, priority 150) advertises as master for 4.5 s to router 1
/// (`which`), whose configuration makes it reject every advert. Returns
/// router 1's log lines about them, timestamps removed.
fn rejected(tag: &str, net: u8, which: Impl, why: Reject) -> Vec<String> {
    let lab = Lab::new(tag, net, 2);
    let v = match why {
        Reject::AhPassword => Variant::V2Ah,
        _ => Variant::V2Pass,
    };
    let sender = conf(
        &lab,
        0,
        v,
        &Inst {
            prio: 150,
            ..Default::default()
        },
    );
    let receiver = conf(&lab, 1, v, &Inst::default());
    let receiver = match why {
        Reject::Password => receiver.replace("auth_pass kv-pass", "auth_pass other"),
        Reject::AhPassword => receiver.replace("auth_pass kv-ah", "auth_pass other"),
        Reject::Interval => receiver.replace("advert_int 1", "advert_int 2"),
    };
    let s = Daemon::start(&lab, 0, Impl::Ours, &sender);
    let r = Daemon::start(&lab, 1, which, &receiver);
    assert!(
        s.wait_log("(VI_1) Entering MASTER STATE", Duration::from_secs(10)),
        "{}",
        s.log_text()
    );
    std::thread::sleep(Duration::from_millis(4_500));
    r.log_text()
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, t)| t.to_owned()))
        .filter(|t| {
            t.contains("passwd")
                || t.contains("IPSEC")
                || t.contains("interval mismatch")
                || t.contains("auth")
        })
        .collect()
}

/// Both implementations log the same line for each rejected advert, once
/// per advert (Debian's 2.2.7 has no rate limit and names no sender).
fn rejected_as_keepalived(tag: &str, net: u8, why: Reject) {
    if !require() {
        return;
    }
    let ka = rejected(&format!("{tag}k"), net, Impl::Keepalived, why);
    let ours = rejected(&format!("{tag}o"), net + 1, Impl::Ours, why);
    let distinct = |v: &[String]| {
        let mut d = v.to_vec();
        d.sort();
        d.dedup();
        d
    };
    assert_eq!(
        distinct(&ours),
        distinct(&ka),
        "ours {ours:#?}\nkeepalived {ka:#?}"
    );
    assert_eq!(distinct(&ka).len(), 1, "{ka:#?}");
    // One line per advert for 4.5 s, from both.
    for lines in [&ka, &ours] {
        assert!(lines.len() >= 3, "{lines:#?}");
    }
}

#[test]
fn wrong_password_logged_as_keepalived() {
    rejected_as_keepalived("rjp", 118, Reject::Password);
}

#[test]
fn wrong_ah_password_logged_as_keepalived() {
    rejected_as_keepalived("rja", 138, Reject::AhPassword);
}

#[test]
fn interval_mismatch_logged_as_keepalived() {
    rejected_as_keepalived("rji", 147, Reject::Interval);
}

/// Two address owners (priority 255): ours is master when keepalived, with
/// the higher address, starts as owner too. Ours logs 2.2.7's configuration
/// error and drops to 254 (keepalived may do the same if it hears us
/// first); they settle on the higher address.
#[test]
fn two_owners_settle_as_keepalived() {
    if !require() {
        return;
    }
    // One advert a second: the two owners' adverts cross in flight (each
    // then yields to the other, and the first to time out takes over)
    // only when ours sends within the moment keepalived takes a 255
    // advert to react. At 0.1 s a loaded host hit that.
    let v = Variant::V2Pass;
    let lab = Lab::new("own", 148, 2);
    let vip = v.vip(&lab);
    let owner = Inst {
        prio: 255,
        state: "MASTER",
        ..Default::default()
    };
    let a = Daemon::start(&lab, 0, Impl::Ours, &conf(&lab, 0, v, &owner));
    assert!(lab.wait_sole_holder(0, &vip, Duration::from_secs(5)));
    let b = Daemon::start(&lab, 1, Impl::Keepalived, &conf(&lab, 1, v, &owner));
    let line = "(VI_1) CONFIGURATION ERROR: local instance and a remote instance are both configured as address owner, please fix - reducing local priority";
    assert!(
        a.wait_log(line, Duration::from_secs(5)),
        "{}\n{}",
        a.log_text(),
        b.log_text()
    );
    assert!(
        lab.wait_sole_holder(1, &vip, Duration::from_secs(5)),
        "{:?}\n{}\n{}",
        lab.holders(&vip),
        a.log_text(),
        b.log_text()
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(lab.holders(&vip), vec![1]);
    assert!(a.log_has(
        "(VI_1) Master received advert from 10.148.0.2 with higher priority 255, ours 254"
    ));
}

/// A reload that only changes a virtual route's `src` replaces the route in
/// place: it never leaves the table, with keepalived (`clear_diff_routes`)
/// as with ours.
#[test]
fn reload_replaces_changed_route_as_keepalived() {
    if !require() {
        return;
    }
    let lab = Lab::new("rlr", 151, 1);
    let net = lab.net;
    let ns = lab.ns(0);
    let prefix = format!("10.{net}.50.0/24");
    let conf = |src: u8| {
        rl_conf(
            0,
            "",
            &[rl_inst(
                &lab,
                "VI_1",
                40 + net,
                "MASTER",
                150,
                &[100, 101],
                &format!("virtual_routes {{\n {prefix} dev kv-e0 src 10.{net}.0.{src}\n }}\n"),
            )],
        )
    };
    let route = || netns::sh(&["ip", "-n", &ns, "route", "show", &prefix]);
    for which in [Impl::Ours, Impl::Keepalived] {
        let mut d = Daemon::start(&lab, 0, which, &conf(100));
        let src_is = |h: u8| route().contains(&format!("src 10.{net}.0.{h} "));
        assert!(
            netns::wait_until(Duration::from_secs(4), || src_is(100)),
            "{which:?}: {}\n{}",
            route(),
            d.log_text()
        );
        let mut mon = std::process::Command::new("ip")
            .args(["-n", &ns, "monitor", "route"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        reload_with(&d, &conf(101));
        assert!(
            netns::wait_until(Duration::from_secs(4), || src_is(101)),
            "{which:?}: {}\n{}",
            route(),
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
        let _ = mon.kill();
        let out = mon.wait_with_output().unwrap();
        let events = String::from_utf8_lossy(&out.stdout);
        assert!(
            !events
                .lines()
                .any(|l| l.starts_with("Deleted") && l.contains(&prefix)),
            "{which:?} removed the route during the reload:\n{events}"
        );
        d.stop();
    }
}

/// vrrp_scripts that outlast their interval: one that always times out
/// (timeout = interval) and one that runs 2.5 intervals (timeout 4). The
/// "already running" lines and the results come as keepalived's: 2.2.7
/// starts a new run at each interval even then, and any run's end makes
/// the script idle again, so only the first overlaps are logged.
#[test]
fn long_scripts_log_as_keepalived() {
    if !require() {
        return;
    }
    let v = Variant::V3v4;
    let lab = Lab::new("lsc", 152, 1);
    let global = " enable_script_security\n script_user root\n";
    let scripts = "vrrp_script kv_hang {\n script \"/bin/sleep 5\"\n interval 1\n}\nvrrp_script kv_slow {\n script \"/bin/sleep 2.5\"\n interval 1\n timeout 4\n}\n";
    let mut runs = Vec::new();
    for which in [Impl::Ours, Impl::Keepalived] {
        let text = format!(
            "{scripts}{}",
            conf(
                &lab,
                0,
                v,
                &Inst {
                    extra: "track_script {\n kv_hang\n kv_slow\n }\n",
                    global,
                    ..Default::default()
                }
            )
        );
        let mut d = Daemon::start(&lab, 0, which, &text);
        std::thread::sleep(Duration::from_secs(5));
        d.stop();
        let mut lines: Vec<String> = d
            .log_text()
            .lines()
            .filter_map(|l| l.split_once(": ").map(|(_, t)| t.to_owned()))
            .filter(|t| t.starts_with("Track script") || t.starts_with("VRRP_Script("))
            .collect();
        lines.sort();
        runs.push(lines);
    }
    assert_eq!(runs[0], runs[1], "ours vs keepalived");
    assert!(
        runs[0].contains(
            &"Track script kv_slow is already running, expect idle - skipping run".to_owned()
        ),
        "{:?}",
        runs[0]
    );
}

/// keepalived's parent logs "Startup complete" once its children have read
/// the configuration, and "Reload complete" after each reload; a SIGHUP
/// during a reload waits for it. Ours the same, with both roles.
#[test]
fn startup_and_reload_complete_as_keepalived() {
    if !require() {
        return;
    }
    let v = Variant::V3v4;
    let lab = Lab::new("rcm", 156, 1);
    for which in [Impl::Ours, Impl::Keepalived] {
        let text = conf(&lab, 0, v, &Inst::default());
        let mut d = Daemon::start(&lab, 0, which, &text);
        assert!(
            d.wait_log("Startup complete", Duration::from_secs(5)),
            "{which:?}: {}",
            d.log_text()
        );
        reload_with(&d, &text);
        std::thread::sleep(Duration::from_millis(50));
        reload_with(&d, &text);
        assert!(
            d.wait_log_count("Reload complete", 2, Duration::from_secs(5)),
            "{which:?}: {}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            d.log_count("Reloading ..."),
            2,
            "{which:?}: {}",
            d.log_text()
        );
        assert_eq!(
            d.log_count("Reload complete"),
            2,
            "{which:?}: {}",
            d.log_text()
        );
        assert_eq!(
            d.log_count("Startup complete"),
            1,
            "{which:?}: {}",
            d.log_text()
        );
        // The parent names the file at the start and at each reload.
        assert_eq!(
            d.log_count(": Configuration file "),
            3,
            "{which:?}: {}",
            d.log_text()
        );
        // Each reload completes before the next starts.
        let order: Vec<&str> = d
            .log_text()
            .lines()
            .filter_map(|l| {
                ["Reloading ...", "Reload complete"]
                    .into_iter()
                    .find(|w| l.ends_with(w))
            })
            .collect();
        assert_eq!(
            order,
            [
                "Reloading ...",
                "Reload complete",
                "Reloading ...",
                "Reload complete"
            ],
            "{which:?}: {}",
            d.log_text()
        );
        d.stop();
        // With -D: the VRRP process's last line with its CPU time, then the
        // parent's CPU line and its last.
        let last: Vec<String> = d
            .log_text()
            .lines()
            .filter_map(|l| l.split_once(": ").map(|(_, t)| t.to_owned()))
            .filter(|t| t.starts_with("Stop") || t.starts_with("CPU usage"))
            .collect();
        let shape = [
            "Stopping",
            "Stopped - used ",
            "CPU usage (self/children) user: ",
            "Stopped Keepalived v",
        ];
        assert_eq!(last.len(), shape.len(), "{which:?}: {last:?}");
        for (l, p) in last.iter().zip(shape) {
            assert!(l.starts_with(p), "{which:?}: {last:?}");
        }
    }
}

/// Under `Type=notify` systemd hears READY=1 (with MAINPID, as keepalived
/// sends it) once the configuration is loaded, RELOADING=1 then READY=1
/// around a reload, and STOPPING=1 at the end. keepalived 2.2.7 sends
/// these only when its parent is systemd itself (pid 1), which a test
/// cannot arrange, so this checks ours against that sequence.
#[test]
fn systemd_notifications_in_order() {
    if !require() {
        return;
    }
    let v = Variant::V3v4;
    let lab = Lab::new("sdn", 157, 1);
    let path = lab.file("notify.sock");
    let _ = std::fs::remove_file(&path);
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let text = conf(&lab, 0, v, &Inst::default());
    let mut d = Daemon::start_with_env(
        &lab,
        0,
        Impl::Ours,
        &text,
        &[("NOTIFY_SOCKET", path.as_os_str())],
    );
    assert!(
        d.wait_log("Startup complete", Duration::from_secs(5)),
        "{}",
        d.log_text()
    );
    std::thread::sleep(Duration::from_millis(300));
    reload_with(&d, &text);
    assert!(
        d.wait_log("Reload complete", Duration::from_secs(5)),
        "{}",
        d.log_text()
    );
    std::thread::sleep(Duration::from_millis(300));
    let parent: u32 = std::fs::read_to_string(&d.pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    d.stop();
    let mut msgs = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        // systemd takes newline-separated assignments; a trailing one is
        // optional
        msgs.push(String::from_utf8_lossy(&buf[..n]).trim_end().to_owned());
    }
    let ready = format!("READY=1\nMAINPID={parent}");
    assert_eq!(
        msgs,
        [ready.as_str(), "RELOADING=1", ready.as_str(), "STOPPING=1"],
    );
}

/// "Running on … (built for Linux X.Y.Z)": the kernel headers keepalived was
/// built with against the kernel we target; the rest is compared.
fn built_for_masked(m: &str) -> String {
    match m.split_once(" (built for Linux ") {
        Some((head, _)) if m.starts_with("Running on ") => format!("{head} (built for …)"),
        _ => m.to_owned(),
    }
}

/// keepalived's lines about itself (version, command line, the -D CPU
/// lines with their figures) and the -D-only kinds we do
/// not write ("Deassigned address …", "VRRP sockpool: …"): left out
/// when whole logs are compared.
fn not_compared(m: &str) -> bool {
    m.starts_with("Starting Keepalived v")
        || m.starts_with("Stopped Keepalived v")
        || m.starts_with("Command line: ")
        || m.starts_with("  ")
        || m.starts_with("Deassigned address ")
        || m.starts_with("VRRP sockpool: ")
        || m.starts_with("Stopped - used ")
        || m.starts_with("CPU usage ")
}

/// Router `i`'s log as compared: messages only, pids and the daemon's own
/// copy of the file name masked, [`not_compared`] lines out, sorted (the
/// parent's lines interleave with the VRRP process's by scheduling).
fn compared_log(d: &Daemon, i: usize) -> Vec<String> {
    let (ours, ka) = (format!("r{i}-ours.conf"), format!("r{i}-ka.conf"));
    let mut v: Vec<String> = d
        .log_text()
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, m)| m.to_owned()))
        .map(|m| match m.split_once(", pid=") {
            Some((head, _)) => format!("{head}, pid=N"),
            None => m,
        })
        .map(|m| m.replace(&ours, "rN.conf").replace(&ka, "rN.conf"))
        .map(|m| built_for_masked(&m))
        .filter(|m| !not_compared(m))
        .collect();
    v.sort();
    v
}

/// Runs `scenario` with ours, then with keepalived, as router `i`; the
/// daemons it returns (stopped) must have written the same log, as
/// [`compared_log`] reads it.
fn same_log_as_keepalived(i: usize, scenario: impl FnMut(Impl) -> Daemon) {
    same_log_as_keepalived_but(i, &[], scenario);
}

/// [`same_log_as_keepalived`], with the lines starting with one of `skip`
/// left out on both sides.
fn same_log_as_keepalived_but(i: usize, skip: &[&str], mut scenario: impl FnMut(Impl) -> Daemon) {
    let kept = |mut v: Vec<String>| {
        v.retain(|m| !skip.iter().any(|p| m.starts_with(p)));
        v
    };
    let ours = kept(compared_log(&scenario(Impl::Ours), i));
    let theirs = kept(compared_log(&scenario(Impl::Keepalived), i));
    assert_eq!(ours, theirs, "ours vs keepalived");
}

/// The whole log of one VRRP router against keepalived's, for a start as
/// BACKUP, the move to MASTER, a reload with the same file and a stop:
/// every line keepalived writes is ours too, as often. `check` looks at
/// each daemon's log once it stopped.
fn master_reload_stop_log(v: Variant, lab: &Lab, check: impl Fn(Impl, &Daemon)) {
    let vip = v.vip(lab);
    same_log_as_keepalived(0, |which| {
        let text = conf(
            lab,
            0,
            v,
            &Inst {
                prio: 150,
                ..Default::default()
            },
        );
        let mut d = Daemon::start(lab, 0, which, &text);
        assert!(
            lab.wait_sole_holder(0, &vip, v.takeover()),
            "{which:?}: {}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
        reload_with(&d, &text);
        assert!(
            d.wait_log("Reload complete", Duration::from_secs(5)),
            "{which:?}: {}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
        d.stop();
        check(which, &d);
        d
    });
}

#[test]
fn vrrp_log_matches_keepalived() {
    if !require() {
        return;
    }
    master_reload_stop_log(Variant::V2Pass, &Lab::new("vlg", 158, 1), |_, _| {});
}

/// The same for IPv6 (VRRPv3, a global first VIP): keepalived's VRRP
/// process logs "the first IPv6 VIP address should be link local" at start
/// and at the reload, and its -D NDISC channel line.
#[test]
fn vrrp_v6_log_matches_keepalived() {
    if !require() {
        return;
    }
    master_reload_stop_log(Variant::V3v6, &Lab::new("vl6", 176, 1), |which, d| {
        assert_eq!(
            d.log_count("(VI_1) the first IPv6 VIP address should be link local"),
            2,
            "{which:?}: {}",
            d.log_text()
        );
    });
}

/// The whole log of a BACKUP (ours, then keepalived) beside a keepalived
/// MASTER that then stops.
#[test]
fn backup_log_matches_keepalived() {
    if !require() {
        return;
    }
    let v = Variant::V2Pass;
    let lab = Lab::new("blg", 159, 2);
    let vip = v.vip(&lab);
    same_log_as_keepalived(1, |which| {
        let master = Inst {
            prio: 150,
            ..Default::default()
        };
        let mut m = Daemon::start(&lab, 0, Impl::Keepalived, &conf(&lab, 0, v, &master));
        assert!(
            lab.wait_sole_holder(0, &vip, v.takeover() * 2),
            "{}",
            m.log_text()
        );
        let mut b = Daemon::start(&lab, 1, which, &conf(&lab, 1, v, &Inst::default()));
        assert!(
            b.wait_log("(VI_1) Entering BACKUP STATE", Duration::from_secs(3)),
            "{which:?}: {}",
            b.log_text()
        );
        std::thread::sleep(Duration::from_secs(2));
        m.stop();
        assert!(
            lab.wait_sole_holder(1, &vip, v.takeover()),
            "{which:?}: {}",
            b.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
        b.stop();
        b
    });
}

/// The whole log of a MASTER (ours, then keepalived) preempted by a
/// keepalived router of higher priority, then taking over again when that
/// one stops.
#[test]
fn preempted_master_log_matches_keepalived() {
    if !require() {
        return;
    }
    let v = Variant::V2Pass;
    let lab = Lab::new("plg", 160, 2);
    let vip = v.vip(&lab);
    same_log_as_keepalived(0, |which| {
        let mut a = Daemon::start(&lab, 0, which, &conf(&lab, 0, v, &Inst::default()));
        assert!(
            lab.wait_sole_holder(0, &vip, v.takeover() * 2),
            "{which:?}: {}",
            a.log_text()
        );
        let higher = Inst {
            prio: 150,
            ..Default::default()
        };
        let mut b = Daemon::start(&lab, 1, Impl::Keepalived, &conf(&lab, 1, v, &higher));
        assert!(
            lab.wait_sole_holder(1, &vip, v.takeover() * 2),
            "{which:?}: {}\n{}",
            a.log_text(),
            b.log_text()
        );
        std::thread::sleep(Duration::from_secs(1));
        b.stop();
        assert!(
            lab.wait_sole_holder(0, &vip, v.takeover()),
            "{which:?}: {}",
            a.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
        a.stop();
        a
    });
}

/// The whole log of a MASTER (ours, then keepalived) whose interface goes
/// down and comes back, beside a keepalived BACKUP.
#[test]
fn interface_fault_log_matches_keepalived() {
    if !require() {
        return;
    }
    let v = Variant::V2Pass;
    let lab = Lab::new("ilg", 161, 2);
    let vip = v.vip(&lab);
    // With -D keepalived names the link-local address the kernel gives
    // the interface back after the flap ("Assigned address …"): we log
    // those lines at start and reload only, not on address events.
    same_log_as_keepalived_but(0, &["Assigned address "], |which| {
        let master = Inst {
            prio: 150,
            ..Default::default()
        };
        let mut a = Daemon::start(&lab, 0, which, &conf(&lab, 0, v, &master));
        assert!(
            lab.wait_sole_holder(0, &vip, v.takeover() * 2),
            "{which:?}: {}",
            a.log_text()
        );
        let mut b = Daemon::start(
            &lab,
            1,
            Impl::Keepalived,
            &conf(&lab, 1, v, &Inst::default()),
        );
        std::thread::sleep(Duration::from_secs(2));
        lab.link(0, false);
        assert!(
            a.wait_log("(VI_1) Entering FAULT STATE", Duration::from_secs(3)),
            "{which:?}: {}",
            a.log_text()
        );
        assert!(
            lab.wait_sole_holder(1, &vip, v.takeover()),
            "{}",
            b.log_text()
        );
        lab.link(0, true);
        assert!(
            lab.wait_sole_holder(0, &vip, v.takeover() * 2),
            "{which:?}: {}\n{}",
            a.log_text(),
            b.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
        a.stop();
        b.stop();
        a
    });
}

/// The whole log of a MASTER (ours, then keepalived) tracking a script
/// with a weight and one without: the weighted one fails (priority down,
/// the keepalived peer takes over), recovers, then the unweighted one fails
/// (FAULT) and recovers.
#[test]
fn track_script_log_matches_keepalived() {
    if !require() {
        return;
    }
    let v = Variant::V2Pass;
    let lab = Lab::new("tlg", 162, 2);
    let vip = v.vip(&lab);
    let global = " enable_script_security\n script_user root\n";
    same_log_as_keepalived(0, |which| {
        let w = lab.file(&format!("kv-w-{which:?}"));
        let f = lab.file(&format!("kv-f-{which:?}"));
        std::fs::write(&w, "").unwrap();
        std::fs::write(&f, "").unwrap();
        let scripts = format!(
            "vrrp_script kv_w {{\n script \"/usr/bin/test -e {}\"\n interval 1\n weight -60\n rise 1\n fall 1\n}}\nvrrp_script kv_f {{\n script \"/usr/bin/test -e {}\"\n interval 1\n rise 1\n fall 1\n}}\n",
            w.display(),
            f.display()
        );
        let master = Inst {
            prio: 150,
            extra: "track_script {\n kv_w\n kv_f\n }\n",
            global,
            ..Default::default()
        };
        let text = format!("{scripts}{}", conf(&lab, 0, v, &master));
        let mut a = Daemon::start(&lab, 0, which, &text);
        assert!(
            lab.wait_sole_holder(0, &vip, v.takeover() * 2),
            "{which:?}: {}",
            a.log_text()
        );
        let mut b = Daemon::start(
            &lab,
            1,
            Impl::Keepalived,
            &conf(&lab, 1, v, &Inst::default()),
        );
        std::thread::sleep(Duration::from_secs(2));
        std::fs::remove_file(&w).unwrap();
        assert!(
            lab.wait_sole_holder(1, &vip, v.takeover()),
            "{which:?}: {}",
            a.log_text()
        );
        std::fs::write(&w, "").unwrap();
        assert!(
            lab.wait_sole_holder(0, &vip, v.takeover()),
            "{which:?}: {}",
            a.log_text()
        );
        std::thread::sleep(Duration::from_secs(1));
        std::fs::remove_file(&f).unwrap();
        assert!(
            a.wait_log("(VI_1) Entering FAULT STATE", Duration::from_secs(3)),
            "{which:?}: {}",
            a.log_text()
        );
        std::fs::write(&f, "").unwrap();
        assert!(
            lab.wait_sole_holder(0, &vip, v.takeover() * 2),
            "{which:?}: {}",
            a.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
        a.stop();
        b.stop();
        a
    });
}

// ---- garp_extra_if -------------------------------------------------------

/// Gives router `i` a second interface `kv-e1` (10.<net>.1.<i+1>/24) on a
/// second bridge `kv-br1` of the switch namespace.
fn second_link(lab: &Lab, i: usize) {
    use netns::{sh, wait_until};
    let (sw, ns) = (lab.switch(), lab.ns(i));
    if !sh(&["ip", "-n", &sw, "link", "show"]).contains("kv-br1") {
        sh(&[
            "ip",
            "-n",
            &sw,
            "link",
            "add",
            "kv-br1",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        sh(&["ip", "-n", &sw, "link", "set", "kv-br1", "up"]);
    }
    let port = format!("kv-q{i}");
    sh(&[
        "ip", "link", "add", "kv-e1", "netns", &ns, "type", "veth", "peer", &port, "netns", &sw,
    ]);
    sh(&[
        "ip", "-n", &sw, "link", "set", &port, "master", "kv-br1", "up",
    ]);
    let addr = format!("10.{}.1.{}/24", lab.net, i + 1);
    sh(&["ip", "-n", &ns, "addr", "add", &addr, "dev", "kv-e1"]);
    sh(&["ip", "-n", &ns, "link", "set", "kv-e1", "up"]);
    assert!(wait_until(Duration::from_secs(5), || {
        sh(&["ip", "-n", &ns, "link", "show", "kv-e1"]).contains("LOWER_UP")
    }));
}

/// A VRRPv3 instance on kv-e0 with one VIP there (10.<net>.0.100, on the
/// VMAC with `use_vmac`) and one on kv-e1 (10.<net>.1.100), one GARP per
/// VIP on becoming master and no delayed burst, so that what follows is
/// `garp_extra_if`'s alone.
fn gx_conf(lab: &Lab, global: &str, extra: &str) -> String {
    gx_conf_af(lab, global, extra, false)
}

/// The kv-e0 and kv-e1 VIPs, IPv4 or IPv6 (fdNN::100, fdNN:1::100).
fn gx_vips(lab: &Lab, v6: bool) -> (String, String) {
    let n = lab.net;
    if v6 {
        (format!("fd{n:02x}::100"), format!("fd{n:02x}:1::100"))
    } else {
        (format!("10.{n}.0.100"), format!("10.{n}.1.100"))
    }
}

/// As [`gx_conf`], an IPv6 instance (unsolicited NAs) with `v6`.
fn gx_conf_af(lab: &Lab, global: &str, extra: &str, v6: bool) -> String {
    let (a, b) = gx_vips(lab, v6);
    let len = if v6 { 64 } else { 24 };
    format!(
        "global_defs {{\n vrrp_version 3\n router_id kx0\n{global}}}\n\
         vrrp_instance VI_1 {{\n state BACKUP\n interface kv-e0\n virtual_router_id {}\n \
         priority 150\n advert_int 0.1\n garp_master_repeat 1\n garp_master_delay 0\n{extra} \
         virtual_ipaddress {{\n  {a}/{len}\n  {b}/{len} dev kv-e1\n }}\n}}\n",
        40 + lab.net
    )
}

/// GARPs per interface, per one-second bucket from becoming master
/// ([s - 0.25, s + 0.75) s after the first GARP of the kv-e0 VIP): kv-e0's
/// VIP on kv-e0's bridge, kv-e1's VIP on kv-e1's bridge.
type Buckets = (Vec<usize>, Vec<usize>);

/// Also returns the `garp_extra_if` lines of `keepalived.data` written
/// while master (the next time masked after checking that it is in the
/// coming second), then how many -D lines announced each VIP on each
/// interface.
fn gx_run(lab: &Lab, which: Impl, conf: &str, case: &str, v6: bool) -> (Buckets, Vec<String>) {
    let (vip0, vip1) = gx_vips(lab, v6);
    let cap0 = Capture::start_on(lab, &format!("{case}-{which:?}-e0"), "kv-br");
    let cap1 = Capture::start_on(lab, &format!("{case}-{which:?}-e1"), "kv-br1");
    let tmp = lab.file(&format!("tmp-{case}-{which:?}"));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut d = Daemon::start_with_tmpdir(lab, 0, which, conf, &tmp);
    assert!(
        lab.wait_sole_holder(0, &vip1, Duration::from_secs(5)),
        "{case} {which:?}: {}",
        d.log_text()
    );
    std::thread::sleep(Duration::from_millis(4200));
    let data = tmp.join("keepalived.data");
    let asked = std::time::SystemTime::now();
    d.signal_raw(libc::SIGUSR1);
    assert!(
        netns::wait_until(Duration::from_secs(5), || std::fs::metadata(&data)
            .is_ok_and(|m| m.len() > 0)),
        "{case} {which:?}: no keepalived.data"
    );
    std::thread::sleep(Duration::from_millis(200));
    // -D: one line per announcement burst and VIP, "(VI_1) Sending/queueing
    // gratuitous ARPs on DEV for VIP" (or "Unsolicited Neighbour Adverts");
    // counted per line.
    let mut bursts: Vec<(String, usize)> = Vec::new();
    for l in d.log_text().lines() {
        if let Some((_, what)) = l.split_once("(VI_1) Sending/queueing ") {
            match bursts.iter_mut().find(|(w, _)| w == what) {
                Some((_, n)) => *n += 1,
                None => bursts.push((what.to_string(), 1)),
            }
        }
    }
    bursts.sort();
    d.stop();
    let asked = asked
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let dump: Vec<String> = std::fs::read_to_string(&data)
        .unwrap()
        .lines()
        // The instance's lines (keepalived's global section has one too,
        // which ours does not write).
        .filter(|l| l.starts_with("   ") && l.contains("secondary"))
        .map(|l| match l.split_once(" = ") {
            Some((k, v)) if k.contains("Next") => {
                let secs: f64 = v.split_whitespace().next().unwrap().parse().unwrap();
                assert!(
                    (asked - 0.5..asked + 1.5).contains(&secs),
                    "{case} {which:?}: {l} (asked at {asked})"
                );
                // "(Sat Nov 21 09:28:49 2026.386003)"
                let when = v.split_once(' ').unwrap().1;
                assert!(
                    when.len() == 33 && when.starts_with('(') && when.ends_with(')'),
                    "{case} {which:?}: {l}"
                );
                format!("{k} = T")
            }
            _ => l.to_string(),
        })
        .collect();
    let (l0, l1) = (cap0.finish(), cap1.finish());
    let times = |lines: &[String], vip: &str| -> Vec<f64> {
        let needle = if v6 {
            format!("neighbor advertisement, tgt is {vip},")
        } else {
            format!("Request who-has {vip} (ff:ff:ff:ff:ff:ff) tell {vip}")
        };
        lines
            .iter()
            .filter(|l| l.contains(&needle))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    };
    let (t0s, t1s) = (times(&l0, &vip0), times(&l1, &vip1));
    assert!(
        times(&l0, &vip1).is_empty(),
        "{case} {which:?}: kv-e1's VIP on kv-e0"
    );
    assert!(
        times(&l1, &vip0).is_empty(),
        "{case} {which:?}: kv-e0's VIP on kv-e1"
    );
    let t0 = *t0s.first().expect("a GARP on becoming master");
    let buckets = |ts: &[f64]| -> Vec<usize> {
        (0..4)
            .map(|s| {
                let s = f64::from(s);
                ts.iter()
                    .filter(|t| (s - 0.25..s + 0.75).contains(&(**t - t0)))
                    .count()
            })
            .collect()
    };
    let dump = dump
        .into_iter()
        .chain(bursts.iter().map(|(w, n)| format!("{n} x {w}")))
        .collect();
    ((buckets(&t0s), buckets(&t1s)), dump)
}

/// Runs each case under ours then keepalived; requires the same GARP counts
/// per interface and second, ours to be `want`, and the same
/// `keepalived.data` lines (present exactly when `want` has extra GARPs)
/// and -D announcement lines.
fn gx_compare(lab: &Lab, cases: &[(&str, String, Buckets)]) {
    gx_compare_af(lab, cases, false)
}

fn gx_compare_af(lab: &Lab, cases: &[(&str, String, Buckets)], v6: bool) {
    for (case, conf, want) in cases {
        let (ours, our_dump) = gx_run(lab, Impl::Ours, conf, case, v6);
        let (ka, ka_dump) = gx_run(lab, Impl::Keepalived, conf, case, v6);
        assert_eq!(ours, ka, "{case}: ours (kv-e0, kv-e1) vs keepalived");
        assert_eq!(&ours, want, "{case}: ours");
        assert_eq!(our_dump, ka_dump, "{case}: keepalived.data and -D lines");
        let extra = want.0[1..].iter().chain(&want.1[1..]).any(|n| *n > 0);
        let data_lines = our_dump.iter().filter(|l| l.contains("secondary")).count();
        assert_eq!(
            data_lines,
            if extra { 2 } else { 0 },
            "{case}: {our_dump:?}"
        );
    }
}

/// `garp_extra_if` without VMACs, against Debian's keepalived 2.2.7: with
/// `all`, the kv-e1 VIP is announced on kv-e1 every second while master
/// (first one second after becoming master) and nothing more on kv-e0;
/// without `all` there is no extra interface (kv-e1 is not a VMAC), so
/// keepalived turns the timer off; the global `vrrp_garp_extra_if all 1`
/// reaches the instance, and the instance's `garp_extra_if 0` overrides it.
/// Then a reload of the master ([`gx_reload`]).
#[test]
fn garp_extra_if_all_matches_keepalived() {
    if !require() {
        return;
    }
    let lab = Lab::new("gx1", 153, 1);
    second_link(&lab, 0);
    let every_second = (vec![1, 0, 0, 0], vec![1, 1, 1, 1]);
    let off = (vec![1, 0, 0, 0], vec![1, 0, 0, 0]);
    gx_compare(
        &lab,
        &[
            (
                "all",
                gx_conf(&lab, "", " garp_extra_if all 1\n"),
                every_second.clone(),
            ),
            (
                "noall",
                gx_conf(&lab, "", " garp_extra_if 1\n"),
                off.clone(),
            ),
            (
                "global",
                gx_conf(&lab, " vrrp_garp_extra_if all 1\n", ""),
                every_second,
            ),
            (
                "zero",
                gx_conf(&lab, " vrrp_garp_extra_if all 1\n", " garp_extra_if 0\n"),
                off,
            ),
        ],
    );
    gx_reload(&lab);
}

/// kv-e1's GARPs around a reload (same configuration) of a master with
/// `garp_extra_if all 1`, in seconds from the SIGHUP; the reload comes
/// 0.3 s after a scheduled burst.
fn gx_reload_run(lab: &Lab, which: Impl) -> Vec<f64> {
    let (_, vip1) = gx_vips(lab, false);
    let conf = gx_conf(lab, "", " garp_extra_if all 1\n");
    let cap = Capture::start_on(lab, &format!("reload-{which:?}"), "kv-br1");
    let mut d = Daemon::start(lab, 0, which, &conf);
    assert!(
        lab.wait_sole_holder(0, &vip1, Duration::from_secs(5)),
        "reload {which:?}: {}",
        d.log_text()
    );
    let wall = || {
        std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let needle = format!("Request who-has {vip1} (ff:ff:ff:ff:ff:ff) tell {vip1}");
    std::thread::sleep(Duration::from_millis(2300));
    let hup = wall();
    // To the VRRP process, which reloads on its own: Debian's keepalived
    // under `timeout` would get a SIGHUP to its parent twice (relayed, and
    // in timeout's process group) and reload twice in a row.
    d.signal_vrrp(Signal::SIGHUP);
    std::thread::sleep(Duration::from_millis(2500));
    d.stop();
    let times: Vec<f64> = cap
        .finish()
        .iter()
        .filter(|l| l.contains(&needle))
        .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .collect();
    // Line the schedule up: the reload is 0.3 s after the burst before it.
    let before = times
        .iter()
        .copied()
        .filter(|t| *t < hup)
        .fold(0.0, f64::max);
    assert!(
        hup - before < 0.9,
        "reload {which:?}: no burst in the second before the SIGHUP: {times:?} {hup}"
    );
    times
        .iter()
        .filter(|t| **t >= hup)
        .map(|t| t - hup)
        .collect()
}

/// A reload of a master: keepalived's new instance has no `garp_extra_if`
/// time yet, so its first advert (at once, `reload_master`) announces on
/// the extra interfaces, and the schedule then counts from there. Ours the
/// same (within 0.25 s of the SIGHUP, then one second on), and as many as
/// keepalived until the stop.
fn gx_reload(lab: &Lab) {
    let ours = gx_reload_run(lab, Impl::Ours);
    let ka = gx_reload_run(lab, Impl::Keepalived);
    for (which, t) in [("ours", &ours), ("keepalived", &ka)] {
        assert!(
            t.len() >= 2 && t[0] < 0.25 && (0.9..1.2).contains(&(t[1] - t[0])),
            "{which}: GARPs after the SIGHUP at {t:?}"
        );
    }
    assert_eq!(ours.len(), ka.len(), "ours {ours:?} keepalived {ka:?}");
}

/// `garp_extra_if` with `use_vmac`, against Debian's keepalived 2.2.7: the
/// instance's own interface is its VMAC (where the kv-e0 VIP lives), which
/// is announced only with `vmac_xmit_base`; kv-e1 is announced with `all`.
#[test]
fn garp_extra_if_vmac_matches_keepalived() {
    if !require() {
        return;
    }
    let lab = Lab::new("gx2", 154, 1);
    second_link(&lab, 0);
    gx_compare(
        &lab,
        &[
            (
                "vmac",
                gx_conf(&lab, "", " use_vmac\n garp_extra_if all 1\n"),
                (vec![1, 0, 0, 0], vec![1, 1, 1, 1]),
            ),
            (
                "vmac-noall",
                gx_conf(&lab, "", " use_vmac\n garp_extra_if 1\n"),
                (vec![1, 0, 0, 0], vec![1, 0, 0, 0]),
            ),
            (
                "xmit-base",
                gx_conf(
                    &lab,
                    "",
                    " use_vmac\n vmac_xmit_base\n garp_extra_if all 1\n",
                ),
                (vec![1, 1, 1, 1], vec![1, 1, 1, 1]),
            ),
        ],
    );
}

/// `garp_extra_if all 1` on an IPv6 instance, against Debian's keepalived
/// 2.2.7: unsolicited NAs for the kv-e1 VIP on kv-e1 every second.
#[test]
fn garp_extra_if_ipv6_matches_keepalived() {
    if !require() {
        return;
    }
    let lab = Lab::new("gx3", 155, 1);
    second_link(&lab, 0);
    gx_compare_af(
        &lab,
        &[(
            "v6",
            gx_conf_af(&lab, "", " garp_extra_if all 1\n", true),
            (vec![1, 0, 0, 0], vec![1, 1, 1, 1]),
        )],
        true,
    );
}

/// The whole log of a router (ours, then keepalived) with a sync group of
/// two instances tracking a script, beside a keepalived peer with the same
/// group: master, the script fails (the group goes FAULT, the peer takes
/// over), the script recovers (the group preempts back), stop.
#[test]
fn sync_group_log_matches_keepalived() {
    if !require() {
        return;
    }
    let lab = Lab::new("slg", 163, 2);
    let net = lab.net;
    let inst = |name: &str, vrid: u8, vip: u8, prio: u8| {
        format!(
            "vrrp_instance {name} {{\n state BACKUP\n interface kv-e0\n virtual_router_id {vrid}\n \
             priority {prio}\n advert_int 1\n virtual_ipaddress {{\n  10.{net}.0.{vip}/24\n }}\n}}\n"
        )
    };
    let group =
        |track: &str| format!("vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_2\n }}\n{track}}}\n");
    let (v1, v2) = (format!("10.{net}.0.100"), format!("10.{net}.0.101"));
    same_log_as_keepalived(0, |which| {
        let flag = lab.file(&format!("kv-ok-{which:?}"));
        std::fs::write(&flag, "").unwrap();
        let a_conf = format!(
            "global_defs {{\n enable_script_security\n script_user root\n}}\n\
             vrrp_script kv_chk {{\n script \"/usr/bin/test -e {}\"\n interval 1\n rise 1\n fall 1\n}}\n{}{}{}",
            flag.display(),
            group(" track_script {\n  kv_chk\n }\n"),
            inst("VI_1", 91, 100, 150),
            inst("VI_2", 92, 101, 150),
        );
        let b_conf = format!(
            "{}{}{}",
            group(""),
            inst("VI_1", 91, 100, 100),
            inst("VI_2", 92, 101, 100)
        );
        let mut a = Daemon::start(&lab, 0, which, &a_conf);
        assert!(
            lab.wait_sole_holder(0, &v1, Duration::from_secs(8))
                && lab.wait_sole_holder(0, &v2, Duration::from_secs(2)),
            "{which:?}: {}",
            a.log_text()
        );
        let mut b = Daemon::start(&lab, 1, Impl::Keepalived, &b_conf);
        std::thread::sleep(Duration::from_secs(2));
        std::fs::remove_file(&flag).unwrap();
        assert!(
            lab.wait_sole_holder(1, &v1, Duration::from_secs(8))
                && lab.wait_sole_holder(1, &v2, Duration::from_secs(2)),
            "{which:?}: {}\n{}",
            a.log_text(),
            b.log_text()
        );
        std::fs::write(&flag, "").unwrap();
        assert!(
            lab.wait_sole_holder(0, &v1, Duration::from_secs(8))
                && lab.wait_sole_holder(0, &v2, Duration::from_secs(2)),
            "{which:?}: {}\n{}",
            a.log_text(),
            b.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
        a.stop();
        b.stop();
        a
    });
}

/// The whole log of a router (ours, then keepalived) through reloads that
/// change a MASTER's addresses, add an instance, then remove the first.
#[test]
fn reload_changes_log_matches_keepalived() {
    if !require() {
        return;
    }
    let lab = Lab::new("rcg", 164, 1);
    let net = lab.net;
    let inst = |name: &str, vrid: u8, vips: &[u8]| {
        let vips: String = vips
            .iter()
            .map(|h| format!("  10.{net}.0.{h}/24\n"))
            .collect();
        format!(
            "vrrp_instance {name} {{\n state BACKUP\n interface kv-e0\n virtual_router_id {vrid}\n \
             priority 150\n advert_int 1\n virtual_ipaddress {{\n{vips} }}\n}}\n"
        )
    };
    let first = inst("VI_1", 93, &[100, 101]);
    let second = format!(
        "{}{}",
        inst("VI_1", 93, &[100, 102]),
        inst("VI_2", 94, &[110])
    );
    let third = inst("VI_2", 94, &[110]);
    same_log_as_keepalived(0, |which| {
        let d = Daemon::start(&lab, 0, which, &first);
        let a = format!("10.{net}.0.100");
        assert!(
            lab.wait_sole_holder(0, &a, Duration::from_secs(8)),
            "{which:?}: {}",
            d.log_text()
        );
        reload_with(&d, &second);
        let v2 = format!("10.{net}.0.110");
        assert!(
            d.wait_log_count("Reload complete", 1, Duration::from_secs(5))
                && lab.wait_sole_holder(0, &v2, Duration::from_secs(8)),
            "{which:?}: {}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_secs(1));
        reload_with(&d, &third);
        assert!(
            d.wait_log_count("Reload complete", 2, Duration::from_secs(5)),
            "{which:?}: {}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_secs(1));
        let mut d = d;
        d.stop();
        d
    });
}

/// An instance without VIPs (as used for notify scripts alone): keepalived
/// 2.2.7 runs it, saying twice that a VIP is sensible, and advertises no
/// address. Ours as master of a keepalived backup, and then the other way
/// round: the backup stays backup while the master advertises, and takes
/// over when it stops.
fn vipless(tag: &str, net: u8, master: Impl, backup: Impl) {
    if !require() {
        return;
    }
    let lab = Lab::new(tag, net, 2);
    let conf = |prio: u8| {
        format!(
            "vrrp_instance VI_1 {{\n state BACKUP\n interface kv-e0\n virtual_router_id {}\n priority {prio}\n advert_int 1\n}}\n",
            40 + net
        )
    };
    let mut m = Daemon::start(&lab, 0, master, &conf(150));
    assert!(
        m.wait_log("(VI_1) Entering MASTER STATE", Duration::from_secs(6)),
        "{}",
        m.log_text()
    );
    assert_eq!(
        m.log_text()
            .matches("(VI_1) No VIP specified; at least one is sensible")
            .count(),
        2,
        "{}",
        m.log_text()
    );
    let b = Daemon::start(&lab, 1, backup, &conf(100));
    assert!(
        b.wait_log("(VI_1) Entering BACKUP STATE", Duration::from_secs(3)),
        "{}",
        b.log_text()
    );
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !b.log_has("(VI_1) Entering MASTER STATE"),
        "{}",
        b.log_text()
    );
    m.stop();
    assert!(
        b.wait_log("(VI_1) Entering MASTER STATE", Duration::from_secs(6)),
        "{}",
        b.log_text()
    );
}

#[test]
fn vipless_ours_master_keepalived_backup() {
    vipless("vlo", 180, Impl::Ours, Impl::Keepalived);
}

#[test]
fn vipless_keepalived_master_ours_backup() {
    vipless("vlk", 181, Impl::Keepalived, Impl::Ours);
}

/// A master's VIP deleted behind its back (`ip addr del`): keepalived
/// says so (-D), leaves MASTER (priority 0, VIPs removed) and takes it back
/// after its skew time, putting the VIP back. Alone on the link, so no one
/// else takes over. The same lines, and the VIP back, for both.
fn vip_deleted(tag: &str, net: u8, which: Impl) -> Vec<String> {
    let lab = Lab::new(tag, net, 1);
    let vip = format!("10.{net}.0.100");
    let conf = format!(
        "vrrp_instance VI_1 {{\n state BACKUP\n interface kv-e0\n virtual_router_id {}\n priority 150\n advert_int 1\n virtual_ipaddress {{\n {vip}/24\n }}\n}}\n",
        40 + net
    );
    let d = Daemon::start(&lab, 0, which, &conf);
    assert!(
        lab.wait_sole_holder(0, &vip, Duration::from_secs(8)),
        "{}",
        d.log_text()
    );
    netns::sh(&[
        "ip",
        "-n",
        &lab.ns(0),
        "addr",
        "del",
        &format!("{vip}/24"),
        "dev",
        "kv-e0",
    ]);
    assert!(
        d.wait_log_count("(VI_1) Entering MASTER STATE", 2, Duration::from_secs(3)),
        "{}",
        d.log_text()
    );
    assert!(
        lab.wait_sole_holder(0, &vip, Duration::from_secs(2)),
        "VIP not put back:\n{}",
        d.log_text()
    );
    let text = d.log_text();
    let at = text.find("Netlink reflector reports").unwrap_or(0);
    let from = text[..at].rfind('\n').map_or(0, |n| n + 1);
    text[from..]
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, m)| m.to_string()))
        .filter(|m| {
            [
                "Netlink reflector",
                "Entering",
                "sent 0",
                "removing VIPs",
                "setting VIPs",
                "Receive advertisement timeout",
            ]
            .iter()
            .any(|p| m.contains(p))
        })
        .take(7)
        .collect()
}

#[test]
fn deleted_vip_is_put_back_as_keepalived() {
    if !require() {
        return;
    }
    let theirs = vip_deleted("vdk", 182, Impl::Keepalived);
    let ours = vip_deleted("vdo", 183, Impl::Ours);
    assert_eq!(theirs.len(), 7, "{theirs:#?}");
    assert_eq!(
        ours,
        theirs
            .iter()
            .map(|l| l.replace("10.182.", "10.183."))
            .collect::<Vec<_>>()
    );
}
