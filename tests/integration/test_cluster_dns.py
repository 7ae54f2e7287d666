"""Cluster membership from DNS (issue 14): `cluster_discovery dns NAME:port` makes every address
NAME resolves to a node, and NAME is resolved again, so a node is added by adding its address
(as `docker compose up --scale` does) without touching the others' configuration.

The nodes run in a mount namespace of their own whose /etc/hosts is a file of this test (the
resolver reads it like any answer), bound to 127.0.0.2, .3 and .4 on one cluster port. Needs
root (unshare -m); skipped otherwise.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

from harness import Broker, TIME_SCALE, client, free_port, starling_only, unique, wait_until

NAME = "nodes.cluster.test"
SECRET = "dns-secret-42"


def can_unshare():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


class HostsNode(Broker):
    """A node whose resolver reads hosts_path as /etc/hosts."""

    def __init__(self, hosts_path, conf_lines):
        super().__init__(conf_lines)
        self.hosts_path = hosts_path

    def command(self):
        # unshare and sh exec: the process (and its PID) is starling itself.
        return ["unshare", "-m", "sh", "-c",
                'mount --bind "$0" /etc/hosts && exec "$@"', self.hosts_path] + super().command()


def sys_value(port, topic, want, timeout=15.0 * TIME_SCALE):
    """Waits until $SYS topic on the broker at port shows want (a string)."""
    seen = {}

    class B:
        pass
    b = B()
    b.port = port
    c = client(b, unique("sys"), version=4)
    try:
        c.subscribe(topic, qos=0)

        def check():
            for m in c.drain(settle=0.05):
                seen["v"] = m.payload.decode()
            return seen.get("v") == want
        ok = wait_until(check, timeout=timeout, interval=0.1)
        return ok, seen.get("v")
    finally:
        c.disconnect()


@starling_only("cluster discovery")
@unittest.skipUnless(can_unshare(), "needs root and unshare -m for a private /etc/hosts")
class TestDnsDiscovery(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="starling-dns-")
        self.hosts = os.path.join(self.dir, "hosts")
        self.cport = free_port()
        self.nodes = []
        self.write_hosts(["127.0.0.2", "127.0.0.3"])

    def tearDown(self):
        for n in self.nodes:
            n.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)

    def write_hosts(self, addrs):
        # Rewritten in place: the bind mount holds this file's inode.
        with open(self.hosts, "r+" if os.path.exists(self.hosts) else "w") as f:
            f.seek(0)
            f.truncate()
            f.write("127.0.0.1 localhost\n")
            for a in addrs:
                f.write("%s %s\n" % (a, NAME))
            f.write("127.0.0.4 lone.cluster.test\n")

    def node(self, i, name=NAME):
        n = HostsNode(self.hosts, [
            "cluster_node_id dns%d" % i,
            "cluster_bind 127.0.0.%d:%d" % (i, self.cport),
            "cluster_discovery dns %s:%d" % (name, self.cport),
            "cluster_discovery_interval 1",
            "cluster_secret " + SECRET,
            "sys_interval 1",
        ])
        self.nodes.append(n)
        return n.start()

    def test_discovered_and_rediscovered(self):
        a = self.node(2)
        b = self.node(3)
        for n in (a, b):
            ok, v = sys_value(n.port, "$SYS/broker/cluster/peers/reachable", "1")
            self.assertTrue(ok, "peers/reachable on %d: %s\n%s" % (n.port, v, n.logs()))
        topic = unique("dns")
        sub = client(b, unique("s"))
        sub.subscribe(topic, qos=1)
        pub = client(a, unique("p"))
        pub.publish(topic, b"found by name", qos=1)
        self.assertEqual(sub.expect()[0].payload, b"found by name")
        # A third node that knows only itself: only the others' new answer for NAME can link
        # it to them.
        c = self.node(4, name="lone.cluster.test")
        self.write_hosts(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
        for n in (a, b, c):
            ok, v = sys_value(n.port, "$SYS/broker/cluster/peers/reachable", "2")
            self.assertTrue(ok, "peers/reachable on %d: %s\n%s" % (n.port, v, n.logs()))
        sub_c = client(c, unique("s"))
        sub_c.subscribe(topic, qos=1)
        pub.publish(topic, b"to the new node", qos=1)
        self.assertEqual(sub_c.expect()[0].payload, b"to the new node")
        for x in (sub, pub, sub_c):
            x.disconnect()


if __name__ == "__main__":
    unittest.main()
