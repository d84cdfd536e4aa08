//! Plain IPVS values: virtual services, real servers and the whole table we
//! manage, with no netlink types. Nothing here does I/O; `wire` turns these
//! values into attributes and `plan` compares two tables.
//!
//! `Table`'s `Display` prints exactly what `ipvsadm -Sn` prints (ipvsadm 1.31,
//! `ipvsadm.c` `print_service_entry` with `FMT_RULE | FMT_NUMERIC`), so the
//! same text serves logs, golden tests and comparison with the kernel in the
//! VM tests. `{:#}` adds `-x`/`-y` thresholds, which `ipvsadm -S` omits.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

/// Address family of a service or real server (`AF_INET`/`AF_INET6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Af {
    Inet,
    Inet6,
}

impl Af {
    /// Linux `AF_INET` (2) / `AF_INET6` (10).
    pub const fn number(self) -> u16 {
        match self {
            Af::Inet => 2,
            Af::Inet6 => 10,
        }
    }

    pub const fn from_number(n: u16) -> Option<Af> {
        match n {
            2 => Some(Af::Inet),
            10 => Some(Af::Inet6),
            _ => None,
        }
    }

    pub const fn of(addr: &IpAddr) -> Af {
        match addr {
            IpAddr::V4(_) => Af::Inet,
            IpAddr::V6(_) => Af::Inet6,
        }
    }

    /// The persistence netmask the kernel gets when none is configured:
    /// 255.255.255.255 for IPv4, prefix 128 for IPv6 (what ipvsadm and
    /// keepalived send).
    pub const fn default_netmask(self) -> u32 {
        match self {
            Af::Inet => u32::MAX,
            Af::Inet6 => 128,
        }
    }
}

/// Transport protocol of an address/port service.
///
/// Equality and order go by protocol number, so `Other(6)` equals `Tcp`;
/// [`Protocol::from_number`] never builds such a value.
#[derive(Debug, Clone, Copy)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
    /// Any other IP protocol number (the kernel also knows AH and ESP).
    Other(u16),
}

impl Protocol {
    pub const fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
            Protocol::Other(n) => n,
        }
    }

    pub const fn from_number(n: u16) -> Protocol {
        match n {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            132 => Protocol::Sctp,
            n => Protocol::Other(n),
        }
    }

    /// ipvsadm's service option (`option_from_protocol`, with its
    /// `--xxx-service` fallback).
    pub const fn ipvsadm_option(self) -> &'static str {
        match self {
            Protocol::Tcp => "-t",
            Protocol::Udp => "-u",
            Protocol::Sctp => "--sctp-service",
            Protocol::Other(_) => "--xxx-service",
        }
    }
}

impl PartialEq for Protocol {
    fn eq(&self, other: &Self) -> bool {
        self.number() == other.number()
    }
}
impl Eq for Protocol {}
impl PartialOrd for Protocol {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Protocol {
    fn cmp(&self, other: &Self) -> Ordering {
        self.number().cmp(&other.number())
    }
}
impl std::hash::Hash for Protocol {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.number().hash(state);
    }
}

/// What identifies a virtual service in the kernel. The address family of
/// an `Inet` service is its address's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKey {
    /// `-t/-u/--sctp-service ADDR:PORT`.
    Inet {
        proto: Protocol,
        addr: IpAddr,
        port: u16,
    },
    /// `-f MARK [-6]`. The kernel treats mark 0 as "no fwmark", so a
    /// `Fwmark` key needs a non-zero mark.
    Fwmark { af: Af, mark: u32 },
}

impl ServiceKey {
    pub fn tcp(sa: SocketAddr) -> ServiceKey {
        ServiceKey::Inet {
            proto: Protocol::Tcp,
            addr: sa.ip(),
            port: sa.port(),
        }
    }

    pub fn udp(sa: SocketAddr) -> ServiceKey {
        ServiceKey::Inet {
            proto: Protocol::Udp,
            addr: sa.ip(),
            port: sa.port(),
        }
    }

