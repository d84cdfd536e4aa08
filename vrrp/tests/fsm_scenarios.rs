//! State-machine scenarios on an explicit clock.
//!
//! Each test starts with an Input/Output comment. Timings are keepalived's,
//! in microseconds: with VRRPv2 and a 1 s interval, skew is
//! (256 - prio) * 1e6 / 256 µs (truncated) and master-down is 3 s + skew:
//! prio 100 -> 609375 / 3609375, prio 150 -> 414062 / 3414062,
//! prio 255 -> 3906.

mod common;

use std::time::Duration;

use common::*;
use vrrp::fsm::{Action, Input, Reason, StartState, State, Tracker, Transition};
use vrrp::wire::DecodeError;
use vrrp::{Centisecs, Priority, Version};

// Input: Startup, then silence. Output: BACKUP (init) at once, MASTER at
// exactly master-down (3609375 µs), then an advert every second and the
// delayed GARP burst after garp_master_delay (5 s).
#[test]
fn startup_backup_then_master_at_exactly_master_down() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    assert_eq!(h.state(), State::Init);
    let a = h.send(Input::Startup);
    assert_eq!(
        shape(&a),
        [
            "del_vips",
            "log: (VI_1) Entering BACKUP STATE (init)",
            "notify(INIT->BACKUP)"
        ]
    );
    assert_eq!(h.state(), State::Backup);
    assert_eq!(h.next(), Some(us(3_609_375)));

    assert!(h.run_until(us(3_609_374)).is_empty());
    assert_eq!(h.state(), State::Backup);

    let fired = h.run_until(us(3_609_375));
    assert_eq!(fired.len(), 1);
    assert_eq!(
        shape(&fired[0].1),
        [
            "detail: (VI_1) Receive advertisement timeout",
            "advert(100)",
            "log: (VI_1) Entering MASTER STATE",
            "add_vips",
            "garp(5)",
            "notify(BACKUP->MASTER)",
        ]
    );
    let Action::Notify(t) = &fired[0].1[5] else {
        panic!()
    };
    assert_eq!(
        *t,
        Transition {
            from: State::Backup,
            to: State::Master,
            reason: Reason::MasterNoResponse,
            priority: Priority(100)
        }
    );
    assert_eq!(h.state(), State::Master);

    let fired = h.run_until(Duration::from_secs(10));
    let times: Vec<_> = fired
        .iter()
        .map(|(t, a)| (t.as_micros(), shape(a)))
        .collect();
    let expected: Vec<(u128, Vec<String>)> = vec![
        (4_609_375, vec!["advert(100)".into()]),
        (5_609_375, vec!["advert(100)".into()]),
        (6_609_375, vec!["advert(100)".into()]),
        (7_609_375, vec!["advert(100)".into()]),
        (8_609_375, vec!["advert(100)".into(), "garp(5)".into()]),
        (9_609_375, vec!["advert(100)".into()]),
    ];
    assert_eq!(times, expected);
    assert_eq!(h.inst.stats().advert_sent, 7);
    assert_eq!(h.inst.stats().become_master, 1);
}

// Input: backup hears a higher-priority master every second.
// Output: no transition; the down timer restarts at each advert.
#[test]
fn backup_stays_backup_while_master_advertises() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::Startup);
    for s in 1..=10u64 {
        h.run_until(Duration::from_secs(s));
        let a = h.send(rx("10.0.0.2", advert_v2(150)));
        assert!(logs(&a).is_empty(), "{a:?}");
        assert_eq!(h.next(), Some(Duration::from_secs(s) + us(3_609_375)));
    }
    assert_eq!(h.state(), State::Backup);
    assert_eq!(h.inst.master_addr(), Some(ip("10.0.0.2")));
    assert_eq!(h.inst.stats().advert_rcvd, 10);
}

// Input: master (prio 100) hears prio 150.
// Output: BACKUP with keepalived's log lines, VIPs removed, down timer at
// master-down for our priority.
#[test]
fn master_preempted_by_higher_priority() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::Startup);
    h.run_until(us(3_609_375));
    h.at(Duration::from_secs(4));
    let a = h.send(rx("10.0.0.2", advert_v2(150)));
    assert_eq!(
        shape(&a),
        [
            "log: (VI_1) Master received advert from 10.0.0.2 with higher priority 150, ours 100",
            "log: (VI_1) Entering BACKUP STATE",
            "del_vips",
            "notify(MASTER->BACKUP)",
        ]
    );
    assert_eq!(h.state(), State::Backup);
    assert_eq!(h.next(), Some(Duration::from_secs(4) + us(3_609_375)));
    assert_eq!(h.inst.stats().release_master, 1);
}

