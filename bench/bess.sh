#!/bin/bash
# Measures the bess transport side by side: two uml-nf guests against two stock UML guests (transport=bess), joined through tests/helpers/seqswitch, same guest kernel and image: TCP 1 stream each way, ping latency.
# How: client -- guest A -- [bess: A dst=sw/a, seqswitch, B dst=sw/b] -- guest B -- server, one lab per variant and round (rounds alternate); iperf3 and ping from the client and server namespaces.
#
# One key=value line per variant and round on stdout, then the ratio of the
# medians (each uml-nf variant / stock). `make bench` runs it after bench.sh.
#   BENCH_KERNEL (default /usr/bin/linux.uml), BENCH_ROUNDS (2),
#   BENCH_TCP_SECONDS (5), BENCH_BESS_VARIANTS ("stock umlnf umlnf-b2b umlnf-b2b-vnet";
#   umlnf-b2b: no switch, A listen= and B dst= straight to it; -vnet: vnet=1 on the link;
#   uml-nf's bess devices always get gro=1),
#   BENCH_UMLNF_ARGS (extra options of the uml-nf bess devices, e.g. depth=128),
#   BENCH_PERF=PREFIX (perf record -a -g of each forward TCP run into PREFIX-VARIANT.data)
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../tests/lib.sh"

UMLNF=$(readlink -f "${UMLNF:-build/uml-nf}")
IMAGE=$(readlink -f "${IMAGE:-build/images/router.img}")
BENCH_KERNEL=${BENCH_KERNEL:-/usr/bin/linux.uml}
BENCH_ROUNDS=${BENCH_ROUNDS:-2}
BENCH_TCP_SECONDS=${BENCH_TCP_SECONDS:-5}
BENCH_BESS_VARIANTS=${BENCH_BESS_VARIANTS:-"stock umlnf umlnf-b2b umlnf-b2b-vnet"}
BENCH_UMLNF_ARGS=${BENCH_UMLNF_ARGS:-}
HELPERS=${UMLNF_HELPERS:-build/test-helpers}
[ -x "$HELPERS/seqswitch" ] || make -s --no-print-directory test-helpers >/dev/null || exit 1
SWITCH=$(readlink -f "$HELPERS/seqswitch")
[ -x "$UMLNF" ] && [ -f "$IMAGE" ] || { fail "need $UMLNF and $IMAGE (make all image)"; exit 1; }

# run VARIANT ROUND: one lab, prints one key=value line.
run() {
	local v=$1 r=$2 a b extra=,gro=1${BENCH_UMLNF_ARGS:+,$BENCH_UMLNF_ARGS} fwd rev rtt base=$1
	# -vnet: the virtio-net header on the link (uml-nf to uml-nf only).
	case $v in *-vnet) extra=$extra,vnet=1 base=${v%-vnet} ;; esac
	lab_init "bess-$v" || return 1
	lab_create && lab_write_conf_pair && mkdir -p "$LAB_DIR/sw" "$LAB_DIR/uml" || return 1
	lab_start_bg sw "$SWITCH" "$LAB_DIR/sw/a" "$LAB_DIR/sw/b"
	lab_wait_log "$LAB_DIR/sw.log" ready 10 || return 1
	lab_guest_args a "$IMAGE"
	a=("${LAB_GUEST_ARGS[@]}")
	lab_guest_args b "$IMAGE"
	b=("${LAB_GUEST_ARGS[@]}")
	if [ "$base" = umlnf-b2b ]; then
		# Back to back, no switch: A listens, B connects (stock UML can
		# only connect, so it always needs the switch).
		lab_start_bg a "$UMLNF" --kernel "$BENCH_KERNEL" vec0:transport=raw,ifname=p-veth0,gro=1 \
			"vec1:transport=bess,listen=$LAB_DIR/ab$extra" "${a[@]}"
		local i
		for i in $(seq 300); do [ -S "$LAB_DIR/ab" ] && break; sleep 0.1; done
		lab_start_bg b "$UMLNF" --kernel "$BENCH_KERNEL" "vec0:transport=bess,dst=$LAB_DIR/ab$extra" \
			vec1:transport=raw,ifname=p-veth1,gro=1 "${b[@]}"
	elif [ "$base" = umlnf ]; then
		lab_start_bg a "$UMLNF" --kernel "$BENCH_KERNEL" vec0:transport=raw,ifname=p-veth0,gro=1 \
			"vec1:transport=bess,dst=$LAB_DIR/sw/a$extra" "${a[@]}"
		lab_start_bg b "$UMLNF" --kernel "$BENCH_KERNEL" "vec0:transport=bess,dst=$LAB_DIR/sw/b$extra" \
			vec1:transport=raw,ifname=p-veth1,gro=1 "${b[@]}"
	else
		lab_start_bg a "$BENCH_KERNEL" vec0:transport=raw,ifname=p-veth0,gro=1 \
			"vec1:transport=bess,dst=$LAB_DIR/sw/a" "${a[@]}" "uml_dir=$LAB_DIR/uml"
		lab_start_bg b "$BENCH_KERNEL" "vec0:transport=bess,dst=$LAB_DIR/sw/b" \
			vec1:transport=raw,ifname=p-veth1,gro=1 "${b[@]}" "uml_dir=$LAB_DIR/uml"
	fi
	lab_wait_log "$LAB_DIR/a.log" 'uml-nf-router: ready' 90 &&
		lab_wait_log "$LAB_DIR/b.log" 'uml-nf-router: ready' 90 || return 1
	lab_ping client "$LAB_SERVER_ADDR" 3 >/dev/null || { fail "$v: no path"; return 1; }
	if [ -n "${BENCH_PERF:-}" ]; then
		# A system-wide profile of the forward TCP run (both CPUs).
		perf record -q -a -g -o "$BENCH_PERF-$v.data" -- sleep "$BENCH_TCP_SECONDS" \
			>/dev/null 2>&1 &
		local perfpid=$!
	fi
	fwd=$(lab_iperf "$BENCH_TCP_SECONDS") || fwd=0
	[ -n "${BENCH_PERF:-}" ] && wait "$perfpid"
	rev=$(lab_iperf "$BENCH_TCP_SECONDS" -R) || rev=0
	rtt=$(lab_ping client "$LAB_SERVER_ADDR" 50 2>/dev/null | sed -n 's/.*= [0-9.]*\/\([0-9.]*\)\/.*/\1/p')
	echo "bess variant=$v round=$r tcp_fwd_gbps=$fwd tcp_rev_gbps=$rev rtt_avg_ms=${rtt:-nan}"
	lab_destroy
}

out=$(mktemp) || exit 1
for r in $(seq "$BENCH_ROUNDS"); do
	for v in $BENCH_BESS_VARIANTS; do
		run "$v" "$r" | tee -a "$out"
	done
done
# Medians per variant and key, then uml-nf / stock.
awk '
	{ v = ""; for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "variant") v = kv[2]
		else if (kv[1] != "round") { n[v, kv[1]]++; val[v, kv[1], n[v, kv[1]]] = kv[2] + 0; keys[kv[1]] = 1 } } }
	function median(v, k,   m, i, j, t, a) {
		m = n[v, k]; for (i = 1; i <= m; i++) a[i] = val[v, k, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
	{ vs[v] = 1 }
	END { for (v in vs) if (v != "stock") for (k in keys) { s = median("stock", k); u = median(v, k)
		# the ratio first: a ">" among printf arguments is a redirection
		q = 0; if (s + 0 > 0) q = u / s
		printf "bess ratio %s %s=%s stock=%s %s/stock=%.2f\n", k, v, u, s, v, q } }
' "$out"
rm -f "$out"
