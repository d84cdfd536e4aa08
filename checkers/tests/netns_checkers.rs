//! Every checker against real servers inside a network namespace of its
//! own (`kc-*`), including the failure modes keepalived users meet:
//! refused, timeout, wrong status, wrong digest, slow server, a server
//! closing mid-reply. Root only; CI=true makes a missing namespace fatal.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use checkers::manager::{CheckerId, Event, StartChecker};
use checkers::task::{self, Msg, TaskEnv};
use checkers::*;
use common::servers;
use tokio::sync::mpsc;

const MS: Duration = Duration::from_millis(1);

fn ck(kind: CheckKind, dst: SocketAddr) -> CheckerCfg {
    CheckerCfg {
        kind,
        conn: ConnOpts::new(dst, 500 * MS),
        retry: 0,
        delay_loop: 200 * MS,
        delay_before_retry: 100 * MS,
        warmup: Duration::ZERO,
        alpha: false,
        log_all_failures: false,
    }
}

fn rs_name(dst: SocketAddr) -> String {
    trio(dst.ip(), "tcp", dst.port())
}

/// Runs one checker task until it has reported `events` verdicts (or 5 s),
/// returning everything it sent.
async fn run(cfg: CheckerCfg, events: usize) -> Vec<Msg> {
    let (tx, mut rx) = mpsc::channel(64);
    let name = rs_name(cfg.conn.dst);
    let _h = task::spawn(
        StartChecker {
            id: CheckerId(1),
            cfg: cfg.into(),
            rs_name: name,
            vs_name: "[10.0.0.1]:tcp:80".into(),
            gate: None,
        },
        TaskEnv {
            bootstrap: Duration::ZERO,
            log_all_failures: false,
        },
        tx,
    );
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    // the dump's counters (Retries) are not verdicts
    let verdict = |m: &Msg| matches!(m, Msg::Event(e) if !matches!(e, Event::Retries { .. }));
    while out.iter().filter(|m| verdict(m)).count() < events {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) => out.push(m),
            _ => break,
        }
    }
    out
}

fn logs(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            Msg::Log(l) => Some(l.clone()),
            _ => None,
        })
        .collect()
}

fn verdicts(msgs: &[Msg]) -> Vec<bool> {
    msgs.iter()
        .filter_map(|m| match m {
            Msg::Event(Event::Checker { up, .. }) => Some(*up),
            _ => None,
        })
        .collect()
}

#[test]
fn tcp_check_up_refused_and_timeout() {
    let Some(ns) = common::netns("tcp") else {
        return;
    };
    let Some(peer) = common::netns("tcpbh") else {
        return;
    };
    ns.add_black_hole("10.77.0.1/24", &peer);
    ns.run(|| async {
        let up = servers::http("127.0.0.1:0").await;
        let m = run(ck(CheckKind::Tcp, up), 1).await;
        assert_eq!(
            logs(&m),
            [format!("TCP connection to {} success.", rs_name(up))]
        );
        assert_eq!(verdicts(&m), [true]);

        let closed: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let m = run(ck(CheckKind::Tcp, closed), 1).await;
        assert_eq!(
            logs(&m),
            [format!("TCP_CHECK on service {} failed.", rs_name(closed))]
        );
        assert_eq!(verdicts(&m), [false]);

        // nothing answers ARP for 10.77.0.2: the connect timeout decides
        let dead: SocketAddr = "10.77.0.2:80".parse().unwrap();
        let t0 = std::time::Instant::now();
        let m = run(ck(CheckKind::Tcp, dead), 1).await;
        assert_eq!(verdicts(&m), [false]);
        assert!(t0.elapsed() >= 450 * MS, "{:?}", t0.elapsed());

        // retries: up first, then the server is gone for good
        let mut c = ck(CheckKind::Tcp, closed);
        c.retry = 2;
        let m = run(c, 1).await;
        assert_eq!(
            logs(&m),
            [format!("TCP_CHECK on service {} failed.", rs_name(closed))],
            "first failure is final at start"
        );
    });
}

