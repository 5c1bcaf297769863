#!/usr/bin/python3
"""87-personal-data: the processing table's rules. A retention pass (POST
/v1/admin/purge) deletes finished deliveries with their attempts and audit
entries past retention.*_days, and nothing else. Deleting a user removes
its personal data (name, address, certificate, tokens, subscriptions,
sessions, the error texts of its deliveries) while advisories, deliveries
and audit entries stay consistent by id. GET /v1/users/{id}/export gives a
user its own data (the user itself or an admin). The daemon's log never
holds a test's e-mail address or token, even when PostgreSQL refuses a row
that contains one."""

import subprocess

from harness import *
from webhook_sink import *

ADDR_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]+")

_ctx = {}


def ctx():
    if "d" not in _ctx:
        d = Daemon(new_database("personal"), start=False,
                   retention={"deliveries_days": 1, "audit_days": 1})
        outbox_config(d, allow_private=True, timeout_s=3)
        d.start()
        _ctx.update(d=d, sink=Sink(signing_key(d)["pem"]),
                    emails=set(), tokens={d.admin_token})
    return _ctx


def person(d, org_id, role="member", **extra):
    """A user with a recognisable address and a token, both remembered
    for the log check."""
    name = d.unique("Person")
    email = re.sub(r"\W", ".", name).lower() + ".pd@example.org"
    u = d.make_user(org_id, role, name=name, email=email, **extra)
    u["token"] = d.make_token(u["id"])
    ctx()["emails"].add(email)
    ctx()["tokens"].add(u["token"])
    return u


def self_signed_pem():
    key = os.path.join(WORKDIR, "pd.key")
    crt = os.path.join(WORKDIR, "pd.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=pd/emailAddress=cert.pd@example.org"],
                   check=True, capture_output=True)
    ctx()["emails"].add("cert.pd@example.org")
    with open(crt) as f:
        return f.read()


def fake_email_delivery(d, user_id, state="delivered", days_ago=0,
                        error=None):
    """An e-mail delivery row for user_id (no relay in this test: a
    payload row, as a test message is), with one attempt, created and last
    changed days_ago."""
    err = "'%s'" % error if error else "NULL"
    rid = d.db.scalar(
        "INSERT INTO deliveries (payload, channel, user_id, priority, state,"
        " msg_id, attempts, last_error, created_at, updated_at, delivered_at)"
        " VALUES ('{\"type\": \"test\"}', 'email', %d, 3, '%s',"
        " 'pd-' || md5(random()::text), 1, %s, now() - interval '%d days',"
        " now() - interval '%d days', %s) RETURNING id"
        % (user_id, state, err, days_ago, days_ago,
           "now() - interval '%d days'" % days_ago
           if state == "delivered" else "NULL"))
    d.db.sql("INSERT INTO delivery_attempts (delivery_id, attempt, started_at,"
             " status, error) VALUES (%s, 1, now() - interval '%d days', 250,"
             " %s)" % (rid, days_ago, err))
    return int(rid)


