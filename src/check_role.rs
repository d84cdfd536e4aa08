//! The checker child (`-C`): turns the configuration's virtual servers into
//! the kernel's IPVS table, keeps it there across reloads, and takes it away
//! at shutdown.
//!
//! - [`desired`] is pure: config in, `ipvs::Table` out (group expansion,
//!   fwmarks, forwarding, persistence, flags, thresholds, weights, quorum
//!   and sorry server with every real server alive).
//! - [`run`] is the driver: apply at start, re-plan on SIGHUP (a config that
//!   fails to parse leaves everything as it is), remove what it created on
//!   SIGTERM unless `-I`. Only services this daemon configured are ever
//!   dumped or touched; entries of other tools stay as they are.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use ipvs::model::{Af, Scheduler, SvcFlags, TunCsum, Tunnel};
use ipvs::{Dest, DestKey, Fwd, Op, Service, ServiceKey, Table};
use kaconf::model::{Config, Family, LbKind, LvsMethod, Protocol, VirtualServer, VsKey, VsgEntry};
use kaconf::validate::{fmt_vs, trio};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use crate::daemon::{EXIT_FATAL, EXIT_OK};

/// Command-line bits the checker role needs.
#[derive(Debug, Clone, Default)]
pub struct CheckRoleOpts {
    /// `-I`: leave IPVS as it is at shutdown.
    pub dont_release_ipvs: bool,
}

/// One real server as keepalived's logs name it.
#[derive(Debug, Clone, PartialEq)]
pub struct RealView {
    pub key: DestKey,
    pub display: String,
}

/// A virtual server after expansion: the IPVS services it became.
#[derive(Debug, Clone, PartialEq)]
pub struct VsView {
    pub display: String,
    pub services: Vec<ServiceKey>,
    pub reals: Vec<RealView>,
}

/// The desired kernel state, and how it maps back to the configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    pub table: Table,
    pub vs: Vec<VsView>,
}

fn af_of(family: Option<Family>) -> Option<Af> {
    family.map(|f| match f {
        Family::Inet => Af::Inet,
        Family::Inet6 => Af::Inet6,
    })
}

fn service_key(proto: Option<Protocol>, sa: SocketAddr) -> ServiceKey {
    match proto {
        Some(Protocol::Tcp) => ServiceKey::tcp(sa),
        Some(Protocol::Sctp) => ServiceKey::sctp(sa),
        // the validator already defaulted a missing protocol to UDP
        Some(Protocol::Udp) | None => ServiceKey::udp(sa),
    }
}

/// Every address of an inclusive range (keepalived ranges vary the last
/// octet, or the last 16-bit group for IPv6). A reversed range is empty.
fn range_addrs(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (u32::from(a), u32::from(b));
            (a..=b).map(|n| IpAddr::V4(Ipv4Addr::from(n))).collect()
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (u128::from(a), u128::from(b));
            if b < a || b - a > 65_535 {
                return Vec::new();
            }
            (a..=b).map(|n| IpAddr::V6(Ipv6Addr::from(n))).collect()
        }
        (a, _) => vec![a],
    }
}

/// The IPVS services a virtual server stands for.
fn expand(config: &Config, vs: &VirtualServer) -> Vec<ServiceKey> {
    match &vs.key {
        VsKey::Inet { addr, port } => vec![service_key(vs.protocol, SocketAddr::new(*addr, *port))],
        VsKey::Fwmark { mark } => vec![ServiceKey::fwmark(fwmark_af(vs, None), *mark)],
        VsKey::Group { name } => {
            let Some(group) = config
                .virtual_server_groups
                .iter()
                .find(|g| &g.name == name)
            else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for entry in &group.entries {
                match entry {
                    VsgEntry::Range {
                        first, last, port, ..
                    } => {
                        for a in range_addrs(*first, *last) {
                            out.push(service_key(vs.protocol, SocketAddr::new(a, *port)));
                        }
                    }
                    VsgEntry::Fwmark { mark, family, .. } => {
                        out.push(ServiceKey::fwmark(fwmark_af(vs, af_of(*family)), *mark));
                    }
                }
            }
            out
        }
    }
}

/// A fwmark service's family: the entry's, the VS's `ip_family`, the real
/// servers', else IPv4.
fn fwmark_af(vs: &VirtualServer, entry: Option<Af>) -> Af {
    entry
        .or(af_of(vs.ip_family))
        .or_else(|| vs.real_servers.first().map(|r| Af::of(&r.addr)))
        .unwrap_or(Af::Inet)
}

