//! The VRRP process's dump files: `$TMPDIR/keepalived.stats` on SIGUSR2 and
//! `$TMPDIR/keepalived.json` on SIGRTMIN+2, from the state machines'
//! snapshots and the configuration (formats in `vrrp::dump`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use kaconf::model::{self, IpAddress, Script};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::info;
use vrrp::driver::Command;
use vrrp::dump::{JsonInstance, Snapshot};
use vrrp::fsm::State;

/// What the dumps need beyond the state machines: each instance's
/// configuration and VMAC name, and when it last changed state; in the
/// driver's instance order.
#[derive(Default)]
pub struct View {
    pub instances: Vec<(model::VrrpInstance, Option<String>)>,
    pub last_transition: Vec<SystemTime>,
}

impl View {
    pub fn new(instances: Vec<(model::VrrpInstance, Option<String>)>) -> Self {
        let now = SystemTime::now();
        View {
            last_transition: vec![now; instances.len()],
            instances,
        }
    }

    /// After a reload: the new instance list; instances kept (by name) keep
    /// their last transition time.
    pub fn reconfigure(&mut self, instances: Vec<(model::VrrpInstance, Option<String>)>) {
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

/// Answers keepalived's dump signals in the VRRP process: SIGUSR2 writes
/// `keepalived.stats`, SIGRTMAX-1 writes it and zeroes the counters,
/// SIGRTMIN+2 writes `keepalived.json`. (SIGUSR1's `keepalived.data` is
/// not written yet.)
pub async fn serve_signals(cmds: mpsc::UnboundedSender<Command>, view: Arc<Mutex<View>>) {
    let (Ok(mut usr2), Ok(mut clear), Ok(mut json)) = (
        signal(SignalKind::user_defined2()),
        signal(SignalKind::from_raw(libc::SIGRTMAX() - 1)),
        signal(SignalKind::from_raw(libc::SIGRTMIN() + 2)),
    ) else {
        return;
    };
    let pid = std::process::id();
    loop {
        let (stats, clearing) = tokio::select! {
            Some(()) = usr2.recv() => (true, false),
            Some(()) = clear.recv() => (true, true),
            Some(()) = json.recv() => (false, false),
            else => return,
        };
        if stats {
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
        if stats {
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

/// A script as keepalived's `cmd_str` shows it: every word in single
/// quotes, the program by its resolved path (keepalived resolves it while
/// checking script security).
fn cmd(s: &Script) -> String {
    s.argv
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let w = if i == 0 {
                std::fs::canonicalize(w).map_or_else(|_| w.clone(), |p| p.display().to_string())
            } else {
                w.clone()
            };
            format!("'{w}'")
        })
        .collect::<Vec<_>>()
        .join(" ")
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
        ..JsonInstance::new(&v.name)
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
}
