#!/bin/bash
# Proves the tap transports' other paths: vec=0 and io_uring refused by the host both forward on readv/writev; a busy tap, a broken or missing /dev/net/tun, an ifname that is no tap, a failing ifup= (tap, hybrid, raw), a receive filter (not on taps yet) each get one clear error line and exit 2 with nothing left behind; a multi-queue tap is attached as one queue.
# How: lab with persistent taps bridged to the veths; boots with vec=0 and under tests/tools/deny-io-uring (seccomp: io_uring_setup fails with EPERM), ping and 2 s iperf3 each way; then bad lines in the host namespace (unshare -m to bind /dev/null over /dev/net/tun), checking status, stderr, interfaces and run directory.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

KERNEL=${UMLNF_STOCK_KERNEL:-/usr/bin/linux.uml}
export UMLNF_KERNEL=$KERNEL
lab_test_begin umlnf53 umlnf
UMLNF=$(readlink -f "$UMLNF")
DENY=$LAB_DIR/deny-io-uring
timeout 60 "${CC:-cc}" -std=gnu11 -O2 -Wall -Wextra -Werror -o "$DENY" tests/tools/deny-io-uring.c ||
	die "cannot build tests/tools/deny-io-uring.c"

step "create lab; persistent taps p-tap0/p-tap1 bridged to the veths; a multi-queue tap and a tun"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
lab_bridge_taps || die "taps"
timeout 10 ip -n "$LAB_NS_HOST" tuntap add dev p-mq0 mode tap multi_queue &&
timeout 10 ip -n "$LAB_NS_HOST" tuntap add dev p-tun0 mode tun || die "p-mq0/p-tun0"
export LAB_VEC_TRANSPORT=tap LAB_VEC_IF0=p-tap0 LAB_VEC_IF1=p-tap1

# forward NAME: ping and 2 s of iperf3 each way through the running appliance.
forward() {
	lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping1.txt" || { cat "$LAB_DIR/ping1.txt"; die "[$1] ping c->s"; }
	lab_ping server "$LAB_CLIENT_ADDR" 3 >"$LAB_DIR/ping2.txt" || { cat "$LAB_DIR/ping2.txt"; die "[$1] ping s->c"; }
	g1=$(lab_iperf 2) || die "[$1] iperf3 c->s"
	g2=$(lab_iperf 2 -R) || die "[$1] iperf3 s->c"
	echo "    client -> server $g1 Gbit/s, server -> client $g2 Gbit/s"
	for g in "$g1" "$g2"; do
		awk -v g="$g" 'BEGIN { exit !(g > 0.02) }' || die "[$1] throughput $g Gbit/s"
	done
	RESULTS+=("$1:$g1/$g2")
}

# no_leftovers UMID: no run directory, no process, no created tap.
no_leftovers() {
	[ -e "/run/uml-nf/$1" ] && die "/run/uml-nf/$1 exists"
	[ -z "$(lab_umid_pids "$1")" ] || die "processes mentioning $1 survive"
	timeout 5 ip -n "$LAB_NS_HOST" -o link show | grep -q ': umlnf[0-9]' &&
		die "a created tap survives: $(ip -n "$LAB_NS_HOST" -o link show | grep -o 'umlnf[0-9]*' | head -n 1)"
	return 0
}

RESULTS=()
step "boot with vec=0 (one readv/writev per frame)"
LAB_VEC_OPTS=gro=1,vec=0 lab_start_umlnf "$UMLNF" "$IMAGE" || die "start"
lab_wait_ready 60 || die "not ready"
grep -aq "uml-nf: vec0: tap p-tap0 (existing, left in place), readv/writev: vec=0" "$LAB_DIR/appliance.log" ||
	die "vec0 not on readv/writev for vec=0"
forward vec=0

step "while it runs: a second uml-nf on the same single-queue tap"
timeout 20 ip netns exec "$LAB_NS_HOST" "$UMLNF" vec0:transport=tap,ifname=p-tap0 mem=64M \
	"umid=$LAB_UMID-busy" </dev/null >/dev/null 2>"$LAB_DIR/err.busy"
rc=$?
echo "    status $rc: $(cat "$LAB_DIR/err.busy")"
[ "$rc" -eq 2 ] || die "busy tap: status $rc, want 2"
grep -qF "vec0: ifname: tap p-tap0 is busy: another process has it open" "$LAB_DIR/err.busy" ||
	die "busy tap: no clear error"
no_leftovers "$LAB_UMID-busy"
lab_stop_clean 30 || die "unclean stop (vec=0)"

step "boot with io_uring refused by the host (seccomp: io_uring_setup -> EPERM)"
LAB_VEC_OPTS=gro=1 lab_uml_args "$IMAGE" || die "args"
lab_start_appliance "$DENY" "$UMLNF" "${LAB_UML_ARGS[@]}" || die "start"
lab_wait_ready 60 || die "not ready"
grep -a "uml-nf: vec0: tap" "$LAB_DIR/appliance.log" | sed 's/^/    /'
grep -aq "uml-nf: vec0: tap p-tap0 (existing, left in place), readv/writev: io_uring unavailable (io_uring_setup: Operation not permitted)" \
	"$LAB_DIR/appliance.log" || die "vec0 did not fall back to readv/writev"
