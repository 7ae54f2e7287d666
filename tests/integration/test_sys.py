"""$SYS topics with `sys_interval 1`."""

import queue
import re
import time
import unittest

from harness import *

REQUIRED = [
    "$SYS/broker/version",
    "$SYS/broker/uptime",
    "$SYS/broker/clients/connected",
    "$SYS/broker/messages/received",
    "$SYS/broker/subscriptions/count",
    "$SYS/broker/retained messages/count",
]


class TestSys(BrokerTestCase):
    CONF = ["sys_interval 1"]

    def _collect(self, c, topics, timeout=3.0):
        """Latest payload per topic until all `topics` were seen or timeout."""
        seen = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(t in seen for t in topics):
            try:
                m = c.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen[m.topic] = m.payload.decode("utf-8", "replace")
        return seen

    def test_required_topics_within_3s(self):
        c = self.client(unique("sys"), version=4)
        t0 = time.monotonic()
        c.subscribe("$SYS/broker/#", 0)
        seen = self._collect(c, REQUIRED, timeout=3.0)
        missing = [t for t in REQUIRED if t not in seen]
        self.assertEqual(missing, [], "missing after %.1fs; got %s"
                         % (time.monotonic() - t0, sorted(seen)))
        self.assertRegex(seen["$SYS/broker/version"], r"\d+\.\d+")
        self.assertRegex(seen["$SYS/broker/uptime"], r"^\d+ seconds$")
        for t in REQUIRED[2:]:
            self.assertRegex(seen[t], r"^\d+$", t)
        self.assertGreaterEqual(int(seen["$SYS/broker/clients/connected"]), 1)
        self.assertGreaterEqual(int(seen["$SYS/broker/subscriptions/count"]), 1)

    def test_counters_follow_activity(self):
        root = unique("sysact")
        watcher = self.client(unique("sysw"), version=5)
        watcher.subscribe("$SYS/broker/#", 0)
        extra = [self.client(unique("sysx"), version=4) for _ in range(3)]
        for i, c in enumerate(extra):
            c.subscribe("%s/%d" % (root, i), 0)
        extra[0].publish(root + "/r", b"kept", 1, retain=True)
        # wait for a $SYS cycle that reflects the new state
        want = {"$SYS/broker/clients/connected": 4, "$SYS/broker/subscriptions/count": 4,
                "$SYS/broker/retained messages/count": 1}
        deadline = time.monotonic() + 4
        latest = {}
        while time.monotonic() < deadline:
            try:
                m = watcher.messages.get(timeout=0.2)
            except queue.Empty:
                continue
            if m.topic in want:
                latest[m.topic] = int(m.payload)
            if all(latest.get(k, -1) >= v for k, v in want.items()):
                break
        for k, v in want.items():
            self.assertGreaterEqual(latest.get(k, -1), v, "%s = %s" % (k, latest.get(k)))
        extra[0].publish(root + "/r", b"", 1, retain=True)

    def test_uptime_advances(self):
        c = self.client(unique("sysu"), version=4)
        c.subscribe("$SYS/broker/uptime", 0)
        values = []
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and len(set(values)) < 2:
            try:
                m = c.messages.get(timeout=0.2)
            except queue.Empty:
                continue
            values.append(int(re.match(r"^(\d+)", m.payload.decode()).group(1)))
        self.assertGreaterEqual(len(set(values)), 2, values)
        self.assertEqual(values, sorted(values))

    def test_version_is_retained(self):
        c = self.client(unique("sysv"), version=4)
        c.subscribe("$SYS/broker/version", 0)
        m = c.expect(1, timeout=3)[0]
        self.assertTrue(m.retain, "version is published retained")
        self.assertGreater(len(m.payload), 0)

    def test_clients_cannot_publish_into_sys(self):
        """A client PUBLISH to $SYS/... must not reach $SYS subscribers."""
        t = "$SYS/broker/" + unique("fake")
        c = self.client(unique("sysf"), version=4)
        c.subscribe(t, 0)
        pub = self.client(unique("sysfp"), version=4)
        pub.publish(t, b"spoof", 0)
        for m in c.drain(0.5):
            self.assertNotEqual(m.payload, b"spoof")


if __name__ == "__main__":
    unittest.main()
