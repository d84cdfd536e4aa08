//! Deterministic simulation: routers running the real state machine on one
//! simulated multicast link with a virtual clock. Every advert goes through
//! the real codec (encode_ipv4 -> bytes -> decode_ipv4 with the receiver's
//! RxConfig), arrives after a fixed latency, and can be cut by a partition.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::{cfg, us, v3};
use vrrp::Version;
use vrrp::fsm::{Action, Input, Instance, InstanceCfg, State};
use vrrp::wire::{Ipv4Tx, decode_ipv4, encode_ipv4};

const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const LATENCY: Duration = Duration::from_millis(1);

struct Packet {
    at: Instant,
    to: usize,
    src: IpAddr,
    bytes: Vec<u8>,
}

struct Net {
    t0: Instant,
    now: Instant,
    routers: Vec<Instance>,
    inflight: Vec<Packet>,
    partitioned: bool,
    ip_id: u16,
    /// (time since t0, router, new state)
    trace: Vec<(Duration, usize, State)>,
    /// Number of masters after every event.
    masters_over_time: Vec<(Duration, usize)>,
}

impl Net {
    fn new(cfgs: Vec<InstanceCfg>) -> Self {
        let t0 = Instant::now();
        Self {
            t0,
            now: t0,
            routers: cfgs
                .into_iter()
                .map(|c| Instance::new(c).unwrap())
                .collect(),
            inflight: Vec::new(),
            partitioned: false,
            ip_id: 0,
            trace: Vec::new(),
            masters_over_time: Vec::new(),
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    fn apply(&mut self, from: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::SendAdvert(advert) => {
                    let IpAddr::V4(src) = self.routers[from].cfg().primary_ip else {
                        unreachable!()
                    };
                    // keepalived counts the IP id up and skips 0.
                    self.ip_id = self.ip_id.wrapping_add(1).max(1);
                    let tx = Ipv4Tx {
                        src,
                        dst: GROUP,
                        ttl: 255,
                        id: self.ip_id,
                        v3_checksum_as_v2: false,
                    };
                    let mut buf = [0u8; 1500];
                    let n = encode_ipv4(&advert, &tx, &mut buf).unwrap();
                    if self.partitioned {
                        continue;
                    }
                    for to in (0..self.routers.len()).filter(|j| *j != from) {
                        self.inflight.push(Packet {
                            at: self.now + LATENCY,
                            to,
                            src: IpAddr::V4(src),
                            bytes: buf[..n].to_vec(),
                        });
                    }
                }
                Action::Notify(t) => self.trace.push((self.elapsed(), from, t.to)),
                _ => {}
            }
        }
    }

    fn input(&mut self, i: usize, input: Input) {
        let acts = self.routers[i].handle(self.now, input);
        self.apply(i, acts);
        self.record();
    }

    fn record(&mut self) {
        let n = self.masters().len();
        let at = self.elapsed();
        self.masters_over_time.push((at, n));
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|i| self.routers[*i].state() == State::Master)
            .collect()
    }

    /// Run every delivery and timer up to `t0 + d`, in time order.
    fn run_until(&mut self, d: Duration) {
        let end = self.t0 + d;
        loop {
            let next_timer = self.routers.iter().filter_map(Instance::poll_at).min();
            let next_pkt = self.inflight.iter().map(|p| p.at).min();
            let Some(next) = [next_timer, next_pkt].into_iter().flatten().min() else {
                break;
            };
            if next > end {
                break;
            }
            self.now = next;
            let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.inflight)
                .into_iter()
                .partition(|p| p.at <= next);
            self.inflight = rest;
            for p in due {
                let rx_cfg = self.routers[p.to].cfg().rx_config();
                let pkt = decode_ipv4(&p.bytes, &rx_cfg).map(|rx| rx.advert);
                let acts = self.routers[p.to].handle(self.now, Input::Advert { src: p.src, pkt });
                self.apply(p.to, acts);
            }
            for i in 0..self.routers.len() {
                if self.routers[i].poll_at().is_some_and(|t| t <= next) {
                    let acts = self.routers[i].handle(self.now, Input::Tick);
                    self.apply(i, acts);
                }
            }
            self.record();
        }
        self.now = end;
    }

    /// Assert exactly one master, `who`, at every event in [from, to].
    fn assert_single_master(&self, who: usize, from: Duration, to: Duration) {
        for (t, n) in &self.masters_over_time {
            if *t >= from && *t <= to {
                assert_eq!(*n, 1, "{n} masters at {t:?}; trace {:?}", self.trace);
            }
        }
        assert_eq!(self.masters(), [who]);
    }
}

const A: usize = 0;
const B: usize = 1;

fn two_routers(version: Version) -> Net {
    let (a, b) = (cfg("10.0.0.1", 150), cfg("10.0.0.2", 100));
    match version {
        Version::V2 => Net::new(vec![a, b]),
        Version::V3 => Net::new(vec![v3(a, 100), v3(b, 100)]),
    }
}

