//! The nftables rules that keep a non-owner master without accept mode
//! (`no_accept`, or strict mode) from receiving or sending traffic for its
//! VIPs, as keepalived 2.2.7 sets them up (its "firewall drop rule"):
//!
//! ```text
//! table ip keepalived {                      table ip6 keepalived {
//!   set vips { type ipv4_addr }                set vips { type ipv6_addr }
//!   chain out { hook output prio -1;           set neighbor-discovery { icmpv6_type, constant }
//!     ip saddr @vips drop }                    set vips_link_local { ipv6_addr . iface_index }
//!   chain in { hook input prio -1;             chain out/in: ND accepted, fe80::/10 to
//!     ip daddr @vips drop }                      out_link_local/in_link_local, @vips drop
//! }                                          }
//! ```
//!
//! Sans-IO: [`Firewall`] remembers what the kernel holds (tables, chains,
//! sets, elements) and turns "these addresses now in / out" into one
//! nfnetlink batch (bytes); the driver sends it. Each part of the ruleset is
//! created the first time it is needed, as keepalived does, so a host whose
//! masters all accept traffic never gets a table.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// linux/netfilter/nfnetlink.h, nf_tables.h
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_NEWSET: u16 = 9;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLA_F_NESTED: u16 = 0x8000;

pub const NFPROTO_IPV4: u8 = 2;
pub const NFPROTO_IPV6: u8 = 10;

const NF_INET_LOCAL_IN: u32 = 1;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
const NFT_GOTO: u32 = (-4i32) as u32;

const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;
const NFT_REG_2: u32 = 2;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_CMP_EQ: u32 = 0;
const NFT_META_IIF: u32 = 4;
const NFT_META_OIF: u32 = 5;
const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;
const NFT_META_L4PROTO: u32 = 16;
const NFT_META_OIFKIND: u32 = 27;
const NFT_SET_MAP: u32 = 0x8;
const NFT_SET_CONSTANT: u32 = 0x2;

// nft's datatype numbers, which `nft list` reads back (datatype.h)
const TYPE_IPADDR: u32 = 7;
const TYPE_IP6ADDR: u32 = 8;
const TYPE_IFINDEX: u32 = 20;
const TYPE_ICMP6_TYPE: u32 = 29;
const TYPE_IFNAME: u32 = 41;
const TYPE_BITS: u32 = 6;
// libnftnl's set user data: the key's byte order, for nft's listing
const UDATA_SET_KEYBYTEORDER: u8 = 0;
const UDATA_SET_DATABYTEORDER: u8 = 1;
const BYTEORDER_HOST: u32 = 1;
const BYTEORDER_BIG: u32 = 2;

const IFNAMSIZ: usize = 16;
const ND_NEIGHBOR_SOLICIT: u8 = 135;
const ND_NEIGHBOR_ADVERT: u8 = 136;
const ND_ROUTER_SOLICIT: u8 = 133;
const MLD2_LISTENER_REPORT: u8 = 143;
const IPPROTO_IGMP: u8 = 2;
const IPPROTO_ICMPV6: u8 = 58;

/// One address in the drop sets.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FwAddr {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    /// A link-local address, per interface index (`vips_link_local`).
    LinkLocal(Ipv6Addr, u32),
    /// A link-local address per interface name (`vips_link_local_name`):
    /// keepalived's choice for an instance with `dont_track_primary`,
    /// whose interface may come back with another index.
    LinkLocalName(Ipv6Addr, String),
}

impl FwAddr {
    /// The set entry for a VIP on interface (`ifindex`, `ifname`).
    pub fn of(addr: IpAddr, ifindex: u32, ifname: &str, by_name: bool) -> FwAddr {
        match addr {
            IpAddr::V4(a) => FwAddr::V4(a),
            IpAddr::V6(a) if (a.segments()[0] & 0xffc0) != 0xfe80 => FwAddr::V6(a),
            IpAddr::V6(a) if by_name => FwAddr::LinkLocalName(a, ifname.to_string()),
            IpAddr::V6(a) => FwAddr::LinkLocal(a, ifindex),
        }
    }

    fn set(&self) -> (u8, &'static str) {
        match self {
            FwAddr::V4(_) => (NFPROTO_IPV4, "vips"),
            FwAddr::V6(_) => (NFPROTO_IPV6, "vips"),
            FwAddr::LinkLocal(..) => (NFPROTO_IPV6, "vips_link_local"),
            FwAddr::LinkLocalName(..) => (NFPROTO_IPV6, "vips_link_local_name"),
        }
    }

