"""A Starling cluster on loopback behaves as one broker (issue 14; CLUSTER.md §6, §7, §10 [L]):
messages published on any node reach matching subscribers on every node with QoS, retain flag,
v5 properties, no-local and subscription ids as on one node and per-publisher order kept; one
Forward frame per node with matching routes; read-your-subscription; shared groups get each
message once across nodes; QoS 1 forwards survive a link cut with no loss or duplicate; a node
joins under traffic; a node with the wrong secret is refused."""

import collections
import queue
import re
import threading
import time
import unittest

from harness import (TIME_SCALE, PacketTypes, Properties, SubscribeOptions,
                     starling_only, unique, wait_until)
from cluster_util import ClusterTestCase, settled
from services import Postgres, Redis

A, B, C = 0, 1, 2
CONF = ["max_queued_messages 100000"]   # a burst after a reconnect is not a slow consumer
LONG = 30.0 * TIME_SCALE


def ids(msgs):
    return [int(m.payload) for m in msgs]


def collect(clients, total, timeout=LONG, settle=0.5):
    """Messages per client, until `total` have arrived over all of them (or timeout), and
    then whatever else arrives within `settle` s."""
    got = [[] for _ in clients]
    deadline = time.monotonic() + timeout
    while sum(map(len, got)) < total and time.monotonic() < deadline:
        idle = True
        for k, c in enumerate(clients):
            while True:
                try:
                    got[k].append(c.messages.get_nowait())
                    idle = False
                except queue.Empty:
                    break
        if idle:
            time.sleep(0.01)
    for k, c in enumerate(clients):
        got[k] += c.drain(settle)
    return got


def order_report(seq, n):
    """Why seq is not 0..n-1: missing, duplicated and first out-of-order ids."""
    counts = collections.Counter(seq)
    missing = sorted(set(range(n)) - set(counts))
    dups = sorted(i for i, k in counts.items() if k > 1)
    swap = next((k for k in range(1, len(seq)) if seq[k] < seq[k - 1]), None)
    return ("%d received of %d; %d missing (first %r); %d duplicated (first %r); first "
            "out of order at index %r" % (len(seq), n, len(missing), missing[:10], len(dups),
                                          dups[:10], swap))


class Stream(threading.Thread):
    """Publishes count numbered messages (payload prefix + b"%d") to topic at rate msg/s
    (0: as fast as paho takes them). next = how many were handed to paho so far."""

    def __init__(self, c, topic, count, rate=0, qos=1, prefix=b""):
        super().__init__(daemon=True)
        self.c, self.topic, self.count, self.rate = c, topic, count, rate
        self.qos, self.prefix = qos, prefix
        self.mids = []
        self.next = 0
        self.error = None

    def run(self):
        t0 = time.monotonic()
        try:
            for i in range(self.count):
                if self.rate:
                    delay = t0 + i / self.rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                self.mids.append(self.c.publish(self.topic, self.prefix + b"%d" % i, self.qos,
                                                wait=False))
                self.next = i + 1
        except Exception as e:  # reported by finish()
            self.error = e

    def finish(self, timeout=LONG):
        """Waits for the end of the stream and every PUBACK; returns how many were acked."""
        self.join(timeout)
        if self.error is not None:
            raise self.error
        wait_until(lambda: all(self.c.is_published(m) for m in self.mids), timeout)
        return sum(1 for m in self.mids if self.c.is_published(m))


