#!/usr/bin/python3
"""99-three-instances: three tocsind on one PostgreSQL behind a private
nginx configured with deploy/nginx-tocsin.conf (TLS on one public port;
deploy/README, "Several instances behind nginx"). 30 subscribers connect
to wss://nginx/v1/stream and are spread over the three; advisories are
published through https://nginx; everyone receives every item once. Then,
with a publisher thread publishing steadily, one instance is stopped with
SIGTERM: its subscribers reconnect through nginx and resume with
?since=<last id>; at the end every subscriber has every event of the
database (nothing missing; duplicates counted and reported, none wanted),
and three webhook endpoints have received every delivery (the outbox kept
draining on the instances left)."""

import ssl

from harness import *
import nginxutil
import tlsutil
from webhook_sink import Sink, make_webhook, signing_key

N_SUBSCRIBERS = 30
N_ORGS = 3                      # members spread over them; one webhook each
PUBLISH_EVERY_S = 0.2
PUBLISH_FOR_S = 12.0
STOP_AT_S = 4.0


class Balancer:
    """The public side: REST through nginx over HTTPS (the test CA)."""

    def __init__(self, port):
        self.port = port
        self.url = "https://127.0.0.1:%d" % port
        self.ws_url = "wss://127.0.0.1:%d/v1/stream" % port
        self.ctx = tlsutil.ca_context()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self.ctx))

    def api(self, method, path, token=None, json=None, timeout=30):
        hdrs = {}
        data = None
        if json is not None:
            data = jsonlib.dumps(json).encode()
            hdrs["Content-Type"] = "application/json"
        if token:
            hdrs["Authorization"] = "Bearer " + token
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method, headers=hdrs)
        try:
            with self.opener.open(req, timeout=timeout) as r:
                st, rh, content = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            st, rh, content = e.code, e.headers, e.read()
        return parse_response(st, rh, content, "%s %s" % (method, path))


class Subscriber:
    """One stream client through the balancer; resumes after a close."""

    def __init__(self, n, token):
        self.n, self.token = n, token
        self.got = {}                   # event id -> times received
        self.last = None
        self.ready = asyncio.Event()
        self.connections = 0
        self.closes = []
        self.stop = False

    def duplicates(self):
        return sum(c - 1 for c in self.got.values())

    async def run(self, bal):
        import websockets
        while not self.stop:
            url = bal.ws_url
            if self.last is not None:
                url += "?since=%d" % self.last
            try:
                ws = await websockets.connect(
                    url, ssl=bal.ctx, ping_interval=None, max_size=None,
                    open_timeout=10, close_timeout=2,
                    extra_headers=[("Authorization", "Bearer " + self.token)])
            except (OSError, asyncio.TimeoutError,
                    websockets.WebSocketException) as e:
                self.closes.append("connect: %s" % type(e).__name__)
                await asyncio.sleep(0.3)
                continue
            self.connections += 1
            try:
                async for raw in ws:
                    m = jsonlib.loads(raw)
                    if m.get("type") == "ready":
                        self.ready.set()
                        continue
                    eid = m.get("event_id")
                    if eid is None:
                        continue
                    self.got[eid] = self.got.get(eid, 0) + 1
                    if self.last is None or eid > self.last:
                        self.last = eid
            except websockets.ConnectionClosed:
                pass
            self.closes.append(ws.close_code)
            if not self.stop:
                log("subscriber %d: closed %s after event %s; resuming"
                    % (self.n, ws.close_code, self.last))
                await asyncio.sleep(0.2)
        await asyncio.sleep(0)


def auth_counts(daemons, mark):
    """Stream authentications per daemon since mark (its log lines)."""
    return [sum(1 for l in d.stderr_lines[mark[i]:]
                if "stream: user" in l and "authenticated" in l)
            for i, d in enumerate(daemons)]


