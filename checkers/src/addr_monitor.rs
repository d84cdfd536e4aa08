//! The checker process's address monitor for `ha_suspend`: one rtnetlink
//! socket subscribed to RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR (what
//! keepalived's checker subscribes to), plus a dump of the current
//! addresses at open. Events become [`AddrEvent`]s for the manager; the
//! decision itself is in crate::ha_suspend.
//!
//! Subscribing before dumping means no change can fall between the two:
//! an event that the dump already reflects is applied again, which the
//! set semantics make harmless. When the socket's receive buffer overran
//! (a burst of address changes), the monitor dumps again and reports the
//! difference, so no lost event leaves a checker suspended or running for
//! good.
//!
//! Opened only when some virtual server has ha_suspend, as keepalived does.

use std::io;
use std::net::IpAddr;

use futures_channel::mpsc::UnboundedReceiver;
use futures_util::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::sys::SocketAddr;
use rtnetlink::{Handle, MulticastGroup};
use tokio::task::JoinHandle;

use crate::ha_suspend::{AddrEvent, LocalAddrs};

pub struct AddrMonitor {
    handle: Handle,
    msgs: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    /// What the manager has been told, to resynchronise after an overrun.
    mirror: LocalAddrs,
    /// The socket's I/O task; aborted with the monitor.
    conn: JoinHandle<()>,
}

impl Drop for AddrMonitor {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

impl AddrMonitor {
    /// Subscribes to address notifications, then dumps the addresses
    /// configured now (`ip addr show`), returned as "present" events in
    /// the kernel's order. Must run inside a tokio runtime.
    pub async fn open() -> io::Result<(AddrMonitor, Vec<AddrEvent>)> {
        let (conn, handle, msgs) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ])?;
        tracing::debug!("Registering Kernel netlink reflector");
        let conn = tokio::spawn(conn);
        let mut m = AddrMonitor {
            handle,
            msgs,
            mirror: LocalAddrs::new(),
            conn,
        };
        tracing::debug!("Registering Kernel netlink command channel");
        let dump = m.dump().await?;
        for ev in &dump {
            m.mirror.apply(ev);
        }
        Ok((m, dump))
    }

    async fn dump(&self) -> io::Result<Vec<AddrEvent>> {
        let msgs: Vec<AddressMessage> =
            self.handle
                .address()
                .get()
                .execute()
                .try_collect()
                .await
                .map_err(|e| io::Error::other(format!("address dump: {e}")))?;
        Ok(msgs
            .iter()
            .filter_map(|m| {
                Some(AddrEvent {
                    ifindex: m.header.index,
                    addr: addr_of(m)?,
                    present: true,
                })
            })
            .collect())
    }

    /// The next address changes: usually one event, several after an
    /// overrun. `None` when the socket is gone.
    pub async fn next(&mut self) -> Option<Vec<AddrEvent>> {
        loop {
            let (msg, _) = self.msgs.next().await?;
            if matches!(msg.payload, NetlinkPayload::Overrun(_)) {
                tracing::warn!(
                    "Netlink reflector: receive buffer overrun, reading addresses again"
                );
                let now: LocalAddrs = match self.dump().await {
                    Ok(d) => d.iter().map(|e| (e.ifindex, e.addr)).collect(),
                    Err(e) => {
                        tracing::warn!("Netlink reflector: {e}");
                        continue;
                    }
                };
                let evs = self.mirror.diff(&now);
                self.mirror = now;
                if evs.is_empty() {
                    continue;
                }
                return Some(evs);
            }
            if let Some(ev) = event_of(&msg) {
                self.mirror.apply(&ev);
                return Some(vec![ev]);
            }
        }
    }
}

/// keepalived's choice (keepalived_netlink.c `netlink_if_address_filter`):
/// IFA_LOCAL, else IFA_ADDRESS (they differ only on point-to-point links).
pub fn addr_of(m: &AddressMessage) -> Option<IpAddr> {
    let (mut local, mut address) = (None, None);
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            _ => {}
        }
    }
    local.or(address)
}

/// An RTM_NEWADDR / RTM_DELADDR notification as an event; anything else
/// (or an address message without an address) is none.
pub fn event_of(msg: &NetlinkMessage<RouteNetlinkMessage>) -> Option<AddrEvent> {
    let (m, present) = match &msg.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(m)) => (m, true),
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(m)) => (m, false),
        _ => return None,
    };
    Some(AddrEvent {
        ifindex: m.header.index,
        addr: addr_of(m)?,
        present,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::AddressFamily;
    use rtnetlink::packet_route::link::LinkMessage;

    fn addr_msg(index: u32, attrs: Vec<AddressAttribute>) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.index = index;
        m.header.prefix_len = 24;
        m.attributes = attrs;
        m
    }

    fn nl(inner: RouteNetlinkMessage) -> NetlinkMessage<RouteNetlinkMessage> {
        NetlinkMessage::from(inner)
    }

    #[test]
    fn new_and_del_address_become_events() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let m = addr_msg(
            3,
            vec![AddressAttribute::Address(ip), AddressAttribute::Local(ip)],
        );
        assert_eq!(
            event_of(&nl(RouteNetlinkMessage::NewAddress(m.clone()))),
            Some(AddrEvent {
                ifindex: 3,
                addr: ip,
                present: true
            })
        );
        assert_eq!(
            event_of(&nl(RouteNetlinkMessage::DelAddress(m))),
            Some(AddrEvent {
                ifindex: 3,
                addr: ip,
                present: false
            })
        );
    }

    #[test]
    fn local_wins_over_peer_address() {
        // `ip addr add 10.0.0.1 peer 10.0.0.2 dev tun0`: IFA_ADDRESS is the peer
        let m = addr_msg(
            4,
            vec![
                AddressAttribute::Address("10.0.0.2".parse().unwrap()),
                AddressAttribute::Local("10.0.0.1".parse().unwrap()),
            ],
        );
        assert_eq!(addr_of(&m), Some("10.0.0.1".parse().unwrap()));
        // IPv6 messages carry IFA_ADDRESS only
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            addr_of(&addr_msg(4, vec![AddressAttribute::Address(v6)])),
            Some(v6)
        );
    }

    #[test]
    fn other_messages_are_ignored() {
        assert_eq!(
            event_of(&nl(RouteNetlinkMessage::NewLink(LinkMessage::default()))),
            None
        );
        assert_eq!(
            event_of(&nl(RouteNetlinkMessage::NewAddress(addr_msg(1, vec![])))),
            None
        );
    }
}
