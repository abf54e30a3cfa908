# shellcheck shell=bash
# tests/lib.sh - the one shell library of uml-nf's integration tests, demo and
# benchmarks. Source it from bash; it does not set -e or exit on its own
# (except lab_init's traps), functions return non-zero and leave the decision
# to the caller.
#
# The lab: three network namespaces and two veth pairs, the appliance (UML
# router) running in the middle namespace on the host ends of the pairs.
#
#   ${P}client              ${P}host                    ${P}server
#   c-eth0 10.0.1.2/24 ---- p-veth0   [appliance]   p-veth1 ---- s-eth0 10.0.2.2/24
#   default via 10.0.1.1    (no IP, no IPv6)                     default via 10.0.2.1
#                           guest: IF0 10.0.1.1/24, IF1 10.0.2.1/24
#
# Functions
#   lab_init NAME            pick prefix P and LAB_DIR, install EXIT/INT/TERM
#                            traps that always run lab_destroy
#   lab_test_begin NAME [umlnf]  check IMAGE (and UMLNF), then lab_init
#   die TEXT                 fail, show the appliance log tail, exit 1
#   lab_create               namespaces, veths, addresses, routes
#   lab_write_conf           $LAB_DIR/conf/router.conf for nfconf=$LAB_DIR/conf
#   lab_bridge_taps          taps p-tap0/p-tap1 in ${P}host, each bridged to its
#                            veth end (p-br0, p-br1): for the tap and hybrid
#                            transports (LAB_VEC_TRANSPORT, LAB_VEC_IF0/1)
#   lab_tap_bridges          bridges p-br0/p-br1 in ${P}host holding only p-veth0/
#                            p-veth1, and ifup scripts $LAB_DIR/ifup0.sh and
#                            ifup1.sh that put the tap they are given into p-br0/
#                            p-br1 and bring it up: for taps created at start
#                            (no ifname=; vecN:...,ifup=$LAB_DIR/ifupN.sh)
#   lab_if_stat NS IF NAME   /sys/class/net/IF/statistics/NAME inside NS
#   lab_uml_args IMG         set array LAB_UML_ARGS: NICs, mem, COW root over
#                            IMG, consoles, umid, nfconf (common to both kinds)
#   lab_start_appliance CMD..  run CMD in ${P}host, own process group, log to
#                            $LAB_DIR/appliance.log, PID in LAB_APPLIANCE_PID
#                            (under taskset -c $LAB_CPUS if that is set)
#   lab_start_stock IMG [ARGS..]   stock linux.uml with LAB_UML_ARGS
#   lab_start_umlnf BIN IMG [ARGS..]  uml-nf with LAB_UML_ARGS
#   lab_wait_ready [TIMEOUT]  wait for "uml-nf-router: ready" (default 60 s)
#   lab_ping NS DST [COUNT]   ping from NS (client|server|host or a full name)
#   lab_iperf SECONDS [ARGS..]  iperf3 client->server, prints Gbit/s on stdout,
#                            JSON kept in $LAB_DIR/iperf.json
#   lab_tcp_dropped PORT     a new TCP connection server->client to a live
#                            listener on PORT must time out (SYN dropped, not
#                            refused); returns 1 with the reason on stderr
#   lab_stop_appliance [TIMEOUT]  SIGTERM, wait (default 20 s), then SIGKILL of
#                            the process group; returns the exit status and sets
#                            LAB_STOP_HOW=exited|killed
#   lab_stop_clean [TIMEOUT]  lab_stop_appliance that must end with the
#                            appliance exiting by itself with status 0 (no
#                            SIGKILL); returns 1 with the reason otherwise
#   lab_destroy              stop everything the lab started, delete the
#                            namespaces, remove LAB_DIR (kept if LAB_KEEP=1)
#   lab_assert_clean         non-zero if namespaces, processes or files remain
#   lab_descendants PID      PID and all its descendants (walks /proc), one a line
#   lab_umid_pids [UMID]     PIDs whose /proc/PID/cmdline contains UMID
#                            (default $LAB_UMID), excluding this shell
#   lab_log_tail [N]         last N lines of the appliance log, to stderr
#   Two appliances back to back (see that section): lab_write_conf_pair,
#   lab_guest_args NAME IMG, lab_start_bg NAME CMD.., lab_wait_log FILE RE [T],
#   lab_stop_pid PID [TIMEOUT], lab_stats_field FILE DEV KEY,
#   lab_capture_start NS IFACE FILTER / lab_capture_stop (tshark)
#   step TEXT / pass TEXT / fail TEXT   progress lines; fail returns 1
#   skip_check REASON        a check this machine cannot do: prints "SKIP:
#                            REASON" (run.sh counts the test as skipped in part
#                            and lists REASON); the test goes on
#   skip_test REASON         the whole test cannot run here: "SKIP: REASON",
#                            exit 77 (run.sh shows and counts it as skipped)
#   lab_tuned_kernel         path of the NF-tuned kernel (UMLNF_TUNED_KERNEL,
#                            else the `current` link of make guest-kernel's cache)
#   lab_have_tuned WHAT      true if the tuned kernel is built; else
#                            skip_check "tuned kernel not built ...: WHAT" and
#                            false, or with UMLNF_REQUIRE_TUNED=1 (make test,
#                            which builds it first) die
#
# Variables read: LAB_TAP_USER (owner of lab_bridge_taps' taps, default none),
# LAB_VEC_OPTS (options appended to both vecN: devices,
# default "gro=1"), LAB_VEC_TRANSPORT (transport= of both devices, default
# raw), LAB_VEC_IF0 / LAB_VEC_IF1 (their ifname=, default p-veth0 / p-veth1;
# set but empty: no ifname=), LAB_VEC_EXTRA0 / LAB_VEC_EXTRA1 (options for
# vec0 / vec1 only, e.g. ifup=...),
# LAB_CPUS (CPU list for the appliance, default unset: no taskset),
# LAB_LINUX_UML, LAB_KEEP, UMLNF_TUNED_KERNEL, UMLNF_CACHE,
# UMLNF_REQUIRE_TUNED.
# Variables set: LAB_NAME LAB_PREFIX LAB_NS_CLIENT LAB_NS_SERVER LAB_NS_HOST
# LAB_DIR LAB_UMID LAB_APPLIANCE_PID LAB_UML_ARGS LAB_STOP_HOW.
# Every external command is bounded with timeout. Only processes whose PIDs the
# lab recorded, or that run inside the lab's own namespaces, are ever killed.

