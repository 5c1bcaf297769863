#!/usr/bin/python3
"""70-webhooks: the endpoints API, signatures checked by an independent
Standard Webhooks verifier, formats, TLP (RED never, AMBER only to the
audience), retries (500 then 200 with the same webhook-id, Retry-After,
the schedule, manual retry), 410, rotation, the SSRF guard, and the
advisory's delivery report."""

import base64
import re
import subprocess
import time

from harness import *
from webhook_sink import *

# The retry schedule (5 s, 5 min, ...) times this: the 8 attempts of a
# delivery take ~20 s instead of 30 h. Retry-After is not scaled.
RETRY_SCALE = "0.0002"

_ctx = {}


def ctx():
    """The file's daemon (sinks on loopback allowed), a sink, and an
    organisation with an org-admin and a publisher."""
    if "d" not in _ctx:
        d = Daemon(new_database("webhooks"), start=False)
        outbox_config(d, allow_private=True, timeout_s=3)
        start_with_env(d, TOCSIN_TEST_RETRY_SCALE=RETRY_SCALE)
        key = signing_key(d)
        sink = Sink(key["pem"])
        pub = d.principal("publisher")
        _ctx.update(d=d, sink=sink, key=key, pub=pub)
    return _ctx


def new_org(d, kind="essential", sectors=("energy",)):
    """An organisation and its org-admin (dict with token)."""
    org = d.make_org(kind=kind, sectors=list(sectors))
    adm = d.principal("org-admin", org["id"])
    return org, adm


def no_secret_in_logs(d, secret):
    assert secret not in d.stderr(), "a webhook secret reached the log"


@test
def signing_key_published():
    c = ctx()
    k = c["key"]
    eq(k["algorithm"], "ed25519")
    eq(len(base64.b64decode(k["public_key"])), 32, "raw public key bytes")
    eq(k["whpk"], "whpk_" + k["public_key"])
    p = subprocess.run(["openssl", "pkey", "-pubin", "-noout", "-text"],
                       input=k["pem"], capture_output=True, text=True)
    eq(p.returncode, 0, "openssl reads the PEM")
    assert "ED25519" in p.stdout.upper(), p.stdout


