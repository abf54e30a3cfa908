#!/bin/bash
# Builds the uml-nf containerlab node image (configs/containerlab/Dockerfile).
#
#   bash configs/containerlab/build.sh [--stage-only] [--tag NAME] [--image IMG]
#
# Stages the build context in build/containerlab/context: the Dockerfile,
# build/uml-nf, the guest kernel uml-nf would boot (uml-nf --which-kernel:
# the tuned one when built), an appliance image (default
# build/images/router.img) and the entrypoint. Then runs `docker build` or
# `podman build` (whichever works), unless --stage-only. Default tag
# uml-nf:latest.
set -euo pipefail
trap 'echo "build.sh: failed (status $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ctx=$root/build/containerlab/context
tag=uml-nf:latest image=$root/build/images/router.img stage_only=0
while [ $# -gt 0 ]; do
	case $1 in
	--stage-only) stage_only=1; shift ;;
	--tag) tag=$2; shift 2 ;;
	--image) image=$(readlink -f "$2"); shift 2 ;;
	*) echo "usage: $0 [--stage-only] [--tag NAME] [--image IMG]" >&2; exit 2 ;;
	esac
done
bin=$root/build/uml-nf
[ -x "$bin" ] || { echo "build.sh: $bin not built (make)" >&2; exit 1; }
[ -f "$image" ] || { echo "build.sh: image $image not found (make image)" >&2; exit 1; }
# No "| head -n 1" here: uml-nf writes more lines after the first, and under
# pipefail the SIGPIPE it may get when head has gone ends this script silently.
which=$("$bin" --which-kernel) || { echo "build.sh: uml-nf --which-kernel failed: $which" >&2; exit 1; }
kernel=$(readlink -f "${which%%$'\n'*}") || { echo "build.sh: cannot resolve the kernel path from: $which" >&2; exit 1; }
rm -rf "$ctx"
mkdir -p "$ctx"
cp "$root/configs/containerlab/Dockerfile" "$ctx/Dockerfile"
cp "$root/configs/containerlab/entrypoint.sh" "$ctx/entrypoint.sh"
cp "$bin" "$ctx/uml-nf"
cp "$kernel" "$ctx/linux"
cp --sparse=always "$image" "$ctx/router.img"
chmod 0755 "$ctx/entrypoint.sh" "$ctx/uml-nf" "$ctx/linux"
echo "build.sh: context in $ctx (kernel $kernel, image $image)"
[ "$stage_only" = 1 ] && exit 0
for engine in docker podman; do
	command -v "$engine" >/dev/null || continue
	"$engine" info >/dev/null 2>&1 || { echo "build.sh: $engine installed but not usable here" >&2; continue; }
	exec "$engine" build -t "$tag" "$ctx"
done
echo "build.sh: no usable docker or podman; the context is staged in $ctx" >&2
exit 1
