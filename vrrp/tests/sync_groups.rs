//! Sync group scenarios on an explicit clock.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::{advert_v2, cfg, ip, us};
use vrrp::fsm::{Action, Input, Instance, InstanceCfg, StartState, State};
use vrrp::sync::{GroupOutput, SyncGroup};
use vrrp::wire::Addrs;
use vrrp::{Priority, Vrid};

fn member(name: &str, vrid: u8, prio: u8) -> InstanceCfg {
    let mut c = cfg("10.0.0.1", prio);
    c.name = name.into();
    c.vrid = Vrid::new(vrid).unwrap();
    c.vips = Addrs::V4(vec![format!("10.0.{vrid}.100").parse().unwrap()]);
    c
}

fn group(cfgs: Vec<InstanceCfg>) -> SyncGroup {
    SyncGroup::new(
        "G1",
        cfgs.into_iter()
            .map(|c| Instance::new(c).unwrap())
            .collect(),
    )
}

/// Group log lines and member log lines prefixed by member index.
fn lines(out: &[GroupOutput]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            GroupOutput::Log(l) => Some(l.text.clone()),
            GroupOutput::Member {
                index,
                action: Action::Log(l),
            } if !l.detail => Some(format!("{index}: {}", l.text)),
            _ => None,
        })
        .collect()
}

fn member_adverts(out: &[GroupOutput], who: usize) -> Vec<u8> {
    out.iter()
        .filter_map(|o| match o {
            GroupOutput::Member {
                index,
                action: Action::SendAdvert(a),
            } if *index == who => Some(a.priority.get()),
            _ => None,
        })
        .collect()
}

fn group_notifies(out: &[GroupOutput]) -> Vec<State> {
    out.iter()
        .filter_map(|o| match o {
            GroupOutput::Notify { state } => Some(*state),
            _ => None,
        })
        .collect()
}

fn run_until(g: &mut SyncGroup, t: Instant) -> Vec<GroupOutput> {
    let mut out = Vec::new();
    while let Some(next) = g.poll_at().filter(|n| *n <= t) {
        out.extend(g.handle_all(next, Input::Tick));
    }
    out
}

fn states(g: &SyncGroup) -> Vec<State> {
    g.members().iter().map(Instance::state).collect()
}

// Input: two members with different priorities start; nothing is heard.
// Output: the first member to time out waits in BACKUP (wanting MASTER)
// until the other times out too; then the whole group goes MASTER.
#[test]
fn members_go_master_together() {
    let t0 = Instant::now();
    let mut g = group(vec![member("VI_1", 1, 150), member("VI_2", 2, 100)]);
    let out = g.handle_all(t0, Input::Startup);
    assert_eq!(group_notifies(&out), [State::Backup]);
    assert_eq!(
        lines(&out),
        [
            "0: (VI_1) Entering BACKUP STATE (init)",
            "1: (VI_2) Entering BACKUP STATE (init)"
        ]
    );
    // VI_1 (150) times out at 3414062 µs but VI_2 does not want MASTER yet.
    let out = run_until(&mut g, t0 + us(3_414_062));
    assert!(lines(&out).is_empty(), "{out:?}");
    assert_eq!(states(&g), [State::Backup, State::Backup]);
    assert_eq!(g.members()[0].wantstate(), State::Master);
    // VI_2 times out at 3609375 µs: both go MASTER.
    let out = run_until(&mut g, t0 + us(3_609_375));
    assert_eq!(
        lines(&out),
        [
            "1: (VI_2) Entering MASTER STATE",
            "VRRP_Group(G1) Syncing instances to MASTER state",
            "0: (VI_1) Entering MASTER STATE",
        ]
    );
    assert_eq!(group_notifies(&out), [State::Master]);
    assert_eq!(states(&g), [State::Master, State::Master]);
    assert_eq!(g.state(), State::Master);
}

// Input: one member of a MASTER group loses its interface, then gets it
// back. Output: the whole group goes FAULT (priority-0 adverts from both),
// then BACKUP together.
#[test]
fn member_fault_takes_group_down_and_up() {
    let t0 = Instant::now();
    let mut g = group(vec![member("VI_1", 1, 100), member("VI_2", 2, 100)]);
    g.handle_all(t0, Input::Startup);
    run_until(&mut g, t0 + Duration::from_secs(4));
    assert_eq!(g.state(), State::Master);

    let t = t0 + Duration::from_secs(5);
    let out = g.handle(t, 1, Input::IfaceDown);
    assert_eq!(
        lines(&out),
        [
            "1: (VI_2) Entering FAULT STATE",
            "VRRP_Group(G1) Syncing instances to FAULT state",
            "0: (VI_1) Entering FAULT STATE",
        ]
    );
    // keepalived: the faulty member sends two priority-0 adverts, the one
    // pulled down by the group one.
    assert_eq!(member_adverts(&out, 1), [0, 0]);
    assert_eq!(member_adverts(&out, 0), [0]);
    assert_eq!(states(&g), [State::Fault, State::Fault]);
    assert_eq!(g.poll_at(), None);

    let out = g.handle(t + Duration::from_secs(1), 1, Input::IfaceUp);
    assert_eq!(
        lines(&out),
        [
            "1: (VI_2) Entering BACKUP STATE",
            "VRRP_Group(G1) Syncing instances to BACKUP state",
            "0: (VI_1) Entering BACKUP STATE",
        ]
    );
    assert_eq!(states(&g), [State::Backup, State::Backup]);
    assert_eq!(group_notifies(&out), [State::Backup]);
}