fn http(urls: Vec<UrlCfg>) -> CheckKind {
    CheckKind::Http(Box::new(HttpCfg {
        urls,
        protocol: HttpProtocol::Http10,
        virtualhost: None,
        fast_recovery: false,
        tls: None,
    }))
}

fn url(path: &str, digest: Option<&str>) -> UrlCfg {
    UrlCfg {
        path: path.into(),
        digest: digest.map(|d| checkers::http::parse_digest(d).unwrap()),
        status_code: vec![],
        virtualhost: None,
        regex: None,
    }
}

#[test]
fn http_get_digest_status_and_failure_modes() {
    let Some(ns) = common::netns("http") else {
        return;
    };
    ns.run(|| async {
        let srv = servers::http("127.0.0.1:0").await;
        let name = rs_name(srv);

        let m = run(
            ck(
                http(vec![
                    url("/ok", Some(servers::OK_MD5)),
                    url("/chunked", None),
                ]),
                srv,
            ),
            1,
        )
        .await;
        assert_eq!(
            logs(&m),
            [format!("Remote Web server {name} succeed on service.")]
        );
        assert_eq!(verdicts(&m), [true]);

        // digest of the raw chunked body, chunk-size lines included
        let raw = checkers::http::hex(&md5_of(servers::CHUNKED_RAW_BODY));
        let m = run(ck(http(vec![url("/chunked", Some(&raw))]), srv), 1).await;
        assert_eq!(verdicts(&m), [true], "{m:?}");

        let fail = format!("HTTP_CHECK on service {name} failed.");
        let bad_digest = "00000000000000000000000000000000";
        for (path, digest, why) in [
            ("/ok", Some(bad_digest), "MD5 digest error to"),
            ("/404", None, "HTTP status code error to"),
            ("/slow", None, "Timeout WEB read"),
            ("/hang", None, "Timeout HTTP read"),
            ("/cut", None, "Read, no data received from "),
        ] {
            let mut c = ck(http(vec![url(path, digest)]), srv);
            c.log_all_failures = true;
            let m = run(c, 1).await;
            assert_eq!(
                logs(&m),
                [format!("{why} server {name}."), fail.clone()],
                "{path}"
            );
            assert_eq!(verdicts(&m), [false]);
        }

        // status_code lists and ranges
        let mut u = url("/404", None);
        u.status_code = vec![(200, 200), (400, 404)];
        assert_eq!(verdicts(&run(ck(http(vec![u]), srv), 1).await), [true]);

        // refused
        let closed: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut c = ck(http(vec![url("/", None)]), closed);
        c.log_all_failures = true;
        let m = run(c, 1).await;
        assert_eq!(
            logs(&m)[0],
            format!("Connection failed server {}.", rs_name(closed))
        );

        // regex on the body
        let mut u = url("/ok", None);
        let re = |no_match| {
            Some(checkers::bodyregex::RegexCfg::new(
                b"hel+o".to_vec(),
                0,
                no_match,
                0,
                0,
                None,
            ))
        };
        u.regex = re(false);
        assert_eq!(
            verdicts(&run(ck(http(vec![u.clone()]), srv), 1).await),
            [true]
        );
        u.regex = re(true);
        assert_eq!(
            verdicts(&run(ck(http(vec![u.clone()]), srv), 1).await),
            [false]
        );

        // PCRE2 only: lookahead/lookbehind, \w, a backreference; over the
        // chunked body as sent (chunk-size lines included, not decoded)
        for (pattern, up) in [
            (&br"hel+(?=o\r\n7)"[..], true),
            (br"(?<!\n)world", true),
            (br"(?<= )hello", false),
            (br"(\w)\1o", true),
            (br"\r\n5\r\nhello", true),
        ] {
            let mut u = url("/chunked", None);
            u.regex = Some(checkers::bodyregex::RegexCfg::new(
                pattern.to_vec(),
                0,
                false,
                0,
                0,
                None,
            ));
            let mut c = ck(http(vec![u]), srv);
            c.log_all_failures = true;
            let m = run(c, 1).await;
            assert_eq!(
                verdicts(&m),
                [up],
                "{:?} {m:?}",
                String::from_utf8_lossy(pattern)
            );
            if !up {
                assert_eq!(logs(&m)[0], format!("Regex match failed server {name}."));
            }
        }

        // a pattern that did not compile is not applied: the url is judged
        // on its status code (keepalived's checker process crashes)
        u.regex = Some(checkers::bodyregex::RegexCfg::new(
            b"(".to_vec(),
            0,
            false,
            0,
            0,
            None,
        ));
        assert_eq!(verdicts(&run(ck(http(vec![u]), srv), 1).await), [true]);
    });
}

