//! The VRRP process's dump files: `$TMPDIR/keepalived.data` on SIGUSR1,
//! `$TMPDIR/keepalived.stats` on SIGUSR2 and `$TMPDIR/keepalived.json` on
//! SIGRTMIN+2, from the state machines' snapshots, the scripts' results and
//! the configuration (formats in `vrrp::dump`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use kaconf::model::{self, Config, IpAddress, Script};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::info;
use vrrp::driver::Command;
use vrrp::dump::{
    JsonInstance, ScriptData, ScriptInit, Snapshot, SyncGroupData, TrackFileData, TrackLine,
};

use super::track::ScriptState;
use vrrp::fsm::State;

/// What the dumps need beyond the state machines: each instance's
/// configuration and VMAC name, and when it last changed state; in the
/// driver's instance order.
#[derive(Default)]
pub struct View {
    pub instances: Vec<(model::VrrpInstance, Option<String>)>,
    pub last_transition: Vec<SystemTime>,
    /// The root options and `global_defs`, for the global section.
    pub globals: Config,
    /// Sync groups, scripts and track files as configured.
    pub tracking: TrackView,
    /// The running scripts' results, by name.
    pub scripts: HashMap<String, Arc<Mutex<ScriptState>>>,
    /// Scripts that a reload added (keepalived's INIT/RELOAD until their
    /// first result).
    pub new_at_reload: HashSet<String>,
}

impl View {
    pub fn new(instances: Vec<(model::VrrpInstance, Option<String>)>, globals: Config) -> Self {
        let now = SystemTime::now();
        View {
            last_transition: vec![now; instances.len()],
            instances,
            globals,
            ..View::default()
        }
    }

    /// The configuration's sync groups, scripts and track files; at a
    /// reload (`reload`), the scripts it adds are remembered as new.
    pub fn set_tracking(&mut self, tracking: TrackView, reload: bool) {
        if reload {
            let old: HashSet<&str> = self
                .tracking
                .scripts
                .iter()
                .map(|s| s.data.name.as_str())
                .collect();
            let added: HashSet<String> = tracking
                .scripts
                .iter()
                .map(|s| s.data.name.clone())
                .filter(|n| !old.contains(n.as_str()))
                .collect();
            self.new_at_reload = added;
        }
        self.tracking = tracking;
    }

    /// After a reload: the new instance list; instances kept (by name) keep
    /// their last transition time.
    pub fn reconfigure(
        &mut self,
        instances: Vec<(model::VrrpInstance, Option<String>)>,
        globals: Config,
    ) {
        self.globals = globals;
        let now = SystemTime::now();
        self.last_transition = instances
            .iter()
            .map(|(v, _)| {
                self.instances
                    .iter()
                    .position(|(o, _)| o.name == v.name)
                    .and_then(|i| self.last_transition.get(i).copied())
                    .unwrap_or(now)
            })
            .collect();
        self.instances = instances;
    }

    pub fn transitioned(&mut self, instance: usize) {
        if let Some(t) = self.last_transition.get_mut(instance) {
            *t = SystemTime::now();
        }
    }
}

async fn snapshot(cmds: &mpsc::UnboundedSender<Command>) -> Option<Vec<Snapshot>> {
    let (tx, rx) = oneshot::channel();
    cmds.send(Command::Snapshot(tx)).ok()?;
    rx.await.ok()
}

fn report(what: &str, r: std::io::Result<PathBuf>) {
    if let Err(e) = r {
        info!(
            "Can't open {}/{what} ({}: {e})",
            tmp_dir().display(),
            e.raw_os_error().unwrap_or(0)
        );
    }
}

/// Answers keepalived's dump signals in the VRRP process: SIGUSR1 writes
/// `keepalived.data`, SIGUSR2 `keepalived.stats`, SIGRTMAX-1 the same and
/// zeroes the counters, SIGRTMIN+2 `keepalived.json`.
pub async fn serve_signals(
    cmds: mpsc::UnboundedSender<Command>,
    view: Arc<Mutex<View>>,
    umask: Option<u32>,
) {
    let (Ok(mut usr1), Ok(mut usr2), Ok(mut clear), Ok(mut json)) = (
        signal(SignalKind::user_defined1()),
        signal(SignalKind::user_defined2()),
        signal(SignalKind::from_raw(libc::SIGRTMAX() - 1)),
        signal(SignalKind::from_raw(libc::SIGRTMIN() + 2)),
    ) else {
        return;
    };
    let pid = std::process::id();
    loop {
        let (stats, clearing, data) = tokio::select! {
            Some(()) = usr1.recv() => (false, false, true),
            Some(()) = usr2.recv() => (true, false, false),
            Some(()) = clear.recv() => (true, true, false),
            Some(()) = json.recv() => (false, false, false),
            else => return,
        };
        if data {
            info!("Printing VRRP data for process({pid}) on signal");
        } else if stats {
            info!(
                "Printing {}VRRP stats for process({pid}) on signal",
                if clearing { "and clearing " } else { "" }
            );
        } else {
            info!("Printing VRRP as json for process({pid}) on signal");
        }
        let Some(snaps) = snapshot(&cmds).await else {
            return;
        };
        if data {
            // the local name and the SMTP server may ask DNS
            let globals = view
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .globals
                .clone();
            let globals = tokio::task::spawn_blocking(move || {
                if let Some(line) = crate::syscheck::dump_default_user_line(&globals.global_defs) {
                    info!("{line}");
                }
                let env = crate::check_dump::Env {
                    vrrp: true,
                    ..crate::check_dump::Env::current(umask, &globals.global_defs)
                };
                crate::check_dump::global_text(&globals, &env)
            })
            .await
            .unwrap_or_default();
            let text = {
                let v = view.lock().unwrap_or_else(|e| e.into_inner());
                let all: Vec<_> = v
                    .instances
                    .iter()
                    .zip(&snaps)
                    .zip(&v.last_transition)
                    .map(|(((c, vmac), s), t)| (c, s, vmac.as_deref(), *t))
                    .collect();
                let mut text = data_text(&globals, &all);
                text.push_str(&v.tracking_text(&snaps));
                text
            };
            report("keepalived.data", write("keepalived.data", &text));
        } else if stats {
            let text = {
                let v = view.lock().unwrap_or_else(|e| e.into_inner());
                vrrp::dump::stats_text(
                    v.instances
                        .iter()
                        .zip(&snaps)
                        .map(|((c, _), s)| (c.name.as_str(), &s.stats)),
                )
            };
            report("keepalived.stats", write("keepalived.stats", &text));
            if clearing {
                let _ = cmds.send(Command::ClearStats);
            }
        } else if !snaps.is_empty() {
            let text = {
                let v = view.lock().unwrap_or_else(|e| e.into_inner());
                let all: Vec<JsonInstance> = v
                    .instances
                    .iter()
                    .zip(&snaps)
                    .zip(&v.last_transition)
                    .map(|(((c, vmac), s), t)| json_instance(c, s, vmac.as_deref(), *t))
                    .collect();
                vrrp::dump::json(&all)
            };
            report("keepalived.json", write("keepalived.json", &text));
        }
    }
}

