#!/bin/bash
# Measures how many appliances one host holds: for each N in DENSITY_NS, N uml-nf routers chained client -> r1 -> ... -> rN -> server, each booted from its own COW file over one read-only base image; records boot-to-forwarding, idle CPU and wakeups, and memory (PSS, RSS, guest RAM) per appliance, idle and after traffic.
# How: veth pairs in one host namespace (raw transport), all N started at once (DENSITY_START=serial: one after the other), "ready" lines timed, ping through the whole chain, /proc schedstat over an idle window, bench/memtally.c over smaps_rollup; iperf3 both ways; SIGTERM each by PID; CSV, markdown table and PNG under DENSITY_OUT.
#
#   bash bench/density.sh                      # N = 1 5 10 20, about 3-4 minutes here
#   DENSITY_NS="1 2" DENSITY_IDLE=5 bash bench/density.sh
#   bash bench/density.sh --report [CSV...]    # redraw table and plot from CSVs
#
# One "density n=N ..." key=value line per N on stdout; see bench/README.md
# (Density) for the keys, the topology and how memory is counted.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../tests/lib.sh"

UMLNF=${UMLNF:-build/uml-nf}
IMAGE=${IMAGE:-build/images/router.img}
DENSITY_NS=${DENSITY_NS:-"1 5 10 20"}
DENSITY_MEM=${DENSITY_MEM:-64M}          # guest mem= of every appliance
DENSITY_VEC_OPTS=${DENSITY_VEC_OPTS-gro=1} # appended to every vecN:
DENSITY_UMLNF_ARGS=${DENSITY_UMLNF_ARGS:-} # extra uml-nf flags (--cpus ..., --kernel ...)
DENSITY_START=${DENSITY_START:-parallel} # parallel | serial
DENSITY_SETTLE=${DENSITY_SETTLE:-5}      # seconds after the chain forwards, before measuring
DENSITY_IDLE=${DENSITY_IDLE:-10}         # the idle window (s)
DENSITY_TRAFFIC=${DENSITY_TRAFFIC:-3}    # iperf3 seconds each way through the chain; 0 = none
DENSITY_BOOT_TIMEOUT=${DENSITY_BOOT_TIMEOUT:-120}
DENSITY_TOTAL_TIMEOUT=${DENSITY_TOTAL_TIMEOUT:-900}
DENSITY_LABEL=${DENSITY_LABEL:-current}  # names the run in the CSV, table and plot
DENSITY_OUT=${DENSITY_OUT:-build/bench/density}
DENSITY_CSV=${DENSITY_CSV:-$DENSITY_OUT/density.csv}
DENSITY_APPEND=${DENSITY_APPEND:-0}      # 1: add rows to an existing CSV (several labels)
MAX_N=250                                # one /24 per link, 10.77.K.0/24

log() { echo "density: $*" >&2; }

CSV_KEYS="label n mem start ok reason ready_med_s ready_max_s chain_s ping_ms \
pss_kb_med pss_kb_max rss_kb_med rss_umlnf_kb_med rss_guest_kb_med guestmem_kb_med \
host_kb_per_app idle_cpu_pct_med idle_cpu_pct_max idle_cpu_pct_sum wakeups_med \
host_busy_pct pss_traffic_kb_med pss_traffic_kb_max guestmem_traffic_kb_med \
tcp_gbps tcp_rev_gbps stopped_clean load_avg"

# ---- report: markdown table and PNG from one or more CSVs -------------------

