#!/bin/bash
# Measures uml-nf, stock UML (vector raw, tap, hybrid; gro=0/1) and the host kernel as routers: UDP pps at 64/512/1500 B, loss at a fixed rate, TCP 1 and 4 streams, ping latency, CPU per packet.
# How: one lab boot per variant, same image; trafgen (pinned) floods client->server through it, iperf3 and ping measure; counters from the veths, CPU from /proc (busy from /proc/stat idle); bench/report.sh draws plots and the summary.
#
# One key=value line per variant on stdout, then ratio lines; the same lines
# go to $BENCH_OUT (default build/bench/results.txt), one CSV row per variant
# to ${BENCH_OUT%.txt}.csv, PNG plots and summary.md beside them. See
# bench/README.md for keys, rules and caveats.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../tests/lib.sh"
. "$here/ndr.sh"
. "$here/../tests/tunnel-lab.sh"

UMLNF=${UMLNF:-build/uml-nf}
IMAGE=${IMAGE:-build/images/router.img}
# One guest kernel for every UML variant, uml-nf and stock vector alike, so
# the comparison is of datapaths, not kernels (the tuned kernel, when built,
# would otherwise be uml-nf's default). Its vector driver serves the stock
# variants.
BENCH_KERNEL=${BENCH_KERNEL:-/usr/bin/linux.uml}
export UMLNF_KERNEL=$BENCH_KERNEL LAB_LINUX_UML=$BENCH_KERNEL
BENCH_DURATION=${BENCH_DURATION:-3}      # seconds measured per UDP run
BENCH_WARMUP=${BENCH_WARMUP:-1}          # seconds of traffic before measuring
BENCH_TCP_SECONDS=${BENCH_TCP_SECONDS:-3}
BENCH_SIZES=${BENCH_SIZES:-"64 512 1500"}
BENCH_FIXED_PPS=${BENCH_FIXED_PPS:-50000} # the fixed-rate run, 64 B frames
BENCH_PING_COUNT=${BENCH_PING_COUNT:-200}
BENCH_PING_INTERVAL=${BENCH_PING_INTERVAL:-0.01}
BENCH_GEN_CPU=${BENCH_GEN_CPU:-0}        # generator, endpoints, sink
BENCH_ROUTER_CPUS=${BENCH_ROUTER_CPUS:-1} # the router (appliance or host forwarding)
BENCH_VARIANTS=${BENCH_VARIANTS:-"direct-veth host-router ceil-raw umlnf-raw-gro1-old umlnf-raw-gro1 umlnf-raw-gro0-old umlnf-raw-gro0 umlnf-raw-gro1-mmap umlnf-raw-gro0-xdpskb umlnf-raw-gro0-xdp umlnf-raw-gro1-poll100 stock-raw-gro1 stock-raw-gro0 ceil-tap umlnf-tap-gro1 stock-tap-gro1 umlnf-tap-gro0 stock-tap-gro0 umlnf-hybrid-gro1 stock-hybrid-gro1 umlnf-hybrid-gro0 stock-hybrid-gro0 ceil-gre umlnf-gre stock-gre ceil-l2tpv3udp umlnf-l2tpv3udp stock-l2tpv3udp ceil-l2tpv3ip umlnf-l2tpv3ip stock-l2tpv3ip"}
BENCH_OUT=${BENCH_OUT:-build/bench/results.txt}
BENCH_CSV=${BENCH_CSV:-${BENCH_OUT%.txt}.csv}
# The RFC 2544 NDR/PDR search (bench/ndr.sh) at these sizes; "" = none.
BENCH_NDR_SIZES=${BENCH_NDR_SIZES-"64 1500"}
# The same search for the tunnel rows (64 B only by default: their 1500 B
# frames become two outer packets each); none when BENCH_NDR_SIZES is empty.
BENCH_TUNNEL_NDR_SIZES=${BENCH_TUNNEL_NDR_SIZES-$([ -n "$BENCH_NDR_SIZES" ] && echo 64)}
BENCH_TOTAL_TIMEOUT=${BENCH_TOTAL_TIMEOUT:-$([ -n "$BENCH_NDR_SIZES" ] && echo 3300 || echo 1380)}
BENCH_DIR=$(dirname "$BENCH_OUT")

[ -f "$IMAGE" ] || { fail "image $IMAGE not found (make image)"; exit 1; }
[ -x "$UMLNF" ] || { fail "uml-nf $UMLNF not built (make)"; exit 1; }
command -v trafgen >/dev/null || { fail "trafgen not installed (netsniff-ng)"; exit 1; }

log() { echo "bench: $*" >&2; }

# The whole run is bounded twice: a variant that would not fit in what is
# left of BENCH_TOTAL_TIMEOUT is skipped (status=skip), and a watchdog sends
# us SIGTERM at BENCH_TOTAL_TIMEOUT, whose trap tears the current lab down.
( sleep "$BENCH_TOTAL_TIMEOUT"; echo "bench: over ${BENCH_TOTAL_TIMEOUT}s, stopping" >&2
  kill -TERM $$ ) </dev/null >/dev/null 2>&1 &
watchdog=$!
# lab_init installs lib.sh's EXIT trap; bench_trap replaces it after each
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

# Frame length without FCS for a size label: 64 and 512 are Ethernet frame
# sizes with FCS (RFC 2544), 1500 is the IP packet size (1514 B frame).
frame_bytes() {
	case $1 in
	1500) echo 1514 ;;
	*) echo $(($1 - 4)) ;;
	esac
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

# Idle time of the router CPUs in microseconds from cpuidle residency: fine
# grained, but it includes interrupt and softirq work done on a CPU woken from
# idle (the idle_busy_* keys); busy_* use stat_idle_us below.
idle_us() {
	local sum=0 c v
	for c in $(router_cpus); do
		for v in /sys/devices/system/cpu/cpu$c/cpuidle/state*/time; do
			[ -r "$v" ] && sum=$((sum + $(<"$v")))
		done
	done
	echo "$sum"
}

# Idle time of the router CPUs in microseconds from /proc/stat (idle +
# iowait). With NO_HZ this is the kernel's own idle-sleep time, which stops
# counting when an interrupt arrives: unlike cpuidle residency it does not
# hide interrupt and softirq work done on an idle CPU. USER_HZ resolution
# (10 ms): 0.3 % of a 3 s window.
stat_idle_us() {
	local c sum=0 hz
	hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
	for c in $(router_cpus); do
		sum=$((sum + $(awk -v c="cpu$c" '$1 == c { print $5 + $6 }' /proc/stat)))
	done
	echo $((sum * 1000000 / hz))
}

