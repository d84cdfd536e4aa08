//! keepalived's HTTP client, byte for byte: the request template, the way
//! the status code and Content-Length are picked out of the header block,
//! and the MD5 over the raw bytes after the header block (no de-chunking;
//! at most Content-Length bytes when the server sends one). No I/O here:
//! `Reader::feed` takes whatever bytes arrived and `finish` is called at
//! EOF, because keepalived always reads until the server closes.

use md5::{Digest, Md5};

use crate::config::HttpProtocol;

/// The GET request keepalived sends (check_http.c `request_template`).
/// `host` is the virtualhost if any; otherwise the connect address and
/// port are used, an IPv6 literal in brackets.
pub fn request(
    path: &str,
    proto: HttpProtocol,
    vhost: Option<&str>,
    dst: std::net::SocketAddr,
) -> Vec<u8> {
    let minor = if proto == HttpProtocol::Http11 { 1 } else { 0 };
    let close = if proto == HttpProtocol::Http10 {
        ""
    } else {
        "Connection: close\r\n"
    };
    let host = match (vhost, dst) {
        (Some(v), _) => v.to_owned(),
        (None, std::net::SocketAddr::V4(a)) => format!("{}:{}", a.ip(), a.port()),
        (None, std::net::SocketAddr::V6(a)) => format!("[{}]:{}", a.ip(), a.port()),
    };
    format!(
        "GET {path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n{close}Host: {host}\r\n\r\n"
    )
    .into_bytes()
}

/// html.c `extract_status_code`: the token after the first space must be
/// exactly three digits followed by a space; anything else is 0.
pub fn status_code(head: &[u8]) -> u16 {
    let Some(sp) = head.iter().position(|&b| b == b' ' || b == b'\r') else {
        return 0;
    };
    if head[sp] != b' ' {
        return 0;
    }
    let rest = &head[sp + 1..];
    if rest.len() <= 3 || rest[0] == b' ' || rest[3] != b' ' {
        return 0;
    }
    let digits = &rest[..3];
    if !digits.iter().all(u8::is_ascii_digit) {
        return 0;
    }
    digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'))
}

/// html.c `extract_content_length`: case-sensitive `Content-Length:`,
/// then strtoul (leading blanks allowed); junk after the number means
/// "no length".
pub fn content_length(head: &[u8]) -> Option<usize> {
    const TAG: &[u8] = b"Content-Length:";
    let at = head.windows(TAG.len()).position(|w| w == TAG)?;
    let mut rest = &head[at + TAG.len()..];
    while let [b' ' | b'\t', tail @ ..] = rest {
        rest = tail;
    }
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        // strtoul parsed nothing: end points at the blanks, which are junk
        return None;
    }
    match rest.get(n) {
        None | Some(b'\r' | b'\n') => std::str::from_utf8(&rest[..n]).ok()?.parse().ok(),
        Some(_) => None,
    }
}

/// Accumulates one response.
#[derive(Debug, Default)]
pub struct Reader {
    head: Vec<u8>,
    header_len: Option<usize>,
    status: u16,
    content_len: Option<usize>,
    rx_bytes: usize,
    md5: Md5,
    /// Body kept for genhash's verbose dump.
    keep_body: Option<usize>,
    body: Vec<u8>,
    /// The url's regex, matched as the bytes arrive (keepalived's way).
    regex: Option<crate::bodyregex::Scan>,
}

/// What a complete (EOF) response gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// False when no complete header block ever arrived.
    pub got_header: bool,
    pub status: u16,
    pub content_len: Option<usize>,
    /// Bytes after the header block.
    pub rx_bytes: usize,
    pub digest: [u8; 16],
    /// The header block, including its final CRLFCRLF.
    pub header: Vec<u8>,
    pub body: Vec<u8>,
    /// Whether the url's regex matched (`None`: no regex was scanned).
    pub regex_matched: Option<bool>,
    /// keepalived's log lines from matching the regex.
    pub regex_logs: Vec<String>,
}

impl Reader {
    /// `keep_body`: keep up to this many body bytes in `Response::body`.
    pub fn new(keep_body: Option<usize>) -> Reader {
        Reader {
            keep_body,
            ..Reader::default()
        }
    }

    /// Matches `scan`'s regex over the response as it is fed.
    pub fn with_regex(mut self, scan: Option<crate::bodyregex::Scan>) -> Reader {
        self.regex = scan;
        self
    }