    fn key(&self) -> Vec<u8> {
        match self {
            FwAddr::V4(a) => a.octets().to_vec(),
            FwAddr::V6(a) => a.octets().to_vec(),
            FwAddr::LinkLocal(a, idx) => {
                let mut k = a.octets().to_vec();
                // meta iif loads the index in host order
                k.extend_from_slice(&idx.to_ne_bytes());
                k
            }
            FwAddr::LinkLocalName(a, name) => {
                let mut k = a.octets().to_vec();
                let mut n = [0u8; IFNAMSIZ];
                let b = name.as_bytes();
                n[..b.len().min(IFNAMSIZ - 1)].copy_from_slice(&b[..b.len().min(IFNAMSIZ - 1)]);
                k.extend_from_slice(&n);
                k
            }
        }
    }
}

/// keepalived's `nftables` (table name), `nftables_priority`,
/// `nftables_counters` and `nftables_ifindex`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FwCfg {
    pub table: String,
    pub priority: i32,
    /// A counter in each rule.
    pub counters: bool,
    /// Link-local VIPs by interface index, even with `dont_track_primary`.
    pub ifindex: bool,
}

impl Default for FwCfg {
    fn default() -> FwCfg {
        FwCfg {
            table: "keepalived".into(),
            priority: -1,
            counters: false,
            ifindex: false,
        }
    }
}

/// What is set up in the kernel, and the elements in the sets.
#[derive(Debug, Default)]
pub struct Firewall {
    pub cfg: FwCfg,
    /// What the kernel holds.
    held: FirewallState,
    /// Whether leftover tables were looked for (once, before the first
    /// table of ours).
    pub checked_old: bool,
    set_id: u32,
    seq: u32,
}

/// A batch to send, and what to do first.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub bytes: Vec<u8>,
    /// Sequence numbers of the messages that ask for an ack.
    pub seqs: Vec<u32>,
}

impl Firewall {
    pub fn new(cfg: FwCfg) -> Firewall {
        Firewall {
            cfg,
            ..Firewall::default()
        }
    }

    /// Whether any table of ours exists.
    pub fn active(&self) -> bool {
        self.held.v4_table || self.held.v6_table
    }

    /// Whether `a` is in its set.
    pub fn has(&self, a: &FwAddr) -> bool {
        self.held.elements.contains(a)
    }

    /// The VMACs in the IGMP/MLD maps: (family, VMAC index, base index).
    pub fn vmac_entries(&self) -> impl Iterator<Item = &(u8, u32, u32)> {
        self.held.vmacs.iter()
    }

