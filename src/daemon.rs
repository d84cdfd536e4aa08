//! The running daemon: keepalived's process model.
//!
//! A parent supervises one child per subsystem (VRRP, checkers), each its own
//! process so a flood of checks or a stuck script can never delay an advert.
//! The first children are forked from the parent before it has any thread
//! and run the configuration it parsed ([`fork_children`]); a respawned
//! child is this same binary re-executed with [`ROLE_ENV`] set, which parses
//! the file again and never forks a threaded process. The parent relays
//! signals, restarts a child that dies (with keepalived's back-off), and
//! stops everything when a child exits with a permanent error (1, 2, 4).
//!
//! Without `-n` the parent detaches the same way: it re-executes itself with
//! [`DETACHED_ENV`] set and exits; the detached copy calls `setsid`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use crate::log::Role;

pub const ROLE_ENV: &str = "KEEPALIVED_RS_ROLE";
pub const DETACHED_ENV: &str = "KEEPALIVED_RS_DETACHED";

/// keepalived's run-mode exit codes.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FATAL: i32 = 1;
pub const EXIT_CONFIG: i32 = 2;
pub const EXIT_MISSING_PERMISSION: i32 = 4;
pub const EXIT_NO_CONFIG: i32 = 6;

/// How long children get to stop after SIGTERM when the configuration does
/// not say (`child_wait_time`): keepalived's default.
pub const CHILD_WAIT: Duration = Duration::from_secs(5);

pub const VERSION_LINE: &str = concat!(
    "Keepalived v",
    env!("CARGO_PKG_VERSION"),
    " (keepalived-rs)"
);

/// The kernel our kernel interfaces (IPVS, rtnetlink, VRRP sockets) are
/// written and tested against: Debian bookworm's 6.1, the VM tier's. It is
/// what keepalived's start-up line calls "built for" (its headers' version).
pub const BUILT_FOR: (u32, u32, u32) = (6, 1, 0);

/// keepalived's second start-up line, from the running kernel's `uname`:
/// "Running on …" or, on a kernel older than [`BUILT_FOR`], a warning.
/// None when the release does not read as `major.minor.patch…`, where
/// keepalived writes neither.
pub fn kernel_line(sysname: &str, release: &str, version: &str) -> Option<String> {
    fn number(s: &str) -> (u64, &str) {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        (s[..end].parse().unwrap_or(0), &s[end..])
    }
    let (major, rest) = number(release);
    let rest = rest.strip_prefix('.')?;
    let (minor, rest) = number(rest);
    let rest = rest.strip_prefix('.')?;
    if !rest.starts_with(|c: char| c.is_ascii_digit()) || major == 0 {
        return None;
    }
    let (patch, _) = number(rest);
    // linux/version.h's KERNEL_VERSION: the patch level saturates at 255
    let code = |a: u64, b: u64, c: u64| (a << 16) + (b << 8) + c.min(255);
    let (a, b, c) = BUILT_FOR;
    Some(
        if code(major, minor, patch) < code(a.into(), b.into(), c.into()) {
            format!(
                "WARNING - keepalived was built for newer Linux {a}.{b}.{c}, running on {sysname} {release} {version}"
            )
        } else {
            format!("Running on {sysname} {release} {version} (built for Linux {a}.{b}.{c})")
        },
    )
}

/// [`kernel_line`] for this host.
pub fn running_on() -> Option<String> {
    let u = nix::sys::utsname::uname().ok()?;
    kernel_line(
        &u.sysname().to_string_lossy(),
        &u.release().to_string_lossy(),
        &u.version().to_string_lossy(),
    )
}

/// The runtime files of one keepalived instance (reference §1.3).
#[derive(Debug, Clone)]
pub struct PidFiles {
    pub parent: PathBuf,
    pub vrrp: PathBuf,
    pub check: PathBuf,
}

impl PidFiles {
    pub fn new(
        root: &kaconf::model::RootOpts,
        parent: Option<&str>,
        vrrp: Option<&str>,
        check: Option<&str>,
    ) -> PidFiles {
        let in_dir = root.use_pid_dir || root.net_namespace.is_some() || root.instance.is_some();
        let dir = if in_dir { "/run/keepalived" } else { "/run" };
        let name = |base: &str| match &root.instance {
            Some(i) => PathBuf::from(format!("{dir}/{base}_{i}.pid")),
            None => PathBuf::from(format!("{dir}/{base}.pid")),
        };
        PidFiles {
            parent: parent.map_or_else(|| name("keepalived"), PathBuf::from),
            vrrp: vrrp.map_or_else(|| name("vrrp"), PathBuf::from),
            check: check.map_or_else(|| name("checkers"), PathBuf::from),
        }
    }
}

