#!/usr/bin/python3
"""85-metrics: GET /metrics in the Prometheus text format. Every metric of
tocsind(8) is present, and each moves when its event happens: a publish
counts an event and puts it in the stream's ring (its events and bytes
gauges), a WebSocket subscriber is a connection and its push a ws latency, a webhook delivery counts by result with its latency, a failing
endpoint leaves a queue, requests count by status class, a stopped
PostgreSQL counts database errors. On the REST listener /metrics needs an
admin token; with metrics.listen it is served there without one and
refused on the REST listener. The cluster stopped is this test's own."""

import json
import re
import urllib.request

from harness import *
from webhook_sink import *

FAMILIES = ("tocsin_build_info", "tocsin_http_requests_total",
            "tocsin_ws_connections", "tocsin_stream_ring_events",
            "tocsin_stream_ring_bytes", "tocsin_events_total",
            "tocsin_deliveries_total", "tocsin_delivery_queue_depth",
            "tocsin_delivery_latency_seconds", "tocsin_db_errors_total",
            "tocsin_audit_failures_total")
CONTENT_TYPE = "text/plain; version=0.0.4"

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, ((label, value), ...)): float} and {family: type}."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, fam, typ = line.split(" ", 3)
            types[fam] = typ
            continue
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        assert m, "not an exposition line: %r" % line
        labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
        key = (m.group(1), labels)
        assert key not in samples, "sample twice: %r" % line
        samples[key] = float(m.group(3))
    return samples, types