    /// Everything in the sets.
    pub fn elements(&self) -> impl Iterator<Item = &FwAddr> {
        self.held.elements.iter()
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// A single GETTABLE request (not batched) for the leftover check.
    pub fn get_table(&mut self, family: u8) -> Vec<u8> {
        let seq = self.next_seq();
        let mut m = Msg::new(NFT_MSG_GETTABLE, NLM_F_ACK, seq, family);
        m.str(1, &self.cfg.table);
        m.finish()
    }

    /// Adds `add` to and removes `del` from the sets, setting up what the
    /// additions need first. `old` names the families whose leftover table
    /// (from a keepalived that did not clean up) is deleted first. None when
    /// there is nothing to do.
    pub fn update(&mut self, add: &[FwAddr], del: &[FwAddr], old: &[u8]) -> Option<Batch> {
        let add: Vec<&FwAddr> = add
            .iter()
            .filter(|a| !self.held.elements.contains(a))
            .collect();
        let del: Vec<&FwAddr> = del
            .iter()
            .filter(|a| self.held.elements.contains(a))
            .collect();
        if add.is_empty() && del.is_empty() {
            return None;
        }
        let mut b = BatchBuilder::start(self.next_seq());
        self.delete_tables(old, &mut b);
        for a in &add {
            self.setup_for(a, &mut b);
        }
        for (cmd, flags, list) in [
            (
                NFT_MSG_NEWSETELEM,
                NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
                &add,
            ),
            (NFT_MSG_DELSETELEM, NLM_F_ACK, &del),
        ] {
            // keepalived's order: ip vips, ip6 vips, link-local by index, by name
            for kind in 0..4 {
                let of_kind: Vec<&&FwAddr> = list
                    .iter()
                    .filter(|a| {
                        kind == match a {
                            FwAddr::V4(_) => 0,
                            FwAddr::V6(_) => 1,
                            FwAddr::LinkLocal(..) => 2,
                            FwAddr::LinkLocalName(..) => 3,
                        }
                    })
                    .collect();
                let Some(first) = of_kind.first() else {
                    continue;
                };
                let (family, set) = first.set();
                let seq = self.next_seq();
                let keys: Vec<Vec<u8>> = of_kind.iter().map(|a| a.key()).collect();
                let m = self.elements_msg(cmd, flags, seq, family, set, None, &keys);
                b.push(m, seq);
            }
        }
        for a in add {
            self.held.elements.insert(a.clone());
        }
        for a in del {
            self.held.elements.remove(a);
        }
        let end = self.next_seq();
        Some(b.finish(end))
    }

    /// A VMAC (`vmac` on `base`) in or out of the IGMP (IPv4) / MLD and
    /// router solicitation (IPv6) rules of `families`, which send those
    /// from the base interface: keepalived's `vmac_map` (and `vmac_set`),
    /// set up with the first VMAC. `old` as for [`Firewall::update`].
    pub fn vmac(
        &mut self,
        families: &[u8],
        vmac: u32,
        base: u32,
        add: bool,
        old: &[u8],
    ) -> Option<Batch> {
        let todo: Vec<u8> = families
            .iter()
            .copied()
            .filter(|f| self.held.vmacs.contains(&(*f, vmac, base)) != add)
            .collect();
        if todo.is_empty() {
            return None;
        }
        let mut b = BatchBuilder::start(self.next_seq());
        self.delete_tables(old, &mut b);
        let (cmd, flags) = if add {
            (NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_ACK)
        } else {
            (NFT_MSG_DELSETELEM, NLM_F_ACK)
        };
        for f in todo {
            // the ids of the sets made in this batch, named in its elements
            let mut ids = (None, None);
            if add {
                let v4 = f == NFPROTO_IPV4;
                let up = if v4 {
                    self.held.v4_table
                } else {
                    self.held.v6_table
                };
                if !up {
                    self.table(f, &mut b);
                    if v4 {
                        self.held.v4_table = true;
                    } else {
                        self.held.v6_table = true;
                    }
                }
                let igmp = if v4 {
                    self.held.v4_igmp
                } else {
                    self.held.v6_igmp
                };
                if !igmp {
                    ids = self.igmp(f, &mut b);
                    if v4 {
                        self.held.v4_igmp = true;
                    } else {
                        self.held.v6_igmp = true;
                    }
                }
            }
            let (vk, bk) = (vmac.to_ne_bytes(), base.to_ne_bytes());
            let seq = self.next_seq();
            let m = self.elements_data_msg(
                cmd,
                flags,
                seq,
                f,
                "vmac_map",
                ids.0,
                &[(&vk[..], Some(&bk[..]))],
            );
            b.push(m, seq);
            if f == NFPROTO_IPV6 {
                let seq = self.next_seq();
                let m = self.elements_data_msg(
                    cmd,
                    flags,
                    seq,
                    f,
                    "vmac_set",
                    ids.1,
                    &[(&vk[..], None)],
                );
                b.push(m, seq);
            }
            if add {
                self.held.vmacs.insert((f, vmac, base));
            } else {
                self.held.vmacs.remove(&(f, vmac, base));
            }
        }
        let end = self.next_seq();
        Some(b.finish(end))
    }

    /// The map, set and rules of [`Firewall::vmac`]; the new sets' ids.
    fn igmp(&mut self, f: u8, b: &mut BatchBuilder) -> (Option<u32>, Option<u32>) {
        self.set(
            f,
            &SetSpec {
                flags: Some(NFT_SET_MAP),
                map: Some((TYPE_IFINDEX, 4)),
                ..SetSpec::new("vmac_map", TYPE_IFINDEX, 4)
            },
            b,
        );
        let map_id = self.set_id;
        let mut set_id = None;
        if f == NFPROTO_IPV6 {
            self.set(f, &SetSpec::new("vmac_set", TYPE_IFINDEX, 4), b);
            set_id = Some(self.set_id);
        }
        let mut macvlan = b"macvlan".to_vec();
        macvlan.resize(IFNAMSIZ, 0);
        let to_base = [
            Expr::Meta(NFT_META_OIFKIND, NFT_REG_2),
            Expr::Cmp(NFT_REG_2, macvlan.clone()),
            Expr::Meta(NFT_META_OIF, NFT_REG_2),
            Expr::Lookup {
                set: "vmac_map",
                sreg: NFT_REG_2,
                dreg: Some(NFT_REG_2),
                id: Some(1),
            },
            Expr::Dup(NFT_REG_1, NFT_REG_2),
            Expr::Verdict(NF_DROP, None),
        ];
        let mut exprs = if f == NFPROTO_IPV4 {
            // ip protocol igmp ... dup to ip daddr device oif map @vmac_map drop
            vec![
                Expr::Payload(NFT_PAYLOAD_NETWORK_HEADER, 9, 1),
                Expr::Cmp(NFT_REG_1, vec![IPPROTO_IGMP]),
                Expr::Payload(NFT_PAYLOAD_NETWORK_HEADER, 16, 4),
            ]
        } else {
            // icmpv6 type mld2-listener-report ... dup to ip6 daddr ...
            vec![
                Expr::Meta(NFT_META_L4PROTO, NFT_REG_1),
                Expr::Cmp(NFT_REG_1, vec![IPPROTO_ICMPV6]),
                Expr::Payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1),
                Expr::Cmp(NFT_REG_1, vec![MLD2_LISTENER_REPORT]),
                Expr::Payload(NFT_PAYLOAD_NETWORK_HEADER, 24, 16),
            ]
        };
        exprs.extend(to_base);
        self.rule(f, "out", &exprs, b);
        if f == NFPROTO_IPV6 {
            // icmpv6 type nd-router-solicit meta oifkind "macvlan" oif @vmac_set drop
            let rs = [
                Expr::Meta(NFT_META_L4PROTO, NFT_REG_1),
                Expr::Cmp(NFT_REG_1, vec![IPPROTO_ICMPV6]),
                Expr::Payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1),
                Expr::Cmp(NFT_REG_1, vec![ND_ROUTER_SOLICIT]),
                Expr::Meta(NFT_META_OIFKIND, NFT_REG_2),
                Expr::Cmp(NFT_REG_2, macvlan),
                Expr::Meta(NFT_META_OIF, NFT_REG_2),
                Expr::Lookup {
                    set: "vmac_set",
                    sreg: NFT_REG_2,
                    dreg: None,
                    id: Some(1),
                },
                Expr::Verdict(NF_DROP, None),
            ];
            self.rule(f, "out", &rs, b);
        }
        (Some(map_id), set_id)
    }

    /// Deletes the tables (the VRRP process stopping); None if there are
    /// none.
    pub fn cleanup(&mut self) -> Option<Batch> {
        if !self.active() {
            return None;
        }
        let mut b = BatchBuilder::start(self.next_seq());
        let ours: Vec<u8> = [
            (self.held.v4_table, NFPROTO_IPV4),
            (self.held.v6_table, NFPROTO_IPV6),
        ]
        .into_iter()
        .filter_map(|(up, family)| up.then_some(family))
        .collect();
        self.delete_tables(&ours, &mut b);
        // keepalived's set ids and sequence numbers run on
        self.held = FirewallState::default();
        let end = self.next_seq();
        Some(b.finish(end))
    }

    /// Forgets what a failed batch was to set up: the kernel dropped all of
    /// it. The next update tries again from what `before` knew.
    pub fn restore(&mut self, before: FirewallState) {
        self.held = before;
    }

    /// What [`Firewall::restore`] goes back to.
    pub fn state(&self) -> FirewallState {
        self.held.clone()
    }

    fn setup_for(&mut self, a: &FwAddr, b: &mut BatchBuilder) {
        match a {
            FwAddr::V4(_) => {
                if !self.held.v4_vips {
                    if !self.held.v4_table {
                        self.table(NFPROTO_IPV4, b);
                        self.held.v4_table = true;
                    }
                    self.v4_vips(b);
                    self.held.v4_vips = true;
                }
            }
            _ => {
                if !self.held.v6_vips {
                    if !self.held.v6_table {
                        self.table(NFPROTO_IPV6, b);
                        self.held.v6_table = true;
                    }
                    self.v6_vips(b);
                    self.held.v6_vips = true;
                }
                match a {
                    FwAddr::LinkLocal(..) if !self.held.ll_index => {
                        self.link_local(false, b);
                        self.held.ll_index = true;
                    }
                    FwAddr::LinkLocalName(..) if !self.held.ll_name => {
                        self.link_local(true, b);
                        self.held.ll_name = true;
                    }
                    _ => {}
                }
            }
        }
    }

    /// Our table of each of `families` deleted.
    fn delete_tables(&mut self, families: &[u8], b: &mut BatchBuilder) {
        for &f in families {
            let seq = self.next_seq();
            let mut m = Msg::new(NFT_MSG_DELTABLE, NLM_F_ACK, seq, f);
            m.str(1, &self.cfg.table);
            b.push(m, seq);
        }
    }

    /// The table and its output chain.
    fn table(&mut self, family: u8, b: &mut BatchBuilder) {
        let seq = self.next_seq();
        let mut m = Msg::new(NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_ACK, seq, family);
        m.str(1, &self.cfg.table);
        b.push(m, seq);
        self.base_chain(family, "out", NF_INET_LOCAL_OUT, b);
    }

    fn base_chain(&mut self, family: u8, name: &str, hook: u32, b: &mut BatchBuilder) {
        let seq = self.next_seq();
        let mut m = Msg::new(NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_ACK, seq, family);
        m.str(1, &self.cfg.table);
        m.str(3, name);
        let h = m.nest(4);
        m.u32(1, hook);
        m.u32(2, self.cfg.priority as u32);
        m.end(h);
        m.u32(5, NF_ACCEPT);
        m.str(7, "filter");
        b.push(m, seq);
    }

    fn chain(&mut self, family: u8, name: &str, b: &mut BatchBuilder) {
        let seq = self.next_seq();
        let mut m = Msg::new(NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_ACK, seq, family);
        m.str(1, &self.cfg.table);
        m.str(3, name);
        b.push(m, seq);
    }

    fn set(&mut self, family: u8, spec: &SetSpec, b: &mut BatchBuilder) {
        let SetSpec {
            name,
            key_type,
            key_len,
            flags,
            map,
        } = *spec;
        self.set_id += 1;
        let seq = self.next_seq();
        let mut m = Msg::new(NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_ACK, seq, family);
        m.str(1, &self.cfg.table);
        m.str(2, name);
        if let Some(f) = flags {
            m.u32(3, f);
        }
        m.u32(4, key_type);
        m.u32(5, key_len);
        if let Some((data_type, data_len)) = map {
            m.u32(6, data_type);
            m.u32(7, data_len);
        }
        m.u32(10, self.set_id);
        let order = if key_type == TYPE_IPADDR || key_type == TYPE_IP6ADDR {
            BYTEORDER_BIG
        } else {
            BYTEORDER_HOST
        };
        let mut udata = vec![UDATA_SET_KEYBYTEORDER, 4];
        udata.extend_from_slice(&order.to_ne_bytes());
        if map.is_some() {
            udata.extend_from_slice(&[UDATA_SET_DATABYTEORDER, 4]);
            udata.extend_from_slice(&BYTEORDER_HOST.to_ne_bytes());
        }
        m.bytes(13, &udata);
        b.push(m, seq);
    }

    /// A set-element request, laid out as libnftnl lays it out (set name,
    /// the set's id when it is created in the same batch, table; list
    /// entries numbered from 1), so that it is byte for byte keepalived's.
    #[allow(clippy::too_many_arguments)]
    fn elements_msg(
        &self,
        cmd: u16,
        flags: u16,
        seq: u32,
        family: u8,
        set: &str,
        set_id: Option<u32>,
        keys: &[Vec<u8>],
    ) -> Msg {
        let elems: Vec<(&[u8], Option<&[u8]>)> = keys.iter().map(|k| (&k[..], None)).collect();
        self.elements_data_msg(cmd, flags, seq, family, set, set_id, &elems)
    }

    /// [`Firewall::elements_msg`] with a value per key (a map's).
    #[allow(clippy::too_many_arguments)]
    fn elements_data_msg(
        &self,
        cmd: u16,
        flags: u16,
        seq: u32,
        family: u8,
        set: &str,
        set_id: Option<u32>,
        elems: &[(&[u8], Option<&[u8]>)],
    ) -> Msg {
        let mut m = Msg::new(cmd, flags, seq, family);
        m.str(2, set);
        if let Some(id) = set_id {
            m.u32(4, id);
        }
        m.str(1, &self.cfg.table);
        let list = m.nest(3);
        for (i, (k, data)) in elems.iter().enumerate() {
            let e = m.nest(i as u16 + 1);
            let key = m.nest(1);
            m.bytes(1, k);
            m.end(key);
            if let Some(d) = data {
                let v = m.nest(2);
                m.bytes(1, d);
                m.end(v);
            }
            m.end(e);
        }
        m.end(list);
        m
    }

    fn rule(&mut self, family: u8, chain: &str, exprs: &[Expr], b: &mut BatchBuilder) {
        let seq = self.next_seq();
        let mut m = Msg::new(
            NFT_MSG_NEWRULE,
            NLM_F_APPEND | NLM_F_CREATE | NLM_F_ACK,
            seq,
            family,
        );
        m.str(1, &self.cfg.table);
        m.str(2, chain);
        let list = m.nest(4);
        for e in exprs {
            // keepalived's counter goes just before the verdict
            if self.cfg.counters && matches!(e, Expr::Verdict(..)) {
                Expr::Counter.put(&mut m);
            }
            e.put(&mut m);
        }
        m.end(list);
        b.push(m, seq);
    }

    fn v4_vips(&mut self, b: &mut BatchBuilder) {
        self.base_chain(NFPROTO_IPV4, "in", NF_INET_LOCAL_IN, b);
        self.set(NFPROTO_IPV4, &SetSpec::new("vips", TYPE_IPADDR, 4), b);
        // ip daddr @vips drop; ip saddr @vips drop
        for (chain, offset) in [("in", 16), ("out", 12)] {
            let exprs = [
                Expr::Payload(NFT_PAYLOAD_NETWORK_HEADER, offset, 4),
                Expr::lookup("vips"),
                Expr::Verdict(NF_DROP, None),
            ];
            self.rule(NFPROTO_IPV4, chain, &exprs, b);
        }
    }

    fn v6_vips(&mut self, b: &mut BatchBuilder) {
        self.base_chain(NFPROTO_IPV6, "in", NF_INET_LOCAL_IN, b);
        self.chain(NFPROTO_IPV6, "in_link_local", b);
        self.chain(NFPROTO_IPV6, "out_link_local", b);
        self.set(NFPROTO_IPV6, &SetSpec::new("vips", TYPE_IP6ADDR, 16), b);
        self.set(
            NFPROTO_IPV6,
            &SetSpec {
                flags: Some(NFT_SET_CONSTANT),
                ..SetSpec::new("neighbor-discovery", TYPE_ICMP6_TYPE, 1)
            },
            b,
        );
        let seq = self.next_seq();
        let m = self.elements_msg(
            NFT_MSG_NEWSETELEM,
            NLM_F_CREATE | NLM_F_ACK,
            seq,
            NFPROTO_IPV6,
            "neighbor-discovery",
            Some(self.set_id),
            &[vec![ND_NEIGHBOR_SOLICIT], vec![ND_NEIGHBOR_ADVERT]],
        );
        b.push(m, seq);
        let mut fe80 = [0u8; 16];
        fe80[..2].copy_from_slice(&[0xfe, 0x80]);
        let mut mask = [0u8; 16];
        mask[..2].copy_from_slice(&[0xff, 0xc0]);
        // ND accepted, link-local to its chain, then @vips dropped; the
        // input chain's rules first, as keepalived adds them
        let nd = [
            // ip6 nexthdr icmpv6 (offset 6 of the IPv6 header)
            Expr::Payload(NFT_PAYLOAD_NETWORK_HEADER, 6, 1),
            Expr::Cmp(NFT_REG_1, vec![58]),
            Expr::Payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1),
            Expr::lookup("neighbor-discovery"),
            Expr::Verdict(NF_ACCEPT, None),
        ];
        let ll = |offset: u32, chain: &'static str| {
            [
                Expr::Payload(NFT_PAYLOAD_NETWORK_HEADER, offset, 16),
                Expr::Bitwise(mask.to_vec()),
                Expr::Cmp(NFT_REG_1, fe80.to_vec()),
                Expr::Verdict(NFT_GOTO, Some(chain)),
            ]
        };
        self.rule(NFPROTO_IPV6, "in", &nd, b);
        self.rule(NFPROTO_IPV6, "in", &ll(24, "in_link_local"), b);
        self.rule(NFPROTO_IPV6, "out", &nd, b);
        self.rule(NFPROTO_IPV6, "out", &ll(8, "out_link_local"), b);
        for (chain, offset) in [("in", 24), ("out", 8)] {
            let exprs = [
                Expr::Payload(NFT_PAYLOAD_NETWORK_HEADER, offset, 16),
                Expr::lookup("vips"),
                Expr::Verdict(NF_DROP, None),
            ];
            self.rule(NFPROTO_IPV6, chain, &exprs, b);
        }
    }

    fn link_local(&mut self, by_name: bool, b: &mut BatchBuilder) {
        let (name, if_type, if_len) = if by_name {
            ("vips_link_local_name", TYPE_IFNAME, IFNAMSIZ as u32)
        } else {
            ("vips_link_local", TYPE_IFINDEX, 4)
        };
        self.set(
            NFPROTO_IPV6,
            &SetSpec::new(name, (TYPE_IP6ADDR << TYPE_BITS) | if_type, 16 + if_len),
            b,
        );
        // ip6 daddr . iif @set drop; ip6 saddr . oif @set drop
        for (chain, offset, key) in [
            (
                "in_link_local",
                24,
                if by_name {
                    NFT_META_IIFNAME
                } else {
                    NFT_META_IIF
                },
            ),
            (
                "out_link_local",
                8,
                if by_name {
                    NFT_META_OIFNAME
                } else {
                    NFT_META_OIF
                },
            ),
        ] {
            let exprs = [
                Expr::Payload(NFT_PAYLOAD_NETWORK_HEADER, offset, 16),
                Expr::Meta(key, NFT_REG_2),
                Expr::lookup(name),
                Expr::Verdict(NF_DROP, None),
            ];
            self.rule(NFPROTO_IPV6, chain, &exprs, b);
        }
    }
}

