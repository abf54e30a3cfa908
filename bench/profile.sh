#!/bin/bash
# Profiles the router under a 64-byte UDP flood: where the router CPU's time goes.
# How: the lab with the appliance pinned to CPU 1, trafgen on CPU 0, RPS keeping the
# endpoints' work on CPU 0; perf samples CPU 1 (software clock) with call graphs.
#
# env: UMLNF, IMAGE, PROF_VEC_OPTS (default gro=1), PROF_SECONDS (4), PROF_BYTES (60),
#      PROF_TRANSPORT (raw; tap or hybrid: taps bridged to the veth ends, as in bench.sh),
#      PROF_GAP (trafgen -t: 0 = flat out, e.g. 20us = 50 kpps),
#      PROF_UMLNF_ARGS (extra uml-nf flags, e.g. "--poll 100"),
#      PROF_STOCK=1 to profile stock linux.uml instead; PROF_RATE=PPS: a steady rate from
#      bench/pacer.c (bursts of 8) instead of trafgen; PROF_NAME: a name for the output
#      files; output in build/bench/profile-* (.data, .txt, and a flame graph .svg with its
#      .folded stacks, drawn by bench/flame.py).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../tests/lib.sh"

UMLNF=${UMLNF:-build/uml-nf}
IMAGE=${IMAGE:-build/images/router.img}
SECS=${PROF_SECONDS:-4}
BYTES=${PROF_BYTES:-60}
OUT=build/bench
mkdir -p "$OUT"
name=${PROF_NAME:-$([ "${PROF_STOCK:-0}" = 1 ] && echo stock || echo umlnf)-${PROF_TRANSPORT:-raw}-${PROF_VEC_OPTS:-gro=1}}

lab_init prof || exit 1
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
export LAB_VEC_OPTS=${PROF_VEC_OPTS:-gro=1} LAB_CPUS=1
case ${PROF_TRANSPORT:-raw} in
raw) ;;
tap | hybrid)
	# The taps bridged to the veth ends, as bench.sh's tap variants.
	lab_bridge_taps || die "taps"
	export LAB_VEC_TRANSPORT=$PROF_TRANSPORT LAB_VEC_IF0=p-tap0 LAB_VEC_IF1=p-tap1 ;;
*) die "PROF_TRANSPORT: raw, tap or hybrid" ;;
esac
if [ "${PROF_STOCK:-0}" = 1 ]; then
	lab_start_stock "$IMAGE" || die "start"
else
	# shellcheck disable=SC2086 # a word list on purpose
	lab_start_umlnf "$UMLNF" "$IMAGE" ${PROF_UMLNF_ARGS:-} || die "start"
fi
lab_wait_ready 60 || die "not ready"
lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "ping"

# Receive work of each veth end on the CPU its owner runs on.
for nsdev in "$LAB_NS_HOST p-veth0 2" "$LAB_NS_HOST p-veth1 2" "$LAB_NS_CLIENT c-eth0 1" \
	"$LAB_NS_SERVER s-eth0 1"; do
	set -- $nsdev
	timeout 5 ip netns exec "$1" sh -c "echo $3 >/sys/class/net/$2/queues/rx-0/rps_cpus"
done
dmac=$(timeout 5 ip netns exec "$LAB_NS_CLIENT" ip neigh show 10.0.1.1 | awk '{print $5; exit}')
smac=$(timeout 5 ip netns exec "$LAB_NS_CLIENT" cat /sys/class/net/c-eth0/address)
cat >"$LAB_DIR/flood.cfg" <<CFG
{ eth(da=$dmac, sa=$smac, type=0x0800), ipv4(saddr=$LAB_CLIENT_ADDR, daddr=$LAB_SERVER_ADDR, ttl=64),
  udp(sport=4000, dport=9), fill(0x42, $((BYTES - 42))) }
CFG
if [ -n "${PROF_RATE:-}" ]; then
	pacer=$OUT/tools/pacer
	[ -x "$pacer" ] && [ "$pacer" -nt bench/pacer.c ] || { mkdir -p "$OUT/tools" &&
		cc -O2 -std=gnu11 -Wall -Wextra -Werror -o "$pacer" bench/pacer.c; } || die "pacer"
	smac=$(timeout 5 ip netns exec "$LAB_NS_CLIENT" cat /sys/class/net/c-eth0/address)
	ip netns exec "$LAB_NS_CLIENT" timeout $((SECS + 6)) taskset -c 0 "$pacer" -i c-eth0 \
		-d "$dmac" -s "$smac" -S "$LAB_CLIENT_ADDR" -D "$LAB_SERVER_ADDR" -l "$BYTES" \
		-r "$PROF_RATE" -t $((SECS + 4)) -b 8 </dev/null >/dev/null 2>&1 &
else
	ip netns exec "$LAB_NS_CLIENT" timeout $((SECS + 6)) taskset -c 0 \
		trafgen -i "$LAB_DIR/flood.cfg" -o c-eth0 -t "${PROF_GAP:-0}" -P 1 -C -Q </dev/null >/dev/null 2>&1 &
fi
gen=$!
_lab_track "$gen"
sleep 2
rx0=$(timeout 5 ip netns exec "$LAB_NS_SERVER" cat /sys/class/net/s-eth0/statistics/rx_packets)
timeout $((SECS + 20)) perf record -q -C 1 -e cpu-clock -g -o "$OUT/profile-$name.data" -- sleep "$SECS" 2>/dev/null
rx1=$(timeout 5 ip netns exec "$LAB_NS_SERVER" cat /sys/class/net/s-eth0/statistics/rx_packets)
kill "$gen" 2>/dev/null
wait "$gen" 2>/dev/null
echo "profile=$name forwarded_pps=$(( (rx1 - rx0) / SECS ))"
lab_stop_appliance 20 >/dev/null
grep -h "uml-nf: stats" "$LAB_DIR/appliance.log" | sed "s/features.*//"
perf report -q -i "$OUT/profile-$name.data" --no-children --sort comm,dso,sym --percent-limit 0.7 \
	2>/dev/null | grep -v '^$' | grep -v '^ *|' | grep -v '^ *-' | head -45 >"$OUT/profile-$name.txt"
cat "$OUT/profile-$name.txt"
# The flame graph of the same samples (bench/flame.py): profile-NAME.svg.
perf script -F comm,tid,ip,sym,dso -i "$OUT/profile-$name.data" 2>/dev/null |
	python3 "$(dirname "${BASH_SOURCE[0]}")/flame.py" --title "router CPU, $name" \
		--folded "$OUT/profile-$name.folded" >"$OUT/profile-$name.svg" &&
	echo "flame graph: $OUT/profile-$name.svg" || echo "warning: no flame graph" >&2
