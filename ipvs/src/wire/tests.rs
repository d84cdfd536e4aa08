//! Golden bytes and properties of the codec.
//!
//! Where the bytes come from: every fixture below was written by hand from
//! the kernel's `include/uapi/linux/ip_vs.h` (numbering), libipvs's
//! `ipvs_nl_fill_service_attr`/`ipvs_nl_fill_dest_attr` (request order,
//! `NLA_F_NESTED` from libnl's `nla_nest_start`) and `ip_vs_ctl.c`'s
//! `ip_vs_genl_fill_*` (reply order, no `NLA_F_NESTED`). The real kernel's
//! bytes (nlmon captures of ipvsadm, `tests/vm/captures/`) are checked by
//! `ipvs/tests/captures.rs`; these fixtures stay for what the captures
//! lack (non-zero counters, malformed input).
//! Little-endian hosts only: netlink numbers are in host order.

#![cfg(target_endian = "little")]

use super::*;
use crate::model::*;
use proptest::prelude::*;
use std::net::SocketAddr;

struct Fixture {
    what: &'static str,
    bytes: Vec<u8>,
    expected: IpvsMessage,
    /// Requests re-encode to the same bytes. Kernel replies don't: the
    /// kernel leaves `NLA_F_NESTED` off, we always set it.
    reencodes: bool,
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn web() -> ServiceKey {
    ServiceKey::tcp(sa("192.0.2.1:80"))
}

#[rustfmt::skip]
const SVC_KEY_192_0_2_1_TCP_80: &[u8] = &[
    0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // AF = AF_INET
    0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, // PROTOCOL = IPPROTO_TCP
    0x14, 0x00, 0x03, 0x00, 0xc0, 0x00, 0x02, 0x01, // ADDR = 192.0.2.1 ...
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //   ... padded to 16 bytes
    0x00, 0x00, 0x00, 0x00,
    0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00, // PORT = 80, big-endian
];

/// `IPVS_*_ATTR_STATS` with all counters zero, as `ip_vs_genl_fill_stats`
/// writes it: conns/pkts u32, bytes u64, rates u32.
#[rustfmt::skip]
const STATS_ZERO: &[u8] = &[
    0x5c, 0x00, 0x0a, 0x00,                         // STATS, len 92
    0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, // CONNS
    0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, // INPKTS
    0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, // OUTPKTS
    0x0c, 0x00, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, // INBYTES (u64)
    0x0c, 0x00, 0x05, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, // OUTBYTES (u64)
    0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, // CPS
    0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, // INPPS
    0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, // OUTPPS
    0x08, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, // INBPS
    0x08, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, // OUTBPS
];

/// `..._STATS64` with all counters zero: ten u64, no PAD on x86_64.
#[rustfmt::skip]
const STATS64_ZERO: &[u8] = &[
    0x7c, 0x00, 0x0c, 0x00,                         // STATS64, len 124
    0x0c, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
    0x0c, 0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
    0x0c, 0x00, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
    0x0c, 0x00, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
    0x0c, 0x00, 0x05, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
    0x0c, 0x00, 0x06, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
    0x0c, 0x00, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
    0x0c, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
    0x0c, 0x00, 0x09, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
    0x0c, 0x00, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn svc_key_web() -> Vec<SvcAttr> {
    service_key_attrs(&web())
}

fn zero_mask(flags: u32) -> SvcAttr {
    SvcAttr::Flags(IpVsFlags {
        flags,
        mask: u32::MAX,
    })
}

#[rustfmt::skip]
fn fixtures() -> Vec<Fixture> {
    vec![
        Fixture {
            what: "ipvsadm -A -t 192.0.2.1:80 -s wrr (libipvs layout)",
            bytes: [
                &[0x01, 0x01, 0x00, 0x00][..],                   // NEW_SERVICE, version 1
                &[0x54, 0x00, 0x01, 0x80],                       // SERVICE, len 84, nested
                SVC_KEY_192_0_2_1_TCP_80,
                &[0x08, 0x00, 0x06, 0x00, b'w', b'r', b'r', 0],  // SCHED_NAME "wrr"
                &[0x0c, 0x00, 0x07, 0x00, 0, 0, 0, 0,            // FLAGS 0 ...
                  0xff, 0xff, 0xff, 0xff],                       //   ... mask ~0
                &[0x08, 0x00, 0x08, 0x00, 0, 0, 0, 0],           // TIMEOUT 0
                &[0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff], // NETMASK /32
            ].concat(),
            expected: IpvsMessage::new(IpvsCmd::NewService, vec![CmdAttr::Service(
                [svc_key_web(), vec![
                    SvcAttr::SchedName("wrr".into()),
                    zero_mask(0),
                    SvcAttr::Timeout(0),
                    SvcAttr::Netmask(u32::MAX),
                ]].concat(),
            )]),
            reencodes: true,
        },
        Fixture {
            what: "ipvsadm -A -t [2001:db8::1]:443 -s sh -p 300 -M 64 -b sh-port (libipvs layout)",
            bytes: [
                &[0x01, 0x01, 0x00, 0x00][..],
                &[0x54, 0x00, 0x01, 0x80],                       // SERVICE, len 84
                &[0x06, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00], // AF = AF_INET6
                &[0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00], // PROTOCOL = TCP
                &[0x14, 0x00, 0x03, 0x00, 0x20, 0x01, 0x0d, 0xb8,  // ADDR 2001:db8::1
                  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01],
                &[0x06, 0x00, 0x04, 0x00, 0x01, 0xbb, 0x00, 0x00], // PORT 443
                &[0x07, 0x00, 0x06, 0x00, b's', b'h', 0, 0],       // SCHED_NAME "sh" + pad
                &[0x0c, 0x00, 0x07, 0x00, 0x11, 0, 0, 0,           // PERSISTENT|SCHED2
                  0xff, 0xff, 0xff, 0xff],
                &[0x08, 0x00, 0x08, 0x00, 0x2c, 0x01, 0, 0],       // TIMEOUT 300
                &[0x08, 0x00, 0x09, 0x00, 0x40, 0, 0, 0],          // NETMASK prefix 64
            ].concat(),
            expected: IpvsMessage::new(IpvsCmd::NewService, vec![CmdAttr::Service(vec![
                SvcAttr::Af(10),
                SvcAttr::Protocol(6),
                SvcAttr::Addr(InetAddr::from_ip("2001:db8::1".parse().unwrap())),
                SvcAttr::Port(443),
                SvcAttr::SchedName("sh".into()),
                zero_mask(0x11),
                SvcAttr::Timeout(300),
                SvcAttr::Netmask(64),
            ])]),
            reencodes: true,
        },
        Fixture {
            what: "ipvsadm -A -u 192.0.2.1:5060 -s rr -p 60 -M 255.255.255.0 --pe sip (libipvs layout)",
            bytes: [
                &[0x01, 0x01, 0x00, 0x00][..],
                &[0x5c, 0x00, 0x01, 0x80],                       // SERVICE, len 92
                &[0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00],
                &[0x06, 0x00, 0x02, 0x00, 0x11, 0x00, 0x00, 0x00], // PROTOCOL = UDP
                &[0x14, 0x00, 0x03, 0x00, 0xc0, 0x00, 0x02, 0x01,
                  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                &[0x06, 0x00, 0x04, 0x00, 0x13, 0xc4, 0x00, 0x00], // PORT 5060
                &[0x07, 0x00, 0x06, 0x00, b'r', b'r', 0, 0],
                &[0x08, 0x00, 0x0b, 0x00, b's', b'i', b'p', 0],    // PE_NAME "sip"
                &[0x0c, 0x00, 0x07, 0x00, 0x01, 0, 0, 0,           // PERSISTENT
                  0xff, 0xff, 0xff, 0xff],
                &[0x08, 0x00, 0x08, 0x00, 0x3c, 0, 0, 0],          // TIMEOUT 60
                &[0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0x00], // NETMASK /24 (be32)
            ].concat(),
            expected: IpvsMessage::new(IpvsCmd::NewService, vec![CmdAttr::Service(vec![
                SvcAttr::Af(2),
                SvcAttr::Protocol(17),
                SvcAttr::Addr(InetAddr::from_ip("192.0.2.1".parse().unwrap())),
                SvcAttr::Port(5060),
                SvcAttr::SchedName("rr".into()),
                SvcAttr::PeName("sip".into()),
                zero_mask(1),
                SvcAttr::Timeout(60),
                SvcAttr::Netmask(u32::from_ne_bytes([0xff, 0xff, 0xff, 0x00])),
            ])]),
            reencodes: true,
        },
        Fixture {
            what: "ipvsadm -A -f 7 -6 -s lc (libipvs layout)",
            bytes: [
                &[0x01, 0x01, 0x00, 0x00][..],
                &[0x38, 0x00, 0x01, 0x80],                       // SERVICE, len 56
                &[0x06, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00], // AF_INET6
                &[0x08, 0x00, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00], // FWMARK 7
                &[0x07, 0x00, 0x06, 0x00, b'l', b'c', 0, 0],
                &[0x0c, 0x00, 0x07, 0x00, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
                &[0x08, 0x00, 0x08, 0x00, 0, 0, 0, 0],
                &[0x08, 0x00, 0x09, 0x00, 0x80, 0, 0, 0],          // NETMASK 128
            ].concat(),
            expected: IpvsMessage::new(IpvsCmd::NewService, vec![CmdAttr::Service(vec![
                SvcAttr::Af(10),
                SvcAttr::Fwmark(7),
                SvcAttr::SchedName("lc".into()),
                zero_mask(0),
                SvcAttr::Timeout(0),
                SvcAttr::Netmask(128),
            ])]),
            reencodes: true,
        },
        Fixture {
            what: "ipvsadm -D -t 192.0.2.1:80 (our layout: key attributes only)",
            bytes: [
                &[0x03, 0x01, 0x00, 0x00][..],                   // DEL_SERVICE
                &[0x30, 0x00, 0x01, 0x80],                       // SERVICE, len 48
                SVC_KEY_192_0_2_1_TCP_80,
            ].concat(),
            expected: IpvsMessage::new(IpvsCmd::DelService, vec![CmdAttr::Service(svc_key_web())]),
            reencodes: true,
        },
        Fixture {
            what: "ipvsadm -a -t 192.0.2.1:80 -r 10.0.0.2:8080 -m -w 5 -x 100 -y 10 \
                   (our layout: service by key, dest in libipvs order)",
            bytes: [
                &[0x05, 0x01, 0x00, 0x00][..],                   // NEW_DEST
                &[0x30, 0x00, 0x01, 0x80],                       // SERVICE, len 48
                SVC_KEY_192_0_2_1_TCP_80,
                &[0x60, 0x00, 0x02, 0x80],                       // DEST, len 96, nested
                &[0x06, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00], // ADDR_FAMILY AF_INET
                &[0x14, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x02,  // ADDR 10.0.0.2
                  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                &[0x06, 0x00, 0x02, 0x00, 0x1f, 0x90, 0x00, 0x00], // PORT 8080
                &[0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00], // FWD_METHOD MASQ
                &[0x08, 0x00, 0x04, 0x00, 0x05, 0x00, 0x00, 0x00], // WEIGHT 5
                &[0x05, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00], // TUN_TYPE 0 (u8)
                &[0x06, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00], // TUN_PORT 0
                &[0x06, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00], // TUN_FLAGS 0
                &[0x08, 0x00, 0x05, 0x00, 0x64, 0x00, 0x00, 0x00], // U_THRESH 100
                &[0x08, 0x00, 0x06, 0x00, 0x0a, 0x00, 0x00, 0x00], // L_THRESH 10
            ].concat(),
            expected: IpvsMessage::new(IpvsCmd::NewDest, vec![
                CmdAttr::Service(svc_key_web()),
                CmdAttr::Dest(vec![
                    DestAttr::AddrFamily(2),
                    DestAttr::Addr(InetAddr::from_ip("10.0.0.2".parse().unwrap())),
                    DestAttr::Port(8080),
                    DestAttr::FwdMethod(0),
                    DestAttr::Weight(5),
                    DestAttr::TunType(0),
                    DestAttr::TunPort(0),
                    DestAttr::TunFlags(0),
                    DestAttr::UThresh(100),
                    DestAttr::LThresh(10),
                ]),
            ]),
            reencodes: true,
        },
        Fixture {
            what: "ipvsadm -e -t 192.0.2.1:80 -r [2001:db8::20]:80 -i -w 2 --tun-type gue \
                   --tun-port 6080 --tun-remcsum (our layout)",
            bytes: [
                &[0x06, 0x01, 0x00, 0x00][..],                   // SET_DEST
                &[0x30, 0x00, 0x01, 0x80],
                SVC_KEY_192_0_2_1_TCP_80,
                &[0x60, 0x00, 0x02, 0x80],
                &[0x06, 0x00, 0x0b, 0x00, 0x0a, 0x00, 0x00, 0x00], // ADDR_FAMILY AF_INET6
                &[0x14, 0x00, 0x01, 0x00, 0x20, 0x01, 0x0d, 0xb8,  // ADDR 2001:db8::20
                  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20],
                &[0x06, 0x00, 0x02, 0x00, 0x00, 0x50, 0x00, 0x00], // PORT 80
                &[0x08, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00], // FWD_METHOD TUNNEL
                &[0x08, 0x00, 0x04, 0x00, 0x02, 0x00, 0x00, 0x00], // WEIGHT 2
                &[0x05, 0x00, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x00], // TUN_TYPE GUE
                &[0x06, 0x00, 0x0e, 0x00, 0x17, 0xc0, 0x00, 0x00], // TUN_PORT 6080 (be16)
                &[0x06, 0x00, 0x0f, 0x00, 0x02, 0x00, 0x00, 0x00], // TUN_FLAGS REMCSUM
                &[0x08, 0x00, 0x05, 0x00, 0, 0, 0, 0],
                &[0x08, 0x00, 0x06, 0x00, 0, 0, 0, 0],
            ].concat(),
            expected: IpvsMessage::new(IpvsCmd::SetDest, vec![
                CmdAttr::Service(svc_key_web()),
                CmdAttr::Dest(vec![
                    DestAttr::AddrFamily(10),
                    DestAttr::Addr(InetAddr::from_ip("2001:db8::20".parse().unwrap())),
                    DestAttr::Port(80),
                    DestAttr::FwdMethod(2),
                    DestAttr::Weight(2),
                    DestAttr::TunType(1),
                    DestAttr::TunPort(6080),
                    DestAttr::TunFlags(2),
                    DestAttr::UThresh(0),
                    DestAttr::LThresh(0),
                ]),
            ]),
            reencodes: true,
        },
        Fixture {
            what: "ipvsadm -d -t 192.0.2.1:80 -r 10.0.0.2:8080 (our layout: keys only)",
            bytes: [
                &[0x07, 0x01, 0x00, 0x00][..],                   // DEL_DEST
                &[0x30, 0x00, 0x01, 0x80],
                SVC_KEY_192_0_2_1_TCP_80,
                &[0x28, 0x00, 0x02, 0x80],                       // DEST, len 40
                &[0x06, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00],
                &[0x14, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x02,
                  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                &[0x06, 0x00, 0x02, 0x00, 0x1f, 0x90, 0x00, 0x00],
            ].concat(),
            expected: IpvsMessage::new(IpvsCmd::DelDest, vec![
                CmdAttr::Service(svc_key_web()),
                CmdAttr::Dest(dest_key_attrs(&DestKey::new(sa("10.0.0.2:8080")))),
            ]),
            reencodes: true,
        },
        Fixture {
            what: "ipvsadm -C",
            bytes: vec![0x11, 0x01, 0x00, 0x00],
            expected: IpvsMessage::new(IpvsCmd::Flush, vec![]),
            reencodes: true,
        },
        Fixture {
            what: "ipvsadm --set 900 120 300 (libipvs layout)",
            bytes: [
                &[0x0c, 0x01, 0x00, 0x00][..],                   // SET_CONFIG
                &[0x08, 0x00, 0x04, 0x00, 0x84, 0x03, 0x00, 0x00], // TIMEOUT_TCP 900
                &[0x08, 0x00, 0x05, 0x00, 0x78, 0x00, 0x00, 0x00], // TIMEOUT_TCP_FIN 120
                &[0x08, 0x00, 0x06, 0x00, 0x2c, 0x01, 0x00, 0x00], // TIMEOUT_UDP 300
            ].concat(),
            expected: IpvsMessage::new(IpvsCmd::SetConfig, vec![
                CmdAttr::TimeoutTcp(900),
                CmdAttr::TimeoutTcpFin(120),
                CmdAttr::TimeoutUdp(300),
            ]),
            reencodes: true,
        },
        Fixture {
            what: "ipvsadm --start-daemon master --mcast-interface eth0 --syncid 51 \
                   --sync-maxlen 1472 --mcast-port 8848 --mcast-ttl 1 --mcast-group 224.0.0.81",
            bytes: [
                &[0x09, 0x01, 0x00, 0x00][..],                   // NEW_DAEMON
                &[0x40, 0x00, 0x03, 0x80],                       // DAEMON, len 64
                &[0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00], // STATE master
                &[0x09, 0x00, 0x02, 0x00, b'e', b't', b'h', b'0',  // MCAST_IFN "eth0"
                  0, 0, 0, 0],
                &[0x08, 0x00, 0x03, 0x00, 0x33, 0x00, 0x00, 0x00], // SYNC_ID 51
                &[0x06, 0x00, 0x04, 0x00, 0xc0, 0x05, 0x00, 0x00], // SYNC_MAXLEN 1472
                &[0x06, 0x00, 0x07, 0x00, 0x90, 0x22, 0x00, 0x00], // MCAST_PORT 8848 (host)
                &[0x05, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00], // MCAST_TTL 1
                &[0x08, 0x00, 0x05, 0x00, 0xe0, 0x00, 0x00, 0x51], // MCAST_GROUP
            ].concat(),
            expected: IpvsMessage::new(IpvsCmd::NewDaemon, vec![CmdAttr::Daemon(vec![
                DaemonAttr::State(1),
                DaemonAttr::McastIfn("eth0".into()),
                DaemonAttr::SyncId(51),
                DaemonAttr::SyncMaxlen(1472),
                DaemonAttr::McastPort(8848),
                DaemonAttr::McastTtl(1),
                DaemonAttr::McastGroup("224.0.0.81".parse().unwrap()),
            ])]),
            reencodes: true,
        },
        Fixture {
            what: "kernel reply to GET_INFO (ip_vs_genl_get_cmd layout)",
            bytes: [
                &[0x0e, 0x01, 0x00, 0x00][..],                   // SET_INFO
                &[0x08, 0x00, 0x01, 0x00, 0x01, 0x02, 0x01, 0x00], // VERSION 1.2.1
                &[0x08, 0x00, 0x02, 0x00, 0x00, 0x10, 0x00, 0x00], // CONN_TAB_SIZE 4096
            ].concat(),
            expected: IpvsMessage::new(IpvsCmd::SetInfo, vec![
                CmdAttr::InfoVersion(0x010201),
                CmdAttr::InfoConnTabSize(4096),
            ]),
            reencodes: true,
        },
        Fixture {
            what: "kernel GET_SERVICE dump entry: -t 192.0.2.1:80 -s wlc -p 300, 3 conns \
                   (ip_vs_genl_fill_service layout, HASHED set, no NLA_F_NESTED)",
            bytes: [
                &[0x01, 0x01, 0x00, 0x00][..],                   // NEW_SERVICE
                &[0x2c, 0x01, 0x01, 0x00],                       // SERVICE, len 300, flag off
                SVC_KEY_192_0_2_1_TCP_80,
                &[0x08, 0x00, 0x06, 0x00, b'w', b'l', b'c', 0],
                &[0x0c, 0x00, 0x07, 0x00, 0x03, 0, 0, 0,           // PERSISTENT|HASHED
                  0xff, 0xff, 0xff, 0xff],
                &[0x08, 0x00, 0x08, 0x00, 0x2c, 0x01, 0, 0],       // TIMEOUT 300
                &[0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff],
                &[0x5c, 0x00, 0x0a, 0x00,                          // STATS, len 92
                  0x08, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00,  //   CONNS 3
                  0x08, 0x00, 0x02, 0x00, 0x0a, 0x00, 0x00, 0x00,  //   INPKTS 10
                  0x08, 0x00, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00,  //   OUTPKTS 9
                  0x0c, 0x00, 0x04, 0x00, 0xe8, 0x03, 0, 0, 0, 0, 0, 0, // INBYTES 1000
                  0x0c, 0x00, 0x05, 0x00, 0xd0, 0x07, 0, 0, 0, 0, 0, 0, // OUTBYTES 2000
                  0x08, 0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00,  //   CPS 1
                  0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00,
                  0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
                  0x08, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00,
                  0x08, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00],
                &[0x7c, 0x00, 0x0c, 0x00,                          // STATS64, len 124
                  0x0c, 0x00, 0x01, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0,
                  0x0c, 0x00, 0x02, 0x00, 0x0a, 0, 0, 0, 0, 0, 0, 0,
                  0x0c, 0x00, 0x03, 0x00, 0x09, 0, 0, 0, 0, 0, 0, 0,
                  0x0c, 0x00, 0x04, 0x00, 0xe8, 0x03, 0, 0, 0, 0, 0, 0,
                  0x0c, 0x00, 0x05, 0x00, 0xd0, 0x07, 0, 0, 0, 0, 0, 0,
                  0x0c, 0x00, 0x06, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0,
                  0x0c, 0x00, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
                  0x0c, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
                  0x0c, 0x00, 0x09, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
                  0x0c, 0x00, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0],
            ].concat(),
            expected: {
                let stats = Stats { conns: 3, inpkts: 10, outpkts: 9, inbytes: 1000,
                                    outbytes: 2000, cps: 1, ..Stats::default() };
                IpvsMessage::new(IpvsCmd::NewService, vec![CmdAttr::Service(
                    [svc_key_web(), vec![
                        SvcAttr::SchedName("wlc".into()),
                        zero_mask(3),
                        SvcAttr::Timeout(300),
                        SvcAttr::Netmask(u32::MAX),
                        SvcAttr::Stats(stats),
                        SvcAttr::Stats64(stats),
                    ]].concat(),
                )])
            },
            reencodes: false,
        },
        Fixture {
            what: "kernel GET_DEST dump entry: -r 10.0.0.2:80 -g -w 1, 2 active, 5 inactive \
                   (ip_vs_genl_fill_dest layout, no NLA_F_NESTED)",
            bytes: [
                &[0x05, 0x01, 0x00, 0x00][..],                   // NEW_DEST
                &[0x50, 0x01, 0x02, 0x00],                       // DEST, len 336, flag off
                &[0x14, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x02,  // ADDR 10.0.0.2
                  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                &[0x06, 0x00, 0x02, 0x00, 0x00, 0x50, 0x00, 0x00], // PORT 80
                &[0x08, 0x00, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00], // FWD_METHOD DROUTE
                &[0x08, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00], // WEIGHT 1
                &[0x05, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00], // TUN_TYPE
                &[0x06, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00], // TUN_PORT
                &[0x06, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00], // TUN_FLAGS
                &[0x08, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00], // U_THRESH
                &[0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00], // L_THRESH
                &[0x08, 0x00, 0x07, 0x00, 0x02, 0x00, 0x00, 0x00], // ACTIVE_CONNS 2
                &[0x08, 0x00, 0x08, 0x00, 0x05, 0x00, 0x00, 0x00], // INACT_CONNS 5
                &[0x08, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00], // PERSIST_CONNS
                &[0x06, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00], // ADDR_FAMILY
                STATS_ZERO,
                STATS64_ZERO,
            ].concat(),
            expected: IpvsMessage::new(IpvsCmd::NewDest, vec![CmdAttr::Dest(vec![
                DestAttr::Addr(InetAddr::from_ip("10.0.0.2".parse().unwrap())),
                DestAttr::Port(80),
                DestAttr::FwdMethod(3),
                DestAttr::Weight(1),
                DestAttr::TunType(0),
                DestAttr::TunPort(0),
                DestAttr::TunFlags(0),
                DestAttr::UThresh(0),
                DestAttr::LThresh(0),
                DestAttr::ActiveConns(2),
                DestAttr::InactConns(5),
                DestAttr::PersistConns(0),
                DestAttr::AddrFamily(2),
                DestAttr::Stats(Stats::default()),
                DestAttr::Stats64(Stats::default()),
            ])]),
            reencodes: false,
        },
        Fixture {
            what: "kernel GET_DAEMON dump entry: backup on eth1, syncid 7 \
                   (ip_vs_genl_fill_daemon layout, no NLA_F_NESTED)",
            bytes: [
                &[0x09, 0x01, 0x00, 0x00][..],                   // NEW_DAEMON
                &[0x40, 0x00, 0x03, 0x00],                       // DAEMON, len 64, flag off
                &[0x08, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00], // STATE backup
                &[0x09, 0x00, 0x02, 0x00, b'e', b't', b'h', b'1', 0, 0, 0, 0],
                &[0x08, 0x00, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00], // SYNC_ID 7
                &[0x06, 0x00, 0x04, 0x00, 0xc0, 0x05, 0x00, 0x00], // SYNC_MAXLEN 1472
                &[0x06, 0x00, 0x07, 0x00, 0x90, 0x22, 0x00, 0x00], // MCAST_PORT 8848
                &[0x05, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00], // MCAST_TTL 1
                &[0x08, 0x00, 0x05, 0x00, 0xe0, 0x00, 0x00, 0x51], // MCAST_GROUP 224.0.0.81
            ].concat(),
            expected: IpvsMessage::new(IpvsCmd::NewDaemon, vec![CmdAttr::Daemon(vec![
                DaemonAttr::State(2),
                DaemonAttr::McastIfn("eth1".into()),
                DaemonAttr::SyncId(7),
                DaemonAttr::SyncMaxlen(1472),
                DaemonAttr::McastPort(8848),
                DaemonAttr::McastTtl(1),
                DaemonAttr::McastGroup("224.0.0.81".parse().unwrap()),
            ])]),
            reencodes: false,
        },
    ]
}

/// Every fixture decodes to its expected value, the value re-encodes to
/// the same bytes (requests), and re-encoding decodes back (replies).
/// All failures are reported together.
#[test]
fn golden_fixtures() {
    let mut failures = Vec::new();
    for fx in fixtures() {
        match IpvsMessage::decode(&fx.bytes) {
            Ok(got) if got == fx.expected => {}
            Ok(got) => failures.push(format!(
                "{}: decoded\n  {got:?}\nexpected\n  {:?}",
                fx.what, fx.expected
            )),
            Err(e) => failures.push(format!("{}: decode error: {e}", fx.what)),
        }
        let encoded = fx.expected.encode().expect("fixture encodes");
        if fx.reencodes && encoded != fx.bytes {
            failures.push(format!(
                "{}: encoded\n  {encoded:02x?}\nexpected\n  {:02x?}",
                fx.what, fx.bytes
            ));
        }
        if IpvsMessage::decode(&encoded).as_ref() != Ok(&fx.expected) {
            failures.push(format!("{}: re-encoded bytes don't decode back", fx.what));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The request builders produce the fixtures' bytes from model values.
#[test]
fn requests_from_model_values() {
    let fx = fixtures();
    let bytes = |what: &str| {
        fx.iter()
            .find(|f| f.what.starts_with(what))
            .map(|f| f.bytes.clone())
            .unwrap_or_else(|| panic!("no fixture {what}"))
    };
    let enc = |m: IpvsMessage| m.encode().unwrap();

    assert_eq!(
        enc(new_service(&web(), &Service::new(Scheduler::Wrr))),
        bytes("ipvsadm -A -t 192.0.2.1:80")
    );

    let mut sh = Service::new(Scheduler::Sh).persistent(300);
    sh.flags |= SvcFlags::SH_PORT;
    sh.netmask = Some(64);
    assert_eq!(
        enc(new_service(&ServiceKey::tcp(sa("[2001:db8::1]:443")), &sh)),
        bytes("ipvsadm -A -t [2001:db8::1]:443")
    );

    let mut sip = Service::new(Scheduler::Rr).persistent(60);
    sip.netmask = Some(0xffff_ff00);
    sip.pe_name = Some("sip".into());
    assert_eq!(
        enc(new_service(&ServiceKey::udp(sa("192.0.2.1:5060")), &sip)),
        bytes("ipvsadm -A -u 192.0.2.1:5060")
    );

    // HASHED in a desired service is never sent.
    let mut lc = Service::new(Scheduler::Lc);
    lc.flags |= SvcFlags::HASHED;
    assert_eq!(
        enc(new_service(&ServiceKey::fwmark(Af::Inet6, 7), &lc)),
        bytes("ipvsadm -A -f 7 -6")
    );

    assert_eq!(enc(del_service(&web())), bytes("ipvsadm -D"));

    let rs = DestKey::new(sa("10.0.0.2:8080"));
    let mut d = Dest::new(Fwd::Masq, 5);
    d.u_thresh = 100;
    d.l_thresh = 10;
    assert_eq!(enc(new_dest(&web(), &rs, &d)), bytes("ipvsadm -a"));

    let gue = Dest::new(
        Fwd::Tunnel(Tunnel::Gue {
            port: 6080,
            csum: TunCsum::RemCsum,
        }),
        2,
    );
    assert_eq!(
        enc(set_dest(
            &web(),
            &DestKey::new(sa("[2001:db8::20]:80")),
            &gue
        )),
        bytes("ipvsadm -e")
    );
    assert_eq!(enc(del_dest(&web(), &rs)), bytes("ipvsadm -d"));
    assert_eq!(enc(flush()), bytes("ipvsadm -C"));
    assert_eq!(
        enc(set_config(&Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        })),
        bytes("ipvsadm --set")
    );

    let mut daemon = SyncDaemon::new(SyncState::Master, "eth0", 51);
    daemon.sync_maxlen = Some(1472);
    daemon.mcast_port = Some(8848);
    daemon.mcast_ttl = Some(1);
    daemon.mcast_group = Some("224.0.0.81".parse().unwrap());
    assert_eq!(enc(new_daemon(&daemon)), bytes("ipvsadm --start-daemon"));
}

/// Replies parse to model values.
#[test]
fn replies_to_model_values() {
    let fx = fixtures();
    let msg = |what: &str| {
        let f = fx.iter().find(|f| f.what.starts_with(what)).unwrap();
        IpvsMessage::decode(&f.bytes).unwrap()
    };

    assert_eq!(
        parse_info(&msg("kernel reply to GET_INFO")).unwrap(),
        IpvsInfo {
            version: 0x010201,
            conn_tab_size: 4096
        }
    );
    assert_eq!(
        parse_config(&msg("ipvsadm --set")).unwrap(),
        Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        }
    );

    let svc = parse_service(&msg("kernel GET_SERVICE")).unwrap();
    assert_eq!(svc.key, web());
    assert_eq!(svc.service, Service::new(Scheduler::Wlc).persistent(300));
    assert_eq!(svc.stats.conns, 3);
    assert_eq!(svc.stats.outbytes, 2000);

    let d = parse_dest(&msg("kernel GET_DEST"), Af::Inet).unwrap();
    assert_eq!(
        d,
        DestEntry {
            key: DestKey::new(sa("10.0.0.2:80")),
            dest: Dest::new(Fwd::Route, 1),
            active_conns: 2,
            inact_conns: 5,
            persist_conns: 0,
            stats: Stats::default(),
        }
    );

    let mut daemon = SyncDaemon::new(SyncState::Backup, "eth1", 7);
    daemon.sync_maxlen = Some(1472);
    daemon.mcast_port = Some(8848);
    daemon.mcast_ttl = Some(1);
    daemon.mcast_group = Some("224.0.0.81".parse().unwrap());
    assert_eq!(parse_daemon(&msg("kernel GET_DAEMON")).unwrap(), daemon);

    // Parsers check the command.
    assert_eq!(
        parse_service(&msg("kernel GET_DEST")),
        Err(DecodeError::UnexpectedCmd(IPVS_CMD_NEW_DEST))
    );
}

#[test]
fn errors_name_the_attribute() {
    // FLAGS with 4 bytes: the kernel would zero the mask and ignore them.
    #[rustfmt::skip]
    let bytes = [
        0x01, 0x01, 0x00, 0x00,
        0x0c, 0x00, 0x01, 0x80,
        0x08, 0x00, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00,
    ];
    let err = IpvsMessage::decode(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid IPVS_CMD_ATTR_SERVICE: invalid IPVS_SVC_ATTR_FLAGS: expected 8 bytes, got 4"
    );

    // An attribute longer than what remains.
    let err = IpvsMessage::decode(&[0x01, 0x01, 0, 0, 0x40, 0x00, 0x01, 0x00]).unwrap_err();
    assert_eq!(
        err,
        DecodeError::AttrLength {
            offset: 0,
            len: 64,
            remaining: 4
        }
    );
    // nla_len below the header size.
    assert!(IpvsMessage::decode(&[0x01, 0x01, 0, 0, 0x02, 0x00, 0x01, 0x00]).is_err());
    assert_eq!(
        IpvsMessage::decode(&[0x01]),
        Err(DecodeError::ShortHeader(1))
    );

    // A service without a scheduler.
    let msg = IpvsMessage::new(IpvsCmd::NewService, vec![CmdAttr::Service(svc_key_web())]);
    let err = parse_service(&IpvsMessage::decode(&msg.encode().unwrap()).unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid IPVS_CMD_ATTR_SERVICE: missing IPVS_SVC_ATTR_SCHED_NAME"
    );

    // Unknown tunnel type.
    let mut attrs = dest_attrs(
        &DestKey::new(sa("10.0.0.1:80")),
        &Dest::new(Fwd::Tunnel(Tunnel::Ipip), 1),
    );
    attrs.push(DestAttr::TunType(9));
    let err = dest_from_attrs(&attrs, Af::Inet).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid IPVS_DEST_ATTR_TUN_TYPE: unknown type 9"
    );
}

#[test]
fn lenient_where_the_kernel_is() {
    // Trailing padding shorter than an attribute header is ignored, and
    // unknown attributes survive byte for byte.
    #[rustfmt::skip]
    let bytes = [
        0x11, 0x01, 0x00, 0x00,
        0x05, 0x00, 0x63, 0x40, 0xaa, 0x00, 0x00, 0x00, // type 99 | NET_BYTEORDER
    ];
    let msg = IpvsMessage::decode(&bytes).unwrap();
    assert_eq!(
        msg.attrs,
        vec![CmdAttr::Other(RawAttr {
            kind: 0x4063,
            payload: vec![0xaa]
        })]
    );
    assert_eq!(msg.encode().unwrap(), bytes);
    assert!(IpvsMessage::decode(&[0x11, 0x01, 0, 0, 0, 0]).is_ok());

    // Stats with a PAD attribute (as on architectures without efficient
    // unaligned access) and a u64 where STATS usually has u32.
    #[rustfmt::skip]
    let stats = [
        0x04, 0x00, 0x0b, 0x00,                                 // PAD
        0x0c, 0x00, 0x01, 0x00, 0x05, 0, 0, 0, 0x01, 0, 0, 0,   // CONNS 2^32 + 5
    ];
    assert_eq!(
        decode_stats(&stats).unwrap(),
        Stats {
            conns: (1 << 32) + 5,
            ..Stats::default()
        }
    );

    // A dump without ADDR_FAMILY (kernels before 4.x): the service's.
    let attrs: Vec<DestAttr> = dest_attrs(
        &DestKey::new(sa("[2001:db8::5]:80")),
        &Dest::new(Fwd::Route, 1),
    )
    .into_iter()
    .filter(|a| !matches!(a, DestAttr::AddrFamily(_)))
    .collect();
    let d = dest_from_attrs(&attrs, Af::Inet6).unwrap();
    assert_eq!(d.key, DestKey::new(sa("[2001:db8::5]:80")));
}

#[test]
fn stats64_preferred_over_stats() {
    let attrs = [
        svc_key_web(),
        vec![
            SvcAttr::SchedName("rr".into()),
            zero_mask(2),
            SvcAttr::Timeout(0),
            SvcAttr::Netmask(u32::MAX),
            SvcAttr::Stats(Stats {
                conns: 1,
                ..Stats::default()
            }),
            SvcAttr::Stats64(Stats {
                conns: 1 << 40,
                ..Stats::default()
            }),
        ],
    ]
    .concat();
    let e = service_from_attrs(&attrs).unwrap();
    assert_eq!(e.stats.conns, 1 << 40);
    assert_eq!(e.service.flags, SvcFlags::empty(), "HASHED is dropped");
}

#[test]
fn oversized_attribute_is_an_error() {
    let svc = Service::new(Scheduler::Other("x".repeat(70_000)));
    assert!(matches!(
        new_service(&web(), &svc).encode(),
        Err(EncodeError::TooLong { .. })
    ));
}

// ---------------------------------------------------------------------------
// Properties.

fn raw_attr() -> impl Strategy<Value = RawAttr> {
    // Types 100.. are unknown at every level; the flag bits are kept.
    (
        100u16..200,
        prop::sample::select(vec![0u16, NLA_F_NET_BYTEORDER]),
        prop::collection::vec(any::<u8>(), 0..12),
    )
        .prop_map(|(k, f, payload)| RawAttr {
            kind: k | f,
            payload,
        })
}

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{0,15}"
}

fn stats() -> impl Strategy<Value = Stats> {
    prop::array::uniform10(any::<u64>()).prop_map(|v| Stats {
        conns: v[0],
        inpkts: v[1],
        outpkts: v[2],
        inbytes: v[3],
        outbytes: v[4],
        cps: v[5],
        inpps: v[6],
        outpps: v[7],
        inbps: v[8],
        outbps: v[9],
    })
}

fn svc_attr() -> impl Strategy<Value = SvcAttr> {
    prop_oneof![
        any::<u16>().prop_map(SvcAttr::Af),
        any::<u16>().prop_map(SvcAttr::Protocol),
        any::<[u8; 16]>().prop_map(|b| SvcAttr::Addr(InetAddr(b))),
        any::<u16>().prop_map(SvcAttr::Port),
        any::<u32>().prop_map(SvcAttr::Fwmark),
        name().prop_map(SvcAttr::SchedName),
        (any::<u32>(), any::<u32>())
            .prop_map(|(flags, mask)| SvcAttr::Flags(IpVsFlags { flags, mask })),
        any::<u32>().prop_map(SvcAttr::Timeout),
        any::<u32>().prop_map(SvcAttr::Netmask),
        stats().prop_map(SvcAttr::Stats),
        name().prop_map(SvcAttr::PeName),
        stats().prop_map(SvcAttr::Stats64),
        raw_attr().prop_map(SvcAttr::Other),
    ]
}

fn dest_attr() -> impl Strategy<Value = DestAttr> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(|b| DestAttr::Addr(InetAddr(b))),
        any::<u16>().prop_map(DestAttr::Port),
        any::<u32>().prop_map(DestAttr::FwdMethod),
        any::<u32>().prop_map(DestAttr::Weight),
        any::<u32>().prop_map(DestAttr::UThresh),
        any::<u32>().prop_map(DestAttr::LThresh),
        any::<u32>().prop_map(DestAttr::ActiveConns),
        any::<u32>().prop_map(DestAttr::InactConns),
        any::<u32>().prop_map(DestAttr::PersistConns),
        stats().prop_map(DestAttr::Stats),
        any::<u16>().prop_map(DestAttr::AddrFamily),
        stats().prop_map(DestAttr::Stats64),
        any::<u8>().prop_map(DestAttr::TunType),
        any::<u16>().prop_map(DestAttr::TunPort),
        any::<u16>().prop_map(DestAttr::TunFlags),
        raw_attr().prop_map(DestAttr::Other),
    ]
}

fn daemon_attr() -> impl Strategy<Value = DaemonAttr> {
    prop_oneof![
        any::<u32>().prop_map(DaemonAttr::State),
        name().prop_map(DaemonAttr::McastIfn),
        any::<u32>().prop_map(DaemonAttr::SyncId),
        any::<u16>().prop_map(DaemonAttr::SyncMaxlen),
        any::<[u8; 4]>().prop_map(|b| DaemonAttr::McastGroup(b.into())),
        any::<[u8; 16]>().prop_map(|b| DaemonAttr::McastGroup6(b.into())),
        any::<u16>().prop_map(DaemonAttr::McastPort),
        any::<u8>().prop_map(DaemonAttr::McastTtl),
        raw_attr().prop_map(DaemonAttr::Other),
    ]
}

fn cmd_attr() -> impl Strategy<Value = CmdAttr> {
    prop_oneof![
        prop::collection::vec(svc_attr(), 0..6).prop_map(CmdAttr::Service),
        prop::collection::vec(dest_attr(), 0..6).prop_map(CmdAttr::Dest),
        prop::collection::vec(daemon_attr(), 0..6).prop_map(CmdAttr::Daemon),
        any::<u32>().prop_map(CmdAttr::TimeoutTcp),
        any::<u32>().prop_map(CmdAttr::TimeoutTcpFin),
        any::<u32>().prop_map(CmdAttr::TimeoutUdp),
        raw_attr().prop_map(CmdAttr::Other),
    ]
}

fn info_attr() -> impl Strategy<Value = CmdAttr> {
    prop_oneof![
        any::<u32>().prop_map(CmdAttr::InfoVersion),
        any::<u32>().prop_map(CmdAttr::InfoConnTabSize),
        raw_attr().prop_map(CmdAttr::Other),
    ]
}

fn message() -> impl Strategy<Value = IpvsMessage> {
    let cmd = (0u8..=40).prop_map(IpvsCmd::from);
    (cmd, any::<u8>()).prop_flat_map(|(cmd, version)| {
        let attrs = if cmd.info_attrs() {
            prop::collection::vec(info_attr(), 0..4).boxed()
        } else {
            prop::collection::vec(cmd_attr(), 0..4).boxed()
        };
        attrs.prop_map(move |attrs| IpvsMessage {
            cmd,
            version,
            attrs,
        })
    })
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn service_key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        (any::<u16>(), ip(), any::<u16>()).prop_map(|(p, addr, port)| ServiceKey::Inet {
            proto: Protocol::from_number(p),
            addr,
            port
        }),
        (any::<bool>(), 1u32..).prop_map(|(v6, mark)| ServiceKey::Fwmark {
            af: if v6 { Af::Inet6 } else { Af::Inet },
            mark
        }),
    ]
}

fn scheduler() -> impl Strategy<Value = Scheduler> {
    "[a-z]{1,15}".prop_map(|s| Scheduler::from_name(&s))
}

fn service_for(af: Af) -> impl Strategy<Value = Service> {
    (
        scheduler(),
        0u32..0x40,
        any::<u32>(),
        any::<u32>(),
        prop::option::of("[a-z]{1,15}"),
    )
        .prop_map(move |(sched, flags, timeout, netmask, pe_name)| Service {
            sched,
            flags: SvcFlags(flags).config(),
            timeout,
            netmask: (netmask != af.default_netmask()).then_some(netmask),
            pe_name,
        })
}

fn dest() -> impl Strategy<Value = Dest> {
    let csum = prop::sample::select(vec![TunCsum::NoCsum, TunCsum::Csum, TunCsum::RemCsum]);
    let tunnel = prop_oneof![
        Just(Tunnel::Ipip),
        (any::<u16>(), csum.clone()).prop_map(|(port, csum)| Tunnel::Gue { port, csum }),
        csum.prop_map(|csum| Tunnel::Gre { csum }),
    ];
    let fwd = prop_oneof![
        Just(Fwd::Masq),
        Just(Fwd::Local),
        tunnel.prop_map(Fwd::Tunnel),
        Just(Fwd::Route),
        Just(Fwd::Bypass),
    ];
    (fwd, any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(fwd, weight, u, l)| Dest {
        fwd,
        weight,
        u_thresh: u,
        l_thresh: l,
    })
}

/// Bytes that look like an IPVS message: a genl header and attributes with
/// the right types at each level but random payloads, so the fuzzing gets
/// past the first length check into the nested decoders.
fn structured_garbage() -> impl Strategy<Value = Vec<u8>> {
    let inner = prop::collection::vec((0u16..20, prop::collection::vec(any::<u8>(), 0..24)), 0..8);
    (0u8..20, prop::collection::vec((0u16..8, inner), 0..4)).prop_map(|(cmd, tops)| {
        let mut w = Writer::default();
        w.buf.extend_from_slice(&[cmd, 1, 0, 0]);
        for (kind, inner) in tops {
            let _ = w.nested(kind, |w| {
                for (k, payload) in &inner {
                    w.attr(*k, payload)?;
                }
                Ok(())
            });
        }
        w.buf
    })
}

/// Runs every decoding path a client would run on a reply.
fn decode_everything(bytes: &[u8]) {
    if let Ok(msg) = IpvsMessage::decode(bytes) {
        let _ = parse_info(&msg);
        let _ = parse_config(&msg);
        let _ = parse_service(&msg);
        let _ = parse_dest(&msg, Af::Inet);
        let _ = parse_dest(&msg, Af::Inet6);
        let _ = parse_daemon(&msg);
        for a in &msg.attrs {
            match a {
                CmdAttr::Service(v) => drop(service_from_attrs(v)),
                CmdAttr::Dest(v) => drop(dest_from_attrs(v, Af::Inet)),
                CmdAttr::Daemon(v) => drop(daemon_from_attrs(v)),
                _ => {}
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn decode_never_panics_on_structured_input(bytes in structured_garbage()) {
        decode_everything(&bytes);
    }

    #[test]
    fn decode_never_panics_on_mutated_fixtures(
        which in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let fx = fixtures();
        let mut bytes = which.get(&fx).bytes.clone();
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        decode_everything(&bytes);
    }

    #[test]
    fn message_roundtrip(msg in message()) {
        let bytes = msg.encode().unwrap();
        prop_assert_eq!(IpvsMessage::decode(&bytes), Ok(msg.clone()));
        // Our own encoding re-encodes identically.
        prop_assert_eq!(IpvsMessage::decode(&bytes).unwrap().encode().unwrap(), bytes);
    }

    #[test]
    fn service_roundtrip((key, svc) in service_key().prop_flat_map(|k| (Just(k), service_for(k.af())))) {
        let bytes = new_service(&key, &svc).encode().unwrap();
        let entry = parse_service(&IpvsMessage::decode(&bytes).unwrap()).unwrap();
        prop_assert_eq!(entry.key, key);
        prop_assert_eq!(entry.service, svc);
    }

    #[test]
    fn dest_roundtrip(svc in service_key(), addr in ip(), port in any::<u16>(), d in dest()) {
        let key = DestKey { addr, port };
        let msg = IpvsMessage::decode(&set_dest(&svc, &key, &d).encode().unwrap()).unwrap();
        let attrs = msg.attrs.iter().find_map(|a| match a {
            CmdAttr::Dest(v) => Some(v.clone()),
            _ => None,
        }).unwrap();
        let entry = dest_from_attrs(&attrs, svc.af()).unwrap();
        prop_assert_eq!(entry.key, key);
        prop_assert_eq!(entry.dest, d);
    }
}