/// A set to create: name, key type and length, flags, and for a map its
/// value's type and length.
#[derive(Clone, Copy)]
struct SetSpec {
    name: &'static str,
    key_type: u32,
    key_len: u32,
    flags: Option<u32>,
    map: Option<(u32, u32)>,
}

impl SetSpec {
    fn new(name: &'static str, key_type: u32, key_len: u32) -> SetSpec {
        SetSpec {
            name,
            key_type,
            key_len,
            flags: None,
            map: None,
        }
    }
}

/// What the kernel holds of ours: which parts of the ruleset are set up,
/// and the elements of the sets (see [`Firewall::restore`]).
#[derive(Clone, Debug, Default)]
pub struct FirewallState {
    v4_table: bool,
    v4_vips: bool,
    v6_table: bool,
    v6_vips: bool,
    ll_index: bool,
    ll_name: bool,
    v4_igmp: bool,
    v6_igmp: bool,
    elements: BTreeSet<FwAddr>,
    /// VMACs in the IGMP/MLD maps: (family, VMAC index, base index).
    vmacs: BTreeSet<(u8, u32, u32)>,
}

/// The rule expressions used here; registers as keepalived uses them (the
/// address in register 1, an interface in register 2).
enum Expr {
    /// base, offset, length → register 1
    Payload(u32, u32, u32),
    /// key → register
    Meta(u32, u32),
    /// register equals
    Cmp(u32, Vec<u8>),
    /// register 1 &= mask
    Bitwise(Vec<u8>),
    /// source register in the named set (the id as keepalived gives it);
    /// a map's value to the destination register
    Lookup {
        set: &'static str,
        sreg: u32,
        dreg: Option<u32>,
        id: Option<u32>,
    },
    /// a copy of the packet to (address register, device register)
    Dup(u32, u32),
    /// verdict, goto chain
    Verdict(u32, Option<&'static str>),
    /// packets and bytes
    Counter,
}

impl Expr {
    fn lookup(set: &'static str) -> Expr {
        Expr::Lookup {
            set,
            sreg: NFT_REG_1,
            dreg: None,
            id: None,
        }
    }

