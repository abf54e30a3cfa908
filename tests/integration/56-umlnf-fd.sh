#!/bin/bash
# Proves uml-nf's fd transport serves an inherited tap (packet information framing) with the host namespace on its far side, joins two uml-nf guests back to back over a socketpair (seqpacket; datagram with vec=0), and refuses unusable descriptors naming them.
# How: refusal cases (exit 2, message, nothing started); tests/helpers/fdpass opens tap p-tap1 (bridged to the server) and execs uml-nf with it as fd 3, tshark on p-tap1; fdpass creates a socketpair and a wrapper starts guest A and B each with one end; ping and iperf3 both ways.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf56 umlnf
UMLNF=$(readlink -f "$UMLNF")
IMAGE=$(readlink -f "$IMAGE")
command -v tshark >/dev/null || skip_test "tshark not installed (make deps)"
[ -c /dev/net/tun ] || skip_test "no /dev/net/tun"
HELPERS=${UMLNF_HELPERS:-build/test-helpers}
[ -x "$HELPERS/fdpass" ] || make -s --no-print-directory test-helpers >/dev/null ||
	die "test helpers not built (make test-helpers)"
FDPASS=$(readlink -f "$HELPERS/fdpass")

step "create lab; bridge p-br1 on p-veth1 (the server's side), for a tap, in ${LAB_NS_HOST}"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
lab_write_conf_pair || die "conf pair"
H="$LAB_NS_HOST"
timeout 10 ip -n "$H" link add p-br1 type bridge stp_state 0 forward_delay 0 &&
	timeout 10 ip -n "$H" link set p-veth1 master p-br1 &&
	timeout 10 ip -n "$H" link set p-br1 up || die "bridge"

step "refusals: exit 2, the descriptor and what it is named, nothing started"
n=0 bad=0
# refuse WANT_SUBSTRING COMMAND...: COMMAND (uml-nf behind fdpass or a shell
# that opens fd 3) must exit 2 with the message and leave no run dir.
refuse() {
	local msg=$1 rc umid
	shift
	n=$((n + 1))
	umid=$LAB_UMID-r$n
	timeout 20 ip netns exec "$H" "$@" mem=64M "umid=$umid" </dev/null >"$LAB_DIR/out.$n" \
		2>"$LAB_DIR/err.$n"
	rc=$?
	echo "    case $n: status $rc: $(grep -m1 'error:' "$LAB_DIR/err.$n")"
	[ "$rc" -eq 2 ] || { fail "case $n: status $rc, want 2"; bad=1; }
	grep -qF -- "$msg" "$LAB_DIR/err.$n" || { fail "case $n: stderr lacks '$msg'"; bad=1; }
	[ -e "/run/uml-nf/$umid" ] && { fail "case $n: /run/uml-nf/$umid exists"; bad=1; }
}
# A shell that opens descriptor 3 with the redirection $1, then runs the rest.
SH3=(bash -c 'eval "exec 3$0" && exec "$@"')
refuse "vec0: fd: descriptor 9 is not open" "$UMLNF" vec0:transport=fd,fd=9
refuse "vec0: fd: descriptor 1 is standard output" "$UMLNF" vec0:transport=fd,fd=1
refuse 'vec0: fd: expected a number, got "0x3"' "$UMLNF" vec0:transport=fd,fd=0x3
refuse "vec0: fd: required by transport fd" "$UMLNF" vec0:transport=fd
refuse "vec0: fd: descriptor 3 is a regular file; need a tap, an AF_PACKET socket, or a connected unix seqpacket or datagram socket" \
	"${SH3[@]}" "</etc/hostname" "$UMLNF" vec0:transport=fd,fd=3
refuse "vec0: fd: descriptor 3 is a pipe" "${SH3[@]}" "< <(sleep 5)" "$UMLNF" vec0:transport=fd,fd=3
refuse "vec0: fd: descriptor 3 is a character device that is not a tap" \
	"${SH3[@]}" "<>/dev/null" "$UMLNF" vec0:transport=fd,fd=3
refuse "vec0: fd: descriptor 3 is /dev/net/tun not attached to an interface (TUNSETIFF not done)" \
	"${SH3[@]}" "<>/dev/net/tun" "$UMLNF" vec0:transport=fd,fd=3
refuse "vec0: fd: descriptor 3 is a unix stream socket (no frame boundaries)" \
	"$FDPASS" --pair stream -- "$UMLNF" vec0:transport=fd,fd=3
