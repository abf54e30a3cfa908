#!/bin/bash
# Proves transport=hybrid: ping and iperf3 TCP both ways with valid frames (gro=1 on persistent taps; gro=0, vec=0 on taps it creates), no echo of the guest's own frames, the tap's queue drained; a guest bridge on two hybrid ports works where stock linux.uml's source-MAC filter loops.
# How: taps bridged to the lab veths in the host namespace, stock kernel for every boot; tshark on the far veths (TSO/checksum off); uml-nf's receive counters against the frames the host sent into each tap (tap TX counters); the bridge preset image with client and server in one subnet, uml-nf then stock.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

KERNEL=${UMLNF_STOCK_KERNEL:-/usr/bin/linux.uml}
export UMLNF_KERNEL=$KERNEL LAB_LINUX_UML=$KERNEL
BRIDGE_IMAGE=${BRIDGE_IMAGE:-build/images/bridge.img}
lab_test_begin umlnf51 umlnf
command -v tshark >/dev/null || die "tshark not installed (make deps)"
[ -x "$KERNEL" ] || die "stock kernel $KERNEL not found"
MSS_MAX=1448

stat_of() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1"; }

# Data segments in capture $1: "n big badip badtcp" (see test 50).
check_wire() {
	timeout 60 tshark -r "$1" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
		-Y "tcp.len > 0" -T fields -e tcp.len -e ip.checksum.status -e tcp.checksum.status \
		-e tcp.checksum -e tcp.checksum_calculated 2>/dev/null |
		awk -F'\t' -v m=$MSS_MAX '{ n++; if ($1 > m) big++; if ($2 == 0) bi++
			if ($3 == 0 && !($4 == "0xffff" && $5 == "0x0000")) bt++ }
			END { print n + 0, big + 0, bi + 0, bt + 0 }'
}

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

# iperf3 DIR (c2s|s2c) with a capture on the receiving endpoint: GBPS, WIRE.
traffic() {
	local dir=$1 ns=$LAB_NS_SERVER dev=s-eth0 src=$LAB_CLIENT_ADDR args=() cap
	[ "$dir" = s2c ] && ns=$LAB_NS_CLIENT dev=c-eth0 src=$LAB_SERVER_ADDR args=(-R)
	timeout 30 ip netns exec "$ns" tshark -q -i "$dev" -c 20000 -w "$LAB_DIR/$dir.pcap" \
		-f "tcp and src host $src" >/dev/null 2>&1 &
	cap=$!
	_lab_track "$cap"
	sleep 2
	GBPS=$(lab_iperf 3 "${args[@]}") || GBPS=fail
	sleep 0.5
	_lab_running "$cap" && kill -INT "$cap" 2>/dev/null
	wait "$cap" 2>/dev/null
	WIRE=$(check_wire "$LAB_DIR/$dir.pcap")
}

