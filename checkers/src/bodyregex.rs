//! keepalived's HTTP_GET/SSL_GET `regex` check (check_http.c `check_regex`,
//! `http_process_response`), sans-IO: fed the response bytes as the socket
//! gives them, it keeps keepalived's 4096-byte read buffer and calls PCRE2
//! exactly where keepalived does, so the verdict is keepalived's, quirks
//! included:
//!
//! - the buffer holding the end of the header block is matched whole, so the
//!   first match sees the headers too, and `regex_min_offset` /
//!   `regex_max_offset` count from the status line, unless that read ended
//!   exactly at the header block's end (then the headers are dropped
//!   unmatched and offsets count from the body);
//! - each buffer is one PCRE2 subject matched with `PCRE2_PARTIAL_HARD`: `^`
//!   matches at every buffer start; a partial match keeps the buffer from its
//!   start less the pattern's maximum lookbehind and is retried with the next
//!   read; a partial match still pending at EOF is no match (keepalived never
//!   matches the last buffer without partial matching, so a pattern that
//!   could go on at the end of the body, like `\d+$` or `\b`, never
//!   matches there);
//! - once matched, later data is not looked at.

use std::sync::Arc;

use crate::pcre::{self, Found, JitStack, Pattern};

/// check_http.h `MAX_BUFFER_LENGTH`; a read fills at most one byte less.
pub const MAX_BUFFER_LENGTH: usize = 4096;

/// keepalived's `regex_options` words and their PCRE2 bits (check_http.c
/// `regex_options[]`, same order).
pub const OPTIONS: &[(&str, u32)] = &[
    ("allow_empty_class", pcre2_sys::PCRE2_ALLOW_EMPTY_CLASS),
    ("alt_bsux", pcre2_sys::PCRE2_ALT_BSUX),
    ("auto_callout", pcre2_sys::PCRE2_AUTO_CALLOUT),
    ("caseless", pcre2_sys::PCRE2_CASELESS),
    ("dollar_endonly", pcre2_sys::PCRE2_DOLLAR_ENDONLY),
    ("dotall", pcre2_sys::PCRE2_DOTALL),
    ("dupnames", pcre2_sys::PCRE2_DUPNAMES),
    ("extended", pcre2_sys::PCRE2_EXTENDED),
    ("firstline", pcre2_sys::PCRE2_FIRSTLINE),
    ("match_unset_backref", pcre2_sys::PCRE2_MATCH_UNSET_BACKREF),
    ("multiline", pcre2_sys::PCRE2_MULTILINE),
    ("never_ucp", pcre2_sys::PCRE2_NEVER_UCP),
    ("never_utf", pcre2_sys::PCRE2_NEVER_UTF),
    ("no_auto_capture", pcre2_sys::PCRE2_NO_AUTO_CAPTURE),
    ("no_auto_possess", pcre2_sys::PCRE2_NO_AUTO_POSSESS),
    ("no_dotstar_anchor", pcre2_sys::PCRE2_NO_DOTSTAR_ANCHOR),
    ("no_start_optimize", pcre2_sys::PCRE2_NO_START_OPTIMIZE),
    ("ucp", pcre2_sys::PCRE2_UCP),
    ("ungreedy", pcre2_sys::PCRE2_UNGREEDY),
    ("utf", pcre2_sys::PCRE2_UTF),
    ("never_backslash_c", pcre2_sys::PCRE2_NEVER_BACKSLASH_C),
    ("alt_circumflex", pcre2_sys::PCRE2_ALT_CIRCUMFLEX),
    ("alt_verbnames", pcre2_sys::PCRE2_ALT_VERBNAMES),
    ("use_offset_limit", pcre2_sys::PCRE2_USE_OFFSET_LIMIT),
];

/// The PCRE2 bits of `regex_options` words; unknown words are ignored, as
/// keepalived ignores them.
pub fn option_bits<'a>(words: impl IntoIterator<Item = &'a str>) -> u32 {
    words
        .into_iter()
        .filter_map(|w| OPTIONS.iter().find(|(n, _)| *n == w).map(|(_, b)| *b))
        .fold(0, |a, b| a | b)
}

