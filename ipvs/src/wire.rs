//! The IPVS generic netlink codec: the payload of every IPVS message (genl
//! header + attributes) as bytes and back, and the mapping between those
//! attributes and `model` values. No I/O here: `client` hands these bytes to
//! neli, which adds the netlink header, sequence numbers and acks.
//!
//! ```text
//!  payload of one netlink message of family "IPVS":
//!  0        1         2                   4
//! +--------+---------+-------------------+-------------------------------+
//! |  cmd   | version | reserved (0)      | attributes, each 4-byte aligned |
//! +--------+---------+-------------------+-------------------------------+
//!  attribute: | nla_len: u16 | nla_type: u16 | payload | pad to 4 |
//!             (nla_len counts header + payload, not the padding)
//! ```
//!
//! Numbers are in host order except ports, which are big-endian
//! (`__be16`), and addresses, which are `union nf_inet_addr` (16 bytes,
//! IPv4 in the first 4). Names of constants and variants follow the
//! kernel's `include/uapi/linux/ip_vs.h`.
//!
//! Requests set `NLA_F_NESTED` on nested attributes, as libnl (and so
//! ipvsadm and keepalived) does; kernel replies don't
//! (`nla_nest_start_noflag`), and decoding accepts both. Decoding never
//! panics: every malformed input is a [`DecodeError`] that says which
//! attribute was wrong.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{
    Af, Dest, DestEntry, DestKey, Fwd, IpvsInfo, Protocol, Scheduler, Service, ServiceEntry,
    ServiceKey, Stats, SvcFlags, SyncDaemon, SyncState, Timeouts, TunCsum, Tunnel,
};

// ---------------------------------------------------------------------------
// Constants from include/uapi/linux/ip_vs.h (and netlink.h for NLA_F_*).

pub const IPVS_GENL_NAME: &str = "IPVS";
pub const IPVS_GENL_VERSION: u8 = 0x1;

pub const IPVS_CMD_UNSPEC: u8 = 0;
pub const IPVS_CMD_NEW_SERVICE: u8 = 1;
pub const IPVS_CMD_SET_SERVICE: u8 = 2;
pub const IPVS_CMD_DEL_SERVICE: u8 = 3;
pub const IPVS_CMD_GET_SERVICE: u8 = 4;
pub const IPVS_CMD_NEW_DEST: u8 = 5;
pub const IPVS_CMD_SET_DEST: u8 = 6;
pub const IPVS_CMD_DEL_DEST: u8 = 7;
pub const IPVS_CMD_GET_DEST: u8 = 8;
pub const IPVS_CMD_NEW_DAEMON: u8 = 9;
pub const IPVS_CMD_DEL_DAEMON: u8 = 10;
pub const IPVS_CMD_GET_DAEMON: u8 = 11;
pub const IPVS_CMD_SET_CONFIG: u8 = 12;
pub const IPVS_CMD_GET_CONFIG: u8 = 13;
pub const IPVS_CMD_SET_INFO: u8 = 14;
pub const IPVS_CMD_GET_INFO: u8 = 15;
pub const IPVS_CMD_ZERO: u8 = 16;
pub const IPVS_CMD_FLUSH: u8 = 17;

pub const IPVS_CMD_ATTR_UNSPEC: u16 = 0;
pub const IPVS_CMD_ATTR_SERVICE: u16 = 1;
pub const IPVS_CMD_ATTR_DEST: u16 = 2;
pub const IPVS_CMD_ATTR_DAEMON: u16 = 3;
pub const IPVS_CMD_ATTR_TIMEOUT_TCP: u16 = 4;
pub const IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
pub const IPVS_CMD_ATTR_TIMEOUT_UDP: u16 = 6;

pub const IPVS_SVC_ATTR_UNSPEC: u16 = 0;
pub const IPVS_SVC_ATTR_AF: u16 = 1;
pub const IPVS_SVC_ATTR_PROTOCOL: u16 = 2;
pub const IPVS_SVC_ATTR_ADDR: u16 = 3;
pub const IPVS_SVC_ATTR_PORT: u16 = 4;
pub const IPVS_SVC_ATTR_FWMARK: u16 = 5;
pub const IPVS_SVC_ATTR_SCHED_NAME: u16 = 6;
pub const IPVS_SVC_ATTR_FLAGS: u16 = 7;
pub const IPVS_SVC_ATTR_TIMEOUT: u16 = 8;
pub const IPVS_SVC_ATTR_NETMASK: u16 = 9;
pub const IPVS_SVC_ATTR_STATS: u16 = 10;
pub const IPVS_SVC_ATTR_PE_NAME: u16 = 11;
pub const IPVS_SVC_ATTR_STATS64: u16 = 12;

pub const IPVS_DEST_ATTR_UNSPEC: u16 = 0;
pub const IPVS_DEST_ATTR_ADDR: u16 = 1;
pub const IPVS_DEST_ATTR_PORT: u16 = 2;
pub const IPVS_DEST_ATTR_FWD_METHOD: u16 = 3;
pub const IPVS_DEST_ATTR_WEIGHT: u16 = 4;
pub const IPVS_DEST_ATTR_U_THRESH: u16 = 5;
pub const IPVS_DEST_ATTR_L_THRESH: u16 = 6;
pub const IPVS_DEST_ATTR_ACTIVE_CONNS: u16 = 7;
pub const IPVS_DEST_ATTR_INACT_CONNS: u16 = 8;
pub const IPVS_DEST_ATTR_PERSIST_CONNS: u16 = 9;
pub const IPVS_DEST_ATTR_STATS: u16 = 10;
pub const IPVS_DEST_ATTR_ADDR_FAMILY: u16 = 11;
pub const IPVS_DEST_ATTR_STATS64: u16 = 12;
pub const IPVS_DEST_ATTR_TUN_TYPE: u16 = 13;
pub const IPVS_DEST_ATTR_TUN_PORT: u16 = 14;
pub const IPVS_DEST_ATTR_TUN_FLAGS: u16 = 15;

pub const IPVS_DAEMON_ATTR_UNSPEC: u16 = 0;
pub const IPVS_DAEMON_ATTR_STATE: u16 = 1;
pub const IPVS_DAEMON_ATTR_MCAST_IFN: u16 = 2;
pub const IPVS_DAEMON_ATTR_SYNC_ID: u16 = 3;
pub const IPVS_DAEMON_ATTR_SYNC_MAXLEN: u16 = 4;
pub const IPVS_DAEMON_ATTR_MCAST_GROUP: u16 = 5;
pub const IPVS_DAEMON_ATTR_MCAST_GROUP6: u16 = 6;
pub const IPVS_DAEMON_ATTR_MCAST_PORT: u16 = 7;
pub const IPVS_DAEMON_ATTR_MCAST_TTL: u16 = 8;

pub const IPVS_STATS_ATTR_UNSPEC: u16 = 0;
pub const IPVS_STATS_ATTR_CONNS: u16 = 1;
pub const IPVS_STATS_ATTR_INPKTS: u16 = 2;
pub const IPVS_STATS_ATTR_OUTPKTS: u16 = 3;
pub const IPVS_STATS_ATTR_INBYTES: u16 = 4;
pub const IPVS_STATS_ATTR_OUTBYTES: u16 = 5;
pub const IPVS_STATS_ATTR_CPS: u16 = 6;
pub const IPVS_STATS_ATTR_INPPS: u16 = 7;
pub const IPVS_STATS_ATTR_OUTPPS: u16 = 8;
pub const IPVS_STATS_ATTR_INBPS: u16 = 9;
pub const IPVS_STATS_ATTR_OUTBPS: u16 = 10;
pub const IPVS_STATS_ATTR_PAD: u16 = 11;

pub const IPVS_INFO_ATTR_UNSPEC: u16 = 0;
pub const IPVS_INFO_ATTR_VERSION: u16 = 1;
pub const IPVS_INFO_ATTR_CONN_TAB_SIZE: u16 = 2;

pub const IP_VS_SVC_F_PERSISTENT: u32 = 0x0001;
pub const IP_VS_SVC_F_HASHED: u32 = 0x0002;
pub const IP_VS_SVC_F_ONEPACKET: u32 = 0x0004;
pub const IP_VS_SVC_F_SCHED1: u32 = 0x0008;
pub const IP_VS_SVC_F_SCHED2: u32 = 0x0010;
pub const IP_VS_SVC_F_SCHED3: u32 = 0x0020;
pub const IP_VS_SVC_F_SCHED_SH_FALLBACK: u32 = IP_VS_SVC_F_SCHED1;
pub const IP_VS_SVC_F_SCHED_SH_PORT: u32 = IP_VS_SVC_F_SCHED2;
pub const IP_VS_SVC_F_SCHED_MH_FALLBACK: u32 = IP_VS_SVC_F_SCHED1;
pub const IP_VS_SVC_F_SCHED_MH_PORT: u32 = IP_VS_SVC_F_SCHED2;

pub const IP_VS_CONN_F_FWD_MASK: u32 = 0x0007;
pub const IP_VS_CONN_F_MASQ: u32 = 0x0000;
pub const IP_VS_CONN_F_LOCALNODE: u32 = 0x0001;
pub const IP_VS_CONN_F_TUNNEL: u32 = 0x0002;
pub const IP_VS_CONN_F_DROUTE: u32 = 0x0003;
pub const IP_VS_CONN_F_BYPASS: u32 = 0x0004;

pub const IP_VS_CONN_F_TUNNEL_TYPE_IPIP: u8 = 0;
pub const IP_VS_CONN_F_TUNNEL_TYPE_GUE: u8 = 1;
pub const IP_VS_CONN_F_TUNNEL_TYPE_GRE: u8 = 2;

pub const IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM: u16 = 0;
pub const IP_VS_TUNNEL_ENCAP_FLAG_CSUM: u16 = 1 << 0;
pub const IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM: u16 = 1 << 1;

