#!/bin/bash
# Proves malformed gre/l2tpv3 options are refused before anything starts: exit status 2 and one line naming the device and the option (non-numeric key, cookie without its pair or session, v6 with IPv4 addresses, ports in IP mode, an unresolvable or foreign src ...).
# How: runs uml-nf with each bad command line in the lab's host namespace; checks status, the message, and that no instance directory or process is left.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin tun93 umlnf
step "create lab"
lab_create || die "lab_create"

G=transport=gre,src=127.0.0.1,dst=127.0.0.2
# A valid one-instruction filter (accept everything): tunnels take none.
ACCEPT_BPF=$LAB_DIR/accept.bpf
printf '\x06\x00\x00\x00\xff\xff\x00\x00' >"$ACCEPT_BPF" || die "write $ACCEPT_BPF"
L=transport=l2tpv3,src=127.0.0.1,dst=127.0.0.2,rx_session=1,tx_session=2
# WANT_STATUS|STDERR_MUST_CONTAIN|vec0 options (one argument, no spaces)
cases=(
	"2|vec0: rx_key: expected a number, got \"abc\"|$G,rx_key=abc,tx_key=1"
	"2|vec0: rx_key: needs tx_key too|$G,rx_key=5"
	"2|vec0: tx_key: needs rx_key too|$G,tx_key=5"
	"2|vec0: rx_key: 4294967296 is out of range|$G,rx_key=4294967296,tx_key=1"
	"2|vec0: pin_sequence: needs sequence=1|$G,pin_sequence=1"
	"2|vec0: src: 127.0.0.1 is an IPv4 address, but v6=1|$G,v6=1"
	"2|vec0: dst: ::1 is an IPv6 address: add v6=1|transport=gre,src=127.0.0.1,dst=::1"
	"2|vec0: src: required by transport gre|transport=gre,dst=127.0.0.2"
	"2|vec0: srcport: unknown option for transport gre|$G,srcport=1"
	"2|vec0: sequence: expected 0 or 1, got \"2\"|$G,sequence=2"
	"2|vec0: src: cannot bind to 192.0.2.77|transport=gre,src=192.0.2.77,dst=127.0.0.2"
	"2|vec0: dst: cannot resolve \"no.such.host.invalid\"|transport=gre,src=127.0.0.1,dst=no.such.host.invalid"
	"2|vec0: rx_session: required by transport l2tpv3|transport=l2tpv3,src=127.0.0.1,dst=127.0.0.2,tx_session=2,rx_cookie=1,tx_cookie=2"
	"2|vec0: rx_cookie: needs tx_cookie too|$L,rx_cookie=0x10"
	"2|vec0: cookie64: needs rx_cookie and tx_cookie|$L,cookie64=1"
	"2|vec0: rx_cookie: does not fit in 32 bits|$L,rx_cookie=0x1122334455,tx_cookie=1"
	"2|vec0: rx_cookie: expected a number, got \"zz\"|$L,rx_cookie=zz,tx_cookie=1"
	"2|vec0: tx_session: 0 is reserved|transport=l2tpv3,src=127.0.0.1,dst=127.0.0.2,rx_session=1,tx_session=0"
	"2|vec0: srcport: required with udp=1|$L,udp=1,dstport=5"
	"2|vec0: dstport: only with udp=1|$L,dstport=5"
	"2|vec0: srcport: 70000 is out of range|$L,udp=1,srcport=70000,dstport=5"
	"2|vec0: pin_counter: needs counter=1|$L,pin_counter=1"
	"2|vec0: dst: 10.0.0.1 is an IPv4 address, but v6=1|transport=l2tpv3,v6=1,src=::1,dst=10.0.0.1,rx_session=1,tx_session=2"
	"2|vec0: headroom: 300 is out of range|$G,headroom=300"
	"2|vec0: bpffile: the gre transport takes no receive filter|$G,bpffile=$ACCEPT_BPF"
)

bad=0 n=0
for c in "${cases[@]}"; do
	n=$((n + 1))
	want=${c%%|*}
	rest=${c#*|}
	msg=${rest%%|*}
	opts=${rest#*|}
	umid="$LAB_UMID-$n"
	step "case $n: vec0:$opts"
	timeout 20 ip netns exec "$LAB_NS_HOST" "$UMLNF" "vec0:$opts" mem=64M "umid=$umid" \
		</dev/null >"$LAB_DIR/out.$n" 2>"$LAB_DIR/err.$n"
	rc=$?
	echo "    status $rc, stderr: $(head -n 2 "$LAB_DIR/err.$n" | tr '\n' ' ')"
	[ "$rc" = "$want" ] || { fail "case $n: status $rc, want $want"; bad=1; }
	[ "$(grep -c . "$LAB_DIR/err.$n")" -eq 1 ] || { fail "case $n: not one line"; bad=1; }
	grep -qF -- "$msg" "$LAB_DIR/err.$n" || { fail "case $n: stderr lacks '$msg'"; bad=1; }
	[ -e "/run/uml-nf/$umid" ] && { fail "case $n: /run/uml-nf/$umid exists"; bad=1; }
	left=$(lab_umid_pids "$umid")
	[ -z "$left" ] || { fail "case $n: processes mentioning $umid: $left"; bad=1; }
done
[ "$bad" -eq 0 ] || die "some of $n cases failed"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "$n bad tunnel command lines rejected, nothing started"
