//! The tokio driver: runs the sans-IO instances and sync groups against the
//! kernel.
//!
//! ```text
//!   rx task (per iface+family) --RxEvent--.
//!   link events (RTNLGRP_LINK) --LinkEvent-+--> engine loop --Action--> TxSocket (adverts)
//!   daemon (scripts, track files) --Command-'      |   ^             Netlink (VIPs, routes, rules)
//!                                                  |   |             GarpSender thread (GARP/NA)
//!                                                  |   '-- timerfd at min(poll_at)
//!                                                  '--Event--> daemon (notify scripts, FIFO)
//! ```
//!
//! Modules: [`socket`] (raw VRRP sockets, decoding in the receive tasks),
//! [`netlink`] (rtnetlink requests and link events), [`garp`] (GARP/NA
//! frames and their sender thread), [`sysctl`] (the interface parameters
//! [`crate::ifconf`] decides on), `timer` (the timerfd), `sys` (the few
//! unsafe system calls, each justified there).
//!
//! One engine task owns every instance, so a sync group's members and the
//! shared sockets need no locks. Receive tasks decode; the engine only feeds
//! inputs and carries out the returned actions in order. Everything that
//! decides lives in [`crate::fsm`] and [`crate::sync`]; this module decides
//! nothing beyond where packets and addresses go.

pub mod garp;
pub mod netlink;
mod nftsock;
pub mod socket;
mod sys;
pub mod sysctl;
mod timer;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::fsm::{
    Action, CfgError, Input, Instance, InstanceCfg, LogLine, State, Tracker, TrackerState,
    Transition, tracker_contribution,
};
use crate::ifconf::IfConf;
use crate::reload::Kept;
use crate::sync::{GroupOutput, SyncGroup};
use crate::types::{Family, Priority};

use self::garp::{GarpJob, GarpSender, GarpSocket};
use self::netlink::{LinkEvent, LinkInfo, Netlink};
use self::socket::{RxEntry, RxEvent, RxTable, TxSocket};

/// keepalived's default groups (vrrp_mcast_group4/6).
pub const MCAST_GROUP4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const MCAST_GROUP6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// A `virtual_ipaddress` / `virtual_ipaddress_excluded` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipCfg {
    pub addr: IpAddr,
    pub prefix: u8,
    /// `dev`; default: the instance's interface (or its VMAC).
    pub dev: Option<String>,
    /// RT_SCOPE_* (0 universe, 200 site, 253 link, 254 host, 255 nowhere).
    pub scope: u8,
    pub broadcast: Option<Ipv4Addr>,
    pub label: Option<String>,
    pub peer: Option<(IpAddr, u8)>,
    pub noprefixroute: bool,
    /// `no_track`: the VIP's device going down does not fault the instance.
    pub no_track: bool,
}

impl VipCfg {
    pub fn new(addr: IpAddr, prefix: u8) -> Self {
        Self {
            addr,
            prefix,
            dev: None,
            scope: 0,
            broadcast: None,
            label: None,
            peer: None,
            noprefixroute: false,
            no_track: false,
        }
    }
}

/// A `virtual_routes` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteCfg {
    pub dst: IpAddr,
    pub dst_len: u8,
    pub via: Option<IpAddr>,
    pub src: Option<IpAddr>,
    pub dev: Option<String>,
    pub table: u32,
    pub metric: Option<u32>,
    pub scope: Option<u8>,
    /// RTPROT_*; keepalived uses `boot` (3) unless told otherwise.
    pub protocol: u8,
    /// RTN_* (1 unicast, 6 blackhole, 7 unreachable, 8 prohibit, ...).
    pub route_type: u8,
}

/// What a rule does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleAction {
    Table(u32),
    Goto(u32),
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// A `virtual_rules` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleCfg {
    pub v6: bool,
    pub not: bool,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    pub priority: Option<u32>,
    pub action: RuleAction,
    pub fwmark: Option<(u32, Option<u32>)>,
    pub iif: Option<String>,
    pub oif: Option<String>,
}

/// A `unicast_peer` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCfg {
    pub addr: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
}

/// `use_vmac`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmacCfg {
    pub ifname: String,
    pub mac: [u8; 6],
    /// `vmac_xmit_base`: send adverts from the base interface.
    pub xmit_base: bool,
}

impl VmacCfg {
    /// keepalived's defaults: `vrrp.VRID`, 00:00:5e:00:01:VRID (02 for IPv6).
    pub fn default_for(vrid: u8, family: Family) -> Self {
        let f = match family {
            Family::V4 => 1,
            Family::V6 => 2,
        };
        Self {
            ifname: format!("vrrp.{vrid}"),
            mac: [0, 0, 0x5e, 0, f, vrid],
            xmit_base: false,
        }
    }
}

/// A `track_interface` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackIfCfg {
    pub name: String,
    /// 0: the interface going down faults the instance.
    pub weight: i32,
    pub reverse: bool,
}

/// One instance with everything the driver needs around its state machine.
#[derive(Clone, Debug)]
pub struct InstanceRt {
    /// `primary_ip` is filled in by the driver from `src_ip` or the interface.
    pub fsm: InstanceCfg,
    /// `unicast_src_ip` / `mcast_src_ip`.
    pub src_ip: Option<IpAddr>,
    pub vips: Vec<VipCfg>,
    pub evips: Vec<VipCfg>,
    pub routes: Vec<RouteCfg>,
    pub rules: Vec<RuleCfg>,
    pub unicast_peers: Vec<PeerCfg>,
    /// `unicast_ttl`: IPv4 TTL / IPv6 hop limit of unicast adverts.
    pub unicast_ttl: Option<u8>,
    pub mcast_dst: Option<IpAddr>,
    pub check_unicast_src: bool,
    pub vmac: Option<VmacCfg>,
    pub track_interfaces: Vec<TrackIfCfg>,
    pub dont_track_primary: bool,
    /// `promote_secondaries` (ignored with a VMAC, which always has it).
    pub promote_secondaries: bool,
    /// Neither the address owner nor in accept mode: while MASTER, its
    /// VIPs are in the nftables drop sets ([`crate::nft`]).
    pub fw_drop: bool,
}

impl InstanceRt {
    pub fn new(fsm: InstanceCfg) -> Self {
        Self {
            fsm,
            src_ip: None,
            vips: Vec::new(),
            evips: Vec::new(),
            routes: Vec::new(),
            rules: Vec::new(),
            unicast_peers: Vec::new(),
            unicast_ttl: None,
            mcast_dst: None,
            check_unicast_src: false,
            vmac: None,
            track_interfaces: Vec::new(),
            dont_track_primary: false,
            promote_secondaries: false,
            fw_drop: false,
        }
    }

    fn family(&self) -> Family {
        self.fsm.vips.family()
    }
}

/// A `vrrp_sync_group`: instance indices into [`DriverCfg::instances`].
#[derive(Clone, Debug)]
pub struct SyncGroupCfg {
    pub name: String,
    pub members: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct DriverCfg {
    pub instances: Vec<InstanceRt>,
    pub sync_groups: Vec<SyncGroupCfg>,
    /// `-D`: also print keepalived's detail lines.
    pub log_detail: bool,
    /// `-V` clears it: leave VIPs, routes and rules in place at stop.
    pub release_on_stop: bool,
    pub mcast_group4: Ipv4Addr,
    pub mcast_group6: Ipv6Addr,
    /// `vrrp_garp_interval` / `vrrp_gna_interval`: the least time between
    /// two gratuitous ARPs (two NAs) on one interface.
    pub garp_interval: std::time::Duration,
    pub gna_interval: std::time::Duration,
    /// Tracker state known before the first start (track_file values,
    /// vrrp_scripts yet to report), fed before [`Input::Startup`]; a
    /// reload brings its own with [`Command::Reload`].
    pub start_inputs: Vec<(usize, Input)>,
    /// The nftables settings of the drop rules (taken at start; keepalived
    /// does not change them at a reload either).
    pub firewall: crate::nft::FwCfg,
    /// `disable_local_igmp`: IPv4 VMACs get no IGMP rules (the host sends
    /// no link-local reports to begin with).
    pub disable_local_igmp: bool,
    /// `min_auto_priority_delay`: a timer that fires later than this after
    /// its deadline is reported ([`Event::TimerLate`]).
    pub late_timer: Option<std::time::Duration>,
}

impl DriverCfg {
    pub fn new(instances: Vec<InstanceRt>) -> Self {
        Self {
            instances,
            sync_groups: Vec::new(),
            log_detail: false,
            release_on_stop: true,
            mcast_group4: MCAST_GROUP4,
            mcast_group6: MCAST_GROUP6,
            garp_interval: std::time::Duration::ZERO,
            gna_interval: std::time::Duration::ZERO,
            start_inputs: Vec::new(),
            firewall: crate::nft::FwCfg::default(),
            disable_local_igmp: false,
            late_timer: None,
        }
    }
}

/// Inputs from the daemon and its questions.
#[derive(Debug)]
pub enum Command {
    /// A vrrp_script / track_file result for `instance` of the configuration
    /// numbered `epoch` (0 at start, then as given by each
    /// [`Command::Reload`]). Inputs of another epoch are dropped: their
    /// instance numbers are stale.
    Input {
        epoch: u64,
        instance: usize,
        input: Input,
    },
    /// SIGHUP: switch to `cfg` (see [`crate::reload`]). `inputs` is the
    /// tracker state the daemon carries over (scripts, files), by new
    /// instance number. `done` gets the outcome; on error nothing changed.
    Reload {
        cfg: Box<DriverCfg>,
        epoch: u64,
        inputs: Vec<(usize, Input)>,
        done: tokio::sync::oneshot::Sender<Result<(), DriverError>>,
    },
    /// Every instance's state and counters, in instance order (for the
    /// dump files).
    Snapshot(tokio::sync::oneshot::Sender<Vec<crate::dump::Snapshot>>),
    /// Zero every instance's counters (after a stats dump on SIGRTMAX-1).
    ClearStats,
}

/// What the daemon must act on (notify scripts, FIFO lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Instance {
        instance: usize,
        transition: Transition,
    },
    Group {
        group: usize,
        state: State,
    },
    MasterRxLowerPri {
        instance: usize,
        priority: Priority,
    },
    Priority {
        instance: usize,
        state: State,
        priority: Priority,
    },
    /// A reload removed this instance (numbered as before the reload).
    /// keepalived notifies DELETED with `notify_deleted`, else FAULT unless
    /// the instance was in FAULT already.
    Deleted {
        instance: usize,
        was_fault: bool,
        priority: Priority,
    },
    /// A reload took effect: from here on, instance and group numbers are
    /// those of the new configuration.
    Reloaded {
        epoch: u64,
    },
    /// The engine's timer fired this long after its deadline, more than
    /// [`DriverCfg::late_timer`]: the process is not being run in time.
    TimerLate {
        late: std::time::Duration,
    },
    /// The configuration is in place (sockets open, instances built) and
    /// the instances are about to start (keepalived notifies its parent
    /// here that the configuration is read).
    Started,
    /// After a reload: this instance is in BACKUP or FAULT as before (or
    /// started in FAULT) and notified nothing; keepalived re-sends its
    /// state to the FIFO with `fifo_write_vrrp_states_on_reload`.
    Unchanged {
        instance: usize,
        state: State,
        priority: Priority,
    },
    /// The same for a sync group that notified nothing at the reload.
    GroupUnchanged {
        group: usize,
        state: State,
    },
}