// Input: backup prio 150 hears a prio 100 master (preempt on).
// Output: "discarding" each time; the down timer from startup keeps
// running and we take over at 3414062 µs.
#[test]
fn backup_preempts_lower_priority_master() {
    let mut h = Harness::new(cfg("10.0.0.1", 150));
    h.send(Input::Startup);
    h.at(ms(500));
    let a = h.send(rx("10.0.0.2", advert_v2(100)));
    assert_eq!(
        logs(&a),
        ["(VI_1) received lower priority (100) advert from 10.0.0.2 - discarding"]
    );
    h.at(ms(1500));
    h.send(rx("10.0.0.2", advert_v2(100)));
    assert_eq!(h.next(), Some(us(3_414_062)));
    let fired = h.run_until(us(3_414_062));
    assert_eq!(h.state(), State::Master);
    let Some(Action::Notify(t)) = fired[0].1.iter().find(|a| matches!(a, Action::Notify(_))) else {
        panic!()
    };
    assert_eq!(t.reason, Reason::Preempted);
}

// Input: as above with nopreempt. Output: stays BACKUP indefinitely.
#[test]
fn nopreempt_never_takes_over_from_live_master() {
    let mut c = cfg("10.0.0.1", 150);
    c.nopreempt = true;
    let mut h = Harness::new(c);
    h.send(Input::Startup);
    for s in 0..30u64 {
        h.at(Duration::from_secs(s) + ms(500));
        let a = h.send(rx("10.0.0.2", advert_v2(100)));
        assert!(logs(&a).is_empty());
        assert!(h.run_until(Duration::from_secs(s + 1) + ms(499)).is_empty());
    }
    assert_eq!(h.state(), State::Backup);
    // It still takes over when the master goes silent.
    h.run_until(Duration::from_secs(40));
    assert_eq!(h.state(), State::Master);
}

// Input: backup prio 150, preempt_delay 5 s, lower-priority adverts every
// second from 0.5 s. Output: the first one starts the delay (ends 5.5 s);
// adverts are accepted until then, discarded from 5.5 s on, and we take
// over master-down after the last accepted one: 4.5 s + 3414062 µs.
#[test]
fn preempt_delay_holds_off_preemption() {
    let mut c = cfg("10.0.0.1", 150);
    c.preempt_delay = Duration::from_secs(5);
    let mut h = Harness::new(c);
    h.send(Input::Startup);
    let mut last_accepted = Duration::ZERO;
    for tenths in (5..=80u64).step_by(10) {
        let t = ms(tenths * 100);
        h.run_until(t);
        if h.state() != State::Backup {
            break;
        }
        let a = h.send(rx("10.0.0.2", advert_v2(100)));
        if tenths == 5 {
            assert_eq!(all_logs(&a), ["(VI_1) start preempt delay (5.000000)"]);
        }
        if logs(&a).is_empty() {
            last_accepted = t;
        } else {
            assert_eq!(
                logs(&a),
                ["(VI_1) received lower priority (100) advert from 10.0.0.2 - discarding"]
            );
        }
    }
    assert_eq!(last_accepted, ms(4500));
    assert_eq!(h.next(), Some(ms(4500) + us(3_414_062)));
    h.run_until(ms(4500) + us(3_414_062));
    assert_eq!(h.state(), State::Master);
}

// Input: backup hears priority 0. Output: down timer := skew (609375 µs).
#[test]
fn backup_receives_priority_zero() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::Startup);
    h.at(Duration::from_secs(1));
    h.send(rx("10.0.0.2", advert_v2(150)));
    h.at(Duration::from_secs(2));
    let a = h.send(rx("10.0.0.2", advert_v2(0)));
    assert_eq!(
        all_logs(&a),
        ["(VI_1) Backup received priority 0 advertisement"]
    );
    assert_eq!(h.next(), Some(Duration::from_secs(2) + us(609_375)));
    let fired = h.run_until(Duration::from_secs(3));
    assert_eq!(h.state(), State::Master);
    let Some(Action::Notify(t)) = fired[0].1.iter().find(|a| matches!(a, Action::Notify(_))) else {
        panic!()
    };
    assert_eq!(t.reason, Reason::Priority0);
    assert_eq!(h.inst.stats().pri_zero_rcvd, 1);
}

// Input: master hears priority 0. Output: an advert at once, still MASTER,
// advert timer restarted.
#[test]
fn master_receives_priority_zero() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::Startup);
    h.run_until(us(3_609_375));
    h.at(us(4_000_000));
    let a = h.send(rx("10.0.0.2", advert_v2(0)));
    assert_eq!(
        shape(&a),
        [
            "advert(100)",
            "detail: (VI_1) Master received priority 0 message"
        ]
    );
    assert_eq!(h.state(), State::Master);
    assert_eq!(h.next(), Some(Duration::from_secs(5)));
}

