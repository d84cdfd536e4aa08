//! The few PCRE2 calls keepalived's HTTP regex check makes, over
//! `pcre2-sys`: compile with any option bits, the pattern's maximum
//! lookbehind, a JIT compile for hard partial matching, and one
//! `pcre2_match` with `PCRE2_PARTIAL_HARD` from a start offset, optionally
//! on a JIT stack of a given size (`regex_stack`).
//!
//! Why FFI and not the `pcre2` crate: that crate exposes seven of the 24
//! compile options keepalived accepts (`regex_options`), no partial matching
//! and no `PCRE2_INFO_MAXLOOKBEHIND`. keepalived matches the body chunk by
//! chunk with `PCRE2_PARTIAL_HARD` and keeps the tail a partial match needs;
//! whole-body matching gives other answers (`$`, `\b`, `^` per chunk, lookbehind
//! windows), so the real calls are needed. This is the crate's only unsafe
//! code for PCRE2; every pointer it holds is owned by one value and freed in
//! its `Drop`.
#![allow(unsafe_code)]

use std::ptr::NonNull;

use pcre2_sys as ffi;

/// A pattern compiled (and JIT-compiled for hard partial matching when the
/// library has a JIT).
pub struct Pattern {
    code: NonNull<ffi::pcre2_code_8>,
    max_lookbehind: usize,
}

// SAFETY: a compiled pcre2_code is never modified after pcre2_compile and
// pcre2_jit_compile (both done in `compile`, before the value is shared);
// PCRE2 documents compiled patterns as usable from several threads at once.
// Matching state (match data, JIT stack) lives in other values.
unsafe impl Send for Pattern {}
unsafe impl Sync for Pattern {}

impl Drop for Pattern {
    fn drop(&mut self) {
        // SAFETY: `code` came from pcre2_compile and is freed only here.
        unsafe { ffi::pcre2_code_free_8(self.code.as_ptr()) }
    }
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pattern")
            .field("max_lookbehind", &self.max_lookbehind)
            .finish_non_exhaustive()
    }
}

/// Why `compile` failed, in the terms keepalived logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileError {
    /// pcre2_compile: error offset into the pattern and PCRE2's message.
    Pattern { offset: usize, message: String },
    /// pcre2_jit_compile failed for another reason than "no JIT here".
    Jit { message: String },
}

/// The outcome of one hard partial match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A complete match starting at this offset of the subject.
    Match(usize),
    /// The end of the subject was reached while matching; the partial match
    /// starts at this offset (ovector[0]).
    Partial(usize),
    NoMatch,
    /// Any other pcre2_match return code (negative), or 0.
    Error(i32),
}

/// PCRE2's text for an error code (`pcre2_get_error_message`).
pub fn error_message(code: i32) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer and its length are valid; PCRE2 writes at most
    // `len` code units, NUL-terminated, and returns the length or < 0.
    let n = unsafe { ffi::pcre2_get_error_message_8(code, buf.as_mut_ptr(), buf.len()) };
    if n < 0 {
        return format!("unknown error {code}");
    }
    String::from_utf8_lossy(&buf[..n as usize]).into_owned()
}

/// Compiles `pattern` (bytes, not NUL-terminated: a NUL cannot come from the
/// configuration, whose words are C strings) with PCRE2 option bits.
pub fn compile(pattern: &[u8], options: u32) -> Result<Pattern, CompileError> {
    let mut err: i32 = 0;
    let mut off: usize = 0;
    // SAFETY: pattern pointer/length are a valid slice; err/off are valid
    // out-pointers; a null compile context means defaults.
    let raw = unsafe {
        ffi::pcre2_compile_8(
            pattern.as_ptr(),
            pattern.len(),
            options,
            &mut err,
            &mut off,
            std::ptr::null_mut(),
        )
    };
    let Some(code) = NonNull::new(raw) else {
        return Err(CompileError::Pattern {
            offset: off,
            message: error_message(err),
        });
    };
    let mut pat = Pattern {
        code,
        max_lookbehind: 0,
    };
    let mut lb: u32 = 0;
    // SAFETY: `code` is valid; MAXLOOKBEHIND writes one uint32_t.
    let rc = unsafe {
        ffi::pcre2_pattern_info_8(
            pat.code.as_ptr(),
            ffi::PCRE2_INFO_MAXLOOKBEHIND,
            (&mut lb as *mut u32).cast(),
        )
    };
    if rc == 0 {
        pat.max_lookbehind = lb as usize;
    }
    // SAFETY: `code` is valid and not yet shared.
    let rc = unsafe { ffi::pcre2_jit_compile_8(pat.code.as_ptr(), ffi::PCRE2_JIT_PARTIAL_HARD) };
    // A library without JIT support answers JIT_BADOPTION; pcre2_match then
    // interprets, with the same results.
    if rc != 0 && rc != ffi::PCRE2_ERROR_JIT_BADOPTION {
        return Err(CompileError::Jit {
            message: error_message(rc),
        });
    }
    Ok(pat)
}

