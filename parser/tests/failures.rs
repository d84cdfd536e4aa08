//! The failure corpus: every `tests/fail/*.conf` is a small broken
//! configuration whose leading comment lines state what the parser must say.
//! Expectations are keepalived 2.2.7's behaviour (`keepalived -t -f FILE`),
//! with the column of our diagnostic added; for post-parse checks, which
//! keepalived prints without a line, the location is the item's (e.g. the
//! `vrrp_instance` line).
//!
//! Directives (in the leading `#` lines; files in subdirectories of
//! `tests/fail/` are helpers, e.g. included files, not cases):
//!
//! - `# expect: LINE:COL message` — a non-note diagnostic at that line and
//!   column of the case file, with exactly that message. `FILE:LINE:COL`
//!   names another file (by file name, e.g. an included one) and `-` a
//!   diagnostic without location. Each expectation consumes one diagnostic.
//! - `# expect-exit: N` — keepalived's `-t` exit code, compared with
//!   `Parsed::exit_code()`.
//! - `# option: all-config` — parse as `keepalived -e`.
//! - `# allow-other-diagnostics` — by default every non-note diagnostic
//!   must be matched by an expectation; this lifts that rule.
//!
//! Known differences from keepalived are recorded rather than asserted as
//! right, and checked both ways, so that fixing one makes the case fail
//! until its header is updated:
//!
//! - `# missing: LOC message` — keepalived says this, we do not (yet): it
//!   must still be absent; once reported, turn the line into `# expect:`.
//! - `# wrong: LOC message` — we say this, keepalived does not (or words it
//!   as a `# missing:` line): it must still be present; once gone, delete it.
//! - `# wrong-exit: N` — our exit code is still `N`, not `# expect-exit:`.
//!
//! Intentional differences are asserted like `# expect:` lines:
//!
//! - `# beyond: LOC message` — we report this and keepalived does not,
//!   because keepalived stopped reading earlier (a missing parameter ends
//!   its parse; we go on, so one run shows every mistake).
//! - `# instead: LOC message` — our wording where keepalived's would
//!   mislead; the case's free text quotes keepalived's and says why.
//!
//! Any other comment line is free text (each case says which mistake it
//! shows). Every case must produce at least one non-note diagnostic: a
//! broken config must never pass silently, unless that silence is itself
//! recorded as a known bug (the case has `# missing:` lines).
//!
//! The runner checks every case and reports all failures together; with
//! `--nocapture` it also lists the known differences still present. Set
//! `FAILURES_DUMP=1` (with `--nocapture`) to print every case's diagnostics.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const MIN_CASES: usize = 60;

#[derive(Debug)]
struct Expect {
    /// File name (without directory) the diagnostic must be in; `None` means
    /// the case file itself.
    file: Option<String>,
    /// `None` for a diagnostic without a location.
    at: Option<(u32, u32)>,
    message: String,
}

#[derive(Debug, Default)]
struct Case {
    expects: Vec<Expect>,
    /// Known bugs: keepalived's diagnostics that we do not give yet.
    missing: Vec<Expect>,
    /// Known bugs: diagnostics we give that keepalived does not.
    wrong: Vec<Expect>,
    exit: Option<i32>,
    wrong_exit: Option<i32>,
    allow_other: bool,
    all_config: bool,
}

/// Parses `LINE:COL`, `FILE:LINE:COL` or `-` into an expectation for `message`.
fn parse_expect(spec: &str, message: &str) -> Option<Expect> {
    let message = message.to_string();
    if spec == "-" {
        return Some(Expect {
            file: None,
            at: None,
            message,
        });
    }
    let parts: Vec<&str> = spec.split(':').collect();
    let (file, line, col) = match parts.as_slice() {
        [l, c] => (None, l, c),
        [f, l, c] => (Some((*f).to_string()), l, c),
        _ => return None,
    };
    Some(Expect {
        file,
        at: Some((line.parse().ok()?, col.parse().ok()?)),
        message,
    })
}

