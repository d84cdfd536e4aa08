//! One probe of each checker kind: open the socket the way the checker's
//! options say, talk, and say whether it worked. No retry logic and no
//! logging of verdicts here (see `task`); a failure carries keepalived's
//! wording for it, for the log lines that quote it.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::time::timeout;

use crate::config::{ConnOpts, DnsCfg, HttpCfg, TlsCfg, UdpCfg, UrlCfg};
use crate::http;

/// Why a connection attempt failed, in keepalived's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// `connect_timeout` expired.
    Timeout,
    /// Refused, unreachable or reset while connecting.
    Failed,
    /// Could not even create or bind the socket.
    Socket,
}

fn socket(conn: &ConnOpts, ty: Type, proto: Protocol) -> io::Result<Socket> {
    let domain = match conn.dst {
        SocketAddr::V4(_) => Domain::IPV4,
        SocketAddr::V6(_) => Domain::IPV6,
    };
    // SOCK_NONBLOCK|SOCK_CLOEXEC at creation: no fcntl round trips on the
    // hot path (thousands of probes a second)
    let s = Socket::new(domain, ty.nonblocking().cloexec(), Some(proto))?;
    // keepalived sets SO_LINGER 5 s on TCP checker sockets. We do not:
    // the wire is the same (queued data and FIN go out either way), but a
    // lingering close() blocks the calling thread until the FIN is acked,
    // up to 5 s for a dying server, stalling every other checker.
    if let Some(mark) = conn.fwmark {
        s.set_mark(mark)?;
    }
    if let Some(ifname) = &conn.bind_if {
        s.bind_device(Some(ifname.as_bytes()))?;
    }
    if conn.bindto.is_some() || conn.bind_port.is_some() {
        let ip = conn.bindto.unwrap_or(match conn.dst {
            SocketAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        });
        s.set_reuse_address(true)?;
        s.bind(&SocketAddr::new(ip, conn.bind_port.unwrap_or(0)).into())?;
    }
    Ok(s)
}

/// TCP connect honouring bindto/bind_port/bind_if/fwmark and the timeout.
pub async fn tcp_connect(conn: &ConnOpts) -> Result<TcpStream, ConnectError> {
    let s = socket(conn, Type::STREAM, Protocol::TCP).map_err(|_| ConnectError::Socket)?;
    let std_stream: std::net::TcpStream = s.into();
    let sock = TcpSocket::from_std_stream(std_stream);
    match timeout(conn.connect_timeout, sock.connect(conn.dst)).await {
        Err(_) => Err(ConnectError::Timeout),
        Ok(Err(_)) => Err(ConnectError::Failed),
        Ok(Ok(s)) => Ok(s),
    }
}

/// TCP_CHECK: success = connect completes in time.
pub async fn tcp(conn: &ConnOpts) -> Result<(), ConnectError> {
    tcp_connect(conn).await.map(drop)
}

/// Fetches `url` and returns the whole response (read until EOF, each
/// read bounded by `connect_timeout`, as keepalived does).
pub async fn http_fetch(
    cfg: &HttpCfg,
    url: &UrlCfg,
    conn: &ConnOpts,
    tls: Option<&Arc<rustls::ClientConfig>>,
    keep_body: Option<usize>,
) -> Result<http::Response, &'static str> {
    let stream = tcp_connect(conn).await.map_err(|e| match e {
        ConnectError::Timeout => "Timeout connecting",
        ConnectError::Failed => "Connection failed",
        ConnectError::Socket => "Error connecting",
    })?;
    let vhost = url.virtualhost.as_deref().or(cfg.virtualhost.as_deref());
    let req = http::request(&url.path, cfg.protocol, vhost, conn.dst);
    let reader = http::Reader::new(keep_body)
        .with_regex(url.regex.as_ref().and_then(crate::bodyregex::Scan::new));
    match (tls, &cfg.tls) {
        (Some(tls), Some(tcfg)) => {
            let sni = tcfg
                .enable_sni
                .then(|| url.virtualhost.clone().or_else(|| tcfg.sni_name.clone()))
                .flatten();
            let name = sni
                .and_then(|n| rustls::pki_types::ServerName::try_from(n).ok())
                .unwrap_or(rustls::pki_types::ServerName::IpAddress(
                    conn.dst.ip().into(),
                ));
            let connector = tokio_rustls::TlsConnector::from(tls.clone());
            let s = match timeout(conn.connect_timeout, connector.connect(name, stream)).await {
                Err(_) => return Err("Timeout connecting"),
                Ok(Err(_)) => return Err("SSL handshake/communication error connecting to"),
                Ok(Ok(s)) => s,
            };
            exchange(
                s,
                &req,
                conn.connect_timeout,
                reader,
                "Timeout SSL read",
                "SSL read error from",
            )
            .await
        }
        _ => {
            exchange(
                stream,
                &req,
                conn.connect_timeout,
                reader,
                "Timeout HTTP read",
                "Read error with",
            )
            .await
        }
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    req: &[u8],
    to: Duration,
    mut reader: http::Reader,
    read_timeout: &'static str,
    read_error: &'static str,
) -> Result<http::Response, &'static str> {
    match timeout(to, s.write_all(req)).await {
        Err(_) => return Err("Timeout WEB write"),
        Ok(Err(_)) => return Err("Cannot send get request to"),
        Ok(Ok(())) => {}
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut got_any = false;
    loop {
        match timeout(to, s.read(&mut buf)).await {
            // keepalived waits for the first byte in http_response_thread
            // ("WEB"), for the rest in the http/ssl read threads
            Err(_) if !got_any => return Err("Timeout WEB read"),
            Err(_) => return Err(read_timeout),
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => {
                got_any = true;
                reader.feed(&buf[..n]);
            }
            // A TLS peer closing without close_notify is EOF to keepalived.
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Ok(Err(_)) => return Err(read_error),
        }
    }
    Ok(reader.finish())
}

