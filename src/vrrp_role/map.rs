//! The typed configuration (`kaconf::model`) → the VRRP engine's own
//! configuration (`vrrp::driver::DriverCfg`), with keepalived's defaults and
//! run-time rules applied. No I/O here: interface facts (indexes, primary
//! addresses) are the driver's business.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use kaconf::model::{self, Config, VrrpInstance};
use vrrp::driver::{
    DriverCfg, InstanceRt, PeerCfg, RouteCfg, RuleAction, RuleCfg, SyncGroupCfg, TrackIfCfg,
    VipCfg, VmacCfg,
};
use vrrp::fsm::{GarpCfg, InstanceCfg, StartState};
use vrrp::wire::{Addrs, Auth};
use vrrp::{Centisecs, Family, Priority, Version, Vrid};

/// An instance that cannot run (keepalived exits with KEEPALIVED_EXIT_CONFIG
/// for most of these).
#[derive(Debug)]
pub struct MapError(pub String);

impl std::fmt::Display for MapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn scope_num(s: &str) -> Option<u8> {
    Some(match s {
        "global" | "universe" => 0,
        "site" => 200,
        "link" => 253,
        "host" => 254,
        "nowhere" => 255,
        n => n.parse().ok()?,
    })
}

/// `IP[/LEN]`, LEN defaulting to the full length.
pub fn prefix(s: &str) -> Option<(IpAddr, u8)> {
    let (a, l) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match l {
        Some(l) => l.parse().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((addr, len))
}

fn table_num(s: &str) -> Option<u32> {
    Some(match s {
        "main" => 254,
        "local" => 255,
        "default" => 253,
        n => n.parse().ok()?,
    })
}

pub fn vip(a: &model::IpAddress) -> VipCfg {
    let mut v = VipCfg::new(a.addr, a.prefix);
    v.dev = a.dev.clone();
    if let Some(s) = a.scope.as_deref().and_then(scope_num) {
        v.scope = s;
    } else if a.addr.is_ipv6() {
        // The kernel derives IPv6 scope from the address.
        v.scope = 0;
    }
    if let IpAddr::V4(addr) = a.addr {
        v.broadcast = match a.broadcast.as_deref() {
            Some("+") => vrrp::driver::netlink::broadcast_plus(addr, a.prefix),
            Some("-") | None => None,
            Some(b) => b.parse::<Ipv4Addr>().ok(),
        };
        v.label = a.label.clone();
    }
    v.peer = a.peer.as_deref().and_then(prefix);
    v.noprefixroute = a.flags.iter().any(|f| f == "noprefixroute");
    v.no_track = a.flags.iter().any(|f| f == "no_track");
    v
}

fn route(r: &model::Route) -> Option<RouteCfg> {
    let (dst, dst_len) = match r.dst.as_str() {
        "default" | "any" | "all" => {
            let v6 = r
                .via
                .as_deref()
                .or(r.src.as_deref())
                .is_some_and(|s| s.contains(':'));
            if v6 {
                (IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0)
            } else {
                (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
            }
        }
        d => prefix(d)?,
    };
    let route_type = match r.route_type.as_deref() {
        None | Some("unicast") => 1,
        Some("local") => 2,
        Some("broadcast") => 3,
        Some("anycast") => 4,
        Some("multicast") => 5,
        Some("blackhole") => 6,
        Some("unreachable") => 7,
        Some("prohibit") => 8,
        Some("throw") => 9,
        Some("nat") => 10,
        Some(_) => return None,
    };
    Some(RouteCfg {
        dst,
        dst_len,
        via: r.via.as_deref().and_then(|s| s.parse().ok()),
        src: r.src.as_deref().and_then(|s| s.parse().ok()),
        dev: r.dev.clone(),
        table: r.table.as_deref().and_then(table_num).unwrap_or(254),
        metric: r.metric,
        scope: r.scope.as_deref().and_then(scope_num),
        protocol: match r.protocol.as_deref() {
            None => 3, // RTPROT_BOOT, what `ip route add` uses
            Some("kernel") => 2,
            Some("static") => 4,
            Some(p) => p.parse().unwrap_or(3),
        },
        route_type,
    })
}

fn rule(r: &model::Rule) -> Option<RuleCfg> {
    let from = r.from.as_deref().and_then(prefix);
    let to = r.to.as_deref().and_then(prefix);
    let v6 = from.or(to).is_some_and(|(a, _)| a.is_ipv6()) || r.words.iter().any(|w| w == "inet6");
    let action = match (r.action.as_deref(), r.table.as_deref()) {
        (Some(a), _) if a.starts_with("goto ") => RuleAction::Goto(a[5..].trim().parse().ok()?),
        (Some("nop"), _) => RuleAction::Nop,
        (Some("blackhole"), _) | (Some("type blackhole"), _) => RuleAction::Blackhole,
        (Some("unreachable"), _) | (Some("type unreachable"), _) => RuleAction::Unreachable,
        (Some("prohibit"), _) | (Some("type prohibit"), _) => RuleAction::Prohibit,
        (_, Some(t)) => RuleAction::Table(table_num(t)?),
        _ => RuleAction::Table(254),
    };
    let fwmark = r.fwmark.as_deref().and_then(|f| {
        let num = |s: &str| match s.strip_prefix("0x") {
            Some(h) => u32::from_str_radix(h, 16).ok(),
            None => s.parse().ok(),
        };
        match f.split_once('/') {
            Some((m, k)) => Some((num(m)?, Some(num(k)?))),
            None => Some((num(f)?, None)),
        }
    });
    Some(RuleCfg {
        v6,
        not: r.not,
        from,
        to,
        priority: r.preference,
        action,
        fwmark,
        iif: r.iif.clone(),
        oif: r.oif.clone(),
    })
}

fn parse_mac(s: &str, vrid: u8) -> Option<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    match parts.as_slice() {
        [a, b, c, d, e, f] => Some([*a, *b, *c, *d, *e, *f]),
        // 5 octets: keepalived appends the VRID.
        [a, b, c, d, e] => Some([*a, *b, *c, *d, *e, vrid]),
        _ => None,
    }
}

/// keepalived's advert_int rounding: v2 whole seconds (rounded, 1..255),
/// v3 centiseconds (rounded, 1..4095).
fn advert_int(us: u64, version: Version) -> Centisecs {
    match version {
        Version::V2 => Centisecs::from_secs(((us + 500_000) / 1_000_000).clamp(1, 255) as u8),
        Version::V3 => Centisecs(((us + 5_000) / 10_000).clamp(1, 4095) as u16),
    }
}

fn secs(v: Option<u32>, g: Option<u32>, default: u32) -> Duration {
    Duration::from_secs(u64::from(v.or(g).unwrap_or(default)))
}

/// An instance's tracking as it runs: its own, plus what its sync group
/// tracks (keepalived adds the group's tracked interfaces, scripts and files
/// to every member; a member that tracks the same interface with a weight
/// takes the group's weight).
pub fn tracking(cfg: &Config, vi: &VrrpInstance) -> model::Tracking {
    let mut t = vi.track.clone();
    let Some(g) = vi
        .sync_group
        .as_ref()
        .and_then(|n| cfg.sync_groups.iter().find(|g| &g.name == n))
    else {
        return t;
    };
    for gi in &g.track.interface {
        match t.interface.iter_mut().find(|x| x.name == gi.name) {
            Some(x) if x.weight.unwrap_or(0) != 0 => {
                x.weight = gi.weight;
                x.reverse = gi.reverse;
            }
            Some(_) => {}
            None => t.interface.push(gi.clone()),
        }
    }
    t.script.extend(g.track.script.iter().cloned());
    t.file.extend(g.track.file.iter().cloned());
    t
}

fn instance(
    g: &model::GlobalDefs,
    vi: &VrrpInstance,
    track: &model::Tracking,
) -> Result<InstanceRt, MapError> {
    let name = vi.name.clone();
    let vrid = vi
        .virtual_router_id
        .and_then(Vrid::new)
        .ok_or_else(|| MapError(format!("({name}) the virtual router id must be set")))?;
    let interface = vi
        .interface
        .as_ref()
        .map(|(i, _)| i.clone())
        .ok_or_else(|| MapError(format!("({name}) Unknown interface!")))?;
    let vips: Vec<&model::IpAddress> = vi.virtual_ipaddress.iter().collect();
    // keepalived's family: the first VIP's, else `native_ipv6`, else the
    // unicast source's or the multicast group's, else IPv4
    let v6 = match vips.first() {
        Some(first) => first.addr.is_ipv6(),
        None => {
            vi.native_ipv6
                || vi
                    .unicast_src_ip
                    .or(vi.mcast_dst_ip)
                    .is_some_and(|a| a.is_ipv6())
        }
    };
    let family = if v6 { Family::V6 } else { Family::V4 };
    let strict = vi.strict_mode.unwrap_or(g.vrrp_strict);
    let v3 = family == Family::V6 || vi.version.or(g.vrrp_version) == Some(3);
    // without a VIP, keepalived runs the instance (having said that one is
    // sensible) unless strict or VRRPv3 require one
    if vips.is_empty() && (strict || v3) && !vi.no_virtual_ipaddress {
        return Err(MapError(format!(
            "({name}) No VIP specified; at least one is required"
        )));
    }
    let (same, other): (Vec<&model::IpAddress>, Vec<&model::IpAddress>) = vips
        .iter()
        .partition(|a| a.addr.is_ipv4() == (family == Family::V4));
    let addrs = match family {
        Family::V4 => Addrs::V4(
            same.iter()
                .filter_map(|a| match a.addr {
                    IpAddr::V4(v) => Some(v),
                    IpAddr::V6(_) => None,
                })
                .collect(),
        ),
        Family::V6 => Addrs::V6(
            same.iter()
                .filter_map(|a| match a.addr {
                    IpAddr::V6(v) => Some(v),
                    IpAddr::V4(_) => None,
                })
                .collect(),
        ),
    };
    let version = match (family, vi.version.or(g.vrrp_version)) {
        (Family::V6, _) | (_, Some(3)) => Version::V3,
        _ => Version::V2,
    };
    // keepalived: `state MASTER` alone makes the address owner, and an
    // owner without `state` starts as MASTER
    let priority = vi
        .priority
        .unwrap_or(if vi.state == Some(model::VrrpState::Master) {
            255
        } else {
            100
        });
    let state = match vi.state {
        Some(model::VrrpState::Master) => StartState::Master,
        Some(_) => StartState::Backup,
        None if priority == 255 => StartState::Master,
        None => StartState::Backup,
    };
    let placeholder = match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    };
    let mut fsm = InstanceCfg::new(&name, &interface, vrid, placeholder, addrs);
    fsm.version = version;
    fsm.priority = Priority(priority);
    fsm.advert_int = advert_int(vi.advert_int.unwrap_or(1_000_000), version);
    fsm.state = state;
    if version == Version::V2
        && family == Family::V4
        && !strict
        && let Some(auth) = &vi.authentication
    {
        let pass = auth.auth_pass.as_deref().unwrap_or("").as_bytes();
        match auth.auth_type {
            Some(model::AuthType::Pass) => fsm.auth = Auth::pass(pass),
            Some(model::AuthType::Ah) => fsm.auth = Auth::ah(pass),
            None => {}
        }
    }
    fsm.nopreempt = vi.nopreempt;
    fsm.preempt_delay = Duration::from_micros(vi.preempt_delay.unwrap_or(0));
    fsm.down_timer_adverts = vi
        .down_timer_adverts
        .or(g.vrrp_down_timer_adverts)
        .map_or(3, |d| d.clamp(1, 100) as u8);
    fsm.lower_prio_no_advert = vi
        .lower_prio_no_advert
        .or(g.vrrp_lower_prio_no_advert)
        .unwrap_or(strict);
    fsm.higher_prio_send_advert = vi
        .higher_prio_send_advert
        .or(g.vrrp_higher_prio_send_advert)
        .unwrap_or(false);
    fsm.owner_ignore_adverts = vi
        .owner_ignore_adverts
        .or(g.vrrp_owner_ignore_adverts)
        .unwrap_or(false);
    fsm.skip_check_adv_addr = vi.skip_check_adv_addr.unwrap_or(g.vrrp_skip_check_adv_addr);
    fsm.notify_priority_changes = vi
        .notify_priority_changes
        .unwrap_or(g.vrrp_notify_priority_changes);
    fsm.v3_checksum_as_v2 = vi.v3_checksum_as_v2.unwrap_or(g.v3_checksum_as_v2);
    let mut garp = GarpCfg {
        master_delay: secs(vi.garp_master_delay, g.vrrp_garp_master_delay, 5),
        master_repeat: vi
            .garp_master_repeat
            .or(g.vrrp_garp_master_repeat)
            .unwrap_or(5)
            .max(1),
        master_refresh: vi
            .garp_master_refresh
            .or(g.vrrp_garp_master_refresh)
            .filter(|r| *r > 0)
            .map(|r| Duration::from_secs(u64::from(r))),
        master_refresh_repeat: vi
            .garp_master_refresh_repeat
            .or(g.vrrp_garp_master_refresh_repeat)
            .unwrap_or(1)
            .max(1),
        lower_prio_delay: Duration::ZERO,
        lower_prio_repeat: 0,
        extra_if: None,
        extra_if_all: false,
    };
    garp.lower_prio_delay = vi
        .garp_lower_prio_delay
        .or(g.vrrp_garp_lower_prio_delay)
        .map_or(garp.master_delay, |d| Duration::from_secs(u64::from(d)));
    garp.lower_prio_repeat = vi
        .garp_lower_prio_repeat
        .or(g.vrrp_garp_lower_prio_repeat)
        .unwrap_or(garp.master_repeat);
    if g.vrrp_min_garp {
        garp.master_repeat = 1;
        garp.master_delay = Duration::ZERO;
        garp.master_refresh = None;
        garp.master_refresh_repeat = 1;
    }
    // garp_extra_if: the instance's own value (0 = off), else the global
    // one with its `all`; an `all` on an instance line counts either way
    // (vrrp.c `vrrp_complete_instance`). The driver turns it off when the
    // VIPs have no extra interface.
    let (extra_secs, extra_all) = match vi.garp_extra_if {
        Some(s) => (s, vi.garp_extra_if_all),
        None => (
            g.vrrp_garp_extra_if.unwrap_or(0),
            vi.garp_extra_if_all || g.vrrp_garp_extra_if_all,
        ),
    };
    garp.extra_if = (extra_secs > 0).then(|| Duration::from_secs(u64::from(extra_secs)));
    garp.extra_if_all = extra_all;
    fsm.garp = garp;

    let mut rt = InstanceRt::new(fsm);
    rt.vips = same.iter().map(|a| vip(a)).collect();
    // VIPs of the other family cannot be advertised: keepalived moves them
    // to the excluded list.
    rt.evips = other
        .iter()
        .map(|a| vip(a))
        .chain(vi.virtual_ipaddress_excluded.iter().map(vip))
        .collect();
    rt.routes = vi.virtual_routes.iter().filter_map(route).collect();
    rt.rules = vi.virtual_rules.iter().filter_map(rule).collect();
    rt.unicast_peers = vi
        .unicast_peer
        .iter()
        .map(|p| PeerCfg {
            addr: p.addr,
            min_ttl: p.min_ttl,
            max_ttl: p.max_ttl,
        })
        .collect();
    rt.src_ip = vi.unicast_src_ip.or(vi.mcast_src_ip);
    rt.unicast_ttl = vi.unicast_ttl;
    rt.mcast_dst = vi.mcast_dst_ip.or(match family {
        Family::V4 => g.vrrp_mcast_group4,
        Family::V6 => g.vrrp_mcast_group6,
    });
    rt.check_unicast_src = vi.check_unicast_src
        || g.vrrp_check_unicast_src
        || vi
            .unicast_peer
            .iter()
            .any(|p| p.min_ttl.is_some() || p.max_ttl.is_some());
    if let Some(v) = &vi.use_vmac {
        let mut cfg = VmacCfg::default_for(vrid.get(), family);
        if let Some(n) = &v.ifname {
            cfg.ifname = n.clone();
        }
        if let Some(m) = v.mac.as_deref().and_then(|m| parse_mac(m, vrid.get())) {
            cfg.mac = m;
        }
        cfg.xmit_base = vi.vmac_xmit_base || !vi.unicast_peer.is_empty();
        rt.vmac = Some(cfg);
    }
    // accept is resolved by the parser (on for the owner, off in strict mode)
    rt.fw_drop = priority != 255 && !vi.accept.unwrap_or(true);
    // With a VMAC keepalived ignores the keyword: the VMAC has it anyway.
    rt.promote_secondaries = vi.promote_secondaries && rt.vmac.is_none();
    rt.track_interfaces = track
        .interface
        .iter()
        .map(|t| TrackIfCfg {
            name: t.name.clone(),
            weight: t.weight.unwrap_or(0),
            reverse: t.reverse,
        })
        .collect();
    rt.dont_track_primary = vi.dont_track_primary;
    Ok(rt)
}