pub const IP_VS_STATE_NONE: u32 = 0;
pub const IP_VS_STATE_MASTER: u32 = 1;
pub const IP_VS_STATE_BACKUP: u32 = 2;

pub const NLA_F_NESTED: u16 = 1 << 15;
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

const NLA_HDRLEN: usize = 4;
const GENL_HDRLEN: usize = 4;

// ---------------------------------------------------------------------------
// Errors.

/// Why a payload could not be decoded. `Context` wraps an inner error with
/// the attribute it was found in, outermost first in `Display`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message of {0} bytes is shorter than the generic netlink header")]
    ShortHeader(usize),
    #[error("attribute at offset {offset} has length {len} but {remaining} bytes remain")]
    AttrLength {
        offset: usize,
        len: usize,
        remaining: usize,
    },
    #[error("invalid {attr}: {reason}")]
    Invalid { attr: &'static str, reason: String },
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("unexpected command {0} in reply")]
    UnexpectedCmd(u8),
    #[error("{context}: {source}")]
    Context {
        context: &'static str,
        source: Box<DecodeError>,
    },
}

impl DecodeError {
    fn invalid(attr: &'static str, reason: impl Into<String>) -> DecodeError {
        DecodeError::Invalid {
            attr,
            reason: reason.into(),
        }
    }
}

trait Context<T> {
    fn context(self, context: &'static str) -> Result<T, DecodeError>;
}

impl<T> Context<T> for Result<T, DecodeError> {
    fn context(self, context: &'static str) -> Result<T, DecodeError> {
        self.map_err(|e| DecodeError::Context {
            context,
            source: Box::new(e),
        })
    }
}

/// Why a message could not be encoded: a netlink attribute holds at most
/// 65535 bytes, header included.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("attribute type {kind} would be {len} bytes, more than netlink's 65535")]
    TooLong { kind: u16, len: usize },
}

// ---------------------------------------------------------------------------
// Attribute writer and reader.

const fn nla_align(len: usize) -> usize {
    (len + 3) & !3
}

#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn attr(&mut self, kind: u16, payload: &[u8]) -> Result<(), EncodeError> {
        let len = NLA_HDRLEN + payload.len();
        let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong { kind, len })?;
        self.buf.extend_from_slice(&len16.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
        Ok(())
    }

    fn pad(&mut self) {
        self.buf.resize(nla_align(self.buf.len()), 0);
    }

    fn u8(&mut self, kind: u16, v: u8) -> Result<(), EncodeError> {
        self.attr(kind, &[v])
    }

    fn u16(&mut self, kind: u16, v: u16) -> Result<(), EncodeError> {
        self.attr(kind, &v.to_ne_bytes())
    }

    fn be16(&mut self, kind: u16, v: u16) -> Result<(), EncodeError> {
        self.attr(kind, &v.to_be_bytes())
    }

    fn u32(&mut self, kind: u16, v: u32) -> Result<(), EncodeError> {
        self.attr(kind, &v.to_ne_bytes())
    }

    fn u64(&mut self, kind: u16, v: u64) -> Result<(), EncodeError> {
        self.attr(kind, &v.to_ne_bytes())
    }

    /// NUL-terminated, as `nla_put_string`.
    fn string(&mut self, kind: u16, s: &str) -> Result<(), EncodeError> {
        let len = NLA_HDRLEN + s.len() + 1;
        let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong { kind, len })?;
        self.buf.extend_from_slice(&len16.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.pad();
        Ok(())
    }

    fn nested(
        &mut self,
        kind: u16,
        body: impl FnOnce(&mut Writer) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        body(self)?;
        let len = self.buf.len() - start;
        let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong { kind, len })?;
        if let Some(hdr) = self.buf.get_mut(start..start + 2) {
            hdr.copy_from_slice(&len16.to_ne_bytes());
        }
        Ok(())
    }

    fn raw(&mut self, raw: &RawAttr) -> Result<(), EncodeError> {
        self.attr(raw.kind, &raw.payload)
    }
}

/// One attribute as found in a buffer.
#[derive(Debug, Clone, Copy)]
struct Attr<'a> {
    /// Type without the `NLA_F_*` flags.
    kind: u16,
    /// Type as found, flags included (kept for `Other`).
    raw_kind: u16,
    payload: &'a [u8],
}

impl Attr<'_> {
    fn to_raw(self) -> RawAttr {
        RawAttr {
            kind: self.raw_kind,
            payload: self.payload.to_vec(),
        }
    }
}

/// Iterates over the attributes of a buffer. Fewer than 4 trailing bytes
/// are padding and end the iteration, as `nla_for_each_attr` does; an
/// attribute whose length runs past the buffer ends it with an error.
struct Attrs<'a> {
    buf: &'a [u8],
    offset: usize,
}

fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { buf, offset: 0 }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.offset..)?;
        if rest.len() < NLA_HDRLEN {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let raw_kind = u16::from_ne_bytes([rest[2], rest[3]]);
        let Some(payload) = rest.get(NLA_HDRLEN..len) else {
            let err = DecodeError::AttrLength {
                offset: self.offset,
                len,
                remaining: rest.len(),
            };
            self.offset = self.buf.len();
            return Some(Err(err));
        };
        self.offset += nla_align(len).min(rest.len());
        Some(Ok(Attr {
            kind: raw_kind & NLA_TYPE_MASK,
            raw_kind,
            payload,
        }))
    }
}

fn exact<const N: usize>(name: &'static str, p: &[u8]) -> Result<[u8; N], DecodeError> {
    <[u8; N]>::try_from(p)
        .map_err(|_| DecodeError::invalid(name, format!("expected {N} bytes, got {}", p.len())))
}

fn get_u8(name: &'static str, p: &[u8]) -> Result<u8, DecodeError> {
    exact::<1>(name, p).map(|b| b[0])
}

fn get_u16(name: &'static str, p: &[u8]) -> Result<u16, DecodeError> {
    exact(name, p).map(u16::from_ne_bytes)
}

fn get_be16(name: &'static str, p: &[u8]) -> Result<u16, DecodeError> {
    exact(name, p).map(u16::from_be_bytes)
}

fn get_u32(name: &'static str, p: &[u8]) -> Result<u32, DecodeError> {
    exact(name, p).map(u32::from_ne_bytes)
}

/// A counter: the kernel sends some as u32 and some as u64.
fn get_counter(name: &'static str, p: &[u8]) -> Result<u64, DecodeError> {
    match p.len() {
        4 => get_u32(name, p).map(u64::from),
        _ => exact(name, p).map(u64::from_ne_bytes).map_err(|_| {
            DecodeError::invalid(name, format!("expected 4 or 8 bytes, got {}", p.len()))
        }),
    }
}

/// A NUL-terminated string (the NUL may be missing).
fn get_string(name: &'static str, p: &[u8]) -> Result<String, DecodeError> {
    let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
    let bytes = p.get(..end).unwrap_or_default();
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::invalid(name, "not UTF-8"))
}

// ---------------------------------------------------------------------------
// Message types.

/// An attribute kept as found: its type (flags included) and payload, so
/// that attributes this crate doesn't know round-trip byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAttr {
    pub kind: u16,
    pub payload: Vec<u8>,
}

/// `union nf_inet_addr`: 16 bytes, an IPv4 address in the first 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct InetAddr(pub [u8; 16]);

impl InetAddr {
    pub fn from_ip(ip: IpAddr) -> InetAddr {
        let mut b = [0u8; 16];
        match ip {
            IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => b = a.octets(),
        }
        InetAddr(b)
    }

    /// The address as family `af` reads it.
    pub fn to_ip(self, af: Af) -> IpAddr {
        match af {
            Af::Inet => IpAddr::V4(Ipv4Addr::new(self.0[0], self.0[1], self.0[2], self.0[3])),
            Af::Inet6 => IpAddr::V6(Ipv6Addr::from(self.0)),
        }
    }

    /// The kernel copies up to 16 bytes (`nla_memcpy`); ipvsadm and the
    /// kernel always send 16. 4 bytes are accepted for IPv4 senders.
    fn decode(name: &'static str, p: &[u8]) -> Result<InetAddr, DecodeError> {
        match p.len() {
            16 | 4 => {
                let mut b = [0u8; 16];
                b[..p.len()].copy_from_slice(p);
                Ok(InetAddr(b))
            }
            n => Err(DecodeError::invalid(
                name,
                format!("expected 16 (or 4) bytes, got {n}"),
            )),
        }
    }
}

/// `struct ip_vs_flags`: which flags to set (`flags`) among those the
/// sender wants to change (`mask`). The kernel computes
/// `new = (old & ~mask) | (flags & mask)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IpVsFlags {
    pub flags: u32,
    pub mask: u32,
}

/// A generic netlink command of the IPVS family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IpvsCmd {
    NewService,
    SetService,
    DelService,
    GetService,
    NewDest,
    SetDest,
    DelDest,
    GetDest,
    NewDaemon,
    DelDaemon,
    GetDaemon,
    SetConfig,
    GetConfig,
    /// Only in replies to `GetInfo`.
    SetInfo,
    GetInfo,
    Zero,
    Flush,
    /// A number this crate doesn't know (never one of the above).
    Other(u8),
}

impl From<u8> for IpvsCmd {
    fn from(n: u8) -> IpvsCmd {
        match n {
            IPVS_CMD_NEW_SERVICE => IpvsCmd::NewService,
            IPVS_CMD_SET_SERVICE => IpvsCmd::SetService,
            IPVS_CMD_DEL_SERVICE => IpvsCmd::DelService,
            IPVS_CMD_GET_SERVICE => IpvsCmd::GetService,
            IPVS_CMD_NEW_DEST => IpvsCmd::NewDest,
            IPVS_CMD_SET_DEST => IpvsCmd::SetDest,
            IPVS_CMD_DEL_DEST => IpvsCmd::DelDest,
            IPVS_CMD_GET_DEST => IpvsCmd::GetDest,
            IPVS_CMD_NEW_DAEMON => IpvsCmd::NewDaemon,
            IPVS_CMD_DEL_DAEMON => IpvsCmd::DelDaemon,
            IPVS_CMD_GET_DAEMON => IpvsCmd::GetDaemon,
            IPVS_CMD_SET_CONFIG => IpvsCmd::SetConfig,
            IPVS_CMD_GET_CONFIG => IpvsCmd::GetConfig,
            IPVS_CMD_SET_INFO => IpvsCmd::SetInfo,
            IPVS_CMD_GET_INFO => IpvsCmd::GetInfo,
            IPVS_CMD_ZERO => IpvsCmd::Zero,
            IPVS_CMD_FLUSH => IpvsCmd::Flush,
            n => IpvsCmd::Other(n),
        }
    }
}