fn parse_header(text: &str) -> Result<Case, String> {
    let mut case = Case::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        let Some(comment) = line.strip_prefix('#') else {
            break;
        };
        let comment = comment.trim_start();
        let expect = |rest: &str| -> Result<Expect, String> {
            let (spec, message) = rest
                .trim_start()
                .split_once(' ')
                .ok_or_else(|| format!("line {}: expectation needs LOC and message", i + 1))?;
            parse_expect(spec, message)
                .ok_or_else(|| format!("line {}: bad location '{spec}'", i + 1))
        };
        let code = |rest: &str| -> Result<i32, String> {
            rest.trim()
                .parse()
                .map_err(|_| format!("line {}: bad exit code '{}'", i + 1, rest.trim()))
        };
        if let Some(rest) = comment
            .strip_prefix("expect:")
            .or_else(|| comment.strip_prefix("beyond:"))
            .or_else(|| comment.strip_prefix("instead:"))
        {
            case.expects.push(expect(rest)?);
        } else if let Some(rest) = comment.strip_prefix("missing:") {
            case.missing.push(expect(rest)?);
        } else if let Some(rest) = comment.strip_prefix("wrong:") {
            case.wrong.push(expect(rest)?);
        } else if let Some(rest) = comment.strip_prefix("expect-exit:") {
            case.exit = Some(code(rest)?);
        } else if let Some(rest) = comment.strip_prefix("wrong-exit:") {
            case.wrong_exit = Some(code(rest)?);
        } else if comment == "allow-other-diagnostics" {
            case.allow_other = true;
        } else if let Some(rest) = comment.strip_prefix("option:") {
            match rest.trim() {
                "all-config" => case.all_config = true,
                other => return Err(format!("line {}: unknown option '{other}'", i + 1)),
            }
        } else if comment.starts_with("expect") {
            return Err(format!("line {}: unknown directive '{comment}'", i + 1));
        }
    }
    if case.expects.is_empty() && case.missing.is_empty() {
        return Err("no `# expect:` or `# missing:` line".into());
    }
    if case.wrong_exit.is_some() && case.exit.is_none() {
        return Err("`# wrong-exit:` without `# expect-exit:`".into());
    }
    Ok(case)
}

