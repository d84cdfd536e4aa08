#!/usr/bin/env bash
# Parse + validate benchmark (issue 2 point 7: keepalived -t on N VS x M RS
# with TCP_CHECK). Generates the config, then times `keepalived -t` for ours
# and Debian's keepalived on the same file (hyperfine), and peak RSS (GNU
# time), and checks the targets: ours at least 10x faster, and at most half
# keepalived's peak RSS. Other jobs on the machine skew the figures: run it
# when the load is low, more than once.
# Usage: [RUNS=5] [TMPDIR=dir] benches/parse.sh [N_VS] [M_RS]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20000}"; m="${2:-10}"
tmp="${TMPDIR:-/tmp}"
conf="$tmp/kars-bench-${n}x${m}.conf"
csv="$tmp/kars-bench-${n}x${m}.csv"
cargo build --release -q -p keepalived-parser --example gen_config
cargo build --release -q --bin keepalived
./target/release/examples/gen_config "$n" "$m" > "$conf"
echo "config: $conf ($(wc -l < "$conf") lines, $(du -m "$conf" | cut -f1) MB)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
hyperfine --warmup 1 --runs "${RUNS:-5}" -N --export-csv "$csv" \
    "./target/release/keepalived -t -f $conf" \
    "/usr/sbin/keepalived -t -f $conf"
rss() { /usr/bin/time -f "%M" "$1" -t -f "$conf" 2>&1 >/dev/null | tail -1; }
ours_rss=$(rss ./target/release/keepalived)
ka_rss=$(rss /usr/sbin/keepalived)
# hyperfine's CSV: command,mean,stddev,median,user,system,min,max (seconds).
awk -F, -v ours_rss="$ours_rss" -v ka_rss="$ka_rss" '
    NR == 2 { ours = $2; ours_min = $7 }
    NR == 3 { ka = $2; ka_min = $7 }
    END {
        speed = ka / ours
        mem = ours_rss / ka_rss
        printf "ours: mean %.1f ms (min %.1f), peak RSS %d KiB\n", ours * 1000, ours_min * 1000, ours_rss
        printf "keepalived: mean %.1f ms (min %.1f), peak RSS %d KiB\n", ka * 1000, ka_min * 1000, ka_rss
        printf "speed: %.1fx faster (target >= 10x: %s)\n", speed, (speed >= 10 ? "met" : "NOT met")
        printf "memory: %.2f of keepalived (target <= 0.50: %s)\n", mem, (mem <= 0.5 ? "met" : "NOT met")
    }' "$csv"