/// keepalived's `$TMPDIR`, default `/tmp`.
pub fn tmp_dir() -> PathBuf {
    std::env::var_os("TMPDIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
}

/// Writes `name` in `$TMPDIR` through a temporary file and a rename, so that
/// a reader never sees half a file; mode 0600 as keepalived's.
pub fn write(name: &str, text: &str) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tmp_dir();
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    drop(f);
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// One address as keepalived's `format_ipaddress` writes it.
pub fn vip_text(a: &IpAddress, ifname: &str, vmac: Option<&str>, set: bool) -> String {
    // A host address is written without its prefix length.
    let full = if a.addr.is_ipv4() { 32 } else { 128 };
    let mut o = if a.prefix == full {
        a.addr.to_string()
    } else {
        format!("{}/{}", a.addr, a.prefix)
    };
    if a.addr.is_ipv4()
        && let Some(b) = &a.broadcast
    {
        o.push_str(&format!(" brd {b}"));
    }
    match (a.dev.as_deref(), vmac) {
        (Some(d), _) => o.push_str(&format!(" dev {d}")),
        (None, Some(v)) => o.push_str(&format!(" dev {v}@{ifname}")),
        (None, None) => o.push_str(&format!(" dev {ifname}")),
    }
    o.push_str(&format!(
        " scope {}",
        a.scope.as_deref().unwrap_or("global")
    ));
    if let Some(l) = &a.label {
        o.push_str(&format!(" label {l}"));
    }
    if let Some(p) = &a.peer {
        o.push_str(&format!(" peer {p}/{}", a.prefix));
    }
    for (flag, text) in [
        ("home", " home"),
        ("-nodad", " -nodad"),
        ("nodad", " -nodad"),
        ("mngtmpaddr", " mngtmpaddr"),
        ("noprefixroute", " noprefixroute"),
        ("autojoin", " autojoin"),
        ("no_track", " no_track"),
    ] {
        if a.flags.iter().any(|f| f == flag) {
            o.push_str(text);
        }
    }
    if let Some(g) = &a.track_group {
        o.push_str(&format!(" track_group {g}"));
    }
    if a.addr.is_ipv6() {
        match a.preferred_lft.as_deref() {
            Some("0") => o.push_str(" deprecated"),
            None | Some("forever") => o.push_str(" preferred_lft forever"),
            Some(n) => o.push_str(&format!(" preferred_lft {n}")),
        }
    }
    if set {
        o.push_str(" set");
    }
    o
}

fn state_str(s: State) -> &'static str {
    match s {
        State::Init => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
        State::Stop => "STOP",
    }
}

/// `seconds.micros (Sat Nov 21 09:28:49.386003 2026)`, in local time, as
/// keepalived's `ctime_us_r`.
fn time_line(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let local: chrono::DateTime<chrono::Local> = t.into();
    format!(
        "{}.{:06} ({}.{:06} {})",
        d.as_secs(),
        d.subsec_micros(),
        local.format("%a %b %e %H:%M:%S"),
        d.subsec_micros(),
        local.format("%Y")
    )
}

/// The wall-clock time of a monotonic instant (keepalived's timers run
/// on the monotonic clock shifted to the wall clock at start).
fn wall_time(at: std::time::Instant) -> SystemTime {
    let (now_i, now_s) = (std::time::Instant::now(), SystemTime::now());
    if at >= now_i {
        now_s + (at - now_i)
    } else {
        now_s - (now_i - at)
    }
}