@test
def endpoints_crud_and_access():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org, adm = new_org(d)
    other, oadm = new_org(d)
    member = d.principal("member", org["id"])
    ep = sink.endpoint("crud")

    # Validation: each refusal names its field and changes nothing.
    with d.db.unchanged("refused webhook creation"):
        problem_ok(d.api("POST", "/v1/webhooks", adm["token"],
                         json={"format": "json"}), 422, "url")
        problem_ok(d.api("POST", "/v1/webhooks", adm["token"],
                         json={"url": ep.url, "format": "xml"}), 422, "format")
        problem_ok(d.api("POST", "/v1/webhooks", adm["token"],
                         json={"url": ep.url, "format": "splunk-hec"}),
                   422, "splunk_token")
        problem_ok(d.api("POST", "/v1/webhooks", adm["token"],
                         json={"url": ep.url, "splunk_token": "x"}),
                   422, "splunk_token")
        problem_ok(d.api("POST", "/v1/webhooks", adm["token"],
                         json={"url": ep.url, "targeted": "yes"}),
                   422, "targeted")
        problem_ok(d.api("POST", "/v1/webhooks", adm["token"],
                         json={"url": ep.url, "colour": "red"}), 422, "colour")
        problem_ok(d.api("POST", "/v1/webhooks", d.admin_token,
                         json={"url": ep.url}), 422, "organisation_id")
        problem_ok(d.api("POST", "/v1/webhooks", adm["token"],
                         json={"url": ep.url,
                               "organisation_id": other["id"]}), 403)
        problem_ok(d.api("POST", "/v1/webhooks", member["token"],
                         json={"url": ep.url}), 403)
        problem_ok(d.api("POST", "/v1/webhooks", c["pub"]["token"],
                         json={"url": ep.url}), 403)
        problem_ok(d.api("POST", "/v1/webhooks", None, json={"url": ep.url}),
                   401)

    r = d.api("POST", "/v1/webhooks", adm["token"], json={"url": ep.url})
    eq(r.status, 201, "create")
    w = r.body
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]+={0,2}", w["secret"]), w["secret"]
    eq(len(base64.b64decode(w["secret"][6:])), 32, "secret bytes")
    eq(r.headers["Location"], "/v1/webhooks/%d" % w["id"])
    eq((w["format"], w["targeted"], w["active"], w["organisation_id"]),
       ("json", True, True, org["id"]))

    # Stored only encrypted; never logged.
    raw = base64.b64decode(w["secret"][6:]).hex()
    enc = d.db.scalar("SELECT encode(secret_enc, 'hex') FROM webhooks "
                      "WHERE id = %d" % w["id"])
    assert raw not in enc and w["secret"].encode().hex() not in enc, \
        "the secret is stored in clear"
    no_secret_in_logs(d, w["secret"])

    got = d.api("GET", "/v1/webhooks/%d" % w["id"], adm["token"])
    eq(got.status, 200)
    assert "secret" not in got.body, "GET shows the secret"
    items = d.list_all("/v1/webhooks", adm["token"])
    eq([i["id"] for i in items], [w["id"]], "org-admin's list")
    assert w["id"] in [i["id"] for i in d.list_all("/v1/webhooks",
                                                    d.admin_token)]
    eq(d.list_all("/v1/webhooks", oadm["token"]), [], "other org's list")
    # Another organisation's endpoint is answered like a missing one.
    for method, path, body in (
            ("GET", "/v1/webhooks/%d" % w["id"], None),
            ("PATCH", "/v1/webhooks/%d" % w["id"], {"targeted": False}),
            ("DELETE", "/v1/webhooks/%d" % w["id"], None),
            ("POST", "/v1/webhooks/%d/test" % w["id"], None),
            ("POST", "/v1/webhooks/%d/rotate-secret" % w["id"], None),
            ("GET", "/v1/webhooks/%d/deliveries" % w["id"], None)):
        problem_ok(d.api(method, path, oadm["token"], json=body), 404)
    problem_ok(d.api("GET", "/v1/webhooks/999999", adm["token"]), 404)

    r = d.api("PATCH", "/v1/webhooks/%d" % w["id"], adm["token"],
              json={"targeted": False, "format": "ecs"})
    eq(r.status, 200)
    eq((r.body["targeted"], r.body["format"]), (False, "ecs"))
    problem_ok(d.api("PATCH", "/v1/webhooks/%d" % w["id"], adm["token"],
                     json={"format": "splunk-hec"}), 422, "splunk_token")
    r = d.api("PATCH", "/v1/webhooks/%d" % w["id"], adm["token"],
              json={"format": "splunk-hec", "splunk_token": "abc-123"})
    eq((r.status, r.body.get("has_splunk_token")), (200, True))
    r = d.api("PATCH", "/v1/webhooks/%d" % w["id"], adm["token"],
              json={"active": False})
    eq((r.body["active"], r.body["disabled_reason"]),
       (False, "disabled by the organisation"))
    problem_ok(d.api("POST", "/v1/webhooks/%d/test" % w["id"], adm["token"]),
               409)
    r = d.api("PATCH", "/v1/webhooks/%d" % w["id"], adm["token"],
              json={"active": True})
    eq((r.body["active"], r.body["disabled_reason"]), (True, None))

    eq(d.api("DELETE", "/v1/webhooks/%d" % w["id"], adm["token"]).status, 204)
    problem_ok(d.api("GET", "/v1/webhooks/%d" % w["id"], adm["token"]), 404)
    eq(d.db.scalar("SELECT length(secret_enc) FROM webhooks WHERE id = %d"
                   % w["id"]), "0", "a deleted endpoint keeps no secret")


