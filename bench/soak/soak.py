#!/usr/bin/python3
"""soak.py: the soak of bench/soak/run.sh (Debian's python3, with
python3-websockets and python3-aiosmtpd).

    soak.py run --tocsind BIN --dsn DSN --work DIR --http-port P --ws-port P
                [--duration 600] [--subscribers 5000] [--procs 2]
                [--users 100] [--webhooks 20] [--email-users 20]
                [--sample 10] [--warmup 120] [--ring-events N]
                [--interval 1.0] [--flat-kb-per-min 0] [--flat-pct 1]
        Starts tocsind (its stderr in DIR/tocsind.log), a webhook sink and
        an SMTP sink (aiosmtpd) on 127.0.0.1, creates the subscribers'
        members (each with a "ws" subscription, filter {}), organisations
        with a webhook and a "webhook:<id>" subscription, members with an
        "email" subscription; opens SUBSCRIBERS WebSocket connections
        spread over PROCS processes; publishes one TLP:CLEAR advisory a
        second for DURATION seconds; samples tocsind's RSS (VmRSS,
        RssAnon, RssFile), descriptors and, from /metrics, its ring of
        recent events (tocsin_stream_ring_events, _bytes) every SAMPLE
        seconds; then waits for everything to arrive and stops tocsind
        with SIGTERM. Writes DIR/rss.csv and DIR/summary.json and prints
        the summary. Exit 0 when nothing was lost, tocsind exited 0, its
        log holds no sanitizer report and, with --flat-kb-per-min, RSS
        minus the ring's bytes was flat after the warm-up: a least-squares
        slope of at most that many kB/min and at most --flat-pct % more
        in the last minute than in the first (means of the samples).

    soak.py sub --url WS_URL --tokens FILE --first K --n N --out FILE
        One subscriber process (used by run): N connections, tokens taken
        round-robin from FILE starting at K; each reconnects with
        ?since=<last event id> if closed. Prints "READY n" once all are
        ready, "STATUS ..." every 10 s; on SIGUSR1 reads DIR/expected.json
        (the event ids published), waits until every connection has them
        all (at most 120 s) and writes its counts to FILE.
"""

import argparse
import asyncio
import http.client
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ---------------------------------------------------------------- REST

class Rest:
    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.local = threading.local()

    def call(self, method, path, token=None, body=None, ok=(200, 201),
             raw=False):
        for attempt in range(3):
            c = getattr(self.local, "c", None)
            if c is None:
                c = self.local.c = http.client.HTTPConnection(
                    self.host, self.port, timeout=60)
            hdrs = {}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
            if token:
                hdrs["Authorization"] = "Bearer " + token
            try:
                c.request(method, path, body=data, headers=hdrs)
                r = c.getresponse()
                got = r.read()
            except (OSError, http.client.HTTPException):
                c.close()
                self.local.c = None
                if attempt == 2:
                    raise
                time.sleep(0.5)
                continue
            if r.status not in ok:
                raise RuntimeError("%s %s: %d %r" % (method, path, r.status,
                                                     got[:200]))
            if raw:
                return got.decode()
            return json.loads(got) if got else None
        raise RuntimeError("unreachable")


# ----------------------------------------------------------------- sinks

class WebhookSink:
    """Counts deliveries per endpoint, by webhook-id (retries share it)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ids = {}           # endpoint -> set of webhook-id
        self.requests = 0
        sink = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                wid = self.headers.get("webhook-id", "")
                with sink.lock:
                    sink.requests += 1
                    sink.ids.setdefault(self.path, set()).add(wid)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def counts(self):
        with self.lock:
            return {k: len(v) for k, v in self.ids.items()}, self.requests


class SmtpSink:
    """aiosmtpd on 127.0.0.1: counts messages per recipient."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        self.lock = threading.Lock()
        self.by_rcpt = {}
        self.messages = 0
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with sink.lock:
                    sink.messages += 1
                    for r in envelope.rcpt_tos:
                        sink.by_rcpt[r.lower()] = \
                            sink.by_rcpt.get(r.lower(), 0) + 1
                return "250 OK"

        port = free_port()
        self.ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
        self.ctl.start()
        self.port = port

    def counts(self):
        with self.lock:
            return dict(self.by_rcpt), self.messages

    def stop(self):
        self.ctl.stop()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------ subscribers