fn md5_of(b: &[u8]) -> [u8; 16] {
    // through the checker's own reader, so the test states the rule
    let mut r = checkers::http::Reader::new(None);
    r.feed(b"HTTP/1.0 200 OK\r\n\r\n");
    r.feed(b);
    r.finish().digest
}

#[test]
fn http_request_bytes_virtualhost_and_protocol() {
    let Some(ns) = common::netns("vhost") else {
        return;
    };
    ns.run(|| async {
        let srv = servers::http("127.0.0.1:0").await;
        // /echo returns our request as the body: its MD5 proves the bytes
        let expect = |req: &[u8]| checkers::http::hex(&md5_of(req));
        let want = expect(b"GET /echo HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.kc.test\r\n\r\n");
        let CheckKind::Http(mut h) = http(vec![url("/echo", Some(&want))]) else { unreachable!() };
        h.protocol = HttpProtocol::Http11;
        h.virtualhost = Some("www.kc.test".into());
        assert_eq!(verdicts(&run(ck(CheckKind::Http(h), srv), 1).await), [true]);
        let want = expect(format!("GET /echo HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 127.0.0.1:{}\r\n\r\n", srv.port()).as_bytes());
        assert_eq!(verdicts(&run(ck(http(vec![url("/echo", Some(&want))]), srv), 1).await), [true]);
    });
}

/// Our genhash prints what Debian's genhash prints for the same replies
/// (chunked too, and the failure wording).
#[test]
fn genhash_matches_debian_genhash() {
    if !std::path::Path::new("/usr/bin/genhash").exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: Debian genhash missing"
        );
        eprintln!("skipped: /usr/bin/genhash missing");
        return;
    }
    let Some(ns) = common::netns("genhash") else {
        return;
    };
    ns.run(|| async {
        let srv = servers::http("127.0.0.1:0").await;
        let port = srv.port().to_string();
        for path in ["/ok", "/chunked", "/404", "/echo"] {
            // forked from this thread, so inside the namespace
            let theirs = tokio::process::Command::new("timeout")
                .args([
                    "5",
                    "/usr/bin/genhash",
                    "-s",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-u",
                    path,
                ])
                .output()
                .await
                .unwrap();
            let args: Vec<String> = ["-s", "127.0.0.1", "-p", &port, "-u", path]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let opts = checkers::genhash::parse(&args).unwrap();
            let (mut out, mut err) = (Vec::new(), Vec::new());
            assert_eq!(checkers::genhash::run(&opts, &mut out, &mut err).await, 0);
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&theirs.stdout),
                "{path}"
            );
            assert_eq!(theirs.stdout.len(), 33, "{path}");

            // -v: the same dumps, up to the timing line
            let theirs = tokio::process::Command::new("timeout")
                .args([
                    "5",
                    "/usr/bin/genhash",
                    "-v",
                    "-s",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-u",
                    path,
                ])
                .output()
                .await
                .unwrap();
            let mut args = args.clone();
            args.insert(0, "-v".into());
            let opts = checkers::genhash::parse(&args).unwrap();
            let (mut out, mut err) = (Vec::new(), Vec::new());
            checkers::genhash::run(&opts, &mut out, &mut err).await;
            let strip = |b: &[u8]| {
                let s = String::from_utf8_lossy(b).into_owned();
                s[..s.find("Global response time").unwrap_or(s.len())].to_owned()
            };
            assert_eq!(strip(&out), strip(&theirs.stdout), "-v {path}");
        }
        let theirs = tokio::process::Command::new("timeout")
            .args([
                "5",
                "/usr/bin/genhash",
                "-s",
                "127.0.0.1",
                "-p",
                "1",
                "-u",
                "/",
            ])
            .output()
            .await
            .unwrap();
        let opts =
            checkers::genhash::parse(&["-s", "127.0.0.1", "-p", "1", "-u", "/"].map(String::from))
                .unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        checkers::genhash::run(&opts, &mut out, &mut err).await;
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&theirs.stdout)
        );
        assert_eq!(out, b"Connection failed\n");
    });
}

