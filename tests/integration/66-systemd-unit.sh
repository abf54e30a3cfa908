#!/bin/bash
# Proves the systemd template uml-nf@.service and its helper uml-nf-service: the unit passes systemd-analyze verify without a single warning, NAME.conf is parsed as documented (bad keys and values refused, exit 2), and the ExecStart/ExecStop commands boot an appliance that forwards and halt it cleanly.
# How: verify the template and an instance (paths pointed at this checkout); print mode on good and bad confs; start/stop in the lab as systemd would (COW over a read-only base in a state dir); where systemd is PID 1, also systemctl start/stop a copy of the unit in the lab's namespace.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin systemd66 umlnf
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
svc=$here/configs/systemd/uml-nf-service
unit=$here/configs/systemd/uml-nf@.service
UMLNF=$(readlink -f "$UMLNF")

step "uml-nf-service is valid bash"
bash -n "$svc" || die "bash -n $svc"

step "systemd-analyze verify: template and instance, no warnings"
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$LAB_DIR/units"
	sed "s|/usr/local/libexec/uml-nf/uml-nf-service|$svc|g" "$unit" >"$LAB_DIR/units/uml-nf@.service"
	for u in uml-nf@.service uml-nf@r1.service; do
		out=$(cd "$LAB_DIR/units" && timeout 60 systemd-analyze verify "$LAB_DIR/units/$u" 2>&1)
		rc=$?
		[ "$rc" -eq 0 ] && [ -z "$out" ] || die "systemd-analyze verify $u (status $rc): $out"
		echo "    $u: clean"
	done
	# The check has teeth: a typo is reported.
	sed 's/^KillMode=mixed/KillMode=mixd/' "$LAB_DIR/units/uml-nf@.service" >"$LAB_DIR/units/bad@.service"
	out=$(timeout 60 systemd-analyze verify "$LAB_DIR/units/bad@x.service" 2>&1)
	grep -q 'kill mode' <<<"$out" || die "systemd-analyze missed KillMode=mixd: $out"
	out=$(timeout 60 systemd-analyze security --offline=true "$LAB_DIR/units/uml-nf@r1.service" 2>/dev/null |
		tail -n 1)
	echo "    ${out:-(no security summary)}"
else
	skip_check "systemd-analyze not installed: unit not verified"
fi

step "NAME.conf: a good one becomes the documented command line"
etc=$LAB_DIR/etc state=$LAB_DIR/state
mkdir -p "$etc" "$state" "$LAB_DIR/images"
cp --sparse=always "$(readlink -f "$IMAGE")" "$LAB_DIR/images/router.img" && chmod 0444 "$LAB_DIR/images/router.img"
base=$LAB_DIR/images/router.img
lab_write_conf || die "lab_write_conf"
cat >"$etc/t1.conf" <<EOF
# test appliance
NICS="vec0:transport=raw,ifname=p-veth0,gro=1 vec1:transport=raw,ifname=p-veth1,gro=1"
IMAGE=$base
MEM=64M
  NFCONF='$LAB_DIR/conf'
UMLNF_ARGS="--poll 0"
KERNEL_ARGS="quiet"
EOF
export UMLNF_CONF_DIR=$etc UMLNF_STATE_DIR=$state UMLNF_BIN=$UMLNF
got=$("$svc" print t1 | tr '\n' ' ') || die "print t1 failed"
want="$UMLNF --poll 0 vec0:transport=raw,ifname=p-veth0,gro=1 vec1:transport=raw,ifname=p-veth1,gro=1 mem=64M ubd0=$state/t1.cow,$base root=/dev/ubda con=null con0=fd:0,fd:1 umid=t1 nfconf=$LAB_DIR/conf quiet "
[ "$got" = "$want" ] || die "command line: got '$got', want '$want'"
echo "    $got"

