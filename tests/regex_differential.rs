//! Tier 3, differential: HTTP_GET `regex` (PCRE2) in our `-C` daemon
//! against Debian's keepalived, in the same VM boot (keepalived's checker
//! process needs IPVS). One virtual server per case, each with one real
//! server on 127.0.0.1 (a port per case) answering the same small page;
//! the url's regex lines differ: PCRE-only syntax that matches and that
//! does not, `regex_no_match`, `regex_options`, offsets, keepalived's
//! escape processing (`"\d"` is `d`), the header block in the first
//! subject, and a reply whose header block comes in a read of its own.
//! Both daemons must reach the same IPVS table and log the same checker
//! lines; keepalived's verdicts are also checked against what its source
//! says (so the comparison cannot pass on two equally wrong answers).
//!
//! Then a pattern that does not compile: both log the same `Invalid regex`
//! line. (keepalived's checker process then crashes at the url's first
//! check, a use after free, and is respawned in a loop, so nothing is ever
//! judged; ours checks the url without the regex, so the healthy real
//! server stays in the pool, which is what the last assertion shows.)

#[path = "vm/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use harness::{sh, sorted_lines};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const OURS: &str = env!("CARGO_BIN_EXE_keepalived");
const THEIRS: &str = "/usr/sbin/keepalived";
const WORK: &str = "/tmp/kr-regex-diff";

const HEAD: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n";
const BODY: &[u8] = b"version 12.3\n<b>ok</b>\nstatus=up\n";