# The router CPUs one per line, from a list like "1" or "0,2-3".
router_cpus() {
	local part a b c
	IFS=, read -r -a parts <<<"$BENCH_ROUTER_CPUS"
	for part in "${parts[@]}"; do
		a=${part%-*} b=${part#*-}
		for ((c = a; c <= b; c++)); do echo "$c"; done
	done
}

# CPU busy time by cycle soaking (bench/soak.c; see there why the cpuidle
# residency is not enough): soak_start runs one SCHED_IDLE spinner per router
# CPU, soak_stop ends them and sets SOAK_BUSY to the busy CPU-microseconds of
# the window ("" without a calibration). SOAK_BASE[cpu]: loops/s when idle.
declare -A SOAK_BASE
SOAK_NCAL=0 # CPUs with a calibration (an empty array trips set -u)
SOAK_PIDS=() SOAK_BUSY=
soak_calibrate() {
	local c out
	[ -x "$SOAK" ] || return 0
	for c in $(router_cpus); do
		out=$("$SOAK" -c "$c" -t 1) || continue
		SOAK_BASE[$c]=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")
		[ -n "${SOAK_BASE[$c]}" ] || continue
		SOAK_NCAL=$((SOAK_NCAL + 1))
		log "soak: CPU $c idle rate ${SOAK_BASE[$c]} loops/s"
	done
}
soak_start() {
	local c
	SOAK_PIDS=()
	[ -x "$SOAK" ] && [ "$SOAK_NCAL" -gt 0 ] || return 0
	for c in $(router_cpus); do
		[ -n "${SOAK_BASE[$c]:-}" ] || continue
		"$SOAK" -c "$c" >"$LAB_DIR/soak.$c" 2>&1 &
		SOAK_PIDS+=("$c:$!")
		_lab_track "$!"
	done
}
soak_stop() {
	local e c pid total=0 rate secs
	SOAK_BUSY=
	[ "${#SOAK_PIDS[@]}" -gt 0 ] || return 0
	for e in "${SOAK_PIDS[@]}"; do kill -INT "${e#*:}" 2>/dev/null; done
	for e in "${SOAK_PIDS[@]}"; do
		c=${e%%:*} pid=${e#*:}
		wait "$pid" 2>/dev/null
		rate=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' "$LAB_DIR/soak.$c")
		secs=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' "$LAB_DIR/soak.$c")
		[ -n "$rate" ] && [ -n "$secs" ] || { SOAK_PIDS=(); return 0; }
		total=$(awk -v t="$total" -v r="$rate" -v b="${SOAK_BASE[$c]}" -v s="$secs" 'BEGIN {
			f = 1 - r / b; if (f < 0) f = 0; if (f > 1) f = 1; printf "%.0f", t + f * s * 1e6 }')
	done
	SOAK_PIDS=()
	SOAK_BUSY=$total
}

now_us() { local t=$EPOCHREALTIME; echo $(( ${t%.*} * 1000000 + 10#${t#*.} )); }

# awk one-liner helpers: "na" unless both operands are positive numbers.
per() { awk -v a="$1" -v b="$2" -v s="${3:-1}" -v f="${4:-%.3f}" 'BEGIN {
	if (b + 0 > 0) printf f, a * s / b; else print "na" }'; }

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

# flood NAME FRAME_BYTES RATE
# trafgen from $FL_ODEV ($FL_SMAC/$FL_SIP) to $FL_DMAC/$FL_DIP for
# warmup+duration, measured over the last $BENCH_DURATION s; the receiver is
# $FL_RXDEV as seen by process $FL_RXPID. RATE "" = as fast as trafgen goes
# (-t 0: one sendto per frame), else RATE frames per second evenly spaced by
# bench/pacer.c (trafgen's own rate and gap modes are bursty or imprecise
# here; see pacer.c). "trafgen" below means whichever of the two runs.
# ROUTER_PID (process tree charged as the router, may be empty) and
# ROUTER_BUSY (1: the router CPUs do the forwarding) say what CPU to report.
# Sets FLOOD_OFFERED / FLOOD_PPS (frames/s sent by FL_ODEV / received at
# FL_RXDEV), FLOOD_TX / FLOOD_RX (frames in the window), FLOOD_CPU_US
# (router tree CPU per received frame), FLOOD_BUSY_US (router CPU busy time
# per received frame), FLOOD_GEN_PCT (trafgen's utime+stime, % of one CPU).
# Returns 1, all values "fail", when trafgen dies.
# umlnf_counters: "WAKEUPS KICKS CALLS" of the running uml-nf (UMLNF_PID),
# from the stats it prints on SIGUSR1; "" when there is no uml-nf.
umlnf_counters() {
	local log=$LAB_DIR/appliance.log n0 i
	[ -n "${UMLNF_PID:-}" ] || return 0
	n0=$(grep -ac 'uml-nf: stats engine ' "$log")
	kill -USR1 "$UMLNF_PID" 2>/dev/null || return 0
	for i in $(seq 50); do
		[ "$(grep -ac 'uml-nf: stats engine ' "$log")" -gt "$n0" ] && break
		sleep 0.02
	done
	sleep 0.05
	# The last engine line and the device lines after it.
	awk '/uml-nf: stats engine / { w = $0; sub(/.*wakeups=/, "", w); k = 0; c = 0; next }
	     /uml-nf: stats dev=/ { for (i = 1; i <= NF; i++) {
			if ($i ~ /^kicks=/) k += substr($i, 7)
			if ($i ~ /^calls=/) c += substr($i, 7) } }
	     END { if (w != "") print w + 0, k, c }' "$log"
}

flood() {
	local name=$1 bytes=$2 rate=$3 cfg=$LAB_DIR/$1.trafgen gen tool u0 u1
	local c0 c1 r0 r1 k0 k1 g0 g1 i0 i1 s0 s1 t0 t1 el busy
	FLOOD_OFFERED=fail FLOOD_PPS=fail FLOOD_TX=0 FLOOD_RX=0
	FLOOD_CPU_US=fail FLOOD_BUSY_US=fail FLOOD_IDLE_BUSY_US=fail FLOOD_GEN_PCT=fail
	if [ -n "$rate" ]; then
		[ -x "$PACER" ] || { fail "$name: no pacer ($PACER)"; return 1; }
		tool=("$PACER" -i "$FL_ODEV" -d "$FL_DMAC" -s "$FL_SMAC" -S "$FL_SIP" -D "$FL_DIP"
			-l "$bytes" -r "$rate" -t $((BENCH_WARMUP + BENCH_DURATION + 5)))
	else
		trafgen_conf "$bytes" "$FL_DMAC" "$FL_DIP" "$FL_SMAC" "$FL_SIP" >"$cfg"
		tool=(trafgen -i "$cfg" -o "$FL_ODEV" -t 0 -P 1 -C -Q)
	fi
	ip netns exec "$FL_NS" timeout -s INT $((BENCH_WARMUP + BENCH_DURATION + 10)) \
		taskset -c "$BENCH_GEN_CPU" "${tool[@]}" </dev/null >"$LAB_DIR/$name.trafgen.log" 2>&1 &
	gen=$!
	_lab_track "$gen"
	sleep "$BENCH_WARMUP"
	_lab_running "$gen" || { fail "trafgen $name died: $(tail -n 3 "$LAB_DIR/$name.trafgen.log")"; return 1; }
	t0=$(now_us)
	c0=$(ifcount "$FL_TXPID" "$FL_ODEV")
	r0=$(ifcount "$FL_RXPID" "$FL_RXDEV")
	k0=0 k1=0
	[ -n "$ROUTER_PID" ] && k0=$(tree_ticks "$ROUTER_PID")
	g0=$(tree_ticks "$gen")
	soak_start
	i0=$(idle_us) s0=$(stat_idle_us)
	u0=$(umlnf_counters)
	sleep "$BENCH_DURATION"
	t1=$(now_us)
	c1=$(ifcount "$FL_TXPID" "$FL_ODEV")
	r1=$(ifcount "$FL_RXPID" "$FL_RXDEV")
	[ -n "$ROUTER_PID" ] && k1=$(tree_ticks "$ROUTER_PID")
	g1=$(tree_ticks "$gen")
	i1=$(idle_us) s1=$(stat_idle_us)
	u1=$(umlnf_counters)
	soak_stop
	busy=$SOAK_BUSY
	_lab_running "$gen" || { fail "trafgen $name died: $(tail -n 3 "$LAB_DIR/$name.trafgen.log")"; return 1; }
	kill -INT "$gen" 2>/dev/null
	wait "$gen" 2>/dev/null
	el=$((t1 - t0))
	set -- $c0 $c1 $r0 $r1
	# $2/$4: sender tx before/after, $5/$7: receiver rx before/after.
	FLOOD_TX=$(($4 - $2)) FLOOD_RX=$(($7 - $5))
	FLOOD_OFFERED=$((FLOOD_TX * 1000000 / el))
	FLOOD_PPS=$((FLOOD_RX * 1000000 / el))
	FLOOD_GEN_PCT=$(per $((g1 - g0)) $((ticks * el)) 100000000 %.1f)
	FLOOD_CPU_US=na FLOOD_BUSY_US=na FLOOD_IDLE_BUSY_US=na FLOOD_WAKE=na FLOOD_KICKS=na FLOOD_CALLS=na
	if [ -n "$u0" ] && [ -n "$u1" ] && [ "$FLOOD_RX" -gt 0 ]; then
		set -- $u0 $u1
		FLOOD_WAKE=$(per $(($4 - $1)) "$FLOOD_RX" 1 %.3f)
		FLOOD_KICKS=$(per $(($5 - $2)) "$FLOOD_RX" 1 %.3f)
		FLOOD_CALLS=$(per $(($6 - $3)) "$FLOOD_RX" 1 %.3f)
	fi
	[ -n "$ROUTER_PID" ] && FLOOD_CPU_US=$(per $((k1 - k0)) $((ticks * FLOOD_RX)) 1000000)
	# Busy: elapsed minus the /proc/stat idle time (see stat_idle_us), or
	# from the soakers with BENCH_SOAK=1. Elapsed minus cpuidle residency
	# undercounts interrupt-driven work (see soak.c) and is kept apart as
	# FLOOD_IDLE_BUSY_US.
	local idle_busy=$((el - (i1 - i0) > 0 ? el - (i1 - i0) : 0))
	[ -n "$busy" ] || busy=$((el - (s1 - s0) > 0 ? el - (s1 - s0) : 0))
	if [ "${ROUTER_BUSY:-0}" = 1 ]; then
		FLOOD_BUSY_US=$(per "$busy" "$FLOOD_RX")
		FLOOD_IDLE_BUSY_US=$(per "$idle_busy" "$FLOOD_RX")
	fi
	log "$name: offered $FLOOD_OFFERED pps, received $FLOOD_PPS pps over $((el / 1000)) ms," \
		"router tree CPU $FLOOD_CPU_US us/pkt, router CPU busy $FLOOD_BUSY_US us/pkt," \
		"trafgen CPU $FLOOD_GEN_PCT %${u0:+, per frame: $FLOOD_WAKE datapath wakeups, $FLOOD_KICKS kicks, $FLOOD_CALLS calls}"
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

# bench_tcp NAME [IPERF3 ARGS..]: one bounded iperf3 run (lab_iperf: client
# killed after BENCH_TCP_SECONDS + 20 s); sets TCP_RESULT to Gbit/s or
# "fail" and TCP_RETR to the sender's retransmits; never fails.
bench_tcp() {
	local name=$1 g
	shift
	TCP_RETR=na
	local perfpid='' pdata
	if [ -n "${BENCH_PERF:-}" ]; then
		# The router CPUs through the middle of the run, with call graphs.
		pdata=$BENCH_PERF-${name// /-}.data
		(sleep 1 && exec perf record -q -C "$BENCH_ROUTER_CPUS" -e cpu-clock -g -o "$pdata" \
			-- sleep $((BENCH_TCP_SECONDS > 2 ? BENCH_TCP_SECONDS - 2 : 1))) >/dev/null 2>&1 &
		perfpid=$!
	fi
	# Endpoints on the generator CPU too (iperf3 -A client,server).
	if g=$(lab_iperf "$BENCH_TCP_SECONDS" -A "$BENCH_GEN_CPU,$BENCH_GEN_CPU" "$@") && [ -n "$g" ]; then
		TCP_RESULT=$g
		TCP_RETR=$(awk '/"sum_sent"/ {f = 1} f && /"retransmits"/ {
			gsub(/[^0-9]/, "", $2); print $2; exit }' "$LAB_DIR/iperf.json")
		TCP_RETR=${TCP_RETR:-na}
		log "$name: $g Gbit/s, $TCP_RETR retransmits"
	else
		TCP_RESULT=fail
		log "$name: iperf3 failed or timed out (recorded as fail):" \
			"$(tail -n 2 "$LAB_DIR/iperf-client.err" 2>/dev/null | tr '\n' ' ')"
	fi
	if [ -n "$perfpid" ]; then
		wait "$perfpid" && log "$name: perf profile of the router CPUs in $pdata"
	fi
}

# bench_ping NS DST: BENCH_PING_COUNT pings every BENCH_PING_INTERVAL s;
# sets PING_MED / PING_P99 (ms, nearest rank over the replies) and PING_LOST.
bench_ping() {
	local ns=$1 dst=$2 n=$BENCH_PING_COUNT out=$LAB_DIR/ping.txt p=(ping -n) deadline
	command -v ping >/dev/null || p=(busybox ping)
	deadline=$(awk -v n="$n" -v i="$BENCH_PING_INTERVAL" 'BEGIN { printf "%d", n * i + 5 }')
	timeout $((deadline + 5)) ip netns exec "$ns" "${p[@]}" -n -c "$n" \
		-i "$BENCH_PING_INTERVAL" -w "$deadline" "$dst" >"$out" 2>&1
	# shellcheck disable=SC2046 # three words: median, p99, lost
	set -- $(grep -v DUP "$out" | sed -n 's/.* time=\([0-9.]*\).*/\1/p' | sort -g |
		awk -v n="$n" '
		function rank(p,  r) { r = p * NR / 100; return r == int(r) ? r : int(r) + 1 }
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "fail", "fail", n; exit }
			printf "%.3f %.3f %d\n", v[rank(50)], v[rank(99)], n - NR
		}')
	PING_MED=$1 PING_P99=$2 PING_LOST=$3
	log "ping $dst: median $PING_MED ms, p99 $PING_P99 ms, $PING_LOST of $n lost"
}

# ---- results ---------------------------------------------------------------

# Result columns, in CSV and line order.
cols=(variant status reason wall_s)
for s in $BENCH_SIZES; do cols+=("pps$s"); done
for s in $BENCH_SIZES; do cols+=("offered$s"); done
for s in $BENCH_SIZES; do cols+=("gen_bound$s"); done
cols+=(gen_bound fixed_offered fixed_pps fixed_loss_pct
	tcp_gbps tcp4_gbps tcp_mss_gbps tcp_retr tcp4_retr tcp_mss_retr
	ping_med_ms ping_p99_ms ping_lost
	cpu_us_per_pkt64 busy_us_per_pkt64 fixed_cpu_us_per_pkt fixed_busy_us_per_pkt)
for s in $BENCH_SIZES; do cols+=("gen_cpu_pct$s"); done
# uml-nf only: datapath wakeups, guest kicks and calls to the guest per frame.
cols+=(wakeups_per_pkt64 kicks_per_pkt64 calls_per_pkt64
	fixed_wakeups_per_pkt fixed_kicks_per_pkt fixed_calls_per_pkt)
# Busy CPU the old way (elapsed - cpuidle residency), for comparison.
cols+=(idle_busy_us_per_pkt64 fixed_idle_busy_us_per_pkt)
# RFC 2544 search (bench/ndr.sh), and the flood rate as a share of the NDR
# (receive livelock: well below 1).
for s in $BENCH_NDR_SIZES; do cols+=("ndr$s" "pdr$s" "ndr_gen_bound$s" "ndr_trials$s" "flood_per_ndr$s"); done
cols+=(ndr_busy_us_per_pkt64 ndr_umlnf_us_per_pkt64 ndr_guest_us_per_pkt64)
# ceil-gre, ceil-l2tpv3*: the host's own tunnel path alone (bench/tunceil.c),
# frames/s and the TCP payload they would carry.
cols+=(ceil_fps ceil_tcp_gbps)

declare -A R          # the variant being measured: key -> value
declare -A DIRECT     # direct-veth offered rate per size, for gen_bound

res_line() {
	local line="variant=${R[variant]}" c
	for c in "${cols[@]:1}"; do
		[ -n "${R[$c]:-}" ] && line+=" $c=${R[$c]}"
	done
	echo "$line"
}

# A value that can go into a key=value line and a CSV cell.
token() { local t=${*:-unknown}; t=${t//[ ,=]/_}; echo "${t//[^A-Za-z0-9_.:\/+-]/}"; }

# bench_fail REASON: the variant could not be measured.
bench_fail() { R[status]=fail; R[reason]=$(token "$@"); fail "${R[variant]}: $*"; return 1; }

# UDP floods at every size, then the fixed rate; fills R.
bench_udp() {
	local v=${R[variant]} s gb any=na
	for s in $BENCH_SIZES; do
		if flood "$v-$s" "$(frame_bytes "$s")" ""; then
			[ "$v" = direct-veth ] && DIRECT[$s]=$FLOOD_OFFERED
		fi
		R[pps$s]=$FLOOD_PPS R[offered$s]=$FLOOD_OFFERED R[gen_cpu_pct$s]=$FLOOD_GEN_PCT
		if [ "$s" = 64 ]; then
			R[cpu_us_per_pkt64]=$FLOOD_CPU_US R[busy_us_per_pkt64]=$FLOOD_BUSY_US
			R[idle_busy_us_per_pkt64]=$FLOOD_IDLE_BUSY_US
			R[wakeups_per_pkt64]=$FLOOD_WAKE R[kicks_per_pkt64]=$FLOOD_KICKS R[calls_per_pkt64]=$FLOOD_CALLS
		fi
		# The generator, not the router, limited this run: it offered within
		# 10 % of its direct-veth ceiling and the router forwarded >= 90 % of that.
		gb=na
		if [ "$v" != direct-veth ] && [ -n "${DIRECT[$s]:-}" ] && [ "$FLOOD_OFFERED" != fail ]; then
			gb=0
			[ $((FLOOD_OFFERED * 10)) -ge $((DIRECT[$s] * 9)) ] &&
				[ $((FLOOD_PPS * 10)) -ge $((FLOOD_OFFERED * 9)) ] && gb=1
			[ "$any" = 1 ] || any=$gb
		fi
		R[gen_bound$s]=$gb
	done
	R[gen_bound]=$any
	if flood "$v-fixed" "$(frame_bytes 64)" "$BENCH_FIXED_PPS"; then
		R[fixed_loss_pct]=$(awk -v t="$FLOOD_TX" -v r="$FLOOD_RX" 'BEGIN {
			if (t <= 0) { print "na"; exit }
			l = (t - r) * 100 / t; printf "%.2f", l < 0 ? 0 : l }')
	else
		R[fixed_loss_pct]=fail
	fi
	R[fixed_offered]=$FLOOD_OFFERED R[fixed_pps]=$FLOOD_PPS
	R[fixed_cpu_us_per_pkt]=$FLOOD_CPU_US R[fixed_busy_us_per_pkt]=$FLOOD_BUSY_US
	R[fixed_idle_busy_us_per_pkt]=$FLOOD_IDLE_BUSY_US
	R[fixed_wakeups_per_pkt]=$FLOOD_WAKE R[fixed_kicks_per_pkt]=$FLOOD_KICKS
	R[fixed_calls_per_pkt]=$FLOOD_CALLS
	# shellcheck disable=SC2086 # a list of sizes
	ndr_sizes $BENCH_NDR_SIZES
}

# ndr_sizes SIZE..: the RFC 2544 search at each size, and the flood rate
# measured before it as a share of its NDR.
ndr_sizes() {
	local s
	for s in "$@"; do
		ndr_search "$s"
		R[flood_per_ndr$s]=$(per "${R[pps$s]:-0}" "${R[ndr$s]:-0}" 1 %.2f)
	done
}

# start_guest KIND [uml-nf flags...]; GUEST_IO_URING, when set, becomes
# uml-nf's UMLNF_IO_URING.
start_guest() {
	local kind=$1
	shift
	# shellcheck disable=SC2086 # BENCH_UMLNF_ARGS is a word list on purpose
	if [ "$kind" = umlnf ] && [ -n "${GUEST_SCHED_BATCH:-}" ]; then
		UMLNF_SCHED_BATCH=$GUEST_SCHED_BATCH lab_start_umlnf "$UMLNF" "$IMAGE" ${BENCH_UMLNF_ARGS:-} "$@"
	elif [ "$kind" = umlnf ] && [ -n "${GUEST_RING_BLOCKS:-}" ]; then
		UMLNF_RING_BLOCK_KB=${GUEST_RING_BLOCKS#*x} UMLNF_RING_BLOCKS=${GUEST_RING_BLOCKS%x*} \
			lab_start_umlnf "$UMLNF" "$IMAGE" ${BENCH_UMLNF_ARGS:-} "$@"
	elif [ "$kind" = umlnf ] && [ -n "${GUEST_IO_URING:-}" ]; then
		UMLNF_IO_URING=$GUEST_IO_URING lab_start_umlnf "$UMLNF" "$IMAGE" ${BENCH_UMLNF_ARGS:-} "$@"
	elif [ "$kind" = umlnf ]; then
		lab_start_umlnf "$UMLNF" "$IMAGE" ${BENCH_UMLNF_ARGS:-} "$@"
	else
		lab_start_stock "$IMAGE"
	fi
}

# bench_router VARIANT: boot (or set up the host router), measure, stop;
# fills R. VARIANT: host-router, umlnf-TRANSPORT-groN[-EXTRA] or
# stock-TRANSPORT-groN (TRANSPORT raw, tap or hybrid; N the vecN: gro=
# option). EXTRA (uml-nf only): pollUSECS (uml-nf --poll USECS), vec0
# (vec=0: one syscall per frame), nouring (UMLNF_IO_URING=0: tap I/O by
# readv/writev instead of io_uring batches); raw only: sock, mmap, mmtx
# (ring=socket, ring=mmap, ring=mmaptx), xdp, xdpskb (ring=xdp,
# ring=xdpskb), mmpUSECS (ring=mmap with --poll USECS), mrg (mrg=1), mbNxKB
# (ring=mmap with N receive blocks of KB KiB), sbdp, sball, sboff
# (UMLNF_SCHED_BATCH=dp|all|off), old (ring=socket and no SCHED_BATCH: the
# datapath before both). Variant names stay short: the umid made from
# them must fit socket paths.
bench_router() {
	local variant=$1 kind transport gro extra flags=() vif0=p-veth0 vif1=p-veth1 gmac xopts=""
	IFS=- read -r kind transport gro extra <<<"$variant"
	GUEST_IO_URING= GUEST_RING_BLOCKS= GUEST_SCHED_BATCH=
	case $extra in
	poll[0-9]*) flags=(--poll "${extra#poll}") ;;
	vec0) xopts=,vec=0 ;;
	nouring) GUEST_IO_URING=0 ;;
	mmap | xdp | xdpskb) xopts=,ring=$extra ;;
	mmtx) xopts=,ring=mmaptx ;;
	sock) xopts=,ring=socket ;;
	mmp[0-9]*) xopts=,ring=mmap flags=(--poll "${extra#mmp}") ;;
	mrg) xopts=,mrg=1 ;;
	mb[0-9]*x[0-9]*) xopts=,ring=mmap GUEST_RING_BLOCKS=${extra#mb} ;; # NxKB receive blocks
	sbdp | sball | sboff) GUEST_SCHED_BATCH=${extra#sb} ;; # UMLNF_SCHED_BATCH=dp|all|off
	old) xopts=,ring=socket GUEST_SCHED_BATCH=off ;; # the datapath as it was before ring= and SCHED_BATCH
	esac
	gro=${gro#gro}
	lab_init "b-$variant" || return 1
	bench_trap
	lab_create || bench_fail "lab_create" || return 1
	CLIENT_PID=$(sleeper "$LAB_NS_CLIENT")
	SERVER_PID=$(sleeper "$LAB_NS_SERVER")
	ROUTER_PID='' ROUTER_BUSY=1 UMLNF_PID=''
	case $transport in
	tap | hybrid)
		lab_bridge_taps || bench_fail "no tap/bridge in the host namespace" || return 1
		vif0=p-tap0 vif1=p-tap1 ;;
	esac
	case $kind in
	host)
		timeout 10 ip -n "$LAB_NS_HOST" addr add "$LAB_IF0_ADDR/24" dev p-veth0 &&
		timeout 10 ip -n "$LAB_NS_HOST" addr add "$LAB_IF1_ADDR/24" dev p-veth1 &&
		timeout 10 ip netns exec "$LAB_NS_HOST" sysctl -qw net.ipv4.ip_forward=1 ||
			bench_fail "host forwarding setup" || return 1
		log "$variant: host namespace routes (CPUs $BENCH_ROUTER_CPUS through RPS)" ;;
	ceil)
		# bench/nullfwd.c between the two ports, pinned like a router; the
		# endpoints reach it through static neighbour entries (it answers no ARP).
		local m0=02:00:5e:00:0a:01 m1=02:00:5e:00:0a:02 cm sm
		[ -x "$NULLFWD" ] || bench_fail "no $NULLFWD" || return 1
		cm=$(mac_of "$LAB_NS_CLIENT" c-eth0) sm=$(mac_of "$LAB_NS_SERVER" s-eth0)
		timeout 10 ip -n "$LAB_NS_CLIENT" neigh replace "$LAB_IF0_ADDR" lladdr "$m0" dev c-eth0 nud permanent &&
		timeout 10 ip -n "$LAB_NS_SERVER" neigh replace "$LAB_IF1_ADDR" lladdr "$m1" dev s-eth0 nud permanent ||
			bench_fail "static neighbours" || return 1
		timeout 5 ip -n "$LAB_NS_HOST" link set p-veth0 promisc on
		timeout 5 ip -n "$LAB_NS_HOST" link set p-veth1 promisc on
		ip netns exec "$LAB_NS_HOST" taskset -c "$BENCH_ROUTER_CPUS" timeout 900 "$NULLFWD" \
			"$transport" "$vif0" "$vif1" "$cm" "$sm" "$m0" "$m1" </dev/null \
			>"$LAB_DIR/nullfwd.log" 2>&1 &
		ROUTER_PID=$!
		_lab_track "$ROUTER_PID"
		sleep 0.3
		kill -0 "$ROUTER_PID" 2>/dev/null || bench_fail "nullfwd: $(head -c 200 "$LAB_DIR/nullfwd.log")" ||
			return 1
		log "$variant: nullfwd $transport $vif0 <-> $vif1 (pid $ROUTER_PID, CPUs $BENCH_ROUTER_CPUS)" ;;
	umlnf | stock)
		lab_write_conf || bench_fail "lab_write_conf" || return 1
		# BENCH_UMLNF_OPTS: extra vecN options for the uml-nf variants only.
		local vopts=gro=$gro
		[ "$kind" = umlnf ] && vopts+=$xopts${BENCH_UMLNF_OPTS:+,$BENCH_UMLNF_OPTS}
		LAB_CPUS=$BENCH_ROUTER_CPUS LAB_VEC_OPTS=$vopts LAB_VEC_TRANSPORT=$transport \
			LAB_VEC_IF0=$vif0 LAB_VEC_IF1=$vif1 start_guest "$kind" "${flags[@]}" ||
			bench_fail "start failed" || return 1
		lab_wait_ready 60 || bench_fail "guest not ready in 60 s" || return 1
		ROUTER_PID=$LAB_APPLIANCE_PID
		[ "$kind" = umlnf ] && UMLNF_PID=$LAB_APPLIANCE_PID
		log "$variant: booted (pid $LAB_APPLIANCE_PID, CPUs $BENCH_ROUTER_CPUS," \
			"transport=$transport ifname=$vif0/$vif1 gro=$gro)" ;;
	*) bench_fail "unknown variant"; return 1 ;;
	esac
	set_rps "$LAB_NS_HOST" p-veth0 "$(cpumask "${BENCH_HOST_CPUS:-$BENCH_ROUTER_CPUS}")"
	set_rps "$LAB_NS_HOST" p-veth1 "$(cpumask "${BENCH_HOST_CPUS:-$BENCH_ROUTER_CPUS}")"
	set_rps "$LAB_NS_CLIENT" c-eth0 "$(cpumask "$BENCH_GEN_CPU")"
	set_rps "$LAB_NS_SERVER" s-eth0 "$(cpumask "$BENCH_GEN_CPU")"
	sink_drop "$LAB_NS_SERVER" s-eth0
	lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping-first.txt" 2>&1 ||
		lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping-first.txt" 2>&1 ||
		bench_fail "no ping through the router" || return 1
	gmac=$(timeout 5 ip -n "$LAB_NS_CLIENT" neigh show "$LAB_IF0_ADDR" |
		awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
	[ -n "$gmac" ] || bench_fail "no neighbour entry for $LAB_IF0_ADDR" || return 1
	R[status]=ok
	# BENCH_CAPTURE=DIR[:FILTER]: a live `uml-nf capture` of vec0 (DIR rx, tx
	# or both; pcap to /dev/null) runs on the router CPUs through every
	# measurement of the uml-nf variants: what a capture costs.
	local cap_pid=
	if [ "$kind" = umlnf ] && [ -n "${BENCH_CAPTURE:-}" ]; then
		local cdir=${BENCH_CAPTURE%%:*} cflt=
		[ "$cdir" = "$BENCH_CAPTURE" ] || cflt=${BENCH_CAPTURE#*:}
		# shellcheck disable=SC2086 # the filter is words on purpose
		taskset -c "$BENCH_ROUTER_CPUS" timeout 900 "$UMLNF" capture "$LAB_UMID" vec0 \
			-i "$cdir" -w /dev/null $cflt </dev/null >/dev/null 2>"$LAB_DIR/capture.err" &
		cap_pid=$!
		_lab_track "$cap_pid"
		log "$variant: capture of vec0 attached ($BENCH_CAPTURE)"
	fi

	bench_ping "$LAB_NS_CLIENT" "$LAB_SERVER_ADDR"
	R[ping_med_ms]=$PING_MED R[ping_p99_ms]=$PING_P99 R[ping_lost]=$PING_LOST

	FL_NS=$LAB_NS_CLIENT FL_ODEV=c-eth0 FL_TXPID=$CLIENT_PID FL_RXPID=$SERVER_PID FL_RXDEV=s-eth0
	FL_DMAC=$gmac FL_DIP=$LAB_SERVER_ADDR FL_SMAC=$(mac_of "$LAB_NS_CLIENT" c-eth0)
	FL_SIP=$LAB_CLIENT_ADDR
	bench_udp
	timeout 5 ip netns exec "$LAB_NS_SERVER" tc -s filter show dev s-eth0 parent ffff: \
		>"$LAB_DIR/sink.txt" 2>&1
	log "$variant: sink $(grep -m1 'Sent' "$LAB_DIR/sink.txt")"

	# TCP with MSS-sized segments first (client TSO/GSO off), then with host
	# GSO frames: stock gro=0 is known to break on GSO frames, and a guest it
	# wedges must not spoil the MSS measurement.
	R[tcp_mss_gbps]=fail R[tcp_gbps]=fail R[tcp4_gbps]=fail
	if [ "$kind" = ceil ]; then
		# A frame ceiling only: nullfwd carries no offloads (TCP would mean
		# host segmentation in front of a tap, oversized frames on raw).
		R[tcp_mss_gbps]=na R[tcp_gbps]=na R[tcp4_gbps]=na
		[ -n "$ROUTER_PID" ] && kill "$ROUTER_PID" 2>/dev/null && wait "$ROUTER_PID" 2>/dev/null
		log "$variant: $(cat "$LAB_DIR/nullfwd.log" 2>/dev/null)"
		lab_destroy
		return 0
	fi
	if c_offload off >/dev/null; then
		bench_tcp "$variant tcp_mss"
		R[tcp_mss_gbps]=$TCP_RESULT R[tcp_mss_retr]=$TCP_RETR
	else
		log "$variant: cannot switch c-eth0 TSO/GSO off; tcp_mss_gbps=fail"
	fi
	local tso=1
	if ! c_offload on >/dev/null && [ "$extra" = xdp ]; then
		# Native XDP on p-veth0 turns its peer's GSO off: TCP as it comes.
		log "$variant: c-eth0 keeps TSO/GSO off (native XDP on its veth peer); TCP with MSS-sized segments"
		tso=0
	fi
	if [ "$tso" = 0 ] || c_offload on >/dev/null; then
		bench_tcp "$variant tcp"
		R[tcp_gbps]=$TCP_RESULT R[tcp_retr]=$TCP_RETR
		bench_tcp "$variant tcp4" -P 4
		R[tcp4_gbps]=$TCP_RESULT R[tcp4_retr]=$TCP_RETR
	else
		log "$variant: cannot switch c-eth0 TSO/GSO back on; tcp_gbps=fail tcp4_gbps=fail"
	fi
	if [ -n "$cap_pid" ]; then
		kill -INT "$cap_pid" 2>/dev/null
		wait "$cap_pid"
		local csum
		csum=$(tail -n 1 "$LAB_DIR/capture.err")
		log "$variant: $csum"
		R[capture_frames]=$(sed -n 's/.*: \([0-9]*\) frames\{0,1\} captured.*/\1/p' <<<"$csum")
		R[capture_missed]=$(sed -n 's/.*), \([0-9]*\) missed.*/\1/p' <<<"$csum")
	fi
	if [ -n "$LAB_APPLIANCE_PID" ]; then
		lab_stop_appliance 20 >/dev/null
		log "$variant: stopped ($LAB_STOP_HOW)"
		if [ "$LAB_STOP_HOW" != exited ]; then
			cp "$LAB_DIR/appliance.log" "$BENCH_DIR/$variant-appliance.log"
			log "warning: $variant needed SIGKILL to stop (log kept in" \
				"$BENCH_DIR/$variant-appliance.log)"
		fi
	fi
	lab_destroy
}

# bench_tunnel VARIANT (KIND-TUNNEL: umlnf or stock; gre, l2tpv3udp,
# l2tpv3ip): the one-guest tunnel loop of tests/tunnel-lab.sh: four NICs,
# br0 = client side + tunnel end A, br1 = tunnel end B + server side, both
# ends on the host's lo, so the router CPU carries both ends of the tunnel
# (encapsulation, the host's IP stack twice, decapsulation). uml-nf's client
# and server sides are raw; stock's are tap (bridged to the veths): stock
# raw loops its own transmissions back, which a bridge learns wrong. Both
# with gro=1 everywhere. Measures 64 B pps and TCP, one stream, with host
# GSO (the issue's two figures), and ping.
bench_tunnel() {
	local variant=$1 kind tun e0 e3 bin=() extra=() img
	IFS=- read -r kind tun <<<"$variant"
	lab_init "b-$variant" || return 1
	bench_trap
	tl_create || bench_fail "tl_create" || return 1
	tl_loop_opts "$tun" || bench_fail "unknown tunnel" || return 1
	tl_loop_conf "$LAB_DIR/conf" || bench_fail "conf" || return 1
	img=$(readlink -f "$TL_IMAGE") || bench_fail "no bridge image $TL_IMAGE" || return 1
	CLIENT_PID=$(sleeper "$LAB_NS_CLIENT")
	SERVER_PID=$(sleeper "$LAB_NS_SERVER")
	ROUTER_PID='' ROUTER_BUSY=1 UMLNF_PID=''
	if [ "$kind" = umlnf ]; then
		e0=transport=raw,ifname=p-veth0,gro=1 e3=transport=raw,ifname=p-veth1,gro=1
		# shellcheck disable=SC2206 # BENCH_UMLNF_ARGS is a word list on purpose
		bin=("$UMLNF" ${BENCH_UMLNF_ARGS:-})
		TL_A+=,gro=1${BENCH_UMLNF_OPTS:+,$BENCH_UMLNF_OPTS} TL_B+=,gro=1${BENCH_UMLNF_OPTS:+,$BENCH_UMLNF_OPTS}
	else
		lab_bridge_taps || bench_fail "no tap/bridge in the host namespace" || return 1
		e0=transport=tap,ifname=p-tap0,gro=1 e3=transport=tap,ifname=p-tap1,gro=1
		bin=("$LAB_LINUX_UML")
		mkdir -p "$LAB_DIR/uml"
		extra=("uml_dir=$LAB_DIR/uml")
		TL_A+=,gro=1 TL_B+=,gro=1
	fi
	LAB_CPUS=$BENCH_ROUTER_CPUS lab_start_appliance "${bin[@]}" "vec0:$e0" "vec1:$TL_A" \
		"vec2:$TL_B" "vec3:$e3" mem=256M "ubd0=$LAB_DIR/root.cow,$img" root=/dev/ubda \
		con=null con0=fd:0,fd:1 "umid=$LAB_UMID" "nfconf=$LAB_DIR/conf" ${extra[@]+"${extra[@]}"} ||
		bench_fail "start failed" || return 1
	lab_wait_ready 60 || bench_fail "guest not ready in 60 s" || return 1
	ROUTER_PID=$LAB_APPLIANCE_PID
	[ "$kind" = umlnf ] && UMLNF_PID=$LAB_APPLIANCE_PID
	log "$variant: booted (pid $LAB_APPLIANCE_PID, CPUs $BENCH_ROUTER_CPUS, tunnel $TL_A)"
	local d
	for d in p-veth0 p-veth1; do set_rps "$LAB_NS_HOST" "$d" "$(cpumask "$BENCH_ROUTER_CPUS")"; done
	set_rps "$LAB_NS_CLIENT" c-eth0 "$(cpumask "$BENCH_GEN_CPU")"
	set_rps "$LAB_NS_SERVER" s-eth0 "$(cpumask "$BENCH_GEN_CPU")"
	sink_drop "$LAB_NS_SERVER" s-eth0
	tl_ping 3 >"$LAB_DIR/ping-first.txt" 2>&1 || tl_ping 3 >"$LAB_DIR/ping-first.txt" 2>&1 ||
		bench_fail "no ping through the tunnel" || return 1
	R[status]=ok
	bench_ping "$LAB_NS_CLIENT" "$TL_SERVER"
	R[ping_med_ms]=$PING_MED R[ping_p99_ms]=$PING_P99 R[ping_lost]=$PING_LOST
	FL_NS=$LAB_NS_CLIENT FL_ODEV=c-eth0 FL_TXPID=$CLIENT_PID FL_RXPID=$SERVER_PID FL_RXDEV=s-eth0
	FL_DMAC=$(mac_of "$LAB_NS_SERVER" s-eth0) FL_DIP=$TL_SERVER
	FL_SMAC=$(mac_of "$LAB_NS_CLIENT" c-eth0) FL_SIP=$TL_CLIENT
	if flood "$variant-64" "$(frame_bytes 64)" ""; then :; fi
	R[pps64]=$FLOOD_PPS R[offered64]=$FLOOD_OFFERED R[gen_cpu_pct64]=$FLOOD_GEN_PCT
	R[cpu_us_per_pkt64]=$FLOOD_CPU_US R[busy_us_per_pkt64]=$FLOOD_BUSY_US
	R[idle_busy_us_per_pkt64]=$FLOOD_IDLE_BUSY_US
	R[wakeups_per_pkt64]=$FLOOD_WAKE R[kicks_per_pkt64]=$FLOOD_KICKS R[calls_per_pkt64]=$FLOOD_CALLS
	# shellcheck disable=SC2086 # a list of sizes
	ndr_sizes $BENCH_TUNNEL_NDR_SIZES
	R[tcp_gbps]=fail
	if c_offload on >/dev/null; then
		LAB_SERVER_ADDR=$TL_SERVER bench_tcp "$variant tcp"
		R[tcp_gbps]=$TCP_RESULT R[tcp_retr]=$TCP_RETR
	fi
	if [ -n "$LAB_APPLIANCE_PID" ]; then
		lab_stop_appliance 20 >/dev/null
		log "$variant: stopped ($LAB_STOP_HOW)"
		[ "$kind" = umlnf ] && log "$variant: $(grep 'uml-nf: stats dev=vec[12] ' "$LAB_DIR/appliance.log" |
			sed 's/ ctrl_cmds=.*rx_segmented=/ ... rx_segmented=/; s/ tx_bad_hdr=.*tx_segmented=/ ... tx_segmented=/' |
			tr '\n' ' ')"
		if [ "$LAB_STOP_HOW" != exited ]; then
			cp "$LAB_DIR/appliance.log" "$BENCH_DIR/$variant-appliance.log"
			log "warning: $variant needed SIGKILL to stop"
		fi
	fi
	lab_destroy
}