/// Judges a fetched response against a url block; `Err` carries
/// keepalived's failure wording, `Ok` the success wording.
pub fn judge(url: &UrlCfg, resp: &http::Response) -> Result<&'static str, &'static str> {
    if !resp.got_header {
        return Err("Read, no data received from ");
    }
    if !url.status_ok(resp.status) {
        return Err("HTTP status code error to");
    }
    let mut msg = "HTTP status code";
    if let Some(d) = url.digest {
        if d != resp.digest {
            return Err("MD5 digest error to");
        }
        msg = "MD5 digest";
    }
    // A pattern that did not compile leaves keepalived's url with a freed
    // regex: its checker process crashes at the first check and is
    // respawned in a loop, so no real server is ever judged. Failing the
    // url instead would take every real server of a mistyped pattern out
    // of the pool; the url is checked without it (the daemon says so).
    if let Some(re) = url.regex.as_ref().filter(|r| r.compiled.is_ok()) {
        if resp.regex_matched.unwrap_or(false) == re.no_match {
            return Err("Regex match failed");
        }
        msg = "Regex match";
    }
    Ok(msg)
}

/// A certificate verifier that accepts anything: keepalived's SSL_GET
/// never asks OpenSSL to verify the server.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Verifies the chain against the configured CA but, like a client that
/// loaded a CA file without asking for host checks, not the name.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        ee: &rustls::pki_types::CertificateDer<'_>,
        im: &[rustls::pki_types::CertificateDer<'_>],
        name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(ee, im, name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Builds the TLS client configuration of an SSL_GET checker.
pub fn tls_config(cfg: &TlsCfg) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match (&cfg.ca, cfg.verify) {
        (Some(ca), true) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in
                CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))?
            {
                roots
                    .add(c.map_err(|e| format!("{}: {e}", ca.display()))?)
                    .map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            let v = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| e.to_string())?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(v)))
        }
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider))),
    };
    let config = match (&cfg.certificate, &cfg.key) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .map_err(|e| format!("{}: {e}", cert.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{}: {e}", cert.display()))?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| e.to_string())?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// SMTP_CHECK dialogue on one host: 220 banner, HELO → 250, QUIT (any
/// answer). `Err` is keepalived's message with `%s` already filled.
pub async fn smtp(conn: &ConnOpts, helo: &str) -> Result<(), String> {
    let host = pair(conn.dst);
    let stream = tcp_connect(conn).await.map_err(|e| match e {
        ConnectError::Timeout => format!("Connection timeout to server {host}"),
        ConnectError::Failed => format!("Could not connect to server {host}"),
        ConnectError::Socket => format!("Error connecting to server {host}"),
    })?;
    let to = conn.connect_timeout;
    let mut s = BufReader::new(stream);
    let mut line = String::new();
    let read = async |s: &mut BufReader<TcpStream>, line: &mut String| -> Result<i32, String> {
        line.clear();
        let mut raw = Vec::new();
        match timeout(to, s.read_until(b'\n', &mut raw)).await {
            Err(_) => Err(format!("Read timeout from server {host}")),
            Ok(Ok(0)) | Ok(Err(_)) => Err(format!("Read failure from server {host}")),
            Ok(Ok(_)) => {
                *line = String::from_utf8_lossy(&raw).into_owned();
                Ok(smtp_status(&raw))
            }
        }
    };
    if read(&mut s, &mut line).await? != 220 {
        return Err(format!("Bad greeting banner from server {host}"));
    }
    write_line(&mut s, format!("HELO {helo}\r\n").as_bytes(), to, &host).await?;
    if read(&mut s, &mut line).await? != 250 {
        return Err(format!("Bad HELO response from server {host}"));
    }
    write_line(&mut s, b"QUIT\r\n", to, &host).await?;
    read(&mut s, &mut line).await?;
    Ok(())
}

async fn write_line(
    s: &mut BufReader<TcpStream>,
    data: &[u8],
    to: Duration,
    host: &str,
) -> Result<(), String> {
    match timeout(to, s.get_mut().write_all(data)).await {
        Err(_) => Err(format!("Write timeout to server {host}")),
        Ok(Err(_)) => Err(format!("Write failure to server {host}")),
        Ok(Ok(())) => Ok(()),
    }
}

/// check_smtp.c `smtp_get_status`: three digits then a space or the end.
fn smtp_status(line: &[u8]) -> i32 {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let n = line.iter().take_while(|b| b.is_ascii_digit()).count();
    if n != 3 || !matches!(line.get(3), None | Some(b' ')) {
        return -1;
    }
    line[..3]
        .iter()
        .fold(0, |a, d| a * 10 + i32::from(d - b'0'))
}

/// keepalived's `inet_sockaddrtopair`: `[addr]:port`.
pub fn pair(sa: SocketAddr) -> String {
    format!("[{}]:{}", sa.ip(), sa.port())
}

async fn udp_socket(conn: &ConnOpts) -> io::Result<UdpSocket> {
    let s = socket(conn, Type::DGRAM, Protocol::UDP)?;
    let s = UdpSocket::from_std(s.into())?;
    s.connect(conn.dst).await?;
    Ok(s)
}

/// DNS_CHECK: one query with RD set; success = a response with our id and
/// rcode 0. `Err` is the text after `DNS_CHECK (%s) `.
pub async fn dns(conn: &ConnOpts, cfg: &DnsCfg) -> Result<(), String> {
    use hickory_proto::op::{Message, MessageType, Query};
    use hickory_proto::rr::{Name, RecordType};
    let s = udp_socket(conn)
        .await
        .map_err(|_| "connection error.".to_owned())?;
    let qtype: RecordType = cfg.qtype.parse().unwrap_or(RecordType::SOA);
    let name = if cfg.name.is_empty() || cfg.name == "." {
        Name::root()
    } else {
        Name::from_ascii(&cfg.name).map_err(|e| format!("bad name: {e}"))?
    };
    let mut q = Message::query();
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(name, qtype));
    let id = q.metadata.id;
    let bytes = q.to_vec().map_err(|e| e.to_string())?;
    match timeout(conn.connect_timeout, s.send(&bytes)).await {
        Err(_) => return Err("write timeout to socket.".into()),
        Ok(Err(_)) => return Err("failed to write socket.".into()),
        Ok(Ok(n)) if n != bytes.len() => return Err("failed to write all of the datagram.".into()),
        Ok(Ok(_)) => {}
    }
    let deadline = tokio::time::Instant::now() + conn.connect_timeout;
    let mut buf = [0u8; 4096];
    loop {
        let n = match tokio::time::timeout_at(deadline, s.recv(&mut buf)).await {
            Err(_) => return Err("read timeout from socket".into()),
            Ok(Err(e)) => {
                return Err(format!(
                    "failed to read socket; errno {} ({})",
                    e.raw_os_error().unwrap_or(0),
                    strerror(&e)
                ));
            }
            Ok(Ok(n)) => n,
        };
        // keepalived ignores short datagrams, other ids and queries
        let Ok(m) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if m.metadata.id != id || m.metadata.message_type != MessageType::Response {
            continue;
        }
        let rcode = u16::from(m.metadata.response_code);
        if rcode != 0 {
            return Err(format!("read error occurred. (rcode = {rcode})"));
        }
        return Ok(());
    }
}

fn strerror(e: &io::Error) -> String {
    // io::Error's Display appends " (os error N)"; keepalived prints strerror
    let s = e.to_string();
    match s.rfind(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// UDP_CHECK: send the payload; an ICMP error is a failure; a reply, if
/// required, must match. Without `require_reply`, silence is success.
pub async fn udp(conn: &ConnOpts, cfg: &UdpCfg) -> Result<(), &'static str> {
    let s = udp_socket(conn).await.map_err(|_| "socket")?;
    let payload = match &cfg.payload {
        Some(p) => p.clone(),
        None => rand::random::<[u8; 16]>().to_vec(),
    };
    s.send(&payload).await.map_err(|_| "send")?;
    let mut buf = vec![0u8; usize::from(cfg.max_reply_length) + 1];
    match timeout(conn.connect_timeout, s.recv(&mut buf)).await {
        Err(_) if cfg.require_reply.is_none() => Ok(()),
        Err(_) => Err("timeout"),
        Ok(Err(_)) => Err("icmp"),
        Ok(Ok(n)) => match &cfg.require_reply {
            None => Ok(()),
            Some(pat) => {
                if udp_reply_ok(&buf[..n], pat, cfg) {
                    Ok(())
                } else {
                    Err("mismatch")
                }
            }
        },
    }
}

/// check_udp.c `check_udp_reply`: length bounds, then the shorter of the
/// pattern and the reply compared under the nibble mask.
pub fn udp_reply_ok(data: &[u8], pat: &[(u8, u8)], cfg: &UdpCfg) -> bool {
    if data.len() < usize::from(cfg.min_reply_length)
        || data.len() > usize::from(cfg.max_reply_length)
    {
        return false;
    }
    data.iter()
        .zip(pat)
        .all(|(&d, &(mask, v))| (d ^ v) & mask == 0)
}

/// Parses `require_reply` hex with `X`/`x` wildcard nibbles into
/// `(mask, value)` pairs.
pub fn parse_reply_pattern(hex: &str) -> Option<Vec<(u8, u8)>> {
    let nib = |c: u8| -> Option<(u8, u8)> {
        match c {
            b'x' | b'X' => Some((0, 0)),
            _ => Some((0xf, (c as char).to_digit(16)? as u8)),
        }
    };
    let b = hex.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|p| {
            let (hm, hv) = nib(p[0])?;
            let (lm, lv) = nib(p[1])?;
            Some((hm << 4 | lm, hv << 4 | lv))
        })
        .collect()
}

/// PING_CHECK: one ICMP/ICMPv6 echo, reply within `connect_timeout`.
pub async fn ping(
    client: &surge_ping::Client,
    conn: &ConnOpts,
    seq: u16,
) -> Result<(), &'static str> {
    let mut p = client
        .pinger(conn.dst.ip(), surge_ping::PingIdentifier(rand::random()))
        .await;
    p.timeout(conn.connect_timeout);
    match p.ping(surge_ping::PingSequence(seq), &[0u8; 56]).await {
        Ok(_) => Ok(()),
        Err(surge_ping::SurgeError::Timeout { .. }) => Err("timeout"),
        Err(_) => Err("error"),
    }
}

