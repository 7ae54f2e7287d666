"""SUBSCRIBE / UNSUBSCRIBE: wildcard matching, $SYS isolation, overlapping
subscriptions, subscription identifiers, v5 subscription options, invalid
filters."""

import unittest

from harness import *


def sub_props(sid):
    p = Properties(PacketTypes.SUBSCRIBE)
    p.SubscriptionIdentifier = sid
    return p


class TestMatching(BrokerTestCase):
    CONF = ["sys_interval 1"]

    def _deliveries(self, filt, topics, root):
        """Subscribe to root+filt; publish to each root+topic; return the set
        of topics (without root) delivered."""
        sub = self.client(unique("m"), version=4)
        self.assertEqual(sub.subscribe(root + filt, 0), [0])
        pub = self.client(unique("mp"), version=4)
        for t in topics:
            pub.publish(root + t, t.encode(), 1)
        got = [m.topic[len(root):] for m in sub.drain(0.4)]
        sub.close()
        pub.close()
        return got

    def test_plus_wildcard(self):
        root = unique("plus") + "/"
        got = self._deliveries("a/+/c", ["a/b/c", "a/x/c", "a/b/d", "a/b/c/d", "a/c", "a//c"], root)
        self.assertEqual(sorted(got), sorted(["a/b/c", "a/x/c", "a//c"]))

    def test_plus_alone_matches_one_level(self):
        root = unique("plus1") + "/"
        got = self._deliveries("+", ["x", "y", "x/y", ""], root)
        self.assertEqual(sorted(got), sorted(["x", "y", ""]))

    def test_hash_wildcard(self):
        root = unique("hash") + "/"
        got = self._deliveries("a/#", ["a", "a/b", "a/b/c", "b/a", "ab"], root)
        # "a/#" also matches the parent level "a"
        self.assertEqual(sorted(got), sorted(["a", "a/b", "a/b/c"]))

    def test_plus_and_hash_combined(self):
        root = unique("ph") + "/"
        got = self._deliveries("+/b/#", ["a/b", "a/b/c/d", "x/b/y", "a/c/b", "b"], root)
        self.assertEqual(sorted(got), sorted(["a/b", "a/b/c/d", "x/b/y"]))

    def test_exact_match_only(self):
        root = unique("exact") + "/"
        got = self._deliveries("a/b", ["a/b", "a/b/", "a/bc", "A/b", "a"], root)
        self.assertEqual(got, ["a/b"])

    def test_hash_does_not_match_sys(self):
        control = self.client(unique("sysc"), version=4)
        control.subscribe("$SYS/#", 0)
        subs = []
        for f in ("#", "+/broker/#", "+/#", "+/broker/uptime"):
            s = self.client(unique("sysw"), version=4)
            self.assertEqual(s.subscribe(f, 0), [0])
            subs.append(s)
        # sys_interval 1: $SYS traffic flows during this window
        seen = control.expect(1, timeout=3)
        self.assertTrue(seen[0].topic.startswith("$SYS/"))
        for s in subs:
            for m in s.drain(1.2):
                self.assertFalse(m.topic.startswith("$"), "%s got %s" % (s.client_id, m.topic))

    def test_unsubscribe_stops_delivery(self):
        t = unique("unsub")
        sub = self.client(unique("us"), version=5)
        sub.subscribe(t, 1)
        pub = self.client(unique("up"), version=4)
        pub.publish(t, b"before", 1)
        self.assertEqual(sub.expect(1)[0].payload, b"before")
        self.assertEqual(sub.unsubscribe(t), [0])
        pub.publish(t, b"after", 1)
        sub.expect_none(0.5)

    def test_unsubscribe_v5_no_subscription_reason(self):
        r = self.raw()
        r.connect(unique("usn"), version=5)
        r.send(unsubscribe_packet(3, [unique("never")], version=5))
        p = r.expect_packet(UNSUBACK)
        self.assertEqual(p.packet_id, 3)
        self.assertEqual(p.codes, [0x11], "no subscription existed")

    def test_unsubscribe_v311_unsuback(self):
        t = unique("us4")
        r = self.raw()
        r.connect(unique("us4c"), version=4)
        r.subscribe([(t, 1)])
        r.send(unsubscribe_packet(12, [t]))
        p = r.expect_packet(UNSUBACK)
        self.assertEqual((p.packet_id, p.body), (12, b"\x00\x0c"))

    def test_suback_grants_requested_qos(self):
        r = self.raw()
        r.connect(unique("sq"), version=4)
        root = unique("sq")
        codes = r.subscribe([(root + "/0", 0), (root + "/1", 1), (root + "/2", 2)], packet_id=42)
        self.assertEqual(codes, [0, 1, 2])

    def test_resubscribe_replaces_qos(self):
        t = unique("resub")
        sub = self.client(unique("rs"), version=4)
        sub.subscribe(t, 2)
        sub.subscribe(t, 0)
        pub = self.client(unique("rsp"), version=4)
        pub.publish(t, b"x", 2)
        msgs = sub.expect(1)
        self.assertEqual(msgs[0].qos, 0)
        sub.expect_none(0.3)


