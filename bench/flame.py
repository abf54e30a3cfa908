#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""flame.py - a flame graph (SVG) from `perf script` output, for bench/profile.sh.

    perf script -F comm,tid,ip,sym,dso -i profile.data | python3 bench/flame.py --title T > profile.svg

Each sample's call chain is read root first and prefixed with the task's
name (comm), so the bottom row splits the router CPU by thread (nf-datapath,
the guest's process, ksoftirqd, idle) and each tower above is where that
thread's time went. A box's width is its share of all samples; its colour
says where the code lives (kernel, uml-nf, guest kernel `linux`, libraries).
Hovering a box shows its name, samples and share (SVG <title>).

`--folded FILE` also writes the folded stacks (one "a;b;c N" line per
distinct chain), the usual exchange format for other flame graph tools.
"""
import argparse
import html
import re
import sys
from collections import defaultdict

WIDTH = 1200
ROW = 16
STACK = re.compile(r"^\s+[0-9a-f]+\s")  # a call-chain line: address, symbol, (dso)
MIN_PX = 0.3  # narrower boxes are not drawn (their share shows in the parent)


def fold(lines):
    """perf script text -> {tuple(frames root first): samples}."""
    stacks = defaultdict(int)
    comm = None
    frames = []

    def flush():
        if comm is not None:
            stacks[tuple([comm] + frames[::-1])] += 1

    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            flush()
            comm, frames = None, []
            continue
        parts = line.split(None, 1)
        if not STACK.match(line) or len(parts) < 2:
            # A sample's header: "comm tid ..." (perf pads comm on the left).
            flush()
            comm, frames = parts[0], []
            continue
        # "    ffffffff8100 sym+0x1f (dso)" -> "sym" (dso kept for colour)
        rest = parts[1]
        dso = ""
        if rest.endswith(")") and " (" in rest:
            rest, dso = rest.rsplit(" (", 1)
            dso = dso[:-1]
        sym = rest.split("+0x")[0]
        if sym == "[unknown]":
            sym = "[" + dso.rsplit("/", 1)[-1] + "]" if dso else "[unknown]"
        frames.append(sym + "\x00" + dso)
    flush()
    return stacks


def colour(name, dso, depth):
    if depth == 0:
        return "rgb(200,200,200)"
    h = sum(map(ord, name)) % 40
    if "kernel" in dso or dso.startswith("[k"):
        return "rgb(%d,%d,60)" % (215 + h // 2, 110 + h * 2)  # orange: host kernel
    if dso.endswith("uml-nf"):
        return "rgb(80,%d,%d)" % (150 + h * 2, 90 + h)  # green: uml-nf
    if dso.endswith("/linux") or dso.endswith("linux.uml") or dso == "linux":
        return "rgb(%d,120,%d)" % (150 + h, 200 + h)  # violet: the guest kernel
    return "rgb(90,%d,%d)" % (140 + h, 200 + h)  # blue: libraries, the rest


def build(stacks):
    """Nested {name: [count, children]} tree."""
    root = [0, {}]
    for chain, n in stacks.items():
        root[0] += n
        node = root
        for f in chain:
            node = node[1].setdefault(f, [0, {}])
            node[0] += n
    return root


def depth_of(node):
    return 1 + max((depth_of(c) for c in node[1].values()), default=0)


def render(root, title, out):
    total = root[0] or 1
    rows = depth_of(root) - 1
    height = (rows + 3) * ROW
    out.write('<?xml version="1.0" standalone="no"?>\n')
    out.write('<svg version="1.1" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg" '
              'font-family="monospace" font-size="11">\n' % (WIDTH, height))
    out.write('<rect width="100%%" height="100%%" fill="white"/>\n')
    out.write('<text x="%d" y="14" text-anchor="middle" font-size="14">%s (%d samples)</text>\n'
              % (WIDTH // 2, html.escape(title), total))

    def draw(node, name, x, depth):
        w = node[0] * (WIDTH - 20) / total
        if w < MIN_PX:
            return
        sym, _, dso = name.partition("\x00")
        y = height - (depth + 1) * ROW - 4
        label = "%s (%d samples, %.2f%%)" % (sym, node[0], 100.0 * node[0] / total)
        out.write('<g><title>%s</title><rect x="%.1f" y="%d" width="%.1f" height="%d" '
                  'fill="%s" stroke="white" stroke-width="0.3"/>'
                  % (html.escape(label), x, y, w, ROW - 1, colour(sym, dso, depth)))
        chars = int(w / 6.6)
        if chars >= 3:
            text = sym if len(sym) <= chars else sym[:chars - 2] + ".."
            out.write('<text x="%.1f" y="%d">%s</text>' % (x + 2, y + ROW - 4, html.escape(text)))
        out.write("</g>\n")
        cx = x
        for cname, child in sorted(node[1].items()):
            draw(child, cname, cx, depth + 1)
            cx += child[0] * (WIDTH - 20) / total

    x = 10.0
    for name, child in sorted(root[1].items()):
        draw(child, name, x, 0)
        x += child[0] * (WIDTH - 20) / total
    out.write("</svg>\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--title", default="router CPU")
    ap.add_argument("--folded", help="also write the folded stacks here")
    a = ap.parse_args()
    stacks = fold(sys.stdin)
    if not stacks:
        print("flame.py: no samples on stdin", file=sys.stderr)
        return 1
    if a.folded:
        with open(a.folded, "w") as f:
            for chain, n in sorted(stacks.items()):
                f.write(";".join(c.partition("\x00")[0] for c in chain) + " %d\n" % n)
    render(build(stacks), a.title, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
