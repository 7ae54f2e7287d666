"""Retained messages: set, replace, clear, delivery on subscribe, wildcard
subscribe, retain handling, expiry, and `retain_available false`."""

import time
import unittest

from harness import *


def pub_props(**kw):
    p = Properties(PacketTypes.PUBLISH)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


class TestRetain(BrokerTestCase):

    def _fetch_retained(self, filt, version=4, wait=0.5):
        c = self.client(unique("rf"), version=version)
        c.subscribe(filt, 1)
        msgs = c.drain(wait)
        c.close()
        return msgs

    def test_set_and_deliver_on_subscribe(self):
        t = unique("set")
        pub = self.client(unique("p"), version=4)
        pub.publish(t, b"v1", 1, retain=True)
        msgs = self._fetch_retained(t)
        self.assertEqual([(m.topic, m.payload, m.retain) for m in msgs], [(t, b"v1", True)])
        self.assertEqual(msgs[0].qos, 1)

    def test_retained_qos_is_min_of_publish_and_subscription(self):
        t = unique("rq")
        pub = self.client(unique("p"), version=4)
        pub.publish(t, b"q2", 2, retain=True)
        c = self.client(unique("rqs"), version=4)
        c.subscribe(t, 1)
        m = c.expect(1)[0]
        self.assertEqual((m.payload, m.qos, m.retain), (b"q2", 1, True))
        c0 = self.client(unique("rqs0"), version=4)
        c0.subscribe(t, 0)
        m = c0.expect(1)[0]
        self.assertEqual((m.payload, m.qos), (b"q2", 0))
        pub.publish(t, b"", 1, retain=True)

    def test_replace(self):
        t = unique("repl")
        pub = self.client(unique("p"), version=5)
        pub.publish(t, b"old", 1, retain=True)
        pub.publish(t, b"new", 1, retain=True)
        msgs = self._fetch_retained(t, version=5)
        self.assertEqual([m.payload for m in msgs], [b"new"])

    def test_clear_with_empty_payload(self):
        t = unique("clear")
        pub = self.client(unique("p"), version=4)
        pub.publish(t, b"gone-soon", 1, retain=True)
        self.assertEqual(len(self._fetch_retained(t)), 1)
        # a live subscriber sees the empty retained publish itself
        live = self.client(unique("live"), version=4)
        live.subscribe(t, 1)
        live.drain(0.3)
        pub.publish(t, b"", 1, retain=True)
        m = live.expect(1)[0]
        self.assertEqual(m.payload, b"")
        self.assertEqual(self._fetch_retained(t), [])

    def test_non_retained_publish_keeps_retained(self):
        t = unique("keep")
        pub = self.client(unique("p"), version=4)
        pub.publish(t, b"retained", 1, retain=True)
        pub.publish(t, b"transient", 1, retain=False)
        self.assertEqual([m.payload for m in self._fetch_retained(t)], [b"retained"])

    def test_live_delivery_has_retain_flag_clear(self):
        t = unique("livef")
        live = self.client(unique("l"), version=4)
        live.subscribe(t, 1)
        pub = self.client(unique("p"), version=4)
        pub.publish(t, b"x", 1, retain=True)
        m = live.expect(1)[0]
        self.assertEqual((m.payload, m.retain), (b"x", False))
        pub.publish(t, b"", 1, retain=True)

    def test_wildcard_subscribe_gets_all_matching(self):
        root = unique("wild")
        pub = self.client(unique("p"), version=4)
        expected = {}
        for sub in ("a", "b", "a/c", "d/e/f"):
            pub.publish("%s/%s" % (root, sub), sub.encode(), 1, retain=True)
            expected["%s/%s" % (root, sub)] = sub.encode()
        pub.publish(unique("other"), b"no", 1, retain=True)
        got = {m.topic: m.payload for m in self._fetch_retained(root + "/#")}
        self.assertEqual(got, expected)
        got = {m.topic: m.payload for m in self._fetch_retained(root + "/+")}
        self.assertEqual(got, {root + "/a": b"a", root + "/b": b"b"})
        for t in expected:
            pub.publish(t, b"", 1, retain=True)

    def test_retain_handling(self):
        t = unique("rh")
        pub = self.client(unique("p"), version=5)
        pub.publish(t, b"r", 1, retain=True)
        for rh, first, again in ((0, 1, 1), (1, 1, 0), (2, 0, 0)):
            c = self.client(unique("rh%d" % rh), version=5)
            c.subscribe(t, options=SubscribeOptions(qos=1, retainHandling=rh))
            self.assertEqual(len(c.drain(0.4)), first, "rh=%d first subscribe" % rh)
            c.subscribe(t, options=SubscribeOptions(qos=1, retainHandling=rh))
            self.assertEqual(len(c.drain(0.4)), again, "rh=%d re-subscribe" % rh)
        pub.publish(t, b"", 1, retain=True)

    def test_retained_properties_kept(self):
        t = unique("rprops")
        pub = self.client(unique("p"), version=5)
        pub.publish(t, b"{}", 1, retain=True,
                    properties=pub_props(ContentType="application/json",
                                         UserProperty=[("u", "1")]))
        m = self._fetch_retained(t, version=5)[0]
        self.assertEqual(m.properties.ContentType, "application/json")
        self.assertEqual(m.properties.UserProperty, [("u", "1")])
        pub.publish(t, b"", 1, retain=True)

    def test_retained_message_expiry(self):
        t_short, t_long = unique("rexp1"), unique("rexp10")
        pub = self.client(unique("p"), version=5)
        pub.publish(t_short, b"short", 1, retain=True,
                    properties=pub_props(MessageExpiryInterval=1))
        pub.publish(t_long, b"long", 1, retain=True,
                    properties=pub_props(MessageExpiryInterval=30))
        # before expiry: delivered, with the remaining interval
        m = self._fetch_retained(t_short, version=5)[0]
        self.assertEqual(m.payload, b"short")
        self.assertLessEqual(m.properties.MessageExpiryInterval, 1)
        time.sleep(2.2)
        self.assertEqual(self._fetch_retained(t_short, version=5), [])
        m = self._fetch_retained(t_long, version=5)[0]
        self.assertEqual(m.payload, b"long")
        self.assertTrue(25 <= m.properties.MessageExpiryInterval <= 28,
                        m.properties.MessageExpiryInterval)
        pub.publish(t_long, b"", 1, retain=True)

    def test_v311_and_v5_share_retained_store(self):
        t = unique("mix")
        p4 = self.client(unique("p4"), version=4)
        p4.publish(t, b"from-v311", 0, retain=True)
        msgs = self._fetch_retained(t, version=5)
        self.assertEqual([m.payload for m in msgs], [b"from-v311"])
        p4.publish(t, b"", 0, retain=True)


