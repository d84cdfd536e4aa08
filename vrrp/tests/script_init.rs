//! Weight-0 trackers that have not reported yet hold their instance at
//! startup, as keepalived 2.2.7 does (`num_script_init`,
//! `num_member_init`). Checked against Debian's keepalived in
//! tests/vrrp_netns.rs (`script_init_*`).

mod common;

use std::time::{Duration, Instant};

use common::*;
use vrrp::fsm::{Action, Input, Instance, InstanceCfg, Reason, StartState, State, Tracker};
use vrrp::sync::{GroupOutput, SyncGroup};
use vrrp::wire::Addrs;
use vrrp::{Priority, Vrid};

fn script(n: &str) -> Tracker {
    Tracker::Script(n.into())
}

fn pending(n: &str) -> Input {
    Input::TrackerPending { tracker: script(n) }
}

fn result(n: &str, ok: bool) -> Input {
    Input::TrackerFault {
        tracker: script(n),
        failed: !ok,
    }
}

fn notifies(a: &[Action]) -> Vec<(State, State, Reason)> {
    a.iter()
        .filter_map(|a| match a {
            Action::Notify(t) => Some((t.from, t.to, t.reason)),
            _ => None,
        })
        .collect()
}

// Input: a pending weight-0 script, Startup, 10 s of silence.
// Output: the VIPs are cleared and nothing else: no "(init)" line, no
// notify, no advert, no timer; the instance sits in FAULT.
#[test]
fn held_silently_until_first_result() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    assert!(h.send(pending("chk")).is_empty());
    assert!(h.inst.is_pending());
    assert_eq!(shape(&h.send(Input::Startup)), ["del_vips"]);
    assert_eq!(h.state(), State::Fault);
    assert_eq!(h.next(), None);
    assert!(h.run_until(Duration::from_secs(10)).is_empty());
    // Adverts from a master are not even looked at.
    assert!(h.send(rx("10.0.0.2", advert_v2(150))).is_empty());
    assert_eq!(h.inst.stats().advert_sent, 0);
}

// Input: the script's first result is a success at 5 s.
// Output: "Entering BACKUP STATE" (not "(init)"), notify FAULT->BACKUP, and
// the master-down timer from then: MASTER at 5 s + 3609375 µs.
#[test]
fn first_success_enters_backup_then_master() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(pending("chk"));
    h.send(Input::Startup);
    h.at(Duration::from_secs(5));
    let a = h.send(result("chk", true));
    assert_eq!(shape(&a)[0], "log: (VI_1) Entering BACKUP STATE");
    assert_eq!(
        notifies(&a),
        [(State::Fault, State::Backup, Reason::FaultCleared)]
    );
    assert!(!h.inst.is_pending());
    assert_eq!(h.state(), State::Backup);
    assert_eq!(h.next(), Some(Duration::from_secs(5) + us(3_609_375)));
    let fired = h.run_until(Duration::from_secs(9));
    assert_eq!(h.state(), State::Master);
    assert!(logs(&fired[0].1).contains(&"(VI_1) Entering MASTER STATE".to_string()));
    // Later results of the same script change nothing.
    assert!(h.send(result("chk", true)).is_empty());
}

// Input: the script's first result is a failure.
// Output: no "Entering" line (the state is FAULT already) but a FAULT
// notify; a later success brings the instance up as a normal recovery.
#[test]
fn first_failure_notifies_fault_without_entering_line() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(pending("chk"));
    h.send(Input::Startup);
    let a = h.send(result("chk", false));
    assert!(logs(&a).is_empty(), "{a:?}");
    assert_eq!(notifies(&a), [(State::Fault, State::Fault, Reason::Fault)]);
    assert!(adverts(&a).is_empty());
    assert_eq!(h.state(), State::Fault);
    assert_eq!(h.next(), None);
    let a = h.send(result("chk", true));
    assert_eq!(logs(&a), ["(VI_1) Entering BACKUP STATE"]);
    assert_eq!(h.state(), State::Backup);
}

