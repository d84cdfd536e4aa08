#!/usr/bin/env bash
# IPVS benchmarks (issue 3), ours against Debian's keepalived under the same
# kernel (Debian's, in qemu: tests/vm):
#   1. cold start to fully programmed, N VS x M RS (default 1000 x 10), no
#      checkers (every real server alive): from the spawn of `keepalived -n
#      -C` until the kernel lists every real server. Every run gets a VM
#      boot of its own: the kernel keeps deleted real servers in a trash
#      list that it scans on every add, so a second run in one boot is
#      slower than the first. Runs alternate keepalived / ours, ROUNDS
#      (default 3) of each; medians and their ratio at the end. RESTORE=1
#      adds ipvsadm-restore of the same table to each round (libipvs, like
#      keepalived, opens a netlink socket and resolves the family per op).
#   2. one more boot: reload with one real server changed on a 40,000-RS
#      kernel table:
#      (a) library: dump + plan + apply (ipvs/examples/reload_bench);
#      (b) daemon: SIGHUP until the kernel shows the change, ours vs keepalived.
# Usage: [ROUNDS=3] [RESTORE=1] [PARTS="cold reload"] [OURS=binary] benches/ipvs.sh [N_VS] [M_RS]
#        (root; boots the VM from tests/vm)
set -euo pipefail
cd "$(dirname "$0")/.."

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

if [ "${KAVM_VM:-}" != 1 ]; then
	n="${1:-1000}"; m="${2:-10}"
	rounds="${ROUNDS:-3}"; parts="${PARTS:-cold reload}"
	whos="${WHOS:-theirs ours}"; [ -n "${RESTORE:-}" ] && whos="$whos restore"
	cargo build --release -q --bin keepalived
	cargo build --release -q -p keepalived-ipvs --example reload_bench --example cold_start
	cargo build --release -q -p keepalived-parser --example gen_config
	out=$(mktemp -d /tmp/kars-ipvs-bench.XXXXXX)
	trap 'rm -rf "$out"' EXIT
	# Checker blocks removed: real servers are alive in both daemons.
	# CHECKERS=1 keeps a TCP_CHECK per real server in the cold-start config
	# (the parse benchmark's file): both daemons program every real server
	# before the first check fails, which takes retry 3 x 3 s.
	strip='/TCP_CHECK {/,/^        }$/d'
	if [ -n "${CHECKERS:-}" ]; then
		./target/release/examples/gen_config "$n" "$m" >"$out/cold.conf"
	else
		./target/release/examples/gen_config "$n" "$m" | sed "$strip" >"$out/cold.conf"
	fi
	# the same table as `ipvsadm -S` writes it (gen_config: wrr, DR, persistence 50)
	awk '/^virtual_server/ {vs = $2 ":" $3; print "-A -t " vs " -s wrr -p 50"}
		/^    real_server/ {print "-a -t " vs " -r " $2 ":" $3 " -g -w 1"}' "$out/cold.conf" >"$out/cold.restore"
	./target/release/examples/gen_config 4000 10 | sed "$strip" >"$out/big.conf"
	sed "s/^    real_server 172\.16\./    real_server 172.29./" "$out/big.conf" >"$out/big.1.conf"
	sed "s/^    real_server 172\.16\./    real_server 172.30./" "$out/big.conf" >"$out/big.2.conf"
	tests/vm/run setup >/dev/null
	ours=$(realpath "${OURS:-target/release/keepalived}")
	vm() { tests/vm/run exec --timeout 1800 --env "BENCH_TIMING=${TIMING:-}" --env "BENCH_DIR=$out" --env "BENCH_N=$n" --env "BENCH_M=$m" --env "BENCH_OURS=$ours" -- "$0" "$@"; }
	date -u "+%F %T UTC"
	if [[ " $parts " == *" cold "* ]]; then
		echo "== cold start, $n VS x $m RS ($((n * m)) real servers), one VM boot per run"
		: >"$out/cold.ours"; : >"$out/cold.theirs"; : >"$out/cold.restore-ms"
		for i in $(seq "$rounds"); do
			for who in $whos; do
				load=$(cut -d' ' -f1 /proc/loadavg)
				res=$(vm cold "$who")
				[ -n "${TIMING:-}" ] && { grep '^TIMING' <<<"$res" >&2 || true; }
				ms=$(awk '$1 == "COLD" {print $2}' <<<"$res")
				[[ "$ms" =~ ^[0-9]+$ ]] || { echo "run $i $who: failed" >&2; exit 1; }
				if [ "$who" = restore ]; then echo "$ms" >>"$out/cold.restore-ms"; else echo "$ms" >>"$out/cold.$who"; fi
				echo "run $i $who: $ms ms (host load $load)"
			done
		done
		co=$(median <"$out/cold.ours"); ct=$(median <"$out/cold.theirs")
		echo "RESULT cold median of $rounds: ours $co ms ($(tr '\n' ' ' <"$out/cold.ours")), keepalived $ct ms ($(tr '\n' ' ' <"$out/cold.theirs")), ratio $(awk -v a="$ct" -v b="$co" 'BEGIN{printf "%.1f", a/b}')x; host load $(cut -d' ' -f1-3 /proc/loadavg)"
		[ -s "$out/cold.restore-ms" ] && echo "ipvsadm-restore median $(median <"$out/cold.restore-ms") ms ($(tr '\n' ' ' <"$out/cold.restore-ms"))"
	fi
	if [[ " $parts " == *" reload "* ]]; then
		vm reload
	fi
	exit 0