report() {
	local md=$DENSITY_OUT/density.md png=$DENSITY_OUT/density.png csvs=("$@") data
	mkdir -p "$DENSITY_OUT"
	[ "${#csvs[@]}" -gt 0 ] || csvs=("$DENSITY_CSV")
	data=$(mktemp "${TMPDIR:-/tmp}/density-report.XXXXXX") || return 1
	# Header once, then every row of every CSV.
	awk -F, 'FNR == 1 { if (!h) { print; h = 1 } next } { print }' "${csvs[@]}" >"$data"
	awk -F, -v mem_target=65536 '
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	function v(k) { return (k in col) ? $(col[k]) : "" }
	function mib(kb) { return kb == "" || kb == "na" ? "n/a" : sprintf("%.1f", kb / 1024) }
	function orna(x) { return x == "" ? "n/a" : x }
	{
		if (!hdr++) {
			print "| run | N | mem= | start | PSS/appliance idle, MiB (median / max) | RSS uml-nf + guest, MiB | guest RAM file, MiB | PSS after traffic, MiB (median / max) | idle CPU % / appliance (median / max) | wakeups/s / appliance | boot to forwarding, s (median / max) | whole chain forwarding, s | ping through the chain, ms | TCP through the chain, Gbit/s (fwd / rev) | stopped cleanly |"
			print "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
		}
		if (v("ok") != 1) {
			printf "| %s | %s | %s | %s | failed: %s ||||||||||\n", v("label"), v("n"), v("mem"), v("start"), v("reason")
			next
		}
		rss = v("rss_umlnf_kb_med") + v("rss_guest_kb_med")
		printf "| %s | %s | %s | %s | %s / %s | %s | %s | %s / %s | %s / %s | %s | %s / %s | %s | %s | %s / %s | %s |\n",
			v("label"), v("n"), v("mem"), v("start"),
			mib(v("pss_kb_med")), mib(v("pss_kb_max")), mib(rss), mib(v("guestmem_kb_med")),
			mib(v("pss_traffic_kb_med")), mib(v("pss_traffic_kb_max")),
			orna(v("idle_cpu_pct_med")), orna(v("idle_cpu_pct_max")), orna(v("wakeups_med")),
			orna(v("ready_med_s")), orna(v("ready_max_s")), orna(v("chain_s")), orna(v("ping_ms")),
			orna(v("tcp_gbps")), orna(v("tcp_rev_gbps")), orna(v("stopped_clean"))
	}' "$data" >"$md.tmp" && mv -f "$md.tmp" "$md"
	{
		echo
		echo "Targets: idle appliance <= 64 MiB and ~0 % CPU, boot to forwarding <= 3 s (tuned kernel)."
		echo "PSS is summed over the appliance's distinct address spaces (bench/memtally.c): guest"
		echo "RAM mapped by both the guest and uml-nf counts once; RSS counts it in both. The"
		echo "CSV also has host_kb_per_app (host MemAvailable drop / N), which other work on a"
		echo "shared machine moves by hundreds of MiB either way."
	} >>"$md"
	if command -v gnuplot >/dev/null; then
		local labels l pdat i=0 plots_mem="" plots_cpu="" plots_boot=""
		labels=$(awk -F, 'NR > 1 { print $1 }' "$data" | awk '!s[$0]++')
		pdat=$(mktemp "${TMPDIR:-/tmp}/density-plot.XXXXXX") || return 1
		for l in $labels; do
			awk -F, -v l="$l" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
				$1 == l && $(c["ok"]) == 1 {
				print $(c["n"]), $(c["pss_kb_med"]) / 1024, $(c["pss_traffic_kb_med"]) / 1024,
					($(c["rss_umlnf_kb_med"]) + $(c["rss_guest_kb_med"])) / 1024,
					$(c["idle_cpu_pct_med"]), $(c["idle_cpu_pct_max"]),
					$(c["ready_med_s"]), $(c["ready_max_s"]), $(c["chain_s"]) }' "$data" >"$pdat.$i"
			plots_mem="$plots_mem${plots_mem:+, }'$pdat.$i' u 1:2 w lp t '$l PSS idle', '$pdat.$i' u 1:3 w lp t '$l PSS after traffic', '$pdat.$i' u 1:4 w lp dt 2 t '$l RSS uml-nf+guest (double counts)'"
			plots_cpu="$plots_cpu${plots_cpu:+, }'$pdat.$i' u 1:5 w lp t '$l median', '$pdat.$i' u 1:6 w lp dt 2 t '$l max'"
			plots_boot="$plots_boot${plots_boot:+, }'$pdat.$i' u 1:7 w lp t '$l median', '$pdat.$i' u 1:8 w lp dt 2 t '$l max', '$pdat.$i' u 1:9 w lp dt 3 t '$l whole chain'"
			i=$((i + 1))
		done
		timeout 60 gnuplot <<-EOF 2>/dev/null || log "warning: gnuplot failed"
		set terminal pngcairo size 1500,480 noenhanced
		set output '$png'
		set multiplot layout 1,3 title 'uml-nf density (chained routers, one host)'
		set key top left font ',8'
		set grid
		set xlabel 'appliances (N)'
		set ylabel 'MiB per appliance'
		set yrange [0:*]
		plot $plots_mem, 64 w l lc rgb 'red' t '64 MiB target'
		set ylabel 'idle CPU % per appliance'
		plot $plots_cpu
		set ylabel 'seconds'
		plot $plots_boot, 3 w l lc rgb 'red' t '3 s target'
		unset multiplot
		EOF
		rm -f "$pdat" "$pdat".*
	fi
	rm -f "$data"
	log "table $md${png:+, plot $png}"
}

