#!/usr/bin/python3
"""80-warnings-import: bulk registration of assets from CSV and the import
of a Shadowserver-style report (tests/data): per-line errors for assets,
malformed report rows counted and listed by line while every other row is
imported, each organisation's warning holding its rows only, unknown
columns kept in details, the request's refusals, a large import with many
malformed rows, and the split of a very large organisation's share over
several warnings."""

import io
import json
import os
import re
import urllib.parse

from harness import *

DATA = os.path.join(SRCDIR, "tests", "data")


def csv_text(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return f.read()


def assets_csv(orgs):
    """tests/data/warnings-assets.csv with its organisation ids 1-4 made
    the test's organisations (9 stays unknown)."""
    out = []
    for i, line in enumerate(csv_text("warnings-assets.csv").splitlines()):
        if i > 0:
            n, rest = line.split(",", 1)
            line = "%s,%s" % (orgs[int(n)]["id"] if int(n) in orgs
                              else 999999, rest)
        out.append(line)
    return "\n".join(out) + "\n"


def post_csv(d, path, token, text):
    return d.api("POST", path, token, raw=text.encode("utf-8"),
                 headers={"Content-Type": "text/csv; charset=utf-8"})


def import_report(d, token, text, **q):
    q = dict({"format": "shadowserver", "title": "Vulnerable SSL-VPN",
              "category": "vulnerable-vpn"}, **q)
    return post_csv(d, "/v1/warnings/import?" + urllib.parse.urlencode(q),
                    token, text)


def key_of(o):
    for k in ("ip", "domain", "email"):
        if k in o:
            return o[k]
    raise AssertionError("observation without a key: %r" % o)


def read_own(d, org, answer):
    """org's member's view of the answer's warnings: {key: observation};
    the other warnings answer 404."""
    seen = {}
    for w in answer["warnings"]:
        r = d.api("GET", "/v1/warnings/" + w["id"], org["token"])
        if w["organisation_id"] == org["org"]:
            eq(r.status, 200)
            for o in r.body["observations"]:
                seen[key_of(o)] = o
        else:
            problem_ok(r, 404)
    return seen


_ctx = {}


def sample():
    """A daemon with four organisations whose assets came from the
    sample asset list."""
    if _ctx:
        return _ctx
    d = shared_daemon("warn_import")
    orgs, members = {}, {}
    for n in (1, 2, 3, 4):
        orgs[n] = d.make_org()
        m = d.principal("member", orgs[n]["id"])
        members[n] = {"org": orgs[n]["id"], "token": m["token"]}
    _ctx.update(d=d, orgs=orgs, members=members,
                pub=d.principal("publisher"))
    r = post_csv(d, "/v1/assets/import", d.admin_token, assets_csv(orgs))
    eq(r.status, 200, "asset import: %r" % (r.body,))
    _ctx["first_import"] = r.body
    return _ctx


@test
def assets_import_per_line_errors():
    c = sample()
    d = c["d"]
    text = assets_csv(c["orgs"])
    # Only an admin, only CSV.
    org_admin = d.principal("org-admin", c["orgs"][1]["id"])
    with d.db.unchanged("refused asset import"):
        problem_ok(post_csv(d, "/v1/assets/import", org_admin["token"], text),
                   403)
        problem_ok(post_csv(d, "/v1/assets/import", c["pub"]["token"], text),
                   403)
        problem_ok(d.api("POST", "/v1/assets/import", d.admin_token,
                         json={"x": 1}), 415)
        problem_ok(post_csv(d, "/v1/assets/import", d.admin_token,
                            "organisation,type,value\n"), 422, "body")
        problem_ok(post_csv(d, "/v1/assets/import", d.admin_token, ""),
                   422, "body")
    b = c["first_import"]
    eq((b["rows"], b["created"], b["unchanged"], b["refused"]),
       (15, 12, 0, 3))
    eq([(e["line"], e.get("field")) for e in b["errors"]],
       [(14, "value"), (15, "value"), (16, "organisation_id")])
    assert "host bits" in b["errors"][0]["detail"], b["errors"][0]
    # Loading the same file again changes nothing.
    r = post_csv(d, "/v1/assets/import", d.admin_token, text)
    eq((r.body["created"], r.body["unchanged"], r.body["refused"]),
       (0, 12, 3))
    mine = d.list_all("/v1/assets", org_admin["token"])
    eq(sorted(a["value"] for a in mine),
       sorted(["198.51.100.0/24", "2001:db8::/32", "64500", "example.org"]))
    eq({a["status"] for a in mine}, {"approved"})
    proposed = d.list_all("/v1/assets", d.admin_token, status="proposed")
    eq(sorted(a["value"] for a in proposed), ["192.0.2.0/24", "example.net"])
    # Another organisation cannot take an approved value over.
    clash = "organisation_id,type,value\n%d,cidr,198.51.100.0/24\n" % \
        c["orgs"][2]["id"]
    r = post_csv(d, "/v1/assets/import", d.admin_token, clash)
    eq((r.body["created"], r.body["refused"]), (0, 1))
    eq(r.body["errors"][0]["line"], 2)


@test
def shadowserver_sample_report():
    c = sample()
    d = c["d"]
    m = c["members"]
    r = import_report(d, c["pub"]["token"],
                      csv_text("warnings-shadowserver.csv"),
                      description="Your SSL-VPN gateways need patching.")
    eq(r.status, 201, "import: %r" % (r.body,))
    b = r.body
    eq((b["rows"], b["malformed"], b["malformed_lines"]),
       (19, 5, [15, 16, 17, 18, 19]))
    eq((b["observations_matched"], b["observations_unmatched"],
        b["warnings_created"]), (11, 3, 3))
    eq(sorted(w["organisation_id"] for w in b["warnings"]),
       sorted(m[n]["org"] for n in (1, 2, 3)))
    for w in b["warnings"]:
        assert re.fullmatch(r"TST-W-\d{4}-\d{5}", w["id"]), w["id"]
    text = json.dumps(b)
    for leak in ("192.0.2.10", "203.0.113.6", "notexample.be"):
        assert leak not in text, "the answer echoes %s" % leak

    one = read_own(d, m[1], b)
    eq(sorted(one), sorted(["198.51.100.10", "2001:db8::5", "203.0.113.5",
                            "198.51.100.15"]))
    two = read_own(d, m[2], b)
    eq(sorted(two), sorted(["198.51.100.130", "198.51.100.250",
                            "2001:db8:1::5", "www.example.be"]))
    three = read_own(d, m[3], b)
    eq(sorted(three), sorted(["198.51.100.200", "2001:db8:1:2::5",
                              "a.b.example.be"]))
    eq(read_own(d, m[4], b), {})

    # The normal form of a row: known columns typed, the rest in details
    # (empty ones left out), quoting undone.
    o = one["198.51.100.10"]
    eq(o["timestamp"], "2026-01-15T03:12:44Z")
    eq((o["port"], o["asn"]), (443, 64500))
    eq(o["details"], {"hostname": "vpn.example.org", "tag": "ssl-vpn",
                      "geo": "BE", "region": "Brussels", "city": "Brussels",
                      "protocol": "tcp", "version": "7.0.1"})
    eq(one["198.51.100.15"]["details"]["version"], '"quoted" 7.0.1')
    eq(two["198.51.100.250"]["details"]["city"], "Gent, Oost-Vlaanderen")
    eq(three["198.51.100.200"]["details"]["region"], "Liège")
    eq(set(two["www.example.be"]), {"domain", "port", "timestamp",
                                    "details"})
    assert "region" not in two["2001:db8:1::5"]["details"]

    w = d.api("GET", "/v1/warnings/" + b["warnings"][0]["id"],
              c["pub"]["token"]).body
    eq((w["title"], w["category"], w["tlp"], w["severity"]),
       ("Vulnerable SSL-VPN", "vulnerable-vpn", "AMBER+STRICT", "high"))
    eq(w["description"], "Your SSL-VPN gateways need patching.")


@test
def import_refusals_change_nothing():
    c = sample()
    d = c["d"]
    pub = c["pub"]["token"]
    good = csv_text("warnings-shadowserver.csv")
    org_admin = d.principal("org-admin", c["orgs"][1]["id"])["token"]
    with d.db.unchanged("refused import"):
        problem_ok(import_report(d, pub, good, format="csv"), 422, "format")
        problem_ok(post_csv(d, "/v1/warnings/import?title=x", pub, good),
                   422, "format")
        problem_ok(import_report(d, pub, good, title=""), 422, "title")
        problem_ok(import_report(d, pub, good, tlp="RED"), 422, "tlp")
        problem_ok(import_report(d, pub, good, tlp="CLEAR"), 422, "tlp")
        problem_ok(import_report(d, pub, good, severity="dire"), 422,
                   "severity")
        problem_ok(import_report(d, pub, "timestamp,port\nx,1\n"), 422,
                   "body")
        problem_ok(import_report(d, pub, "ip,ip,timestamp\n"), 422, "body")
        problem_ok(import_report(d, pub, ""), 422, "body")
        problem_ok(d.api("POST", "/v1/warnings/import?format=shadowserver"
                         "&title=x", pub, raw=good,
                         headers={"Content-Type": "application/json"}), 415)
        for who in (d.admin_token, org_admin):
            problem_ok(import_report(d, who, good), 403)
        problem_ok(import_report(d, None, good), 401)
    # A report of nothing but unmatched and malformed rows creates nothing.
    r = import_report(d, pub, "timestamp,ip\n2026-01-01 00:00:00,203.0.113.77\n"
                      "bad,203.0.113.78\n")
    eq(r.status, 200)
    eq((r.body["warnings_created"], r.body["rows"], r.body["malformed"],
        r.body["observations_unmatched"]), (0, 2, 1, 1))


@test
def many_rows_many_malformed():
    c = sample()
    d = c["d"]
    out = io.StringIO()
    out.write("timestamp,ip,port,tag\r\n")
    bad_lines, good = [], 0
    for i in range(3000):
        line = i + 2
        if i % 20 == 7:
            out.write('2026-01-15 00:00:00,"198.51.100.%d,443,x\r\n' % (i % 256)
                      if i % 40 == 7 else
                      "2026-01-15 00:00:00,198.51.100.%d,99999,x\r\n"
                      % (i % 256))
            bad_lines.append(line)
        else:
            out.write("2026-01-15 00:00:00,198.51.100.%d,443,x\r\n" % (i % 256))
            good += 1
    r = import_report(d, c["pub"]["token"], out.getvalue())
    eq(r.status, 201)
    eq((r.body["rows"], r.body["malformed"]), (3000, len(bad_lines)))
    eq(r.body["malformed_lines"], bad_lines[:100])
    eq(r.body["observations_matched"] + r.body["observations_unmatched"],
       good)
    eq(r.body["observations_unmatched"], 0)


@test
def large_share_split_into_parts():
    # A small stream queue: each warning's observations stay under a
    # quarter of it, so an organisation with many rows gets several parts.
    d = Daemon(new_database("warn_parts"),
               limits={"ws_send_queue_bytes": 65536})
    org = d.make_org()
    member = d.principal("member", org["id"])
    pub = d.principal("publisher")
    r = d.api("POST", "/v1/assets", d.admin_token,
              json={"type": "cidr", "value": "2001:db8::/32",
                    "organisation_id": org["id"]})
    eq(r.status, 201)
    rows = ["timestamp,ip,port,tag"]
    rows += ["2026-01-15 00:00:00,2001:db8::%x,443,ssl-vpn" % i
             for i in range(1, 2001)]
    r = import_report(d, pub["token"], "\n".join(rows) + "\n")
    eq(r.status, 201)
    n = r.body["warnings_created"]
    assert n > 1, "2000 observations in %d warning(s)" % n
    total, parts = 0, []
    for w in r.body["warnings"]:
        got = d.api("GET", "/v1/warnings/" + w["id"], member["token"]).body
        total += len(got["observations"])
        parts.append((got["part"], got["parts"]))
        size = len(json.dumps(got["observations"], separators=(",", ":")))
        assert size <= 65536 // 4, "a part of %d bytes" % size
    eq(total, 2000)
    eq(sorted(parts), [(i, n) for i in range(1, n + 1)])


if __name__ == "__main__":
    main()
