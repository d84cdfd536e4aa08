//! Reload (SIGHUP) as a diff: the running configuration and the new one in,
//! what to keep, stop and start out. Pure: the driver carries the plan out.
//!
//! Instances are matched as keepalived matches them (vrrp.c `vrrp_exist`),
//! by identity and not by name: VRID, address family and configured
//! interface; then unicast on both sides with the same configured source
//! address, or multicast on both sides with the same VMAC use and the same
//! destination group. A matched instance keeps its state; only the
//! addresses, routes and rules the new configuration no longer has are
//! deleted (vrrp.c `clear_diff_vrrp`, vrrp_ipaddress.c `get_diff_address`).

use std::net::IpAddr;

use crate::driver::{DriverCfg, InstanceRt, RouteCfg, RuleCfg, VipCfg};
use crate::types::{Family, Vrid};

/// What keepalived compares to decide that two instances are the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub vrid: Vrid,
    pub family: Family,
    /// The configured (base) interface, not the VMAC.
    pub interface: String,
    pub unicast: bool,
    /// Unicast: the configured source address (`unicast_src_ip`).
    pub src: Option<IpAddr>,
    pub vmac: bool,
    /// Multicast: the destination group.
    pub mcast_dst: IpAddr,
}

/// The identity of instance `inst` of configuration `cfg`.
pub fn identity(cfg: &DriverCfg, inst: &InstanceRt) -> Identity {
    let family = inst.fsm.vips.family();
    Identity {
        vrid: inst.fsm.vrid,
        family,
        interface: inst.fsm.interface.clone(),
        unicast: !inst.unicast_peers.is_empty(),
        src: inst.src_ip,
        vmac: inst.vmac.is_some(),
        mcast_dst: inst.mcast_dst.unwrap_or(match family {
            Family::V4 => IpAddr::V4(cfg.mcast_group4),
            Family::V6 => IpAddr::V6(cfg.mcast_group6),
        }),
    }
}

/// keepalived `vrrp_exist`: the first instance of `new` (not yet taken)
/// with the same VRID, family and interface decides; unicast instances
/// match on the source address, multicast ones on VMAC use and group.
fn find(old: &Identity, new: &[Identity], taken: &[bool]) -> Option<usize> {
    for (j, n) in new.iter().enumerate() {
        if taken[j] || n.vrid != old.vrid || n.family != old.family || n.interface != old.interface
        {
            continue;
        }
        if n.unicast != old.unicast {
            continue;
        }
        if n.unicast {
            if n.src != old.src {
                continue;
            }
            return Some(j);
        }
        // keepalived gives up at the first multicast candidate that differs.
        if n.vmac != old.vmac || n.mcast_dst != old.mcast_dst {
            return None;
        }
        return Some(j);
    }
    None
}

/// An instance present in both configurations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    pub old: usize,
    pub new: usize,
    /// Positions in the old `vips ++ evips` whose address the new instance
    /// no longer has (in either list), with the device they live on.
    pub removed_addrs: Vec<(usize, String)>,
    /// Whether the new instance has an address the old one had not.
    pub added_addrs: bool,
    /// Positions in the old `routes` with no new route of the same key
    /// (see [`same_route_key`]): deleted.
    pub removed_routes: Vec<usize>,
    /// (old, new) positions of routes with the same key whose other
    /// attributes (`src`, `protocol`) changed: replaced in place, so the
    /// route never goes away (keepalived `clear_diff_routes`).
    pub replaced_routes: Vec<(usize, usize)>,
    /// Every old route goes (keepalived logs "Removing a VirtualRoute block").
    pub all_routes_removed: bool,
    /// Positions in the old `rules` that the new instance does not have.
    pub removed_rules: Vec<usize>,
    /// Every old rule goes ("Removing a VirtualRule block").
    pub all_rules_removed: bool,
}

/// The whole diff. Indices are into the old and new
/// [`DriverCfg::instances`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    pub kept: Vec<Kept>,
    /// Old instances with no match, in configuration order.
    pub stopped: Vec<usize>,
    /// New instances with no match, in configuration order.
    pub started: Vec<usize>,
    /// VMAC interfaces of old instances that no new instance uses.
    pub unused_vmacs: Vec<String>,
}

