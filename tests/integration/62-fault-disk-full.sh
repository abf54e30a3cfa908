#!/bin/bash
# Proves a full disk while building an image ends with a clear error naming the cause, a non-zero exit, and nothing left behind: no image, no temporary image, no staging tree.
# How: in a private mount namespace (unshare -m), small tmpfs mounts as the output directory (2 MiB: the image cannot be written) and then as TMPDIR (1 MiB: the staging tree cannot be made); `uml-nf image build router` into each; the host's mounts are never touched.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

UMLNF=${UMLNF:-build/uml-nf}
[ -x "$UMLNF" ] || { fail "uml-nf $UMLNF not built"; exit 1; }
command -v unshare >/dev/null || skip_test "no unshare(1)"
UMLNF=$(readlink -f "$UMLNF")
dir=$(mktemp -d "${TMPDIR:-/tmp}/uml-nf-full.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
die() { fail "$*"; exit 1; }
mkdir -p "$dir/out" "$dir/tmp" "$dir/big"

# Runs "$@" in a private mount namespace with tmpfs of SIZE on MOUNTPOINT.
with_tiny_fs() { # SIZE MOUNTPOINT CMD...
	local size=$1 mnt=$2
	shift 2
	timeout 120 unshare -m --propagation private sh -c \
		'mount -t tmpfs -o size="$1" tmpfs "$2" && shift 2 && exec "$@"' sh "$size" "$mnt" "$@"
}

step "output directory on a 2 MiB filesystem"
with_tiny_fs 2M "$dir/out" env TMPDIR="$dir/big" "$UMLNF" image build router \
	-o "$dir/out/r.img" >"$dir/out.log" 2>&1
rc=$?
sed 's/^/    /' "$dir/out.log" | tail -3
[ "$rc" -ne 0 ] || die "image build succeeded on a full disk"
tail -n 1 "$dir/out.log" | grep -q "error: no space left on the filesystem of $dir/out" || die "the last line does not name the full filesystem"
[ -z "$(ls -A "$dir/big")" ] || die "staging left in TMPDIR: $(ls -A "$dir/big")"
# The tmpfs is gone with the namespace; what counts is that the builder
# cleaned up before exiting: check inside a namespace that keeps it.
with_tiny_fs 2M "$dir/out" sh -c '
	TMPDIR="$3" "$1" image build router -o "$2/r.img" >/dev/null 2>&1
	ls -A "$2"' sh "$UMLNF" "$dir/out" "$dir/big" >"$dir/left.txt" 2>&1
[ ! -s "$dir/left.txt" ] || die "left in the output directory: $(cat "$dir/left.txt")"

step "staging directory (TMPDIR) on a 1 MiB filesystem"
with_tiny_fs 1M "$dir/tmp" sh -c '
	TMPDIR="$2" "$1" image build router -o "$3/r.img" >"$3/tmp.log" 2>&1; rc=$?
	echo "rc=$rc left=$(ls -A "$2" | tr "\n" " ")"' sh "$UMLNF" "$dir/tmp" "$dir/big" \
	>"$dir/tmp.txt" 2>&1
cat "$dir/tmp.txt" | sed 's/^/    /'
tail -2 "$dir/big/tmp.log" | sed 's/^/    /'
grep -q '^rc=0 ' "$dir/tmp.txt" && die "image build succeeded with a full TMPDIR"
grep -q 'left= *$' "$dir/tmp.txt" || die "staging left behind in TMPDIR"
tail -n 1 "$dir/big/tmp.log" | grep -q "error: no space left on the filesystem of $dir/tmp" || die "the last line does not name the full filesystem"
[ ! -e "$dir/big/r.img" ] || die "an image was left behind"
ls -A "$dir/big" | grep -q '^\.r\.img' && die "a temporary image was left behind"

pass "full disks: clear errors, non-zero exits, nothing left behind"
