#!/usr/bin/env bash
# IPVS benchmarks (issue 3), ours against Debian's keepalived in the same VM
# boot:
#   1. cold start to fully programmed, N VS x M RS (default 1000 x 10);
#      ipvsadm-restore of the same table for reference;
#   2. reload with one real server changed, on a 40,000-RS kernel table:
#      (a) library: dump + plan + apply (ipvs/examples/reload_bench);
#      (b) daemon: SIGHUP until the kernel shows the change, ours vs keepalived.
# Usage: benches/ipvs.sh [N_VS] [M_RS]     (root; boots the VM from tests/vm)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${KAVM_VM:-}" != 1 ]; then
	n="${1:-1000}"; m="${2:-10}"
	cargo build --release -q --bin keepalived
	cargo build --release -q -p keepalived-ipvs --example reload_bench
	cargo build --release -q -p keepalived-parser --example gen_config
	out=$(mktemp -d /tmp/kars-ipvs-bench.XXXXXX)
	# Checker blocks removed: real servers are alive in both daemons.
	strip='/TCP_CHECK {/,/^        }$/d'
	./target/release/examples/gen_config "$n" "$m" | sed "$strip" >"$out/cold.conf"
	./target/release/examples/gen_config 4000 10 | sed "$strip" >"$out/big.conf"
	tests/vm/run setup >/dev/null
	exec tests/vm/run exec --timeout 1800 --env "BENCH_DIR=$out" --env "BENCH_N=$n" --env "BENCH_M=$m" -- "$0"
fi

# ---------------------------------------------------------------- in the VM --
dir=$BENCH_DIR
ours=$PWD/target/release/keepalived
theirs=/usr/sbin/keepalived
now_ms() { echo $(($(date +%s%N) / 1000000)); }
dests() { grep -c '^  -> [0-9A-F]' /proc/net/ip_vs || true; }
run_dir=/tmp/kars-bench-run
mkdir -p "$run_dir"

start_daemon() { # BIN CONF
	"$1" -n -C -G -f "$2" -p "$run_dir/p.pid" -c "$run_dir/c.pid" -r "$run_dir/v.pid" </dev/null >/dev/null 2>&1 &
	echo $!
}
stop_daemon() { # PID
	kill -TERM "$1"
	wait "$1" 2>/dev/null || true
	ipvsadm -C
}
wait_dests() { # COUNT LIMIT_S
	local deadline=$(($(now_ms) + $2 * 1000))
	while [ "$(dests)" -lt "$1" ]; do
		[ "$(now_ms)" -lt "$deadline" ] || { echo "timeout waiting for $1 dests (have $(dests))" >&2; return 1; }
		sleep 0.02
	done
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

total=$((BENCH_N * BENCH_M))
echo "== cold start, $BENCH_N VS x $BENCH_M RS ($total real servers), kernel $(uname -r)"
ipvsadm -C
: >"$dir/cold.ours"; : >"$dir/cold.theirs"
for i in 1 2 3; do
	for who in theirs ours; do
		bin=$theirs; [ $who = ours ] && bin=$ours
		t0=$(now_ms)
		pid=$(start_daemon "$bin" "$dir/cold.conf")
		wait_dests "$total" 120
		t1=$(now_ms)
		echo $((t1 - t0)) >>"$dir/cold.$who"
		echo "run $i $who: $((t1 - t0)) ms"
		[ $who = ours ] && ipvsadm -Sn >"$dir/cold.saved"
		stop_daemon "$pid"
	done
done
t0=$(now_ms); ipvsadm-restore <"$dir/cold.saved"; t1=$(now_ms); ipvsadm -C
echo "ipvsadm-restore of the same table: $((t1 - t0)) ms"
co=$(median <"$dir/cold.ours"); ct=$(median <"$dir/cold.theirs")
echo "RESULT cold median: ours $co ms, keepalived $ct ms, ratio $(awk -v a="$ct" -v b="$co" 'BEGIN{printf "%.1f", a/b}')x, ipvsadm-restore $((t1 - t0)) ms"

echo "== reload, library: 4000 VS x 10 RS kernel table, one real server changed"
"$PWD/target/release/examples/reload_bench" 4000 10 9

echo "== reload, daemon: SIGHUP with one real server's weight changed (4000 x 10)"
sighup_run() { # BIN
	cp "$dir/big.conf" "$run_dir/live.conf"
	local pid t0 t1 i times=()
	pid=$(start_daemon "$1" "$run_dir/live.conf")
	wait_dests 40000 300
	sleep 1
	for i in 2 3 4; do
		# the first real server of the first VS (10.0.0.0:80)
		sed -i "0,/weight [0-9]*/s//weight $i/" "$run_dir/live.conf"
		t0=$(now_ms)
		kill -HUP "$pid"
		until ipvsadm -Ln -t 10.0.0.0:80 | grep -q "Route  *$i "; do sleep 0.01; done
		t1=$(now_ms)
		times+=($((t1 - t0)))
		sleep 2
	done
	stop_daemon "$pid"
	printf '%s\n' "${times[@]}"
}
sighup_run "$theirs" >"$dir/hup.theirs"
sighup_run "$ours" >"$dir/hup.ours"
echo "keepalived SIGHUP->visible: $(tr '\n' ' ' <"$dir/hup.theirs")ms; ours: $(tr '\n' ' ' <"$dir/hup.ours")ms"
ho=$(median <"$dir/hup.ours"); ht=$(median <"$dir/hup.theirs")
echo "RESULT reload median: ours $ho ms, keepalived $ht ms, ratio $(awk -v a="$ht" -v b="$ho" 'BEGIN{printf "%.1f", a/b}')x"
