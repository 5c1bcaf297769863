#!/usr/bin/python3
"""75-email-unsubscribe: the one-click unsubscribe of RFC 8058, without
login. The List-Unsubscribe URL of a received mail, POSTed as a mail
client does ("List-Unsubscribe=One-Click"), removes the e-mail channel of
the subscription (deleting one that had no other channel) and no further
mail comes; a GET only shows a page with a button; a forged or malformed
token is refused (403, 400) and changes nothing."""

import urllib.parse

from harness import *
from mail_sink import *

_ctx = {}


def ctx():
    if "d" not in _ctx:
        sink = MailSink()
        d = email_daemon("email_unsub", sink, Pki())
        pub = d.principal("publisher")
        _ctx.update(d=d, sink=sink, pub=pub)
    return _ctx


def unsub_path(m, base):
    url = str(m.msg["List-Unsubscribe"]).strip("<>")
    assert url.startswith(base + "/unsubscribe?t="), url
    return url[len(base):]


def one_click(d, path):
    return d.api("POST", path, raw=b"List-Unsubscribe=One-Click",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})


def subscription(d, sid):
    rows = d.db.sql("SELECT channels::text, digest FROM subscriptions "
                    "WHERE id = %d" % sid)
    return rows[0] if rows else None


@test
def one_click_removes_the_email_channel():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org()
    u = email_user(d, org["id"], channels=("email", "ws"),
                   digest="daily@07:30")
    only = email_user(d, org["id"])
    d.publish(c["pub"]["token"], severity="critical")   # not in a digest
    m = sink.wait_to(u["email"])[0]
    path = unsub_path(m, d.url)

    # A GET (a link checker, a person) changes nothing.
    with d.db.unchanged("GET of the unsubscribe link"):
        r = d.api("GET", path)
        eq(r.status, 200)
        page = r.body
        assert 'method="post"' in page and "One-Click" in page, page

    r = one_click(d, path)
    eq(r.status, 200, "one-click POST")
    eq(subscription(d, u["subscription"]["id"]), ('["ws"]', "immediate"))
    r = one_click(d, path)
    eq(r.status, 200, "a second click is harmless")

    p2 = unsub_path(sink.wait_to(only["email"])[0], d.url)
    eq(one_click(d, p2).status, 200)
    eq(subscription(d, only["subscription"]["id"]), None,
       "a subscription left without channels")

    a = d.publish(c["pub"]["token"], title="After unsubscribing",
                  severity="critical")
    wait_deliveries(d, "event_id = %s" % a["event_id"],
                    lambda rows: all(x["state"] in ("delivered", "failed")
                                     for x in rows))
    time.sleep(1)
    eq(len(sink.to(u["email"])), 1, "mail after unsubscribing")
    eq(len(sink.to(only["email"])), 1, "mail after unsubscribing")


@test
def forged_or_malformed_tokens_are_refused():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org()
    u = email_user(d, org["id"])
    d.publish(c["pub"]["token"])
    path = unsub_path(sink.wait_to(u["email"])[0], d.url)
    token = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)["t"][0]
    # Flip a character of the MAC (the end), then of the payload.
    flip = lambda s, i: s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]
    with d.db.unchanged("forged unsubscribe"):
        for t in (flip(token, len(token) - 3), flip(token, 4)):
            r = one_click(d, "/unsubscribe?t=" + t)
            eq(r.status, 403, "forged token %s" % t)
            eq(r.body["type"], "/problems/forbidden")
        for t in ("", "not-a-token", "x" * 600, "%00%00"):
            r = one_click(d, "/unsubscribe?t=" + t)
            eq(r.status, 400, "malformed token %r" % t)
        eq(one_click(d, "/unsubscribe").status, 400, "no token")
        eq(d.api("GET", "/unsubscribe?t=" + flip(token, 5)).status, 403)
    eq(subscription(d, u["subscription"]["id"]), ('["email"]', "immediate"))
    # A token for another user's subscription cannot be made up: the
    # genuine one still works.
    eq(one_click(d, path).status, 200)


if __name__ == "__main__":
    main()