def sub_main(a):
    import websockets

    with open(a.tokens) as f:
        tokens = [l.strip() for l in f if l.strip()]
    expected_path = os.path.join(os.path.dirname(a.out), "expected.json")

    class Conn:
        __slots__ = ("token", "got", "dupes", "last", "ready", "reconnects",
                     "closes", "sampled")

        def __init__(self, token, sampled):
            self.token = token
            self.sampled = sampled      # its latencies are recorded
            self.got = set()
            self.dupes = 0
            self.last = None
            self.ready = False
            self.reconnects = 0
            self.closes = {}

    # Latency: every event, on one connection in 50 (a sample even in time).
    conns = [Conn(tokens[(a.first + i) % len(tokens)], i % 50 == 0)
             for i in range(a.n)]
    lat = []                    # ms
    state = {"expected": None, "stop": False}
    sem = asyncio.Semaphore(64)         # connection attempts in flight

    async def one(c):
        while not state["stop"]:
            url = a.url
            if c.reconnects > 0:        # resume: everything after the last
                url += "?since=%d" % (c.last or 0)
            try:
                async with sem:
                    ws = await websockets.connect(
                        url, extra_headers=[("Authorization",
                                             "Bearer " + c.token)],
                        ping_interval=None, max_size=None, open_timeout=60,
                        close_timeout=2)
                async for raw in ws:
                    m = json.loads(raw)
                    t = m.get("type")
                    if t == "ready":
                        c.ready = True
                        continue
                    eid = m.get("event_id")
                    if eid is None:
                        continue
                    if eid in c.got:
                        c.dupes += 1
                    c.got.add(eid)
                    if c.last is None or eid > c.last:
                        c.last = eid
                    title = (m.get("data") or {}).get("title", "")
                    mt = re.search(r" t=(\d+)", title)
                    if mt and c.sampled:
                        lat.append((time.time_ns() - int(mt.group(1))) / 1e6)
                code = ws.close_code
            except (OSError, asyncio.TimeoutError,
                    websockets.WebSocketException) as e:
                code = getattr(e, "code", None) or type(e).__name__
            if state["stop"]:
                return
            c.closes[str(code)] = c.closes.get(str(code), 0) + 1
            c.reconnects += 1
            c.ready = False
            # The server shut down or closed us: come back and resume.
            await asyncio.sleep(0.5)

    def on_usr1():
        with open(expected_path) as f:
            state["expected"] = set(json.load(f))

    async def main():
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, on_usr1)
        loop.add_signal_handler(signal.SIGTERM,
                                lambda: state.__setitem__("stop", True))
        tasks = [asyncio.create_task(one(c)) for c in conns]
        announced = False
        t_status = time.monotonic()
        while not state["stop"]:
            await asyncio.sleep(0.2)
            nready = sum(c.ready for c in conns)
            if not announced and nready == len(conns):
                print("READY %d" % nready, flush=True)
                announced = True
            if time.monotonic() - t_status >= 10:
                t_status = time.monotonic()
                print("STATUS ready=%d received=%d reconnects=%d" % (
                    nready, sum(len(c.got) for c in conns),
                    sum(c.reconnects for c in conns)), flush=True)
            exp = state["expected"]
            if exp is not None:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and \
                        any(not exp <= c.got for c in conns):
                    await asyncio.sleep(0.5)
                break
        state["stop"] = True
        exp = state["expected"] or set()
        missing = [len(exp - c.got) for c in conns]
        closes = {}
        for c in conns:
            for k, v in c.closes.items():
                closes[k] = closes.get(k, 0) + v
        lat.sort()
        out = {
            "connections": len(conns),
            "expected_per_connection": len(exp),
            "complete": sum(1 for m in missing if m == 0),
            "missing_total": sum(missing),
            "missing_max": max(missing) if missing else 0,
            "duplicates_total": sum(c.dupes for c in conns),
            "extra_total": sum(len(c.got - exp) for c in conns),
            "reconnects": sum(c.reconnects for c in conns),
            "closes": closes,
            "received_total": sum(len(c.got) for c in conns),
            "latency_ms": {
                "n": len(lat),
                "p50": lat[len(lat) // 2] if lat else None,
                "p99": lat[int(len(lat) * 0.99)] if lat else None,
                "max": lat[-1] if lat else None,
            },
        }
        with open(a.out, "w") as f:
            json.dump(out, f)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


# -------------------------------------------------------------------- run

def status_kb(pid, field="VmRSS"):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pid):
    return status_kb(pid)


