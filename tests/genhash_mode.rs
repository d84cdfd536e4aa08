//! `keepalived -T` (genhash mode) against Debian's `keepalived -T`: the same
//! digest output for the same reply from a loopback HTTP server, the same
//! usage text and exit code without arguments.
//!
//! Needs /usr/sbin/keepalived; fails with CI=true when it is missing.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

const KEEPALIVED: &str = "/usr/sbin/keepalived";

fn require() -> bool {
    if std::path::Path::new(KEEPALIVED).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true: Debian keepalived missing (make test installs it)"
    );
    eprintln!("SKIPPED genhash_mode: {KEEPALIVED} missing");
    false
}

/// Serves `n` connections with the same chunked reply, then stops.
fn serve(n: usize) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().take(n) {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
                  5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
            );
        }
    });
    port
}

fn run(bin: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(bin).args(args).output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn genhash_mode_matches_keepalived() {
    if !require() {
        return;
    }
    let ours = env!("CARGO_BIN_EXE_keepalived");
    let port = serve(2).to_string();
    let args = ["-T", "-s", "127.0.0.1", "-p", &port, "-u", "/"];
    let (kc, ko, _) = run(KEEPALIVED, &args);
    let (oc, oo, oe) = run(ours, &args);
    assert_eq!(oc, kc, "exit code; ours said {oe}");
    assert!(
        ko.trim().len() == 32 && ko.trim().chars().all(|c| c.is_ascii_hexdigit()),
        "keepalived printed no digest: {ko}"
    );
    assert_eq!(oo, ko, "digest output differs");

    // No arguments: keepalived's usage for genhash mode, exit 1.
    let (kc, _, ke) = run(KEEPALIVED, &["-T"]);
    let (oc, _, oe) = run(ours, &["-T"]);
    assert_eq!(oc, kc);
    let strip = |s: &str, prog: &str| s.replace(prog, "PROG");
    assert_eq!(
        strip(&oe, ours),
        strip(&ke, KEEPALIVED),
        "usage text differs"
    );
}