    pub fn sctp(sa: SocketAddr) -> ServiceKey {
        ServiceKey::Inet {
            proto: Protocol::Sctp,
            addr: sa.ip(),
            port: sa.port(),
        }
    }

    pub fn fwmark(af: Af, mark: u32) -> ServiceKey {
        ServiceKey::Fwmark { af, mark }
    }

    pub fn af(&self) -> Af {
        match self {
            ServiceKey::Inet { addr, .. } => Af::of(addr),
            ServiceKey::Fwmark { af, .. } => *af,
        }
    }

    /// The fields ipvsadm sorts on (`ipvs_cmp_services`): fwmark (0 for
    /// address services), family, protocol, address, port.
    fn sort_key(&self) -> (u32, Af, u16, Option<IpAddr>, u16) {
        match *self {
            ServiceKey::Inet { proto, addr, port } => {
                (0, Af::of(&addr), proto.number(), Some(addr), port)
            }
            // The kernel reports fwmark services with protocol TCP and a
            // zero address; those don't break ties among equal marks, af does.
            ServiceKey::Fwmark { af, mark } => (mark, af, 0, None, 0),
        }
    }
}

/// Sorted the way `ipvsadm -S` sorts, so `Table`'s display lines come out in
/// ipvsadm's order. (ipvsadm compares by subtracting unsigned values into an
/// `int`, which misorders values more than 2^31 apart, e.g. 10.0.0.1 vs
/// 192.168.0.1; this order is the intended numeric one.)
impl Ord for ServiceKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}
impl PartialOrd for ServiceKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// ipvsadm's service spec in rule form: `-t 10.0.0.1:80`,
/// `-u [2001:db8::1]:53`, `-f 7`, `-f 7 -6`.
impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ServiceKey::Inet { proto, addr, port } => {
                write!(f, "{} {}", proto.ipvsadm_option(), AddrPort(addr, port))
            }
            ServiceKey::Fwmark { af: Af::Inet, mark } => write!(f, "-f {mark}"),
            ServiceKey::Fwmark {
                af: Af::Inet6,
                mark,
            } => write!(f, "-f {mark} -6"),
        }
    }
}

/// `addr:port` with IPv6 in brackets, as `addrport_to_anyname` prints with -n.
struct AddrPort(IpAddr, u16);

impl fmt::Display for AddrPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.1),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.1),
        }
    }
}

/// `IP_VS_SVC_F_*` service flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SvcFlags(pub u32);

impl SvcFlags {
    pub const PERSISTENT: SvcFlags = SvcFlags(0x0001);
    /// Set by the kernel on every service it holds; never configuration.
    pub const HASHED: SvcFlags = SvcFlags(0x0002);
    pub const ONEPACKET: SvcFlags = SvcFlags(0x0004);
    pub const SCHED1: SvcFlags = SvcFlags(0x0008);
    pub const SCHED2: SvcFlags = SvcFlags(0x0010);
    pub const SCHED3: SvcFlags = SvcFlags(0x0020);
    pub const SH_FALLBACK: SvcFlags = SvcFlags::SCHED1;
    pub const SH_PORT: SvcFlags = SvcFlags::SCHED2;
    pub const MH_FALLBACK: SvcFlags = SvcFlags::SCHED1;
    pub const MH_PORT: SvcFlags = SvcFlags::SCHED2;
    const SCHED_ANY: u32 = 0x0008 | 0x0010 | 0x0020;