LAB_CLIENT_ADDR=10.0.1.2
LAB_SERVER_ADDR=10.0.2.2
LAB_IF0_ADDR=10.0.1.1
LAB_IF1_ADDR=10.0.2.1
LAB_IPERF_PORT=5201

# ---- output helpers --------------------------------------------------------

LAB_STEP=0
step() { LAB_STEP=$((LAB_STEP + 1)); echo "[$LAB_STEP] $*"; }
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*" >&2; return 1; }

# Skips are never silent: run.sh reads the "SKIP: " lines of a test's output
# and the exit status 77 of one that skipped entirely.
skip_check() { echo "SKIP: $*"; }
skip_test() { skip_check "$@"; exit 77; }

# Where guest-kernel/build.sh links the kernel it built (uml-nf's gk_find
# looks in the same place).
lab_tuned_kernel() {
	echo "${UMLNF_TUNED_KERNEL:-${UMLNF_CACHE:-$HOME/.cache/uml-nf}/kernel/current}"
}

lab_have_tuned() {
	local k
	k=$(lab_tuned_kernel)
	[ -e "$k" ] && return 0
	[ "${UMLNF_REQUIRE_TUNED:-0}" = 1 ] &&
		die "tuned kernel $k not built, and UMLNF_REQUIRE_TUNED=1: $*"
	skip_check "tuned kernel not built (make guest-kernel): $*"
	return 1
}

lab_log_tail() {
	local n=${1:-40} log=${LAB_DIR:-}/appliance.log
	[ -f "$log" ] || return 0
	echo "---- last $n lines of $log ----" >&2
	tail -n "$n" "$log" >&2
	echo "----" >&2
}

# ---- process bookkeeping ---------------------------------------------------
# A PID is recorded together with its start time (field 22 of /proc/PID/stat)
# so a recycled PID is never mistaken for ours.

LAB_PIDS=()
LAB_PGIDS=()

# Fields of /proc/PID/stat after the ")" that ends the command name:
# $1 = state (field 3), ... $20 = starttime (field 22).
_lab_stat() {
	local s
	read -r s 2>/dev/null <"/proc/$1/stat" || return 1
	echo "${s##*) }"
}

_lab_starttime() { local f; f=$(_lab_stat "$1") || return 1; set -- $f; echo "${20}"; }

# True while PID runs (a zombie does not count as running).
_lab_running() {
	local f
	f=$(_lab_stat "$1") || return 1
	[ "${f%% *}" != Z ]
}

_lab_track() {
	local st
	st=$(_lab_starttime "$1") || return 0
	LAB_PIDS+=("$1:$st")
}

