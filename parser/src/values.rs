//! Value readers shared by the keyword handlers: numbers with ranges,
//! keepalived timers, booleans, addresses, and command lines split with
//! keepalived's quoting and escapes. They report at the offending word.

use crate::diag::{Class, Diags};
use crate::reader::{Line, parse_c_long};
use std::net::IpAddr;

/// keepalived's `check_true_false`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "on" | "yes" => Some(true),
        "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// A `[BOOL]` keyword: no argument means true.
pub fn opt_bool(line: &Line, d: &mut Diags) -> bool {
    match line.word(1) {
        None => true,
        Some(w) => match parse_bool(w) {
            Some(b) => b,
            None => {
                d.at(
                    line.loc_of(1),
                    Class::GeneralError,
                    format!(
                        "Invalid value '{}' for {} - expected true/false",
                        w,
                        line.w(0)
                    ),
                );
                true
            }
        },
    }
}

/// An integer argument in `min..=max` (C `strtol` forms accepted). Errors
/// are worded as keepalived's `read_unsigned` (when `min >= 0`) or
/// `read_int` words them.
pub fn int(line: &Line, i: usize, min: i64, max: i64, d: &mut Diags) -> Option<i64> {
    let Some(w) = line.word(i) else {
        d.at(
            line.loc,
            Class::GeneralError,
            format!("{} requires a parameter", line.w(0)),
        );
        return None;
    };
    match check_int(w, min, max, min < 0) {
        Ok(v) => Some(v),
        Err(msg) => {
            d.at(line.loc_of(i), Class::InvalidNumber, msg);
            None
        }
    }
}

/// The value of `w` in `min..=max`, or keepalived's message for it
/// (lib/parser.c `read_int_func` if `signed`, else `read_unsigned_func`,
/// in `-t` mode).
pub fn check_int(w: &str, min: i64, max: i64, signed: bool) -> Result<i64, String> {
    // Plain digits, as nearly every number is; a leading 0 means octal.
    let b = w.as_bytes();
    if (b.len() == 1 || b.first() != Some(&b'0'))
        && let Some(v) = plain_digits(b, 9)
        && (min..=max).contains(&v)
    {
        return Ok(v);
    }
    check_int_general(w, min, max, signed)
}

fn check_int_general(w: &str, min: i64, max: i64, signed: bool) -> Result<i64, String> {
    let unsigned = !signed;
    if unsigned && w.trim_start().starts_with('-') {
        return Err(format!("negative number '{w}'"));
    }
    let Some(v) = parse_c_long(w) else {
        // Digits that overflow are a range error for strtol, not garbage.
        let digits = w.trim().trim_start_matches(['+', '-']);
        if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(range_word(w, unsigned));
        }
        return Err(format!("invalid number '{w}'"));
    };
    let fits = if unsigned {
        (0..=i64::from(u32::MAX)).contains(&v)
    } else {
        (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v)
    };
    if !fits {
        return Err(range_word(w, unsigned));
    }
    if !(min..=max).contains(&v) {
        return Err(format!("number '{w}' outside range [{min}, {max}]"));
    }
    Ok(v)
}

fn range_word(w: &str, unsigned: bool) -> String {
    if unsigned {
        format!("number '{w}' outside unsigned integer range")
    } else {
        format!("number '{w}' outside integer range")
    }
}

