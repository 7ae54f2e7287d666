"""Protocol corners that real clients hit (issue 11): each test shows what a user's client
would notice. Raw packets where only they can provoke the case, paho where a library does."""

import time
import unittest

from harness import *


class CleanSessionTakeover(BrokerTestCase):
    """[MQTT-3.1.2-6] / v5 3.1.2.11.2: a session with clean session 1 (v5: expiry 0) ends with
    its connection, also when a new CONNECT takes the connection over: the new connection,
    though it asks to resume, starts with no session."""

    def test_v311_clean_then_persistent_takeover_starts_empty(self):
        cid, t = unique("cs4"), unique("cs4t")
        a = self.raw()
        a.connect(cid, version=4, clean=True)
        self.assertEqual(a.subscribe([(t, 1)]), [1])
        b = self.raw()
        ack = b.connect(cid, version=4, clean=False)
        self.assertFalse(ack.session_present)
        a.assert_closed()
        # The old subscription is gone with its session.
        pub = self.client(unique("cs4p"), version=4)
        pub.publish(t, b"x", 1)
        b.expect_nothing(0.5)

    def test_v5_expiry0_then_resume_takeover_starts_empty(self):
        cid, t = unique("cs5"), unique("cs5t")
        a = self.raw()
        a.connect(cid, version=5, clean=True)  # no Session Expiry: 0
        self.assertEqual(a.subscribe([(t, 1)]), [1])
        b = self.raw()
        ack = b.connect(cid, version=5, clean=False, props=[(P.SESSION_EXPIRY, 300)])
        self.assertFalse(ack.session_present)
        a.assert_closed(allow=(DISCONNECT,))
        pub = self.client(unique("cs5p"), version=5)
        pub.publish(t, b"x", 1)
        b.expect_nothing(0.5)

    def test_persistent_takeover_still_resumes(self):
        cid, t = unique("cs6"), unique("cs6t")
        a = self.raw()
        a.connect(cid, version=4, clean=False)
        self.assertEqual(a.subscribe([(t, 1)]), [1])
        b = self.raw()
        self.assertTrue(b.connect(cid, version=4, clean=False).session_present)
        pub = self.client(unique("cs6p"), version=4)
        pub.publish(t, b"kept", 1)
        self.assertEqual(b.expect_packet(PUBLISH).payload, b"kept")


@starling_only("mosquitto 2.0.11 sends a 19-byte CONNACK to a client that allows 12")
class ConnackMaximumPacketSize(BrokerTestCase):
    """[MQTT-3.1.2-24]: no packet over the client's Maximum Packet Size, CONNACK included."""

    def test_connack_fits_12_bytes(self):
        r = self.raw()
        r.version = 5
        r.send(connect_packet(unique("mps"), 5, props=[(P.MAXIMUM_PACKET_SIZE, 12)]))
        raw = r.read(2)
        self.assertEqual(raw[0], CONNACK << 4)
        body = r.read(raw[1])
        self.assertLessEqual(2 + len(body), 12)
        self.assertEqual(body[1], 0)  # accepted
        # And the connection works.
        self.assertEqual(r.subscribe([(unique("mpst"), 0)]), [0])

    def test_assigned_client_id_kept_when_it_fits(self):
        """Availabilities go first; what the client needs (its assigned id) stays."""
        r = self.raw()
        r.version = 5
        r.send(connect_packet("", 5, props=[(P.MAXIMUM_PACKET_SIZE, 36)]))
        ack = r.read_packet()
        self.assertEqual(ack.rc, 0)
        self.assertIn(P.ASSIGNED_CLIENT_ID, ack.props)
        self.assertNotIn(P.WILDCARD_SUB_AVAILABLE, ack.props)

    def test_too_small_for_any_connack_closes(self):
        r = self.raw()
        r.send(connect_packet(unique("mps4"), 5, props=[(P.MAXIMUM_PACKET_SIZE, 4)]))
        self.assertEqual(r.assert_closed(), [])

    def test_paho_client_with_small_maximum(self):
        props = Properties(PacketTypes.CONNECT)
        props.MaximumPacketSize = 16
        c = self.client(unique("mpsp"), version=5, connect=False)
        c.connect(properties=props)
        self.assertIsNone(c.disconnected)


