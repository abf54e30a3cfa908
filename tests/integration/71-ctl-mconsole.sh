#!/bin/bash
# Proves `uml-nf ctl` speaks mconsole as uml_mconsole does, on the same running guest: the same replies for version, help, config, remove (an error), sysrq ?, proc meminfo, log, stop and go (go when not stopped is an error for both), multi-part replies whole; --json; exit 3 with one clear line for a missing umid or a guest that does not answer; halt ends uml-nf with status 0.
# How: boot uml-nf in the lab; each command through uml_mconsole (inside the lab's host namespace: it answers to an abstract socket) and through ctl from outside, texts compared after uml_mconsole's "OK "/"ERR " and final newline; proc meminfo while the guest is stopped (a ping must fail then, and pass after go); ctl --timeout 1 at a socket nobody answers on; ctl halt, then the appliance's exit status.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin ctl71 umlnf
command -v uml_mconsole >/dev/null || skip_test "uml_mconsole missing (uml-utilities)"
command -v python3 >/dev/null || skip_test "python3 missing"
UMLNF=$(readlink -f "$UMLNF")
O=$LAB_DIR/out
mkdir -p "$O"

step "boot uml-nf"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
lab_start_umlnf "$UMLNF" "$IMAGE" || die "start"
lab_wait_ready 60 || die "not ready"
INST=/run/uml-nf/$LAB_UMID
MC=$(sed -n 's/^mconsole=//p' "$INST/uml-nf.info")
[ -S "$MC" ] || die "no mconsole socket in $INST/uml-nf.info ($MC)"
echo "    mconsole: $MC"

# moo TAG CMD...: uml_mconsole's output and status; ctl TAG CMD...: ctl --json's.
moo() {
	local tag=$1
	shift
	timeout 20 ip netns exec "$LAB_NS_HOST" uml_mconsole "$MC" "$@" >"$O/$tag.moo" 2>/dev/null
	echo $? >"$O/$tag.moo.rc"
}
ctl() {
	local tag=$1
	shift
	timeout 20 "$UMLNF" ctl --json "$LAB_UMID" "$@" >"$O/$tag.ctl" 2>"$O/$tag.ctl.err"
	echo $? >"$O/$tag.ctl.rc"
}
# compare TAG [help]: the same reply and the same verdict (OK/ERR) from both.
compare() {
	python3 - "$O/$1" "${2:-}" <<'EOF' || die "$1: replies differ (see above)"
import json, sys
base, mode = sys.argv[1], sys.argv[2]
moo = open(base + ".moo", encoding="utf-8", errors="replace").read()
j = json.load(open(base + ".ctl"))
assert set(j) == {"umid", "command", "ok", "reply"}, j
verdict, _, text = moo.partition(" ")
assert verdict in ("OK", "ERR"), repr(moo[:40])
assert text.endswith("\n"), repr(text[-20:])
text = text[:-1]
if mode == "help":
    # uml_mconsole appends the commands it handles itself.
    local = "\n\nAdditional local mconsole commands:"
    assert local in text, "no local block"
    text = text[: text.index(local) + 1]
    ok = j["reply"] == text or j["reply"] + "\n" == text
else:
    ok = j["reply"] == text
if not ok or j["ok"] != (verdict == "OK"):
    print("uml_mconsole:", verdict, repr(text[:200]))
    print("uml-nf ctl:  ", j["ok"], repr(j["reply"][:200]))
    sys.exit(1)
print("    %-14s %s %d bytes, the same from both: %r" % (j["command"], verdict, len(text),
                                                        text[:60] + ("..." if len(text) > 60 else "")))
EOF
	local mrc crc
	mrc=$(cat "$O/$1.moo.rc") crc=$(cat "$O/$1.ctl.rc")
	if grep -q '"ok":true' "$O/$1.ctl"; then
		[ "$mrc" = 0 ] && [ "$crc" = 0 ] || die "$1: OK, but exit status $mrc (uml_mconsole) / $crc (ctl)"
	else
		[ "$mrc" != 0 ] && [ "$crc" = 1 ] || die "$1: ERR, but exit status $mrc (uml_mconsole) / $crc (ctl, want 1)"
	fi
}

step "the same replies: version, help, config ubd0, remove ubd9, go (not stopped), sysrq ?"
moo version version && ctl version version && compare version
moo help help && ctl help help && compare help help
moo config config ubd0 && ctl config config ubd0 && compare config
moo remove remove ubd9 && ctl remove remove ubd9 && compare remove
moo go0 go && ctl go0 go && compare go0
moo sysrq sysrq '?' && ctl sysrq sysrq '?' && compare sysrq
grep -q 'HELP' "$O/sysrq.ctl" || die "sysrq ? did not bring back the sysrq help"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["umid"]==sys.argv[2] and j["command"]=="version" and j["ok"] is True and j["reply"].startswith("Linux"), j' \
	"$O/version.ctl" "$LAB_UMID" || die "ctl --json version: $(cat "$O/version.ctl")"
