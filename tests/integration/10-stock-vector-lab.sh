#!/bin/bash
# Proves the lab and the router image work end to end on the stock UML vector raw transport.
# How: boot linux.uml with the image between client and server, ping both ways, 2 s iperf3, SIGTERM, assert clean.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin stock10
step "create lab"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"

step "boot stock linux.uml"
lab_start_stock "$IMAGE" || die "start"
lab_wait_ready 60 || die "not ready"
grep -q 'uml-nf-router: vec0 10.0.1.1/24 up' "$LAB_DIR/appliance.log" || die "vec0 not configured"
grep -q 'uml-nf-router: vec1 10.0.2.1/24 up' "$LAB_DIR/appliance.log" || die "vec1 not configured"

step "ping client -> server"
lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping1.txt" || { cat "$LAB_DIR/ping1.txt"; die "client -> server"; }
step "ping server -> client"
lab_ping server "$LAB_CLIENT_ADDR" 3 >"$LAB_DIR/ping2.txt" || { cat "$LAB_DIR/ping2.txt"; die "server -> client"; }

step "iperf3 2 s"
gbps=$(lab_iperf 2) || die "iperf3"
awk -v g="$gbps" 'BEGIN { exit !(g > 0) }' || die "zero throughput ($gbps)"
echo "    $gbps Gbit/s"

step "stop (SIGTERM)"
lab_stop_appliance 20
rc=$?
[ "$LAB_STOP_HOW" = exited ] || die "linux.uml needed SIGKILL (status $rc)"
echo "    exited with status $rc"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "stock vector lab ($gbps Gbit/s)"