/// `seconds.micros (Sat Nov 21 09:28:49 2026.386003)`, in local time: the
/// other way keepalived prints a time (`ctime_r` cut to 24 characters,
/// then the microseconds).
fn ctime_line(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let local: chrono::DateTime<chrono::Local> = t.into();
    format!(
        "{}.{:06} ({}.{:06})",
        d.as_secs(),
        d.subsec_micros(),
        local.format("%a %b %e %H:%M:%S %Y"),
        d.subsec_micros()
    )
}

/// The VRRP process's `keepalived.data` (SIGUSR1) up to its tracking
/// sections: the global definitions (`globals`, rendered by
/// [`crate::check_dump::global_text`] for the VRRP process), then
/// keepalived's VRRP topology for each instance. keepalived calls the
/// format unstable and writes more (sockets, interfaces); the lines
/// monitoring tools read (state, interface, VRID, VIPs, GARP delay) are all
/// here.
pub fn data_text(
    globals: &str,
    instances: &[(&model::VrrpInstance, &Snapshot, Option<&str>, SystemTime)],
) -> String {
    let mut o = String::from(globals);
    let mut w = |l: String| {
        o.push_str(&l);
        o.push('\n');
    };
    if instances.is_empty() {
        return o;
    }
    w("------< VRRP Topology >------".into());
    for (v, s, vmac, last) in instances {
        let c = &s.cfg;
        let v3 = c.version == vrrp::Version::V3;
        let ifname = v.interface.as_ref().map(|(i, _)| i.as_str());
        w(format!(" VRRP Instance = {}", v.name));
        w(format!("   VRRP Version = {}", if v3 { 3 } else { 2 }));
        if let Some(g) = &v.sync_group {
            w(format!("   Sync group = {g}"));
        }
        if c.primary_ip.is_ipv6() {
            w("   Using Native IPv6".into());
        }
        w(format!("   State = {}", state_str(s.state)));
        if s.state == State::Backup {
            if let Some(m) = s.master_addr {
                w(format!("   Master router = {m}"));
            }
            w(format!("   Master priority = {}", s.master_priority.get()));
            if v3 {
                w(format!(
                    "   Master advert int = {:.2} sec",
                    f64::from(s.master_adver_int.get()) / 100.0
                ));
            }
        }
        // keepalived prints "Flags:" when any of its instance flag bits is
        // set, and details only the unicast ones.
        let flags = c.unicast
            || c.nopreempt
            || v.dont_track_primary
            || c.skip_check_adv_addr
            || v.promote_secondaries
            || v.unicast_fault_no_peer
            || v.check_unicast_src
            || v.unicast_src_ip.is_some()
            || v.mcast_src_ip.is_some()
            || v.use_vmac.is_some()
            || v.vmac_xmit_base
            || v.use_vmac_addr;
        if flags {
            w("   Flags:".into());
            if c.unicast {
                w("     Using unicast".into());
            }
            if v.unicast_fault_no_peer {
                w("     If unicast go to fault state if no peers".into());
            }
        } else {
            w("   Flags: none".into());
        }
        w(format!("   Wantstate = {}", state_str(s.wantstate)));
        // an instance this process runs has none: it would not start
        w("   Number of config faults = 0".into());
        w(format!(
            "   Number of interface and track script faults = {}",
            s.faults
        ));
        w(format!("   Number of track scripts init = {}", s.pending));
        w(format!("   Last transition = {}", time_line(*last)));
        match s.read_timeout {
            Some(at) => w(format!("   Read timeout = {}", time_line(wall_time(at)))),
            None => w("   Read timeout = DISABLED".into()),
        }
        w(format!(
            "   Master down timer = {} usecs",
            s.master_down_timer
        ));
        if v.use_vmac_addr {
            w("   Use VMAC for VIPs on other interfaces".into());
        }
        w(format!(
            "   Interface = {}",
            ifname.unwrap_or("not configured")
        ));
        if v.dont_track_primary {
            w("   VRRP interface tracking disabled".into());
        }
        if c.skip_check_adv_addr {
            w("   Skip checking advert IP addresses".into());
        }
        if v.strict_mode.unwrap_or(false) {
            w("   Enforcing strict VRRP compliance".into());
        }
        w(format!(
            "   Using src_ip = {}{}",
            c.primary_ip,
            if v.unicast_src_ip.is_some() || v.mcast_src_ip.is_some() {
                " (from configuration)"
            } else {
                ""
            }
        ));
        if !c.unicast {
            match (v.mcast_dst_ip, c.primary_ip.is_ipv6()) {
                (Some(m), _) => w(format!("   Multicast address {m}")),
                (None, false) => w("   Multicast address 224.0.0.18".into()),
                (None, true) => w("   Multicast address ff02::12".into()),
            }
        }
        w(format!(
            "   Gratuitous ARP delay = {}",
            c.garp.master_delay.as_secs()
        ));
        w(format!(
            "   Gratuitous ARP repeat = {}",
            c.garp.master_repeat
        ));
        w(format!(
            "   Gratuitous ARP refresh = {}",
            c.garp.master_refresh.map_or(0, |d| d.as_secs())
        ));
        w(format!(
            "   Gratuitous ARP refresh repeat = {}",
            c.garp.master_refresh_repeat
        ));
        w(format!(
            "   Gratuitous ARP lower priority delay = {}",
            c.garp.lower_prio_delay.as_secs()
        ));
        w(format!(
            "   Gratuitous ARP lower priority repeat = {}",
            c.garp.lower_prio_repeat
        ));
        w(format!("   Down timer adverts = {}", c.down_timer_adverts));
        if let Some(every) = c.garp.extra_if {
            w(format!(
                "   Gratuitous ARP for each secondary {} = {}",
                if c.garp.extra_if_all { "i/f" } else { "VMAC" },
                every.as_secs()
            ));
            // keepalived's timer is zero until first armed.
            let next = s.garp_extra_at.map_or(SystemTime::UNIX_EPOCH, wall_time);
            w(format!(
                "   Next gratuitous ARP for such secondary = {}",
                ctime_line(next)
            ));
        }
        w(format!(
            "   Send advert after receive lower priority advert = {}",
            !c.lower_prio_no_advert
        ));
        w(format!(
            "   Send advert after receive higher priority advert = {}",
            c.higher_prio_send_advert
        ));
        w(format!("   Virtual Router ID = {}", c.vrid.get()));
        w(format!("   Priority = {}", c.priority.get()));
        w(format!("   Effective priority = {}", s.effective.get()));
        w(format!("   Total priority = {}", s.effective.get()));
        if v3 {
            w(format!(
                "   Advert interval = {} milli-sec",
                u32::from(c.advert_int.get()) * 10
            ));
        } else {
            w(format!(
                "   Advert interval = {} sec",
                c.advert_int.get() / 100
            ));
        }
        if v3 && s.state == State::Backup {
            w(format!(
                "   Master advert interval = {} milli-sec",
                u32::from(s.master_adver_int.get()) * 10
            ));
        }
        let strict = v.strict_mode.unwrap_or(false);
        w(format!(
            "   Accept = {}",
            if v.accept.unwrap_or(!strict) {
                "enabled"
            } else {
                "disabled"
            }
        ));
        w(format!(
            "   Preempt = {}",
            if c.nopreempt { "disabled" } else { "enabled" }
        ));
        if !c.preempt_delay.is_zero() {
            w(format!(
                "   Preempt delay = {} secs",
                c.preempt_delay.as_secs_f64()
            ));
        }
        w(format!(
            "   Promote_secondaries = {}",
            if v.promote_secondaries {
                "enabled"
            } else {
                "disabled"
            }
        ));
        match v
            .authentication
            .as_ref()
            .and_then(|a| a.auth_type.map(|t| (t, a)))
        {
            Some((model::AuthType::Pass, a)) => {
                w("   Authentication type = SIMPLE_PASSWORD".into());
                w(format!(
                    "   Password = {}",
                    a.auth_pass.as_deref().unwrap_or("")
                ));
            }
            Some((model::AuthType::Ah, _)) => w("   Authentication type = IPSEC_AH".into()),
            None if !v3 => w("   Authentication type = none".into()),
            None => {}
        }
        let set = s.state == State::Master;
        let iface = ifname.unwrap_or("(none)");
        if !v.virtual_ipaddress.is_empty() {
            w(format!("   Virtual IP ({}):", v.virtual_ipaddress.len()));
            for a in &v.virtual_ipaddress {
                w(format!("     {}", vip_text(a, iface, *vmac, set)));
            }
        }
        if !v.virtual_ipaddress_excluded.is_empty() {
            w("   Virtual IP Excluded :".into());
            for a in &v.virtual_ipaddress_excluded {
                w(format!("     {}", vip_text(a, iface, *vmac, set)));
            }
        }
        w(format!(
            "   Using smtp notification = {}",
            if v.smtp_alert.unwrap_or(false) {
                "yes"
            } else {
                "no"
            }
        ));
        w(format!(
            "   Notify deleted = {}",
            if v.notify.deleted.is_some() {
                "Deleted"
            } else {
                "Fault"
            }
        ));
        w(format!(
            "   Notify priority changes = {}",
            v.notify_priority_changes.unwrap_or(false)
        ));
    }
    o
}

