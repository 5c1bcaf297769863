#!/usr/bin/python3
"""80-warnings-assets: the asset registry. An org-admin proposes its
organisation's networks, AS numbers and domains; an admin approves or
rejects them (the decision and its author kept) or registers approved ones
directly; values are normalised and bad ones refused naming the field;
one approved owner per exact value; who may read, decide and delete."""

import re

from harness import *

_ctx = {}


def ctx():
    if not _ctx:
        d = shared_daemon("warn_assets")
        a, b = d.make_org(), d.make_org()
        _ctx.update(d=d, a=a, b=b,
                    a_admin=d.principal("org-admin", a["id"]),
                    a_member=d.principal("member", a["id"]),
                    b_admin=d.principal("org-admin", b["id"]),
                    pub=d.principal("publisher"))
    return _ctx


def propose(c, who, **body):
    return c["d"].api("POST", "/v1/assets", c[who]["token"], json=body)


@test
def propose_and_decide():
    c = ctx()
    d = c["d"]
    r = propose(c, "a_admin", type="cidr", value="2001:DB8:A::/48")
    eq(r.status, 201)
    asset = r.body
    eq(r.headers["Location"], "/v1/assets/%d" % asset["id"])
    eq((asset["organisation_id"], asset["type"], asset["value"],
        asset["status"], asset["proposed_by"], asset["decided_by"],
        asset["decided_at"]),
       (c["a"]["id"], "cidr", "2001:db8:a::/48", "proposed",
        c["a_admin"]["id"], None, None))
    # The org-admin may not decide; the admin does, and it is recorded.
    problem_ok(d.api("PATCH", "/v1/assets/%d" % asset["id"],
                     c["a_admin"]["token"], json={"status": "approved"}), 403)
    with d.db.unchanged("refused decisions"):
        for bad in ({"status": "proposed"}, {"status": "yes"}, {},
                    {"status": "approved", "value": "x"}):
            problem_ok(d.api("PATCH", "/v1/assets/%d" % asset["id"],
                             d.admin_token, json=bad), 422)
        problem_ok(d.api("PATCH", "/v1/assets/999999", d.admin_token,
                         json={"status": "approved"}), 404)
    r = d.api("PATCH", "/v1/assets/%d" % asset["id"], d.admin_token,
              json={"status": "approved"})
    eq(r.status, 200)
    eq((r.body["status"], r.body["decided_by"]), ("approved", 1))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                        r.body["decided_at"]), r.body
    r = d.api("PATCH", "/v1/assets/%d" % asset["id"], d.admin_token,
              json={"status": "rejected"})
    eq(r.body["status"], "rejected")
    eq(d.api("GET", "/v1/assets/%d" % asset["id"],
             c["a_admin"]["token"]).body["status"], "rejected")


@test
def values_normalised_or_refused():
    c = ctx()
    d = c["d"]
    ok = [("cidr", "198.51.100.64/26", "198.51.100.64/26"),
          ("cidr", "192.0.2.77", "192.0.2.77/32"),
          ("cidr", "2001:0db8:00b0:0000::/64", "2001:db8:b0::/64"),
          ("asn", "AS64511", "64511"),
          ("asn", 64510, "64510"),
          ("domain", "Shop.Example.ORG.", "shop.example.org")]
    for t, v, want in ok:
        r = propose(c, "a_admin", type=t, value=v)
        eq(r.status, 201, "%s %s: %r" % (t, v, r.body))
        eq(r.body["value"], want)
    bad = [({"type": "cidr", "value": "198.51.100.1/24"}, "value"),
           ({"type": "cidr", "value": "198.51.100.0/33"}, "value"),
           ({"type": "cidr", "value": "0.0.0.0/0"}, "value"),
           ({"type": "cidr", "value": "example.be"}, "value"),
           ({"type": "asn", "value": "4294967296"}, "value"),
           ({"type": "asn", "value": 0}, "value"),
           ({"type": "domain", "value": "be"}, "value"),
           ({"type": "domain", "value": "exa_mple.be"}, "value"),
           ({"type": "domain", "value": "-x.example.be"}, "value"),
           ({"type": "domain"}, "value"),
           ({"type": "url", "value": "https://example.be/"}, "type"),
           ({"value": "example.be"}, "type"),
           ({"type": "domain", "value": "example.net", "note": 1}, "note"),
           ({"type": "domain", "value": "example.net",
             "status": "approved"}, "status"),
           ({"type": "domain", "value": "example.net",
             "organisation_id": c["b"]["id"]}, "organisation_id")]
    with d.db.unchanged("refused assets"):
        for body, field in bad:
            problem_ok(d.api("POST", "/v1/assets", c["a_admin"]["token"],
                             json=body), 422, field)
        problem_ok(d.api("POST", "/v1/assets", d.admin_token,
                         json={"type": "domain", "value": "example.net"}),
                   422, "organisation_id")
        problem_ok(d.api("POST", "/v1/assets", d.admin_token,
                         json={"type": "domain", "value": "example.net",
                               "organisation_id": 999999}),
                   422, "organisation_id")
        problem_ok(d.api("POST", "/v1/assets", d.admin_token,
                         json={"type": "domain", "value": "example.net",
                               "organisation_id": c["a"]["id"],
                               "status": "rejected"}), 422, "status")
        for who in ("a_member", "pub"):
            problem_ok(propose(c, who, type="domain", value="example.net"),
                       403)
        problem_ok(d.api("POST", "/v1/assets", None,
                         json={"type": "domain", "value": "example.net"}), 401)


