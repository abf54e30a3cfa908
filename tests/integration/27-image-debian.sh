#!/bin/bash
# Proves `--base debian` images: router and firewall presets build on a cached Debian userland, boot under uml-nf and do their job; a bad base or an unreachable mirror fails leaving nothing.
# How (only with UMLNF_TEST_DEBIAN=1: minutes and the package mirror): build both presets (timed, first and cached), debugfs checks, lab boots on the stock and tuned kernels with ping + iperf3, firewall drops a new server->client TCP connect.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

if [ "${UMLNF_TEST_DEBIAN:-0}" != 1 ]; then
	skip_test "opt-in: Debian-base images need minutes and the package mirror;" \
		"run with UMLNF_TEST_DEBIAN=1 (or make test-debian)"
fi
UMLNF=${UMLNF:-build/uml-nf}
[ -x "$UMLNF" ] || { fail "uml-nf $UMLNF not built (make)"; exit 1; }
STOCK=${UMLNF_STOCK_KERNEL:-/usr/bin/linux.uml}
TUNED=$(lab_tuned_kernel)
lab_init debian27 || exit 1
img=$LAB_DIR/img
mkdir -p "$img" || die "mkdir $img"

img_cat() { debugfs -R "cat $2" "$1" 2>/dev/null; }
img_type() { debugfs -R "stat $2" "$1" 2>/dev/null | sed -n 's/.*Type: \([a-z]*\).*/\1/p'; }
# "apparent MB / allocated MB" of an image file.
img_size() { echo "$(( $(stat -c %s "$1") >> 20 )) MB apparent, $(( $(du -k "$1" | cut -f1) >> 10 )) MB allocated"; }

# build PRESET OUT [ARGS..]: uml-nf image build, timed into $secs.
build() {
	local preset=$1 out=$2 start rc
	shift 2
	start=$(date +%s)
	"$UMLNF" image build "$preset" --base debian -o "$out" "$@" >"$LAB_DIR/build.log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	[ "$rc" -eq 0 ] || { cat "$LAB_DIR/build.log"; die "image build $preset --base debian: status $rc"; }
	grep -a 'debian-base: \(using cached\|cached\)' "$LAB_DIR/build.log" | sed 's/^/    /'
}

step "build router on the Debian base (first build; uncached it runs mmdebstrap)"
build router "$img/router.img" --hostname deb-router
t_first=$secs
echo "    first build: ${t_first} s"
step "build firewall on the Debian base (cached base)"
build firewall "$img/firewall.img"
t_cached=$secs
echo "    cached build: ${t_cached} s"
grep -q 'debian-base: using cached' "$LAB_DIR/build.log" || die "second build did not use the cached base"
presets=(router firewall)
if [ -d configs/bridge ]; then
	step "build bridge on the Debian base"
	build bridge "$img/bridge.img"
	presets+=(bridge)
	img_cat "$img/bridge.img" /etc/bridge.nft | grep -q . || die "no /etc/bridge.nft in bridge.img"
fi
for f in "${presets[@]}"; do echo "    $f.img: $(img_size "$img/$f.img")"; done

step "image contents (debugfs)"
r=$img/router.img
[ "$(stat -c %s "$r")" -eq $((1 << 30)) ] || die "default size is not 1G"
[ "$(du -k "$r" | cut -f1)" -lt $((512 << 10)) ] || die "image is not sparse"
img_cat "$r" /etc/fstab | grep -q '^/dev/ubda / ext4' || die "fstab"
[ "$(img_cat "$r" /etc/hostname)" = deb-router ] || die "hostname not applied"
img_cat "$r" /usr/lib/os-release | grep -q '^ID=debian' || die "no Debian os-release"
img_cat "$r" /etc/passwd | grep -q '^tcpdump:' || die "Debian's users were replaced"
img_cat "$r" /etc/shadow | grep -q '^root:\*:' || die "root must have no password by default"
for f in /usr/sbin/nft /usr/bin/iperf3 /usr/bin/tcpdump /usr/sbin/ethtool /usr/bin/ip \
	/bin/busybox /sbin/init /etc/router.conf; do
	[ "$(img_type "$r" "$f")" = regular ] || die "$f missing in router.img"
done
[ "$(img_type "$r" /usr/sbin/udhcpc)" = symlink ] || die "no busybox udhcpc link"
img_cat "$r" /sbin/init | head -n 1 | grep -qx '#!/bin/busybox sh' || die "init does not run under busybox sh"
# Trimmed: /usr/share/man holds nothing but . and .. ("ls -p": /ino/mode/uid/gid/name/).
man=$(debugfs -R 'ls -p /usr/share/man' "$r" 2>/dev/null | awk -F/ 'NF > 5 && $6 != "." && $6 != ".."')
[ -z "$man" ] || die "manual pages in the image: $man"
f=$img/firewall.img
img_cat "$f" /etc/firewall.nft | grep -q 'table inet filter' || die "no ruleset in firewall.img"
img_cat "$f" /etc/router.conf | grep -q '^FIREWALL=/etc/firewall.nft' || die "FIREWALL not set"
[ "$(img_type "$f" /usr/sbin/nft)" = regular ] || die "no nft in firewall.img"
echo "    fstab, hostname, users, nft, iperf3, tcpdump, ethtool, busybox, init: ok"

