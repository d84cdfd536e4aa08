//! Shared by the test targets that need a kernel with IPVS (tier 3).
//!
//! Such a test is an ordinary `#[test]`. On the host it boots the VM
//! (`tests/vm/run exec`) and runs its own test binary there, filtered to
//! itself; inside the VM (`KAVM_VM=1`) it does the real work. One boot per
//! test target keeps the tier at a few seconds of boot time in total.
//!
//! When the VM cannot run (not root, no qemu, no cached kernel) the test
//! fails if `CI=true` and otherwise prints why it did not run.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub fn in_vm() -> bool {
    std::env::var("KAVM_VM").as_deref() == Ok("1")
}

/// Why the VM can't run here, if it can't.
fn unavailable(script: &std::path::Path) -> Option<String> {
    if !nix::unistd::getuid().is_root() {
        return Some("needs root".into());
    }
    if !script.exists() {
        return Some(format!("{} missing", script.display()));
    }
    let cache = std::env::var_os("VM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| script.parent().unwrap().join("cache"));
    if !cache.join("kernel.ok").exists() {
        return Some(format!(
            "no cached kernel in {} (run tests/vm/run setup)",
            cache.display()
        ));
    }
    if Command::new("sh")
        .args(["-c", "command -v qemu-system-x86_64"])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        return Some("qemu-system-x86_64 not installed (run tests/vm/run setup)".into());
    }
    None
}

/// On the host: runs `test_name` of this test binary inside the VM and
/// asserts it passed. Returns false when it ran inside the VM already (the
/// caller then does the work), true when the host part is done.
pub fn run_in_vm(root: &str, test_name: &str, timeout_secs: u32) -> bool {
    if in_vm() {
        return false;
    }
    let script = PathBuf::from(root).join("tests/vm/run");
    if let Some(why) = unavailable(&script) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and the VM tier cannot run: {why}"
        );
        eprintln!("SKIPPED {test_name}: the VM tier cannot run here: {why}");
        return true;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let status = Command::new(&script)
        .args(["exec", "--timeout", &timeout_secs.to_string(), "--"])
        .arg(exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .status()
        .expect("running tests/vm/run");
    assert!(
        status.success(),
        "{test_name} failed inside the VM ({status})"
    );
    true
}

/// `sh -c` inside the VM, returning stdout; panics with stderr on failure.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().expect("sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Lines sorted, so tables compare regardless of the kernel's hash order.
pub fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// Waits until `ipvsadm -Sn` has not changed for `quiet` (three times that
/// for a table that stays empty), at most `limit`; returns the last table.
pub fn settled(quiet: std::time::Duration, limit: std::time::Duration) -> String {
    use std::time::{Duration, Instant};
    let start = Instant::now();
    let mut last = sh("ipvsadm -Sn");
    let mut since = Instant::now();
    while start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(100));
        let now = sh("ipvsadm -Sn");
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= if last.is_empty() { quiet * 3 } else { quiet } {
            break;
        }
    }
    last
}

/// Starts a keepalived-compatible daemon as `-n -l -C -G -f CONF` with its
/// pid files and log (stderr) in `dir`.
pub fn start_checker_daemon(
    bin: &str,
    conf: &std::path::Path,
    dir: &std::path::Path,
) -> std::process::Child {
    use std::process::Stdio;
    let name = std::path::Path::new(bin)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Command::new(bin)
        .args(["-n", "-l", "-C", "-G", "-f"])
        .arg(conf)
        .arg("-p")
        .arg(dir.join("parent.pid"))
        .arg("-c")
        .arg(dir.join("check.pid"))
        .arg("-r")
        .arg(dir.join("vrrp.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| panic!("{bin}: {e}"))
}

/// SIGTERM, then waits up to 15 s; panics (after SIGKILL) if it hangs.
pub fn stop_daemon(mut child: std::process::Child, who: &str) {
    use std::time::{Duration, Instant};
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{who} did not stop within 15 s of SIGTERM");
}