# One router boot: KIND (umlnf|stock) GRO TAPS (persistent|created) [VEC0]
declare -A RES
run_case() {
	local kind=$1 gro=$2 taps=$3 vec=${4:-} name="$1 gro=$2 $3${4:+ vec=0}" t line
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
	timeout 10 ip netns exec "$LAB_NS_HOST" ethtool -K p-veth0 tso off tx off >/dev/null &&
	timeout 10 ip netns exec "$LAB_NS_HOST" ethtool -K p-veth1 tso off tx off >/dev/null ||
		die "ethtool p-veth0/1"
	export LAB_VEC_TRANSPORT=hybrid LAB_VEC_OPTS=gro=$gro${vec:+,vec=0}
	step "[$name] boot"
	if [ "$kind" = umlnf ]; then
		lab_start_umlnf "$UMLNF" "$IMAGE" || die "start"
	else
		lab_start_stock "$IMAGE" || die "start"
	fi
	echo "    args: ${LAB_UML_ARGS[0]} ${LAB_UML_ARGS[1]}"
	lab_wait_ready 60 || die "[$name] not ready"
	TAP0=$(tap_of 0) && TAP1=$(tap_of 1) || die "[$name] taps not in the bridges"
	if [ "$kind" = umlnf ]; then
		want="vec0: hybrid on tap $TAP0 (.*), receive recvmmsg on a packet socket, transmit io_uring"
		[ -n "$vec" ] && want="vec0: hybrid on tap $TAP0 (.*), receive recvmsg on a packet socket, transmit readv/writev: vec=0"
		grep -aq "uml-nf: $want" "$LAB_DIR/appliance.log" || die "no line '$want'"
	fi
	local base0 base1
	base0=$(lab_if_stat "$LAB_NS_HOST" "$TAP0" tx_packets)
	base1=$(lab_if_stat "$LAB_NS_HOST" "$TAP1" tx_packets)

	step "[$name] ping both ways"
	lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping1.txt" ||
		{ cat "$LAB_DIR/ping1.txt"; [ "$kind" = umlnf ] && die "ping client -> server"; }
	lab_ping server "$LAB_CLIENT_ADDR" 3 >"$LAB_DIR/ping2.txt" ||
		{ cat "$LAB_DIR/ping2.txt"; [ "$kind" = umlnf ] && die "ping server -> client"; }
	local out=""
	for dir in c2s s2c; do
		step "[$name] iperf3 3 s $dir, tshark on the receiver"
		traffic "$dir"
		read -r n big badip badtcp <<<"$WIRE"
		echo "    $GBPS Gbit/s; $n data segments, $big over $MSS_MAX B, $badip bad IP / $badtcp bad TCP checksums"
		if [ "$kind" = umlnf ]; then
			[ "$GBPS" != fail ] && awk -v g="$GBPS" 'BEGIN { exit !(g > 0.05) }' ||
				die "[$name] $dir throughput $GBPS"
			[ "$n" -gt 100 ] && [ "$big" -eq 0 ] && [ "$badip" -eq 0 ] && [ "$badtcp" -eq 0 ] ||
				die "[$name] $dir: bad or too few frames on the wire"
		fi
		out+="$dir=$GBPS "
	done
	# The tap counts as transmitted what its fd's reader took (uml-nf
	# drains it), as dropped what did not fit in its queue.
	local txd0 rx0 tx0
	txd0=$(lab_if_stat "$LAB_NS_HOST" "$TAP0" tx_dropped)
	tx0=$(lab_if_stat "$LAB_NS_HOST" "$TAP0" tx_packets)
	rx0=$(lab_if_stat "$LAB_NS_HOST" "$TAP0" rx_packets)
	echo "    $TAP0: the host sent $((tx0 - base0)) frames toward the guest that were read from the tap fd," \
		"$txd0 dropped by the tap (queue full); it received $rx0 from the guest"

	# Read now: a tap uml-nf created goes away with it.
	local -a sent tdrops
	sent[0]=$(( $(lab_if_stat "$LAB_NS_HOST" "$TAP0" tx_packets) - base0))
	sent[1]=$(( $(lab_if_stat "$LAB_NS_HOST" "$TAP1" tx_packets) - base1))
	tdrops[0]=$txd0
	tdrops[1]=$(lab_if_stat "$LAB_NS_HOST" "$TAP1" tx_dropped)

	step "[$name] stop"
	if [ "$kind" = umlnf ]; then
		lab_stop_clean 30 || die "unclean stop"
		for q in 0 1; do
			line=$(grep -a "uml-nf: stats dev=vec$q" "$LAB_DIR/appliance.log") || die "no stats"
			rxp=$(stat_of "$line" rx_packets) rxd=$(stat_of "$line" rx_dropped)
			co=$(stat_of "$line" rx_coalesced) hd=$(stat_of "$line" host_rx_drops)
			t=$TAP0
			[ "$q" = 1 ] && t=$TAP1
			local n_sent=${sent[$q]} tdrop=${tdrops[$q]}
			got=$((rxp + rxd + hd))
			echo "    vec$q: $got frames from the packet socket (+$co merged by GRO), $n_sent sent by the host into $t" \
				"and read from its fd, $tdrop dropped by its queue"
			# Every frame the host sends toward the guest reaches both
			# the packet socket and the tap's queue (where uml-nf
			# drains it, or, while the guest takes no frames, the
			# full queue drops it). An echo of the guest's own frames
			# would add about as many as it sent (thousands here).
			[ "$got" -le $((n_sent + tdrop + 20)) ] ||
				die "vec$q received $got frames, the host sent $n_sent + $tdrop: echoes"
			[ $((got + co)) -ge $((n_sent * 9 / 10)) ] || die "vec$q received $got of $n_sent frames"
			# Stock UML never reads the queue: it drops every frame
			# after the first txqueuelen.
			[ "$tdrop" -le $((n_sent / 20)) ] ||
				die "$t dropped $tdrop of $((n_sent + tdrop)) frames: its queue was not drained"
		done
	else
		lab_stop_appliance 30
		echo "    stock linux.uml $LAB_STOP_HOW"
	fi
	RES[$name]="${out}Gbit/s tap_queue_drops=$txd0"
	lab_destroy
	lab_assert_clean || exit 1
	lab_init "umlnf51-$kind$gro" || exit 1
}

