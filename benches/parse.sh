#!/usr/bin/env bash
# Parse + validate benchmark (issue: keepalived -t on N VS x M RS with TCP_CHECK).
# Generates the config, then times `keepalived -t` for ours and Debian's
# keepalived on the same file (hyperfine), and peak RSS (GNU time).
# Usage: benches/parse.sh [N_VS] [M_RS]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20000}"; m="${2:-10}"
conf="${TMPDIR:-/tmp}/kars-bench-${n}x${m}.conf"
cargo build --release -q -p keepalived-parser --example gen_config
cargo build --release -q --bin keepalived
./target/release/examples/gen_config "$n" "$m" > "$conf"
echo "config: $conf ($(wc -l < "$conf") lines, $(du -m "$conf" | cut -f1) MB)"
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
hyperfine --warmup 1 --runs "${RUNS:-5}" -N \
    "./target/release/keepalived -t -f $conf" \
    "/usr/sbin/keepalived -t -f $conf"
for b in ./target/release/keepalived /usr/sbin/keepalived; do
    /usr/bin/time -f "$b peak RSS %M KiB, %e s" "$b" -t -f "$conf" 2>&1 >/dev/null | tail -1
done
