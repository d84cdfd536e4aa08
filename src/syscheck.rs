//! The checks `keepalived -t` makes against the running system: do the
//! interfaces the configuration names exist, and are configured scripts
//! present (which, without `enable_script_security`, is a security
//! violation). They use the locations the parser kept, so our messages point
//! at the line keepalived reports.

use kaconf::model::{Config, Route, Script};
use kaconf::{Class, Diags};
use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What the system looks like: the interface names present now.
pub struct System {
    pub interfaces: HashSet<String>,
}

impl System {
    pub fn probe() -> System {
        let interfaces = std::fs::read_dir("/sys/class/net")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        System { interfaces }
    }

    fn has(&self, ifname: &str) -> bool {
        self.interfaces.contains(ifname)
    }
}

pub fn check(cfg: &Config, sys: &System, d: &mut Diags) {
    let bad_if = interfaces(cfg, sys, d);
    if bad_if {
        stopped_at_interfaces(d);
        d.check(
            None,
            Class::BadIf,
            "Non-existent interface specified in configuration",
        );
    }
    // keepalived's VRRP process stops validating at a bad interface, before
    // its script security check.
    scripts(cfg, d, !bad_if);
}

/// keepalived's VRRP process stops at a missing interface once it has read
/// the file: what its instance checks would say afterwards goes unsaid.
pub fn stopped_at_interfaces(d: &mut Diags) {
    d.retain(|x| !(x.scope == kaconf::Scope::Vrrp && x.phase == kaconf::Phase::Validate));
}

/// The interfaces the configuration names that `sys` lacks, one message
/// each at the place keepalived reports it. True if there was one.
pub fn interfaces(cfg: &Config, sys: &System, d: &mut Diags) -> bool {
    let mut bad_if = false;
    let mut missing = |name: &str, d: &mut Diags, loc, msg: String| {
        if !sys.has(name) {
            d.at(loc, Class::GeneralError, msg);
            bad_if = true;
        }
    };
    for a in &cfg.static_ipaddress {
        if let Some(dev) = &a.dev {
            missing(
                dev,
                d,
                a.loc,
                format!(
                    "WARNING - interface {dev} for ip address {} doesn't exist",
                    a.addr
                ),
            );
        }
    }
    for r in &cfg.static_routes {
        route_ifs(r, d, &mut missing, false);
    }
    for v in &cfg.vrrp_instances {
        if let Some((ifname, loc)) = &v.interface {
            missing(
                ifname,
                d,
                *loc,
                format!(
                    "WARNING - interface {ifname} for vrrp_instance {} doesn't exist",
                    v.name
                ),
            );
        }
        for t in &v.track.interface {
            missing(
                &t.name,
                d,
                t.loc,
                format!("({}) tracked interface {} doesn't exist", v.name, t.name),
            );
        }
        for a in v
            .virtual_ipaddress
            .iter()
            .chain(&v.virtual_ipaddress_excluded)
        {
            if let Some(dev) = &a.dev {
                missing(
                    dev,
                    d,
                    a.loc,
                    format!(
                        "WARNING - interface {dev} for ip address {} doesn't exist",
                        a.addr
                    ),
                );
            }
        }
        for r in &v.virtual_routes {
            route_ifs(r, d, &mut missing, true);
        }
    }
    bad_if
}

fn route_ifs(
    r: &Route,
    d: &mut Diags,
    missing: &mut impl FnMut(&str, &mut Diags, kaconf::Loc, String),
    virtual_route: bool,
) {
    if let Some(dev) = &r.dev {
        missing(
            dev,
            d,
            r.loc,
            format!("WARNING - interface {dev} for VROUTE nexthop doesn't exist"),
        );
    } else if virtual_route && !r.no_track {
        let dst = if r.dst == "default" {
            "0.0.0.0/0".to_string()
        } else {
            r.dst.clone()
        };
        let dst = if dst.contains('/') {
            dst
        } else {
            format!("{dst}/32")
        };
        d.at(
            r.loc,
            Class::GeneralError,
            format!("Warning - cannot track route {dst} with no interface specified, not tracking"),
        );
    }
}