if [ "${1:-}" = --report ]; then
	shift
	report "$@"
	exit $?
fi

# ---- checks ------------------------------------------------------------------

[ -f "$IMAGE" ] || { fail "image $IMAGE not found (make image)"; exit 1; }
[ -x "$UMLNF" ] || { fail "uml-nf $UMLNF not built (make)"; exit 1; }
for n in $DENSITY_NS; do
	case $n in '' | *[!0-9]*) fail "DENSITY_NS: \"$n\" is not a number"; exit 2 ;; esac
	[ "$n" -ge 1 ] && [ "$n" -le "$MAX_N" ] || { fail "DENSITY_NS: $n not in 1..$MAX_N"; exit 2; }
done
case $DENSITY_START in parallel | serial) ;; *) fail "DENSITY_START: parallel or serial"; exit 2 ;; esac
command -v iperf3 >/dev/null || DENSITY_TRAFFIC=0

mkdir -p "$DENSITY_OUT/tools" || exit 1
MEMTALLY=$DENSITY_OUT/tools/memtally
if [ ! -x "$MEMTALLY" ] || [ "$here/memtally.c" -nt "$MEMTALLY" ]; then
	timeout 60 "${CC:-cc}" -O2 -std=gnu11 -Wall -Wextra -Werror -o "$MEMTALLY" "$here/memtally.c" ||
		{ fail "cannot build $MEMTALLY"; exit 1; }
fi

# The whole run is bounded: a watchdog SIGTERMs us at DENSITY_TOTAL_TIMEOUT;
# lib.sh's trap then stops every appliance and deletes the namespaces.
( sleep "$DENSITY_TOTAL_TIMEOUT"; echo "density: over ${DENSITY_TOTAL_TIMEOUT}s, stopping" >&2
  kill -TERM $$ ) </dev/null >/dev/null 2>&1 &
watchdog=$!

# ---- helpers -----------------------------------------------------------------

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# "median max" of the numbers on stdin ("na na" if none).
medmax() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (!NR) { print "na na"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		print m, v[NR] }'
}

# Link K joins router K (its eth1) to router K+1 (its eth0): 10.77.K.0/24,
# .1 on the left, .2 on the right. Link 0 starts at the client, link N ends
# at the server.
addr() { echo "10.77.$1.$2"; }

