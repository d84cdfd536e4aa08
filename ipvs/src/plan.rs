//! The reconciliation planner: which IPVS commands turn the kernel's table
//! into the desired one. Pure: no I/O, no netlink; `client` carries out the
//! ops and re-plans when the kernel changed underneath.
//!
//! Choices, and why:
//! - A service that goes away is one `DelService`: the kernel drops its real
//!   servers with it, so deleting them first would only add commands.
//! - A service is added before its real servers (they need it to exist).
//! - Within a kept service, new real servers are added and changed ones
//!   edited *before* old ones are deleted, so a service being repopulated
//!   never passes through "no real server" (which drops its traffic).
//! - `DelService` ops come last, after everything else, for the same
//!   reason: a VIP that moves from one key to another keeps serving on the
//!   old key until the new one is complete.
//! - Everything `IPVS_CMD_SET_SERVICE` can change (scheduler, flags,
//!   persistence timeout, netmask, persistence engine) is an in-place
//!   `EditService`; everything `IPVS_CMD_SET_DEST` can change (forwarding
//!   method, weight, thresholds, tunnel parameters) an `EditDest`. A key
//!   can't change in place: a different key is another service or real
//!   server, hence a delete and an add.
//! - Comparisons ignore `HASHED` and treat an explicit default netmask as
//!   none (`Service::same_config`), so a dumped table never looks changed.
//!
//! Both tables are walked once, in key order, so planning is linear in
//! their size (a 40,000-dest table takes milliseconds) and the ops come out
//! in a stable order.

use std::collections::BTreeMap;
use std::fmt;
use std::iter::Peekable;

use crate::model::{
    Dest, DestKey, Service, ServiceKey, Table, write_dest_rule, write_service_rule,
};

/// One IPVS command. `Display` gives the equivalent ipvsadm arguments
/// (`-A -t 10.0.0.1:80 -s wlc`), for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    AddService {
        key: ServiceKey,
        service: Service,
    },
    EditService {
        key: ServiceKey,
        service: Service,
    },
    DelService {
        key: ServiceKey,
    },
    AddDest {
        service: ServiceKey,
        key: DestKey,
        dest: Dest,
    },
    EditDest {
        service: ServiceKey,
        key: DestKey,
        dest: Dest,
    },
    DelDest {
        service: ServiceKey,
        key: DestKey,
    },
}

impl Op {
    /// The service this op is about.
    pub fn service_key(&self) -> &ServiceKey {
        match self {
            Op::AddService { key, .. } | Op::EditService { key, .. } | Op::DelService { key } => {
                key
            }
            Op::AddDest { service, .. }
            | Op::EditDest { service, .. }
            | Op::DelDest { service, .. } => service,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::AddService { key, service } => {
                write!(f, "-A ")?;
                write_service_rule(f, key, service)
            }
            Op::EditService { key, service } => {
                write!(f, "-E ")?;
                write_service_rule(f, key, service)
            }
            Op::DelService { key } => write!(f, "-D {key}"),
            Op::AddDest { service, key, dest } => {
                write!(f, "-a ")?;
                write_dest_rule(f, service, key, dest, true)
            }
            Op::EditDest { service, key, dest } => {
                write!(f, "-e ")?;
                write_dest_rule(f, service, key, dest, true)
            }
            Op::DelDest { service, key } => write!(f, "-d {service} -r {key}"),
        }
    }
}

/// The ops that make `actual` equal to `desired`; empty when they already
/// are. See the module docs for the order.
pub fn plan(desired: &Table, actual: &Table) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut service_dels = Vec::new();
    for item in merge(&desired.services, &actual.services) {
        match item {
            Merged::Left(key, want) => {
                ops.push(Op::AddService {
                    key: *key,
                    service: want.service.clone(),
                });
                ops.extend(want.dests.iter().map(|(dkey, dest)| Op::AddDest {
                    service: *key,
                    key: *dkey,
                    dest: *dest,
                }));
            }
            Merged::Right(key) => service_dels.push(Op::DelService { key: *key }),
            Merged::Both(key, want, have) => {
                if !want.service.same_config(&have.service, key.af()) {
                    ops.push(Op::EditService {
                        key: *key,
                        service: want.service.clone(),
                    });
                }
                let mut dest_dels = Vec::new();
                for d in merge(&want.dests, &have.dests) {
                    match d {
                        Merged::Left(dkey, dest) => ops.push(Op::AddDest {
                            service: *key,
                            key: *dkey,
                            dest: *dest,
                        }),
                        Merged::Right(dkey) => dest_dels.push(Op::DelDest {
                            service: *key,
                            key: *dkey,
                        }),
                        Merged::Both(dkey, w, h) if w != h => ops.push(Op::EditDest {
                            service: *key,
                            key: *dkey,
                            dest: *w,
                        }),
                        Merged::Both(..) => {}
                    }
                }
                ops.extend(dest_dels);
            }
        }
    }
    ops.extend(service_dels);
    ops
}

