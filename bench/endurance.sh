#!/bin/bash
# Soak: uml-nf under mixed traffic for SOAK_MINUTES (default 30), failing on growth: RSS creeping up after warm-up, fds not constant, any "bad input" counter moving, a device broken, forwarding lost, or an unclean exit.
# How: one lab boot; in rounds, iperf3 TCP 4 streams forward then reverse, UDP at a fixed rate with small datagrams, a steady 100 pps ping, all at once with a continuous ping; every SOAK_SAMPLE seconds RSS (VmRSS), open fds and the counters (SIGUSR1 stats lines) go to a CSV; growth is judged over the second half.
#
# Output: $SOAK_OUT (default build/bench/soak.csv), soak.md and soak.png
# beside it. Exit status 0 only when every check held. Not part of make
# test (it takes half an hour); make bench runs it after the benchmarks,
# make soak alone.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../tests/lib.sh"

UMLNF=${UMLNF:-build/uml-nf}
IMAGE=${IMAGE:-build/images/router.img}
SOAK_MINUTES=${SOAK_MINUTES:-30}
SOAK_SAMPLE=${SOAK_SAMPLE:-30}          # seconds between samples
SOAK_ROUND=${SOAK_ROUND:-20}            # seconds per traffic phase
SOAK_RSS_GROWTH_KB=${SOAK_RSS_GROWTH_KB:-4096} # allowed over the second half
SOAK_OUT=${SOAK_OUT:-build/bench/soak.csv}
SOAK_VEC_OPTS=${SOAK_VEC_OPTS:-gro=1}
dir=$(dirname "$SOAK_OUT")
mkdir -p "$dir" || exit 1

[ -f "$IMAGE" ] || { fail "image $IMAGE not found (make image)"; exit 1; }
[ -x "$UMLNF" ] || { fail "uml-nf $UMLNF not built (make)"; exit 1; }

log() { echo "soak: $*" >&2; }

lab_init soak || exit 1
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
LAB_VEC_OPTS=$SOAK_VEC_OPTS lab_start_umlnf "$UMLNF" "$IMAGE" || die "start"
lab_wait_ready 90 || die "not ready"
pid=$LAB_APPLIANCE_PID
log "uml-nf pid $pid, ${SOAK_MINUTES} min, sample every ${SOAK_SAMPLE} s"

# Counters of both devices, summed, from a fresh SIGUSR1 stats dump:
# rx_packets tx_packets rx_dropped tx_dropped host_rx_drops bad broken
counters() {
	local lg=$LAB_DIR/appliance.log n0 i
	n0=$(grep -ac 'uml-nf: stats engine ' "$lg")
	kill -USR1 "$pid" 2>/dev/null || return 1
	for i in $(seq 100); do
		[ "$(grep -ac 'uml-nf: stats engine ' "$lg")" -gt "$n0" ] && break
		sleep 0.02
	done
	sleep 0.1
	awk '/uml-nf: stats engine / { for (k in s) s[k] = 0; b = 0; next }
	     /uml-nf: stats dev=/ {
		for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[1] ~ /^(rx_packets|tx_packets|rx_dropped|tx_dropped|host_rx_drops)$/)
				s[kv[1]] += kv[2]
			if (kv[1] ~ /^(tx_bad_hdr|tx_bad_frame|rx_oversize|call_errors)$/)
				s["bad"] += kv[2]
		}
		if ($0 ~ / broken=/) b++ }
	     END { printf "%d %d %d %d %d %d %d\n", s["rx_packets"], s["tx_packets"],
			s["rx_dropped"], s["tx_dropped"], s["host_rx_drops"], s["bad"], b }' "$lg"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
nfds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# Traffic: a background loop of phases until the deadline.
end=$(( $(date +%s) + SOAK_MINUTES * 60 ))
traffic() {
	local round=0
	while [ "$(date +%s)" -lt "$end" ]; do
		case $((round % 3)) in
		0) lab_iperf "$SOAK_ROUND" -P 4 >/dev/null 2>&1 ;;
		1) lab_iperf "$SOAK_ROUND" -P 4 -R >/dev/null 2>&1 ;;
		2) lab_iperf "$SOAK_ROUND" -u -b 200M -l 64 >/dev/null 2>&1 ;;
		esac
		round=$((round + 1))
	done
}
traffic &
traffic_pid=$!
_lab_track "$traffic_pid"
ip netns exec "$LAB_NS_SERVER" timeout $((SOAK_MINUTES * 60 + 30)) \
	ping -q -i 0.01 "$LAB_CLIENT_ADDR" >"$LAB_DIR/ping.txt" 2>&1 &
