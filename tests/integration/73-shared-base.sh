#!/bin/bash
# Proves one read-only base image serves several appliances at once through a COW file each: `uml-nf image build router -o base.img --cow a.cow --cow b.cow` makes them, two uml-nf (different umids) boot from a.cow and b.cow alone at the same time and each forwards its own subnets, the base stays unchanged; a third appliance on a COW in use, and any appliance whose base changed, are refused before anything starts.
# How: the lab plus a second pair of veths (p-veth2/c-eth1, p-veth3/s-eth1; 10.0.11.0/24, 10.0.12.0/24, routed through the second appliance); both appliances with mem=128M and a rw root, each writing /root/whoami; ping through each; ls lists both; a third start on a.cow; stop both (exit 0); md5 and mtime of the base, each COW merged holds its own whoami; touch the base and start again.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin base73 umlnf
UMLNF=$(readlink -f "$UMLNF")
D=$LAB_DIR/base
mkdir -p "$D" "$LAB_DIR/conf-b" || die "mkdir"
UA=$LAB_UMID-a UB=$LAB_UMID-b
B_PID=

step "image build --cow: a read-only base and a COW per appliance"
"$UMLNF" image build router -o "$D/base.img" --cow "$D/a.cow" --cow "$D/b.cow" >"$D/build.log" 2>&1 ||
	{ cat "$D/build.log"; die "image build --cow"; }
grep '^image build:' "$D/build.log" | sed 's/^/    /'
[ "$(stat -c %a "$D/base.img")" = 444 ] || die "base.img is mode $(stat -c %a "$D/base.img"), want 444"
for c in a b; do
	"$UMLNF" cow info "$D/$c.cow" | grep -q "^backing file:  $D/base.img$" || die "$c.cow is not over $D/base.img"
done
sum0=$(md5sum <"$D/base.img") mtime0=$(stat -c %Y "$D/base.img")

step "lab, and a second pair of subnets for appliance b"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
echo 'echo a >/root/whoami && sync' >>"$LAB_DIR/conf/router.conf"
ipn() { timeout 10 ip -n "$@"; }
ipn "$LAB_NS_HOST" link add p-veth2 type veth peer name c-eth1 netns "$LAB_NS_CLIENT" &&
	ipn "$LAB_NS_HOST" link add p-veth3 type veth peer name s-eth1 netns "$LAB_NS_SERVER" || die "veths"
for v in p-veth2 p-veth3; do
	timeout 10 ip netns exec "$LAB_NS_HOST" sysctl -qw "net.ipv6.conf.$v.disable_ipv6=1"
	ipn "$LAB_NS_HOST" link set "$v" up || die "$v up"
done
ipn "$LAB_NS_CLIENT" addr add 10.0.11.2/24 dev c-eth1 && ipn "$LAB_NS_CLIENT" link set c-eth1 up &&
	ipn "$LAB_NS_CLIENT" route add 10.0.12.0/24 via 10.0.11.1 &&
	ipn "$LAB_NS_SERVER" addr add 10.0.12.2/24 dev s-eth1 && ipn "$LAB_NS_SERVER" link set s-eth1 up &&
	ipn "$LAB_NS_SERVER" route add 10.0.11.0/24 via 10.0.12.1 || die "addressing for b"
cat >"$LAB_DIR/conf-b/router.conf" <<EOF
HOSTNAME=base73b
IF0_ADDR=10.0.11.1/24
IF1_ADDR=10.0.12.1/24
FORWARD=1
echo b >/root/whoami && sync
EOF

# args UMID COW IF0 IF1 CONF: an appliance booting from COW alone (backing from its header).
args() {
	ARGS=("vec0:transport=raw,ifname=$3,gro=1" "vec1:transport=raw,ifname=$4,gro=1" mem=128M
		"ubd0=$2" root=/dev/ubda rw con=null con0=fd:0,fd:1 "umid=$1" "nfconf=$5")
}
# wait_ready LOG PID
wait_ready() {
	for i in $(seq 300); do
		grep -q 'uml-nf-router: ready' "$1" 2>/dev/null && return 0
		_lab_running "$2" || { tail -n 20 "$1" >&2; return 1; }
		sleep 0.2
	done
	return 1
}

step "boot a ($UA, a.cow) and b ($UB, b.cow) at the same time"
args "$UA" "$D/a.cow" p-veth0 p-veth1 "$LAB_DIR/conf"
lab_start_appliance "$UMLNF" "${ARGS[@]}" || die "start a"
args "$UB" "$D/b.cow" p-veth2 p-veth3 "$LAB_DIR/conf-b"
(
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
	done
	exec setsid ip netns exec "$LAB_NS_HOST" "$UMLNF" "${ARGS[@]}"
) </dev/null >"$LAB_DIR/b.log" 2>&1 &
B_PID=$!
_lab_track "$B_PID"
LAB_PGIDS+=("$B_PID")
lab_wait_ready 90 || die "a not ready"
wait_ready "$LAB_DIR/b.log" "$B_PID" || die "b not ready"
"$UMLNF" ls | awk -v a="$UA" -v b="$UB" 'NR == 1 || $1 == a || $1 == b' | sed 's/^/    /'
[ "$("$UMLNF" ls | awk -v a="$UA" -v b="$UB" '($1 == a || $1 == b) && $2 == "running"' | wc -l)" = 2 ] ||
	die "ls does not show both running"
