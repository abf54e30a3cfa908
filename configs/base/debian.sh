#!/bin/bash
# Debian base for uml-nf images: a minimal Debian root (mmdebstrap, variant
# minbase) plus the appliance's userland, cached as a tarball so that only
# the first image build talks to the package mirror.
#
# usage: debian.sh STAGING_DIR [--mirror URL] [--suite SUITE] [--cache DIR]
#        debian.sh --cache-only [--mirror URL] [--suite SUITE] [--cache DIR]
#
# STAGING_DIR (created if missing, must be empty) receives the tree, owners
# and modes as in the tarball. --cache-only makes sure the tarball exists and
# prints its path, nothing else on stdout.
#
# Defaults come from the environment: UMLNF_DEBIAN_MIRROR
# (http://deb.debian.org/debian), UMLNF_DEBIAN_SUITE (bookworm),
# UMLNF_BASE_CACHE (${XDG_CACHE_HOME:-~/.cache}/uml-nf/base).
#
# The tarball is DIR/debian-SUITE-HASH.tar, HASH covering the suite, the
# variant, the package list and this script (any change here rebuilds it; the
# mirror is not part of it: every mirror serves the same suite). It is written
# under a temporary name and renamed when complete, under a lock, so a failed
# or concurrent run never leaves or uses half of one. Documentation, manual
# pages, locales and apt's lists and caches are left out (dpkg path-exclude,
# kept in the tree for later installs), copyright files stay.
#
# As root mmdebstrap runs in --mode=root; otherwise in --mode=unshare, which
# needs unprivileged user namespaces and a subordinate id range (/etc/subuid)
# for the invoking user. mmdebstrap is installed with apt-get when missing and
# running as root.
set -euo pipefail

PROG=debian-base
VARIANT=minbase
# What the appliance runs on top of minbase. busybox-static gives init the
# same applets as on the busybox base (udhcpc, cttyhack, ...); iptables is
# the legacy fallback init uses on kernels without nftables' inet family.
PACKAGES=(nftables iptables iproute2 ethtool tcpdump iperf3 iputils-ping busybox-static kmod procps)

# Progress goes to stdout, except with --cache-only, whose stdout is the path.
say() { if [ "$cache_only" = 1 ]; then echo "$PROG: $*" >&2; else echo "$PROG: $*"; fi; }
die() { echo "$PROG: error: $*" >&2; exit 1; }
usage() {
	echo "usage: $0 STAGING_DIR|--cache-only [--mirror URL] [--suite SUITE] [--cache DIR]" >&2
	exit 2
}

mirror=${UMLNF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${UMLNF_DEBIAN_SUITE:-bookworm}
cache=${UMLNF_BASE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/uml-nf/base}
dest='' cache_only=0
while [ $# -gt 0 ]; do
	case $1 in
	--mirror) [ $# -ge 2 ] || usage; mirror=$2; shift 2 ;;
	--mirror=*) mirror=${1#*=}; shift ;;
	--suite) [ $# -ge 2 ] || usage; suite=$2; shift 2 ;;
	--suite=*) suite=${1#*=}; shift ;;
	--cache) [ $# -ge 2 ] || usage; cache=$2; shift 2 ;;
	--cache=*) cache=${1#*=}; shift ;;
	--cache-only) cache_only=1; shift ;;
	-h|--help) usage ;;
	-*) echo "$PROG: unknown option $1" >&2; usage ;;
	*) [ -z "$dest" ] || usage; dest=$1; shift ;;
	esac
done
[ "$cache_only" = 1 ] || [ -n "$dest" ] || usage
[[ $suite =~ ^[a-z][a-z0-9-]*$ ]] || die "--suite: '$suite' is not a suite name"
case $mirror in
http://*|https://*|file:/*) ;;
*) die "--mirror: '$mirror' is not an http://, https:// or file:/ URL" ;;
esac
if [ -n "$dest" ] && [ -e "$dest" ] && [ -n "$(ls -A "$dest")" ]; then
	die "staging directory $dest is not empty"
fi

hash=$( { printf '%s\n' "$suite" "$VARIANT" "${PACKAGES[@]}"; cat "${BASH_SOURCE[0]}"; } |
	sha256sum | cut -c1-12)
tarball=$cache/debian-$suite-$hash.tar

# build_tarball: mmdebstrap into $tarball.tmp.PID, renamed when complete.
build_tarball() {
	local mode tmp start pkgs
	if ! command -v mmdebstrap >/dev/null; then
		[ "$(id -u)" = 0 ] || die "mmdebstrap not found (apt-get install mmdebstrap)"
		say "installing Debian package mmdebstrap"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			mmdebstrap >/dev/null || die "apt-get install mmdebstrap failed"
	fi
	if [ "$(id -u)" = 0 ]; then
		mode=root
	else
		mode=unshare
		command -v newuidmap >/dev/null && grep -q "^$(id -un):" /etc/subuid 2>/dev/null ||
			die "without root, mmdebstrap --mode=unshare needs newuidmap (package uidmap)" \
				"and a range for $(id -un) in /etc/subuid (or UMLNF_BASE_CACHE" \
				"naming a cache built by root)"
	fi
	tmp=$tarball.tmp.$$
	# shellcheck disable=SC2064 # expand now: the path is fixed
	trap "rm -f '$tmp'" EXIT
	trap 'exit 130' INT TERM
	pkgs=$(IFS=,; echo "${PACKAGES[*]}")
	say "building $suite ($VARIANT + ${PACKAGES[*]}) from $mirror, mode $mode;" \
		"takes a few minutes, once"
	start=$(date +%s)
	# Hooks run on the host with the root as $1. mmdebstrap also writes the
	# dpkg options to /etc/dpkg/dpkg.cfg.d/99mmdebstrap in the tree, so the
	# excludes hold for anything installed in the image later.
	mmdebstrap --mode="$mode" --variant="$VARIANT" --format=tar \
		--include="$pkgs" \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-include=/usr/share/locale/locale.alias' \
		--dpkgopt='path-exclude=/usr/share/lintian/*' \
		--aptopt='Acquire::Retries "2"' \
		--customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/apt/* "$1"/var/cache/debconf/*-old' \
		--customize-hook='rm -f "$1"/etc/machine-id "$1"/var/lib/dbus/machine-id "$1"/etc/resolv.conf' \
		"$suite" "$tmp" "$mirror" </dev/null ||
		die "mmdebstrap failed (mirror $mirror reachable? see the lines above)"
	mv -f "$tmp" "$tarball" || die "cannot rename $tmp to $tarball"
	trap - EXIT
	# Older bases of this suite (other package lists or script versions).
	find "$cache" -maxdepth 1 -name "debian-$suite-*.tar" ! -name "${tarball##*/}" -delete
	say "cached $tarball ($(du -m "$tarball" | cut -f1) MB) in $(( $(date +%s) - start )) s"
}

mkdir -p "$cache" || die "cannot create cache directory $cache"
# One builder at a time per cache; the others wait and then reuse its result.
exec 9>"$cache/.lock"
flock 9 || die "cannot lock $cache/.lock"
if [ -f "$tarball" ]; then
	say "using cached $tarball"
else
	build_tarball
fi

if [ "$cache_only" = 1 ]; then
	echo "$tarball"
	exit 0
fi
mkdir -p "$dest" || die "cannot create $dest"
say "unpacking into $dest"
# Owners by number: the host's names may map to other ids than the guest's.
tar -x -f "$tarball" -C "$dest" --numeric-owner ||
	die "cannot unpack $tarball into $dest"
