#!/bin/bash
# Proves ring=mmap (PACKET_MMAP rx block ring) and ring=mmaptx (and a tx ring) forward correctly: ping, TCP both ways with GSO frames (gro=1) and without (gro=0), a burst of small frames counted whole, receive filters still applied; bad ring= values refused.
# How: three boots in one lab (gro=1 ring=mmap; gro=1 ring=mmaptx; gro=0 ring=mmaptx with bpf=not icmp on vec0), uml-nf's stats lines for frames and bad-input counters; bad lines run in the host namespace, exit 2 and the message checked.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf85 umlnf

step "create lab"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"

step "bad ring= values exit 2 naming device and option"
for c in 'ring: expected socket, mmap, mmaptx, xdp or xdpskb|ring=xyz' 'ring: ring=mmap moves whole batches|ring=mmap,vec=0'; do
	want=${c%%|*} opt=${c#*|}
	out=$(timeout 20 ip netns exec "$LAB_NS_HOST" "$UMLNF" "vec0:transport=raw,ifname=p-veth0,$opt" \
		"umid=$LAB_UMID-bad" 2>&1 </dev/null)
	rc=$?
	[ "$rc" = 2 ] || die "$opt: exit status $rc, want 2 ($out)"
	grep -q "vec0: $want" <<<"$out" || die "$opt: message missing 'vec0: $want': $out"
	echo "    $opt: exit 2, $(grep -m1 'vec0: ring' <<<"$out")"
done

stats() { lab_stats_field "$LAB_DIR/appliance.log" "$1" "$2"; }

# boot LABEL VEC0-OPTS VEC1-OPTS: start, wait, check the ring line.
boot() {
	lab_uml_args "$IMAGE" || die "args"
	LAB_UML_ARGS[0]="vec0:transport=raw,ifname=p-veth0,$2"
	LAB_UML_ARGS[1]="vec1:transport=raw,ifname=p-veth1,$3"
	lab_start_appliance "$UMLNF" "${LAB_UML_ARGS[@]}" || die "start ($1)"
	lab_wait_ready 60 || die "not ready ($1)"
	local r=${3#*ring=}
	grep -q "uml-nf: vec1: ring=${r%%,*} on p-veth1" "$LAB_DIR/appliance.log" ||
		die "no ring=${r%%,*} line for vec1 ($1)"
}

# tcp LABEL: iperf3 2 s each way; sets G1 G2.
tcp() {
	G1=$(lab_iperf 2) || die "iperf3 client -> server ($1)"
	G2=$(lab_iperf 2 -R) || die "iperf3 server -> client ($1)"
	awk -v a="$G1" -v b="$G2" 'BEGIN { exit !(a > 0 && b > 0) }' || die "zero throughput ($1: $G1 / $G2)"
	echo "    [$1] $G1 / $G2 Gbit/s"
}

# stop LABEL KEYS..: clean stop, then KEYS must be 0 on both devices.
stop() {
	local label=$1 d k v
	shift
	lab_stop_clean 30 || die "clean stop ($label)"
	for d in vec0 vec1; do
		for k in "$@"; do
			v=$(stats "$d" "$k")
			[ "$v" = 0 ] || die "$d $k=$v ($label)"
		done
	done
	rm -f "$LAB_DIR/root.cow"
	LAB_APPLIANCE_PID=
}

step "gro=1,ring=mmap: ping both ways, 500 pings at 2 ms counted whole, TCP both ways"
boot mmap gro=1,ring=mmap gro=1,ring=mmap
lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "ping client -> server"
lab_ping server "$LAB_CLIENT_ADDR" 3 >/dev/null || die "ping server -> client"
timeout 30 ip netns exec "$LAB_NS_CLIENT" ping -q -c 500 -i 0.002 -W 1 "$LAB_SERVER_ADDR" >"$LAB_DIR/burst.txt" 2>&1
grep -q ' 0% packet loss' "$LAB_DIR/burst.txt" || { cat "$LAB_DIR/burst.txt"; die "ping burst lost frames"; }
tcp mmap
r1="$G1/$G2"
stop mmap rx_oversize tx_bad_hdr tx_bad_frame host_tx_errors
# The GSO frames crossed whole: far fewer frames than the bytes need at MTU size.
bytes=$(stats vec0 rx_bytes) frames=$(stats vec0 rx_packets)
[ "$frames" -gt 1000 ] || die "vec0 rx_packets too low: $frames"
[ $((bytes / frames)) -gt 3000 ] || die "vec0 averaged $((bytes / frames)) bytes per frame: no GSO frames"
echo "    vec0: $frames frames, $((bytes / frames)) bytes per frame"

step "gro=1,ring=mmaptx: 64 KB GSO frames through the tx ring, both ways"
boot mmaptx gro=1,ring=mmaptx gro=1,ring=mmaptx
lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "ping (mmaptx)"
tcp mmaptx
r2="$G1/$G2"
stop mmaptx rx_oversize tx_bad_hdr tx_bad_frame host_tx_errors
[ "$(stats vec1 tx_packets)" -gt 1000 ] || die "vec1 tx_packets too low (mmaptx)"

step "gro=0,ring=mmaptx (qdisc bypass) with bpf=not icmp on vec0: ICMP dropped in the host, TCP passes"
boot filter "gro=0,ring=mmaptx,bpf=not icmp" gro=0,ring=mmaptx
if lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null 2>&1; then die "ICMP passed a 'not icmp' filter on a ring"; fi
tcp filter
r3="$G1/$G2"
stop filter tx_bad_hdr tx_bad_frame host_tx_errors

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "ring=mmap gro=1 $r1, ring=mmaptx gro=1 $r2, gro=0 $r3 Gbit/s; 500-ping burst whole, filter applied, bad values refused"
