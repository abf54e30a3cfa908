#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_vhost_user and fuzz_tx_hdr (their layouts
are described at the top of each target). Run from anywhere; the seeds are
committed, so this only needs running again when a layout changes."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- vhost-user scripts --------------------------------------------------------

NEED_REPLY = 0x9
PLAIN = 0x1
FD_MEM, FD_EVENT, FD_SOCK, FD_PIPE, FD_RO, FD_NULL, FD_DIR, FD_FILE = range(8)


def fdsel(n, kind):
    return bytes([n | kind << 3])


def msg(req, payload=b"", flags=NEED_REPLY, fds=b"\x00", size=None):
    size = len(payload) if size is None else size
    return fds + struct.pack("<III", req, flags, size) + payload


def ram(off, data):
    """RAM write record (offset a multiple of 16)."""
    out = b""
    while data:
        chunk, data = data[:255], data[255:]
        out += b"\xff" + struct.pack("<HB", off // 16, len(chunk)) + chunk
        off += len(chunk)
    return out


REGION = 0x10000
NUM = 8


def ring(q):
    return REGION + q * 0x1000


def mem_table(gpa=REGION, size=0xF0000, uva=REGION, off=REGION):
    return struct.pack("<II", 1, 0) + struct.pack("<QQQQ", gpa, size, uva, off) + bytes(32)


FEATURES = (1 << 32) | (1 << 29) | (1 << 28) | (1 << 5) | (1 << 0) | (1 << 30)
PROTO = (1 << 3) | (1 << 5) | (1 << 9)


def boot():
    s = msg(3, flags=PLAIN)                                   # SET_OWNER
    s += msg(1, flags=PLAIN)                                  # GET_FEATURES
    s += msg(15, flags=PLAIN)                                 # GET_PROTOCOL_FEATURES
    s += msg(16, struct.pack("<Q", PROTO))                    # SET_PROTOCOL_FEATURES
    s += msg(21, fds=fdsel(1, FD_SOCK))                       # SET_SLAVE_REQ_FD
    s += msg(2, struct.pack("<Q", FEATURES))                  # SET_FEATURES
    s += msg(5, mem_table(), fds=fdsel(1, FD_MEM))            # SET_MEM_TABLE
    return s


def vrings():
    s = b""
    for q in range(3):
        s += msg(13, struct.pack("<Q", q), fds=fdsel(1, FD_SOCK))        # CALL
        s += msg(8, struct.pack("<II", q, NUM))                          # NUM
        s += msg(10, struct.pack("<II", q, 0))                           # BASE
        s += msg(9, struct.pack("<IIQQQQ", q, 0, ring(q), ring(q) + 0x400,
                                 ring(q) + 0x200, 2**64 - 1))            # ADDR
    for q in range(3):
        s += msg(12, struct.pack("<Q", q), fds=fdsel(1, FD_EVENT))       # KICK
        s += msg(18, struct.pack("<II", q, 1))                           # ENABLE
    return s


def guest_chains():
    """A tx chain (readable) and an rx chain (writable), both available."""
    s = b""
    tx, rx = ring(1), ring(0)
    s += ram(tx, struct.pack("<QIHH", 0x40000, 64, 0, 0))
    s += ram(tx + 0x200, struct.pack("<HHH", 0, 1, 0))
    s += ram(rx, struct.pack("<QIHH", 0x41000, 1500, 2, 0))
    s += ram(rx + 0x200, struct.pack("<HHH", 0, 1, 0))
    # an indirect table on the control ring
    ctrl = ring(2)
    s += ram(0x42000, struct.pack("<QIHH", 0x43000, 2, 1, 1) + struct.pack("<QIHH", 0x43010, 1, 2, 0))
    s += ram(ctrl, struct.pack("<QIHH", 0x42000, 32, 4, 0))
    s += ram(ctrl + 0x200, struct.pack("<HHH", 0, 1, 0))
    return s


def config_reads():
    s = b""
    for size in (1, 6, 8, 24):
        s += msg(24, struct.pack("<III", 0, size, 0) + bytes(size), flags=PLAIN)
    return s


def wrong_fds():
    s = msg(5, mem_table(), fds=fdsel(1, FD_PIPE))
    s += msg(5, mem_table(size=0x1000, off=0), fds=fdsel(1, FD_DIR))
    s += msg(5, mem_table(), fds=fdsel(1, FD_RO))
    s += msg(12, struct.pack("<Q", 1), fds=fdsel(1, FD_FILE))
    s += msg(13, struct.pack("<Q", 1), fds=fdsel(1, FD_NULL))
    s += msg(13, struct.pack("<Q", 1), fds=fdsel(1, FD_PIPE))
    s += msg(14, struct.pack("<Q", 1), fds=fdsel(1, FD_FILE))
    s += msg(21, fds=fdsel(1, FD_PIPE))
    s += msg(7, fds=fdsel(1, FD_FILE))
    s += msg(5, mem_table(), fds=fdsel(7, FD_MEM))
    return s


def write(name, target, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


write("boot", "fuzz_vhost_user", boot())
write("rings-and-chains", "fuzz_vhost_user", guest_chains() + boot() + vrings())
write("config", "fuzz_vhost_user", boot() + config_reads())
write("wrong-fds", "fuzz_vhost_user", boot() + wrong_fds())
write("mem-table-replaced", "fuzz_vhost_user",
      guest_chains() + boot() + vrings() + msg(5, mem_table(), fds=fdsel(1, FD_MEM)))
write("reset", "fuzz_vhost_user", boot() + vrings() + msg(34) + msg(4))
write("cut", "fuzz_vhost_user", boot() + msg(9, b"\x01\x00", size=40))
write("oversize", "fuzz_vhost_user", boot() + msg(5, b"", size=0x10000, fds=fdsel(2, FD_MEM)))

# ---- transmit headers ------------------------------------------------------------

CSUM, TSO4, TSO6, ECN = 1 << 0, 1 << 11, 1 << 12, 1 << 13


def csum16(b):
    if len(b) % 2:
        b += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp4(payload):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + payload, 1, 0x4000, 64, 6, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    ip = ip[:10] + struct.pack("!H", csum16(ip)) + ip[12:]
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 1, 5 << 4, 0x10, 0xFFFF, 0, 0)
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp + bytes(payload)


def tcp6(payload):
    ip = struct.pack("!IHBB16s16s", 6 << 28, 20 + payload, 6, 64, bytes(15) + b"\x01", bytes(15) + b"\x02")
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 1, 5 << 4, 0x10, 0xFFFF, 0, 0)
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd" + ip + tcp + bytes(payload)


