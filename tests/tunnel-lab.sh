# shellcheck shell=bash
# tests/tunnel-lab.sh - the tunnel lab of tests 90-99 and bench/bench.sh's
# tunnel rows, on top of tests/lib.sh (source that first).
#
# Two guests bridge the client and the server through a tunnel:
#
#   ${P}client                    ${P}host                                 ${P}server
#   c-eth0 10.0.3.2/24 -- p-veth0 [A: br0 = eth0 + eth1(tunnel)]
#                                        ||  tunnel datagrams over the host
#                                 [B: br0 = tunnel + eth1] p-veth1 -- s-eth0 10.0.3.3/24
#
# A is uml-nf with the tunnel transport under test. B is the peer:
#   stock   linux.uml with the same transport (vecN: options mirrored),
#           tunnel ends on the host's lo: 10.9.0.1 (A) / 10.9.0.2 (B),
#           fd09::1 / fd09::2;
#   linux   a Linux gretap / ip6gretap / l2tp_eth device inside a guest of
#           the tuned kernel, served by uml-nf raw: its eth0 is on veth
#           t-veth0, whose peer t-veth1 (host) holds 10.9.1.1/24 and
#           fd09:1::1/64 (A's ends); the guest has 10.9.1.2 and fd09:1::2
#           and runs the host's iproute2 ip through hostfs (busybox ip has
#           no gretap or l2tp).
# The one-guest loop for the bench (tl_loop_*): uml-nf or stock with four
# NICs, br0 = eth0 + eth1 (tunnel A->B) and br1 = eth2 (tunnel B->A) + eth3,
# both tunnel ends on lo.
#
# Functions
#   tl_create                lab_create + the 10.0.3.0/24 addresses, the lo
#                            and t-veth underlay, IPv6 on lo and t-veth1
#   tl_server_tap            tap p-tap1 bridged (p-br1) with p-veth1: the
#                            stock peer's server side (stock raw loops its own
#                            transmissions back, which a bridge learns wrong)
#   tl_conf DIR PORTS [IF0_ADDR [POST_UP]]  router.conf for the bridge image
#   tl_start_extra NAME CMD..  another appliance in ${P}host, log in
#                            $LAB_DIR/NAME.log, pid in TL_PID[NAME]
#   tl_wait_ready NAME [TIMEOUT]
#   tl_stop_extra NAME       SIGTERM, wait, SIGKILL of its process group
#   tl_ping [COUNT]          client -> 10.0.3.3
#   tl_iperf SECONDS [ARGS]  lab_iperf towards 10.0.3.3
#   tl_stats NAME DEV        the last "uml-nf: stats dev=DEV" line of NAME.log
#   tl_stat LINE KEY         KEY's value in a stats line
# Variables: TL_IMAGE (bridge image, default build/images/bridge.img).

TL_CLIENT=10.0.3.2
TL_SERVER=10.0.3.3
TL_IMAGE=${TL_IMAGE:-${BRIDGE_IMAGE:-build/images/bridge.img}}
declare -A TL_PID

tl_create() {
	lab_create || return 1
	timeout 10 ip -n "$LAB_NS_CLIENT" addr add "$TL_CLIENT/24" dev c-eth0 &&
	timeout 10 ip -n "$LAB_NS_SERVER" addr add "$TL_SERVER/24" dev s-eth0 ||
		{ fail "10.0.3.0/24 addresses"; return 1; }
	_ipns "$LAB_NS_HOST" sysctl -qw net.ipv6.conf.lo.disable_ipv6=0 || return 1
	timeout 10 ip -n "$LAB_NS_HOST" addr add 10.9.0.1/32 dev lo &&
	timeout 10 ip -n "$LAB_NS_HOST" addr add 10.9.0.2/32 dev lo &&
	timeout 10 ip -n "$LAB_NS_HOST" addr add fd09::1/128 dev lo nodad &&
	timeout 10 ip -n "$LAB_NS_HOST" addr add fd09::2/128 dev lo nodad ||
		{ fail "lo underlay addresses"; return 1; }
	timeout 10 ip -n "$LAB_NS_HOST" link add t-veth0 type veth peer name t-veth1 &&
	_ipns "$LAB_NS_HOST" sysctl -qw net.ipv6.conf.t-veth0.disable_ipv6=1 &&
	_ipns "$LAB_NS_HOST" sysctl -qw net.ipv6.conf.t-veth1.disable_ipv6=0 &&
	timeout 10 ip -n "$LAB_NS_HOST" addr add 10.9.1.1/24 dev t-veth1 &&
	timeout 10 ip -n "$LAB_NS_HOST" addr add fd09:1::1/64 dev t-veth1 nodad &&
	timeout 10 ip -n "$LAB_NS_HOST" link set t-veth0 up &&
	timeout 10 ip -n "$LAB_NS_HOST" link set t-veth1 up ||
		{ fail "t-veth underlay"; return 1; }
}

tl_server_tap() {
	_lab_bridge_nofilter
	timeout 10 ip -n "$LAB_NS_HOST" tuntap add dev p-tap1 mode tap &&
	timeout 10 ip -n "$LAB_NS_HOST" link add p-br1 type bridge stp_state 0 forward_delay 0 &&
	timeout 10 ip -n "$LAB_NS_HOST" link set p-tap1 master p-br1 &&
	timeout 10 ip -n "$LAB_NS_HOST" link set p-veth1 master p-br1 &&
	timeout 10 ip -n "$LAB_NS_HOST" link set p-tap1 up &&
	timeout 10 ip -n "$LAB_NS_HOST" link set p-br1 up || { fail "p-tap1/p-br1"; return 1; }
}