@test
async def three_instances_behind_nginx():
    db = new_database("three")
    keys = os.path.join(WORKDIR, "shared-keys")
    os.makedirs(keys, exist_ok=True)
    port = free_port()
    crt, key = tlsutil.make_cert("nginx", 0x9901)
    sink = Sink()
    common = {
        "public_url": "https://127.0.0.1:%d" % port,
        "public_stream_url": "wss://127.0.0.1:%d/v1/stream" % port,
        # Every instance: the same server key and signing key (secrets at
        # rest are sealed with it), nginx trusted for X-Forwarded-For, no
        # rate limit for this test's one address.
        "key_file": os.path.join(keys, "server.key"),
        "webhooks": {"allow_private_networks": True, "timeout_s": 5,
                     "signing_key": os.path.join(keys, "signing.pem")},
        "http": {"trusted_proxies": ["127.0.0.1/32"]},
        "limits": {"rate_per_token": 0, "rate_per_address": 0},
    }
    daemons = [Daemon(db, **jsonlib.loads(jsonlib.dumps(common)))]
    for _ in range(2):
        daemons.append(Daemon(db, migrate=False, bootstrap=False,
                              **jsonlib.loads(jsonlib.dumps(common))))
    d1 = daemons[0]
    admin = d1.admin_token
    site = nginxutil.render_example(
        ["127.0.0.1:%d" % d.http_port for d in daemons],
        ["127.0.0.1:%d" % d.ws_port for d in daemons], port, crt, key)
    nginx = nginxutil.Nginx("nginx", site).start(port)
    bal = Balancer(port)

    r = bal.api("GET", "/v1")
    eq(r.status, 200, "GET /v1 through nginx")
    eq(r.body["stream_url"], bal.ws_url, "stream_url behind the balancer")

    # The population, through the balancer.
    pub = d1.principal("publisher")
    sink.pub_pem = signing_key(d1)["pem"]
    orgs, members, endpoints = [], [], []
    for i in range(N_ORGS):
        o = d1.make_org()
        orgs.append(o)
        adm = d1.principal("org-admin", o["id"])
        ep = sink.endpoint("org%d" % i)
        w = make_webhook(bal, adm["token"], ep)
        r = bal.api("POST", "/v1/subscriptions", adm["token"],
                    json={"name": "all", "filter": {},
                          "channels": ["webhook:%d" % w["id"]]})
        eq(r.status, 201, "webhook subscription")
        endpoints.append(ep)
    for i in range(N_SUBSCRIBERS):
        m = d1.principal("member", orgs[i % N_ORGS]["id"])
        r = bal.api("POST", "/v1/subscriptions", m["token"],
                    json={"name": "all", "filter": {}, "channels": ["ws"]})
        eq(r.status, 201, "ws subscription")
        members.append(m)

    mark = [len(d.stderr_lines) for d in daemons]
    subs = [Subscriber(i, members[i]["token"]) for i in range(N_SUBSCRIBERS)]
    tasks = [asyncio.create_task(s.run(bal)) for s in subs]
    try:
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait()
                                                for s in subs)), 60)
        spread = auth_counts(daemons, mark)
        log("subscribers per instance: %r" % spread)
        assert all(n >= 1 for n in spread), \
            "subscribers not spread over the three: %r" % spread

        # Phase 1: publish through the balancer; everyone gets each once.
        first = []
        for i in range(5):
            r = bal.api("POST", "/v1/advisories", pub["token"],
                        json=advisory(title="Balanced %d" % i))
            eq(r.status, 201, "publish through nginx")
            first.append(r.body["event_id"])

        def have(ids):
            return all(all(e in s.got for e in ids) for s in subs)
        t0 = time.monotonic()
        while not have(first):
            assert time.monotonic() - t0 < 30, "phase 1 not delivered"
            await asyncio.sleep(0.1)
        for s in subs:
            eq(sorted(s.got), sorted(first), "subscriber %d items" % s.n)
            eq(s.duplicates(), 0, "subscriber %d duplicates" % s.n)

        # Phase 2: a steady publisher; one instance stopped under load.
        outcome = {"ok": 0, "retried": 0, "failed": 0}
        done = threading.Event()

        def publisher():
            k = 0
            t_end = time.monotonic() + PUBLISH_FOR_S
            while time.monotonic() < t_end:
                k += 1
                for attempt in range(10):
                    try:
                        r = bal.api("POST", "/v1/advisories", pub["token"],
                                    json=advisory(title="Steady %d" % k),
                                    timeout=15)
                        if r.status == 201:
                            outcome["ok"] += 1
                            break
                        log("publish %d: %d %r" % (k, r.status, r.body))
                    except (OSError, http.client.HTTPException) as e:
                        log("publish %d: %s" % (k, e))
                    outcome["retried"] += 1
                    time.sleep(0.2)
                else:
                    outcome["failed"] += 1
                time.sleep(PUBLISH_EVERY_S)
            done.set()

        pt = threading.Thread(target=publisher, daemon=True)
        pt.start()
        await asyncio.sleep(STOP_AT_S)
        spread = auth_counts(daemons, mark)
        victim = max(range(1, 3), key=lambda i: spread[i])
        log("stopping instance #%d (%d subscribers authenticated there)"
            % (daemons[victim].n, spread[victim]))
        await asyncio.get_running_loop().run_in_executor(
            None, daemons[victim].stop)         # SIGTERM, exit 0 in 10 s
        while not done.is_set():
            await asyncio.sleep(0.2)
        log("publisher: %r" % outcome)
        eq(outcome["failed"], 0, "publishes that never succeeded")

        # Every committed event, to every subscriber, once.
        events = sorted(int(r[0]) for r in db.sql(
            "SELECT event_id FROM events ORDER BY event_id"))
        assert len(events) >= len(first) + outcome["ok"], \
            "fewer events than successful publishes"
        t0 = time.monotonic()
        while not have(events) and time.monotonic() - t0 < 60:
            await asyncio.sleep(0.2)
        missing = {s.n: sorted(set(events) - set(s.got)) for s in subs}
        dups = {s.n: s.duplicates() for s in subs if s.duplicates()}
        moved = [s.n for s in subs if s.connections > 1]
        log("events: %d; subscribers that reconnected: %d (%r)"
            % (len(events), len(moved), moved))
        log("received per subscriber: %r" % [len(s.got) for s in subs])
        log("missing: %d in all; duplicates: %d in all %r" % (
            sum(len(v) for v in missing.values()), sum(dups.values()), dups))
        assert moved, "no subscriber was on the stopped instance"
        assert not any(missing.values()), "missing items: %r" % {
            k: v for k, v in missing.items() if v}
        eq(sum(dups.values()), 0, "duplicate items")

        # The delivery queue drained: every event to every endpoint.
        for ep in endpoints:
            wait_until(lambda: len(set(ep.ids())) >= len(events), 60,
                       "%d deliveries at %s" % (len(events), ep.name),
                       interval=0.2)
            ep.assert_valid()
            log("endpoint %s: %d requests, %d distinct deliveries" % (
                ep.name, ep.count(), len(set(ep.ids()))))
        rows = db.sql("SELECT state, count(*) FROM deliveries "
                      "GROUP BY state ORDER BY state")
        log("deliveries by state: %r" % rows)
        assert all(r[0] == "delivered" for r in rows), \
            "deliveries not all delivered: %r" % rows
    finally:
        for s in subs:
            s.stop = True
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        nginx.stop()
        sink.close()


if __name__ == "__main__":
    main()