/// A pid file held under an exclusive lock for the life of the process, so a
/// second daemon sees "already running" even if the file was left behind.
pub struct PidFile {
    path: PathBuf,
    _lock: Flock<std::fs::File>,
}

impl PidFile {
    pub fn create(path: &Path) -> Result<PidFile, String> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .read(true)
            .open(path)
            .map_err(|_| format!("pidfile_write : Cannot open {} pidfile", path.display()))?;
        let lock = Flock::lock(f, FlockArg::LockExclusiveNonblock)
            .map_err(|_| "daemon is already running".to_string())?;
        lock.set_len(0).map_err(|e| e.to_string())?;
        use std::io::Write;
        (&*lock)
            .write_all(format!("{}\n", std::process::id()).as_bytes())
            .map_err(|e| format!("Unable to write pidfile {}: {e}", path.display()))?;
        Ok(PidFile {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }
}

impl PidFile {
    /// In a forked child: closes the inherited descriptor without unlocking
    /// (the lock belongs to the open file the parent still holds) or
    /// removing the file.
    pub fn abandon_in_child(self) {
        use std::os::fd::AsRawFd;
        let fd = self._lock.as_raw_fd();
        std::mem::forget(self);
        let _ = nix::unistd::close(fd);
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The subsystem a child runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subsystem {
    Vrrp,
    Check,
}

impl Subsystem {
    pub fn env_value(self) -> &'static str {
        match self {
            Subsystem::Vrrp => "vrrp",
            Subsystem::Check => "check",
        }
    }
    pub fn from_env(v: &str) -> Option<Subsystem> {
        match v {
            "vrrp" => Some(Subsystem::Vrrp),
            "check" => Some(Subsystem::Check),
            _ => None,
        }
    }
    pub fn role(self) -> Role {
        match self {
            Subsystem::Vrrp => Role::Vrrp,
            Subsystem::Check => Role::Check,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Subsystem::Vrrp => "VRRP",
            Subsystem::Check => "Healthcheck",
        }
    }
}

/// Which children this configuration needs (keepalived starts a subsystem
/// only if it has something to do, unless `--all`).
pub fn wanted_children(
    config: &kaconf::model::Config,
    only_vrrp: bool,
    only_check: bool,
    all: bool,
) -> Vec<Subsystem> {
    let (want_vrrp, want_check) = match (only_vrrp, only_check) {
        (true, false) => (true, false),
        (false, true) => (false, true),
        _ => (true, true),
    };
    let has_vrrp = !config.vrrp_instances.is_empty()
        || !config.static_ipaddress.is_empty()
        || !config.static_routes.is_empty()
        || !config.static_rules.is_empty();
    let has_check = !config.virtual_servers.is_empty();
    // keepalived's start order (`start_keepalived`): the checker child,
    // then the VRRP child
    let mut out = Vec::new();
    if want_check && (has_check || all) {
        out.push(Subsystem::Check);
    }
    if want_vrrp && (has_vrrp || all) {
        out.push(Subsystem::Vrrp);
    }
    out
}

/// Re-executes this binary detached from the terminal and exits (no `-n`).
pub fn detach() -> ! {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let spawned = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(DETACHED_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/")
        .spawn();
    match spawned {
        Ok(_) => std::process::exit(EXIT_OK),
        Err(e) => {
            eprintln!("Unable to daemonize: {e}");
            std::process::exit(EXIT_FATAL)
        }
    }
}

/// Called first thing in the detached copy.
pub fn finish_detach() {
    let _ = nix::unistd::setsid();
}

/// The signals operators' tooling sends for dumps: SIGUSR1 (data), SIGUSR2
/// (stats), SIGRTMIN+2 (JSON), SIGRTMAX-1 (stats and clear). Their default
/// action would kill the process: those a role does not `answer` yet are
/// received and logged, never fatal. Needs a runtime.
pub fn absorb_dump_signals(who: &'static str, answered: &[&str]) {
    let kinds = [
        ("SIGUSR1", SignalKind::user_defined1()),
        ("SIGUSR2", SignalKind::user_defined2()),
        ("SIGRTMIN+2", SignalKind::from_raw(libc::SIGRTMIN() + 2)),
        ("SIGRTMAX-1", SignalKind::from_raw(libc::SIGRTMAX() - 1)),
    ];
    for (name, kind) in kinds {
        if answered.contains(&name) {
            // tokio keeps a handler once installed: from here on the signal
            // cannot kill the process before the role listens for it
            let _ = signal(kind);
            continue;
        }
        if let Ok(mut s) = signal(kind) {
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    warn!("{who}: {name} received - data/stats dumps are not supported yet");
                }
            });
        }
    }
}