    pub const fn empty() -> SvcFlags {
        SvcFlags(0)
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn contains(self, other: SvcFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: SvcFlags) -> SvcFlags {
        SvcFlags(self.0 | other.0)
    }

    pub const fn difference(self, other: SvcFlags) -> SvcFlags {
        SvcFlags(self.0 & !other.0)
    }

    /// The flags as configuration: without `HASHED`, which dumps always
    /// report (set 0x1, read back 0x3).
    pub const fn config(self) -> SvcFlags {
        self.difference(SvcFlags::HASHED)
    }
}

impl std::ops::BitOr for SvcFlags {
    type Output = SvcFlags;
    fn bitor(self, rhs: SvcFlags) -> SvcFlags {
        self.union(rhs)
    }
}

impl std::ops::BitOrAssign for SvcFlags {
    fn bitor_assign(&mut self, rhs: SvcFlags) {
        *self = self.union(rhs);
    }
}

/// An IPVS scheduler. Equality goes by name, so an `Other` holding a known
/// name still equals the named variant; [`Scheduler::from_name`] never
/// builds one.
#[derive(Debug, Clone)]
pub enum Scheduler {
    Rr,
    Wrr,
    Lc,
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Fo,
    Ovf,
    Mh,
    Twos,
    /// A scheduler module this crate doesn't know by name (the kernel
    /// reports `none` for a service without one).
    Other(String),
}

impl Scheduler {
    pub fn name(&self) -> &str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Mh => "mh",
            Scheduler::Twos => "twos",
            Scheduler::Other(s) => s,
        }
    }

    pub fn from_name(name: &str) -> Scheduler {
        match name {
            "rr" => Scheduler::Rr,
            "wrr" => Scheduler::Wrr,
            "lc" => Scheduler::Lc,
            "wlc" => Scheduler::Wlc,
            "lblc" => Scheduler::Lblc,
            "lblcr" => Scheduler::Lblcr,
            "dh" => Scheduler::Dh,
            "sh" => Scheduler::Sh,
            "sed" => Scheduler::Sed,
            "nq" => Scheduler::Nq,
            "fo" => Scheduler::Fo,
            "ovf" => Scheduler::Ovf,
            "mh" => Scheduler::Mh,
            "twos" => Scheduler::Twos,
            other => Scheduler::Other(other.to_owned()),
        }
    }
}

impl PartialEq for Scheduler {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}
impl Eq for Scheduler {}

impl FromStr for Scheduler {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Scheduler::from_name(s))
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The configuration of a virtual service: everything
/// `IPVS_CMD_SET_SERVICE` can change in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub sched: Scheduler,
    pub flags: SvcFlags,
    /// Persistence timeout in seconds (meaningful with `PERSISTENT`).
    pub timeout: u32,
    /// Persistence granularity: IPv4 a mask as a number
    /// (`u32::from(Ipv4Addr)`, 0xffffff00 for /24), IPv6 a prefix length.
    /// `None` is the family default (see [`Af::default_netmask`]); decoded
    /// dumps use `None` for the default, so tables compare equal.
    pub netmask: Option<u32>,
    /// Persistence engine (`sip`).
    pub pe_name: Option<String>,
}

impl Service {
    pub fn new(sched: Scheduler) -> Service {
        Service {
            sched,
            flags: SvcFlags::empty(),
            timeout: 0,
            netmask: None,
            pe_name: None,
        }
    }

    /// Equivalent of `-p SECS`.
    pub fn persistent(mut self, timeout: u32) -> Service {
        self.flags |= SvcFlags::PERSISTENT;
        self.timeout = timeout;
        self
    }

    pub fn netmask_or_default(&self, af: Af) -> u32 {
        self.netmask.unwrap_or(af.default_netmask())
    }

    /// Whether the kernel would hold the same configuration for both, for a
    /// service of family `af`: `HASHED` is kernel bookkeeping, and an
    /// explicit default netmask is the same as none.
    pub fn same_config(&self, other: &Service, af: Af) -> bool {
        self.sched == other.sched
            && self.flags.config() == other.flags.config()
            && self.timeout == other.timeout
            && self.netmask_or_default(af) == other.netmask_or_default(af)
            && self.pe_name.as_deref().unwrap_or("") == other.pe_name.as_deref().unwrap_or("")
    }
}

/// A real server within a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestKey {
    pub addr: IpAddr,
    pub port: u16,
}

impl DestKey {
    pub fn new(sa: SocketAddr) -> DestKey {
        DestKey {
            addr: sa.ip(),
            port: sa.port(),
        }
    }

