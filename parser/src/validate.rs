//! Post-parse checks and defaults, applied as keepalived applies them once
//! the whole file is read (vrrp.c `vrrp_complete_init`, check_data.c
//! `validate_check_config`). keepalived prints these without a line number;
//! we keep the location of the item concerned.

use crate::diag::{Class, Diags};
use crate::model::*;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// `[IP]:proto:port`, keepalived's `inet_sockaddrtotrio`.
pub fn trio(addr: IpAddr, proto: Option<Protocol>, port: u16) -> String {
    let p = match proto {
        Some(Protocol::Tcp) => "tcp",
        Some(Protocol::Udp) => "udp",
        Some(Protocol::Sctp) => "sctp",
        None => "none",
    };
    format!("[{addr}]:{p}:{port}")
}

/// keepalived's `FMT_VS`.
pub fn fmt_vs(vs: &VirtualServer) -> String {
    match &vs.key {
        VsKey::Group { name } => format!("[{name}]:0"),
        VsKey::Fwmark { mark } => format!("FWM {mark}"),
        VsKey::Inet { addr, port } => trio(*addr, vs.protocol, *port),
    }
}

pub fn validate(cfg: &mut Config, d: &mut Diags) {
    validate_vrrp(cfg, d);
    validate_check(cfg, d);
}

