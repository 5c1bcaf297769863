"""webhook_sink.py: helpers of the webhook tests (70-, 71-...).

A real HTTP sink on 127.0.0.1 (http.server in a thread) that records every
request and verifies it with an implementation of Standard Webhooks written
here from the specification's text (https://www.standardwebhooks.com/),
independent of tocsind's C code:

  - headers webhook-id, webhook-timestamp, webhook-signature;
  - signed content: "{webhook-id}.{webhook-timestamp}.{raw body}";
  - v1: base64(HMAC-SHA256(key, content)) where key is the base64-decoded
    part of the secret after "whsec_" (Python's hmac, hashlib, base64);
  - v1a: base64(Ed25519 signature of the content), checked with the
    `openssl pkeyutl -verify -rawin` command against the public key that
    GET /v1/webhooks/signing-key publishes;
  - the signature header is a space-separated list of "version,signature";
    one valid v1 suffices, each v1a present must be valid;
  - the timestamp must be within five minutes of now.
"""

import base64
import hashlib
import hmac
import http.server
import json as jsonlib
import os
import subprocess
import tempfile
import threading
import time

from harness import (TOCSIND_ENV, WORKDIR, eq, log, run_tocsind, to_yaml,
                     wait_until, merge)

TOLERANCE_S = 300


def v1_signature(secret, msg_id, ts, body):
    """The spec's v1: HMAC-SHA256 with the secret's decoded bytes."""
    assert secret.startswith("whsec_"), "secret %r lacks whsec_" % secret[:8]
    key = base64.b64decode(secret[len("whsec_"):], validate=True)
    content = msg_id.encode() + b"." + ts.encode() + b"." + body
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()
                            ).decode()


def ed25519_verify(pub_pem, content, sig_b64):
    """Ed25519 verification by the openssl command line."""
    with tempfile.TemporaryDirectory(dir=WORKDIR) as tmp:
        paths = {n: os.path.join(tmp, n) for n in ("pub.pem", "msg", "sig")}
        with open(paths["pub.pem"], "w") as f:
            f.write(pub_pem)
        with open(paths["msg"], "wb") as f:
            f.write(content)
        with open(paths["sig"], "wb") as f:
            f.write(base64.b64decode(sig_b64, validate=True))
        p = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin",
                            "-inkey", paths["pub.pem"], "-rawin",
                            "-in", paths["msg"], "-sigfile", paths["sig"]],
                           capture_output=True, text=True)
        return p.returncode == 0


def verify(headers, body, secrets, pub_pem=None, now=None):
    """Verify one request; a list of problems (empty: valid). `secrets`
    are the secrets any of which may have signed it; returns also which
    secrets verified, as (problems, verified_secrets)."""
    problems, verified = [], []
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sig = headers.get("webhook-signature")
    if not msg_id or not ts or not sig:
        return ["missing webhook-id/timestamp/signature"], verified
    if not ts.isdigit():
        return ["webhook-timestamp %r is not Unix seconds" % ts], verified
    if abs((now or time.time()) - int(ts)) > TOLERANCE_S:
        problems.append("timestamp %s outside the tolerance" % ts)
    entries = [e.split(",", 1) for e in sig.split(" ") if e]
    if any(len(e) != 2 for e in entries):
        problems.append("malformed signature entries %r" % sig)
        return problems, verified
    v1 = [s for v, s in entries if v == "v1"]
    v1a = [s for v, s in entries if v == "v1a"]
    for secret in secrets:
        want = v1_signature(secret, msg_id, ts, body)
        if any(hmac.compare_digest(want, s) for s in v1):
            verified.append(secret)
    if not verified:
        problems.append("no v1 signature verifies")
    if pub_pem is not None:
        if not v1a:
            problems.append("no v1a signature")
        content = msg_id.encode() + b"." + ts.encode() + b"." + body
        for s in v1a:
            if not ed25519_verify(pub_pem, content, s):
                problems.append("v1a signature does not verify")
    return problems, verified


class Request:
    def __init__(self, path, headers, body):
        self.path = path
        self.headers = headers          # lower-cased names
        self.body = body
        self.t = time.monotonic()
        self.msg_id = headers.get("webhook-id")
        try:
            self.json = jsonlib.loads(body)
        except ValueError:
            self.json = None
        self.verified = []


class Endpoint:
    """One path of the sink. `responses`: a list of (status, headers,
    body), or callables returning one, answered in order (then `default`);
    `delay`: seconds to wait before answering."""

    def __init__(self, sink, name):
        self.sink, self.name = sink, name
        self.path = "/hook/" + name
        self.url = sink.base + self.path
        self.secrets = []
        self.responses = []
        self.default = (200, {}, b"ok")
        self.delay = 0.0
        self.verify_v1a = True
        self.requests = []
        self.problems = []
        self.lock = threading.Lock()

    def ids(self):
        with self.lock:
            return [r.msg_id for r in self.requests]

    def count(self):
        with self.lock:
            return len(self.requests)

    def wait_count(self, n, timeout=30):
        wait_until(lambda: self.count() >= n, timeout,
                   "%d requests at sink %s" % (n, self.name))
        return self.requests

    def assert_valid(self):
        assert not self.problems, "sink %s: %s" % (self.name, self.problems)


