//! Post-parse checks and defaults, applied as keepalived applies them once
//! the whole file is read (vrrp.c `vrrp_complete_init`, check_data.c
//! `validate_check_config`). keepalived prints these without a line number;
//! we keep the location of the item concerned.

use crate::diag::{Class, Diags, Scope};
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
    let was = d.scope;
    d.scope = Scope::Vrrp;
    validate_vrrp(cfg, d);
    d.scope = Scope::Check;
    validate_check(cfg, d);
    d.scope = was;
}

fn validate_vrrp(cfg: &mut Config, d: &mut Diags) {
    // Track scripts/files referenced by instances must exist. keepalived
    // reports these at the referencing line while parsing.
    let scripts: Vec<String> = cfg.vrrp_scripts.iter().map(|s| s.name.clone()).collect();
    let files: Vec<String> = cfg.track_files.iter().map(|s| s.name.clone()).collect();
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
    }
    // keepalived's minimal configuration check: the first instance that
    // fails it ends the whole VRRP validation (no further messages).
    let mut stop = false;
    for v in &cfg.vrrp_instances {
        let name = &v.name;
        let missing = if v.virtual_router_id.is_none() {
            Some(format!("({name}) the virtual router id must be set"))
        } else if v.interface.is_none() {
            // keepalived 2.2.7 checks this before it turns `unicast_peer`
            // into its unicast flag (vrrp_complete_init runs chk_min_cfg
            // first), so an instance without `interface` is refused even
            // with unicast peers, whatever its man page says.
            Some(format!("({name}) Unknown interface!"))
        } else {
            None
        };
        if let Some(msg) = missing {
            d.check(Some(v.loc), Class::GeneralError, msg);
            stop = true;
            break;
        }
    }
    // After that, the model still gets its defaults, but keepalived says
    // nothing more.
    let mut muted = Diags::default();
    let mut out = Out {
        d,
        muted: &mut muted,
        stop,
    };
    // Sync groups are set up before the instances are completed.
    let member_of = sync_groups(cfg, out.get());
    let weights = Weights::of(cfg);
    let g = &cfg.global_defs;
    let mut vrids = Vec::new();
    for v in &mut cfg.vrrp_instances {
        let name = v.name.clone();
        v.sync_group = member_of.get(&name).cloned();
        let ipv6 = v
            .virtual_ipaddress
            .first()
            .is_some_and(|a| a.addr.is_ipv6())
            || v.native_ipv6;
        let strict = v.strict_mode.unwrap_or(g.vrrp_strict);
        let mut version = v.version.or(g.vrrp_version).unwrap_or(2);
        if ipv6 && version == 2 {
            if v.version == Some(2) {
                out.get().check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) cannot use IPv6 with VRRP version 2; setting version 3"),
                );
            }
            version = 3;
        }
        v.version = Some(version);
        // strict mode: the initial state follows from being the address owner
        if strict && let Some(st) = v.state {
            let owner = v
                .priority
                .unwrap_or(if st == VrrpState::Master { 255 } else { 100 })
                == 255;
            if (st == VrrpState::Master) != owner {
                out.get().check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) State MASTER must match being address owner"),
                );
                v.state = Some(if owner {
                    VrrpState::Master
                } else {
                    VrrpState::Backup
                });
            }
        }
        // keepalived's order; a block without auth_type means no authentication.
        if let Some(a) = v.authentication.as_ref().filter(|a| a.auth_type.is_some()) {
            let owner = v.priority.unwrap_or(if v.state == Some(VrrpState::Master) {
                255
            } else {
                100
            }) == 255;
            let master = v.state.map_or(owner, |s| s == VrrpState::Master);
            let ah = a.auth_type == Some(AuthType::Ah);
            let drop = if strict {
                Some("Strict mode does not support authentication. Ignoring.")
            } else if version == 3 {
                Some("VRRP version 3 does not support authentication. Ignoring.")
            } else if a.auth_pass.as_deref().is_none_or(str::is_empty) {
                Some("Authentication specified but no password given. Ignoring")
            } else if ipv6 && ah {
                Some("Cannot use AH authentication with IPv6. ignoring")
            } else {
                None
            };
            if let Some(m) = drop {
                out.get()
                    .check(Some(v.loc), Class::GeneralError, format!("({name}) {m}"));
                v.authentication = None;
            } else if ah && master && !owner {
                // An AH master must first learn the sequence number in use.
                out.get().check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) Initial state master is incompatible with AH authentication - clearing"),
                );
                v.state = Some(VrrpState::Backup);
            }
        }
        if v.virtual_ipaddress.is_empty() && !v.no_virtual_ipaddress {
            if strict || version == 3 {
                out.get().check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) No VIP specified; at least one is required"),
                );
                // keepalived stops completing instances here.
                out.stop = true;
            } else {
                // keepalived 2.2.7 makes this check twice while completing
                // the instance, and says it twice
                for class in [Class::GeneralError, Class::Warning] {
                    out.get().check(
                        Some(v.loc),
                        class,
                        format!("({name}) No VIP specified; at least one is sensible"),
                    );
                }
            }
        }
        if let Some(vrid) = v.virtual_router_id {
            let mcast = v.mcast_dst_ip.or(if ipv6 {
                g.vrrp_mcast_group6
            } else {
                g.vrrp_mcast_group4
            });
            vrids.push(VridUse {
                name: name.clone(),
                loc: v.loc,
                vrid,
                ipv6,
                ifname: v.interface.as_ref().map(|(i, _)| i.clone()),
                unicast: !v.unicast_peer.is_empty(),
                mcast,
                src: v.unicast_src_ip,
                peers: v.unicast_peer.iter().map(|p| p.addr).collect(),
            });
        }
        if v.unicast_configured && v.unicast_peer.is_empty() && !v.unicast_fault_no_peer {
            out.get().check(
                Some(v.loc),
                Class::Deprecated,
                format!("({name}) A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated - please update your configuration."),
            );
        }
        if strict && let Some(vm) = v.use_vmac.as_mut().filter(|vm| vm.mac.is_some()) {
            out.get().check(
                Some(v.loc),
                Class::GeneralError,
                format!("({name}): cannot specify MAC address with strict mode - clearing"),
            );
            vm.mac = None;
        }
        if ipv6
            && v.unicast_peer.is_empty()
            && let Some(IpAddr::V6(first)) = v.virtual_ipaddress.first().map(|a| a.addr)
            && (first.segments()[0] & 0xffc0) != 0xfe80
        {
            if strict {
                out.get().check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) the first IPv6 VIP address must be link local"),
                );
            } else {
                // only logged, by the VRRP process each time it loads
                out.get().log(
                    crate::Logger::Vrrp,
                    format!("({name}) the first IPv6 VIP address should be link local"),
                );
            }
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
            out.get().check(
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
                out.get().check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) Warning - nopreempt will not work with initial state MASTER - clearing"),
                );
                v.nopreempt = false;
            }
            if v.preempt_delay.is_some_and(|t| t > 0) {
                out.get().check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) Warning - preempt delay will not work with initial state MASTER - clearing"),
                );
                v.preempt_delay = None;
            }
        }
        if v.preempt_delay.is_some_and(|t| t > 0) {
            if strict {
                out.get().check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) preempt_delay is incompatible with strict mode - resetting"),
                );
                v.preempt_delay = None;
            }
            if v.nopreempt {
                out.get().check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!(
                        "({name}) preempt_delay is incompatible with nopreempt mode - resetting"
                    ),
                );
                v.preempt_delay = None;
            }
        }
        if strict
            && v.down_timer_adverts
                .or(g.vrrp_down_timer_adverts)
                .is_some_and(|a| a != 3)
        {
            out.get().check(
                Some(v.loc),
                Class::GeneralError,
                format!("({name}) down_timer_adverts is incompatible with strict mode - resetting"),
            );
            v.down_timer_adverts = Some(3);
        }
        if v.accept == Some(true) && prio != 255 && strict && version == 2 {
            out.get().check(
                Some(v.loc),
                Class::GeneralError,
                format!("({name}) warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting"),
            );
            v.accept = Some(false);
        }
        // resolved here so that every reader (the dumps) agrees: accept is
        // on for the address owner, else off in strict mode
        v.accept = Some(v.accept.unwrap_or(prio == 255 || !strict));
        v.strict_mode = Some(strict);
        if !v.unicast_peer.is_empty() && v.mcast_dst_ip.is_some() {
            out.get().check(
                Some(v.loc),
                Class::GeneralError,
                format!("({name}) multicast destination specified with unicast - ignoring"),
            );
            v.mcast_dst_ip = None;
        }
        if strict {
            strict_adverts(v, out.get());
        }
        // advert_int per version, as keepalived checks it (vrrp.c): v2 whole
        // seconds below 256, v3 centiseconds below 40.96 s; others rounded.
        if let Some(ai) = v.advert_int {
            const HZ: u64 = 1_000_000;
            const CENTI: u64 = 10_000;
            let secs = |us: u64| us as f64 / HZ as f64;
            let fixed = if version == 2 {
                if ai >= 256 * HZ {
                    out.get().check(
                        Some(v.loc),
                        Class::GeneralError,
                        format!("({name}) VRRPv2 advertisement interval {:.2}s is out of range. Must be less than 256s. Setting to 255s", secs(ai)),
                    );
                    255 * HZ
                } else if ai % HZ != 0 {
                    out.get().check(
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
                out.get().check(
                    Some(v.loc),
                    Class::GeneralError,
                    format!("({name}) VRRPv3 advertisement interval {:.2}s is out of range. Must be less than 40.96s. Setting to 40.95s", secs(ai)),
                );
                4095 * CENTI
            } else if ai % CENTI != 0 {
                out.get().check(
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
        vmac_flags(v, strict, out.get());
        if v.priority.is_none() {
            // keepalived: `state MASTER` without a priority means the address owner.
            v.priority = Some(if v.state == Some(VrrpState::Master) {
                255
            } else {
                100
            });
        }
        instance_tracking(v, &weights, out.get());
    }
    group_tracking(cfg, &weights, out.get());
    vrid_conflicts(&vrids, out.get());
    // keepalived drops the scripts nothing tracks, once it runs (not under
    // -t), with a config error of its own that names no line
    let tracked = |name: &str| {
        cfg.vrrp_instances
            .iter()
            .map(|v| &v.track)
            .chain(cfg.sync_groups.iter().map(|g| &g.track))
            .any(|t| t.script.iter().any(|s| s.name == name))
    };
    for s in &cfg.vrrp_scripts {
        if !tracked(&s.name) {
            out.get().log(
                crate::Logger::Vrrp,
                format!("Warning - script {} is not used", s.name),
            );
        }
    }
}

/// Strict mode's advert and GARP rules: no GARPs after a lower priority
/// advert, no adverts in answer to one, none to a higher priority master.
/// An instance's own contrary setting is reset with keepalived's message;
/// unset, they take the strict values whatever the global ones say.
fn strict_adverts(v: &mut VrrpInstance, d: &mut Diags) {
    let name = &v.name;
    let mut reset =
        |what: &str| d.check(Some(v.loc), Class::GeneralError, format!("({name}) {what}"));
    if v.garp_lower_prio_repeat.is_some_and(|r| r > 0) {
        reset("Strict mode requires no repeat garps. resetting");
    }
    if v.garp_lower_prio_delay.is_some_and(|t| t > 0) {
        reset("Strict mode requires no repeat garp delay. resetting");
    }
    if v.lower_prio_no_advert == Some(false) {
        reset("Strict mode requires no lower priority advert. resetting");
    }
    if v.higher_prio_send_advert == Some(true) {
        reset("strict mode requires higher_prio_send_advert to be clear. resetting");
    }
    v.garp_lower_prio_repeat = Some(0);
    v.garp_lower_prio_delay = Some(0);
    v.lower_prio_no_advert = Some(true);
    v.higher_prio_send_advert = Some(false);
}

/// keepalived's VMAC flag rules: `vmac_xmit_base` only with a VMAC and not
/// in strict mode; a VMAC promotes secondaries anyway.
fn vmac_flags(v: &mut VrrpInstance, strict: bool, d: &mut Diags) {
    let name = v.name.clone();
    if v.use_vmac.is_some() {
        if strict && v.vmac_xmit_base {
            d.check(
                Some(v.loc),
                Class::GeneralError,
                format!("({name}) xmit_base is incompatible with strict mode - resetting"),
            );
            v.vmac_xmit_base = false;
        }
        if v.promote_secondaries {
            d.check(
                Some(v.loc),
                Class::GeneralError,
                format!("({name}) promote_secondaries is automatically set for vmacs - ignoring"),
            );
            v.promote_secondaries = false;
        }
    } else if v.vmac_xmit_base {
        d.check(
            Some(v.loc),
            Class::GeneralError,
            format!("({name}) vmac_xmit_base is only valid with a vmac"),
        );
        v.vmac_xmit_base = false;
    }
}

/// The weights tracking needs to know: each vrrp_script's and track_file's
/// own weight, and which sync groups allow weights on their members.
struct Weights {
    script: HashMap<String, i32>,
    file: HashMap<String, i32>,
    group_allows: HashMap<String, bool>,
}

impl Weights {
    fn of(cfg: &Config) -> Weights {
        Weights {
            script: cfg
                .vrrp_scripts
                .iter()
                .map(|s| (s.name.clone(), s.weight))
                .collect(),
            file: cfg
                .track_files
                .iter()
                .map(|f| (f.name.clone(), f.weight))
                .collect(),
            group_allows: cfg
                .sync_groups
                .iter()
                .map(|g| (g.name.clone(), g.sync_group_tracking_weight))
                .collect(),
        }
    }
}

/// keepalived's `vrrp_complete_instance` tracking rules: an instance never
/// tracks its own interface explicitly; a sync group member (unless the
/// group has `sync_group_tracking_weight`) and an address owner cannot have
/// weighted tracking, so weighted interfaces go to weight 0 (or away, for
/// an owner), weighted scripts and files away.
fn instance_tracking(v: &mut crate::model::VrrpInstance, w: &Weights, d: &mut Diags) {
    let name = v.name.clone();
    if let Some((own, _)) = v.interface.clone() {
        v.track.interface.retain(|t| {
            if t.name != own {
                return true;
            }
            d.check(
                Some(t.loc),
                Class::GeneralError,
                format!("({name}) Ignoring track_interface {own} since own interface"),
            );
            false
        });
    }
    let sync = v
        .sync_group
        .as_ref()
        .is_some_and(|g| !w.group_allows.get(g).copied().unwrap_or(false));
    let owner = v.priority == Some(255);
    if !sync && !owner {
        return;
    }
    let why = if sync { "SYNC group" } else { "address owner" };
    let why_ = if sync { "SYNC group" } else { "address_owner" };
    v.track.interface.retain_mut(|t| {
        if t.weight.unwrap_or(0) == 0 {
            return true;
        }
        d.check(
            Some(t.loc),
            Class::GeneralError,
            format!(
                "({name}) ignoring {} tracked interface {}due to {why}",
                t.name,
                if sync { "weight " } else { "" }
            ),
        );
        t.weight = Some(0);
        sync
    });
    v.track.script.retain(|t| {
        let weight = t
            .weight
            .unwrap_or_else(|| w.script.get(&t.name).copied().unwrap_or(0));
        if weight == 0 {
            return true;
        }
        d.check(
            Some(t.loc),
            Class::GeneralError,
            format!(
                "({name}) ignoring tracked script {} with weights due to {why_}",
                t.name
            ),
        );
        false
    });
    v.track.file.retain_mut(|t| {
        let weight = t
            .weight
            .unwrap_or_else(|| w.file.get(&t.name).copied().unwrap_or(1));
        match weight {
            0 => true,
            1 => {
                d.check(
                    Some(t.loc),
                    Class::GeneralError,
                    format!(
                        "({name}) ignoring weight from tracked file {} due to {why_}. specify weight 0",
                        t.name
                    ),
                );
                t.weight = Some(0);
                true
            }
            n => {
                d.check(
                    Some(t.loc),
                    Class::GeneralError,
                    format!(
                        "({name}) ignoring tracked file {} with weight {n} due to {why_}",
                        t.name
                    ),
                );
                false
            }
        }
    });
}

/// keepalived's `sync_group_tracking_init`: a group with an address owner
/// among its members cannot have weighted tracking; an interface the group
/// tracks that a member already tracks (its own interface included) is
/// reported.
fn group_tracking(cfg: &mut Config, w: &Weights, d: &mut Diags) {
    for g in &mut cfg.sync_groups {
        let members: Vec<&crate::model::VrrpInstance> = g
            .group
            .iter()
            .filter_map(|(m, _)| cfg.vrrp_instances.iter().find(|v| &v.name == m))
            .collect();
        if members.is_empty() {
            continue;
        }
        let has_owner = members.iter().any(|v| v.priority == Some(255));
        let gname = g.name.clone();
        // A script or file tracked without a weight of its own has its
        // block's weight.
        let clear = |d: &mut Diags, what: &str, t: &mut crate::model::Track, tail: &str| {
            let own = match what {
                "script" => w.script.get(&t.name).copied().unwrap_or(0),
                "file" => w.file.get(&t.name).copied().unwrap_or(0),
                _ => 0,
            };
            if has_owner && t.weight.unwrap_or(own) != 0 {
                d.check(
                    Some(t.loc),
                    Class::GeneralError,
                    format!(
                        "({gname}) Cannot have weighted track {what} '{}' with member having priority 255 - {tail}",
                        t.name
                    ),
                );
                t.weight = Some(0);
            }
        };
        for t in &mut g.track.script {
            clear(d, "script", t, "clearing weight");
        }
        for t in &mut g.track.file {
            clear(d, "file", t, "setting weight 0");
        }
        for t in &mut g.track.interface {
            clear(d, "interface", t, "clearing weight");
            for v in &members {
                let own = !v.dont_track_primary
                    && v.interface.as_ref().is_some_and(|(i, _)| *i == t.name);
                if own || v.track.interface.iter().any(|x| x.name == t.name) {
                    d.check(
                        Some(t.loc),
                        Class::GeneralError,
                        format!(
                            "({}) track_interface {} is configured on VRRP instance and sync group. Remove vrrp instance or sync group config",
                            v.name, t.name
                        ),
                    );
                }
            }
        }
    }
}

/// What keepalived's VRID conflict check looks at.
struct VridUse {
    name: String,
    loc: crate::diag::Loc,
    vrid: u8,
    ipv6: bool,
    ifname: Option<String>,
    unicast: bool,
    mcast: Option<IpAddr>,
    src: Option<IpAddr>,
    peers: Vec<IpAddr>,
}

/// keepalived's `check_vrid_conflicts`: each pair of instances (earlier,
/// later) with the same VRID and family that would see each other's
/// adverts. Multicast: same interface and group. Unicast: same interface
/// (or none given), same source address, a peer in common; without a
/// configured source, the interface's address is taken to be the same.
fn vrid_conflicts(uses: &[VridUse], d: &mut Diags) {
    let mut by_vrid: HashMap<(u8, bool, bool), Vec<&VridUse>> = HashMap::new();
    for u in uses {
        by_vrid
            .entry((u.vrid, u.ipv6, u.unicast))
            .or_default()
            .push(u);
    }
    let mut found = Vec::new();
    for group in by_vrid.values().filter(|g| g.len() > 1) {
        for (i, a) in group.iter().enumerate() {
            for b in &group[i + 1..] {
                let msg = if a.unicast {
                    let other_if = matches!((&a.ifname, &b.ifname), (Some(x), Some(y)) if x != y);
                    let other_src = matches!((a.src, b.src), (Some(x), Some(y)) if x != y);
                    let peer = a.peers.iter().any(|p| b.peers.contains(p));
                    if other_if || other_src || !peer {
                        continue;
                    }
                    format!(
                        "({}) duplicate VRID conflict with {} VRID {}",
                        a.name, b.name, a.vrid
                    )
                } else {
                    let (Some(ia), Some(ib)) = (&a.ifname, &b.ifname) else {
                        continue;
                    };
                    if ia != ib || a.mcast != b.mcast {
                        continue;
                    }
                    format!(
                        "{} and {} both use VRID {} with IPv{} on interface {ia}",
                        a.name,
                        b.name,
                        a.vrid,
                        if a.ipv6 { 6 } else { 4 }
                    )
                };
                found.push((a.loc, b.loc, msg));
            }
        }
    }
    // In configuration order, as keepalived walks the instances.
    found.sort_by_key(|(a, b, _)| (*a, *b));
    for (_, b, msg) in found {
        d.check(Some(b), Class::GeneralError, msg);
    }
}

/// Where validation messages go: nowhere once keepalived would have
/// stopped validating.
struct Out<'a> {
    d: &'a mut Diags,
    muted: &'a mut Diags,
    stop: bool,
}

impl Out<'_> {
    fn get(&mut self) -> &mut Diags {
        if self.stop { self.muted } else { self.d }
    }
}

/// Resolves the sync groups' members (dropping groups left empty); returns
/// the group of each member instance.
fn sync_groups(cfg: &mut Config, d: &mut Diags) -> HashMap<String, String> {
    let names: Vec<String> = cfg.vrrp_instances.iter().map(|i| i.name.clone()).collect();
    let mut member_of: HashMap<String, String> = HashMap::new();
    for gr in &mut cfg.sync_groups {
        let gname = gr.name.clone();
        if gr.group.is_empty() {
            d.check(
                Some(gr.loc),
                Class::GeneralError,
                format!("Sync group {gname} has no virtual router(s). removing"),
            );
            continue;
        }
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
        if gr.group.is_empty() {
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
    member_of
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
