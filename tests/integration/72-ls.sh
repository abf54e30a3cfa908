#!/bin/bash
# Proves `uml-nf ls` shows a running appliance with its uml-nf pid, devices (transport, host interface, MAC), kernel and uptime, in text and JSON, and one whose uml-nf was killed as stale, never as running; an empty base lists nothing.
# How: boot uml-nf in the lab; check its ls row and ls --json entry against the pid file and the lab's interfaces; kill -9 uml-nf: the entry turns stale; restart with the same umid (reclaimed): running again with a new pid; ctl halt; ls with UMLNF_RUNDIR at an empty directory.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin ls72 umlnf
command -v python3 >/dev/null || skip_test "python3 missing"
UMLNF=$(readlink -f "$UMLNF")
INST=/run/uml-nf/$LAB_UMID

# entry FIELD: LAB_UMID's field in `ls --json` (empty if it is not listed).
entry() {
	"$UMLNF" ls --json | python3 -c 'import json, sys
umid, field = sys.argv[1], sys.argv[2]
for e in json.load(sys.stdin):
    if e["umid"] == umid:
        v = e[field]
        print(json.dumps(v) if isinstance(v, (list, dict)) else v)' "$LAB_UMID" "$1"
}
row() { "$UMLNF" ls | awk -v u="$LAB_UMID" '$1 == u'; }

step "boot uml-nf"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"
lab_start_umlnf "$UMLNF" "$IMAGE" || die "start"
lab_wait_ready 60 || die "not ready"
read -r pid _ <"$INST/uml-nf.pid" || die "no pid file"
sed 's/^/    info: /' "$INST/uml-nf.info"

step "ls: running, pid $pid, both devices, kernel, uptime"
"$UMLNF" ls | awk -v u="$LAB_UMID" 'NR == 1 || $1 == u' | sed 's/^/    /'
r=$(row)
[ -n "$r" ] || die "ls does not list $LAB_UMID"
set -- $r
[ "$2" = running ] && [ "$3" = "$pid" ] || die "ls row: '$r', want running with pid $pid"
case $r in *"vec0=raw:p-veth0 vec1=raw:p-veth1"*) ;; *) die "ls row lacks the devices: '$r'" ;; esac
kv=$(sed -n 's/^kernel_version=//p' "$INST/uml-nf.info")
[ "$5" = "$kv" ] && [ -n "$kv" ] || die "ls kernel '$5', info says '$kv'"
[ "$(entry state)" = running ] && [ "$(entry pid)" = "$pid" ] || die "ls --json: state $(entry state), pid $(entry pid)"
devs=$(entry devices)
python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert [x["name"] for x in d] == ["vec0", "vec1"], d
assert [x["transport"] for x in d] == ["raw", "raw"], d
assert [x["ifname"] for x in d] == ["p-veth0", "p-veth1"], d
assert all(x["mac"].startswith("02:") and x["socket"].endswith(x["name"] + ".sock") for x in d), d' "$devs" ||
	die "ls --json devices: $devs"
up=$(entry uptime_s)
[ "$up" -ge 0 ] && [ "$up" -lt 120 ] || die "uptime_s $up"
kpath=$(entry kernel)
[ -e "$kpath" ] || die "ls --json kernel '$kpath' does not exist"
echo "    --json: state running, pid $pid, uptime ${up}s, kernel $kpath, devices $devs"

step "kill -9 uml-nf: the entry is stale, never running"
kill -KILL "$pid" || die "kill -9 $pid"
for i in $(seq 50); do _lab_running "$pid" || break; sleep 0.1; done
lab_stop_appliance 5 >/dev/null 2>&1
[ -d "$INST" ] || die "$INST vanished: nothing stale to list (test is void)"
r=$(row)
echo "    $r"
set -- $r
[ "$2" = stale ] && [ "$3" = - ] || die "ls after kill -9: '$r', want stale without a pid"
case $r in *"(uml-nf pid $pid is gone)"*) ;; *) die "stale row does not name pid $pid: '$r'" ;; esac
[ "$(entry state)" = stale ] && [ "$(entry uptime_s)" = None ] || die "ls --json: $(entry state), uptime $(entry uptime_s)"
"$UMLNF" ctl "$LAB_UMID" version 2>"$LAB_DIR/ctl.err"
[ $? -eq 3 ] && grep -q "not running: $INST is stale, left by uml-nf pid $pid" "$LAB_DIR/ctl.err" ||
	die "ctl on a stale umid: $(cat "$LAB_DIR/ctl.err")"
echo "    ctl: $(cat "$LAB_DIR/ctl.err")"

step "restart with the same umid: reclaimed, running with a new pid"
rm -f "$LAB_DIR/root.cow"
lab_start_umlnf "$UMLNF" "$IMAGE" || die "restart"
lab_wait_ready 60 || die "restart not ready"
read -r pid2 _ <"$INST/uml-nf.pid" || die "no pid file"
[ "$pid2" != "$pid" ] || die "the same pid?"
[ "$(entry state)" = running ] && [ "$(entry pid)" = "$pid2" ] || die "after restart: $(row)"
echo "    $(row)"
"$UMLNF" ctl "$LAB_UMID" halt || die "ctl halt"
wait "$LAB_APPLIANCE_PID"
rc=$?
LAB_APPLIANCE_PID=
[ "$rc" -eq 0 ] || die "uml-nf exit status $rc after halt"
[ -z "$(row)" ] || die "ls still lists $LAB_UMID after halt: $(row)"

step "an empty or missing base lists nothing"
mkdir "$LAB_DIR/empty"
[ -z "$(UMLNF_RUNDIR=$LAB_DIR/empty "$UMLNF" ls)" ] || die "ls of an empty base printed something"
[ "$(UMLNF_RUNDIR=$LAB_DIR/empty "$UMLNF" ls --json)" = "[]" ] || die "ls --json of an empty base is not []"
UMLNF_RUNDIR=$LAB_DIR/nowhere "$UMLNF" ls || die "ls of a missing base failed"
"$UMLNF" ls --all 2>/dev/null
[ $? -eq 2 ] || die "ls --all: want usage status 2"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "ls: running appliance with pid, devices, kernel, uptime; stale after kill -9; empty base"
