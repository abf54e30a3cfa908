#!/bin/bash
# uml-nf-entrypoint: the entrypoint of the uml-nf containerlab image. It waits
# for the container's data interfaces eth1..ethN (containerlab adds them after
# the container starts), maps them to vec0..vecN-1 (raw transport: the
# guest's eth0..ethN-1) and execs uml-nf, which boots the appliance image.
# eth0, the management interface, stays the container's.
#
# Environment (all optional):
#   CLAB_INTFS        number of data interfaces (containerlab sets it); else
#                     UMLNF_INTFS; else every ethK (K >= 1) present after
#                     UMLNF_SETTLE seconds
#   UMLNF_INTFS       overrides CLAB_INTFS
#   UMLNF_IFACES      the data interfaces by name instead, in vec order
#                     ("net1 net2": Multus's default names in a pod)
#   UMLNF_USE_IF_MAC  1: each guest NIC takes its interface's MAC (macvlan,
#                     ipvlan and SR-IOV interfaces only deliver frames for
#                     their own MAC); default: uml-nf's per-umid MACs
#   UMLNF_WAIT        seconds to wait for the interfaces (default 120)
#   UMLNF_SETTLE      without a count: seconds to wait for a first data
#                     interface (default 10)
#   UMLNF_IMAGE       appliance image, the read-only base (default
#                     /usr/share/uml-nf/router.img)
#   UMLNF_COW         its copy-on-write file (default /var/lib/uml-nf/NAME.cow;
#                     "none": boot the image itself, writable)
#   UMLNF_MEM         guest memory (default 64M)
#   UMLNF_VEC_OPTS    options for every vecN: (default gro=1)
#   UMLNF_CONF        host-side directory with the guest's router.conf
#                     (nfconf=; default /etc/uml-nf/nfconf if it exists: bind
#                     the node's configuration there)
#   UMLNF_NAME        umid (default: the container's host name)
#   UMLNF_KERNEL      guest kernel (default /usr/lib/uml-nf/linux if present,
#                     else uml-nf's own choice)
#   UMLNF_ARGS        more uml-nf flags (--cpus 2, --poll 100)
#   UMLNF_KERNEL_ARGS more guest kernel arguments
#   UMLNF_BIN         uml-nf (default: on PATH)
#   UMLNF_DRY_RUN     1: print TMPDIR and the uml-nf command line (one
#                     argument a line) instead of running it
#   TMPDIR            where the guest RAM file goes (a tmpfs mounted without
#                     noexec: UML maps it executable). Default: /dev/shm if
#                     it is such a tmpfs with room for UMLNF_MEM; else a tmpfs
#                     of that size mounted at /run/uml-nf-mem when the
#                     container may mount; else /tmp, with a warning (Docker
#                     mounts /dev/shm noexec and 64 MB; in Kubernetes give an
#                     emptyDir with medium: Memory and point TMPDIR at it)
# Exit status 2 with one line for bad settings, 1 when the interfaces do not
# show up in time; otherwise uml-nf's own.
set -u
PROG=uml-nf-entrypoint
say() { echo "$PROG: $*"; }
die() { echo "$PROG: error: $*" >&2; exit "${2:-2}"; }

num() { [[ $2 =~ ^[0-9]+$ ]] || die "$1: expected a number, got \"$2\""; }

wait_s=${UMLNF_WAIT:-120}
num UMLNF_WAIT "$wait_s"
settle=${UMLNF_SETTLE:-10}
num UMLNF_SETTLE "$settle"
count=
if [ -n "${UMLNF_INTFS:-}" ]; then
	num UMLNF_INTFS "$UMLNF_INTFS"
	count=$UMLNF_INTFS
elif [ -n "${CLAB_INTFS:-}" ]; then
	num CLAB_INTFS "$CLAB_INTFS"
	count=$CLAB_INTFS
