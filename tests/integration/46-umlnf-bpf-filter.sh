#!/bin/bash
# Proves receive filters work end to end: bpf="EXPR" (compiled with libpcap), bpffile=PATH (classic BPF records) and bpfflash=1 (the guest loads its own) drop in the host kernel exactly what they match; bpfflash is refused where not enabled; bad filters are refused at start with the file or expression named.
# How: lab boots with vec0 bpf=not icmp (ping client->server must fail, TCP must pass), then bpffile= of a hand-assembled "drop IPv4 ICMP" program (same), then a filter that lets ICMP through (ping works); then the same on hybrid (behind its own direction filter); then bpfflash: the guest's uml-nf-bpfflash loads that program on eth0 (bpfflash=1: ping fails, TCP passes), is refused on eth1, and clears eth0 12 s later (ping works); a 7-byte file, a missing file, a bad expression and a filter on a tap exit 2 naming them.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf46 umlnf

step "create lab"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"

# Classic BPF record: u16 code, u8 jt, u8 jf, u32 k, little-endian (x86).
rec() { printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x' \
	$(($1 & 255)) $(($1 >> 8)) "$2" "$3" \
	$(($4 & 255)) $((($4 >> 8) & 255)) $((($4 >> 16) & 255)) $((($4 >> 24) & 255)))"; }
{
	rec 0x28 0 0 12       # ldh [12]
	rec 0x15 0 3 0x800    # jeq #0x800, next, +3
	rec 0x30 0 0 23       # ldb [23]
	rec 0x15 0 1 1        # jeq #1 (ICMP), next, +1
	rec 0x06 0 0 0        # ret #0
	rec 0x06 0 0 0x40000  # ret #262144
} >"$LAB_DIR/no-icmp.bpf"
[ "$(stat -c %s "$LAB_DIR/no-icmp.bpf")" = 48 ] || die "assembling the filter file"
head -c 7 "$LAB_DIR/no-icmp.bpf" >"$LAB_DIR/short.bpf"

run() { # LABEL VEC0-EXTRA: boot, ping and TCP, stop; sets PING_OK TCP_OK
	local label=$1 extra=$2
	lab_uml_args "$IMAGE" || die "args"
	LAB_UML_ARGS[0]="${LAB_UML_ARGS[0]},$extra"
	lab_start_appliance "$UMLNF" "${LAB_UML_ARGS[@]}" || die "start ($label)"
	lab_wait_ready 90 || die "not ready ($label)"
	PING_OK=0 TCP_OK=0
	lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null 2>&1 && PING_OK=1
	lab_iperf 1 >/dev/null 2>&1 && TCP_OK=1
	echo "    [$label] ping $PING_OK, tcp $TCP_OK"
	lab_stop_clean 30 || die "clean stop ($label)"
	rm -f "$LAB_DIR/root.cow"
	LAB_APPLIANCE_PID=
}

step "bpf=not icmp on vec0: ICMP from the client dropped, TCP passes"
run expr "bpf=not icmp"
[ "$PING_OK" = 0 ] || die "ICMP passed a 'not icmp' filter"
[ "$TCP_OK" = 1 ] || die "TCP did not pass a 'not icmp' filter"

step "bpffile= of the same policy, hand-assembled"
run file "bpffile=$LAB_DIR/no-icmp.bpf"
[ "$PING_OK" = 0 ] || die "ICMP passed the bpffile filter"
[ "$TCP_OK" = 1 ] || die "TCP did not pass the bpffile filter"

step "a filter that keeps ICMP: ping works"
run keep "bpf=icmp or arp or tcp"
[ "$PING_OK" = 1 ] || die "ICMP dropped by 'icmp or arp or tcp'"

step "bpfflash: the guest loads the filter on eth0 (bpfflash=1), is refused on eth1 (bpfflash=0), then clears eth0"
cp "$LAB_DIR/no-icmp.bpf" "$LAB_DIR/conf/no-icmp.bpf"
cp "$LAB_DIR/conf/router.conf" "$LAB_DIR/router.conf.orig"
cat >>"$LAB_DIR/conf/router.conf" <<'EOC'
uml-nf-bpfflash eth0 /mnt/nfconf/no-icmp.bpf || true
uml-nf-bpfflash eth1 /mnt/nfconf/no-icmp.bpf || true
( sleep 12; uml-nf-bpfflash eth0 --clear ) &
EOC
lab_uml_args "$IMAGE" || die "args"
LAB_UML_ARGS[0]="${LAB_UML_ARGS[0]},bpfflash=1"
lab_start_appliance "$UMLNF" "${LAB_UML_ARGS[@]}" || die "start (bpfflash)"
lab_wait_ready 90 || die "not ready (bpfflash)"
grep -aq "uml-nf: vec0: the guest installed a receive filter of 6 instructions" "$LAB_DIR/appliance.log" ||
	die "the guest's filter was not installed on vec0"
grep -aq "vec1: the guest asked to load a receive filter: refused (bpfflash=1 not given)" \
	"$LAB_DIR/appliance.log" || die "vec1's bpfflash request was not refused"
lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null 2>&1 && die "ICMP passed the guest's filter"
lab_iperf 1 >/dev/null 2>&1 || die "TCP blocked by the guest's filter"
for i in $(seq 100); do
	grep -aq "uml-nf: vec0: the guest removed its receive filter" "$LAB_DIR/appliance.log" && break
	sleep 0.2
done
grep -aq "uml-nf: vec0: the guest removed its receive filter" "$LAB_DIR/appliance.log" ||
	die "the guest's clear request did not arrive"
lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "ICMP still dropped after the guest cleared its filter"
echo "    $(grep -a 'the guest installed\|the guest removed\|refused (bpfflash' "$LAB_DIR/appliance.log" | tr '\n' ' ')"
lab_stop_clean 30 || die "clean stop (bpfflash)"
rm -f "$LAB_DIR/root.cow"
LAB_APPLIANCE_PID=
cp "$LAB_DIR/router.conf.orig" "$LAB_DIR/conf/router.conf"

step "hybrid: bpf=not icmp behind the transport's own direction filter"
lab_bridge_taps || die "taps"
LAB_VEC_TRANSPORT=hybrid LAB_VEC_IF0=p-tap0 LAB_VEC_IF1=p-tap1 run hybrid "bpf=not icmp"
[ "$PING_OK" = 0 ] || die "hybrid: ICMP passed a 'not icmp' filter"
[ "$TCP_OK" = 1 ] || die "hybrid: TCP did not pass (the direction filter lost, or echoes?)"
LAB_VEC_TRANSPORT=hybrid LAB_VEC_IF0=p-tap0 LAB_VEC_IF1=p-tap1 run hybrid-keep "bpf=icmp or arp"
[ "$PING_OK" = 1 ] || die "hybrid: ICMP dropped by 'icmp or arp'"

step "refusals: nothing starts, exit 2, the culprit named"
refuse() { # EXTRA WANT
	lab_uml_args "$IMAGE" || die "args"
	LAB_UML_ARGS[0]="${LAB_UML_ARGS[0]},$1"
	local out rc
	out=$(timeout 30 ip netns exec "$LAB_NS_HOST" "$UMLNF" "${LAB_UML_ARGS[@]}" 2>&1 </dev/null)
	rc=$?
	echo "    exit $rc: $(grep -m1 error <<<"$out")"
	[ "$rc" = 2 ] || die "exit $rc for $1"
	grep -q -- "$2" <<<"$out" || die "message for $1 lacks '$2'"
	[ ! -e "/run/uml-nf/$LAB_UMID" ] || die "instance directory created for $1"
}
refuse "bpffile=$LAB_DIR/short.bpf" "vec0: bpffile: $LAB_DIR/short.bpf: 7 bytes: not a whole number"
refuse "bpffile=$LAB_DIR/missing.bpf" "vec0: bpffile: $LAB_DIR/missing.bpf: No such file"
refuse "bpf=tcp port 80 and (" 'vec0: bpf: "tcp port 80 and ("'
LAB_VEC_TRANSPORT=tap LAB_VEC_IF0=p-tap0 refuse "bpf=icmp" \
	"vec0: bpf: not supported by transport tap: it receives from the tap device, not a socket"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "bpf= and bpffile= filter in the host kernel; bad filters refused by name"
