"""Starling clusters on loopback for integration tests (CLUSTER.md §10, the [L] rows).

    with Cluster(3) as cl:              # three nodes n1..n3, each listing every node
        cl.wait_ready()                 # $SYS .../cluster/ready = 1, peers/reachable = N-1
        cl[0].port, cl[1].cluster_port  # MQTT port, cluster port of a node (a harness Broker)
        cl.sys(0).fresh("forwards/out") # a $SYS/broker/cluster/ counter read after this call
        cl.stop(2); cl.start_node(2)    # SIGTERM / restart one node (kill9(i) for kill -9)

Cluster(n, proxied=[(0, 1)]) puts a LinkProxy each way between nodes 0 and 1 (each lists the
other's proxy port in cluster_peers instead of the real one); cl.cut(0, 1) closes both links and
refuses new ones, cl.blackhole(0, 1) drops their bytes silently, cl.restore(0, 1) relays again.
Cluster(n, start=[0, 1]) starts only those nodes (the others are configured and listed by all, as a node that joins later).
cl.outsider(secret=...) starts a node that lists the cluster's nodes but is no member of it
(a wrong secret or cluster name): the waits and counts of the cluster leave it out.

Every node is a harness Broker (its temp dir, log, sanitizer check at cleanup); nodes publish
$SYS every second (sys_interval 1) and a SysWatch client per node reads it.
"""

import os
import queue
import random
import re
import socket
import sys
import threading
import time
import unittest
import uuid

from harness import HOST, TIME_SCALE, Broker, Started, cleanup_all, client, unique

SYS_PREFIX = "$SYS/broker/cluster/"
_taken = set()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A free port below the kernel's ephemeral range: a node's ports are chosen when its
    cluster is made but some are bound only later (a node joining under traffic), and in
    between the many outgoing connections of a test could take an ephemeral one as their own
    local port (seen in CI: "cannot listen ... address already in use")."""
    lo, _ = _ephemeral_range()
    for _ in range(1000):
        port = random.randrange(max(1024, lo - 12000), lo)
        if port in _taken:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((HOST, port))
        except OSError:
            continue
        finally:
            s.close()
        _taken.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")
READY_TIMEOUT = 20.0 * TIME_SCALE
SECRET = "it-secret-0123456789"


# --------------------------------------------------------------------------
# A cuttable TCP relay
# --------------------------------------------------------------------------

def _abort(sock):
    """Closes sock at once (RST, no lingering), waking a thread blocked in recv() on it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class LinkProxy:
    """Relays 127.0.0.1:port to 127.0.0.1:target_port, one thread per direction and
    connection. cut() resets every relayed connection and refuses new ones (accepted, then
    reset); blackhole() keeps connections open but drops every byte both ways, and accepts new
    ones without going on to the target (a silent network); restore() relays again (after a
    blackhole, it resets the connections first: bytes were lost in them). accepted counts the
    connections relayed."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.accepted = 0
        self.refused = 0
        self.mode = "relay"     # or "cut", "blackhole"
        self._lock = threading.Lock()
        self._conns = []        # [socket, ...] to reset on cut / restore
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            if self._closed:
                _abort(s)
                return
            if self.mode == "cut":
                self.refused += 1
                _abort(s)
                continue
            if self.mode == "blackhole":
                with self._lock:
                    self._conns.append(s)
                threading.Thread(target=self._pump, args=(s, None), daemon=True).start()
                continue
            try:
                d = socket.create_connection((HOST, self.target_port), timeout=2)
            except OSError:
                _abort(s)
                continue
            for x in (s, d):
                x.settimeout(None)
                x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self.mode != "relay" or self._closed:
                    _abort(s)
                    _abort(d)
                    continue
                self._conns += [s, d]
                self.accepted += 1
            threading.Thread(target=self._pump, args=(s, d), daemon=True).start()
            threading.Thread(target=self._pump, args=(d, s), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if dst is not None and self.mode == "relay":
                    dst.sendall(data)
        except OSError:
            return
        try:
            if dst is not None:
                dst.shutdown(socket.SHUT_WR)  # pass the FIN on
        except OSError:
            pass

    def _reset_all(self):
        with self._lock:
            conns, self._conns = self._conns, []
        for x in conns:
            _abort(x)

    def cut(self):
        self.mode = "cut"
        self._reset_all()

    def blackhole(self):
        self.mode = "blackhole"

    def restore(self):
        if self.mode == "blackhole":
            self.mode = "cut"
            self._reset_all()
        self.mode = "relay"

    def close(self):
        self._closed = True
        self.cut()
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)  # wakes accept()
        except OSError:
            pass
        self.lsock.close()


# --------------------------------------------------------------------------
# $SYS of one node
# --------------------------------------------------------------------------

class SysWatch:
    """A client on one node subscribed to $SYS/broker/cluster/#. values holds the latest value
    per key (the part after the prefix; integers as int), updates counts the live (not
    retained) publications of each key seen so far."""

    def __init__(self, node):
        self.node = node
        self.values = {}
        self.updates = {}
        self.c = client(node, unique("sysw-" + node.name), version=4)
        self.c.subscribe(SYS_PREFIX + "#", 0)

    def poll(self, wait=0.0):
        """Takes in what arrived (waiting up to `wait` s for the first message)."""
        try:
            m = self.c.messages.get(timeout=wait) if wait > 0 else self.c.messages.get_nowait()
        except queue.Empty:
            return
        while True:
            key = m.topic[len(SYS_PREFIX):]
            text = m.payload.decode("utf-8", "replace").strip()
            try:
                value = int(text)
            except ValueError:
                value = text
            if key == "node_id" and value != self.node.name:
                raise AssertionError("$SYS of node %r seen by a client of node %s: $SYS crossed "
                                     "the cluster" % (value, self.node.name))
            self.values[key] = value
            if not m.retain:
                self.updates[key] = self.updates.get(key, 0) + 1
            try:
                m = self.c.messages.get_nowait()
            except queue.Empty:
                return

    def get(self, key, default=None):
        self.poll()
        return self.values.get(key, default)

    def wait(self, pred, timeout=READY_TIMEOUT):
        """Polls until pred(values) holds; returns True, or False after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if pred(self.values):
                return True
            if time.monotonic() >= deadline:
                return False
            self.poll(0.1)

    def fresh(self, key, timeout=10.0 * TIME_SCALE):
        """The value of key from a $SYS round that began after this call: the second live
        update from now on (the first may have been on its way already)."""
        self.poll()
        want = self.updates.get(key, 0) + 2
        if not self.wait(lambda v: self.updates.get(key, 0) >= want, timeout):
            raise AssertionError("node %s: no fresh %s%s within %.0fs (seen: %r)"
                                 % (self.node.name, SYS_PREFIX, key, timeout, self.values))
        return self.values[key]

    def settled(self, key, timeout=15.0 * TIME_SCALE):
        """The value of key once two $SYS rounds in a row agree (nothing in flight)."""
        deadline = time.monotonic() + timeout
        last = self.fresh(key)
        while time.monotonic() < deadline:
            v = self.fresh(key)
            if v == last:
                return v
            last = v
        raise AssertionError("node %s: %s%s still moving after %.0fs (last %r)"
                             % (self.node.name, SYS_PREFIX, key, timeout, last))

    def close(self):
        self.c.close()


