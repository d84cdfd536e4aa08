//! Running operator scripts the way keepalived runs them.
//!
//! Used for MISC_CHECK, notify_up/down, quorum_up/down, and (from the daemon's
//! VRRP role) vrrp_script, notify_* and FIFO readers. The argv arrives already
//! split by the config parser (keepalived's quoting and escapes).
//!
//! What operators rely on, and why each step is here:
//! - the program is resolved once, when the script is configured: a bare name
//!   goes through `PATH`, and a file that is neither ELF nor `#!` is run by
//!   `/bin/sh -c` with every argument single-quoted, as keepalived falls back to
//!   `system()` for such files;
//! - the child gets its own process group, so a timeout can kill everything
//!   the script started (`sleep 30 &` included), and SIGTERM if we die, so an
//!   orphaned script never outlives the daemon;
//! - uid/gid come from the script's user; supplementary groups are dropped;
//! - stdio is /dev/null and `IFS`, `LD_PRELOAD`, `LD_LIBRARY_PATH` are removed;
//! - on timeout the group gets SIGTERM, and SIGKILL 2 s later if anything is
//!   left: keepalived's ladder, so scripts that clean up on TERM still can;
//! - the direct child is always waited for, so no zombie is ever left behind.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use tokio::process::{Child, Command};

/// How long a script has between SIGTERM and SIGKILL after its timeout.
pub const TERM_GRACE: Duration = Duration::from_secs(2);

/// A script ready to run: resolved program, arguments and credentials.
/// One pointer wide: every real server holds two of them (notify up and
/// down), mostly unset, and a MISC_CHECK one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script(Box<ScriptInner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct ScriptInner {
    argv: Vec<String>,
    program: PathBuf,
    uid: u32,
    gid: u32,
    via_shell: bool,
}

/// How a script run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exited on its own with this status.
    Status(i32),
    /// Killed by a signal we did not send.
    Signal(i32),
    /// Ran past its timeout and was killed by us.
    TimedOut,
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Status(0)
    }
}

/// Why a script could not be configured.
#[derive(Debug)]
pub enum ScriptError {
    Empty,
    NotFound(String),
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptError::Empty => f.write_str("empty script command"),
            ScriptError::NotFound(p) => write!(f, "script '{p}' not found in PATH"),
        }
    }
}

impl std::error::Error for ScriptError {}

impl Script {
    /// Resolves `argv[0]` now (as keepalived does at config load) and runs as
    /// the daemon's own uid/gid until [`Script::as_user`] says otherwise.
    pub fn new(argv: Vec<String>) -> Result<Script, ScriptError> {
        let first = argv.first().ok_or(ScriptError::Empty)?;
        let program = resolve(first).ok_or_else(|| ScriptError::NotFound(first.clone()))?;
        let via_shell = !is_exec_format(&program);
        Ok(Script(Box::new(ScriptInner {
            argv,
            program,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            via_shell,
        })))
    }

    pub fn as_user(mut self, uid: u32, gid: u32) -> Script {
        self.0.uid = uid;
        self.0.gid = gid;
        self
    }

    pub fn argv(&self) -> &[String] {
        &self.0.argv
    }

    /// The user and group it runs as.
    pub fn uid_gid(&self) -> (u32, u32) {
        (self.0.uid, self.0.gid)
    }

    pub fn program(&self) -> &Path {
        &self.0.program
    }

    /// The command line as keepalived shows it for shell-run scripts: every
    /// word single-quoted, except a leading redirection (`</path`), which
    /// keepalived leaves bare so `test -f`-style one-liners still work.
    pub fn shell_line(&self, extra: &[&str]) -> String {
        let mut out = String::new();
        let words = self
            .0
            .argv
            .iter()
            .map(String::as_str)
            .chain(extra.iter().copied());
        for (i, w) in words.enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let bare = i == 0 && (w.starts_with('<') || w.starts_with('>'));
            if bare {
                out.push_str(w);
            } else {
                out.push('\'');
                out.push_str(w);
                out.push('\'');
            }
        }
        out
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut cmd = if self.0.via_shell {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(self.shell_line(extra));
            c
        } else {
            let mut c = Command::new(&self.0.program);
            c.arg0(OsStr::new(&self.0.argv[0]));
            c.args(&self.0.argv[1..]).args(extra);
            c
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env_remove("IFS")
            .env_remove("LD_PRELOAD")
            .env_remove("LD_LIBRARY_PATH")
            // setting the uid also makes std drop supplementary groups
            .uid(self.0.uid)
            .gid(self.0.gid)
            .process_group(0)
            .kill_on_drop(false);
        pdeathsig::arm(&mut cmd);
        cmd
    }

