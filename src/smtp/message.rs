//! The text of an alert, byte for byte as keepalived 2.2.7 writes it
//! (core/smtp.c `smtp_alert`, `build_to_header_rcpt_addrs`, `body_cmd`;
//! include/smtp.h for the command formats), and the global settings it
//! is built from. No I/O here except [`local_name`]'s resolver call.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use kaconf::model::GlobalDefs;

/// smtp.h `MAX_HEADERS_LENGTH`: the subject is cut to one byte less.
const SUBJECT_MAX: usize = 256 - 1;
/// smtp.h `MAX_BODY_LENGTH`.
const BODY_MAX: usize = 512 - 1;
/// smtp.c `SMTP_BUFFER_MAX`: the To header's room.
const TO_MAX: usize = 1024 - 1;
/// global_data.h `DEFAULT_SMTP_CONNECTION_TIMEOUT`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and as whom alerts are sent: keepalived's `global_data` email
/// fields after `init_global_data` filled in the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailer {
    pub server: SocketAddr,
    /// `[ADDR]:PORT`, the server as keepalived's log lines name it.
    pub server_name: String,
    /// `smtp_helo_name`, else the local name, else `localhost`.
    pub helo: String,
    /// `notification_email_from`, else `USER@LOCALNAME`; keepalived prints
    /// a missing one as glibc prints a NULL `%s`: `(null)`.
    pub from: String,
    /// `notification_email`, one address per word, in order.
    pub to: Vec<String>,
    /// `router_id`, else the local name: the subject's `[...]`.
    pub router_id: String,
    /// `smtp_connect_timeout`: for the connection and for every reply.
    pub timeout: Duration,
    /// `-D`: the "connected" and "successfully sent" lines.
    pub log_detail: bool,
}

/// keepalived's `unknown_name`, the local name when it cannot be found.
pub const UNKNOWN_NAME: &str = "[unknown]";

/// keepalived's `get_local_name`: the canonical name of this host's node
/// name (`getaddrinfo` with `AI_CANONNAME`), `None` if it cannot be found.
/// Blocking (it may ask DNS): call it off any event loop.
pub fn local_name() -> Option<String> {
    let node = nix::unistd::gethostname().ok()?.into_string().ok()?;
    let hints = dns_lookup::AddrInfoHints {
        flags: libc::AI_CANONNAME,
        ..Default::default()
    };
    let mut it = dns_lookup::getaddrinfo(Some(&node), None, Some(hints)).ok()?;
    it.next()?.ok()?.canonname.filter(|c| !c.is_empty())
}

/// `[ADDR]:PORT` (keepalived `inet_sockaddrtopair`).
pub fn server_name(a: &SocketAddr) -> String {
    format!("[{}]:{}", a.ip(), a.port())
}

impl Mailer {
    /// The mailer `g` describes, or `None` when keepalived would send
    /// nothing (no `notification_email` or no usable `smtp_server`).
    /// `local_name` is asked only when a default needs it, as keepalived
    /// does; resolving the server or the local name may block.
    pub fn from_config(
        g: &GlobalDefs,
        local_name: impl FnOnce() -> Option<String>,
        log_detail: bool,
    ) -> Option<Mailer> {
        let (host, port) = g.smtp_server.as_ref()?;
        if g.notification_email.is_empty() {
            return None;
        }
        // An address as is, else the first address the name resolves to
        // (keepalived resolves it while reading the file).
        let server = match host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, *port),
            Err(_) => (host.as_str(), *port).to_socket_addrs().ok()?.next()?,
        };
        let needs_name = g.router_id.is_none()
            || g.smtp_helo_name.is_none()
            || g.notification_email_from.is_none();
        let local = if needs_name {
            local_name().unwrap_or_else(|| UNKNOWN_NAME.to_owned())
        } else {
            String::new()
        };
        let known = !local.is_empty() && local != UNKNOWN_NAME;
        let user = || {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        };
        let from = match &g.notification_email_from {
            Some(f) => f.clone(),
            None if known => user().map_or_else(|| "(null)".to_owned(), |u| format!("{u}@{local}")),
            None => "(null)".to_owned(),
        };
        let helo = match &g.smtp_helo_name {
            Some(h) => h.clone(),
            None if known => local.clone(),
            None => "localhost".to_owned(),
        };
        Some(Mailer {
            server_name: server_name(&server),
            server,
            helo,
            from,
            to: g.notification_email.clone(),
            router_id: g.router_id.clone().unwrap_or(local),
            timeout: g
                .smtp_connect_timeout
                .map_or(DEFAULT_TIMEOUT, |s| Duration::from_secs(s.max(1).into())),
            log_detail,
        })
    }

    /// The To header: the addresses joined by `", "`, stopping (possibly
    /// after the separator) at the first one that no longer fits in
    /// keepalived's 1023 bytes.
    pub fn to_header(&self) -> String {
        let mut out = String::new();
        let mut room = TO_MAX;
        for (i, addr) in self.to.iter().enumerate() {
            if i > 0 {
                if room < 2 {
                    break;
                }
                out.push_str(", ");
                room -= 2;
            }
            if room < addr.len() {
                break;
            }
            out.push_str(addr);
            room -= addr.len();
        }
        out
    }
}

