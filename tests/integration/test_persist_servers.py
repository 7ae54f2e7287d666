"""Durability with the server backends (storage issue): sessions in PostgreSQL
(session_store postgres) and retained messages in Redis (retained_store redis),
each server started by the test on a loopback port, stopped and killed under
traffic. Every acknowledged message is counted."""

import threading
import time
import unittest

from harness import (IS_MOSQUITTO, OwnBrokerTestCase, Properties, PacketTypes,
                     unique, wait_until)
from persist_cases import PersistCases, session_props
from services import Postgres, Redis

SKIP = unittest.skipIf(IS_MOSQUITTO, "starling only: mosquitto has no PostgreSQL or "
                       "Redis store")


class Stream:
    """A QoS 1 publisher in a thread, counting the messages it saw acknowledged."""

    def __init__(self, test, broker, topic, qos=1, retain=False, rate=200):
        self.c = test.client(broker, version=4)
        self.topic, self.qos, self.retain, self.rate = topic, qos, retain, rate
        self.mids = {}
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        while not self.stop.is_set():
            topic = self.topic(i) if callable(self.topic) else self.topic
            try:
                self.mids[self.c.publish(topic, b"%d" % i, qos=self.qos,
                                         retain=self.retain, wait=False)] = i
            except AssertionError:
                return
            i += 1
            time.sleep(1.0 / self.rate)

    def start(self):
        self.t.start()
        return self

    def finish(self, settle=10):
        """Stops publishing, waits for outstanding acks; returns acked ids."""
        self.stop.set()
        self.t.join(5)
        wait_until(lambda: all(self.c.is_published(m) for m in list(self.mids)),
                   timeout=settle)
        return {i for m, i in list(self.mids.items()) if self.c.is_published(m)}


@SKIP
class PersistPostgres(PersistCases, OwnBrokerTestCase):
    """The shared durability checks with sessions in PostgreSQL (retained messages in the
    embedded store), plus PostgreSQL going away under traffic."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg = Postgres().start()
        # A queue large enough for the whole stream: past max_queued_messages (1000 by
        # default, as mosquitto) a broker drops, by design, what it has acknowledged.
        cls.STORE = ["persistence true", "persistence_location data",
                     "session_store postgres", "postgres_dsn %s" % cls.pg.dsn,
                     "max_queued_messages 100000"]

    @classmethod
    def tearDownClass(cls):
        cls.pg.cleanup()
        super().tearDownClass()

    def test_postgres_restart_under_traffic_loses_nothing_acknowledged(self):
        b = self.start_broker()
        topic = unique("pgt")
        cid = self.offline_subscriber(b, topic, qos=1)
        s = Stream(self, b, topic).start()
        time.sleep(1)
        self.pg.kill9()
        time.sleep(1.5)
        # While it is away: no new persistent session (0x88), clean ones still work.
        c = self.client(b, unique("new"), version=5, clean=False, connect=False)
        _, rc, _ = c.connect(properties=session_props(), expect_rc=None)
        self.assertEqual(rc, 0x88, "a persistent session was promised while the store is down")
        self.client(b, version=5).publish(unique("x"), b"still serving", qos=1)
        self.pg.start()
        time.sleep(2)
        acked = s.finish(settle=15)
        self.assertGreater(len(acked), 100)
        sub = self.resume(b, cid)
        got = set()
        while True:
            batch = sub.drain(settle=1.5)
            if not batch:
                break
            got.update(int(m.payload) for m in batch)
        self.assertFalse(acked - got, "%d acknowledged messages lost" % len(acked - got))
        self.assertIn("reconnect", b.logs().lower())

    def test_session_taken_from_postgres_by_a_fresh_data_directory(self):
        # A node whose local files are gone still finds its sessions in PostgreSQL.
        b = self.start_broker()
        topic = unique("pgs")
        cid = self.offline_subscriber(b, topic, qos=1)
        self.client(b).publish(topic, b"kept in postgres", qos=1)
        b.kill9()
        import shutil
        import os
        shutil.rmtree(os.path.join(b.dir, "data"), ignore_errors=True)
        b.start()
        s = self.resume(b, cid)
        self.assertEqual(s.expect(1)[0].payload, b"kept in postgres")


@SKIP
class PersistRedis(OwnBrokerTestCase):
    """Retained messages in Redis: shared by every broker process using it, durable across
    a broker kill -9, and a Redis outage under traffic loses nothing acknowledged."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rd = Redis().start()

    @classmethod
    def tearDownClass(cls):
        cls.rd.cleanup()
        super().tearDownClass()

    def conf(self):
        return ["retained_store redis", "redis_url %s" % self.rd.url]

    def test_retained_set_on_one_process_served_by_another(self):
        a = self.broker(self.conf())
        b = self.broker(self.conf())
        topic = unique("shared")
        self.client(a).publish(topic, b"from a", qos=1, retain=True)
        s = self.client(b)
        # b learns of it through Redis (pub/sub), not from a.
        self.assertTrue(wait_until(lambda: self._retained(b, topic) == b"from a", timeout=5))
        s.subscribe(topic, 1)
        self.assertEqual(s.expect(1)[0].payload, b"from a")
        self.client(a).publish(topic, b"", qos=1, retain=True)  # cleared on a...
        self.assertTrue(wait_until(lambda: self._retained(b, topic) is None, timeout=5))

    def _retained(self, broker, topic):
        c = self.client(broker)
        c.subscribe(topic, 0)
        got = c.drain(settle=0.3)
        c.close()
        return got[0].payload if got else None

    def test_new_process_loads_retained_from_redis(self):
        a = self.broker(self.conf())
        topic = unique("load")
        self.client(a).publish(topic, b"stored", qos=1, retain=True)
        a.kill9()
        b = self.broker(self.conf())
        s = self.client(b)
        s.subscribe(topic, 1)
        self.assertEqual(s.expect(1)[0].payload, b"stored")

    def test_retained_expiry_is_kept(self):
        a = self.broker(self.conf())
        topic = unique("exp")
        p = Properties(PacketTypes.PUBLISH)
        p.MessageExpiryInterval = 1
        self.client(a).publish(topic, b"short", qos=1, retain=True, properties=p)
        time.sleep(1.5)
        b = self.broker(self.conf())
        s = self.client(b)
        s.subscribe(topic, 1)
        s.expect_none(0.5)

    def test_redis_restart_under_traffic_loses_nothing_acknowledged(self):
        b = self.broker(self.conf())
        root = unique("rr")
        s = Stream(self, b, lambda i: "%s/%d" % (root, i), retain=True).start()
        plain = self.client(b)
        time.sleep(1)
        self.rd.kill9()
        # Publishes without retain still flow while Redis is away.
        plain.publish(unique("plain"), b"flows", qos=1, timeout=3)
        time.sleep(1)
        self.rd.start()
        acked = s.finish(settle=20)
        self.assertGreater(len(acked), 50)
        other = self.broker(self.conf())  # a fresh process reads Redis only
        c = self.client(other, version=4, max_inflight=100)
        c.subscribe(root + "/#", 1)
        got = set()
        while True:
            batch = c.drain(settle=1.5)
            if not batch:
                break
            got.update(int(m.payload) for m in batch)
        self.assertFalse(acked - got, "%d acknowledged retained messages lost"
                         % len(acked - got))


if __name__ == "__main__":
    unittest.main()
