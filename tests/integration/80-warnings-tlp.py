#!/usr/bin/python3
"""80-warnings-tlp: a warning's label is enforced like an advisory's (the
owner's users read it; another organisation's member gets 404 as for a
missing one; staff see all; anonymous 401), the labels a warning may carry
(AMBER+STRICT by default, AMBER; never RED, GREEN or CLEAR), refusals of
POST /v1/warnings that name the field and change nothing, and the
identifiers: a series of their own, gap-free."""

import re

from harness import *

TS = "2026-01-15T03:12:44Z"

_ctx = {}


def ctx():
    if not _ctx:
        d = shared_daemon("warn_tlp")
        a = d.make_org(sectors=["energy"])
        b = d.make_org(sectors=["energy"])
        for org in (a, b):
            r = d.api("POST", "/v1/assets", d.admin_token,
                      json={"type": "cidr", "organisation_id": org["id"],
                            "value": "198.51.100.0/25" if org is a
                            else "198.51.100.128/25"})
            eq(r.status, 201)
        _ctx.update(d=d, a=a, b=b, pub=d.principal("publisher"),
                    a_member=d.principal("member", a["id"]),
                    a_admin=d.principal("org-admin", a["id"]),
                    b_member=d.principal("member", b["id"]),
                    b_admin=d.principal("org-admin", b["id"]))
    return _ctx


def warning(**over):
    body = {"title": "Open RDP", "description": "Close it.",
            "category": "open-rdp",
            "observations": [{"ip": "198.51.100.10", "port": 3389,
                              "timestamp": TS}]}
    body.update(over)
    return body


def publish(c, **over):
    r = c["d"].api("POST", "/v1/warnings", c["pub"]["token"],
                   json=warning(**over))
    eq(r.status, 201, "publish: %r" % (r.body,))
    eq(r.body["warnings_created"], 1)
    return r.body["warnings"][0]["id"]


@test
def label_enforced_like_an_advisory():
    c = ctx()
    d = c["d"]
    wid = publish(c)
    for who in ("a_member", "a_admin", "pub"):
        r = d.api("GET", "/v1/warnings/" + wid, c[who]["token"])
        eq(r.status, 200, "%s reads it" % who)
        eq(r.body["tlp"], "AMBER+STRICT")
    eq(d.api("GET", "/v1/warnings/" + wid, d.admin_token).status, 200)
    # Another organisation's people: exactly as for a missing warning.
    missing = d.api("GET", "/v1/warnings/TST-W-1999-99999",
                    c["b_member"]["token"])
    problem_ok(missing, 404)
    for who in ("b_member", "b_admin"):
        r = d.api("GET", "/v1/warnings/" + wid, c[who]["token"])
        problem_ok(r, 404)
        eq(r.body["detail"].replace(wid, "X"),
           missing.body["detail"].replace("TST-W-1999-99999", "X"),
           "a hidden warning reads like a missing one")
    problem_ok(d.api("GET", "/v1/warnings/" + wid), 401)
    problem_ok(d.api("GET", "/v1/warnings"), 401)

    def listed(token, **q):
        return [w["id"] for w in d.list_all("/v1/warnings", token, **q)]
    assert wid in listed(c["a_member"]["token"])
    assert wid not in listed(c["b_member"]["token"])
    assert wid in listed(c["pub"]["token"])
    assert wid in listed(d.admin_token, organisation_id=c["a"]["id"])
    assert wid not in listed(d.admin_token, organisation_id=c["b"]["id"])
    # Lists carry no observations; the warning itself does.
    item = d.list_all("/v1/warnings", c["a_member"]["token"])[0]
    assert "observations" not in item
    eq(item["observation_count"], 1)


@test
def labels_a_warning_may_carry():
    c = ctx()
    d = c["d"]
    wid = publish(c, tlp="AMBER")
    eq(d.api("GET", "/v1/warnings/" + wid, c["a_member"]["token"]).body["tlp"],
       "AMBER")
    problem_ok(d.api("GET", "/v1/warnings/" + wid, c["b_member"]["token"]),
               404)
    with d.db.unchanged("a refused label"):
        for label in ("RED", "GREEN", "CLEAR", "amber", "TLP:AMBER"):
            problem_ok(d.api("POST", "/v1/warnings", c["pub"]["token"],
                             json=warning(tlp=label)), 422, "tlp")


