//! The checker role's own configuration types. The daemon fills them from
//! the parsed keepalived.conf (src/check_map.rs), with every default already
//! resolved (checker → real server → virtual server → keepalived default), so
//! nothing here knows about the config language.
//!
//! `PartialEq` on these types is what a reload compares: a checker whose
//! real server and `CheckerCfg` are unchanged keeps its task and its state.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipvs::{Dest, DestKey, Service, ServiceKey};

use crate::hysteresis::RetryCfg;
use crate::script::Script;

/// Everything the LVS manager runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LvsCfg {
    pub virtual_servers: Vec<VsCfg>,
    /// global `rs_init_notifies`: run notify_up for real servers added at start.
    pub rs_init_notifies: bool,
    /// Write a NUL after each LVS FIFO line, as keepalived's master branch
    /// does (`write(fd, line, strlen + 1)`). Released versions up to 2.4.3,
    /// including Debian's 2.2.7, write the line without it.
    pub fifo_trailing_nul: bool,
    /// global `no_checker_emails`: a checker's alert is mailed only when its
    /// real server changes state.
    pub no_checker_emails: bool,
}

/// One `virtual_server` block (a `virtual_server_group` one expands to many
/// IPVS services, all with the same real servers).
#[derive(Debug, Clone, PartialEq)]
pub struct VsCfg {
    /// keepalived's `FMT_VS`: `[10.0.0.1]:tcp:80`, `FWM 5`, `[GROUP]:80`.
    /// Also the identity a reload matches on.
    pub name: String,
    pub services: Vec<(ServiceKey, Service)>,
    pub quorum: u32,
    pub hysteresis: u32,
    pub sorry_server: Option<SorryCfg>,
    pub omega: bool,
    /// `smtp_alert` resolved (own, else global checker/general, else off):
    /// mail quorum changes.
    pub smtp_alert: bool,
    /// `ha_suspend`: the checkers run only while `addr` is configured on
    /// this host (see crate::ha_suspend).
    pub ha_suspend: bool,
    /// The virtual server's own address (`virtual_server ADDR PORT`); None
    /// for fwmark and group virtual servers, which ha_suspend never matches.
    pub addr: Option<IpAddr>,
    pub quorum_up: Option<Script>,
    pub quorum_down: Option<Script>,
    pub real_servers: Vec<RsCfg>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SorryCfg {
    pub key: DestKey,
    pub dest: Dest,
    /// `sorry_server_inhibit`: kept in the table with weight 0 when unused.
    pub inhibit: bool,
    /// `FMT_RS` of the sorry server.
    pub name: String,
}

/// One `real_server` block.
#[derive(Debug, Clone, PartialEq)]
pub struct RsCfg {
    /// Key in the IPVS table (port already reset for DR/TUN/fwmark).
    pub key: DestKey,
    /// fwd, configured weight, thresholds.
    pub dest: Dest,
    /// keepalived's `FMT_RS`: `[192.168.1.2]:tcp:80`.
    pub name: String,
    pub inhibit_on_failure: bool,
    /// `smtp_alert` resolved (own, else global checker/general, else
    /// **on**, as keepalived keeps it for compatibility): mail its checkers'
    /// verdicts.
    pub smtp_alert: bool,
    pub notify_up: Option<Script>,
    pub notify_down: Option<Script>,
    pub checkers: Vec<CheckerCfg>,
}

/// One checker block, with every inherited option resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckerCfg {
    pub kind: CheckKind,
    /// Where and how to connect (unused by MISC_CHECK and FILE_CHECK).
    pub conn: ConnOpts,
    pub retry: u32,
    pub delay_loop: Duration,
    pub delay_before_retry: Duration,
    /// First probe at a random point in 0..warmup (keepalived adds 1 µs).
    pub warmup: Duration,
    pub alpha: bool,
    pub log_all_failures: bool,
}

impl CheckerCfg {
    pub fn retry_cfg(&self) -> RetryCfg {
        RetryCfg {
            retry: self.retry,
            delay_loop: self.delay_loop,
            delay_before_retry: self.delay_before_retry,
        }
    }
}

/// `connect_ip`/`connect_port` (resolved to a socket address), `bindto`,
/// `bind_port`, `bind_if`, `connect_timeout`, `fwmark` (SO_MARK).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnOpts {
    pub dst: SocketAddr,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    pub connect_timeout: Duration,
    pub fwmark: Option<u32>,
}

impl ConnOpts {
    pub fn new(dst: SocketAddr, connect_timeout: Duration) -> ConnOpts {
        ConnOpts {
            dst,
            bindto: None,
            bind_port: None,
            bind_if: None,
            connect_timeout,
            fwmark: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    Tcp,
    /// Boxed: the largest kind, and TCP_CHECKs are the many.
    Http(Box<HttpCfg>),
    Smtp(SmtpCfg),
    Dns(DnsCfg),
    Ping,
    Udp(UdpCfg),
    Misc(MiscCfg),
    File(FileCfg),
}

impl CheckKind {
    /// keepalived's checker name in log lines and dumps.
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "TCP_CHECK",
            CheckKind::Http(h) if h.tls.is_some() => "SSL_GET",
            CheckKind::Http(_) => "HTTP_GET",
            CheckKind::Smtp(_) => "SMTP_CHECK",
            CheckKind::Dns(_) => "DNS_CHECK",
            CheckKind::Ping => "PING_CHECK",
            CheckKind::Udp(_) => "UDP_CHECK",
            CheckKind::Misc(_) => "MISC_CHECK",
            CheckKind::File(_) => "FILE_CHECK",
        }
    }
}