class WillRefusalsV311(BrokerTestCase):
    """[MQTT-3.2.2-6]: 3.1.1 has no return code for a will the server cannot take, so the
    connection closes without a CONNACK (before: CONNACK 3 "server unavailable", which
    clients retry for ever)."""

    def _refused(self, topic):
        r = self.raw()
        r.send(connect_packet(unique("wt"), 4, will={"topic": topic, "payload": b"x"}))
        return r.assert_closed(allow=(CONNACK,))

    @starling_only("mosquitto 2.0.11 answers CONNACK 5 to a wildcard will topic")
    def test_wildcard_will_topic_closes_without_connack(self):
        self.assertEqual(self._refused("a/#"), [])

    @starling_only("mosquitto 2.0.11 answers CONNACK 5 to an empty will topic")
    def test_empty_will_topic_closes_without_connack(self):
        self.assertEqual(self._refused(""), [])

    @starling_only("mosquitto 2.0.11 closes without the CONNACK 0x90 that v5 allows")
    def test_v5_wildcard_will_topic_gets_0x90(self):
        r = self.raw()
        r.version = 5
        r.send(connect_packet(unique("wt5"), 5, will={"topic": "a/+", "payload": b"x"}))
        self.assertEqual(r.read_packet().rc, 0x90)


class MqttV31(BrokerTestCase):
    """MQTT 3.1 CONNACK: the byte before the return code is reserved (no session present)."""

    def test_v31_resumed_session_sends_reserved_zero(self):
        cid = unique("v31s")
        r = self.raw()
        r.connect(cid, version=3, clean=False)
        r.send(disconnect_packet())
        r.assert_closed()
        r2 = self.raw()
        ack = r2.connect(cid, version=3, clean=False)
        self.assertEqual(ack.body[0], 0)


class SizeLimits(BrokerTestCase):
    CONF = ["message_size_limit 100"]

    @starling_only("mosquitto 2.0.11 acknowledges with 0x95, which a PUBACK may not carry")
    def test_v5_qos1_over_limit_acknowledged_0x97(self):
        """v5 3.4.2.1: PUBACK codes do not include 0x95; paho's in-flight window would fill
        up waiting. Answered 0x97 Quota exceeded, and not delivered."""
        t = unique("big")
        sub = self.client(unique("bigs"), version=5)
        sub.subscribe(t, 1)
        r = self.raw()
        r.connect(unique("bigp"), version=5)
        r.publish(t, b"x" * 101, qos=1, packet_id=5)
        ack = r.expect_packet(PUBACK)
        self.assertEqual((ack.packet_id, ack.rc), (5, 0x97))
        r.publish(t, b"x" * 101, qos=2, packet_id=6)
        ack = r.expect_packet(PUBREC)
        self.assertEqual((ack.packet_id, ack.rc), (6, 0x97))
        sub.expect_none(0.3)

    @starling_only("mosquitto 2.0.11's 0x95 PUBACK leaves paho waiting")
    def test_paho_v5_publisher_not_stuck(self):
        t = unique("big")
        c = self.client(unique("bigpp"), version=5)
        for _ in range(30):  # more than a small receive window
            c.wait_published(c.publish(t, b"y" * 200, 1))

    def test_will_over_limit_refused(self):
        """mosquitto refuses a will over message_size_limit: CONNACK 5 / 0x95."""
        for version, rc in ((4, 5), (5, 0x95)):
            r = self.raw()
            r.version = version
            r.send(connect_packet(unique("bw"), version,
                                  will={"topic": "w", "payload": b"z" * 101}))
            self.assertEqual(r.read_packet().rc, rc)
            r.assert_closed()