@starling_only("a Starling cluster: mosquitto has none")
class TestCluster(ClusterTestCase):
    """Three nodes n1 (A), n2 (B), n3 (C); the A-B link runs through LinkProxies."""
    NODES = 3
    PROXIED = [(A, B)]
    CONF = CONF

    # -- a. one broker's semantics across nodes ---------------------------------
    def test_wildcards_across_nodes(self):
        root = unique("wc")
        plus = self.client(B, version=5)
        plus.subscribe(root + "/+/x", 1)
        hash_ = self.client(C, version=4)
        hash_.subscribe(root + "/#", 1)
        pub = self.client(A, version=5)
        for topic, payload in [("/a/x", b"1"), ("/a/y", b"2"), ("/a/b/x", b"3"), ("", b"4")]:
            pub.publish(root + topic, payload, 1)
        self.assertEqual([m.payload for m in plus.expect(1)], [b"1"])
        self.assertEqual([(m.topic, m.payload) for m in hash_.expect(4)],
                         [(root + "/a/x", b"1"), (root + "/a/y", b"2"),
                          (root + "/a/b/x", b"3"), (root, b"4")])
        plus.expect_none(0.3)
        hash_.expect_none(0.1)

    def test_qos_is_the_minimum_across_nodes(self):
        """Every publish QoS x subscription QoS, MQTT 3.1.1 and 5 on both sides."""
        t = unique("qos")
        subs = {}
        for sq in (0, 1, 2):
            for node, version in ((B, 4), (C, 5)):
                c = self.client(node, version=version)
                self.assertEqual(c.subscribe(t, sq), [sq])
                subs[(sq, node, version)] = c
        for pv in (4, 5):
            pub = self.client(A, version=pv)
            for pq in (0, 1, 2):
                pub.publish(t, b"v%dq%d" % (pv, pq), pq)
        for (sq, node, version), c in subs.items():
            got = sorted((m.payload, m.qos) for m in c.expect(6))
            want = sorted((b"v%dq%d" % (pv, pq), min(pq, sq)) for pv in (4, 5) for pq in (0, 1, 2))
            self.assertEqual(got, want, "subscriber QoS %d on node %d (v%d)" % (sq, node, version))
            c.expect_none(0.1)

    def test_v5_properties_across_nodes(self):
        t = unique("props")
        sub = self.client(B, version=5)
        sub.subscribe(t, 2)
        old = self.client(C, version=4)
        old.subscribe(t, 1)
        p = Properties(PacketTypes.PUBLISH)
        p.PayloadFormatIndicator = 1
        p.MessageExpiryInterval = 60
        p.ContentType = "application/json; charset=utf-8"
        p.ResponseTopic = t + "/reply"
        p.CorrelationData = b"\x00\x01corr\xff"
        p.UserProperty = [("k1", "v1"), ("k2", "v2"), ("k1", "again"), ("", "empty key")]
        pub = self.client(A, version=5)
        pub.publish(t, b'{"x": 1}', 2, properties=p)
        m = sub.expect(1)[0]
        self.assertEqual((m.payload, m.qos), (b'{"x": 1}', 2))
        q = m.properties
        self.assertEqual(q.PayloadFormatIndicator, 1)
        self.assertEqual(q.ContentType, "application/json; charset=utf-8")
        self.assertEqual(q.ResponseTopic, t + "/reply")
        self.assertEqual(q.CorrelationData, b"\x00\x01corr\xff")
        self.assertEqual(q.UserProperty, [("k1", "v1"), ("k2", "v2"), ("k1", "again"),
                                          ("", "empty key")])
        # [MQTT-3.3.2-6] the expiry sent on is what is left of it
        self.assertTrue(55 <= q.MessageExpiryInterval <= 60, q.MessageExpiryInterval)
        self.assertEqual(old.expect(1)[0].payload, b'{"x": 1}')

    def test_retain_as_published_across_nodes(self):
        t = unique("rap")
        rap = self.client(B, version=5)
        rap.subscribe(t, options=SubscribeOptions(qos=1, retainAsPublished=True))
        plain = self.client(C, version=5)
        plain.subscribe(t, options=SubscribeOptions(qos=1, retainAsPublished=False))
        v4 = self.client(B, version=4)
        v4.subscribe(t, 1)
        pub = self.client(A, version=5)
        pub.publish(t, b"kept", 1, retain=True)
        pub.publish(t, b"live", 1, retain=False)
        self.assertEqual([(m.payload, m.retain) for m in rap.expect(2)],
                         [(b"kept", True), (b"live", False)])
        # [MQTT-3.3.1-12] without Retain As Published, and [MQTT-3.3.1-9] for 3.1.1
        self.assertEqual([(m.payload, m.retain) for m in plain.expect(2)],
                         [(b"kept", False), (b"live", False)])
        self.assertEqual([(m.payload, m.retain) for m in v4.expect(2)],
                         [(b"kept", False), (b"live", False)])
        for c in (rap, plain, v4):
            c.close()
        pub.publish(t, b"", 1, retain=True)

    def test_per_publisher_order_1000_qos1(self):
        t = unique("order")
        sub = self.client(B, version=4)
        sub.subscribe(t, 1)
        far = self.client(C, version=5)
        far.subscribe(t, 1)
        pub = self.client(A, version=5, max_inflight=100)
        s = Stream(pub, t, 1000)
        s.start()
        self.assertEqual(s.finish(), 1000)
        for c in (sub, far):
            got = ids(c.expect(1000, timeout=LONG))
            self.assertEqual(got, list(range(1000)), order_report(got, 1000))
            c.expect_none(0.2)

    def test_subscription_ids_as_on_one_node(self):
        """Two overlapping subscriptions with ids 7 and 8 on B: a publish on A is delivered as
        a publish on B itself is (one message with both ids or one per subscription)."""
        root = unique("sid")
        sub = self.client(B, version=5)
        for f, sid in ((root + "/+", 7), (root + "/#", 8)):
            p = Properties(PacketTypes.SUBSCRIBE)
            p.SubscriptionIdentifier = sid
            sub.subscribe(f, 1, properties=p)

        def deliveries(pub, topic):
            pub.publish(topic, b"x", 1)
            got = sub.expect(1) + sub.drain(0.4)
            return sorted(sorted(getattr(m.properties, "SubscriptionIdentifier", []))
                          for m in got)

        local = self.client(B, version=5)
        remote = self.client(A, version=5)
        for topic in (root + "/a", root + "/a/b"):
            self.assertEqual(deliveries(remote, topic), deliveries(local, topic), topic)
        self.assertEqual(deliveries(remote, root + "/a/b"), [[8]])

    # -- b. no-local --------------------------------------------------------------
    def test_no_local_across_nodes(self):
        t = unique("nl")
        nl = self.client(B, version=5)
        nl.subscribe(t, options=SubscribeOptions(qos=1, noLocal=True))
        on_a = self.client(A, version=5)
        on_a.subscribe(t, 1)
        on_c = self.client(C, version=4)
        on_c.subscribe(t, 1)
        self.client(A, version=5).publish(t, b"from A", 1)
        self.assertEqual(nl.expect(1)[0].payload, b"from A")
        nl.publish(t, b"from nl", 1)
        self.assertEqual([m.payload for m in on_a.expect(2)], [b"from A", b"from nl"])
        self.assertEqual([m.payload for m in on_c.expect(2)], [b"from A", b"from nl"])
        nl.expect_none(0.5)

    # -- c. one Forward per node ------------------------------------------------
    def test_one_forward_per_node_with_routes(self):
        """5 subscribers on B and 3 on C, through three different matching filters: 100
        messages published on A make 200 Forward frames."""
        root = unique("fwd")
        t = root + "/x"
        subs = ([self.client(B, version=4) for _ in range(5)] +
                [self.client(C, version=5) for _ in range(3)])
        for s, f in zip(subs, [t, root + "/+", root + "/#", t, t, t, root + "/#", root + "/+"]):
            s.subscribe(f, 1)
        cl = self.cluster
        keys = [(cl.sys(A), "forwards/out"), (cl.sys(B), "forwards/in"),
                (cl.sys(C), "forwards/in")]
        before = settled(keys)
        pub = self.client(A, version=4, max_inflight=100)
        s = Stream(pub, t, 100)
        s.start()
        self.assertEqual(s.finish(), 100)
        for k, c in enumerate(subs):
            got = ids(c.expect(100, timeout=LONG))
            self.assertEqual(got, list(range(100)), "subscriber %d: %s"
                             % (k, order_report(got, 100)))
        cl.sys(A).wait(lambda v: v.get("forwards/out", 0) >= before[0] + 200)
        after = settled(keys)
        self.assertEqual([a - b for a, b in zip(after, before)], [200, 100, 100],
                         "Forward frames out of A, into B, into C for 100 messages")

    def test_unsubscribe_withdraws_the_route(self):
        """Once B's only subscriber to t unsubscribes (or leaves), A stops forwarding t."""
        cl = self.cluster
        t = unique("wd")
        sub = self.client(B, version=5)
        sub.subscribe(t, 1)
        other = self.client(B, version=4)
        other.subscribe(t + "/#", 1)
        routes = cl.sys(A).settled("routes/remote")
        sub.unsubscribe(t)
        other.disconnect()
        self.assertTrue(cl.sys(A).wait(lambda v: v.get("routes/remote") == routes - 2),
                        "A still holds B's routes: %s" % cl.state())
        out0 = cl.sys(A).settled("forwards/out")
        pub = self.client(A, version=4)
        for i in range(10):
            pub.publish(t, b"%d" % i, 1)
        self.assertEqual(cl.sys(A).settled("forwards/out"), out0, "forwarded without a route")
        sub.expect_none(0.1)

    def test_will_published_on_another_node(self):
        t = unique("will")
        sub = self.client(B, version=5)
        sub.subscribe(t, 1)
        dying = self.client(A, version=5, will=dict(topic=t, payload=b"gone", qos=1))
        dying.drop()
        m = sub.expect(1)[0]
        self.assertEqual((m.payload, m.qos), (b"gone", 1))

    def test_message_expiry_on_the_receiving_node(self):
        """A message for an offline session on B expires there as on one broker."""
        t = unique("exp")
        cid = unique("expsub")
        sp = Properties(PacketTypes.CONNECT)
        sp.SessionExpiryInterval = 60
        sub = self.client(B, cid, version=5, clean=False, properties=sp)
        sub.subscribe(t, 1)
        sub.disconnect()
        p = Properties(PacketTypes.PUBLISH)
        p.MessageExpiryInterval = 1
        pub = self.client(A, version=5)
        pub.publish(t, b"short", 1, properties=p)
        pub.publish(t, b"long", 1)
        time.sleep(2.2)
        back = self.client(B, cid, version=5, clean=False, properties=sp)
        self.assertEqual([m.payload for m in back.expect(1)], [b"long"])
        back.expect_none(0.3)
        back.disconnect()
        self.client(B, cid, version=5, clean=True).disconnect()   # the session ends

    # -- d. shared subscriptions --------------------------------------------------
    def test_shared_group_once_across_nodes(self):
        """Members on all three nodes (local_first: each publisher's node has one)."""
        self._shared_once([A, B, C, C])

    def test_shared_group_once_picked_on_other_nodes(self):
        """No member on A: every message published there is picked on B or C."""
        got = self._shared_once([B, C, C])
        self.assertGreater(sum(len(g) for g in got[1:]), 0, "no message picked on C")

    def _shared_once(self, nodes):
        t = unique("sh")
        members = [self.client(n, version=4 + k % 2) for k, n in enumerate(nodes)]
        for m in members:
            self.assertEqual(m.subscribe("$share/g/" + t, 1), [1])
        plain = self.client(B, version=5)   # a non-shared subscriber gets everything
        plain.subscribe(t, 1)
        streams = [Stream(self.client(A, version=4, max_inflight=100), t, 1000, prefix=b"A"),
                   Stream(self.client(B, version=5, max_inflight=100), t, 1000, prefix=b"B")]
        for s in streams:
            s.start()
        for s in streams:
            self.assertEqual(s.finish(), 1000)
        got = collect(members, 2000, settle=1.0)
        counts = collections.Counter(m.payload for g in got for m in g)
        want = {p + b"%d" % i for p in (b"A", b"B") for i in range(1000)}
        missing = want - set(counts)
        dups = {p: k for p, k in counts.items() if k > 1}
        print("\nshared across nodes: per member on %s: %r"
              % ([self.cluster[n].name for n in nodes], [len(g) for g in got]))
        self.assertFalse(missing, "%d messages reached no member (first %r)"
                         % (len(missing), sorted(missing)[:5]))
        self.assertFalse(dups, "%d messages reached several members (%r)"
                         % (len(dups), sorted(dups.items())[:5]))
        self.assertEqual(sum(counts.values()), 2000)
        for g in got:   # each member sees each publisher's messages in order
            for p in (b"A", b"B"):
                seq = [int(m.payload[1:]) for m in g if m.payload[:1] == p]
                self.assertEqual(seq, sorted(seq))
        self.assertEqual(len(collect([plain], 2000)[0]), 2000)
        return got

    # -- e. read-your-subscription --------------------------------------------------
    def test_subscribe_then_publish_elsewhere_1000_times(self):
        """After SUBACK on B, a publish accepted on A matches the new subscription."""
        root = unique("ryw")
        sub = self.client(B, version=4)
        pub = self.client(A, version=4, max_inflight=1000)
        for i in range(1000):
            sub.subscribe("%s/%d" % (root, i), 1)
            pub.publish("%s/%d" % (root, i), b"%d" % i, 1, wait=False)
        got = ids(collect([sub], 1000)[0])
        missing = sorted(set(range(1000)) - set(got))
        self.assertFalse(missing, "%d of 1000 publishes right after a SUBACK on another node "
                         "missed the subscription (first %r)" % (len(missing), missing[:10]))
        self.assertEqual(len(got), 1000, "duplicates")

    # -- f. a link cut under QoS 1 and 2 traffic ----------------------------------------
    def test_link_cut_and_restored_under_qos1(self):
        cl = self.cluster
        t = unique("cut")
        sub = self.client(B, version=4)
        sub.subscribe(t, 1)
        self.assertGreater(cl.proxied_connections(A, B), 0, "the A-B link bypasses the proxies")
        links0 = cl.proxied_connections(A, B)
        t2 = unique("cut2")
        sub2 = self.client(B, version=5)
        sub2.subscribe(t2, 2)
        pub = self.client(A, version=4, max_inflight=1000)
        s = Stream(pub, t, 5000, rate=1000)
        s2 = Stream(self.client(A, version=5, max_inflight=100), t2, 500, rate=100, qos=2)
        s.start()
        s2.start()
        self.assertTrue(wait_until(lambda: s.next >= 1000, LONG))
        cl.cut(A, B)
        t_cut = time.monotonic()
        cut_s = 3.0 * TIME_SCALE
        seen_down = cl.sys(A).wait(lambda v: v.get("peers/reachable") == 1, cut_s - 0.1)
        late = self.client(B, version=5)    # a route A can learn only after the cut
        late.subscribe(t + "/late", 1)
        time.sleep(max(0.0, cut_s - (time.monotonic() - t_cut)))
        cl.restore(A, B)
        acked, acked2 = s.finish(LONG), s2.finish(LONG)
        got = ids(collect([sub], 5000, timeout=LONG, settle=1.0)[0])
        got2 = ids(collect([sub2], 500, timeout=LONG)[0])
        print("\nlink cut: QoS 1 %d published, %d acked, %d received; QoS 2 %d/%d/%d; A's "
              "forward/resent=%r forward/dropped=%r"
              % (s.next, acked, len(got), s2.next, acked2, len(got2),
                 cl.sys(A).get("forward/resent"), cl.sys(A).get("forward/dropped")))
        self.assertTrue(seen_down, "A never saw B unreachable while the link was cut")
        self.assertEqual((acked, acked2), (5000, 500))
        self.assertEqual(got, list(range(5000)), "QoS 1: " + order_report(got, 5000))
        self.assertEqual(got2, list(range(500)), "QoS 2: " + order_report(got2, 500))
        cl.wait_ready()
        self.client(A, version=4).publish(t + "/late", b"after the cut", 1)
        self.assertEqual(late.expect(1)[0].payload, b"after the cut",
                         "a subscription made on B during the cut is unknown to A after it")
        self.assertGreater(cl.proxied_connections(A, B), links0, "no new link after restore")

    def test_link_silent_then_restored_under_qos1(self):
        """The A-B link drops every byte (no reset) for longer than cluster_unreachable_after:
        what A sent into the silence is resent after the reconnect, nothing lost or doubled."""
        cl = self.cluster
        t = unique("silent")
        sub = self.client(B, version=5)
        sub.subscribe(t, 1)
        resent0 = cl.sys(A).settled("forward/resent")
        s = Stream(self.client(A, version=5, max_inflight=1000), t, 4000, rate=1000)
        s.start()
        self.assertTrue(wait_until(lambda: s.next >= 500, LONG))
        cl.blackhole(A, B)
        seen_down = cl.sys(A).wait(lambda v: v.get("peers/reachable") == 1, 5.0 * TIME_SCALE)
        cl.restore(A, B)
        acked = s.finish(LONG)
        got = ids(collect([sub], 4000, timeout=LONG, settle=1.0)[0])
        resent = cl.sys(A).settled("forward/resent") - resent0
        print("\nsilent link: %d published, %d acked, %d received; A resent %d"
              % (s.next, acked, len(got), resent))
        self.assertTrue(seen_down, "A never counted B unreachable in a silence of 5 s")
        self.assertEqual(acked, 4000)
        self.assertEqual(got, list(range(4000)), order_report(got, 4000))
        self.assertGreater(resent, 0, "nothing sent into the silence was resent")
        cl.wait_ready()

    # -- i. wrong secret --------------------------------------------------------------
    def test_wrong_secret_is_refused(self):
        cl = self.cluster
        x = cl.outsider(secret="not-the-secret")
        try:
            failed = wait_until(lambda: any((cl.sys(n).get("auth/failed") or 0) > 0
                                            for n in (A, B, C)), LONG)
            self.assertTrue(failed, "no good node counted an authentication failure: %s"
                            % cl.state())
            self.assertEqual(x.sys().fresh("peers/reachable"), 0)
            for n in (A, B, C):
                self.assertEqual(cl.sys(n).fresh("peers/reachable"), 2, cl[n].name)
            logs = x.logs() + "".join(cl[n].logs() for n in (A, B, C))
            self.assertRegex(logs, re.compile(r"auth\w*.{0,40}fail|fail\w*.{0,40}auth", re.I),
                             "no log line mentions the authentication failure")
            t = unique("bad")
            on_x = self.client(x, version=5)
            on_x.subscribe(t, 1)
            on_a = self.client(A, version=5)
            on_a.subscribe(t, 1)
            self.client(B, version=5).publish(t, b"good", 1)
            self.assertEqual(on_a.expect(1)[0].payload, b"good")
            self.client(x, version=5).publish(t, b"bad", 1)
            self.assertEqual(on_x.expect(1)[0].payload, b"bad")
            on_x.expect_none(0.5)
            on_a.expect_none(0.5)
        finally:
            cl.outsiders.remove(x)
            x._drop_watch()
            x.cleanup()