impl ReloadPlan {
    /// The old instance that new instance `new` continues, if any.
    pub fn old_of(&self, new: usize) -> Option<&Kept> {
        self.kept.iter().find(|k| k.new == new)
    }
}

/// The device an address lives on: its `dev`, else the instance's VMAC or
/// interface. keepalived compares base interfaces, so the VMAC counts as
/// its base interface.
fn base_dev(inst: &InstanceRt, v: &VipCfg) -> String {
    let dev = v.dev.clone().unwrap_or_else(|| {
        inst.vmac
            .as_ref()
            .map_or_else(|| inst.fsm.interface.clone(), |m| m.ifname.clone())
    });
    match &inst.vmac {
        Some(m) if m.ifname == dev => inst.fsm.interface.clone(),
        _ => dev,
    }
}

/// keepalived `compare_ipaddress`: family, prefix, scope, base device,
/// label and address; broadcast, peer and flags do not count.
fn same_addr(a: (&InstanceRt, &VipCfg), b: (&InstanceRt, &VipCfg)) -> bool {
    let (ia, va) = a;
    let (ib, vb) = b;
    va.addr == vb.addr
        && va.prefix == vb.prefix
        && va.scope == vb.scope
        && va.label == vb.label
        && base_dev(ia, va) == base_dev(ib, vb)
}

fn diff(old_i: usize, old: &InstanceRt, new_i: usize, new: &InstanceRt) -> Kept {
    let old_addrs: Vec<&VipCfg> = old.vips.iter().chain(&old.evips).collect();
    let new_addrs: Vec<&VipCfg> = new.vips.iter().chain(&new.evips).collect();
    let removed_addrs = old_addrs
        .iter()
        .enumerate()
        .filter(|(_, o)| !new_addrs.iter().any(|n| same_addr((old, o), (new, n))))
        .map(|(p, o)| {
            let dev = o.dev.clone().unwrap_or_else(|| {
                old.vmac
                    .as_ref()
                    .map_or_else(|| old.fsm.interface.clone(), |m| m.ifname.clone())
            });
            (p, dev)
        })
        .collect();
    let added_addrs = new_addrs
        .iter()
        .any(|n| !old_addrs.iter().any(|o| same_addr((old, o), (new, n))));
    let mut removed_routes = Vec::new();
    let mut replaced_routes = Vec::new();
    for (p, r) in old.routes.iter().enumerate() {
        if new.routes.contains(r) {
            continue;
        }
        match new.routes.iter().position(|n| same_route_key(r, n)) {
            Some(q) => replaced_routes.push((p, q)),
            None => removed_routes.push(p),
        }
    }
    let removed_rules = old
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| !rule_in(r, &new.rules))
        .map(|(p, _)| p)
        .collect();
    Kept {
        old: old_i,
        new: new_i,
        removed_addrs,
        added_addrs,
        removed_routes,
        replaced_routes,
        all_routes_removed: !old.routes.is_empty() && new.routes.is_empty(),
        removed_rules,
        all_rules_removed: !old.rules.is_empty() && new.rules.is_empty(),
    }
}

/// keepalived's `route_exist`: the kernel's key to a route (destination,
/// metric, table) plus what an add without NLM_F_EXCL would otherwise
/// stack beside it (scope, type, gateway, device). Anything else is
/// changed by replacing the route.
pub fn same_route_key(a: &RouteCfg, b: &RouteCfg) -> bool {
    a.dst == b.dst
        && a.dst_len == b.dst_len
        && a.metric == b.metric
        && a.table == b.table
        && a.scope == b.scope
        && a.route_type == b.route_type
        && a.via == b.via
        && a.dev == b.dev
}

fn rule_in(r: &RuleCfg, list: &[RuleCfg]) -> bool {
    list.contains(r)
}

