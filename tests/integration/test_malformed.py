"""Malformed and forbidden packets sent over raw sockets. After each one the
connection must be closed (v5: preceded by DISCONNECT with the right reason
where the spec says the server should send one) and the broker must still
serve a normal client (checked in tearDown)."""

import struct
import unittest

from harness import *


class MalformedBase(BrokerTestCase):

    def tearDown(self):
        self.assertBrokerServes()
        super().tearDown()

    def closed(self, r, v5_reasons=None, allow_connack=False):
        """Assert r gets closed. v5_reasons: set of acceptable DISCONNECT
        reason codes (None: no DISCONNECT allowed). Returns packets seen."""
        allow = []
        if v5_reasons:
            allow.append(DISCONNECT)
        if allow_connack:
            allow.append(CONNACK)
        packets = r.assert_closed(allow=tuple(allow))
        for p in packets:
            if p.type == DISCONNECT:
                self.assertIn(p.rc, v5_reasons, "DISCONNECT reason 0x%02x" % p.rc)
            if p.type == CONNACK:
                self.assertNotEqual(p.rc, 0, "a malformed CONNECT must not be accepted")
        return packets

    def strict(self, r, reason):
        """v5: exactly one DISCONNECT with `reason`, then close."""
        packets = r.assert_closed(allow=(DISCONNECT,))
        self.assertEqual([p.rc for p in packets], [reason])

    def v5(self):
        r = self.raw()
        r.connect(unique("mf5"), version=5)
        return r

    def v4(self):
        r = self.raw()
        r.connect(unique("mf4"), version=4)
        return r


class TestBeforeConnect(MalformedBase):

    def test_garbage_first_byte(self):
        r = self.raw()
        r.send(b"\xff\x00garbage")
        self.closed(r)

    def test_reserved_packet_type_0(self):
        r = self.raw()
        r.send(b"\x00\x00")
        self.closed(r)

    def test_http_request(self):
        r = self.raw()
        r.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.closed(r)

    def test_bad_protocol_name_v311(self):
        r = self.raw()
        r.send(connect_packet(unique("bp"), version=4, proto_name="MQTX"))
        self.closed(r, allow_connack=True)

    def test_bad_protocol_name_v5(self):
        r = self.raw()
        r.send(connect_packet(unique("bp5"), version=5, proto_name="XQTT"))
        self.closed(r, allow_connack=True)

    def test_connect_reserved_flag_v311(self):
        r = self.raw()
        r.send(connect_packet(unique("rf"), version=4, flags_extra=0x01))
        self.closed(r)

    def test_connect_reserved_flag_v5(self):
        r = self.raw()
        r.send(connect_packet(unique("rf5"), version=5, flags_extra=0x01))
        self.closed(r, allow_connack=True)

    def test_connect_fixed_header_flags(self):
        r = self.raw()
        r.send(b"\x11" + connect_packet(unique("fh"), version=4)[1:])
        self.closed(r)

    def test_connect_will_qos3(self):
        r = self.raw()
        r.send(connect_packet(unique("wq3"), version=4,
                              will={"topic": "w/t", "payload": b"x", "qos": 3}))
        self.closed(r)

    def test_connect_will_qos_without_will_flag(self):
        # [MQTT-3.1.2-13]: will QoS must be 0 when the will flag is 0
        r = self.raw()
        r.send(connect_packet(unique("wq0"), version=4, flags_extra=0x08))
        self.closed(r, allow_connack=True)

    def test_connect_password_without_username_v311(self):
        r = self.raw()
        r.send(connect_packet(unique("pw"), version=4, password="secret"))
        self.closed(r, allow_connack=True)

    def test_remaining_length_five_bytes_before_connect(self):
        r = self.raw()
        r.send(b"\x10\xff\xff\xff\xff\x01")
        self.closed(r)

    def test_v5_duplicate_connect_property(self):
        r = self.raw()
        r.send(connect_packet(unique("dp"), version=5,
                              props=[(P.SESSION_EXPIRY, 10), (P.SESSION_EXPIRY, 20)]))
        self.closed(r, allow_connack=True)