// Input: master shuts down. Output: priority-0 advert, VIPs removed, STOP.
#[test]
fn master_shutdown_sends_priority_zero() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::Startup);
    h.run_until(us(3_609_375));
    let a = h.send(Input::Shutdown);
    assert_eq!(
        shape(&a),
        [
            "advert(0)",
            "detail: (VI_1) sent 0 priority",
            "del_vips",
            "notify(MASTER->STOP)"
        ]
    );
    assert_eq!(h.state(), State::Stop);
    assert_eq!(h.next(), None);
    assert!(h.send(rx("10.0.0.2", advert_v2(150))).is_empty());
    // A backup just reports STOP.
    let mut b = Harness::new(cfg("10.0.0.1", 100));
    b.send(Input::Startup);
    assert_eq!(shape(&b.send(Input::Shutdown)), ["notify(BACKUP->STOP)"]);
}

// Input: MASTER (prio 100 at 3609375 µs), then one of its VIPs deleted
// behind its back. Output: keepalived's `set_vrrp_backup`: BACKUP,
// priority 0 sent, VIPs removed; the down timer is the skew alone
// (609375 µs), so it is MASTER again then, putting the VIPs back. A
// backup ignores it.
#[test]
fn master_whose_vip_is_deleted_takes_it_back() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::Startup);
    h.run_until(us(3_609_375));
    assert_eq!(h.state(), State::Master);
    h.at(us(4_000_000));
    let a = h.send(Input::AddressRemoved);
    assert_eq!(
        shape(&a),
        [
            "log: (VI_1) Entering BACKUP STATE",
            "advert(0)",
            "detail: (VI_1) sent 0 priority",
            "del_vips",
            "notify(MASTER->BACKUP)"
        ]
    );
    assert_eq!(h.next(), Some(us(4_000_000 + 609_375)));
    let later = h.run_until(us(4_000_000 + 609_375));
    assert_eq!(h.state(), State::Master);
    assert!(
        later
            .iter()
            .flat_map(|(_, a)| shape(a))
            .any(|s| s == "add_vips"),
        "{later:?}"
    );
    let mut b = Harness::new(cfg("10.0.0.1", 100));
    b.send(Input::Startup);
    assert!(b.send(Input::AddressRemoved).is_empty());
    assert_eq!(b.state(), State::Backup);
}

// Input: `state MASTER`, priority 100, no sync group. Output: BACKUP
// (init) and the full master-down timer. keepalived (vrrp_init_state, 2.2.7
// to HEAD) only shortens the wait to one interval + minimum skew for sync
// group members (see tests/sync_groups.rs), because a standalone
// instance's "new state" is its wanted state, MASTER; `state MASTER` then
// only disables nopreempt and preempt_delay.
#[test]
fn state_master_below_255_starts_backup() {
    let mut c = cfg("10.0.0.1", 100);
    c.state = StartState::Master;
    c.nopreempt = true;
    let mut h = Harness::new(c);
    assert!(
        !h.inst.cfg().nopreempt,
        "nopreempt is cleared with state MASTER"
    );
    let a = h.send(Input::Startup);
    assert_eq!(logs(&a), ["(VI_1) Entering BACKUP STATE (init)"]);
    assert_eq!(h.next(), Some(us(3_609_375)));
    h.run_until(us(3_609_375));
    assert_eq!(h.state(), State::Master);

    // An existing master heard in that window keeps us BACKUP.
    let mut c = cfg("10.0.0.1", 100);
    c.state = StartState::Master;
    let mut h = Harness::new(c);
    h.send(Input::Startup);
    h.at(ms(500));
    h.send(rx("10.0.0.2", advert_v2(200)));
    h.run_until(ms(3000));
    assert_eq!(h.state(), State::Backup);
}

// Input: priority 255 (address owner), Startup. Output: MASTER at once,
// without the BACKUP (init) step or stale VIP removal.
#[test]
fn owner_goes_master_immediately() {
    let mut c = cfg("10.0.0.1", 255);
    c.state = StartState::Master;
    let mut h = Harness::new(c);
    let a = h.send(Input::Startup);
    assert_eq!(
        shape(&a),
        [
            "detail: (VI_1) Receive advertisement timeout",
            "advert(255)",
            "log: (VI_1) Entering MASTER STATE",
            "add_vips",
            "garp(5)",
            "notify(BACKUP->MASTER)",
        ]
    );
    assert_eq!(h.state(), State::Master);
    // Its priority never changes with tracking.
    let a = h.send(Input::TrackWeight {
        tracker: "chk".into(),
        weight: -50,
    });
    assert!(a.is_empty());
    assert_eq!(h.inst.effective_priority(), Priority::OWNER);
}

