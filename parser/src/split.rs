//! Parsing a large file on two threads, with exactly the serial result.
//!
//! A generated configuration is mostly `virtual_server` blocks, each built
//! from its own lines only. The top file is cut at a line starting with
//! `virtual_server ` near its middle; the first half is parsed as usual up
//! to the cut, the second half at the same time by a second reader and
//! builder that know nothing of the first. The halves are merged only if
//! both show that nothing could have crossed the cut:
//!
//! - the first half ended at the root level with no brace open, nothing
//!   queued, split off or replayed, no `$` definition ever made, only the
//!   top file open ([`Reader::at_rest_at_limit`], [`engine::run_part`]),
//!   and its builder had no block in progress ([`Builder::at_rest`]);
//! - the second half met only `virtual_server` and `virtual_server_group`
//!   blocks at the root, no include, `$` or `~SEQ`/`~LST` (anything else
//!   halts it before it is acted on), and changed nothing in the model
//!   but the lists it appends to.
//!
//! Line numbers of the second half start after the newlines of the first,
//! and it names the same file (id 0), so that every location, and so every
//! diagnostic, is the serial one. Otherwise the first half's reader reads
//! on from the cut (it stopped at the root level, so that is the serial
//! parse), or, if it stopped anywhere else, the file is parsed again.

use crate::builder::Builder;
use crate::engine::{self, Flow, Sink};
use crate::model::Config;
use crate::reader::Reader;
use crate::schema::{Ctx, Kw};
use crate::{Diags, Options, Parsed};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// Smaller files are parsed serially: below it the second thread saves a
/// few milliseconds, and its arena and code pages add to the resident
/// memory of the parent and of the children it forks (issue 5 measures
/// the checker processes' RSS on a 420 KB file).
pub const MIN_SPLIT_SIZE: u64 = 1024 * 1024;

/// The line a cut may precede (with the newline ending the line before).
const CUT: &[u8] = b"\nvirtual_server ";

/// When to split (tests force it on small files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Files of at least [`MIN_SPLIT_SIZE`] bytes, with two or more CPUs.
    Auto,
    Never,
    /// At the first candidate line at or after the middle, whatever the
    /// file's size and the number of CPUs.
    Always,
    /// At this byte offset, if a line starting with `virtual_server ` (and
    /// not the first line) starts there.
    At(u64),
}

/// How a parse went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not split.
    Serial,
    /// Both halves parsed in parallel and merged.
    Merged,
    /// The second half was refused; the first half's reader read on.
    Resumed,
    /// The first half did not end at rest; parsed again serially.
    Restarted,
}

/// [`crate::parse_file`], saying how the parse went.
pub fn parse_file_split(path: &str, opts: &Options, split: Split) -> (Parsed, Outcome) {
    let mut r = new_reader(opts);
    let mut found = r.open_top(path);
    let mut b = Builder::default();
    let mut outcome = Outcome::Serial;
    if found {
        match plan(&r, split) {
            Some((offset, second)) => {
                outcome = parallel(&mut r, &mut b, opts, offset, second);
                if outcome == Outcome::Restarted {
                    r = new_reader(opts);
                    b = Builder::default();
                    found = r.open_top(path);
                    if found {
                        engine::run(&mut r, &mut b);
                    }
                }
            }
            None => engine::run(&mut r, &mut b),
        }
    }
    let mut config = b.cfg;
    let mut diags = std::mem::take(&mut r.diags);
    if !r.config_file_error {
        crate::validate::validate(&mut config, &mut diags);
    }
    let parsed = Parsed {
        config,
        diags,
        sources: std::mem::take(&mut r.sources),
        found,
        config_file_error: r.config_file_error,
    };
    (parsed, outcome)
}

fn new_reader(opts: &Options) -> Reader {
    let mut r = Reader::new(crate::reader::ReaderOptions {
        config_id: opts.config_id.clone(),
        include_check: if opts.all_config {
            crate::reader::INC_ALL
        } else {
            0
        },
    });
    r.diags.run_time = opts.run_time;
    r
}

/// Where to cut the top file, and a second handle on it for the second
/// half (the very file the first half reads, whatever happens to the path).
fn plan(r: &Reader, split: Split) -> Option<(u64, File)> {
    if split == Split::Never {
        return None;
    }
    let file = r.split_candidate()?;
    let len = file.metadata().ok()?.len();
    let offset = match split {
        Split::Never => return None,
        Split::Auto => {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            if len < MIN_SPLIT_SIZE || cpus < 2 {
                return None;
            }
            // Past three quarters the second half saves too little.
            find_cut(file, len / 2, len / 2 + len / 4)?
        }
        Split::Always => find_cut(file, len / 2, len)?,
        Split::At(offset) => {
            let at = offset.checked_sub(1)?;
            let mut buf = [0u8; CUT.len()];
            file.read_exact_at(&mut buf, at).ok()?;
            (buf == CUT).then_some(offset)?
        }
    };
    Some((offset, file.try_clone().ok()?))
}

/// The start of the first line at or after `from` that starts with
/// `virtual_server `, searching no further than `to`.
fn find_cut(file: &File, from: u64, to: u64) -> Option<u64> {
    const WINDOW: usize = 64 * 1024;
    let finder = memchr::memmem::Finder::new(CUT);
    let mut buf = vec![0u8; WINDOW];
    // From the newline that ends the line before `from`'s.
    let mut at = from.checked_sub(1)?;
    while at < to {
        let n = read_at_most(file, &mut buf, at).ok()?;
        if n < CUT.len() {
            return None;
        }
        if let Some(i) = finder.find(&buf[..n]) {
            return Some(at + i as u64 + 1);
        }
        // The windows overlap so that a match across two is seen.
        at += (n - CUT.len() + 1) as u64;
    }
    None
}

