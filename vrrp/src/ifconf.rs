//! The per-interface IPv4 parameters keepalived sets for VMACs and for
//! `promote_secondaries`, what they were before, and what is put back at
//! stop. Sans-IO: every method takes the values the driver read and returns
//! the writes (and keepalived's log lines) in the order keepalived does them.
//!
//! What keepalived 2.2.7 does, as observed on Debian's build:
//! - an IPv4 VMAC it creates gets `arp_ignore=1`, `accept_local=1`,
//!   `rp_filter=0` and `promote_secondaries=1`: it must not answer ARP for
//!   the base interface's addresses, must hear its peers' adverts, and must
//!   receive while it has no address of its own;
//! - its base interface gets `arp_ignore=1` and `arp_filter=1` (both written
//!   when either differs), counted per VMAC and put back when the last of
//!   its VMACs goes;
//! - `rp_filter=0` on the VMAC only works with `all.rp_filter=0`: the first
//!   time, `default.rp_filter` and every interface below `all.rp_filter` are
//!   raised to it, then `all` is set to 0 (the NOTICE lines); at stop each
//!   is put back if it still holds what was written;
//! - `promote_secondaries` on an instance sets it on its interface if it is
//!   off, and clears it again at stop.
//!
//! Two deliberate differences from Debian's build (IPV4_DEVCONF), where its
//! bookkeeping loses what it saved: it raises `rp_filter` only on the
//! interfaces it happened to see a link message for after start (in practice
//! the first VMAC's base interface; `lo` stays below `all`), and it "restores"
//! the base interface's `arp_ignore`/`arp_filter` with the values it wrote,
//! so they stay 1 after it stops. We raise every interface, as keepalived's
//! man page says and its /proc build does, and put the base interface back.

use std::collections::{BTreeMap, BTreeSet};

/// An IPv4 devconf entry (`IPV4_DEVCONF_*` in linux/ip.h, 1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Param {
    RpFilter,
    ArpFilter,
    ArpIgnore,
    PromoteSecondaries,
    AcceptLocal,
}

impl Param {
    /// `IPV4_DEVCONF_*`, the attribute type inside `IFLA_INET_CONF`.
    pub fn devconf(self) -> u16 {
        match self {
            Param::RpFilter => 8,
            Param::ArpFilter => 13,
            Param::ArpIgnore => 19,
            Param::PromoteSecondaries => 20,
            Param::AcceptLocal => 23,
        }
    }

    /// The name under /proc/sys/net/ipv4/conf/IFNAME/.
    pub fn name(self) -> &'static str {
        match self {
            Param::RpFilter => "rp_filter",
            Param::ArpFilter => "arp_filter",
            Param::ArpIgnore => "arp_ignore",
            Param::PromoteSecondaries => "promote_secondaries",
            Param::AcceptLocal => "accept_local",
        }
    }
}

/// `net.ipv4.conf.all` or `net.ipv4.conf.default`: only reachable through
/// /proc/sys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    All,
    Default,
}

impl Global {
    pub fn name(self) -> &'static str {
        match self {
            Global::All => "all",
            Global::Default => "default",
        }
    }
}

/// One thing for the driver to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Set IPv4 devconf entries of one interface (RTM_NEWLINK with
    /// IFLA_AF_SPEC/AF_INET/IFLA_INET_CONF, as keepalived does).
    Dev {
        ifname: String,
        set: Vec<(Param, u32)>,
        /// keepalived's lines when the kernel refuses (often none).
        on_error: Vec<String>,
    },
    /// `net.ipv4.conf.{all,default}.rp_filter = value`.
    RpFilter { scope: Global, value: u32 },
    /// A line keepalived logs here (at info).
    Log(String),
}

/// The values the driver read: `None` when unreadable (no such interface).
pub trait Read {
    fn iface(&self, ifname: &str, p: Param) -> Option<u32>;
    fn global(&self, scope: Global) -> Option<u32>;
}

/// A base interface whose ARP settings VMACs changed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Base {
    /// VMACs relying on it.
    refs: usize,
    arp_ignore: u32,
    arp_filter: u32,
}

