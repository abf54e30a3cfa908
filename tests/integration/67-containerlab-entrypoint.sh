#!/bin/bash
# Proves the containerlab entrypoint maps a container's eth1..ethN to vec0..vecN-1 (raw) and boots the appliance: it waits for data interfaces that appear late, leaves eth0 (management) alone, forwards, and halts cleanly on SIGTERM; bad settings and missing interfaces are refused.
# How: a network namespace shaped like a containerlab node (eth0 to a management namespace, eth1/eth2 to client and server, eth2 created 2 s after the entrypoint starts, CLAB_INTFS=2); the entrypoint runs in it as the container's command; ping through; SIGTERM. Docker/podman: the image is built when an engine is usable (none is here).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin clab67 umlnf
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ep=$here/configs/containerlab/entrypoint.sh
UMLNF=$(readlink -f "$UMLNF")
node=${LAB_PREFIX}node mgmt=${LAB_PREFIX}mgmt
# lab_destroy deletes the lab's three namespaces; these two are ours too.
trap 'rc=$?; trap - EXIT; lab_destroy; ip netns del "$node" 2>/dev/null; ip netns del "$mgmt" 2>/dev/null; exit $rc' EXIT

step "entrypoint is valid bash"
bash -n "$ep" || die "bash -n $ep"

step "a namespace shaped like a containerlab node: eth0 management, eth1 data (eth2 comes later)"
for ns in "$node" "$mgmt" "$LAB_NS_CLIENT" "$LAB_NS_SERVER"; do
	timeout 10 ip netns add "$ns" || die "ip netns add $ns"
	timeout 10 ip -n "$ns" link set lo up
done
ip netns exec "$node" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
timeout 10 ip -n "$node" link add eth0 type veth peer name m-eth0 netns "$mgmt" &&
timeout 10 ip -n "$node" addr add 172.20.20.2/24 dev eth0 &&
timeout 10 ip -n "$node" link set eth0 up &&
timeout 10 ip -n "$mgmt" addr add 172.20.20.1/24 dev m-eth0 &&
timeout 10 ip -n "$mgmt" link set m-eth0 up || die "management link"
timeout 10 ip -n "$node" link add eth1 type veth peer name c-eth0 netns "$LAB_NS_CLIENT" || die "eth1"
timeout 10 ip -n "$LAB_NS_CLIENT" addr add "$LAB_CLIENT_ADDR/24" dev c-eth0 &&
timeout 10 ip -n "$LAB_NS_CLIENT" link set c-eth0 up &&
timeout 10 ip -n "$LAB_NS_CLIENT" route add default via "$LAB_IF0_ADDR" || die "client addressing"
lab_write_conf || die "lab_write_conf"
mkdir -p "$LAB_DIR/cow"
cp --sparse=always "$(readlink -f "$IMAGE")" "$LAB_DIR/router.img" && chmod 0444 "$LAB_DIR/router.img"

step "bad settings: one line, exit 2, nothing started"
bad() { # WANT VAR=VALUE...
	local want=$1 out rc
	shift
	out=$(timeout 20 ip netns exec "$node" env UMLNF_BIN="$UMLNF" UMLNF_IMAGE="$LAB_DIR/router.img" \
		UMLNF_COW="$LAB_DIR/cow/bad.cow" "$@" bash "$ep" 2>&1)
	rc=$?
	[ "$rc" -eq 2 ] || die "$*: status $rc, want 2: $out"
	grep -qF -- "$want" <<<"$out" || die "$*: '$out' does not say '$want'"
	echo "    $*: $(tail -n 1 <<<"$out")"
}
bad 'CLAB_INTFS: expected a number, got "two"' CLAB_INTFS=two
bad 'UMLNF_MEM: expected a size' CLAB_INTFS=1 UMLNF_MEM=lots
bad 'UMLNF_IMAGE: /nonexistent.img not found' CLAB_INTFS=1 UMLNF_IMAGE=/nonexistent.img
bad 'UMLNF_CONF: relative is not an absolute path' CLAB_INTFS=1 UMLNF_CONF=relative
[ -e "$LAB_DIR/cow/bad.cow" ] && die "a refused start left a COW file"

