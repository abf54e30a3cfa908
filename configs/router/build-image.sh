#!/bin/bash
# Build the uml-nf default router image: an ext4 filesystem image holding
# static busybox, configs/router/init as /sbin/init, the default router.conf
# and the virtio_net module chain of every installed UML kernel.
#
# usage: build-image.sh OUT.img [--size 64M] [--modules-dir DIR] [--preset NAME]
#                       [--hostname NAME] [--root-password PASSWORD]
#                       [--base busybox|debian]
#
# --base debian starts the tree from a minimal Debian userland
# (configs/base/debian.sh: mmdebstrap, cached under ~/.cache/uml-nf/base, the
# first build takes minutes and the package mirror; UMLNF_DEBIAN_MIRROR,
# UMLNF_DEBIAN_SUITE and UMLNF_BASE_CACHE are passed on to it) instead of
# busybox alone: busybox applet links are only added where Debian has no
# command of that name, Debian's users and groups stay (root gets the
# password), the firewall preset uses Debian's own nft, and the default size
# is 1G (sparse). Without root the tree is staged under fakeroot so owners and
# device nodes survive into the image.
#
# --hostname overrides the preset's HOSTNAME; --root-password sets root's
# password (SHA-512 crypt via openssl) for a console login; without it root
# has no password and no login is possible (init runs no getty).
#
# Presets: "router" (default) is the above, plus the udhcpc event script
# (configs/router/udhcpc.script as /etc/udhcpc/default.script, for
# IFn_ADDR=dhcp) and, for NAT_OUT, the host's nft (/usr/sbin/nft, Debian
# package nftables) and iptables-legacy (/usr/sbin/xtables-legacy-multi with
# its iptables-legacy* names and the xtables extensions, Debian package
# iptables), each with every shared library ldd lists for it, the dynamic
# loader included, at the same paths (packages installed with apt-get when
# missing and running as root), and the stock kernel's NAT modules.
# "firewall" adds configs/firewall/firewall.nft as /etc/firewall.nft, its
# iptables-legacy twin firewall.iptables as /etc/firewall.iptables, the stock
# kernel's x_tables/conntrack filter modules, and configs/firewall/router.conf
# appended to /etc/router.conf (FIREWALL=/etc/firewall.nft,
# FIREWALL_LEGACY=/etc/firewall.iptables): the tuned kernel loads the nft
# ruleset, the stock one (no nftables inet family) the iptables one.
# "bridge" is an Ethernet bridge of eth0..ethN: nft, configs/bridge/bridge.nft
# as /etc/bridge.nft, configs/bridge/router.conf appended (BRIDGE=br0 ...),
# and the stock kernel's ipv6, llc, stp, bridge and nf_tables modules.
# Modules come with a modules.dep (the stock one, cut down to what the image
# holds) so that init loads them with busybox modprobe.
#
# Needs no root and mounts nothing: the tree is staged in a temp directory and
# turned into a filesystem by "mkfs.ext4 -d". The image is written next to OUT
# and renamed over it only when complete, so OUT is either the old image or
# the new one, never half of one. Running it again rebuilds from scratch.
set -euo pipefail

PROG=build-image
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ARGS=("$@")
BASE_STAGER=$(cd "$SRC_DIR/.." && pwd)/base/debian.sh
BUSYBOX=${BUSYBOX:-/bin/busybox}
# The virtio_net chain in load order, relative to /lib/modules/<ver>/kernel.
MODULES=(net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko)

say() { echo "$PROG: $*"; }
die() { echo "$PROG: error: $*" >&2; exit 1; }
usage() {
	echo "usage: $0 OUT.img [--size 64M] [--modules-dir DIR] [--preset router|firewall|bridge]" \
		"[--hostname NAME] [--root-password PASSWORD] [--base busybox|debian]" >&2
	exit 2
}

