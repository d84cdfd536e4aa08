//! A file that includes itself more than once must not make the reader
//! exponential (the fuzzer found `include *.conf` twice in a `*.conf`).

use std::time::{Duration, Instant};

#[test]
fn self_include_twice_stops() {
    let dir = std::env::temp_dir().join(format!("kaconf-cycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a.conf");
    std::fs::write(&file, "include *.conf\ninclude *.conf\n").unwrap();
    let start = Instant::now();
    let p = kaconf::parse_file(&file.to_string_lossy(), &kaconf::Options::default());
    let took = start.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    let lines = p.render_diagnostics();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("More than 1024 includes at '*.conf'")),
        "{:?}",
        &lines[..lines.len().min(5)]
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("More than")).count(),
        1,
        "said once"
    );
    // Generous even for a debug build on a loaded host; 2^32 reads would
    // take days.
    assert!(took < Duration::from_secs(60), "{took:?}");
}

/// A definition naming itself twice doubles its line at every round of
/// substitution (also found by the fuzzer): refused, and quickly.
#[test]
fn doubling_definition_stops() {
    let start = Instant::now();
    let p = kaconf::parse_str(
        "$IF=a $IF b $IF\nvrrp_instance X {\n interface $IF\n}\n",
        &kaconf::Options::default(),
    );
    let took = start.elapsed();
    let lines = p.render_diagnostics();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("does not terminate - ignoring")),
        "{lines:?}"
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
}
