//! Email alerts against Debian's keepalived 2.2.7: the same VRRP
//! configuration runs under each implementation in a router namespace whose
//! loopback holds a tiny SMTP sink this test starts; the sink records every
//! session (what the client sent, line by line, and the message), and the
//! two recordings must be equal once the Date header is masked.
//!
//! Needs root and /usr/sbin/keepalived; fails with CI=true when they are
//! missing, skips with a message otherwise. Namespaces are `$KV_NETNS_PREFIX-smtp*`.

mod netns;
mod smtp_sink;

use std::net::TcpListener;
use std::time::Duration;

use netns::{Daemon, Impl, Lab, require, wait_until};
use smtp_sink::{Mode, Sink};

/// A sink on port 25 of the namespace's loopback. The listener is made on
/// a thread that entered the namespace; a socket stays in the namespace it
/// was made in, so it can be served from any thread afterwards.
fn sink_in(ns: &str, mode: Mode, addr: &'static str) -> Sink {
    let path = format!("/var/run/netns/{ns}");
    let listener = std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("netns file");
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        TcpListener::bind(addr).expect("bind port 25 in the namespace")
    })
    .join()
    .unwrap();
    Sink::start(listener, mode)
}

fn conf(lab: &Lab, global: &str) -> String {
    let n = 60 + lab.net;
    format!(
        "global_defs {{
 notification_email {{
  ops@example.com
  \"Ops Two <ops2@example.com>\" third@example.com
 }}
 notification_email_from kv@example.com
 smtp_server 127.0.0.1
 smtp_connect_timeout 5
{global}}}
vrrp_sync_group G1 {{
 group {{
  VI_1
  VI_2
 }}
}}
vrrp_instance VI_1 {{
 state BACKUP
 interface kv-e0
 virtual_router_id {n}
 priority 150
 advert_int 0.5
 version 3
 virtual_ipaddress {{
  10.{net}.0.100/24
 }}
}}
vrrp_instance VI_2 {{
 state BACKUP
 interface kv-e0
 virtual_router_id {}
 priority 150
 advert_int 0.5
 version 3
 virtual_ipaddress {{
  10.{net}.0.101/24
 }}
}}
vrrp_instance VI_3 {{
 state BACKUP
 interface kv-e0
 virtual_router_id {}
 priority 150
 advert_int 0.5
 version 3
 smtp_alert off
 virtual_ipaddress {{
  10.{net}.0.102/24
 }}
}}
vrrp_instance VI_4 {{
 state BACKUP
 interface kv-e0
 virtual_router_id {}
 priority 150
 advert_int 0.5
 version 3
 virtual_ipaddress {{
  10.{net}.0.103/24
 }}
}}
",
        n + 1,
        n + 2,
        n + 3,
        net = lab.net,
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// Start (BACKUP, MASTER) and stop; the sink's [`Mode`] matters.
    Plain(Mode),
    /// The link goes down (FAULT) and comes back (BACKUP, MASTER).
    Flap,
    /// A reload removes VI_4 (keepalived mails FAULT for it, or DELETED
    /// with `notify_deleted`).
    Reload { notify_deleted: bool },
}

/// What one implementation mailed over: start (BACKUP then MASTER), the
/// scenario, and a stop. Returns the sessions in which the client sent
/// anything, sorted (they run concurrently, so their order is not part of
/// the behaviour), and the daemon's log.
fn run(tag: &str, net: u8, which: Impl, global: &str, sc: Scenario) -> (Vec<String>, String) {
    let lab = Lab::new(tag, net, 1);
    let v6 = global.contains("smtp_server ::1");
    let mode = match sc {
        Scenario::Plain(m) => m,
        _ => Mode::Accept,
    };
    let sink = (mode != Mode::Absent).then(|| {
        sink_in(
            &lab.ns(0),
            mode,
            if v6 { "[::1]:25" } else { "127.0.0.1:25" },
        )
    });
    let sessions = || sink.as_ref().map_or_else(Vec::new, Sink::sessions);
    let mut text = conf(&lab, global);
    if v6 {
        text = text.replace(" smtp_server 127.0.0.1\n", "");
    }
    if mode == Mode::Silent {
        text = text.replace("smtp_connect_timeout 5", "smtp_connect_timeout 1");
    }
    let text = match sc {
        Scenario::Reload {
            notify_deleted: true,
        } => text
            .replace(" smtp_alert off\n", " smtp_alert off\n notify_deleted\n")
            .replace(
                " version 3\n virtual_ipaddress {\n  10.",
                " version 3\n notify_deleted\n virtual_ipaddress {\n  10.",
            ),
        _ => text,
    };
    let mut d = Daemon::start(&lab, 0, which, &text);
    let log = |d: &Daemon| d.log_text();
    let masters =
        |d: &Daemon, n| d.wait_log_count("Entering MASTER STATE", n, Duration::from_secs(10));
    assert!(masters(&d, 4), "{which:?}: not all MASTER\n{}", log(&d));
    // Let the mails of the transitions so far be delivered.
    let settle = |n: usize| {
        wait_until(Duration::from_secs(5), || sessions().len() >= n);
        std::thread::sleep(Duration::from_millis(700));
    };
    settle(1);
    match sc {
        // The silent server's sessions end after two 1 s timeouts.
        Scenario::Plain(_) => std::thread::sleep(Duration::from_secs(3)),
        Scenario::Flap => {
            lab.link(0, false);
            assert!(
                d.wait_log_count("Entering FAULT STATE", 4, Duration::from_secs(10)),
                "{which:?}: no FAULT\n{}",
                log(&d)
            );
            settle(1);
            lab.link(0, true);
            assert!(masters(&d, 8), "{which:?}: not MASTER again\n{}", log(&d));
        }
        Scenario::Reload { .. } => {
            let cut = text.find("vrrp_instance VI_4").unwrap();
            let before = sessions().len();
            d.reload(&text[..cut]);
            assert!(
                wait_until(Duration::from_secs(10), || sessions().len() > before),
                "{which:?}: nothing mailed at the reload\n{}",
                log(&d)
            );
        }
    }
    settle(1);
    // Compared: the log up to the stop (keepalived's unfinished STOP
    // alerts may or may not log on the way out).
    let before_stop = log(&d);
    d.stop();
    std::thread::sleep(Duration::from_millis(500));
    let mut s: Vec<String> = sessions()
        .into_iter()
        // keepalived opens a connection for each STOP alert and exits
        // before saying anything on it; such sessions carry no mail.
        .filter(|t| t.contains("C: "))
        .collect();
    s.sort();
    (s, before_stop)
}