    pub fn af(&self) -> Af {
        Af::of(&self.addr)
    }
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        AddrPort(self.addr, self.port).fmt(f)
    }
}

/// Tunnel checksum option (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunCsum {
    #[default]
    NoCsum,
    Csum,
    RemCsum,
}

impl TunCsum {
    pub const fn number(self) -> u16 {
        match self {
            TunCsum::NoCsum => 0,
            TunCsum::Csum => 1,
            TunCsum::RemCsum => 2,
        }
    }

    pub const fn from_number(n: u16) -> Option<TunCsum> {
        match n {
            0 => Some(TunCsum::NoCsum),
            1 => Some(TunCsum::Csum),
            2 => Some(TunCsum::RemCsum),
            _ => None,
        }
    }

    const fn ipvsadm_option(self) -> &'static str {
        match self {
            TunCsum::NoCsum => "--tun-nocsum",
            TunCsum::Csum => "--tun-csum",
            TunCsum::RemCsum => "--tun-remcsum",
        }
    }
}

/// Tunnel encapsulation of a tunnel-forwarded real server. Each variant
/// carries only what the kernel uses for it, so two dests that tunnel the
/// same way compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Tunnel {
    #[default]
    Ipip,
    Gue {
        port: u16,
        csum: TunCsum,
    },
    Gre {
        csum: TunCsum,
    },
}

impl Tunnel {
    /// `IP_VS_CONN_F_TUNNEL_TYPE_*`.
    pub const fn type_number(self) -> u8 {
        match self {
            Tunnel::Ipip => 0,
            Tunnel::Gue { .. } => 1,
            Tunnel::Gre { .. } => 2,
        }
    }

    pub const fn port(self) -> u16 {
        match self {
            Tunnel::Gue { port, .. } => port,
            _ => 0,
        }
    }

    pub const fn csum(self) -> TunCsum {
        match self {
            Tunnel::Ipip => TunCsum::NoCsum,
            Tunnel::Gue { csum, .. } | Tunnel::Gre { csum } => csum,
        }
    }
}

/// Forwarding method (`IP_VS_CONN_F_*` & `IP_VS_CONN_F_FWD_MASK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fwd {
    /// NAT, `-m` (0).
    Masq,
    /// Local node (1); ipvsadm prints it as `-g`.
    Local,
    /// IP tunnelling, `-i` (2).
    Tunnel(Tunnel),
    /// Direct routing, `-g` (3).
    Route,
    /// Cache bypass (4); ipvsadm has no option for it.
    Bypass,
}

impl Fwd {
    pub const fn number(self) -> u32 {
        match self {
            Fwd::Masq => 0,
            Fwd::Local => 1,
            Fwd::Tunnel(_) => 2,
            Fwd::Route => 3,
            Fwd::Bypass => 4,
        }
    }

    /// ipvsadm's `fwd_switch`. It returns NULL for bypass, which glibc's
    /// printf prints as `(null)`.
    const fn ipvsadm_option(self) -> &'static str {
        match self {
            Fwd::Masq => "-m",
            Fwd::Tunnel(_) => "-i",
            Fwd::Local | Fwd::Route => "-g",
            Fwd::Bypass => "(null)",
        }
    }
}

/// The configuration of a real server: everything `IPVS_CMD_SET_DEST` can
/// change in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dest {
    pub fwd: Fwd,
    /// The kernel keeps an `int` and refuses values above `i32::MAX`.
    pub weight: u32,
    /// Upper connection threshold, 0 = none (`-x`).
    pub u_thresh: u32,
    /// Lower connection threshold, 0 = none (`-y`).
    pub l_thresh: u32,
}

impl Dest {
    pub fn new(fwd: Fwd, weight: u32) -> Dest {
        Dest {
            fwd,
            weight,
            u_thresh: 0,
            l_thresh: 0,
        }
    }
}

