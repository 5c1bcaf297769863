#!/usr/bin/python3
"""75-email-digest: subscriptions with "daily@HH:MM" get one digest a day
instead of a mail per item, except for critical items and items that
target their organisation, which still go at once. The daemon's clock is
moved by the test (TOCSIN_TEST_NOW naming a file that holds the time;
TZ=UTC), not waited for: nothing before 08:00, one digest just after,
listing each item with its label, severity, CVEs and link, the strictest
label on the digest; an item of 08:10 waits for the next day's digest."""

import calendar

from harness import *
from mail_sink import *

CLOCK = os.path.join(WORKDIR, "now")


def set_clock(when):
    """Move the daemon's clock to when ("YYYY-MM-DD HH:MM:SS", UTC)."""
    t = calendar.timegm(time.strptime(when, "%Y-%m-%d %H:%M:%S"))
    with open(CLOCK + ".tmp", "w") as f:
        f.write("%d\n" % t)
    os.replace(CLOCK + ".tmp", CLOCK)


@test
def daily_digest():
    set_clock("2030-01-15 07:00:00")
    sink = MailSink()
    pki = Pki()
    d = email_daemon("email_digest", sink, pki,
                     env={"TOCSIN_TEST_NOW": CLOCK})
    pub = d.principal("publisher")
    org = d.make_org(sectors=["energy"])
    a = email_user(d, org["id"], digest="daily@08:00", language="en")
    b = email_user(d, org["id"])                 # immediate, to compare
    tok = pub["token"]

    x = d.publish(tok, title="X medium clear", severity="medium",
                  cves=["CVE-2030-0001"])
    y = d.publish(tok, title="Y critical", tlp="GREEN", severity="critical")
    z = d.publish(tok, title="Z targeted", tlp="AMBER", severity="low",
                  audience={"organisations": [org["id"]]})
    w = d.publish(tok, title="W high green", tlp="GREEN", severity="high",
                  cves=["CVE-2030-0002", "CVE-2030-0003"])
    sink.wait_to(b["email"], 4)
    sink.wait_to(a["email"], 2)
    time.sleep(2.5)
    got = sorted(str(m.msg["Subject"]) for m in sink.to(a["email"]))
    eq(got, sorted(["[TLP:GREEN] %s: Y critical" % y["id"],
                    "[TLP:AMBER] %s: Z targeted" % z["id"]]),
       "immediate mails of a digest subscriber")
    eq(d.db.scalar("SELECT count(*) FROM email_digest WHERE user_id = %d "
                   "AND delivery_id IS NULL" % a["id"]), "2")

    set_clock("2030-01-15 07:59:30")
    time.sleep(3)
    eq(len(sink.to(a["email"])), 2, "a digest before 08:00")

    set_clock("2030-01-15 08:00:30")
    m = sink.wait_to(a["email"], 3, timeout=15)[2]
    eq(str(m.msg["Subject"]), "[TLP:GREEN] Daily digest 2030-01-15: 2 items")
    eq(str(m.msg["X-TLP"]), "GREEN", "the strictest label of the digest")
    assert m.msg["List-Unsubscribe"] is not None
    ok, _, err = pki.verify(m.data)
    assert ok, err
    t = text_of(m.msg)
    log("digest text:\n" + t)
    eq(t.splitlines()[0], "TLP:GREEN")
    for want in ("[TLP:CLEAR] %s: X medium clear" % x["id"],
                 "[TLP:GREEN] %s: W high green" % w["id"],
                 "Severity: Medium", "Severity: High", "CVE-2030-0001",
                 "CVE-2030-0002 CVE-2030-0003",
                 "%s/advisories/%s" % (d.url, x["id"]),
                 "%s/advisories/%s" % (d.url, w["id"])):
        assert want in t, "digest lacks %r:\n%s" % (want, t)
    for no in (y["id"], z["id"]):
        assert no not in t, "%s sent at once and in the digest" % no
    h = html_of(m.msg)
    assert 'href="%s/advisories/%s"' % (d.url, w["id"]) in h
    time.sleep(3)
    eq(len(sink.to(a["email"])), 3, "one digest a day")
    eq(d.db.scalar("SELECT count(*) FROM email_digest WHERE user_id = %d "
                   "AND delivery_id IS NULL" % a["id"]), "0")

    # After today's digest: tomorrow's.
    set_clock("2030-01-15 08:10:00")
    v = d.publish(tok, title="V after the digest", severity="low")
    sink.wait_to(b["email"], 5)
    set_clock("2030-01-15 20:00:00")
    time.sleep(3)
    eq(len(sink.to(a["email"])), 3, "V sent before tomorrow's digest")
    set_clock("2030-01-16 08:00:30")
    m = sink.wait_to(a["email"], 4, timeout=15)[3]
    eq(str(m.msg["Subject"]), "[TLP:CLEAR] Daily digest 2030-01-16: 1 items")
    t = text_of(m.msg)
    assert v["id"] in t and "V after the digest" in t, t
    assert x["id"] not in t
    d.stop()
    sink.stop()


if __name__ == "__main__":
    main()