def settled(items, timeout=15.0 * TIME_SCALE):
    """items: (SysWatch, key) pairs, of several nodes at once. Their values once two $SYS
    rounds in a row (each begun after the last) agree for every pair: nothing in flight."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        for w, _ in items:
            w.poll()
        # the first value from a round begun after the call, then each next round's
        want = [w.updates.get(k, 0) + (2 if last is None else 1) for w, k in items]
        for (w, k), n in zip(items, want):
            if not w.wait(lambda v, w=w, k=k, n=n: w.updates.get(k, 0) >= n,
                          max(0.1, deadline - time.monotonic())):
                raise AssertionError("node %s: no fresh %s%s (seen: %r)"
                                     % (w.node.name, SYS_PREFIX, k, w.values))
        vals = [w.values[k] for w, k in items]
        if vals == last:
            return vals
        if time.monotonic() >= deadline:
            raise AssertionError("%s still moving after %.0fs: %r"
                                 % ([(w.node.name, k) for w, k in items], timeout, vals))
        last = vals


# --------------------------------------------------------------------------
# Nodes and clusters
# --------------------------------------------------------------------------

class Node(Broker):
    """One cluster node: a harness Broker with the cluster_* keys. name is its node id."""

    def __init__(self, name, conf_lines, port, cluster_port):
        super().__init__(conf_lines, port=port)
        self.name = name
        self.cluster_port = cluster_port
        self.watch = None
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)

    def sys(self):
        """The node's SysWatch (connected on first use; after a restart, anew)."""
        if self.watch is None:
            self.watch = SysWatch(self)
        return self.watch

    def _drop_watch(self):
        if self.watch is not None:
            self.watch.close()
            self.watch = None

    def stop(self, *a, **kw):
        self._drop_watch()
        return super().stop(*a, **kw)

    def kill9(self):
        self._drop_watch()
        super().kill9()

    def __repr__(self):
        return "<node %s mqtt %d cluster %d>" % (self.name, self.port, self.cluster_port)