fn file_name(parsed: &kaconf::Parsed, file: u32) -> String {
    parsed
        .sources
        .path(file)
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn describe(parsed: &kaconf::Parsed, d: &kaconf::Diagnostic) -> String {
    let loc = match d.loc {
        Some(l) => format!("{}:{}:{}", file_name(parsed, l.file), l.line, l.col),
        None => "-".into(),
    };
    let note = if d.note { " [note]" } else { "" };
    format!("{loc} {} ({:?}){note}", d.message, d.class)
}

fn matches(parsed: &kaconf::Parsed, case_name: &str, e: &Expect, d: &kaconf::Diagnostic) -> bool {
    if d.note || d.message != e.message {
        return false;
    }
    match (e.at, d.loc) {
        (None, None) => true,
        (Some((line, col)), Some(l)) => {
            let want_file = e.file.as_deref().unwrap_or(case_name);
            l.line == line && l.col == col && file_name(parsed, l.file) == want_file
        }
        _ => false,
    }
}

fn show(e: &Expect) -> String {
    let loc = match (e.at, &e.file) {
        (None, _) => "-".to_string(),
        (Some((l, c)), None) => format!("{l}:{c}"),
        (Some((l, c)), Some(f)) => format!("{f}:{l}:{c}"),
    };
    format!("{loc} {}", e.message)
}

/// The outcome of one case.
#[derive(Default)]
struct Outcome {
    /// Why the case fails (empty if it passes).
    problems: Vec<String>,
    /// Known differences from keepalived that are still present.
    known: Vec<String>,
}

/// Checks one case.
fn check(path: &Path) -> Outcome {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut out = Outcome::default();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            out.problems.push(format!("cannot read: {e}"));
            return out;
        }
    };
    let case = match parse_header(&text) {
        Ok(c) => c,
        Err(e) => {
            out.problems.push(format!("bad header: {e}"));
            return out;
        }
    };
    let opts = kaconf::Options {
        config_id: "testhost".into(),
        all_config: case.all_config,
        run_time: false,
    };
    let parsed = kaconf::parse_file(&path.to_string_lossy(), &opts);
    if std::env::var_os("FAILURES_DUMP").is_some() {
        println!("== {name} (exit {})", parsed.exit_code());
        for d in &parsed.diags.list {
            println!("   {}", describe(&parsed, d));
        }
    }

    let problems = &mut out.problems;
    let real: Vec<&kaconf::Diagnostic> = parsed.diags.list.iter().filter(|d| !d.note).collect();
    if real.is_empty() {
        if case.missing.is_empty() {
            problems.push("no diagnostic at all: a broken config passed silently".to_string());
        } else {
            out.known
                .push("we say nothing at all (a broken config passes silently)".into());
        }
    }
    let mut used = vec![false; real.len()];
    let mut take = |e: &Expect| -> bool {
        let hit = real
            .iter()
            .enumerate()
            .position(|(i, d)| !used[i] && matches(&parsed, &name, e, d));
        if let Some(i) = hit {
            used[i] = true;
        }
        hit.is_some()
    };
    for e in &case.expects {
        if !take(e) {
            problems.push(format!("missing: {}", show(e)));
        }
    }
    for e in &case.wrong {
        if take(e) {
            out.known
                .push(format!("we say (keepalived does not): {}", show(e)));
        } else {
            problems.push(format!(
                "known-wrong diagnostic is gone (delete its `# wrong:` line): {}",
                show(e)
            ));
        }
    }
    for e in &case.missing {
        if take(e) {
            problems.push(format!(
                "known-missing diagnostic is now reported (make it `# expect:`): {}",
                show(e)
            ));
        } else {
            out.known
                .push(format!("keepalived says (we do not): {}", show(e)));
        }
    }
    if !case.allow_other {
        for (d, _) in real.iter().zip(&used).filter(|(_, u)| !**u) {
            problems.push(format!("unexpected: {}", describe(&parsed, d)));
        }
    }
    if let Some(want) = case.exit {
        let got = parsed.exit_code();
        match case.wrong_exit {
            Some(bad) if got == bad => {
                out.known
                    .push(format!("exit code {got}, keepalived gives {want}"));
            }
            Some(bad) => problems.push(format!(
                "exit code {got}, expected {want} with known-wrong {bad} (update `# wrong-exit:`)"
            )),
            None if got != want => problems.push(format!("exit code {got}, expected {want}")),
            None => {}
        }
    }
    if !problems.is_empty() {
        problems.push("actual diagnostics:".into());
        for d in &parsed.diags.list {
            problems.push(format!("    {}", describe(&parsed, d)));
        }
    }
    out
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fail");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "conf"))
        .collect();
    v.sort();
    v
}

#[test]
fn failure_corpus() {
    let cases = cases();
    let mut report = String::new();
    let mut known = String::new();
    let mut failed = 0;
    for path in &cases {
        let name = path.file_name().unwrap().to_string_lossy();
        let out = check(path);
        if !out.problems.is_empty() {
            failed += 1;
            let _ = writeln!(report, "\n{name}:");
            for p in &out.problems {
                let _ = writeln!(report, "  {p}");
            }
        }
        for k in &out.known {
            let _ = writeln!(known, "  {name}: {k}");
        }
    }
    if !known.is_empty() {
        println!("known differences from keepalived:\n{known}");
    }
    if cases.len() < MIN_CASES {
        let _ = writeln!(
            report,
            "\nonly {} cases in tests/fail (at least {MIN_CASES} required)",
            cases.len()
        );
    }
    assert!(
        report.is_empty(),
        "{failed} of {} failure-corpus cases failed:{report}",
        cases.len()
    );
}
