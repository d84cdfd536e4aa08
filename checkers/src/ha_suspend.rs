//! `ha_suspend`: which virtual servers have their checkers suspended,
//! given the addresses configured on this host. Pure: the address monitor
//! (crate::addr_monitor) feeds netlink events in, the manager asks.
//!
//! keepalived 2.2.7 (check_api.c `update_checker_activity`, `addr_matches`,
//! `register_checkers_thread`):
//! - only a virtual server given by address matches: fwmark ones have
//!   ha_suspend cleared at load, and a `virtual_server_group`'s addresses
//!   never match (`addr_matches` returns false for any group), so a group's
//!   checkers stay suspended for good;
//! - the same address on several interfaces counts once per interface,
//!   and the checkers are suspended only when the last one goes.
//!
//! keepalived counts NEWADDR/DELADDR events; we keep the set of
//! (address, ifindex) pairs instead, which gives the same answer for the
//! kernel's normal event flow and stays right when the kernel repeats a
//! NEWADDR for an address it already reported (IPv6 DAD completion,
//! `ip addr replace`), where keepalived's count would drift upwards and
//! never suspend again.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::config::VsCfg;

/// One RTM_NEWADDR (`present`) or RTM_DELADDR, with keepalived's choice of
/// address: IFA_LOCAL, else IFA_ADDRESS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddrEvent {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub present: bool,
}

/// The addresses configured on this host, one entry per interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalAddrs(BTreeSet<(IpAddr, u32)>);

impl LocalAddrs {
    pub fn new() -> LocalAddrs {
        LocalAddrs::default()
    }

    /// Applies one event; false when it changed nothing (a repeat).
    pub fn apply(&mut self, ev: &AddrEvent) -> bool {
        if ev.present {
            self.0.insert((ev.addr, ev.ifindex))
        } else {
            self.0.remove(&(ev.addr, ev.ifindex))
        }
    }

    /// On how many interfaces `addr` is configured.
    pub fn count(&self, addr: IpAddr) -> usize {
        self.0
            .range((addr, 0)..=(addr, u32::MAX))
            .filter(|(a, _)| *a == addr)
            .count()
    }

