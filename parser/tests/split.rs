//! The two-thread parse of a large file (`kaconf::split`) gives exactly the
//! serial result: model, diagnostics with their locations, files read, exit
//! code. Every file is parsed serially and then split at every line that
//! starts with `virtual_server `, whatever the file's size.

use kaconf::split::{Outcome, Split, parse_file_split};
use kaconf::{Options, Parsed};
use std::path::{Path, PathBuf};

fn opts() -> Options {
    Options {
        config_id: "lb1".into(),
        all_config: false,
        run_time: false,
    }
}

/// Everything a caller can see of a parse.
fn view(p: &Parsed) -> String {
    format!(
        "config: {:?}\njson: {}\ndiags: {:#?}\nrendered: {:#?}\nsources: {:?}\nfound: {} error: {} exit: {}",
        p.config,
        serde_json::to_string(&p.config).unwrap(),
        p.diags.list,
        p.render_diagnostics(),
        p.sources,
        p.found,
        p.config_file_error,
        p.exit_code(),
    )
}

/// The offsets a split may be made at: every line but the first that
/// starts with `virtual_server `.
fn candidates(path: &Path) -> Vec<u64> {
    let b = std::fs::read(path).unwrap_or_default();
    memchr_like(&b, b"\nvirtual_server ")
        .into_iter()
        .map(|i| i as u64 + 1)
        .collect()
}

fn memchr_like(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// Checks every split of `path` against the serial parse; returns the
/// outcome of each split.
fn check_file(path: &Path, opts: &Options) -> Vec<Outcome> {
    let p = path.to_str().unwrap();
    let (serial, o) = parse_file_split(p, opts, Split::Never);
    assert_eq!(o, Outcome::Serial);
    let want = view(&serial);
    let mut outcomes = Vec::new();
    let mut splits: Vec<Split> = candidates(path).into_iter().map(Split::At).collect();
    splits.push(Split::Always);
    for split in splits {
        let (got, outcome) = parse_file_split(p, opts, split);
        let got = view(&got);
        if got != want {
            // Around the first difference.
            let at = want
                .bytes()
                .zip(got.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(want.len().min(got.len()));
            let around = |s: &str| {
                let from = s.floor_char_boundary(at.saturating_sub(200));
                let to = s.ceil_char_boundary((at + 200).min(s.len()));
                s[from..to].to_string()
            };
            let first = format!("serial: …{}…\nsplit:  …{}…", around(&want), around(&got));
            panic!(
                "{} split {split:?} ({outcome:?}) differs from the serial parse:\n{first}",
                path.display()
            );
        }
        outcomes.push(outcome);
    }
    outcomes
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "kaconf-split-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let f = self.0.join(name);
        std::fs::write(&f, text).unwrap();
        f
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The benchmark's configuration (as `examples/gen_config`), smaller.
fn gen_config(n: u32, m: u32) -> String {
    let mut out = String::from("global_defs {\n    router_id bench\n}\n\n");
    for v in 0..n {
        let vip = format!("10.{}.{}.{}", (v >> 16) & 255, (v >> 8) & 255, v & 255);
        out += &format!("virtual_server {vip} 80 {{\n");
        out += "    delay_loop 6\n    lb_algo wrr\n    lb_kind DR\n    persistence_timeout 50\n    protocol TCP\n";
        for r in 0..m {
            let i = v * m + r;
            let rip = format!(
                "172.{}.{}.{}",
                16 + ((i >> 16) & 15),
                (i >> 8) & 255,
                i & 255
            );
            out +=
                &format!("    real_server {rip} 80 {{\n        weight 1\n        TCP_CHECK {{\n");
            out += "            connect_port 80\n            connect_timeout 3\n            retry 3\n            delay_before_retry 3\n";
            out += "        }\n    }\n";
        }
        out += "}\n\n";
    }
    out
}

fn dir_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_file());
    v.sort();
    v
}

#[test]
fn keepalived_samples() {
    let dir = std::env::var_os("KEEPALIVED_SAMPLES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/keepalived-samples"),
        PathBuf::from,
    );
    let dir = if dir.is_dir() {
        dir
    } else {
        PathBuf::from("/usr/share/doc/keepalived/samples")
    };
    let files = dir_files(&dir);
    if files.is_empty() {
        eprintln!("no keepalived samples found; skipped");
        return;
    }
    let mut merged = 0;
    for f in &files {
        merged += check_file(f, &opts())
            .iter()
            .filter(|o| **o == Outcome::Merged)
            .count();
    }
    assert!(merged > 0, "no sample was merged");
}