@test
def json_delivery_signed_and_test_event():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org, adm = new_org(d)
    ep = sink.endpoint("json")
    w = make_webhook(d, adm["token"], ep)

    # A test delivery first: webhook.test, CLEAR, no event.
    r = d.api("POST", "/v1/webhooks/%d/test" % w["id"], adm["token"])
    eq(r.status, 202, "test")
    req = ep.wait_count(1)[0]
    eq(req.json["type"], "webhook.test")
    eq(req.json["tlp"], "CLEAR")
    eq(req.json["data"]["webhook_id"], w["id"])
    assert "event_id" not in req.json

    adv = d.publish(c["pub"]["token"], tlp="GREEN", severity="high",
                    sectors=["energy"], cves=["CVE-2024-21762"],
                    audience={"organisations": [org["id"]]})
    reqs = ep.wait_count(2)
    req = reqs[1]
    ep.assert_valid()
    eq(req.verified, [w["secret"]], "v1 verifies with the endpoint's secret")
    eq(req.headers["content-type"], "application/json")
    assert re.fullmatch(r"msg_[0-9a-f]{32}", req.msg_id), req.msg_id
    sig = req.headers["webhook-signature"].split(" ")
    eq(sorted(s.split(",")[0] for s in sig), ["v1", "v1a"], "signatures")
    b = req.json
    eq(set(b), {"type", "timestamp", "event_id", "tlp", "data"}, "members")
    eq((b["type"], b["tlp"], b["event_id"]),
       ("advisory.published", "GREEN", adv["event_id"]))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z",
                        b["timestamp"]), b["timestamp"]
    eq((b["data"]["id"], b["data"]["tlp"], b["data"]["title"]),
       (adv["id"], "GREEN", adv["title"]))
    assert "audience" not in b["data"], "the audience reached a webhook"

    items = wait_state(d, adm["token"], w["id"],
                       lambda v: all(i["state"] == "delivered" for i in v)
                       and len(v) == 2)
    last = items[0]
    eq((last["event_id"], last["msg_id"], last["attempts"], last["last_status"],
        last["type"], last["item_id"], last["tlp"]),
       (adv["event_id"], req.msg_id, 1, 200, "advisory.published", adv["id"],
        "GREEN"))
    eq(last["last_response"], "ok")
    assert last["delivered_at"], last


@test
def retry_500_then_200_same_id():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org, adm = new_org(d)
    ep = sink.endpoint("retry")
    ep.responses = [(500, {}, b"boom")]
    w = make_webhook(d, adm["token"], ep)
    d.publish(c["pub"]["token"], audience={"organisations": [org["id"]]})
    reqs = ep.wait_count(2)
    ep.assert_valid()
    eq(reqs[0].msg_id, reqs[1].msg_id, "the same webhook-id on the retry")
    eq(reqs[0].body, reqs[1].body, "the same body on the retry")
    items = wait_state(d, adm["token"], w["id"],
                       lambda v: v and v[0]["state"] == "delivered")
    eq((items[0]["attempts"], items[0]["last_status"]), (2, 200))
    rows = d.db.sql("SELECT attempt, status, response FROM delivery_attempts "
                    "WHERE delivery_id = %d ORDER BY attempt" % items[0]["id"])
    eq(rows, [("1", "500", "boom"), ("2", "200", "ok")], "attempt rows")


@test
def retry_after_honoured():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org, adm = new_org(d)
    ep = sink.endpoint("retry-after")
    ep.responses = [(503, {"Retry-After": "3"}, b"later"),
                    lambda: (429, {"Retry-After": time.strftime(
                        "%a, %d %b %Y %H:%M:%S GMT",
                        time.gmtime(time.time() + 4))}, b"slow down")]
    make_webhook(d, adm["token"], ep)
    d.publish(c["pub"]["token"], audience={"organisations": [org["id"]]})
    reqs = ep.wait_count(3, timeout=40)
    gap1 = reqs[1].t - reqs[0].t
    gap2 = reqs[2].t - reqs[1].t
    log("Retry-After gaps: %.2f s, %.2f s" % (gap1, gap2))
    # The scaled schedule alone would retry within milliseconds.
    assert gap1 >= 2.8, "Retry-After: 3 not honoured (%.2f s)" % gap1
    assert gap2 >= 2.0, "Retry-After as an HTTP date not honoured (%.2f s)" \
        % gap2
    eq(len({r.msg_id for r in reqs}), 1, "one webhook-id")


