#!/usr/bin/python3
"""80-warnings-match: spear warnings reach exactly their owner.
Longest prefix over overlapping IPv4 and IPv6 prefixes, domain suffixes on
label boundaries (and e-mail addresses by their domain), the AS number
only when no prefix matches, proposed/rejected/deleted assets never
matching (the matcher follows every change), and a warning for two
organisations giving each only its own observations: on REST, on the
WebSocket stream, on webhooks and in e-mail (a real SMTP server,
aiosmtpd: the organisations' security contacts and subscribed users,
text and HTML parts decoded by Python's email package)."""

import asyncio
import os
import re

from harness import *
from mail_sink import MailSink, email_user, parts
from webhook_sink import Sink, make_webhook, outbox_config, signing_key

TS = "2026-01-15T03:12:44Z"


def new_org(d, sectors=("energy",)):
    """An organisation with an org-admin and a member (dicts with token)."""
    org = d.make_org(sectors=list(sectors))
    org["admin"] = d.principal("org-admin", org["id"])
    org["member"] = d.principal("member", org["id"])
    return org


def register(d, org, type_, value, status="approved"):
    """An asset registered by the admin (approved unless told)."""
    r = d.api("POST", "/v1/assets", d.admin_token,
              json={"type": type_, "value": value,
                    "organisation_id": org["id"], "status": status})
    assert r.status == 201, "register %s: %d %r" % (value, r.status, r.body)
    return r.body


def ob(key, value, **extra):
    o = {key: value, "timestamp": TS}
    o.update(extra)
    return o


def warn(d, pub, observations, **head):
    """POST /v1/warnings; the answer's body (200 or 201 asserted)."""
    body = {"title": "Vulnerable VPN gateways", "description": "Patch.",
            "category": "vulnerable-vpn", "observations": observations}
    body.update(head)
    r = d.api("POST", "/v1/warnings", pub["token"], json=body)
    assert r.status in (200, 201), "warn: %d %r" % (r.status, r.body)
    assert "observations" not in r.body, "the answer echoes observations"
    eq(r.body["warnings_created"], len(r.body["warnings"]))
    return r.body


def key_of(o):
    for k in ("ip", "domain", "email"):
        if k in o:
            return o[k]
    raise AssertionError("observation without a key: %r" % o)


def seen_by(d, org, answer):
    """The observation keys org's member reads in the answer's warnings
    (GET each one; others' must be 404)."""
    keys = []
    for w in answer["warnings"]:
        r = d.api("GET", "/v1/warnings/" + w["id"], org["member"]["token"])
        if w["organisation_id"] == org["id"]:
            eq(r.status, 200, "owner reads %s" % w["id"])
            eq(r.body["organisation_id"], org["id"])
            keys += [key_of(o) for o in r.body["observations"]]
        else:
            problem_ok(r, 404)
    return sorted(keys)


def owners(answer):
    return sorted(w["organisation_id"] for w in answer["warnings"])


