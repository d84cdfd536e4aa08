//! The checker process's SIGUSR1 dump, `keepalived_check.data`, and the
//! parent's, `keepalived_parent.data`: keepalived 2.2.7's text, line for
//! line (global_data.c `dump_global_data`, check_data.c `dump_check_data`,
//! check_api.c `dump_checkers_queue` and each checker's dump function).
//!
//! Pure: the parsed configuration and the LVS manager's state
//! (`checkers::Manager::view`) in, text out. The few values that come from
//! the process (host name, umask) are passed in as [`Env`].
//!
//! What keepalived writes and we cannot (we do not keep the value) is left
//! out rather than made up: a checker's `Last errno` (keepalived records
//! only connect errors other than refused/unreachable/reset/timed out, and
//! UDP send errors). After a reload, a FILE_CHECK's `Reloaded` stays No
//! (keepalived: Yes for a track file it kept).

use std::fmt::Write as _;
use std::net::IpAddr;

use checkers::bodyregex::RegexCfg;
use checkers::manager::{CheckerView, RsView, VsView};
use checkers::script::Script;
use checkers::{CheckKind, HttpProtocol};
use ipvs::ServiceKey;
use ipvs::model::{Fwd, TunCsum, Tunnel};
use kaconf::model::{
    CheckerSpec, Config, Family, GlobalDefs, Protocol, RealServer, VirtualServer, VsKey, VsgEntry,
};

/// What the dump shows of the process itself.
#[derive(Debug, Clone)]
pub struct Env {
    /// keepalived's `local_name` (the host's canonical name), used for the
    /// default `router_id`, HELO name and sender; `None` if unknown.
    pub local_name: Option<String>,
    /// The umask keepalived was told to use (`-u`, default 0177).
    pub umask: u32,
    /// The user name of this process (the default sender's local part).
    pub user: Option<String>,
    /// `smtp_server` as keepalived keeps it: resolved to an address.
    pub smtp_addr: Option<IpAddr>,
    /// The VRRP process writes: keepalived adds its default interface and
    /// shows the lower-priority GARP settings resolved.
    pub vrrp: bool,
    /// The parent's scheduled reload (`reload_time_file`): the epoch second
    /// and whether a date was given. Other processes have none.
    pub reload_at: Option<(i64, bool)>,
    /// This process's real-time priority and RLIMIT_RTTIME (0 when not
    /// real-time).
    pub realtime: (u32, u64),
}

impl Env {
    /// This process's values; `umask` is `-u`'s. Blocking (the local name
    /// and the SMTP server may ask DNS).
    pub fn current(umask: Option<u32>, g: &GlobalDefs) -> Env {
        use std::net::ToSocketAddrs;
        Env {
            local_name: crate::smtp::message::local_name(),
            // -u, else the global `umask` (an octal number), else 0177
            umask: umask
                .or_else(|| {
                    let w = extra(g, "umask")?.args.first()?;
                    u32::from_str_radix(w.strip_prefix('0')?, 8).ok()
                })
                .unwrap_or(0o177),
            user: nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name),
            smtp_addr: g.smtp_server.as_ref().and_then(|(h, p)| {
                h.parse().ok().or_else(|| {
                    (h.as_str(), *p)
                        .to_socket_addrs()
                        .ok()?
                        .next()
                        .map(|a| a.ip())
                })
            }),
            vrrp: false,
            reload_at: None,
            realtime: crate::sched::current_realtime(),
        }
    }
}

/// An accepted global keyword the typed model does not hold.
fn extra<'a>(g: &'a GlobalDefs, keyword: &str) -> Option<&'a kaconf::model::Raw> {
    g.extra.iter().rev().find(|r| r.keyword == keyword)
}

/// The name keepalived gives a dump file (global_data.c
/// `open_dump_file`): with `data_use_instance`, the network namespace and
/// instance name go before the extension.
pub fn file_name(cfg: &Config, base: &str) -> String {
    let (ns, inst) = (
        cfg.root.net_namespace.as_deref(),
        cfg.root.instance.as_deref(),
    );
    if extra(&cfg.global_defs, "data_use_instance").is_none() || (ns.is_none() && inst.is_none()) {
        return base.to_owned();
    }
    let (stem, ext) = base.rsplit_once('.').unwrap_or((base, ""));
    format!(
        "{stem}.{}{}{}.{ext}",
        ns.unwrap_or(""),
        if ns.is_some() && inst.is_some() {
            "_"
        } else {
            ""
        },
        inst.unwrap_or("")
    )
}

