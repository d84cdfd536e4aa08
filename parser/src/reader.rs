//! The line reader: turns files into keepalived's logical lines.
//!
//! It owns everything keepalived does before a keyword is looked up: reading
//! files and `include`s (with globs, csh braces and relative paths), comments,
//! `@id` / `@^id` conditional lines, `$NAME=value` definitions (multi-line and
//! parameterised) and their substitution, `~SEQ`/`~LST` expansion, splitting a
//! line at `{` and `}`, and tokenising with `"..."` quoting. It never interprets
//! keywords. Files are read in 256 KiB chunks (each validated as UTF-8 once)
//! and lines are produced one at a time into a reused buffer, so a 40 MB
//! configuration is never held in memory at once; plain lines (no comment,
//! quote, `$`, `@`, `~`…) take a one-pass fast path.

use crate::diag::{Class, Diags, Loc, SourceMap};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Include checks (`include_check`, `-e`, `includer`/`m`/`w`/`b`/`a`).
pub const INC_READ: u8 = 1;
pub const INC_MATCH: u8 = 2;
pub const INC_WILDCARD: u8 = 4;
pub const INC_BRACE: u8 = 8;
pub const INC_ALL: u8 = INC_READ | INC_MATCH | INC_WILDCARD | INC_BRACE;

/// Bound on re-substitution of one line, so a self-referencing definition
/// (`$A=$A`) gives an error instead of hanging (keepalived loops forever).
const MAX_SUBSTITUTIONS: usize = 64;
/// Bound on the length a line may grow to by substitution: a definition
/// that names itself twice doubles the line at each round (found by the
/// fuzzer), which the round bound alone leaves at 2^64 bytes.
const MAX_EXPANDED_LINE: usize = 1 << 16;
/// Bound on nested includes, for the same reason (a file including itself).
const MAX_INCLUDE_DEPTH: usize = 32;
/// Include lines followed from included files in one read. The depth limit
/// alone leaves a file that includes itself twice (or any cycle with a
/// fan-out) exponential: 2^32 reads for two `include` lines. Includes in
/// the main file, however many, do not count.
const MAX_INCLUDES: u32 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A `{` on its own (after splitting).
    Open,
    /// A `}` on its own (after splitting).
    Close,
    Words,
}

#[derive(Debug, Clone, Copy)]
pub struct Word {
    start: u32,
    end: u32,
    pub col: u32,
}

/// One logical line: a lone brace, or the words of a keyword line.
#[derive(Debug, Default)]
pub struct Line {
    pub loc: Loc,
    pub kind: Option<LineKind>,
    /// Byte ranges into `buf` (a quoted word is the text between its quotes,
    /// so every word is a slice of the line and needs no copy).
    words: Vec<Word>,
    /// The text the words point into: the whole physical line, or queued
    /// text; several logical lines (split at braces) share it.
    buf: String,
    /// `buf[raw.0..raw.1]` is the line as keepalived's "quoted" keywords see
    /// it (decommented, braces split off, quotes still in place).
    raw: (u32, u32),
}

impl Line {
    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn word(&self, i: usize) -> Option<&str> {
        self.words
            .get(i)
            .and_then(|w| self.buf.get(w.start as usize..w.end as usize))
    }

    /// The word at `i`, or "" if there is none.
    pub fn w(&self, i: usize) -> &str {
        self.word(i).unwrap_or("")
    }

    pub fn words(&self) -> impl Iterator<Item = &str> {
        (0..self.words.len()).map(move |i| self.w(i))
    }

    /// The location of word `i` (the line's location if there is no such word).
    pub fn loc_of(&self, i: usize) -> Loc {
        match self.words.get(i) {
            Some(w) => Loc {
                col: w.col,
                ..self.loc
            },
            None => self.loc,
        }
    }

    /// The line with its quotes (see `raw`).
    pub fn raw(&self) -> &str {
        self.buf
            .get(self.raw.0 as usize..self.raw.1 as usize)
            .unwrap_or("")
    }

    /// The raw text after the first word (for keywords whose argument is a
    /// command line that is re-tokenised with shell-like quoting).
    pub fn raw_args(&self) -> &str {
        let r = self.raw().trim_start();
        let end = r.find([' ', '\t']).unwrap_or(r.len());
        r[end..].trim()
    }
}

struct OpenFile {
    id: u32,
    file: File,
    /// Whole lines read ahead; `chunk[pos..]` are still to be returned.
    chunk: Chunk,
    pos: usize,
    /// What followed the chunk's last newline: the start of the next chunk.
    tail: Vec<u8>,
    /// The previous chunk's buffer, for reuse.
    spare: Vec<u8>,
    eof: bool,
    line_no: u32,
    dir: PathBuf,
    /// Set for the halves of a split parse (see `split`): the file is read
    /// with positioned reads from `Span::next`, and up to `Span::end` only.
    span: Option<Span>,
}

/// The part of a file a reader may see, read with `pread` so that two
/// readers can share one open file (and so read the very same file).
struct Span {
    next: u64,
    end: Option<u64>,
}

/// Lines read ahead, validated as UTF-8 once for the whole chunk so that the
/// fast path can take each line as text without validating it again.
enum Chunk {
    Text(String),
    /// Not valid UTF-8: its lines go through `phys`, as bytes.
    Bytes(Vec<u8>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Text(t) => t.as_bytes(),
            Chunk::Bytes(b) => b,
        }
    }
}

/// Where [`Reader::read_physical`] left the line.
#[derive(Clone, Copy)]
enum Phys {
    /// `chunk[start..end]` of the current file, a `Chunk::Text`.
    Text(usize, usize),
    /// In `Reader::phys`.
    Bytes,
}

/// How much is read at a time.
const CHUNK: usize = 256 * 1024;

impl OpenFile {
    fn new(id: u32, file: File, dir: PathBuf) -> OpenFile {
        OpenFile {
            id,
            file,
            chunk: Chunk::Bytes(Vec::new()),
            pos: 0,
            tail: Vec::new(),
            spare: Vec::new(),
            eof: false,
            line_no: 0,
            dir,
            span: None,
        }
    }

    /// The next line without its newline and trailing CRs: its range in
    /// the chunk if that is text, else copied into `phys`. None at the end.
    fn next_line(&mut self, phys: &mut Vec<u8>) -> std::io::Result<Option<Phys>> {
        loop {
            let b = self.chunk.bytes();
            if self.pos < b.len() {
                let s = self.pos;
                let mut e = memchr::memchr(b'\n', &b[s..]).map_or(b.len(), |i| s + i);
                self.pos = e + 1;
                while e > s && b[e - 1] == b'\r' {
                    e -= 1;
                }
                return Ok(Some(match &self.chunk {
                    Chunk::Text(_) => Phys::Text(s, e),
                    Chunk::Bytes(b) => {
                        phys.clear();
                        phys.extend_from_slice(&b[s..e]);
                        Phys::Bytes
                    }
                }));
            }
            if self.eof {
                return Ok(None);
            }
            self.refill()?;
        }
    }

    /// Reads the next chunk: whole lines only (the rest waits in `tail`),
    /// or everything that is left at the end of the file.
    fn refill(&mut self) -> std::io::Result<()> {
        use std::io::Read;
        let mut buf = std::mem::take(&mut self.spare);
        buf.clear();
        buf.append(&mut self.tail);
        let mut searched = 0;
        let cut = loop {
            if let Some(i) = memchr::memrchr(b'\n', &buf[searched..]) {
                break searched + i + 1;
            }
            searched = buf.len();
            let len = buf.len();
            buf.resize(len + CHUNK, 0);
            let n = loop {
                let r = match &mut self.span {
                    None => self.file.read(&mut buf[len..]),
                    Some(span) => {
                        use std::os::unix::fs::FileExt;
                        let left = span.end.map_or(u64::MAX, |e| e.saturating_sub(span.next));
                        let want = left.min(CHUNK as u64) as usize;
                        let r = match want {
                            0 => Ok(0),
                            _ => self.file.read_at(&mut buf[len..len + want], span.next),
                        };
                        if let Ok(n) = r {
                            span.next += n as u64;
                        }
                        r
                    }
                };
                match r {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    r => break r,
                }
            };
            match n {
                Ok(0) => {
                    buf.truncate(len);
                    self.eof = true;
                    break len;
                }
                Ok(n) => buf.truncate(len + n),
                Err(e) => {
                    buf.truncate(len);
                    self.spare = buf;
                    return Err(e);
                }
            }
        };
        self.tail.extend_from_slice(&buf[cut..]);
        buf.truncate(cut);
        let old = match String::from_utf8(buf) {
            Ok(t) => std::mem::replace(&mut self.chunk, Chunk::Text(t)),
            Err(e) => std::mem::replace(&mut self.chunk, Chunk::Bytes(e.into_bytes())),
        };
        self.spare = match old {
            Chunk::Text(t) => t.into_bytes(),
            Chunk::Bytes(b) => b,
        };
        self.pos = 0;
        Ok(())
    }
}