def ring_gauges(rest, token):
    """(events, bytes) of tocsind's ring of recent events, from /metrics
    (tocsin_stream_ring_events, _bytes); (None, None) if it has none."""
    try:
        text = rest.call("GET", "/metrics", token, raw=True)
    except (OSError, RuntimeError, http.client.HTTPException):
        return None, None
    got = {}
    for line in text.splitlines():
        if line.startswith("tocsin_stream_ring_"):
            k, v = line.split()
            got[k] = int(float(v))
    return (got.get("tocsin_stream_ring_events"),
            got.get("tocsin_stream_ring_bytes"))


def slope_per_min(pts):
    """Least-squares slope of [(t_s, v)], per minute; None if too few."""
    if len(pts) < 3:
        return None
    mt = sum(t for t, _ in pts) / len(pts)
    mv = sum(v for _, v in pts) / len(pts)
    den = sum((t - mt) ** 2 for t, _ in pts)
    return sum((t - mt) * (v - mv) for t, v in pts) / den * 60 if den else 0.0


def growth(pts, span=60):
    """Mean of the last SPAN s of [(t_s, v)] minus the mean of the first
    SPAN s (single samples are noisy: the allocator moves in steps)."""
    if not pts:
        return None
    t0, t1 = pts[0][0], pts[-1][0]
    first = [v for t, v in pts if t < t0 + span]
    last = [v for t, v in pts if t > t1 - span]
    return sum(last) / len(last) - sum(first) / len(first)


def per_minute(pts):
    """The increase of each whole minute of [(t_s, v)], from its first."""
    out = []
    if not pts:
        return out
    t0 = pts[0][0]
    at = {round(t - t0): v for t, v in pts}
    m = 60
    while m in at:
        out.append(at[m] - at[m - 60])
        m += 60
    return out


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


_children = []


def _kill_children():
    """On any exit: no tocsind or subscriber left behind (a daemon left
    running would join the next run's database on the same port)."""
    for p in _children:
        if p.poll() is None:
            p.kill()
            p.wait()


