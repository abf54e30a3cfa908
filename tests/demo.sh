#!/bin/bash
# Demo: boots the router appliance between a client and a server namespace and
# shows it forwarding: ping, a 5-second iperf3 TCP run, clean shutdown, cleanup.
#
# env: UMLNF (default build/uml-nf), IMAGE (default build/images/router.img),
#      DEMO_STOCK=1 to run the stock UML vector raw transport (linux.uml)
#      instead of uml-nf, LAB_KEEP=1 to keep the lab directory.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

UMLNF=${UMLNF:-build/uml-nf}
IMAGE=${IMAGE:-build/images/router.img}
IPERF_SECONDS=${IPERF_SECONDS:-5}

die() {
	fail "$*"
	lab_log_tail 30
	exit 1
}

if [ "${DEMO_STOCK:-0}" = 1 ]; then
	kind="stock linux.uml (vector raw transport, guest NICs vec0/vec1)"
else
	kind="uml-nf $UMLNF (vhost-user, guest NICs eth0/eth1)"
fi
echo "uml-nf demo: router image $IMAGE on $kind"
[ -f "$IMAGE" ] || die "image $IMAGE not found (make image)"

lab_init demo || exit 1
step "creating the lab: namespaces $LAB_NS_CLIENT, $LAB_NS_HOST, $LAB_NS_SERVER"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
echo "    client  $LAB_NS_CLIENT  c-eth0 $LAB_CLIENT_ADDR/24 via $LAB_IF0_ADDR"
echo "    router  $LAB_NS_HOST    p-veth0 <-> guest IF0 $LAB_IF0_ADDR/24," \
	"p-veth1 <-> guest IF1 $LAB_IF1_ADDR/24"
echo "    server  $LAB_NS_SERVER  s-eth0 $LAB_SERVER_ADDR/24 via $LAB_IF1_ADDR"

step "booting the appliance (log: $LAB_DIR/appliance.log)"
t0=$(date +%s.%N)
if [ "${DEMO_STOCK:-0}" = 1 ]; then
	lab_start_stock "$IMAGE" || die "cannot start linux.uml"
else
	lab_start_umlnf "$UMLNF" "$IMAGE" || die "cannot start uml-nf"
fi
echo "    pid $LAB_APPLIANCE_PID, umid $LAB_UMID"

step "waiting for the guest's devices and the ready line"
lab_wait_ready 60 || die "appliance did not become ready"
t1=$(date +%s.%N)
grep -a 'uml-nf-router:' "$LAB_DIR/appliance.log" | sed 's/^/    guest: /'
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "    ready after %.1f s\n", b - a }'

step "client and server addressing (the guest's own view is on its console above)"
for ns in "$LAB_NS_CLIENT" "$LAB_NS_SERVER"; do
	timeout 5 ip -n "$ns" -br addr show | grep -v '^lo' | sed "s/^/    $ns: /"
	timeout 5 ip -n "$ns" route show default | sed "s/^/    $ns: /"
done

step "ping client -> server through the appliance"
out=$(lab_ping client "$LAB_SERVER_ADDR" 3) || { echo "$out"; die "ping failed"; }
echo "$out" | grep -E 'packets transmitted|rtt|round-trip' | sed 's/^/    /'

step "iperf3 TCP client -> server, $IPERF_SECONDS s"
gbps=$(lab_iperf "$IPERF_SECONDS") || die "iperf3 failed"
retr=$(awk '/"sum_sent"/ {f = 1} f && /"retransmits"/ {
	gsub(/[^0-9]/, "", $2); print $2; exit }' "$LAB_DIR/iperf.json")
echo "    throughput: $gbps Gbit/s (retransmits: ${retr:-n/a})"

step "clean shutdown (SIGTERM)"
lab_stop_appliance 20
rc=$?
echo "    appliance $LAB_STOP_HOW, exit status $rc"
[ "$LAB_STOP_HOW" = exited ] || die "appliance did not exit on SIGTERM"

step "cleanup"
lab_destroy
lab_assert_clean || die "lab not clean"
echo "    namespaces, processes and $LAB_DIR removed"
pass "demo: ping ok, $gbps Gbit/s"
