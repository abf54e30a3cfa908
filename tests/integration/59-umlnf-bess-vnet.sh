#!/bin/bash
# Proves bess vnet=1 (uml-nf's own: a virtio-net header in front of each frame) carries 64 KiB TSO frames whole between two uml-nf guests back to back, and that a peer without headers is caught: its frames dropped and counted as rx_bad_hdr, one warning, nothing delivered wrongly.
# How: uml-nf A (raw to the client, bess listen=,vnet=1,gro=1) and uml-nf B (bess dst=,vnet=1,gro=1, raw to the server); ping and iperf3 TCP both ways; the stats show GSO frames crossed (bytes per frame far above the MTU) and no bad header; then a plain-framed B2 (vnet=0) connects to A.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf59 umlnf
UMLNF=$(readlink -f "$UMLNF")

step "create lab (two guests, bess link between them)"
lab_create || die "lab_create"
lab_write_conf_pair || die "conf"
SOCK=$LAB_DIR/a.sock
lab_guest_args a "$IMAGE" || die "args a"
A_ARGS=("${LAB_GUEST_ARGS[@]}")
lab_guest_args b "$IMAGE" || die "args b"
B_ARGS=("${LAB_GUEST_ARGS[@]}")

step "boot uml-nf A (listen=,vnet=1,gro=1) and uml-nf B (dst=,vnet=1,gro=1)"
lab_start_bg a "$UMLNF" vec0:transport=raw,ifname=p-veth0,gro=1 \
	"vec1:transport=bess,listen=$SOCK,vnet=1,gro=1" "${A_ARGS[@]}"
A=$LAB_BG_PID
lab_wait_log "$LAB_DIR/a.log" 'vec1: bess: listening on' 20 || die "A does not listen"
lab_start_bg b "$UMLNF" "vec0:transport=bess,dst=$SOCK,vnet=1,gro=1" \
	vec1:transport=raw,ifname=p-veth1,gro=1 "${B_ARGS[@]}"
B=$LAB_BG_PID
lab_wait_log "$LAB_DIR/a.log" 'uml-nf-router: ready' 60 || die "A not ready"
lab_wait_log "$LAB_DIR/b.log" 'uml-nf-router: ready' 60 || die "B not ready"

step "ping across: client -> B's bess address, client -> server, server -> client"
lab_ping client "$LAB_LINK_B_ADDR" 3 >/dev/null || die "client -> B"
lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "client -> server"
lab_ping server "$LAB_CLIENT_ADDR" 3 >/dev/null || die "server -> client"

step "iperf3 TCP 3 s each way"
g1=$(lab_iperf 3) || die "iperf3 forward"
g2=$(lab_iperf 3 -R) || die "iperf3 reverse"
echo "    $g1 / $g2 Gbit/s"
for g in "$g1" "$g2"; do
	awk -v g="$g" 'BEGIN { exit !(g > 0.05) }' || die "throughput $g Gbit/s <= 0.05"
done

step "stop B: its stats show GSO frames sent and received whole on bess, no bad header"
lab_stop_pid "$B" 30
rc=$?
[ "$LAB_STOP_HOW" = exited ] && [ "$rc" -eq 0 ] || die "B: $LAB_STOP_HOW, status $rc"
grep -a 'uml-nf: stats dev=vec0 ' "$LAB_DIR/b.log" | sed 's/^/    /'
# GSO frames crossed whole: frames average far more than an MTU each way.
for d in rx tx; do
	p=$(lab_stats_field "$LAB_DIR/b.log" vec0 ${d}_packets)
	by=$(lab_stats_field "$LAB_DIR/b.log" vec0 ${d}_bytes)
	[ -n "$p" ] && [ "$p" -gt 1000 ] || die "B vec0 ${d}_packets=$p, want > 1000"
	[ $((by / p)) -gt 8000 ] || die "B vec0 $d: $((by / p)) bytes per frame, want > 8000 (GSO frames)"
done
v=$(lab_stats_field "$LAB_DIR/b.log" vec0 rx_bad_hdr)
[ "$v" = 0 ] || die "B vec0 rx_bad_hdr=$v, want 0"
v=$(lab_stats_field "$LAB_DIR/b.log" vec0 tx_segmented)
[ -z "$v" ] || die "B vec0 segments in software with vnet=1 (tx_segmented=$v)"

step "a plain-framed peer (vnet=0) connects to A: its frames are dropped as rx_bad_hdr, A keeps running"
lab_guest_args b2 "$IMAGE" || die "args b2"
lab_start_bg b2 "$UMLNF" "vec0:transport=bess,dst=$SOCK" \
	vec1:transport=raw,ifname=p-veth1,gro=1 "${LAB_GUEST_ARGS[@]}"
B2=$LAB_BG_PID
lab_wait_log "$LAB_DIR/b2.log" 'uml-nf-router: ready' 60 || die "B2 not ready"
ip netns exec "$LAB_NS_SERVER" ping -c 20 -i 0.1 -W 1 "$LAB_CLIENT_ADDR" >"$LAB_DIR/ping-b2.txt" 2>&1 &&
	die "ping through a mismatched link succeeded"
lab_wait_log "$LAB_DIR/a.log" 'vec1: dropped a [0-9]+-byte frame whose virtio-net header from the peer is not valid' 10 ||
	die "no rx_bad_hdr warning on A"
[ "$(grep -ac 'whose virtio-net header from the peer' "$LAB_DIR/a.log")" -eq 1 ] || die "warning repeated"
_lab_running "$A" || die "A died"
lab_stop_pid "$B2" 30

step "stop A: exit 0, vec1 rx_bad_hdr counted (> 0) and in rx_dropped"
lab_stop_pid "$A" 30
rc=$?
[ "$LAB_STOP_HOW" = exited ] && [ "$rc" -eq 0 ] || die "A: $LAB_STOP_HOW, status $rc"
bad=$(lab_stats_field "$LAB_DIR/a.log" vec1 rx_bad_hdr)
drop=$(lab_stats_field "$LAB_DIR/a.log" vec1 rx_dropped)
echo "    A vec1 rx_bad_hdr=$bad rx_dropped=$drop"
[ -n "$bad" ] && [ "$bad" -gt 5 ] || die "rx_bad_hdr=$bad, want > 5"
[ "$drop" -ge "$bad" ] || die "rx_dropped=$drop < rx_bad_hdr=$bad"
[ -e "$SOCK" ] && die "$SOCK left behind"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "bess vnet=1 between two uml-nf guests ($g1 / $g2 Gbit/s, GSO frames whole), a header-less peer counted as rx_bad_hdr"
