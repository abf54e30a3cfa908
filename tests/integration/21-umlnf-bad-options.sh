#!/bin/bash
# Proves uml-nf rejects bad command lines with a precise message and the right exit status, starting nothing.
# How: run each bad line in the lab's host namespace with a unique umid; check status, stderr, run dir and processes.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

UMLNF=${UMLNF:-build/uml-nf}
[ -x "$UMLNF" ] || { fail "uml-nf $UMLNF not built"; exit 1; }
UMLNF=$(readlink -f "$UMLNF")

# A case that wrongly got far enough may leave a run dir: lab_destroy
# removes every /run/uml-nf/$LAB_UMID-* (case umids are built that way).
lab_init umlnf21 || exit 1

step "create lab (p-veth0/p-veth1 exist in $LAB_NS_HOST)"
lab_create || die "lab_create"

# One case a line: WANT_STATUS|STDERR_MUST_CONTAIN|ARGUMENTS (split on spaces).
# WANT_STATUS "1/2" accepts either (runtime open failures).
cases=(
	'2|vec0: gro:|vec0:transport=raw,ifname=p-veth0,gro=yes'
	'2|vec0: transport: unknown transport "gretap"|vec0:transport=gretap,ifname=p-veth0'
	'2|vec0: ifname: p-veth0 is not a tap|vec0:transport=tap,ifname=p-veth0'
	'2|vec0: ifup:|vec0:transport=raw,ifname=p-veth0,ifup=false'
	'2|vec0: transport:|vec0:ifname=p-veth0'
	'2|vec0: ifname:|vec0:transport=raw'
	'2|vec0:|vec1:transport=raw,ifname=p-veth1'
	'2|vec1: given twice|vec0:transport=raw,ifname=p-veth0 vec1:transport=raw,ifname=p-veth1 vec1:transport=raw,ifname=p-veth1'
	'2|vec0: headroom:|vec0:transport=raw,ifname=p-veth0,headroom=300'
	'2|vec0: depth:|vec0:transport=raw,ifname=p-veth0,depth=0'
	'2|vec0: mac:|vec0:transport=raw,ifname=p-veth0,mac=01:00:00:00:00:01'
	'2|vec0: bogus:|vec0:transport=raw,ifname=p-veth0,bogus=1'
	'2|vec0: empty option|vec0:transport=raw,,ifname=p-veth0'
	'2|/nonexistent|--kernel /nonexistent vec0:transport=raw,ifname=p-veth0'
	'2|--poll: expected microseconds|--poll=2000 vec0:transport=raw,ifname=p-veth0'
	'2|--poll: expected microseconds|--poll 10x vec0:transport=raw,ifname=p-veth0'
	'2|unknown subcommand "stast" (subcommands: cow, ctl, help, image, ls|stast vec0:transport=raw,ifname=p-veth0'
	'2|unknown subcommand "imgae"|imgae build router -o x.img'
	'2|ls: a subcommand comes first|--no-pin ls'
	'1/2|vec0: ifname:|vec0:transport=raw,ifname=doesnotexist'
	'1/2|vec1: ifname:|vec0:transport=raw,ifname=p-veth0 vec1:transport=raw,ifname=doesnotexist'
)

bad=0 n=0
for c in "${cases[@]}"; do
	n=$((n + 1))
	want=${c%%|*}
	rest=${c#*|}
	msg=${rest%%|*}
	read -r -a args <<<"${rest#*|}"
	umid="$LAB_UMID-$n"
	step "case $n: ${args[*]}"
	timeout 20 ip netns exec "$LAB_NS_HOST" "$UMLNF" "${args[@]}" mem=64M "umid=$umid" \
		</dev/null >"$LAB_DIR/out.$n" 2>"$LAB_DIR/err.$n"
	rc=$?
	echo "    status $rc, stderr: $(head -n 2 "$LAB_DIR/err.$n" | tr '\n' ' ')"
	case /$want/ in
	*/$rc/*) ;;
	*) fail "case $n: status $rc, want $want"; bad=1 ;;
	esac
	grep -qF -- "$msg" "$LAB_DIR/err.$n" || { fail "case $n: stderr lacks '$msg'"; bad=1; }
	[ -e "/run/uml-nf/$umid" ] && { fail "case $n: /run/uml-nf/$umid exists"; bad=1; }
	left=$(lab_umid_pids "$umid")
	[ -z "$left" ] || { fail "case $n: processes mentioning $umid: $left"; bad=1; }
done
[ "$bad" -eq 0 ] || die "some of $n cases failed"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "$n bad command lines rejected, nothing started"