/// What we changed and must put back.
#[derive(Clone, Debug, Default)]
pub struct IfConf {
    /// `all.rp_filter` as found, once we set it to 0.
    all_rp_filter: Option<u32>,
    /// `default.rp_filter` as found, if we raised it.
    default_rp_filter: Option<u32>,
    /// Interfaces whose rp_filter we raised to `all_rp_filter`, with theirs.
    raised: BTreeMap<String, u32>,
    bases: BTreeMap<String, Base>,
    /// VMACs that hold a reference on their base: vmac → base.
    vmac_base: BTreeMap<String, String>,
    /// Interfaces we set promote_secondaries on.
    promoted: BTreeSet<String>,
}

fn dev(ifname: &str, set: &[(Param, u32)]) -> Op {
    Op::Dev {
        ifname: ifname.to_owned(),
        set: set.to_vec(),
        on_error: Vec::new(),
    }
}

fn dev_or_log(ifname: &str, set: &[(Param, u32)], on_error: &[String]) -> Op {
    Op::Dev {
        ifname: ifname.to_owned(),
        set: set.to_vec(),
        on_error: on_error.to_vec(),
    }
}

impl IfConf {
    pub fn new() -> Self {
        Self::default()
    }

    /// We created the IPv4 VMAC `vmac` on `base`. `ifaces` are the system's
    /// interfaces (the VMACs we created may be among them; they are skipped).
    pub fn vmac_created(
        &mut self,
        vmac: &str,
        base: &str,
        ifaces: &[String],
        vmacs: &[String],
        read: &impl Read,
    ) -> Vec<Op> {
        let mut ops = Vec::new();
        if self.all_rp_filter.is_none() {
            self.clear_rp_filter(ifaces, vmacs, read, &mut ops);
        }
        ops.push(dev_or_log(
            vmac,
            &[
                (Param::ArpIgnore, 1),
                (Param::AcceptLocal, 1),
                (Param::RpFilter, 0),
                (Param::PromoteSecondaries, 1),
            ],
            &[format!("Unable to set parameters for {vmac}")],
        ));
        if vmac == base {
            return ops;
        }
        if let Some(b) = self.bases.get_mut(base) {
            b.refs += 1;
            self.vmac_base.insert(vmac.to_owned(), base.to_owned());
            return ops;
        }
        let arp_ignore = read.iface(base, Param::ArpIgnore);
        let arp_filter = read.iface(base, Param::ArpFilter);
        if let (Some(arp_ignore), Some(arp_filter)) = (arp_ignore, arp_filter)
            && (arp_ignore != 1 || arp_filter != 1)
        {
            ops.push(dev_or_log(
                base,
                &[(Param::ArpIgnore, 1), (Param::ArpFilter, 1)],
                &[
                    format!("Set base flags on {base} failed for VMAC {vmac}"),
                    format!("Unable to set parameters for {vmac}"),
                ],
            ));
            self.bases.insert(
                base.to_owned(),
                Base {
                    refs: 1,
                    arp_ignore,
                    arp_filter,
                },
            );
            self.vmac_base.insert(vmac.to_owned(), base.to_owned());
        }
        ops
    }

    /// keepalived `clear_rp_filter`.
    fn clear_rp_filter(
        &mut self,
        ifaces: &[String],
        vmacs: &[String],
        read: &impl Read,
        ops: &mut Vec<Op>,
    ) {
        let Some(all) = read.global(Global::All) else {
            ops.push(Op::Log(
                "Unable to read sysctl net.ipv4.conf.all.rp_filter".into(),
            ));
            return;
        };
        if all == 0 {
            return;
        }
        self.all_rp_filter = Some(all);
        if let Some(d) = read.global(Global::Default)
            && d < all
        {
            ops.push(Op::Log(format!(
                "NOTICE: setting sysctl net.ipv4.conf.default.rp_filter from {d} to {all}"
            )));
            ops.push(Op::RpFilter {
                scope: Global::Default,
                value: all,
            });
            self.default_rp_filter = Some(d);
        }
        for i in ifaces.iter().filter(|i| !vmacs.contains(i)) {
            if let Some(v) = read.iface(i, Param::RpFilter)
                && v < all
            {
                ops.push(dev(i, &[(Param::RpFilter, all)]));
                self.raised.insert(i.clone(), v);
            }
        }
        ops.push(Op::Log(format!(
            "NOTICE: setting sysctl net.ipv4.conf.all.rp_filter from {all} to 0"
        )));
        ops.push(Op::RpFilter {
            scope: Global::All,
            value: 0,
        });
    }