@test
def longest_prefix_ipv4_ipv6():
    d = Daemon(new_database("warn_prefix"))
    pub = d.principal("publisher")
    prov, cust, sub = new_org(d), new_org(d), new_org(d)
    register(d, prov, "cidr", "198.51.100.0/24")
    register(d, prov, "cidr", "2001:db8::/32")
    register(d, cust, "cidr", "198.51.100.128/25")
    register(d, cust, "cidr", "2001:db8:1::/48")
    register(d, sub, "cidr", "198.51.100.192/28")
    register(d, sub, "cidr", "2001:db8:1:2::/64")
    register(d, sub, "cidr", "198.51.100.7")          # a host: /32
    want = {
        "198.51.100.0": prov, "198.51.100.6": prov, "198.51.100.7": sub,
        "198.51.100.8": prov, "198.51.100.127": prov,
        "198.51.100.128": cust, "198.51.100.191": cust,
        "198.51.100.192": sub, "198.51.100.207": sub,
        "198.51.100.208": cust, "198.51.100.255": cust,
        "2001:db8::1": prov, "2001:db8:1::": cust,
        "2001:db8:1:1:ffff:ffff:ffff:ffff": cust,
        "2001:db8:1:2::": sub, "2001:db8:1:2:ffff:ffff:ffff:ffff": sub,
        "2001:db8:1:3::": cust, "2001:db8:2::1": prov,
        "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff": prov,
    }
    nobody = ["198.51.101.0", "198.51.99.255", "203.0.113.1", "2001:db9::",
              "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "::c633:64c8"]
    obs = [ob("ip", ip) for ip in list(want) + nobody]
    # Written differently, the same addresses: normalised.
    obs.append(ob("ip", "2001:DB8:1:2:0:0:0:5"))
    obs.append(ob("ip", "::ffff:198.51.100.200"))
    a = warn(d, pub, obs)
    eq(a["observations_matched"], len(want) + 2)
    eq(a["observations_unmatched"], len(nobody))
    eq(owners(a), sorted([prov["id"], cust["id"], sub["id"]]))
    for org in (prov, cust, sub):
        expect = sorted([ip for ip, o in want.items() if o is org] +
                        (["2001:db8:1:2::5", "198.51.100.200"]
                         if org is sub else []))
        eq(seen_by(d, org, a), expect, "observations of org %d" % org["id"])


@test
def domain_suffix_and_email():
    d = Daemon(new_database("warn_domain"))
    pub = d.principal("publisher")
    x, y, z = new_org(d), new_org(d), new_org(d)
    register(d, x, "domain", "example.be")
    yb = register(d, y, "domain", "B.Example.BE.")
    eq(yb["value"], "b.example.be", "normalised domain")
    register(d, z, "domain", "example.org")
    obs = [ob("domain", "a.b.example.be"), ob("domain", "www.example.be"),
           ob("domain", "example.be"), ob("domain", "WWW.Example.BE."),
           ob("domain", "b.example.be"), ob("domain", "ab.example.be"),
           ob("domain", "notexample.be"), ob("domain", "example.be.test"),
           ob("domain", "be"),
           ob("email", "ciso@b.example.be"),
           ob("email", "someone@Mail.Example.ORG"),
           ob("email", "x@example.net")]
    a = warn(d, pub, obs)
    eq(a["observations_unmatched"], 4)
    eq(seen_by(d, x, a), sorted(["www.example.be", "example.be",
                                 "www.example.be", "ab.example.be"]))
    eq(seen_by(d, y, a), sorted(["a.b.example.be", "b.example.be",
                                 "ciso@b.example.be"]))
    eq(seen_by(d, z, a), ["someone@Mail.Example.ORG"])

    # Without b.example.be registered, its names are example.be's.
    r = d.api("DELETE", "/v1/assets/%d" % yb["id"], y["admin"]["token"])
    eq(r.status, 204, "org-admin deletes its asset")
    a = warn(d, pub, [ob("domain", "a.b.example.be")])
    eq(owners(a), [x["id"]])


@test
def asn_only_when_no_prefix():
    d = Daemon(new_database("warn_asn"))
    pub = d.principal("publisher")
    isp, cust = new_org(d), new_org(d)
    register(d, isp, "asn", "AS64500")
    register(d, cust, "cidr", "203.0.113.0/25")
    a = warn(d, pub, [ob("ip", "203.0.113.5", asn=64500),
                      ob("ip", "203.0.113.200", asn=64500),
                      ob("ip", "2001:db8::1", asn=64500),
                      ob("ip", "203.0.113.201", asn=64501),
                      ob("ip", "203.0.113.202")])
    eq(a["observations_matched"], 3)
    eq(a["observations_unmatched"], 2)
    eq(seen_by(d, cust, a), ["203.0.113.5"])
    eq(seen_by(d, isp, a), ["2001:db8::1", "203.0.113.200"])
    # The AS number alone matches no domain or e-mail observation.
    a = warn(d, pub, [ob("domain", "example.be", asn=64500)])
    eq(a["warnings_created"], 0)
    eq(a["observations_unmatched"], 1)


@test
def unapproved_never_matches():
    d = Daemon(new_database("warn_unapproved"))
    pub = d.principal("publisher")
    a_org, b_org = new_org(d), new_org(d)
    probe = [ob("ip", "192.0.2.10"), ob("domain", "www.example.be")]

    r = d.api("POST", "/v1/assets", a_org["admin"]["token"],
              json={"type": "cidr", "value": "192.0.2.0/24"})
    eq(r.status, 201, "org-admin proposes")
    eq(r.body["status"], "proposed")
    eq(r.body["decided_by"], None)
    cidr = r.body
    r = d.api("POST", "/v1/assets", a_org["admin"]["token"],
              json={"type": "domain", "value": "example.be"})
    dom = r.body
    ans = warn(d, pub, probe)
    eq((ans["warnings_created"], ans["observations_unmatched"]), (0, 2),
       "proposed assets match nothing")

    r = d.api("PATCH", "/v1/assets/%d" % cidr["id"], d.admin_token,
              json={"status": "rejected"})
    eq(r.status, 200)
    eq(r.body["status"], "rejected")
    ans = warn(d, pub, probe)
    eq(ans["observations_unmatched"], 2, "rejected assets match nothing")

    # Approval takes effect on the next warning (the matcher follows).
    for asset in (cidr, dom):
        r = d.api("PATCH", "/v1/assets/%d" % asset["id"], d.admin_token,
                  json={"status": "approved"})
        eq(r.status, 200)
    ans = warn(d, pub, probe)
    eq(owners(ans), [a_org["id"]])
    eq(ans["observations_matched"], 2)

    # A more specific prefix only proposed by another organisation
    # changes nothing; approved, it wins.
    r = d.api("POST", "/v1/assets", b_org["admin"]["token"],
              json={"type": "cidr", "value": "192.0.2.0/26"})
    eq(r.status, 201)
    narrow = r.body
    ans = warn(d, pub, [ob("ip", "192.0.2.10")])
    eq(owners(ans), [a_org["id"]])
    d.api("PATCH", "/v1/assets/%d" % narrow["id"], d.admin_token,
          json={"status": "approved"})
    ans = warn(d, pub, [ob("ip", "192.0.2.10")])
    eq(owners(ans), [b_org["id"]])

    # Deleted, and a deactivated organisation's: no more matches.
    eq(d.api("DELETE", "/v1/assets/%d" % narrow["id"],
             d.admin_token).status, 204)
    ans = warn(d, pub, [ob("ip", "192.0.2.10")])
    eq(owners(ans), [a_org["id"]])
    eq(d.api("DELETE", "/v1/organisations/%d" % a_org["id"],
             d.admin_token).status, 204)
    ans = warn(d, pub, probe)
    eq(ans["observations_unmatched"], 2, "deactivated owner")


async def stream_ready(d, token):
    s = Stream(d.ws_url, token)
    await s.connect()
    await s.recv_until(lambda m: m.get("type") == "ready", 10)
    return s


# Characters of an address or a domain: a mail's decoded text is cut into
# tokens at every other character (quotes and braces of the observations'
# JSON, &quot; of the HTML...), so that 198.51.100.1 is not found inside
# 198.51.100.127 or 198.51.100.128.
_TOKEN = re.compile(r"[0-9A-Za-z.:-]+")


def mail_tokens(m):
    """The tokens of every decoded text/plain and text/html part of m
    (a mail_sink.Message), and the parts' count."""
    found = parts(m.msg, "text/plain") + parts(m.msg, "text/html")
    tokens = set()
    for p in found:
        tokens |= {t.strip(".:") for t in _TOKEN.findall(p.get_content())}
    return tokens, len(found)


def check_mail(m, own, others, what):
    """m carries every key of own and none of others, in each of its
    text and HTML parts."""
    found = parts(m.msg, "text/plain") + parts(m.msg, "text/html")
    eq(sorted(p.get_content_type() for p in found),
       ["text/html", "text/plain"], "%s: parts" % what)
    for p in found:
        tokens = {t.strip(".:") for t in _TOKEN.findall(p.get_content())}
        for k in own:
            assert k in tokens, "%s (%s) lacks its observation %s" % (
                what, p.get_content_type(), k)
        leaked = sorted(k for k in others if k in tokens)
        assert not leaked, "%s (%s) carries another organisation's " \
            "observations: %s" % (what, p.get_content_type(), leaked)


@test
async def two_organisations_each_its_own():
    d = Daemon(new_database("warn_two"), start=False)
    outbox_config(d, allow_private=True, timeout_s=3)
    mail = MailSink()
    smtp = {"smtp": {"url": mail.url, "from": "CSIRT <ews@csirt.test>"}}
    if os.getuid() == 0 and "user" not in d.config:
        smtp["user"] = "root"           # no privilege drop in tests
    merge(d.config, smtp)
    d.write_config()
    d.start()
    sink = Sink(signing_key(d)["pem"])
    pub = d.principal("publisher")
    a, b, c = (new_org(d, ("energy",)), new_org(d, ("health",)),
               new_org(d, ("banking",)))
    contact = {}
    for org, name in ((a, "a"), (b, "b"), (c, "c")):
        contact[org["id"]] = "soc.%s@warn-two.test" % name
        r = d.api("PATCH", "/v1/organisations/%d" % org["id"], d.admin_token,
                  json={"contact_email": contact[org["id"]]})
        eq(r.status, 200, "contact_email of org %d" % org["id"])
    # A user of each with an e-mail subscription (no filter).
    subscribed = {org["id"]: email_user(d, org["id"]) for org in (a, b, c)}
    register(d, a, "cidr", "198.51.100.0/25")
    register(d, a, "cidr", "2001:db8:a::/48")
    register(d, b, "cidr", "198.51.100.128/25")
    register(d, b, "domain", "example.be")
    ep_a, ep_b, ep_c = (sink.endpoint("a"), sink.endpoint("b"),
                        sink.endpoint("c"))
    make_webhook(d, a["admin"]["token"], ep_a)
    make_webhook(d, b["admin"]["token"], ep_b)
    make_webhook(d, c["admin"]["token"], ep_c)

    sa = await stream_ready(d, a["member"]["token"])
    sb = await stream_ready(d, b["member"]["token"])
    sc = await stream_ready(d, c["member"]["token"])
    obs_a = ["198.51.100.1", "198.51.100.127", "2001:db8:a::1"]
    obs_b = ["198.51.100.128", "www.example.be"]
    ans = warn(d, pub, [ob("ip", "198.51.100.1", port=443),
                        ob("ip", "198.51.100.128", port=443),
                        ob("ip", "198.51.100.127", port=8443),
                        ob("domain", "www.example.be"),
                        ob("ip", "2001:db8:a::1"),
                        ob("ip", "203.0.113.99")])
    eq((ans["warnings_created"], ans["observations_matched"],
        ans["observations_unmatched"]), (2, 5, 1))
    assert "203.0.113.99" not in jsonlib_dumps(ans), "unmatched echoed"
    ids = {w["organisation_id"]: w["id"] for w in ans["warnings"]}

    # REST: each reads its own, nothing of the other's.
    eq(seen_by(d, a, ans), sorted(obs_a))
    eq(seen_by(d, b, ans), sorted(obs_b))
    eq(seen_by(d, c, ans), [])
    for org in (a, b, c):
        listed = d.list_all("/v1/warnings", org["member"]["token"])
        eq([w["id"] for w in listed], [ids[org["id"]]] if org["id"] in ids
           else [], "list of org %d" % org["id"])

    # Stream: each member gets its organisation's warning only.
    for s, org, keys in ((sa, a, obs_a), (sb, b, obs_b)):
        m = await s.recv_until(lambda m: m.get("type") == "warning.issued",
                               10)
        eq(m["data"]["id"], ids[org["id"]])
        eq(m["tlp"], "AMBER+STRICT")
        eq(sorted(key_of(o) for o in m["data"]["observations"]), sorted(keys))
        await s.expect_nothing(1.0, lambda m: m.get("type") ==
                               "warning.issued")
    await sc.expect_nothing(1.0, lambda m: m.get("type") == "warning.issued")
    for s in (sa, sb, sc):
        await s.close()

    # Webhooks: the organisations' targeted endpoints, one each.
    for ep, org, keys in ((ep_a, a, obs_a), (ep_b, b, obs_b)):
        reqs = ep.wait_count(1, 30)
        ep.assert_valid()
        body = reqs[0].json
        eq(body["type"], "warning.issued")
        eq(body["data"]["id"], ids[org["id"]])
        eq(sorted(key_of(o) for o in body["data"]["observations"]),
           sorted(keys))
    time.sleep(1.5)
    eq(ep_a.count(), 1, "deliveries to A")
    eq(ep_b.count(), 1, "deliveries to B")
    eq(ep_c.count(), 0, "deliveries to C")
    sink.close()

    # E-mail: A's and B's security contacts and subscribed users get their
    # own organisation's warning, with its observations and none of the
    # other's; C's get nothing; no mail carries the unmatched address.
    unmatched = ["203.0.113.99"]
    for org, keys, other in ((a, obs_a, obs_b), (b, obs_b, obs_a)):
        for addr in (contact[org["id"]], subscribed[org["id"]]["email"]):
            got = mail.wait_to(addr, 1, 30)
            m = got[0]
            assert ids[org["id"]] in str(m["Subject"]), \
                "mail to %s: %r" % (addr, str(m["Subject"]))
            check_mail(m, keys, other + unmatched,
                       "mail to %s (org %d)" % (addr, org["id"]))
    time.sleep(1.5)
    by_rcpt = {}
    for m in list(mail.messages):
        for r in m.rcpts:
            by_rcpt.setdefault(r.lower(), []).append(m)
    for org, keys, other in ((a, obs_a, obs_b), (b, obs_b, obs_a)):
        for addr in (contact[org["id"]], subscribed[org["id"]]["email"]):
            eq(len(by_rcpt.get(addr.lower(), [])), 1, "mails to %s" % addr)
    eq(by_rcpt.get(contact[c["id"]], []), [], "mail to C's contact")
    eq(by_rcpt.get(subscribed[c["id"]]["email"].lower(), []), [],
       "mail to C's user")
    # Whoever it went to, no mail carries two organisations' observations.
    owner_of = {contact[o["id"]]: o["id"] for o in (a, b, c)}
    owner_of.update({u["email"].lower(): i for i, u in subscribed.items()})
    keys_of = {a["id"]: obs_a, b["id"]: obs_b}
    for m in list(mail.messages):
        tokens, n = mail_tokens(m)
        assert n >= 2, "mail %r: no text and HTML parts" % m
        assert not [k for k in unmatched if k in tokens], \
            "%r carries the unmatched observation" % m
        holders = [i for i, ks in keys_of.items()
                   if any(k in tokens for k in ks)]
        assert len(holders) <= 1, "%r mixes organisations %r" % (m, holders)
        for r in m.rcpts:
            if holders:
                eq(owner_of.get(r.lower()), holders[0],
                   "%r to %s: its observations are another "
                   "organisation's" % (m, r))
    mail.stop()


def jsonlib_dumps(v):
    import json
    return json.dumps(v)


if __name__ == "__main__":
    main()