/// One url's regex, as keepalived holds it after `url_check`.
#[derive(Clone)]
pub struct RegexCfg {
    /// The pattern after keepalived's quote and escape processing.
    pub pattern: Vec<u8>,
    /// PCRE2 compile option bits (`regex_options`).
    pub options: u32,
    /// `regex_no_match`: a match fails the check.
    pub no_match: bool,
    /// `regex_min_offset`; 0 = none.
    pub min_offset: usize,
    /// One beyond `regex_max_offset`; 0 = none (keepalived's encoding).
    pub max_offset: usize,
    /// `regex_stack`: the JIT stack (start, max) keepalived would use, i.e.
    /// the largest start and max over the configuration; `None` = PCRE2's
    /// default stack.
    pub stack: Option<(usize, usize)>,
    /// The compiled pattern, or the line keepalived logged when it failed.
    pub compiled: Result<Arc<Pattern>, String>,
}

impl RegexCfg {
    /// Compiles the pattern; `compiled` holds keepalived's log line on
    /// failure (`Invalid regex: ...` / `Regex JIT compilation failed: ...`).
    pub fn new(
        pattern: Vec<u8>,
        options: u32,
        no_match: bool,
        min_offset: usize,
        max_offset: usize,
        stack: Option<(usize, usize)>,
    ) -> RegexCfg {
        let shown = String::from_utf8_lossy(&pattern).into_owned();
        let compiled = pcre::compile(&pattern, options)
            .map(Arc::new)
            .map_err(|e| match e {
                pcre::CompileError::Pattern { offset, message } => {
                    format!("Invalid regex: '{shown}' at offset {offset}: {message}")
                }
                pcre::CompileError::Jit { message } => {
                    format!("Regex JIT compilation failed: '{shown}': {message}")
                }
            });
        RegexCfg {
            pattern,
            options,
            no_match,
            min_offset,
            max_offset,
            stack,
            compiled,
        }
    }
}

impl PartialEq for RegexCfg {
    fn eq(&self, o: &RegexCfg) -> bool {
        // the compiled form follows from pattern and options
        self.pattern == o.pattern
            && self.options == o.options
            && self.no_match == o.no_match
            && self.min_offset == o.min_offset
            && self.max_offset == o.max_offset
            && self.stack == o.stack
    }
}

impl std::fmt::Debug for RegexCfg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegexCfg")
            .field("pattern", &String::from_utf8_lossy(&self.pattern))
            .field("options", &self.options)
            .field("no_match", &self.no_match)
            .field("min_offset", &self.min_offset)
            .field("max_offset", &self.max_offset)
            .field("stack", &self.stack)
            .field("compiled", &self.compiled.as_ref().map(|_| ()))
            .finish()
    }
}

/// keepalived's per-request regex state (`request_t` regex fields plus its
/// read buffer) for one fetch.
pub struct Scan {
    pattern: Arc<Pattern>,
    min_offset: usize,
    max_offset: usize,
    stack: Option<JitStack>,
    /// keepalived's `req->buffer[..req->len]`.
    buf: Vec<u8>,
    extracted: bool,
    /// `req->start_offset`: where to resume in a kept buffer.
    start_offset: usize,
    /// `req->regex_subject_offset`: response offset of `buf[0]`.
    subject_offset: usize,
    matched: bool,
    /// keepalived's log lines from matching, in order.
    logs: Vec<String>,
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan")
            .field("buffered", &self.buf.len())
            .field("subject_offset", &self.subject_offset)
            .field("matched", &self.matched)
            .finish_non_exhaustive()
    }
}

impl Scan {
    /// `None` when the regex did not compile (see [`RegexCfg::compiled`]).
    pub fn new(cfg: &RegexCfg) -> Option<Scan> {
        let pattern = cfg.compiled.as_ref().ok()?.clone();
        Some(Scan {
            pattern,
            min_offset: cfg.min_offset,
            max_offset: cfg.max_offset,
            stack: cfg.stack.and_then(|(s, m)| JitStack::new(s, m)),
            buf: Vec::with_capacity(MAX_BUFFER_LENGTH),
            extracted: false,
            start_offset: 0,
            subject_offset: 0,
            matched: false,
            logs: Vec::new(),
        })
    }

