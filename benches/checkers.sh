#!/usr/bin/env bash
# Checker CPU/RSS benchmark (issue 5): N real servers with TCP_CHECK at
# delay_loop 1, all up (a local sink accepts every connection), for 30 s;
# CPU seconds and RSS of the daemon's processes (the largest per-second sum
# of VmRSS in the window, and VmHWM, which also covers start-up), ours
# against Debian's keepalived in the same VM boot.
#
# Real server i is checked at 127.1.0.1 + i (loopback answers all of
# 127/8), so each has its own addresses as on a real director; SAME=1 checks
# every one at 127.0.0.1 instead (sessions 3-5's setting: one 4-tuple space
# for 2,000 checks a second, so nearly every connect reuses a TIME_WAIT
# port). Each run checks its own port, so no run inherits another's
# TIME_WAIT sockets.
#
# Each round also runs the floor (checkers/examples/bench_floor.rs): the
# same connections on the same schedule with the fewest system calls and
# nothing else, with the same IPVS table loaded (the IPVS hooks see every
# packet). No checker process can use less CPU for these checks.
# Usage: [OURS=binary] [SAME=1] benches/checkers.sh [N_RS] [SECONDS]     (root; boots the VM)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${KAVM_VM:-}" != 1 ]; then
	n="${1:-2000}"; secs="${2:-30}"
	cargo build --release -q --bin keepalived
	cargo build --release -q -p keepalived-checkers --example bench_listener --example bench_floor
	same="${SAME:-0}"
	out=$(mktemp -d /tmp/kars-chk-bench.XXXXXX)
	{
		echo "global_defs {"; echo "    router_id bench"; echo "}"
		vs=$((n / 10))
		for v in $(seq 0 $((vs - 1))); do
			echo "virtual_server 10.1.$((v / 256)).$((v % 256)) 80 {"
			echo "    delay_loop 1"; echo "    lb_algo wrr"; echo "    lb_kind DR"; echo "    protocol TCP"
			for r in $(seq 0 9); do
				i=$((v * 10 + r))
				echo "    real_server 172.20.$((i / 256)).$((i % 256)) 80 {"
				echo "        TCP_CHECK {"
				if [ "$same" = 1 ]; then
					echo "            connect_ip 127.0.0.1"
				else
					c=$((0x7f010001 + i))
					echo "            connect_ip $(((c >> 24) & 255)).$(((c >> 16) & 255)).$(((c >> 8) & 255)).$((c & 255))"
				fi
				echo "            connect_port @PORT@"
				echo "            connect_timeout 3"
				echo "        }"
				echo "    }"
			done
			echo "}"
		done
	} >"$out/bench.conf"
	tests/vm/run setup >/dev/null
	ours=$(realpath "${OURS:-target/release/keepalived}")
	exec tests/vm/run exec --timeout 900 --env "BENCH_OURS=$ours" --env "BENCH_DIR=$out" --env "BENCH_N=$n" --env "BENCH_SECS=$secs" --env "BENCH_SAME=$same" -- "$0"
fi

# ---------------------------------------------------------------- in the VM --
dir=$BENCH_DIR
ulimit -n 65536
hz=$(getconf CLK_TCK)
# the real servers: accept, answer, close (kept up longer than all rounds);
# one port per run
sinks=
for port in 8081 8082 8083 8084 8085 8086; do
	"$PWD/target/release/examples/bench_listener" $port 900 "$dir/served.$port" >/dev/null &
	sinks="$sinks $!"