    pub fn feed(&mut self, data: &[u8]) {
        if let Some(s) = self.regex.as_mut() {
            s.feed(data);
        }
        let body = match self.header_len {
            Some(_) => data,
            None => {
                let from = self.head.len().saturating_sub(3);
                self.head.extend_from_slice(data);
                let Some(end) = self.head[from..]
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|p| from + p + 4)
                else {
                    return;
                };
                self.header_len = Some(end);
                self.status = status_code(&self.head[..end]);
                self.content_len = content_length(&self.head[..end]);
                let rest = self.head.split_off(end);
                self.body_bytes(&rest);
                return;
            }
        };
        self.body_bytes(body);
    }

    fn body_bytes(&mut self, data: &[u8]) {
        let hash = match self.content_len {
            Some(cl) => &data[..cl.saturating_sub(self.rx_bytes).min(data.len())],
            None => data,
        };
        self.md5.update(hash);
        if let Some(cap) = self.keep_body {
            let room = cap.saturating_sub(self.body.len());
            self.body.extend_from_slice(&data[..room.min(data.len())]);
        }
        self.rx_bytes += data.len();
    }

    pub fn finish(mut self) -> Response {
        let (regex_matched, regex_logs) = match self.regex.as_mut() {
            Some(s) => (Some(s.matched()), s.take_logs()),
            None => (None, Vec::new()),
        };
        Response {
            regex_matched,
            regex_logs,
            got_header: self.header_len.is_some(),
            status: self.status,
            content_len: self.content_len,
            rx_bytes: self.rx_bytes,
            digest: self.md5.finalize().into(),
            header: self.head,
            body: self.body,
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 32 hex digits (either case), as the `digest` keyword takes them.
pub fn parse_digest(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// keepalived's `dump_buffer` (lib/utils.c): decimal offsets, 16 bytes a
/// line with " -" after 8, then the printable characters.
pub fn dump_buffer(buf: &[u8]) -> String {
    let mut out = String::new();
    let padded = buf.len().div_ceil(16) * 16;
    for i in 0..padded {
        if i % 16 == 0 {
            out.push_str(&format!("{:04} ", i & 0xffff));
        }
        match buf.get(i) {
            Some(b) => out.push_str(&format!(" {b:02x}")),
            None => out.push_str("   "),
        }
        if (i + 1) % 8 == 0 {
            if (i + 1) % 16 != 0 {
                out.push_str(" -");
            } else {
                out.push_str("   ");
                for j in i - 15..=i {
                    out.push(match buf.get(j) {
                        Some(&c) if (0x20..=0x7e).contains(&c) => c as char,
                        Some(_) => '.',
                        None => ' ',
                    });
                }
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_templates() {
        let v4 = "10.0.0.2:8080".parse().unwrap();
        assert_eq!(
            request("/", HttpProtocol::Http10, None, v4),
            b"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.0.0.2:8080\r\n\r\n"
        );
        assert_eq!(
            request("/x?y", HttpProtocol::Http10Close, Some("www.example.com"), v4),
            b"GET /x?y HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.com\r\n\r\n"
        );
        let v6 = "[2001:db8::1]:80".parse().unwrap();
        assert_eq!(
            request("/", HttpProtocol::Http11, None, v6),
            b"GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: [2001:db8::1]:80\r\n\r\n"
        );
    }

    #[test]
    fn status_code_rules() {
        assert_eq!(status_code(b"HTTP/1.0 200 OK\r\n"), 200);
        assert_eq!(status_code(b"HTTP/1.1 404 Not Found\r\n"), 404);
        assert_eq!(status_code(b"HTTP/1.1 200\r\n"), 0, "needs a space after");
        assert_eq!(status_code(b"HTTP/1.1  200 OK\r\n"), 0);
        assert_eq!(status_code(b"HTTP/1.1\r\n200 OK"), 0);
        assert_eq!(status_code(b"garbage"), 0);
        assert_eq!(status_code(b"HTTP/1.1 2x0 OK\r\n"), 0);
    }

    #[test]
    fn content_length_rules() {
        assert_eq!(content_length(b"A\r\nContent-Length: 12\r\n\r\n"), Some(12));
        assert_eq!(content_length(b"A\r\nContent-Length:7\r\n"), Some(7));
        assert_eq!(
            content_length(b"A\r\ncontent-length: 12\r\n"),
            None,
            "case-sensitive"
        );
        assert_eq!(content_length(b"Content-Length: 12 \r\n"), None);
        assert_eq!(content_length(b"Content-Length: x\r\n"), None);
    }

    fn read_all(chunks: &[&[u8]]) -> Response {
        let mut r = Reader::new(Some(1024));
        for c in chunks {
            r.feed(c);
        }
        r.finish()
    }

    #[test]
    fn md5_over_raw_body_whatever_the_chunking() {
        let resp = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\nhello world\n";
        let whole = read_all(&[resp]);
        assert_eq!(hex(&whole.digest), "6f5902ac237024bdd0c176cb93063dc4");
        assert_eq!(whole.status, 200);
        // split inside the CRLFCRLF and byte by byte
        let split = read_all(&[&resp[..43], &resp[43..45], &resp[45..]]);
        assert_eq!(split.digest, whole.digest);
        let bytes: Vec<&[u8]> = resp.chunks(1).collect();
        assert_eq!(read_all(&bytes).digest, whole.digest);
    }

    #[test]
    fn chunked_body_is_hashed_raw() {
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let r = read_all(&[resp]);
        let raw: &[u8] = b"5\r\nhello\r\n0\r\n\r\n";
        assert_eq!(r.digest, <[u8; 16]>::from(Md5::digest(raw)));
        assert_ne!(
            hex(&r.digest),
            "5d41402abc4b2a76b9719d911017c592",
            "not md5(hello)"
        );
    }

    #[test]
    fn content_length_bounds_the_hash() {
        let r = read_all(&[b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA"]);
        assert_eq!(hex(&r.digest), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(r.rx_bytes, 10);
    }

    #[test]
    fn no_header_block() {
        let r = read_all(&[b"HTTP/1.0 200 OK\r\n"]);
        assert!(!r.got_header);
    }

    #[test]
    fn digest_parsing() {
        let d = parse_digest("6F5902AC237024BDD0C176CB93063DC4").unwrap();
        assert_eq!(hex(&d), "6f5902ac237024bdd0c176cb93063dc4");
        assert!(parse_digest("6f59").is_none());
        assert!(parse_digest("zz5902ac237024bdd0c176cb93063dc4").is_none());
    }

    #[test]
    fn dump_buffer_matches_keepalived() {
        assert_eq!(
            dump_buffer(b"hello world\n"),
            "0000  68 65 6c 6c 6f 20 77 6f - 72 6c 64 0a               hello world.    \n"
        );
        let d = dump_buffer(b"HTTP/1.0 200 OK\r\nS");
        assert_eq!(
            d,
            "0000  48 54 54 50 2f 31 2e 30 - 20 32 30 30 20 4f 4b 0d   HTTP/1.0 200 OK.\n\
             0016  0a 53                   -                           .S              \n"
        );
    }
}
