//! Differential test against Debian's keepalived 2.2.7 (tier 2: root, netns):
//! every value keyword of the schema, written alone (without its argument)
//! inside the smallest block that takes it, through `keepalived -t` of both
//! binaries in one network namespace.
//!
//! This is where keepalived's handlers differ most: some read their argument
//! unchecked and abort the whole parse (exit 2, "missing a parameter"), some
//! say "... missing - ignoring", some are silent. For each keyword:
//! - keepalived aborted (exit 2): we exit 2 too and say everything it said
//!   (we read on, so we may say more);
//! - otherwise: the same exit code and the same messages, at the same line
//!   for parse-time ones (post-parse checks have no line in keepalived's
//!   output, so they are matched by text). Our notes are not counted.
//!
//! Keywords where keepalived 2.2.7 crashes (it dereferences the missing
//! argument: SIGSEGV) are skipped; so are the few listed in `KNOWN`, each
//! with the reason.

mod oracle_common;
use oracle_common::{Netns, require};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use kaconf::schema::{self, Ctx};

/// Differences we keep, and why.
const KNOWN: &[(&str, &str, &str)] = &[
    (
        "Root",
        "garp_group",
        "garp_group is accepted but not modelled yet",
    ),
    (
        "GarpGroup",
        "interfaces",
        "garp_group is accepted but not modelled yet",
    ),
    (
        "RealServer",
        "BFD_CHECK",
        "BFD is not supported: the checker is dropped with a warning",
    ),
    ("BfdCheck", "name", "BFD is not supported"),
    ("BfdCheck", "alpha", "BFD is not supported"),
    ("BfdInstance", "passive", "BFD is not supported"),
    ("BfdInstance", "vrrp", "BFD is not supported"),
    ("BfdInstance", "checker", "BFD is not supported"),
    (
        "MiscCheck",
        "user",
        "keepalived's message quotes the script path, which is not known yet at that line",
    ),
    (
        "SmtpCheck",
        "host",
        "we warn that the host block is deprecated wherever it appears",
    ),
];

/// The lines that open the smallest configuration in which `ctx` is
/// current, or `None` for contexts this test does not build.
fn wrapper(ctx: Ctx) -> Option<String> {
    const RS: &str = "virtual_server 10.0.0.1 80 {\nreal_server 10.0.0.2 80 {\n";
    let checker = |block: &str| format!("{RS}{block} {{\n");
    Some(match ctx {
        Ctx::Root => String::new(),
        Ctx::GlobalDefs => "global_defs {\n".into(),
        Ctx::Instance => "vrrp_instance VI_1 {\n".into(),
        Ctx::Authentication => "vrrp_instance VI_1 {\nauthentication {\n".into(),
        Ctx::SyncGroup => "vrrp_sync_group G {\n".into(),
        Ctx::TrackGroup => "track_group T {\n".into(),
        Ctx::GarpGroup => "garp_group {\n".into(),
        Ctx::VrrpScript => "vrrp_script S {\n".into(),
        Ctx::TrackProcess => "vrrp_track_process P {\n".into(),
        Ctx::TrackFile => "track_file F {\n".into(),
        Ctx::Ssl => "SSL {\n".into(),
        Ctx::VirtualServer => "virtual_server 10.0.0.1 80 {\n".into(),
        Ctx::RealServer => RS.into(),
        Ctx::TcpCheck => checker("TCP_CHECK"),
        Ctx::HttpGet => checker("HTTP_GET"),
        Ctx::Url => checker("HTTP_GET {\nurl"),
        Ctx::MiscCheck => checker("MISC_CHECK"),
        Ctx::SmtpCheck => checker("SMTP_CHECK"),
        Ctx::DnsCheck => checker("DNS_CHECK"),
        Ctx::UdpCheck => checker("UDP_CHECK"),
        Ctx::FileCheck => checker("FILE_CHECK"),
        Ctx::BfdCheck => checker("BFD_CHECK"),
        Ctx::BfdInstance => "bfd_instance B {\n".into(),
        _ => return None,
    })
}

/// keepalived's `(FILE: Line N) message` lines as (line, message); 0 for
/// lines without a location.
fn ka_messages(out: &str) -> BTreeSet<(u64, String)> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            if let Some(rest) = l.strip_prefix('(')
                && let Some(i) = rest.find("Line ")
                && let Some(close) = rest.find(") ")
            {
                let n = rest[i + 5..close]
                    .split(':')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                return (n, rest[close + 2..].to_string());
            }
            (0, l.to_string())
        })
        .collect()
}

