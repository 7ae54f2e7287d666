#!/usr/bin/env python3
"""tests/bench/cluster_bench.py - cluster_bench.sh's helper: raw MQTT 3.1.1 over loopback,
standard library only (it also drives mosquitto).

  flows PUB_PORT SUB_PORT [TIMEOUT]
      subscribes on SUB_PORT to a fresh topic and publishes to it on PUB_PORT (QoS 0, every
      50 ms) until one arrives: the path between two brokers carries traffic. Exit 0 or 1.
  converge SUB_PORT PUB_PORT [TRIALS]
      TRIALS times: a client on SUB_PORT subscribes to a fresh topic; from its SUBACK on, a
      client on PUB_PORT publishes numbered QoS 0 messages to that topic in a tight loop until
      the subscriber gets one. Prints one RESULT line: SUBSCRIBE->SUBACK and SUBACK->first
      delivery (median, p99, max in microseconds), and `missed` = publishes sent after a
      SUBACK that never arrived (publish n arrived first: 0..n-1 were lost), which a cluster
      with read-your-subscription keeps at 0.
"""

import select
import socket
import statistics
import struct
import sys
import time
import uuid


def varint(n):
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mstr(s):
    s = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(s)) + s


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


class Conn:
    def __init__(self, port, cid):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.s.sendall(packet(0x10, mstr("MQTT") + bytes([4, 2]) + struct.pack("!H", 60) +
                              mstr(cid)))
        first, body = self.read()
        if first >> 4 != 2 or body[1] != 0:
            raise RuntimeError("CONNACK %r" % body)

    def read(self, timeout=10.0):
        """The next packet as (first byte, body), or None after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                n, mult, pos = 0, 1, 1
                while pos < len(self.buf):
                    b = self.buf[pos]
                    n += (b & 0x7F) * mult
                    mult *= 128
                    pos += 1
                    if not b & 0x80:
                        if len(self.buf) >= pos + n:
                            first, body = self.buf[0], bytes(self.buf[pos:pos + n])
                            del self.buf[:pos + n]
                            return first, body
                        break
            left = max(0.0, deadline - time.monotonic())
            if not select.select([self.s], [], [], left)[0]:
                return None
            data = self.s.recv(65536)
            if not data:
                raise RuntimeError("connection closed")
            self.buf += data

    def subscribe(self, topic, pid=1):
        self.s.sendall(packet(0x82, struct.pack("!H", pid) + mstr(topic) + b"\x00"))
        while True:
            p = self.read()
            if p is None:
                raise RuntimeError("no SUBACK")
            if p[0] >> 4 == 9:
                return

    def publish(self, topic, payload):
        self.s.sendall(packet(0x30, mstr(topic) + payload))

    def next_publish(self, topic, timeout):
        """The payload of the next PUBLISH to topic (others are skipped), or None."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.read(max(0.0, deadline - time.monotonic()))
            if p is None:
                return None
            first, body = p
            if first >> 4 != 3:
                continue
            (n,) = struct.unpack_from("!H", body, 0)
            pos = 2 + n + (2 if first & 0x06 else 0)
            if body[2:2 + n].decode() == topic:
                return body[pos:]


def flows(pub_port, sub_port, timeout=10.0):
    topic = "bench/flows/" + uuid.uuid4().hex[:8]
    sub = Conn(sub_port, "flows-sub-" + uuid.uuid4().hex[:6])
    sub.subscribe(topic)
    pub = Conn(pub_port, "flows-pub-" + uuid.uuid4().hex[:6])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pub.publish(topic, b"x")
        if sub.next_publish(topic, 0.05) is not None:
            return 0
    return 1


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def converge(sub_port, pub_port, trials=200):
    run = uuid.uuid4().hex[:8]
    sub = Conn(sub_port, "conv-sub-" + run)
    pub = Conn(pub_port, "conv-pub-" + run)
    suback_us, deliver_us, missed, failed, sends = [], [], 0, 0, 0
    for i in range(trials):
        topic = "bench/conv/%s/%d" % (run, i)
        t0 = time.monotonic()
        sub.subscribe(topic, pid=i % 65535 + 1)
        t1 = time.monotonic()
        seq = 0
        got = None
        while time.monotonic() - t1 < 5.0:
            pub.publish(topic, b"%d" % seq)
            seq += 1
            got = sub.next_publish(topic, 0.0001)
            if got is not None:
                break
        t2 = time.monotonic()
        sends += seq
        if got is None:
            failed += 1
            continue
        suback_us.append((t1 - t0) * 1e6)
        deliver_us.append((t2 - t1) * 1e6)
        missed += int(got)
    if not suback_us:
        print("RESULT converge trials=%d failed=%d" % (trials, failed))
        return 1
    print("RESULT converge trials=%d failed=%d suback_p50_us=%.0f suback_p99_us=%.0f "
          "suback_max_us=%.0f deliver_p50_us=%.0f deliver_p99_us=%.0f deliver_max_us=%.0f "
          "missed=%d publishes=%d"
          % (trials, failed, statistics.median(suback_us), pct(suback_us, 0.99),
             max(suback_us), statistics.median(deliver_us), pct(deliver_us, 0.99),
             max(deliver_us), missed, sends))
    return 1 if failed else 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "flows":
        return flows(int(argv[1]), int(argv[2]), float(argv[3]) if len(argv) > 3 else 10.0)
    if len(argv) >= 3 and argv[0] == "converge":
        return converge(int(argv[1]), int(argv[2]), int(argv[3]) if len(argv) > 3 else 200)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
