//! The typed configuration. Plain data: no I/O, no system lookups. Timers
//! are microseconds, as keepalived stores them. Items that later checks may
//! point at keep their `Loc`.
//!
//! Real servers and their checkers can number in the hundreds of thousands,
//! so their types are kept small: settings few of them have are boxed
//! ([`RealServerOpts`], the checker specs other than TCP), checker timers
//! are [`Timer`]s (8 bytes where `Option<u64>` takes 16), and consecutive
//! checkers with equal common options share one [`CheckerCommon`]. Their
//! JSON is the same as if every field were inline.

use crate::diag::Loc;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use std::net::IpAddr;
use std::num::NonZeroU64;
use std::sync::Arc;

/// A timer in microseconds, stored so that `Option<Timer>` fits in 8 bytes.
/// Serialised as the number of microseconds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timer(NonZeroU64);

impl Timer {
    /// `None` only for `u64::MAX`, which no keepalived timer reaches.
    pub fn from_micros(us: u64) -> Option<Timer> {
        us.checked_add(1).and_then(NonZeroU64::new).map(Timer)
    }

    pub fn micros(self) -> u64 {
        self.0.get() - 1
    }
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}us", self.micros())
    }
}

impl Serialize for Timer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.micros())
    }
}

/// A keyword we accept but do not model yet, kept verbatim so nothing is
/// silently dropped (and so `--dump-json` shows it).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Raw {
    pub keyword: String,
    pub args: Vec<String>,
    pub loc: Loc,
}