/// In a child: die with the parent, as keepalived's children do. A forked
/// child also gets the /dev/null stdin an executed one is given.
pub fn child_setup(forked: bool) {
    if forked && let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
    }
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
    if nix::unistd::getppid().as_raw() == 1 {
        // the parent died before the line above
        std::process::exit(EXIT_OK);
    }
}

/// A child process of the parent, forked or spawned; reaped with waitpid.
struct Running {
    kind: Subsystem,
    pid: Pid,
    started: Instant,
    restarts: u32,
}

/// What [`fork_children`] returns in each process.
pub enum Forked {
    /// In the parent: the children started, in order.
    Parent(Vec<(Subsystem, Pid)>),
    /// In a child: the subsystem to run, with the parent's parsed config.
    Child(Subsystem),
}

/// Starts the first generation of children by forking this process, so they
/// take over the configuration the parent has already parsed instead of
/// executing the binary again and parsing it once more (issue 3: that was
/// most of the cold start under the test VM). Only safe while this process
/// has a single thread, which is the case before the parent's runtime
/// exists; if that ever stops holding, the children are executed instead.
/// Respawned children are always executed ([`spawn_child`]).
pub fn fork_children(kinds: &[Subsystem]) -> std::io::Result<Forked> {
    let single = std::fs::read_dir("/proc/self/task").is_ok_and(|d| d.count() == 1);
    let mut started = Vec::new();
    crate::ready::listen();
    // Held until the parent's handlers exist ([`parent_loop`]): a SIGTERM
    // sent as soon as a child is seen would otherwise end the parent
    // silently (the default action) and leave the children behind.
    hold_parent_signals(true);
    for &kind in kinds {
        crate::log::mark("spawn");
        let pid = if single {
            match fork_raw()? {
                None => {
                    // the child keeps keepalived's default until its own
                    // handlers exist
                    hold_parent_signals(false);
                    crate::ready::forget();
                    return Ok(Forked::Child(kind));
                }
                Some(pid) => pid,
            }
        } else {
            warn!("more than one thread before starting the children: executing them");
            spawn_raw(kind)?
        };
        info!("Starting {} child process, pid={}", kind.name(), pid);
        started.push((kind, pid));
    }
    Ok(Forked::Parent(started))
}

/// The signals the parent acts on, blocked (`hold`) or let through: one
/// that comes while they are blocked waits, and reaches the handler once
/// they are let through.
fn hold_parent_signals(hold: bool) {
    use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGHUP,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGCHLD,
    ] {
        set.add(s);
    }
    let how = if hold {
        SigmaskHow::SIG_BLOCK
    } else {
        SigmaskHow::SIG_UNBLOCK
    };
    let _ = sigprocmask(how, Some(&set), None);
}

/// fork(2). `None` in the child.
#[allow(unsafe_code)]
fn fork_raw() -> std::io::Result<Option<Pid>> {
    // SAFETY: fork is unsafe because a child of a multi-threaded process may
    // only call async-signal-safe functions. The only caller checks that
    // this process has exactly one thread (no runtime, no helper threads
    // yet), so the child is a complete copy that may do anything.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => Ok(None),
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Some(child)),
        Err(e) => Err(e.into()),
    }
}

/// This binary, to run again. After an upgrade replaced it on disk the
/// kernel names the running one "PATH (deleted)": the new one at PATH is
/// run (keepalived does the same for its configuration test).
pub fn own_exe() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(
        match exe.to_str().and_then(|p| p.strip_suffix(" (deleted)")) {
            Some(live) => PathBuf::from(live),
            None => exe,
        },
    )
}

/// Executes this binary again as a child running `kind`.
fn spawn_raw(kind: Subsystem) -> std::io::Result<Pid> {
    let exe = own_exe()?;
    let child = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(ROLE_ENV, kind.env_value())
        .env_remove(DETACHED_ENV)
        .stdin(Stdio::null())
        .spawn()?;
    // reaped by pid with waitpid, like the forked ones: the handle goes
    Ok(Pid::from_raw(child.id() as i32))
}

fn spawn_child(kind: Subsystem) -> std::io::Result<Pid> {
    let pid = spawn_raw(kind)?;
    info!("Starting {} child process, pid={}", kind.name(), pid);
    Ok(pid)
}

/// Reaps `pid` if it has exited: `Some(exit code)`, or `Some(None)` for a
/// death by signal; `None` while it runs.
fn try_reap(pid: Pid) -> Option<Option<i32>> {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(Some(code)),
        Ok(WaitStatus::Signaled(..)) => Some(None),
        Ok(_) => None,
        // not our child any more (reaped elsewhere): treat as gone
        Err(nix::errno::Errno::ECHILD) => Some(None),
        Err(_) => None,
    }
}

fn restart_delay(restarts: u32) -> Duration {
    // 1, 2, 4, ... capped at 60 s, as keepalived limits its respawn rate
    Duration::from_secs((1u64 << restarts.min(6)).min(60))
}

