#!/usr/bin/python3
"""tests/bench/stall.py [STARLING] - does one client's big work stall everyone else?

For Starling (worker_threads 1, so both clients share a loop) and Debian's mosquitto, one
after the other, with the same configuration (packet limit 16 MB):
  1. a client subscribes to a million sibling filters (m/0 .. m/999999) in 20 SUBSCRIBEs of
     50,000, then disconnects, so its session and its million subscriptions end;
  2. a client sends one 16 MB SUBSCRIBE of four million one-byte filters;
while a second client sends PINGREQ every 5 ms. Prints one RESULT line per broker and case:
the time the work took, the probe's round trips (p50, p99, max) and, for Starling, the
longest turn of its loop outside the poll ($SYS/broker/loop/stall_max_us). A benchmark:
nothing here fails on a timing. About a minute on 2 cores.
"""

import os
import shutil
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import (Broker, Client, PingProbe, RawClient, SUBACK, fixed,  # noqa: E402
                     unique)

LIMIT = 16 * 1024 * 1024


def million_packets():
    return [fixed(8, 2, struct.pack("!H", k + 1) + b"".join(
        struct.pack("!H", len(f)) + f + b"\x00"
        for f in (b"m/%d" % (k * 50000 + i) for i in range(50000)))) for k in range(20)]


def big_subscribe():
    n = (LIMIT - 5 - 2) // 4
    return fixed(8, 2, struct.pack("!H", 7) + b"\x00\x01a\x00" * n)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else 0.0


def stall_us(b, is_starling):
    if not is_starling:
        return "-"
    c = Client(b.port, unique("sys"), version=4)
    c.connect()
    c.subscribe("$SYS/broker/loop/stall_max_us", 0)
    v = c.expect(1, timeout=5)[0].payload.decode()
    c.close()
    return v


def run_case(name, b, is_starling, work):
    probe = PingProbe(b.port, timeout=600)
    probe.start()
    t0 = time.monotonic()
    work(b)
    took = time.monotonic() - t0
    time.sleep(3)  # what follows the work (a session's end) is measured too
    probe.stop()
    ms = [r * 1000 for r in probe.rtts]
    print("RESULT broker=%s case=%s work_s=%.2f pings=%d ping_p50_ms=%.2f ping_p99_ms=%.2f "
          "ping_max_ms=%.2f loop_stall_max_us=%s" % (
              "starling" if is_starling else "mosquitto", name, took, len(ms), pct(ms, 0.5),
              pct(ms, 0.99), max(ms, default=0), stall_us(b, is_starling)), flush=True)


def million(packets):
    def work(b):
        r = RawClient(b.port, timeout=600)
        r.connect(unique("million"), version=4)
        for pkt in packets:
            r.send(pkt)
            r.expect_packet(SUBACK)
        r.send(b"\xe0\x00")  # DISCONNECT: the session ends with its subscriptions
        r.sock.close()
    return work


def sixteen_mb(pkt):
    def work(b):
        r = RawClient(b.port, timeout=600)
        r.connect(unique("big"), version=4)
        r.send(pkt)
        r.expect_packet(SUBACK)
        r.sock.close()
    return work


def main():
    starling = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        HERE, "..", "..", "build-dev", "broker", "starling"))
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    packets, big = million_packets(), big_subscribe()
    for binary, is_starling in ((starling, True), (mosquitto, False)):
        conf = ["max_packet_size %d" % LIMIT, "sys_interval 1"]
        if is_starling:
            conf.append("worker_threads 1")
        for name, work in (("million_filters", million(packets)),
                           ("subscribe_16mb", sixteen_mb(big))):
            b = Broker(conf, binary=binary, verbose=False)
            try:
                b.start()
                run_case(name, b, is_starling, work)
            except (OSError, AssertionError) as e:
                print("RESULT broker=%s case=%s failed=%r" % (os.path.basename(binary), name, e))
            finally:
                b.cleanup()


if __name__ == "__main__":
    socket.setdefaulttimeout(600)
    main()
