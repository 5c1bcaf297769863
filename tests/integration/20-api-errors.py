#!/usr/bin/python3
"""20-api-errors: every error of CONTRACT.md's list, as
application/problem+json (docs/API.md slugs), and "a refused request
changes nothing" checked in the database before and after."""

from harness import *

LIMIT = 4096            # limits.max_body_bytes of this file's daemon


def env():
    """The shared daemon and its cast, made once."""
    d = shared_daemon("errors", limits={"max_body_bytes": LIMIT})
    if not hasattr(d, "fx"):
        org = d.make_org(kind="essential", sectors=["energy"])
        other = d.make_org(kind="important", sectors=["health"])
        d.fx = dict(
            org=org, other=other,
            publisher=d.principal("publisher"),
            member=d.principal("member", org["id"]),
            orgadmin=d.principal("org-admin", org["id"]),
            outsider=d.principal("member", other["id"]))
    return d, d.fx


@test
def malformed_json_400():
    d, fx = env()
    pub = fx["publisher"]["token"]
    for raw in (b'{"title": "unfinished",', b"{'single': 'quotes'}",
                b"", b"\xff\xfe{}", b'{"a": 1} trailing'):
        with d.db.unchanged("malformed JSON %r" % raw):
            r = d.api("POST", "/v1/advisories", pub, raw=raw,
                      headers={"Content-Type": "application/json"})
            problem_ok(r, 400)
    with d.db.unchanged("malformed organisation"):
        r = d.api("POST", "/v1/organisations", d.admin_token, raw=b"{",
                  headers={"Content-Type": "application/json"})
        problem_ok(r, 400)


@test
def unauthorized_401():
    d, fx = env()
    problem_ok(d.api("GET", "/v1/advisories"), 401)
    with d.db.unchanged("publish without a token"):
        problem_ok(d.api("POST", "/v1/advisories", json=advisory()), 401)
    for bad in ("tcs_" + "A" * 43, "x", fx["member"]["token"] + "x"):
        problem_ok(d.api("GET", "/v1/advisories", bad), 401)
    r = d.api("GET", "/v1/advisories", headers={
        "Authorization": "Basic " + "dXNlcjpwYXNz"})
    problem_ok(r, 401)
    # A deleted token stops working at once.
    u = d.make_user(fx["org"]["id"], "member")
    r = d.api("POST", "/v1/tokens", d.admin_token, json={"user_id": u["id"]})
    eq(r.status, 201, "create token")
    tok = r.body
    eq(d.api("GET", "/v1/advisories", tok["token"]).status, 200, "fresh token")
    eq(d.api("DELETE", "/v1/tokens/%s" % tok["id"], d.admin_token).status,
       204, "DELETE token")
    problem_ok(d.api("GET", "/v1/advisories", tok["token"]), 401)
    # The users of a deactivated organisation can no longer sign in.
    gone = d.make_org()
    m = d.principal("member", gone["id"])
    eq(d.api("GET", "/v1/advisories", m["token"]).status, 200, "before DELETE")
    eq(d.api("DELETE", "/v1/organisations/%s" % gone["id"],
             d.admin_token).status, 204, "DELETE organisation")
    problem_ok(d.api("GET", "/v1/advisories", m["token"]), 401)


@test
def forbidden_403():
    d, fx = env()
    for who in ("member", "orgadmin"):
        with d.db.unchanged("%s publishing" % who):
            r = d.api("POST", "/v1/advisories", fx[who]["token"],
                      json=advisory())
            problem_ok(r, 403)
    with d.db.unchanged("member creating an organisation"):
        r = d.api("POST", "/v1/organisations", fx["member"]["token"],
                  json={"name": "Nope", "kind": "private"})
        problem_ok(r, 403)
    with d.db.unchanged("publisher creating an organisation"):
        r = d.api("POST", "/v1/organisations", fx["publisher"]["token"],
                  json={"name": "Nope", "kind": "private"})
        problem_ok(r, 403)
    with d.db.unchanged("member creating a user"):
        r = d.api("POST", "/v1/users", fx["member"]["token"], json={
            "organisation_id": fx["org"]["id"], "name": "Mallory",
            "email": "m@test.invalid", "role": "member", "language": "en"})
        problem_ok(r, 403)
    a = d.publish(fx["publisher"]["token"], tlp="GREEN")
    with d.db.unchanged("member revising"):
        r = d.api("PUT", "/v1/advisories/" + a["id"], fx["member"]["token"],
                  json=advisory(tlp="GREEN"))
        problem_ok(r, 403)
    with d.db.unchanged("member revoking"):
        r = d.api("POST", "/v1/advisories/%s/revoke" % a["id"],
                  fx["member"]["token"])
        problem_ok(r, 403)


def normalise(body, *ids):
    """The problem with the given identifiers blanked, to compare two."""
    text = jsonlib.dumps(body, sort_keys=True)
    for i in ids:
        text = text.replace(i, "{id}")
    return text


