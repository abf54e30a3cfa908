#!/bin/bash
# Proves uml-nf serves its counters on INST/control.sock: `uml-nf stats UMID` (text, --json, --watch with rates) shows per-device frames, drops by reason, batch histograms, offloads, features and link state that match the traffic, while the datapath forwards at full speed; the socket is 0600, owner-only (SO_PEERCRED), refuses malformed, oversized and slow requests, and does not outlive uml-nf (kill -9 then restart reclaims it).
# How: lab boot; 5 pings; stats text and JSON (jq) checked; --watch 0.5 for 2 s; iperf3 3 s with stats polled every 0.2 s; raw requests through tests/tools/unixsend (bad magic, version 2, 70 kB, NUL, slow, unknown device); a uid-65534 client with the modes loosened; bad command lines; kill -9, restart with the umid, stats again; SIGTERM exit 0, socket gone.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin umlnf80 umlnf
UMLNF=$(readlink -f "$UMLNF")
UNIXSEND=${UMLNF_HELPERS:-build/test-helpers}/unixsend
[ -x "$UNIXSEND" ] || die "$UNIXSEND not built (make test-helpers)"
UNIXSEND=$(readlink -f "$UNIXSEND")
INST=${UMLNF_RUNDIR:-/run/uml-nf}/$LAB_UMID
SOCK=$INST/control.sock

stats() { timeout 10 "$UMLNF" stats "$LAB_UMID" "$@"; }

step "create lab, boot uml-nf"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
lab_start_umlnf "$UMLNF" "$IMAGE" || die "start"
lab_wait_ready 60 || die "not ready"

step "the control socket: $SOCK, mode 0600, owner $(id -un)"
[ -S "$SOCK" ] || die "no socket $SOCK"
mode=$(stat -c %a "$SOCK")
[ "$mode" = 600 ] || die "$SOCK mode $mode, want 600"
[ "$(stat -c %u "$SOCK")" = "$(id -u)" ] || die "$SOCK not owned by uid $(id -u)"

step "5 pings client -> server, then uml-nf stats"
lab_ping client "$LAB_SERVER_ADDR" 5 >"$LAB_DIR/ping.txt" || { cat "$LAB_DIR/ping.txt"; die "ping"; }
stats >"$LAB_DIR/stats.txt" || { cat "$LAB_DIR/stats.txt"; die "uml-nf stats failed"; }
sed 's/^/    /' "$LAB_DIR/stats.txt" | head -n 11
grep -q "^vec0  raw p-veth0  link up  guest running (link up)" "$LAB_DIR/stats.txt" ||
	die "no 'vec0  raw p-veth0  link up  guest running' line"
grep -q "^vec1  raw p-veth1  link up" "$LAB_DIR/stats.txt" || die "no vec1 line"
grep -q "^  rx batch   .*1:[1-9]" "$LAB_DIR/stats.txt" || die "no batch size histogram"
grep -q "^  features   0x[0-9a-f]*: .*csum.*event_idx.*version_1" "$LAB_DIR/stats.txt" ||
	die "features not decoded"
for k in "dropped" "bad_hdr" "bad_frame" "host_down" "oversize" "segmented" "coalesced" "kicks" "calls"; do
	grep -qw "$k" "$LAB_DIR/stats.txt" || die "no '$k' in the text output"
done

step "--json: the counters match the pings"
stats --json >"$LAB_DIR/stats.json" || die "stats --json failed"
if command -v jq >/dev/null; then
	jq -e . "$LAB_DIR/stats.json" >/dev/null || die "--json is not JSON: $(head -c 300 "$LAB_DIR/stats.json")"
	q() { jq -r "$1" "$LAB_DIR/stats.json"; }
	[ "$(q '.devices | length')" = 2 ] || die "want 2 devices"
	[ "$(q '.devices[1].ifname')" = p-veth1 ] || die "vec1 ifname $(q '.devices[1].ifname')"
	# 5 echo requests came in on vec0 and left on vec1, 5 replies the other way.
	for e in '.devices[0].rx_packets' '.devices[0].tx_packets' '.devices[1].rx_packets' '.devices[1].tx_packets'; do
		v=$(q "$e")
		[ "$v" -ge 5 ] 2>/dev/null || die "$e = $v, want >= 5"
	done
	hist=$(q '[.devices[0].rx_batch_hist[]] | add')
	[ "$hist" -ge 5 ] || die "rx batch histogram counts $hist calls"
	[ "$(q '.devices[0].rx_dropped + .devices[0].tx_dropped + .devices[0].tx_bad_hdr')" = 0 ] ||
		die "drops on an idle lab"
	q '.devices[0].feature_names | index("guest_tso4")' | grep -q '^[0-9]' || die "gro=1 but no guest_tso4"
	[ "$(q '.devices[0].link + " " + .devices[0].guest_link + " " + .devices[0].capture')" = "up up none" ] ||
		die "link state: $(q '.devices[0] | [.link, .guest_link, .capture]')"
	echo "    vec0 rx $(q '.devices[0].rx_packets') tx $(q '.devices[0].tx_packets') frames, rx batches $hist"