fn netmask(granularity: Option<&str>, af: Af) -> Option<u32> {
    let g = granularity?.trim();
    match af {
        Af::Inet => g
            .parse::<Ipv4Addr>()
            .map(u32::from)
            .ok()
            .or_else(|| g.parse::<u32>().ok().filter(|p| *p <= 32).map(prefix_mask)),
        Af::Inet6 => g.parse::<u32>().ok().filter(|p| *p <= 128),
    }
    .filter(|m| *m != af.default_netmask())
}

fn prefix_mask(prefix: u32) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

fn service_of(vs: &VirtualServer, af: Af) -> Service {
    let mut s = Service::new(Scheduler::from_name(vs.lb_algo.as_deref().unwrap_or("wlc")));
    if let Some(t) = vs.persistence_timeout {
        s = s.persistent(t);
        s.netmask = netmask(vs.persistence_granularity.as_deref(), af);
    }
    if vs.ops {
        s.flags |= SvcFlags::ONEPACKET;
    }
    for (bit, flag) in [
        (1u8, SvcFlags::SCHED1),
        (2, SvcFlags::SCHED2),
        (4, SvcFlags::SCHED3),
    ] {
        if vs.sched_flags & bit != 0 {
            s.flags |= flag;
        }
    }
    s.pe_name = vs.persistence_engine.clone();
    s
}

fn tun_csum(c: Option<&str>) -> TunCsum {
    match c {
        Some("csum") => TunCsum::Csum,
        Some("remcsum") => TunCsum::RemCsum,
        _ => TunCsum::NoCsum,
    }
}

fn fwd_of(m: Option<&LvsMethod>) -> Fwd {
    match m {
        None => Fwd::Masq,
        Some(m) => match m.kind {
            LbKind::Nat => Fwd::Masq,
            LbKind::Dr => Fwd::Route,
            LbKind::Tun => {
                let t = m.tunnel.as_ref();
                Fwd::Tunnel(match t.and_then(|t| t.tun_type.as_deref()) {
                    Some("gue") => Tunnel::Gue {
                        port: t.and_then(|t| t.port).unwrap_or(0),
                        csum: tun_csum(t.and_then(|t| t.csum.as_deref())),
                    },
                    Some("gre") => Tunnel::Gre {
                        csum: tun_csum(t.and_then(|t| t.csum.as_deref())),
                    },
                    _ => Tunnel::Ipip,
                })
            }
        },
    }
}

/// The desired table with every real server alive (what keepalived reaches
/// when all checkers succeed, or none are configured).
pub fn desired(config: &Config) -> Desired {
    let mut out = Desired::default();
    for vs in &config.virtual_servers {
        let services = expand(config, vs);
        if services.is_empty() {
            continue;
        }
        let vs_fwd = vs.lvs_method.as_ref();
        let mut reals = Vec::new();
        let mut live_weight: u64 = 0;
        let mut dests = Vec::new();
        for rs in &vs.real_servers {
            let key = DestKey::new(SocketAddr::new(rs.addr, rs.port));
            let weight = rs.weight.or(vs.weight).unwrap_or(1).min(i32::MAX as u32);
            let dest = Dest {
                fwd: fwd_of(rs.lvs_method.as_deref().or(vs_fwd)),
                weight,
                u_thresh: rs.uthreshold.unwrap_or(0),
                l_thresh: rs.lthreshold.unwrap_or(0),
            };
            live_weight += u64::from(weight);
            reals.push(RealView {
                key,
                display: trio(rs.addr, vs.protocol, rs.port),
            });
            dests.push((key, dest));
        }
        let quorum = u64::from(vs.quorum.unwrap_or(1));
        let quorum_up = live_weight >= quorum;
        let sorry = vs.sorry_server.map(|(addr, port)| {
            let m = vs.sorry_server_lvs_method.as_ref().or(vs_fwd);
            let fwd = fwd_of(m);
            let port = match fwd {
                Fwd::Route | Fwd::Tunnel(_) => match vs.key {
                    VsKey::Inet { port: vp, .. } => vp,
                    _ => port,
                },
                _ => port,
            };
            (DestKey::new(SocketAddr::new(addr, port)), fwd)
        });
        for key in &services {
            let af = key.af();
            out.table.insert_service(*key, service_of(vs, af));
            let with_reals = quorum_up || sorry.is_none();
            if with_reals {
                for (k, d) in &dests {
                    // the kernel forwards a fwmark service's packets to a
                    // port only when masquerading; keepalived sends 0
                    let mut k = *k;
                    if matches!(key, ServiceKey::Fwmark { .. }) && d.fwd != Fwd::Masq {
                        k.port = 0;
                    }
                    out.table.insert_dest(key, k, *d);
                }
            }
            if let Some((k, fwd)) = sorry {
                if !quorum_up {
                    out.table.insert_dest(key, k, Dest::new(fwd, 1));
                } else if vs.sorry_server_inhibit {
                    out.table.insert_dest(key, k, Dest::new(fwd, 0));
                }
            }
        }
        out.vs.push(VsView {
            display: fmt_vs(vs),
            services,
            reals,
        });
    }
    out
}

