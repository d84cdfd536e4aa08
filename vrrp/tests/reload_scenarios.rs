//! Reload (SIGHUP) on an explicit clock: a kept instance's state machine
//! taking a new configuration, a removed one, and sync groups rebuilt.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Harness, advert_v3, adverts, cfg, logs, ms, rx, shape, v3};
use vrrp::fsm::{Action, Input, Instance, State, Tracker, TrackerState};
use vrrp::sync::{GroupOutput, SyncGroup};
use vrrp::{Priority, Vrid};

/// A v3 instance (advert_int 0.1) that became MASTER alone.
fn master(prio: u8) -> Harness {
    let mut h = Harness::new(v3(cfg("10.0.0.1", prio), 10));
    h.send(Input::Startup);
    h.run_until(ms(1000));
    assert_eq!(h.state(), State::Master);
    h
}

/// A v3 instance that is BACKUP to a priority-200 master.
fn backup(prio: u8) -> Harness {
    let mut h = Harness::new(v3(cfg("10.0.0.1", prio), 10));
    h.send(Input::Startup);
    h.at(ms(100));
    h.send(rx("10.0.0.2", advert_v3(200, 10)));
    assert_eq!(h.state(), State::Backup);
    h
}

fn none() -> TrackerState {
    TrackerState::default()
}

// Input: a MASTER reloaded with a lower priority and an added VIP.
// Output: still MASTER, no "Entering" line, VIPs re-added with GARPs, and
// an advert at once carrying the new priority (keepalived reload_master).
#[test]
fn kept_master_advertises_at_once_with_new_settings() {
    let mut h = master(150);
    let now = h.now;
    let mut c = v3(cfg("10.0.0.1", 120), 10);
    c.vips = vrrp::wire::Addrs::V4(vec![common::VIP, "10.0.0.101".parse().unwrap()]);
    let acts = h.inst.reconfigure(now, c, none(), true).unwrap();
    assert_eq!(shape(&acts), vec!["add_vips", "garp(5)"]);
    assert_eq!(h.state(), State::Master);
    assert_eq!(h.inst.effective_priority(), Priority(120));
    assert_eq!(h.next(), Some(now - h.t0));
    let fired = h.run_until(now - h.t0);
    let all: Vec<Action> = fired.into_iter().flat_map(|(_, a)| a).collect();
    assert_eq!(adverts(&all), vec![120]);
    assert!(logs(&all).is_empty(), "{:?}", logs(&all));
    // And then every 100 ms as before.
    let fired = h.run_until(now - h.t0 + ms(100));
    assert_eq!(fired.len(), 1);
}

// Input: a MASTER reloaded with the same addresses.
// Output: no GARP burst (nothing new to announce), VIPs asserted again.
#[test]
fn kept_master_without_new_addresses_sends_no_garps() {
    let mut h = master(150);
    let now = h.now;
    let acts = h
        .inst
        .reconfigure(now, v3(cfg("10.0.0.1", 150), 10), none(), false)
        .unwrap();
    assert_eq!(shape(&acts), vec!["add_vips"]);
}

// Input: a MASTER reloaded with priority below its peer's.
// Output: it stays MASTER until the peer's advert arrives, then the normal
// handover (keepalived: a lowered priority does not force an election).
#[test]
fn lowered_priority_hands_over_through_the_protocol() {
    let mut h = master(150);
    let now = h.now;
    h.inst
        .reconfigure(now, v3(cfg("10.0.0.1", 50), 10), none(), false)
        .unwrap();
    assert_eq!(h.state(), State::Master);
    let acts = h.send(rx("10.0.0.2", advert_v3(100, 10)));
    assert_eq!(h.state(), State::Backup);
    assert_eq!(
        logs(&acts),
        vec![
            "(VI_1) Master received advert from 10.0.0.2 with higher priority 100, ours 50",
            "(VI_1) Entering BACKUP STATE"
        ]
    );
}

