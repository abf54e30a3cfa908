#!/bin/bash
# Proves the rootless pattern: uml-nf running as an unprivileged system user, with no capabilities, serves descriptors a privileged parent opened (an AF_PACKET socket with vnet headers, a tap with 12-byte vnet headers), offloads included.
# How: a system user made for the test; tests/helpers/fdpass (root) opens both, drops to the user and execs uml-nf (fd=3, fd=4, gro=1); check its uid and CapEff, ping and iperf3 both ways, tshark on the tap; clean stop as the user.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf57 umlnf
UMLNF=$(readlink -f "$UMLNF")
IMAGE=$(readlink -f "$IMAGE")
[ "$(id -u)" -eq 0 ] || skip_test "needs root to create the user and open the descriptors"
command -v useradd >/dev/null || skip_test "no useradd"
command -v tshark >/dev/null || skip_test "tshark not installed (make deps)"
[ -c /dev/net/tun ] || skip_test "no /dev/net/tun"
HELPERS=${UMLNF_HELPERS:-build/test-helpers}
[ -x "$HELPERS/fdpass" ] || make -s --no-print-directory test-helpers >/dev/null ||
	die "test helpers not built (make test-helpers)"
FDPASS=$(readlink -f "$HELPERS/fdpass")

# The user: made here, removed at exit (unless it existed before).
NFUSER=umlnf-rootless
made_user=0
if ! id "$NFUSER" >/dev/null 2>&1; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$NFUSER" ||
		die "useradd $NFUSER"
	made_user=1
fi
trap 'rc=$?; trap - EXIT; lab_destroy; [ "$made_user" = 1 ] && userdel "$NFUSER" 2>/dev/null; exit $rc' EXIT
for p in "$UMLNF" "$IMAGE"; do
	setpriv --reuid="$NFUSER" --regid="$NFUSER" --clear-groups test -r "$p" ||
		skip_test "$NFUSER cannot read $p (its directories are not world-readable)"
done

step "create lab; tap p-tap1 bridged to p-veth1 (the server's side)"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
H=$LAB_NS_HOST
timeout 10 ip -n "$H" tuntap add dev p-tap1 mode tap &&
	timeout 10 ip -n "$H" link add p-br1 type bridge stp_state 0 forward_delay 0 &&
	timeout 10 ip -n "$H" link set p-tap1 master p-br1 &&
	timeout 10 ip -n "$H" link set p-veth1 master p-br1 &&
	timeout 10 ip -n "$H" link set p-tap1 up &&
	timeout 10 ip -n "$H" link set p-br1 up || die "tap/bridge"
# What the user may touch: its own directory (COW root, run dir), the config.
chmod 711 "$LAB_DIR" && chmod -R a+rX "$LAB_DIR/conf" &&
	mkdir "$LAB_DIR/user" && chown "$NFUSER:" "$LAB_DIR/user" || die "permissions"

step "fdpass (root) opens packet socket on p-veth0 (fd 3) and tap p-tap1 (fd 4), becomes $NFUSER, execs uml-nf"
lab_start_appliance "$FDPASS" --packet p-veth0,vnet --tap p-tap1,vnet=12 --user "$NFUSER" -- \
	env UMLNF_RUNDIR="$LAB_DIR/user/run" TMPDIR=/dev/shm "$UMLNF" \
	vec0:transport=fd,fd=3,gro=1 vec1:transport=fd,fd=4,gro=1 mem=256M \
	"ubd0=$LAB_DIR/user/root.cow,$IMAGE" root=/dev/ubda con=null con0=fd:0,fd:1 \
	"umid=$LAB_UMID" "nfconf=$LAB_DIR/conf" || die "start"
lab_wait_ready 60 || die "not ready"
pid=$LAB_APPLIANCE_PID
uid=$(awk '/^Uid:/ { print $3 }' "/proc/$pid/status")
cap=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")
comm=$(cat "/proc/$pid/comm")
echo "    $comm (pid $pid): effective uid $uid ($(id -nu "$uid")), CapEff $cap"
[ "$comm" = uml-nf ] || die "pid $pid is $comm, not uml-nf"
[ "$uid" = "$(id -u "$NFUSER")" ] || die "uml-nf runs as uid $uid"
[ "$cap" = 0000000000000000 ] || die "uml-nf has capabilities $cap"
grep -q 'vec0: fd: descriptor 3: AF_PACKET socket on p-veth0, 10-byte virtio-net headers' "$LAB_DIR/appliance.log" ||
	die "vec0 kind line"
grep -q 'vec1: fd: descriptor 4: tap p-tap1, 12-byte virtio-net headers' "$LAB_DIR/appliance.log" ||
	die "vec1 kind line"

step "ping both ways, tshark on p-tap1"
lab_capture_start host p-tap1 icmp || die "capture"
lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping1.txt" || { cat "$LAB_DIR/ping1.txt"; die "client -> server"; }
lab_ping server "$LAB_CLIENT_ADDR" 3 >"$LAB_DIR/ping2.txt" || { cat "$LAB_DIR/ping2.txt"; die "server -> client"; }
lab_capture_stop
icmp=$(timeout 30 tshark -r "$LAB_CAPTURE_FILE" -Y icmp -T fields -e ip.src -e ip.dst -e icmp.type -e ip.ttl 2>/dev/null)
req=$(grep -c "^$LAB_CLIENT_ADDR	$LAB_SERVER_ADDR	8	63$" <<<"$icmp")
rep=$(grep -c "^$LAB_SERVER_ADDR	$LAB_CLIENT_ADDR	0	64$" <<<"$icmp")
echo "    tshark on p-tap1: $req echo requests client -> server routed by the guest (ttl 63), $rep replies into it"
[ "$req" -ge 3 ] && [ "$rep" -ge 3 ] || { echo "$icmp"; die "ICMP on p-tap1 missing"; }

step "iperf3 TCP both ways (gro=1: TSO frames through both descriptors)"
g1=$(lab_iperf 3) || die "iperf3"
g2=$(lab_iperf 3 -R) || die "iperf3 -R"
echo "    $g1 Gbit/s client -> server, $g2 Gbit/s back"
for g in "$g1" "$g2"; do
	awk -v g="$g" 'BEGIN { exit !(g > 0.1) }' || die "throughput $g Gbit/s <= 0.1"
done

step "stop (SIGTERM to the unprivileged uml-nf): exit 0, offloads negotiated, run dir removed"
lab_stop_clean 30 || die "unclean stop"
for d in vec0 vec1; do
	line=$(grep -a "uml-nf: stats dev=$d " "$LAB_DIR/appliance.log") || die "no stats for $d"
	f=$(sed -n 's/.* features=0x\([0-9a-f]*\).*/\1/p' <<<"$line")
	# VIRTIO_NET_F_HOST_TSO4 (bit 11) and GUEST_TSO4 (bit 7) negotiated.
	(( (16#$f >> 11) & 1 && (16#$f >> 7) & 1 )) || die "$d features 0x$f lack TSO"
	echo "    $d features 0x$f (TSO both ways)"
done
[ -e "$LAB_DIR/user/run/$LAB_UMID" ] && die "instance dir left behind"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "rootless uml-nf as $NFUSER (CapEff 0): packet socket + tap fds, $g1 / $g2 Gbit/s"
