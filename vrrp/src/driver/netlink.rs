//! rtnetlink: interfaces and their state, VIPs, virtual routes and rules,
//! VMAC (macvlan) interfaces, and link notifications.
//!
//! Equivalent `ip` commands are given on each request. Pitfalls handled here
//! (see crates-notes): rules need an explicit `RuleAction::ToTable`; the
//! address builder adds a broadcast keepalived would not, so messages are
//! built by hand; IPv6 VIPs are dropped by the kernel on link down and are
//! re-added by the driver on link up.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures_util::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::{DefaultNla, NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope, CacheInfo,
};
use rtnetlink::packet_route::link::{
    AfSpecInet, AfSpecInet6, AfSpecUnspec, In6AddrGenMode, LinkAttribute, LinkFlags, LinkMessage,
    MacVlanMode,
};
use rtnetlink::packet_route::route::{RouteMessage, RouteProtocol, RouteScope, RouteType};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkMacVlan, LinkUnspec, RouteMessageBuilder};

use super::{RouteCfg, RuleAction as CfgRuleAction, RuleCfg, VipCfg};

/// What the driver needs to know about an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    pub mac: [u8; 6],
    /// IFF_UP and IFF_RUNNING, keepalived's definition of "up".
    pub up: bool,
}

/// An address as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrInfo {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix: u8,
}

pub type Error = rtnetlink::Error;

/// The errno of a netlink error, if it is one.
pub fn errno(e: &Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

pub fn link_info(m: &LinkMessage) -> Option<LinkInfo> {
    let mut name = None;
    let mut mac = [0u8; 6];
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Address(b) if b.len() == 6 => mac.copy_from_slice(b),
            _ => {}
        }
    }
    let flags = m.header.flags;
    Some(LinkInfo {
        index: m.header.index,
        name: name?,
        mac,
        up: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running),
    })
}