// Input: a BACKUP reloaded with a priority above the master's.
// Output: still BACKUP; the master's (now lower) adverts are discarded and
// the down timer makes it MASTER (preemption).
#[test]
fn raised_priority_on_backup_preempts() {
    let mut h = backup(100);
    let now = h.now;
    let acts = h
        .inst
        .reconfigure(now, v3(cfg("10.0.0.1", 250), 10), none(), false)
        .unwrap();
    assert!(acts.is_empty(), "{:?}", shape(&acts));
    assert_eq!(h.state(), State::Backup);
    let t = now - h.t0;
    h.at(t + ms(100));
    let acts = h.send(rx("10.0.0.2", advert_v3(200, 10)));
    assert_eq!(
        logs(&acts),
        vec!["(VI_1) received lower priority (200) advert from 10.0.0.2 - discarding"]
    );
    let fired = h.run_until(t + ms(400));
    let all: Vec<Action> = fired.into_iter().flat_map(|(_, a)| a).collect();
    assert!(logs(&all).contains(&"(VI_1) Entering MASTER STATE".to_owned()));
    assert_eq!(h.state(), State::Master);
}

// Input: a BACKUP reloaded; no advert afterwards.
// Output: the down timer restarts in full from the reload (3 x 100 ms +
// skew), as keepalived's vrrp_init_state does for a running backup.
#[test]
fn kept_backup_restarts_down_timer() {
    let mut h = backup(100);
    let now = h.now;
    h.inst
        .reconfigure(now, v3(cfg("10.0.0.1", 100), 10), none(), false)
        .unwrap();
    // skew for priority 100 at 10 cs: (256-100) * 10 * 625 / 16 us.
    let skew = (256 - 100) * 10 * 625 / 16;
    assert_eq!(h.next(), Some(now - h.t0 + ms(300) + common::us(skew)));
}

// Input: a reload whose tracker state has a failed weight-0 tracker (a
// script the new file tracks, carried over as failed).
// Output: the MASTER goes to FAULT the normal way (priority 0, VIPs down).
#[test]
fn failed_tracker_faults_kept_master() {
    let mut h = master(150);
    let now = h.now;
    let ts = TrackerState {
        faults: BTreeSet::from([Tracker::Script("chk".into())]),
        weights: BTreeMap::new(),
    };
    let acts = h
        .inst
        .reconfigure(now, v3(cfg("10.0.0.1", 150), 10), ts, false)
        .unwrap();
    assert_eq!(h.state(), State::Fault);
    // As a tracker failing at run time: priority 0 (twice, as there).
    assert!(!adverts(&acts).is_empty() && adverts(&acts).iter().all(|p| *p == 0));
    assert!(shape(&acts).contains(&"del_vips".to_owned()));
    assert!(shape(&acts).contains(&"notify(MASTER->FAULT)".to_owned()));
}

// Input: tracker weights carried over.
// Output: the effective priority is recomputed from the new base, without
// a "Changing effective priority" line (keepalived builds a new instance).
#[test]
fn weights_recomputed_silently() {
    let mut h = master(150);
    let now = h.now;
    let ts = TrackerState::from_inputs(
        "eth0",
        &[Input::TrackWeight {
            tracker: "script chk".into(),
            weight: -30,
        }],
    );
    let acts = h
        .inst
        .reconfigure(now, v3(cfg("10.0.0.1", 140), 10), ts, false)
        .unwrap();
    assert_eq!(h.inst.effective_priority(), Priority(110));
    assert!(logs(&acts).is_empty());
}

// Input: a MASTER removed by a reload; a BACKUP removed.
// Output: the MASTER sends priority 0 and drops its VIPs; the BACKUP does
// nothing; neither notifies (the daemon notifies DELETED/FAULT).
#[test]
fn removed_instances() {
    let mut h = master(150);
    let acts = h.inst.remove();
    assert_eq!(
        shape(&acts),
        vec!["advert(0)", "detail: (VI_1) sent 0 priority", "del_vips"]
    );
    assert_eq!(h.state(), State::Stop);
    assert_eq!(h.inst.poll_at(), None);
    let mut b = backup(100);
    assert!(b.inst.remove().is_empty());
    assert_eq!(b.state(), State::Stop);
}