ping_pid=$!
_lab_track "$ping_pid"

echo "t_s,rss_kb,fds,rx_packets,tx_packets,rx_dropped,tx_dropped,host_rx_drops,bad,broken" >"$SOAK_OUT.tmp"
t0=$(date +%s)
while :; do
	now=$(date +%s)
	_lab_running "$pid" || die "uml-nf exited during the soak"
	c=$(counters) || die "no counters"
	echo "$((now - t0)),$(rss_kb "$pid"),$(nfds "$pid"),${c// /,}" >>"$SOAK_OUT.tmp"
	tail -n 1 "$SOAK_OUT.tmp" | sed 's/^/soak: sample /' >&2
	[ "$now" -lt "$end" ] || break
	sleep "$SOAK_SAMPLE"
done
wait "$traffic_pid" 2>/dev/null
kill -INT "$ping_pid" 2>/dev/null # SIGINT: ping prints its summary
wait "$ping_pid" 2>/dev/null
mv "$SOAK_OUT.tmp" "$SOAK_OUT"

step "checks"
lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "no forwarding at the end of the soak"
lab_stop_clean 30 || die "unclean stop after the soak"

# Growth over the second half (after warm-up: the first half lets buffers
# the traffic mix touches settle).
verdict=$(awk -F, -v lim="$SOAK_RSS_GROWTH_KB" 'NR > 1 { n++; t[n] = $1; r[n] = $2; f[n] = $3
		bad[n] = $9; br[n] = $10; rxd[n] = $6; txd[n] = $7; rx[n] = $4 }
	END {
		if (n < 4) { print "FAIL too few samples (" n ")"; exit }
		h = int(n / 2) + 1
		rmax = r[h]; for (i = h; i <= n; i++) if (r[i] > rmax) rmax = r[i]
		growth = rmax - r[h]
		fd_ok = 1; for (i = 2; i <= n; i++) if (f[i] != f[2]) fd_ok = 0
		msg = sprintf("samples=%d rss_first=%d rss_half=%d rss_last=%d rss_growth_2nd_half_kb=%d fds=%d..%d bad=%d broken=%d rx_packets=%d rx_dropped=%d tx_dropped=%d",
			n, r[1], r[h], r[n], growth, f[2], f[n], bad[n], br[n], rx[n], rxd[n], txd[n])
		if (growth > lim) { print "FAIL rss grew " growth " KiB in the second half; " msg; exit }
		if (!fd_ok) { print "FAIL open fds changed; " msg; exit }
		if (bad[n] > 0) { print "FAIL bad-input counters moved; " msg; exit }
		if (br[n] > 0) { print "FAIL a device is broken; " msg; exit }
		print "PASS " msg }' "$SOAK_OUT")
pings=$(grep -a 'packets transmitted' "$LAB_DIR/ping.txt")
{
	echo "# uml-nf soak, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "- ${SOAK_MINUTES} min, samples every ${SOAK_SAMPLE} s, vec options ${SOAK_VEC_OPTS}"
	echo "- ${verdict}"
	echo "- background ping: ${pings:-none}"
	echo "- data: $(basename "$SOAK_OUT"), plot: soak.png"
} >"$dir/soak.md"
if command -v gnuplot >/dev/null; then
	gnuplot <<-EOF 2>/dev/null
	set terminal png size 900,500
	set output "$dir/soak.png"
	set datafile separator ","
	set key autotitle columnhead
	set xlabel "seconds"; set ylabel "RSS (KiB)"; set y2label "open fds"
	set y2tics; set ytics nomirror
	plot "$SOAK_OUT" using 1:2 with lines title "RSS KiB", "" using 1:3 axes x1y2 with lines title "fds"
	EOF
fi
cat "$dir/soak.md"
lab_destroy
case $verdict in PASS*) exit 0 ;; *) fail "$verdict"; exit 1 ;; esac