/// Why the driver could not start.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("netlink: {0}")]
    Netlink(String),
    #[error("({instance}) {source}")]
    Config { instance: String, source: CfgError },
    #[error("({instance}) interface {ifname} does not exist")]
    NoInterface { instance: String, ifname: String },
    #[error("socket on {ifname}: {source}")]
    Socket {
        ifname: String,
        source: std::io::Error,
    },
}

enum Unit {
    /// A standalone instance and its index.
    Single(Box<Instance>, usize),
    Group {
        group: SyncGroup,
        members: Vec<usize>,
    },
}

/// Where an instance lives: (unit, member index within its group).
type Loc = (usize, Option<usize>);

/// What to do after feeding an input, in order.
enum Out {
    Act(usize, Action),
    Log(LogLine),
    GroupNotify(usize, State),
}

/// Per-instance resolved I/O facts.
struct Io {
    name: String,
    base_if: String,
    tx: usize,
    src: IpAddr,
    /// (VIP config, ifindex of its device).
    addrs: Vec<(VipCfg, u32)>,
    /// `garp_extra_if`: the VIPs announced on their extra interfaces, one
    /// per interface (see [`extra_if_garps`]).
    extra_garps: Vec<(VipCfg, u32)>,
    routes: Vec<(RouteCfg, Option<u32>)>,
    rules: Vec<RuleCfg>,
    peers: Vec<IpAddr>,
    dst_mcast: IpAddr,
    unicast_ttl: u8,
    v3_as_v2: bool,
    track_if: Vec<TrackIfCfg>,
    dont_track_primary: bool,
    fw_drop: bool,
    span: tracing::Span,
}

struct Engine {
    units: Vec<Unit>,
    loc: Vec<Loc>,
    io: Vec<Io>,
    tx: Vec<TxSocket>,
    nl: Netlink,
    garp: Option<GarpSender>,
    links: HashMap<u32, LinkInfo>,
    forwarding6: HashMap<u32, bool>,
    events: mpsc::UnboundedSender<Event>,
    log_detail: bool,
    release_on_stop: bool,
    /// VMACs we created, removed again at stop.
    vmacs: Vec<u32>,
    /// The running configuration, what a reload is diffed against.
    cfg: DriverCfg,
    /// Number of the running configuration (see [`Command::Input`]).
    epoch: u64,
    rx_tasks: Vec<tokio::task::JoinHandle<()>>,
    /// A reload is deleting instances: their addresses go even with `-V`.
    removing: bool,
    /// Interface parameters changed for VMACs and promote_secondaries.
    ifconf: IfConf,
    /// The nftables drop rules, and their socket once one was needed.
    fw: crate::nft::Firewall,
    fw_sock: Option<nftsock::NftSocket>,
}

fn primary_addr(addrs: &[netlink::AddrInfo], index: u32, family: Family) -> Option<IpAddr> {
    let mut candidates = addrs.iter().filter(|a| a.index == index);
    match family {
        Family::V4 => candidates.find(|a| a.addr.is_ipv4()).map(|a| a.addr),
        Family::V6 => candidates
            .find(|a| matches!(a.addr, IpAddr::V6(v) if v.is_unicast_link_local()))
            .map(|a| a.addr),
    }
}

/// keepalived's -D "Assigned address" lines of a load: each interface
/// names its own IPv4 address (the first that is no VIP) and its first
/// IPv6 link-local address when the first instance that runs on it is
/// added to it (interfaces only tracked with `track_interface` say
/// nothing, and count as taken). A VMAC made by this load has no address
/// yet when keepalived looks.
fn assigned_lines(
    cfg: &DriverCfg,
    links: &HashMap<u32, LinkInfo>,
    addrs: &[netlink::AddrInfo],
    made: &[u32],
) -> Vec<String> {
    let ours: std::collections::HashSet<IpAddr> = cfg
        .instances
        .iter()
        .flat_map(|i| i.vips.iter().chain(&i.evips).map(|v| v.addr))
        .collect();
    let mut taken = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut add = |link: Option<LinkInfo>, log: bool, out: &mut Vec<String>| {
        let Some(link) = link else { return };
        if !taken.insert(link.index) || !log || made.contains(&link.index) {
            return;
        }
        let own: Vec<_> = addrs
            .iter()
            .filter(|a| a.index == link.index && !ours.contains(&a.addr))
            .cloned()
            .collect();
        for family in [Family::V4, Family::V6] {
            if let Some(a) = primary_addr(&own, link.index, family) {
                out.push(format!("Assigned address {a} for interface {}", link.name));
            }
        }
    };
    for inst in &cfg.instances {
        for t in &inst.track_interfaces {
            if t.name != inst.fsm.interface {
                add(by_name(links, &t.name), false, &mut out);
            }
        }
        add(by_name(links, &inst.fsm.interface), true, &mut out);
        if let Some(v) = &inst.vmac {
            add(by_name(links, &v.ifname), true, &mut out);
        }
    }
    out
}

fn read_forwarding6(ifname: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"))
        .is_ok_and(|s| s.trim() == "1")
}

/// Everything one configuration needs, opened but not yet running.
struct Built {
    io: Vec<Io>,
    tx: Vec<TxSocket>,
    /// Receive sockets: (socket, IPv6, table).
    rx: Vec<(AsyncFd<Socket>, bool, RxTable)>,
    /// Fresh state machines, in Init, with their primary address.
    fsms: Vec<Instance>,
    /// Interface facts to feed before startup.
    pre_inputs: Vec<(usize, Input)>,
    /// VMACs this build created.
    created_vmacs: Vec<u32>,
    forwarding6: HashMap<u32, bool>,
}

/// Every interface, by index.
async fn read_links(nl: &Netlink) -> Result<HashMap<u32, LinkInfo>, DriverError> {
    Ok(nl
        .links()
        .await
        .map_err(nlerr)?
        .into_iter()
        .map(|l| (l.index, l))
        .collect())
}

fn by_name(links: &HashMap<u32, LinkInfo>, n: &str) -> Option<LinkInfo> {
    links.values().find(|l| l.name == n).cloned()
}

/// The device of VIPs without `dev`: the VMAC, or the interface.
fn default_dev(inst: &InstanceRt, base: &LinkInfo) -> String {
    inst.vmac
        .as_ref()
        .map_or(base.name.clone(), |v| v.ifname.clone())
}

/// Each VIP then eVIP with the index of its device (0 if it is missing:
/// the caller reports that).
fn vip_links(
    inst: &InstanceRt,
    default_dev: &str,
    links: &HashMap<u32, LinkInfo>,
) -> Vec<(VipCfg, u32)> {
    inst.vips
        .iter()
        .chain(&inst.evips)
        .map(|v| {
            let dev = v.dev.as_deref().unwrap_or(default_dev);
            (v.clone(), by_name(links, dev).map_or(0, |l| l.index))
        })
        .collect()
}

/// `garp_extra_if`'s announcements: `None` when the instance has no extra
/// interface, and keepalived then turns the timer off (vrrp.c
/// `vrrp_complete_instance`): an extra interface is a VIP's or eVIP's
/// device other than the instance's own (`own_if`, its VMAC if it has
/// one); it counts if it is a VMAC (`vmacs`), or any with `all`.
/// Otherwise the VIPs to announce, in VIP then eVIP order, one per device
/// (keepalived `vrrp_send_vmac_update`): the first VIP on each device that
/// is a VMAC or, with `all`, any device; the instance's own only with
/// `vmac_xmit_base`.
fn extra_if_garps(
    inst: &InstanceRt,
    vip_links: &[(VipCfg, u32)],
    own_if: u32,
    vmacs: &[u32],
) -> Option<Vec<(VipCfg, u32)>> {
    inst.fsm.garp.extra_if?;
    let all = inst.fsm.garp.extra_if_all;
    let ours = |idx: u32| vmacs.contains(&idx);
    let extra = vip_links
        .iter()
        .any(|(_, idx)| *idx != own_if && (all || ours(*idx)));
    if !extra {
        return None;
    }
    let xmit_base = inst.vmac.as_ref().is_some_and(|v| v.xmit_base);
    let mut done: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    for (v, idx) in vip_links {
        if (!ours(*idx) && !all) || (*idx == own_if && !xmit_base) || done.contains(idx) {
            continue;
        }
        done.push(*idx);
        out.push((v.clone(), *idx));
    }
    Some(out)
}

