"""The durability checks every store backend must pass (storage issue):
persistent sessions, queued and in-flight QoS 1/2 messages, QoS 2 receive
state, retained messages and delayed wills survive a broker restart and a
kill -9, counted message by message. Mixed into a TestCase per backend by
test_persist.py (embedded) and test_persist_servers.py (PostgreSQL, Redis).
"""

import time

from harness import (P, PUBLISH, PUBREL, PUBCOMP,
                     PUBREC, Properties, PacketTypes,
                     publish_packet, pubrec_packet, pubrel_packet, unique,
                     wait_until)

N_KILL = 400  # messages offered while the broker is killed part-way


def session_props(expiry=3600):
    p = Properties(PacketTypes.CONNECT)
    p.SessionExpiryInterval = expiry
    return p


class PersistCases:
    """Mixed into an OwnBrokerTestCase; STORE gives the store's config lines."""
    STORE = ["persistence true", "persistence_location data"]

    def start_broker(self, extra=()):
        return self.broker(list(self.STORE) + list(extra))

    # -- helpers -------------------------------------------------------------
    def offline_subscriber(self, b, topic, qos=1, version=4):
        """A persistent session subscribed to topic, then disconnected."""
        cid = unique("sub")
        if version == 5:
            s = self.client(b, cid, version=5, clean=False, properties=session_props())
        else:
            s = self.client(b, cid, version=version, clean=False)
        s.subscribe(topic, qos)
        s.disconnect()
        return cid

    def resume(self, b, cid, version=4):
        if version == 5:
            s = self.client(b, cid, version=5, clean=False, properties=session_props())
        else:
            s = self.client(b, cid, version=version, clean=False)
        self.assertTrue(s.session_present, "session not restored")
        return s

    # -- restart ----------------------------------------------------------------
    def test_queued_qos1_qos2_survive_restart(self):
        b = self.start_broker()
        topic = unique("t")
        cid = self.offline_subscriber(b, topic + "/#", qos=2)
        pub = self.client(b)
        for i in range(10):
            pub.publish(topic + "/1", b"q1-%d" % i, qos=1)
            pub.publish(topic + "/2", b"q2-%d" % i, qos=2)
        pub.disconnect()
        self.assertEqual(b.stop(), 0)
        b.start()
        s = self.resume(b, cid)
        got = s.expect(20, timeout=10)
        self.assertEqual(sorted(m.payload for m in got),
                         sorted([b"q1-%d" % i for i in range(10)] +
                                [b"q2-%d" % i for i in range(10)]))
        self.assertEqual({m.qos for m in got if m.payload.startswith(b"q2")}, {2})
        s.expect_none(0.5)

    def test_subscriptions_survive_restart(self):
        b = self.start_broker()
        topic = unique("t")
        cid = self.offline_subscriber(b, topic, qos=1, version=5)
        b.stop()
        b.start()
        s = self.resume(b, cid, version=5)  # no SUBSCRIBE this time
        pub = self.client(b)
        pub.publish(topic, b"after", qos=1)
        self.assertEqual(s.expect(1)[0].payload, b"after")

    def test_clean_session_not_restored(self):
        b = self.start_broker()
        cid = unique("clean")
        c = self.client(b, cid, version=4, clean=True)
        c.subscribe("x/#", 1)
        c.disconnect()
        b.stop()
        b.start()
        c = self.client(b, cid, version=4, clean=False)
        self.assertFalse(c.session_present)

    def test_expiry_counts_across_restart(self):
        b = self.start_broker()
        cid = unique("exp")
        c = self.client(b, cid, version=5, clean=False, properties=session_props(2))
        c.subscribe("x/#", 1)
        c.disconnect()
        b.stop()
        time.sleep(2.5)
        b.start()
        c = self.client(b, cid, version=5, clean=False, properties=session_props(2))
        self.assertFalse(c.session_present, "a session past its expiry came back")

    # -- kill -9 ------------------------------------------------------------
    def kill_under_publish(self, qos):
        """Publishes N_KILL messages, kills -9 the broker part-way, restarts it
        and checks the subscriber gets every message whose PUBACK/PUBCOMP the
        publisher saw."""
        b = self.start_broker()
        topic = unique("k")
        cid = self.offline_subscriber(b, topic, qos=qos)
        pub = self.client(b, version=4)
        mids = {}
        for i in range(N_KILL):
            mids[pub.publish(topic, b"%d" % i, qos=qos, wait=False)] = i
            if i == N_KILL // 2:
                wait_until(lambda: len(pub._published) >= N_KILL // 4, timeout=10)
                b.kill9()
                break
        pub._stop_loop()
        acked = {mids[m] for m in pub._published if m in mids}
        self.assertGreater(len(acked), 0, "nothing was acknowledged before the kill")
        b.start()
        s = self.resume(b, cid)
        got = set()
        while True:
            batch = s.drain(settle=1.0)
            if not batch:
                break
            got.update(int(m.payload) for m in batch)
        missing = acked - got
        self.assertFalse(missing, "%d acknowledged messages lost after kill -9 "
                         "(acked %d, received %d): %s"
                         % (len(missing), len(acked), len(got), sorted(missing)[:20]))

    def test_kill9_loses_no_acknowledged_qos1(self):
        self.kill_under_publish(1)

    def test_kill9_loses_no_acknowledged_qos2(self):
        self.kill_under_publish(2)

    def test_inflight_resent_with_same_packet_id_after_kill9(self):
        b = self.start_broker()
        topic = unique("f")
        r = self.raw(b.port)
        cid = unique("raw")
        r.connect(cid, version=4, clean=False)
        r.subscribe([(topic, 1)])
        self.client(b).publish(topic, b"inflight", qos=1)
        p = r.expect_packet(PUBLISH)  # not acknowledged
        time.sleep(0.3)  # its "sent" state is written without an ack to wait for
        b.kill9()
        b.start()
        r2 = self.raw(b.port)
        self.assertTrue(r2.connect(cid, version=4, clean=False).session_present)
        p2 = r2.expect_packet(PUBLISH)
        # [MQTT-4.4.0-1] resent with its original packet id, DUP set.
        self.assertEqual((p2.packet_id, p2.payload, p2.dup), (p.packet_id, b"inflight", True))

    def test_pubrel_resent_after_kill9(self):
        b = self.start_broker()
        topic = unique("f2")
        r = self.raw(b.port)
        cid = unique("raw")
        r.connect(cid, version=4, clean=False)
        r.subscribe([(topic, 2)])
        self.client(b).publish(topic, b"two", qos=2)
        p = r.expect_packet(PUBLISH)
        r.send(pubrec_packet(p.packet_id))
        self.assertEqual(r.expect_packet(PUBREL).packet_id, p.packet_id)
        time.sleep(0.3)
        b.kill9()
        b.start()
        r2 = self.raw(b.port)
        r2.connect(cid, version=4, clean=False)
        # The message was received: only the PUBREL goes again, never the PUBLISH.
        self.assertEqual(r2.expect_packet(PUBREL).packet_id, p.packet_id)

    def test_qos2_receive_state_survives_kill9(self):
        b = self.start_broker()
        topic = unique("rx")
        cid_sub = self.offline_subscriber(b, topic, qos=2)
        r = self.raw(b.port)
        cid = unique("rawpub")
        r.connect(cid, version=5, clean=False, props=[(P.SESSION_EXPIRY, 600)])
        r.send(publish_packet(topic, b"once", qos=2, packet_id=7, version=5))
        self.assertEqual(r.expect_packet(PUBREC).rc, 0)
        b.kill9()
        b.start()
        r2 = self.raw(b.port)
        r2.connect(cid, version=5, clean=False, props=[(P.SESSION_EXPIRY, 600)])
        # A resend after the restart is recognised as a duplicate...
        r2.send(publish_packet(topic, b"once", qos=2, packet_id=7, dup=True, version=5))
        self.assertEqual(r2.expect_packet(PUBREC).rc, 0)
        r2.send(pubrel_packet(7, version=5))
        # ... and the PUBREL finds its packet id (not 0x92).
        self.assertEqual(r2.expect_packet(PUBCOMP).rc, 0)
        s = self.resume(b, cid_sub)
        self.assertEqual([m.payload for m in s.drain(settle=1.0)], [b"once"])

    def test_retained_survives_kill9(self):
        b = self.start_broker()
        topic = unique("r")
        self.client(b).publish(topic, b"kept", qos=1, retain=True)
        b.kill9()
        b.start()
        s = self.client(b)
        s.subscribe(topic, 1)
        m = s.expect(1)[0]
        self.assertEqual((m.payload, m.retain), (b"kept", True))

    def test_retained_clear_survives_restart(self):
        b = self.start_broker()
        topic = unique("r")
        pub = self.client(b)
        pub.publish(topic, b"x", qos=1, retain=True)
        pub.publish(topic, b"", qos=1, retain=True)
        b.stop()
        b.start()
        s = self.client(b)
        s.subscribe(topic, 1)
        s.expect_none(0.5)

    def test_delayed_will_survives_restart(self):
        b = self.start_broker()
        topic = unique("w")
        wp = Properties(PacketTypes.WILLMESSAGE)
        wp.WillDelayInterval = 3
        c = self.client(b, unique("will"), version=5, clean=False,
                        properties=session_props(60),
                        will=dict(topic=topic, payload=b"gone", qos=1, properties=wp))
        c.drop()  # abnormal: the will is due in 3 s
        time.sleep(0.5)
        self.assertEqual(b.stop(), 0)
        b.start()
        s = self.client(b)
        s.subscribe(topic, 1)
        self.assertEqual(s.expect(1, timeout=8)[0].payload, b"gone")