#[test]
fn failure_corpus_and_golden_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut n = 0;
    for dir in ["fail", "golden"] {
        for f in dir_files(&root.join(dir)) {
            if f.extension().is_some_and(|e| e == "conf") {
                check_file(&f, &opts());
                check_file(
                    &f,
                    &Options {
                        all_config: true,
                        ..opts()
                    },
                );
                n += 1;
            }
        }
    }
    assert!(n > 100, "only {n} files");
}

#[test]
fn generated_configurations_merge() {
    let t = TempDir::new("gen");
    for (n, m) in [(1, 1), (2, 1), (7, 3), (40, 2)] {
        let f = t.write(&format!("gen-{n}-{m}.conf"), &gen_config(n, m));
        let outcomes = check_file(&f, &opts());
        if n > 1 {
            assert!(
                outcomes.iter().all(|o| *o == Outcome::Merged),
                "{n}x{m}: {outcomes:?}"
            );
        }
    }
    // Large enough for the automatic split.
    let text = gen_config(600, 10);
    assert!(text.len() as u64 >= kaconf::split::MIN_SPLIT_SIZE);
    let f = t.write("big.conf", &text);
    let p = f.to_str().unwrap();
    let (serial, _) = parse_file_split(p, &opts(), Split::Never);
    let (auto, outcome) = parse_file_split(p, &opts(), Split::Auto);
    assert_eq!(view(&serial), view(&auto));
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let want = if cpus >= 2 {
        Outcome::Merged
    } else {
        Outcome::Serial
    };
    assert_eq!(outcome, want);
    assert_eq!(auto.config.virtual_servers.len(), 600);
    // parse_file is the automatic split.
    assert_eq!(view(&kaconf::parse_file(p, &opts())), view(&serial));
}

const VS: &str = "virtual_server 10.0.0.1 80 {\n  delay_loop 5\n  real_server 10.1.0.1 80 {\n    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n}\n";

fn vs(i: u32) -> String {
    VS.replace("10.0.0.1", &format!("10.0.0.{i}"))
        .replace("10.1.0.1", &format!("10.1.0.{i}"))
}

