//! The tokio side of an alert: one TCP connection to `smtp_server`, driven
//! by [`Session`]. Every wait (the connection, each reply) is bounded by
//! `smtp_connect_timeout`, as in keepalived. Alerts run as their own tasks
//! ([`spawn`]), so a slow or dead mail server never holds up the loop that
//! raised them; their failures are only logged, with keepalived's lines.

use std::os::fd::AsRawFd;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::time::timeout;
use tracing::info;

use super::message::{Alert, Mailer, rfc822_now};
use super::session::{Next, Session, Step};

/// Sends `alert` in the background (on the current runtime).
pub fn spawn(m: &Arc<Mailer>, alert: Alert) {
    tokio::spawn(send(Arc::clone(m), alert));
}

fn log(step: &Step) {
    for l in &step.logs {
        info!("{}", l.text);
    }
}

/// Sends one alert; returns when the session is over, whatever its outcome.
pub async fn send(m: Arc<Mailer>, alert: Alert) {
    let sock = match m.server {
        std::net::SocketAddr::V4(_) => TcpSocket::new_v4(),
        std::net::SocketAddr::V6(_) => TcpSocket::new_v6(),
    };
    // keepalived gives up silently when it cannot even get a socket.
    let Ok(sock) = sock else { return };
    let fd = sock.as_raw_fd();
    let mut stream = match timeout(m.timeout, sock.connect(m.server)).await {
        Err(_) => {
            info!(
                "Timeout opening connection to remote SMTP server {}.",
                m.server_name
            );
            return;
        }
        // A failure the connect call itself reports (no route to the
        // network) ends keepalived's attempt without a word; one reported
        // later through the socket is its poller's "write error".
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NetworkUnreachable => return,
        Ok(Err(_)) => {
            info!("smtp fd {fd} returned write error");
            return;
        }
        Ok(Ok(s)) => s,
    };
    let mut session = Session::new(&m, alert);
    let mut step = session.connected();
    loop {
        log(&step);
        match &step.next {
            Next::Close => return,
            Next::Read => {}
            Next::Send(bytes) => {
                if stream.write_all(bytes).await.is_err() {
                    info!("Cannot send data to remote SMTP server {}.", m.server_name);
                    return;
                }
            }
        }
        let mut buf = vec![0; session.read_room()];
        step = match timeout(m.timeout, stream.read(&mut buf)).await {
            Err(_) => session.read_timeout(rfc822_now),
            Ok(Ok(0)) => session.closed(),
            Ok(Ok(n)) => session.received(&buf[..n], rfc822_now),
            Ok(Err(_)) => {
                info!("smtp fd {fd} returned read error");
                return;
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::message::About;
    use super::*;
    use std::time::Duration;
    use tokio::net::TcpListener;

    fn mailer(server: std::net::SocketAddr, t: Duration) -> Arc<Mailer> {
        Arc::new(Mailer {
            server,
            server_name: super::super::message::server_name(&server),
            helo: "h".into(),
            from: "f@x".into(),
            to: vec!["t@x".into()],
            router_id: "r".into(),
            timeout: t,
            log_detail: false,
        })
    }

    fn alert() -> Alert {
        Alert::new("r", About::Group("G"), "Entering FAULT state", "body")
    }

    /// A loopback sink: records what the client sent, answers each
    /// command; returns the transcript when the client hangs up.
    async fn sink(l: TcpListener) -> String {
        let (mut c, _) = l.accept().await.unwrap();
        c.write_all(b"220 hi\r\n").await.unwrap();
        let mut seen = Vec::new();
        let mut in_data = false;
        let mut buf = [0u8; 4096];
        loop {
            let n = c.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let reply: &[u8] = if in_data {
                in_data = false;
                b"250 queued\r\n"
            } else if text.starts_with("DATA") {
                in_data = true;
                b"354 go\r\n"
            } else if text.starts_with("QUIT") {
                c.write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else {
                b"250 ok\r\n"
            };
            c.write_all(reply).await.unwrap();
        }
        String::from_utf8(seen).unwrap()
    }

    #[tokio::test]
    async fn delivers_over_loopback() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let m = mailer(l.local_addr().unwrap(), Duration::from_secs(5));
        let server = tokio::spawn(sink(l));
        send(m, alert()).await;
        let t = server.await.unwrap();
        assert!(
            t.starts_with("HELO h\r\nMAIL FROM:<f@x>\r\nRCPT TO:<t@x>\r\nDATA\r\nDate: "),
            "{t}"
        );
        assert!(t.contains("\r\nSubject: [r] VRRP Group G - Entering FAULT state\r\nX-Mailer: Keepalived\r\nTo: t@x\r\n\r\nbody\r\n\r\n.\r\nQUIT\r\n"), "{t}");
    }

    /// A server that never answers: the greeting wait times out, QUIT is
    /// sent, and the second timeout ends the session.
    #[tokio::test(start_paused = true)]
    async fn silent_server_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let m = mailer(l.local_addr().unwrap(), Duration::from_secs(3));
        let server = tokio::spawn(async move {
            let (mut c, _) = l.accept().await.unwrap();
            let mut b = Vec::new();
            let _ = c.read_to_end(&mut b).await;
            b
        });
        send(m, alert()).await;
        assert_eq!(server.await.unwrap(), b"QUIT\r\n");
    }

    #[tokio::test]
    async fn refused_connection_ends_quietly() {
        // Bind then drop: nothing listens on that port any more.
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        tokio::time::timeout(
            Duration::from_secs(5),
            send(mailer(addr, Duration::from_secs(3)), alert()),
        )
        .await
        .expect("a refused connection must end the session");
    }
}
