#!/bin/bash
# Capture the generic-netlink traffic of ipvsadm commands; runs INSIDE the VM:
#   tests/vm/run capture      (boots, runs this, copies /vmout/captures to
#                              tests/vm/captures/)
#
# One tcpdump runs on an nlmon device for the whole list. Before each command
# we set the alias of lo to "kavm-cap-NNN" (an rtnetlink request, captured
# too), which marks where command NNN starts in the capture. Afterwards the
# pcap is split and written to /vmout/captures/NNN.txt:
#
#   # cmd: <the command line>
#   # exit: <its exit code>
#   # out: <its stdout+stderr, one line each>
#   # ipvs-family: <generic netlink family id of IPVS in this boot>
#   req <hex>      a request sent by ipvsadm (NLM_F_REQUEST set)
#   rep <hex>      a kernel message answering one of those requests (same
#                  nlmsg_seq and nlmsg_pid): dump parts, NLMSG_DONE, ACK/error
#
# Each hex string is exactly one netlink message, from the nlmsghdr to
# nlmsg_len (padding to 4 bytes not included). Stripped: the 16-byte
# "Linux netlink cooked header" (DLT_NETLINK, as libpcap writes it for nlmon:
# pkttype u16 BE, ARPHRD_NETLINK=824 u16 BE, addr len u16, 8 bytes addr,
# netlink protocol u16 BE), and skbs carrying several messages are split.
# Kept out: the nlctrl traffic (CTRL_CMD_GETFAMILY "IPVS") libnl does first,
# and non-generic netlink. nlmsg_seq/nlmsg_pid differ from run to run.
set -euo pipefail

[ "${KAVM_VM:-}" = 1 ] || { echo "capture-nlmon.sh runs inside the VM: use tests/vm/run capture" >&2; exit 2; }
DEST=${CAPTURE_OUT:-/vmout/captures}
work=$(mktemp -d /tmp/capture.XXXXXX)
# Build everything in guest memory, copy to the 9p share once at the end
# (many small writes over 9p are slow).
OUT=$work/captures
mkdir -p "$OUT"

ipvsadm -C
ip link add nlmon0 type nlmon
ip link set nlmon0 up
# a multicast-capable interface for the sync daemon
ip link add dummy0 type dummy
ip link set dummy0 multicast on up
ip addr add 198.51.100.1/24 dev dummy0
ip addr add 2001:db8:100::1/64 dev dummy0 nodad

SCHEDS="rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh"
[ -f "/lib/modules/$(uname -r)/kernel/net/netfilter/ipvs/ip_vs_twos.ko" ] && SCHEDS="$SCHEDS twos"

CMDS=(
	# flush, then services of every kind
	"ipvsadm -C"
	"ipvsadm -A -t 192.0.2.1:80 -s rr"
	"ipvsadm -A -u 192.0.2.1:53 -s wrr"
	"ipvsadm -A --sctp-service 192.0.2.1:5060 -s lc"
	"ipvsadm -A -f 1 -s wlc"
	"ipvsadm -A -f 2 -6 -s rr"
	"ipvsadm -A -t [2001:db8::1]:80 -s sh"
	"ipvsadm -A -u [2001:db8::1]:53 -s wlc"
)
port=10001
for s in $SCHEDS; do
	CMDS+=("ipvsadm -A -t 192.0.2.2:$port -s $s")
	port=$((port + 1))
