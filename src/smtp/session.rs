//! The SMTP dialogue of one alert as a sans-IO state machine, following
//! keepalived 2.2.7's `SMTP_FSM` (core/smtp.c): wait for 220, then
//! `HELO` → 250, `MAIL FROM:<from>` → 250, one `RCPT TO:<addr>` → 250 per
//! recipient, `DATA` → 354, the message → 250, `QUIT` → 221. Any other
//! code logs "Error processing ..." and jumps to QUIT. No sockets, no
//! clock: the driver feeds what it read and the timeouts it saw, and
//! sends what it is told.
//!
//! Reply parsing is keepalived's, quirks included: a read is scanned for
//! its first line that is not a continuation (`NNN-`), whose first three
//! bytes are the code; what follows stays buffered for the next read; the
//! buffer holds at most 1023 bytes of an unfinished reply.

use super::message::{Alert, Mailer};

/// smtp.c `SMTP_BUFFER_MAX`.
pub const BUFFER_MAX: usize = 1024;

/// keepalived's stages, in order (`connect_success` is [`Stage::Greeting`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Greeting,
    Helo,
    Mail,
    Rcpt,
    Data,
    Body,
    Quit,
    End,
}

impl Stage {
    /// The reply code the stage waits for, and its name in the error line.
    fn expects(self) -> (i32, &'static str) {
        match self {
            Stage::Greeting => (220, "(E)SMTP"),
            Stage::Helo => (250, "HELO"),
            Stage::Mail => (250, "MAIL"),
            Stage::Rcpt => (250, "RCPT"),
            Stage::Data => (354, "DATA"),
            Stage::Body => (250, "BODY"),
            Stage::Quit | Stage::End => (221, "QUIT"),
        }
    }

    fn next(self) -> Stage {
        match self {
            Stage::Greeting => Stage::Helo,
            Stage::Helo => Stage::Mail,
            Stage::Mail => Stage::Rcpt,
            Stage::Rcpt => Stage::Data,
            Stage::Data => Stage::Body,
            Stage::Body => Stage::Quit,
            Stage::Quit | Stage::End => Stage::End,
        }
    }
}

/// A log line keepalived writes (at INFO); `detail` ones only with `-D`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub detail: bool,
    pub text: String,
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Read again (with the reply timeout).
    Read,
    /// Send these bytes, then read.
    Send(Vec<u8>),
    /// Close the connection; the alert is done (sent or not).
    Close,
}

/// One step's result: log lines first, then the next move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub logs: Vec<Log>,
    pub next: Next,
}

impl Step {
    fn new(logs: Vec<Log>, next: Next) -> Step {
        Step { logs, next }
    }
}

/// One alert's SMTP session.
#[derive(Debug)]
pub struct Session {
    stage: Stage,
    /// Index of the next `RCPT TO` recipient.
    rcpt: usize,
    buf: Vec<u8>,
    helo: String,
    from: String,
    to: Vec<String>,
    server: String,
    detail: bool,
    /// The message without its Date header, which keepalived stamps when
    /// it sends the body.
    alert: Alert,
    mailer_to_header: String,
}

fn info(text: String) -> Log {
    Log {
        detail: false,
        text,
    }
}

impl Session {
    pub fn new(m: &Mailer, alert: Alert) -> Session {
        Session {
            stage: Stage::Greeting,
            rcpt: 0,
            buf: Vec::with_capacity(BUFFER_MAX),
            helo: m.helo.clone(),
            from: m.from.clone(),
            to: m.to.clone(),
            server: m.server_name.clone(),
            detail: m.log_detail,
            alert,
            mailer_to_header: m.to_header(),
        }
    }

    /// How many bytes the next read may take (keepalived reads into what
    /// is left of its 1024-byte buffer).
    pub fn read_room(&self) -> usize {
        BUFFER_MAX - self.buf.len()
    }

    /// The TCP connection is up: wait for the greeting.
    pub fn connected(&mut self) -> Step {
        let mut logs = Vec::new();
        if self.detail {
            logs.push(Log {
                detail: true,
                text: format!("Remote SMTP server {} connected.", self.server),
            });
        }
        self.stage = Stage::Greeting;
        Step::new(logs, Next::Read)
    }

    /// The peer closed the connection (a read of 0 bytes).
    pub fn closed(&mut self) -> Step {
        Step::new(
            vec![info(format!(
                "Remote SMTP server {} has closed the connection.",
                self.server
            ))],
            Next::Close,
        )
    }

    /// No reply within the timeout: QUIT, or give up if that was QUIT.
    pub fn read_timeout(&mut self, date: impl FnOnce() -> String) -> Step {
        let logs = vec![info(format!(
            "Timeout reading data to remote SMTP server {}.",
            self.server
        ))];
        if self.stage == Stage::Quit {
            return Step::new(logs, Next::Close);
        }
        self.stage = Stage::Quit;
        self.send(logs, date)
    }

