//! A tiny SMTP sink for tests: records what clients send, session by
//! session, and answers as a mail server would (see [`Mode`]).

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the sink behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Greets with a multi-line 220 (the client must wait for its last
    /// line), accepts everything, answers QUIT with 221 and closes.
    Accept,
    /// As Accept, but refuses the recipient `third@example.com` (550).
    RejectRcpt,
    /// Accepts the connection and never says a word.
    Silent,
    /// No sink: connections are refused.
    Absent,
}

/// An SMTP sink on a listener the test bound (see [`Mode`]).
pub struct Sink {
    stop: Arc<AtomicBool>,
    sessions: Arc<Mutex<Vec<String>>>,
    accept: Option<JoinHandle<()>>,
}

impl Sink {
    pub fn start(listener: TcpListener, mode: Mode) -> Sink {
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let (st, se) = (stop.clone(), sessions.clone());
        let accept = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((c, _)) => {
                        let se = se.clone();
                        std::thread::spawn(move || {
                            let t = serve(c, mode);
                            se.lock().unwrap().push(t);
                        });
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
        });
        Sink {
            stop,
            sessions,
            accept: Some(accept),
        }
    }

    pub fn sessions(&self) -> Vec<String> {
        self.sessions.lock().unwrap().clone()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// One session's transcript: `C: line` for each command, `D: line` for
/// each line of the message (Date masked), `<eof>` if the client hung up
/// instead of quitting.
pub fn serve(mut c: TcpStream, mode: Mode) -> String {
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut t = String::new();
    if mode == Mode::Silent {
        let mut all = Vec::new();
        let _ = c.read_to_end(&mut all);
        for l in String::from_utf8_lossy(&all).split_terminator("\r\n") {
            t.push_str(&format!("C: {l}\n"));
        }
        t.push_str("<eof>\n");
        return t;
    }
    let _ = c.write_all(b"220-kv sink\r\n220 ESMTP ready\r\n");
    let mut buf = Vec::new();
    let mut data = false;
    let mut chunk = [0u8; 4096];
    loop {
        let n = match c.read(&mut chunk) {
            Ok(0) | Err(_) => {
                t.push_str("<eof>\n");
                return t;
            }
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            if data {
                let Some(end) = find(&buf, b"\r\n.\r\n") else {
                    break;
                };
                let msg = String::from_utf8_lossy(&buf[..end]).into_owned();
                for l in msg.split("\r\n") {
                    let l = if l.starts_with("Date: ") {
                        "Date: <masked>"
                    } else {
                        l
                    };
                    t.push_str(&format!("D: {l}\n"));
                }
                buf.drain(..end + 5);
                data = false;
                let _ = c.write_all(b"250 2.0.0 queued\r\n");
                continue;
            }
            let Some(eol) = find(&buf, b"\r\n") else {
                break;
            };
            let line = String::from_utf8_lossy(&buf[..eol]).into_owned();
            buf.drain(..eol + 2);
            t.push_str(&format!("C: {line}\n"));
            if line == "DATA" {
                data = true;
                let _ = c.write_all(b"354 go ahead\r\n");
            } else if mode == Mode::RejectRcpt && line == "RCPT TO:<third@example.com>" {
                let _ = c.write_all(b"550 5.1.1 no such user\r\n");
            } else if line == "QUIT" {
                let _ = c.write_all(b"221 bye\r\n");
                return t;
            } else {
                let _ = c.write_all(b"250 ok\r\n");
            }
        }
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}