/// A command with its user: `notify_*`, `script`, `misc_path`, `quorum_*`.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Script {
    /// argv after keepalived's quote and escape processing.
    pub argv: Vec<String>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct RootOpts {
    pub net_namespace: Option<String>,
    pub net_namespace_ipvs: Option<String>,
    pub namespace_with_ipsets: bool,
    pub use_pid_dir: bool,
    pub instance: Option<String>,
    pub child_wait_time: Option<u32>,
    pub linkbeat_use_polling: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Fifo {
    pub path: String,
    pub user: Option<String>,
    pub group: Option<String>,
    pub script: Option<Script>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct LvsSyncDaemon {
    pub interface: String,
    pub instance: Option<String>,
    pub syncid: Option<u8>,
    pub maxlen: Option<u16>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
    pub group: Option<IpAddr>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct GlobalDefs {
    pub router_id: Option<String>,
    pub notification_email: Vec<String>,
    pub notification_email_from: Option<String>,
    pub smtp_server: Option<(String, u16)>,
    pub smtp_connect_timeout: Option<u32>,
    pub smtp_helo_name: Option<String>,
    pub smtp_alert: Option<bool>,
    pub smtp_alert_vrrp: Option<bool>,
    pub smtp_alert_checker: Option<bool>,
    pub no_email_faults: bool,
    pub no_checker_emails: bool,
    pub checker_log_all_failures: bool,
    pub rs_init_notifies: bool,
    pub enable_script_security: bool,
    pub script_user: Option<(String, Option<String>)>,
    pub set_supplementary_groups: bool,
    pub use_symlink_paths: bool,
    pub startup_script: Option<Script>,
    pub startup_script_timeout: Option<u32>,
    pub shutdown_script: Option<Script>,
    pub shutdown_script_timeout: Option<u32>,
    pub default_interface: Option<String>,
    pub vrrp_mcast_group4: Option<IpAddr>,
    pub vrrp_mcast_group6: Option<IpAddr>,
    pub vrrp_version: Option<u8>,
    /// `max_auto_priority`: 99 (SCHED_RR's maximum) when given bare, -1
    /// disables; keepalived logs a NOTICE at start while it is unset or 0.
    pub max_auto_priority: Option<i32>,
    /// `min_auto_priority_delay`: microseconds (1..=10,000,000) a timer may
    /// be late before keepalived logs it and raises the real-time priority
    /// (up to `max_auto_priority`); keepalived's default 1,000,000.
    pub min_auto_priority_delay: Option<u32>,
    /// `nftables [TABLE]`: the table of the VRRP drop rules (keepalived's
    /// default "keepalived"; used anyway when an instance needs it).
    pub nftables: Option<String>,
    /// `nftables_priority`: the chains' priority (default -1).
    pub nftables_priority: Option<i32>,
    /// `nftables_ifindex`: link-local VIPs keyed by interface index even
    /// with `dont_track_primary`.
    pub nftables_ifindex: bool,
    /// `nftables_counters`: a counter in each rule.
    pub nftables_counters: bool,
    /// `disable_local_igmp`: while the VRRP process runs, IPv4 link-local
    /// IGMP reports are off (net.ipv4.igmp_link_local_mcast_reports), and
    /// IPv4 VMACs get no IGMP firewall rules. Fixed at start.
    pub disable_local_igmp: bool,
    /// `reload_check_config [LOGFILE]`: a reload first runs the new
    /// configuration through `-t`, which writes to LOGFILE (/dev/null when
    /// bare); a failed test cancels the reload.
    pub reload_check_config: Option<String>,
    /// `reload_file [FILE]`: a file that exists while a reload reads the
    /// configuration; `Some(None)` is keepalived's default name.
    pub reload_file: Option<Option<String>>,
    /// `reload_time_file FILE`: the parent reloads at the time the file
    /// holds (`HH:MM:SS`, `YY-MM-DD HH:MM:SS` or `YYYY-MM-DD HH:MM:SS`,
    /// `Z` for UTC), then removes it unless `reload_repeat` (time only).
    pub reload_time_file: Option<String>,
    pub reload_repeat: bool,
    pub vrrp_strict: bool,
    pub vrrp_skip_check_adv_addr: bool,
    pub vrrp_check_unicast_src: bool,
    pub vrrp_garp_interval: Option<u64>,
    pub vrrp_gna_interval: Option<u64>,
    pub vrrp_garp_master_delay: Option<u32>,
    pub vrrp_garp_master_repeat: Option<u32>,
    pub vrrp_garp_master_refresh: Option<u32>,
    pub vrrp_garp_master_refresh_repeat: Option<u32>,
    pub vrrp_garp_lower_prio_delay: Option<u32>,
    pub vrrp_garp_lower_prio_repeat: Option<u32>,
    pub vrrp_min_garp: bool,
    /// `vrrp_garp_extra_if` / `vrrp_vmac_garp_intvl`: seconds (1..=86400)
    /// between gratuitous ARPs / NAs on the VIPs' other interfaces, for
    /// instances that do not set their own.
    pub vrrp_garp_extra_if: Option<u32>,
    /// Its `all` word: every other interface, not only VMACs. Kept even
    /// when the line is otherwise rejected, as keepalived keeps it.
    pub vrrp_garp_extra_if_all: bool,
    pub vrrp_down_timer_adverts: Option<u32>,
    pub vrrp_lower_prio_no_advert: Option<bool>,
    pub vrrp_higher_prio_send_advert: Option<bool>,
    pub vrrp_owner_ignore_adverts: Option<bool>,
    pub v3_checksum_as_v2: bool,
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    /// (tcp, tcpfin, udp) seconds.
    pub lvs_timeouts: (Option<u32>, Option<u32>, Option<u32>),
    pub lvs_flush: bool,
    pub lvs_flush_on_stop: Option<String>,
    pub notify_fifo: Option<Fifo>,
    pub vrrp_notify_fifo: Option<Fifo>,
    pub lvs_notify_fifo: Option<Fifo>,
    pub vrrp_notify_priority_changes: bool,
    pub fifo_write_vrrp_states_on_reload: bool,
    pub vrrp_startup_delay: Option<u64>,
    pub vrrp_delay_after_boot: Option<u64>,
    pub log_unknown_vrids: bool,
    pub random_seed: Option<u64>,
    pub include_check: Option<u8>,
    /// `vrrp_priority`, `vrrp_no_swap`, `vrrp_rt_priority`,
    /// `vrrp_rlimit_rttime`, `vrrp_cpu_affinity`.
    pub vrrp_sched: ProcessSched,
    /// The same `checker_*` settings.
    pub checker_sched: ProcessSched,
    /// `process_name`: the parent's name (comm), at most 15 bytes.
    pub process_name: Option<String>,
    /// `vrrp_process_name` (or `process_names`: keepalived_vrrp).
    pub vrrp_process_name: Option<String>,
    /// `checker_process_name` / `lvs_process_name` (or `process_names`:
    /// keepalived_lvs).
    pub checker_process_name: Option<String>,
    pub extra: Vec<Raw>,
}

/// How a child process is scheduled (keepalived's `set_process_priorities`).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ProcessSched {
    /// Nice value, -20..=19.
    pub priority: i32,
    /// Locked in memory.
    pub no_swap: bool,
    /// SCHED_RR priority; 0 keeps the normal scheduler.
    pub rt_priority: u32,
    /// RLIMIT_RTTIME in microseconds while real-time (keepalived's default
    /// 10,000 when unset).
    pub rlimit_rttime: Option<u64>,
    /// The CPUs it may run on; empty for all.
    pub cpu_affinity: Vec<u32>,
}

/// A `virtual_ipaddress`, `virtual_ipaddress_excluded` or `static_ipaddress` entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IpAddress {
    pub addr: IpAddr,
    pub prefix: u8,
    pub dev: Option<String>,
    pub scope: Option<String>,
    pub broadcast: Option<String>,
    pub label: Option<String>,
    pub peer: Option<String>,
    pub flags: Vec<String>,
    pub preferred_lft: Option<String>,
    pub track_group: Option<String>,
    pub loc: Loc,
}

/// A `virtual_routes` / `static_routes` entry (`ip route` syntax).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Route {
    pub route_type: Option<String>,
    pub dst: String,
    pub src: Option<String>,
    pub via: Option<String>,
    pub dev: Option<String>,
    pub table: Option<String>,
    pub metric: Option<u32>,
    pub scope: Option<String>,
    pub protocol: Option<String>,
    pub no_track: bool,
    pub track_group: Option<String>,
    pub nexthops: Vec<Vec<String>>,
    /// Every word as written (options we validate only by name).
    pub words: Vec<String>,
    pub loc: Loc,
}