// Input: two masters with equal priority hear each other.
// Output: the lower address yields, the higher one forces a new election.
#[test]
fn equal_priority_tie_broken_by_primary_ip() {
    let mut low = Harness::new(cfg("10.0.0.1", 100));
    low.send(Input::Startup);
    low.run_until(us(3_609_375));
    let a = low.send(rx("10.0.0.2", advert_v2(100)));
    assert_eq!(
        logs(&a),
        [
            "(VI_1) Master received advert from 10.0.0.2 with same priority 100 but higher IP address than ours",
            "(VI_1) Entering BACKUP STATE"
        ]
    );
    assert_eq!(low.state(), State::Backup);

    let mut high = Harness::new(cfg("10.0.0.2", 100));
    high.send(Input::Startup);
    high.run_until(us(3_609_375));
    let a = high.send(rx("10.0.0.1", advert_v2(100)));
    assert_eq!(
        shape(&a),
        [
            "log: (VI_1) Received advert from 10.0.0.1 with lower priority 100, ours 100, forcing new election",
            "advert(100)",
            "garp(5)",
            "notify_rx_lower",
        ]
    );
    assert_eq!(high.state(), State::Master);
    // The lower-priority GARP burst repeats after garp_lower_prio_delay.
    let fired = high.run_until(us(3_609_375) + Duration::from_secs(5));
    assert!(
        fired.iter().any(|(t, a)| *t == us(8_609_375)
            && shape(a).iter().filter(|s| *s == "garp(5)").count() == 2)
    );
}

// Input: lower_prio_no_advert on a master hearing a lower priority.
// Output: the log without ", forcing new election", no advert.
#[test]
fn lower_prio_no_advert() {
    let mut c = cfg("10.0.0.2", 150);
    c.lower_prio_no_advert = true;
    c.garp.lower_prio_repeat = 0;
    let mut h = Harness::new(c);
    h.send(Input::Startup);
    h.run_until(us(3_414_062));
    let a = h.send(rx("10.0.0.1", advert_v2(100)));
    assert_eq!(
        shape(&a),
        [
            "log: (VI_1) Received advert from 10.0.0.1 with lower priority 100, ours 150",
            "notify_rx_lower"
        ]
    );
}

// Input: VRRPv3 backup (100 cs) hears a master advertising 50 cs.
// Output: it adopts 50 cs: master-down = 3 * 0.5 s + 156*50*625/16 µs.
#[test]
fn v3_backup_adopts_master_interval() {
    let mut h = Harness::new(v3(cfg("10.0.0.1", 100), 100));
    h.send(Input::Startup);
    // 3 s + 156 * 100 * 625 / 16 = 3609375 µs with our own 1 s.
    assert_eq!(h.next(), Some(us(3_609_375)));
    h.at(Duration::from_secs(1));
    let a = h.send(rx("10.0.0.2", advert_v3(200, 50)));
    assert_eq!(
        all_logs(&a),
        ["(VI_1) advertisement interval updated from 1000ms to 500ms by master",]
    );
    assert_eq!(h.inst.master_adver_int(), Centisecs(50));
    assert_eq!(h.next(), Some(Duration::from_secs(1) + us(1_804_687)));
    // Taking over, it advertises its own interval again.
    let fired = h.run_until(Duration::from_secs(4));
    assert_eq!(h.state(), State::Master);
    assert_eq!(h.inst.master_adver_int(), Centisecs(100));
    let Some(Action::SendAdvert(ad)) = fired[0]
        .1
        .iter()
        .find(|a| matches!(a, Action::SendAdvert(_)))
    else {
        panic!()
    };
    assert_eq!(ad.interval(), Centisecs(100));
    assert_eq!(ad.version(), Version::V3);
}