/// (regex lines in the url block, header block sent alone first, keepalived's
/// verdict as read from check_http.c).
const CASES: &[(&str, bool, bool)] = &[
    // lookahead and \d (written \\d: keepalived resolves escapes)
    (r#"regex "version (?=\\d+\\.)""#, false, true),
    (r#"regex "version (?=\\d+x)""#, false, false),
    // backreference
    (r#"regex "<(\\w+)>ok</\\1>""#, false, true),
    (r#"regex "<(\\w+)>ok</\\1>x""#, false, false),
    // lookbehind, inverted
    ("regex \"(?<=status=)down\"\nregex_no_match", false, true),
    ("regex \"(?<=status=)up\"\nregex_no_match", false, false),
    // a single backslash is eaten by keepalived's parser: "version d+"
    (r#"regex "version \d+""#, false, false),
    // options
    (
        "regex \"VERSION \\\\d+\\\\.\\\\d\"\nregex_options caseless",
        false,
        true,
    ),
    (r#"regex "VERSION \\d+\\.\\d""#, false, false),
    // the header block is in the first subject ...
    (r#"regex "Content-Type: text/plain""#, false, true),
    // ... unless the read that completed it held no body byte
    (r#"regex "Content-Type: text/plain""#, true, false),
    // offsets count from the status line: "ok" is at 61
    ("regex \"ok\"\nregex_min_offset 61", false, true),
    ("regex \"ok\"\nregex_min_offset 62", false, false),
    ("regex \"ok\"\nregex_max_offset 60", false, false),
    // body-relative when the header block came alone: "ok" is at 16
    ("regex \"ok\"\nregex_max_offset 16", true, true),
    // the body ends with "up\n": under PCRE2_PARTIAL_HARD `$`, even before
    // that final newline, is a partial match (more could follow), which
    // keepalived never completes at EOF; so is `\n$`
    (r#"regex "up$""#, false, false),
    (r#"regex "up\\n$""#, false, false),
];

const BASE_PORT: u16 = 18301;

fn config(extra: &str) -> String {
    let mut c = String::new();
    for (i, (lines, _, _)) in CASES.iter().enumerate() {
        let lines: String = lines
            .lines()
            .map(|l| format!("                {l}\n"))
            .collect();
        c += &format!(
            "virtual_server 10.0.0.{} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server 127.0.0.1 {} {{\n        HTTP_GET {{\n            url {{\n                path /\n{lines}            }}\n            connect_timeout 1\n            retry 0\n            log_all_failures\n        }}\n    }}\n}}\n",
            i + 1,
            BASE_PORT + i as u16
        );
    }
    c + extra
}

/// The real servers: one listener per case, each answering every request
/// with HEAD+BODY (in one write, or the header block first).
struct Servers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Servers {
    fn start(ports: impl Iterator<Item = (u16, bool)>) -> Servers {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = ports
            .map(|(port, split)| {
                let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
                l.set_nonblocking(true).unwrap();
                let s = stop.clone();
                std::thread::spawn(move || {
                    while !s.load(Ordering::SeqCst) {
                        match l.accept() {
                            Ok((mut c, _)) => {
                                let _ = c.set_nonblocking(false);
                                let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
                                let mut req = [0u8; 1024];
                                let _ = c.read(&mut req);
                                if split {
                                    let _ = c.write_all(HEAD);
                                    let _ = c.flush();
                                    std::thread::sleep(Duration::from_millis(150));
                                    let _ = c.write_all(BODY);
                                } else {
                                    let _ = c.write_all(&[HEAD, BODY].concat());
                                }
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(5)),
                        }
                    }
                })
            })
            .collect();
        Servers { stop, threads }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Log messages (timestamps cut) about the test's real servers or regexes.
fn lines(log: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, m)| m.to_owned()))
        .filter(|m| {
            (m.contains("[127.0.0.1]:tcp:183") && !m.contains("healthchecker"))
                || m.starts_with("Invalid regex")
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn run(bin: &str, dir: &Path, conf_text: &str, secs: u64) -> (Vec<String>, Vec<String>) {
    sh("ipvsadm -C");
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, conf_text).unwrap();
    let child = harness::start_checker_daemon(bin, &conf, dir);
    std::thread::sleep(Duration::from_secs(secs));
    let table = sorted_lines(&harness::settled(
        Duration::from_millis(1500),
        Duration::from_secs(6),
    ));
    harness::stop_daemon(child, bin);
    let name = Path::new(bin).file_name().unwrap().to_string_lossy();
    let log = lines(&dir.join(format!("{name}.log")));
    (table, log)
}

/// Real server ports present in an `ipvsadm -Sn` table.
fn up_ports(table: &[String]) -> Vec<u16> {
    let mut v: Vec<u16> = table
        .iter()
        .filter_map(|l| l.split(" -r 127.0.0.1:").nth(1))
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .collect();
    v.sort();
    v
}

#[test]
fn regex_differential_against_keepalived() {
    if harness::run_in_vm(ROOT, "regex_differential_against_keepalived", 600) {
        return;
    }
    let work = PathBuf::from(WORK);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let _servers = Servers::start(
        CASES
            .iter()
            .enumerate()
            .map(|(i, c)| (BASE_PORT + i as u16, c.1)),
    );
    let conf = config("");
    let (their_table, their_log) = run(THEIRS, &work, &conf, 5);
    let (our_table, our_log) = run(OURS, &work, &conf, 5);
    let _ = sh("ipvsadm -C");
    eprintln!("keepalived table:\n  {}", their_table.join("\n  "));
    eprintln!("our table:\n  {}", our_table.join("\n  "));
    eprintln!("keepalived log:\n  {}", their_log.join("\n  "));
    eprintln!("our log:\n  {}", our_log.join("\n  "));
    let expected: Vec<u16> = CASES
        .iter()
        .enumerate()
        .filter(|(_, c)| c.2)
        .map(|(i, _)| BASE_PORT + i as u16)
        .collect();
    assert_eq!(
        up_ports(&their_table),
        expected,
        "keepalived's verdicts are not what its source says"
    );
    assert_eq!(our_table, their_table);
    assert_eq!(our_log, their_log);

    // A pattern that does not compile: the same log line from both. Only
    // keepalived's start-up is compared (it then crashes at the check).
    let bad = "virtual_server 10.0.1.1 80 {\n    delay_loop 1\n    lb_kind NAT\n    protocol TCP\n    real_server 127.0.0.1 18399 {\n        HTTP_GET {\n            url {\n                path /\n                regex \"version (?=\\\\d+\"\n            }\n            connect_timeout 1\n            retry 0\n        }\n    }\n}\n";
    let _bad_server = Servers::start([(18399, false)].into_iter());
    let invalid = |bin: &str| {
        let (table, log) = run(bin, &work, bad, 3);
        let inv: Vec<String> = log
            .into_iter()
            .filter(|l| l.starts_with("Invalid regex"))
            .collect();
        (table, inv)
    };
    let (_, their_inv) = invalid(THEIRS);
    let (our_table, our_inv) = invalid(OURS);
    let _ = sh("ipvsadm -C");
    assert_eq!(
        their_inv,
        ["Invalid regex: 'version (?=\\d+' at offset 14: missing closing parenthesis"]
    );
    assert_eq!(our_inv, their_inv);
    // ours: the url is checked without the regex; the server answers 200
    assert_eq!(up_ports(&our_table), [18399], "{our_table:?}");
}