step "NAME.conf: bad ones are refused with one line naming the problem, exit 2"
refuse() { # NAME EXPECTED-TEXT CONF-LINES...
	local n=$1 want=$2 out rc
	shift 2
	printf '%s\n' "$@" >"$etc/$n.conf"
	out=$("$svc" print "$n" 2>&1)
	rc=$?
	[ "$rc" -eq 2 ] || die "$n: status $rc, want 2 ($out)"
	[ "$(wc -l <<<"$out")" -eq 1 ] || die "$n: more than one line: $out"
	grep -qF -- "$want" <<<"$out" || die "$n: '$out' does not say '$want'"
	echo "    $n: $out"
}
nics='NICS="vec0:transport=raw,ifname=p-veth0"'
refuse b1 "NICS is required" "IMAGE=$base"
refuse b2 "IMAGE is required" "$nics"
refuse b3 "unknown key NIC" "NIC=x" "IMAGE=$base"
refuse b4 "MEM: expected a size" "$nics" "IMAGE=$base" "MEM=lots"
refuse b5 "MEM given twice" "$nics" "IMAGE=$base" "MEM=64M" "MEM=96M"
refuse b6 "quote the whole value" "$nics" "IMAGE=$base" "KERNEL_ARGS=\$HOME"
refuse b7 "expected KEY=VALUE" "$nics" "IMAGE $base"
refuse b8 "is not a vecN:" 'NICS="eth0"' "IMAGE=$base"
refuse b9 "IMAGE /nonexistent/x.img: not found" "$nics" "IMAGE=/nonexistent/x.img"
refuse b10 "COW: give an absolute path" "$nics" "IMAGE=$base" "COW=rel.cow"
out=$("$svc" print nosuch 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "nosuch.conf: not found" <<<"$out" || die "missing conf: status $rc: $out"
out=$("$svc" print 'a/b' 2>&1); rc=$?
[ "$rc" -eq 2 ] || die "instance name a/b: status $rc: $out"

step "ExecStart: uml-nf-service start t1 boots the appliance (COW over the read-only base)"
lab_create || die "lab_create"
sum_before=$(md5sum <"$base")
lab_start_bg t1 env UMLNF_CONF_DIR="$etc" UMLNF_STATE_DIR="$state" UMLNF_BIN="$UMLNF" "$svc" start t1
pid=$LAB_BG_PID
lab_wait_log "$LAB_DIR/t1.log" 'uml-nf-router: ready' 60 || { tail -n 20 "$LAB_DIR/t1.log"; die "not ready"; }
# exec: the unit's main PID is uml-nf itself.
[ "$(readlink "/proc/$pid/exe")" = "$UMLNF" ] || die "pid $pid runs $(readlink "/proc/$pid/exe"), not uml-nf"
lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "ping client -> server through t1"
[ -s "$state/t1.cow" ] || die "no COW file $state/t1.cow"
echo "    forwarding; COW $(du -k "$state/t1.cow" | cut -f1) KiB in $state"

step "ExecStop: uml-nf-service stop t1 PID halts the guest and waits for uml-nf"
out=$("$svc" stop t1 "$pid" 2>&1) || die "stop failed: $out"
echo "    $out"
_lab_running "$pid" && die "uml-nf $pid still running after stop returned"
wait "$pid"
rc=$?
[ "$rc" -eq 0 ] || die "uml-nf exit status $rc after the halt, want 0"
grep -q 'uml-nf: guest is halting' "$LAB_DIR/t1.log" || die "no mconsole halt in the log"
[ "$(md5sum <"$base")" = "$sum_before" ] || die "the base image changed"
"$svc" stop t1 "$pid" >/dev/null || die "stop of a stopped appliance must succeed"
"$svc" stop t1 >/dev/null || die "stop without a PID (crashed service) must succeed"

step "systemctl start/stop (needs systemd as PID 1)"
pid1=$(cat /proc/1/comm 2>/dev/null)
if [ "$pid1" = systemd ] && command -v systemctl >/dev/null; then
	tu=uml-nf-test$$
	rundir=/run/systemd/system
	sed -e "s|/usr/local/libexec/uml-nf/uml-nf-service|$svc|g" "$unit" >"$rundir/$tu@.service"
	mkdir -p "$rundir/$tu@.service.d"
	cat >"$rundir/$tu@.service.d/lab.conf" <<-EOF
	[Service]
	Environment=UMLNF_CONF_DIR=$etc UMLNF_STATE_DIR=$state UMLNF_BIN=$UMLNF
	NetworkNamespacePath=/run/netns/$LAB_NS_HOST
	ReadWritePaths=$state
	ProtectHome=no
	EOF
	cleanup_unit() {
		timeout 40 systemctl stop "$tu@t1.service" 2>/dev/null
		rm -rf "$rundir/$tu@.service" "$rundir/$tu@.service.d"
		timeout 30 systemctl daemon-reload
	}
	rm -f "$state/t1.cow"
	timeout 30 systemctl daemon-reload || { cleanup_unit; die "daemon-reload"; }
	timeout 60 systemctl start "$tu@t1.service" || { cleanup_unit; die "systemctl start"; }
	ok=0
	for i in $(seq 60); do
		timeout 10 journalctl -u "$tu@t1.service" -q --no-pager 2>/dev/null | grep -q 'uml-nf-router: ready' &&
			{ ok=1; break; }
		sleep 1
	done
	[ "$ok" = 1 ] && lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null ||
		{ cleanup_unit; die "unit started but the appliance does not forward"; }
	timeout 60 systemctl stop "$tu@t1.service"
	result=$(systemctl show -p Result --value "$tu@t1.service")
	cleanup_unit
	[ "$result" = success ] || die "systemctl stop: Result=$result"
	echo "    started, forwarded, stopped (Result=success)"
else
	skip_check "systemd is not PID 1 here (PID 1 is ${pid1:-unknown}): the unit was verified and its commands run by hand, not started by systemd"
fi

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "systemd unit verified; uml-nf-service start/stop boots, forwards, halts cleanly"
