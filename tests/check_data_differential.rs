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
//! In the first scenario, a reload then adds a real server, and the
//! checker files are compared again (`reloaded`, `previous
//! effective_weight`).

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
    // the masked lines keep their format: `SECS.USECS (DATE.USECS)`
    for (p, why) in MASKED {
        for line in text.lines().filter(|l| l.trim_start().starts_with(p)) {
            let rest = &line.trim_start()[p.len()..];
            assert!(
                rest.contains('.') && rest.ends_with(')') && rest.contains(" ("),
                "{line:?} ({why})"
            );
        }
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
    /// After a SIGHUP with the second configuration, if there was one.
    reloaded: Option<String>,
    lines: Vec<String>,
}

/// Runs `bin`, lets its checkers settle, sends SIGUSR1 to its checker
/// process, then to its parent, and returns the files they wrote.
fn run(bin: &str, conf: &Path, dir: &Path, reload: Option<&str>) -> Dumps {
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
    let reloaded = reload.map(|text| {
        std::fs::write(conf, text).unwrap();
        std::fs::remove_file(&data).unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .unwrap();
        // the new checker has run (delay_loop 2 s)
        std::thread::sleep(Duration::from_secs(8));
        usr1(pid);
        written(bin, &data)
    });
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
        reloaded,
        lines,
    }
}

/// Runs both daemons on `conf_text` (in `WORK/<scenario>/`) and compares
/// what they wrote; keepalived's check file must contain each of `wants`.
fn differential(scenario: &str, conf_text: &str, reload: Option<&str>, wants: &[&str]) {
    let work = PathBuf::from(WORK).join(scenario);
    let _ = std::fs::remove_dir_all(&work);
    let mut files = Vec::new();
    for (who, bin) in [("theirs", THEIRS), ("ours", OURS)] {
        let dir = work.join(who);
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("keepalived.conf");
        std::fs::write(&conf, conf_text).unwrap();
        files.push(run(bin, &conf, &dir, reload));
    }
    let _ = harness::sh("ipvsadm -C");
    let (theirs, ours) = (&files[0].check, &files[1].check);
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
    for want in wants {
        assert!(theirs.contains(want), "keepalived's file lacks {want:?}");
    }
    same(theirs, ours);
    if let (Some(t), Some(o)) = (&files[0].reloaded, &files[1].reloaded) {
        println!("after the reload:");
        same(t, o);
    }
}

fn same(theirs: &str, ours: &str) {
    let (t, o) = (masked(theirs), masked(ours));
    if t != o {
        let tl: Vec<&str> = t.lines().collect();
        let ol: Vec<&str> = o.lines().collect();
        let diffs: Vec<String> = tl
            .iter()
            .zip(&ol)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(20)
            .map(|(i, (a, b))| format!("line {}:\n keepalived: {a:?}\n ours:       {b:?}", i + 1))
            .collect();
        panic!(
            "files differ (after masking; {} lines vs {}):\n{}",
            tl.len(),
            ol.len(),
            diffs.join("\n")
        );
    }
}

/// Real servers on 127.0.0.1: a TCP port that accepts, an HTTP server
/// (`ok\n`), and a port nobody listens on (refused).
fn servers() -> (u16, u16, u16) {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let ports = (
        tcp.local_addr().unwrap().port(),
        http.local_addr().unwrap().port(),
        closed.local_addr().unwrap().port(),
    );
    drop(closed);
    std::thread::spawn(move || {
        for s in tcp.incoming() {
            drop(s);
        }
    });
    http_server(http);
    println!(
        "ports: tcp {}, http {}, closed {}",
        ports.0, ports.1, ports.2
    );
    ports
}

#[test]
fn check_data_differential_against_keepalived() {
    if harness::run_in_vm(ROOT, "check_data_differential_against_keepalived", 600) {
        return;
    }
    let (tcp, http, _) = servers();
    // the reload adds a real server to the second virtual server
    let before = config(tcp, http);
    let after = before.replacen(
        "    real_server 10.0.3.2 8080 {",
        "    real_server 10.0.3.3 8080 {\n        MISC_CHECK {\n            misc_path /bin/true\n        }\n    }\n    real_server 10.0.3.2 8080 {",
        1,
    );
    assert_ne!(after, before);
    differential(
        "basic",
        &before,
        Some(&after),
        &[
            "Virtual Server Group = kc2-G",
            "Keepalive method = HTTP_GET",
            "Keepalive method = MISC_CHECK",
            "sorry server = [10.0.9.9]:tcp:8080",
            "quorum = 3, hysteresis = 1",
        ],
    );
}