done
CMDS+=(
	# persistence, persistence engine, scheduler flags, one-packet
	"ipvsadm -A -t 192.0.2.3:80 -s rr -p 300 -M 255.255.255.0"
	"ipvsadm -A -t 192.0.2.3:0 -s rr -p"
	"ipvsadm -A -t [2001:db8::3]:80 -s rr -p 60 -M 64"
	"ipvsadm -A -u 192.0.2.4:5060 -s rr -p 120 --pe sip"
	"ipvsadm -A -t 192.0.2.5:80 -s sh -b sh-fallback,sh-port"
	"ipvsadm -A -t 192.0.2.6:80 -s mh -b mh-fallback,mh-port"
	"ipvsadm -A -t 192.0.2.7:80 -s wrr -b flag-1,flag-2,flag-3"
	"ipvsadm -A -u 192.0.2.8:53 -s rr -o"
	# errors
	"ipvsadm -A -t 192.0.2.1:80 -s rr"
	"ipvsadm -A -t 192.0.2.9:80 -s nosuchsched"
	# destinations: every forwarding method, tunnel options, thresholds
	"ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10:80 -g -w 1"
	"ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.11:8080 -m -w 2"
	"ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.12 -i -w 3"
	"ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.13 -i --tun-type gue --tun-port 6080 --tun-csum"
	"ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.14 -i --tun-type gue --tun-port 6081 --tun-remcsum"
	"ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.15 -i --tun-type gre --tun-csum"
	"ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.16:80 -m -w 4 -x 100 -y 10"
	"ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.17:80 -g -w 0"
	"ipvsadm -a -u 192.0.2.1:53 -r 192.0.2.21:53 -m -w 5"
	"ipvsadm -a --sctp-service 192.0.2.1:5060 -r 192.0.2.22:5060 -m"
	"ipvsadm -a -f 1 -r 192.0.2.20 -g"
	"ipvsadm -a -f 2 -6 -r 2001:db8::20 -g"
	"ipvsadm -a -t [2001:db8::1]:80 -r [2001:db8::10]:80 -m -w 1"
	"ipvsadm -a -t [2001:db8::1]:80 -r [2001:db8::11]:80 -i --tun-type gre"
	"ipvsadm -a -t 192.0.2.3:80 -r 192.0.2.30:80 -g"
	"ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10:80 -g -w 1"
	"ipvsadm -a -t 192.0.2.99:80 -r 192.0.2.10:80 -g"
	# edit
	"ipvsadm -E -t 192.0.2.1:80 -s wlc -p 60"
	"ipvsadm -E -t 192.0.2.1:80 -s wrr"
	"ipvsadm -e -t 192.0.2.1:80 -r 192.0.2.11:8080 -m -w 7 -x 50 -y 5"
	"ipvsadm -e -t 192.0.2.1:80 -r 192.0.2.13 -i --tun-type gue --tun-port 7000 --tun-nocsum"
	"ipvsadm -e -u 192.0.2.1:53 -r 192.0.2.21:53 -g -w 1"
	# dumps
	"ipvsadm -Ln"
	"ipvsadm -Sn"
	"ipvsadm -Ln -t 192.0.2.1:80"
	"ipvsadm -Ln -f 2 -6"
	"ipvsadm -Ln --stats --exact"
	"ipvsadm -Ln --rate"
	"ipvsadm -Ln --thresholds"
	"ipvsadm -Ln --persistent-conn"
	"ipvsadm -Ln --tun-info"
	"ipvsadm -Z"
	"ipvsadm -Z -t 192.0.2.1:80"
	# timeouts
	"ipvsadm -L --timeout"
	"ipvsadm --set 900 120 300"
	"ipvsadm --set 0 0 60"
	"ipvsadm -L --timeout"
	# sync daemons
	"ipvsadm --start-daemon master --mcast-interface dummy0"
	"ipvsadm --start-daemon backup --mcast-interface dummy0 --syncid 7 --sync-maxlen 1400 --mcast-group 224.0.0.82 --mcast-port 8849 --mcast-ttl 2"
	"ipvsadm -L --daemon"
	"ipvsadm --start-daemon master --mcast-interface dummy0"
	"ipvsadm --stop-daemon master"
	"ipvsadm --stop-daemon backup"
	"ipvsadm --start-daemon master --mcast-interface dummy0 --syncid 9 --mcast-group ff02::8:81 --mcast-port 8850 --mcast-ttl 3"
	"ipvsadm -L --daemon"
	"ipvsadm --stop-daemon master"
	"ipvsadm -L --daemon"
	# deletes
	"ipvsadm -d -t 192.0.2.1:80 -r 192.0.2.12"
	"ipvsadm -d -t [2001:db8::1]:80 -r [2001:db8::10]:80"
	"ipvsadm -d -t 192.0.2.1:80 -r 192.0.2.250"
	"ipvsadm -D -t 192.0.2.1:80"
	"ipvsadm -D -f 2 -6"
	"ipvsadm -D -u 192.0.2.250:53"
	"ipvsadm -C"
	"ipvsadm -Ln"
)

