"""Test certificates made with the openssl CLI (Debian package openssl).

    pki = Pki(dir)                        # CA "Starling Test CA" + server cert for 127.0.0.1
    pki.client("alice")                   # (cert, key) signed by the CA, subject CN=alice
    pki.other_client("mallory")           # signed by a second, untrusted CA
    pki.server_cert("srv2", "file.pem")   # another server cert (for reload tests)

All keys are EC P-256 (fast to make); nothing here talks to the network.
"""

import os
import subprocess


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

    def tls_conf(self, require=False, identity=False, extra=()):
        """Listener lines for TLS with this PKI."""
        lines = ["cafile %s" % self.ca_cert, "certfile %s" % self.server,
                 "keyfile %s" % self.server_key]
        if require:
            lines.append("require_certificate true")
        if identity:
            lines.append("use_identity_as_username true")
        return lines + list(extra)
