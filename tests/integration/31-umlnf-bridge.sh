#!/bin/bash
# Proves the bridge preset forwards at L2 between eth0 and eth1 (ping, ARP across the bridge, iperf3) and filters with its bridge-family nftables ruleset (a blocked MAC gets nowhere, counters move), on the stock kernel (modules from the image) and on the tuned kernel when built.
# How: client and server re-addressed into one subnet 10.0.9.0/24; boot uml-nf bridge.img nfstats=1 with an nfconf ruleset that includes /etc/bridge.nft and blocks a macvlan's MAC; checks neighbours, pings, iperf3 and the "nft forward" counter lines.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

TUNED=$(lab_tuned_kernel)
STOCK=${UMLNF_STOCK_KERNEL:-/usr/bin/linux.uml}
BRIDGE_IMAGE=${BRIDGE_IMAGE:-build/images/bridge.img}
[ -f "$BRIDGE_IMAGE" ] || { fail "image $BRIDGE_IMAGE not found (make image-bridge)"; exit 1; }
[ -x "$STOCK" ] || { fail "stock kernel $STOCK not found (install user-mode-linux)"; exit 1; }
IMAGE=$BRIDGE_IMAGE
lab_test_begin umlnf31 umlnf

CLIENT=10.0.9.1
SERVER=10.0.9.2
STRANGER=10.0.9.3
BLOCKED_MAC=02:00:00:00:09:bd
ALLOWED_MAC=02:00:00:00:09:0c

# Latest console packet counter of the bridge rule in CHAIN with COMMENT.
rule_packets() {
	grep -a "uml-nf-router: nft $1 .*comment \"$2\"" "$LAB_DIR/appliance.log" | tail -n 1 |
		sed -n 's/.* counter packets \([0-9]*\) .*/\1/p'
}

wait_fresh_stats() {
	local before i
	before=$(grep -ac 'uml-nf-router: nft ' "$LAB_DIR/appliance.log")
	for i in $(seq 50); do
		[ "$(grep -ac 'uml-nf-router: nft ' "$LAB_DIR/appliance.log")" -gt "$before" ] && sleep 0.5 && return 0
		sleep 0.2
	done
	return 1
}

ns_ping() { # NS [ping args...]
	local ns=$1
	shift
	timeout 15 ip netns exec "$ns" ping -c 3 -i 0.2 -w 4 "$@"
}

step "create lab; client and server in one subnet (no gateway), a macvlan 'stranger' on the client side"
lab_create || die "lab_create"
for ns in "$LAB_NS_CLIENT:c-eth0:$CLIENT" "$LAB_NS_SERVER:s-eth0:$SERVER"; do
	IFS=: read -r n dev addr <<<"$ns"
	timeout 10 ip -n "$n" addr flush dev "$dev" &&
	timeout 10 ip -n "$n" addr add "$addr/24" dev "$dev" || die "re-address $dev"
done
timeout 10 ip -n "$LAB_NS_CLIENT" link add mv0 link c-eth0 address "$BLOCKED_MAC" type macvlan mode bridge &&
timeout 10 ip -n "$LAB_NS_CLIENT" addr add "$STRANGER/24" dev mv0 &&
timeout 10 ip -n "$LAB_NS_CLIENT" link set mv0 up || die "macvlan mv0"
# lab_iperf binds the server to and connects to these.
LAB_CLIENT_ADDR=$CLIENT
LAB_SERVER_ADDR=$SERVER
client_mac=$(ip netns exec "$LAB_NS_CLIENT" cat /sys/class/net/c-eth0/address)
server_mac=$(ip netns exec "$LAB_NS_SERVER" cat /sys/class/net/s-eth0/address)

# The preset's ruleset, plus the stranger's MAC in its blocked_macs set.
mkdir -p "$LAB_DIR/conf"
cat >"$LAB_DIR/conf/router.conf" <<EOF
HOSTNAME=umlnf31
BRIDGE_FILTER=/mnt/nfconf/bridge-test.nft
EOF
cat >"$LAB_DIR/conf/bridge-test.nft" <<EOF
include "/etc/bridge.nft"
add element bridge filter blocked_macs { $BLOCKED_MAC }
EOF