fn validate_vrrp(cfg: &mut Config, d: &mut Diags) {
    let g = &cfg.global_defs;
    // Track scripts/files referenced by instances must exist. keepalived
    // reports these at the referencing line while parsing.
    let scripts: Vec<String> = cfg.vrrp_scripts.iter().map(|s| s.name.clone()).collect();
    let files: Vec<String> = cfg.track_files.iter().map(|s| s.name.clone()).collect();
    let mut seen_vrid: HashMap<(String, u8, bool, bool), String> = HashMap::new();
    for v in &mut cfg.vrrp_instances {
        let name = v.name.clone();
        v.track.script.retain(|t| {
            let ok = scripts.contains(&t.name);
            if !ok {
                d.at(
                    t.loc,
                    Class::GeneralError,
                    format!("({name}) track script {} not found, ignoring...", t.name),
                );
            }
            ok
        });
        v.track.file.retain(|t| {
            let ok = files.contains(&t.name);
            if !ok {
                d.at(
                    t.loc,
                    Class::GeneralError,
                    format!("({name}) track file {} not found, ignoring...", t.name),
                );
            }
            ok
        });
        if v.virtual_router_id.is_none() {
            d.check(
                Some(v.loc),
                Class::Fatal,
                format!("({name}) the virtual router id must be set"),
            );
        }
        if v.interface.is_none() && v.unicast_peer.is_empty() {
            d.check(
                Some(v.loc),
                Class::Fatal,
                format!("({name}) Unknown interface!"),
            );
        }
        let ipv6 = v
            .virtual_ipaddress
            .first()
            .is_some_and(|a| a.addr.is_ipv6())
            || v.native_ipv6;
        let strict = v.strict_mode.unwrap_or(g.vrrp_strict);
        let mut version = v.version.or(g.vrrp_version).unwrap_or(2);
        if ipv6 && version == 2 {
            if v.version == Some(2) {
                d.check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) cannot use IPv6 with VRRP version 2; setting version 3"),
                );
            }
            version = 3;
        }
        v.version = Some(version);
        if let Some(a) = &v.authentication {
            if version == 3 {
                d.check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) VRRP version 3 does not support authentication. Ignoring."),
                );
                v.authentication = None;
            } else if strict {
                d.check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) Strict mode does not support authentication. Ignoring."),
                );
                v.authentication = None;
            } else if a.auth_type == Some(AuthType::Ah)
                && v.state == Some(VrrpState::Master)
                && v.priority != Some(255)
            {
                d.check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) Initial state master is incompatible with AH authentication - clearing"),
                );
                v.state = Some(VrrpState::Backup);
            }
        }
        // advert_int per version, as keepalived checks it (vrrp.c): v2 whole
        // seconds below 256, v3 centiseconds below 40.96 s; others rounded.
        if let Some(ai) = v.advert_int {
            const HZ: u64 = 1_000_000;
            const CENTI: u64 = 10_000;
            let secs = |us: u64| us as f64 / HZ as f64;
            let fixed = if version == 2 {
                if ai >= 256 * HZ {
                    d.check(
                        Some(v.loc),
                        Class::GeneralError,
                        format!("({name}) VRRPv2 advertisement interval {:.2}s is out of range. Must be less than 256s. Setting to 255s", secs(ai)),
                    );
                    255 * HZ
                } else if ai % HZ != 0 {
                    d.check(
                        Some(v.loc),
                        Class::GeneralError,
                        format!("({name}) VRRPv2 advertisement interval {:.6}s must be an integer. rounding", secs(ai)),
                    );
                    let r = ai + HZ / 2;
                    (r - r % HZ).max(HZ)
                } else {
                    ai
                }
            } else if ai >= 4096 * CENTI {
                d.check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) VRRPv3 advertisement interval {:.2}s is out of range. Must be less than 40.96s. Setting to 40.95s", secs(ai)),
                );
                4095 * CENTI
            } else if ai % CENTI != 0 {
                d.check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) VRRPv3 advertisement interval {:.6}s must be in units of 10ms - rounding", secs(ai)),
                );
                let r = ai + CENTI / 2;
                (r - r % CENTI).max(CENTI)
            } else {
                ai
            };
            v.advert_int = Some(fixed);
        }
        if v.virtual_ipaddress.is_empty() && !v.no_virtual_ipaddress {
            if strict || version == 3 {
                d.check(
                    Some(v.loc),
                    Class::Fatal,
                    format!("({name}) No VIP specified; at least one is required"),
                );
            } else {
                d.check(
                    Some(v.loc),
                    Class::Warning,
                    format!("({name}) No VIP specified; at least one is sensible"),
                );
            }
        }
        if let (Some(vrid), Some((ifname, _))) = (v.virtual_router_id, v.interface.as_ref()) {
            let key = (ifname.clone(), vrid, ipv6, !v.unicast_peer.is_empty());
            if let Some(other) = seen_vrid.get(&key) {
                d.check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) duplicate VRID conflict with {other} VRID {vrid}"),
                );
            } else {
                seen_vrid.insert(key, name.clone());
            }
        }
        if v.unicast_configured && v.unicast_peer.is_empty() && !v.unicast_fault_no_peer {
            d.check(
                Some(v.loc),
                Class::Deprecated,
                format!("({name}) A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated - please update your configuration."),
            );
        }
        // keepalived's initial state: as configured, else MASTER for the
        // address owner (priority 255, or no priority with state MASTER).
        let prio = v.priority.unwrap_or(if v.state == Some(VrrpState::Master) {
            255
        } else {
            100
        });
        let master = v.state.map_or(prio == 255, |s| s == VrrpState::Master);
        if prio == 255 && v.nopreempt {
            d.check(
                Some(v.loc),
                Class::GeneralError,
                format!(
                    "({name}) nopreempt is incompatible with priority 255. resetting nopreempt"
                ),
            );
            v.nopreempt = false;
        }
        if master {
            if v.nopreempt {
                d.check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) Warning - nopreempt will not work with initial state MASTER - clearing"),
                );
                v.nopreempt = false;
            }
            if v.preempt_delay.is_some_and(|t| t > 0) {
                d.check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) Warning - preempt delay will not work with initial state MASTER - clearing"),
                );
                v.preempt_delay = None;
            }
        }
        if v.preempt_delay.is_some_and(|t| t > 0) {
            if strict {
                d.check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) preempt_delay is incompatible with strict mode - resetting"),
                );
                v.preempt_delay = None;
            }
            if v.nopreempt {
                d.check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!(
                        "({name}) preempt_delay is incompatible with nopreempt mode - resetting"
                    ),
                );
                v.preempt_delay = None;
            }
        }
        if v.priority.is_none() {
            // keepalived: `state MASTER` without a priority means the address owner.
            v.priority = Some(if v.state == Some(VrrpState::Master) {
                255
            } else {
                100
            });
        }
    }
    let names: Vec<String> = cfg.vrrp_instances.iter().map(|i| i.name.clone()).collect();
    let mut member_of: HashMap<String, String> = HashMap::new();
    for gr in &mut cfg.sync_groups {
        let gname = gr.name.clone();
        // A group that names no instance at all is dropped without a word
        // (keepalived: "can't handle no members of the group").
        let named = !gr.group.is_empty();
        gr.group.retain(|(m, loc)| {
            if !names.contains(m) {
                d.at(*loc, Class::GeneralError, format!("Virtual router {m} specified in sync group {gname} doesn't exist - ignoring"));
                return false;
            }
            if member_of.contains_key(m) {
                d.at(*loc, Class::GeneralError, format!("Virtual router {m} cannot exist in more than one sync group; ignoring {gname}"));
                return false;
            }
            member_of.insert(m.clone(), gname.clone());
            true
        });
        if gr.group.is_empty() && named {
            d.check(
                Some(gr.loc),
                Class::GeneralError,
                format!("Sync group {gname}, no matching virtual router found in group declaration - removing"),
            );
        } else if gr.group.len() == 1 {
            d.check(
                Some(gr.loc),
                Class::GeneralError,
                format!("Sync group {gname} has only 1 virtual router(s) - this probably isn't what you want"),
            );
        }
    }
    cfg.sync_groups.retain(|g| !g.group.is_empty());
    for v in &mut cfg.vrrp_instances {
        v.sync_group = member_of.get(&v.name).cloned();
    }
}

