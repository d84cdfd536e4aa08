//! The parsed configuration (`kaconf::Config`) mapped into the checker
//! role's own types (`checkers::LvsCfg`), with keepalived's inheritance
//! (checker → real server → virtual server → checker default) resolved
//! here, so the `checkers` crate never sees the config language.
//!
//! Also where a `virtual_server_group` becomes one IPVS service per address
//! (and per fwmark), and where scripts are resolved (PATH, user); a script
//! that cannot be set up is dropped with a warning, as keepalived disables
//! it, and the rest of the configuration is kept.

use std::net::IpAddr;
use std::time::Duration;

use checkers::script::Script;
use checkers::{
    CheckKind, CheckerCfg, ConnOpts, DnsCfg, FileCfg, HttpCfg, HttpProtocol, LvsCfg, MiscCfg,
    RsCfg, SmtpCfg, SorryCfg, TlsCfg, UdpCfg, UrlCfg, VsCfg,
};
use ipvs::model::{Af, Fwd, Protocol as IpvsProto, Scheduler, SvcFlags, TunCsum, Tunnel};
use ipvs::{Dest, DestKey, Service, ServiceKey};
use kaconf::model::{
    Checker, CheckerCommon, CheckerSpec, Config, Family, LbKind, LvsMethod, Protocol, RealServer,
    VirtualServer, VsKey, VsgEntry,
};

const SEC: u64 = 1_000_000;
/// keepalived's defaults (check_data.c alloc_vs, check_api.c queue_checker).
const DEFAULT_DELAY_LOOP: u64 = 60 * SEC;
const DEFAULT_CONNECT_TIMEOUT: u64 = 5 * SEC;
const DEFAULT_HELO: &str = "smtpchecker.keepalived.org";

fn us(v: u64) -> Duration {
    Duration::from_micros(v)
}

/// Maps every virtual server. Warnings are keepalived-style messages for
/// what had to be dropped (scripts that cannot run, url-less HTTP checks).
pub fn lvs_cfg(cfg: &Config) -> (LvsCfg, Vec<String>) {
    let mut lvs = lvs_globals(cfg);
    lvs.virtual_servers.reserve_exact(cfg.virtual_servers.len());
    let warn = map_virtual_servers(cfg, usize::MAX, |part| lvs.virtual_servers.extend(part));
    (lvs, warn)
}

/// The global settings of [`lvs_cfg`], without virtual servers.
pub fn lvs_globals(cfg: &Config) -> LvsCfg {
    let g = &cfg.global_defs;
    LvsCfg {
        virtual_servers: Vec::new(),
        rs_init_notifies: g.rs_init_notifies,
        no_checker_emails: g.no_checker_emails,
        fifo_trailing_nul: false,
    }
}

/// Maps the virtual servers in order, handing them to `part` `per_part` at
/// a time (the checker process builds its first table while the first
/// parts are already being programmed); returns the warnings.
pub fn map_virtual_servers(
    cfg: &Config,
    per_part: usize,
    mut part: impl FnMut(Vec<VsCfg>),
) -> Vec<String> {
    let mut warn = Vec::new();
    let default_user = cfg.global_defs.script_user.as_ref();
    for vss in cfg.virtual_servers.chunks(per_part.max(1)) {
        part(
            vss.iter()
                .map(|vs| vs_cfg(cfg, vs, default_user, &mut warn))
                .collect(),
        );
    }
    warn
}

/// keepalived's one JIT stack for every `regex_stack` url: the largest
/// start and the largest max configured anywhere.
fn regex_stack(cfg: &Config) -> Option<(usize, usize)> {
    let mut out: Option<(usize, usize)> = None;
    for vs in &cfg.virtual_servers {
        for rs in &vs.real_servers {
            for c in &rs.checkers {
                if let CheckerSpec::Http(h) = &c.spec {
                    for (s, m) in h.urls.iter().filter_map(|u| u.regex_stack) {
                        let (s, m) = (s as usize, m as usize);
                        out = Some(out.map_or((s, m), |(os, om)| (os.max(s), om.max(m))));
                    }
                }
            }
        }
    }
    out
}

