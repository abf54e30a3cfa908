#!/bin/bash
# Proves bess survives its peer switch restarting (reconnect with backoff, no spinning, drops counted in the stats line), waits for a late peer with wait=1, and refuses bad setups with exit 2 leaving nothing behind.
# How: refusal cases first; then uml-nf A and B (wait=1, dst= the two ports of tests/helpers/seqswitch) started before the switch; ping; kill -9 the switch, measure A's CPU while down, restart it; ping again; stop, read the stats.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf58 umlnf
UMLNF=$(readlink -f "$UMLNF")
HELPERS=${UMLNF_HELPERS:-build/test-helpers}
[ -x "$HELPERS/seqswitch" ] || make -s --no-print-directory test-helpers >/dev/null ||
	die "test helpers not built (make test-helpers)"
SWITCH=$(readlink -f "$HELPERS/seqswitch")

step "create lab"
lab_create || die "lab_create"
lab_write_conf_pair || die "conf"
mkdir -p "$LAB_DIR/sw" || die "mkdir"
touch "$LAB_DIR/plain-file"

step "refusals: exit 2, one line naming device and option, no socket file or run dir left"
# WANT_STATUS|STDERR_MUST_CONTAIN|ARGUMENTS (split on spaces)
cases=(
	"2|vec0: dst: cannot connect to $LAB_DIR/sw/none: No such file or directory (nothing listens there: start the peer first, or add wait=1)|vec0:transport=bess,dst=$LAB_DIR/sw/none,src=$LAB_DIR/me.sock"
	"2|vec0: dst: required by transport bess|vec0:transport=bess,src=$LAB_DIR/me.sock"
	"2|vec0: listen: cannot be combined with dst|vec0:transport=bess,dst=$LAB_DIR/x,listen=$LAB_DIR/y"
	"2|vec0: src: only with dst|vec0:transport=bess,listen=$LAB_DIR/y,src=$LAB_DIR/me.sock"
	"2|vec0: wait: only with dst|vec0:transport=bess,listen=$LAB_DIR/y,wait=1"
	"2|vec0: listen: $LAB_DIR/plain-file exists and is not a socket (left alone)|vec0:transport=bess,listen=$LAB_DIR/plain-file"
	"2|vec0: wait: expected 0 or 1|vec0:transport=bess,dst=$LAB_DIR/x,wait=2"
	"2|vec0: bpffile: $LAB_DIR/none.bpf: No such file|vec0:transport=bess,dst=$LAB_DIR/x,bpffile=$LAB_DIR/none.bpf"
	"2|vec1: dst: cannot connect|vec0:transport=bess,listen=$LAB_DIR/ok.sock vec1:transport=bess,dst=$LAB_DIR/sw/none"
	"2|vec0: vnet: cannot be combined with bpf= (a socket filter would see the virtio-net header|vec0:transport=bess,listen=$LAB_DIR/y,vnet=1,bpf=udp"
	"2|vec0: vnet: expected 0 or 1|vec0:transport=bess,listen=$LAB_DIR/y,vnet=yes"
)
bad=0 n=0
for c in "${cases[@]}"; do
	n=$((n + 1))
	want=${c%%|*}
	rest=${c#*|}
	msg=${rest%%|*}
	read -r -a args <<<"${rest#*|}"
	umid="$LAB_UMID-r$n"
	timeout 20 ip netns exec "$LAB_NS_HOST" "$UMLNF" "${args[@]}" mem=64M "umid=$umid" \
		</dev/null >"$LAB_DIR/out.$n" 2>"$LAB_DIR/err.$n"
	rc=$?
	echo "    case $n: status $rc: $(grep -m1 'error:' "$LAB_DIR/err.$n")"
	[ "$rc" = "$want" ] || { fail "case $n: status $rc, want $want"; bad=1; }
	grep -qF -- "$msg" "$LAB_DIR/err.$n" || { fail "case $n: stderr lacks '$msg'"; bad=1; }
	[ "$(grep -c 'error:' "$LAB_DIR/err.$n")" -eq 1 ] || { fail "case $n: not one error line"; bad=1; }
	[ -e "/run/uml-nf/$umid" ] && { fail "case $n: /run/uml-nf/$umid exists"; bad=1; }
done
for f in me.sock ok.sock y; do
	[ -e "$LAB_DIR/$f" ] && { fail "$LAB_DIR/$f left behind"; bad=1; }
done
[ -f "$LAB_DIR/plain-file" ] || { fail "plain-file was removed"; bad=1; }
[ "$bad" -eq 0 ] || die "some of $n refusal cases failed"

step "boot A and B with wait=1 before the switch exists"
lab_guest_args a "$IMAGE" || die "args a"
lab_start_bg a "$UMLNF" vec0:transport=raw,ifname=p-veth0,gro=1 \
	"vec1:transport=bess,dst=$LAB_DIR/sw/a,src=$LAB_DIR/a.sock,wait=1" "${LAB_GUEST_ARGS[@]}"
A=$LAB_BG_PID
lab_guest_args b "$IMAGE" || die "args b"
lab_start_bg b "$UMLNF" "vec0:transport=bess,dst=$LAB_DIR/sw/b,wait=1" \
	vec1:transport=raw,ifname=p-veth1,gro=1 "${LAB_GUEST_ARGS[@]}"
B=$LAB_BG_PID
lab_wait_log "$LAB_DIR/a.log" 'nothing accepts connections on .* yet' 20 || die "A: no wait line"
lab_wait_log "$LAB_DIR/a.log" 'uml-nf-router: ready' 60 || die "A not ready"
lab_wait_log "$LAB_DIR/b.log" 'uml-nf-router: ready' 60 || die "B not ready"

step "start the switch: both connect"
lab_start_bg sw1 "$SWITCH" "$LAB_DIR/sw/a" "$LAB_DIR/sw/b"
SW=$LAB_BG_PID
lab_wait_log "$LAB_DIR/a.log" "vec1: bess: connected to $LAB_DIR/sw/a after" 10 || die "A did not connect"
lab_wait_log "$LAB_DIR/b.log" "vec0: bess: connected to $LAB_DIR/sw/b after" 10 || die "B did not connect"
[ -S "$LAB_DIR/a.sock" ] || die "src $LAB_DIR/a.sock not bound"
lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping1.txt" || { cat "$LAB_DIR/ping1.txt"; die "ping before"; }

step "kill -9 the switch: both go down, drop, and do not spin"
{ kill -KILL "$SW"; wait "$SW"; } 2>/dev/null
lab_wait_log "$LAB_DIR/a.log" "vec1: bess: lost the connection to $LAB_DIR/sw/a" 10 || die "A: no outage line"
lab_wait_log "$LAB_DIR/b.log" "vec0: bess: lost the connection to $LAB_DIR/sw/b" 10 || die "B: no outage line"
cpu0=$(set -- $(_lab_stat "$A"); echo $((${12} + ${13}))) # utime + stime
lab_ping client "$LAB_SERVER_ADDR" 10 >"$LAB_DIR/ping2.txt" 2>&1 &&
	die "ping went through with the switch down"
cpu1=$(set -- $(_lab_stat "$A"); echo $((${12} + ${13})))
ticks=$(getconf CLK_TCK)
echo "    uml-nf A used $((cpu1 - cpu0)) ticks of $ticks/s over the outage's ping (about 15 s)"
[ $((cpu1 - cpu0)) -lt $((ticks * 3)) ] || die "uml-nf A spun while down ($((cpu1 - cpu0)) ticks)"
[ "$(grep -c 'lost the connection' "$LAB_DIR/a.log")" -eq 1 ] || die "A logged the outage more than once"

step "restart the switch (its stale sockets are still there): both reconnect, traffic resumes"
lab_start_bg sw2 "$SWITCH" "$LAB_DIR/sw/a" "$LAB_DIR/sw/b"
SW2=$LAB_BG_PID
lab_wait_log "$LAB_DIR/a.log" "vec1: bess: connected to $LAB_DIR/sw/a again after .* frames dropped while down" 10 ||
	die "A did not reconnect"
lab_wait_log "$LAB_DIR/b.log" "vec0: bess: connected to $LAB_DIR/sw/b again after" 10 || die "B did not reconnect"
grep -a 'again after' "$LAB_DIR/a.log" "$LAB_DIR/b.log" | sed 's/^/    /'
lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping3.txt" || { cat "$LAB_DIR/ping3.txt"; die "ping after"; }
gbps=$(lab_iperf 2) || die "iperf3 after the restart"
echo "    $gbps Gbit/s through the restarted switch"

step "stop A and B: exit 0, the drops are in the stats lines, src removed"
lab_stop_pid "$A" 30
rc=$?
[ "$LAB_STOP_HOW" = exited ] && [ "$rc" -eq 0 ] || die "A: $LAB_STOP_HOW, status $rc"
lab_stop_pid "$B" 30
rc=$?
[ "$LAB_STOP_HOW" = exited ] && [ "$rc" -eq 0 ] || die "B: $LAB_STOP_HOW, status $rc"
da=$(lab_stats_field "$LAB_DIR/a.log" vec1 host_tx_errors)
db=$(lab_stats_field "$LAB_DIR/b.log" vec0 host_tx_errors)
echo "    frames dropped while down: A vec1 host_tx_errors=$da, B vec0 host_tx_errors=$db"
[ -n "$da" ] && [ "$da" -gt 0 ] || die "A's drops not counted (host_tx_errors=$da)"
[ -e "$LAB_DIR/a.sock" ] && die "src socket $LAB_DIR/a.sock left behind"
lab_stop_pid "$SW2" 10
grep -a 'relayed=' "$LAB_DIR/sw2.log" | sed 's/^/    /'

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "bess reconnect (A dropped $da, B $db frames while down), wait=1, $n refusals"