# bench_tunceil VARIANT (ceil-gre, ceil-l2tpv3ip, ceil-l2tpv3udp): the
# ceiling of that tunnel's host path (bench/tunceil.c: one end sends
# full-size frames, the other receives them, over lo, nothing else), pinned
# to the router CPU for BENCH_TCP_SECONDS; l2tpv3udp with UDP GSO and GRO as
# uml-nf sends it. No guest, no TCP: the most any router on this tunnel
# could carry here, as TCP payload.
bench_tunceil() {
	local variant=$1 kind out
	kind=${variant#ceil-}
	[ "$kind" = l2tpv3udp ] && kind=l2tpv3udp-gso
	lab_init "b-$variant" || return 1
	bench_trap
	lab_create || bench_fail "lab_create" || return 1
	timeout 10 ip -n "$LAB_NS_HOST" addr add 10.9.0.1/32 dev lo &&
		timeout 10 ip -n "$LAB_NS_HOST" addr add 10.9.0.2/32 dev lo ||
		bench_fail "lo addresses" || return 1
	out=$(timeout $((BENCH_TCP_SECONDS + 20)) ip netns exec "$LAB_NS_HOST" \
		taskset -c "$BENCH_ROUTER_CPUS" "$TUNCEIL" "$kind" "$BENCH_TCP_SECONDS" 2>&1) ||
		bench_fail "tunceil: $(head -c 200 <<<"$out")" || return 1
	log "$variant: $out"
	R[status]=ok
	R[ceil_fps]=$(sed -n 's/.* fps=\([0-9]*\).*/\1/p' <<<"$out")
	R[ceil_tcp_gbps]=$(sed -n 's/.* tcp_payload_gbps=\([0-9.]*\).*/\1/p' <<<"$out")
	lab_destroy
}

# bench_direct: a veth pair straight from client to server (no router): the
# generator's own ceiling in this run (UDP and ping only).
bench_direct() {
	lab_init bench-direct || return 1
	bench_trap
	lab_create || bench_fail "lab_create" || return 1
	CLIENT_PID=$(sleeper "$LAB_NS_CLIENT")
	SERVER_PID=$(sleeper "$LAB_NS_SERVER")
	timeout 10 ip -n "$LAB_NS_CLIENT" link add d-c type veth peer name d-s \
		netns "$LAB_NS_SERVER" &&
	timeout 10 ip -n "$LAB_NS_CLIENT" addr add 10.0.3.1/24 dev d-c &&
	timeout 10 ip -n "$LAB_NS_SERVER" addr add 10.0.3.2/24 dev d-s &&
	timeout 10 ip -n "$LAB_NS_CLIENT" link set d-c up &&
	timeout 10 ip -n "$LAB_NS_SERVER" link set d-s up || bench_fail "direct veth" || return 1
	set_rps "$LAB_NS_CLIENT" d-c "$(cpumask "$BENCH_GEN_CPU")"
	set_rps "$LAB_NS_SERVER" d-s "$(cpumask "$BENCH_GEN_CPU")"
	sink_drop "$LAB_NS_SERVER" d-s
	R[status]=ok
	lab_ping client 10.0.3.2 2 >/dev/null 2>&1
	bench_ping "$LAB_NS_CLIENT" 10.0.3.2
	R[ping_med_ms]=$PING_MED R[ping_p99_ms]=$PING_P99 R[ping_lost]=$PING_LOST
	ROUTER_PID='' ROUTER_BUSY=0 UMLNF_PID=''
	FL_NS=$LAB_NS_CLIENT FL_ODEV=d-c FL_TXPID=$CLIENT_PID FL_RXPID=$SERVER_PID FL_RXDEV=d-s
	FL_DMAC=$(mac_of "$LAB_NS_SERVER" d-s) FL_DIP=10.0.3.2
	FL_SMAC=$(mac_of "$LAB_NS_CLIENT" d-c) FL_SIP=10.0.3.1
	bench_udp
	lab_destroy
}

# Seconds one router variant is expected to need when nothing hangs: boot
# and teardown, ping, floods, three TCP runs.
variant_est() {
	local n
	n=$(wc -w <<<"$BENCH_SIZES")
	awk -v n="$n" -v w="$BENCH_WARMUP" -v d="$BENCH_DURATION" -v t="$BENCH_TCP_SECONDS" \
		-v pc="$BENCH_PING_COUNT" -v pi="$BENCH_PING_INTERVAL" \
		-v nn="$(wc -w <<<"$BENCH_NDR_SIZES")" -v nt="$NDR_TRIALS" -v ns="$NDR_TRIAL_S" \
		'BEGIN { printf "%d", 20 + (n + 1) * (w + d + 1) + 3 * (t + 3) + pc * pi + nn * nt * (ns + 1.5) }'
}

mkdir -p "$BENCH_DIR"
# build_tool NAME WHAT [LIBS..]: bench/NAME.c into $BENCH_DIR/tools/NAME
# when missing or older than its source (the project Makefile does not know
# bench/); prints the path. WHAT: what fails without it, for the warning.
build_tool() {
	local name=$1 what=$2 path=$BENCH_DIR/tools/$1
	shift 2
	if [ ! -x "$path" ] || [ "$here/$name.c" -nt "$path" ]; then
		mkdir -p "$BENCH_DIR/tools" &&
		timeout 60 "${CC:-cc}" -O2 -std=gnu11 -Wall -Wextra -Werror -o "$path" "$here/$name.c" "$@" ||
			log "warning: cannot build $path; $what"
	fi
	echo "$path"
}
# The fixed-rate sender; the ceiling router of ceil-tap/ceil-raw; the
# tunnel ceiling of ceil-gre/-l2tpv3*; the CPU meter (cycle soak),
# calibrated on the idle router CPUs before any variant runs.
PACER=$(build_tool pacer "fixed-rate keys will be fail")
NULLFWD=$(build_tool nullfwd "the ceil-tap/ceil-raw variants will fail" -luring)
TUNCEIL=$(build_tool tunceil "the tunnel ceil-* variants will fail")
SOAK=$(build_tool soak "busy CPU falls back to cpuidle residency")
[ "${BENCH_SOAK:-0}" = 1 ] && soak_calibrate
: >"$BENCH_OUT.tmp"
rm -f "$BENCH_OUT.partial"
log "duration ${BENCH_DURATION}s (+${BENCH_WARMUP}s warmup), tcp ${BENCH_TCP_SECONDS}s," \
	"fixed ${BENCH_FIXED_PPS} pps, generator CPU $BENCH_GEN_CPU, router CPUs $BENCH_ROUTER_CPUS," \
	"watchdog ${BENCH_TOTAL_TIMEOUT}s"
start_s=$SECONDS
declare -A res
order=()
# direct-veth first: the other variants' gen_bound needs its ceiling.
list=()
for v in $BENCH_VARIANTS; do [ "$v" = direct-veth ] && list=(direct-veth "${list[@]}") || list+=("$v"); done
est=$(variant_est)
for v in "${list[@]}"; do
	R=([variant]=$v)
	v0=$SECONDS
	if [ $((SECONDS - start_s + est)) -gt $((BENCH_TOTAL_TIMEOUT - 30)) ]; then
		R[status]=skip R[reason]=time_budget
		log "$v: skipped, ${est}s would not fit in the ${BENCH_TOTAL_TIMEOUT}s budget"
	else
		case $v in
		direct-veth) bench_direct ;;
		host-router | umlnf-raw-gro[01] | umlnf-raw-gro[01]-poll[0-9]* | stock-raw-gro[01] | stock-tap-gro[01] | stock-hybrid-gro[01] | \
		umlnf-tap-gro[01] | umlnf-hybrid-gro[01] | umlnf-tap-gro[01]-vec0 | umlnf-tap-gro[01]-nouring | \
		umlnf-hybrid-gro[01]-vec0 | umlnf-hybrid-gro[01]-nouring | umlnf-tap-gro[01]-poll[0-9]* | \
		umlnf-raw-gro[01]-mmap | umlnf-raw-gro[01]-mmtx | umlnf-raw-gro[01]-xdp | umlnf-raw-gro[01]-xdpskb | \
		umlnf-raw-gro[01]-mmp[0-9]* | umlnf-raw-gro[01]-mrg | umlnf-raw-gro[01]-mb[0-9]*x[0-9]* | \
		umlnf-raw-gro[01]-sbdp | umlnf-raw-gro[01]-sball | umlnf-raw-gro[01]-sboff | umlnf-raw-gro[01]-sock | \
		umlnf-raw-gro[01]-old | ceil-tap | ceil-raw)
			bench_router "$v" ;;
		umlnf-gre | stock-gre | umlnf-l2tpv3udp | stock-l2tpv3udp | umlnf-l2tpv3ip | stock-l2tpv3ip)
			bench_tunnel "$v" ;;
		ceil-gre | ceil-l2tpv3udp | ceil-l2tpv3ip)
			bench_tunceil "$v" ;;
		*) R[status]=fail R[reason]=unknown_variant; fail "unknown variant $v" ;;
		esac
		if [ "${R[status]:-}" != ok ]; then
			[ -n "${R[status]:-}" ] || R[status]=fail R[reason]=$(token "measurement aborted")
			lab_log_tail 20
			lab_destroy
		fi
	fi
	R[wall_s]=$((SECONDS - v0))
	res[$v]=$(res_line)
	echo "${res[$v]}" | tee -a "$BENCH_OUT.tmp"
	order+=("$v")
