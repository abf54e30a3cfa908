#!/bin/bash
# Proves transport=tap: taps uml-nf creates (ifup= runs, removed at exit after SIGTERM) and persistent ones (left in place), gro=1 and gro=0, forward ping and iperf3 TCP both ways with valid frames; stock linux.uml runs the same options side by side.
# How: bridges p-br0/p-br1 in the host namespace join each tap to its veth; both kinds boot the stock kernel; tshark on the far veths (TSO/checksum off there) checks checksums and segment sizes, on the tap frames and duplicates; ethtool -k shows the tap offloads per gro=.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# One kernel for both kinds, so differences are the datapaths'.
KERNEL=${UMLNF_STOCK_KERNEL:-/usr/bin/linux.uml}
export UMLNF_KERNEL=$KERNEL LAB_LINUX_UML=$KERNEL
lab_test_begin umlnf50 umlnf
command -v tshark >/dev/null || die "tshark not installed (make deps)"
[ -x "$KERNEL" ] || die "stock kernel $KERNEL not found"
MSS_MAX=1448

stat_of() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1"; }

# The tap in p-brN (the bridge member that is not p-vethN), waiting for an
# ifup script that may still be running.
tap_of() {
	local i t
	for i in $(seq 50); do
		t=$(timeout 5 ip -n "$LAB_NS_HOST" -o link show master "p-br$1" |
			awk -F': ' -v v="p-veth$1" '{ sub(/@.*/, "", $2); if ($2 != v) print $2 }')
		[ -n "$t" ] && { echo "$t"; return 0; }
		sleep 0.2
	done
	return 1
}

# Segments captured in $1: "n big badip badtcp" (data segments, over the
# MSS, bad IP checksums, bad TCP checksums; 0xffff for 0x0000 is RFC 1624's
# negative zero, not an error, see test 25).
check_wire() {
	timeout 60 tshark -r "$1" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
		-Y "tcp.len > 0" -T fields -e tcp.len -e ip.checksum.status -e tcp.checksum.status \
		-e tcp.checksum -e tcp.checksum_calculated 2>/dev/null |
		awk -F'\t' -v m=$MSS_MAX '{ n++; if ($1 > m) big++; if ($2 == 0) bi++
			if ($3 == 0 && !($4 == "0xffff" && $5 == "0x0000")) bt++ }
			END { print n + 0, big + 0, bi + 0, bt + 0 }'
}

# Frames in capture $1 that tshark finds malformed, and data segments seen
# twice (same addresses, IP ID, ports, sequence, ack and length: a
# retransmission has a new IP ID; an echo or a duplicate has not). Segments
# without data are left out: a closed socket answers every late segment with
# the same RST.
check_tap() {
	local malformed dups
	malformed=$(timeout 60 tshark -r "$1" -Y "_ws.malformed" 2>/dev/null | wc -l)
	dups=$(timeout 60 tshark -r "$1" -Y "tcp.len > 0" -T fields -e ip.src -e ip.dst -e ip.id \
		-e tcp.srcport -e tcp.seq_raw -e tcp.ack_raw -e tcp.len 2>/dev/null | sort | uniq -d | wc -l)
	echo "$malformed $dups"
}

# capture NS IF FILE FILTER [SNAPLEN]: background tshark, PID in CAP.
capture() {
	timeout 30 ip netns exec "$1" tshark -q -i "$2" -c 20000 -s "${5:-0}" -w "$3" -f "$4" \
		>/dev/null 2>&1 &
	CAP=$!
	_lab_track "$CAP"
}

