#!/bin/bash
# Proves a guest kernel panic ends uml-nf promptly: one error line with the panic reason, exit status 3, nothing left running or on disk, and the same umid boots again.
# How: uml-nf with the lab's NICs but root=/dev/ubdz (no such disk: "VFS: Unable to mount root fs") on the default and the stock kernel, and with no console at all (the reason then comes through the mconsole notify socket), under a 30 s bound; then panic=5 (the guest restarts itself: reported, not killed) stopped by SIGTERM; then a normal boot with the same umid.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin fault60 umlnf

step "create lab"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"

panic_boot() { # LABEL [uml-nf args...]
	local label=$1 t0 rc secs
	shift
	lab_uml_args "$IMAGE" || die "args"
	# Replace root= with a disk that does not exist.
	local args=() a
	for a in "${LAB_UML_ARGS[@]}"; do
		[ "$a" = root=/dev/ubda ] && a=root=/dev/ubdz
		args+=("$a")
	done
	t0=$(date +%s)
	timeout -k 5 30 ip netns exec "$LAB_NS_HOST" "$UMLNF" "$@" "${args[@]}" \
		</dev/null >"$LAB_DIR/panic-$label.log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - t0 ))
	echo "    [$label] exit $rc after ${secs}s"
	grep -a "uml-nf: error: guest kernel panic" "$LAB_DIR/panic-$label.log" | sed 's/^/    /'
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || die "[$label] uml-nf still running after 30 s (guest spinning?)"
	[ "$rc" -eq 3 ] || { tail -5 "$LAB_DIR/panic-$label.log" >&2; die "[$label] exit status $rc, want 3"; }
	[ "$(grep -ac 'uml-nf: error: guest kernel panic: VFS: Unable to mount root fs' \
		"$LAB_DIR/panic-$label.log")" -eq 1 ] || die "[$label] no single panic line with its reason"
	grep -aq "Kernel panic - not syncing" "$LAB_DIR/panic-$label.log" ||
		die "[$label] the guest's own panic output did not reach uml-nf's output"
	[ -z "$(lab_umid_pids)" ] || die "[$label] processes of $LAB_UMID survive the panic"
	[ ! -e "/run/uml-nf/$LAB_UMID" ] || die "[$label] instance directory left behind"
}

step "panic on the default kernel"
panic_boot default
step "panic on the stock kernel"
panic_boot stock --kernel /usr/bin/linux.uml

step "panic with no console output at all (con=null): seen through the notify socket"
lab_uml_args "$IMAGE" || die "args"
args=()
for a in "${LAB_UML_ARGS[@]}"; do
	case $a in root=/dev/ubda) a=root=/dev/ubdz ;; con0=*) continue ;; esac
	args+=("$a")
done
timeout -k 5 30 ip netns exec "$LAB_NS_HOST" "$UMLNF" "${args[@]}" \
	</dev/null >"$LAB_DIR/panic-quiet.log" 2>&1
rc=$?
echo "    [quiet] exit $rc"
! grep -aq "Kernel panic - not syncing" "$LAB_DIR/panic-quiet.log" ||
	echo "    (the panic text still reached stdout)"
[ "$rc" -eq 3 ] || die "[quiet] exit status $rc, want 3"
grep -aq 'uml-nf: error: guest kernel panic: VFS: Unable to mount root fs' "$LAB_DIR/panic-quiet.log" ||
	die "[quiet] panic reason not reported"

step "panic=5: reported, the guest left to restart itself; SIGTERM stops it"
lab_uml_args "$IMAGE" || die "args"
args=()
for a in "${LAB_UML_ARGS[@]}"; do
	[ "$a" = root=/dev/ubda ] && a=root=/dev/ubdz
	args+=("$a")
done
lab_start_appliance "$UMLNF" "${args[@]}" panic=5 || die "start panic=5"
for i in $(seq 100); do
	grep -aq "guest kernel panic: .*panic= is set" "$LAB_DIR/appliance.log" && break
	sleep 0.2
done
grep -aq "guest kernel panic: .*panic= is set" "$LAB_DIR/appliance.log" || die "panic=5 not reported"
sleep 2
_lab_running "$LAB_APPLIANCE_PID" || die "uml-nf exited although the guest restarts itself"
lab_stop_appliance 30
echo "    stopped: $LAB_STOP_HOW"
[ -z "$(lab_umid_pids)" ] || die "processes of $LAB_UMID survive"

step "the same umid boots normally afterwards; the guest's /proc/mconsole reaches uml-nf"
rm -f "$LAB_DIR/root.cow"
# router.conf is sourced by the guest's init: write a user notification.
echo 'echo "hello from the guest" >/proc/mconsole' >>"$LAB_DIR/conf/router.conf"
LAB_APPLIANCE_PID=
lab_start_umlnf "$UMLNF" "$IMAGE" || die "start"
lab_wait_ready 90 || die "not ready after the panics"
lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "ping through the rebooted appliance"
grep -aq "uml-nf: guest notification: hello from the guest" "$LAB_DIR/appliance.log" ||
	die "the guest's /proc/mconsole notification did not arrive"
lab_stop_clean 30 || die "clean stop"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "guest panics end uml-nf with status 3 and the reason; panic=N left to restart; umid reusable"