/// A crafted file: name, text, other files in its directory, and the
/// outcome every split must have, if one.
type Crafted = (
    &'static str,
    String,
    Vec<(&'static str, String)>,
    Option<Outcome>,
);

/// Crafted files.
fn crafted() -> Vec<Crafted> {
    let v = |a: u32, b: u32| (a..=b).map(vs).collect::<String>();
    vec![
        ("plain", v(1, 4), vec![], Some(Outcome::Merged)),
        (
            "errors in both halves",
            format!(
                "bogus_root\n{}virtual_server 10.0.0.9 80 {{\n  bogus_vs 1\n  lb_algo nope\n  real_server 1.2.3 80 {{\n  }}\n}}\n{}bogus_too\n",
                v(1, 2),
                v(3, 4)
            ),
            vec![],
            Some(Outcome::Merged),
        ),
        (
            "unclosed braces in the second half",
            format!(
                "{}virtual_server 10.0.0.9 80 {{\n  real_server 10.1.1.1 80 {{\n",
                v(1, 3)
            ),
            vec![],
            None,
        ),
        (
            "extra close brace in the first half",
            format!("{}}}\n}}\n{}", v(1, 2), v(3, 5)),
            vec![],
            Some(Outcome::Merged),
        ),
        (
            "definition used in the second half",
            format!(
                "$PORT=8080\n{}virtual_server 10.0.0.9 $PORT {{\n}}\n",
                v(1, 3)
            ),
            vec![],
            Some(Outcome::Resumed),
        ),
        (
            "multi-line definition",
            format!(
                "$RS=real_server 10.2.2.2 80 \\\n{{ \\\n}}\n{}virtual_server 10.0.0.9 80 {{\n$RS\n}}\n",
                v(1, 2)
            ),
            vec![],
            None,
        ),
        (
            "parameter in the second half only",
            format!(
                "{}virtual_server 10.0.0.9 80 {{\n  virtualhost ${{_INSTANCE}}\n}}\n",
                v(1, 3)
            ),
            vec![],
            None,
        ),
        (
            "include in the first half",
            format!("include inc.conf\n{}", v(1, 3)),
            vec![("inc.conf", vs(9))],
            Some(Outcome::Merged),
        ),
        (
            "include in the second half",
            format!("{}include inc.conf\n{}", v(1, 2), v(3, 4)),
            vec![("inc.conf", vs(9))],
            None,
        ),
        (
            "include of a missing file in the second half",
            format!("{}includem missing.conf\n{}", v(1, 2), v(3, 4)),
            vec![],
            None,
        ),
        (
            "global_defs after the virtual servers",
            format!(
                "{}global_defs {{\n  router_id late\n}}\n{}",
                v(1, 2),
                v(3, 4)
            ),
            vec![],
            None,
        ),
        (
            "vrrp_instance after the virtual servers",
            format!(
                "{}vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 5\n  priority 100\n  virtual_ipaddress {{\n    10.9.9.9\n  }}\n}}\n",
                v(1, 3)
            ),
            vec![],
            None,
        ),
        (
            "virtual_server_group in the second half",
            format!(
                "{}virtual_server_group G {{\n  10.0.0.1 80\n}}\nvirtual_server group G {{\n}}\n{}",
                v(1, 2),
                v(3, 4)
            ),
            vec![],
            Some(Outcome::Merged),
        ),
        (
            "quoted brace",
            format!(
                "{}virtual_server 10.0.0.9 80 {{\n  real_server 10.1.1.1 80 {{\n    MISC_CHECK {{\n      misc_path \"/bin/echo {{\"\n    }}\n  }}\n}}\n{}",
                v(1, 2),
                v(3, 4)
            ),
            vec![],
            Some(Outcome::Merged),
        ),
        (
            "candidate inside an unclosed block",
            format!(
                "global_defs {{\n  router_id a\n{}}}\n{}",
                "virtual_server 10.0.0.7 80 {\n}\n",
                v(1, 2)
            ),
            vec![],
            None,
        ),
        (
            "candidate after a block missing its brace",
            format!(
                "virtual_server 10.0.0.7 80\n  delay_loop 5\n{}}}\n{}",
                "virtual_server 10.0.0.8 80 {\n}\n",
                v(1, 2)
            ),
            vec![],
            None,
        ),
        (
            "candidate after a skipped block whose brace is on the next line",
            "vrrp_instance\nvirtual_server 10.0.0.7 80 {\n}\n{\n}\n".to_string() + &v(1, 2),
            vec![],
            None,
        ),
        (
            "conditional lines",
            format!(
                "{}@lb1 virtual_server 10.0.0.9 80 {{\n@lb2 virtual_server 10.0.0.10 80 {{\n@^lb1 }}\n}}\n{}",
                v(1, 2),
                v(3, 4)
            ),
            vec![],
            None,
        ),
        (
            "comments with braces",
            format!(
                "{}# {{ {{\n! }}\n{}virtual_server 10.0.0.9 80 {{ # {{\n}} ! }}\n",
                v(1, 2),
                v(3, 4)
            ),
            vec![],
            Some(Outcome::Merged),
        ),
        (
            "CRLF line endings",
            v(1, 4).replace('\n', "\r\n"),
            vec![],
            Some(Outcome::Merged),
        ),
        (
            "no trailing newline",
            v(1, 4).trim_end().to_string(),
            vec![],
            Some(Outcome::Merged),
        ),
        (
            "pending regex across virtual servers",
            format!(
                "virtual_server 10.0.0.7 80 {{\n  real_server 10.1.1.1 80 {{\n    HTTP_GET {{\n      url {{\n        regex \"x\"\n      }}\n    }}\n  }}\n}}\n{}virtual_server 10.0.0.8 80 {{\n  real_server 10.1.1.2 80 {{\n    HTTP_GET {{\n      url {{\n        path /\n      }}\n    }}\n  }}\n}}\n",
                v(1, 2)
            ),
            vec![],
            None,
        ),
        (
            "unsupported keywords",
            format!(
                "{}virtual_server 10.0.0.9 80 {{\n  real_server 10.1.1.1 80 {{\n    BFD_CHECK {{\n      name x\n    }}\n  }}\n}}\n{}",
                v(1, 2),
                v(3, 4)
            ),
            vec![],
            None,
        ),
        (
            "virtual servers skipped",
            format!(
                "{}virtual_server nonsense 80 {{\n  real_server 10.1.1.1 80 {{\n  }}\n}}\nvirtual_server\n{{\n}}\nvirtual_server fwmark\n{}",
                v(1, 2),
                v(3, 4)
            ),
            vec![],
            None,
        ),
        (
            "unmatched quote and tabs",
            format!(
                "{}virtual_server 10.0.0.9 80 {{\n\tvirtualhost \"abc\n}}\n{}",
                v(1, 2),
                v(3, 4)
            ),
            vec![],
            Some(Outcome::Merged),
        ),
        (
            "SEQ in the first half",
            format!(
                "~SEQ(i, 1, 2) virtual_server 10.0.5.$i 80 {{ }}\n{}",
                v(1, 3)
            ),
            vec![],
            Some(Outcome::Resumed),
        ),
        (
            "duplicate virtual servers",
            format!("{}{}", v(1, 3), v(1, 3)),
            vec![],
            Some(Outcome::Merged),
        ),
    ]
}

#[test]
fn crafted_files() {
    for (name, text, extra, want) in crafted() {
        for all_config in [false, true] {
            let t = TempDir::new("crafted");
            for (n, body) in &extra {
                t.write(n, body);
            }
            let f = t.write("keepalived.conf", &text);
            let o = Options {
                all_config,
                ..opts()
            };
            let outcomes = check_file(&f, &o);
            if let Some(want) = want {
                // The last one is `Split::Always`, which may find no candidate.
                let at = &outcomes[..outcomes.len() - 1];
                assert!(
                    !at.is_empty() && at.iter().all(|o| *o == want),
                    "{name}: {outcomes:?}, want {want:?}"
                );
            }
        }
    }
}

/// Splits that are not at a `virtual_server` line start are not made.
#[test]
fn bad_offsets_are_serial() {
    let t = TempDir::new("bad");
    let text = format!("{}{}", vs(1), vs(2));
    let f = t.write("keepalived.conf", &text);
    let p = f.to_str().unwrap();
    let (serial, _) = parse_file_split(p, &opts(), Split::Never);
    for at in [0, 1, 5, VS.len() as u64 - 1, VS.len() as u64 + 1, 10_000] {
        let (got, outcome) = parse_file_split(p, &opts(), Split::At(at));
        assert_eq!(outcome, Outcome::Serial, "{at}");
        assert_eq!(view(&got), view(&serial));
    }
    let (_, outcome) = parse_file_split(p, &opts(), Split::At(VS.len() as u64));
    assert_eq!(outcome, Outcome::Merged);
    // A glob that matches more than one file is never split.
    t.write("keepalived.conf2", &text);
    let glob = t.0.join("keepalived.con*");
    let (_, outcome) = parse_file_split(glob.to_str().unwrap(), &opts(), Split::Always);
    assert_eq!(outcome, Outcome::Serial);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Files made of lines that exercise the reader and the engine.
    #[test]
    fn random_files(
        lines in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..40),
        crlf in proptest::bool::ANY,
        trailing in proptest::bool::ANY,
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut text = lines.join(nl);
        if trailing {
            text.push_str(nl);
        }
        let t = TempDir::new("prop");
        t.write("inc.conf", "virtual_server 10.8.8.8 80 {\n}\n");
        let f = t.write("keepalived.conf", &text);
        check_file(&f, &opts());
    }
}

