//! What the tests comparing us with Debian's keepalived share: whether they
//! can run here, and their network namespace's cleanup.

use std::process::Command;

/// True if `cond` holds. Otherwise the test `test` skips with `why`, or
/// fails under CI=true, where skipping would hide that nothing ran.
pub fn require(test: &str, cond: bool, why: &str) -> bool {
    if cond {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} cannot run: {why} (CI=true: failing, not skipping)");
    }
    eprintln!("SKIPPED {test}: {why}");
    false
}

/// `require` for the tests that run Debian's keepalived in a namespace
/// of their own: root, and /usr/sbin/keepalived.
#[allow(dead_code)]
pub fn require_netns_oracle(test: &str) -> bool {
    require(
        test,
        nix::unistd::geteuid().is_root(),
        "needs root for a network namespace",
    ) && require(
        test,
        std::path::Path::new("/usr/sbin/keepalived").exists(),
        "Debian keepalived not installed (make test installs it)",
    )
}

/// `-p FILE -r FILE -c FILE` in `dir`, the files named `{prefix}{k}.pid`,
/// so that two daemons of one test never share a pid file.
#[allow(dead_code)]
pub fn pid_args(dir: &std::path::Path, prefix: &str) -> Vec<String> {
    ["p", "r", "c"]
        .iter()
        .flat_map(|k| {
            [
                format!("-{k}"),
                dir.join(format!("{prefix}{k}.pid"))
                    .to_string_lossy()
                    .into_owned(),
            ]
        })
        .collect()
}

/// A network namespace by name, deleted when dropped (also on panic).
// samples_oracle sets up a namespace of its own (with a veth) and so
// leaves this unused in its build of the module.
#[allow(dead_code)]
pub struct Netns(pub String);

#[allow(dead_code)]
impl Netns {
    /// A new namespace `name` with a veth pair `a`–`b` and `lo`, all up.
    pub fn with_veth(name: String, a: &str, b: &str) -> Netns {
        let ns = Netns(name);
        let ip = |args: &[&str]| {
            assert!(
                Command::new("ip").args(args).status().unwrap().success(),
                "ip {args:?}"
            )
        };
        ip(&["netns", "add", &ns.0]);
        ip(&[
            "-n", &ns.0, "link", "add", a, "type", "veth", "peer", "name", b,
        ]);
        for l in [b, a, "lo"] {
            ip(&["-n", &ns.0, "link", "set", l, "up"]);
        }
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}
