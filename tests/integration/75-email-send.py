#!/usr/bin/python3
"""75-email-send: e-mail through a real SMTP server (aiosmtpd): headers,
MIME parts, the S/MIME signature checked by `openssl smime -verify`, the
contents (title, severity and CVSS, CVEs, products, what to do,
references, link), HTML escaping and safe Markdown, RFC 2047 subjects
decoded by Python's email package, the recipient's language, who gets a
mail (subscriptions, TLP, the organisation's security contact, one mail
per recipient), updates and revocations, and no e-mail without a relay."""

import re
import email.utils

from harness import *
from mail_sink import *

_ctx = {}


def ctx():
    if "d" not in _ctx:
        sink = MailSink()
        pki = Pki()
        d = email_daemon("email_send", sink, pki)
        pub = d.principal("publisher")
        _ctx.update(d=d, sink=sink, pki=pki, pub=pub)
    return _ctx


FULL = dict(
    severity="critical",
    cvss={"version": "3.1", "score": 9.8,
          "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
    cves=["CVE-2024-21762", "CVE-2024-23113"],
    products=["cpe:2.3:o:fortinet:fortios"],
    references=["https://www.fortiguard.com/psirt/FG-IR-24-015"],
    summary="Out-of-bounds write in sslvpnd allows remote code execution.",
    body="Upgrade **now** to 7.4.3.\n\n<script>alert(1)</script>\n\n"
         "[vendor](javascript:alert(2)) and "
         "[advisory](https://example.org/x)\n",
)


@test
def headers_parts_and_signature():
    c = ctx()
    d, sink, pki = c["d"], c["sink"], c["pki"]
    org = d.make_org(sectors=["energy"], contact_email="soc.energy@org.test")
    u = email_user(d, org["id"])
    title = "Critical RCE in FortiOS <SSL-VPN> & friends"
    a = d.publish(c["pub"]["token"], title=title, tlp="AMBER",
                  audience={"sectors": ["energy"]}, **FULL)
    m = sink.wait_to(u["email"])[0]
    msg = m.msg
    eq(m.mail_from, "ews@csirt.test", "envelope sender")
    eq(str(msg["Subject"]), "[TLP:AMBER] %s: %s" % (a["id"], title), "Subject")
    eq(str(msg["X-TLP"]), "AMBER", "X-TLP")
    eq(str(msg["Auto-Submitted"]), "auto-generated", "Auto-Submitted")
    eq(str(msg["MIME-Version"]), "1.0", "MIME-Version")
    assert re.fullmatch(r"<msg_[0-9a-f]{32}@csirt\.test>",
                        str(msg["Message-ID"])), msg["Message-ID"]
    dt = email.utils.parsedate_to_datetime(str(msg["Date"]))
    assert abs(dt.timestamp() - time.time()) < 120, msg["Date"]
    eq(msg["From"].addresses[0].display_name, "CSIRT Testé", "From name")
    eq(msg["From"].addresses[0].addr_spec, "ews@csirt.test", "From address")
    eq(msg["To"].addresses[0].addr_spec, u["email"], "To")
    lu = str(msg["List-Unsubscribe"])
    assert re.fullmatch(r"<%s/unsubscribe\?t=[A-Za-z0-9_-]+>" %
                        re.escape(d.url), lu), lu
    eq(str(msg["List-Unsubscribe-Post"]), "List-Unsubscribe=One-Click")
    # The one-click token is in the header only: a forwarded copy of the
    # text does not let others unsubscribe this recipient.
    token = lu.split("t=", 1)[1].rstrip(">")
    assert token.encode() not in m.data.split(b"\r\n\r\n", 1)[1], \
        "the unsubscribe token is in the body"

    # multipart/signed (alternative: text, html; the signature).
    eq(msg.get_content_type(), "multipart/signed")
    eq(msg.get_param("protocol"), "application/pkcs7-signature")
    eq(msg.get_param("micalg"), "sha-256")
    body, sig = msg.get_payload()
    eq(body.get_content_type(), "multipart/alternative")
    eq([p.get_content_type() for p in body.get_payload()],
       ["text/plain", "text/html"], "alternatives")
    eq(sig.get_content_type(), "application/pkcs7-signature")
    for p in body.get_payload():
        eq(p.get_content_charset(), "utf-8")
        eq(p["Content-Transfer-Encoding"], "quoted-printable")
    # SMTP: CRLF line ends only, 998 octets at most per line.
    assert b"\n" not in m.data.replace(b"\r\n", b""), "a bare LF"
    assert max(len(l) for l in m.data.split(b"\r\n")) <= 998

    ok, content, err = pki.verify(m.data)
    assert ok, "openssl smime -verify: %s" % err
    assert "Verification successful" in err, err

    text = text_of(msg)
    eq(text.splitlines()[0], "TLP:AMBER", "first line of the text")
    for want in (title, a["id"], "Critical", "9.8", FULL["cvss"]["vector"],
                 "CVE-2024-21762", "CVE-2024-23113",
                 "cpe:2.3:o:fortinet:fortios", FULL["summary"],
                 "Upgrade **now** to 7.4.3.", FULL["references"][0],
                 "%s/advisories/%s" % (d.url, a["id"]), "What to do",
                 "Affected products", "References"):
        assert want in text, "text part lacks %r:\n%s" % (want, text)
    html = html_of(msg)
    assert "TLP:AMBER" in html and "#FFC000" in html, "label banner"
    assert "Critical RCE in FortiOS &lt;SSL-VPN&gt; &amp; friends" in html, \
        "title not escaped in HTML"
    assert "<strong>now</strong>" in html, "Markdown not rendered"
    assert "<script" not in html.lower(), "raw HTML of the body kept"
    assert "javascript:" not in html, "javascript: link kept"
    assert 'href="https://example.org/x"' in html
    assert 'href="%s/advisories/%s"' % (d.url, a["id"]) in html

    # The organisation's security contact: targeted (sector audience).
    cm = sink.wait_to("soc.energy@org.test")[0]
    eq(str(cm.msg["Subject"]), "[TLP:AMBER] %s: %s" % (a["id"], title))
    assert cm.msg["List-Unsubscribe"] is None, \
        "a contact's mail has no subscription to leave"
    ok, _, err = pki.verify(cm.data)
    assert ok, err
    rows = deliveries(d, "event_id = %s" % a["event_id"])
    eq(sorted((r["user_id"], r["to_contact"]) for r in rows),
       sorted([(str(u["id"]), "f"), ("0", "t")]), "planned rows")
    eq({r["priority"] for r in rows}, {"0"}, "essential entity priority")


@test
def tlp_decides_who_gets_mail():
    c = ctx()
    d, sink = c["d"], c["sink"]
    energy = d.make_org(sectors=["energy"])
    health = d.make_org(sectors=["health"], contact_email="soc.health@o.test")
    inside = email_user(d, energy["id"])
    outside = email_user(d, health["id"])
    a = d.publish(c["pub"]["token"], tlp="AMBER",
                  audience={"sectors": ["energy"]})
    sink.wait_to(inside["email"])
    b = d.publish(c["pub"]["token"], tlp="GREEN")    # both may see it
    sink.wait_to(outside["email"])
    eq(len(sink.to(outside["email"])), 1, "AMBER of energy reached health")
    eq(sink.to("soc.health@o.test"), [], "GREEN is no targeted item")
    eq(deliveries(d, "event_id = %s AND user_id = %d" % (a["event_id"],
                                                        outside["id"])), [])


@test
def deactivated_organisation_gets_nothing():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org(contact_email="soc.gone@org.test")
    u = email_user(d, org["id"])
    eq(d.api("DELETE", "/v1/organisations/%d" % org["id"],
             d.admin_token).status, 204)
    a = d.publish(c["pub"]["token"], tlp="CLEAR",
                  audience={"organisations": [org["id"]]})
    time.sleep(1.5)
    eq(sink.to(u["email"]), [], "mail to a deactivated organisation's user")
    eq(sink.to("soc.gone@org.test"), [], "mail to its contact")
    eq(deliveries(d, "event_id = %s AND organisation_id = %d" %
                  (a["event_id"], org["id"])), [])


@test
def one_mail_per_recipient_and_filters():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org(sectors=["energy"])
    twice = email_user(d, org["id"])
    r = d.api("POST", "/v1/subscriptions", twice["token"],
              json={"name": "again", "filter": {"cves": ["CVE-2030-0001"]},
                    "channels": ["email", "ws"]})
    eq(r.status, 201)
    picky = email_user(d, org["id"], filter={"min_severity": "critical"})
    wsonly = email_user(d, org["id"], channels=("ws",))
    # Contact = a user's own address: one mail to it.
    same = email_user(d, org["id"])
    d.api("PATCH", "/v1/organisations/%d" % org["id"], d.admin_token,
          json={"contact_email": same["email"].upper()})
    a = d.publish(c["pub"]["token"], tlp="AMBER", severity="high",
                  cves=["CVE-2030-0001"],
                  audience={"organisations": [org["id"]]})
    sink.wait_to(twice["email"])
    sink.wait_to(same["email"])
    time.sleep(1.5)
    eq(len(sink.to(twice["email"])), 1, "two matching subscriptions")
    eq(len(sink.to(same["email"])), 1, "contact and user share an address")
    # Targeted (its organisation is named): the filter does not matter,
    # the channel does.
    eq(len(sink.to(picky["email"])), 1, "targeted picky user")
    eq(sink.to(wsonly["email"]), [], "ws-only user got e-mail")
    g = d.publish(c["pub"]["token"], tlp="GREEN", severity="high")
    wait_deliveries(d, "event_id = %s" % g["event_id"],
                    lambda rows: rows and all(x["state"] == "delivered"
                                              for x in rows))
    eq(len(sink.to(picky["email"])), 1, "min_severity critical ignored")


@test
def non_ascii_subject_survives():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org()
    u = email_user(d, org["id"], name="Zoë Müller-Lefèvre",
                   email="zoe.mueller@test.invalid")
    title = ("Vulnérabilité critique dans «Gestionnaire» — Schwachstelle "
             "für Überwachung, 漢字 and 🚨 emoji, long enough to need "
             "several encoded words")
    a = d.publish(c["pub"]["token"], title=title)
    m = sink.wait_to(u["email"])[0]
    eq(str(m.msg["Subject"]), "[TLP:CLEAR] %s: %s" % (a["id"], title))
    eq(m.msg["To"].addresses[0].display_name, "Zoë Müller-Lefèvre")
    raw = m.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    subj = re.search(r"^Subject:.*?(?=\r\n\S)", raw, re.S | re.M).group(0)
    assert "=?UTF-8?B?" in subj, subj
    for line in subj.split("\r\n"):
        assert len(line) <= 76, "encoded-word line of %d" % len(line)
    assert title in text_of(m.msg)


@test
def language_of_the_recipient():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org()
    nl = email_user(d, org["id"], language="nl")
    fr = email_user(d, org["id"], language="fr")
    de = email_user(d, org["id"], language="de")
    d.publish(c["pub"]["token"], severity="high", cves=["CVE-2030-1111"])
    t = text_of(sink.wait_to(nl["email"])[0].msg)
    for want in ("Ernst: Hoog", "Wat te doen", "Samenvatting",
                 "Getroffen producten", "Lees het advies"):
        assert want in t, "Dutch text lacks %r:\n%s" % (want, t)
    assert "Severity" not in t and "What to do" not in t, t
    h = html_of(sink.wait_to(nl["email"])[0].msg)
    assert 'lang="nl"' in h and "Wat te doen" in h
    t = text_of(sink.wait_to(fr["email"])[0].msg)
    assert "Gravité : Élevée" in t or "Gravité: Élevée" in t, t
    assert "Que faire" in t, t
    t = text_of(sink.wait_to(de["email"])[0].msg)
    assert "Schweregrad: Hoch" in t and "Was zu tun ist" in t, t


@test
def updates_and_revocations():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org()
    u = email_user(d, org["id"])
    a = d.publish(c["pub"]["token"], title="First title")
    sink.wait_to(u["email"], 1)
    r = d.api("PUT", "/v1/advisories/%s" % a["id"], c["pub"]["token"],
              json=advisory(title="Second title"))
    eq(r.status, 200)
    m = sink.wait_to(u["email"], 2)[1]
    eq(str(m.msg["Subject"]),
       "[TLP:CLEAR] %s: Second title (update, revision 2)" % a["id"])
    assert "this is revision 2" in text_of(m.msg)
    r = d.api("POST", "/v1/advisories/%s/revoke" % a["id"], c["pub"]["token"])
    eq(r.status, 200)
    m = sink.wait_to(u["email"], 3)[2]
    eq(str(m.msg["Subject"]), "[TLP:CLEAR] %s: revoked" % a["id"])
    t = text_of(m.msg)
    eq(t.splitlines()[0], "TLP:CLEAR")
    assert "has been revoked" in t, t


@test
def no_relay_no_email_rows():
    d = Daemon(new_database("email_norelay"),
               **({"user": "root"} if os.getuid() == 0 else {}))
    org = d.make_org(contact_email="soc@x.test", sectors=["energy"])
    email_user(d, org["id"])
    pub = d.principal("publisher")
    d.publish(pub["token"], tlp="AMBER", audience={"sectors": ["energy"]})
    time.sleep(0.5)
    eq(d.db.scalar("SELECT count(*) FROM deliveries WHERE channel = "
                   "'email'"), "0", "e-mail planned without smtp.url")
    d.stop()


if __name__ == "__main__":
    main()