// Input: interface down/up, as master, as backup and before startup.
// Output: FAULT with priority-0 adverts (keepalived sends two) when
// leaving MASTER; back to BACKUP with a fresh master-down timer.
#[test]
fn interface_down_and_up() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::Startup);
    h.run_until(us(3_609_375));
    h.at(Duration::from_secs(4));
    let a = h.send(Input::IfaceDown);
    assert_eq!(
        shape(&a),
        [
            "log: (VI_1) Entering FAULT STATE",
            "advert(0)",
            "advert(0)",
            "detail: (VI_1) sent 0 priority",
            "del_vips",
            "notify(MASTER->FAULT)",
        ]
    );
    assert_eq!(h.state(), State::Fault);
    assert_eq!(h.next(), None, "no timers in FAULT, GARPs cancelled");
    assert!(
        h.send(rx("10.0.0.2", advert_v2(150))).is_empty(),
        "adverts ignored in FAULT"
    );
    h.at(Duration::from_secs(10));
    let a = h.send(Input::IfaceUp);
    assert_eq!(
        shape(&a),
        ["log: (VI_1) Entering BACKUP STATE", "notify(FAULT->BACKUP)"]
    );
    assert_eq!(h.next(), Some(Duration::from_secs(10) + us(3_609_375)));

    // From BACKUP: no adverts.
    let a = h.send(Input::IfaceDown);
    assert_eq!(
        shape(&a),
        ["log: (VI_1) Entering FAULT STATE", "notify(BACKUP->FAULT)"]
    );

    // Before startup: keepalived's init line, then FAULT without "(init)"
    // but with vrrp_complete_init's line and notify (seen with Debian's
    // keepalived for a track_file failed at start).
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    let a = h.send(Input::IfaceDown);
    assert_eq!(
        logs(&a),
        ["(VI_1): entering FAULT state (interface eth0 down)"]
    );
    let a = h.send(Input::Startup);
    assert_eq!(
        shape(&a),
        [
            "log: (VI_1) entering FAULT state",
            "notify(INIT->FAULT)",
            "del_vips"
        ]
    );
    assert_eq!(h.state(), State::Fault);
    let a = h.send(Input::IfaceUp);
    assert_eq!(logs(&a), ["(VI_1) Entering BACKUP STATE"]);
}

// Input: a weight-0 script fails and recovers; two trackers overlap.
// Output: FAULT on the first failure, BACKUP only when all have recovered.
#[test]
fn weight_zero_trackers_put_instance_in_fault() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::Startup);
    let down = |n: &str| Input::TrackerFault {
        tracker: Tracker::Script(n.into()),
        failed: true,
    };
    let up = |n: &str| Input::TrackerFault {
        tracker: Tracker::Script(n.into()),
        failed: false,
    };
    assert_eq!(logs(&h.send(down("a"))), ["(VI_1) Entering FAULT STATE"]);
    assert!(h.send(down("b")).is_empty());
    assert!(h.send(up("a")).is_empty());
    assert_eq!(h.state(), State::Fault);
    assert_eq!(logs(&h.send(up("b"))), ["(VI_1) Entering BACKUP STATE"]);
    // Before startup, a failed script gives keepalived's init line.
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    assert_eq!(
        logs(&h.send(down("chk"))),
        ["(VI_1): entering FAULT state due to script chk"]
    );
}

// Input: tracked weights change. Output: keepalived's log line, clamping
// to 1..=254, a running down timer moved by the change in skew, and the
// new priority in the next advert.
#[test]
fn tracking_weights_change_effective_priority() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::Startup);
    assert_eq!(h.next(), Some(us(3_609_375)));
    let a = h.send(Input::TrackWeight {
        tracker: "up".into(),
        weight: 50,
    });
    assert_eq!(
        logs(&a),
        ["(VI_1) Changing effective priority from 100 to 150"]
    );
    // Skew 609375 -> 414062: the deadline moves 195313 µs earlier.
    assert_eq!(h.next(), Some(us(3_414_062)));
    let a = h.send(Input::TrackWeight {
        tracker: "big".into(),
        weight: 200,
    });
    assert_eq!(
        logs(&a),
        ["(VI_1) Changing effective priority from 150 to 254"]
    );
    let a = h.send(Input::TrackWeight {
        tracker: "big".into(),
        weight: -300,
    });
    assert_eq!(
        logs(&a),
        ["(VI_1) Changing effective priority from 254 to 1"]
    );
    let a = h.send(Input::TrackWeight {
        tracker: "big".into(),
        weight: -60,
    });
    assert_eq!(
        logs(&a),
        ["(VI_1) Changing effective priority from 1 to 90"]
    );
    // Unchanged total: silent.
    assert!(
        h.send(Input::TrackWeight {
            tracker: "big".into(),
            weight: -60
        })
        .is_empty()
    );
    let fired = h.run_until(Duration::from_secs(5));
    assert_eq!(adverts(&fired[0].1), [90]);
}

// Input: notify_priority_changes set. Output: a priority notify per change.
#[test]
fn priority_change_notifies_when_configured() {
    let mut c = cfg("10.0.0.1", 100);
    c.notify_priority_changes = true;
    let mut h = Harness::new(c);
    h.send(Input::Startup);
    let a = h.send(Input::TrackWeight {
        tracker: "t".into(),
        weight: -10,
    });
    assert_eq!(
        a.last(),
        Some(&Action::NotifyPriority {
            state: State::Backup,
            priority: Priority(90)
        })
    );
}