/// A script's program as keepalived shows it after its security check: a
/// bare name found on `$PATH`, then symbolic links and `.`/`..` resolved,
/// keeping the name it was called by when that name in the resolved
/// directory is the same file (some programs act on their name).
fn resolved_program(p: &str) -> String {
    let found = if p.contains('/') {
        Some(PathBuf::from(p))
    } else {
        std::env::var_os("PATH")
            .map(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join(p))
                    .find(|c| c.is_file())
            })
            .unwrap_or_default()
    };
    let Some(found) = found else {
        return p.to_string();
    };
    let Ok(real) = std::fs::canonicalize(&found) else {
        return found.display().to_string();
    };
    let (Some(name), Some(dir)) = (found.file_name(), real.parent()) else {
        return real.display().to_string();
    };
    if real.file_name() == Some(name) {
        return real.display().to_string();
    }
    let named = dir.join(name);
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(&real), std::fs::metadata(&named)) {
        (Ok(a), Ok(b)) if a.dev() == b.dev() && a.ino() == b.ino() => named.display().to_string(),
        _ => real.display().to_string(),
    }
}

/// A script as keepalived's `cmd_str` shows it: every word in single
/// quotes, the program as its security check resolved it; a program word
/// that is a `<`/`>` redirection (a file test) is neither quoted nor
/// resolved.
fn cmd(s: &Script) -> String {
    s.argv
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 && (w.starts_with('<') || w.starts_with('>')) {
                w.clone()
            } else if i == 0 {
                format!("'{}'", resolved_program(w))
            } else {
                format!("'{w}'")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The uid:gid a script runs as: its own user, else `script_user`, else
/// ours (as `super::resolve_user` decides).
fn script_ids(
    user: Option<(&str, Option<&str>)>,
    global: Option<&(String, Option<String>)>,
) -> (u32, u32) {
    let lookup = |u: &str, g: Option<&str>| -> Option<(u32, u32)> {
        let pw = nix::unistd::User::from_name(u).ok().flatten()?;
        let gid = match g {
            Some(g) => nix::unistd::Group::from_name(g)
                .ok()
                .flatten()?
                .gid
                .as_raw(),
            None => pw.gid.as_raw(),
        };
        Some((pw.uid.as_raw(), gid))
    };
    user.and_then(|(u, g)| lookup(u, g))
        .or_else(|| global.and_then(|(u, g)| lookup(u, g.as_deref())))
        .unwrap_or_else(|| {
            (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            )
        })
}

/// A configured script with what does not change while it runs.
#[derive(Clone, Debug)]
pub struct ScriptView {
    /// Everything but the result, the start-up state and `running`.
    pub data: ScriptData,
    pub init_fail: bool,
}

/// A sync group as configured, its members' instance numbers.
#[derive(Clone, Debug)]
pub struct GroupView {
    pub data: SyncGroupData,
    pub members: Vec<usize>,
}

/// The configuration's side of keepalived.data's sync group, script and
/// track file sections, with keepalived's lists of who tracks what.
#[derive(Clone, Debug, Default)]
pub struct TrackView {
    pub groups: Vec<GroupView>,
    pub scripts: Vec<ScriptView>,
    /// Each file with its path, for reading its value at dump time.
    pub files: Vec<(TrackFileData, String)>,
}

/// Adds `vrrp` to a tracked object's list as keepalived does: an instance
/// already there (tracking it itself and through its sync group) keeps one
/// entry, which takes the group's weight unless it was unweighted.
fn add_tracking(l: &mut Vec<TrackLine>, t: TrackLine) {
    match l.iter_mut().find(|x| x.name == t.name) {
        Some(x) if x.weight != 0 => {
            x.weight = t.weight;
            x.reverse = t.reverse;
        }
        Some(_) => {}
        None => l.push(t),
    }
}

impl TrackView {
    /// `instances`: the running instances' names, in the driver's order;
    /// `groups`: the sync groups the driver runs.
    pub fn new(config: &Config, instances: &[&str], groups: &[&str]) -> Self {
        let g = &config.global_defs;
        let gu = g.script_user.as_ref();
        let script_of = |n: &str| config.vrrp_scripts.iter().find(|s| s.name == n);
        let file_of = |n: &str| config.track_files.iter().find(|f| f.name == n);
        // A track_script/track_file line's weight: its own, else the
        // script's or file's; "reverse" on the line, else the object's.
        let script_line = |t: &model::Track| {
            script_of(&t.name).map(|vs| TrackLine {
                name: t.name.clone(),
                weight: t.weight.unwrap_or(vs.weight),
                reverse: t.reverse || vs.weight_reverse,
            })
        };
        let file_line = |t: &model::Track| {
            file_of(&t.name).map(|f| TrackLine {
                name: t.name.clone(),
                weight: t.weight.unwrap_or(f.weight),
                reverse: t.reverse || f.weight_reverse,
            })
        };
        let mut by_script: HashMap<&str, Vec<TrackLine>> = HashMap::new();
        let mut by_file: HashMap<&str, Vec<TrackLine>> = HashMap::new();
        let vis: Vec<&model::VrrpInstance> = instances
            .iter()
            .filter_map(|n| config.vrrp_instances.iter().find(|v| v.name == *n))
            .collect();
        let group_cfg = |n: &str| {
            groups
                .contains(&n)
                .then(|| config.sync_groups.iter().find(|s| s.name == n))
                .flatten()
        };
        // First each instance's own tracking, weights dropped in a sync
        // group without sync_group_tracking_weight and for an address
        // owner.
        for vi in &vis {
            let unweighted = vi
                .sync_group
                .as_deref()
                .and_then(group_cfg)
                .is_some_and(|sg| !sg.sync_group_tracking_weight)
                || vi.priority == Some(255);
            for t in &vi.track.script {
                if let Some(l) = script_line(t)
                    && !(unweighted && l.weight != 0)
                {
                    add_tracking(
                        by_script.entry(script_key(config, &t.name)).or_default(),
                        TrackLine {
                            name: vi.name.clone(),
                            ..l
                        },
                    );
                }
            }
            for t in &vi.track.file {
                let Some(mut l) = file_line(t) else { continue };
                if unweighted && l.weight == 1 {
                    l.weight = 0;
                } else if unweighted && l.weight != 0 {
                    continue;
                }
                add_tracking(
                    by_file.entry(file_key(config, &t.name)).or_default(),
                    TrackLine {
                        name: vi.name.clone(),
                        ..l
                    },
                );
            }
        }
        // Then each sync group's, for every member.
        let mut gviews = Vec::new();
        for sg in config
            .sync_groups
            .iter()
            .filter(|s| groups.contains(&s.name.as_str()))
        {
            let members: Vec<usize> = sg
                .group
                .iter()
                .filter_map(|(n, _)| instances.iter().position(|i| i == n))
                .collect();
            let owner = members
                .iter()
                .any(|&i| vis.get(i).is_some_and(|v| v.priority == Some(255)));
            let mut scripts: Vec<TrackLine> =
                sg.track.script.iter().filter_map(script_line).collect();
            let mut files: Vec<TrackLine> = sg.track.file.iter().filter_map(file_line).collect();
            if owner {
                scripts.iter_mut().for_each(|l| l.weight = 0);
                files.iter_mut().for_each(|l| l.weight = 0);
            }
            for l in &scripts {
                for &m in &members {
                    add_tracking(
                        by_script.entry(script_key(config, &l.name)).or_default(),
                        TrackLine {
                            name: instances[m].to_string(),
                            ..l.clone()
                        },
                    );
                }
            }
            for l in &files {
                for &m in &members {
                    add_tracking(
                        by_file.entry(file_key(config, &l.name)).or_default(),
                        TrackLine {
                            name: instances[m].to_string(),
                            ..l.clone()
                        },
                    );
                }
            }
            let n = &sg.notify;
            let notify = [
                ("Backup", &n.backup),
                ("Master", &n.master),
                ("Fault", &n.fault),
                ("Stop", &n.stop),
                ("Generic", &n.notify),
            ]
            .into_iter()
            .filter_map(|(k, s)| {
                let s = s.as_ref()?;
                let (uid, gid) = script_ids(s.user.as_deref().map(|u| (u, s.group.as_deref())), gu);
                Some((k, cmd(s), uid, gid))
            })
            .collect();
            gviews.push(GroupView {
                data: SyncGroupData {
                    name: sg.name.clone(),
                    state: State::Init,
                    members_fault: 0,
                    members_init: 0,
                    members: members.iter().map(|&i| instances[i].to_string()).collect(),
                    tracking_weight: sg.sync_group_tracking_weight,
                    smtp_alert: sg
                        .smtp_alert
                        .or(g.smtp_alert_vrrp)
                        .or(g.smtp_alert)
                        .unwrap_or(false),
                    notify_priority_changes: sg.notify_priority_changes,
                    track_interfaces: sg
                        .track
                        .interface
                        .iter()
                        .map(|t| TrackLine {
                            name: t.name.clone(),
                            weight: t.weight.unwrap_or(0),
                            reverse: t.reverse,
                        })
                        .collect(),
                    track_scripts: scripts,
                    track_files: files,
                    notify,
                },
                members,
            });
        }
        // keepalived drops the scripts and files nothing tracks.
        let scripts = config
            .vrrp_scripts
            .iter()
            .filter_map(|vs| {
                let tracking = by_script.remove(vs.name.as_str())?;
                let sc = vs.script.as_ref()?;
                let (uid, gid) = script_ids(
                    vs.user.as_ref().map(|(u, g)| (u.as_str(), g.as_deref())),
                    gu,
                );
                let interval = if vs.interval == 0 {
                    1
                } else {
                    vs.interval / 1_000_000
                };
                Some(ScriptView {
                    data: ScriptData {
                        name: vs.name.clone(),
                        command: cmd(sc),
                        interval_secs: interval,
                        timeout_secs: vs.timeout.map_or(0, |t| t / 1_000_000),
                        weight: vs.weight,
                        reverse: vs.weight_reverse,
                        rise: vs.rise.max(1),
                        fall: vs.fall.max(1),
                        result: 0,
                        insecure: false,
                        init: ScriptInit::Init,
                        uid,
                        gid,
                        tracking,
                        running: false,
                    },
                    init_fail: vs.init_fail,
                })
            })
            .collect();
        let files = config
            .track_files
            .iter()
            .filter_map(|f| {
                let tracking = by_file.remove(f.name.as_str())?;
                let path = f.file.clone()?;
                Some((
                    TrackFileData {
                        name: f.name.clone(),
                        path: path.clone(),
                        status: 0,
                        weight: f.weight,
                        reverse: f.weight_reverse,
                        tracking,
                    },
                    path,
                ))
            })
            .collect();
        TrackView {
            groups: gviews,
            scripts,
            files,
        }
    }
}

/// The configuration's own spelling of a script's name (the map's key
/// borrows from `config`).
fn script_key<'a>(config: &'a Config, name: &str) -> &'a str {
    config
        .vrrp_scripts
        .iter()
        .find(|s| s.name == name)
        .map_or("", |s| s.name.as_str())
}

