#!/bin/bash
# Turns bench.sh's results.csv into PNG plots (gnuplot) and summary.md with ratios to the host router and stock UML and the uml-nf targets.
# How: awk reads the CSV by column name (missing or non-numeric cells become gaps), writes gnuplot data files and the markdown.
#
# Usage: bash bench/report.sh [CSV] [OUTDIR]   (defaults build/bench/results.csv
# and the CSV's directory). BENCH_META, if set, is printed under the title.
# Writes OUTDIR/pps.png, tcp.png, latency.png, cpu.png and summary.md.
set -u
csv=${1:-build/bench/results.csv}
out=${2:-$(dirname "$csv")}
[ -r "$csv" ] || { echo "report: $csv not readable" >&2; exit 1; }
mkdir -p "$out" || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/uml-nf-report.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# coldata COLUMN..: one line per variant, "label v1 v2 ..", "?" for cells
# that are not numbers; the label gets " (status)" when status is not ok.
# Rows whose variant matches $SKIP (an awk regex) are left out.
coldata() {
	awk -F, -v want="$*" -v skip="${SKIP:-^$}" '
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; n = split(want, w, " "); next }
	{
		label = $col["variant"]
		if (label ~ skip) next
		if ("status" in col && $col["status"] != "ok") label = label "(" $col["status"] ")"
		line = label
		for (j = 1; j <= n; j++) {
			v = (w[j] in col) ? $col[w[j]] : ""
			line = line " " (v ~ /^[0-9]+(\.[0-9]+)?$/ ? v : "?")
		}
		print line
	}' "$csv"
}

sizes=$(head -n 1 "$csv" | tr , '\n' | sed -n 's/^pps\([0-9][0-9]*\)$/\1/p' | tr '\n' ' ')

# ---- plots -----------------------------------------------------------------

# plot NAME TITLE YLABEL LOG(0|1) EXTRA "COLUMN:title".. : a clustered bar chart
# of the given columns per variant.
plot() {
	local name=$1 title=$2 ylabel=$3 log=$4 extra=$5 i=2 spec cols=() titles=() p=""
	shift 5
	for spec in "$@"; do cols+=("${spec%%:*}"); titles+=("${spec#*:}"); done
	coldata "${cols[@]}" >"$tmp/$name.dat"
	for spec in "${titles[@]}"; do
		[ -n "$p" ] && p+=", "
		if [ "$i" = 2 ]; then p+="'$tmp/$name.dat' using 2:xtic(1)"; else p+="'' using $i"; fi
		p+=" title '$spec'"
		i=$((i + 1))
	done
	[ -n "$extra" ] && p+=", $extra"
	timeout 60 gnuplot >"$tmp/$name.gp.log" 2>&1 <<-EOF
	set terminal pngcairo size 1200,650 font ",10"
	set output "$out/$name.png"
	set title "$title"
	set ylabel "$ylabel"
	set datafile missing "?"
	set style data histograms
	set style histogram clustered gap 1
	set style fill solid 0.85 border -1
	set boxwidth 0.9
	set grid ytics
	set xtics rotate by -30 nomirror
	set key top right
	set bmargin 7
	$([ "$log" = 1 ] && echo "set logscale y")
	set yrange [$([ "$log" = 1 ] && echo "*" || echo 0):*]
	plot $p
	EOF
	local rc=$?
	[ "$rc" -eq 0 ] || { echo "report: gnuplot $name failed:" >&2; cat "$tmp/$name.gp.log" >&2; }
	return "$rc"
}

