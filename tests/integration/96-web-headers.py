#!/usr/bin/python3
"""96-web-headers: the web portal without a browser (issue 7; the browser
scenarios are 97-web-e2e). Every HTML page carries the security headers
(a Content-Security-Policy without inline script, frame-ancestors 'none',
X-Content-Type-Options, Referrer-Policy) and has no inline script; the
Atom feed parses as Atom 1.0 with the required elements and holds TLP:CLEAR
items only, as does the public page; sign-in gives an HttpOnly,
SameSite=Strict session cookie; forms without the CSRF token are refused
with a 403 page and change nothing; sign-out and expiry end the session;
the live page's stream tickets are single-use, refused by the REST API,
and die with their session; the language follows the user; the catalogues
have every text in the four languages; the audience preview counts."""

import http.client
import re
import urllib.parse
import xml.etree.ElementTree as ET

from harness import *

ATOM = "{http://www.w3.org/2005/Atom}"
TEMPLATES = os.path.join(SRCDIR, "templates", "web")


class Browser:
    """Just enough of a browser: cookies, forms with their hidden CSRF
    field, no redirects followed."""

    def __init__(self, d):
        self.d = d
        self.cookies = {}
        self.set_cookie_headers = []

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.d.http_port,
                                       timeout=30)
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body, doseq=True)
            h.setdefault("Content-Type", "application/x-www-form-urlencoded")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                self.set_cookie_headers.append(v)
                name, _, rest = v.partition("=")
                value = rest.split(";")[0]
                if "Max-Age=0" in v:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value
        c.close()
        log("%s %s -> %d" % (method, path, r.status))
        return r.status, r, text

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def csrf(self, html):
        m = re.search(r'name="csrf" value="([^"]*)"', html)
        assert m, "no CSRF field in the page"
        return m.group(1)

    def post_form(self, path, fields, from_page="/"):
        """POST a form with the CSRF token of a page (as a browser would)."""
        _, _, html = self.get(from_page)
        fields = dict(fields, csrf=self.csrf(html))
        return self.request("POST", path, body=fields)

    def sign_in(self, token):
        st, r, html = self.get("/signin")
        eq(st, 200, "GET /signin")
        st, r, html = self.request("POST", "/signin", body={
            "csrf": self.csrf(html), "token": token, "next": ""})
        eq(st, 303, "sign-in answer")
        assert "tocsin_session" in self.cookies, "no session cookie"
        return r


def setup():
    d = shared_daemon("web_headers", webhooks={"allow_private_networks": True})
    if not hasattr(d, "web"):
        pub = d.principal("publisher")
        org = d.make_org(sectors=["energy"])
        other = d.make_org(sectors=["health"])
        member = d.principal("member", org["id"])
        orgadmin = d.principal("org-admin", org["id"])
        outsider = d.principal("member", other["id"])
        clear = d.publish(pub["token"], title="Public CLEAR <b>item</b> & co",
                          body="# Heading\n\n<script>alert(1)</script>\n\n"
                               "[x](javascript:alert(1)) *ok*\n")
        green = d.publish(pub["token"], tlp="GREEN", title="Green item")
        amber = d.publish(pub["token"], tlp="AMBER", title="Amber item",
                          audience={"organisations": [org["id"]]})
        d.web = dict(pub=pub, org=org, other=other, member=member,
                     orgadmin=orgadmin, outsider=outsider, clear=clear,
                     green=green, amber=amber)
    return d, d.web


