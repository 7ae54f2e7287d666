"""CONNECT / CONNACK: protocol versions, sessions, client ids, takeover,
keep-alive, v5 CONNACK properties, protocol violations around CONNECT."""

import time
import unittest

from harness import *


class TestConnect(BrokerTestCase):

    # -- protocol versions ---------------------------------------------------
    def test_v31_connect(self):
        r = self.raw()
        p = r.connect(unique("v31"), version=3)
        self.assertEqual(p.rc, 0)
        self.assertFalse(p.session_present)
        self.assertEqual(len(p.body), 2, "v3 CONNACK has exactly 2 body bytes")

    def test_v311_connect(self):
        r = self.raw()
        p = r.connect(unique("v311"), version=4)
        self.assertEqual((p.rc, p.session_present, len(p.body)), (0, False, 2))

    def test_v5_connect(self):
        r = self.raw()
        p = r.connect(unique("v5"), version=5)
        self.assertEqual(p.rc, 0)
        self.assertFalse(p.session_present)

    def test_paho_clients_all_versions_round_trip(self):
        t = unique("ver")
        for v in (3, 4, 5):
            c = self.client(unique("pv%d" % v), version=v)
            self.assertEqual(c.subscribe(t + str(v), 1), [1])
            c.publish(t + str(v), b"v%d" % v, 1)
            self.assertEqual(c.expect(1)[0].payload, b"v%d" % v)

    # -- session present -----------------------------------------------------
    def test_session_present_v311(self):
        cid = unique("sp4")
        r = self.raw()
        self.assertFalse(r.connect(cid, version=4, clean=False).session_present)
        r.send(disconnect_packet())
        r.assert_closed()
        r2 = self.raw()
        self.assertTrue(r2.connect(cid, version=4, clean=False).session_present)
        r2.send(disconnect_packet())
        r2.assert_closed()
        # clean session discards it: present is false and stays false
        r3 = self.raw()
        self.assertFalse(r3.connect(cid, version=4, clean=True).session_present)

    def test_session_present_v5(self):
        cid = unique("sp5")
        props = [(P.SESSION_EXPIRY, 60)]
        r = self.raw()
        self.assertFalse(r.connect(cid, version=5, clean=False, props=props).session_present)
        r.send(disconnect_packet())
        r.assert_closed()
        r2 = self.raw()
        self.assertTrue(r2.connect(cid, version=5, clean=False, props=props).session_present)
        r2.send(disconnect_packet())
        r2.assert_closed()
        r3 = self.raw()
        self.assertFalse(r3.connect(cid, version=5, clean=True, props=props).session_present)

    # -- client identifiers --------------------------------------------------
    def test_v311_empty_client_id_clean_session_accepted(self):
        r = self.raw()
        p = r.connect("", version=4, clean=True)
        self.assertEqual(p.rc, 0)
        # the connection is usable
        t = unique("anon")
        self.assertEqual(r.subscribe([(t, 1)]), [1])
        r.publish(t, b"me", qos=0)
        m = r.expect_packet(PUBLISH)
        self.assertEqual((m.topic, m.payload), (t, b"me"))

    def test_v311_empty_client_id_persistent_rejected(self):
        r = self.raw()
        p = r.connect("", version=4, clean=False, expect_rc=None)
        self.assertEqual(p.rc, 2, "identifier rejected")
        r.assert_closed()

    def test_v5_empty_client_id_gets_assigned_identifier(self):
        r1, r2 = self.raw(), self.raw()
        p1 = r1.connect("", version=5)
        p2 = r2.connect("", version=5)
        self.assertEqual(p1.rc, 0)
        a1 = p1.props.get(P.ASSIGNED_CLIENT_ID)
        a2 = p2.props.get(P.ASSIGNED_CLIENT_ID)
        self.assertIsInstance(a1, str)
        self.assertGreater(len(a1), 0)
        self.assertNotEqual(a1, a2, "assigned identifiers must be unique")

    def test_v5_given_client_id_not_reassigned(self):
        r = self.raw()
        p = r.connect(unique("given"), version=5)
        self.assertNotIn(P.ASSIGNED_CLIENT_ID, p.props)

    # -- protocol level ------------------------------------------------------
    def test_unsupported_protocol_level(self):
        r = self.raw()
        r.send(connect_packet(unique("pl"), version=6))
        packets = r.assert_closed(allow=(CONNACK,))
        self.assertEqual(len(packets), 1, "expected a CONNACK before the close")
        self.assertEqual(packets[0].rc, 1, "unacceptable protocol version")
        self.assertEqual(len(packets[0].body), 2, "v3-format CONNACK")

    # -- takeover --------------------------------------------------------
    def test_takeover_v311_closes_first(self):
        cid = unique("tk4")
        first = self.raw()
        first.connect(cid, version=4)
        second = self.raw()
        second.connect(cid, version=4)
        first.assert_closed()
        # the second connection is the live one
        t = unique("tk4t")
        self.assertEqual(second.subscribe([(t, 0)]), [0])
        second.publish(t, b"x")
        self.assertEqual(second.expect_packet(PUBLISH).payload, b"x")

    def test_takeover_v5_closes_first(self):
        cid = unique("tk5")
        first = self.raw()
        first.connect(cid, version=5)
        second = self.raw()
        second.connect(cid, version=5)
        packets = first.assert_closed(allow=(DISCONNECT,))
        for p in packets:
            self.assertEqual(p.rc, 0x8E)
        self.assertTrue(second.is_open())

    @starling_only("mosquitto 2.0.11 closes the old v5 connection without the "
                   "DISCONNECT 0x8E that MQTT-3.1.4-3 requires")
    def test_takeover_v5_sends_session_taken_over(self):
        cid = unique("tk5r")
        first = self.raw()
        first.connect(cid, version=5)
        second = self.raw()
        second.connect(cid, version=5)
        packets = first.assert_closed(allow=(DISCONNECT,))
        self.assertEqual([p.rc for p in packets], [0x8E])

    def test_takeover_with_paho_client(self):
        cid = unique("tkp")
        a = self.client(cid, version=4)
        b = self.client(cid, version=4)
        self.assertIsNotNone(a.wait_disconnected(), "first client not disconnected")
        self.assertIsNone(b.disconnected)

    # -- keep alive ----------------------------------------------------------
    def test_keepalive_disconnects_silent_client(self):
        r = self.raw()
        r.connect(unique("ka"), version=4, keepalive=1)
        t0 = time.monotonic()
        r.assert_closed(timeout=10)
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 1.0, "closed before the keep-alive elapsed")

    @starling_only("mosquitto 2.0.11 checks keep-alive coarsely and closes a "
                   "keepalive=1 client after ~5 s instead of 1.5 x keepalive")
    def test_keepalive_one_and_a_half_times(self):
        r = self.raw()
        r.connect(unique("ka15"), version=5, keepalive=1)
        t0 = time.monotonic()
        packets = r.assert_closed(timeout=5, allow=(DISCONNECT,))
        elapsed = time.monotonic() - t0
        self.assertTrue(1.0 <= elapsed <= 3.5, "closed after %.2fs" % elapsed)
        for p in packets:
            self.assertEqual(p.rc, 0x8D, "keep alive timeout")

    def test_keepalive_pingreq_keeps_connection(self):
        r = self.raw()
        r.connect(unique("kap"), version=4, keepalive=1)
        for _ in range(4):  # ~2.4 s of pings every 0.6 s
            time.sleep(0.6)
            r.send(pingreq_packet())
            self.assertEqual(r.read_packet(2).type, PINGRESP)
        self.assertTrue(r.is_open(0.1))

    # -- v5 CONNACK properties -------------------------------------------
    def test_v5_connack_properties(self):
        r = self.raw()
        p = r.connect(unique("props"), version=5)
        props = p.props
        # Receive Maximum: absent means 65535; never 0
        self.assertGreater(props.get(P.RECEIVE_MAXIMUM, 65535), 0)
        # the broker accepts topic aliases from clients
        self.assertGreaterEqual(props.get(P.TOPIC_ALIAS_MAXIMUM, 0), 1)
        # default config: QoS 2 supported, retain available, wildcard,
        # subscription ids, shared subscriptions available
        self.assertEqual(props.get(P.MAXIMUM_QOS, 2), 2)
        self.assertEqual(props.get(P.RETAIN_AVAILABLE, 1), 1)
        self.assertEqual(props.get(P.WILDCARD_SUB_AVAILABLE, 1), 1)
        self.assertEqual(props.get(P.SUB_ID_AVAILABLE, 1), 1)
        self.assertEqual(props.get(P.SHARED_SUB_AVAILABLE, 1), 1)
        # no limit configured: a maximum packet size, if announced, still
        # admits the 1 MB payloads of test_publish; the keep-alive we asked
        # for (60 s) is not overridden
        self.assertGreaterEqual(props.get(P.MAXIMUM_PACKET_SIZE, 268435460), 2 * 1024 * 1024)
        self.assertEqual(props.get(P.SERVER_KEEP_ALIVE, 60), 60)

    @starling_only("mosquitto leaves availability properties out (absent = available)")
    def test_v5_connack_says_features_available(self):
        props = self.raw().connect(unique("avail"), version=5).props
        self.assertEqual([props.get(k) for k in (P.RETAIN_AVAILABLE, P.WILDCARD_SUB_AVAILABLE,
                                                 P.SUB_ID_AVAILABLE, P.SHARED_SUB_AVAILABLE)],
                         [1, 1, 1, 1])
        self.assertNotIn(P.MAXIMUM_QOS, props)  # [MQTT-3.2.2-9] QoS 2 is not announced

    def test_v5_connack_via_paho(self):
        c = self.client(unique("pp"), version=5)
        _, rc, props = c.connack
        self.assertEqual(rc, 0)
        self.assertGreaterEqual(getattr(props, "TopicAliasMaximum", 0), 1)

    # -- protocol violations -------------------------------------------
    def test_first_packet_not_connect_closes(self):
        r = self.raw()
        r.send(publish_packet("a/b", b"x"))
        r.assert_closed()

    def test_first_packet_subscribe_closes(self):
        r = self.raw()
        r.send(subscribe_packet(1, [("a/#", 0)]))
        r.assert_closed()

    def test_second_connect_closes_v311(self):
        r = self.raw()
        r.connect(unique("sc4"), version=4)
        r.send(connect_packet(unique("sc4b"), version=4))
        r.assert_closed()

    def test_second_connect_closes_v5(self):
        r = self.raw()
        r.connect(unique("sc5"), version=5)
        r.send(connect_packet(unique("sc5b"), version=5))
        for p in r.assert_closed(allow=(DISCONNECT,)):
            self.assertEqual(p.rc, 0x82)

    @starling_only("mosquitto 2.0.11 closes on a second CONNECT without sending "
                   "DISCONNECT 0x82 (spec 4.13.1: SHOULD send it)")
    def test_second_connect_v5_protocol_error(self):
        r = self.raw()
        r.connect(unique("sc5r"), version=5)
        r.send(connect_packet(unique("sc5c"), version=5))
        packets = r.assert_closed(allow=(DISCONNECT,))
        self.assertEqual([p.rc for p in packets], [0x82])

    def test_broker_serves_after_violations(self):
        r = self.raw()
        r.send(b"\x30\x00")
        r.assert_closed()
        self.assertBrokerServes()


if __name__ == "__main__":
    unittest.main()
