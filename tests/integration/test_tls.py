"""TLS listeners (broker/transport/tls.c, broker/core/xport.c): TLS 1.2 and 1.3, tls_version, mutual TLS,
use_identity_as_username with an ACL by CN, mosquitto_pub/sub over TLS, bad TLS, several
listeners at once, handoff of TLS connections between worker loops, and SIGHUP reload of a
replaced certificate. Certificates are made here with the openssl CLI (certs.py)."""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from certs import Pki, PkiTestCase
from harness import (DEFAULT_TIMEOUT, HOST, CONNACK, SUBACK, PUBLISH, PINGRESP, Broker,
                     OwnBrokerTestCase, RawClient, client, connect_packet, free_port,
                     pingreq_packet, publish_packet, starling_only, subscribe_packet, unique,
                     wait_until)

HAVE_OPENSSL = shutil.which("openssl") is not None


def tls_ctx(pki, min_v=None, max_v=None, cert=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca_cert)
    if min_v is not None:
        ctx.minimum_version = min_v
    if max_v is not None:
        ctx.maximum_version = max_v
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


def tls_raw(port, ctx, timeout=DEFAULT_TIMEOUT):
    """A RawClient whose socket speaks TLS (handshake done on return)."""
    r = RawClient(port, timeout)
    r.sock = ctx.wrap_socket(r.sock, server_hostname=HOST)
    return r


def connack_rc(r, cid=None, version=4, **kw):
    r.send(connect_packet(cid or unique("tls"), version=version, **kw))
    p = r.read_packet()
    assert p.type == CONNACK, p
    return p.rc


def refused_after_handshake(port, ctx):
    """Whether a client is refused: at the handshake (TLS 1.2), or (TLS 1.3, where the client
    finishes first) by an alert or EOF instead of a CONNACK."""
    try:
        r = tls_raw(port, ctx)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    try:
        r.send(connect_packet(unique("tls")))
        r.read_packet()
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    finally:
        r.sock.close()
    return False


