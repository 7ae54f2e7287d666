#!/usr/bin/env python3
"""Writes the seeds of tests/fuzz/corpus/cluster_frame/: valid cluster frames (cluster/frame.h,
proto/cluster.proto) in fuzz_cluster_frame.c's input format: one byte giving the read size
minus one, then the stream. Protobuf is written by hand (no protobuf package needed); field
numbers are those of proto/cluster.proto. Reproducible: run it again after changing a seed.

    tests/fuzz/gen_cluster_frame_corpus.py [OUT_DIR]   (default: corpus/cluster_frame next to it)
"""
import os
import struct
import sys

HELLO, AUTH, HEARTBEAT, ROUTE_DELTA, ROUTE_SYNC_REQUEST, ROUTE_FULL_SYNC, FORWARD, FORWARD_ACK = \
    range(1, 9)
IGNORABLE, HAS_TAIL = 1, 2


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def vi(field, n):
    return varint(field << 3) + varint(n)


def ld(field, x):
    x = x.encode() if isinstance(x, str) else x
    return varint(field << 3 | 2) + varint(len(x)) + x


def packed(field, nums):
    return ld(field, b"".join(varint(n) for n in nums))


def frame(ftype, meta, tail=None, flags=0):
    if tail is not None:
        flags |= HAS_TAIL
    body = meta + (tail or b"")
    return struct.pack(">IBBHI", 12 + len(body), ftype, flags, 0, len(meta)) + body


hello = frame(HELLO, ld(1, "c1") + ld(2, "n1") + vi(3, 0x1234567890abcdef) + vi(4, 1) +
              vi(5, 0) + vi(6, 5) + vi(7, 1) + vi(8, 2) + ld(9, bytes(range(32))) +
              vi(10, 7) + ld(11, ld(1, "n2") + vi(2, 3) + vi(3, 9)))
auth = frame(AUTH, ld(1, bytes(32)) + ld(2, b"\x01" * 32) + ld(3, b"\xaa" * 32) + vi(4, 0))
heartbeat = frame(HEARTBEAT, vi(1, 42) + vi(2, 123456789) + vi(3, 1) + vi(4, 1700000000000) +
                  vi(5, 3) + vi(6, 7) + vi(7, 0xffffffffffffffff) + vi(8, 3) + vi(9, 1000) +
                  vi(10, 0))
delta = frame(ROUTE_DELTA, ld(1, "n1") + vi(2, 3) + vi(3, 6) + vi(4, 7) +
              ld(5, vi(2, 1) + ld(3, "a/+/c")) +
              ld(5, vi(1, 1) + vi(2, 2) + ld(3, "x/#") + ld(4, "g") + vi(5, 2)))
sync_req = frame(ROUTE_SYNC_REQUEST, ld(1, "n1") + vi(2, 3) + vi(3, 6))
full_sync = frame(ROUTE_FULL_SYNC, ld(1, "n1") + vi(2, 3) + vi(3, 7) + vi(4, 0) + vi(5, 1) +
                  ld(6, vi(1, 1) + ld(2, "a/b")) + ld(6, vi(1, 2) + ld(2, "s/#") + ld(3, "g")))
fwd_meta = (vi(1, 77) + ld(2, ld(1, "n1") + vi(2, 3) + vi(3, 100)) + ld(3, "pub") +
            ld(4, "a/b/c") + vi(5, 1) + vi(6, 1) + vi(7, 1) + vi(8, 1) + vi(9, 1) + vi(10, 60) +
            ld(11, "text/plain") + ld(12, "r/t") + ld(13, b"\x00\x01") +
            ld(14, ld(1, "k") + ld(2, "v")) + packed(15, [1, 70000, 5]))
forward = frame(FORWARD, fwd_meta, b"hello payload \x00\xff")
forward_shared = frame(FORWARD, vi(1, 78) + ld(4, "t") +
                       ld(16, ld(1, "g") + vi(2, 2) + ld(3, "n3")), b"")
forward_ack = frame(FORWARD_ACK, vi(1, 1) + vi(2, 77) + ld(3, vi(1, 76) + vi(2, 1)))
unknown = frame(200, ld(1, "from the next release"), b"tail", IGNORABLE)

seeds = {
    "hello": (255, hello),
    "auth": (255, auth),
    "heartbeat": (0, heartbeat),
    "route_delta": (255, delta),
    "route_sync_request": (255, sync_req),
    "route_full_sync": (7, full_sync),
    "forward": (255, forward),
    "forward_shared_empty_tail": (255, forward_shared),
    "forward_ack": (255, forward_ack),
    "unknown_ignorable": (255, unknown),
    "stream": (12, hello + auth + unknown + heartbeat + forward + forward_ack + delta),
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus",
                                                         "cluster_frame")
os.makedirs(out, exist_ok=True)
for name, (step, data) in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([step]) + data)
