//! VRRP advertisement codec: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798) over
//! IPv4 and IPv6.
//!
//! Owns the byte layout, the checksums and the receive-side validation that
//! keepalived performs in `vrrp_check_packet()`, in the same order, so that
//! the same packet bumps the same counter. It never touches a socket, a clock
//! or an instance's state; the state machine receives the `Result` of
//! [`decode_ipv4`]/[`decode_ipv6`] as an input like any other.
//!
//! Decoding takes a [`RxConfig`] because several checks compare against the
//! receiving instance (version, authentication, VRRPv2 interval, unicast
//! mode). A driver finds the instance first with [`peek_vrid_ipv4`] /
//! [`peek_vrid_ipv6`], as keepalived does.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use serde::{Deserialize, Serialize};

use crate::types::{Centisecs, Family, Priority, Version, Vrid};

/// IANA protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// IPsec AH (RFC 2402), which RFC 2338 VRRPv2 may run under.
pub const IPPROTO_AH: u8 = 51;
/// RFC 3768 §5.2.3 / RFC 5798 §5.1.1.3: TTL / hop limit of every advert.
pub const VRRP_TTL: u8 = 255;
/// IPv4 TOS keepalived sends with (IPTOS_PREC_INTERNETCONTROL).
pub const IPV4_TOS: u8 = 0xc0;
/// Fixed VRRP header before the addresses.
pub const HEADER_LEN: usize = 8;
/// VRRPv2 authentication data after the addresses (IPv4 only).
pub const AUTH_LEN: usize = 8;
/// The one packet type both RFCs define (ADVERTISEMENT).
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// RFC 3768 §5.3.6 authentication types.
pub const AUTH_TYPE_NONE: u8 = 0;
pub const AUTH_TYPE_PASS: u8 = 1;
pub const AUTH_TYPE_AH: u8 = 2;

/// Size of the AH header keepalived emits (RFC 2402 with a 96-bit ICV).
pub const AH_LEN: usize = 24;
/// RFC 2403: HMAC-MD5 truncated to 96 bits.
const AH_ICV_LEN: usize = 12;
/// RFC 2402 §2.2: the AH length in 32-bit words, minus 2.
const AH_PAYLOAD_LEN: u8 = (AH_LEN / 4 - 2) as u8;
const IPV4_MIN_HEADER: usize = 20;
/// ETH_ZLEN - ETH_HLEN: a shorter IP packet arrives padded to this size.
const ETH_MIN_PAYLOAD: usize = 46;
/// Each VLAN tag removed by the kernel shortens the minimum payload by 4.
const VLAN_TAG_LEN: usize = 4;

/// Byte offsets inside the fixed VRRP header (both versions).
///
/// ```text
/// RFC 3768 §5.1 (VRRPv2)
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Auth Type   |   Adver Int   |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         IP Address (1)                        |
/// |                            ...                                |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Authentication Data (1)                   |
/// |                     Authentication Data (2)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// RFC 5798 §5.1 (VRRPv3; addresses are 4 or 16 bytes, no auth data)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |(rsvd) |     Max Adver Int     |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       IPvX Address(es)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
mod field {
    pub const VERS_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const NADDR: usize = 3;
    /// v2: Auth Type. v3: high nibble reserved, low nibble = interval bits 8..12.
    pub const AUTH_TYPE: usize = 4;
    /// v2: Adver Int (seconds).
    pub const ADVER_INT_V2: usize = 5;
    /// v3: Max Adver Int, 12 bits (centiseconds), big-endian u16 masked 0x0fff.
    pub const ADVER_INT_V3: std::ops::Range<usize> = 4..6;
    pub const CHECKSUM: std::ops::Range<usize> = 6..8;
    pub const ADDRS: usize = 8;
}

/// Byte offsets inside the IPv4 header (RFC 791).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version|  IHL  |Type of Service|          Total Length         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Identification        |Flags|      Fragment Offset    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Time to Live |    Protocol   |         Header Checksum       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Source Address                          |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Destination Address                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
mod ipv4_field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOT_LEN: std::ops::Range<usize> = 2..4;
    pub const ID: std::ops::Range<usize> = 4..6;
    pub const FRAG: std::ops::Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: std::ops::Range<usize> = 10..12;
    pub const SRC: std::ops::Range<usize> = 12..16;
    pub const DST: std::ops::Range<usize> = 16..20;
}

/// Byte offsets inside the AH header keepalived sends (RFC 2402 §2).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Header   |  Payload Len  |          RESERVED             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Security Parameters Index (SPI)               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Sequence Number Field                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |            Authentication Data (HMAC-MD5-96, 12 bytes)        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
mod ah_field {
    pub const NEXT_HEADER: usize = 0;
    pub const PAYLOAD_LEN: usize = 1;
    pub const RESERVED: std::ops::Range<usize> = 2..4;
    pub const SPI: std::ops::Range<usize> = 4..8;
    pub const SEQ: std::ops::Range<usize> = 8..12;
    pub const ICV: std::ops::Range<usize> = 12..24;
}

/// The AH integrity check value of `pkt` (IPv4 header of `ihl` bytes, the
/// AH header, then VRRP), as keepalived computes it on both sides: HMAC-MD5
/// over the packet with the fields that change in transit zeroed (TOS,
/// fragment, header checksum, the TTL when unicast) and the ICV itself
/// zeroed, truncated to 96 bits (RFC 2403).
fn ah_icv(key: &[u8; AUTH_LEN], pkt: &[u8], ihl: usize, unicast: bool) -> [u8; AH_ICV_LEN] {
    // 60 bytes is the longest IPv4 header (IHL 15).
    let mut head = [0u8; 60 + AH_LEN];
    let head = &mut head[..ihl + AH_LEN];
    head.copy_from_slice(&pkt[..ihl + AH_LEN]);
    head[ipv4_field::TOS] = 0;
    head[ipv4_field::FRAG].fill(0);
    head[ipv4_field::CHECKSUM].fill(0);
    if unicast {
        head[ipv4_field::TTL] = 0;
    }
    head[ihl + ah_field::ICV.start..].fill(0);
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(head);
    mac.update(&pkt[ihl + AH_LEN..]);
    let digest = mac.finalize().into_bytes();
    let mut icv = [0u8; AH_ICV_LEN];
    icv.copy_from_slice(&digest[..AH_ICV_LEN]);
    icv
}