    /// The events that turn `self` into `new` (removals first), for a
    /// resynchronisation after the netlink socket overran.
    pub fn diff(&self, new: &LocalAddrs) -> Vec<AddrEvent> {
        let gone = self.0.difference(&new.0).map(|&(addr, ifindex)| AddrEvent {
            ifindex,
            addr,
            present: false,
        });
        let added = new.0.difference(&self.0).map(|&(addr, ifindex)| AddrEvent {
            ifindex,
            addr,
            present: true,
        });
        gone.chain(added).collect()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(u32, IpAddr)> for LocalAddrs {
    fn from_iter<T: IntoIterator<Item = (u32, IpAddr)>>(iter: T) -> Self {
        LocalAddrs(iter.into_iter().map(|(i, a)| (a, i)).collect())
    }
}

/// The address whose presence decides whether `vs`'s checkers run: its
/// own address when it has `ha_suspend` and is given by address.
pub fn watched(vs: &VsCfg) -> Option<IpAddr> {
    if vs.ha_suspend { vs.addr } else { None }
}

/// Whether `vs`'s checkers are suspended with `local` configured.
pub fn suspended(vs: &VsCfg, local: &LocalAddrs) -> bool {
    vs.ha_suspend && watched(vs).is_none_or(|a| local.count(a) == 0)
}

/// Whether any virtual server needs the address monitor.
pub fn needed(vss: &[VsCfg]) -> bool {
    vss.iter().any(|v| v.ha_suspend)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs::model::Scheduler;
    use ipvs::{Service, ServiceKey};

    fn vs(addr: Option<&str>, ha_suspend: bool) -> VsCfg {
        let a: Option<IpAddr> = addr.map(|a| a.parse().unwrap());
        VsCfg {
            name: "vs".into(),
            addr: a,
            services: vec![(
                ServiceKey::tcp(std::net::SocketAddr::new(
                    a.unwrap_or("10.9.9.9".parse().unwrap()),
                    80,
                )),
                Service::new(Scheduler::Rr),
            )],
            quorum: 1,
            hysteresis: 0,
            sorry_server: None,
            omega: false,
            smtp_alert: false,
            ha_suspend,
            quorum_up: None,
            quorum_down: None,
            real_servers: vec![],
        }
    }

    fn ev(ifindex: u32, addr: &str, present: bool) -> AddrEvent {
        AddrEvent {
            ifindex,
            addr: addr.parse().unwrap(),
            present,
        }
    }

    #[test]
    fn suspended_until_the_address_is_local() {
        let v = vs(Some("192.0.2.1"), true);
        let mut l = LocalAddrs::new();
        assert!(suspended(&v, &l));
        assert!(l.apply(&ev(2, "192.0.2.10", true)));
        assert!(suspended(&v, &l), "another address");
        assert!(l.apply(&ev(2, "192.0.2.1", true)));
        assert!(!suspended(&v, &l));
        assert!(l.apply(&ev(2, "192.0.2.1", false)));
        assert!(suspended(&v, &l));
    }

    #[test]
    fn without_ha_suspend_never_suspended() {
        let v = vs(Some("192.0.2.1"), false);
        assert!(!suspended(&v, &LocalAddrs::new()));
        assert_eq!(watched(&v), None);
    }

    #[test]
    fn groups_and_fwmarks_stay_suspended() {
        // keepalived's addr_matches never matches a group
        let v = vs(None, true);
        let l: LocalAddrs = [(2, "10.9.9.9".parse().unwrap())].into_iter().collect();
        assert!(suspended(&v, &l));
    }

    #[test]
    fn same_address_on_two_interfaces_counts_twice() {
        let v = vs(Some("fe80::1"), true);
        let mut l = LocalAddrs::new();
        l.apply(&ev(2, "fe80::1", true));
        l.apply(&ev(3, "fe80::1", true));
        assert_eq!(l.count("fe80::1".parse().unwrap()), 2);
        l.apply(&ev(2, "fe80::1", false));
        assert!(!suspended(&v, &l), "still on ifindex 3");
        l.apply(&ev(3, "fe80::1", false));
        assert!(suspended(&v, &l));
    }

    #[test]
    fn repeated_newaddr_does_not_keep_checkers_running() {
        // IPv6 DAD completion repeats RTM_NEWADDR for the same address
        let v = vs(Some("2001:db8::1"), true);
        let mut l = LocalAddrs::new();
        assert!(l.apply(&ev(2, "2001:db8::1", true)));
        assert!(!l.apply(&ev(2, "2001:db8::1", true)));
        assert!(l.apply(&ev(2, "2001:db8::1", false)));
        assert!(suspended(&v, &l));
        assert!(!l.apply(&ev(2, "2001:db8::1", false)), "unknown delete");
    }

    #[test]
    fn families_do_not_mix() {
        let v = vs(Some("192.0.2.1"), true);
        let l: LocalAddrs = [(2, "::ffff:192.0.2.1".parse().unwrap())]
            .into_iter()
            .collect();
        assert!(suspended(&v, &l));
    }

    #[test]
    fn diff_removes_then_adds() {
        let a: LocalAddrs = [
            (2, "10.0.0.1".parse().unwrap()),
            (2, "10.0.0.2".parse().unwrap()),
        ]
        .into_iter()
        .collect();
        let b: LocalAddrs = [
            (2, "10.0.0.2".parse().unwrap()),
            (3, "10.0.0.1".parse().unwrap()),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            a.diff(&b),
            [ev(2, "10.0.0.1", false), ev(3, "10.0.0.1", true)]
        );
        let mut c = a.clone();
        for e in a.diff(&b) {
            c.apply(&e);
        }
        assert_eq!(c, b);
    }
}