/// Decimal seconds with microsecond resolution (`read_timer`).
pub fn parse_timer(s: &str) -> Option<u64> {
    let (int, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut us: u64 = 0;
    for (n, c) in frac.bytes().take(6).enumerate() {
        us += u64::from(c - b'0') * 10u64.pow(5 - n as u32);
    }
    secs.checked_mul(1_000_000)?.checked_add(us)
}

/// keepalived's messages for a decimal number with 6 decimal places in
/// `min..=max` millionths (lib/parser.c `read_decimal_unsigned_long_func`,
/// as `read_timer` uses it): none if `w` is such a number.
pub fn decimal_errors(w: &str, min: u64, max: u64) -> Vec<String> {
    const SHIFT: usize = 6;
    let mut out = Vec::new();
    if w.starts_with('-') {
        out.push(format!("negative number '{w}'"));
        return out;
    }
    let (int, frac) = match w.split_once('.') {
        Some((a, b)) => (a, b),
        None => (w, ""),
    };
    let mut round_up = false;
    let mut frac = frac.to_string();
    if frac.len() > SHIFT {
        out.push(format!("number '{w}' has too many decimal places"));
        round_up = frac.as_bytes()[SHIFT] >= b'5';
        frac.truncate(frac.floor_char_boundary(SHIFT));
    }
    let mut digits = format!("{int}{frac}");
    digits.extend(std::iter::repeat_n('0', SHIFT.saturating_sub(frac.len())));
    let body = digits.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let body = body.strip_prefix('+').unwrap_or(body);
    if body.is_empty() || !body.bytes().all(|c| c.is_ascii_digit()) {
        out.push(format!("invalid number '{w}'"));
        return out;
    }
    let val = match body.parse::<u64>() {
        Ok(v) => v.saturating_add(u64::from(round_up)),
        Err(_) => {
            out.push(format!("number '{w}' outside unsigned decimal range"));
            return out;
        }
    };
    if val < min || val > max {
        let m = 10u64.pow(SHIFT as u32);
        out.push(format!(
            "number '{w}' outside range [{}.{:06}, {}.{:06}]",
            min / m,
            min % m,
            max / m,
            max % m
        ));
    }
    out
}

/// An integer argument read as keepalived's handlers read it: on failure its
/// generic message, then the handler's own `msg` (both at the word).
pub fn int_or(
    line: &Line,
    (min, max, signed): (i64, i64, bool),
    d: &mut Diags,
    msg: impl FnOnce(&str) -> String,
) -> Option<i64> {
    let Some(w) = line.word(1) else {
        return int(line, 1, min, max, d);
    };
    match check_int(w, min, max, signed) {
        Ok(v) => Some(v),
        Err(m) => {
            d.at(line.loc_of(1), Class::InvalidNumber, m);
            d.at(line.loc_of(1), Class::GeneralError, msg(w));
            None
        }
    }
}

/// A decimal argument (seconds, 6 places) read as keepalived's handlers
/// read it: on failure its generic messages, then the handler's own `msg`.
pub fn decimal_or(
    line: &Line,
    (min, max): (u64, u64),
    d: &mut Diags,
    msg: impl FnOnce(&str) -> String,
) -> Option<u64> {
    let Some(w) = line.word(1) else {
        return timer(line, 1, min, max, d);
    };
    let errors = decimal_errors(w, min, max);
    let value = parse_timer(w).filter(|v| (min..=max).contains(v));
    // Too many decimal places is only a warning: the value is rounded.
    let fatal = errors
        .iter()
        .any(|e| !e.ends_with("has too many decimal places"));
    for e in errors {
        d.at(line.loc_of(1), Class::InvalidNumber, e);
    }
    if fatal || value.is_none() {
        d.at(line.loc_of(1), Class::GeneralError, msg(w));
        return None;
    }
    value
}

/// A timer argument in seconds, within `[min, max]` microseconds.
pub fn timer(line: &Line, i: usize, min: u64, max: u64, d: &mut Diags) -> Option<u64> {
    let Some(w) = line.word(i) else {
        d.at(
            line.loc,
            Class::GeneralError,
            format!("{} requires a parameter", line.w(0)),
        );
        return None;
    };
    match parse_timer(w) {
        Some(v) if (min..=max).contains(&v) => Some(v),
        _ => {
            let mut msgs = decimal_errors(w, min, max);
            if msgs.is_empty() {
                // Accepted by keepalived's reader but not by ours.
                msgs.push(format!("invalid number '{w}'"));
            }
            for m in msgs {
                d.at(line.loc_of(i), Class::InvalidNumber, m);
            }
            None
        }
    }
}

/// `ADDR[/PREFIX]`; the prefix defaults to the full length.
pub fn parse_prefix(s: &str) -> Option<(IpAddr, u8)> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        Some(p) => {
            let v: u8 = p.parse().ok()?;
            if v > max {
                return None;
            }
            v
        }
        None => max,
    };
    Some((addr, prefix))
}

