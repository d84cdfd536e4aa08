//! Gratuitous ARP (IPv4) and unsolicited Neighbour Advertisement (IPv6)
//! frames, built whole (Ethernet header included) for an AF_PACKET socket,
//! byte for byte as keepalived sends them (vrrp_arp.c, vrrp_ndisc.c).
//!
//! The builders are pure; [`GarpSocket`] is the one place that sends.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

use socket2::{Domain, Protocol, Socket, Type};

use crate::wire::checksum;

pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;
const BROADCAST: [u8; 6] = [0xff; 6];
/// RFC 2464 §7: ff02::1 maps to 33:33:00:00:00:01.
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const ICMPV6_NA: u8 = 136;
const ND_OPT_TARGET_LINKADDR: u8 = 2;
const NA_FLAG_ROUTER: u8 = 0x80;
const NA_FLAG_OVERRIDE: u8 = 0x20;

/// RFC 5227 §3 style announcement as keepalived sends it: an ARP *request*
/// with sender and target protocol address both the VIP, target hardware
/// address broadcast.
pub fn arp_frame(mac: [u8; 6], vip: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&1u16.to_be_bytes()); // ar_hrd ARPHRD_ETHER
    f.extend_from_slice(&0x0800u16.to_be_bytes()); // ar_pro IPv4
    f.push(6);
    f.push(4);
    f.extend_from_slice(&1u16.to_be_bytes()); // ARPOP_REQUEST
    f.extend_from_slice(&mac);
    f.extend_from_slice(&vip.octets());
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&vip.octets());
    f
}

/// RFC 4861 §7.2.6 unsolicited NA from the VIP to all-nodes, Override set,
/// Router set when the interface forwards, with the target link-layer
/// address option.
pub fn na_frame(mac: [u8; 6], vip: Ipv6Addr, router: bool) -> Vec<u8> {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut icmp = Vec::with_capacity(32);
    icmp.push(ICMPV6_NA);
    icmp.push(0);
    icmp.extend_from_slice(&[0, 0]); // checksum, below
    let flags = NA_FLAG_OVERRIDE | if router { NA_FLAG_ROUTER } else { 0 };
    icmp.extend_from_slice(&[flags, 0, 0, 0]);
    icmp.extend_from_slice(&vip.octets());
    icmp.push(ND_OPT_TARGET_LINKADDR);
    icmp.push(1);
    icmp.extend_from_slice(&mac);
    // RFC 4443 §2.3: checksum over the RFC 8200 pseudo-header (next header 58).
    let mut acc = checksum::sum(&vip.octets(), 0);
    acc = checksum::sum(&all_nodes.octets(), acc);
    acc += icmp.len() as u64 + 58;
    let c = checksum::finish(checksum::sum(&icmp, acc));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());

    let mut f = Vec::with_capacity(14 + 40 + icmp.len());
    f.extend_from_slice(&ALL_NODES_MAC);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.push(58); // ICMPv6
    f.push(255); // RFC 4861 §7.1.2: hop limit 255
    f.extend_from_slice(&vip.octets());
    f.extend_from_slice(&all_nodes.octets());
    f.extend_from_slice(&icmp);
    f
}

/// One AF_PACKET socket for all interfaces: the destination names the
/// interface, as in keepalived's shared GARP channel.
pub struct GarpSocket {
    sock: Socket,
}

impl GarpSocket {
    pub fn open() -> io::Result<Self> {
        // Protocol 0: send only, so the kernel never queues frames to us.
        let sock = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(0)))?;
        sock.set_nonblocking(true)?;
        Ok(Self { sock })
    }

    pub fn send_arp(&self, ifindex: u32, mac: [u8; 6], vip: Ipv4Addr) -> io::Result<()> {
        let frame = arp_frame(mac, vip);
        let addr = super::sys::sockaddr_ll(ifindex, ETH_P_ARP, BROADCAST)?;
        self.sock.send_to(&frame, &addr).map(|_| ())
    }

    pub fn send_na(
        &self,
        ifindex: u32,
        mac: [u8; 6],
        vip: Ipv6Addr,
        router: bool,
    ) -> io::Result<()> {
        let frame = na_frame(mac, vip, router);
        let addr = super::sys::sockaddr_ll(ifindex, ETH_P_IPV6, ALL_NODES_MAC)?;
        self.sock.send_to(&frame, &addr).map(|_| ())
    }
}

/// One announcement burst for the sender thread.
#[derive(Clone, Debug)]
pub enum GarpJob {
    Arp {
        ifindex: u32,
        ifname: String,
        mac: [u8; 6],
        vip: Ipv4Addr,
        repeat: u32,
    },
    Na {
        ifindex: u32,
        ifname: String,
        mac: [u8; 6],
        vip: Ipv6Addr,
        router: bool,
        repeat: u32,
    },
}