/// Counters of a service or real server. Dumps carry both a 32-bit
/// (`IPVS_*_ATTR_STATS`) and a 64-bit (`..._STATS64`) set; decoding keeps
/// the 64-bit one when present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stats {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
    pub cps: u64,
    pub inpps: u64,
    pub outpps: u64,
    pub inbps: u64,
    pub outbps: u64,
}

/// A service as a dump reports it: its key, configuration and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub key: ServiceKey,
    pub service: Service,
    pub stats: Stats,
}

/// A real server as a dump reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestEntry {
    pub key: DestKey,
    pub dest: Dest,
    pub active_conns: u32,
    pub inact_conns: u32,
    pub persist_conns: u32,
    pub stats: Stats,
}

/// One virtual service and its real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualService {
    pub service: Service,
    pub dests: BTreeMap<DestKey, Dest>,
}

impl VirtualService {
    pub fn new(service: Service) -> VirtualService {
        VirtualService {
            service,
            dests: BTreeMap::new(),
        }
    }
}

/// Every virtual service and real server, in ipvsadm's order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    pub services: BTreeMap<ServiceKey, VirtualService>,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    /// Adds or replaces a service's configuration, keeping its real servers.
    pub fn insert_service(&mut self, key: ServiceKey, service: Service) -> &mut VirtualService {
        let vs = self
            .services
            .entry(key)
            .or_insert_with(|| VirtualService::new(service.clone()));
        vs.service = service;
        vs
    }

    /// Adds or replaces a real server; `false` if the service is unknown.
    pub fn insert_dest(&mut self, service: &ServiceKey, key: DestKey, dest: Dest) -> bool {
        match self.services.get_mut(service) {
            Some(vs) => {
                vs.dests.insert(key, dest);
                true
            }
            None => false,
        }
    }

    pub fn remove_service(&mut self, key: &ServiceKey) -> Option<VirtualService> {
        self.services.remove(key)
    }

    pub fn remove_dest(&mut self, service: &ServiceKey, key: &DestKey) -> Option<Dest> {
        self.services.get_mut(service)?.dests.remove(key)
    }

    pub fn get(&self, key: &ServiceKey) -> Option<&VirtualService> {
        self.services.get(key)
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Number of real servers over all services.
    pub fn dest_count(&self) -> usize {
        self.services.values().map(|vs| vs.dests.len()).sum()
    }
}