/// One `include` (or the top file): its glob matches and the one being read.
struct Frame {
    pattern: String,
    matches: Vec<PathBuf>,
    next: usize,
    current: Option<OpenFile>,
    opened: usize,
    include_type: u8,
    saved_include_check: u8,
}

struct Pending {
    text: String,
    file: u32,
    line: u32,
    col: u32,
    /// A definition to make before the text is processed (one ~SEQ value).
    set: Option<(String, String)>,
    /// How many expansions (multi-line `$DEF`, `~SEQ`) produced this line.
    depth: u32,
}

struct Def {
    name: String,
    value: String,
    multiline: bool,
    builtin: Option<Builtin>,
}

#[derive(Clone, Copy, PartialEq)]
enum Builtin {
    Pwd,
    Instance,
    Random,
    Env,
}

pub struct ReaderOptions {
    pub config_id: String,
    pub include_check: u8,
}

pub struct Reader {
    pub diags: Diags,
    pub sources: SourceMap,
    frames: Vec<Frame>,
    pending: Vec<Pending>,
    defs: Vec<Def>,
    multiline_def: Option<usize>,
    config_id: String,
    pub include_check: u8,
    block_depth: i64,
    phys: Vec<u8>,
    rng: u64,
    /// The file and line of the most recently read physical line.
    pub cur: Loc,
    /// The line most recently returned by [`Reader::next_line`].
    pub line: Line,
    /// An include failed a check (`include_check`, `-e`, `includem`…):
    /// keepalived then exits with 6 once the files are read, validating
    /// nothing.
    pub config_file_error: bool,
    replay: bool,
    /// What follows a brace on the current line: (start, end, column) in
    /// `line.buf`, split next (keepalived queues it as the next line).
    rest: Option<(usize, usize, u32)>,
    /// Words of a line being checked by the plain-line fast path.
    scratch: Vec<Word>,
    /// False to send every line down the general path (tests compare both).
    fast_path: bool,
    /// Expansion depth of the line being processed (0: read from a file).
    depth: u32,
    /// Include lines followed from included files so far ([`MAX_INCLUDES`]).
    includes: u32,
    /// The top file's span ended (the first half of a split parse): the
    /// input ends here, with the file still open so that reading can resume.
    limit_hit: bool,
    /// Reading the second half of a split parse: anything that would read
    /// or change state carried from the first half (a `$` parameter or
    /// definition, `~SEQ`/`~LST`, an include) halts the reader instead.
    restricted: bool,
    /// The reader (or its sink, through [`Reader::halt`]) gave up: the
    /// input ends here and the part read is not usable.
    halted: bool,
    /// A `$NAME` definition was made (or a builtin one replaced).
    defs_changed: bool,
}

