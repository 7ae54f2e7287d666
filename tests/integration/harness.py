"""Integration-test harness for Starling (stdlib + paho-mqtt 1.6 only).

Drives either the Starling binary or Debian's mosquitto with the same
mosquitto.conf / command line:

    STARLING_BIN=/path/to/starling   binary to test (default ../../build/broker/starling)
    BROKER=mosquitto                 run /usr/sbin/mosquitto instead (reference run)
    SL_TEST_TIME_SCALE=N             multiply the bounded waits by N (a slow build: TSan)

A broker whose output holds a sanitizer report (ASan, LeakSanitizer, UBSan, TSan) fails the
test that owned it, at cleanup: the clients rarely notice a race or a stray write.

Pieces:
  * Broker      -- context manager: temp dir, config file, free port, process, logs.
  * BrokerTestCase -- unittest base class with one broker per class; prints the
                   broker log of a failing test.
  * client()    -- paho wrapper (v3.1 / v3.1.1 / v5) with bounded waits.
  * RawClient + packet builders/decoders -- byte-level MQTT for protocol tests.
  * starling_passwd(), MOSQUITTO_PASSWD, readable() -- password files for the auth tests.
"""

import os
import queue
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

HERE = os.path.dirname(os.path.abspath(__file__))
IS_MOSQUITTO = os.environ.get("BROKER", "").lower() == "mosquitto"
# Waits for something that should happen; a build that runs many times slower (ThreadSanitizer:
# 5-15x) needs longer for the same work, so scripts/test.sh scales them there. Waits for
# something that should not happen (expect_none) are not scaled: they only cost time.
TIME_SCALE = float(os.environ.get("SL_TEST_TIME_SCALE") or 1)
DEFAULT_TIMEOUT = 5.0 * TIME_SCALE
# The first line of a sanitizer report. The broker's stderr goes to its log, so a report there
# is seen even when the process was killed afterwards.
SANITIZER_REPORT = re.compile(r"WARNING: ThreadSanitizer|ERROR: AddressSanitizer|"
                              r"ERROR: LeakSanitizer|runtime error: ")
HOST = "127.0.0.1"

__all__ = [
    "Broker", "BrokerTestCase", "OwnBrokerTestCase", "client", "Client", "RawClient", "raw_connect",
    "starling_only", "IS_MOSQUITTO", "unique", "free_port", "Properties",
    "PacketTypes", "SubscribeOptions", "wait_until", "props_bytes",
    "connect_packet", "publish_packet", "subscribe_packet", "unsubscribe_packet",
    "disconnect_packet", "puback_packet", "pubrec_packet", "pubrel_packet",
    "pubcomp_packet", "pingreq_packet", "encode_varint", "encode_str",
    "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
    "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP",
    "DISCONNECT", "AUTH", "P", "fixed", "Packet", "decode_props", "HOST",
    "DEFAULT_TIMEOUT", "TIME_SCALE", "MOSQUITTO_PASSWD", "starling_passwd", "readable",
    "PingProbe", "cleanup_all",
]


def starling_only(reason):
    """Skip under BROKER=mosquitto: the test checks spec/Starling behaviour that
    mosquitto 2.0.11 does not have. Always give the reason."""
    return unittest.skipIf(IS_MOSQUITTO, "starling only: " + reason)


def unique(prefix="t"):
    """A short unique name for topics and client ids (tests never collide)."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def cleanup_all(closers, started):
    """Test cleanup: closes every client in closers (errors ignored), then cleans up every
    broker or cluster in started, all of them before raising one AssertionError with their
    reports (a sanitizer report of one must not leave the others running)."""
    for c in closers:
        try:
            c.close()
        except Exception:
            pass
    reports = []
    for b in started:
        try:
            b.cleanup()
        except AssertionError as e:
            reports.append(str(e))
    if reports:
        raise AssertionError("\n".join(reports))


def wait_until(pred, timeout=DEFAULT_TIMEOUT, interval=0.02):
    """Poll pred() until truthy; return its value or None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def broker_binary():
    if IS_MOSQUITTO:
        return shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    return os.environ.get("STARLING_BIN") or os.path.normpath(
        os.path.join(HERE, "..", "..", "build", "broker", "starling"))


MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def starling_passwd():
    """starling_passwd next to the starling binary (also under BROKER=mosquitto)."""
    env = os.environ.get("STARLING_PASSWD")
    if env:
        return env
    starling = os.environ.get("STARLING_BIN") or os.path.join(
        HERE, "..", "..", "build", "broker", "starling")
    return os.path.normpath(os.path.join(os.path.dirname(starling), "starling_passwd"))


def readable(path):
    """Makes a password or ACL file readable by all (0644): mosquitto started as root reads
    its files as user "mosquitto"."""
    os.chmod(path, 0o644)


def port_accepts(port, timeout=0.2):
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# Broker process
# --------------------------------------------------------------------------

