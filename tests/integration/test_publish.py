"""PUBLISH: QoS flows and downgrade, payload sizes, ordering, message expiry,
topic aliases, v5 property pass-through, invalid topics, receive maximum."""

import shutil
import subprocess
import time
import unittest

from harness import *


def pub_props(**kw):
    p = Properties(PacketTypes.PUBLISH)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


class TestQoS(BrokerTestCase):

    def test_qos_downgrade_matrix(self):
        """Delivered QoS = min(publish QoS, subscription QoS) for all 9 pairs."""
        t = unique("qos")
        subs = {}
        for sq in (0, 1, 2):
            c = self.client(unique("sub%d" % sq), version=5)
            self.assertEqual(c.subscribe(t, sq), [sq])
            subs[sq] = c
        pub = self.client(unique("pub"), version=4)
        for pq in (0, 1, 2):
            pub.publish(t, b"pq%d" % pq, pq)
            for sq, c in subs.items():
                m = c.expect(1)[0]
                self.assertEqual(m.payload, b"pq%d" % pq)
                self.assertEqual(m.qos, min(pq, sq), "pub %d sub %d" % (pq, sq))
        for c in subs.values():
            c.expect_none(0.2)

    def test_qos1_flow_raw(self):
        t = unique("q1")
        sub = self.raw()
        sub.connect(unique("q1s"), version=4)
        self.assertEqual(sub.subscribe([(t, 1)]), [1])
        pub = self.raw()
        pub.connect(unique("q1p"), version=4)
        pub.publish(t, b"one", qos=1, packet_id=77)
        ack = pub.expect_packet(PUBACK)
        self.assertEqual(ack.packet_id, 77)
        m = sub.expect_packet(PUBLISH)
        self.assertEqual((m.topic, m.payload, m.qos, m.dup, m.retain), (t, b"one", 1, False, False))
        self.assertNotEqual(m.packet_id, 0)
        sub.send(puback_packet(m.packet_id))
        self.assertTrue(sub.is_open(0.2))

    def test_qos2_flow_raw(self):
        t = unique("q2")
        sub = self.raw()
        sub.connect(unique("q2s"), version=5)
        self.assertEqual(sub.subscribe([(t, 2)]), [2])
        pub = self.raw()
        pub.connect(unique("q2p"), version=5)
        pub.publish(t, b"two", qos=2, packet_id=300)
        rec = pub.expect_packet(PUBREC)
        self.assertEqual((rec.packet_id, rec.rc), (300, 0))
        pub.send(pubrel_packet(300))
        comp = pub.expect_packet(PUBCOMP)
        self.assertEqual((comp.packet_id, comp.rc), (300, 0))
        m = sub.expect_packet(PUBLISH)
        self.assertEqual((m.topic, m.payload, m.qos), (t, b"two", 2))
        sub.send(pubrec_packet(m.packet_id))
        rel = sub.expect_packet(PUBREL)
        self.assertEqual((rel.packet_id, rel.flags), (m.packet_id, 2))
        sub.send(pubcomp_packet(m.packet_id))
        self.assertTrue(sub.is_open(0.2))

    def test_qos2_exactly_once_on_duplicate_publish(self):
        """A re-sent QoS 2 PUBLISH (DUP, same id, before PUBREL) is delivered once."""
        t = unique("q2d")
        sub = self.client(unique("q2ds"), version=4)
        sub.subscribe(t, 2)
        pub = self.raw()
        pub.connect(unique("q2dp"), version=4)
        pub.publish(t, b"once", qos=2, packet_id=9)
        self.assertEqual(pub.expect_packet(PUBREC).packet_id, 9)
        pub.publish(t, b"once", qos=2, packet_id=9, dup=True)
        self.assertEqual(pub.expect_packet(PUBREC).packet_id, 9)
        pub.send(pubrel_packet(9))
        self.assertEqual(pub.expect_packet(PUBCOMP).packet_id, 9)
        self.assertEqual(sub.expect(1)[0].payload, b"once")
        sub.expect_none(0.5)

    def test_paho_flows_complete(self):
        t = unique("flows")
        sub = self.client(unique("fs"), version=5)
        sub.subscribe(t, 2)
        for v in (4, 5):
            pub = self.client(unique("fp"), version=v)
            for q in (0, 1, 2):
                pub.publish(t, b"%d-%d" % (v, q), q)  # waits for PUBACK/PUBCOMP
        got = [(m.payload, m.qos) for m in sub.expect(6)]
        # Order is guaranteed per publisher only [MQTT-4.6.0-6]: a QoS 2 message may reach
        # the subscriber's application after the next publisher's QoS 0 one (paho hands a
        # QoS 2 message over on PUBREL).
        for v in (b"4", b"5"):
            self.assertEqual([g for g in got if g[0].startswith(v)],
                             [(v + b"-0", 0), (v + b"-1", 1), (v + b"-2", 2)])
        self.assertEqual(len(got), 6)

    @unittest.skipUnless(shutil.which("mosquitto_pub") and shutil.which("mosquitto_sub"),
                         "mosquitto clients not installed")
    def test_mosquitto_clients_qos2(self):
        """mosquitto_pub -q 2 (v3.1.1 and v5) into a persistent mosquitto_sub
        session; the queued messages come out with QoS 2 and exit code 0."""
        t = unique("mq")
        cid = unique("mqsub")
        base = ["-h", "127.0.0.1", "-p", str(self.port), "-q", "2", "-t", t]
        sub = ["mosquitto_sub"] + base + ["-c", "-i", cid, "-V", "mqttv311"]
        r = subprocess.run(sub + ["-E"], capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        for v in ("mqttv311", "mqttv5"):
            r = subprocess.run(["mosquitto_pub"] + base + ["-m", "hello-" + v, "-V", v],
                               capture_output=True, timeout=10)
            self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run(sub + ["-C", "2", "-W", "10", "-F", "%t|%q|%p"],
                           capture_output=True, timeout=15)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode().splitlines(),
                         ["%s|2|hello-mqttv311" % t, "%s|2|hello-mqttv5" % t])

    # -- payload sizes -------------------------------------------------------
    def test_payload_sizes(self):
        t = unique("size")
        sub = self.client(unique("szs"), version=4)
        sub.subscribe(t, 1)
        pub = self.client(unique("szp"), version=5)
        for n in (0, 100 * 1024, 1024 * 1024):
            payload = bytes((i * 7 + n) % 256 for i in range(n))
            pub.publish(t, payload, 1, timeout=15)
            m = sub.expect(1, timeout=15)[0]
            self.assertEqual(len(m.payload), n)
            self.assertEqual(m.payload, payload)

    # -- ordering ------------------------------------------------------------
    def test_ordering_1000_qos1(self):
        t = unique("order")
        sub = self.client(unique("ords"), version=4)
        sub.subscribe(t, 1)
        pub = self.client(unique("ordp"), version=4)
        mids = [pub.publish(t, b"%d" % i, 1, wait=False) for i in range(1000)]
        for mid in mids:
            pub.wait_published(mid, 20)
        got = [int(m.payload) for m in sub.expect(1000, timeout=20)]
        self.assertEqual(got, list(range(1000)))
        sub.expect_none(0.2)


