#!/bin/bash
# Proves uml-nf's l2tpv3 transport interoperates with the stock UML vector l2tpv3 transport: over UDP and over IP, IPv4 and IPv6 outer, 64- and 32-bit cookies, counters.
# How: per case uml-nf (raw + l2tpv3, bridged) and stock linux.uml (l2tpv3 + tap, bridged) over the host's lo; ping and iperf3 both ways; tshark decodes uml-nf's L2TPv3 (session, cookie, counter); no drop counter moves.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../tunnel-lab.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../tunnel-interop.sh"

lab_test_begin tun91 umlnf
command -v tshark >/dev/null || die "tshark not installed (make deps)"
[ -f "$TL_IMAGE" ] || die "bridge image $TL_IMAGE not found (make image-bridge)"
step "create lab"
tl_create || die "tl_create"
tl_server_tap || die "tap"

# tshark: L2TPv3 over UDP needs the port mapped; the cookie size and the
# L2-specific sublayer (UML's counter: the default 4-byte one) are
# preferences. Over IP, tshark knows protocol 115.
udp4="-Y 'ip.src==10.9.0.1&&l2tp' -d udp.port==17002,l2tp"
c8="-o 'l2tp.cookie_size:8 Byte Cookie'" c4="-o 'l2tp.cookie_size:4 Byte Cookie'"
ctr="-o 'l2tp.l2_specific:Default L2-Specific'" noctr="-o 'l2tp.l2_specific:None'"
tl_case l2tp-udp4-c64-ctr stock \
	"transport=l2tpv3,udp=1,src=10.9.0.1,dst=10.9.0.2,srcport=17001,dstport=17002,rx_session=0x20,tx_session=0x10,cookie64=1,rx_cookie=0x1122334455667788,tx_cookie=0x8877665544332211,counter=1,gro=1" \
	"transport=l2tpv3,udp=1,src=10.9.0.2,dst=10.9.0.1,srcport=17002,dstport=17001,rx_session=0x10,tx_session=0x20,cookie64=1,rx_cookie=0x8877665544332211,tx_cookie=0x1122334455667788,counter=1,gro=1" \
	lo "$udp4 $c8 $ctr" "-e l2tp.sid -e l2tp.cookie -e l2tp.l2_spec_sequence -e eth.type" \
	'^0x00000010 8877665544332211 [0-9]+ 0x(0800|0806|86dd)$' || die "l2tp-udp4-c64-ctr"
tl_case l2tp-udp6-c32 stock \
	"transport=l2tpv3,udp=1,v6=1,src=fd09::1,dst=fd09::2,srcport=17001,dstport=17002,rx_session=-1,tx_session=0xfffffffe,rx_cookie=0xa1b2c3d4,tx_cookie=0xd4c3b2a1" \
	"transport=l2tpv3,udp=1,v6=1,src=fd09::2,dst=fd09::1,srcport=17002,dstport=17001,rx_session=-2,tx_session=-1,rx_cookie=0xd4c3b2a1,tx_cookie=0xa1b2c3d4" \
	lo "-Y 'ipv6.src==fd09::1&&l2tp' -d udp.port==17002,l2tp $c4 $noctr" "-e l2tp.sid -e l2tp.cookie -e eth.type" \
	'^0xfffffffe d4c3b2a1 0x(0800|0806|86dd)$' || die "l2tp-udp6-c32"
tl_case l2tp-ip4-c32-ctr stock \
	"transport=l2tpv3,src=10.9.0.1,dst=10.9.0.2,rx_session=0x20,tx_session=0x10,rx_cookie=0x11223344,tx_cookie=0x55667788,counter=1,gro=1" \
	"transport=l2tpv3,src=10.9.0.2,dst=10.9.0.1,rx_session=0x10,tx_session=0x20,rx_cookie=0x55667788,tx_cookie=0x11223344,counter=1,gro=1" \
	lo "-Y 'ip.src==10.9.0.1&&l2tp' $c4 $ctr" "-e l2tp.sid -e l2tp.cookie -e l2tp.l2_spec_sequence -e eth.type" \
	'^0x00000010 55667788 [0-9]+ 0x(0800|0806|86dd)$' || die "l2tp-ip4-c32-ctr"
tl_case l2tp-ip6-c64 stock \
	"transport=l2tpv3,v6=1,src=fd09::1,dst=fd09::2,rx_session=7,tx_session=9,cookie64=1,rx_cookie=0x0102030405060708,tx_cookie=0x1112131415161718,gro=1" \
	"transport=l2tpv3,v6=1,src=fd09::2,dst=fd09::1,rx_session=9,tx_session=7,cookie64=1,rx_cookie=0x1112131415161718,tx_cookie=0x0102030405060708,gro=1" \
	lo "-Y 'ipv6.src==fd09::1&&l2tp' $c8 $noctr" "-e l2tp.sid -e l2tp.cookie -e eth.type" \
	'^0x00000009 1112131415161718 0x(0800|0806|86dd)$' || die "l2tp-ip6-c64"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "l2tpv3 interop with stock UML (${TL_RESULTS[*]} Gbit/s)"