impl From<IpvsCmd> for u8 {
    fn from(c: IpvsCmd) -> u8 {
        match c {
            IpvsCmd::NewService => IPVS_CMD_NEW_SERVICE,
            IpvsCmd::SetService => IPVS_CMD_SET_SERVICE,
            IpvsCmd::DelService => IPVS_CMD_DEL_SERVICE,
            IpvsCmd::GetService => IPVS_CMD_GET_SERVICE,
            IpvsCmd::NewDest => IPVS_CMD_NEW_DEST,
            IpvsCmd::SetDest => IPVS_CMD_SET_DEST,
            IpvsCmd::DelDest => IPVS_CMD_DEL_DEST,
            IpvsCmd::GetDest => IPVS_CMD_GET_DEST,
            IpvsCmd::NewDaemon => IPVS_CMD_NEW_DAEMON,
            IpvsCmd::DelDaemon => IPVS_CMD_DEL_DAEMON,
            IpvsCmd::GetDaemon => IPVS_CMD_GET_DAEMON,
            IpvsCmd::SetConfig => IPVS_CMD_SET_CONFIG,
            IpvsCmd::GetConfig => IPVS_CMD_GET_CONFIG,
            IpvsCmd::SetInfo => IPVS_CMD_SET_INFO,
            IpvsCmd::GetInfo => IPVS_CMD_GET_INFO,
            IpvsCmd::Zero => IPVS_CMD_ZERO,
            IpvsCmd::Flush => IPVS_CMD_FLUSH,
            IpvsCmd::Other(n) => n,
        }
    }
}

impl IpvsCmd {
    /// `SET_INFO`/`GET_INFO` carry `IPVS_INFO_ATTR_*` at the top level,
    /// whose numbers overlap `IPVS_CMD_ATTR_*`.
    fn info_attrs(self) -> bool {
        matches!(self, IpvsCmd::SetInfo | IpvsCmd::GetInfo)
    }
}

/// Top-level attributes (`IPVS_CMD_ATTR_*`, or `IPVS_INFO_ATTR_*` in
/// `SET_INFO`/`GET_INFO` messages).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CmdAttr {
    Service(Vec<SvcAttr>),
    Dest(Vec<DestAttr>),
    Daemon(Vec<DaemonAttr>),
    TimeoutTcp(u32),
    TimeoutTcpFin(u32),
    TimeoutUdp(u32),
    /// `IPVS_INFO_ATTR_VERSION`, only in info messages.
    InfoVersion(u32),
    /// `IPVS_INFO_ATTR_CONN_TAB_SIZE`, only in info messages.
    InfoConnTabSize(u32),
    Other(RawAttr),
}

/// `IPVS_SVC_ATTR_*`, nested in `IPVS_CMD_ATTR_SERVICE`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SvcAttr {
    Af(u16),
    Protocol(u16),
    Addr(InetAddr),
    /// Host order here, big-endian on the wire.
    Port(u16),
    Fwmark(u32),
    SchedName(String),
    Flags(IpVsFlags),
    Timeout(u32),
    /// As the kernel stores it: for IPv4 the mask's bytes in network order
    /// read as a host `u32`, for IPv6 the prefix length.
    Netmask(u32),
    Stats(Stats),
    PeName(String),
    Stats64(Stats),
    Other(RawAttr),
}

/// `IPVS_DEST_ATTR_*`, nested in `IPVS_CMD_ATTR_DEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DestAttr {
    Addr(InetAddr),
    /// Host order here, big-endian on the wire.
    Port(u16),
    FwdMethod(u32),
    Weight(u32),
    UThresh(u32),
    LThresh(u32),
    ActiveConns(u32),
    InactConns(u32),
    PersistConns(u32),
    Stats(Stats),
    AddrFamily(u16),
    Stats64(Stats),
    TunType(u8),
    /// Host order here, big-endian on the wire.
    TunPort(u16),
    TunFlags(u16),
    Other(RawAttr),
}

/// `IPVS_DAEMON_ATTR_*`, nested in `IPVS_CMD_ATTR_DAEMON`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DaemonAttr {
    State(u32),
    McastIfn(String),
    SyncId(u32),
    SyncMaxlen(u16),
    McastGroup(Ipv4Addr),
    McastGroup6(Ipv6Addr),
    /// Host order (the kernel uses `nla_get_u16` here, unlike other ports).
    McastPort(u16),
    McastTtl(u8),
    Other(RawAttr),
}

/// The payload of one IPVS generic netlink message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    pub cmd: IpvsCmd,
    /// `IPVS_GENL_VERSION` in everything we send.
    pub version: u8,
    pub attrs: Vec<CmdAttr>,
}

impl IpvsMessage {
    pub fn new(cmd: IpvsCmd, attrs: Vec<CmdAttr>) -> IpvsMessage {
        IpvsMessage {
            cmd,
            version: IPVS_GENL_VERSION,
            attrs,
        }
    }

    /// The genl header and attributes, ready to follow a netlink header.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut buf = Vec::new();
        self.encode_into(&mut buf)?;
        Ok(buf)
    }

    /// [`IpvsMessage::encode`] appended to `out`, which a caller encoding
    /// thousands of requests reuses. On error `out` may hold part of it.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut w = Writer {
            buf: std::mem::take(out),
        };
        w.buf
            .extend_from_slice(&[u8::from(self.cmd), self.version, 0, 0]);
        let r = self
            .attrs
            .iter()
            .try_for_each(|a| encode_cmd_attr(&mut w, a));
        *out = w.buf;
        r
    }

    /// Parses the payload of one netlink message (after its 16-byte header).
    pub fn decode(buf: &[u8]) -> Result<IpvsMessage, DecodeError> {
        let (hdr, body) = buf
            .split_at_checked(GENL_HDRLEN)
            .ok_or(DecodeError::ShortHeader(buf.len()))?;
        let cmd = IpvsCmd::from(hdr[0]);
        let version = hdr[1];
        let attrs = attrs(body)
            .map(|a| a.and_then(|a| decode_cmd_attr(cmd, a)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IpvsMessage {
            cmd,
            version,
            attrs,
        })
    }
}

fn encode_cmd_attr(w: &mut Writer, a: &CmdAttr) -> Result<(), EncodeError> {
    match a {
        CmdAttr::Service(attrs) => w.nested(IPVS_CMD_ATTR_SERVICE, |w| {
            attrs.iter().try_for_each(|a| encode_svc_attr(w, a))
        }),
        CmdAttr::Dest(attrs) => w.nested(IPVS_CMD_ATTR_DEST, |w| {
            attrs.iter().try_for_each(|a| encode_dest_attr(w, a))
        }),
        CmdAttr::Daemon(attrs) => w.nested(IPVS_CMD_ATTR_DAEMON, |w| {
            attrs.iter().try_for_each(|a| encode_daemon_attr(w, a))
        }),
        CmdAttr::TimeoutTcp(v) => w.u32(IPVS_CMD_ATTR_TIMEOUT_TCP, *v),
        CmdAttr::TimeoutTcpFin(v) => w.u32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, *v),
        CmdAttr::TimeoutUdp(v) => w.u32(IPVS_CMD_ATTR_TIMEOUT_UDP, *v),
        CmdAttr::InfoVersion(v) => w.u32(IPVS_INFO_ATTR_VERSION, *v),
        CmdAttr::InfoConnTabSize(v) => w.u32(IPVS_INFO_ATTR_CONN_TAB_SIZE, *v),
        CmdAttr::Other(raw) => w.raw(raw),
    }
}

fn decode_cmd_attr(cmd: IpvsCmd, a: Attr<'_>) -> Result<CmdAttr, DecodeError> {
    if cmd.info_attrs() {
        return Ok(match a.kind {
            IPVS_INFO_ATTR_VERSION => {
                CmdAttr::InfoVersion(get_u32("IPVS_INFO_ATTR_VERSION", a.payload)?)
            }
            IPVS_INFO_ATTR_CONN_TAB_SIZE => {
                CmdAttr::InfoConnTabSize(get_u32("IPVS_INFO_ATTR_CONN_TAB_SIZE", a.payload)?)
            }
            _ => CmdAttr::Other(a.to_raw()),
        });
    }
    Ok(match a.kind {
        IPVS_CMD_ATTR_SERVICE => CmdAttr::Service(
            attrs(a.payload)
                .map(|a| a.and_then(decode_svc_attr))
                .collect::<Result<_, _>>()
                .context("invalid IPVS_CMD_ATTR_SERVICE")?,
        ),
        IPVS_CMD_ATTR_DEST => CmdAttr::Dest(
            attrs(a.payload)
                .map(|a| a.and_then(decode_dest_attr))
                .collect::<Result<_, _>>()
                .context("invalid IPVS_CMD_ATTR_DEST")?,
        ),
        IPVS_CMD_ATTR_DAEMON => CmdAttr::Daemon(
            attrs(a.payload)
                .map(|a| a.and_then(decode_daemon_attr))
                .collect::<Result<_, _>>()
                .context("invalid IPVS_CMD_ATTR_DAEMON")?,
        ),
        IPVS_CMD_ATTR_TIMEOUT_TCP => {
            CmdAttr::TimeoutTcp(get_u32("IPVS_CMD_ATTR_TIMEOUT_TCP", a.payload)?)
        }
        IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => {
            CmdAttr::TimeoutTcpFin(get_u32("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN", a.payload)?)
        }
        IPVS_CMD_ATTR_TIMEOUT_UDP => {
            CmdAttr::TimeoutUdp(get_u32("IPVS_CMD_ATTR_TIMEOUT_UDP", a.payload)?)
        }
        _ => CmdAttr::Other(a.to_raw()),
    })
}