@test
def purge_past_retention_only():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org(sectors=["energy"])
    adm = person(d, org["id"], "org-admin")
    pub = person(d, None, "publisher")
    ep = sink.endpoint("purge")
    make_webhook(d, adm["token"], ep)
    d.publish(pub["token"], audience={"organisations": [org["id"]]})
    d.publish(pub["token"], audience={"organisations": [org["id"]]})
    ep.wait_count(2)
    wait_until(lambda: d.db.scalar("SELECT count(*) FROM deliveries WHERE "
                                   "state = 'delivered'") == "2", 10,
               "2 delivered")
    old_hook = d.db.scalar("SELECT min(id) FROM deliveries")
    d.db.sql("UPDATE deliveries SET updated_at = now() - interval '2 days',"
             " created_at = now() - interval '2 days' WHERE id = %s"
             % old_hook)
    # Old but not finished: a delivery still pending stays, whatever its age.
    m = person(d, org["id"])
    pending = fake_email_delivery(d, m["id"], state="pending", days_ago=5)
    failed = fake_email_delivery(d, m["id"], state="failed", days_ago=3)
    fresh = fake_email_delivery(d, m["id"], state="delivered", days_ago=0)
    # Audit: two entries made old, the rest recent.
    d.db.sql("UPDATE audit SET at = now() - interval '2 days' WHERE id IN "
             "(SELECT id FROM audit ORDER BY id LIMIT 2)")
    old_audit = d.db.scalar("SELECT count(*) FROM audit WHERE at < now() - "
                            "interval '1 day'")
    eq(old_audit, "2")
    events = d.db.scalar("SELECT count(*) FROM events")
    attempts_old = int(d.db.scalar(
        "SELECT count(*) FROM delivery_attempts WHERE delivery_id IN (%s, %d)"
        % (old_hook, failed)))

    problem_ok(d.api("POST", "/v1/admin/purge", pub["token"]), 403)
    r = d.api("POST", "/v1/admin/purge", d.admin_token)
    eq(r.status, 200, "POST /v1/admin/purge")
    eq(r.body, {"deliveries": 2, "delivery_attempts": attempts_old,
                "audit": 2}, "purge counts")
    left = {int(x[0]) for x in d.db.sql("SELECT id FROM deliveries")}
    assert int(old_hook) not in left and failed not in left, left
    assert pending in left and fresh in left, left
    eq(d.db.scalar("SELECT count(*) FROM delivery_attempts WHERE delivery_id"
                   " IN (%s, %d)" % (old_hook, failed)), "0", "attempts gone")
    eq(d.db.scalar("SELECT count(*) FROM audit WHERE at < now() - "
                   "interval '1 day'"), "0", "old audit entries gone")
    eq(d.db.scalar("SELECT count(*) FROM events"), events, "events untouched")
    e = d.list_all("/v1/audit", d.admin_token, action="retention.purge")
    eq(len(e), 1, "the purge is audited")
    eq(e[0]["details"]["deliveries"], 2)
    # A second pass finds nothing.
    eq(d.api("POST", "/v1/admin/purge", d.admin_token).body,
       {"deliveries": 0, "delivery_attempts": 0, "audit": 0})


@test
async def delete_user_removes_personal_data():
    c = ctx()
    d = c["d"]
    org = d.make_org()
    u = person(d, org["id"], smime_cert=self_signed_pem())
    pub = person(d, None, "publisher")
    adv = d.publish(pub["token"])
    r = d.api("POST", "/v1/subscriptions", u["token"],
              json={"name": "all", "filter": {}, "channels": ["ws"]})
    eq(r.status, 201)
    pending = fake_email_delivery(d, u["id"], state="pending",
                                  error="550 <%s> mailbox full" % u["email"])
    done = fake_email_delivery(d, u["id"], state="failed",
                               error="550 <%s> unknown" % u["email"])
    s = Stream(d.ws_url, u["token"])
    await s.connect()
    await s.recv_until(lambda m: m["type"] == "ready", 10)

    eq(d.api("DELETE", "/v1/users/%d" % u["id"], d.admin_token).status, 204)
    row = d.db.sql("SELECT name, email, smime_cert, active FROM users "
                   "WHERE id = %d" % u["id"])[0]
    eq(row, ("deleted user %d" % u["id"], "", "", "f"), "users row")
    eq(d.db.scalar("SELECT count(*) FROM users WHERE id = %d AND email IS NULL"
                   " AND smime_cert IS NULL" % u["id"]), "1")
    eq(d.db.scalar("SELECT count(*) FROM tokens WHERE user_id = %d AND "
                   "revoked_at IS NULL" % u["id"]), "0", "live tokens")
    eq(d.db.scalar("SELECT count(*) FROM subscriptions WHERE user_id = %d"
                   % u["id"]), "0", "subscriptions")
    problem_ok(d.api("GET", "/v1/tokens", u["token"]), 401)
    problem_ok(d.api("GET", "/v1/users/%d" % u["id"], d.admin_token), 404)
    problem_ok(d.api("GET", "/v1/users/%d/export" % u["id"], d.admin_token),
               404)
    # Its live connection is dropped: the token is revoked.
    with contextlib.suppress(StreamClosed):
        await s.recv_until(lambda m: m["type"] == "error", 10)
    # Deliveries stay (the publisher's report), by id, without its address.
    rows = dict((int(x[0]), x[1:]) for x in d.db.sql(
        "SELECT id, state, coalesce(last_error, ''), coalesce(last_response,"
        " '') FROM deliveries WHERE user_id = %d" % u["id"]))
    eq(rows[pending][0], "cancelled", "pending delivery cancelled")
    eq(rows[done][0], "failed", "finished delivery kept")
    text = jsonlib.dumps(d.db.sql(
        "SELECT d.*, a.* FROM deliveries d JOIN delivery_attempts a ON "
        "a.delivery_id = d.id WHERE d.user_id = %d" % u["id"]))
    assert u["email"] not in text, "the address stayed in a delivery"
    # The deleted publisher's advisory still names its publisher by id.
    eq(d.db.scalar("SELECT publisher_id FROM advisories WHERE id = '%s'"
                   % adv["id"]), str(pub["id"]))
    eq(d.api("DELETE", "/v1/users/%d" % pub["id"], d.admin_token).status, 204)
    eq(d.api("GET", "/v1/advisories/" + adv["id"], d.admin_token).status,
       200, "advisory of a deleted publisher")
    eq(d.db.scalar("SELECT publisher_id FROM advisories WHERE id = '%s'"
                   % adv["id"]), str(pub["id"]))
    e = d.list_all("/v1/audit", d.admin_token, actor=pub["id"])
    assert any(x["action"] == "advisory.publish" for x in e), \
        "the deleted publisher's audit entries stay"


