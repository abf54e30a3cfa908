#!/bin/bash
# Proves bad tunnel datagrams are dropped and counted by reason while good traffic goes on: wrong GRE key, flags, truncated, outer IPv4 options, replayed sequence numbers; L2TPv3 wrong session, cookie, control bit, truncated.
# How: uml-nf <-> stock UML over lo (as test 90/91); trafgen injects N datagrams of each kind "from" the peer's address on lo while a ping runs through the tunnel; uml-nf's per-reason counters plus the host socket's own drops must add up to N each; ping, iperf3 and a clean stop after.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../tunnel-lab.sh"

lab_test_begin tun94 umlnf
command -v trafgen >/dev/null || die "trafgen not installed (netsniff-ng, make deps)"
[ -f "$TL_IMAGE" ] || die "bridge image $TL_IMAGE not found (make image-bridge)"
N=${T94_N:-3000}
step "create lab"
tl_create || die "tl_create"
tl_server_tap || die "tap"
# Frames injected on lo have no route attached yet: with a source address
# of this namespace they are martians unless lo accepts local sources.
_ipns "$LAB_NS_HOST" sysctl -qw net.ipv4.conf.lo.accept_local=1 || die "accept_local"
img=$(readlink -f "$TL_IMAGE")

ETH='0x02,0,0,0,0,0x99, 0x02,0,0,0,0,0x98, 0x88,0xb5, fill(0x5a, 46)'
# boot A_OPTS B_OPTS
boot() {
	rm -f "$LAB_DIR"/a.cow "$LAB_DIR"/b.cow
	tl_conf "$LAB_DIR/confA" "0 1" && tl_conf "$LAB_DIR/confB" "0 1" || return 1
	lab_start_appliance "$UMLNF" "vec0:transport=raw,ifname=p-veth0,gro=1" "vec1:$1" mem=256M \
		"ubd0=$LAB_DIR/a.cow,$img" root=/dev/ubda con=null con0=fd:0,fd:1 \
		"umid=$LAB_UMID-a" "nfconf=$LAB_DIR/confA" || return 1
	mkdir -p "$LAB_DIR/uml"
	tl_start_extra B "${LAB_LINUX_UML:-linux.uml}" "vec0:$2" "vec1:transport=tap,ifname=p-tap1" \
		mem=256M "ubd0=$LAB_DIR/b.cow,$img" root=/dev/ubda con=null con0=fd:0,fd:1 \
		"umid=$LAB_UMID-b" "nfconf=$LAB_DIR/confB" "uml_dir=$LAB_DIR/uml"
	lab_wait_ready 60 && tl_wait_ready B 60 && { tl_ping 3 >/dev/null || tl_ping 3 >/dev/null; }
}

# flood NAME HEADERS PAYLOAD: N frames on lo, 10.9.0.2 -> 10.9.0.1 (the
# outer kind writes its IPv4 header with options by hand: trafgen's ipv4()
# sums only 20 bytes).
flood() {
	cat >"$LAB_DIR/$1.cfg" <<-EOF
	{ eth(da=00:00:00:00:00:00, sa=00:00:00:00:00:00, type=0x0800), $2, $3 }
	EOF
	timeout 60 ip netns exec "$LAB_NS_HOST" trafgen -i "$LAB_DIR/$1.cfg" -o lo -n "$N" -t 20us -q \
		>"$LAB_DIR/$1.trafgen" 2>&1 || { fail "trafgen $1: $(tail -n 2 "$LAB_DIR/$1.trafgen")"; return 1; }
}

# host_drops FILE LOCAL: the drops column of our socket in /proc/net/FILE.
host_drops() {
	timeout 5 ip netns exec "$LAB_NS_HOST" cat "/proc/net/$1" |
		awk -v l="$2" '$2 == l { d += $NF } END { print d + 0 }'
}

# check LINE KEY...: each KEY must be >= N - 1 (a replayed sequence number
# may be taken once, as a restart of the peer).
check_counts() {
	local line=$1 sum=0 k v
	shift
	for k in "$@"; do
		v=$(tl_stat "$line" "$k")
		echo "    $k=$v"
		[ "${v:-0}" -ge $((N - 1)) ] || { fail "$k=$v, want about $N"; return 1; }
		sum=$((sum + v))
	done
	TOTAL_COUNTED=$sum
}

