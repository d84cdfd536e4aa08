//! The parent's part of a reload, as keepalived 2.2.7's parent does it.
//!
//! - [`refused`]: settings that a running daemon cannot take at a reload;
//!   any of them changed cancels the whole reload (keepalived's
//!   `reload_config`), and the children keep running the old configuration.
//! - [`reload_file`]: the name of `reload_file`, which exists while the
//!   configuration test of a reload runs.
//! - [`validate`]: `reload_check_config`, the new file run through this
//!   binary's `-t` before anything is reloaded.
//!
//! The children read the new file themselves; the parent reads it only to
//! make these decisions, to start a child that the new file needs, and for
//! its own data dump.

use std::path::PathBuf;
use std::time::Duration;

use kaconf::model::{Config, Raw};
use tracing::info;

/// keepalived's NFT_TABLE_MAXNAMELEN: a longer table name is ignored.
const NFT_TABLE_MAXNAMELEN: usize = 256;

/// How long the configuration test may run before it is stopped.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// After SIGTERM, how long before SIGKILL.
const CHECK_KILL_AFTER: Duration = Duration::from_secs(2);

/// The lines keepalived logs for each setting a reload may not change, in
/// its order; empty when the reload can go ahead. `ns_override`: `-s`
/// names the namespace, so the file's `net_namespace` does not count.
pub fn refused(old: &Config, new: &Config, ns_override: bool) -> Vec<String> {
    let (o, n) = (&old.root, &new.root);
    let (og, ng) = (&old.global_defs, &new.global_defs);
    let changed = [
        (
            !ns_override && o.net_namespace != n.net_namespace,
            "network namespace",
        ),
        (
            o.net_namespace_ipvs != n.net_namespace_ipvs,
            "IPVS network namespace",
        ),
        (o.instance != n.instance, "instance name"),
        (og.nftables != ng.nftables, "nftables table name"),
        (
            ipvs_table(&og.extra) != ipvs_table(&ng.extra),
            "IPVS nftables table name",
        ),
        (
            config_directory(&og.extra) != config_directory(&ng.extra),
            "config_directory",
        ),
        (
            og.disable_local_igmp != ng.disable_local_igmp,
            "disable_local_igmp",
        ),
    ];
    changed
        .into_iter()
        .filter(|(c, _)| *c)
        .map(|(_, what)| format!("Cannot change {what} at a reload - please restart keepalived"))
        .collect()
}

/// `nftables_ipvs [TABLE]` (not acted on yet, but fixed for the life of the
/// daemon all the same): the first one with a usable name counts.
fn ipvs_table(extra: &[Raw]) -> Option<&str> {
    extra
        .iter()
        .filter(|r| r.keyword == "nftables_ipvs")
        .map(|r| r.args.first().map_or("keepalived_ipvs", String::as_str))
        .find(|name| name.len() < NFT_TABLE_MAXNAMELEN)
}

/// `tmp_config_directory DIR`: keepalived keeps the first.
fn config_directory(extra: &[Raw]) -> Option<&str> {
    extra
        .iter()
        .filter(|r| r.keyword == "tmp_config_directory")
        .find_map(|r| r.args.first().map(String::as_str))
}

/// The file `reload_file` names, or keepalived's default name for it next
/// to the pid files; `None` without the keyword.
pub fn reload_file(cfg: &Config) -> Option<PathBuf> {
    let r = &cfg.root;
    let name = cfg.global_defs.reload_file.as_ref()?;
    Some(match (name, &r.instance) {
        (Some(path), _) => PathBuf::from(path),
        (None, Some(i)) => PathBuf::from(format!("/run/keepalived/keepalived_{i}.reload")),
        (None, None) if r.use_pid_dir || r.net_namespace.is_some() => {
            PathBuf::from("/run/keepalived/keepalived.reload")
        }
        (None, None) => PathBuf::from("/run/keepalived.reload"),
    })
}

/// Creates the reload file, readable by all whatever the umask, as
/// keepalived does, so that a monitor can see a reload in progress.
pub fn create_reload_file(cfg: &Config) {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let Some(path) = reload_file(cfg) else { return };
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&path)
        .and_then(|f| f.set_permissions(std::fs::Permissions::from_mode(0o644)));
    if let Err(e) = made {
        info!(
            "Failed to create reload file ({}) {} - {}",
            path.display(),
            e.raw_os_error().unwrap_or(0),
            errno_text(&e)
        );
    }
}

/// At start (a file left by a daemon that died mid-reload) and once a
/// reload's test is over.
pub fn remove_reload_file(cfg: &Config) {
    if let Some(path) = reload_file(cfg) {
        let _ = std::fs::remove_file(path);
    }
}

/// What the configuration test of a reload found.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// `-t` exited 0: the reload goes ahead.
    Passed,
    /// It did not (the line it logged is already out): no reload.
    Failed,
}