    /// `data` was read (at most [`Session::read_room`] bytes, not empty).
    /// `date` stamps the message if this step sends it.
    pub fn received(&mut self, data: &[u8], date: impl FnOnce() -> String) -> Step {
        let mut logs = Vec::new();
        if self.buf.len() + data.len() >= BUFFER_MAX {
            logs.push(info(format!(
                "Received buffer from remote SMTP server {} overflow our get read buffer length.",
                self.server
            )));
            self.buf.clear();
            self.stage = Stage::Quit;
            return self.send(logs, date);
        }
        self.buf.extend_from_slice(data);

        // The first complete line that is not a continuation gives the code.
        let mut pos = 0;
        let mut status = None;
        while pos < self.buf.len() {
            let Some(eol) = find_crlf(&self.buf[pos..]) else {
                // An unfinished line: keep it (and only it) for later.
                self.buf.drain(..pos);
                return Step::new(logs, Next::Read);
            };
            let at = |i: usize| self.buf.get(pos + i).copied().unwrap_or(0);
            if at(3) == b'-' {
                pos += eol + 2;
                continue;
            }
            // C's ((r[0]-'0')*100 + ...), whatever the bytes are.
            let digit = |i: usize| i32::from(at(i)) - i32::from(b'0');
            status = Some(digit(0) * 100 + digit(1) * 10 + digit(2));
            pos += eol + 2;
            break;
        }
        self.buf.drain(..pos.min(self.buf.len()));
        let Some(status) = status else {
            return Step::new(logs, Next::Read);
        };

        let (expected, name) = self.stage.expects();
        if status == expected {
            match self.stage {
                Stage::Rcpt => {
                    if self.rcpt >= self.to.len() {
                        self.stage = self.stage.next();
                    }
                }
                Stage::Body => {
                    if self.detail {
                        logs.push(Log {
                            detail: true,
                            text: "SMTP alert successfully sent.".to_owned(),
                        });
                    }
                    self.stage = self.stage.next();
                }
                Stage::Quit => self.stage = Stage::End,
                s => self.stage = s.next(),
            }
        } else {
            logs.push(info(format!(
                "Error processing {name} cmd on SMTP server {}. SMTP status code = {status}",
                self.server
            )));
            self.stage = Stage::Quit;
        }
        if self.stage == Stage::End {
            return Step::new(logs, Next::Close);
        }
        self.send(logs, date)
    }