/// keepalived resolves a bare command name on PATH; a command starting
/// `</` only tests a file and is never executed.
fn resolve(argv0: &str) -> Option<PathBuf> {
    if argv0.starts_with('<') {
        return None;
    }
    if argv0.contains('/') {
        let p = PathBuf::from(argv0);
        return p.exists().then_some(p);
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    path.split(':')
        .map(|d| Path::new(d).join(argv0))
        .find(|p| p.is_file())
}

/// A script run as root must not be writable by anyone else along its path.
fn insecure(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let mut p = Some(path);
    while let Some(cur) = p {
        if let Ok(m) = std::fs::metadata(cur) {
            let mode = m.permissions().mode();
            let sticky_dir = m.is_dir() && mode & 0o1000 != 0;
            if m.uid() != 0
                || (!sticky_dir && mode & 0o022 != 0 && !(m.gid() == 0 && mode & 0o002 == 0))
            {
                return true;
            }
        }
        p = cur.parent();
    }
    false
}

/// The scripts each of keepalived's processes runs: the parent its
/// start/shutdown scripts, the VRRP process its vrrp_scripts, notifies and
/// FIFO scripts, the checker process its MISC_CHECKs, notifies, quorum and
/// FIFO scripts.
struct ScriptLists<'a> {
    start: Vec<&'a Script>,
    vrrp: Vec<&'a Script>,
    check: Vec<&'a Script>,
}

fn script_lists(cfg: &Config) -> ScriptLists<'_> {
    let g = &cfg.global_defs;
    let mut vrrp: Vec<&Script> = Vec::new();
    let mut check: Vec<&Script> = Vec::new();
    let mut start: Vec<&Script> = Vec::new();
    vrrp.extend(cfg.vrrp_scripts.iter().filter_map(|s| s.script.as_ref()));
    for n in cfg
        .vrrp_instances
        .iter()
        .map(|v| &v.notify)
        .chain(cfg.sync_groups.iter().map(|s| &s.notify))
    {
        vrrp.extend(
            [
                &n.master,
                &n.backup,
                &n.fault,
                &n.stop,
                &n.notify,
                &n.master_rx_lower_pri,
            ]
            .into_iter()
            .flatten(),
        );
        if let Some(Some(s)) = &n.deleted {
            vrrp.push(s);
        }
    }
    for f in [&g.notify_fifo, &g.vrrp_notify_fifo].into_iter().flatten() {
        vrrp.extend(f.script.as_ref());
    }
    for vs in &cfg.virtual_servers {
        check.extend(
            [&vs.quorum_up, &vs.quorum_down]
                .into_iter()
                .flatten()
                .map(|b| &**b),
        );
        for rs in &vs.real_servers {
            let o = rs.opts();
            check.extend([&o.notify_up, &o.notify_down].into_iter().flatten());
            for c in &rs.checkers {
                if let kaconf::model::CheckerSpec::Misc(m) = &c.spec {
                    check.extend(m.path.as_ref());
                }
            }
        }
    }
    for f in [&g.notify_fifo, &g.lvs_notify_fifo].into_iter().flatten() {
        check.extend(f.script.as_ref());
    }
    start.extend(
        [&g.startup_script, &g.shutdown_script]
            .into_iter()
            .flatten(),
    );
    ScriptLists { start, vrrp, check }
}

/// keepalived's line when some of `list` exists as a file and script
/// security is off; `what` names the process's scripts.
fn violation(list: &[&Script], what: &str) -> Option<String> {
    let found: Vec<PathBuf> = list
        .iter()
        .filter_map(|s| s.argv.first().and_then(|a| resolve(a)))
        .collect();
    if found.is_empty() {
        return None;
    }
    let extra = if found.iter().any(|p| insecure(p)) {
        " There are insecure scripts."
    } else {
        ""
    };
    Some(format!(
        "SECURITY VIOLATION - {what} are being executed but script_security not enabled.{extra}"
    ))
}