out='' size='' base=busybox moddir=/usr/lib/uml/modules preset=router opt_hostname='' root_password=''
have_password=0
while [ $# -gt 0 ]; do
	case $1 in
	--size) [ $# -ge 2 ] || usage; size=$2; shift 2 ;;
	--size=*) size=${1#*=}; shift ;;
	--modules-dir) [ $# -ge 2 ] || usage; moddir=$2; shift 2 ;;
	--modules-dir=*) moddir=${1#*=}; shift ;;
	--preset) [ $# -ge 2 ] || usage; preset=$2; shift 2 ;;
	--preset=*) preset=${1#*=}; shift ;;
	--base) [ $# -ge 2 ] || usage; base=$2; shift 2 ;;
	--base=*) base=${1#*=}; shift ;;
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
router|firewall|bridge) ;;
*) die "unknown preset '$preset' (router, firewall, bridge)" ;;
esac
case $base in
busybox) [ -n "$size" ] || size=64M ;;
debian) [ -n "$size" ] || size=1G ;;
*) die "--base: unknown base '$base' (busybox, debian)" ;;
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
if [ "$preset" = firewall ] && [ "$base" = debian ]; then
	# nft comes with the Debian userland.
	[ -f "$PRESET_DIR/firewall.nft" ] || die "$PRESET_DIR/firewall.nft missing"
	[ -f "$PRESET_DIR/router.conf" ] || die "$PRESET_DIR/router.conf missing"
elif [ "$preset" = firewall ]; then
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

# Netfilter tools from the host (copied into the image unless the base has
# them) and the stock kernel's modules each preset needs, by module name;
# what those need in turn comes from modules.dep.
XTABLES=${XTABLES:-/usr/sbin/xtables-legacy-multi}
XTABLES_LIBDIR=${XTABLES_LIBDIR:-/usr/lib/x86_64-linux-gnu/xtables}
NAT_MODULES=(ip_tables iptable_nat nf_nat xt_MASQUERADE xt_comment)
case $preset in
router)
	preset_tools=("$NFT:nftables" "$XTABLES:iptables")
	preset_files=()
	preset_modules=("${NAT_MODULES[@]}")
	;;
firewall)
	preset_tools=("$NFT:nftables" "$XTABLES:iptables")
	preset_files=(router.conf firewall.nft firewall.iptables)
	preset_modules=("${NAT_MODULES[@]}" iptable_filter nf_conntrack xt_conntrack xt_tcpudp)
	;;
bridge)
	preset_tools=("$NFT:nftables")
	preset_files=(router.conf bridge.nft)
	preset_modules=(ipv6 bridge nf_tables)
	;;
esac
for f in "${preset_files[@]}"; do
	[ -f "$PRESET_DIR/$f" ] || die "$PRESET_DIR/$f missing"
done
[ -f "$SRC_DIR/udhcpc.script" ] || die "$SRC_DIR/udhcpc.script missing"
[ -f "$SRC_DIR/uml-nf-bpfflash" ] || die "$SRC_DIR/uml-nf-bpfflash missing"
for t in "${preset_tools[@]}"; do
	[ -x "${t%%:*}" ] && continue
	[ "$(id -u)" = 0 ] || die "${t%%:*} not found (install ${t#*:}: make deps)"
	say "installing Debian package ${t#*:}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${t#*:}" >/dev/null || die "apt-get install ${t#*:} failed"
	[ -x "${t%%:*}" ] || die "${t%%:*} still missing after installing ${t#*:}"
done
if [[ " ${preset_tools[*]} " == *" $XTABLES:"* ]]; then
	[ -d "$XTABLES_LIBDIR" ] || die "xtables extensions $XTABLES_LIBDIR not found (install iptables)"
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
if [ "$base" = debian ] && [ "$(id -u)" != 0 ] && [ -z "${FAKEROOTKEY:-}" ]; then
	# Unpacking Debian needs owners and device nodes: fake them. The base
	# tarball itself is made first, outside fakeroot (mmdebstrap --mode=unshare).
	command -v fakeroot >/dev/null || die "--base debian without root needs fakeroot"
	bash "$BASE_STAGER" --cache-only >/dev/null || die "no Debian base"
	exec fakeroot -- bash "${BASH_SOURCE[0]}" "${ARGS[@]}"
fi

out_dir=$(dirname "$out")
mkdir -p "$out_dir" || die "cannot create $out_dir"
staging=
tmp_img=
# A failure on a full filesystem (staging tree or image) is named in the
# last line, not only in the failing tool's own message above it.
report_full() {
	local d avail
	for d in "$@"; do
		[ -n "$d" ] && [ -e "$d" ] || continue
		avail=$(df -Pk "$d" 2>/dev/null | awk 'NR == 2 { print $4 }')
		[ -n "$avail" ] && [ "$avail" -lt 16384 ] || continue
		echo "$PROG: error: no space left on the filesystem of $d (${avail} KiB free; a $base image of $size needs up to that much, sparse)" >&2
		break # (not return: bash's return here would end the EXIT trap too)
	done
}
cleanup() {
	local rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 130 ] || report_full "${staging:+$(dirname "$staging")}" "$out_dir"
	[ -z "$staging" ] || rm -rf "$staging"
	[ -z "$tmp_img" ] || rm -f "$tmp_img"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
