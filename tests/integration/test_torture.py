"""Hostile but legal input at the size limit (issue 10): packets with millions of entries or
properties, and a client with a million subscriptions, must be served or refused with the
reason code the spec names, never crash or freeze the node. Each case ends by checking that a
normal client is still served; the stall cases measure a second client's ping round trip while
the first one's work runs.

The packet limit is 16 MB here (message_size_limit and max_packet_size), so every case sends a
packet at that limit: the size that crashed the node before (a 16 MB SUBSCRIBE of four million
one-byte filters). Under the sanitizers the limit is 4 MB and the time allowed grows."""

import os
import socket
import struct
import time
import unittest

from harness import (CONNACK, DISCONNECT, PUBACK, PUBLISH, SUBACK, UNSUBACK, BrokerTestCase,
                     OwnBrokerTestCase, PingProbe, encode_str, encode_varint, fixed,
                     starling_only, unique)

# Sanitizer builds run several times slower; the assertions stay, the waits grow, and the
# packet limit (which every case sends at) is 4 MB there instead of 16 MB, to keep the suite
# within its time.
SANITIZED = bool(os.environ.get("STARLING_SANITIZED"))
SLOW = 4 if SANITIZED else 1
LIMIT = (4 if SANITIZED else 16) * 1024 * 1024
BIG_TIMEOUT = 120 * SLOW


def body_at_limit(head, entry, room=0):
    """A packet body of head + as many copies of entry as fit LIMIT (the whole packet, fixed
    header included, at most LIMIT bytes), less room bytes. Returns (body, count)."""
    # A 16 MB remaining length takes a 4-byte varint: 1 + 4 header bytes.
    n = (LIMIT - 5 - len(head) - room) // len(entry)
    return head + entry * n, n


def subscribe_at_limit(version, filt=b"a", options=0):
    head = struct.pack("!H", 7) + (b"\x00" if version == 5 else b"")
    body, n = body_at_limit(head, struct.pack("!H", len(filt)) + filt + bytes([options]))
    return fixed(8, 2, body), n


def unsubscribe_at_limit(version, filt=b"a"):
    head = struct.pack("!H", 9) + (b"\x00" if version == 5 else b"")
    body, n = body_at_limit(head, struct.pack("!H", len(filt)) + filt)
    return fixed(10, 2, body), n


def user_props_at_limit(fixed_part, room=0):
    """v5 properties: as many one-byte user properties (0x26 'k' 'v') as fit beside
    fixed_part. Returns (encoded properties with their length, count)."""
    entry = b"\x26" + encode_str("k") + encode_str("v")
    n = (LIMIT - 5 - len(fixed_part) - 4 - room) // len(entry)
    props = entry * n
    return encode_varint(len(props)) + props, n


CONF = ["max_packet_size %d" % LIMIT, "message_size_limit %d" % LIMIT, "worker_threads 1",
        "sys_interval 1"]