// Input: A (150) and B (100) start together; at 20 s the link is cut, at
// 30 s healed; at 40 s A shuts down.
// Output: A master at 3414062 µs and alone until the cut; both masters
// during the partition (as any VRRP); A alone again right after the heal;
// B master a skew time (609375 µs) after A's priority-0 advert arrives.
fn partition_heal_and_stop(version: Version) {
    let mut net = two_routers(version);
    net.input(A, Input::Startup);
    net.input(B, Input::Startup);
    net.run_until(Duration::from_secs(20));
    assert_eq!(
        net.trace[2],
        (us(3_414_062), A, State::Master),
        "{:?}",
        net.trace
    );
    net.assert_single_master(A, Duration::from_secs(4), Duration::from_secs(20));
    assert_eq!(net.routers[B].state(), State::Backup);

    net.partitioned = true;
    net.run_until(Duration::from_secs(30));
    assert_eq!(net.masters(), [A, B], "split brain while partitioned");
    // B's last A advert arrived before 20 s + latency; it took over at most
    // master-down later.
    let b_master = net
        .trace
        .iter()
        .rev()
        .find(|(_, r, s)| *r == B && *s == State::Master)
        .unwrap()
        .0;
    assert!(
        b_master > Duration::from_secs(20)
            && b_master <= Duration::from_secs(20) + LATENCY + us(3_609_375)
    );

    net.partitioned = false;
    net.run_until(Duration::from_secs(31) + LATENCY);
    net.run_until(Duration::from_secs(40));
    net.assert_single_master(
        A,
        Duration::from_secs(31) + LATENCY,
        Duration::from_secs(40),
    );

    net.input(A, Input::Shutdown);
    assert_eq!(net.routers[A].state(), State::Stop);
    net.run_until(Duration::from_secs(50));
    let takeover = net
        .trace
        .iter()
        .rev()
        .find(|(_, r, s)| *r == B && *s == State::Master)
        .unwrap()
        .0;
    assert_eq!(takeover, Duration::from_secs(40) + LATENCY + us(609_375));
    net.assert_single_master(B, takeover, Duration::from_secs(50));
}

#[test]
fn two_routers_v2() {
    partition_heal_and_stop(Version::V2);
}

#[test]
fn two_routers_v3() {
    partition_heal_and_stop(Version::V3);
}

// Input: A (150) master, B (100) backup; at 10 s a tracked check on A
// fails with weight -60 (A becomes 90).
// Output: B discards A's lower adverts, takes over master-down after the
// last one it accepted, and A yields on B's first advert.
#[test]
fn tracking_weight_hands_over() {
    let mut net = two_routers(Version::V2);
    net.input(A, Input::Startup);
    net.input(B, Input::Startup);
    net.run_until(Duration::from_secs(10));
    net.assert_single_master(A, Duration::from_secs(4), Duration::from_secs(10));
    net.input(
        A,
        Input::TrackWeight {
            tracker: "chk".into(),
            weight: -60,
        },
    );
    assert_eq!(net.routers[A].effective_priority().get(), 90);
    net.run_until(Duration::from_secs(20));
    let takeover = net
        .trace
        .iter()
        .find(|(_, r, s)| *r == B && *s == State::Master)
        .unwrap()
        .0;
    // A advertises at 3414062 µs + k s; the last 150 advert B accepted was
    // the one at 9.414062 s (+1 ms latency).
    assert_eq!(takeover, us(9_414_062) + LATENCY + us(3_609_375));
    net.assert_single_master(B, takeover + LATENCY, Duration::from_secs(20));
    assert_eq!(net.routers[A].state(), State::Backup);
    // When the check recovers, A (150) preempts B again.
    net.input(
        A,
        Input::TrackWeight {
            tracker: "chk".into(),
            weight: 0,
        },
    );
    net.run_until(Duration::from_secs(30));
    net.assert_single_master(A, Duration::from_secs(25), Duration::from_secs(30));
}

// Three routers with distinct priorities converge on the highest; the
// highest failing hands over to the next.
#[test]
fn three_routers_converge_and_fail_over() {
    let mut net = Net::new(vec![
        cfg("10.0.0.1", 100),
        cfg("10.0.0.2", 200),
        cfg("10.0.0.3", 150),
    ]);
    for i in 0..3 {
        net.input(i, Input::Startup);
    }
    net.run_until(Duration::from_secs(10));
    net.assert_single_master(1, Duration::from_secs(4), Duration::from_secs(10));
    net.input(1, Input::IfaceDown);
    net.run_until(Duration::from_secs(20));
    net.assert_single_master(2, Duration::from_secs(11), Duration::from_secs(20));
    net.input(1, Input::IfaceUp);
    net.run_until(Duration::from_secs(30));
    net.assert_single_master(1, Duration::from_secs(25), Duration::from_secs(30));
}