pub fn ip(line: &Line, i: usize, d: &mut Diags) -> Option<IpAddr> {
    let w = line.w(i);
    match w.parse::<IpAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            let msg = if w.is_empty() {
                format!("{} requires an IP address", line.w(0))
            } else {
                format!("{}: invalid IP address '{}'", line.w(0), w)
            };
            d.at(line.loc_of(i), Class::GeneralError, msg);
            None
        }
    }
}

/// Splits `s` into words with `"` and `'` quoting, optionally processing
/// keepalived's escapes (`\n`, `\t`, `\xHH`, octal, `\cX`, `\C`).
pub fn split_quoted(s: &str, escapes: bool) -> Vec<String> {
    split_quoted_checked(s, escapes).unwrap_or_else(|(words, _)| words)
}

/// [`split_quoted`], failing with the words so far and the quote character
/// if a quote is left open (keepalived then rejects the whole string).
pub fn split_quoted_checked(s: &str, escapes: bool) -> Result<Vec<String>, (Vec<String>, char)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut quote: Option<char> = None;
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => {
                quote = Some(c);
                have = true;
            }
            (None, ' ' | '\t') => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            (_, '\\') if escapes => {
                have = true;
                let Some(n) = it.next() else {
                    cur.push('\\');
                    break;
                };
                match n {
                    'a' => cur.push('\x07'),
                    'b' => cur.push('\x08'),
                    'E' => cur.push('\x1b'),
                    'f' => cur.push('\x0c'),
                    'n' => cur.push('\n'),
                    'r' => cur.push('\r'),
                    't' => cur.push('\t'),
                    'v' => cur.push('\x0b'),
                    'x' => {
                        let mut v = 0u32;
                        let mut n = 0;
                        while n < 2 {
                            match it.peek().and_then(|c| c.to_digit(16)) {
                                Some(dg) => {
                                    v = v * 16 + dg;
                                    it.next();
                                    n += 1;
                                }
                                None => break,
                            }
                        }
                        cur.push(char::from_u32(v).unwrap_or('?'));
                    }
                    '0'..='7' => {
                        let mut v = n.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            match it.peek().and_then(|c| c.to_digit(8)) {
                                Some(dg) => {
                                    v = v * 8 + dg;
                                    it.next();
                                }
                                None => break,
                            }
                        }
                        cur.push(char::from_u32(v).unwrap_or('?'));
                    }
                    'c' => {
                        if let Some(x) = it.next() {
                            cur.push(char::from_u32((x as u32) & 0x1f).unwrap_or('?'));
                        }
                    }
                    other => cur.push(other),
                }
            }
            (_, c) => {
                cur.push(c);
                have = true;
            }
        }
    }
    if have {
        out.push(cur);
    }
    match quote {
        Some(q) => Err((out, q)),
        None => Ok(out),
    }
}

/// A command keyword (`notify_master "/bin/x a b" user group`): returns
/// (argv, user, group). As keepalived does, the line is split with quotes
/// and escapes, and its first argument again to give the argv; a quote left
/// open at either level is an error and the command is dropped (None).
pub fn command(
    line: &Line,
    d: &mut Diags,
) -> Option<(Vec<String>, Option<String>, Option<String>)> {
    let words = match split_quoted_checked(line.raw(), true) {
        Ok(w) => w,
        Err((_, q)) => {
            d.at(
                line.loc,
                Class::UnmatchedQuote,
                format!("String '{}': missing terminating {q}", line.raw()),
            );
            return None;
        }
    };
    let argv = match words.get(1) {
        Some(c) => match split_quoted_checked(c, true) {
            Ok(a) => a,
            Err((_, q)) => {
                d.at(
                    line.loc_of(1),
                    Class::UnmatchedQuote,
                    format!("String '{c}': missing terminating {q}"),
                );
                return None;
            }
        },
        // keepalived ignores a command line without the command.
        None => return None,
    };
    Some((argv, words.get(2).cloned(), words.get(3).cloned()))
}

/// Why [`quoted_escaped`] gave no words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotedEscapedError {
    /// A quote left open (keepalived: a CONFIG_UNMATCHED_QUOTE error).
    Unmatched(char),
    /// A backslash ending the line (keepalived only logs it).
    MissingEscape,
}

