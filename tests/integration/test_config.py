"""Configuration file and command line: a typical mosquitto.conf, limits,
-p, config errors, signals."""

import os
import signal
import socket
import threading
import time
import unittest

from harness import *

TYPICAL = [
    "# a typical small mosquitto.conf",
    "",
    "max_connections 10",
    "max_keepalive 30",
    "max_inflight_messages 5",
    "persistence false",
    "log_dest stderr",
    "log_type all",
]


class TestTypicalConfig(OwnBrokerTestCase):

    def setUp(self):
        super().setUp()
        self.b = self.broker(TYPICAL)

    def test_starts_and_serves(self):
        c = self.client(self.b, unique("tc"), version=4)
        t = unique("tct")
        c.subscribe(t, 1)
        c.publish(t, b"ok", 1)
        self.assertEqual(c.expect(1)[0].payload, b"ok")

    def test_max_keepalive_announced_to_v5(self):
        r = self.raw(self.b.port)
        p = r.connect(unique("mk"), version=5, keepalive=120)
        self.assertEqual(p.props.get(P.SERVER_KEEP_ALIVE), 30)
        r2 = self.raw(self.b.port)
        p = r2.connect(unique("mk0"), version=5, keepalive=10)
        self.assertEqual(p.props.get(P.SERVER_KEEP_ALIVE, 10), 10)

    def test_max_inflight_is_receive_maximum(self):
        r = self.raw(self.b.port)
        p = r.connect(unique("rm"), version=5)
        self.assertEqual(p.props.get(P.RECEIVE_MAXIMUM), 5)

    def test_max_inflight_limits_unacked_deliveries(self):
        t = unique("inf")
        s = self.raw(self.b.port)
        s.connect(unique("infs"), version=5)
        s.subscribe([(t, 1)])
        pub = self.client(self.b, unique("infp"), version=4)
        for i in range(10):
            pub.publish(t, b"%d" % i, 1)
        got = []
        try:
            while True:
                got.append(s.read_packet(0.6))
        except (OSError, ConnectionError):
            pass
        self.assertEqual([p.payload for p in got], [b"0", b"1", b"2", b"3", b"4"])
        s.send(puback_packet(got[0].packet_id))
        nxt = s.expect_packet(PUBLISH)
        self.assertEqual(nxt.payload, b"5")

    def test_logs_to_stderr(self):
        self.client(self.b, "logged-client-id", version=4).close()
        found = wait_until(lambda: "logged-client-id" in self.b.logs(), timeout=3)
        self.assertTrue(found, "client id not in broker log (log_type all)")


class TestLimitsAndCommandLine(OwnBrokerTestCase):

    def _connect_retry(self, port, cid, tries=20):
        """A just-closed probe connection may still count briefly."""
        for _ in range(tries):
            r = RawClient(port)
            try:
                r.connect(cid, version=5)
                self._closers.append(r)
                return r
            except (ConnectionError, AssertionError, OSError):
                r.close()
                time.sleep(0.1)
        self.fail("could not connect %s" % cid)

    @starling_only("mosquitto 2.0.11 miscounts max_connections: each connection "
                   "closed before CONNECT (e.g. the harness's port probe) frees a "
                   "second slot, so a 4th client gets in (fixed in mosquitto 2.0.12)")
    def test_max_connections(self):
        b = self.broker(["max_connections 3"])
        conns = [self._connect_retry(b.port, unique("mc%d" % i)) for i in range(3)]
        r = self.raw(b.port)
        try:
            r.send(connect_packet(unique("mc4"), version=5))
            packets = r.assert_closed(allow=(CONNACK,))
        except (ConnectionError, OSError):
            packets = []
        for p in packets:
            self.assertGreaterEqual(p.rc, 0x80, "4th connection must not be accepted")
        # the three are unaffected
        for c in conns:
            c.send(pingreq_packet())
            self.assertEqual(c.read_packet().type, PINGRESP)
        # a freed slot can be reused
        conns[0].send(disconnect_packet())
        conns[0].assert_closed()
        self._connect_retry(b.port, unique("mc5"))

    def test_port_on_command_line(self):
        port = free_port()
        b = self.broker([], listener=False, allow_anonymous=None,
                        args=["-p", str(port)], port=port)
        r = self.raw(port)
        self.assertEqual(r.connect(unique("cli"), version=4).rc, 0)

    def test_two_listeners(self):
        p2 = free_port()
        b = self.broker(["listener %d 127.0.0.1" % p2])
        t = unique("two")
        s = self.client(b.port, unique("l1"), version=4)
        s.subscribe(t, 1)
        p = self.client(p2, unique("l2"), version=5)
        p.publish(t, b"across", 1)
        self.assertEqual(s.expect(1)[0].payload, b"across")

    def test_allow_anonymous_false_without_passwords(self):
        b = self.broker([], allow_anonymous=False)
        r = self.raw(b.port)
        self.assertEqual(r.connect(unique("an5"), version=5, expect_rc=None).rc, 0x87)
        r.assert_closed()
        r = self.raw(b.port)
        self.assertEqual(r.connect(unique("an4"), version=4, expect_rc=None).rc, 5)
        r.assert_closed()