def run_main(a):
    import atexit
    atexit.register(_kill_children)
    os.makedirs(a.work, exist_ok=True)
    whs = WebhookSink()
    smtp = SmtpSink() if a.email_users > 0 else None
    log("webhook sink on %d, SMTP sink on %s" % (
        whs.port, smtp.port if smtp else "-"))
    keys = os.path.join(a.work, "keys")
    os.makedirs(keys, exist_ok=True)
    cfg = os.path.join(a.work, "tocsind.yaml")
    base = "http://127.0.0.1:%d" % a.http_port
    with open(cfg, "w") as f:
        f.write("""# Written by bench/soak/soak.py.
listen:
  http: "127.0.0.1:%d"
  ws: "127.0.0.1:%d"
database: "%s"
public_url: "%s"
templates: "%s"
key_file: "%s/server.key"
webhooks:
  allow_private_networks: true
  signing_key: "%s/webhook.pem"
  timeout_s: 10
%s
limits:
  rate_per_token: 0
  rate_per_address: 0
%s
log:
  level: info
""" % (a.http_port, a.ws_port, a.dsn, base, a.templates, keys, keys,
            ("smtp:\n  url: \"smtp://127.0.0.1:%d\"\n"
             "  from: \"Soak CSIRT <soak@csirt.test>\"" % smtp.port)
            if smtp else "",
            "stream:\n  ring_events: %d" % a.ring_events
            if a.ring_events else ""))
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")

    def tocsind(*args):
        p = subprocess.run([a.tocsind, "-c", cfg] + list(args),
                           capture_output=True, text=True, env=env,
                           timeout=120)
        if p.returncode != 0:
            sys.exit("tocsind %s failed: %s" % (args, p.stderr))
        return p.stdout

    tocsind("migrate")
    admin = tocsind("bootstrap-admin", "admin").strip().splitlines()[-1]
    logf = open(os.path.join(a.work, "tocsind.log"), "w")
    # TOCSIND_WRAPPER: e.g. "heaptrack -o FILE" to profile the daemon.
    wrap = os.environ.get("TOCSIND_WRAPPER", "").split()
    proc = subprocess.Popen(wrap + [a.tocsind, "-c", cfg],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=logf, env=env)
    _children.append(proc)
    rest = Rest(base)
    deadline = time.monotonic() + 60
    while True:
        try:
            rest.call("GET", "/healthz")
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("tocsind did not start; see tocsind.log")
            time.sleep(0.2)
    log("tocsind pid %d up; RSS %d kB" % (proc.pid, rss_kb(proc.pid)))

    # --- the population
    t0 = time.monotonic()

    def user(org_id, role, name, email=None):
        body = {"name": name, "role": role, "language": "en",
                "email": email or "%s@soak.test" % re.sub(r"\W", ".", name)}
        if org_id:
            body["organisation_id"] = org_id
        u = rest.call("POST", "/v1/users", admin, body)
        u["token"] = rest.call("POST", "/v1/tokens", admin,
                               {"user_id": u["id"]})["token"]
        return u

    pub = user(None, "publisher", "Soak publisher")
    org = rest.call("POST", "/v1/organisations", admin,
                    {"name": "Soak members", "kind": "essential",
                     "sectors": ["energy"]})
    tokens = []
    for i in range(a.users):
        u = user(org["id"], "member", "member %d" % i)
        rest.call("POST", "/v1/subscriptions", u["token"],
                  {"name": "all", "filter": {}, "channels": ["ws"]})
        tokens.append(u["token"])
    with open(os.path.join(a.work, "tokens"), "w") as f:
        f.write("\n".join(tokens) + "\n")
    hooks = []
    for i in range(a.webhooks):
        o = rest.call("POST", "/v1/organisations", admin,
                      {"name": "Soak webhook org %d" % i, "kind": "important",
                       "sectors": ["health"]})
        adm = user(o["id"], "org-admin", "hook admin %d" % i)
        w = rest.call("POST", "/v1/webhooks", adm["token"],
                      {"url": "http://127.0.0.1:%d/wh/%d" % (whs.port, i)})
        rest.call("POST", "/v1/subscriptions", adm["token"],
                  {"name": "all", "filter": {},
                   "channels": ["webhook:%d" % w["id"]]})
        hooks.append("/wh/%d" % i)
    mails = []
    for i in range(a.email_users if smtp else 0):
        u = user(org["id"], "member", "mail user %d" % i,
                 email="mail%d@soak.test" % i)
        rest.call("POST", "/v1/subscriptions", u["token"],
                  {"name": "mail", "filter": {}, "channels": ["email"]})
        mails.append("mail%d@soak.test" % i)
    log("population: %d members, %d webhooks, %d e-mail users in %.1f s"
        % (a.users, len(hooks), len(mails), time.monotonic() - t0))

    # --- the subscribers
    subs = []
    per = a.subscribers // a.procs
    t0 = time.monotonic()
    for i in range(a.procs):
        n = per if i < a.procs - 1 else a.subscribers - per * (a.procs - 1)
        out = os.path.join(a.work, "sub%d.json" % i)
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                              "sub", "--url",
                              "ws://127.0.0.1:%d/v1/stream" % a.ws_port,
                              "--tokens", os.path.join(a.work, "tokens"),
                              "--first", str(i * per), "--n", str(n),
                              "--out", out],
                             stdout=subprocess.PIPE, text=True)
        _children.append(p)
        st = {"p": p, "out": out, "ready": False, "last": ""}

        def reader(st=st):
            for line in st["p"].stdout:
                st["last"] = line.strip()
                if line.startswith("READY"):
                    st["ready"] = True
        threading.Thread(target=reader, daemon=True).start()
        subs.append(st)
    while not all(s["ready"] for s in subs):
        if any(s["p"].poll() is not None for s in subs):
            sys.exit("a subscriber process exited")
        if proc.poll() is not None:
            sys.exit("tocsind exited while subscribers connected")
        if time.monotonic() - t0 > 600:
            sys.exit("subscribers not ready after 600 s: %r"
                     % [s["last"] for s in subs])
        time.sleep(0.5)
    connect_s = time.monotonic() - t0
    log("%d subscribers ready in %.1f s; tocsind RSS %d kB, %d fds"
        % (a.subscribers, connect_s, rss_kb(proc.pid), fd_count(proc.pid)))

    # --- publish one a second, sample RSS every a.sample s
    # One sample: t, VmRSS, RssAnon, RssFile (kB), descriptors, and the
    # ring's events and bytes (None without the gauges).
    rss = []

    def sample(t):
        ev, by = ring_gauges(rest, admin)
        return (t, rss_kb(proc.pid), status_kb(proc.pid, "RssAnon"),
                status_kb(proc.pid, "RssFile"), fd_count(proc.pid), ev,
                by)
    published = []
    t_start = time.monotonic()
    next_pub = t_start
    next_sample = t_start
    seq = 0
    while True:
        now = time.monotonic()
        if now - t_start >= a.duration:
            break
        if proc.poll() is not None:
            sys.exit("tocsind exited during the soak (status %s)"
                     % proc.returncode)
        if now >= next_sample:
            rss.append(sample(round(now - t_start, 1)))
            next_sample += a.sample
            if len(rss) % 6 == 1:
                x = rss[-1]
                log("t=%4.0f s RSS %d kB (anon %d), %d fds, ring %s events"
                    " %s kB, %d published; %s" % (
                        x[0], x[1], x[2], x[4], x[5],
                        "-" if x[6] is None else x[6] // 1024,
                        len(published),
                        " | ".join(s["last"] for s in subs)))
        if now >= next_pub:
            seq += 1
            r = rest.call("POST", "/v1/advisories", pub["token"], {
                "title": "Soak %d t=%d" % (seq, time.time_ns()),
                "summary": "Soak advisory %d." % seq,
                "body": "Body of soak advisory %d.\n" % seq,
                "tlp": "CLEAR", "severity": "medium", "sectors": ["energy"],
                "cves": [], "products": [], "references": []})
            published.append(r["event_id"])
            next_pub += a.interval
        time.sleep(max(0.0, min(next_pub, next_sample) - time.monotonic()))
    rss.append(sample(round(time.monotonic() - t_start, 1)))
    log("published %d in %.0f s" % (len(published), a.duration))

    # --- everything arrives?
    with open(os.path.join(a.work, "expected.json"), "w") as f:
        json.dump(published, f)
    for s in subs:
        s["p"].send_signal(signal.SIGUSR1)
    want_wh = {h: len(published) for h in hooks}
    want_mail = {m: len(published) for m in mails}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        whc, _ = whs.counts()
        mc, _ = smtp.counts() if smtp else ({}, 0)
        if all(whc.get(h, 0) >= n for h, n in want_wh.items()) and \
                all(mc.get(m, 0) >= n for m, n in want_mail.items()):
            break
        time.sleep(1)
    drain_s = time.monotonic() - t_start - a.duration
    for s in subs:
        s["p"].wait(300)
    whc, wh_requests = whs.counts()
    mc, mail_msgs = smtp.counts() if smtp else ({}, 0)
    rss_end = rss_kb(proc.pid)

    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = "killed after 30 s"
    logf.close()
    if smtp:
        smtp.stop()
    with open(os.path.join(a.work, "tocsind.log"), errors="replace") as f:
        text = f.read()
    sanitizer = [m for m in SANITIZER_MARKS if m in text]

    with open(os.path.join(a.work, "rss.csv"), "w") as f:
        f.write("t_s,rss_kb,anon_kb,file_kb,fds,ring_events,ring_bytes\n")
        for x in rss:
            f.write("%s,%d,%d,%d,%d,%s,%s\n" % tuple(
                "" if v is None else v for v in x))
    subres = []
    for s in subs:
        with open(s["out"]) as f:
            subres.append(json.load(f))
    # After warm-up: RSS, the ring's bytes (kB) and RSS minus the ring.
    post = [(x[0], x[1]) for x in rss if x[0] >= a.warmup]
    has_ring = all(x[6] is not None for x in rss if x[0] >= a.warmup)
    ring_post = [(x[0], x[6] / 1024) for x in rss
                 if x[0] >= a.warmup] if has_ring else []
    net_post = [(x[0], x[1] - x[6] / 1024) for x in rss
                if x[0] >= a.warmup] if has_ring else []
    slope = slope_per_min(post)
    # Flat (FLAT_KB_PER_MIN, FLAT_PCT of bench/soak/run.sh): after
    # warm-up, RSS minus the ring's bytes (all of RSS without the gauge)
    # grows by no more than flat_pct % from the first minute's mean to the
    # last's and its slope is at most flat_kb_per_min.
    judged = net_post if has_ring else post
    j_growth = growth(judged)
    j_slope = slope_per_min(judged)
    flat = None
    if a.flat_kb_per_min > 0 and judged and j_slope is not None:
        flat = (j_slope <= a.flat_kb_per_min and
                j_growth <= judged[0][1] * a.flat_pct / 100)

    def r1(v):
        return None if v is None else round(v, 1)
    lat = [s["latency_ms"] for s in subres if s["latency_ms"]["n"]]
    summary = {
        "duration_s": a.duration,
        "subscribers": a.subscribers,
        "subscriber_processes": a.procs,
        "ring_events": a.ring_events or "default",
        "connect_s": round(connect_s, 1),
        "published": len(published),
        "rss_kb": {
            "after_connect": rss[0][1],
            "after_warmup": post[0][1] if post else None,
            "warmup_s": a.warmup,
            "end": rss[-1][1],
            "after_drain": rss_end,
            "min_after_warmup": min(r for _, r in post) if post else None,
            "max_after_warmup": max(r for _, r in post) if post else None,
            "slope_kb_per_min_after_warmup": r1(slope),
            "growth_kb_after_warmup": r1(growth(post)),
            "per_minute_kb_after_warmup": per_minute(post),
            "anon_after_warmup": next((x[2] for x in rss
                                       if x[0] >= a.warmup), None),
            "anon_end": rss[-1][2],
            "file_after_warmup": next((x[3] for x in rss
                                       if x[0] >= a.warmup), None),
            "file_end": rss[-1][3],
        },
        "ring": {
            "events_after_warmup": next((x[5] for x in rss
                                         if x[0] >= a.warmup), None),
            "events_end": rss[-1][5],
            "kb_after_warmup": r1(ring_post[0][1]) if ring_post else None,
            "kb_end": r1(ring_post[-1][1]) if ring_post else None,
            "slope_kb_per_min_after_warmup": r1(slope_per_min(ring_post)),
        },
        "rss_minus_ring_kb": {
            "after_warmup": r1(net_post[0][1]) if net_post else None,
            "end": r1(net_post[-1][1]) if net_post else None,
            "growth_after_warmup": r1(growth(net_post)),
            "slope_per_min_after_warmup": r1(slope_per_min(net_post)),
            "per_minute_after_warmup":
                [r1(v) for v in per_minute(net_post)],
        },
        "flat": {
            "judged": "rss_minus_ring" if has_ring else "rss",
            "growth_kb": r1(j_growth),
            "slope_kb_per_min": r1(j_slope),
            "max_pct": a.flat_pct,
            "max_kb_per_min": a.flat_kb_per_min,
            "flat": flat,
        },
        "stream": {
            "connections": sum(s["connections"] for s in subres),
            "complete": sum(s["complete"] for s in subres),
            "missing_total": sum(s["missing_total"] for s in subres),
            "duplicates_total": sum(s["duplicates_total"] for s in subres),
            "extra_total": sum(s["extra_total"] for s in subres),
            "reconnects": sum(s["reconnects"] for s in subres),
            "closes": [s["closes"] for s in subres],
            "deliveries": sum(s["received_total"] for s in subres),
            "latency_ms": lat,
        },
        "webhooks": {
            "endpoints": len(hooks),
            "expected": len(hooks) * len(published),
            "distinct_received": sum(min(whc.get(h, 0), len(published))
                                     for h in hooks),
            "requests": wh_requests,
        },
        "email": {
            "recipients": len(mails),
            "expected": len(mails) * len(published),
            "received": sum(mc.get(m, 0) for m in mails),
            "messages": mail_msgs,
        },
        "drain_s": round(drain_s, 1),
        "tocsind_exit": code,
        "sanitizer_reports": sanitizer,
    }
    with open(os.path.join(a.work, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))
    ok = (summary["stream"]["missing_total"] == 0 and
          summary["stream"]["complete"] == a.subscribers and
          summary["webhooks"]["distinct_received"] ==
          summary["webhooks"]["expected"] and
          summary["email"]["received"] >= summary["email"]["expected"] and
          code == 0 and not sanitizer and flat is not False)
    log("soak %s" % ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    sp = ap.add_subparsers(dest="cmd", required=True)
    r = sp.add_parser("run")
    r.add_argument("--tocsind", required=True)
    r.add_argument("--dsn", required=True)
    r.add_argument("--work", required=True)
    r.add_argument("--templates", required=True)
    r.add_argument("--http-port", type=int, required=True)
    r.add_argument("--ws-port", type=int, required=True)
    r.add_argument("--duration", type=int, default=600)
    r.add_argument("--subscribers", type=int, default=5000)
    r.add_argument("--procs", type=int, default=2)
    r.add_argument("--users", type=int, default=100)
    r.add_argument("--webhooks", type=int, default=20)
    r.add_argument("--email-users", type=int, default=20)
    r.add_argument("--sample", type=int, default=10)
    r.add_argument("--warmup", type=int, default=120)
    r.add_argument("--interval", type=float, default=1.0,
                   help="seconds between publishes")
    r.add_argument("--flat-kb-per-min", type=float, default=0,
                   help="RSS is flat if it grows no faster (0: not judged)")
    r.add_argument("--flat-pct", type=float, default=1.0,
                   help="... and by no more than this % after warm-up")
    r.add_argument("--ring-events", type=int, default=0,
                   help="stream.ring_events (default: tocsind's)")
    s = sp.add_parser("sub")
    s.add_argument("--url", required=True)
    s.add_argument("--tokens", required=True)
    s.add_argument("--first", type=int, default=0)
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.cmd == "sub":
        sub_main(a)
        return 0
    return run_main(a)


if __name__ == "__main__":
    sys.exit(main())