else
	skip_check "jq not installed: --json contents not checked"
	grep -q '"rx_packets":' "$LAB_DIR/stats.json" || die "--json without rx_packets"
fi

step "--watch 0.5: refreshes with per-second rates"
timeout --preserve-status -s INT 2.3 "$UMLNF" stats "$LAB_UMID" --watch 0.5 >"$LAB_DIR/watch.txt" 2>&1
rc=$?
n=$(grep -c '^uml-nf stats umid=' "$LAB_DIR/watch.txt")
[ "$n" -ge 3 ] || die "--watch 0.5 printed $n snapshots in 2.3 s"
grep -q '^  rate       rx [0-9.]* pps' "$LAB_DIR/watch.txt" || die "--watch without rates"
[ "$rc" -eq 0 ] || die "--watch ended by SIGINT with status $rc, want 0"
timeout --preserve-status -s INT 1.8 "$UMLNF" stats "$LAB_UMID" --watch 0.5 --json >"$LAB_DIR/watch.json" 2>&1
if command -v jq >/dev/null; then
	jq -e -s 'length >= 3 and (.[1].devices[0].rates.rx_packets != null)' "$LAB_DIR/watch.json" >/dev/null ||
		die "--watch --json: want 3 objects with rates: $(head -c 300 "$LAB_DIR/watch.json")"
fi
echo "    $n snapshots; $(grep -m1 '^  rate' "$LAB_DIR/watch.txt")"

step "stats under an iperf3 flood: every request answered, forwarding unharmed"
(
	ok=0 bad=0
	end=$((SECONDS + 3))
	while [ $SECONDS -lt $end ]; do
		if timeout 5 "$UMLNF" stats "$LAB_UMID" --json >/dev/null 2>&1; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
		sleep 0.2
	done
	echo "$ok $bad" >"$LAB_DIR/poll.txt"
) &
poller=$!
_lab_track "$poller"
gbps=$(lab_iperf 3) || die "iperf3"
wait "$poller"
read -r ok bad <"$LAB_DIR/poll.txt"
echo "    $gbps Gbit/s with $ok stats requests answered ($bad failed)"
[ "$bad" = 0 ] && [ "$ok" -ge 5 ] || die "stats during iperf3: $ok answered, $bad failed"
awk -v g="$gbps" 'BEGIN { exit !(g > 0.1) }' || die "throughput $gbps Gbit/s"
stats --json | grep -q '"rx_gso":[1-9]\|"tx_gso":[1-9]\|"rx_coalesced":[1-9]' ||
	die "TCP at full speed but no GSO or coalescing counted"

step "malformed requests get one error line, or the connection closed"
req() { printf "$1" | timeout 15 "$UNIXSEND" "$SOCK" "${@:2}"; }
expect() { # WHAT OUTPUT PATTERN
	grep -q "$3" <<<"$2" || die "$1: got '$(head -c 200 <<<"$2")', want /$3/"
	echo "    $1: $(head -n 1 <<<"$2")"
}
expect "not our magic" "$(req 'GET / HTTP/1.0\n')" '^err EPROTO not a uml-nf control request$'
expect "version 2" "$(req 'umlnf-ctl 2 stats\n')" '^err EPROTO protocol version 2 not supported'
expect "unknown verb" "$(req 'umlnf-ctl 1 reboot\n')" '^err EINVAL unknown request'
expect "NUL byte" "$(req 'umlnf-ctl 1 st\0ats\n')" '^err EINVAL byte 0x00 at offset 14'
expect "no such device" "$(req 'umlnf-ctl 1 capture vec9 dir=both snap=100\n')" '^err ENODEV vec9: no such device'
expect "bad snap" "$(req 'umlnf-ctl 1 capture vec0 dir=both snap=9\n')" '^err EINVAL capture: needs'
expect "bad bpf" "$(req 'umlnf-ctl 1 capture vec0 dir=both snap=100 bpf=00280000\n')" '^err EINVAL capture: bpf='
expect "invalid program" "$(req 'umlnf-ctl 1 capture vec0 dir=both snap=100 bpf=002800000000000c\n')" '^err EINVAL vec0: the filter is not a valid BPF program'
big=$(head -c 70000 /dev/zero | tr '\0' a)
expect "70 kB line" "$(printf '%s' "$big" | timeout 15 "$UNIXSEND" "$SOCK")" '^err EINVAL request too long'
out=$(timeout 15 "$UNIXSEND" "$SOCK" -c 5000)
grep -q "^closed after [0-9]* ms$" <<<"$out" || die "a silent client: '$out', want the server to close"
echo "    silent client: $out (the limit is 2 s)"
expect "still serving" "$(req 'umlnf-ctl 1 version\n')" "^ok 1 pid=[0-9]* umid=$LAB_UMID devices=2$"