# True if the recorded "pid:start" entry $1 still names a live process.
_lab_tracked_alive() {
	local pid=${1%%:*} st=${1#*:} now
	now=$(_lab_starttime "$pid") || return 1
	[ "$now" = "$st" ] && _lab_running "$pid"
}

# PIDs of the members of process group $1.
_lab_pgrp_members() {
	local d f
	for d in /proc/[0-9]*; do
		f=$(_lab_stat "${d#/proc/}") || continue
		set -- "$1" $f
		# $2 state, $3 ppid, $4 pgrp
		[ "$4" = "$1" ] && echo "${d#/proc/}"
	done
}

# PIDs running inside the lab's namespaces (all of them are ours).
_lab_ns_pids() {
	local ns
	for ns in "$LAB_NS_CLIENT" "$LAB_NS_SERVER" "$LAB_NS_HOST"; do
		[ -e "/run/netns/$ns" ] || continue
		timeout 5 ip netns pids "$ns" 2>/dev/null
	done
}

_lab_kill_pids() {
	local sig=$1 p
	shift
	for p in "$@"; do
		[ "$p" = "$$" ] && continue
		kill "-$sig" "$p" 2>/dev/null
	done
}

# ---- lab life cycle --------------------------------------------------------

_lab_on_exit() {
	local rc=$?
	trap - EXIT
	lab_destroy
	exit "$rc"
}

# die MSG: fail, show the appliance log tail, exit 1 (tests may redefine it).
die() {
	fail "$*"
	lab_log_tail 30
	exit 1
}

# lab_test_begin NAME [umlnf]: the common start of an integration test:
# defaults and checks IMAGE (and UMLNF when "umlnf" is given), then lab_init.
lab_test_begin() {
	UMLNF=${UMLNF:-build/uml-nf}
	IMAGE=${IMAGE:-build/images/router.img}
	[ -f "$IMAGE" ] || { fail "image $IMAGE not found (make image)"; exit 1; }
	if [ "${2:-}" = umlnf ] && [ ! -x "$UMLNF" ]; then
		fail "uml-nf $UMLNF not built (make)"
		exit 1
	fi
	lab_init "$1" || exit 1
}

lab_init() {
	LAB_NAME=${1:-lab}
	# Namespace names are free-form; keep them short and unique per shell.
	LAB_PREFIX="nf$$-"
	# PIDs wrap (pid_max 32768): a namespace another run left with this
	# PID's names must not stop this one.
	while [ -e "/run/netns/${LAB_PREFIX}client" ] || [ -e "/run/netns/${LAB_PREFIX}server" ] ||
		[ -e "/run/netns/${LAB_PREFIX}host" ]; do
		LAB_PREFIX="nf$$r$RANDOM-"
	done
	LAB_NS_CLIENT=${LAB_PREFIX}client
	LAB_NS_SERVER=${LAB_PREFIX}server
	LAB_NS_HOST=${LAB_PREFIX}host
	LAB_UMID="umlnf-${LAB_NAME//[^A-Za-z0-9_-]/_}-$$"
	LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/uml-nf-${LAB_NAME//[^A-Za-z0-9_-]/_}.XXXXXX") ||
		{ fail "mktemp failed"; return 1; }
	LAB_APPLIANCE_PID=
	LAB_PIDS=()
	LAB_PGIDS=()
	LAB_STOP_HOW=
	export LAB_NAME LAB_PREFIX LAB_NS_CLIENT LAB_NS_SERVER LAB_NS_HOST LAB_DIR LAB_UMID
	trap _lab_on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

_ipns() { local ns=$1; shift; timeout 10 ip netns exec "$ns" "$@"; }

lab_create() {
	local ns
	for ns in "$LAB_NS_CLIENT" "$LAB_NS_SERVER" "$LAB_NS_HOST"; do
		timeout 10 ip netns add "$ns" || { fail "ip netns add $ns"; return 1; }
		_ipns "$ns" ip link set lo up || return 1
	done
	# No IPv6 on the appliance's side: no DAD/RS chatter into the guest.
	_ipns "$LAB_NS_HOST" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 2>/dev/null
	timeout 10 ip -n "$LAB_NS_HOST" link add p-veth0 type veth peer name c-eth0 \
		netns "$LAB_NS_CLIENT" || { fail "veth p-veth0/c-eth0"; return 1; }
	timeout 10 ip -n "$LAB_NS_HOST" link add p-veth1 type veth peer name s-eth0 \
		netns "$LAB_NS_SERVER" || { fail "veth p-veth1/s-eth0"; return 1; }
	for ns in p-veth0 p-veth1; do
		_ipns "$LAB_NS_HOST" sysctl -qw "net.ipv6.conf.$ns.disable_ipv6=1" 2>/dev/null
		timeout 10 ip -n "$LAB_NS_HOST" link set "$ns" up || return 1
	done
	timeout 10 ip -n "$LAB_NS_CLIENT" addr add "$LAB_CLIENT_ADDR/24" dev c-eth0 &&
	timeout 10 ip -n "$LAB_NS_CLIENT" link set c-eth0 up &&
	timeout 10 ip -n "$LAB_NS_CLIENT" route add default via "$LAB_IF0_ADDR" &&
	timeout 10 ip -n "$LAB_NS_SERVER" addr add "$LAB_SERVER_ADDR/24" dev s-eth0 &&
	timeout 10 ip -n "$LAB_NS_SERVER" link set s-eth0 up &&
	timeout 10 ip -n "$LAB_NS_SERVER" route add default via "$LAB_IF1_ADDR" ||
		{ fail "addressing client/server"; return 1; }
}

lab_write_conf() {
	mkdir -p "$LAB_DIR/conf" || return 1
	cat >"$LAB_DIR/conf/router.conf" <<-EOF
	# written by tests/lib.sh lab_write_conf for lab $LAB_NAME
	HOSTNAME=$LAB_NAME
	IF0_ADDR=$LAB_IF0_ADDR/24
	IF1_ADDR=$LAB_IF1_ADDR/24
	FORWARD=1
	EOF
}

# For the stock tap and hybrid transports, which need a tap: in ${P}host,
# tap p-tapN and bridge p-brN holding p-tapN and p-vethN (N = 0, 1), so a
# guest on the taps reaches the client and the server. No STP, no forwarding
# delay; no IPv6 (the namespace's default, set by lab_create). The devices
# belong to the namespace and go with it.
# The lab's bridges carry frames for the appliance, not for the host's
# firewall: this host loads br_netfilter, which would send every bridged
# frame through iptables in the middle namespace (per-namespace sysctls; a
# kernel without br_netfilter has none of them).
_lab_bridge_nofilter() {
	local k
	for k in iptables ip6tables arptables; do
		ip netns exec "$LAB_NS_HOST" sh -c \
			"[ ! -e /proc/sys/net/bridge/bridge-nf-call-$k ] || echo 0 >/proc/sys/net/bridge/bridge-nf-call-$k"
	done
}

lab_bridge_taps() {
	local n
	_lab_bridge_nofilter
	for n in 0 1; do
		timeout 10 ip -n "$LAB_NS_HOST" tuntap add dev "p-tap$n" mode tap \
			${LAB_TAP_USER:+user "$LAB_TAP_USER"} &&
		timeout 10 ip -n "$LAB_NS_HOST" link add "p-br$n" type bridge \
			stp_state 0 forward_delay 0 &&
		timeout 10 ip -n "$LAB_NS_HOST" link set "p-tap$n" master "p-br$n" &&
		timeout 10 ip -n "$LAB_NS_HOST" link set "p-veth$n" master "p-br$n" &&
		timeout 10 ip -n "$LAB_NS_HOST" link set "p-tap$n" up &&
		timeout 10 ip -n "$LAB_NS_HOST" link set "p-br$n" up ||
			{ fail "tap/bridge p-tap$n/p-br$n"; return 1; }
	done
}

# For taps that do not exist before the appliance starts (uml-nf or stock UML
# without ifname=): the bridges of lab_bridge_taps without taps, and one ifup
# script per bridge that adds the tap it is called with (ifup=PROG runs
# "PROG IFNAME" in ${P}host, where the appliance runs).
lab_tap_bridges() {
	local n
	_lab_bridge_nofilter
	for n in 0 1; do
		timeout 10 ip -n "$LAB_NS_HOST" link add "p-br$n" type bridge \
			stp_state 0 forward_delay 0 &&
		timeout 10 ip -n "$LAB_NS_HOST" link set "p-veth$n" master "p-br$n" &&
		timeout 10 ip -n "$LAB_NS_HOST" link set "p-br$n" up ||
			{ fail "bridge p-br$n"; return 1; }
		printf '#!/bin/sh\n# lab ifup: tap "$1" into p-br%s\nip link set "$1" master p-br%s && ip link set "$1" up\n' \
			"$n" "$n" >"$LAB_DIR/ifup$n.sh" && chmod 755 "$LAB_DIR/ifup$n.sh" || return 1
	done
}

lab_if_stat() {
	timeout 5 ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"
}

# Arguments shared by uml-nf and the stock kernel. The root is a per-run COW
# file over IMG (absolute path: UML records it in the COW header), so parallel
# runs never share a writable root and IMG stays pristine.
lab_uml_args() {
	local img
	img=$(readlink -f "$1" 2>/dev/null) && [ -f "$img" ] ||
		{ fail "image ${1:-<none>} not found"; return 1; }
	# shellcheck disable=SC2054 # the commas belong to UML's option syntax
	local vo=${LAB_VEC_OPTS-gro=1} tr=${LAB_VEC_TRANSPORT:-raw}
	local if0=${LAB_VEC_IF0-p-veth0} if1=${LAB_VEC_IF1-p-veth1}
	local x0=${LAB_VEC_EXTRA0:-} x1=${LAB_VEC_EXTRA1:-}
	LAB_UML_ARGS=(
		"vec0:transport=$tr${if0:+,ifname=$if0}${vo:+,$vo}${x0:+,$x0}"
		"vec1:transport=$tr${if1:+,ifname=$if1}${vo:+,$vo}${x1:+,$x1}"
		mem=256M
		"ubd0=$LAB_DIR/root.cow,$img"
		root=/dev/ubda
		con=null con0=fd:0,fd:1
		"umid=$LAB_UMID"
		"nfconf=$LAB_DIR/conf"
	)
}

lab_start_appliance() {
	local pin=()
	[ -z "$LAB_APPLIANCE_PID" ] || { fail "appliance already started"; return 1; }
	# taskset execs too, so $! stays the appliance.
	[ -n "${LAB_CPUS:-}" ] && pin=(taskset -c "$LAB_CPUS")
	# setsid: the appliance leads its own process group, so its helper
	# processes can be found by PGID after the main process is gone. The
	# subshell closes inherited fds above 2 so no helper keeps a caller's pipe
	# open; ip netns exec and setsid both exec, so $! is the appliance itself.
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
		done
		exec "${pin[@]}" setsid ip netns exec "$LAB_NS_HOST" "$@"
	) </dev/null >"$LAB_DIR/appliance.log" 2>&1 &
	LAB_APPLIANCE_PID=$!
	_lab_track "$LAB_APPLIANCE_PID"
	LAB_PGIDS+=("$LAB_APPLIANCE_PID")
	echo "$LAB_APPLIANCE_PID" >"$LAB_DIR/appliance.pid"
}

lab_start_stock() {
	local img=$1
	shift
	lab_uml_args "$img" || return 1
	mkdir -p "$LAB_DIR/uml"
	lab_start_appliance "${LAB_LINUX_UML:-linux.uml}" "${LAB_UML_ARGS[@]}" \
		"uml_dir=$LAB_DIR/uml" "$@"
}

lab_start_umlnf() {
	local bin=$1 img=$2
	shift 2
	[ -x "$bin" ] || { fail "uml-nf binary $bin not found"; return 1; }
	lab_uml_args "$img" || return 1
	lab_start_appliance "$bin" "${LAB_UML_ARGS[@]}" "$@"
}

lab_wait_ready() {
	local timeout=${1:-60} i=0 log=$LAB_DIR/appliance.log
	while [ "$i" -lt $((timeout * 5)) ]; do
		grep -q 'uml-nf-router: ready' "$log" 2>/dev/null && return 0
		if ! _lab_running "$LAB_APPLIANCE_PID"; then
			fail "appliance (pid $LAB_APPLIANCE_PID) exited before ready"
			lab_log_tail
			return 1
		fi
		sleep 0.2
		i=$((i + 1))
	done
	fail "appliance not ready after ${timeout}s"
	lab_log_tail
	return 1
}

_lab_ns() {
	case $1 in
	client) echo "$LAB_NS_CLIENT" ;;
	server) echo "$LAB_NS_SERVER" ;;
	host) echo "$LAB_NS_HOST" ;;
	*) echo "$1" ;;
	esac
}