enum Merged<'a, K, V> {
    Left(&'a K, &'a V),
    Right(&'a K),
    Both(&'a K, &'a V, &'a V),
}

/// Walks two sorted maps together, pairing equal keys.
fn merge<'a, K: Ord, V>(
    left: &'a BTreeMap<K, V>,
    right: &'a BTreeMap<K, V>,
) -> impl Iterator<Item = Merged<'a, K, V>> {
    struct Merge<L: Iterator, R: Iterator> {
        l: Peekable<L>,
        r: Peekable<R>,
    }
    impl<'a, K: Ord + 'a, V: 'a, L, R> Iterator for Merge<L, R>
    where
        L: Iterator<Item = (&'a K, &'a V)>,
        R: Iterator<Item = (&'a K, &'a V)>,
    {
        type Item = Merged<'a, K, V>;
        fn next(&mut self) -> Option<Self::Item> {
            let order = match (self.l.peek(), self.r.peek()) {
                (None, None) => return None,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((lk, _)), Some((rk, _))) => lk.cmp(rk),
            };
            Some(match order {
                std::cmp::Ordering::Less => {
                    let (k, v) = self.l.next()?;
                    Merged::Left(k, v)
                }
                std::cmp::Ordering::Greater => {
                    let (k, _) = self.r.next()?;
                    Merged::Right(k)
                }
                std::cmp::Ordering::Equal => {
                    let (k, lv) = self.l.next()?;
                    let (_, rv) = self.r.next()?;
                    Merged::Both(k, lv, rv)
                }
            })
        }
    }
    Merge {
        l: left.iter().peekable(),
        r: right.iter().peekable(),
    }
}