impl Reader {
    pub fn new(opts: ReaderOptions) -> Reader {
        let std = |name: &str, value: &str, builtin| Def {
            name: name.to_string(),
            value: value.to_string(),
            multiline: false,
            builtin,
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Reader {
            diags: Diags::default(),
            sources: SourceMap::default(),
            frames: Vec::new(),
            pending: Vec::new(),
            defs: vec![
                std("_PWD", "", Some(Builtin::Pwd)),
                std("_INSTANCE", &opts.config_id, Some(Builtin::Instance)),
                std("_RANDOM", "", Some(Builtin::Random)),
                std("_ENV", "", Some(Builtin::Env)),
                std("_HASH", "#", None),
                std("_BANG", "!", None),
            ],
            multiline_def: None,
            config_id: opts.config_id,
            include_check: opts.include_check,
            block_depth: 0,
            phys: Vec::with_capacity(256),
            rng: seed | 1,
            cur: Loc::default(),
            line: Line::default(),
            replay: false,
            rest: None,
            config_file_error: false,
            scratch: Vec::new(),
            fast_path: true,
            depth: 0,
            includes: 0,
            limit_hit: false,
            restricted: false,
            halted: false,
            defs_changed: false,
        }
    }

    /// Opens the top-level file (which may itself be a glob). Returns false
    /// if nothing could be opened.
    pub fn open_top(&mut self, path: &str) -> bool {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        self.open_include(path, 0, &cwd, true)
    }

    /// The top file, if it can be read in two halves: `open_top` found
    /// exactly one file, opened it with nothing to say, and nothing has been
    /// read from it yet.
    pub(crate) fn split_candidate(&self) -> Option<&File> {
        let [frame] = self.frames.as_slice() else {
            return None;
        };
        let f = frame.current.as_ref()?;
        let untouched = f.id == 0
            && f.line_no == 0
            && f.pos == 0
            && f.chunk.bytes().is_empty()
            && f.tail.is_empty()
            && !f.eof
            && f.span.is_none();
        let alone = frame.matches.len() == 1 && frame.next == 1 && self.sources.files.len() == 1;
        (untouched && alone && self.diags.list.is_empty()).then_some(&f.file)
    }

    /// Makes the top file end at byte `end` (see `split_candidate`).
    pub(crate) fn limit_top(&mut self, end: u64) {
        if let Some(f) = self.frames.last_mut().and_then(|f| f.current.as_mut()) {
            f.span = Some(Span {
                next: 0,
                end: Some(end),
            });
        }
    }

    /// Reads on past the end set by `limit_top`.
    pub(crate) fn lift_limit(&mut self) {
        if let Some(f) = self.frames.last_mut().and_then(|f| f.current.as_mut())
            && let Some(span) = f.span.as_mut()
        {
            span.end = None;
            f.eof = false;
        }
        self.limit_hit = false;
    }

    /// Whether the input ended at the end set by `limit_top` with nothing
    /// carried over to what follows: no text queued or split off, no line
    /// to replay, no definition made or in progress, no brace open, only
    /// the top file open. Returns the number of lines read from it.
    pub(crate) fn at_rest_at_limit(&self) -> Option<u32> {
        let [frame] = self.frames.as_slice() else {
            return None;
        };
        let f = frame.current.as_ref()?;
        let rest = self.limit_hit
            && !self.halted
            && !self.replay
            && self.rest.is_none()
            && self.pending.is_empty()
            && self.multiline_def.is_none()
            && !self.defs_changed
            && self.block_depth == 0
            && self.depth == 0;
        rest.then_some(f.line_no)
    }

    /// Whether the input ended at `limit_top`'s end (and not at an error).
    pub(crate) fn limit_hit(&self) -> bool {
        self.limit_hit && !self.halted
    }

    /// Opens `file` (already open as the top file `path` of another reader)
    /// from byte `offset`, the start of line `lines_before + 1`, as the top
    /// file, read in the restricted mode (see `restricted`).
    pub(crate) fn open_second_half(
        &mut self,
        path: PathBuf,
        file: File,
        offset: u64,
        lines_before: u32,
    ) {
        self.restricted = true;
        let id = self.sources.add(path.clone());
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut f = OpenFile::new(id, file, dir);
        f.line_no = lines_before;
        f.span = Some(Span {
            next: offset,
            end: None,
        });
        self.frames.push(Frame {
            pattern: path.to_string_lossy().into_owned(),
            matches: vec![path],
            next: 1,
            current: Some(f),
            opened: 1,
            include_type: 0,
            saved_include_check: self.include_check,
        });
    }

    /// Ends the input: the part read is abandoned (see `halted`).
    pub(crate) fn halt(&mut self) {
        self.halted = true;
    }

    pub(crate) fn halted(&self) -> bool {
        self.halted
    }

    /// Sets the seed of `${_RANDOM}` (global_defs `random_seed`).
    pub fn set_random_seed(&mut self, seed: u64) {
        self.rng = seed.wrapping_mul(2).wrapping_add(1);
    }

    /// Reports a message at the current physical line (keepalived reports
    /// everything at the line being read, not at a token).
    pub fn report_here(&mut self, class: Class, msg: impl Into<String>) {
        let loc = self.cur;
        // File errors past the top file (a failed include check) make
        // keepalived stop once the files are read (exit 6).
        if class == Class::FileNotFound {
            self.config_file_error = true;
        }
        self.diags.at(loc, class, msg);
    }

    fn open_include(&mut self, pattern: &str, include_type: u8, dir: &Path, top: bool) -> bool {
        // An include refused for a limit is an open problem (keepalived runs
        // out of file descriptors instead): an error only if includes must
        // be readable.
        let refused = if (self.include_check | include_type) & INC_READ != 0 {
            Class::FileNotFound
        } else {
            Class::Ok
        };
        if !top && self.frames.len() >= 2 {
            self.includes += 1;
            if self.includes > MAX_INCLUDES {
                // Said once; every later include line is skipped quietly.
                if self.includes == MAX_INCLUDES + 1 {
                    self.report_here(
                        refused,
                        format!("More than {MAX_INCLUDES} includes at '{pattern}' - skipping this and any further include"),
                    );
                }
                return false;
            }
        }
        if self.frames.len() >= MAX_INCLUDE_DEPTH {
            self.report_here(
                refused,
                format!("Include depth exceeds {MAX_INCLUDE_DEPTH} at '{pattern}' - skipping"),
            );
            return false;
        }
        let checks = self.include_check | include_type;
        let mut matches = Vec::new();
        let has_brace = pattern.contains('{');
        let mut brace_missing = false;
        for pat in expand_braces(pattern) {
            let full = if Path::new(&pat).is_absolute() {
                PathBuf::from(&pat)
            } else {
                dir.join(&pat)
            };
            let full_s = full.to_string_lossy().to_string();
            let wild = pat.contains(['*', '?', '[']);
            let mut found: Vec<PathBuf> = match glob::glob(&full_s) {
                Ok(paths) => paths.filter_map(Result::ok).collect(),
                Err(_) => Vec::new(),
            };
            if !wild && found.is_empty() && full.exists() {
                found.push(full.clone());
            }
            if found.is_empty() && has_brace {
                brace_missing = true;
            }
            found.sort();
            matches.extend(found);
        }
        if matches.is_empty() {
            let wild = pattern.contains(['*', '?', '[']);
            // keepalived's check for each message: `w` for wildcards that
            // match nothing, else `b` for a pattern with braces, else `m`.
            let (flag, msg) = if wild {
                (
                    INC_WILDCARD,
                    format!("No config files matched '{pattern}'."),
                )
            } else if has_brace {
                (INC_BRACE, format!("Config files missing '{pattern}'."))
            } else {
                (INC_MATCH, format!("Config files missing '{pattern}'."))
            };
            let class = if checks & flag != 0 || top {
                Class::FileNotFound
            } else {
                Class::Ok
            };
            if top {
                self.diags.check(None, class, msg);
            } else {
                self.report_here(class, msg);
            }
            return false;
        }
        if brace_missing && checks & INC_BRACE != 0 {
            self.report_here(
                Class::FileNotFound,
                format!("Some config files missing: \"{pattern}\"."),
            );
        }
        let saved = self.include_check;
        self.frames.push(Frame {
            pattern: pattern.to_string(),
            matches,
            next: 0,
            current: None,
            opened: 0,
            include_type,
            saved_include_check: saved,
        });
        if self.open_next_match() {
            true
        } else {
            self.frames.pop();
            false
        }
    }

    /// Opens the next usable match of the innermost frame.
    fn open_next_match(&mut self) -> bool {
        loop {
            let Some(frame) = self.frames.last_mut() else {
                return false;
            };
            let Some(path) = frame.matches.get(frame.next).cloned() else {
                return false;
            };
            frame.next += 1;
            let checks = self.include_check | frame.include_type;
            let class = if checks & INC_READ != 0 {
                Class::FileNotFound
            } else {
                Class::Ok
            };
            let meta = std::fs::metadata(&path);
            let ok_kind = match &meta {
                Ok(m) => {
                    use std::os::unix::fs::PermissionsExt;
                    m.is_file() && m.permissions().mode() & 0o111 == 0
                }
                Err(_) => false,
            };
            if !ok_kind {
                let what = if meta.as_ref().is_ok_and(|m| m.is_dir()) {
                    format!(
                        "Configuration file '{}' is a directory - skipping",
                        path.display()
                    )
                } else {
                    format!(
                        "Configuration file '{}' is not a regular non-executable file - skipping",
                        path.display()
                    )
                };
                self.report_here(class, what);
                continue;
            }
            match File::open(&path) {
                Ok(f) => {
                    let id = self.sources.add(path.clone());
                    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    let frame = self.frames.last_mut().expect("frame exists");
                    frame.opened += 1;
                    frame.current = Some(OpenFile::new(id, f, dir));
                    return true;
                }
                Err(e) => {
                    self.report_here(
                        class,
                        format!(
                            "Configuration file '{}' open problem ({}) - skipping",
                            path.display(),
                            e
                        ),
                    );
                }
            }
        }
    }

    /// Reads the next physical line (without its newline). Returns None at
    /// the end of all files.
    fn read_physical(&mut self) -> Option<Phys> {
        loop {
            let frame = self.frames.last_mut()?;
            if let Some(file) = frame.current.as_mut() {
                match file.next_line(&mut self.phys) {
                    Ok(Some(at)) => {
                        file.line_no += 1;
                        self.cur = Loc {
                            file: file.id,
                            line: file.line_no,
                            col: 0,
                        };
                        return Some(at);
                    }
                    Ok(None) => {
                        if file.span.as_ref().is_some_and(|s| s.end.is_some()) {
                            // Not the end of the file: keep it open, for
                            // `lift_limit`.
                            self.limit_hit = true;
                            return None;
                        }
                    }
                    Err(e) => {
                        let id = file.id;
                        frame.current = None;
                        let path = self.sources.path(id).cloned().unwrap_or_default();
                        self.report_here(
                            Class::FileNotFound,
                            format!("Error reading '{}': {e}", path.display()),
                        );
                        continue;
                    }
                }
                frame.current = None;
            }
            if !self.open_next_match() {
                let frame = self.frames.pop().expect("frame exists");
                self.include_check = frame.saved_include_check;
                if frame.opened == 0 && !frame.matches.is_empty() {
                    let msg = format!("No config files matched '{}'.", frame.pattern);
                    self.diags.check(None, Class::Ok, msg);
                }
            }
        }
    }

    fn current_dir(&self) -> PathBuf {
        self.frames
            .iter()
            .rev()
            .find_map(|f| f.current.as_ref().map(|c| c.dir.clone()))
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// Produces the next logical line into `self.line`. Returns false at EOF.
    pub fn next_line(&mut self) -> bool {
        if self.halted {
            return false;
        }
        if self.replay {
            self.replay = false;
            return true;
        }
        loop {
            if self.halted {
                return false;
            }
            if let Some((start, end, col)) = self.rest.take() {
                if end == start + 1 && self.lone_brace(start, col) {
                    return true;
                }
                if self.split_buf(start, end, col) {
                    return true;
                }
                continue;
            }
            let (mut text, col, set) = match self.pending.pop() {
                Some(p) => {
                    self.cur = Loc {
                        file: p.file,
                        line: p.line,
                        col: 0,
                    };
                    self.depth = p.depth;
                    (p.text, p.col, p.set)
                }
                None => {
                    self.depth = 0;
                    if self.fast_path && self.multiline_def.is_none() && self.chunk_line() {
                        return true;
                    }
                    let Some(at) = self.read_physical() else {
                        // A multi-line definition cut by the split is left
                        // open: the split is then refused.
                        if self.limit_hit || self.halted {
                            return false;
                        }
                        if let Some(i) = self.multiline_def.take() {
                            self.finish_multiline(i);
                        }
                        return false;
                    };
                    // Fast path: most lines have no comment, quote, escape,
                    // parameter, conditional, sequence, include or NUL, so
                    // they need no preprocessing and only one copy.
                    let text = match at {
                        Phys::Text(s, e) => chunk_text(&self.frames, s, e),
                        Phys::Bytes => &self.phys,
                    };
                    let plain = if self.multiline_def.is_none() && self.fast_path {
                        scan_plain(text, &mut self.scratch)
                    } else {
                        Plain::No
                    };
                    match plain {
                        Plain::No => {
                            if let Phys::Text(s, e) = at {
                                let mut phys = std::mem::take(&mut self.phys);
                                phys.clear();
                                phys.extend_from_slice(chunk_text(&self.frames, s, e));
                                self.phys = phys;
                            }
                        }
                        Plain::Blank => continue,
                        Plain::Line { start, end, rest } => {
                            self.take_line(at);
                            self.take_plain(start, end, rest);
                            return true;
                        }
                        Plain::Generic { start, end } => {
                            self.take_line(at);
                            if self.split_buf(start, end, start as u32 + 1) {
                                return true;
                            }
                            continue;
                        }
                    }
                    if self.phys.contains(&0) {
                        // keepalived ignores lines with an embedded NUL.
                        continue;
                    }
                    let s = String::from_utf8_lossy(&self.phys).into_owned();
                    if let Some(i) = self.multiline_def {
                        self.continue_multiline(i, s);
                        continue;
                    }
                    if s.trim().is_empty() {
                        continue;
                    }
                    let lead = s.len() - s.trim_start_matches([' ', '\t']).len();
                    let d = self.decomment(&s);
                    (d, lead as u32 + 1, None)
                }
            };
            if let Some((name, value)) = set {
                self.set_def(&name, value, false);
            }
            if text.is_empty() {
                continue;
            }
            match self.preprocess(text) {
                Some(t) => text = t,
                None => continue,
            }
            if text.is_empty() {
                continue;
            }
            if self.check_include(&text) {
                continue;
            }
            let len = text.len();
            self.line.buf = text;
            if self.split_buf(0, len, col) {
                return true;
            }
        }
    }

    /// keepalived's `decomment`: strip leading/trailing blanks and comments
    /// (`#`/`!` outside quotes), turn `\#`/`\!` into literals, keep a
    /// trailing `\` (multi-line definitions).
    fn decomment(&mut self, s: &str) -> String {
        let s = s.trim_start_matches([' ', '\t']);
        let b = s.as_bytes();
        let mut out = String::with_capacity(s.len());
        let mut quote = false;
        let mut cont = false;
        let mut i = 0;
        let mut seg = 0;
        while i < b.len() {
            match b[i] {
                b'"' => quote = !quote,
                b'\\' => {
                    if i + 1 < b.len() {
                        if !quote && (b[i + 1] == b'#' || b[i + 1] == b'!') {
                            out.push_str(&s[seg..i]);
                            seg = i + 1;
                        }
                        i += 2;
                        continue;
                    }
                    out.push_str(&s[seg..i]);
                    seg = b.len();
                    cont = true;
                    break;
                }
                b'#' | b'!' if !quote => {
                    out.push_str(&s[seg..i]);
                    seg = b.len();
                    // Quotes after a comment start are not counted.
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        if seg < b.len() {
            out.push_str(&s[seg..]);
        }
        if quote {
            let loc = self.cur;
            self.diags.at(
                loc,
                Class::GeneralError,
                format!("Unterminated quote '{s}'"),
            );
        }
        let t = out.trim_end_matches([' ', '\t']).len();
        out.truncate(t);
        if cont {
            out.push('\\');
        }
        out
    }

    /// Conditionals, definitions, ~SEQ/~LST and `$` substitution. Returns
    /// None when the line is consumed (a definition, a false conditional…).
    fn preprocess(&mut self, mut text: String) -> Option<String> {
        let mut rounds = 0;
        loop {
            rounds += 1;
            if rounds > MAX_SUBSTITUTIONS {
                self.report_here(
                    Class::GeneralError,
                    format!(
                        "Parameter substitution on line '{text}' does not terminate - ignoring"
                    ),
                );
                return None;
            }
            if text.starts_with('@') {
                let (rev, ofs) = if text.as_bytes().get(1) == Some(&b'^') {
                    (true, 2)
                } else {
                    (false, 1)
                };
                let rest = &text[ofs..];
                let sp = rest.find([' ', '\t'])?;
                let id = &rest[..sp];
                if (id == self.config_id) == rev {
                    return None;
                }
                text = rest[sp..].trim_start_matches([' ', '\t']).to_string();
            }
            if self.restricted
                && (text.contains('$') || text.starts_with("~SEQ") || text.starts_with("~LST"))
            {
                self.halted = true;
                return None;
            }
            if text.starts_with('$') && self.check_definition(&text) {
                return None;
            }
            if text.starts_with("~SEQ") || text.starts_with("~LST") {
                self.add_seq(&text);
                return None;
            }
            if text.starts_with('~') {
                return Some(text);
            }
            if !text.contains('$') {
                return Some(text);
            }
            let (replaced, changed, more) = self.replace_params(&text);
            if !changed {
                return Some(text);
            }
            if replaced.len() > MAX_EXPANDED_LINE {
                self.report_here(
                    Class::GeneralError,
                    format!(
                        "Parameter substitution on line '{text}' does not terminate - ignoring"
                    ),
                );
                return None;
            }
            text = self.decomment(&replaced);
            if let Some(rest) = more {
                // A multi-line definition: the following lines come next.
                if !self.expansion_allowed(&text) {
                    return None;
                }
                let (file, line, depth) = (self.cur.file, self.cur.line, self.depth + 1);
                for l in rest.into_iter().rev() {
                    self.pending.push(Pending {
                        text: l,
                        file,
                        line,
                        col: 1,
                        set: None,
                        depth,
                    });
                }
            }
            if !(text.starts_with('@') || text.contains('$')) {
                return Some(text);
            }
        }
    }

    fn find_def(&self, name: &str, allow_multiline: bool) -> Option<usize> {
        self.defs
            .iter()
            .position(|d| d.name == name && (allow_multiline || !d.multiline))
    }

    fn set_def(&mut self, name: &str, value: String, multiline: bool) -> usize {
        self.defs_changed = true;
        match self.defs.iter().position(|d| d.name == name) {
            Some(i) => {
                let d = &mut self.defs[i];
                d.value = value;
                d.multiline = multiline;
                d.builtin = None;
                i
            }
            None => {
                self.defs.push(Def {
                    name: name.to_string(),
                    value,
                    multiline,
                    builtin: None,
                });
                self.defs.len() - 1
            }
        }
    }

    /// Expansions that produce further lines (multi-line `$DEF`, `~SEQ`)
    /// may nest only so deep: a definition that expands to itself would
    /// otherwise produce lines forever (keepalived 2.2.7 loops).
    fn expansion_allowed(&mut self, text: &str) -> bool {
        if self.depth < MAX_SUBSTITUTIONS as u32 {
            return true;
        }
        self.report_here(
            Class::GeneralError,
            format!("Parameter substitution on line '{text}' does not terminate - ignoring"),
        );
        false
    }

    /// `$NAME=VALUE` (no blank between NAME and `=`… keepalived allows
    /// blanks there in fact; it only requires NAME to be an identifier).
    fn check_definition(&mut self, text: &str) -> bool {
        let b = text.as_bytes();
        if b.len() < 2 || !(b[1].is_ascii_alphabetic() || b[1] == b'_') {
            return false;
        }
        let mut i = 2;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let name = &text[1..i];
        let rest = text[i..].trim_start_matches([' ', '\t']);
        let Some(value) = rest.strip_prefix('=') else {
            return false;
        };
        let value = value.trim_start_matches([' ', '\t']);
        if let Some(v) = value.strip_suffix('\\') {
            let v = v.trim_end_matches([' ', '\t']).to_string();
            let idx = self.set_def(name, String::new(), true);
            self.defs[idx].value = v;
            self.multiline_def = Some(idx);
        } else {
            self.set_def(name, value.to_string(), false);
        }
        true
    }

    fn continue_multiline(&mut self, idx: usize, line: String) {
        let d = self.decomment(&line);
        let (part, more) = match d.strip_suffix('\\') {
            Some(p) => (p.trim_end_matches([' ', '\t']).to_string(), true),
            None => (d, false),
        };
        if !part.is_empty() {
            let def = &mut self.defs[idx];
            if !def.value.is_empty() {
                def.value.push('\n');
            }
            def.value.push_str(&part);
        }
        if !more {
            self.finish_multiline(idx);
        }
    }

    fn finish_multiline(&mut self, idx: usize) {
        self.multiline_def = None;
        if let Some(d) = self.defs.get_mut(idx) {
            d.multiline = d.value.contains('\n');
        }
    }

    /// Replaces `$NAME` / `${NAME}` / `${NAME params}` in `text`. Returns the
    /// new text, whether anything changed, and the remaining lines of a
    /// multi-line definition.
    fn replace_params(&mut self, text: &str) -> (String, bool, Option<Vec<String>>) {
        let mut out = String::with_capacity(text.len() + 16);
        let mut changed = false;
        let mut more = None;
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            match self.match_param(after) {
                Some((consumed, value, multi)) => {
                    changed = true;
                    if let Some(lines) = multi {
                        more = Some(lines);
                    }
                    let stop = value.trim_start().starts_with('~');
                    out.push_str(&value);
                    rest = &after[consumed..];
                    if stop {
                        out.push_str(rest);
                        rest = "";
                        break;
                    }
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        (out, changed, more)
    }

    /// Matches a parameter reference at the start of `s` (just after `$`).
    /// Returns (bytes consumed, replacement, further lines if multi-line).
    fn match_param(&mut self, s: &str) -> Option<(usize, String, Option<Vec<String>>)> {
        let b = s.as_bytes();
        let braces = b.first() == Some(&b'{');
        let start = usize::from(braces);
        let first = *b.get(start)?;
        if !(first.is_ascii_alphabetic() || first == b'_') {
            return None;
        }
        let mut i = start + 1;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let name = &s[start..i];
        let mut params: Vec<String> = Vec::new();
        let consumed;
        if braces {
            let close = s[i..].find('}')? + i;
            let inner = &s[i..close];
            if !inner.is_empty() {
                if !inner.starts_with(' ') {
                    return None;
                }
                params = inner.split_whitespace().map(str::to_string).collect();
            }
            consumed = close + 1;
        } else {
            match b.get(i) {
                None | Some(b' ' | b'\t' | b',' | b')') => {}
                _ => return None,
            }
            consumed = i;
        }
        // Only a reference that ends the line may expand to several lines.
        let alone = s[consumed..].trim().is_empty();
        let idx = self.find_def(name, alone)?;
        let (builtin, multiline) = (self.defs[idx].builtin, self.defs[idx].multiline);
        let value = match builtin {
            Some(Builtin::Pwd) => self.current_dir().display().to_string(),
            Some(Builtin::Instance) => self.config_id.clone(),
            Some(Builtin::Env) => {
                let var = params.first()?;
                std::env::var(var).unwrap_or_default()
            }
            Some(Builtin::Random) => {
                let nums: Vec<i64> = params.iter().filter_map(|p| p.parse().ok()).collect();
                if nums.len() != params.len() || nums.len() > 2 {
                    return None;
                }
                let (lo, hi) = match nums.as_slice() {
                    [] => (0, 32767),
                    [max] => (0, *max),
                    [min, max] => (*min, *max),
                    _ => return None,
                };
                let r = self.next_random();
                let span = (hi - lo + 1).max(1) as u64;
                (lo + (r % span) as i64).to_string()
            }
            None => {
                if !params.is_empty() {
                    return None;
                }
                self.defs[idx].value.clone()
            }
        };
        if multiline {
            let mut lines = value.split('\n').map(str::to_string);
            let first = lines.next().unwrap_or_default();
            return Some((consumed, first, Some(lines.collect())));
        }
        Some((consumed, value, None))
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: only needs to be unpredictable enough for ${_RANDOM}.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 16
    }

    /// `~SEQ(var, [start,] [step,] end) text` / `~SEQx(...)` / `~LST(...)`:
    /// queue one copy of `text` per value, each preceded by setting `var`.
    /// A bad one gets its own message, if any, then keepalived's
    /// "Invalid ~SEQ/~LST specification".
    fn add_seq(&mut self, text: &str) {
        if !self.queue_seq(text) {
            let what = if text.starts_with("~LST") {
                "~LST"
            } else {
                "~SEQ"
            };
            self.report_here(
                Class::GeneralError,
                format!("Invalid {what} specification '{text}'"),
            );
        }
    }

    fn queue_seq(&mut self, text: &str) -> bool {
        let lst = text.starts_with("~LST");
        let mut p = &text[4..];
        let hex = !lst && p.starts_with('x');
        if hex {
            p = &p[1..];
        }
        let p = p.trim_start_matches([' ', '\t']);
        let what = if lst { "~LST" } else { "~SEQ" };
        let Some(inner_start) = p.strip_prefix('(') else {
            return false;
        };
        let Some(close) = find_close_paren(inner_start) else {
            // keepalived measures the parameters up to the `)` it does not
            // find, and so calls them too long.
            let msg = if lst {
                format!("{what} missing terminating ')' '{text}'")
            } else {
                format!("~SEQ parameter strings too long '{text}'")
            };
            self.report_here(Class::GeneralError, msg);
            return false;
        };
        let inner = &inner_start[..close];
        let body = inner_start[close + 1..]
            .trim_start_matches([' ', '\t'])
            .to_string();
        let mut sets: Vec<Vec<(String, String)>> = Vec::new();
        if lst {
            match parse_lst(inner) {
                Some(s) => sets = s,
                None => return false,
            }
        } else {
            // keepalived copies the numbers and their `)` into 64 bytes.
            let numbers = inner
                .split_once(',')
                .map_or("", |(_, n)| n.trim_start_matches([' ', '\t']));
            if numbers.len() > 62 {
                self.report_here(
                    Class::GeneralError,
                    format!("~SEQ parameter strings too long '{text}'"),
                );
                return false;
            }
            let (inner_sub, _, multi) = self.replace_params(inner);
            let mut parts = inner_sub.split(',').map(|s| s.trim());
            let var = parts.next().unwrap_or("").to_string();
            let nums: Vec<&str> = parts.collect();
            if var.is_empty() || nums.is_empty() || nums.len() > 3 || multi.is_some() {
                self.report_here(
                    Class::GeneralError,
                    format!("Invalid ~SEQ definition '{text}'"),
                );
                return false;
            }
            let mut vals = Vec::new();
            for n in &nums {
                match parse_c_long(n) {
                    Some(v) => vals.push(v),
                    None => {
                        self.report_here(
                            Class::GeneralError,
                            format!("Invalid ~SEQ definition '{text}'"),
                        );
                        return false;
                    }
                }
            }
            let (start, step, end) = match vals.as_slice() {
                [end] => (
                    if *end < 0 { -1 } else { 1 },
                    if *end < 1 { -1 } else { 1 },
                    *end,
                ),
                [s, e] => (*s, if s <= e { 1 } else { -1 }, *e),
                [s, st, e] => (*s, *st, *e),
                _ => unreachable!("1..=3 values"),
            };
            if step == 0 || (start < end && step < 0) || (start > end && step > 0) {
                self.report_here(Class::GeneralError, format!("Invalid ~SEQ values '{text}'"));
                return false;
            }
            if hex && (start < 0 || end < 0) {
                self.report_here(
                    Class::GeneralError,
                    format!("~SEQx is only valid for positive numbers '{text}'"),
                );
                return false;
            }
            const MAX_SEQ: usize = 1_000_000;
            let mut v = start;
            while (step > 0 && v <= end) || (step < 0 && v >= end) {
                let s = if hex { format!("{v:x}") } else { v.to_string() };
                sets.push(vec![(var.clone(), s)]);
                if sets.len() > MAX_SEQ {
                    self.report_here(Class::GeneralError, format!("~SEQ too long '{text}'"));
                    return false;
                }
                match v.checked_add(step) {
                    Some(n) => v = n,
                    None => break,
                }
            }
        }
        if !self.expansion_allowed(text) {
            // Our own guard (keepalived loops forever), already reported.
            return true;
        }
        let (file, line, depth) = (self.cur.file, self.cur.line, self.depth + 1);
        // Pending is a stack: push in reverse so the first value comes first.
        for set in sets.into_iter().rev() {
            let mut defs = set.into_iter();
            let first = defs.next();
            let extra: Vec<(String, String)> = defs.collect();
            self.pending.push(Pending {
                text: body.clone(),
                file,
                line,
                col: 1,
                set: first,
                depth,
            });
            // Further variables of a ~LST set are made by empty carrier lines
            // processed just before the body.
            for (n, v) in extra.into_iter().rev() {
                self.pending.push(Pending {
                    text: String::new(),
                    file,
                    line,
                    col: 1,
                    set: Some((n, v)),
                    depth,
                });
            }
        }
        true
    }

    /// `include FILE`, `includer/m/w/b/a FILE` as the first word.
    fn check_include(&mut self, text: &str) -> bool {
        let Some(rest) = text.strip_prefix("include") else {
            return false;
        };
        let b = rest.as_bytes();
        let (itype, arg) = match b.first() {
            Some(b' ' | b'\t') => (0, rest),
            Some(c @ (b'r' | b'm' | b'w' | b'b' | b'a'))
                if matches!(b.get(1), Some(b' ' | b'\t')) =>
            {
                let t = match c {
                    b'r' => INC_READ,
                    b'm' => INC_READ | INC_MATCH,
                    b'w' => INC_READ | INC_MATCH | INC_WILDCARD,
                    b'b' => INC_READ | INC_BRACE,
                    _ => INC_ALL,
                };
                (t, &rest[1..])
            }
            _ => return false,
        };
        if self.restricted {
            self.halted = true;
            return true;
        }
        let arg = arg.trim();
        let arg = arg.trim_matches('"').to_string();
        let dir = self.current_dir();
        self.open_include(&arg, itype, &dir, false);
        true
    }

    /// The plain-line fast path straight from the chunk: reads the next
    /// physical lines of the current text chunk in one pass (finding the
    /// newline, checking that the line is plain and splitting its words
    /// together), skipping blank ones, until one gives a logical line.
    /// Returns false, with the line not consumed, for anything else: a
    /// line that is not plain, a chunk to refill, bytes that are not UTF-8.
    /// The result is what `scan_plain` and `take_plain` give (the tests
    /// compare every path).
    fn chunk_line(&mut self) -> bool {
        let Some(file) = self.frames.last_mut().and_then(|f| f.current.as_mut()) else {
            return false;
        };
        let Chunk::Text(text) = &file.chunk else {
            return false;
        };
        let b = text.as_bytes();
        let words = &mut self.scratch;
        loop {
            let s = file.pos;
            if s >= b.len() {
                return false;
            }
            let i = s + leading_blanks(&b[s..]);
            if i == b.len() || b[i] == b'\n' {
                self.cur = step_line(&mut file.pos, &mut file.line_no, file.id, i);
                continue;
            }
            if b[i..].starts_with(b"include") {
                return false;
            }
            words.clear();
            // Word by word: a tight loop over each run of word bytes, then
            // one look at the byte that ended it.
            let mut brace = None;
            let mut j = i;
            let e = loop {
                let ws = j;
                while j < b.len() && LINE_CLASS[b[j] as usize] == C_WORD {
                    j += 1;
                }
                if j > ws {
                    push_word(words, 0, ws - s, j - s);
                }
                let Some(&c) = b.get(j) else { break j };
                match LINE_CLASS[c as usize] {
                    C_BLANK => {
                        j += 1;
                        while j < b.len() && LINE_CLASS[b[j] as usize] == C_BLANK {
                            j += 1;
                        }
                    }
                    C_BRACE => {
                        brace = Some(j);
                        // What follows the brace is split later: here it
                        // only has to be plain.
                        j += 1;
                        while let Some(&c) = b.get(j) {
                            match LINE_CLASS[c as usize] {
                                C_NEWLINE => break,
                                C_OTHER => return false,
                                _ => j += 1,
                            }
                        }
                        break j;
                    }
                    C_NEWLINE => break j,
                    _ => return false,
                }
            };
            let line_end = s + trimmed_len(&b[s..e]);
            let (end, rest) = match brace {
                // A lone brace: what follows it is the next logical line.
                Some(at) if at == i => {
                    words.clear();
                    push_word(words, 0, at - s, at + 1 - s);
                    let after = at + 1 + leading_blanks(&b[at + 1..line_end]);
                    (
                        at + 1,
                        (after < line_end).then_some((after - s, line_end - s)),
                    )
                }
                Some(at) => (s + trimmed_len(&b[s..at]), Some((at - s, line_end - s))),
                None => (line_end, None),
            };
            let start = i - s;
            let end = end - s;
            self.line.buf.clear();
            self.line.buf.push_str(&text[s..e]);
            self.cur = step_line(&mut file.pos, &mut file.line_no, file.id, e);
            self.take_plain(start, end, rest);
            return true;
        }
    }

    /// A lone `{` or `}` at `line.buf[start]`, left over from splitting a
    /// plain line: made the current line without tokenising. False for
    /// anything else.
    fn lone_brace(&mut self, start: usize, col: u32) -> bool {
        let kind = match self.line.buf.as_bytes().get(start) {
            Some(b'{') => LineKind::Open,
            Some(b'}') => LineKind::Close,
            _ => return false,
        };
        let loc = Loc { col, ..self.cur };
        let line = &mut self.line;
        line.words.clear();
        line.words.push(Word {
            start: start as u32,
            end: start as u32 + 1,
            col,
        });
        line.loc = loc;
        line.raw = (start as u32, start as u32 + 1);
        line.kind = Some(kind);
        self.count_brace(loc);
        true
    }

    /// Makes the physical line in `phys`, checked by [`scan_plain`] (its
    /// words are in `scratch`), the current line.
    fn take_plain(&mut self, start: usize, end: usize, rest: Option<(usize, usize)>) {
        let col = start as u32 + 1;
        let loc = Loc { col, ..self.cur };
        let line = &mut self.line;
        std::mem::swap(&mut line.words, &mut self.scratch);
        line.raw = (start as u32, end as u32);
        line.loc = loc;
        line.kind = Some(match &line.buf.as_bytes()[start..end] {
            b"{" => LineKind::Open,
            b"}" => LineKind::Close,
            _ => LineKind::Words,
        });
        self.rest = rest.map(|(s, e)| (s, e, s as u32 + 1));
        self.count_brace(loc);
    }

    /// Makes the (ASCII) physical line the text of `self.line`.
    fn take_line(&mut self, at: Phys) {
        let buf = &mut self.line.buf;
        buf.clear();
        match at {
            Phys::Text(s, e) => {
                let text = self
                    .frames
                    .last()
                    .and_then(|f| f.current.as_ref())
                    .and_then(|f| match &f.chunk {
                        Chunk::Text(t) => t.get(s..e),
                        Chunk::Bytes(_) => None,
                    });
                buf.push_str(text.unwrap_or_default());
            }
            // Unreachable for invalid UTF-8: the fast path only takes ASCII.
            Phys::Bytes => buf.push_str(std::str::from_utf8(&self.phys).unwrap_or_default()),
        }
    }

    /// keepalived's count of open blocks, for the current lone brace.
    fn count_brace(&mut self, loc: Loc) {
        match self.line.kind {
            Some(LineKind::Open) => self.block_depth += 1,
            Some(LineKind::Close) => {
                self.block_depth -= 1;
                if self.block_depth < 0 {
                    self.diags.at(loc, Class::UnexpectedEob, "Extra '}' found");
                    self.block_depth = 0;
                }
            }
            _ => {}
        }
    }

    /// Splits `line.buf[start..end]` at the first brace outside quotes
    /// (the rest becomes `self.rest`, split next) and tokenises what comes
    /// before it into `self.line`. Returns false if no line was produced.
    fn split_buf(&mut self, start: usize, end: usize, col: u32) -> bool {
        let bytes = &self.line.buf.as_bytes()[start..end];
        if bytes.is_empty() {
            return false;
        }
        let mut split = None;
        if bytes[0] == b'{' || bytes[0] == b'}' {
            let skip = 1 + bytes[1..]
                .iter()
                .take_while(|c| **c == b' ' || **c == b'\t')
                .count();
            if skip < bytes.len() {
                split = Some(skip);
            }
        } else {
            let mut quote = false;
            for (i, c) in bytes.iter().enumerate() {
                match c {
                    b'"' => quote = !quote,
                    b'{' | b'}' if !quote => {
                        split = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
        }
        let head_end = match split {
            Some(at) => {
                let rest_end = start + at + trimmed_len(&bytes[at..]);
                self.rest = Some((start + at, rest_end, col + at as u32));
                start + at
            }
            None => end,
        };
        let head_end = start + trimmed_len(&self.line.buf.as_bytes()[start..head_end]);
        if head_end == start {
            return false;
        }
        let loc = Loc { col, ..self.cur };
        self.tokenize(start, head_end, loc)
    }

    /// Tokenises `line.buf[start..end]` into the current line.
    fn tokenize(&mut self, start: usize, end: usize, loc: Loc) -> bool {
        let line = &mut self.line;
        line.words.clear();
        line.loc = loc;
        line.raw = (start as u32, end as u32);
        let raw = &line.buf[start..end];
        let b = raw.as_bytes();
        let mut i = 0;
        let mut unmatched = false;
        while i < b.len() {
            while i < b.len() && is_white(b[i]) {
                i += 1;
            }
            if i >= b.len() {
                break;
            }
            let (s, e, next) = if b[i] == b'"' {
                match raw[i + 1..].find('"') {
                    Some(q) => (i + 1, i + 1 + q, i + 2 + q),
                    None => {
                        unmatched = true;
                        break;
                    }
                }
            } else {
                let mut j = i;
                while j < b.len() && !is_white(b[j]) && b[j] != b'"' {
                    j += 1;
                }
                (i, j, j)
            };
            line.words.push(Word {
                start: (start + s) as u32,
                end: (start + e) as u32,
                col: loc.col + i as u32,
            });
            i = next;
        }
        line.kind = Some(match raw {
            "{" => LineKind::Open,
            "}" => LineKind::Close,
            _ => LineKind::Words,
        });
        if unmatched {
            let msg = format!("Unmatched quote: '{raw}'");
            self.diags.at(loc, Class::UnmatchedQuote, msg);
        }
        self.count_brace(loc);
        !self.line.words.is_empty()
    }

    /// Makes the next [`Reader::next_line`] return the current line again.
    pub fn push_back_line(&mut self) {
        self.replay = true;
    }

    /// Open braces never closed, reported at the end as keepalived does.
    pub fn unclosed_blocks(&self) -> i64 {
        self.block_depth
    }
}

/// Bytes that send a line down the full preprocessing path: comments,
/// quotes, escapes, parameters, conditionals, sequences, a CR, NUL and
/// anything not ASCII.
const NOT_PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0x80;
    while i < 256 {
        t[i] = true;
        i += 1;
    }
    let specials = b"#!\"\\$@~\r\0";
    let mut j = 0;
    while j < specials.len() {
        t[specials[j] as usize] = true;
        j += 1;
    }
    t
};

/// `chunk[s..e]` of the file being read (see [`Phys::Text`]).
fn chunk_text(frames: &[Frame], s: usize, e: usize) -> &[u8] {
    frames
        .last()
        .and_then(|f| f.current.as_ref())
        .and_then(|f| f.chunk.bytes().get(s..e))
        .unwrap_or_default()
}

/// What [`scan_plain`] found.
enum Plain {
    /// The line needs the full preprocessing path.
    No,
    /// Nothing but blanks.
    Blank,
    /// No preprocessing needed, but blanks other than space and tab: split
    /// by the general path, `start..end` being the text without leading and
    /// trailing spaces and tabs.
    Generic { start: usize, end: usize },
    /// A plain line: its first logical line is `start..end` (words in the
    /// scratch vector), and what follows a brace is `rest`.
    Line {
        start: usize,
        end: usize,
        rest: Option<(usize, usize)>,
    },
}

/// The fast path for a physical line that needs none of the preprocessing
/// steps (see `next_line`): checks that it is plain and tokenises its first
/// logical line in one pass, with the same result as `split_buf`. Most
/// plain lines never get here: [`Reader::chunk_line`] reads them from the
/// chunk directly. This one takes those it leaves: lines that ended in a CR
/// (a file edited on Windows), chunks that are not UTF-8, and lines with
/// blanks other than space and tab.
fn scan_plain(b: &[u8], words: &mut Vec<Word>) -> Plain {
    words.clear();
    let start = leading_blanks(b);
    let end = start + trimmed_len(&b[start..]);
    if start == end {
        return Plain::Blank;
    }
    let body = &b[start..end];
    // The slow way out: is it the preprocessing, or only odd blanks?
    let other = || {
        if b.iter().any(|c| NOT_PLAIN[*c as usize]) {
            Plain::No
        } else {
            Plain::Generic { start, end }
        }
    };
    if body.starts_with(b"include") {
        return Plain::No;
    }
    if body[0] == b'{' || body[0] == b'}' {
        // A lone brace; the rest (after blanks) is the next logical line.
        if body[1..].iter().any(|c| CLASS[*c as usize] == C_OTHER) {
            return other();
        }
        let col = start as u32 + 1;
        words.push(Word {
            start: start as u32,
            end: start as u32 + 1,
            col,
        });
        let skip = 1 + body[1..]
            .iter()
            .take_while(|c| **c == b' ' || **c == b'\t')
            .count();
        let rest = (skip < body.len()).then_some((start + skip, end));
        return Plain::Line {
            start,
            end: start + 1,
            rest,
        };
    }
    let mut word_start = None;
    let mut brace = None;
    for (i, &c) in body.iter().enumerate() {
        match CLASS[c as usize] {
            C_WORD => {
                if word_start.is_none() {
                    word_start = Some(i);
                }
            }
            C_BLANK => {
                if let Some(ws) = word_start.take() {
                    push_word(words, start, ws, i);
                }
            }
            C_BRACE => {
                brace = Some(i);
                break;
            }
            _ => return other(),
        }
    }
    let head_end = match brace {
        Some(at) => {
            if body[at..].iter().any(|c| CLASS[*c as usize] == C_OTHER) {
                return other();
            }
            at
        }
        None => body.len(),
    };
    if let Some(ws) = word_start {
        push_word(words, start, ws, head_end);
    }
    let head_len = trimmed_len(&body[..head_end]);
    Plain::Line {
        start,
        end: start + head_len,
        rest: brace.map(|at| (start + at, end)),
    }
}

/// Moves a file's position past the physical line that ends at `end` (at
/// its newline, or the chunk's end), and gives that line's location.
fn step_line(pos: &mut usize, line_no: &mut u32, file: u32, end: usize) -> Loc {
    *pos = end + 1;
    *line_no += 1;
    Loc {
        file,
        line: *line_no,
        col: 0,
    }
}

fn push_word(words: &mut Vec<Word>, start: usize, ws: usize, we: usize) {
    words.push(Word {
        start: (start + ws) as u32,
        end: (start + we) as u32,
        col: (start + ws) as u32 + 1,
    });
}

/// The number of spaces and tabs `b` starts with. Indentation is a good
/// part of a large configuration, so runs of 8 spaces are skipped at once.
fn leading_blanks(b: &[u8]) -> usize {
    const SPACES: u64 = u64::from_ne_bytes(*b"        ");
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
        if u64::from_ne_bytes(chunk) != SPACES {
            break;
        }
        i += 8;
    }
    i + b[i..]
        .iter()
        .position(|c| *c != b' ' && *c != b'\t')
        .unwrap_or(b.len() - i)
}

/// The length of `b` without trailing blanks (spaces and tabs).
fn trimmed_len(b: &[u8]) -> usize {
    b.iter()
        .rposition(|c| *c != b' ' && *c != b'\t')
        .map_or(0, |i| i + 1)
}

const C_WORD: u8 = 0;
const C_BLANK: u8 = 1;
const C_BRACE: u8 = 2;
const C_OTHER: u8 = 3;

/// Byte classes of the plain-line fast path: anything in `NOT_PLAIN`, and
/// blanks other than space and tab (which `split_buf` does not trim), go
/// down the full path.
const CLASS: [u8; 256] = {
    let mut t = [C_WORD; 256];
    let mut i = 0;
    while i < 256 {
        if NOT_PLAIN[i] {
            t[i] = C_OTHER;
        }
        i += 1;
    }
    t[b' ' as usize] = C_BLANK;
    t[b'\t' as usize] = C_BLANK;
    t[b'{' as usize] = C_BRACE;
    t[b'}' as usize] = C_BRACE;
    t[b'\n' as usize] = C_OTHER;
    t[0x0b] = C_OTHER;
    t[0x0c] = C_OTHER;
    t
};

const C_NEWLINE: u8 = 4;

/// [`CLASS`] for [`Reader::chunk_line`], which reads up to the newline. A
/// brace's rest is checked byte by byte with the same table: a word or
/// blank there is fine, anything `C_OTHER` is not.
const LINE_CLASS: [u8; 256] = {
    let mut t = CLASS;
    t[b'\n' as usize] = C_NEWLINE;
    t
};

fn is_white(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn find_close_paren(s: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return Some(i),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// `strtol(s, 0)`: decimal, `0x` hex or leading-0 octal, with a sign.
pub fn parse_c_long(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, d) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = d.strip_prefix("0x").or_else(|| d.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if d.len() > 1 && d.starts_with('0') {
        i64::from_str_radix(&d[1..], 8).ok()?
    } else {
        d.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// `~LST(var, v1, v2…)` or `~LST({a, b}, {1, 2}, {3, 4})`.
fn parse_lst(inner: &str) -> Option<Vec<Vec<(String, String)>>> {
    let inner = inner.trim();
    let groups: Vec<Vec<String>> = if inner.starts_with('{') {
        let mut out = Vec::new();
        let mut rest = inner;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}')? + open;
            out.push(
                rest[open + 1..close]
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect(),
            );
            rest = &rest[close + 1..];
        }
        out
    } else {
        let mut parts = inner.split(',').map(|s| s.trim().to_string());
        let var = parts.next()?;
        let mut out = vec![vec![var]];
        out.extend(parts.map(|p| vec![p]));
        out
    };
    let (names, values) = groups.split_first()?;
    if names.is_empty() || names.iter().any(|n| n.is_empty()) || values.is_empty() {
        return None;
    }
    Some(
        values
            .iter()
            .map(|vals| {
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.clone(), vals.get(i).cloned().unwrap_or_default()))
                    .collect()
            })
            .collect(),
    )
}

/// csh-style brace expansion (`a{b,c}d` → `abd`, `acd`), as glob(3) does
/// with GLOB_BRACE.
pub fn expand_braces(pat: &str) -> Vec<String> {
    let Some(open) = pat.find('{') else {
        return vec![pat.to_string()];
    };
    let mut depth = 0;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, c) in pat[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(open + i),
            _ => {}
        }
    }
    let Some(close) = close else {
        return vec![pat.to_string()];
    };
    let (pre, post) = (&pat[..open], &pat[close + 1..]);
    let mut bounds = vec![open];
    bounds.extend(commas);
    bounds.push(close);
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let alt = &pat[w[0] + 1..w[1]];
        for e in expand_braces(&format!("{pre}{alt}{post}")) {
            out.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(src: &str, id: &str) -> (Vec<String>, Diags) {
        let dir = std::env::temp_dir().join(format!(
            "kaconf-reader-{}-{}",
            std::process::id(),
            src.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("t.conf");
        std::fs::write(&f, src).unwrap();
        let mut r = Reader::new(ReaderOptions {
            config_id: id.into(),
            include_check: 0,
        });
        assert!(r.open_top(f.to_str().unwrap()));
        let mut out = Vec::new();
        while r.next_line() {
            out.push(format!(
                "{}:{}|{}",
                r.line.loc.line,
                r.line.loc.col,
                r.line.words().collect::<Vec<_>>().join("|")
            ));
        }
        (out, r.diags)
    }

    #[test]
    fn braces_split_and_columns() {
        let (l, _) = lines(
            "vrrp_instance VI_1{\n  virtual_ipaddress { 10.0.0.1 }\n}\n",
            "x",
        );
        assert_eq!(
            l,
            [
                "1:1|vrrp_instance|VI_1",
                "1:19|{",
                "2:3|virtual_ipaddress",
                "2:21|{",
                "2:23|10.0.0.1",
                "2:32|}",
                "3:1|}"
            ]
        );
    }

    #[test]
    fn comments_quotes_and_escapes() {
        let (l, d) = lines("a \"b # c\" ! x\nk \\#v # y\n\"q r\"s\n", "x");
        assert_eq!(l, ["1:1|a|b # c", "2:1|k|#v", "3:1|q r|s"]);
        assert!(d.list.is_empty());
    }

    #[test]
    fn conditionals() {
        let (l, _) = lines("@h1 a\n@h2 b\n@^h1 c\n@^h2 d\n@h1\n", "h1");
        assert_eq!(l, ["1:1|a", "4:1|d"]);
    }

    #[test]
    fn definitions_and_substitution() {
        let src = "$IF=eth0\n$M=a \\\n b \\\n c\ninterface $IF x${IF}y\n$M\n";
        let (l, _) = lines(src, "x");
        assert_eq!(l, ["5:1|interface|eth0|xeth0y", "6:1|a", "6:1|b", "6:1|c"]);
    }

    #[test]
    fn seq_and_lst() {
        let (l, _) = lines(
            "~SEQ(i, 1, 3) n $i\n~SEQx(h, 9, 11) $h\n~LST(v, a, b) w $v\n",
            "x",
        );
        assert_eq!(
            l,
            [
                "1:1|n|1", "1:1|n|2", "1:1|n|3", "2:1|9", "2:1|a", "2:1|b", "3:1|w|a", "3:1|w|b"
            ]
        );
    }

    #[test]
    fn self_reference_terminates() {
        let (l, d) = lines("$A=$A\nx $A\n", "x");
        assert!(l.is_empty());
        assert_eq!(d.list.len(), 1);
    }

    /// Found by cargo-fuzz: each expansion queued lines that expanded again.
    #[test]
    fn self_referencing_multiline_definition_terminates() {
        let (l, d) = lines("$A=x \\\ny $A\n$A\n", "x");
        assert_eq!(l.len(), MAX_SUBSTITUTIONS, "{l:?}");
        assert_eq!(l.first().map(String::as_str), Some("3:1|x"));
        assert!(
            d.list
                .iter()
                .any(|d| d.message.contains("does not terminate"))
        );
    }

    fn stream(path: &Path, fast: bool) -> (Vec<String>, Vec<String>) {
        let mut r = Reader::new(ReaderOptions {
            config_id: "x".into(),
            include_check: 0,
        });
        r.fast_path = fast;
        assert!(r.open_top(path.to_str().unwrap()));
        let mut out = Vec::new();
        while r.next_line() {
            let l = &r.line;
            let words: Vec<String> = (0..l.len())
                .map(|i| format!("{}@{}", l.w(i), l.loc_of(i).col))
                .collect();
            out.push(format!(
                "{:?} {:?} [{}] {}",
                l.loc,
                l.kind,
                l.raw(),
                words.join(" ")
            ));
        }
        let diags = r.diags.list.iter().map(|d| format!("{d:?}")).collect();
        (out, diags)
    }

    proptest::proptest! {
        /// The plain-line fast path gives exactly what the general path gives.
        #[test]
        fn fast_path_matches_general_path(
            lines in proptest::collection::vec(
                "[ \t{}ab1\\x0b\r#\"$]{0,12}|[ \t{}ab]{60,70}",
                0..12,
            )
        ) {
            let dir = std::env::temp_dir().join(format!("kaconf-fast-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let f = dir.join("t.conf");
            std::fs::write(&f, lines.join("\n")).unwrap();
            let fast = stream(&f, true);
            let slow = stream(&f, false);
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    /// Lines across chunk boundaries, longer than a chunk, with CRs, in a
    /// chunk that is not UTF-8, and without a final newline.
    #[test]
    fn physical_lines_across_chunks() {
        let mut content: Vec<u8> = Vec::new();
        let mut want: Vec<Vec<u8>> = Vec::new();
        let mut n = 0u32;
        while content.len() < 3 * CHUNK {
            n += 1;
            let mut l = format!("line {n} {}", "x".repeat((n as usize * 37) % 300)).into_bytes();
            match n % 1000 {
                7 => l.extend_from_slice(b"\r\r"),
                500 => l.extend(std::iter::repeat_n(b'y', CHUNK + 10)),
                900 => l.extend_from_slice(&[0xff, 0xfe]),
                _ => {}
            }
            content.extend_from_slice(&l);
            content.push(b'\n');
            while l.last() == Some(&b'\r') {
                l.pop();
            }
            want.push(l);
        }
        content.extend_from_slice(b"last\r");
        want.push(b"last".to_vec());
        let dir = std::env::temp_dir().join(format!("kaconf-chunks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("t.conf");
        std::fs::write(&f, &content).unwrap();
        let mut file = OpenFile::new(0, File::open(&f).unwrap(), dir.clone());
        let mut phys = Vec::new();
        let mut got = Vec::new();
        while let Some(at) = file.next_line(&mut phys).unwrap() {
            got.push(match at {
                Phys::Text(s, e) => file.chunk.bytes()[s..e].to_vec(),
                Phys::Bytes => phys.clone(),
            });
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(g == w, "line {} differs", i + 1);
        }
    }

    #[test]
    fn brace_expansion() {
        assert_eq!(expand_braces("a{b,c{d,e}}f"), ["abf", "acdf", "acef"]);
    }
}