# iputils ping if installed, else busybox's; both take -c -i -w (deadline).
lab_ping() {
	local ns count=${3:-3} ping=(ping)
	ns=$(_lab_ns "$1")
	command -v ping >/dev/null || ping=(busybox ping)
	timeout $((count + 10)) ip netns exec "$ns" "${ping[@]}" -c "$count" -i 0.2 \
		-w $((count + 5)) "$2"
}

# iperf3 TCP client (client ns) -> one-off server (server ns). Prints the
# receiver-side Gbit/s with two decimals; extra args go to the client.
lab_tcp_dropped() {
	local port=$1 listener rc i start
	ip netns exec "$LAB_NS_CLIENT" timeout 30 iperf3 -s -1 -B "$LAB_CLIENT_ADDR" -p "$port" \
		</dev/null >"$LAB_DIR/iperf-inside.log" 2>&1 &
	listener=$!
	_lab_track "$listener"
	for i in $(seq 50); do
		timeout 5 ip netns exec "$LAB_NS_CLIENT" ss -ltnH "sport = :$port" 2>/dev/null |
			grep -q . && break
		sleep 0.1
	done
	timeout 5 ip netns exec "$LAB_NS_CLIENT" ss -ltnH "sport = :$port" | grep -q . ||
		{ fail "listener on $LAB_CLIENT_ADDR:$port did not come up"; return 1; }
	# The listener is up: a refused connect would mean no filtering, a
	# timeout means the SYN was dropped.
	start=$(date +%s)
	timeout 10 ip netns exec "$LAB_NS_SERVER" timeout 3 \
		bash -c "exec 3<>/dev/tcp/$LAB_CLIENT_ADDR/$port" 2>"$LAB_DIR/connect.err"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		fail "server -> client TCP connection to $LAB_CLIENT_ADDR:$port succeeded"
		return 1
	fi
	if [ "$rc" -ne 124 ]; then
		fail "connect failed with status $rc ($(cat "$LAB_DIR/connect.err")), want a timeout (124): dropped, not refused"
		return 1
	fi
	echo "    connect to $LAB_CLIENT_ADDR:$port timed out after $(($(date +%s) - start)) s (dropped)"
	if ! _lab_running "$listener"; then
		fail "the inside listener died: $(cat "$LAB_DIR/iperf-inside.log")"
		return 1
	fi
	kill "$listener" 2>/dev/null
	wait "$listener" 2>/dev/null
	return 0
}