fn encode_svc_attr(w: &mut Writer, a: &SvcAttr) -> Result<(), EncodeError> {
    match a {
        SvcAttr::Af(v) => w.u16(IPVS_SVC_ATTR_AF, *v),
        SvcAttr::Protocol(v) => w.u16(IPVS_SVC_ATTR_PROTOCOL, *v),
        SvcAttr::Addr(v) => w.attr(IPVS_SVC_ATTR_ADDR, &v.0),
        SvcAttr::Port(v) => w.be16(IPVS_SVC_ATTR_PORT, *v),
        SvcAttr::Fwmark(v) => w.u32(IPVS_SVC_ATTR_FWMARK, *v),
        SvcAttr::SchedName(s) => w.string(IPVS_SVC_ATTR_SCHED_NAME, s),
        SvcAttr::Flags(f) => {
            let mut b = [0u8; 8];
            b[..4].copy_from_slice(&f.flags.to_ne_bytes());
            b[4..].copy_from_slice(&f.mask.to_ne_bytes());
            w.attr(IPVS_SVC_ATTR_FLAGS, &b)
        }
        SvcAttr::Timeout(v) => w.u32(IPVS_SVC_ATTR_TIMEOUT, *v),
        SvcAttr::Netmask(v) => w.u32(IPVS_SVC_ATTR_NETMASK, *v),
        SvcAttr::Stats(s) => encode_stats(w, IPVS_SVC_ATTR_STATS, s, false),
        SvcAttr::PeName(s) => w.string(IPVS_SVC_ATTR_PE_NAME, s),
        SvcAttr::Stats64(s) => encode_stats(w, IPVS_SVC_ATTR_STATS64, s, true),
        SvcAttr::Other(raw) => w.raw(raw),
    }
}

fn decode_svc_attr(a: Attr<'_>) -> Result<SvcAttr, DecodeError> {
    let p = a.payload;
    Ok(match a.kind {
        IPVS_SVC_ATTR_AF => SvcAttr::Af(get_u16("IPVS_SVC_ATTR_AF", p)?),
        IPVS_SVC_ATTR_PROTOCOL => SvcAttr::Protocol(get_u16("IPVS_SVC_ATTR_PROTOCOL", p)?),
        IPVS_SVC_ATTR_ADDR => SvcAttr::Addr(InetAddr::decode("IPVS_SVC_ATTR_ADDR", p)?),
        IPVS_SVC_ATTR_PORT => SvcAttr::Port(get_be16("IPVS_SVC_ATTR_PORT", p)?),
        IPVS_SVC_ATTR_FWMARK => SvcAttr::Fwmark(get_u32("IPVS_SVC_ATTR_FWMARK", p)?),
        IPVS_SVC_ATTR_SCHED_NAME => SvcAttr::SchedName(get_string("IPVS_SVC_ATTR_SCHED_NAME", p)?),
        IPVS_SVC_ATTR_FLAGS => {
            // A 4-byte FLAGS passes the kernel's policy but leaves the mask
            // zero, so the flags are silently ignored: refuse it.
            let b: [u8; 8] = exact("IPVS_SVC_ATTR_FLAGS", p)?;
            let (f, m) = b.split_at(4);
            SvcAttr::Flags(IpVsFlags {
                flags: get_u32("IPVS_SVC_ATTR_FLAGS", f)?,
                mask: get_u32("IPVS_SVC_ATTR_FLAGS", m)?,
            })
        }
        IPVS_SVC_ATTR_TIMEOUT => SvcAttr::Timeout(get_u32("IPVS_SVC_ATTR_TIMEOUT", p)?),
        IPVS_SVC_ATTR_NETMASK => SvcAttr::Netmask(get_u32("IPVS_SVC_ATTR_NETMASK", p)?),
        IPVS_SVC_ATTR_STATS => {
            SvcAttr::Stats(decode_stats(p).context("invalid IPVS_SVC_ATTR_STATS")?)
        }
        IPVS_SVC_ATTR_PE_NAME => SvcAttr::PeName(get_string("IPVS_SVC_ATTR_PE_NAME", p)?),
        IPVS_SVC_ATTR_STATS64 => {
            SvcAttr::Stats64(decode_stats(p).context("invalid IPVS_SVC_ATTR_STATS64")?)
        }
        _ => SvcAttr::Other(a.to_raw()),
    })
}

fn encode_dest_attr(w: &mut Writer, a: &DestAttr) -> Result<(), EncodeError> {
    match a {
        DestAttr::Addr(v) => w.attr(IPVS_DEST_ATTR_ADDR, &v.0),
        DestAttr::Port(v) => w.be16(IPVS_DEST_ATTR_PORT, *v),
        DestAttr::FwdMethod(v) => w.u32(IPVS_DEST_ATTR_FWD_METHOD, *v),
        DestAttr::Weight(v) => w.u32(IPVS_DEST_ATTR_WEIGHT, *v),
        DestAttr::UThresh(v) => w.u32(IPVS_DEST_ATTR_U_THRESH, *v),
        DestAttr::LThresh(v) => w.u32(IPVS_DEST_ATTR_L_THRESH, *v),
        DestAttr::ActiveConns(v) => w.u32(IPVS_DEST_ATTR_ACTIVE_CONNS, *v),
        DestAttr::InactConns(v) => w.u32(IPVS_DEST_ATTR_INACT_CONNS, *v),
        DestAttr::PersistConns(v) => w.u32(IPVS_DEST_ATTR_PERSIST_CONNS, *v),
        DestAttr::Stats(s) => encode_stats(w, IPVS_DEST_ATTR_STATS, s, false),
        DestAttr::AddrFamily(v) => w.u16(IPVS_DEST_ATTR_ADDR_FAMILY, *v),
        DestAttr::Stats64(s) => encode_stats(w, IPVS_DEST_ATTR_STATS64, s, true),
        DestAttr::TunType(v) => w.u8(IPVS_DEST_ATTR_TUN_TYPE, *v),
        DestAttr::TunPort(v) => w.be16(IPVS_DEST_ATTR_TUN_PORT, *v),
        DestAttr::TunFlags(v) => w.u16(IPVS_DEST_ATTR_TUN_FLAGS, *v),
        DestAttr::Other(raw) => w.raw(raw),
    }
}

fn decode_dest_attr(a: Attr<'_>) -> Result<DestAttr, DecodeError> {
    let p = a.payload;
    Ok(match a.kind {
        IPVS_DEST_ATTR_ADDR => DestAttr::Addr(InetAddr::decode("IPVS_DEST_ATTR_ADDR", p)?),
        IPVS_DEST_ATTR_PORT => DestAttr::Port(get_be16("IPVS_DEST_ATTR_PORT", p)?),
        IPVS_DEST_ATTR_FWD_METHOD => DestAttr::FwdMethod(get_u32("IPVS_DEST_ATTR_FWD_METHOD", p)?),
        IPVS_DEST_ATTR_WEIGHT => DestAttr::Weight(get_u32("IPVS_DEST_ATTR_WEIGHT", p)?),
        IPVS_DEST_ATTR_U_THRESH => DestAttr::UThresh(get_u32("IPVS_DEST_ATTR_U_THRESH", p)?),
        IPVS_DEST_ATTR_L_THRESH => DestAttr::LThresh(get_u32("IPVS_DEST_ATTR_L_THRESH", p)?),
        IPVS_DEST_ATTR_ACTIVE_CONNS => {
            DestAttr::ActiveConns(get_u32("IPVS_DEST_ATTR_ACTIVE_CONNS", p)?)
        }
        IPVS_DEST_ATTR_INACT_CONNS => {
            DestAttr::InactConns(get_u32("IPVS_DEST_ATTR_INACT_CONNS", p)?)
        }
        IPVS_DEST_ATTR_PERSIST_CONNS => {
            DestAttr::PersistConns(get_u32("IPVS_DEST_ATTR_PERSIST_CONNS", p)?)
        }
        IPVS_DEST_ATTR_STATS => {
            DestAttr::Stats(decode_stats(p).context("invalid IPVS_DEST_ATTR_STATS")?)
        }
        IPVS_DEST_ATTR_ADDR_FAMILY => {
            DestAttr::AddrFamily(get_u16("IPVS_DEST_ATTR_ADDR_FAMILY", p)?)
        }
        IPVS_DEST_ATTR_STATS64 => {
            DestAttr::Stats64(decode_stats(p).context("invalid IPVS_DEST_ATTR_STATS64")?)
        }
        IPVS_DEST_ATTR_TUN_TYPE => DestAttr::TunType(get_u8("IPVS_DEST_ATTR_TUN_TYPE", p)?),
        IPVS_DEST_ATTR_TUN_PORT => DestAttr::TunPort(get_be16("IPVS_DEST_ATTR_TUN_PORT", p)?),
        IPVS_DEST_ATTR_TUN_FLAGS => DestAttr::TunFlags(get_u16("IPVS_DEST_ATTR_TUN_FLAGS", p)?),
        _ => DestAttr::Other(a.to_raw()),
    })
}

