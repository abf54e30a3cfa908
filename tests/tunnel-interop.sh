# shellcheck shell=bash
# tests/tunnel-interop.sh - one interop case of tests 90-92 (source after
# tests/lib.sh and tests/tunnel-lab.sh; the caller ran lab_init and
# tl_create once).
#
#   tl_case NAME PEER A_OPTS B_SETUP CAPTURE_IF TSHARK_ARGS FIELDS WANT
#     PEER       stock (B_SETUP: the stock peer's vec0 options) or linux
#                (B_SETUP: commands for the peer guest's post-up script,
#                its tunnel device to be bridged with eth1 as TUNDEV)
#     A_OPTS     uml-nf's vec1 options (the tunnel under test)
#     CAPTURE_IF host interface the tunnel datagrams cross (lo, t-veth1)
#     TSHARK_ARGS, FIELDS  decode options and -e fields for tshark (shell
#                words, so values with spaces are quoted inside)
#     WANT       a regular expression every decoded line from uml-nf must match
#   Boots A (uml-nf, raw on p-veth0 + the tunnel) and the peer B, pings
#   client -> server and back, 2 s of iperf3 TCP each way, decodes the
#   captured datagrams, checks uml-nf's drop counters stayed 0 and both
#   guests stop cleanly. Appends "NAME: fwd/rev Gbit/s" to TL_RESULTS.

TL_RESULTS=()