/// A `virtual_rules` / `static_rules` entry (`ip rule` syntax).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Rule {
    pub not: bool,
    pub from: Option<String>,
    pub to: Option<String>,
    pub preference: Option<u32>,
    pub table: Option<String>,
    pub action: Option<String>,
    pub fwmark: Option<String>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub no_track: bool,
    pub track_group: Option<String>,
    pub words: Vec<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct VrrpScript {
    pub name: String,
    pub script: Option<Script>,
    pub interval: u64,
    pub timeout: Option<u64>,
    pub weight: i32,
    pub weight_reverse: bool,
    pub rise: u32,
    pub fall: u32,
    pub user: Option<(String, Option<String>)>,
    pub init_fail: bool,
    pub loc: Loc,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct TrackFile {
    pub name: String,
    pub file: Option<String>,
    pub weight: i32,
    pub weight_reverse: bool,
    pub init_file: Option<(i64, bool)>,
    pub loc: Loc,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct TrackProcess {
    pub name: String,
    pub process: Vec<String>,
    pub weight: i32,
    pub weight_reverse: bool,
    pub quorum: u32,
    pub quorum_max: Option<u32>,
    pub extra: Vec<Raw>,
    pub loc: Loc,
}

/// One line of a `track_interface` / `track_script` / … block.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Track {
    pub name: String,
    pub weight: Option<i32>,
    pub reverse: bool,
    pub loc: Loc,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Tracking {
    pub interface: Vec<Track>,
    pub script: Vec<Track>,
    pub file: Vec<Track>,
    pub process: Vec<Track>,
    pub bfd: Vec<Track>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Notify {
    pub master: Option<Script>,
    pub backup: Option<Script>,
    pub fault: Option<Script>,
    pub stop: Option<Script>,
    pub deleted: Option<Option<Script>>,
    pub notify: Option<Script>,
    pub master_rx_lower_pri: Option<Script>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct SyncGroup {
    pub name: String,
    pub group: Vec<(String, Loc)>,
    pub notify: Notify,
    pub smtp_alert: Option<bool>,
    pub notify_priority_changes: Option<bool>,
    pub track: Tracking,
    pub sync_group_tracking_weight: bool,
    pub loc: Loc,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum VrrpState {
    Master,
    Backup,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum AuthType {
    Pass,
    Ah,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Authentication {
    pub auth_type: Option<AuthType>,
    pub auth_pass: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
    pub loc: Loc,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Vmac {
    pub ifname: Option<String>,
    pub mac: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct VrrpInstance {
    pub name: String,
    pub state: Option<VrrpState>,
    pub interface: Option<(String, Loc)>,
    pub virtual_router_id: Option<u8>,
    pub priority: Option<u8>,
    /// Microseconds.
    pub advert_int: Option<u64>,
    pub version: Option<u8>,
    pub authentication: Option<Authentication>,
    pub virtual_ipaddress: Vec<IpAddress>,
    pub virtual_ipaddress_excluded: Vec<IpAddress>,
    pub no_virtual_ipaddress: bool,
    pub virtual_routes: Vec<Route>,
    pub virtual_rules: Vec<Rule>,
    pub track: Tracking,
    pub dont_track_primary: bool,
    pub nopreempt: bool,
    pub preempt_delay: Option<u64>,
    pub notify: Notify,
    pub notify_priority_changes: Option<bool>,
    pub smtp_alert: Option<bool>,
    pub unicast_peer: Vec<UnicastPeer>,
    pub unicast_src_ip: Option<IpAddr>,
    pub mcast_src_ip: Option<IpAddr>,
    pub mcast_dst_ip: Option<IpAddr>,
    pub unicast_ttl: Option<u8>,
    pub unicast_fault_no_peer: bool,
    /// A unicast keyword was given (`unicast_peer`, `unicast_src_ip`,
    /// `check_unicast_src`, `unicast_fault_no_peer`): without peers,
    /// keepalived then warns and uses multicast. Not in the JSON dump.
    #[serde(skip)]
    pub unicast_configured: bool,
    pub check_unicast_src: bool,
    pub track_src_ip: bool,
    pub native_ipv6: bool,
    pub v3_checksum_as_v2: Option<bool>,
    pub accept: Option<bool>,
    pub strict_mode: Option<bool>,
    pub skip_check_adv_addr: Option<bool>,
    pub use_vmac: Option<Vmac>,
    /// `vmac_xmit_base`: adverts leave from the VMAC's base interface. A
    /// flag of its own, as keepalived's: without `use_vmac` it is refused.
    pub vmac_xmit_base: bool,
    /// `use_vmac_addr`; it makes no VMAC by itself.
    pub use_vmac_addr: bool,
    pub promote_secondaries: bool,
    pub garp_master_delay: Option<u32>,
    pub garp_master_repeat: Option<u32>,
    pub garp_master_refresh: Option<u32>,
    pub garp_master_refresh_repeat: Option<u32>,
    pub garp_lower_prio_delay: Option<u32>,
    pub garp_lower_prio_repeat: Option<u32>,
    /// `garp_extra_if` / `vmac_garp_intvl`: seconds (0..=86400, 0 = off);
    /// `None` takes the global value.
    pub garp_extra_if: Option<u32>,
    /// Its `all` word (kept even when the line is otherwise rejected).
    pub garp_extra_if_all: bool,
    pub down_timer_adverts: Option<u32>,
    pub lower_prio_no_advert: Option<bool>,
    pub higher_prio_send_advert: Option<bool>,
    pub owner_ignore_adverts: Option<bool>,
    pub debug: Option<u8>,
    pub linkbeat_use_polling: bool,
    pub lvs_sync_daemon_interface: Option<String>,
    pub sync_group: Option<String>,
    pub extra: Vec<Raw>,
    pub loc: Loc,
}

/// One entry of a `virtual_server_group`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub enum VsgEntry {
    /// First and last address (equal for a single address) and the port.
    Range {
        first: IpAddr,
        last: IpAddr,
        port: u16,
        loc: Loc,
    },
    Fwmark {
        mark: u32,
        family: Option<Family>,
        loc: Loc,
    },
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct VirtualServerGroup {
    pub name: String,
    pub entries: Vec<VsgEntry>,
    pub loc: Loc,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Inet,
    Inet6,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum LbKind {
    Nat,
    Dr,
    Tun,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Tunnel {
    /// ipip (default), gue, gre.
    pub tun_type: Option<String>,
    pub port: Option<u16>,
    /// nocsum, csum, remcsum.
    pub csum: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LvsMethod {
    pub kind: LbKind,
    /// Boxed: rare, and large next to `kind`.
    pub tunnel: Option<Box<Tunnel>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub enum VsKey {
    Inet { addr: IpAddr, port: u16 },
    Fwmark { mark: u32 },
    Group { name: String },
}

/// Options common to every checker that probes over the network.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct CheckerCommon {
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<Box<str>>,
    pub connect_timeout: Option<Timer>,
    pub fwmark: Option<u32>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Timer>,
    pub warmup: Option<Timer>,
    pub delay_loop: Option<Timer>,
    pub alpha: Option<bool>,
    pub log_all_failures: Option<bool>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Url {
    pub path: Option<String>,
    pub digest: Option<String>,
    /// Inclusive ranges; empty means keepalived's default 200-299.
    pub status_code: Vec<(u16, u16)>,
    pub virtualhost: Option<String>,
    /// `regex`: the pattern as keepalived reads it, quotes and backslash
    /// escapes resolved everywhere (`"\d"` in the file gives `d`; PCRE's
    /// `\d` is written `"\\d"`), so any byte. keepalived takes the last
    /// `regex` line seen when a url block with a path closes, even one
    /// written in an earlier url block that was dropped for having no path.
    pub regex: Option<Vec<u8>>,
    /// Where that `regex`'s pattern was written.
    pub regex_loc: Option<Loc>,
    pub regex_no_match: bool,
    /// `regex_options`: the words keepalived knows, as written.
    pub regex_options: Vec<String>,
    /// `regex_min_offset`; 0 = none.
    pub regex_min_offset: u64,
    /// `regex_max_offset` (the last offset a match may start at).
    pub regex_max_offset: Option<u64>,
    /// `regex_stack START MAX` (JIT stack bytes).
    pub regex_stack: Option<(u64, u64)>,
    pub tls_compliant: bool,
    pub extra: Vec<Raw>,
    pub loc: Loc,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct HttpCheck {
    pub ssl: bool,
    pub urls: Vec<Url>,
    pub virtualhost: Option<String>,
    /// "1.0", "1.0C", "1.1".
    pub http_protocol: Option<String>,
    pub enable_sni: bool,
    pub sni_name: Option<String>,
    pub fast_recovery: bool,
    pub tls_compliant: bool,
}

/// MISC_CHECK's own options (boxed: rare, and large next to the others).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct MiscCheck {
    pub path: Option<Script>,
    pub timeout: Option<u64>,
    pub dynamic: bool,
    pub user: Option<(String, Option<String>)>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct SmtpCheck {
    pub helo_name: Option<String>,
    pub hosts: Vec<CheckerCommon>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct DnsCheck {
    pub qtype: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct UdpCheck {
    pub payload: Option<Vec<u8>>,
    pub require_reply: Option<String>,
    pub min_reply_length: Option<u16>,
    pub max_reply_length: Option<u16>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct FileCheck {
    pub track_file: Option<String>,
    pub weight: Option<i64>,
    pub reverse: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct BfdCheck {
    pub name: Option<String>,
    pub alpha: Option<bool>,
}

/// The checker type and its own options (boxed, so that a TCP_CHECK costs
/// nothing beyond its common options).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub enum CheckerSpec {
    Tcp,
    Http(Box<HttpCheck>),
    Misc(Box<MiscCheck>),
    Smtp(Box<SmtpCheck>),
    Dns(Box<DnsCheck>),
    Ping,
    Udp(Box<UdpCheck>),
    File(Box<FileCheck>),
    Bfd(Box<BfdCheck>),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Checker {
    /// Shared between checkers with equal options (see the module comment).
    pub common: Arc<CheckerCommon>,
    pub spec: CheckerSpec,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RealServer {
    pub addr: IpAddr,
    pub port: u16,
    pub weight: Option<u32>,
    /// Everything else, boxed and only when set (see [`RealServer::opts`]).
    pub opts: Option<Box<RealServerOpts>>,
    pub checkers: Vec<Checker>,
    pub loc: Loc,
}

/// The settings of a real server besides its address and weight.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct RealServerOpts {
    pub lvs_method: Option<LvsMethod>,
    pub inhibit_on_failure: Option<bool>,
    pub notify_up: Option<Script>,
    pub notify_down: Option<Script>,
    pub uthreshold: Option<u32>,
    pub lthreshold: Option<u32>,
    pub alpha: Option<bool>,
    pub smtp_alert: Option<bool>,
    pub virtualhost: Option<String>,
    pub snmp_name: Option<String>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<u64>,
    pub warmup: Option<u64>,
    pub connect_timeout: Option<u64>,
    pub delay_loop: Option<u64>,
}

static NO_RS_OPTS: RealServerOpts = RealServerOpts {
    lvs_method: None,
    inhibit_on_failure: None,
    notify_up: None,
    notify_down: None,
    uthreshold: None,
    lthreshold: None,
    alpha: None,
    smtp_alert: None,
    virtualhost: None,
    snmp_name: None,
    retry: None,
    delay_before_retry: None,
    warmup: None,
    connect_timeout: None,
    delay_loop: None,
};

impl RealServer {
    /// The real server's settings (all unset if it has none).
    pub fn opts(&self) -> &RealServerOpts {
        self.opts.as_deref().unwrap_or(&NO_RS_OPTS)
    }

    pub fn opts_mut(&mut self) -> &mut RealServerOpts {
        self.opts.get_or_insert_with(Box::default)
    }
}

/// The fields of the options inline, as if they were the real server's own.
impl Serialize for RealServer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let o = self.opts();
        let mut st = s.serialize_struct("RealServer", 20)?;
        st.serialize_field("addr", &self.addr)?;
        st.serialize_field("port", &self.port)?;
        st.serialize_field("weight", &self.weight)?;
        st.serialize_field("lvs_method", &o.lvs_method)?;
        st.serialize_field("inhibit_on_failure", &o.inhibit_on_failure)?;
        st.serialize_field("notify_up", &o.notify_up)?;
        st.serialize_field("notify_down", &o.notify_down)?;
        st.serialize_field("uthreshold", &o.uthreshold)?;
        st.serialize_field("lthreshold", &o.lthreshold)?;
        st.serialize_field("alpha", &o.alpha)?;
        st.serialize_field("smtp_alert", &o.smtp_alert)?;
        st.serialize_field("virtualhost", &o.virtualhost)?;
        st.serialize_field("snmp_name", &o.snmp_name)?;
        st.serialize_field("retry", &o.retry)?;
        st.serialize_field("delay_before_retry", &o.delay_before_retry)?;
        st.serialize_field("warmup", &o.warmup)?;
        st.serialize_field("connect_timeout", &o.connect_timeout)?;
        st.serialize_field("delay_loop", &o.delay_loop)?;
        st.serialize_field("checkers", &self.checkers)?;
        st.serialize_field("loc", &self.loc)?;
        st.end()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VirtualServer {
    pub key: VsKey,
    pub delay_loop: Option<u64>,
    pub lb_algo: Option<String>,
    pub lvs_method: Option<LvsMethod>,
    pub persistence_timeout: Option<u32>,
    pub persistence_granularity: Option<String>,
    pub persistence_engine: Option<String>,
    pub protocol: Option<Protocol>,
    pub ops: bool,
    /// flag-1/2/3 (also sh-/mh- names), as IPVS scheduler flag bits 0..2.
    pub sched_flags: u8,
    pub ip_family: Option<Family>,
    pub sorry_server: Option<(IpAddr, u16)>,
    pub sorry_server_inhibit: bool,
    pub sorry_server_lvs_method: Option<Box<LvsMethod>>,
    pub quorum: Option<u32>,
    pub hysteresis: Option<u32>,
    // Boxed: rare, and large.
    pub quorum_up: Option<Box<Script>>,
    pub quorum_down: Option<Box<Script>>,
    pub alpha: bool,
    pub omega: bool,
    pub inhibit_on_failure: bool,
    pub ha_suspend: bool,
    pub virtualhost: Option<String>,
    pub smtp_alert: Option<bool>,
    pub snmp_name: Option<String>,
    pub weight: Option<u32>,
    pub connect_timeout: Option<u64>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<u64>,
    pub warmup: Option<u64>,
    pub real_servers: Vec<RealServer>,
    pub loc: Loc,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct SslCfg {
    pub password: Option<String>,
    pub ca: Option<String>,
    pub certificate: Option<String>,
    pub key: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct TrackGroup {
    pub name: String,
    pub group: Vec<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Config {
    pub root: RootOpts,
    pub global_defs: GlobalDefs,
    pub static_ipaddress: Vec<IpAddress>,
    pub static_routes: Vec<Route>,
    pub static_rules: Vec<Rule>,
    pub track_groups: Vec<TrackGroup>,
    pub linkbeat_interfaces: Vec<Vec<String>>,
    pub interface_up_down_delays: Vec<(String, u64, u64)>,
    pub vrrp_scripts: Vec<VrrpScript>,
    pub track_files: Vec<TrackFile>,
    pub track_processes: Vec<TrackProcess>,
    pub sync_groups: Vec<SyncGroup>,
    pub vrrp_instances: Vec<VrrpInstance>,
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    pub virtual_servers: Vec<VirtualServer>,
    pub ssl: Option<SslCfg>,
    /// Accepted blocks we do not model yet (garp_group, bfd_instance, …).
    pub extra: Vec<Raw>,
}