def vhdr(flags=0, gso=0, hdr_len=0, gso_size=0, cstart=0, coff=0):
    return struct.pack("<BBHHHHH", flags, gso, hdr_len, gso_size, cstart, coff, 0)


def tx(caps, acked, cuts, hdr, frame):
    return bytes([caps]) + struct.pack("<Q", acked) + bytes([cuts]) + hdr + frame


ALL = CSUM | TSO4 | TSO6 | ECN
write("tso4", "fuzz_tx_hdr", tx(3, ALL, 3, vhdr(1, 1, 54, 1448, 34, 16), tcp4(4000)))
write("tso6", "fuzz_tx_hdr", tx(3, ALL, 5, vhdr(1, 4, 74, 1440, 54, 16), tcp6(3000)))
write("tso4-ecn", "fuzz_tx_hdr", tx(3, ALL, 0, vhdr(1, 0x81, 54, 536, 34, 16), tcp4(2000)))
write("csum", "fuzz_tx_hdr", tx(1, CSUM, 2, vhdr(1, 0, 0, 0, 34, 16), tcp4(100)))
write("plain", "fuzz_tx_hdr", tx(0, 0, 1, vhdr(), bytes(60)))
write("udp-gso", "fuzz_tx_hdr", tx(3, ALL, 0, vhdr(1, 3, 42, 1400, 34, 6), tcp4(3000)))
write("tso-not-negotiated", "fuzz_tx_hdr", tx(3, CSUM, 0, vhdr(1, 1, 54, 1448, 34, 16), tcp4(4000)))
write("csum-past-end", "fuzz_tx_hdr", tx(3, ALL, 0, vhdr(1, 0, 0, 0, 150, 9), bytes(160)))
write("data-valid", "fuzz_tx_hdr", tx(3, ALL, 0, vhdr(2, 0, 0, 0, 0, 0), tcp4(10)))
