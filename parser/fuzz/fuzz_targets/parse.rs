#![no_main]
//! The parser must never panic or hang, whatever the configuration text.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let p = kaconf::parse_str(&text, &kaconf::Options { config_id: "lb1".into(), all_config: false, run_time: false });
    let _ = p.exit_code();
    let _ = p.render_diagnostics();
});