/// Matches `new` against `old` and diffs the matched instances.
pub fn plan(old: &DriverCfg, new: &DriverCfg) -> ReloadPlan {
    let new_ids: Vec<Identity> = new.instances.iter().map(|i| identity(new, i)).collect();
    let mut taken = vec![false; new_ids.len()];
    let mut p = ReloadPlan::default();
    for (i, o) in old.instances.iter().enumerate() {
        match find(&identity(old, o), &new_ids, &taken) {
            Some(j) => {
                taken[j] = true;
                p.kept.push(diff(i, o, j, &new.instances[j]));
            }
            None => p.stopped.push(i),
        }
    }
    p.started = (0..new_ids.len()).filter(|j| !taken[*j]).collect();
    let new_vmacs: Vec<&str> = new
        .instances
        .iter()
        .filter_map(|i| i.vmac.as_ref().map(|v| v.ifname.as_str()))
        .collect();
    for o in &old.instances {
        if let Some(v) = &o.vmac
            && !new_vmacs.contains(&v.ifname.as_str())
            && !p.unused_vmacs.contains(&v.ifname)
        {
            p.unused_vmacs.push(v.ifname.clone());
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::driver::{PeerCfg, RuleAction, VmacCfg};
    use crate::fsm::InstanceCfg;
    use crate::wire::Addrs;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn inst(name: &str, vrid: u8, iface: &str, vips: &[&str]) -> InstanceRt {
        let addrs: Vec<Ipv4Addr> = vips.iter().map(|v| v.parse().unwrap()).collect();
        let fsm = InstanceCfg::new(
            name,
            iface,
            Vrid::new(vrid).unwrap(),
            ip("0.0.0.0"),
            Addrs::V4(addrs.clone()),
        );
        let mut rt = InstanceRt::new(fsm);
        rt.vips = addrs
            .iter()
            .map(|a| VipCfg::new(IpAddr::V4(*a), 24))
            .collect();
        rt
    }

    fn cfg(instances: Vec<InstanceRt>) -> DriverCfg {
        DriverCfg::new(instances)
    }

    #[test]
    fn same_config_keeps_everything() {
        let a = cfg(vec![
            inst("A", 1, "eth0", &["10.0.0.1"]),
            inst("B", 2, "eth0", &["10.0.0.2"]),
        ]);
        let p = plan(&a, &a.clone());
        assert_eq!(p.stopped, Vec::<usize>::new());
        assert_eq!(p.started, Vec::<usize>::new());
        assert_eq!(p.kept.len(), 2);
        for k in &p.kept {
            assert_eq!(k.old, k.new);
            assert!(k.removed_addrs.is_empty() && !k.added_addrs);
            assert!(k.removed_routes.is_empty() && k.removed_rules.is_empty());
        }
    }

    #[test]
    fn matched_by_identity_not_name_or_order() {
        let old = cfg(vec![
            inst("A", 1, "eth0", &["10.0.0.1"]),
            inst("B", 2, "eth0", &["10.0.0.2"]),
        ]);
        // Renamed, reordered, new priority: still the same routers.
        let mut b = inst("B-renamed", 2, "eth0", &["10.0.0.2"]);
        b.fsm.priority = crate::Priority(200);
        let new = cfg(vec![b, inst("A", 1, "eth0", &["10.0.0.1"])]);
        let p = plan(&old, &new);
        assert_eq!(p.old_of(0).map(|k| k.old), Some(1));
        assert_eq!(p.old_of(1).map(|k| k.old), Some(0));
        assert!(p.stopped.is_empty() && p.started.is_empty());
    }

    #[test]
    fn identity_changes_stop_and_start() {
        let base = inst("A", 1, "eth0", &["10.0.0.1"]);
        let old = cfg(vec![base.clone()]);
        let changes: Vec<(&str, InstanceRt)> = vec![
            ("vrid", inst("A", 9, "eth0", &["10.0.0.1"])),
            ("interface", inst("A", 1, "eth1", &["10.0.0.1"])),
            ("family", {
                let mut i = InstanceRt::new(InstanceCfg::new(
                    "A",
                    "eth0",
                    Vrid::new(1).unwrap(),
                    ip("::"),
                    Addrs::V6(vec!["fd00::1".parse().unwrap()]),
                ));
                i.vips = vec![VipCfg::new(ip("fd00::1"), 64)];
                i
            }),
            ("unicast", {
                let mut i = base.clone();
                i.unicast_peers = vec![PeerCfg {
                    addr: ip("10.0.0.9"),
                    min_ttl: None,
                    max_ttl: None,
                }];
                i
            }),
            ("vmac", {
                let mut i = base.clone();
                i.vmac = Some(VmacCfg::default_for(1, Family::V4));
                i
            }),
            ("group", {
                let mut i = base.clone();
                i.mcast_dst = Some(ip("224.0.0.99"));
                i
            }),
        ];
        for (what, changed) in changes {
            let p = plan(&old, &cfg(vec![changed]));
            assert_eq!(p.stopped, vec![0], "{what}");
            assert_eq!(p.started, vec![0], "{what}");
            assert!(p.kept.is_empty(), "{what}");
        }
        // The default group spelled out is the same group.
        let mut same = base.clone();
        same.mcast_dst = Some(ip("224.0.0.18"));
        assert_eq!(plan(&old, &cfg(vec![same])).kept.len(), 1);
    }

    #[test]
    fn unicast_matches_on_source_address() {
        let peer = |i: &mut InstanceRt| {
            i.unicast_peers = vec![PeerCfg {
                addr: ip("10.0.0.9"),
                min_ttl: None,
                max_ttl: None,
            }];
        };
        let mut a = inst("A", 1, "eth0", &["10.0.0.1"]);
        peer(&mut a);
        a.src_ip = Some(ip("10.0.0.5"));
        let mut b = a.clone();
        // Other peers do not matter; the source does.
        b.unicast_peers[0].addr = ip("10.0.0.10");
        assert_eq!(plan(&cfg(vec![a.clone()]), &cfg(vec![b])).kept.len(), 1);
        let mut c = a.clone();
        c.src_ip = Some(ip("10.0.0.6"));
        assert_eq!(plan(&cfg(vec![a]), &cfg(vec![c])).stopped, vec![0]);
    }

    #[test]
    fn address_diff_follows_keepalived_compare() {
        let mut old = inst("A", 1, "eth0", &["10.0.0.1", "10.0.0.2"]);
        old.evips = vec![VipCfg::new(ip("10.9.0.1"), 24)];
        let mut new = inst("A", 1, "eth0", &["10.0.0.1", "10.0.0.3"]);
        // Moved from the excluded list to the advertised one: kept.
        new.vips.push(VipCfg::new(ip("10.9.0.1"), 24));
        // Broadcast does not count.
        new.vips[0].broadcast = Some("10.0.0.255".parse().unwrap());
        let p = plan(&cfg(vec![old.clone()]), &cfg(vec![new.clone()]));
        let k = &p.kept[0];
        assert_eq!(k.removed_addrs, vec![(1, "eth0".to_owned())]);
        assert!(k.added_addrs);

        // Prefix, scope, label and device do count.
        let mut n2 = old.clone();
        n2.vips[0].prefix = 25;
        n2.vips[1].scope = 254;
        n2.evips[0].dev = Some("eth1".into());
        let k = &plan(&cfg(vec![old.clone()]), &cfg(vec![n2])).kept[0];
        assert_eq!(
            k.removed_addrs,
            vec![(0, "eth0".into()), (1, "eth0".into()), (2, "eth0".into())]
        );
        let mut n3 = old.clone();
        n3.vips[0].label = Some("eth0:1".into());
        let k = &plan(&cfg(vec![old.clone()]), &cfg(vec![n3])).kept[0];
        assert_eq!(k.removed_addrs, vec![(0, "eth0".into())]);
        assert!(k.added_addrs);
        // An explicit `dev` equal to the default is the same device.
        let mut n4 = old.clone();
        n4.vips[1].dev = Some("eth0".into());
        let k = &plan(&cfg(vec![old]), &cfg(vec![n4])).kept[0];
        assert!(k.removed_addrs.is_empty() && !k.added_addrs);
    }

    #[test]
    fn vmac_addresses_count_as_base_device() {
        let mut old = inst("A", 1, "eth0", &["10.0.0.1"]);
        old.vmac = Some(VmacCfg::default_for(1, Family::V4));
        let mut new = old.clone();
        new.vips[0].dev = Some("eth0".into());
        let p = plan(&cfg(vec![old.clone()]), &cfg(vec![new]));
        assert!(p.kept[0].removed_addrs.is_empty());
        // Removed address on the VMAC is deleted from the VMAC.
        let mut gone = old.clone();
        gone.vips = vec![VipCfg::new(ip("10.0.0.7"), 24)];
        let p = plan(&cfg(vec![old]), &cfg(vec![gone]));
        assert_eq!(p.kept[0].removed_addrs, vec![(0, "vrrp.1".into())]);
    }

    #[test]
    fn routes_and_rules() {
        let route = |dst: &str| RouteCfg {
            dst: ip(dst),
            dst_len: 16,
            via: Some(ip("10.0.0.254")),
            src: None,
            dev: None,
            table: 100,
            metric: None,
            scope: None,
            protocol: 3,
            route_type: 1,
        };
        let rule = |t: u32| RuleCfg {
            v6: false,
            not: false,
            from: Some((ip("10.0.0.1"), 32)),
            to: None,
            priority: Some(100),
            action: RuleAction::Table(t),
            fwmark: None,
            iif: None,
            oif: None,
        };
        let mut old = inst("A", 1, "eth0", &["10.0.0.1"]);
        old.routes = vec![route("10.8.0.0"), route("10.9.0.0")];
        old.rules = vec![rule(100), rule(101)];
        let mut new = old.clone();
        new.routes[1].metric = Some(5);
        new.rules.remove(0);
        let k = plan(&cfg(vec![old.clone()]), &cfg(vec![new])).kept[0].clone();
        assert_eq!(k.removed_routes, vec![1]);
        assert!(k.replaced_routes.is_empty());
        assert_eq!(k.removed_rules, vec![0]);
        // A new source or protocol keeps the route's key: replaced in place.
        let mut new = old.clone();
        new.routes[0].src = Some(ip("10.0.0.1"));
        new.routes[1].protocol = 4;
        new.routes.swap(0, 1);
        let k = plan(&cfg(vec![old.clone()]), &cfg(vec![new])).kept[0].clone();
        assert!(k.removed_routes.is_empty());
        assert_eq!(k.replaced_routes, vec![(0, 1), (1, 0)]);
        assert!(!k.all_routes_removed && !k.all_rules_removed);
        let mut bare = old.clone();
        bare.routes.clear();
        bare.rules.clear();
        let k = plan(&cfg(vec![old]), &cfg(vec![bare])).kept[0].clone();
        assert_eq!(k.removed_routes, vec![0, 1]);
        assert_eq!(k.removed_rules, vec![0, 1]);
        assert!(k.all_routes_removed && k.all_rules_removed);
    }

    #[test]
    fn unused_vmacs_are_listed_once() {
        let mut a = inst("A", 1, "eth0", &["10.0.0.1"]);
        a.vmac = Some(VmacCfg::default_for(1, Family::V4));
        let mut b = inst("B", 2, "eth0", &["10.0.0.2"]);
        b.vmac = Some(VmacCfg::default_for(2, Family::V4));
        let old = cfg(vec![a.clone(), b]);
        let p = plan(&old, &cfg(vec![a]));
        assert_eq!(p.unused_vmacs, vec!["vrrp.2".to_owned()]);
        assert_eq!(p.stopped, vec![1]);
    }

    #[test]
    fn a_new_instance_is_claimed_once() {
        // Two old instances with one identity (a VRID conflict keepalived
        // refuses at start): only the first continues.
        let a = inst("A", 1, "eth0", &["10.0.0.1"]);
        let old = cfg(vec![a.clone(), a.clone()]);
        let p = plan(&old, &cfg(vec![a]));
        assert_eq!(p.kept.len(), 1);
        assert_eq!(p.kept[0].old, 0);
        assert_eq!(p.stopped, vec![1]);
    }
}