/// A url's regex compiled as keepalived compiles it; a pattern that does
/// not compile gives keepalived's log line, then ours: the url is checked
/// without it (see `checkers::probe::judge`).
fn url_regex(
    cfg: &Config,
    u: &kaconf::model::Url,
    warn: &mut Vec<String>,
) -> Option<checkers::bodyregex::RegexCfg> {
    let pattern = u.regex.clone()?;
    // the walk over the configuration only for the rare regex_stack url
    let stack = u.regex_stack.and_then(|_| regex_stack(cfg));
    let re = checkers::bodyregex::RegexCfg::new(
        pattern,
        checkers::bodyregex::option_bits(u.regex_options.iter().map(String::as_str)),
        u.regex_no_match,
        u.regex_min_offset as usize,
        u.regex_max_offset.map_or(0, |m| m as usize + 1),
        stack,
    );
    if let Err(line) = &re.compiled {
        warn.push(line.clone());
        warn.push(format!(
            "Regex of url {} not applied: the url is checked without it",
            u.path.as_deref().unwrap_or("")
        ));
    }
    Some(re)
}

/// `Invalid regex` lines at the pattern's location, for `-t` (keepalived
/// logs them only from its checker process, without a line, as the checker
/// role does with `lvs_cfg`'s warnings).
pub fn regex_diags(cfg: &Config, d: &mut kaconf::Diags) {
    for vs in &cfg.virtual_servers {
        for rs in &vs.real_servers {
            for c in &rs.checkers {
                let CheckerSpec::Http(h) = &c.spec else {
                    continue;
                };
                for u in &h.urls {
                    let mut warn = Vec::new();
                    url_regex(cfg, u, &mut warn);
                    for w in warn {
                        d.note(u.regex_loc.unwrap_or(u.loc), w);
                    }
                }
            }
        }
    }
}

pub fn proto_word(p: Option<Protocol>) -> &'static str {
    match p {
        Some(Protocol::Tcp) => "tcp",
        Some(Protocol::Udp) => "udp",
        Some(Protocol::Sctp) => "sctp",
        None => "none",
    }
}

fn ipvs_proto(p: Option<Protocol>) -> IpvsProto {
    match p {
        Some(Protocol::Tcp) => IpvsProto::Tcp,
        Some(Protocol::Sctp) => IpvsProto::Sctp,
        // keepalived defaults an address VS without protocol to UDP
        _ => IpvsProto::Udp,
    }
}

fn af_of(f: Family) -> Af {
    match f {
        Family::Inet => Af::Inet,
        Family::Inet6 => Af::Inet6,
    }
}

/// The family of a fwmark service: `ip_family`, else the real servers'.
fn fwmark_af(vs: &VirtualServer, entry: Option<Family>) -> Af {
    entry
        .or(vs.ip_family)
        .map(af_of)
        .or_else(|| vs.real_servers.first().map(|r| Af::of(&r.addr)))
        .unwrap_or(Af::Inet)
}

/// Every address from `first` to `last` (a group range).
fn range(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a)..=u32::from(b))
            .map(|n| IpAddr::V4(n.into()))
            .collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a)..=u128::from(b))
            .take(65536)
            .map(|n| IpAddr::V6(n.into()))
            .collect(),
        _ => vec![first],
    }
}

/// The IPVS services of a virtual server (a group expands to many).
pub fn services(cfg: &Config, vs: &VirtualServer) -> Vec<(ServiceKey, Service)> {
    let svc = service(vs);
    let proto = ipvs_proto(vs.protocol);
    let keys: Vec<ServiceKey> = match &vs.key {
        VsKey::Inet { addr, port } => vec![ServiceKey::Inet {
            proto,
            addr: *addr,
            port: *port,
        }],
        VsKey::Fwmark { mark } => vec![ServiceKey::fwmark(fwmark_af(vs, None), *mark)],
        VsKey::Group { name } => cfg
            .virtual_server_groups
            .iter()
            .filter(|g| &g.name == name)
            .flat_map(|g| g.entries.iter())
            .flat_map(|e| match e {
                VsgEntry::Range {
                    first, last, port, ..
                } => range(*first, *last)
                    .into_iter()
                    .map(|addr| ServiceKey::Inet {
                        proto,
                        addr,
                        port: *port,
                    })
                    .collect::<Vec<_>>(),
                VsgEntry::Fwmark { mark, family, .. } => {
                    vec![ServiceKey::fwmark(fwmark_af(vs, *family), *mark)]
                }
            })
            .collect(),
    };
    keys.into_iter().map(|k| (k, svc.clone())).collect()
}

