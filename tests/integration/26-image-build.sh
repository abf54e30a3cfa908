#!/bin/bash
# Proves `uml-nf image build` makes images without root tricks or mounts, applies --hostname/--root-password, and refuses bad input leaving no file.
# How: build router, firewall and bridge images into a temp dir, read them back with debugfs; bad preset/base/hostname/size must fail with no image left behind.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

UMLNF=${UMLNF:-build/uml-nf}
[ -x "$UMLNF" ] || { fail "uml-nf $UMLNF not built"; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/uml-nf-img.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
die() { fail "$*"; exit 1; }
img_cat() { debugfs -R "cat $2" "$1" 2>/dev/null; }

step "router image with a host name and a root password"
"$UMLNF" image build router -o "$dir/r.img" --hostname edge-1 --root-password 'pw 1' --size 48M \
	>"$dir/build.log" 2>&1 || { cat "$dir/build.log"; die "image build router"; }
[ "$(stat -c %s "$dir/r.img")" -eq $((48 << 20)) ] || die "size is not 48M"
[ "$(du -k "$dir/r.img" | cut -f1)" -lt $((48 << 10)) ] || die "image is not sparse"
[ "$(img_cat "$dir/r.img" /etc/hostname)" = edge-1 ] || die "hostname not applied"
img_cat "$dir/r.img" /etc/router.conf | grep -q '^HOSTNAME=edge-1$' || die "router.conf lacks HOSTNAME"
img_cat "$dir/r.img" /etc/shadow | grep -q '^root:\$6\$' || die "no SHA-512 root password"
img_cat "$dir/r.img" /etc/fstab | grep -q '^/dev/ubda / ext4' || die "fstab"
debugfs -R 'stat /sbin/init' "$dir/r.img" 2>/dev/null | grep -q 'Mode:  0755' || die "no /sbin/init"

step "firewall image carries nft and its ruleset"
"$UMLNF" image build firewall -o "$dir/f.img" >"$dir/build.log" 2>&1 ||
	{ cat "$dir/build.log"; die "image build firewall"; }
img_cat "$dir/f.img" /etc/firewall.nft | grep -q 'table inet filter' || die "no ruleset"
debugfs -R 'stat /usr/sbin/nft' "$dir/f.img" 2>/dev/null | grep -q 'Type: regular' || die "no nft"
img_cat "$dir/f.img" /etc/shadow | grep -q '^root:\*:' || die "root must have no password by default"
img_cat "$dir/f.img" /etc/firewall.iptables | grep -q '^\*filter' || die "no iptables-legacy ruleset"
img_cat "$dir/f.img" /etc/router.conf | grep -q '^FIREWALL_LEGACY=/etc/firewall.iptables$' ||
	die "router.conf lacks FIREWALL_LEGACY"
debugfs -R 'stat /usr/sbin/iptables-legacy-restore' "$dir/f.img" 2>/dev/null | grep -q 'Type: symlink' ||
	die "no iptables-legacy-restore"
img_cat "$dir/f.img" /usr/lib/x86_64-linux-gnu/xtables/libxt_conntrack.so | head -c 4 | grep -q ELF ||
	die "no xtables extensions"

step "bridge image carries nft, its ruleset and the stock kernel's bridge modules"
"$UMLNF" image build bridge -o "$dir/b.img" >"$dir/build.log" 2>&1 ||
	{ cat "$dir/build.log"; die "image build bridge"; }
img_cat "$dir/b.img" /etc/bridge.nft | grep -q 'table bridge filter' || die "no bridge ruleset"
img_cat "$dir/b.img" /etc/router.conf | grep -q '^BRIDGE=br0$' || die "router.conf lacks BRIDGE=br0"
debugfs -R 'stat /usr/sbin/nft' "$dir/b.img" 2>/dev/null | grep -q 'Type: regular' || die "no nft"
for v in /usr/lib/uml/modules/*/; do
	v=$(basename "$v")
	img_cat "$dir/b.img" "/lib/modules/$v/modules.dep" | grep -q '^kernel/net/bridge/bridge.ko: ' ||
		die "no bridge.ko in the image's modules.dep for $v"
done

step "bad input: exit status, message, nothing left behind"
check_bad() {
	local want=$1 msg=$2 out=$dir/bad.img rc
	shift 2
	"$UMLNF" image build "$@" -o "$out" >"$dir/bad.log" 2>&1
	rc=$?
	[ "$rc" -eq "$want" ] || { cat "$dir/bad.log"; die "$*: status $rc, want $want"; }
	grep -q -- "$msg" "$dir/bad.log" || { cat "$dir/bad.log"; die "$*: message lacks '$msg'"; }
	[ ! -e "$out" ] || die "$*: left $out behind"
	[ -z "$(find "$dir" -name '.bad.img.*')" ] || die "$*: left a temporary image"
	echo "    ok: $* -> $rc"
}
check_bad 2 'unknown preset' nope
check_bad 2 'unknown base' router --base ubuntu
check_bad 1 'not a valid host name' router --hostname 'two words'
check_bad 1 'mkfs.ext4 failed' router --size 1M
pass "image build: presets, options and refusals"
