//! Tier 3, differential: `ha_suspend` in our `-C` daemon against Debian's
//! keepalived, in the same VM boot (keepalived's checker process needs
//! IPVS). A virtual server with ha_suspend whose address (10.0.0.1) is
//! not on the host at start; the test adds it to `lo`, takes its real
//! server (a listener this test runs) down and up, then removes it again.
//! Per phase: the connections the real server saw, the IPVS table, and
//! the ha_suspend log lines (`-D` for "Netlink reflector reports ...").
//! Both daemons must agree on all three.

#[path = "vm/harness.rs"]
mod harness;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use harness::{sh, sorted_lines};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const OURS: &str = env!("CARGO_BIN_EXE_keepalived");
const THEIRS: &str = "/usr/sbin/keepalived";
const WORK: &str = "/tmp/kh-hasusp";

fn config(port: u16) -> String {
    format!(
        "virtual_server 10.0.0.1 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    ha_suspend\n    real_server 127.0.0.1 {port} {{\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 0\n        }}\n    }}\n}}\n"
    )
}

/// A real server on 127.0.0.1:port counting the connections it accepts;
/// `down()` closes the port.
struct RealServer {
    port: u16,
    accepts: Arc<AtomicUsize>,
    stop: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl RealServer {
    fn new(port: u16) -> RealServer {
        RealServer {
            port,
            accepts: Arc::new(AtomicUsize::new(0)),
            stop: None,
        }
    }
    fn up(&mut self) {
        let l = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (n, s) = (self.accepts.clone(), stop.clone());
        let t = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        n.fetch_add(1, Ordering::SeqCst);
                        drop(c);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        self.stop = Some((stop, t));
    }
    fn down(&mut self) {
        if let Some((s, t)) = self.stop.take() {
            s.store(true, Ordering::SeqCst);
            t.join().unwrap();
        }
    }
    fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }
}

/// What one phase looked like.
#[derive(Debug, PartialEq)]
struct Phase {
    name: &'static str,
    /// Did the real server see connections during the phase?
    connected: bool,
    table: Vec<String>,
}

fn ha_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        // "Sat Nov 21 08:56:01 2026: message"
        .filter_map(|l| l.split_once(": ").map(|(_, m)| m.to_owned()))
        .filter(|m| {
            m.contains("healthchecker for service")
                || m.starts_with("Netlink reflector reports IP")
                || m.contains(" service [")
                || m.starts_with("TCP ")
        })
        .collect()
}

/// How often the parent logged that its children had read the
/// configuration (keepalived's "Startup complete").
fn startups(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.ends_with(": Startup complete"))
        .count()
}

fn run(bin: &str, dir: &Path, port: u16) -> (Vec<Phase>, Vec<String>, usize) {
    sh("ipvsadm -C");
    let _ = sh("ip addr del 10.0.0.1/32 dev lo 2>/dev/null || true");
    let mut rs = RealServer::new(port);
    rs.up();
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, config(rs.port)).unwrap();
    let name = Path::new(bin).file_name().unwrap().to_string_lossy();
    let log = dir.join(format!("{name}.log"));
    let child = std::process::Command::new(bin)
        .args(["-n", "-l", "-D", "-C", "-G", "-f"])
        .arg(&conf)
        .arg("-p")
        .arg(dir.join("parent.pid"))
        .arg("-c")
        .arg(dir.join("check.pid"))
        .arg("-r")
        .arg(dir.join("vrrp.pid"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut phases = Vec::new();
    // each phase: act, then watch 4 s (delay_loop 1, connect_timeout 1)
    let mut phase = |name: &'static str, rs: &RealServer| {
        let before = rs.accepts();
        std::thread::sleep(Duration::from_secs(4));
        phases.push(Phase {
            name,
            connected: rs.accepts() > before,
            table: sorted_lines(&sh("ipvsadm -Sn")),
        });
    };
    phase("start, address absent", &rs);
    sh("ip addr add 10.0.0.1/32 dev lo");
    phase("address added", &rs);
    rs.down();
    phase("real server down", &rs);
    rs.up();
    phase("real server up", &rs);
    sh("ip addr del 10.0.0.1/32 dev lo");
    // a probe under way at the removal may still land: let it pass
    std::thread::sleep(Duration::from_millis(1500));
    phase("address removed", &rs);
    rs.down();
    phase("suspended, real server down", &rs);
    harness::stop_daemon(child, bin);
    rs.down();
    (phases, ha_lines(&log), startups(&log))
}

#[test]
fn ha_suspend_differential_against_keepalived() {
    if harness::run_in_vm(ROOT, "ha_suspend_differential_against_keepalived", 600) {
        return;
    }
    let work = PathBuf::from(WORK);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (theirs, their_log, their_startups) = run(THEIRS, &work, port);
    let (ours, our_log, our_startups) = run(OURS, &work, port);
    let _ = sh("ipvsadm -C");
    for (t, o) in theirs.iter().zip(&ours) {
        eprintln!("{}: keepalived {t:?}\n{}: ours {o:?}", t.name, o.name);
    }
    eprintln!("keepalived log:\n  {}", their_log.join("\n  "));
    eprintln!("our log:\n  {}", our_log.join("\n  "));
    // keepalived's behaviour is what the phases check first (a closed
    // port sees no connections either)
    let connected: Vec<bool> = theirs.iter().map(|p| p.connected).collect();
    assert_eq!(connected, [false, true, false, true, false, false]);
    assert_eq!(ours, theirs);
    assert_eq!(our_log, their_log);
    assert_eq!((our_startups, their_startups), (1, 1));
}