fn encode_daemon_attr(w: &mut Writer, a: &DaemonAttr) -> Result<(), EncodeError> {
    match a {
        DaemonAttr::State(v) => w.u32(IPVS_DAEMON_ATTR_STATE, *v),
        DaemonAttr::McastIfn(s) => w.string(IPVS_DAEMON_ATTR_MCAST_IFN, s),
        DaemonAttr::SyncId(v) => w.u32(IPVS_DAEMON_ATTR_SYNC_ID, *v),
        DaemonAttr::SyncMaxlen(v) => w.u16(IPVS_DAEMON_ATTR_SYNC_MAXLEN, *v),
        DaemonAttr::McastGroup(a) => w.attr(IPVS_DAEMON_ATTR_MCAST_GROUP, &a.octets()),
        DaemonAttr::McastGroup6(a) => w.attr(IPVS_DAEMON_ATTR_MCAST_GROUP6, &a.octets()),
        DaemonAttr::McastPort(v) => w.u16(IPVS_DAEMON_ATTR_MCAST_PORT, *v),
        DaemonAttr::McastTtl(v) => w.u8(IPVS_DAEMON_ATTR_MCAST_TTL, *v),
        DaemonAttr::Other(raw) => w.raw(raw),
    }
}

fn decode_daemon_attr(a: Attr<'_>) -> Result<DaemonAttr, DecodeError> {
    let p = a.payload;
    Ok(match a.kind {
        IPVS_DAEMON_ATTR_STATE => DaemonAttr::State(get_u32("IPVS_DAEMON_ATTR_STATE", p)?),
        IPVS_DAEMON_ATTR_MCAST_IFN => {
            DaemonAttr::McastIfn(get_string("IPVS_DAEMON_ATTR_MCAST_IFN", p)?)
        }
        IPVS_DAEMON_ATTR_SYNC_ID => DaemonAttr::SyncId(get_u32("IPVS_DAEMON_ATTR_SYNC_ID", p)?),
        IPVS_DAEMON_ATTR_SYNC_MAXLEN => {
            DaemonAttr::SyncMaxlen(get_u16("IPVS_DAEMON_ATTR_SYNC_MAXLEN", p)?)
        }
        IPVS_DAEMON_ATTR_MCAST_GROUP => DaemonAttr::McastGroup(Ipv4Addr::from(exact::<4>(
            "IPVS_DAEMON_ATTR_MCAST_GROUP",
            p,
        )?)),
        IPVS_DAEMON_ATTR_MCAST_GROUP6 => DaemonAttr::McastGroup6(Ipv6Addr::from(exact::<16>(
            "IPVS_DAEMON_ATTR_MCAST_GROUP6",
            p,
        )?)),
        IPVS_DAEMON_ATTR_MCAST_PORT => {
            DaemonAttr::McastPort(get_u16("IPVS_DAEMON_ATTR_MCAST_PORT", p)?)
        }
        IPVS_DAEMON_ATTR_MCAST_TTL => {
            DaemonAttr::McastTtl(get_u8("IPVS_DAEMON_ATTR_MCAST_TTL", p)?)
        }
        _ => DaemonAttr::Other(a.to_raw()),
    })
}

/// Writes counters the way the kernel does: in `STATS`, conns/packets/rates
/// are u32 and bytes u64 (a value that doesn't fit in u32 goes as u64 so
/// decoding gets it back); in `STATS64` everything is u64.
fn encode_stats(w: &mut Writer, kind: u16, s: &Stats, wide: bool) -> Result<(), EncodeError> {
    w.nested(kind, |w| {
        let mut counter = |kind: u16, v: u64| match u32::try_from(v) {
            Ok(v32) if !wide => w.u32(kind, v32),
            _ => w.u64(kind, v),
        };
        counter(IPVS_STATS_ATTR_CONNS, s.conns)?;
        counter(IPVS_STATS_ATTR_INPKTS, s.inpkts)?;
        counter(IPVS_STATS_ATTR_OUTPKTS, s.outpkts)?;
        w.u64(IPVS_STATS_ATTR_INBYTES, s.inbytes)?;
        w.u64(IPVS_STATS_ATTR_OUTBYTES, s.outbytes)?;
        let mut counter = |kind: u16, v: u64| match u32::try_from(v) {
            Ok(v32) if !wide => w.u32(kind, v32),
            _ => w.u64(kind, v),
        };
        counter(IPVS_STATS_ATTR_CPS, s.cps)?;
        counter(IPVS_STATS_ATTR_INPPS, s.inpps)?;
        counter(IPVS_STATS_ATTR_OUTPPS, s.outpps)?;
        counter(IPVS_STATS_ATTR_INBPS, s.inbps)?;
        counter(IPVS_STATS_ATTR_OUTBPS, s.outbps)
    })
}

/// Reads counters of either width; `IPVS_STATS_ATTR_PAD` (which
/// `nla_put_u64_64bit` inserts on some architectures) and unknown types
/// are skipped.
fn decode_stats(p: &[u8]) -> Result<Stats, DecodeError> {
    let mut s = Stats::default();
    for a in attrs(p) {
        let a = a?;
        let (field, name) = match a.kind {
            IPVS_STATS_ATTR_CONNS => (&mut s.conns, "IPVS_STATS_ATTR_CONNS"),
            IPVS_STATS_ATTR_INPKTS => (&mut s.inpkts, "IPVS_STATS_ATTR_INPKTS"),
            IPVS_STATS_ATTR_OUTPKTS => (&mut s.outpkts, "IPVS_STATS_ATTR_OUTPKTS"),
            IPVS_STATS_ATTR_INBYTES => (&mut s.inbytes, "IPVS_STATS_ATTR_INBYTES"),
            IPVS_STATS_ATTR_OUTBYTES => (&mut s.outbytes, "IPVS_STATS_ATTR_OUTBYTES"),
            IPVS_STATS_ATTR_CPS => (&mut s.cps, "IPVS_STATS_ATTR_CPS"),
            IPVS_STATS_ATTR_INPPS => (&mut s.inpps, "IPVS_STATS_ATTR_INPPS"),
            IPVS_STATS_ATTR_OUTPPS => (&mut s.outpps, "IPVS_STATS_ATTR_OUTPPS"),
            IPVS_STATS_ATTR_INBPS => (&mut s.inbps, "IPVS_STATS_ATTR_INBPS"),
            IPVS_STATS_ATTR_OUTBPS => (&mut s.outbps, "IPVS_STATS_ATTR_OUTBPS"),
            _ => continue,
        };
        *field = get_counter(name, a.payload)?;
    }
    Ok(s)
}

// ---------------------------------------------------------------------------
// Model values to attributes.

/// The attributes that identify a service (all that `DEL_SERVICE`,
/// `GET_SERVICE`, the service part of dest commands and `GET_DEST` dumps
/// need): `AF`, then `FWMARK` or `PROTOCOL`/`ADDR`/`PORT`, as libipvs
/// orders them.
pub fn service_key_attrs(key: &ServiceKey) -> Vec<SvcAttr> {
    let mut v = vec![SvcAttr::Af(key.af().number())];
    match *key {
        ServiceKey::Inet { proto, addr, port } => {
            v.push(SvcAttr::Protocol(proto.number()));
            v.push(SvcAttr::Addr(InetAddr::from_ip(addr)));
            v.push(SvcAttr::Port(port));
        }
        ServiceKey::Fwmark { mark, .. } => v.push(SvcAttr::Fwmark(mark)),
    }
    v
}

/// A full service (what `NEW_SERVICE`/`SET_SERVICE` need), in libipvs's
/// order: key, `SCHED_NAME`, `PE_NAME` if any, `FLAGS` (mask all ones, so
/// the kernel takes every flag from us), `TIMEOUT`, `NETMASK`.
pub fn service_attrs(key: &ServiceKey, svc: &Service) -> Vec<SvcAttr> {
    let af = key.af();
    let mut v = service_key_attrs(key);
    v.push(SvcAttr::SchedName(svc.sched.name().to_owned()));
    if let Some(pe) = svc.pe_name.as_deref().filter(|pe| !pe.is_empty()) {
        v.push(SvcAttr::PeName(pe.to_owned()));
    }
    v.push(SvcAttr::Flags(IpVsFlags {
        flags: svc.flags.config().bits(),
        mask: u32::MAX,
    }));
    v.push(SvcAttr::Timeout(svc.timeout));
    v.push(SvcAttr::Netmask(netmask_to_wire(
        af,
        svc.netmask_or_default(af),
    )));
    v
}

/// IPv4 masks travel as their network-order bytes (`__be32`), IPv6
/// prefixes as a host `u32`.
fn netmask_to_wire(af: Af, mask: u32) -> u32 {
    match af {
        Af::Inet => u32::from_ne_bytes(mask.to_be_bytes()),
        Af::Inet6 => mask,
    }
}

fn netmask_from_wire(af: Af, raw: u32) -> u32 {
    match af {
        Af::Inet => u32::from_be_bytes(raw.to_ne_bytes()),
        Af::Inet6 => raw,
    }
}

/// The attributes that identify a real server (all `DEL_DEST` needs).
pub fn dest_key_attrs(key: &DestKey) -> Vec<DestAttr> {
    vec![
        DestAttr::AddrFamily(key.af().number()),
        DestAttr::Addr(InetAddr::from_ip(key.addr)),
        DestAttr::Port(key.port),
    ]
}

/// A full real server, in libipvs's order. Tunnel attributes are always
/// sent (zero unless tunnelling), as ipvsadm does; kernels older than 5.3
/// ignore them.
pub fn dest_attrs(key: &DestKey, dest: &Dest) -> Vec<DestAttr> {
    let tun = match dest.fwd {
        Fwd::Tunnel(t) => Some(t),
        _ => None,
    };
    let mut v = dest_key_attrs(key);
    v.extend([
        DestAttr::FwdMethod(dest.fwd.number()),
        DestAttr::Weight(dest.weight),
        DestAttr::TunType(tun.map_or(0, Tunnel::type_number)),
        DestAttr::TunPort(tun.map_or(0, Tunnel::port)),
        DestAttr::TunFlags(tun.map_or(0, |t| t.csum().number())),
        DestAttr::UThresh(dest.u_thresh),
        DestAttr::LThresh(dest.l_thresh),
    ]);
    v
}