/// `http_protocol`: 1.0 (default), 1.0C (adds `Connection: close`), 1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpProtocol {
    #[default]
    Http10,
    Http10Close,
    Http11,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpCfg {
    pub urls: Vec<UrlCfg>,
    pub protocol: HttpProtocol,
    /// Checker-level virtualhost (already defaulted from RS/VS).
    pub virtualhost: Option<String>,
    pub fast_recovery: bool,
    /// `Some` for SSL_GET.
    pub tls: Option<TlsCfg>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UrlCfg {
    pub path: String,
    /// MD5 of the body, 16 bytes.
    pub digest: Option<[u8; 16]>,
    /// Inclusive ranges; empty means 200-299.
    pub status_code: Vec<(u16, u16)>,
    pub virtualhost: Option<String>,
    /// `regex` and its companions: a PCRE2 pattern the response must (or,
    /// with `regex_no_match`, must not) match, as keepalived matches it (see
    /// `crate::bodyregex`).
    pub regex: Option<crate::bodyregex::RegexCfg>,
}

impl UrlCfg {
    pub fn status_ok(&self, code: u16) -> bool {
        if self.status_code.is_empty() {
            return (200..=299).contains(&code);
        }
        self.status_code
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

/// The root `SSL { }` block plus the checker's SNI choice.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsCfg {
    /// `ca FILE`. keepalived loads it but never asks OpenSSL to verify the
    /// server, so by default nothing is verified; `verify` turns chain
    /// verification against this CA on (host names are still not checked).
    pub ca: Option<PathBuf>,
    pub verify: bool,
    /// `certificate`/`key`: client authentication.
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `enable_sni`: send the url's virtualhost, else `sni_name`.
    pub enable_sni: bool,
    /// The checker's (or VS's) virtualhost, or `sni_name`.
    pub sni_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SmtpCfg {
    pub helo_name: String,
    /// Deprecated `host { }` sub-blocks: checked one after the other after
    /// the checker's own address; all must answer.
    pub extra_hosts: Vec<ConnOpts>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DnsCfg {
    /// `A`, `NS`, `CNAME`, `SOA` (default), `MX`, `TXT`, `AAAA`, `RRSIG`, `DNSKEY`.
    pub qtype: String,
    /// Empty is the root.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UdpCfg {
    pub payload: Option<Vec<u8>>,
    /// `require_reply`: `None` = no reply needed; nibble patterns otherwise
    /// (`(mask, value)` per byte; `X` nibbles have mask 0).
    pub require_reply: Option<Vec<(u8, u8)>>,
    pub min_reply_length: u16,
    pub max_reply_length: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MiscCfg {
    pub script: Script,
    pub timeout: Duration,
    pub dynamic: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileCfg {
    pub path: PathBuf,
    /// `weight` (0 = up iff the file holds 0) and `reverse`.
    pub weight: i64,
    pub reverse: bool,
}

/// keepalived's `inet_sockaddrtotrio`: `[addr]:proto:port`. Written out
/// by hand for IPv4: a large configuration names every real server at
/// start, and `format!` with `Ipv4Addr`'s `Display` cost a good part of
/// the checker process's start under qemu (issue 3 point 6).
pub fn trio(addr: IpAddr, proto: &str, port: u16) -> String {
    let IpAddr::V4(v4) = addr else {
        return format!("[{addr}]:{proto}:{port}");
    };
    let mut s = String::with_capacity(24 + proto.len());
    s.push('[');
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        push_decimal(&mut s, u32::from(octet));
    }
    s.push_str("]:");
    s.push_str(proto);
    s.push(':');
    push_decimal(&mut s, u32::from(port));
    s
}

fn push_decimal(s: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        s.push(char::from(d));
    }
}

/// The protocol word keepalived uses in service strings.
pub fn proto_word(key: &ServiceKey) -> &'static str {
    match key {
        ServiceKey::Inet { proto, .. } => match proto.number() {
            6 => "tcp",
            17 => "udp",
            132 => "sctp",
            _ => "?",
        },
        ServiceKey::Fwmark { .. } => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written IPv4 form is `format!`'s, digit for digit.
    #[test]
    fn trio_is_formats() {
        for (a, port) in [
            ("0.0.0.0", 0u16),
            ("10.0.0.1", 80),
            ("172.16.9.255", 65535),
            ("255.255.255.255", 8080),
            ("1.22.133.4", 9),
            ("2001:db8::1", 443),
            ("::ffff:10.0.0.1", 53),
        ] {
            let addr: IpAddr = a.parse().unwrap();
            for proto in ["tcp", "udp", "sctp", "none"] {
                assert_eq!(trio(addr, proto, port), format!("[{addr}]:{proto}:{port}"));
            }
        }
    }
}
