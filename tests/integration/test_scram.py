"""MQTT 5 enhanced authentication with SCRAM-SHA-256 and SCRAM-SHA-512 (spec 4.12,
AUTH 3.15; RFC 5802, RFC 7677), from a raw-socket client that does SCRAM with
hashlib/hmac only: SHA-512 from the "$7$" lines of mosquitto_passwd and
starling_passwd, SHA-256 (and SHA-512) from a scram_file made by starling_passwd
-H scram-*, the server signature checked by the client, wrong passwords, unknown
users, unknown methods, the ACL applied to the SCRAM user, protocol errors,
re-authentication, the exchange's time limit and bad files at start."""

import base64
import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import *

HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}

# alice: "$7$" by mosquitto_passwd and a SCRAM-SHA-256 line; carol: "$7$" by
# starling_passwd; dave: "$6$"; erin: "$6$" with both SCRAM lines; ghost: SCRAM
# lines but not in the password file.
USERS = {"alice": "alice pw", "carol": "carol-pw", "dave": "dave-pw", "erin": "erin-pw",
         "ghost": "ghost-pw"}

ACL = """user alice
topic readwrite alice/#

user erin
topic read alice/#

pattern readwrite users/%u/#
"""


def run_tool(*args):
    p = subprocess.run(list(args), capture_output=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError("%r failed: %s" % (args, (p.stdout + p.stderr).decode()))


def make_files(d):
    """password file, scram file and ACL in d; returns their paths, or raises SkipTest."""
    sp = starling_passwd()
    for tool in (MOSQUITTO_PASSWD, sp):
        if not os.access(tool, os.X_OK):
            raise unittest.SkipTest("%s not available" % tool)
    pw, scram, acl = (os.path.join(d, n) for n in ("passwd", "scram", "acl"))
    run_tool(MOSQUITTO_PASSWD, "-c", "-b", pw, "alice", USERS["alice"])
    run_tool(sp, "-b", pw, "carol", USERS["carol"])
    run_tool(sp, "-H", "sha512", "-b", pw, "dave", USERS["dave"])
    run_tool(sp, "-H", "sha512", "-b", pw, "erin", USERS["erin"])
    run_tool(sp, "-H", "scram-sha-256", "-c", "-b", scram, "alice", USERS["alice"])
    for mech in ("scram-sha-256", "scram-sha-512"):
        run_tool(sp, "-H", mech, "-b", scram, "erin", USERS["erin"])
        run_tool(sp, "-H", mech, "-b", scram, "ghost", USERS["ghost"])
    with open(acl, "w") as f:
        f.write(ACL)
    for p in (pw, scram, acl):
        readable(p)
    return pw, scram, acl


def b64(data):
    return base64.b64encode(data).decode()


def hi(name, password, salt, iterations):
    """RFC 5802 2.2 Hi(), written out (not hashlib.pbkdf2_hmac): U1 = HMAC(password,
    salt + INT(1)), Ui = HMAC(password, Ui-1), Hi = U1 ^ ... ^ Ui."""
    u = hmac.new(password, salt + b"\x00\x00\x00\x01", name).digest()
    out = bytearray(u)
    for _ in range(iterations - 1):
        u = hmac.new(password, u, name).digest()
        out = bytearray(a ^ b for a, b in zip(out, u))
    return bytes(out)


class ScramClient:
    """The client side of one SCRAM exchange (RFC 5802 section 3)."""

    def __init__(self, mech, user, password):
        self.mech = mech
        self.h = HASHES.get(mech, "sha256")
        self.password = password.encode()
        self.cnonce = b64(os.urandom(18))
        name = user.replace("=", "=3D").replace(",", "=2C")
        self.bare = "n=%s,r=%s" % (name, self.cnonce)
        self.server_signature = None
        self.server_first = None

    def first(self):
        return ("n,," + self.bare).encode()

    def final(self, server_first):
        self.server_first = server_first
        attrs = dict(a.split("=", 1) for a in server_first.split(","))
        nonce, salt, iterations = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        if not nonce.startswith(self.cnonce) or len(nonce) <= len(self.cnonce):
            raise AssertionError("server nonce %r does not extend ours" % nonce)
        salted = hi(self.h, self.password, salt, iterations)
        client_key = hmac.new(salted, b"Client Key", self.h).digest()
        stored_key = hashlib.new(self.h, client_key).digest()
        without_proof = "c=biws,r=" + nonce
        auth_message = ",".join((self.bare, server_first, without_proof)).encode()
        signature = hmac.new(stored_key, auth_message, self.h).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.new(salted, b"Server Key", self.h).digest()
        self.server_signature = hmac.new(server_key, auth_message, self.h).digest()
        return (without_proof + ",p=" + b64(proof)).encode()

    def server_verified(self, server_final):
        """Whether server_final (bytes) proves the server knows our ServerKey."""
        return server_final == b"v=" + b64(self.server_signature).encode()


def auth_packet(rc, props):
    return fixed(AUTH, 0, bytes([rc]) + props_bytes(props))


def auth_fields(p):
    """(reason code, properties) of a decoded AUTH packet."""
    if p.type != AUTH:
        raise AssertionError("expected AUTH, got %r" % p)
    if not p.body:
        return 0, {}
    return p.body[0], (decode_props(p.body, 1)[0] if len(p.body) > 1 else {})


class ScramMixin:
    """Byte-level SCRAM exchanges; self.raw_to(port) makes a RawClient."""

    def begin(self, port, mech, user, password, cid=None, username=None, first=None):
        """CONNECT with method and client-first. Returns (raw, scram, first reply)."""
        r = self.raw_to(port)
        r.version = 5
        sc = ScramClient(mech, user, password)
        props = [(P.AUTH_METHOD, mech), (P.AUTH_DATA, first if first is not None else sc.first())]
        r.send(connect_packet(cid or unique("s"), 5, props=props, username=username))
        return r, sc, r.read_packet()

    def continue_auth(self, r, sc, reply):
        """Answers the server-first in reply (AUTH 0x18); returns the next packet."""
        rc, props = auth_fields(reply)
        self.assertEqual(rc, 0x18)                      # [MQTT-4.12.0-2]
        self.assertEqual(props[P.AUTH_METHOD], sc.mech)  # [MQTT-4.12.0-5]
        final = sc.final(props[P.AUTH_DATA].decode())
        r.send(auth_packet(0x18, [(P.AUTH_METHOD, sc.mech), (P.AUTH_DATA, final)]))
        return r.read_packet()

    def scram_connect(self, port, mech, user, password=None, cid=None, username=None):
        """A full exchange. Returns (raw, scram, CONNACK)."""
        password = USERS[user] if password is None else password
        r, sc, reply = self.begin(port, mech, user, password, cid, username)
        if reply.type == CONNACK:
            return r, sc, reply
        connack = self.continue_auth(r, sc, reply)
        self.assertEqual(connack.type, CONNACK, connack)
        return r, sc, connack

    def assert_success(self, r, sc, connack):
        self.assertEqual(connack.rc, 0, connack)
        self.assertEqual(connack.props.get(P.AUTH_METHOD), sc.mech)  # [MQTT-4.12.0-5]
        self.assertTrue(sc.server_verified(connack.props.get(P.AUTH_DATA)),
                        "server signature wrong: %r" % connack.props.get(P.AUTH_DATA))
        r.send(pingreq_packet())
        r.expect_packet(PINGRESP)

    def assert_refused(self, r, connack, rc):
        self.assertEqual(connack.type, CONNACK, connack)
        self.assertEqual(connack.rc, rc, connack)
        self.assertNotIn(P.AUTH_DATA, connack.props)
        r.assert_closed()


@starling_only("mosquitto 2.0 has no SCRAM authentication method")
class TestScram(ScramMixin, BrokerTestCase):
    ALLOW_ANONYMOUS = False

    @classmethod
    def setUpClass(cls):
        cls.files = tempfile.mkdtemp(prefix="starling-scram-")
        os.chmod(cls.files, 0o755)
        try:
            cls.pw, cls.scram, cls.acl = make_files(cls.files)
            cls.CONF = ["password_file " + cls.pw, "scram_file " + cls.scram,
                        "scram_from_password_file true", "acl_file " + cls.acl,
                        "worker_threads 4"]  # SCRAM CONNECTs handed over between loops
            super().setUpClass()
        except BaseException:
            shutil.rmtree(cls.files, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.files, ignore_errors=True)

    def raw_to(self, port):
        return self.raw()

    def connect_ok(self, mech, user, **kw):
        r, sc, connack = self.scram_connect(self.port, mech, user, **kw)
        self.assert_success(r, sc, connack)
        return r, sc

    def test_sha256_from_scram_file(self):
        for user in ("alice", "erin"):
            with self.subTest(user=user):
                self.connect_ok("SCRAM-SHA-256", user)

    def test_sha512_from_mosquitto_passwd_dollar7(self):
        r, sc = self.connect_ok("SCRAM-SHA-512", "alice")
        # The salt and iteration count are the "$7$" line's: mosquitto_passwd's 101.
        self.assertTrue(sc.server_first.endswith(",i=101"), sc.server_first)
        with open(self.pw) as f:
            line = [l for l in f if l.startswith("alice:")][0]
        salt64 = line.split("$")[3]
        self.assertIn(",s=%s," % salt64, sc.server_first)

    def test_sha512_from_starling_passwd_dollar7_and_scram_file(self):
        self.connect_ok("SCRAM-SHA-512", "carol")
        r, sc = self.connect_ok("SCRAM-SHA-512", "erin")  # "$6$": the scram_file's line
        self.assertTrue(sc.server_first.endswith(",i=4096"), sc.server_first)

    def test_user_name_in_connect_may_match(self):
        self.connect_ok("SCRAM-SHA-256", "alice", username="alice")

    def test_wrong_password_0x86(self):
        for mech, user in (("SCRAM-SHA-256", "alice"), ("SCRAM-SHA-512", "alice"),
                           ("SCRAM-SHA-512", "carol")):
            with self.subTest(mech=mech, user=user):
                r, sc, connack = self.scram_connect(self.port, mech, user, password="wrong")
                self.assert_refused(r, connack, 0x86)

    def test_unknown_user_0x86_after_the_proof(self):
        """Unknown users get a server-first-message like anyone's, with a salt that stays
        the same (no enumeration); only the proof fails."""
        salts = []
        for _ in range(2):
            r, sc, reply = self.begin(self.port, "SCRAM-SHA-256", "nobody", "x")
            connack = self.continue_auth(r, sc, reply)
            self.assert_refused(r, connack, 0x86)
            salts.append(sc.server_first.split(",")[1])
            self.assertTrue(sc.server_first.endswith(",i=4096"))
        self.assertEqual(salts[0], salts[1])

    def test_users_without_credentials_0x86(self):
        for mech, user in (("SCRAM-SHA-512", "dave"),    # "$6$" serves no SCRAM
                           ("SCRAM-SHA-256", "carol"),   # "$7$" serves SHA-512 only
                           ("SCRAM-SHA-256", "ghost"),   # not in the password file
                           ("SCRAM-SHA-512", "ghost")):
            with self.subTest(mech=mech, user=user):
                r, sc, connack = self.scram_connect(self.port, mech, user)
                self.assert_refused(r, connack, 0x86)

    def test_unknown_method_0x8c(self):
        """[MQTT-4.12.0-1] CONNACK 0x8C, then close."""
        for method in ("SCRAM-SHA-1", "SCRAM-SHA-256-PLUS", "scram-sha-256", "PLAIN"):
            with self.subTest(method=method):
                r, sc, reply = self.begin(self.port, method, "alice", USERS["alice"])
                self.assert_refused(r, reply, 0x8C)

    def test_acl_applies_to_scram_user(self):
        r, sc = self.connect_ok("SCRAM-SHA-512", "alice")
        codes = r.subscribe([("alice/#", 0), ("bob/#", 0), ("users/alice/#", 0),
                             ("users/carol/#", 0)])
        self.assertEqual(codes, [0, 0x87, 0, 0x87])
        e, _ = self.connect_ok("SCRAM-SHA-256", "erin")
        self.assertEqual(e.subscribe([("alice/#", 0)]), [0])
        e.publish("alice/from-erin", b"x", qos=1, packet_id=3)
        self.assertEqual(e.expect_packet(PUBACK).rc, 0x87)  # erin may only read
        r.publish("alice/news", b"hello", qos=0)
        got = e.expect_packet(PUBLISH)
        self.assertEqual((got.topic, got.payload), ("alice/news", b"hello"))
        got = r.expect_packet(PUBLISH)
        self.assertEqual(got.topic, "alice/news")

    def test_connect_user_name_other_than_scram_user_0x86(self):
        r, sc, connack = self.scram_connect(self.port, "SCRAM-SHA-256", "alice",
                                            username="carol")
        self.assert_refused(r, connack, 0x86)

    def test_malformed_or_unsupported_client_first_0x87(self):
        for first in (b"", b"p=tls-unique,,n=alice,r=abc", b"n,a=carol,n=alice,r=abc",
                      b"n,,n=alice", b"garbage"):
            with self.subTest(first=first):
                r, sc, reply = self.begin(self.port, "SCRAM-SHA-256", "alice", "x", first=first)
                self.assert_refused(r, reply, 0x87)

    def test_bad_client_final_0x87(self):
        r, sc, reply = self.begin(self.port, "SCRAM-SHA-256", "alice", USERS["alice"])
        r.send(auth_packet(0x18, [(P.AUTH_METHOD, "SCRAM-SHA-256"),
                                  (P.AUTH_DATA, b"c=biws,r=wrong,p=AAAA")]))
        self.assert_refused(r, r.read_packet(), 0x87)

    def test_other_packet_before_connack_0x82(self):
        """[MQTT-3.1.2-30] only AUTH or DISCONNECT until CONNACK."""
        others = (pingreq_packet(), subscribe_packet(1, [("alice/#", 0)], 5),
                  connect_packet(unique("again"), 5, props=[(P.AUTH_METHOD, "SCRAM-SHA-256")]))
        for packet in others:
            with self.subTest(packet=packet[:1]):
                r, sc, reply = self.begin(self.port, "SCRAM-SHA-256", "alice", USERS["alice"])
                r.send(packet)
                self.assert_refused(r, r.read_packet(), 0x82)

    def test_auth_with_wrong_reason_or_method_0x82(self):
        """[MQTT-4.12.0-3] 0x18 with [MQTT-4.12.0-5] the same method."""
        for rc, method in ((0x19, "SCRAM-SHA-256"), (0x00, "SCRAM-SHA-256"),
                           (0x18, "SCRAM-SHA-512"), (0x18, None)):
            with self.subTest(rc=rc, method=method):
                r, sc, reply = self.begin(self.port, "SCRAM-SHA-256", "alice", USERS["alice"])
                # Data without a method would not even decode (3.15.2.2.3).
                props = [(P.AUTH_METHOD, method), (P.AUTH_DATA, b"x")] if method else []
                r.send(auth_packet(rc, props))
                self.assert_refused(r, r.read_packet(), 0x82)

    def test_disconnect_during_exchange(self):
        r, sc, reply = self.begin(self.port, "SCRAM-SHA-256", "alice", USERS["alice"])
        r.send(disconnect_packet())
        r.assert_closed()
        self.connect_ok("SCRAM-SHA-256", "alice")

    def test_failed_exchange_takes_no_session_over(self):
        """The session is opened only when the exchange succeeds."""
        cid = unique("keep")
        first, _ = self.connect_ok("SCRAM-SHA-256", "alice", cid=cid)
        r, sc, connack = self.scram_connect(self.port, "SCRAM-SHA-256", "alice",
                                            password="wrong", cid=cid)
        self.assert_refused(r, connack, 0x86)
        first.send(pingreq_packet())
        first.expect_packet(PINGRESP)
        second, _ = self.connect_ok("SCRAM-SHA-512", "alice", cid=cid)
        self.assertEqual(first.expect_packet(DISCONNECT).rc, 0x8E)  # now it is taken over

    def test_auth_without_method_in_connect_0x82(self):
        """[MQTT-4.12.0-7] a client that connected without a method sends no AUTH."""
        r = self.raw()
        r.connect(unique("p"), version=5, username="carol", password=USERS["carol"])
        r.send(auth_packet(0x19, [(P.AUTH_METHOD, "SCRAM-SHA-256"), (P.AUTH_DATA, b"x")]))
        self.assertEqual(r.expect_packet(DISCONNECT).rc, 0x82)
        r.assert_closed()

    def reauth(self, r, mech, user, password):
        sc = ScramClient(mech, user, password)
        r.send(auth_packet(0x19, [(P.AUTH_METHOD, mech), (P.AUTH_DATA, sc.first())]))
        reply = r.read_packet()
        if reply.type != AUTH:
            return sc, reply
        return sc, self.continue_auth(r, sc, reply)

    def test_reauthentication(self):
        """4.12.1: AUTH 0x19 ... AUTH 0x00 with the server-final-message."""
        for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
            with self.subTest(mech=mech):
                r, _ = self.connect_ok(mech, "alice")
                for _ in range(2):
                    sc, done = self.reauth(r, mech, "alice", USERS["alice"])
                    rc, props = auth_fields(done)
                    self.assertEqual(rc, 0)
                    self.assertEqual(props[P.AUTH_METHOD], mech)
                    self.assertTrue(sc.server_verified(props[P.AUTH_DATA]))
                self.assertEqual(r.subscribe("alice/#"), [0])

    def test_reauthentication_failures_disconnect(self):
        """[MQTT-4.12.1-2] DISCONNECT 0x87 (0x86 is no DISCONNECT code); 0x82 for the
        protocol: [MQTT-4.12.1-1] the CONNECT's method."""
        cases = (("SCRAM-SHA-256", "alice", "wrong", 0x87),
                 ("SCRAM-SHA-256", "erin", USERS["erin"], 0x87),  # another user
                 ("SCRAM-SHA-512", "alice", USERS["alice"], 0x82))
        for mech, user, password, rc in cases:
            with self.subTest(user=user, rc=rc):
                r, _ = self.connect_ok("SCRAM-SHA-256", "alice")
                sc, reply = self.reauth(r, mech, user, password)
                self.assertEqual(reply.type, DISCONNECT, reply)
                self.assertEqual(reply.rc, rc)
                r.assert_closed()


@starling_only("mosquitto 2.0 has no SCRAM authentication method")
class TestScramConfig(ScramMixin, OwnBrokerTestCase):
    """Which methods a configuration offers, the exchange's time limit, bad files."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="starling-scram-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.pw, self.scram, self.acl = make_files(self.dir)

    def raw_to(self, port):
        return self.raw(port)

    def test_not_configured_0x8c(self):
        b = self.broker(["password_file " + self.pw], allow_anonymous=False)
        for mech in HASHES:
            with self.subTest(mech=mech):
                r, sc, reply = self.begin(b.port, mech, "alice", USERS["alice"])
                self.assert_refused(r, reply, 0x8C)

    def test_password_file_alone_offers_sha512_only(self):
        b = self.broker(["password_file " + self.pw, "scram_from_password_file true"],
                        allow_anonymous=False)
        r, sc, reply = self.begin(b.port, "SCRAM-SHA-256", "alice", USERS["alice"])
        self.assert_refused(r, reply, 0x8C)
        r, sc, connack = self.scram_connect(b.port, "SCRAM-SHA-512", "alice")
        self.assert_success(r, sc, connack)

    def test_exchange_times_out(self):
        """Within connect_timeout (1 s) of the accept: CONNACK 0x87, then close."""
        b = self.broker(["password_file " + self.pw, "scram_file " + self.scram,
                         "connect_timeout 1"], allow_anonymous=False)
        start = time.monotonic()
        r, sc, reply = self.begin(b.port, "SCRAM-SHA-256", "alice", USERS["alice"])
        self.assertEqual(reply.type, AUTH)
        connack = r.read_packet(timeout=5)
        self.assertEqual((connack.type, connack.rc), (CONNACK, 0x87))
        r.assert_closed()
        self.assertLess(time.monotonic() - start, 3.0)

    def test_bad_scram_file_at_start(self):
        with open(self.scram) as f:
            line = len(f.readlines()) + 1
        with open(self.scram, "a") as f:
            f.write("mallory:SCRAM-SHA-256:4096:nonsense\n")
        b = self.broker(["password_file " + self.pw, "scram_file " + self.scram],
                        allow_anonymous=False, start=False)
        b.spawn()
        self.assertNotIn(b.wait_exit(10), (None, 0))
        self.assertIn("%s:%d: expected user:MECHANISM" % (self.scram, line), b.logs())

    def test_sighup_reloads_scram_file(self):
        b = self.broker(["password_file " + self.pw, "scram_file " + self.scram],
                        allow_anonymous=False)
        r, sc, connack = self.scram_connect(b.port, "SCRAM-SHA-256", "alice", password="new")
        self.assert_refused(r, connack, 0x86)
        run_tool(starling_passwd(), "-H", "scram-sha-256", "-b", self.scram, "alice", "new")
        readable(self.scram)
        b.proc.send_signal(1)  # SIGHUP
        self.assertTrue(wait_until(lambda: "scram file" in b.logs()), b.logs())
        r, sc, connack = self.scram_connect(b.port, "SCRAM-SHA-256", "alice", password="new")
        self.assert_success(r, sc, connack)


if __name__ == "__main__":
    unittest.main()
