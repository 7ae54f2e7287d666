"""5,000 concurrent connections: all get CONNACK, all subscribe, one QoS 0
publish reaches every one, all disconnect cleanly, broker keeps serving.
Raw non-blocking sockets driven by selectors (no threads)."""

import errno
import resource
import selectors
import socket
import time
import unittest

from harness import *

N = 5000
BATCH = 500
HEADROOM = 200


def _raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    target = hard if hard == resource.RLIM_INFINITY else max(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Conns:
    """A set of non-blocking sockets with per-socket receive buffers."""

    def __init__(self):
        self.socks = []
        self.bufs = {}
        self.eof = set()
        self.sel = selectors.DefaultSelector()

    def open_batch(self, port, n, timeout=20):
        new = []
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((HOST, port))
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                raise AssertionError("connect failed: %s" % errno.errorcode.get(rc, rc))
            new.append(s)
        pending = set(new)
        for s in new:
            self.sel.register(s, selectors.EVENT_WRITE)
        deadline = time.monotonic() + timeout
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%d connects did not complete" % len(pending))
            for key, _ in self.sel.select(min(left, 1.0)):
                s = key.fileobj
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise AssertionError("connect error %s" % errno.errorcode.get(err, err))
                self.sel.unregister(s)
                pending.discard(s)
        for s in new:
            self.bufs[s] = bytearray()
            self.sel.register(s, selectors.EVENT_READ)
        self.socks.extend(new)
        return new

    def send_all(self, socks, data_for):
        for s in socks:
            data = data_for(s) if callable(data_for) else data_for
            # small packets on an idle socket: one send normally suffices
            sent = 0
            while sent < len(data):
                try:
                    sent += s.send(data[sent:])
                except BlockingIOError:
                    time.sleep(0.001)

    def gather(self, socks, nbytes, timeout=20):
        """Read until every socket in socks has >= nbytes buffered."""
        want = set(s for s in socks if len(self.bufs[s]) < nbytes)
        deadline = time.monotonic() + timeout
        while want:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%d of %d connections did not receive %d bytes in %ds"
                                     % (len(want), len(socks), nbytes, timeout))
            for key, _ in self.sel.select(min(left, 1.0)):
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionError:
                    data = b""
                if not data:
                    self.eof.add(s)
                    self.sel.unregister(s)
                    if s in want:
                        raise AssertionError("connection closed early; buffer %r"
                                             % bytes(self.bufs[s][:20]))
                    continue
                self.bufs[s] += data
                if len(self.bufs[s]) >= nbytes:
                    want.discard(s)

    def take(self, s, n):
        out = bytes(self.bufs[s][:n])
        del self.bufs[s][:n]
        return out

    def wait_eof(self, socks, timeout=20):
        want = set(s for s in socks if s not in self.eof)
        deadline = time.monotonic() + timeout
        while want:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%d connections not closed by the broker" % len(want))
            for key, _ in self.sel.select(min(left, 1.0)):
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionError:
                    data = b""
                if not data:
                    self.eof.add(s)
                    self.sel.unregister(s)
                    want.discard(s)
                else:
                    self.bufs[s] += data

    def close(self):
        for s in self.socks:
            try:
                if s not in self.eof:
                    self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
        self.sel.close()
        self.socks = []


class TestLoad(BrokerTestCase):

    @classmethod
    def setUpClass(cls):
        # raise the limit first: the broker inherits it
        cls.nofile = _raise_nofile(N + HEADROOM + 100)
        super().setUpClass()

    def test_5000_connections(self):
        if self.nofile < N + HEADROOM:
            self.skipTest("RLIMIT_NOFILE is %d; need %d" % (self.nofile, N + HEADROOM))
        t0 = time.monotonic()
        topic = unique("load")
        # paho select()s: its sockets must get low fds, so connect it first
        pub = self.client(unique("loadpub"), version=4)
        conns = Conns()
        self.addCleanup(conns.close)

        # 1. connect in batches; every connection gets CONNACK 0
        connack = b"\x20\x02\x00\x00"
        for start in range(0, N, BATCH):
            batch = conns.open_batch(self.port, min(BATCH, N - start))
            ids = {}
            for i, s in enumerate(batch):
                ids[s] = connect_packet("ld%05d" % (start + i), version=4, keepalive=600)
            conns.send_all(batch, lambda s: ids[s])
            conns.gather(batch, len(connack))
            bad = [conns.bufs[s][:4] for s in batch if conns.bufs[s][:4] != connack]
            self.assertEqual(bad, [], "non-zero CONNACKs")
            for s in batch:
                conns.take(s, 4)
        t_conn = time.monotonic() - t0
        self.assertEqual(len(conns.socks), N)
        self.assertTrue(self.broker.alive())

        # 2. all subscribe (QoS 0)
        sub = subscribe_packet(7, [(topic, 0)])
        suback = b"\x90\x03\x00\x07\x00"
        for start in range(0, N, BATCH):
            batch = conns.socks[start:start + BATCH]
            conns.send_all(batch, sub)
            conns.gather(batch, len(suback))
            bad = [conns.bufs[s][:5] for s in batch if conns.bufs[s][:5] != suback]
            self.assertEqual(bad, [], "bad SUBACKs")
            for s in batch:
                conns.take(s, 5)

        # 3. one publish reaches all of them
        pub.publish(topic, b"to-everyone", 0)
        expected = publish_packet(topic, b"to-everyone")
        conns.gather(conns.socks, len(expected), timeout=30)
        wrong = sum(1 for s in conns.socks if bytes(conns.bufs[s]) != expected)
        self.assertEqual(wrong, 0, "%d connections got something else" % wrong)
        for s in conns.socks:
            conns.take(s, len(expected))

        # 4. clean DISCONNECT from all; the broker closes each one
        conns.send_all(conns.socks, disconnect_packet())
        conns.wait_eof(conns.socks, timeout=30)
        self.assertEqual(len(conns.eof), N)
        stray = sum(1 for s in conns.socks if conns.bufs[s])
        self.assertEqual(stray, 0, "unexpected bytes after DISCONNECT")
        conns.close()

        self.assertBrokerServes()
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 60, "load test took %.1fs (connect phase %.1fs)"
                        % (elapsed, t_conn))



class TestSlowSubscriber(BrokerTestCase):
    def test_stalled_reader_does_not_hold_up_others(self):
        """A subscriber that stops reading must not stall delivery to the others: 1,000
        QoS 1 messages of 10 KB (10 MB, more than the stalled socket's buffers hold) all
        reach the reading QoS 1 subscriber in order, and the broker keeps serving (QoS 0
        for the stalled one is dropped past its backlog bound)."""
        t = unique("slow")
        stalled = self.raw()
        stalled.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(unique("stall"), version=4)
        stalled.subscribe([(t, 0)])
        fast = self.client(unique("fast"), version=4)
        fast.subscribe(t, 1)
        pub = self.client(unique("slowpub"), version=4)
        body = b"x" * 10240
        for i in range(1000):
            pub.publish(t, b"%06d" % i + body, 1)
        got = [m.payload[:6] for m in fast.expect(1000, timeout=30)]
        self.assertTrue(got == [b"%06d" % i for i in range(1000)], "lost or reordered")
        self.assertBrokerServes()

if __name__ == "__main__":
    unittest.main()
