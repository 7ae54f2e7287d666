"""Per-message limits and validation from the configuration: payload_format_validation,
message_size_limit, max_queued_bytes, max_subscriptions_per_client and max_topic_levels.
Rates, memory_limit and connection timeouts are in test_protection.py."""
import unittest

from harness import *


class TestPayloadFormat(OwnBrokerTestCase):
    def _publish_raw(self, b, topic, payload, fmt):
        r = self.raw(b.port)
        r.connect(unique("pfp"), version=5)
        r.publish(topic, payload, qos=1, packet_id=7, props=[(P.PAYLOAD_FORMAT, fmt)])
        return r.expect_packet(PUBACK)

    @starling_only("payload_format_validation is a Starling key")
    def test_invalid_utf8_refused_when_validating(self):
        """[MQTT-3.3.2-4] with validation on, a payload marked UTF-8 that is not is refused
        with 0x99 and reaches nobody; a valid one passes."""
        b = self.broker(["payload_format_validation true"])
        t = unique("pf")
        sub = self.client(b, unique("pfs"), version=5)
        sub.subscribe(t, 1)
        self.assertEqual(self._publish_raw(b, t, b"\xff\xfe", 1).rc, 0x99)
        sub.expect_none(0.3)
        self.assertEqual(self._publish_raw(b, t, "grüße".encode(), 1).rc, 0)
        self.assertEqual([m.payload for m in sub.expect(1)], ["grüße".encode()])

    def test_not_validated_by_default(self):
        b = self.broker([])
        t = unique("pfd")
        sub = self.client(b, unique("pfds"), version=5)
        sub.subscribe(t, 1)
        self.assertEqual(self._publish_raw(b, t, b"\xff\xfe", 1).rc, 0)
        self.assertEqual([m.payload for m in sub.expect(1)], [b"\xff\xfe"])


class TestSizeAndQueueLimits(OwnBrokerTestCase):
    def test_message_size_limit(self):
        """A PUBLISH whose payload is over message_size_limit goes nowhere."""
        b = self.broker(["message_size_limit 10"])
        t = unique("msl")
        sub = self.client(b, unique("msls"), version=4)
        sub.subscribe(t, 1)
        pub = self.client(b, unique("mslp"), version=4)
        pub.publish(t, b"x" * 20, 1)
        pub.publish(t, b"small", 1)
        self.assertEqual([m.payload for m in sub.expect(1)], [b"small"])
        sub.expect_none(0.3)

    @starling_only("mosquitto 2.0.11 checks the bound before adding, so its queue may end "
                   "one message over max_queued_bytes; Starling never exceeds it")
    def test_max_queued_bytes(self):
        """An offline session queues payload bytes up to max_queued_bytes: 40-byte
        messages with a 100-byte bound keep the first two."""
        b = self.broker(["max_queued_bytes 100", "max_queued_messages 1000"])
        t = unique("mqb")
        cid = unique("mqbs")
        c = self.client(b, cid, version=4, clean=False)
        c.subscribe(t, 1)
        c.disconnect()
        pub = self.client(b, unique("mqbp"), version=4)
        for i in range(5):
            pub.publish(t, (b"%d" % i) * 40, 1)
        c = self.client(b, cid, version=4, clean=False)
        self.assertEqual([m.payload[:1] for m in c.expect(2)], [b"0", b"1"])
        c.expect_none(0.5)


@starling_only("max_subscriptions_per_client is a Starling key")
class TestSubscriptionQuota(OwnBrokerTestCase):
    """max_subscriptions_per_client 3: a filter over the quota gets SUBACK 0x97 (v5) or 0x80
    (v3.1.1); replacing a held filter is allowed; unsubscribing frees a place."""

    def _check(self, version, refused):
        b = self.broker(["max_subscriptions_per_client 3"])
        r = self.raw(b.port)
        r.connect(unique("sq"), version=version)
        t = unique("sq")
        self.assertEqual(r.subscribe([(t + "/a", 1), (t + "/b", 1)], 1), [1, 1])
        self.assertEqual(r.subscribe([(t + "/c", 0), (t + "/d", 0), (t + "/a", 0)], 2),
                         [0, refused, 0])
        self.assertEqual(r.subscribe([(t + "/#", 1)], 3), [refused])
        r.send(unsubscribe_packet(4, [t + "/b"], version))
        r.expect_packet(UNSUBACK)
        self.assertEqual(r.subscribe([(t + "/#", 1)], 5), [1])
        # the refused filter delivers nothing, the granted ones do
        r.publish(t + "/d", b"x", qos=0)
        p = r.read_packet()
        self.assertEqual((p.type, p.topic), (PUBLISH, t + "/d"))  # through t/#
        r.expect_nothing(0.3)

    def test_v5_quota_exceeded_0x97(self):
        self._check(5, 0x97)

    def test_v311_failure_0x80(self):
        self._check(4, 0x80)


@starling_only("max_topic_levels is a Starling key")
class TestTopicLevels(OwnBrokerTestCase):
    """max_topic_levels 4: deeper filters get SUBACK 0x8F (v5) / 0x80 (v3.1.1); a PUBLISH to
    a deeper topic closes the connection, with DISCONNECT 0x90 in v5."""

    def setUp(self):
        super().setUp()
        self.b = self.broker(["max_topic_levels 4"])

    def test_subscribe_v5(self):
        r = self.raw(self.b.port)
        r.connect(unique("tl"), version=5)
        self.assertEqual(r.subscribe([("a/b/c/d", 1), ("a/b/c/d/e", 1), ("$share/g/a/b/c/d", 1),
                                      ("$share/g/a/b/c/d/e", 1), ("a/+/+/#", 0),
                                      ("a/+/+/+/#", 0)]),
                         [1, 0x8F, 1, 0x8F, 0, 0x8F])

    def test_subscribe_v311(self):
        r = self.raw(self.b.port)
        r.connect(unique("tl"), version=4)
        self.assertEqual(r.subscribe([("a/b/c/d", 1), ("a/b/c/d/e", 1)]), [1, 0x80])

    def test_publish_v5_disconnect_0x90(self):
        t = unique("tl")
        sub = self.client(self.b, unique("tls"), version=5)
        sub.subscribe(t + "/#", 1)
        r = self.raw(self.b.port)
        r.connect(unique("tlp"), version=5)
        r.publish(t + "/b/c/d", b"ok", qos=1, packet_id=1)
        self.assertEqual(r.expect_packet(PUBACK).rc, 0)
        self.assertEqual([m.payload for m in sub.expect(1)], [b"ok"])
        r.publish(t + "/b/c/d/e", b"deep", qos=1, packet_id=2)
        got = r.assert_closed(3.0, allow=(DISCONNECT,))
        self.assertEqual([(p.type, p.rc) for p in got], [(DISCONNECT, 0x90)])
        sub.expect_none(0.3)

    def test_publish_v311_closed(self):
        r = self.raw(self.b.port)
        r.connect(unique("tlp"), version=4)
        r.publish("a/b/c/d/e", b"deep", qos=0)
        r.assert_closed(3.0)

    def test_will_topic_too_deep_v5(self):
        r = self.raw(self.b.port)
        r.connect(unique("tlw"), version=5, will={"topic": "a/b/c/d/e", "payload": b"w"},
                  expect_rc=0x90)
        r.assert_closed(3.0)


if __name__ == "__main__":
    unittest.main()
