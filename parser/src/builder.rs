//! Keyword handlers: build the typed [`Config`] from keyword lines as the
//! engine walks the blocks. Messages follow keepalived's wording.

use crate::Loc;
use crate::diag::{Class, Diags};
use crate::engine::{Flow, Sink};
use crate::model::*;
use crate::reader::{INC_ALL, INC_BRACE, INC_MATCH, INC_READ, INC_WILDCARD, Line, Reader};
use crate::schema::{Ctx, Kind, Kw, Status};
use crate::values::*;
use std::net::IpAddr;
use std::sync::Arc;

const SEC: u64 = 1_000_000;
/// keepalived's TIMER_MAXIMUM is about 2^32 seconds; we take u32 seconds.
const TIMER_MAX: u64 = u32::MAX as u64 * SEC;

pub struct Builder {
    pub cfg: Config,
    inst: Option<VrrpInstance>,
    /// The address family of the instance being read, fixed by its first
    /// VIP, unicast peer or source address (keepalived's `vrrp->family`):
    /// true for IPv6.
    inst_v6: Option<bool>,
    script: Option<VrrpScript>,
    tfile: Option<TrackFile>,
    tproc: Option<TrackProcess>,
    sync: Option<SyncGroup>,
    tgroup: Option<TrackGroup>,
    vs: Option<VirtualServer>,
    rs: Option<RealServer>,
    /// The real servers of the virtual server being read, and the checkers
    /// of the real server being read: collected here and moved into an
    /// exactly sized Vec at the block's end (growing each Vec in place and
    /// shrinking it leaves the heap full of holes, about 15% more memory
    /// with 200,000 real servers).
    rs_list: Vec<RealServer>,
    chk_list: Vec<Checker>,
    chk: Option<Checker>,
    /// The common options of the checker being read (moved into an `Arc`
    /// at its end), and the last ones made, shared by the next checker if
    /// equal: generated configurations repeat the same checker settings for
    /// every real server.
    chk_common: CheckerCommon,
    last_common: Arc<CheckerCommon>,
    url: Option<Url>,
    /// keepalived's `conf_regex_pattern`: a `regex` waiting for the next url
    /// block that closes with a path.
    pending_regex: Option<(Vec<u8>, Loc)>,
    smtp_host: Option<CheckerCommon>,
    vsg: Option<VirtualServerGroup>,
    ssl: Option<SslCfg>,
    /// Name of the accepted-but-unmodelled block we are in (garp_group…).
    raw_block: Vec<String>,
    /// How many notification_email entries there were when the current
    /// block opened (keepalived warns about an empty block).
    emails_at_open: usize,
    /// keepalived numbers rules without a preference downwards from 16384.
    next_rule_pref: u32,
    /// An nftables table for VRRP was named (by `nftables`, or implied by
    /// `vrrp_iptables`): keepalived ignores a second one.
    vrrp_nftables: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            cfg: Config::default(),
            inst: None,
            inst_v6: None,
            script: None,
            tfile: None,
            tproc: None,
            sync: None,
            tgroup: None,
            vs: None,
            rs: None,
            rs_list: Vec::new(),
            chk_list: Vec::new(),
            chk: None,
            chk_common: CheckerCommon::default(),
            last_common: Arc::default(),
            url: None,
            pending_regex: None,
            smtp_host: None,
            vsg: None,
            ssl: None,
            raw_block: Vec::new(),
            next_rule_pref: 16384,
            vrrp_nftables: false,
            emails_at_open: 0,
        }
    }
}

fn raw(line: &Line) -> Raw {
    Raw {
        keyword: line.w(0).to_string(),
        args: line.words().skip(1).map(str::to_string).collect(),
        loc: line.loc,
    }
}

/// A script keyword's command; None if keepalived would drop it.
fn script(line: &Line, d: &mut Diags) -> Option<Script> {
    let (argv, user, group) = command(line, d)?;
    Some(Script {
        argv,
        user,
        group,
        loc: line.loc,
    })
}

fn user_group(line: &Line) -> Option<(String, Option<String>)> {
    let u = line.word(1)?;
    let g = line.word(2).map(|g| g.trim_start_matches(':').to_string());
    Some((u.to_string(), g))
}

/// `lb_kind`/`lvs_method NAT|DR|TUN [type ipip|gue|gre] [port N]
/// [nocsum|csum|remcsum]` of a `virtual`, `real` or `sorry` server, checked
/// as keepalived's `svr_forwarding_handler` checks it (names are
/// case-sensitive; a bad tunnel option leaves the method set but no tunnel).
fn lvs_method(line: &Line, d: &mut Diags, s_type: &str) -> Option<LvsMethod> {
    let kind = match line.w(1) {
        "NAT" => LbKind::Nat,
        "DR" => LbKind::Dr,
        "TUN" => LbKind::Tun,
        "" if line.len() < 2 => {
            d.at(
                line.loc,
                Class::GeneralError,
                format!("{} requires a parameter", line.w(0)),
            );
            return None;
        }
        m => {
            d.at(
                line.loc_of(1),
                Class::GeneralError,
                format!("PARSER : unknown [{m}] routing method for {s_type} server."),
            );
            return None;
        }
    };
    let no_tunnel = Some(LvsMethod { kind, tunnel: None });
    let mut t = Tunnel::default();
    let mut i = 2;
    while i < line.len() {
        match line.w(i) {
            "type" => {
                let Some(ty) = line.word(i + 1) else {
                    d.at(
                        line.loc_of(i),
                        Class::GeneralError,
                        format!("Missing tunnel type for {s_type} server."),
                    );
                    return no_tunnel;
                };
                if !matches!(ty, "ipip" | "gue" | "gre") {
                    d.at(
                        line.loc_of(i + 1),
                        Class::GeneralError,
                        format!("Unknown tunnel type {ty} for {s_type} server."),
                    );
                    return no_tunnel;
                }
                t.tun_type = Some(ty.to_string());
                i += 2;
            }
            "port" => {
                let Some(p) = line.word(i + 1) else {
                    d.at(
                        line.loc_of(i),
                        Class::GeneralError,
                        format!("Missing port for {s_type} server gue tunnel."),
                    );
                    return no_tunnel;
                };
                match check_int(p, 1, 65535, false) {
                    Ok(v) => t.port = Some(v as u16),
                    Err(m) => {
                        d.at(line.loc_of(i + 1), Class::InvalidNumber, m);
                        d.at(
                            line.loc_of(i + 1),
                            Class::GeneralError,
                            format!("Invalid gue tunnel port {p} for {s_type} server."),
                        );
                        return no_tunnel;
                    }
                }
                i += 2;
            }
            w @ ("nocsum" | "csum" | "remcsum") => {
                t.csum = Some(w.to_string());
                i += 1;
            }
            w => {
                d.at(
                    line.loc_of(i),
                    Class::GeneralError,
                    format!("Invalid tunnel option {w} for {s_type} server."),
                );
                return no_tunnel;
            }
        }
    }
    let ty = t.tun_type.as_deref().unwrap_or("ipip");
    let csum = t.csum.as_deref().unwrap_or("nocsum");
    let problem = if (ty == "gue") != t.port.is_some() {
        Some("gue tunnels require port, otherwise cannot have port.")
    } else if ty == "ipip" && csum != "nocsum" {
        Some("ipip tunnels do not support checksum option.")
    } else if ty == "gre" && csum == "remcsum" {
        Some("gre tunnels do not support remote checksum option.")
    } else {
        None
    };
    if let Some(p) = problem {
        d.at(line.loc, Class::GeneralError, p);
        return no_tunnel;
    }
    let tunnel = (kind == LbKind::Tun && line.len() > 2).then(|| Box::new(t));
    Some(LvsMethod { kind, tunnel })
}

/// A global_defs `[BOOL]` (smtp_alert…); an invalid value leaves the
/// setting as it was, with keepalived's message.
fn global_bool(line: &Line, d: &mut Diags) -> Option<bool> {
    let Some(w) = line.word(1) else {
        return Some(true);
    };
    let b = parse_bool(w);
    if b.is_none() {
        d.at(
            line.loc_of(1),
            Class::GeneralError,
            format!("Invalid value '{w}' for global {} specified", line.w(0)),
        );
    }
    b
}

/// `garp_extra_if [all] SECS` (instance, `prefix` "(NAME): ", seconds from
/// 0) and `vrrp_garp_extra_if [all] SECS` (global, no prefix, from 1), read
/// as keepalived's two handlers read them (vrrp_parser.c
/// `vrrp_garp_extra_if_handler`, global_parser.c
/// `vrrp_vmac_garp_extra_if_handler`): `all` and the number in any order,
/// the last number winning; a bad word rejects the line, but an `all` read
/// before it still counts. Returns (`all` seen, the seconds if accepted).
fn garp_extra_if(line: &Line, d: &mut Diags, min: i64, prefix: &str) -> (bool, Option<u32>) {
    let kw = line.w(0);
    if let Some(new) = match kw {
        "vmac_garp_intvl" => Some("garp_extra_if"),
        "vrrp_vmac_garp_intvl" => Some("vrrp_garp_extra_if"),
        _ => None,
    } {
        d.at(
            line.loc,
            Class::Deprecated,
            format!("Keyword \"{kw}\" is deprecated - please use \"{new}\""),
        );
    }
    let mut all = false;
    let mut secs = None;
    for i in 1..line.len() {
        let w = line.w(i);
        if w == "all" {
            all = true;
            continue;
        }
        match check_int(w, min, 86400, false) {
            Ok(v) => secs = Some(v as u32),
            Err(m) => {
                d.at(line.loc_of(i), Class::InvalidNumber, m);
                d.at(
                    line.loc_of(i),
                    Class::GeneralError,
                    format!("{prefix}{kw} '{w}' invalid - ignoring"),
                );
                return (all, None);
            }
        }
    }
    if secs.is_none() {
        d.at(
            line.loc,
            Class::GeneralError,
            format!("{prefix}{kw} specified without time - ignoring"),
        );
    }
    (all, secs)
}

/// A port word as keepalived passes it on: none if it is all zeros.
fn nonzero_port(p: Option<&str>) -> Option<&str> {
    p.filter(|p| p.bytes().any(|c| c != b'0'))
}

/// Two characters `strtoul(.., 16)` reads completely (a blank or sign may
/// stand before a single digit).
fn hex_pair(p: &[u8]) -> bool {
    match p {
        [a, b] => {
            b.is_ascii_hexdigit()
                && (a.is_ascii_hexdigit()
                    || matches!(a, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | b'+' | b'-'))
        }
        _ => false,
    }
}