    /// Starts the script; the caller owns waiting for it.
    pub fn spawn(&self, extra: &[&str]) -> io::Result<Child> {
        self.command(extra).spawn()
    }

    /// Runs to completion, enforcing `timeout` with keepalived's TERM-then-KILL
    /// ladder on the whole process group.
    ///
    /// If the future is dropped before the script ends (its checker was
    /// stopped), the group gets SIGTERM at once and SIGKILL after
    /// [`TERM_GRACE`]; tokio reaps the child in the background.
    pub async fn run(&self, extra: &[&str], timeout: Option<Duration>) -> io::Result<Exit> {
        let mut child = self.spawn(extra)?;
        let mut guard = GroupGuard(child.id().map(|p| Pid::from_raw(p as i32)));
        let exit = wait_with_timeout(&mut child, timeout).await;
        guard.0 = None;
        exit
    }

    /// Fire and forget (notify scripts: their status is ignored). The child is
    /// reaped by a background task; needs a tokio runtime.
    pub fn notify(&self, extra: &[&str], timeout: Option<Duration>) -> io::Result<()> {
        let mut child = self.spawn(extra)?;
        tokio::spawn(async move {
            let _ = wait_with_timeout(&mut child, timeout).await;
        });
        Ok(())
    }
}

/// Ends the process group of a run whose future was dropped.
struct GroupGuard(Option<Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let Some(pgid) = self.0 else { return };
        let _ = killpg(pgid, Signal::SIGTERM);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                tokio::time::sleep(TERM_GRACE).await;
                let _ = killpg(pgid, Signal::SIGKILL);
            });
        }
    }
}

/// Waits for a child started by [`Script::spawn`] (its own process group).
pub async fn wait_with_timeout(child: &mut Child, timeout: Option<Duration>) -> io::Result<Exit> {
    let Some(limit) = timeout else {
        return child.wait().await.map(classify);
    };
    if let Ok(status) = tokio::time::timeout(limit, child.wait()).await {
        return status.map(classify);
    }
    let Some(pgid) = child.id().map(|p| Pid::from_raw(p as i32)) else {
        // already reaped between the timeout and now
        return child.wait().await.map(classify);
    };
    let _ = killpg(pgid, Signal::SIGTERM);
    let status = match tokio::time::timeout(TERM_GRACE, child.wait()).await {
        Ok(s) => s?,
        Err(_) => {
            let _ = killpg(pgid, Signal::SIGKILL);
            child.wait().await?
        }
    };
    // The leader may have gone on TERM while its children ignore it.
    let _ = killpg(pgid, Signal::SIGKILL);
    Ok(match classify(status) {
        Exit::Signal(s) if s == libc::SIGTERM || s == libc::SIGKILL => Exit::TimedOut,
        // it finished by itself inside the grace period
        other => other,
    })
}

fn classify(status: ExitStatus) -> Exit {
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Status(code),
        (None, Some(sig)) => Exit::Signal(sig),
        (None, None) => Exit::Status(-1),
    }
}

