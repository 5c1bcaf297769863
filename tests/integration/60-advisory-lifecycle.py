#!/usr/bin/python3
"""60-advisory-lifecycle: an advisory from creation to revocation, the list
with each filter and its cursor pagination, and subscriptions CRUD with
their validation (CONTRACT.md, docs/API.md)."""

import datetime

import urllib.parse

from harness import *

SEVERITY = ("low", "medium", "high", "critical")


def ts(s):
    """An RFC 3339 timestamp of the server as an aware datetime."""
    assert isinstance(s, str), "timestamp %r is not a string" % (s,)
    t = datetime.datetime.fromisoformat(s.replace("z", "Z"))
    assert t.tzinfo is not None, "timestamp %r has no offset" % s
    return t


def life():
    d = shared_daemon("life")
    if not hasattr(d, "fx"):
        x = d.make_org(kind="essential", sectors=["energy"])
        y = d.make_org(kind="public", sectors=["health"])
        d.fx = dict(x=x, y=y, publisher=d.principal("publisher"),
                    member=d.principal("member", x["id"]),
                    orgadmin=d.principal("org-admin", x["id"]),
                    outsider=d.principal("member", y["id"]))
    return d, d.fx


FULL = dict(
    title="Critical RCE in FortiOS SSL-VPN",
    summary="An out-of-bounds write lets an attacker run code.",
    body="## Do\n\nUpgrade.\n",
    tlp="GREEN", severity="high",
    cvss={"version": "3.1", "score": 9.8,
          "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
    sectors=["energy", "health"], cves=["CVE-2024-21762"],
    products=["cpe:2.3:o:fortinet:fortios"],
    references=["https://www.fortiguard.com/psirt/FG-IR-24-015"])


def same_fields(got, doc, what):
    for k, v in doc.items():
        eq(got.get(k), v, "%s: %s" % (what, k))


@test
def create_get_revise_revoke():
    d, fx = life()
    pub, mem = fx["publisher"]["token"], fx["member"]["token"]
    r = d.api("POST", "/v1/advisories", pub, json=FULL)
    eq(r.status, 201, "publish")
    a = r.body
    assert re.fullmatch(r"TST-\d{4}-\d{4,}", a.get("id", "")), a.get("id")
    eq(a.get("revision"), 1, "revision")
    eq(a.get("status"), "published", "status")
    assert isinstance(a.get("event_id"), int), "event_id %r" % a.get("event_id")
    assert a.get("publisher") not in (None, ""), "no publisher"
    published_at, updated_at = ts(a["published_at"]), ts(a["updated_at"])
    same_fields(a, FULL, "201 body")

    for who, tok in (("publisher", pub), ("member", mem)):
        g = d.api("GET", "/v1/advisories/" + a["id"], tok)
        eq(g.status, 200, "GET as %s" % who)
        same_fields(g.body, FULL, "GET as " + who)
        eq(g.body.get("revision"), 1, "GET revision")

    rev = dict(FULL, title="Critical RCE in FortiOS SSL-VPN (exploited)",
               severity="critical", cves=["CVE-2024-21762", "CVE-2024-23113"])
    r = d.api("PUT", "/v1/advisories/" + a["id"], pub, json=rev)
    eq(r.status, 200, "PUT")
    eq(r.body.get("id"), a["id"], "id after PUT")
    eq(r.body.get("revision"), 2, "revision after PUT")
    assert r.body.get("event_id", 0) > a["event_id"], "event_id did not grow"
    ev2 = r.body["event_id"]

    g = d.api("GET", "/v1/advisories/" + a["id"], mem)
    eq(g.status, 200, "GET latest")
    same_fields(g.body, rev, "latest")
    eq(g.body.get("revision"), 2, "latest revision")
    eq(ts(g.body["published_at"]), published_at, "published_at after PUT")
    assert ts(g.body["updated_at"]) >= updated_at, "updated_at went back"
    g1 = d.api("GET", "/v1/advisories/%s?revision=1" % a["id"], mem)
    eq(g1.status, 200, "GET ?revision=1")
    same_fields(g1.body, FULL, "revision 1")
    eq(g1.body.get("revision"), 1, "?revision=1 revision")
    g2 = d.api("GET", "/v1/advisories/%s?revision=2" % a["id"], mem)
    eq((g2.status, g2.body.get("title")), (200, rev["title"]), "?revision=2")
    problem_ok(d.api("GET", "/v1/advisories/%s?revision=3" % a["id"], mem), 404)

    r = d.api("POST", "/v1/advisories/%s/revoke" % a["id"], pub)
    eq(r.status, 200, "revoke")
    eq(r.body.get("id"), a["id"], "revoke id")
    eq(r.body.get("status"), "revoked", "revoke status")
    assert isinstance(r.body.get("revision"), int), "revoke revision"
    assert r.body.get("event_id", 0) > ev2, "revoke event_id did not grow"
    g = d.api("GET", "/v1/advisories/" + a["id"], mem)
    eq((g.status, g.body.get("status")), (200, "revoked"), "GET after revoke")


# The list's items: (fields, a short name). Published in this order.
ITEMS = [
    ("a1", dict(tlp="CLEAR", severity="low", sectors=["health"],
                cves=["CVE-2024-0001"], title="Alpha printer overflow")),
    ("a2", dict(tlp="GREEN", severity="medium", sectors=["energy.gas"],
                cves=["CVE-2024-0002"], title="Bravo gateway bypass")),
    ("a3", dict(tlp="AMBER", severity="high", sectors=["energy.electricity"],
                title="Charlie pipeline controller",
                summary="Seen with the ZULUWORD implant.")),
    ("a4", dict(tlp="CLEAR", severity="critical", sectors=["transport.rail"],
                cves=["CVE-2024-0001", "CVE-2023-9999"], title="Delta signalling")),
    ("a5", dict(tlp="GREEN", severity="high", sectors=["banking"],
                title="Echo core banking")),
    ("a6", dict(tlp="AMBER+STRICT", severity="medium", sectors=["health"],
                title="Foxtrot imaging")),
]


def matches(doc, q):
    """CONTRACT.md's list filters, for the expectation."""
    if "sector" in q and not any(s == q["sector"] or s.startswith(q["sector"] + ".")
                                 for s in doc["sectors"]):
        return False
    if "tlp" in q and doc["tlp"] != q["tlp"]:
        return False
    if "severity" in q and SEVERITY.index(doc["severity"]) < SEVERITY.index(q["severity"]):
        return False
    if "cve" in q and q["cve"] not in doc["cves"]:
        return False
    if "q" in q and q["q"].lower() not in (doc["title"] + " " + doc["summary"]).lower():
        return False
    if "since" in q and ts(doc["updated_at"]) < ts(q["since"]):
        return False
    return True


@test
def every_list_pages_with_its_cursor():
    """Organisations, users, tokens, subscriptions and assets, two to a
    page: following next_cursor gives each item once, the same as one big
    page, and the last page has no cursor."""
    d = Daemon(new_database("paging"))
    orgs = [d.make_org(sectors=["energy"]) for _ in range(5)]
    adm = d.principal("org-admin", orgs[0]["id"])
    member = d.principal("member", orgs[0]["id"])
    for _ in range(4):
        d.make_token(member["id"])
        d.make_user(orgs[0]["id"])
    for k in range(5):
        eq(d.api("POST", "/v1/subscriptions", member["token"], json={
            "name": "s%d" % k, "filter": {}, "channels": ["ws"]}).status,
           201, "subscription %d" % k)
        eq(d.api("POST", "/v1/assets", adm["token"], json={
            "type": "asn", "value": 64500 + k}).status, 201, "asset %d" % k)
    lists = [("/v1/organisations", d.admin_token, {}),
             ("/v1/users", d.admin_token, {}),
             ("/v1/tokens", d.admin_token, {"user_id": member["id"]}),
             ("/v1/subscriptions", member["token"], {}),
             ("/v1/assets", adm["token"], {})]
    for path, token, q in lists:
        whole = d.api("GET", path + "?" + urllib.parse.urlencode(
            dict(q, limit=200)), token)
        eq(whole.status, 200, path)
        eq(whole.body["next_cursor"], None, "%s in one page" % path)
        want = [it["id"] for it in whole.body["items"]]
        assert len(want) >= 5, "%s: only %d items" % (path, len(want))
        got = [it["id"] for it in d.list_all(path, token, limit=2, **q)]
        eq(got, want, "%s two to a page" % path)


@test
def list_filters():
    d = Daemon(new_database("filters"))
    x = d.make_org(kind="essential", sectors=["energy"])
    pub = d.principal("publisher")["token"]
    outsider = d.principal("member", d.make_org(kind="private")["id"])["token"]
    docs = []
    for name, fields in ITEMS:
        if fields["tlp"].startswith("AMBER"):
            fields = dict(fields, audience={"organisations": [x["id"]]})
        a = d.publish(pub, **fields)
        docs.append(dict(a, name=name))
    newest_first = list(reversed(docs))
    queries = [
        {}, {"sector": "energy"}, {"sector": "energy.gas"},
        {"sector": "transport"}, {"tlp": "GREEN"}, {"tlp": "AMBER"},
        {"tlp": "AMBER+STRICT"}, {"severity": "high"},
        {"severity": "critical"}, {"severity": "low"},
        {"cve": "CVE-2024-0001"}, {"q": "zuluword"}, {"q": "BRAVO"},
        {"sector": "energy", "severity": "high"},
        {"since": docs[3]["updated_at"]},
        {"since": "2999-01-01T00:00:00Z"},
    ]
    bad = []
    for q in queries:
        want = [a["name"] for a in newest_first if matches(a, q)]
        got_ids = [a["id"] for a in d.list_all("/v1/advisories", pub, **q)]
        names = {a["id"]: a["name"] for a in docs}
        got = [names.get(i, i) for i in got_ids]
        log("list %s -> %s (want %s)" % (q, got, want))
        if got != want:
            bad.append("%s: got %s, want %s" % (q, got, want))
    # Filters never widen visibility.
    for q in ({"q": "zuluword"}, {"tlp": "AMBER"}, {}):
        got = [a["id"] for a in d.list_all("/v1/advisories", outsider, **q)]
        want = [a["id"] for a in newest_first
                if matches(a, q) and not a["tlp"].startswith("AMBER")]
        if got != want:
            bad.append("outsider %s: got %s, want %s" % (q, got, want))
    assert not bad, "; ".join(bad)


@test
def list_rejects_bad_parameters():
    d, fx = life()
    pub = fx["publisher"]["token"]
    for q, field in (({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"),
                     ({"severity": "extreme"}, "severity"),
                     ({"tlp": "PURPLE"}, "tlp"), ({"sector": "atlantis"}, "sector"),
                     ({"since": "yesterday"}, "since")):
        r = d.api("GET", "/v1/advisories?" + urllib.parse.urlencode(q), pub)
        problem_ok(r, 422, field)


@test
def cursor_pagination():
    d = Daemon(new_database("pages"))
    pub = d.principal("publisher")["token"]
    made = [d.publish(pub, title="page item %d" % i)["id"] for i in range(5)]
    newest_first = list(reversed(made))

    def page(cursor=None):
        q = {"limit": 2}
        if cursor is not None:
            q["cursor"] = cursor
        r = d.api("GET", "/v1/advisories?" + urllib.parse.urlencode(q), pub)
        eq(r.status, 200, "list page")
        assert len(r.body["items"]) <= 2, "page longer than limit"
        return [a["id"] for a in r.body["items"]], r.body.get("next_cursor")

    got, cur = page()
    eq(got, newest_first[:2], "page 1")
    assert isinstance(cur, str) and cur, "page 1 next_cursor %r" % (cur,)
    # A publish between pages must not shift the pages that follow.
    late = d.publish(pub, title="published while paging")["id"]
    seen = list(got)
    while cur is not None:
        got, cur = page(cur)
        seen += got
        assert len(seen) <= 5, "more items than there were: %s" % seen
    eq(seen, newest_first, "the five items across pages, newest first")
    got, cur = page()
    eq(got, [late, newest_first[0]], "a fresh first page")


SUB = {"name": "FortiOS in energy",
       "filter": {"sectors": ["energy"], "min_severity": "high",
                  "keywords": ["fortios"], "cves": ["CVE-2024-21762"],
                  "products": ["cpe:2.3:o:fortinet"]},
       "channels": ["ws"]}


def sub_with(**over):
    return merge(jsonlib.loads(jsonlib.dumps(SUB)), over)


@test
def subscriptions_crud():
    d, fx = life()
    m, oa, out = fx["member"], fx["orgadmin"], fx["outsider"]
    problem_ok(d.api("GET", "/v1/subscriptions"), 401)
    r = d.api("POST", "/v1/subscriptions", m["token"], json=SUB)
    eq(r.status, 201, "create subscription")
    s = r.body
    assert isinstance(s.get("id"), int), "subscription id %r" % s.get("id")
    eq(s.get("user_id"), m["id"], "user_id")
    eq(s.get("name"), SUB["name"], "name")
    eq(s.get("channels"), ["ws"], "channels")
    eq(s.get("digest"), "immediate", "default digest")
    for k, v in SUB["filter"].items():
        eq(s["filter"].get(k), v, "filter." + k)
    sid = s["id"]

    eq(d.api("GET", "/v1/subscriptions/%d" % sid, m["token"]).body.get("id"),
       sid, "GET own subscription")
    mine = [x["id"] for x in d.list_all("/v1/subscriptions", m["token"])]
    assert sid in mine, "own subscription not listed"
    theirs = [x["id"] for x in d.list_all("/v1/subscriptions", out["token"])]
    assert sid not in theirs, "another organisation's member lists it"
    problem_ok(d.api("GET", "/v1/subscriptions/%d" % sid, out["token"]), 404)
    with d.db.unchanged("DELETE by another organisation's member"):
        problem_ok(d.api("DELETE", "/v1/subscriptions/%d" % sid, out["token"]), 404)
    org_list = [x["id"] for x in d.list_all("/v1/subscriptions", oa["token"])]
    assert sid in org_list, "the org-admin does not list its member's subscription"

    # An org-admin may manage its members' subscriptions.
    r = d.api("POST", "/v1/subscriptions", oa["token"],
              json=sub_with(user_id=m["id"], name="set by the org-admin"))
    eq((r.status, r.body.get("user_id")), (201, m["id"]), "org-admin creates for member")
    r = d.api("POST", "/v1/subscriptions", m["token"],
              json=sub_with(channels=["email"], digest="daily@07:30"))
    eq((r.status, r.body.get("digest")), (201, "daily@07:30"), "daily digest")

    eq(d.api("DELETE", "/v1/subscriptions/%d" % sid, m["token"]).status, 204,
       "DELETE own subscription")
    problem_ok(d.api("GET", "/v1/subscriptions/%d" % sid, m["token"]), 404)
    problem_ok(d.api("DELETE", "/v1/subscriptions/%d" % sid, m["token"]), 404)


SUB_422 = [
    ("unknown sector", sub_with(filter={"sectors": ["atlantis"]}), "filter.sectors"),
    ("unknown severity", sub_with(filter={"min_severity": "extreme"}),
     "filter.min_severity"),
    ("malformed cve", sub_with(filter={"cves": ["CVE-1"]}), "filter.cves"),
    ("keywords not a list", sub_with(filter={"keywords": "fortios"}),
     "filter.keywords"),
    ("unknown filter member", sub_with(filter={"colour": "red"}), "filter.colour"),
    ("no channel", sub_with(channels=[]), "channels"),
    ("unknown channel", sub_with(channels=["pigeon"]), "channels"),
    ("missing channels", sub_with(channels=None), "channels"),
    ("no such webhook", sub_with(channels=["webhook:987654"]), "channels"),
    ("unknown digest", sub_with(channels=["email"], digest="weekly"), "digest"),
    ("impossible time", sub_with(channels=["email"], digest="daily@25:00"),
     "digest"),
    ("missing name", sub_with(name=None), "name"),
    ("unknown member", sub_with(colour="blue"), "colour"),
]


@test
def subscription_validation_422():
    d, fx = life()
    tok = fx["member"]["token"]
    for name, body, field in SUB_422:
        log("-- 422: " + name)
        with d.db.unchanged(name):
            problem_ok(d.api("POST", "/v1/subscriptions", tok, json=body),
                       422, field)



@test
def scores_keep_their_digits():
    """A CVSS score of 9.8 is stored and served as 9.8, not as the nearest
    binary double printed to 17 digits (9.8000000000000007)."""
    import urllib.request
    d, fx = life()
    pub = fx["publisher"]["token"]
    adv = d.publish(pub, **FULL)
    req = urllib.request.Request("%s/v1/advisories/%s" % (d.url, adv["id"]),
                                 headers={"Authorization": "Bearer " + pub})
    raw = urllib.request.urlopen(req, timeout=10).read().decode()
    assert '"score":9.8' in raw.replace(" ", ""), raw
    assert "9.80000" not in raw, raw
    stored = d.db.scalar("SELECT doc->'cvss'->>'score' FROM advisory_revisions"
                         " r JOIN advisories a ON a.num = r.advisory_num "
                         "WHERE a.id = '%s'" % adv["id"])
    assert stored == "9.8", stored

if __name__ == "__main__":
    main()