fn read_at_most(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The newlines in the file's first `end` bytes.
fn count_lines(file: &File, end: u64) -> Option<u32> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut at = 0;
    let mut lines = 0usize;
    while at < end {
        let want = (end - at).min(buf.len() as u64) as usize;
        let n = read_at_most(file, &mut buf[..want], at).ok()?;
        if n < want {
            return None;
        }
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count();
        at += n as u64;
    }
    u32::try_from(lines).ok()
}

/// What the second half adds to the model.
struct Half {
    lines_before: u32,
    diags: Diags,
    virtual_servers: Vec<crate::model::VirtualServer>,
    virtual_server_groups: Vec<crate::model::VirtualServerGroup>,
    extra: Vec<crate::model::Raw>,
    global_extra: Vec<crate::model::Raw>,
}

/// Parses the file from `offset` to its end in the restricted mode. None if
/// the result cannot be merged.
fn second_half(file: File, path: PathBuf, offset: u64, opts: &Options) -> Option<Half> {
    let lines_before = count_lines(&file, offset)?;
    let mut r = new_reader(opts);
    r.open_second_half(path, file, offset, lines_before);
    let mut b = Builder::default();
    engine::run(&mut r, &mut VirtualServersOnly(&mut b));
    if r.halted() || r.config_file_error || r.sources.files.len() != 1 {
        return None;
    }
    let mut cfg = b.cfg;
    let half = Half {
        lines_before,
        diags: std::mem::take(&mut r.diags),
        virtual_servers: std::mem::take(&mut cfg.virtual_servers),
        virtual_server_groups: std::mem::take(&mut cfg.virtual_server_groups),
        extra: std::mem::take(&mut cfg.extra),
        global_extra: std::mem::take(&mut cfg.global_defs.extra),
    };
    (cfg == Config::default()).then_some(half)
}

/// Runs both halves; merges them into `r` and `b` if they verify, else
/// reads on serially from the cut if `r` can. Returns `Restarted` if the
/// caller must parse again.
fn parallel(r: &mut Reader, b: &mut Builder, opts: &Options, offset: u64, file: File) -> Outcome {
    let Some(path) = r.sources.path(0).cloned() else {
        return Outcome::Restarted;
    };
    r.limit_top(offset);
    let (at_root, half) = std::thread::scope(|s| {
        let second = std::thread::Builder::new()
            .name("parse-2nd-half".into())
            .spawn_scoped(s, move || second_half(file, path, offset, opts));
        let at_root = engine::run_part(r, b);
        // A thread that could not start, or panicked, is a refusal.
        let half = second.ok().and_then(|h| h.join().ok()).flatten();
        (at_root, half)
    });
    if !(at_root && r.limit_hit()) {
        return Outcome::Restarted;
    }
    let lines = r.at_rest_at_limit().filter(|_| b.at_rest());
    match half {
        Some(h) if lines == Some(h.lines_before) => {
            let cfg = &mut b.cfg;
            cfg.virtual_servers.extend(h.virtual_servers);
            cfg.virtual_server_groups.extend(h.virtual_server_groups);
            cfg.extra.extend(h.extra);
            cfg.global_defs.extra.extend(h.global_extra);
            r.diags.append(h.diags);
            Outcome::Merged
        }
        _ => {
            r.lift_limit();
            engine::run(r, b);
            Outcome::Resumed
        }
    }
}

/// The second half's sink: virtual server (and group) blocks go to the
/// builder; any other block or root keyword halts the reader before the
/// builder sees it, since it may read or change what the first half set.
struct VirtualServersOnly<'a>(&'a mut Builder);

/// The blocks inside a virtual server. Their handlers read nothing but
/// the block being built, and write only to it and to `Config::extra`.
fn inside_virtual_server(ctx: Ctx) -> bool {
    matches!(
        ctx,
        Ctx::VirtualServer
            | Ctx::RealServer
            | Ctx::TcpCheck
            | Ctx::HttpGet
            | Ctx::Url
            | Ctx::MiscCheck
            | Ctx::SmtpCheck
            | Ctx::SmtpHost
            | Ctx::DnsCheck
            | Ctx::PingCheck
            | Ctx::UdpCheck
            | Ctx::FileCheck
            | Ctx::BfdCheck
    )
}

fn allowed(ctx: Ctx, kw: &Kw) -> bool {
    match ctx {
        Ctx::Root => matches!(kw.name, "virtual_server" | "virtual_server_group"),
        _ => inside_virtual_server(ctx),
    }
}

impl Sink for VirtualServersOnly<'_> {
    fn keyword(&mut self, r: &mut Reader, ctx: Ctx, kw: &'static Kw) -> Flow {
        if !allowed(ctx, kw) {
            r.halt();
            return Flow::Skip;
        }
        self.0.keyword(r, ctx, kw)
    }

    fn entry(&mut self, r: &mut Reader, ctx: Ctx, kw: &'static Kw) {
        if !allowed(ctx, kw) {
            r.halt();
            return;
        }
        self.0.entry(r, ctx, kw)
    }

    fn close(&mut self, r: &mut Reader, ctx: Ctx, kw: &'static Kw) {
        self.0.close(r, ctx, kw)
    }
}