lab_iperf() {
	local secs=${1:-5} json=$LAB_DIR/iperf.json srv i rc bps
	shift
	ip netns exec "$LAB_NS_SERVER" timeout $((secs + 30)) \
		iperf3 -s -1 -B "$LAB_SERVER_ADDR" -p "$LAB_IPERF_PORT" \
		</dev/null >"$LAB_DIR/iperf-server.log" 2>&1 &
	srv=$!
	_lab_track "$srv"
	for i in $(seq 50); do
		timeout 5 ip netns exec "$LAB_NS_SERVER" ss -ltnH \
			"sport = :$LAB_IPERF_PORT" 2>/dev/null | grep -q . && break
		sleep 0.1
	done
	timeout $((secs + 20)) ip netns exec "$LAB_NS_CLIENT" \
		iperf3 -c "$LAB_SERVER_ADDR" -p "$LAB_IPERF_PORT" -t "$secs" -J \
		--connect-timeout 5000 "$@" </dev/null >"$json" 2>"$LAB_DIR/iperf-client.err"
	rc=$?
	# The server is one-off; give it a moment, then make sure it is gone.
	for i in $(seq 20); do _lab_running "$srv" || break; sleep 0.1; done
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	[ "$rc" -eq 0 ] || { fail "iperf3 client exit $rc: $(grep -m1 '"error"' "$json")"; return 1; }
	# "sum_received": { ... "bits_per_second": N, ... } in the "end" object.
	bps=$(awk '/"sum_received"/ {f = 1} f && /"bits_per_second"/ {
		gsub(/[^0-9.eE+-]/, "", $2); print $2; exit }' "$json")
	[ -n "$bps" ] || { fail "no throughput in iperf3 output"; return 1; }
	awk -v b="$bps" 'BEGIN { printf "%.2f\n", b / 1e9 }'
}