tl_case() {
	local name=$1 peer=$2 aopts=$3 bsetup=$4 capif=$5 targs=$6 fields=$7 want=$8
	local img k cap fwd rev line r bad
	img=$(readlink -f "$TL_IMAGE")
	step "[$name] boot uml-nf ($aopts) and the $peer peer"
	rm -f "$LAB_DIR"/a.cow "$LAB_DIR"/b.cow
	tl_conf "$LAB_DIR/confA" "0 1" || return 1
	# shellcheck disable=SC2086 # TL_A_FLAGS is a word list
	lab_start_appliance "$UMLNF" ${TL_A_FLAGS:-} "vec0:transport=raw,ifname=p-veth0,gro=1" \
		"vec1:$aopts" mem=256M "ubd0=$LAB_DIR/a.cow,$img" root=/dev/ubda con=null \
		con0=fd:0,fd:1 "umid=$LAB_UMID-a" "nfconf=$LAB_DIR/confA" || return 1
	if [ "$peer" = stock ]; then
		tl_conf "$LAB_DIR/confB" "0 1" || return 1
		mkdir -p "$LAB_DIR/uml"
		tl_start_extra B "${LAB_LINUX_UML:-linux.uml}" "vec0:$bsetup" \
			"vec1:transport=tap,ifname=p-tap1" mem=256M "ubd0=$LAB_DIR/b.cow,$img" \
			root=/dev/ubda con=null con0=fd:0,fd:1 "umid=$LAB_UMID-b" \
			"nfconf=$LAB_DIR/confB" "uml_dir=$LAB_DIR/uml"
	else
		k=$(lab_tuned_kernel)
		tl_conf "$LAB_DIR/confB" "1" "10.9.1.2/24 fd09:1::2/64" /mnt/nfconf/post-up.sh || return 1
		echo "IF0_MTU=9000" >>"$LAB_DIR/confB/router.conf"
		cat >"$LAB_DIR/confB/post-up.sh" <<-EOF
		# the Linux tunnel end, with the host's iproute2 through hostfs
		mkdir -p /tmp/host && mount -t hostfs none /tmp/host -o ro,/ || exit 1
		ip() { chroot /tmp/host /usr/bin/ip "\$@"; }
		# l2tp_ip6 binds the local address: wait for its DAD to end.
		for i in 1 2 3 4 5 6 7 8 9 10; do
			[ -z "\$(ip -6 addr show tentative)" ] && break
			sleep 0.5
		done
		$bsetup
		ip link set TUNDEV mtu 1500 up || exit 1
		echo 1 >/proc/sys/net/ipv6/conf/TUNDEV/disable_ipv6 2>/dev/null
		brctl addif br0 TUNDEV || exit 1
		ip -d link show TUNDEV
		EOF
		sed -i "s/TUNDEV/${TL_TUNDEV:-tun0}/g" "$LAB_DIR/confB/post-up.sh"
		tl_start_extra B "$UMLNF" --kernel "$k" "vec0:transport=raw,ifname=t-veth0,gro=1,mtu=9000" \
			"vec1:transport=raw,ifname=p-veth1,gro=1" mem=256M "ubd0=$LAB_DIR/b.cow,$img" \
			root=/dev/ubda con=null con0=fd:0,fd:1 "umid=$LAB_UMID-b" "nfconf=$LAB_DIR/confB"
	fi
	lab_wait_ready 60 || return 1
	tl_wait_ready B 60 || return 1
	grep -q 'post-up .* failed' "$LAB_DIR/B.log" && { fail "[$name] peer's post-up failed"; tail -n 20 "$LAB_DIR/B.log" >&2; return 1; }

	cap=$LAB_DIR/$name.pcap
	timeout 40 ip netns exec "$LAB_NS_HOST" tshark -q -i "$capif" -c 400 -w "$cap" \
		>/dev/null 2>&1 &
	local cpid=$!
	_lab_track "$cpid"
	sleep 1.5
	step "[$name] ping both ways"
	tl_ping 3 >"$LAB_DIR/ping.txt" || tl_ping 3 >"$LAB_DIR/ping.txt" ||
		{ cat "$LAB_DIR/ping.txt"; fail "[$name] ping client -> server"; return 1; }
	lab_ping server "$TL_CLIENT" 3 >"$LAB_DIR/ping.txt" ||
		{ cat "$LAB_DIR/ping.txt"; fail "[$name] ping server -> client"; return 1; }
	step "[$name] iperf3 TCP both ways"
	fwd=$(tl_iperf 2) || { fail "[$name] iperf3 forward"; return 1; }
	rev=$(tl_iperf 2 -R) || { fail "[$name] iperf3 reverse"; return 1; }
	echo "    $fwd Gbit/s client -> server, $rev Gbit/s back"
	awk -v a="$fwd" -v b="$rev" 'BEGIN { exit !(a > 0.01 && b > 0.01) }' ||
		{ fail "[$name] no throughput ($fwd / $rev)"; return 1; }
	sleep 0.5
	_lab_running "$cpid" && kill -INT "$cpid" 2>/dev/null
	wait "$cpid" 2>/dev/null

	step "[$name] decode the tunnel on $capif"
	# targs may quote preference values with spaces: evaluated as words.
	eval "timeout 60 tshark -r \"\$cap\" $targs -T fields -E separator=' ' $fields" \
		>"$LAB_DIR/$name.fields" 2>/dev/null
	r=$(grep -c . "$LAB_DIR/$name.fields")
	bad=$(grep -vcE "$want" "$LAB_DIR/$name.fields")
	echo "    $r datagrams from uml-nf decoded, e.g. '$(head -n 1 "$LAB_DIR/$name.fields")'"
	[ "$r" -ge 20 ] || { fail "[$name] only $r datagrams from uml-nf decoded"; return 1; }
	[ "$bad" -eq 0 ] || { grep -vE "$want" "$LAB_DIR/$name.fields" | head -n 3 >&2
		fail "[$name] $bad decoded datagrams do not match '$want'"; return 1; }

	step "[$name] stop both; uml-nf dropped nothing"
	lab_stop_clean 30 || return 1
	tl_stop_extra B >/dev/null
	line=$(grep 'uml-nf: stats dev=vec1 ' "$LAB_DIR/appliance.log") || { fail "no stats"; return 1; }
	for k in rx_short rx_bad_outer rx_bad_hdr rx_bad_key rx_bad_session rx_bad_cookie \
		rx_bad_seq rx_bad_counter rx_wrong_peer tx_bad_hdr; do
		r=$(tl_stat "$line" "$k")
		[ "${r:-0}" -eq 0 ] || { fail "[$name] $k=$r"; return 1; }
	done
	echo "    vec1: tx_segmented=$(tl_stat "$line" tx_segmented) rx_coalesced=$(tl_stat "$line" rx_coalesced)"
	mv "$LAB_DIR/appliance.log" "$LAB_DIR/$name-a.log"
	mv "$LAB_DIR/B.log" "$LAB_DIR/$name-b.log"
	TL_RESULTS+=("$name:$fwd/$rev")
}