fn service(vs: &VirtualServer) -> Service {
    let mut s = Service::new(Scheduler::from_name(vs.lb_algo.as_deref().unwrap_or("wlc")));
    if let Some(t) = vs.persistence_timeout {
        s = s.persistent(t);
    }
    if vs.ops {
        s.flags |= SvcFlags::ONEPACKET;
    }
    // flag-1/2/3 are the scheduler flag bits 0..2 (IP_VS_SVC_F_SCHED1 = 0x8)
    s.flags |= SvcFlags(u32::from(vs.sched_flags & 0x7) << 3);
    s.netmask =
        vs.persistence_granularity
            .as_deref()
            .and_then(|g| match g.parse::<std::net::Ipv4Addr>() {
                Ok(m) => Some(u32::from(m)),
                Err(_) => g.parse::<u32>().ok(),
            });
    s.pe_name = vs.persistence_engine.clone();
    s
}

/// The forwarding method an `lb_kind`/`lvs_method` configures (also what
/// the checker data file prints).
pub(crate) fn fwd(m: Option<&LvsMethod>) -> Fwd {
    let Some(m) = m else { return Fwd::Masq };
    match m.kind {
        LbKind::Nat => Fwd::Masq,
        LbKind::Dr => Fwd::Route,
        LbKind::Tun => {
            let t = m.tunnel.as_ref();
            let csum = match t.and_then(|t| t.csum.as_deref()) {
                Some("csum") => TunCsum::Csum,
                Some("remcsum") => TunCsum::RemCsum,
                _ => TunCsum::NoCsum,
            };
            Fwd::Tunnel(match t.and_then(|t| t.tun_type.as_deref()) {
                Some("gue") => Tunnel::Gue {
                    port: t.and_then(|t| t.port).unwrap_or(0),
                    csum,
                },
                Some("gre") => Tunnel::Gre { csum },
                _ => Tunnel::Ipip,
            })
        }
    }
}

/// Resolves a configured command and its user (`USER [GROUP]`, else
/// global `script_user`, else our own uid/gid).
fn script(
    s: &kaconf::model::Script,
    user: Option<&(String, Option<String>)>,
    default_user: Option<&(String, Option<String>)>,
    warn: &mut Vec<String>,
) -> Option<Script> {
    let sc = match Script::new(s.argv.clone()) {
        Ok(sc) => sc,
        Err(e) => {
            warn.push(format!(
                "WARNING - script '{}' cannot be used ({e}) - disabling",
                s.argv.join(" ")
            ));
            return None;
        }
    };
    let own = s.user.clone().map(|u| (u, s.group.clone()));
    let Some((name, group)) = own.as_ref().or(user).or(default_user) else {
        return Some(sc);
    };
    let Ok(Some(u)) = nix::unistd::User::from_name(name) else {
        warn.push(format!("Unable to set default user {name} for script"));
        return None;
    };
    let gid = match group {
        Some(gname) => match nix::unistd::Group::from_name(gname) {
            Ok(Some(g)) => g.gid.as_raw(),
            _ => {
                warn.push(format!("Unable to find group {gname} for script"));
                return None;
            }
        },
        None => u.gid.as_raw(),
    };
    Some(sc.as_user(u.uid.as_raw(), gid))
}

fn vs_cfg(
    cfg: &Config,
    vs: &VirtualServer,
    default_user: Option<&(String, Option<String>)>,
    warn: &mut Vec<String>,
) -> VsCfg {
    let name = kaconf::validate::fmt_vs(vs);
    let proto = vs.protocol;
    let vs_method = vs.lvs_method.as_ref();
    let sorry_server = vs.sorry_server.map(|(addr, port)| {
        let method = vs.sorry_server_lvs_method.as_deref().or(vs_method);
        SorryCfg {
            key: DestKey { addr, port },
            dest: Dest::new(fwd(method), 1),
            inhibit: vs.sorry_server_inhibit,
            name: checkers::trio(addr, proto_word(proto), port),
        }
    });
    // The validator already capped the quorum at the total weight and
    // reset a hysteresis >= quorum, with keepalived's messages.
    let quorum = vs.quorum.unwrap_or(1);
    let hysteresis = vs.hysteresis.unwrap_or(0);
    // check_data.c validate_check_config
    let fwmarks = match &vs.key {
        VsKey::Fwmark { .. } => true,
        VsKey::Group { name } => cfg
            .virtual_server_groups
            .iter()
            .filter(|g| &g.name == name)
            .flat_map(|g| g.entries.iter())
            .any(|e| matches!(e, VsgEntry::Fwmark { .. })),
        VsKey::Inet { .. } => false,
    };
    let ha_suspend = vs.ha_suspend && !fwmarks;
    if vs.ha_suspend && fwmarks {
        warn.push(format!(
            "Virtual server {name}: cannot use ha_suspend with fwmarks - clearing ha_suspend"
        ));
    }
    VsCfg {
        services: services(cfg, vs),
        quorum,
        hysteresis,
        sorry_server,
        omega: vs.omega,
        // check_data.c: own, else smtp_alert_checker, else smtp_alert, else off
        smtp_alert: vs
            .smtp_alert
            .or(cfg.global_defs.smtp_alert_checker)
            .or(cfg.global_defs.smtp_alert)
            .unwrap_or(false),
        ha_suspend,
        addr: match vs.key {
            VsKey::Inet { addr, .. } => Some(addr),
            _ => None,
        },
        quorum_up: vs
            .quorum_up
            .as_ref()
            .and_then(|s| script(s, None, default_user, warn)),
        quorum_down: vs
            .quorum_down
            .as_ref()
            .and_then(|s| script(s, None, default_user, warn)),
        real_servers: vs
            .real_servers
            .iter()
            .map(|rs| rs_cfg(cfg, vs, rs, default_user, warn))
            .collect(),
        name,
    }
}

