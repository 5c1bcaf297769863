"""mail_sink.py: helpers of the e-mail tests (75-email-*).

- MailSink: a real SMTP server, Debian's python3-aiosmtpd run in-process
  (aiosmtpd.controller.Controller on 127.0.0.1), that keeps every message
  it accepts and answers RCPT TO or DATA for chosen recipients with chosen
  replies ("451 4.3.0 try later" once, "550 5.1.1 no such user" always...).
- Pki: a test CA, the CSIRT's signing certificate and recipients'
  certificates (valid, expired), made with the openssl command line;
  verify(), decrypt() run `openssl smime` (and `openssl cms`) on a message.
- email_daemon(): a Daemon with smtp, smime and the outbox keys set.
- parse() / text_of() / html_of(): Python's email package (policy default),
  which decodes RFC 2047 headers and quoted-printable parts.
"""

import email
import email.policy
import os
import re
import subprocess
import threading
import time

from harness import (TOCSIND_ENV, WORKDIR, Daemon, eq, free_port, log, merge,
                     new_database, wait_until)
from webhook_sink import outbox_config, start_with_env


# ------------------------------------------------------------ the SMTP sink

class Message:
    def __init__(self, mail_from, rcpts, data):
        self.mail_from = mail_from
        self.rcpts = list(rcpts)
        self.data = data                    # bytes, as received
        self.t = time.monotonic()
        self.msg = email.message_from_bytes(data, policy=email.policy.default)

    def __getitem__(self, name):
        return self.msg[name]

    def __repr__(self):
        return "<mail to %s: %r>" % (self.rcpts, self.msg["Subject"])


class MailSink:
    """An SMTP server on 127.0.0.1. rules[address] is a list of replies for
    RCPT TO (popped one per attempt; a reply is "451 ..." or "550 ...");
    data_rules[address] the same at the end of DATA. always[address] a
    reply given every time."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        self.messages = []
        self.rcpt_rules = {}
        self.data_rules = {}
        self.always = {}
        self.attempts = {}           # address -> RCPT attempts seen
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address,
                                  rcpt_options):
                addr = address.lower()
                with sink.lock:
                    sink.attempts[addr] = sink.attempts.get(addr, 0) + 1
                    if addr in sink.always:
                        return sink.always[addr]
                    rule = sink.rcpt_rules.get(addr)
                    if rule:
                        return rule.pop(0)
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                with sink.lock:
                    for a in envelope.rcpt_tos:
                        rule = sink.data_rules.get(a.lower())
                        if rule:
                            return rule.pop(0)
                    sink.messages.append(Message(envelope.mail_from,
                                                 envelope.rcpt_tos,
                                                 envelope.content))
                return "250 Message accepted"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1",
                                     port=self.port,
                                     data_size_limit=64 * 1024 * 1024)
        self.controller.start()
        self.url = "smtp://127.0.0.1:%d" % self.port

    def stop(self):
        self.controller.stop()

    def to(self, address):
        address = address.lower()
        with self.lock:
            return [m for m in self.messages
                    if address in [r.lower() for r in m.rcpts]]

    def wait_to(self, address, n=1, timeout=30):
        wait_until(lambda: len(self.to(address)) >= n, timeout,
                   "%d mails to %s" % (n, address), interval=0.1)
        return self.to(address)

    def count(self):
        with self.lock:
            return len(self.messages)


# ------------------------------------------------------------- the test PKI

CA_CNF = """[ ca ]
default_ca = test
[ test ]
dir = %(dir)s
database = %(dir)s/index.txt
new_certs_dir = %(dir)s/newcerts
serial = %(dir)s/serial
default_md = sha256
policy = any
unique_subject = no
email_in_dn = no
[ any ]
commonName = supplied
[ smime ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def openssl(*args, input=None, check=True):
    p = subprocess.run(["openssl"] + list(args), capture_output=True,
                       input=input)
    if check and p.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args[:2]),
                                                p.stderr.decode(errors="replace")))
    return p