lab_stop_appliance() {
	local timeout=${1:-20} pid=$LAB_APPLIANCE_PID i rc members
	LAB_STOP_HOW=
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	LAB_STOP_HOW=exited
	for i in $(seq $((timeout * 10))); do
		_lab_running "$pid" || break
		sleep 0.1
	done
	if _lab_running "$pid"; then
		LAB_STOP_HOW=killed
		kill -KILL -- "-$pid" 2>/dev/null
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	# Helpers (one host process per guest address space, I/O helpers)
	# outlive the main process; they are in its process group.
	for i in $(seq 50); do
		members=$(_lab_pgrp_members "$pid")
		[ -z "$members" ] && break
		_lab_kill_pids KILL $members
		sleep 0.1
	done
	LAB_APPLIANCE_PID=
	return "$rc"
}

lab_stop_clean() {
	local rc
	lab_stop_appliance "${1:-30}"
	rc=$?
	[ "$LAB_STOP_HOW" = exited ] || { fail "uml-nf needed SIGKILL (status $rc)"; return 1; }
	[ "$rc" -eq 0 ] || { fail "uml-nf exit status $rc, want 0"; return 1; }
}

lab_destroy() {
	local e pgid ns i pids
	[ -n "${LAB_DIR:-}" ] || return 0
	[ -n "$LAB_APPLIANCE_PID" ] && lab_stop_appliance 5 >/dev/null 2>&1
	for e in "${LAB_PIDS[@]}"; do
		_lab_tracked_alive "$e" && kill -KILL "${e%%:*}" 2>/dev/null
	done
	# Process groups the lab created (the appliance's) may hold helpers.
	for pgid in "${LAB_PGIDS[@]}"; do
		_lab_kill_pids KILL $(_lab_pgrp_members "$pgid")
	done
	for i in $(seq 30); do
		pids=$(_lab_ns_pids)
		[ -z "$pids" ] && break
		_lab_kill_pids KILL $pids
		sleep 0.1
	done
	for ns in "$LAB_NS_CLIENT" "$LAB_NS_SERVER" "$LAB_NS_HOST"; do
		[ -e "/run/netns/$ns" ] && timeout 10 ip netns del "$ns" 2>/dev/null
	done
	# uml-nf without uml_dir= puts its umid directory under ~/.uml.
	[ -n "${LAB_UMID:-}" ] && [ -n "${HOME:-}" ] && rm -rf "$HOME/.uml/$LAB_UMID"
	# A uml-nf that was SIGKILLed leaves its instance directory; tests
	# that start extra instances name them $LAB_UMID-something.
	# (and .UMID.new-PID / .UMID.old-PID if it died creating or removing it).
	[ -n "${LAB_UMID:-}" ] && rm -rf "/run/uml-nf/$LAB_UMID" "/run/uml-nf/$LAB_UMID"-* \
		"/run/uml-nf/.$LAB_UMID".*
	if [ "${LAB_KEEP:-0}" = 1 ]; then
		[ -d "$LAB_DIR" ] && echo "lab: kept $LAB_DIR" >&2
	else
		rm -rf "$LAB_DIR"
	fi
	return 0
}