/// keepalived's `TIMER_HZ` digits: `5.000000` for 5 s in microseconds.
fn decimal(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn on_off(b: bool) -> &'static str {
    if b { "ON" } else { "OFF" }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn true_false(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn opt_bool(b: Option<bool>) -> &'static str {
    match b {
        None => "unset",
        Some(true) => "on",
        Some(false) => "off",
    }
}

/// keepalived's `cmd_str`: every word in single quotes (but a leading
/// redirection), the program by the path keepalived resolved it to.
fn cmd_str(s: &Script, symlinks: bool) -> String {
    s.argv()
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 && (w.starts_with('<') || w.starts_with('>')) {
                return w.clone();
            }
            let w = if i == 0 {
                let p = s.program();
                let p = if symlinks {
                    p.to_path_buf()
                } else {
                    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
                };
                p.display().to_string()
            } else {
                w.clone()
            };
            format!("'{w}'")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn script_line(label: &str, s: &Script, symlinks: bool) -> String {
    let (u, g) = s.uid_gid();
    format!("{label} = {}, uid:gid {u}:{g}", cmd_str(s, symlinks))
}

/// `dump_global_data` as the checker and parent processes write it
/// (Debian's 2.2.7 build: VRRP, LVS, BFD, SNMP, DBus, nftables).
pub fn global_text(cfg: &Config, env: &Env) -> String {
    let g = &cfg.global_defs;
    let mut o = String::new();
    let mut w = |l: &str| {
        o.push_str(l);
        o.push('\n');
    };
    let r = &cfg.root;
    w("------< Global definitions >------");
    w(&format!(
        " Network namespace = {}",
        r.net_namespace.as_deref().unwrap_or("(default)")
    ));
    w(&format!(
        " Network namespace ipvs = {}",
        match r.net_namespace_ipvs.as_deref() {
            None => "(main namespace)",
            Some("") => "(default)",
            Some(n) => n,
        }
    ));
    if let Some(i) = &r.instance {
        w(&format!(" Instance name = {i}"));
    }
    for (label, name) in [
        ("Parent", &g.process_name),
        ("VRRP", &g.vrrp_process_name),
        ("LVS", &g.checker_process_name),
    ] {
        if let Some(n) = name {
            w(&format!(" {label} process name = {n}"));
        }
    }
    let local = env.local_name.as_deref().unwrap_or("[unknown]");
    let known = env.local_name.is_some();
    w(&format!(
        " Router ID = {}",
        g.router_id.as_deref().unwrap_or(local)
    ));
    // keepalived keeps the address it resolved; a name is shown as written
    if let Some((host, port)) = &g.smtp_server {
        match env.smtp_addr {
            Some(a) => w(&format!(" Smtp server = {a}")),
            None => w(&format!(" Smtp server = {host}")),
        }
        w(&format!(" Smtp server port = {port}"));
        let helo = g
            .smtp_helo_name
            .clone()
            .or_else(|| known.then(|| local.to_owned()));
        if let Some(h) = helo {
            w(&format!(" Smtp HELO name = {h}"));
        }
        w(&format!(
            " Smtp server connection timeout = {}",
            g.smtp_connect_timeout.unwrap_or(30)
        ));
    } else {
        if let Some(h) = &g.smtp_helo_name {
            w(&format!(" Smtp HELO name = {h}"));
        }
        if let Some(t) = g.smtp_connect_timeout {
            w(&format!(" Smtp server connection timeout = {t}"));
        }
    }
    let from = g.notification_email_from.clone().or_else(|| {
        (g.smtp_server.is_some() && known)
            .then(|| env.user.as_ref().map(|u| format!("{u}@{local}")))
            .flatten()
    });
    if let Some(f) = from {
        w(&format!(" Email notification from = {f}"));
        w(" Email notification to:");
        for e in &g.notification_email {
            w(&format!("   {e}"));
        }
    }
    w(&format!(" Default smtp_alert = {}", opt_bool(g.smtp_alert)));
    w(&format!(
        " Default smtp_alert_vrrp = {}",
        opt_bool(g.smtp_alert_vrrp)
    ));
    w(&format!(
        " Default smtp_alert_checker = {}",
        opt_bool(g.smtp_alert_checker)
    ));
    w(&format!(
        " Checkers log all failures = {}",
        true_false(g.checker_log_all_failures)
    ));
    match &g.reload_check_config {
        Some(log) => w(&format!(" Test config before reload, log to {log}")),
        None => w(" No test config before reload"),
    }
    if let Some(f) = &g.reload_time_file {
        w(&format!(
            " Reload time file = {f}{}",
            if g.reload_repeat { " (repeat)" } else { "" }
        ));
        match env.reload_at {
            // sic: keepalived does not close the parenthesis
            Some((at, date)) => w(&format!(
                " Reload scheduled for {}{}",
                crate::reload_timer::format_time(at, &chrono::Local),
                if date { " (date specified" } else { "" }
            )),
            None => w(" No reload scheduled"),
        }
    }
    if let Some(f) = crate::reload::reload_file(cfg) {
        w(&format!(" Reload_file = {}", f.display()));
    }
    if extra(g, "data_use_instance").is_some() {
        w(" Use instance name in data dumps");
    }
    let symlinks = g.use_symlink_paths;
    if let Some(s) = g.startup_script.as_ref().and_then(|s| resolved(s, g)) {
        let (u, gid) = s.uid_gid();
        w(&format!(
            " Startup script = {}, uid:gid {u}:{gid}, timeout {}",
            cmd_str(&s, symlinks),
            g.startup_script_timeout.unwrap_or(10)
        ));
    }
    if let Some(s) = g.shutdown_script.as_ref().and_then(|s| resolved(s, g)) {
        let (u, gid) = s.uid_gid();
        w(&format!(
            " Shutdown script = {}, uid:gid {u}:{gid} timeout {}",
            cmd_str(&s, symlinks),
            g.shutdown_script_timeout.unwrap_or(10)
        ));
    }
    w(" Dynamic interfaces = false");
    if g.no_email_faults {
        w(" Send emails for fault transitions = off");
    }
    let (tcp, tcpfin, udp) = g.lvs_timeouts;
    if let Some(t) = tcp.filter(|t| *t != 0) {
        w(&format!(" LVS TCP timeout = {t}"));
    }
    if let Some(t) = tcpfin.filter(|t| *t != 0) {
        w(&format!(" LVS TCP FIN timeout = {t}"));
    }
    // keepalived's own wording for the UDP timeout
    if let Some(t) = udp.filter(|t| *t != 0) {
        w(&format!(" LVS TCP timeout = {t}"));
    }
    if env.vrrp {
        w(&format!(
            " Default interface = {}",
            g.default_interface.as_deref().unwrap_or("eth0")
        ));
    }
    w(&format!(
        " Disable local IGMP = {}",
        if g.disable_local_igmp { "yes" } else { "no" }
    ));
    if let Some(s) = &g.lvs_sync_daemon {
        if let Some(i) = &s.instance {
            w(&format!(" LVS syncd vrrp name = {i}"));
        }
        w(&format!(" LVS syncd interface = {}", s.interface));
        w(&format!(" LVS syncd syncid = {}", s.syncid.unwrap_or(0)));
        if let Some(m) = s.maxlen.filter(|m| *m != 0) {
            w(&format!(" LVS syncd maxlen = {m}"));
        }
        if let Some(p) = s.port.filter(|p| *p != 0) {
            w(&format!(" LVS syncd mcast port = {p}"));
        }
        if let Some(t) = s.ttl.filter(|t| *t != 0) {
            w(&format!(" LVS syncd mcast ttl = {t}"));
        }
    }
    w(&format!(" LVS flush = {}", true_false(g.lvs_flush)));
    w(&format!(
        " LVS flush on stop = {}",
        match g.lvs_flush_on_stop.as_deref() {
            None => "disabled",
            Some("VS") => "VS",
            Some(_) => "full",
        }
    ));
    for (label, f) in [
        ("Global notify fifo", &g.notify_fifo),
        ("VRRP notify fifo", &g.vrrp_notify_fifo),
        ("LVS notify fifo", &g.lvs_notify_fifo),
    ] {
        let Some(f) = f else { continue };
        let (u, gid) = fifo_owner(f, g);
        w(&format!(" {label} = {}, uid:gid {u}:{gid}", f.path));
        if let Some(s) = f.script.as_ref().and_then(|s| resolved(s, g)) {
            w(&format!(
                " {}",
                script_line(&format!("{label} script"), &s, symlinks)
            ));
        }
    }
    w(&format!(
        " FIFO write vrrp states on reload = {}",
        true_false(g.fifo_write_vrrp_states_on_reload)
    ));
    w(&format!(
        " VRRP notify priority changes = {}",
        true_false(g.vrrp_notify_priority_changes)
    ));
    w(&format!(
        " VRRP IPv4 mcast group = {}",
        g.vrrp_mcast_group4
            .map_or_else(|| "224.0.0.18".to_owned(), |a| a.to_string())
    ));
    w(&format!(
        " VRRP IPv6 mcast group = {}",
        g.vrrp_mcast_group6
            .map_or_else(|| "ff02::12".to_owned(), |a| a.to_string())
    ));
    w(&format!(
        " Gratuitous ARP delay = {}",
        g.vrrp_garp_master_delay.unwrap_or(5)
    ));
    w(&format!(
        " Gratuitous ARP repeat = {}",
        g.vrrp_garp_master_repeat.unwrap_or(5)
    ));
    w(&format!(
        " Gratuitous ARP refresh timer = {}",
        g.vrrp_garp_master_refresh.unwrap_or(0)
    ));
    w(&format!(
        " Gratuitous ARP refresh repeat = {}",
        g.vrrp_garp_master_refresh_repeat.unwrap_or(1)
    ));
    // unset until the VRRP process starts, which takes the GARP values
    let (unset_delay, unset_repeat) = if env.vrrp {
        (
            g.vrrp_garp_master_delay.unwrap_or(5),
            g.vrrp_garp_master_repeat.unwrap_or(5),
        )
    } else {
        (u32::MAX, u32::MAX)
    };
    w(&format!(
        " Gratuitous ARP lower priority delay = {}",
        g.vrrp_garp_lower_prio_delay.unwrap_or(unset_delay)
    ));
    w(&format!(
        " Gratuitous ARP lower priority repeat = {}",
        g.vrrp_garp_lower_prio_repeat.unwrap_or(unset_repeat)
    ));
    w(&format!(
        " Num adverts before down = {}",
        g.vrrp_down_timer_adverts.unwrap_or(3)
    ));
    w(" Gratuitous ARP for each secondary VMAC = 0s");
    w(&format!(
        " Send advert after receive lower priority advert = {}",
        true_false(!g.vrrp_lower_prio_no_advert.unwrap_or(false))
    ));
    w(&format!(
        " Send advert after receive higher priority advert = {}",
        true_false(g.vrrp_higher_prio_send_advert.unwrap_or(false))
    ));
    let secs = |us: Option<u64>| format!("{:.6}", us.unwrap_or(0) as f64 / 1e6);
    w(&format!(
        " Gratuitous ARP interval = {}",
        secs(g.vrrp_garp_interval)
    ));
    w(&format!(
        " Gratuitous NA interval = {}",
        secs(g.vrrp_gna_interval)
    ));
    w(&format!(
        " VRRP default protocol version = {}",
        g.vrrp_version.unwrap_or(2)
    ));
    if let Some(t) = &g.nftables {
        w(&format!(" nftables table name = {t}"));
        w(&format!(
            " nftables base chain priority = {}",
            g.nftables_priority.unwrap_or(-1)
        ));
        w(&format!(
            " nftables {}force use ifindex for link local IPv6",
            if g.nftables_ifindex { "" } else { "don't " }
        ));
    }
    // Debian's build: nftables support, linked with libnftnl 1.2.3
    w(&format!(
        " nftables with{} counters",
        if g.nftables_counters { "" } else { "out" }
    ));
    w(" libnftnl version 1.2.3");
    w(&format!(
        " VRRP check unicast_src = {}",
        true_false(g.vrrp_check_unicast_src)
    ));
    w(&format!(
        " VRRP skip check advert addresses = {}",
        true_false(g.vrrp_skip_check_adv_addr)
    ));
    w(&format!(
        " VRRP strict mode = {}",
        true_false(g.vrrp_strict)
    ));
    match g.max_auto_priority.unwrap_or(0) {
        -1 => w(" Max auto priority = Disabled"),
        p => w(&format!(" Max auto priority = {p}")),
    }
    w(&format!(
        " Min auto priority delay = {} usecs",
        g.min_auto_priority_delay.unwrap_or(1_000_000)
    ));
    let bfd = kaconf::model::ProcessSched::default();
    for (p, s) in [
        ("VRRP", &g.vrrp_sched),
        ("Checker", &g.checker_sched),
        ("BFD", &bfd),
    ] {
        w(&format!(" {p} process priority = {}", s.priority));
        w(&format!(" {p} don't swap = {}", true_false(s.no_swap)));
        w(&format!(" {p} realtime priority = {}", s.rt_priority));
        if !s.cpu_affinity.is_empty() {
            // each CPU followed by a blank, in increasing order
            let mut cpus = s.cpu_affinity.clone();
            cpus.sort_unstable();
            cpus.dedup();
            let list: String = cpus.iter().map(|c| format!("{c} ")).collect();
            w(&format!(" {p} CPU Affinity = {list}"));
        }
        w(&format!(
            " {p} realtime limit = {}",
            s.rlimit_rttime
                .unwrap_or(crate::sched::RLIMIT_RTTIME_DEFAULT)
        ));
    }
    for s in ["vrrp", "checker", "RFCv2", "RFCv3"] {
        w(&format!(" SNMP {s} disabled"));
    }
    w(" SNMP traps disabled");
    w(" SNMP socket = default (unix:/var/agentx/master)");
    w(" DBus disabled");
    w(" DBus service name = ");
    w(&format!(
        " Script security {}",
        if g.enable_script_security {
            "enabled"
        } else {
            "disabled"
        }
    ));
    if let Some((u, gid)) = default_script_user(g) {
        w(&format!(" Default script uid:gid {u}:{gid}"));
    }
    for b in [
        "vrrp_netlink_cmd",
        "vrrp_netlink_monitor",
        "process_monitor",
    ] {
        w(&format!(" {b}_rcv_bufs = 0"));
        w(&format!(" {b}_rcv_bufs_force = 0"));
    }
    for b in ["lvs_netlink_cmd", "lvs_netlink_monitor"] {
        w(&format!(" {b}_rcv_bufs = 0"));
        w(&format!(" {b}_rcv_bufs_force = 0"));
    }
    w(&format!(
        " rs_init_notifies = {}",
        u8::from(g.rs_init_notifies)
    ));
    w(&format!(
        " no_checker_emails = {}",
        u8::from(g.no_checker_emails)
    ));
    w(" rx_bufs_multiples = 3");
    w(&format!(" umask = 0{:o}", env.umask));
    if let Some(d) = g.vrrp_startup_delay.filter(|d| *d != 0) {
        w(&format!(" vrrp_startup_delay = {}", d as f64 / 1e6));
    }
    if g.log_unknown_vrids {
        w(" log_unknown_vrids");
    }
    let (rt, rttime) = env.realtime;
    if rt != 0 {
        w(&format!(" current realtime priority = {rt}"));
    }
    if rttime != 0 {
        w(&format!(" current realtime time limit = {rttime}"));
    }
    o
}

/// keepalived's default script user: `script_user`, else the
/// `keepalived_script` user, else (without script security) this process's
/// own ids; `None` when keepalived has none to show.
fn default_script_user(g: &GlobalDefs) -> Option<(u32, u32)> {
    let lookup = |name: &str, group: Option<&str>| {
        let u = nix::unistd::User::from_name(name).ok().flatten()?;
        let gid = match group {
            Some(gn) => nix::unistd::Group::from_name(gn).ok().flatten()?.gid,
            None => u.gid,
        };
        Some((u.uid.as_raw(), gid.as_raw()))
    };
    match &g.script_user {
        Some((n, gr)) => lookup(n, gr.as_deref()),
        None => lookup("keepalived_script", None).or_else(|| {
            (!g.enable_script_security).then(|| {
                (
                    nix::unistd::getuid().as_raw(),
                    nix::unistd::getgid().as_raw(),
                )
            })
        }),
    }
}

fn resolved(s: &kaconf::model::Script, g: &GlobalDefs) -> Option<Script> {
    let sc = Script::new(s.argv.clone()).ok()?;
    let user = s.user.as_deref().map(|u| (u, s.group.as_deref()));
    let user = user.or(g
        .script_user
        .as_ref()
        .map(|(u, gr)| (u.as_str(), gr.as_deref())));
    let Some((name, group)) = user else {
        return Some(sc);
    };
    let u = nix::unistd::User::from_name(name).ok().flatten()?;
    let gid = match group {
        Some(gn) => nix::unistd::Group::from_name(gn).ok().flatten()?.gid,
        None => u.gid,
    };
    Some(sc.as_user(u.uid.as_raw(), gid.as_raw()))
}

fn fifo_owner(f: &kaconf::model::Fifo, g: &GlobalDefs) -> (u32, u32) {
    let named = f
        .user
        .as_deref()
        .and_then(|n| nix::unistd::User::from_name(n).ok().flatten());
    match named {
        Some(u) => {
            let gid = f
                .group
                .as_deref()
                .and_then(|gn| nix::unistd::Group::from_name(gn).ok().flatten())
                .map_or(u.gid.as_raw(), |gr| gr.gid.as_raw());
            (u.uid.as_raw(), gid)
        }
        None => default_script_user(g).unwrap_or((0, 0)),
    }
}

/// The whole `keepalived_check.data`.
pub fn check_text(cfg: &Config, views: &[VsView], env: &Env) -> String {
    let mut o = global_text(cfg, env);
    o.push_str(&lvs_text(cfg, views));
    o
}

fn vs_family(cfg: &Config, vs: &VirtualServer) -> Option<Family> {
    let fam = |a: &IpAddr| {
        if a.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        }
    };
    match &vs.key {
        VsKey::Inet { addr, .. } => Some(fam(addr)),
        _ => vs
            .ip_family
            .or_else(|| vs.real_servers.first().map(|r| fam(&r.addr)))
            .or_else(|| {
                let VsKey::Group { name } = &vs.key else {
                    return None;
                };
                let (v4, v6) = group_families(cfg, name);
                match (v4, v6) {
                    (true, false) => Some(Family::Inet),
                    (false, true) => Some(Family::Inet6),
                    _ => None,
                }
            }),
    }
}

fn group_families(cfg: &Config, name: &str) -> (bool, bool) {
    let mut out = (false, false);
    for e in cfg
        .virtual_server_groups
        .iter()
        .filter(|g| g.name == name)
        .flat_map(|g| g.entries.iter())
    {
        if let VsgEntry::Range { first, .. } = e {
            if first.is_ipv4() {
                out.0 = true;
            } else {
                out.1 = true;
            }
        }
    }
    out
}

/// check_data.c `dump_forwarding_method`; keepalived leaves `prefix` out
/// of the GUE and GRE lines.
fn forwarding(o: &mut String, prefix: &str, fwd: Fwd) {
    let m = "forwarding method = ";
    let csum = |c: TunCsum| match c {
        TunCsum::NoCsum => ", no checksum",
        TunCsum::Csum => ", checksum",
        TunCsum::RemCsum => ", remote checksum",
    };
    let line = match fwd {
        Fwd::Masq => format!("   {prefix}{m}NAT"),
        Fwd::Route => format!("   {prefix}{m}DR"),
        Fwd::Tunnel(Tunnel::Ipip) => format!("   {prefix}{m}TUN, type = IPIP"),
        Fwd::Tunnel(Tunnel::Gue { port, csum: c }) => {
            format!("   {m}TUN, type = GUE, port = {port}{}", csum(c))
        }
        Fwd::Tunnel(Tunnel::Gre { csum: c }) => format!("   {m}TUN, type = GRE{}", csum(c)),
        #[allow(unreachable_patterns)]
        _ => format!("   {m} 0x0"),
    };
    o.push_str(&line);
    o.push('\n');
}

fn proto_index(p: Option<Protocol>) -> usize {
    match p {
        Some(Protocol::Udp) => 1,
        Some(Protocol::Sctp) => 2,
        _ => 0,
    }
}

/// `dump_check_data` after the SSL part: LVS topology and health checkers.
pub fn lvs_text(cfg: &Config, views: &[VsView]) -> String {
    let mut o = String::new();
    macro_rules! w {
        ($($a:tt)*) => {{ let _ = writeln!(o, $($a)*); }};
    }
    if let Some(ssl) = &cfg.ssl {
        w!("------< SSL definitions >------");
        if ssl.password.is_none()
            && ssl.ca.is_none()
            && ssl.certificate.is_none()
            && ssl.key.is_none()
        {
            w!(" Using autogen SSL context");
        }
        if let Some(p) = &ssl.password {
            w!(" Password : {p}");
        }
        if let Some(p) = &ssl.ca {
            w!(" CA-file : {p}");
        }
        if let Some(p) = &ssl.certificate {
            w!(" Certificate file : {p}");
        }
        if let Some(p) = &ssl.key {
            w!(" Key file : {p}");
        }
    }
    // the virtual servers keepalived kept, with their state
    let pairs: Vec<(&VirtualServer, &VsView)> = views
        .iter()
        .filter_map(|v| {
            cfg.virtual_servers
                .iter()
                .find(|c| kaconf::validate::fmt_vs(c) == v.cfg.name)
                .map(|c| (c, v))
        })
        .collect();
    let symlinks = cfg.global_defs.use_symlink_paths;
    if !pairs.is_empty() {
        w!("------< LVS Topology >------");
        w!(" System is compiled with LVS v1.2.1");
        for g in &cfg.virtual_server_groups {
            let (v4, v6) = group_families(cfg, &g.name);
            w!(" ------< Virtual server group >------");
            w!(
                " Virtual Server Group = {}, IPv4 = {}, IPv6 = {}",
                g.name,
                yes_no(v4),
                yes_no(v6)
            );
            let users: Vec<&(&VirtualServer, &VsView)> = pairs
                .iter()
                .filter(|(c, _)| matches!(&c.key, VsKey::Group { name } if *name == g.name))
                .collect();
            // the dests each of its virtual servers put in this entry
            // and whether a reload kept the entry
            let alive = |key: &dyn Fn(&VirtualServer) -> Option<ServiceKey>| {
                let mut n = [0usize; 3];
                let mut f = [0usize; 2];
                let mut kept = false;
                for (c, v) in &users {
                    let Some(k) = key(c) else { continue };
                    let Some(i) = v.dests.iter().position(|(sk, _)| *sk == k) else {
                        continue;
                    };
                    let d = v.dests[i].1;
                    kept |= v.kept.get(i).copied().unwrap_or(false);
                    n[proto_index(c.protocol)] += d;
                    f[usize::from(vs_family(cfg, c) == Some(Family::Inet6))] += d;
                }
                (n, f, if kept { "True" } else { "False" })
            };
            for e in &g.entries {
                let VsgEntry::Range {
                    first, last, port, ..
                } = e
                else {
                    continue;
                };
                if first == last {
                    w!("   VIP = {first}, VPORT = {port}");
                } else {
                    w!("   VIP Range = {first}-{last}, VPORT = {port}");
                }
                let (n, _, kept) = alive(&|c: &VirtualServer| {
                    let svcs = crate::check_map::services(cfg, c);
                    svcs.into_iter().map(|(k, _)| k).find(|k| {
                        matches!(k, ServiceKey::Inet { addr, port: p, .. } if addr == first && p == port)
                    })
                });
                w!("     Alive: {} tcp, {} udp, {} sctp", n[0], n[1], n[2]);
                w!("     reloaded = {kept}");
            }
            for e in &g.entries {
                let VsgEntry::Fwmark { mark, family, .. } = e else {
                    continue;
                };
                w!(
                    "   FWMARK = {mark}{}",
                    match family {
                        Some(Family::Inet) => " IPv4",
                        Some(Family::Inet6) => " IPv6",
                        None => "",
                    }
                );
                let (_, f, kept) = alive(&|c: &VirtualServer| {
                    crate::check_map::services(cfg, c)
                        .into_iter()
                        .map(|(k, _)| k)
                        .find(|k| matches!(k, ServiceKey::Fwmark { mark: m, .. } if m == mark))
                });
                w!("     Alive: {} IPv4, {} IPv6", f[0], f[1]);
                w!("     reloaded = {kept}");
            }
        }
        for (c, v) in &pairs {
            vs_text(&mut o, cfg, c, v, symlinks);
        }
    }
    let checkers: Vec<(&VsView, &RsView, &CheckerView, Option<&RealServer>, usize)> = pairs
        .iter()
        .flat_map(|(c, v)| {
            v.rs.iter().flat_map(move |r| {
                let model = c.real_servers.iter().find(|m| {
                    checkers::trio(m.addr, crate::check_map::proto_word(c.protocol), m.port)
                        == r.cfg.name
                });
                let mut used = 0;
                r.checkers.iter().map(move |k| {
                    // the model checker this one came from: the next of
                    // the same kind (check_map drops unusable ones)
                    let idx = model.map_or(usize::MAX, |m| {
                        let found = m.checkers[used.min(m.checkers.len())..]
                            .iter()
                            .position(|mc| same_kind(&mc.spec, &k.cfg.kind))
                            .map_or(usize::MAX, |p| used + p);
                        used = found.saturating_add(1);
                        found
                    });
                    (*v, r, k, model, idx)
                })
            })
        })
        .collect();
    if !checkers.is_empty() {
        w!("------< Health checkers >------");
        // FILE_CHECKs join the queue when the track files are set up,
        // after every other checker
        // keepalived shares one compiled regex between the urls with the
        // same pattern and options, and shows how many use it
        let all_regexes: Vec<&RegexCfg> = checkers
            .iter()
            .filter_map(|c| match &c.2.cfg.kind {
                CheckKind::Http(h) => Some(h.urls.iter().filter_map(|u| u.regex.as_ref())),
                _ => None,
            })
            .flatten()
            .collect();
        let regex_refs = |re: &RegexCfg| {
            all_regexes
                .iter()
                .filter(|o| o.pattern == re.pattern && o.options == re.options)
                .count()
        };
        let (files, others): (Vec<_>, Vec<_>) = checkers
            .iter()
            .partition(|c| matches!(c.2.cfg.kind, CheckKind::File(_)));
        for &(v, r, k, model, idx) in others.into_iter().chain(files) {
            let spec = model.and_then(|m| m.checkers.get(idx)).map(|c| &c.spec);
            checker_text(&mut o, v, r, k, spec, symlinks, &regex_refs);
        }
    }
    // the track files FILE_CHECKs use, with who uses them
    let mut first = true;
    for tf in &cfg.track_files {
        let users: Vec<_> = checkers
            .iter()
            .filter_map(|(v, r, k, model, idx)| {
                let CheckKind::File(f) = &k.cfg.kind else {
                    return None;
                };
                let spec = model.and_then(|m| m.checkers.get(*idx)).map(|c| &c.spec);
                match spec {
                    Some(CheckerSpec::File(s)) if s.track_file.as_deref() == Some(&tf.name) => {
                        Some((*v, *r, *k, f))
                    }
                    _ => None,
                }
            })
            .collect();
        if users.is_empty() {
            continue;
        }
        if first {
            w!("------< Checker track files >------");
            first = false;
        }
        w!(" Track file = {}", tf.name);
        w!("   File = {}", tf.file.as_deref().unwrap_or(""));
        w!("   Status = {}", users[0].2.file_value);
        w!("   Weight = {}{}", tf.weight, reverse(tf.weight_reverse));
        w!("   Tracking instances :");
        for (v, r, _, f) in users {
            w!(
                "     {} -> {}, weight {}{}",
                v.cfg.name,
                r.cfg.name,
                f.weight,
                reverse(f.reverse)
            );
        }
    }
    o
}

fn reverse(r: bool) -> &'static str {
    if r { " reverse" } else { "" }
}