fn file_key<'a>(config: &'a Config, name: &str) -> &'a str {
    config
        .track_files
        .iter()
        .find(|f| f.name == name)
        .map_or("", |f| f.name.as_str())
}

/// A track file's value as keepalived reads it (`strtol` base 0). A number
/// keepalived refuses shows as 0 here, where keepalived shows the last
/// value it took.
fn file_value(path: &Path) -> i64 {
    checkers::trackfile::read_value(path).unwrap_or(0)
}

impl View {
    /// keepalived.data's sync group, script and track file sections, with
    /// the groups' states from `snaps` (the driver's instance order) and
    /// each script's current result.
    pub fn tracking_text(&self, snaps: &[Snapshot]) -> String {
        let groups: Vec<SyncGroupData> = self
            .tracking
            .groups
            .iter()
            .map(|g| {
                let states: Vec<State> = g
                    .members
                    .iter()
                    .filter_map(|&i| snaps.get(i).map(|s| s.state))
                    .collect();
                let count = |s: State| states.iter().filter(|&&x| x == s).count() as u32;
                let state = if count(State::Fault) > 0 {
                    State::Fault
                } else if !states.is_empty() && count(State::Master) as usize == states.len() {
                    State::Master
                } else if count(State::Init) > 0 {
                    State::Init
                } else {
                    State::Backup
                };
                SyncGroupData {
                    state,
                    members_fault: count(State::Fault),
                    members_init: count(State::Init),
                    ..g.data.clone()
                }
            })
            .collect();
        let scripts: Vec<ScriptData> = self
            .tracking
            .scripts
            .iter()
            .map(|sv| {
                let mut d = sv.data.clone();
                match self.scripts.get(&d.name) {
                    Some(st) => {
                        let st = st.lock().unwrap_or_else(|e| e.into_inner());
                        let h = &st.hysteresis;
                        d.result = h.result();
                        d.running = st.running;
                        d.init = if h.pending() {
                            if self.new_at_reload.contains(&d.name) {
                                ScriptInit::InitReload
                            } else {
                                ScriptInit::Init
                            }
                        } else {
                            ScriptInit::Done
                        };
                    }
                    // Not started (yet): keepalived's start-up values.
                    None if sv.init_fail => {
                        d.init = ScriptInit::Failed;
                        d.result = 0;
                    }
                    None => d.result = d.rise - 1,
                }
                d
            })
            .collect();
        let files: Vec<TrackFileData> = self
            .tracking
            .files
            .iter()
            .map(|(f, path)| TrackFileData {
                status: file_value(Path::new(path)),
                ..f.clone()
            })
            .collect();
        vrrp::dump::tracking_sections(&groups, &scripts, &files)
    }
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The JSON dump's view of one instance.
pub fn json_instance(
    v: &model::VrrpInstance,
    s: &Snapshot,
    vmac: Option<&str>,
    last_transition: SystemTime,
) -> JsonInstance {
    let c = &s.cfg;
    let ifname = v.interface.as_ref().map(|(i, _)| i.as_str());
    let vipset = s.state == State::Master;
    let vips = |l: &[IpAddress]| -> Vec<String> {
        l.iter()
            .map(|a| vip_text(a, ifname.unwrap_or("(none)"), vmac, vipset))
            .collect()
    };
    let n = &v.notify;
    let scripts = [
        ("script_backup", n.backup.as_ref()),
        ("script_master", n.master.as_ref()),
        ("script_fault", n.fault.as_ref()),
        ("script_stop", n.stop.as_ref()),
        (
            "script_deleted",
            n.deleted.as_ref().and_then(|d| d.as_ref()),
        ),
        ("script", n.notify.as_ref()),
        ("script_master_rx_lower_pri", n.master_rx_lower_pri.as_ref()),
    ]
    .into_iter()
    .filter_map(|(k, s)| s.map(|s| (k, cmd(s))))
    .collect();
    let strict = v.strict_mode.unwrap_or(false);
    let (auth_type, auth_data) = match &v.authentication {
        Some(model::Authentication {
            auth_type: Some(model::AuthType::Pass),
            auth_pass,
        }) => (1, Some(auth_pass.clone().unwrap_or_default())),
        Some(model::Authentication {
            auth_type: Some(model::AuthType::Ah),
            auth_pass,
        }) => (2, Some(auth_pass.clone().unwrap_or_default())),
        _ => (0, None),
    };
    JsonInstance {
        dont_track_primary: v.dont_track_primary,
        skip_check_adv_addr: c.skip_check_adv_addr,
        strict_mode: strict,
        vmac_ifname: vmac.unwrap_or("").to_string(),
        ifp_ifname: ifname.map(str::to_string),
        master_priority: u32::from(s.master_priority.get()),
        last_transition: secs(last_transition),
        garp_delay: c.garp.master_delay.as_secs_f64(),
        garp_refresh: c.garp.master_refresh.map_or(0, |d| d.as_secs()),
        garp_rep: c.garp.master_repeat,
        garp_refresh_rep: c.garp.master_refresh_repeat,
        garp_lower_prio_delay: c.garp.lower_prio_delay.as_secs(),
        garp_lower_prio_rep: c.garp.lower_prio_repeat,
        lower_prio_no_advert: c.lower_prio_no_advert,
        higher_prio_send_advert: c.higher_prio_send_advert,
        vrid: u32::from(c.vrid.get()),
        base_priority: u32::from(c.priority.get()),
        effective_priority: u32::from(s.effective.get()),
        vipset,
        promote_secondaries: v.promote_secondaries,
        adver_int: f64::from(c.advert_int.get()) / 100.0,
        master_adver_int: f64::from(s.master_adver_int.get()) / 100.0,
        accept: v.accept.unwrap_or(!strict),
        nopreempt: c.nopreempt,
        preempt_delay: c.preempt_delay.as_secs(),
        state: s.state,
        wantstate: s.wantstate,
        version: match c.version {
            vrrp::Version::V2 => 2,
            vrrp::Version::V3 => 3,
        },
        smtp_alert: v.smtp_alert.unwrap_or(false),
        notify_deleted: n.deleted.is_some(),
        scripts,
        vips: vips(&v.virtual_ipaddress),
        evips: vips(&v.virtual_ipaddress_excluded),
        vroutes: Vec::new(),
        vrules: Vec::new(),
        // keepalived drops tracking of the instance's own interface (it is
        // always tracked).
        track_ifp: v
            .track
            .interface
            .iter()
            .filter(|t| Some(t.name.as_str()) != ifname)
            .map(|t| t.name.clone())
            .collect(),
        track_script: Vec::new(),
        auth_type,
        auth_data,
        stats: s.stats.clone(),
        iname: v.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str, prefix: u8) -> IpAddress {
        IpAddress {
            addr: s.parse().unwrap(),
            prefix,
            dev: None,
            scope: None,
            broadcast: None,
            label: None,
            peer: None,
            flags: Vec::new(),
            preferred_lft: None,
            track_group: None,
            loc: kaconf::Loc::default(),
        }
    }

    #[test]
    fn vips_as_keepalived_formats_them() {
        assert_eq!(
            vip_text(&addr("10.9.9.1", 24), "kd0", None, false),
            "10.9.9.1/24 dev kd0 scope global"
        );
        assert_eq!(
            vip_text(&addr("10.9.9.1", 24), "kd0", None, true),
            "10.9.9.1/24 dev kd0 scope global set"
        );
        let mut a = addr("10.9.9.2", 32);
        a.label = Some("kd0:1".into());
        a.broadcast = Some("10.9.9.255".into());
        a.flags = vec!["no_track".into()];
        assert_eq!(
            vip_text(&a, "kd0", None, false),
            "10.9.9.2 brd 10.9.9.255 dev kd0 scope global label kd0:1 no_track"
        );
        assert_eq!(
            vip_text(&addr("fd00::1", 64), "kd0", Some("vrrp.51"), false),
            "fd00::1/64 dev vrrp.51@kd0 scope global preferred_lft forever"
        );
    }

    fn lines(l: &[TrackLine]) -> Vec<String> {
        l.iter()
            .map(|t| {
                format!(
                    "{} {}{}",
                    t.name,
                    t.weight,
                    if t.reverse { " r" } else { "" }
                )
            })
            .collect()
    }

    /// Who tracks what, as keepalived lists it: instances' own tracking
    /// first (weights dropped in a sync group and for an address owner),
    /// then the groups', one entry per instance.
    #[test]
    fn tracking_lists_in_keepalived_order() {
        let text = "vrrp_script s1 {\n script /bin/true\n weight 5 reverse\n}\n\
            vrrp_script s2 {\n script /bin/true\n weight 0\n}\n\
            vrrp_script unused {\n script /bin/true\n}\n\
            track_file f1 {\n file /nonexistent/kd-f1\n}\n\
            vrrp_sync_group G {\n group {\n  VI_A\n  VI_C\n }\n track_script {\n  s1 weight 0\n  s2 weight 3\n }\n}\n\
            vrrp_instance VI_A {\n interface lo\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n \
            track_script {\n  s1\n  s2\n }\n track_file {\n  f1\n }\n}\n\
            vrrp_instance VI_B {\n interface lo\n virtual_router_id 2\n virtual_ipaddress {\n  10.0.0.2\n }\n \
            track_script {\n  s1 weight 7\n }\n track_file {\n  f1 weight 2\n }\n}\n\
            vrrp_instance VI_C {\n interface lo\n virtual_router_id 3\n priority 255\n \
            virtual_ipaddress {\n  10.0.0.3\n }\n}\n";
        let config = kaconf::parse_str(text, &kaconf::Options::default()).config;
        let t = TrackView::new(&config, &["VI_A", "VI_B", "VI_C"], &["G"]);
        let names: Vec<&str> = t.scripts.iter().map(|s| s.data.name.as_str()).collect();
        assert_eq!(names, ["s1", "s2"], "a script nothing tracks is left out");
        // VI_A's own weighted s1 is dropped (sync group); the group adds
        // it unweighted after VI_B's.
        assert_eq!(
            lines(&t.scripts[0].data.tracking),
            ["VI_B 7 r", "VI_A 0 r", "VI_C 0 r"]
        );
        // VI_A tracks s2 unweighted itself: the group's weight does not
        // replace it. A member is an address owner: the group's weights
        // are cleared.
        assert_eq!(lines(&t.scripts[1].data.tracking), ["VI_A 0", "VI_C 0"]);
        assert_eq!(lines(&t.groups[0].data.track_scripts), ["s1 0 r", "s2 0"]);
        // track_file's default weight 1 becomes 0 in a sync group.
        assert_eq!(lines(&t.files[0].0.tracking), ["VI_A 0", "VI_B 2"]);
        assert_eq!(t.groups[0].data.members, ["VI_A", "VI_C"]);
    }

    #[test]
    fn commands_resolved_as_keepalived() {
        let dir = std::env::temp_dir().join(format!("kd-dump-cmd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::write(dir.join("a/real"), "").unwrap();
        std::os::unix::fs::symlink("a", dir.join("b")).unwrap();
        std::os::unix::fs::symlink("real", dir.join("a/alias")).unwrap();
        let script = |argv: &[&str]| Script {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            user: None,
            group: None,
            loc: kaconf::Loc::default(),
        };
        let d = dir.display();
        // The directory resolved, the name kept when it is the same file.
        assert_eq!(
            cmd(&script(&[&format!("{d}/b/alias"), "x y"])),
            format!("'{d}/a/alias' 'x y'")
        );
        assert_eq!(
            cmd(&script(&[&format!("{d}/b/../b/real")])),
            format!("'{d}/a/real'")
        );
        // A missing program is shown as written; a file test unquoted.
        assert_eq!(cmd(&script(&["/nonexistent/kd"])), "'/nonexistent/kd'");
        assert_eq!(cmd(&script(&["</etc/hostname", "x"])), "</etc/hostname 'x'");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