/// Applies ops to a table the way the kernel would (used by tests and by
/// callers that keep a mirror of the kernel). Ops that the kernel would
/// refuse (an existing key on add, a missing one on edit or delete) leave
/// the table unchanged and return `false`.
pub fn apply_to(table: &mut Table, op: &Op) -> bool {
    match op {
        Op::AddService { key, service } => {
            if table.services.contains_key(key) {
                return false;
            }
            table.insert_service(*key, service.clone());
            true
        }
        Op::EditService { key, service } => match table.services.get_mut(key) {
            Some(vs) => {
                vs.service = service.clone();
                true
            }
            None => false,
        },
        Op::DelService { key } => table.remove_service(key).is_some(),
        Op::AddDest { service, key, dest } => match table.services.get_mut(service) {
            Some(vs) if !vs.dests.contains_key(key) => {
                vs.dests.insert(*key, *dest);
                true
            }
            _ => false,
        },
        Op::EditDest { service, key, dest } => {
            match table
                .services
                .get_mut(service)
                .and_then(|vs| vs.dests.get_mut(key))
            {
                Some(d) => {
                    *d = *dest;
                    true
                }
                None => false,
            }
        }
        Op::DelDest { service, key } => table.remove_dest(service, key).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn svc(s: &str) -> ServiceKey {
        ServiceKey::tcp(sa(s))
    }

    fn rs(s: &str) -> DestKey {
        DestKey::new(sa(s))
    }

    /// Two services with two real servers each.
    fn base() -> Table {
        let mut t = Table::new();
        let a = svc("192.0.2.1:80");
        let b = svc("192.0.2.2:443");
        t.insert_service(a, Service::new(Scheduler::Wlc));
        t.insert_dest(&a, rs("10.0.0.1:80"), Dest::new(Fwd::Route, 1));
        t.insert_dest(&a, rs("10.0.0.2:80"), Dest::new(Fwd::Route, 1));
        t.insert_service(b, Service::new(Scheduler::Rr).persistent(300));
        t.insert_dest(&b, rs("10.0.0.1:443"), Dest::new(Fwd::Masq, 1));
        t.insert_dest(&b, rs("10.0.0.2:443"), Dest::new(Fwd::Masq, 1));
        t
    }

    fn lines(ops: &[Op]) -> Vec<String> {
        ops.iter().map(Op::to_string).collect()
    }

    /// Input: a desired and an actual table. Output: the ops, as ipvsadm
    /// arguments, and applying them makes actual equal desired.
    fn check(desired: &Table, actual: &Table, expected: &[&str]) {
        let ops = plan(desired, actual);
        assert_eq!(lines(&ops), expected);
        let mut t = actual.clone();
        for op in &ops {
            assert!(apply_to(&mut t, op), "kernel would refuse {op}");
        }
        assert_eq!(&t, desired);
        assert!(plan(desired, &t).is_empty());
    }

    #[test]
    fn identical_tables_need_nothing() {
        check(&base(), &base(), &[]);
        check(&Table::new(), &Table::new(), &[]);
    }

    #[test]
    fn from_empty_adds_services_before_their_dests() {
        check(
            &base(),
            &Table::new(),
            &[
                "-A -t 192.0.2.1:80 -s wlc",
                "-a -t 192.0.2.1:80 -r 10.0.0.1:80 -g -w 1",
                "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 1",
                "-A -t 192.0.2.2:443 -s rr -p 300",
                "-a -t 192.0.2.2:443 -r 10.0.0.1:443 -m -w 1",
                "-a -t 192.0.2.2:443 -r 10.0.0.2:443 -m -w 1",
            ],
        );
    }

    #[test]
    fn to_empty_deletes_services_only() {
        check(
            &Table::new(),
            &base(),
            &["-D -t 192.0.2.1:80", "-D -t 192.0.2.2:443"],
        );
    }

    #[test]
    fn dest_changes_add_and_edit_before_delete() {
        let mut want = base();
        let a = svc("192.0.2.1:80");
        want.remove_dest(&a, &rs("10.0.0.1:80"));
        want.insert_dest(&a, rs("10.0.0.3:80"), Dest::new(Fwd::Route, 1));
        let mut heavier = Dest::new(Fwd::Route, 5);
        heavier.u_thresh = 1000;
        want.insert_dest(&a, rs("10.0.0.2:80"), heavier);
        check(
            &want,
            &base(),
            &[
                "-e -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 5 -x 1000",
                "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -g -w 1",
                "-d -t 192.0.2.1:80 -r 10.0.0.1:80",
            ],
        );
    }

    #[test]
    fn mutable_service_fields_are_edited_in_place() {
        let b = svc("192.0.2.2:443");
        type Change = fn(&mut Service);
        let cases: [(&str, Change); 5] = [
            ("sched", |s| s.sched = Scheduler::Sh),
            ("flags", |s| s.flags |= SvcFlags::ONEPACKET),
            ("timeout", |s| s.timeout = 60),
            ("netmask", |s| s.netmask = Some(0xffff_ff00)),
            ("pe", |s| s.pe_name = Some("sip".into())),
        ];
        for (what, change) in cases {
            let mut want = base();
            change(&mut want.services.get_mut(&b).unwrap().service);
            let ops = plan(&want, &base());
            assert_eq!(ops.len(), 1, "{what}: {:?}", lines(&ops));
            assert!(
                matches!(&ops[0], Op::EditService { key, .. } if *key == b),
                "{what}"
            );
        }
    }

    #[test]
    fn mutable_dest_fields_are_edited_in_place() {
        let a = svc("192.0.2.1:80");
        let k = rs("10.0.0.1:80");
        let cases: Vec<(&str, Dest)> = vec![
            ("weight", Dest::new(Fwd::Route, 0)),
            ("fwd", Dest::new(Fwd::Masq, 1)),
            (
                "tunnel",
                Dest::new(
                    Fwd::Tunnel(Tunnel::Gre {
                        csum: TunCsum::Csum,
                    }),
                    1,
                ),
            ),
            (
                "u_thresh",
                Dest {
                    u_thresh: 5,
                    ..Dest::new(Fwd::Route, 1)
                },
            ),
            (
                "l_thresh",
                Dest {
                    l_thresh: 5,
                    ..Dest::new(Fwd::Route, 1)
                },
            ),
        ];
        for (what, d) in cases {
            let mut want = base();
            want.insert_dest(&a, k, d);
            let ops = plan(&want, &base());
            assert_eq!(
                ops,
                vec![Op::EditDest {
                    service: a,
                    key: k,
                    dest: d
                }],
                "{what}"
            );
        }
    }

    #[test]
    fn key_change_is_add_then_delete() {
        // The VIP moves from port 80 to 8080: the new service is complete
        // before the old one goes.
        let mut want = base();
        let old = svc("192.0.2.1:80");
        let vs = want.remove_service(&old).unwrap();
        want.services.insert(svc("192.0.2.1:8080"), vs);
        check(
            &want,
            &base(),
            &[
                "-A -t 192.0.2.1:8080 -s wlc",
                "-a -t 192.0.2.1:8080 -r 10.0.0.1:80 -g -w 1",
                "-a -t 192.0.2.1:8080 -r 10.0.0.2:80 -g -w 1",
                "-D -t 192.0.2.1:80",
            ],
        );

        // A real server changes port: add the new key, delete the old.
        let mut want = base();
        let d = want.remove_dest(&old, &rs("10.0.0.1:80")).unwrap();
        want.insert_dest(&old, rs("10.0.0.1:8080"), d);
        check(
            &want,
            &base(),
            &[
                "-a -t 192.0.2.1:80 -r 10.0.0.1:8080 -g -w 1",
                "-d -t 192.0.2.1:80 -r 10.0.0.1:80",
            ],
        );
    }

    #[test]
    fn kernel_bookkeeping_is_not_a_change() {
        // What a dump returns: HASHED set, explicit default netmask.
        let mut actual = base();
        for (key, vs) in actual.services.iter_mut() {
            vs.service.flags |= SvcFlags::HASHED;
            vs.service.netmask = Some(key.af().default_netmask());
        }
        assert!(plan(&base(), &actual).is_empty());
    }

    #[test]
    fn mixed_families_and_fwmarks() {
        let mut want = Table::new();
        let fw = ServiceKey::fwmark(Af::Inet6, 3);
        want.insert_service(fw, Service::new(Scheduler::Mh));
        want.insert_dest(&fw, rs("[2001:db8::1]:0"), Dest::new(Fwd::Route, 1));
        let v4 = ServiceKey::udp(sa("192.0.2.9:53"));
        want.insert_service(v4, Service::new(Scheduler::Rr));
        // An IPv6 real server behind an IPv4 service (tunnel only).
        want.insert_dest(
            &v4,
            rs("[2001:db8::9]:53"),
            Dest::new(Fwd::Tunnel(Tunnel::Ipip), 1),
        );
        check(
            &want,
            &Table::new(),
            &[
                "-A -u 192.0.2.9:53 -s rr",
                "-a -u 192.0.2.9:53 -r [2001:db8::9]:53 -i -w 1 --tun-type ipip",
                "-A -f 3 -6 -s mh",
                "-a -f 3 -6 -r [2001:db8::1]:0 -g -w 1",
            ],
        );
    }

    fn big_table(n: u32) -> Table {
        let mut t = Table::new();
        let k = svc("192.0.2.1:80");
        t.insert_service(k, Service::new(Scheduler::Wrr));
        let vs = t.services.get_mut(&k).unwrap();
        for i in 0..n {
            let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            vs.dests
                .insert(DestKey { addr, port: 80 }, Dest::new(Fwd::Route, 1));
        }
        t
    }

    #[test]
    fn forty_thousand_dests_one_difference_one_op() {
        let actual = big_table(40_000);
        let k = svc("192.0.2.1:80");
        let changed = DestKey {
            addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + 12_345)),
            port: 80,
        };

        let mut want = actual.clone();
        want.insert_dest(&k, changed, Dest::new(Fwd::Route, 0));
        let start = std::time::Instant::now();
        let ops = plan(&want, &actual);
        let took = start.elapsed();
        assert_eq!(
            ops,
            vec![Op::EditDest {
                service: k,
                key: changed,
                dest: Dest::new(Fwd::Route, 0)
            }]
        );
        assert!(took.as_secs() < 2, "planning took {took:?}");

        let mut want = actual.clone();
        want.remove_dest(&k, &changed);
        assert_eq!(
            plan(&want, &actual),
            vec![Op::DelDest {
                service: k,
                key: changed
            }]
        );
        assert!(plan(&actual, &actual.clone()).is_empty());
    }

    fn table_strategy() -> impl Strategy<Value = Table> {
        let key = (0u8..4, prop::bool::ANY).prop_map(|(i, udp)| {
            let sa = SocketAddr::from(([192, 0, 2, i], 80));
            if udp {
                ServiceKey::udp(sa)
            } else {
                ServiceKey::tcp(sa)
            }
        });
        let service = (prop::sample::select(vec!["rr", "wrr", "sh"]), 0u32..3)
            .prop_map(|(s, t)| Service::new(Scheduler::from_name(s)).persistent(t));
        let dests = prop::collection::btree_map(
            (0u8..6).prop_map(|i| DestKey::new(SocketAddr::from(([10, 0, 0, i], 80)))),
            (0u32..3, prop::bool::ANY)
                .prop_map(|(w, nat)| Dest::new(if nat { Fwd::Masq } else { Fwd::Route }, w)),
            0..5,
        );
        prop::collection::btree_map(
            key,
            (service, dests).prop_map(|(service, dests)| VirtualService { service, dests }),
            0..4,
        )
        .prop_map(|services| Table { services })
    }

    proptest! {
        /// Whatever the two tables, the plan is accepted by a kernel-like
        /// model, reaches the desired table, and nothing remains to do.
        #[test]
        fn plan_converges(desired in table_strategy(), actual in table_strategy()) {
            let ops = plan(&desired, &actual);
            let mut t = actual.clone();
            for op in &ops {
                prop_assert!(apply_to(&mut t, op), "refused: {}", op);
            }
            prop_assert_eq!(&t, &desired);
            prop_assert!(plan(&desired, &t).is_empty());
        }
    }
}
