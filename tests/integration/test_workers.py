"""Several worker loops: sessions spread over loops by client id, connections handed to the
loop that owns their id, messages crossing loops in order, shared groups picked once."""
import os
import unittest

from harness import *


@unittest.skipIf(os.environ.get("BROKER") == "mosquitto",
                 "worker_threads is a Starling key: mosquitto refuses to start with it")
class TestWorkers(OwnBrokerTestCase):
    def test_cross_worker_delivery_in_order(self):
        b = self.broker(["worker_threads 4"])
        t = unique("wk")
        subs = [self.client(b, unique("wsub%d" % i), version=4) for i in range(12)]
        for s in subs:
            s.subscribe(t + "/#", 1)
        pub = self.client(b, unique("wpub"), version=5)
        for i in range(100):
            pub.publish(t + "/x", b"%d" % i, 1)
        want = [b"%d" % i for i in range(100)]
        for s in subs:
            self.assertEqual([m.payload for m in s.expect(100)], want)

    def test_shared_group_once_per_message_across_workers(self):
        b = self.broker(["worker_threads 4"])
        t = unique("wsh")
        members = [self.client(b, unique("wm%d" % i), version=5) for i in range(4)]
        for m in members:
            m.subscribe("$share/g/" + t, 1)
        pub = self.client(b, unique("wsp"), version=4)
        for i in range(40):
            pub.publish(t, b"%d" % i, 1)
        got = []
        for m in members:
            mine = [x.payload for x in m.expect(10)]
            m.expect_none(0.3)
            got += mine
        self.assertEqual(sorted(got), sorted(b"%d" % i for i in range(40)))

    def test_takeover_and_resume_across_workers(self):
        """Reconnecting with the same id always reaches the session, whichever loop the
        kernel hands the new connection to."""
        b = self.broker(["worker_threads 4"])
        t = unique("wres")
        cid = unique("wpers")
        c = self.client(b, cid, version=4, clean=False)
        c.subscribe(t, 1)
        c.disconnect()
        pub = self.client(b, unique("wrp"), version=4)
        for i in range(5):
            pub.publish(t, b"q%d" % i, 1)
        for attempt in range(3):
            c = self.client(b, cid, version=4, clean=False)
            self.assertTrue(c.session_present)
            if attempt == 0:
                self.assertEqual([m.payload for m in c.expect(5)],
                                 [b"q%d" % i for i in range(5)])
            c.disconnect()


if __name__ == "__main__":
    unittest.main()
