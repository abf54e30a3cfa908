#!/bin/bash
# Proves uml-nf runs as an unprivileged user on taps that user owns (ip tuntap add ... user U, the tunctl -u case): it forwards ping and iperf3 both ways, keeps its instance directory under /tmp/uml-nf-UID, leaves the taps in place; and refuses clearly what needs privileges.
# How: a system user umlnf-tap (created if missing, kept), user-owned taps bridged to the lab veths by root; uml-nf started with setpriv as that user (no capabilities, checked in /proc); then bad lines as that user: a tap to create, hybrid (CAP_NET_RAW), a root-owned tap.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

USER_NAME=${UMLNF_TEST_USER:-umlnf-tap}
KERNEL=${UMLNF_STOCK_KERNEL:-/usr/bin/linux.uml}
lab_test_begin umlnf52 umlnf
UMLNF=$(readlink -f "$UMLNF")
[ -x "$KERNEL" ] || die "stock kernel $KERNEL not found"
command -v setpriv >/dev/null || die "setpriv not installed (util-linux)"

step "user $USER_NAME"
if ! id -u "$USER_NAME" >/dev/null 2>&1; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
		"$USER_NAME" || die "useradd $USER_NAME"
	echo "    created system user $USER_NAME (kept for later runs)"
fi
uid=$(id -u "$USER_NAME") gid=$(id -g "$USER_NAME")
echo "    uid $uid gid $gid"
# The files the appliance touches: its COW root and console config here.
chown "$uid:$gid" "$LAB_DIR" || die "chown $LAB_DIR"
inst_base=/tmp/uml-nf-$uid
# uml-nf is started with setpriv (it execs, so the PID stays uml-nf's): no
# capabilities, no supplementary groups, a HOME of its own, and no
# XDG_RUNTIME_DIR, so the instance directory goes to /tmp/uml-nf-UID.

step "create lab; taps p-tap0/p-tap1 owned by $USER_NAME, bridged to the veths"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
LAB_TAP_USER=$USER_NAME lab_bridge_taps || die "taps"
timeout 10 ip -n "$LAB_NS_HOST" tuntap add dev p-tapr mode tap user 0 || die "root-owned tap"

# The user needs read/write access to /dev/net/tun (Debian's udev makes it
# 0666). Where it has none (a container without udev), the test gives it a
# 0666 node of the same device bind-mounted over /dev/net/tun in a private
# mount namespace of the appliance only; the host's node is not touched.
TUNWRAP=()
if ! setpriv --reuid="$uid" --regid="$gid" --clear-groups -- test -r /dev/net/tun -a -w /dev/net/tun; then
	step "no access to /dev/net/tun for $USER_NAME here: a private 0666 node for the test"
	setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all -- \
		env -u XDG_RUNTIME_DIR HOME="$LAB_DIR" UMLNF_KERNEL="$KERNEL" \
		"$UMLNF" vec0:transport=tap,ifname=p-tap0 mem=64M "umid=$LAB_UMID-0" \
		</dev/null >/dev/null 2>"$LAB_DIR/err.0"
	echo "    without it: $(head -n 1 "$LAB_DIR/err.0")"
	grep -qF "vec0: tap: cannot open /dev/net/tun: Permission denied (mode" "$LAB_DIR/err.0" ||
		die "no clear error without access to /dev/net/tun"
	mknod -m 666 "$LAB_DIR/tun" c 10 200 || die "mknod"
	TUNWRAP=(unshare -m --propagation private -- sh -c 'mount --bind "$0" /dev/net/tun && exec "$@"'
		"$LAB_DIR/tun")
fi

step "boot uml-nf as $USER_NAME on its taps"
export LAB_VEC_TRANSPORT=tap LAB_VEC_IF0=p-tap0 LAB_VEC_IF1=p-tap1 LAB_VEC_OPTS=gro=1
lab_uml_args "$IMAGE" || die "args"
lab_start_appliance "${TUNWRAP[@]}" setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all -- \
	env -u XDG_RUNTIME_DIR HOME="$LAB_DIR" UMLNF_KERNEL="$KERNEL" "$UMLNF" "${LAB_UML_ARGS[@]}" ||
	die "start"