fn nlerr(e: netlink::Error) -> DriverError {
    DriverError::Netlink(e.to_string())
}

/// Every interface `cfg` names exists (or is a VMAC it creates): checked
/// before anything is changed, so that a reload can be refused cleanly.
fn check_names(cfg: &DriverCfg, links: &HashMap<u32, LinkInfo>) -> Result<(), DriverError> {
    let vmac_names: Vec<&str> = cfg
        .instances
        .iter()
        .filter_map(|i| i.vmac.as_ref().map(|v| v.ifname.as_str()))
        .collect();
    let known = |n: &str| vmac_names.contains(&n) || by_name(links, n).is_some();
    for inst in &cfg.instances {
        let missing = |ifname: &str| DriverError::NoInterface {
            instance: inst.fsm.name.clone(),
            ifname: ifname.to_owned(),
        };
        if by_name(links, &inst.fsm.interface).is_none() {
            return Err(missing(&inst.fsm.interface));
        }
        let devs = inst
            .vips
            .iter()
            .chain(&inst.evips)
            .filter_map(|v| v.dev.as_deref())
            .chain(inst.routes.iter().filter_map(|r| r.dev.as_deref()));
        for d in devs {
            if !known(d) {
                return Err(missing(d));
            }
        }
    }
    Ok(())
}

/// Creates the VMACs, resolves every instance's interfaces and addresses,
/// opens the sockets and builds the state machines. On error, VMACs it
/// created are removed again.
async fn build(
    cfg: &DriverCfg,
    nl: &Netlink,
    links: &mut HashMap<u32, LinkInfo>,
    ifc: &mut IfConf,
) -> Result<Built, DriverError> {
    check_names(cfg, links)?;
    let mut created = Vec::new();
    let r = build_inner(cfg, nl, links, &mut created, ifc).await;
    match r {
        Ok(mut b) => {
            b.created_vmacs = created;
            Ok(b)
        }
        Err(e) => {
            for idx in created {
                if let Some(l) = links.get(&idx) {
                    let ops = ifc.vmac_removed(&l.name);
                    sysctl::apply(nl, links, ops).await;
                }
                let _ = nl.del_link(idx).await;
            }
            Err(e)
        }
    }
}

/// keepalived `netlink_link_add_vmac` after the link exists: IPv4
/// parameters (first, while it is down), IPv6 on or off, no automatic
/// link-local address, up, then the IPv6 VMAC's own link-local address.
async fn setup_vmac(
    cfg: &DriverCfg,
    inst: &InstanceRt,
    base: &LinkInfo,
    nl: &Netlink,
    links: &HashMap<u32, LinkInfo>,
    ifc: &mut IfConf,
    base_addrs: &mut Option<Vec<netlink::AddrInfo>>,
) -> Result<(), DriverError> {
    let name = &inst.fsm.name;
    let Some(vmac) = inst.vmac.as_ref().and_then(|v| by_name(links, &v.ifname)) else {
        return Ok(());
    };
    let vmac = &vmac;
    let family = inst.family();
    if family == Family::V4 {
        let mut names: Vec<String> = links.values().map(|l| l.name.clone()).collect();
        names.sort();
        let vmacs: Vec<String> = cfg
            .instances
            .iter()
            .filter_map(|i| i.vmac.as_ref().map(|v| v.ifname.clone()))
            .collect();
        let ops = ifc.vmac_created(&vmac.name, &base.name, &names, &vmacs, &sysctl::ProcSys);
        sysctl::apply(nl, links, ops).await;
    }
    // No IPv6 on an IPv4 VMAC unless it carries IPv6 eVIPs.
    let other_family = inst
        .evips
        .iter()
        .any(|e| e.addr.is_ipv6() != (family == Family::V6));
    if let Err(e) = sysctl::set_disable_ipv6(&vmac.name, family == Family::V4 && !other_family) {
        tracing::warn!("({name}) cannot set disable_ipv6 on {}: {e}", vmac.name);
    }
    if nl.set_addr_gen_mode_none(vmac.index).await.is_err() {
        tracing::info!(
            "({name}) Error setting ADDR_GEN_MODE to NONE on {}",
            vmac.name
        );
    }
    if let Err(e) = nl.set_up(vmac.index).await {
        tracing::warn!("({name}) cannot set {} up: {e}", vmac.name);
    }
    let xmit_base = inst.vmac.as_ref().is_some_and(|v| v.xmit_base);
    if family == Family::V6 && !xmit_base {
        // The base interfaces' addresses do not change while VMACs are
        // created: one dump serves them all.
        if base_addrs.is_none() {
            *base_addrs = Some(nl.addrs().await.map_err(nlerr)?);
        }
        let addrs = base_addrs.as_deref().unwrap_or_default();
        let src = match inst.src_ip {
            Some(IpAddr::V6(a)) => Some(a),
            _ => None,
        };
        let base_ll = match primary_addr(addrs, base.index, Family::V6) {
            Some(IpAddr::V6(a)) => Some(a),
            _ => None,
        };
        let ll = crate::ifconf::vmac_link_local(src, base_ll, base.mac);
        if nl.add_link_local(vmac.index, ll).await.is_err() {
            tracing::info!("Adding link-local address to vmac failed");
            tracing::info!("({name}) adding link-local address to {} failed", vmac.name);
        }
    }
    Ok(())
}

