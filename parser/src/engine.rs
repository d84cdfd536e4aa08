//! The block walk: looks each logical line up in the keyword table of the
//! current context and hands it to a [`Sink`], with keepalived's exact
//! recovery rules (an unknown keyword never opens a block; its `{` is
//! "unexpected" and its body is read in the enclosing context; a `}` at the
//! top level is an unknown keyword).

use crate::diag::{Class, Scope};
use crate::reader::{LineKind, Reader};
use crate::schema::{self, Ctx, Kind, Kw};

/// Receives keyword lines; the current line is `r.line`.
pub trait Sink {
    /// A keyword line in `ctx`. For `Kind::Block` this opens the block; for
    /// `Kind::Values` it is the block's header line. Returning `Flow::Skip`
    /// makes the whole block be skipped (keepalived does this for an
    /// instance defined twice, for example).
    fn keyword(&mut self, r: &mut Reader, ctx: Ctx, kw: &'static Kw) -> Flow;
    /// One entry line of a value block opened by `kw`.
    fn entry(&mut self, r: &mut Reader, ctx: Ctx, kw: &'static Kw);
    /// The end of a block opened by `kw` (a `}` or the end of input).
    fn close(&mut self, r: &mut Reader, ctx: Ctx, kw: &'static Kw);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Skip,
}

/// Parses everything the reader yields at the root level.
pub fn run(r: &mut Reader, sink: &mut impl Sink) {
    run_part(r, sink);
    r.diags.scope = Scope::Top;
    let open = r.unclosed_blocks();
    if open > 0 {
        r.report_here(
            Class::MissingEob,
            format!("There are {open} missing '}}'s or extra '{{'s"),
        );
    }
}

/// Parses what the reader yields, without the end-of-input check, for the
/// first part of a split parse. Returns true if the input ended at the root
/// level, outside any block (a block whose `{` is missing counts as open):
/// only there does ending the input change nothing, so that parsing can
/// resume, or another part take over, from the next line.
pub fn run_part(r: &mut Reader, sink: &mut impl Sink) -> bool {
    let mut cut = false;
    process(r, sink, Ctx::Root, false, 0, &mut cut);
    !cut
}

/// `cut` is set when the input ends inside a block.
fn process(
    r: &mut Reader,
    sink: &mut impl Sink,
    ctx: Ctx,
    mut need_bob: bool,
    level: u32,
    cut: &mut bool,
) {
    loop {
        if level == 0 {
            // what is found between root-level blocks is every process's
            r.diags.scope = Scope::Top;
        }
        if !r.next_line() {
            break;
        }
        let kind = r.line.kind.unwrap_or(LineKind::Words);
        if need_bob {
            need_bob = false;
            if kind == LineKind::Open && level > 0 {
                continue;
            }
            let loc = r.line.loc;
            r.diags.at(
                loc,
                Class::MissingBob,
                "Missing '{' at beginning of configuration block",
            );
        } else if kind == LineKind::Open {
            let loc = r.line.loc;
            r.diags
                .at(loc, Class::UnexpectedBob, "Unexpected '{' - ignoring");
            continue;
        }
        if kind == LineKind::Close && level > 0 {
            return;
        }
        let Some(kw) = schema::lookup(ctx, r.line.w(0)) else {
            let msg = format!("Unknown keyword '{}'", r.line.w(0));
            let loc = r.line.loc;
            r.diags.at(loc, Class::UnknownKeyword, msg);
            continue;
        };
        if level == 0 {
            r.diags.scope = schema::root_scope(kw.name);
        }
        if sink.keyword(r, ctx, kw) == Flow::Skip && kw.kind != Kind::Leaf {
            skip_block(r, cut);
            continue;
        }
        match kw.kind {
            Kind::Leaf => {}
            Kind::Values => {
                value_block(r, sink, ctx, kw, cut);
                sink.close(r, ctx, kw);
            }
            Kind::Block(sub) => {
                process(r, sink, sub, true, level + 1, cut);
                sink.close(r, sub, kw);
            }
        }
    }
    if level > 0 {
        *cut = true;
    }
}

/// A `{ … }` whose every line is one entry (keepalived's `alloc_value_block`).
fn value_block(r: &mut Reader, sink: &mut impl Sink, ctx: Ctx, kw: &'static Kw, cut: &mut bool) {
    let mut need_bob = true;
    while r.next_line() {
        let kind = r.line.kind.unwrap_or(LineKind::Words);
        if need_bob {
            need_bob = false;
            if kind == LineKind::Open {
                continue;
            }
            // keepalived only logs this one; it is not a config error.
            let loc = r.line.loc;
            r.diags.note(
                loc,
                format!("'{{' missing from beginning of block {}", kw.name),
            );
        }
        match kind {
            LineKind::Close => return,
            // keepalived's `alloc_value_block` hands a later `{` to the
            // block's entry handler like any other line.
            LineKind::Open | LineKind::Words => sink.entry(r, ctx, kw),
        }
    }
    *cut = true;
}

/// Skips a block by counting braces (keepalived's `skip_sublevel`). The `{`
/// may be on the next line; if it is not there, nothing is skipped.
fn skip_block(r: &mut Reader, cut: &mut bool) {
    // Even the look-ahead for the `{` counts: it may be the next part's.
    if !r.next_line() {
        *cut = true;
        return;
    }
    if r.line.kind != Some(LineKind::Open) {
        r.push_back_line();
        return;
    }
    let mut depth = 1;
    while r.next_line() {
        match r.line.kind {
            Some(LineKind::Open) => depth += 1,
            Some(LineKind::Close) => {
                depth -= 1;
                if depth == 0 {
                    return;
                }
            }
            _ => {}
        }
    }
    *cut = true;
}