echo "    args: ${LAB_UML_ARGS[0]} ${LAB_UML_ARGS[1]}"
lab_wait_ready 60 || die "not ready"
read -r ruid _ < <(awk '/^Uid:/ { print $2, $3 }' "/proc/$LAB_APPLIANCE_PID/status")
capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$LAB_APPLIANCE_PID/status")
comm=$(cat "/proc/$LAB_APPLIANCE_PID/comm")
echo "    pid $LAB_APPLIANCE_PID ($comm): uid $ruid, CapEff $capeff"
[ "$comm" = uml-nf ] || die "pid $LAB_APPLIANCE_PID is $comm, not uml-nf"
[ "$ruid" = "$uid" ] || die "uml-nf runs as uid $ruid"
[ "$capeff" = 0000000000000000 ] || die "uml-nf has capabilities $capeff"
grep -aq "uml-nf: vec0: tap p-tap0 (existing, left in place), io_uring" "$LAB_DIR/appliance.log" ||
	die "vec0 not attached to p-tap0"
[ -d "$inst_base/$LAB_UMID" ] || die "instance directory $inst_base/$LAB_UMID missing"
echo "    instance directory $inst_base/$LAB_UMID"

step "ping both ways"
lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping1.txt" || { cat "$LAB_DIR/ping1.txt"; die "client -> server"; }
lab_ping server "$LAB_CLIENT_ADDR" 3 >"$LAB_DIR/ping2.txt" || { cat "$LAB_DIR/ping2.txt"; die "server -> client"; }
step "iperf3 3 s each way"
g1=$(lab_iperf 3) || die "iperf3 client -> server"
g2=$(lab_iperf 3 -R) || die "iperf3 server -> client"
echo "    client -> server $g1 Gbit/s, server -> client $g2 Gbit/s"
for g in "$g1" "$g2"; do
	awk -v g="$g" 'BEGIN { exit !(g > 0.05) }' || die "throughput $g Gbit/s"
done

step "stop (SIGTERM): status 0, instance directory gone, taps left in place"
lab_stop_clean 30 || die "unclean stop"
[ -e "$inst_base/$LAB_UMID" ] && die "$inst_base/$LAB_UMID still exists"
for t in p-tap0 p-tap1; do
	timeout 5 ip -n "$LAB_NS_HOST" link show "$t" >/dev/null 2>&1 || die "tap $t was removed"
done

step "refusals as $USER_NAME: exit 2, one line naming device and option, nothing started"
cases=(
	'vec0: tap: creating a tap needs CAP_NET_ADMIN|vec0:transport=tap'
	'vec0: tap: creating a tap needs CAP_NET_ADMIN|vec0:transport=tap,ifname=p-new0'
	'vec0: hybrid: cannot open a packet socket: Operation not permitted (needs CAP_NET_RAW|vec0:transport=hybrid,ifname=p-tap0'
	'vec0: ifname: not allowed to attach to tap p-tapr: it belongs to another user|vec0:transport=tap,ifname=p-tapr'
	'vec1: ifname: not allowed to attach to tap p-tapr|vec0:transport=tap,ifname=p-tap0 vec1:transport=tap,ifname=p-tapr'
)
n=0
for c in "${cases[@]}"; do
	n=$((n + 1))
	msg=${c%%|*}
	read -r -a args <<<"${c#*|}"
	umid="$LAB_UMID-$n"
	timeout 20 ip netns exec "$LAB_NS_HOST" "${TUNWRAP[@]}" setpriv --reuid="$uid" --regid="$gid" --clear-groups \
		--inh-caps=-all -- env -u XDG_RUNTIME_DIR HOME="$LAB_DIR" UMLNF_KERNEL="$KERNEL" \
		"$UMLNF" "${args[@]}" mem=64M "umid=$umid" </dev/null >"$LAB_DIR/out.$n" 2>"$LAB_DIR/err.$n"
	rc=$?
	echo "    case $n: status $rc: $(grep -a 'error:' "$LAB_DIR/err.$n")"
	[ "$rc" -eq 2 ] || die "case $n: status $rc, want 2"
	grep -qF -- "$msg" "$LAB_DIR/err.$n" || die "case $n: stderr lacks '$msg'"
	# One error line (a device opened before the refused one may have
	# said what it opened).
	[ "$(grep -ac 'error:' "$LAB_DIR/err.$n")" -eq 1 ] || die "case $n: not exactly one error line"
	[ -e "$inst_base/$umid" ] && die "case $n: $inst_base/$umid exists"
	[ -z "$(lab_umid_pids "$umid")" ] || die "case $n: processes mentioning $umid"
done
timeout 5 ip -n "$LAB_NS_HOST" link show p-new0 >/dev/null 2>&1 && die "p-new0 exists"
# Case 5 had p-tap0 open when p-tapr was refused: closed again, still there.
timeout 5 ip -n "$LAB_NS_HOST" link show p-tap0 >/dev/null 2>&1 || die "p-tap0 gone"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "unprivileged uml-nf on user-owned taps ($g1 / $g2 Gbit/s), $n refusals"