@test
def export_own_data():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org(sectors=["energy"])
    u = person(d, org["id"])
    other = person(d, org["id"])
    oadm = person(d, org["id"], "org-admin")
    stranger = person(d, d.make_org()["id"])
    r = d.api("POST", "/v1/subscriptions", u["token"],
              json={"name": "mine", "filter": {"sectors": ["energy"]},
                    "channels": ["ws"]})
    eq(r.status, 201)
    second = d.api("POST", "/v1/tokens", u["token"]).body
    c["tokens"].add(second["token"])
    did = fake_email_delivery(d, u["id"], state="delivered")

    r = d.api("GET", "/v1/users/%d/export" % u["id"], u["token"])
    eq(r.status, 200, "export by the user itself")
    x = r.body
    eq(x["user"]["id"], u["id"])
    eq(x["user"]["email"], u["email"], "the address is in its own export")
    eq(x["user"]["name"], u["name"])
    eq(sorted(t["id"] for t in x["tokens"]), sorted(
        t["id"] for t in d.list_all("/v1/tokens", u["token"])))
    for t in x["tokens"]:
        eq(sorted(t), ["created_at", "id", "last_used_at", "revoked_at"],
           "token metadata only")
    text = jsonlib.dumps(x)
    for tok in (u["token"], second["token"]):
        assert tok not in text, "a token in the export"
    eq([s["name"] for s in x["subscriptions"]], ["mine"])
    eq([dl["id"] for dl in x["deliveries"]], [did], "deliveries to it")
    actions = {(e["action"], e["object_type"]) for e in x["audit"]}
    assert ("user.create", "user") in actions, actions
    assert ("token.create", "token") in actions, actions
    # Entries by others keep their id but not their address.
    for e in x["audit"]:
        if e["actor_user_id"] != u["id"]:
            eq(e["client_address"], None, "another's address in an export")

    eq(d.api("GET", "/v1/users/%d/export" % u["id"], d.admin_token).status,
       200, "export by an admin")
    problem_ok(d.api("GET", "/v1/users/%d/export" % u["id"], other["token"]),
               404)
    problem_ok(d.api("GET", "/v1/users/%d/export" % u["id"],
                     stranger["token"]), 404)
    problem_ok(d.api("GET", "/v1/users/%d/export" % u["id"], oadm["token"]),
               403)
    problem_ok(d.api("GET", "/v1/users/%d/export" % u["id"]), 401)
    e = d.list_all("/v1/audit", d.admin_token, action="user.export",
                   object_id=str(u["id"]))
    eq(len(e), 2, "both exports audited")


