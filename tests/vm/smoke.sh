#!/bin/bash
# Smoke test of the VM tier; runs INSIDE the VM:
#   tests/vm/run smoke     (= tests/vm/run exec -- tests/vm/smoke.sh)
# Checks that IPVS works with ipvsadm, that every scheduler module the
# kernel ships is loaded, and that Debian's keepalived programs IPVS.
set -euo pipefail

pass=0 fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
check() { # check NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		bad "$1"
		echo "  expected: $(printf '%s' "$2" | sed 's/$/⏎/' | tr '\n' ' ')"
		echo "  actual:   $(printf '%s' "$3" | sed 's/$/⏎/' | tr '\n' ' ')"
	fi
}

[ "${KAVM_VM:-}" = 1 ] || { echo "smoke.sh runs inside the VM: use tests/vm/run smoke" >&2; exit 2; }
echo "kernel $(uname -r)"

# --- 1. a wrr service with one direct-routing destination -------------------
ipvsadm -C
ipvsadm -A -t 192.0.2.1:80 -s wrr &&
	ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10:80 -g -w 3
check "ipvsadm -Sn after add service + dest" \
	"-A -t 192.0.2.1:80 -s wrr
-a -t 192.0.2.1:80 -r 192.0.2.10:80 -g -w 3" "$(ipvsadm -Sn)"
check "/proc/net/ip_vs lists the service" \
	"TCP C0000201:0050 wrr
 -> C000020A:0050 Route 3 0 0" \
	"$(tail -n +4 /proc/net/ip_vs | tr -s ' ' | sed 's/ $//')"
ipvsadm -C
check "ipvsadm -C empties the table" "" "$(ipvsadm -Sn)"

# --- 2. every scheduler ----------------------------------------------------------
# The 6.1 kernel ships these; twos (two random choices) only exists from 6.7.
expected="rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh"
moddir=/lib/modules/$(uname -r)/kernel/net/netfilter/ipvs
shipped=$(cd "$moddir" && ls ip_vs_*.ko | sed 's/^ip_vs_//; s/\.ko$//' | grep -vx 'ftp\|pe_sip' | sort | tr '\n' ' ')
for s in $expected; do
	[ -f "$moddir/ip_vs_$s.ko" ] || bad "scheduler module ip_vs_$s.ko missing from $moddir"
done
[ -f "$moddir/ip_vs_twos.ko" ] || echo "note: no ip_vs_twos.ko in $(uname -r) (added in Linux 6.7)"
for s in $shipped; do
	if ! grep -q "^ip_vs_$s " /proc/modules; then
		bad "module ip_vs_$s not loaded at boot"
		continue
	fi
	if ipvsadm -A -t 192.0.2.1:81 -s "$s"; then
		check "scheduler $s" "-A -t 192.0.2.1:81 -s $s" "$(ipvsadm -Sn)"
	else
		bad "scheduler $s: ipvsadm -A failed"
	fi
	ipvsadm -D -t 192.0.2.1:81 2>/dev/null || true
done
for m in ip_vs_pe_sip ip_vs_ftp nlmon; do
	if grep -q "^$m " /proc/modules; then ok "module $m loaded"; else bad "module $m not loaded"; fi
done
# modprobe works inside (module tree bind-mounted at /lib/modules/$(uname -r)),
# and so does the kernel's own module auto-loading (rtnl-link-vxlan here).
if modprobe ipip && grep -q '^ipip ' /proc/modules; then ok "modprobe works in the guest"; else bad "modprobe ipip"; fi
if ip link add kavmvx type vxlan id 42 dstport 4789 dev lo && grep -q '^vxlan ' /proc/modules; then
	ok "kernel module auto-loading works"
	ip link del kavmvx
else
	bad "module auto-loading (ip link add type vxlan)"
fi

# --- 3. keepalived (Debian's, from the host root) programs IPVS ----------------
dir=$(mktemp -d /tmp/ka-smoke.XXXXXX)
cat >"$dir/keepalived.conf" <<'EOF'
global_defs {
    router_id kavm_smoke
}
virtual_server 192.0.2.2 80 {
    delay_loop 60
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    persistence_timeout 30
    real_server 192.0.2.20 8080 {
        weight 2
    }
    real_server 192.0.2.21 8080 {
        weight 5
    }
}
EOF
if keepalived -t -f "$dir/keepalived.conf" >"$dir/check.log" 2>&1; then
	ok "keepalived -t accepts the config"
else
	bad "keepalived -t: $(cat "$dir/check.log")"
fi
keepalived -n -l -D -f "$dir/keepalived.conf" -p "$dir/ka.pid" -c "$dir/checkers.pid" -r "$dir/vrrp.pid" \
	>"$dir/ka.log" 2>&1 &
ka=$!
want="-A -t 192.0.2.2:80 -s wlc -p 30
-a -t 192.0.2.2:80 -r 192.0.2.20:8080 -m -w 2
-a -t 192.0.2.2:80 -r 192.0.2.21:8080 -m -w 5"
got=
for _ in $(seq 1 100); do
	got=$(ipvsadm -Sn)
	[ "$got" = "$want" ] && break
	kill -0 "$ka" 2>/dev/null || break
	sleep 0.2
done
check "keepalived programmed IPVS" "$want" "$got"
kill -TERM "$ka" 2>/dev/null || true
kastatus=0
wait "$ka" || kastatus=$?
check "keepalived exited cleanly on SIGTERM" 0 "$kastatus"
check "keepalived removed its services on exit" "" "$(ipvsadm -Sn)"
if [ "$fail" != 0 ]; then
	echo "--- keepalived log:"
	cat "$dir/ka.log"
fi

echo "smoke: $pass passed, $fail failed"
[ "$fail" = 0 ]