/// Constant time, as keepalived's `memcmp_constant_time`.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// keepalived's AH checks after the auth type (vrrp.c `vrrp_in_chk_ipsecah`):
/// the next header, the ICV, then the SPI. The sequence number is the
/// instance's to judge.
fn verify_ah(
    pkt: &[u8],
    ihl: usize,
    key: &[u8; AUTH_LEN],
    unicast: bool,
    vrid: u8,
) -> Result<u32, DecodeError> {
    let h = &pkt[ihl..ihl + AH_LEN];
    if h[ah_field::NEXT_HEADER] != IPPROTO_VRRP {
        return Err(DecodeError::AhNotVrrp { vrid });
    }
    if !same_secret(&h[ah_field::ICV], &ah_icv(key, pkt, ihl, unicast)) {
        return Err(DecodeError::AhIcv { vrid });
    }
    let mut spi = [0u8; 4];
    spi.copy_from_slice(&h[ah_field::SPI]);
    let mut saddr = [0u8; 4];
    saddr.copy_from_slice(&pkt[ipv4_field::SRC]);
    if spi != saddr {
        // keepalived prints both as host-order integers of the raw bytes.
        return Err(DecodeError::AhSpi {
            vrid,
            saddr: u32::from_ne_bytes(saddr),
            spi: u32::from_ne_bytes(spi),
        });
    }
    let mut seq = [0u8; 4];
    seq.copy_from_slice(&h[ah_field::SEQ]);
    Ok(u32::from_be_bytes(seq))
}

/// One decoded (or to-be-encoded) advertisement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advert {
    pub vrid: Vrid,
    pub priority: Priority,
    pub kind: Kind,
    pub addrs: Addrs,
}

/// The version-specific part of the header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// RFC 3768: interval in whole seconds; authentication only over IPv4.
    V2 { adver_int: u8, auth: Auth },
    /// RFC 5798: 12-bit interval in centiseconds, no authentication.
    V3 { max_adver_int: Centisecs },
}

/// VRRPv2 authentication (RFC 3768 §5.3.6, RFC 2338 §5.3.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Auth {
    None,
    /// Cleartext password, zero-padded to 8 bytes.
    Pass([u8; AUTH_LEN]),
    /// IPsec AH (RFC 2402) the way keepalived does it without any SA: an
    /// HMAC-MD5-96 keyed with the password (zero-padded to 8 bytes), the
    /// sender's address as SPI, and a sequence number. `seq` is the number
    /// sent or received; in an [`RxConfig`] it means nothing.
    Ah {
        key: [u8; AUTH_LEN],
        seq: u32,
    },
}

impl Auth {
    /// Build a PASS value the way keepalived stores `auth_pass`: at most
    /// 8 bytes, the rest zero.
    pub fn pass(password: &[u8]) -> Self {
        Self::Pass(padded(password))
    }

    /// An AH value keyed as keepalived keys it (the same 8 bytes as PASS).
    pub fn ah(password: &[u8]) -> Self {
        Self::Ah {
            key: padded(password),
            seq: 0,
        }
    }

    pub const fn type_code(&self) -> u8 {
        match self {
            Self::None => AUTH_TYPE_NONE,
            Self::Pass(_) => AUTH_TYPE_PASS,
            Self::Ah { .. } => AUTH_TYPE_AH,
        }
    }

    pub const fn is_ah(&self) -> bool {
        matches!(self, Self::Ah { .. })
    }
}

fn padded(password: &[u8]) -> [u8; AUTH_LEN] {
    let mut data = [0u8; AUTH_LEN];
    for (d, s) in data.iter_mut().zip(password) {
        *d = *s;
    }
    data
}

/// The virtual addresses carried in an advert, all of one family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Addrs {
    V4(Vec<Ipv4Addr>),
    V6(Vec<Ipv6Addr>),
}