def val(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape_url(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        ctype = r.headers.get("Content-Type", "")
        assert ctype.startswith(CONTENT_TYPE), "Content-Type %r" % ctype
        return parse(r.read().decode())[0]


_ctx = {}


def ctx():
    """A daemon on a cluster of this test's own, /metrics on its own
    port, webhooks to a local sink allowed; a publisher, an organisation
    with an org-admin, a member subscribed to everything on ws."""
    if "d" not in _ctx:
        pg = PrivateCluster("pg-metrics").start()
        mport = free_port()
        d = Daemon(new_database("metrics", on=pg), start=False,
                   metrics={"listen": "127.0.0.1:%d" % mport})
        outbox_config(d, allow_private=True, timeout_s=3)
        d.start()
        sink = Sink(signing_key(d)["pem"])
        org = d.make_org(sectors=["energy"])
        adm = d.principal("org-admin", org["id"])
        member = d.principal("member", org["id"])
        r = d.api("POST", "/v1/subscriptions", member["token"],
                  json={"name": "all", "filter": {}, "channels": ["ws"]})
        eq(r.status, 201, "ws subscription")
        _ctx.update(pg=pg, d=d, sink=sink, org=org, adm=adm, member=member,
                    pub=d.principal("publisher")["token"],
                    murl="http://127.0.0.1:%d/metrics" % mport)
    return _ctx


def scrape():
    return scrape_url(ctx()["murl"])


def wait_metric(pred, timeout=20, what="metric"):
    box = {}

    def probe():
        box["s"] = scrape()
        return pred(box["s"])
    wait_until(probe, timeout, what, interval=0.1)
    return box["s"]


@test
def every_metric_present():
    c = ctx()
    text = urllib.request.urlopen(c["murl"], timeout=10).read().decode()
    samples, types = parse(text)
    for fam in FAMILIES:
        assert fam in types, "no # TYPE for %s" % fam
    eq(types["tocsin_delivery_latency_seconds"], "histogram", "latency type")
    eq(types["tocsin_ws_connections"], "gauge", "ws_connections type")
    eq(types["tocsin_stream_ring_events"], "gauge", "ring_events type")
    eq(types["tocsin_stream_ring_bytes"], "gauge", "ring_bytes type")
    eq(types["tocsin_events_total"], "counter", "events_total type")
    builds = [k for k in samples if k[0] == "tocsin_build_info"]
    eq(len(builds), 1, "one build_info sample")
    assert dict(builds[0][1]).get("version"), "build_info without version"
    for ch in ("ws", "webhook", "email"):
        assert ("tocsin_delivery_latency_seconds_count",
                (("channel", ch),)) in samples, "no %s latency" % ch
        assert ("tocsin_delivery_latency_seconds_bucket",
                (("channel", ch), ("le", "+Inf"))) in samples
    for ch in ("webhook", "email"):
        assert ("tocsin_delivery_queue_depth", (("channel", ch),)) in samples
        for res in ("delivered", "retry", "failed", "cancelled"):
            assert ("tocsin_deliveries_total",
                    (("channel", ch), ("result", res))) in samples, \
                "no deliveries_total{%s,%s}" % (ch, res)
    assert any(k[0] == "tocsin_http_requests_total" for k in samples)


@test
def metrics_listen_only_there():
    c = ctx()
    d = c["d"]
    # Refused on the REST listener even to an admin: one place to guard.
    problem_ok(d.api("GET", "/metrics", d.admin_token), 404)
    problem_ok(d.api("GET", "/metrics"), 404)
    # Only /metrics on the metrics listener.
    try:
        urllib.request.urlopen(c["murl"].replace("/metrics", "/v1"),
                               timeout=5)
        raise AssertionError("the metrics listener served /v1")
    except urllib.error.HTTPError as e:
        eq(e.code, 404, "other paths on metrics.listen")


@test
def rest_listener_needs_admin():
    d = shared_daemon("metrics_rest")
    problem_ok(d.api("GET", "/metrics"), 401)
    m = d.principal("publisher")
    problem_ok(d.api("GET", "/metrics", m["token"]), 403)
    r = d.api("GET", "/metrics", d.admin_token)
    eq(r.status, 200, "GET /metrics as admin")
    assert r.headers["Content-Type"].startswith(CONTENT_TYPE), \
        r.headers["Content-Type"]
    samples, types = parse(r.body)
    for fam in FAMILIES:
        assert fam in types, "no %s on the REST listener" % fam


@test
def publish_counts_an_event():
    c = ctx()
    before = scrape()
    c["d"].publish(c["pub"])
    after = scrape()
    k = dict(name="tocsin_events_total", type="advisory.published")
    eq(val(after, **k) - val(before, **k), 1.0, "events_total after 1 publish")
    # A refused publish (422) counts no event.
    problem_ok(c["d"].api("POST", "/v1/advisories", c["pub"],
                          json=advisory(tlp="PURPLE")), 422, "tlp")
    eq(val(scrape(), **k), val(after, **k), "events_total after a refusal")


@test
def publish_fills_the_ring():
    c = ctx()
    ev, by = "tocsin_stream_ring_events", "tocsin_stream_ring_bytes"
    before = scrape()
    adv = c["d"].publish(c["pub"])
    # The stream thread takes it in when streamdb has loaded it.
    after = wait_metric(lambda x: val(x, ev) == val(before, ev) + 1, 10,
                        "ring_events +1")
    grew = val(after, by) - val(before, by)
    # At least its message (the advisory as JSON), at most some times
    # that with the parsed scope (about 7 times for this small advisory):
    # an estimate, but of the right size.
    msg = len(json.dumps(adv))
    assert msg < grew < 16 * msg, \
        "ring_bytes grew by %d for a %d-byte advisory" % (grew, msg)


@test
def http_requests_by_status_class():
    c = ctx()
    d = c["d"]
    key = dict(name="tocsin_http_requests_total", method="GET")
    before = scrape()
    for _ in range(3):
        eq(d.api("GET", "/v1", None).status, 200)
    d.api("GET", "/v1/no-such-thing")
    after = scrape()
    eq(val(after, status="2xx", **key) - val(before, status="2xx", **key),
       3.0, "GET 2xx")
    eq(val(after, status="4xx", **key) - val(before, status="4xx", **key),
       1.0, "GET 4xx")


@test
async def ws_connection_gauge_and_latency():
    c = ctx()
    d = c["d"]
    g = "tocsin_ws_connections"
    lat = dict(name="tocsin_delivery_latency_seconds_count", channel="ws")
    base = val(scrape(), g)
    s = Stream(d.ws_url, c["member"]["token"])
    await s.connect()
    await s.recv_until(lambda m: m["type"] == "ready", 10)
    wait_metric(lambda x: val(x, g) == base + 1, 10, "gauge +1")
    before = scrape()
    adv = d.publish(c["pub"])
    await s.recv_until(lambda m: m.get("event_id") == adv["event_id"], 10)
    after = wait_metric(lambda x: val(x, **lat) >= val(before, **lat) + 1, 10,
                        "ws latency count +1")
    assert val(after, "tocsin_delivery_latency_seconds_sum",
               channel="ws") >= val(before, "tocsin_delivery_latency_seconds_sum",
                                    channel="ws"), "ws latency sum"
    await s.close()
    wait_metric(lambda x: val(x, g) == base, 10, "gauge back after close")


@test
def webhook_delivery_counts_and_latency():
    c = ctx()
    d, sink = c["d"], c["sink"]
    ep = sink.endpoint("metrics")
    make_webhook(d, c["adm"]["token"], ep)
    ok = dict(name="tocsin_deliveries_total", channel="webhook",
              result="delivered")
    lat = dict(name="tocsin_delivery_latency_seconds_count",
               channel="webhook")
    before = scrape()
    d.publish(c["pub"], audience={"organisations": [c["org"]["id"]]})
    ep.wait_count(1)
    after = wait_metric(lambda x: val(x, **ok) == val(before, **ok) + 1, 20,
                        "deliveries_total{webhook,delivered} +1")
    eq(val(after, **lat) - val(before, **lat), 1.0, "webhook latency count")
    inf = dict(name="tocsin_delivery_latency_seconds_bucket",
               channel="webhook", le="+Inf")
    eq(val(after, **inf) - val(before, **inf), 1.0, "+Inf bucket")
    assert val(after, "tocsin_outbox_delivered_total", channel="webhook") >= 1


@test
def failing_endpoint_leaves_a_queue():
    c = ctx()
    d, sink = c["d"], c["sink"]
    ep = sink.endpoint("metrics-failing")
    ep.default = (500, {}, b"down")
    make_webhook(d, c["adm"]["token"], ep)
    retry = dict(name="tocsin_deliveries_total", channel="webhook",
                 result="retry")
    depth = dict(name="tocsin_delivery_queue_depth", channel="webhook")
    before = scrape()
    d.publish(c["pub"], audience={"organisations": [c["org"]["id"]]})
    ep.wait_count(1)
    # The first attempt failed; the retry waits 5 s: the queue holds it.
    s = wait_metric(lambda x: val(x, **retry) >= val(before, **retry) + 1,
                    20, "deliveries_total{webhook,retry} +1")
    assert val(s, **depth) >= 1, "queue depth %r" % val(s, **depth)
    ep.default = (200, {}, b"ok")
    ep.wait_count(2, timeout=30)
    wait_metric(lambda x: val(x, **depth) == 0, 20, "queue drained")


@test
def email_delivery_counts_and_latency():
    from mail_sink import MailSink, email_daemon, email_user
    sink = MailSink()
    try:
        d = email_daemon("metrics_mail", sink, smime=False)
        org = d.make_org()
        u = email_user(d, org["id"])

        def scrape_rest():
            r = d.api("GET", "/metrics", d.admin_token)
            eq(r.status, 200, "GET /metrics")
            return parse(r.body)[0]
        ok = dict(name="tocsin_deliveries_total", channel="email",
                  result="delivered")
        lat = dict(name="tocsin_delivery_latency_seconds_count",
                   channel="email")
        before = scrape_rest()
        d.publish(d.principal("publisher")["token"])
        sink.wait_to(u["email"])
        box = {}
        wait_until(lambda: box.update(s=scrape_rest()) or
                   val(box["s"], **ok) >= val(before, **ok) + 1, 20,
                   "deliveries_total{email,delivered} +1")
        eq(val(box["s"], **lat) - val(before, **lat), 1.0,
           "email latency count")
    finally:
        sink.stop()


@test
def audit_failure_counts_and_refuses():
    """An action whose audit entry cannot be written fails whole (no
    token without its entry) and tocsin_audit_failures_total moves."""
    c = ctx()
    d = c["d"]
    key = "tocsin_audit_failures_total"
    before = val(scrape(), key)
    d.db.sql("CREATE FUNCTION no_token_audit() RETURNS trigger LANGUAGE "
             "plpgsql AS $$ BEGIN IF NEW.action = 'token.create' THEN "
             "RAISE EXCEPTION 'audit refused'; END IF; RETURN NEW; END $$; "
             "CREATE TRIGGER no_token_audit BEFORE INSERT ON audit FOR "
             "EACH ROW EXECUTE FUNCTION no_token_audit()")
    try:
        tokens = d.db.scalar("SELECT count(*) FROM tokens")
        r = d.api("POST", "/v1/tokens", d.admin_token,
                  json={"user_id": c["member"]["id"]})
        assert r.status >= 500, "token made without its audit entry: %d" \
            % r.status
        eq(d.db.scalar("SELECT count(*) FROM tokens"), tokens,
           "tokens after the refused audit entry")
        wait_metric(lambda x: val(x, key) == before + 1, 10,
                    "audit_failures_total moved by one")
    finally:
        d.db.sql("DROP TRIGGER no_token_audit ON audit; "
                 "DROP FUNCTION no_token_audit()")


@test
def database_errors_count():
    c = ctx()
    d = c["d"]
    key = "tocsin_db_errors_total"
    before = val(scrape(), key)
    c["pg"].stop()
    d.wait_health(503, 30)
    # Served without PostgreSQL: what needs it is left out, not the rest.
    s = wait_metric(lambda x: val(x, key) > before, 10, "db_errors moved")
    assert ("tocsin_build_info" in {k[0] for k in s}), "partial exposition"
    c["pg"].start()
    d.wait_health(200, 60)


if __name__ == "__main__":
    main()