fn member(name: &str, vrid: u8, prio: u8) -> vrrp::fsm::InstanceCfg {
    let mut c = v3(cfg("10.0.0.1", prio), 10);
    c.name = name.into();
    c.vrid = Vrid::new(vrid).unwrap();
    c.vips = vrrp::wire::Addrs::V4(vec![format!("10.0.{vrid}.100").parse().unwrap()]);
    c
}

fn run_group(g: &mut SyncGroup, until: std::time::Instant) {
    while let Some(next) = g.poll_at().filter(|n| *n <= until) {
        g.handle_all(next, Input::Tick);
    }
}

fn notifies(out: &[GroupOutput]) -> Vec<State> {
    out.iter()
        .filter_map(|o| match o {
            GroupOutput::Notify { state } => Some(*state),
            _ => None,
        })
        .collect()
}

// Input: a MASTER group rebuilt by a reload with the same members.
// Output: still MASTER, no group notify, members untouched.
#[test]
fn kept_master_group_stays_master_quietly() {
    let t0 = std::time::Instant::now();
    let mut g = SyncGroup::new(
        "G1",
        vec![
            Instance::new(member("A", 1, 150)).unwrap(),
            Instance::new(member("B", 2, 150)).unwrap(),
        ],
    );
    g.handle_all(t0, Input::Startup);
    run_group(&mut g, t0 + ms(1000));
    assert_eq!(g.state(), State::Master);
    let now = t0 + ms(1000);
    let mut members = g.into_members();
    for (m, c) in members
        .iter_mut()
        .zip([member("A", 1, 150), member("B", 2, 150)])
    {
        m.reconfigure(now, c, none(), false).unwrap();
    }
    let (g, out) = SyncGroup::reloaded(now, "G1", members, Some(State::Master));
    assert_eq!(g.state(), State::Master);
    assert!(notifies(&out).is_empty());
    assert!(out.is_empty(), "{out:?}");
    assert!(g.members().iter().all(|m| m.state() == State::Master));
}

// Input: a MASTER group gains a new member on reload.
// Output: the group goes BACKUP (the new member has not won anything), the
// kept members leave MASTER, the new member starts, BACKUP notified.
#[test]
fn new_member_moves_group_to_backup() {
    let t0 = std::time::Instant::now();
    let mut g = SyncGroup::new("G1", vec![Instance::new(member("A", 1, 150)).unwrap()]);
    g.handle_all(t0, Input::Startup);
    run_group(&mut g, t0 + ms(1000));
    assert_eq!(g.state(), State::Master);
    let now = t0 + ms(1000);
    let mut members = g.into_members();
    members[0]
        .reconfigure(now, member("A", 1, 150), none(), false)
        .unwrap();
    members.push(Instance::new(member("N", 3, 150)).unwrap());
    let (g, out) = SyncGroup::reloaded(now, "G1", members, Some(State::Master));
    assert_eq!(g.state(), State::Backup);
    assert_eq!(notifies(&out), vec![State::Backup]);
    assert_eq!(g.members()[0].state(), State::Backup);
    assert_eq!(g.members()[1].state(), State::Backup);
    assert!(g.members()[1].started());
}

// Input: a MASTER reloaded with garp_extra_if 1 (with or without new
// addresses). Output: keepalived's new instance has no garp_extra_if time
// yet, so the advert at once also announces on the extra interfaces; then
// one interval on.
#[test]
fn kept_master_sends_garp_extra_if_with_its_first_advert() {
    for added in [false, true] {
        let mut h = master(150);
        let now = h.now;
        let mut c = v3(cfg("10.0.0.1", 150), 10);
        c.garp.extra_if = Some(std::time::Duration::from_secs(1));
        let acts = h.inst.reconfigure(now, c, none(), added).unwrap();
        assert!(!acts.contains(&Action::SendExtraIfGarps));
        let fired = h.run_until(now - h.t0 + ms(1000));
        let at: Vec<_> = fired
            .iter()
            .filter(|(_, a)| a.contains(&Action::SendExtraIfGarps))
            .map(|(t, _)| *t - (now - h.t0))
            .collect();
        assert_eq!(at, [ms(0), ms(1000)], "added {added}");
    }
}