class TestPublishV5(BrokerTestCase):

    @starling_only("mosquitto 2.0.11 never sends topic aliases to clients")
    def test_outbound_topic_alias(self):
        """A v5 subscriber that allows topic aliases gets the topic once, then the alias
        alone [MQTT-3.3.2-12..14]; another topic gets another alias."""
        t1, t2 = unique("al1"), unique("al2")
        sub = self.raw()
        sub.connect(version=5, props=[(P.TOPIC_ALIAS_MAXIMUM, 4)])
        self.assertEqual(sub.subscribe([(t1, 0), (t2, 0)]), [0, 0])
        pub = self.client(unique("alp"), version=4)
        for t, m in ((t1, b"a"), (t1, b"b"), (t2, b"c"), (t1, b"d")):
            pub.publish(t, m, 0)
        got = [sub.expect_packet(PUBLISH) for _ in range(4)]
        self.assertEqual([(p.topic, p.props.get(P.TOPIC_ALIAS), p.payload) for p in got],
                         [(t1, 1, b"a"), ("", 1, b"b"), (t2, 2, b"c"), ("", 1, b"d")])

    def test_no_alias_without_client_maximum(self):
        """A client that did not send Topic Alias Maximum never gets an alias."""
        t = unique("noal")
        sub = self.raw()
        sub.connect(version=5)
        sub.subscribe([(t, 0)])
        pub = self.client(unique("nap"), version=4)
        pub.publish(t, b"1", 0)
        pub.publish(t, b"2", 0)
        got = [sub.expect_packet(PUBLISH) for _ in range(2)]
        self.assertEqual([(p.topic, P.TOPIC_ALIAS in p.props) for p in got],
                         [(t, False), (t, False)])

    def test_message_expiry_for_offline_session(self):
        t = unique("exp")
        cid = unique("expc")
        cp = Properties(PacketTypes.CONNECT)
        cp.SessionExpiryInterval = 300
        o = self.client(cid, version=5, clean=True, properties=cp)
        o.subscribe(t, 1)
        o.disconnect()
        pub = self.client(unique("expp"), version=5)
        pub.publish(t, b"short", 1, properties=pub_props(MessageExpiryInterval=2))
        pub.publish(t, b"long", 1, properties=pub_props(MessageExpiryInterval=10))
        pub.publish(t, b"forever", 1)
        time.sleep(3)
        o2 = self.client(cid, version=5, clean=False, properties=cp)
        self.assertTrue(o2.session_present)
        msgs = o2.expect(2)
        self.assertEqual([m.payload for m in msgs], [b"long", b"forever"])
        left = msgs[0].properties.MessageExpiryInterval
        self.assertTrue(5 <= left <= 8, "remaining expiry %s after 3 s of 10" % left)
        self.assertFalse(hasattr(msgs[1].properties, "MessageExpiryInterval"))
        o2.expect_none(0.3)

    def test_message_expiry_delivered_when_fresh(self):
        t = unique("expf")
        cid = unique("expfc")
        cp = Properties(PacketTypes.CONNECT)
        cp.SessionExpiryInterval = 300
        o = self.client(cid, version=5, properties=cp)
        o.subscribe(t, 1)
        o.disconnect()
        pub = self.client(unique("expfp"), version=5)
        pub.publish(t, b"fresh", 1, properties=pub_props(MessageExpiryInterval=10))
        time.sleep(1)
        o2 = self.client(cid, version=5, clean=False, properties=cp)
        m = o2.expect(1)[0]
        self.assertEqual(m.payload, b"fresh")
        self.assertTrue(1 <= m.properties.MessageExpiryInterval <= 10)

    def test_expiry_forwarded_to_online_subscriber(self):
        t = unique("expo")
        sub = self.client(unique("expos"), version=5)
        sub.subscribe(t, 0)
        pub = self.client(unique("expop"), version=5)
        pub.publish(t, b"x", 0, properties=pub_props(MessageExpiryInterval=60))
        m = sub.expect(1)[0]
        self.assertTrue(58 <= m.properties.MessageExpiryInterval <= 60)

    def test_topic_alias_from_client(self):
        t = unique("alias")
        sub = self.client(unique("als"), version=5)
        sub.subscribe(t, 1)
        pub = self.raw()
        connack = pub.connect(unique("alp"), version=5)
        self.assertGreaterEqual(connack.props.get(P.TOPIC_ALIAS_MAXIMUM, 0), 1)
        pub.publish(t, b"first", qos=1, packet_id=1, props=[(P.TOPIC_ALIAS, 1)])
        self.assertEqual(pub.expect_packet(PUBACK).rc, 0)
        pub.publish("", b"second", qos=1, packet_id=2, props=[(P.TOPIC_ALIAS, 1)])
        self.assertEqual(pub.expect_packet(PUBACK).rc, 0)
        msgs = sub.expect(2)
        self.assertEqual([(m.topic, m.payload) for m in msgs], [(t, b"first"), (t, b"second")])
        # the alias is not forwarded to subscribers
        self.assertFalse(hasattr(msgs[1].properties, "TopicAlias"))

    def test_topic_alias_remap(self):
        t1, t2 = unique("alr1"), unique("alr2")
        sub = self.client(unique("alrs"), version=5)
        sub.subscribe([(t1, SubscribeOptions(qos=0)), (t2, SubscribeOptions(qos=0))])
        pub = self.raw()
        pub.connect(unique("alrp"), version=5)
        pub.publish(t1, b"a", props=[(P.TOPIC_ALIAS, 1)])
        pub.publish(t2, b"b", props=[(P.TOPIC_ALIAS, 1)])
        pub.publish("", b"c", props=[(P.TOPIC_ALIAS, 1)])
        got = [(m.topic, m.payload) for m in sub.expect(3)]
        self.assertEqual(got, [(t1, b"a"), (t2, b"b"), (t2, b"c")])

    def test_properties_pass_through(self):
        t = unique("props")
        sub = self.raw()
        sub.connect(unique("prs"), version=5)
        sub.subscribe([(t, 1)])
        pub = self.raw()
        pub.connect(unique("prp"), version=5)
        props = [
            (P.PAYLOAD_FORMAT, 1),
            (P.CONTENT_TYPE, "application/json"),
            (P.RESPONSE_TOPIC, "reply/" + t),
            (P.CORRELATION_DATA, b"\x00\x01corr\xff"),
            (P.USER_PROPERTY, ("b", "2")),
            (P.USER_PROPERTY, ("a", "1")),
            (P.USER_PROPERTY, ("b", "3")),
            (P.USER_PROPERTY, ("z", "")),
        ]
        pub.publish(t, b'{"k":1}', qos=1, packet_id=5, props=props)
        self.assertEqual(pub.expect_packet(PUBACK).packet_id, 5)
        m = sub.expect_packet(PUBLISH)
        self.assertEqual(m.payload, b'{"k":1}')
        self.assertEqual(m.props[P.PAYLOAD_FORMAT], 1)
        self.assertEqual(m.props[P.CONTENT_TYPE], "application/json")
        self.assertEqual(m.props[P.RESPONSE_TOPIC], "reply/" + t)
        self.assertEqual(m.props[P.CORRELATION_DATA], b"\x00\x01corr\xff")
        self.assertEqual(m.props[P.USER_PROPERTY], [("b", "2"), ("a", "1"), ("b", "3"), ("z", "")])

    def test_properties_via_paho(self):
        t = unique("pprops")
        sub = self.client(unique("pps"), version=5)
        sub.subscribe(t, 2)
        pub = self.client(unique("ppp"), version=5)
        pp = pub_props(ContentType="text/plain", ResponseTopic="r/x",
                       CorrelationData=b"cid", PayloadFormatIndicator=1,
                       UserProperty=[("k1", "v1"), ("k2", "v2")])
        pub.publish(t, "héllo".encode(), 2, properties=pp)
        m = sub.expect(1)[0]
        self.assertEqual(m.payload, "héllo".encode())
        self.assertEqual(m.properties.ContentType, "text/plain")
        self.assertEqual(m.properties.ResponseTopic, "r/x")
        self.assertEqual(m.properties.CorrelationData, b"cid")
        self.assertEqual(m.properties.PayloadFormatIndicator, 1)
        self.assertEqual(m.properties.UserProperty, [("k1", "v1"), ("k2", "v2")])

    def test_v5_properties_dropped_for_v311_subscriber(self):
        t = unique("p311")
        sub = self.raw()
        sub.connect(unique("p311s"), version=4)
        sub.subscribe([(t, 0)])
        pub = self.raw()
        pub.connect(unique("p311p"), version=5)
        pub.publish(t, b"plain", props=[(P.USER_PROPERTY, ("k", "v")), (P.CONTENT_TYPE, "x")])
        m = sub.expect_packet(PUBLISH)
        self.assertEqual((m.topic, m.payload), (t, b"plain"))

    # -- invalid publishes -------------------------------------------------
    def test_publish_wildcard_topic_v5_disconnects(self):
        sub = self.client(unique("wcs"), version=4)
        sub.subscribe("wc/#", 0)
        r = self.raw()
        r.connect(unique("wc5"), version=5)
        r.publish("wc/+", b"x")
        packets = r.assert_closed(allow=(DISCONNECT,))
        for p in packets:
            self.assertGreaterEqual(p.rc, 0x80)
        sub.expect_none(0.3)

    @starling_only("mosquitto 2.0.11 uses DISCONNECT 0x82 (protocol error) for a "
                   "wildcard in a PUBLISH topic; Starling sends 0x90 topic name invalid")
    def test_publish_wildcard_topic_v5_reason(self):
        for topic in ("wcr/+", "wcr/#"):
            r = self.raw()
            r.connect(unique("wcr"), version=5)
            r.publish(topic, b"x", qos=1, packet_id=1)
            packets = r.assert_closed(allow=(DISCONNECT,))
            self.assertEqual([p.rc for p in packets], [0x90], topic)

    def test_publish_wildcard_topic_v311_closes(self):
        sub = self.client(unique("wc4s"), version=4)
        sub.subscribe("wc4/#", 0)
        r = self.raw()
        r.connect(unique("wc4"), version=4)
        r.publish("wc4/#", b"x")
        r.assert_closed()
        sub.expect_none(0.3)

    # -- receive maximum ---------------------------------------------------
    def test_receive_maximum_within_limit_accepted(self):
        r = self.raw()
        connack = r.connect(unique("rmok"), version=5)
        rmax = connack.props.get(P.RECEIVE_MAXIMUM, 65535)
        n = min(rmax, 1000)
        t = unique("rmok")
        data = b"".join(publish_packet(t, b"x", qos=2, packet_id=i + 1, version=5)
                        for i in range(n))
        r.send(data)
        recs = [r.expect_packet(PUBREC) for _ in range(n)]
        # Accepted; nobody subscribes to t, so v5 says 0x10 No matching subscribers.
        self.assertEqual([p.rc for p in recs], [0x10] * n)
        self.assertEqual(sorted(p.packet_id for p in recs), list(range(1, n + 1)))
        self.assertTrue(r.is_open(0.3))

    @starling_only("mosquitto 2.0.11 answers excess QoS 2 PUBLISHes with PUBREC "
                   "0x97 instead of DISCONNECT 0x93 (MQTT-3.3.4-7 / 4.9)")
    def test_receive_maximum_exceeded_disconnects(self):
        r = self.raw(timeout=10)
        connack = r.connect(unique("rmx"), version=5)
        rmax = connack.props.get(P.RECEIVE_MAXIMUM, 65535)
        t = unique("rmx")
        data = b"".join(publish_packet(t, b"x", qos=2, packet_id=i + 1, version=5)
                        for i in range(rmax + 1))
        r.send(data)
        packets = r.assert_closed(timeout=10, allow=(PUBREC, DISCONNECT))
        recs = [p for p in packets if p.type == PUBREC]
        self.assertEqual(len(recs), rmax)
        self.assertTrue(all(p.rc == 0x10 for p in recs))  # accepted, no subscriber
        self.assertEqual(packets[-1].type, DISCONNECT)
        self.assertEqual(packets[-1].rc, 0x93)


if __name__ == "__main__":
    unittest.main()