fn daemon_attrs(d: &SyncDaemon) -> Vec<DaemonAttr> {
    let mut v = vec![
        DaemonAttr::State(d.state.number()),
        DaemonAttr::McastIfn(d.mcast_ifn.clone()),
        DaemonAttr::SyncId(d.syncid),
    ];
    if let Some(x) = d.sync_maxlen {
        v.push(DaemonAttr::SyncMaxlen(x));
    }
    if let Some(x) = d.mcast_port {
        v.push(DaemonAttr::McastPort(x));
    }
    if let Some(x) = d.mcast_ttl {
        v.push(DaemonAttr::McastTtl(x));
    }
    match d.mcast_group {
        Some(IpAddr::V4(a)) => v.push(DaemonAttr::McastGroup(a)),
        Some(IpAddr::V6(a)) => v.push(DaemonAttr::McastGroup6(a)),
        None => {}
    }
    v
}

// ---------------------------------------------------------------------------
// Requests. Each says which ipvsadm command it is equivalent to.

/// `ipvsadm --version`'s question: IPVS version and hash table size.
pub fn get_info() -> IpvsMessage {
    IpvsMessage::new(IpvsCmd::GetInfo, vec![])
}

/// The request that carries out `op`, written into `out` (after what it
/// holds): the bytes `IpvsMessage::encode_into` writes for the request of
/// the same op (see `client::request_for`; a test compares them), without
/// building the message. A cold start sends one per service and real
/// server, and under qemu the message's allocations were a good part of
/// the IPVS thread's time (issue 3 point 6).
pub fn encode_op(op: &crate::plan::Op, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    use crate::plan::Op;
    let (cmd, svc_key, svc, dest) = match op {
        Op::AddService { key, service } => (IpvsCmd::NewService, key, Some(service), None),
        Op::EditService { key, service } => (IpvsCmd::SetService, key, Some(service), None),
        Op::DelService { key } => (IpvsCmd::DelService, key, None, None),
        Op::AddDest { service, key, dest } => {
            (IpvsCmd::NewDest, service, None, Some((key, Some(dest))))
        }
        Op::EditDest { service, key, dest } => {
            (IpvsCmd::SetDest, service, None, Some((key, Some(dest))))
        }
        Op::DelDest { service, key } => (IpvsCmd::DelDest, service, None, Some((key, None))),
    };
    let mut w = Writer {
        buf: std::mem::take(out),
    };
    w.buf
        .extend_from_slice(&[u8::from(cmd), IPVS_GENL_VERSION, 0, 0]);
    let r = encode_op_attrs(&mut w, svc_key, svc, dest);
    *out = w.buf;
    r
}

fn encode_op_attrs(
    w: &mut Writer,
    key: &ServiceKey,
    svc: Option<&Service>,
    dest: Option<(&DestKey, Option<&Dest>)>,
) -> Result<(), EncodeError> {
    // the attributes and their order are service_attrs' and dest_attrs'
    w.nested(IPVS_CMD_ATTR_SERVICE, |w| {
        w.u16(IPVS_SVC_ATTR_AF, key.af().number())?;
        match *key {
            ServiceKey::Inet { proto, addr, port } => {
                w.u16(IPVS_SVC_ATTR_PROTOCOL, proto.number())?;
                w.attr(IPVS_SVC_ATTR_ADDR, &InetAddr::from_ip(addr).0)?;
                w.be16(IPVS_SVC_ATTR_PORT, port)?;
            }
            ServiceKey::Fwmark { mark, .. } => w.u32(IPVS_SVC_ATTR_FWMARK, mark)?,
        }
        let Some(svc) = svc else { return Ok(()) };
        let af = key.af();
        w.string(IPVS_SVC_ATTR_SCHED_NAME, svc.sched.name())?;
        if let Some(pe) = svc.pe_name.as_deref().filter(|pe| !pe.is_empty()) {
            w.string(IPVS_SVC_ATTR_PE_NAME, pe)?;
        }
        let mut flags = [0u8; 8];
        flags[..4].copy_from_slice(&svc.flags.config().bits().to_ne_bytes());
        flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
        w.attr(IPVS_SVC_ATTR_FLAGS, &flags)?;
        w.u32(IPVS_SVC_ATTR_TIMEOUT, svc.timeout)?;
        w.u32(
            IPVS_SVC_ATTR_NETMASK,
            netmask_to_wire(af, svc.netmask_or_default(af)),
        )
    })?;
    let Some((dkey, dest)) = dest else {
        return Ok(());
    };
    w.nested(IPVS_CMD_ATTR_DEST, |w| {
        w.u16(IPVS_DEST_ATTR_ADDR_FAMILY, dkey.af().number())?;
        w.attr(IPVS_DEST_ATTR_ADDR, &InetAddr::from_ip(dkey.addr).0)?;
        w.be16(IPVS_DEST_ATTR_PORT, dkey.port)?;
        let Some(dest) = dest else { return Ok(()) };
        let tun = match dest.fwd {
            Fwd::Tunnel(t) => Some(t),
            _ => None,
        };
        w.u32(IPVS_DEST_ATTR_FWD_METHOD, dest.fwd.number())?;
        w.u32(IPVS_DEST_ATTR_WEIGHT, dest.weight)?;
        w.u8(IPVS_DEST_ATTR_TUN_TYPE, tun.map_or(0, Tunnel::type_number))?;
        w.be16(IPVS_DEST_ATTR_TUN_PORT, tun.map_or(0, Tunnel::port))?;
        w.u16(
            IPVS_DEST_ATTR_TUN_FLAGS,
            tun.map_or(0, |t| t.csum().number()),
        )?;
        w.u32(IPVS_DEST_ATTR_U_THRESH, dest.u_thresh)?;
        w.u32(IPVS_DEST_ATTR_L_THRESH, dest.l_thresh)
    })
}

/// `ipvsadm -A SVC -s SCHED ...`.
pub fn new_service(key: &ServiceKey, svc: &Service) -> IpvsMessage {
    IpvsMessage::new(
        IpvsCmd::NewService,
        vec![CmdAttr::Service(service_attrs(key, svc))],
    )
}

/// `ipvsadm -E SVC -s SCHED ...`.
pub fn set_service(key: &ServiceKey, svc: &Service) -> IpvsMessage {
    IpvsMessage::new(
        IpvsCmd::SetService,
        vec![CmdAttr::Service(service_attrs(key, svc))],
    )
}

/// `ipvsadm -D SVC`; the kernel drops the service's real servers with it.
pub fn del_service(key: &ServiceKey) -> IpvsMessage {
    IpvsMessage::new(
        IpvsCmd::DelService,
        vec![CmdAttr::Service(service_key_attrs(key))],
    )
}

/// One service (send without `NLM_F_DUMP`), or with `None` all services
/// (send with `NLM_F_DUMP`): `ipvsadm -Ln`.
pub fn get_service(key: Option<&ServiceKey>) -> IpvsMessage {
    let attrs = key
        .map(|k| vec![CmdAttr::Service(service_key_attrs(k))])
        .unwrap_or_default();
    IpvsMessage::new(IpvsCmd::GetService, attrs)
}

/// `ipvsadm -a SVC -r RS ...`.
pub fn new_dest(svc: &ServiceKey, key: &DestKey, dest: &Dest) -> IpvsMessage {
    IpvsMessage::new(
        IpvsCmd::NewDest,
        vec![
            CmdAttr::Service(service_key_attrs(svc)),
            CmdAttr::Dest(dest_attrs(key, dest)),
        ],
    )
}

/// `ipvsadm -e SVC -r RS ...`.
pub fn set_dest(svc: &ServiceKey, key: &DestKey, dest: &Dest) -> IpvsMessage {
    IpvsMessage::new(
        IpvsCmd::SetDest,
        vec![
            CmdAttr::Service(service_key_attrs(svc)),
            CmdAttr::Dest(dest_attrs(key, dest)),
        ],
    )
}

/// `ipvsadm -d SVC -r RS`.
pub fn del_dest(svc: &ServiceKey, key: &DestKey) -> IpvsMessage {
    IpvsMessage::new(
        IpvsCmd::DelDest,
        vec![
            CmdAttr::Service(service_key_attrs(svc)),
            CmdAttr::Dest(dest_key_attrs(key)),
        ],
    )
}

/// The real servers of one service (send with `NLM_F_DUMP`; the kernel
/// needs the service in the request and answers nothing if it is unknown).
pub fn get_dests(svc: &ServiceKey) -> IpvsMessage {
    IpvsMessage::new(
        IpvsCmd::GetDest,
        vec![CmdAttr::Service(service_key_attrs(svc))],
    )
}

/// `ipvsadm -C`.
pub fn flush() -> IpvsMessage {
    IpvsMessage::new(IpvsCmd::Flush, vec![])
}

/// `ipvsadm -Z [SVC]`.
pub fn zero(svc: Option<&ServiceKey>) -> IpvsMessage {
    let attrs = svc
        .map(|k| vec![CmdAttr::Service(service_key_attrs(k))])
        .unwrap_or_default();
    IpvsMessage::new(IpvsCmd::Zero, attrs)
}

/// `ipvsadm -L --timeout`'s question.
pub fn get_config() -> IpvsMessage {
    IpvsMessage::new(IpvsCmd::GetConfig, vec![])
}

/// `ipvsadm --set TCP TCPFIN UDP` (0 leaves a timeout unchanged).
pub fn set_config(t: &Timeouts) -> IpvsMessage {
    IpvsMessage::new(
        IpvsCmd::SetConfig,
        vec![
            CmdAttr::TimeoutTcp(t.tcp),
            CmdAttr::TimeoutTcpFin(t.tcp_fin),
            CmdAttr::TimeoutUdp(t.udp),
        ],
    )
}

/// `ipvsadm --start-daemon STATE --mcast-interface IF --syncid N ...`.
pub fn new_daemon(d: &SyncDaemon) -> IpvsMessage {
    IpvsMessage::new(IpvsCmd::NewDaemon, vec![CmdAttr::Daemon(daemon_attrs(d))])
}