/// `ipvsadm -Sn` output: per service an `-A` line, then its `-a` lines.
/// With `{:#}`, dest lines also carry non-zero `-x`/`-y` thresholds.
impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let thresholds = f.alternate();
        for (key, vs) in &self.services {
            write!(f, "-A ")?;
            write_service_rule(f, key, &vs.service)?;
            writeln!(f)?;
            for (dkey, dest) in &vs.dests {
                write!(f, "-a ")?;
                write_dest_rule(f, key, dkey, dest, thresholds)?;
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// The service part of an `-A`/`-E` rule, in ipvsadm's order:
/// `-s`, then `-p` and `-M` (only when persistent), `--pe`, `-o`, `-b`.
pub(crate) fn write_service_rule(
    f: &mut fmt::Formatter<'_>,
    key: &ServiceKey,
    svc: &Service,
) -> fmt::Result {
    let af = key.af();
    write!(f, "{key} -s {}", svc.sched)?;
    if svc.flags.contains(SvcFlags::PERSISTENT) {
        write!(f, " -p {}", svc.timeout)?;
        let mask = svc.netmask_or_default(af);
        if mask != af.default_netmask() {
            match af {
                Af::Inet => write!(f, " -M {}", Ipv4Addr::from(mask))?,
                // ipvsadm prints the prefix with %i.
                Af::Inet6 => write!(f, " -M {}", mask as i32)?,
            }
        }
    }
    if let Some(pe) = svc.pe_name.as_deref().filter(|pe| !pe.is_empty()) {
        write!(f, " --pe {pe}")?;
    }
    if svc.flags.contains(SvcFlags::ONEPACKET) {
        write!(f, " -o")?;
    }
    if svc.flags.0 & SvcFlags::SCHED_ANY != 0 {
        // ipvsadm prints " -b " even when no name applies (e.g. flag-3
        // on sh), hence the possible trailing space.
        write!(f, " -b ")?;
        let names: &[(SvcFlags, &str)] = match svc.sched.name() {
            "sh" => &[
                (SvcFlags::SH_FALLBACK, "sh-fallback"),
                (SvcFlags::SH_PORT, "sh-port"),
            ],
            "mh" => &[
                (SvcFlags::MH_FALLBACK, "mh-fallback"),
                (SvcFlags::MH_PORT, "mh-port"),
            ],
            _ => &[
                (SvcFlags::SCHED1, "flag-1"),
                (SvcFlags::SCHED2, "flag-2"),
                (SvcFlags::SCHED3, "flag-3"),
            ],
        };
        let mut sep = "";
        for (flag, name) in names {
            if svc.flags.contains(*flag) {
                write!(f, "{sep}{name}")?;
                sep = ",";
            }
        }
    }
    Ok(())
}

/// The dest part of an `-a`/`-e` rule: `SVC -r RS FWD -w W` plus tunnel
/// options as `print_tunnel_rule` prints them.
pub(crate) fn write_dest_rule(
    f: &mut fmt::Formatter<'_>,
    svc: &ServiceKey,
    key: &DestKey,
    dest: &Dest,
    thresholds: bool,
) -> fmt::Result {
    // ipvsadm prints the weight with %d.
    write!(
        f,
        "{svc} -r {key} {} -w {}",
        dest.fwd.ipvsadm_option(),
        dest.weight as i32
    )?;
    if let Fwd::Tunnel(t) = dest.fwd {
        match t {
            Tunnel::Ipip => write!(f, " --tun-type ipip")?,
            Tunnel::Gue { port, csum } => write!(
                f,
                " --tun-type gue --tun-port {port} {}",
                csum.ipvsadm_option()
            )?,
            Tunnel::Gre { csum } => write!(f, " --tun-type gre {}", csum.ipvsadm_option())?,
        }
    }
    if thresholds {
        if dest.u_thresh != 0 {
            write!(f, " -x {}", dest.u_thresh)?;
        }
        if dest.l_thresh != 0 {
            write!(f, " -y {}", dest.l_thresh)?;
        }
    }
    Ok(())
}

/// Connection timeouts in seconds (`ipvsadm --set tcp tcpfin udp`). In a
/// set request 0 leaves that timeout unchanged (kernel semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

/// Role of a connection-sync daemon (`IP_VS_STATE_MASTER`/`BACKUP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncState {
    Master,
    Backup,
}

impl SyncState {
    pub const fn number(self) -> u32 {
        match self {
            SyncState::Master => 1,
            SyncState::Backup => 2,
        }
    }

    pub const fn from_number(n: u32) -> Option<SyncState> {
        match n {
            1 => Some(SyncState::Master),
            2 => Some(SyncState::Backup),
            _ => None,
        }
    }
}

/// A connection-sync daemon (`ipvsadm --start-daemon`, keepalived's
/// `lvs_sync_daemon`). Optional fields are left to the kernel's defaults
/// when `None`; dumps from recent kernels fill them all in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyncDaemon {
    pub state: SyncState,
    pub mcast_ifn: String,
    pub syncid: u32,
    pub sync_maxlen: Option<u16>,
    pub mcast_group: Option<IpAddr>,
    pub mcast_port: Option<u16>,
    pub mcast_ttl: Option<u8>,
}

impl SyncDaemon {
    pub fn new(state: SyncState, mcast_ifn: impl Into<String>, syncid: u32) -> SyncDaemon {
        SyncDaemon {
            state,
            mcast_ifn: mcast_ifn.into(),
            syncid,
            sync_maxlen: None,
            mcast_group: None,
            mcast_port: None,
            mcast_ttl: None,
        }
    }
}

