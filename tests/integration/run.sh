#!/bin/bash
# Runs every tests/integration/NN-*.sh in order, each under a timeout, one
# PASS/FAIL line per test, then "N passed, N failed"; non-zero if any failed.
# With arguments, only the tests whose number is given: run.sh 25 31
#
# env: UMLNF (default build/uml-nf), IMAGE (default build/images/router.img),
#      FIREWALL_IMAGE (default build/images/firewall.img),
#      TEST_TIMEOUT seconds per test (default 300), VERBOSE=1 to show output
#      of passing tests too (failing tests always show their output).
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

passed=0 failed=0
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
	if [ "$rc" -eq 0 ]; then
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
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