// Input: refresh configured. Output: GARPs at become-master, after
// garp_master_delay, and with the adverts every garp_master_refresh counted
// from becoming master (as keepalived 2.2.7 does); none after leaving.
#[test]
fn garp_schedule() {
    let mut c = cfg("10.0.0.1", 100);
    c.garp.master_delay = Duration::from_secs(2);
    c.garp.master_refresh = Some(Duration::from_secs(10));
    c.garp.master_refresh_repeat = 2;
    let mut h = Harness::new(c);
    h.send(Input::Startup);
    let t = us(3_609_375);
    let fired = h.run_until(t + Duration::from_secs(25));
    let garps: Vec<(Duration, u32)> = fired
        .iter()
        .flat_map(|(at, acts)| {
            acts.iter().filter_map(move |a| match a {
                Action::SendGratuitousArps { repeat } => Some((*at, *repeat)),
                _ => None,
            })
        })
        .collect();
    assert_eq!(
        garps,
        [
            (t, 5),
            (t + Duration::from_secs(2), 5),
            (t + Duration::from_secs(10), 2),
            (t + Duration::from_secs(20), 2),
        ]
    );
    h.send(rx("10.0.0.2", advert_v2(200)));
    // Until the down timer would make us master again.
    let fired = h.run_until(t + Duration::from_secs(28));
    assert!(
        fired
            .iter()
            .all(|(_, a)| !shape(a).iter().any(|s| s.starts_with("garp")))
    );
}

// Input: rejected packets. Output: counter per error, a log line per
// packet (keepalived 2.2.7 does not rate-limit them), and no effect on the
// timers.
#[test]
fn decode_errors_count_and_log_each() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::Startup);
    let before = h.next();
    let bad = || Input::Advert {
        src: ip("10.0.0.2"),
        pkt: Err(DecodeError::Ttl {
            vrid: 51,
            received: 64,
            expected: 255,
        }),
    };
    for _ in 0..2 {
        assert_eq!(
            logs(&h.send(bad())),
            ["(VI_1) invalid TTL/HL. Received 64 and expect 255"]
        );
    }
    assert_eq!(h.inst.stats().ip_ttl_err, 2);
    assert_eq!(h.next(), before);
    let a = h.send(Input::Advert {
        src: ip("10.0.0.2"),
        pkt: Err(DecodeError::Checksum {
            vrid: 51,
            version: Version::V2,
        }),
    });
    assert_eq!(logs(&a), ["(VI_1) Invalid VRRPv2 checksum"]);
    assert_eq!(h.inst.stats().chk_err, 1);
}

// Input: adverts whose VIP list differs from ours. Output: logged and
// counted, but the advert is still used.
#[test]
fn vip_mismatch_is_logged_not_fatal() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::Startup);
    let mut a = advert_v2(150);
    a.addrs = vrrp::wire::Addrs::V4(vec!["10.0.0.200".parse().unwrap()]);
    let acts = h.send(rx("10.0.0.2", a.clone()));
    assert_eq!(
        logs(&acts),
        ["(VI_1) ip address associated with VRID 51 not present in MASTER advert: 10.0.0.100"]
    );
    a.addrs = vrrp::wire::Addrs::V4(vec![]);
    let acts = h.send(rx("10.0.0.2", a));
    assert_eq!(
        logs(&acts),
        ["(VI_1) received an unexpected ip number count 0, expected 1!"]
    );
    assert_eq!(h.inst.stats().addr_list_err, 2);
    assert_eq!(h.inst.master_addr(), Some(ip("10.0.0.2")));
}

// Input: address owners conflict. Output: keepalived 2.2.7's configuration
// error line; whichever address is higher, the local instance drops to
// priority 254 and yields to the 255 advert.
#[test]
fn two_owners() {
    for (ours, theirs) in [("10.0.0.1", "10.0.0.2"), ("10.0.0.2", "10.0.0.1")] {
        let mut c = cfg(ours, 255);
        c.state = StartState::Master;
        let mut h = Harness::new(c);
        h.send(Input::Startup);
        let a = h.send(rx(theirs, advert_v2(255)));
        assert_eq!(
            logs(&a),
            [
                "(VI_1) CONFIGURATION ERROR: local instance and a remote instance are both configured as address owner, please fix - reducing local priority".to_owned(),
                format!("(VI_1) Master received advert from {theirs} with higher priority 255, ours 254"),
                "(VI_1) Entering BACKUP STATE".to_owned(),
            ]
        );
        assert_eq!(h.inst.effective_priority(), Priority(254));
        assert_eq!(h.state(), State::Backup);
    }
}