fi

# ---------------------------------------------------------------- in the VM --
dir=$BENCH_DIR
ours=$BENCH_OURS
theirs=/usr/sbin/keepalived
now_ms() { echo $(($(date +%s%N) / 1000000)); }
run_dir=/tmp/kars-bench-run
mkdir -p "$run_dir"
pidfiles=(-p "$run_dir/p.pid" -c "$run_dir/c.pid" -r "$run_dir/v.pid")

stop_daemon() { # PID
	kill -TERM "$1"
	while kill -0 "$1" 2>/dev/null; do sleep 0.05; done
	ipvsadm -C
}

case "$1" in
cold)
	bin=$theirs; [ "$2" = ours ] && bin=$ours
	if [ "$2" = restore ]; then
		# exits once the table is in: nothing to stop
		set -- $("$PWD/target/release/examples/cold_start" "$BENCH_N" "$BENCH_M" 120 -- \
			sh -c "exec ipvsadm-restore <$dir/cold.restore")
		if [[ "${1:-}" =~ ^[0-9]+$ ]]; then echo "COLD $1"; else echo "COLD FAILED ($*)"; fi
		ipvsadm -C
		exit 0
	fi
	# cold_start spawns the daemon, times until the last virtual server
	# has its real servers and then checks /proc/net/ip_vs for all of them
	[ -n "${BENCH_TIMING:-}" ] && export KEEPALIVED_RS_TIMING=$run_dir/timing
	set -- $("$PWD/target/release/examples/cold_start" "$BENCH_N" "$BENCH_M" 120 -- \
		"$bin" -n -C -G -f "$dir/cold.conf" "${pidfiles[@]}")
	if [[ "${1:-}" =~ ^[0-9]+$ ]]; then echo "COLD $1"; else echo "COLD FAILED ($*)"; fi
	[ -n "${2:-}" ] && stop_daemon "$2"
	# timing marks (ns since the epoch, pid, label), relative to the spawn
	if [ -n "${BENCH_TIMING:-}" ] && [ -f "$run_dir/timing" ]; then
		awk -v t0="${3:-0}" '{t = $1; $1 = ""; printf "TIMING %6.1f ms%s\n", (t - t0) / 1e6, $0}' "$run_dir/timing"
	fi
	;;
reload)
	echo "== reload, library: 4000 VS x 10 RS kernel table, one real server changed"
	"$PWD/target/release/examples/reload_bench" 4000 10 9

	echo "== reload, daemon: SIGHUP with one real server's weight changed (4000 x 10)"
	sighup_run() { # BIN CONF
		cp "$2" "$run_dir/live.conf"
		local pid t0 t1 i times=()
		"$1" -n -C -G -f "$run_dir/live.conf" "${pidfiles[@]}" </dev/null >/dev/null 2>&1 &
		pid=$!
		until [ "$(grep -c '^  -> [0-9A-F]' /proc/net/ip_vs)" -ge 40000 ]; do sleep 0.5; done
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
	sighup_run "$theirs" "$dir/big.1.conf" >"$dir/hup.theirs"
	sighup_run "$ours" "$dir/big.2.conf" >"$dir/hup.ours"
	echo "keepalived SIGHUP->visible: $(tr '\n' ' ' <"$dir/hup.theirs")ms; ours: $(tr '\n' ' ' <"$dir/hup.ours")ms"
	ho=$(median <"$dir/hup.ours"); ht=$(median <"$dir/hup.theirs")
	echo "RESULT reload median: ours $ho ms, keepalived $ht ms, ratio $(awk -v a="$ht" -v b="$ho" 'BEGIN{printf "%.1f", a/b}')x"
	;;
*)
	echo "unknown part '$1'" >&2
	exit 2
	;;
esac
