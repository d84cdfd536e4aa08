//! Tier 3, differential: the checker process's SIGUSR1 dump,
//! `$TMPDIR/keepalived_check.data`, from our `-C` daemon and from Debian's
//! keepalived, in the same VM boot (keepalived's checker process needs
//! IPVS). The configuration has a virtual server group (a range, an
//! address and a fwmark), two virtual servers (TCP_CHECK and HTTP_GET on
//! listeners this test runs; MISC_CHECKs that succeed and fail), a sorry
//! server and a quorum. Both daemons get SIGUSR1 once their checkers have
//! settled; the files must be equal once the lines listed in [`MASKED`]
//! are taken out of both (what differs by nature, or what we do not
//! write). Then each parent gets SIGUSR1: its `keepalived_parent.data`
//! (global data) must be equal as written, and it must forward the signal
//! to its checker process. The log lines about the dumps must match too.

#[path = "vm/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const OURS: &str = env!("CARGO_BIN_EXE_keepalived");
const THEIRS: &str = "/usr/sbin/keepalived";
const WORK: &str = "/tmp/kc2-chkdata";

/// md5 of the HTTP body the test's server answers (`ok\n`).
const DIGEST: &str = "eff5bc1ef8ec9d03e640fc4370f5eacd";

fn config(tcp: u16, http: u16) -> String {
    format!(
        "global_defs {{
    router_id kc2-lb
    enable_script_security
    script_user root
}}
virtual_server_group kc2-G {{
    192.0.2.10-12 80
    192.0.2.20 80
    fwmark 7
}}
virtual_server group kc2-G {{
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    quorum 3
    hysteresis 1
    sorry_server 10.0.9.9 8080
    real_server 127.0.0.1 {tcp} {{
        weight 2
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
    real_server 127.0.0.1 {http} {{
        weight 3
        HTTP_GET {{
            url {{
                path /health
                digest {DIGEST}
            }}
            url {{
                path /other
                status_code 200-204
            }}
            connect_timeout 2
        }}
    }}
}}
virtual_server 192.0.2.30 8080 {{
    delay_loop 2
    lb_algo rr
    lb_kind DR
    protocol TCP
    quorum 1
    real_server 10.0.3.1 8080 {{
        MISC_CHECK {{
            misc_path /bin/true
            misc_timeout 3
        }}
    }}
    real_server 10.0.3.2 8080 {{
        inhibit_on_failure
        MISC_CHECK {{
            misc_path /bin/false
        }}
    }}
}}
"
    )
}

/// Lines taken out of both files before comparing, by prefix (after the
/// leading spaces), with why.
const MASKED: &[(&str, &str)] = &[
    // MISC_CHECK's last run: when each daemon happened to start the script
    ("Last ran = ", "time of the script's last run"),
];

fn masked(text: &str) -> String {
    // the masked lines must be there, in their format
    for (p, why) in MASKED {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(p))
            .unwrap_or_else(|| panic!("no {p:?} line ({why})"));
        let rest = &line.trim_start()[p.len()..];
        assert!(
            rest.contains('.') && rest.ends_with(')') && rest.contains(" ("),
            "{line:?}"
        );
    }
    text.lines()
        .filter(|l| !MASKED.iter().any(|(p, _)| l.trim_start().starts_with(p)))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A minimal HTTP/1.0 server: every request gets 200 and `ok\n`.
fn http_server(l: TcpListener) {
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 2048];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
            });
        }
    });
}