@test
def gone_410_disables():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org, adm = new_org(d)
    ep = sink.endpoint("gone")
    ep.default = (410, {}, b"gone")
    w = make_webhook(d, adm["token"], ep)
    d.publish(c["pub"]["token"], audience={"organisations": [org["id"]]})
    ep.wait_count(1)
    wait_until(lambda: not d.api("GET", "/v1/webhooks/%d" % w["id"],
                                 adm["token"]).body["active"], 10,
               "endpoint disabled")
    got = d.api("GET", "/v1/webhooks/%d" % w["id"], adm["token"]).body
    assert "410" in got["disabled_reason"], got
    items = deliveries(d, adm["token"], w["id"])
    eq((items[0]["state"], items[0]["last_status"]), ("failed", 410))
    # Nothing more is planned for it, nothing more is sent.
    d.publish(c["pub"]["token"], audience={"organisations": [org["id"]]})
    time.sleep(1.5)
    eq(ep.count(), 1, "requests after 410")
    eq(len(deliveries(d, adm["token"], w["id"])), 1, "deliveries after 410")


@test
def tlp_red_never_amber_audience_only():
    c = ctx()
    d, sink = c["d"], c["sink"]
    a, aadm = new_org(d, sectors=["health"])
    b, badm = new_org(d, sectors=["health"])
    ua = d.principal("member", a["id"])
    epa, epb = sink.endpoint("tlp-a"), sink.endpoint("tlp-b")
    wa = make_webhook(d, aadm["token"], epa)
    wb = make_webhook(d, badm["token"], epb)
    # Both also subscribe with filters that match everything.
    for adm, w in ((aadm, wa), (badm, wb)):
        r = d.api("POST", "/v1/subscriptions", adm["token"],
                  json={"name": "all", "filter": {},
                        "channels": ["webhook:%d" % w["id"]]})
        eq(r.status, 201, "subscription: %r" % (r.body,))

    red = d.publish(c["pub"]["token"], tlp="RED", title="RED item",
                    audience={"organisations": [a["id"], b["id"]],
                              "users": [ua["id"]]})
    amber = d.publish(c["pub"]["token"], tlp="AMBER", title="AMBER item",
                      audience={"organisations": [a["id"]]})
    strict = d.publish(c["pub"]["token"], tlp="AMBER+STRICT",
                       title="STRICT item", audience={"sectors": ["health"],
                                                      "kinds": ["authority"]})
    green = d.publish(c["pub"]["token"], tlp="GREEN", title="GREEN item")
    epa.wait_count(2)
    epb.wait_count(1)
    time.sleep(1.5)
    got_a = sorted(r.json["data"]["id"] for r in epa.requests)
    got_b = sorted(r.json["data"]["id"] for r in epb.requests)
    eq(got_a, sorted([amber["id"], green["id"]]), "organisation A received")
    eq(got_b, [green["id"]], "organisation B received")
    for ep in (epa, epb):
        ep.assert_valid()
        for r in ep.requests:
            assert r.json["tlp"] != "RED" and "RED item" not in \
                r.body.decode(), "RED reached a sink"
    n = d.db.scalar("SELECT count(*) FROM deliveries d JOIN events e "
                    "USING (event_id) WHERE e.tlp = 'RED'")
    eq(n, "0", "RED deliveries planned")
    eq(d.db.scalar("SELECT count(*) FROM deliveries WHERE event_id = %d"
                   % strict["event_id"]), "0", "AMBER+STRICT outside audience")
    eq(red["tlp"], "RED")


@test
def targeted_flag_and_subscription_filter():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org, adm = new_org(d, sectors=["transport"])
    ept, epu, eps = (sink.endpoint("targeted"), sink.endpoint("untargeted"),
                     sink.endpoint("subscribed"))
    wt = make_webhook(d, adm["token"], ept)
    make_webhook(d, adm["token"], epu, targeted=False)
    ws = make_webhook(d, adm["token"], eps, targeted=False)
    r = d.api("POST", "/v1/subscriptions", adm["token"],
              json={"name": "cves", "filter": {"cves": ["CVE-2025-0001"]},
                    "channels": ["webhook:%d" % ws["id"]]})
    eq(r.status, 201, "subscription")
    named = d.publish(c["pub"]["token"], audience={"organisations":
                                                    [org["id"]]})
    match = d.publish(c["pub"]["token"], cves=["CVE-2025-0001"])
    d.publish(c["pub"]["token"], cves=["CVE-2025-0002"])
    ept.wait_count(1)
    eps.wait_count(1)
    time.sleep(1.5)
    eq([r.json["data"]["id"] for r in ept.requests], [named["id"]], "targeted")
    eq([r.json["data"]["id"] for r in eps.requests], [match["id"]], "filter")
    eq(epu.count(), 0, "untargeted, unsubscribed endpoint")
    eq(wt["targeted"], True)


