//! Golden bytes from a real kernel: the codec against nlmon captures of
//! ipvsadm talking to IPVS (Debian bookworm's 6.1 kernel in the VM tier).
//!
//! `tests/vm/captures/NNN.txt` each hold one ipvsadm command (`# cmd:`), its
//! exit code, its output (`# out:`), the IPVS family id of that boot, and
//! every netlink message the command exchanged (`req`/`rep`, nlmsghdr
//! included). `tests/vm/run capture` regenerates them. [`STEPS`] says, for
//! each file in order, what the command means as model values and which
//! errno the kernel answers; the tests then check that:
//!
//! 1. every IPVS message (requests and replies) decodes, keeps no attribute
//!    it doesn't understand, and re-encodes to the captured bytes;
//! 2. our request builders produce ipvsadm's request byte for byte, or,
//!    where we send less on purpose, the same service/dest/daemon identity;
//! 3. the kernel's acks carry the errno we expect, predicted from the state
//!    the earlier commands built, and its dumps parse into exactly that
//!    state (table, counters, timeouts, sync daemons), which also matches
//!    what ipvsadm printed from the same bytes.
//!
//! Netlink numbers are in host order: little-endian hosts only.

#![cfg(target_endian = "little")]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use ipvs::model::{
    Af, Dest, DestEntry, DestKey, Fwd, Scheduler, Service, ServiceEntry, ServiceKey, Stats,
    SvcFlags, SyncDaemon, SyncState, Table, Timeouts, TunCsum, Tunnel,
};
use ipvs::wire::{self, CmdAttr, DaemonAttr, DestAttr, IpVsFlags, IpvsCmd, IpvsMessage, SvcAttr};

const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vm/captures");

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLA_F_NESTED: u16 = 0x8000;

const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const EEXIST: i32 = 17;

// ---------------------------------------------------------------------------
// Reading the capture files.

#[derive(Debug)]
struct Msg {
    req: bool,
    ty: u16,
    flags: u16,
    seq: u32,
    /// Port id: ipvsadm opens a socket per request, all with the same
    /// sequence number, so replies are told apart by (seq, pid).
    pid: u32,
    bytes: Vec<u8>,
}

impl Msg {
    /// After the 16-byte nlmsghdr.
    fn payload(&self) -> &[u8] {
        &self.bytes[16..]
    }
}

#[derive(Debug)]
struct Capture {
    file: String,
    cmd: String,
    exit: i32,
    out: Vec<String>,
    family: u16,
    msgs: Vec<Msg>,
}

impl Capture {
    fn is_ipvs(&self, m: &Msg) -> bool {
        m.ty == self.family
    }

    fn decode(&self, m: &Msg) -> IpvsMessage {
        IpvsMessage::decode(m.payload())
            .unwrap_or_else(|e| panic!("{}: {}: decode: {e}", self.file, self.cmd))
    }

    /// IPVS requests other than the `GET_INFO` ipvsadm sends first.
    fn requests(&self) -> Vec<(&Msg, IpvsMessage)> {
        self.msgs
            .iter()
            .filter(|m| m.req && self.is_ipvs(m))
            .map(|m| (m, self.decode(m)))
            .filter(|(_, d)| d.cmd != IpvsCmd::GetInfo)
            .collect()
    }

