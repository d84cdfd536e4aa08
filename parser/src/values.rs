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

/// An integer argument in `min..=max` (C `strtol` forms accepted).
pub fn int(line: &Line, i: usize, min: i64, max: i64, d: &mut Diags) -> Option<i64> {
    let Some(w) = line.word(i) else {
        d.at(
            line.loc,
            Class::MissingParameter,
            format!("{} requires a parameter", line.w(0)),
        );
        return None;
    };
    match parse_c_long(w) {
        Some(v) if (min..=max).contains(&v) => Some(v),
        Some(_) => {
            d.at(
                line.loc_of(i),
                Class::InvalidNumber,
                format!(
                    "{} value '{}' is out of range [{}, {}]",
                    line.w(0),
                    w,
                    min,
                    max
                ),
            );
            None
        }
        None => {
            d.at(
                line.loc_of(i),
                Class::InvalidNumber,
                format!("{} value '{}' is not a valid number", line.w(0), w),
            );
            None
        }
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

/// A timer argument in seconds, within `[min, max]` microseconds.
pub fn timer(line: &Line, i: usize, min: u64, max: u64, d: &mut Diags) -> Option<u64> {
    let Some(w) = line.word(i) else {
        d.at(
            line.loc,
            Class::MissingParameter,
            format!("{} requires a parameter", line.w(0)),
        );
        return None;
    };
    match parse_timer(w) {
        Some(v) if (min..=max).contains(&v) => Some(v),
        _ => {
            d.at(
                line.loc_of(i),
                Class::InvalidNumber,
                format!("{} value '{}' is invalid", line.w(0), w),
            );
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
    out
}

/// A command keyword (`notify_master "/bin/x a b" user group`): returns
/// (argv, user, group). keepalived quotes the whole command to give it
/// arguments; unquoted extra words are the user and group.
pub fn command(line: &Line) -> (Vec<String>, Option<String>, Option<String>) {
    let words = split_quoted(line.raw_args(), false);
    let argv = words
        .first()
        .map(|c| split_quoted(c, true))
        .unwrap_or_default();
    (argv, words.get(1).cloned(), words.get(2).cloned())
}