fn scripts(cfg: &Config, d: &mut Diags, vrrp_checked: bool) {
    if cfg.global_defs.enable_script_security {
        return;
    }
    let mut l = script_lists(cfg);
    if !vrrp_checked {
        l.vrrp.clear();
    }
    for (list, what) in [
        (&l.start, "start/shutdown scripts"),
        (&l.vrrp, "scripts"),
        (&l.check, "check scripts"),
    ] {
        if let Some(line) = violation(list, what) {
            d.check(None, Class::SecurityError, line);
        }
    }
}

/// The process that loads a configuration, for [`load_lines`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    Parent,
    Vrrp,
    Check,
}

/// Whether this process has looked its default script user up since it
/// (or the parent it was forked from) last loaded a configuration:
/// keepalived does it once, at the first script without a user of its
/// own, and says so when the user is missing.
static DEFAULT_USER_LOOKED_UP: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// A data dump shows the default script user: keepalived looks it up then
/// if nothing did before, and says so when `keepalived_script` is missing.
pub fn dump_default_user_line(g: &kaconf::model::GlobalDefs) -> Option<String> {
    use std::sync::atomic::Ordering;
    if g.script_user.is_some() || DEFAULT_USER_LOOKED_UP.swap(true, Ordering::Relaxed) {
        return None;
    }
    nix::unistd::User::from_name("keepalived_script")
        .ok()
        .flatten()
        .is_none()
        .then(|| "Script user 'keepalived_script' does not exist".to_owned())
}

/// A reload reads every script again: the default user is looked up anew.
pub fn forget_default_user() {
    DEFAULT_USER_LOOKED_UP.store(false, std::sync::atomic::Ordering::Relaxed);
}

/// What a process logs about its scripts as it loads a configuration.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoadLines {
    /// While reading: the default script user is missing.
    pub user: Option<String>,
    /// Once read: scripts run without script security.
    pub violation: Option<String>,
}

/// What keepalived's `loader` logs about scripts as it loads `cfg` (at
/// start, or at a reload when `reload`, after [`forget_default_user`]):
/// that the default script user `keepalived_script` is missing (once per
/// load, and not again in a child forked after its parent said it), then
/// the security violation, which a reload of the parent checks for its
/// shutdown script only.
pub fn load_lines(cfg: &Config, loader: Loader, reload: bool) -> LoadLines {
    use std::sync::atomic::Ordering;
    let g = &cfg.global_defs;
    let l = script_lists(cfg);
    // every process reads global_defs, the children their own scripts too
    let globals: Vec<&Script> = [g.startup_script.as_ref(), g.shutdown_script.as_ref()]
        .into_iter()
        .chain(
            [&g.notify_fifo, &g.vrrp_notify_fifo, &g.lvs_notify_fifo]
                .into_iter()
                .map(|f| f.as_ref().and_then(|f| f.script.as_ref())),
        )
        .flatten()
        .collect();
    let own: &[&Script] = match loader {
        Loader::Parent => &[],
        Loader::Vrrp => &l.vrrp,
        Loader::Check => &l.check,
    };
    let mut out = LoadLines::default();
    let wants_default =
        g.script_user.is_none() && globals.iter().chain(own).any(|s| s.user.is_none());
    if wants_default && !DEFAULT_USER_LOOKED_UP.swap(true, Ordering::Relaxed) {
        let missing = nix::unistd::User::from_name("keepalived_script")
            .ok()
            .flatten()
            .is_none();
        if missing {
            out.user = Some("Script user 'keepalived_script' does not exist".to_owned());
        }
    }
    if g.enable_script_security {
        return out;
    }
    let line = match loader {
        Loader::Parent if reload => violation(
            &[g.shutdown_script.as_ref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
            "start/shutdown scripts",
        ),
        Loader::Parent => violation(&l.start, "start/shutdown scripts"),
        Loader::Vrrp => violation(&l.vrrp, "scripts"),
        Loader::Check => violation(&l.check, "check scripts"),
    };
    out.violation = line;
    out
}