impl Addrs {
    pub fn len(&self) -> usize {
        match self {
            Self::V4(v) => v.len(),
            Self::V6(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub const fn family(&self) -> Family {
        match self {
            Self::V4(_) => Family::V4,
            Self::V6(_) => Family::V6,
        }
    }

    fn addr_len(&self) -> usize {
        match self {
            Self::V4(_) => 4,
            Self::V6(_) => 16,
        }
    }

    /// Whether `ip` is one of these addresses.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Self::V4(v), IpAddr::V4(a)) => v.contains(&a),
            (Self::V6(v), IpAddr::V6(a)) => v.contains(&a),
            _ => false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let (v4, v6) = match self {
            Self::V4(v) => (v.as_slice(), &[][..]),
            Self::V6(v) => (&[][..], v.as_slice()),
        };
        v4.iter()
            .map(|a| IpAddr::V4(*a))
            .chain(v6.iter().map(|a| IpAddr::V6(*a)))
    }
}

impl Advert {
    pub const fn version(&self) -> Version {
        match self.kind {
            Kind::V2 { .. } => Version::V2,
            Kind::V3 { .. } => Version::V3,
        }
    }

    pub const fn family(&self) -> Family {
        self.addrs.family()
    }

    /// The advertised interval, whatever the version's unit.
    pub const fn interval(&self) -> Centisecs {
        match self.kind {
            Kind::V2 { adver_int, .. } => Centisecs::from_secs(adver_int),
            Kind::V3 { max_adver_int } => max_adver_int,
        }
    }

    /// Bytes of the VRRP part: header, addresses and (v2 over IPv4) auth data.
    pub fn vrrp_len(&self) -> usize {
        HEADER_LEN + self.addrs.len() * self.addrs.addr_len() + self.auth_len()
    }

    fn auth_len(&self) -> usize {
        match (&self.kind, &self.addrs) {
            (Kind::V2 { .. }, Addrs::V4(_)) => AUTH_LEN,
            _ => 0,
        }
    }

    fn check_encodable(&self) -> Result<(), EncodeError> {
        if self.addrs.len() > usize::from(u8::MAX) {
            return Err(EncodeError::TooManyAddrs(self.addrs.len()));
        }
        match &self.kind {
            Kind::V2 {
                auth: Auth::Pass(_) | Auth::Ah { .. },
                ..
            } if self.family() == Family::V6 => Err(EncodeError::AuthOverIpv6),
            Kind::V3 { max_adver_int } if *max_adver_int > Centisecs::V3_MAX => {
                Err(EncodeError::IntervalOutOfRange(max_adver_int.get()))
            }
            _ => Ok(()),
        }
    }

    /// Write the VRRP part (no IP header) into the front of `buf` and return
    /// its length. The checksum covers what `mode` says.
    pub fn encode_vrrp(&self, buf: &mut [u8], mode: ChecksumMode) -> Result<usize, EncodeError> {
        self.check_encodable()?;
        let len = self.vrrp_len();
        let available = buf.len();
        let out = buf.get_mut(..len).ok_or(EncodeError::BufferTooSmall {
            needed: len,
            available,
        })?;
        let version = self.version().number();
        out[field::VERS_TYPE] = (version << 4) | TYPE_ADVERTISEMENT;
        out[field::VRID] = self.vrid.get();
        out[field::PRIORITY] = self.priority.get();
        // Checked above: at most 255 addresses.
        out[field::NADDR] = self.addrs.len() as u8;
        match &self.kind {
            Kind::V2 { adver_int, auth } => {
                out[field::AUTH_TYPE] = auth.type_code();
                out[field::ADVER_INT_V2] = *adver_int;
            }
            Kind::V3 { max_adver_int } => {
                // RFC 5798 §5.2.5: the 4 reserved bits are sent as zero.
                out[field::ADVER_INT_V3]
                    .copy_from_slice(&(max_adver_int.get() & 0x0fff).to_be_bytes());
            }
        }
        out[field::CHECKSUM].fill(0);
        let mut off = field::ADDRS;
        match &self.addrs {
            Addrs::V4(v) => {
                for a in v {
                    out[off..off + 4].copy_from_slice(&a.octets());
                    off += 4;
                }
            }
            Addrs::V6(v) => {
                for a in v {
                    out[off..off + 16].copy_from_slice(&a.octets());
                    off += 16;
                }
            }
        }
        if self.auth_len() > 0 {
            let data = match &self.kind {
                Kind::V2 {
                    auth: Auth::Pass(p),
                    ..
                } => *p,
                // RFC 3768 §5.3.10: zero when not used; AH carries its
                // proof in its own header.
                _ => [0; AUTH_LEN],
            };
            out[off..off + AUTH_LEN].copy_from_slice(&data);
        }
        let csum = match mode {
            ChecksumMode::Zero => 0,
            ChecksumMode::Plain => checksum::internet(out),
            ChecksumMode::Ipv4Pseudo { src, dst } => {
                // vrrp_len fits u16: at most 8 + 255*16 bytes.
                let acc = checksum::ipv4_pseudo(src, dst, len as u16);
                checksum::finish(checksum::sum(out, acc))
            }
            ChecksumMode::Ipv6Pseudo { src, dst } => {
                let acc = checksum::ipv6_pseudo(src, dst, len as u32);
                checksum::finish(checksum::sum(out, acc))
            }
        };
        out[field::CHECKSUM].copy_from_slice(&csum.to_be_bytes());
        Ok(len)
    }
}

/// What the VRRP checksum covers when encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Leave it 0 (IPv6 with the kernel's IPV6_CHECKSUM filling it in).
    Zero,
    /// RFC 3768 §5.3.8: the VRRP message alone. Also VRRPv3 over IPv4 with
    /// keepalived's `v3_checksum_as_v2`.
    Plain,
    /// RFC 5798 §5.2.8 over IPv4: with the pseudo-header {src, dst, 0, 112, len}.
    Ipv4Pseudo { src: Ipv4Addr, dst: Ipv4Addr },
    /// RFC 5798 §5.2.8 over IPv6 (RFC 8200 §8.1 pseudo-header).
    Ipv6Pseudo { src: Ipv6Addr, dst: Ipv6Addr },
}

/// IPv4 header fields the sender chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Tx {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// 255 except with keepalived's `unicast_ttl`.
    pub ttl: u8,
    /// keepalived counts it up per advert, skipping 0 (which would make the
    /// kernel pick one).
    pub id: u16,
    /// Checksum VRRPv3 without the pseudo-header (keepalived `v3_checksum_as_v2`).
    pub v3_checksum_as_v2: bool,
}