class Started:
    """Mixin for a process owner with start() (returns self) and cleanup(): `with X() as x`
    starts x and cleans it up when the block ends, or at once if start() fails."""

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.cleanup()
        return False


class Broker(Started):
    """One broker process in a fresh temp dir.

    Broker(conf_lines=[...])           listener + allow_anonymous true + lines
    Broker(..., allow_anonymous=None)  do not write allow_anonymous at all
    Broker(..., listener=False, args=["-p", "1234"])  command-line port
    """

    def __init__(self, conf_lines=(), binary=None, allow_anonymous=True,
                 listener=True, args=(), port=None, verbose=True):
        self.binary = binary or broker_binary()
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="starling-it-")
        # mosquitto run as root drops privileges to user "mosquitto"; keep the
        # dir readable so the config and log stay usable after the drop.
        os.chmod(self.dir, 0o755)
        self.conf_path = os.path.join(self.dir, "broker.conf")
        self.log_path = os.path.join(self.dir, "broker.log")
        lines = []
        if listener:
            lines.append("listener %d %s" % (self.port, HOST))
        if allow_anonymous is not None:
            lines.append("allow_anonymous %s" % ("true" if allow_anonymous else "false"))
        lines.extend(conf_lines)
        # Every loopback listener the file names: start() waits for all of them, since the
        # broker opens them one after the other and its first may accept before the last
        # is bound.
        self.ports = [self.port] + [
            int(m.group(1)) for m in (re.match(r"listener (\d+) %s$" % re.escape(HOST), l)
                                      for l in conf_lines) if m and int(m.group(1)) != self.port]
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.args = list(args)
        self.verbose = verbose
        self.proc = None
        self._log = None

    # -- lifecycle ---------------------------------------------------------
    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def command(self):
        cmd = [self.binary, "-c", self.conf_path] + self.args
        if self.verbose:
            cmd.append("-v")
        return cmd

    def spawn(self):
        """Start the process without waiting for the port."""
        if not os.path.exists(self.binary):
            raise RuntimeError("broker binary %s not found (build it, set "
                               "STARLING_BIN, or BROKER=mosquitto)" % self.binary)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.dir)
        return self.proc

    def start(self, timeout=10.0 * TIME_SCALE):
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("broker exited with %s during start-up:\n%s"
                                   % (self.proc.returncode, self.logs()))
            if all(port_accepts(p) for p in self.ports):
                return self
            time.sleep(0.02)
        self.kill9()
        raise RuntimeError("broker did not accept on port %d within %.0fs:\n%s"
                           % (self.port, timeout, self.logs()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10.0 * TIME_SCALE):
        """Signal the broker and return its exit code (kill -9 after timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()
        return self.proc.returncode

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def restart(self, timeout=10.0 * TIME_SCALE):
        self.stop()
        return self.start(timeout)

    def wait_exit(self, timeout=10.0 * TIME_SCALE):
        """Wait for the process to exit on its own; returns code or None."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return getattr(self, "_log_cache", "")

    def cleanup(self):
        """Kills the process and removes its dir. Raises AssertionError, after both, if the
        log holds a sanitizer report."""
        try:
            self.kill9()
        finally:
            self._log_cache = self.logs()   # still printable after removal
            shutil.rmtree(self.dir, ignore_errors=True)
        self.check_sanitizer()

    def check_sanitizer(self):
        """Raises AssertionError with the report if the broker's log holds a sanitizer one."""
        log = self.logs()
        m = SANITIZER_REPORT.search(log)
        if m is not None:
            raise AssertionError("broker on port %d reported a sanitizer error:\n%s"
                                 % (self.port, log[max(0, m.start() - 200):m.start() + 6000]))


class BrokerTestCase(unittest.TestCase):
    """One broker per test class (tests use unique topics and ids).

    Subclasses set CONF = [...] (extra config lines). On a failing test the
    tail of the broker log is printed to stderr.
    """
    CONF = []
    ALLOW_ANONYMOUS = True
    broker = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.broker = Broker(cls.CONF, allow_anonymous=cls.ALLOW_ANONYMOUS)
        try:
            cls.broker.start()
        except BaseException:
            cls.broker.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.broker is not None:
            cls.broker.cleanup()
        super().tearDownClass()

    @property
    def port(self):
        return self.broker.port

    def setUp(self):
        super().setUp()
        self._clients = []
        self.addCleanup(self._close_clients)

    def _close_clients(self):
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass

    def client(self, client_id=None, version=5, clean=True, connect=True, **kw):
        c = client(self.broker, client_id, version, clean, connect=connect, **kw)
        self._clients.append(c)
        return c

    def raw(self, timeout=DEFAULT_TIMEOUT):
        r = RawClient(self.broker.port, timeout)
        self._clients.append(r)
        return r

    def assertBrokerServes(self):
        """The broker is alive and a fresh client can do a QoS 1 round trip."""
        self.assertTrue(self.broker.alive(), "broker process died")
        t = unique("alive")
        c = self.client(unique("alive"), version=4)
        c.subscribe(t, 1)
        c.publish(t, b"still-alive", 1)
        m = c.expect(1)[0]
        self.assertEqual(m.payload, b"still-alive")
        c.close()

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        broker = type(self).broker
        if len(result.failures) + len(result.errors) > before:
            for b in [broker] + list(getattr(self, "extra_brokers", [])):
                if b is not None:
                    log = b.logs()
                    sys.stderr.write("\n----- broker log (%s, port %s), last 4000 chars -----\n%s\n"
                                     "----- end broker log -----\n"
                                     % (self.id(), b.port, log[-4000:]))
        return out


class OwnBrokerTestCase(unittest.TestCase):
    """For tests that start their own broker(s) (config variations, signals).
    self.broker(conf) starts one that is cleaned up after the test; logs of
    a failing test's brokers are printed."""

    def setUp(self):
        super().setUp()
        self.extra_brokers = []
        self._closers = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        cleanup_all(self._closers, self.extra_brokers)

    def broker(self, conf=(), start=True, **kw):
        b = Broker(conf, **kw)
        self.extra_brokers.append(b)
        if start:
            b.start()
        return b

    def raw(self, port, timeout=DEFAULT_TIMEOUT):
        r = RawClient(port, timeout)
        self._closers.append(r)
        return r

    def client(self, broker, client_id=None, version=5, clean=True, **kw):
        c = client(broker, client_id, version, clean, **kw)
        self._closers.append(c)
        return c

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for b in getattr(self, "extra_brokers", []):
                sys.stderr.write("\n----- broker log (%s, port %s), last 4000 chars -----\n%s\n"
                                 "----- end broker log -----\n"
                                 % (self.id(), b.port, b.logs()[-4000:]))
        return out


# --------------------------------------------------------------------------
# paho client wrapper
# --------------------------------------------------------------------------

_PROTO = {3: paho.MQTTv31, 4: paho.MQTTv311, 5: paho.MQTTv5}


def _rc_int(rc):
    return rc.value if hasattr(rc, "value") else int(rc)


class Client:
    """Thin, thread-safe paho wrapper. One instance == one network connection.

    The network loop runs in our own thread calling client.loop(), so paho
    never auto-reconnects (a takeover must stay a takeover).
    """

    def __init__(self, port, client_id=None, version=5, clean=True,
                 userdata=None, max_inflight=None, transport="tcp", tls=None,
                 username=None, password=None):
        """transport: "tcp" or "websockets"; tls: keyword arguments of paho's
        tls_set() (ca_certs, certfile, keyfile, ...) to connect over TLS."""
        self.port = port
        self.version = version
        self.clean = clean
        self.client_id = unique("c") if client_id is None else client_id
        if version == 5:
            self.c = paho.Client(client_id=self.client_id, protocol=paho.MQTTv5,
                                 transport=transport)
        else:
            self.c = paho.Client(client_id=self.client_id, clean_session=clean,
                                 protocol=_PROTO[version], transport=transport)
        if tls is not None:
            self.c.tls_set(**tls)
        # Every write from our loop thread: paho otherwise also writes from the caller's thread
        # (publish, subscribe), and two threads writing one TLS socket break it (OpenSSL "bad
        # length" on a retried write, seen when the broker reads slowly, as under TSan). With a
        # register-write callback paho queues the packet and wakes the loop instead.
        self.c.on_socket_register_write = lambda client, userdata, sock: None
        if username is not None:
            self.c.username_pw_set(username, password)
        if max_inflight is not None:
            self.c.max_inflight_messages_set(max_inflight)
        self.messages = queue.Queue()
        self._cv = threading.Condition()
        self.connack = None          # (flags dict, rc int, properties)
        self.disconnected = None     # rc int or None
        self.disconnect_props = None
        self._published = set()
        self._subacks = {}
        self._unsubacks = {}
        self._stop = False
        self._thread = None
        self.loop_error = None
        self.c.on_message = self._on_message
        self.c.on_publish = self._on_publish
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe

    # -- callbacks (network thread) ---------------------------------------
    def _on_message(self, c, ud, msg):
        self.messages.put(msg)

    def _on_publish(self, c, ud, mid):
        with self._cv:
            self._published.add(mid)
            self._cv.notify_all()

    def _on_connect(self, c, ud, flags, rc, props=None):
        with self._cv:
            self.connack = (flags, _rc_int(rc), props)
            self._cv.notify_all()

    def _on_disconnect(self, c, ud, rc, props=None):
        with self._cv:
            self.disconnected = _rc_int(rc) if rc is not None else -1
            self.disconnect_props = props
            self._cv.notify_all()

    def _on_subscribe(self, c, ud, mid, granted, props=None):
        with self._cv:
            self._subacks[mid] = [_rc_int(g) for g in granted]
            self._cv.notify_all()

    def _on_unsubscribe(self, c, ud, mid, props=None, rcs=None):
        with self._cv:
            if rcs is None:                 # v3: no reason codes
                self._unsubacks[mid] = []
            elif isinstance(rcs, list):
                self._unsubacks[mid] = [_rc_int(r) for r in rcs]
            else:                           # paho passes a lone code unwrapped
                self._unsubacks[mid] = [_rc_int(rcs)]
            self._cv.notify_all()

    def _wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        with self._cv:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0 or self.loop_error is not None:
                    raise AssertionError("timed out after %.1fs waiting for %s (client %s)%s"
                                         % (timeout, what, self.client_id,
                                            "" if self.loop_error is None else
                                            "; network loop died: %r" % self.loop_error))
                self._cv.wait(min(left, 0.1))

    def _loop(self):
        while not self._stop:
            try:
                rc = self.c.loop(0.02)
            except Exception as e:  # e.g. select() on an fd >= 1024
                with self._cv:
                    self.loop_error = e
                    if self.disconnected is None:
                        self.disconnected = -2
                    self._cv.notify_all()
                return
            if rc != paho.MQTT_ERR_SUCCESS:
                time.sleep(0.01)

    # -- API ----------------------------------------------------------------
    def will_set(self, topic, payload=None, qos=0, retain=False, properties=None):
        self.c.will_set(topic, payload, qos, retain, properties)
        return self

    def connect(self, keepalive=60, properties=None, timeout=DEFAULT_TIMEOUT,
                expect_rc=0):
        """Connect and wait for CONNACK; assert its return/reason code.
        Returns (session_present, rc, properties)."""
        if self.version == 5:
            self.c.connect(HOST, self.port, keepalive, clean_start=self.clean,
                           properties=properties)
        else:
            self.c.connect(HOST, self.port, keepalive)
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        self._wait(lambda: self.connack is not None or self.disconnected is not None,
                   timeout, "CONNACK")
        if self.connack is None:
            raise AssertionError("connection closed before CONNACK (rc %s)" % self.disconnected)
        flags, rc, props = self.connack
        if expect_rc is not None and rc != expect_rc:
            raise AssertionError("CONNACK rc %d, expected %d" % (rc, expect_rc))
        return bool(flags.get("session present")), rc, props

    @property
    def session_present(self):
        return bool(self.connack[0].get("session present"))

    def subscribe(self, topic, qos=0, options=None, properties=None,
                  timeout=DEFAULT_TIMEOUT):
        """Subscribe and wait for SUBACK; returns the list of granted codes.
        topic may be a list of (filter, qos) or, for v5, (filter, SubscribeOptions)."""
        if self.version == 5 and options is None and not isinstance(topic, list):
            options = SubscribeOptions(qos=qos)
        if isinstance(topic, list):
            rc, mid = self.c.subscribe(topic, properties=properties)
        elif self.version == 5:
            rc, mid = self.c.subscribe(topic, options=options, properties=properties)
        else:
            rc, mid = self.c.subscribe(topic, qos)
        if rc != paho.MQTT_ERR_SUCCESS:
            raise AssertionError("subscribe failed locally: %s" % rc)
        self._wait(lambda: mid in self._subacks, timeout, "SUBACK")
        return self._subacks.pop(mid)

    def unsubscribe(self, topic, timeout=DEFAULT_TIMEOUT):
        """Unsubscribe and wait for UNSUBACK; returns the v5 reason codes
        ([] for v3)."""
        rc, mid = self.c.unsubscribe(topic)
        if rc != paho.MQTT_ERR_SUCCESS:
            raise AssertionError("unsubscribe failed locally: %s" % rc)
        self._wait(lambda: mid in self._unsubacks, timeout, "UNSUBACK")
        return self._unsubacks.pop(mid)

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None,
                wait=True, timeout=DEFAULT_TIMEOUT):
        """Publish; with wait=True block until the flow completed (QoS 0: sent,
        QoS 1: PUBACK, QoS 2: PUBCOMP). Returns the mid."""
        info = self.c.publish(topic, payload, qos, retain, properties)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_AGAIN):
            raise AssertionError("publish failed locally: %s" % info.rc)
        if wait:
            self.wait_published(info.mid, timeout)
        return info.mid

    def wait_published(self, mid, timeout=DEFAULT_TIMEOUT):
        self._wait(lambda: mid in self._published, timeout, "publish mid %d to complete" % mid)

    def is_published(self, mid):
        with self._cv:
            return mid in self._published

    def expect(self, n=1, timeout=DEFAULT_TIMEOUT):
        """Return exactly the next n messages (fail if fewer arrive in time)."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            left = deadline - time.monotonic()
            try:
                got.append(self.messages.get(timeout=max(left, 0.001)))
            except queue.Empty:
                raise AssertionError(
                    "expected %d message(s) within %.1fs on %s, got %d: %r"
                    % (n, timeout, self.client_id, len(got),
                       [(m.topic, m.payload[:40]) for m in got]))
        return got

    def expect_none(self, timeout=0.5):
        """Assert no message arrives within timeout."""
        try:
            m = self.messages.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError("unexpected message on %s: topic=%r payload=%r"
                             % (self.client_id, m.topic, m.payload[:60]))

    def drain(self, settle=0.3):
        """Collect whatever arrives until the queue is quiet for `settle` s."""
        got = []
        while True:
            try:
                got.append(self.messages.get(timeout=settle))
            except queue.Empty:
                return got

    def wait_disconnected(self, timeout=DEFAULT_TIMEOUT):
        self._wait(lambda: self.disconnected is not None, timeout, "disconnect")
        return self.disconnected

    def disconnect(self, reasoncode=None, properties=None, timeout=DEFAULT_TIMEOUT):
        """Clean DISCONNECT and wait until the connection is down."""
        if self.version == 5 and reasoncode is not None:
            from paho.mqtt.reasoncodes import ReasonCodes
            rcobj = ReasonCodes(PacketTypes.DISCONNECT, identifier=reasoncode)
            self.c.disconnect(rcobj, properties)
        else:
            self.c.disconnect(properties=properties) if self.version == 5 else self.c.disconnect()
        try:
            self._wait(lambda: self.disconnected is not None, timeout, "disconnect")
        finally:
            self._stop_loop()

    def drop(self):
        """Abnormal close: shut the socket without DISCONNECT."""
        sock = self.c.socket()
        self._stop_loop()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _stop_loop(self):
        self._stop = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)
        self._thread = None

    def close(self):
        """Test cleanup: clean disconnect if still connected, stop the thread."""
        if self._thread is not None and self.disconnected is None:
            try:
                self.c.disconnect()
                self._wait(lambda: self.disconnected is not None, 1.0, "disconnect")
            except Exception:
                pass
        self._stop_loop()
        s = self.c.socket()
        if s is not None:
            try:
                s.close()
            except OSError:
                pass


def client(broker, client_id=None, version=5, clean=True, connect=True, **kw):
    """Make a paho client (version 3=MQTT 3.1, 4=3.1.1, 5=5.0) for broker (a
    Broker or a port). With connect=True it is connected (CONNACK 0 asserted);
    keyword args keepalive/properties go to connect(), the rest to Client()."""
    port = broker.port if hasattr(broker, "port") else int(broker)
    ckw = {k: kw.pop(k) for k in ("keepalive", "properties", "expect_rc") if k in kw}
    will = kw.pop("will", None)
    c = Client(port, client_id, version, clean, **kw)
    if will:
        c.will_set(**will)
    if connect:
        c.connect(**ckw)
    return c


# --------------------------------------------------------------------------
# Raw MQTT packets
# --------------------------------------------------------------------------

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP = 8, 9, 10, 11, 12, 13
DISCONNECT, AUTH = 14, 15


class P:
    """MQTT v5 property identifiers."""
    PAYLOAD_FORMAT = 0x01
    MESSAGE_EXPIRY = 0x02
    CONTENT_TYPE = 0x03
    RESPONSE_TOPIC = 0x08
    CORRELATION_DATA = 0x09
    SUBSCRIPTION_ID = 0x0B
    SESSION_EXPIRY = 0x11
    ASSIGNED_CLIENT_ID = 0x12
    SERVER_KEEP_ALIVE = 0x13
    AUTH_METHOD = 0x15
    AUTH_DATA = 0x16
    REQUEST_PROBLEM_INFO = 0x17
    WILL_DELAY = 0x18
    REQUEST_RESPONSE_INFO = 0x19
    RESPONSE_INFO = 0x1A
    SERVER_REFERENCE = 0x1C
    REASON_STRING = 0x1F
    RECEIVE_MAXIMUM = 0x21
    TOPIC_ALIAS_MAXIMUM = 0x22
    TOPIC_ALIAS = 0x23
    MAXIMUM_QOS = 0x24
    RETAIN_AVAILABLE = 0x25
    USER_PROPERTY = 0x26
    MAXIMUM_PACKET_SIZE = 0x27
    WILDCARD_SUB_AVAILABLE = 0x28
    SUB_ID_AVAILABLE = 0x29
    SHARED_SUB_AVAILABLE = 0x2A


_BYTE = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
_U16 = {0x13, 0x21, 0x22, 0x23}
_U32 = {0x02, 0x11, 0x18, 0x27}
_VARINT = {0x0B}
_STR = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F}
_BIN = {0x09, 0x16}
_PAIR = {0x26}
_MULTI = {0x26, 0x0B}  # may repeat: decoded as lists


def encode_varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _b(s):
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def encode_str(s):
    s = _b(s)
    return struct.pack("!H", len(s)) + s


def props_bytes(props=None):
    """Encode v5 properties. props: list of (id, value) pairs (order kept);
    user property value is a (key, value) tuple. Returns length-prefixed bytes."""
    body = bytearray()
    for pid, val in (props or []):
        body += encode_varint(pid)
        if pid in _BYTE:
            body += struct.pack("!B", val)
        elif pid in _U16:
            body += struct.pack("!H", val)
        elif pid in _U32:
            body += struct.pack("!I", val)
        elif pid in _VARINT:
            body += encode_varint(val)
        elif pid in _STR or pid in _BIN:
            body += encode_str(val)
        elif pid in _PAIR:
            body += encode_str(val[0]) + encode_str(val[1])
        else:
            raise ValueError("unknown property 0x%02x" % pid)
    return encode_varint(len(body)) + bytes(body)


def decode_varint(buf, pos=0):
    mult, val = 1, 0
    for i in range(4):
        if pos + i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos + i]
        val += (b & 0x7F) * mult
        if not b & 0x80:
            return val, pos + i + 1
        mult *= 128
    raise ValueError("varint longer than 4 bytes")


def _str_at(buf, pos):
    (n,) = struct.unpack_from("!H", buf, pos)
    return bytes(buf[pos + 2:pos + 2 + n]), pos + 2 + n


def decode_props(buf, pos):
    """Decode a property block at pos -> (dict, new_pos). Strings are str,
    binary data bytes, user properties a list of (k, v), sub ids a list."""
    n, pos = decode_varint(buf, pos)
    end = pos + n
    out = {}
    while pos < end:
        pid, pos = decode_varint(buf, pos)
        if pid in _BYTE:
            val = buf[pos]; pos += 1
        elif pid in _U16:
            (val,) = struct.unpack_from("!H", buf, pos); pos += 2
        elif pid in _U32:
            (val,) = struct.unpack_from("!I", buf, pos); pos += 4
        elif pid in _VARINT:
            val, pos = decode_varint(buf, pos)
        elif pid in _STR:
            v, pos = _str_at(buf, pos); val = v.decode("utf-8")
        elif pid in _BIN:
            val, pos = _str_at(buf, pos)
        elif pid in _PAIR:
            k, pos = _str_at(buf, pos)
            v, pos = _str_at(buf, pos)
            val = (k.decode("utf-8"), v.decode("utf-8"))
        else:
            raise ValueError("unknown property 0x%02x" % pid)
        if pid in _MULTI:
            out.setdefault(pid, []).append(val)
        else:
            out[pid] = val
    return out, end


def fixed(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + encode_varint(len(body)) + bytes(body)


def connect_packet(client_id="", version=4, clean=True, keepalive=60,
                   props=None, will=None, username=None, password=None,
                   proto_name=None, flags_extra=0):
    """CONNECT. version: 3 (MQIsdp), 4 (3.1.1), 5. will: dict(topic, payload,
    qos=0, retain=False, props=None)."""
    if proto_name is None:
        proto_name = "MQIsdp" if version == 3 else "MQTT"
    flags = 0x02 if clean else 0
    if will:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    flags |= flags_extra
    body = encode_str(proto_name) + bytes([version, flags]) + struct.pack("!H", keepalive)
    if version == 5:
        body += props_bytes(props)
    body += encode_str(client_id)
    if will:
        if version == 5:
            body += props_bytes(will.get("props"))
        body += encode_str(will["topic"]) + encode_str(will.get("payload", b""))
    if username is not None:
        body += encode_str(username)
    if password is not None:
        body += encode_str(password)
    return fixed(CONNECT, 0, body)


def publish_packet(topic, payload=b"", qos=0, retain=False, dup=False,
                   packet_id=None, version=4, props=None):
    flags = (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    body = encode_str(topic)
    if qos > 0 or packet_id is not None:
        body += struct.pack("!H", packet_id if packet_id is not None else 1)
    if version == 5:
        body += props_bytes(props)
    body += _b(payload)
    return fixed(PUBLISH, flags, body)


def subscribe_packet(packet_id, filters, version=4, props=None):
    """filters: list of (filter, options_byte); options_byte is the QoS for
    v3 and the v5 subscription options byte (qos|nl<<2|rap<<3|rh<<4)."""
    body = struct.pack("!H", packet_id)
    if version == 5:
        body += props_bytes(props)
    for f, o in filters:
        body += encode_str(f) + bytes([o])
    return fixed(SUBSCRIBE, 2, body)


def unsubscribe_packet(packet_id, filters, version=4, props=None):
    body = struct.pack("!H", packet_id)
    if version == 5:
        body += props_bytes(props)
    for f in filters:
        body += encode_str(f)
    return fixed(UNSUBSCRIBE, 2, body)


def _ack(ptype, flags, packet_id, reason=None, version=4):
    body = struct.pack("!H", packet_id)
    if version == 5 and reason is not None:
        body += bytes([reason])
    return fixed(ptype, flags, body)


def puback_packet(pid, reason=None, version=4):
    return _ack(PUBACK, 0, pid, reason, version)


def pubrec_packet(pid, reason=None, version=4):
    return _ack(PUBREC, 0, pid, reason, version)


def pubrel_packet(pid, reason=None, version=4):
    return _ack(PUBREL, 2, pid, reason, version)


def pubcomp_packet(pid, reason=None, version=4):
    return _ack(PUBCOMP, 0, pid, reason, version)


def pingreq_packet():
    return b"\xc0\x00"


def disconnect_packet(reason=None, props=None):
    if reason is None and not props:
        return b"\xe0\x00"
    body = bytes([reason or 0])
    if props:
        body += props_bytes(props)
    return fixed(DISCONNECT, 0, body)


class Packet:
    """A decoded packet. Always: type, flags, body. Decoded per type (v5 aware
    when version=5): CONNACK session_present/rc/props; PUBLISH topic/qos/
    retain/dup/packet_id/props/payload; SUBACK/UNSUBACK packet_id/codes;
    PUBACK..PUBCOMP packet_id/rc; DISCONNECT rc/props."""

    NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC",
             6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK",
             10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
             14: "DISCONNECT", 15: "AUTH"}

    def __init__(self, first, body, version):
        self.type = first >> 4
        self.flags = first & 0x0F
        self.body = bytes(body)
        self.props = {}
        self.rc = None
        b = self.body
        t = self.type
        if t == CONNACK:
            self.session_present = bool(b[0] & 1)
            self.rc = b[1]
            if version == 5 and len(b) > 2:
                self.props, _ = decode_props(b, 2)
        elif t == PUBLISH:
            self.qos = (self.flags >> 1) & 3
            self.retain = bool(self.flags & 1)
            self.dup = bool(self.flags & 8)
            topic, pos = _str_at(b, 0)
            self.topic = topic.decode("utf-8")
            self.packet_id = None
            if self.qos:
                (self.packet_id,) = struct.unpack_from("!H", b, pos); pos += 2
            if version == 5:
                self.props, pos = decode_props(b, pos)
            self.payload = b[pos:]
        elif t in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            (self.packet_id,) = struct.unpack_from("!H", b, 0)
            self.rc = b[2] if len(b) > 2 else 0
            if version == 5 and len(b) > 3:
                self.props, _ = decode_props(b, 3)
        elif t in (SUBACK, UNSUBACK):
            (self.packet_id,) = struct.unpack_from("!H", b, 0)
            pos = 2
            if version == 5:
                self.props, pos = decode_props(b, pos)
            self.codes = list(b[pos:])
        elif t == DISCONNECT:
            self.rc = b[0] if b else 0
            if len(b) > 1:
                self.props, _ = decode_props(b, 1)

    @property
    def name(self):
        return self.NAMES.get(self.type, "?%d" % self.type)

    def __repr__(self):
        extra = ""
        if self.rc is not None:
            extra += " rc=0x%02x" % self.rc
        if self.type == PUBLISH:
            extra += " topic=%r qos=%d payload=%r" % (self.topic, self.qos, self.payload[:40])
        if self.type in (SUBACK, UNSUBACK):
            extra += " codes=%r" % self.codes
        if self.props:
            extra += " props=%r" % self.props
        return "<%s%s>" % (self.name, extra)


class RawClient:
    """A plain TCP socket speaking hand-built MQTT."""

    def __init__(self, port, timeout=DEFAULT_TIMEOUT, version=4):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.version = version
        self.buf = bytearray()
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)
        return self

    def _fill(self, deadline):
        """Read more bytes into buf. Returns False on EOF/reset."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise ConnectionError("connection closed after %d of %d bytes"
                                      % (len(self.buf), n))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _complete_packet_len(self):
        """Total length of the first buffered packet, or None if incomplete."""
        if len(self.buf) < 2:
            return None
        try:
            rl, pos = decode_varint(self.buf, 1)
        except ValueError as e:
            if "truncated" in str(e):
                return None
            raise
        return pos + rl if len(self.buf) >= pos + rl else None

    def read_packet(self, timeout=None):
        """Next packet, decoded. Raises socket.timeout if none in time and
        ConnectionError if the connection closed first."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            total = self._complete_packet_len()
            if total is not None:
                first = self.buf[0]
                rl, pos = decode_varint(self.buf, 1)
                body = bytes(self.buf[pos:total])
                del self.buf[:total]
                return Packet(first, body, self.version)
            if not self._fill(deadline):
                raise ConnectionError("connection closed (%d stray bytes)" % len(self.buf))

    def expect_packet(self, ptype, timeout=None, skip=()):
        """Read packets until one of type ptype arrives (types in skip are
        ignored, anything else fails)."""
        while True:
            p = self.read_packet(timeout)
            if p.type == ptype:
                return p
            if p.type not in skip:
                raise AssertionError("expected %s, got %r" % (Packet.NAMES[ptype], p))

    def connect(self, client_id=None, version=4, clean=True, keepalive=60,
                props=None, will=None, expect_rc=0, **kw):
        """Send CONNECT and read the CONNACK (asserting its code)."""
        self.version = version
        if client_id is None:
            client_id = unique("raw")
        self.client_id = client_id
        self.send(connect_packet(client_id, version, clean, keepalive, props, will, **kw))
        p = self.read_packet()
        if p.type != CONNACK:
            raise AssertionError("expected CONNACK, got %r" % p)
        if expect_rc is not None and p.rc != expect_rc:
            raise AssertionError("CONNACK rc 0x%02x, expected 0x%02x" % (p.rc, expect_rc))
        return p

    def subscribe(self, filters, packet_id=1, props=None):
        if isinstance(filters, str):
            filters = [(filters, 0)]
        self.send(subscribe_packet(packet_id, filters, self.version, props))
        p = self.expect_packet(SUBACK)
        if p.packet_id != packet_id:
            raise AssertionError("SUBACK for packet id %d, expected %d" % (p.packet_id, packet_id))
        return p.codes

    def publish(self, topic, payload=b"", qos=0, retain=False, packet_id=None,
                props=None, dup=False):
        if qos and packet_id is None:
            packet_id = 1
        self.send(publish_packet(topic, payload, qos, retain, dup, packet_id,
                                 self.version, props))

    def read_until_closed(self, timeout=None):
        """Read packets until EOF; return them. Fails if the connection is
        still open after timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        packets = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("connection still open after %.1fs; got %r"
                                     % (timeout or self.timeout, packets))
            try:
                packets.append(self.read_packet(left))
            except ConnectionError:
                return packets
            except socket.timeout:
                raise AssertionError("connection still open after %.1fs; got %r"
                                     % (timeout or self.timeout, packets)) from None
            except ValueError:
                # undecodable bytes: treat as stray, keep waiting for EOF
                self.buf.clear()

    def assert_closed(self, timeout=None, allow=()):
        """Assert the server closes the connection; only packet types in
        allow may arrive first. Returns the packets that arrived."""
        packets = self.read_until_closed(timeout)
        bad = [p for p in packets if p.type not in allow]
        if bad:
            raise AssertionError("unexpected packets before close: %r" % bad)
        return packets

    def is_open(self, wait=0.3):
        """True if nothing indicates a close within `wait` s (data is kept)."""
        deadline = time.monotonic() + wait
        try:
            while True:
                if not self._fill(deadline):
                    return False
        except socket.timeout:
            return True

    def expect_nothing(self, wait=0.5):
        """Assert that no packet arrives within `wait` s and the connection
        stays open."""
        try:
            p = self.read_packet(wait)
        except socket.timeout:
            return
        except ConnectionError:
            raise AssertionError("connection closed while expecting nothing") from None
        raise AssertionError("unexpected packet: %r" % p)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_connect(port, data=None, timeout=DEFAULT_TIMEOUT):
    """Open a raw TCP connection to port and optionally send bytes."""
    r = RawClient(port, timeout)
    if data:
        r.send(data)
    return r


