#!/usr/bin/python3
"""30-tlp-matrix: who sees what (TLP.md), cell by cell, over every REST
path that reveals an advisory: GET one, GET list, GET ?revision=1 after a
revision. Then audiences by sector (sub-sectors covered) narrowed by kind."""

from harness import *

LABELS = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")

# The rule of TLP.md, written out. Columns: who asks.
#   anonymous, member of an audience organisation, org-admin of it,
#   member of another organisation, the named RED user, another user of
#   the RED user's organisation, a publisher, an admin.
WHO = ("anonymous", "audience-member", "audience-orgadmin", "other-member",
       "red-user", "red-colleague", "publisher", "admin")
VISIBLE = {
    "CLEAR":        (1, 1, 1, 1, 1, 1, 1, 1),
    "GREEN":        (0, 1, 1, 1, 1, 1, 1, 1),
    "AMBER":        (0, 1, 1, 0, 0, 0, 1, 1),
    "AMBER+STRICT": (0, 1, 1, 0, 0, 0, 1, 1),
    "RED":          (0, 0, 0, 0, 1, 0, 1, 1),
}


def cast(d):
    """Organisations A (the audience), B (another), R (the RED user's)."""
    a = d.make_org(kind="essential", sectors=["energy.gas"])
    b = d.make_org(kind="important", sectors=["health"])
    r = d.make_org(kind="private", sectors=["banking"])
    return {
        "anonymous": None,
        "audience-member": d.principal("member", a["id"]),
        "audience-orgadmin": d.principal("org-admin", a["id"]),
        "other-member": d.principal("member", b["id"]),
        "red-user": d.principal("member", r["id"]),
        "red-colleague": d.principal("member", r["id"]),
        "publisher": d.principal("publisher"),
        "admin": {"token": d.admin_token},
    }, a


def token_of(p):
    return p["token"] if p else None


@test
def tlp_matrix_get_list_revision():
    d = shared_daemon("tlp")
    people, org_a = cast(d)
    pub = people["publisher"]["token"]
    items = {}
    for label in LABELS:
        aud = {"organisations": [org_a["id"]]}
        if label == "RED":
            aud["users"] = [people["red-user"]["id"]]
        doc = advisory(tlp=label, audience=aud, title="rev 1 of " + label)
        r = d.api("POST", "/v1/advisories", pub, json=doc)
        eq(r.status, 201, "publish %s" % label)
        doc2 = dict(doc, title="rev 2 of " + label)
        r2 = d.api("PUT", "/v1/advisories/" + r.body["id"], pub, json=doc2)
        eq(r2.status, 200, "PUT revision of %s" % label)
        eq(r2.body.get("revision"), 2, "revision after PUT")
        items[label] = r.body["id"]

    bad = []
    lists = {}
    for who, p in people.items():
        if p is None:
            # The list is for authenticated users only (CONTRACT.md).
            r = d.api("GET", "/v1/advisories")
            if r.status != 401:
                bad.append("anonymous list: %d, want 401" % r.status)
            page = r.body.get("items", []) if r.status == 200 else []
            lists[who] = {it["id"] for it in page}
        else:
            lists[who] = {it["id"] for it in d.list_all("/v1/advisories",
                                                        token_of(p))}

    for label in LABELS:
        aid = items[label]
        for col, who in enumerate(WHO):
            tok = token_of(people[who])
            visible = bool(VISIBLE[label][col])
            cell = "%s x %s" % (label, who)
            latest = d.api("GET", "/v1/advisories/" + aid, tok)
            rev1 = d.api("GET", "/v1/advisories/%s?revision=1" % aid, tok)
            listed = aid in lists[who]
            # Anonymous callers cannot list (401 above): only get counts.
            if visible:
                ok = (latest.status == 200 and rev1.status == 200
                      and (listed or who == "anonymous")
                      and latest.body.get("title") == "rev 2 of " + label
                      and latest.body.get("revision") == 2
                      and latest.body.get("tlp") == label
                      and rev1.body.get("title") == "rev 1 of " + label
                      and rev1.body.get("revision") == 1)
            else:
                ok = (latest.status == 404 and rev1.status == 404
                      and not listed)
                if ok:
                    problem_ok(latest, 404)
                    problem_ok(rev1, 404)
            log("%-40s %s: get %d, revision=1 %d, listed %s -> %s" % (
                cell, "visible" if visible else "hidden", latest.status,
                rev1.status, listed, "ok" if ok else "WRONG"))
            if not ok:
                bad.append(cell)
    assert not bad, "wrong: %s" % ", ".join(bad)


@test
def audience_by_sector_and_kind():
    d = shared_daemon("tlp")
    pub = d.principal("publisher")["token"]
    orgs = {
        "E1 essential energy.gas": d.make_org(kind="essential", sectors=["energy.gas"]),
        "E2 important energy.electricity": d.make_org(kind="important",
                                                      sectors=["energy.electricity"]),
        "E3 essential health": d.make_org(kind="essential", sectors=["health"]),
        "E4 essential energy": d.make_org(kind="essential", sectors=["energy"]),
    }
    member = {k: d.principal("member", o["id"]) for k, o in orgs.items()}
    e3 = orgs["E3 essential health"]["id"]
    red_user = member["E3 essential health"]
    # (label, audience, {org key: visible}); orgs left out are not asserted.
    cases = [
        ("AMBER", {"sectors": ["energy"], "kinds": ["essential"]},
         {"E1": 1, "E2": 0, "E3": 0, "E4": 1}),
        ("AMBER", {"sectors": ["energy.gas"]},
         {"E1": 1, "E2": 0, "E3": 0}),
        ("AMBER", {"sectors": ["energy"], "kinds": ["important"]},
         {"E1": 0, "E2": 1, "E3": 0, "E4": 0}),
        ("AMBER+STRICT", {"organisations": [e3], "sectors": ["energy"],
                          "kinds": ["essential"]},
         {"E1": 1, "E2": 0, "E3": 1, "E4": 1}),
        ("GREEN", {"sectors": ["health"]},
         {"E1": 1, "E2": 1, "E3": 1, "E4": 1}),
        ("RED", {"sectors": ["energy"], "users": [red_user["id"]]},
         {"E1": 0, "E2": 0, "E4": 0}),
    ]
    bad = []
    for label, aud, want in cases:
        a = d.publish(pub, tlp=label, audience=aud)
        for key, p in member.items():
            short = key.split()[0]
            if short not in want:
                continue
            got_one = d.api("GET", "/v1/advisories/" + a["id"], p["token"]).status
            listed = a["id"] in {i["id"] for i in d.list_all(
                "/v1/advisories", p["token"])}
            exp = bool(want[short])
            ok = (got_one == 200 and listed) if exp else (got_one == 404 and not listed)
            log("%s %s -> %s: get %d listed %s %s" % (
                label, jsonlib.dumps(aud), key, got_one, listed,
                "ok" if ok else "WRONG"))
            if not ok:
                bad.append("%s %s for %s" % (label, jsonlib.dumps(aud), key))
        if label == "RED":
            eq(d.api("GET", "/v1/advisories/" + a["id"],
                     red_user["token"]).status, 200, "RED for its named user")
    assert not bad, "wrong: %s" % "; ".join(bad)


if __name__ == "__main__":
    main()