/// The SMTP client's log lines, without timestamps, sorted (sessions run
/// concurrently); the descriptor number in "smtp fd N" is masked.
fn smtp_lines(log: &str) -> Vec<String> {
    const NEEDLES: [&str; 9] = [
        "smtp fd ",
        "Error processing ",
        "Timeout reading data",
        "Timeout opening connection",
        "Remote SMTP server ",
        "SMTP alert successfully sent.",
        "SMTP connection ERROR",
        "Cannot send data",
        "Received buffer from remote SMTP",
    ];
    let mut out: Vec<String> = log
        .lines()
        .filter_map(|l| {
            let at = NEEDLES.iter().filter_map(|n| l.find(n)).min()?;
            let line = &l[at..];
            Some(match line.strip_prefix("smtp fd ") {
                Some(rest) => format!(
                    "smtp fd N{}",
                    rest.trim_start_matches(|c: char| c.is_ascii_digit())
                ),
                None => line.to_owned(),
            })
        })
        .collect();
    out.sort();
    out
}

/// What a reload scenario compares: each distinct mail once, without the
/// removed instance's (VI_4's) own mail. keepalived 2.2.7's mails around a
/// reload are not the same from run to run: in some runs it mails BACKUP
/// a second time for the kept sync-group members (then MASTER, already
/// mailed, is not repeated) and the removed instance's FAULT/Deleted mail
/// never leaves (it races with the freeing of the old configuration); in
/// others it mails exactly what we mail; in others again that mail's
/// session is cut after HELO (no MAIL FROM). The callers check that ours
/// has VI_4's mail.
fn reload_view(sessions: &[String]) -> Vec<String> {
    let set: std::collections::BTreeSet<&String> = sessions
        .iter()
        .filter(|s| {
            !s.contains("VRRP Instance VI_4 - Entering FAULT state")
                && !s.contains("VRRP Instance VI_4 - Deleted")
                && s.contains("C: MAIL FROM:")
        })
        .collect();
    set.into_iter().cloned().collect()
}

fn compare(tag: &str, net: u8, global: &str, sc: Scenario) -> Vec<String> {
    let (ka_all, ka_log) = run(&format!("{tag}k"), net, Impl::Keepalived, global, sc);
    let (ours_all, our_log) = run(&format!("{tag}o"), net + 1, Impl::Ours, global, sc);
    let expect_mail = !matches!(sc, Scenario::Plain(Mode::Absent));
    assert_eq!(
        !ka_all.is_empty(),
        expect_mail,
        "keepalived's sessions:\n{ka_log}"
    );
    let reload = matches!(sc, Scenario::Reload { .. });
    let (ka, ours) = if reload {
        (reload_view(&ka_all), reload_view(&ours_all))
    } else {
        (ka_all.clone(), ours_all.clone())
    };
    if ka != ours {
        panic!(
            "mail differs\n--- keepalived ({} sessions)\n{}\n--- ours ({} sessions)\n{}\n--- our log\n{our_log}",
            ka.len(),
            ka.join("\n"),
            ours.len(),
            ours.join("\n")
        );
    }
    // With -D both log each connection and delivery, and every failure
    // (after a reload, each distinct line once: see `reload_view`).
    let (mut kl, mut ol) = (smtp_lines(&ka_log), smtp_lines(&our_log));
    if reload {
        kl.dedup();
        ol.dedup();
    }
    assert!(
        kl == ol,
        "SMTP log lines differ\n--- keepalived\n{}\n--- ours\n{}",
        kl.join("\n"),
        ol.join("\n")
    );
    eprintln!(
        "{tag}: {} sessions and {} log lines alike; e.g.\n{}\n{}",
        ours.len(),
        ol.len(),
        ours.first().map_or("", String::as_str),
        ol.first().map_or("", String::as_str)
    );
    ours_all
}

