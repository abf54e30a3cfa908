#!/bin/bash
# Proves the real datapath (vhost-user handshake, rings, raw, tap and hybrid transports, shutdown) is clean under ASan/UBSan.
# How: run the lab with build/san/uml-nf once per transport (client TSO/GSO off so software GRO runs too; taps bridged to the veths), ping both ways and 2 s of TCP, SIGTERM; no sanitizer report, exit 0.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

UMLNF_SAN=${UMLNF_SAN:-build/san/uml-nf}
IMAGE=${IMAGE:-build/images/router.img}
[ -x "$UMLNF_SAN" ] || { fail "$UMLNF_SAN not built (make build/san/uml-nf)"; exit 1; }

die() { fail "$*"; lab_log_tail 40; exit 1; }

for tr in ${T40_TRANSPORTS:-raw tap hybrid}; do
lab_init "san40$tr" || exit 1
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
# MSS-sized frames from the client: the software GRO path runs as well.
timeout 10 ip netns exec "$LAB_NS_CLIENT" ethtool -K c-eth0 tso off gso off >/dev/null ||
	die "ethtool c-eth0"
export LAB_VEC_TRANSPORT=$tr
if [ "$tr" != raw ]; then
	lab_bridge_taps || die "taps"
	export LAB_VEC_IF0=p-tap0 LAB_VEC_IF1=p-tap1
fi

step "[$tr] boot uml-nf built with ASan/UBSan"
export ASAN_OPTIONS=abort_on_error=0:halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
lab_start_umlnf "$UMLNF_SAN" "$IMAGE" || die "start"
lab_wait_ready 90 || die "not ready"

step "[$tr] traffic both ways"
lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "client -> server"
lab_ping server "$LAB_CLIENT_ADDR" 3 >/dev/null || die "server -> client"
gbps=$(lab_iperf 2) || die "iperf3"
awk -v g="$gbps" 'BEGIN { exit !(g > 0) }' || die "zero throughput ($gbps)"
gbps2=$(lab_iperf 2 -R) || die "iperf3 -R"
echo "    $gbps / $gbps2 Gbit/s under sanitizers"

step "[$tr] clean stop"
lab_stop_appliance 30
rc=$?
[ "$rc" -eq 0 ] || die "exit status $rc (LAB_STOP_HOW=$LAB_STOP_HOW)"
if grep -nE 'AddressSanitizer|LeakSanitizer|runtime error:' "$LAB_DIR/appliance.log"; then
	die "sanitizer report in the appliance log"
fi
grep -q 'uml-nf: stats dev=vec1' "$LAB_DIR/appliance.log" || die "no exit statistics"
grep -q 'uml-nf: stats dev=vec0 .* rx_coalesced=[1-9]' "$LAB_DIR/appliance.log" ||
	die "software GRO did not run"
lab_destroy
lab_assert_clean || exit 1
unset LAB_VEC_IF0 LAB_VEC_IF1
done
pass "no sanitizer findings, exit 0 (${T40_TRANSPORTS:-raw tap hybrid})"
