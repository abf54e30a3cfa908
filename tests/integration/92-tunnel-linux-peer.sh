#!/bin/bash
# Proves uml-nf's gre and l2tpv3 transports interoperate with real Linux endpoints: gretap (keys, sequence numbers), ip6gretap, l2tp_eth over UDP (IPv4, 64-bit cookies, the default L2-specific sublayer) and over IP (IPv6, 32-bit cookies).
# How: the peer is a guest of the tuned kernel (GRE and L2TP built in) served by uml-nf raw, its eth0 on veth t-veth0 whose peer t-veth1 holds uml-nf's tunnel end; it creates the device with the host's iproute2 (through hostfs) and bridges it to the server; ping and iperf3 both ways, tshark on t-veth1 decodes uml-nf's datagrams.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../tunnel-lab.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../tunnel-interop.sh"

lab_test_begin tun92 umlnf
command -v tshark >/dev/null || die "tshark not installed (make deps)"
[ -f "$TL_IMAGE" ] || die "bridge image $TL_IMAGE not found (make image-bridge)"
lab_have_tuned "Linux gretap/l2tp_eth peer" || skip_test "the Linux peer needs the tuned kernel (make guest-kernel)"
[ -x /usr/bin/ip ] && /usr/bin/ip l2tp help 2>&1 | grep -q 'add tunnel' ||
	skip_test "the host's iproute2 ip has no l2tp command"
step "create lab (t-veth MTU 9000: no outer fragmentation)"
tl_create || die "tl_create"
for d in t-veth0 t-veth1; do timeout 10 ip -n "$LAB_NS_HOST" link set "$d" mtu 9000 || die mtu; done

TL_TUNDEV=gt0 tl_case linux-gretap-key-seq linux \
	"transport=gre,src=10.9.1.1,dst=10.9.1.2,rx_key=0x1001,tx_key=0x2002,sequence=1,gro=1" \
	"ip link add gt0 type gretap local 10.9.1.2 remote 10.9.1.1 ikey 0x2002 okey 0x1001 iseq oseq || exit 1" \
	t-veth1 "-Y 'ip.src==10.9.1.1&&gre'" "-e gre.flags_and_version -e gre.key -e gre.sequence_number" \
	'^0x3000 0x00002002 [0-9]+$' || die "linux-gretap-key-seq"
TL_TUNDEV=gt0 tl_case linux-ip6gretap linux \
	"transport=gre,v6=1,src=fd09:1::1,dst=fd09:1::2,gro=1" \
	"ip link add gt0 type ip6gretap local fd09:1::2 remote fd09:1::1 || exit 1" \
	t-veth1 "-Y 'ipv6.src==fd09:1::1&&gre'" "-e gre.flags_and_version -e gre.proto" \
	'^0x0000 0x6558$' || die "linux-ip6gretap"
TL_TUNDEV=l2tpeth0 tl_case linux-l2tp-udp4-c64 linux \
	"transport=l2tpv3,udp=1,src=10.9.1.1,dst=10.9.1.2,srcport=17001,dstport=17002,rx_session=0x20,tx_session=0x10,cookie64=1,rx_cookie=0x1122334455667788,tx_cookie=0x8877665544332211,counter=1,pin_counter=1,gro=1" \
	"ip l2tp add tunnel tunnel_id 1 peer_tunnel_id 1 encap udp local 10.9.1.2 remote 10.9.1.1 udp_sport 17002 udp_dport 17001 || exit 1
		ip l2tp add session tunnel_id 1 session_id 0x10 peer_session_id 0x20 cookie 1122334455667788 peer_cookie 8877665544332211 l2spec_type default || exit 1" \
	t-veth1 "-Y 'ip.src==10.9.1.1&&l2tp' -d udp.port==17002,l2tp -o 'l2tp.cookie_size:8 Byte Cookie' -o 'l2tp.l2_specific:Default L2-Specific'" \
	"-e l2tp.sid -e l2tp.cookie -e eth.type" \
	'^0x00000010 8877665544332211 0x(0800|0806|86dd)$' || die "linux-l2tp-udp4-c64"
TL_TUNDEV=l2tpeth0 tl_case linux-l2tp-ip6-c32 linux \
	"transport=l2tpv3,v6=1,src=fd09:1::1,dst=fd09:1::2,rx_session=0x21,tx_session=0x11,rx_cookie=0xa1b2c3d4,tx_cookie=0x01020304,gro=1" \
	"ip l2tp add tunnel tunnel_id 2 peer_tunnel_id 2 encap ip local fd09:1::2 remote fd09:1::1 || exit 1
		ip l2tp add session tunnel_id 2 session_id 0x11 peer_session_id 0x21 cookie a1b2c3d4 peer_cookie 01020304 l2spec_type none || exit 1" \
	t-veth1 "-Y 'ipv6.src==fd09:1::1&&l2tp' -o 'l2tp.cookie_size:4 Byte Cookie' -o 'l2tp.l2_specific:None'" \
	"-e l2tp.sid -e l2tp.cookie -e eth.type" \
	'^0x00000011 01020304 0x(0800|0806|86dd)$' || die "linux-l2tp-ip6-c32"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "interop with Linux gretap/ip6gretap/l2tp_eth (${TL_RESULTS[*]} Gbit/s)"
