//! Raw VRRP sockets, one receive socket per (interface, family, protocol)
//! and one send socket per (interface, family, source, hop limit). As in
//! keepalived, instances with `auth_type AH` listen on their own IPPROTO_AH
//! socket, so each kind of instance only ever sees its own kind of packet.
//!
//! Receive sockets are bound to the device (SO_BINDTODEVICE), join the VRRP
//! group on it, and turn IP_MULTICAST_ALL off so that groups joined by other
//! sockets do not leak in. Send sockets never receive: IPv4 uses an
//! IPPROTO_RAW socket (header included, so TTL, TOS, id and source are ours,
//! as keepalived builds them); IPv6 lets the kernel build the header and fill
//! the checksum (IPV6_CHECKSUM), with hop limit 255 for multicast.
//!
//! Decoding happens here, in the receive task: the result, good or bad,
//! reaches the state machine as an `Input::Advert`.

use std::collections::HashMap;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg, setsockopt, sockopt};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use crate::wire::{self, Advert, DecodeError, Ipv4Tx, Ipv6Meta, RxConfig};

use super::sys;

/// Where a received advert should go, and how to check it.
#[derive(Clone, Debug)]
pub struct RxEntry {
    /// Global instance index.
    pub instance: usize,
    pub cfg: RxConfig,
    /// Unicast peers with their accepted TTL range (keepalived
    /// `unicast_peer { IP min_ttl N max_ttl M }`).
    pub peers: Vec<(IpAddr, Option<u8>, Option<u8>)>,
    /// Drop adverts from sources that are not peers.
    pub check_unicast_src: bool,
}

/// VRID → instances listening on one socket.
pub type RxTable = HashMap<u8, Vec<RxEntry>>;

/// One received packet, decoded for its instance, or a line to log.
#[derive(Debug)]
pub enum RxEvent {
    Advert {
        instance: usize,
        src: IpAddr,
        ttl: u8,
        pkt: Result<Advert, DecodeError>,
    },
    /// A packet from an unexpected source (check_unicast_src) or with a TTL
    /// outside the peer's range: keepalived logs and drops.
    Dropped { instance: usize, line: String },
}

fn raw(domain: Domain, proto: i32) -> io::Result<Socket> {
    let s = Socket::new(domain, Type::RAW, Some(Protocol::from(proto)))?;
    s.set_nonblocking(true)?;
    s.set_cloexec(true)?;
    Ok(s)
}

/// Opens the IPv4 receive socket of `ifname` for VRRP, or for AH if `ah`,
/// and joins `group` on it.
pub fn rx_v4(
    ifname: &str,
    ifindex: u32,
    group: Option<Ipv4Addr>,
    ah: bool,
) -> io::Result<AsyncFd<Socket>> {
    let proto = if ah {
        wire::IPPROTO_AH
    } else {
        wire::IPPROTO_VRRP
    };
    let s = raw(Domain::IPV4, i32::from(proto))?;
    s.bind_device(Some(ifname.as_bytes()))?;
    s.set_multicast_all_v4(false)?;
    if let Some(g) = group {
        s.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex))?;
    }
    sys::async_fd(s)
}

/// Opens the IPv6 receive socket of `ifname` and joins `group` on it.
pub fn rx_v6(ifname: &str, ifindex: u32, group: Option<Ipv6Addr>) -> io::Result<AsyncFd<Socket>> {
    let s = raw(Domain::IPV6, i32::from(wire::IPPROTO_VRRP))?;
    s.bind_device(Some(ifname.as_bytes()))?;
    s.set_multicast_all_v6(false)?;
    // RFC 5798 §5.2.8: the kernel verifies the pseudo-header checksum.
    sys::set_ipv6_checksum(&s, 6)?;
    s.set_recv_hoplimit_v6(true)?;
    setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true)?;
    if let Some(g) = group {
        s.join_multicast_v6(&g, ifindex)?;
    }
    sys::async_fd(s)
}

/// Sends adverts out of one interface.
pub struct TxSocket {
    sock: Socket,
    ifindex: u32,
    /// keepalived numbers its IPv4 packets from 1, skipping 0.
    ip_id: u16,
}

impl TxSocket {
    pub fn v4(ifname: &str, ifindex: u32) -> io::Result<Self> {
        // IPPROTO_RAW: header included, and never handed received packets.
        let s = raw(Domain::IPV4, libc::IPPROTO_RAW)?;
        s.bind_device(Some(ifname.as_bytes()))?;
        s.set_multicast_loop_v4(false)?;
        s.set_multicast_if_v4(&Ipv4Addr::UNSPECIFIED).ok();
        Ok(Self {
            sock: s,
            ifindex,
            ip_id: 0,
        })
    }

