#!/bin/sh
# Checker engine CPU/RSS benchmark, issue 5 (the engine alone; benches/checkers.sh
# measures the whole daemon): N real servers with one TCP_CHECK each
# (delay_loop 1 s, connect_timeout 3 s) against one local listener, run for
# SECS seconds by keepalived 2.2.7's checker process (-C; needs IPVS, so run
# it in the VM) and by keepalived-rs's checker driver (bench_checkers
# example; same checks, no IPVS programming).
#
#   cargo build --release -p keepalived-checkers --examples
#   VM_CACHE=/work/main/tests/vm/cache tests/vm/run exec --timeout 900 -- benches/checkers_engine.sh 200 30
set -eu
N=${1:-1000}
SECS=${2:-30}
PORT=18080
BIN=${BIN:-target/release/examples}
D=$(mktemp -d /tmp/kc-bench.XXXXXX)
trap 'rm -rf "$D"' EXIT

# real server i = 127.1.0.1 + i (loopback answers all of 127/8)
addr() {
	n=$((0x7f010001 + $1))
	echo "$(((n >> 24) & 255)).$(((n >> 16) & 255)).$(((n >> 8) & 255)).$((n & 255))"
}

{
	echo "virtual_server 10.0.0.1 80 {"
	echo "    delay_loop 1"
	echo "    lb_algo wlc"
	echo "    lb_kind NAT"
	echo "    protocol TCP"
	i=0
	while [ $i -lt "$N" ]; do
		echo "    real_server $(addr $i) $PORT {"
		echo "        TCP_CHECK {"
		echo "            connect_timeout 3"
		echo "            retry 1"
		echo "            delay_before_retry 1"
		echo "        }"
		echo "    }"
		i=$((i + 1))
	done
	echo "}"
} > "$D/keepalived.conf"

# one listener per side, so each side's count of checks is known
"$BIN/bench_listener" $PORT $((SECS + 5)) > "$D/k-listener.out" &
"$BIN/bench_listener" $((PORT + 1)) $((2 * SECS + 10)) > "$D/r-listener.out" &
LPID=$!
sleep 1

tck=$(getconf CLK_TCK)
timeout $((SECS + 20)) /usr/sbin/keepalived -C -n -f "$D/keepalived.conf" \
	-p "$D/k.pid" -c "$D/c.pid" > "$D/k.out" 2>&1 &
KPID=$!
sleep "$SECS"
CPID=$(cat "$D/c.pid")
# utime + stime are fields 14 and 15 of /proc/PID/stat (comm has no spaces here)
k_cpu=$(awk -v t="$tck" '{ printf "%.3f", ($14 + $15) / t }' /proc/"$CPID"/stat)
k_split=$(awk -v t="$tck" '{ printf "user %.3f s, sys %.3f s", $14 / t, $15 / t }' /proc/"$CPID"/stat)
k_rss=$(awk '/^VmHWM/ { print $2 }' /proc/"$CPID"/status)
kill "$KPID" 2>/dev/null || true
wait "$KPID" 2>/dev/null || true

sleep 5
set -- $("$BIN/bench_checkers" "$N" "$SECS" $((PORT + 1)))
r_cpu=$2
r_rss=$4
r_split="user $6 s, sys $8 s"
wait $LPID 2>/dev/null || true

k_conns=$(awk '{ print $2 }' "$D/k-listener.out")
r_conns=$(awk '{ print $2 }' "$D/r-listener.out")
echo "real servers: $N, seconds: $SECS"
echo "keepalived 2.2.7 checker process: cpu ${k_cpu} s (${k_split}), peak RSS ${k_rss} KiB, checks served ${k_conns}"
echo "keepalived-rs checker driver:     cpu ${r_cpu} s (${r_split}), peak RSS ${r_rss} KiB, checks served ${r_conns}"
awk -v a="$k_cpu" -v b="$r_cpu" -v c="$k_rss" -v d="$r_rss" \
	'BEGIN { printf "ratio (keepalived / ours): cpu %.2fx, rss %.2fx\n", a / b, c / d }'