@test
def not_found_404_and_invisible_is_the_same():
    d, fx = env()
    pub = fx["publisher"]["token"]
    a = d.publish(pub, tlp="AMBER", audience={"organisations": [fx["org"]["id"]]})
    year = a["id"].split("-")[1]
    unknown = "TST-%s-9999" % year
    r_unknown = d.api("GET", "/v1/advisories/" + unknown, fx["outsider"]["token"])
    problem_ok(r_unknown, 404)
    r_hidden = d.api("GET", "/v1/advisories/" + a["id"], fx["outsider"]["token"])
    problem_ok(r_hidden, 404)
    eq(normalise(r_hidden.body, a["id"]), normalise(r_unknown.body, unknown),
       "404 body for a hidden item vs an unknown one")
    for path in ("/v1/advisories/%s/csaf" % a["id"],):
        problem_ok(d.api("GET", path, fx["outsider"]["token"]), 404)
    with d.db.unchanged("PUT on an unknown advisory"):
        problem_ok(d.api("PUT", "/v1/advisories/" + unknown, pub,
                         json=advisory()), 404)
    with d.db.unchanged("revoke of an unknown advisory"):
        problem_ok(d.api("POST", "/v1/advisories/%s/revoke" % unknown, pub), 404)
    problem_ok(d.api("GET", "/v1/advisories/not-an-id", pub), 404)
    problem_ok(d.api("GET", "/v1/no-such-resource", pub), 404)
    problem_ok(d.api("GET", "/v1/organisations/987654321", d.admin_token), 404)
    problem_ok(d.api("GET", "/v1/subscriptions/987654321",
                     fx["member"]["token"]), 404)


@test
def method_not_allowed_405():
    d, fx = env()
    pub = fx["publisher"]["token"]
    a = d.publish(pub)
    cases = [("DELETE", "/v1/advisories", {"GET", "POST"}),
             ("PATCH", "/healthz", {"GET"}),
             ("GET", "/v1/advisories/%s/revoke" % a["id"], {"POST"}),
             ("DELETE", "/v1/advisories/" + a["id"], {"GET", "PUT"})]
    for method, path, allowed in cases:
        with d.db.unchanged("%s %s" % (method, path)):
            r = d.api(method, path, pub,
                      json={} if method in ("PATCH", "PUT") else None)
            problem_ok(r, 405)
        allow = {m.strip() for m in (r.headers.get("Allow") or "").split(",")}
        assert allowed <= allow, "%s %s: Allow %r lacks %s" % (
            method, path, r.headers.get("Allow"), allowed - allow)


@test
def conflict_409_revoke_twice():
    d, fx = env()
    pub = fx["publisher"]["token"]
    a = d.publish(pub, tlp="GREEN")
    r = d.api("POST", "/v1/advisories/%s/revoke" % a["id"], pub)
    eq(r.status, 200, "first revoke")
    eq(r.body.get("status"), "revoked", "status after revoke")
    with d.db.unchanged("second revoke"):
        problem_ok(d.api("POST", "/v1/advisories/%s/revoke" % a["id"], pub), 409)
    with d.db.unchanged("revision of a revoked advisory"):
        problem_ok(d.api("PUT", "/v1/advisories/" + a["id"], pub,
                         json=advisory(tlp="GREEN")), 409)
    eq(d.api("GET", "/v1/advisories/" + a["id"], pub).body["status"],
       "revoked", "status after the refused requests")


@test
def conflict_409_organisation_name_taken():
    d, fx = env()
    name = d.api("GET", "/v1/organisations/%d" % fx["org"]["id"],
                 d.admin_token).body["name"]
    with d.db.unchanged("an organisation under a name in use"):
        problem_ok(d.api("POST", "/v1/organisations", d.admin_token, json={
            "name": name, "kind": "essential", "sectors": ["energy"]}),
            409, "name")


def doc_of_size(n):
    """A valid advisory whose JSON encoding is exactly n bytes."""
    doc = advisory(body="")
    base = len(jsonlib.dumps(doc).encode())
    doc["body"] = "x" * (n - base)
    raw = jsonlib.dumps(doc).encode()
    assert len(raw) == n
    return raw


@test
def body_too_large_413():
    d, fx = env()
    pub = fx["publisher"]["token"]
    hdr = {"Content-Type": "application/json"}
    for size in (LIMIT + 1, 4 * LIMIT):
        with d.db.unchanged("body of %d bytes" % size):
            problem_ok(d.api("POST", "/v1/advisories", pub,
                             raw=doc_of_size(size), headers=hdr), 413)
    # Without Content-Length (chunked), the limit still holds.
    raw = doc_of_size(3 * LIMIT)
    with d.db.unchanged("chunked body over the limit"):
        conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=30)
        conn.request("POST", "/v1/advisories",
                     body=iter([raw[i:i + 1024] for i in range(0, len(raw), 1024)]),
                     headers=dict(hdr, Authorization="Bearer " + pub),
                     encode_chunked=True)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        problem_ok(parse_response(resp.status, resp.headers, body), 413)
    # At the limit exactly, the size is not what is refused.
    r = d.api("POST", "/v1/advisories", pub, raw=doc_of_size(LIMIT), headers=hdr)
    assert r.status != 413, "a body of exactly max_body_bytes got 413"