staging=$(mktemp -d "${TMPDIR:-/tmp}/uml-nf-image.XXXXXX")
tmp_img=$(mktemp "$out_dir/.$(basename "$out").XXXXXX")

say "staging root tree in $staging"
root=$staging
if [ "$base" = debian ]; then
	bash "$BASE_STAGER" "$root" || die "no Debian base"
fi
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
	# On Debian the real command wins wherever it lives (/bin is /usr/bin).
	if [ "$base" = debian ]; then
		for d in bin sbin usr/bin usr/sbin; do
			[ -e "$root/$d/${applet##*/}" ] || [ -L "$root/$d/${applet##*/}" ] && continue 2
		done
	fi
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
if [ "$preset" != router ]; then
	cat "$PRESET_DIR/router.conf" >>"$root/etc/router.conf"
fi
hostname=$(. "$SRC_DIR/router.conf" && echo "${HOSTNAME:-uml-nf-router}")
if [ -n "$opt_hostname" ]; then
	hostname=$opt_hostname
	printf '\n# Set by build-image.sh --hostname.\nHOSTNAME=%s\n' "$hostname" >>"$root/etc/router.conf"
fi
echo "$hostname" >"$root/etc/hostname"
echo '/dev/ubda / ext4 defaults 0 1' >"$root/etc/fstab"
hash='*'
if [ "$have_password" = 1 ]; then
	hash=$(printf '%s\n' "$root_password" | openssl passwd -6 -stdin) || die "openssl passwd failed"
fi
if [ "$base" = debian ]; then
	# Debian's users and groups (tcpdump, _apt, ...) and /etc/profile stay;
	# only root's password field changes. The hash is [A-Za-z0-9./$] only.
	sed -i "s|^root:[^:]*:|root:$hash:|" "$root/etc/shadow" || die "cannot set root's password"
else
	echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
	echo 'root:x:0:' >"$root/etc/group"
	printf 'root:%s:0:0:99999:7:::\n' "$hash" >"$root/etc/shadow"
	chmod 600 "$root/etc/shadow"
	printf 'export PS1='\''\\h:\\w\\$ '\''\n' >"$root/etc/profile"
fi
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
# included), each at its own path in the image, symlinks resolved. A library
# already in the image (copied for another file, or the base's own) stays.
copy_elf() {
	local f=$1 lib libs
	install -D -m 755 "$f" "$root$f"
	libs=$(LC_ALL=C ldd "$f") || die "ldd $f failed"
	grep -q 'not found' <<<"$libs" && die "ldd $f: a library is missing: $libs"
	# "name => /path (addr)", "/path (addr)"; linux-vdso has no path.
	for lib in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$libs"); do
		[ -e "$root$lib" ] && continue
		install -D -m 755 "$(readlink -f "$lib")" "$root$lib" ||
			die "cannot copy $lib"
	done
}

if [ "$preset" = firewall ] && [ "$base" = debian ]; then
	install -m 644 "$PRESET_DIR/firewall.nft" "$root/etc/firewall.nft"
	say "firewall preset: Debian's nft and /etc/firewall.nft"
elif [ "$preset" = firewall ]; then
	copy_elf "$NFT"
	install -m 644 "$PRESET_DIR/firewall.nft" "$root/etc/firewall.nft"
	say "firewall preset: installed $NFT ($(find "$root/lib" "$root/lib64" "$root/usr/lib" \
		-name '*.so*' 2>/dev/null | wc -l) libraries) and /etc/firewall.nft"
fi

# ---- preset tools, files and kernel modules ----
# copy_tool FILE: FILE from the host with its libraries, unless the base
# already has it (a Debian base with the package installed).
copy_tool() {
	if [ -e "$root$1" ]; then
		say "$1: the base's own"
		return 0
	fi
	copy_elf "$1"
}