    /// The IPv4 VMAC `vmac` is being deleted: its base interface gets its
    /// ARP settings back when no other VMAC needs them.
    pub fn vmac_removed(&mut self, vmac: &str) -> Vec<Op> {
        let Some(base) = self.vmac_base.remove(vmac) else {
            return Vec::new();
        };
        let Some(b) = self.bases.get_mut(&base) else {
            return Vec::new();
        };
        b.refs = b.refs.saturating_sub(1);
        if b.refs > 0 {
            return Vec::new();
        }
        let Some(b) = self.bases.remove(&base) else {
            return Vec::new();
        };
        vec![dev_or_log(
            &base,
            &[
                (Param::ArpIgnore, b.arp_ignore),
                (Param::ArpFilter, b.arp_filter),
            ],
            &[
                format!("reset interface flags on {base} failed"),
                format!("Unable to reset parameters for {base}"),
            ],
        )]
    }

    /// keepalived `restore_rp_filter` (at stop, before the VMACs go): each
    /// value goes back if it still holds what we wrote.
    pub fn restore_rp_filter(&mut self, read: &impl Read) -> Vec<Op> {
        let mut ops = Vec::new();
        let Some(all) = self.all_rp_filter.take() else {
            return ops;
        };
        if read.global(Global::All) == Some(0) {
            ops.push(Op::Log(format!(
                "NOTICE: resetting sysctl net.ipv4.conf.all.rp_filter to {all}"
            )));
            ops.push(Op::RpFilter {
                scope: Global::All,
                value: all,
            });
        }
        if let Some(d) = self.default_rp_filter.take()
            && read.global(Global::Default) == Some(all)
        {
            ops.push(Op::Log(format!(
                "NOTICE: resetting sysctl net.ipv4.conf.default.rp_filter to {d}"
            )));
            ops.push(Op::RpFilter {
                scope: Global::Default,
                value: d,
            });
        }
        for (i, v) in std::mem::take(&mut self.raised) {
            if read.iface(&i, Param::RpFilter) == Some(all) {
                ops.push(dev(&i, &[(Param::RpFilter, v)]));
            }
        }
        ops
    }

    /// An instance with `promote_secondaries` runs on `ifname` (at start or
    /// after a reload).
    pub fn promote(&mut self, ifname: &str, read: &impl Read) -> Vec<Op> {
        if self.promoted.contains(ifname)
            || read.iface(ifname, Param::PromoteSecondaries) != Some(0)
        {
            return Vec::new();
        }
        self.promoted.insert(ifname.to_owned());
        vec![dev(ifname, &[(Param::PromoteSecondaries, 1)])]
    }

    /// At stop: promote_secondaries goes off again on the interfaces we set
    /// it on that an instance of the running configuration still uses
    /// (keepalived resets it from the running instances only, so one a
    /// reload left without instances keeps it).
    pub fn unpromote(&mut self, in_use: &[String]) -> Vec<Op> {
        let promoted = std::mem::take(&mut self.promoted);
        promoted
            .into_iter()
            .filter(|i| in_use.contains(i))
            .map(|i| dev(&i, &[(Param::PromoteSecondaries, 0)]))
            .collect()
    }
}

