"""Will messages: abnormal close, normal DISCONNECT, v5 reason 0x04, will
delay, cancel by reconnect, retained wills, will properties."""

import time
import unittest

from harness import *


class TestWill(BrokerTestCase):

    def _watcher(self, topic, version=5, qos=1):
        w = self.client(unique("ww"), version=version)
        w.subscribe(topic, qos)
        return w

    def _will_client(self, topic, payload=b"gone", version=5, qos=1, retain=False,
                     props=None, connect_props=None, cid=None):
        c = self.client(cid or unique("wc"), version=version, connect=False)
        c.will_set(topic, payload, qos, retain, props)
        c.connect(properties=connect_props)
        return c

    def test_will_on_socket_close(self):
        for version in (3, 4, 5):
            t = unique("w%d" % version)
            w = self._watcher(t)
            c = self._will_client(t, b"died-v%d" % version, version=version)
            c.drop()
            m = w.expect(1)[0]
            self.assertEqual((m.topic, m.payload, m.qos, m.retain),
                             (t, b"died-v%d" % version, 1, False))

    def test_will_on_protocol_error(self):
        t = unique("wpe")
        w = self._watcher(t)
        r = self.raw()
        r.connect(unique("wpec"), version=4, will={"topic": t, "payload": b"bad", "qos": 0})
        r.send(b"\x30\x00")  # PUBLISH with no topic: malformed
        r.assert_closed()
        self.assertEqual(w.expect(1)[0].payload, b"bad")

    def test_will_on_keepalive_timeout(self):
        t = unique("wka")
        w = self._watcher(t)
        r = self.raw()
        r.connect(unique("wkac"), version=4, keepalive=1,
                  will={"topic": t, "payload": b"timeout", "qos": 1})
        self.assertEqual(w.expect(1, timeout=10)[0].payload, b"timeout")
        r.assert_closed(timeout=2)

    def test_no_will_on_normal_disconnect(self):
        for version in (4, 5):
            t = unique("wn%d" % version)
            w = self._watcher(t)
            c = self._will_client(t, version=version)
            c.disconnect()
            w.expect_none(0.8)

    def test_v5_disconnect_with_will_reason(self):
        t = unique("w04")
        w = self._watcher(t)
        r = self.raw()
        r.connect(unique("w04c"), version=5, will={"topic": t, "payload": b"asked", "qos": 1})
        r.send(disconnect_packet(0x04))
        r.assert_closed()
        m = w.expect(1)[0]
        self.assertEqual((m.topic, m.payload), (t, b"asked"))

    def test_v5_disconnect_reason_0_no_will(self):
        t = unique("w00")
        w = self._watcher(t)
        r = self.raw()
        r.connect(unique("w00c"), version=5, will={"topic": t, "payload": b"no", "qos": 1})
        r.send(disconnect_packet(0x00))
        r.assert_closed()
        w.expect_none(0.8)

    def test_will_delay(self):
        t = unique("wd")
        w = self._watcher(t)
        r = self.raw()
        r.connect(unique("wdc"), version=5, props=[(P.SESSION_EXPIRY, 30)],
                  will={"topic": t, "payload": b"late", "qos": 1,
                        "props": [(P.WILL_DELAY, 2)]})
        r.close()
        t0 = time.monotonic()
        w.expect_none(1.5)
        m = w.expect(1, timeout=4)[0]
        elapsed = time.monotonic() - t0
        self.assertEqual(m.payload, b"late")
        self.assertTrue(1.5 <= elapsed <= 4.5, "will after %.2fs, delay 2 s" % elapsed)

    def test_will_delay_cancelled_by_reconnect(self):
        t = unique("wdr")
        cid = unique("wdrc")
        w = self._watcher(t)
        r = self.raw()
        r.connect(cid, version=5, props=[(P.SESSION_EXPIRY, 30)],
                  will={"topic": t, "payload": b"cancel-me", "qos": 1,
                        "props": [(P.WILL_DELAY, 2)]})
        r.close()
        time.sleep(0.5)
        r2 = self.raw()
        p = r2.connect(cid, version=5, clean=False, props=[(P.SESSION_EXPIRY, 30)])
        self.assertTrue(p.session_present)
        w.expect_none(3.5)
        r2.send(disconnect_packet(0))

    def test_will_delay_capped_by_session_expiry(self):
        """Will is published when the session ends, if that is earlier."""
        t = unique("wds")
        w = self._watcher(t)
        r = self.raw()
        r.connect(unique("wdsc"), version=5, props=[(P.SESSION_EXPIRY, 1)],
                  will={"topic": t, "payload": b"session-end", "qos": 1,
                        "props": [(P.WILL_DELAY, 60)]})
        r.close()
        t0 = time.monotonic()
        m = w.expect(1, timeout=5)[0]
        self.assertEqual(m.payload, b"session-end")
        self.assertLess(time.monotonic() - t0, 5)

    def test_will_retained(self):
        t = unique("wr")
        w = self._watcher(t)
        c = self._will_client(t, b"retained-will", version=4, retain=True)
        c.drop()
        # The will is out (live, RETAIN 0 [MQTT-3.3.1-12]); a subscriber arriving after it
        # gets the retained copy with RETAIN 1.
        self.assertEqual([m.payload for m in w.expect(1)], [b"retained-will"])
        late = self.client(unique("wrl"), version=4)
        late.subscribe(t, 1)
        msgs = late.expect(1)
        self.assertEqual([(m.payload, bool(m.retain)) for m in msgs], [(b"retained-will", True)])
        late.publish(t, b"", 1, retain=True)

    def test_will_qos2(self):
        t = unique("wq2")
        w = self._watcher(t, qos=2)
        c = self._will_client(t, b"q2", version=5, qos=2)
        c.drop()
        m = w.expect(1)[0]
        self.assertEqual((m.payload, m.qos), (b"q2", 2))

    def test_will_properties_passed_through(self):
        t = unique("wp")
        w = self.raw()
        w.connect(unique("wpw"), version=5)
        w.subscribe([(t, 1)])
        r = self.raw()
        r.connect(unique("wpc"), version=5,
                  will={"topic": t, "payload": b"{\"bye\":1}", "qos": 1, "props": [
                      (P.PAYLOAD_FORMAT, 1),
                      (P.MESSAGE_EXPIRY, 120),
                      (P.CONTENT_TYPE, "application/json"),
                      (P.RESPONSE_TOPIC, "resp/" + t),
                      (P.CORRELATION_DATA, b"\x01\x02"),
                      (P.USER_PROPERTY, ("k2", "v2")),
                      (P.USER_PROPERTY, ("k1", "v1")),
                  ]})
        r.close()
        m = w.expect_packet(PUBLISH)
        self.assertEqual((m.topic, m.payload), (t, b"{\"bye\":1}"))
        self.assertEqual(m.props[P.PAYLOAD_FORMAT], 1)
        self.assertEqual(m.props[P.CONTENT_TYPE], "application/json")
        self.assertEqual(m.props[P.RESPONSE_TOPIC], "resp/" + t)
        self.assertEqual(m.props[P.CORRELATION_DATA], b"\x01\x02")
        self.assertEqual(m.props[P.USER_PROPERTY], [("k2", "v2"), ("k1", "v1")])
        self.assertTrue(115 <= m.props[P.MESSAGE_EXPIRY] <= 120)
        self.assertNotIn(P.WILL_DELAY, m.props)

    def test_will_on_takeover(self):
        """A client whose connection is taken over had an abnormal end: will sent."""
        t = unique("wt")
        cid = unique("wtc")
        w = self._watcher(t)
        first = self._will_client(t, b"taken", version=4, cid=cid)
        second = self.client(cid, version=4)
        self.assertEqual(w.expect(1)[0].payload, b"taken")
        first.wait_disconnected()
        second.close()


if __name__ == "__main__":
    unittest.main()
