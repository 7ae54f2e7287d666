#!/usr/bin/python3
"""tests/bench/retained.py [STARLING] [N] - a million retained messages in Redis.

Starts Redis and Starling (retained_store redis) on loopback, stores N retained
messages (QoS 1, 1000 in flight), restarts Starling so it loads them from Redis,
then subscribes to '#' and times the delivery of all N while a second client
sends PINGREQ every 20 ms: its worst round trip shows whether the worker loop
stalled. Prints one RESULT line. A benchmark, not a test: nothing here fails on
a timing. Default N = 1,000,000 (about a minute on 2 cores).
"""

import os
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import Broker, connect_packet, decode_varint, pingreq_packet  # noqa: E402
from services import Redis  # noqa: E402


def publish_all(port, n):
    """QoS 1 retained PUBLISHes with up to 1000 unacknowledged; returns when all are acked."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(connect_packet("loader", 4, True, 60))
    s.recv(4)
    acked, sent, buf = 0, 0, bytearray()
    while acked < n:
        out = bytearray()
        while sent < n and sent - acked < 1000:
            topic = b"r/%d/%d" % (sent // 1000, sent % 1000)
            pid = sent % 65535 + 1
            body = struct.pack("!H", len(topic)) + topic + struct.pack("!H", pid) + b"v%d" % sent
            out += bytes([0x33]) + encode_len(len(body)) + body
            sent += 1
        if out:
            s.sendall(out)
        buf += s.recv(65536)
        while len(buf) >= 4 and buf[0] == 0x40:
            del buf[:4]
            acked += 1
    s.close()


def encode_len(n):
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def count_publishes(sock, n, deadline):
    """Reads until n PUBLISH packets arrived; returns the time it took."""
    t0, got, buf = time.monotonic(), 0, bytearray()  # from SUBSCRIBE sent
    while got < n and time.monotonic() < deadline:
        data = sock.recv(1 << 20)
        if not data:
            break
        buf += data
        pos = 0
        while len(buf) - pos >= 2:
            try:
                rl, hdr = decode_varint(buf, pos + 1)
            except ValueError:
                break
            if hdr + rl > len(buf):
                break
            if buf[pos] >> 4 == 3:
                got += 1
            pos = hdr + rl
        del buf[:pos]
    return got, time.monotonic() - t0


def probe(port, stop, rtts):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(connect_packet("probe", 4, True, 60))
    s.recv(4)
    while not stop.is_set():
        t = time.monotonic()
        s.sendall(pingreq_packet())
        s.recv(2)
        rtts.append(time.monotonic() - t)
        time.sleep(0.02)
    s.close()


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build",
                                                                "broker", "starling")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
    with Redis() as rd:
        conf = ["retained_store redis", "redis_url %s" % rd.url, "max_queued_messages 1000",
                "max_inflight_messages 1000"]
        b = Broker(conf, binary=os.path.abspath(binary), verbose=False)
        with b:
            t = time.monotonic()
            publish_all(b.port, n)
            store_s = time.monotonic() - t
            b.stop()
            t = time.monotonic()
            b.start(timeout=120)
            # Serving once a CONNECT is answered: the load runs before the loops do.
            c = socket.create_connection(("127.0.0.1", b.port), timeout=120)
            c.sendall(connect_packet("ready", 4, True, 60))
            c.recv(4)
            c.close()
            load_s = time.monotonic() - t
            stop, rtts = threading.Event(), []
            pt = threading.Thread(target=probe, args=(b.port, stop, rtts), daemon=True)
            pt.start()
            s = socket.create_connection(("127.0.0.1", b.port))
            s.sendall(connect_packet("sharp", 4, True, 600))
            s.recv(4)
            s.sendall(bytes([0x82, 6, 0, 1, 0, 1]) + b"#" + bytes([0]))
            got, deliver_s = count_publishes(s, n, time.monotonic() + 600)
            stop.set()
            pt.join(5)
            s.close()
            rtts.sort()
            print("RESULT retained=%d stored_s=%.1f store_rate=%.0f start_with_load_s=%.2f "
                  "delivered=%d deliver_s=%.1f deliver_rate=%.0f probe_pings=%d "
                  "probe_p99_ms=%.1f probe_max_ms=%.1f"
                  % (n, store_s, n / store_s, load_s, got, deliver_s, got / deliver_s,
                     len(rtts), rtts[int(len(rtts) * 0.99) - 1] * 1e3 if rtts else 0,
                     rtts[-1] * 1e3 if rtts else 0))


if __name__ == "__main__":
    main()
