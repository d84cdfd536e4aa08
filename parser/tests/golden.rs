//! Golden fixtures: every `golden/<name>.conf` parses to the resolved model
//! in `golden/<name>.json` (serde JSON, file ids as indices) plus the
//! rendered diagnostics in `golden/<name>.diag`. Run with `BLESS=1` to
//! rewrite the expected files after an intended change. All mismatches are
//! reported together.

use std::path::Path;

fn normalise(s: &str, dir: &Path) -> String {
    s.replace(&dir.display().to_string(), "$DIR")
}

#[test]
fn golden_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    entries.sort();
    for conf in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
    {
        n += 1;
        let opts = kaconf::Options {
            config_id: "lb1".into(),
            all_config: false,
            run_time: false,
        };
        let parsed = kaconf::parse_file(conf.to_str().unwrap(), &opts);
        let json = serde_json::to_string_pretty(&parsed.config).unwrap() + "\n";
        let diag = normalise(&(parsed.render_diagnostics().join("\n") + "\n"), &dir);
        for (ext, got) in [("json", json), ("diag", diag)] {
            let want_path = conf.with_extension(ext);
            if bless {
                std::fs::write(&want_path, &got).unwrap();
                continue;
            }
            match std::fs::read_to_string(&want_path) {
                Ok(want) if want == got => {}
                Ok(want) => failures.push(format!(
                    "{}: differs (first differing line: {:?})",
                    want_path.display(),
                    want.lines().zip(got.lines()).find(|(a, b)| a != b)
                )),
                Err(e) => failures.push(format!("{}: {e} (run with BLESS=1)", want_path.display())),
            }
        }
    }
    assert!(n >= 4, "expected golden fixtures in {}", dir.display());
    assert!(
        failures.is_empty(),
        "{} golden mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
