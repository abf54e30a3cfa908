#!/bin/bash
# Proves uml-nf runs as a normal user with only file capabilities (cap_net_raw,cap_net_admin), forwards, and holds no capability once running (every thread's CapEff and CapPrm 0); without the capabilities it refuses with a clear error; `uml-nf ls` and `uml-nf ctl` find it as that user (and ctl as root, through UMLNF_RUNDIR).
# How: a system user for the test, a copy of uml-nf with setcap, the stock kernel and a user-owned lab directory; run through setpriv in the lab; ping both ways; read /proc/PID/task/*/status; ls and ctl as the user and ctl as root; the copy without capabilities must fail naming CAP_NET_RAW; SIGTERM exit 0; the user is removed at the end.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf45 umlnf
command -v setcap >/dev/null && command -v setpriv >/dev/null || skip_test "setcap/setpriv missing (libcap2-bin, util-linux)"
TUSER=umlnf-cap
made_user=0
if ! id "$TUSER" >/dev/null 2>&1; then
	useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$TUSER" || die "useradd $TUSER"
	made_user=1
fi
tuid=$(id -u "$TUSER")
bindir=$(mktemp -d "${TMPDIR:-/tmp}/uml-nf-cap.XXXXXX") || die "mktemp"
cleanup_45() {
	rm -rf "$bindir" "/tmp/uml-nf-$tuid"
	[ "$made_user" = 1 ] && userdel "$TUSER" 2>/dev/null
}
trap 'rc=$?; trap - EXIT; lab_destroy; cleanup_45; exit $rc' EXIT
chmod 755 "$bindir"
cp "$UMLNF" "$bindir/uml-nf" && cp "$UMLNF" "$bindir/uml-nf-nocap" || die "copy"
chmod 755 "$bindir"/uml-nf*
setcap cap_net_raw,cap_net_admin+ep "$bindir/uml-nf" || die "setcap"
echo "    $(getcap "$bindir/uml-nf")"

step "create lab; lab directory owned by $TUSER"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
chown -R "$TUSER:" "$LAB_DIR" && chmod 755 "$LAB_DIR" || die "chown"
as_user=(setpriv --reuid="$TUSER" --regid="$TUSER" --clear-groups --reset-env)

step "without capabilities: refused, naming what is missing"
lab_uml_args "$IMAGE" || die "args"
out=$(timeout 30 ip netns exec "$LAB_NS_HOST" "${as_user[@]}" "$bindir/uml-nf-nocap" \
	--kernel /usr/bin/linux.uml "${LAB_UML_ARGS[@]}" 2>&1 </dev/null)
rc=$?
echo "    exit $rc: $(grep -m1 'error' <<<"$out")"
[ "$rc" -ne 0 ] || die "uml-nf without capabilities started"
grep -q "vec0: raw: cannot open a packet socket: .*CAP_NET_RAW" <<<"$out" || die "error does not name CAP_NET_RAW"

step "with file capabilities, as $TUSER"
lab_start_appliance "${as_user[@]}" "$bindir/uml-nf" --kernel /usr/bin/linux.uml -v \
	"${LAB_UML_ARGS[@]}" || die "start"
lab_wait_ready 90 || die "not ready"
lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "client -> server"
lab_ping server "$LAB_CLIENT_ADDR" 3 >/dev/null || die "server -> client"
pid=$LAB_APPLIANCE_PID
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
[ "$uid" = "$tuid" ] || die "uml-nf runs as uid $uid, not $tuid"
ntask=0
for t in /proc/"$pid"/task/*; do
	eff=$(awk '/^CapEff:/ { print $2 }' "$t/status")
	prm=$(awk '/^CapPrm:/ { print $2 }' "$t/status")
	nnp=$(awk '/^NoNewPrivs:/ { print $2 }' "$t/status")
	echo "    task ${t##*/} ($(cat "$t/comm")): CapEff $eff CapPrm $prm NoNewPrivs $nnp"
	[ "$eff" = 0000000000000000 ] && [ "$prm" = 0000000000000000 ] || die "task ${t##*/} holds capabilities"
	[ "$nnp" = 1 ] || die "no_new_privs not set"
	ntask=$((ntask + 1))
done
[ "$ntask" -ge 3 ] || die "expected the main, control and datapath threads, saw $ntask"
[ -S "/tmp/uml-nf-$tuid/$LAB_UMID/vec0.sock" ] || die "instance directory not under /tmp/uml-nf-$tuid"

step "ls and ctl as $TUSER find the appliance under /tmp/uml-nf-$tuid; root reaches it too"
"${as_user[@]}" "$bindir/uml-nf" ls | awk -v u="$LAB_UMID" '$1 == u && $2 == "running"' | grep -q . ||
	die "uml-nf ls as $TUSER does not list $LAB_UMID running"
v=$("${as_user[@]}" "$bindir/uml-nf" ctl "$LAB_UMID" version) || die "uml-nf ctl as $TUSER"
echo "    as $TUSER: $v"
# As root the client socket goes to the directory's owner, so the guest
# (running as $TUSER) can answer it.
v2=$(UMLNF_RUNDIR=/tmp/uml-nf-$tuid "$UMLNF" ctl "$LAB_UMID" version) || die "uml-nf ctl as root"
[ "$v2" = "$v" ] || die "root's ctl answer differs: $v2"

step "stop"
lab_stop_clean 30 || die "clean stop"
[ ! -e "/tmp/uml-nf-$tuid/$LAB_UMID" ] || die "instance directory left behind"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "uml-nf as $TUSER with file capabilities forwards and holds none of them once running"