fn rs_cfg(
    cfg: &Config,
    vs: &VirtualServer,
    rs: &RealServer,
    default_user: Option<&(String, Option<String>)>,
    warn: &mut Vec<String>,
) -> RsCfg {
    let o = rs.opts();
    let method = o.lvs_method.as_ref().or(vs.lvs_method.as_ref());
    let mut dest = Dest::new(fwd(method), rs.weight.or(vs.weight).unwrap_or(1));
    dest.u_thresh = o.uthreshold.unwrap_or(0);
    dest.l_thresh = o.lthreshold.unwrap_or(0);
    let rs_name = checkers::trio(rs.addr, proto_word(vs.protocol), rs.port);
    // exact capacity: a filter_map collect would reserve 4 checkers per
    // real server (1.3 KB), and the manager's in-place collect keeps that
    // allocation for the daemon's whole life
    let mut checkers = Vec::with_capacity(rs.checkers.len());
    checkers.extend(
        rs.checkers
            .iter()
            .filter_map(|c| checker_cfg(cfg, vs, rs, c, default_user, warn, &rs_name)),
    );
    RsCfg {
        key: DestKey {
            addr: rs.addr,
            port: rs.port,
        },
        dest,
        name: rs_name,
        inhibit_on_failure: o.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure),
        // the same, but on by default (check_data.c: "backwards compatibility")
        smtp_alert: o
            .smtp_alert
            .or(cfg.global_defs.smtp_alert_checker)
            .or(cfg.global_defs.smtp_alert)
            .unwrap_or(true),
        notify_up: o
            .notify_up
            .as_ref()
            .and_then(|s| script(s, None, default_user, warn)),
        notify_down: o
            .notify_down
            .as_ref()
            .and_then(|s| script(s, None, default_user, warn)),
        checkers,
    }
}

/// Connection options of a checker (or of an SMTP `host` block).
fn conn(c: &CheckerCommon, rs: &RealServer, timeout: u64) -> ConnOpts {
    let ip = c.connect_ip.unwrap_or(rs.addr);
    let port = c.connect_port.unwrap_or(rs.port);
    ConnOpts {
        dst: std::net::SocketAddr::new(ip, port),
        bindto: c.bindto,
        bind_port: c.bind_port,
        bind_if: c.bind_if.as_deref().map(str::to_owned),
        connect_timeout: us(c.connect_timeout.map_or(timeout, |t| t.micros())),
        fwmark: c.fwmark,
    }
}

