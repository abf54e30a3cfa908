#!/bin/bash
# Proves the firewall preset lets inside->outside connections and their replies through, drops new outside->inside connections, and counts both: with nftables on the tuned kernel (when built; make test builds it and requires it) and with the iptables-legacy fallback on the stock kernel (always).
# How: per kernel, boot uml-nf --kernel K firewall.img nfstats=1; ping + iperf3 client->server; server->client TCP connect to a live listener must time out; nft / iptables counter lines on the console.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

TUNED=$(lab_tuned_kernel)
STOCK=${UMLNF_STOCK_KERNEL:-/usr/bin/linux.uml}
FIREWALL_IMAGE=${FIREWALL_IMAGE:-build/images/firewall.img}
[ -f "$FIREWALL_IMAGE" ] || { fail "image $FIREWALL_IMAGE not found (make image-firewall)"; exit 1; }
[ -x "$STOCK" ] || { fail "stock kernel $STOCK not found (install user-mode-linux)"; exit 1; }
IMAGE=$FIREWALL_IMAGE
lab_test_begin umlnf30 umlnf

# rule_packets CHAIN COMMENT: latest console value of the packet counter of
# the rule in CHAIN (forward, input) whose comment is COMMENT, from the
# "uml-nf-router: nft CHAIN ... counter packets N ... comment "C"" lines
# (nftables) or "uml-nf-router: iptables filter CHAIN packets N ... /* C */"
# lines (iptables-legacy), whichever this boot prints ($RULES).
rule_packets() {
	if [ "$RULES" = nft ]; then
		grep -a "uml-nf-router: nft $1 .*comment \"$2\"" "$LAB_DIR/appliance.log" | tail -n 1 |
			sed -n 's/.* counter packets \([0-9]*\) .*/\1/p'
	else
		grep -a "uml-nf-router: iptables filter ${1^^} .*/\* $2 \*/" "$LAB_DIR/appliance.log" |
			tail -n 1 | sed -n 's/.* packets \([0-9]*\) bytes .*/\1/p'
	fi
}

# Wait until the console shows a fresh set of counter lines (printed after now).
wait_fresh_stats() {
	local before i pat="uml-nf-router: $RULES "
	before=$(grep -ac "$pat" "$LAB_DIR/appliance.log")
	for i in $(seq 50); do
		[ "$(grep -ac "$pat" "$LAB_DIR/appliance.log")" -gt "$before" ] && sleep 0.5 && return 0
		sleep 0.2
	done
	return 1
}

step "create lab"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"

# check_firewall KERNEL WHAT RULES LOADED: one boot of firewall.img on
# KERNEL; RULES is nft or iptables (which counters the console shows),
# LOADED the text the "firewall loaded" line must contain.
check_firewall() {
	local KERNEL=$1 what=$2 loaded=$4 gbps est drop new c i
	RULES=$3
	rm -f "$LAB_DIR/root.cow"
	step "[$what] boot uml-nf --kernel $KERNEL, firewall image, nfstats=1"
	lab_start_umlnf "$UMLNF" "$IMAGE" --kernel "$KERNEL" nfstats=1 || die "start"
	lab_wait_ready 60 || die "not ready"
	grep -aq "uml-nf-router: firewall loaded ($loaded" "$LAB_DIR/appliance.log" ||
		die "no 'firewall loaded ($loaded' line: $(grep -a 'uml-nf-router: .*\(nft\|firewall\|iptables\)' "$LAB_DIR/appliance.log")"
	grep -a 'uml-nf-router: firewall' "$LAB_DIR/appliance.log" | sed 's/^/    /'

	step "[$what] (a) ping client -> server"
	lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping1.txt" || { cat "$LAB_DIR/ping1.txt"; die "client -> server ping"; }

	step "[$what] (a)(c) TCP client -> server: iperf3 1 s (replies pass as established)"
	gbps=$(lab_iperf 1) || die "iperf3 client -> server through the firewall"
	echo "    $gbps Gbit/s"
	awk -v g="$gbps" 'BEGIN { exit !(g > 0) }' || die "throughput $gbps Gbit/s"

	step "[$what] (b) new TCP server -> client must be dropped"
	lab_tcp_dropped 5301 || die "outside -> inside TCP not dropped"

	step "[$what] (d) rule counters from the guest console (nfstats)"
	wait_fresh_stats || die "no fresh 'uml-nf-router: $RULES' lines on the console"
	for c in established "inside to outside" "outside to inside"; do
		grep -a "uml-nf-router: $RULES .*\(comment \"$c\"\|/\* $c \*/\)" "$LAB_DIR/appliance.log" |
			tail -n 1 | sed 's/^/    /'
	done
	est=$(rule_packets forward established)
	drop=$(rule_packets forward "outside to inside")
	new=$(rule_packets forward "inside to outside")
	[ -n "$est" ] && [ "$est" -gt 0 ] || die "forward 'established' counter is '$est', want > 0"
	[ -n "$drop" ] && [ "$drop" -gt 0 ] || die "forward 'outside to inside' drop counter is '$drop', want > 0"
	[ -n "$new" ] && [ "$new" -gt 0 ] || die "forward 'inside to outside' counter is '$new', want > 0"
	echo "    established=$est inside-to-outside=$new outside-to-inside(drop)=$drop packets"

	step "[$what] stop (SIGTERM): exit status must be 0"
	lab_stop_clean 30 || die "unclean stop"
	summary+=("$what: inside->outside ok ($gbps Gbit/s), outside->inside dropped ($drop pkts), established $est pkts")
}

summary=()
check_firewall "$STOCK" "stock kernel, iptables-legacy fallback" iptables \
	"iptables-legacy fallback: stock kernel has no nftables inet family"
if lab_have_tuned "nftables firewall not checked"; then
	check_firewall "$TUNED" "tuned kernel, nftables" nft "/etc/firewall.nft"
fi

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
for s in "${summary[@]}"; do pass "firewall preset, $s"; done