step "interfaces that never come: CLAB_INTFS=3, UMLNF_WAIT=2 -> exit 1 naming eth2"
out=$(timeout 20 ip netns exec "$node" env UMLNF_BIN="$UMLNF" UMLNF_IMAGE="$LAB_DIR/router.img" \
	CLAB_INTFS=3 UMLNF_WAIT=2 bash "$ep" 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q 'eth2 did not appear within 2 s' <<<"$out" || die "status $rc: $out"
echo "    $(tail -n 1 <<<"$out")"

step "dry runs: UMLNF_IFACES order and UMLNF_USE_IF_MAC; guest RAM when /dev/shm is noexec"
timeout 10 ip -n "$node" link add eth2 type veth peer name s-eth0 netns "$LAB_NS_SERVER" || die "eth2"
dry() { timeout 20 ip netns exec "$node" env UMLNF_BIN="$UMLNF" UMLNF_IMAGE="$LAB_DIR/router.img" \
	UMLNF_COW="$LAB_DIR/cow/dry.cow" UMLNF_DRY_RUN=1 "$@"; }
out=$(dry UMLNF_IFACES="eth2 eth1" UMLNF_USE_IF_MAC=1 bash "$ep" 2>&1) || die "dry run: $out"
mac2=$(ip netns exec "$node" cat /sys/class/net/eth2/address)
grep -qx "vec0:transport=raw,ifname=eth2,mac=$mac2,gro=1" <<<"$out" || die "UMLNF_IFACES/USE_IF_MAC: $out"
grep -q "^vec1:transport=raw,ifname=eth1,mac=" <<<"$out" || die "vec1 not eth1: $out"
grep -qx "TMPDIR=/dev/shm" <<<"$out" || die "guest RAM not on /dev/shm: $out"
echo "    eth2 -> vec0 with mac $mac2, eth1 -> vec1, TMPDIR=/dev/shm"
# Docker's /dev/shm is noexec: in a private mount namespace, so is ours.
# (The mount point directory it makes is on the real /run: removed after.)
memdir_was=0
[ -e /run/uml-nf-mem ] && memdir_was=1
out=$(timeout 30 ip netns exec "$node" unshare -m --propagation private sh -c '
	mount -t tmpfs -o noexec,size=1m tmpfs /dev/shm && exec "$@"' sh \
	env UMLNF_BIN="$UMLNF" UMLNF_IMAGE="$LAB_DIR/router.img" UMLNF_COW="$LAB_DIR/cow/dry.cow" \
	UMLNF_DRY_RUN=1 CLAB_INTFS=2 bash "$ep" 2>&1) || die "noexec dry run: $out"
grep -qx "TMPDIR=/run/uml-nf-mem" <<<"$out" && grep -q "mounted at /run/uml-nf-mem" <<<"$out" ||
	die "noexec /dev/shm: $out"
echo "    noexec /dev/shm: $(grep 'mounted at' <<<"$out")"
[ "$memdir_was" = 1 ] || rmdir /run/uml-nf-mem 2>/dev/null
timeout 10 ip -n "$node" link del eth2 || die "removing eth2 again"

step "start the entrypoint (CLAB_INTFS=2) before eth2 exists; add eth2 2 s later"
# Like lab_start_bg, but in the node's namespace: its own process group (the
# guest's helpers too), tracked so that lab_destroy ends it whatever happens.
(
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
	done
	exec setsid ip netns exec "$node" env UMLNF_BIN="$UMLNF" UMLNF_IMAGE="$LAB_DIR/router.img" \
		UMLNF_NAME="$LAB_UMID-n" UMLNF_COW="$LAB_DIR/cow/n.cow" UMLNF_CONF="$LAB_DIR/conf" \
		CLAB_INTFS=2 UMLNF_WAIT=30 bash "$ep"
) </dev/null >"$LAB_DIR/node.log" 2>&1 &
pid=$!
_lab_track "$pid"
LAB_PGIDS+=("$pid")
lab_wait_log "$LAB_DIR/node.log" 'waiting up to 30 s for eth1..eth2' 10 || die "entrypoint did not start waiting"
sleep 2
grep -q 'exec ' "$LAB_DIR/node.log" && die "booted before eth2 existed"
timeout 10 ip -n "$node" link add eth2 type veth peer name s-eth0 netns "$LAB_NS_SERVER" || die "eth2"
timeout 10 ip -n "$LAB_NS_SERVER" addr add "$LAB_SERVER_ADDR/24" dev s-eth0 &&
timeout 10 ip -n "$LAB_NS_SERVER" link set s-eth0 up &&
timeout 10 ip -n "$LAB_NS_SERVER" route add default via "$LAB_IF1_ADDR" || die "server addressing"
lab_wait_log "$LAB_DIR/node.log" 'uml-nf-router: ready' 60 || { tail -n 20 "$LAB_DIR/node.log"; die "not ready"; }

step "the mapping: eth1 -> vec0, eth2 -> vec1, eth0 not used; uml-nf is the main process"
[ "$(readlink "/proc/$pid/exe")" = "$UMLNF" ] || die "pid $pid is $(readlink "/proc/$pid/exe"), not uml-nf (exec)"
mapfile -d '' -t argv <"/proc/$pid/cmdline"
echo "    ${argv[*]}"
printf '%s\n' "${argv[@]}" | grep -qx 'vec0:transport=raw,ifname=eth1,gro=1' || die "no vec0 on eth1"
printf '%s\n' "${argv[@]}" | grep -qx 'vec1:transport=raw,ifname=eth2,gro=1' || die "no vec1 on eth2"
printf '%s\n' "${argv[@]}" | grep -q 'ifname=eth0' && die "eth0 (management) given to the guest"
printf '%s\n' "${argv[@]}" | grep -qx "ubd0=$LAB_DIR/cow/n.cow,$LAB_DIR/router.img" || die "no COW over the base"
grep -q 'uml-nf-router: eth0 10.0.1.1/24 up' "$LAB_DIR/node.log" || die "guest eth0 not configured from UMLNF_CONF"
timeout 5 ip netns exec "$node" ping -c 1 -W 2 172.20.20.1 >/dev/null || die "management eth0 broken"

step "forwarding through the node: client (eth1 side) <-> server (eth2 side)"
lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || die "ping client -> server"
lab_ping server "$LAB_CLIENT_ADDR" 3 >/dev/null || die "ping server -> client"

step "container stop: SIGTERM -> clean halt, exit 0"
kill -TERM "$pid"
for i in $(seq 300); do _lab_running "$pid" || break; sleep 0.1; done
_lab_running "$pid" && die "still running 30 s after SIGTERM"
wait "$pid"
rc=$?
[ "$rc" -eq 0 ] || die "exit status $rc, want 0"
grep -q 'uml-nf: guest is halting' "$LAB_DIR/node.log" || die "no mconsole halt"
echo "    halted, status 0"

step "image build with docker or podman"
engine=
for e in docker podman; do
	command -v "$e" >/dev/null && timeout 20 "$e" info >/dev/null 2>&1 && { engine=$e; break; }
done
if [ -n "$engine" ]; then
	timeout 600 bash "$here/configs/containerlab/build.sh" --tag "uml-nf-test:$$" >"$LAB_DIR/build.log" 2>&1 ||
		{ tail -n 20 "$LAB_DIR/build.log"; die "$engine build failed"; }
	timeout 60 "$engine" run --rm --entrypoint /usr/local/bin/uml-nf "uml-nf-test:$$" --help >/dev/null ||
		die "uml-nf does not run in the image"
	timeout 60 "$engine" rmi "uml-nf-test:$$" >/dev/null 2>&1
	echo "    built and ran uml-nf --help in the image with $engine"
else
	bash "$here/configs/containerlab/build.sh" --stage-only >"$LAB_DIR/build.log" 2>&1 ||
		{ cat "$LAB_DIR/build.log"; die "staging the build context failed"; }
	ctx=$here/build/containerlab/context
	for f in Dockerfile entrypoint.sh uml-nf linux router.img; do
		[ -s "$ctx/$f" ] || die "context lacks $f"
	done
	skip_check "no usable docker or podman (no container engine here): the image was not built; its context was staged and the entrypoint tested in a namespace"
fi

step "destroy and assert clean"
ip netns del "$node" 2>/dev/null
ip netns del "$mgmt" 2>/dev/null
lab_destroy
lab_assert_clean || exit 1
for ns in "$node" "$mgmt"; do [ -e "/run/netns/$ns" ] && die "namespace $ns left"; done
pass "containerlab entrypoint: eth1..eth2 -> vec0..vec1, waits for late links, forwards, halts cleanly"
