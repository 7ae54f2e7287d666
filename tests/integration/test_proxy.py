"""PROXY protocol listeners (`proxy_protocol true`; broker/transport/proxy.c, broker/core/xport.c): v1 and v2
headers by hand (split, missing, malformed, oversized) and through a real HAProxy started here
on loopback (`send-proxy`, `send-proxy-v2`, and `send-proxy-v2-ssl-cn` with HAProxy
terminating TLS with a client certificate, whose CN becomes the user name with
use_identity_as_username). Clients connect from 127.0.0.2 so that the address the broker logs
can only have come from the header (HAProxy itself connects from 127.0.0.1)."""

import os
import shutil
import socket
import ssl
import struct
import subprocess
import time
import unittest

from certs import PkiTestCase
from harness import (CONNACK, DEFAULT_TIMEOUT, HOST, SUBACK, TIME_SCALE, Broker,
                     OwnBrokerTestCase, RawClient, connect_packet, free_port, starling_only,
                     subscribe_packet, unique, wait_until)

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy")
                                      else None)
HAVE_OPENSSL = shutil.which("openssl") is not None
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
SRC = "127.0.0.2"  # a loopback address of its own: what the broker must log


def v2_header(src="192.0.2.7", dst="10.0.0.1", sport=50000, dport=1883, tlvs=b"", cmd=0x21):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    body += tlvs
    return V2_SIG + bytes([cmd, 0x11]) + struct.pack("!H", len(body)) + body


def raw_from(port, src=SRC, timeout=DEFAULT_TIMEOUT):
    """A RawClient whose socket is bound to src."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((HOST, port))
    r = RawClient.__new__(RawClient)
    r.sock, r.timeout, r.version, r.buf, r.eof = s, timeout, 4, bytearray(), False
    return r


@starling_only("proxy_protocol is a Starling key")
class TestProxyHeaders(OwnBrokerTestCase):
    """Headers written by hand."""

    def setUp(self):
        super().setUp()
        self.pport = free_port()
        self.b = self.broker(["listener %d %s" % (self.pport, HOST), "proxy_protocol true"])

    def connected_from(self, addr):
        return wait_until(lambda: "connected from %s as" % addr in self.b.logs())

    def test_v1_tcp4_and_tcp6(self):
        for line, addr in ((b"PROXY TCP4 203.0.113.9 10.0.0.1 51000 1883\r\n", "203.0.113.9"),
                           (b"PROXY TCP6 2001:db8::9 2001:db8::1 51000 1883\r\n",
                            "2001:db8::9")):
            r = self.raw(self.pport)
            r.send(line + connect_packet(unique("v1")))  # header and CONNECT in one write
            self.assertEqual(r.read_packet().type, CONNACK)
            self.assertTrue(self.connected_from(addr), addr)

    def test_v1_unknown_keeps_socket_address(self):
        r = self.raw(self.pport)
        r.send(b"PROXY UNKNOWN\r\n" + connect_packet(unique("v1")))
        self.assertEqual(r.read_packet().type, CONNACK)
        self.assertTrue(self.connected_from("127.0.0.1"))

    def test_v2_split_across_writes(self):
        r = self.raw(self.pport)
        hdr = v2_header("198.51.100.20")
        for i in range(len(hdr)):
            r.send(hdr[i:i + 1])
            time.sleep(0.005)
        r.send(connect_packet(unique("v2")))
        self.assertEqual(r.read_packet().type, CONNACK)
        self.assertTrue(self.connected_from("198.51.100.20"))

    def test_v2_local_command(self):
        r = self.raw(self.pport)
        r.send(v2_header(cmd=0x20) + connect_packet(unique("v2")))
        self.assertEqual(r.read_packet().type, CONNACK)

    def test_header_required(self):
        bad = [connect_packet(unique("nohdr")),                       # none at all
               b"PROXY TCP4 999.0.0.1 10.0.0.1 1 2\r\n",              # bad address
               b"PROXY TCP4 1.2.3.4 10.0.0.1 1 2\n" + b"x" * 120,    # no CRLF, too long
               V2_SIG + b"\x21\x11\xff\xff",                          # 64 KB announced
               V2_SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12]          # version 3
        for data in bad:
            r = self.raw(self.pport)
            r.send(data)
            r.assert_closed()
        self.assertIn("PROXY header", self.b.logs())
        r = self.raw(self.pport)
        r.send(b"PROXY TCP4 192.0.2.1 10.0.0.1 1 2\r\n" + connect_packet(unique("ok")))
        self.assertEqual(r.read_packet().type, CONNACK)


def haproxy_config(d, pki, ports, broker_port, identity_port):
    crt = os.path.join(d, "haproxy.pem")  # HAProxy takes certificate and key in one file
    with open(crt, "w") as out:
        for p in (pki.server, pki.server_key):
            with open(p) as f:
                out.write(f.read())
    cfg = """global
    maxconn 200
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe_v1
    bind {h}:{p1}
    default_backend be_v1
backend be_v1
    server broker {h}:{bp} send-proxy
frontend fe_v2
    bind {h}:{p2}
    default_backend be_v2
backend be_v2
    server broker {h}:{bp} send-proxy-v2
frontend fe_tls
    bind {h}:{p3} ssl crt {crt} ca-file {ca} verify required
    default_backend be_tls
backend be_tls
    server broker {h}:{ip} send-proxy-v2-ssl-cn