/// keepalived's `alloc_strvec_quoted_escaped` (lib/parser.c), in bytes: the
/// line split at blanks outside quotes, quotes removed, and backslash escapes
/// resolved everywhere, inside quotes too (`\d` is `d`, `\\` is `\`,
/// `\xHH...` keeps the last two hex digits, `\0`-`\777` octal, `\cX`
/// control, `\a \b \E \f \n \r \t \v`). A word stops at a NUL byte, as
/// keepalived's `strndup` copy does.
pub fn quoted_escaped(s: &[u8]) -> Result<Vec<Vec<u8>>, QuotedEscapedError> {
    let white = |c: u8| matches!(c, b' ' | b'\t' | b'\x0c' | b'\n' | b'\r' | b'\x0b');
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        while i < s.len() && white(s[i]) {
            i += 1;
        }
        if i >= s.len() {
            break;
        }
        let mut word = Vec::new();
        let mut quote: Option<u8> = None;
        while i < s.len() {
            let c = s[i];
            match (quote, c) {
                (_, b'\\') => {
                    i += 1;
                    let Some(&e) = s.get(i) else {
                        return Err(QuotedEscapedError::MissingEscape);
                    };
                    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
                    if e == b'x' && s.get(i + 1).and_then(|&c| hex(c)).is_some() {
                        let mut v = 0u8;
                        i += 1;
                        while let Some(d) = s.get(i).and_then(|&c| hex(c)) {
                            v = (v << 4) | d;
                            i += 1;
                        }
                        word.push(v);
                    } else if e == b'c' && s.get(i + 1).is_some() {
                        word.push(s[i + 1] & 0x1f);
                        i += 2;
                    } else if (b'0'..=b'7').contains(&e) {
                        let mut v = e - b'0';
                        i += 1;
                        for _ in 0..2 {
                            match s.get(i) {
                                Some(&d @ b'0'..=b'7') => {
                                    v = v.wrapping_shl(3).wrapping_add(d - b'0');
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        word.push(v);
                    } else {
                        word.push(match e {
                            b'a' => 0x07,
                            b'b' => 0x08,
                            b'E' => 0x1b,
                            b'f' => 0x0c,
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'v' => 0x0b,
                            other => other,
                        });
                        i += 1;
                    }
                }
                (Some(q), c) if c == q => {
                    quote = None;
                    i += 1;
                }
                (Some(_), c) => {
                    word.push(c);
                    i += 1;
                }
                (None, b'"' | b'\'') => {
                    quote = Some(c);
                    i += 1;
                }
                (None, c) if white(c) => break,
                (None, c) => {
                    word.push(c);
                    i += 1;
                }
            }
        }
        if let Some(q) = quote {
            return Err(QuotedEscapedError::Unmatched(q as char));
        }
        if let Some(nul) = word.iter().position(|&b| b == 0) {
            word.truncate(nul);
        }
        out.push(word);
    }
    Ok(out)
}

/// C's `strtoul(s, &end, 10)` and whether `*end` is the terminating NUL:
/// leading blanks and a sign allowed, a negative value wraps, overflow
/// saturates; no digits at all leaves `end` at the start (so only "" is
/// "fully read").
pub fn strtoul(s: &str) -> (u64, bool) {
    let (v, _, full) = strto10(s.as_bytes(), true);
    (v as u64, full)
}

/// C's `strtol`/`strtoul` in base 10 over the whole of `s`: the value of
/// its numeric prefix (`strtol` saturates, `strtoul` wraps a negative and
/// saturates on overflow), whether it overflowed (`ERANGE`), and whether
/// nothing followed it (no digits at all: 0, and only "" is fully read).
fn strto10(s: &[u8], unsigned: bool) -> (i128, bool, bool) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return (0, false, s.is_empty());
    }
    let full = i + digits == s.len();
    let limit: i128 = if unsigned {
        u64::MAX as i128
    } else {
        i64::MAX as i128 + i128::from(neg)
    };
    let mut mag: i128 = 0;
    let mut over = false;
    for &c in &s[i..i + digits] {
        mag = mag * 10 + i128::from(c - b'0');
        if mag > limit {
            over = true;
            mag = limit;
        }
    }
    let v = match (unsigned, neg, over) {
        (true, _, true) => u64::MAX as i128,
        (true, true, false) => i128::from((mag as u64).wrapping_neg()),
        (_, true, _) => -mag,
        _ => mag,
    };
    (v, over, full)
}