# CPU nanoseconds (schedstat) and context switches of every thread of PID
# $1's tree: "NS SWITCHES".
tree_cpu() {
	local p t ns sw=0 sum=0 a b
	for p in $(lab_descendants "$1"); do
		for t in /proc/"$p"/task/*; do
			read -r ns _ 2>/dev/null <"$t/schedstat" || continue
			sum=$((sum + ns))
			while read -r a b; do
				case $a in voluntary_ctxt_switches: | nonvoluntary_ctxt_switches:) sw=$((sw + b)) ;; esac
			done <"$t/status" 2>/dev/null
		done
	done
	echo "$sum $sw"
}

host_idle_ticks() { awk '$1 == "cpu" { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
mem_available_kb() { awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo; }

# ---- one N ---------------------------------------------------------------

declare -A R # results of the current N

# Writes the chain's namespaces and links: client, server, and the routers'
# host namespace holding both ends of every inner link.
make_chain() {
	local n=$1 k ns
	for ns in "$LAB_NS_CLIENT" "$LAB_NS_SERVER" "$LAB_NS_HOST"; do
		timeout 10 ip netns add "$ns" || { fail "ip netns add $ns"; return 1; }
		timeout 10 ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
		timeout 10 ip -n "$ns" link set lo up || return 1
	done
	timeout 10 ip -n "$LAB_NS_HOST" link add d1a type veth peer name c-eth0 netns "$LAB_NS_CLIENT" ||
		{ fail "veth d1a/c-eth0"; return 1; }
	for ((k = 1; k < n; k++)); do
		timeout 10 ip -n "$LAB_NS_HOST" link add "d${k}b" type veth peer name "d$((k + 1))a" ||
			{ fail "veth d${k}b/d$((k + 1))a"; return 1; }
	done
	timeout 10 ip -n "$LAB_NS_HOST" link add "d${n}b" type veth peer name s-eth0 netns "$LAB_NS_SERVER" ||
		{ fail "veth d${n}b/s-eth0"; return 1; }
	# One batch for the (many) host-side links.
	{
		for ((k = 1; k <= n; k++)); do echo "link set d${k}a up"; echo "link set d${k}b up"; done
	} | timeout 30 ip -n "$LAB_NS_HOST" -batch - || { fail "links up"; return 1; }
	timeout 10 ip -n "$LAB_NS_CLIENT" addr add "$(addr 0 1)/24" dev c-eth0 &&
	timeout 10 ip -n "$LAB_NS_CLIENT" link set c-eth0 up &&
	timeout 10 ip -n "$LAB_NS_CLIENT" route add default via "$(addr 0 2)" &&
	timeout 10 ip -n "$LAB_NS_SERVER" addr add "$(addr "$n" 2)/24" dev s-eth0 &&
	timeout 10 ip -n "$LAB_NS_SERVER" link set s-eth0 up &&
	timeout 10 ip -n "$LAB_NS_SERVER" route add default via "$(addr "$n" 1)" ||
		{ fail "client/server addressing"; return 1; }
}

# router.conf of router I of N: eth0 on link I-1 (right side), eth1 on link
# I (left side); links to the right via the next router, to the left via
# the previous one.
write_conf() {
	local i=$1 n=$2 k routes=
	[ "$i" -lt "$n" ] && routes="default via $(addr "$i" 2)"
	for ((k = 0; k < i - 1; k++)); do
		routes="$routes${routes:+; }10.77.$k.0/24 via $(addr $((i - 1)) 1)"
	done
	mkdir -p "$LAB_DIR/conf-r$i" || return 1
	cat >"$LAB_DIR/conf-r$i/router.conf" <<-EOF
	HOSTNAME=r$i
	IF0_ADDR=$(addr $((i - 1)) 2)/24
	IF1_ADDR=$(addr "$i" 1)/24
	FORWARD=1
	ROUTES="$routes"
	EOF
}

declare -a PID START READY
start_router() {
	local i=$1 base=$2 vo=$DENSITY_VEC_OPTS
	# shellcheck disable=SC2086 # DENSITY_UMLNF_ARGS is a list of flags
	START[$i]=$(now)
	lab_start_bg "r$i" "$UMLNF" $DENSITY_UMLNF_ARGS \
		"vec0:transport=raw,ifname=d${i}a${vo:+,$vo}" \
		"vec1:transport=raw,ifname=d${i}b${vo:+,$vo}" \
		"mem=$DENSITY_MEM" "ubd0=$LAB_DIR/r$i.cow,$base" root=/dev/ubda \
		con=null con0=fd:0,fd:1 "umid=$LAB_UMID-r$i" "nfconf=$LAB_DIR/conf-r$i"
	PID[$i]=$LAB_BG_PID
}

# Waits until routers FROM..TO print "ready"; READY[i] = seconds from their
# own start. One grep over all pending logs per round.
wait_ready() {
	local from=$1 to=$2 deadline i pending f
	deadline=$(awk -v t="$(now)" -v d="$DENSITY_BOOT_TIMEOUT" 'BEGIN { printf "%d", t + d }')
	while :; do
		pending=()
		for ((i = from; i <= to; i++)); do
			[ -n "${READY[$i]:-}" ] || pending+=("$LAB_DIR/r$i.log")
		done
		[ "${#pending[@]}" -eq 0 ] && return 0
		for f in $(grep -l 'uml-nf-router: ready' "${pending[@]}" 2>/dev/null); do
			i=${f##*/r}
			i=${i%.log}
			READY[$i]=$(since "${START[$i]}")
		done
		for ((i = from; i <= to; i++)); do
			[ -n "${READY[$i]:-}" ] && continue
			_lab_running "${PID[$i]}" ||
				{ R[reason]=exited; fail "r$i exited before ready"; tail -n 15 "$LAB_DIR/r$i.log" >&2; return 1; }
		done
		[ "${EPOCHREALTIME%.*}" -ge "$deadline" ] && { R[reason]=boot_timeout; fail "not ready after ${DENSITY_BOOT_TIMEOUT}s"; return 1; }
		sleep 0.05
	done
}

