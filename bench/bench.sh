#!/bin/bash
# Measures uml-nf (raw) against stock UML vector raw, each with gro=1 and gro=0, as a router: 64 B and 1500 B UDP pps, TCP Gbit/s (host GSO and MSS-sized segments), router CPU per packet.
# How: same lab and image for all; trafgen (-t 0, pinned) floods client->server through the guest; iperf3 1 stream; counters from the veths, CPU from /proc.
#
# One line per variant on stdout (key=value), then one ratio line per gro
# setting; the same lines go to $BENCH_OUT (default build/bench/results.txt),
# one CSV row per variant to ${BENCH_OUT%.txt}.csv. See bench/README.md.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../tests/lib.sh"

UMLNF=${UMLNF:-build/uml-nf}
IMAGE=${IMAGE:-build/images/router.img}
BENCH_DURATION=${BENCH_DURATION:-4}      # seconds measured per UDP run
BENCH_WARMUP=${BENCH_WARMUP:-1}          # seconds of flood before measuring
BENCH_TCP_SECONDS=${BENCH_TCP_SECONDS:-4}
BENCH_GEN_CPU=${BENCH_GEN_CPU:-0}        # generator, endpoints, sink
BENCH_ROUTER_CPUS=${BENCH_ROUTER_CPUS:-1} # the appliance (all its threads)
BENCH_VARIANTS=${BENCH_VARIANTS:-"umlnf-raw-gro1 umlnf-raw-gro0 stock-raw-gro1 stock-raw-gro0 direct-veth"}
BENCH_OUT=${BENCH_OUT:-build/bench/results.txt}
BENCH_CSV=${BENCH_CSV:-${BENCH_OUT%.txt}.csv}
BENCH_TOTAL_TIMEOUT=${BENCH_TOTAL_TIMEOUT:-470}

[ -f "$IMAGE" ] || { fail "image $IMAGE not found (make image)"; exit 1; }
[ -x "$UMLNF" ] || { fail "uml-nf $UMLNF not built (make)"; exit 1; }
command -v trafgen >/dev/null || { fail "trafgen not installed (netsniff-ng)"; exit 1; }

log() { echo "bench: $*" >&2; }

# The whole run is bounded: a watchdog sends us SIGTERM, whose trap tears
# the current lab down.
( sleep "$BENCH_TOTAL_TIMEOUT"; echo "bench: over ${BENCH_TOTAL_TIMEOUT}s, stopping" >&2
  kill -TERM $$ ) </dev/null >/dev/null 2>&1 &
watchdog=$!
# lab_init installs lab.sh's EXIT trap; bench_trap replaces it after each
# lab_init with one that also stops the watchdog and, on an early exit, keeps
# the lines measured so far in $BENCH_OUT.partial.
bench_trap() {
	trap 'rc=$?; trap - EXIT; lab_destroy; kill $watchdog 2>/dev/null
		[ -f "$BENCH_OUT.tmp" ] && mv -f "$BENCH_OUT.tmp" "$BENCH_OUT.partial" &&
			log "incomplete run: lines so far in $BENCH_OUT.partial"
		exit $rc' EXIT
}
bench_trap

ticks=$(getconf CLK_TCK)