def check_html_headers(st, r, html, what):
    ctype = r.getheader("Content-Type") or ""
    assert ctype.startswith("text/html"), "%s: Content-Type %r" % (what, ctype)
    csp = r.getheader("Content-Security-Policy") or ""
    directives = {p.strip().split(" ")[0]: p.strip().split(" ")[1:]
                  for p in csp.split(";") if p.strip()}
    eq(directives.get("script-src"), ["'self'"], "%s: script-src" % what)
    eq(directives.get("frame-ancestors"), ["'none'"], "%s: frame-ancestors" % what)
    assert "'self'" in directives.get("connect-src", []), "%s: connect-src %r" % (what, csp)
    assert any(s.startswith("ws://127.0.0.1:") for s in directives.get("connect-src", [])), \
        "%s: connect-src lacks the stream: %r" % (what, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, \
        "%s: CSP allows inline: %r" % (what, csp)
    eq(r.getheader("X-Content-Type-Options"), "nosniff", "%s: nosniff" % what)
    assert r.getheader("Referrer-Policy") in ("no-referrer", "same-origin"), \
        "%s: Referrer-Policy %r" % (what, r.getheader("Referrer-Policy"))
    # No inline script: every <script> has a src, no on* handler attribute.
    for tag in re.findall(r"<script\b[^>]*>", html, re.I):
        assert "src=" in tag, "%s: inline script %r" % (what, tag)
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html, re.I), \
        "%s: inline event handler" % what
    assert "javascript:" not in html, "%s: javascript: URL" % what


@test
def every_page_has_the_security_headers():
    d, w = setup()
    anon = Browser(d)
    pages = [("/", 200), ("/signin", 200), ("/advisories/" + w["clear"]["id"], 200),
             ("/advisories/" + w["amber"]["id"], 404),
             ("/advisories/TST-1999-9999", 404), ("/no/such/page", 404),
             ("/live", 303), ("/static/missing.css", 404)]
    for path, want in pages:
        st, r, html = anon.get(path)
        eq(st, want, "GET %s (anonymous)" % path)
        if st != 303:
            check_html_headers(st, r, html, path)
    member = Browser(d)
    member.sign_in(w["member"]["token"])
    for path in ("/live", "/advisories", "/subscriptions",
                 "/advisories/" + w["amber"]["id"], "/"):
        st, r, html = member.get(path)
        eq(st, 200, "GET %s (member)" % path)
        check_html_headers(st, r, html, path)
    st, r, html = member.get("/org")
    eq(st, 403, "a member on /org")
    check_html_headers(st, r, html, "/org (member)")
    admin = Browser(d)
    admin.sign_in(w["orgadmin"]["token"])
    for path in ("/org", "/org/webhooks", "/org/assets", "/subscriptions"):
        st, r, html = admin.get(path)
        eq(st, 200, "GET %s (org-admin)" % path)
        check_html_headers(st, r, html, path)
    pub = Browser(d)
    pub.sign_in(w["pub"]["token"])
    for path in ("/publish", "/staff/warnings", "/advisories/%s/edit" % w["amber"]["id"],
                 "/advisories/%s/deliveries" % w["amber"]["id"]):
        st, r, html = pub.get(path)
        eq(st, 200, "GET %s (publisher)" % path)
        check_html_headers(st, r, html, path)
    root = Browser(d)
    root.sign_in(d.admin_token)
    st, r, html = root.get("/staff/assets")
    eq(st, 200, "GET /staff/assets (admin)")
    check_html_headers(st, r, html, "/staff/assets")


@test
def static_files_have_their_types():
    d, w = setup()
    b = Browser(d)
    for path, ctype in (("/static/tocsin.css", "text/css"),
                        ("/static/live.js", "text/javascript"),
                        ("/static/publish.js", "text/javascript"),
                        ("/static/favicon.svg", "image/svg+xml")):
        st, r, body = b.get(path)
        eq(st, 200, path)
        assert (r.getheader("Content-Type") or "").startswith(ctype), \
            "%s: %r" % (path, r.getheader("Content-Type"))
        eq(r.getheader("X-Content-Type-Options"), "nosniff", path)
    for path in ("/static/..%2Fi18n%2Fen.json", "/static/.hidden.css",
                 "/static/x.exe", "/static/../layout.html"):
        st, _, _ = b.get(path)
        eq(st, 404, path)