    pub fn v6(
        ifname: &str,
        ifindex: u32,
        src: Option<Ipv6Addr>,
        unicast_hops: Option<u8>,
    ) -> io::Result<Self> {
        let s = raw(Domain::IPV6, i32::from(wire::IPPROTO_VRRP))?;
        s.bind_device(Some(ifname.as_bytes()))?;
        s.set_multicast_loop_v6(false)?;
        s.set_multicast_if_v6(ifindex)?;
        s.set_multicast_hops_v6(u32::from(wire::VRRP_TTL))?;
        if let Some(h) = unicast_hops {
            s.set_unicast_hops_v6(u32::from(h))?;
        }
        sys::set_ipv6_checksum(&s, 6)?;
        // A send-only socket: keep its receive queue tiny.
        s.set_recv_buffer_size(256).ok();
        if let Some(src) = src {
            // The address may still be tentative right after link up.
            s.set_freebind_v6(true).ok();
            let scope = if src.is_unicast_link_local() {
                ifindex
            } else {
                0
            };
            s.bind(&SockAddr::from(SocketAddrV6::new(src, 0, 0, scope)))?;
        }
        Ok(Self {
            sock: s,
            ifindex,
            ip_id: 0,
        })
    }

    /// Encodes and sends `advert` from `src` to `dst` (IPv4).
    pub fn send_v4(
        &mut self,
        advert: &Advert,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        v3_as_v2: bool,
    ) -> io::Result<()> {
        self.ip_id = self.ip_id.wrapping_add(1);
        if self.ip_id == 0 {
            self.ip_id = 1;
        }
        let tx = Ipv4Tx {
            src,
            dst,
            ttl,
            id: self.ip_id,
            v3_checksum_as_v2: v3_as_v2,
        };
        let mut buf = [0u8; 2048];
        let n = wire::encode_ipv4(advert, &tx, &mut buf).map_err(io::Error::other)?;
        self.sock
            .send_to(&buf[..n], &SockAddr::from(SocketAddrV4::new(dst, 0)))
            .map(|_| ())
    }

    /// Encodes and sends `advert` to `dst` (IPv6); the kernel adds the header.
    pub fn send_v6(&mut self, advert: &Advert, src: Ipv6Addr, dst: Ipv6Addr) -> io::Result<()> {
        let mut buf = [0u8; 8192];
        let n = wire::encode_ipv6(advert, src, dst, &mut buf).map_err(io::Error::other)?;
        let scope = if dst.is_multicast() || dst.is_unicast_link_local() {
            self.ifindex
        } else {
            0
        };
        let to = SockaddrIn6::from(SocketAddrV6::new(dst, 0, 0, scope));
        if src.is_unspecified() {
            return nix::sys::socket::sendto(
                self.sock.as_raw_fd(),
                &buf[..n],
                &to,
                MsgFlags::empty(),
            )
            .map(|_| ())
            .map_err(io::Error::from);
        }
        // The source as keepalived gives it (IPV6_PKTINFO): the interface's
        // own link-local address, never one the kernel might prefer, such
        // as a link-local VIP (which the drop rules of a no_accept master
        // would also stop).
        let info = libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: src.octets(),
            },
            ipi6_ifindex: self.ifindex,
        };
        nix::sys::socket::sendmsg(
            self.sock.as_raw_fd(),
            &[io::IoSlice::new(&buf[..n])],
            &[nix::sys::socket::ControlMessage::Ipv6PacketInfo(&info)],
            MsgFlags::empty(),
            Some(&to),
        )
        .map(|_| ())
        .map_err(io::Error::from)
    }
}

fn pick(table: &RxTable, vrid: u8, multicast: bool) -> Option<&RxEntry> {
    let list = table.get(&vrid)?;
    list.iter()
        .find(|e| e.cfg.unicast != multicast)
        .or_else(|| list.first())
}

/// keepalived's unicast source and TTL checks; `Some(line)` drops the packet.
fn unicast_checks(e: &RxEntry, name: &str, src: IpAddr, ttl: u8) -> Option<String> {
    if !e.cfg.unicast || e.peers.is_empty() {
        return None;
    }
    let peer = e.peers.iter().find(|p| p.0 == src);
    match peer {
        None if e.check_unicast_src => Some(format!(
            "({name}) unicast source address {src} not a unicast peer"
        )),
        Some((_, min, max)) if min.is_some() || max.is_some() => {
            let lo = min.unwrap_or(0);
            let hi = max.unwrap_or(255);
            (ttl < lo || ttl > hi)
                .then(|| format!("({name}) TTL/HL {ttl} not in range {lo} - {hi}"))
        }
        _ => None,
    }
}