/// Encode a whole IPv4 packet (header built as keepalived does for its
/// IP_HDRINCL raw socket) into the front of `buf`; returns its length.
pub fn encode_ipv4(advert: &Advert, tx: &Ipv4Tx, buf: &mut [u8]) -> Result<usize, EncodeError> {
    if advert.family() != Family::V4 {
        return Err(EncodeError::FamilyMismatch);
    }
    advert.check_encodable()?;
    let ah = match &advert.kind {
        Kind::V2 {
            auth: Auth::Ah { key, seq },
            ..
        } => Some((*key, *seq)),
        _ => None,
    };
    let vrrp_off = IPV4_MIN_HEADER + if ah.is_some() { AH_LEN } else { 0 };
    let total = vrrp_off + advert.vrrp_len();
    let available = buf.len();
    let out = buf.get_mut(..total).ok_or(EncodeError::BufferTooSmall {
        needed: total,
        available,
    })?;
    let mode = match advert.kind {
        Kind::V2 { .. } => ChecksumMode::Plain,
        Kind::V3 { .. } if tx.v3_checksum_as_v2 => ChecksumMode::Plain,
        Kind::V3 { .. } => ChecksumMode::Ipv4Pseudo {
            src: tx.src,
            dst: tx.dst,
        },
    };
    advert.encode_vrrp(&mut out[vrrp_off..], mode)?;
    let ip = &mut out[..IPV4_MIN_HEADER];
    ip[ipv4_field::VER_IHL] = 0x45;
    ip[ipv4_field::TOS] = IPV4_TOS;
    // total <= 20 + 24 + 8 + 255*4 + 8.
    ip[ipv4_field::TOT_LEN].copy_from_slice(&(total as u16).to_be_bytes());
    ip[ipv4_field::ID].copy_from_slice(&tx.id.to_be_bytes());
    ip[ipv4_field::FRAG].fill(0);
    ip[ipv4_field::TTL] = tx.ttl;
    ip[ipv4_field::PROTOCOL] = if ah.is_some() {
        IPPROTO_AH
    } else {
        IPPROTO_VRRP
    };
    ip[ipv4_field::CHECKSUM].fill(0);
    ip[ipv4_field::SRC].copy_from_slice(&tx.src.octets());
    ip[ipv4_field::DST].copy_from_slice(&tx.dst.octets());
    if let Some((key, seq)) = ah {
        let h = &mut out[IPV4_MIN_HEADER..vrrp_off];
        h[ah_field::NEXT_HEADER] = IPPROTO_VRRP;
        h[ah_field::PAYLOAD_LEN] = AH_PAYLOAD_LEN;
        h[ah_field::RESERVED].fill(0);
        // keepalived's SPI is the source address, so it needs no SA.
        h[ah_field::SPI].copy_from_slice(&tx.src.octets());
        h[ah_field::SEQ].copy_from_slice(&seq.to_be_bytes());
        // A unicast instance's adverts may cross routers, so keepalived
        // leaves the TTL out of the ICV; every unicast destination is.
        let icv = ah_icv(&key, out, IPV4_MIN_HEADER, !tx.dst.is_multicast());
        out[IPV4_MIN_HEADER + ah_field::ICV.start..vrrp_off].copy_from_slice(&icv);
    }
    let ip = &mut out[..IPV4_MIN_HEADER];
    // The kernel recomputes this for IP_HDRINCL; filling it keeps test
    // captures and encoded packets byte-identical.
    let hc = checksum::internet(ip);
    ip[ipv4_field::CHECKSUM].copy_from_slice(&hc.to_be_bytes());
    Ok(total)
}

/// Encode the IPv6 payload (the kernel builds the IPv6 header) with its
/// pseudo-header checksum; production sockets let IPV6_CHECKSUM overwrite it
/// with the same value.
pub fn encode_ipv6(
    advert: &Advert,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    if advert.family() != Family::V6 {
        return Err(EncodeError::FamilyMismatch);
    }
    advert.encode_vrrp(buf, ChecksumMode::Ipv6Pseudo { src, dst })
}

/// Why an advert could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall { needed: usize, available: usize },
    #[error("{0} addresses do not fit the 8-bit count field")]
    TooManyAddrs(usize),
    #[error("advert address family does not match the IP version")]
    FamilyMismatch,
    #[error("VRRPv2 authentication is only defined over IPv4")]
    AuthOverIpv6,
    #[error("VRRPv3 advert interval {0} cs does not fit 12 bits")]
    IntervalOutOfRange(u16),
}

/// What the receiving instance expects; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxConfig {
    pub version: Version,
    /// Expected authentication (VRRPv2 over IPv4; ignored otherwise).
    pub auth: Auth,
    /// The instance's configured `advert_int` (VRRPv2 requires equality).
    pub adver_int: Centisecs,
    /// Unicast peers configured: no TTL check, unicast destination expected.
    pub unicast: bool,
    /// keepalived `v3_checksum_as_v2`: accept any VRRPv3/IPv4 checksum.
    pub v3_checksum_as_v2: bool,
}

/// A validated advert and the addresses it travelled between.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rx {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub advert: Advert,
}

/// IPv6 facts that arrive beside the payload (recvmsg address and cmsgs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Meta {
    pub src: Ipv6Addr,
    /// From IPV6_PKTINFO.
    pub dst: Ipv6Addr,
    /// From IPV6_HOPLIMIT; `None` skips the check, as keepalived does when
    /// the control message is missing.
    pub hop_limit: Option<u8>,
}

/// The VRID of a received IPv4 packet, if it is long enough to carry one.
/// Lets a driver pick the instance (and its [`RxConfig`]) before decoding.
pub fn peek_vrid_ipv4(buf: &[u8]) -> Option<u8> {
    let ihl = usize::from(buf.first()? & 0x0f) * 4;
    let off = match *buf.get(ipv4_field::PROTOCOL)? {
        IPPROTO_AH => ihl + AH_LEN,
        _ => ihl,
    };
    buf.get(off + field::VRID).copied()
}

/// The VRID of a received IPv6 payload.
pub fn peek_vrid_ipv6(payload: &[u8]) -> Option<u8> {
    payload.get(field::VRID).copied()
}

