#!/usr/bin/python3
"""wh.py: helper of bench/webhooks/run.sh (standard library only).

	wh.py orgs URL ADMIN_TOKEN SINK_URL N SECTOR WORKERS OUT
		N organisations (kind essential, sectors [SECTOR]), each with
		one webhook (targeted, json) at SINK_URL/<org id>, created
		through the REST API by WORKERS threads with keep-alive
		connections; writes the organisation ids to OUT, one a line.
	wh.py capture URL ADMIN_TOKEN PUB_TOKEN SECTOR ADVISORY OUTDIR
		One organisation in SECTOR with a webhook pointing at a
		one-shot HTTP server of this process; publishes ADVISORY to
		SECTOR and saves the delivery tocsind sends (OUTDIR/body,
		OUTDIR/headers.json) and the secret (OUTDIR/secret).
	wh.py verify OUTDIR
		Checks OUTDIR's captured delivery with the Standard Webhooks
		rules (v1: HMAC-SHA256 of id.timestamp.body with the secret).
	wh.py publish URL PUB_TOKEN N SECTOR ADVISORY WORKERS
		Publishes N advisories (ADVISORY with a numbered title and the
		audience {sectors: [SECTOR]}) with WORKERS threads; prints
		"t0=<epoch s before the first request> t1=<after the last>
		created=<n> event_min=<id> event_max=<id>".
	wh.py wrklua OUTDIR FILE
		Writes a wrk Lua script posting the captured body with the
		captured request's headers.
"""

import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse


def conn(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60)


def call(c, method, path, token, body=None):
    h = {"Authorization": "Bearer " + token}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    for attempt in range(20):
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            raw = r.read()
        except (http.client.HTTPException, OSError):
            if attempt == 19:
                raise
            c.close()
            time.sleep(0.2)
            continue
        # Rate-limited (a tocsind whose limits could not be lifted): wait.
        if r.status != 429 or attempt == 19:
            break
        time.sleep(float(r.getheader("Retry-After") or "1"))
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        doc = raw.decode(errors="replace")
    return r.status, doc


def must(status, doc, want, what):
    if status != want:
        sys.exit("wh.py: %s: HTTP %d %r" % (what, status, doc))
    return doc


def make_org(c, token, sector, url, n):
    o = must(*call(c, "POST", "/v1/organisations", token,
                   {"name": "Bench org %s %d" % (sector, n),
                    "kind": "essential", "sectors": [sector]}),
             201, "create organisation")
    w = must(*call(c, "POST", "/v1/webhooks", token,
                   {"url": url.replace("{org}", str(o["id"])),
                    "organisation_id": o["id"]}), 201, "create webhook")
    return o["id"], w


def cmd_orgs(url, token, sink, n, sector, workers, out):
    n, workers = int(n), int(workers)
    ids = [None] * n
    nxt = iter(range(n))
    lock = threading.Lock()
    errors = []

    def worker():
        c = conn(url)
        try:
            while True:
                with lock:
                    i = next(nxt, None)
                if i is None or errors:
                    return
                ids[i], _ = make_org(c, token, sector,
                                     sink.rstrip("/") + "/{org}", i)
        except BaseException as e:     # SystemExit from must() too
            errors.append(str(e))
        finally:
            c.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit(errors[0])
    with open(out, "w") as f:
        f.write("".join("%d\n" % i for i in ids))


def advisory(path, sector, title):
    with open(path) as f:
        doc = json.load(f)
    doc["title"] = title
    doc["audience"] = {"sectors": [sector]}
    return doc


def cmd_capture(url, admin, pub, sector, adv, outdir):
    got = {}
    done = threading.Event()

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            got["body"] = self.rfile.read(n)
            got["headers"] = [[k, v] for k, v in self.headers.items()]
            got["line"] = self.requestline
            self.send_response(204)
            self.end_headers()
            done.set()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    c = conn(url)
    _, w = make_org(c, admin, sector,
                    "http://127.0.0.1:%d/capture" % srv.server_port, 0)
    must(*call(c, "POST", "/v1/advisories", pub,
               advisory(adv, sector, "Bench capture advisory")),
         201, "publish")
    if not done.wait(30):
        sys.exit("wh.py: no delivery reached the capture server in 30 s")
    srv.shutdown()
    # The endpoint is switched off so that nothing else goes to it.
    must(*call(c, "PATCH", "/v1/webhooks/%d" % w["id"], admin,
               {"active": False}), 200, "disable the capture webhook")
    with open(os.path.join(outdir, "body"), "wb") as f:
        f.write(got["body"])
    with open(os.path.join(outdir, "headers.json"), "w") as f:
        json.dump({"line": got["line"], "headers": got["headers"]}, f,
                  indent=1)
    with open(os.path.join(outdir, "secret"), "w") as f:
        f.write(w["secret"] + "\n")