""".format(h=HOST, p1=ports[0], p2=ports[1], p3=ports[2], bp=broker_port, ip=identity_port,
           crt=crt, ca=pki.ca_cert)
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(cfg)
    return path


@unittest.skipUnless(HAPROXY and HAVE_OPENSSL, "needs haproxy and the openssl CLI")
@starling_only("proxy_protocol is a Starling key")
class TestHaproxy(PkiTestCase):
    """A real HAProxy in front of the broker, one frontend per kind of header."""
    TMP_PREFIX = "starling-haproxy-"
    ACL = """topic readwrite public/#

user alice
topic readwrite secure/alice/#
"""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bport, cls.iport = free_port(), free_port()
        cls.srv = Broker(["acl_file " + cls.acl, "worker_threads 2",
                          "listener %d %s" % (cls.bport, HOST), "proxy_protocol true",
                          "listener %d %s" % (cls.iport, HOST), "proxy_protocol true",
                          "use_identity_as_username true"])
        cls.srv.start()
        cls.hlog = open(os.path.join(cls.tmp, "haproxy.log"), "wb")
        # A port picked free may be taken by another test before HAProxy binds it: then it
        # exits, and a second try with fresh ports is fair.
        for _ in range(3):
            cls.hports = [free_port() for _ in range(3)]
            cfg = haproxy_config(cls.tmp, cls.pki, cls.hports, cls.bport, cls.iport)
            cls.haproxy = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdout=cls.hlog,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if cls._haproxy_up(30 * TIME_SCALE):
                return
            cls._haproxy_stop()
        cls.tearDownClass()
        with open(os.path.join(cls.tmp, "haproxy.log"), "rb") as f:
            raise RuntimeError("haproxy did not start:\n" + f.read()[-2000:].decode("latin-1"))

    @classmethod
    def _haproxy_up(cls, timeout):
        """Whether HAProxy accepts on all its ports within timeout; False at once if it
        exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and cls.haproxy.poll() is None:
            try:
                for p in cls.hports:
                    socket.create_connection((HOST, p), timeout=0.2).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    @classmethod
    def _haproxy_stop(cls):
        if cls.haproxy.poll() is None:
            cls.haproxy.terminate()
            try:
                cls.haproxy.wait(5)
            except subprocess.TimeoutExpired:
                cls.haproxy.kill()
                cls.haproxy.wait()

    @classmethod
    def tearDownClass(cls):
        cls._haproxy_stop()
        cls.hlog.close()
        super().tearDownClass()

    def tls_from(self, cert):
        ctx = ssl.create_default_context(cafile=self.pki.ca_cert)
        ctx.load_cert_chain(*cert)
        r = raw_from(self.hports[2])
        r.sock = ctx.wrap_socket(r.sock, server_hostname=HOST)
        self._closers.append(r)
        return r

    def test_send_proxy_v1_and_v2(self):
        for port in self.hports[:2]:
            cid = unique("hp")
            r = raw_from(port)
            self._closers.append(r)
            r.send(connect_packet(cid))
            self.assertEqual(r.read_packet().type, CONNACK)
            self.assertTrue(wait_until(
                lambda: "connected from %s as '%s'" % (SRC, cid) in self.srv.logs()),
                "the broker did not log the client's own address")

    def test_send_proxy_v2_ssl_cn_identity(self):
        # alice's certificate, verified by HAProxy: her ACL section applies.
        r = self.tls_from(self.alice)
        r.send(connect_packet(unique("cn"), username="mallory", password="x"))
        self.assertEqual(r.read_packet().rc, 0)
        r.send(subscribe_packet(1, [("secure/alice/#", 1)]))
        p = r.read_packet()
        self.assertEqual((p.type, p.codes), (SUBACK, [1]))
        # bob's: refused there.
        r = self.tls_from(self.bob)
        r.send(connect_packet(unique("cn")))
        self.assertEqual(r.read_packet().rc, 0)
        r.send(subscribe_packet(1, [("secure/alice/#", 1)]))
        self.assertEqual(r.read_packet().codes, [0x80])
        # Straight to the identity listener with a v2 header but no SSL TLV: no identity.
        r = self.raw(self.iport)
        r.send(v2_header() + connect_packet(unique("cn")))
        self.assertEqual(r.read_packet().rc, 4)  # bad user name or password (mosquitto)

    def test_v2_forged_unverified_cn_not_trusted(self):
        """A PP2_TYPE_SSL TLV whose verify field says the certificate failed: no identity."""
        cn = b"alice"
        sub = bytes([0x22]) + struct.pack("!H", len(cn)) + cn
        ssl_tlv = bytes([0x03]) + struct.pack("!I", 1) + sub  # client bits, verify = failed
        tlv = bytes([0x20]) + struct.pack("!H", len(ssl_tlv)) + ssl_tlv
        r = self.raw(self.iport)
        r.send(v2_header(tlvs=tlv) + connect_packet(unique("cn")))
        self.assertEqual(r.read_packet().rc, 4)
        ssl_tlv = bytes([0x07]) + struct.pack("!I", 0) + sub  # verified
        tlv = bytes([0x20]) + struct.pack("!H", len(ssl_tlv)) + ssl_tlv
        r = self.raw(self.iport)
        r.send(v2_header(tlvs=tlv) + connect_packet(unique("cn")))
        self.assertEqual(r.read_packet().rc, 0)


if __name__ == "__main__":
    unittest.main()