/// keepalived sends its pid with READY=1.
fn notify_ready() {
    notify_systemd(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::MainPid(std::process::id()),
    ]);
}

fn notify_systemd(state: &[sd_notify::NotifyState]) {
    let _ = sd_notify::notify(state);
}

/// Which children the command line allows (`-P`, `-C`, `--all`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ChildChoice {
    pub only_vrrp: bool,
    pub only_check: bool,
    pub all: bool,
}

/// What the parent knows of the configuration: its global settings, for
/// the SIGUSR1 dump (`keepalived_parent.data`) and for what a reload may
/// change ([`crate::reload`]). The children hold the rest.
#[derive(Debug, Clone)]
pub struct ParentConfig {
    /// The configuration's `global_defs` and root options (the rest left
    /// empty: the parent's dump shows only global data).
    pub globals: kaconf::model::Config,
    /// Read again at each reload.
    pub path: PathBuf,
    pub opts: kaconf::Options,
    /// `-u`.
    pub umask: Option<u32>,
    pub children: ChildChoice,
    /// `-s`: the namespace comes from the command line, not the file.
    pub ns_override: bool,
    /// The reload `reload_time_file` has armed, for the dump.
    pub reload_at: Option<(i64, bool)>,
}

impl ParentConfig {
    pub fn new(
        config: &kaconf::model::Config,
        path: PathBuf,
        opts: kaconf::Options,
        umask: Option<u32>,
    ) -> ParentConfig {
        ParentConfig {
            globals: kaconf::model::Config {
                root: config.root.clone(),
                global_defs: config.global_defs.clone(),
                ..Default::default()
            },
            path,
            opts,
            umask,
            children: ChildChoice::default(),
            ns_override: false,
            reload_at: None,
        }
    }

    /// keepalived's `print_parent_data`: `$TMPDIR/keepalived_parent.data`.
    /// Blocking.
    fn write(&self) {
        const NAME: &str = "keepalived_parent.data";
        info!(
            "Printing parent data for process({}) on signal",
            std::process::id()
        );
        if let Some(line) = crate::syscheck::dump_default_user_line(&self.globals.global_defs) {
            info!("{line}");
        }
        let env = crate::check_dump::Env {
            reload_at: self.reload_at,
            ..crate::check_dump::Env::current(self.umask, &self.globals.global_defs)
        };
        let text = crate::check_dump::global_text(&self.globals, &env);
        let name = crate::check_dump::file_name(&self.globals, NAME);
        if let Err(e) = crate::vrrp_role::dump::write(&name, &text) {
            let errno = e.raw_os_error().unwrap_or(0);
            info!(
                "Can't open dump file {NAME} ({errno}: {})",
                nix::errno::Errno::from_raw(errno).desc()
            );
        }
    }
}

/// The children a configuration load still waits for (keepalived's
/// `num_reloading`), and whether a SIGHUP came meanwhile.
#[derive(Default)]
struct Loading {
    pending: Vec<Subsystem>,
    /// "Startup complete" was logged: the next one is a reload's.
    loaded: bool,
    queued: bool,
}

impl Loading {
    /// `kind` loaded its configuration (or died). True when that
    /// completed the load: then keepalived's line and READY=1 are out.
    fn reported(&mut self, kind: Subsystem) -> bool {
        let Some(p) = self.pending.iter().position(|k| *k == kind) else {
            return false;
        };
        self.pending.remove(p);
        if !self.pending.is_empty() {
            return false;
        }
        info!(
            "{} complete",
            if self.loaded { "Reload" } else { "Startup" }
        );
        self.loaded = true;
        notify_ready();
        true
    }
}

type SharedConfig = std::sync::Arc<std::sync::Mutex<ParentConfig>>;

fn lock(cfg: &SharedConfig) -> std::sync::MutexGuard<'_, ParentConfig> {
    cfg.lock().unwrap_or_else(|e| e.into_inner())
}

/// The reload monitor of the configuration now running, if it has a
/// `reload_time_file`.
fn restart_monitor(c: &mut ParentConfig, monitor: &mut Option<crate::reload_timer::Monitor>) {
    *monitor = crate::reload_timer::Monitor::start(&c.globals.global_defs);
    c.reload_at = monitor.as_ref().and_then(|m| m.scheduled());
}