fn subjects(sessions: &[String]) -> Vec<String> {
    let mut s: Vec<String> = sessions
        .iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| l.strip_prefix("D: Subject: "))
        .map(str::to_owned)
        .collect();
    s.sort();
    s
}

/// Global `smtp_alert`: every instance but VI_3 (`smtp_alert off`) and the
/// sync group mail each state they enter (not STOP: see the filter above).
#[test]
fn vrrp_alerts_match_keepalived() {
    if !require() {
        return;
    }
    let ours = compare("smtpa", 120, " smtp_alert\n", Scenario::Flap);
    let s = subjects(&ours);
    for want in [
        "VRRP Group G1 - Entering BACKUP state",
        "VRRP Group G1 - Entering MASTER state",
        "VRRP Group G1 - Entering FAULT state",
        "VRRP Instance VI_4 - Entering FAULT state",
    ] {
        assert!(s.iter().any(|x| x.ends_with(want)), "{want}: {s:#?}");
    }
    assert!(!s.iter().any(|x| x.contains("VI_3")), "{s:#?}");
}

/// `smtp_alert_vrrp` with `no_email_faults`: no FAULT mail (and FAULT does
/// not count as the state last mailed).
#[test]
fn vrrp_alerts_without_faults_match_keepalived() {
    if !require() {
        return;
    }
    let ours = compare(
        "smtpb",
        124,
        " smtp_alert_vrrp\n no_email_faults\n",
        Scenario::Flap,
    );
    let s = subjects(&ours);
    assert!(!s.iter().any(|x| x.contains("FAULT")), "{s:#?}");
}

/// A reload that removes an instance: FAULT mailed for it (keepalived's
/// old way of saying DELETED), and nothing for the kept MASTERs.
#[test]
fn vrrp_alerts_at_reload_match_keepalived() {
    if !require() {
        return;
    }
    let ours = compare(
        "smtpc",
        128,
        " smtp_alert\n",
        Scenario::Reload {
            notify_deleted: false,
        },
    );
    let s = subjects(&ours);
    assert!(
        s.iter()
            .any(|x| x.ends_with("VRRP Instance VI_4 - Entering FAULT state")),
        "{s:#?}"
    );
}

/// The same with `notify_deleted`: the removed instance mails "Deleted".
#[test]
fn vrrp_alerts_notify_deleted_match_keepalived() {
    if !require() {
        return;
    }
    let ours = compare(
        "smtpd",
        132,
        " smtp_alert\n",
        Scenario::Reload {
            notify_deleted: true,
        },
    );
    let s = subjects(&ours);
    assert!(
        s.iter()
            .any(|x| x.ends_with("VRRP Instance VI_4 - Deleted")),
        "{s:#?}"
    );
}

/// A recipient refused with 550: "Error processing RCPT cmd on SMTP server
/// [127.0.0.1]:25. SMTP status code = 550", then QUIT: nothing delivered.
#[test]
fn refused_recipient_matches_keepalived() {
    if !require() {
        return;
    }
    let ours = compare(
        "smtpe",
        136,
        " smtp_alert_vrrp\n",
        Scenario::Plain(Mode::RejectRcpt),
    );
    assert!(ours.iter().all(|t| !t.contains("C: DATA")), "{ours:#?}");
}

/// A server that never answers: one "Timeout reading data" for the
/// greeting, QUIT, a second timeout, close (smtp_connect_timeout 1).
#[test]
fn silent_server_matches_keepalived() {
    if !require() {
        return;
    }
    let ours = compare(
        "smtpf",
        140,
        " smtp_alert_vrrp\n",
        Scenario::Plain(Mode::Silent),
    );
    assert!(ours.iter().all(|t| t == "C: QUIT\n<eof>\n"), "{ours:#?}");
}

/// Nothing listens: each alert logs keepalived's "smtp fd N returned write
/// error".
#[test]
fn absent_server_matches_keepalived() {
    if !require() {
        return;
    }
    compare(
        "smtpg",
        144,
        " smtp_alert_vrrp\n",
        Scenario::Plain(Mode::Absent),
    );
}

/// An IPv6 server (`smtp_server ::1`, port 25 by default).
#[test]
fn ipv6_server_matches_keepalived() {
    if !require() {
        return;
    }
    let ours = compare(
        "smtph",
        148,
        " smtp_alert_vrrp\n smtp_server ::1\n",
        Scenario::Plain(Mode::Accept),
    );
    assert_eq!(ours.len(), 8, "{ours:#?}");
}