const FRAGMENTS: &[&str] = &[
    "virtual_server 10.0.0.1 80 {",
    "virtual_server 10.0.0.2 80",
    "virtual_server 10.0.0.3 80 { delay_loop 3 }",
    "virtual_server fwmark 5 {",
    "virtual_server group G {",
    "virtual_server bad 80 {",
    "virtual_server",
    "virtual_server_group G {",
    "10.0.0.1 80",
    "}",
    "{",
    "} }",
    "real_server 10.1.1.1 80 {",
    "real_server 10.1.1.2 80",
    "TCP_CHECK {",
    "HTTP_GET {",
    "url {",
    "path /x",
    "regex \"a{\"",
    "connect_timeout 3",
    "weight 2",
    "delay_loop 5",
    "lb_algo rr",
    "lb_algo nope",
    "sh-port",
    "global_defs {",
    "router_id r1",
    "vrrp_instance V {",
    "vrrp_instance",
    "$X=81",
    "$M=weight 3 \\",
    "virtual_server 10.0.0.4 $X {",
    "weight $X",
    "@lb1 weight 3",
    "@lb2 }",
    "@^lb1 {",
    "# { comment",
    "! } comment",
    "misc_path \"/bin/echo {\"",
    "include inc.conf",
    "unknown_kw {",
    "bogus",
    "~SEQ(i, 1, 2) virtual_server 10.0.7.$i 80 { }",
    "  ",
    "\tvirtualhost \"unterminated",
];