/// Our `--diagnostics-json` lines as (line, message), notes left out;
/// post-parse checks get line 0, as keepalived prints them.
fn our_messages(out: &str) -> BTreeSet<(u64, String)> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|d| d["note"] == false)
        .map(|d| {
            let line = if d["phase"] == "Parse" {
                d["loc"]["line"].as_u64().unwrap_or(0)
            } else {
                0
            };
            (line, d["message"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

#[test]
fn keyword_alone_matches_keepalived() {
    if !require(
        "keyword_oracle",
        nix::unistd::geteuid().is_root(),
        "needs root for a network namespace",
    ) {
        return;
    }
    if !require(
        "keyword_oracle",
        Path::new("/usr/sbin/keepalived").exists(),
        "Debian keepalived not installed (make test installs it)",
    ) {
        return;
    }
    let ns = Netns(format!("kakeywords{}", std::process::id()));
    let st = Command::new("ip")
        .args(["netns", "add", &ns.0])
        .status()
        .unwrap();
    assert!(st.success(), "ip netns add failed");
    let dir = std::env::temp_dir().join(format!("kakeywords{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("k.conf");
    let conf_s = conf.to_str().unwrap();
    let pid = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let ours = env!("CARGO_BIN_EXE_keepalived");

    let mut failures = Vec::new();
    let mut checked = 0;
    let mut seen = BTreeSet::new();
    for &ctx in schema::ALL_CTX {
        let Some(pre) = wrapper(ctx) else { continue };
        let pre = pre.as_str();
        let ctx_name = format!("{ctx:?}");
        for table in schema::tables(ctx) {
            for kw in table.iter() {
                if schema::SINCE_227.contains(&kw.name)
                    || !seen.insert((ctx, kw.name))
                    || KNOWN
                        .iter()
                        .any(|(c, k, _)| *c == ctx_name && *k == kw.name)
                {
                    continue;
                }
                let depth = pre.matches('{').count();
                let line = pre.lines().count() as u64 + 1;
                let text = format!("{pre}{}\n{}", kw.name, "}\n".repeat(depth));
                std::fs::write(&conf, &text).unwrap();
                let ka = Command::new("ip")
                    .args(["netns", "exec", &ns.0, "/usr/sbin/keepalived", "-t", "-f"])
                    .arg(conf_s)
                    .args(["-p", &pid("p"), "-r", &pid("r"), "-c", &pid("c")])
                    .output()
                    .unwrap();
                let Some(krc) = ka.status.code() else {
                    continue; // keepalived crashed on this one
                };
                let us = Command::new("ip")
                    .args([
                        "netns",
                        "exec",
                        &ns.0,
                        ours,
                        "-t",
                        "--diagnostics-json",
                        "-f",
                    ])
                    .arg(conf_s)
                    .output()
                    .unwrap();
                checked += 1;
                let urc = us.status.code();
                let k = ka_messages(&String::from_utf8_lossy(&ka.stderr));
                let mut u = our_messages(&String::from_utf8_lossy(&us.stderr));
                // Post-parse lines: keepalived has no line number, so a
                // message it printed without one matches ours at any line.
                let k_unlocated: BTreeSet<&String> =
                    k.iter().filter(|(l, _)| *l == 0).map(|(_, m)| m).collect();
                u = u
                    .into_iter()
                    .map(|(l, m)| {
                        if k_unlocated.contains(&m) {
                            (0, m)
                        } else {
                            (l, m)
                        }
                    })
                    .collect();
                let ok = if krc == 2 {
                    urc == Some(2) && k.is_subset(&u)
                } else {
                    urc == Some(krc) && k == u
                };
                if !ok {
                    let only_k: Vec<_> = k.difference(&u).collect();
                    let only_u: Vec<_> = u.difference(&k).collect();
                    failures.push(format!(
                        "{ctx_name} `{}` (line {line}): exit keepalived={krc} ours={urc:?}\n    \
                         keepalived only: {only_k:?}\n    ours only: {only_u:?}",
                        kw.name
                    ));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(checked > 300, "only {checked} keywords checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} keywords differ from keepalived 2.2.7:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