@starling_only("a Starling cluster: mosquitto has none")
class TestClusterMembership(ClusterTestCase):
    """Tests that stop, start or add nodes: a cluster of their own each."""
    NODES = 0

    def test_shared_group_member_node_stopped_mid_stream(self):
        """round_robin: C's member gets its share until C stops."""
        cl = self.new_cluster(3, conf=CONF + ["cluster_shared_policy round_robin"])
        t = unique("shs")
        members = [self.client(cl[A], version=5), self.client(cl[B], version=4),
                   self.client(cl[C], version=5)]
        for m in members:
            m.subscribe("$share/g/" + t, 1)
        streams = [Stream(self.client(cl[A], version=4, max_inflight=100), t, 1000, rate=500,
                          prefix=b"A"),
                   Stream(self.client(cl[B], version=5, max_inflight=100), t, 1000, rate=500,
                          prefix=b"B")]
        for s in streams:
            s.start()
        self.assertTrue(wait_until(lambda: streams[0].next >= 400, LONG))
        self.assertEqual(cl.stop(C), 0, "n3's exit code after SIGTERM")
        for s in streams:
            self.assertEqual(s.finish(), 1000)
        got = collect(members, 2000, settle=1.0)
        counts = collections.Counter(m.payload for g in got for m in g)
        want = {p + b"%d" % i for p in (b"A", b"B") for i in range(1000)}
        missing = want - set(counts)
        dups = sum(k - 1 for k in counts.values() if k > 1)
        print("\nshared, member node stopped: per member %r, %d duplicates, %d missing"
              % ([len(g) for g in got], dups, len(missing)))
        self.assertFalse(missing, "%d acknowledged messages reached no member (first %r)"
                         % (len(missing), sorted(missing)[:5]))
        self.assertGreater(len(got[2]), 0, "C's member got nothing before C stopped")

    def test_shared_round_robin_takes_every_node_in_turn(self):
        """cluster_shared_policy round_robin: "every node holding the group in turn, this one
        included" (cluster.h): members on all three nodes, 600 messages from each of A and B,
        each node's member gets a third of each publisher's messages, give or take."""
        cl = self.new_cluster(3, conf=CONF + ["cluster_shared_policy round_robin"])
        t = unique("shrr")
        members = [self.client(cl[n], version=5) for n in (A, B, C)]
        for m in members:
            m.subscribe("$share/g/" + t, 1)
        streams = [Stream(self.client(cl[n], version=4, max_inflight=100), t, 600, prefix=p)
                   for n, p in ((A, b"A"), (B, b"B"))]
        for s in streams:
            s.start()
        for s in streams:
            self.assertEqual(s.finish(), 600)
        got = collect(members, 1200)
        share = [[sum(1 for m in g if m.payload[:1] == p) for g in got] for p in (b"A", b"B")]
        print("\nround robin: messages of A per member on n1..n3 %r, of B %r" % tuple(share))
        self.assertEqual(sorted(m.payload for g in got for m in g),
                         sorted(p + b"%d" % i for p in (b"A", b"B") for i in range(600)))
        for p, per_member in zip("AB", share):
            for node, k in zip((A, B, C), per_member):
                self.assertTrue(100 <= k <= 300, "%s's messages: %d of 600 to the member on %s "
                                "(per member %r)" % (p, k, cl[node].name, per_member))

    def test_node_joins_under_traffic(self):
        cl = self.new_cluster(3, conf=CONF, start=[A, B])
        t = unique("join")
        on_b = self.client(cl[B], version=4)
        on_b.subscribe(t, 1)
        s = Stream(self.client(cl[A], version=5, max_inflight=100), t, 3000, rate=300)
        s.start()
        self.assertTrue(wait_until(lambda: s.next >= 300, LONG))
        cl.start_node(C)
        cl.wait_ready()
        on_c = self.client(cl[C], version=5)
        on_c.subscribe(t, 1)
        first = s.next      # handed to paho after the SUBACK
        self.assertLess(first, 2500, "the join took most of the stream")
        self.assertEqual(s.finish(), 3000)
        got_b = ids(collect([on_b], 3000)[0])
        self.assertEqual(got_b, list(range(3000)), "A->B: " + order_report(got_b, 3000))
        got_c = ids(collect([on_c], 3000 - first)[0])
        self.assertEqual(got_c, sorted(set(got_c)), "C: order or duplicates")
        missing = sorted(set(range(first, 3000)) - set(got_c))
        self.assertFalse(missing, "C missed %d published after its SUBACK (first %r)"
                         % (len(missing), missing[:10]))

    def test_node_killed_and_restarted(self):
        """kill -9 of C does not disturb A->B; C restarted rejoins and routes both ways."""
        cl = self.new_cluster(3, conf=CONF)
        t = unique("kill")
        on_b = self.client(cl[B], version=4)
        on_b.subscribe(t, 1)
        old_c = self.client(cl[C], version=5)
        old_c.subscribe(t, 1)
        s = Stream(self.client(cl[A], version=5, max_inflight=100), t, 2000, rate=400)
        s.start()
        self.assertTrue(wait_until(lambda: s.next >= 400, LONG))
        cl.kill9(C)
        self.assertTrue(cl.sys(A).wait(lambda v: v.get("peers/reachable") == 1),
                        "A still counts C reachable: %s" % cl.state())
        cl.start_node(C)
        cl.wait_ready()
        on_c = self.client(cl[C], version=5)
        on_c.subscribe(t, 1)
        first = s.next
        self.assertEqual(s.finish(), 2000)
        got_b = ids(collect([on_b], 2000)[0])
        self.assertEqual(got_b, list(range(2000)), "A->B: " + order_report(got_b, 2000))
        got_c = ids(collect([on_c], 2000 - first)[0])
        missing = sorted(set(range(first, 2000)) - set(got_c))
        self.assertFalse(missing, "restarted C missed %d published after its SUBACK (first %r)"
                         % (len(missing), missing[:10]))
        back = unique("back")
        on_a = self.client(cl[A], version=4)
        on_a.subscribe(back, 1)
        self.client(cl[C], version=4).publish(back, b"from the restarted node", 1)
        self.assertEqual(on_a.expect(1)[0].payload, b"from the restarted node")

    def test_five_nodes_each_to_every_other(self):
        cl = self.new_cluster(5, conf=CONF)
        root = unique("five")
        subs = [self.client(cl[i], version=4 + i % 2) for i in range(5)]
        for c in subs:
            c.subscribe(root + "/#", 1)
        for i in range(5):
            self.client(cl[i], version=5 - i % 2).publish("%s/%d" % (root, i), b"%d" % i, 1)
        for j, c in enumerate(subs):
            got = sorted(m.payload for m in c.expect(5))
            self.assertEqual(got, [b"%d" % i for i in range(5)], "subscriber on n%d" % (j + 1))
            c.expect_none(0.2)


