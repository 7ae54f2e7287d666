"""Per-message limits and validation from the configuration: payload_format_validation,
message_size_limit and max_queued_bytes."""
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


if __name__ == "__main__":
    unittest.main()
