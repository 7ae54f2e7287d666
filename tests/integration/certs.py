"""Test certificates made with the openssl CLI (Debian package openssl).

    pki = Pki(dir)                        # CA "Starling Test CA" + server cert for 127.0.0.1
    pki.client("alice")                   # (cert, key) signed by the CA, subject CN=alice
    pki.other_client("mallory")           # signed by a second, untrusted CA
    pki.server_cert("srv2", "file.pem")   # another server cert (for reload tests)

All keys are EC P-256 (fast to make); nothing here talks to the network.

    class T(PkiTestCase):                 # cls.tmp, cls.pki, cls.alice, cls.bob, cls.acl
        ACL = "..."                       # and a broker shared by the class: cls.srv
"""

import os
import shutil
import subprocess
import tempfile

from harness import OwnBrokerTestCase


def _openssl(*args, cwd=None):
    subprocess.run(["openssl"] + list(args), check=True, cwd=cwd,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Pki:
    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_cert, self.ca_key = self._ca("ca", "Starling Test CA")
        self.other_ca_cert, self.other_ca_key = self._ca("otherca", "Other CA")
        self.server, self.server_key = self.server_cert("server", "server.pem")
        self._serial = 1

    def path(self, name):
        return os.path.join(self.dir, name)

    def _key(self, name):
        key = self.path(name + ".key")
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", key)
        return key

    def _ca(self, name, cn):
        key = self._key(name)
        cert = self.path(name + ".pem")
        _openssl("req", "-x509", "-new", "-key", key, "-out", cert, "-days", "2",
                 "-subj", "/O=Starling tests/CN=%s" % cn,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return cert, key

    def _sign(self, name, cn, ca_cert, ca_key, ext_lines, out=None):
        key = self._key(name)
        csr = self.path(name + ".csr")
        cert = self.path(out or name + ".pem")
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("\n".join(ext_lines) + "\n")
        _openssl("req", "-new", "-key", key, "-out", csr, "-subj", "/O=Starling tests/CN=%s" % cn)
        _openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
                 "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
        return cert, key

    def server_cert(self, name, out, cn="localhost"):
        """A server certificate for 127.0.0.1 / localhost, signed by the CA."""
        return self._sign(name, cn, self.ca_cert, self.ca_key,
                          ["basicConstraints=CA:FALSE",
                           "subjectAltName=IP:127.0.0.1,DNS:localhost",
                           "extendedKeyUsage=serverAuth"], out)

    def client(self, cn):
        return self._sign("client-" + cn, cn, self.ca_cert, self.ca_key,
                          ["basicConstraints=CA:FALSE", "extendedKeyUsage=clientAuth"])

    def other_client(self, cn):
        return self._sign("other-" + cn, cn, self.other_ca_cert, self.other_ca_key,
                          ["basicConstraints=CA:FALSE", "extendedKeyUsage=clientAuth"])

    def rsa_server_cert(self, name="rsa-server"):
        """A server certificate with an RSA key (the EC ones cannot offer RSA key exchange)."""
        key = self.path(name + ".key")
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", key)
        csr, cert, ext = (self.path(name + x) for x in (".csr", ".pem", ".ext"))
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n"
                    "extendedKeyUsage=serverAuth\n")
        _openssl("req", "-new", "-key", key, "-out", csr, "-subj", "/O=Starling tests/CN=rsa")
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
                 "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
        return cert, key

    def crl(self, revoked=(), out="crl.pem"):
        """A CRL of the CA revoking the certificates in revoked (paths), made with
        'openssl ca' on a throwaway database. Returns its path."""
        db = self.path("ca-db")
        shutil.rmtree(db, ignore_errors=True)
        os.makedirs(db)
        open(os.path.join(db, "index.txt"), "w").close()
        with open(os.path.join(db, "crlnumber"), "w") as f:
            f.write("01\n")
        cfg = os.path.join(db, "ca.cnf")
        with open(cfg, "w") as f:
            f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=%s\ncrlnumber=%s\n"
                    "default_md=sha256\ndefault_crl_days=2\n"
                    % (os.path.join(db, "index.txt"), os.path.join(db, "crlnumber")))
        for cert in revoked:
            _openssl("ca", "-config", cfg, "-keyfile", self.ca_key, "-cert", self.ca_cert,
                     "-revoke", cert)
        path = self.path(out)
        _openssl("ca", "-config", cfg, "-keyfile", self.ca_key, "-cert", self.ca_cert,
                 "-gencrl", "-out", path)
        return path

    def tls_conf(self, require=False, identity=False, extra=()):
        """Listener lines for TLS with this PKI."""
        lines = ["cafile %s" % self.ca_cert, "certfile %s" % self.server,
                 "keyfile %s" % self.server_key]
        if require:
            lines.append("require_certificate true")
        if identity:
            lines.append("use_identity_as_username true")
        return lines + list(extra)


class PkiTestCase(OwnBrokerTestCase):
    """Per test class: a temp dir (cls.tmp) holding a Pki (cls.pki), client certificates for
    alice and bob (cls.alice, cls.bob: (cert, key)) and the file cls.acl with the text ACL.
    The subclass's setUpClass starts cls.srv, a broker its tests share: its log is printed
    when a test fails, and it is cleaned up once, after the last test."""
    TMP_PREFIX = "starling-pki-"
    ACL = ""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix=cls.TMP_PREFIX)
        cls.pki = Pki(os.path.join(cls.tmp, "pki"))
        cls.alice = cls.pki.client("alice")
        cls.bob = cls.pki.client("bob")
        cls.acl = os.path.join(cls.tmp, "acl")
        with open(cls.acl, "w") as f:
            f.write(cls.ACL)

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.extra_brokers.append(self.srv)  # its log is printed when a test fails

    def _cleanup(self):
        self.extra_brokers.remove(self.srv)  # not cleaned up per test
        super()._cleanup()
