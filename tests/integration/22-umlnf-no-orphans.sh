#!/bin/bash
# Proves a SIGKILLed uml-nf leaves no orphans: the guest kernel and all UML helpers die with it.
# How: boot the lab, find the uml-nf PID under the recorded appliance PID, kill -9 it, expect no umid process within 5 s.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf22 umlnf

step "create lab and boot uml-nf"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
lab_start_umlnf "$UMLNF" "$IMAGE" || die "start"
lab_wait_ready 60 || die "not ready"
lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "ping client -> server"

step "find the uml-nf process (the appliance PID or a descendant running $UMLNF)"
exe=$(readlink -f "$UMLNF")
nfpid=
for p in $(lab_descendants "$LAB_APPLIANCE_PID"); do
	[ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$exe" ] && { nfpid=$p; break; }
done
[ -n "$nfpid" ] || die "no process running $exe under pid $LAB_APPLIANCE_PID"
before=$(lab_umid_pids)
echo "    uml-nf pid $nfpid (appliance pid $LAB_APPLIANCE_PID);" \
	"$(wc -w <<<"$before") processes mention $LAB_UMID"
[ "$(wc -w <<<"$before")" -ge 2 ] || die "expected uml-nf and the guest kernel, got: $before"

step "kill -9 $nfpid; nothing mentioning the umid may survive 5 s"
kill -KILL "$nfpid" || die "kill -9 $nfpid"
left=
for i in $(seq 50); do
	left=$(lab_umid_pids)
	[ -z "$left" ] && break
	sleep 0.1
done
if [ -n "$left" ]; then
	for p in $left; do
		echo "    survivor $p ppid $(_lab_stat "$p" | cut -d" " -f2):" \
			"$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-100)" >&2
	done
	die "processes survive the kill -9 of uml-nf: $left"
fi
echo "    all gone after $(awk -v i="$i" 'BEGIN { printf "%.1f", i / 10 }') s"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "no orphans after kill -9 of uml-nf"