step "only the owner: a uid-65534 client is refused even with the modes loosened"
if setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$UNIXSEND" 2>/dev/null; then
	out=$(printf 'umlnf-ctl 1 stats\n' | setpriv --reuid=65534 --regid=65534 --clear-groups \
		timeout 10 "$UNIXSEND" "$SOCK" 2>&1)
	grep -q "Permission denied" <<<"$out" || die "uid 65534 through the 0700 directory: '$out'"
	echo "    0700 directory: $out"
	chmod 0755 "$INST" && chmod 0666 "$SOCK" || die "chmod"
	out=$(printf 'umlnf-ctl 1 stats\n' | setpriv --reuid=65534 --regid=65534 --clear-groups \
		timeout 10 "$UNIXSEND" "$SOCK" 2>&1)
	chmod 0700 "$INST" && chmod 0600 "$SOCK"
	[ -z "$out" ] || die "uid 65534 with the modes loosened got an answer: $out"
	sleep 0.3
	grep -aq "control socket: refused a connection from uid 65534" "$LAB_DIR/appliance.log" ||
		die "no 'refused a connection from uid 65534' line"
	echo "    modes loosened: connection closed, 'refused a connection from uid 65534' logged"
else
	skip_check "uid 65534 cannot run $UNIXSEND (path not readable): peer check not tried"
fi

step "bad command lines: one line naming the problem"
bad() { # STATUS PATTERN ARGS...
	local want=$1 pat=$2 out rc
	shift 2
	out=$(timeout 10 "$UMLNF" "$@" 2>&1)
	rc=$?
	[ "$rc" = "$want" ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q -- "$pat" <<<"$out" ||
		die "uml-nf $*: status $rc, '$out'; want $want and /$pat/"
	echo "    uml-nf $*: $out"
}
bad 2 "stats: which appliance" stats
bad 2 'stats: --watch: expected seconds 0.1..3600, got "0"' stats "$LAB_UMID" --watch 0
bad 2 'unknown option "--jsn"' stats "$LAB_UMID" --jsn
bad 1 "umid=nosuch-$$: no uml-nf with this umid is running" stats "nosuch-$$"

step "kill -9 uml-nf: its socket stays behind; a restart with the umid reclaims it"
nfpid=$(awk '{print $1}' "$INST/uml-nf.pid")
kill -KILL "$nfpid" || die "kill -9 $nfpid"
for i in $(seq 50); do _lab_running "$nfpid" || break; sleep 0.1; done
lab_stop_appliance 2 >/dev/null
[ -S "$SOCK" ] || die "no stale $SOCK after kill -9 (test is void)"
bad 1 "umid=$LAB_UMID: nobody answers on $SOCK" stats "$LAB_UMID"
rm -f "$LAB_DIR/root.cow"
lab_start_umlnf "$UMLNF" "$IMAGE" || die "restart"
lab_wait_ready 60 || die "restarted uml-nf not ready"
grep -aq "reclaimed $INST" "$LAB_DIR/appliance.log" || die "no 'reclaimed $INST'"
stats | grep -q "^vec0  raw p-veth0  link up" || die "stats after the restart"
echo "    reclaimed; stats answers again"

step "stop (SIGTERM): exit 0, the socket is gone"
lab_stop_clean 30 || die "unclean stop"
[ -e "$SOCK" ] && die "$SOCK still exists"
[ -e "$INST" ] && die "$INST still exists"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "stats over the control socket ($gbps Gbit/s while polled; owner-only; malformed requests refused)"