run_case() {
	local name=$1 aopts=$2 bopts=$3 sockfile=$4 local=$5
	shift 5
	step "[$name] boot uml-nf and the stock peer"
	boot "$aopts" "$bopts" || die "[$name] boot"
	timeout 30 ip netns exec "$LAB_NS_CLIENT" ping -c 150 -i 0.05 -w 25 "$TL_SERVER" \
		>"$LAB_DIR/ping-$name.txt" 2>&1 &
	local p=$!
	_lab_track "$p"
	step "[$name] $N of each bad kind"
	local kinds=0
	while [ $# -gt 0 ]; do
		flood "$name-$1" "$2" "$3" || die "[$name] flood $1"
		kinds=$((kinds + 1))
		shift 3
	done
	wait "$p"
	local got
	got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$LAB_DIR/ping-$name.txt")
	echo "    ping through the tunnel during the flood: ${got:-0} of 150 replies"
	[ "${got:-0}" -ge 135 ] || die "[$name] ping lost during the flood"
	local gb
	gb=$(tl_iperf 2) || die "[$name] iperf3 after the flood"
	echo "    iperf3 after: $gb Gbit/s"
	HOST_DROPS=$(host_drops "$sockfile" "$local")
	lab_stop_clean 30 || die "[$name] stop"
	tl_stop_extra B >/dev/null
	LINE=$(grep 'uml-nf: stats dev=vec1 ' "$LAB_DIR/appliance.log")
	echo "    host socket drops: $HOST_DROPS"
	KINDS=$kinds
	mv "$LAB_DIR/appliance.log" "$LAB_DIR/$name-a.log"
}

G4='ipv4(sa=10.9.0.2, da=10.9.0.1, ttl=64, proto=47)'
run_case gre \
	"transport=gre,src=10.9.0.1,dst=10.9.0.2,rx_key=5,tx_key=6,sequence=1,gro=1" \
	"transport=gre,src=10.9.0.2,dst=10.9.0.1,rx_key=6,tx_key=5,sequence=1,gro=1" \
	raw 0100090A:002F \
	key "$G4" "0x30,0x00,0x65,0x58, 0,0,0,9, 0,0,0,1, $ETH" \
	hdr "$G4" "0x20,0x00,0x65,0x58, 0,0,0,5, $ETH" \
	short "$G4" "0x30,0x00,0x65,0x58, 0,0,0,5, 0,0,0,1, 0xaa,0xbb" \
	outer "0x46,0, 0,96, 0,0, 0,0, 64,47, csumip(14, 37), 10,9,0,2, 10,9,0,1, 1,1,1,0" \
		"0x30,0x00,0x65,0x58, 0,0,0,5, 0,0,0,1, $ETH" \
	seq "$G4" "0x30,0x00,0x65,0x58, 0,0,0,5, 0,0,0,3, $ETH"
check_counts "$LINE" rx_bad_key rx_bad_hdr rx_short rx_bad_outer rx_bad_seq || die "gre counters"
[ $((TOTAL_COUNTED + HOST_DROPS)) -ge $((KINDS * N - 1)) ] ||
	die "gre: $TOTAL_COUNTED counted + $HOST_DROPS host drops < $((KINDS * N - 1)) sent"
G_RES="$TOTAL_COUNTED counted, $HOST_DROPS host drops of $((KINDS * N))"

U4='ipv4(sa=10.9.0.2, da=10.9.0.1, ttl=64), udp(sp=17002, dp=17001)'
CK='0x11,0x22,0x33,0x44,0x55,0x66,0x77,0x88'
run_case l2tpv3 \
	"transport=l2tpv3,udp=1,src=10.9.0.1,dst=10.9.0.2,srcport=17001,dstport=17002,rx_session=0x20,tx_session=0x10,cookie64=1,rx_cookie=0x1122334455667788,tx_cookie=0x8877665544332211,gro=1" \
	"transport=l2tpv3,udp=1,src=10.9.0.2,dst=10.9.0.1,srcport=17002,dstport=17001,rx_session=0x10,tx_session=0x20,cookie64=1,rx_cookie=0x8877665544332211,tx_cookie=0x1122334455667788,gro=1" \
	udp 0100090A:4269 \
	session "$U4" "0,3,0,0, 0,0,0,0x99, $CK, $ETH" \
	cookie "$U4" "0,3,0,0, 0,0,0,0x20, 0x11,0x22,0x33,0x44,0,0,0,0, $ETH" \
	hdr "$U4" "0x80,3,0,0, 0,0,0,0x20, $CK, $ETH" \
	short "$U4" "0,3,0,0, 0,0,0,0x20, 0x11,0x22"
check_counts "$LINE" rx_bad_session rx_bad_cookie rx_bad_hdr rx_short || die "l2tpv3 counters"
[ $((TOTAL_COUNTED + HOST_DROPS)) -ge $((KINDS * N)) ] ||
	die "l2tpv3: $TOTAL_COUNTED counted + $HOST_DROPS host drops < $((KINDS * N)) sent"
L_RES="$TOTAL_COUNTED counted, $HOST_DROPS host drops of $((KINDS * N))"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "bad datagrams dropped and counted (gre: $G_RES; l2tpv3: $L_RES), forwarding went on"