fn read_pid(path: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "no pid in {}", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for `path` to be written, and returns it.
fn written(bin: &str, path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(t) = std::fs::read_to_string(path)
            && t.ends_with('\n')
        {
            // the writer may still be writing (keepalived writes in place)
            std::thread::sleep(Duration::from_millis(300));
            let text = std::fs::read_to_string(path).unwrap();
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(path).unwrap().permissions(),
            );
            assert_eq!(mode & 0o777, 0o600, "{bin}: mode of {}", path.display());
            println!("--- {bin}: {}\n{text}---", path.display());
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{bin} wrote no {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn usr1(pid: i32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
}

/// What one daemon wrote: the checker process's file on its own SIGUSR1,
/// the parent's on the parent's, and the log lines about them (pids
/// masked).
struct Dumps {
    check: String,
    parent: String,
    lines: Vec<String>,
}

/// Runs `bin`, lets its checkers settle, sends SIGUSR1 to its checker
/// process, then to its parent, and returns the files they wrote.
fn run(bin: &str, conf: &Path, dir: &Path) -> Dumps {
    harness::sh("ipvsadm -C");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let data = tmp.join("keepalived_check.data");
    let parent_data = tmp.join("keepalived_parent.data");
    let name = Path::new(bin).file_name().unwrap().to_string_lossy();
    let log = dir.join(format!("{name}.log"));
    let child = std::process::Command::new(bin)
        .args(["-n", "-l", "-C", "-G", "-f"])
        .arg(conf)
        .arg("-p")
        .arg(dir.join("parent.pid"))
        .arg("-c")
        .arg(dir.join("check.pid"))
        .arg("-r")
        .arg(dir.join("vrrp.pid"))
        .env("TMPDIR", &tmp)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin}: {e}"));
    let pid = read_pid(&dir.join("check.pid"));
    // every checker has run (warmup <= delay_loop 2 s) and the failing
    // MISC_CHECK (retry 0) has taken its real server down; generous for TCG
    std::thread::sleep(Duration::from_secs(8));
    usr1(pid);
    let check = written(bin, &data);
    assert!(
        !parent_data.exists(),
        "{bin}: the checker's SIGUSR1 wrote the parent's file"
    );
    std::fs::remove_file(&data).unwrap();
    // the parent writes its own and forwards the signal to the checker
    usr1(child.id() as i32);
    let parent = written(bin, &parent_data);
    written(bin, &data);
    harness::stop_daemon(child, bin);
    let lines = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, m)| m))
        .filter(|m| m.starts_with("Printing ") || m.starts_with("Can't open dump"))
        .map(|m| {
            // "...process(1234) on signal"
            match (m.find('('), m.find(')')) {
                (Some(a), Some(b)) if a < b => format!("{}(PID{}", &m[..a], &m[b..]),
                _ => m.to_owned(),
            }
        })
        .collect();
    Dumps {
        check,
        parent,
        lines,
    }
}

#[test]
fn check_data_differential_against_keepalived() {
    if harness::run_in_vm(ROOT, "check_data_differential_against_keepalived", 600) {
        return;
    }
    let work = PathBuf::from(WORK);
    let _ = std::fs::remove_dir_all(&work);
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let (tcp_port, http_port) = (
        tcp.local_addr().unwrap().port(),
        http.local_addr().unwrap().port(),
    );
    std::thread::spawn(move || {
        for s in tcp.incoming() {
            drop(s);
        }
    });
    http_server(http);
    let conf_text = config(tcp_port, http_port);
    let mut files = Vec::new();
    for (who, bin) in [("theirs", THEIRS), ("ours", OURS)] {
        let dir = work.join(who);
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("keepalived.conf");
        std::fs::write(&conf, &conf_text).unwrap();
        files.push(run(bin, &conf, &dir));
    }
    let _ = harness::sh("ipvsadm -C");
    let (theirs, ours) = (&files[0].check, &files[1].check);
    println!("ports: tcp {tcp_port}, http {http_port}");
    // the parent's file: global data only, nothing to mask
    assert!(
        files[0]
            .parent
            .starts_with("------< Global definitions >------\n")
    );
    assert_eq!(files[1].parent, files[0].parent, "keepalived_parent.data");
    // two processes log at once: their order is a race, their lines not
    let sorted = |l: &[String]| {
        let mut l = l.to_vec();
        l.sort();
        l
    };
    println!("log lines: {:?}", files[0].lines);
    assert_eq!(
        sorted(&files[1].lines),
        sorted(&files[0].lines),
        "log lines"
    );
    // the scenario must exercise what it claims
    for want in [
        "Virtual Server Group = kc2-G",
        "Keepalive method = HTTP_GET",
        "Keepalive method = MISC_CHECK",
        "sorry server = [10.0.9.9]:tcp:8080",
        "quorum = 3, hysteresis = 1",
    ] {
        assert!(theirs.contains(want), "keepalived's file lacks {want:?}");
    }
    let (t, o) = (masked(theirs), masked(ours));
    if t != o {
        let tl: Vec<&str> = t.lines().collect();
        let ol: Vec<&str> = o.lines().collect();
        let first = tl
            .iter()
            .zip(&ol)
            .position(|(a, b)| a != b)
            .unwrap_or(tl.len().min(ol.len()));
        panic!(
            "files differ from line {} (after masking):\n keepalived: {:?}\n ours:       {:?}",
            first + 1,
            tl.get(first),
            ol.get(first)
        );
    }
}