@test
def public_page_and_feed_show_clear_only():
    d, w = setup()
    b = Browser(d)
    st, r, html = b.get("/")
    eq(st, 200, "GET /")
    assert w["clear"]["id"] in html, "the CLEAR advisory is not on /"
    for k in ("green", "amber"):
        assert w[k]["id"] not in html, "%s advisory on the public page" % k
    # Escaped, and the Markdown's raw HTML and javascript: link dropped.
    assert "Public CLEAR &lt;b&gt;item&lt;/b&gt; &amp; co" in html, "title not escaped"
    st, r, html = b.get("/advisories/" + w["clear"]["id"])
    assert "<h1>Heading</h1>" in html and "<em>ok</em>" in html, "Markdown"
    assert "<script>alert" not in html, "raw HTML from Markdown"
    assert 'class="tlp-banner tlp-clear"' in html, "TLP banner"
    # A member does not see more on / (the public page is public).
    m = Browser(d)
    m.sign_in(w["member"]["token"])
    st, r, html = m.get("/")
    assert w["amber"]["id"] not in html, "AMBER on / for a member"
    st, r, html = m.get("/advisories")
    assert w["amber"]["id"] in html and w["green"]["id"] in html, "member's list"
    # Filters.
    st, r, html = b.get("/?q=" + urllib.parse.quote("CLEAR <b>"))
    assert w["clear"]["id"] in html, "search"
    st, r, html = b.get("/?severity=critical")
    assert w["clear"]["id"] not in html, "severity filter"


@test
def atom_feed_is_valid_and_clear_only():
    d, w = setup()
    pub = w["pub"]["token"]
    later = d.publish(pub, title="Revised to AMBER later")
    d.publish(pub, tlp="RED", title="Red item",
              audience={"users": [w["member"]["id"]]})
    st, hdrs, body = d.api("GET", "/feed/advisories.atom")
    eq(st, 200, "feed status")
    assert hdrs.get("Content-Type", "").startswith("application/atom+xml"), \
        hdrs.get("Content-Type")
    root = ET.fromstring(body.encode())
    eq(root.tag, ATOM + "feed", "root element")
    for name in ("id", "title", "updated"):
        el = root.find(ATOM + name)
        assert el is not None and (el.text or "").strip(), "feed/%s" % name
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                        root.find(ATOM + "updated").text), "feed/updated"
    assert root.find(ATOM + "author/" + ATOM + "name") is not None, "feed author"
    assert any(l.get("rel") == "self" for l in root.findall(ATOM + "link")), \
        "link rel=self"
    entries = root.findall(ATOM + "entry")
    ids = []
    for e in entries:
        for name in ("id", "title", "updated"):
            el = e.find(ATOM + name)
            assert el is not None and (el.text or "").strip(), "entry/%s" % name
        link = e.find(ATOM + "link")
        assert link is not None and link.get("href", "").startswith(d.url), "entry/link"
        cats = [c.get("term") for c in e.findall(ATOM + "category")]
        assert "TLP:CLEAR" in cats, "entry without TLP:CLEAR: %r" % cats
        assert not any(c.startswith("TLP:") and c != "TLP:CLEAR" for c in cats), cats
        assert e.find(ATOM + "title").text.startswith("[TLP:CLEAR]"), "label in title"
        ids.append(link.get("href").rsplit("/", 1)[1])
    assert w["clear"]["id"] in ids and later["id"] in ids, "CLEAR entries: %r" % ids
    for k in ("green", "amber"):
        assert w[k]["id"] not in ids, "%s in the feed" % k
    assert "Red item" not in body and "Green item" not in body, "non-CLEAR text in feed"
    # Made stricter by a revision: gone from the feed and the public page.
    r = d.api("PUT", "/v1/advisories/" + later["id"], pub,
              json=advisory(tlp="AMBER", title="Now amber",
                            audience={"organisations": [w["org"]["id"]]}))
    eq(r.status, 200, "revise to AMBER")
    st, hdrs, body = d.api("GET", "/feed/advisories.atom")
    assert later["id"] not in body, "a revision to AMBER is still in the feed"
    st, r2, html = Browser(d).get("/")
    assert later["id"] not in html, "a revision to AMBER is still on /"
    st, r2, html = Browser(d).get("/advisories/" + later["id"])
    eq(st, 404, "the AMBER revision's page, anonymous")