lab_assert_clean() {
	local bad=0 ns e
	for ns in "$LAB_NS_CLIENT" "$LAB_NS_SERVER" "$LAB_NS_HOST"; do
		if timeout 5 ip netns list | grep -qw "^$ns"; then
			fail "namespace $ns still exists"
			bad=1
		fi
	done
	for e in "${LAB_PIDS[@]}"; do
		if _lab_tracked_alive "$e"; then
			fail "process ${e%%:*} still running"
			bad=1
		fi
	done
	for e in "${LAB_PGIDS[@]}"; do
		if [ -n "$(_lab_pgrp_members "$e")" ]; then
			fail "process group $e still has members"
			bad=1
		fi
	done
	if [ "${LAB_KEEP:-0}" != 1 ] && [ -e "$LAB_DIR" ]; then
		fail "$LAB_DIR still exists"
		bad=1
	fi
	if [ -n "${HOME:-}" ] && [ -e "$HOME/.uml/$LAB_UMID" ]; then
		fail "$HOME/.uml/$LAB_UMID still exists"
		bad=1
	fi
	return "$bad"
}

# ---- process queries -------------------------------------------------------

# PID $1 and every live descendant of it, one a line (parents first).
lab_descendants() {
	local d s f queue=("$1") cur pairs=()
	_lab_running "$1" || return 0
	# One pass over /proc collects "ppid:pid" pairs; then a breadth-first walk.
	for d in /proc/[0-9]*; do
		read -r s 2>/dev/null <"$d/stat" || continue
		read -r -a f <<<"${s##*) }"
		[ "${f[0]}" = Z ] || pairs+=("${f[1]}:${d#/proc/}")
	done
	while [ "${#queue[@]}" -gt 0 ]; do
		cur=${queue[0]}
		queue=("${queue[@]:1}")
		echo "$cur"
		for s in "${pairs[@]}"; do
			[ "${s%%:*}" = "$cur" ] && queue+=("${s#*:}")
		done
	done
}

# PIDs (other than this shell and its subshells) whose command line contains
# $1 (default: the lab's umid). Reads /proc/PID/cmdline only, never by name.
lab_umid_pids() {
	local umid=${1:-$LAB_UMID} d pid a
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] && continue
		mapfile -d '' -t a 2>/dev/null <"$d/cmdline" || continue
		case "${a[*]}" in *"$umid"*) _lab_running "$pid" && echo "$pid" ;; esac
	done
}

# ---- two appliances back to back ---------------------------------------------
# For transports that join two guests (bess, fd socketpairs): guest A routes
# the client, guest B the server, and the link under test joins A's eth1 to
# B's eth0:
#
#   client c-eth0 -- p-veth0 [A] eth1 ==link== eth0 [B] p-veth1 -- s-eth0 server
#   A: IF0 10.0.1.1/24, IF1 10.0.3.1/24, 10.0.2.0/24 via 10.0.3.2
#   B: IF0 10.0.3.2/24, IF1 10.0.2.1/24, 10.0.1.0/24 via 10.0.3.1

LAB_LINK_A_ADDR=10.0.3.1
LAB_LINK_B_ADDR=10.0.3.2

# $LAB_DIR/conf-a and conf-b: router.conf of guests A and B (for nfconf=).
lab_write_conf_pair() {
	mkdir -p "$LAB_DIR/conf-a" "$LAB_DIR/conf-b" || return 1
	cat >"$LAB_DIR/conf-a/router.conf" <<-EOF
	HOSTNAME=$LAB_NAME-a
	IF0_ADDR=$LAB_IF0_ADDR/24
	IF1_ADDR=$LAB_LINK_A_ADDR/24
	FORWARD=1
	ROUTES="10.0.2.0/24 via $LAB_LINK_B_ADDR"
	EOF
	cat >"$LAB_DIR/conf-b/router.conf" <<-EOF
	HOSTNAME=$LAB_NAME-b
	IF0_ADDR=$LAB_LINK_B_ADDR/24
	IF1_ADDR=$LAB_IF1_ADDR/24
	FORWARD=1
	ROUTES="10.0.1.0/24 via $LAB_LINK_A_ADDR"
	EOF
}