// Input: two pending scripts; the first succeeds, then the second.
// Output: held until the second one, which brings the instance up; with a
// failure of the second instead, FAULT is notified at that point.
#[test]
fn several_pending_scripts_wait_for_all() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(pending("a"));
    h.send(pending("b"));
    h.send(Input::Startup);
    assert!(h.send(result("a", true)).is_empty());
    assert_eq!(h.state(), State::Fault);
    assert!(h.inst.is_pending());
    assert_eq!(h.next(), None);
    assert_eq!(
        logs(&h.send(result("b", true))),
        ["(VI_1) Entering BACKUP STATE"]
    );

    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(pending("a"));
    h.send(pending("b"));
    h.send(Input::Startup);
    assert!(h.send(result("a", true)).is_empty());
    let a = h.send(result("b", false));
    assert!(logs(&a).is_empty());
    assert_eq!(notifies(&a), [(State::Fault, State::Fault, Reason::Fault)]);
    // The first failure of a held instance notifies once; a second script
    // failing adds nothing.
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(pending("a"));
    h.send(pending("b"));
    h.send(Input::Startup);
    assert_eq!(notifies(&h.send(result("a", false))).len(), 1);
    assert!(h.send(result("b", false)).is_empty());
    assert!(h.send(result("a", true)).is_empty());
    assert_eq!(
        logs(&h.send(result("b", true))),
        ["(VI_1) Entering BACKUP STATE"]
    );
}

// Input: an interface fault and a pending script.
// Output: the script's success alone does not bring the instance up; the
// interface coming back does.
#[test]
fn pending_and_interface_fault() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::IfaceDown);
    h.send(pending("chk"));
    h.send(Input::Startup);
    assert_eq!(h.state(), State::Fault);
    assert!(h.send(result("chk", true)).is_empty());
    assert_eq!(h.state(), State::Fault);
    assert_eq!(
        logs(&h.send(Input::IfaceUp)),
        ["(VI_1) Entering BACKUP STATE"]
    );
    // The other order: the interface recovers while the script is pending.
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(pending("chk"));
    h.send(Input::Startup);
    let a = h.send(Input::IfaceDown);
    assert_eq!(notifies(&a), [(State::Fault, State::Fault, Reason::Fault)]);
    assert!(h.send(Input::IfaceUp).is_empty());
    assert_eq!(h.state(), State::Fault);
    assert_eq!(
        logs(&h.send(result("chk", true))),
        ["(VI_1) Entering BACKUP STATE"]
    );
}

// Input: an address owner configured MASTER, held by a script.
// Output: held (no MASTER at startup); the first success goes straight to
// MASTER with its advert, VIPs, GARPs and a MASTER notify at 255.
#[test]
fn owner_wanting_master_goes_master_on_first_success() {
    let mut c = cfg("10.0.0.1", 255);
    c.state = StartState::Master;
    let mut h = Harness::new(c);
    h.send(pending("chk"));
    assert_eq!(shape(&h.send(Input::Startup)), ["del_vips"]);
    assert_eq!(h.state(), State::Fault);
    let a = h.send(result("chk", true));
    assert_eq!(
        shape(&a),
        [
            "advert(255)",
            "log: (VI_1) Entering MASTER STATE",
            "add_vips",
            "garp(5)",
            "notify(FAULT->MASTER)",
        ]
    );
    assert_eq!(h.inst.effective_priority(), Priority::OWNER);
    // A `state MASTER` instance that is not the owner comes up in BACKUP.
    let mut c = cfg("10.0.0.1", 200);
    c.state = StartState::Master;
    let mut h = Harness::new(c);
    h.send(pending("chk"));
    h.send(Input::Startup);
    assert_eq!(
        logs(&h.send(result("chk", true))),
        ["(VI_1) Entering BACKUP STATE"]
    );
}

// keepalived 2.2.7 resets `init_fail` when an instance tracks the script
// (alloc_track_script sets SCRIPT_INIT_STATE_INIT; verified with Debian's
// keepalived: no "entering FAULT state due to script" line, held like any
// other script), so the daemon declares such scripts pending too. A script
// already failed before startup (carried over a reload into a new
// instance) gives keepalived's init line, then vrrp_complete_init's line
// and FAULT notify, unless the instance it replaces was in FAULT already.
#[test]
fn failed_before_startup_and_init_fail() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    let a = h.send(result("chk", false));
    assert_eq!(logs(&a), ["(VI_1): entering FAULT state due to script chk"]);
    assert_eq!(
        shape(&h.send(Input::Startup)),
        [
            "log: (VI_1) entering FAULT state",
            "notify(INIT->FAULT)",
            "del_vips"
        ]
    );
    assert_eq!(h.state(), State::Fault);
    let mut r = Harness::new(cfg("10.0.0.1", 100));
    r.inst.continues_fault();
    r.send(result("chk", false));
    assert!(r.send(Input::Prepare).is_empty());
    assert_eq!(shape(&r.send(Input::Startup)), ["del_vips"]);
    assert_eq!(r.state(), State::Fault);
    assert_eq!(
        logs(&h.send(result("chk", true))),
        ["(VI_1) Entering BACKUP STATE"]
    );
    // A result before startup settles a pending script.
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(pending("chk"));
    h.send(result("chk", true));
    assert!(!h.inst.is_pending());
    assert_eq!(
        logs(&h.send(Input::Startup)),
        ["(VI_1) Entering BACKUP STATE (init)"]
    );
    // A track_file failed at start, as keepalived logs it.
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    let a = h.send(Input::TrackerFault {
        tracker: Tracker::File("tf".into()),
        failed: true,
    });
    assert_eq!(
        logs(&a),
        ["(VI_1): entering FAULT state (tracked file tf has status -254)"]
    );
}

