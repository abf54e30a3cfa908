#!/bin/bash
# Proves mergeable receive buffers (mrg=1) carry 64 KB GSO frames into the guest across many small buffers, losing none.
# How: boot with gro=1,mrg=1, ping both ways, 3 s iperf3; the vec0 stats show frames larger than one buffer and rx_dropped=0.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf24 umlnf

step "create lab, boot uml-nf with gro=1,mrg=1"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
LAB_VEC_OPTS=gro=1,mrg=1 lab_start_umlnf "$UMLNF" "$IMAGE" || die "start"
lab_wait_ready 60 || die "not ready"
grep -q "uml-nf: vec0: .*gro 1, vec 1, mrg 1" "$LAB_DIR/appliance.log" || die "mrg not taken"

step "traffic"
lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "client -> server"
lab_ping server "$LAB_CLIENT_ADDR" 3 >/dev/null || die "server -> client"
gbps=$(lab_iperf 3) || die "iperf3"
echo "    $gbps Gbit/s"
awk -v g="$gbps" 'BEGIN { exit !(g > 0.1) }' || die "throughput too low ($gbps)"

step "stop and read the counters"
lab_stop_appliance 30
rc=$?
[ "$rc" -eq 0 ] || die "exit status $rc"
line=$(grep 'uml-nf: stats dev=vec0' "$LAB_DIR/appliance.log") || die "no stats for vec0"
echo "    $line" | cut -c1-200
val() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
pk=$(val rx_packets) by=$(val rx_bytes) dr=$(val rx_dropped)
[ "${pk:-0}" -gt 0 ] || die "no frames received"
[ "${dr:-1}" -eq 0 ] || die "rx_dropped=$dr"
# Mergeable buffers are about 1.5-4 KB: an average above 8 KB means GSO
# frames were spread over several buffers each.
avg=$((by / pk))
[ "$avg" -gt 8192 ] || die "average frame $avg bytes: GSO frames did not reach the guest"
echo "    average frame into the guest: $avg bytes"
lab_destroy
lab_assert_clean || exit 1
pass "mergeable buffers: $gbps Gbit/s, average frame $avg bytes, nothing dropped"
