"""tlsutil.py: a test CA and server certificates made with the openssl CLI,
and a Daemon whose REST calls go over HTTPS trusting that CA (98-tls,
98-privileges, 99-three-instances)."""

import ssl

from harness import *

TLSDIR = os.path.join(WORKDIR, "tls")


def openssl(*args):
    p = subprocess.run(["openssl"] + list(args), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, "openssl %s: %s" % (args[0], p.stderr)
    return p.stdout


def make_ca():
    os.makedirs(TLSDIR, exist_ok=True)
    ca_key, ca = os.path.join(TLSDIR, "ca.key"), os.path.join(TLSDIR, "ca.pem")
    if not os.path.exists(ca):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key,
                "-out", ca, "-days", "30", "-subj", "/CN=tocsin test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return ca_key, ca


def make_cert(name, serial, keytype="ec"):
    """A server certificate for 127.0.0.1 signed by the test CA: (cert
    path, key path), the certificate file holding leaf then CA (a chain)."""
    ca_key, ca = make_ca()
    key = os.path.join(TLSDIR, name + ".key")
    csr = os.path.join(TLSDIR, name + ".csr")
    crt = os.path.join(TLSDIR, name + ".crt")
    ext = os.path.join(TLSDIR, name + ".ext")
    if keytype == "ec":
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-out", key)
    else:
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                "rsa_keygen_bits:2048", "-out", key)
    openssl("req", "-new", "-key", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
            "-set_serial", str(serial), "-days", "30", "-extfile", ext,
            "-out", crt)
    with open(crt) as f, open(ca) as g:
        chain = f.read() + g.read()
    with open(crt, "w") as f:
        f.write(chain)
    return crt, key


def install(src_crt, src_key, dst_crt, dst_key):
    """Put a pair in place the way an ACME client does: rename over."""
    for src, dst in ((src_crt, dst_crt), (src_key, dst_key)):
        with open(src, "rb") as f:
            data = f.read()
        with open(dst + ".new", "wb") as f:
            f.write(data)
        os.rename(dst + ".new", dst)


def ca_context():
    return ssl.create_default_context(cafile=make_ca()[1])


def served_serial(port):
    """The serial of the certificate a new TLS connection is shown."""
    ctx = ca_context()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            der = t.getpeercert(binary_form=True)
    p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout",
                        "-serial"], input=der, capture_output=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    return int(p.stdout.decode().strip().split("=")[1], 16)


class TLSDaemon(Daemon):
    """A Daemon whose REST calls go over HTTPS, trusting the test CA."""

    def __init__(self, db, crt, key, **config):
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ca_context()))
        super().__init__(db, start=False, tls={"cert": crt, "key": key},
                         **config)
        self.url = "https://127.0.0.1:%d" % self.http_port
        self.ws_url = "wss://127.0.0.1:%d/v1/stream" % self.ws_port
        self.config["public_url"] = self.url
        self.write_config()
        self.start()

    def api(self, method, path, token=None, json=None, raw=None, headers=None,
            timeout=30):
        hdrs = dict(headers or {})
        data = None
        if json is not None:
            data = jsonlib.dumps(json).encode()
            hdrs["Content-Type"] = "application/json"
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method, headers=hdrs)
        try:
            with self._opener.open(req, timeout=timeout) as r:
                st, rh, content = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            st, rh, content = e.code, e.headers, e.read()
        return parse_response(st, rh, content, "%s %s" % (method, path))
