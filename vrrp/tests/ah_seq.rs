//! The AH sequence number as keepalived 2.2.7 keeps it (one counter per
//! instance for both directions), on an explicit clock.

mod common;

use std::time::Duration;

use common::*;
use vrrp::fsm::{Action, InstanceCfg, State};
use vrrp::wire::{Advert, Auth, Kind};

const KEY: [u8; 8] = *b"s3cr3t\0\0";

fn ah_cfg(src: &str, prio: u8) -> InstanceCfg {
    let mut c = cfg(src, prio);
    c.auth = Auth::ah(b"s3cr3t");
    c
}

fn ah_advert(prio: u8, seq: u32) -> Advert {
    let mut a = advert_v2(prio);
    a.kind = Kind::V2 {
        adver_int: 1,
        auth: Auth::Ah { key: KEY, seq },
    };
    a
}

/// The sequence numbers of the adverts among `acts`.
fn seqs(acts: &[Action]) -> Vec<u32> {
    acts.iter()
        .filter_map(|a| match a {
            Action::SendAdvert(Advert {
                kind:
                    Kind::V2 {
                        auth: Auth::Ah { seq, key },
                        ..
                    },
                ..
            }) => {
                assert_eq!(*key, KEY);
                Some(*seq)
            }
            Action::SendAdvert(other) => panic!("advert without AH: {other:?}"),
            _ => None,
        })
        .collect()
}

fn fired_seqs(fired: &[(Duration, Vec<Action>)]) -> Vec<u32> {
    fired.iter().flat_map(|(_, a)| seqs(a)).collect()
}

// Input: an AH backup alone. Output: it becomes master and numbers its
// adverts from 1, one per advert.
#[test]
fn master_numbers_adverts_from_one() {
    let mut h = Harness::new(ah_cfg("10.0.0.1", 100));
    h.send(vrrp::fsm::Input::Startup);
    let fired = h.run_until(Duration::from_secs(7));
    assert_eq!(h.state(), State::Master);
    assert_eq!(fired_seqs(&fired), [1, 2, 3, 4]);
}

// Input: a backup hears seq 5, then 5 again, then 4, then 6.
// Output: the replays are dropped with keepalived's line and counted as
// authentication failures; they do not reset the down timer.
#[test]
fn backup_drops_replayed_sequence_numbers() {
    let mut h = Harness::new(ah_cfg("10.0.0.1", 100));
    h.send(vrrp::fsm::Input::Startup);
    h.at(Duration::from_secs(1));
    assert!(logs(&h.send(rx("10.0.0.2", ah_advert(150, 5)))).is_empty());
    let next = h.next();
    h.at(Duration::from_secs(2));
    for (seq, local) in [(5, 5), (4, 5)] {
        assert_eq!(
            logs(&h.send(rx("10.0.0.2", ah_advert(150, seq)))),
            [format!(
                "(VI_1) IPSEC-AH : sequence number {seq} already processed. Packet dropped. Local({local})"
            )]
        );
    }
    assert_eq!(h.inst.stats().auth_failure, 2);
    assert_eq!(h.inst.stats().advert_rcvd, 1);
    assert_eq!(h.next(), next);
    assert!(logs(&h.send(rx("10.0.0.2", ah_advert(150, 6)))).is_empty());
    assert_eq!(h.inst.stats().advert_rcvd, 2);
}

// Input: the master goes silent after seq 41. Output: the backup takes
// over and carries on from 42, so the old master's peers accept it.
#[test]
fn new_master_continues_the_sequence() {
    let mut h = Harness::new(ah_cfg("10.0.0.1", 100));
    h.send(vrrp::fsm::Input::Startup);
    h.at(Duration::from_secs(1));
    h.send(rx("10.0.0.2", ah_advert(150, 41)));
    let fired = h.run_until(Duration::from_secs(7));
    assert_eq!(h.state(), State::Master);
    assert_eq!(fired_seqs(&fired)[..2], [42, 43]);
}

// Input: a master at seq 3 hears a lower-priority AH advert with seq 10.
// Output: keepalived's two lines, and its next advert is 12 (10 + 1,
// then counted up for the advert it sends at once).
#[test]
fn master_syncs_past_a_lower_priority_advert() {
    let mut h = Harness::new(ah_cfg("10.0.0.1", 200));
    h.send(vrrp::fsm::Input::Startup);
    let fired = h.run_until(Duration::from_secs(5));
    assert_eq!(h.state(), State::Master);
    let last = *fired_seqs(&fired).last().unwrap();
    h.at(Duration::from_millis(5_100));
    let a = h.send(rx("10.0.0.2", ah_advert(100, 10)));
    assert!(last < 10);
    assert_eq!(
        logs(&a),
        [
            "(VI_1) Received advert from 10.0.0.2 with lower priority 100, ours 200, forcing new election",
            "(VI_1) IPSEC-AH : Syncing seq_num - Increment seq",
        ]
    );
    assert_eq!(seqs(&a), [12]);
    assert_eq!(
        h.inst.stats().advert_sent as usize,
        fired_seqs(&fired).len() + 1
    );
    assert_eq!(h.inst.stats().become_master, 1);
}