@test
def splunk_hec_body():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org, adm = new_org(d)
    ep = sink.endpoint("splunk")
    make_webhook(d, adm["token"], ep, format="splunk-hec",
                 splunk_token="11111111-2222-3333-4444-555555555555")
    adv = d.publish(c["pub"]["token"], tlp="AMBER", severity="critical",
                    audience={"organisations": [org["id"]]})
    req = ep.wait_count(1)[0]
    ep.assert_valid()
    eq(req.headers["authorization"],
       "Splunk 11111111-2222-3333-4444-555555555555")
    b = req.json
    eq(set(b), {"time", "source", "sourcetype", "event"}, "HEC members")
    eq(b["sourcetype"], "tocsin:advisory")
    eq(b["source"], "tocsin")
    assert isinstance(b["time"], int) and abs(b["time"] - time.time()) < 120
    ev = b["event"]
    eq((ev["type"], ev["tlp"], ev["event_id"]),
       ("advisory.published", "AMBER", adv["event_id"]))
    eq((ev["data"]["id"], ev["data"]["tlp"], ev["data"]["severity"]),
       (adv["id"], "AMBER", "critical"))
    no_secret_in_logs(d, "11111111-2222-3333-4444-555555555555")


@test
def ecs_body():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org, adm = new_org(d)
    ep = sink.endpoint("ecs")
    make_webhook(d, adm["token"], ep, format="ecs")
    adv = d.publish(c["pub"]["token"], tlp="AMBER+STRICT", severity="critical",
                    title="Critical RCE in FortiOS SSL-VPN",
                    summary="Out-of-bounds write.",
                    cves=["CVE-2024-21762", "CVE-2024-23113"],
                    cvss={"version": "3.1", "score": 9.8,
                          "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
                    references=["https://www.fortiguard.com/psirt/FG-IR-24-015"],
                    audience={"organisations": [org["id"]]})
    req = ep.wait_count(1)[0]
    ep.assert_valid()
    b = req.json
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z",
                        b["@timestamp"]), b["@timestamp"]
    e = b["event"]
    eq((e["kind"], e["category"], e["type"], e["id"], e["dataset"],
        e["action"], e["severity"], e["module"]),
       ("enrichment", ["vulnerability"], ["info"], req.msg_id,
        "tocsin.advisory", "advisory.published", 99, "tocsin"))
    v = b["vulnerability"]
    eq(v["id"], ["CVE-2024-21762", "CVE-2024-23113"])
    eq((v["severity"], v["score"]["base"], v["score"]["version"]),
       ("Critical", 9.8, "3.1"))
    eq((v["description"], v["reference"], v["enumeration"]),
       ("Out-of-bounds write.",
        "https://www.fortiguard.com/psirt/FG-IR-24-015", "CVE"))
    eq(b["threat"]["indicator"]["marking"]["tlp"], "AMBER+STRICT")
    eq(b["threat"]["feed"]["name"], "tocsin")
    eq(b["tlp"], "AMBER+STRICT")
    eq(b["tags"], ["TLP:AMBER+STRICT"])
    eq(b["message"], "Critical RCE in FortiOS SSL-VPN")
    t = b["tocsin"]
    eq((t["type"], t["event_id"], t["tlp"], t["advisory"]["id"],
        t["advisory"]["tlp"]),
       ("advisory.published", adv["event_id"], "AMBER+STRICT", adv["id"],
        "AMBER+STRICT"))