# Start one capture for everything.
tcpdump -i nlmon0 --immediate-mode -U -B 32768 -s 262144 -w "$work/nl.pcap" 2>"$work/tcpdump.err" &
td=$!
for _ in $(seq 1 100); do
	grep -q listening "$work/tcpdump.err" 2>/dev/null && break
	sleep 0.1
done
grep -q listening "$work/tcpdump.err" || { cat "$work/tcpdump.err" >&2; echo "tcpdump did not start" >&2; exit 1; }

t0=$(date +%s.%N)
n=0
for c in "${CMDS[@]}"; do
	n=$((n + 1))
	id=$(printf '%03d' "$n")
	ip link set dev lo alias "kavm-cap-$id"
	rc=0
	out=$(eval "$c" 2>&1) || rc=$?
	{
		echo "# cmd: $c"
		echo "# exit: $rc"
		if [ -n "$out" ]; then
			while IFS= read -r line; do echo "# out: $line"; done <<<"$out"
		fi
	} >"$OUT/$id.txt"
	echo "$id rc=$rc $c"
done
ip link set dev lo alias "kavm-cap-end"
sleep 0.5
kill -INT "$td"
wait "$td" || true
cat "$work/tcpdump.err"
captured=$(sed -n 's/^\([0-9]*\) packets\{0,1\} captured$/\1/p' "$work/tcpdump.err")
received=$(sed -n 's/^\([0-9]*\) packets\{0,1\} received by filter$/\1/p' "$work/tcpdump.err")
dropped=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel$/\1/p' "$work/tcpdump.err")
if [ -z "$captured" ] || [ "$captured" != "$received" ] || [ "$dropped" != 0 ]; then
	echo "tcpdump lost packets (captured=$captured received=$received dropped=$dropped)" >&2
	exit 1
fi

