#!/bin/bash
# Proves ring=xdp (AF_XDP receive, native XDP program) and ring=xdpskb (generic mode) forward: small frames through the XDP socket, TCP with GSO frames through the packet socket, the program attached only while uml-nf runs (gone after a clean stop and after kill -9); a kernel that refuses AF_XDP is a skip with its reason.
# How: boots in one lab; a tshark capture on p-veth0 sees none of the 500 echo requests that crossed (XDP took them before the stack); `ip link` shows the program on p-veth0/p-veth1 while running and none after a clean stop or a kill -9 (a BPF link dies with its fd); a 500-ping burst counted whole, iperf3 both ways; the restart after kill -9 forwards.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf86 umlnf

step "create lab"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"

stats() { lab_stats_field "$LAB_DIR/appliance.log" "$1" "$2"; }
xdp_on() { timeout 5 ip -n "$LAB_NS_HOST" -d link show "$1" | grep -Eq 'prog/xdp|xdpgeneric|xdp '; }

# boot MODE: start with ring=MODE on both devices; skips the test when the
# kernel (or this build) refuses AF_XDP.
boot() {
	LAB_VEC_OPTS=gro=1,ring=$1 lab_start_umlnf "$UMLNF" "$IMAGE" || die "start ($1)"
	local i
	for i in $(seq 100); do
		grep -q 'uml-nf-router: ready\|ring: AF_XDP' "$LAB_DIR/appliance.log" 2>/dev/null && break
		_lab_running "$LAB_APPLIANCE_PID" || break
		sleep 0.2
	done
	if grep -q 'ring: AF_XDP' "$LAB_DIR/appliance.log"; then
		local why
		why=$(grep -m1 'ring: AF_XDP' "$LAB_DIR/appliance.log" | sed 's/^uml-nf: error: //')
		lab_stop_appliance 5 >/dev/null
		lab_destroy
		skip_test "ring=$1 refused here: $why"
	fi
	lab_wait_ready 60 || die "not ready ($1)"
	grep -q "uml-nf: vec0: ring=$1 on p-veth0" "$LAB_DIR/appliance.log" || die "no ring=$1 line"
}

traffic() { # MODE
	lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "ping ($1)"
	timeout 30 ip netns exec "$LAB_NS_CLIENT" ping -q -c 500 -i 0.002 -W 1 "$LAB_SERVER_ADDR" \
		>"$LAB_DIR/burst.txt" 2>&1
	grep -q ' 0% packet loss' "$LAB_DIR/burst.txt" || { cat "$LAB_DIR/burst.txt"; die "ping burst lost frames ($1)"; }
	G1=$(lab_iperf 2) || die "iperf3 ($1)"
	G2=$(lab_iperf 2 -R) || die "iperf3 -R ($1)"
	awk -v a="$G1" -v b="$G2" 'BEGIN { exit !(a > 0 && b > 0) }' || die "zero throughput ($1)"
	echo "    [$1] ping burst whole, TCP $G1 / $G2 Gbit/s"
}

step "ring=xdp with a receive filter: refused, exit 2"
out=$(timeout 20 ip netns exec "$LAB_NS_HOST" "$UMLNF" "vec0:transport=raw,ifname=p-veth0,ring=xdp,bpf=icmp" \
	"umid=$LAB_UMID-bad" 2>&1 </dev/null)
rc=$?
[ "$rc" = 2 ] && grep -q 'vec0: ring: receive filters' <<<"$out" || die "ring=xdp,bpf= not refused ($rc: $out)"

step "ring=xdp: program attached; ICMP taken by XDP (a capture on p-veth0 sees no request), TCP forwarded"
boot xdp
xdp_on p-veth0 && xdp_on p-veth1 || die "no XDP program on p-veth0/p-veth1 while running"
# Taps see what the stack receives; frames XDP redirects never get there.
lab_capture_start host p-veth0 "icmp[icmptype] == icmp-echo" || die "tshark"
traffic xdp
lab_capture_stop
seen=$(timeout 20 ip netns exec "$LAB_NS_HOST" tshark -r "$LAB_CAPTURE_FILE" 2>/dev/null | wc -l)
[ "$seen" = 0 ] || die "$seen echo requests reached the host stack on p-veth0: not taken by XDP"
r1="$G1/$G2"
lab_stop_clean 30 || die "clean stop (xdp)"
for d in vec0 vec1; do
	for k in rx_oversize tx_bad_hdr tx_bad_frame host_tx_errors; do
		[ "$(stats "$d" "$k")" = 0 ] || die "$d $k=$(stats "$d" "$k") (xdp)"
	done
done
[ "$(stats vec0 rx_packets)" -ge 500 ] || die "vec0 rx_packets $(stats vec0 rx_packets) < 500"
if xdp_on p-veth0 || xdp_on p-veth1; then die "XDP program left attached after a clean stop"; fi
rm -f "$LAB_DIR/root.cow"

step "ring=xdpskb: kill -9 takes the program with it; the next start forwards"
boot xdpskb
xdp_on p-veth0 || die "no generic XDP program on p-veth0"
lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "ping (xdpskb)"
kill -KILL "$LAB_APPLIANCE_PID"
for i in $(seq 50); do [ -z "$(lab_umid_pids)" ] && break; sleep 0.1; done
lab_stop_appliance 2 >/dev/null
if xdp_on p-veth0 || xdp_on p-veth1; then die "the killed uml-nf's XDP program stayed attached"; fi
rm -f "$LAB_DIR/root.cow"
boot xdpskb
traffic xdpskb
r2="$G1/$G2"
lab_stop_clean 30 || die "clean stop (xdpskb)"
if xdp_on p-veth0 || xdp_on p-veth1; then die "XDP program left attached (xdpskb)"; fi

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "ring=xdp TCP $r1, ring=xdpskb TCP $r2 Gbit/s; 500-ping bursts whole; program attached only while uml-nf runs, kill -9 included"