#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens a command connection; its I/O task is spawned on the current runtime.
    pub fn open() -> std::io::Result<Self> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(Self { handle })
    }

    /// `ip link show`
    pub async fn links(&self) -> Result<Vec<LinkInfo>, Error> {
        let msgs: Vec<LinkMessage> = self.handle.link().get().execute().try_collect().await?;
        Ok(msgs.iter().filter_map(link_info).collect())
    }

    /// `ip addr show`
    pub async fn addrs(&self) -> Result<Vec<AddrInfo>, Error> {
        let msgs: Vec<AddressMessage> = self.handle.address().get().execute().try_collect().await?;
        Ok(msgs.iter().filter_map(addr_info).collect())
    }

    fn addr_message(index: u32, vip: &VipCfg) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = match vip.addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        m.header.index = index;
        m.header.scope = AddressScope::from(vip.scope);
        match vip.peer {
            Some((peer, plen)) => {
                m.header.prefix_len = plen;
                m.attributes.push(AddressAttribute::Local(vip.addr));
                m.attributes.push(AddressAttribute::Address(peer));
            }
            None => {
                m.header.prefix_len = vip.prefix;
                m.attributes.push(AddressAttribute::Local(vip.addr));
                m.attributes.push(AddressAttribute::Address(vip.addr));
            }
        }
        if let (Some(b), IpAddr::V4(_)) = (vip.broadcast, vip.addr) {
            m.attributes.push(AddressAttribute::Broadcast(b));
        }
        if let (Some(l), IpAddr::V4(_)) = (&vip.label, vip.addr) {
            m.attributes.push(AddressAttribute::Label(l.clone()));
        }
        let mut flags = AddressFlags::empty();
        if vip.addr.is_ipv6() {
            // keepalived adds every IPv6 VIP with IFA_F_NODAD: a VIP moving
            // between routers must be usable at once.
            flags |= AddressFlags::Nodad;
            m.header.flags = AddressHeaderFlags::Nodad;
        }
        if vip.noprefixroute {
            flags |= AddressFlags::Noprefixroute;
        }
        if !flags.is_empty() {
            m.attributes.push(AddressAttribute::Flags(flags));
        }
        m
    }

    /// `ip addr add VIP/LEN [peer P] [brd B] [scope S] [label L] dev IF`
    pub async fn add_addr(&self, index: u32, vip: &VipCfg) -> Result<(), Error> {
        let mut req = self.handle.address().add(index, vip.addr, vip.prefix);
        *req.message_mut() = Self::addr_message(index, vip);
        req.execute().await
    }

    /// `ip addr del VIP/LEN dev IF`
    pub async fn del_addr(&self, index: u32, vip: &VipCfg) -> Result<(), Error> {
        let mut m = Self::addr_message(index, vip);
        m.attributes
            .retain(|a| matches!(a, AddressAttribute::Local(_) | AddressAttribute::Address(_)));
        self.handle.address().del(m).execute().await
    }

    fn route_message(r: &RouteCfg, oif: Option<u32>) -> Result<RouteMessage, String> {
        let mut b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(r.dst, r.dst_len)
            .map_err(|e| e.to_string())?;
        if let Some(via) = r.via {
            b = b.gateway(via).map_err(|e| e.to_string())?;
        }
        if let Some(src) = r.src {
            b = b.pref_source(src).map_err(|e| e.to_string())?;
        }
        if let Some(i) = oif {
            b = b.output_interface(i);
        }
        if let Some(m) = r.metric {
            b = b.priority(m);
        }
        b = b
            .table_id(r.table)
            .protocol(RouteProtocol::from(r.protocol))
            .kind(RouteType::from(r.route_type));
        let scope = match r.scope {
            Some(s) => RouteScope::from(s),
            // `ip route` picks link scope for a gatewayless unicast route
            // with a device, universe otherwise.
            None if r.via.is_none() && oif.is_some() && r.route_type == 1 => RouteScope::Link,
            None => RouteScope::Universe,
        };
        b = b.scope(scope);
        Ok(b.build())
    }

    /// `ip route add PREFIX [via GW] [src S] [dev IF] [table T] [metric M]`
    pub async fn add_route(&self, r: &RouteCfg, oif: Option<u32>) -> Result<(), String> {
        let m = Self::route_message(r, oif)?;
        self.handle
            .route()
            .add(m)
            .execute()
            .await
            .map_err(|e| e.to_string())
    }

    /// `ip route replace ...`
    pub async fn replace_route(&self, r: &RouteCfg, oif: Option<u32>) -> Result<(), String> {
        let m = Self::route_message(r, oif)?;
        self.handle
            .route()
            .add(m)
            .replace()
            .execute()
            .await
            .map_err(|e| e.to_string())
    }

    /// `ip route del ...`
    pub async fn del_route(&self, r: &RouteCfg, oif: Option<u32>) -> Result<(), String> {
        let m = Self::route_message(r, oif)?;
        self.handle
            .route()
            .del(m)
            .execute()
            .await
            .map_err(|e| e.to_string())
    }

    fn rule_message(r: &RuleCfg) -> RuleMessage {
        let mut m = RuleMessage::default();
        m.header.family = if r.v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        if let Some((a, l)) = r.from {
            m.header.src_len = l;
            m.attributes.push(RuleAttribute::Source(a));
        }
        if let Some((a, l)) = r.to {
            m.header.dst_len = l;
            m.attributes.push(RuleAttribute::Destination(a));
        }
        if r.not {
            m.header.flags = RuleFlags::Invert;
        }
        m.header.action = match r.action {
            CfgRuleAction::Table(t) => {
                if let Ok(small) = u8::try_from(t) {
                    m.header.table = small;
                } else {
                    m.header.table = 252; // RT_TABLE_COMPAT
                }
                m.attributes.push(RuleAttribute::Table(t));
                RuleAction::ToTable
            }
            CfgRuleAction::Goto(p) => {
                m.attributes.push(RuleAttribute::Goto(p));
                RuleAction::Goto
            }
            CfgRuleAction::Nop => RuleAction::Nop,
            CfgRuleAction::Blackhole => RuleAction::Blackhole,
            CfgRuleAction::Unreachable => RuleAction::Unreachable,
            CfgRuleAction::Prohibit => RuleAction::Prohibit,
        };
        if let Some(p) = r.priority {
            m.attributes.push(RuleAttribute::Priority(p));
        }
        if let Some((mark, mask)) = r.fwmark {
            m.attributes.push(RuleAttribute::FwMark(mark));
            if let Some(mask) = mask {
                m.attributes.push(RuleAttribute::FwMask(mask));
            }
        }
        if let Some(i) = &r.iif {
            m.attributes.push(RuleAttribute::Iifname(i.clone()));
        }
        if let Some(o) = &r.oif {
            m.attributes.push(RuleAttribute::Oifname(o.clone()));
        }
        m
    }

    /// `ip rule add [not] [from P] [to P] [fwmark M] [iif I] [oif O] pref N lookup T`
    pub async fn add_rule(&self, r: &RuleCfg) -> Result<(), Error> {
        let mut req = self.handle.rule().add();
        *req.message_mut() = Self::rule_message(r);
        req.execute().await
    }

    /// `ip rule del ...`
    pub async fn del_rule(&self, r: &RuleCfg) -> Result<(), Error> {
        self.handle
            .rule()
            .del(Self::rule_message(r))
            .execute()
            .await
    }

    /// `ip link add link BASE name NAME address MAC type macvlan mode private`
    /// (left down: its parameters are set before it comes up).
    pub async fn add_macvlan(&self, name: &str, base: u32, mac: [u8; 6]) -> Result<(), Error> {
        let msg = LinkMacVlan::new(name, base, MacVlanMode::Private)
            .address(mac.to_vec())
            .build();
        self.handle.link().add(msg).execute().await
    }

    /// `sysctl net.ipv4.conf.IF.P=V ...` through RTM_NEWLINK with
    /// IFLA_AF_SPEC/AF_INET/IFLA_INET_CONF, as keepalived built with
    /// IPV4_DEVCONF does (this works where /proc/sys is read-only). The
    /// header family stays AF_UNSPEC: AF_BRIDGE would not take it.
    pub async fn set_inet_conf(
        &self,
        index: u32,
        set: &[(crate::ifconf::Param, u32)],
    ) -> Result<(), Error> {
        let conf = DefaultNla::new(
            1, /* IFLA_INET_CONF */
            crate::ifconf::inet_conf_attrs(set),
        );
        let mut msg = LinkUnspec::new_with_index(index).build();
        msg.attributes
            .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet(vec![
                AfSpecInet::Other(conf),
            ])]));
        self.handle.link().set(msg).execute().await
    }

    /// `ip link set IF addrgenmode none`: no EUI-64 link-local from the
    /// virtual MAC (RFC 5798 §7.4). The kernel ignores IFLA_AF_SPEC when a
    /// link is created, hence a message of its own, before the link is up.
    pub async fn set_addr_gen_mode_none(&self, index: u32) -> Result<(), Error> {
        let mut msg = LinkUnspec::new_with_index(index).build();
        msg.attributes
            .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
            )]));
        self.handle.link().set(msg).execute().await
    }

    /// `ip addr add LL/64 dev VMAC nodad preferred_lft 0`: the IPv6 VMAC's
    /// link-local source address, added as keepalived adds it (no DAD,
    /// deprecated so that nothing else picks it as a source).
    pub async fn add_link_local(&self, index: u32, addr: Ipv6Addr) -> Result<(), Error> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet6;
        m.header.index = index;
        m.header.prefix_len = 64;
        m.header.flags = AddressHeaderFlags::Nodad;
        m.attributes.push(AddressAttribute::Local(IpAddr::V6(addr)));
        let mut ci = CacheInfo::default();
        ci.ifa_preferred = 0;
        ci.ifa_valid = u32::MAX;
        m.attributes.push(AddressAttribute::CacheInfo(ci));
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
        let mut req = self.handle.address().add(index, IpAddr::V6(addr), 64);
        *req.message_mut() = m;
        req.execute().await
    }

    /// `ip link del NAME`
    pub async fn del_link(&self, index: u32) -> Result<(), Error> {
        self.handle.link().del(index).execute().await
    }

    /// `ip link set NAME up`
    pub async fn set_up(&self, index: u32) -> Result<(), Error> {
        let msg = LinkUnspec::new_with_index(index).up().build();
        self.handle.link().set(msg).execute().await
    }
}