class TestOverlapAndOptions(BrokerTestCase):

    def test_overlapping_subscriptions_max_qos_and_all_ids(self):
        """Spec-valid for both brokers: some copy has the max QoS, every copy
        is the same message, the union of ids is every matching id."""
        root = unique("ov")
        sub = self.client(unique("ovs"), version=5)
        sub.subscribe(root + "/#", 0, properties=sub_props(3))
        sub.subscribe(root + "/+", 2, properties=sub_props(7))
        sub.subscribe(root + "/a", 1, properties=sub_props(9))
        sub.subscribe(root + "/b", 2, properties=sub_props(11))  # not matching
        pub = self.client(unique("ovp"), version=5)
        pub.publish(root + "/a", b"hi", 2)
        msgs = sub.drain(0.5)
        self.assertGreaterEqual(len(msgs), 1)
        self.assertLessEqual(len(msgs), 3)
        self.assertTrue(all(m.payload == b"hi" for m in msgs))
        self.assertEqual(max(m.qos for m in msgs), 2)
        ids = set()
        for m in msgs:
            ids.update(getattr(m.properties, "SubscriptionIdentifier", []))
        self.assertEqual(ids, {3, 7, 9})

    @starling_only("mosquitto 2.0.11 sends one copy per matching subscription "
                   "(allowed by MQTT-3.3.4-2); Starling sends a single copy")
    def test_overlapping_subscriptions_single_copy(self):
        root = unique("ov1")
        sub = self.raw()
        sub.connect(unique("ov1s"), version=5)
        sub.subscribe([(root + "/#", 0)], packet_id=1, props=[(P.SUBSCRIPTION_ID, 3)])
        sub.subscribe([(root + "/+", 2)], packet_id=2, props=[(P.SUBSCRIPTION_ID, 7)])
        sub.subscribe([(root + "/a", 1)], packet_id=3, props=[(P.SUBSCRIPTION_ID, 9)])
        sub.subscribe([(root + "/x", 1)], packet_id=4)  # matching, no id
        pub = self.client(unique("ov1p"), version=5)
        pub.publish(root + "/x", b"nomatch", 0)
        pub.publish(root + "/a", b"hi", 2)
        m = sub.expect_packet(PUBLISH)
        self.assertEqual((m.topic, m.payload), (root + "/x", b"nomatch"))
        self.assertEqual(sorted(m.props.get(P.SUBSCRIPTION_ID, [])), [3, 7])
        m = sub.expect_packet(PUBLISH)
        self.assertEqual((m.payload, m.qos), (b"hi", 2))
        self.assertEqual(sorted(m.props[P.SUBSCRIPTION_ID]), [3, 7, 9])
        sub.send(pubrec_packet(m.packet_id))
        self.assertEqual(sub.expect_packet(PUBREL).packet_id, m.packet_id)
        sub.send(pubcomp_packet(m.packet_id))
        sub.expect_nothing(0.5)  # no second copy

    def test_v311_overlapping_delivers_at_max_qos(self):
        root = unique("ov4")
        sub = self.client(unique("ov4s"), version=4)
        sub.subscribe(root + "/#", 0)
        sub.subscribe(root + "/+", 1)
        pub = self.client(unique("ov4p"), version=4)
        pub.publish(root + "/a", b"x", 1)
        msgs = sub.drain(0.5)
        self.assertIn(len(msgs), (1, 2))
        self.assertEqual(max(m.qos for m in msgs), 1)

    def test_subscription_identifier(self):
        root = unique("sid")
        sub = self.raw()
        sub.connect(unique("sids"), version=5)
        sub.subscribe([(root + "/a", 0)], props=[(P.SUBSCRIPTION_ID, 1)])
        sub.subscribe([(root + "/b", 0)], packet_id=2, props=[(P.SUBSCRIPTION_ID, 268435455)])
        sub.subscribe([(root + "/c", 0)], packet_id=3)
        pub = self.client(unique("sidp"), version=5)
        for x in "abc":
            pub.publish(root + "/" + x, x.encode(), 0)
        got = {}
        for _ in range(3):
            m = sub.expect_packet(PUBLISH)
            got[m.payload] = m.props.get(P.SUBSCRIPTION_ID)
        self.assertEqual(got, {b"a": [1], b"b": [268435455], b"c": None})

    def test_subscription_identifier_replaced_on_resubscribe(self):
        t = unique("sidr")
        sub = self.client(unique("sidrs"), version=5)
        sub.subscribe(t, 0, properties=sub_props(5))
        sub.subscribe(t, 0, properties=sub_props(6))
        pub = self.client(unique("sidrp"), version=5)
        pub.publish(t, b"x", 0)
        m = sub.expect(1)[0]
        self.assertEqual(m.properties.SubscriptionIdentifier, [6])

    def test_subscription_identifier_zero_is_protocol_error(self):
        r = self.raw()
        r.connect(unique("sid0"), version=5)
        r.send(subscribe_packet(1, [(unique("x"), 0)], version=5,
                                props=[(P.SUBSCRIPTION_ID, 0)]))
        packets = r.assert_closed(allow=(DISCONNECT,))
        for p in packets:
            self.assertIn(p.rc, (0x81, 0x82))

    def test_no_local(self):
        t = unique("nl")
        c = self.client(unique("nlc"), version=5)
        c.subscribe(t, options=SubscribeOptions(qos=1, noLocal=True))
        other = self.client(unique("nlo"), version=5)
        other.subscribe(t, 1)
        c.publish(t, b"mine", 1)
        self.assertEqual(other.expect(1)[0].payload, b"mine")
        c.expect_none(0.5)
        # messages from others still arrive
        other.publish(t, b"theirs", 1)
        self.assertEqual(c.expect(1)[0].payload, b"theirs")

    def test_without_no_local_own_messages_arrive(self):
        t = unique("nl0")
        c = self.client(unique("nl0c"), version=5)
        c.subscribe(t, options=SubscribeOptions(qos=1, noLocal=False))
        c.publish(t, b"mine", 1)
        self.assertEqual(c.expect(1)[0].payload, b"mine")

    def test_retain_as_published(self):
        t = unique("rap")
        rap = self.client(unique("rap1"), version=5)
        rap.subscribe(t, options=SubscribeOptions(qos=1, retainAsPublished=True))
        plain = self.client(unique("rap0"), version=5)
        plain.subscribe(t, options=SubscribeOptions(qos=1, retainAsPublished=False))
        pub = self.client(unique("rapp"), version=5)
        pub.publish(t, b"kept", 1, retain=True)
        pub.publish(t, b"notkept", 1, retain=False)
        self.assertEqual([(m.payload, m.retain) for m in rap.expect(2)],
                         [(b"kept", True), (b"notkept", False)])
        self.assertEqual([(m.payload, m.retain) for m in plain.expect(2)],
                         [(b"kept", False), (b"notkept", False)])
        pub.publish(t, b"", 1, retain=True)  # clear

    def test_retain_handling(self):
        t = unique("rh")
        pub = self.client(unique("rhp"), version=5)
        pub.publish(t, b"retained", 1, retain=True)
        # 0: send retained at every subscribe
        c0 = self.client(unique("rh0"), version=5)
        opts0 = SubscribeOptions(qos=1, retainHandling=0)
        c0.subscribe(t, options=opts0)
        self.assertEqual([(m.payload, m.retain) for m in c0.expect(1)], [(b"retained", True)])
        c0.subscribe(t, options=opts0)
        self.assertEqual([(m.payload, m.retain) for m in c0.expect(1)], [(b"retained", True)])
        # 1: only if the subscription did not exist
        c1 = self.client(unique("rh1"), version=5)
        opts1 = SubscribeOptions(qos=1, retainHandling=1)
        c1.subscribe(t, options=opts1)
        self.assertEqual(c1.expect(1)[0].payload, b"retained")
        c1.subscribe(t, options=opts1)
        c1.expect_none(0.5)
        # 2: never
        c2 = self.client(unique("rh2"), version=5)
        c2.subscribe(t, options=SubscribeOptions(qos=1, retainHandling=2))
        c2.expect_none(0.5)
        # but live messages flow for all three
        pub.publish(t, b"live", 1)
        for c in (c0, c1, c2):
            m = c.expect(1)[0]
            self.assertEqual((m.payload, m.retain), (b"live", False))
        pub.publish(t, b"", 1, retain=True)

    def test_subscribe_options_reserved_bits_malformed(self):
        r = self.raw()
        r.connect(unique("rsv"), version=5)
        r.send(subscribe_packet(1, [(unique("x"), 0xC1)], version=5))
        packets = r.assert_closed(allow=(DISCONNECT,))
        for p in packets:
            self.assertEqual(p.rc, 0x81)