forward no-io_uring
lab_stop_clean 30 || die "unclean stop (no io_uring)"

step "bad hosts and lines: exit 2, one error line naming device and option, nothing left"
printf '#!/bin/sh\necho "$1" >>%s/ifup-args\nexit 1\n' "$LAB_DIR" >"$LAB_DIR/ifup-fail.sh"
chmod 755 "$LAB_DIR/ifup-fail.sh"
# WRAP|STDERR_MUST_CONTAIN|ARGUMENTS; WRAP: none, devnull (/dev/null bound over
# /dev/net/tun), notun (an empty /dev/net), each in a private mount namespace.
cases=(
	'devnull|vec0: tap: /dev/net/tun is not the TUN/TAP device (character device 1:3, want 10:200)|vec0:transport=tap'
	'devnull|vec0: hybrid: /dev/net/tun is not the TUN/TAP device|vec0:transport=hybrid,ifname=p-tap0'
	'notun|vec0: tap: cannot open /dev/net/tun: No such file or directory|vec0:transport=tap,ifname=p-tap0'
	'none|vec0: ifname: p-veth0 is not a tap (driver veth)|vec0:transport=tap,ifname=p-veth0'
	'none|vec1: ifname: p-veth1 is not a tap (driver veth)|vec0:transport=tap,ifname=p-tap0 vec1:transport=hybrid,ifname=p-veth1'
	'none|vec0: ifname: p-tun0 is a tun (layer 3) device, not a tap|vec0:transport=tap,ifname=p-tun0'
	'none|vec0: ifname: lo is not a tap|vec0:transport=hybrid,ifname=lo'
	"none|exited with status 1|vec0:transport=tap,ifup=$LAB_DIR/ifup-fail.sh"
	"none|exited with status 1|vec0:transport=hybrid,ifname=p-new0,ifup=$LAB_DIR/ifup-fail.sh"
	"none|vec0: ifup: \"$LAB_DIR/ifup-fail.sh p-veth0\" exited with status 1|vec0:transport=raw,ifname=p-veth0,ifup=$LAB_DIR/ifup-fail.sh"
	'none|vec0: ifup: cannot run "/nonexistent/up": No such file or directory|vec0:transport=tap,ifup=/nonexistent/up'
	'none|vec0: bpf: not supported by transport tap: it receives from the tap device, not a socket|vec0:transport=tap,bpf=icmp'
	'none|vec0: bpfflash: not supported by transport tap: it receives|vec0:transport=tap,bpfflash=1'
	'none|vec1: ifup:|vec0:transport=tap,ifname=p-mq0 vec1:transport=tap,ifup=false'
)
n=0
for c in "${cases[@]}"; do
	n=$((n + 1))
	IFS='|' read -r wrap msg rest <<<"$c"
	read -r -a args <<<"$rest"
	umid="$LAB_UMID-$n"
	case $wrap in
	none) pre=() ;;
	devnull) pre=(unshare -m --propagation private -- sh -c 'mount --bind /dev/null /dev/net/tun && exec "$@"' sh) ;;
	notun) pre=(unshare -m --propagation private -- sh -c 'mount -t tmpfs none /dev/net && exec "$@"' sh) ;;
	esac
	timeout 60 ip netns exec "$LAB_NS_HOST" "${pre[@]}" "$UMLNF" "${args[@]}" mem=64M "umid=$umid" \
		</dev/null >"$LAB_DIR/out.$n" 2>"$LAB_DIR/err.$n"
	rc=$?
	echo "    case $n ($wrap): status $rc: $(grep -a 'error:' "$LAB_DIR/err.$n")"
	[ "$rc" -eq 2 ] || die "case $n: status $rc, want 2"
	grep -qF -- "$msg" "$LAB_DIR/err.$n" || die "case $n: stderr lacks '$msg'"
	[ "$(grep -ac 'error:' "$LAB_DIR/err.$n")" -eq 1 ] || die "case $n: not exactly one error line"
	no_leftovers "$umid"
done
timeout 5 ip -n "$LAB_NS_HOST" link show p-new0 >/dev/null 2>&1 && die "p-new0 left behind"
echo "    ifup scripts were called with: $(tr '\n' ' ' <"$LAB_DIR/ifup-args")"
grep -qx 'umlnf[0-9]*' "$LAB_DIR/ifup-args" && grep -qx p-new0 "$LAB_DIR/ifup-args" &&
	grep -qx p-veth0 "$LAB_DIR/ifup-args" || die "ifup did not get the interface names"
grep -aq "uml-nf: vec0: tap p-mq0 (existing, left in place, one queue of a multi-queue tap)" \
	"$LAB_DIR/err.$n" || die "p-mq0 not attached as one queue of a multi-queue tap"
for t in p-tap0 p-tap1 p-mq0 p-tun0; do
	timeout 5 ip -n "$LAB_NS_HOST" link show "$t" >/dev/null 2>&1 || die "$t was removed"
done

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "tap fallbacks (${RESULTS[*]}) and $n refusals"
