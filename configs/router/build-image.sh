#!/bin/bash
# Build the uml-nf default router image: an ext4 filesystem image holding
# static busybox, configs/router/init as /sbin/init, the default router.conf
# and the virtio_net module chain of every installed UML kernel.
#
# usage: build-image.sh OUT.img [--size 64M] [--modules-dir DIR] [--preset NAME]
#                       [--hostname NAME] [--root-password PASSWORD]
#
# --hostname overrides the preset's HOSTNAME; --root-password sets root's
# password (SHA-512 crypt via openssl) for a console login; without it root
# has no password and no login is possible (init runs no getty).
#
# Presets: "router" (default) is the above. "firewall" adds the host's nft
# (/usr/sbin/nft, Debian package nftables, installed with apt-get when
# missing and running as root) with every shared library ldd lists for it,
# the dynamic loader included, at the same paths; configs/firewall/firewall.nft
# as /etc/firewall.nft; and configs/firewall/router.conf appended to
# /etc/router.conf (FIREWALL=/etc/firewall.nft). The ruleset needs a guest
# kernel with nftables (the tuned one from `make guest-kernel`).
#
# Needs no root and mounts nothing: the tree is staged in a temp directory and
# turned into a filesystem by "mkfs.ext4 -d". The image is written next to OUT
# and renamed over it only when complete, so OUT is either the old image or
# the new one, never half of one. Running it again rebuilds from scratch.
set -euo pipefail

PROG=build-image
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUSYBOX=${BUSYBOX:-/bin/busybox}
# The virtio_net chain in load order, relative to /lib/modules/<ver>/kernel.
MODULES=(net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko)

say() { echo "$PROG: $*"; }
die() { echo "$PROG: error: $*" >&2; exit 1; }
usage() {
	echo "usage: $0 OUT.img [--size 64M] [--modules-dir DIR] [--preset router|firewall]" \
		"[--hostname NAME] [--root-password PASSWORD]" >&2
	exit 2
}

out='' size=64M moddir=/usr/lib/uml/modules preset=router opt_hostname='' root_password=''
have_password=0
while [ $# -gt 0 ]; do
	case $1 in
	--size) [ $# -ge 2 ] || usage; size=$2; shift 2 ;;
	--size=*) size=${1#*=}; shift ;;
	--modules-dir) [ $# -ge 2 ] || usage; moddir=$2; shift 2 ;;
	--modules-dir=*) moddir=${1#*=}; shift ;;
	--preset) [ $# -ge 2 ] || usage; preset=$2; shift 2 ;;
	--preset=*) preset=${1#*=}; shift ;;
	--hostname) [ $# -ge 2 ] || usage; opt_hostname=$2; shift 2 ;;
	--hostname=*) opt_hostname=${1#*=}; shift ;;
	--root-password) [ $# -ge 2 ] || usage; root_password=$2; have_password=1; shift 2 ;;
	--root-password=*) root_password=${1#*=}; have_password=1; shift ;;
	-h|--help) usage ;;
	-*) echo "$PROG: unknown option $1" >&2; usage ;;
	*) [ -z "$out" ] || usage; out=$1; shift ;;
	esac
done
[ -n "$out" ] || usage
case $preset in
router|firewall) ;;
*) die "unknown preset '$preset' (router, firewall)" ;;
esac
if [ -n "$opt_hostname" ]; then
	# A hostname label list: letters, digits, '-' and '.', at most 64 characters.
	[[ $opt_hostname =~ ^[A-Za-z0-9]([A-Za-z0-9.-]{0,62}[A-Za-z0-9])?$ ]] ||
		die "--hostname: '$opt_hostname' is not a valid host name"
fi
if [ "$have_password" = 1 ]; then
	[ -n "$root_password" ] || die "--root-password: empty password"
	command -v openssl >/dev/null || die "--root-password needs openssl"
fi
PRESET_DIR=$(cd "$SRC_DIR/.." && pwd)/$preset
NFT=${NFT:-/usr/sbin/nft}
if [ "$preset" = firewall ]; then
	[ -f "$PRESET_DIR/firewall.nft" ] || die "$PRESET_DIR/firewall.nft missing"
	[ -f "$PRESET_DIR/router.conf" ] || die "$PRESET_DIR/router.conf missing"
	if [ ! -x "$NFT" ]; then
		[ "$(id -u)" = 0 ] || die "$NFT not found (install nftables: make deps)"
		say "installing Debian package nftables"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			nftables >/dev/null || die "apt-get install nftables failed"
		[ -x "$NFT" ] || die "$NFT still missing after installing nftables"
	fi
fi

command -v mkfs.ext4 >/dev/null || PATH=$PATH:/sbin:/usr/sbin
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 not found (install e2fsprogs)"
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found (install busybox-static)"
file_info=$(LC_ALL=C od -An -c -N4 "$BUSYBOX" | tr -d ' ')
[ "$file_info" = '177ELF' ] || die "$BUSYBOX is not an ELF binary"
# A dynamically linked busybox would need a libc in the image.
if LC_ALL=C readelf -l "$BUSYBOX" 2>/dev/null | grep -q 'INTERP'; then
	die "$BUSYBOX is dynamically linked (install busybox-static)"