def cmd_verify(outdir):
    body = open(os.path.join(outdir, "body"), "rb").read()
    h = json.load(open(os.path.join(outdir, "headers.json")))
    hd = {k.lower(): v for k, v in h["headers"]}
    secret = open(os.path.join(outdir, "secret")).read().strip()
    key = base64.b64decode(secret[len("whsec_"):])
    signed = ("%s.%s." % (hd["webhook-id"], hd["webhook-timestamp"])).encode()
    want = base64.b64encode(hmac.new(key, signed + body,
                                     hashlib.sha256).digest()).decode()
    sigs = hd["webhook-signature"].split(" ")
    kinds = sorted(s.split(",", 1)[0] for s in sigs)
    ok = ("v1," + want) in sigs
    print("captured delivery: %d-byte body, signatures %s, v1 %s" % (
        len(body), "+".join(kinds), "verified" if ok else "WRONG"))
    if not ok or "v1a" not in kinds:
        sys.exit(1)


def cmd_publish(url, token, n, sector, adv, workers):
    n, workers = int(n), int(workers)
    docs = [advisory(adv, sector, "Bench advisory %s %d" % (sector, i))
            for i in range(n)]
    conns = [conn(url) for _ in range(workers)]
    for c in conns:             # connected before the clock starts
        c.connect()
    events = []
    lock = threading.Lock()
    nxt = iter(range(n))
    errors = []

    def worker(c):
        try:
            while True:
                with lock:
                    i = next(nxt, None)
                if i is None:
                    return
                st, doc = call(c, "POST", "/v1/advisories", token, docs[i])
                if st != 201:
                    raise RuntimeError("publish: HTTP %d %r" % (st, doc))
                with lock:
                    events.append(doc["event_id"])
        except BaseException as e:
            errors.append(str(e))

    threads = [threading.Thread(target=worker, args=(c,)) for c in conns]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t1 = time.time()
    if errors:
        sys.exit("wh.py: " + errors[0])
    print("t0=%.6f t1=%.6f created=%d event_min=%d event_max=%d" % (
        t0, t1, len(events), min(events), max(events)))


def lua_str(s):
    return '"' + "".join(c if c.isalnum() or c in " _-.,:;/+=()[]{}'@#*&%$!?<>~^|"
                         else "\\%03d" % ord(c) for c in s) + '"'


def cmd_wrklua(outdir, out):
    h = json.load(open(os.path.join(outdir, "headers.json")))
    skip = {"host", "content-length", "connection"}
    lines = [
        "-- Written by bench/webhooks/wh.py: the request tocsind sent to the",
        "-- capture sink, replayed (same body, same headers). Counts 2xx.",
        "local f = assert(io.open(%s, \"rb\"))" % lua_str(
            os.path.join(outdir, "body")),
        "wrk.method = \"POST\"",
        "wrk.body = f:read(\"*a\")",
        "f:close()",
    ]
    for k, v in h["headers"]:
        if k.lower() not in skip:
            lines.append("wrk.headers[%s] = %s" % (lua_str(k), lua_str(v)))
    lines += [
        "local threads = {}",
        "function setup(thread) table.insert(threads, thread) end",
        "function init(args) ok = 0; bad = 0 end",
        "function response(status, headers, body)",
        "\tif status >= 200 and status < 300 then ok = ok + 1",
        "\telse bad = bad + 1 end",
        "end",
        "function done(summary, latency, requests)",
        "\tlocal o, b = 0, 0",
        "\tfor _, t in ipairs(threads) do",
        "\t\to = o + t:get(\"ok\"); b = b + t:get(\"bad\")",
        "\tend",
        "\tio.write(string.format(\"WRK ok=%d bad=%d errors=%d \" ..",
        "\t    \"duration_us=%d p50_us=%d p99_us=%d\\n\", o, b,",
        "\t    summary.errors.connect + summary.errors.read +",
        "\t    summary.errors.write + summary.errors.timeout +",
        "\t    summary.errors.status, summary.duration,",
        "\t    latency:percentile(50), latency:percentile(99)))",
        "end",
    ]
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


CMDS = {"orgs": (cmd_orgs, 7), "capture": (cmd_capture, 6),
        "verify": (cmd_verify, 1), "publish": (cmd_publish, 6),
        "wrklua": (cmd_wrklua, 2)}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CMDS or \
            len(sys.argv) != CMDS[sys.argv[1]][1] + 2:
        sys.exit(__doc__)
    CMDS[sys.argv[1]][0](*sys.argv[2:])