/// keepalived's number readers (lib/parser.c `read_int_func` if `signed`,
/// else `read_unsigned_func`, base 10) for a handler that passes
/// `ignore_error = true`: the value or the message, and with it the value
/// keepalived still uses. That is only when running (`d.run_time`, not
/// `-t`): the message then starts "WARNING - " (but never for a signed
/// number outside `[min, max]`) and a numeric prefix within `[min, max]`
/// is taken. Under `-t` the same messages without the prefix, and no
/// value. Base 10 as keepalived's `read_int`/`read_unsigned` ("0x5" is
/// invalid, "010" is ten).
pub fn lenient_int(
    w: &str,
    (min, max, signed): (i64, i64, bool),
    run_time: bool,
) -> Result<i64, (String, Option<i64>)> {
    // Nearly every number in a config is a few plain digits: read those
    // without the general reader's i128 arithmetic (a large config has
    // tens of thousands, and the parse is on the cold start's path).
    if let Some(v) = plain_digits(w.as_bytes(), 9)
        && (min..=max).contains(&v)
    {
        return Ok(v);
    }
    lenient_int_general(w, (min, max, signed), run_time)
}

/// The value of 1 to `most` ASCII digits and nothing else.
fn plain_digits(b: &[u8], most: usize) -> Option<i64> {
    if b.is_empty() || b.len() > most {
        return None;
    }
    b.iter().try_fold(0i64, |v, &c| {
        c.is_ascii_digit().then(|| v * 10 + i64::from(c - b'0'))
    })
}

fn lenient_int_general(
    w: &str,
    (min, max, signed): (i64, i64, bool),
    run_time: bool,
) -> Result<i64, (String, Option<i64>)> {
    let warn = if run_time { "WARNING - " } else { "" };
    let (v, msg) = if signed {
        let (v, over, full) = strto10(w.as_bytes(), false);
        let msg = if !full {
            Some(format!("{warn}invalid number '{w}'"))
        } else if over || v < i128::from(i32::MIN) || v > i128::from(i32::MAX) {
            Some(format!("{warn}number '{w}' outside integer range"))
        } else if v < i128::from(min) || v > i128::from(max) {
            Some(format!("number '{w}' outside range [{min}, {max}]"))
        } else {
            None
        };
        (v, msg)
    } else {
        let b = w.as_bytes();
        let off = b
            .iter()
            .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c'))
            .count();
        let (v, over, full) = strto10(&b[off..], true);
        let msg = if b.get(off) == Some(&b'-') {
            Some(format!("{warn}negative number '{w}'"))
        } else if !full {
            Some(format!("{warn}invalid number '{w}'"))
        } else if over || v > i128::from(u32::MAX) {
            Some(format!("{warn}number '{w}' outside unsigned integer range"))
        } else if v < i128::from(min) || v > i128::from(max) {
            Some(format!("{warn}number '{w}' outside range [{min}, {max}]"))
        } else {
            None
        };
        (v, msg)
    };
    let used = (run_time && (i128::from(min)..=i128::from(max)).contains(&v)).then_some(v as i64);
    match msg {
        None => Ok(v as i64),
        Some(m) => Err((m, used)),
    }
}

/// `int` for a keyword whose keepalived handler reads leniently (see
/// `lenient_int`): at run time a malformed number's prefix is used.
pub fn int_lenient(line: &Line, i: usize, min: i64, max: i64, d: &mut Diags) -> Option<i64> {
    let Some(w) = line.word(i) else {
        return int(line, i, min, max, d);
    };
    match lenient_int(w, (min, max, min < 0), d.run_time) {
        Ok(v) => Some(v),
        Err((msg, used)) => {
            d.at(line.loc_of(i), Class::InvalidNumber, msg);
            used
        }
    }
}