# lab_guest_args NAME IMG [CONFDIR]: array LAB_GUEST_ARGS of everything but
# the NICs for guest NAME (a or b): mem, COW root $LAB_DIR/NAME.cow over IMG,
# consoles, umid $LAB_UMID-NAME (lab_destroy removes its run dir), nfconf
# CONFDIR (default $LAB_DIR/conf-NAME).
lab_guest_args() {
	local img
	img=$(readlink -f "$2" 2>/dev/null) && [ -f "$img" ] ||
		{ fail "image ${2:-<none>} not found"; return 1; }
	LAB_GUEST_ARGS=(
		mem=256M
		"ubd0=$LAB_DIR/$1.cow,$img"
		root=/dev/ubda
		con=null con0=fd:0,fd:1
		"umid=$LAB_UMID-$1"
		"nfconf=${3:-$LAB_DIR/conf-$1}"
	)
}

# lab_start_bg NAME CMD...: like lab_start_appliance, for one more process:
# CMD in ${P}host, its own process group, output in $LAB_DIR/NAME.log, PID in
# LAB_BG_PID (tracked, so lab_destroy ends it and its group).
lab_start_bg() {
	local name=$1
	shift
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
		done
		exec setsid ip netns exec "$LAB_NS_HOST" "$@"
	) </dev/null >"$LAB_DIR/$name.log" 2>&1 &
	LAB_BG_PID=$!
	_lab_track "$LAB_BG_PID"
	LAB_PGIDS+=("$LAB_BG_PID")
}

# lab_wait_log FILE REGEX [TIMEOUT]: wait until FILE has a line matching
# REGEX (grep -E), default 60 s.
lab_wait_log() {
	local i
	for i in $(seq $((${3:-60} * 5))); do
		grep -qaE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	fail "no line matching '$2' in $1 after ${3:-60}s"
	return 1
}

# lab_stop_pid PID [TIMEOUT]: SIGTERM, wait up to TIMEOUT s (default 20),
# then SIGKILL. Sets LAB_STOP_HOW=exited|killed; returns wait's status: the
# exit status for a child of this shell (lab_start_bg's are), else 127.
lab_stop_pid() {
	local pid=$1 i
	LAB_STOP_HOW=exited
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq $((${2:-20} * 10))); do
		_lab_running "$pid" || break
		sleep 0.1
	done
	if _lab_running "$pid"; then
		LAB_STOP_HOW=killed
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
}

# lab_stats_field FILE DEV KEY: KEY's value on FILE's last
# "uml-nf: stats dev=DEV" line (empty if none).
lab_stats_field() {
	grep -a "uml-nf: stats dev=$2 " "$1" 2>/dev/null | tail -n 1 |
		sed -n "s/.* $3=\([0-9-]*\).*/\1/p"
}

# lab_capture_start NS IFACE FILTER: tshark on IFACE in namespace NS (a full
# name or client|server|host) into $LAB_DIR/IFACE.pcap, capture filter
# FILTER, at most 5000 frames or 60 s; returns once tshark captures.
lab_capture_start() {
	local ns i
	ns=$(_lab_ns "$1")
	LAB_CAPTURE_FILE=$LAB_DIR/$2.pcap
	timeout 70 ip netns exec "$ns" tshark -i "$2" -c 5000 -a duration:60 -w "$LAB_CAPTURE_FILE" \
		-f "$3" </dev/null >"$LAB_DIR/$2.tshark.log" 2>&1 &
	LAB_CAPTURE_PID=$!
	_lab_track "$LAB_CAPTURE_PID"
	for i in $(seq 50); do
		grep -q 'Capturing on' "$LAB_DIR/$2.tshark.log" 2>/dev/null && { sleep 0.5; return 0; }
		_lab_running "$LAB_CAPTURE_PID" || break
		sleep 0.1
	done
	fail "tshark on $2 did not start: $(tail -n 2 "$LAB_DIR/$2.tshark.log")"
	return 1
}

# lab_capture_stop: ends the capture; LAB_CAPTURE_FILE stays for tshark -r.
lab_capture_stop() {
	sleep 0.5
	_lab_running "$LAB_CAPTURE_PID" && kill -INT "$LAB_CAPTURE_PID" 2>/dev/null
	wait "$LAB_CAPTURE_PID" 2>/dev/null
	return 0
}
