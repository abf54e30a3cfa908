#!/usr/bin/python3
"""Offline check of a Kubernetes manifest for a uml-nf pod (test 68).

    k8s-check.py MANIFEST.yaml

Two parts, one line per finding, exit status 1 if anything is wrong:

schema   every document of a core kind (Pod, ConfigMap) is rebuilt through
         the model classes of the Kubernetes Python client (python3-kubernetes,
         generated from the API's OpenAPI spec): an unknown field, a value of
         the wrong type or a missing required field is an error. A
         NetworkAttachmentDefinition (a Multus CRD, not in the client) gets
         its metadata checked the same way and its spec.config parsed as CNI
         JSON. Without the client this part prints "SKIP: ..." and is not run.
uml-nf   what the appliance needs: every Multus network the pod names is
         defined, the annotation's interface names are UMLNF_IFACES in the same
         order, NET_RAW and NET_ADMIN are added (SYS_ADMIN for the guest's PID
         namespace), the pod is not privileged, TMPDIR is a mounted emptyDir
         with medium Memory at least UMLNF_MEM large, UMLNF_CONF is a mounted
         ConfigMap holding router.conf.

Quantities are strings here (quote them in YAML), as the client types them.
"""
import json
import re
import sys

import yaml

try:
    import kubernetes.client as kc
except ImportError:  # the schema part is skipped, and says so
    kc = None

errors = []


def err(where, msg):
    errors.append(f"{where}: {msg}")


# ---- schema: rebuild through the client's models ---------------------------

SCALARS = {"str": str, "bool": bool, "int": int, "float": (int, float)}