/// `int_or` for a keyword whose keepalived handler reads leniently: when
/// keepalived takes the prefix, its handler's own message is not given.
pub fn int_or_lenient(
    line: &Line,
    (min, max, signed): (i64, i64, bool),
    d: &mut Diags,
    msg: impl FnOnce(&str) -> String,
) -> Option<i64> {
    let Some(w) = line.word(1) else {
        return int(line, 1, min, max, d);
    };
    match lenient_int(w, (min, max, signed), d.run_time) {
        Ok(v) => Some(v),
        Err((m, used)) => {
            d.at(line.loc_of(1), Class::InvalidNumber, m);
            if used.is_none() {
                d.at(line.loc_of(1), Class::GeneralError, msg(w));
            }
            used
        }
    }
}

/// keepalived's `read_decimal_unsigned_long_func` with 6 places (as
/// `read_timer` uses it) for a handler that passes `ignore_error = true`:
/// its messages and the value (millionths) the handler takes, if any.
/// Unlike the integer readers, a numeric prefix in `[min, max]` is taken
/// under `-t` too (only the "WARNING - " prefix depends on `run_time`),
/// and it is the prefix of the number with the point removed: "0.5x" is
/// read as "05x0000", so 5 millionths.
pub fn lenient_decimal(w: &str, min: u64, max: u64, run_time: bool) -> (Vec<String>, Option<u64>) {
    // The common case ("3", "0.5") without the general reader's copies.
    if let Some(v) = plain_decimal(w.as_bytes())
        && (min..=max).contains(&v)
    {
        return (Vec::new(), Some(v));
    }
    lenient_decimal_general(w, min, max, run_time)
}

/// Millionths of "DIGITS", "DIGITS.DIGITS" with at most 6 places, or
/// ".DIGITS"; short enough that no overflow is possible.
fn plain_decimal(b: &[u8]) -> Option<u64> {
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(p) => (&b[..p], &b[p + 1..]),
        None => (b, &b[..0]),
    };
    if int.len() > 12 || frac.len() > 6 || int.len() + frac.len() == 0 {
        return None;
    }
    let int = if int.is_empty() {
        0
    } else {
        plain_digits(int, 12)?
    };
    let places = frac.len() as u32;
    let frac = if frac.is_empty() {
        0
    } else {
        plain_digits(frac, 6)?
    };
    Some(int as u64 * 1_000_000 + frac as u64 * 10u64.pow(6 - places))
}

fn lenient_decimal_general(
    w: &str,
    min: u64,
    max: u64,
    run_time: bool,
) -> (Vec<String>, Option<u64>) {
    const SHIFT: usize = 6;
    let warn = if run_time { "WARNING - " } else { "" };
    let b = w.as_bytes();
    let mut out = Vec::new();
    if b.first() == Some(&b'-') {
        out.push(format!("{warn}negative number '{w}'"));
        return (out, None);
    }
    let dp = b.iter().position(|&c| c == b'.');
    let mut num_dp = dp.map_or(0, |p| b.len() - p - 1);
    let mut round_up = false;
    if num_dp > SHIFT {
        out.push(format!("{warn}number '{w}' has too many decimal places"));
        round_up = dp.is_some_and(|p| b[p + SHIFT + 1] >= b'5');
        num_dp = SHIFT;
    }
    let mut digits: Vec<u8> = match dp {
        Some(p) => [&b[..p], &b[p + 1..p + 1 + num_dp]].concat(),
        None => b.to_vec(),
    };
    digits.extend(std::iter::repeat_n(b'0', SHIFT - num_dp));
    let (v, over, full) = strto10(&digits, true);
    let v = (v as u64).wrapping_add(u64::from(round_up));
    if !full {
        out.push(format!("{warn}invalid number '{w}'"));
    } else if over {
        out.push(format!("{warn}number '{w}' outside unsigned decimal range"));
        return (out, None);
    } else if v < min || v > max {
        let m = 10u64.pow(SHIFT as u32);
        out.push(format!(
            "{warn}number '{w}' outside range [{}.{:06}, {}.{:06}]",
            min / m,
            min % m,
            max / m,
            max % m
        ));
    } else {
        return (out, Some(v));
    }
    let used = (min..=max).contains(&v).then_some(v);
    (out, used)
}