// Input: TrackerPending after startup (a reload's new script).
// Output: ignored: keepalived's SCRIPT_INIT_STATE_INIT_RELOAD holds nothing.
#[test]
fn pending_after_startup_is_ignored() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::Startup);
    assert!(h.send(pending("chk")).is_empty());
    assert!(!h.inst.is_pending());
    assert_eq!(h.state(), State::Backup);
}

// ---- sync groups ----------------------------------------------------------

fn member(name: &str, vrid: u8, prio: u8) -> InstanceCfg {
    let mut c = cfg("10.0.0.1", prio);
    c.name = name.into();
    c.vrid = Vrid::new(vrid).unwrap();
    c.vips = Addrs::V4(vec![format!("10.0.{vrid}.100").parse().unwrap()]);
    c
}

fn group(cfgs: Vec<InstanceCfg>) -> SyncGroup {
    SyncGroup::new(
        "G",
        cfgs.into_iter()
            .map(|c| Instance::new(c).unwrap())
            .collect(),
    )
}

/// Log lines (members prefixed by index) and notifies, in order.
fn events(out: &[GroupOutput]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            GroupOutput::Log(l) => Some(l.text.clone()),
            GroupOutput::Member {
                index,
                action: Action::Log(l),
            } if !l.detail => Some(format!("{index}: {}", l.text)),
            GroupOutput::Member {
                index,
                action: Action::Notify(t),
            } => Some(format!("{index}: notify {}", t.to)),
            GroupOutput::Notify { state } => Some(format!("group notify {state}")),
            GroupOutput::Member {
                action: Action::SendAdvert(_) | Action::AddVips,
                ..
            } => Some("traffic".into()),
            _ => None,
        })
        .collect()
}

fn states(g: &SyncGroup) -> Vec<State> {
    g.members().iter().map(Instance::state).collect()
}

// Input: members 0 and 1 each track a pending script; 0 reports first.
// Output: silent start (no group notify); 0's success changes nothing; 1's
// brings 1 up and the group syncs 0 to BACKUP (keepalived's order, seen
// with Debian's keepalived: member line, group line, other member line;
// notifies member, member, group).
#[test]
fn group_waits_for_every_member() {
    let t0 = Instant::now();
    let mut g = group(vec![member("VI_1", 1, 100), member("VI_2", 2, 100)]);
    g.handle(t0, 0, pending("a"));
    g.handle(t0, 1, pending("b"));
    let out = g.handle_all(t0, Input::Startup);
    assert!(events(&out).is_empty(), "{:?}", events(&out));
    assert_eq!(g.state(), State::Init);
    assert_eq!(states(&g), [State::Fault, State::Fault]);
    assert_eq!(g.poll_at(), None);
    let out = g.handle(t0 + Duration::from_secs(2), 0, result("a", true));
    assert!(events(&out).is_empty(), "{:?}", events(&out));
    assert_eq!(states(&g), [State::Fault, State::Fault]);
    let t5 = t0 + Duration::from_secs(5);
    let out = g.handle(t5, 1, result("b", true));
    assert_eq!(
        events(&out),
        [
            "1: (VI_2) Entering BACKUP STATE",
            "1: notify BACKUP",
            "VRRP_Group(G) Syncing instances to BACKUP state",
            "0: (VI_1) Entering BACKUP STATE",
            "0: notify BACKUP",
            "group notify BACKUP",
        ]
    );
    assert_eq!(g.state(), State::Backup);
    assert_eq!(states(&g), [State::Backup, State::Backup]);
    assert_eq!(g.poll_at(), Some(t5 + us(3_609_375)));
}