base_ino=$(stat -c %i "$D/base.img")
readers=$(awk -v i=":$base_ino" '$2 == "POSIX" && $4 == "READ" && $6 ~ i"$"' /proc/locks | wc -l)
echo "    the base is open read-only (shared lock) by $readers UML processes"
[ "$readers" -ge 2 ] || die "expected two UML read locks on the base, /proc/locks shows $readers"

step "each forwards its own subnets"
lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "client -> server through a"
lab_ping server "$LAB_CLIENT_ADDR" 2 >/dev/null || die "server -> client through a"
lab_ping client 10.0.12.2 3 >/dev/null || die "client -> 10.0.12.2 through b"
lab_ping server 10.0.11.2 2 >/dev/null || die "server -> 10.0.11.2 through b"
echo "    10.0.1.2 <-> 10.0.2.2 through a, 10.0.11.2 <-> 10.0.12.2 through b"

step "a third appliance on a.cow (in use by a) is refused before it starts, so is merging it"
args "$LAB_UMID-c" "$D/a.cow" p-veth0 p-veth1 "$LAB_DIR/conf"
timeout -k 5 20 ip netns exec "$LAB_NS_HOST" "$UMLNF" "${ARGS[@]}" </dev/null >"$D/c.out" 2>"$D/c.err"
rc=$?
echo "    status $rc: $(cat "$D/c.err")"
[ "$rc" -eq 2 ] && grep -q "a.cow is in use by another UML (pid [0-9]*): every appliance needs a COW file of its own" "$D/c.err" ||
	die "third start on a.cow: status $rc"
[ ! -e "/run/uml-nf/$LAB_UMID-c" ] && [ ! -s "$D/c.out" ] || die "the refused start left something"
"$UMLNF" cow merge "$D/a.cow" "$D/x.img" 2>"$D/m.err" && die "cow merge of a COW in use succeeded"
grep -q "a.cow is in use by a running UML (pid [0-9]*): halt it first" "$D/m.err" || die "merge: $(cat "$D/m.err")"
[ ! -e "$D/x.img" ] || die "the refused merge left x.img"
"$UMLNF" cow merge -d "$D/b.cow" 2>"$D/m.err" && die "cow merge -d of a COW in use succeeded"
echo "    cow merge while in use: $(cat "$D/m.err")"
"$UMLNF" cow create -b "$D/base.img" "$D/idle.cow" || die "cow create idle.cow"
"$UMLNF" cow merge -d "$D/idle.cow" 2>"$D/m.err" && die "cow merge -d into a base in use succeeded"
grep -q "backing file $D/base.img is in use by a running UML" "$D/m.err" || die "merge -d: $(cat "$D/m.err")"
echo "    cow merge -d into the base: $(cat "$D/m.err")"
rm -f "$D/idle.cow"

step "stop both: exit 0; the base is unchanged, the COWs hold the difference"
"$UMLNF" ctl "$UB" halt || die "ctl $UB halt"
wait "$B_PID"
rc=$?
B_PID=
[ "$rc" -eq 0 ] || die "b exited with status $rc"
lab_stop_clean 30 || die "a: unclean stop"
[ "$(md5sum <"$D/base.img")" = "$sum0" ] && [ "$(stat -c %Y "$D/base.img")" = "$mtime0" ] ||
	die "the base changed"
for f in base.img a.cow b.cow; do
	echo "    $f: $(stat -c %s "$D/$f") bytes apparent, $(($(stat -c %b "$D/$f") * 512)) on disk"
done
for c in a b; do
	"$UMLNF" cow info "$D/$c.cow" | grep '^written:' | sed "s/^/    $c.cow /"
	"$UMLNF" cow merge "$D/$c.cow" "$D/$c-merged.img" 2>/dev/null || die "cow merge $c.cow"
	w=$(debugfs -R 'cat /root/whoami' "$D/$c-merged.img" 2>/dev/null)
	[ "$w" = "$c" ] || die "$c.cow holds whoami '$w', want '$c'"
	rm -f "$D/$c-merged.img"
done
debugfs -R 'stat /root/whoami' "$D/base.img" 2>&1 | grep -q 'File not found' || die "the base got a guest's file"
echo "    each COW holds its own appliance's writes (/root/whoami a, b); the base has neither"

step "a changed base: booting either COW is refused, naming the files and what changed"
touch -d '2020-01-02 03:04:05' "$D/base.img" || die "touch"
sum_a=$(md5sum <"$D/a.cow")
args "$UA" "$D/a.cow" p-veth0 p-veth1 "$LAB_DIR/conf"
timeout -k 5 20 ip netns exec "$LAB_NS_HOST" "$UMLNF" "${ARGS[@]}" </dev/null >"$D/d.out" 2>"$D/d.err"
rc=$?
echo "    status $rc: $(cat "$D/d.err")"
[ "$rc" -eq 2 ] && [ "$(wc -l <"$D/d.err")" = 1 ] || die "boot over a changed base: status $rc"
grep -q "ubd0=$D/a.cow: backing file $D/base.img of $D/a.cow changed since the COW was made: mtime 2020-01-02 03:04:05 ([0-9]*), the COW header says .*; the guest kernel would refuse this disk" "$D/d.err" ||
	die "the refusal does not say what changed"
[ ! -e "/run/uml-nf/$UA" ] && [ "$(md5sum <"$D/a.cow")" = "$sum_a" ] || die "the refused boot changed something"
"$UMLNF" cow info --json "$D/b.cow" | grep -q '"backing_state":"changed"' || die "cow info does not show b.cow's base changed"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "two appliances on one read-only base (a.cow, b.cow) at once; COW in use and changed base refused"