/// An address's local address (the peer's for a point-to-point one).
fn addr_info(m: &AddressMessage) -> Option<AddrInfo> {
    let mut local = None;
    let mut address = None;
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            _ => {}
        }
    }
    Some(AddrInfo {
        index: m.header.index,
        addr: local.or(address)?,
        prefix: m.header.prefix_len,
    })
}

/// A change of some interface, from RTNLGRP_LINK, or an address gone,
/// from RTNLGRP_IPV4_IFADDR/IPV6_IFADDR.
#[derive(Clone, Debug)]
pub enum LinkEvent {
    Changed(LinkInfo),
    Removed { index: u32 },
    AddrRemoved(AddrInfo),
}

/// Subscribes to link and address notifications; the returned receiver
/// yields them.
pub fn link_events() -> std::io::Result<tokio::sync::mpsc::UnboundedReceiver<LinkEvent>> {
    let (conn, _handle, mut msgs) = rtnetlink::new_multicast_connection(&[
        rtnetlink::MulticastGroup::Link,
        rtnetlink::MulticastGroup::Ipv4Ifaddr,
        rtnetlink::MulticastGroup::Ipv6Ifaddr,
    ])?;
    tokio::spawn(conn);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some((msg, _)) = msgs.next().await {
            let ev = match msg {
                NetlinkMessage {
                    payload: NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)),
                    ..
                } => link_info(&m).map(LinkEvent::Changed),
                NetlinkMessage {
                    payload: NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(m)),
                    ..
                } => Some(LinkEvent::Removed {
                    index: m.header.index,
                }),
                NetlinkMessage {
                    payload: NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(m)),
                    ..
                } => addr_info(&m).map(LinkEvent::AddrRemoved),
                _ => None,
            };
            if let Some(ev) = ev
                && tx.send(ev).is_err()
            {
                break;
            }
        }
    });
    Ok(rx)
}

/// keepalived's default broadcast for `brd +`.
pub fn broadcast_plus(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    (prefix < 31).then(|| Ipv4Addr::from(u32::from(addr) | (u32::MAX >> prefix)))
}
