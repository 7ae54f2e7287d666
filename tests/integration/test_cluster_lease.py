"""Node leases (issue 15, first part; cluster/lease.c, broker/core/node_lease.c): three nodes
with sessions in one real PostgreSQL, each reaching it through a proxy of its own, so that one
node can lose PostgreSQL while the others keep it.

- PostgreSQL cut from one node only: that node fences itself (its v5 clients get DISCONNECT
  0x9C, new CONNECTs CONNACK 0x9C, MQTT 3.1.1 ones return code 3) while the others serve on;
  back before its lease expired, it serves again.
- Cut longer than its lease: a peer declares it dead (once, in PostgreSQL), and when it sees
  PostgreSQL again it stops with exit code 75 to come back as a new boot.
- PostgreSQL down for everyone: nobody fences (clients stay, messages cross nodes) and nobody
  is declared dead after it returns.

Lease timing is shortened by configuration (renew 200 ms, fence 1.5 s, ttl 2.5 s, grace 0.5 s)
and stretched by SL_TEST_TIME_SCALE."""

import os
import subprocess
import time
import unittest

from harness import DISCONNECT, TIME_SCALE, RawClient, starling_only, unique, wait_until
from cluster_util import ClusterTestCase, LinkProxy
from services import Postgres

A, B, C = 0, 1, 2
USE_ANOTHER_SERVER = 0x9C
PSQL = os.path.join(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"), "psql")
RENEW, FENCE, TTL, GRACE = (int(x * TIME_SCALE) for x in (200, 1500, 2500, 500))


def pg_lines(port):
    return ["persistence true", "persistence_location data", "session_store postgres",
            "postgres_dsn host=127.0.0.1 port=%d dbname=starling user=postgres" % port,
            "cluster_lease_renew_interval %d" % RENEW, "cluster_lease_fence_after %d" % FENCE,
            "cluster_lease_ttl %d" % TTL, "cluster_lease_grace %d" % GRACE]


@starling_only("a Starling cluster with node leases in PostgreSQL")
class TestNodeLease(ClusterTestCase):
    NODES = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg = Postgres().start()

    @classmethod
    def tearDownClass(cls):
        cls.pg.cleanup()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.proxies = [LinkProxy(self.pg.port) for _ in range(3)]
        self.addCleanup(lambda: [p.close() for p in self.proxies])
        self.cl = self.new_cluster(3, node_extra={i: pg_lines(self.proxies[i].port)
                                                  for i in range(3)})
        for i in range(3):
            self.assertTrue(self.cl.sys(i).wait(lambda s: s.get("fenced") == 0),
                            "n%d never reported its lease" % (i + 1))

    def declared(self, node):
        """(state, declared_by) of node's row, read through the test's own connection."""
        out = subprocess.run([PSQL, "-X", "-qAt", self.pg.dsn, "-c",
                              "SELECT state, coalesce(declared_by, '') FROM cluster_node"
                              " WHERE node_id = '%s'" % node],
                             capture_output=True, text=True, timeout=10)
        return tuple(out.stdout.strip().split("|")) if out.stdout.strip() else None

    def connack_rc(self, i):
        c = self.client(self.cl[i], unique("probe"), version=5, connect=False)
        try:
            return c.connect(expect_rc=None)[1]
        finally:
            c.close()

    def test_one_node_cut_from_postgres_fences_itself(self):
        a5 = RawClient(self.cl[A].port)
        a5.connect(unique("a5"), version=5)
        self.addCleanup(a5.sock.close)
        b5 = self.client(self.cl[B], unique("b5"), version=5)
        t = unique("still")
        b5.subscribe(t, 1)
        self.proxies[A].cut()
        packets = a5.assert_closed(timeout=(FENCE + 4 * RENEW) / 1000 + 5 * TIME_SCALE,
                                   allow=(DISCONNECT,))
        self.assertEqual([p.rc for p in packets], [USE_ANOTHER_SERVER],
                         "a client of the fenced node")
        # Refused while fenced, v5 and v3.1.1 alike.
        _, rc, _ = self.client(self.cl[A], unique("n5"), version=5, connect=False).connect(
            expect_rc=None)
        self.assertEqual(rc, USE_ANOTHER_SERVER)
        _, rc, _ = self.client(self.cl[A], unique("n4"), version=4, connect=False).connect(
            expect_rc=None)
        self.assertEqual(rc, 3)  # server unavailable
        self.assertIn("fenced", self.cl[A].logs())  # its own $SYS watcher was closed too
        # The others serve on: a message published on C reaches B's subscriber.
        self.client(self.cl[C], version=5).publish(t, b"served", 1)
        self.assertEqual([m.payload for m in b5.expect(1)], [b"served"])
        self.assertFalse(b5.disconnected)
        # Back before its lease expired: it serves again, and nobody declared it dead.
        self.proxies[A].restore()
        self.assertTrue(wait_until(lambda: self.connack_rc(A) == 0, timeout=5 * TIME_SCALE),
                        "n1 still refuses CONNECTs after PostgreSQL came back")
        self.cl[A]._drop_watch()
        self.assertEqual(self.cl.sys(A).fresh("fenced"), 0)
        self.assertEqual(self.cl.sys(A).fresh("ready"), 1)
        self.assertEqual(self.declared("n1")[0], "0")
        self.assertIsNone(self.cl[A].proc.poll())

    def test_cut_past_its_lease_is_declared_dead_once_and_it_restarts(self):
        self.proxies[A].cut()
        self.assertTrue(wait_until(lambda: (self.declared("n1") or ("0",))[0] == "1",
                                   timeout=(TTL + GRACE + 4 * RENEW) / 1000 + 10 * TIME_SCALE),
                        "n1 was never declared dead")
        state, by = self.declared("n1")
        self.assertIn(by, ("n2", "n3"))
        self.assertIsNone(self.cl[A].proc.poll(), "it cannot know before it sees PostgreSQL")
        self.proxies[A].restore()
        self.assertEqual(self.cl[A].wait_exit(timeout=10 * TIME_SCALE), 75, self.cl[A].logs())
        self.assertIn("declared dead by a peer", self.cl[A].logs())
        for i in (B, C):
            self.assertIsNone(self.cl[i].proc.poll())
            self.assertEqual(self.cl.sys(i).fresh("fenced"), 0)

    def test_postgres_down_for_everyone_fences_nobody(self):
        subs = [self.client(self.cl[i], unique("s"), version=5) for i in range(3)]
        t = unique("outage")
        for s in subs:
            s.subscribe(t, 0)
        self.pg.stop()
        try:
            time.sleep((TTL + GRACE + 4 * RENEW) / 1000 + 1 * TIME_SCALE)
            for i, s in enumerate(subs):
                self.assertFalse(s.disconnected, "n%d dropped its client" % (i + 1))
                self.assertEqual(self.cl.sys(i).fresh("fenced"), 0)
            self.client(self.cl[C], version=5).publish(t, b"during", 0)
            for s in subs:
                self.assertEqual([m.payload for m in s.expect(1)], [b"during"])
        finally:
            self.pg.start()
        time.sleep((TTL + GRACE + 6 * RENEW) / 1000 + 1 * TIME_SCALE)
        for i in range(3):
            self.assertIsNone(self.cl[i].proc.poll(), "n%d stopped" % (i + 1))
            self.assertEqual(self.declared("n%d" % (i + 1))[0], "0")
        for s in subs:
            self.assertFalse(s.disconnected)


if __name__ == "__main__":
    unittest.main()