class TestConfigErrors(OwnBrokerTestCase):

    def _bad(self, lines, bad_line_no):
        b = self.broker(lines, start=False)
        b.spawn()
        rc = b.wait_exit(10)
        self.assertIsNotNone(rc, "broker kept running with a bad config")
        log = b.logs()
        self.assertNotEqual(rc, 0)
        self.assertIn("%s:%d" % (b.conf_path, bad_line_no), log)
        return rc

    @starling_only("mosquitto refuses to start on an unknown option; Starling warns "
                   "(file:line) and runs, so existing configs with stray keys keep working")
    def test_unknown_option_warned(self):
        # line 1 listener, 2 allow_anonymous, 3 the unknown one
        b = self.broker(["no_such_option 5"])
        self.assertIn("%s:3" % b.conf_path, b.logs())
        self.assertIn("no_such_option", b.logs())
        r = self.raw(b.port)
        self.assertEqual(r.connect(unique("unk"), version=4).rc, 0)

    def test_invalid_value(self):
        self._bad(["max_keepalive abc"], 3)

    def test_invalid_persistence_value(self):
        self._bad(["log_dest stderr", "persistence maybe"], 4)

    def test_missing_config_file(self):
        b = self.broker([], start=False)
        os.unlink(b.conf_path)
        b.spawn()
        rc = b.wait_exit(10)
        self.assertIsNotNone(rc)
        self.assertNotEqual(rc, 0)

    @starling_only("mosquitto 2.0.11 exits with 3 (MOSQ_ERR_INVAL) on config "
                   "errors; Starling's contract is exit code 1")
    def test_bad_config_exit_code_is_1(self):
        self.assertEqual(self._bad(["max_keepalive abc"], 3), 1)

    @starling_only("mosquitto 2.0.11 parses max_inflight_messages with atoi and "
                   "silently accepts 'abc' as 0")
    def test_non_numeric_max_inflight_rejected(self):
        self.assertEqual(self._bad(["max_inflight_messages abc"], 3), 1)

    @starling_only("cluster_* keys are Starling's (issue 14)")
    def test_cluster_node_without_secret_or_id_refused(self):
        # A key that makes the broker a cluster node (line 3) needs cluster_node_id and
        # cluster_secret: the error names the line and what is missing, exit code 1.
        port = free_port()
        b = self.broker(["cluster_bind 127.0.0.1:%d" % port], start=False)
        b.spawn()
        self.assertEqual(b.wait_exit(10), 1)
        self.assertIn("%s:3: cluster_bind makes this broker a cluster node, which needs "
                      "cluster_node_id and cluster_secret" % b.conf_path, b.logs())
        b = self.broker(["cluster_node_id n1", "cluster_listen 127.0.0.1:%d" % port],
                        start=False)
        b.spawn()
        self.assertEqual(b.wait_exit(10), 1)
        self.assertIn("%s:4: cluster_listen makes this broker a cluster node, which needs "
                      "cluster_secret" % b.conf_path, b.logs())
        b = self.broker(["cluster_secret s", "cluster_peers 127.0.0.1:%d" % port],
                        start=False)
        b.spawn()
        self.assertEqual(b.wait_exit(10), 1)
        self.assertIn("%s:4: cluster_peers makes this broker a cluster node, which needs "
                      "cluster_node_id" % b.conf_path, b.logs())

    @starling_only("cluster_* keys are Starling's (issue 14)")
    def test_cluster_bad_discovery_refused(self):
        self.assertEqual(self._bad(["cluster_node_id n1", "cluster_secret s",
                                    "cluster_discovery srv starling"], 5), 1)

    @starling_only("cluster_* keys are Starling's (issue 14)")
    def test_cluster_keys_without_a_bind_are_a_single_node(self):
        # cluster_name, cluster_secret and the timings alone do not make a cluster node.
        b = self.broker(["cluster_name prod", "cluster_secret s", "cluster_node_id n1",
                         "cluster_subscribe_wait 100"])
        r = self.raw(b.port)
        self.assertEqual(r.connect(unique("single"), version=4).rc, 0)


