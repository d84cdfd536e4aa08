//! Shared helpers for tests that build network namespaces: a bridge
//! ("switch") namespace with one veth per router namespace, daemons run
//! inside them, packet captures on the bridge. Everything is named
//! `kv-<tag>-...` and removed on drop, also when a test fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this machine can run namespace tests; with CI=true a missing
/// capability is a failure, otherwise the test is skipped with a reason.
pub fn require() -> bool {
    let why = if !nix::unistd::geteuid().is_root() {
        Some("needs root")
    } else if !std::path::Path::new("/usr/sbin/keepalived").exists() {
        Some("needs Debian's keepalived at /usr/sbin/keepalived")
    } else if Command::new("tcpdump").arg("--version").output().is_err() {
        Some("needs tcpdump")
    } else {
        None
    };
    match why {
        None => true,
        Some(w) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("netns test cannot run: {w} (CI=true: failing, not skipping)")
        }
        Some(w) => {
            eprintln!("skipping netns test: {w}");
            false
        }
    }
}

pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sh_ok(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// The namespace prefix: `kv`, or `$KV_NETNS_PREFIX` so that several
/// checkouts can run these tests on one machine at the same time.
pub fn prefix() -> String {
    std::env::var("KV_NETNS_PREFIX").unwrap_or_else(|_| "kv".to_owned())
}

/// Routers on one bridge. Router `i` lives in namespace `kv-<tag>-<i>` with
/// interface `kv-e0`, addresses 10.<net>.0.<i+1>/24 and fd<net>::<i+1>/64.
pub struct Lab {
    pub prefix: String,
    pub tag: String,
    pub net: u8,
    pub routers: usize,
    pub dir: PathBuf,
}

impl Lab {
    pub fn new(tag: &str, net: u8, routers: usize) -> Lab {
        let prefix = prefix();
        let lab = Lab {
            dir: std::env::temp_dir().join(format!("{prefix}-{tag}-{}", std::process::id())),
            prefix,
            tag: tag.to_owned(),
            net,
            routers,
        };
        lab.cleanup();
        std::fs::create_dir_all(&lab.dir).unwrap();
        let sw = lab.switch();
        sh(&["ip", "netns", "add", &sw]);
        sh(&[
            "ip",
            "-n",
            &sw,
            "link",
            "add",
            "kv-br",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        sh(&["ip", "-n", &sw, "link", "set", "kv-br", "up"]);
        for i in 0..routers {
            let ns = lab.ns(i);
            sh(&["ip", "netns", "add", &ns]);
            // No DAD: addresses (link-local included) are usable at once.
            sh(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.default.accept_dad=0",
                "net.ipv6.conf.all.accept_dad=0",
            ]);
            let port = format!("kv-p{i}");
            sh(&[
                "ip", "link", "add", "kv-e0", "netns", &ns, "type", "veth", "peer", &port, "netns",
                &sw,
            ]);
            sh(&[
                "ip", "-n", &sw, "link", "set", &port, "master", "kv-br", "up",
            ]);
            sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            sh(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &lab.ip4(i, "/24"),
                "dev",
                "kv-e0",
            ]);
            sh(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &lab.ip6(i, "/64"),
                "dev",
                "kv-e0",
                "nodad",
            ]);
            sh(&["ip", "-n", &ns, "link", "set", "kv-e0", "up"]);
        }
        // Wait for carrier on every router.
        for i in 0..routers {
            let ns = lab.ns(i);
            assert!(wait_until(Duration::from_secs(5), || {
                sh(&["ip", "-n", &ns, "link", "show", "kv-e0"]).contains("LOWER_UP")
            }));
        }
        lab
    }

    pub fn switch(&self) -> String {
        format!("{}-{}-s", self.prefix, self.tag)
    }

    pub fn ns(&self, i: usize) -> String {
        format!("{}-{}-{i}", self.prefix, self.tag)
    }

    pub fn ip4(&self, i: usize, suffix: &str) -> String {
        format!("10.{}.0.{}{suffix}", self.net, i + 1)
    }

    pub fn ip6(&self, i: usize, suffix: &str) -> String {
        format!("fd{:02x}::{}{suffix}", self.net, i + 1)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Whether router `i` has `addr` configured.
    pub fn has_addr(&self, i: usize, addr: &str) -> bool {
        let out = sh(&["ip", "-n", &self.ns(i), "addr", "show"]);
        out.split_whitespace()
            .any(|w| w.split('/').next() == Some(addr))
    }

    /// Routers holding `addr`.
    pub fn holders(&self, addr: &str) -> Vec<usize> {
        (0..self.routers)
            .filter(|i| self.has_addr(*i, addr))
            .collect()
    }

    /// Waits until exactly router `i` holds `addr`.
    pub fn wait_sole_holder(&self, i: usize, addr: &str, limit: Duration) -> bool {
        wait_until(limit, || self.holders(addr) == vec![i])
    }

    /// `nft` in router `i`: drop (or stop dropping) incoming VRRP.
    pub fn block_vrrp(&self, i: usize, on: bool) {
        let ns = self.ns(i);
        if on {
            sh(&["ip", "netns", "exec", &ns, "nft", "add table inet kvpart"]);
            sh(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "nft",
                "add chain inet kvpart in { type filter hook input priority 0 ; }",
            ]);
            sh(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "nft",
                "add rule inet kvpart in meta l4proto 112 drop",
            ]);
        } else {
            sh(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "nft",
                "delete table inet kvpart",
            ]);
        }
    }

    pub fn link(&self, i: usize, up: bool) {
        sh(&[
            "ip",
            "-n",
            &self.ns(i),
            "link",
            "set",
            "kv-e0",
            if up { "up" } else { "down" },
        ]);
    }

    fn cleanup(&self) {
        for i in 0..self.routers {
            sh_ok(&["ip", "netns", "del", &self.ns(i)]);
        }
        sh_ok(&["ip", "netns", "del", &self.switch()]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.cleanup();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("logs kept in {}", self.dir.display());
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    Ours,
    Keepalived,
}

/// A daemon in a router namespace; SIGKILLed on drop if still running.
pub struct Daemon {
    pub which: Impl,
    child: Child,
    pub log: PathBuf,
    pub vrrp_pid: PathBuf,
    /// The daemon's own pid file (`-p`).
    pub pid: PathBuf,
    pub conf: PathBuf,
}

impl Daemon {
    pub fn start(lab: &Lab, i: usize, which: Impl, conf: &str) -> Daemon {
        Daemon::start_with_env(lab, i, which, conf, &[])
    }

    /// As `start`, with `$TMPDIR` (where the dump files go) set to `tmp`.
    #[allow(dead_code)]
    pub fn start_with_tmpdir(lab: &Lab, i: usize, which: Impl, conf: &str, tmp: &Path) -> Daemon {
        Daemon::start_with_env(lab, i, which, conf, &[("TMPDIR", tmp.as_os_str())])
    }

    /// As `start`, with these environment variables set.
    pub fn start_with_env(
        lab: &Lab,
        i: usize,
        which: Impl,
        conf: &str,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Daemon {
        let name = format!("r{i}-{}", if which == Impl::Ours { "ours" } else { "ka" });
        let conf_path = lab.file(&format!("{name}.conf"));
        std::fs::write(&conf_path, conf).unwrap();
        let log = lab.file(&format!("{name}.log"));
        let pid = lab.file(&format!("kv-{name}.pid"));
        let vrrp_pid = lab.file(&format!("kv-{name}-vrrp.pid"));
        let _ = std::fs::remove_file(&vrrp_pid);
        let ns = lab.ns(i);
        let mut cmd = Command::new("ip");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(["netns", "exec", &ns]);
        match which {
            Impl::Ours => {
                cmd.arg(env!("CARGO_BIN_EXE_keepalived"));
            }
            Impl::Keepalived => {
                cmd.args(["timeout", "300", "/usr/sbin/keepalived"]);
            }
        }
        cmd.args(["-n", "-l", "-D", "-P", "-f"])
            .arg(&conf_path)
            .arg("-p")
            .arg(&pid)
            .arg("-r")
            .arg(&vrrp_pid);
        let f = std::fs::File::create(&log).unwrap();
        cmd.stdout(f.try_clone().unwrap())
            .stderr(f)
            .stdin(Stdio::null());
        let child = cmd.spawn().expect("spawn daemon");
        let d = Daemon {
            which,
            child,
            log,
            vrrp_pid,
            pid,
            conf: conf_path,
        };
        assert!(
            wait_until(Duration::from_secs(5), || d.vrrp_child().is_some()),
            "VRRP process did not start: {}",
            d.log_text()
        );
        d
    }

    pub fn vrrp_child(&self) -> Option<i32> {
        std::fs::read_to_string(&self.vrrp_pid)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_has(&self, needle: &str) -> bool {
        self.log_text().contains(needle)
    }

    pub fn wait_log(&self, needle: &str, limit: Duration) -> bool {
        wait_until(limit, || self.log_has(needle))
    }

    /// Replaces the configuration file and sends SIGHUP (as `systemctl
    /// reload`).
    pub fn reload(&self, conf: &str) {
        std::fs::write(&self.conf, conf).unwrap();
        self.signal(nix::sys::signal::Signal::SIGHUP);
    }

    /// Waits until `needle` occurs at least `n` times.
    pub fn wait_log_count(&self, needle: &str, n: usize, limit: Duration) -> bool {
        wait_until(limit, || self.log_count(needle) >= n)
    }

    /// How often `needle` occurs in the log.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log_text().matches(needle).count()
    }

    /// Signals the whole daemon (the parent relays to its child).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        // `timeout` forwards TERM; ip netns exec exec()s, so the pid is the daemon's.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig);
    }

    /// Any signal by number (real-time ones too) to the daemon's parent
    /// process. Debian's keepalived runs under `timeout`, which would die of
    /// a signal it does not relay, so it gets the signal in its VRRP process
    /// (where keepalived's parent would relay it).
    #[allow(dead_code)]
    pub fn signal_raw(&self, sig: i32) {
        let pid = match self.which {
            Impl::Ours => self.child.id() as i32,
            Impl::Keepalived => match self.vrrp_child() {
                Some(p) => p,
                None => return,
            },
        };
        // SAFETY: kill(2) on a pid of ours; no memory is involved.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid, sig);
        }
    }

    /// Signals the VRRP process only (SIGSTOP for a hung master).
    pub fn signal_vrrp(&self, sig: nix::sys::signal::Signal) {
        if let Some(p) = self.vrrp_child() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig);
        }
    }

    /// SIGTERM and wait for exit.
    pub fn stop(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // keepalived runs under `timeout`, which does not pass SIGKILL
            // on: kill the daemon itself first, so that it can neither
            // respawn its VRRP child nor outlive the test.
            if let Some(p) = std::fs::read_to_string(&self.pid)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            self.signal_vrrp(nix::sys::signal::Signal::SIGCONT);
            self.signal_vrrp(nix::sys::signal::Signal::SIGKILL);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// tcpdump on the bridge: sees every router's packets.
pub struct Capture {
    child: Child,
    pub file: PathBuf,
}

impl Capture {
    pub fn start(lab: &Lab, name: &str) -> Capture {
        Capture::start_on(lab, name, "kv-br")
    }

    /// As `start`, on another bridge of the switch namespace.
    pub fn start_on(lab: &Lab, name: &str, bridge: &str) -> Capture {
        let file = lab.file(&format!("{name}.pcap"));
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.switch(),
                "tcpdump",
                "--immediate-mode",
                "-i",
                bridge,
                "-n",
                "-U",
                "-w",
            ])
            .arg(&file)
            .args(["ip proto 112 or ip proto 51 or ip6 proto 112 or arp or icmp6"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump");
        let c = Capture { child, file };
        // tcpdump needs a moment before it sees packets.
        wait_until(Duration::from_secs(3), || {
            std::fs::metadata(&c.file).is_ok_and(|m| m.len() > 0)
        });
        std::thread::sleep(Duration::from_millis(200));
        c
    }

    /// Stops the capture and returns `tcpdump -r -n -tt -e` lines.
    pub fn finish(mut self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(200));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = self.child.wait();
        let out = Command::new("tcpdump")
            .args(["-r"])
            .arg(&self.file)
            .args(["-n", "-tt", "-e"])
            .output()
            .expect("tcpdump -r");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Gratuitous ARPs for `vip` in a capture (`-e` output lines).
pub fn garps(lines: &[String], vip: &str) -> usize {
    let needle = format!("Request who-has {vip} (ff:ff:ff:ff:ff:ff) tell {vip}");
    lines.iter().filter(|l| l.contains(&needle)).count()
}

/// Unsolicited neighbour advertisements for `vip`.
pub fn unsolicited_nas(lines: &[String], vip: &str) -> usize {
    let needle = format!("neighbor advertisement, tgt is {vip},");
    lines.iter().filter(|l| l.contains(&needle)).count()
}