    /// Response bytes as read from the socket (status line first). Split at
    /// the room keepalived's buffer has, as its reads would be.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = MAX_BUFFER_LENGTH - 1 - self.buf.len();
            if room == 0 {
                // keepalived's read of 0 bytes is its EOF: a header block
                // over 4095 bytes; nothing more is matched
                return;
            }
            let n = room.min(data.len());
            self.read(&data[..n]);
            data = &data[n..];
        }
    }

    /// One keepalived read (`http_process_response`).
    fn read(&mut self, piece: &[u8]) {
        self.buf.extend_from_slice(piece);
        if !self.extracted {
            let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                return;
            };
            self.extracted = true;
            let body = self.buf.len() - (end + 4);
            if body == 0 || !self.check() {
                self.buf.clear();
            }
        } else if !self.check() {
            self.buf.clear();
        }
    }

    /// keepalived's `check_regex`; true when the buffer must be kept.
    fn check(&mut self) -> bool {
        if self.matched {
            return false;
        }
        let len = self.buf.len();
        let lookbehind = self.pattern.max_lookbehind();
        let mut start = 0;
        if self.min_offset != 0 {
            // size_t arithmetic, as keepalived's
            if self.subject_offset + len < self.min_offset.wrapping_sub(lookbehind) {
                self.subject_offset += len;
                return false;
            }
            if self.subject_offset < self.min_offset {
                start = self.min_offset - self.subject_offset;
            }
        }
        if self.max_offset != 0 && self.subject_offset + self.start_offset >= self.max_offset {
            self.subject_offset += len;
            return false;
        }
        start = start.max(self.start_offset);
        // keepalived calls pcre2_jit_match, which does not check the start
        // offset: past the subject (regex_min_offset just beyond a buffer
        // that reaches into the lookbehind window) Debian's libpcre2 10.42
        // answers no match (pcre2_match would say PCRE2_ERROR_BADOFFSET)
        let found = if start > len {
            Found::NoMatch
        } else {
            self.pattern
                .match_partial_hard(&self.buf, start, self.stack.as_mut())
        };
        self.start_offset = 0;
        match found {
            Found::Partial(at) => {
                // keepalived computes this in size_t; a partial match
                // starting inside the lookbehind window would wrap (and
                // crash it); keeping the whole buffer is the sane reading
                let keep = at.saturating_sub(lookbehind);
                if keep != 0 {
                    self.start_offset = lookbehind;
                    self.buf.drain(..keep);
                    self.subject_offset += keep;
                } else if len == MAX_BUFFER_LENGTH - 1 {
                    self.subject_offset += len;
                    self.logs
                        .push("Regex partial match preserve too large - discarding".into());
                    return false;
                }
                true
            }
            Found::NoMatch => {
                self.subject_offset += len;
                false
            }
            Found::Error(rc) => {
                self.subject_offset += len;
                self.logs.push(match rc {
                    0 => "Too many substrings found".into(),
                    pcre2_sys::PCRE2_ERROR_NULL => "Something was null in regex match".into(),
                    pcre2_sys::PCRE2_ERROR_BADOPTION => "A bad option was passed to regex".into(),
                    pcre2_sys::PCRE2_ERROR_BADMAGIC => {
                        "Magic number bad (compiled regex corrupt?)".into()
                    }
                    pcre2_sys::PCRE2_ERROR_NOMEMORY => "Regex an out of memory".into(),
                    rc => format!("Unknown regex error {rc}"),
                });
                false
            }
            Found::Match(at) => {
                if self.max_offset == 0 || self.subject_offset + at < self.max_offset {
                    self.matched = true;
                }
                self.subject_offset += len;
                false
            }
        }
    }

    pub fn matched(&self) -> bool {
        self.matched
    }

    /// Log lines keepalived would have written while matching.
    pub fn take_logs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.logs)
    }
}