/// Maps every instance; an instance that cannot run is reported and left out.
pub fn driver_cfg(
    cfg: &Config,
    log_detail: bool,
    dont_release: bool,
) -> (DriverCfg, Vec<MapError>) {
    let g = &cfg.global_defs;
    let mut errors = Vec::new();
    let mut instances = Vec::new();
    let mut names = Vec::new();
    for vi in &cfg.vrrp_instances {
        match instance(g, vi, &tracking(cfg, vi)) {
            Ok(rt) => {
                names.push(vi.name.clone());
                instances.push(rt);
            }
            Err(e) => errors.push(e),
        }
    }
    let sync_groups = cfg
        .sync_groups
        .iter()
        .map(|sg| SyncGroupCfg {
            name: sg.name.clone(),
            members: sg
                .group
                .iter()
                .filter_map(|(n, _)| names.iter().position(|x| x == n))
                .collect(),
        })
        .filter(|sg| !sg.members.is_empty())
        .collect();
    let mut d = DriverCfg::new(instances);
    d.sync_groups = sync_groups;
    d.log_detail = log_detail;
    d.release_on_stop = !dont_release;
    d.garp_interval = Duration::from_micros(g.vrrp_garp_interval.unwrap_or(0));
    d.gna_interval = Duration::from_micros(g.vrrp_gna_interval.unwrap_or(0));
    if let Some(IpAddr::V4(a)) = g.vrrp_mcast_group4 {
        d.mcast_group4 = a;
    }
    if let Some(IpAddr::V6(a)) = g.vrrp_mcast_group6 {
        d.mcast_group6 = a;
    }
    d.disable_local_igmp = g.disable_local_igmp;
    d.late_timer = Some(Duration::from_micros(u64::from(
        g.min_auto_priority_delay.unwrap_or(1_000_000),
    )));
    d.firewall = vrrp::nft::FwCfg {
        table: g.nftables.clone().unwrap_or_else(|| "keepalived".into()),
        priority: g.nftables_priority.unwrap_or(-1),
        counters: g.nftables_counters,
        ifindex: g.nftables_ifindex,
    };
    (d, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        let f =
            std::env::temp_dir().join(format!("kv-map-{}-{}.conf", std::process::id(), text.len()));
        std::fs::write(&f, text).unwrap();
        let p = kaconf::parse_file(f.to_str().unwrap(), &kaconf::Options::default());
        std::fs::remove_file(&f).ok();
        p.config
    }

    #[test]
    fn sync_group_tracking_reaches_every_member() {
        let c = parse(
            "vrrp_script chk {\n script /bin/false\n interval 1\n}\n\
             vrrp_sync_group G {\n group {\n VI_1\n VI_2\n }\n track_script {\n chk\n }\n \
             track_interface {\n eth9\n }\n}\n\
             vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n \
             track_interface {\n eth9 weight 10\n }\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n\
             vrrp_instance VI_2 {\n interface eth0\n virtual_router_id 2\n \
             virtual_ipaddress {\n 10.0.0.2\n }\n}\n",
        );
        for v in &c.vrrp_instances {
            let t = tracking(&c, v);
            assert_eq!(t.script.len(), 1, "{}", v.name);
            assert_eq!(t.script[0].name, "chk");
            // VI_1's own weighted entry was zeroed (SYNC group) and stays 0.
            assert_eq!(t.interface.len(), 1, "{}", v.name);
            assert_eq!(t.interface[0].weight.unwrap_or(0), 0);
        }
        let (d, errs) = driver_cfg(&c, false, false);
        assert!(errs.is_empty(), "{errs:?}");
        assert!(d.instances.iter().all(|i| i.track_interfaces.len() == 1));
    }

    #[test]
    fn defaults_and_options() {
        let c = parse(
            "vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 51\n priority 150\n advert_int 1\n authentication {\n auth_type PASS\n auth_pass secret99\n }\n virtual_ipaddress {\n 10.0.0.100/24 dev eth1 brd + label eth1:vip scope host
 }
 virtual_ipaddress_excluded {
 fd00::1/64
 }
 unicast_peer {\n 10.0.0.2 min_ttl 250\n }\n virtual_routes {\n 10.9.0.0/16 via 10.0.0.254 table 100\n }\n virtual_rules {\n from 10.0.0.100 table 100 preference 100\n }\n}\n",
        );
        let (d, errs) = driver_cfg(&c, false, false);
        assert!(errs.is_empty(), "{errs:?}");
        let i = &d.instances[0];
        assert_eq!(i.fsm.version, Version::V2);
        assert_eq!(i.fsm.priority, Priority(150));
        assert_eq!(i.fsm.auth, Auth::pass(b"secret99"));
        assert_eq!(i.fsm.state, StartState::Master);
        let v = &i.vips[0];
        assert_eq!(v.dev.as_deref(), Some("eth1"));
        assert_eq!(v.scope, 254);
        assert_eq!(v.broadcast, Some("10.0.0.255".parse().unwrap()));
        assert_eq!(v.label.as_deref(), Some("eth1:vip"));
        assert_eq!(i.evips.len(), 1);
        assert!(i.evips[0].addr.is_ipv6());
        assert_eq!(i.unicast_peers[0].min_ttl, Some(250));
        assert!(i.check_unicast_src);
        assert_eq!(i.routes[0].table, 100);
        assert_eq!(i.rules[0].action, RuleAction::Table(100));
        assert_eq!(i.rules[0].priority, Some(100));
    }

    #[test]
    fn v3_interval_and_v6_version() {
        let c = parse(
            "vrrp_instance VI_6 {\n interface eth0\n virtual_router_id 5\n advert_int 0.25\n virtual_ipaddress {\n fd00::5/64\n }\n use_vmac\n}\n",
        );
        let (d, _) = driver_cfg(&c, false, false);
        let i = &d.instances[0];
        assert_eq!(i.fsm.version, Version::V3);
        assert_eq!(i.fsm.advert_int, Centisecs(25));
        assert_eq!(i.vmac.as_ref().unwrap().mac, [0, 0, 0x5e, 0, 2, 5]);
        assert_eq!(i.vmac.as_ref().unwrap().ifname, "vrrp.5");
    }

    #[test]
    fn promote_secondaries_not_with_vmac() {
        let inst = |name: &str, extra: &str| {
            format!(
                "vrrp_instance {name} {{\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {{\n 10.0.0.5/24\n }}\n promote_secondaries\n{extra}}}\n"
            )
        };
        let c = parse(&(inst("A", "") + &inst("B", " use_vmac\n")));
        let (d, _) = driver_cfg(&c, false, false);
        assert!(d.instances[0].promote_secondaries);
        assert!(!d.instances[1].promote_secondaries);
    }

    #[test]
    fn garp_extra_if_own_value_or_the_global_one() {
        let inst = |name: &str, vrid: u8, extra: &str| {
            format!(
                "vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n virtual_ipaddress {{\n 10.0.0.{vrid}/24\n }}\n{extra}}}\n"
            )
        };
        let extra = |global: &str, insts: &[(&str, u8, &str)]| {
            let text = format!("global_defs {{\n{global}}}\n")
                + &insts
                    .iter()
                    .map(|(n, v, e)| inst(n, *v, e))
                    .collect::<String>();
            let (d, _) = driver_cfg(&parse(&text), false, false);
            d.instances
                .iter()
                .map(|i| {
                    (
                        i.fsm.garp.extra_if.map(|d| d.as_secs()),
                        i.fsm.garp.extra_if_all,
                    )
                })
                .collect::<Vec<_>>()
        };
        // Nothing configured: off.
        assert_eq!(extra("", &[("A", 1, "")]), vec![(None, false)]);
        // The global value and its `all` reach instances without their own;
        // an instance's 0 turns it off; its own value keeps its own `all`.
        assert_eq!(
            extra(
                " vrrp_garp_extra_if all 7\n",
                &[
                    ("A", 1, ""),
                    ("B", 2, " garp_extra_if 0\n"),
                    ("C", 3, " garp_extra_if 3\n"),
                    ("D", 4, " garp_extra_if all 4\n"),
                ]
            ),
            vec![
                (Some(7), true),
                (None, false),
                (Some(3), false),
                (Some(4), true)
            ]
        );
        // A rejected instance line keeps its `all` and inherits the value;
        // the deprecated spellings work the same.
        assert_eq!(
            extra(
                " vrrp_vmac_garp_intvl 9\n",
                &[
                    ("A", 1, " garp_extra_if all\n"),
                    ("B", 2, " vmac_garp_intvl 2\n")
                ]
            ),
            vec![(Some(9), true), (Some(2), false)]
        );
    }
}
