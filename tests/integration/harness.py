"""harness.py: what every integration test imports.

The run script (tests/integration/run) starts ONE throwaway PostgreSQL
cluster and exports where it is; each test file runs in its own process,
with its stdout and stderr going to tests/logs/NAME.log. A test file:

    from harness import *

    @test
    def healthz_ok():
        d = Daemon(new_database("healthz"))
        st, _, body = d.api("GET", "/healthz")
        eq(st, 200)

    if __name__ == "__main__":
        main()

Daemon() writes a config with free ports, runs `tocsind migrate` and
`tocsind bootstrap-admin admin`, starts the daemon with its stderr copied
into the log, and waits for GET /healthz. A test fails if any tocsind
(daemon or subcommand) prints a sanitizer report, or if the daemon does
not exit 0 within 10 s of SIGTERM. Python 3 standard library plus
python3-websockets (Debian 12: 10.4) only.
"""

import asyncio
import contextlib
import http.client
import itertools
import json as jsonlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("TOCSIN_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("TOCSIN_BUILDDIR") or SRCDIR
TOCSIND = os.path.join(BUILDDIR, "tocsind")
TOCSIN = os.path.join(BUILDDIR, "tocsin")
PGBIN = os.environ.get("TOCSIN_PG_BIN", "/usr/lib/postgresql/15/bin")
PG_CLUSTER_SH = os.path.join(SRCDIR, "deploy", "pg-cluster.sh")

# Where this test may write (configs, a second cluster): the run script
# gives each test its own directory.
WORKDIR = os.environ.get("TOCSIN_TESTDIR") or tempfile.mkdtemp(prefix="tocsin-test-")
os.makedirs(WORKDIR, exist_ok=True)
os.chmod(WORKDIR, 0o755)        # a PrivateCluster's postgres must reach it

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")

# Every tocsind we start: the schema from the source tree, sanitizers loud.
TOCSIND_ENV = dict(os.environ)
TOCSIND_ENV.setdefault("TOCSIN_SCHEMA_DIR", os.path.join(SRCDIR, "schema"))
TOCSIND_ENV.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
TOCSIND_ENV.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
_lsan_supp = os.path.join(SRCDIR, "tests", "lsan.supp")
if os.path.exists(_lsan_supp):
    TOCSIND_ENV.setdefault("LSAN_OPTIONS", "suppressions=" + _lsan_supp)

_log_lock = threading.Lock()


def log(*args):
    """A line in this test's log."""
    with _log_lock:
        print(*args, flush=True)


# ---------------------------------------------------------------- asserts

def eq(got, want, what=""):
    assert got == want, "%s: got %r, want %r" % (what or "value", got, want)


def wait_until(pred, timeout, what="condition", interval=0.05):
    """Poll pred() until it is true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("%s not met within %ss" % (what, timeout))
        time.sleep(interval)


def free_port():
    """A TCP port nothing listens on right now (bind to port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_sanitizers(text, who):
    for mark in SANITIZER_MARKS:
        if mark in text:
            raise AssertionError("%s printed a sanitizer report (%r); see the log"
                                 % (who, mark))


# ------------------------------------------------------------- PostgreSQL

class Cluster:
    """A PostgreSQL cluster reachable on 127.0.0.1 with trust auth."""

    def __init__(self, host, port, user="postgres", socket_dir=None):
        self.host, self.port, self.user = host, int(port), user
        self.socket_dir = socket_dir

    @classmethod
    def from_env(cls):
        if "TOCSIN_PG_PORT" not in os.environ:
            raise AssertionError("no cluster: run this test through "
                                 "tests/integration/run")
        return cls(os.environ.get("TOCSIN_PG_HOST", "127.0.0.1"),
                   os.environ["TOCSIN_PG_PORT"],
                   os.environ.get("TOCSIN_PG_USER", "postgres"),
                   os.environ.get("TOCSIN_PG_SOCKET"))

    def dsn(self, dbname="postgres"):
        return "host=%s port=%d user=%s dbname=%s" % (self.host, self.port,
                                                       self.user, dbname)

    def psql(self, dbname, sql):
        """Run SQL; rows as tuples of strings."""
        p = subprocess.run(
            [os.path.join(PGBIN, "psql"), "-X", "-q", "-A", "-t",
             "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-d", self.dsn(dbname),
             "-c", sql], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("psql failed: %s\n%s" % (sql, p.stderr))
        return [tuple(line.split("\x1f")) for line in p.stdout.splitlines()]

    def new_database(self, name):
        name = "t_" + re.sub(r"[^a-z0-9_]", "_", name.lower())[:40]
        self.psql("postgres", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        self.psql("postgres", 'CREATE DATABASE "%s"' % name)
        return Database(self, name)


class PrivateCluster(Cluster):
    """A second cluster of this test's own (deploy/pg-cluster.sh), for tests
    that stop PostgreSQL under a running daemon."""

    def __init__(self, name="pg2"):
        super().__init__("127.0.0.1", free_port())
        self.dir = os.path.join(WORKDIR, name)
        _private_clusters.append(self)

    def _sh(self, *args):
        p = subprocess.run(["sh", PG_CLUSTER_SH] + list(args),
                           capture_output=True, text=True, timeout=120)
        log("pg-cluster.sh %s: exit %d %s%s" % (" ".join(args), p.returncode,
                                               p.stdout, p.stderr))
        if p.returncode != 0:
            raise AssertionError("pg-cluster.sh %s failed" % args[0])

    def start(self):
        self._sh("start", self.dir, str(self.port))
        return self

    def stop(self):
        self._sh("stop", self.dir)


_private_clusters = []
_shared_cluster = None


def cluster():
    """The run's shared cluster."""
    global _shared_cluster
    if _shared_cluster is None:
        _shared_cluster = Cluster.from_env()
    return _shared_cluster


def new_database(name, on=None):
    """A fresh database on the shared cluster (or on `on`) for one test."""
    return (on or cluster()).new_database(name)


# Tables whose rows a refused request must leave alone, compared whole.
# tokens is compared by count only: using a token may stamp last_used_at.
SNAPSHOT_TABLES = ("organisations", "users", "advisories", "advisory_revisions",
                   "id_counters", "events", "subscriptions", "webhooks",
                   "assets", "warnings")


class Database:
    def __init__(self, cl, name):
        self.cluster, self.name = cl, name
        self.dsn = cl.dsn(name)

    def sql(self, query):
        return self.cluster.psql(self.name, query)

    def scalar(self, query):
        rows = self.sql(query)
        return rows[0][0] if rows else None

    def tables(self):
        return {r[0] for r in self.sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}

    def snapshot(self):
        """Row counts and content digests of the tables a request may
        change (those of SNAPSHOT_TABLES that exist, and tokens)."""
        have = self.tables()
        snap = {}
        for t in SNAPSHOT_TABLES:
            if t in have:
                snap[t] = self.sql(
                    "SELECT count(*), md5(coalesce(string_agg(x::text, "
                    "E'\\n' ORDER BY x::text), '')) FROM \"%s\" x" % t)[0]
        if "tokens" in have:
            snap["tokens"] = self.sql("SELECT count(*), count(revoked_at) "
                                      "FROM tokens")[0]
        return snap

    @contextlib.contextmanager
    def unchanged(self, what="refused request"):
        """Assert that the block changes no row of the snapshot tables."""
        before = self.snapshot()
        yield
        after = self.snapshot()
        changed = sorted(t for t in set(before) | set(after)
                         if before.get(t) != after.get(t))
        assert not changed, "%s changed table(s) %s" % (what, ", ".join(changed))


# ------------------------------------------------------------------- HTTP

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


class Resp(tuple):
    """(status, headers, body): body is parsed JSON for JSON media types,
    else text. Unpacks as a tuple; also .status, .headers, .body."""

    def __new__(cls, status, headers, body):
        return super().__new__(cls, (status, headers, body))

    status = property(lambda self: self[0])
    headers = property(lambda self: self[1])
    body = property(lambda self: self[2])


def request(base, method, path, token=None, json=None, raw=None,
            headers=None, timeout=30):
    """One HTTP request with urllib, no redirects followed."""
    hdrs = {}
    data = None
    if json is not None:
        data = jsonlib.dumps(json).encode()
        hdrs["Content-Type"] = "application/json"
    elif raw is not None:
        data = raw if isinstance(raw, bytes) else raw.encode()
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    hdrs.update(headers or {})
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers=hdrs)
    try:
        with _opener.open(req, timeout=timeout) as r:
            status, rh, content = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, rh, content = e.code, e.headers, e.read()
    return parse_response(status, rh, content, "%s %s" % (method, path))


def parse_response(status, headers, content, what=""):
    """Resp from raw parts: JSON media types parsed, else text."""
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    body = content.decode("utf-8", "replace")
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            body = jsonlib.loads(body)
        except ValueError:
            raise AssertionError("%s: %d with a %s body that is not JSON: %r"
                                 % (what, status, ctype, body[:200]))
    return Resp(status, headers, body)


# Slugs of docs/API.md, "Common rules".
PROBLEM_SLUGS = {400: "malformed-json", 401: "unauthorized", 403: "forbidden",
                 404: "not-found", 405: "method-not-allowed", 409: "conflict",
                 413: "body-too-large", 415: "unsupported-media-type",
                 422: "invalid-field", 429: "rate-limited", 500: "internal",
                 503: "database-unavailable"}


def problem_ok(resp, status, field=None):
    """Assert an RFC 9457 problem of this status (docs/API.md): media type,
    type, title, status, detail, and `field` naming the member at fault
    (or one inside it: "sectors" accepts "sectors[1]" and "sectors.1")."""
    st, hdrs, body = resp
    assert st == status, "status %d, want %d; body %r" % (st, status, body)
    ctype = (hdrs.get("Content-Type") or "").split(";")[0].strip()
    eq(ctype, "application/problem+json", "Content-Type")
    assert isinstance(body, dict), "problem body is not an object: %r" % body
    for k in ("type", "title", "detail"):
        assert isinstance(body.get(k), str) and body[k], \
            "problem without %r: %r" % (k, body)
    eq(body.get("status"), status, "problem status member")
    slug = PROBLEM_SLUGS.get(status)
    if slug:
        assert body["type"].endswith("/problems/" + slug), \
            "problem type %r, want /problems/%s" % (body["type"], slug)
    if field is not None:
        got = body.get("field")
        assert isinstance(got, str) and re.match(
            re.escape(field) + r"($|[.\[/])", got), \
            "problem field %r, want %r (detail: %s)" % (got, field,
                                                         body.get("detail"))
    return body


# ----------------------------------------------------------------- tocsind

def to_yaml(obj, indent=0):
    """The small YAML subset configs need: nested mappings, scalars, flow
    lists. Strings are double-quoted JSON strings (valid YAML)."""
    def scalar(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        return jsonlib.dumps(str(v))
    out = []
    for k, v in obj.items():
        if isinstance(v, dict) and v:
            out.append(" " * indent + "%s:" % k)
            out.append(to_yaml(v, indent + 2))
        elif isinstance(v, dict):
            out.append(" " * indent + "%s: {}" % k)
        else:
            out.append(" " * indent + "%s: %s" % (k, scalar(v)))
    return "\n".join(out)


def merge(base, over):
    """Deep-merge over into base; a None value removes the key."""
    for k, v in over.items():
        if v is None:
            base.pop(k, None)
        elif isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v
    return base


def run_tocsind(args, timeout=60, stdin=None):
    """Run tocsind with args, log its output, fail on a sanitizer report.
    Returns the CompletedProcess (text)."""
    assert os.access(TOCSIND, os.X_OK), "%s is not built" % TOCSIND
    log("$ tocsind " + " ".join(args))
    p = subprocess.run([TOCSIND] + list(args), capture_output=True, text=True,
                       timeout=timeout, env=TOCSIND_ENV, input=stdin)
    log("  exit %d" % p.returncode)
    for name, text in (("stdout", p.stdout), ("stderr", p.stderr)):
        for line in text.splitlines():
            log("  %s| %s" % (name, line))
    check_sanitizers(p.stdout + p.stderr, "tocsind " + " ".join(args))
    return p


_daemons = []
_serial = itertools.count(1)


class Daemon:
    """One tocsind on free ports against one database.

    Daemon(db, **config) where db is a Database or a libpq string and the
    keywords override the generated config (nested dicts merge; None
    removes a key): Daemon(db, limits={"max_body_bytes": 4096}).
    migrate/bootstrap=False skip those steps (a daemon on a dead database).
    """

    def __init__(self, db, migrate=True, bootstrap=True, start=True, **config):
        self.n = next(_serial)
        self.db = db if isinstance(db, Database) else None
        dsn = db.dsn if isinstance(db, Database) else db
        self.http_port, self.ws_port = free_port(), free_port()
        self.url = "http://127.0.0.1:%d" % self.http_port
        self.ws_url = "ws://127.0.0.1:%d/v1/stream" % self.ws_port
        self.config = merge({
            "listen": {"http": "127.0.0.1:%d" % self.http_port,
                       "ws": "127.0.0.1:%d" % self.ws_port},
            "database": dsn,
            "public_url": self.url,
            "advisory_id_prefix": "TST",
            "templates": os.path.join(SRCDIR, "templates"),
            "log": {"level": "debug"},
            # Tests hammer the API with one token from one address: the
            # rate limits are off unless a test sets them (88-rate-limits).
            "limits": {"rate_per_token": 0, "rate_per_address": 0},
        }, config)
        self.cfg = os.path.join(WORKDIR, "tocsind-%d.yaml" % self.n)
        self.write_config()
        self.proc = None
        self.done = False
        self.stderr_lines = []
        self.checked = 0
        self.admin_token = None
        self._names = itertools.count(1)
        _daemons.append(self)
        if migrate:
            p = self.cmd("migrate")
            eq(p.returncode, 0, "tocsind migrate exit status")
        if bootstrap:
            p = self.cmd("bootstrap-admin", "admin")
            eq(p.returncode, 0, "tocsind bootstrap-admin exit status")
            lines = [l for l in p.stdout.splitlines() if l.strip()]
            assert lines, "bootstrap-admin printed no token on stdout"
            self.admin_token = lines[-1].strip()
            assert re.fullmatch(r"\S{32,}", self.admin_token), \
                "bootstrap-admin's last stdout line is not a token"
        if start:
            self.start()

    def write_config(self):
        with open(self.cfg, "w") as f:
            f.write(to_yaml(self.config) + "\n")

    def cmd(self, *args, **kw):
        """Run `tocsind -c CFG ARGS...` (a subcommand) to completion."""
        return run_tocsind(["-c", self.cfg] + list(args), **kw)

    # -- process

    def start(self, ready_timeout=30, ready_status=200):
        """Start it; wait until GET /healthz answers ready_status (503 for
        a daemon whose database is down)."""
        assert os.access(TOCSIND, os.X_OK), "%s is not built" % TOCSIND
        log("starting tocsind #%d: http %d, ws %d, config %s"
            % (self.n, self.http_port, self.ws_port, self.cfg))
        self.done = False
        self.proc = subprocess.Popen([TOCSIND, "-c", self.cfg],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=TOCSIND_ENV)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        self.wait_health(ready_status, ready_timeout)
        return self

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stderr_lines.append(line)
            log("[tocsind#%d] %s" % (self.n, line))

    def stderr(self):
        return "\n".join(self.stderr_lines)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_health(self, status=200, timeout=30):
        """Poll GET /healthz until it answers status."""
        def probe():
            if not self.alive():
                raise AssertionError("tocsind #%d exited with %s before "
                                     "/healthz answered %d"
                                     % (self.n, self.proc.returncode, status))
            try:
                return self.api("GET", "/healthz", timeout=2).status == status
            except (OSError, http.client.HTTPException):
                return False
        wait_until(probe, timeout, "GET /healthz -> %d" % status)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        """SIGTERM; assert exit 0 within timeout s and a clean stderr."""
        if self.proc is None or self.done:
            return
        self.done = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._reader.join(5)
                raise AssertionError("tocsind #%d still running %ss after "
                                     "SIGTERM" % (self.n, timeout))
        self._reader.join(5)
        code = self.proc.returncode
        self.check_stderr()
        eq(code, 0, "tocsind #%d exit status after SIGTERM" % self.n)

    def kill(self):
        """SIGKILL, for tests that mean it; no exit status asserted."""
        self.done = True
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def check_stderr(self):
        """Fail on sanitizer output written since the last check."""
        new = self.stderr_lines[self.checked:]
        self.checked += len(new)
        check_sanitizers("\n".join(new), "tocsind #%d" % self.n)

    # -- REST

    def api(self, method, path, token=None, json=None, raw=None, headers=None,
            timeout=30):
        return request(self.url, method, path, token, json, raw, headers,
                       timeout)

    def list_all(self, path, token, **params):
        """Every item of a list, following next_cursor; asserts 200 on each
        page and that no item comes twice."""
        items, seen, cursor = [], set(), None
        for _ in range(1000):
            q = dict(params, **({"cursor": cursor} if cursor else {}))
            r = self.api("GET", path + ("?" + urllib.parse.urlencode(q) if q else ""),
                         token)
            assert r.status == 200, "GET %s: %d %r" % (path, r.status, r.body)
            for it in r.body["items"]:
                key = jsonlib.dumps(it.get("id"))
                assert key not in seen, "%s listed twice" % key
                seen.add(key)
                items.append(it)
            cursor = r.body.get("next_cursor")
            if cursor is None:
                return items
        raise AssertionError("%s: more than 1000 pages" % path)

    def unique(self, what):
        return "%s %d.%d" % (what, self.n, next(self._names))

    def make_org(self, name=None, kind="essential", sectors=(), token=None,
                 **extra):
        body = dict(name=name or self.unique("Org"), kind=kind,
                    sectors=list(sectors), **extra)
        r = self.api("POST", "/v1/organisations", token or self.admin_token,
                     json=body)
        assert r.status == 201, "create organisation: %d %r" % r[::2]
        return r.body

    def make_user(self, org_id=None, role="member", name=None, token=None,
                  **extra):
        name = name or self.unique(role)
        body = dict(name=name, role=role, language="en",
                    email=re.sub(r"\W", ".", name).lower() + "@test.invalid")
        if org_id is not None:
            body["organisation_id"] = org_id
        body.update(extra)
        r = self.api("POST", "/v1/users", token or self.admin_token, json=body)
        assert r.status == 201, "create user: %d %r" % r[::2]
        return r.body

    def make_token(self, user_id, token=None):
        r = self.api("POST", "/v1/tokens", token or self.admin_token,
                     json={"user_id": user_id})
        assert r.status == 201, "create token: %d %r" % r[::2]
        return r.body["token"]

    def principal(self, role, org_id=None):
        """A user of this role (in org_id) with a fresh token: a dict with
        id, organisation_id, token."""
        u = self.make_user(org_id, role)
        u["token"] = self.make_token(u["id"])
        return u

    def publish(self, token, **fields):
        """POST /v1/advisories; assert 201; the created advisory."""
        r = self.api("POST", "/v1/advisories", token, json=advisory(**fields))
        assert r.status == 201, "publish: %d %r" % r[::2]
        return r.body


_shared = {}


def shared_daemon(name, **config):
    """The daemon (on its own database) that several tests of a file share,
    started on first use. If it cannot start, every test asking fails."""
    if name not in _shared:
        try:
            _shared[name] = Daemon(new_database(name), **config)
        except Exception as e:
            _shared[name] = e
            raise
    v = _shared[name]
    if isinstance(v, Exception):
        raise AssertionError("shared daemon %r did not start: %s" % (name, v))
    return v


_advisory_serial = itertools.count(1)


def advisory(**fields):
    """A valid advisory document (CLEAR, medium) with fields overridden;
    a None value removes the field."""
    n = next(_advisory_serial)
    doc = {
        "title": "Test advisory %d" % n,
        "summary": "Summary of test advisory %d." % n,
        "body": "Body of test advisory %d.\n\n- one\n- two\n" % n,
        "tlp": "CLEAR",
        "severity": "medium",
        "sectors": [],
        "cves": [],
        "products": [],
        "references": [],
    }
    return merge(doc, fields)


# -------------------------------------------------------------- WebSocket

def raw_stream_socket(port, token, rcvbuf=None):
    """/v1/stream opened by hand on a plain socket (header auth), for tests
    that must see frames as they come or not read at all: (socket, bytes
    already received after the 101 answer). RCVBUF, if given, is set
    before connecting."""
    import base64
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((
        "GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
        "Authorization: Bearer %s\r\n\r\n" % (port, key, token)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(1024)
        assert chunk, "server closed during the handshake"
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    status = head.split(b"\r\n")[0]
    assert b" 101 " in status + b" ", "handshake: %r" % status
    return sock, buf


def ws_server_frame(buf):
    """The first whole server frame in BUF: (opcode, payload, bytes it
    took), or None if BUF ends before it does. A server frame is whole
    (FIN) and unmasked; anything else fails the test."""
    if len(buf) < 2:
        return None
    b0, b1 = buf[0], buf[1]
    assert b0 & 0x80, "fragmented frame (FIN clear): %r" % buf[:8]
    assert not b1 & 0x80, "masked server frame"
    n, i = b1 & 0x7F, 2
    if n == 126:
        if len(buf) < 4:
            return None
        n, i = int.from_bytes(buf[2:4], "big"), 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, i = int.from_bytes(buf[2:10], "big"), 10
    if len(buf) < i + n:
        return None
    return b0 & 0x0F, buf[i:i + n], i + n


class StreamClosed(AssertionError):
    def __init__(self, code, reason):
        super().__init__("stream closed: %s %s" % (code, reason))
        self.code, self.reason = code, reason


class Stream:
    """A WebSocket client of /v1/stream (asyncio, python3-websockets).

        async with Stream(d.ws_url, token, since=3) as s:
            m = await s.recv_until(lambda m: m["type"] == "ready", 5)
            await s.expect_nothing(1)

    token=None connects without the Authorization header (browser-style
    auth is then s.send({"type": "auth", "token": ...})). Every message
    received is kept in s.messages.
    """

    def __init__(self, url, token=None, since=None, headers=None):
        if since is not None:
            url += ("&" if "?" in url else "?") + "since=%d" % since
        self.url = url
        self.headers = list((headers or {}).items())
        if token is not None:
            self.headers.append(("Authorization", "Bearer " + token))
        self.ws = None
        self.messages = []

    async def connect(self, timeout=10):
        import websockets
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ws = await websockets.connect(
                    self.url, extra_headers=self.headers, open_timeout=timeout,
                    ping_interval=None, max_size=None, close_timeout=2)
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def __aenter__(self):
        return await self.connect()

    async def __aexit__(self, *exc):
        await self.close()

    async def close(self):
        if self.ws is not None:
            await self.ws.close()

    @property
    def close_code(self):
        return self.ws.close_code

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, str) else jsonlib.dumps(obj))

    async def recv(self, timeout=10):
        """The next message, parsed; AssertionError on timeout, StreamClosed
        when the server closes."""
        import websockets
        try:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError("no stream message within %ss" % timeout)
        except websockets.ConnectionClosed as e:
            raise StreamClosed(e.code, e.reason)
        msg = jsonlib.loads(raw)
        self.messages.append(msg)
        log("stream <- %s" % raw[:300])
        return msg

    async def recv_until(self, pred, timeout=10):
        """Read until a message satisfies pred; return it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching stream message within %ss; "
                                     "got %r" % (timeout, self.messages[-5:]))
            try:
                msg = await self.recv(left)
            except AssertionError as e:
                if isinstance(e, StreamClosed):
                    raise
                continue
            if pred(msg):
                return msg

    async def expect_nothing(self, timeout=1.0, pred=lambda m: True):
        """Assert that no message (matching pred) arrives within timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                msg = await self.recv(left)
            except StreamClosed:
                raise
            except AssertionError:
                return
            assert not pred(msg), "unexpected stream message %r" % msg


# ------------------------------------------------------------ test runner

_tests = []


def test(fn):
    """Register a test function (plain or async) of this file."""
    _tests.append(fn)
    return fn


def skip(reason):
    """Skip the whole file (exit 77, as automake does)."""
    log("SKIP: " + reason)
    sys.exit(77)


def _finish_daemons(check_exit):
    """Stop the daemons still running; report what went wrong."""
    errors = []
    for d in _daemons:
        try:
            if check_exit:
                d.stop()
            else:
                d.kill()
                d.check_stderr()
        except AssertionError as e:
            errors.append(str(e))
    return errors


def main():
    """Run this file's tests in order (argv[1]: name substring filter).
    Exit 0 if all passed, 1 otherwise."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    passed = failed = 0
    for fn in _tests:
        if only not in fn.__name__:
            continue
        log("=== %s: %s" % (name, fn.__name__))
        t0 = time.monotonic()
        err = None
        try:
            if asyncio.iscoroutinefunction(fn):
                asyncio.run(fn())
            else:
                fn()
        except Exception:
            err = traceback.format_exc()
        # A sanitizer report during this test is this test's failure.
        for d in _daemons:
            try:
                d.check_stderr()
            except AssertionError as e:
                err = (err or "") + str(e) + "\n"
        dt = time.monotonic() - t0
        if err is None:
            passed += 1
            log("ok   %s (%.1fs)" % (fn.__name__, dt))
        else:
            failed += 1
            log(err.rstrip())
            log("FAIL %s (%.1fs)" % (fn.__name__, dt))
    for e in _finish_daemons(check_exit=True):
        failed += 1
        log("FAIL shutdown: " + e)
    for c in _private_clusters:
        try:
            c.stop()
        except Exception as e:
            log("warning: " + str(e))
    log("%s: %d passed, %d failed" % (name, passed, failed))
    sys.exit(1 if failed or not passed else 0)