/// The DATA payload (headers, body and the terminating dot) for `alert`
/// sent at `date` (see [`rfc822_now`]), with `to` from [`Mailer::to_header`].
pub fn data_text(date: &str, from: &str, to: &str, alert: &Alert) -> String {
    format!(
        "Date: {date}\r\nFrom: {from}\r\nSubject: {}\r\nX-Mailer: Keepalived\r\nTo: {to}\r\n\r\n{}\r\n\r\n.\r\n",
        alert.subject, alert.body
    )
}

/// keepalived's Date header: local time, `strftime("%a, %d %b %Y %H:%M:%S %z")`
/// in the C locale.
pub fn rfc822_now() -> String {
    chrono::Local::now()
        .format("%a, %d %b %Y %H:%M:%S %z")
        .to_string()
}

/// What an alert is about: it decides the subject line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum About<'a> {
    /// `[ID] VRRP Instance NAME - WHAT`
    Instance(&'a str),
    /// `[ID] VRRP Group NAME - WHAT`
    Group(&'a str),
    /// `[ID] Realserver RS of virtual server VS - WHAT`
    RealServer { rs: &'a str, vs: &'a str },
    /// `[ID] Virtualserver VS - WHAT`
    VirtualServer(&'a str),
}

/// One alert's subject and body, cut to keepalived's buffer sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub subject: String,
    pub body: String,
}

impl Alert {
    pub fn new(router_id: &str, about: About<'_>, what: &str, body: &str) -> Alert {
        let subject = match about {
            About::Instance(n) => format!("[{router_id}] VRRP Instance {n} - {what}"),
            About::Group(n) => format!("[{router_id}] VRRP Group {n} - {what}"),
            About::RealServer { rs, vs } => {
                format!("[{router_id}] Realserver {rs} of virtual server {vs} - {what}")
            }
            About::VirtualServer(vs) => format!("[{router_id}] Virtualserver {vs} - {what}"),
        };
        Alert {
            subject: cut(subject, SUBJECT_MAX),
            body: cut(body.to_owned(), BODY_MAX),
        }
    }
}

/// `snprintf`/`strncpy` into a fixed buffer (kept on a character boundary).
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let at = s.floor_char_boundary(max);
        s.truncate(at);
    }
    s
}

/// VRRP instance transitions (vrrp_notify.c `vrrp_smtp_notifier`): the
/// subject's last part and the body, or `None` for a state keepalived
/// never mails about.
pub fn vrrp_instance_text(state: &str) -> Option<(&'static str, &'static str)> {
    Some(match state {
        "MASTER" => (
            "Entering MASTER state",
            "=> VRRP Instance is now owning VRRP VIPs <=",
        ),
        "BACKUP" => (
            "Entering BACKUP state",
            "=> VRRP Instance is no longer owning VRRP VIPs <=",
        ),
        "FAULT" => (
            "Entering FAULT state",
            "=> VRRP Instance is no longer owning VRRP VIPs <=",
        ),
        "STOP" => ("Stopping", "=> VRRP Instance stopping <="),
        "DELETED" => ("Deleted", "=> VRRP Deleted at reload <="),
        _ => return None,
    })
}