mkdir -p "$root/run" "$root/etc/udhcpc"
install -m 755 "$SRC_DIR/udhcpc.script" "$root/etc/udhcpc/default.script"
install -D -m 755 "$SRC_DIR/uml-nf-bpfflash" "$root/usr/sbin/uml-nf-bpfflash"
# The root is mounted read-only; DHCP's DNS servers go to the tmpfs on /run.
[ -e "$root/etc/resolv.conf" ] || [ -L "$root/etc/resolv.conf" ] ||
	ln -s ../run/resolv.conf "$root/etc/resolv.conf"
for t in "${preset_tools[@]}"; do
	t=${t%%:*}
	# The firewall preset's block above has copied nft already.
	[ "$t" = "$NFT" ] && [ -e "$root$NFT" ] && continue
	copy_tool "$t"
	if [ "$t" = "$XTABLES" ]; then
		# xtables-legacy-multi acts on the name it is called by.
		for name in iptables-legacy iptables-legacy-restore iptables-legacy-save \
		            ip6tables-legacy ip6tables-legacy-restore ip6tables-legacy-save; do
			[ -e "$root/usr/sbin/$name" ] || ln -s "$(basename "$XTABLES")" "$root/usr/sbin/$name"
		done
		# Every match and target extension (dlopen()ed by name at run time),
		# symlinks kept, with the libraries they need.
		if [ ! -d "$root$XTABLES_LIBDIR" ]; then
			mkdir -p "$root$XTABLES_LIBDIR"
			for so in "$XTABLES_LIBDIR"/*.so; do
				if [ -L "$so" ]; then
					cp -P "$so" "$root$so"
				else
					copy_elf "$so"
				fi
			done
		fi
	fi
done
for f in "${preset_files[@]}"; do
	case $f in
	router.conf) ;;
	*) install -m 644 "$PRESET_DIR/$f" "$root/etc/$f" ;;
	esac
done
say "$preset preset: tools ${preset_tools[*]%%:*}, files ${preset_files[*]:-none}"

# The preset's modules and their dependencies, for every kernel that has a
# modules.dep, and a modules.dep of what the image holds (virtio_net chain
# included) for busybox modprobe.
for vdir in "$moddir"/*/; do
	ver=$(basename "$vdir")
	[ -f "$vdir/modules.dep" ] || continue
	[ "${#preset_modules[@]}" -gt 0 ] || break
	declare -A dep_of=() want=()
	# "kernel/a/b.ko: kernel/c.ko kernel/d.ko": the dependencies are listed
	# in full (transitively), so one lookup per module is enough.
	while IFS= read -r line; do
		path=${line%%:*}
		dep_of[$(basename "$path" .ko)]="$path ${line#*:}"
	done <"$vdir/modules.dep"
	for m in "${preset_modules[@]}"; do
		[ -n "${dep_of[$m]:-}" ] || die "module $m not in $vdir/modules.dep"
		for path in ${dep_of[$m]}; do want[$path]=1; done
	done
	for rel in "${MODULES[@]}"; do want[kernel/$rel]=1; done
	for path in "${!want[@]}"; do
		[ -f "$vdir/$path" ] || die "$vdir/$path missing"
		install -D -m 644 "$vdir/$path" "$root/lib/modules/$ver/$path"
	done
	while IFS= read -r line; do
		if [ -n "${want[${line%%:*}]:-}" ]; then echo "$line"; fi
	done <"$vdir/modules.dep" >"$root/lib/modules/$ver/modules.dep"
	# kmod's modprobe (a Debian base) reads the binary indexes; busybox's
	# the text file above, which depmod rewrites the same.
	depmod=$(PATH=$PATH:/sbin:/usr/sbin command -v depmod || true)
	if [ -n "$depmod" ]; then
		"$depmod" -b "$root" "$ver" || die "depmod -b $root $ver failed"
	fi
	say "kernel $ver: ${#want[@]} modules for ${preset_modules[*]} (with dependencies and virtio_net)"
	unset dep_of want
done

say "creating ext4 image ($size)"
mkfs.ext4 -q -F -d "$root" -L router -E root_owner=0:0 "$tmp_img" "$size" ||
	die "mkfs.ext4 failed"
chmod 644 "$tmp_img"
mv -f "$tmp_img" "$out" || die "cannot rename image to $out"
tmp_img=
say "wrote $out"