def build(value, typ, where):
    """Returns value converted to client type typ, recording errors."""
    if typ in SCALARS:
        ok = isinstance(value, SCALARS[typ]) and not (typ in ("int", "float") and isinstance(value, bool))
        if not ok:
            err(where, f"expected {typ}, got {type(value).__name__} {value!r}")
        return value
    if typ == "object":
        return value
    if typ in ("datetime", "date"):
        return value
    m = re.fullmatch(r"list\[(.+)\]", typ)
    if m:
        if not isinstance(value, list):
            err(where, f"expected a list, got {type(value).__name__}")
            return []
        return [build(v, m.group(1), f"{where}[{i}]") for i, v in enumerate(value)]
    m = re.fullmatch(r"dict\(str, (.+)\)", typ)
    if m:
        if not isinstance(value, dict):
            err(where, f"expected a map, got {type(value).__name__}")
            return {}
        return {k: build(v, m.group(1), f"{where}.{k}") for k, v in value.items()}
    cls = getattr(kc, typ, None)
    if cls is None:
        err(where, f"no model {typ} in the client")
        return None
    if not isinstance(value, dict):
        err(where, f"expected an object ({typ}), got {type(value).__name__}")
        return None
    json_to_attr = {j: a for a, j in cls.attribute_map.items()}
    kwargs = {}
    for key, v in value.items():
        attr = json_to_attr.get(key)
        if attr is None:
            err(where, f"unknown field {key!r} in {typ}")
            continue
        kwargs[attr] = build(v, cls.openapi_types[attr], f"{where}.{key}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:  # required fields, enums
        err(where, f"{typ}: {e}")
        return None


CORE = {("v1", "Pod"): "V1Pod", ("v1", "ConfigMap"): "V1ConfigMap"}


def check_schema(docs):
    for i, d in enumerate(docs):
        where = f"document {i + 1} ({d.get('kind')} {d.get('metadata', {}).get('name')})"
        key = (d.get("apiVersion"), d.get("kind"))
        if key in CORE:
            build(d, CORE[key], where)
        elif key == ("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition"):
            extra = set(d) - {"apiVersion", "kind", "metadata", "spec"}
            if extra:
                err(where, f"unknown top-level fields {sorted(extra)}")
            build(d.get("metadata", {}), "V1ObjectMeta", where + ".metadata")
            spec = d.get("spec", {})
            if set(spec) - {"config"}:
                err(where, f"spec: unknown fields {sorted(set(spec) - {'config'})}")
            try:
                cfg = json.loads(spec.get("config", ""))
            except ValueError as e:
                err(where, f"spec.config is not JSON: {e}")
                continue
            for k in ("cniVersion", "type"):
                if k not in cfg:
                    err(where, f"spec.config has no {k!r}")
        else:
            err(where, f"no schema for apiVersion {key[0]} kind {key[1]}")


# ---- uml-nf's own needs -----------------------------------------------------

def size_mib(s):
    """'64M', '64Mi', '80Mi', '1G' -> MiB (None if not a size)."""
    m = re.fullmatch(r"([0-9]+)([KMG]i?)?", str(s))
    if not m:
        return None
    n = int(m.group(1))
    unit = (m.group(2) or "")[:1]
    return n / 1024 if unit == "K" else n * 1024 if unit == "G" else n if unit == "M" else n / 1048576


def check_umlnf(docs):
    nads = {d["metadata"]["name"] for d in docs if d.get("kind") == "NetworkAttachmentDefinition"}
    cms = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap"}
    pods = [d for d in docs if d.get("kind") == "Pod"]
    if not pods:
        err("manifest", "no Pod")
    for pod in pods:
        where = f"Pod {pod['metadata'].get('name')}"
        ann = pod["metadata"].get("annotations", {}).get("k8s.v1.cni.cncf.io/networks")
        if not ann:
            err(where, "no k8s.v1.cni.cncf.io/networks annotation (Multus)")
            continue
        try:
            nets = json.loads(ann)
        except ValueError as e:
            err(where, f"networks annotation is not JSON: {e}")
            continue
        ifnames = []
        for n in nets:
            if n.get("name") not in nads:
                err(where, f"network {n.get('name')!r} is not defined in this manifest")
            if "interface" not in n:
                err(where, f"network {n.get('name')!r} has no fixed interface name")
            ifnames.append(n.get("interface"))
        for c in pod.get("spec", {}).get("containers", []):
            cw = f"{where} container {c.get('name')}"
            env = {e.get("name"): e.get("value") for e in c.get("env", []) if isinstance(e, dict)}
            want = " ".join(ifnames)
            if env.get("UMLNF_IFACES", "").split() != ifnames:
                err(cw, f"UMLNF_IFACES={env.get('UMLNF_IFACES')!r}, the annotation gives {want!r} (vec order)")
            sc = c.get("securityContext", {})
            if sc.get("privileged"):
                err(cw, "privileged: the capabilities below are enough")
            caps = sc.get("capabilities", {})
            added = set(caps.get("add", []))
            for need in ("NET_RAW", "NET_ADMIN"):
                if need not in added:
                    err(cw, f"capability {need} not added")
            if "SYS_ADMIN" not in added:
                print(f"note: {cw}: no SYS_ADMIN: the guest runs in the pod's PID namespace")
            if "ALL" not in caps.get("drop", []):
                err(cw, "capabilities: drop ALL first, then add what uml-nf needs")
            mounts = {m.get("mountPath"): m for m in c.get("volumeMounts", []) if isinstance(m, dict)}
            vols = {v.get("name"): v for v in pod.get("spec", {}).get("volumes", []) if isinstance(v, dict)}
            tmp = env.get("TMPDIR")
            m = mounts.get(tmp)
            vol = vols.get(m.get("name")) if m else None
            ed = (vol or {}).get("emptyDir")
            if ed is None or ed.get("medium") != "Memory":
                err(cw, f"TMPDIR={tmp!r} is not a mounted emptyDir with medium: Memory (guest RAM needs an exec tmpfs)")
            else:
                mem, lim = size_mib(env.get("UMLNF_MEM", "64M")), size_mib(ed.get("sizeLimit", "0"))
                if lim is None or mem is None or lim < mem:
                    err(cw, f"guest RAM emptyDir sizeLimit {ed.get('sizeLimit')} < UMLNF_MEM {env.get('UMLNF_MEM', '64M')}")
            conf = env.get("UMLNF_CONF")
            if conf:
                m = mounts.get(conf)
                vol = vols.get(m.get("name")) if m else None
                cmn = ((vol or {}).get("configMap") or {}).get("name")
                if cmn not in cms:
                    err(cw, f"UMLNF_CONF={conf!r} is not a mounted ConfigMap of this manifest")
                elif "router.conf" not in cms[cmn].get("data", {}):
                    err(cw, f"ConfigMap {cmn} has no router.conf")


def main():
    if len(sys.argv) != 2:
        print("usage: k8s-check.py MANIFEST.yaml", file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1]) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        print(f"error: {sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    if kc is None:
        print("SKIP: no Kubernetes Python client (Debian package python3-kubernetes): schema part not run")
    else:
        check_schema(docs)
        import kubernetes
        print(f"schema: {len(docs)} documents rebuilt through the models of the Kubernetes Python "
              f"client {kubernetes.__version__}")
    try:
        check_umlnf(docs)
    except (KeyError, TypeError, AttributeError) as e:  # shapes the schema part reported
        err("manifest", f"cannot check uml-nf's needs on this shape ({type(e).__name__}: {e})")
    for e in errors:
        print(f"error: {e}")
    print(f"{len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
