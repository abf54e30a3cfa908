#!/bin/bash
# Proves uml-nf's gre transport interoperates with the stock UML vector gre transport: IPv4 with keys and sequence numbers, pinned sequence numbers, IPv6 outer, gro=0 and gro=1.
# How: per case uml-nf (raw + gre, bridged) and stock linux.uml (gre + tap, bridged) carry client <-> server over GRE on the host's lo; ping and iperf3 both ways; tshark decodes uml-nf's datagrams (key, sequence); no drop counter moves.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../tunnel-lab.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../tunnel-interop.sh"

lab_test_begin tun90 umlnf
command -v tshark >/dev/null || die "tshark not installed (make deps)"
[ -f "$TL_IMAGE" ] || die "bridge image $TL_IMAGE not found (make image-bridge)"
step "create lab"
tl_create || die "tl_create"
tl_server_tap || die "tap"

g4="-Y 'ip.src==10.9.0.1&&gre'"
tl_case gre4-key-seq stock \
	"transport=gre,src=10.9.0.1,dst=10.9.0.2,rx_key=5,tx_key=0x6,sequence=1,gro=1" \
	"transport=gre,src=10.9.0.2,dst=10.9.0.1,rx_key=6,tx_key=5,sequence=1,gro=1" \
	lo "$g4" "-e gre.flags_and_version -e gre.key -e gre.sequence_number -e gre.proto" \
	'^0x3000 0x00000006 [0-9]+ 0x6558$' || die "gre4-key-seq"
tl_case gre4-pinned stock \
	"transport=gre,src=10.9.0.1,dst=10.9.0.2,rx_key=-1,tx_key=0xffffffff,sequence=1,pin_sequence=1" \
	"transport=gre,src=10.9.0.2,dst=10.9.0.1,rx_key=-1,tx_key=-1,sequence=1,pin_sequence=1" \
	lo "$g4" "-e gre.flags_and_version -e gre.key -e gre.sequence_number" \
	'^0x3000 0xffffffff 0$' || die "gre4-pinned"
tl_case gre6 stock \
	"transport=gre,v6=1,src=fd09::1,dst=fd09::2,gro=1" \
	"transport=gre,v6=1,src=fd09::2,dst=fd09::1,gro=1" \
	lo "-Y 'ipv6.src==fd09::1&&gre'" "-e gre.flags_and_version -e gre.proto" \
	'^0x0000 0x6558$' || die "gre6"
tl_case gre6-key-gro0 stock \
	"transport=gre,v6=1,src=fd09::1,dst=fd09::2,rx_key=7,tx_key=8" \
	"transport=gre,v6=1,src=fd09::2,dst=fd09::1,rx_key=8,tx_key=7" \
	lo "-Y 'ipv6.src==fd09::1&&gre'" "-e gre.flags_and_version -e gre.key" \
	'^0x2000 0x00000008$' || die "gre6-key-gro0"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "gre interop with stock UML (${TL_RESULTS[*]} Gbit/s)"
