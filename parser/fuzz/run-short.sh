#!/usr/bin/env bash
# A time-boxed coverage-guided fuzz run of the config parser (stable
# toolchain, no sanitizer: `cargo fuzz -s none`). Seeds come from the
# golden fixtures and the failure corpus. Fails on any crash.
set -euo pipefail
cd "$(dirname "$0")"
secs="${FUZZ_SECONDS:-60}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
mkdir -p corpus/parse
cp ../tests/golden/*.conf ../tests/fail/*.conf corpus/parse/ 2>/dev/null || true
cargo fuzz run -s none parse corpus/parse -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048
