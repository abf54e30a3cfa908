#!/bin/bash
# Proves a umid survives kill -9 of its uml-nf: the guest dies with it, a new start with the same umid reclaims the stale instance directory and forwards; a second start while the owner lives, or over a stale directory holding a stranger's file, is refused and disturbs nothing.
# How: boot uml-nf in the lab; start a second one with its umid (refused, naming the pid; the first still forwards); kill -9 the recorded uml-nf PID, expect no umid process within 5 s; a stray file blocks the restart; remove it, restart with the same umid, ping, clean stop.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf28 umlnf
UMLNF=$(readlink -f "$UMLNF")
INST=${UMLNF_RUNDIR:-/run/uml-nf}/$LAB_UMID

# second_start TAG: a uml-nf with the lab's umid and a root COW of its own,
# run to its end in the lab's host namespace (20 s at most); status in rc2,
# stderr in $LAB_DIR/TAG.err.
second_start() {
	local args=() a
	for a in "${LAB_UML_ARGS[@]}"; do
		case $a in ubd0=*) a="ubd0=$LAB_DIR/$1.cow,${a#*,}" ;; esac
		args+=("$a")
	done
	timeout -k 5 20 ip netns exec "$LAB_NS_HOST" "$UMLNF" "${args[@]}" \
		</dev/null >"$LAB_DIR/$1.out" 2>"$LAB_DIR/$1.err"
	rc2=$?
	echo "    status $rc2: $(grep -a 'error' "$LAB_DIR/$1.err" | head -n 1)"
}

step "create lab and boot uml-nf (umid $LAB_UMID)"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
lab_start_umlnf "$UMLNF" "$IMAGE" || die "start"
lab_wait_ready 60 || die "not ready"
lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "ping client -> server"

step "the uml-nf process: the recorded appliance PID or a descendant running $UMLNF"
nfpid=
for p in $(lab_descendants "$LAB_APPLIANCE_PID"); do
	[ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$UMLNF" ] && { nfpid=$p; break; }
done
[ -n "$nfpid" ] || die "no process running $UMLNF under pid $LAB_APPLIANCE_PID"
nfstart=$(_lab_starttime "$nfpid")
read -r recpid recstart <"$INST/uml-nf.pid" || die "no $INST/uml-nf.pid"
echo "    uml-nf pid $nfpid; $INST/uml-nf.pid: $recpid $recstart"
[ "$recpid $recstart" = "$nfpid $nfstart" ] ||
	die "$INST/uml-nf.pid says '$recpid $recstart', want '$nfpid $nfstart' (pid, start time)"
ls -A "$INST" | sed 's/^/    instance: /'

step "a second uml-nf with the same umid is refused, naming pid $nfpid"
second_start live
[ "$rc2" -ne 0 ] || die "second uml-nf with umid $LAB_UMID exited 0"
[ "$rc2" -ne 124 ] || die "second uml-nf with umid $LAB_UMID ran until the timeout"
grep -aq "another uml-nf (pid $nfpid) with this umid is running" "$LAB_DIR/live.err" ||
	die "refusal does not name pid $nfpid: $(cat "$LAB_DIR/live.err")"
[ -e "$LAB_DIR/live.cow" ] && die "the refused uml-nf booted a guest (its COW exists)"

step "... and the running one is undisturbed"
[ "$(_lab_starttime "$nfpid")" = "$nfstart" ] && _lab_running "$nfpid" || die "uml-nf $nfpid is gone"
for f in uml-nf.lock uml-nf.pid vec0.sock vec1.sock "$LAB_UMID/mconsole"; do
	[ -e "$INST/$f" ] || die "$INST/$f vanished"
done
lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping1.txt" || { cat "$LAB_DIR/ping1.txt"; die "ping after the refused start"; }

step "kill -9 $nfpid: nothing mentioning the umid may survive 5 s"
kill -KILL "$nfpid" || die "kill -9 $nfpid"
left=
for i in $(seq 50); do
	left=$(lab_umid_pids)
	[ -z "$left" ] && break
	sleep 0.1
done
if [ -n "$left" ]; then
	for p in $left; do
		echo "    survivor $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-100)" >&2
	done
	die "processes survive the kill -9 of uml-nf: $left"
fi
echo "    all gone after $(awk -v i="$i" 'BEGIN { printf "%.1f", i / 10 }') s"
lab_stop_appliance 2 >/dev/null # reap it; it was the appliance
[ -d "$INST" ] || die "$INST vanished: nothing stale to reclaim (test is void)"
ls -A "$INST" | sed 's/^/    left behind: /'

step "a stale directory holding a file uml-nf did not put there is not reclaimed"
echo mine >"$INST/notes.txt"
second_start stray
[ "$rc2" -ne 0 ] && [ "$rc2" -ne 124 ] || die "start over $INST/notes.txt: status $rc2, want a refusal"
grep -aq "$INST/notes.txt is not something uml-nf or UML put there" "$LAB_DIR/stray.err" ||
	die "refusal does not name $INST/notes.txt: $(cat "$LAB_DIR/stray.err")"
[ -e "$INST/notes.txt" ] && [ -e "$INST/vec0.sock" ] || die "the refused start changed $INST"
rm -f "$INST/notes.txt"

step "restart with the same umid: reclaims $INST, boots, forwards"
# A fresh COW: the root's crash recovery is not what this test is about.
rm -f "$LAB_DIR/root.cow"
lab_start_umlnf "$UMLNF" "$IMAGE" || die "restart"
lab_wait_ready 60 || die "restarted uml-nf not ready"
grep -a "reclaimed $INST" "$LAB_DIR/appliance.log" | sed 's/^/    /'
grep -aq "umid=$LAB_UMID: reclaimed $INST, left by uml-nf pid $nfpid, which is gone" \
	"$LAB_DIR/appliance.log" || die "no 'reclaimed $INST, left by uml-nf pid $nfpid' line"
lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping2.txt" || { cat "$LAB_DIR/ping2.txt"; die "ping after restart"; }

step "stop (SIGTERM): exit 0, instance directory removed"
lab_stop_clean 30 || die "unclean stop"
[ -e "$INST" ] && die "$INST still exists after a clean stop"
stray=$(ls -A "$(dirname "$INST")" 2>/dev/null | grep -F ".$LAB_UMID.")
[ -z "$stray" ] || die "left in $(dirname "$INST"): $stray"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "kill -9 then restart with umid $LAB_UMID; live umid refused naming pid $nfpid"
