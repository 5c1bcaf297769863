#!/usr/bin/python3
"""86-audit: the audit log. Each audited action leaves one entry with its
actor, object, details (TLP and audience changes of a revision) and client
address: publish, revise, revoke, token creation and revocation (and the
bootstrap admin's token), reading a delivery report, user creation,
change and deletion. An entry is written in the action's transaction: a
refused action leaves none, and an action whose entry cannot be written
does not happen. GET /v1/audit is for admins, with filters and cursor
pagination. Entries carry ids, never e-mail addresses or tokens."""

from harness import *


def d():
    return shared_daemon("audit")


def entries(daemon, **q):
    return daemon.list_all("/v1/audit", daemon.admin_token, **q)


def last(daemon, **q):
    items = entries(daemon, limit=200, **q)
    assert items, "no audit entry for %r" % q
    return items[0]         # newest first


def no_secrets(daemon, *needles):
    text = jsonlib.dumps(entries(daemon))
    for n in needles:
        assert n not in text, "%r reached the audit log" % n[:12]


@test
def bootstrap_token_is_audited():
    e = last(d(), action="token.create")
    first = entries(d(), action="token.create")[-1]
    eq(first["actor_user_id"], None, "bootstrap: no actor (the host)")
    eq(first["details"].get("via"), "bootstrap-admin", "bootstrap details")
    assert e["object_type"] == "token"


@test
def publish_revise_revoke():
    dm = d()
    pub = dm.principal("publisher")
    org = dm.make_org(sectors=["energy"])
    adv = dm.publish(pub["token"], tlp="GREEN")
    e = last(dm, action="advisory.publish", object_id=adv["id"])
    eq(e["actor_user_id"], pub["id"], "publish actor")
    eq(e["object_type"], "advisory")
    eq(e["details"]["revision"], 1)
    eq(e["details"]["tlp"], "GREEN")
    eq(e["details"]["event_id"], adv["event_id"])
    eq(e["client_address"], "127.0.0.1", "client address")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", e["at"]), e

    # A revision that changes the label and the audience says how.
    r = dm.api("PUT", "/v1/advisories/" + adv["id"], pub["token"],
               json=advisory(tlp="AMBER",
                             audience={"organisations": [org["id"]]}))
    eq(r.status, 200, "revise")
    e = last(dm, action="advisory.revise", object_id=adv["id"])
    eq(e["actor_user_id"], pub["id"])
    eq(e["details"]["revision"], 2)
    eq(e["details"]["changes"]["tlp"], {"from": "GREEN", "to": "AMBER"})
    eq(e["details"]["changes"]["audience"]["to"]["organisations"],
       [org["id"]], "audience after")
    # One that changes neither says so.
    r = dm.api("PUT", "/v1/advisories/" + adv["id"], pub["token"],
               json=advisory(tlp="AMBER",
                             audience={"organisations": [org["id"]]}))
    eq(r.status, 200, "revise again")
    e = last(dm, action="advisory.revise", object_id=adv["id"])
    eq(e["details"]["revision"], 3)
    eq(e["details"]["changes"], {}, "no TLP or audience change")

    r = dm.api("POST", "/v1/advisories/%s/revoke" % adv["id"], pub["token"])
    eq(r.status, 200, "revoke")
    e = last(dm, action="advisory.revoke", object_id=adv["id"])
    eq(e["actor_user_id"], pub["id"])
    eq(e["details"]["event_id"], r.body["event_id"])

    # Refused: no entry (same transaction).
    n = len(entries(dm, object_id=adv["id"]))
    problem_ok(dm.api("PUT", "/v1/advisories/" + adv["id"], pub["token"],
                      json=advisory()), 409)
    problem_ok(dm.api("POST", "/v1/advisories/%s/revoke" % adv["id"],
                      pub["token"]), 409)
    eq(len(entries(dm, object_id=adv["id"])), n, "entries after refusals")


@test
def action_fails_when_its_entry_cannot_be_written():
    dm = d()
    pub = dm.principal("publisher")["token"]
    dm.db.sql("ALTER TABLE audit ADD CONSTRAINT t_no_publish "
              "CHECK (action <> 'advisory.publish') NOT VALID")
    try:
        before = dm.db.scalar("SELECT count(*) FROM advisories")
        with dm.db.unchanged("publish without its audit entry"):
            r = dm.api("POST", "/v1/advisories", pub, json=advisory())
        assert r.status in (500, 503), "publish: %d %r" % r[::2]
        eq(dm.db.scalar("SELECT count(*) FROM advisories"), before)
    finally:
        dm.db.sql("ALTER TABLE audit DROP CONSTRAINT t_no_publish")
    eq(dm.api("POST", "/v1/advisories", pub, json=advisory()).status, 201)


@test
def tokens_created_and_revoked():
    dm = d()
    u = dm.make_user(dm.make_org()["id"], "member")
    r = dm.api("POST", "/v1/tokens", dm.admin_token,
               json={"user_id": u["id"]})
    eq(r.status, 201)
    tok = r.body
    e = last(dm, action="token.create", object_id=str(tok["id"]))
    eq(e["object_type"], "token")
    eq(e["details"], {"user_id": u["id"]})
    admin_id = e["actor_user_id"]
    assert isinstance(admin_id, int), e
    # The user revokes its own token.
    eq(dm.api("DELETE", "/v1/tokens/%d" % tok["id"], tok["token"]).status,
       204)
    e = last(dm, action="token.revoke", object_id=str(tok["id"]))
    eq(e["actor_user_id"], u["id"], "revoked by the user itself")
    no_secrets(dm, tok["token"], dm.admin_token)


