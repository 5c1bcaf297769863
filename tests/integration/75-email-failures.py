#!/usr/bin/python3
"""75-email-failures: the relay's answers. A temporary refusal (451, at
RCPT TO or after the data) is retried on the webhook schedule (scaled by
TOCSIN_TEST_RETRY_SCALE) and delivered, each attempt recorded; a
permanent one (550) is recorded as failed after one attempt and, for a
refused address, reported to the organisation's other contacts (its
org-admins and security contact) in a report that carries no content; a
report that bounces is not reported again; a relay that does not answer
is retried; the publisher's delivery report lists e-mail too."""

from harness import *
from mail_sink import *

RETRY_SCALE = "0.0002"      # 5 s, 5 min, ... become 1 ms, 60 ms, ...

_ctx = {}


def ctx():
    if "d" not in _ctx:
        sink = MailSink()
        pki = Pki()
        d = email_daemon("email_failures", sink, pki,
                         env={"TOCSIN_TEST_RETRY_SCALE": RETRY_SCALE})
        pub = d.principal("publisher")
        _ctx.update(d=d, sink=sink, pki=pki, pub=pub)
    return _ctx


def attempts(d, delivery_id):
    return d.db.sql("SELECT attempt, coalesce(status, 0), coalesce(error, '')"
                    " FROM delivery_attempts WHERE delivery_id = %s "
                    "ORDER BY attempt" % delivery_id)


@test
def temporary_failure_is_retried_and_delivered():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org()
    u = email_user(d, org["id"], email="later@org.test")
    v = email_user(d, org["id"], email="after-data@org.test")
    sink.rcpt_rules["later@org.test"] = ["451 4.3.0 try again later",
                                         "451 4.3.0 still busy"]
    sink.data_rules["after-data@org.test"] = ["451 4.3.0 queue full"]
    a = d.publish(c["pub"]["token"], title="Retried title")
    m = sink.wait_to(u["email"], timeout=30)[0]
    eq(str(m.msg["Subject"]), "[TLP:CLEAR] %s: Retried title" % a["id"])
    sink.wait_to(v["email"], timeout=30)
    rows = wait_deliveries(d, "event_id = %s AND user_id = %d" %
                           (a["event_id"], u["id"]),
                           lambda r: r and r[0]["state"] == "delivered")
    eq(rows[0]["attempts"], "3")
    at = attempts(d, rows[0]["id"])
    eq([(x[0], x[1]) for x in at], [("1", "451"), ("2", "451"), ("3", "250")])
    assert "temporary" in at[0][2], at[0]
    rows = wait_deliveries(d, "event_id = %s AND user_id = %d" %
                           (a["event_id"], v["id"]),
                           lambda r: r and r[0]["state"] == "delivered")
    eq(rows[0]["attempts"], "2")
    # The same Message-ID on every attempt (the delivery's).
    eq(len(sink.to(u["email"])), 1)


@test
def permanent_failure_is_recorded_and_reported():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org(contact_email="security@org.test")
    admin = email_user(d, org["id"], role="org-admin", subscribe=False,
                       language="nl", email="admin@org.test")
    u = email_user(d, org["id"], email="gone@org.test")
    sink.always["gone@org.test"] = "550 5.1.1 <gone@org.test>: no such user"
    a = d.publish(c["pub"]["token"], title="Bounced title 2222",
                  summary="Bounced summary 3333")
    rows = wait_deliveries(d, "event_id = %s AND user_id = %d" %
                           (a["event_id"], u["id"]),
                           lambda r: r and r[0]["state"] == "failed")
    eq(rows[0]["attempts"], "1", "a 5xx is not retried")
    eq(rows[0]["last_status"], "550")
    assert "refused the recipient's address" in rows[0]["last_error"], rows
    eq(sink.attempts.get("gone@org.test"), 1)

    # Reported to the org-admin (in Dutch) and the security contact.
    m = sink.wait_to("admin@org.test")[0]
    s = str(m.msg["Subject"])
    assert s.startswith("[TLP:AMBER+STRICT] Onbestelbare e-mail"), s
    t = text_of(m.msg)
    log("report %r:\n%s" % (s, t))
    eq(t.splitlines()[0], "TLP:AMBER+STRICT")
    assert "gone@org.test" in t and a["id"] in t and "550" in t, t
    for secret in ("2222", "3333"):
        assert secret not in t and secret.encode() not in m.data
    ok, _, err = c["pki"].verify(m.data)
    assert ok, err
    m = sink.wait_to("security@org.test")[0]
    assert "gone@org.test" in text_of(m.msg)
    reports = deliveries(d, "payload->>'type' = 'bounce-report' AND "
                         "organisation_id = %d" % org["id"])
    eq(sorted((r["user_id"], r["to_contact"]) for r in reports),
       sorted([(str(admin["id"]), "f"), ("0", "t")]), "report rows")


@test
def a_bounced_report_is_not_reported_again():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org(contact_email="dead-contact@org.test")
    u = email_user(d, org["id"], email="dead-user@org.test")
    sink.always["dead-user@org.test"] = "550 5.1.1 no such user"
    sink.always["dead-contact@org.test"] = "553 5.1.3 bad address"
    a = d.publish(c["pub"]["token"])
    wait_deliveries(d, "payload->>'type' = 'bounce-report' AND "
                    "organisation_id = %d" % org["id"],
                    lambda r: r and all(x["state"] == "failed" for x in r))
    time.sleep(1.5)
    reports = deliveries(d, "payload->>'type' = 'bounce-report' AND "
                         "organisation_id = %d" % org["id"])
    eq(len(reports), 1, "reports of reports")
    eq(reports[0]["last_status"], "553")


@test
def relay_down_is_retried():
    c = ctx()
    class Dead:
        url = "smtp://127.0.0.1:%d" % free_port()     # nothing listens
    d = email_daemon("email_relay_down", Dead, None, smime=False,
                     env={"TOCSIN_TEST_RETRY_SCALE": RETRY_SCALE})
    org = d.make_org()
    u = email_user(d, org["id"])
    pub = d.principal("publisher")
    a = d.publish(pub["token"])
    rows = wait_deliveries(d, "event_id = %s" % a["event_id"],
                           lambda r: r and int(r[0]["attempts"]) >= 2 and
                           r[0]["state"] == "pending")
    assert rows[0]["last_error"], rows
    eq(rows[0]["last_status"], "0")
    d.stop()


@test
def delivery_report_lists_email():
    c = ctx()
    d = c["d"]
    org = d.make_org()
    u = email_user(d, org["id"])
    a = d.publish(c["pub"]["token"])
    c["sink"].wait_to(u["email"])
    wait_deliveries(d, "event_id = %s" % a["event_id"],
                    lambda r: r and r[0]["state"] == "delivered")
    items = d.list_all("/v1/advisories/%s/deliveries" % a["id"],
                       c["pub"]["token"])
    mine = [i for i in items if i.get("user_id") == u["id"]]
    eq(len(mine), 1, "the user's row in the report")
    eq((mine[0]["channel"], mine[0]["state"]), ("email", "delivered"))


if __name__ == "__main__":
    main()
