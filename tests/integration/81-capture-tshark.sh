#!/bin/bash
# Proves `uml-nf capture` records a running device's frames for tshark: pings show up in the pcap in both directions (requests rx, replies tx) with their ICMP content, a filter keeps only what it matches even under a TCP flood (nothing missed), -c stops after N frames, -i picks one direction, without -w one line per frame, and bad input is refused in one line.
# How: lab boot; capture vec0 -w while pinging, tshark -r counts echo requests/replies and their addresses; capture 'icmp' during iperf3 + pings; -c 4; -i tx; text mode; stats shows the capture attached; pcapng, bad filter, bad device, unknown umid refused; SIGTERM exit 0.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf81 umlnf
UMLNF=$(readlink -f "$UMLNF")
command -v tshark >/dev/null || skip_test "tshark not installed (make deps)"
TSHARK=(timeout 60 tshark -n)

# cap NAME ARGS...: uml-nf capture in the background, stderr in NAME.err;
# returns once the capture is attached (its line in the appliance log).
cap() {
	local name=$1 before i
	shift
	before=$(grep -ac 'capture attached' "$LAB_DIR/appliance.log")
	timeout 60 "$UMLNF" capture "$LAB_UMID" "$@" >"$LAB_DIR/$name.out" 2>"$LAB_DIR/$name.err" &
	cpid=$!
	_lab_track "$cpid"
	for i in $(seq 50); do
		[ "$(grep -ac 'capture attached' "$LAB_DIR/appliance.log")" -gt "$before" ] && return 0
		_lab_running "$cpid" || break
		sleep 0.1
	done
	cat "$LAB_DIR/$name.err" >&2
	die "capture $name did not attach"
}
# stop_cap: SIGINT the capture and wait for it; its status in crc.
stop_cap() {
	kill -INT "$cpid" 2>/dev/null
	wait "$cpid"
	crc=$?
}
tsfield() { "${TSHARK[@]}" -r "$1" -T fields -e "$2" ${3:+-Y "$3"} 2>/dev/null; }

step "create lab, boot uml-nf"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
lab_start_umlnf "$UMLNF" "$IMAGE" || die "start"
lab_wait_ready 60 || die "not ready"
lab_ping client "$LAB_SERVER_ADDR" 1 >/dev/null || die "first ping"

step "capture vec0 to a pcap while 5 pings cross; tshark reads it"
cap all vec0 -w "$LAB_DIR/all.pcap"
timeout 5 "$UMLNF" stats "$LAB_UMID" | grep -q "^vec0 .*capture attached" ||
	die "stats does not show the capture attached"
lab_ping client "$LAB_SERVER_ADDR" 5 >/dev/null || die "ping during capture"
sleep 0.3
stop_cap
[ "$crc" -eq 0 ] || die "capture exited $crc: $(cat "$LAB_DIR/all.err")"
sed 's/^/    /' "$LAB_DIR/all.err"
grep -q "^uml-nf capture: vec0: [0-9]* frames captured (rx [0-9]*, tx [0-9]*), 0 missed" "$LAB_DIR/all.err" ||
	die "no summary line"
"${TSHARK[@]}" -r "$LAB_DIR/all.pcap" >"$LAB_DIR/all.txt" 2>&1 || die "tshark cannot read the pcap: $(head -3 "$LAB_DIR/all.txt")"
req=$(tsfield "$LAB_DIR/all.pcap" ip.src "icmp.type == 8" | grep -c "^$LAB_CLIENT_ADDR$")
rep=$(tsfield "$LAB_DIR/all.pcap" ip.src "icmp.type == 0" | grep -c "^$LAB_SERVER_ADDR$")
echo "    tshark: $req echo requests from $LAB_CLIENT_ADDR, $rep echo replies from $LAB_SERVER_ADDR"
[ "$req" -ge 5 ] && [ "$rep" -ge 5 ] || die "want >= 5 requests and replies in the pcap"
grep -m1 'Echo (ping) request' "$LAB_DIR/all.txt" | sed 's/^/    /'
# Frame lengths as the wire had them: 98-byte echo frames.
tsfield "$LAB_DIR/all.pcap" frame.len "icmp" | grep -qvx 98 && die "ICMP frames of another length than 98"

