"""Several worker loops: sessions spread over loops by client id, connections handed to the
loop that owns their id, messages crossing loops in order, shared groups picked once."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import *


@unittest.skipIf(os.environ.get("BROKER") == "mosquitto",
                 "worker_threads is a Starling key: mosquitto refuses to start with it")
class TestWorkers(OwnBrokerTestCase):
    def test_cross_worker_delivery_in_order(self):
        b = self.broker(["worker_threads 4", "worker_placement hash"])
        t = unique("wk")
        subs = [self.client(b, unique("wsub%d" % i), version=4) for i in range(12)]
        for s in subs:
            s.subscribe(t + "/#", 1)
        pub = self.client(b, unique("wpub"), version=5)
        for i in range(100):
            pub.publish(t + "/x", b"%d" % i, 1)
        want = [b"%d" % i for i in range(100)]
        for s in subs:
            self.assertEqual([m.payload for m in s.expect(100)], want)

    def test_shared_group_once_per_message_across_workers(self):
        b = self.broker(["worker_threads 4", "worker_placement hash"])
        t = unique("wsh")
        members = [self.client(b, unique("wm%d" % i), version=5) for i in range(4)]
        for m in members:
            m.subscribe("$share/g/" + t, 1)
        pub = self.client(b, unique("wsp"), version=4)
        for i in range(40):
            pub.publish(t, b"%d" % i, 1)
        got = []
        for m in members:
            mine = [x.payload for x in m.expect(10)]
            m.expect_none(0.3)
            got += mine
        self.assertEqual(sorted(got), sorted(b"%d" % i for i in range(40)))

    def test_takeover_and_resume_across_workers(self):
        """Reconnecting with the same id always reaches the session, whichever loop the
        kernel hands the new connection to."""
        b = self.broker(["worker_threads 4", "worker_placement hash"])
        t = unique("wres")
        cid = unique("wpers")
        c = self.client(b, cid, version=4, clean=False)
        c.subscribe(t, 1)
        c.disconnect()
        pub = self.client(b, unique("wrp"), version=4)
        for i in range(5):
            pub.publish(t, b"q%d" % i, 1)
        for attempt in range(3):
            c = self.client(b, cid, version=4, clean=False)
            self.assertTrue(c.session_present)
            if attempt == 0:
                self.assertEqual([m.payload for m in c.expect(5)],
                                 [b"q%d" % i for i in range(5)])
            c.disconnect()


@unittest.skipIf(os.environ.get("BROKER") == "mosquitto",
                 "worker_threads is a Starling key: mosquitto refuses to start with it")
class TestPlacement(OwnBrokerTestCase):
    """Which worker owns a new session (worker_placement, broker/core/owner.h): `pack` fills
    the first worker while it is not busy, so a lightly loaded broker hands no message
    between threads; `hash` spreads by client id. Read from $SYS/broker/workers/<i>/..."""

    def sys_values(self, b, pattern, want, timeout=10, **kw):
        """The latest $SYS values of topics matching pattern, once want(values) holds."""
        vals = {}
        mon = self.client(b, unique("wsys"), version=4, **kw)
        mon.subscribe(pattern, 0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in mon.expect(1, timeout=max(deadline - time.monotonic(), 0.1)):
                vals[m.topic] = int(m.payload)
            if want(vals):
                return vals
        raise AssertionError("$SYS %s never satisfied the test: %r" % (pattern, vals))

    def test_pack_keeps_an_idle_broker_on_one_loop(self):
        b = self.broker(["worker_threads 4", "sys_interval 1"])
        t = unique("wpk")
        subs = [self.client(b, unique("wpks%d" % i), version=4) for i in range(6)]
        for s in subs:
            s.subscribe(t, 1)
        pubs = [self.client(b, unique("wpkp%d" % i), version=5) for i in range(6)]
        for p in pubs:
            p.publish(t, b"x", 1)
        for s in subs:
            self.assertEqual(len(s.expect(6)), 6)
        # 12 clients and the monitor, all on worker 0 (each landed on any of the 4 loops).
        key = "$SYS/broker/workers/%d/sessions"
        vals = self.sys_values(b, "$SYS/broker/workers/+/sessions",
                               lambda v: len(v) == 4 and v[key % 0] >= 13)
        self.assertEqual([vals[key % i] for i in (1, 2, 3)], [0, 0, 0])

    def test_hash_spreads_sessions(self):
        b = self.broker(["worker_threads 4", "worker_placement hash", "sys_interval 1"])
        clients = [self.client(b, unique("wh%d" % i), version=4) for i in range(40)]
        vals = self.sys_values(b, "$SYS/broker/workers/+/sessions",
                               lambda v: len(v) == 4 and sum(v.values()) >= 41)
        self.assertGreaterEqual(sum(1 for v in vals.values() if v > 0), 3, vals)
        self.assertTrue(all(c.c.is_connected() for c in clients))

    def test_registry_forgets_ended_and_refused_clients(self):
        """An id is registered while its session lives or its CONNECT is handled: clean
        sessions that end and CONNECTs refused (a wrong password) leave nothing behind, so
        a stream of random client ids cannot grow the registry."""
        d = tempfile.mkdtemp(prefix="starling-wk-")
        self.addCleanup(shutil.rmtree, d, True)
        pw = os.path.join(d, "pw")
        with open(pw, "w") as f:
            f.write("")
        rc = subprocess.run([starling_passwd(), "-b", pw, "u", "secret"],
                            capture_output=True).returncode
        self.assertEqual(rc, 0)
        os.chmod(pw, 0o644)
        b = self.broker(["worker_threads 4", "sys_interval 1", "password_file " + pw],
                        allow_anonymous=False)
        for i in range(30):
            r = self.raw(b.port)
            r.connect(unique("wbad%d" % i), version=5, username="u", password="wrong",
                      expect_rc=0x86)
            r.close()
            c = self.client(b, unique("wok%d" % i), version=4, username="u",
                            password="secret")
            c.disconnect()
        kept = self.client(b, unique("wkeep"), version=4, clean=False, username="u",
                           password="secret")
        kept.disconnect()  # a persistent session stays registered
        # The monitor and the kept session: 2.
        self.sys_values(b, "$SYS/broker/sessions/registered",
                        lambda v: v.get("$SYS/broker/sessions/registered") == 2, timeout=15,
                        username="u", password="secret")


if __name__ == "__main__":
    unittest.main()