// Input/Action values survive a JSON round trip, so scenarios can be
// stored as JSONL.
#[test]
fn inputs_and_actions_serialize() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    let inputs = vec![
        Input::Startup,
        rx("10.0.0.2", advert_v2(150)),
        Input::Advert {
            src: ip("10.0.0.2"),
            pkt: Err(DecodeError::Password { vrid: 51 }),
        },
        Input::TrackerFault {
            tracker: Tracker::Interface("eth1".into()),
            failed: true,
        },
        Input::TrackWeight {
            tracker: "chk".into(),
            weight: -20,
        },
        Input::Tick,
        Input::Shutdown,
    ];
    for i in inputs {
        let line = serde_json::to_string(&i).unwrap();
        let back: Input = serde_json::from_str(&line).unwrap();
        assert_eq!(back, i);
        for a in h.send(i) {
            let line = serde_json::to_string(&a).unwrap();
            assert_eq!(serde_json::from_str::<Action>(&line).unwrap(), a);
        }
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        Wait(u64),
        Advert { from: u8, prio: u8 },
        Bad,
        IfaceDown,
        IfaceUp,
        Weight(i32),
        Script(bool),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0u64..5_000_000).prop_map(Step::Wait),
            4 => (1u8..4, any::<u8>()).prop_map(|(from, prio)| Step::Advert { from, prio }),
            1 => Just(Step::Bad),
            1 => Just(Step::IfaceDown),
            1 => Just(Step::IfaceUp),
            1 => (-300i32..300).prop_map(Step::Weight),
            1 => any::<bool>().prop_map(Step::Script),
        ]
    }

    proptest! {
        // Input: any sequence of adverts, errors, faults, weights and time.
        // Output: never panics; VIPs are installed exactly while MASTER;
        // BACKUP and MASTER always have a timer; a master's adverts carry
        // its effective priority.
        #[test]
        fn invariants_hold(prio in 1u8..=255, v3_mode in any::<bool>(), steps in prop::collection::vec(step(), 1..60)) {
            let mut c = cfg("10.0.0.2", prio);
            if prio == 255 {
                c.state = StartState::Master;
            }
            if v3_mode {
                c = v3(c, 100);
            }
            let mut h = Harness::new(c);
            let mut vips_on = false;
            let mut elapsed = Duration::ZERO;
            let check = |h: &Harness, acts: &[Action], vips_on: &mut bool| {
                for a in acts {
                    match a {
                        Action::AddVips => {
                            assert!(!*vips_on, "VIPs added twice");
                            *vips_on = true;
                        }
                        Action::DelVips => *vips_on = false,
                        Action::SendAdvert(ad) if ad.priority.get() != 0 => {
                            assert_eq!(ad.priority, h.inst.effective_priority());
                        }
                        _ => {}
                    }
                }
                assert_eq!(*vips_on, h.state() == State::Master);
                if matches!(h.state(), State::Backup | State::Master) {
                    assert!(h.inst.poll_at().is_some());
                }
            };
            let acts = h.send(Input::Startup);
            check(&h, &acts, &mut vips_on);
            for s in steps {
                let acts = match s {
                    Step::Wait(d) => {
                        elapsed += Duration::from_micros(d);
                        h.run_until(elapsed).into_iter().flat_map(|(_, a)| a).collect()
                    }
                    Step::Advert { from, prio } => {
                        let a = if v3_mode { advert_v3(prio, 100) } else { advert_v2(prio) };
                        h.send(rx(&format!("10.0.0.{from}"), a))
                    }
                    Step::Bad => h.send(Input::Advert {
                        src: ip("10.0.0.3"),
                        pkt: Err(DecodeError::Type { vrid: 51, received: 2 }),
                    }),
                    Step::IfaceDown => h.send(Input::IfaceDown),
                    Step::IfaceUp => h.send(Input::IfaceUp),
                    Step::Weight(w) => h.send(Input::TrackWeight { tracker: "w".into(), weight: w }),
                    Step::Script(failed) => h.send(Input::TrackerFault {
                        tracker: Tracker::Script("s".into()),
                        failed,
                    }),
                };
                check(&h, &acts, &mut vips_on);
            }
            let acts = h.send(Input::Shutdown);
            check(&h, &acts, &mut vips_on);
            prop_assert_eq!(h.state(), State::Stop);
            prop_assert!(!vips_on);
        }
    }
}