class TestAfterConnect(MalformedBase):

    # -- remaining length ------------------------------------------------
    def test_remaining_length_five_bytes_v311(self):
        r = self.v4()
        r.send(b"\x30\xff\xff\xff\xff\x01")
        self.closed(r)

    def test_remaining_length_five_bytes_v5(self):
        r = self.v5()
        r.send(b"\x30\xff\xff\xff\xff\x01")
        self.closed(r, v5_reasons={0x81})

    @starling_only("mosquitto 2.0.11 closes on a 5-byte remaining length without "
                   "DISCONNECT 0x81 (spec 4.13.1: SHOULD send it)")
    def test_remaining_length_five_bytes_v5_reason(self):
        r = self.v5()
        r.send(b"\x30\xff\xff\xff\xff\x01")
        self.strict(r, 0x81)

    # -- PUBLISH ---------------------------------------------------------
    def test_publish_qos3_v311(self):
        r = self.v4()
        r.send(fixed(PUBLISH, 0x06, encode_str("a/b") + b"\x00\x01x"))
        self.closed(r)

    def test_publish_qos3_v5(self):
        r = self.v5()
        r.send(fixed(PUBLISH, 0x06, encode_str("a/b") + b"\x00\x01\x00x"))
        self.strict(r, 0x81)

    def test_publish_invalid_utf8_topic_v311(self):
        r = self.v4()
        r.send(fixed(PUBLISH, 0, encode_str(b"a/\xc3\x28") + b"x"))
        self.closed(r)

    def test_publish_invalid_utf8_topic_v5(self):
        r = self.v5()
        r.send(fixed(PUBLISH, 0, encode_str(b"a/\xff\xfe") + b"\x00x"))
        self.strict(r, 0x81)

    def test_publish_topic_with_nul_v5(self):
        r = self.v5()
        r.send(fixed(PUBLISH, 0, encode_str(b"a/\x00b") + b"\x00x"))
        self.strict(r, 0x81)

    def test_publish_zero_length_topic_v311(self):
        r = self.v4()
        r.send(fixed(PUBLISH, 0, encode_str(b"") + b"payload"))
        self.closed(r)

    def test_publish_zero_length_topic_v5_without_alias(self):
        r = self.v5()
        r.send(fixed(PUBLISH, 0, encode_str(b"") + b"\x00payload"))
        self.strict(r, 0x82)

    def test_publish_packet_id_zero_v311(self):
        r = self.v4()
        r.publish("a/b", b"x", qos=1, packet_id=0)
        self.closed(r)

    def test_publish_packet_id_zero_v5(self):
        # [MQTT-2.2.1-3]; the spec does not pin the reason: malformed or protocol error
        r = self.v5()
        r.publish("a/b", b"x", qos=1, packet_id=0)
        self.closed(r, v5_reasons={0x81, 0x82})

    def test_publish_truncated_topic_v5(self):
        r = self.v5()
        r.send(fixed(PUBLISH, 0, b"\x00\x10ab"))
        self.strict(r, 0x81)

    def test_topic_alias_zero_v5(self):
        r = self.v5()
        r.publish("a/b", b"x", props=[(P.TOPIC_ALIAS, 0)])
        self.closed(r, v5_reasons={0x81, 0x82, 0x94})

    def test_unknown_topic_alias_v5(self):
        r = self.v5()
        r.publish("", b"x", props=[(P.TOPIC_ALIAS, 1)])
        self.closed(r, v5_reasons={0x82, 0x94})

    # -- SUBSCRIBE -----------------------------------------------------
    def test_subscribe_no_filters_v311(self):
        r = self.v4()
        r.send(fixed(SUBSCRIBE, 2, b"\x00\x01"))
        self.closed(r)

    def test_subscribe_no_filters_v5(self):
        r = self.v5()
        r.send(fixed(SUBSCRIBE, 2, b"\x00\x01\x00"))
        self.closed(r, v5_reasons={0x81, 0x82})

    @starling_only("mosquitto 2.0.11 uses 0x81 malformed; MQTT-3.8.3-2 says an "
                   "empty SUBSCRIBE payload is a Protocol Error (0x82)")
    def test_subscribe_no_filters_v5_reason(self):
        r = self.v5()
        r.send(fixed(SUBSCRIBE, 2, b"\x00\x01\x00"))
        self.strict(r, 0x82)

    def test_subscribe_reserved_header_flags_v311(self):
        r = self.v4()
        r.send(fixed(SUBSCRIBE, 0, b"\x00\x01" + encode_str("a") + b"\x00"))
        self.closed(r)

    def test_subscribe_reserved_header_flags_v5(self):
        r = self.v5()
        r.send(fixed(SUBSCRIBE, 0, b"\x00\x01\x00" + encode_str("a") + b"\x00"))
        self.strict(r, 0x81)

    def test_subscribe_packet_id_zero_v5(self):
        r = self.v5()
        r.send(fixed(SUBSCRIBE, 2, b"\x00\x00\x00" + encode_str("a") + b"\x00"))
        self.closed(r, v5_reasons={0x81, 0x82})

    def test_subscribe_qos3_v311(self):
        r = self.v4()
        r.send(subscribe_packet(1, [("a/b", 3)]))
        self.closed(r)

    def test_subscribe_missing_options_byte_v5(self):
        r = self.v5()
        r.send(fixed(SUBSCRIBE, 2, b"\x00\x01\x00" + encode_str("a")))
        self.strict(r, 0x81)

    def test_unsubscribe_no_filters_v5(self):
        r = self.v5()
        r.send(fixed(UNSUBSCRIBE, 2, b"\x00\x01\x00"))
        self.closed(r, v5_reasons={0x81, 0x82})

    # -- other packets -----------------------------------------------------
    def test_pubrel_reserved_flags_v5(self):
        r = self.v5()
        r.send(fixed(PUBREL, 0, b"\x00\x01"))
        self.closed(r, v5_reasons={0x81})

    @starling_only("mosquitto 2.0.11 answers a PINGREQ that has a body with "
                   "PINGRESP; the packet is malformed (PINGREQ has no body)")
    def test_pingreq_with_body_v311(self):
        r = self.v4()
        r.send(b"\xc0\x01\x00")
        self.closed(r)

    def test_connack_from_client_v5(self):
        r = self.v5()
        r.send(b"\x20\x03\x00\x00\x00")
        self.closed(r, v5_reasons={0x81, 0x82})

    def test_reserved_type_0_v5(self):
        r = self.v5()
        r.send(b"\x00\x00")
        self.closed(r, v5_reasons={0x81, 0x82})