fi
[ -f "$SRC_DIR/init" ] || die "$SRC_DIR/init missing"
[ -f "$SRC_DIR/router.conf" ] || die "$SRC_DIR/router.conf missing"
[ -d "$moddir" ] || die "modules directory $moddir not found (install user-mode-linux)"

out_dir=$(dirname "$out")
mkdir -p "$out_dir" || die "cannot create $out_dir"
staging=
tmp_img=
cleanup() {
	[ -z "$staging" ] || rm -rf "$staging"
	[ -z "$tmp_img" ] || rm -f "$tmp_img"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
staging=$(mktemp -d "${TMPDIR:-/tmp}/uml-nf-image.XXXXXX")
tmp_img=$(mktemp "$out_dir/.$(basename "$out").XXXXXX")

say "staging root tree in $staging"
root=$staging
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,tmp,root,mnt/nfconf,lib/modules}
chmod 1777 "$root/tmp"
chmod 700 "$root/root"

cp "$BUSYBOX" "$root/bin/busybox"
chmod 755 "$root/bin/busybox"
n=0
while read -r applet; do
	case $applet in
	""|bin/busybox|sbin/init) continue ;;
	esac
	mkdir -p "$root/$(dirname "$applet")"
	ln -sf /bin/busybox "$root/$applet"
	n=$((n + 1))
done < <("$BUSYBOX" --list-full)
[ "$n" -gt 0 ] || die "busybox --list-full listed no applets"
say "installed busybox with $n applet links"

install -m 755 "$SRC_DIR/init" "$root/sbin/init"
# busybox poweroff/halt/reboot without -f signal a busybox init, which PID 1
# here is not; -f goes straight to the reboot syscall.
for cmd in poweroff halt reboot; do
	rm -f "$root/sbin/$cmd"
	printf '#!/bin/sh\nexec /bin/busybox %s -f "$@"\n' "$cmd" >"$root/sbin/$cmd"
	chmod 755 "$root/sbin/$cmd"
done
install -m 644 "$SRC_DIR/router.conf" "$root/etc/router.conf"
if [ "$preset" = firewall ]; then
	cat "$PRESET_DIR/router.conf" >>"$root/etc/router.conf"
fi
hostname=$(. "$SRC_DIR/router.conf" && echo "${HOSTNAME:-uml-nf-router}")
if [ -n "$opt_hostname" ]; then
	hostname=$opt_hostname
	printf '\n# Set by build-image.sh --hostname.\nHOSTNAME=%s\n' "$hostname" >>"$root/etc/router.conf"
fi
echo "$hostname" >"$root/etc/hostname"
echo '/dev/ubda / ext4 defaults 0 1' >"$root/etc/fstab"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
if [ "$have_password" = 1 ]; then
	hash=$(printf '%s\n' "$root_password" | openssl passwd -6 -stdin) || die "openssl passwd failed"
	printf 'root:%s:0:0:99999:7:::\n' "$hash" >"$root/etc/shadow"
else
	echo 'root:*:0:0:99999:7:::' >"$root/etc/shadow"
fi
chmod 600 "$root/etc/shadow"
printf 'export PS1='\''\\h:\\w\\$ '\''\n' >"$root/etc/profile"
say "installed /sbin/init, /etc/router.conf (hostname $hostname)"

nver=0
for vdir in "$moddir"/*/; do
	[ -d "$vdir/kernel" ] || continue
	ver=$(basename "$vdir")
	for rel in "${MODULES[@]}"; do
		[ -f "$vdir/kernel/$rel" ] || die "$vdir/kernel/$rel missing"
		install -D -m 644 "$vdir/kernel/$rel" "$root/lib/modules/$ver/kernel/$rel"
	done
	say "copied virtio_net module chain for kernel $ver"
	nver=$((nver + 1))
done
[ "$nver" -gt 0 ] || die "no kernel module trees under $moddir"

# copy_elf FILE: FILE and every library ldd lists for it (the dynamic loader
# included), each at its own path in the image, symlinks resolved.
copy_elf() {
	local f=$1 lib libs
	install -D -m 755 "$f" "$root$f"
	libs=$(LC_ALL=C ldd "$f") || die "ldd $f failed"
	grep -q 'not found' <<<"$libs" && die "ldd $f: a library is missing: $libs"
	# "name => /path (addr)", "/path (addr)"; linux-vdso has no path.
	for lib in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$libs"); do
		install -D -m 755 "$(readlink -f "$lib")" "$root$lib" ||
			die "cannot copy $lib"
	done
}

if [ "$preset" = firewall ]; then
	copy_elf "$NFT"
	install -m 644 "$PRESET_DIR/firewall.nft" "$root/etc/firewall.nft"
	say "firewall preset: installed $NFT ($(find "$root/lib" "$root/lib64" "$root/usr/lib" \
		-name '*.so*' 2>/dev/null | wc -l) libraries) and /etc/firewall.nft"
fi

say "creating ext4 image ($size)"
mkfs.ext4 -q -F -d "$root" -L router -E root_owner=0:0 "$tmp_img" "$size" ||
	die "mkfs.ext4 failed"
chmod 644 "$tmp_img"
mv -f "$tmp_img" "$out" || die "cannot rename image to $out"
tmp_img=
say "wrote $out"