@test
def refusals_name_the_field():
    c = ctx()
    d = c["d"]
    pub = c["pub"]["token"]
    ob = {"ip": "198.51.100.10", "timestamp": TS}
    cases = [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": 7}, "title"),
        ({"description": ["x"]}, "description"),
        ({"severity": "dire"}, "severity"),
        ({"colour": "red"}, "colour"),
        ({"observations": []}, "observations"),
        ({"observations": "198.51.100.10"}, "observations"),
        ({"observations": [ob, {"ip": "198.51.100.300", "timestamp": TS}]},
         "observations[1].ip"),
        ({"observations": [{"ip": "198.51.100.1"}]},
         "observations[0].timestamp"),
        ({"observations": [dict(ob, timestamp="yesterday")]},
         "observations[0].timestamp"),
        ({"observations": [dict(ob, domain="example.be")]},
         "observations[0]"),
        ({"observations": [{"timestamp": TS}]}, "observations[0]"),
        ({"observations": [dict(ob, port=65536)]}, "observations[0].port"),
        ({"observations": [dict(ob, port="443")]}, "observations[0].port"),
        ({"observations": [dict(ob, asn=0)]}, "observations[0].asn"),
        ({"observations": [dict(ob, details=[1])]},
         "observations[0].details"),
        ({"observations": [dict(ob, colour=1)]}, "observations[0].colour"),
        ({"observations": [{"domain": "exa mple.be", "timestamp": TS}]},
         "observations[0].domain"),
        ({"observations": [{"email": "nobody", "timestamp": TS}]},
         "observations[0].email"),
    ]
    with d.db.unchanged("refused warnings"):
        for over, field in cases:
            body = warning(**over)
            for k in [k for k, v in over.items() if v is None]:
                del body[k]
            problem_ok(d.api("POST", "/v1/warnings", pub, json=body), 422,
                       field)
        for who in (d.admin_token, c["a_admin"]["token"],
                    c["a_member"]["token"]):
            problem_ok(d.api("POST", "/v1/warnings", who, json=warning()),
                       403)
        problem_ok(d.api("POST", "/v1/warnings", None, json=warning()), 401)
        problem_ok(d.api("POST", "/v1/warnings", pub, raw="{",
                         headers={"Content-Type": "application/json"}), 400)


@test
def identifiers_own_gap_free_series():
    c = ctx()
    d = c["d"]
    adv = d.publish(c["pub"]["token"])
    assert re.fullmatch(r"TST-\d{4}-\d{4}", adv["id"]), adv["id"]
    r = d.api("POST", "/v1/warnings", c["pub"]["token"],
              json=warning(observations=[
                  {"ip": "198.51.100.1", "timestamp": TS},
                  {"ip": "198.51.100.129", "timestamp": TS}]))
    eq(r.status, 201)
    ids = sorted(w["id"] for w in r.body["warnings"])
    for i in ids:
        assert re.fullmatch(r"TST-W-\d{4}-\d{5}", i), i
    nums = [int(i.rsplit("-", 1)[1]) for i in ids]
    eq(nums[1], nums[0] + 1, "consecutive within a batch")
    # A refused request takes no number.
    problem_ok(d.api("POST", "/v1/warnings", c["pub"]["token"],
                     json=warning(tlp="RED")), 422)
    nxt = publish(c)
    eq(int(nxt.rsplit("-", 1)[1]), nums[1] + 1, "gap-free after a refusal")
    # The advisory series is untouched by warnings.
    adv2 = d.publish(c["pub"]["token"])
    eq(int(adv2["id"].rsplit("-", 1)[1]), int(adv["id"].rsplit("-", 1)[1]) + 1)


if __name__ == "__main__":
    main()