/// keepalived accepts trailing bytes only if they look like Ethernet
/// padding to the 46-byte minimum, possibly less 4 per stripped VLAN tag.
fn length_ok(received: usize, expected: usize) -> bool {
    received == expected
        || (expected < ETH_MIN_PAYLOAD
            && expected < received
            && (received - expected) % VLAN_TAG_LEN
                == (VLAN_TAG_LEN - ETH_MIN_PAYLOAD % VLAN_TAG_LEN) % VLAN_TAG_LEN)
}

fn be16(b: &[u8], r: std::ops::Range<usize>) -> u16 {
    let mut w = [0u8; 2];
    w.copy_from_slice(&b[r]);
    u16::from_be_bytes(w)
}

fn ipv4_at(b: &[u8], r: std::ops::Range<usize>) -> Ipv4Addr {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[r]);
    Ipv4Addr::from(w)
}

/// Checks shared by both families after the length/TTL checks, in
/// keepalived's order (vrrp.c `vrrp_check_packet`). `vrrp` is exactly the
/// VRRP message, padding removed; `ah` is the whole IPv4 packet and its
/// header length when it came under AH. Returns the AH sequence number.
fn check_header(
    vrrp: &[u8],
    v4_auth: bool,
    ah: Option<(&[u8], usize)>,
    cfg: &RxConfig,
) -> Result<Option<u32>, DecodeError> {
    let vrid = vrrp[field::VRID];
    // RFC 3768 §7.1 / RFC 5798 §7.1: "MUST verify the VRRP version".
    let version = vrrp[field::VERS_TYPE] >> 4;
    if version != cfg.version.number() {
        return Err(DecodeError::Version {
            vrid,
            received: version,
            expected: cfg.version.number(),
        });
    }
    let mut seq = None;
    if cfg.version == Version::V2 {
        // RFC 3768 §7.1: "MUST perform authentication specified by Auth Type".
        let auth_type = vrrp[field::AUTH_TYPE];
        if auth_type > AUTH_TYPE_AH {
            return Err(DecodeError::InvalidAuthType {
                vrid,
                received: auth_type,
            });
        }
        let expected_auth = if v4_auth { &cfg.auth } else { &Auth::None };
        if auth_type != expected_auth.type_code() {
            return Err(DecodeError::AuthTypeMismatch {
                vrid,
                received: auth_type,
                expected: expected_auth.type_code(),
            });
        }
        match (expected_auth, ah) {
            (Auth::Pass(want), _) if !same_secret(&vrrp[vrrp.len() - AUTH_LEN..], want) => {
                return Err(DecodeError::Password { vrid });
            }
            (Auth::Ah { key, .. }, Some((pkt, ihl))) => {
                seq = Some(verify_ah(pkt, ihl, key, cfg.unicast, vrid)?);
            }
            _ => {}
        }
        // RFC 3768 §7.1: "MUST verify that the Adver Interval in the packet
        // is the same as the locally configured".
        let adver_int = vrrp[field::ADVER_INT_V2];
        if u64::from(adver_int) * 1_000_000 != cfg.adver_int.as_micros() {
            return Err(DecodeError::IntervalMismatch {
                vrid,
                mine_secs: (cfg.adver_int.as_micros() / 1_000_000) as u32,
                received_secs: adver_int,
            });
        }
    }
    let pkt_type = vrrp[field::VERS_TYPE] & 0x0f;
    if pkt_type != TYPE_ADVERTISEMENT {
        return Err(DecodeError::Type {
            vrid,
            received: pkt_type,
        });
    }
    Ok(seq)
}

/// Build the value once every check has passed.
fn parse_body(vrrp: &[u8], family: Family) -> Result<Advert, DecodeError> {
    let vrid = Vrid::new(vrrp[field::VRID]).ok_or(DecodeError::ZeroVrid)?;
    let naddr = usize::from(vrrp[field::NADDR]);
    let addrs_end = field::ADDRS + naddr * if family == Family::V4 { 4 } else { 16 };
    let raw = &vrrp[field::ADDRS..addrs_end];
    let addrs = match family {
        Family::V4 => Addrs::V4(
            raw.chunks_exact(4)
                .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                .collect(),
        ),
        Family::V6 => Addrs::V6(
            raw.chunks_exact(16)
                .map(|c| {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(c);
                    Ipv6Addr::from(o)
                })
                .collect(),
        ),
    };
    let kind = if vrrp[field::VERS_TYPE] >> 4 == 2 {
        let auth = match vrrp[field::AUTH_TYPE] {
            AUTH_TYPE_PASS if family == Family::V4 => {
                let mut p = [0u8; AUTH_LEN];
                p.copy_from_slice(&vrrp[addrs_end..addrs_end + AUTH_LEN]);
                Auth::Pass(p)
            }
            _ => Auth::None,
        };
        Kind::V2 {
            adver_int: vrrp[field::ADVER_INT_V2],
            auth,
        }
    } else {
        Kind::V3 {
            max_adver_int: Centisecs(be16(vrrp, field::ADVER_INT_V3) & 0x0fff),
        }
    };
    Ok(Advert {
        vrid,
        priority: Priority(vrrp[field::PRIORITY]),
        kind,
        addrs,
    })
}