/// `ipvsadm --stop-daemon STATE` (the kernel needs only the state).
pub fn del_daemon(state: SyncState) -> IpvsMessage {
    IpvsMessage::new(
        IpvsCmd::DelDaemon,
        vec![CmdAttr::Daemon(vec![DaemonAttr::State(state.number())])],
    )
}

/// `ipvsadm -L --daemon`'s question (send with `NLM_F_DUMP`).
pub fn get_daemon() -> IpvsMessage {
    IpvsMessage::new(IpvsCmd::GetDaemon, vec![])
}

// ---------------------------------------------------------------------------
// Replies to model values.

fn expect_cmd(msg: &IpvsMessage, cmd: IpvsCmd) -> Result<(), DecodeError> {
    if msg.cmd == cmd {
        Ok(())
    } else {
        Err(DecodeError::UnexpectedCmd(msg.cmd.into()))
    }
}

/// The `SET_INFO` reply to [`get_info`].
pub fn parse_info(msg: &IpvsMessage) -> Result<IpvsInfo, DecodeError> {
    expect_cmd(msg, IpvsCmd::SetInfo)?;
    let (mut version, mut size) = (None, None);
    for a in &msg.attrs {
        match a {
            CmdAttr::InfoVersion(v) => version = Some(*v),
            CmdAttr::InfoConnTabSize(v) => size = Some(*v),
            _ => {}
        }
    }
    Ok(IpvsInfo {
        version: version.ok_or(DecodeError::Missing("IPVS_INFO_ATTR_VERSION"))?,
        conn_tab_size: size.ok_or(DecodeError::Missing("IPVS_INFO_ATTR_CONN_TAB_SIZE"))?,
    })
}

/// The `SET_CONFIG` reply to [`get_config`].
pub fn parse_config(msg: &IpvsMessage) -> Result<Timeouts, DecodeError> {
    expect_cmd(msg, IpvsCmd::SetConfig)?;
    let (mut tcp, mut fin, mut udp) = (None, None, None);
    for a in &msg.attrs {
        match a {
            CmdAttr::TimeoutTcp(v) => tcp = Some(*v),
            CmdAttr::TimeoutTcpFin(v) => fin = Some(*v),
            CmdAttr::TimeoutUdp(v) => udp = Some(*v),
            _ => {}
        }
    }
    Ok(Timeouts {
        tcp: tcp.ok_or(DecodeError::Missing("IPVS_CMD_ATTR_TIMEOUT_TCP"))?,
        tcp_fin: fin.ok_or(DecodeError::Missing("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN"))?,
        udp: udp.ok_or(DecodeError::Missing("IPVS_CMD_ATTR_TIMEOUT_UDP"))?,
    })
}

fn nested_service(msg: &IpvsMessage) -> Result<&[SvcAttr], DecodeError> {
    msg.attrs
        .iter()
        .find_map(|a| match a {
            CmdAttr::Service(v) => Some(v.as_slice()),
            _ => None,
        })
        .ok_or(DecodeError::Missing("IPVS_CMD_ATTR_SERVICE"))
}

/// One `NEW_SERVICE` message of a [`get_service`] reply or dump.
pub fn parse_service(msg: &IpvsMessage) -> Result<ServiceEntry, DecodeError> {
    expect_cmd(msg, IpvsCmd::NewService)?;
    service_from_attrs(nested_service(msg)?).context("invalid IPVS_CMD_ATTR_SERVICE")
}

/// A service from its attributes. `FLAGS` loses `HASHED`, and a netmask
/// equal to the family default becomes `None`, so that a dumped table
/// equals the table that was configured.
pub fn service_from_attrs(attrs: &[SvcAttr]) -> Result<ServiceEntry, DecodeError> {
    let mut f = SvcFields::default();
    for a in attrs {
        f.set(a.clone());
    }
    f.finish()
}

/// [`parse_service`] straight from a message's payload; see
/// [`parse_dest_payload`].
pub fn parse_service_payload(buf: &[u8]) -> Result<ServiceEntry, DecodeError> {
    let (cmd, body) = genl_header(buf)?;
    let mut fields = None;
    for a in attrs(body) {
        let a = a?;
        if cmd.info_attrs() || a.kind != IPVS_CMD_ATTR_SERVICE || fields.is_some() {
            decode_cmd_attr(cmd, a)?;
            continue;
        }
        let mut f = SvcFields::default();
        for d in attrs(a.payload) {
            f.set(
                d.and_then(decode_svc_attr)
                    .context("invalid IPVS_CMD_ATTR_SERVICE")?,
            );
        }
        fields = Some(f);
    }
    if cmd != IpvsCmd::NewService {
        return Err(DecodeError::UnexpectedCmd(cmd.into()));
    }
    fields
        .ok_or(DecodeError::Missing("IPVS_CMD_ATTR_SERVICE"))?
        .finish()
        .context("invalid IPVS_CMD_ATTR_SERVICE")
}

/// A service's attributes as they come (the last of a kind wins).
#[derive(Default)]
struct SvcFields {
    af: Option<u16>,
    proto: Option<u16>,
    addr: Option<InetAddr>,
    port: Option<u16>,
    fwmark: Option<u32>,
    sched: Option<String>,
    flags: Option<IpVsFlags>,
    timeout: Option<u32>,
    netmask: Option<u32>,
    pe: Option<String>,
    stats: Option<Stats>,
    stats64: Option<Stats>,
}

impl SvcFields {
    fn set(&mut self, a: SvcAttr) {
        match a {
            SvcAttr::Af(v) => self.af = Some(v),
            SvcAttr::Protocol(v) => self.proto = Some(v),
            SvcAttr::Addr(v) => self.addr = Some(v),
            SvcAttr::Port(v) => self.port = Some(v),
            SvcAttr::Fwmark(v) => self.fwmark = Some(v),
            SvcAttr::SchedName(v) => self.sched = Some(v),
            SvcAttr::Flags(v) => self.flags = Some(v),
            SvcAttr::Timeout(v) => self.timeout = Some(v),
            SvcAttr::Netmask(v) => self.netmask = Some(v),
            SvcAttr::PeName(v) => self.pe = Some(v),
            SvcAttr::Stats(v) => self.stats = Some(v),
            SvcAttr::Stats64(v) => self.stats64 = Some(v),
            SvcAttr::Other(_) => {}
        }
    }

    fn finish(self) -> Result<ServiceEntry, DecodeError> {
        let SvcFields {
            af,
            proto,
            addr,
            port,
            fwmark,
            sched,
            flags,
            timeout,
            netmask,
            pe,
            stats,
            stats64,
        } = self;
        let af_num = af.ok_or(DecodeError::Missing("IPVS_SVC_ATTR_AF"))?;
        let af = Af::from_number(af_num).ok_or_else(|| {
            DecodeError::invalid("IPVS_SVC_ATTR_AF", format!("unknown family {af_num}"))
        })?;
        // As the kernel: a (non-zero) fwmark wins over address/port.
        let key = match fwmark.filter(|&m| m != 0) {
            Some(mark) => ServiceKey::Fwmark { af, mark },
            None => ServiceKey::Inet {
                proto: Protocol::from_number(
                    proto.ok_or(DecodeError::Missing("IPVS_SVC_ATTR_PROTOCOL"))?,
                ),
                addr: addr
                    .ok_or(DecodeError::Missing("IPVS_SVC_ATTR_ADDR"))?
                    .to_ip(af),
                port: port.ok_or(DecodeError::Missing("IPVS_SVC_ATTR_PORT"))?,
            },
        };
        let sched = sched.ok_or(DecodeError::Missing("IPVS_SVC_ATTR_SCHED_NAME"))?;
        let flags = flags.ok_or(DecodeError::Missing("IPVS_SVC_ATTR_FLAGS"))?;
        let timeout = timeout.ok_or(DecodeError::Missing("IPVS_SVC_ATTR_TIMEOUT"))?;
        let netmask = netmask_from_wire(
            af,
            netmask.ok_or(DecodeError::Missing("IPVS_SVC_ATTR_NETMASK"))?,
        );
        let service = Service {
            sched: Scheduler::from_name(&sched),
            flags: SvcFlags(flags.flags).config(),
            timeout,
            netmask: (netmask != af.default_netmask()).then_some(netmask),
            pe_name: pe.filter(|pe| !pe.is_empty()),
        };
        Ok(ServiceEntry {
            key,
            service,
            stats: stats64.or(stats).unwrap_or_default(),
        })
    }
}

/// One `NEW_DEST` message of a [`get_dests`] dump. `svc_af` is the
/// service's family, which the address has unless `ADDR_FAMILY` says
/// otherwise (kernels before 4.x don't send it).
pub fn parse_dest(msg: &IpvsMessage, svc_af: Af) -> Result<DestEntry, DecodeError> {
    expect_cmd(msg, IpvsCmd::NewDest)?;
    let attrs = msg
        .attrs
        .iter()
        .find_map(|a| match a {
            CmdAttr::Dest(v) => Some(v.as_slice()),
            _ => None,
        })
        .ok_or(DecodeError::Missing("IPVS_CMD_ATTR_DEST"))?;
    dest_from_attrs(attrs, svc_af).context("invalid IPVS_CMD_ATTR_DEST")
}

/// A real server from its attributes; see [`parse_dest`].
pub fn dest_from_attrs(attrs: &[DestAttr], svc_af: Af) -> Result<DestEntry, DecodeError> {
    let mut f = DestFields::default();
    for a in attrs {
        f.set(a);
    }
    f.finish(svc_af)
}