@test
def sign_in_cookie_and_sign_out():
    d, w = setup()
    b = Browser(d)
    st, r, html = b.get("/signin")
    st, r, html = b.request("POST", "/signin", body={
        "csrf": b.csrf(html), "token": "tcs_" + "x" * 43})
    eq(st, 401, "a wrong token")
    assert "tocsin_session" not in b.cookies
    check_html_headers(st, r, html, "sign-in refused")
    before = int(d.db.scalar("SELECT count(*) FROM audit WHERE action = "
                             "'auth.sign_in' AND actor_user_id = %d"
                             % w["member"]["id"]))
    r = b.sign_in(w["member"]["token"])
    eq(r.getheader("Location"), "/live", "where a member starts")
    # Signing in is audited (issue 8), in the session's transaction.
    eq(int(d.db.scalar("SELECT count(*) FROM audit WHERE action = "
                       "'auth.sign_in' AND actor_user_id = %d"
                       % w["member"]["id"])), before + 1, "sign-in audited")
    sc = [h for h in b.set_cookie_headers if h.startswith("tocsin_session=")][-1]
    attrs = [a.strip().lower() for a in sc.split(";")[1:]]
    for a in ("httponly", "samesite=strict", "path=/"):
        assert a in attrs, "session cookie lacks %s: %r" % (a, sc)
    assert "secure" not in attrs, "Secure without TLS: %r" % sc
    value = b.cookies["tocsin_session"]
    assert len(value) >= 40, "session id too short"
    # Only its hash is stored.
    eq(d.db.scalar("SELECT count(*) FROM web_sessions WHERE "
                   "id_hash = sha256(convert_to('%s', 'UTF8'))" % value), "1",
       "session row by hash")
    eq(d.db.scalar("SELECT count(*) FROM web_sessions WHERE "
                   "encode(id_hash, 'escape') LIKE '%%%s%%'" % value[:20]), "0",
       "session id stored in clear")
    st, r, html = b.get("/live")
    eq(st, 200, "signed in")
    # The page shows the user's name; a next= from elsewhere is not followed.
    st, r, html = b.get("/signin?next=//evil.example/")
    eq(r.getheader("Location"), "/live", "offsite next")
    st, r, html = b.post_form("/signout", {}, "/live")
    eq(st, 303, "sign-out")
    assert "tocsin_session" not in b.cookies, "cookie not cleared"
    b.cookies["tocsin_session"] = value      # a copy kept elsewhere
    st, r, html = b.get("/live")
    eq(st, 303, "the old session after sign-out")
    assert r.getheader("Location").startswith("/signin"), r.getheader("Location")


@test
def session_expiry():
    d, w = setup()
    b = Browser(d)
    b.sign_in(w["member"]["token"])
    st, _, _ = b.get("/subscriptions")
    eq(st, 200, "before expiry")
    d.db.sql("UPDATE web_sessions SET expires_at = now() - interval '1 second' "
             "WHERE id_hash = sha256(convert_to('%s', 'UTF8'))"
             % b.cookies["tocsin_session"])
    st, r, _ = b.get("/subscriptions")
    eq(st, 303, "after expiry")
    eq(r.getheader("Location"), "/signin?next=%2Fsubscriptions", "redirect")