#[test]
fn ssl_get_self_signed_sni_and_verification() {
    let Some(ns) = common::netns("ssl") else {
        return;
    };
    ns.run(|| async {
        let dir = std::env::temp_dir().join(format!("kc-ssl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = servers::self_signed();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &cert).unwrap();
        let (other, _) = servers::self_signed();
        let other_ca = dir.join("other.pem");
        std::fs::write(&other_ca, &other).unwrap();
        let (srv, seen) = servers::https("127.0.0.1:0", &cert, &key).await;
        let name = rs_name(srv);
        let ssl = |tls: TlsCfg, vhost: Option<&str>| {
            CheckKind::Http(Box::new(HttpCfg {
                urls: vec![url("/ok", Some(servers::OK_MD5))],
                protocol: HttpProtocol::Http10,
                virtualhost: vhost.map(str::to_owned),
                fast_recovery: false,
                tls: Some(tls),
            }))
        };
        // keepalived's default: no verification at all
        let m = run(ck(ssl(TlsCfg::default(), None), srv), 1).await;
        assert_eq!(
            logs(&m),
            [format!("Remote Web server {name} succeed on service.")]
        );
        assert_eq!(
            seen.lock().unwrap().pop(),
            Some(None),
            "no SNI unless enabled"
        );

        let sni = TlsCfg {
            enable_sni: true,
            sni_name: Some("kc.test".into()),
            ..TlsCfg::default()
        };
        assert_eq!(
            verdicts(&run(ck(ssl(sni, Some("kc.test")), srv), 1).await),
            [true]
        );
        assert_eq!(seen.lock().unwrap().pop(), Some(Some("kc.test".into())));

        // opt-in chain verification
        let good = TlsCfg {
            ca: Some(ca),
            verify: true,
            ..TlsCfg::default()
        };
        assert_eq!(verdicts(&run(ck(ssl(good, None), srv), 1).await), [true]);
        let bad = TlsCfg {
            ca: Some(other_ca),
            verify: true,
            ..TlsCfg::default()
        };
        let mut c = ck(ssl(bad, None), srv);
        c.log_all_failures = true;
        let m = run(c, 1).await;
        assert_eq!(
            logs(&m)[0],
            format!("SSL handshake/communication error connecting to server {name}.")
        );
        assert_eq!(verdicts(&m), [false]);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn smtp_check_dialogue_and_bad_banner() {
    let Some(ns) = common::netns("smtp") else {
        return;
    };
    ns.run(|| async {
        let (good, lines) = servers::smtp("127.0.0.1:0", "220 kc.test ESMTP").await;
        let smtp = |extra: Vec<ConnOpts>| {
            CheckKind::Smtp(SmtpCfg {
                helo_name: "smtpchecker.keepalived.org".into(),
                extra_hosts: extra,
            })
        };
        let m = run(ck(smtp(vec![]), good), 1).await;
        assert_eq!(
            logs(&m),
            [format!(
                "Remote SMTP server {} succeed on service.",
                rs_name(good)
            )]
        );
        assert_eq!(
            lines.lock().unwrap()[..2],
            [
                "HELO smtpchecker.keepalived.org".to_owned(),
                "QUIT".to_owned()
            ]
        );

        let (bad, _) = servers::smtp("127.0.0.1:0", "554 go away").await;
        let m = run(ck(smtp(vec![]), bad), 1).await;
        assert_eq!(
            logs(&m),
            [format!(
                "SMTP_CHECK Bad greeting banner from server [127.0.0.1]:{}",
                bad.port()
            )]
        );
        assert_eq!(verdicts(&m), [false]);

        // a failing extra host block fails the checker
        let m = run(ck(smtp(vec![ConnOpts::new(bad, 500 * MS)]), good), 1).await;
        assert_eq!(verdicts(&m), [false]);
    });
}

#[test]
fn dns_check_noerror_and_nxdomain() {
    let Some(ns) = common::netns("dns") else {
        return;
    };
    ns.run(|| async {
        let srv = servers::dns("127.0.0.1:0").await;
        let dns = |name: &str| {
            CheckKind::Dns(DnsCfg {
                qtype: "A".into(),
                name: name.into(),
            })
        };
        assert_eq!(verdicts(&run(ck(dns("www.kc.test"), srv), 1).await), [true]);
        assert_eq!(
            verdicts(
                &run(
                    ck(
                        CheckKind::Dns(DnsCfg {
                            qtype: "SOA".into(),
                            name: String::new()
                        }),
                        srv
                    ),
                    1
                )
                .await
            ),
            [true]
        );
        let m = run(ck(dns("nx.kc.test"), srv), 1).await;
        assert_eq!(
            logs(&m),
            [format!(
                "DNS_CHECK ({}) read error occurred. (rcode = 3)",
                rs_name(srv)
            )]
        );
        assert_eq!(verdicts(&m), [false]);
        let silent: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(
            verdicts(&run(ck(dns("www.kc.test"), silent), 1).await),
            [false]
        );
    });
}

#[test]
fn udp_check_echo_mismatch_and_unreachable() {
    let Some(ns) = common::netns("udp") else {
        return;
    };
    ns.run(|| async {
        let echo = servers::udp_echo("127.0.0.1:0").await;
        let udp = |payload: &[u8], reply: Option<&str>| {
            CheckKind::Udp(UdpCfg {
                payload: Some(payload.to_vec()),
                require_reply: reply.map(|r| checkers::probe::parse_reply_pattern(r).unwrap()),
                min_reply_length: 0,
                max_reply_length: 255,
            })
        };
        let m = run(ck(udp(b"\x12\x34", Some("1234")), echo), 1).await;
        assert_eq!(
            logs(&m),
            [format!("UDP connection to {} success.", rs_name(echo))]
        );
        assert_eq!(
            verdicts(&run(ck(udp(b"\x12\x34", Some("1X3x")), echo), 1).await),
            [true]
        );
        assert_eq!(
            verdicts(&run(ck(udp(b"\x12\x34", Some("5678")), echo), 1).await),
            [false]
        );
        let closed: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let m = run(ck(udp(b"x", None), closed), 1).await;
        assert_eq!(
            logs(&m),
            [format!("UDP_CHECK on service {} failed.", rs_name(closed))]
        );
        // no reply needed and none came: up
        let sink = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let quiet = sink.local_addr().unwrap();
        assert_eq!(verdicts(&run(ck(udp(b"x", None), quiet), 1).await), [true]);
    });
}

#[test]
fn ping_check_v4_v6_and_timeout() {
    let Some(ns) = common::netns("ping") else {
        return;
    };
    let Some(peer) = common::netns("pingbh") else {
        return;
    };
    ns.add_black_hole("10.77.0.1/24", &peer);
    ns.run(|| async {
        for dst in ["127.0.0.1:0", "[::1]:0"] {
            let dst: SocketAddr = dst.parse().unwrap();
            let m = run(ck(CheckKind::Ping, dst), 1).await;
            assert_eq!(
                logs(&m),
                [format!("ICMP connection to {} success.", rs_name(dst))]
            );
        }
        let dead: SocketAddr = "10.77.0.2:0".parse().unwrap();
        let m = run(ck(CheckKind::Ping, dead), 1).await;
        assert_eq!(
            logs(&m),
            [format!("ICMP CHECK on service {} failed.", rs_name(dead))]
        );
    });
}