@test
def logs_hold_no_address_or_token():
    c = ctx()
    d = c["d"]
    org = d.make_org(contact_email="security.pd@example.org")
    c["emails"].add("security.pd@example.org")
    u = person(d, org["id"])
    new = "renamed." + u["email"]
    c["emails"].add(new)
    eq(d.api("PATCH", "/v1/users/%d" % u["id"], d.admin_token,
             json={"email": new}).status, 200)
    problem_ok(d.api("GET", "/v1/tokens", "tcs_" + "A" * 43), 401)
    problem_ok(d.api("GET", "/v1/tokens", u["token"] + "x"), 401)
    # PostgreSQL refuses a row holding an address: its DETAIL quotes the
    # row, and the log must not.
    d.db.sql("ALTER TABLE users ADD CONSTRAINT t_refuse CHECK "
             "(email NOT LIKE 'refused.%') NOT VALID")
    try:
        c["emails"].add("refused.pd@example.org")
        r = d.api("POST", "/v1/users", d.admin_token,
                  json={"organisation_id": org["id"], "name": "Refused",
                        "email": "refused.pd@example.org", "role": "member"})
        assert r.status in (500, 503), r
    finally:
        d.db.sql("ALTER TABLE users DROP CONSTRAINT t_refuse")
    assert "t_refuse" in d.stderr(), "the refusal was not logged at all"
    log_text = d.stderr()
    for addr in sorted(c["emails"]):
        assert addr not in log_text, "e-mail address %s in the log" % addr
    for tok in c["tokens"]:
        assert tok not in log_text, "a token in the log"
    found = [a for a in ADDR_RE.findall(log_text)]
    eq(found, [], "addresses in the log")


@test
def email_scenario_keeps_addresses_out_of_logs():
    """Real mail through a relay that quotes the refused address in its
    answer: the log has neither address; deleting the refused user wipes
    the relay's answer from its delivery records."""
    from mail_sink import MailSink, email_daemon, email_user, wait_deliveries
    sink = MailSink()
    try:
        d = email_daemon("personal_mail", sink, smime=False)
        org = d.make_org(contact_email="contact.mail.pd@example.org")
        ok = email_user(d, org["id"], email="ok.mail.pd@example.org")
        bad = email_user(d, org["id"], email="bad.mail.pd@example.org")
        sink.always["bad.mail.pd@example.org"] = (
            "550 5.1.1 <bad.mail.pd@example.org>: Recipient address rejected")
        adv = d.publish(d.principal("publisher")["token"])
        sink.wait_to(ok["email"])
        rows = wait_deliveries(d, "event_id = %s AND user_id = %d"
                               % (adv["event_id"], bad["id"]),
                               lambda r: r and r[0]["state"] == "failed")
        recorded = jsonlib.dumps(d.db.sql(
            "SELECT d.last_error, a.error FROM deliveries d JOIN "
            "delivery_attempts a ON a.delivery_id = d.id WHERE d.id = %s"
            % rows[0]["id"]))
        log("recorded: %s" % recorded)
        assert "550" in recorded, "the relay's answer was not recorded"
        text = d.stderr()
        for addr in ("ok.mail.pd@example.org", "bad.mail.pd@example.org",
                     "contact.mail.pd@example.org"):
            assert addr not in text, "%s in the log" % addr
        for tok in (ok["token"], bad["token"], d.admin_token):
            assert tok not in text, "a token in the log"
        eq(d.api("DELETE", "/v1/users/%d" % bad["id"], d.admin_token).status,
           204)
        left = jsonlib.dumps(d.db.sql(
            "SELECT d.last_error, d.last_response, a.error, a.response FROM "
            "deliveries d JOIN delivery_attempts a ON a.delivery_id = d.id "
            "WHERE d.user_id = %d" % bad["id"]))
        assert "bad.mail.pd@example.org" not in left, left
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
