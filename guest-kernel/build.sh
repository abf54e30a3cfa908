#!/bin/bash
# Build the NF-tuned uml-nf guest kernel (ARCH=um) from Debian's kernel source.
#
# usage: build.sh [--source PKG] [--jobs N]
#
#   1. the source is /usr/src/PKG.tar.xz from the Debian package PKG
#      (default linux-source-6.12; `make guest-kernel` installs it);
#   2. `make ARCH=um defconfig`, then configs/kernel/*.config merged on top
#      with scripts/kconfig/merge_config.sh -m, then `make olddefconfig`;
#   3. `nice -n 19 make ARCH=um -jN linux` (full log in build.log);
#   4. guest-kernel/check-config.sh verifies every CONFIG_X=y of the fragments.
#
# Everything lives outside the work tree, in a directory keyed by the source
# package version and a hash of the fragments:
#
#   ${UMLNF_CACHE:-~/.cache/uml-nf}/kernel/
#       <pkgversion>-<hash12>/linux      the kernel binary (installed last)
#       <pkgversion>-<hash12>/src/       the configured source tree
#       <pkgversion>-<hash12>/build.log  the kernel build's output
#       current -> <pkgversion>-<hash12>/linux   what uml-nf's gk_find prefers
#
# When the binary already exists the build is skipped (only the check and the
# `current` link are redone), so a second run is a no-op.
#
# Each entry takes about 2 GB (the configured source and its objects, kept
# for quick rebuilds), so older entries are removed: the current one and the
# most recently built other one stay (switching between two fragment sets
# costs nothing); UMLNF_KERNEL_KEEP=all keeps everything.
set -euo pipefail

PROG=guest-kernel
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FRAG_DIR=$ROOT/configs/kernel
CACHE=${UMLNF_CACHE:-${HOME:?HOME not set}/.cache/uml-nf}/kernel

say() { echo "  $PROG: $*"; }
step() { echo "==> $PROG: $*"; }
die() { echo "$PROG: error: $*" >&2; exit 1; }
usage() { echo "usage: $0 [--source PKG] [--jobs N]" >&2; exit 2; }

pkg=linux-source-6.12 jobs=$(nproc)
while [ $# -gt 0 ]; do
	case $1 in
	--source) [ $# -ge 2 ] || usage; pkg=$2; shift 2 ;;
	--jobs) [ $# -ge 2 ] || usage; jobs=$2; shift 2 ;;
	-h|--help) usage ;;
	*) echo "$PROG: unknown argument $1" >&2; usage ;;
	esac
done

pkgver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) ||
	die "Debian package $pkg is not installed (make guest-kernel installs it)"
tarball=/usr/src/$pkg.tar.xz
[ -f "$tarball" ] || die "$tarball missing (reinstall $pkg)"

shopt -s nullglob
frags=("$FRAG_DIR"/*.config)
shopt -u nullglob
[ ${#frags[@]} -gt 0 ] || die "no fragments in $FRAG_DIR"

# The key covers the fragments' names and contents, in merge order.
hash=$(for f in "${frags[@]}"; do echo "== ${f##*/}"; cat "$f"; done | sha256sum | cut -c1-12)
key=${pkgver//[^A-Za-z0-9.+-]/_}-$hash
dir=$CACHE/$key
bin=$dir/linux

mkdir -p "$dir"
# One build per key at a time; a second `make guest-kernel` waits here.
exec 9>"$dir/.lock"
flock -n 9 || { say "another build of $key is running, waiting"; flock 9; }

link_current() {
	ln -sfn "$key/linux" "$CACHE/current.tmp"
	mv -T "$CACHE/current.tmp" "$CACHE/current"
}

# Removes cache entries other than $key and the newest other built one.
# An entry whose lock is held (a build in progress) is left alone.
prune_old() {
	[ "${UMLNF_KERNEL_KEEP:-}" = all ] && return 0
	local d kept=0
	# Newest first, by the entry's modification time (installing its
	# binary is the last change made to it).
	while IFS= read -r d; do
		d=${d%/}
		[ "${d##*/}" = "$key" ] && continue
		[ -e "$d/.lock" ] || continue # not ours
		if [ -x "$d/linux" ] && [ "$kept" = 0 ]; then
			kept=1
			continue
		fi
		if ! flock -n "$d/.lock" true; then
			say "keeping ${d##*/}: a build is running there"
			continue
		fi
		say "removing old cache entry ${d##*/} ($(du -sh "$d" 2>/dev/null | cut -f1))"
		rm -rf "$d"
	done < <(ls -1dt "$CACHE"/*/ 2>/dev/null)
}

if [ -x "$bin" ]; then
	bash "$ROOT/guest-kernel/check-config.sh" "$bin" "${frags[@]}"
	link_current
	prune_old
	say "up to date: $bin ($("$bin" --version 2>/dev/null), from $pkg $pkgver)"
	say "uml-nf uses it via $CACHE/current"
	exit 0
fi

t0=$(date +%s)
src=$dir/src
if [ ! -f "$src/.umlnf-extracted" ]; then
	step "extracting $tarball"
	rm -rf "$src"
	mkdir -p "$src"
	nice -n 19 tar -xf "$tarball" -C "$src" --strip-components=1
	touch "$src/.umlnf-extracted"
fi

kmake() { nice -n 19 make -C "$src" ARCH=um "$@"; }

step "configuring: ARCH=um defconfig + ${#frags[@]} fragments"
kmake -s defconfig
# -m: merge only; olddefconfig then resolves dependencies the kernel's way.
(cd "$src" && ARCH=um scripts/kconfig/merge_config.sh -m .config "${frags[@]}") \
	> "$dir/merge.log" 2>&1 || { cat "$dir/merge.log" >&2; die "merge_config.sh failed"; }
say "$(grep -c '^Value of' "$dir/merge.log" || true) defconfig values overridden (details in $dir/merge.log)"
kmake -s olddefconfig
release=$(kmake -s kernelrelease)

step "building Linux $release (ARCH=um, make -j$jobs, nice 19; log $dir/build.log)"
# The build's own output, summarized: one line per 250 compiled objects plus
# every warning/error line; the full output is in build.log.
set +e
kmake -j"$jobs" linux 2>&1 | tee "$dir/build.log" | awk '
	/^  (CC|AS|AR|LD)/ { n++; if (n % 250 == 0) printf "    ... %d objects (%s)\n", n, $2; fflush() }
	/(warning|error):|Error [0-9]/ { print "    " $0; fflush() }
	END { printf "    %d objects built\n", n }'
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] || { tail -n 30 "$dir/build.log" >&2; die "kernel build failed (log $dir/build.log)"; }

step "checking the configuration"
bash "$ROOT/guest-kernel/check-config.sh" "$src/linux" "${frags[@]}"

# Install last, atomically: $bin existing means "built and checked".
cp "$src/linux" "$bin.tmp"
mv "$bin.tmp" "$bin"
link_current
prune_old
t1=$(date +%s)
say "built $bin ($("$bin" --version 2>/dev/null), $(du -h "$bin" | cut -f1)) in $((t1 - t0)) s"
say "uml-nf uses it via $CACHE/current"