/// keepalived's `start_reload`: with `reload_check_config` the new file is
/// tested first, in a task whose result [`parent_loop`] waits for;
/// otherwise the reload starts now.
fn begin_reload(
    running: &mut Vec<Running>,
    loading: &mut Loading,
    notices: bool,
    cfg: &SharedConfig,
    log_detail: bool,
    queued: bool,
    monitor: &mut Option<crate::reload_timer::Monitor>,
) -> Option<tokio::task::JoinHandle<crate::reload::Checked>> {
    if queued && log_detail {
        info!("Processing queued reload");
    }
    let current = lock(cfg).globals.clone();
    if current.global_defs.reload_check_config.is_none() {
        start_reload(running, loading, notices, cfg, log_detail, false, monitor);
        return None;
    }
    if log_detail {
        info!("validate conf before Reload");
    }
    Some(tokio::spawn(async move {
        crate::reload::validate(&current).await
    }))
}

/// keepalived's `do_reload`: read the file again and refuse the settings a
/// running daemon cannot change (then nothing is reloaded); otherwise tell
/// systemd, pass SIGHUP on, start a child the new file needs, and wait for
/// every child to report the new configuration loaded. A file that cannot
/// be read is left to the children, which keep what they run.
fn start_reload(
    running: &mut Vec<Running>,
    loading: &mut Loading,
    notices: bool,
    cfg: &SharedConfig,
    log_detail: bool,
    validated: bool,
    monitor: &mut Option<crate::reload_timer::Monitor>,
) {
    info!("Reloading ...");
    // stopped without a line; started again below from the configuration
    // the reload leaves running
    *monitor = None;
    let (path, opts, choice, ns_override) = {
        let c = lock(cfg);
        (c.path.clone(), c.opts.clone(), c.children, c.ns_override)
    };
    // after a configuration test keepalived reads the copy the test made,
    // and names no file
    if !validated && std::fs::File::open(&path).is_ok() {
        if log_detail {
            info!("Opening file '{}'.", path.display());
        }
        info!("Configuration file {}", path.display());
    }
    let parsed = kaconf::parse_file(&path.to_string_lossy(), &opts);
    crate::log::config_diagnostics(&parsed, kaconf::Process::Parent, true);
    let usable = parsed.found
        && !parsed
            .diags
            .list
            .iter()
            .any(|d| matches!(d.class, kaconf::Class::Fatal | kaconf::Class::FileNotFound));
    let mut wanted = Vec::new();
    if usable {
        use crate::syscheck::{Loader, load_lines};
        let mut c = lock(cfg);
        crate::syscheck::forget_default_user();
        if let Some(line) = load_lines(&parsed.config, Loader::Parent, true).user {
            info!("{line}");
        }
        let refused = crate::reload::refused(&c.globals, &parsed.config, ns_override);
        if !refused.is_empty() {
            for line in refused {
                info!("{line}");
            }
            // keepalived checks the shutdown script of what it keeps
            if let Some(line) = load_lines(&c.globals, Loader::Parent, true).violation {
                info!("{line}");
            }
            restart_monitor(&mut c, monitor);
            return;
        }
        if let Some(line) = load_lines(&parsed.config, Loader::Parent, true).violation {
            info!("{line}");
        }
        let umask = c.umask;
        let name = &parsed.config.global_defs.process_name;
        if *name != c.globals.global_defs.process_name {
            crate::sched::set_name(name.as_deref().unwrap_or("keepalived"));
        }
        *c = ParentConfig {
            children: choice,
            ns_override,
            ..ParentConfig::new(&parsed.config, path, opts, umask)
        };
        wanted = wanted_children(
            &parsed.config,
            choice.only_vrrp,
            choice.only_check,
            choice.all,
        );
    }
    restart_monitor(&mut lock(cfg), monitor);
    notify_systemd(&[sd_notify::NotifyState::Reloading]);
    for r in running.iter() {
        let _ = kill(r.pid, Signal::SIGHUP);
    }
    // keepalived starts a child that the new configuration needs, the VRRP
    // child first (`propagate_signal`)
    for kind in [Subsystem::Vrrp, Subsystem::Check] {
        if !wanted.contains(&kind) || running.iter().any(|r| r.kind == kind) {
            continue;
        }
        match spawn_child(kind) {
            Ok(pid) => running.push(Running {
                kind,
                pid,
                started: Instant::now(),
                restarts: 0,
            }),
            Err(e) => error!("Unable to start {} child process: {e}", kind.name()),
        }
    }
    if notices {
        loading.pending = running.iter().map(|r| r.kind).collect();
    }
    if loading.pending.is_empty() {
        notify_ready();
    }
}

/// The parent's main loop over the children [`fork_children`] started.
/// Returns the process exit code.
pub fn run_parent(
    children: Vec<(Subsystem, Pid)>,
    dont_respawn: bool,
    child_wait: Duration,
    cfg: ParentConfig,
    log_detail: bool,
) -> i32 {
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
    let code = rt.block_on(parent_loop(
        children,
        dont_respawn,
        child_wait,
        cfg,
        log_detail,
    ));
    if log_detail {
        let (me, kids) = cpu_usage();
        info!(
            "CPU usage (self/children) user: {}/{} system: {}/{}",
            me.0, kids.0, me.1, kids.1
        );
    }
    info!("Stopped {VERSION_LINE}");
    code
}