class UpgradeOutgoingQos(BrokerTestCase):
    """mosquitto's upgrade_outgoing_qos: delivered at the subscription's QoS (non-standard, on
    purpose), live and retained."""
    CONF = ["upgrade_outgoing_qos true"]

    def test_qos0_publish_delivered_at_qos2(self):
        t = unique("up")
        pub = self.client(unique("upp"), version=4)
        pub.publish(t + "/r", b"ret", 0, retain=True)
        r = self.raw()
        r.connect(unique("ups"), version=4)
        self.assertEqual(r.subscribe([(t + "/#", 2)]), [2])
        p = r.expect_packet(PUBLISH)
        self.assertEqual((p.payload, p.qos, p.retain), (b"ret", 2, True))
        r.send(pubrec_packet(p.packet_id))
        r.expect_packet(PUBREL)
        r.send(pubcomp_packet(p.packet_id))
        pub.publish(t + "/live", b"live", 0)
        p = r.expect_packet(PUBLISH)
        self.assertEqual((p.payload, p.qos), (b"live", 2))


MOUNT_PORT = free_port()


@starling_only("mosquitto 2.0.11 leaves the mount point on delivered topics, against its own "
               "documentation ('This prefix is removed when any messages are sent')")
class MountPoint(BrokerTestCase):
    """mount_point on a listener (issue 11: read and ignored before): its clients' topics are
    prefixed on the way in, stripped on the way out, and their wildcards confined to it."""
    CONF = ["listener %d %s" % (MOUNT_PORT, HOST), "mount_point tenant/"]

    def mounted(self, version=5, cid=None, connect=True):
        c = Client(MOUNT_PORT, cid or unique("mnt"), version=version)
        self._clients.append(c)
        if connect:
            c.connect()
        return c

    def test_publish_prefixed_and_delivery_stripped(self):
        t = unique("m")
        outside = self.client(unique("out"), version=4)
        outside.subscribe("tenant/" + t + "/#", 1)
        inside = self.mounted()
        inside.subscribe(t + "/#", 1)
        inside.publish(t + "/in", b"from-inside", 1)
        got = outside.expect(1)[0]
        self.assertEqual((got.topic, got.payload), ("tenant/%s/in" % t, b"from-inside"))
        self.assertEqual(inside.expect(1)[0].topic, t + "/in")  # stripped
        outside.publish("tenant/%s/out" % t, b"from-outside", 1)
        got = inside.expect(1)[0]
        self.assertEqual((got.topic, got.payload), (t + "/out", b"from-outside"))

    def test_wildcards_confined(self):
        t = unique("w")
        inside = self.mounted()
        inside.subscribe("#", 0, options=SubscribeOptions(qos=0, retainHandling=2))
        outside = self.client(unique("o"), version=4)
        outside.publish(t, b"elsewhere", 1)
        outside.publish("tenant/" + t, b"here", 1)
        got = inside.expect(1)
        self.assertEqual((got[0].topic, got[0].payload), (t, b"here"))
        inside.expect_none(0.3)

    def test_retained_and_will_under_mount(self):
        t = unique("r")
        outside = self.client(unique("o"), version=4)
        outside.publish("tenant/%s/ret" % t, b"kept", 1, retain=True)
        inside = self.mounted()
        inside.subscribe(t + "/#", 1)
        got = inside.expect(1)[0]
        self.assertEqual((got.topic, got.payload, got.retain), (t + "/ret", b"kept", True))
        outside.subscribe("tenant/%s/will" % t, 1)
        dying = self.mounted(connect=False)
        dying.will_set(t + "/will", b"bye", 1)
        dying.connect()
        dying.drop()
        self.assertEqual(outside.expect(1)[0].topic, "tenant/%s/will" % t)

    def test_shared_subscription_under_mount(self):
        t = unique("s")
        inside = self.mounted()
        inside.subscribe("$share/g/" + t, 1)
        outside = self.client(unique("o"), version=4)
        outside.publish("tenant/" + t, b"shared", 1)
        self.assertEqual(inside.expect(1)[0].topic, t)


if __name__ == "__main__":
    unittest.main()


def owner(client_id, workers=2):
    """The worker that owns client_id in Starling (FNV-1a of the id, modulo the workers)."""
    h = 2166136261
    for b in client_id.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h % workers