@test
def one_approved_owner_per_value():
    c = ctx()
    d = c["d"]
    r = d.api("POST", "/v1/assets", d.admin_token,
              json={"type": "cidr", "value": "203.0.113.0/24",
                    "organisation_id": c["a"]["id"]})
    eq(r.status, 201)
    eq((r.body["status"], r.body["decided_by"]), ("approved", 1),
       "an admin registers approved")
    # The same organisation twice: 409. Another one may propose it...
    problem_ok(propose(c, "a_admin", type="cidr", value="203.0.113.0/24"),
               409, "value")
    r = propose(c, "b_admin", type="cidr", value="203.0.113.0/24")
    eq(r.status, 201)
    # ... but not have it approved while A owns it.
    problem_ok(d.api("PATCH", "/v1/assets/%d" % r.body["id"], d.admin_token,
                     json={"status": "approved"}), 409)
    problem_ok(d.api("POST", "/v1/assets", d.admin_token,
                     json={"type": "cidr", "value": "203.0.113.0/24",
                           "organisation_id": c["b"]["id"]}), 409)
    # Overlaps are fine: a more specific prefix for B.
    r = d.api("POST", "/v1/assets", d.admin_token,
              json={"type": "cidr", "value": "203.0.113.128/25",
                    "organisation_id": c["b"]["id"]})
    eq(r.status, 201)


@test
def who_reads_and_deletes():
    c = ctx()
    d = c["d"]
    a1 = propose(c, "a_admin", type="domain", value="a-only.example").body
    b1 = propose(c, "b_admin", type="domain", value="b-only.example").body
    mine = [x["id"] for x in d.list_all("/v1/assets", c["a_admin"]["token"])]
    assert a1["id"] in mine and b1["id"] not in mine, mine
    problem_ok(d.api("GET", "/v1/assets/%d" % b1["id"],
                     c["a_admin"]["token"]), 404)
    for who in ("a_member", "pub"):
        problem_ok(d.api("GET", "/v1/assets", c[who]["token"]), 403)
    every = [x["id"] for x in d.list_all("/v1/assets", d.admin_token)]
    assert a1["id"] in every and b1["id"] in every
    only_b = d.list_all("/v1/assets", d.admin_token,
                        organisation_id=c["b"]["id"], type="domain",
                        status="proposed")
    eq([x["id"] for x in only_b], [b1["id"]])
    problem_ok(d.api("GET", "/v1/assets?status=maybe", d.admin_token), 422,
               "status")
    # Delete: its own for an org-admin, any for an admin.
    problem_ok(d.api("DELETE", "/v1/assets/%d" % b1["id"],
                     c["a_admin"]["token"]), 404)
    eq(d.api("DELETE", "/v1/assets/%d" % a1["id"],
             c["a_admin"]["token"]).status, 204)
    eq(d.api("DELETE", "/v1/assets/%d" % b1["id"], d.admin_token).status, 204)
    problem_ok(d.api("GET", "/v1/assets/%d" % a1["id"], d.admin_token), 404)
    problem_ok(d.api("DELETE", "/v1/assets/%d" % a1["id"], d.admin_token),
               404)


if __name__ == "__main__":
    main()
