#!/bin/bash
# Proves tap and hybrid survive their tap disappearing under traffic: the device goes down with one warning and without spinning the datapath, and resumes by itself when the tap is re-created or set up again.
# How: per transport, a ping flood server -> client through the appliance on persistent taps; p-tap0 deleted mid-flood (datapath thread CPU over 2 s must stay low), re-created and bridged again: ping works within 10 s; then p-tap1 down and up: ping again; exit stats show port_downs; SIGTERM exit 0.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

KERNEL=${UMLNF_STOCK_KERNEL:-/usr/bin/linux.uml}
export UMLNF_KERNEL=$KERNEL
lab_test_begin umlnf54 umlnf

ping_back() { # NS DST: ping works again within 10 s
	local i
	for i in $(seq 20); do
		timeout 3 ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}

# CPU time (ns) the datapath thread of uml-nf PID has used.
dp_ns() {
	local t
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = nf-datapath ] && { awk '{ print $1 }' "$t/schedstat"; return; }
	done
	echo 0
}

for tr in tap hybrid; do
	step "[$tr] lab with persistent taps, boot"
	lab_create || die "lab_create"
	lab_write_conf || die "lab_write_conf"
	lab_bridge_taps || die "taps"
	LAB_VEC_TRANSPORT=$tr LAB_VEC_IF0=p-tap0 LAB_VEC_IF1=p-tap1 lab_start_umlnf "$UMLNF" "$IMAGE" ||
		die "start"
	lab_wait_ready 60 || die "not ready"
	lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "[$tr] ping before the fault"

	step "[$tr] delete p-tap0 under a ping flood; the datapath must not spin"
	timeout 20 ip netns exec "$LAB_NS_SERVER" ping -f -w 6 "$LAB_CLIENT_ADDR" >/dev/null 2>&1 &
	flood=$!
	_lab_track "$flood"
	sleep 1
	timeout 10 ip -n "$LAB_NS_HOST" link del p-tap0 || die "delete p-tap0"
	sleep 0.5
	a=$(dp_ns "$LAB_APPLIANCE_PID")
	sleep 2
	b=$(dp_ns "$LAB_APPLIANCE_PID")
	pct=$(( (b - a) / 20000000 ))
	echo "    datapath thread: $pct % of a CPU while p-tap0 is gone"
	[ "$pct" -lt 30 ] || die "[$tr] the datapath spins ($pct %) while its tap is gone"
	grep -aq "uml-nf: warning: vec0: host side of the $tr transport is gone" "$LAB_DIR/appliance.log" ||
		die "[$tr] no warning that vec0 went down"

	step "[$tr] re-create p-tap0 (persistent, bridged again): ping within 10 s"
	timeout 10 ip -n "$LAB_NS_HOST" tuntap add dev p-tap0 mode tap &&
	timeout 10 ip -n "$LAB_NS_HOST" link set p-tap0 master p-br0 &&
	timeout 10 ip -n "$LAB_NS_HOST" link set p-tap0 up || die "re-create p-tap0"
	ping_back "$LAB_NS_CLIENT" "$LAB_SERVER_ADDR" || die "[$tr] no ping after p-tap0 came back"
	grep -aq "uml-nf: vec0: host side of the $tr transport is back" "$LAB_DIR/appliance.log" ||
		die "[$tr] vec0 did not report it is back"
	wait "$flood" 2>/dev/null

	step "[$tr] p-tap1 down for 2 s, then up: ping within 10 s"
	timeout 10 ip -n "$LAB_NS_HOST" link set p-tap1 down || die "p-tap1 down"
	sleep 2
	timeout 10 ip -n "$LAB_NS_HOST" link set p-tap1 up || die "p-tap1 up"
	ping_back "$LAB_NS_CLIENT" "$LAB_SERVER_ADDR" || die "[$tr] no ping after p-tap1 came up"
	sleep 1
	lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "[$tr] pings lost after p-tap1 came up"

	step "[$tr] stop (SIGTERM)"
	lab_stop_clean 30 || die "unclean stop"
	grep -a 'uml-nf: stats dev=vec0' "$LAB_DIR/appliance.log" | grep -o 'port_downs=[0-9]*\|tx_host_down=[0-9]*' |
		tr '\n' ' ' | sed 's/^/    vec0: /'
	echo
	grep -aq 'uml-nf: stats dev=vec0 .* port_downs=[1-9]' "$LAB_DIR/appliance.log" ||
		die "[$tr] vec0 port_downs not counted"
	lab_destroy
	lab_assert_clean || exit 1
	lab_init "umlnf54$tr" || exit 1
done
pass "tap and hybrid ride out their tap being deleted, re-created, set down and up"