class PingProbe(threading.Thread):
    """A client of its own sending PINGREQ after PINGREQ (every `interval` s) and timing each
    PINGRESP, until stop(): whether a broker kept serving others while one client's work ran.
    stop() returns the worst round trip in seconds (and raises what the thread met); the
    round trips are in .rtts."""

    def __init__(self, port, interval=0.005, timeout=30):
        super().__init__(daemon=True)
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(unique("ping"), 4, keepalive=0))
        if self.sock.recv(4)[:1] != bytes([CONNACK << 4]):
            raise ConnectionError("ping client: no CONNACK")
        self.interval = interval
        self.rtts = []
        self.error = None
        self._halt = threading.Event()

    @property
    def count(self):
        return len(self.rtts)

    def run(self):
        try:
            while not self._halt.is_set():
                t0 = time.monotonic()
                self.sock.sendall(pingreq_packet())
                got = b""
                while len(got) < 2:
                    chunk = self.sock.recv(2 - len(got))
                    if not chunk:
                        raise ConnectionError("ping client disconnected")
                    got += chunk
                if got != bytes([PINGRESP << 4, 0]):
                    raise AssertionError("ping client got %r" % got)
                self.rtts.append(time.monotonic() - t0)
                time.sleep(self.interval)
        except Exception as e:  # reported by stop()
            self.error = e

    def stop(self):
        self._halt.set()
        self.join(10)
        self.sock.close()
        if self.error is not None:
            raise self.error
        return max(self.rtts, default=0.0)