t1=$(date +%s.%N)
[ -d /vmout ] && cp "$work/nl.pcap" /vmout/nl.pcap   # for debugging the split
# Split the capture: parse the pcap file itself (od prints its bytes as hex,
# 16 a line). pcap: 24-byte file header (magic, ..., linktype u32 at 20 which
# must be 253 = DLT_NETLINK), then per packet a 16-byte record header
# (ts_sec, ts_usec, incl_len, orig_len; host byte order = little endian here)
# and incl_len bytes: the 16-byte cooked header, then netlink message(s).
od -An -v -tx1 "$work/nl.pcap" | awk -v out="$OUT" -v ncmds="$n" '
BEGIN {
	for (i = 0; i < 256; i++) H[sprintf("%02x", i)] = i
	state = "file"; got = 0
}
# little-endian u16/u32 at byte offset off of hex string h
function le16(h, off) { return H[substr(h, off * 2 + 3, 2)] * 256 + H[substr(h, off * 2 + 1, 2)] }
function le32(h, off) { return le16(h, off + 2) * 65536 + le16(h, off) }
function unhex(h,   i, s) {
	s = ""
	for (i = 1; i < length(h); i += 2) s = s sprintf("%c", H[substr(h, i, 2)])
	return s
}
function ctrl_reply(m,   off, alen, atype, name, id) {
	# CTRL_CMD_NEWFAMILY: attrs after nlmsghdr(16) + genlmsghdr(4)
	off = 20; name = ""; id = -1
	while (off + 4 <= le32(m, 0)) {
		alen = le16(m, off); atype = le16(m, off + 2) % 16384
		if (alen < 4) break
		if (atype == 1) id = le16(m, off + 4)
		if (atype == 2) name = substr(m, (off + 4) * 2 + 1, (alen - 4) * 2)
		off += int((alen + 3) / 4) * 4
	}
	if (name == "4950565300" && id >= 0) {   # "IPVS\0"
		if (ipvs_id != "" && ipvs_id != id) { print "IPVS family id changed" > "/dev/stderr"; bad++ }
		ipvs_id = id
	}
}
function message(m,   type, flags, key) {
	type = le16(m, 4); flags = le16(m, 6)
	key = le32(m, 8) ":" le32(m, 12)          # nlmsg_seq:nlmsg_pid
	if (flags % 2 == 1) owner[key] = type      # NLM_F_REQUEST: remember its family
	if (type == 16) { if (flags % 2 == 0) ctrl_reply(m); return }   # nlctrl
	if (section == "") return
	if (flags % 2 == 1) {
		if (type != ipvs_id) { print section ": request of unknown family " type > "/dev/stderr"; bad++; return }
		if (!(section in nreq)) print "# ipvs-family: " ipvs_id >> file
		nreq[section]++
		print "req " m >> file
	} else if (owner[key] == ipvs_id) {        # answers an IPVS request (not nlctrl)
		print "rep " m >> file
	}
}
function packet(p,   proto, data, i, tag, len) {
	proto = H[substr(p, 29, 2)] * 256 + H[substr(p, 31, 2)]   # cooked header bytes 14-15, BE
	data = substr(p, 33)
	nproto[proto]++
	if (proto == 0) {   # rtnetlink: our section marker? ("kavm-cap-")
		i = index(data, "6b61766d2d6361702d")
		if (i > 0) {
			tag = unhex(substr(data, i + 18, 6))
			if (file != "") close(file)
			split("", owner)   # seq:pid pairs get reused across processes
			if (tag ~ /^[0-9][0-9][0-9]$/) {
				if (tag != section) { sections++; all[tag] = 1 }
				section = tag; file = out "/" tag ".txt"
			} else { section = ""; file = "" }
		}
		return
	}
	if (proto != 16) return   # NETLINK_GENERIC only
	while (length(data) >= 32) {
		len = le32(data, 0)
		if (len < 16 || len * 2 > length(data)) { print "bad nlmsg_len " len > "/dev/stderr"; bad++; break }
		message(substr(data, 1, len * 2))
		data = substr(data, int((len + 3) / 4) * 8 + 1)
	}
}
{
	for (f = 1; f <= NF; f++) {
		b = $f
		if (state == "file") {
			fh = fh b
			if (++got == 24) {
				if (substr(fh, 1, 8) != "d4c3b2a1" || le32(fh, 20) != 253) {
					print "not a little-endian DLT_NETLINK pcap: " fh > "/dev/stderr"; bad = 1; exit 1
				}
				state = "rec"; got = 0; rh = ""
			}
		} else if (state == "rec") {
			rh = rh b
			if (++got == 16) {
				need = le32(rh, 8); got = 0; rh = ""; cur = ""
				if (need > 0) state = "data"
			}
		} else {
			cur = cur b
			if (--need == 0) { packet(cur); npkt++; state = "rec" }
		}
	}
}
END {
	if (bad) exit 1
	if (state != "rec" || got != 0) { print "truncated pcap" > "/dev/stderr"; exit 1 }
	if (file != "") close(file)
	for (tag in all) if (!(tag in nreq)) { print tag ": no IPVS request captured" > "/dev/stderr"; bad++ }
	if (sections != ncmds) { print "found " sections " section markers, expected " ncmds > "/dev/stderr"; bad++ }
	printf "%d packets split into %d sections, IPVS family id %s; packets per netlink protocol:", npkt, sections, ipvs_id
	for (i in nproto) printf " %d:%d", i, nproto[i]
	printf "\n"
	if (bad) exit 1
}'

rm -rf "$DEST"
mkdir -p "$DEST"
cp "$OUT"/*.txt "$DEST"/
t2=$(date +%s.%N)
echo "captures: $n files in $DEST" \
	"(commands $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s," \
	"splitting $(awk -v a="$t1" -v b="$t2" 'BEGIN{printf "%.1f", b-a}')s)"
rm -rf "$work"
