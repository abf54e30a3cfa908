#!/bin/bash
# Proves uml-nf serves eth0/eth1 to a kernel and image it did not build, booted OpenWRT-style: a kernel file given by path, a read-only xz squashfs root on ubd0, the image's own init, and an overlay for writable state.
# How: a squashfs of static busybox with its own /sbin/init (no uml-nf files) and a copy of the tuned kernel under another name; uml-nf --kernel FILE ... ubd0=IMG root=/dev/ubda rootfstype=squashfs; ping and iperf3 through it, clean halt. SKIP without a kernel that has squashfs built in.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SRC_KERNEL=$(lab_tuned_kernel)
lab_have_tuned "the stock kernel has squashfs only as a module" || exit 77
if ! "$SRC_KERNEL" --showconfig 2>/dev/null | grep -qx 'CONFIG_SQUASHFS=y'; then
	[ "${UMLNF_REQUIRE_TUNED:-0}" = 1 ] && die "$SRC_KERNEL has no built-in squashfs (make guest-kernel)"
	skip_test "$SRC_KERNEL has no built-in squashfs (rebuild with make guest-kernel)"
fi
command -v mksquashfs >/dev/null || { echo "FAIL: mksquashfs missing (make deps: squashfs-tools)"; exit 1; }
BUSYBOX=${BUSYBOX:-/bin/busybox}
lab_test_begin umlnf33 umlnf

step "a foreign image: xz squashfs with busybox and its own init"
tree=$LAB_DIR/tree
mkdir -p "$tree"/{bin,sbin,proc,sys,dev,tmp,overlay,etc}
cp "$BUSYBOX" "$tree/bin/busybox"
for a in sh mount mkdir ip sleep cat echo seq awk uname grep touch; do ln -s busybox "$tree/bin/$a"; done
cat >"$tree/sbin/init" <<INIT
#!/bin/sh
# Not uml-nf's init: a stand-in for an appliance's own (OpenWRT's procd).
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
# OpenWRT keeps its writable state in an overlay over the read-only root.
mkdir -p /tmp/upper /tmp/work
if mount -t overlay overlay -o lowerdir=/etc,upperdir=/tmp/upper,workdir=/tmp/work /overlay &&
   echo written >/overlay/state && [ -f /tmp/upper/state ]; then
	echo "foreign-init: overlay writable over the squashfs root"
fi
for i in \$(seq 100); do [ -e /sys/class/net/eth1 ] && break; sleep 0.1; done
ip link set lo up
ip link set eth0 up && ip addr add $LAB_IF0_ADDR/24 dev eth0
ip link set eth1 up && ip addr add $LAB_IF1_ADDR/24 dev eth1
echo 1 >/proc/sys/net/ipv4/ip_forward
echo "foreign-init: ready kernel \$(uname -r) root \$(awk '\$2 == "/" { print \$3 }' /proc/mounts)" \
	"eth0 \$(cat /sys/class/net/eth0/address) driver \$(basename \$(readlink /sys/class/net/eth0/device/driver))"
while :; do sleep 3600; done
INIT
chmod 755 "$tree/sbin/init"
img=$LAB_DIR/appliance-squashfs.img
mksquashfs "$tree" "$img" -comp xz -all-root -noappend -quiet >/dev/null || die "mksquashfs"
echo "    $(du -h --apparent-size "$img" | cut -f1) image"

step "a user-supplied kernel file (the tuned kernel under another name)"
kernel=$LAB_DIR/appliance-uml-vmlinux
cp "$(readlink -f "$SRC_KERNEL")" "$kernel" || die "copy kernel"
chmod 755 "$kernel"
which=$("$UMLNF" --kernel "$kernel" --which-kernel) || die "--which-kernel refused $kernel: $which"
echo "$which" | sed 's/^/    /'
grep -q 'virtio_uml built in' <<<"$which" || die "--which-kernel does not report virtio_uml"

step "boot: uml-nf --kernel FILE ... ubd0=IMG root=/dev/ubda rootfstype=squashfs"
lab_create || die "lab_create"
lab_start_appliance "$UMLNF" --kernel "$kernel" \
	"vec0:transport=raw,ifname=p-veth0,gro=1" "vec1:transport=raw,ifname=p-veth1,gro=1" \
	mem=256M "ubd0=$img" root=/dev/ubda rootfstype=squashfs ro \
	con=null con0=fd:0,fd:1 "umid=$LAB_UMID" || die "start"
for i in $(seq 300); do
	grep -aq 'foreign-init: ready' "$LAB_DIR/appliance.log" && break
	_lab_running "$LAB_APPLIANCE_PID" || die "uml-nf exited before the image's init was ready"
	sleep 0.2
done
line=$(grep -a 'foreign-init: ready' "$LAB_DIR/appliance.log") || die "the image's init never said ready"
echo "    $line"
grep -q ' root squashfs ' <<<"$line" || die "root is not the squashfs"
grep -q 'driver virtio_net' <<<"$line" || die "eth0 is not a virtio_net device"
grep -aq 'foreign-init: overlay writable' "$LAB_DIR/appliance.log" || die "overlay over the squashfs root failed"

step "forwarding through the foreign image"
lab_ping client "$LAB_SERVER_ADDR" 3 >"$LAB_DIR/ping.txt" || { cat "$LAB_DIR/ping.txt"; die "client -> server"; }
gbps=$(lab_iperf 2) || die "iperf3"
awk -v g="$gbps" 'BEGIN { exit !(g > 0.1) }' || die "throughput $gbps Gbit/s <= 0.1"
echo "    $gbps Gbit/s"

step "clean halt"
lab_stop_clean 30 || die "unclean stop"
pass "foreign kernel file + squashfs image: served eth0/eth1 (virtio_net), ping, $gbps Gbit/s, clean halt"