# bridge_case KIND: the bridge preset on two hybrid ports, client and server
# in one subnet; BRIDGED="ping-loss frames-into-guest-in-3s".
bridge_case() {
	local kind=$1 before after loss n
	step "[$kind bridge] lab: client 10.0.9.1 and server 10.0.9.2 in one subnet"
	lab_create || die "lab_create"
	for ns in "$LAB_NS_CLIENT:c-eth0:10.0.9.1" "$LAB_NS_SERVER:s-eth0:10.0.9.2"; do
		IFS=: read -r n dev addr <<<"$ns"
		timeout 10 ip -n "$n" addr flush dev "$dev" &&
		timeout 10 ip -n "$n" addr add "$addr/24" dev "$dev" || die "re-address $dev"
	done
	mkdir -p "$LAB_DIR/conf" && : >"$LAB_DIR/conf/router.conf"
	lab_bridge_taps || die "taps"
	export LAB_VEC_TRANSPORT=hybrid LAB_VEC_IF0=p-tap0 LAB_VEC_IF1=p-tap1 LAB_VEC_OPTS=gro=1
	export LAB_VEC_EXTRA0= LAB_VEC_EXTRA1=
	if [ "$kind" = umlnf ]; then
		lab_start_umlnf "$UMLNF" "$BRIDGE_IMAGE" || die "start"
	else
		lab_start_stock "$BRIDGE_IMAGE" || die "start"
	fi
	lab_wait_ready 60 || die "[$kind bridge] not ready"
	grep -aq 'uml-nf-router: bridge br0 up' "$LAB_DIR/appliance.log" || die "no bridge in the guest"
	sleep 1
	before=$(lab_if_stat "$LAB_NS_HOST" p-tap1 rx_packets)
	step "[$kind bridge] ping client -> server across the guest bridge, then 3 s"
	loss=$(timeout 15 ip netns exec "$LAB_NS_CLIENT" ping -c 5 -i 0.2 -w 6 10.0.9.2 2>&1 |
		sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p')
	sleep 3
	after=$(lab_if_stat "$LAB_NS_HOST" p-tap1 rx_packets)
	n=$((after - before))
	echo "    ping loss ${loss:-?}%; the guest wrote $n frames into p-tap1 meanwhile"
	grep -a "own address as source address" "$LAB_DIR/appliance.log" | head -n 1 | sed 's/^/    guest: /'
	if [ "$kind" = umlnf ]; then
		[ "${loss:-100}" = 0 ] || die "pings lost across a uml-nf hybrid bridge"
		[ "$n" -lt 500 ] || die "$n frames in 4 s: a loop"
	fi
	BRIDGED="ping_loss=${loss:-?}% frames_out_of_guest=$n"
	lab_stop_appliance 20 >/dev/null
	lab_destroy
	lab_assert_clean || exit 1
	lab_init "umlnf51-br$kind" || exit 1
}

run_case umlnf 1 persistent
run_case stock 1 persistent
run_case umlnf 0 created vec0
bridge_case umlnf
ub=$BRIDGED
bridge_case stock
sb=$BRIDGED

step "side by side (same kernel $KERNEL)"
for k in "umlnf gro=1 persistent" "stock gro=1 persistent" "umlnf gro=0 created vec=0"; do
	echo "    $k: ${RES[$k]}"
done
echo "    umlnf bridge on two hybrid ports: $ub"
echo "    stock bridge on two hybrid ports: $sb"
lab_destroy
pass "hybrid: both directions, gro=1/gro=0, vec=0, no echoes, tap queue drained, guest bridge without loops"
