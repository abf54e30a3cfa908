#!/bin/bash
# Runs every tests/integration/NN-*.sh in order, each under a timeout, one line
# per test, then "N passed, N failed, N skipped (M partly)" and every skip
# reason; non-zero if any failed. With arguments, only the tests whose number
# is given: run.sh 25 31
#
# A test reports skips, never hiding them in a pass (tests/lib.sh):
#   exit 77 + "SKIP: REASON"   skipped entirely: "SKIP name: REASON"
#   exit 0 + "SKIP: REASON" lines   passed what it could check:
#                              "PASS name 12s (2 checks skipped: R1; R2)",
#                              counted as skipped (partly), not as passed
#
# env: UMLNF (default build/uml-nf), IMAGE (default build/images/router.img),
#      FIREWALL_IMAGE (default build/images/firewall.img),
#      TEST_TIMEOUT seconds per test (default 300), VERBOSE=1 to show output
#      of passing tests too (failing tests always show their output),
#      UMLNF_REQUIRE_TUNED=1: a missing tuned kernel fails instead of skipping
#      (make test sets it after building the kernel).
set -u
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$dir/../.." && pwd)
# Relative paths given by the caller are taken from the caller's directory;
# the defaults from the repository root, where the tests then run.
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
if [ -n "${UMLNF:-}" ]; then UMLNF=$(abs "$UMLNF"); else UMLNF=$root/build/uml-nf; fi
if [ -n "${IMAGE:-}" ]; then IMAGE=$(abs "$IMAGE"); else IMAGE=$root/build/images/router.img; fi
if [ -n "${FIREWALL_IMAGE:-}" ]; then FIREWALL_IMAGE=$(abs "$FIREWALL_IMAGE")
else FIREWALL_IMAGE=$root/build/images/firewall.img; fi
export UMLNF IMAGE FIREWALL_IMAGE
cd "$root" || exit 1
TEST_TIMEOUT=${TEST_TIMEOUT:-300}

passed=0 failed=0 skipped=0 partly=0
reasons=()
logdir=$(mktemp -d "${TMPDIR:-/tmp}/uml-nf-itest.XXXXXX") || exit 1
trap 'rm -rf "$logdir"' EXIT

for n in "$@"; do
	case $n in [0-9][0-9]) ;; *) echo "run.sh: '$n' is not a test number (NN)" >&2; exit 2 ;; esac
	[ -n "$(ls "$dir/$n"-*.sh 2>/dev/null)" ] || { echo "run.sh: no test $n" >&2; exit 2; }
done
for t in "$dir"/[0-9][0-9]-*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	if [ $# -gt 0 ]; then
		case " $* " in *" ${name%%-*} "*) ;; *) continue ;; esac
	fi
	start=$(date +%s)
	# -k: a test that ignores SIGTERM gets SIGKILL 30 s later.
	timeout -k 30 "$TEST_TIMEOUT" bash "$t" </dev/null >"$logdir/$name.log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	# Lines "SKIP: reason" (skip_check), or "SKIP (...): reason".
	mapfile -t skips < <(sed -n 's/^SKIP\( ([^)]*)\)\{0,1\}: //p' "$logdir/$name.log")
	why=$(printf '%s; ' "${skips[@]}")
	why=${why%; }
	for r in "${skips[@]}"; do reasons+=("$name: $r"); done
	if [ "$rc" -eq 77 ]; then
		skipped=$((skipped + 1))
		[ "${#skips[@]}" -gt 0 ] || { why="(no reason given)"; reasons+=("$name: $why"); }
		echo "SKIP $name: $why"
		[ "${VERBOSE:-0}" = 1 ] && sed 's/^/    /' "$logdir/$name.log"
	elif [ "$rc" -eq 0 ] && [ "${#skips[@]}" -gt 0 ]; then
		skipped=$((skipped + 1)) partly=$((partly + 1))
		n=${#skips[@]}
		[ "$n" -eq 1 ] && what="1 check skipped" || what="$n checks skipped"
		echo "PASS $name ${secs}s ($what: $why)"
		[ "${VERBOSE:-0}" = 1 ] && sed 's/^/    /' "$logdir/$name.log"
	elif [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "PASS $name ${secs}s"
		[ "${VERBOSE:-0}" = 1 ] && sed 's/^/    /' "$logdir/$name.log"
	else
		failed=$((failed + 1))
		[ "$rc" -eq 124 ] && why=" (timeout ${TEST_TIMEOUT}s)" || why=" (exit $rc)"
		echo "FAIL $name ${secs}s$why"
		sed 's/^/    /' "$logdir/$name.log"
	fi
done
echo "$passed passed, $failed failed, $skipped skipped ($partly partly)"
if [ "${#reasons[@]}" -gt 0 ]; then
	echo "skipped:"
	printf '  %s\n' "${reasons[@]}"
fi
[ "$failed" -eq 0 ]