/// Sync group transitions (vrrp_notify.c `vrrp_sync_smtp_notifier`).
pub fn vrrp_group_text(state: &str) -> Option<(&'static str, &'static str)> {
    Some(match state {
        "MASTER" => (
            "Entering MASTER state",
            "=> All VRRP group instances are now in MASTER state <=",
        ),
        "BACKUP" => (
            "Entering BACKUP state",
            "=> All VRRP group instances are now in BACKUP state <=",
        ),
        "FAULT" => (
            "Entering FAULT state",
            "=> All VRRP group instances are now in FAULT state <=",
        ),
        "STOP" => (
            "Stopping",
            "=> All VRRP group instances are now stopping <=",
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer(to: &[&str]) -> Mailer {
        Mailer {
            server: "127.0.0.1:25".parse().unwrap(),
            server_name: "[127.0.0.1]:25".into(),
            helo: "lb1.example.com".into(),
            from: "kv@example.com".into(),
            to: to.iter().map(|s| s.to_string()).collect(),
            router_id: "lb1".into(),
            timeout: DEFAULT_TIMEOUT,
            log_detail: false,
        }
    }

    /// Golden: the DATA payload Debian's keepalived 2.2.7 sent for a sync
    /// group entering BACKUP (captured by an SMTP sink in a namespace,
    /// `notification_email { a@example.com "B Person <b@example.com>" }`).
    #[test]
    fn group_backup_message_as_keepalived_sends_it() {
        let m = mailer(&["a@example.com", "B Person <b@example.com>", "c@example.com"]);
        let (what, body) = vrrp_group_text("BACKUP").unwrap();
        let a = Alert::new("kvr", About::Group("G1"), what, body);
        assert_eq!(
            data_text(
                "Sat, 21 Nov 2026 11:36:27 +0000",
                &m.from,
                &m.to_header(),
                &a
            ),
            "Date: Sat, 21 Nov 2026 11:36:27 +0000\r\n\
             From: kv@example.com\r\n\
             Subject: [kvr] VRRP Group G1 - Entering BACKUP state\r\n\
             X-Mailer: Keepalived\r\n\
             To: a@example.com, B Person <b@example.com>, c@example.com\r\n\
             \r\n\
             => All VRRP group instances are now in BACKUP state <=\r\n\
             \r\n\
             .\r\n"
        );
    }

    #[test]
    fn instance_subjects_and_bodies() {
        let cases = [
            (
                "MASTER",
                "[lb1] VRRP Instance VI_1 - Entering MASTER state",
                "=> VRRP Instance is now owning VRRP VIPs <=",
            ),
            (
                "BACKUP",
                "[lb1] VRRP Instance VI_1 - Entering BACKUP state",
                "=> VRRP Instance is no longer owning VRRP VIPs <=",
            ),
            (
                "FAULT",
                "[lb1] VRRP Instance VI_1 - Entering FAULT state",
                "=> VRRP Instance is no longer owning VRRP VIPs <=",
            ),
            (
                "STOP",
                "[lb1] VRRP Instance VI_1 - Stopping",
                "=> VRRP Instance stopping <=",
            ),
            (
                "DELETED",
                "[lb1] VRRP Instance VI_1 - Deleted",
                "=> VRRP Deleted at reload <=",
            ),
        ];
        for (state, subject, body) in cases {
            let (w, b) = vrrp_instance_text(state).unwrap();
            let a = Alert::new("lb1", About::Instance("VI_1"), w, b);
            assert_eq!((a.subject.as_str(), a.body.as_str()), (subject, body));
        }
        assert_eq!(vrrp_instance_text("INIT"), None);
        assert_eq!(vrrp_group_text("DELETED"), None);
    }

    #[test]
    fn checker_subjects() {
        let a = Alert::new(
            "lb1",
            About::RealServer {
                rs: "[10.0.0.2]:tcp:80",
                vs: "[192.0.2.1]:tcp:80",
            },
            "DOWN",
            "=> TCP CHECK failed on service <=",
        );
        assert_eq!(
            a.subject,
            "[lb1] Realserver [10.0.0.2]:tcp:80 of virtual server [192.0.2.1]:tcp:80 - DOWN"
        );
        let a = Alert::new(
            "lb1",
            About::VirtualServer("FWM 5"),
            "UP",
            "=> Gained quorum 1+0=1 <= 2 <=",
        );
        assert_eq!(a.subject, "[lb1] Virtualserver FWM 5 - UP");
    }

    #[test]
    fn subject_and_body_are_cut_like_keepalived_buffers() {
        let long = "x".repeat(600);
        let a = Alert::new("lb1", About::Instance(&long), "Stopping", &long);
        assert_eq!(a.subject.len(), 255);
        assert!(a.subject.starts_with("[lb1] VRRP Instance xxx"));
        assert_eq!(a.body.len(), 511);
    }

    /// build_to_header_rcpt_addrs: 1023 bytes; an address that does not
    /// fit ends the list, after its ", " separator.
    #[test]
    fn to_header_stops_at_keepalived_buffer() {
        let a = "a".repeat(500);
        let b = "b".repeat(500);
        let c = "c".repeat(100);
        let m = mailer(&[&a, &b, &c]);
        assert_eq!(m.to_header(), format!("{a}, {b}, "));
        let m = mailer(&["x@y"]);
        assert_eq!(m.to_header(), "x@y");
    }

    fn global(extra: &str) -> GlobalDefs {
        kaconf::parse_str(
            &format!(
                "global_defs {{\n notification_email {{\n ops@example.com \"Ops <o2@example.com>\"\n }}\n{extra}}}\n"
            ),
            &kaconf::Options::default(),
        )
        .config
        .global_defs
    }

    #[test]
    fn defaults_follow_keepalived_init_global_data() {
        let g = global(" smtp_server 127.0.0.1\n");
        let m = Mailer::from_config(&g, || Some("lb1.example.com".into()), false).unwrap();
        assert_eq!(m.to, ["ops@example.com", "Ops <o2@example.com>"]);
        assert_eq!(m.server_name, "[127.0.0.1]:25");
        assert_eq!(m.helo, "lb1.example.com");
        assert_eq!(m.router_id, "lb1.example.com");
        assert!(m.from.ends_with("@lb1.example.com"), "{}", m.from);
        assert_eq!(m.timeout, Duration::from_secs(30));

        // No local name: "[unknown]" router id, HELO localhost, From (null).
        let m = Mailer::from_config(&g, || None, false).unwrap();
        assert_eq!(
            (m.router_id.as_str(), m.helo.as_str(), m.from.as_str()),
            ("[unknown]", "localhost", "(null)")
        );

        let g = global(
            " smtp_server fd00::25 2525\n smtp_helo_name mx-helo\n router_id R1\n notification_email_from a@b\n smtp_connect_timeout 0\n",
        );
        let m = Mailer::from_config(&g, || panic!("local name not needed"), true).unwrap();
        assert_eq!(m.server_name, "[fd00::25]:2525");
        assert_eq!(
            (m.router_id.as_str(), m.helo.as_str(), m.from.as_str()),
            ("R1", "mx-helo", "a@b")
        );
        assert_eq!(m.timeout, Duration::from_secs(1));
    }

    #[test]
    fn nothing_to_send_without_server_or_recipients() {
        assert_eq!(Mailer::from_config(&global(""), || None, false), None);
        let g = kaconf::parse_str(
            "global_defs {\n smtp_server 127.0.0.1\n}\n",
            &kaconf::Options::default(),
        )
        .config
        .global_defs;
        assert_eq!(Mailer::from_config(&g, || None, false), None);
    }

    #[test]
    fn date_is_rfc822_in_c_locale() {
        let d = rfc822_now();
        // "Sat, 21 Nov 2026 11:36:27 +0000"
        assert_eq!(d.len(), 31, "{d}");
        assert_eq!(&d[3..5], ", ");
        assert!(d[26..].starts_with(['+', '-']), "{d}");
    }
}