/// A ping client for `conn`'s family and bind options.
pub fn ping_client(conn: &ConnOpts) -> io::Result<surge_ping::Client> {
    let kind = match conn.dst {
        SocketAddr::V4(_) => surge_ping::ICMP::V4,
        SocketAddr::V6(_) => surge_ping::ICMP::V6,
    };
    let mut b = surge_ping::Config::builder().kind(kind);
    if let Some(ip) = conn.bindto {
        b = b.bind(SocketAddr::new(ip, 0));
    }
    if let Some(ifname) = &conn.bind_if {
        b = b.interface(ifname);
    }
    surge_ping::Client::new(&b.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_status_rules() {
        assert_eq!(smtp_status(b"220 mail ESMTP\r\n"), 220);
        assert_eq!(smtp_status(b"250\r\n"), 250);
        assert_eq!(smtp_status(b"250-PIPELINING\r\n"), -1);
        assert_eq!(smtp_status(b"25 x\r\n"), -1);
    }

    #[test]
    fn reply_patterns() {
        let p = parse_reply_pattern("0aXx").unwrap();
        assert_eq!(p, vec![(0xff, 0x0a), (0x00, 0x00)]);
        let cfg = UdpCfg {
            payload: None,
            require_reply: Some(p.clone()),
            min_reply_length: 0,
            max_reply_length: 255,
        };
        assert!(udp_reply_ok(&[0x0a, 0x77, 0x99], &p, &cfg));
        assert!(!udp_reply_ok(&[0x0b, 0x77], &p, &cfg));
        assert!(
            udp_reply_ok(&[0x0a], &p, &cfg),
            "shorter reply compares its own length"
        );
        let p2 = parse_reply_pattern("4X").unwrap();
        assert!(udp_reply_ok(&[0x4f], &p2, &cfg));
        assert!(!udp_reply_ok(&[0x5f], &p2, &cfg));
        assert!(parse_reply_pattern("abc").is_none());
        assert!(parse_reply_pattern("zz").is_none());
    }
}