    fn put(&self, m: &mut Msg) {
        let elem = m.nest(1);
        m.str(1, self.name());
        let data = m.nest(2);
        match self {
            Expr::Payload(base, offset, len) => {
                m.u32(1, NFT_REG_1);
                m.u32(2, *base);
                m.u32(3, *offset);
                m.u32(4, *len);
            }
            Expr::Meta(key, reg) => {
                m.u32(2, *key);
                m.u32(1, *reg);
            }
            Expr::Cmp(reg, v) => {
                m.u32(1, *reg);
                m.u32(2, NFT_CMP_EQ);
                let d = m.nest(3);
                m.bytes(1, v);
                m.end(d);
            }
            Expr::Bitwise(mask) => {
                m.u32(1, NFT_REG_1);
                m.u32(2, NFT_REG_1);
                m.u32(3, mask.len() as u32);
                let d = m.nest(4);
                m.bytes(1, mask);
                m.end(d);
                let d = m.nest(5);
                m.bytes(1, &vec![0; mask.len()]);
                m.end(d);
            }
            Expr::Lookup {
                set,
                sreg,
                dreg,
                id,
            } => {
                // libnftnl's order: registers, then the set
                m.u32(2, *sreg);
                if let Some(d) = dreg {
                    m.u32(3, *d);
                }
                m.str(1, set);
                if let Some(id) = id {
                    m.u32(4, *id);
                }
            }
            Expr::Dup(addr, dev) => {
                m.u32(1, *addr);
                m.u32(2, *dev);
            }
            // no attributes: the kernel starts it at zero
            Expr::Counter => {}
            Expr::Verdict(code, chain) => {
                m.u32(1, NFT_REG_VERDICT);
                let d = m.nest(2);
                let v = m.nest(2);
                m.u32(1, *code);
                if let Some(c) = chain {
                    m.str(2, c);
                }
                m.end(v);
                m.end(d);
            }
        }
        m.end(data);
        m.end(elem);
    }