class TestInvalidFilter(BrokerTestCase):

    @starling_only("mosquitto 2.0.11 disconnects (v5: DISCONNECT 0x81) on an "
                   "invalid filter instead of SUBACK 0x8F for that filter")
    def test_invalid_filter_v5_suback_0x8f(self):
        ok = unique("okf")
        r = self.raw()
        r.connect(unique("if5"), version=5)
        codes = r.subscribe([("a/#/b", 0), (ok, 1), ("a/b+", 0), ("#/a", 0)], packet_id=5)
        self.assertEqual(codes, [0x8F, 1, 0x8F, 0x8F])
        # the valid filter in the same packet works and the connection stays
        r.publish(ok, b"v", qos=0)
        m = r.expect_packet(PUBLISH)
        self.assertEqual((m.topic, m.payload), (ok, b"v"))

    @starling_only("mosquitto 2.0.11 closes the connection on an invalid filter "
                   "instead of SUBACK 0x80 for that filter")
    def test_invalid_filter_v311_suback_0x80(self):
        ok = unique("okf4")
        r = self.raw()
        r.connect(unique("if4"), version=4)
        codes = r.subscribe([("a/#/b", 0), (ok, 1)], packet_id=6)
        self.assertEqual(codes, [0x80, 1])
        self.assertTrue(r.is_open(0.2))

    def test_invalid_filter_never_granted(self):
        """Both brokers: an invalid filter is never granted (refused in the
        SUBACK or the connection is closed) and the broker keeps serving."""
        for version in (4, 5):
            r = self.raw()
            r.connect(unique("ifx"), version=version)
            r.send(subscribe_packet(1, [("a/#/b", 0)], version=version))
            try:
                p = r.read_packet(2)
            except ConnectionError:
                continue
            if p.type == SUBACK:
                self.assertGreaterEqual(p.codes[0], 0x80)
            else:
                self.assertEqual(p.type, DISCONNECT)
                self.assertGreaterEqual(p.rc, 0x80)
        self.assertBrokerServes()


if __name__ == "__main__":
    unittest.main()
