# shellcheck shell=bash
# bench/ndr.sh - the RFC 2544 throughput search for bench.sh (sourced there;
# uses its flood variables FL_*, ROUTER_PID, UMLNF_PID, tree_ticks, ifcount,
# stat_idle_us, per, log).
#
# NDR (no-drop rate): the highest offered rate at which a trial loses no
# frame; PDR (partial-drop rate): the highest at which it loses at most
# NDR_PDR_LOSS % (0.5). Both come from one binary search on the offered
# rate, as TRex and FD.io CSIT report them: every trial narrows both
# intervals at once
#
#     loss = 0            NDR >= rate, PDR >= rate
#     0 < loss <= 0.5 %   NDR <  rate, PDR >= rate
#     loss > 0.5 %        NDR <  rate, PDR <  rate
#
# and the next trial goes to the middle of whichever interval is still the
# wider (relative to its top), until both are within NDR_RES % or
# NDR_TRIALS trials were run. A trial is one bench/pacer.c run of
# NDR_TRIAL_S seconds at an even rate; its frames are counted whole (client
# c-eth0 tx, server s-eth0 rx, read before the run and after a drain pause),
# so frames still in flight when a window would close are not counted as
# lost. The rate of a trial is what the client really sent (pacer on a busy
# CPU can fall short of what it was asked for); a trial that fell more than
# 5 % short marks the result generator-bound (ndr_gen_boundN=1): the router
# kept up with all the generator could do.
#
# Sets, for size N: R[ndrN] R[pdrN] (frames/s), R[ndr_gen_boundN], R[ndr_trialsN],
# and at the NDR point (the fastest lossless trial) of the 64 B search:
# R[ndr_busy_us_per_pkt64] (router CPU busy, /proc/stat idle method),
# R[ndr_umlnf_us_per_pkt64] (the uml-nf process's own threads: datapath,
# control, main), R[ndr_guest_us_per_pkt64] (its descendants: the guest's
# host processes; for stock UML the whole linux.uml tree).

NDR_TRIAL_S=${NDR_TRIAL_S:-2}
NDR_TRIALS=${NDR_TRIALS:-9}
NDR_RES=${NDR_RES:-3}          # % of the interval's top
NDR_PDR_LOSS=${NDR_PDR_LOSS:-0.5}
NDR_MAX=${NDR_MAX:-1200000}    # the first trial's rate (frames/s)
NDR_DRAIN_S=${NDR_DRAIN_S:-0.4}
NDR_BURST=${NDR_BURST:-8}      # pacer -b: frames per sendmmsg, evenly spaced bursts