class Sink:
    """An HTTP server on 127.0.0.1 with named endpoints."""

    def __init__(self, pub_pem=None):
        self.pub_pem = pub_pem
        self.endpoints = {}
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                sink._handle(self, body)

            def do_GET(self):
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(http.server.ThreadingHTTPServer):
            # A listen backlog for 64 connections at once: with the
            # default 5, the kernel delays SYNs and requests arrive late.
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def endpoint(self, name):
        ep = Endpoint(self, name)
        self.endpoints[ep.path] = ep
        return ep

    def _handle(self, h, body):
        ep = self.endpoints.get(h.path)
        headers = {k.lower(): v for k, v in h.headers.items()}
        if ep is None:
            h.send_response(404)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        req = Request(h.path, headers, body)
        problems, verified = verify(headers, body, list(ep.secrets),
                                    self.pub_pem if ep.verify_v1a else None)
        req.verified = verified
        with ep.lock:
            ep.requests.append(req)
            if problems:
                ep.problems.append((req.msg_id, problems))
            resp = ep.responses.pop(0) if ep.responses else ep.default
        if callable(resp):
            resp = resp()
        if problems:
            log("sink %s: %s: %s" % (ep.name, req.msg_id, problems))
        if ep.delay:
            time.sleep(ep.delay)
        status, hdrs, rbody = resp
        try:
            h.send_response(status)
            for k, v in hdrs.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(rbody)))
            h.end_headers()
            h.wfile.write(rbody)
        except OSError:
            pass

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------ daemons

_supported = {}


def config_supports(d, section, key, value):
    """Does this tocsind's config accept section.key (check-config)? The
    outbox's keys (key_file, webhooks.signing_key, ...) are parsed once
    config.c has them; until then tests use the defaults."""
    name = "%s.%s" % (section, key) if section else key
    if name not in _supported:
        cfg = jsonlib.loads(jsonlib.dumps(d.config))
        merge(cfg, {section: {key: value}} if section else {key: value})
        path = os.path.join(WORKDIR, "probe-%s.yaml" % name)
        with open(path, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        p = run_tocsind(["-c", path, "check-config"])
        _supported[name] = p.returncode == 0
    return _supported[name]


def outbox_config(d, allow_private=True, timeout_s=5, per_endpoint=None,
                  concurrency=None):
    """Fill d.config with the webhook settings of a test (keys this
    tocsind's config knows), and write it."""
    merge(d.config, {"webhooks": {"allow_private_networks": allow_private,
                                  "timeout_s": timeout_s}})
    keydir = os.path.join(WORKDIR, "keys")
    os.makedirs(keydir, exist_ok=True)
    if config_supports(d, None, "key_file", os.path.join(keydir, "x")):
        d.config["key_file"] = os.path.join(keydir, "server.key")
    if config_supports(d, "webhooks", "signing_key", os.path.join(keydir, "x")):
        d.config["webhooks"]["signing_key"] = os.path.join(keydir, "sig.pem")
    if per_endpoint is not None and config_supports(d, "webhooks",
                                                     "per_endpoint", 4):
        d.config["webhooks"]["per_endpoint"] = per_endpoint
    if concurrency is not None and config_supports(d, "deliver",
                                                    "concurrency", 64):
        d.config.setdefault("deliver", {})["concurrency"] = concurrency
    d.write_config()


def start_with_env(d, **env):
    """Start d with extra environment variables (e.g. the retry scale)."""
    saved = {k: TOCSIND_ENV.get(k) for k in env}
    TOCSIND_ENV.update({k: str(v) for k, v in env.items()})
    try:
        d.start()
    finally:
        for k, v in saved.items():
            if v is None:
                TOCSIND_ENV.pop(k, None)
            else:
                TOCSIND_ENV[k] = v
    return d


def signing_key(d):
    r = d.api("GET", "/v1/webhooks/signing-key")
    eq(r.status, 200, "GET /v1/webhooks/signing-key")
    return r.body


def make_webhook(d, token, ep, org_id=None, **fields):
    """Create an endpoint pointing at sink endpoint ep; remember its secret."""
    body = dict(url=ep.url, **fields)
    if org_id is not None:
        body["organisation_id"] = org_id
    r = d.api("POST", "/v1/webhooks", token, json=body)
    assert r.status == 201, "create webhook: %d %r" % r[::2]
    ep.secrets.append(r.body["secret"])
    ep.webhook = r.body
    return r.body


def deliveries(d, token, webhook_id, **q):
    return d.list_all("/v1/webhooks/%d/deliveries" % webhook_id, token, **q)


def wait_state(d, token, webhook_id, pred, timeout=30, what="deliveries"):
    """Poll the endpoint's log until pred(items) is true; the items."""
    box = {}

    def probe():
        box["v"] = deliveries(d, token, webhook_id)
        return pred(box["v"])
    wait_until(probe, timeout, what, interval=0.2)
    return box["v"]
