#!/bin/bash
# Proves hot-plug of vecN into a running appliance: a --spare-nics guest NIC (eth2, link down, no transport) gets a raw transport with `uml-nf ctl UMID config vec2:transport=raw,...`, its link comes up in the guest and traffic from a third namespace is routed through it; `ctl remove vec2` takes it down again with its counters kept; a boot device can be removed and re-attached; mismatching options, busy and missing devices are refused in one line; only the socket broker keeps CAP_NET_RAW.
# How: lab + namespace ${P}third (t-eth0 10.0.3.2/24 <-> p-veth2 in ${P}host), router.conf IF2_ADDR=10.0.3.1/24, nfstats=1 (guest operstate on the console); config/remove/config through ctl, pings third <-> client, stats and guest operstate after each step; errors; remove vec1 / config vec1 under ping; capabilities from /proc; SIGTERM exit 0 (ASan build when there is one).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf82 umlnf
UMLNF=$(readlink -f "$UMLNF")
BIN=$UMLNF
[ -x "${UMLNF_SAN:-}" ] && BIN=$(readlink -f "$UMLNF_SAN")
NS3=${LAB_PREFIX}third
THIRD_ADDR=10.0.3.2
IF2_ADDR=10.0.3.1
# The third namespace is ours too: deleted whatever happens.
trap 'rc=$?; [ -e "/run/netns/$NS3" ] && timeout 10 ip netns del "$NS3"; (exit $rc); _lab_on_exit' EXIT