fn validate_check(cfg: &mut Config, d: &mut Diags) {
    // keepalived drops a group it can't use when the group's block ends, so
    // virtual servers naming it are then "specified but not configured".
    cfg.virtual_server_groups.retain(|g| {
        if g.entries.is_empty() {
            d.check(
                Some(g.loc),
                Class::GeneralError,
                format!("virtual server group {} has no entries - removing", g.name),
            );
            return false;
        }
        let (mut v4, mut v6, mut fwmark_no_family) = (false, false, false);
        for e in &g.entries {
            match e {
                VsgEntry::Range { first, .. } => {
                    v4 |= first.is_ipv4();
                    v6 |= first.is_ipv6();
                }
                VsgEntry::Fwmark { family, .. } => match family {
                    Some(Family::Inet) => v4 = true,
                    Some(Family::Inet6) => v6 = true,
                    None => fwmark_no_family = true,
                },
            }
        }
        if v4 && v6 && fwmark_no_family {
            d.check(
                Some(g.loc),
                Class::GeneralError,
                format!(
                    "virtual server group {} cannot have IPv4, IPv6 and fwmark without family - removing",
                    g.name
                ),
            );
            return false;
        }
        true
    });
    let groups: Vec<(String, bool)> = cfg
        .virtual_server_groups
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                g.entries
                    .iter()
                    .any(|e| matches!(e, VsgEntry::Range { .. })),
            )
        })
        .collect();
    let groups_with_fwmark: Vec<&str> = cfg
        .virtual_server_groups
        .iter()
        .filter(|g| {
            g.entries
                .iter()
                .any(|e| matches!(e, VsgEntry::Fwmark { .. }))
        })
        .map(|g| g.name.as_str())
        .collect();
    // In place: a copy of 20,000 virtual servers would double the peak memory.
    cfg.virtual_servers.retain_mut(|vs| {
        let loc = vs.loc;
        // 2.2.7 ignores such a server even when a sorry_server is configured
        if vs.real_servers.is_empty() {
            d.check(
                Some(loc),
                Class::GeneralError,
                format!(
                    "Virtual server {} has no real servers - ignoring",
                    fmt_vs(vs)
                ),
            );
            return false;
        }
        let by_addr = match &vs.key {
            VsKey::Inet { .. } => true,
            VsKey::Fwmark { .. } => false,
            VsKey::Group { name } => match groups.iter().find(|(n, _)| n == name) {
                Some((_, has_range)) => *has_range,
                None => {
                    // keepalived only logs this when the checker starts: not a config error
                    d.note(loc, format!("Virtual server group {name} specified but not configured - ignoring virtual server {}", fmt_vs(vs)));
                    return false;
                }
            },
        };
        if by_addr {
            if vs.protocol.is_none() {
                d.check(
                    Some(loc),
                    Class::GeneralError,
                    format!(
                        "Virtual server {}: no protocol set - defaulting to UDP",
                        fmt_vs(vs)
                    ),
                );
                vs.protocol = Some(Protocol::Udp);
            }
            if vs.ops && vs.protocol != Some(Protocol::Udp) {
                d.check(
                    Some(loc),
                    Class::GeneralError,
                    format!(
                        "Virtual server {}: one packet scheduling requires UDP - resetting",
                        fmt_vs(vs)
                    ),
                );
                vs.ops = false;
            }
        } else if matches!(vs.key, VsKey::Fwmark { .. }) && vs.protocol.is_some() {
            d.check(Some(loc), Class::Warning, format!("Warning: Virtual server {}: protocol specified for fwmark - protocol will be ignored", fmt_vs(vs)));
            vs.protocol = None;
        }
        if let (VsKey::Inet { port: 0, .. }, None) = (&vs.key, vs.persistence_timeout) {
            {
                d.check(
                    Some(loc),
                    Class::GeneralError,
                    format!(
                        "Virtual server {}: zero port only valid for persistent services - setting",
                        fmt_vs(vs)
                    ),
                );
                vs.persistence_timeout = Some(360);
            }
        }
        if vs.lb_algo.is_none() {
            d.check(
                Some(loc),
                Class::GeneralError,
                format!(
                    "Virtual server {}: no scheduler set, setting default 'wlc'",
                    fmt_vs(vs)
                ),
            );
            vs.lb_algo = Some("wlc".into());
        }
        if vs.lvs_method.is_none() {
            let all_rs = vs.real_servers.iter().all(|r| r.opts().lvs_method.is_some())
                && !vs.real_servers.is_empty();
            if !all_rs {
                d.check(
                    Some(loc),
                    Class::GeneralError,
                    format!(
                        "Virtual server {}: no forwarding method set, setting default NAT",
                        fmt_vs(vs)
                    ),
                );
            }
            vs.lvs_method = Some(LvsMethod {
                kind: LbKind::Nat,
                tunnel: None,
            });
        }
        let vs_port = match vs.key {
            VsKey::Inet { port, .. } => Some(port),
            _ => None,
        };
        let vs_kind = vs.lvs_method.as_ref().map(|m| m.kind);
        let vs_name = fmt_vs(vs);
        let vs_ip = vs_addr(&vs.key);
        let proto = vs.protocol;
        let mut seen = Seen::default();
        vs.real_servers.retain_mut(|rs| {
            let kind = rs.opts().lvs_method.as_ref().map(|m| m.kind).or(vs_kind);
            match vs_port {
                Some(vp) => {
                    if rs.port == 0 {
                        rs.port = vp;
                    } else if rs.port != vp && matches!(kind, Some(LbKind::Dr | LbKind::Tun)) {
                        d.check(
                            Some(rs.loc),
                            Class::GeneralError,
                            format!(
                                "WARNING - virtual server {vs_name} and real server {} ports don't match - resetting",
                                trio(rs.addr, proto, rs.port)
                            ),
                        );
                        rs.port = vp;
                    }
                }
                // a fwmark service has no port to forward to unless NAT;
                // group members keep theirs (keepalived only checks them)
                None if matches!(vs.key, VsKey::Fwmark { .. }) => {
                    if rs.port != 0 && matches!(kind, Some(LbKind::Dr | LbKind::Tun)) {
                        d.check(
                            Some(rs.loc),
                            Class::GeneralError,
                            format!(
                                "WARNING - fwmark virtual server {vs_name}, real server {} has port specified - clearing",
                                trio(rs.addr, proto, rs.port)
                            ),
                        );
                        rs.port = 0;
                    }
                }
                None => {
                    let fwmark_group = matches!(&vs.key, VsKey::Group { name } if groups_with_fwmark.contains(&name.as_str()));
                    if fwmark_group
                        && rs.port != 0
                        && matches!(kind, Some(LbKind::Dr | LbKind::Tun))
                    {
                        d.check(
                            None,
                            Class::GeneralError,
                            format!(
                                "WARNING - fwmark virtual server {vs_name}, real server {} has port specified - port will be ignored",
                                trio(rs.addr, proto, rs.port)
                            ),
                        );
                    }
                }
            }
            let family_differs = vs_ip.is_some_and(|a| a.is_ipv4() != rs.addr.is_ipv4());
            if family_differs && kind != Some(LbKind::Tun) {
                d.check(
                    Some(rs.loc),
                    Class::GeneralError,
                    format!(
                        "Virtual server {vs_name} and real server {} address families don't match - skipping",
                        rs.addr
                    ),
                );
                return false;
            }
            if !seen.insert(rs.addr, rs.port) {
                d.check(
                    Some(rs.loc),
                    Class::GeneralError,
                    format!(
                        "VS {vs_name}: real server {} is duplicated - removing second rs",
                        trio(rs.addr, proto, rs.port)
                    ),
                );
                return false;
            }
            true
        });
        // A quorum above the total weight could never be reached.
        let weight_sum: u64 = vs
            .real_servers
            .iter()
            .map(|r| u64::from(r.weight.or(vs.weight).unwrap_or(1)))
            .sum();
        let quorum = u64::from(vs.quorum.unwrap_or(1));
        if quorum > weight_sum {
            d.check(
                Some(loc),
                Class::GeneralError,
                format!(
                    "Warning - quorum {quorum} for {vs_name} exceeds total weight of real servers {weight_sum}, reducing quorum to {weight_sum}"
                ),
            );
            vs.quorum = Some(weight_sum as u32);
        }
        let q = vs.quorum.unwrap_or(1);
        let h = vs.hysteresis.unwrap_or(0);
        if h >= q {
            // keepalived's arithmetic is unsigned: quorum 0 gives 4294967295
            let fixed = q.wrapping_sub(1);
            d.check(
                Some(loc),
                Class::GeneralError,
                format!(
                    "Virtual server {vs_name}: hysteresis {h} >= quorum {q}; setting hysteresis to {fixed}"
                ),
            );
            vs.hysteresis = Some(fixed);
        }
        if let (Some((_, sp)), Some(vp)) = (vs.sorry_server.as_mut(), vs_port) {
            if *sp == 0 {
                *sp = vp;
            } else if *sp != vp && matches!(vs_kind, Some(LbKind::Dr | LbKind::Tun)) {
                d.check(Some(loc), Class::GeneralError, format!("WARNING - virtual server {vs_name} and sorry server ports don't match - resetting"));
                *sp = vp;
            }
        }
        true
    });
}

/// The real servers of one virtual server seen so far: a short list for
/// the usual handful, a hash set once there are many (a virtual server may
/// have thousands).
#[derive(Default)]
struct Seen {
    list: Vec<(IpAddr, u16)>,
    set: HashSet<(IpAddr, u16)>,
}

impl Seen {
    /// False if it was seen already.
    fn insert(&mut self, addr: IpAddr, port: u16) -> bool {
        const SMALL: usize = 32;
        if self.set.is_empty() {
            if self.list.contains(&(addr, port)) {
                return false;
            }
            if self.list.len() < SMALL {
                self.list.push((addr, port));
                return true;
            }
            self.set.extend(self.list.drain(..));
        }
        self.set.insert((addr, port))
    }
}

fn vs_addr(key: &VsKey) -> Option<IpAddr> {
    match key {
        VsKey::Inet { addr, .. } => Some(*addr),
        _ => None,
    }
}
