#!/bin/bash
# Proves uml-nf takes BIG TCP frames (GSO frames above 64 KiB, IPv4 IP length 0) from the host for gro=0 and gro=1 without overrunning a buffer, and drops and counts frames above its 256 KiB limit.
# How: the lab's four veth ends get gso/gro_max_size and their ipv4 twins 131072 (tests/tools/setlink-gso); the ASan build of uml-nf (when built) forwards iperf3 both ways; its stats show frames segmented (gro=0) or cut (gro=1) and no oversize; then the client at 393216 makes frames above the limit: counted as rx_oversize, a warning, clean exit.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf29 umlnf
SETLINK=${SETLINK_GSO:-build/setlink-gso}
BIN=$UMLNF
[ -x "${UMLNF_SAN:-}" ] && BIN=$UMLNF_SAN
[ -x "$SETLINK" ] || { fail "$SETLINK not built (make $SETLINK)"; exit 1; }

set_size() { # NS IF SIZE
	timeout 10 ip netns exec "$1" "$SETLINK" "$2" "$3"
}

step "create lab; BIG TCP (131072) on c-eth0, p-veth0, p-veth1, s-eth0"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
if ! set_size "$LAB_NS_CLIENT" c-eth0 131072 2>"$LAB_DIR/setlink.err"; then
	echo "SKIP: host kernel cannot set gso_ipv4_max_size: $(cat "$LAB_DIR/setlink.err")"
	exit 77
fi
set_size "$LAB_NS_HOST" p-veth0 131072 && set_size "$LAB_NS_HOST" p-veth1 131072 &&
	set_size "$LAB_NS_SERVER" s-eth0 131072 || die "setlink-gso"
echo "    $(ip -n "$LAB_NS_CLIENT" -d link show c-eth0 | grep -o 'gso_max_size [0-9]*')"
echo "    binary: $BIN"

stat_of() { # KEY DEV: value from the exit stats line of DEV
	sed -n "s/.*uml-nf: stats dev=$2 .* $1=\([0-9]*\).*/\1/p" "$LAB_DIR/appliance.log" | tail -n 1
}

boot() { # OPTS
	LAB_VEC_OPTS=$1 lab_start_umlnf "$BIN" "$IMAGE" || die "start ($1)"
	lab_wait_ready 90 || die "not ready ($1)"
}

stop_clean() {
	lab_stop_clean 30 || die "uml-nf did not stop cleanly"
	! grep -q "ERROR: AddressSanitizer\|runtime error:" "$LAB_DIR/appliance.log" ||
		die "sanitizer report"
}

results=()
for gro in 0 1; do
	step "gro=$gro: iperf3 3 s each way through BIG TCP endpoints"
	boot gro=$gro
	fwd=$(lab_iperf 3) || die "iperf3 forward (gro=$gro)"
	rev=$(lab_iperf 3 -R) || die "iperf3 reverse (gro=$gro)"
	echo "    forward $fwd Gbit/s, reverse $rev Gbit/s"
	stop_clean
	seg=$(( $(stat_of rx_segmented vec0) + $(stat_of rx_segmented vec1) ))
	cut=$(( $(stat_of rx_split vec0) + $(stat_of rx_split vec1) ))
	over=$(( $(stat_of rx_oversize vec0) + $(stat_of rx_oversize vec1) ))
	echo "    rx_segmented=$seg rx_split=$cut rx_oversize=$over"
	[ "$over" -eq 0 ] || die "frames of 128 KiB counted as oversize (gro=$gro)"
	if [ "$gro" = 0 ]; then
		[ "$seg" -gt 0 ] || die "gro=0: no frame segmented in software"
	else
		[ "$cut" -gt 0 ] || die "gro=1: no BIG TCP frame cut for the guest"
	fi
	# Before BIG TCP frames were handled, both directions collapsed to
	# about 0.04 Gbit/s (every large frame dropped).
	awk -v a="$fwd" -v b="$rev" 'BEGIN { exit !(a > 0.3 && b > 0.3) }' ||
		die "gro=$gro: throughput collapsed ($fwd / $rev Gbit/s)"
	results+=("gro=$gro:$fwd/$rev")
	rm -f "$LAB_DIR/root.cow"
done

step "frames above the 256 KiB limit: the client at 393216"
set_size "$LAB_NS_CLIENT" c-eth0 393216 || die "setlink-gso 393216"
boot gro=1
lab_iperf 3 >/dev/null 2>&1 # throughput is not the point: it may well fail
lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "ping after oversized frames"
stop_clean
over=$(stat_of rx_oversize vec0)
echo "    vec0 rx_oversize=$over"
[ "${over:-0}" -gt 0 ] || die "no oversized frame counted"
grep -q "uml-nf: warning: vec0: dropped a [0-9]*-byte frame from the host" "$LAB_DIR/appliance.log" ||
	die "no oversize warning"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "BIG TCP frames forwarded (${results[*]}), oversized ones dropped and counted"