/// Runs a whole response through a [`Scan`] delivered in `chunks` (tests,
/// tools). `None` when the regex did not compile.
pub fn scan_chunks(cfg: &RegexCfg, chunks: &[&[u8]]) -> Option<(bool, Vec<String>)> {
    let mut s = Scan::new(cfg)?;
    for c in chunks {
        s.feed(c);
    }
    Some((s.matched(), s.take_logs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str) -> RegexCfg {
        RegexCfg::new(p.as_bytes().to_vec(), 0, false, 0, 0, None)
    }

    const HEAD: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n";

    fn resp(body: &[u8]) -> Vec<u8> {
        [HEAD, body].concat()
    }

    fn one(cfg: &RegexCfg, body: &[u8]) -> bool {
        scan_chunks(cfg, &[&resp(body)]).unwrap().0
    }

    #[test]
    fn pcre_only_syntax() {
        // lookahead, \d, backreference, possessive quantifier, lookbehind
        assert!(one(&re(r"version (?=\d+\.)"), b"version 12.3\n"));
        assert!(!one(&re(r"version (?=\d+\.)"), b"version 12\n"));
        assert!(one(&re(r"<(\w+)>ok</\1>"), b"<b>ok</b>\n"));
        assert!(!one(&re(r"<(\w+)>ok</\1>"), b"<b>ok</i>\n"));
        assert!(one(&re(r"a++b"), b"xaaab\n"));
        assert!(!one(&re(r"a++a"), b"xaaaa\n"));
        assert!(one(&re(r"(?<=status=)up"), b"status=up\n"));
        assert!(!one(&re(r"(?<=status=)up"), b"state=up\n"));
    }

    #[test]
    fn options_words() {
        assert_eq!(option_bits(["caseless", "bogus", "dotall"]), 8 | 32);
        let mut c = re("HELLO.world");
        assert!(!one(&c, b"hello\nworld\n"));
        c = RegexCfg::new(
            b"HELLO.world".to_vec(),
            option_bits(["caseless", "dotall"]),
            false,
            0,
            0,
            None,
        );
        assert!(one(&c, b"hello\nworld\n"));
        let u = RegexCfg::new(
            b"a+?$".to_vec(),
            option_bits(["ungreedy"]),
            false,
            0,
            0,
            None,
        );
        assert!(u.compiled.is_ok());
        assert_eq!(OPTIONS.len(), 24);
    }

    #[test]
    fn invalid_pattern_gives_keepalived_line() {
        let c = re(r"version (?=d+");
        assert_eq!(
            c.compiled.as_ref().unwrap_err(),
            "Invalid regex: 'version (?=d+' at offset 13: missing closing parenthesis"
        );
        assert!(scan_chunks(&c, &[b"x"]).is_none());
    }

    #[test]
    fn headers_are_in_the_first_subject() {
        // keepalived matches the buffer holding the header block's end whole
        assert!(one(&re("Content-Type: text/plain"), b"body\n"));
        // ... unless that read ended with the header block
        let c = re("Content-Type: text/plain");
        assert!(!scan_chunks(&c, &[HEAD, b"body\n"]).unwrap().0);
    }

    #[test]
    fn match_across_chunks_and_partial_at_eof() {
        let c = re(r"status: \d+ ok");
        let r = resp(b"xx status: 200 ok\n");
        for cut in 0..r.len() {
            let (a, b) = r.split_at(cut);
            assert!(scan_chunks(&c, &[a, b]).unwrap().0, "cut at {cut}");
        }
        // byte by byte
        let bytes: Vec<&[u8]> = r.chunks(1).collect();
        assert!(scan_chunks(&c, &bytes).unwrap().0);
        // what could still go on at EOF never matches: \d+ at the very end
        assert!(!one(&re(r"version \d+"), b"version 12"));
        assert!(one(&re(r"version \d+"), b"version 12\n"));
        assert!(!one(&re(r"ok$"), b"ok"));
        // even before a final newline (seen from Debian's keepalived too)
        assert!(!one(&re(r"ok$"), b"ok\n"));
        assert!(one(&re(r"(?m)ok$"), b"ok\nmore\n"));
        assert!(!one(&re(r"ok\b"), b"ok"));
        assert!(one(&re(r"ok\b"), b"ok\n"));
    }

    #[test]
    fn circumflex_matches_at_each_buffer_start() {
        let c = re("^second");
        let body = b"first line\nsecond\n";
        assert!(!one(&c, body));
        // the body arriving in a new read starts a new subject
        let r = resp(b"first line\n");
        assert!(scan_chunks(&c, &[&r, b"second\n"]).unwrap().0);
    }

    #[test]
    fn min_and_max_offsets_count_from_the_status_line() {
        let body = b"aaaa needle bbbb\n";
        let at = HEAD.len() + 5;
        let off = |min: usize, max: Option<usize>| {
            RegexCfg::new(
                b"needle".to_vec(),
                0,
                false,
                min,
                max.map_or(0, |m| m + 1),
                None,
            )
        };
        assert!(one(&off(at, None), body));
        assert!(!one(&off(at + 1, None), body));
        assert!(one(&off(0, Some(at)), body));
        assert!(!one(&off(0, Some(at - 1)), body));
        // body-relative when the header block came in a read of its own
        let split = |c: &RegexCfg| scan_chunks(c, &[HEAD, body]).unwrap().0;
        assert!(split(&off(5, Some(5))));
        assert!(!split(&off(6, None)));
        assert!(!split(&off(0, Some(4))));
    }

    #[test]
    fn min_offset_in_a_later_chunk() {
        let c = RegexCfg::new(b"x".to_vec(), 0, false, 5000, 0, None);
        let mut body = vec![b'x'; 6000];
        body.push(b'\n');
        assert!(one(&c, &body));
        // offsets count from the status line: the first x at or after 5000
        let from = 5000 - HEAD.len();
        body[from..].fill(b'y');
        assert!(!one(&c, &body));
        body[from] = b'x';
        assert!(one(&c, &body));
    }

    #[test]
    fn partial_keeps_the_tail_over_4095_byte_reads() {
        // the match straddles keepalived's first 4095-byte buffer
        let mut body = vec![b'.'; 4095 - HEAD.len() - 3];
        body.extend_from_slice(b"needle\n");
        let c = re("needle");
        assert!(one(&c, &body));
        let lb = re("(?<=\\.)needle");
        assert!(one(&lb, &body));
    }

    #[test]
    fn partial_preserve_too_large() {
        // a partial match from the buffer start that fills the buffer
        let c = re("HTTP[^!]*!");
        let body = vec![b'a'; 5000];
        let (m, logs) = scan_chunks(&c, &[&resp(&body)]).unwrap();
        assert!(!m);
        assert_eq!(
            logs,
            ["Regex partial match preserve too large - discarding"]
        );
    }

    #[test]
    fn stops_after_the_first_match() {
        // a later bad chunk is not even matched once matched
        let c = RegexCfg::new(b"ok".to_vec(), 0, false, 0, 0, None);
        let mut s = Scan::new(&c).unwrap();
        s.feed(&resp(b"ok\n"));
        assert!(s.matched());
        s.feed(b"more data");
        assert!(s.matched());
        assert!(s.take_logs().is_empty());
    }

    #[test]
    fn min_offset_beyond_the_buffer_is_no_match() {
        // keepalived's start offset can pass the buffer's end when the
        // buffer ends inside the lookbehind window before regex_min_offset
        let c = RegexCfg::new(b"(?<=abc)d".to_vec(), 0, false, 100, 0, None);
        let (m, logs) = scan_chunks(&c, &[HEAD, &[b'z'; 98], b"zzd\n"]).unwrap();
        assert!(!m);
        assert!(logs.is_empty(), "{logs:?}");
        // and the match right at regex_min_offset is still found
        let (m, _) = scan_chunks(&c, &[HEAD, &[b'z'; 97], b"abcd\n"]).unwrap();
        assert!(m);
    }
}