@unittest.skipUnless(HAVE_OPENSSL, "needs the openssl CLI")
class TestTls(PkiTestCase):
    """One broker, one plain listener and five TLS ones: several listeners at once."""
    TMP_PREFIX = "starling-tls-"
    ACL = """# anonymous clients
topic readwrite public/#

user alice
topic readwrite secure/alice/#
"""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mallory = cls.pki.other_client("alice")  # right CN, untrusted CA
        cls.ports = {k: free_port() for k in ("tls", "tls13", "mutual", "identity", "id_opt")}
        p = cls.pki
        conf = ["acl_file %s" % cls.acl, "worker_threads 4"]
        conf += ["listener %d %s" % (cls.ports["tls"], HOST)] + p.tls_conf()
        conf += ["listener %d %s" % (cls.ports["tls13"], HOST)] + p.tls_conf(
            extra=["tls_version tlsv1.3"])
        conf += ["listener %d %s" % (cls.ports["mutual"], HOST)] + p.tls_conf(require=True)
        conf += ["listener %d %s" % (cls.ports["identity"], HOST)] + p.tls_conf(
            require=True, identity=True)
        conf += ["listener %d %s" % (cls.ports["id_opt"], HOST)] + p.tls_conf(identity=True)
        cls.srv = Broker(conf)
        cls.srv.start()

    def tls_client(self, port, cert=None, **kw):
        tls = {"ca_certs": self.pki.ca_cert}
        if cert is not None:
            tls.update(certfile=cert[0], keyfile=cert[1])
        return self.client(port, tls=tls, **kw)

    def test_tls12_and_tls13(self):
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            r = tls_raw(self.ports["tls"], tls_ctx(self.pki, v, v))
            self._closers.append(r)
            self.assertEqual(r.sock.version(), {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                                ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v])
            self.assertEqual(connack_rc(r), 0)
            t = "public/" + unique()
            r.send(subscribe_packet(1, [(t, 0)]))
            self.assertEqual(r.read_packet().type, SUBACK)
            r.send(publish_packet(t, b"x" * 70000))  # larger than a TLS record
            p = r.read_packet()
            self.assertEqual((p.type, len(p.payload)), (PUBLISH, 70000))
            # Over 1 MB, decoded off the loop, with a PINGREQ in the records behind it.
            r.send(publish_packet(t, b"y" * 3000000) + pingreq_packet())
            p = r.read_packet(timeout=30)
            self.assertEqual((p.type, len(p.payload)), (PUBLISH, 3000000))
            self.assertEqual(r.read_packet().type, PINGRESP)

    def test_tls_version_tlsv13_refuses_tls12(self):
        ctx12 = tls_ctx(self.pki, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            tls_raw(self.ports["tls13"], ctx12)
        r = tls_raw(self.ports["tls13"], tls_ctx(self.pki))
        self._closers.append(r)
        self.assertEqual(r.sock.version(), "TLSv1.3")
        self.assertEqual(connack_rc(r), 0)

    def test_mutual_tls_good_certificate(self):
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            r = tls_raw(self.ports["mutual"], tls_ctx(self.pki, v, v, cert=self.alice))
            self._closers.append(r)
            self.assertEqual(connack_rc(r), 0)

    def test_mutual_tls_refuses_other_ca_and_none(self):
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            self.assertTrue(refused_after_handshake(
                self.ports["mutual"], tls_ctx(self.pki, v, v, cert=self.mallory)))
            self.assertTrue(refused_after_handshake(self.ports["mutual"],
                                                    tls_ctx(self.pki, v, v)))
        self.assertTrue(self.srv.alive())

    def test_identity_as_username_acl_by_cn(self):
        # alice's certificate: her ACL section applies, whatever user name CONNECT gives.
        alice = self.tls_client(self.ports["identity"], cert=self.alice, version=4,
                                username="bob", password="wrong")
        t = "secure/alice/" + unique()
        self.assertEqual(alice.subscribe(t, 1), [1])
        alice.publish(t, b"for alice", 1)
        self.assertEqual(alice.expect(1)[0].payload, b"for alice")
        # bob's certificate: not allowed there (SUBACK 0x80), allowed where anonymous is not.
        bob = self.tls_client(self.ports["identity"], cert=self.bob, version=4)
        self.assertEqual(bob.subscribe("secure/alice/#", 1), [0x80])
        self.assertEqual(bob.subscribe("public/" + unique(), 1), [0x80])

    def test_identity_as_username_without_certificate_refused(self):
        # mosquitto: no certificate to take the name from -> bad user name or password.
        r = tls_raw(self.ports["id_opt"], tls_ctx(self.pki))
        self._closers.append(r)
        self.assertEqual(connack_rc(r, username="alice", password="x"), 4)
        r = tls_raw(self.ports["id_opt"], tls_ctx(self.pki))
        self._closers.append(r)
        self.assertEqual(connack_rc(r, version=5), 0x86)
        r = tls_raw(self.ports["id_opt"], tls_ctx(self.pki, cert=self.alice))
        self._closers.append(r)
        self.assertEqual(connack_rc(r), 0)

    def test_mosquitto_clients_over_tls(self):
        if not shutil.which("mosquitto_pub"):
            self.skipTest("mosquitto-clients not installed")
        t = "public/" + unique()
        port = str(self.ports["tls"])
        sub = subprocess.Popen(["mosquitto_sub", "-h", HOST, "-p", port, "--cafile",
                                self.pki.ca_cert, "-t", t, "-C", "1", "-W", "10", "-q", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for _ in range(20):  # until the subscriber's SUBSCRIBE has arrived
                subprocess.run(["mosquitto_pub", "-h", HOST, "-p", port, "--cafile",
                                self.pki.ca_cert, "-t", t, "-m", "over tls", "-q", "1"],
                               check=True, timeout=10)
                try:
                    out, err = sub.communicate(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    continue
            else:
                self.fail("mosquitto_sub got nothing")
            self.assertEqual(out.strip(), b"over tls", err)
        finally:
            if sub.poll() is None:
                sub.kill()
                sub.wait()
        # With a client certificate on the identity listener.
        subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(self.ports["identity"]),
                        "--cafile", self.pki.ca_cert, "--cert", self.alice[0], "--key",
                        self.alice[1], "-t", "secure/alice/x", "-m", "m", "-q", "1"],
                       check=True, timeout=10)

    def test_bad_tls_closed_cleanly(self):
        port = self.ports["tls"]
        cases = [connect_packet("plain-on-tls"),            # MQTT without TLS
                 b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",  # a broken ClientHello
                 b"GET / HTTP/1.1\r\n\r\n",
                 os.urandom(3000)]
        for data in cases:
            s = socket.create_connection((HOST, port), timeout=5)
            s.sendall(data)
            s.settimeout(5)
            try:
                while s.recv(4096):  # an alert at most, then EOF
                    pass
            except ConnectionResetError:
                pass
            s.close()
        # A client that stops in the middle of its handshake costs nothing either.
        s = socket.create_connection((HOST, port), timeout=5)
        s.sendall(b"\x16\x03\x01\x02\x00")
        s.close()
        self.assertTrue(self.srv.alive())
        r = tls_raw(port, tls_ctx(self.pki))
        self._closers.append(r)
        self.assertEqual(connack_rc(r), 0)

    def test_clients_on_every_loop_and_takeover(self):
        """worker_threads 4: a CONNECT landing on another loop than its client id's owner
        moves with its TLS session (worker_handoff); plain and TLS clients talk."""
        t = "public/" + unique()
        sub = self.client(self.srv.port, version=4)
        self.assertEqual(sub.subscribe(t + "/#", 1), [1])
        clients = []
        for i in range(12):
            c = self.tls_client(self.ports["tls"], client_id=unique("h%d" % i), version=5)
            c.publish("%s/%d" % (t, i), b"m%d" % i, 1)
            clients.append(c)
        got = sorted(m.payload for m in sub.expect(12))
        self.assertEqual(got, sorted(b"m%d" % i for i in range(12)))
        # Takeover of a TLS session by a second TLS connection with the same id.
        cid = clients[0].client_id
        again = self.tls_client(self.ports["mutual"], cert=self.alice, client_id=cid, version=5)
        self.assertIsNotNone(clients[0].wait_disconnected(), "old TLS client not taken over")
        again.publish(t + "/again", b"again", 1)
        self.assertEqual(sub.expect(1)[0].payload, b"again")


@unittest.skipUnless(HAVE_OPENSSL, "needs the openssl CLI")
@unittest.skipUnless(HAVE_OPENSSL, "needs the openssl CLI")
class TestTlsIssue11(OwnBrokerTestCase):
    """crlfile (read and ignored before) and TLS 1.2 defaults without weak suites."""

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="starling-tls11-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.pki = Pki(os.path.join(self.tmp, "pki"))

    def readable(self):
        """mosquitto started as root reads its files as user mosquitto (BROKER=mosquitto)."""
        for d, _, files in os.walk(self.tmp):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)

    def test_crlfile_refuses_revoked_and_reloads(self):
        alice, bob = self.pki.client("alice"), self.pki.client("bob")
        crl = self.pki.crl(revoked=[bob[0]])
        self.readable()
        port = free_port()
        b = self.broker(["listener %d %s" % (port, HOST), "crlfile " + crl]
                        + self.pki.tls_conf(require=True))
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            self.assertTrue(refused_after_handshake(port, tls_ctx(self.pki, v, v, cert=bob)))
            r = tls_raw(port, tls_ctx(self.pki, v, v, cert=alice))
            self._closers.append(r)
            self.assertEqual(connack_rc(r), 0)
        # A new list revoking alice instead, read on SIGHUP.
        self.pki.crl(revoked=[alice[0]])
        self.readable()
        os.kill(b.pid, signal.SIGHUP)
        if "mosquitto" not in os.path.basename(b.binary):
            self.assertTrue(wait_until(lambda: "certificate reloaded" in b.logs()))
        else:
            time.sleep(1)
        self.assertTrue(refused_after_handshake(port, tls_ctx(self.pki, cert=alice)))
        r = tls_raw(port, tls_ctx(self.pki, cert=bob))
        self._closers.append(r)
        self.assertEqual(connack_rc(r), 0)

    def _tls12_with(self, port, ciphers):
        ctx = tls_ctx(self.pki, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers(ciphers)
        try:
            r = tls_raw(port, ctx)
        except (ssl.SSLError, ConnectionError, OSError):
            return None
        self._closers.append(r)
        return r.sock.cipher()[0]

    @starling_only("mosquitto 2.0.11 offers OpenSSL's default list, CBC-SHA1 and RSA "
                   "key exchange included")
    def test_tls12_default_is_forward_secret_aead(self):
        cert, key = self.pki.rsa_server_cert()
        port, wide = free_port(), free_port()
        self.broker(["listener %d %s" % (port, HOST), "certfile " + cert, "keyfile " + key,
                     "listener %d %s" % (wide, HOST), "certfile " + cert, "keyfile " + key,
                     "ciphers DEFAULT"])
        self.assertEqual(self._tls12_with(port, "ECDHE-RSA-AES128-GCM-SHA256"),
                         "ECDHE-RSA-AES128-GCM-SHA256")
        self.assertEqual(self._tls12_with(port, "ECDHE-RSA-CHACHA20-POLY1305"),
                         "ECDHE-RSA-CHACHA20-POLY1305")
        self.assertIsNone(self._tls12_with(port, "AES128-GCM-SHA256"))      # RSA kex
        self.assertIsNone(self._tls12_with(port, "ECDHE-RSA-AES128-SHA"))   # CBC-SHA1
        # ciphers widens it again.
        self.assertEqual(self._tls12_with(wide, "ECDHE-RSA-AES128-SHA"), "ECDHE-RSA-AES128-SHA")
        self.assertEqual(self._tls12_with(wide, "AES128-GCM-SHA256"), "AES128-GCM-SHA256")


class TestTlsReload(OwnBrokerTestCase):

    @starling_only("waits for Starling's log lines about the reload")
    def test_sighup_reloads_certificate_keeps_connections(self):
        tmp = tempfile.mkdtemp(prefix="starling-tls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        pki = Pki(os.path.join(tmp, "pki"))
        live_cert = os.path.join(tmp, "live.pem")
        live_key = os.path.join(tmp, "live.key")
        shutil.copy(pki.server, live_cert)
        shutil.copy(pki.server_key, live_key)
        port = free_port()
        b = self.broker(["listener %d %s" % (port, HOST), "cafile " + pki.ca_cert,
                         "certfile " + live_cert, "keyfile " + live_key])
        old = tls_raw(port, tls_ctx(pki))
        self._closers.append(old)
        first = old.sock.getpeercert()
        self.assertEqual(connack_rc(old, "keeper"), 0)
        # Replace the certificate and key on disk, then SIGHUP.
        cert2, key2 = pki.server_cert("server2", "server2.pem")
        shutil.copy(cert2, live_cert)
        shutil.copy(key2, live_key)
        os.kill(b.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "certificate reloaded" in b.logs()))
        new = tls_raw(port, tls_ctx(pki))
        self._closers.append(new)
        self.assertNotEqual(new.sock.getpeercert()["serialNumber"], first["serialNumber"])
        self.assertEqual(connack_rc(new), 0)
        # The old connection is still up, on its old session.
        t = "public/" + unique()
        old.send(subscribe_packet(1, [(t, 0)]))
        self.assertEqual(old.read_packet().type, SUBACK)
        new.send(publish_packet(t, b"after reload"))
        self.assertEqual(old.read_packet().payload, b"after reload")
        # A broken replacement is refused and the working certificate stays.
        with open(live_cert, "w") as f:
            f.write("not a certificate\n")
        os.kill(b.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "reload failed, keeping the old" in b.logs()))
        r = tls_raw(port, tls_ctx(pki))
        self._closers.append(r)
        self.assertEqual(r.sock.getpeercert()["serialNumber"],
                         new.sock.getpeercert()["serialNumber"])

    @starling_only("checks Starling's error message")
    def test_bad_tls_config_refused_at_start(self):
        tmp = tempfile.mkdtemp(prefix="starling-tls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        pki = Pki(os.path.join(tmp, "pki"))
        port = free_port()
        for lines, why in (
                (["certfile " + pki.server], "certfile and keyfile go together"),
                (["certfile " + pki.server, "keyfile " + pki.ca_key], "cannot use keyfile"),
                (["certfile /nonexistent.pem", "keyfile " + pki.server_key], "certfile"),
                (["certfile " + pki.server, "keyfile " + pki.server_key,
                  "require_certificate true"], "need cafile")):
            b = self.broker(["listener %d %s" % (port, HOST)] + lines, start=False)
            b.spawn()
            self.assertEqual(b.wait_exit(10), 1)
            self.assertIn(why, b.logs())


if __name__ == "__main__":
    unittest.main()