async fn build_inner(
    cfg: &DriverCfg,
    nl: &Netlink,
    links: &mut HashMap<u32, LinkInfo>,
    created: &mut Vec<u32>,
    ifc: &mut IfConf,
) -> Result<Built, DriverError> {
    // VMACs first: VIPs and sends may live on them.
    let mut base_addrs = None;
    for inst in &cfg.instances {
        let Some(v) = &inst.vmac else { continue };
        if by_name(links, &v.ifname).is_some() {
            continue;
        }
        let base = by_name(links, &inst.fsm.interface).ok_or_else(|| DriverError::NoInterface {
            instance: inst.fsm.name.clone(),
            ifname: inst.fsm.interface.clone(),
        })?;
        nl.add_macvlan(&v.ifname, base.index, v.mac)
            .await
            .map_err(nlerr)?;
        if cfg.log_detail {
            tracing::info!(
                "({}): Success creating VMAC interface {}",
                inst.fsm.name,
                v.ifname
            );
        }
        *links = read_links(nl).await?;
        if let Some(l) = by_name(links, &v.ifname) {
            created.push(l.index);
            setup_vmac(cfg, inst, &base, nl, links, ifc, &mut base_addrs).await?;
        }
    }
    // A new macvlan is RUNNING only once the kernel's link watch has seen
    // it (batched, up to a second later): until then its instance would
    // start in FAULT, which keepalived's does not. Bounded, for a base
    // interface that is down.
    let deadline = Instant::now() + std::time::Duration::from_secs(2);
    while !created.iter().all(|i| links.get(i).is_some_and(|l| l.up)) && Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        *links = read_links(nl).await?;
    }
    let addrs = nl.addrs().await.map_err(nlerr)?;
    if cfg.log_detail {
        for line in assigned_lines(cfg, links, &addrs, created) {
            tracing::info!("{line}");
        }
    }
    // keepalived's `is_ours` interfaces: the VMACs it creates.
    let vmac_links: Vec<u32> = cfg
        .instances
        .iter()
        .filter_map(|i| i.vmac.as_ref())
        .filter_map(|v| by_name(links, &v.ifname))
        .map(|l| l.index)
        .collect();

    let mut tx_keys: Vec<(String, Family, Option<IpAddr>, Option<u8>)> = Vec::new();
    let mut tx: Vec<TxSocket> = Vec::new();
    let mut rx_tables: HashMap<(String, Family, bool), (u32, bool, RxTable)> = HashMap::new();
    let mut io = Vec::new();
    let mut fsms = Vec::new();
    let mut forwarding6 = HashMap::new();
    let mut pre_inputs: Vec<(usize, Input)> = Vec::new();
    for (i, inst) in cfg.instances.iter().enumerate() {
        let name = inst.fsm.name.clone();
        let base = by_name(links, &inst.fsm.interface).ok_or_else(|| DriverError::NoInterface {
            instance: name.clone(),
            ifname: inst.fsm.interface.clone(),
        })?;
        let family = inst.family();
        let send_if = match &inst.vmac {
            Some(v) if !v.xmit_base => v.ifname.clone(),
            _ => base.name.clone(),
        };
        let send_link = by_name(links, &send_if).unwrap_or_else(|| base.clone());
        let primary = inst
            .src_ip
            .or_else(|| primary_addr(&addrs, base.index, family));
        let mut fsm_cfg = inst.fsm.clone();
        let dev_links = vip_links(inst, &default_dev(inst, &base), links);
        let own_if = match &inst.vmac {
            Some(v) => by_name(links, &v.ifname).map_or(base.index, |l| l.index),
            None => base.index,
        };
        let extra_garps = extra_if_garps(inst, &dev_links, own_if, &vmac_links);
        if extra_garps.is_none() {
            fsm_cfg.garp.extra_if = None;
        }
        let no_addr = primary.is_none();
        fsm_cfg.primary_ip = primary.unwrap_or(match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        });
        fsm_cfg.unicast = !inst.unicast_peers.is_empty();
        let rxcfg = fsm_cfg.rx_config();
        let ah = rxcfg.auth.is_ah();
        let fsm = Instance::new(fsm_cfg).map_err(|source| DriverError::Config {
            instance: name.clone(),
            source,
        })?;
        fsms.push(fsm);

        // Send socket, shared by instances with the same needs.
        let (v6src, hops) = match family {
            Family::V4 => (None, None),
            Family::V6 => (inst.src_ip, inst.unicast_ttl),
        };
        let key = (send_if.clone(), family, v6src, hops);
        let tx_idx = match tx_keys.iter().position(|k| *k == key) {
            Some(p) => p,
            None => {
                let sock = match family {
                    Family::V4 => TxSocket::v4(&send_if, send_link.index),
                    Family::V6 => TxSocket::v6(
                        &send_if,
                        send_link.index,
                        v6src.and_then(|a| match a {
                            IpAddr::V6(a) => Some(a),
                            IpAddr::V4(_) => None,
                        }),
                        hops,
                    ),
                }
                .map_err(|source| DriverError::Socket {
                    ifname: send_if.clone(),
                    source,
                })?;
                tx.push(sock);
                tx_keys.push(key);
                tx.len() - 1
            }
        };

        // Receive table of the base interface.
        let entry = rx_tables.entry((base.name.clone(), family, ah)).or_insert((
            base.index,
            false,
            RxTable::new(),
        ));
        entry.1 |= inst.unicast_peers.is_empty();
        entry
            .2
            .entry(inst.fsm.vrid.get())
            .or_default()
            .push(RxEntry {
                instance: i,
                cfg: rxcfg,
                peers: inst
                    .unicast_peers
                    .iter()
                    .map(|p| (p.addr, p.min_ttl, p.max_ttl))
                    .collect(),
                check_unicast_src: inst.check_unicast_src,
            });

        let default_dev = default_dev(inst, &base);
        let mut vip_addrs = Vec::new();
        for v in inst.vips.iter().chain(&inst.evips) {
            let dev = v.dev.clone().unwrap_or_else(|| default_dev.clone());
            let l = by_name(links, &dev).ok_or_else(|| DriverError::NoInterface {
                instance: name.clone(),
                ifname: dev.clone(),
            })?;
            if v.addr.is_ipv6() {
                forwarding6
                    .entry(l.index)
                    .or_insert_with(|| read_forwarding6(&dev));
            }
            vip_addrs.push((v.clone(), l.index));
        }
        let mut routes = Vec::new();
        for r in &inst.routes {
            let oif = match &r.dev {
                Some(d) => Some(
                    by_name(links, d)
                        .ok_or_else(|| DriverError::NoInterface {
                            instance: name.clone(),
                            ifname: d.clone(),
                        })?
                        .index,
                ),
                None => None,
            };
            routes.push((r.clone(), oif));
        }
        let dst_mcast = inst.mcast_dst.unwrap_or(match family {
            Family::V4 => IpAddr::V4(cfg.mcast_group4),
            Family::V6 => IpAddr::V6(cfg.mcast_group6),
        });
        if !inst.dont_track_primary && (!base.up || no_addr) {
            if no_addr {
                tracing::info!(
                    "({name}) entering FAULT state (no IPv{} address for interface)",
                    if family == Family::V4 { 4 } else { 6 }
                );
            }
            pre_inputs.push((i, Input::IfaceDown));
        }
        for t in &inst.track_interfaces {
            let up = by_name(links, &t.name).is_some_and(|l| l.up);
            pre_inputs.push((i, track_if_input(t, up)));
        }
        for (v, idx) in &vip_addrs {
            if let Some(l) = links.get(idx)
                && l.name != base.name
                && !v.no_track
                && !l.up
            {
                pre_inputs.push((
                    i,
                    Input::TrackerFault {
                        tracker: Tracker::Interface(l.name.clone()),
                        failed: true,
                    },
                ));
            }
        }
        io.push(Io {
            span: tracing::info_span!("vrrp_instance", iname = %name, vrid = inst.fsm.vrid.get()),
            name,
            base_if: base.name.clone(),
            tx: tx_idx,
            src: primary.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            addrs: vip_addrs,
            extra_garps: extra_garps.unwrap_or_default(),
            routes,
            rules: inst.rules.clone(),
            peers: inst.unicast_peers.iter().map(|p| p.addr).collect(),
            dst_mcast,
            unicast_ttl: inst.unicast_ttl.unwrap_or(255),
            v3_as_v2: inst.fsm.v3_checksum_as_v2,
            track_if: inst.track_interfaces.clone(),
            dont_track_primary: inst.dont_track_primary,
            fw_drop: inst.fw_drop,
        });
    }

    let mut rx = Vec::new();
    for ((ifname, family, ah), (index, mcast, table)) in rx_tables {
        let fd = match family {
            Family::V4 => socket::rx_v4(
                &ifname,
                index,
                mcast
                    .then_some(cfg.mcast_group4)
                    .filter(|g| g.is_multicast()),
                ah,
            ),
            Family::V6 => socket::rx_v6(&ifname, index, mcast.then_some(cfg.mcast_group6)),
        }
        .map_err(|source| DriverError::Socket {
            ifname: ifname.clone(),
            source,
        })?;
        rx.push((fd, family == Family::V6, table));
    }
    Ok(Built {
        io,
        tx,
        rx,
        fsms,
        pre_inputs,
        created_vmacs: Vec::new(),
        forwarding6,
    })
}

/// Starts one receive task per socket; they feed `out`.
fn spawn_rx(
    rx: Vec<(AsyncFd<Socket>, bool, RxTable)>,
    io: &[Io],
    out: &mpsc::UnboundedSender<RxEvent>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let names: Arc<Vec<String>> = Arc::new(io.iter().map(|x| x.name.clone()).collect());
    rx.into_iter()
        .map(|(fd, v6, table)| {
            tokio::spawn(socket::rx_loop(
                fd,
                v6,
                Arc::new(table),
                names.clone(),
                out.clone(),
            ))
        })
        .collect()
}

/// Sync groups own their members; the rest stand alone. Returns the units
/// and each instance's place, plus the reload outputs of rebuilt groups
/// (`previous`: group name → its state before a reload; `None` at start).
fn make_units(
    now: Instant,
    groups: &[SyncGroupCfg],
    fsms: Vec<Instance>,
    previous: Option<&HashMap<String, State>>,
) -> (Vec<Unit>, Vec<Loc>, Vec<Out>) {
    let mut slots: Vec<Option<Instance>> = fsms.into_iter().map(Some).collect();
    let mut loc = vec![(usize::MAX, None); slots.len()];
    let mut units = Vec::new();
    let mut outs = Vec::new();
    for g in groups {
        let mut members = Vec::new();
        let mut insts = Vec::new();
        for &m in &g.members {
            if let Some(inst) = slots.get_mut(m).and_then(Option::take) {
                loc[m] = (units.len(), Some(members.len()));
                members.push(m);
                insts.push(inst);
            }
        }
        if insts.is_empty() {
            continue;
        }
        let group = match previous {
            None => SyncGroup::new(&g.name, insts),
            Some(prev) => {
                let (group, o) =
                    SyncGroup::reloaded(now, &g.name, insts, prev.get(&g.name).copied());
                outs.extend(convert_group(units.len(), &members, o));
                group
            }
        };
        units.push(Unit::Group { group, members });
    }
    for (i, s) in slots.into_iter().enumerate() {
        if let Some(inst) = s {
            loc[i] = (units.len(), None);
            units.push(Unit::Single(Box::new(inst), i));
        }
    }
    (units, loc, outs)
}

