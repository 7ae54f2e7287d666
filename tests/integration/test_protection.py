"""Protection against abusive or too many clients (broker/core/limit.c, worker.c's tick): publish rate
limits (backpressure), memory_limit (CONNACK 0x89, QoS 0 shed, PUBACK 0x97), connect_timeout
against half-open and slowloris connections, and a flood of 300 bad connections that leaves
the broker serving its other clients. Timing is asserted with generous tolerances: counts
over a window, never exact instants."""
import os
import select
import signal
import socket
import time
import unittest

from harness import *

STARLING_ONLY = "Starling's limit keys (max_publish_rate, memory_limit semantics, connect_timeout)"


def sys_value(b, topic, at_least=0, timeout=5.0):
    """The value of a $SYS counter once it is at least at_least (sys_interval should be 1);
    fails after timeout."""
    c = client(b, unique("sys"), version=4)
    v = None
    try:
        c.subscribe(topic, 0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = int(c.expect(1, timeout)[0].payload.decode())
            if v >= at_least:
                return v
    finally:
        c.close()
    raise AssertionError("%s is %r, want at least %d" % (topic, v, at_least))


def set_conf(b, key, value, marker_count):
    """Rewrites key's line in b's config, sends SIGHUP and waits until the reload is logged
    for the marker_count-th time."""
    with open(b.conf_path) as f:
        lines = [l for l in f.read().splitlines() if not l.startswith(key + " ")]
    lines.append("%s %s" % (key, value))
    with open(b.conf_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.kill(b.pid, signal.SIGHUP)
    marker = "'%s' reloaded" % key
    if not wait_until(lambda: b.logs().count(marker) >= marker_count, timeout=5):
        raise AssertionError("no %r in the log" % marker)


@starling_only(STARLING_ONLY)
class TestPublishRate(OwnBrokerTestCase):
    def _flood(self, b, t, n, payload=b"x", keepalive=60):
        """A raw v3.1.1 publisher that writes n QoS 0 PUBLISHes at once."""
        pub = self.raw(b.port)
        pub.connect(unique("rp"), version=4, keepalive=keepalive)
        pub.send(b"".join(publish_packet(t, payload, 0) for _ in range(n)))
        return pub

    def _count_until(self, sub, n, timeout):
        """Collects messages until n arrived; returns their arrival times."""
        times = []
        for m in sub.expect(n, timeout):
            times.append(time.monotonic())
        return times

    def test_message_rate_caps_throughput(self):
        """max_publish_rate 20 (burst 20): 100 messages written at once take >= 3 s to get
        through, none is lost, the publisher stays connected (even with keep alive 2 s,
        longer than which it is paused), and other clients are served meanwhile."""
        b = self.broker(["max_publish_rate 20", "sys_interval 1"])
        t = unique("rate")
        sub = self.client(b, unique("rs"), version=4)
        sub.subscribe(t, 0)
        start = time.monotonic()
        pub = self._flood(b, t, 100, keepalive=2)
        sub.expect(20, 2.0)                              # the burst goes at once
        # meanwhile another client is not slowed down by the throttled one
        t2 = unique("other")
        other = self.client(b, unique("ro"), version=4)
        other.subscribe(t2, 1)
        t0 = time.monotonic()
        other.publish(t2, b"quick", 1)
        self.assertEqual(other.expect(1, 2.0)[0].payload, b"quick")
        self.assertLess(time.monotonic() - t0, 1.0)
        time.sleep(max(0.0, start + 1.5 - time.monotonic()))
        early = 20 + sub.messages.qsize()  # burst + 20/s for 1.5 s = 50
        self.assertLessEqual(early, 70, "rate not limited: %d messages in 1.5 s" % early)
        sub.expect(80, 15.0)
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 3.0, "100 messages at 20/s took %.2f s" % elapsed)
        self.assertLess(elapsed, 12.0)
        sub.expect_none(0.3)
        # still connected and served: PINGREQ -> PINGRESP
        pub.send(pingreq_packet())
        self.assertEqual(pub.read_packet(3.0).type, PINGRESP)
        sys_value(b, "$SYS/broker/publish/throttled", 1)

    def test_byte_rate_caps_throughput(self):
        """max_publish_bytes_rate 10k (burst 10k): 40 messages of 1000 bytes take >= 2 s."""
        b = self.broker(["max_publish_bytes_rate 10k"])
        t = unique("brate")
        sub = self.client(b, unique("bs"), version=5)
        sub.subscribe(t, 0)
        start = time.monotonic()
        self._flood(b, t, 40, b"y" * 1000)
        got = sub.expect(40, 15.0)
        elapsed = time.monotonic() - start
        self.assertEqual(len(got), 40)
        self.assertGreaterEqual(elapsed, 2.0, "40 KB at 10 KB/s took %.2f s" % elapsed)

    def test_no_limit_by_default(self):
        b = self.broker([])
        t = unique("norate")
        sub = self.client(b, unique("ns"), version=4)
        sub.subscribe(t, 0)
        start = time.monotonic()
        self._flood(b, t, 200)
        sub.expect(200, 5.0)
        self.assertLess(time.monotonic() - start, 2.0)


@starling_only(STARLING_ONLY)
class TestMemoryLimit(OwnBrokerTestCase):
    def test_tiny_limit_refuses_connect(self):
        """Above memory_limit, CONNECT is refused: v5 CONNACK 0x89 Server busy, v3.1.1
        return code 3 Server unavailable; then the connection closes."""
        b = self.broker(["memory_limit 1"])
        r = self.raw(b.port)
        r.connect(unique("m5"), version=5, expect_rc=0x89)
        r.assert_closed(3.0)
        r = self.raw(b.port)
        r.connect(unique("m4"), version=4, expect_rc=3)
        r.assert_closed(3.0)
        c = self.client(b, unique("mp"), version=5, connect=False)
        self.assertEqual(c.connect(expect_rc=None)[1], 0x89)

    def test_large_limit_changes_nothing(self):
        b = self.broker(["memory_limit 1G"])
        r = self.raw(b.port)
        r.connect(unique("ml"), version=5)
        t = unique("ml")
        r.subscribe([(t, 1)])
        r.publish(t, b"ok", qos=1, packet_id=3)
        got = [r.read_packet(), r.read_packet()]
        self.assertEqual(sorted(p.type for p in got), [PUBLISH, PUBACK])

    def test_above_refuse_mark_publish_refused(self):
        """Reloaded to 1 byte (above 1.25 x the limit): v5 QoS 1 -> PUBACK 0x97, QoS 2 ->
        PUBREC 0x97, QoS 0 dropped, nothing delivered; a v3.1.1 QoS 1 PUBLISH closes its
        connection unacknowledged. Back to 0: all works again; $SYS counts it."""
        b = self.broker(["memory_limit 0", "sys_interval 1"])
        t = unique("mr")
        sub = self.client(b, unique("mrs"), version=5)
        sub.subscribe(t, 2)
        p5 = self.raw(b.port)
        p5.connect(unique("mr5"), version=5)
        p3 = self.raw(b.port)
        p3.connect(unique("mr3"), version=4)
        set_conf(b, "memory_limit", "1", 1)
        p5.publish(t, b"q0", qos=0)
        p5.publish(t, b"q1", qos=1, packet_id=11)
        ack = p5.expect_packet(PUBACK)
        self.assertEqual((ack.packet_id, ack.rc), (11, 0x97))
        p5.publish(t, b"q2", qos=2, packet_id=12)
        rec = p5.expect_packet(PUBREC)
        self.assertEqual((rec.packet_id, rec.rc), (12, 0x97))
        p3.publish(t, b"v3", qos=1, packet_id=13)
        p3.assert_closed(3.0)
        sub.expect_none(0.5)
        r = self.raw(b.port)
        r.connect(unique("mrn"), version=5, expect_rc=0x89)
        set_conf(b, "memory_limit", "0", 2)
        p5.publish(t, b"again", qos=1, packet_id=14)
        ack = p5.expect_packet(PUBACK)
        self.assertEqual((ack.packet_id, ack.rc), (14, 0))
        self.assertEqual([m.payload for m in sub.expect(1)], [b"again"])
        sys_value(b, "$SYS/broker/load/publish/refused", 3)
        sys_value(b, "$SYS/broker/load/publish/dropped", 1)
        sys_value(b, "$SYS/broker/load/connections/refused", 1)

    def test_above_limit_qos0_shed_first(self):
        """Just above memory_limit (below 1.25 x): new clients are refused; QoS 1 still flows
        and is queued for an offline session; QoS 0 is not queued (queue_qos0_messages true
        queues it otherwise) and QoS 0 queued before is dropped."""
        b = self.broker(["memory_limit 0", "sys_interval 1", "queue_qos0_messages true"])
        t = unique("ms")
        cid = unique("mss")
        c = self.client(b, cid, version=4, clean=False)
        c.subscribe(t, 1)
        c.disconnect()
        pub = self.raw(b.port)
        pub.connect(unique("msp"), version=5)
        pub.publish(t, b"before-q0", qos=0)
        heap = sys_value(b, "$SYS/broker/heap/current")
        set_conf(b, "memory_limit", str(int(heap * 0.9)), 1)
        r = self.raw(b.port)
        r.connect(unique("msn"), version=5, expect_rc=0x89)
        pub.publish(t, b"during-q0", qos=0)
        pub.publish(t, b"during-q1", qos=1, packet_id=21)
        ack = pub.expect_packet(PUBACK)
        self.assertEqual((ack.packet_id, ack.rc), (21, 0))
        # queued QoS 0 goes at a tick (every 250 ms on each worker; worker 0 logs the state)
        self.assertTrue(wait_until(lambda: "shedding QoS 0" in b.logs()), b.logs()[-2000:])
        time.sleep(0.6)
        set_conf(b, "memory_limit", "0", 2)
        c = self.client(b, cid, version=4, clean=False)
        self.assertEqual([m.payload for m in c.expect(1)], [b"during-q1"])
        c.expect_none(0.5)
        sys_value(b, "$SYS/broker/load/publish/dropped", 2)
        sys_value(b, "$SYS/broker/load/connections/refused", 1)


def closed_within(socks, timeout):
    """Waits until every socket of socks reads EOF (or a reset); returns the ones still
    open after timeout."""
    pending = set(socks)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        ready, _, _ = select.select(list(pending), [], [], 0.1)
        for s in ready:
            try:
                data = s.recv(4096)
            except (ConnectionResetError, OSError):
                data = b""
            if not data:
                pending.discard(s)
    return pending


@starling_only(STARLING_ONLY)
class TestConnectTimeout(OwnBrokerTestCase):
    def _sock(self, port):
        s = socket.create_connection((HOST, port), timeout=5)
        self._closers.append(s)
        return s

    def test_half_open_closed_after_connect_timeout(self):
        """A socket that sends nothing is closed after connect_timeout (1 s), not before."""
        b = self.broker(["connect_timeout 1"])
        s = self._sock(b.port)
        start = time.monotonic()
        self.assertEqual(closed_within([s], 0.7), {s})
        self.assertEqual(closed_within([s], 3.0), set())
        self.assertGreaterEqual(time.monotonic() - start, 0.9)

    def test_slowloris_connect_closed_despite_progress(self):
        """A CONNECT trickled a byte every 0.2 s is closed after connect_timeout although
        bytes keep coming."""
        b = self.broker(["connect_timeout 1"])
        s = self._sock(b.port)
        pkt = connect_packet(unique("slow"), 4, True, 60)
        start = time.monotonic()
        closed = False
        for i in range(len(pkt) - 1):
            try:
                s.sendall(pkt[i:i + 1])
            except OSError:
                closed = True
                break
            if not closed_within([s], 0.2):
                closed = True
                break
        self.assertTrue(closed, "trickling connection never closed")
        self.assertLess(time.monotonic() - start, 3.0)

    def test_complete_connect_in_time_accepted(self):
        b = self.broker(["connect_timeout 1"])
        r = self.raw(b.port)
        time.sleep(0.5)
        r.connect(unique("ok"), version=4, keepalive=60)
        time.sleep(1.5)  # past connect_timeout: it no longer applies
        r.send(pingreq_packet())
        self.assertEqual(r.read_packet().type, PINGRESP)

    def test_stalled_packet_with_keepalive_0(self):
        """With keep alive 0 a packet begun must not stall for longer than connect_timeout."""
        b = self.broker(["connect_timeout 1"])
        r = self.raw(b.port)
        r.connect(unique("st"), version=4, keepalive=0)
        time.sleep(1.5)
        self.assertTrue(r.is_open(0.1), "an idle keep-alive 0 client must stay")
        r.send(publish_packet(unique("st"), b"abc", 0)[:4])
        r.assert_closed(4.0)

    def test_default_connect_timeout_is_10s(self):
        b = self.broker([])
        s = self._sock(b.port)
        self.assertEqual(closed_within([s], 8.0), {s})
        self.assertEqual(closed_within([s], 5.0), set())


@starling_only(STARLING_ONLY)
class TestFlood(OwnBrokerTestCase):
    def test_300_bad_connections(self):
        """300 connections: 100 send garbage, 100 a partial CONNECT, 100 nothing. The broker
        goes on serving a connected client and new ones throughout; the garbage ones are
        closed at once, the others after connect_timeout (1 s)."""
        b = self.broker(["connect_timeout 1", "sys_interval 1"])
        t = unique("flood")
        good = self.client(b, unique("good"), version=4)
        good.subscribe(t, 1)
        cp = connect_packet(unique("partial"), 4, True, 60)
        garbage, partial, silent = [], [], []
        start = time.monotonic()
        for i in range(100):
            for kind, data in ((garbage, b"\xff\xfe\x00\x01garbage" * 3), (partial, cp[:7]),
                               (silent, None)):
                s = socket.create_connection((HOST, b.port), timeout=5)
                self._closers.append(s)
                if data:
                    s.sendall(data)
                kind.append(s)
            if i % 25 == 0:  # served during the flood
                good.publish(t, b"during-%d" % i, 1)
                self.assertEqual(good.expect(1, 3.0)[0].payload, b"during-%d" % i)
        self.assertEqual(closed_within(garbage, 3.0), set(), "garbage connections kept open")
        # a new client gets in while the half-open ones still hold their slots
        fresh = self.client(b, unique("fresh"), version=5)
        fresh.subscribe(t, 0)
        good.publish(t, b"mid", 1)
        self.assertEqual(good.expect(1)[0].payload, b"mid")
        self.assertEqual(fresh.expect(1)[0].payload, b"mid")
        left = closed_within(partial + silent, 5.0)
        self.assertEqual(len(left), 0, "%d of 200 half-open connections still open" % len(left))
        self.assertGreaterEqual(time.monotonic() - start, 1.0)
        good.publish(t, b"after", 1)
        self.assertEqual(good.expect(1)[0].payload, b"after")
        self.assertEqual(fresh.expect(1)[0].payload, b"after")
        self.assertTrue(b.alive())
        sys_value(b, "$SYS/broker/connections/timed_out", 200)


if __name__ == "__main__":
    unittest.main()