class TestSignals(OwnBrokerTestCase):

    def test_sigterm_exit_code_and_clients_closed(self):
        b = self.broker([])
        r5 = self.raw(b.port)
        r5.connect(unique("st5"), version=5)
        r4 = self.raw(b.port)
        r4.connect(unique("st4"), version=4)
        rc = b.stop(signal.SIGTERM, timeout=10)
        self.assertEqual(rc, 0)
        for p in r5.assert_closed(allow=(DISCONNECT,)):
            self.assertEqual(p.rc, 0x8B)
        r4.assert_closed()

    @starling_only("mosquitto 2.0.11 closes v5 connections on SIGTERM without "
                   "DISCONNECT 0x8B (server shutting down)")
    def test_sigterm_sends_server_shutting_down(self):
        b = self.broker([])
        r5 = self.raw(b.port)
        r5.connect(unique("sd5"), version=5)
        self.assertEqual(b.stop(signal.SIGTERM, timeout=10), 0)
        self.assertEqual([p.rc for p in r5.assert_closed(allow=(DISCONNECT,))], [0x8B])

    def test_sigterm_with_stalled_reader_exits(self):
        """A subscriber that stopped reading, with megabytes still queued for it, must not
        keep the broker from exiting on SIGTERM."""
        b = self.broker([])
        t = unique("stuck")
        stuck = self.raw(b.port)
        stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(unique("stk"), version=5)
        stuck.subscribe([(t, 0)])
        pub = self.raw(b.port)
        pub.connect(unique("stkp"), version=4)
        body = b"y" * 65536
        for _ in range(200):  # 13 MB, far beyond what the stalled socket accepts
            pub.publish(t, body)
        pub.send(pingreq_packet())
        self.assertEqual(pub.read_packet(timeout=10).type, PINGRESP)  # all were read
        t0 = time.monotonic()
        self.assertEqual(b.stop(signal.SIGTERM, timeout=10), 0)
        self.assertLess(time.monotonic() - t0, 5)

    def test_sigint_exit_code(self):
        b = self.broker([])
        self.assertEqual(b.stop(signal.SIGINT, timeout=10), 0)

    def test_sigterm_is_prompt(self):
        b = self.broker([])
        t0 = time.monotonic()
        self.assertEqual(b.stop(signal.SIGTERM, timeout=10), 0)
        self.assertLess(time.monotonic() - t0, 3.0)

    def test_restart_same_port(self):
        b = self.broker([])
        b.restart()
        r = self.raw(b.port)
        self.assertEqual(r.connect(unique("rs"), version=4).rc, 0)