/// `timer` for a keyword whose keepalived handler reads leniently (see
/// `lenient_decimal`).
pub fn timer_lenient(line: &Line, i: usize, min: u64, max: u64, d: &mut Diags) -> Option<u64> {
    if line.word(i).is_none() {
        return timer(line, i, min, max, d);
    }
    let w = line.w(i);
    let (msgs, used) = lenient_decimal(w, min, max, d.run_time);
    for m in msgs {
        d.at(line.loc_of(i), Class::InvalidNumber, m);
    }
    used
}

/// `decimal_or` for a keyword whose keepalived handler reads leniently:
/// the handler's own message only when no value is taken.
pub fn decimal_or_lenient(
    line: &Line,
    (min, max): (u64, u64),
    d: &mut Diags,
    msg: impl FnOnce(&str) -> String,
) -> Option<u64> {
    if line.word(1).is_none() {
        return timer(line, 1, min, max, d);
    }
    let w = line.w(1);
    let (msgs, used) = lenient_decimal(w, min, max, d.run_time);
    for m in msgs {
        d.at(line.loc_of(1), Class::InvalidNumber, m);
    }
    if used.is_none() {
        d.at(line.loc_of(1), Class::GeneralError, msg(w));
    }
    used
}

#[cfg(test)]
mod lenient_tests {
    use super::*;

    proptest::proptest! {
        // The plain-number fast paths answer exactly as the general readers.
        #[test]
        fn fast_paths_agree(
            w in "[0-9. x+-]{0,16}|[0-9]{0,14}(\\.[0-9]{0,8})?",
            lo in 0u64..3_000_000,
            span in proptest::sample::select(vec![0u64, 1, 5_000_000, u32::MAX as u64, u64::MAX / 2]),
            signed: bool,
            run_time: bool,
        ) {
            let hi = lo.saturating_add(span);
            proptest::prop_assert_eq!(
                lenient_decimal(&w, lo, hi, run_time),
                lenient_decimal_general(&w, lo, hi, run_time)
            );
            let (lo, hi) = (lo as i64 - i64::from(signed) * 10, hi.min(i32::MAX as u64) as i64);
            proptest::prop_assert_eq!(
                lenient_int(&w, (lo, hi, signed), run_time),
                lenient_int_general(&w, (lo, hi, signed), run_time)
            );
            proptest::prop_assert_eq!(
                check_int(&w, lo, hi, signed),
                check_int_general(&w, lo, hi, signed)
            );
        }
    }

    fn run(w: &str, r: (i64, i64, bool)) -> Result<i64, (String, Option<i64>)> {
        lenient_int(w, r, true)
    }

    #[test]
    fn run_time_takes_the_prefix_with_a_warning() {
        let u = (0, 4294, false);
        assert_eq!(
            run("2.5", u),
            Err(("WARNING - invalid number '2.5'".into(), Some(2)))
        );
        assert_eq!(
            run("0x5", u),
            Err(("WARNING - invalid number '0x5'".into(), Some(0)))
        );
        assert_eq!(
            run("+7z", u),
            Err(("WARNING - invalid number '+7z'".into(), Some(7)))
        );
        // No digits: strtoul's 0, within range.
        assert_eq!(
            run("abc", u),
            Err(("WARNING - invalid number 'abc'".into(), Some(0)))
        );
        assert_eq!(run(" 4", u), Ok(4));
        assert_eq!(run("010", u), Ok(10));
        let s = (-253, 253, true);
        assert_eq!(
            run("-7x", s),
            Err(("WARNING - invalid number '-7x'".into(), Some(-7)))
        );
        assert_eq!(run(" -3", s), Ok(-3));
    }