@test
def unsupported_media_type_415():
    d, fx = env()
    pub = fx["publisher"]["token"]
    raw = jsonlib.dumps(advisory()).encode()
    for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
        with d.db.unchanged("Content-Type %s" % ctype):
            r = d.api("POST", "/v1/advisories", pub, raw=raw,
                      headers={"Content-Type": ctype} if ctype else {})
            problem_ok(r, 415)
    # A charset parameter is still JSON.
    r = d.api("POST", "/v1/advisories", pub, raw=raw,
              headers={"Content-Type": "application/json; charset=utf-8"})
    eq(r.status, 201, "POST with application/json; charset=utf-8")


# (name, fields changed in a valid advisory, member the problem names)
ADVISORY_422 = [
    ("tlp unknown", dict(tlp="PURPLE"), "tlp"),
    ("tlp missing", dict(tlp=None), "tlp"),
    ("severity unknown", dict(severity="catastrophic"), "severity"),
    ("severity not a string", dict(severity=4), "severity"),
    ("title missing", dict(title=None), "title"),
    ("sector unknown", dict(sectors=["energy", "atlantis"]), "sectors"),
    ("sub-sector unknown", dict(sectors=["energy.nuclear"]), "sectors"),
    ("sectors not a list", dict(sectors="energy"), "sectors"),
    ("cve malformed", dict(cves=["CVE-24-1"]), "cves"),
    ("cve not a cve", dict(cves=["not-a-cve"]), "cves"),
    ("AMBER without audience", dict(tlp="AMBER"), "audience"),
    ("AMBER with an empty audience",
     dict(tlp="AMBER", audience={"organisations": [], "sectors": [],
                                 "kinds": [], "users": []}), "audience"),
    ("AMBER+STRICT without audience", dict(tlp="AMBER+STRICT"), "audience"),
    ("audience sector unknown",
     dict(tlp="AMBER", audience={"sectors": ["atlantis"]}), "audience.sectors"),
    ("audience kind unknown",
     dict(tlp="AMBER", audience={"sectors": ["energy"], "kinds": ["huge"]}),
     "audience.kinds"),
    ("unknown member", dict(titel="typo"), "titel"),
    ("unknown audience member",
     dict(tlp="AMBER", audience={"orgs": [1]}), "audience.orgs"),
]


@test
def invalid_advisory_fields_422():
    d, fx = env()
    pub = fx["publisher"]["token"]
    cases = ADVISORY_422 + [
        ("RED without audience.users",
         dict(tlp="RED", audience={"organisations": [fx["org"]["id"]]}),
         "audience.users"),
        ("RED with empty audience.users",
         dict(tlp="RED", audience={"users": []}), "audience.users"),
    ]
    for name, fields, field in cases:
        log("-- 422: " + name)
        with d.db.unchanged(name):
            r = d.api("POST", "/v1/advisories", pub, json=advisory(**fields))
            problem_ok(r, 422, field)
    # The same rules on a revision.
    a = d.publish(pub)
    with d.db.unchanged("invalid revision"):
        r = d.api("PUT", "/v1/advisories/" + a["id"], pub,
                  json=advisory(severity="catastrophic"))
        problem_ok(r, 422, "severity")


@test
def invalid_other_fields_422():
    d, fx = env()
    adm = d.admin_token
    org = fx["org"]["id"]
    cases = [
        ("/v1/organisations", {"name": "K", "kind": "huge"}, "kind"),
        ("/v1/organisations", {"name": "S", "kind": "private",
                               "sectors": ["atlantis"]}, "sectors"),
        ("/v1/organisations", {"name": "U", "kind": "private",
                               "colour": "blue"}, "colour"),
        ("/v1/users", {"organisation_id": org, "name": "R", "email":
                       "r@test.invalid", "role": "superuser"}, "role"),
        ("/v1/users", {"organisation_id": org, "name": "L", "email":
                       "l@test.invalid", "role": "member", "language": "es"},
         "language"),
        ("/v1/users", {"organisation_id": org, "name": "P", "email":
                       "p@test.invalid", "role": "publisher"},
         "organisation_id"),
        ("/v1/users", {"name": "M", "email": "m@test.invalid",
                       "role": "member"}, "organisation_id"),
    ]
    for path, body, field in cases:
        with d.db.unchanged("POST %s %r" % (path, body)):
            problem_ok(d.api("POST", path, adm, json=body), 422, field)


@test
def database_unavailable_503():
    dead = "host=127.0.0.1 port=%d user=postgres dbname=gone connect_timeout=2" \
        % free_port()
    d = Daemon(dead, migrate=False, bootstrap=False, start=False)
    # It must start without PostgreSQL and say so on /healthz.
    d.start(ready_status=503)
    problem_ok(d.api("GET", "/healthz"), 503)
    problem_ok(d.api("GET", "/v1/advisories", "tcs_" + "A" * 43), 503)
    problem_ok(d.api("POST", "/v1/advisories", "tcs_" + "A" * 43,
                     json=advisory()), 503)
    d.stop()


if __name__ == "__main__":
    main()