fn keys(d: &Desired) -> BTreeSet<ServiceKey> {
    d.table.services.keys().copied().collect()
}

/// Runs the checker child until SIGTERM; returns the exit code.
pub fn run(path: &Path, opts: &kaconf::Options, config: Config, role: &CheckRoleOpts) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("Unable to start runtime: {e}");
            return EXIT_FATAL;
        }
    };
    rt.block_on(serve(path, opts, config, role))
}

fn report(what: &str, r: &Result<ipvs::ReconcileReport, ipvs::ClientError>) {
    match r {
        Ok(rep) => {
            for (op, e) in &rep.failed {
                error!("IPVS ({what}): {op}: {e}");
            }
        }
        Err(e) => error!("IPVS ({what}): {e}"),
    }
}

async fn serve(path: &Path, opts: &kaconf::Options, config: Config, role: &CheckRoleOpts) -> i32 {
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        error!("Unable to install signal handlers");
        return EXIT_FATAL;
    };
    let client = match ipvs::Client::connect().await {
        Ok(c) => c,
        Err(e) => {
            error!("IPVS: Can't initialize ipvs: {e}");
            return EXIT_FATAL;
        }
    };
    let mut current = desired(&config);
    let r = client.reconcile_where(&current.table, |_| false).await;
    report("start", &r);
    loop {
        tokio::select! {
            _ = hup.recv() => {
                info!("Reloading");
                let path_s = path.to_string_lossy();
                let parsed = kaconf::parse_file(&path_s, opts);
                let fatal = !parsed.found
                    || parsed.diags.list.iter().any(|d| matches!(d.class, kaconf::Class::Fatal | kaconf::Class::FileNotFound));
                if fatal {
                    for line in parsed.render_diagnostics() {
                        warn!("{line}");
                    }
                    error!("Configuration reload failed - keeping the running configuration");
                    continue;
                }
                let next = desired(&parsed.config);
                let old = keys(&current);
                for vs in &current.vs {
                    if !next.vs.iter().any(|n| n.display == vs.display) {
                        info!("Removing Virtual Server {}", vs.display);
                    }
                }
                let r = client.reconcile_where(&next.table, |k| old.contains(k)).await;
                report("reload", &r);
                current = next;
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    if !role.dont_release_ipvs {
        shutdown(&client, &current).await;
    }
    EXIT_OK
}

/// Removes every real server, then every service, this daemon configured.
async fn shutdown(client: &ipvs::Client, current: &Desired) {
    let owned = keys(current);
    let actual = match client.dump_where(|k| owned.contains(k)).await {
        Ok(t) => t,
        Err(e) => {
            error!("IPVS (stop): {e}");
            return;
        }
    };
    let mut ops = Vec::new();
    for vs in &current.vs {
        for rs in &vs.reals {
            info!(
                "Shutting down service {} from VS {}",
                rs.display, vs.display
            );
        }
    }
    for (key, svc) in &actual.services {
        for dk in svc.dests.keys() {
            ops.push(Op::DelDest {
                service: *key,
                key: *dk,
            });
        }
    }
    for key in actual.services.keys() {
        ops.push(Op::DelService { key: *key });
    }
    for (op, r) in ops.iter().zip(client.apply(&ops).await) {
        if let Err(e) = r
            && !e.is_drift()
        {
            error!("IPVS (stop): {op}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_of(conf: &str) -> String {
        let parsed = kaconf::parse_str(conf, &kaconf::Options::default());
        desired(&parsed.config).table.to_string()
    }

    #[test]
    fn plain_tcp_service_with_defaults() {
        let t = table_of(
            "virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n weight 3\n }\n real_server 10.0.0.3 8080 { }\n}\n",
        );
        assert_eq!(
            t,
            "-A -t 192.0.2.1:80 -s wlc\n-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m -w 3\n-a -t 192.0.2.1:80 -r 10.0.0.3:8080 -m -w 1\n"
        );
    }

    #[test]
    fn dr_port_reset_persistence_and_flags() {
        let t = table_of(
            "virtual_server 192.0.2.1 443 {\n protocol TCP\n lb_algo sh\n lb_kind DR\n persistence_timeout 600\n persistence_granularity 255.255.255.0\n sh-port\n real_server 10.0.0.2 8443 { }\n}\n",
        );
        assert_eq!(
            t,
            "-A -t 192.0.2.1:443 -s sh -p 600 -M 255.255.255.0 -b sh-port\n-a -t 192.0.2.1:443 -r 10.0.0.2:443 -g -w 1\n"
        );
    }

    #[test]
    fn groups_expand_ranges_and_fwmarks() {
        let d = desired(
            &kaconf::parse_str(
                "virtual_server_group G {\n 192.0.2.1-3 80\n fwmark 7\n}\nvirtual_server group G {\n protocol UDP\n lb_algo rr\n real_server 10.0.0.2 80 { }\n}\n",
                &kaconf::Options::default(),
            )
            .config,
        );
        assert_eq!(d.table.len(), 4);
        assert_eq!(d.table.dest_count(), 4);
        assert_eq!(d.vs[0].display, "[G]:0");
        let t = d.table.to_string();
        assert!(t.contains("-A -u 192.0.2.3:80 -s rr\n"), "{t}");
        assert!(t.contains("-A -f 7 -s rr\n"), "{t}");
    }

    #[test]
    fn fwmark_ipv6_tunnel_and_thresholds() {
        let t = table_of(
            "virtual_server fwmark 9 {\n ip_family inet6\n lvs_method TUN type gue port 6080 csum\n real_server 2001:db8::2 0 {\n uthreshold 100\n lthreshold 10\n }\n}\n",
        );
        assert!(t.starts_with("-A -f 9 -6 -s wlc\n"), "{t}");
        assert!(t.contains("-r [2001:db8::2]:0 -i"), "{t}");
        let d = desired(
            &kaconf::parse_str(
                "virtual_server fwmark 9 {\n ip_family inet6\n lvs_method TUN type gue port 6080 csum\n real_server 2001:db8::2 0 {\n uthreshold 100\n lthreshold 10\n }\n}\n",
                &kaconf::Options::default(),
            )
            .config,
        );
        let dest = d
            .table
            .services
            .values()
            .next()
            .unwrap()
            .dests
            .values()
            .next()
            .unwrap();
        assert_eq!(
            dest.fwd,
            Fwd::Tunnel(Tunnel::Gue {
                port: 6080,
                csum: TunCsum::Csum
            })
        );
        assert_eq!((dest.u_thresh, dest.l_thresh), (100, 10));
    }

    #[test]
    fn sorry_server_stands_in_without_quorum() {
        let t = table_of(
            "virtual_server 192.0.2.1 80 {\n protocol TCP\n sorry_server 10.0.0.9 80\n}\n",
        );
        assert_eq!(
            t,
            "-A -t 192.0.2.1:80 -s wlc\n-a -t 192.0.2.1:80 -r 10.0.0.9:80 -m -w 1\n"
        );
        let t = table_of(
            "virtual_server 192.0.2.1 80 {\n protocol TCP\n sorry_server 10.0.0.9 80\n sorry_server_inhibit\n real_server 10.0.0.2 80 { }\n}\n",
        );
        assert!(t.contains("-r 10.0.0.9:80 -m -w 0"), "{t}");
        assert!(t.contains("-r 10.0.0.2:80 -m -w 1"), "{t}");
    }

    #[test]
    fn v6_ranges_vary_the_last_group() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::3".parse().unwrap();
        assert_eq!(range_addrs(a, b).len(), 3);
        assert_eq!(range_addrs(b, a).len(), 0);
    }
}