// Input: a weighted track_file's status (value × weight) goes to -10, then
// -254, then 5. Output: an ordinary priority change; then FAULT with the
// effective priority left as it was; then out of FAULT with the file's new
// share already counted and no "Changing effective priority" line, as
// keepalived 2.2.7 does it.
#[test]
fn weighted_track_file_at_minus_254_is_a_fault() {
    let mut h = Harness::new(cfg("10.0.0.1", 100));
    h.send(Input::Startup);
    let file = |status| Input::TrackFile {
        file: "tf".into(),
        status,
    };
    assert_eq!(
        logs(&h.send(file(-10))),
        ["(VI_1) Changing effective priority from 100 to 90"]
    );
    let a = h.send(file(-254));
    assert_eq!(h.state(), State::Fault);
    assert_eq!(logs(&a), ["(VI_1) Entering FAULT STATE"]);
    assert!(shape(&a).contains(&"detail: (VI_1): tracked file tf now FAULT state".to_owned()));
    assert_eq!(h.inst.effective_priority(), Priority(90));
    // Still a fault: nothing happens.
    assert!(h.send(file(-254)).is_empty());
    let a = h.send(file(5));
    assert_eq!(h.state(), State::Backup);
    assert_eq!(logs(&a), ["(VI_1) Entering BACKUP STATE"]);
    assert_eq!(h.inst.effective_priority(), Priority(105));
    assert_eq!(
        logs(&h.send(file(7))),
        ["(VI_1) Changing effective priority from 105 to 107"]
    );
}

/// When each `garp_extra_if` burst was asked for, since t0.
fn extra_if_times(fired: &[(Duration, Vec<Action>)]) -> Vec<Duration> {
    fired
        .iter()
        .filter(|(_, acts)| acts.contains(&Action::SendExtraIfGarps))
        .map(|(at, _)| *at)
        .collect()
}

/// When the instance entered MASTER, since t0.
fn became_master(fired: &[(Duration, Vec<Action>)]) -> Duration {
    fired
        .iter()
        .find(|(_, acts)| acts.contains(&Action::AddVips))
        .expect("became master")
        .0
}

// Input: garp_extra_if 3 with advert_int 1. Output: nothing extra on
// becoming master (its usual burst covers every VIP); then with the advert
// every 3 s counted from becoming master, after the advert (keepalived
// vrrp_state_become_master arms the timer, vrrp_state_master_tx checks it).
#[test]
fn garp_extra_if_with_the_adverts() {
    let mut c = cfg("10.0.0.1", 100);
    c.garp.extra_if = Some(Duration::from_secs(3));
    let mut h = Harness::new(c);
    h.send(Input::Startup);
    let fired = h.run_until(Duration::from_secs(14));
    let t = became_master(&fired);
    assert_eq!(t, us(3_609_375));
    let becoming = &fired.iter().find(|(at, _)| *at == t).unwrap().1;
    assert!(!becoming.contains(&Action::SendExtraIfGarps));
    let secs = Duration::from_secs;
    assert_eq!(
        extra_if_times(&fired),
        [t + secs(3), t + secs(6), t + secs(9)]
    );
    let at6 = &fired.iter().find(|(at, _)| *at == t + secs(6)).unwrap().1;
    assert_eq!(shape(at6), ["advert(100)", "garp_extra_if"]);
}

// Input: garp_extra_if 1 with adverts every 0.3 s. Output: with the first
// advert at or after each deadline, and the next deadline counted from that
// advert (re-armed from the send time), so every 1.2 s.
#[test]
fn garp_extra_if_rearms_from_the_sending_advert() {
    let mut c = v3(cfg("10.0.0.1", 100), 30);
    c.garp.extra_if = Some(Duration::from_secs(1));
    let mut h = Harness::new(c);
    h.send(Input::Startup);
    let fired = h.run_until(Duration::from_secs(5));
    let t = became_master(&fired);
    assert!(t < ms(1100), "{t:?}");
    let times: Vec<Duration> = extra_if_times(&fired).iter().map(|x| *x - t).collect();
    assert_eq!(times, [ms(1200), ms(2400), ms(3600)]);
}

// Input: garp_extra_if set, then a higher-priority advert; or no
// garp_extra_if. Output: no extra bursts in BACKUP, none when off, and
// the ordinary GARPs unchanged.
#[test]
fn garp_extra_if_only_while_master_and_configured() {
    let mut c = cfg("10.0.0.1", 100);
    c.garp.extra_if = Some(Duration::from_secs(1));
    let mut h = Harness::new(c);
    h.send(Input::Startup);
    let fired = h.run_until(Duration::from_secs(6));
    let t = became_master(&fired);
    assert_eq!(extra_if_times(&fired).len(), 2, "{fired:?}");
    h.send(rx("10.0.0.2", advert_v2(200)));
    assert_eq!(h.state(), State::Backup);
    let fired = h.run_until(t + Duration::from_secs(5));
    assert!(extra_if_times(&fired).is_empty(), "{fired:?}");

    let mut off = Harness::new(cfg("10.0.0.1", 100));
    off.send(Input::Startup);
    let fired = off.run_until(Duration::from_secs(20));
    assert!(extra_if_times(&fired).is_empty());
    let bursts = fired
        .iter()
        .flat_map(|(_, a)| shape(a))
        .filter(|s| s.starts_with("garp"))
        .collect::<Vec<_>>();
    assert_eq!(bursts, ["garp(5)", "garp(5)"]);
}