fn resolve(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.exists().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// ELF or `#!`: what execve can run directly. Anything else goes through sh.
fn is_exec_format(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    head[..n].starts_with(b"\x7fELF") || head[..n].starts_with(b"#!")
}

#[allow(unsafe_code)]
mod pdeathsig {
    //! The one unsafe block in this crate. `pre_exec` is unsafe because the
    //! closure runs between fork and exec, where only async-signal-safe calls
    //! are allowed; prctl(PR_SET_PDEATHSIG) is a plain syscall and allocates
    //! nothing. Without it a script outlives a crashed daemon.
    use tokio::process::Command;

    pub fn arm(cmd: &mut Command) {
        // SAFETY: see the module comment; the closure only issues prctl.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                    .map_err(std::io::Error::from)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn sh(body: &str) -> Script {
        Script::new(vec!["/bin/sh".into(), "-c".into(), body.into()]).unwrap()
    }

    #[tokio::test]
    async fn exit_status_and_signal_come_through() {
        assert_eq!(sh("exit 3").run(&[], None).await.unwrap(), Exit::Status(3));
        assert_eq!(sh("exit 0").run(&[], None).await.unwrap(), Exit::Status(0));
        assert_eq!(
            sh("kill -USR1 $$").run(&[], None).await.unwrap(),
            Exit::Signal(libc::SIGUSR1)
        );
    }

    #[tokio::test]
    async fn bare_name_resolves_through_path() {
        let s = Script::new(vec!["true".into()]).unwrap();
        assert!(s.program().is_absolute());
        assert!(s.run(&[], None).await.unwrap().success());
        assert!(matches!(
            Script::new(vec!["no-such-program-kars".into()]),
            Err(ScriptError::NotFound(_))
        ));
        assert!(matches!(Script::new(vec![]), Err(ScriptError::Empty)));
    }

    #[tokio::test]
    async fn extra_args_are_appended() {
        let s = sh(r#"test "$0 $1 $2" = "INSTANCE VI_1 MASTER""#);
        assert!(
            s.run(&["INSTANCE", "VI_1", "MASTER"], None)
                .await
                .unwrap()
                .success()
        );
    }

    #[tokio::test]
    async fn text_file_without_shebang_runs_through_sh_with_quoted_args() {
        let dir = std::env::temp_dir().join(format!("kars-script-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("noshebang");
        std::fs::write(&file, "test \"$1\" = 'a b'\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        let s = Script::new(vec![file.to_str().unwrap().into(), "a b".into()]).unwrap();
        assert!(s.0.via_shell);
        assert_eq!(s.shell_line(&[]), format!("'{}' 'a b'", file.display()));
        // sh execs the file, gets ENOEXEC and reads it as a script with $1 = "a b"
        assert!(s.run(&[], None).await.unwrap().success());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn redirection_first_word_stays_bare() {
        let s = Script(Box::new(ScriptInner {
            argv: vec!["</dev/tcp/127.0.0.1/80".into()],
            program: "/bin/sh".into(),
            uid: 0,
            gid: 0,
            via_shell: true,
        }));
        assert_eq!(s.shell_line(&["x"]), "</dev/tcp/127.0.0.1/80 'x'");
    }

    fn group_alive(pgid: i32) -> bool {
        killpg(Pid::from_raw(pgid), None).is_ok()
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let s = sh("sleep 30 & sleep 30");
        let mut child = s.spawn(&[]).unwrap();
        let pgid = child.id().unwrap() as i32;
        let t0 = Instant::now();
        let exit = wait_with_timeout(&mut child, Some(Duration::from_millis(200)))
            .await
            .unwrap();
        assert_eq!(exit, Exit::TimedOut);
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "TERM should have been enough"
        );
        // the backgrounded sleep is an orphan now; init reaps it once killed
        let deadline = Instant::now() + Duration::from_secs(3);
        while group_alive(pgid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !group_alive(pgid),
            "process group {pgid} survived the timeout"
        );
    }

    #[tokio::test]
    async fn term_ignoring_script_gets_killed_after_grace() {
        let s = sh("trap '' TERM; sleep 30 & wait; sleep 30");
        let mut child = s.spawn(&[]).unwrap();
        let pgid = child.id().unwrap() as i32;
        let t0 = Instant::now();
        let exit = wait_with_timeout(&mut child, Some(Duration::from_millis(100)))
            .await
            .unwrap();
        assert_eq!(exit, Exit::TimedOut);
        assert!(t0.elapsed() >= TERM_GRACE);
        let deadline = Instant::now() + Duration::from_secs(3);
        while group_alive(pgid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!group_alive(pgid));
    }

    #[tokio::test]
    async fn runs_as_the_script_user() {
        if !nix::unistd::getuid().is_root() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: this test needs root"
            );
            eprintln!("skipped: needs root to switch user");
            return;
        }
        let s =
            sh(r#"test "$(id -u):$(id -g):$(id -G)" = "65534:65534:65534""#).as_user(65534, 65534);
        assert_eq!(s.run(&[], None).await.unwrap(), Exit::Status(0));
    }

    /// Counts zombie children of this process.
    fn zombies() -> usize {
        let me = std::process::id().to_string();
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok())
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|stat| {
                // pid (comm) state ppid ...; comm may contain spaces
                let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
                    return false;
                };
                let mut f = rest.split(' ');
                f.next() == Some("Z") && f.next() == Some(me.as_str())
            })
            .count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ten_thousand_runs_leave_no_zombies() {
        let ok = Script::new(vec!["/bin/true".into()]).unwrap();
        let slow = sh("sleep 5 & sleep 5");
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..10_000u32 {
            if tasks.len() >= 32 {
                tasks.join_next().await.unwrap().unwrap();
            }
            let s = if i % 500 == 0 {
                slow.clone()
            } else {
                ok.clone()
            };
            tasks.spawn(async move {
                let exit = s.run(&[], Some(Duration::from_millis(50))).await.unwrap();
                assert!(matches!(exit, Exit::Status(0) | Exit::TimedOut), "{exit:?}");
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        assert_eq!(zombies(), 0);
    }
}