/// Runs every instance until `shutdown` completes, then stops them the
/// keepalived way (priority 0 adverts, VIPs removed unless `-V`, STOP
/// notifies) and returns. [`Command::Reload`] switches configuration on
/// the way.
pub async fn run(
    cfg: DriverCfg,
    mut cmds: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DriverError> {
    let nl = Netlink::open().map_err(|e| DriverError::Netlink(e.to_string()))?;
    if cfg.log_detail {
        // keepalived's two netlink sockets: the monitor and the commands
        tracing::info!("Registering Kernel netlink reflector");
        tracing::info!("Registering Kernel netlink command channel");
    }
    let mut links: HashMap<u32, LinkInfo> = nl
        .links()
        .await
        .map_err(nlerr)?
        .into_iter()
        .map(|l| (l.index, l))
        .collect();
    let mut link_rx = netlink::link_events().map_err(|e| DriverError::Netlink(e.to_string()))?;

    let mut ifconf = IfConf::new();
    let built = match build(&cfg, &nl, &mut links, &mut ifconf).await {
        Ok(b) => b,
        Err(e) => {
            let ops = ifconf.restore_rp_filter(&sysctl::ProcSys);
            sysctl::apply(&nl, &links, ops).await;
            return Err(e);
        }
    };
    promote_secondaries(&cfg, &nl, &links, &mut ifconf).await;
    let (rx_tx, mut rx_rx) = mpsc::unbounded_channel();
    let rx_tasks = spawn_rx(built.rx, &built.io, &rx_tx);
    drop(rx_tx);
    let (units, loc, _) = make_units(Instant::now(), &cfg.sync_groups, built.fsms, None);

    if cfg.log_detail {
        // keepalived opens one socket for the ARPs and one for the NAs, as
        // its instances need them; ours sends both
        for (family, line) in [
            (Family::V4, "Registering gratuitous ARP shared channel"),
            (Family::V6, "Registering gratuitous NDISC shared channel"),
        ] {
            if cfg.instances.iter().any(|i| i.family() == family) {
                tracing::info!("{line}");
            }
        }
    }
    let garp = match GarpSocket::open().and_then(GarpSender::spawn) {
        Ok(g) => {
            g.set_intervals(cfg.garp_interval, cfg.gna_interval);
            g.set_detail(cfg.log_detail);
            Some(g)
        }
        Err(e) => {
            tracing::warn!("cannot open gratuitous ARP socket: {e}");
            None
        }
    };
    let cfg_fw = cfg.firewall.clone();
    let mut eng = Engine {
        units,
        loc,
        io: built.io,
        tx: built.tx,
        nl,
        garp,
        links,
        forwarding6: built.forwarding6,
        events,
        log_detail: cfg.log_detail,
        release_on_stop: cfg.release_on_stop,
        vmacs: built.created_vmacs,
        cfg,
        epoch: 0,
        rx_tasks,
        removing: false,
        ifconf,
        fw: crate::nft::Firewall::new(cfg_fw),
        fw_sock: None,
    };

    // the VMACs' IGMP/MLD rules, before the instances start (keepalived
    // sets them up as it brings each VMAC up)
    eng.fw_vmacs();
    let _ = eng.events.send(Event::Started);
    let now = Instant::now();
    let start_inputs = std::mem::take(&mut eng.cfg.start_inputs);
    for (i, input) in built.pre_inputs.into_iter().chain(start_inputs) {
        let outs = eng.feed(now, i, input);
        eng.exec(outs).await;
    }
    for input in [Input::Prepare, Input::Startup] {
        for u in 0..eng.units.len() {
            let outs = eng.feed_unit(Instant::now(), u, input.clone());
            eng.exec(outs).await;
        }
    }
    // Link messages queued while the VMACs were made describe states the
    // start has already read (a new VMAC "down" first): dropped, and the
    // links read again, so that a real change in that time still counts.
    while link_rx.try_recv().is_ok() {}
    if let Ok(now) = eng.nl.links().await {
        for l in now {
            eng.link_event(LinkEvent::Changed(l)).await;
        }
    }

    let timer = timer::Timer::new().map_err(|source| DriverError::Socket {
        ifname: "timerfd".into(),
        source,
    })?;
    tokio::pin!(shutdown);
    loop {
        let deadline = eng.poll_at();
        let sleep = async {
            match deadline {
                Some(d) => timer.sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = sleep => {
                if let (Some(due), Some(limit)) = (deadline, eng.cfg.late_timer) {
                    let late = Instant::now().saturating_duration_since(due);
                    if late > limit {
                        let _ = eng.events.send(Event::TimerLate { late });
                    }
                }
                eng.tick().await
            }
            Some(ev) = rx_rx.recv() => {
                match ev {
                    RxEvent::Advert { instance, src, pkt, .. } => {
                        let outs = eng.feed(Instant::now(), instance, Input::Advert { src, pkt });
                        eng.exec(outs).await;
                    }
                    RxEvent::Dropped { instance, line } => {
                        let _g = eng.io[instance].span.enter();
                        tracing::info!("{line}");
                    }
                }
            }
            Some(cmd) = cmds.recv() => match cmd {
                Command::Input { epoch, instance, input } => {
                    if epoch == eng.epoch && instance < eng.io.len() {
                        let outs = eng.feed(Instant::now(), instance, input);
                        eng.exec(outs).await;
                    }
                }
                Command::Snapshot(reply) => {
                    let all = (0..eng.io.len()).filter_map(|i| eng.snapshot(i)).collect();
                    let _ = reply.send(all);
                }
                Command::ClearStats => {
                    for u in &mut eng.units {
                        match u {
                            Unit::Single(inst, _) => inst.clear_stats(),
                            Unit::Group { group, .. } => group.clear_stats(),
                        }
                    }
                }
                Command::Reload { cfg, epoch, inputs, done } => {
                    match eng.reload(*cfg, epoch, inputs).await {
                        Ok(rx) => {
                            // Packets still queued were decoded for the old
                            // numbering: dropped with the old channel.
                            rx_rx = rx;
                            let _ = done.send(Ok(()));
                        }
                        Err(e) => {
                            let _ = done.send(Err(e));
                        }
                    }
                }
            },
            Some(ev) = link_rx.recv() => eng.link_event(ev).await,
        }
    }

    for u in 0..eng.units.len() {
        let outs = eng.feed_unit(Instant::now(), u, Input::Shutdown);
        eng.exec(outs).await;
    }
    for t in &eng.rx_tasks {
        t.abort();
    }
    // keepalived removes its tables when the VRRP process ends, -V or not
    if let Some(b) = eng.fw.cleanup() {
        eng.fw_send(&b);
    }
    if eng.release_on_stop {
        // keepalived `shutdown_vrrp_instances`: rp_filter back first, then
        // each VMAC with its base interface's ARP settings, then
        // promote_secondaries.
        let ops = eng.ifconf.restore_rp_filter(&sysctl::ProcSys);
        sysctl::apply(&eng.nl, &eng.links, ops).await;
        for idx in std::mem::take(&mut eng.vmacs) {
            let name = eng.links.get(&idx).map(|l| l.name.clone());
            if let Some(n) = &name {
                let ops = eng.ifconf.vmac_removed(n);
                sysctl::apply(&eng.nl, &eng.links, ops).await;
            }
            if eng.nl.del_link(idx).await.is_ok()
                && eng.log_detail
                && let Some(n) = name
                && let Some(inst) = eng
                    .cfg
                    .instances
                    .iter()
                    .find(|i| i.vmac.as_ref().is_some_and(|v| v.ifname == n))
            {
                tracing::info!("({}) Success removing VMAC interface {n}", inst.fsm.name);
            }
        }
        let in_use: Vec<String> = eng
            .cfg
            .instances
            .iter()
            .map(|i| i.fsm.interface.clone())
            .collect();
        let ops = eng.ifconf.unpromote(&in_use);
        sysctl::apply(&eng.nl, &eng.links, ops).await;
    }
    Ok(())
}

/// keepalived `set_promote_secondaries` for the instances that ask for it
/// (at start and after each reload; a VMAC has it already).
async fn promote_secondaries(
    cfg: &DriverCfg,
    nl: &Netlink,
    links: &HashMap<u32, LinkInfo>,
    ifc: &mut IfConf,
) {
    for inst in cfg
        .instances
        .iter()
        .filter(|i| i.promote_secondaries && i.vmac.is_none())
    {
        let ops = ifc.promote(&inst.fsm.interface, &sysctl::ProcSys);
        sysctl::apply(nl, links, ops).await;
    }
}

fn track_if_input(t: &TrackIfCfg, up: bool) -> Input {
    if t.weight == 0 {
        Input::TrackerFault {
            tracker: Tracker::Interface(t.name.clone()),
            failed: !up,
        }
    } else {
        Input::TrackWeight {
            tracker: format!("interface {}", t.name),
            weight: tracker_contribution(t.weight, t.reverse, up),
        }
    }
}

impl Engine {
    /// Runs every timer that is due.
    async fn tick(&mut self) {
        let now = Instant::now();
        let mut outs = Vec::new();
        for u in 0..self.units.len() {
            if self.unit_poll_at(u).is_some_and(|t| t <= now) {
                // Each instance re-arms from its own processing time,
                // as keepalived does: instances drift apart instead of
                // staying in lock-step, so one late wake-up delays a
                // few adverts rather than a whole phase of them.
                outs.extend(self.feed_unit(Instant::now(), u, Input::Tick));
            }
        }
        // Instances due together (same phase) send their adverts
        // before anyone's GARP bursts or netlink work, so that a
        // thousand delayed GARPs cannot make adverts late. Each
        // instance's own order is kept: the FSM puts adverts first.
        let (adverts, rest): (Vec<Out>, Vec<Out>) = outs
            .into_iter()
            .partition(|o| matches!(o, Out::Act(_, Action::SendAdvert(_))));
        self.exec(adverts).await;
        self.exec(rest).await;
    }

    fn instance_mut(&mut self, i: usize) -> Option<&mut Instance> {
        let (u, m) = *self.loc.get(i)?;
        match (self.units.get_mut(u)?, m) {
            (Unit::Single(inst, _), _) => Some(inst),
            (Unit::Group { group, .. }, Some(m)) => Some(group.member_mut(m)),
            (Unit::Group { .. }, None) => None,
        }
    }

    /// SIGHUP: diff the running configuration against `cfg` and switch
    /// (see [`crate::reload`]). Everything that can fail (interfaces,
    /// VMACs, sockets, state machine checks) is done first; on error the
    /// running configuration is untouched. Returns the new receive channel.
    async fn reload(
        &mut self,
        cfg: DriverCfg,
        epoch: u64,
        inputs: Vec<(usize, Input)>,
    ) -> Result<mpsc::UnboundedReceiver<RxEvent>, DriverError> {
        let plan = crate::reload::plan(&self.cfg, &cfg);
        let built = build(&cfg, &self.nl, &mut self.links, &mut self.ifconf).await?;
        promote_secondaries(&cfg, &self.nl, &self.links, &mut self.ifconf).await;
        if let Some(g) = &self.garp {
            g.set_intervals(cfg.garp_interval, cfg.gna_interval);
        }
        let now = Instant::now();

        // Removed instances go first, with the old numbering: a MASTER
        // sends priority 0 and drops its addresses (even with -V).
        self.removing = true;
        for &i in &plan.stopped {
            let Some(inst) = self.instance_mut(i) else {
                continue;
            };
            let was_fault = inst.state() == State::Fault;
            let priority = inst.effective_priority();
            let outs = inst.remove().into_iter().map(|a| Out::Act(i, a)).collect();
            self.exec(outs).await;
            let _ = self.events.send(Event::Deleted {
                instance: i,
                was_fault,
                priority,
            });
        }
        self.removing = false;
        for k in &plan.kept {
            self.remove_diff(k, &cfg).await;
        }
        for name in &plan.unused_vmacs {
            if let Some(l) = by_name(&self.links, name)
                && let Some(p) = self.vmacs.iter().position(|v| *v == l.index)
            {
                self.vmacs.remove(p);
                let ops = self.ifconf.vmac_removed(name);
                sysctl::apply(&self.nl, &self.links, ops).await;
                let _ = self.nl.del_link(l.index).await;
            }
        }

        // Take the state machines out of their units.
        let mut prev_groups = HashMap::new();
        let mut old: Vec<Option<Instance>> = (0..self.io.len()).map(|_| None).collect();
        for u in std::mem::take(&mut self.units) {
            match u {
                Unit::Single(inst, i) => old[i] = Some(*inst),
                Unit::Group { group, members } => {
                    prev_groups.insert(group.name().to_owned(), group.state());
                    for (inst, i) in group.into_members().into_iter().zip(members) {
                        old[i] = Some(inst);
                    }
                }
            }
        }

        // Switch the I/O over.
        for t in self.rx_tasks.drain(..) {
            t.abort();
        }
        let (rx_tx, rx_rx) = mpsc::unbounded_channel();
        self.rx_tasks = spawn_rx(built.rx, &built.io, &rx_tx);
        self.io = built.io;
        self.tx = built.tx;
        self.forwarding6.extend(built.forwarding6);
        self.vmacs.extend(built.created_vmacs);
        self.epoch = epoch;

        // Kept instances continue in their state; the others start afresh
        // from the tracker state (interfaces now, scripts and files as the
        // daemon carries them over).
        let mut per: Vec<Vec<Input>> = vec![Vec::new(); built.fsms.len()];
        for (j, input) in built.pre_inputs.into_iter().chain(inputs) {
            if let Some(v) = per.get_mut(j) {
                v.push(input);
            }
        }
        let mut outs = Vec::new();
        let mut fsms = Vec::new();
        for (j, (fresh, inputs)) in built.fsms.into_iter().zip(per).enumerate() {
            let was_fault = plan
                .old_of(j)
                .and_then(|k| old[k.old].as_ref())
                .is_some_and(|o| o.state() == State::Fault);
            let kept = plan
                .old_of(j)
                .and_then(|k| old[k.old].take().map(|o| (k.added_addrs, o)))
                .filter(|(_, o)| matches!(o.state(), State::Master | State::Backup));
            if let Some((added, mut inst)) = kept {
                let ts = TrackerState::from_inputs(&fresh.cfg().interface, &inputs);
                if let Ok(acts) = inst.reconfigure(now, fresh.cfg().clone(), ts, added) {
                    outs.extend(acts.into_iter().map(|a| Out::Act(j, a)));
                    fsms.push(inst);
                    continue;
                }
            }
            let mut inst = fresh;
            inst.started_by_reload();
            if was_fault {
                inst.continues_fault();
            }
            for input in inputs {
                outs.extend(inst.handle(now, input).into_iter().map(|a| Out::Act(j, a)));
            }
            fsms.push(inst);
        }
        let (units, loc, group_outs) = make_units(now, &cfg.sync_groups, fsms, Some(&prev_groups));
        self.units = units;
        self.loc = loc;
        self.cfg = cfg;
        let _ = self.events.send(Event::Reloaded { epoch });
        outs.extend(group_outs);
        let mut notified = Vec::new();
        let mut groups_notified = Vec::new();
        let note = |outs: &[Out], notified: &mut Vec<usize>, groups: &mut Vec<usize>| {
            for o in outs {
                match o {
                    Out::Act(i, Action::Notify(_)) => notified.push(*i),
                    Out::GroupNotify(u, _) => groups.push(*u),
                    _ => {}
                }
            }
        };
        note(&outs, &mut notified, &mut groups_notified);
        self.exec(outs).await;
        self.fw_vmacs();
        self.fw_sync();
        // New standalone instances start; kept ones ignore this. As in
        // keepalived's vrrp_init_state, what did not change state at the
        // reload (a kept MASTER aside) may have its state re-sent, in turn.
        for u in 0..self.units.len() {
            let outs = self.feed_unit(Instant::now(), u, Input::Prepare);
            note(&outs, &mut notified, &mut groups_notified);
            self.exec(outs).await;
        }
        for u in 0..self.units.len() {
            let outs = self.feed_unit(Instant::now(), u, Input::Startup);
            note(&outs, &mut notified, &mut groups_notified);
            self.exec(outs).await;
            let (members, group_state) = match &self.units[u] {
                Unit::Single(_, i) => (vec![*i], None),
                Unit::Group { group, members } => (members.clone(), Some(group.state())),
            };
            if let Some(state) = group_state
                && !groups_notified.contains(&u)
            {
                let _ = self.events.send(Event::GroupUnchanged { group: u, state });
            }
            for i in members.into_iter().filter(|i| !notified.contains(i)) {
                let state = self.state_of(i);
                if matches!(state, State::Backup | State::Fault) {
                    let _ = self.events.send(Event::Unchanged {
                        instance: i,
                        state,
                        priority: self.master_priority(i),
                    });
                }
            }
        }
        Ok(rx_rx)
    }

    /// What kept instance `k` no longer has goes, if it is set (keepalived
    /// `clear_diff_vrrp`: rules, routes, then addresses).
    async fn remove_diff(&mut self, k: &Kept, new: &DriverCfg) {
        let set = self.instance_mut(k.old).is_some_and(|i| i.vips_set());
        let io = &self.io[k.old];
        let new_name = &new.instances[k.new].fsm.name;
        if k.all_rules_removed {
            tracing::info!("Removing a VirtualRule block");
        }
        if !set {
            return;
        }
        for &p in &k.removed_rules {
            let Some(r) = io.rules.get(p) else { continue };
            if self.log_detail {
                let a = |x: Option<(IpAddr, u8)>| x.map(|(a, l)| addr_str(a, l));
                tracing::info!(
                    "ip rule from {}{}{} removed",
                    a(r.from).unwrap_or_else(|| "all".into()),
                    if r.to.is_some() { " to " } else { "" },
                    a(r.to).unwrap_or_default()
                );
            }
            let _ = self.nl.del_rule(r).await;
        }
        if k.all_routes_removed && self.log_detail {
            tracing::info!("Removing a VirtualRoute block");
        }
        for &p in &k.removed_routes {
            let Some((r, oif)) = io.routes.get(p) else {
                continue;
            };
            if self.log_detail && !k.all_routes_removed {
                tracing::info!("Removing route {}", addr_str(r.dst, r.dst_len));
            }
            let _ = self.nl.del_route(r, *oif).await;
        }
        for &(p, q) in &k.replaced_routes {
            let (Some((r, oif)), Some(n)) = (io.routes.get(p), new.instances[k.new].routes.get(q))
            else {
                continue;
            };
            // The device is part of the key, so the old interface index
            // holds. If the kernel refuses (say, a source that is a VIP not
            // yet added), the old route goes and the re-add after the
            // reload puts the new one in, as keepalived does.
            if self.nl.replace_route(n, *oif).await.is_err() {
                let _ = self.nl.del_route(r, *oif).await;
            }
        }
        for (p, dev) in &k.removed_addrs {
            let Some((v, idx)) = io.addrs.get(*p) else {
                continue;
            };
            tracing::info!(
                "({new_name}) ip address {}/{} dev {dev}, no longer exist",
                v.addr,
                v.prefix
            );
            let _ = self.nl.del_addr(*idx, v).await;
        }
    }

    fn unit_poll_at(&self, u: usize) -> Option<Instant> {
        match &self.units[u] {
            Unit::Single(i, _) => i.poll_at(),
            Unit::Group { group, .. } => group.poll_at(),
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        (0..self.units.len())
            .filter_map(|u| self.unit_poll_at(u))
            .min()
    }

    /// Feeds every member of unit `u` (Startup, Tick, Shutdown).
    fn feed_unit(&mut self, now: Instant, u: usize, input: Input) -> Vec<Out> {
        match &mut self.units[u] {
            Unit::Single(inst, i) => {
                let i = *i;
                inst.handle(now, input)
                    .into_iter()
                    .map(|a| Out::Act(i, a))
                    .collect()
            }
            Unit::Group { group, members } => {
                let outs = group.handle_all(now, input);
                convert_group(u, members, outs)
            }
        }
    }

    /// Feeds one instance (through its group if it has one).
    fn feed(&mut self, now: Instant, i: usize, input: Input) -> Vec<Out> {
        let (u, m) = self.loc[i];
        match (&mut self.units[u], m) {
            (Unit::Single(inst, _), _) => inst
                .handle(now, input)
                .into_iter()
                .map(|a| Out::Act(i, a))
                .collect(),
            (Unit::Group { group, members }, Some(m)) => {
                let outs = group.handle(now, m, input);
                convert_group(u, members, outs)
            }
            (Unit::Group { .. }, None) => Vec::new(),
        }
    }

    fn snapshot(&self, i: usize) -> Option<crate::dump::Snapshot> {
        let (u, m) = self.loc[i];
        let inst = match (&self.units[u], m) {
            (Unit::Single(inst, _), _) => inst,
            (Unit::Group { group, .. }, Some(m)) => &group.members()[m],
            _ => return None,
        };
        Some(crate::dump::Snapshot::of(inst))
    }

    fn state_of(&self, i: usize) -> State {
        let (u, m) = self.loc[i];
        match (&self.units[u], m) {
            (Unit::Single(inst, _), _) => inst.state(),
            (Unit::Group { group, .. }, Some(m)) => group.members()[m].state(),
            _ => State::Init,
        }
    }

    async fn exec(&mut self, outs: Vec<Out>) {
        for o in outs {
            match o {
                Out::Act(i, a) => self.act(i, a).await,
                Out::Log(l) => self.log(&l),
                Out::GroupNotify(u, state) => {
                    // Groups are the first units, in configuration order.
                    let _ = self.events.send(Event::Group { group: u, state });
                }
            }
        }
    }

    fn log(&self, l: &LogLine) {
        if !l.detail || self.log_detail {
            tracing::info!("{}", l.text);
        }
    }

    async fn act(&mut self, i: usize, a: Action) {
        // A span entered across an await would leak into other futures;
        // instrument the whole step instead.
        let span = self.io[i].span.clone();
        self.act_in_span(i, a).instrument(span).await;
    }

    async fn act_in_span(&mut self, i: usize, a: Action) {
        match a {
            Action::Log(l) => self.log(&l),
            Action::SendAdvert(adv) => self.send_advert(i, &adv),
            Action::AddVips => self.add_vips(i).await,
            Action::DelVips => self.del_vips(i).await,
            Action::SendGratuitousArps { repeat } => self.send_garps(i, &self.io[i].addrs, repeat),
            Action::SendExtraIfGarps => self.send_garps(i, &self.io[i].extra_garps, 1),
            Action::Notify(transition) => {
                let _ = self.events.send(Event::Instance {
                    instance: i,
                    transition,
                });
            }
            Action::NotifyMasterRxLowerPri => {
                let priority = self.master_priority(i);
                let _ = self.events.send(Event::MasterRxLowerPri {
                    instance: i,
                    priority,
                });
            }
            Action::NotifyPriority { state, priority } => {
                let _ = self.events.send(Event::Priority {
                    instance: i,
                    state,
                    priority,
                });
            }
        }
    }

    fn master_priority(&self, i: usize) -> Priority {
        let (u, m) = self.loc[i];
        match (&self.units[u], m) {
            (Unit::Single(inst, _), _) => inst.effective_priority(),
            (Unit::Group { group, .. }, Some(m)) => group.members()[m].effective_priority(),
            _ => Priority::STOP,
        }
    }

    fn send_advert(&mut self, i: usize, adv: &crate::wire::Advert) {
        let io = &self.io[i];
        let sock = &mut self.tx[io.tx];
        let dsts: Vec<(IpAddr, u8)> = if io.peers.is_empty() {
            vec![(io.dst_mcast, 255)]
        } else {
            io.peers.iter().map(|p| (*p, io.unicast_ttl)).collect()
        };
        for (dst, ttl) in dsts {
            let r = match (io.src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => sock.send_v4(adv, s, d, ttl, io.v3_as_v2),
                (IpAddr::V6(s), IpAddr::V6(d)) => sock.send_v6(adv, s, d),
                _ => Err(std::io::Error::other("address family mismatch")),
            };
            if let Err(e) = r {
                let errno = e.raw_os_error().unwrap_or(0);
                // keepalived keeps quiet about the priority-0 advert of an
                // instance whose interface just went down
                let if_up = by_name(&self.links, &io.base_if).is_some_and(|l| l.up);
                if adv.priority == crate::Priority::STOP && errno == libc::ENETUNREACH && !if_up {
                    continue;
                }
                let text = match e.raw_os_error() {
                    Some(n) => nix::errno::Errno::from_raw(n).desc().to_owned(),
                    None => e.to_string(),
                };
                if io.peers.is_empty() {
                    tracing::info!("({}): send advert error {errno} ({text})", io.name);
                } else {
                    tracing::info!("({}) Cant send advert to {dst} ({text})", io.name);
                }
            }
        }
    }

    async fn add_vips(&mut self, i: usize) {
        // the drop rule before the addresses, as keepalived
        if self.io[i].fw_drop {
            if self.log_detail {
                tracing::info!("({}) setting firewall drop rule", self.io[i].name);
            }
            let add = self.fw_addrs(i);
            self.fw_update(&add, &[]);
        }
        let io = &self.io[i];
        if self.log_detail {
            tracing::info!("({}) setting VIPs.", io.name);
        }
        for (v, idx) in &io.addrs {
            if let Err(e) = self.nl.add_addr(*idx, v).await
                && netlink::errno(&e) != Some(libc::EEXIST)
            {
                tracing::warn!("({}) cannot add VIP {}/{}: {e}", io.name, v.addr, v.prefix);
            }
        }
        for (r, oif) in &io.routes {
            if let Err(e) = self.nl.add_route(r, *oif).await
                && !e.contains("File exists")
            {
                tracing::warn!(
                    "({}) cannot add route {}/{}: {e}",
                    io.name,
                    r.dst,
                    r.dst_len
                );
            }
        }
        for r in &io.rules {
            if let Err(e) = self.nl.add_rule(r).await
                && netlink::errno(&e) != Some(libc::EEXIST)
            {
                tracing::warn!("({}) cannot add rule: {e}", io.name);
            }
        }
    }

    async fn del_vips(&mut self, i: usize) {
        let io = &self.io[i];
        let stopping = self.state_of(i) == State::Stop;
        if stopping && !self.release_on_stop && !self.removing {
            return;
        }
        if self.log_detail {
            tracing::info!("({}) removing VIPs.", io.name);
        }
        for r in &io.rules {
            let _ = self.nl.del_rule(r).await;
        }
        for (r, oif) in &io.routes {
            let _ = self.nl.del_route(r, *oif).await;
        }
        for (v, idx) in &io.addrs {
            let _ = self.nl.del_addr(*idx, v).await;
        }
        if io.fw_drop {
            if self.log_detail {
                tracing::info!("({}) removing firewall drop rule", io.name);
            }
            let del = self.fw_addrs(i);
            self.fw_update(&[], &del);
        }
    }

    /// The drop-set entries of instance `i`'s VIPs and eVIPs. A link-local
    /// one goes by interface name with `dont_track_primary` when it is on
    /// the instance's interface, as keepalived keys it (the interface may
    /// come back with another index).
    fn fw_addrs(&self, i: usize) -> Vec<crate::nft::FwAddr> {
        let io = &self.io[i];
        let own = self
            .links
            .values()
            .find(|l| l.name == io.base_if)
            .map(|l| l.index);
        io.addrs
            .iter()
            .map(|(v, idx)| {
                let name = self.links.get(idx).map_or("", |l| l.name.as_str());
                let by_name = !self.fw.cfg.ifindex
                    && io.dont_track_primary
                    && (Some(*idx) == own || v.no_track);
                crate::nft::FwAddr::of(v.addr, *idx, name, by_name)
            })
            .collect()
    }

    /// keepalived's IGMP/MLD rules for VMACs: every VMAC of an instance
    /// (and its base interface) in the map of the instance's family, and of
    /// the other one when it has eVIPs of that family. At start, and after
    /// a reload.
    fn fw_vmacs(&mut self) {
        use crate::nft::{NFPROTO_IPV4, NFPROTO_IPV6};
        let mut want = std::collections::BTreeSet::new();
        for inst in &self.cfg.instances {
            let Some(v) = &inst.vmac else { continue };
            if self.cfg.disable_local_igmp && inst.family() == Family::V4 {
                continue;
            }
            let (Some(vmac), Some(base)) = (
                self.links.values().find(|l| l.name == v.ifname),
                self.links.values().find(|l| l.name == inst.fsm.interface),
            ) else {
                continue;
            };
            let (own, other) = match inst.family() {
                Family::V4 => (NFPROTO_IPV4, NFPROTO_IPV6),
                Family::V6 => (NFPROTO_IPV6, NFPROTO_IPV4),
            };
            want.insert((own, vmac.index, base.index));
            if inst
                .evips
                .iter()
                .any(|e| e.addr.is_ipv4() != (inst.family() == Family::V4))
            {
                want.insert((other, vmac.index, base.index));
            }
        }
        let held: Vec<(u8, u32, u32)> = self.fw.vmac_entries().copied().collect();
        for (f, vmac, base) in held.into_iter().filter(|e| !want.contains(e)) {
            if let Some(b) = self.fw.vmac(&[f], vmac, base, false, &[]) {
                self.fw_send(&b);
            }
        }
        for (f, vmac, base) in want {
            let before = self.fw.state();
            let old = self.fw_old_tables();
            if let Some(b) = self.fw.vmac(&[f], vmac, base, true, &old)
                && !self.fw_send(&b)
            {
                self.fw.restore(before);
            }
        }
    }

    /// Before our first table: a table of ours left by an earlier run
    /// (keepalived's or ours) is found, to be deleted first, with
    /// keepalived's line.
    fn fw_old_tables(&mut self) -> Vec<u8> {
        let mut old = Vec::new();
        if self.fw.checked_old {
            return old;
        }
        self.fw.checked_old = true;
        for family in [crate::nft::NFPROTO_IPV4, crate::nft::NFPROTO_IPV6] {
            let req = self.fw.get_table(family);
            if self
                .fw_socket()
                .is_some_and(|s| s.has_table(&req).unwrap_or(false))
            {
                tracing::info!(
                    "Deleting old ip{} {} table",
                    if family == crate::nft::NFPROTO_IPV4 {
                        ""
                    } else {
                        "6"
                    },
                    self.fw.cfg.table
                );
                old.push(family);
            }
        }
        old
    }

    /// After a reload: the drop sets hold the VIPs of exactly the masters
    /// that drop (an instance gone, an address gone, accept mode changed).
    fn fw_sync(&mut self) {
        let mut want = std::collections::BTreeSet::new();
        for i in 0..self.io.len() {
            if self.io[i].fw_drop && self.state_of(i) == State::Master {
                want.extend(self.fw_addrs(i));
            }
        }
        let held: Vec<crate::nft::FwAddr> = self.fw.elements().cloned().collect();
        let del: Vec<_> = held
            .iter()
            .filter(|a| !want.contains(*a))
            .cloned()
            .collect();
        let add: Vec<_> = want.into_iter().collect();
        self.fw_update(&add, &del);
    }

    fn fw_update(&mut self, add: &[crate::nft::FwAddr], del: &[crate::nft::FwAddr]) {
        let before = self.fw.state();
        let old = if add.iter().any(|a| !self.fw.has(a)) {
            self.fw_old_tables()
        } else {
            Vec::new()
        };
        let Some(b) = self.fw.update(add, del, &old) else {
            return;
        };
        if !self.fw_send(&b) {
            self.fw.restore(before);
        }
    }

    fn fw_socket(&mut self) -> Option<&nftsock::NftSocket> {
        if self.fw_sock.is_none() {
            match nftsock::NftSocket::open() {
                Ok(s) => self.fw_sock = Some(s),
                Err(e) => tracing::warn!("nftables: cannot open netlink socket: {e}"),
            }
        }
        self.fw_sock.as_ref()
    }

    /// Sends a batch; false (logged) if the kernel refused it.
    fn fw_send(&mut self, b: &crate::nft::Batch) -> bool {
        let Some(sock) = self.fw_socket() else {
            return false;
        };
        match sock.exchange(b) {
            Ok(()) => true,
            Err((errno, seq)) => {
                tracing::warn!(
                    "nftables: request {seq} failed: {}",
                    nix::errno::Errno::from_raw(errno).desc()
                );
                false
            }
        }
    }

    /// Announces `addrs` (VIPs with their device's index), `repeat` times
    /// each.
    fn send_garps(&self, i: usize, addrs: &[(VipCfg, u32)], repeat: u32) {
        let Some(g) = &self.garp else { return };
        let io = &self.io[i];
        for (v, idx) in addrs {
            let Some(link) = self.links.get(idx) else {
                continue;
            };
            match v.addr {
                IpAddr::V4(a) => {
                    if self.log_detail {
                        tracing::info!(
                            "({}) Sending/queueing gratuitous ARPs on {} for {a}",
                            io.name,
                            link.name
                        );
                    }
                    g.send(GarpJob::Arp {
                        ifindex: *idx,
                        ifname: link.name.clone(),
                        mac: link.mac,
                        vip: a,
                        repeat,
                    });
                }
                IpAddr::V6(a) => {
                    if self.log_detail {
                        tracing::info!(
                            "({}) Sending/queueing Unsolicited Neighbour Adverts on {} for {a}",
                            io.name,
                            link.name
                        );
                    }
                    g.send(GarpJob::Na {
                        ifindex: *idx,
                        ifname: link.name.clone(),
                        mac: link.mac,
                        vip: a,
                        router: self.forwarding6.get(idx).copied().unwrap_or(false),
                        repeat,
                    });
                }
            }
        }
    }

    /// An address deleted: if it is a tracked VIP/eVIP of a master, that
    /// master leaves MASTER and soon takes it back, putting the address
    /// back (keepalived `address_is_ours` then `set_vrrp_backup`). The
    /// prefix must match too, so that a reload changing a VIP's prefix
    /// (delete, then add) moves nothing.
    async fn addr_removed(&mut self, a: netlink::AddrInfo) {
        let now = Instant::now();
        for i in 0..self.io.len() {
            let ours = self.io[i].addrs.iter().any(|(v, idx)| {
                *idx == a.index && v.addr == a.addr && v.prefix == a.prefix && !v.no_track
            });
            if !ours || self.state_of(i) != State::Master {
                continue;
            }
            if self.log_detail {
                let ifname = self.links.get(&a.index).map_or("", |l| l.name.as_str());
                tracing::info!(
                    "Netlink reflector reports IP {} removed from {ifname}",
                    a.addr
                );
            }
            let outs = self.feed(now, i, Input::AddressRemoved);
            self.exec(outs).await;
            // one instance per address, as keepalived's first match
            return;
        }
    }

    async fn link_event(&mut self, ev: LinkEvent) {
        let (info, removed) = match ev {
            LinkEvent::AddrRemoved(a) => return self.addr_removed(a).await,
            LinkEvent::Changed(info) => (info, false),
            LinkEvent::Removed { index } => match self.links.get(&index) {
                Some(l) => (
                    LinkInfo {
                        up: false,
                        ..l.clone()
                    },
                    true,
                ),
                None => return,
            },
        };
        let was_up = self.links.get(&info.index).map(|l| l.up);
        if removed {
            self.links.remove(&info.index);
        } else {
            self.links.insert(info.index, info.clone());
        }
        if was_up == Some(info.up) {
            return;
        }
        tracing::info!(
            "Netlink reports {} {}",
            info.name,
            if info.up { "up" } else { "down" }
        );
        let now = Instant::now();
        for i in 0..self.io.len() {
            let mut inputs = Vec::new();
            if self.io[i].base_if == info.name && !self.io[i].dont_track_primary {
                inputs.push(if info.up {
                    Input::IfaceUp
                } else {
                    Input::IfaceDown
                });
            }
            for t in &self.io[i].track_if {
                if t.name == info.name {
                    inputs.push(track_if_input(t, info.up));
                }
            }
            if self.io[i].base_if != info.name
                && self.io[i]
                    .addrs
                    .iter()
                    .any(|(v, idx)| *idx == info.index && !v.no_track)
            {
                // keepalived tracks the devices of VIPs unless `no_track`.
                inputs.push(Input::TrackerFault {
                    tracker: Tracker::Interface(info.name.clone()),
                    failed: !info.up,
                });
            }
            for input in inputs {
                let outs = self.feed(now, i, input);
                self.exec(outs).await;
            }
            // The kernel drops IPv6 addresses on link down; a master whose
            // VIPs live there must put them back.
            if info.up && self.state_of(i) == State::Master {
                let io = &self.io[i];
                for (v, idx) in &io.addrs {
                    if *idx == info.index && v.addr.is_ipv6() {
                        let _ = self.nl.add_addr(*idx, v).await;
                    }
                }
            }
        }
    }
}

/// keepalived `ipaddresstos`: the prefix length only when not a host.
fn addr_str(a: IpAddr, len: u8) -> String {
    let host = if a.is_ipv4() { 32 } else { 128 };
    if len == host {
        a.to_string()
    } else {
        format!("{a}/{len}")
    }
}

fn convert_group(u: usize, members: &[usize], outs: Vec<GroupOutput>) -> Vec<Out> {
    outs.into_iter()
        .map(|o| match o {
            GroupOutput::Member { index, action } => Out::Act(members[index], action),
            GroupOutput::Log(l) => Out::Log(l),
            GroupOutput::Notify { state } => Out::GroupNotify(u, state),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsm::InstanceCfg;
    use crate::types::Vrid;
    use crate::wire::Addrs;

    /// An instance with `garp_extra_if 1` (`all` if asked) and one VIP per
    /// entry of `devs` (10.0.0.N on that ifindex).
    fn inst(all: bool, vmac: Option<bool>, devs: &[u32]) -> (InstanceRt, Vec<(VipCfg, u32)>) {
        let vip = |n: usize| Ipv4Addr::new(10, 0, 0, n as u8 + 1);
        let mut fsm = InstanceCfg::new(
            "VI_1",
            "eth0",
            Vrid::new(1).unwrap(),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254)),
            Addrs::V4((0..devs.len()).map(vip).collect()),
        );
        fsm.garp.extra_if = Some(std::time::Duration::from_secs(1));
        fsm.garp.extra_if_all = all;
        let mut rt = InstanceRt::new(fsm);
        rt.vmac = vmac.map(|xmit_base| VmacCfg {
            xmit_base,
            ..VmacCfg::default_for(1, Family::V4)
        });
        let links = devs
            .iter()
            .enumerate()
            .map(|(n, d)| (VipCfg::new(IpAddr::V4(vip(n)), 24), *d))
            .collect();
        (rt, links)
    }

    fn announced(r: Option<Vec<(VipCfg, u32)>>) -> Option<Vec<(String, u32)>> {
        r.map(|v| {
            v.into_iter()
                .map(|(c, i)| (c.addr.to_string(), i))
                .collect()
        })
    }

    // Interfaces: 1 the instance's, 2 another, 5 its VMAC, 6 another
    // instance's VMAC.
    #[test]
    fn extra_interfaces_as_keepalived_counts_them() {
        let vmacs = [5, 6];
        // Only the own interface: off, even with `all`.
        let (i, l) = inst(true, None, &[1, 1]);
        assert_eq!(announced(extra_if_garps(&i, &l, 1, &vmacs)), None);
        // Another plain interface: off without `all`; with it, the first
        // VIP there, once.
        let (i, l) = inst(false, None, &[1, 2, 2]);
        assert_eq!(announced(extra_if_garps(&i, &l, 1, &vmacs)), None);
        let (i, l) = inst(true, None, &[1, 2, 2]);
        assert_eq!(
            announced(extra_if_garps(&i, &l, 1, &vmacs)),
            Some(vec![("10.0.0.2".into(), 2)])
        );
        // Another instance's VMAC counts without `all`; plain ones then
        // are not announced.
        let (i, l) = inst(false, None, &[1, 2, 6]);
        assert_eq!(
            announced(extra_if_garps(&i, &l, 1, &vmacs)),
            Some(vec![("10.0.0.3".into(), 6)])
        );
        // With its own VMAC (5), the VIPs there are announced only with
        // vmac_xmit_base; the base interface (1) is then an extra one.
        let (i, l) = inst(true, Some(false), &[5, 1]);
        assert_eq!(
            announced(extra_if_garps(&i, &l, 5, &vmacs)),
            Some(vec![("10.0.0.2".into(), 1)])
        );
        let (i, l) = inst(true, Some(true), &[5, 1]);
        assert_eq!(
            announced(extra_if_garps(&i, &l, 5, &vmacs)),
            Some(vec![("10.0.0.1".into(), 5), ("10.0.0.2".into(), 1)])
        );
        // Without garp_extra_if nothing, whatever the interfaces.
        let (mut i, l) = inst(true, None, &[1, 2]);
        i.fsm.garp.extra_if = None;
        assert_eq!(announced(extra_if_garps(&i, &l, 1, &vmacs)), None);
    }
}