    fn name(&self) -> &'static str {
        match self {
            Expr::Payload(..) => "payload",
            Expr::Meta(..) => "meta",
            Expr::Cmp(..) => "cmp",
            Expr::Bitwise(_) => "bitwise",
            Expr::Lookup { .. } => "lookup",
            Expr::Dup(..) => "dup",
            Expr::Verdict(..) => "immediate",
            Expr::Counter => "counter",
        }
    }
}

/// One nfnetlink message: header, nfgenmsg, attributes.
struct Msg(Vec<u8>);

impl Msg {
    fn new(cmd: u16, flags: u16, seq: u32, family: u8) -> Msg {
        let mut b = Vec::with_capacity(256);
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | cmd).to_ne_bytes());
        b.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&[family, 0, 0, 0]);
        Msg(b)
    }

    fn attr(&mut self, ty: u16, v: &[u8]) {
        let len = 4 + v.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(v);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
    }

    fn str(&mut self, ty: u16, s: &str) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(ty, &v);
    }

    /// nf_tables numbers are big-endian.
    fn u32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_be_bytes());
    }

    fn bytes(&mut self, ty: u16, v: &[u8]) {
        self.attr(ty, v);
    }

    fn nest(&mut self, ty: u16) -> usize {
        let at = self.0.len();
        self.0.extend_from_slice(&0u16.to_ne_bytes());
        self.0.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        at
    }

    fn end(&mut self, at: usize) {
        let len = (self.0.len() - at) as u16;
        self.0[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

struct BatchBuilder(Batch);

impl BatchBuilder {
    fn start(seq: u32) -> BatchBuilder {
        let mut b = BatchBuilder(Batch::default());
        b.0.bytes.extend(Self::marker(NFNL_MSG_BATCH_BEGIN, seq));
        b
    }

    fn marker(ty: u16, seq: u32) -> Vec<u8> {
        let mut v = Vec::with_capacity(20);
        v.extend_from_slice(&20u32.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&NFNL_SUBSYS_NFTABLES.to_be_bytes());
        v
    }

    fn push(&mut self, m: Msg, seq: u32) {
        self.0.bytes.extend(m.finish());
        self.0.seqs.push(seq);
    }

    fn finish(mut self, seq: u32) -> Batch {
        self.0.bytes.extend(Self::marker(NFNL_MSG_BATCH_END, seq));
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages of a batch: (type, flags, family, attribute bytes).
    fn split(b: &[u8]) -> Vec<(u16, u16, u8)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 16 <= b.len() {
            let len = u32::from_ne_bytes(b[at..at + 4].try_into().unwrap()) as usize;
            let ty = u16::from_ne_bytes(b[at + 4..at + 6].try_into().unwrap());
            let flags = u16::from_ne_bytes(b[at + 6..at + 8].try_into().unwrap());
            out.push((ty, flags, b[at + 16]));
            at += len;
        }
        assert_eq!(at, b.len(), "messages fill the batch exactly");
        out
    }

    const T: u16 = NFNL_SUBSYS_NFTABLES << 8;

    #[test]
    fn first_v4_address_sets_up_the_ip_table() {
        let mut fw = Firewall::new(FwCfg::default());
        let a = FwAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let b = fw.update(std::slice::from_ref(&a), &[], &[]).unwrap();
        let kinds: Vec<u16> = split(&b.bytes).iter().map(|m| m.0).collect();
        assert_eq!(
            kinds,
            [
                NFNL_MSG_BATCH_BEGIN,
                T | NFT_MSG_NEWTABLE,
                T | NFT_MSG_NEWCHAIN,
                T | NFT_MSG_NEWCHAIN,
                T | NFT_MSG_NEWSET,
                T | NFT_MSG_NEWRULE,
                T | NFT_MSG_NEWRULE,
                T | NFT_MSG_NEWSETELEM,
                NFNL_MSG_BATCH_END,
            ]
        );
        assert_eq!(b.seqs.len(), 7, "every request but the markers is acked");
        assert!(fw.has(&a));
        // a second address only adds the element; the same one nothing
        let b2 = FwAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        let again = fw.update(&[a.clone(), b2], &[], &[]).unwrap();
        let kinds: Vec<u16> = split(&again.bytes).iter().map(|m| m.0).collect();
        assert_eq!(
            kinds,
            [
                NFNL_MSG_BATCH_BEGIN,
                T | NFT_MSG_NEWSETELEM,
                NFNL_MSG_BATCH_END
            ]
        );
        assert_eq!(fw.update(std::slice::from_ref(&a), &[], &[]), None);
        // removal, then the tables go at the end
        let del = fw.update(&[], &[a], &[]).unwrap();
        assert_eq!(
            split(&del.bytes)[1],
            (
                T | NFT_MSG_DELSETELEM,
                NLM_F_REQUEST | NLM_F_ACK,
                NFPROTO_IPV4
            )
        );
        let end = fw.cleanup().unwrap();
        assert_eq!(split(&end.bytes)[1].0, T | NFT_MSG_DELTABLE);
        assert!(fw.cleanup().is_none());
    }

    #[test]
    fn link_local_addresses_get_their_set_once() {
        let mut fw = Firewall::new(FwCfg::default());
        let ll = "fe80::99".parse().unwrap();
        let a = FwAddr::of(ll, 3, "eth0", false);
        assert_eq!(a, FwAddr::LinkLocal("fe80::99".parse().unwrap(), 3));
        let b = fw.update(std::slice::from_ref(&a), &[], &[]).unwrap();
        let sets = split(&b.bytes)
            .iter()
            .filter(|m| m.0 == T | NFT_MSG_NEWSET)
            .count();
        assert_eq!(sets, 3, "vips, neighbor-discovery, vips_link_local");
        let named = FwAddr::of(ll, 3, "eth0", true);
        let b = fw.update(&[named], &[], &[]).unwrap();
        let sets = split(&b.bytes)
            .iter()
            .filter(|m| m.0 == T | NFT_MSG_NEWSET)
            .count();
        assert_eq!(sets, 1, "vips_link_local_name");
        assert_eq!(
            FwAddr::of("2001:db8::1".parse().unwrap(), 3, "eth0", true),
            FwAddr::V6("2001:db8::1".parse().unwrap())
        );
    }

    #[test]
    fn attributes_are_aligned_and_nested() {
        let mut m = Msg::new(NFT_MSG_NEWTABLE, 0, 1, NFPROTO_IPV4);
        m.str(1, "keepalived");
        let n = m.nest(4);
        m.u32(1, 3);
        m.end(n);
        let v = m.finish();
        // header 16 + nfgenmsg 4 + "keepalived\0" 4+11 → 16 + nest 4+8
        assert_eq!(v.len(), 16 + 4 + 16 + 12);
        assert_eq!(&v[20..24], &[15, 0, 1, 0]);
        assert_eq!(&v[36..40], &[12, 0, 4, 0x80]);
        assert_eq!(&v[44..48], &[0, 0, 0, 3]);
    }
}