class TestMaxPacketSize(MalformedBase):
    CONF = ["max_packet_size 1000"]

    def test_connack_announces_maximum_packet_size(self):
        r = self.raw()
        p = r.connect(unique("mps"), version=5)
        self.assertEqual(p.props.get(P.MAXIMUM_PACKET_SIZE), 1000)

    def test_oversize_publish_v5(self):
        t = unique("big")
        sub = self.client(unique("bigs"), version=4)
        sub.subscribe(t, 0)
        r = self.v5()
        r.publish(t, b"x" * 2000)
        self.strict(r, 0x95)
        sub.expect_none(0.3)

    def test_oversize_publish_v311(self):
        t = unique("big4")
        sub = self.client(unique("big4s"), version=4)
        sub.subscribe(t, 0)
        r = self.v4()
        r.publish(t, b"x" * 2000)
        self.closed(r)
        sub.expect_none(0.3)

    def test_just_under_limit_accepted(self):
        t = unique("fits")
        sub = self.client(unique("fitss"), version=4)
        sub.subscribe(t, 0)
        r = self.v5()
        payload = b"y" * 900
        pkt = publish_packet(t, payload, version=5)
        self.assertLessEqual(len(pkt), 1000)
        r.send(pkt)
        self.assertEqual(sub.expect(1)[0].payload, payload)
        self.assertTrue(r.is_open(0.2))


if __name__ == "__main__":
    unittest.main()