@starling_only("Starling's limits configuration (max_packet_size) and its timing bounds")
class LargePackets(BrokerTestCase):
    """Packets at the size limit with millions of entries: answered, then business as usual."""
    CONF = CONF

    def big_raw(self, version):
        r = self.raw(timeout=BIG_TIMEOUT)
        r.connect(unique("big"), version=version)
        return r

    def subscribe_millions(self, version):
        r = self.big_raw(version)
        pkt, n = subscribe_at_limit(version, options=1)
        self.assertLessEqual(len(pkt), LIMIT)
        self.assertGreater(len(pkt), LIMIT - 4)  # at the limit, to within one entry
        self.assertGreater(n, LIMIT // 4 - 8)  # four million at 16 MB
        r.send(pkt)
        ack = r.expect_packet(SUBACK)
        self.assertEqual(ack.packet_id, 7)
        self.assertEqual(len(ack.codes), n)
        self.assertEqual(set(ack.codes), {1})
        # The connection goes on: the subscription works.
        r.send(fixed(3, 0, encode_str("a") + (b"\x00" if version == 5 else b"") + b"x"))
        self.assertEqual(r.expect_packet(PUBLISH).payload, b"x")
        return r

    def test_subscribe_4m_filters_v311(self):
        self.subscribe_millions(4)
        self.assertBrokerServes()

    def test_subscribe_4m_filters_v5(self):
        self.subscribe_millions(5)
        self.assertBrokerServes()

    def test_unsubscribe_4m_filters(self):
        for version in (4, 5):
            r = self.subscribe_millions(version)
            pkt, n = unsubscribe_at_limit(version)
            r.send(pkt)
            ack = r.expect_packet(UNSUBACK)
            self.assertEqual(ack.packet_id, 9)
            if version == 5:
                # The first removes it; every repeat finds none (0x11).
                self.assertEqual(len(ack.codes), n)
                self.assertEqual(ack.codes[0], 0)
                self.assertEqual(set(ack.codes[1:]), {0x11})
        self.assertBrokerServes()

    def test_connect_millions_of_user_properties(self):
        """v5 CONNECT at the limit, all user properties: accepted (any number is legal)."""
        cid = unique("props")
        head = encode_str("MQTT") + bytes([5, 2]) + struct.pack("!H", 60)
        props, n = user_props_at_limit(head + encode_str(cid))
        self.assertGreater(n, LIMIT // 8)  # two million at 16 MB
        r = self.raw(timeout=BIG_TIMEOUT)
        r.version = 5
        r.send(fixed(1, 0, head + props + encode_str(cid)))
        ack = r.expect_packet(CONNACK)
        self.assertEqual(ack.rc, 0)
        self.assertBrokerServes()

    def test_connect_over_limit_refused_0x95(self):
        """One byte over the limit: CONNACK 0x95 Packet too large, then close (v5 3.2.2.2)."""
        cid = unique("props")
        head = encode_str("MQTT") + bytes([5, 2]) + struct.pack("!H", 60)
        props, _ = user_props_at_limit(head + encode_str(cid))
        body = head + props + encode_str(cid)
        body += b"\x00" * (LIMIT - 5 - len(body) + 1)  # garbage past the limit: never parsed
        r = self.raw(timeout=BIG_TIMEOUT)
        r.version = 5
        try:
            r.send(fixed(1, 0, body))
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed before the tail was taken: allowed
        try:
            ack = r.read_packet()
            self.assertEqual((ack.type, ack.rc), (CONNACK, 0x95))
        except ConnectionError:
            pass  # [MQTT-3.1.4-?] closing without CONNACK is allowed too
        self.assertBrokerServes()

    def test_publish_millions_of_user_properties(self):
        """v5 PUBLISH at the limit, all user properties: acknowledged, delivered with every
        property to a v5 subscriber, without them to a v3.1.1 one."""
        topic = unique("props")
        sub5 = self.big_raw(5)
        sub5.subscribe([(topic, 1)])
        sub3 = self.big_raw(4)
        sub3.subscribe([(topic, 1)])
        pub = self.big_raw(5)
        head = encode_str(topic) + struct.pack("!H", 3)
        props, n = user_props_at_limit(head, room=1)
        pub.send(fixed(3, 2, head + props + b"p"))
        ack = pub.expect_packet(PUBACK)
        self.assertEqual(ack.packet_id, 3)
        self.assertIn(ack.rc, (None, 0))
        got5 = sub5.expect_packet(PUBLISH)
        self.assertEqual(got5.payload, b"p")
        self.assertEqual(len(got5.props.get(0x26, [])), n)
        got3 = sub3.expect_packet(PUBLISH)
        self.assertEqual(got3.payload, b"p")
        self.assertBrokerServes()

    def test_publish_over_limit_0x95(self):
        """A PUBLISH one byte over the limit: DISCONNECT 0x95 (v5), never delivered."""
        topic = unique("big")
        sub = self.big_raw(5)
        sub.subscribe([(topic, 0)])
        pub = self.big_raw(5)
        head = encode_str(topic) + b"\x00"
        body = head + b"x" * (LIMIT - 5 - len(head) + 1)
        try:
            pub.send(fixed(3, 0, body))
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            p = pub.read_packet()
            self.assertEqual((p.type, p.rc), (DISCONNECT, 0x95))
        except ConnectionError:
            self.fail("closed without DISCONNECT 0x95")
        with self.assertRaises(socket.timeout):
            sub.read_packet(timeout=0.5)
        self.assertBrokerServes()


@starling_only("Starling's quota key and timing bounds")
class SubscriptionQuota(BrokerTestCase):
    """Over max_subscriptions_per_client, each filter past the quota gets 0x97 (v5) / 0x80."""
    CONF = CONF + ["max_subscriptions_per_client 100000"]

    def test_quota_per_filter(self):
        for version, over in ((5, 0x97), (4, 0x80)):
            r = self.raw(timeout=BIG_TIMEOUT)
            r.connect(unique("quota"), version=version)
            head = struct.pack("!H", 5) + (b"\x00" if version == 5 else b"")
            entries = b"".join(struct.pack("!H", len(f)) + f + b"\x00"
                               for f in (b"q/%d" % i for i in range(150000)))
            r.send(fixed(8, 2, head + entries))
            ack = r.expect_packet(SUBACK)
            self.assertEqual(len(ack.codes), 150000)
            self.assertEqual(set(ack.codes[:100000]), {0})
            self.assertEqual(set(ack.codes[100000:]), {over})
            # A filter held already is a replacement, not one more.
            r.send(fixed(8, 2, struct.pack("!H", 6) + (b"\x00" if version == 5 else b"")
                         + struct.pack("!H", 3) + b"q/1" + b"\x01"))
            self.assertEqual(r.expect_packet(SUBACK).codes, [1])
            r.close()
        self.assertBrokerServes()


@starling_only("a timing bound on Starling's loop (slices)")
class MillionSubscriptions(OwnBrokerTestCase):
    """One client subscribes to a million distinct filters in 20 SUBSCRIBEs of 50,000, then
    disconnects (its session ends): another client on the same worker keeps its ping round
    trip under 100 ms throughout."""

    def test_million_filters_and_teardown_do_not_stall_others(self):
        b = self.broker(CONF)
        # Built before the ping starts: Python building them would hold the ping thread up.
        packets = [fixed(8, 2, struct.pack("!H", k + 1) + b"\x00" + b"".join(
            struct.pack("!H", len(f)) + f + b"\x00" for f in (b"m/%d" % (k * 50000 + i)
                                                              for i in range(50000))))
            for k in range(20)]
        ping = PingProbe(b.port)
        big = self.raw(b.port, timeout=BIG_TIMEOUT)
        big.connect(unique("million"), version=5)
        ping.start()
        t0 = time.monotonic()
        for k, pkt in enumerate(packets):
            big.send(pkt)
            ack = big.expect_packet(SUBACK)
            self.assertEqual(ack.packet_id, k + 1)
            self.assertEqual(set(ack.codes), {0})
        subscribed = time.monotonic() - t0
        # The last filter routes: the index holds them all.
        big.send(fixed(3, 0, encode_str("m/999999") + b"\x00" + b"last"))
        self.assertEqual(big.expect_packet(PUBLISH).payload, b"last")
        big.send(fixed(14, 0, b"\x00\x00"))  # DISCONNECT: the session ends, a million go
        big.close()
        # The teardown runs in slices after the DISCONNECT: measure across it.
        time.sleep(3 * SLOW)
        worst = ping.stop()
        self.assertTrue(b.alive())
        self.assertGreater(ping.count, 10)
        print("million filters subscribed in %.1f s; worst ping %.1f ms over %d pings"
              % (subscribed, worst * 1000, ping.count))
        self.assertLess(worst, 0.100 * SLOW,
                        "a ping waited %.0f ms while another client's work ran" % (worst * 1000))
        # The broker's own measure of its longest loop turn, whatever the client threads saw.
        stall = self.client(b, unique("sys"), version=4)
        stall.subscribe("$SYS/broker/loop/stall_max_us", 0)
        worst_turn = int(stall.expect(1, timeout=5 * SLOW)[0].payload)
        print("longest loop turn %.1f ms" % (worst_turn / 1000))
        self.assertLess(worst_turn, 100000 * SLOW)
        c = self.client(b, unique("after"), version=4)
        t = unique("after")
        c.subscribe(t, 1)
        c.publish(t, b"ok", 1)
        self.assertEqual(c.expect(1)[0].payload, b"ok")


if __name__ == "__main__":
    unittest.main()