/// The track file names of a real server's FILE_CHECKs, in order.
fn track_file_names(m: Option<&RealServer>) -> Vec<&str> {
    m.map_or_else(Vec::new, |m| {
        m.checkers
            .iter()
            .filter_map(|c| match &c.spec {
                CheckerSpec::File(f) => f.track_file.as_deref(),
                _ => None,
            })
            .collect()
    })
}

fn same_kind(spec: &CheckerSpec, kind: &CheckKind) -> bool {
    matches!(
        (spec, kind),
        (CheckerSpec::Tcp, CheckKind::Tcp)
            | (CheckerSpec::Http(_), CheckKind::Http(_))
            | (CheckerSpec::Misc(_), CheckKind::Misc(_))
            | (CheckerSpec::Smtp(_), CheckKind::Smtp(_))
            | (CheckerSpec::Dns(_), CheckKind::Dns(_))
            | (CheckerSpec::Ping, CheckKind::Ping)
            | (CheckerSpec::Udp(_), CheckKind::Udp(_))
            | (CheckerSpec::File(_), CheckKind::File(_))
    )
}

const SEC: u64 = 1_000_000;

fn vs_text(o: &mut String, cfg: &Config, c: &VirtualServer, v: &VsView, symlinks: bool) {
    macro_rules! w {
        ($($a:tt)*) => {{ let _ = writeln!(o, $($a)*); }};
    }
    w!(" ------< Virtual server >------");
    match &c.key {
        VsKey::Group { .. } => w!(" VS GROUP = {}", v.cfg.name),
        VsKey::Fwmark { mark } => w!(" VS FWMARK = {mark}"),
        VsKey::Inet { addr, port } => w!(" VS VIP = {addr}, VPORT = {port}"),
    }
    if let Some(h) = &c.virtualhost {
        w!("   VirtualHost = {h}");
    }
    if let Some(n) = &c.snmp_name {
        w!("   SNMP name = '{n}'");
    }
    match vs_family(cfg, c) {
        Some(Family::Inet) => w!("   Address family = inet"),
        Some(Family::Inet6) => w!("   Address family = inet6"),
        None => {
            let both = matches!(&c.key, VsKey::Group { name } if group_families(cfg, name) == (true, true));
            if both {
                w!("   Address family = IPv4 & IPv6");
            } else {
                w!("   Address family = unknown");
            }
        }
    }
    w!(
        "   connection timeout = {}",
        decimal(c.connect_timeout.unwrap_or(5 * SEC))
    );
    w!(
        "   delay_loop = {}",
        decimal(c.delay_loop.unwrap_or(60 * SEC))
    );
    let sched = c.lb_algo.as_deref().unwrap_or("wlc");
    w!("   lvs_sched = {sched}");
    w!("   Hashed = disabled");
    let bit = |b: u8| {
        if c.sched_flags & b != 0 {
            "enabled"
        } else {
            "disabled"
        }
    };
    match sched {
        "sh" | "mh" => {
            w!("   {sched}-port = {}", bit(2));
            w!("   {sched}-fallback = {}", bit(1));
        }
        _ => {
            w!("   flag-1 = {}", bit(1));
            w!("   flag-2 = {}", bit(2));
            w!("   flag-3 = {}", bit(4));
        }
    }
    w!(
        "   One packet scheduling = {}{}",
        if c.ops { "enabled" } else { "disabled" },
        if c.ops && c.protocol != Some(Protocol::Udp) {
            " (inactive due to not UDP)"
        } else {
            ""
        }
    );
    if let Some(t) = c.persistence_timeout.filter(|t| *t != 0) {
        w!("   persistence timeout = {t}");
    }
    if let Some(gr) = &c.persistence_granularity {
        w!("   persistence granularity = {gr}");
    }
    w!(
        "   protocol = {}",
        match c.protocol {
            Some(Protocol::Tcp) => "TCP",
            Some(Protocol::Udp) => "UDP",
            Some(Protocol::Sctp) => "SCTP",
            None => "none",
        }
    );
    w!("   alpha is {}", on_off(c.alpha));
    w!("   omega is {}", on_off(c.omega));
    if let Some(r) = c.retry {
        w!("   Retry count = {r}");
    }
    if let Some(d) = c.delay_before_retry {
        w!("   Retry delay = {}", decimal(d));
    }
    if let Some(d) = c.warmup {
        w!("   Warmup = {}", decimal(d));
    }
    w!("   Inhibit on failure is {}", on_off(c.inhibit_on_failure));
    w!(
        "   quorum = {}, hysteresis = {}",
        v.cfg.quorum,
        v.cfg.hysteresis
    );
    if let Some(s) = &v.cfg.quorum_up {
        w!("{}", script_line("   Quorum up notify script", s, symlinks));
    }
    if let Some(s) = &v.cfg.quorum_down {
        w!(
            "{}",
            script_line("   Quorum down notify script", s, symlinks)
        );
    }
    if v.cfg.ha_suspend {
        w!("   Using HA suspend");
    }
    w!("   Using smtp notification = {}", yes_no(v.cfg.smtp_alert));
    forwarding(o, "default ", crate::check_map::fwd(c.lvs_method.as_ref()));
    if let Some(s) = &v.cfg.sorry_server {
        let dup = c
            .real_servers
            .iter()
            .any(|r| r.addr == s.key.addr && r.port == s.key.port);
        let _ = writeln!(
            o,
            "   sorry server {}= {}",
            if dup { "(duplicates rs) " } else { "" },
            s.name
        );
        forwarding(o, "  ", s.dest.fwd);
        let _ = writeln!(o, "     Inhibit on failure is {}", on_off(s.inhibit));
    }
    let _ = writeln!(o, "   alive = {}", u8::from(v.set));
    let _ = writeln!(o, "   quorum_state_up = {}", u8::from(v.quorum_up));
    let _ = writeln!(o, "   reloaded = {}", u8::from(v.reloaded));
    for r in &v.rs {
        let m = c.real_servers.iter().find(|m| {
            checkers::trio(m.addr, crate::check_map::proto_word(c.protocol), m.port) == r.cfg.name
        });
        rs_text(o, c, m, r, symlinks);
    }
}