ctl() { timeout 30 "$UMLNF" ctl "$LAB_UMID" "$@"; }
# guest_oper STATE AFTER: one of the guest's console stats lines for eth2
# after the first AFTER of them says operstate=STATE, within 5 s.
guest_oper() {
	local i line
	for i in $(seq 50); do
		line=$(grep -a 'uml-nf-router: stats eth2 ' "$LAB_DIR/appliance.log" | tail -n +"$(($2 + 1))" |
			grep " operstate=$1" | tail -n 1)
		[ -n "$line" ] && return 0
		sleep 0.1
	done
	fail "guest eth2 not $1 within 5 s: $(grep -a 'stats eth2 ' "$LAB_DIR/appliance.log" | tail -n 1)"
	return 1
}
stat_lines() { grep -ac 'uml-nf-router: stats eth2 ' "$LAB_DIR/appliance.log"; }
ping3() { timeout 15 ip netns exec "$NS3" ping -c "${2:-3}" -i 0.2 -W 1 "$1"; }
vec2_json() { timeout 10 "$UMLNF" stats "$LAB_UMID" --json | jq -c '.devices[2]'; }
bad() { # STATUS PATTERN ctl-ARGS...
	local want=$1 pat=$2 out rc
	shift 2
	out=$(ctl "$@" 2>&1)
	rc=$?
	[ "$rc" = "$want" ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q -- "$pat" <<<"$out" ||
		die "ctl $*: status $rc, '$out'; want $want and /$pat/"
	echo "    ctl $*: $out"
}
command -v jq >/dev/null || skip_test "jq not installed"

step "lab, a third namespace on p-veth2, boot $(basename "$BIN") --spare-nics 1"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
echo "IF2_ADDR=$IF2_ADDR/24" >>"$LAB_DIR/conf/router.conf"
timeout 10 ip netns add "$NS3" && timeout 10 ip -n "$NS3" link set lo up &&
	timeout 10 ip -n "$LAB_NS_HOST" link add p-veth2 type veth peer name t-eth0 netns "$NS3" &&
	timeout 10 ip netns exec "$LAB_NS_HOST" sysctl -qw net.ipv6.conf.p-veth2.disable_ipv6=1 &&
	timeout 10 ip -n "$LAB_NS_HOST" link set p-veth2 up &&
	timeout 10 ip -n "$NS3" addr add "$THIRD_ADDR/24" dev t-eth0 &&
	timeout 10 ip -n "$NS3" link set t-eth0 up &&
	timeout 10 ip -n "$NS3" route add default via "$IF2_ADDR" || die "third namespace"
lab_start_umlnf "$BIN" "$IMAGE" --spare-nics 1 nfstats=1 || die "start"
lab_wait_ready 90 || die "not ready"
grep -a "uml-nf: vec2: spare, guest eth2" "$LAB_DIR/appliance.log" | sed 's/^/    /'
grep -aq "uml-nf-router: eth2 $IF2_ADDR/24 up" "$LAB_DIR/appliance.log" || die "the guest did not configure eth2"

step "before: the guest has eth2 without a carrier, uml-nf shows vec2 without a transport"
guest_oper down 0 || die "eth2 state"
j=$(vec2_json)
echo "    vec2: $(jq -r '[.transport, .link, .guest, .guest_link] | join(" ")' <<<"$j")"
[ "$(jq -r '[.transport, .link, .guest_link] | join(" ")' <<<"$j")" = "none none down" ] ||
	die "vec2 before hot-plug: $j"
[ "$(ctl config vec2)" = "" ] || die "config vec2 (query) names a transport before any"
ping3 "$IF2_ADDR" 1 >/dev/null 2>&1 && die "ping to eth2 works without a transport"

step "only the socket broker holds a capability"
nfpid=$(awk '{print $1}' "/run/uml-nf/$LAB_UMID/uml-nf.pid")
for t in /proc/"$nfpid"/task/*; do
	grep -q '^CapEff:.0*$' "$t/status" && grep -q '^CapPrm:.0*$' "$t/status" ||
		die "uml-nf thread $(cat "$t/comm") has capabilities: $(grep '^Cap[EP]' "$t/status" | tr '\n' ' ')"
done
brk=
for p in $(lab_descendants "$nfpid"); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = uml-nf-sockbrk ] && brk=$p; done
[ -n "$brk" ] || die "no socket broker (uml-nf-sockbrk) under uml-nf $nfpid"
prm=$(sed -n 's/^CapPrm:\t//p' "/proc/$brk/status")
eff=$(sed -n 's/^CapEff:\t//p' "/proc/$brk/status")
# CAP_NET_ADMIN (12) and CAP_NET_RAW (13): 0x3000.
[ "$prm" = 0000000000003000 ] && [ "$eff" = 0000000000000000 ] ||
	die "broker $brk: CapPrm $prm CapEff $eff, want 3000 and 0"
echo "    uml-nf threads: CapEff/CapPrm 0; broker pid $brk: CapPrm $prm (net_admin, net_raw), CapEff $eff"

step "ctl config vec2:transport=raw,ifname=p-veth2: link up, traffic routed"
out=$(ctl config vec2:transport=raw,ifname=p-veth2) || die "config vec2: $out"
echo "    $out"
[ "$out" = "vec2: attached raw p-veth2, link up" ] || die "config answer: $out"
n0=$(stat_lines)
guest_oper up "$n0" || die "the guest's eth2 did not come up"
ping3 "$IF2_ADDR" 3 >"$LAB_DIR/p1.txt" || { cat "$LAB_DIR/p1.txt"; die "ping third -> eth2"; }
ping3 "$LAB_CLIENT_ADDR" 5 >"$LAB_DIR/p2.txt" || { cat "$LAB_DIR/p2.txt"; die "ping third -> client through the router"; }
echo "    $(tail -n 2 "$LAB_DIR/p2.txt" | head -n 1)"
j=$(vec2_json)
[ "$(jq -r '[.transport, .ifname, .link, .guest_link] | join(" ")' <<<"$j")" = "raw p-veth2 up up" ] ||
	die "vec2 after config: $j"
rx=$(jq .rx_packets <<<"$j")
tx=$(jq .tx_packets <<<"$j")
[ "$rx" -ge 8 ] && [ "$tx" -ge 8 ] || die "vec2 counters rx $rx tx $tx after 8 pings"
spec=$(ctl config vec2)
echo "    config vec2: $spec"
[ "$spec" = "transport=raw,ifname=p-veth2,depth=64,gro=1,mtu=1500,mrg=0" ] || die "query: $spec"

step "refusals: one line each, nothing changed"
bad 1 "vec2: has a transport (raw p-veth2): remove it first" config vec2:transport=raw,ifname=p-veth2
bad 1 "vec5: no such device" config vec5:transport=raw,ifname=p-veth2
bad 1 "vec5: no such device" remove vec5
bad 2 'vec2: gro: expected 0 or 1, got "yes"' config vec2:transport=raw,ifname=p-veth2,gro=yes
bad 2 "expected vecN:transport=NAME" config "vec2 :transport=raw"
# Not a vec device: an ordinary mconsole command, answered by the guest.
bad 1 "Device doesn't exist" remove eth2
bad 2 "unknown command" frobnicate vec2
timeout 10 "$UMLNF" capture "$LAB_UMID" vec2 -w "$LAB_DIR/v2.pcap" >/dev/null 2>"$LAB_DIR/v2.err" &
cpid=$!
_lab_track "$cpid"
for i in $(seq 50); do grep -aq 'vec2: capture attached' "$LAB_DIR/appliance.log" && break; sleep 0.1; done
bad 1 "vec2: busy: a capture is attached (stop it first)" remove vec2
kill -INT "$cpid"
wait "$cpid" || die "capture on vec2: $(cat "$LAB_DIR/v2.err")"
ping3 "$IF2_ADDR" 1 >/dev/null || die "vec2 disturbed by the refusals"

step "ctl remove vec2: link down in the guest, counters kept"
out=$(ctl remove vec2) || die "remove vec2: $out"
echo "    $out"
grep -q "^vec2: detached raw p-veth2, link down (counters kept: rx [0-9]*, tx [0-9]* frames)$" <<<"$out" ||
	die "remove answer: $out"
n0=$(stat_lines)
guest_oper down "$n0" || die "the guest's eth2 still up"
ping3 "$IF2_ADDR" 2 >/dev/null 2>&1 && die "ping through a removed vec2"
j=$(vec2_json)
[ "$(jq -r '[.transport, .link, .guest_link] | join(" ")' <<<"$j")" = "none none down" ] ||
	die "vec2 after remove: $j"
[ "$(jq .rx_packets <<<"$j")" -ge "$rx" ] || die "vec2 counters lost: $j"
echo "    vec2 after remove: rx $(jq .rx_packets <<<"$j") tx $(jq .tx_packets <<<"$j") frames, tx_host_down $(jq .tx_host_down <<<"$j")"
bad 1 "vec2: no transport attached" remove vec2
bad 2 "vec2: the guest negotiated guest_tso4,guest_tso6" config vec2:transport=raw,ifname=p-veth2,gro=0
bad 2 "vec2: mtu: the guest has 1500 from its boot, not 9000" config vec2:transport=raw,ifname=p-veth2,mtu=9000
bad 2 "vec2: depth: at most 256 on this device" config vec2:transport=raw,ifname=p-veth2,depth=512
bad 1 'vec2: ifname: no interface "p-none"' config vec2:transport=raw,ifname=p-none

step "config vec2 again (depth 128): traffic resumes"
out=$(ctl config vec2:transport=raw,ifname=p-veth2,depth=128) || die "second config vec2: $out"
n0=$(stat_lines)
guest_oper up "$n0" || die "eth2 did not come back up"
ping3 "$LAB_CLIENT_ADDR" 3 >/dev/null || die "ping through vec2 after the second config"
echo "    $out; ping third -> client works"

step "a boot device too: remove vec1 stops client -> server, config vec1 brings it back"
out=$(ctl remove vec1) || die "remove vec1: $out"
echo "    $out"
timeout 10 ip netns exec "$LAB_NS_CLIENT" ping -c 2 -i 0.2 -W 1 "$LAB_SERVER_ADDR" >/dev/null 2>&1 &&
	die "client -> server works with vec1 removed"
out=$(ctl config vec1:transport=raw,ifname=p-veth1) || die "config vec1: $out"
echo "    $out"
ok=
for i in $(seq 20); do
	timeout 3 ip netns exec "$LAB_NS_CLIENT" ping -c 1 -W 1 "$LAB_SERVER_ADDR" >/dev/null 2>&1 && { ok=1; break; }
	sleep 0.3
done
[ -n "$ok" ] || die "client -> server does not work after config vec1"

step "stop (SIGTERM): exit 0, broker gone"
lab_stop_clean 30 || die "unclean stop"
! grep -aq "ERROR: AddressSanitizer\|runtime error:" "$LAB_DIR/appliance.log" || die "sanitizer report"
[ -d "/proc/$brk" ] && [ "$(cat "/proc/$brk/comm" 2>/dev/null)" = uml-nf-sockbrk ] && die "broker $brk survived"
grep -a 'uml-nf: stats dev=vec2' "$LAB_DIR/appliance.log" | cut -c1-160 | sed 's/^/    /'

step "destroy and assert clean"
timeout 10 ip netns del "$NS3"
lab_destroy
lab_assert_clean || exit 1
pass "hot-plug: spare vec2 attached, routed, removed, re-attached; boot device vec1 removed and re-attached"