stop_capture() {
	sleep 0.5
	_lab_running "$1" && kill -INT "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# iperf3 DIRECTION(c2s|s2c) with captures on the far veth end and on the tap
# the data leaves uml-nf by. Sets GBPS, RETR (sender's retransmits), WIRE
# ("n big badip badtcp"), TAPCHK ("malformed duplicates").
traffic() {
	local dir=$1 far_ns far_if tap src cap1 cap2 args=()
	if [ "$dir" = c2s ]; then
		far_ns=$LAB_NS_SERVER far_if=s-eth0 tap=$TAP1 src=$LAB_CLIENT_ADDR
	else
		far_ns=$LAB_NS_CLIENT far_if=c-eth0 tap=$TAP0 src=$LAB_SERVER_ADDR args=(-R)
	fi
	capture "$far_ns" "$far_if" "$LAB_DIR/$dir-wire.pcap" "tcp and src host $src"
	cap1=$CAP
	capture "$LAB_NS_HOST" "$tap" "$LAB_DIR/$dir-tap.pcap" "tcp" 256
	cap2=$CAP
	sleep 2
	GBPS=$(lab_iperf 3 "${args[@]}") || GBPS=fail
	RETR=$(awk '/"sum_sent"/ { f = 1 } f && /"retransmits"/ { gsub(/[^0-9]/, "", $2); print $2; exit }' \
		"$LAB_DIR/iperf.json")
	stop_capture "$cap1"
	stop_capture "$cap2"
	WIRE=$(check_wire "$LAB_DIR/$dir-wire.pcap")
	TAPCHK=$(check_tap "$LAB_DIR/$dir-tap.pcap")
}

# One boot: KIND (umlnf|stock) GRO TAPS (created|persistent).
declare -A RES
run_case() {
	local kind=$1 gro=$2 taps=$3 name="$1 gro=$2 $3" tso0 line rc
	step "[$name] lab"
	lab_create || die "lab_create"
	lab_write_conf || die "lab_write_conf"
	if [ "$taps" = created ]; then
		lab_tap_bridges || die "bridges"
		export LAB_VEC_IF0= LAB_VEC_IF1=
		export LAB_VEC_EXTRA0=ifup=$LAB_DIR/ifup0.sh LAB_VEC_EXTRA1=ifup=$LAB_DIR/ifup1.sh
	else
		lab_bridge_taps || die "taps"
		export LAB_VEC_IF0=p-tap0 LAB_VEC_IF1=p-tap1 LAB_VEC_EXTRA0= LAB_VEC_EXTRA1=
	fi
	# The far "wires" need real segments and checksums: the host makes
	# them from whatever crosses the tap, and a bad header shows here.
	timeout 10 ip netns exec "$LAB_NS_HOST" ethtool -K p-veth0 tso off tx off >/dev/null &&
	timeout 10 ip netns exec "$LAB_NS_HOST" ethtool -K p-veth1 tso off tx off >/dev/null ||
		die "ethtool p-veth0/1"

	step "[$name] boot"
	export LAB_VEC_TRANSPORT=tap LAB_VEC_OPTS=gro=$gro
	if [ "$kind" = umlnf ]; then
		lab_start_umlnf "$UMLNF" "$IMAGE" || die "start"
	else
		lab_start_stock "$IMAGE" || die "start"
	fi
	echo "    args: ${LAB_UML_ARGS[0]} ${LAB_UML_ARGS[1]}"
	lab_wait_ready 60 || die "[$name] not ready"
	TAP0=$(tap_of 0) && TAP1=$(tap_of 1) || die "[$name] taps not in the bridges"
	tso0=$(timeout 5 ip netns exec "$LAB_NS_HOST" ethtool -k "$TAP0" |
		awk '/^tcp-segmentation-offload:/ { print $2 }')
	echo "    taps $TAP0 $TAP1; tcp-segmentation-offload on $TAP0: $tso0"
	if [ "$kind" = umlnf ]; then
		grep -aq "uml-nf: vec0: tap $TAP0 (" "$LAB_DIR/appliance.log" ||
			die "uml-nf did not report tap $TAP0"
		if [ "$taps" = created ]; then
			grep -aq "vec0: tap $TAP0 (created, removed at exit), io_uring" \
				"$LAB_DIR/appliance.log" || die "vec0 not a created tap on io_uring"
		else
			grep -aq "vec0: tap p-tap0 (existing, left in place), io_uring" \
				"$LAB_DIR/appliance.log" || die "vec0 not attached to p-tap0 on io_uring"
		fi
		# Offloads follow gro=: TSO only where the guest takes it.
		want=off
		[ "$gro" = 1 ] && want=on
		[ "$tso0" = "$want" ] || die "$TAP0 TSO is '$tso0' with gro=$gro, want $want"
	fi

	step "[$name] ping both ways"
	lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping1.txt" ||
		{ cat "$LAB_DIR/ping1.txt"; [ "$kind" = umlnf ] && die "ping client -> server"; }
	lab_ping server "$LAB_CLIENT_ADDR" 3 >"$LAB_DIR/ping2.txt" ||
		{ cat "$LAB_DIR/ping2.txt"; [ "$kind" = umlnf ] && die "ping server -> client"; }

	local c2s s2c wc ws tc ts
	for dir in c2s s2c; do
		step "[$name] iperf3 3 s $dir, tshark on the far veth and on the tap"
		traffic "$dir"
		read -r n big badip badtcp <<<"$WIRE"
		read -r malformed dups <<<"$TAPCHK"
		echo "    $GBPS Gbit/s, ${RETR:-?} retransmits; wire: $n data segments, $big over $MSS_MAX B," \
			"$badip bad IP / $badtcp bad TCP checksums; tap: $malformed malformed, $dups duplicate frames"
		if [ "$kind" = umlnf ]; then
			[ "$GBPS" != fail ] && awk -v g="$GBPS" 'BEGIN { exit !(g > 0.05) }' ||
				die "[$name] $dir throughput $GBPS"
			[ "$n" -gt 100 ] || die "[$name] $dir: too few segments captured ($n)"
			[ "$big" -eq 0 ] && [ "$badip" -eq 0 ] && [ "$badtcp" -eq 0 ] ||
				die "[$name] $dir: bad frames on the wire"
			[ "$malformed" -eq 0 ] && [ "$dups" -eq 0 ] ||
				die "[$name] $dir: malformed or duplicate frames on the tap"
		fi
		[ "$dir" = c2s ] && c2s="$GBPS(${RETR:-?}r)" wc="$badip/$badtcp" tc="$malformed/$dups"
		[ "$dir" = s2c ] && s2c="$GBPS(${RETR:-?}r)" ws="$badip/$badtcp" ts="$malformed/$dups"
	done

	step "[$name] stop (SIGTERM)"
	if [ "$kind" = umlnf ]; then
		lab_stop_clean 30 || die "unclean stop"
		line=$(grep -a 'uml-nf: stats dev=vec0' "$LAB_DIR/appliance.log") || die "no stats"
		echo "    $line"
		# gro=0: the tap has no TSO, so the host segments and uml-nf
		# never has to.
		[ "$gro" = 1 ] || [ "$(stat_of "$line" rx_segmented)" -eq 0 ] ||
			die "gro=0: uml-nf segmented frames the tap should not have sent"
	else
		lab_stop_appliance 30
		rc=$?
		echo "    stock linux.uml $LAB_STOP_HOW, status $rc"
	fi
	if [ "$taps" = created ]; then
		for t in "$TAP0" "$TAP1"; do
			if timeout 5 ip -n "$LAB_NS_HOST" link show "$t" >/dev/null 2>&1; then
				[ "$kind" = umlnf ] && die "created tap $t still exists after exit"
				echo "    note: stock left created tap $t behind"
			fi
		done
		echo "    created taps $TAP0 $TAP1 gone"
	else
		for t in p-tap0 p-tap1; do
			timeout 5 ip -n "$LAB_NS_HOST" link show "$t" >/dev/null 2>&1 ||
				die "persistent tap $t was removed"
		done
		echo "    persistent taps p-tap0 p-tap1 left in place"
	fi
	RES[$name]="c2s=${c2s} s2c=${s2c} Gbit/s(retransmits) tap_tso=$tso0 wire_bad(ip/tcp)=$wc,$ws tap(malformed/dups)=$tc,$ts"
	lab_destroy
	lab_assert_clean || exit 1
	lab_init "umlnf50-$kind$gro" || exit 1
}

run_case umlnf 1 created
run_case stock 1 created
run_case umlnf 0 persistent
run_case stock 0 persistent

step "side by side (same kernel $KERNEL, same options)"
for k in "umlnf 1 created" "stock 1 created" "umlnf 0 persistent" "stock 0 persistent"; do
	read -r kind gro taps <<<"$k"
	echo "    $kind gro=$gro $taps: ${RES[$kind gro=$gro $taps]}"
done
u=${RES[umlnf gro=1 created]} s=${RES[stock gro=1 created]}
r=$(awk -v a="$(sed -n 's/^c2s=\([0-9.]*\).*/\1/p' <<<"$u")" -v b="$(sed -n 's/^c2s=\([0-9.]*\).*/\1/p' <<<"$s")" \
	'BEGIN { if (a > 0 && b > 0) printf "%.1f", a / b; else print "n/a" }')
echo "    uml-nf / stock, TCP client -> server, gro=1: $r"
lab_destroy
pass "tap: created and persistent taps, gro=1 and gro=0, both directions, valid frames (uml-nf/stock TCP gro=1: $r)"