/// Receive loop of one socket. `names` gives instance names for log lines.
pub async fn rx_loop(
    fd: AsyncFd<Socket>,
    v6: bool,
    table: Arc<RxTable>,
    names: Arc<Vec<String>>,
    out: mpsc::UnboundedSender<RxEvent>,
) {
    let mut buf = vec![0u8; 65536];
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
    loop {
        let Ok(mut guard) = fd.readable().await else {
            return;
        };
        let res = guard.try_io(|inner| {
            if v6 {
                recv_v6(inner.get_ref(), &mut buf, &mut cmsg)
            } else {
                let n = nix::sys::socket::recv(inner.as_raw_fd(), &mut buf, MsgFlags::empty())?;
                Ok((n, None))
            }
        });
        let (n, meta) = match res {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::debug!("VRRP receive error: {e}");
                continue;
            }
            Err(_would_block) => continue,
        };
        let pkt = &buf[..n];
        let ev = if let Some(meta) = meta {
            decode6(pkt, meta, &table, &names)
        } else {
            decode4(pkt, &table, &names)
        };
        if let Some(ev) = ev
            && out.send(ev).is_err()
        {
            return;
        }
    }
}

// nix's recvmsg takes the control buffer as a Vec.
#[allow(clippy::ptr_arg)]
fn recv_v6(
    sock: &Socket,
    buf: &mut [u8],
    cmsg: &mut Vec<u8>,
) -> io::Result<(usize, Option<Ipv6Meta>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn6>(sock.as_raw_fd(), &mut iov, Some(cmsg), MsgFlags::empty())?;
    let mut hop_limit = None;
    let mut dst = Ipv6Addr::UNSPECIFIED;
    for c in msg.cmsgs()? {
        match c {
            ControlMessageOwned::Ipv6HopLimit(h) => hop_limit = u8::try_from(h).ok(),
            ControlMessageOwned::Ipv6PacketInfo(p) => dst = Ipv6Addr::from(p.ipi6_addr.s6_addr),
            _ => {}
        }
    }
    let src = msg.address.map(|a| a.ip()).unwrap_or(Ipv6Addr::UNSPECIFIED);
    Ok((
        msg.bytes,
        Some(Ipv6Meta {
            src,
            dst,
            hop_limit,
        }),
    ))
}

fn decode4(pkt: &[u8], table: &RxTable, names: &[String]) -> Option<RxEvent> {
    let vrid = wire::peek_vrid_ipv4(pkt)?;
    let dst_mc = pkt.get(16).is_some_and(|b| (224..240).contains(b));
    let e = pick(table, vrid, dst_mc)?;
    let src = IpAddr::V4(Ipv4Addr::new(
        *pkt.get(12)?,
        *pkt.get(13)?,
        *pkt.get(14)?,
        *pkt.get(15)?,
    ));
    let ttl = *pkt.get(8)?;
    let name = names.get(e.instance).map_or("", String::as_str);
    if let Some(line) = unicast_checks(e, name, src, ttl) {
        return Some(RxEvent::Dropped {
            instance: e.instance,
            line,
        });
    }
    let pkt = wire::decode_ipv4(pkt, &e.cfg).map(|rx| rx.advert);
    Some(RxEvent::Advert {
        instance: e.instance,
        src,
        ttl,
        pkt,
    })
}

fn decode6(pkt: &[u8], meta: Ipv6Meta, table: &RxTable, names: &[String]) -> Option<RxEvent> {
    let vrid = wire::peek_vrid_ipv6(pkt)?;
    let e = pick(table, vrid, meta.dst.is_multicast())?;
    let src = IpAddr::V6(meta.src);
    let ttl = meta.hop_limit.unwrap_or(255);
    let name = names.get(e.instance).map_or("", String::as_str);
    if let Some(line) = unicast_checks(e, name, src, ttl) {
        return Some(RxEvent::Dropped {
            instance: e.instance,
            line,
        });
    }
    let pkt = wire::decode_ipv6(pkt, &meta, &e.cfg).map(|rx| rx.advert);
    Some(RxEvent::Advert {
        instance: e.instance,
        src,
        ttl,
        pkt,
    })
}