/// `reload_check_config`: truncates `log`, then runs this binary with the
/// daemon's own options and `--config-test=LOG`, with the reload file in
/// place meanwhile. Logs keepalived's lines for each outcome.
pub async fn validate(cfg: &Config) -> Checked {
    let Some(log) = cfg.global_defs.reload_check_config.clone() else {
        return Checked::Passed;
    };
    if let Err(e) = truncate(&log) {
        info!(
            "truncate of config check log {log} failed ({}) - {}",
            e.raw_os_error().unwrap_or(0),
            errno_text(&e)
        );
    }
    create_reload_file(cfg);
    let status = run_test(&log).await;
    remove_reload_file(cfg);
    use std::os::unix::process::ExitStatusExt;
    match status {
        None => {
            info!("Could not run config-test");
            Checked::Failed
        }
        Some(s) if s.success() => Checked::Passed,
        Some(s) => {
            match s.signal() {
                Some(sig) => info!(
                    "reload_check exited due to signal {sig} ({}){}",
                    signal_text(sig),
                    if sig == libc::SIGKILL {
                        " - has rlimit_rttime been exceeded?"
                    } else {
                        ""
                    }
                ),
                None => info!("New config failed validation, see {log} for details"),
            }
            Checked::Failed
        }
    }
}

/// The file is emptied for this test's messages (our `-t` appends).
fn truncate(log: &str) -> std::io::Result<()> {
    match std::fs::OpenOptions::new().write(true).open(log) {
        Ok(f) => f.set_len(0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Runs the test in its own process group, stopped as keepalived stops a
/// script that overruns: SIGTERM to the group, SIGKILL two seconds later.
async fn run_test(log: &str) -> Option<std::process::ExitStatus> {
    let exe = crate::daemon::own_exe().ok()?;
    let mut child = tokio::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .arg(format!("--config-test={log}"))
        .env_remove(crate::daemon::ROLE_ENV)
        .env_remove(crate::daemon::DETACHED_ENV)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .ok()?;
    if let Ok(r) = tokio::time::timeout(CHECK_TIMEOUT, child.wait()).await {
        return r.ok();
    }
    info!("config check timed out");
    let group = child.id().map(|p| nix::unistd::Pid::from_raw(-(p as i32)));
    if let Some(g) = group {
        let _ = nix::sys::signal::kill(g, nix::sys::signal::Signal::SIGTERM);
    }
    if let Ok(r) = tokio::time::timeout(CHECK_KILL_AFTER, child.wait()).await {
        return r.ok();
    }
    if let Some(g) = group {
        let _ = nix::sys::signal::kill(g, nix::sys::signal::Signal::SIGKILL);
    }
    child.wait().await.ok()
}

fn errno_text(e: &std::io::Error) -> &'static str {
    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)).desc()
}

fn signal_text(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig).map_or_else(
        |_| format!("Real-time signal {}", sig - libc::SIGRTMIN()),
        |s| match s {
            nix::sys::signal::Signal::SIGKILL => "Killed".into(),
            nix::sys::signal::Signal::SIGTERM => "Terminated".into(),
            other => other.as_str().to_owned(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        kaconf::parse_str(text, &kaconf::Options::default()).config
    }

    #[test]
    fn nothing_refused_when_fixed_settings_stay() {
        let a = parse("instance one\nglobal_defs {\n nftables\n disable_local_igmp\n}\n");
        let b = parse(
            "instance one\nglobal_defs {\n nftables\n disable_local_igmp\n router_id other\n}\n",
        );
        assert!(refused(&a, &b, false).is_empty());
    }

    #[test]
    fn each_fixed_setting_is_refused_in_keepalived_order() {
        let a = parse("global_defs {\n nftables_ipvs\n tmp_config_directory /tmp/a\n}\n");
        let b = parse(
            "net_namespace ns1\nnet_namespace_ipvs ns2\ninstance i\nglobal_defs {\n nftables t\n nftables_ipvs other\n tmp_config_directory /tmp/b\n disable_local_igmp\n}\n",
        );
        let what: Vec<String> = refused(&a, &b, false);
        assert_eq!(
            what,
            [
                "network namespace",
                "IPVS network namespace",
                "instance name",
                "nftables table name",
                "IPVS nftables table name",
                "config_directory",
                "disable_local_igmp",
            ]
            .map(|w| format!("Cannot change {w} at a reload - please restart keepalived"))
        );
        // -s fixes the namespace whatever the file says
        assert_eq!(refused(&a, &b, true).len(), 6);
    }

    #[test]
    fn ipvs_table_defaults_and_first_wins() {
        let c = parse("global_defs {\n nftables_ipvs\n nftables_ipvs second\n}\n");
        assert_eq!(ipvs_table(&c.global_defs.extra), Some("keepalived_ipvs"));
    }

    #[test]
    fn reload_file_names() {
        let name = |t: &str| reload_file(&parse(t)).map(|p| p.display().to_string());
        assert_eq!(name("global_defs {\n router_id a\n}\n"), None);
        assert_eq!(
            name("global_defs {\n reload_file\n}\n").as_deref(),
            Some("/run/keepalived.reload")
        );
        assert_eq!(
            name("instance lb\nglobal_defs {\n reload_file\n}\n").as_deref(),
            Some("/run/keepalived/keepalived_lb.reload")
        );
        assert_eq!(
            name("use_pid_dir\nglobal_defs {\n reload_file\n}\n").as_deref(),
            Some("/run/keepalived/keepalived.reload")
        );
        assert_eq!(
            name("global_defs {\n reload_file /tmp/r\n}\n").as_deref(),
            Some("/tmp/r")
        );
    }

    #[test]
    fn reload_check_config_bare_logs_to_dev_null() {
        let c = parse("global_defs {\n reload_check_config\n}\n");
        assert_eq!(
            c.global_defs.reload_check_config.as_deref(),
            Some("/dev/null")
        );
    }
}
