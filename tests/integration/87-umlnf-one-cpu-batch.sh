#!/bin/bash
# Proves the one-CPU layout: confined to one CPU, uml-nf runs its datapath thread under SCHED_BATCH (no wakeup preemption of the guest it shares the CPU with) and forwards; given two CPUs it pins guest and datapath apart and leaves the policy alone; UMLNF_SCHED_BATCH=off overrides.
# How: boots under taskset -c 1 (LAB_CPUS), reads the nf-datapath thread's policy from /proc/PID/task/*/stat (field 41: 3 = SCHED_BATCH, 0 = normal) and its log line, pings and runs iperf3; then boots with CPUs 0,1 and with UMLNF_SCHED_BATCH=off on one CPU and expects policy 0.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf87 umlnf
[ "$(nproc)" -ge 2 ] || skip_test "needs two CPUs (has $(nproc))"

step "create lab"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"

dp_policy() { # policy of uml-nf's nf-datapath thread
	local t
	for t in /proc/"$LAB_APPLIANCE_PID"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = nf-datapath ] || continue
		awk '{ sub(/^.*\) /, ""); print $(41 - 2) }' "$t/stat"
		return 0
	done
	echo none
}

boot() { # LABEL CPUS WANT_POLICY [UMLNF_SCHED_BATCH value]
	local label=$1 p
	if [ -n "${4:-}" ]; then
		UMLNF_SCHED_BATCH=$4 LAB_CPUS=$2 LAB_VEC_OPTS=gro=1 lab_start_umlnf "$UMLNF" "$IMAGE" || die "start ($label)"
	else
		LAB_CPUS=$2 LAB_VEC_OPTS=gro=1 lab_start_umlnf "$UMLNF" "$IMAGE" || die "start ($label)"
	fi
	lab_wait_ready 60 || die "not ready ($label)"
	p=$(dp_policy)
	echo "    [$label] CPUs $2: nf-datapath policy $p"
	[ "$p" = "$3" ] || die "$label: nf-datapath policy $p, want $3"
}

step "one CPU: datapath under SCHED_BATCH, forwarding"
boot one 1 3
grep -q 'uml-nf: datapath: SCHED_BATCH' "$LAB_DIR/appliance.log" || die "no SCHED_BATCH line"
lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "ping (one CPU)"
g=$(lab_iperf 2) || die "iperf3 (one CPU)"
awk -v a="$g" 'BEGIN { exit !(a > 0) }' || die "zero throughput (one CPU)"
echo "    $g Gbit/s"
lab_stop_clean 30 || die "clean stop (one CPU)"
rm -f "$LAB_DIR/root.cow"

step "two CPUs: guest and datapath apart, normal policy"
boot two 0,1 0
if grep -q 'uml-nf: datapath: SCHED_BATCH' "$LAB_DIR/appliance.log"; then die "SCHED_BATCH with two CPUs"; fi
lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "ping (two CPUs)"
lab_stop_clean 30 || die "clean stop (two CPUs)"
rm -f "$LAB_DIR/root.cow"

step "one CPU with UMLNF_SCHED_BATCH=off: normal policy"
boot off 1 0 off
lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "ping (off)"
lab_stop_clean 30 || die "clean stop (off)"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "one CPU: SCHED_BATCH datapath, $g Gbit/s; two CPUs and UMLNF_SCHED_BATCH=off: normal policy"