class TestRetainUnavailable(BrokerTestCase):
    CONF = ["retain_available false"]

    def test_connack_says_retain_unavailable(self):
        r = self.raw()
        p = r.connect(unique("ra"), version=5)
        self.assertEqual(p.props.get(P.RETAIN_AVAILABLE), 0)

    def test_v5_retained_publish_disconnected(self):
        t = unique("ra")
        sub = self.client(unique("ras"), version=4)
        sub.subscribe(t, 0)
        r = self.raw()
        r.connect(unique("rap"), version=5)
        r.publish(t, b"x", retain=True)
        packets = r.assert_closed(allow=(DISCONNECT,))
        self.assertEqual([p.rc for p in packets], [0x9A])
        sub.expect_none(0.3)

    def test_non_retained_publish_still_works(self):
        t = unique("ran")
        sub = self.client(unique("rans"), version=5)
        sub.subscribe(t, 1)
        pub = self.client(unique("ranp"), version=5)
        pub.publish(t, b"plain", 1)
        self.assertEqual(sub.expect(1)[0].payload, b"plain")


@starling_only("mosquitto queues every retained message at once and drops those past "
               "max_queued_messages")
class TestRetainPaged(OwnBrokerTestCase):
    """Retained messages due after SUBSCRIBE are paged to the client as it drains, not
    queued all at once: a '#' subscriber with a small queue limit still gets every one."""

    def test_wildcard_gets_all_retained_past_queue_limit(self):
        b = self.broker(["max_queued_messages 50", "max_inflight_messages 10"])
        root = unique("many")
        raw = self.raw(b.port)
        raw.connect(version=4)
        n = 3000
        for i in range(n):
            raw.publish("%s/%d" % (root, i), b"v%d" % i, qos=0, retain=True)
        raw.send(pingreq_packet())
        raw.expect_packet(PINGRESP)  # every PUBLISH before it was handled
        sub = self.client(b, version=4, max_inflight=10)
        sub.subscribe(root + "/#", 1)
        got = sub.expect(n, timeout=30)
        self.assertEqual(len({m.topic for m in got}), n)
        self.assertTrue(all(m.retain for m in got))
        sub.expect_none(0.3)


if __name__ == "__main__":
    unittest.main()