// Input: only member 0 tracks a pending script.
// Output: member 1 is held as well, and comes up with the group.
#[test]
fn group_member_without_script_is_held_too() {
    let t0 = Instant::now();
    let mut g = group(vec![member("VI_1", 1, 100), member("VI_2", 2, 100)]);
    g.handle(t0, 0, pending("a"));
    assert!(events(&g.handle_all(t0, Input::Startup)).is_empty());
    assert_eq!(states(&g), [State::Fault, State::Fault]);
    let out = g.handle(t0, 0, result("a", true));
    assert_eq!(
        events(&out),
        [
            "0: (VI_1) Entering BACKUP STATE",
            "0: notify BACKUP",
            "VRRP_Group(G) Syncing instances to BACKUP state",
            "1: (VI_2) Entering BACKUP STATE",
            "1: notify BACKUP",
            "group notify BACKUP",
        ]
    );
}

// Input: member 0's script fails first, then member 1's succeeds.
// Output: the failure syncs the group to FAULT (member 0 and group notify
// FAULT, member 1 already in FAULT is left alone); the success of 1
// changes nothing while 0 is faulty; 0's recovery brings everyone up.
#[test]
fn group_member_failure_faults_the_group() {
    let t0 = Instant::now();
    let mut g = group(vec![member("VI_1", 1, 100), member("VI_2", 2, 100)]);
    g.handle(t0, 0, pending("a"));
    g.handle(t0, 1, pending("b"));
    g.handle_all(t0, Input::Startup);
    let out = g.handle(t0, 0, result("a", false));
    assert_eq!(
        events(&out),
        [
            "0: notify FAULT",
            "VRRP_Group(G) Syncing instances to FAULT state",
            "group notify FAULT",
        ]
    );
    assert_eq!(g.state(), State::Fault);
    assert!(events(&g.handle(t0, 1, result("b", true))).is_empty());
    assert_eq!(states(&g), [State::Fault, State::Fault]);
    let out = g.handle(t0, 0, result("a", true));
    assert_eq!(
        events(&out),
        [
            "0: (VI_1) Entering BACKUP STATE",
            "0: notify BACKUP",
            "VRRP_Group(G) Syncing instances to BACKUP state",
            "1: (VI_2) Entering BACKUP STATE",
            "1: notify BACKUP",
            "group notify BACKUP",
        ]
    );
}

// Input: a group of two address owners configured MASTER, one held.
// Output: no MASTER at startup; the first success takes the whole group
// to MASTER at once.
#[test]
fn group_of_owners_goes_master_on_first_success() {
    let t0 = Instant::now();
    let owner = |n, v| {
        let mut c = member(n, v, 255);
        c.state = StartState::Master;
        c
    };
    let mut g = group(vec![owner("VI_1", 1), owner("VI_2", 2)]);
    g.handle(t0, 1, pending("b"));
    let out = g.handle_all(t0, Input::Startup);
    assert!(events(&out).is_empty(), "{:?}", events(&out));
    assert_eq!(states(&g), [State::Fault, State::Fault]);
    let out = g.handle(t0, 1, result("b", true));
    assert_eq!(g.state(), State::Master);
    assert_eq!(states(&g), [State::Master, State::Master]);
    let ev = events(&out);
    assert!(
        ev.contains(&"1: (VI_2) Entering MASTER STATE".to_string())
            && ev.contains(&"0: (VI_1) Entering MASTER STATE".to_string())
            && ev.last() == Some(&"group notify MASTER".to_string()),
        "{ev:?}"
    );
}

// Input: a weight-0 track_file fails and recovers after startup.
// Output: keepalived's -D lines around the usual FAULT / BACKUP lines.
#[test]
fn track_file_detail_lines() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::Startup);
    let file = |failed| Input::TrackerFault {
        tracker: Tracker::File("tf".into()),
        failed,
    };
    assert_eq!(
        all_logs(&h.send(file(true))),
        [
            "(VI_1): tracked file tf now FAULT state",
            "(VI_1) Entering FAULT STATE"
        ]
    );
    assert_eq!(
        all_logs(&h.send(file(false))),
        [
            "(VI_1): tracked file tf leaving FAULT state",
            "(VI_1) Entering BACKUP STATE"
        ]
    );
}