    /// The command of the current stage.
    fn send(&mut self, logs: Vec<Log>, date: impl FnOnce() -> String) -> Step {
        let cmd = match self.stage {
            Stage::Helo => format!("HELO {}\r\n", self.helo),
            Stage::Mail => format!("MAIL FROM:<{}>\r\n", self.from),
            Stage::Rcpt => {
                let addr = self.to.get(self.rcpt).cloned().unwrap_or_default();
                self.rcpt += 1;
                format!("RCPT TO:<{addr}>\r\n")
            }
            Stage::Data => "DATA\r\n".to_owned(),
            Stage::Body => {
                super::message::data_text(&date(), &self.from, &self.mailer_to_header, &self.alert)
            }
            Stage::Quit => "QUIT\r\n".to_owned(),
            // Nothing is sent while waiting for the greeting, and End
            // closes before getting here.
            Stage::Greeting | Stage::End => return Step::new(logs, Next::Read),
        };
        Step::new(logs, Next::Send(cmd.into_bytes()))
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::super::message::{About, Alert, Mailer};
    use super::*;

    fn mailer(detail: bool) -> Mailer {
        Mailer {
            server: "127.0.0.1:25".parse().unwrap(),
            server_name: "[127.0.0.1]:25".into(),
            helo: "vm".into(),
            from: "kv@example.com".into(),
            to: vec!["a@example.com".into(), "B Person <b@example.com>".into()],
            router_id: "kvr".into(),
            timeout: std::time::Duration::from_secs(3),
            log_detail: detail,
        }
    }

    fn session(detail: bool) -> Session {
        let a = Alert::new(
            "kvr",
            About::Instance("VI_1"),
            "Entering MASTER state",
            "=> VRRP Instance is now owning VRRP VIPs <=",
        );
        Session::new(&mailer(detail), a)
    }

    const DATE: &str = "Sat, 21 Nov 2026 11:36:30 +0000";

    fn sent(step: &Step) -> String {
        match &step.next {
            Next::Send(b) => String::from_utf8(b.clone()).unwrap(),
            other => panic!("expected a send, got {other:?}"),
        }
    }

    /// Golden: the client side of the dialogue Debian's keepalived 2.2.7
    /// held with a sink for an instance entering MASTER, with `-D`.
    #[test]
    fn full_dialogue_as_keepalived() {
        let mut s = session(true);
        let st = s.connected();
        assert_eq!(
            st.logs[0].text,
            "Remote SMTP server [127.0.0.1]:25 connected."
        );
        assert_eq!(st.next, Next::Read);
        let mut client = String::new();
        for reply in [
            "220 sink ESMTP\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
        ] {
            client += &sent(&s.received(reply.as_bytes(), || DATE.into()));
        }
        client += &sent(&s.received(b"354 go\r\n", || DATE.into()));
        let st = s.received(b"250 ok queued\r\n", || DATE.into());
        assert_eq!(st.logs[0].text, "SMTP alert successfully sent.");
        client += &sent(&st);
        assert_eq!(s.received(b"221 bye\r\n", || DATE.into()).next, Next::Close);
        assert_eq!(
            client,
            "HELO vm\r\n\
             MAIL FROM:<kv@example.com>\r\n\
             RCPT TO:<a@example.com>\r\n\
             RCPT TO:<B Person <b@example.com>>\r\n\
             DATA\r\n\
             Date: Sat, 21 Nov 2026 11:36:30 +0000\r\n\
             From: kv@example.com\r\n\
             Subject: [kvr] VRRP Instance VI_1 - Entering MASTER state\r\n\
             X-Mailer: Keepalived\r\n\
             To: a@example.com, B Person <b@example.com>\r\n\
             \r\n\
             => VRRP Instance is now owning VRRP VIPs <=\r\n\
             \r\n\
             .\r\n\
             QUIT\r\n"
        );
    }

    #[test]
    fn without_detail_success_logs_nothing() {
        let mut s = session(false);
        assert!(s.connected().logs.is_empty());
        for r in [
            "220 x\r\n",
            "250 x\r\n",
            "250 x\r\n",
            "250 x\r\n",
            "250 x\r\n",
            "354 x\r\n",
            "250 x\r\n",
        ] {
            assert!(s.received(r.as_bytes(), || DATE.into()).logs.is_empty());
        }
        assert_eq!(s.received(b"221 x\r\n", || DATE.into()).next, Next::Close);
    }

    #[test]
    fn multiline_and_split_replies() {
        let mut s = session(false);
        s.connected();
        // Continuations are skipped; a reply split across reads waits.
        assert_eq!(
            s.received(b"220-first\r\n220-second\r\n22", || DATE.into())
                .next,
            Next::Read
        );
        assert_eq!(
            sent(&s.received(b"0 last\r\n", || DATE.into())),
            "HELO vm\r\n"
        );
        // An EHLO-style multi-line 250 is one reply.
        assert_eq!(
            sent(&s.received(b"250-mx\r\n250-SIZE 1\r\n250 OK\r\n", || DATE.into())),
            "MAIL FROM:<kv@example.com>\r\n"
        );
    }

    #[test]
    fn unexpected_code_logs_and_quits() {
        let mut s = session(false);
        s.connected();
        s.received(b"220 x\r\n", || DATE.into());
        s.received(b"250 x\r\n", || DATE.into());
        let st = s.received(b"550 no such user\r\n", || DATE.into());
        assert_eq!(
            st.logs[0].text,
            "Error processing MAIL cmd on SMTP server [127.0.0.1]:25. SMTP status code = 550"
        );
        assert_eq!(sent(&st), "QUIT\r\n");
        assert_eq!(s.received(b"221 x\r\n", || DATE.into()).next, Next::Close);

        let mut s = session(false);
        s.connected();
        let st = s.received(b"554 go away\r\n", || DATE.into());
        assert_eq!(
            st.logs[0].text,
            "Error processing (E)SMTP cmd on SMTP server [127.0.0.1]:25. SMTP status code = 554"
        );
        assert_eq!(sent(&st), "QUIT\r\n");
    }

    #[test]
    fn timeouts_quit_once() {
        let mut s = session(false);
        s.connected();
        let st = s.read_timeout(|| DATE.into());
        assert_eq!(
            st.logs[0].text,
            "Timeout reading data to remote SMTP server [127.0.0.1]:25."
        );
        assert_eq!(sent(&st), "QUIT\r\n");
        assert_eq!(s.read_timeout(|| DATE.into()).next, Next::Close);
    }

    #[test]
    fn closed_and_overflow() {
        let mut s = session(false);
        s.connected();
        let st = s.closed();
        assert_eq!(
            (st.logs[0].text.as_str(), &st.next),
            (
                "Remote SMTP server [127.0.0.1]:25 has closed the connection.",
                &Next::Close
            )
        );
        let mut s = session(false);
        s.connected();
        assert_eq!(s.received(&[b'x'; 1000], || DATE.into()).next, Next::Read);
        assert_eq!(s.read_room(), 24);
        let st = s.received(&[b'x'; 24], || DATE.into());
        assert_eq!(
            st.logs[0].text,
            "Received buffer from remote SMTP server [127.0.0.1]:25 overflow our get read buffer length."
        );
        assert_eq!(sent(&st), "QUIT\r\n");
    }

    /// Hostile replies (short lines, binary) never panic.
    #[test]
    fn garbage_never_panics() {
        for junk in [
            &b"\r\n"[..],
            b"2\r\n",
            b"\0\0\0\0\r\n",
            b"\xff\xfe\r\n\r\n",
            b"-\r\n",
        ] {
            let mut s = session(false);
            s.connected();
            let _ = s.received(junk, || DATE.into());
            let _ = s.received(junk, || DATE.into());
        }
    }
}
