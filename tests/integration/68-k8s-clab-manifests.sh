#!/bin/bash
# Proves the example Kubernetes manifest (configs/k8s/uml-nf-pod.yaml) is schema-valid and gives uml-nf what it needs, that the check catches broken copies, and that the containerlab topology is consistent with its node configurations.
# How: tests/tools/k8s-check.py rebuilds every core object through the Kubernetes Python client's models (python3-kubernetes; no cluster, no kubectl server) and checks Multus networks, UMLNF_IFACES, capabilities, the guest-RAM emptyDir and the ConfigMap; mutated copies must fail; the .clab.yml is parsed and its links, binds and router.conf files cross-checked.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
check=$here/tests/tools/k8s-check.py
manifest=$here/configs/k8s/uml-nf-pod.yaml
topo=$here/configs/containerlab/uml-nf.clab.yml
tmp=$(mktemp -d "${TMPDIR:-/tmp}/uml-nf-k8s68.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
# Debian's python3 has the client (make deps installs python3-kubernetes);
# another python3 first on PATH may not.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" -c 'import yaml' 2>/dev/null || skip_test "no python3 with PyYAML"

step "the manifest"
out=$("$py" "$check" "$manifest" 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
[ "$rc" -eq 0 ] || { fail "k8s-check found errors in $manifest"; exit 1; }
grep -q '^SKIP: ' <<<"$out" && skip_check "$(sed -n 's/^SKIP: //p' <<<"$out")"

step "broken copies are caught"
mutant() { # WANT SED-EXPR
	local want=$1 out
	sed "$2" "$manifest" >"$tmp/m.yaml"
	cmp -s "$tmp/m.yaml" "$manifest" && { fail "mutation '$2' changed nothing"; exit 1; }
	out=$("$py" "$check" "$tmp/m.yaml" 2>&1) && { fail "'$2' passed the check"; exit 1; }
	grep -qF -- "$want" <<<"$out" || { fail "'$2': wanted '$want' in: $out"; exit 1; }
	echo "    $2: $(grep -F -- "$want" <<<"$out" | head -n 1)"
}
if ! grep -q '^SKIP: ' <<<"$out"; then
	mutant "unknown field 'allowPrivEscalation'" 's/allowPrivilegeEscalation/allowPrivEscalation/'
	mutant "unknown field 'mountpath'" '0,/mountPath/s/mountPath/mountpath/'
	mutant "expected bool" 's/privileged: false/privileged: "no"/'
	mutant "must not be \`None\`" 's/^    - name: uml-nf$/    - image2: x/'
fi
mutant "capability NET_RAW not added" 's/"NET_RAW", //'
mutant "UMLNF_IFACES='net2 net1'" 's/value: "net1 net2"/value: "net2 net1"/'
mutant "is not defined in this manifest" 's/"name": "uml-nf-wan"/"name": "uml-nf-wam"/'
mutant "is not a mounted emptyDir with medium: Memory" 's/medium: Memory/medium: ""/'
mutant "sizeLimit 32Mi < UMLNF_MEM" 's/sizeLimit: 80Mi/sizeLimit: 32Mi/'
mutant "privileged: the capabilities" 's/privileged: false/privileged: true/'

step "kubectl (needs a cluster for schema validation)"
if command -v kubectl >/dev/null && timeout 10 kubectl version --request-timeout=3s >/dev/null 2>&1; then
	timeout 60 kubectl apply --dry-run=server -f "$manifest" || { fail "kubectl apply --dry-run=server"; exit 1; }
else
	skip_check "kubectl has no API server to validate against here (kubectl --dry-run needs one for the schema); validated offline with the client's models instead"
fi

step "containerlab topology: links, binds and node configurations agree"
out=$("$py" - "$topo" <<-'EOF' 2>&1
	import os, re, sys, yaml
	path = sys.argv[1]
	t = yaml.safe_load(open(path))
	base = os.path.dirname(path)
	nodes = t["topology"]["nodes"]
	kinds = t["topology"].get("kinds", {})
	bad = []
	used = {}
	for l in t["topology"]["links"]:
	    for ep in l["endpoints"]:
	        n, i = ep.split(":")
	        if n not in nodes:
	            bad.append(f"link endpoint {ep}: no node {n}")
	        used.setdefault(n, []).append(i)
	for n, d in nodes.items():
	    image = d.get("image") or kinds.get(d.get("kind"), {}).get("image")
	    if not image:
	        bad.append(f"{n}: no image")
	    if image != "uml-nf:latest":
	        continue
	    ifs = sorted(used.get(n, []))
	    if ifs != [f"eth{k}" for k in range(1, len(ifs) + 1)]:
	        bad.append(f"{n}: data interfaces {ifs} are not eth1..ethN")
	    for c in ("NET_RAW", "NET_ADMIN"):
	        if c not in d.get("cap-add", []):
	            bad.append(f"{n}: cap-add lacks {c}")
	    conf = None
	    for b in d.get("binds", []):
	        src, dst = b.split(":")[:2]
	        if dst == "/etc/uml-nf/nfconf":
	            conf = os.path.join(base, src, "router.conf")
	    if not conf or not os.path.isfile(conf):
	        bad.append(f"{n}: no router.conf bound at /etc/uml-nf/nfconf ({conf})")
	        continue
	    addrs = dict(re.findall(r"^(IF[0-9]_ADDR)=(\S+)", open(conf).read(), re.M))
	    if sorted(addrs) != [f"IF{k}_ADDR" for k in range(len(ifs))]:
	        bad.append(f"{n}: router.conf sets {sorted(addrs)} for {len(ifs)} interfaces")
	    print(f"{n}: {' '.join(ifs)} -> guest eth0..eth{len(ifs) - 1}, {' '.join(addrs[k] for k in sorted(addrs))}")
	for b in bad:
	    print("error:", b)
	sys.exit(1 if bad else 0)
	EOF
)
rc=$?
echo "$out" | sed 's/^/    /'
[ "$rc" -eq 0 ] || { fail "containerlab topology"; exit 1; }
if command -v containerlab >/dev/null; then
	skip_check "containerlab is installed but deploying needs a container engine, which this machine lacks"
else
	skip_check "containerlab not installed (and no container engine): topology checked for consistency only"
fi
pass "k8s manifest valid and complete for uml-nf; broken copies caught; containerlab topology consistent"