rc=0
if command -v gnuplot >/dev/null; then
	specs=()
	for s in $sizes; do specs+=("pps$s:$s B"); done
	plot pps "UDP forwarding at offered-max: frames/s received at the server (log scale)" \
		"frames/s" 1 "" "${specs[@]}" || rc=1
	SKIP=^direct-veth$ plot tcp "TCP through the router (iperf3, receiver side)" "Gbit/s" 0 "" \
		"tcp_gbps:1 stream" "tcp4_gbps:4 streams" "tcp_mss_gbps:1 stream, MSS-sized (client TSO/GSO off)" || rc=1
	plot latency "ping through the router, idle (log scale)" "ms" 1 "" \
		"ping_med_ms:median" "ping_p99_ms:p99" || rc=1
	SKIP=^direct-veth$ plot cpu "Router CPU per forwarded 64 B frame (log scale; target 5 µs)" "µs per frame" 1 \
		"5 with lines dt 2 lw 2 lc rgb 'black' title 'target 5 µs'" \
		"busy_us_per_pkt64:router CPU busy, offered-max" \
		"cpu_us_per_pkt64:router process tree, offered-max" \
		"fixed_busy_us_per_pkt:router CPU busy, fixed rate" || rc=1
	if head -n 1 "$csv" | tr , '\n' | grep -qx ndr64; then
		specs=()
		for s in $(head -n 1 "$csv" | tr , '\n' | sed -n 's/^ndr\([0-9][0-9]*\)$/\1/p'); do
			specs+=("ndr$s:NDR $s B" "pdr$s:PDR $s B")
		done
		SKIP=^direct-veth$ plot ndr "RFC 2544 throughput: NDR (no loss) and PDR (≤ 0.5 % loss), and the 64 B flood rate (log scale)" \
			"frames/s" 1 "" "${specs[@]}" "pps64:flood 64 B" || rc=1
	fi
else
	echo "report: gnuplot not installed (gnuplot-nox); no plots" >&2
	rc=1
fi

# ---- summary.md ------------------------------------------------------------