@test
def csrf_refusals():
    d, w = setup()
    b = Browser(d)
    b.sign_in(w["orgadmin"]["token"])
    url = "http://127.0.0.1:9/hook"
    with d.db.unchanged("form without CSRF token"):
        st, r, html = b.request("POST", "/org/webhooks", body={"url": url})
        eq(st, 403, "no token")
        check_html_headers(st, r, html, "403 page")
        st, r, html = b.request("POST", "/org/webhooks",
                                body={"url": url, "csrf": "x" * 32})
        eq(st, 403, "wrong token")
        _, _, page = b.get("/org/webhooks")
        st, r, html = b.request("POST", "/org/webhooks", body={
            "url": url, "csrf": b.csrf(page)}, headers={
            "Origin": "http://evil.example"})
        eq(st, 403, "right token, foreign Origin")
        # Another session's token is no good either.
        other = Browser(d)
        other.sign_in(w["member"]["token"])
        _, _, opage = other.get("/live")
        st, r, html = b.request("POST", "/org/webhooks",
                                body={"url": url, "csrf": other.csrf(opage)})
        eq(st, 403, "another session's token")
        st, r, html = b.request("POST", "/signout", body={})
        eq(st, 403, "sign-out without token")
    # Anonymous forms: the double-submit cookie.
    a = Browser(d)
    st, r, html = a.request("POST", "/signin", body={
        "token": w["member"]["token"], "csrf": "y" * 32})
    eq(st, 403, "sign-in with a forged token")
    assert "tocsin_session" not in a.cookies
    # The JSON endpoints want the header.
    st, r, body = b.request("POST", "/web/stream-ticket")
    eq(st, 403, "ticket without X-CSRF-Token")


def ticket(b):
    _, _, html = b.get("/live")
    st, r, body = b.request("POST", "/web/stream-ticket",
                            headers={"X-CSRF-Token": b.csrf(html)})
    eq(st, 200, "stream ticket")
    return jsonlib.loads(body)


@test
async def stream_tickets():
    d, w = setup()
    b = Browser(d)
    b.sign_in(w["member"]["token"])
    t = ticket(b)
    eq(t["stream_url"], d.ws_url, "stream_url")
    assert not t["ticket"].startswith(b.cookies["tocsin_session"][:10])
    # Not an API token.
    eq(d.api("GET", "/v1/advisories", t["ticket"]).status, 401, "REST with a ticket")
    s = Stream(d.ws_url)
    await s.connect()
    await s.send({"type": "auth", "token": t["ticket"]})
    eq((await s.recv(5))["type"], "ready", "ticket accepted")
    a = d.publish(w["pub"]["token"], tlp="AMBER", title="for the ticket",
                  audience={"organisations": [w["org"]["id"]]})
    m = await s.recv_until(lambda m: m.get("event_id") == a["event_id"], 5)
    eq(m["tlp"], "AMBER", "label on the pushed item")
    # Single use.
    s2 = Stream(d.ws_url)
    await s2.connect()
    await s2.send({"type": "auth", "token": t["ticket"]})
    try:
        await s2.recv_until(lambda m: False, 5)
        raise AssertionError("a spent ticket was accepted")
    except StreamClosed as e:
        eq(e.code, 4401, "spent ticket")
    # Signing out closes the live connection at once.
    b.post_form("/signout", {}, "/live")
    try:
        await s.recv_until(lambda m: False, 5)
        raise AssertionError("the stream outlived its session")
    except StreamClosed as e:
        eq(e.code, 4401, "close code after sign-out")
    # An expired ticket is refused.
    b.sign_in(w["member"]["token"])
    t = ticket(b)
    d.db.sql("UPDATE web_stream_tickets SET expires_at = now() - "
             "interval '1 second'")
    s3 = Stream(d.ws_url)
    await s3.connect()
    await s3.send({"type": "auth", "token": t["ticket"]})
    try:
        await s3.recv_until(lambda m: False, 5)
        raise AssertionError("an expired ticket was accepted")
    except StreamClosed as e:
        eq(e.code, 4401, "expired ticket")


