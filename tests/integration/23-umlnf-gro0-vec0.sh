#!/bin/bash
# Proves uml-nf forwards without virtio-net offloads (gro=0), with packet-at-a-time I/O (vec=0), and with timed polling (--poll 100).
# How: three boots in one lab (LAB_VEC_OPTS gro=0, vec=0, then gro=1 with --poll 100), host offloads off; ping both ways and 2 s iperf3 > 0 in each.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf23 umlnf

step "create lab; TSO/GSO/tx-checksum off on c-eth0 and s-eth0"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
# Plain MTU-sized frames with full checksums here (the endpoints' offloads
# off); GSO frames meeting gro=0 are test 25's business.
timeout 10 ip netns exec "$LAB_NS_CLIENT" ethtool -K c-eth0 tso off gso off tx off >/dev/null &&
timeout 10 ip netns exec "$LAB_NS_SERVER" ethtool -K s-eth0 tso off gso off tx off >/dev/null ||
	die "ethtool -K"

results=()
for opts in gro=0 vec=0 poll; do
	extra=()
	want_gro=0 want_vec=1
	[ "$opts" = vec=0 ] && want_vec=0
	vopts=$opts
	if [ "$opts" = poll ]; then
		extra=(--poll 100) want_gro=1 vopts=gro=1
	fi
	step "boot uml-nf with LAB_VEC_OPTS=$vopts ${extra[*]}"
	LAB_VEC_OPTS=$vopts lab_start_umlnf "$UMLNF" "$IMAGE" "${extra[@]}" || die "start ($opts)"
	echo "    args: ${LAB_UML_ARGS[0]} ${LAB_UML_ARGS[1]} ${extra[*]}"
	lab_wait_ready 60 || die "not ready ($opts)"
	grep -q "uml-nf: vec0: .*gro $want_gro, vec $want_vec" "$LAB_DIR/appliance.log" ||
		die "uml-nf did not report gro $want_gro, vec $want_vec for vec0"
	if [ "$opts" = poll ]; then
		grep -q "uml-nf: datapath: timed polling every 100 us" "$LAB_DIR/appliance.log" ||
			die "uml-nf did not report timed polling"
	fi

	step "[$opts] ping client -> server and server -> client"
	lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping1.txt" ||
		{ cat "$LAB_DIR/ping1.txt"; die "client -> server ($opts)"; }
	lab_ping server "$LAB_CLIENT_ADDR" 3 >"$LAB_DIR/ping2.txt" ||
		{ cat "$LAB_DIR/ping2.txt"; die "server -> client ($opts)"; }

	step "[$opts] iperf3 2 s"
	gbps=$(lab_iperf 2) || die "iperf3 ($opts)"
	echo "    $gbps Gbit/s"
	awk -v g="$gbps" 'BEGIN { exit !(g > 0) }' || die "zero throughput ($opts)"
	results+=("$opts:${gbps}Gbit/s")

	step "[$opts] stop"
	lab_stop_appliance 30
	rc=$?
	echo "    uml-nf $LAB_STOP_HOW, status $rc"
	# Clean shutdown is test 20's business; here only make room for the
	# next boot if a killed instance left its run directory.
	if [ -e "/run/uml-nf/$LAB_UMID" ]; then
		echo "    warning: removing stale /run/uml-nf/$LAB_UMID" >&2
		rm -rf "/run/uml-nf/$LAB_UMID"
	fi
	[ -z "$(lab_umid_pids)" ] || die "processes mentioning $LAB_UMID survive ($opts)"
done

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "gro=0, vec=0 and --poll 100 forward (${results[*]})"