def node_conf(name, cluster_port, peers, secret=SECRET, cluster_name=None, extra=()):
    """The cluster lines of one node: peers is a list of ports on 127.0.0.1."""
    lines = ["sys_interval 1",
             "cluster_node_id %s" % name,
             "cluster_bind %s:%d" % (HOST, cluster_port),
             "cluster_advertise %s:%d" % (HOST, cluster_port),
             "cluster_peers %s" % ",".join("%s:%d" % (HOST, p) for p in peers),
             "cluster_secret %s" % secret]
    if cluster_name is not None:
        lines.append("cluster_name %s" % cluster_name)
    return lines + list(extra)


class Cluster(Started):
    """n nodes named n1..nN on loopback; see the module docstring."""

    def __init__(self, n, conf=(), node_extra=None, proxied=(), start=None, secret=SECRET):
        self.name = "it-" + uuid.uuid4().hex[:8]
        self.secret = secret
        self.mqtt_ports = [free_port() for _ in range(n)]
        self.cluster_ports = [free_port() for _ in range(n)]
        self.start_set = list(range(n)) if start is None else list(start)
        self.proxies = {}   # (i, j) -> the proxy node i dials to reach node j
        for i, j in proxied:
            self.proxies[(i, j)] = LinkProxy(self.cluster_ports[j])
            self.proxies[(j, i)] = LinkProxy(self.cluster_ports[i])
        self.nodes = []
        self.outsiders = []
        for i in range(n):
            peers = [self.proxies[(i, j)].port if (i, j) in self.proxies else self.cluster_ports[j]
                     for j in range(n)]
            extra = list(conf) + list((node_extra or {}).get(i, ()))
            lines = node_conf("n%d" % (i + 1), self.cluster_ports[i], peers, secret,
                              self.name, extra)
            self.nodes.append(Node("n%d" % (i + 1), lines, self.mqtt_ports[i],
                                   self.cluster_ports[i]))

    def __getitem__(self, i):
        return self.nodes[i]

    def __len__(self):
        return len(self.nodes)

    def all_brokers(self):
        return self.nodes + self.outsiders

    # -- lifecycle -----------------------------------------------------------
    def start(self):
        for i in self.start_set:   # spawn all first: they find each other while starting
            self.nodes[i].spawn()
        for i in self.start_set:
            self._wait_started(self.nodes[i])
        return self

    @staticmethod
    def _wait_started(node, timeout=10.0 * TIME_SCALE):
        """Broker.start() after spawn(): waits for the MQTT port only (a probe of the cluster
        port would be a peer that never says Hello)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.proc.poll() is not None:
                raise RuntimeError("node %s exited with %s during start-up:\n%s"
                                   % (node.name, node.proc.returncode, node.logs()))
            try:
                socket.create_connection((HOST, node.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        node.kill9()
        raise RuntimeError("node %s did not accept on %d within %.0fs:\n%s"
                           % (node.name, node.port, timeout, node.logs()))

    def start_node(self, i):
        """Starts (or restarts) node i; does not wait for the cluster to be ready."""
        node = self.nodes[i]
        if node.alive():
            node.stop()
        node.spawn()
        self._wait_started(node)
        return node

    def stop(self, i, timeout=10.0 * TIME_SCALE):
        """SIGTERM to node i; returns its exit code."""
        return self.nodes[i].stop(timeout=timeout)

    def kill9(self, i):
        self.nodes[i].kill9()

    def running(self):
        return [n for n in self.nodes if n.alive()]

    def outsider(self, secret=SECRET, cluster_name=None, extra=()):
        """Starts a node n0 that lists every node of the cluster (and itself) but is left out of
        the cluster's waits: a wrong secret or cluster name. Cleaned up with the cluster."""
        port, cport = free_port(), free_port()
        peers = list(self.cluster_ports) + [cport]
        lines = node_conf("x%d" % (len(self.outsiders) + 1), cport, peers, secret,
                          self.name if cluster_name is None else cluster_name, extra)
        node = Node("x%d" % (len(self.outsiders) + 1), lines, port, cport)
        self.outsiders.append(node)
        node.spawn()
        self._wait_started(node)
        return node

    # -- state ---------------------------------------------------------------
    def sys(self, i):
        return self.nodes[i].sys()

    def wait_ready(self, nodes=None, timeout=READY_TIMEOUT):
        """Waits until each running node (or those listed) has ready = 1 and peers/reachable =
        (running nodes - 1); raises AssertionError naming the nodes that are not."""
        running = self.running()
        want = len(running) - 1
        todo = [self.nodes[i] for i in nodes] if nodes is not None else running
        deadline = time.monotonic() + timeout
        for node in todo:
            w = node.sys()
            ok = w.wait(lambda v: v.get("ready") == 1 and v.get("peers/reachable") == want,
                        max(0.1, deadline - time.monotonic()))
            if not ok:
                unknown = sorted(set(re.findall(r"unknown option '(cluster_\w+)'", node.logs())))
                raise AssertionError(
                    "node %s not ready with %d reachable peers within %.0fs%s: %s"
                    % (node.name, want, timeout,
                       " (this build ignores %s)" % ", ".join(unknown) if unknown else "",
                       self.state()))
        return self

    def state(self):
        """One line per node: the $SYS values read so far (for failure messages)."""
        out = []
        for n in self.nodes:
            if n.watch is not None:
                n.watch.poll()
            vals = n.watch.values if n.watch is not None else {}
            out.append("%s(%s): %s" % (n.name, "up" if n.alive() else "down",
                                       {k: vals[k] for k in sorted(vals)}))
        return "\n  " + "\n  ".join(out)

    # -- links ---------------------------------------------------------------
    def cut(self, i, j):
        """Severs the cluster link between nodes i and j (both must be proxied)."""
        self.proxies[(i, j)].cut()
        self.proxies[(j, i)].cut()

    def blackhole(self, i, j):
        """Silences the link between nodes i and j (both ways) without closing it."""
        self.proxies[(i, j)].blackhole()
        self.proxies[(j, i)].blackhole()

    def restore(self, i, j):
        self.proxies[(i, j)].restore()
        self.proxies[(j, i)].restore()

    def proxied_connections(self, i, j):
        return self.proxies[(i, j)].accepted + self.proxies[(j, i)].accepted

    # -- cleanup -------------------------------------------------------------
    def logs(self, tail=4000):
        return "".join("\n----- node %s (mqtt %d, cluster %d), last %d chars -----\n%s\n"
                       % (n.name, n.port, n.cluster_port, tail, n.logs()[-tail:])
                       for n in self.all_brokers())

    def cleanup(self):
        reports = []
        for n in self.all_brokers():
            n._drop_watch()
        for n in self.all_brokers():
            try:
                n.cleanup()
            except AssertionError as e:
                reports.append(str(e))
        for p in self.proxies.values():
            p.close()
        if reports:
            raise AssertionError("\n".join(reports))