done

# key value of line $1 (empty when absent)
kv() { sed -nE "s/^(.* )?$2=([^ ]*).*/\2/p" <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {
	if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b
	else print "n/a" }'; }
# uml-nf / reference, for the host router, stock raw gro=1 and stock raw
# with the same gro setting.
for v in "${order[@]}"; do
	case $v in umlnf-gre | umlnf-l2tpv3*) continue ;; umlnf-*) ;; *) continue ;; esac
	# umlnf-T-groN[-X]: the stock transport T with the same gro=, and for
	# an EXTRA variant the plain umlnf-T-groN of this run.
	IFS=- read -r _ vt vg vx <<<"$v"
	refs=(host-router stock-raw-gro1)
	[ "$vt-$vg" = raw-gro1 ] || refs+=("stock-$vt-$vg")
	[ -n "$vx" ] && refs+=("umlnf-$vt-$vg")
	refs+=("ceil-$vt") # the transport's ceiling (bench/nullfwd.c), when it ran
	for r in "${refs[@]}"; do
		[ -n "${res[$r]:-}" ] || continue
		line="ratio variant=$v ref=$r"
		for k in $(for s in $BENCH_SIZES; do echo "pps$s"; done) $(for s in $BENCH_NDR_SIZES; do echo "ndr$s pdr$s"; done) tcp_gbps tcp4_gbps tcp_mss_gbps; do
			line+=" ${k%_gbps}=$(ratio "$(kv "${res[$v]}" "$k")" "$(kv "${res[$r]}" "$k")")"
		done
		echo "$line" | tee -a "$BENCH_OUT.tmp"
	done
