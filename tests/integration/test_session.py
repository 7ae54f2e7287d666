"""Persistent sessions: subscriptions kept offline, queued QoS 1/2 delivery,
redelivery of unacknowledged messages with DUP, session expiry, and the
max_queued_messages limit."""

import time
import unittest

from harness import *


def v5_session(expiry):
    p = Properties(PacketTypes.CONNECT)
    p.SessionExpiryInterval = expiry
    return p


class TestSession(BrokerTestCase):

    def _offline_v311(self, topic, qos=1):
        cid = unique("s4")
        c = self.client(cid, version=4, clean=False)
        self.assertFalse(c.session_present)
        c.subscribe(topic, qos)
        c.disconnect()
        return cid

    def _offline_v5(self, topic, qos=1, expiry=300):
        cid = unique("s5")
        c = self.client(cid, version=5, clean=True, properties=v5_session(expiry))
        c.subscribe(topic, qos)
        c.disconnect()
        return cid

    def test_v311_subscriptions_kept_and_queued_delivered(self):
        t = unique("q4")
        cid = self._offline_v311(t, qos=2)
        pub = self.client(unique("p"), version=4)
        pub.publish(t, b"q0", 0)   # QoS 0 to an offline client: may be dropped
        pub.publish(t, b"q1", 1)
        pub.publish(t, b"q2", 2)
        c = self.client(cid, version=4, clean=False)
        self.assertTrue(c.session_present)
        got = [(m.payload, m.qos) for m in c.drain(0.6)]
        self.assertIn((b"q1", 1), got)
        self.assertIn((b"q2", 2), got)
        self.assertEqual([g for g in got if g[0] != b"q0"], [(b"q1", 1), (b"q2", 2)])
        # the subscription is still there while online
        pub.publish(t, b"live", 1)
        self.assertEqual(c.expect(1)[0].payload, b"live")

    def test_v5_subscriptions_kept_and_queued_delivered(self):
        t = unique("q5")
        cid = self._offline_v5(t, qos=2)
        pub = self.client(unique("p"), version=5)
        for i in range(5):
            pub.publish(t, b"m%d" % i, 1 + i % 2)
        c = self.client(cid, version=5, clean=False, properties=v5_session(300))
        self.assertTrue(c.session_present)
        got = [(m.payload, m.qos) for m in c.expect(5)]
        # paho hands QoS 2 messages over at PUBREL, so compare per QoS level
        # (ordering is only guaranteed within one QoS)
        self.assertEqual([g for g in got if g[1] == 1], [(b"m0", 1), (b"m2", 1), (b"m4", 1)])
        self.assertEqual([g for g in got if g[1] == 2], [(b"m1", 2), (b"m3", 2)])
        c.expect_none(0.3)

    def test_clean_session_discards_subscriptions(self):
        t = unique("cs")
        cid = self._offline_v311(t)
        c = self.client(cid, version=4, clean=True)
        self.assertFalse(c.session_present)
        c.disconnect()
        pub = self.client(unique("p"), version=4)
        pub.publish(t, b"nobody", 1)
        c2 = self.client(cid, version=4, clean=False)
        self.assertFalse(c2.session_present)
        c2.expect_none(0.5)

    def test_v5_clean_start_discards_session(self):
        t = unique("cs5")
        cid = self._offline_v5(t)
        pub = self.client(unique("p"), version=5)
        pub.publish(t, b"queued", 1)
        c = self.client(cid, version=5, clean=True, properties=v5_session(300))
        self.assertFalse(c.session_present)
        c.expect_none(0.5)

    def test_v5_session_expiry_zero_ends_at_disconnect(self):
        t = unique("se0")
        cid = unique("se0c")
        c = self.client(cid, version=5, properties=v5_session(0))
        c.subscribe(t, 1)
        c.disconnect()
        pub = self.client(unique("p"), version=5)
        pub.publish(t, b"x", 1)
        c2 = self.client(cid, version=5, clean=False, properties=v5_session(0))
        self.assertFalse(c2.session_present)
        c2.expect_none(0.3)

    def test_v5_session_expiry_interval(self):
        t = unique("se1")
        cid = self._offline_v5(t, expiry=1)
        # still present well inside the interval ...
        cid2 = self._offline_v5(unique("se1b"), expiry=1)
        c = self.client(cid2, version=5, clean=False, properties=v5_session(1))
        self.assertTrue(c.session_present)
        c.disconnect()
        # ... and gone after it
        time.sleep(3)
        c = self.client(cid, version=5, clean=False, properties=v5_session(1))
        self.assertFalse(c.session_present)

    def test_v5_disconnect_can_change_session_expiry(self):
        t = unique("sed")
        cid = unique("sedc")
        r = self.raw()
        r.connect(cid, version=5, props=[(P.SESSION_EXPIRY, 60)])
        r.subscribe([(t, 1)])
        r.send(disconnect_packet(0, props=[(P.SESSION_EXPIRY, 0)]))
        r.assert_closed()
        r2 = self.raw()
        p = r2.connect(cid, version=5, clean=False, props=[(P.SESSION_EXPIRY, 60)])
        self.assertFalse(p.session_present)

    def test_unacked_qos1_redelivered_with_dup(self):
        t = unique("dup")
        cid = unique("dupc")
        r = self.raw()
        r.connect(cid, version=4, clean=False)
        r.subscribe([(t, 1)])
        pub = self.client(unique("p"), version=4)
        pub.publish(t, b"ack-me", 1)
        first = r.expect_packet(PUBLISH)
        self.assertEqual((first.payload, first.qos, first.dup), (b"ack-me", 1, False))
        r.close()  # never acked
        r2 = self.raw()
        self.assertTrue(r2.connect(cid, version=4, clean=False).session_present)
        again = r2.expect_packet(PUBLISH)
        self.assertEqual((again.topic, again.payload, again.qos), (t, b"ack-me", 1))
        self.assertTrue(again.dup, "redelivery must set DUP")
        self.assertEqual(again.packet_id, first.packet_id)
        r2.send(puback_packet(again.packet_id))
        # acked now: a third connection gets nothing
        r2.send(disconnect_packet())
        r2.assert_closed()
        r3 = self.raw()
        r3.connect(cid, version=4, clean=False)
        r3.expect_nothing(0.6)

    def test_unacked_qos2_redelivered_v5(self):
        t = unique("dup2")
        cid = unique("dup2c")
        props = [(P.SESSION_EXPIRY, 60)]
        r = self.raw()
        r.connect(cid, version=5, clean=False, props=props)
        r.subscribe([(t, 2)])
        pub = self.client(unique("p"), version=5)
        pub.publish(t, b"exactly-once", 2)
        first = r.expect_packet(PUBLISH)
        self.assertEqual((first.qos, first.dup), (2, False))
        r.close()
        r2 = self.raw()
        self.assertTrue(r2.connect(cid, version=5, clean=False, props=props).session_present)
        again = r2.expect_packet(PUBLISH)
        self.assertEqual((again.payload, again.qos, again.dup, again.packet_id),
                         (b"exactly-once", 2, True, first.packet_id))
        # after PUBREC the broker continues with PUBREL; on reconnect it
        # resends the PUBREL, not the PUBLISH
        r2.send(pubrec_packet(again.packet_id))
        self.assertEqual(r2.expect_packet(PUBREL).packet_id, again.packet_id)
        r2.close()
        r3 = self.raw()
        r3.connect(cid, version=5, clean=False, props=props)
        rel = r3.expect_packet(PUBREL)
        self.assertEqual(rel.packet_id, again.packet_id)
        r3.send(pubcomp_packet(rel.packet_id))
        r3.expect_nothing(0.6)


class TestMaxQueued(BrokerTestCase):
    CONF = ["max_queued_messages 10"]

    def test_max_queued_messages(self):
        t = unique("mq")
        cid = unique("mqc")
        c = self.client(cid, version=4, clean=False)
        c.subscribe(t, 1)
        c.disconnect()
        pub = self.client(unique("p"), version=4)
        for i in range(20):
            pub.publish(t, b"%d" % i, 1)
        c2 = self.client(cid, version=4, clean=False)
        got = [int(m.payload) for m in c2.drain(0.8)]
        self.assertEqual(len(got), 10, got)
        self.assertEqual(got, list(range(10)), "the first 10 are kept, later ones dropped")

    def test_max_queued_messages_v5(self):
        t = unique("mq5")
        cid = unique("mq5c")
        c = self.client(cid, version=5, properties=v5_session(300))
        c.subscribe(t, 2)
        c.disconnect()
        pub = self.client(unique("p"), version=5)
        for i in range(20):
            pub.publish(t, b"%d" % i, 2)
        c2 = self.client(cid, version=5, clean=False, properties=v5_session(300))
        got = [int(m.payload) for m in c2.drain(0.8)]
        self.assertEqual(got, list(range(10)))


if __name__ == "__main__":
    unittest.main()