refuse "vec0: fd: descriptor 3 is an unconnected unix datagram socket" \
	"$FDPASS" --lone dgram -- "$UMLNF" vec0:transport=fd,fd=3
refuse "vec0: fd: descriptor 3 is a listening socket" \
	"$FDPASS" --listen "$LAB_DIR/l.sock" -- "$UMLNF" vec0:transport=fd,fd=3
refuse "vec0: fd: descriptor 3 is tun device p-tun9 (layer 3, no Ethernet header); need a tap (IFF_TAP)" \
	"$FDPASS" --tun p-tun9 -- "$UMLNF" vec0:transport=fd,fd=3
refuse "vec1: fd: descriptor 3 is already used by another device" \
	"$FDPASS" --pair seqpacket -- "$UMLNF" vec0:transport=fd,fd=3 vec1:transport=fd,fd=3
[ "$bad" -eq 0 ] || die "some of $n refusal cases failed"

step "tap fd from a parent: fdpass creates tap p-tap1 (packet information, no vnet header), execs uml-nf"
lab_guest_args t "$IMAGE" "$LAB_DIR/conf" || die "args"
lab_start_appliance "$FDPASS" --tap p-tap1,pi -- "$UMLNF" vec0:transport=raw,ifname=p-veth0,gro=1 \
	vec1:transport=fd,fd=3 "${LAB_GUEST_ARGS[@]}" || die "start"
# The tap lives as long as the descriptor: bridge it once it is there.
for i in $(seq 50); do
	timeout 5 ip -n "$H" link show p-tap1 >/dev/null 2>&1 && break
	sleep 0.1
done
timeout 10 ip -n "$H" link set p-tap1 master p-br1 &&
	timeout 10 ip -n "$H" link set p-tap1 up || die "bridge the tap"
lab_wait_ready 60 || die "not ready"
grep -q 'vec1: fd: descriptor 3: tap p-tap1, packet information' "$LAB_DIR/appliance.log" ||
	die "no 'descriptor 3: tap p-tap1, packet information' line"
lab_capture_start host p-tap1 icmp || die "capture"
lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping1.txt" || { cat "$LAB_DIR/ping1.txt"; die "client -> server"; }
lab_ping server "$LAB_CLIENT_ADDR" 3 >"$LAB_DIR/ping2.txt" || { cat "$LAB_DIR/ping2.txt"; die "server -> client"; }
lab_capture_stop
icmp=$(timeout 30 tshark -r "$LAB_CAPTURE_FILE" -Y icmp -T fields -e ip.src -e ip.dst -e icmp.type 2>/dev/null)
req=$(grep -c "^$LAB_CLIENT_ADDR	$LAB_SERVER_ADDR	8$" <<<"$icmp")
rep=$(grep -c "^$LAB_SERVER_ADDR	$LAB_CLIENT_ADDR	0$" <<<"$icmp")
echo "    tshark on p-tap1: $req echo requests client -> server out of the guest, $rep replies server -> client into it"
[ "$req" -ge 3 ] && [ "$rep" -ge 3 ] || { echo "$icmp"; die "ICMP on p-tap1 missing"; }
gt=$(lab_iperf 2) || die "iperf3 over the tap"
echo "    $gt Gbit/s client -> server, out through the tap fd"
lab_stop_clean 30 || die "unclean stop"
v=$(lab_stats_field "$LAB_DIR/appliance.log" vec1 tx_packets)
[ -n "$v" ] && [ "$v" -gt 100 ] || die "vec1 tx_packets=$v"