done

# Tunnel rows: uml-nf against stock on the same tunnel, with the targets
# (TCP one stream >= 3 Gbit/s and >= 2x stock; 64 B >= 5x stock).
for v in "${order[@]}"; do
	case $v in umlnf-gre | umlnf-l2tpv3*) ;; *) continue ;; esac
	r=stock-${v#umlnf-}
	[ -n "${res[$r]:-}" ] || continue
	t=$(kv "${res[$v]}" tcp_gbps) ts=$(kv "${res[$r]}" tcp_gbps)
	tr=$(ratio "$t" "$ts") pr=$(ratio "$(kv "${res[$v]}" pps64)" "$(kv "${res[$r]}" pps64)")
	nr=$(ratio "$(kv "${res[$v]}" ndr64)" "$(kv "${res[$r]}" ndr64)")
	met=$(awk -v t="$t" -v tr="$tr" -v pr="$pr" -v nr="$nr" 'BEGIN {
		a = (t + 0 >= 3 && tr + 0 >= 2) ? "met" : "not_met"; b = (pr + 0 >= 5) ? "met" : "not_met"
		c = (nr + 0 >= 5) ? "met" : "not_met"
		print "tcp_target=" a " pps64_target=" b " ndr64_target=" c }')
	# The host's own tunnel path (ceil-*): what share of it uml-nf reaches.
	c=ceil-${v#umlnf-} ceil=""
	if [ -n "${res[$c]:-}" ]; then
		ceil=" ceil_tcp_gbps=$(kv "${res[$c]}" ceil_tcp_gbps) of_ceil_tcp=$(ratio "$t" "$(kv "${res[$c]}" ceil_tcp_gbps)")"
	fi
	echo "tunnel variant=$v ref=$r tcp_gbps=$t ref_tcp_gbps=$ts tcp=$tr pps64=$pr ndr64=$nr $met$ceil" |
		tee -a "$BENCH_OUT.tmp"
done

# Local transport rows (issue 10): uml-nf tap against stock tap with the
# same gro=, targets 64 B >= 5x and TCP one stream >= 3x; hybrid shown the
# same way against stock hybrid (no target of its own).
for v in "${order[@]}"; do
	case $v in umlnf-tap-gro[01] | umlnf-hybrid-gro[01]) ;; *) continue ;; esac
	r=stock-${v#umlnf-}
	[ -n "${res[$r]:-}" ] || continue
	pr=$(ratio "$(kv "${res[$v]}" pps64)" "$(kv "${res[$r]}" pps64)")
	tr=$(ratio "$(kv "${res[$v]}" tcp_gbps)" "$(kv "${res[$r]}" tcp_gbps)")
	met=""
	case $v in umlnf-tap-*)
		met=$(awk -v tr="$tr" -v pr="$pr" 'BEGIN {
			print " pps64_target=" (pr + 0 >= 5 ? "met" : "not_met") " tcp_target=" (tr + 0 >= 3 ? "met" : "not_met") }') ;;
	esac
	# The ceiling of the transport on this host (ceil-tap, ceil-hybrid has
	# none: the same tap writes and a packet socket's reads): ceiling /
	# stock is the most any tap router could gain over stock here.
	c=ceil-${v#umlnf-} c=${c%-gro[01]}
	if [ -n "${res[$c]:-}" ]; then
		met+=" ceil_ndr64=$(kv "${res[$c]}" ndr64) ceil_over_ref_ndr64=$(ratio "$(kv "${res[$c]}" ndr64)" "$(kv "${res[$r]}" ndr64)")"
		met+=" ceil_over_ref_pps64=$(ratio "$(kv "${res[$c]}" pps64)" "$(kv "${res[$r]}" pps64)")"
		met+=" of_ceil_ndr64=$(ratio "$(kv "${res[$v]}" ndr64)" "$(kv "${res[$c]}" ndr64)")"
	fi
	echo "local variant=$v ref=$r pps64=$pr tcp=$tr$met" | tee -a "$BENCH_OUT.tmp"
done

# CSV: one row per variant, empty cells for keys a variant does not have.
{
	(IFS=,; echo "${cols[*]}")
	for v in "${order[@]}"; do
		row=()
		for c in "${cols[@]}"; do row+=("$(kv "${res[$v]}" "$c")"); done
		(IFS=,; echo "${row[*]}")
	done
} >"$BENCH_CSV.tmp" && mv "$BENCH_CSV.tmp" "$BENCH_CSV"
mv "$BENCH_OUT.tmp" "$BENCH_OUT"
meta="$(date -u '+%Y-%m-%d %H:%M UTC'), host kernel $(uname -r), $(nproc) CPUs;"
meta+=" UDP ${BENCH_DURATION}s (+${BENCH_WARMUP}s warmup) per run, TCP ${BENCH_TCP_SECONDS}s per run,"
meta+=" fixed rate ${BENCH_FIXED_PPS} pps, ${BENCH_PING_COUNT} pings every ${BENCH_PING_INTERVAL}s;"
meta+=" generator on CPU $BENCH_GEN_CPU, router on CPUs $BENCH_ROUTER_CPUS; whole run $((SECONDS - start_s)) s"
BENCH_META=$meta timeout 120 bash "$here/report.sh" "$BENCH_CSV" "$BENCH_DIR" ||
	log "warning: report.sh failed; lines and CSV are complete"
log "results in $BENCH_OUT, $BENCH_CSV, $BENCH_DIR/summary.md and $BENCH_DIR/*.png ($((SECONDS - start_s)) s)"
