//! Logging as keepalived does it, so operators' syslog filters and alerting
//! keep matching.
//!
//! - syslog (unless `-G`): RFC 3164 datagrams to /dev/log, ident per process
//!   (`Keepalived`, `Keepalived_vrrp`, `Keepalived_healthcheckers`) with the
//!   pid, facility LOG_DAEMON or LOG_LOCAL0-7 from `-S`. Written by hand:
//!   keepalived logs at LOG_INFO, and the tracing syslog writers available
//!   map INFO to LOG_NOTICE.
//! - console (`-l` with `-n`): `"%c: message"` on stderr, `%c` in the C locale.
//! - file (`-g[FILE]`): `/tmp/keepalived.log` by default, the role's name
//!   inserted before the extension (`keepalived_vrrp.log`), lines stamped
//!   `"%a %b %d %T.nnnnnnnnn %Y: message"`.
//!
//! Only the event's message is written: spans carry per-instance context for
//! filtering, but never change a line operators grep for. `-D` turns on
//! `debug!` events, which is where keepalived's detail-only lines go.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Which keepalived process this is: it picks the syslog ident and the log
/// file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Parent,
    Vrrp,
    Check,
}

impl Role {
    pub fn ident(self) -> &'static str {
        match self {
            Role::Parent => "Keepalived",
            Role::Vrrp => "Keepalived_vrrp",
            Role::Check => "Keepalived_healthcheckers",
        }
    }

    fn file_tag(self) -> Option<&'static str> {
        match self {
            Role::Parent => None,
            Role::Vrrp => Some("vrrp"),
            Role::Check => Some("check"),
        }
    }
}

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct LogOpts {
    pub console: bool,
    pub detail: bool,
    pub no_syslog: bool,
    /// `-S`: the syslog facility code (see [`parse_facility`]).
    pub facility: Option<u8>,
    /// `-g` (None inside = default file).
    pub file: Option<Option<String>>,
}

const LOG_USER: u8 = 1;
const LOG_DAEMON: u8 = 3;
const LOG_LOCAL0: u8 = 16;

/// `-S` as keepalived reads it: `0`..`7` or `local0`..`local7` for
/// LOG_LOCALn, or `daemon` / `user`.
pub fn parse_facility(arg: &str) -> Option<u8> {
    let n = arg.strip_prefix("local").unwrap_or(arg);
    match n.parse::<u8>() {
        Ok(n) if n <= 7 => Some(LOG_LOCAL0 + n),
        _ => match arg {
            "daemon" => Some(LOG_DAEMON),
            "user" => Some(LOG_USER),
            _ => None,
        },
    }
}

/// keepalived's file name rule: relative names go under /tmp, and the role
/// is inserted before the last extension.
pub fn log_file_name(name: &str, role: Role) -> PathBuf {
    let full = if name.starts_with('/') {
        name.to_string()
    } else {
        format!("/tmp/{name}")
    };
    let Some(tag) = role.file_tag() else {
        return PathBuf::from(full);
    };
    let base_start = full.rfind('/').map_or(0, |i| i + 1);
    match full[base_start..].rfind('.') {
        Some(dot) => {
            let dot = base_start + dot;
            PathBuf::from(format!("{}_{tag}{}", &full[..dot], &full[dot..]))
        }
        None => PathBuf::from(format!("{full}_{tag}")),
    }
}

struct Sinks {
    ident: &'static str,
    facility: u8,
    syslog: Option<UnixDatagram>,
    console: bool,
    file: Option<std::fs::File>,
}

/// The process's sinks. Global rather than owned by the layer: a child
/// forked from the parent inherits the installed subscriber and only swaps
/// these for its own ident, log file and syslog socket.
static SINKS: Mutex<Option<Sinks>> = Mutex::new(None);

struct KeepalivedLayer;

#[derive(Default)]
struct MessageOnly(String);

impl Visit for MessageOnly {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }
}

/// Target of the lines keepalived writes at LOG_DEBUG whatever `-D` says
/// (e.g. "Initializing ipvs"): an `info!` with this target is always
/// written, with syslog severity 7.
pub const ALWAYS_DEBUG: &str = "keepalived::debug";

fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

impl<S: Subscriber> Layer<S> for KeepalivedLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Ok(mut guard) = SINKS.lock() else { return };
        let Some(s) = guard.as_mut() else { return };
        if !s.console && s.file.is_none() && s.syslog.is_none() {
            // -G without -l or -g: nothing is written, so nothing is
            // formatted (the local time costs a conversion per event)
            return;
        }
        let mut msg = MessageOnly::default();
        event.record(&mut msg);
        let now = chrono::Local::now();
        if s.console {
            // `%c` in the C locale
            let line = format!("{}: {}\n", now.format("%a %b %e %H:%M:%S %Y"), msg.0);
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        if let Some(f) = s.file.as_mut() {
            let line = format!("{}: {}\n", now.format("%a %b %d %T.%9f %Y"), msg.0);
            let _ = f.write_all(line.as_bytes());
        }
        if let Some(sock) = s.syslog.as_ref() {
            let sev = if event.metadata().target() == ALWAYS_DEBUG {
                7
            } else {
                severity(event.metadata().level())
            };
            let pri = s.facility * 8 + sev;
            let dgram = format!(
                "<{pri}>{} {}[{}]: {}",
                now.format("%b %e %H:%M:%S"),
                s.ident,
                std::process::id(),
                msg.0
            );
            if sock.send(dgram.as_bytes()).is_err() {
                // syslogd restarted: reconnect once, as libc's syslog does
                s.syslog = connect_syslog();
                if let Some(sock) = s.syslog.as_ref() {
                    let _ = sock.send(dgram.as_bytes());
                }
            }
        }
    }
}