# Measures one N; fills R. Returns non-zero if it could not.
run_n() {
	local n=$1 i base t0 out line idle0 idle1 cpu0 cpu1 w mem0 mem1 k tallies
	R=([label]=$DENSITY_LABEL [n]=$n [mem]=$DENSITY_MEM [start]=$DENSITY_START [ok]=0 [reason]=)
	PID=() START=() READY=()
	lab_init "density$n" || return 1
	bench_trap
	log "N=$n: namespaces and $((n + 1)) links"
	make_chain "$n" || { R[reason]=lab; return 1; }
	# The shared base: read-only, every router writes its own COW file
	# over it (made by the guest kernel at boot: ubd0=COW,BASE).
	base=$LAB_DIR/base.img
	cp --sparse=always "$(readlink -f "$IMAGE")" "$base" && chmod 0444 "$base" ||
		{ R[reason]=image; return 1; }
	for ((i = 1; i <= n; i++)); do write_conf "$i" "$n" || { R[reason]=conf; return 1; }; done
	R[load_avg]=$(cut -d' ' -f1 /proc/loadavg)
	mem0=$(mem_available_kb)
	t0=$(now)
	log "N=$n: starting ($DENSITY_START, mem=$DENSITY_MEM)"
	for ((i = 1; i <= n; i++)); do
		start_router "$i" "$base"
		if [ "$DENSITY_START" = serial ]; then wait_ready "$i" "$i" || return 1; fi
	done
	wait_ready 1 "$n" || return 1
	# The whole chain forwards: client to server through every router.
	LAB_CLIENT_ADDR=$(addr 0 1) LAB_SERVER_ADDR=$(addr "$n" 2)
	while ! timeout 5 ip netns exec "$LAB_NS_CLIENT" ping -c 1 -W 1 -q "$LAB_SERVER_ADDR" >/dev/null 2>&1; do
		[ "$(since "$t0" | cut -d. -f1)" -lt "$DENSITY_BOOT_TIMEOUT" ] ||
			{ R[reason]=no_forwarding; fail "no ping through the chain"; return 1; }
		sleep 0.05
	done
	R[chain_s]=$(since "$t0")
	out=$(lab_ping client "$LAB_SERVER_ADDR" 10 2>&1) || { R[reason]=ping; fail "ping: $out"; return 1; }
	read -r R[ping_ms] _ < <(sed -n 's/.* time=\([0-9.]*\) ms.*/\1/p' <<<"$out" | medmax)
	read -r R[ready_med_s] R[ready_max_s] < <(printf '%s\n' "${READY[@]}" | medmax)
	log "N=$n: ready median ${R[ready_med_s]} s, max ${R[ready_max_s]} s; chain forwards after ${R[chain_s]} s; ping ${R[ping_ms]} ms"

	# Idle: nothing flows (no IPv6 anywhere, no traffic) for the window.
	sleep "$DENSITY_SETTLE"
	declare -A c0 s0
	for ((i = 1; i <= n; i++)); do read -r c0[$i] s0[$i] < <(tree_cpu "${PID[$i]}"); done
	read -r idle0 total0 < <(host_idle_ticks)
	w=$(now)
	sleep "$DENSITY_IDLE"
	read -r idle1 total1 < <(host_idle_ticks)
	w=$(since "$w")
	: >"$LAB_DIR/idle.txt"
	for ((i = 1; i <= n; i++)); do
		read -r cpu1 sw1 < <(tree_cpu "${PID[$i]}")
		awk -v c="$((cpu1 - c0[$i]))" -v s="$((sw1 - s0[$i]))" -v w="$w" \
			'BEGIN { printf "%.3f %.1f\n", c / (w * 1e9) * 100, s / w }' >>"$LAB_DIR/idle.txt"
	done
	read -r R[idle_cpu_pct_med] R[idle_cpu_pct_max] < <(cut -d' ' -f1 "$LAB_DIR/idle.txt" | medmax)
	read -r R[wakeups_med] _ < <(cut -d' ' -f2 "$LAB_DIR/idle.txt" | medmax)
	R[idle_cpu_pct_sum]=$(awk '{ s += $1 } END { printf "%.2f", s }' "$LAB_DIR/idle.txt")
	R[host_busy_pct]=$(awk -v i="$((idle1 - idle0))" -v t="$((total1 - total0))" \
		'BEGIN { if (t > 0) printf "%.1f", (1 - i / t) * 100; else print "na" }')

	# Memory, idle.
	tallies=$LAB_DIR/mem-idle.txt
	: >"$tallies"
	for ((i = 1; i <= n; i++)); do
		# shellcheck disable=SC2046 # one PID per word
		"$MEMTALLY" -u "${PID[$i]}" $(lab_descendants "${PID[$i]}") >>"$tallies" ||
			{ R[reason]=memtally; return 1; }
	done
	mem1=$(mem_available_kb)
	R[host_kb_per_app]=$(((mem0 - mem1) / n))
	for k in pss_kb rss_kb rss_umlnf_kb rss_guest_kb guestmem_kb; do
		read -r med max < <(sed -n "s/.* $k=\([0-9]*\).*/\1/p" "$tallies" | medmax)
		R[${k}_med]=$med
		[ "$k" = pss_kb ] && R[pss_kb_max]=$max
	done
	log "N=$n: idle CPU ${R[idle_cpu_pct_med]} % (max ${R[idle_cpu_pct_max]} %), ${R[wakeups_med]} wakeups/s;" \
		"PSS ${R[pss_kb_med]} KiB (max ${R[pss_kb_max]}), RSS uml-nf ${R[rss_umlnf_kb_med]} + guest" \
		"${R[rss_guest_kb_med]} KiB, guest RAM file ${R[guestmem_kb_med]} KiB"

	# Traffic through the chain, then memory again: receive buffers the
	# guests posted are now written, and stay so.
	if [ "$DENSITY_TRAFFIC" -gt 0 ]; then
		R[tcp_gbps]=$(lab_iperf "$DENSITY_TRAFFIC" 2>/dev/null) || R[tcp_gbps]=fail
		R[tcp_rev_gbps]=$(lab_iperf "$DENSITY_TRAFFIC" -R 2>/dev/null) || R[tcp_rev_gbps]=fail
		sleep 2
		tallies=$LAB_DIR/mem-traffic.txt
		: >"$tallies"
		for ((i = 1; i <= n; i++)); do
			# shellcheck disable=SC2046
			"$MEMTALLY" -u "${PID[$i]}" $(lab_descendants "${PID[$i]}") >>"$tallies"
		done
		read -r R[pss_traffic_kb_med] R[pss_traffic_kb_max] < <(sed -n 's/.* pss_kb=\([0-9]*\).*/\1/p' "$tallies" | medmax)
		read -r R[guestmem_traffic_kb_med] _ < <(sed -n 's/.* guestmem_kb=\([0-9]*\).*/\1/p' "$tallies" | medmax)
		log "N=$n: TCP ${R[tcp_gbps]} / ${R[tcp_rev_gbps]} Gbit/s; PSS after it ${R[pss_traffic_kb_med]} KiB (max ${R[pss_traffic_kb_max]})"
	fi
	lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null 2>&1 || { R[reason]=lost_forwarding; return 1; }

	# Stop: SIGTERM to every uml-nf at once (each halts its guest over
	# mconsole), then wait for all; clean = exited by itself with status 0.
	# (One signal each: a second one tells uml-nf to kill its guest.)
	local clean=0 rc how deadline
	for ((i = 1; i <= n; i++)); do kill -TERM "${PID[$i]}" 2>/dev/null; done
	deadline=$((${EPOCHREALTIME%.*} + 30))
	for ((i = 1; i <= n; i++)); do
		how=exited
		while _lab_running "${PID[$i]}" && [ "${EPOCHREALTIME%.*}" -lt "$deadline" ]; do sleep 0.1; done
		if _lab_running "${PID[$i]}"; then
			how=killed
			kill -KILL "${PID[$i]}" 2>/dev/null
		fi
		wait "${PID[$i]}" 2>/dev/null
		rc=$?
		if [ "$how" = exited ] && [ "$rc" -eq 0 ]; then
			clean=$((clean + 1))
		else
			mkdir -p "$DENSITY_OUT/logs"
			cp "$LAB_DIR/r$i.log" "$DENSITY_OUT/logs/$DENSITY_LABEL-n$n-r$i.log"
			log "N=$n: r$i did not stop cleanly ($how, status $rc): $DENSITY_OUT/logs/$DENSITY_LABEL-n$n-r$i.log"
		fi
	done
	R[stopped_clean]=$clean/$n
	R[ok]=1
	# Per-appliance rows for whoever wants the spread.
	for ((i = 1; i <= n; i++)); do
		echo "$DENSITY_LABEL,$n,r$i,${READY[$i]},$(sed -n "${i}p" "$LAB_DIR/idle.txt" | tr ' ' ','),$(sed -n "${i}p" "$LAB_DIR/mem-idle.txt" | sed 's/[a-z_]*=//g' | tr ' ' ',')"
	done >>"$DENSITY_OUT/appliances.csv"
	return 0
}

