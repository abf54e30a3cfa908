#!/bin/bash
# Proves --cpus places the guest (every helper process and thread), the datapath thread and the control thread on the CPUs asked for, in both forms (roles, plain list), that the default puts guest and datapath on different CPUs, that --no-pin pins nothing, and that a CPU outside uml-nf's affinity or --cpus with --no-pin is refused (exit 2, nothing started).
# How: boot the lab with each setting, read Cpus_allowed_list of every thread under /proc, ping through; refusals checked for status, message and no instance directory.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

lab_test_begin cpus65 umlnf
allowed=$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/$$/status)
mapfile -t cpus < <(awk -v l="$allowed" 'BEGIN { n = split(l, p, ",")
	for (i = 1; i <= n; i++) { m = split(p[i], r, "-"); if (m == 1) r[2] = r[1]
		for (c = r[1]; c <= r[2]; c++) print c } }')
[ "${#cpus[@]}" -ge 2 ] || skip_test "needs two CPUs, this shell may use ${allowed:-?}"
A=${cpus[0]} B=${cpus[1]}
# A CPU this machine does not let us use: one past the highest allowed.
outside=$((${cpus[-1]} + 1))
echo "    allowed CPUs $allowed; using $A and $B; $outside is outside"

lab_create || die "lab_create"
lab_write_conf || die "lab_write_conf"

# "guest DATAPATH CONTROL": the CPU lists of the running appliance, after
# checking that every thread of every guest process has the same one.
placement() {
	local nf= p t g= dp= ctl= list
	local exe
	exe=$(readlink -f "$UMLNF")
	for p in $(lab_descendants "$LAB_APPLIANCE_PID"); do
		[ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$exe" ] && { nf=$p; break; }
	done
	[ -n "$nf" ] || { fail "no uml-nf process"; return 1; }
	for t in /proc/"$nf"/task/*; do
		list=$(awk '/^Cpus_allowed_list:/ { print $2 }' "$t/status")
		case $(cat "$t/comm") in
		nf-datapath) dp=$list ;;
		nf-control) ctl=$list ;;
		esac
	done
	for p in $(lab_descendants "$nf"); do
		[ "$p" = "$nf" ] && continue
		for t in /proc/"$p"/task/*; do
			list=$(awk '/^Cpus_allowed_list:/ { print $2 }' "$t/status" 2>/dev/null) || continue
			[ -n "$list" ] || continue
			if [ -z "$g" ]; then
				g=$list
			elif [ "$g" != "$list" ]; then
				fail "guest thread $t on $list, another on $g"
				return 1
			fi
		done
	done
	echo "$g $dp $ctl"
}

boot() { # FLAGS...
	lab_start_umlnf "$UMLNF" "$IMAGE" "$@" || die "start $*"
	lab_wait_ready 60 || die "not ready with $*"
	lab_ping client "$LAB_SERVER_ADDR" 2 >/dev/null || die "no forwarding with $*"
}

expect() { # WANT-GUEST WANT-DP WANT-CTL WHAT
	local got
	got=$(placement) || die "$4: placement"
	[ "$got" = "$1 $2 $3" ] || die "$4: guest/datapath/control on '$got', want '$1 $2 $3'"
	echo "    $4: guest $1, datapath $2, control $3"
}

step "--cpus guest=$A,datapath=$B"
boot --cpus "guest=$A,datapath=$B"
grep -q "uml-nf: CPUs: guest $A, datapath $B, control $A" "$LAB_DIR/appliance.log" || die "no CPUs line"
expect "$A" "$B" "$A" "roles"
lab_stop_clean 30 || die "stop"

step "--cpus datapath=$A,guest=$B,control=$B (order free, control named)"
boot --cpus "datapath=$A,guest=$B,control=$B"
expect "$B" "$A" "$B" "reversed"
lab_stop_clean 30 || die "stop"

step "--cpus $B (plain list: the whole appliance)"
boot --cpus "$B"
expect "$B" "$B" "$B" "plain"
lab_stop_clean 30 || die "stop"

step "default: guest and datapath on two different allowed CPUs"
boot
read -r g dp ctl < <(placement) || die "placement"
[ -n "$g" ] && [ -n "$dp" ] && [ "$g" != "$dp" ] || die "default: guest '$g', datapath '$dp'"
[ "$ctl" = "$g" ] || die "default: control on '$ctl', guest on '$g'"
echo "    default: guest $g, datapath $dp, control $ctl"
lab_stop_clean 30 || die "stop"

step "--no-pin: nothing pinned"
boot --no-pin
read -r g dp ctl < <(placement) || die "placement"
[ "$g" = "$allowed" ] && [ "$dp" = "$allowed" ] && [ "$ctl" = "$allowed" ] ||
	die "--no-pin: guest '$g', datapath '$dp', control '$ctl', want all '$allowed'"
echo "    --no-pin: all on $allowed"
lab_stop_clean 30 || die "stop"

step "refusals: exit 2, one line naming the problem, nothing started"
refuse() { # WANT FLAGS...
	local want=$1 out rc
	shift
	out=$(timeout 30 ip netns exec "$LAB_NS_HOST" "$UMLNF" "$@" \
		vec0:transport=raw,ifname=p-veth0 mem=64M "umid=$LAB_UMID-bad" 2>&1)
	rc=$?
	[ "$rc" -eq 2 ] || die "$*: status $rc, want 2: $out"
	[ "$(wc -l <<<"$out")" -eq 1 ] || die "$*: more than one line: $out"
	grep -qF -- "$want" <<<"$out" || die "$*: '$out' does not say '$want'"
	[ -e "/run/uml-nf/$LAB_UMID-bad" ] && die "$*: instance directory created"
	echo "    $*: $out"
}
refuse "CPU $outside is not available to uml-nf (allowed: $allowed)" --cpus "guest=$A,datapath=$outside"
refuse "CPU $outside is not available" --cpus "$outside"
refuse 'unknown role "dp"' --cpus "guest=$A,dp=$B"
refuse "--cpus and --no-pin contradict each other" --no-pin --cpus "$A"
refuse "range \"$B-$A\" runs backwards" --cpus "$B-$A"
[ -z "$(lab_umid_pids "$LAB_UMID-bad")" ] || die "a refused start left processes"

step "destroy and assert clean"
lab_destroy
lab_assert_clean || exit 1
pass "--cpus roles, plain list, default spread, --no-pin, refusals"