# pair_start TYPE VEC: fdpass makes a TYPE socketpair (fd 3, 4); a wrapper
# starts guest A with end 3 as its vec1 and guest B with end 4 as its vec0.
pair_start() {
	lab_guest_args a "$IMAGE" || return 1
	local a=("${LAB_GUEST_ARGS[@]}")
	lab_guest_args b "$IMAGE" || return 1
	local b=("${LAB_GUEST_ARGS[@]}")
	rm -f "$LAB_DIR/a.log" "$LAB_DIR/b.log" "$LAB_DIR/a.cow" "$LAB_DIR/b.cow"
	# New guests answer for the gateways with new MACs.
	timeout 5 ip -n "$LAB_NS_CLIENT" neigh flush all
	timeout 5 ip -n "$LAB_NS_SERVER" neigh flush all
	cat >"$LAB_DIR/pair.sh" <<-EOS
	# fd 3 and 4 are the two ends; each guest gets one, as its descriptor 3.
	"$UMLNF" vec0:transport=raw,ifname=p-veth0,gro=1 vec1:transport=fd,fd=3$2 ${a[*]} 4<&- >"$LAB_DIR/a.log" 2>&1 &
	echo \$! >"$LAB_DIR/a.pid"
	"$UMLNF" vec0:transport=fd,fd=3$2 vec1:transport=raw,ifname=p-veth1,gro=1 ${b[*]} 3<&4 4<&- >"$LAB_DIR/b.log" 2>&1 &
	echo \$! >"$LAB_DIR/b.pid"
	exec 3<&- 4<&-
	trap 'kill -TERM \$(cat "$LAB_DIR/a.pid") \$(cat "$LAB_DIR/b.pid"); wait' TERM
	wait
	EOS
	lab_start_bg pair "$FDPASS" --pair "$1" -- bash "$LAB_DIR/pair.sh"
	PAIR=$LAB_BG_PID
	lab_wait_log "$LAB_DIR/a.log" 'uml-nf-router: ready' 60 || return 1
	lab_wait_log "$LAB_DIR/b.log" 'uml-nf-router: ready' 60 || return 1
	PA=$(cat "$LAB_DIR/a.pid") PB=$(cat "$LAB_DIR/b.pid")
	_lab_track "$PA"
	_lab_track "$PB"
}

step "socketpair (seqpacket) joining two uml-nf guests back to back"
timeout 10 ip -n "$H" link set p-veth1 nomaster || die "unbridge p-veth1"
pair_start seqpacket "" || { tail -5 "$LAB_DIR"/*.log; die "pair start"; }
grep -q 'vec1: fd: descriptor 3: connected unix seqpacket socket' "$LAB_DIR/a.log" || die "A: kind line"
lab_ping client "$LAB_LINK_B_ADDR" 3 >"$LAB_DIR/ping3.txt" || { cat "$LAB_DIR/ping3.txt"; die "client -> B"; }
lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping4.txt" || { cat "$LAB_DIR/ping4.txt"; die "client -> server"; }
lab_ping server "$LAB_CLIENT_ADDR" 3 >"$LAB_DIR/ping5.txt" || { cat "$LAB_DIR/ping5.txt"; die "server -> client"; }
g1=$(lab_iperf 3) || die "iperf3 A -> B"
g2=$(lab_iperf 3 -R) || die "iperf3 B -> A"
echo "    $g1 Gbit/s client -> server, $g2 Gbit/s back, across the socketpair"
for g in "$g1" "$g2"; do
	awk -v g="$g" 'BEGIN { exit !(g > 0.05) }' || die "throughput $g Gbit/s <= 0.05"
done

step "B stops: A sees its peer close, keeps running, stops cleanly"
lab_stop_pid "$PB" 30
lab_wait_log "$LAB_DIR/a.log" 'vec1: fd: descriptor 3 \(unix seqpacket socket\) was closed by its peer' 10 ||
	die "A: no peer-closed line"
_lab_running "$PA" || die "A died with its peer"
lab_ping client "$LAB_IF0_ADDR" 2 >/dev/null || die "A stopped answering"
lab_stop_pid "$PA" 30
lab_stop_pid "$PAIR" 10
grep -a 'uml-nf: stats dev=vec1 ' "$LAB_DIR/a.log" | sed 's/^/    /'
v=$(lab_stats_field "$LAB_DIR/a.log" vec1 rx_packets)
[ -n "$v" ] && [ "$v" -gt 1000 ] || die "A vec1 rx_packets=$v"

step "socketpair (datagram), vec=0: one frame per call"
pair_start dgram ",vec=0" || { tail -5 "$LAB_DIR"/*.log; die "pair start (dgram)"; }
grep -q 'descriptor 3: connected unix datagram socket' "$LAB_DIR/b.log" || die "B: kind line"
lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping6.txt" || { cat "$LAB_DIR/ping6.txt"; die "client -> server (dgram)"; }
lab_stop_pid "$PAIR" 30
for l in a b; do
	grep -aq 'uml-nf: stats dev=vec0' "$LAB_DIR/$l.log" || die "guest $l: no stats line (unclean stop?)"
done

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "fd: tap ($gt Gbit/s), seqpacket pair ($g1 / $g2 Gbit/s), datagram pair, $n refusals"