/// An address entry (`virtual_ipaddress`, `static_ipaddress`…).
fn ip_address(line: &Line, d: &mut Diags, allow_track_group: bool) -> Option<IpAddress> {
    let first = line.w(0);
    let Some((addr, prefix)) = parse_prefix(first) else {
        d.at(
            line.loc_of(0),
            Class::GeneralError,
            format!("VRRP parsed invalid IP {first}. skipping IP..."),
        );
        return None;
    };
    let mut a = IpAddress {
        addr,
        prefix,
        dev: None,
        scope: None,
        broadcast: None,
        label: None,
        peer: None,
        flags: Vec::new(),
        preferred_lft: None,
        track_group: None,
        loc: line.loc,
    };
    let mut i = 1;
    while i < line.len() {
        let w = line.w(i);
        let arg = line.word(i + 1).map(str::to_string);
        let needs_arg = matches!(
            w,
            "dev"
                | "scope"
                | "brd"
                | "broadcast"
                | "label"
                | "peer"
                | "preferred_lft"
                | "track_group"
        );
        if needs_arg && arg.is_none() {
            d.at(
                line.loc_of(i),
                Class::GeneralError,
                format!("Missing parameter for {w}"),
            );
            break;
        }
        match w {
            "dev" => a.dev = arg,
            "scope" => a.scope = arg,
            "brd" | "broadcast" => a.broadcast = arg,
            "label" => a.label = arg,
            "peer" => a.peer = arg,
            "preferred_lft" => a.preferred_lft = arg,
            "track_group" if allow_track_group => a.track_group = arg,
            "home" | "-nodad" | "nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin"
            | "no_track" | "use_vmac" => {
                a.flags.push(w.to_string());
                i += 1;
                continue;
            }
            _ => {
                d.at(
                    line.loc_of(i),
                    Class::GeneralError,
                    format!("Unknown configuration entry '{w}' for ip address - ignoring"),
                );
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    Some(a)
}

const ROUTE_TYPES: &[&str] = &[
    "unicast",
    "local",
    "broadcast",
    "multicast",
    "throw",
    "unreachable",
    "prohibit",
    "blackhole",
    "nat",
    "anycast",
];

fn route(line: &Line, d: &mut Diags) -> Option<Route> {
    let mut rt = Route {
        loc: line.loc,
        words: line.words().map(str::to_string).collect(),
        ..Route::default()
    };
    let mut i = 0;
    if ROUTE_TYPES.contains(&line.w(0)) {
        rt.route_type = Some(line.w(0).to_string());
        i = 1;
    }
    let mut have_dst = false;
    while i < line.len() {
        let w = line.w(i);
        let arg = line.word(i + 1).map(str::to_string);
        match w {
            "src" => {
                if !route_addr(line, i + 1, "src", d) {
                    return None;
                }
                rt.src = arg;
            }
            "via" | "gw" => {
                if w == "gw" {
                    d.at(
                        line.loc,
                        Class::Deprecated,
                        "\"gw\" for routes is deprecated. Please use \"via\"",
                    );
                }
                // An address family may come first (`via inet6 fe80::1`).
                if matches!(arg.as_deref(), Some("inet" | "inet6")) {
                    i += 1;
                }
                if !route_addr(line, i + 1, "via", d) {
                    return None;
                }
                rt.via = line.word(i + 1).map(str::to_string);
            }
            "or" => {
                d.at(
                    line.loc,
                    Class::Deprecated,
                    "\"or\" for routes is deprecated. Please use \"nexthop\"",
                );
                rt.nexthops
                    .push(vec!["via".into(), arg.unwrap_or_default()]);
            }
            "dev" | "oif" => rt.dev = arg,
            "table" => rt.table = arg,
            "metric" | "priority" | "preference" => {
                rt.metric = int(line, i + 1, 0, u32::MAX as i64, d).map(|v| v as u32)
            }
            "scope" => rt.scope = arg,
            "protocol" | "proto" => rt.protocol = arg,
            "no_track" => {
                rt.no_track = true;
                i += 1;
                continue;
            }
            "track_group" => rt.track_group = arg,
            "nexthop" => {
                let mut nh = Vec::new();
                i += 1;
                while i < line.len() && line.w(i) != "nexthop" {
                    nh.push(line.w(i).to_string());
                    i += 1;
                }
                rt.nexthops.push(nh);
                continue;
            }
            "onlink" | "inet" | "inet6" | "add" | "append" | "prepend" | "lock" => {
                i += 1;
                continue;
            }
            "tos" | "dsfield" | "mtu" | "advmss" | "rtt" | "rttvar" | "reordering" | "window"
            | "cwnd" | "initcwnd" | "initrwnd" | "ssthresh" | "rto_min" | "hoplimit" | "realms"
            | "features" | "quickack" | "congctl" | "fastopen_no_cookie" | "expires" | "pref"
            | "ttl-propagate" | "vrf" | "encap" => {
                // Option with a value; "lock" may precede it.
                if arg.as_deref() == Some("lock") {
                    i += 1;
                }
            }
            // keepalived takes any other word as the destination (a later
            // one replaces an earlier one); one it cannot parse drops the route.
            dst => {
                if dst == "to" {
                    i += 1;
                }
                let Some(w) = line.word(i) else {
                    break;
                };
                if !route_dst(line, i, d) {
                    return None;
                }
                have_dst = true;
                rt.dst = w.to_string();
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    if !have_dst {
        d.at(
            line.loc,
            Class::GeneralError,
            "Route must have a destination",
        );
        return None;
    }
    Some(rt)
}

/// A route destination (word `i`), checked as keepalived's `parse_route`
/// checks it: false, with its messages, if the route must be dropped. A bad
/// prefix length only warns (the full length is used).
fn route_dst(line: &Line, i: usize, d: &mut Diags) -> bool {
    let w = line.w(i);
    if matches!(w, "default" | "any" | "all" | "default6") {
        return true;
    }
    let v6 = w.contains(':');
    let max = if v6 { 128 } else { 32 };
    let (addr, prefix) = match w.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (w, None),
    };
    if let Some(p) = prefix
        && let Err(m) = check_int(p, 0, max, false)
    {
        d.at(line.loc_of(i), Class::InvalidNumber, m);
        d.at(
            line.loc_of(i),
            Class::GeneralError,
            format!("Invalid address prefix len {p} for address {w} - using {max}"),
        );
    }
    let ok = if v6 {
        addr.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        addr.parse::<std::net::Ipv4Addr>().is_ok()
    };
    if !ok {
        d.at(
            line.loc_of(i),
            Class::GeneralError,
            format!("VRRP parsed invalid IP {w}. skipping IP..."),
        );
        d.at(
            line.loc_of(i),
            Class::GeneralError,
            format!("unknown route keyword {w}"),
        );
    }
    ok
}

/// A route's `src`/`via` address (word `i`), checked as keepalived's
/// `parse_ipaddress` checks it (no prefix length); false, with keepalived's
/// two messages, if the route must be dropped.
fn route_addr(line: &Line, i: usize, what: &str, d: &mut Diags) -> bool {
    let Some(a) = line.word(i) else {
        return true;
    };
    if a.parse::<IpAddr>().is_ok() {
        return true;
    }
    d.at(
        line.loc_of(i),
        Class::GeneralError,
        format!("VRRP parsed invalid IP {a}. skipping IP..."),
    );
    d.at(
        line.loc_of(i),
        Class::GeneralError,
        format!("invalid route {what} address {a}"),
    );
    false
}

fn rule(line: &Line, d: &mut Diags, next_pref: &mut u32) -> Option<Rule> {
    let mut ru = Rule {
        loc: line.loc,
        words: line.words().map(str::to_string).collect(),
        ..Rule::default()
    };
    let mut i = 0;
    while i < line.len() {
        let w = line.w(i);
        let arg = line.word(i + 1).map(str::to_string);
        match w {
            "not" => {
                ru.not = true;
                i += 1;
                continue;
            }
            "from" | "to" => {
                let a = arg.clone().unwrap_or_default();
                if a != "all" && parse_prefix(&a).is_none() {
                    d.at(
                        line.loc,
                        Class::GeneralError,
                        format!("VRRP parsed invalid IP {a}. skipping IP..."),
                    );
                    d.at(
                        line.loc,
                        Class::GeneralError,
                        format!("Invalid rule {w} address {a}"),
                    );
                } else if w == "from" {
                    ru.from = arg;
                } else {
                    ru.to = arg;
                }
            }
            "priority" | "preference" | "order" | "pref" => {
                ru.preference = int(line, i + 1, 0, u32::MAX as i64, d).map(|v| v as u32)
            }
            "table" | "lookup" => ru.table = arg,
            "goto" | "type" => ru.action = Some(format!("{w} {}", arg.unwrap_or_default())),
            "nop" | "blackhole" | "prohibit" | "unreachable" | "l3mdev" | "inet" | "inet6" => {
                if !w.starts_with("inet") {
                    ru.action = Some(w.to_string());
                }
                i += 1;
                continue;
            }
            "no_track" => {
                ru.no_track = true;
                i += 1;
                continue;
            }
            "fwmark" => ru.fwmark = arg,
            "iif" | "dev" => ru.iif = arg,
            "oif" => ru.oif = arg,
            "track_group" => ru.track_group = arg,
            "realms"
            | "tos"
            | "dsfield"
            | "suppress_prefixlength"
            | "sup_pl"
            | "suppress_ifgroup"
            | "sup_group"
            | "uidrange"
            | "protocol"
            | "ipproto"
            | "sport"
            | "dport"
            | "tunnel-id" => {}
            other => {
                // keepalived drops the rule there.
                d.at(
                    line.loc_of(i),
                    Class::GeneralError,
                    format!("Unknown rule option {other}"),
                );
                return None;
            }
        }
        i += 2;
    }
    if ru.preference.is_none() {
        d.at(
            line.loc,
            Class::Warning,
            format!("Rule has no preference specified - setting to {next_pref}. This is probably not what you want."),
        );
        ru.preference = Some(*next_pref);
        *next_pref = next_pref.saturating_sub(1);
    }
    Some(ru)
}

/// One `track_*` entry of `owner` (an instance or sync group). The generic
/// number reader can't word this: the entry's first word is the tracked
/// object's name, not a keyword.
fn track_entry(line: &Line, d: &mut Diags, max: i64, owner: &str) -> Track {
    let mut t = Track {
        name: line.w(0).to_string(),
        weight: None,
        reverse: false,
        loc: line.loc,
    };
    let mut i = 1;
    while i < line.len() {
        match line.w(i) {
            "weight" => {
                // keepalived reads ±(max+1) (`read_int`) and takes it as ±max.
                let w = line.word(i + 1);
                let v = w.map(|w| check_int(w, -(max + 1), max + 1, true));
                if let Some(Err(m)) = &v {
                    d.at(line.loc_of(i + 1), Class::InvalidNumber, m.clone());
                }
                match v {
                    Some(Ok(v)) => t.weight = Some(v.clamp(-max, max) as i32),
                    _ => d.at(
                        line.loc_of(i + 1),
                        Class::GeneralError,
                        format!(
                            "({owner}) weight {} for {} must be between [-{max}..{max}] inclusive. Ignoring...",
                            line.w(i + 1),
                            t.name
                        ),
                    ),
                }
                i += 2;
            }
            "reverse" => {
                t.reverse = true;
                i += 1;
            }
            "noreverse" => i += 1,
            w => {
                d.at(
                    line.loc_of(i),
                    Class::GeneralError,
                    format!("Unknown track option '{w}' for {}", t.name),
                );
                i += 1;
            }
        }
    }
    t
}

fn fifo(line: &Line) -> Fifo {
    Fifo {
        path: line.w(1).to_string(),
        user: line.word(2).map(str::to_string),
        group: line.word(3).map(str::to_string),
        script: None,
    }
}

/// A checker timer (see [`Timer`]).
fn ctimer(line: &Line, i: usize, min: u64, d: &mut Diags) -> Option<Timer> {
    timer_lenient(line, i, min, TIMER_MAX, d).and_then(Timer::from_micros)
}

/// The value of a checker's common option; returns false if `kw` is not one.
fn checker_common(c: &mut CheckerCommon, line: &Line, d: &mut Diags) -> bool {
    match line.w(0) {
        "connect_ip" => c.connect_ip = ip(line, 1, d),
        "connect_port" => {
            c.connect_port = int_or_lenient(line, (1, 65535, false), d, |w| {
                format!("Invalid checker connect_port '{w}'")
            })
            .map(|v| v as u16)
        }
        "bindto" => c.bindto = ip(line, 1, d),
        "bind_port" => c.bind_port = int_lenient(line, 1, 1, 65535, d).map(|v| v as u16),
        "bind_if" => c.bind_if = line.word(1).map(Box::from),
        "connect_timeout" => c.connect_timeout = ctimer(line, 1, 1, d),
        "fwmark" => c.fwmark = int_lenient(line, 1, 0, u32::MAX as i64, d).map(|v| v as u32),
        "retry" | "nb_get_retry" => {
            if line.w(0) == "nb_get_retry" {
                d.at(
                    line.loc,
                    Class::Deprecated,
                    "nb_get_retry is deprecated - please use 'retry'",
                );
            }
            c.retry = int_lenient(line, 1, 0, u32::MAX as i64, d).map(|v| v as u32);
        }
        "delay_before_retry" => c.delay_before_retry = ctimer(line, 1, 0, d),
        "warmup" => c.warmup = ctimer(line, 1, 0, d),
        "delay_loop" => c.delay_loop = ctimer(line, 1, 1, d),
        "alpha" => c.alpha = Some(opt_bool(line, d)),
        "log_all_failures" => c.log_all_failures = Some(opt_bool(line, d)),
        _ => return false,
    }
    true
}

fn status_codes(line: &Line, d: &mut Diags) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    for i in 1..line.len() {
        let w = line.w(i);
        let (a, b) = w.split_once('-').unwrap_or((w, w));
        match (a.parse::<u16>(), b.parse::<u16>()) {
            (Ok(a), Ok(b)) if (100..=599).contains(&a) && (100..=599).contains(&b) && a <= b => {
                out.push((a, b))
            }
            _ => d.at(
                line.loc_of(i),
                Class::GeneralError,
                format!("Invalid HTTP_GET status code '{w}'"),
            ),
        }
    }
    out
}

/// The `vrrp_*` or `checker_*` scheduling settings a keyword sets.
fn sched<'a>(g: &'a mut GlobalDefs, keyword: &str) -> &'a mut crate::model::ProcessSched {
    if keyword.starts_with("vrrp_") {
        &mut g.vrrp_sched
    } else {
        &mut g.checker_sched
    }
}

impl Builder {
    fn not_supported(&mut self, r: &mut Reader, line_raw: Raw) {
        if line_raw.keyword == "bfd_rlimit_rtime" {
            // as the VRRP and checker forms (Debian's keepalived has BFD)
            r.diags.log(
                crate::Logger::Global,
                "Keyword 'bfd_rlimit_rtime' is deprecated - please use 'bfd_rlimit_rttime'",
            );
        }
        r.diags.note(
            line_raw.loc,
            format!(
                "keyword '{}' is accepted but not supported yet by keepalived-rs",
                line_raw.keyword
            ),
        );
        // Keep it in the nearest enclosing object so nothing is dropped.
        if let Some(u) = self.url.as_mut() {
            u.extra.push(line_raw);
        } else if let Some(i) = self.inst.as_mut() {
            i.extra.push(line_raw);
        } else if let Some(t) = self.tproc.as_mut() {
            t.extra.push(line_raw);
        } else if self.sync.is_none()
            && self.vs.is_none()
            && self.raw_block.is_empty()
            && self.script.is_none()
        {
            self.cfg.global_defs.extra.push(line_raw);
        } else {
            self.cfg.extra.push(line_raw);
        }
    }

    fn root(&mut self, r: &mut Reader, kw: &'static Kw) -> Flow {
        let line = &r.line;
        let name = line.word(1).map(str::to_string);
        let loc = line.loc;
        match kw.name {
            "global_defs" => {}
            "vrrp_instance" => {
                let Some(name) = name.filter(|_| line.len() == 2) else {
                    r.report_here(Class::GeneralError, "vrrp_instance must have a name");
                    return Flow::Skip;
                };
                if self.cfg.vrrp_instances.iter().any(|i| i.name == name) {
                    r.report_here(
                        Class::GeneralError,
                        format!("vrrp instance {name} already defined"),
                    );
                    return Flow::Skip;
                }
                self.inst_v6 = None;
                self.inst = Some(VrrpInstance {
                    name,
                    loc,
                    ..VrrpInstance::default()
                });
            }
            "vrrp_script" => {
                let Some(name) = name else {
                    r.report_here(Class::GeneralError, "vrrp_script must have a name");
                    return Flow::Skip;
                };
                self.script = Some(VrrpScript {
                    name,
                    loc,
                    interval: SEC,
                    rise: 1,
                    fall: 1,
                    ..VrrpScript::default()
                });
            }
            "track_file" | "vrrp_track_file" => {
                if kw.name == "vrrp_track_file" {
                    r.report_here(
                        Class::Deprecated,
                        "\"vrrp_track_file\" is deprecated, please use \"track_file\"",
                    );
                }
                let Some(name) = name else {
                    r.report_here(Class::GeneralError, "track_file must have a name");
                    return Flow::Skip;
                };
                self.tfile = Some(TrackFile {
                    name,
                    loc,
                    weight: 1,
                    ..TrackFile::default()
                });
            }
            "vrrp_track_process" => {
                let Some(name) = name else {
                    r.report_here(Class::GeneralError, "vrrp_track_process must have a name");
                    return Flow::Skip;
                };
                self.tproc = Some(TrackProcess {
                    name,
                    loc,
                    quorum: 1,
                    ..TrackProcess::default()
                });
            }
            "vrrp_sync_group" => {
                let Some(name) = name else {
                    r.report_here(
                        Class::GeneralError,
                        "vrrp_sync_group must have a name - skipping",
                    );
                    return Flow::Skip;
                };
                if self.cfg.sync_groups.iter().any(|g| g.name == name) {
                    r.report_here(
                        Class::GeneralError,
                        format!("vrrp sync group {name} already defined"),
                    );
                    return Flow::Skip;
                }
                self.sync = Some(SyncGroup {
                    name,
                    loc,
                    ..SyncGroup::default()
                });
            }
            "track_group" => {
                let Some(name) = name else {
                    r.report_here(
                        Class::GeneralError,
                        "track_group must have a name - skipping",
                    );
                    return Flow::Skip;
                };
                self.tgroup = Some(TrackGroup {
                    name,
                    loc,
                    group: Vec::new(),
                });
            }
            "virtual_server_group" => {
                let Some(name) = name else {
                    r.report_here(Class::GeneralError, "virtual_server_group must have a name");
                    return Flow::Skip;
                };
                self.vsg = Some(VirtualServerGroup {
                    name,
                    loc,
                    entries: Vec::new(),
                });
            }
            "virtual_server" => return self.open_vs(r),
            "SSL" => self.ssl = Some(SslCfg::default()),
            "garp_group" | "bfd_instance" => {
                self.raw_block.push(kw.name.to_string());
                let raw = raw(&r.line);
                if kw.status == Status::Accepted {
                    self.not_supported(r, raw);
                } else {
                    self.cfg.extra.push(raw);
                }
            }
            "static_ipaddress"
            | "static_routes"
            | "static_rules"
            | "linkbeat_interfaces"
            | "interface_up_down_delays" => {}
            "net_namespace" => self.cfg.root.net_namespace = name,
            "net_namespace_ipvs" => {
                self.cfg.root.net_namespace_ipvs = Some(name.unwrap_or_default())
            }
            "namespace_with_ipsets" => self.cfg.root.namespace_with_ipsets = true,
            "use_pid_dir" => self.cfg.root.use_pid_dir = true,
            "instance" => self.cfg.root.instance = name,
            "child_wait_time" => {
                let line = &r.line;
                self.cfg.root.child_wait_time =
                    int(line, 1, 0, u32::MAX as i64, &mut r.diags).map(|v| v as u32)
            }
            "linkbeat_use_polling" => self.cfg.root.linkbeat_use_polling = true,
            _ => unreachable!("root keyword {} without handler", kw.name),
        }
        Flow::Continue
    }

    fn open_vs(&mut self, r: &mut Reader) -> Flow {
        let line = &r.line;
        let loc = line.loc;
        let key = match line.w(1) {
            "fwmark" => match int(line, 2, 0, u32::MAX as i64, &mut r.diags) {
                Some(m) => VsKey::Fwmark { mark: m as u32 },
                None => return Flow::Skip,
            },
            "group" => match line.word(2) {
                Some(g) => VsKey::Group {
                    name: g.to_string(),
                },
                None => {
                    r.report_here(
                        Class::GeneralError,
                        "virtual_server group requires a group name",
                    );
                    return Flow::Skip;
                }
            },
            a => {
                let Ok(addr) = a.parse::<IpAddr>() else {
                    r.diags.at(
                        line.loc_of(1),
                        Class::GeneralError,
                        match nonzero_port(line.word(2)) {
                            Some(p) => {
                                format!("Invalid virtual server IP address/port {a}/{p} - skipping")
                            }
                            None => format!("Invalid virtual server IP address {a} - skipping"),
                        },
                    );
                    return Flow::Skip;
                };
                let port = if line.len() > 2 {
                    match int(line, 2, 0, 65535, &mut r.diags) {
                        Some(p) => p as u16,
                        None => return Flow::Skip,
                    }
                } else {
                    0
                };
                VsKey::Inet { addr, port }
            }
        };
        self.rs_list.clear();
        self.vs = Some(VirtualServer {
            key,
            delay_loop: None,
            lb_algo: None,
            lvs_method: None,
            persistence_timeout: None,
            persistence_granularity: None,
            persistence_engine: None,
            protocol: None,
            ops: false,
            sched_flags: 0,
            ip_family: None,
            sorry_server: None,
            sorry_server_inhibit: false,
            sorry_server_lvs_method: None,
            quorum: None,
            hysteresis: None,
            quorum_up: None,
            quorum_down: None,
            alpha: false,
            omega: false,
            inhibit_on_failure: false,
            ha_suspend: false,
            virtualhost: None,
            smtp_alert: None,
            snmp_name: None,
            weight: None,
            connect_timeout: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            real_servers: Vec::new(),
            loc,
        });
        Flow::Continue
    }

    fn global(&mut self, r: &mut Reader, kw: &'static Kw) {
        let line = &r.line;
        let g = &mut self.cfg.global_defs;
        let d = &mut r.diags;
        let s1 = || line.word(1).map(str::to_string);
        let u32v = |d: &mut crate::diag::Diags, min: i64, max: i64| {
            int_lenient(line, 1, min, max, d).map(|v| v as u32)
        };
        match kw.name {
            "router_id" => {
                if line.len() < 2 {
                    d.at(
                        line.loc,
                        Class::GeneralError,
                        "routerid name missing - ignoring",
                    );
                } else {
                    g.router_id = s1();
                }
            }
            "notification_email" => self.emails_at_open = g.notification_email.len(),
            "notification_email_from" => g.notification_email_from = s1(),
            "smtp_server" => {
                if let Some(h) = line.word(1) {
                    let port_str = line.word(2).unwrap_or("25");
                    let port = port_str.parse::<u16>().ok().filter(|p| *p > 0);
                    // keepalived takes an address, else resolves the name
                    // while reading the file (getaddrinfo), and rejects the
                    // line if neither works.
                    let known = port.is_some_and(|p| {
                        (!h.contains(['-', '/']) && h.parse::<IpAddr>().is_ok())
                            || std::net::ToSocketAddrs::to_socket_addrs(&(h, p))
                                .is_ok_and(|mut a| a.next().is_some())
                    });
                    match port {
                        Some(p) if known => g.smtp_server = Some((h.to_string(), p)),
                        _ => d.at(
                            line.loc_of(1),
                            Class::GeneralError,
                            format!("Invalid smtp server {h} {port_str}"),
                        ),
                    }
                }
            }
            "smtp_connect_timeout" => {
                g.smtp_connect_timeout = u32v(d, 0, u32::MAX as i64).map(|v| v.max(1))
            }
            "smtp_helo_name" => g.smtp_helo_name = s1(),
            "smtp_alert" => g.smtp_alert = global_bool(line, d).or(g.smtp_alert),
            "smtp_alert_vrrp" => g.smtp_alert_vrrp = global_bool(line, d).or(g.smtp_alert_vrrp),
            "smtp_alert_checker" => {
                g.smtp_alert_checker = global_bool(line, d).or(g.smtp_alert_checker)
            }
            "no_email_faults" => g.no_email_faults = true,
            "no_checker_emails" => g.no_checker_emails = opt_bool(line, d),
            "checker_log_all_failures" => g.checker_log_all_failures = opt_bool(line, d),
            "rs_init_notifies" => g.rs_init_notifies = opt_bool(line, d),
            "enable_script_security" => g.enable_script_security = true,
            "script_user" => g.script_user = user_group(line),
            "set_supplementary_groups" => g.set_supplementary_groups = opt_bool(line, d),
            "use_symlink_paths" => g.use_symlink_paths = opt_bool(line, d),
            "startup_script" => g.startup_script = script(line, d),
            "shutdown_script" => g.shutdown_script = script(line, d),
            "startup_script_timeout" => g.startup_script_timeout = u32v(d, 1, 1000),
            "shutdown_script_timeout" => g.shutdown_script_timeout = u32v(d, 1, 1000),
            "default_interface" => g.default_interface = s1(),
            "vrrp_mcast_group4" | "vrrp_mcast_group6" => {
                let a = ip(line, 1, d);
                let ok = match (kw.name, a) {
                    ("vrrp_mcast_group4", Some(IpAddr::V4(v))) => v.is_multicast(),
                    ("vrrp_mcast_group6", Some(IpAddr::V6(v))) => v.is_multicast(),
                    _ => false,
                };
                if a.is_some() && !ok {
                    d.at(
                        line.loc_of(1),
                        Class::GeneralError,
                        format!(
                            "{} '{}' is not a valid multicast address",
                            kw.name,
                            line.w(1)
                        ),
                    );
                } else if kw.name.ends_with('4') {
                    g.vrrp_mcast_group4 = a;
                } else {
                    g.vrrp_mcast_group6 = a;
                }
            }
            "vrrp_version" => g.vrrp_version = int_lenient(line, 1, 2, 3, d).map(|v| v as u8),
            "nftables" => {
                // keepalived's NFT_TABLE_MAXNAMELEN
                match line.word(1) {
                    Some(w) if w.len() >= 256 => {
                        d.at(
                            line.loc,
                            Class::GeneralError,
                            "nftables table name too long - ignoring",
                        );
                        self.vrrp_nftables = false;
                    }
                    w => {
                        g.nftables = Some(w.unwrap_or("keepalived").to_string());
                        // naming the table resets the priority, as keepalived
                        g.nftables_priority = None;
                    }
                }
            }
            "nftables_priority" => {
                let w = line.w(1);
                match lenient_int(w, (i32::MIN.into(), i32::MAX.into(), true), false) {
                    Ok(v) => g.nftables_priority = Some(v as i32),
                    Err((msg, _)) => {
                        d.at(line.loc_of(1), Class::InvalidNumber, msg);
                        d.at(
                            line.loc_of(1),
                            Class::InvalidNumber,
                            format!("invalid nftables chain priority '{w}'"),
                        );
                    }
                }
            }
            // mapped to `nftables` where it is read (see `keyword`)
            "vrrp_iptables" => {}
            "nftables_ifindex" => g.nftables_ifindex = true,
            "disable_local_igmp" => g.disable_local_igmp = true,
            "reload_check_config" => {
                g.reload_check_config = Some(line.word(1).unwrap_or("/dev/null").to_string())
            }
            "reload_file" => g.reload_file = Some(s1()),
            "reload_time_file" => {
                if line.len() == 2 {
                    g.reload_time_file = s1();
                } else {
                    d.at(line.loc, Class::GeneralError, "reload_time_file invalid");
                }
            }
            "reload_repeat" => g.reload_repeat = true,
            "nftables_counters" => g.nftables_counters = true,
            "vrrp_priority" | "checker_priority" => {
                let p = kw.name.split('_').next().unwrap_or("");
                let msg = |_: &str| format!("Invalid {p} process priority specified");
                if let Some(v) = int_or_lenient(line, (-20, 19, true), d, msg) {
                    sched(g, kw.name).priority = v as i32;
                }
            }
            "vrrp_no_swap" | "checker_no_swap" => sched(g, kw.name).no_swap = true,
            "vrrp_rt_priority" | "checker_rt_priority" => {
                // sched_get_priority_min/max(SCHED_RR)
                const MIN: i64 = 1;
                const MAX: i64 = 99;
                let p = kw.name.split('_').next().unwrap_or("");
                let msg = |w: &str| format!("{p} process real-time priority '{w}' invalid");
                let range = (i64::from(i32::MIN), i64::from(i32::MAX), true);
                if let Some(v) = int_or_lenient(line, range, d, msg) {
                    let v = if v < MIN {
                        d.at(
                            line.loc_of(1),
                            Class::GeneralError,
                            format!("{p} process real-time priority {v} less than minimum {MIN} - setting to minimum"),
                        );
                        MIN
                    } else if v > MAX {
                        d.at(
                            line.loc_of(1),
                            Class::GeneralError,
                            format!("{p} process real-time priority {v} greater than maximum {MAX} - setting to maximum"),
                        );
                        MAX
                    } else {
                        v
                    };
                    sched(g, kw.name).rt_priority = v as u32;
                }
            }
            "vrrp_rlimit_rttime"
            | "vrrp_rlimit_rtime"
            | "checker_rlimit_rttime"
            | "checker_rlimit_rtime" => {
                if let Some(stem) = kw.name.strip_suffix("rtime")
                    && !stem.ends_with('r')
                {
                    d.log(
                        crate::Logger::Global,
                        format!(
                            "Keyword '{}' is deprecated - please use '{stem}rttime'",
                            kw.name
                        ),
                    );
                }
                let p = kw.name.split('_').next().unwrap_or("");
                let msg = |w: &str| format!("Invalid {p} real-time limit - {w}");
                let v = int_or_lenient(line, (1, i64::from(u32::MAX), false), d, msg);
                // halved for the soft limit, which must not be 0
                sched(g, kw.name).rlimit_rttime = Some(v.map_or(0, |v| v.max(2)) as u64);
            }
            "vrrp_cpu_affinity" | "checker_cpu_affinity" => {
                let p = kw.name.split('_').next().unwrap_or("");
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
                let mut set = Vec::new();
                for i in 1..line.len() {
                    let w = line.w(i);
                    match lenient_int(w, (0, cpus - 1, true), d.run_time) {
                        Ok(v) => set.push(v as u32),
                        Err((m, used)) => {
                            d.at(line.loc_of(i), Class::InvalidNumber, m);
                            d.at(
                                line.loc_of(i),
                                Class::GeneralError,
                                // keepalived names the number it read,
                                // in range or not
                                format!(
                                    "Invalid cpu_id:{} specified for {p} process",
                                    w.trim().parse::<i64>().ok().or(used).unwrap_or(0)
                                ),
                            );
                            set.clear();
                            break;
                        }
                    }
                }
                sched(g, kw.name).cpu_affinity = set;
            }
            "process_names" => {
                g.vrrp_process_name = Some("keepalived_vrrp".into());
                g.checker_process_name = Some("keepalived_lvs".into());
            }
            "process_name" | "vrrp_process_name" | "checker_process_name" | "lvs_process_name" => {
                if kw.name == "lvs_process_name" {
                    d.log(
                        crate::Logger::Global,
                        "'lvs_process_name' is deprecated - please use 'checker_process_name'",
                    );
                }
                // TASK_COMM_LEN - 1
                const MAX: usize = 15;
                let w = line.w(1);
                let name = if w.len() > MAX {
                    d.at(
                        line.loc_of(1),
                        Class::GeneralError,
                        format!("Process name {w} more than {MAX} characters, truncating"),
                    );
                    let mut end = MAX;
                    while !w.is_char_boundary(end) {
                        end -= 1;
                    }
                    w[..end].to_string()
                } else {
                    w.to_string()
                };
                match kw.name {
                    "process_name" => g.process_name = Some(name),
                    "vrrp_process_name" => g.vrrp_process_name = Some(name),
                    _ => g.checker_process_name = Some(name),
                }
            }
            "min_auto_priority_delay" => {
                let msg = |w: &str| {
                    format!("min_auto_priority_delay '{w}' must be in [1, 10000000] - ignoring")
                };
                if let Some(v) = int_or_lenient(line, (1, 10_000_000, true), d, msg) {
                    g.min_auto_priority_delay = Some(v as u32);
                }
            }
            "max_auto_priority" => {
                // sched_get_priority_max(SCHED_RR)
                const MAX: i64 = 99;
                match line.word(1) {
                    None => g.max_auto_priority = Some(MAX as i32),
                    Some(w) => match lenient_int(w, (-1, MAX, true), d.run_time) {
                        Ok(v) => g.max_auto_priority = Some(v as i32),
                        Err((msg, used)) => {
                            d.at(line.loc_of(1), Class::InvalidNumber, msg);
                            match used {
                                Some(v) => g.max_auto_priority = Some(v as i32),
                                None => d.at(
                                    line.loc_of(1),
                                    Class::GeneralError,
                                    format!(
                                        "max_auto_priority '{w}' must be in [0, {MAX}] (or -1 to disable) - ignoring"
                                    ),
                                ),
                            }
                        }
                    },
                }
            }
            "vrrp_strict" => g.vrrp_strict = true,
            "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = opt_bool(line, d),
            "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = true,
            "vrrp_garp_interval" => g.vrrp_garp_interval = timer_lenient(line, 1, 0, TIMER_MAX, d),
            "vrrp_gna_interval" => g.vrrp_gna_interval = timer_lenient(line, 1, 0, TIMER_MAX, d),
            "vrrp_garp_master_delay" => g.vrrp_garp_master_delay = u32v(d, 0, u32::MAX as i64),
            "vrrp_garp_master_repeat" => {
                g.vrrp_garp_master_repeat = u32v(d, 0, u32::MAX as i64).map(|v| v.max(1))
            }
            "vrrp_garp_master_refresh" => g.vrrp_garp_master_refresh = u32v(d, 0, u32::MAX as i64),
            "vrrp_garp_master_refresh_repeat" => {
                g.vrrp_garp_master_refresh_repeat = u32v(d, 0, u32::MAX as i64).map(|v| v.max(1))
            }
            "vrrp_garp_lower_prio_delay" => {
                g.vrrp_garp_lower_prio_delay = u32v(d, 0, u32::MAX as i64)
            }
            "vrrp_garp_lower_prio_repeat" => {
                g.vrrp_garp_lower_prio_repeat = u32v(d, 0, u32::MAX as i64)
            }
            "vrrp_min_garp" => g.vrrp_min_garp = opt_bool(line, d),
            "vrrp_garp_extra_if" | "vrrp_vmac_garp_intvl" => {
                let (all, secs) = garp_extra_if(line, d, 1, "");
                g.vrrp_garp_extra_if_all |= all;
                if secs.is_some() {
                    g.vrrp_garp_extra_if = secs;
                }
            }
            "vrrp_down_timer_adverts" => g.vrrp_down_timer_adverts = u32v(d, 1, 100),
            "vrrp_lower_prio_no_advert" => g.vrrp_lower_prio_no_advert = Some(opt_bool(line, d)),
            "vrrp_higher_prio_send_advert" => {
                g.vrrp_higher_prio_send_advert = Some(opt_bool(line, d))
            }
            "vrrp_owner_ignore_adverts" => g.vrrp_owner_ignore_adverts = Some(opt_bool(line, d)),
            "v3_checksum_as_v2" => g.v3_checksum_as_v2 = opt_bool(line, d),
            "lvs_sync_daemon" => {
                let mut sd = LvsSyncDaemon {
                    interface: line.w(1).to_string(),
                    ..LvsSyncDaemon::default()
                };
                let mut i = 2;
                while i < line.len() {
                    match line.w(i) {
                        "inst" => sd.instance = line.word(i + 1).map(str::to_string),
                        "id" => sd.syncid = int(line, i + 1, 0, 255, d).map(|v| v as u8),
                        "maxlen" => sd.maxlen = int(line, i + 1, 1, 65507, d).map(|v| v as u16),
                        "port" => sd.port = int(line, i + 1, 1, 65535, d).map(|v| v as u16),
                        "ttl" => sd.ttl = int(line, i + 1, 1, 255, d).map(|v| v as u8),
                        "group" => sd.group = ip(line, i + 1, d),
                        w if i == 2 => {
                            sd.instance = Some(w.to_string());
                            i += 1;
                            continue;
                        }
                        w => {
                            d.at(
                                line.loc_of(i),
                                Class::GeneralError,
                                format!("Unknown lvs_sync_daemon option {w}"),
                            );
                            i += 1;
                            continue;
                        }
                    }
                    i += 2;
                }
                g.lvs_sync_daemon = Some(sd);
            }
            "lvs_timeouts" => {
                if line.len() < 2 {
                    d.at(
                        line.loc,
                        Class::GeneralError,
                        "lvs_timeouts requires at least one option",
                    );
                }
                let mut i = 1;
                while i < line.len() {
                    let v = int(line, i + 1, 0, 86400 * 31, d).map(|v| v as u32);
                    match line.w(i) {
                        "tcp" => g.lvs_timeouts.0 = v,
                        "tcpfin" => g.lvs_timeouts.1 = v,
                        "udp" => g.lvs_timeouts.2 = v,
                        w => d.at(
                            line.loc_of(i),
                            Class::GeneralError,
                            format!("Unknown option {w} specified for lvs_timeouts"),
                        ),
                    }
                    i += 2;
                }
            }
            "lvs_flush" => g.lvs_flush = true,
            "lvs_flush_on_stop" | "lvs_flush_onstop" => {
                g.lvs_flush_on_stop = Some(line.word(1).unwrap_or("all").to_string())
            }
            "notify_fifo" => g.notify_fifo = Some(fifo(line)),
            "vrrp_notify_fifo" => g.vrrp_notify_fifo = Some(fifo(line)),
            "lvs_notify_fifo" => g.lvs_notify_fifo = Some(fifo(line)),
            "notify_fifo_script" | "vrrp_notify_fifo_script" | "lvs_notify_fifo_script" => {
                let slot = match kw.name {
                    "notify_fifo_script" => &mut g.notify_fifo,
                    "vrrp_notify_fifo_script" => &mut g.vrrp_notify_fifo,
                    _ => &mut g.lvs_notify_fifo,
                };
                slot.get_or_insert_with(Fifo::default).script = script(line, d);
            }
            "vrrp_notify_priority_changes" => g.vrrp_notify_priority_changes = opt_bool(line, d),
            "fifo_write_vrrp_states_on_reload" => g.fifo_write_vrrp_states_on_reload = true,
            "vrrp_startup_delay" => {
                g.vrrp_startup_delay = timer_lenient(line, 1, 1000, TIMER_MAX, d)
            }
            "vrrp_delay_after_boot" => g.vrrp_delay_after_boot = timer(line, 1, 0, TIMER_MAX, d),
            "log_unknown_vrids" => g.log_unknown_vrids = true,
            "random_seed" => {
                g.random_seed = int(line, 1, 0, u32::MAX as i64, d).map(|v| v as u64);
                if let Some(s) = g.random_seed {
                    r.set_random_seed(s);
                }
            }
            "include_check" => {
                let mut v = if line.len() == 1 { INC_ALL } else { 0 };
                for w in line.words().skip(1) {
                    let (sign, name) = match w.as_bytes().first() {
                        Some(b'+') => (1, &w[1..]),
                        Some(b'-') => (-1, &w[1..]),
                        _ => (0, w),
                    };
                    let bit = match name {
                        "read" => INC_READ,
                        "match" => INC_MATCH,
                        "wildcard_match" => INC_WILDCARD,
                        "brace_match" => INC_BRACE,
                        _ => {
                            r.diags.at(
                                line.loc,
                                Class::GeneralError,
                                format!("Unknown include_check type '{name}'"),
                            );
                            continue;
                        }
                    };
                    if sign < 0 {
                        v &= !bit;
                    } else {
                        v |= bit;
                    }
                }
                g.include_check = Some(v);
                r.include_check = v;
            }
            _ => unreachable!("global_defs keyword {} without handler", kw.name),
        }
    }

    fn instance(&mut self, r: &mut Reader, kw: &'static Kw) {
        let line = &r.line;
        let Some(v) = self.inst.as_mut() else { return };
        let d = &mut r.diags;
        let iname = v.name.clone();
        match kw.name {
            "state" => match line.w(1) {
                "MASTER" => v.state = Some(VrrpState::Master),
                "BACKUP" => v.state = Some(VrrpState::Backup),
                s => {
                    d.at(
                        line.loc_of(1),
                        Class::GeneralError,
                        format!("({iname}) unknown state '{s}', defaulting to BACKUP"),
                    );
                    v.state = Some(VrrpState::Backup);
                }
            },
            "interface" => match line.word(1) {
                Some(i) if i.len() >= 16 => d.at(
                    line.loc_of(1),
                    Class::GeneralError,
                    format!("Interface name '{i}' too long - ignoring"),
                ),
                // keepalived tells a loopback by its hardware type and
                // forgets the interface; the parser sees only the name.
                Some("lo") => {
                    d.at(
                        line.loc_of(1),
                        Class::GeneralError,
                        format!(
                            "({iname}) cannot use a loopback interface (lo) for vrrp - ignoring"
                        ),
                    );
                    v.interface = None;
                }
                Some(i) => v.interface = Some((i.to_string(), line.loc_of(1))),
                None => d.at(
                    line.loc,
                    Class::GeneralError,
                    format!("({iname}) interface requires a name"),
                ),
            },
            "virtual_router_id" => {
                let id = int_or(line, (1, 255, false), d, |w| {
                    format!("({iname}): VRID '{w}' not valid - must be between 1 & 255")
                });
                if let Some(id) = id {
                    v.virtual_router_id = Some(id as u8);
                }
            }
            "priority" => {
                let p = int_or(line, (1, 255, false), d, |_| {
                    format!(
                        "({iname}) Priority not valid! must be between 1 & 255. Using default 100"
                    )
                });
                v.priority = Some(p.unwrap_or(100) as u8);
            }
            "advert_int" => {
                // keepalived: 0.01 to 255 seconds.
                let t = decimal_or_lenient(line, (SEC / 100, 255 * SEC), d, |w| {
                    format!("({iname}) Advert interval ({w}) not valid! Must be > 0 - ignoring")
                });
                if t.is_some() {
                    v.advert_int = t;
                }
            }
            "authentication" => {
                v.authentication.get_or_insert_with(Authentication::default);
            }
            "virtual_ipaddress"
            | "virtual_ipaddress_excluded"
            | "virtual_routes"
            | "virtual_rules"
            | "track_interface"
            | "track_script"
            | "track_file"
            | "track_process"
            | "track_bfd" => {}
            "unicast_peer" => v.unicast_configured = true,
            "no_virtual_ipaddress" => v.no_virtual_ipaddress = true,
            "nopreempt" => v.nopreempt = true,
            "preempt" => v.nopreempt = false,
            "preempt_delay" => {
                let t = decimal_or_lenient(line, (0, 1000 * SEC), d, |_| {
                    format!("({iname}) Preempt_delay not valid! must be between 0-1000")
                });
                if t.is_some() {
                    v.preempt_delay = t;
                }
            }
            "dont_track_primary" => v.dont_track_primary = true,
            "notify_master"
            | "notify_backup"
            | "notify_fault"
            | "notify_stop"
            | "notify"
            | "notify_master_rx_lower_pri" => {
                let slot = match kw.name {
                    "notify_master" => &mut v.notify.master,
                    "notify_backup" => &mut v.notify.backup,
                    "notify_fault" => &mut v.notify.fault,
                    "notify_stop" => &mut v.notify.stop,
                    "notify" => &mut v.notify.notify,
                    _ => &mut v.notify.master_rx_lower_pri,
                };
                if slot.is_some() {
                    let what = if kw.name == "notify" {
                        "notify"
                    } else {
                        kw.name
                    };
                    d.at(
                        line.loc,
                        Class::GeneralError,
                        format!(
                            "({iname}) {what} script already specified - ignoring {}",
                            line.w(1)
                        ),
                    );
                } else {
                    *slot = script(line, d);
                }
            }
            "notify_deleted" => {
                v.notify.deleted = Some(if line.len() > 1 {
                    script(line, d)
                } else {
                    None
                })
            }
            "notify_priority_changes" => v.notify_priority_changes = Some(opt_bool(line, d)),
            "smtp_alert" => v.smtp_alert = Some(opt_bool(line, d)),
            "unicast_src_ip" | "mcast_src_ip" => {
                if line.w(0) == "unicast_src_ip" {
                    v.unicast_configured = true;
                }
                // keepalived's `vrrp_srcip_handler` for both.
                let a = match line.word(1) {
                    None => ip(line, 1, d),
                    Some(w) => match w.parse::<IpAddr>() {
                        Ok(a) => Some(a),
                        Err(_) => {
                            d.at(
                                line.loc_of(1),
                                Class::GeneralError,
                                format!("Configuration error: VRRP instance[{iname}] malformed src address[{w}]. Skipping..."),
                            );
                            None
                        }
                    },
                };
                let a = a.filter(|a| {
                    let same = *self.inst_v6.get_or_insert(a.is_ipv6()) == a.is_ipv6();
                    if !same {
                        d.at(
                            line.loc_of(1),
                            Class::GeneralError,
                            format!("Configuration error: VRRP instance[{iname}] and src address[{}] MUST be of the same family !!! Skipping...", line.w(1)),
                        );
                    }
                    same
                });
                if line.w(0) == "unicast_src_ip" {
                    v.unicast_src_ip = a;
                } else {
                    v.mcast_src_ip = a;
                }
            }
            "mcast_dst_ip" => {
                let a = ip(line, 1, d);
                if let Some(a) = a {
                    if a.is_multicast() {
                        v.mcast_dst_ip = Some(a);
                    } else {
                        d.at(
                            line.loc_of(1),
                            Class::GeneralError,
                            format!("({iname}) mcast_dst_ip {a} not multicast. Skipping..."),
                        );
                    }
                }
            }
            "unicast_ttl" => match line.word(1).and_then(|w| w.parse::<i64>().ok()) {
                Some(t) if (0..=255).contains(&t) => v.unicast_ttl = Some(t as u8),
                _ => d.at(
                    line.loc_of(1),
                    Class::GeneralError,
                    format!(
                        "({iname}): TTL '{}' not valid - must be between 0 & 255",
                        line.w(1)
                    ),
                ),
            },
            "unicast_fault_no_peer" => {
                v.unicast_fault_no_peer = true;
                v.unicast_configured = true;
            }
            "check_unicast_src" => {
                v.check_unicast_src = true;
                v.unicast_configured = true;
            }
            "track_src_ip" => v.track_src_ip = true,
            "version" => {
                let ver = int_or_lenient(line, (2, 3, true), d, |_| {
                    format!("({iname}): Version must be either 2 or 3")
                });
                if let Some(ver) = ver {
                    v.version = Some(ver as u8);
                }
            }
            "native_ipv6" => {
                if self.inst_v6 == Some(false) {
                    d.at(
                        line.loc,
                        Class::GeneralError,
                        format!("({iname}) Cannot specify native_ipv6 with IPv4 addresses"),
                    );
                } else {
                    self.inst_v6 = Some(true);
                    v.native_ipv6 = true;
                }
            }
            "v3_checksum_as_v2" => v.v3_checksum_as_v2 = Some(opt_bool(line, d)),
            "accept" => v.accept = Some(true),
            "no_accept" => v.accept = Some(false),
            "strict_mode" => v.strict_mode = Some(opt_bool(line, d)),
            "skip_check_adv_addr" => v.skip_check_adv_addr = Some(opt_bool(line, d)),
            "use_vmac" => {
                let vm = v.use_vmac.get_or_insert_with(Vmac::default);
                let mut i = 1;
                while i < line.len() {
                    let w = line.w(i);
                    if w == "name" {
                        vm.ifname = line.word(i + 1).map(str::to_string);
                        i += 2;
                        continue;
                    }
                    if w == "group" {
                        i += 2;
                        continue;
                    }
                    if w == "netlink_notify_msg" {
                        i += 1;
                        continue;
                    }
                    if w.split(':').count() >= 5
                        && w.split(':')
                            .all(|o| o.len() <= 2 && u8::from_str_radix(o, 16).is_ok())
                    {
                        vm.mac = Some(w.to_string());
                    } else if vm.ifname.is_none() {
                        vm.ifname = Some(w.to_string());
                    } else {
                        d.at(
                            line.loc_of(i),
                            Class::GeneralError,
                            format!("({iname}) Unknown use_vmac option {w}"),
                        );
                    }
                    i += 1;
                }
            }
            "use_vmac_addr" => v.use_vmac_addr = true,
            "vmac_xmit_base" => v.vmac_xmit_base = true,
            "promote_secondaries" => v.promote_secondaries = true,
            "garp_master_delay" => {
                // Whole seconds, as keepalived reads them (UINT_MAX / TIMER_HZ).
                v.garp_master_delay = int_or_lenient(line, (0, 4294, false), d, |w| {
                    format!("({iname}): garp_master_delay '{w}' invalid - ignoring")
                })
                .map(|x| x as u32)
            }
            "garp_master_repeat" => {
                v.garp_master_repeat =
                    int_lenient(line, 1, 0, u32::MAX as i64, d).map(|x| (x as u32).max(1))
            }
            "garp_master_refresh" => {
                v.garp_master_refresh =
                    int_lenient(line, 1, 0, u32::MAX as i64, d).map(|x| x as u32)
            }
            "garp_master_refresh_repeat" => {
                v.garp_master_refresh_repeat =
                    int_lenient(line, 1, 0, u32::MAX as i64, d).map(|x| (x as u32).max(1))
            }
            "garp_lower_prio_delay" => {
                v.garp_lower_prio_delay =
                    int_lenient(line, 1, 0, u32::MAX as i64, d).map(|x| x as u32)
            }
            "garp_lower_prio_repeat" => {
                v.garp_lower_prio_repeat =
                    int_lenient(line, 1, 0, u32::MAX as i64, d).map(|x| x as u32)
            }
            "garp_extra_if" | "vmac_garp_intvl" => {
                let (all, secs) = garp_extra_if(line, d, 0, &format!("({iname}): "));
                v.garp_extra_if_all |= all;
                if secs.is_some() {
                    v.garp_extra_if = secs;
                }
            }
            "down_timer_adverts" => {
                v.down_timer_adverts = int_lenient(line, 1, 1, 100, d).map(|x| x as u32)
            }
            "lower_prio_no_advert" => v.lower_prio_no_advert = Some(opt_bool(line, d)),
            "higher_prio_send_advert" => v.higher_prio_send_advert = Some(opt_bool(line, d)),
            "owner_ignore_adverts" => v.owner_ignore_adverts = Some(opt_bool(line, d)),
            "debug" => match line.word(1).and_then(|w| w.parse::<u8>().ok()) {
                Some(x) if x <= 4 => v.debug = Some(x),
                _ => d.at(
                    line.loc_of(1),
                    Class::GeneralError,
                    format!(
                        "({iname}) Debug value '{}' not valid; must be between 0-4",
                        line.w(1)
                    ),
                ),
            },
            "linkbeat_use_polling" => {
                r.report_here(
                    Class::GeneralError,
                    format!("({iname}) 'linkbeat_use_polling' in vrrp instance deprecated - use linkbeat_interfaces block"),
                );
                v.linkbeat_use_polling = true
            }
            "lvs_sync_daemon_interface" => {
                r.report_here(
                    Class::Deprecated,
                    format!("({iname}) Specifying lvs_sync_daemon_interface against a vrrp is deprecated."),
                );
                r.report_here(
                    Class::Deprecated,
                    "        Please use global lvs_sync_daemon",
                );
                v.lvs_sync_daemon_interface = r.line.word(1).map(str::to_string);
            }
            _ => unreachable!("vrrp_instance keyword {} without handler", kw.name),
        }
    }

    fn instance_entry(&mut self, r: &mut Reader, kw: &'static Kw) {
        let Some(v) = self.inst.as_mut() else { return };
        match kw.name {
            "virtual_ipaddress" | "virtual_ipaddress_excluded" => {
                if let Some(a) = ip_address(&r.line, &mut r.diags, false) {
                    if kw.name == "virtual_ipaddress" {
                        let v6 = a.addr.is_ipv6();
                        if *self.inst_v6.get_or_insert(v6) != v6 {
                            let msg = format!(
                                "({}): address family must match VRRP instance [{}] - ignoring",
                                v.name,
                                r.line.w(0)
                            );
                            let loc = r.line.loc;
                            r.diags.at(loc, Class::GeneralError, msg);
                            return;
                        }
                    }
                    let list = if kw.name == "virtual_ipaddress" {
                        &mut v.virtual_ipaddress
                    } else {
                        &mut v.virtual_ipaddress_excluded
                    };
                    if list
                        .iter()
                        .any(|x| x.addr == a.addr && x.prefix == a.prefix && x.dev == a.dev)
                    {
                        // keepalived 2.2.7 accepts this silently; later versions log it.
                        let msg =
                            format!("({}): VIP duplicates a VIP {} - ignoring", v.name, a.addr);
                        let loc = r.line.loc;
                        r.diags.note(loc, msg);
                    } else {
                        list.push(a);
                    }
                }
            }
            "virtual_routes" => {
                if let Some(rt) = route(&r.line, &mut r.diags) {
                    v.virtual_routes.push(rt);
                }
            }
            "virtual_rules" => {
                if let Some(ru) = rule(&r.line, &mut r.diags, &mut self.next_rule_pref) {
                    v.virtual_rules.push(ru);
                }
            }
            "unicast_peer" => {
                let line = &r.line;
                match line.w(0).parse::<IpAddr>() {
                    Ok(addr) => {
                        if *self.inst_v6.get_or_insert(addr.is_ipv6()) != addr.is_ipv6() {
                            let msg = format!(
                                "Configuration error: VRRP instance[{}] and unicast peer address[{}] MUST be of the same family !!! Skipping...",
                                v.name,
                                line.w(0)
                            );
                            r.diags.at(line.loc_of(0), Class::GeneralError, msg);
                            return;
                        }
                        let mut p = UnicastPeer {
                            addr,
                            min_ttl: None,
                            max_ttl: None,
                            loc: line.loc,
                        };
                        let mut i = 1;
                        while i < line.len() {
                            match line.w(i) {
                                "min_ttl" => {
                                    p.min_ttl =
                                        int(line, i + 1, 0, 255, &mut r.diags).map(|x| x as u8)
                                }
                                "max_ttl" => {
                                    p.max_ttl =
                                        int(line, i + 1, 0, 255, &mut r.diags).map(|x| x as u8)
                                }
                                w => r.diags.at(
                                    line.loc_of(i),
                                    Class::GeneralError,
                                    format!("Unknown unicast_peer option {w}"),
                                ),
                            }
                            i += 2;
                        }
                        v.unicast_peer.push(p);
                    }
                    Err(_) => {
                        let msg = format!(
                            "Configuration error: VRRP instance[{}] malformed unicast peer address[{}]. Skipping...",
                            v.name,
                            line.w(0)
                        );
                        r.diags.at(line.loc_of(0), Class::GeneralError, msg);
                    }
                }
            }
            name => {
                let t = track_entry(
                    &r.line,
                    &mut r.diags,
                    if name == "track_file" || name == "track_process" {
                        254
                    } else {
                        253
                    },
                    &v.name,
                );
                tracking_slot(&mut v.track, name).push(t);
            }
        }
    }

    fn real_server_kw(&mut self, r: &mut Reader, kw: &'static Kw) -> Flow {
        let line = &r.line;
        if let Kind::Block(_) = kw.kind {
            // A checker block.
            let spec = match kw.name {
                "TCP_CHECK" => CheckerSpec::Tcp,
                "HTTP_GET" | "SSL_GET" => CheckerSpec::Http(Box::new(HttpCheck {
                    ssl: kw.name == "SSL_GET",
                    ..HttpCheck::default()
                })),
                "MISC_CHECK" => CheckerSpec::Misc(Box::default()),
                "SMTP_CHECK" => CheckerSpec::Smtp(Box::default()),
                "DNS_CHECK" => CheckerSpec::Dns(Box::default()),
                "PING_CHECK" => CheckerSpec::Ping,
                "UDP_CHECK" => CheckerSpec::Udp(Box::default()),
                "FILE_CHECK" => CheckerSpec::File(Box::default()),
                _ => CheckerSpec::Bfd(Box::default()),
            };
            self.chk_common = CheckerCommon::default();
            self.chk = Some(Checker {
                common: Arc::clone(&self.last_common),
                spec,
                loc: line.loc,
            });
            return Flow::Continue;
        }
        let Some(rs) = self.rs.as_mut() else {
            return Flow::Continue;
        };
        let d = &mut r.diags;
        if kw.name == "weight" {
            rs.weight = int_or_lenient(line, (0, i32::MAX as i64, false), d, |w| {
                format!("Real server weight {w} is outside range 0-2147483647")
            })
            .map(|x| x as u32);
            return Flow::Continue;
        }
        let rs = rs.opts_mut();
        match kw.name {
            "lvs_method" => rs.lvs_method = lvs_method(line, &mut r.diags, "real"),
            "inhibit_on_failure" => rs.inhibit_on_failure = Some(opt_bool(line, d)),
            "notify_up" => rs.notify_up = script(line, d),
            "notify_down" => rs.notify_down = script(line, d),
            "uthreshold" => {
                rs.uthreshold = int_lenient(line, 1, 0, u32::MAX as i64, d).map(|x| x as u32)
            }
            "lthreshold" => {
                rs.lthreshold = int_lenient(line, 1, 0, u32::MAX as i64, d).map(|x| x as u32)
            }
            "alpha" => rs.alpha = Some(opt_bool(line, d)),
            "smtp_alert" => rs.smtp_alert = Some(opt_bool(line, d)),
            "virtualhost" => rs.virtualhost = line.word(1).map(str::to_string),
            "snmp_name" => rs.snmp_name = line.word(1).map(str::to_string),
            "retry" => rs.retry = int(line, 1, 0, u32::MAX as i64, d).map(|x| x as u32),
            "delay_before_retry" => rs.delay_before_retry = timer_lenient(line, 1, 0, TIMER_MAX, d),
            "warmup" => rs.warmup = timer_lenient(line, 1, 0, TIMER_MAX, d),
            "connect_timeout" => rs.connect_timeout = timer_lenient(line, 1, 1, TIMER_MAX, d),
            "delay_loop" => rs.delay_loop = timer_lenient(line, 1, 1, TIMER_MAX, d),
            _ => unreachable!("real_server keyword {} without handler", kw.name),
        }
        Flow::Continue
    }

    fn vs_kw(&mut self, r: &mut Reader, kw: &'static Kw) -> Flow {
        let line = &r.line;
        if kw.name == "real_server" {
            let Ok(addr) = line.w(1).parse::<IpAddr>() else {
                r.diags.at(
                    line.loc_of(1),
                    Class::GeneralError,
                    // keepalived prints the missing port as C's "(null)".
                    format!(
                        "Invalid real server ip address/port {}/{} - skipping",
                        line.w(1),
                        line.word(2).unwrap_or("(null)")
                    ),
                );
                return Flow::Skip;
            };
            let port = if line.len() > 2 {
                int(line, 2, 0, 65535, &mut r.diags).unwrap_or(0) as u16
            } else {
                0
            };
            self.chk_list.clear();
            self.rs = Some(RealServer {
                addr,
                port,
                weight: None,
                opts: None,
                checkers: Vec::new(),
                loc: line.loc,
            });
            return Flow::Continue;
        }
        let Some(vs) = self.vs.as_mut() else {
            return Flow::Continue;
        };
        let d = &mut r.diags;
        match kw.name {
            "delay_loop" => vs.delay_loop = timer_lenient(line, 1, 1, TIMER_MAX, d),
            "lb_algo" | "lvs_sched" => {
                const SCHEDS: &[&str] = &[
                    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr",
                    "sed", "nq", "twos",
                ];
                let s = line.w(1);
                if SCHEDS.contains(&s) {
                    vs.lb_algo = Some(s.to_string());
                } else {
                    d.at(
                        line.loc_of(1),
                        Class::GeneralError,
                        format!("Invalid lvs_scheduler '{s}' - ignoring"),
                    );
                }
            }
            "lb_kind" | "lvs_method" => vs.lvs_method = lvs_method(line, &mut r.diags, "virtual"),
            "persistence_timeout" => {
                vs.persistence_timeout = if line.len() == 1 {
                    Some(360)
                } else {
                    int_or(line, (1, 2_678_400, false), d, |_| {
                        "persistence_timeout invalid".to_string()
                    })
                    .map(|x| x as u32)
                }
            }
            "persistence_granularity" => {
                let g = line.w(1);
                let ok = g.parse::<std::net::Ipv4Addr>().is_ok()
                    || g.parse::<u8>().is_ok_and(|p| (1..=128).contains(&p));
                if ok {
                    vs.persistence_granularity = Some(g.to_string());
                    vs.persistence_timeout.get_or_insert(360);
                } else {
                    d.at(
                        line.loc_of(1),
                        Class::GeneralError,
                        format!("Invalid persistence_granularity specified - {g}"),
                    );
                }
            }
            "persistence_engine" => vs.persistence_engine = line.word(1).map(str::to_string),
            "protocol" => match line.w(1).to_ascii_uppercase().as_str() {
                "TCP" => vs.protocol = Some(Protocol::Tcp),
                "UDP" => vs.protocol = Some(Protocol::Udp),
                "SCTP" => vs.protocol = Some(Protocol::Sctp),
                _ => d.at(
                    line.loc_of(1),
                    Class::GeneralError,
                    format!("Unknown protocol {} - ignoring", line.w(1)),
                ),
            },
            "ops" => vs.ops = true,
            "flag-1" => vs.sched_flags |= 1,
            "flag-2" => vs.sched_flags |= 2,
            "flag-3" => vs.sched_flags |= 4,
            // keepalived honours the named flags only when the scheduler
            // already read is the one they belong to (so order matters), and
            // never sets anything for `hashed`.
            f @ ("sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" | "hashed") => {
                match (vs.lb_algo.as_deref(), f) {
                    (Some("sh"), "sh-port") | (Some("mh"), "mh-port") => vs.sched_flags |= 2,
                    (Some("sh"), "sh-fallback") | (Some("mh"), "mh-fallback") => {
                        vs.sched_flags |= 1
                    }
                    (Some("sh" | "mh"), _) => {}
                    _ => d.at(
                        line.loc,
                        Class::GeneralError,
                        format!("{f} only applies to sh scheduler - ignoring"),
                    ),
                }
            }
            "ip_family" => match line.w(1) {
                "inet" => vs.ip_family = Some(Family::Inet),
                "inet6" => vs.ip_family = Some(Family::Inet6),
                f => d.at(
                    line.loc_of(1),
                    Class::GeneralError,
                    format!("unknown address family {f}"),
                ),
            },
            "sorry_server" => {
                if let Some(a) = ip(line, 1, d) {
                    let port = if line.len() > 2 {
                        int(line, 2, 0, 65535, d).unwrap_or(0) as u16
                    } else {
                        0
                    };
                    vs.sorry_server = Some((a, port));
                }
            }
            "sorry_server_inhibit" if vs.sorry_server.is_none() => d.at(
                line.loc,
                Class::GeneralError,
                "Ignoring sorry_server inhibit used before or without sorry_server",
            ),
            "sorry_server_inhibit" => vs.sorry_server_inhibit = true,
            "sorry_server_lvs_method" if vs.sorry_server.is_none() => d.at(
                line.loc,
                Class::GeneralError,
                "sorry_server forwarding used without sorry_server",
            ),
            "sorry_server_lvs_method" => {
                vs.sorry_server_lvs_method = lvs_method(line, &mut r.diags, "sorry").map(Box::new)
            }
            "quorum" => vs.quorum = int_lenient(line, 1, 1, u32::MAX as i64, d).map(|x| x as u32),
            "hysteresis" => {
                vs.hysteresis = int_lenient(line, 1, 0, u32::MAX as i64, d).map(|x| x as u32)
            }
            "quorum_up" => vs.quorum_up = script(line, d).map(Box::new),
            "quorum_down" => vs.quorum_down = script(line, d).map(Box::new),
            "alpha" => vs.alpha = true,
            "omega" => vs.omega = true,
            "inhibit_on_failure" => vs.inhibit_on_failure = true,
            "ha_suspend" => vs.ha_suspend = true,
            "virtualhost" => vs.virtualhost = line.word(1).map(str::to_string),
            "smtp_alert" => vs.smtp_alert = Some(opt_bool(line, d)),
            "snmp_name" => vs.snmp_name = line.word(1).map(str::to_string),
            "weight" => {
                vs.weight = int_or_lenient(line, (1, i32::MAX as i64, false), d, |w| {
                    format!("Virtual server weight {w} is outside range 1-2147483647")
                })
                .map(|x| x as u32)
            }
            "connect_timeout" => vs.connect_timeout = timer_lenient(line, 1, 1, TIMER_MAX, d),
            "retry" => vs.retry = int(line, 1, 1, u32::MAX as i64, d).map(|x| x as u32),
            "delay_before_retry" => vs.delay_before_retry = timer_lenient(line, 1, 0, TIMER_MAX, d),
            "warmup" => vs.warmup = timer_lenient(line, 1, 0, TIMER_MAX, d),
            _ => unreachable!("virtual_server keyword {} without handler", kw.name),
        }
        Flow::Continue
    }

    fn checker_kw(&mut self, r: &mut Reader, ctx: Ctx, kw: &'static Kw) {
        if ctx == Ctx::SmtpHost {
            if let Some(h) = self.smtp_host.as_mut() {
                checker_common(h, &r.line, &mut r.diags);
            }
            return;
        }
        let Some(c) = self.chk.as_mut() else { return };
        if kw.name == "url" {
            self.url = Some(Url {
                loc: r.line.loc,
                ..Url::default()
            });
            return;
        }
        if kw.name == "host" {
            let loc = r.line.loc;
            r.diags.note(
                loc,
                "The SMTP_CHECK host block is deprecated. Please define additional checkers.",
            );
            self.smtp_host = Some(CheckerCommon::default());
            return;
        }
        // Options specific to the checker type come before the common ones,
        // because names overlap (`virtualhost`, FILE_CHECK's `weight`).
        let line = &r.line;
        let d = &mut r.diags;
        match (&mut c.spec, kw.name) {
            (CheckerSpec::Http(h), "virtualhost") => {
                h.virtualhost = line.word(1).map(str::to_string)
            }
            (CheckerSpec::Http(h), "http_protocol") => match line.w(1) {
                p @ ("1.0" | "1.1" | "1.0C" | "1.0c") => {
                    h.http_protocol = Some(p.to_ascii_uppercase())
                }
                p => d.at(
                    line.loc_of(1),
                    Class::GeneralError,
                    format!("Invalid http_protocol version {p}"),
                ),
            },
            (CheckerSpec::Http(h), "enable_sni") => h.enable_sni = true,
            (CheckerSpec::Http(h), "sni_name") => {
                h.enable_sni = true;
                h.sni_name = line.word(1).map(str::to_string);
            }
            (CheckerSpec::Http(h), "fast_recovery") => h.fast_recovery = opt_bool(line, d),
            (CheckerSpec::Http(h), "tls_compliant") => h.tls_compliant = opt_bool(line, d),
            (CheckerSpec::Misc(m), "misc_path") => m.path = script(line, d),
            (CheckerSpec::Misc(m), "misc_timeout") => m.timeout = timer(line, 1, 1, TIMER_MAX, d),
            (CheckerSpec::Misc(m), "misc_dynamic") => m.dynamic = true,
            (CheckerSpec::Misc(m), "user") => m.user = user_group(line),
            (CheckerSpec::Smtp(s), "helo_name") => s.helo_name = line.word(1).map(str::to_string),
            (CheckerSpec::Dns(dns), "type") => {
                const TYPES: &[&str] = &[
                    "A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY",
                ];
                let t = line.w(1).to_ascii_uppercase();
                if TYPES.contains(&t.as_str()) {
                    dns.qtype = Some(t);
                } else {
                    d.at(
                        line.loc_of(1),
                        Class::GeneralError,
                        format!("Unknown DNS check type {} - ignoring", line.w(1)),
                    );
                }
            }
            (CheckerSpec::Dns(dns), "name") => {
                let n = line.w(1);
                if n.split('.').filter(|l| !l.is_empty()).count()
                    != n.trim_end_matches('.').split('.').count()
                    && n != "."
                {
                    d.at(
                        line.loc_of(1),
                        Class::GeneralError,
                        format!("DNS_CHECK: Invalid name '{n}'"),
                    );
                } else {
                    dns.name = Some(n.to_string());
                }
            }
            (CheckerSpec::Udp(u), "payload") => match hex_bytes(line.w(1)) {
                Some(b) => u.payload = Some(b),
                None => d.at(
                    line.loc_of(1),
                    Class::GeneralError,
                    format!("UDP_CHECK: invalid payload '{}'", line.w(1)),
                ),
            },
            (CheckerSpec::Udp(u), "require_reply") => {
                u.require_reply = Some(line.word(1).unwrap_or("").to_string())
            }
            (CheckerSpec::Udp(u), "min_reply_length") => {
                u.min_reply_length = int(line, 1, 0, 65535, d).map(|x| x as u16)
            }
            (CheckerSpec::Udp(u), "max_reply_length") => {
                u.max_reply_length = int(line, 1, 0, 65535, d).map(|x| x as u16)
            }
            (CheckerSpec::File(f), "track_file") => f.track_file = line.word(1).map(str::to_string),
            (CheckerSpec::File(f), "weight") => {
                f.weight = int_lenient(line, 1, -(i32::MAX as i64), i32::MAX as i64, d);
                f.reverse = line.word(2) == Some("reverse");
            }
            (CheckerSpec::Bfd(b), "name") => b.name = line.word(1).map(str::to_string),
            (CheckerSpec::Bfd(b), "alpha") => b.alpha = Some(opt_bool(line, d)),
            _ => {
                if !checker_common(&mut self.chk_common, line, &mut r.diags) {
                    unreachable!("checker keyword {} without handler", kw.name);
                }
            }
        }
    }

    fn url_kw(&mut self, r: &mut Reader, kw: &'static Kw) {
        let Some(u) = self.url.as_mut() else { return };
        let line = &r.line;
        match kw.name {
            "path" => u.path = line.word(1).map(str::to_string),
            "digest" => {
                let dg = line.w(1);
                let msg = if u.digest.is_some() {
                    Some(format!("Digest '{dg}' is a duplicate"))
                } else if dg.len() != 32 {
                    Some(format!(
                        "digest '{dg}' character length should be 32 rather than {}",
                        dg.len()
                    ))
                } else {
                    // keepalived reads the pairs from the end, and cuts the
                    // string after the pair it is reading.
                    let b = dg.as_bytes();
                    (0..16)
                        .rev()
                        .find(|i| !hex_pair(&b[2 * i..2 * i + 2]))
                        .map(|i| {
                            format!(
                                "Unable to interpret hex digit in '{}' at offset {}/{}",
                                String::from_utf8_lossy(&b[..2 * i + 2]),
                                2 * i,
                                2 * i + 1
                            )
                        })
                };
                match msg {
                    Some(m) => r.diags.at(line.loc_of(1), Class::GeneralError, m),
                    None => u.digest = Some(dg.to_ascii_lowercase()),
                }
            }
            "status_code" => u.status_code = status_codes(line, &mut r.diags),
            "virtualhost" => u.virtualhost = line.word(1).map(str::to_string),
            "regex" => {
                // keepalived re-reads the raw line with quotes and escapes
                let loc = line.loc;
                match quoted_escaped(line.raw().as_bytes()) {
                    Ok(mut w) if w.len() == 2 => {
                        self.pending_regex = w.pop().map(|p| (p, line.loc_of(1)))
                    }
                    res => {
                        match res {
                            Err(QuotedEscapedError::Unmatched(q)) => r.diags.at(
                                loc,
                                Class::UnmatchedQuote,
                                format!("String '{}': missing terminating {q}", line.raw()),
                            ),
                            Err(QuotedEscapedError::MissingEscape) => r
                                .diags
                                .note(loc, format!("Missing escape char at end: '{}'", line.raw())),
                            Ok(_) => {}
                        }
                        r.diags.note(loc, "regex missing or too many fields");
                    }
                }
            }
            "regex_no_match" => u.regex_no_match = true,
            "regex_options" => {
                for (i, w) in line.words().enumerate().skip(1) {
                    if REGEX_OPTIONS.contains(&w) {
                        u.regex_options.push(w.to_string());
                    } else {
                        // keepalived ignores it without a word
                        r.diags.note(
                            line.loc_of(i),
                            format!("unknown regex option '{w}' ignored"),
                        );
                    }
                }
            }
            "regex_min_offset" => u.regex_min_offset = regex_offset(line, "min", &mut r.diags),
            "regex_max_offset" => {
                // kept as one beyond: the largest value wraps to "none"
                let v = regex_offset(line, "max", &mut r.diags);
                u.regex_max_offset = (v != u64::MAX).then_some(v);
            }
            "regex_stack" => {
                let loc = line.loc;
                let msg = if line.len() != 3 {
                    Some("regex_stack requires start and max values")
                } else {
                    match (strtoul(line.w(1)), strtoul(line.w(2))) {
                        ((_, false), _) => Some("regex_stack invalid start value"),
                        (_, (_, false)) => Some("regex_stack invalid max value"),
                        ((s, _), (m, _)) if s > m => {
                            Some("regex stack start cannot exceed max value")
                        }
                        ((s, _), (m, _)) => {
                            u.regex_stack = Some((s, m));
                            None
                        }
                    }
                };
                if let Some(m) = msg {
                    r.diags.note(loc, m);
                }
            }
            "tls_compliant" => u.tls_compliant = opt_bool(line, &mut r.diags),
            _ => unreachable!("url keyword {} without handler", kw.name),
        }
    }

    fn sync_kw(&mut self, r: &mut Reader, kw: &'static Kw) {
        let Some(g) = self.sync.as_mut() else { return };
        let line = &r.line;
        let d = &mut r.diags;
        match kw.name {
            "notify_master" => g.notify.master = script(line, d),
            "notify_backup" => g.notify.backup = script(line, d),
            "notify_fault" => g.notify.fault = script(line, d),
            "notify_stop" => g.notify.stop = script(line, d),
            "notify" => g.notify.notify = script(line, d),
            "smtp_alert" => g.smtp_alert = Some(opt_bool(line, &mut r.diags)),
            "notify_priority_changes" => {
                g.notify_priority_changes = Some(opt_bool(line, &mut r.diags))
            }
            "sync_group_tracking_weight" => g.sync_group_tracking_weight = true,
            "global_tracking" => {
                g.sync_group_tracking_weight = true;
                let msg = format!(
                    "({}) global_tracking is deprecated. Use track_interface/script/file on the sync group",
                    g.name
                );
                r.report_here(Class::Deprecated, msg);
            }
            _ => {}
        }
    }

    fn script_kw(&mut self, r: &mut Reader, kw: &'static Kw) {
        let Some(s) = self.script.as_mut() else {
            return;
        };
        let line = &r.line;
        let d = &mut r.diags;
        match kw.name {
            "script" => s.script = script(line, d),
            "interval" => {
                // Whole seconds, as keepalived reads them (UINT_MAX / TIMER_HZ).
                let name = s.name.clone();
                let i = int_or_lenient(line, (0, 4294, false), d, |w| {
                    format!(
                        "({name}): vrrp script interval '{w}' must be between 1 and 4294 - ignoring"
                    )
                });
                if let Some(i) = i {
                    if i == 0 {
                        d.at(
                            line.loc_of(1),
                            Class::GeneralError,
                            format!("({name}): vrrp script interval must be greater than 0, setting to 1"),
                        );
                    }
                    s.interval = i.max(1) as u64 * SEC;
                }
            }
            "timeout" => {
                s.timeout = timer(line, 1, 0, TIMER_MAX, d).map(|t| if t == 0 { SEC } else { t })
            }
            "weight" => {
                let name = s.name.clone();
                let w = int_or_lenient(line, (-253, 253, true), d, |w| {
                    format!("vrrp_script {name} weight {w} must be in [-253, 253]")
                });
                s.weight = w.unwrap_or(0) as i32;
                s.weight_reverse = line.word(2) == Some("reverse");
            }
            "rise" => {
                let name = s.name.clone();
                let v = int_or_lenient(line, (1, i32::MAX as i64, false), d, |w| {
                    format!("({name}): vrrp script rise value '{w}' invalid, defaulting to 1")
                });
                s.rise = v.map_or(1, |x| x as u32);
            }
            "fall" => {
                let name = s.name.clone();
                let v = int_or_lenient(line, (1, i32::MAX as i64, false), d, |w| {
                    format!("({name}): vrrp script fall value '{w}' invalid, defaulting to 1")
                });
                s.fall = v.map_or(1, |x| x as u32);
            }
            "user" => s.user = user_group(line),
            "init_fail" => s.init_fail = true,
            _ => unreachable!("vrrp_script keyword {} without handler", kw.name),
        }
    }
}

fn tracking_slot<'a>(t: &'a mut Tracking, name: &str) -> &'a mut Vec<Track> {
    match name {
        "track_interface" => &mut t.interface,
        "track_script" => &mut t.script,
        "track_file" => &mut t.file,
        "track_process" => &mut t.process,
        _ => &mut t.bfd,
    }
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.is_empty() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Parses one virtual_server_group entry.
fn vsg_entry(line: &Line, d: &mut Diags) -> Option<VsgEntry> {
    let loc = line.loc;
    if line.w(0) == "fwmark" {
        let mark = int(line, 1, 0, u32::MAX as i64, d)? as u32;
        let family = match line.word(2) {
            Some("inet") => Some(Family::Inet),
            Some("inet6") => Some(Family::Inet6),
            _ => None,
        };
        return Some(VsgEntry::Fwmark { mark, family, loc });
    }
    let a = line.w(0);
    let port = if line.len() > 1 {
        int(line, 1, 0, 65535, d)? as u16
    } else {
        0
    };
    let bad = |d: &mut Diags| {
        d.at(
            line.loc_of(0),
            Class::GeneralError,
            format!(
                "Invalid virtual server group IP address {a} {} - skipping",
                nonzero_port(line.word(1)).map_or(String::new(), |p| format!("/port/{p}"))
            ),
        );
        None
    };
    if let Some((p, len)) = a.split_once('/') {
        let Ok(ip) = p.parse::<IpAddr>() else {
            return bad(d);
        };
        let Ok(len) = len.parse::<u8>() else {
            return bad(d);
        };
        let (first, last) = match ip {
            IpAddr::V4(v) if len <= 32 => {
                let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                let b = u32::from(v) & m;
                (IpAddr::V4(b.into()), IpAddr::V4((b | !m).into()))
            }
            IpAddr::V6(v) if len <= 128 => {
                let m = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                let b = u128::from(v) & m;
                (IpAddr::V6(b.into()), IpAddr::V6((b | !m).into()))
            }
            _ => return bad(d),
        };
        return Some(VsgEntry::Range {
            first,
            last,
            port,
            loc,
        });
    }
    if let Some((p, end)) = a.rsplit_once('-') {
        let Ok(first) = p.parse::<IpAddr>() else {
            return bad(d);
        };
        let last = match (first, end.parse::<IpAddr>()) {
            (_, Ok(l)) => l,
            (IpAddr::V4(f), Err(_)) => {
                let Ok(o) = end.parse::<u8>() else {
                    return bad(d);
                };
                let mut b = f.octets();
                b[3] = o;
                IpAddr::V4(b.into())
            }
            (IpAddr::V6(f), Err(_)) => {
                let Ok(o) = u16::from_str_radix(end, 16) else {
                    return bad(d);
                };
                let mut s = f.segments();
                s[7] = o;
                IpAddr::V6(s.into())
            }
        };
        if first.is_ipv4() != last.is_ipv4() || last < first {
            return bad(d);
        }
        return Some(VsgEntry::Range {
            first,
            last,
            port,
            loc,
        });
    }
    match a.parse::<IpAddr>() {
        Ok(ip) => Some(VsgEntry::Range {
            first: ip,
            last: ip,
            port,
            loc,
        }),
        Err(_) => bad(d),
    }
}

impl Builder {
    /// No block is being read and nothing waits for a later block, so that
    /// a fresh builder reading virtual servers from here on (the second
    /// half of a split parse) does what this one would. The fields not
    /// checked cannot matter to virtual server blocks: `inst_v6` is reset
    /// when an instance opens and read only inside it; `emails_at_open`,
    /// `next_rule_pref` and `vrrp_nftables` are read only in global_defs,
    /// static_rules and instances; `last_common` is only shared when equal
    /// (the value is the same, only the sharing differs); `cfg` is only
    /// appended to by virtual server blocks.
    pub(crate) fn at_rest(&self) -> bool {
        self.inst.is_none()
            && self.script.is_none()
            && self.tfile.is_none()
            && self.tproc.is_none()
            && self.sync.is_none()
            && self.tgroup.is_none()
            && self.vs.is_none()
            && self.rs.is_none()
            && self.rs_list.is_empty()
            && self.chk_list.is_empty()
            && self.chk.is_none()
            && self.chk_common == CheckerCommon::default()
            && self.url.is_none()
            && self.pending_regex.is_none()
            && self.smtp_host.is_none()
            && self.vsg.is_none()
            && self.ssl.is_none()
            && self.raw_block.is_empty()
    }

    /// The name of the block being read, for messages that quote it.
    fn block_name(&self, ctx: Ctx) -> &str {
        match ctx {
            Ctx::Instance => self.inst.as_ref().map(|v| v.name.as_str()),
            Ctx::TrackProcess => self.tproc.as_ref().map(|t| t.name.as_str()),
            Ctx::TrackFile => self.tfile.as_ref().map(|t| t.name.as_str()),
            Ctx::SyncGroup => self.sync.as_ref().map(|s| s.name.as_str()),
            Ctx::VrrpScript => self.script.as_ref().map(|s| s.name.as_str()),
            Ctx::TrackGroup => self.tgroup.as_ref().map(|t| t.name.as_str()),
            _ => None,
        }
        .unwrap_or("")
    }
}

impl Sink for Builder {
    fn keyword(&mut self, r: &mut Reader, ctx: Ctx, kw: &'static Kw) -> Flow {
        // Debian's keepalived is built with nftables and without iptables:
        // it maps vrrp_iptables to nftables with an error, and does not know
        // vrrp_ipsets at all.
        if ctx == Ctx::GlobalDefs && kw.name == "vrrp_iptables" {
            r.report_here(
                Class::GeneralError,
                "iptables not supported, using nftables instead. Please replace 'vrrp_iptables and 'vrrp_ipsets' with 'nftables' config option",
            );
            self.vrrp_nftables = true;
            self.cfg.global_defs.nftables = Some("keepalived".into());
            self.cfg.global_defs.nftables_priority = None;
        } else if ctx == Ctx::GlobalDefs && kw.name == "nftables" {
            if self.vrrp_nftables {
                r.report_here(Class::GeneralError, "nftables already specified - ignoring");
                return Flow::Continue;
            }
            self.vrrp_nftables = true;
        } else if ctx == Ctx::GlobalDefs && kw.name == "vrrp_ipsets" {
            r.report_here(Class::UnknownKeyword, "Unknown keyword 'vrrp_ipsets'");
            return Flow::Continue;
        }
        if r.line.len() < 2 && crate::arity::needs_param(ctx, kw.name) {
            // A handler or two report something before reading the argument.
            match (ctx, kw.name) {
                (Ctx::Instance, "lvs_sync_daemon_interface") => {
                    let msg = format!(
                        "({}) Specifying lvs_sync_daemon_interface against a vrrp is deprecated.",
                        self.block_name(ctx)
                    );
                    r.report_here(Class::Deprecated, msg);
                    r.report_here(
                        Class::Deprecated,
                        "        Please use global lvs_sync_daemon",
                    );
                }
                (_, "nb_get_retry") => r.report_here(
                    Class::Deprecated,
                    "nb_get_retry is deprecated - please use 'retry'",
                ),
                _ => {}
            }
            // keepalived stops the whole parse here (exit 2); we say the same
            // and go on, so that one run shows every mistake.
            let msg = format!(
                "*** Configuration line starting `{0}` is missing a parameter after keyword `{0}` at word position 2",
                kw.name
            );
            let loc = r.line.loc;
            r.diags.at(loc, Class::MissingParameter, msg);
            return Flow::Skip;
        }
        if r.line.len() < 2
            && kw.kind == Kind::Leaf
            && let Some(msgs) = crate::arity::missing_arg_messages(ctx, kw.name)
        {
            let name = self.block_name(ctx);
            for m in msgs {
                let loc = r.line.loc;
                r.diags
                    .at(loc, Class::GeneralError, m.replace("{name}", name));
            }
            return Flow::Continue;
        }
        if kw.status == Status::Accepted && !self.raw_block.is_empty() && kw.kind == Kind::Leaf {
            self.cfg.extra.push(raw(&r.line));
            return Flow::Continue;
        }
        if kw.status == Status::Accepted && kw.kind == Kind::Leaf {
            let raw = raw(&r.line);
            self.not_supported(r, raw);
            return Flow::Continue;
        }
        match ctx {
            Ctx::Root => return self.root(r, kw),
            Ctx::GlobalDefs => self.global(r, kw),
            Ctx::Instance => {
                if kw.name == "auth_hmac" {
                    let raw = raw(&r.line);
                    self.raw_block.push("auth_hmac".into());
                    self.not_supported(r, raw);
                } else {
                    self.instance(r, kw)
                }
            }
            Ctx::Authentication => {
                let line = &r.line;
                let Some(v) = self.inst.as_mut() else {
                    return Flow::Continue;
                };
                let iname = v.name.clone();
                let a = v.authentication.get_or_insert_with(Authentication::default);
                match kw.name {
                    "auth_type" => match line.w(1) {
                        "PASS" => a.auth_type = Some(AuthType::Pass),
                        "AH" => a.auth_type = Some(AuthType::Ah),
                        t => r.diags.at(
                            line.loc_of(1),
                            Class::GeneralError,
                            format!("({iname}) unknown authentication type '{t}'"),
                        ),
                    },
                    _ => {
                        let p = line.w(1);
                        if p.len() > 8 {
                            let msg = format!("Truncating auth_pass to {} characters", 8);
                            a.auth_pass = Some(p[..p.floor_char_boundary(8)].to_string());
                            r.report_here(Class::Warning, msg);
                        } else {
                            a.auth_pass = Some(p.to_string());
                        }
                    }
                }
            }
            Ctx::VrrpScript => self.script_kw(r, kw),
            Ctx::TrackFile => {
                let line = &r.line;
                if let Some(t) = self.tfile.as_mut() {
                    match kw.name {
                        "file" => t.file = line.word(1).map(str::to_string),
                        "weight" => {
                            t.weight =
                                int_lenient(line, 1, -254, 254, &mut r.diags).unwrap_or(1) as i32;
                            t.weight_reverse = line.word(2) == Some("reverse");
                        }
                        _ => {
                            let v = line
                                .word(1)
                                .and_then(|w| w.parse::<i64>().ok())
                                .unwrap_or(0);
                            t.init_file = Some((v, line.words().any(|w| w == "overwrite")));
                        }
                    }
                }
            }
            Ctx::TrackProcess => {
                let line = &r.line;
                if let Some(t) = self.tproc.as_mut() {
                    match kw.name {
                        "process" => t.process = line.words().skip(1).map(str::to_string).collect(),
                        "weight" => {
                            t.weight =
                                int_lenient(line, 1, -254, 254, &mut r.diags).unwrap_or(0) as i32;
                            t.weight_reverse = line.word(2) == Some("reverse");
                        }
                        "quorum" => {
                            t.quorum =
                                int_lenient(line, 1, 1, 65535, &mut r.diags).unwrap_or(1) as u32
                        }
                        _ => {
                            t.quorum_max =
                                int_lenient(line, 1, 0, 65535, &mut r.diags).map(|x| x as u32)
                        }
                    }
                }
            }
            Ctx::SyncGroup => self.sync_kw(r, kw),
            Ctx::Ssl => {
                let v = r.line.word(1).map(str::to_string);
                if let Some(s) = self.ssl.as_mut() {
                    match kw.name {
                        "password" => s.password = v,
                        "ca" => s.ca = v,
                        "certificate" => s.certificate = v,
                        _ => s.key = v,
                    }
                }
            }
            Ctx::VirtualServer => return self.vs_kw(r, kw),
            Ctx::RealServer => return self.real_server_kw(r, kw),
            Ctx::Url => self.url_kw(r, kw),
            Ctx::TcpCheck
            | Ctx::HttpGet
            | Ctx::MiscCheck
            | Ctx::SmtpCheck
            | Ctx::SmtpHost
            | Ctx::DnsCheck
            | Ctx::PingCheck
            | Ctx::UdpCheck
            | Ctx::FileCheck
            | Ctx::BfdCheck => self.checker_kw(r, ctx, kw),
            Ctx::TrackGroup | Ctx::GarpGroup | Ctx::AuthHmac | Ctx::BfdInstance => {}
        }
        Flow::Continue
    }

    fn entry(&mut self, r: &mut Reader, ctx: Ctx, kw: &'static Kw) {
        match (ctx, kw.name) {
            (Ctx::Instance, _) => self.instance_entry(r, kw),
            (Ctx::GlobalDefs, "notification_email") => {
                // keepalived's read_value_block: every word is an address,
                // so `a@b c@d` on one line is two ("Name <a@b>" quoted is one).
                let words = r.line.words().map(str::to_string);
                self.cfg.global_defs.notification_email.extend(words);
            }
            (Ctx::Root, "static_ipaddress") => {
                if let Some(a) = ip_address(&r.line, &mut r.diags, true) {
                    self.cfg.static_ipaddress.push(a);
                }
            }
            (Ctx::Root, "static_routes") => {
                if let Some(rt) = route(&r.line, &mut r.diags) {
                    self.cfg.static_routes.push(rt);
                }
            }
            (Ctx::Root, "static_rules") => {
                if let Some(ru) = rule(&r.line, &mut r.diags, &mut self.next_rule_pref) {
                    self.cfg.static_rules.push(ru);
                }
            }
            (Ctx::Root, "linkbeat_interfaces") => self
                .cfg
                .linkbeat_interfaces
                .push(r.line.words().map(str::to_string).collect()),
            (Ctx::Root, "interface_up_down_delays") => {
                let line = &r.line;
                let down = timer_lenient(line, 1, 0, 255 * SEC, &mut r.diags).unwrap_or(0);
                let up = if line.len() > 2 {
                    timer_lenient(line, 2, 0, 255 * SEC, &mut r.diags).unwrap_or(0)
                } else {
                    0
                };
                self.cfg
                    .interface_up_down_delays
                    .push((line.w(0).to_string(), down, up));
            }
            (Ctx::Root, "virtual_server_group") => {
                if let (Some(e), Some(g)) = (vsg_entry(&r.line, &mut r.diags), self.vsg.as_mut()) {
                    g.entries.push(e);
                }
            }
            (Ctx::SyncGroup, "group") => {
                let loc = r.line.loc;
                if let Some(g) = self.sync.as_mut() {
                    for w in r.line.words() {
                        g.group.push((w.to_string(), loc));
                    }
                }
            }
            (Ctx::SyncGroup, name) => {
                if let Some(g) = self.sync.as_mut() {
                    let t = track_entry(&r.line, &mut r.diags, 254, &g.name);
                    tracking_slot(&mut g.track, name).push(t);
                }
            }
            (Ctx::TrackGroup, _) => {
                if let Some(t) = self.tgroup.as_mut() {
                    t.group.extend(r.line.words().map(str::to_string));
                }
            }
            _ => self.cfg.extra.push(raw(&r.line)),
        }
    }

    fn close(&mut self, r: &mut Reader, ctx: Ctx, kw: &'static Kw) {
        match (ctx, kw.name) {
            (Ctx::Instance, "vrrp_instance") => {
                if let Some(mut i) = self.inst.take() {
                    instance_end(&mut i, r.line.loc, &mut r.diags);
                    self.cfg.vrrp_instances.push(i);
                }
            }
            (Ctx::VrrpScript, _) => {
                if let Some(s) = self.script.take() {
                    if s.script.is_none() {
                        let loc = r.line.loc;
                        r.diags.at(
                            loc,
                            Class::GeneralError,
                            format!("No script set for vrrp_script {} - removing", s.name),
                        );
                    } else {
                        self.cfg.vrrp_scripts.push(s);
                    }
                }
            }
            (Ctx::TrackFile, _) => {
                if let Some(t) = self.tfile.take() {
                    if t.file.is_none() {
                        let loc = r.line.loc;
                        r.diags.at(
                            loc,
                            Class::GeneralError,
                            format!("No file set for track_file {} - ignoring", t.name),
                        );
                    } else {
                        self.cfg.track_files.push(t);
                    }
                }
            }
            (Ctx::TrackProcess, _) => {
                if let Some(t) = self.tproc.take() {
                    if t.process.is_empty() {
                        let loc = r.line.loc;
                        r.diags.at(
                            loc,
                            Class::GeneralError,
                            format!("track process '{}' process name not specified", t.name),
                        );
                    } else {
                        self.cfg.track_processes.push(t);
                    }
                }
            }
            (Ctx::SyncGroup, "vrrp_sync_group") => {
                if let Some(g) = self.sync.take() {
                    self.cfg.sync_groups.push(g);
                }
            }
            (Ctx::SyncGroup, "group") | (Ctx::TrackGroup, "group") => {
                let empty = match ctx {
                    Ctx::SyncGroup => self
                        .sync
                        .as_ref()
                        .map(|g| (g.group.is_empty(), "sync", &g.name)),
                    _ => self
                        .tgroup
                        .as_ref()
                        .map(|g| (g.group.is_empty(), "track", &g.name)),
                };
                if let Some((true, what, name)) = empty {
                    let msg = format!("Warning - {what} group {name} has empty group block");
                    let loc = r.line.loc;
                    r.diags.at(loc, Class::GeneralError, msg);
                }
            }
            (Ctx::TrackGroup, _) => {
                if let Some(g) = self.tgroup.take() {
                    self.cfg.track_groups.push(g);
                }
            }
            (Ctx::Root, "virtual_server_group") => {
                if let Some(g) = self.vsg.take() {
                    if g.entries.is_empty() {
                        // Checked at the block's end, as keepalived does;
                        // the group is dropped.
                        let loc = r.line.loc;
                        r.diags.at(
                            loc,
                            Class::GeneralError,
                            format!("virtual server group {} has no entries - removing", g.name),
                        );
                    } else {
                        self.cfg.virtual_server_groups.push(g);
                    }
                }
            }
            (Ctx::Ssl, _) => self.cfg.ssl = self.ssl.take(),
            (Ctx::GlobalDefs, "notification_email")
                if self.cfg.global_defs.notification_email.len() == self.emails_at_open =>
            {
                let loc = r.line.loc;
                r.diags.at(
                    loc,
                    Class::GeneralError,
                    "Warning - empty notification_email block",
                );
            }
            // Exact capacities: with 200,000 real servers, Vec growth slack
            // would otherwise triple the model's memory.
            (Ctx::VirtualServer, _) => {
                if let Some(mut vs) = self.vs.take() {
                    vs.real_servers = self.rs_list.drain(..).collect();
                    self.cfg.virtual_servers.push(vs);
                }
            }
            (Ctx::RealServer, _) => {
                if let Some(mut rs) = self.rs.take() {
                    rs.checkers = self.chk_list.drain(..).collect();
                    if self.vs.is_some() {
                        self.rs_list.push(rs);
                    }
                }
            }
            (Ctx::Url, _) => {
                if let (
                    Some(u),
                    Some(Checker {
                        spec: CheckerSpec::Http(h),
                        ..
                    }),
                ) = (self.url.take(), self.chk.as_mut())
                {
                    if u.path.is_none() {
                        // keepalived checks at the block's end, the `}` line.
                        let loc = r.line.loc;
                        r.diags.at(
                            loc,
                            Class::GeneralError,
                            "HTTP/SSL_GET checker url has no path - ignoring",
                        );
                    } else {
                        let mut u = u;
                        regex_url_end(&mut u, self.pending_regex.take(), r);
                        h.urls.push(u);
                    }
                }
            }
            (Ctx::SmtpHost, _) => {
                if let (
                    Some(h),
                    Some(Checker {
                        spec: CheckerSpec::Smtp(s),
                        ..
                    }),
                ) = (self.smtp_host.take(), self.chk.as_mut())
                {
                    s.hosts.push(h);
                }
            }
            (
                Ctx::TcpCheck
                | Ctx::HttpGet
                | Ctx::MiscCheck
                | Ctx::SmtpCheck
                | Ctx::DnsCheck
                | Ctx::PingCheck
                | Ctx::UdpCheck
                | Ctx::FileCheck
                | Ctx::BfdCheck,
                _,
            ) => {
                if let Some(mut c) = self.chk.take() {
                    let common = std::mem::take(&mut self.chk_common);
                    if *self.last_common != common {
                        self.last_common = Arc::new(common);
                    }
                    c.common = Arc::clone(&self.last_common);
                    let keep = match &c.spec {
                        // keepalived checks these at the block's end, the `}` line.
                        CheckerSpec::Http(h) if h.urls.is_empty() => {
                            let loc = r.line.loc;
                            r.diags.at(
                                loc,
                                Class::GeneralError,
                                "HTTP/SSL_GET checker has no urls specified - ignoring",
                            );
                            false
                        }
                        CheckerSpec::File(f) if f.track_file.is_none() => {
                            let loc = r.line.loc;
                            r.diags.at(
                                loc,
                                Class::GeneralError,
                                "FILE_CHECK has no track_file specified - ignoring",
                            );
                            false
                        }
                        CheckerSpec::Misc(m) if m.path.is_none() => {
                            let loc = r.line.loc;
                            r.diags.at(
                                loc,
                                Class::GeneralError,
                                "No script path has been specified for MISC_CHECKER - skipping",
                            );
                            false
                        }
                        _ => true,
                    };
                    if keep && self.rs.is_some() {
                        self.chk_list.push(c);
                    }
                }
            }
            (Ctx::GarpGroup | Ctx::BfdInstance | Ctx::AuthHmac, _) => {
                self.raw_block.pop();
            }
            _ => {}
        }
    }
}

/// keepalived's `regex_options` words (check_http.c `regex_options[]`).
const REGEX_OPTIONS: &[&str] = &[
    "allow_empty_class",
    "alt_bsux",
    "auto_callout",
    "caseless",
    "dollar_endonly",
    "dotall",
    "dupnames",
    "extended",
    "firstline",
    "match_unset_backref",
    "multiline",
    "never_ucp",
    "never_utf",
    "no_auto_capture",
    "no_auto_possess",
    "no_dotstar_anchor",
    "no_start_optimize",
    "ucp",
    "ungreedy",
    "utf",
    "never_backslash_c",
    "alt_circumflex",
    "alt_verbnames",
    "use_offset_limit",
];

/// keepalived's `regex_offset_handler`: 0 after a logged complaint.
fn regex_offset(line: &Line, kind: &str, d: &mut Diags) -> u64 {
    if line.len() != 2 {
        // keepalived's spelling
        d.note(
            line.loc,
            format!("Missing or too may options for regex_{kind}_offset"),
        );
        return 0;
    }
    match strtoul(line.w(1)) {
        (v, true) => v,
        (_, false) => {
            d.note(
                line.loc_of(1),
                format!("Invalid regex_{kind}_offset {} specified", line.w(1)),
            );
            0
        }
    }
}

/// keepalived's regex part of `url_check`, at the end of a url block that
/// has a path.
fn regex_url_end(u: &mut Url, pending: Option<(Vec<u8>, Loc)>, r: &mut Reader) {
    let loc = r.line.loc;
    if let Some((p, at)) = pending {
        u.regex = Some(p);
        u.regex_loc = Some(at);
    } else if !u.regex_options.is_empty()
        || u.regex_no_match
        || u.regex_min_offset != 0
        || u.regex_max_offset.is_some()
        || u.regex_stack.is_some()
    {
        r.diags
            .note(loc, "regex parameters specified without regex");
        u.regex_options.clear();
        u.regex_no_match = false;
        u.regex_min_offset = 0;
        u.regex_max_offset = None;
        u.regex_stack = None;
    }
    if let Some(max) = u.regex_max_offset
        && u.regex_min_offset > max
    {
        r.diags.note(
            loc,
            format!(
                "regex min offset {} > regex_max_offset {max} - ignoring",
                u.regex_min_offset
            ),
        );
        u.regex_min_offset = 0;
        u.regex_max_offset = None;
    }
}

/// keepalived's checks at the `}` of a `vrrp_instance` (its end handler),
/// reported at that line: a VMAC with unicast needs an interface and sends
/// from the base interface; a unicast TTL needs peers.
fn instance_end(i: &mut VrrpInstance, end: Loc, d: &mut Diags) {
    let name = &i.name;
    if i.unicast_configured && i.use_vmac.is_some() {
        if i.interface.is_none() {
            d.at(
                end,
                Class::GeneralError,
                format!("({name}): Cannot use VMAC/ipvlan with unicast and no interface - clearing use_vmac"),
            );
            i.use_vmac = None;
        } else if !i.vmac_xmit_base {
            d.at(
                end,
                Class::GeneralError,
                format!("({name}) unicast with use_vmac requires vmac_xmit_base - setting"),
            );
            i.vmac_xmit_base = true;
        }
    }
    if i.unicast_peer.is_empty() && i.unicast_ttl.is_some() {
        d.at(
            end,
            Class::GeneralError,
            format!("({name}): Cannot use unicast_ttl without unicast peers - resetting"),
        );
        i.unicast_ttl = None;
    }
}