@test
def language_choice():
    d, w = setup()
    b = Browser(d)
    st, r, html = b.get("/", headers={"Accept-Language": "de-BE,nl;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in html, "Accept-Language"
    st, r, html = b.get("/", headers={"Accept-Language": "nl-BE;q=0.9,fr;q=0.3"})
    assert '<html lang="nl">' in html, "Accept-Language with q"
    st, r, html = b.post_form("/language", {"lang": "fr", "back": "/"})
    eq(st, 303, "anonymous language switch")
    st, r, html = b.get("/", headers={"Accept-Language": "nl"})
    assert '<html lang="fr">' in html, "the cookie beats Accept-Language"
    # Signed in: the user's setting, saved.
    m = Browser(d)
    m.sign_in(w["outsider"]["token"])
    st, r, html = m.post_form("/language", {"lang": "nl", "back": "/live"}, "/live")
    eq(r.getheader("Location"), "/live", "back where it was")
    eq(d.db.scalar("SELECT language FROM users WHERE id = %d"
                   % w["outsider"]["id"]), "nl", "users.language")
    m.cookies.pop("tocsin_lang", None)
    st, r, html = m.get("/live")
    assert '<html lang="nl">' in html and "Live-waarschuwingen" in html, "nl page"


@test
def catalogues_are_complete():
    cats = {}
    for lang in ("en", "fr", "nl", "de"):
        with open(os.path.join(TEMPLATES, "i18n", lang + ".json")) as f:
            cats[lang] = jsonlib.load(f)
    for lang in ("fr", "nl", "de"):
        eq(sorted(set(cats["en"]) ^ set(cats[lang])), [], "keys of %s.json" % lang)
        same = [k for k in cats["en"] if cats[lang][k] == "" ]
        eq(same, [], "empty texts in %s.json" % lang)
    used = set()
    for name in os.listdir(TEMPLATES):
        if name.endswith(".html"):
            with open(os.path.join(TEMPLATES, name)) as f:
                used |= set(re.findall(r"\{\{[#^/]?t\.([a-z0-9_-]+)\}\}", f.read()))
    eq(sorted(used - set(cats["en"])), [], "texts used but not in en.json")


@test
def templates_are_installed():
    """Every file of templates/web/ is in Makefile.am's install list."""
    with open(os.path.join(SRCDIR, "Makefile.am")) as f:
        listed = set(re.findall(r"templates/web/\S+", f.read()))
    present = set()
    for root, dirs, files in os.walk(TEMPLATES):
        for name in files:
            present.add(os.path.relpath(os.path.join(root, name), SRCDIR))
    eq(sorted(present - listed), [], "templates/web files missing from Makefile.am")


@test
def preview_audience_counts():
    d, w = setup()
    pub = w["pub"]["token"]
    r = d.api("POST", "/v1/advisories/preview-audience", pub, json={
        "tlp": "AMBER", "audience": {"organisations": [w["org"]["id"]]}})
    eq(r.status, 200, "preview")
    eq((r.body["organisations"], r.body["people"]), (1, 2), "AMBER to one org")
    r = d.api("POST", "/v1/advisories/preview-audience", pub, json={
        "tlp": "AMBER", "audience": {"sectors": ["health"]}})
    eq(r.body["organisations"], 1, "by sector")
    r = d.api("POST", "/v1/advisories/preview-audience", pub, json={
        "tlp": "RED", "audience": {"users": [w["member"]["id"]]}})
    eq((r.body["organisations"], r.body["people"]), (1, 1), "RED to one person")
    problem_ok(d.api("POST", "/v1/advisories/preview-audience", pub,
                     json={"tlp": "AMBER"}), 422, "audience")
    problem_ok(d.api("POST", "/v1/advisories/preview-audience",
                     w["member"]["token"], json={"tlp": "CLEAR"}), 403)


@test
def refused_forms_show_the_error_and_change_nothing():
    """A form the REST route refuses comes back (422) with the reason and
    what was typed; nothing is stored. Done ones go back to their page.
    An action on what is not there answers the not-found page."""
    d, w = setup()
    b = Browser(d)
    b.sign_in(w["member"]["token"])
    subs = d.db.scalar("SELECT count(*) FROM subscriptions")
    st, r, html = b.post_form("/subscriptions", {
        "name": "kept <name>", "min_severity": "apocalyptic",
        "channels": "ws"}, "/subscriptions")
    eq(st, 422, "refused subscription")
    check_html_headers(st, r, html, "refused subscription page")
    assert "min_severity" in html, "the reason is not on the page"
    assert 'value="kept &lt;name&gt;"' in html, "the typed name is lost"
    eq(d.db.scalar("SELECT count(*) FROM subscriptions"), subs,
       "subscriptions after the refusal")
    st, r, html = b.post_form("/subscriptions", {
        "name": "fine", "min_severity": "high", "channels": "ws"},
        "/subscriptions")
    eq(st, 303, "accepted subscription")
    eq(r.getheader("Location"), "/subscriptions", "back to the list")
    eq(int(d.db.scalar("SELECT count(*) FROM subscriptions")), int(subs) + 1,
       "subscriptions after the accepted one")

    a = Browser(d)
    a.sign_in(w["orgadmin"]["token"])
    assets = d.db.scalar("SELECT count(*) FROM assets")
    st, r, html = a.post_form("/org/assets", {"type": "cidr",
                                               "value": "not a network"},
                              "/org/assets")
    eq(st, 422, "refused asset")
    check_html_headers(st, r, html, "refused asset page")
    eq(d.db.scalar("SELECT count(*) FROM assets"), assets,
       "assets after the refusal")
    users = d.db.scalar("SELECT count(*) FROM users")
    st, r, html = a.post_form("/org/users", {"name": "", "email": "x@y.test",
                                              "role": "member"}, "/org")
    eq(st, 422, "refused user")
    eq(d.db.scalar("SELECT count(*) FROM users"), users,
       "users after the refusal")
    # Actions on what is not there (or not theirs): the not-found page.
    for path in ("/org/assets/999999/delete", "/org/webhooks/999999/delete",
                 "/org/webhooks/999999/test"):
        st, r, html = a.post_form(path, {}, "/org")
        eq(st, 404, "POST %s" % path)
        check_html_headers(st, r, html, "POST %s" % path)
    p = Browser(d)
    p.sign_in(w["pub"]["token"])
    st, r, html = p.post_form("/advisories/TST-1999-0001/revoke",
                              {"confirm": "1"}, "/advisories")
    eq(st, 404, "revoking what is not there")
    # And done: back to the page, the thing gone or revoked.
    asset = d.api("POST", "/v1/assets", w["orgadmin"]["token"],
                  json={"type": "asn", "value": 64999})
    eq(asset.status, 201, "an asset to delete")
    st, r, html = a.post_form("/org/assets/%d/delete" % asset.body["id"], {},
                              "/org/assets")
    eq((st, r.getheader("Location")), (303, "/org/assets"), "asset deleted")
    eq(d.db.scalar("SELECT count(*) FROM assets WHERE id = %d"
                   % asset.body["id"]), "0", "the deleted asset")
    adv = d.publish(w["pub"]["token"], tlp="GREEN", title="to revoke")
    for what in ("revoked", "revoked again (409: shown as it is)"):
        st, r, html = p.post_form("/advisories/%s/revoke" % adv["id"],
                                  {"confirm": "1"}, "/advisories")
        eq((st, r.getheader("Location")),
           (303, "/advisories/" + adv["id"]), what)
    eq(d.api("GET", "/v1/advisories/" + adv["id"],
             w["pub"]["token"]).body["status"], "revoked", "status")


@test
def sign_in_by_emailed_link():
    """The e-mailed one-time link (issue 7, item 2): the same answer for
    any address, a mail for a known one (at most one link a minute), GET
    shows a confirm page and only its POST spends the link, once; forged
    links are refused."""
    from mail_sink import MailSink, email_daemon, email_user, text_of
    sink = MailSink()
    try:
        d = email_daemon("web_signin_link", sink, smime=False)
        org = d.make_org(sectors=["energy"])
        u = email_user(d, org["id"], subscribe=False,
                       email="link.member@org.test")
        b = Browser(d)
        st, r, html = b.get("/signin")
        eq(st, 200, "GET /signin")
        assert 'action="/signin/link"' in html, "no e-mail link form"
        assert 'name="email"' in html, "no email field"
        # Without the CSRF token: refused, no mail.
        st, r, html = b.request("POST", "/signin/link",
                                body={"email": u["email"]})
        eq(st, 403, "link request without CSRF")
        st, r, known = b.post_form("/signin/link", {"email": u["email"]},
                                   "/signin")
        eq(st, 200, "link request")
        check_html_headers(st, r, known, "link requested")
        m = sink.wait_to(u["email"])[0]
        eq(str(m.msg["Subject"]), "Your sign-in link", "subject")
        text = text_of(m.msg)
        found = re.search(r"(https?://[^/\s]+)(/signin/link\?t=([A-Za-z0-9_-]+))",
                          text)
        assert found, "no link in the mail: %r" % text
        path, token = found.group(2), found.group(3)
        assert len(token) >= 43, "token too short: %r" % token
        # Only the hash is kept.
        eq(d.db.scalar("SELECT count(*) FROM web_signin_links WHERE hash = "
                       "sha256(convert_to('%s', 'UTF8')) AND user_id = %d "
                       "AND used_at IS NULL AND expires_at <= now() + "
                       "interval '15 minutes'" % (token, u["id"])), "1",
           "link row by hash")
        # Asked again within the minute: the same page, but no new link
        # (and so no mail): a mailbox is not to be flooded.
        st, r, again = b.post_form("/signin/link", {"email": u["email"]},
                                   "/signin")
        eq(st, 200, "link asked again")
        eq(d.db.scalar("SELECT count(*) FROM web_signin_links WHERE "
                       "user_id = %d" % u["id"]), "1",
           "links after asking twice within a minute")
        wait_until(lambda: "sign-in link refused: one was made" in
                   d.stderr(), 10, "the refused link logged")
        # An unknown address: the same page, no mail.
        n = sink.count()
        st, r, unknown = b.post_form("/signin/link",
                                     {"email": "nobody@org.test"}, "/signin")
        eq(st, 200, "unknown address")
        strip = lambda h: re.sub(r'name="csrf" value="[^"]*"', "", h)
        eq(strip(unknown), strip(known), "the page tells addresses apart")
        time.sleep(1)
        eq(sink.count(), n, "mail for an unknown address")
        # GET does not spend the link (mail scanners prefetch it).
        for _ in range(2):
            st, r, html = b.get(path)
            eq(st, 200, "confirm page")
            check_html_headers(st, r, html, "link confirm page")
        assert 'action="/signin/link/confirm"' in html, "no confirm form"
        assert "tocsin_session" not in b.cookies, "signed in by a GET"
        st, r, html = b.request("POST", "/signin/link/confirm",
                                body={"csrf": b.csrf(html), "t": token})
        eq(st, 303, "confirm")
        eq(r.getheader("Location"), "/live", "where a member starts")
        assert "tocsin_session" in b.cookies, "no session cookie"
        st, r, html = b.get("/live")
        eq(st, 200, "signed in by the link")
        eq(d.db.scalar("SELECT count(*) FROM audit WHERE action = "
                       "'auth.sign_in' AND actor_user_id = %d AND "
                       "details->>'via' = 'link'" % u["id"]), "1",
           "link sign-in audited")
        # Once only.
        b2 = Browser(d)
        st, r, html = b2.get(path)
        st, r, html = b2.request("POST", "/signin/link/confirm",
                                 body={"csrf": b2.csrf(html), "t": token})
        eq(st, 403, "the same link again")
        assert "tocsin_session" not in b2.cookies
        # Forged.
        b3 = Browser(d)
        st, r, html = b3.get("/signin/link?t=" + "A" * 43)
        st, r, html = b3.request("POST", "/signin/link/confirm",
                                 body={"csrf": b3.csrf(html), "t": "A" * 43})
        eq(st, 403, "a forged link")
        assert "tocsin_session" not in b3.cookies
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
