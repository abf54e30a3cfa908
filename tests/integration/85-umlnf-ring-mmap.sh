#!/bin/bash
# Proves ring=mmap (PACKET_MMAP rx block ring and tx ring on the raw socket) forwards correctly: ping, TCP both ways with GSO frames (gro=1) and without (gro=0), a burst of small frames counted whole, receive filters still applied; bad ring= values refused.
# How: two boots in one lab (gro=1,ring=mmap and gro=0,ring=mmap with bpf=not icmp on vec0), uml-nf's stats lines for frames, drops and bad-input counters; bad lines run in the host namespace, exit 2 and the message checked.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf85 umlnf

step "create lab"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"

step "bad ring= values exit 2 naming device and option"
for c in 'ring: expected socket or mmap|ring=xyz' 'ring: ring=mmap moves whole batches|ring=mmap,vec=0'; do
	want=${c%%|*} opt=${c#*|}
	out=$(timeout 20 ip netns exec "$LAB_NS_HOST" "$UMLNF" "vec0:transport=raw,ifname=p-veth0,$opt" \
		"umid=$LAB_UMID-bad" 2>&1 </dev/null)
	rc=$?
	[ "$rc" = 2 ] || die "$opt: exit status $rc, want 2 ($out)"
	grep -q "vec0: $want" <<<"$out" || die "$opt: message missing 'vec0: $want': $out"
	echo "    $opt: exit 2, $(grep -m1 'vec0: ring' <<<"$out")"
done

stats() { # DEV KEY from the last stats line
	lab_stats_field "$LAB_DIR/appliance.log" "$1" "$2"
}

step "gro=1,ring=mmap: boot"
LAB_VEC_OPTS=gro=1,ring=mmap lab_start_umlnf "$UMLNF" "$IMAGE" || die "start"
lab_wait_ready 60 || die "not ready"
grep -q 'uml-nf: vec0: ring=mmap on p-veth0' "$LAB_DIR/appliance.log" || die "no ring=mmap line for vec0"

step "gro=1,ring=mmap: ping both ways, 500 pings at 2 ms counted whole"
lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "ping client -> server"
lab_ping server "$LAB_CLIENT_ADDR" 3 >/dev/null || die "ping server -> client"
timeout 30 ip netns exec "$LAB_NS_CLIENT" ping -q -c 500 -i 0.002 -W 1 "$LAB_SERVER_ADDR" >"$LAB_DIR/burst.txt" 2>&1
grep -q ' 0% packet loss' "$LAB_DIR/burst.txt" || { cat "$LAB_DIR/burst.txt"; die "ping burst lost frames"; }

step "gro=1,ring=mmap: iperf3 2 s each way (64 KB GSO frames through both rings)"
g1=$(lab_iperf 2) || die "iperf3 client -> server"
g2=$(lab_iperf 2 -R) || die "iperf3 server -> client"
awk -v a="$g1" -v b="$g2" 'BEGIN { exit !(a > 0 && b > 0) }' || die "zero throughput ($g1 / $g2)"
echo "    $g1 / $g2 Gbit/s"
lab_stop_clean 30 || die "clean stop (gro=1)"
for d in vec0 vec1; do
	for k in rx_oversize tx_bad_hdr tx_bad_frame host_tx_errors; do
		v=$(stats "$d" "$k")
		[ "$v" = 0 ] || die "$d $k=$v after a clean run"
	done
	[ "$(stats "$d" rx_packets)" -gt 1000 ] || die "$d rx_packets too low: $(stats "$d" rx_packets)"
done
# The GSO frames crossed whole: far fewer frames than the bytes need at MTU size.
bytes=$(stats vec0 rx_bytes) frames=$(stats vec0 rx_packets)
[ $((bytes / frames)) -gt 3000 ] || die "vec0 averaged $((bytes / frames)) bytes per frame: no GSO frames"
echo "    vec0: $frames frames, $((bytes / frames)) bytes per frame"
rm -f "$LAB_DIR/root.cow"
LAB_APPLIANCE_PID=

step "gro=0,ring=mmap with bpf=not icmp on vec0: ICMP dropped in the host, TCP passes"
lab_uml_args "$IMAGE" || die "args"
LAB_UML_ARGS[0]="vec0:transport=raw,ifname=p-veth0,gro=0,ring=mmap,bpf=not icmp"
LAB_UML_ARGS[1]="vec1:transport=raw,ifname=p-veth1,gro=0,ring=mmap"
lab_start_appliance "$UMLNF" "${LAB_UML_ARGS[@]}" || die "start (gro=0)"
lab_wait_ready 60 || die "not ready (gro=0)"
if lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null 2>&1; then die "ICMP passed a 'not icmp' filter on a ring"; fi
g3=$(lab_iperf 2) || die "iperf3 (gro=0)"
g4=$(lab_iperf 2 -R) || die "iperf3 -R (gro=0)"
awk -v a="$g3" -v b="$g4" 'BEGIN { exit !(a > 0 && b > 0) }' || die "zero throughput ($g3 / $g4)"
echo "    $g3 / $g4 Gbit/s"
lab_stop_clean 30 || die "clean stop (gro=0)"
for d in vec0 vec1; do
	for k in tx_bad_hdr tx_bad_frame host_tx_errors; do
		v=$(stats "$d" "$k")
		[ "$v" = 0 ] || die "$d $k=$v (gro=0)"
	done
done

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "ring=mmap: gro=1 $g1/$g2 Gbit/s, gro=0 $g3/$g4 Gbit/s, 500-ping burst whole, filter applied, bad values refused"