emit() {
	local k line="density" row=
	for k in $CSV_KEYS; do
		line="$line $k=${R[$k]:-}"
		row="$row${row:+,}${R[$k]:-}"
	done
	echo "$line"
	echo "$row" >>"$DENSITY_CSV"
}

bench_trap() {
	trap 'rc=$?; trap - EXIT; lab_destroy; kill $watchdog 2>/dev/null; exit $rc' EXIT
}
bench_trap

if [ "$DENSITY_APPEND" != 1 ] || [ ! -s "$DENSITY_CSV" ]; then
	echo "$CSV_KEYS" | tr -s ' ' ',' >"$DENSITY_CSV"
	echo "label,n,router,ready_s,idle_cpu_pct,wakeups_per_s,$(echo "mms pss_kb pss_anon_kb pss_file_kb pss_shmem_kb rss_kb rss_umlnf_kb rss_guest_kb guestmem_kb" | tr ' ' ',')" \
		>"$DENSITY_OUT/appliances.csv"
fi
log "uml-nf $UMLNF ($("$UMLNF" --which-kernel 2>/dev/null | sed -n 1p)), image $IMAGE, N = $DENSITY_NS, label $DENSITY_LABEL"
status=0
for n in $DENSITY_NS; do
	run_n "$n" || { status=1; R[ok]=0; R[reason]=${R[reason]:-failed}; }
	lab_destroy
	lab_assert_clean >&2 || status=1
	emit
done
report "$DENSITY_CSV"
exit "$status"