/// Decode and validate a whole IPv4 packet as a raw socket returns it (IP
/// header included).
pub fn decode_ipv4(buf: &[u8], cfg: &RxConfig) -> Result<Rx, DecodeError> {
    let len = buf.len();
    if len < IPV4_MIN_HEADER {
        return Err(DecodeError::Truncated {
            len,
            family: Family::V4,
        });
    }
    let ip_version = buf[ipv4_field::VER_IHL] >> 4;
    if ip_version != 4 {
        return Err(DecodeError::NotIpv4 {
            version: ip_version,
        });
    }
    // RFC 791: honour the real header length, options included.
    let ihl = usize::from(buf[ipv4_field::VER_IHL] & 0x0f) * 4;
    if ihl < IPV4_MIN_HEADER {
        return Err(DecodeError::BadIhl {
            ihl: buf[ipv4_field::VER_IHL] & 0x0f,
        });
    }
    let protocol = buf[ipv4_field::PROTOCOL];
    let vrrp_off = match protocol {
        IPPROTO_VRRP => ihl,
        IPPROTO_AH => ihl + AH_LEN,
        p => return Err(DecodeError::Protocol(p)),
    };
    if len < vrrp_off + HEADER_LEN {
        return Err(DecodeError::Truncated {
            len,
            family: Family::V4,
        });
    }
    let hd = &buf[vrrp_off..];
    let vrid = hd[field::VRID];
    if vrid == 0 {
        return Err(DecodeError::ZeroVrid);
    }
    let want_ah = cfg.auth.is_ah();
    if (protocol == IPPROTO_AH) != want_ah {
        return Err(if want_ah {
            DecodeError::AhMissing { vrid }
        } else {
            DecodeError::AhUnexpected { vrid }
        });
    }
    let auth_len = if hd[field::VERS_TYPE] >> 4 == 2 {
        AUTH_LEN
    } else {
        0
    };
    let vrrp_len = HEADER_LEN + usize::from(hd[field::NADDR]) * 4 + auth_len;
    let expected = vrrp_off + vrrp_len;
    // RFC 3768 §7.1: "MUST verify that the received packet contains the
    // complete VRRP packet".
    if !length_ok(len, expected) {
        return Err(DecodeError::Length {
            vrid,
            received: len,
            expected,
        });
    }
    // RFC 3768 §7.1 / RFC 5798 §7.1: "MUST verify that the IP TTL is 255".
    let ttl = buf[ipv4_field::TTL];
    if !cfg.unicast && ttl != VRRP_TTL {
        return Err(DecodeError::Ttl {
            vrid,
            received: ttl,
            expected: VRRP_TTL,
        });
    }
    let vrrp = &buf[vrrp_off..expected];
    let ah_seq = check_header(vrrp, true, want_ah.then_some((&buf[..expected], ihl)), cfg)?;
    let tot_len = be16(buf, ipv4_field::TOT_LEN);
    if usize::from(tot_len) != len {
        let padded = len <= ETH_MIN_PAYLOAD
            && usize::from(tot_len) < len
            && (len - usize::from(tot_len)) % VLAN_TAG_LEN
                == (VLAN_TAG_LEN - ETH_MIN_PAYLOAD % VLAN_TAG_LEN) % VLAN_TAG_LEN;
        if !padded {
            return Err(DecodeError::IpTotalLength {
                vrid,
                tot_len,
                received: len,
            });
        }
    }
    let src = ipv4_at(buf, ipv4_field::SRC);
    let dst = ipv4_at(buf, ipv4_field::DST);
    // RFC 3768 §7.1 / RFC 5798 §7.1: "MUST verify the VRRP checksum".
    let version = cfg.version;
    match version {
        Version::V2 => {
            if checksum::internet(vrrp) != 0 {
                return Err(DecodeError::Checksum { vrid, version });
            }
        }
        Version::V3 => {
            // With v3_checksum_as_v2 keepalived accepts any checksum, since
            // peers differ on whether the pseudo-header is included.
            if !cfg.v3_checksum_as_v2 {
                let acc = checksum::ipv4_pseudo(src, dst, vrrp.len() as u16);
                if checksum::finish(checksum::sum(vrrp, acc)) != 0 {
                    return Err(DecodeError::Checksum { vrid, version });
                }
            }
        }
    }
    if dst.is_multicast() == cfg.unicast {
        return Err(DecodeError::CastMismatch {
            vrid,
            expected_unicast: cfg.unicast,
        });
    }
    let mut advert = parse_body(vrrp, Family::V4)?;
    if let (Some(seq), Auth::Ah { key, .. }, Kind::V2 { auth, .. }) =
        (ah_seq, &cfg.auth, &mut advert.kind)
    {
        *auth = Auth::Ah { key: *key, seq };
    }
    Ok(Rx {
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        advert,
    })
}

/// Decode and validate an IPv6 payload (raw IPv6 sockets do not return the
/// IP header; its facts come in `meta`).
pub fn decode_ipv6(payload: &[u8], meta: &Ipv6Meta, cfg: &RxConfig) -> Result<Rx, DecodeError> {
    let len = payload.len();
    if len < HEADER_LEN {
        return Err(DecodeError::Truncated {
            len,
            family: Family::V6,
        });
    }
    let vrid = payload[field::VRID];
    if vrid == 0 {
        return Err(DecodeError::ZeroVrid);
    }
    let expected = HEADER_LEN + usize::from(payload[field::NADDR]) * 16;
    if !length_ok(len, expected) {
        return Err(DecodeError::Length {
            vrid,
            received: len,
            expected,
        });
    }
    if let Some(hl) = meta.hop_limit
        && !cfg.unicast
        && hl != VRRP_TTL
    {
        return Err(DecodeError::Ttl {
            vrid,
            received: hl,
            expected: VRRP_TTL,
        });
    }
    let vrrp = &payload[..expected];
    check_header(vrrp, false, None, cfg)?;
    // The kernel already dropped bad checksums (IPV6_CHECKSUM); verifying
    // again costs little and makes this function usable on captures.
    let acc = checksum::ipv6_pseudo(meta.src, meta.dst, expected as u32);
    if checksum::finish(checksum::sum(vrrp, acc)) != 0 {
        return Err(DecodeError::Checksum {
            vrid,
            version: cfg.version,
        });
    }
    if meta.dst.is_multicast() == cfg.unicast {
        return Err(DecodeError::CastMismatch {
            vrid,
            expected_unicast: cfg.unicast,
        });
    }
    let advert = parse_body(vrrp, Family::V6)?;
    Ok(Rx {
        src: IpAddr::V6(meta.src),
        dst: IpAddr::V6(meta.dst),
        advert,
    })
}