/// `IFLA_INET_CONF` nested attributes, as keepalived sends them: one
/// 8-byte attribute (`IPV4_DEVCONF_*`, u32 value) per entry, host order.
pub fn inet_conf_attrs(set: &[(Param, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(set.len() * 8);
    for (p, v) in set {
        out.extend_from_slice(&8u16.to_ne_bytes());
        out.extend_from_slice(&p.devconf().to_ne_bytes());
        out.extend_from_slice(&v.to_ne_bytes());
    }
    out
}

/// The link-local address keepalived gives an IPv6 VMAC (RFC 5798 §7.4:
/// adverts come from a link-local address, not one made from the virtual
/// MAC): the configured source address, else the base interface's
/// link-local address, else the EUI-64 one of the base interface's MAC.
pub fn vmac_link_local(
    src: Option<std::net::Ipv6Addr>,
    base_ll: Option<std::net::Ipv6Addr>,
    base_mac: [u8; 6],
) -> std::net::Ipv6Addr {
    src.or(base_ll)
        .unwrap_or_else(|| eui64_link_local(base_mac))
}

/// fe80::/64 with the modified EUI-64 interface identifier of `mac`.
pub fn eui64_link_local(mac: [u8; 6]) -> std::net::Ipv6Addr {
    std::net::Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        mac[0] ^ 0x02,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// A fake /proc/sys that applies the ops it is given.
    #[derive(Default)]
    struct Sys {
        v: RefCell<HashMap<(String, Param), u32>>,
        g: RefCell<HashMap<&'static str, u32>>,
    }

    impl Sys {
        fn set(&self, i: &str, p: Param, v: u32) {
            self.v.borrow_mut().insert((i.to_owned(), p), v);
        }
        fn get(&self, i: &str, p: Param) -> u32 {
            self.v.borrow()[&(i.to_owned(), p)]
        }
        fn all(&self) -> u32 {
            self.g.borrow()["all"]
        }
        fn dflt(&self) -> u32 {
            self.g.borrow()["default"]
        }
        fn apply(&self, ops: &[Op]) -> Vec<String> {
            let mut logs = Vec::new();
            for o in ops {
                match o {
                    Op::Dev { ifname, set, .. } => {
                        for (p, v) in set {
                            self.set(ifname, *p, *v);
                        }
                    }
                    Op::RpFilter { scope, value } => {
                        self.g.borrow_mut().insert(scope.name(), *value);
                    }
                    Op::Log(l) => logs.push(l.clone()),
                }
            }
            logs
        }
        fn iface_new(&self, i: &str) {
            for p in [
                Param::RpFilter,
                Param::ArpFilter,
                Param::ArpIgnore,
                Param::PromoteSecondaries,
                Param::AcceptLocal,
            ] {
                self.set(i, p, 0);
            }
        }
    }

    impl Read for Sys {
        fn iface(&self, i: &str, p: Param) -> Option<u32> {
            self.v.borrow().get(&(i.to_owned(), p)).copied()
        }
        fn global(&self, s: Global) -> Option<u32> {
            self.g.borrow().get(s.name()).copied()
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// all.rp_filter=1, default 0, eth0 (base) arp_ignore 0: the NOTICE
    /// lines keepalived logs, the VMAC and base settings, and everything
    /// back after stop.
    #[test]
    fn vmac_start_and_stop() {
        let sys = Sys::default();
        sys.g.borrow_mut().insert("all", 1);
        sys.g.borrow_mut().insert("default", 0);
        for i in ["lo", "eth0", "eth1", "vrrp.50"] {
            sys.iface_new(i);
        }
        sys.set("eth1", Param::RpFilter, 2);
        let ifs = names(&["lo", "eth0", "eth1", "vrrp.50"]);
        let vm = names(&["vrrp.50"]);
        let mut c = IfConf::new();
        let ops = c.vmac_created("vrrp.50", "eth0", &ifs, &vm, &sys);
        let logs = sys.apply(&ops);
        assert_eq!(
            logs,
            [
                "NOTICE: setting sysctl net.ipv4.conf.default.rp_filter from 0 to 1",
                "NOTICE: setting sysctl net.ipv4.conf.all.rp_filter from 1 to 0",
            ]
        );
        assert_eq!((sys.all(), sys.dflt()), (0, 1));
        assert_eq!(sys.get("lo", Param::RpFilter), 1);
        assert_eq!(sys.get("eth0", Param::RpFilter), 1);
        assert_eq!(sys.get("eth1", Param::RpFilter), 2, "never lowered");
        for (p, v) in [
            (Param::ArpIgnore, 1),
            (Param::AcceptLocal, 1),
            (Param::RpFilter, 0),
            (Param::PromoteSecondaries, 1),
        ] {
            assert_eq!(sys.get("vrrp.50", p), v, "{p:?}");
        }
        assert_eq!(sys.get("eth0", Param::ArpIgnore), 1);
        assert_eq!(sys.get("eth0", Param::ArpFilter), 1);
        // What keepalived logs if the kernel refuses the base's settings.
        let base_err = ops.iter().find_map(|o| match o {
            Op::Dev {
                ifname, on_error, ..
            } if ifname == "eth0" && !on_error.is_empty() => Some(on_error.clone()),
            _ => None,
        });
        assert_eq!(
            base_err.unwrap(),
            [
                "Set base flags on eth0 failed for VMAC vrrp.50",
                "Unable to set parameters for vrrp.50"
            ]
        );
        // The VMAC's own rp_filter is set by its own list, not raised.
        assert!(!ops.iter().any(|o| matches!(o,
            Op::Dev { ifname, set, .. } if ifname == "vrrp.50" && set.contains(&(Param::RpFilter, 1)))));

        // Stop: rp_filter first (all, then default), then the VMAC goes.
        let logs = sys.apply(&c.restore_rp_filter(&sys));
        assert_eq!(
            logs,
            [
                "NOTICE: resetting sysctl net.ipv4.conf.all.rp_filter to 1",
                "NOTICE: resetting sysctl net.ipv4.conf.default.rp_filter to 0",
            ]
        );
        sys.apply(&c.vmac_removed("vrrp.50"));
        assert_eq!((sys.all(), sys.dflt()), (1, 0));
        for i in ["lo", "eth0"] {
            assert_eq!(sys.get(i, Param::RpFilter), 0, "{i}");
        }
        assert_eq!(sys.get("eth1", Param::RpFilter), 2);
        assert_eq!(sys.get("eth0", Param::ArpIgnore), 0);
        assert_eq!(sys.get("eth0", Param::ArpFilter), 0);
        // Nothing more to do a second time.
        assert!(c.restore_rp_filter(&sys).is_empty());
    }

    /// all.rp_filter=0: nothing global changes and nothing is logged.
    #[test]
    fn rp_filter_already_off() {
        let sys = Sys::default();
        sys.g.borrow_mut().insert("all", 0);
        sys.g.borrow_mut().insert("default", 0);
        sys.iface_new("eth0");
        sys.iface_new("vrrp.1");
        let mut c = IfConf::new();
        let ops = c.vmac_created(
            "vrrp.1",
            "eth0",
            &names(&["eth0", "vrrp.1"]),
            &names(&["vrrp.1"]),
            &sys,
        );
        assert!(
            !ops.iter()
                .any(|o| matches!(o, Op::Log(_) | Op::RpFilter { .. }))
        );
        assert!(c.restore_rp_filter(&sys).is_empty());
    }

    /// Values someone else changed while we ran are left alone at stop.
    #[test]
    fn restore_only_what_still_holds_our_value() {
        let sys = Sys::default();
        sys.g.borrow_mut().insert("all", 2);
        sys.g.borrow_mut().insert("default", 1);
        sys.iface_new("eth0");
        sys.iface_new("vrrp.1");
        let mut c = IfConf::new();
        sys.apply(&c.vmac_created(
            "vrrp.1",
            "eth0",
            &names(&["eth0", "vrrp.1"]),
            &names(&["vrrp.1"]),
            &sys,
        ));
        assert_eq!((sys.all(), sys.dflt()), (0, 2));
        sys.g.borrow_mut().insert("all", 1);
        sys.g.borrow_mut().insert("default", 0);
        sys.set("eth0", Param::RpFilter, 1);
        let ops = c.restore_rp_filter(&sys);
        assert!(ops.is_empty(), "{ops:?}");
    }

    /// Two VMACs on one base: its ARP settings come back with the last.
    #[test]
    fn base_reference_count() {
        let sys = Sys::default();
        sys.g.borrow_mut().insert("all", 0);
        sys.g.borrow_mut().insert("default", 0);
        for i in ["eth0", "vrrp.1", "vrrp.2"] {
            sys.iface_new(i);
        }
        sys.set("eth0", Param::ArpFilter, 1);
        let ifs = names(&["eth0", "vrrp.1", "vrrp.2"]);
        let vm = names(&["vrrp.1", "vrrp.2"]);
        let mut c = IfConf::new();
        sys.apply(&c.vmac_created("vrrp.1", "eth0", &ifs, &vm, &sys));
        let second = c.vmac_created("vrrp.2", "eth0", &ifs, &vm, &sys);
        assert_eq!(second.len(), 1, "only the VMAC's own settings: {second:?}");
        sys.apply(&second);
        assert!(c.vmac_removed("vrrp.1").is_empty());
        sys.apply(&c.vmac_removed("vrrp.2"));
        assert_eq!(sys.get("eth0", Param::ArpIgnore), 0);
        assert_eq!(sys.get("eth0", Param::ArpFilter), 1);
        // A VMAC that never counted does not restore anything.
        assert!(c.vmac_removed("vrrp.9").is_empty());
    }

    /// A base that already has arp_ignore=1 and arp_filter=1 is not
    /// touched, then or at stop.
    #[test]
    fn base_already_set() {
        let sys = Sys::default();
        sys.g.borrow_mut().insert("all", 0);
        sys.iface_new("eth0");
        sys.set("eth0", Param::ArpIgnore, 1);
        sys.set("eth0", Param::ArpFilter, 1);
        let mut c = IfConf::new();
        let ops = c.vmac_created("vrrp.1", "eth0", &[], &[], &sys);
        assert_eq!(ops.len(), 1);
        assert!(c.vmac_removed("vrrp.1").is_empty());
    }

    #[test]
    fn promote_secondaries_set_once_and_reset_if_in_use() {
        let sys = Sys::default();
        sys.iface_new("eth0");
        sys.iface_new("eth1");
        sys.set("eth1", Param::PromoteSecondaries, 1);
        let mut c = IfConf::new();
        let ops = c.promote("eth0", &sys);
        assert_eq!(ops, [dev("eth0", &[(Param::PromoteSecondaries, 1)])]);
        sys.apply(&ops);
        assert!(c.promote("eth0", &sys).is_empty(), "a reload sets nothing");
        assert!(c.promote("eth1", &sys).is_empty(), "already on");
        assert_eq!(
            c.unpromote(&names(&["eth0", "eth1"])),
            [dev("eth0", &[(Param::PromoteSecondaries, 0)])]
        );
        let mut c = IfConf::new();
        sys.set("eth0", Param::PromoteSecondaries, 0);
        sys.apply(&c.promote("eth0", &sys));
        assert!(c.unpromote(&names(&["eth1"])).is_empty());
    }

    /// Golden bytes: IFLA_INET_CONF entries for a VMAC (x86_64, little
    /// endian), as keepalived's `netlink_set_interface_flags` lays them out.
    #[test]
    #[cfg(target_endian = "little")]
    fn inet_conf_bytes() {
        #[rustfmt::skip]
        let want = [
            8, 0, 19, 0, 1, 0, 0, 0, // IPV4_DEVCONF_ARP_IGNORE = 1
            8, 0, 23, 0, 1, 0, 0, 0, // IPV4_DEVCONF_ACCEPT_LOCAL = 1
            8, 0, 8, 0, 0, 0, 0, 0,  // IPV4_DEVCONF_RP_FILTER = 0
            8, 0, 20, 0, 1, 0, 0, 0, // IPV4_DEVCONF_PROMOTE_SECONDARIES = 1
        ];
        let got = inet_conf_attrs(&[
            (Param::ArpIgnore, 1),
            (Param::AcceptLocal, 1),
            (Param::RpFilter, 0),
            (Param::PromoteSecondaries, 1),
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn link_local_choice() {
        let mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
        assert_eq!(
            eui64_link_local(mac),
            "fe80::5054:ff:fe12:3456"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
        );
        let ll: std::net::Ipv6Addr = "fe80::1".parse().unwrap();
        let src: std::net::Ipv6Addr = "fe80::2".parse().unwrap();
        assert_eq!(vmac_link_local(Some(src), Some(ll), mac), src);
        assert_eq!(vmac_link_local(None, Some(ll), mac), ll);
        assert_eq!(vmac_link_local(None, None, mac), eui64_link_local(mac));
    }
}