step "filter 'icmp' during an iperf3 flood: only ICMP, none missed"
cap flt vec0 -w "$LAB_DIR/icmp.pcap" icmp
(lab_iperf 3 >"$LAB_DIR/gbps.txt") &
ip3=$!
_lab_track "$ip3"
sleep 0.5
lab_ping client "$LAB_SERVER_ADDR" 5 >/dev/null || die "ping under iperf3"
wait "$ip3" || die "iperf3 during the capture"
stop_cap
[ "$crc" -eq 0 ] || die "filtered capture exited $crc"
sed 's/^/    /' "$LAB_DIR/flt.err"
grep -q " 0 missed" "$LAB_DIR/flt.err" || die "a filtered capture missed frames"
total=$(tsfield "$LAB_DIR/icmp.pcap" frame.number | wc -l)
icmp=$(tsfield "$LAB_DIR/icmp.pcap" frame.number icmp | wc -l)
echo "    $(cat "$LAB_DIR/gbps.txt") Gbit/s TCP meanwhile; pcap: $total frames, $icmp ICMP"
[ "$total" -ge 10 ] && [ "$total" = "$icmp" ] || die "filtered pcap: $total frames, $icmp ICMP"

step "-c 4 stops by itself after 4 frames"
timeout 30 "$UMLNF" capture "$LAB_UMID" vec1 -c 4 -w "$LAB_DIR/four.pcap" icmp \
	>/dev/null 2>"$LAB_DIR/four.err" &
cpid=$!
_lab_track "$cpid"
sleep 0.5
lab_ping client "$LAB_SERVER_ADDR" 4 >/dev/null || die "ping for -c"
for i in $(seq 50); do _lab_running "$cpid" || break; sleep 0.1; done
_lab_running "$cpid" && die "capture -c 4 still running after 4 pings"
wait "$cpid" || die "capture -c 4 exited $?: $(cat "$LAB_DIR/four.err")"
n=$(tsfield "$LAB_DIR/four.pcap" frame.number | wc -l)
[ "$n" = 4 ] || die "-c 4 wrote $n frames"
echo "    $(tail -n 1 "$LAB_DIR/four.err")"

step "-i tx: only what the guest sends (echo replies towards the client)"
cap tx vec0 -i tx -w "$LAB_DIR/tx.pcap" icmp
lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "ping for -i tx"
sleep 0.3
stop_cap
types=$(tsfield "$LAB_DIR/tx.pcap" icmp.type | sort -u | tr '\n' ' ')
[ "$types" = "0 " ] || die "-i tx captured ICMP types '$types', want only 0 (echo reply)"
grep -q "(rx 0, tx [1-9]" "$LAB_DIR/tx.err" || die "-i tx summary: $(tail -1 "$LAB_DIR/tx.err")"
echo "    $(tail -n 1 "$LAB_DIR/tx.err")"

step "without -w: one line per frame"
cap txt vec1 icmp
lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "ping for text mode"
sleep 0.3
stop_cap
sed 's/^/    /' "$LAB_DIR/txt.out"
grep -Eq "^[0-9:.]+ vec1 tx 98 .* IPv4 $LAB_CLIENT_ADDR > $LAB_SERVER_ADDR ICMP echo request id [0-9]+ seq 1$" \
	"$LAB_DIR/txt.out" || die "no text line for the echo request leaving on vec1"
grep -Eq "^[0-9:.]+ vec1 rx 98 .* IPv4 $LAB_SERVER_ADDR > $LAB_CLIENT_ADDR ICMP echo reply" \
	"$LAB_DIR/txt.out" || die "no text line for the echo reply arriving on vec1"

step "bad input: one line, non-zero status, nothing attached"
bad() { # STATUS PATTERN ARGS...
	local want=$1 pat=$2 out rc
	shift 2
	out=$(timeout 10 "$UMLNF" capture "$@" 2>&1)
	rc=$?
	[ "$rc" = "$want" ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q -- "$pat" <<<"$out" ||
		die "capture $*: status $rc, '$out'; want $want and /$pat/"
	echo "    capture $*: $out"
}
bad 2 "pcapng cannot be written with this libpcap" "$LAB_UMID" vec0 -w "$LAB_DIR/x.pcapng"
bad 2 'filter "icmp and frobnicate": ' "$LAB_UMID" vec0 icmp and frobnicate
bad 2 '"eth0" is not a device' "$LAB_UMID" eth0
bad 2 "-i: expected rx, tx or both" "$LAB_UMID" vec0 -i in
bad 2 "-c: expected a count" "$LAB_UMID" vec0 -c 0
bad 1 "vec7: no such device" "$LAB_UMID" vec7
bad 1 "umid=nosuch-$$: no uml-nf" "nosuch-$$" vec0
timeout 5 "$UMLNF" stats "$LAB_UMID" | grep -q "capture attached" && die "a capture is still attached"

step "stop (SIGTERM): exit 0"
lab_stop_clean 30 || die "unclean stop"
grep -a "capture detached" "$LAB_DIR/appliance.log" | head -n 2 | sed 's/^/    /'

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "capture: pcap read by tshark ($req requests, $rep replies), filter under load, -c, -i, text mode"