/// Sends GARP/NA bursts on a thread of its own: a thousand instances'
/// delayed bursts (5 frames per VIP each) take milliseconds of syscalls,
/// which must never delay an advert on the engine's thread.
///
/// `vrrp_garp_interval` / `vrrp_gna_interval` space the frames sent on one
/// interface, as keepalived paces them (switches rate-limit ARP).
pub struct GarpSender {
    tx: std::sync::mpsc::Sender<GarpJob>,
    /// Microseconds between two ARPs / two NAs on one interface (0: none).
    garp_us: std::sync::Arc<std::sync::atomic::AtomicU64>,
    gna_us: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// `-D`: a line per frame, as keepalived logs them.
    detail: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// When each interface may send its next frame of each kind.
#[derive(Default)]
struct Pace {
    next: std::collections::HashMap<(u32, bool), std::time::Instant>,
}

impl Pace {
    /// Waits until `ifindex` may send again (`v6`: an NA), then books the
    /// slot after this frame.
    fn wait(&mut self, ifindex: u32, v6: bool, gap_us: u64) {
        if gap_us == 0 {
            return;
        }
        let now = std::time::Instant::now();
        if let Some(at) = self.next.get(&(ifindex, v6)).copied()
            && at > now
        {
            std::thread::sleep(at - now);
        }
        // From the real send time: a late wake-up must not shorten the gap
        // before the next frame.
        self.next.insert(
            (ifindex, v6),
            std::time::Instant::now() + std::time::Duration::from_micros(gap_us),
        );
    }
}

impl GarpSender {
    pub fn spawn(sock: GarpSocket) -> io::Result<Self> {
        use std::sync::atomic::Ordering::Relaxed;
        let (tx, rx) = std::sync::mpsc::channel::<GarpJob>();
        let garp_us = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let gna_us = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let detail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (g, n, d) = (garp_us.clone(), gna_us.clone(), detail.clone());
        std::thread::Builder::new()
            .name("vrrp-garp".into())
            .spawn(move || {
                let mut pace = Pace::default();
                for job in rx {
                    match job {
                        GarpJob::Arp {
                            ifindex,
                            ifname,
                            mac,
                            vip,
                            repeat,
                        } => {
                            for _ in 0..repeat {
                                pace.wait(ifindex, false, g.load(Relaxed));
                                if d.load(Relaxed) {
                                    tracing::info!("Sending gratuitous ARP on {ifname} for {vip}");
                                }
                                if let Err(e) = sock.send_arp(ifindex, mac, vip) {
                                    tracing::info!(
                                        "Error {e} sending gratuitous ARP on {ifname} for {vip}"
                                    );
                                }
                            }
                        }
                        GarpJob::Na {
                            ifindex,
                            ifname,
                            mac,
                            vip,
                            router,
                            repeat,
                        } => {
                            for _ in 0..repeat {
                                pace.wait(ifindex, true, n.load(Relaxed));
                                if d.load(Relaxed) {
                                    tracing::info!(
                                        "Sending unsolicited Neighbour Advert on {ifname} for {vip}"
                                    );
                                }
                                if let Err(e) = sock.send_na(ifindex, mac, vip, router) {
                                    tracing::info!(
                                        "Error {e} sending unsolicited NA on {ifname} for {vip}"
                                    );
                                }
                            }
                        }
                    }
                }
            })?;
        Ok(Self {
            tx,
            garp_us,
            gna_us,
            detail,
        })
    }

    /// `-D`: log every frame.
    pub fn set_detail(&self, on: bool) {
        self.detail.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// The spacing of ARPs and of NAs on one interface.
    pub fn set_intervals(&self, garp: std::time::Duration, gna: std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        self.garp_us.store(garp.as_micros() as u64, Relaxed);
        self.gna_us.store(gna.as_micros() as u64, Relaxed);
    }

    pub fn send(&self, job: GarpJob) {
        let _ = self.tx.send(job);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn arp_matches_keepalived_layout() {
        let f = arp_frame(
            [0xea, 0x96, 0xff, 0xb9, 0x4a, 0xfa],
            "10.77.0.100".parse().unwrap(),
        );
        assert_eq!(
            f,
            hex(
                "ff ff ff ff ff ff ea 96 ff b9 4a fa 08 06 00 01 08 00 06 04 00 01
                 ea 96 ff b9 4a fa 0a 4d 00 64 ff ff ff ff ff ff 0a 4d 00 64"
            )
        );
    }

    #[test]
    fn na_checksum_verifies() {
        let vip: Ipv6Addr = "fd77::100".parse().unwrap();
        let f = na_frame([2, 0, 0, 0, 0, 1], vip, false);
        assert_eq!(f.len(), 14 + 40 + 32);
        let icmp = &f[54..];
        let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
        let mut acc = checksum::sum(&vip.octets(), 0);
        acc = checksum::sum(&all_nodes.octets(), acc);
        acc += icmp.len() as u64 + 58;
        assert_eq!(checksum::finish(checksum::sum(icmp, acc)), 0);
        assert_eq!(icmp[4], NA_FLAG_OVERRIDE);
        assert_eq!(f[21], 255);
    }
}
