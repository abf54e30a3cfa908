#!/bin/bash
# Check that a built UML kernel really has every option our fragments ask for.
#
# usage: check-config.sh KERNEL FRAGMENT...
#
# Runs `KERNEL --showconfig` and looks for each `CONFIG_X=y` line of the
# fragments verbatim. Kconfig silently drops options whose dependencies are
# missing, so this is the only way to know a fragment "stuck". Lines in other
# forms (=m, strings, "is not set") are not checked. Exits 1 and lists every
# option that is missing or has another value.
set -euo pipefail

PROG=check-config
die() { echo "$PROG: error: $*" >&2; exit 2; }
[ $# -ge 2 ] || { echo "usage: $0 KERNEL FRAGMENT..." >&2; exit 2; }

kernel=$1
shift
[ -x "$kernel" ] || die "$kernel is not an executable"
config=$("$kernel" --showconfig </dev/null 2>/dev/null) || die "$kernel --showconfig failed"

checked=0
missing=()
for frag in "$@"; do
	[ -f "$frag" ] || die "fragment $frag not found"
	while IFS= read -r line; do
		checked=$((checked + 1))
		opt=${line%%=*}
		grep -qxF "$line" <<<"$config" && continue
		got=$(grep -E "^$opt=|^# $opt is not set" <<<"$config" || true)
		missing+=("$line (kernel has: ${got:-nothing; dependency missing or symbol unknown}) [$(basename "$frag")]")
	done < <(grep -E '^CONFIG_[A-Za-z0-9_]+=y$' "$frag")
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "$PROG: FAILED: ${#missing[@]} of $checked options did not stick in $kernel:" >&2
	printf '    %s\n' "${missing[@]}" >&2
	exit 1
fi
echo "$PROG: ok: all $checked CONFIG_*=y options of $# fragments are set in $kernel"