/// keepalived's per-instance statistics counters (`vrrp_stats`) that a
/// rejected packet can bump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Counter {
    PacketLenErr,
    IpTtlErr,
    VersErr,
    InvalidAuthtype,
    AuthtypeMismatch,
    AuthFailure,
    ChkErr,
    InvalidTypeRcvd,
    AddrListErr,
}

/// Why a received packet was rejected. Each variant carries what its
/// keepalived counter and log line need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum DecodeError {
    /// Too short for the IP and VRRP fixed headers; keepalived cannot even
    /// find the instance, so no counter.
    #[error("IPv{} VRRP packet too short - {len} bytes", if *family == Family::V4 { 4 } else { 6 })]
    Truncated { len: usize, family: Family },
    /// Not an IPv4 header (cannot come from a raw IPv4 socket).
    #[error("IP version {version} in an IPv4 packet")]
    NotIpv4 { version: u8 },
    /// IPv4 header length below the minimum of 5 words.
    #[error("IPv4 header length {ihl} words")]
    BadIhl { ihl: u8 },
    /// Neither VRRP nor AH (cannot come from a proto-112 raw socket).
    #[error("unexpected IP protocol {0}")]
    Protocol(u8),
    /// VRID 0 belongs to no instance.
    #[error("VRID 0 received")]
    ZeroVrid,
    /// An AH packet for an instance without `auth_type AH`.
    #[error("VRID {vrid}: AH header but auth type not AH")]
    AhUnexpected { vrid: u8 },
    /// A plain VRRP packet for an instance with `auth_type AH`.
    #[error("VRID {vrid}: no AH header but auth type is AH")]
    AhMissing { vrid: u8 },
    /// AH protecting something other than VRRP: keepalived drops it silently.
    #[error("VRID {vrid}: AH for another protocol")]
    AhNotVrrp { vrid: u8 },
    /// The AH ICV does not match: another password, or a changed packet.
    #[error("VRID {vrid}: invalid AH HMAC-MD5")]
    AhIcv { vrid: u8 },
    /// The AH SPI is not the packet's source address. Both are the raw
    /// network bytes read as a host integer, as keepalived prints them.
    #[error("VRID {vrid}: AH SPI {spi} is not the source address {saddr}")]
    AhSpi { vrid: u8, saddr: u32, spi: u32 },
    #[error("VRID {vrid}: packet length {received}, expected {expected}")]
    Length {
        vrid: u8,
        received: usize,
        expected: usize,
    },
    #[error("VRID {vrid}: TTL/hop limit {received}, expected {expected}")]
    Ttl {
        vrid: u8,
        received: u8,
        expected: u8,
    },
    #[error("VRID {vrid}: VRRP version {received}, expected {expected}")]
    Version {
        vrid: u8,
        received: u8,
        expected: u8,
    },
    #[error("VRID {vrid}: invalid auth type {received}")]
    InvalidAuthType { vrid: u8, received: u8 },
    #[error("VRID {vrid}: auth type {received}, expected {expected}")]
    AuthTypeMismatch {
        vrid: u8,
        received: u8,
        expected: u8,
    },
    #[error("VRID {vrid}: invalid password")]
    Password { vrid: u8 },
    /// VRRPv2 only: the packet is dropped without a counter.
    #[error("VRID {vrid}: advert interval {received_secs}s, ours {mine_secs}s")]
    IntervalMismatch {
        vrid: u8,
        mine_secs: u32,
        received_secs: u8,
    },
    #[error("VRID {vrid}: packet type {received}, expected 1")]
    Type { vrid: u8, received: u8 },
    #[error("VRID {vrid}: IP total length {tot_len}, received {received}")]
    IpTotalLength {
        vrid: u8,
        tot_len: u16,
        received: usize,
    },
    #[error("VRID {vrid}: bad VRRPv{} checksum", version.number())]
    Checksum { vrid: u8, version: Version },
    #[error("VRID {vrid}: expected {} destination", if *expected_unicast { "unicast" } else { "multicast" })]
    CastMismatch { vrid: u8, expected_unicast: bool },
}

impl DecodeError {
    /// The VRID the packet named, when it got that far.
    pub fn vrid(&self) -> Option<u8> {
        match *self {
            Self::Truncated { .. }
            | Self::NotIpv4 { .. }
            | Self::BadIhl { .. }
            | Self::Protocol(_) => None,
            Self::ZeroVrid => Some(0),
            Self::AhUnexpected { vrid }
            | Self::AhMissing { vrid }
            | Self::AhNotVrrp { vrid }
            | Self::AhIcv { vrid }
            | Self::AhSpi { vrid, .. }
            | Self::Length { vrid, .. }
            | Self::Ttl { vrid, .. }
            | Self::Version { vrid, .. }
            | Self::InvalidAuthType { vrid, .. }
            | Self::AuthTypeMismatch { vrid, .. }
            | Self::Password { vrid }
            | Self::IntervalMismatch { vrid, .. }
            | Self::Type { vrid, .. }
            | Self::IpTotalLength { vrid, .. }
            | Self::Checksum { vrid, .. }
            | Self::CastMismatch { vrid, .. } => Some(vrid),
        }
    }