fn checker_cfg(
    cfg: &Config,
    vs: &VirtualServer,
    rs: &RealServer,
    c: &Checker,
    default_user: Option<&(String, Option<String>)>,
    warn: &mut Vec<String>,
    rs_name: &str,
) -> Option<CheckerCfg> {
    let cc = &*c.common;
    let ro = rs.opts();
    let micros = |t: Option<kaconf::model::Timer>| t.map(|t| t.micros());
    let delay_loop = micros(cc.delay_loop)
        .or(ro.delay_loop)
        .or(vs.delay_loop)
        .unwrap_or(DEFAULT_DELAY_LOOP);
    let timeout = ro
        .connect_timeout
        .or(vs.connect_timeout)
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let (default_retry, default_dbr) = match &c.spec {
        CheckerSpec::Http(_) => (1, 3 * SEC),
        CheckerSpec::Dns { .. } => (3, delay_loop),
        CheckerSpec::Misc(_) => (0, SEC),
        _ => (1, SEC),
    };
    let retry = cc.retry.or(ro.retry).or(vs.retry).unwrap_or(default_retry);
    let dbr = micros(cc.delay_before_retry)
        .or(ro.delay_before_retry)
        .or(vs.delay_before_retry)
        .unwrap_or(default_dbr);
    let warmup = micros(cc.warmup)
        .or(ro.warmup)
        .or(vs.warmup)
        .unwrap_or(delay_loop);
    let alpha = cc.alpha.or(ro.alpha).unwrap_or(vs.alpha);
    let vhost = || ro.virtualhost.clone().or_else(|| vs.virtualhost.clone());
    let kind = match &c.spec {
        CheckerSpec::Tcp => CheckKind::Tcp,
        CheckerSpec::Ping => CheckKind::Ping,
        CheckerSpec::Http(h) => {
            let urls: Vec<UrlCfg> = h
                .urls
                .iter()
                .filter_map(|u| {
                    Some(UrlCfg {
                        path: u.path.clone()?,
                        digest: u.digest.as_deref().and_then(checkers::http::parse_digest),
                        status_code: u.status_code.clone(),
                        virtualhost: u.virtualhost.clone(),
                        regex: url_regex(cfg, u, warn),
                    })
                })
                .collect();
            if urls.is_empty() {
                warn.push(format!(
                    "{} checker for {rs_name} has no url - skipping",
                    if h.ssl { "SSL_GET" } else { "HTTP_GET" }
                ));
                return None;
            }
            let tls = h.ssl.then(|| {
                let ssl = cfg.ssl.clone().unwrap_or_default();
                TlsCfg {
                    ca: ssl.ca.map(Into::into),
                    verify: false,
                    certificate: ssl.certificate.map(Into::into),
                    key: ssl.key.map(Into::into),
                    enable_sni: h.enable_sni || h.sni_name.is_some(),
                    // SNI skips the real server's virtualhost (check_ssl.c)
                    sni_name: h
                        .sni_name
                        .clone()
                        .or_else(|| h.virtualhost.clone())
                        .or_else(|| vs.virtualhost.clone()),
                }
            });
            CheckKind::Http(Box::new(HttpCfg {
                urls,
                protocol: match h.http_protocol.as_deref() {
                    Some("1.1") => HttpProtocol::Http11,
                    Some("1.0C" | "1.0c") => HttpProtocol::Http10Close,
                    _ => HttpProtocol::Http10,
                },
                virtualhost: h.virtualhost.clone().or_else(vhost),
                fast_recovery: h.fast_recovery,
                tls,
            }))
        }
        CheckerSpec::Smtp(smtp) => CheckKind::Smtp(SmtpCfg {
            helo_name: smtp
                .helo_name
                .clone()
                .or_else(|| cfg.global_defs.smtp_helo_name.clone())
                .unwrap_or_else(|| DEFAULT_HELO.into()),
            extra_hosts: smtp.hosts.iter().map(|h| conn(h, rs, timeout)).collect(),
        }),
        CheckerSpec::Dns(dns) => CheckKind::Dns(DnsCfg {
            qtype: dns.qtype.clone().unwrap_or_else(|| "SOA".into()),
            name: dns.name.clone().unwrap_or_default(),
        }),
        CheckerSpec::Udp(udp) => CheckKind::Udp(UdpCfg {
            payload: udp.payload.clone(),
            require_reply: udp
                .require_reply
                .as_deref()
                .map(|r| checkers::probe::parse_reply_pattern(r).unwrap_or_default()),
            min_reply_length: udp.min_reply_length.unwrap_or(0),
            max_reply_length: udp.max_reply_length.unwrap_or(255),
        }),
        CheckerSpec::Misc(m) => {
            let Some(path) = &m.path else {
                warn.push("No script path has been specified for MISC_CHECKER - skipping".into());
                return None;
            };
            let script = script(path, m.user.as_ref(), default_user, warn)?;
            CheckKind::Misc(MiscCfg {
                script,
                timeout: us(m.timeout.unwrap_or(delay_loop)),
                dynamic: m.dynamic,
            })
        }
        CheckerSpec::File(file) => {
            let (track_file, weight, reverse) = (&file.track_file, &file.weight, &file.reverse);
            let tf = cfg
                .track_files
                .iter()
                .find(|t| Some(&t.name) == track_file.as_ref())?;
            CheckKind::File(FileCfg {
                path: tf.file.clone()?.into(),
                weight: weight.unwrap_or(i64::from(tf.weight)),
                reverse: *reverse || (weight.is_none() && tf.weight_reverse),
            })
        }
        CheckerSpec::Bfd { .. } => {
            warn.push(format!(
                "BFD_CHECK for {rs_name} is not supported - skipping"
            ));
            return None;
        }
    };
    let mut conn = conn(cc, rs, timeout);
    // SMTP: with host blocks and no connection options of its own, the
    // checker only checks its hosts (check_smtp.c)
    if let CheckKind::Smtp(s) = &kind
        && !s.extra_hosts.is_empty()
        && cc.connect_ip.is_none()
        && cc.connect_port.is_none()
        && cc.bindto.is_none()
    {
        let mut s = s.clone();
        conn = s.extra_hosts.remove(0);
        return Some(CheckerCfg {
            kind: CheckKind::Smtp(s),
            conn,
            retry,
            delay_loop: us(delay_loop),
            delay_before_retry: us(dbr),
            warmup: us(warmup),
            alpha,
            log_all_failures: cc
                .log_all_failures
                .unwrap_or(cfg.global_defs.checker_log_all_failures),
        });
    }
    Some(CheckerCfg {
        kind,
        conn,
        retry,
        delay_loop: us(delay_loop),
        delay_before_retry: us(dbr),
        warmup: us(warmup),
        alpha,
        log_all_failures: cc
            .log_all_failures
            .unwrap_or(cfg.global_defs.checker_log_all_failures),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        kaconf::parse_str(text, &kaconf::Options::default()).config
    }

    const BASIC: &str = r#"
virtual_server 10.0.0.1 80 {
    delay_loop 6
    lb_algo rr
    lb_kind DR
    protocol TCP
    persistence_timeout 50
    quorum 2
    hysteresis 1
    sorry_server 10.0.0.9 8080
    real_server 192.168.1.2 8080 {
        weight 3
        inhibit_on_failure
        HTTP_GET {
            url {
                path /health
                digest 6f5902ac237024bdd0c176cb93063dc4
                status_code 200-299 404
            }
            connect_timeout 2
            retry 4
        }
        TCP_CHECK {
            connect_port 22
        }
    }
    real_server 192.168.1.3 80 {
        MISC_CHECK {
            misc_path "/bin/true x"
            misc_dynamic
        }
    }
}
"#;

    #[test]
    fn ha_suspend_watches_the_vs_address_and_is_cleared_for_fwmarks() {
        let (lvs, warn) = lvs_cfg(&parse(
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n ha_suspend\n real_server 10.0.0.2 80 { }\n}\n\
             virtual_server fwmark 5 {\n ha_suspend\n real_server 10.0.0.2 80 { }\n}\n\
             virtual_server_group G {\n 10.0.0.5 80\n}\n\
             virtual_server group G {\n protocol TCP\n ha_suspend\n real_server 10.0.0.2 80 { }\n}\n",
        ));
        let v = &lvs.virtual_servers;
        assert_eq!(
            (v[0].ha_suspend, v[0].addr),
            (true, Some("10.0.0.1".parse().unwrap()))
        );
        assert_eq!((v[1].ha_suspend, v[1].addr), (false, None));
        // a group keeps ha_suspend but has no address keepalived matches
        assert_eq!((v[2].ha_suspend, v[2].addr), (true, None));
        assert_eq!(
            warn,
            ["Virtual server FWM 5: cannot use ha_suspend with fwmarks - clearing ha_suspend"]
        );
    }

    #[test]
    fn basic_virtual_server() {
        let cfg = parse(BASIC);
        let (lvs, warn) = lvs_cfg(&cfg);
        assert!(warn.is_empty(), "{warn:?}");
        let vs = &lvs.virtual_servers[0];
        assert_eq!(vs.name, "[10.0.0.1]:tcp:80");
        assert_eq!((vs.quorum, vs.hysteresis), (2, 1));
        assert_eq!(vs.services.len(), 1);
        let (k, s) = &vs.services[0];
        assert_eq!(*k, ServiceKey::tcp("10.0.0.1:80".parse().unwrap()));
        assert_eq!(*s, Service::new(Scheduler::Rr).persistent(50));
        let sorry = vs.sorry_server.as_ref().unwrap();
        assert_eq!(sorry.name, "[10.0.0.9]:tcp:80", "DR resets the sorry port");
        let r = &vs.real_servers[0];
        // DR: the daemon's parser already reset the port to the VS's
        assert_eq!(r.key, DestKey::new("192.168.1.2:80".parse().unwrap()));
        assert_eq!(r.name, "[192.168.1.2]:tcp:80");
        assert_eq!(r.dest, Dest::new(Fwd::Route, 3));
        assert!(r.inhibit_on_failure);
        let http = &r.checkers[0];
        assert_eq!(http.retry, 4);
        assert_eq!(
            http.delay_before_retry,
            Duration::from_secs(3),
            "HTTP default"
        );
        assert_eq!(http.delay_loop, Duration::from_secs(6));
        assert_eq!(
            http.warmup,
            Duration::from_secs(6),
            "warmup defaults to delay_loop"
        );
        assert_eq!(http.conn.connect_timeout, Duration::from_secs(2));
        let CheckKind::Http(h) = &http.kind else {
            panic!()
        };
        assert_eq!(h.urls[0].status_code, [(200, 299), (404, 404)]);
        assert!(h.urls[0].digest.is_some());
        let tcp = &r.checkers[1];
        assert_eq!(tcp.conn.dst, "192.168.1.2:22".parse().unwrap());
        assert_eq!(tcp.conn.connect_timeout, Duration::from_secs(5));
        assert_eq!(
            (tcp.retry, tcp.delay_before_retry),
            (1, Duration::from_secs(1))
        );
        let misc = &vs.real_servers[1].checkers[0];
        let CheckKind::Misc(m) = &misc.kind else {
            panic!()
        };
        assert!(m.dynamic);
        assert_eq!(m.script.argv(), ["/bin/true", "x"]);
        assert_eq!(
            m.timeout,
            Duration::from_secs(6),
            "misc_timeout defaults to delay_loop"
        );
        assert_eq!(misc.retry, 0, "MISC default retry");
    }

    #[test]
    fn manager_accepts_the_mapping() {
        let (lvs, _) = lvs_cfg(&parse(BASIC));
        let (m, _) = checkers::Manager::new(lvs);
        assert_eq!(
            m.desired().to_string(),
            "-A -t 10.0.0.1:80 -s rr -p 50\n\
             -a -t 10.0.0.1:80 -r 192.168.1.2:80 -g -w 3\n\
             -a -t 10.0.0.1:80 -r 192.168.1.3:80 -g -w 1\n"
        );
    }

    #[test]
    fn quorum_is_capped_to_the_total_weight() {
        let cfg = parse(
            r#"
virtual_server 10.0.0.1 80 {
    protocol TCP
    quorum 10
    hysteresis 2
    real_server 192.168.1.2 80 {
        weight 2
    }
    real_server 192.168.1.3 80 {
    }
}
"#,
        );
        let (lvs, warn) = lvs_cfg(&cfg);
        assert_eq!(
            (
                lvs.virtual_servers[0].quorum,
                lvs.virtual_servers[0].hysteresis
            ),
            (3, 2)
        );
        assert!(warn.is_empty(), "{warn:?}");
    }

    #[test]
    fn group_expands_into_services() {
        let cfg = parse(
            r#"
virtual_server_group G1 {
    10.0.0.1-3 80
    fwmark 7
}
virtual_server group G1 {
    protocol TCP
    real_server 192.168.1.2 80 {
        TCP_CHECK {
        }
    }
}
"#,
        );
        let (lvs, _) = lvs_cfg(&cfg);
        let vs = &lvs.virtual_servers[0];
        assert_eq!(vs.name, "[G1]:0");
        let keys: Vec<String> = vs.services.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(
            keys,
            ["-t 10.0.0.1:80", "-t 10.0.0.2:80", "-t 10.0.0.3:80", "-f 7"]
        );
    }

    #[test]
    fn fwmark_and_udp_dns_checkers() {
        let cfg = parse(
            r#"
virtual_server fwmark 5 {
    lb_kind NAT
    real_server 2001:db8::2 53 {
        DNS_CHECK {
            name example.com
            type A
        }
        UDP_CHECK {
            payload 0a0b
            require_reply 0aXx
        }
    }
}
"#,
        );
        let (lvs, _) = lvs_cfg(&cfg);
        let vs = &lvs.virtual_servers[0];
        assert_eq!(vs.name, "FWM 5");
        assert_eq!(vs.services[0].0, ServiceKey::fwmark(Af::Inet6, 5));
        let r = &vs.real_servers[0];
        assert_eq!(r.name, "[2001:db8::2]:none:53");
        let dns = &r.checkers[0];
        assert_eq!(dns.retry, 3, "DNS default retry");
        assert_eq!(dns.delay_before_retry, dns.delay_loop, "DNS default dbr");
        let CheckKind::Udp(u) = &r.checkers[1].kind else {
            panic!()
        };
        assert_eq!(u.payload.as_deref(), Some(&[0x0a, 0x0b][..]));
        assert_eq!(u.require_reply, Some(vec![(0xff, 0x0a), (0, 0)]));
    }

    #[test]
    fn missing_script_is_dropped_with_a_warning() {
        let cfg = parse(
            r#"
virtual_server 10.0.0.1 80 {
    protocol TCP
    real_server 192.168.1.2 80 {
        notify_up /nonexistent/kc-script
        MISC_CHECK {
            misc_path kc-no-such-program
        }
    }
}
"#,
        );
        let (lvs, warn) = lvs_cfg(&cfg);
        let r = &lvs.virtual_servers[0].real_servers[0];
        assert!(r.notify_up.is_none());
        assert!(r.checkers.is_empty());
        assert_eq!(warn.len(), 2, "{warn:?}");
    }

    fn http_urls(lvs: &LvsCfg, vs: usize) -> Vec<UrlCfg> {
        match &lvs.virtual_servers[vs].real_servers[0].checkers[0].kind {
            CheckKind::Http(h) => h.urls.clone(),
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn regex_maps_with_options_offsets_and_the_largest_stack() {
        let cfg = parse(
            r#"
virtual_server 10.0.0.1 80 {
    protocol TCP
    real_server 192.168.1.2 80 {
        HTTP_GET {
            url {
                path /a
                regex "ok(?=\\d)"
                regex_options caseless dotall
                regex_min_offset 4
                regex_max_offset 100
                regex_stack 1000 9000
            }
            url {
                path /b
                regex "x"
                regex_no_match
            }
        }
    }
}
virtual_server 10.0.0.2 80 {
    protocol TCP
    real_server 192.168.1.2 80 {
        HTTP_GET {
            url {
                path /c
                regex "y"
                regex_stack 2000 3000
            }
        }
    }
}
"#,
        );
        let (lvs, warn) = lvs_cfg(&cfg);
        assert!(warn.is_empty(), "{warn:?}");
        let a = http_urls(&lvs, 0)[0].regex.clone().unwrap();
        assert_eq!(a.pattern, b"ok(?=\\d)");
        assert_eq!(
            a.options,
            checkers::bodyregex::option_bits(["caseless", "dotall"])
        );
        assert_eq!((a.min_offset, a.max_offset), (4, 101));
        // keepalived's single JIT stack: the largest start and max
        assert_eq!(a.stack, Some((2000, 9000)));
        assert!(a.compiled.is_ok() && !a.no_match);
        let b = http_urls(&lvs, 0)[1].regex.clone().unwrap();
        assert!(b.no_match);
        assert_eq!(b.stack, None);
        assert_eq!(
            http_urls(&lvs, 1)[0].regex.as_ref().unwrap().stack,
            Some((2000, 9000))
        );
    }

    #[test]
    fn invalid_regex_is_keepalived_s_line_and_a_located_note() {
        let text = "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    real_server 192.168.1.2 80 {\n        HTTP_GET {\n            url {\n                path /\n                regex \"version (?=\\\\d+\"\n            }\n        }\n    }\n}\n";
        let mut parsed = kaconf::parse_str(text, &kaconf::Options::default());
        let (lvs, warn) = lvs_cfg(&parsed.config);
        let line = "Invalid regex: 'version (?=\\d+' at offset 14: missing closing parenthesis";
        let ours = "Regex of url / not applied: the url is checked without it";
        assert_eq!(warn, [line, ours]);
        // the url stays; its regex is not applied
        let u = &http_urls(&lvs, 0)[0];
        assert!(u.regex.as_ref().unwrap().compiled.is_err());
        let code = parsed.exit_code();
        regex_diags(&parsed.config, &mut parsed.diags);
        let n = parsed.diags.list.len();
        let d = &parsed.diags.list[n - 2];
        assert!(d.note && d.message == line, "{d:?}");
        assert_eq!(parsed.diags.list[n - 1].message, ours);
        let loc = d.loc.unwrap();
        assert_eq!((loc.line, loc.col), (7, 23));
        // a note: `-t`'s exit code is keepalived's, which only logs it
        assert_eq!(parsed.exit_code(), code);
    }
}