class TestReload(OwnBrokerTestCase):
    """SIGHUP reloads the reloadable keys; a bad file keeps the running rules."""

    def _rewrite(self, b, lines):
        with open(b.conf_path, "w") as f:
            f.write("listener %d 127.0.0.1\n" % b.port)
            f.write("".join(line + "\n" for line in lines))

    def test_sighup_applies_allow_anonymous(self):
        b = self.broker([])
        self._rewrite(b, ["allow_anonymous false"])
        os.kill(b.pid, signal.SIGHUP)
        # a new anonymous client is refused once the reload is done: return code 5
        def refused():
            r = self.raw(b.port)
            try:
                return r.connect(unique("hup1"), version=4, expect_rc=None).rc == 5
            finally:
                r.close()
        self.assertTrue(wait_until(refused, timeout=5), "reload did not apply")

    @starling_only("mosquitto logs reload errors differently")
    def test_sighup_bad_file_keeps_rules(self):
        b = self.broker([])
        self._rewrite(b, ["allow_anonymous maybe"])
        os.kill(b.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "reload failed" in b.logs(), timeout=5))
        r = self.raw(b.port)
        self.assertEqual(r.connect(unique("hup2"), version=4).rc, 0)

    # Two values of every reloadable key a worker reads while it serves clients. Both log_type
    # sets keep notice: the test counts the reload notices.
    RELOADED = [
        ["max_queued_messages 1000", "max_queued_bytes 0", "max_inflight_messages 20",
         "max_packet_size 0", "message_size_limit 0", "max_keepalive 65535",
         "persistent_client_expiration 1h", "payload_format_validation false",
         "max_publish_rate 0", "max_subscriptions_per_client 0", "max_topic_levels 0",
         "memory_limit 0", "connect_timeout 10", "sys_interval 1",
         "log_type error", "log_type warning", "log_type notice"],
        ["max_queued_messages 2000", "max_queued_bytes 67108864", "max_inflight_messages 30",
         "max_packet_size 100000", "message_size_limit 50000", "max_keepalive 600",
         "persistent_client_expiration 2h", "payload_format_validation true",
         "max_publish_rate 100000", "max_subscriptions_per_client 100",
         "max_topic_levels 16", "memory_limit 1G", "connect_timeout 20", "sys_interval 2",
         "log_type notice", "log_type error", "log_type information"],
    ]

    @starling_only("worker_threads is a Starling key")
    def test_sighup_under_traffic_across_workers(self):
        """Reloads one after another while clients on both worker loops publish and receive:
        every loop reads the keys a reload changes (the ThreadSanitizer pass of scripts/test.sh
        checks that they do so safely). Nothing is lost or reordered meanwhile."""
        base = ["worker_threads 2", "allow_anonymous true"]
        b = self.broker(base + self.RELOADED[0], allow_anonymous=None)
        t, n, n_pubs, n_reloads = unique("hupt"), 100, 4, 20
        # Client ids hash to a worker: eight random ones leave both loops some to serve.
        subs = [self.client(b, unique("hs%d" % i), version=5) for i in range(4)]
        for s in subs:
            s.subscribe(t + "/#", 1)
        pubs = [self.client(b, unique("hp%d" % i), version=4) for i in range(n_pubs)]
        errors = []

        def publish(i, p):
            try:
                for k in range(n):
                    p.publish("%s/%d" % (t, i), b"%d" % k, 1)
            except Exception as e:  # reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=publish, args=(i, p)) for i, p in enumerate(pubs)]
        for th in threads:
            th.start()
        for r in range(1, n_reloads + 1):
            self._rewrite(b, base + self.RELOADED[r % 2])
            os.kill(b.pid, signal.SIGHUP)
            self.assertTrue(wait_until(lambda: b.logs().count("configuration reloaded") >= r),
                            "reload %d not logged" % r)
        for th in threads:
            th.join()
        self.assertEqual(errors, [])
        want = {"%s/%d" % (t, i): [b"%d" % k for k in range(n)] for i in range(n_pubs)}
        for s in subs:
            got = {}
            for m in s.expect(n * n_pubs):
                got.setdefault(m.topic, []).append(m.payload)
            self.assertEqual(got, want)
        self.assertIn("'max_queued_messages' reloaded", b.logs())


if __name__ == "__main__":
    unittest.main()