/// `IPVS_CMD_GET_INFO`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpvsInfo {
    /// `IP_VS_VERSION_CODE`, e.g. 0x010201.
    pub version: u32,
    /// Size of the connection hash table.
    pub conn_tab_size: u32,
}

/// `1.2.1 (size=4096)`, as ipvsadm's banner shows it.
impl fmt::Display for IpvsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.version;
        write!(
            f,
            "{}.{}.{} (size={})",
            (v >> 16) & 0xff,
            (v >> 8) & 0xff,
            v & 0xff,
            self.conn_tab_size
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn dk(s: &str) -> DestKey {
        DestKey::new(sa(s))
    }

    /// Expected lines follow ipvsadm 1.31 `print_service_entry` (FMT_RULE)
    /// and `print_tunnel_rule`, read from its source.
    #[test]
    fn display_matches_ipvsadm_save() {
        let mut t = Table::new();
        let web = ServiceKey::tcp(sa("192.0.2.10:80"));
        t.insert_service(web, Service::new(Scheduler::Wlc).persistent(300));
        t.insert_dest(&web, dk("10.0.0.2:80"), Dest::new(Fwd::Masq, 1));
        t.insert_dest(&web, dk("10.0.0.1:80"), Dest::new(Fwd::Route, 100));

        let mut persistent_mask = Service::new(Scheduler::Sh).persistent(60);
        persistent_mask.netmask = Some(0xffff_ff00);
        persistent_mask.flags |= SvcFlags::SH_FALLBACK | SvcFlags::SH_PORT;
        let dns = ServiceKey::udp(sa("192.0.2.10:53"));
        t.insert_service(dns, persistent_mask);

        let v6 = ServiceKey::tcp(sa("[2001:db8::1]:443"));
        let mut s6 = Service::new(Scheduler::Mh).persistent(30);
        s6.netmask = Some(64);
        s6.flags |= SvcFlags::MH_PORT | SvcFlags::ONEPACKET;
        s6.pe_name = Some("sip".into());
        t.insert_service(v6, s6);
        t.insert_dest(
            &v6,
            dk("[2001:db8::20]:443"),
            Dest::new(
                Fwd::Tunnel(Tunnel::Gue {
                    port: 6080,
                    csum: TunCsum::RemCsum,
                }),
                5,
            ),
        );
        t.insert_dest(
            &v6,
            dk("[2001:db8::10]:443"),
            Dest::new(Fwd::Tunnel(Tunnel::Ipip), 0),
        );

        let fw = ServiceKey::fwmark(Af::Inet, 7);
        let mut rr = Service::new(Scheduler::Rr);
        rr.flags |= SvcFlags::SCHED3;
        t.insert_service(fw, rr);
        t.insert_dest(
            &fw,
            dk("10.0.0.3:0"),
            Dest::new(
                Fwd::Tunnel(Tunnel::Gre {
                    csum: TunCsum::Csum,
                }),
                2,
            ),
        );
        let fw6 = ServiceKey::fwmark(Af::Inet6, 7);
        t.insert_service(fw6, Service::new(Scheduler::Wrr));
        t.insert_dest(&fw6, dk("[::1]:0"), Dest::new(Fwd::Local, 1));

        let sctp = ServiceKey::sctp(sa("192.0.2.10:9"));
        t.insert_service(sctp, Service::new(Scheduler::Other("none".into())));

        let expected = "\
-A -t 192.0.2.10:80 -s wlc -p 300
-a -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 100
-a -t 192.0.2.10:80 -r 10.0.0.2:80 -m -w 1
-A -u 192.0.2.10:53 -s sh -p 60 -M 255.255.255.0 -b sh-fallback,sh-port
-A --sctp-service 192.0.2.10:9 -s none
-A -t [2001:db8::1]:443 -s mh -p 30 -M 64 --pe sip -o -b mh-port
-a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -i -w 0 --tun-type ipip
-a -t [2001:db8::1]:443 -r [2001:db8::20]:443 -i -w 5 --tun-type gue --tun-port 6080 --tun-remcsum
-A -f 7 -s rr -b flag-3
-a -f 7 -r 10.0.0.3:0 -i -w 2 --tun-type gre --tun-csum
-A -f 7 -6 -s wrr
-a -f 7 -6 -r [::1]:0 -g -w 1
";
        assert_eq!(t.to_string(), expected);
    }

    #[test]
    fn display_quirks() {
        let mut t = Table::new();
        let k = ServiceKey::tcp(sa("192.0.2.1:80"));
        // Not persistent: -M is not printed even when set; flag-3 on sh
        // prints "-b " with nothing after it.
        let mut s = Service::new(Scheduler::Sh);
        s.netmask = Some(0xffff_0000);
        s.flags |= SvcFlags::SCHED3;
        t.insert_service(k, s);
        t.insert_dest(&k, dk("10.0.0.1:80"), Dest::new(Fwd::Bypass, 1));
        let mut d = Dest::new(Fwd::Masq, 3);
        d.u_thresh = 100;
        d.l_thresh = 10;
        t.insert_dest(&k, dk("10.0.0.2:80"), d);
        assert_eq!(
            t.to_string(),
            "-A -t 192.0.2.1:80 -s sh -b \n\
             -a -t 192.0.2.1:80 -r 10.0.0.1:80 (null) -w 1\n\
             -a -t 192.0.2.1:80 -r 10.0.0.2:80 -m -w 3\n"
        );
        assert_eq!(
            format!("{t:#}"),
            "-A -t 192.0.2.1:80 -s sh -b \n\
             -a -t 192.0.2.1:80 -r 10.0.0.1:80 (null) -w 1\n\
             -a -t 192.0.2.1:80 -r 10.0.0.2:80 -m -w 3 -x 100 -y 10\n"
        );
    }

    #[test]
    fn service_order_follows_ipvsadm() {
        let keys = [
            ServiceKey::fwmark(Af::Inet6, 1),
            ServiceKey::fwmark(Af::Inet, 2),
            ServiceKey::fwmark(Af::Inet, 1),
            ServiceKey::tcp(sa("[::1]:80")),
            ServiceKey::udp(sa("192.0.2.1:80")),
            ServiceKey::tcp(sa("192.0.2.2:80")),
            ServiceKey::tcp(sa("192.0.2.1:443")),
            ServiceKey::tcp(sa("192.0.2.1:80")),
        ];
        let mut sorted = keys.to_vec();
        sorted.sort();
        assert_eq!(
            sorted,
            vec![
                ServiceKey::tcp(sa("192.0.2.1:80")),
                ServiceKey::tcp(sa("192.0.2.1:443")),
                ServiceKey::tcp(sa("192.0.2.2:80")),
                ServiceKey::udp(sa("192.0.2.1:80")),
                ServiceKey::tcp(sa("[::1]:80")),
                ServiceKey::fwmark(Af::Inet, 1),
                ServiceKey::fwmark(Af::Inet6, 1),
                ServiceKey::fwmark(Af::Inet, 2),
            ]
        );
    }

    #[test]
    fn same_config_ignores_hashed_and_default_netmask() {
        let a = Service::new(Scheduler::Rr).persistent(300);
        let mut b = a.clone();
        b.flags |= SvcFlags::HASHED;
        b.netmask = Some(u32::MAX);
        b.pe_name = Some(String::new());
        assert!(a.same_config(&b, Af::Inet));
        assert!(!a.same_config(&b, Af::Inet6), "0xffffffff is not /128");
        b.sched = Scheduler::Other("rr".into());
        assert!(a.same_config(&b, Af::Inet));
        b.timeout = 1;
        assert!(!a.same_config(&b, Af::Inet));
    }

    #[test]
    fn info_display() {
        let i = IpvsInfo {
            version: 0x010201,
            conn_tab_size: 4096,
        };
        assert_eq!(i.to_string(), "1.2.1 (size=4096)");
    }
}