    fn replies_to(&self, req: &Msg) -> Vec<&Msg> {
        self.msgs
            .iter()
            .filter(|m| !m.req && (m.seq, m.pid) == (req.seq, req.pid))
            .collect()
    }
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn load() -> Vec<Capture> {
    let mut files: Vec<_> = std::fs::read_dir(CAPTURES)
        .unwrap_or_else(|e| panic!("{CAPTURES}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let (mut cmd, mut exit, mut family) = (None, None, None);
            let (mut out, mut msgs) = (Vec::new(), Vec::new());
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("# cmd: ") {
                    cmd = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("# exit: ") {
                    exit = Some(v.parse().unwrap());
                } else if let Some(v) = line.strip_prefix("# ipvs-family: ") {
                    family = Some(v.parse().unwrap());
                } else if let Some(v) = line.strip_prefix("# out: ") {
                    out.push(v.to_owned());
                } else if line == "# out:" {
                    out.push(String::new());
                } else if let Some((dir @ ("req" | "rep"), hex)) = line.split_once(' ') {
                    let bytes = unhex(hex);
                    assert!(bytes.len() >= 16, "{file}: short message {hex}");
                    assert_eq!(le32(&bytes, 0) as usize, bytes.len(), "{file}: nlmsg_len");
                    msgs.push(Msg {
                        req: dir == "req",
                        ty: le16(&bytes, 4),
                        flags: le16(&bytes, 6),
                        seq: le32(&bytes, 8),
                        pid: le32(&bytes, 12),
                        bytes,
                    });
                } else {
                    panic!("{file}: unexpected line {line:?}");
                }
            }
            Capture {
                cmd: cmd.unwrap_or_else(|| panic!("{file}: no # cmd")),
                exit: exit.unwrap_or_else(|| panic!("{file}: no # exit")),
                family: family.unwrap_or_else(|| panic!("{file}: no # ipvs-family")),
                file,
                out,
                msgs,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// What each captured command means.

#[derive(Debug, Clone)]
enum Op {
    Flush,
    AddSvc(ServiceKey, Service),
    EditSvc(ServiceKey, Service),
    DelSvc(ServiceKey),
    AddRs(ServiceKey, DestKey, Dest),
    EditRs(ServiceKey, DestKey, Dest),
    DelRs(ServiceKey, DestKey),
    Zero(Option<ServiceKey>),
    /// `-Ln`/`-Sn` and their variants: all services, or one.
    List(Option<ServiceKey>),
    GetTimeouts,
    SetTimeouts(Timeouts),
    StartDaemon(SyncDaemon),
    StopDaemon(SyncState),
    ListDaemons,
}

struct Step {
    cmd: &'static str,
    op: Op,
    /// The kernel's answer: 0, or the (positive) errno.
    errno: i32,
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}
fn tcp(s: &str) -> ServiceKey {
    ServiceKey::tcp(sa(s))
}
fn udp(s: &str) -> ServiceKey {
    ServiceKey::udp(sa(s))
}
fn sctp(s: &str) -> ServiceKey {
    ServiceKey::sctp(sa(s))
}
fn fwm(mark: u32) -> ServiceKey {
    ServiceKey::fwmark(Af::Inet, mark)
}
fn fwm6(mark: u32) -> ServiceKey {
    ServiceKey::fwmark(Af::Inet6, mark)
}
fn rs(s: &str) -> DestKey {
    DestKey::new(sa(s))
}
fn s(sched: &str) -> Service {
    Service::new(Scheduler::from_name(sched))
}
fn sflags(sched: &str, flags: SvcFlags) -> Service {
    Service { flags, ..s(sched) }
}
fn d(fwd: Fwd, weight: u32) -> Dest {
    Dest::new(fwd, weight)
}
fn thr(fwd: Fwd, weight: u32, u_thresh: u32, l_thresh: u32) -> Dest {
    Dest {
        u_thresh,
        l_thresh,
        ..Dest::new(fwd, weight)
    }
}
fn gue(port: u16, csum: TunCsum) -> Fwd {
    Fwd::Tunnel(Tunnel::Gue { port, csum })
}
fn ok(cmd: &'static str, op: Op) -> Step {
    Step { cmd, op, errno: 0 }
}
fn err(cmd: &'static str, op: Op, errno: i32) -> Step {
    Step { cmd, op, errno }
}

/// One entry per capture file, in order. ipvsadm's defaults, made explicit
/// here: `-g` and weight 1 for a real server; the service's port when `-r`
/// has none (0 for fwmark services); IPIP for `-i` without `--tun-type`;
/// 360 s for `-p` without a value.
#[rustfmt::skip]
fn steps() -> Vec<Step> {
    use Op::*;
    let scheds = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"];
    let mut v = vec![
        ok("ipvsadm -C", Flush),
        ok("ipvsadm -A -t 192.0.2.1:80 -s rr", AddSvc(tcp("192.0.2.1:80"), s("rr"))),
        ok("ipvsadm -A -u 192.0.2.1:53 -s wrr", AddSvc(udp("192.0.2.1:53"), s("wrr"))),
        ok("ipvsadm -A --sctp-service 192.0.2.1:5060 -s lc", AddSvc(sctp("192.0.2.1:5060"), s("lc"))),
        ok("ipvsadm -A -f 1 -s wlc", AddSvc(fwm(1), s("wlc"))),
        ok("ipvsadm -A -f 2 -6 -s rr", AddSvc(fwm6(2), s("rr"))),
        ok("ipvsadm -A -t [2001:db8::1]:80 -s sh", AddSvc(tcp("[2001:db8::1]:80"), s("sh"))),
        ok("ipvsadm -A -u [2001:db8::1]:53 -s wlc", AddSvc(udp("[2001:db8::1]:53"), s("wlc"))),
    ];
    // The capture script adds one service per scheduler module the kernel
    // ships; bookworm's 6.1 has no `twos`.
    const CMDS: [&str; 13] = [
        "ipvsadm -A -t 192.0.2.2:10001 -s rr", "ipvsadm -A -t 192.0.2.2:10002 -s wrr",
        "ipvsadm -A -t 192.0.2.2:10003 -s lc", "ipvsadm -A -t 192.0.2.2:10004 -s wlc",
        "ipvsadm -A -t 192.0.2.2:10005 -s lblc", "ipvsadm -A -t 192.0.2.2:10006 -s lblcr",
        "ipvsadm -A -t 192.0.2.2:10007 -s dh", "ipvsadm -A -t 192.0.2.2:10008 -s sh",
        "ipvsadm -A -t 192.0.2.2:10009 -s sed", "ipvsadm -A -t 192.0.2.2:10010 -s nq",
        "ipvsadm -A -t 192.0.2.2:10011 -s fo", "ipvsadm -A -t 192.0.2.2:10012 -s ovf",
        "ipvsadm -A -t 192.0.2.2:10013 -s mh",
    ];
    for (i, (cmd, sched)) in CMDS.iter().zip(scheds).enumerate() {
        let port = 10001 + i as u16;
        v.push(ok(cmd, AddSvc(ServiceKey::tcp(SocketAddr::new("192.0.2.2".parse().unwrap(), port)), s(sched))));
    }
    let web = tcp("192.0.2.1:80");
    let v6web = tcp("[2001:db8::1]:80");
    v.extend([
        ok("ipvsadm -A -t 192.0.2.3:80 -s rr -p 300 -M 255.255.255.0",
            AddSvc(tcp("192.0.2.3:80"), Service { netmask: Some(0xffff_ff00), ..s("rr").persistent(300) })),
        ok("ipvsadm -A -t 192.0.2.3:0 -s rr -p", AddSvc(tcp("192.0.2.3:0"), s("rr").persistent(360))),
        ok("ipvsadm -A -t [2001:db8::3]:80 -s rr -p 60 -M 64",
            AddSvc(tcp("[2001:db8::3]:80"), Service { netmask: Some(64), ..s("rr").persistent(60) })),
        ok("ipvsadm -A -u 192.0.2.4:5060 -s rr -p 120 --pe sip",
            AddSvc(udp("192.0.2.4:5060"), Service { pe_name: Some("sip".into()), ..s("rr").persistent(120) })),
        ok("ipvsadm -A -t 192.0.2.5:80 -s sh -b sh-fallback,sh-port",
            AddSvc(tcp("192.0.2.5:80"), sflags("sh", SvcFlags::SH_FALLBACK | SvcFlags::SH_PORT))),
        ok("ipvsadm -A -t 192.0.2.6:80 -s mh -b mh-fallback,mh-port",
            AddSvc(tcp("192.0.2.6:80"), sflags("mh", SvcFlags::MH_FALLBACK | SvcFlags::MH_PORT))),
        ok("ipvsadm -A -t 192.0.2.7:80 -s wrr -b flag-1,flag-2,flag-3",
            AddSvc(tcp("192.0.2.7:80"), sflags("wrr", SvcFlags::SCHED1 | SvcFlags::SCHED2 | SvcFlags::SCHED3))),
        ok("ipvsadm -A -u 192.0.2.8:53 -s rr -o", AddSvc(udp("192.0.2.8:53"), sflags("rr", SvcFlags::ONEPACKET))),
        err("ipvsadm -A -t 192.0.2.1:80 -s rr", AddSvc(web, s("rr")), EEXIST),
        err("ipvsadm -A -t 192.0.2.9:80 -s nosuchsched", AddSvc(tcp("192.0.2.9:80"), s("nosuchsched")), ENOENT),
        ok("ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10:80 -g -w 1", AddRs(web, rs("192.0.2.10:80"), d(Fwd::Route, 1))),
        ok("ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.11:8080 -m -w 2", AddRs(web, rs("192.0.2.11:8080"), d(Fwd::Masq, 2))),
        ok("ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.12 -i -w 3", AddRs(web, rs("192.0.2.12:80"), d(Fwd::Tunnel(Tunnel::Ipip), 3))),
        ok("ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.13 -i --tun-type gue --tun-port 6080 --tun-csum",
            AddRs(web, rs("192.0.2.13:80"), d(gue(6080, TunCsum::Csum), 1))),
        ok("ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.14 -i --tun-type gue --tun-port 6081 --tun-remcsum",
            AddRs(web, rs("192.0.2.14:80"), d(gue(6081, TunCsum::RemCsum), 1))),
        ok("ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.15 -i --tun-type gre --tun-csum",
            AddRs(web, rs("192.0.2.15:80"), d(Fwd::Tunnel(Tunnel::Gre { csum: TunCsum::Csum }), 1))),
        ok("ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.16:80 -m -w 4 -x 100 -y 10",
            AddRs(web, rs("192.0.2.16:80"), thr(Fwd::Masq, 4, 100, 10))),
        ok("ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.17:80 -g -w 0", AddRs(web, rs("192.0.2.17:80"), d(Fwd::Route, 0))),
        ok("ipvsadm -a -u 192.0.2.1:53 -r 192.0.2.21:53 -m -w 5",
            AddRs(udp("192.0.2.1:53"), rs("192.0.2.21:53"), d(Fwd::Masq, 5))),
        ok("ipvsadm -a --sctp-service 192.0.2.1:5060 -r 192.0.2.22:5060 -m",
            AddRs(sctp("192.0.2.1:5060"), rs("192.0.2.22:5060"), d(Fwd::Masq, 1))),
        ok("ipvsadm -a -f 1 -r 192.0.2.20 -g", AddRs(fwm(1), rs("192.0.2.20:0"), d(Fwd::Route, 1))),
        ok("ipvsadm -a -f 2 -6 -r 2001:db8::20 -g", AddRs(fwm6(2), rs("[2001:db8::20]:0"), d(Fwd::Route, 1))),
        ok("ipvsadm -a -t [2001:db8::1]:80 -r [2001:db8::10]:80 -m -w 1",
            AddRs(v6web, rs("[2001:db8::10]:80"), d(Fwd::Masq, 1))),
        ok("ipvsadm -a -t [2001:db8::1]:80 -r [2001:db8::11]:80 -i --tun-type gre",
            AddRs(v6web, rs("[2001:db8::11]:80"), d(Fwd::Tunnel(Tunnel::Gre { csum: TunCsum::NoCsum }), 1))),
        ok("ipvsadm -a -t 192.0.2.3:80 -r 192.0.2.30:80 -g", AddRs(tcp("192.0.2.3:80"), rs("192.0.2.30:80"), d(Fwd::Route, 1))),
        err("ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10:80 -g -w 1", AddRs(web, rs("192.0.2.10:80"), d(Fwd::Route, 1)), EEXIST),
        err("ipvsadm -a -t 192.0.2.99:80 -r 192.0.2.10:80 -g",
            AddRs(tcp("192.0.2.99:80"), rs("192.0.2.10:80"), d(Fwd::Route, 1)), ESRCH),
        ok("ipvsadm -E -t 192.0.2.1:80 -s wlc -p 60", EditSvc(web, s("wlc").persistent(60))),
        ok("ipvsadm -E -t 192.0.2.1:80 -s wrr", EditSvc(web, s("wrr"))),
        ok("ipvsadm -e -t 192.0.2.1:80 -r 192.0.2.11:8080 -m -w 7 -x 50 -y 5",
            EditRs(web, rs("192.0.2.11:8080"), thr(Fwd::Masq, 7, 50, 5))),
        ok("ipvsadm -e -t 192.0.2.1:80 -r 192.0.2.13 -i --tun-type gue --tun-port 7000 --tun-nocsum",
            EditRs(web, rs("192.0.2.13:80"), d(gue(7000, TunCsum::NoCsum), 1))),
        ok("ipvsadm -e -u 192.0.2.1:53 -r 192.0.2.21:53 -g -w 1",
            EditRs(udp("192.0.2.1:53"), rs("192.0.2.21:53"), d(Fwd::Route, 1))),
        ok("ipvsadm -Ln", List(None)),
        ok("ipvsadm -Sn", List(None)),
        ok("ipvsadm -Ln -t 192.0.2.1:80", List(Some(web))),
        ok("ipvsadm -Ln -f 2 -6", List(Some(fwm6(2)))),
        ok("ipvsadm -Ln --stats --exact", List(None)),
        ok("ipvsadm -Ln --rate", List(None)),
        ok("ipvsadm -Ln --thresholds", List(None)),
        ok("ipvsadm -Ln --persistent-conn", List(None)),
        ok("ipvsadm -Ln --tun-info", List(None)),
        ok("ipvsadm -Z", Zero(None)),
        ok("ipvsadm -Z -t 192.0.2.1:80", Zero(Some(web))),
        ok("ipvsadm -L --timeout", GetTimeouts),
        ok("ipvsadm --set 900 120 300", SetTimeouts(Timeouts { tcp: 900, tcp_fin: 120, udp: 300 })),
        ok("ipvsadm --set 0 0 60", SetTimeouts(Timeouts { tcp: 0, tcp_fin: 0, udp: 60 })),
        ok("ipvsadm -L --timeout", GetTimeouts),
        ok("ipvsadm --start-daemon master --mcast-interface dummy0",
            StartDaemon(SyncDaemon::new(SyncState::Master, "dummy0", 0))),
        ok("ipvsadm --start-daemon backup --mcast-interface dummy0 --syncid 7 --sync-maxlen 1400 --mcast-group 224.0.0.82 --mcast-port 8849 --mcast-ttl 2",
            StartDaemon(SyncDaemon {
                sync_maxlen: Some(1400),
                mcast_group: Some("224.0.0.82".parse().unwrap()),
                mcast_port: Some(8849),
                mcast_ttl: Some(2),
                ..SyncDaemon::new(SyncState::Backup, "dummy0", 7)
            })),
        ok("ipvsadm -L --daemon", ListDaemons),
        err("ipvsadm --start-daemon master --mcast-interface dummy0",
            StartDaemon(SyncDaemon::new(SyncState::Master, "dummy0", 0)), EEXIST),
        ok("ipvsadm --stop-daemon master", StopDaemon(SyncState::Master)),
        ok("ipvsadm --stop-daemon backup", StopDaemon(SyncState::Backup)),
        ok("ipvsadm --start-daemon master --mcast-interface dummy0 --syncid 9 --mcast-group ff02::8:81 --mcast-port 8850 --mcast-ttl 3",
            StartDaemon(SyncDaemon {
                mcast_group: Some("ff02::8:81".parse().unwrap()),
                mcast_port: Some(8850),
                mcast_ttl: Some(3),
                ..SyncDaemon::new(SyncState::Master, "dummy0", 9)
            })),
        ok("ipvsadm -L --daemon", ListDaemons),
        ok("ipvsadm --stop-daemon master", StopDaemon(SyncState::Master)),
        ok("ipvsadm -L --daemon", ListDaemons),
        ok("ipvsadm -d -t 192.0.2.1:80 -r 192.0.2.12", DelRs(web, rs("192.0.2.12:80"))),
        ok("ipvsadm -d -t [2001:db8::1]:80 -r [2001:db8::10]:80", DelRs(v6web, rs("[2001:db8::10]:80"))),
        err("ipvsadm -d -t 192.0.2.1:80 -r 192.0.2.250", DelRs(web, rs("192.0.2.250:80")), ENOENT),
        ok("ipvsadm -D -t 192.0.2.1:80", DelSvc(web)),
        ok("ipvsadm -D -f 2 -6", DelSvc(fwm6(2))),
        err("ipvsadm -D -u 192.0.2.250:53", DelSvc(udp("192.0.2.250:53")), ESRCH),
        ok("ipvsadm -C", Flush),
        ok("ipvsadm -Ln", List(None)),
    ]);
    v
}

/// `ipvsadm -Sn` after the commands up to 053, written out by hand from
/// the commands above (not from the capture): `-p` alone is 360 s, `-e`
/// keeps a real server's place, `-S` omits thresholds and prints IPIP
/// explicitly, and the order is ipvsadm's (fwmark, family, protocol,
/// address, port).
const EXPECTED_SN: &str = "\
-A -t 192.0.2.1:80 -s wrr
-a -t 192.0.2.1:80 -r 192.0.2.10:80 -g -w 1
-a -t 192.0.2.1:80 -r 192.0.2.11:8080 -m -w 7
-a -t 192.0.2.1:80 -r 192.0.2.12:80 -i -w 3 --tun-type ipip
-a -t 192.0.2.1:80 -r 192.0.2.13:80 -i -w 1 --tun-type gue --tun-port 7000 --tun-nocsum
-a -t 192.0.2.1:80 -r 192.0.2.14:80 -i -w 1 --tun-type gue --tun-port 6081 --tun-remcsum
-a -t 192.0.2.1:80 -r 192.0.2.15:80 -i -w 1 --tun-type gre --tun-csum
-a -t 192.0.2.1:80 -r 192.0.2.16:80 -m -w 4
-a -t 192.0.2.1:80 -r 192.0.2.17:80 -g -w 0
-A -t 192.0.2.2:10001 -s rr
-A -t 192.0.2.2:10002 -s wrr
-A -t 192.0.2.2:10003 -s lc
-A -t 192.0.2.2:10004 -s wlc
-A -t 192.0.2.2:10005 -s lblc
-A -t 192.0.2.2:10006 -s lblcr
-A -t 192.0.2.2:10007 -s dh
-A -t 192.0.2.2:10008 -s sh
-A -t 192.0.2.2:10009 -s sed
-A -t 192.0.2.2:10010 -s nq
-A -t 192.0.2.2:10011 -s fo
-A -t 192.0.2.2:10012 -s ovf
-A -t 192.0.2.2:10013 -s mh
-A -t 192.0.2.3:0 -s rr -p 360
-A -t 192.0.2.3:80 -s rr -p 300 -M 255.255.255.0
-a -t 192.0.2.3:80 -r 192.0.2.30:80 -g -w 1
-A -t 192.0.2.5:80 -s sh -b sh-fallback,sh-port
-A -t 192.0.2.6:80 -s mh -b mh-fallback,mh-port
-A -t 192.0.2.7:80 -s wrr -b flag-1,flag-2,flag-3
-A -u 192.0.2.1:53 -s wrr
-a -u 192.0.2.1:53 -r 192.0.2.21:53 -g -w 1
-A -u 192.0.2.4:5060 -s rr -p 120 --pe sip
-A -u 192.0.2.8:53 -s rr -o
-A --sctp-service 192.0.2.1:5060 -s lc
-a --sctp-service 192.0.2.1:5060 -r 192.0.2.22:5060 -m -w 1
-A -t [2001:db8::1]:80 -s sh
-a -t [2001:db8::1]:80 -r [2001:db8::10]:80 -m -w 1
-a -t [2001:db8::1]:80 -r [2001:db8::11]:80 -i -w 1 --tun-type gre --tun-nocsum
-A -t [2001:db8::3]:80 -s rr -p 60 -M 64
-A -u [2001:db8::1]:53 -s wlc
-A -f 1 -s wlc
-a -f 1 -r 192.0.2.20:0 -g -w 1
-A -f 2 -6 -s rr
-a -f 2 -6 -r [2001:db8::20]:0 -g -w 1
";

#[test]
fn every_capture_has_a_step() {
    let caps = load();
    let steps = steps();
    assert_eq!(caps.len(), 86, "capture files in {CAPTURES}");
    assert_eq!(caps.len(), steps.len(), "one step per capture file");
    for (c, s) in caps.iter().zip(&steps) {
        assert_eq!(c.cmd, s.cmd, "{}: capture and step disagree", c.file);
        assert_eq!(
            c.exit == 0,
            s.errno == 0,
            "{}: {}: exit {}",
            c.file,
            c.cmd,
            c.exit
        );
        assert!(
            c.family >= 16,
            "{}: generic netlink family id {}",
            c.file,
            c.family
        );
    }
}

// ---------------------------------------------------------------------------
// 1. Decoding: nothing fails, nothing unknown, nothing lost.

/// Panics on any attribute the decoder kept as `Other` (it would otherwise
/// be carried along without meaning anything to us).
fn assert_all_known(what: &str, msg: &IpvsMessage) {
    assert!(
        !matches!(msg.cmd, IpvsCmd::Other(_)),
        "{what}: unknown command"
    );
    for a in &msg.attrs {
        match a {
            CmdAttr::Other(raw) => panic!("{what}: unknown top-level attribute {raw:?}"),
            CmdAttr::Service(v) => {
                for a in v {
                    assert!(!matches!(a, SvcAttr::Other(_)), "{what}: unknown {a:?}");
                }
            }
            CmdAttr::Dest(v) => {
                for a in v {
                    assert!(!matches!(a, DestAttr::Other(_)), "{what}: unknown {a:?}");
                }
            }
            CmdAttr::Daemon(v) => {
                for a in v {
                    assert!(!matches!(a, DaemonAttr::Other(_)), "{what}: unknown {a:?}");
                }
            }
            _ => {}
        }
    }
}

/// The attributes of `buf` as (type with flags, offset of the header,
/// payload); panics on a truncated attribute.
fn nla(buf: &[u8]) -> Vec<(u16, usize, &[u8])> {
    let mut v = Vec::new();
    let mut off = 0;
    while buf.len() - off >= 4 {
        let len = usize::from(le16(buf, off));
        assert!(len >= 4 && off + len <= buf.len(), "bad attribute at {off}");
        v.push((le16(buf, off + 2), off, &buf[off + 4..off + len]));
        off += (len + 3) & !3;
    }
    assert_eq!(off, buf.len(), "trailing bytes");
    v
}

/// A copy of an IPVS payload with `NLA_F_NESTED` cleared on every nest
/// header (the kernel leaves it off in replies, libnl and we set it in
/// requests). Also checks, independently of our decoder, that the counters
/// nested in `STATS`/`STATS64` are all known (`IPVS_STATS_ATTR_CONNS`..
/// `OUTBPS`): the decoder skips unknown counters, so it can't say.
fn without_nested_flag(payload: &[u8]) -> Vec<u8> {
    fn clear(out: &mut [u8], base: usize, buf: &[u8], nests: &dyn Fn(u16) -> Option<u8>) {
        for (kind, off, p) in nla(buf) {
            let t = kind & !NLA_F_NESTED;
            out[base + off + 2..base + off + 4].copy_from_slice(&t.to_le_bytes());
            let inner = base + off + 4;
            match nests(t) {
                // STATS (10) and STATS64 (12) nest in a service or a dest.
                Some(1 | 2) => clear(out, inner, p, &|t| matches!(t, 10 | 12).then_some(3)),
                Some(3) => {
                    for (k, _, _) in nla(p) {
                        assert!((1..=10).contains(&k), "unknown stats counter {k}");
                    }
                    clear(out, inner, p, &|_| None)
                }
                Some(_) => clear(out, inner, p, &|_| None),
                None => {}
            }
        }
    }
    let mut out = payload.to_vec();
    let cmd = payload[0];
    let info = cmd == 14 || cmd == 15;
    // Top level: SERVICE (1), DEST (2), DAEMON (3) nest, except in info
    // messages where 1 and 2 are plain u32s.
    clear(&mut out, 4, &payload[4..], &|t| {
        (!info && matches!(t, 1..=3)).then_some(t as u8)
    });
    out
}

#[test]
fn every_ipvs_message_decodes_completely_and_reencodes_to_the_capture() {
    let mut requests = 0;
    let mut replies = 0;
    for c in load() {
        for (i, m) in c.msgs.iter().enumerate() {
            if !c.is_ipvs(m) {
                assert!(
                    matches!(m.ty, NLMSG_ERROR | NLMSG_DONE),
                    "{}: message {i} of type {} is neither IPVS nor an ack/done",
                    c.file,
                    m.ty
                );
                continue;
            }
            let what = format!("{} ({}) message {i}", c.file, c.cmd);
            let msg = c.decode(m);
            assert_eq!(msg.version, 1, "{what}: genl version");
            assert_all_known(&what, &msg);
            let again = msg.encode().unwrap();
            assert_eq!(
                hex(&without_nested_flag(&again)),
                hex(&without_nested_flag(m.payload())),
                "{what}: re-encoding differs"
            );
            let has_nest = msg.attrs.iter().any(|a| {
                matches!(
                    a,
                    CmdAttr::Service(_) | CmdAttr::Dest(_) | CmdAttr::Daemon(_)
                )
            });
            // libnl sets NLA_F_NESTED on nests, the kernel never does.
            assert_eq!(
                without_nested_flag(m.payload()) != m.payload(),
                m.req && has_nest,
                "{what}: NLA_F_NESTED"
            );
            if m.req {
                // Requests carry NLA_F_NESTED, as ours do: byte-identical.
                assert_eq!(hex(&again), hex(m.payload()), "{what}: request re-encoding");
                requests += 1;
            } else {
                replies += 1;
            }
        }
    }
    // Every capture starts with GET_INFO and its reply; 86 files, plus the
    // real work (counted with awk from the files: 0x20-typed lines).
    assert_eq!((requests, replies), (370, 403));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_capture_starts_with_get_info_answered_1_2_1_size_4096() {
    for c in load() {
        let first = c.msgs.first().unwrap();
        assert!(first.req && c.is_ipvs(first), "{}", c.file);
        assert_eq!(
            hex(first.payload()),
            hex(&wire::get_info().encode().unwrap()),
            "{}",
            c.file
        );
        let answers: Vec<_> = c.replies_to(first);
        let info = answers.iter().find(|m| c.is_ipvs(m)).unwrap();
        let info = wire::parse_info(&c.decode(info)).unwrap();
        assert_eq!(
            (info.version, info.conn_tab_size),
            (0x01_02_01, 4096),
            "{}",
            c.file
        );
        if let Some(banner) = c.out.iter().find(|l| l.starts_with("IP Virtual Server")) {
            assert_eq!(
                banner,
                &format!("IP Virtual Server version {info}"),
                "{}",
                c.file
            );
        }
    }
}

// ---------------------------------------------------------------------------
// 2. Requests: ours against ipvsadm's.

/// The top-level attribute of `kind` in a payload, header included, as
/// bytes (NLA_F_NESTED ignored when matching).
fn top_attr(payload: &[u8], kind: u16) -> Vec<u8> {
    let body = &payload[4..];
    let found: Vec<_> = nla(body)
        .into_iter()
        .filter(|(k, _, _)| k & !NLA_F_NESTED == kind)
        .collect();
    assert_eq!(found.len(), 1, "attribute {kind} in {}", hex(payload));
    let (_, off, p) = found[0];
    body[off..off + 4 + p.len()].to_vec()
}

fn nested_service(msg: &IpvsMessage) -> &[SvcAttr] {
    match msg.attrs.as_slice() {
        [CmdAttr::Service(v), ..] => v,
        other => panic!("no leading IPVS_CMD_ATTR_SERVICE in {other:?}"),
    }
}

/// ipvsadm (libipvs) sends a whole service even where only its identity
/// matters (`-D`, `-Z SVC`, `-L SVC`, and the service part of `-a/-e/-d`):
/// the key, then an empty scheduler name, `FLAGS` 0 with a full mask,
/// timeout 0 and some netmask. The kernel reads only the key there (an
/// empty `SCHED_NAME` is never looked up), so our builders send the key
/// alone. Checks that the captured service is our key followed by exactly
/// that filler, and that decoding it yields the same key.
fn assert_same_service_identity(what: &str, captured: &[SvcAttr], key: &ServiceKey) {
    let ours = wire::service_key_attrs(key);
    assert!(
        captured.len() > ours.len() && captured[..ours.len()] == ours[..],
        "{what}: captured service {captured:?} does not start with our key {ours:?}"
    );
    for a in &captured[ours.len()..] {
        let filler = match a {
            SvcAttr::SchedName(n) => n.is_empty(),
            SvcAttr::Flags(f) => {
                *f == IpVsFlags {
                    flags: 0,
                    mask: u32::MAX,
                }
            }
            SvcAttr::Timeout(t) => *t == 0,
            SvcAttr::Netmask(_) => true,
            _ => false,
        };
        assert!(filler, "{what}: {a:?} is more than identity");
    }
    let decoded = wire::service_from_attrs(captured).unwrap();
    assert_eq!(&decoded.key, key, "{what}: decoded key");
}

fn assert_identical(what: &str, captured: &Msg, ours: &IpvsMessage) {
    assert_eq!(
        hex(captured.payload()),
        hex(&ours.encode().unwrap()),
        "{what}: our request differs from ipvsadm's"
    );
}

/// Compares the requests of one capture with what our builders make for
/// the same command. `before` is the table before the command (a listing
/// asks for the real servers of each service it finds).
fn check_requests(c: &Capture, step: &Step, before: &State) {
    let what = format!("{} ({})", c.file, c.cmd);
    let reqs = c.requests();
    for (m, _) in &reqs {
        let dump = matches!(step.op, Op::List(_) | Op::ListDaemons)
            && !matches!((&step.op, m.payload()[0]), (Op::List(Some(_)), 4));
        let want = NLM_F_REQUEST | NLM_F_ACK | if dump { NLM_F_DUMP } else { 0 };
        assert_eq!(m.flags, want, "{what}: nlmsg_flags");
    }
    let one = || {
        assert_eq!(reqs.len(), 1, "{what}: number of requests");
        &reqs[0]
    };
    match &step.op {
        Op::Flush => assert_identical(&what, one().0, &wire::flush()),
        Op::AddSvc(k, s) => assert_identical(&what, one().0, &wire::new_service(k, s)),
        Op::EditSvc(k, s) => assert_identical(&what, one().0, &wire::set_service(k, s)),
        Op::SetTimeouts(t) => assert_identical(&what, one().0, &wire::set_config(t)),
        Op::GetTimeouts => assert_identical(&what, one().0, &wire::get_config()),
        Op::StartDaemon(d) => assert_identical(&what, one().0, &wire::new_daemon(d)),
        Op::ListDaemons => assert_identical(&what, one().0, &wire::get_daemon()),
        Op::Zero(None) => assert_identical(&what, one().0, &wire::zero(None)),
        Op::Zero(Some(k)) => {
            let (_, msg) = one();
            let ours = wire::zero(Some(k));
            assert_eq!(msg.cmd, ours.cmd, "{what}");
            assert_eq!(msg.attrs.len(), 1, "{what}");
            assert_same_service_identity(&what, nested_service(msg), k);
        }
        Op::DelSvc(k) => {
            let (_, msg) = one();
            let ours = wire::del_service(k);
            assert_eq!(msg.cmd, ours.cmd, "{what}");
            assert_eq!(msg.attrs.len(), 1, "{what}");
            assert_same_service_identity(&what, nested_service(msg), k);
        }
        Op::AddRs(k, dk, dest) | Op::EditRs(k, dk, dest) => {
            let (m, msg) = one();
            let ours = match step.op {
                Op::AddRs(..) => wire::new_dest(k, dk, dest),
                _ => wire::set_dest(k, dk, dest),
            };
            assert_eq!(msg.cmd, ours.cmd, "{what}");
            assert_eq!(msg.attrs.len(), 2, "{what}");
            assert_same_service_identity(&what, nested_service(msg), k);
            // The real server itself is byte-identical, attribute order and
            // tunnel attributes (zero unless tunnelling) included.
            let ours = ours.encode().unwrap();
            assert_eq!(
                hex(&top_attr(m.payload(), 2)),
                hex(&top_attr(&ours, 2)),
                "{what}: IPVS_CMD_ATTR_DEST"
            );
        }
        Op::DelRs(k, dk) => {
            // ipvsadm sends the whole default real server (-g -w 1, zero
            // tunnel and thresholds); the kernel looks it up by address
            // and port only, which is all we send.
            let (_, msg) = one();
            let ours = wire::del_dest(k, dk);
            assert_eq!(msg.cmd, ours.cmd, "{what}");
            assert_same_service_identity(&what, nested_service(msg), k);
            let [_, CmdAttr::Dest(captured)] = msg.attrs.as_slice() else {
                panic!("{what}: attributes {:?}", msg.attrs)
            };
            let [_, CmdAttr::Dest(ours)] = ours.attrs.as_slice() else {
                unreachable!()
            };
            assert_eq!(&captured[..ours.len()], &ours[..], "{what}: dest identity");
            let decoded = wire::dest_from_attrs(captured, k.af()).unwrap();
            assert_eq!(&decoded.key, dk, "{what}: decoded dest key");
        }
        Op::StopDaemon(state) => {
            // ipvsadm adds an empty interface name and syncid 0, which the
            // kernel ignores when stopping: we send the state alone.
            let (_, msg) = one();
            let ours = wire::del_daemon(*state);
            assert_eq!(msg.cmd, ours.cmd, "{what}");
            let [CmdAttr::Daemon(captured)] = msg.attrs.as_slice() else {
                panic!("{what}: attributes {:?}", msg.attrs)
            };
            assert_eq!(
                captured,
                &vec![
                    DaemonAttr::State(state.number()),
                    DaemonAttr::McastIfn(String::new()),
                    DaemonAttr::SyncId(0),
                ],
                "{what}"
            );
            assert_eq!(
                ours.attrs,
                vec![CmdAttr::Daemon(vec![DaemonAttr::State(state.number())])]
            );
        }
        Op::List(key) => {
            let mut rest = reqs.iter();
            let (first, msg) = rest.next().expect("GET_SERVICE");
            let services: Vec<ServiceKey> = match key {
                None => {
                    assert_identical(&what, first, &wire::get_service(None));
                    before.table.services.keys().copied().collect()
                }
                Some(k) => {
                    // ipvsadm asks for one service with a whole service
                    // attribute; see assert_same_service_identity.
                    assert_eq!(msg.cmd, IpvsCmd::GetService, "{what}");
                    assert_same_service_identity(&what, nested_service(msg), k);
                    vec![*k]
                }
            };
            // Then one GET_DEST dump per service, in the kernel's (hash)
            // order, each byte-identical to ours.
            let mut want: Vec<String> = services
                .iter()
                .map(|k| hex(&wire::get_dests(k).encode().unwrap()))
                .collect();
            let mut got: Vec<String> = rest.map(|(m, _)| hex(m.payload())).collect();
            want.sort();
            got.sort();
            assert_eq!(got, want, "{what}: GET_DEST requests");
        }
    }
}

// ---------------------------------------------------------------------------
// 3. What the kernel answered, against what the commands programmed.

/// What the commands so far have programmed into the kernel.
#[derive(Debug, Clone)]
struct State {
    table: Table,
    timeouts: Timeouts,
    daemons: BTreeMap<u32, SyncDaemon>,
}

impl State {
    fn new() -> State {
        State {
            table: Table::new(),
            // The kernel's defaults: TCP 15 min, FIN_WAIT 2 min, UDP 5 min.
            timeouts: Timeouts {
                tcp: 900,
                tcp_fin: 120,
                udp: 300,
            },
            daemons: BTreeMap::new(),
        }
    }

    /// The errno the kernel must answer `op` with in this state (as
    /// `ip_vs_genl_set_cmd` and friends check).
    fn errno(&self, op: &Op) -> i32 {
        let has = |k: &ServiceKey| self.table.get(k).is_some();
        let has_rs = |k: &ServiceKey, d: &DestKey| {
            self.table.get(k).is_some_and(|vs| vs.dests.contains_key(d))
        };
        match op {
            Op::AddSvc(k, _) if has(k) => EEXIST,
            // No scheduler module of that name.
            Op::AddSvc(_, s) if matches!(s.sched, Scheduler::Other(_)) => ENOENT,
            Op::EditSvc(k, _) | Op::DelSvc(k) | Op::Zero(Some(k)) if !has(k) => ESRCH,
            Op::AddRs(k, ..) | Op::EditRs(k, ..) | Op::DelRs(k, _) if !has(k) => ESRCH,
            Op::AddRs(k, d, _) if has_rs(k, d) => EEXIST,
            Op::EditRs(k, d, _) | Op::DelRs(k, d) if !has_rs(k, d) => ENOENT,
            Op::StartDaemon(d) if self.daemons.contains_key(&d.state.number()) => EEXIST,
            Op::StopDaemon(s) => {
                assert!(
                    self.daemons.contains_key(&s.number()),
                    "stopping a daemon that isn't running is not modelled"
                );
                0
            }
            _ => 0,
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Flush => self.table = Table::new(),
            Op::AddSvc(k, s) | Op::EditSvc(k, s) => {
                self.table.insert_service(*k, s.clone());
            }
            Op::DelSvc(k) => {
                self.table.remove_service(k);
            }
            Op::AddRs(k, d, dest) | Op::EditRs(k, d, dest) => {
                assert!(self.table.insert_dest(k, *d, *dest));
            }
            Op::DelRs(k, d) => {
                self.table.remove_dest(k, d);
            }
            Op::SetTimeouts(t) => {
                // 0 leaves a timeout as it is.
                let keep = |new: u32, old: u32| if new == 0 { old } else { new };
                self.timeouts = Timeouts {
                    tcp: keep(t.tcp, self.timeouts.tcp),
                    tcp_fin: keep(t.tcp_fin, self.timeouts.tcp_fin),
                    udp: keep(t.udp, self.timeouts.udp),
                };
            }
            Op::StartDaemon(d) => {
                self.daemons.insert(d.state.number(), d.clone());
            }
            Op::StopDaemon(s) => {
                self.daemons.remove(&s.number());
            }
            Op::Zero(_) | Op::List(_) | Op::GetTimeouts | Op::ListDaemons => {}
        }
    }

    /// A daemon as the kernel reports it: what was not given takes the
    /// kernel's default (group 224.0.0.81 or as given, port 8848, TTL 1,
    /// max message length = dummy0's MTU 1500 minus IP and UDP headers).
    fn daemon_as_dumped(d: &SyncDaemon) -> SyncDaemon {
        let group = d.mcast_group.unwrap_or("224.0.0.81".parse().unwrap());
        let headers = match group {
            IpAddr::V4(_) => 20 + 8,
            IpAddr::V6(_) => 40 + 8,
        };
        SyncDaemon {
            sync_maxlen: Some(d.sync_maxlen.unwrap_or(1500 - headers)),
            mcast_group: Some(group),
            mcast_port: Some(d.mcast_port.unwrap_or(8848)),
            mcast_ttl: Some(d.mcast_ttl.unwrap_or(1)),
            ..d.clone()
        }
    }
}

/// The errno in the `NLMSG_ERROR` answering `req` (0 for an ack), after
/// checking it echoes the request.
fn ack_errno(c: &Capture, req: &Msg) -> i32 {
    let acks: Vec<_> = c
        .replies_to(req)
        .into_iter()
        .filter(|m| m.ty == NLMSG_ERROR)
        .collect();
    assert_eq!(acks.len(), 1, "{}: one ack for seq {}", c.file, req.seq);
    let p = acks[0].payload();
    let error = i32::from_le_bytes(p[..4].try_into().unwrap());
    // Errors echo the whole request; acks only its header (NLM_F_CAPPED).
    let echoed = &p[4..];
    if error == 0 {
        assert_eq!(acks[0].flags, 0x100, "{}: ack flags", c.file);
        assert_eq!(
            hex(echoed),
            hex(&req.bytes[..16]),
            "{}: echoed header",
            c.file
        );
    } else {
        assert_eq!(hex(echoed), hex(&req.bytes), "{}: echoed request", c.file);
    }
    -error
}

/// The IPVS parts of the dump answering `req`; checks it ends with
/// `NLMSG_DONE` and has no error.
fn dump_parts(c: &Capture, req: &Msg) -> Vec<IpvsMessage> {
    let replies = c.replies_to(req);
    let (done, parts) = replies.split_last().expect("dump replies");
    assert_eq!(done.ty, NLMSG_DONE, "{}: dump end", c.file);
    parts
        .iter()
        .map(|m| {
            assert!(
                c.is_ipvs(m),
                "{}: non-IPVS dump part {}",
                c.file,
                hex(&m.bytes)
            );
            assert_eq!(m.flags, 0x2, "{}: dump parts are NLM_F_MULTI", c.file);
            c.decode(m)
        })
        .collect()
}

/// The services and real servers the capture's replies hold.
fn dumped(c: &Capture, key: Option<&ServiceKey>) -> Vec<(ServiceEntry, Vec<DestEntry>)> {
    let reqs = c.requests();
    let (first, _) = &reqs[0];
    let services: Vec<ServiceEntry> = match key {
        None => dump_parts(c, first)
            .iter()
            .map(|m| {
                assert_hashed(c, m);
                wire::parse_service(m).unwrap()
            })
            .collect(),
        Some(_) => {
            assert_eq!(ack_errno(c, first), 0);
            let answers: Vec<_> = c
                .replies_to(first)
                .into_iter()
                .filter(|m| c.is_ipvs(m))
                .collect();
            assert_eq!(answers.len(), 1, "{}: one service", c.file);
            let msg = c.decode(answers[0]);
            assert_hashed(c, &msg);
            vec![wire::parse_service(&msg).unwrap()]
        }
    };
    services
        .into_iter()
        .map(|svc| {
            let ask = hex(&wire::get_dests(&svc.key).encode().unwrap());
            let (req, _) = reqs
                .iter()
                .find(|(m, _)| hex(m.payload()) == ask)
                .unwrap_or_else(|| panic!("{}: no GET_DEST for {}", c.file, svc.key));
            let dests = dump_parts(c, req)
                .iter()
                .map(|m| wire::parse_dest(m, svc.key.af()).unwrap())
                .collect();
            (svc, dests)
        })
        .collect()
}

/// The kernel reports `IP_VS_SVC_F_HASHED` in every service it holds,
/// which no one configures: parsing must drop it for dumps to compare equal
/// to configuration.
fn assert_hashed(c: &Capture, msg: &IpvsMessage) {
    let flags = nested_service(msg).iter().find_map(|a| match a {
        SvcAttr::Flags(f) => Some(*f),
        _ => None,
    });
    let flags = flags.unwrap_or_else(|| panic!("{}: no FLAGS in {msg:?}", c.file));
    assert_eq!(
        flags.flags & wire::IP_VS_SVC_F_HASHED,
        wire::IP_VS_SVC_F_HASHED,
        "{}",
        c.file
    );
    assert_eq!(flags.mask, u32::MAX, "{}", c.file);
}

fn to_table(entries: &[(ServiceEntry, Vec<DestEntry>)]) -> Table {
    let mut t = Table::new();
    for (svc, dests) in entries {
        assert!(t.get(&svc.key).is_none(), "{} dumped twice", svc.key);
        let vs = t.insert_service(svc.key, svc.service.clone());
        for d in dests {
            assert!(
                vs.dests.insert(d.key, d.dest).is_none(),
                "{} dumped twice",
                d.key
            );
        }
    }
    t
}

#[test]
fn requests_acks_and_dumps_follow_the_commands() {
    let caps = load();
    let steps = steps();
    assert_eq!(caps.len(), steps.len());
    let mut state = State::new();
    let mut checked_dumps = 0;
    let mut listed_rows = 0;
    for (c, step) in caps.iter().zip(&steps) {
        assert_eq!(c.cmd, step.cmd);
        let what = format!("{} ({})", c.file, c.cmd);
        check_requests(c, step, &state);

        // The kernel's verdict: as the table up to here predicts, as the
        // step says, and as ipvsadm's exit code says.
        let predicted = state.errno(&step.op);
        assert_eq!(predicted, step.errno, "{what}: step's errno vs the model");
        let reqs = c.requests();
        match &step.op {
            // Dumps answer with NLMSG_DONE, checked in dump_parts; a single
            // GET_SERVICE's ack is checked in dumped.
            Op::List(_) | Op::ListDaemons => {}
            _ => {
                let (req, _) = &reqs[0];
                assert_eq!(ack_errno(c, req), step.errno, "{what}: kernel errno");
            }
        }
        assert_eq!(
            c.exit,
            if step.errno == 0 { 0 } else { 255 },
            "{what}: exit"
        );
        if step.errno == 0 {
            state.apply(&step.op);
        }

        match &step.op {
            Op::List(key) => {
                let entries = dumped(c, key.as_ref());
                let table = to_table(&entries);
                let mut want = state.table.clone();
                if let Some(k) = key {
                    want.services.retain(|s, _| s == k);
                }
                assert_eq!(table, want, "{what}: dumped table");
                for (svc, dests) in &entries {
                    // Nothing went through these services.
                    assert_eq!(svc.stats, Stats::default(), "{what}: {}", svc.key);
                    for d in dests {
                        assert_eq!(d.stats, Stats::default(), "{what}: {}", d.key);
                        assert_eq!(
                            (d.active_conns, d.inact_conns, d.persist_conns),
                            (0, 0, 0),
                            "{what}: {}",
                            d.key
                        );
                    }
                }
                let rows = listing(&c.cmd, &entries);
                assert_eq!(
                    rows,
                    listing_rows(&c.out),
                    "{what}: ipvsadm printed other values from the same bytes"
                );
                listed_rows += rows.len();
                if c.cmd == "ipvsadm -Sn" {
                    assert_eq!(table.to_string(), EXPECTED_SN, "{what}");
                    assert_eq!(
                        table.to_string(),
                        format!("{}\n", c.out.join("\n")),
                        "{what}"
                    );
                }
                checked_dumps += 1;
            }
            Op::GetTimeouts => {
                let (req, _) = &reqs[0];
                let answer: Vec<_> = c
                    .replies_to(req)
                    .into_iter()
                    .filter(|m| c.is_ipvs(m))
                    .collect();
                assert_eq!(answer.len(), 1, "{what}");
                let t = wire::parse_config(&c.decode(answer[0])).unwrap();
                assert_eq!(t, state.timeouts, "{what}");
                assert_eq!(
                    c.out,
                    vec![format!(
                        "Timeout (tcp tcpfin udp): {} {} {}",
                        t.tcp, t.tcp_fin, t.udp
                    )],
                    "{what}"
                );
                checked_dumps += 1;
            }
            Op::ListDaemons => {
                let (req, _) = &reqs[0];
                let mut got: Vec<SyncDaemon> = dump_parts(c, req)
                    .iter()
                    .map(|m| wire::parse_daemon(m).unwrap())
                    .collect();
                got.sort_by_key(|d| d.state.number());
                let want: Vec<SyncDaemon> = state
                    .daemons
                    .values()
                    .map(State::daemon_as_dumped)
                    .collect();
                assert_eq!(got, want, "{what}");
                let printed: Vec<String> = got.iter().map(daemon_line).collect();
                assert_eq!(printed, c.out, "{what}");
                checked_dumps += 1;
            }
            _ => {}
        }
    }
    // -Ln x2, -Sn, -Ln SVC x2, stats, rate, thresholds, persistent-conn,
    // tun-info; two timeouts; three daemon listings.
    assert_eq!(checked_dumps, 10 + 2 + 3);
    // 43 services and real servers in each of the seven full listings
    // (-Sn included), 9 + 2 in the two single-service ones, none after -C.
    assert_eq!(listed_rows, 7 * 43 + 9 + 2);
    assert!(state.table.is_empty() && state.daemons.is_empty());
    assert_eq!(
        state.timeouts,
        Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 60
        }
    );
}

/// `ipvsadm -L --daemon`'s line for one daemon.
fn daemon_line(d: &SyncDaemon) -> String {
    let state = match d.state {
        SyncState::Master => "master",
        SyncState::Backup => "backup",
    };
    format!(
        "{state} sync daemon (mcast={}, syncid={}, maxlen={}, group={}, port={}, ttl={})",
        d.mcast_ifn,
        d.syncid,
        d.sync_maxlen.unwrap(),
        d.mcast_group.unwrap(),
        d.mcast_port.unwrap(),
        d.mcast_ttl.unwrap()
    )
}

/// ipvsadm's listing as rows of whitespace-separated words, without the
/// banner and column headers.
fn listing_rows(out: &[String]) -> Vec<Vec<String>> {
    out.iter()
        .filter(|l| {
            !(l.starts_with("IP Virtual Server")
                || l.starts_with("Prot ")
                || l.starts_with("  -> RemoteAddress"))
        })
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// The rows ipvsadm prints for `cmd` (a `-L`/`-S` variant), made from what
/// we decoded, in ipvsadm's order (the table's).
fn listing(cmd: &str, entries: &[(ServiceEntry, Vec<DestEntry>)]) -> Vec<Vec<String>> {
    if cmd == "ipvsadm -Sn" {
        // Table's Display is this format; the caller also compares it as
        // text with EXPECTED_SN and the capture.
        return listing_rows(
            &to_table(entries)
                .to_string()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        );
    }
    let mode = cmd.split_whitespace().nth(2).unwrap_or("");
    let mut sorted: Vec<_> = entries.iter().collect();
    sorted.sort_by_key(|(s, _)| s.key);
    let mut rows = Vec::new();
    let counters = |st: &Stats, rate: bool| -> Vec<String> {
        let v = if rate {
            [st.cps, st.inpps, st.outpps, st.inbps, st.outbps]
        } else {
            [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes]
        };
        v.iter().map(u64::to_string).collect()
    };
    for (svc, dests) in sorted {
        let mut row: Vec<String> = match svc.key {
            ServiceKey::Inet { proto, addr, port } => {
                let name = match proto.number() {
                    6 => "TCP",
                    17 => "UDP",
                    132 => "SCTP",
                    n => panic!("protocol {n}"),
                };
                let ap = match addr {
                    IpAddr::V4(a) => format!("{a}:{port}"),
                    IpAddr::V6(a) => format!("[{a}]:{port}"),
                };
                vec![name.into(), ap]
            }
            ServiceKey::Fwmark { af, mark } => {
                let mut v = vec!["FWM".into(), mark.to_string()];
                if af == Af::Inet6 {
                    v.push("IPv6".into());
                }
                v
            }
        };
        match mode {
            "--stats" => row.extend(counters(&svc.stats, false)),
            "--rate" => row.extend(counters(&svc.stats, true)),
            _ => {
                let s = &svc.service;
                row.push(s.sched.name().into());
                if s.flags.contains(SvcFlags::PERSISTENT) {
                    row.extend(["persistent".into(), s.timeout.to_string()]);
                    if let Some(m) = s.netmask {
                        let m = match svc.key.af() {
                            Af::Inet => std::net::Ipv4Addr::from(m).to_string(),
                            Af::Inet6 => m.to_string(),
                        };
                        row.extend(["mask".into(), m]);
                    }
                }
                if let Some(pe) = &s.pe_name {
                    row.extend(["pe".into(), pe.clone()]);
                }
                if s.flags.contains(SvcFlags::ONEPACKET) {
                    row.push("ops".into());
                }
                let names: &[(SvcFlags, &str)] = match s.sched.name() {
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
                let set: Vec<&str> = names
                    .iter()
                    .filter(|(f, _)| s.flags.contains(*f))
                    .map(|(_, n)| *n)
                    .collect();
                if !set.is_empty() {
                    row.push(format!("({})", set.join(",")));
                }
            }
        }
        rows.push(row);
        for d in dests_sorted(dests) {
            let mut row = vec!["->".to_owned(), d.key.to_string()];
            let fwd = match d.dest.fwd {
                Fwd::Masq => "Masq",
                Fwd::Local => "Local",
                Fwd::Tunnel(_) => "Tunnel",
                Fwd::Route => "Route",
                Fwd::Bypass => "Bypass",
            };
            let n = |v: u32| v.to_string();
            match mode {
                "--stats" => row.extend(counters(&d.stats, false)),
                "--rate" => row.extend(counters(&d.stats, true)),
                "--thresholds" => row.extend([
                    n(d.dest.u_thresh),
                    n(d.dest.l_thresh),
                    n(d.active_conns),
                    n(d.inact_conns),
                ]),
                "--persistent-conn" => row.extend([
                    n(d.dest.weight),
                    n(d.persist_conns),
                    n(d.active_conns),
                    n(d.inact_conns),
                ]),
                "--tun-info" => {
                    let csum = |c: TunCsum| match c {
                        TunCsum::NoCsum => "-c",
                        TunCsum::Csum => "+c",
                        TunCsum::RemCsum => "r+c",
                    };
                    let info = match d.dest.fwd {
                        Fwd::Tunnel(Tunnel::Ipip) => "ipip".to_owned(),
                        Fwd::Tunnel(Tunnel::Gue { port, csum: c }) => {
                            format!("gue:{port}:{}", csum(c))
                        }
                        Fwd::Tunnel(Tunnel::Gre { csum: c }) => format!("gre:{}", csum(c)),
                        _ => "n/a".to_owned(),
                    };
                    row.extend([
                        fwd.to_owned(),
                        info,
                        n(d.dest.weight),
                        n(d.active_conns),
                        n(d.inact_conns),
                    ]);
                }
                _ => row.extend([
                    fwd.to_owned(),
                    n(d.dest.weight),
                    n(d.active_conns),
                    n(d.inact_conns),
                ]),
            }
            rows.push(row);
        }
    }
    rows
}

fn dests_sorted(dests: &[DestEntry]) -> Vec<&DestEntry> {
    let mut v: Vec<_> = dests.iter().collect();
    v.sort_by_key(|d| d.key);
    v
}
