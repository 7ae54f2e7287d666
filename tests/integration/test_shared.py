"""Shared subscriptions ($share/GROUP/FILTER): distribution within a group,
independence of groups, members leaving."""

import collections
import unittest

from harness import *


class TestShared(BrokerTestCase):

    def _members(self, group, topic, versions=(5, 4, 5), qos=1):
        members = []
        for i, v in enumerate(versions):
            c = self.client(unique("sh%d" % i), version=v)
            self.assertEqual(c.subscribe("$share/%s/%s" % (group, topic), qos), [qos])
            members.append(c)
        return members

    def _publish(self, topic, n, prefix="m", qos=1):
        pub = self.client(unique("shp"), version=5)
        for i in range(n):
            pub.publish(topic, b"%s%d" % (prefix.encode(), i), qos)
        return pub

    def test_round_robin_three_members(self):
        t = unique("rr")
        members = self._members("g", t)
        self._publish(t, 30)
        per_member = [[m.payload for m in c.drain(0.5)] for c in members]
        counts = [len(p) for p in per_member]
        allp = [p for ps in per_member for p in ps]
        self.assertEqual(len(allp), 30, "total deliveries %r" % counts)
        self.assertEqual(len(set(allp)), 30, "duplicates delivered")
        self.assertEqual(set(allp), {b"m%d" % i for i in range(30)})
        self.assertEqual(counts, [10, 10, 10], "round robin with all members connected")

    def test_each_member_keeps_publish_order(self):
        t = unique("rro")
        members = self._members("g", t, versions=(5, 5))
        self._publish(t, 20)
        for c in members:
            seq = [int(m.payload[1:]) for m in c.drain(0.5)]
            self.assertEqual(seq, sorted(seq))
            self.assertGreater(len(seq), 0)

    @starling_only("mosquitto 2.0.11 keeps picking offline persistent members and queues "
                   "half the messages for them; the issue asks for connected members only")
    def test_offline_persistent_member_is_skipped(self):
        """A member whose persistent session is offline is not picked while another member
        is connected: round robin among connected members."""
        t = unique("offl")
        cid = unique("shaway")
        away = self.client(cid, version=4, clean=False)
        away.subscribe("$share/g/" + t, 1)
        stay = self.client(unique("shstay"), version=4)
        stay.subscribe("$share/g/" + t, 1)
        away.disconnect()
        pub = self.client(unique("shpub"), version=4)
        for i in range(10):
            pub.publish(t, b"%d" % i, 1)
        self.assertEqual([m.payload for m in stay.expect(10)], [b"%d" % i for i in range(10)])
        back = self.client(cid, version=4, clean=False)
        back.expect_none(0.5)

    def test_member_that_leaves_stops_receiving(self):
        t = unique("leave")
        members = self._members("g", t)
        leaver = members.pop(1)
        leaver.disconnect()
        self._publish(t, 20)
        per_member = [[m.payload for m in c.drain(0.5)] for c in members]
        allp = [p for ps in per_member for p in ps]
        self.assertEqual(sorted(allp), sorted(b"m%d" % i for i in range(20)))
        self.assertEqual([len(p) for p in per_member], [10, 10])
        leaver.expect_none(0.1)

    def test_unsubscribed_member_stops_receiving(self):
        t = unique("unsh")
        members = self._members("g", t, versions=(5, 4))
        members[0].unsubscribe("$share/g/" + t)
        self._publish(t, 6)
        self.assertEqual(len(members[1].expect(6)), 6)
        members[0].expect_none(0.3)

    def test_two_groups_each_get_every_message(self):
        t = unique("groups")
        ga = self._members("ga", t, versions=(5, 4))
        gb = self._members("gb", t, versions=(4, 5, 5))
        plain = self.client(unique("plain"), version=5)
        plain.subscribe(t, 1)
        self._publish(t, 12)
        for group in (ga, gb):
            got = [m.payload for c in group for m in c.drain(0.4)]
            self.assertEqual(sorted(got), sorted(b"m%d" % i for i in range(12)))
        self.assertEqual([m.payload for m in plain.expect(12)], [b"m%d" % i for i in range(12)])
        plain.expect_none(0.2)

    def test_shared_with_wildcard_filter(self):
        root = unique("shw")
        members = self._members("w", root + "/+/x", versions=(5, 5))
        pub = self.client(unique("shwp"), version=4)
        for i in range(4):
            pub.publish("%s/%d/x" % (root, i), b"%d" % i, 1)
        pub.publish(root + "/a/y", b"nomatch", 1)
        got = sorted(m.payload for c in members for m in c.drain(0.4))
        self.assertEqual(got, [b"0", b"1", b"2", b"3"])

    def test_shared_qos_downgrade(self):
        t = unique("shq")
        members = self._members("q", t, versions=(5,), qos=0)
        self._publish(t, 1, qos=2)
        m = members[0].expect(1)[0]
        self.assertEqual((m.payload, m.qos), (b"m0", 0))

    def test_v5_connack_shared_available(self):
        r = self.raw()
        p = r.connect(unique("sha"), version=5)
        self.assertEqual(p.props.get(P.SHARED_SUB_AVAILABLE, 1), 1)


if __name__ == "__main__":
    unittest.main()