// Input: two members fault, then recover one at a time.
// Output: the group stays FAULT until the last one recovers.
#[test]
fn group_stays_fault_until_last_member_recovers() {
    let t0 = Instant::now();
    let mut g = group(vec![member("VI_1", 1, 100), member("VI_2", 2, 100)]);
    g.handle_all(t0, Input::Startup);
    g.handle(t0, 0, Input::IfaceDown);
    g.handle(t0, 1, Input::IfaceDown);
    let out = g.handle(t0, 0, Input::IfaceUp);
    assert!(lines(&out).is_empty(), "{out:?}");
    assert_eq!(states(&g), [State::Fault, State::Fault]);
    g.handle(t0, 1, Input::IfaceUp);
    assert_eq!(states(&g), [State::Backup, State::Backup]);
}

// Input: a MASTER member hears a higher-priority advert.
// Output: it goes BACKUP and takes the group with it.
#[test]
fn member_preempted_moves_group_to_backup() {
    let t0 = Instant::now();
    let mut g = group(vec![member("VI_1", 1, 100), member("VI_2", 2, 100)]);
    g.handle_all(t0, Input::Startup);
    run_until(&mut g, t0 + Duration::from_secs(4));
    let mut a = advert_v2(200);
    a.vrid = Vrid::new(1).unwrap();
    a.addrs = Addrs::V4(vec!["10.0.1.100".parse().unwrap()]);
    let src: IpAddr = ip("10.0.0.9");
    let out = g.handle(
        t0 + Duration::from_secs(5),
        0,
        Input::Advert { src, pkt: Ok(a) },
    );
    assert_eq!(
        lines(&out),
        [
            "0: (VI_1) Master received advert from 10.0.0.9 with higher priority 200, ours 100",
            "0: (VI_1) Entering BACKUP STATE",
            "VRRP_Group(G1) Syncing instances to BACKUP state",
            "1: (VI_2) Entering BACKUP STATE",
        ]
    );
    assert_eq!(states(&g), [State::Backup, State::Backup]);
}

// Input: a member is down before startup. Output: the group and the other
// member start in FAULT: each member logs and notifies FAULT, then the
// group notifies (keepalived's order, seen with Debian's keepalived and a
// track_file failed at start).
#[test]
fn faulty_member_at_startup() {
    let t0 = Instant::now();
    let mut g = group(vec![member("VI_1", 1, 100), member("VI_2", 2, 100)]);
    g.handle(t0, 1, Input::IfaceDown);
    let out = g.handle_all(t0, Input::Startup);
    assert_eq!(
        lines(&out),
        [
            "VRRP_Group(G1): Syncing VI_2 to FAULT state",
            "0: (VI_1) entering FAULT state",
            "1: (VI_2) entering FAULT state"
        ]
    );
    let notified: Vec<String> = out
        .iter()
        .filter_map(|o| match o {
            GroupOutput::Member {
                index,
                action: Action::Notify(t),
            } => Some(format!("{index} {}", t.to)),
            GroupOutput::Notify { state } => Some(format!("G {state}")),
            _ => None,
        })
        .collect();
    assert_eq!(notified, ["0 FAULT", "1 FAULT", "G FAULT"]);
    assert_eq!(states(&g), [State::Fault, State::Fault]);
    g.handle(t0, 1, Input::IfaceUp);
    assert_eq!(states(&g), [State::Backup, State::Backup]);
}

// Input: a sync member configured `state MASTER` below 255.
// Output: keepalived gives it one advert interval + minimum skew
// (1 s + 3906 µs) instead of the full master-down timer.
#[test]
fn state_master_member_waits_one_interval() {
    let t0 = Instant::now();
    let mut c = member("VI_1", 1, 100);
    c.state = StartState::Master;
    let mut g = group(vec![c, member("VI_2", 2, 100)]);
    g.handle_all(t0, Input::Startup);
    assert_eq!(g.members()[0].poll_at(), Some(t0 + us(1_003_906)));
    assert_eq!(g.members()[1].poll_at(), Some(t0 + us(3_609_375)));
}

// Input: all members are address owners. Output: MASTER at once, without
// a group "Syncing" line.
#[test]
fn owner_group_starts_master() {
    let t0 = Instant::now();
    let mk = |n, v| {
        let mut c = member(n, v, 255);
        c.state = StartState::Master;
        c
    };
    let mut g = group(vec![mk("VI_1", 1), mk("VI_2", 2)]);
    let out = g.handle_all(t0, Input::Startup);
    assert_eq!(
        lines(&out),
        [
            "0: (VI_1) Entering MASTER STATE",
            "1: (VI_2) Entering MASTER STATE"
        ]
    );
    assert_eq!(g.state(), State::Master);
    assert_eq!(g.members()[0].effective_priority(), Priority::OWNER);
}

// Input: shutdown. Output: STOP for every member and the group.
#[test]
fn shutdown_group() {
    let t0 = Instant::now();
    let mut g = group(vec![member("VI_1", 1, 100), member("VI_2", 2, 100)]);
    g.handle_all(t0, Input::Startup);
    run_until(&mut g, t0 + Duration::from_secs(4));
    let out = g.handle_all(t0 + Duration::from_secs(5), Input::Shutdown);
    assert_eq!(member_adverts(&out, 0), [0]);
    assert_eq!(member_adverts(&out, 1), [0]);
    assert_eq!(group_notifies(&out), [State::Stop]);
    assert_eq!(states(&g), [State::Stop, State::Stop]);
}