# --------------------------------------------------------------------------
# Test case base
# --------------------------------------------------------------------------

class ClusterTestCase(unittest.TestCase):
    """A cluster of NODES nodes per test class (PROXIED pairs behind LinkProxies, CONF lines
    for every node), ready before the first test; self.new_cluster() makes one for a single
    test. self.client(node, ...) connects a harness client to a node (an index or a Node),
    closed after the test. A failing test prints every node's log tail."""
    NODES = 3
    PROXIED = ()
    CONF = ()
    cluster = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.NODES:
            cls.cluster = Cluster(cls.NODES, conf=cls.CONF, proxied=cls.PROXIED)
            try:
                cls.cluster.start()
                cls.cluster.wait_ready()
            except BaseException:
                sys.stderr.write(cls.cluster.logs())
                cls.cluster.cleanup()
                raise

    @classmethod
    def tearDownClass(cls):
        if cls.cluster is not None:
            cls.cluster.cleanup()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self._closers = []
        self._clusters = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        cleanup_all(self._closers, self._clusters)

    def new_cluster(self, n, ready=True, **kw):
        """A cluster for this test only; started (and waited ready) unless ready=False."""
        cl = Cluster(n, **kw)
        self._clusters.append(cl)
        cl.start()
        if ready:
            cl.wait_ready()
        return cl

    def node(self, node):
        return self.cluster[node] if isinstance(node, int) else node

    def client(self, node, client_id=None, version=5, clean=True, **kw):
        c = client(self.node(node), client_id, version, clean, **kw)
        self._closers.append(c)
        return c

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for cl in [type(self).cluster] + getattr(self, "_clusters", []):
                if cl is not None:
                    sys.stderr.write("\n===== %s: cluster %s =====%s\n%s\n"
                                     % (self.id(), cl.name, cl.state(), cl.logs()))
        return out
