//! Shared helpers for the state-machine tests: configurations, an explicit
//! clock and compact views of the returned actions.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use vrrp::fsm::{Action, Input, Instance, InstanceCfg, State};
use vrrp::wire::{Addrs, Advert, Auth, Kind};
use vrrp::{Centisecs, Priority, Version, Vrid};

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);

/// VI_1 on eth0, VRID 51, VIP 10.0.0.100, source `src`, priority `prio`.
pub fn cfg(src: &str, prio: u8) -> InstanceCfg {
    let mut c = InstanceCfg::new(
        "VI_1",
        "eth0",
        Vrid::new(51).unwrap(),
        ip(src),
        Addrs::V4(vec![VIP]),
    );
    c.priority = Priority(prio);
    c
}

pub fn v3(mut c: InstanceCfg, centis: u16) -> InstanceCfg {
    c.version = Version::V3;
    c.advert_int = Centisecs(centis);
    c
}

/// The advert a peer with this priority would send (same VRID and VIPs).
pub fn advert_v2(prio: u8) -> Advert {
    Advert {
        vrid: Vrid::new(51).unwrap(),
        priority: Priority(prio),
        kind: Kind::V2 {
            adver_int: 1,
            auth: Auth::None,
        },
        addrs: Addrs::V4(vec![VIP]),
    }
}

pub fn advert_v3(prio: u8, centis: u16) -> Advert {
    Advert {
        vrid: Vrid::new(51).unwrap(),
        priority: Priority(prio),
        kind: Kind::V3 {
            max_adver_int: Centisecs(centis),
        },
        addrs: Addrs::V4(vec![VIP]),
    }
}

pub fn rx(src: &str, a: Advert) -> Input {
    Input::Advert {
        src: ip(src),
        pkt: Ok(a),
    }
}

pub fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One instance on an explicit clock. `send` feeds an input at the current
/// time; `run_until` fires every timer due up to a time, advancing the
/// clock exactly to each deadline.
pub struct Harness {
    pub inst: Instance,
    pub t0: Instant,
    pub now: Instant,
}

impl Harness {
    pub fn new(cfg: InstanceCfg) -> Self {
        let t0 = Instant::now();
        Self {
            inst: Instance::new(cfg).unwrap(),
            t0,
            now: t0,
        }
    }

    /// Move the clock to `t0 + d` without firing timers (use `run_until`).
    pub fn at(&mut self, d: Duration) -> &mut Self {
        self.now = self.t0 + d;
        self
    }

    pub fn send(&mut self, input: Input) -> Vec<Action> {
        self.inst.handle(self.now, input)
    }

    /// Fire timers up to and including `t0 + d`; returns (time since t0,
    /// actions) per firing.
    pub fn run_until(&mut self, d: Duration) -> Vec<(Duration, Vec<Action>)> {
        let end = self.t0 + d;
        let mut fired = Vec::new();
        while let Some(t) = self.inst.poll_at().filter(|t| *t <= end) {
            self.now = t;
            let acts = self.inst.handle(t, Input::Tick);
            fired.push((t - self.t0, acts));
        }
        self.now = end;
        fired
    }

    /// Time since t0 of the next timer.
    pub fn next(&self) -> Option<Duration> {
        self.inst.poll_at().map(|t| t - self.t0)
    }

    pub fn state(&self) -> State {
        self.inst.state()
    }
}

/// The non-detail log lines, as keepalived prints them without -D.
pub fn logs(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(l) if !l.detail => Some(l.text.clone()),
            _ => None,
        })
        .collect()
}

/// All log lines, detail included (keepalived -D).
pub fn all_logs(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(l) => Some(l.text.clone()),
            _ => None,
        })
        .collect()
}

/// Priorities of the adverts sent.
pub fn adverts(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendAdvert(ad) => Some(ad.priority.get()),
            _ => None,
        })
        .collect()
}

/// A compact one-word-per-action view, for asserting the order.
pub fn shape(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::SendAdvert(ad) => format!("advert({})", ad.priority),
            Action::AddVips => "add_vips".into(),
            Action::DelVips => "del_vips".into(),
            Action::SendGratuitousArps { repeat } => format!("garp({repeat})"),
            Action::SendExtraIfGarps => "garp_extra_if".into(),
            Action::Notify(t) => format!("notify({}->{})", t.from, t.to),
            Action::NotifyMasterRxLowerPri => "notify_rx_lower".into(),
            Action::NotifyPriority { priority, .. } => format!("notify_prio({priority})"),
            Action::Log(l) if l.detail => format!("detail: {}", l.text),
            Action::Log(l) => format!("log: {}", l.text),
        })
        .collect()
}