    /// The keepalived counter this rejection bumps, if any.
    pub fn counter(&self) -> Option<Counter> {
        Some(match self {
            Self::Truncated { .. }
            | Self::NotIpv4 { .. }
            | Self::BadIhl { .. }
            | Self::Protocol(_)
            | Self::ZeroVrid
            | Self::AhNotVrrp { .. }
            | Self::IntervalMismatch { .. } => return None,
            Self::AhUnexpected { .. } | Self::AhMissing { .. } | Self::AuthTypeMismatch { .. } => {
                Counter::AuthtypeMismatch
            }
            Self::Length { .. } | Self::IpTotalLength { .. } => Counter::PacketLenErr,
            Self::Ttl { .. } => Counter::IpTtlErr,
            Self::Version { .. } => Counter::VersErr,
            Self::InvalidAuthType { .. } => Counter::InvalidAuthtype,
            Self::Password { .. } | Self::AhIcv { .. } | Self::AhSpi { .. } => Counter::AuthFailure,
            Self::Type { .. } => Counter::InvalidTypeRcvd,
            Self::Checksum { .. } => Counter::ChkErr,
            Self::CastMismatch { .. } => Counter::AddrListErr,
        })
    }

    /// Debian's keepalived 2.2.7 log line for this rejection on instance
    /// `iname` (vrrp.c `vrrp_check_packet`, `vrrp_in_chk_ipsecah`,
    /// `vrrp_get_header`), or `None` where it drops the packet silently.
    /// 2.2.7 logs every rejected packet and never names the sender.
    pub fn log_line(&self, iname: &str) -> Option<String> {
        Some(match self {
            Self::Truncated { .. }
            | Self::NotIpv4 { .. }
            | Self::BadIhl { .. }
            | Self::Protocol(_)
            | Self::ZeroVrid => self.to_string(),
            Self::AhNotVrrp { .. } => return None,
            Self::AhUnexpected { .. } => {
                format!("({iname}) Received AH header but auth type not AH")
            }
            Self::AhMissing { .. } => format!("({iname}) No AH header but auth type is AH"),
            Self::AhIcv { .. } => format!(
                "({iname}) IPSEC-AH : invalid IPSEC HMAC-MD5 value. Due to fields mutation or bad password !"
            ),
            Self::AhSpi { saddr, spi, .. } => {
                format!("IPSEC AH : invalid IPSEC SPI value. {saddr} and expect {spi}")
            }
            Self::Length {
                received, expected, ..
            } => format!(
                "({iname}) vrrp packet too {}, length {received} and expect {expected}",
                if received > expected { "long" } else { "short" }
            ),
            Self::Ttl {
                received, expected, ..
            } => format!("({iname}) invalid TTL/HL. Received {received} and expect {expected}"),
            Self::Version {
                received, expected, ..
            } => format!("({iname}) wrong version. Received {received} and expect {expected}"),
            Self::InvalidAuthType { received, .. } => {
                format!("({iname}) Invalid auth type: {received}")
            }
            Self::AuthTypeMismatch {
                received, expected, ..
            } => format!("({iname}) received a {received} auth, expecting {expected}!"),
            Self::Password { .. } => format!("({iname}) received an invalid passwd!"),
            Self::IntervalMismatch {
                mine_secs,
                received_secs,
                ..
            } => format!(
                "({iname}) advertisement interval mismatch mine={mine_secs} sec rcv'd={received_secs} sec"
            ),
            Self::Type { received, .. } => {
                format!("({iname}) Invalid packet type. {received} and expect {TYPE_ADVERTISEMENT}")
            }
            Self::IpTotalLength {
                tot_len, received, ..
            } => format!(
                "({iname}) ip_tot_len mismatch against received length. {tot_len} and received {received}"
            ),
            Self::Checksum { version, .. } => {
                format!("({iname}) Invalid VRRPv{} checksum", version.number())
            }
            Self::CastMismatch {
                expected_unicast, ..
            } => format!(
                "({iname}) Expected {}icast packet but received {}icast packet",
                if *expected_unicast { "un" } else { "mult" },
                if *expected_unicast { "mult" } else { "un" }
            ),
        })
    }
}

/// The Internet checksum (RFC 1071) and the pseudo-headers VRRPv3 uses.
pub mod checksum {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::IPPROTO_VRRP;

    /// Add `data` as big-endian 16-bit words to a running sum.
    pub fn sum(data: &[u8], acc: u64) -> u64 {
        let mut acc = acc;
        let mut words = data.chunks_exact(2);
        for w in &mut words {
            acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [last] = words.remainder() {
            acc += u64::from(u16::from_be_bytes([*last, 0]));
        }
        acc
    }

    /// Fold a running sum to 16 bits and complement it.
    pub fn finish(mut acc: u64) -> u16 {
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        // The loop leaves at most 16 bits.
        !(acc as u16)
    }

    /// Checksum of `data` alone; 0 when verifying data that includes a
    /// correct checksum field.
    pub fn internet(data: &[u8]) -> u16 {
        finish(sum(data, 0))
    }

    /// Running sum of the IPv4 pseudo-header {src, dst, 0, 112, len}.
    pub fn ipv4_pseudo(src: Ipv4Addr, dst: Ipv4Addr, len: u16) -> u64 {
        let acc = sum(&src.octets(), 0);
        let acc = sum(&dst.octets(), acc);
        acc + u64::from(IPPROTO_VRRP) + u64::from(len)
    }

    /// Running sum of the IPv6 pseudo-header {src, dst, len(32), 0, 112}.
    pub fn ipv6_pseudo(src: Ipv6Addr, dst: Ipv6Addr, len: u32) -> u64 {
        let acc = sum(&src.octets(), 0);
        let acc = sum(&dst.octets(), acc);
        acc + u64::from(len >> 16) + u64::from(len & 0xffff) + u64::from(IPPROTO_VRRP)
    }
}

impl fmt::Display for Advert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VRRPv{} vrid {} prio {} intvl {}cs addrs [",
            self.version().number(),
            self.vrid,
            self.priority,
            self.interval().get()
        )?;
        for (i, a) in self.addrs.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