# tl_conf DIR PORTS [IF0_ADDR [POST_UP]]: a bridge of PORTS, no filter.
tl_conf() {
	mkdir -p "$1" || return 1
	cat >"$1/router.conf" <<-EOF
	# written by tests/tunnel-lab.sh for lab $LAB_NAME
	HOSTNAME=$LAB_NAME
	IF0_ADDR="${3:-}"
	IF1_ADDR=
	FORWARD=0
	BRIDGE=br0
	BRIDGE_PORTS="$2"
	BRIDGE_FILTER=
	POST_UP=${4:-}
	EOF
}

tl_start_extra() {
	local name=$1
	shift
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
		done
		exec setsid ip netns exec "$LAB_NS_HOST" "$@"
	) </dev/null >"$LAB_DIR/$name.log" 2>&1 &
	TL_PID[$name]=$!
	_lab_track "$!"
	LAB_PGIDS+=("$!")
}

tl_wait_ready() {
	local name=$1 timeout=${2:-60} i log=$LAB_DIR/$1.log
	for i in $(seq $((timeout * 5))); do
		grep -q 'uml-nf-router: ready' "$log" 2>/dev/null && return 0
		_lab_running "${TL_PID[$name]}" || { fail "$name exited before ready"; tail -n 30 "$log" >&2; return 1; }
		sleep 0.2
	done
	fail "$name not ready after ${timeout}s"
	tail -n 30 "$log" >&2
	return 1
}

tl_stop_extra() {
	local name=$1 pid=${TL_PID[$1]:-} i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 200); do _lab_running "$pid" || break; sleep 0.1; done
	_lab_running "$pid" && kill -KILL -- "-$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	local rc=$?
	for i in $(seq 50); do
		local m
		m=$(_lab_pgrp_members "$pid")
		[ -z "$m" ] && break
		_lab_kill_pids KILL $m
		sleep 0.1
	done
	TL_PID[$name]=
	return "$rc"
}

tl_ping() { lab_ping client "$TL_SERVER" "${1:-3}"; }

tl_iperf() {
	local secs=$1
	shift
	LAB_SERVER_ADDR=$TL_SERVER lab_iperf "$secs" "$@"
}

tl_stats() { grep "uml-nf: stats dev=$2 " "$LAB_DIR/$1.log" | tail -n 1; }
tl_stat() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1"; }

# ---- the one-guest loop (bench) ---------------------------------------------

# tl_loop_conf DIR: router.conf + post-up.sh for a guest with four NICs:
# br0 = IF0 + IF1, br1 = IF2 + IF3 (eth or vec names, whichever exist).
tl_loop_conf() {
	tl_conf "$1" "0 1" "" /mnt/nfconf/post-up.sh || return 1
	cat >"$1/post-up.sh" <<-'EOF2'
	# br1 = IF2 + IF3 (written by tests/tunnel-lab.sh tl_loop_conf)
	brctl addbr br1 || exit 1
	echo 0 >/sys/class/net/br1/bridge/stp_state
	echo 0 >/sys/class/net/br1/bridge/forward_delay
	for n in 2 3; do
		d=eth$n; [ -d /sys/class/net/$d ] || d=vec$n
		echo 1 >/proc/sys/net/ipv6/conf/$d/disable_ipv6 2>/dev/null
		ip link set "$d" up && brctl addif br1 "$d" || exit 1
	done
	echo 1 >/proc/sys/net/ipv6/conf/br1/disable_ipv6 2>/dev/null
	ip link set br1 up
	EOF2
}

# tl_loop_opts KIND TRANSPORT: sets TL_A and TL_B, the vecN: options of the
# two tunnel ends (A: 10.9.0.1 -> 10.9.0.2, B the mirror) for TRANSPORT gre,
# l2tpv3udp or l2tpv3ip, with a key / cookie and sequence numbers.
tl_loop_opts() {
	case $1 in
	gre)
		TL_A="transport=gre,src=10.9.0.1,dst=10.9.0.2,rx_key=5,tx_key=6,sequence=1"
		TL_B="transport=gre,src=10.9.0.2,dst=10.9.0.1,rx_key=6,tx_key=5,sequence=1" ;;
	l2tpv3udp)
		TL_A="transport=l2tpv3,udp=1,src=10.9.0.1,dst=10.9.0.2,srcport=17001,dstport=17002,rx_session=0x20,tx_session=0x10,cookie64=1,rx_cookie=0x1122334455667788,tx_cookie=0x8877665544332211,counter=1"
		TL_B="transport=l2tpv3,udp=1,src=10.9.0.2,dst=10.9.0.1,srcport=17002,dstport=17001,rx_session=0x10,tx_session=0x20,cookie64=1,rx_cookie=0x8877665544332211,tx_cookie=0x1122334455667788,counter=1" ;;
	l2tpv3ip)
		TL_A="transport=l2tpv3,src=10.9.0.1,dst=10.9.0.2,rx_session=0x20,tx_session=0x10,rx_cookie=0x11223344,tx_cookie=0x55667788,counter=1"
		TL_B="transport=l2tpv3,src=10.9.0.2,dst=10.9.0.1,rx_session=0x10,tx_session=0x20,rx_cookie=0x55667788,tx_cookie=0x11223344,counter=1" ;;
	*) fail "tl_loop_opts: unknown tunnel $1"; return 1 ;;
	esac
}