/// [`parse_dest`] straight from a message's payload (genl header and
/// attributes), without building the [`IpvsMessage`]: a dump of a big table
/// decodes tens of thousands of these. The same entry where `parse_dest`
/// gives one, an error where it gives one.
pub fn parse_dest_payload(buf: &[u8], svc_af: Af) -> Result<DestEntry, DecodeError> {
    let (cmd, body) = genl_header(buf)?;
    let mut fields = None;
    for a in attrs(body) {
        let a = a?;
        if cmd.info_attrs() || a.kind != IPVS_CMD_ATTR_DEST || fields.is_some() {
            // Decoded only for the errors it would give.
            decode_cmd_attr(cmd, a)?;
            continue;
        }
        let mut f = DestFields::default();
        for d in attrs(a.payload) {
            f.set(
                &d.and_then(decode_dest_attr)
                    .context("invalid IPVS_CMD_ATTR_DEST")?,
            );
        }
        fields = Some(f);
    }
    if cmd != IpvsCmd::NewDest {
        return Err(DecodeError::UnexpectedCmd(cmd.into()));
    }
    fields
        .ok_or(DecodeError::Missing("IPVS_CMD_ATTR_DEST"))?
        .finish(svc_af)
        .context("invalid IPVS_CMD_ATTR_DEST")
}

/// A message's command and its attributes.
fn genl_header(buf: &[u8]) -> Result<(IpvsCmd, &[u8]), DecodeError> {
    let (hdr, body) = buf
        .split_at_checked(GENL_HDRLEN)
        .ok_or(DecodeError::ShortHeader(buf.len()))?;
    Ok((IpvsCmd::from(hdr[0]), body))
}

/// A real server's attributes as they come (the last of a kind wins).
#[derive(Default)]
struct DestFields {
    addr: Option<InetAddr>,
    port: Option<u16>,
    fwd: Option<u32>,
    weight: Option<u32>,
    uth: Option<u32>,
    lth: Option<u32>,
    af: Option<u16>,
    tun_type: Option<u8>,
    tun_port: Option<u16>,
    tun_flags: Option<u16>,
    active: u32,
    inact: u32,
    persist: u32,
    stats: Option<Stats>,
    stats64: Option<Stats>,
}

impl DestFields {
    fn set(&mut self, a: &DestAttr) {
        match a {
            DestAttr::Addr(v) => self.addr = Some(*v),
            DestAttr::Port(v) => self.port = Some(*v),
            DestAttr::FwdMethod(v) => self.fwd = Some(*v),
            DestAttr::Weight(v) => self.weight = Some(*v),
            DestAttr::UThresh(v) => self.uth = Some(*v),
            DestAttr::LThresh(v) => self.lth = Some(*v),
            DestAttr::ActiveConns(v) => self.active = *v,
            DestAttr::InactConns(v) => self.inact = *v,
            DestAttr::PersistConns(v) => self.persist = *v,
            DestAttr::Stats(v) => self.stats = Some(*v),
            DestAttr::AddrFamily(v) => self.af = Some(*v),
            DestAttr::Stats64(v) => self.stats64 = Some(*v),
            DestAttr::TunType(v) => self.tun_type = Some(*v),
            DestAttr::TunPort(v) => self.tun_port = Some(*v),
            DestAttr::TunFlags(v) => self.tun_flags = Some(*v),
            DestAttr::Other(_) => {}
        }
    }

    fn finish(self, svc_af: Af) -> Result<DestEntry, DecodeError> {
        let DestFields {
            addr,
            port,
            fwd,
            weight,
            uth,
            lth,
            af,
            tun_type,
            tun_port,
            tun_flags,
            active,
            inact,
            persist,
            stats,
            stats64,
        } = self;
        let af = match af {
            // The kernel reads a missing or zero family as the service's.
            None | Some(0) => svc_af,
            Some(n) => Af::from_number(n).ok_or_else(|| {
                DecodeError::invalid("IPVS_DEST_ATTR_ADDR_FAMILY", format!("unknown family {n}"))
            })?,
        };
        let key = DestKey {
            addr: addr
                .ok_or(DecodeError::Missing("IPVS_DEST_ATTR_ADDR"))?
                .to_ip(af),
            port: port.ok_or(DecodeError::Missing("IPVS_DEST_ATTR_PORT"))?,
        };
        let fwd = match fwd.ok_or(DecodeError::Missing("IPVS_DEST_ATTR_FWD_METHOD"))?
            & IP_VS_CONN_F_FWD_MASK
        {
            IP_VS_CONN_F_MASQ => Fwd::Masq,
            IP_VS_CONN_F_LOCALNODE => Fwd::Local,
            IP_VS_CONN_F_TUNNEL => Fwd::Tunnel(tunnel_from_attrs(tun_type, tun_port, tun_flags)?),
            IP_VS_CONN_F_DROUTE => Fwd::Route,
            IP_VS_CONN_F_BYPASS => Fwd::Bypass,
            n => {
                return Err(DecodeError::invalid(
                    "IPVS_DEST_ATTR_FWD_METHOD",
                    format!("unknown method {n}"),
                ));
            }
        };
        Ok(DestEntry {
            key,
            dest: Dest {
                fwd,
                weight: weight.ok_or(DecodeError::Missing("IPVS_DEST_ATTR_WEIGHT"))?,
                u_thresh: uth.ok_or(DecodeError::Missing("IPVS_DEST_ATTR_U_THRESH"))?,
                l_thresh: lth.ok_or(DecodeError::Missing("IPVS_DEST_ATTR_L_THRESH"))?,
            },
            active_conns: active,
            inact_conns: inact,
            persist_conns: persist,
            stats: stats64.or(stats).unwrap_or_default(),
        })
    }
}

/// Tunnel parameters; absent ones are zero, as on kernels before 5.3
/// (which only know IPIP).
fn tunnel_from_attrs(
    ty: Option<u8>,
    port: Option<u16>,
    flags: Option<u16>,
) -> Result<Tunnel, DecodeError> {
    let csum = || {
        let n = flags.unwrap_or(IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM);
        TunCsum::from_number(n).ok_or_else(|| {
            DecodeError::invalid("IPVS_DEST_ATTR_TUN_FLAGS", format!("unknown flags {n:#x}"))
        })
    };
    match ty.unwrap_or(IP_VS_CONN_F_TUNNEL_TYPE_IPIP) {
        IP_VS_CONN_F_TUNNEL_TYPE_IPIP => Ok(Tunnel::Ipip),
        IP_VS_CONN_F_TUNNEL_TYPE_GUE => Ok(Tunnel::Gue {
            port: port.unwrap_or(0),
            csum: csum()?,
        }),
        IP_VS_CONN_F_TUNNEL_TYPE_GRE => Ok(Tunnel::Gre { csum: csum()? }),
        n => Err(DecodeError::invalid(
            "IPVS_DEST_ATTR_TUN_TYPE",
            format!("unknown type {n}"),
        )),
    }
}

/// One `NEW_DAEMON` message of a [`get_daemon`] dump.
pub fn parse_daemon(msg: &IpvsMessage) -> Result<SyncDaemon, DecodeError> {
    expect_cmd(msg, IpvsCmd::NewDaemon)?;
    let attrs = msg
        .attrs
        .iter()
        .find_map(|a| match a {
            CmdAttr::Daemon(v) => Some(v.as_slice()),
            _ => None,
        })
        .ok_or(DecodeError::Missing("IPVS_CMD_ATTR_DAEMON"))?;
    daemon_from_attrs(attrs).context("invalid IPVS_CMD_ATTR_DAEMON")
}

pub fn daemon_from_attrs(attrs: &[DaemonAttr]) -> Result<SyncDaemon, DecodeError> {
    let (mut state, mut ifn, mut syncid) = (None, None, None);
    let mut d = SyncDaemon::new(SyncState::Master, "", 0);
    for a in attrs {
        match a {
            DaemonAttr::State(v) => state = Some(*v),
            DaemonAttr::McastIfn(v) => ifn = Some(v),
            DaemonAttr::SyncId(v) => syncid = Some(*v),
            DaemonAttr::SyncMaxlen(v) => d.sync_maxlen = Some(*v),
            DaemonAttr::McastGroup(v) => d.mcast_group = Some(IpAddr::V4(*v)),
            DaemonAttr::McastGroup6(v) => d.mcast_group = Some(IpAddr::V6(*v)),
            DaemonAttr::McastPort(v) => d.mcast_port = Some(*v),
            DaemonAttr::McastTtl(v) => d.mcast_ttl = Some(*v),
            DaemonAttr::Other(_) => {}
        }
    }
    let state = state.ok_or(DecodeError::Missing("IPVS_DAEMON_ATTR_STATE"))?;
    d.state = SyncState::from_number(state).ok_or_else(|| {
        DecodeError::invalid("IPVS_DAEMON_ATTR_STATE", format!("unknown state {state}"))
    })?;
    d.mcast_ifn = ifn
        .ok_or(DecodeError::Missing("IPVS_DAEMON_ATTR_MCAST_IFN"))?
        .clone();
    d.syncid = syncid.ok_or(DecodeError::Missing("IPVS_DAEMON_ATTR_SYNC_ID"))?;
    Ok(d)
}

/// A short name for logs: `NEW_SERVICE`, ...
impl fmt::Display for IpvsCmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            IpvsCmd::NewService => "NEW_SERVICE",
            IpvsCmd::SetService => "SET_SERVICE",
            IpvsCmd::DelService => "DEL_SERVICE",
            IpvsCmd::GetService => "GET_SERVICE",
            IpvsCmd::NewDest => "NEW_DEST",
            IpvsCmd::SetDest => "SET_DEST",
            IpvsCmd::DelDest => "DEL_DEST",
            IpvsCmd::GetDest => "GET_DEST",
            IpvsCmd::NewDaemon => "NEW_DAEMON",
            IpvsCmd::DelDaemon => "DEL_DAEMON",
            IpvsCmd::GetDaemon => "GET_DAEMON",
            IpvsCmd::SetConfig => "SET_CONFIG",
            IpvsCmd::GetConfig => "GET_CONFIG",
            IpvsCmd::SetInfo => "SET_INFO",
            IpvsCmd::GetInfo => "GET_INFO",
            IpvsCmd::Zero => "ZERO",
            IpvsCmd::Flush => "FLUSH",
            IpvsCmd::Other(n) => return write!(f, "IPVS_CMD_{n}"),
        };
        f.write_str(s)
    }
}

#[cfg(test)]
mod tests;
