#!/usr/bin/env python3
"""Rewrites a version 3 UML COW file in an older layout, for tests.

usage: cow-oldfmt.py IN.cow OUT.cow v1|v2|v3u

Same backing file, mtime, size, bitmap and data; only the header and the
offsets change (v1: host order, 256-byte path; v2: big-endian, 4096-byte
path; v3u: the unpacked v3 struct old 64-bit tools wrote). The layouts are
written from the format description, independently of uml-nf's C code, so a
merge of the result can be checked against uml_moo and against the v3 file.
"""
import struct
import sys

MAGIC = 0x4F4F4F4D


def round_up(x, a):
    return (x + a - 1) // a * a


def main():
    src, dst, kind = sys.argv[1:4]
    with open(src, "rb") as f:
        hdr = f.read(4128)
        magic, version, mtime, size, ss, align, fmt = struct.unpack(">IIIQIII", hdr[:32])
        assert magic == MAGIC and version == 3 and fmt == 0, "not a packed v3 COW"
        path = hdr[32:].split(b"\0", 1)[0]
        nsec = (size + ss - 1) // ss
        bm_off = round_up(4128, align)
        bm_len = (nsec + 7) // 8
        data_off = round_up(bm_off + bm_len, align)
        f.seek(bm_off)
        bitmap = f.read(bm_len)
        sectors = {}
        for n in range(nsec):
            if bitmap[n // 8] >> (n % 8) & 1:
                f.seek(data_off + n * ss)
                sectors[n] = f.read(ss).ljust(ss, b"\0")

    if kind == "v1":
        new = struct.pack("<ii256sIQi", MAGIC, 1, path, mtime, size, ss)
        new_bm_len = (size + ss - 1) // (8 * ss)
        new_bm_off = len(new)
        new_data = round_up(new_bm_off + new_bm_len, ss)
    elif kind == "v2":
        new = struct.pack(">II4096sIQi", MAGIC, 2, path, mtime, size, ss)
        new_bm_len = (size + ss - 1) // (8 * ss)
        new_bm_off = len(new)
        new_data = round_up(new_bm_off + new_bm_len, ss)
    elif kind == "v3u":
        # 8-byte mtime (its first four bytes are what readers take), then
        # the fields unpacked, the path at 36, padded to 4136.
        new = struct.pack(">IIQQIII4096s", MAGIC, 3, mtime << 32, size, ss, align, 0, path)
        new = new.ljust(4136, b"\0")
        new_bm_len = bm_len
        new_bm_off = round_up(len(new), align)
        new_data = round_up(new_bm_off + new_bm_len, align)
    else:
        sys.exit("kind must be v1, v2 or v3u")
    assert len(bitmap) >= new_bm_len

    with open(dst, "wb") as f:
        f.write(new)
        f.seek(new_bm_off)
        f.write(bitmap[:new_bm_len])
        for n, data in sectors.items():
            f.seek(new_data + n * ss)
            f.write(data)
        f.truncate(new_data + size)


if __name__ == "__main__":
    main()