fn rs_text(o: &mut String, vs: &VirtualServer, m: Option<&RealServer>, r: &RsView, symlinks: bool) {
    macro_rules! w {
        ($($a:tt)*) => {{ let _ = writeln!(o, $($a)*); }};
    }
    let none = kaconf::model::RealServerOpts::default();
    let opts = m.map_or(&none, |m| m.opts());
    let eff = r.effective_weight;
    w!("   ------< Real server >------");
    w!(
        "   RIP = {}, RPORT = {}, WEIGHT = {} EFF WEIGHT = {eff}",
        r.cfg.key.addr,
        r.cfg.key.port,
        checkers::manager::real_weight(eff)
    );
    forwarding(o, "", r.cfg.dest.fwd);
    let w = |o: &mut String, l: String| {
        o.push_str(&l);
        o.push('\n');
    };
    w(
        o,
        format!("   Alpha is {}", on_off(opts.alpha.unwrap_or(vs.alpha))),
    );
    w(
        o,
        format!(
            "   connection timeout = {}",
            decimal(
                opts.connect_timeout
                    .or(vs.connect_timeout)
                    .unwrap_or(5 * SEC)
            )
        ),
    );
    w(
        o,
        format!(
            "   connection limit range = {} -> {}",
            r.cfg.dest.l_thresh, r.cfg.dest.u_thresh
        ),
    );
    w(
        o,
        format!(
            "   Delay loop = {}",
            decimal(opts.delay_loop.or(vs.delay_loop).unwrap_or(60 * SEC))
        ),
    );
    if let Some(n) = opts.retry.or(vs.retry) {
        w(o, format!("   Retry count = {n}"));
    }
    if let Some(d) = opts.delay_before_retry.or(vs.delay_before_retry) {
        w(o, format!("   Retry delay = {}", decimal(d)));
    }
    if let Some(d) = opts.warmup.or(vs.warmup) {
        w(o, format!("   Warmup = {}", decimal(d)));
    }
    w(
        o,
        format!(
            "   Inhibit on failure is {}",
            on_off(r.cfg.inhibit_on_failure)
        ),
    );
    if let Some(s) = &r.cfg.notify_up {
        w(o, script_line("     RS up notify script", s, symlinks));
    }
    if let Some(s) = &r.cfg.notify_down {
        w(o, script_line("     RS down notify script", s, symlinks));
    }
    if let Some(h) = &opts.virtualhost {
        w(o, format!("    VirtualHost = '{h}'"));
    }
    if let Some(n) = &opts.snmp_name {
        w(o, format!("   SNMP name = {n}"));
    }
    w(
        o,
        format!("   Using smtp notification = {}", yes_no(r.cfg.smtp_alert)),
    );
    w(o, format!("   initial weight = {}", r.cfg.dest.weight));
    w(o, format!("   effective weight = {eff}"));
    w(
        o,
        format!("   previous effective_weight = {}", r.prev_weight),
    );
    w(o, format!("   alive = {}", u8::from(r.alive)));
    w(o, format!("   num failed checkers = {}", r.failed));
    w(o, format!("   RS set = {}", u8::from(r.set)));
    w(o, format!("   reloaded = {}", u8::from(r.reloaded)));
    let files: Vec<_> = r
        .checkers
        .iter()
        .filter_map(|k| match &k.cfg.kind {
            CheckKind::File(f) => Some(f),
            _ => None,
        })
        .zip(track_file_names(m))
        .collect();
    if !files.is_empty() {
        w(o, "   Tracked Files".into());
        for (f, name) in files {
            w(
                o,
                format!("     {name}, weight {}{}", f.weight, reverse(f.reverse)),
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn checker_text(
    o: &mut String,
    v: &VsView,
    r: &RsView,
    k: &CheckerView,
    spec: Option<&CheckerSpec>,
    symlinks: bool,
    refs: &dyn Fn(&RegexCfg) -> usize,
) {
    macro_rules! w {
        ($($a:tt)*) => {{ let _ = writeln!(o, $($a)*); }};
    }
    let c = &*k.cfg;
    let us = |d: std::time::Duration| d.as_micros();
    w!(" {} -> {}", v.cfg.name, r.cfg.name);
    w!("   Enabled = {}", yes_no(k.enabled));
    w!("   Up = {}", yes_no(k.is_up));
    w!("   Has run = {}", yes_no(k.has_run));
    w!("   Current weight = {}", k.cur_weight);
    let file = matches!(c.kind, CheckKind::File(_));
    if !file {
        w!("   Alpha = {}", yes_no(c.alpha));
        w!("   Delay loop = {} us", us(c.delay_loop));
        w!("   Warmup = {} us", us(c.warmup));
        w!("   Retries = {}", c.retry);
        if c.retry != 0 {
            w!("   Delay before retry = {} us", us(c.delay_before_retry));
            w!("   Retries iterations = {}", k.retry_it);
        }
        let default_dbr = match c.kind {
            CheckKind::Http(_) => 3 * SEC as u128,
            CheckKind::Dns(_) => 0,
            _ => SEC as u128,
        };
        w!("   Default delay before retry = {default_dbr} us");
    }
    w!("   Log all failures = {}", yes_no(c.log_all_failures));
    if !matches!(c.kind, CheckKind::Misc(_) | CheckKind::File(_)) {
        w!("   Connection");
        let n = &c.conn;
        w!("     Dest = [{}]:{}", n.dst.ip(), n.dst.port());
        if let Some(b) = n.bindto {
            w!("     Bind to = [{b}]:{}", n.bind_port.unwrap_or(0));
        }
        if let Some(i) = &n.bind_if {
            w!("     Bind i/f = {i}");
        }
        if let Some(m) = n.fwmark.filter(|m| *m != 0) {
            w!("     Mark = {m}");
        }
        w!("     Timeout = {:.6}", n.connect_timeout.as_secs_f64());
    }
    match &c.kind {
        CheckKind::Tcp => w!("   Keepalive method = TCP_CHECK"),
        CheckKind::Ping => w!("   Keepalive method = PING_CHECK"),
        CheckKind::Http(h) => {
            let own = match spec {
                Some(CheckerSpec::Http(s)) => Some(s),
                _ => None,
            };
            w!(
                "   Keepalive method = {}_GET, http protocol {}",
                if h.tls.is_some() { "SSL" } else { "HTTP" },
                match h.protocol {
                    HttpProtocol::Http10 => "1.0",
                    HttpProtocol::Http10Close => "1.0C",
                    HttpProtocol::Http11 => "1.1",
                }
            );
            if let Some(vh) = own.and_then(|s| s.virtualhost.as_ref()) {
                w!("   Virtualhost = {vh}");
            }
            w!(
                "   Enable SNI {}set",
                if own.is_some_and(|s| s.enable_sni) {
                    ""
                } else {
                    "un"
                }
            );
            w!(
                "   Fast recovery {}set",
                if h.fast_recovery { "" } else { "un" }
            );
            for u in &h.urls {
                w!("   Checked url = {}", u.path);
                if let Some(d) = &u.digest {
                    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
                    w!("     digest = {hex}");
                }
                w!("     HTTP Status Code(s)");
                for (lo, hi) in status_ranges(&u.status_code) {
                    if lo == hi {
                        w!("       {lo}");
                    } else {
                        w!("       {lo}-{hi}");
                    }
                }
                if let Some(vh) = &u.virtualhost {
                    w!("     Virtual host = {vh}");
                }
                if let Some(re) = &u.regex {
                    regex_text(o, re, refs);
                }
            }
            if let Some(u) = k.failed_url.and_then(|i| h.urls.get(i)) {
                w!("   Failed URL = {}", u.path);
            }
        }
        CheckKind::Misc(m) => {
            let timeout = match spec {
                Some(CheckerSpec::Misc(s)) => s.timeout.unwrap_or(0) / SEC,
                _ => m.timeout.as_secs(),
            };
            let (uid, gid) = m.script.uid_gid();
            w!("   Keepalive method = MISC_CHECK");
            w!("   script = {}", cmd_str(&m.script, symlinks));
            w!("   timeout = {timeout}");
            w!("   dynamic = {}", if m.dynamic { "YES" } else { "NO" });
            w!("   uid:gid = {uid}:{gid}");
            let (secs, us) = (k.last_ran_us / SEC, k.last_ran_us % SEC);
            w!("   Last ran = {secs}.{us:06} ({}.{us:06})", ctime(secs));
            w!("   Last status = {}", k.last_status);
        }
        CheckKind::Smtp(s) => {
            w!("   Keepalive method = SMTP_CHECK");
            w!("   helo = {}", s.helo_name);
        }
        CheckKind::Dns(d) => {
            w!("   Keepalive method = DNS_CHECK");
            w!("   Type = {}", d.qtype);
            w!(
                "   Name = {}",
                if d.name.is_empty() { "." } else { &d.name }
            );
        }
        CheckKind::Udp(u) => {
            w!("   Keepalive method = UDP_CHECK");
            match &u.payload {
                Some(p) => w!("   Payload len = {}", p.len()),
                None => w!("   Payload specified = no"),
            }
            w!("   Require reply = {}", yes_no(u.require_reply.is_some()));
            if let Some(r) = &u.require_reply {
                w!("     Min reply length = {}", u.min_reply_length);
                w!("     Max reply length = {}", u.max_reply_length);
                w!("     Reply data len = {}", r.len());
                w!(
                    "     Reply data mask = {}",
                    yes_no(r.iter().any(|(m, _)| *m != 0xff))
                );
            }
        }
        CheckKind::File(f) => {
            let name = match spec {
                Some(CheckerSpec::File(s)) => s.track_file.clone(),
                _ => None,
            };
            w!("   Keepalive method = FILE_CHECK");
            w!(
                "     Tracked file = {}",
                name.unwrap_or_else(|| f.path.display().to_string())
            );
            w!("     Reloaded = No");
        }
    }
}

/// check_http.c `dump_url`'s regex part.
fn regex_text(o: &mut String, re: &RegexCfg, refs: &dyn Fn(&RegexCfg) -> usize) {
    macro_rules! w {
        ($($a:tt)*) => {{ let _ = writeln!(o, $($a)*); }};
    }
    w!("     Regex = \"{}\"", String::from_utf8_lossy(&re.pattern));
    if re.no_match {
        w!("     Regex no match");
    }
    match (re.min_offset, re.max_offset) {
        (0, 0) => {}
        (min, 0) => w!("     Regex min offset = {min}"),
        (min, max) => w!("     Regex min offset = {min}, max_offset = {}", max - 1),
    }
    // keepalived 2.2.7 lists every option it knows as soon as one is set
    let options: String = if re.options != 0 {
        checkers::bodyregex::OPTIONS
            .iter()
            .map(|(n, _)| format!(" {n}"))
            .collect()
    } else {
        String::new()
    };
    w!("     Regex options:{options}");
    w!("     Regex ref count = {}", refs(re));
    if let Some((start, max)) = re.stack {
        w!("     Regex stack start {start}, max {max}");
    }
}

/// `ctime` without its newline: `Sat Nov 21 12:39:42 2026`, local time.
fn ctime(secs: u64) -> String {
    use chrono::TimeZone;
    let t = i64::try_from(secs).unwrap_or(i64::MAX);
    chrono::Local
        .timestamp_opt(t, 0)
        .single()
        .map_or_else(String::new, |d| {
            d.format("%a %b %e %H:%M:%S %Y").to_string()
        })
}

/// The status codes a url accepts as keepalived lists them: runs of
/// consecutive codes in 100..=599, 200-299 when none was configured.
fn status_ranges(codes: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let ok = |c: u16| {
        if codes.is_empty() {
            (200..=299).contains(&c)
        } else {
            codes.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
        }
    };
    let mut out = Vec::new();
    let mut start = None;
    for c in 100..=600u16 {
        match (c <= 599 && ok(c), start) {
            (true, None) => start = Some(c),
            (false, Some(s)) => {
                out.push((s, c - 1));
                start = None;
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::{Event, Manager};

    /// tests/golden/keepalived_check.data: what Debian's keepalived 2.2.7
    /// wrote on SIGUSR1 to its checker process, in the VM of
    /// tests/check_data_differential.rs, for this configuration (the
    /// listeners were on ports 36333 and 35883), once every checker had run
    /// and the `/bin/false` MISC_CHECK had failed.
    const CONF: &str = "global_defs {
    router_id kc2-lb
    enable_script_security
    script_user root
}
virtual_server_group kc2-G {
    192.0.2.10-12 80
    192.0.2.20 80
    fwmark 7
}
virtual_server group kc2-G {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    quorum 3
    hysteresis 1
    sorry_server 10.0.9.9 8080
    real_server 127.0.0.1 36333 {
        weight 2
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 127.0.0.1 35883 {
        weight 3
        HTTP_GET {
            url {
                path /health
                digest eff5bc1ef8ec9d03e640fc4370f5eacd
            }
            url {
                path /other
                status_code 200-204
            }
            connect_timeout 2
        }
    }
}
virtual_server 192.0.2.30 8080 {
    delay_loop 2
    lb_algo rr
    lb_kind DR
    protocol TCP
    quorum 1
    real_server 10.0.3.1 8080 {
        MISC_CHECK {
            misc_path /bin/true
            misc_timeout 3
        }
    }
    real_server 10.0.3.2 8080 {
        inhibit_on_failure
        MISC_CHECK {
            misc_path /bin/false
        }
    }
}
";

    fn env() -> Env {
        Env {
            local_name: Some("host.example".into()),
            umask: 0o177,
            user: Some("root".into()),
            smtp_addr: None,
            vrrp: false,
            reload_at: None,
            realtime: (0, 0),
        }
    }

    /// Without the lines that depend on the time zone.
    fn without_unkept(text: &str) -> String {
        text.lines()
            .filter(|l| !l.trim_start().starts_with("Last ran = "))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    #[test]
    fn check_data_as_debian_keepalived_wrote_it() {
        if nix::unistd::User::from_name("root")
            .ok()
            .flatten()
            .is_none()
            || !std::path::Path::new("/bin/true").exists()
        {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: needs a root user and /bin/true"
            );
            eprintln!("SKIPPED: needs a root user and /bin/true");
            return;
        }
        let config = kaconf::parse_str(CONF, &kaconf::Options::default()).config;
        let (lvs, warnings) = crate::check_map::lvs_cfg(&config);
        assert!(warnings.is_empty(), "{warnings:?}");
        let (mut m, _) = Manager::new(lvs);
        // checkers are numbered from 1 in configuration order
        for (id, up) in [(1, true), (2, true), (3, true), (4, false)] {
            m.handle(Event::Checker {
                id: checkers::CheckerId(id),
                up,
                note: None,
            });
        }
        let mut views = m.view();
        // every checker has run: its task has set its retries to 0
        for k in views
            .iter_mut()
            .flat_map(|v| v.rs.iter_mut())
            .flat_map(|r| r.checkers.iter_mut())
        {
            k.retry_it = 0;
        }
        // the MISC_CHECKs' runs as keepalived had them
        for (rs, ran, status) in [(0, 1_795_264_782_263_305, 0), (1, 1_795_264_782_889_318, 1)] {
            let k = &mut views[1].rs[rs].checkers[0];
            (k.last_ran_us, k.last_status) = (ran, status);
        }
        let ours = check_text(&config, &views, &env());
        let golden = include_str!("../tests/golden/keepalived_check.data");
        // the time of a run is written in local time: the golden file's
        // was UTC
        let utc = chrono::Local::now().offset().local_minus_utc() == 0;
        let (ours, want) = if utc {
            (ours, golden.to_owned())
        } else {
            (without_unkept(&ours), without_unkept(golden))
        };
        same_text(&ours, &want);
    }

    /// Fails at the first line where our file and keepalived's differ.
    fn same_text(ours: &str, want: &str) {
        if ours != want {
            let first = ours
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "line {}: ours {:?}, keepalived {:?}\n{ours}",
                first + 1,
                ours.lines().nth(first),
                want.lines().nth(first)
            );
        }
    }

    /// tests/golden/keepalived_check_rich.data: Debian's keepalived 2.2.7
    /// on tests/golden/keepalived_check_rich.conf in the VM of
    /// tests/check_data_differential.rs (`rich` scenario: the SMTP, DNS and
    /// UDP checkers' port refused, PING answered, HTTP_GET's regex did not
    /// match, the tracked file held 5, the ha_suspend virtual server's
    /// address absent).
    #[test]
    fn rich_check_data_as_debian_keepalived_wrote_it() {
        if nix::unistd::User::from_name("root")
            .ok()
            .flatten()
            .is_none()
            || !std::path::Path::new("/bin/echo").exists()
        {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: needs a root user and /bin/echo"
            );
            eprintln!("SKIPPED: needs a root user and /bin/echo");
            return;
        }
        let conf = include_str!("../tests/golden/keepalived_check_rich.conf");
        let config = kaconf::parse_str(conf, &kaconf::Options::default()).config;
        let (lvs, warnings) = crate::check_map::lvs_cfg(&config);
        assert!(warnings.is_empty(), "{warnings:?}");
        let (mut m, _) = Manager::new(lvs);
        // SMTP, DNS, PING, UDP, FILE, HTTP; then the suspended TCP_CHECK
        // (the HTTP_GET's regex does not match: keepalived's url check
        // fails, after its retries)
        for (id, up) in [(1, false), (2, false), (3, true), (4, false), (6, false)] {
            m.handle(Event::Checker {
                id: checkers::CheckerId(id),
                up,
                note: None,
            });
            // what the tasks report: out of their retries, HTTP_GET on its
            // first url
            let (retry_it, failed_url) = if id == 6 { (2, Some(0)) } else { (0, None) };
            m.handle(Event::Retries {
                id: checkers::CheckerId(id),
                retry_it,
                failed_url,
            });
        }
        m.handle(Event::FileValue {
            id: checkers::CheckerId(5),
            value: 5,
        });
        let views = m.view();
        let env = Env {
            local_name: None,
            umask: 0o177,
            user: Some("root".into()),
            smtp_addr: None,
            vrrp: false,
            reload_at: None,
            realtime: (0, 0),
        };
        let ours = check_text(&config, &views, &env);
        let want = include_str!("../tests/golden/keepalived_check_rich.data");
        // the parent's keepalived_parent.data is the global part (the VM
        // test compares the two daemons' parent files)
        let globals = &want[..want.find("------< LVS Topology >------").unwrap()];
        assert_eq!(global_text(&config, &env), globals);
        same_text(&ours, want);
    }

    #[test]
    fn dump_file_names_with_data_use_instance() {
        let parse = |c: &str| kaconf::parse_str(c, &kaconf::Options::default()).config;
        let base = "keepalived_check.data";
        assert_eq!(file_name(&parse("global_defs {\n}\n"), base), base);
        let c = parse("instance lb1\nglobal_defs {\n data_use_instance\n}\n");
        assert_eq!(file_name(&c, base), "keepalived_check.lb1.data");
        let c = parse("net_namespace ns1\ninstance lb1\nglobal_defs {\n data_use_instance\n}\n");
        assert_eq!(file_name(&c, base), "keepalived_check.ns1_lb1.data");
        assert!(
            global_text(
                &c,
                &Env {
                    local_name: None,
                    umask: 0o22,
                    user: None,
                    smtp_addr: None,
                    vrrp: false,
                    reload_at: None,
                    realtime: (0, 0),
                }
            )
            .contains(" Instance name = lb1\n")
        );
    }

    #[test]
    fn status_code_runs() {
        assert_eq!(status_ranges(&[]), vec![(200, 299)]);
        assert_eq!(
            status_ranges(&[(200, 204), (301, 301), (599, 599)]),
            vec![(200, 204), (301, 301), (599, 599)]
        );
    }

    #[test]
    fn forwarding_lines() {
        let mut o = String::new();
        forwarding(&mut o, "default ", Fwd::Route);
        forwarding(
            &mut o,
            "  ",
            Fwd::Tunnel(Tunnel::Gue {
                port: 6080,
                csum: TunCsum::Csum,
            }),
        );
        assert_eq!(
            o,
            "   default forwarding method = DR\n   forwarding method = TUN, type = GUE, port = 6080, checksum\n"
        );
    }
}