impl Pattern {
    /// `PCRE2_INFO_MAXLOOKBEHIND`: how many bytes before a partial match's
    /// start keepalived keeps for the next chunk.
    pub fn max_lookbehind(&self) -> usize {
        self.max_lookbehind
    }

    /// `pcre2_match(subject, start, PCRE2_PARTIAL_HARD)`. `start` beyond the
    /// subject is passed on: PCRE2 answers `PCRE2_ERROR_BADOFFSET`, as it
    /// does for keepalived.
    pub fn match_partial_hard(
        &self,
        subject: &[u8],
        start: usize,
        stack: Option<&mut JitStack>,
    ) -> Found {
        // SAFETY: `code` is valid; a null general context means malloc.
        let md = unsafe {
            ffi::pcre2_match_data_create_from_pattern_8(self.code.as_ptr(), std::ptr::null_mut())
        };
        let Some(md) = NonNull::new(md) else {
            return Found::Error(ffi::PCRE2_ERROR_NOMEMORY);
        };
        let ctx = stack.map_or(std::ptr::null_mut(), |s| s.ctx.as_ptr());
        // SAFETY: code, subject slice, match data and (optional) context are
        // all valid for the call; PCRE2 checks `start` against the length.
        let rc = unsafe {
            ffi::pcre2_match_8(
                self.code.as_ptr(),
                subject.as_ptr(),
                subject.len(),
                start,
                ffi::PCRE2_PARTIAL_HARD,
                md.as_ptr(),
                ctx,
            )
        };
        let found = if rc > 0 || rc == ffi::PCRE2_ERROR_PARTIAL {
            // SAFETY: the ovector has at least one pair, set after a match
            // or a partial match.
            let start = unsafe { *ffi::pcre2_get_ovector_pointer_8(md.as_ptr()) };
            if rc > 0 {
                Found::Match(start)
            } else {
                Found::Partial(start)
            }
        } else if rc == ffi::PCRE2_ERROR_NOMATCH {
            Found::NoMatch
        } else {
            Found::Error(rc)
        };
        // SAFETY: created above, freed once.
        unsafe { ffi::pcre2_match_data_free_8(md.as_ptr()) };
        found
    }
}

/// A match context with its own JIT stack (`regex_stack START MAX`).
pub struct JitStack {
    ctx: NonNull<ffi::pcre2_match_context_8>,
    stack: NonNull<ffi::pcre2_jit_stack_8>,
}

// SAFETY: both pointers are owned by this value alone and used only through
// `&mut` (one match at a time); PCRE2 keeps no thread affinity for them.
unsafe impl Send for JitStack {}

impl JitStack {
    /// `None` when PCRE2 cannot allocate it (keepalived then matches with a
    /// null stack too: pcre2_jit_stack_assign with NULL means the default).
    pub fn new(start: usize, max: usize) -> Option<JitStack> {
        // SAFETY: null general contexts mean malloc.
        let ctx = NonNull::new(unsafe { ffi::pcre2_match_context_create_8(std::ptr::null_mut()) })?;
        // SAFETY: as above.
        let stack = unsafe { ffi::pcre2_jit_stack_create_8(start, max, std::ptr::null_mut()) };
        let Some(stack) = NonNull::new(stack) else {
            // SAFETY: created above, freed once.
            unsafe { ffi::pcre2_match_context_free_8(ctx.as_ptr()) };
            return None;
        };
        // SAFETY: both valid; no callback, the stack itself as data.
        unsafe { ffi::pcre2_jit_stack_assign_8(ctx.as_ptr(), None, stack.as_ptr().cast()) };
        Some(JitStack { ctx, stack })
    }
}

impl Drop for JitStack {
    fn drop(&mut self) {
        // SAFETY: both created in `new`, freed only here.
        unsafe {
            ffi::pcre2_match_context_free_8(self.ctx.as_ptr());
            ffi::pcre2_jit_stack_free_8(self.stack.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_error_offset_and_message() {
        let e = compile(b"version (?=d+", 0).unwrap_err();
        assert_eq!(
            e,
            CompileError::Pattern {
                offset: 13,
                message: "missing closing parenthesis".into()
            }
        );
    }

    #[test]
    fn partial_hard_and_lookbehind() {
        let p = compile(br"(?<=ab)cd", 0).unwrap();
        assert_eq!(p.max_lookbehind(), 2);
        assert_eq!(p.match_partial_hard(b"xxabc", 0, None), Found::Partial(4));
        assert_eq!(p.match_partial_hard(b"xxabcd", 0, None), Found::Match(4));
        assert_eq!(p.match_partial_hard(b"xxab", 0, None), Found::Partial(4));
        assert_eq!(p.match_partial_hard(b"zzzz", 0, None), Found::NoMatch);
        // PCRE2_ERROR_BADOFFSET
        assert_eq!(p.match_partial_hard(b"ab", 5, None), Found::Error(-33));
    }

    #[test]
    fn jit_stack_is_usable() {
        let p = compile(br"(a|b)+c", 0).unwrap();
        let mut s = JitStack::new(32 * 1024, 512 * 1024).unwrap();
        assert_eq!(
            p.match_partial_hard(b"ababababc", 0, Some(&mut s)),
            Found::Match(0)
        );
    }
}