def id_on(prefix, worker, workers=2):
    """A fresh client id owned by `worker`."""
    while True:
        cid = unique(prefix)
        if owner(cid, workers) == worker:
            return cid


class NoMatchingSubscribers(BrokerTestCase):
    """v5 3.4.2.1 / 3.5.2.1: a QoS 1/2 PUBLISH nobody subscribes to is acknowledged with 0x10
    No matching subscribers (a success code: the flow goes on), as mosquitto answers; 0x00 as
    soon as a subscriber anywhere matches, on either worker, by name or by wildcard."""
    CONF = [] if IS_MOSQUITTO else ["worker_threads 2", "worker_placement hash"]

    def pub_rc(self, topic, qos=1, cid=None, version=5):
        r = self.raw()
        r.connect(cid or unique("nmp"), version=version)
        r.publish(topic, b"x", qos=qos, packet_id=7)
        ack = r.expect_packet(PUBACK if qos == 1 else PUBREC)
        self.assertEqual(ack.packet_id, 7)
        r.close()
        return ack.rc

    def test_nobody_subscribed_0x10(self):
        self.assertEqual(self.pub_rc(unique("nm") + "/a/b", 1), 0x10)

    @starling_only("mosquitto 2.0.11 answers 0x10 in PUBACK only, PUBREC 0x00")
    def test_nobody_subscribed_qos2_pubrec_0x10(self):
        """PUBREC may carry 0x10 too (v5 3.5.2.1); the PUBREL/PUBCOMP flow goes on."""
        t = unique("nm2") + "/a"
        r = self.raw()
        r.connect(unique("nmp2"), version=5)
        r.publish(t, b"x", qos=2, packet_id=8)
        self.assertEqual(r.expect_packet(PUBREC).rc, 0x10)
        r.send(pubrel_packet(8, version=5))
        self.assertEqual(r.expect_packet(PUBCOMP).packet_id, 8)

    def test_v311_ack_has_no_code(self):
        self.assertEqual(self.pub_rc(unique("nm3"), 1, version=4), 0)

    def test_subscriber_on_either_worker_0x00(self):
        for w in (0, 1):
            with self.subTest(subscriber_worker=w):
                t = unique("nmw") + "/x"
                sub = self.raw()
                sub.connect(id_on("nms", w), version=5)
                self.assertEqual(sub.subscribe([(t, 1)]), [1])
                for pw in (0, 1):  # the publisher on the same worker, then on the other
                    self.assertEqual(self.pub_rc(t, 1, cid=id_on("nmp", pw)), 0)
                    self.assertEqual(sub.expect_packet(PUBLISH).payload, b"x")
                sub.close()

    def test_wildcards_and_unsubscribe(self):
        root = unique("nmr")
        sub = self.client(id_on("nmws", 1), version=5)
        for f in (root + "/+/c", "+/b/" + root, root + "/#"):
            sub.subscribe(f, 1)
            t = "x/b/" + root if f.startswith("+") else root + "/b/c"
            self.assertEqual(self.pub_rc(t, 1, cid=id_on("nmp", 0)), 0)
            sub.unsubscribe(f)
            # The other worker's summary forgot it: nobody left.
            self.assertEqual(self.pub_rc(t, 1, cid=id_on("nmp", 0)), 0x10)


@starling_only("mosquitto saves its store on an interval; the durable acknowledgement path "
               "is Starling's")
class NoMatchingSubscribersDurable(NoMatchingSubscribers):
    """The same when the acknowledgement waits for the store (a persistent publisher)."""
    CONF = ["worker_threads 2", "worker_placement hash", "persistence true",
            "persistence_location data"]

    def test_durable_publisher_0x10(self):
        t = unique("nmd")
        r = self.raw()
        r.connect(unique("nmdp"), version=5, clean=False, props=[(P.SESSION_EXPIRY, 300)])
        r.publish(t, b"x", qos=1, packet_id=9)
        self.assertEqual(r.expect_packet(PUBACK).rc, 0x10)
        r.publish(t, b"x", qos=2, packet_id=10)
        self.assertEqual(r.expect_packet(PUBREC).rc, 0x10)
