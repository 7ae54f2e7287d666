"""Durability with the embedded store (persistence true): the shared checks of
persist_cases.py, plus what only a local log has (a torn tail, the directory
lock). Starling only: mosquitto's persistence saves on an interval, so a
kill -9 loses what came since the last save by design.
"""

import os
import shutil
import tempfile
import signal
import unittest

from harness import IS_MOSQUITTO, OwnBrokerTestCase, unique, wait_until
from persist_cases import PersistCases


@unittest.skipIf(IS_MOSQUITTO, "starling only: mosquitto saves on an interval; "
                 "a kill -9 loses what came since the last save")
class PersistEmbedded(PersistCases, OwnBrokerTestCase):
    STORE = ["persistence true", "persistence_location data"]

    def data_files(self, b):
        d = os.path.join(b.dir, "data", "mosquitto.db.starling")  # persistence_file's own
        return [os.path.join(d, f) for f in sorted(os.listdir(d))]

    def test_corrupt_log_tail_is_truncated_and_reported(self):
        b = self.start_broker()
        topic = unique("c")
        cid = self.offline_subscriber(b, topic, qos=1)
        self.client(b).publish(topic, b"before", qos=1)
        b.kill9()
        logs = [f for f in self.data_files(b) if os.path.basename(f).startswith("log-")]
        self.assertTrue(logs, "no log file in %r" % self.data_files(b))
        with open(logs[-1], "ab") as f:
            f.write(b"\x57\x00\x00\x00garbage-that-is-no-record" * 3)
        b.start()
        self.assertTrue(wait_until(lambda: "dropped the last" in b.logs(), timeout=5),
                        "no report of the truncated tail")
        s = self.resume(b, cid)
        self.assertEqual(s.expect(1)[0].payload, b"before")

    def test_second_broker_on_same_directory_refused(self):
        b = self.start_broker()
        other = self.broker(list(self.STORE), start=False)
        # Point the second broker at the first one's data directory.
        with open(other.conf_path, "a") as f:
            f.write("persistence_location %s\n" % os.path.join(b.dir, "data"))
        other.spawn()
        self.assertIsNotNone(other.wait_exit(10), "second broker kept running")
        self.assertNotEqual(other.proc.returncode, 0)

    def test_persistence_file_names_its_own_store(self):
        """Issue 11: two brokers sharing persistence_location with different
        persistence_file names run side by side, each with its own sessions."""
        loc = os.path.join(tempfile.mkdtemp(prefix="starling-loc-"), "shared")
        self.addCleanup(shutil.rmtree, os.path.dirname(loc), True)
        brokers, cids = [], []
        for name in ("a.db", "b.db"):
            b = self.broker(["persistence true", "persistence_location " + loc,
                             "persistence_file " + name])
            brokers.append(b)
            cids.append(self.offline_subscriber(b, "pf/" + name, qos=1))
        self.assertEqual(sorted(os.listdir(loc)), ["a.db.starling", "b.db.starling"])
        for b, cid in zip(brokers, cids):
            b.stop()
            b.start()
            self.resume(b, cid)  # asserts the session is present

    def test_sigterm_exit_code_and_snapshot(self):
        b = self.start_broker()
        cid = self.offline_subscriber(b, unique("s"), qos=1)
        self.assertEqual(b.stop(signal.SIGTERM), 0)
        b.start()
        self.resume(b, cid)


if __name__ == "__main__":
    unittest.main()
