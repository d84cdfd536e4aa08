//! Network-namespace fixtures for the checker tests: a namespace per test
//! (prefix `kc-`), removed on drop; code runs inside it on a dedicated
//! thread with its own current-thread runtime (sockets belong to the netns
//! of the thread that creates them).

#![allow(dead_code)]

pub mod servers;

/// One virtual server `[10.0.0.1]:tcp:80` (rr, quorum 1) with `rss`.
pub fn one_vs(rss: Vec<checkers::RsCfg>) -> checkers::LvsCfg {
    use ipvs::model::Scheduler;
    use ipvs::{Service, ServiceKey};
    checkers::LvsCfg {
        virtual_servers: vec![checkers::VsCfg {
            name: "[10.0.0.1]:tcp:80".into(),
            services: vec![(
                ServiceKey::tcp("10.0.0.1:80".parse().unwrap()),
                Service::new(Scheduler::Rr),
            )],
            quorum: 1,
            hysteresis: 0,
            sorry_server: None,
            omega: false,
            smtp_alert: false,
            ha_suspend: false,
            addr: Some("10.0.0.1".parse().unwrap()),
            quorum_up: None,
            quorum_down: None,
            real_servers: rss,
        }],
        ..checkers::LvsCfg::default()
    }
}

use std::future::Future;
use std::process::Command;

pub struct Netns {
    pub name: String,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Creates `kc-<tag>-<pid>` with `lo` up, or explains why not. With
/// CI=true an impossible namespace is a failure, never a skip.
pub fn netns(tag: &str) -> Option<Netns> {
    netns_prefixed("kc", tag)
}

/// As [`netns`], named `<prefix>-<tag>-<pid>`.
pub fn netns_prefixed(prefix: &str, tag: &str) -> Option<Netns> {
    let name = format!("{prefix}-{tag}-{}", std::process::id());
    let ok = nix::unistd::getuid().is_root()
        && ip(&["netns", "add", &name])
        && ip(&["-n", &name, "link", "set", "lo", "up"]);
    if !ok {
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: this test needs root and network namespaces"
        );
        eprintln!("skipped: needs root and network namespaces");
        return None;
    }
    Some(Netns { name })
}

impl Netns {
    /// Runs `ip -n NS ARGS`.
    pub fn ip(&self, args: &[&str]) {
        let mut a = vec!["-n", self.name.as_str()];
        a.extend_from_slice(args);
        assert!(ip(&a), "ip {a:?} failed");
    }

    /// A veth with `addr` on our side whose peer sits in a second, empty
    /// namespace with nothing configured: packets to `dead` get no answer
    /// (no ARP reply), so connects and pings time out.
    pub fn add_black_hole(&self, local: &str, peer_ns: &Netns) {
        assert!(ip(&[
            "link",
            "add",
            "kc-bh0",
            "netns",
            &self.name,
            "type",
            "veth",
            "peer",
            "kc-bh1",
            "netns",
            &peer_ns.name,
        ]));
        self.ip(&["addr", "add", local, "dev", "kc-bh0"]);
        self.ip(&["link", "set", "kc-bh0", "up"]);
        peer_ns.ip(&["link", "set", "kc-bh1", "up"]);
    }

    /// Runs `f` inside the namespace on a fresh thread and runtime.
    pub fn run<F, Fut, R>(&self, f: F) -> R
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = R>,
        R: Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).expect("open netns");
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(f())
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }

    /// `ip netns exec NS CMD...` and its stdout.
    pub fn exec(&self, cmd: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .output()
            .expect("ip netns exec")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
