#!/bin/bash
# Proves uml-nf forwards through the router image (raw, gro=1), stops cleanly on SIGTERM with status 0 and leaves nothing behind.
# How: boot uml-nf in the lab, ping both ways, 3 s iperf3 (> 0.1 Gbit/s), SIGTERM, check the stats line, run dir, processes.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf20 umlnf

step "create lab"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"

step "boot uml-nf (${LAB_UML_ARGS[0]:-vec0 raw gro=1})"
lab_start_umlnf "$UMLNF" "$IMAGE" || die "start"
echo "    args: ${LAB_UML_ARGS[0]} ${LAB_UML_ARGS[1]}"
lab_wait_ready 60 || die "not ready"
grep -q 'uml-nf-router: eth0 10.0.1.1/24 up' "$LAB_DIR/appliance.log" || die "eth0 not configured"
grep -q 'uml-nf-router: eth1 10.0.2.1/24 up' "$LAB_DIR/appliance.log" || die "eth1 not configured"
[ -d "/run/uml-nf/$LAB_UMID" ] || die "/run/uml-nf/$LAB_UMID missing while running"

step "ping client -> server"
lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping1.txt" || { cat "$LAB_DIR/ping1.txt"; die "client -> server"; }
step "ping server -> client"
lab_ping server "$LAB_CLIENT_ADDR" 3 >"$LAB_DIR/ping2.txt" || { cat "$LAB_DIR/ping2.txt"; die "server -> client"; }

step "iperf3 3 s"
gbps=$(lab_iperf 3) || die "iperf3"
echo "    $gbps Gbit/s"
awk -v g="$gbps" 'BEGIN { exit !(g > 0.1) }' || die "throughput $gbps Gbit/s <= 0.1"

step "stop (SIGTERM): exit status must be 0"
lab_stop_clean 30 || die "unclean stop"
echo "    exited with status 0"

step "stats line on the appliance log"
stats=$(grep -a 'uml-nf: stats dev=vec0' "$LAB_DIR/appliance.log") || die "no 'uml-nf: stats dev=vec0' line"
echo "    $stats"
for k in rx_packets tx_packets; do
	v=$(sed -n "s/.* $k=\([0-9]*\).*/\1/p" <<<"$stats")
	[ -n "$v" ] && [ "$v" -gt 0 ] || die "vec0 $k is '${v}', want > 0"
done

step "nothing left: run dir, umid processes"
[ -e "/run/uml-nf/$LAB_UMID" ] && die "/run/uml-nf/$LAB_UMID still exists"
left=$(lab_umid_pids) 
[ -z "$left" ] || die "processes mentioning $LAB_UMID survive: $left"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "uml-nf lab ($gbps Gbit/s, clean exit 0)"