"$UMLNF" ctl "$LAB_UMID" version >"$O/plain" || die "ctl version (text)"
[ "$(cat "$O/plain")" = "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reply"])' "$O/version.ctl")" ] ||
	die "ctl text output differs from its --json reply"
"$UMLNF" ctl "$MC" version >"$O/bypath" || die "ctl SOCKET_PATH version"
cmp -s "$O/plain" "$O/bypath" || die "ctl by socket path answers differently"
echo "    text output = --json reply; by socket path the same"

step "stop: the guest pauses (no forwarding), proc meminfo from both while it cannot change, go"
"$UMLNF" ctl "$LAB_UMID" stop >"$O/stop" || die "ctl stop"
[ "$(cat "$O/stop")" = stopped ] || die "ctl stop replied '$(cat "$O/stop")'"
lab_ping client "$LAB_SERVER_ADDR" 1 >/dev/null 2>&1 && die "ping passed through a stopped guest"
moo meminfo proc meminfo && ctl meminfo proc meminfo && compare meminfo
grep -q 'MemTotal:' "$O/meminfo.ctl" || die "proc meminfo has no MemTotal"
[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["reply"]))' "$O/meminfo.ctl")" -gt 511 ] ||
	die "proc meminfo came back shorter than one mconsole datagram: not a multi-part reply"
moo go1 go
grep -q '^OK' "$O/go1.moo" || die "uml_mconsole go after ctl stop: $(cat "$O/go1.moo")"
lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "no forwarding after go"
moo stop2 stop
grep -q '^OK stopped' "$O/stop2.moo" || die "uml_mconsole stop: $(cat "$O/stop2.moo")"
"$UMLNF" ctl "$LAB_UMID" go >"$O/go2" || die "ctl go after uml_mconsole stop"
lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "no forwarding after ctl go"
echo "    ctl stop / uml_mconsole go, uml_mconsole stop / ctl go: paused and resumed"

step "log: both land in the guest's kernel log"
moo log log "moo-line-$$" && ctl log log "ctl-line-$$"
grep -q '^OK' "$O/log.moo" && grep -q '"ok":true,"reply":""' "$O/log.ctl" || die "log replies: $(cat "$O/log.moo" "$O/log.ctl")"
for i in $(seq 20); do
	grep -q "ctl-line-$$" "$LAB_DIR/appliance.log" && grep -q "moo-line-$$" "$LAB_DIR/appliance.log" && break
	sleep 0.1
done
grep -a "line-$$" "$LAB_DIR/appliance.log" | sed 's/^/    console: /'
[ "$(grep -c "ctl-line-$$" "$LAB_DIR/appliance.log")" = 1 ] || die "ctl log text not in the kernel log once"
grep -q "moo-line-$$" "$LAB_DIR/appliance.log" || die "uml_mconsole log text not in the kernel log"

step "errors: usage 2, no such appliance 3, a guest that does not answer 3 (bounded)"
"$UMLNF" ctl "$LAB_UMID" vrsion 2>"$O/e1"
[ $? -eq 2 ] && grep -q 'unknown command "vrsion" (commands: version, help' "$O/e1" || die "unknown command: $(cat "$O/e1")"
"$UMLNF" ctl "$LAB_UMID" proc 2>"$O/e2"
[ $? -eq 2 ] || die "proc without FILE: want status 2"
"$UMLNF" ctl "nosuch-$$" version 2>"$O/e3"
[ $? -eq 3 ] && [ "$(wc -l <"$O/e3")" = 1 ] && grep -q "no appliance with this umid" "$O/e3" ||
	die "missing umid: $(cat "$O/e3")"
echo "    $(cat "$O/e3")"
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); time.sleep(30)' "$O/silent.sock" &
silent=$!
_lab_track "$silent"
for i in $(seq 50); do [ -S "$O/silent.sock" ] && break; sleep 0.1; done
start=$(date +%s%N)
"$UMLNF" ctl --timeout 1 "$O/silent.sock" version 2>"$O/e4"
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
kill "$silent" 2>/dev/null
wait "$silent" 2>/dev/null
[ "$rc" -eq 3 ] && grep -q 'no answer to "version" within 1 s' "$O/e4" || die "silent guest: status $rc, $(cat "$O/e4")"
[ "$ms" -lt 3000 ] || die "ctl --timeout 1 took $ms ms"
echo "    $(cat "$O/e4") (after $ms ms)"
[ -z "$(ls "$INST" | grep '^ctl\.')" ] || die "ctl left its client socket in $INST"

step "halt: ctl returns once uml-nf has exited, with status 0"
"$UMLNF" ctl "$LAB_UMID" halt || die "ctl halt"
_lab_running "$LAB_APPLIANCE_PID" && die "uml-nf still runs after ctl halt returned"
wait "$LAB_APPLIANCE_PID"
rc=$?
LAB_APPLIANCE_PID=
[ "$rc" -eq 0 ] || die "uml-nf exited with status $rc after halt"
[ ! -e "$INST" ] || die "$INST left behind"
echo "    uml-nf exited 0, $INST removed"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "ctl = uml_mconsole (version, help, config, remove, go, sysrq, proc, log, stop/go); errors; halt exit 0"