# check_bridge KERNEL WHAT: one boot of bridge.img on KERNEL with all checks.
check_bridge() {
	local KERNEL=$1 what=$2 gbps ip4 arp blocked nb
	rm -f "$LAB_DIR/root.cow"
	# Neighbour entries from an earlier boot would hide a broken ARP path.
	ip -n "$LAB_NS_CLIENT" neigh flush all 2>/dev/null
	ip -n "$LAB_NS_SERVER" neigh flush all 2>/dev/null
	timeout 10 ip -n "$LAB_NS_CLIENT" link set mv0 address "$BLOCKED_MAC" || die "mv0 mac"

	step "[$what] boot uml-nf --kernel $KERNEL, bridge image, nfstats=1"
	lab_start_umlnf "$UMLNF" "$IMAGE" --kernel "$KERNEL" nfstats=1 || die "start"
	lab_wait_ready 60 || die "not ready"
	grep -a 'uml-nf-router: bridge' "$LAB_DIR/appliance.log" | sed 's/^/    /'
	grep -aq 'uml-nf-router: bridge br0 up, ports: eth0 eth1' "$LAB_DIR/appliance.log" ||
		die "no 'bridge br0 up, ports: eth0 eth1' line"
	grep -aq 'uml-nf-router: bridge filter loaded (/mnt/nfconf/bridge-test.nft)' "$LAB_DIR/appliance.log" ||
		die "bridge filter not loaded"

	step "[$what] ping client <-> server across the bridge"
	ns_ping "$LAB_NS_CLIENT" -I c-eth0 "$SERVER" >"$LAB_DIR/ping.txt" || { cat "$LAB_DIR/ping.txt"; die "client -> server ping"; }
	ns_ping "$LAB_NS_SERVER" "$CLIENT" >"$LAB_DIR/ping.txt" || { cat "$LAB_DIR/ping.txt"; die "server -> client ping"; }

	step "[$what] ARP resolved across the bridge (the peers' own MACs, not the guest's)"
	nb=$(ip -n "$LAB_NS_CLIENT" neigh show "$SERVER" dev c-eth0)
	echo "    client: $nb"
	[[ $nb == *"lladdr $server_mac "* ]] || die "client's neighbour entry for $SERVER is '$nb', want lladdr $server_mac"
	nb=$(ip -n "$LAB_NS_SERVER" neigh show "$CLIENT" dev s-eth0)
	echo "    server: $nb"
	[[ $nb == *"lladdr $client_mac "* ]] || die "server's neighbour entry for $CLIENT is '$nb', want lladdr $client_mac"

	step "[$what] iperf3 client -> server, 2 s"
	gbps=$(lab_iperf 2) || die "iperf3 across the bridge"
	echo "    $gbps Gbit/s"
	awk -v g="$gbps" 'BEGIN { exit !(g > 0) }' || die "throughput $gbps Gbit/s"

	step "[$what] filtering: the blocked MAC $BLOCKED_MAC gets nowhere, another MAC on the same port does"
	if ns_ping "$LAB_NS_CLIENT" -I mv0 "$SERVER" >"$LAB_DIR/ping-blocked.txt" 2>&1; then
		cat "$LAB_DIR/ping-blocked.txt"
		die "ping from blocked MAC $BLOCKED_MAC reached $SERVER"
	fi
	echo "    from $BLOCKED_MAC: $(grep -a 'packet loss' "$LAB_DIR/ping-blocked.txt")"
	timeout 10 ip -n "$LAB_NS_CLIENT" link set mv0 address "$ALLOWED_MAC" || die "mv0 mac"
	ns_ping "$LAB_NS_CLIENT" -I mv0 "$SERVER" >"$LAB_DIR/ping-allowed.txt" 2>&1 ||
		{ cat "$LAB_DIR/ping-allowed.txt"; die "ping from $ALLOWED_MAC (same port, not blocked) failed"; }
	echo "    from $ALLOWED_MAC: $(grep -a 'packet loss' "$LAB_DIR/ping-allowed.txt")"

	step "[$what] bridge rule counters from the guest console (nfstats)"
	wait_fresh_stats || die "no fresh 'uml-nf-router: nft' lines on the console"
	for c in "blocked source MAC" arp ipv4; do
		grep -a "uml-nf-router: nft forward .*comment \"$c\"" "$LAB_DIR/appliance.log" | tail -n 1 | sed 's/^/    /'
	done
	ip4=$(rule_packets forward ipv4)
	arp=$(rule_packets forward arp)
	blocked=$(rule_packets forward "blocked source MAC")
	[ -n "$ip4" ] && [ "$ip4" -gt 0 ] || die "forward 'ipv4' counter is '$ip4', want > 0"
	[ -n "$arp" ] && [ "$arp" -gt 0 ] || die "forward 'arp' counter is '$arp', want > 0"
	[ -n "$blocked" ] && [ "$blocked" -gt 0 ] || die "forward 'blocked source MAC' counter is '$blocked', want > 0"

	step "[$what] stop (SIGTERM): exit status must be 0"
	lab_stop_clean 30 || die "unclean stop"
	summary+=("$what: ping/ARP/iperf3 across br0 ($gbps Gbit/s), ipv4 $ip4 arp $arp pkts, blocked MAC dropped ($blocked pkts)")
}

summary=()
check_bridge "$STOCK" "stock kernel"
if lab_have_tuned "bridge checked on the stock kernel only"; then
	check_bridge "$TUNED" "tuned kernel"
fi

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
for s in "${summary[@]}"; do pass "bridge preset, $s"; done
