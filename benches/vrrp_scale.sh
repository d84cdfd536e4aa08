#!/usr/bin/env bash
# 1,000 VRRP instances (VRRPv2, advert_int 1, all MASTER): CPU use of the
# VRRP process and advert-interval jitter from packet timestamps, ours vs
# Debian's keepalived in the same run.
# VRIDs are 1..255 per link, so the 1,000 instances are 4 x 250 on four veth
# links from one router namespace to one sink namespace, where tcpdump
# timestamps every advert. Jitter = |interval between consecutive adverts of
# one instance - 1 s|.
# The window includes the delayed GARP burst (garp_master_delay 5 s: 5,000
# ARPs on the links at once); GARP_DELAY=0 measures the steady state only.
# Usage: [GARP_DELAY=N] benches/vrrp_scale.sh [SECONDS]   (root; needs tcpdump)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
links=4; per=250
ours="$PWD/target/release/keepalived"
[ -x "$ours" ] || cargo build --release -q --bin keepalived
dir="$(mktemp -d /tmp/kv-scale-XXXXXX)"
R=kv-bs-r; S=kv-bs-s
cleanup() {
    for p in $(cat "$dir"/run.pids 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del $R 2>/dev/null || true; ip netns del $S 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
cleanup 2>/dev/null; mkdir -p "$dir"
ip netns add $R; ip netns add $S
for l in $(seq 0 $((links-1))); do
    ip link add kv-e$l netns $R type veth peer kv-e$l netns $S
    ip -n $R addr add 10.251.$l.1/24 dev kv-e$l
    ip -n $R link set kv-e$l up; ip -n $S link set kv-e$l up
done
ip -n $R link set lo up
sleep 1
{
    [ -n "${GARP_DELAY:-}" ] && echo "global_defs { vrrp_garp_master_delay $GARP_DELAY }"
    for l in $(seq 0 $((links-1))); do
        for v in $(seq 1 $per); do
            cat <<C
vrrp_instance VI_${l}_$v {
  state BACKUP
  interface kv-e$l
  virtual_router_id $v
  priority 200
  advert_int 1
  virtual_ipaddress { 10.251.$l.$((v+1))/32 }
}
C
        done
    done
} > "$dir/scale.conf"

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

printf "%-10s %9s %8s %10s %10s %10s %8s %6s\n" impl instances cpu_pct jit_p50_ms jit_p99_ms jit_max_ms adverts drops
for impl in ours keepalived; do
    rm -f "$dir"/kv-*.pid "$dir/run.pids"
    bin=$ours; [ "$impl" = keepalived ] && bin="timeout $((secs+60)) /usr/sbin/keepalived"
    ip netns exec $R $bin -n -l -P -f "$dir/scale.conf" -p "$dir/kv-p.pid" -r "$dir/kv-r.pid" >"$dir/$impl.log" 2>&1 &
    echo $! >> "$dir/run.pids"
    for _ in $(seq 200); do [ -s "$dir/kv-r.pid" ] && break; sleep 0.05; done
    vpid=$(cat "$dir/kv-r.pid")
    # all instances MASTER: Master_Down_Interval is 3.2 s
    for _ in $(seq 300); do
        [ "$(ip -n $R -4 addr show | grep -c '/32 scope')" -ge $((links*per)) ] && break; sleep 0.1
    done
    sleep 2
    tcpds=()
    for l in $(seq 0 $((links-1))); do
        ip netns exec $S tcpdump -B 16384 -U -i kv-e$l -n -w "$dir/cap$l.pcap" 'ip proto 112' 2>"$dir/tcpdump$l.err" &
        tcpds+=($!)
    done
    sleep 1
    t0=$(cpu_ticks "$vpid"); s0=$(date +%s.%N)
    sleep "$secs"
    t1=$(cpu_ticks "$vpid"); s1=$(date +%s.%N)
    kill -INT "${tcpds[@]}"; wait "${tcpds[@]}" 2>/dev/null || true
    drops=$(cat "$dir"/tcpdump*.err | awk '/dropped by kernel/{s+=$1} END{print s+0}')
    kill -TERM "$(cat "$dir/run.pids")" 2>/dev/null || true
    wait 2>/dev/null || true
    hz=$(getconf CLK_TCK)
    cpu=$(awk -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$hz" 'BEGIN{printf "%.2f", (b-a)/hz/(e-s)*100}')
    for l in $(seq 0 $((links-1))); do tcpdump -r "$dir/cap$l.pcap" -n -tt 2>/dev/null; done | awk '
        /VRRPv2, Advertisement/ {
            for (i=1;i<=NF;i++) { if ($i=="IP") src=$(i+1); if ($i=="vrid") vrid=$(i+1) }
            k=src "/" vrid
            if (k in last) { d=$1-last[k]-1.0; if (d<0) d=-d; print d*1000 }
            last[k]=$1
        }' | sort -g > "$dir/jit.txt"
    n=$(wc -l < "$dir/jit.txt")
    p50=$(awk -v n="$n" 'NR==int(n*0.50)+1{print; exit}' "$dir/jit.txt")
    p99=$(awk -v n="$n" 'NR==int(n*0.99)+1{print; exit}' "$dir/jit.txt")
    mx=$(tail -1 "$dir/jit.txt")
    printf "%-10s %9d %8s %10.3f %10.3f %10.3f %8d %6d\n" "$impl" $((links*per)) "$cpu" "$p50" "$p99" "$mx" "$n" "$drops"
done