# CPU ticks of PID $1's own threads (not its children).
_ndr_own_ticks() {
	local t s f sum=0
	for t in /proc/"$1"/task/*; do
		read -r s 2>/dev/null <"$t/stat" || continue
		read -r -a f <<<"${s##*) }"
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}

# ndr_trial BYTES RATE: one paced trial; sets NT_TX NT_RX NT_RATE (frames/s
# really offered), NT_LOSS (%), NT_BUSY NT_OWN NT_GUEST (µs per received
# frame: router CPU busy, uml-nf's own threads, guest tree; "na" when not
# applicable). Returns 1 when the pacer could not run.
ndr_trial() {
	local bytes=$1 rate=$2 c0 c1 r0 r1 s0 s1 t0 t1 el o0=0 o1=0 a0=0 a1=0 busy
	NT_TX=0 NT_RX=0 NT_RATE=0 NT_LOSS=100 NT_BUSY=na NT_OWN=na NT_GUEST=na
	c0=$(ifcount "$FL_TXPID" "$FL_ODEV") r0=$(ifcount "$FL_RXPID" "$FL_RXDEV")
	if [ -n "$ROUTER_PID" ]; then
		a0=$(tree_ticks "$ROUTER_PID")
		[ -n "$UMLNF_PID" ] && o0=$(_ndr_own_ticks "$UMLNF_PID")
	fi
	s0=$(stat_idle_us) t0=$(now_us)
	ip netns exec "$FL_NS" taskset -c "$BENCH_GEN_CPU" "$PACER" -i "$FL_ODEV" -d "$FL_DMAC" \
		-s "$FL_SMAC" -S "$FL_SIP" -D "$FL_DIP" -l "$bytes" -r "$rate" -t "$NDR_TRIAL_S" -b "$NDR_BURST" \
		</dev/null >"$LAB_DIR/ndr.pacer.log" 2>&1 || { fail "pacer: $(tail -n 2 "$LAB_DIR/ndr.pacer.log")"; return 1; }
	t1=$(now_us) s1=$(stat_idle_us)
	if [ -n "$ROUTER_PID" ]; then
		a1=$(tree_ticks "$ROUTER_PID")
		[ -n "$UMLNF_PID" ] && o1=$(_ndr_own_ticks "$UMLNF_PID")
	fi
	sleep "$NDR_DRAIN_S"
	c1=$(ifcount "$FL_TXPID" "$FL_ODEV") r1=$(ifcount "$FL_RXPID" "$FL_RXDEV")
	set -- $c0 $c1 $r0 $r1
	NT_TX=$(($4 - $2)) NT_RX=$(($7 - $5))
	el=$((t1 - t0))
	NT_RATE=$(per "$NT_TX" "$el" 1000000 %.0f)
	NT_LOSS=$(awk -v t="$NT_TX" -v r="$NT_RX" 'BEGIN {
		if (t <= 0) { print 100; exit } l = (t - r) * 100 / t; printf "%.4f", l < 0 ? 0 : l }')
	busy=$((el - (s1 - s0) > 0 ? el - (s1 - s0) : 0))
	[ "${ROUTER_BUSY:-0}" = 1 ] && NT_BUSY=$(per "$busy" "$NT_RX")
	if [ -n "$ROUTER_PID" ]; then
		if [ -n "$UMLNF_PID" ]; then
			NT_OWN=$(per $((o1 - o0)) $((ticks * NT_RX)) 1000000)
			NT_GUEST=$(per $((a1 - a0 - (o1 - o0))) $((ticks * NT_RX)) 1000000)
		else
			NT_GUEST=$(per $((a1 - a0)) $((ticks * NT_RX)) 1000000)
		fi
	fi
	return 0
}

# ndr_search SIZE: fills R[ndrSIZE] R[pdrSIZE] ... (see the header). Every
# bound is a rate really offered; the first trial, at NDR_MAX, measures the
# generator's ceiling G as well, and a result within 5 % of G is
# generator-bound.
ndr_search() {
	local size=$1 bytes rate n=0 gb=0 lossy g=0 wn wp
	local nlo=0 nhi=$NDR_MAX plo=0 phi=$NDR_MAX
	local b_busy=na b_own=na b_guest=na
	bytes=$(frame_bytes "$size")
	R[ndr$size]=fail R[pdr$size]=fail
	[ -x "$PACER" ] || { fail "ndr: no pacer ($PACER)"; return 1; }
	rate=$NDR_MAX
	while [ "$n" -lt "$NDR_TRIALS" ]; do
		ndr_trial "$bytes" "$rate" || return 1
		n=$((n + 1))
		[ "$n" = 1 ] && { g=$NT_RATE; [ "$g" -lt "$nhi" ] && nhi=$g phi=$g; }
		lossy=$(awk -v l="$NT_LOSS" -v p="$NDR_PDR_LOSS" 'BEGIN {
			print (l == 0) ? 0 : (l <= p ? 1 : 2) }')
		log "ndr $size B: asked $rate, sent $NT_RATE pps, loss $NT_LOSS % ($NT_TX sent," \
			"$NT_RX received), busy $NT_BUSY us/pkt, uml-nf $NT_OWN, guest $NT_GUEST"
		case $lossy in
		0)
			[ "$NT_RATE" -gt "$nlo" ] && { nlo=$NT_RATE; b_busy=$NT_BUSY b_own=$NT_OWN b_guest=$NT_GUEST; }
			[ "$NT_RATE" -gt "$plo" ] && plo=$NT_RATE ;;
		1)
			[ "$NT_RATE" -lt "$nhi" ] && nhi=$NT_RATE
			[ "$NT_RATE" -gt "$plo" ] && plo=$NT_RATE ;;
		2)
			[ "$NT_RATE" -lt "$nhi" ] && nhi=$NT_RATE
			[ "$NT_RATE" -lt "$phi" ] && phi=$NT_RATE ;;
		esac
		[ "$nhi" -lt "$nlo" ] && nhi=$nlo
		[ "$phi" -lt "$plo" ] && phi=$plo
		# Next: the middle of the wider interval, relative to its top.
		wn=$(( (nhi - nlo) * 1000 / (nhi > 0 ? nhi : 1) ))
		wp=$(( (phi - plo) * 1000 / (phi > 0 ? phi : 1) ))
		[ "$wn" -le $((NDR_RES * 10)) ] && [ "$wp" -le $((NDR_RES * 10)) ] && break
		if [ "$wn" -ge "$wp" ]; then rate=$(( (nlo + nhi) / 2 )); else rate=$(( (plo + phi) / 2 )); fi
		[ "$rate" -lt 1000 ] && rate=1000
	done
	[ "$g" -gt 0 ] && [ $((nlo * 100)) -ge $((g * 95)) ] && gb=1
	R[ndr$size]=$nlo R[pdr$size]=$plo R[ndr_gen_bound$size]=$gb R[ndr_trials$size]=$n
	if [ "$size" = 64 ]; then
		R[ndr_busy_us_per_pkt64]=$b_busy R[ndr_umlnf_us_per_pkt64]=$b_own
		R[ndr_guest_us_per_pkt64]=$b_guest
	fi
	log "ndr $size B: NDR $nlo pps, PDR $plo pps after $n trials (generator ceiling $g pps, bound: $gb)"
}
