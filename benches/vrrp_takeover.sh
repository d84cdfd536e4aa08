#!/usr/bin/env bash
# VRRP takeover timing from packet timestamps, ours vs Debian's keepalived in
# the same run. Two namespaces on a veth pair: master (priority 150) and
# backup (priority 100), same implementation on both sides. tcpdump in the
# backup's namespace timestamps every advert.
#   hung:     SIGSTOP the master's VRRP process; measure the master's last
#             advert -> the backup's first advert, minus Master_Down_Interval.
#   graceful: SIGTERM the master; measure its priority-0 advert -> the
#             backup's first advert, minus Skew_Time.
# Reported: median and max overshoot (ms) per implementation/version/mode.
# Usage: benches/vrrp_takeover.sh [ITERATIONS]   (root; needs tcpdump)
set -euo pipefail
cd "$(dirname "$0")/.."
iters="${1:-5}"
ours="$PWD/target/release/keepalived"
[ -x "$ours" ] || cargo build --release -q --bin keepalived
dir="$(mktemp -d /tmp/kv-bench-XXXXXX)"
A=kv-bt-a; B=kv-bt-b
cleanup() {
    for p in $(cat "$dir"/*.pids 2>/dev/null); do kill -CONT "$p" 2>/dev/null || true; kill -KILL "$p" 2>/dev/null || true; done
    ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
cleanup 2>/dev/null; mkdir -p "$dir"
ip netns add $A; ip netns add $B
ip link add kv-e0 netns $A type veth peer kv-e0 netns $B
for n in $A $B; do ip -n $n link set lo up; ip -n $n link set kv-e0 up; done
ip -n $A addr add 10.250.0.1/24 dev kv-e0; ip -n $B addr add 10.250.0.2/24 dev kv-e0
sleep 1

conf() { # prio version advert
    cat <<C
global_defs { vrrp_version $2 }
vrrp_instance VI_1 {
  state BACKUP
  interface kv-e0
  virtual_router_id 77
  priority $1
  advert_int $3
  virtual_ipaddress { 10.250.0.100/24 }
}
C
}

start() { # ns impl conf tag
    local bin=$ours
    [ "$2" = keepalived ] && bin="timeout 120 /usr/sbin/keepalived"
    ip netns exec "$1" $bin -n -l -P -f "$3" -p "$dir/kv-$4.pid" -r "$dir/kv-$4-vrrp.pid" >"$dir/$4.log" 2>&1 &
    echo $! >> "$dir/run.pids"
    for _ in $(seq 100); do [ -s "$dir/kv-$4-vrrp.pid" ] && break; sleep 0.05; done
}

has_vip() { ip -n "$1" addr show kv-e0 | grep -q 10.250.0.100/; }

# one_run impl version advert mode -> prints "delta_seconds"
one_run() {
    local impl=$1 ver=$2 adv=$3 mode=$4
    rm -f "$dir"/kv-* "$dir"/*.log "$dir/run.pids"
    conf 150 "$ver" "$adv" > "$dir/m.conf"; conf 100 "$ver" "$adv" > "$dir/b.conf"
    start $A "$impl" "$dir/m.conf" m
    start $B "$impl" "$dir/b.conf" b
    for _ in $(seq 200); do has_vip $A && break; sleep 0.05; done
    sleep "$(awk -v a="$adv" 'BEGIN{print 4*a+0.5}')"
    ip netns exec $B tcpdump --immediate-mode -U -i kv-e0 -n -w "$dir/cap.pcap" 'ip proto 112' 2>/dev/null &
    local tcpd=$!; sleep 0.5
    local mpid; mpid=$(cat "$dir/kv-m-vrrp.pid")
    if [ "$mode" = hung ]; then kill -STOP "$mpid"; else kill -TERM "$(head -1 "$dir/run.pids")"; fi
    for _ in $(seq 400); do has_vip $B && break; sleep 0.02; done
    sleep 0.3
    kill -INT $tcpd; wait $tcpd 2>/dev/null || true
    kill -CONT "$mpid" 2>/dev/null || true
    for p in $(cat "$dir/run.pids"); do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    tcpdump -r "$dir/cap.pcap" -n -tt 2>/dev/null | awk -v mode="$mode" '
        / 10\.250\.0\.1 > / && /prio 150,/ { if (!done) last=$1 }
        / 10\.250\.0\.1 > / && /prio 0,/ { if (!done) zero=$1 }
        / 10\.250\.0\.2 > / && !done { first=$1; done=1 }
        END {
            # A run whose capture lacks one of the two packets is invalid.
            if (!first || (mode=="hung" && !last) || (mode!="hung" && !zero)) print "invalid"
            else if (mode=="hung") printf "%.6f\n", first-last; else printf "%.6f\n", first-zero }'
}

# keepalived's timers (vrrp.h): skew = (256 - prio) * interval / 256 for
# the backup's priority 100; Master_Down_Interval = 3 * interval + skew.
expected() { # version advert mode
    awk -v v="$1" -v a="$2" -v m="$3" 'BEGIN{
        if (v==2) skew=(256-100)*1.0/256; else skew=(256-100)*a/256;
        if (m=="hung") print 3*a+skew; else print skew }'
}

printf "%-10s %-3s %-6s %-9s %12s %12s %12s\n" impl ver advert mode expected_s median_over_ms max_over_ms
for spec in "2 1" "3 0.1"; do
    set -- $spec; ver=$1; adv=$2
    for mode in hung graceful; do
        for impl in ours keepalived; do
            exp=$(expected "$ver" "$adv" "$mode")
            overs=(); bad=0
            for _ in $(seq "$iters"); do
                d=$(one_run "$impl" "$ver" "$adv" "$mode")
                if [ "$d" = invalid ]; then bad=$((bad+1)); continue; fi
                overs+=("$(awk -v d="$d" -v e="$exp" 'BEGIN{printf "%.3f", (d-e)*1000}')")
            done
            sorted=$(printf "%s\n" "${overs[@]}" | sort -g)
            med=$(echo "$sorted" | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }')
            max=$(echo "$sorted" | tail -1)
            printf "%-10s %-3s %-6s %-9s %12.6f %12s %12s   [%s] invalid=%d\n" "$impl" "$ver" "$adv" "$mode" "$exp" "$med" "$max" "${overs[*]}" "$bad"
        done
    done
done
