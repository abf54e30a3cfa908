#!/bin/bash
# Proves uml-nf survives its host interface disappearing under traffic: the device goes down with one warning, guest frames are dropped and counted meanwhile, and forwarding resumes by itself when the interface is re-created (new index) or set up again.
# How: ping flood server -> client through the appliance; delete the veth pair p-veth0/c-eth0 mid-flood, re-create it with the same names and addresses; ping must work again within 10 s; then p-veth1 down and up, then the far peer c-eth0 down and up; exit stats show port_downs and tx_host_down; SIGTERM exit 0; under ASan when built.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin fault61 umlnf
BIN=$UMLNF
[ -x "${UMLNF_SAN:-}" ] && BIN=$UMLNF_SAN

step "create lab, boot ($BIN)"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
lab_start_umlnf "$BIN" "$IMAGE" || die "start"
lab_wait_ready 90 || die "not ready"
lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "ping before the fault"

recreate_client_link() {
	timeout 10 ip -n "$LAB_NS_HOST" link add p-veth0 type veth peer name c-eth0 \
		netns "$LAB_NS_CLIENT" &&
	timeout 10 ip netns exec "$LAB_NS_HOST" sysctl -qw net.ipv6.conf.p-veth0.disable_ipv6=1 &&
	timeout 10 ip -n "$LAB_NS_HOST" link set p-veth0 up &&
	timeout 10 ip -n "$LAB_NS_CLIENT" addr add "$LAB_CLIENT_ADDR/24" dev c-eth0 &&
	timeout 10 ip -n "$LAB_NS_CLIENT" link set c-eth0 up &&
	timeout 10 ip -n "$LAB_NS_CLIENT" route add default via "$LAB_IF0_ADDR"
}

ping_back() { # NS DST: ping works again within 10 s
	local i
	for i in $(seq 20); do
		timeout 3 ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}

step "delete p-veth0/c-eth0 under a ping flood, re-create it"
timeout 20 ip netns exec "$LAB_NS_SERVER" ping -f -w 8 "$LAB_CLIENT_ADDR" >/dev/null 2>&1 &
flood=$!
_lab_track "$flood"
sleep 1
timeout 10 ip -n "$LAB_NS_HOST" link del p-veth0 || die "ip link del p-veth0"
sleep 2
_lab_running "$LAB_APPLIANCE_PID" || die "uml-nf died when its interface was deleted"
grep -aq "vec0: host side of the raw transport is gone" "$LAB_DIR/appliance.log" ||
	die "no warning that vec0's interface went away"
recreate_client_link || die "re-create p-veth0/c-eth0"
ping_back "$LAB_NS_CLIENT" "$LAB_SERVER_ADDR" || { kill -USR1 "$LAB_APPLIANCE_PID"; sleep 1; ip -n "$LAB_NS_CLIENT" neigh >&2; die "no forwarding after p-veth0 came back"; }
grep -aq "vec0: host side of the raw transport is back" "$LAB_DIR/appliance.log" ||
	die "no line saying vec0 is back"
wait "$flood" 2>/dev/null
echo "    $(grep -a 'vec0: p-veth0 is back\|vec0: host side' "$LAB_DIR/appliance.log" | tr '\n' ' ')"

step "p-veth1 down for 2 s under traffic, then up"
timeout 10 ip -n "$LAB_NS_HOST" link set p-veth1 down || die "link down"
timeout 5 ip netns exec "$LAB_NS_CLIENT" ping -c 3 -i 0.2 -W 1 "$LAB_SERVER_ADDR" >/dev/null 2>&1
sleep 1
timeout 10 ip -n "$LAB_NS_HOST" link set p-veth1 up || die "link up"
ping_back "$LAB_NS_CLIENT" "$LAB_SERVER_ADDR" || die "no forwarding after p-veth1 came up"

step "far peer gone: c-eth0 down for 2 s (p-veth0 loses carrier), then up"
timeout 10 ip -n "$LAB_NS_CLIENT" link set c-eth0 down || die "peer down"
timeout 5 ip netns exec "$LAB_NS_SERVER" ping -c 5 -i 0.2 -W 1 "$LAB_CLIENT_ADDR" >/dev/null 2>&1
_lab_running "$LAB_APPLIANCE_PID" || die "uml-nf died when the far peer went away"
timeout 10 ip -n "$LAB_NS_CLIENT" link set c-eth0 up &&
	timeout 10 ip -n "$LAB_NS_CLIENT" route replace default via "$LAB_IF0_ADDR" || die "peer up"
ping_back "$LAB_NS_CLIENT" "$LAB_SERVER_ADDR" || die "no forwarding after the far peer came back"

step "stop; counters"
lab_stop_clean 30 || die "clean stop"
! grep -aq "ERROR: AddressSanitizer\|runtime error:" "$LAB_DIR/appliance.log" || die "sanitizer report"
line0=$(grep -a 'uml-nf: stats dev=vec0' "$LAB_DIR/appliance.log")
downs=$(sed -n 's/.* port_downs=\([0-9]*\).*/\1/p' <<<"$line0")
dropped=$(sed -n 's/.* tx_host_down=\([0-9]*\).*/\1/p' <<<"$line0")
echo "    vec0 port_downs=$downs tx_host_down=$dropped"
[ "${downs:-0}" -ge 1 ] || die "vec0 port_downs not counted"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "interface deleted and re-created, and set down and up: uml-nf recovered by itself"
