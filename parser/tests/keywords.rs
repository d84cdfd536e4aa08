//! The keyword status table: `parser/KEYWORDS.md` must be what the schema
//! generates (BLESS=1 rewrites it), and no keyword's status may fall below
//! the committed baseline `parser/keyword-status.baseline`.

use kaconf::schema::{self, Status};
use std::path::Path;

#[test]
fn keyword_table_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("KEYWORDS.md");
    let got = schema::keyword_table_markdown();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        want == got,
        "parser/KEYWORDS.md is stale: run BLESS=1 cargo test -p keepalived-parser --test keywords"
    );
}

#[test]
fn no_keyword_status_regresses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("keyword-status.baseline");
    let mut current = Vec::new();
    for ctx in schema::ALL_CTX {
        for t in schema::tables(*ctx) {
            for kw in t.iter() {
                current.push((format!("{ctx:?}"), kw.name, kw.status));
            }
        }
    }
    if std::env::var_os("BLESS").is_some() {
        let text: String = current
            .iter()
            .map(|(c, k, s)| format!("{c} {k} {s:?}\n"))
            .collect();
        std::fs::write(&path, text).unwrap();
    }
    let baseline = std::fs::read_to_string(&path).expect("baseline exists");
    let mut regressions = Vec::new();
    for line in baseline.lines() {
        let mut it = line.split_whitespace();
        let (Some(c), Some(k), Some(s)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let was = if s == "Typed" {
            Status::Typed
        } else {
            Status::Accepted
        };
        match current.iter().find(|(cc, kk, _)| cc == c && *kk == k) {
            None => regressions.push(format!("{c} {k}: keyword removed")),
            Some((_, _, now)) if *now < was => {
                regressions.push(format!("{c} {k}: {was:?} -> {now:?}"))
            }
            _ => {}
        }
    }
    assert!(
        regressions.is_empty(),
        "keyword status regressions:\n{}",
        regressions.join("\n")
    );
}

/// Every keyword marked Typed is really handled by the builder: a config
/// using it must not produce the "not supported yet" note.
#[test]
fn typed_keywords_have_handlers() {
    for ctx in schema::ALL_CTX {
        for t in schema::tables(*ctx) {
            for kw in t.iter().filter(|k| k.status == Status::Typed) {
                let conf = wrap(*ctx, kw.name);
                let p = kaconf::parse_str(&conf, &kaconf::Options::default());
                let note = p
                    .diags
                    .list
                    .iter()
                    .find(|d| d.note && d.message.contains("not supported yet"));
                assert!(
                    note.is_none(),
                    "{ctx:?} {}: {:?}",
                    kw.name,
                    note.map(|d| &d.message)
                );
            }
        }
    }
}

fn wrap(ctx: schema::Ctx, kw: &str) -> String {
    use schema::Ctx::*;
    let line = format!("{kw} 1\n");
    match ctx {
        Root => line,
        GlobalDefs => format!("global_defs {{\n{line}}}\n"),
        Instance => format!("vrrp_instance V {{\n{line}}}\n"),
        Authentication => format!("vrrp_instance V {{\nauthentication {{\n{line}}}\n}}\n"),
        VirtualServer => format!("virtual_server 10.0.0.1 80 {{\n{line}}}\n"),
        RealServer => {
            format!("virtual_server 10.0.0.1 80 {{\nreal_server 10.0.0.2 80 {{\n{line}}}\n}}\n")
        }
        c => format!(
            "{} {{\n{line}}}\n",
            match c {
                SyncGroup => "vrrp_sync_group G",
                VrrpScript => "vrrp_script S",
                TrackFile => "track_file F",
                TrackProcess => "vrrp_track_process P",
                Ssl => "SSL",
                _ => "global_defs",
            }
        ),
    }
}

/// keepalived's `read_value_block`: every word of a `notification_email`
/// line is an address (Debian's 2.2.7 sent `RCPT TO` for each; a quoted
/// `"Name <addr>"` is one word).
#[test]
fn notification_email_takes_one_address_per_word() {
    let c = kaconf::parse_str(
        "global_defs {\n notification_email {\n a@x b@x\n \"Name <c@x>\"\n }\n}\n",
        &kaconf::Options::default(),
    )
    .config;
    assert_eq!(
        c.global_defs.notification_email,
        ["a@x", "b@x", "Name <c@x>"]
    );
}
