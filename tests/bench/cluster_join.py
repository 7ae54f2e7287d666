#!/usr/bin/python3
"""Route table at scale (issue 14): N unique subscriptions spread over three nodes, then a
fourth node joins. Prints the time from the fourth node's start to its readiness (it holds
every reachable peer's routes) and to holding all N routes, its route-table bytes per remote
route ($SYS/broker/cluster/routes/bytes) and its RSS growth per remote route.

    tests/bench/cluster_join.py [--subs 1000000] [--bin build-dev/broker/starling]

A benchmark, not a test: figures go to tests/bench/README.md. Loopback only.
"""

import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def packet(kind, body):
    return bytes([kind]) + varint(len(body)) + body


def read_packet(sock):
    h = sock.recv(1)
    if not h:
        raise EOFError
    mult, n = 1, 0
    while True:
        b = sock.recv(1)[0]
        n += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    body = b""
    while len(body) < n:
        chunk = sock.recv(n - len(body))
        if not chunk:
            raise EOFError
        body += chunk
    return h[0], body


def subscribe_many(port, filters, per_packet=5000):
    """One v3.1.1 client subscribing to every filter, per_packet filters per SUBSCRIBE."""
    s = socket.create_connection((HOST, port))
    cid = "join-bench-%d" % port
    s.sendall(packet(0x10, utf8("MQTT") + bytes([4, 2]) + struct.pack("!H", 600) + utf8(cid)))
    read_packet(s)
    pid = 0
    for i in range(0, len(filters), per_packet):
        pid = pid % 65535 + 1
        body = struct.pack("!H", pid) + b"".join(utf8(f) + b"\x00" for f in filters[i:i + per_packet])
        s.sendall(packet(0x82, body))
        kind, _ = read_packet(s)
        assert kind == 0x90, kind
    return s  # kept open: the subscriptions live with the connection


class SysReader:
    """Reads retained-less $SYS values by subscribing with a raw v3.1.1 client."""

    def __init__(self, port):
        self.s = socket.create_connection((HOST, port))
        self.s.sendall(packet(0x10, utf8("MQTT") + bytes([4, 2]) + struct.pack("!H", 600) +
                              utf8("sys-%d" % port)))
        read_packet(self.s)
        self.s.sendall(packet(0x82, struct.pack("!H", 1) + utf8("$SYS/broker/cluster/#") + b"\x00"))
        read_packet(self.s)
        self.s.settimeout(0.2)
        self.vals = {}

    def poll(self):
        try:
            while True:
                kind, body = read_packet(self.s)
                if kind >> 4 == 3:
                    tl = struct.unpack("!H", body[:2])[0]
                    topic = body[2:2 + tl].decode()
                    self.vals[topic.rsplit("cluster/", 1)[1]] = body[2 + tl:].decode()
        except (socket.timeout, BlockingIOError):
            pass
        return self.vals


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start_node(binary, d, i, ports, cports):
    conf = os.path.join(d, "n%d.conf" % i)
    with open(conf, "w") as f:
        f.write("listener %d %s\nallow_anonymous true\nworker_threads 1\nsys_interval 1\n"
                "cluster_node_id n%d\ncluster_bind %s:%d\ncluster_secret bench\n"
                "cluster_peers %s\n" %
                (ports[i], HOST, i, HOST, cports[i], ",".join("%s:%d" % (HOST, p) for p in cports)))
    log = open(os.path.join(d, "n%d.log" % i), "w")
    return subprocess.Popen([binary, "-c", conf], stdout=log, stderr=subprocess.STDOUT)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--subs", type=int, default=1000000)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--bin", default=os.path.join(here, "../../build-dev/broker/starling"))
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="cluster-join-")
    ports = [free_port() for _ in range(4)]
    cports = [free_port() for _ in range(4)]
    procs = []
    try:
        for i in range(3):
            procs.append(start_node(a.bin, d, i, ports, cports))
        time.sleep(1.0)
        filters = ["site/%d/dev/%d/temp" % (i % 100, i) for i in range(a.subs)]
        t0 = time.time()
        conns = [subscribe_many(ports[i], filters[i::3]) for i in range(3)]
        readers = [SysReader(ports[i]) for i in range(3)]
        want = a.subs - len(filters[0::3])  # the least any node holds of the others
        while True:
            vals = [r.poll() for r in readers]
            if all(int(v.get("routes/remote", 0)) >= want for v in vals):
                break
            if time.time() - t0 > 300:
                sys.exit("routes did not converge: %s" % [v.get("routes/remote") for v in vals])
        print("subscribed %d filters over 3 nodes and converged in %.1f s" % (a.subs, time.time() - t0))
        procs.append(None)
        t1 = time.time()
        procs[3] = start_node(a.bin, d, 3, ports, cports)
        rss0 = None
        r4 = None
        while r4 is None:
            try:
                r4 = SysReader(ports[3])
            except OSError:
                time.sleep(0.01)
        if rss0 is None:
            rss0 = rss_kb(procs[3].pid)
        full_at = None
        while full_at is None:
            v = r4.poll()
            if int(v.get("routes/remote", 0)) >= a.subs:
                full_at = time.time() - t1
            if time.time() - t1 > 120:
                sys.exit("node 4 did not sync: %s" % v)
        # $SYS comes once a second: the log line says when readiness came, to the ms.
        ready_at = None
        with open(os.path.join(d, "n3.log")) as f:
            for line in f:
                if "' ready:" in line:
                    ready_at = float(line.split()[0]) - t1
                    break
        time.sleep(1.5)
        v = r4.poll()
        routes = int(v["routes/remote"])
        rbytes = int(v["routes/bytes"])
        rss = rss_kb(procs[3].pid)
        print("node 4: ready (log) %.2f s after start; $SYS showed all %d routes %.2f s after "
              "start" % (ready_at, routes, full_at))
        print("node 4: route table %.1f B/route; RSS %.1f MB, %.1f B/route over its idle RSS" %
              (rbytes / routes, rss / 1024.0, (rss - rss0) * 1024.0 / routes))
        for c in conns:
            c.close()
    finally:
        for p in procs:
            if p is not None:
                p.terminate()
        for p in procs:
            if p is not None:
                p.wait()


if __name__ == "__main__":
    main()