@test
def rotation_grace_period():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org, adm = new_org(d)
    ep = sink.endpoint("rotate")
    w = make_webhook(d, adm["token"], ep)
    old = w["secret"]
    r = d.api("POST", "/v1/webhooks/%d/rotate-secret" % w["id"],
              adm["token"], json={"grace_s": 3600})
    eq(r.status, 200, "rotate")
    new = r.body["secret"]
    assert new != old and new.startswith("whsec_")
    assert r.body["old_secret_expires_at"], r.body
    ep.secrets.append(new)
    d.publish(c["pub"]["token"], audience={"organisations": [org["id"]]})
    req = ep.wait_count(1)[0]
    ep.assert_valid()
    eq(sorted(req.verified), sorted([old, new]), "both secrets verify")
    eq(sorted(s.split(",")[0] for s in
              req.headers["webhook-signature"].split(" ")),
       ["v1", "v1", "v1a"])

    # Grace 0: the old secret stops at once.
    r = d.api("POST", "/v1/webhooks/%d/rotate-secret" % w["id"],
              adm["token"], json={"grace_s": 0})
    newer = r.body["secret"]
    eq(r.body["old_secret_expires_at"], None)
    ep.secrets.append(newer)
    d.publish(c["pub"]["token"], audience={"organisations": [org["id"]]})
    req = ep.wait_count(2)[1]
    ep.assert_valid()
    eq(req.verified, [newer], "only the newest secret verifies")
    problem_ok(d.api("POST", "/v1/webhooks/%d/rotate-secret" % w["id"],
                     adm["token"], json={"grace_s": -1}), 422, "grace_s")
    for s in (old, new, newer):
        no_secret_in_logs(d, s)


@test
def failed_then_manual_retry():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org, adm = new_org(d)
    ep = sink.endpoint("failing")
    ep.default = (500, {}, b"down")
    w = make_webhook(d, adm["token"], ep)
    d.publish(c["pub"]["token"], audience={"organisations": [org["id"]]})
    items = wait_state(d, adm["token"], w["id"],
                       lambda v: v and v[0]["state"] == "failed", timeout=90,
                       what="failed after the last retry")
    eq((items[0]["attempts"], items[0]["last_status"]), (8, 500))
    eq(len(set(ep.ids())), 1, "one webhook-id over 8 attempts")
    eq(ep.count(), 8)
    failed = deliveries(d, adm["token"], w["id"], state="failed")
    eq(len(failed), 1, "?state=failed")
    did = items[0]["id"]
    ep.default = (204, {}, b"")
    r = d.api("POST", "/v1/webhooks/%d/deliveries/%d/retry" % (w["id"], did),
              adm["token"])
    eq(r.status, 202, "manual retry")
    items = wait_state(d, adm["token"], w["id"],
                       lambda v: v[0]["state"] == "delivered")
    eq((items[0]["attempts"], items[0]["last_status"]), (9, 204))
    eq(len(set(ep.ids())), 1, "still the same webhook-id")
    problem_ok(d.api("POST", "/v1/webhooks/%d/deliveries/%d/retry"
                     % (w["id"], did), adm["token"]), 409)
    problem_ok(d.api("POST", "/v1/webhooks/%d/deliveries/999999/retry"
                     % w["id"], adm["token"]), 404)


@test
def advisory_delivery_report():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org, adm = new_org(d)
    ep = sink.endpoint("report")
    w = make_webhook(d, adm["token"], ep)
    adv = d.publish(c["pub"]["token"], audience={"organisations": [org["id"]]})
    ep.wait_count(1)
    path = "/v1/advisories/%s/deliveries" % adv["id"]
    # Earlier tests' endpoints subscribed to everything get it too.
    def mine():
        return [i for i in d.list_all(path, c["pub"]["token"])
                if i["webhook_id"] == w["id"]]
    wait_until(lambda: [i["state"] for i in mine()] == ["delivered"], 10,
               "report shows delivered")
    it = mine()[0]
    eq((it["channel"], it["organisation_id"], it["organisation"],
        it["webhook_id"], it["attempts"], it["last_status"], it["type"]),
       ("webhook", org["id"], org["name"], w["id"], 1, 200,
        "advisory.published"))
    assert "last_response" not in it, "the report shows receivers' answers"
    problem_ok(d.api("GET", path, adm["token"]), 403)
    problem_ok(d.api("GET", "/v1/advisories/TST-1999-9999/deliveries",
                     c["pub"]["token"]), 404)
    # The advisory itself is still served by its own route.
    eq(d.api("GET", "/v1/advisories/%s" % adv["id"],
             c["pub"]["token"]).status, 200)