step "bad input: exit status, message, nothing left behind"
bad() {
	local want=$1 msg=$2 out=$img/bad.img rc
	shift 2
	env "$@" >"$LAB_DIR/bad.log" 2>&1
	rc=$?
	[ "$rc" -eq "$want" ] || { cat "$LAB_DIR/bad.log"; die "$*: status $rc, want $want"; }
	grep -q -- "$msg" "$LAB_DIR/bad.log" || { cat "$LAB_DIR/bad.log"; die "$*: message lacks '$msg'"; }
	[ ! -e "$out" ] || die "$*: left $out behind"
	[ -z "$(find "$img" -name '.bad.img.*')" ] || die "$*: left a temporary image"
	echo "    ok: ${*: -5} -> $rc"
}
bad 2 'unknown base' "$UMLNF" image build router --base ubuntu -o "$img/bad.img"
# An empty cache forces mmdebstrap; port 9 (discard) on loopback refuses.
mkdir -p "$LAB_DIR/cache"
bad 1 'mmdebstrap failed' UMLNF_BASE_CACHE="$LAB_DIR/cache" UMLNF_DEBIAN_MIRROR=http://127.0.0.1:9/debian \
	"$UMLNF" image build router --base debian -o "$img/bad.img"
left=$(find "$LAB_DIR/cache" -mindepth 1 ! -name .lock)
[ -z "$left" ] || die "the failed base left files in its cache: $left"

step "create lab"
lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"

# boot KERNEL IMAGE [ARGS..]: a fresh COW over IMAGE, uml-nf on KERNEL, ready.
boot() {
	local kernel=$1 image=$2
	shift 2
	rm -f "$LAB_DIR/root.cow"
	lab_start_umlnf "$UMLNF" "$image" --kernel "$kernel" "$@" || die "start on $kernel"
	lab_wait_ready 90 || die "not ready on $kernel"
}

stop() {
	local rc
	lab_stop_appliance 30
	rc=$?
	[ "$LAB_STOP_HOW" = exited ] || die "uml-nf needed SIGKILL (status $rc)"
	[ "$rc" -eq 0 ] || die "uml-nf exit status $rc, want 0"
}

# forwards NAME: ping both ways and 2 s of iperf3 client -> server.
forwards() {
	lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping.txt" || { cat "$LAB_DIR/ping.txt"; die "$1: ping client -> server"; }
	lab_ping server "$LAB_CLIENT_ADDR" 3 >"$LAB_DIR/ping.txt" || { cat "$LAB_DIR/ping.txt"; die "$1: ping server -> client"; }
	gbps=$(lab_iperf 2) || die "$1: iperf3"
	awk -v g="$gbps" 'BEGIN { exit !(g > 0) }' || die "$1: throughput $gbps Gbit/s"
	echo "    $1: ping both ways, iperf3 $gbps Gbit/s"
}

kernels=("$STOCK")
lab_have_tuned "router.img booted on the stock kernel only" && kernels+=("$TUNED")
results=()
for k in "${kernels[@]}"; do
	kname=stock
	[ "$k" = "$STOCK" ] || kname=tuned
	step "router.img on the $kname kernel ($k)"
	boot "$k" "$img/router.img"
	grep -aq 'uml-nf-router: eth0 10.0.1.1/24 up' "$LAB_DIR/appliance.log" || die "eth0 not configured"
	grep -aq 'uml-nf-router: eth1 10.0.2.1/24 up' "$LAB_DIR/appliance.log" || die "eth1 not configured"
	forwards "router/$kname"
	results+=("router/$kname $gbps Gbit/s")
	stop
done

if lab_have_tuned "firewall.img not booted"; then
	step "firewall.img on the tuned kernel"
	boot "$TUNED" "$img/firewall.img"
	grep -aq 'uml-nf-router: firewall loaded' "$LAB_DIR/appliance.log" ||
		die "no 'firewall loaded': $(grep -a 'uml-nf-router: .*\(nft\|firewall\)' "$LAB_DIR/appliance.log")"
	lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping.txt" || { cat "$LAB_DIR/ping.txt"; die "firewall: ping"; }
	gbps=$(lab_iperf 1) || die "firewall: iperf3 client -> server"
	echo "    inside -> outside: ping ok, iperf3 $gbps Gbit/s"
	results+=("firewall/tuned $gbps Gbit/s")
	lab_tcp_dropped 5301 || die "firewall: outside -> inside TCP not dropped"
	stop
fi

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "debian base: builds ${t_first} s / ${t_cached} s (first/cached); ${results[*]}"
