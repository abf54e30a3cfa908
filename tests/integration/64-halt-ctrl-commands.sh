#!/bin/bash
# Proves a halt is clean while the guest keeps sending control commands: virtio_net spins on each control command (rx mode, MAC table) until the device answers, and the tuned 6.12 guest's teardown waits for a command in flight; uml-nf keeps answering the control queue after it stopped serving the rest, so the guest halts at once instead of hanging until the SIGKILL 15 s later (status 137, as test 55 once failed).
# How: a router guest whose post-up hook toggles eth0's promiscuous mode without end (each toggle is a control command); 2 s after "ready" SIGTERM; eight rounds, each must exit 0 within 10 s. Before the fix one halt in six hung in this loop.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin halt64 umlnf
lab_create || die "lab_create"
mkdir -p "$LAB_DIR/conf" || die "mkdir"
cat >"$LAB_DIR/conf/router.conf" <<EOF
HOSTNAME=halt64
IF0_ADDR=$LAB_IF0_ADDR/24
IF1_ADDR=
FORWARD=0
POST_UP=/mnt/nfconf/post-up.sh
EOF
cat >"$LAB_DIR/conf/post-up.sh" <<'EOF'
# rx-mode changes without end: a control command is in flight most of the time
( while :; do ifconfig eth0 promisc; ifconfig eth0 -promisc; done ) </dev/null >/dev/null 2>&1 &
EOF
answered=0
for round in 1 2 3 4 5 6 7 8; do
	step "round $round: boot, promiscuous mode toggling, SIGTERM 2 s after ready"
	lab_guest_args r$round "$IMAGE" "$LAB_DIR/conf" || die "args"
	lab_start_bg r$round "$UMLNF" "vec0:transport=raw,ifname=p-veth0" "${LAB_GUEST_ARGS[@]}"
	pid=$LAB_BG_PID
	log=$LAB_DIR/r$round.log
	lab_wait_log "$log" 'uml-nf-router: ready' 60 || { tail -n 20 "$log"; die "round $round: not ready"; }
	lab_wait_log "$log" 'left promiscuous mode' 10 || { tail -n 20 "$log"; die "round $round: the hook toggles nothing"; }
	sleep 2
	t0=$(date +%s)
	lab_stop_pid "$pid" 20
	rc=$?
	secs=$(($(date +%s) - t0))
	[ "$LAB_STOP_HOW" = exited ] && [ "$rc" -eq 0 ] && [ "$secs" -lt 10 ] ||
		{ tail -n 20 "$log"; die "round $round: $LAB_STOP_HOW, status $rc after $secs s"; }
	grep -aq 'guest did not stop in time' "$log" && die "round $round: the guest needed SIGKILL"
	grep -aq 'answered a control command of the halting guest' "$log" && answered=$((answered + 1))
done
echo "    8 halts clean; $answered of them answered a control command after the halt request"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "halts with control commands in flight exit at once, status 0 ($answered of 8 answered one during the halt)"
