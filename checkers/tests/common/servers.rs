//! Small real servers for the checkers to probe: HTTP (plain and chunked,
//! plus misbehaving paths), HTTPS with a self-signed certificate, SMTP,
//! DNS, UDP echo. Each binds where it is told and serves until dropped
//! with its runtime.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};

pub const OK_BODY: &[u8] = b"hello world\n";
pub const OK_MD5: &str = "6f5902ac237024bdd0c176cb93063dc4";
pub const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n world\n\r\n0\r\n\r\n";
/// MD5 of the raw chunked body (`5\r\nhello\r\n7\r\n world\n\r\n0\r\n\r\n`).
pub const CHUNKED_RAW_BODY: &[u8] = b"5\r\nhello\r\n7\r\n world\n\r\n0\r\n\r\n";

async fn serve_http<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let req = String::from_utf8_lossy(&buf).into_owned();
    let path = req.split(' ').nth(1).unwrap_or("/").to_owned();
    let reply: Vec<u8> = match path.as_str() {
        "/ok" | "/" => [
            b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n".as_slice(),
            OK_BODY,
        ]
        .concat(),
        "/chunked" => CHUNKED.to_vec(),
        "/404" => b"HTTP/1.0 404 Not Found\r\n\r\nnope".to_vec(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        "/cut" => {
            // closes in the middle of the header block
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Le").await;
            let _ = s.shutdown().await;
            return;
        }
        "/hang" => {
            let _ = s
                .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\npartial")
                .await;
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        "/echo" => {
            let body = req.clone().into_bytes();
            [
                format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes(),
                body,
            ]
            .concat()
        }
        _ => b"HTTP/1.0 500 Oops\r\n\r\n".to_vec(),
    };
    let _ = s.write_all(&reply).await;
    let _ = s.shutdown().await;
}

pub async fn http(addr: &str) -> SocketAddr {
    let l = TcpListener::bind(addr).await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve_http(s));
        }
    });
    a
}

/// A self-signed certificate for `kc.test` (PEM cert, PEM key).
pub fn self_signed() -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["kc.test".to_owned()]).unwrap();
    (ck.cert.pem(), ck.signing_key.serialize_pem())
}

/// HTTPS with the given certificate; records the SNI names it saw.
pub async fn https(
    addr: &str,
    cert_pem: &str,
    key_pem: &str,
) -> (SocketAddr, Arc<std::sync::Mutex<Vec<Option<String>>>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind(addr).await.unwrap();
    let a = l.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    seen.lock()
                        .unwrap()
                        .push(tls.get_ref().1.server_name().map(str::to_owned));
                    serve_http(tls).await;
                }
            });
        }
    });
    (a, seen)
}

/// SMTP: `greeting` first (e.g. "220 kc ESMTP"), then 250 to HELO, 221 to QUIT.
pub async fn smtp(
    addr: &str,
    greeting: &'static str,
) -> (SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    let l = TcpListener::bind(addr).await.unwrap();
    let a = l.local_addr().unwrap();
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let lines2 = lines.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let lines = lines2.clone();
            tokio::spawn(async move {
                let mut s = BufReader::new(s);
                let _ = s
                    .get_mut()
                    .write_all(format!("{greeting}\r\n").as_bytes())
                    .await;
                let mut line = String::new();
                while s.read_line(&mut line).await.unwrap_or(0) > 0 {
                    lines.lock().unwrap().push(line.trim_end().to_owned());
                    let reply: &[u8] = if line.starts_with("HELO") {
                        b"250 kc.test\r\n"
                    } else if line.starts_with("QUIT") {
                        b"221 bye\r\n"
                    } else {
                        b"500 what\r\n"
                    };
                    let _ = s.get_mut().write_all(reply).await;
                    line.clear();
                }
            });
        }
    });
    (a, lines)
}

/// DNS: answers every query NoError with an A record, except names under
/// `nx.` which get NXDomain.
pub async fn dns(addr: &str) -> SocketAddr {
    use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
    use hickory_proto::rr::{RData, Record, rdata::A};
    let s = UdpSocket::bind(addr).await.unwrap();
    let a = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::response(q.metadata.id, OpCode::Query);
            r.metadata.message_type = MessageType::Response;
            let name = q.queries.first().map(|q| q.name().clone());
            if let Some(qq) = q.queries.first() {
                r.add_query(qq.clone());
            }
            if name
                .as_ref()
                .is_some_and(|n| n.to_ascii().starts_with("nx."))
            {
                r.metadata.response_code = ResponseCode::NXDomain;
            } else if let Some(n) = name {
                r.answers
                    .push(Record::from_rdata(n, 60, RData::A(A::new(192, 0, 2, 53))));
            }
            let _ = s.send_to(&r.to_vec().unwrap(), from).await;
        }
    });
    a
}

/// UDP echo (what UDP_CHECK with require_reply expects back).
pub async fn udp_echo(addr: &str) -> SocketAddr {
    let s = UdpSocket::bind(addr).await.unwrap();
    let a = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let _ = s.send_to(&buf[..n], from).await;
        }
    });
    a
}