done
run_port=8080
tree() { # PID: the pid and its descendants
	local p=$1 c
	echo "$p"
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree "$c"; done
}
ticks() { # PIDS...: utime+stime summed
	local p t=0
	for p in "$@"; do
		[ -r /proc/"$p"/stat ] || continue
		t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat)))
	done
	echo $t
}
status_sum() { # FIELD PIDS...: a /proc/PID/status field summed, KiB
	local f=$1 p t=0
	shift
	for p in "$@"; do
		[ -r /proc/"$p"/status ] || continue
		t=$((t + $(awk -v f="$f:" '$1 == f {print $2}' /proc/"$p"/status)))
	done
	echo $t
}
hwm() { status_sum VmHWM "$@"; }
rss() { status_sum VmRSS "$@"; }
measure() { # BIN NAME   (BIN floor: the floor, with the last daemon's IPVS table)
	run_port=$((run_port + 1))
	sed "s/@PORT@/$run_port/" "$dir/bench.conf" >"$dir/run.conf"
	local pid
	if [ "$1" = floor ]; then
		ipvsadm -C
		ipvsadm-restore <"$dir/ipvs.saved"
		"$PWD/target/release/examples/bench_floor" "$BENCH_N" $((BENCH_SECS + 60)) $run_port \
			"$([ "$BENCH_SAME" = 1 ] && echo 127.0.0.1 || echo 127.1.0.1)" "$BENCH_SAME" >"$dir/floor.out" &
		pid=$!
	else
		ipvsadm -C
		"$1" -n -C -G -f "$dir/run.conf" -p "$dir/p.pid" -c "$dir/c.pid" -r "$dir/v.pid" </dev/null >/dev/null 2>&1 &
		pid=$!
	fi
	local pids t0 t1
	sleep 10 # start-up and the first round of checks
	pids=$(tree $pid)
	t0=$(ticks $pids)
	local c0 w0 w1; c0=$(cat "$dir/served.$run_port"); w0=$(date +%s%N)
	# RSS while the checks run: VmRSS of the whole tree, sampled each second
	# of the window; the largest sum counts (VmHWM also covers start-up).
	local s win=0 now
	for s in $(seq 1 "$BENCH_SECS"); do
		sleep 1
		now=$(rss $(tree $pid))
		[ "$now" -gt "$win" ] && win=$now
	done
	pids=$(tree $pid)
	t1=$(ticks $pids)
	local served=$(($(cat "$dir/served.$run_port") - c0)); w1=$(date +%s%N)
	local rs; rs=$(grep -c '^  -> [0-9A-F]' /proc/net/ip_vs || true)
	[ "$1" = floor ] || ipvsadm -Sn >"$dir/ipvs.saved"
	echo "$2: $(awk -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN{printf "%.2f", t/hz}') CPU-s in the window ($(awk -v w=$((w1 - w0)) 'BEGIN{printf "%.1f", w/1e9}') s: ${BENCH_SECS} one-second RSS samples), $served checks served ($(awk -v t=$((t1 - t0)) -v hz="$hz" -v c="$served" 'BEGIN{printf "%.0f", c ? t / hz / c * 1e6 : 0}') us CPU a check), RSS in the window ${win} KiB (max of per-second sums), peak RSS $(hwm $pids) KiB (VmHWM, start-up included) over $(echo $pids | wc -w) processes, $rs real servers in IPVS"
	local p
	for p in $pids; do # per process: peak, now, and what the pages are
		[ -r /proc/"$p"/status ] || continue
		echo "    pid $p: $(awk '/^(VmHWM|VmRSS|RssAnon|RssFile)/ {printf "%s %s  ", $1, $2}' /proc/"$p"/status)"
	done
	if [ "$1" = floor ]; then
		kill $pid; wait $pid 2>/dev/null || true
		ipvsadm -C
	else
		kill -TERM $pid; wait $pid 2>/dev/null || true
	fi
}
echo "== $BENCH_N real servers, TCP_CHECK, delay_loop 1, ${BENCH_SECS}s, $([ "$BENCH_SAME" = 1 ] && echo "all at 127.0.0.1" || echo "each at its own address"), kernel $(uname -r)"
for round in 1 2; do
	measure /usr/sbin/keepalived "keepalived (round $round)"
	measure "$BENCH_OURS" "ours (round $round)"
	measure floor "floor (round $round)"
done
kill $sinks