class Pki:
    """A CA made with the openssl CLI, and certificates it issues."""

    def __init__(self, name="pki"):
        self.dir = os.path.join(WORKDIR, name)
        os.makedirs(os.path.join(self.dir, "newcerts"), exist_ok=True)
        open(os.path.join(self.dir, "index.txt"), "w").close()
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write("1000\n")
        self.cnf = os.path.join(self.dir, "ca.cnf")
        with open(self.cnf, "w") as f:
            f.write(CA_CNF % {"dir": self.dir})
        self.ca_key = os.path.join(self.dir, "ca.key")
        self.ca = os.path.join(self.dir, "ca.pem")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                self.ca_key, "-out", self.ca, "-days", "30", "-subj",
                "/CN=tocsin test CA", "-addext",
                "basicConstraints=critical,CA:TRUE", "-addext",
                "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name, email_addr, start=None, end=None, days=30,
              key_type="rsa:2048"):
        """A key and certificate for email_addr: (key path, cert path).
        start/end: YYYYMMDDHHMMSSZ to make an expired one."""
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        crt = os.path.join(self.dir, name + ".pem")
        openssl("req", "-newkey", key_type, "-nodes", "-keyout", key, "-out",
                csr, "-subj", "/CN=%s" % name)
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write(CA_CNF % {"dir": self.dir} +
                    "subjectAltName = email:%s\n" % email_addr)
        args = ["ca", "-batch", "-config", ext, "-cert", self.ca, "-keyfile",
                self.ca_key, "-in", csr, "-out", crt, "-extensions", "smime",
                "-notext"]
        if start is not None:
            args += ["-startdate", start, "-enddate", end]
        else:
            args += ["-days", str(days)]
        openssl(*args)
        return key, crt

    def verify(self, data):
        """`openssl smime -verify -CAfile ca` on a whole message: (ok,
        the signed content as bytes, stderr)."""
        path = os.path.join(self.dir, "verify-%d.eml" % time.monotonic_ns())
        with open(path, "wb") as f:
            f.write(data)
        p = openssl("smime", "-verify", "-in", path, "-CAfile", self.ca,
                    check=False)
        return p.returncode == 0, p.stdout, p.stderr.decode(errors="replace")

    def decrypt(self, data, key, cert, tool="smime"):
        """`openssl smime -decrypt` (or cms) with the recipient's key: (ok,
        the decrypted entity as bytes)."""
        path = os.path.join(self.dir, "decrypt-%d.eml" % time.monotonic_ns())
        with open(path, "wb") as f:
            f.write(data)
        p = openssl(tool, "-decrypt", "-in", path, "-recip", cert, "-inkey",
                    key, check=False)
        if p.returncode != 0:
            log("openssl %s -decrypt: %s" % (tool, p.stderr.decode(
                errors="replace")))
        return p.returncode == 0, p.stdout


def read(path):
    with open(path) as f:
        return f.read()


# ----------------------------------------------------------------- parsing

def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def parts(msg, ctype):
    return [p for p in msg.walk() if p.get_content_type() == ctype]


def text_of(msg):
    """The text/plain part, decoded."""
    found = parts(msg, "text/plain")
    assert found, "no text/plain part in %s" % msg.get_content_type()
    return found[0].get_content()


def html_of(msg):
    found = parts(msg, "text/html")
    assert found, "no text/html part"
    return found[0].get_content()


# ------------------------------------------------------------------ daemons

def email_daemon(name, sink, pki=None, env=None, smime=True, **config):
    """A daemon sending through sink, signing with a certificate of pki
    (when smime), outbox keys under the test's directory. env: extra
    environment (TOCSIN_TEST_RETRY_SCALE, TOCSIN_TEST_NOW...)."""
    d = Daemon(new_database(name), start=False, **config)
    outbox_config(d, allow_private=True, timeout_s=5)
    cfg = {"smtp": {"url": sink.url, "from": "CSIRT Testé <ews@csirt.test>"}}
    if os.getuid() == 0 and "user" not in d.config:
        cfg["user"] = "root"        # no privilege drop in tests
    if smime and pki is not None:
        key, crt = pki.issue("csirt-signer", "ews@csirt.test")
        cfg["smime"] = {"cert": crt, "key": key}
    merge(d.config, cfg)
    d.write_config()
    start_with_env(d, **dict({"TZ": "UTC"}, **(env or {})))
    return d


def email_user(d, org_id, name=None, language="en", role="member",
               smime_cert=None, channels=("email",), digest=None,
               filter=None, subscribe=True, email=None):
    """A user with an e-mail address and (unless subscribe=False) one
    subscription; the user dict (with token and email)."""
    extra = {"language": language}
    if email is not None:
        extra["email"] = email
    if smime_cert is not None:
        extra["smime_cert"] = smime_cert
    u = d.make_user(org_id, role, name=name, **extra)
    u["token"] = d.make_token(u["id"])
    if subscribe:
        body = {"name": "mail", "filter": filter or {},
                "channels": list(channels)}
        if digest is not None:
            body["digest"] = digest
        r = d.api("POST", "/v1/subscriptions", u["token"], json=body)
        assert r.status == 201, "subscription: %d %r" % r[::2]
        u["subscription"] = r.body
    return u


def deliveries(d, where):
    """Rows of deliveries (channel email) as dicts."""
    cols = ("id", "event_id", "user_id", "organisation_id", "to_contact",
            "state", "attempts", "last_status", "last_error", "payload_type",
            "priority")
    rows = d.db.sql("SELECT id, coalesce(event_id, 0), coalesce(user_id, 0), "
                    "coalesce(organisation_id, 0), to_contact, state, "
                    "attempts, coalesce(last_status, 0), "
                    "coalesce(last_error, ''), coalesce(payload->>'type', ''),"
                    " priority FROM deliveries WHERE channel = 'email' AND "
                    "(%s) ORDER BY id" % where)
    return [dict(zip(cols, r)) for r in rows]


def wait_deliveries(d, where, pred, timeout=30, what="deliveries"):
    box = {}

    def probe():
        box["v"] = deliveries(d, where)
        return pred(box["v"])
    wait_until(probe, timeout, what, interval=0.2)
    return box["v"]
