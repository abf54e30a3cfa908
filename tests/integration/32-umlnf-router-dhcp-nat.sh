#!/bin/bash
# Proves the router preset takes IF1's address, default route and DNS by DHCP (IF1_ADDR=dhcp, busybox udhcpc) and masquerades inside traffic out of IF1 (NAT_OUT=1): with iptables-legacy on the stock kernel (always) and with nftables on the tuned kernel (when built).
# How: busybox udhcpd serves the server-side link from the server namespace, which has no route back to the inside; boot router.img per kernel, read the lease line, ping/iperf3 client -> server and a server address reached only via the leased default route; the server must see the leased address as peer; NAT counter lines on the console.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

TUNED=$(lab_tuned_kernel)
STOCK=${UMLNF_STOCK_KERNEL:-/usr/bin/linux.uml}
[ -x "$STOCK" ] || { fail "stock kernel $STOCK not found (install user-mode-linux)"; exit 1; }
BUSYBOX=${BUSYBOX:-/bin/busybox}
"$BUSYBOX" udhcpd --help >/dev/null 2>&1 || { fail "$BUSYBOX has no udhcpd (install busybox-static)"; exit 1; }
lab_test_begin umlnf32 umlnf

# An address on the server's loopback: the guest reaches it only through the
# default route it leased (router option = the server).
FAR=192.0.2.77

step "create lab; the server forgets its route back to the inside and serves DHCP on s-eth0"
lab_create || die "lab_create"
timeout 10 ip -n "$LAB_NS_SERVER" route del default || die "server: route del default"
timeout 10 ip -n "$LAB_NS_SERVER" addr add "$FAR/32" dev lo || die "server: $FAR on lo"
cat >"$LAB_DIR/udhcpd.conf" <<EOF
interface s-eth0
start 10.0.2.50
end 10.0.2.59
max_leases 10
lease_file $LAB_DIR/udhcpd.leases
pidfile $LAB_DIR/udhcpd.pid
option subnet 255.255.255.0
option router $LAB_SERVER_ADDR
option dns $LAB_SERVER_ADDR
option domain lab.test
option lease 600
EOF
: >"$LAB_DIR/udhcpd.leases"
ip netns exec "$LAB_NS_SERVER" timeout 120 "$BUSYBOX" udhcpd -f "$LAB_DIR/udhcpd.conf" \
	</dev/null >"$LAB_DIR/udhcpd.log" 2>&1 &
udhcpd=$!
_lab_track "$udhcpd"

lab_write_conf || die "lab_write_conf"
cat >>"$LAB_DIR/conf/router.conf" <<EOF
IF1_ADDR=dhcp
DHCP_WAIT=10
NAT_OUT=1
EOF

# nat_packets RULES: latest console packet counter of the NAT_OUT eth1 rule.
nat_packets() {
	if [ "$1" = nft ]; then
		grep -a 'uml-nf-router: nft postrouting .*comment "NAT_OUT eth1"' "$LAB_DIR/appliance.log" |
			tail -n 1 | sed -n 's/.* counter packets \([0-9]*\) .*/\1/p'
	else
		grep -a 'uml-nf-router: iptables nat POSTROUTING .*/\* NAT_OUT eth1 \*/' "$LAB_DIR/appliance.log" |
			tail -n 1 | sed -n 's/.* packets \([0-9]*\) bytes .*/\1/p'
	fi
}

# check_router KERNEL WHAT RULES NATLINE: one boot of router.img on KERNEL.
check_router() {
	local KERNEL=$1 what=$2 rules=$3 natline=$4 lease addr gbps peer nat i
	rm -f "$LAB_DIR/root.cow"
	step "[$what] boot uml-nf --kernel $KERNEL, router image, IF1 by DHCP, NAT_OUT=1, nfstats=1"
	lab_start_umlnf "$UMLNF" "$IMAGE" --kernel "$KERNEL" nfstats=1 || die "start"
	lab_wait_ready 60 || die "not ready"
	grep -a 'uml-nf-router: \(dhcp\|eth1\|NAT\)' "$LAB_DIR/appliance.log" | sed 's/^/    /'

	lease=$(grep -a 'uml-nf-router: dhcp eth1 bound ' "$LAB_DIR/appliance.log" | tail -n 1)
	[ -n "$lease" ] || die "no 'dhcp eth1 bound' line: $(grep -a 'dhcp' "$LAB_DIR/appliance.log")"
	addr=$(sed -n 's/.* bound \(10\.0\.2\.5[0-9]\)\/24 router 10\.0\.2\.2 dns 10\.0\.2\.2 .*/\1/p' <<<"$lease")
	[ -n "$addr" ] || die "lease line '$lease' lacks 10.0.2.5x/24, router and dns 10.0.2.2"
	grep -aq "uml-nf-router: NAT: masquerading IPv4 out of eth1 ($natline" "$LAB_DIR/appliance.log" ||
		die "no 'NAT: masquerading IPv4 out of eth1 ($natline' line"

	step "[$what] ping client -> server (replies only come back through NAT) and -> $FAR (leased default route)"
	lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping.txt" || { cat "$LAB_DIR/ping.txt"; die "client -> server ping"; }
	lab_ping client "$FAR" 3 >"$LAB_DIR/ping.txt" || { cat "$LAB_DIR/ping.txt"; die "client -> $FAR ping"; }

	step "[$what] iperf3 client -> server, 2 s: the server must see the guest's leased address $addr"
	gbps=$(lab_iperf 2) || die "iperf3 through NAT"
	echo "    $gbps Gbit/s"
	peer=$(sed -n 's/.*Accepted connection from \([0-9.]*\), port.*/\1/p' "$LAB_DIR/iperf-server.log" | head -n 1)
	echo "    server saw the connection from $peer"
	[ "$peer" = "$addr" ] || die "server saw peer '$peer', want the guest's leased address $addr (NAT)"

	step "[$what] NAT rule counter from the guest console (nfstats)"
	for i in $(seq 25); do
		nat=$(nat_packets "$rules")
		[ -n "$nat" ] && [ "$nat" -gt 0 ] && break
		sleep 0.2
	done
	grep -a "uml-nf-router: $rules .*NAT_OUT eth1" "$LAB_DIR/appliance.log" | tail -n 1 | sed 's/^/    /'
	[ -n "$nat" ] && [ "$nat" -gt 0 ] || die "NAT_OUT eth1 counter is '$nat', want > 0"

	step "[$what] stop (SIGTERM): exit status must be 0"
	lab_stop_clean 30 || die "unclean stop"
	summary+=("$what: DHCP lease $addr, NAT ($rules, $nat pkts), server saw $peer, $gbps Gbit/s")
}

summary=()
check_router "$STOCK" "stock kernel" iptables "iptables-legacy fallback: stock kernel has no nftables ip family"
if lab_have_tuned "NAT with nftables not checked"; then
	check_router "$TUNED" "tuned kernel" nft "nft"
fi

step "destroy and assert clean"
kill "$udhcpd" 2>/dev/null
wait "$udhcpd" 2>/dev/null
lab_destroy
lab_assert_clean || exit 1
for s in "${summary[@]}"; do pass "router preset, $s"; done