/// User and system CPU time of this process and of its reaped children,
/// each as keepalived prints a timeval ("0.009867").
fn cpu_usage() -> ((String, String), (String, String)) {
    use nix::sys::resource::{UsageWho, getrusage};
    let get = |who| {
        getrusage(who).map_or_else(
            |_| ("0.000000".to_owned(), "0.000000".to_owned()),
            |u| {
                let f = |t: nix::sys::time::TimeVal| format!("{}.{:06}", t.tv_sec(), t.tv_usec());
                (f(u.user_time()), f(u.system_time()))
            },
        )
    };
    (get(UsageWho::RUSAGE_SELF), get(UsageWho::RUSAGE_CHILDREN))
}

/// A child's last line (keepalived `log_stopping`): with `-D`, the CPU time
/// it used, its scripts' too when they used any.
pub fn log_stopped_child(log_detail: bool) {
    if !log_detail {
        info!("Stopped");
        return;
    }
    let (me, kids) = cpu_usage();
    if kids.0 != "0.000000" {
        info!(
            "Stopped - used (self/children) {}/{} user time, {}/{} system time",
            me.0, kids.0, me.1, kids.1
        );
    } else {
        info!("Stopped - used {} user time, {} system time", me.0, me.1);
    }
}

async fn parent_loop(
    children: Vec<(Subsystem, Pid)>,
    dont_respawn: bool,
    child_wait: Duration,
    cfg: ParentConfig,
    log_detail: bool,
) -> i32 {
    let (
        Ok(mut hup),
        Ok(mut term),
        Ok(mut int),
        Ok(mut usr1),
        Ok(mut usr2),
        Ok(mut json),
        Ok(mut clear),
        Ok(mut chld),
    ) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::user_defined1()),
        signal(SignalKind::user_defined2()),
        signal(SignalKind::from_raw(libc::SIGRTMIN() + 2)),
        signal(SignalKind::from_raw(libc::SIGRTMAX() - 1)),
        signal(SignalKind::child()),
    )
    else {
        error!("Unable to install signal handlers");
        return EXIT_FATAL;
    };
    // handled from here: what came since the first fork is delivered now
    hold_parent_signals(false);
    if children.is_empty() {
        warn!("Warning - keepalived has no configuration to run");
    }
    let mut running: Vec<Running> = children
        .into_iter()
        .map(|(kind, pid)| Running {
            kind,
            pid,
            started: Instant::now(),
            restarts: 0,
        })
        .collect();
    let signal_all = |running: &[Running], sig: Signal| {
        for r in running {
            let _ = kill(r.pid, sig);
        }
    };
    // keepalived's num_reloading: the children still to report that they
    // loaded the configuration (`crate::ready`). Without the socket, or
    // without children, there is nothing to wait for.
    let ready = crate::ready::take();
    let mut loading = Loading::default();
    if ready.is_some() {
        loading.pending = running.iter().map(|r| r.kind).collect();
    }
    if loading.pending.is_empty() {
        notify_ready();
    }
    // A child may have died before the SIGCHLD handler existed: look once
    // before the first wait.
    let mut check_children = true;
    // Shared with the blocking task that writes each SIGUSR1 dump.
    let cfg: SharedConfig = std::sync::Arc::new(std::sync::Mutex::new(cfg));
    // The configuration test of a reload, while it runs.
    let mut checking: Option<tokio::task::JoinHandle<crate::reload::Checked>> = None;
    // reload_time_file, watched from the start
    let mut monitor = None;
    restart_monitor(&mut lock(&cfg), &mut monitor);
    loop {
        while check_children {
            check_children = false;
            let Some((i, code)) = running
                .iter()
                .enumerate()
                .find_map(|(i, r)| try_reap(r.pid).map(|c| (i, c)))
            else {
                break;
            };
            // another child may have exited in the same SIGCHLD
            check_children = true;
            let r = running.remove(i);
            // before anything counts the child as loaded: keepalived then
            // logs no "Startup complete", and exits with the child's code
            if matches!(
                code,
                Some(EXIT_FATAL | EXIT_CONFIG | EXIT_MISSING_PERMISSION)
            ) {
                let what = match code {
                    Some(EXIT_FATAL) => "FATAL",
                    Some(EXIT_CONFIG) => "CONFIG",
                    _ => "missing permission",
                };
                // keepalived 2.2.7 forgets which child it was before it
                // reports, so the line names the pid
                info!(
                    "pid {} exited with permanent error {what}. Terminating",
                    r.pid
                );
                signal_all(&running, Signal::SIGTERM);
                stop_children(&mut running, &mut chld, child_wait).await;
                return code.unwrap_or(EXIT_FATAL);
            }
            // a dead child reports nothing: do not wait for it
            if loading.reported(r.kind) && loading.queued {
                loading.queued = false;
                checking = begin_reload(
                    &mut running,
                    &mut loading,
                    ready.is_some(),
                    &cfg,
                    log_detail,
                    true,
                    &mut monitor,
                );
            }
            if dont_respawn {
                info!("{} child process({}) died: Exiting", r.kind.name(), r.pid);
                signal_all(&running, Signal::SIGTERM);
                stop_children(&mut running, &mut chld, child_wait).await;
                return EXIT_OK;
            }
            error!(
                "{} child process({}) died: Respawning",
                r.kind.name(),
                r.pid
            );
            let restarts = if r.started.elapsed() > Duration::from_secs(60) {
                0
            } else {
                r.restarts + 1
            };
            if restarts > 0 {
                let delay = restart_delay(restarts - 1);
                info!(
                    "Restart of {} process delayed {} seconds to limit respawn rate",
                    r.kind.name(),
                    delay.as_secs()
                );
                tokio::time::sleep(delay).await;
            }
            match spawn_child(r.kind) {
                Ok(pid) => running.push(Running {
                    kind: r.kind,
                    pid,
                    started: Instant::now(),
                    restarts,
                }),
                Err(e) => error!("Unable to restart {} child process: {e}", r.kind.name()),
            }
        }
        tokio::select! {
            _ = chld.recv() => check_children = true,
            _ = hup.recv() => {
                if loading.pending.is_empty() && checking.is_none() {
                    checking = begin_reload(&mut running, &mut loading, ready.is_some(), &cfg, log_detail, false, &mut monitor);
                } else {
                    // as keepalived: one reload at a time, the next queued
                    loading.queued = true;
                }
            }
            pid = async {
                match &ready {
                    Some(s) => crate::ready::next(s).await,
                    None => std::future::pending().await,
                }
            } => {
                // a respawned child's notice is not waited for
                let kind = pid.ok().and_then(|p| running.iter().find(|r| r.pid == p)).map(|r| r.kind);
                if let Some(kind) = kind
                    && loading.reported(kind)
                    && loading.queued
                {
                    loading.queued = false;
                    checking = begin_reload(&mut running, &mut loading, ready.is_some(), &cfg, log_detail, true, &mut monitor);
                }
            }
            checked = async {
                match checking.as_mut() {
                    Some(task) => task.await,
                    None => std::future::pending().await,
                }
            } => {
                checking = None;
                if matches!(checked, Ok(crate::reload::Checked::Passed)) {
                    start_reload(&mut running, &mut loading, ready.is_some(), &cfg, log_detail, true, &mut monitor);
                } else if loading.queued {
                    loading.queued = false;
                    checking = begin_reload(&mut running, &mut loading, ready.is_some(), &cfg, log_detail, true, &mut monitor);
                }
            }
            event = async {
                match monitor.as_mut() {
                    Some(m) => m.next().await,
                    None => std::future::pending().await,
                }
            } => {
                if event == crate::reload_timer::Event::Due {
                    // as keepalived: the monitor stops, and the reload goes
                    // the way of a SIGHUP (queued behind one in progress)
                    monitor = None;
                    let _ = kill(nix::unistd::getpid(), Signal::SIGHUP);
                }
                lock(&cfg).reload_at = monitor.as_ref().and_then(|m| m.scheduled());
            }
            _ = usr1.recv() => {
                signal_all(&running, Signal::SIGUSR1);
                let cfg = std::sync::Arc::clone(&cfg);
                tokio::task::spawn_blocking(move || lock(&cfg).write());
            }
            // stats and JSON are the VRRP child's
            _ = usr2.recv() => signal_vrrp(&running, libc::SIGUSR2),
            _ = json.recv() => signal_vrrp(&running, libc::SIGRTMIN() + 2),
            _ = clear.recv() => signal_vrrp(&running, libc::SIGRTMAX() - 1),
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    info!("Stopping");
    drop(monitor);
    signal_all(&running, Signal::SIGTERM);
    stop_children(&mut running, &mut chld, child_wait).await;
    EXIT_OK
}

fn signal_vrrp(running: &[Running], signo: i32) {
    for r in running.iter().filter(|r| r.kind == Subsystem::Vrrp) {
        raw_kill(r.pid.as_raw(), signo);
    }
}

/// kill(2) with a raw signal number: nix's `Signal` has no real-time
/// signals. The call takes two integers and touches no memory of ours.
#[allow(unsafe_code)]
fn raw_kill(pid: i32, signo: i32) {
    // SAFETY: a plain syscall on integers; errors are ignored on purpose
    // (the child may have just exited).
    unsafe {
        libc::kill(pid, signo);
    }
}

/// Waits for every child (already sent SIGTERM) to exit, up to
/// `child_wait` each, then kills what is left.
async fn stop_children(
    running: &mut Vec<Running>,
    chld: &mut tokio::signal::unix::Signal,
    child_wait: Duration,
) {
    for r in running.iter() {
        let deadline = tokio::time::Instant::now() + child_wait;
        let mut gone = try_reap(r.pid).is_some();
        while !gone {
            // SIGCHLD, or a short poll in case it was for another child
            let tick = tokio::time::sleep(Duration::from_millis(50));
            tokio::select! {
                _ = chld.recv() => {}
                _ = tick => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
            gone = try_reap(r.pid).is_some();
        }
        if !gone {
            error!(
                "{} process failed to die - forcing termination",
                r.kind.name()
            );
            let _ = kill(r.pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(r.pid, None);
        }
    }
    running.clear();
}

#[cfg(test)]
mod tests {

    /// keepalived forks its checker child before its VRRP child (their
    /// "Starting … child process" lines and pids come in that order).
    #[test]
    fn children_start_in_keepalived_order() {
        let opts = kaconf::Options {
            config_id: "x".into(),
            all_config: false,
            run_time: true,
        };
        let conf = "vrrp_instance V {\n interface lo\n virtual_router_id 1\n priority 100\n \
                    virtual_ipaddress {\n  192.0.2.1\n }\n}\n\
                    virtual_server 192.0.2.2 80 {\n real_server 192.0.2.3 80 {\n }\n}\n";
        let config = kaconf::parse_str(conf, &opts).config;
        assert_eq!(
            super::wanted_children(&config, false, false, false),
            [super::Subsystem::Check, super::Subsystem::Vrrp]
        );
        assert_eq!(
            super::wanted_children(&config, true, false, false),
            [super::Subsystem::Vrrp]
        );
    }

    #[test]
    fn kernel_line_as_keepalived() {
        assert_eq!(
            kernel_line("Linux", "6.18.44-fc-v669", "#1 SMP PREEMPT_DYNAMIC @0").as_deref(),
            Some(
                "Running on Linux 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0 (built for Linux 6.1.0)"
            )
        );
        // Debian's bookworm kernels call themselves 6.1.0-N
        assert_eq!(
            kernel_line("Linux", "6.1.0-56-amd64", "#1 SMP Debian 6.1.192-2").as_deref(),
            Some("Running on Linux 6.1.0-56-amd64 #1 SMP Debian 6.1.192-2 (built for Linux 6.1.0)")
        );
        assert_eq!(
            kernel_line("Linux", "5.10.0-30-amd64", "#1 SMP").as_deref(),
            Some(
                "WARNING - keepalived was built for newer Linux 6.1.0, running on Linux 5.10.0-30-amd64 #1 SMP"
            )
        );
        // the patch level saturates at 255, as linux/version.h's
        assert!(
            kernel_line("Linux", "6.0.300", "v")
                .unwrap()
                .starts_with("WARNING")
        );
        for odd in ["6", "6.1", "6.1.", "6.1.x", "x.1.2", "0.1.2", "6-1-2", ""] {
            assert_eq!(kernel_line("Linux", odd, "v"), None, "{odd}");
        }
    }

    use super::*;

    #[test]
    fn pid_file_names_follow_keepalived() {
        let mut root = kaconf::model::RootOpts::default();
        let p = PidFiles::new(&root, None, None, None);
        assert_eq!(p.parent, PathBuf::from("/run/keepalived.pid"));
        assert_eq!(p.vrrp, PathBuf::from("/run/vrrp.pid"));
        assert_eq!(p.check, PathBuf::from("/run/checkers.pid"));
        root.instance = Some("lb1".into());
        let p = PidFiles::new(&root, None, Some("/tmp/v.pid"), None);
        assert_eq!(
            p.parent,
            PathBuf::from("/run/keepalived/keepalived_lb1.pid")
        );
        assert_eq!(p.vrrp, PathBuf::from("/tmp/v.pid"));
        assert_eq!(p.check, PathBuf::from("/run/keepalived/checkers_lb1.pid"));
    }

    #[test]
    fn second_pid_file_holder_is_refused() {
        let path = std::env::temp_dir().join(format!("kars-pid-{}", std::process::id()));
        let first = PidFile::create(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        assert_eq!(
            PidFile::create(&path).err().as_deref(),
            Some("daemon is already running")
        );
        drop(first);
        assert!(!path.exists());
    }

    #[test]
    fn respawn_back_off_is_capped() {
        assert_eq!(restart_delay(0), Duration::from_secs(1));
        assert_eq!(restart_delay(3), Duration::from_secs(8));
        assert_eq!(restart_delay(20), Duration::from_secs(60));
    }
}
