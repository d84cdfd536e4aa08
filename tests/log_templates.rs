//! Every VRRP log line we format is one of Debian's keepalived 2.2.7 lines.
//!
//! Operators alert on these lines, so a template that drifts from 2.2.7's
//! (a later keepalived's wording, an added "from ADDR") breaks their
//! alerting. This reads the printf templates out of /usr/sbin/keepalived
//! and checks each `format!("({...}) ...")` template of the VRRP code
//! against them, with the `{...}` holes filled in.
//!
//! Needs Debian's keepalived; fails with CI=true when it is missing.

use std::path::{Path, PathBuf};

/// Templates that are ours on purpose, with the reason.
const NOT_IN_2_2_7: &[(&str, &str)] = &[
    (
        "({name}) Dropping packet(s) from {src} since we are address owner",
        "owner_ignore_adverts is a later keepalived keyword",
    ),
    (
        "({iname}) Invalid VRRPv{} checksum",
        "\"(%s) Invalid VRRPv2 checksum\" and \"... VRRPv3 ...\": the hole is the version",
    ),
];

/// The printable strings of a binary, like strings(1) with -n 12.
fn strings(bin: &[u8]) -> Vec<String> {
    bin.split(|b| !(0x20..0x7f).contains(b))
        .filter(|s| s.len() >= 12)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// A printf template as its literal pieces between conversions.
fn pieces(template: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.last_mut().unwrap().push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.last_mut().unwrap().push('%');
            continue;
        }
        // Flags, width, precision and length, up to the conversion letter.
        for d in chars.by_ref() {
            if "diouxXsfcpmgeE".contains(d) {
                break;
            }
        }
        out.push(String::new());
    }
    out
}

/// Whether `line` is an instance of the printf template given as pieces.
fn instance_of(line: &str, pieces: &[String]) -> bool {
    let (first, rest) = pieces.split_first().unwrap();
    let Some(mut tail) = line.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for p in middle {
        match tail.find(p.as_str()) {
            Some(i) => tail = &tail[i + p.len()..],
            None => return false,
        }
    }
    tail.ends_with(last.as_str())
}

/// `format!` templates that start with an instance name, from `src`.
fn templates(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("format!(") {
        rest = &rest[i + "format!(".len()..];
        let t = rest.trim_start();
        let Some(body) = t.strip_prefix('"') else {
            continue;
        };
        let mut lit = String::new();
        let mut esc = false;
        for c in body.chars() {
            match (esc, c) {
                (true, c) => {
                    lit.push(c);
                    esc = false;
                }
                (false, '\\') => esc = true,
                (false, '"') => break,
                (false, c) => lit.push(c),
            }
        }
        if lit.starts_with("({") {
            out.push(lit);
        }
    }
    out
}

/// The template with every `{...}` hole filled with "X".
fn sample(template: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in template.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push('X');
                }
                depth += 1;
            }
            '}' => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") && !p.to_string_lossy().contains("test")
        {
            out.push(p);
        }
    }
}

#[test]
fn vrrp_log_templates_are_keepalived_2_2_7_lines() {
    let bin = match std::fs::read("/usr/sbin/keepalived") {
        Ok(b) => b,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true: /usr/sbin/keepalived is needed: {e}")
        }
        Err(e) => {
            eprintln!("skipped: /usr/sbin/keepalived: {e}");
            return;
        }
    };
    let theirs: Vec<Vec<String>> = strings(&bin)
        .iter()
        .filter(|s| s.starts_with("(%s)"))
        .map(|s| pieces(s))
        .collect();
    assert!(theirs.len() > 100, "too few templates read from the binary");

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("vrrp/src"), &mut files);
    rust_files(&root.join("src/vrrp_role"), &mut files);
    let mut checked = 0;
    let mut missing = Vec::new();
    for f in &files {
        for t in templates(&std::fs::read_to_string(f).unwrap()) {
            if NOT_IN_2_2_7.iter().any(|(a, _)| *a == t) {
                continue;
            }
            checked += 1;
            let line = sample(&t);
            if !theirs.iter().any(|p| instance_of(&line, p)) {
                missing.push(format!("{}: {t}", f.display()));
            }
        }
    }
    assert!(checked > 40, "only {checked} templates found");
    assert!(
        missing.is_empty(),
        "not lines of keepalived 2.2.7:\n{}",
        missing.join("\n")
    );
}

#[test]
fn matcher_rejects_a_sender_address_2_2_7_does_not_print() {
    let p = pieces("(%s) received an invalid passwd!");
    assert!(instance_of("(X) received an invalid passwd!", &p));
    assert!(!instance_of("(X) received an invalid passwd from X!", &p));
    let p = pieces("(%s) vrrp packet too %s, length %zu and expect %zu");
    assert!(instance_of(
        "(X) vrrp packet too X, length X and expect X",
        &p
    ));
    assert!(!instance_of(
        "(X) vrrp packet from X too X, length X and expect X",
        &p
    ));
}