    #[test]
    fn run_time_prefix_outside_range_is_not_taken() {
        assert_eq!(
            run("300x", (-253, 253, true)),
            Err(("WARNING - invalid number '300x'".into(), None))
        );
        assert_eq!(
            run("abc", (1, 100, false)),
            Err(("WARNING - invalid number 'abc'".into(), None))
        );
        // read_int's range message has no prefix, read_unsigned's has.
        assert_eq!(
            run("300", (-253, 253, true)),
            Err(("number '300' outside range [-253, 253]".into(), None))
        );
        assert_eq!(
            run("300", (1, 100, false)),
            Err(("WARNING - number '300' outside range [1, 100]".into(), None))
        );
        assert_eq!(
            run("-3", (0, 100, false)),
            Err(("WARNING - negative number '-3'".into(), None))
        );
        // strtoul("-0") is 0: taken.
        assert_eq!(
            run("-0", (0, 100, false)),
            Err(("WARNING - negative number '-0'".into(), Some(0)))
        );
        assert_eq!(
            run("99999999999", (0, 100, false)),
            Err((
                "WARNING - number '99999999999' outside unsigned integer range".into(),
                None
            ))
        );
        assert_eq!(
            run("99999999999", (-1, 100, true)),
            Err((
                "WARNING - number '99999999999' outside integer range".into(),
                None
            ))
        );
        assert_eq!(
            run("99999999999999999999x", (-1, 100, true)),
            Err((
                "WARNING - invalid number '99999999999999999999x'".into(),
                None
            ))
        );
    }

    #[test]
    fn config_test_rejects_without_prefix_or_value() {
        for (w, r, msg) in [
            ("2.5", (0, 4294, false), "invalid number '2.5'"),
            ("0x5", (1, 9, false), "invalid number '0x5'"),
            (
                "300",
                (1, 100, false),
                "number '300' outside range [1, 100]",
            ),
            ("-3", (0, 9, false), "negative number '-3'"),
            ("7x", (-253, 253, true), "invalid number '7x'"),
        ] {
            assert_eq!(lenient_int(w, r, false), Err((msg.into(), None)), "{w}");
        }
        assert_eq!(lenient_int("010", (0, 100, false), false), Ok(10));
    }

    #[test]
    fn decimals_take_the_pointless_prefix_also_under_test() {
        const S: u64 = 1_000_000;
        // "0.5x" is read as "05x0000": 5 millionths, in [1, ...].
        assert_eq!(
            lenient_decimal("0.5x", 1, u32::MAX as u64, true),
            (vec!["WARNING - invalid number '0.5x'".into()], Some(5))
        );
        assert_eq!(
            lenient_decimal("0.5x", 1, u32::MAX as u64, false),
            (vec!["invalid number '0.5x'".into()], Some(5))
        );
        assert_eq!(
            lenient_decimal("2x", S / 100, 255 * S, true),
            (vec!["WARNING - invalid number '2x'".into()], None)
        );
        assert_eq!(
            lenient_decimal("7.1234567", 0, 1000 * S, false),
            (
                vec!["number '7.1234567' has too many decimal places".into()],
                Some(7_123_457)
            )
        );
        assert_eq!(
            lenient_decimal("1.5", S / 100, 255 * S, true),
            (vec![], Some(1_500_000))
        );
        assert_eq!(
            lenient_decimal("-1", 0, S, true),
            (vec!["WARNING - negative number '-1'".into()], None)
        );
        assert_eq!(
            lenient_decimal("300", S / 100, 255 * S, true),
            (
                vec!["WARNING - number '300' outside range [0.010000, 255.000000]".into()],
                None
            )
        );
    }

    #[test]
    fn builder_uses_the_prefix_only_at_run_time() {
        let conf = "vrrp_script s {\n script /bin/true\n interval 2.5\n weight 7x\n rise 3.\n}\n";
        for run_time in [false, true] {
            let opts = crate::Options {
                config_id: "x".into(),
                all_config: false,
                run_time,
            };
            let p = crate::parse_str(conf, &opts);
            let s = &p.config.vrrp_scripts[0];
            let msgs: Vec<_> = p.diags.list.iter().map(|d| d.message.as_str()).collect();
            if run_time {
                assert_eq!(s.interval, 2 * 1_000_000);
                assert_eq!((s.weight, s.rise), (7, 3));
                assert_eq!(
                    msgs,
                    [
                        "WARNING - invalid number '2.5'",
                        "WARNING - invalid number '7x'",
                        "WARNING - invalid number '3.'",
                        // nothing tracks it
                        "Warning - script s is not used"
                    ]
                );
            } else {
                assert_eq!(s.interval, 1_000_000, "the default kept");
                assert_eq!((s.weight, s.rise), (0, 1));
                assert_eq!(msgs[0], "invalid number '2.5'");
                assert_eq!(msgs.len(), 6);
            }
        }
    }
}
