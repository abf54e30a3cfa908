#!/bin/bash
# Proves L2TPv3/UDP receive with UDP GRO: runs of datagrams uml-nf sends with UDP_SEGMENT come back from the host as one buffer, are cut and checked datagram by datagram, and TCP goes through intact both ways, IPv4 and IPv6; UMLNF_UDP_GRO=0 still works.
# How: the bench's one-guest loop (tests/tunnel-lab.sh: both tunnel ends in one uml-nf guest over the host's lo, 64-bit cookies and counter); ping, iperf3 both ways; the receiving ends' rx_gro_runs must move and no drop counter may; a clean stop.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../tunnel-lab.sh"

lab_test_begin tun95 umlnf
[ -f "$TL_IMAGE" ] || die "bridge image $TL_IMAGE not found (make image-bridge)"
step "create lab"
tl_create || die "tl_create"
tl_loop_conf "$LAB_DIR/conf" || die "conf"
img=$(readlink -f "$TL_IMAGE")

# run_case NAME GRO V6: GRO 1 wants rx_gro_runs to move, 0 wants none.
run_case() {
	local name=$1 gro=$2 v6=$3 a b line k v dev fwd rev
	tl_loop_opts l2tpv3udp || return 1
	a=$TL_A b=$TL_B
	if [ "$v6" = 1 ]; then
		a=${a/src=10.9.0.1,dst=10.9.0.2/v6=1,src=fd09::1,dst=fd09::2}
		b=${b/src=10.9.0.2,dst=10.9.0.1/v6=1,src=fd09::2,dst=fd09::1}
	fi
	step "[$name] boot the loop (UMLNF_UDP_GRO=$gro)"
	rm -f "$LAB_DIR/root.cow"
	UMLNF_UDP_GRO=$gro lab_start_appliance "$UMLNF" "vec0:transport=raw,ifname=p-veth0,gro=1" \
		"vec1:$a,gro=1" "vec2:$b,gro=1" "vec3:transport=raw,ifname=p-veth1,gro=1" mem=256M \
		"ubd0=$LAB_DIR/root.cow,$img" root=/dev/ubda con=null con0=fd:0,fd:1 \
		"umid=$LAB_UMID" "nfconf=$LAB_DIR/conf" || return 1
	lab_wait_ready 60 || { fail "[$name] not ready"; return 1; }
	tl_ping 3 >/dev/null || tl_ping 3 >/dev/null || { fail "[$name] no ping"; return 1; }
	fwd=$(tl_iperf 3) || { fail "[$name] iperf3 forward"; return 1; }
	rev=$(tl_iperf 3 -R) || { fail "[$name] iperf3 reverse"; return 1; }
	echo "    iperf3: $fwd Gbit/s forward, $rev reverse"
	lab_stop_clean 30 || return 1
	for dev in vec1 vec2; do
		line=$(grep "uml-nf: stats dev=$dev " "$LAB_DIR/appliance.log") ||
			{ fail "[$name] no stats for $dev"; return 1; }
		for k in rx_short rx_bad_hdr rx_bad_session rx_bad_cookie rx_bad_counter \
			rx_wrong_peer; do
			v=$(tl_stat "$line" "$k")
			[ "${v:-0}" -eq 0 ] || { fail "[$name] $dev $k=$v"; return 1; }
		done
		v=$(tl_stat "$line" rx_gro_runs)
		echo "    $dev: rx_gro_runs=${v:-none} rx_gro_dgrams=$(tl_stat "$line" rx_gro_dgrams)"
		if [ "$gro" = 1 ]; then
			[ "${v:-0}" -gt 0 ] || { fail "[$name] $dev: no GRO runs received"; return 1; }
		else
			[ -z "$v" ] || { fail "[$name] $dev: GRO on with UMLNF_UDP_GRO=0"; return 1; }
		fi
	done
	mv "$LAB_DIR/appliance.log" "$LAB_DIR/$name.log"
}

run_case ipv4 1 0 || die "ipv4"
run_case ipv6 1 1 || die "ipv6"
run_case ipv4-off 0 0 || die "ipv4 without GRO"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "l2tpv3/UDP GRO receive: runs cut and checked, TCP both ways over IPv4 and IPv6, off switch works"