@test
def retry_schedule_unscaled():
    """Without the test scale: after a 500, the next attempt is due in
    5 s (with jitter) and the row says so."""
    c = ctx()
    d = Daemon(c["d"].db.dsn, migrate=False, bootstrap=False, start=False)
    outbox_config(d, allow_private=True, timeout_s=3)
    d.admin_token = c["d"].admin_token
    # Only this daemon runs while we look: the file's daemon would retry.
    c["d"].stop()
    d.start()
    sink = c["sink"]
    org, adm = new_org(d)
    ep = sink.endpoint("schedule")
    ep.responses = [(500, {}, b"once")]
    w = make_webhook(d, adm["token"], ep)
    d.publish(c["pub"]["token"], audience={"organisations": [org["id"]]})
    ep.wait_count(1)
    items = wait_state(d, adm["token"], w["id"],
                       lambda v: v and v[0]["state"] == "pending"
                       and v[0]["attempts"] == 1)
    delay = float(c["d"].db.scalar(
        "SELECT extract(epoch FROM next_attempt_at - updated_at) "
        "FROM deliveries WHERE id = %d" % items[0]["id"]))
    assert 3.9 <= delay <= 6.1, "first retry in %.2f s, want 5 s +-20%%" % delay
    ep.wait_count(2, timeout=15)
    wait_state(d, adm["token"], w["id"],
               lambda v: v[0]["state"] == "delivered")
    d.stop()
    c["d"].start()


@test
def ssrf_guard():
    c = ctx()
    base = c["d"]
    org, adm = new_org(base)
    ep = c["sink"].endpoint("ssrf")
    # Created while loopback is allowed (the file's daemon)...
    w = make_webhook(base, adm["token"], ep)
    # ...then only a daemon that refuses private networks runs.
    d = Daemon(base.db.dsn, migrate=False, bootstrap=False, start=False)
    d.admin_token = base.admin_token
    outbox_config(d, allow_private=False, timeout_s=3)
    base.stop()
    d.start()
    port = c["sink"].port
    refused = [
        "http://127.0.0.1:%d/x" % port,
        "http://localhost:%d/x" % port,         # a name resolving to 127.0.0.1
        "http://[::1]:%d/x" % port,
        "http://[::ffff:127.0.0.1]:%d/x" % port,
        "http://10.1.2.3/x", "http://172.16.0.1/x", "http://192.168.1.1/x",
        "http://100.64.0.1/x", "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/x", "http://[fd00::1]/x", "http://224.0.0.1/x",
        "http://0.0.0.0:%d/x" % port, "http://2130706433/x",
        "ftp://example.com/x", "file:///etc/passwd", "gopher://localhost/",
        "http://user:pw@example.com/x", "not a url",
    ]
    with base.db.unchanged("SSRF refusals"):
        for url in refused:
            r = d.api("POST", "/v1/webhooks", adm["token"], json={"url": url})
            problem_ok(r, 422, "url")
            log("refused %s: %s" % (url, r.body["detail"]))
        problem_ok(d.api("PATCH", "/v1/webhooks/%d" % w["id"], adm["token"],
                         json={"url": "http://localhost/"}), 422, "url")
    # At send time the connection's address is checked again (what DNS
    # rebinding would exploit): the request never leaves.
    d.publish(c["pub"]["token"], audience={"organisations": [org["id"]]})
    items = wait_state(d, adm["token"], w["id"],
                       lambda v: v and v[0]["attempts"] >= 1
                       and v[0]["last_error"], timeout=20)
    assert "SSRF" in items[0]["last_error"], items[0]
    log("send-time refusal: %s" % items[0]["last_error"])
    time.sleep(1)
    eq(ep.count(), 0, "requests that passed the guard")
    # Cancel the endpoint's queue before the file's daemon returns.
    eq(d.api("DELETE", "/v1/webhooks/%d" % w["id"], adm["token"]).status, 204)
    d.stop()
    base.start()


if __name__ == "__main__":
    main()