@test
def delivery_report_read():
    dm = d()
    pub = dm.principal("publisher")
    adv = dm.publish(pub["token"])
    r = dm.api("GET", "/v1/advisories/%s/deliveries?state=failed" % adv["id"],
               pub["token"])
    eq(r.status, 200, "delivery report")
    e = last(dm, action="deliveries.read", object_id=adv["id"])
    eq(e["actor_user_id"], pub["id"])
    eq(e["details"]["state"], "failed")
    # An unknown advisory: 404 and nothing to record.
    n = len(entries(dm, action="deliveries.read"))
    problem_ok(dm.api("GET", "/v1/advisories/TST-1999-9999/deliveries",
                      pub["token"]), 404)
    eq(len(entries(dm, action="deliveries.read")), n)


@test
def users_created_changed_deleted():
    dm = d()
    org = dm.make_org()
    u = dm.make_user(org["id"], "member", name="Audit Person")
    e = last(dm, action="user.create", object_id=str(u["id"]))
    eq(e["details"], {"role": "member", "organisation_id": org["id"]})
    r = dm.api("PATCH", "/v1/users/%d" % u["id"], dm.admin_token,
               json={"email": "changed.person@test.invalid",
                     "role": "org-admin"})
    eq(r.status, 200)
    e = last(dm, action="user.update", object_id=str(u["id"]))
    eq(sorted(e["details"]["members"]), ["email", "role"])
    eq((e["details"]["role_from"], e["details"]["role_to"]),
       ("member", "org-admin"))
    eq(dm.api("DELETE", "/v1/users/%d" % u["id"], dm.admin_token).status, 204)
    last(dm, action="user.delete", object_id=str(u["id"]))
    no_secrets(dm, "changed.person@test.invalid", u["email"], "Audit Person")


@test
def asset_decisions_when_the_assets_api_audits():
    dm = d()
    org = dm.make_org()
    adm = dm.principal("org-admin", org["id"])
    r = dm.api("POST", "/v1/assets", adm["token"],
               json={"type": "domain", "value": "audit-%d.example" % adm["id"]})
    if r.status != 201:
        log("assets API not available (%d): skipped" % r.status)
        return
    r2 = dm.api("PATCH", "/v1/assets/%d" % r.body["id"], dm.admin_token,
                json={"status": "approved"})
    eq(r2.status, 200, "approve")
    e = last(dm, action="asset.approve", object_id=str(r.body["id"]))
    eq(e["object_type"], "asset")
    eq(e["details"]["organisation_id"], org["id"])
    # The proposal itself is recorded too.
    e = last(dm, action="asset.propose", object_id=str(r.body["id"]))
    eq(e["actor_user_id"], adm["id"])
    # An admin registering an asset approved at once is an approval.
    r3 = dm.api("POST", "/v1/assets", dm.admin_token,
                json={"type": "cidr", "value": "198.51.100.0/24",
                      "organisation_id": org["id"]})
    eq(r3.status, 201, "admin registers an approved asset")
    eq(r3.body["status"], "approved", "status of an admin's asset")
    e = last(dm, action="asset.approve", object_id=str(r3.body["id"]))
    eq(e["details"]["value"], "198.51.100.0/24")
    # A bulk import leaves one entry with its counts.
    csv = "organisation_id,type,value\n%d,domain,bulk-%d.example\n" % (
        org["id"], adm["id"])
    r4 = dm.api("POST", "/v1/assets/import", dm.admin_token, raw=csv,
                headers={"Content-Type": "text/csv"})
    eq(r4.status, 200, "import")
    e = last(dm, action="asset.import")
    eq(e["details"]["created"], 1)
    eq(e["details"]["rows"], 1)


@test
def audit_api_admin_only_filters_and_pages():
    dm = d()
    pub = dm.principal("publisher")
    problem_ok(dm.api("GET", "/v1/audit"), 401)
    problem_ok(dm.api("GET", "/v1/audit", pub["token"]), 403)
    for q, field in (("actor=x", "actor"), ("action=A%20B", "action"),
                     ("since=yesterday", "since"), ("limit=0", "limit"),
                     ("cursor=-1", "cursor")):
        problem_ok(dm.api("GET", "/v1/audit?" + q, dm.admin_token), 422,
                   field)
    for _ in range(5):
        dm.publish(pub["token"])
    mine = entries(dm, actor=pub["id"])
    eq(len(mine), 5, "entries of this publisher")
    assert all(e["action"] == "advisory.publish" for e in mine)
    ids = [e["id"] for e in mine]
    eq(ids, sorted(ids, reverse=True), "newest first")
    paged = entries(dm, actor=pub["id"], limit=2)
    eq([e["id"] for e in paged], ids, "pages of 2 give the same entries")
    r = dm.api("GET", "/v1/audit?limit=2&actor=%d" % pub["id"], dm.admin_token)
    assert r.body["next_cursor"] is not None
    # since: none in the future, all of them from long ago.
    eq(entries(dm, actor=pub["id"], since="2999-01-01T00:00:00Z"), [])
    eq(len(entries(dm, actor=pub["id"], since="2000-01-01T00:00:00Z")), 5)
    eq(len(entries(dm, action="advisory.publish", object_type="advisory",
                   actor=pub["id"])), 5)


if __name__ == "__main__":
    main()