@starling_only("a Starling cluster, with PostgreSQL and Redis stores")
class TestClusterWithServers(ClusterTestCase):
    """Three nodes sharing a real PostgreSQL (sessions, rows per node) and Redis (retained
    messages), as deployed: retained messages are consistent through Redis and never travel
    as Forwards; a persistent session fed from another node survives its client's absence."""
    NODES = 3

    @classmethod
    def setUpClass(cls):
        cls.pg = Postgres().start()
        cls.rd = Redis().start()
        cls.CONF = CONF + ["persistence true", "persistence_location data",
                           "session_store postgres", "postgres_dsn %s" % cls.pg.dsn,
                           "retained_store redis", "redis_url %s" % cls.rd.url]
        try:
            super().setUpClass()
        except BaseException:
            cls.pg.cleanup()
            cls.rd.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.pg.cleanup()
            cls.rd.cleanup()

    def retained(self, node, topic):
        c = self.client(node, version=5)
        c.subscribe(topic, 1)
        got = [m.payload for m in c.drain(0.3)]
        c.close()
        return got

    def test_retained_set_on_one_node_is_served_by_every_node(self):
        t = unique("ret")
        live = self.client(C, version=5)
        live.subscribe(t, 1)
        self.client(A, version=5).publish(t, b"kept", 1, retain=True)
        # The subscriber already there gets it once, as a Forward (not again through Redis).
        self.assertEqual([m.payload for m in live.expect(1)], [b"kept"])
        live.expect_none(0.5)
        for node in (B, C):
            self.assertTrue(wait_until(lambda: self.retained(node, t) == [b"kept"],
                                       timeout=5 * TIME_SCALE),
                            "a new subscriber on n%d did not get the retained message" % (node + 1))
        self.client(B, version=4).publish(t, b"", 1, retain=True)   # cleared on another node
        self.assertEqual([m.payload for m in live.expect(1)], [b""])
        for node in (A, C):
            self.assertTrue(wait_until(lambda: self.retained(node, t) == [],
                                       timeout=5 * TIME_SCALE),
                            "n%d still serves a cleared retained message" % (node + 1))

    def test_offline_persistent_session_fed_from_another_node(self):
        t = unique("offline")
        cid = unique("sess")
        s = self.client(B, cid, version=4, clean=False)
        s.subscribe(t, 1)
        s.close()
        pub = self.client(A, version=5)
        for i in range(200):
            pub.publish(t, b"%d" % i, 1)
        s = self.client(B, cid, version=4, clean=False)
        got = ids(s.expect(200, timeout=LONG))
        self.assertEqual(got, list(range(200)), order_report(got, 200))
        s.expect_none(0.3)


if __name__ == "__main__":
    unittest.main()
