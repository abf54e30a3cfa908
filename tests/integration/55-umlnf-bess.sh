#!/bin/bash
# Proves uml-nf's bess transport interoperates with stock UML's (Debian linux.uml transport=bess) both ways with the guest's offloads done in software (TSO segmented, GRO towards the guest), and that a stale listen socket does not block a restart.
# How: uml-nf guest A (raw to the client, bess listen=) and stock guest B (bess dst=,src=, raw to the server); ping and iperf3 TCP both ways across the link; kill -9 A, start it again on the same path.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf55 umlnf
UMLNF=$(readlink -f "$UMLNF")
STOCK=${LAB_LINUX_UML:-linux.uml}
command -v "$STOCK" >/dev/null || skip_test "stock $STOCK not installed"

step "create lab (two guests, bess link between them)"
lab_create || die "lab_create"
lab_write_conf_pair || die "conf"
mkdir -p "$LAB_DIR/uml" || die "mkdir"
SOCK=$LAB_DIR/a.sock
lab_guest_args a "$IMAGE" || die "args a"
A_ARGS=("${LAB_GUEST_ARGS[@]}")
lab_guest_args b "$IMAGE" || die "args b"
B_ARGS=("${LAB_GUEST_ARGS[@]}")

step "boot uml-nf A: vec1 transport=bess,listen=$SOCK,gro=1"
lab_start_bg a "$UMLNF" vec0:transport=raw,ifname=p-veth0,gro=1 "vec1:transport=bess,listen=$SOCK,gro=1" \
	"${A_ARGS[@]}"
A=$LAB_BG_PID
lab_wait_log "$LAB_DIR/a.log" 'vec1: bess: listening on' 20 || die "A does not listen"
[ -S "$SOCK" ] || die "$SOCK is not a socket"

step "boot stock B: vec0 transport=bess,dst=$SOCK,src=$LAB_DIR/b.sock"
lab_start_bg b "$STOCK" "vec0:transport=bess,dst=$SOCK,src=$LAB_DIR/b.sock" \
	vec1:transport=raw,ifname=p-veth1,gro=1 "${B_ARGS[@]}" "uml_dir=$LAB_DIR/uml"
B=$LAB_BG_PID
lab_wait_log "$LAB_DIR/a.log" 'uml-nf-router: ready' 60 || die "A not ready"
lab_wait_log "$LAB_DIR/b.log" 'uml-nf-router: ready' 60 || { tail -20 "$LAB_DIR/b.log"; die "B not ready"; }
grep -q 'uml-nf-router: vec0 10.0.3.2/24 up' "$LAB_DIR/b.log" || die "B's bess NIC not up"
lab_wait_log "$LAB_DIR/a.log" 'vec1: bess: client connected on' 10 || die "B never connected"

step "ping across the link: client -> B (10.0.3.2), client -> server, server -> client"
lab_ping client "$LAB_LINK_B_ADDR" 3 >"$LAB_DIR/ping1.txt" || { cat "$LAB_DIR/ping1.txt"; die "client -> B"; }
lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping2.txt" || { cat "$LAB_DIR/ping2.txt"; die "client -> server"; }
lab_ping server "$LAB_CLIENT_ADDR" 3 >"$LAB_DIR/ping3.txt" || { cat "$LAB_DIR/ping3.txt"; die "server -> client"; }

step "iperf3 TCP 3 s client -> server (uml-nf sends on bess, stock receives)"
g1=$(lab_iperf 3) || die "iperf3 forward"
echo "    $g1 Gbit/s"
step "iperf3 TCP 3 s server -> client (-R: stock sends, uml-nf receives)"
g2=$(lab_iperf 3 -R) || die "iperf3 reverse"
echo "    $g2 Gbit/s"
for g in "$g1" "$g2"; do
	awk -v g="$g" 'BEGIN { exit !(g > 0.05) }' || die "throughput $g Gbit/s <= 0.05"
done

step "stop stock B: uml-nf A notices the client leaving, keeps running"
lab_stop_pid "$B" 20
lab_wait_log "$LAB_DIR/a.log" 'vec1: bess: the client on .* went away' 10 || die "no outage line"
_lab_running "$A" || die "A died with its client"

step "stop A (SIGTERM): exit status 0, stats counted both ways, listen socket removed"
lab_stop_pid "$A" 30
rc=$?
[ "$LAB_STOP_HOW" = exited ] && [ "$rc" -eq 0 ] || { tail -n 30 "$LAB_DIR/a.log"; die "A: $LAB_STOP_HOW, status $rc"; }
stats=$(grep -a 'uml-nf: stats dev=vec1 ' "$LAB_DIR/a.log") || die "no stats line for vec1"
echo "    $stats"
for k in rx_packets tx_packets; do
	v=$(lab_stats_field "$LAB_DIR/a.log" vec1 "$k")
	[ -n "$v" ] && [ "$v" -gt 1000 ] || die "vec1 $k=$v, want > 1000"
done
# Plain frames on the wire, offloads for the guest: its TSO frames were
# segmented here, and stock's MTU-sized segments coalesced for it (gro=1).
for k in tx_segmented rx_coalesced; do
	v=$(lab_stats_field "$LAB_DIR/a.log" vec1 "$k")
	[ -n "$v" ] && [ "$v" -gt 100 ] || die "vec1 $k=$v, want > 100 (software offloads)"
done
[ -e "$SOCK" ] && die "$SOCK left behind"
[ -e "/run/uml-nf/$LAB_UMID-a" ] && die "run dir of A left behind"

step "kill -9 a listening uml-nf, start another on the same path: the stale socket is replaced"
lab_start_bg a2 "$UMLNF" "vec0:transport=bess,listen=$SOCK" "${A_ARGS[@]}"
A2=$LAB_BG_PID
lab_wait_log "$LAB_DIR/a2.log" 'vec0: bess: listening on' 20 || die "A2 does not listen"
{ kill -KILL "$A2"; wait "$A2"; } 2>/dev/null
[ -S "$SOCK" ] || die "kill -9 did not leave $SOCK (nothing to test)"
lab_guest_args a3 "$IMAGE" || die "args a3"
lab_start_bg a3 "$UMLNF" "vec0:transport=bess,listen=$SOCK" "${LAB_GUEST_ARGS[@]}"
A3=$LAB_BG_PID
lab_wait_log "$LAB_DIR/a3.log" 'vec0: bess: listening on' 20 || { cat "$LAB_DIR/a3.log"; die "A3 refused the stale socket"; }
lab_wait_log "$LAB_DIR/a3.log" 'uml-nf-router: ready' 60 || die "A3 not ready"
lab_stop_pid "$A3" 30
rc=$?
[ "$LAB_STOP_HOW" = exited ] && [ "$rc" -eq 0 ] || { tail -n 30 "$LAB_DIR/a3.log"; die "A3: $LAB_STOP_HOW, status $rc"; }
[ -e "$SOCK" ] && die "$SOCK left behind by A3"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "bess interop with stock UML ($g1 / $g2 Gbit/s), stale socket replaced"