awk -F, -v meta="${BENCH_META:-}" -v sizes="$sizes" '
function isnum(v) { return v ~ /^[0-9]+(\.[0-9]+)?$/ }
function get(var, c) { return ((var, c) in val) ? val[var, c] : "" }
function show(v) { return v == "" ? "–" : v }
function kpps(v) { return isnum(v) ? sprintf("%.1f", v / 1000) : show(v) }
function r(a, b) { return (isnum(a) && isnum(b) && a > 0 && b > 0) ? a / b : "" }
function rfmt(x) { return x == "" ? "n/a" : sprintf("%.2f", x) }
function has(var) { return (var in seen) && get(var, "status") == "ok" }
NR == 1 { for (i = 1; i <= NF; i++) { name[i] = $i; if ($i == "ndr64") has_ndr = 1 }; nc = NF; next }
{
	nv++; var[nv] = $1; seen[$1] = 1
	for (i = 1; i <= nc; i++) val[$1, name[i]] = $i
}
END {
	ns = split(sizes, sz, " ")
	print "# uml-nf benchmark summary"
	print ""
	if (meta != "") { print meta; print "" }
	print "Figures from one run on a shared 2-vCPU VM: expect ±20 % between runs. kpps = thousand"
	print "frames/s received at the server at offered-max; at the fixed rate, sent is what really left the"
	print "client (the pacer shares its CPU) and loss is (sent − received) / sent."
	print "Gen-bound = 1: the generator, not the router, limited that UDP run (see bench/README.md)."
	print ""
	hdr = "| variant | status |"; sep = "|---|---|"
	for (j = 1; j <= ns; j++) { hdr = hdr " " sz[j] " B kpps |"; sep = sep "---:|" }
	hdr = hdr " gen-bound | fixed rate: sent kpps / loss % | TCP 1 / 4 Gbit/s | TCP MSS Gbit/s | ping p50 / p99 ms | CPU µs/pkt 64 B: busy / tree | gen CPU % (64 B) |"
	sep = sep "---:|---:|---:|---:|---:|---:|---:|"
	print hdr; print sep
	for (k = 1; k <= nv; k++) {
		v = var[k]; st = get(v, "status")
		line = "| " v " | " st (get(v, "reason") != "" ? " (" get(v, "reason") ")" : "") " |"
		for (j = 1; j <= ns; j++) line = line " " kpps(get(v, "pps" sz[j])) " |"
		line = line " " show(get(v, "gen_bound")) " | " kpps(get(v, "fixed_offered")) " / " show(get(v, "fixed_loss_pct")) \
			" | " show(get(v, "tcp_gbps")) " / " show(get(v, "tcp4_gbps")) \
			" | " show(get(v, "tcp_mss_gbps")) \
			" | " show(get(v, "ping_med_ms")) " / " show(get(v, "ping_p99_ms")) \
			" | " show(get(v, "busy_us_per_pkt64")) " / " show(get(v, "cpu_us_per_pkt64")) \
			" | " show(get(v, "gen_cpu_pct64")) " |"
		print line
	}
	print ""
	print "## Ratios"
	print ""
	print "Each variant divided by the host router (`÷ host`) and by stock UML vector raw gro=1 (`÷ stock`)."
	print ""
	hdr = "| variant |"; sep = "|---|"
	for (j = 1; j <= ns; j++) { hdr = hdr " " sz[j] " B ÷ host | " sz[j] " B ÷ stock |"; sep = sep "---:|---:|" }
	hdr = hdr " TCP 1 ÷ host | TCP 1 ÷ stock | TCP 4 ÷ host | TCP 4 ÷ stock |"
	sep = sep "---:|---:|---:|---:|"
	print hdr; print sep
	H = "host-router"; S = "stock-raw-gro1"
	for (k = 1; k <= nv; k++) {
		v = var[k]
		if (v == "direct-veth" || get(v, "status") != "ok") continue
		line = "| " v " |"
		for (j = 1; j <= ns; j++) {
			c = "pps" sz[j]
			line = line " " rfmt(r(get(v, c), get(H, c))) " | " rfmt(r(get(v, c), get(S, c))) " |"
		}
		split("tcp_gbps tcp4_gbps", tc, " ")
		for (j = 1; j <= 2; j++)
			line = line " " rfmt(r(get(v, tc[j]), get(H, tc[j]))) " | " rfmt(r(get(v, tc[j]), get(S, tc[j]))) " |"
		print line
	}
	print ""
	print "## uml-nf targets"
	print ""
	print "From the issue \"Benchmarks that tell the truth\"; stock = stock-raw-gro1, host = host-router."
	print ""
	hdr = "| target |"; sep = "|---|"; nu = 0
	for (k = 1; k <= nv; k++) if (var[k] ~ /^umlnf-/) { u[++nu] = var[k]; hdr = hdr " " var[k] " |"; sep = sep "---|" }
	if (nu == 0) { print "No uml-nf variant in this run." }
	else {
		print hdr; print sep
		t[1] = "64 B forwarding ≥ 50 % of the host router pps"
		t[2] = "64 B forwarding ≥ 10× stock UML vector raw"
		t[3] = "TCP single stream ≥ 60 % of the host router Gbit/s"
		t[4] = "router CPU per forwarded 64 B frame ≤ 5 µs (busy)"
		for (i = 1; i <= 4; i++) {
			line = "| " t[i] " |"
			for (j = 1; j <= nu; j++) {
				v = u[j]; x = ""
				if (!has(v)) { line = line " n/a (" show(get(v, "status")) ") |"; continue }
				if (i == 1) { x = r(get(v, "pps64"), get(H, "pps64")); f = "%.0f %%"; goal = 0.5; sc = 100 }
				if (i == 2) { x = r(get(v, "pps64"), get(S, "pps64")); f = "%.1f×"; goal = 10; sc = 1 }
				if (i == 3) { x = r(get(v, "tcp_gbps"), get(H, "tcp_gbps")); f = "%.0f %%"; goal = 0.6; sc = 100 }
				if (i == 4) {
					b = get(v, "busy_us_per_pkt64")
					if (isnum(b)) line = line " " sprintf("%.2f µs", b) " — " (b <= 5 ? "**met**" : "not met") " |"
					else line = line " n/a |"
					continue
				}
				if (x == "") line = line " n/a |"
				else line = line " " sprintf(f, x * sc) " — " (x >= goal ? "**met**" : "not met") " |"
			}
			print line
		}
	}
	print ""
	if (has_ndr) {
		print "## RFC 2544 throughput search (bench/ndr.sh)"
		print ""
		print "NDR: highest offered rate a whole trial crossed without losing a frame; PDR: with at most 0.5 % lost;"
		print "flood ÷ NDR below 1 is receive livelock. CPU µs per frame at the NDR point: the router CPU busy"
		print "(/proc/stat idle method: everything that ran there, neighbours included), the uml-nf"
		print "process (its own threads), and the host processes of the guest (for stock UML the whole linux.uml tree)."
		print ""
		print "| variant | NDR 64 B kpps | PDR 64 B kpps | flood 64 B kpps | flood ÷ NDR | NDR 1500 B kpps | PDR 1500 B kpps | TCP 1 Gbit/s | µs/frame at NDR: busy / uml-nf / guest | NDR gen-bound 64 / 1500 |"
		print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		for (k = 1; k <= nv; k++) {
			v = var[k]
			print "| " v " | " kpps(get(v, "ndr64")) " | " kpps(get(v, "pdr64")) " | " kpps(get(v, "pps64")) \
				" | " show(get(v, "flood_per_ndr64")) " | " kpps(get(v, "ndr1500")) " | " kpps(get(v, "pdr1500")) \
				" | " show(get(v, "tcp_gbps")) " | " show(get(v, "ndr_busy_us_per_pkt64")) " / " \
				show(get(v, "ndr_umlnf_us_per_pkt64")) " / " show(get(v, "ndr_guest_us_per_pkt64")) \
				" | " show(get(v, "ndr_gen_bound64")) " / " show(get(v, "ndr_gen_bound1500")) " |"
		}
		print ""
		print "Targets (issue 13), host = host-router, stock = stock-raw-gro1, the best TCP mode before this work = umlnf-raw-gro1:"
		print ""
		print "| variant | 64 B NDR ≥ 50 % of host | 64 B NDR ≥ 10× stock | flood ≥ 90 % of own NDR | TCP 1 ≥ umlnf-raw-gro1 |"
		print "|---|---|---|---|---|"
		for (k = 1; k <= nv; k++) {
			v = var[k]
			if (v !~ /^umlnf-/ || !has(v)) continue
			a = r(get(v, "ndr64"), get(H, "ndr64")); b = r(get(v, "ndr64"), get(S, "ndr64"))
			c = get(v, "flood_per_ndr64"); d = r(get(v, "tcp_gbps"), get("umlnf-raw-gro1", "tcp_gbps"))
			line = "| " v " | " (a == "" ? "n/a" : sprintf("%.0f %% — %s", 100 * a, a >= 0.5 ? "**met**" : "not met"))
			line = line " | " (b == "" ? "n/a" : sprintf("%.1f× — %s", b, b >= 10 ? "**met**" : "not met"))
			line = line " | " (!isnum(c) ? "n/a" : sprintf("%.2f — %s", c, c >= 0.9 ? "**met**" : "not met"))
			line = line " | " (d == "" ? "n/a" : sprintf("%.2f× — %s", d, d >= 0.95 ? "**met**" : "not met")) " |"
			print line
		}
		print ""
	}
	print "## Notes"
	print ""
	notes = 0
	for (k = 1; k <= nv; k++) {
		v = var[k]
		if (get(v, "status") != "ok") {
			print "- " v ": " get(v, "status") ", reason " show(get(v, "reason")) "."; notes++
			continue
		}
		for (j = 1; j <= ns; j++) if (get(v, "gen_bound" sz[j]) == "1") {
			print "- " v " " sz[j] " B: generator-bound; the router forwarded what it was offered, so its ceiling is higher than shown" \
				(v == H ? " (ratios to host-router overstate the others)" : "") "."; notes++
		}
		for (j = 1; j <= ns; j++) {
			o = get(v, "offered" sz[j]); p = get(v, "pps" sz[j]); d = get("direct-veth", "offered" sz[j])
			if (get(v, "gen_bound" sz[j]) == "0" && isnum(o) && isnum(p) && o > 0 && p >= 0.9 * o) {
				printf "- %s %s B: forwarded %.0f %% of what it was offered, but the offered rate was only %.0f %% of the direct-veth ceiling (the generator CPU also carries the kernel work of the endpoints and the sink): the router kept up, its ceiling is unknown and higher than shown%s.\n", \
					v, sz[j], 100 * p / o, ((isnum(d) && d > 0) ? 100 * o / d : 0), \
					((v == H) ? " (ratios to host-router overstate the others)" : "")
				notes++
			}
		}
		for (j = 1; j <= ns; j++) if (get(v, "pps" sz[j]) == "fail") { print "- " v " " sz[j] " B flood failed (trafgen died)."; notes++ }
		split("tcp_gbps tcp4_gbps tcp_mss_gbps", tc, " ")
		for (j = 1; j <= 3; j++) if (get(v, tc[j]) == "fail") { print "- " v " " tc[j] ": iperf3 failed or timed out."; notes++ }
		if (isnum(get(v, "ping_lost")) && get(v, "ping_lost") > 0) { print "- " v ": " get(v, "ping_lost") " pings lost."; notes++ }
	}
	if (!notes) print "- None: every variant measured, no generator-bound UDP run."
	print "- Retransmit counts (tcp_retr, tcp4_retr, tcp_mss_retr) are in results.csv: check them before quoting stock TCP figures."
	print "- Plots: pps.png, tcp.png, latency.png, cpu.png" (has_ndr ? ", ndr.png" : "") ". Keys, rules and caveats: bench/README.md."
}' "$csv" >"$out/summary.md.tmp" && mv "$out/summary.md.tmp" "$out/summary.md" || rc=1
exit "$rc"