# Hex CPU mask for a cpu list like "1" or "0,1" or "0-1".
cpumask() {
	local m=0 part a b c
	IFS=, read -r -a parts <<<"$1"
	for part in "${parts[@]}"; do
		a=${part%-*} b=${part#*-}
		for ((c = a; c <= b; c++)); do m=$((m | (1 << c))); done
	done
	printf '%x' "$m"
}

# A sleeper inside namespace $1 whose /proc/PID/net/dev shows that
# namespace's counters without forking into it for every read.
sleeper() {
	ip netns exec "$1" sleep 3600 </dev/null >/dev/null 2>&1 &
	_lab_track $!
	echo $!
}

# "rx_packets tx_packets" of interface $2 seen by process $1.
ifcount() {
	awk -v d="$2:" '$1 == d { print $3, $11 }' "/proc/$1/net/dev"
}

# Sum of utime+stime (ticks) of every thread of PID $1 and its descendants.
tree_ticks() {
	local p t s f sum=0
	for p in $(lab_descendants "$1"); do
		for t in /proc/"$p"/task/*; do
			read -r s 2>/dev/null <"$t/stat" || continue
			read -r -a f <<<"${s##*) }"
			sum=$((sum + f[11] + f[12]))
		done
	done
	echo "$sum"
}

# Idle time of the router CPUs in microseconds (cpuidle residency is precise;
# /proc/stat undercounts softirq in this VM).
idle_us() {
	local sum=0 c part a b v
	IFS=, read -r -a parts <<<"$BENCH_ROUTER_CPUS"
	for part in "${parts[@]}"; do
		a=${part%-*} b=${part#*-}
		for ((c = a; c <= b; c++)); do
			for v in /sys/devices/system/cpu/cpu$c/cpuidle/state*/time; do
				[ -r "$v" ] && sum=$((sum + $(<"$v")))
			done
		done
	done
	echo "$sum"
}

now_us() { local t=$EPOCHREALTIME; echo $(( ${t%.*} * 1000000 + 10#${t#*.} )); }

# trafgen config for one UDP frame of $1 bytes (without FCS) from the client
# to $2 (MAC) / $3 (IP), source MAC $4, source IP $5.
trafgen_conf() {
	local payload=$(($1 - 14 - 20 - 8))
	cat <<-EOF
	{
	  eth(da=$2, sa=$4, type=0x0800),
	  ipv4(saddr=$5, daddr=$3, ttl=64),
	  udp(sport=4000, dport=9),
	  fill(0x42, $payload)
	}
	EOF
}

# flood NAME FRAME_BYTES DST_MAC DST_IP OUT_DEV SRC_MAC SRC_IP RX_NS_PID RX_DEV [ROUTER_PID]
# Floods for warmup+duration, measures over the last $BENCH_DURATION s.
# Sets FLOOD_PPS (received at RX_DEV), FLOOD_OFFERED (sent by OUT_DEV),
# FLOOD_CPU_US (appliance tree CPU per received packet) and
# FLOOD_BUSY_US (router CPU busy time per received packet).
flood() {
	local name=$1 bytes=$2 dmac=$3 dip=$4 odev=$5 smac=$6 sip=$7 rxpid=$8 rxdev=$9
	local rpid=${10:-} cfg=$LAB_DIR/$name.trafgen gen c0 c1 r0 r1 k0 k1 i0 i1 t0 t1 el
	trafgen_conf "$bytes" "$dmac" "$dip" "$smac" "$sip" >"$cfg"
	ip netns exec "$LAB_NS_CLIENT" timeout -s INT $((BENCH_WARMUP + BENCH_DURATION + 10)) \
		taskset -c "$BENCH_GEN_CPU" trafgen -i "$cfg" -o "$odev" -t 0 -P 1 -C -Q \
		</dev/null >"$LAB_DIR/$name.trafgen.log" 2>&1 &
	gen=$!
	_lab_track "$gen"
	sleep "$BENCH_WARMUP"
	_lab_running "$gen" || { fail "trafgen $name died: $(tail -n 3 "$LAB_DIR/$name.trafgen.log")"; return 1; }
	t0=$(now_us)
	c0=$(ifcount "$CLIENT_PID" "$odev")
	r0=$(ifcount "$rxpid" "$rxdev")
	[ -n "$rpid" ] && k0=$(tree_ticks "$rpid")
	i0=$(idle_us)
	sleep "$BENCH_DURATION"
	t1=$(now_us)
	c1=$(ifcount "$CLIENT_PID" "$odev")
	r1=$(ifcount "$rxpid" "$rxdev")
	[ -n "$rpid" ] && k1=$(tree_ticks "$rpid")
	i1=$(idle_us)
	kill -INT "$gen" 2>/dev/null
	wait "$gen" 2>/dev/null
	el=$((t1 - t0))
	set -- $c0 $c1 $r0 $r1
	# $2/$4: client tx before/after, $5/$7: receiver rx before/after.
	FLOOD_OFFERED=$(( ($4 - $2) * 1000000 / el ))
	FLOOD_PPS=$(( ($7 - $5) * 1000000 / el ))
	local pkts=$(($7 - $5))
	FLOOD_CPU_US=na FLOOD_BUSY_US=na
	if [ -n "$rpid" ] && [ "$pkts" -gt 0 ]; then
		FLOOD_CPU_US=$(awk -v k=$((k1 - k0)) -v hz="$ticks" -v n="$pkts" \
			'BEGIN { printf "%.3f", k / hz * 1e6 / n }')
		FLOOD_BUSY_US=$(awk -v e="$el" -v i=$((i1 - i0)) -v n="$pkts" \
			'BEGIN { b = e - i; if (b < 0) b = 0; printf "%.3f", b / n }')
	fi
	log "$name: offered $FLOOD_OFFERED pps, received $FLOOD_PPS pps over $((el / 1000)) ms," \
		"appliance CPU $FLOOD_CPU_US us/pkt, router CPU busy $FLOOD_BUSY_US us/pkt"
}

# Drop UDP at the sink right after the veth counted it: u32 + mirred to a
# veth whose peer is down (no gact/matchall/dummy on this host kernel).
sink_drop() {
	local ns=$1 dev=$2
	timeout 10 ip -n "$ns" link add sk0 type veth peer name sk1 &&
	timeout 10 ip -n "$ns" link set sk0 up &&
	timeout 10 ip netns exec "$ns" tc qdisc add dev "$dev" ingress &&
	timeout 10 ip netns exec "$ns" tc filter add dev "$dev" parent ffff: protocol ip \
		u32 match ip protocol 17 0xff action mirred egress redirect dev sk0 ||
		log "warning: no sink drop on $dev (the sink's UDP stack will run)"
}

set_rps() {
	local ns=$1 dev=$2 mask=$3
	timeout 10 ip netns exec "$ns" sh -c "echo $mask >/sys/class/net/$dev/queues/rx-0/rps_cpus" ||
		log "warning: cannot set rps_cpus on $dev"
}

mac_of() { timeout 5 ip -n "$1" -br link show "$2" | awk '{ print $3 }'; }

# c_offload STATE: TSO and GSO of the client's c-eth0 on or off.
c_offload() {
	timeout 10 ip netns exec "$LAB_NS_CLIENT" ethtool -K c-eth0 tso "$1" gso "$1" 2>&1 &&
	timeout 10 ip netns exec "$LAB_NS_CLIENT" ethtool -k c-eth0 |
		grep -q "^tcp-segmentation-offload: $1" &&
	timeout 10 ip netns exec "$LAB_NS_CLIENT" ethtool -k c-eth0 |
		grep -q "^generic-segmentation-offload: $1"
}

# bench_tcp NAME: one bounded iperf3 stream (lab_iperf: client killed after
# BENCH_TCP_SECONDS + 20 s); sets TCP_RESULT to Gbit/s or "fail", never fails.
bench_tcp() {
	local name=$1 g retr
	# Endpoints on the generator CPU too (iperf3 -A client,server).
	if g=$(lab_iperf "$BENCH_TCP_SECONDS" -A "$BENCH_GEN_CPU,$BENCH_GEN_CPU") && [ -n "$g" ]; then
		TCP_RESULT=$g
		retr=$(awk '/"sum_sent"/ {f = 1} f && /"retransmits"/ {
			gsub(/[^0-9]/, "", $2); print $2; exit }' "$LAB_DIR/iperf.json")
		log "$name: $g Gbit/s, ${retr:-?} retransmits"
	else
		TCP_RESULT=fail
		log "$name: iperf3 failed or timed out (recorded as fail):" \
			"$(tail -n 2 "$LAB_DIR/iperf-client.err" 2>/dev/null | tr '\n' ' ')"
	fi
}

# bench_router VARIANT: boot, measure, stop; sets RESULT to the result line.
# VARIANT is umlnf-raw-groN or stock-raw-groN; N becomes the vecN: gro= option.
bench_router() {
	local variant=$1 kind=${1%%-*} gro=${1##*-gro} gmac smac pps64 pps1500 off64 off1500
	local cpu64 busy64 tcp tcp_mss
	lab_init "bench-$variant" || return 1
	bench_trap
	lab_create || return 1
	lab_write_conf || return 1
	CLIENT_PID=$(sleeper "$LAB_NS_CLIENT")
	SERVER_PID=$(sleeper "$LAB_NS_SERVER")
	case $kind in
	umlnf) LAB_CPUS=$BENCH_ROUTER_CPUS LAB_VEC_OPTS=gro=$gro \
			lab_start_umlnf "$UMLNF" "$IMAGE" || return 1 ;;
	stock) LAB_CPUS=$BENCH_ROUTER_CPUS LAB_VEC_OPTS=gro=$gro \
			lab_start_stock "$IMAGE" || return 1 ;;
	esac
	lab_wait_ready 60 || return 1
	log "$variant: booted (pid $LAB_APPLIANCE_PID, CPUs $BENCH_ROUTER_CPUS, gro=$gro)"
	set_rps "$LAB_NS_HOST" p-veth0 "$(cpumask "$BENCH_ROUTER_CPUS")"
	set_rps "$LAB_NS_HOST" p-veth1 "$(cpumask "$BENCH_ROUTER_CPUS")"
	set_rps "$LAB_NS_CLIENT" c-eth0 "$(cpumask "$BENCH_GEN_CPU")"
	set_rps "$LAB_NS_SERVER" s-eth0 "$(cpumask "$BENCH_GEN_CPU")"
	sink_drop "$LAB_NS_SERVER" s-eth0
	lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || { fail "$variant: ping"; return 1; }
	gmac=$(timeout 5 ip -n "$LAB_NS_CLIENT" neigh show "$LAB_IF0_ADDR" |
		awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
	[ -n "$gmac" ] || { fail "$variant: no neighbour entry for $LAB_IF0_ADDR"; return 1; }
	smac=$(mac_of "$LAB_NS_CLIENT" c-eth0)

	flood "$variant-64" 60 "$gmac" "$LAB_SERVER_ADDR" c-eth0 "$smac" "$LAB_CLIENT_ADDR" \
		"$SERVER_PID" s-eth0 "$LAB_APPLIANCE_PID" || return 1
	pps64=$FLOOD_PPS off64=$FLOOD_OFFERED cpu64=$FLOOD_CPU_US busy64=$FLOOD_BUSY_US
	flood "$variant-1500" 1514 "$gmac" "$LAB_SERVER_ADDR" c-eth0 "$smac" "$LAB_CLIENT_ADDR" \
		"$SERVER_PID" s-eth0 "$LAB_APPLIANCE_PID" || return 1
	pps1500=$FLOOD_PPS off1500=$FLOOD_OFFERED
	timeout 5 ip netns exec "$LAB_NS_SERVER" tc -s filter show dev s-eth0 parent ffff: \
		>"$LAB_DIR/sink.txt" 2>&1
	log "$variant: sink $(grep -m1 'Sent' "$LAB_DIR/sink.txt")"

	# TCP with MSS-sized segments first (client TSO/GSO off), then with host
	# GSO frames: stock gro=0 is known to break on GSO frames, and a guest it
	# wedges must not spoil the MSS measurement.
	if c_offload off >/dev/null; then
		bench_tcp "$variant tcp_mss"
		tcp_mss=$TCP_RESULT
	else
		log "$variant: cannot switch c-eth0 TSO/GSO off; tcp_mss_gbps=fail"
		tcp_mss=fail
	fi
	if c_offload on >/dev/null; then
		bench_tcp "$variant tcp"
		tcp=$TCP_RESULT
	else
		log "$variant: cannot switch c-eth0 TSO/GSO back on; tcp_gbps=fail"
		tcp=fail
	fi
	lab_stop_appliance 30 >/dev/null
	log "$variant: stopped ($LAB_STOP_HOW)"
	if [ "$LAB_STOP_HOW" != exited ]; then
		cp "$LAB_DIR/appliance.log" "$(dirname "$BENCH_OUT")/$variant-appliance.log"
		log "warning: $variant needed SIGKILL to stop (log kept in" \
			"$(dirname "$BENCH_OUT")/$variant-appliance.log)"
	fi
	lab_destroy
	RESULT="variant=$variant pps64=$pps64 pps1500=$pps1500 tcp_gbps=$tcp tcp_mss_gbps=$tcp_mss cpu_us_per_pkt64=$cpu64 offered64=$off64 offered1500=$off1500 busy_us_per_pkt64=$busy64"
}

# bench_direct: a veth pair straight from client to server (no router): the
# generator's own ceiling in this run.
bench_direct() {
	local smac dmac
	lab_init bench-direct || return 1
	bench_trap
	lab_create || return 1
	CLIENT_PID=$(sleeper "$LAB_NS_CLIENT")
	SERVER_PID=$(sleeper "$LAB_NS_SERVER")
	timeout 10 ip -n "$LAB_NS_CLIENT" link add d-c type veth peer name d-s \
		netns "$LAB_NS_SERVER" &&
	timeout 10 ip -n "$LAB_NS_CLIENT" addr add 10.0.3.1/24 dev d-c &&
	timeout 10 ip -n "$LAB_NS_SERVER" addr add 10.0.3.2/24 dev d-s &&
	timeout 10 ip -n "$LAB_NS_CLIENT" link set d-c up &&
	timeout 10 ip -n "$LAB_NS_SERVER" link set d-s up || { fail "direct veth"; return 1; }
	set_rps "$LAB_NS_CLIENT" d-c "$(cpumask "$BENCH_GEN_CPU")"
	set_rps "$LAB_NS_SERVER" d-s "$(cpumask "$BENCH_GEN_CPU")"
	sink_drop "$LAB_NS_SERVER" d-s
	smac=$(mac_of "$LAB_NS_CLIENT" d-c)
	dmac=$(mac_of "$LAB_NS_SERVER" d-s)
	flood direct-64 60 "$dmac" 10.0.3.2 d-c "$smac" 10.0.3.1 "$SERVER_PID" d-s || return 1
	local pps64=$FLOOD_PPS off64=$FLOOD_OFFERED
	flood direct-1500 1514 "$dmac" 10.0.3.2 d-c "$smac" 10.0.3.1 "$SERVER_PID" d-s || return 1
	lab_destroy
	RESULT="variant=direct-veth pps64=$pps64 pps1500=$FLOOD_PPS offered64=$off64 offered1500=$FLOOD_OFFERED"
}

mkdir -p "$(dirname "$BENCH_OUT")"
: >"$BENCH_OUT.tmp"
rm -f "$BENCH_OUT.partial"
log "duration ${BENCH_DURATION}s (+${BENCH_WARMUP}s warmup), tcp ${BENCH_TCP_SECONDS}s," \
	"generator CPU $BENCH_GEN_CPU, router CPUs $BENCH_ROUTER_CPUS, watchdog ${BENCH_TOTAL_TIMEOUT}s"
start_s=$SECONDS
declare -A res
order=()
for v in $BENCH_VARIANTS; do
	RESULT=
	case $v in
	direct-veth) bench_direct ;;
	umlnf-raw-gro[01] | stock-raw-gro[01]) bench_router "$v" ;;
	*) fail "unknown variant $v"; RESULT= ;;
	esac
	rc=$?
	if [ "$rc" -ne 0 ] || [ -z "$RESULT" ]; then
		lab_log_tail 20
		lab_destroy
		RESULT="variant=$v error=1"
	fi
	echo "$RESULT" | tee -a "$BENCH_OUT.tmp"
	res[$v]=$RESULT
	order+=("$v")
done

# key value of line $1 (empty when absent)
kv() { sed -nE "s/^(.* )?$2=([^ ]*).*/\2/p" <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {
	if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b
	else print "n/a" }'; }
for g in 1 0; do
	u=${res[umlnf-raw-gro$g]:-} s=${res[stock-raw-gro$g]:-}
	[ -n "$u" ] || [ -n "$s" ] || continue
	echo "ratio gro=$g pps64=$(ratio "$(kv "$u" pps64)" "$(kv "$s" pps64)")" \
		"pps1500=$(ratio "$(kv "$u" pps1500)" "$(kv "$s" pps1500)")" \
		"tcp=$(ratio "$(kv "$u" tcp_gbps)" "$(kv "$s" tcp_gbps)")" \
		"tcp_mss=$(ratio "$(kv "$u" tcp_mss_gbps)" "$(kv "$s" tcp_mss_gbps)")" | tee -a "$BENCH_OUT.tmp"
done

# CSV: one row per variant, empty cells for keys a variant does not have.
cols=(variant pps64 pps1500 tcp_gbps tcp_mss_gbps cpu_us_per_pkt64 busy_us_per_pkt64 offered64 offered1500 error)
{
	(IFS=,; echo "${cols[*]}")
	for v in "${order[@]}"; do
		row=()
		for c in "${cols[@]}"; do row+=("$(kv "${res[$v]}" "$c")"); done
		(IFS=,; echo "${row[*]}")
	done
} >"$BENCH_CSV.tmp" && mv "$BENCH_CSV.tmp" "$BENCH_CSV"
mv "$BENCH_OUT.tmp" "$BENCH_OUT"
log "results in $BENCH_OUT and $BENCH_CSV ($((SECONDS - start_s)) s)"