/// More of the format: global SMTP and LVS settings, scheduler flags,
/// persistence, a tunnel, scripts with their users, a suspended virtual
/// server (ha_suspend), every other checker kind, failing checkers.
fn rich_config(tcp: u16, http: u16, closed: u16) -> String {
    format!(
        "global_defs {{
    router_id kc2-rich
    notification_email {{
        ops@example.com
        noc@example.com
    }}
    notification_email_from lb@example.com
    smtp_server 127.0.0.1 {closed}
    smtp_connect_timeout 7
    smtp_alert_checker
    lvs_timeouts tcp 900 tcpfin 30 udp 60
    lvs_flush_onstop VS
    vrrp_garp_master_delay 3
    vrrp_version 3
    enable_script_security
    script_user root
}}
track_file kc2-tf {{
    file {WORK}/rich-tf
    weight 2
}}
virtual_server 192.0.2.40 443 {{
    delay_loop 2
    lb_algo sh
    sh-port
    lvs_method TUN type gue port 6080 csum
    persistence_timeout 600
    persistence_granularity 255.255.255.0
    protocol TCP
    omega
    retry 2
    delay_before_retry 2
    warmup 1
    quorum_up /bin/true
    quorum_down \"/bin/echo down\"
    virtualhost www.example.com
    sorry_server 10.0.9.10 443
    sorry_server_inhibit
    real_server 10.0.4.1 443 {{
        weight 4
        uthreshold 100
        lthreshold 10
        notify_up /bin/true
        notify_down \"/bin/echo rs down\"
        smtp_alert
        SMTP_CHECK {{
            connect_ip 127.0.0.1
            connect_port {closed}
            retry 0
            helo_name kc2.example
        }}
    }}
    real_server 10.0.4.2 443 {{
        DNS_CHECK {{
            connect_ip 127.0.0.1
            connect_port {closed}
            type A
            name example.com
            retry 0
            connect_timeout 2
        }}
        PING_CHECK {{
            connect_ip 127.0.0.1
        }}
    }}
    real_server 10.0.4.3 443 {{
        lvs_method DR
        UDP_CHECK {{
            connect_ip 127.0.0.1
            connect_port {closed}
            retry 0
            connect_timeout 2
            payload 0102
            require_reply 01XX
            min_reply_length 2
            max_reply_length 10
        }}
        FILE_CHECK {{
            track_file kc2-tf
        }}
    }}
    real_server 10.0.4.4 443 {{
        HTTP_GET {{
            url {{
                path /health
                virtualhost health.example.com
                status_code 200 301-302
                regex \"^OK\"
                regex_options caseless multiline
                regex_max_offset 10
                regex_stack 32768 65536
            }}
            url {{
                path /again
                regex \"^OK\"
                regex_options caseless multiline
                regex_min_offset 0
            }}
            virtualhost chk.example.com
            http_protocol 1.1
            connect_ip 127.0.0.1
            connect_port {http}
            bindto 127.0.0.1
            connect_timeout 3
            retry 1
            delay_before_retry 1
        }}
    }}
}}
virtual_server 192.0.2.50 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    ha_suspend
    ops
    alpha
    real_server 127.0.0.1 {tcp} {{
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
}}
"
    )
}

#[test]
fn check_data_rich_differential_against_keepalived() {
    if harness::run_in_vm(ROOT, "check_data_rich_differential_against_keepalived", 600) {
        return;
    }
    let (tcp, http, closed) = servers();
    std::fs::create_dir_all(WORK).unwrap();
    std::fs::write(format!("{WORK}/rich-tf"), "5\n").unwrap();
    differential(
        "rich",
        &rich_config(tcp, http, closed),
        None,
        &[
            "Keepalive method = SMTP_CHECK",
            "Keepalive method = DNS_CHECK",
            "Keepalive method = PING_CHECK",
            "Keepalive method = UDP_CHECK",
            "Keepalive method = FILE_CHECK",
            "Using HA suspend",
            "Enabled = no",
            "Up = no",
        ],
    );
}