fi
[ -z "$count" ] || [ "$count" -le 64 ] || die "$count data interfaces: uml-nf takes at most 64"
image=${UMLNF_IMAGE:-/usr/share/uml-nf/router.img}
[ -r "$image" ] || die "UMLNF_IMAGE: $image not found or not readable"
mem=${UMLNF_MEM:-64M}
[[ $mem =~ ^[0-9]+[KMG]?$ ]] || die "UMLNF_MEM: expected a size like 64M, got \"$mem\""
name=${UMLNF_NAME:-$(hostname 2>/dev/null || echo uml-nf)}
[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$ ]] || die "UMLNF_NAME: \"$name\" is not a usable umid"
bin=${UMLNF_BIN:-$(command -v uml-nf)} || die "uml-nf not found (UMLNF_BIN)"
vo=${UMLNF_VEC_OPTS-gro=1}

# ---- the data interfaces -------------------------------------------------

have() { [ -e "/sys/class/net/$1" ]; }
ifaces=()
start=$SECONDS
if [ -n "${UMLNF_IFACES:-}" ]; then
	read -r -a ifaces <<<"$UMLNF_IFACES"
	[ "${#ifaces[@]}" -le 64 ] || die "UMLNF_IFACES: ${#ifaces[@]} interfaces: uml-nf takes at most 64"
	for i in "${ifaces[@]}"; do
		[[ $i =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || die "UMLNF_IFACES: \"$i\" is not an interface name"
	done
	say "waiting up to ${wait_s} s for ${ifaces[*]}"
elif [ -n "$count" ]; then
	for ((k = 1; k <= count; k++)); do ifaces+=("eth$k"); done
	say "waiting up to ${wait_s} s for eth1..eth$count"
else
	# No count: take eth1.. as they are once the first one exists.
	while ! have eth1 && [ $((SECONDS - start)) -lt "$settle" ]; do sleep 0.2; done
	sleep 1
	while have "eth$((${#ifaces[@]} + 1))"; do ifaces+=("eth$((${#ifaces[@]} + 1))"); done
	[ "${#ifaces[@]}" -gt 0 ] || say "warning: no data interfaces (eth1...): the guest boots without NICs"
fi
for i in "${ifaces[@]}"; do
	while ! have "$i"; do
		[ $((SECONDS - start)) -lt "$wait_s" ] ||
			die "$i did not appear within ${wait_s} s (${#ifaces[@]} data interfaces expected)" 1
		sleep 0.2
	done
done

nics=()
k=0
for i in "${ifaces[@]}"; do
	# The container's own stack must leave these alone: no addresses, no
	# IPv6 chatter of its own into the guest's links.
	sysctl -qw "net.ipv6.conf.$i.disable_ipv6=1" >/dev/null 2>&1 || true
	ip link set "$i" up 2>/dev/null || die "cannot bring $i up" 1
	mac=
	if [ "${UMLNF_USE_IF_MAC:-0}" = 1 ]; then
		mac=$(cat "/sys/class/net/$i/address") || die "cannot read the MAC of $i" 1
	fi
	nics+=("vec$k:transport=raw,ifname=$i${mac:+,mac=$mac}${vo:+,$vo}")
	say "$i -> vec$k (guest eth$k)${mac:+, mac $mac}"
	k=$((k + 1))
done

# ---- guest RAM, root disk, configuration ------------------------------------

# The file system holding $1: "TYPE OPTIONS AVAIL_KB" (longest mount prefix).
fs_of() {
	local p
	p=$(readlink -f "$1") || return 1
	awk -v p="$p" '{ m = $2; gsub(/\\040/, " ", m)
		if ((p == m || index(p "/", (m == "/" ? "/" : m "/")) == 1) && length(m) >= best) {
			best = length(m); t = $3; o = $4 } }
		END { if (t == "") exit 1; print t, o }' /proc/self/mounts || return 1
	df -Pk "$p" 2>/dev/null | awk 'NR == 2 { print $4 }'
}
# A tmpfs without noexec with NEED_KB free at $1.
ram_dir_ok() {
	local info t o avail
	[ -d "$1" ] && [ -w "$1" ] || return 1
	info=$(fs_of "$1" | tr '\n' ' ') || return 1
	read -r t o avail <<<"$info"
	[ "$t" = tmpfs ] && [[ ,$o, != *,noexec,* ]] && [ "${avail:-0}" -ge "$need_kb" ]
}
# guest memory plus 1/64, in KiB
need_kb=$(awk -v m="$mem" 'BEGIN { u = substr(m, length(m)); v = m + 0
	if (u == "K") v /= 1024; else if (u == "G") v *= 1024; else if (u != "M") v /= 1048576
	printf "%d", v * 1024 * 65 / 64 }')
if [ -n "${TMPDIR:-}" ]; then
	info=$(fs_of "$TMPDIR" | tr '\n' ' ') || die "TMPDIR: $TMPDIR does not exist"
	[[ ,$(cut -d' ' -f2 <<<"$info"), != *,noexec,* ]] ||
		die "TMPDIR: $TMPDIR is mounted noexec, and UML maps its RAM file executable"
	ram_dir_ok "$TMPDIR" || say "warning: TMPDIR $TMPDIR is not a tmpfs with ${need_kb} KiB free"
elif ram_dir_ok /dev/shm; then
	export TMPDIR=/dev/shm
elif mkdir -p /run/uml-nf-mem 2>/dev/null &&
	mount -t tmpfs -o "size=${need_kb}k,mode=0700" tmpfs /run/uml-nf-mem 2>/dev/null; then
	say "guest RAM on a tmpfs of ${need_kb} KiB mounted at /run/uml-nf-mem (/dev/shm is noexec or small)"
	export TMPDIR=/run/uml-nf-mem
else
	say "warning: no exec tmpfs with ${need_kb} KiB for the guest RAM (/dev/shm is noexec or small," \
		"and mounting one was refused): using /tmp, which is disk-backed. Give the container one" \
		"and set TMPDIR (Kubernetes: an emptyDir with medium: Memory)"
	export TMPDIR=/tmp
fi

cow=${UMLNF_COW:-/var/lib/uml-nf/$name.cow}
if [ "$cow" = none ]; then
	ubd="ubd0=$image"
else
	mkdir -p "$(dirname "$cow")" || die "UMLNF_COW: cannot create $(dirname "$cow")"
	ubd="ubd0=$cow,$(readlink -f "$image")"
fi
args=("$bin")
kernel=${UMLNF_KERNEL:-}
[ -z "$kernel" ] && [ -x /usr/lib/uml-nf/linux ] && kernel=/usr/lib/uml-nf/linux
[ -n "$kernel" ] && args+=(--kernel "$kernel")
read -r -a extra <<<"${UMLNF_ARGS:-}"
args+=("${extra[@]}" "${nics[@]}" "mem=$mem" "$ubd" root=/dev/ubda con=null con0=fd:0,fd:1 "umid=$name")
conf=${UMLNF_CONF:-}
[ -z "$conf" ] && [ -d /etc/uml-nf/nfconf ] && conf=/etc/uml-nf/nfconf
if [ -n "$conf" ]; then
	[[ $conf == /* ]] && [ -d "$conf" ] || die "UMLNF_CONF: $conf is not an absolute path to a directory"
	args+=("nfconf=$conf")
fi
read -r -a extra <<<"${UMLNF_KERNEL_ARGS:-}"
args+=("${extra[@]}")

if [ "${UMLNF_DRY_RUN:-0}" = 1 ]; then
	echo "TMPDIR=$TMPDIR"
	printf '%s\n' "${args[@]}"
	exit 0
fi
say "exec ${args[*]}"
# uml-nf becomes the container's main process: docker/containerlab stop
# sends it SIGTERM and it halts the guest over mconsole.
exec "${args[@]}" </dev/null