fn connect_syslog() -> Option<UnixDatagram> {
    let sock = UnixDatagram::unbound().ok()?;
    sock.connect(Path::new("/dev/log")).ok()?;
    Some(sock)
}

/// Startup timing probe (`benches/ipvs.sh`): with `KEEPALIVED_RS_TIMING=FILE`
/// in the environment, appends `<unix ns> <pid> u=<user ms> s=<system ms>
/// minflt=<n> majflt=<n> <label>` to FILE, the CPU times and page faults
/// being the whole process's so far. Costs
/// one environment lookup per process otherwise.
pub fn mark(label: &str) {
    static FILE: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();
    let file = FILE.get_or_init(|| {
        let path = std::env::var_os("KEEPALIVED_RS_TIMING")?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    });
    let Some(mut f) = file.as_ref() else { return };
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let (user, sys, minflt, majflt) = nix::sys::resource::getrusage(
        nix::sys::resource::UsageWho::RUSAGE_SELF,
    )
    .map_or((0, 0, 0, 0), |r| {
        let ms = |t: nix::sys::time::TimeVal| t.tv_sec() * 1000 + t.tv_usec() / 1000;
        (
            ms(r.user_time()),
            ms(r.system_time()),
            r.minor_page_faults(),
            r.major_page_faults(),
        )
    });
    let _ = writeln!(
        f,
        "{ns} {} u={user} s={sys} minflt={minflt} majflt={majflt} {label}",
        std::process::id()
    );
}

/// A parse's messages as process `p` of keepalived logs them as it reads
/// the file, at start or (`reload`) at a reload: the config errors of its
/// own blocks and of the root level (keepalived's `report_config_error`,
/// with their location) and, in their place among them, the lines it only
/// logs while running. All at LOG_INFO, as keepalived logs them.
pub fn config_diagnostics(parsed: &kaconf::Parsed, p: kaconf::Process, reload: bool) {
    for line in parsed.process_lines(p, reload) {
        tracing::info!("{line}");
    }
}

/// Installs the global subscriber for this process. Called again in a
/// forked child, it keeps the subscriber and replaces the sinks (ident,
/// file name and syslog socket of the child's role).
pub fn init(role: Role, opts: &LogOpts) {
    let facility = opts.facility.unwrap_or(LOG_DAEMON);
    let file = opts.file.as_ref().and_then(|f| {
        let name = f.as_deref().unwrap_or("keepalived.log");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_file_name(name, role))
            .ok()
    });
    let sinks = Sinks {
        ident: role.ident(),
        facility,
        syslog: if opts.no_syslog {
            None
        } else {
            connect_syslog()
        },
        console: opts.console,
        file,
    };
    // the parent's sinks (a forked child's copies of its descriptors) close here
    *SINKS.lock().unwrap_or_else(|e| e.into_inner()) = Some(sinks);
    let max = if opts.detail {
        Level::DEBUG
    } else {
        Level::INFO
    };
    let _ = tracing_subscriber::registry()
        .with(KeepalivedLayer.with_filter(tracing_subscriber::filter::LevelFilter::from_level(max)))
        .try_init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn facility_forms_as_keepalived() {
        assert_eq!(super::parse_facility("0"), Some(16));
        assert_eq!(super::parse_facility("7"), Some(23));
        assert_eq!(super::parse_facility("local3"), Some(19));
        assert_eq!(super::parse_facility("daemon"), Some(3));
        assert_eq!(super::parse_facility("user"), Some(1));
        assert_eq!(super::parse_facility("8"), None);
        assert_eq!(super::parse_facility("local"), None);
        assert_eq!(super::parse_facility("kern"), None);
    }

    use super::*;

    #[test]
    fn log_file_names_follow_keepalived() {
        assert_eq!(
            log_file_name("keepalived.log", Role::Parent),
            PathBuf::from("/tmp/keepalived.log")
        );
        assert_eq!(
            log_file_name("keepalived.log", Role::Vrrp),
            PathBuf::from("/tmp/keepalived_vrrp.log")
        );
        assert_eq!(
            log_file_name("/var/log/ka", Role::Check),
            PathBuf::from("/var/log/ka_check")
        );
        assert_eq!(
            log_file_name("/var/log.d/ka.x.log", Role::Check),
            PathBuf::from("/var/log.d/ka.x_check.log")
        );
    }

    #[test]
    fn severities_match_syslog() {
        assert_eq!(LOG_DAEMON * 8 + severity(&Level::INFO), 30);
        assert_eq!(LOG_DAEMON * 8 + severity(&Level::WARN), 28);
    }
}
