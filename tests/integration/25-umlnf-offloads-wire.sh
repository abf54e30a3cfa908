#!/bin/bash
# Proves offloads work end to end: gro=1 puts 64 KB frames into the guest (as sent, or coalesced by uml-nf's GRO from MSS-sized ones), gro=0 gets host GSO frames segmented by uml-nf, and the wire carries valid MSS-sized frames in every case.
# How: three boots (gro=1; gro=1 with the client's TSO/GSO off; gro=0); p-veth1 has TSO and tx-checksum off (a "wire" that needs real segments); tshark on s-eth0 checks data segments; uml-nf's counters show frame sizes.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf25 umlnf
command -v tshark >/dev/null || die "tshark not installed (make deps)"
MSS_MAX=1448

stat_of() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1"; }

results=()
for variant in ${T25_VARIANTS:-1 1-mss 0}; do
	gro=${variant%%-*}
	step "[$variant] lab; p-veth1 with TSO and tx checksum off"
	lab_create || die "lab_create"
	lab_write_conf || die "lab_write_conf"
	timeout 10 ip netns exec "$LAB_NS_HOST" ethtool -K p-veth1 tso off tx off >/dev/null ||
		die "ethtool p-veth1"
	if [ "$variant" = 1-mss ]; then
		timeout 10 ip netns exec "$LAB_NS_CLIENT" ethtool -K c-eth0 tso off gso off >/dev/null ||
			die "ethtool c-eth0"
	fi

	# nfstats=1: the guest prints its own NIC counters every second.
	LAB_VEC_OPTS=gro=$gro lab_start_umlnf "$UMLNF" "$IMAGE" nfstats=1 || die "start"
	lab_wait_ready 60 || die "not ready"
	lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "ping"

	step "[$variant] 3 s of TCP with a capture on s-eth0"
	pcap=$LAB_DIR/s-eth0.pcap
	# Whole frames (TCP checksums need the payload), a bounded number.
	timeout 20 ip netns exec "$LAB_NS_SERVER" tshark -q -i s-eth0 -c 5000 -w "$pcap" \
		-f "tcp and src host $LAB_CLIENT_ADDR" >/dev/null 2>&1 &
	cap=$!
	_lab_track "$cap"
	sleep 2
	gbps=$(lab_iperf 3) || die "iperf3"
	sleep 0.5
	_lab_running "$cap" && kill -INT "$cap" 2>/dev/null
	wait "$cap" 2>/dev/null
	echo "    $gbps Gbit/s"
	awk -v g="$gbps" 'BEGIN { exit !(g > 0.05) }' || die "throughput too low ($gbps)"

	# Every data segment: payload <= MSS and both checksums good.
	fields=$(timeout 60 tshark -r "$pcap" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
		-Y "tcp.len > 0" -T fields -e tcp.len -e ip.checksum.status -e tcp.checksum.status \
		-e frame.number -e frame.len -e frame.cap_len -e tcp.seq_raw -e tcp.flags -e ip.id \
		-e tcp.checksum -e tcp.checksum_calculated \
		2>/dev/null) || die "tshark read"
	# Checksum status: 1 good, 0 bad, 2 not verifiable (a frame cut short
	# in the capture: counted apart, not a wire error). A TCP checksum of
	# 0xffff where 0x0000 is computed is the one's complement negative zero
	# (RFC 1624), which every receiver's sum check accepts; Linux's software
	# checksum (skb_checksum_help on a tx-csum-off device) writes it for
	# about one segment in 65536. tshark flags it, so it is counted apart.
	read -r n big badip badtcp unver negz < <(awk -F'\t' '{ n++; if ($1 > m) big++; if ($2 == 0) bi++
		if ($3 == 0) { if ($10 == "0xffff" && $11 == "0x0000") nz++; else bt++ }
		if ($2 == 2 || $3 == 2) un++ }
		END { print n + 0, big + 0, bi + 0, bt + 0, un + 0, nz + 0 }' m=$MSS_MAX <<<"$fields")
	echo "    captured $n data segments: $big over $MSS_MAX bytes, $badip bad IP, $badtcp bad TCP checksums," \
		"$unver not verifiable, $negz 0xffff for 0x0000"
	[ "$n" -gt 100 ] || die "too few data segments captured ($n)"
	[ "$big" -eq 0 ] || die "$big segments larger than the MSS on the wire"
	if [ "$badip" -ne 0 ] || [ "$badtcp" -ne 0 ]; then
		echo "    bad segments (len ipcsum tcpcsum frame framelen caplen seq flags ipid csum calc):"
		awk -F'\t' '$2 == 0 || ($3 == 0 && !($10 == "0xffff" && $11 == "0x0000"))' <<<"$fields" |
			head -n 10 | sed 's/^/      /'
		cp "$pcap" "${TMPDIR:-/tmp}/uml-nf-25-bad-$variant.pcap" 2>/dev/null &&
			echo "    capture kept as ${TMPDIR:-/tmp}/uml-nf-25-bad-$variant.pcap"
		die "invalid checksums on the wire"
	fi

	sleep 1.5
	gline=$(grep 'uml-nf-router: stats eth0 ' "$LAB_DIR/appliance.log" | tail -n 1)
	[ -n "$gline" ] || die "no guest counters on the console"
	gpk=$(stat_of "$gline" rx_packets) gby=$(stat_of "$gline" rx_bytes)
	gavg=$((gby / gpk))
	echo "    guest's own eth0 counters: $gpk frames received, average $gavg bytes"
	if [ "$gro" = 1 ]; then
		[ "$gavg" -gt 8192 ] || die "guest eth0 average frame $gavg: no 64 KB frames inside the guest"
	else
		[ "$gavg" -le 1514 ] || die "guest eth0 average frame $gavg with gro=0"
	fi

	step "[$variant] stop; frame sizes into the guest"
	lab_stop_appliance 30
	rc=$?
	[ "$rc" -eq 0 ] || die "exit status $rc"
	line=$(grep 'uml-nf: stats dev=vec0' "$LAB_DIR/appliance.log") || die "no stats"
	pk=$(stat_of "$line" rx_packets) by=$(stat_of "$line" rx_bytes) sg=$(stat_of "$line" rx_segmented)
	co=$(stat_of "$line" rx_coalesced)
	avg=$((by / pk))
	echo "    vec0 -> guest: $pk frames, average $avg bytes; uml-nf segmented $sg, coalesced $co"
	if [ "$gro" = 1 ]; then
		[ "$avg" -gt 8192 ] || die "gro=1: average frame $avg: no large frames reached the guest"
		[ "${sg:-0}" -eq 0 ] || die "gro=1: uml-nf segmented $sg frames"
		if [ "$variant" = 1-mss ]; then
			[ "${co:-0}" -gt 1000 ] || die "MSS-sized input was not coalesced ($co)"
		fi
	else
		[ "$avg" -le 1514 ] || die "gro=0: average frame $avg exceeds an MTU frame"
		[ "${sg:-0}" -gt 0 ] || die "gro=0: nothing was segmented (endpoints' TSO off?)"
	fi
	results+=("$variant:${gbps}Gbit/s,avg${avg}B")
	lab_destroy
	lab_assert_clean || exit 1
	lab_init "umlnf25v${variant//-/}" || exit 1
done
pass "offloads end to end (${results[*]})"
