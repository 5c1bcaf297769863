#!/usr/bin/python3
"""75-email-smime: encryption to the recipient's certificate (recovered
with `openssl smime -decrypt` and `openssl cms -decrypt`, the inner
signature checked with `openssl smime -verify`), TLP:RED by e-mail
(encrypted content for a named user with a certificate, a content-free
notice otherwise, nothing for anyone not named), and an expired or
unusable certificate: the delivery fails with a clear reason and is
reported, never sent in clear."""

import re

from harness import *
from mail_sink import *

_ctx = {}


def ctx():
    if "d" not in _ctx:
        sink = MailSink()
        pki = Pki()
        d = email_daemon("email_smime", sink, pki)
        pub = d.principal("publisher")
        _ctx.update(d=d, sink=sink, pki=pki, pub=pub)
    return _ctx


def cert_user(c, org_id, name, **kw):
    """A user with a certificate of the test CA (and its key)."""
    addr = "%s@org.test" % name
    key, crt = c["pki"].issue(name, addr, **{k: v for k, v in kw.items()
                                             if k in ("start", "end")})
    u = email_user(c["d"], org_id, email=addr, smime_cert=read(crt),
                   **{k: v for k, v in kw.items()
                      if k not in ("start", "end")})
    u["key"], u["crt"] = key, crt
    return u


def decrypt_checked(c, m, u):
    """Decrypt with both tools; verify the inner signature; the inner
    message parsed."""
    pki = c["pki"]
    ok, inner = pki.decrypt(m.data, u["key"], u["crt"], "smime")
    assert ok, "openssl smime -decrypt failed"
    ok2, inner2 = pki.decrypt(m.data, u["key"], u["crt"], "cms")
    assert ok2, "openssl cms -decrypt failed"
    eq(inner, inner2, "smime and cms decrypt the same")
    ok, _, err = pki.verify(inner)
    assert ok, "the decrypted message's signature: %s" % err
    return parse(inner)


@test
def encrypted_to_the_certificate():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org(sectors=["health"])
    u = cert_user(c, org["id"], "alice")
    a = d.publish(c["pub"]["token"], tlp="AMBER",
                  audience={"sectors": ["health"]}, title="Hospital PACS",
                  summary="Unique summary sentence 4711.",
                  body="Unique body sentence 0815.")
    m = sink.wait_to(u["email"])[0]
    eq(m.msg.get_content_type(), "application/pkcs7-mime")
    eq(m.msg.get_param("smime-type"), "enveloped-data")
    eq(str(m.msg["X-TLP"]), "AMBER")
    eq(str(m.msg["Subject"]), "[TLP:AMBER] %s: Hospital PACS" % a["id"])
    for secret in (b"4711", b"0815"):
        assert secret not in m.data, "content in clear"
    inner = decrypt_checked(c, m, u)
    eq(inner.get_content_type(), "multipart/signed")
    alt = inner.get_payload()[0]
    eq(alt.get_content_type(), "multipart/alternative")
    # Protected headers: the real ones inside.
    eq(str(alt["Subject"]), "[TLP:AMBER] %s: Hospital PACS" % a["id"])
    t = text_of(inner)
    eq(t.splitlines()[0], "TLP:AMBER")
    assert "Unique summary sentence 4711." in t
    assert "Unique body sentence 0815." in t


@test
def red_encrypted_to_a_named_user_with_certificate():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org()
    u = cert_user(c, org["id"], "bob", subscribe=False)
    a = d.publish(c["pub"]["token"], tlp="RED", audience={"users": [u["id"]]},
                  title="Red title 1357", summary="Red summary 2468.",
                  body="Red body 9753.")
    m = sink.wait_to(u["email"])[0]
    eq(str(m.msg["Subject"]), "[TLP:RED] %s: ..." % a["id"],
       "outer Subject without the title")
    eq(m.msg.get_content_type(), "application/pkcs7-mime")
    for secret in (b"1357", b"2468", b"9753"):
        assert secret not in m.data, "RED content in clear"
    inner = decrypt_checked(c, m, u)
    eq(str(inner.get_payload()[0]["Subject"]),
       "[TLP:RED] %s: Red title 1357" % a["id"])
    t = text_of(inner)
    eq(t.splitlines()[0], "TLP:RED")
    for want in ("Red title 1357", "Red summary 2468.", "Red body 9753."):
        assert want in t, t


@test
def red_notice_without_certificate():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org(contact_email="soc.red@org.test", sectors=["energy"])
    named = email_user(d, org["id"], subscribe=False)
    colleague = email_user(d, org["id"])           # same org, not named
    staff = email_user(d, None, role="publisher")  # sees all, not named
    a = d.publish(c["pub"]["token"], tlp="RED",
                  audience={"users": [named["id"]], "sectors": ["energy"]},
                  title="Crimson title 1122", summary="Crimson summary 3344.",
                  body="Crimson body 5566.")
    m = sink.wait_to(named["email"])[0]
    subject = str(m.msg["Subject"])
    assert subject.startswith("[TLP:RED] %s: " % a["id"]), subject
    eq(str(m.msg["X-TLP"]), "RED")
    for secret in ("1122", "3344", "5566", "Crimson"):
        assert secret.encode() not in m.data, "RED content in a notice"
        assert secret not in subject
        assert secret not in text_of(m.msg) and secret not in html_of(m.msg)
    t = text_of(m.msg)
    log("notice %r:\n%s" % (subject, t))
    eq(t.splitlines()[0], "TLP:RED")
    assert "%s/advisories/%s" % (d.url, a["id"]) in t, "login link"
    ok, _, err = c["pki"].verify(m.data)
    assert ok, err
    time.sleep(1.5)
    for other in (colleague["email"], staff["email"], "soc.red@org.test"):
        eq(sink.to(other), [], "RED reached %s" % other)
    rows = deliveries(d, "event_id = %s" % a["event_id"])
    eq([r["user_id"] for r in rows], [str(named["id"])], "RED deliveries")


@test
def expired_certificate_is_reported():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org(contact_email="soc.cert@org.test")
    admin = email_user(d, org["id"], role="org-admin", subscribe=False)
    u = cert_user(c, org["id"], "carol", start="20200101000000Z",
                  end="20200201000000Z")
    a = d.publish(c["pub"]["token"], title="Expired-cert title 8642",
                  summary="Expired-cert summary.")
    rows = wait_deliveries(d, "event_id = %s AND user_id = %d" %
                           (a["event_id"], u["id"]),
                           lambda r: r and r[0]["state"] == "failed")
    assert re.search(r"certificate expired on .*2020", rows[0]["last_error"]), \
        rows[0]["last_error"]
    eq(rows[0]["attempts"], "1")
    # Reported: to the org-admin, to the security contact, and to the
    # user itself (its address works; the notice carries no content).
    for who in (admin["email"], "soc.cert@org.test", u["email"]):
        m = sink.wait_to(who)[0]
        subject = str(m.msg["Subject"])
        assert subject.startswith("[TLP:AMBER+STRICT] "), subject
        t = text_of(m.msg)
        assert "S/MIME certificate" in t and a["id"] in t, t
        assert "8642" not in t and b"8642" not in m.data, "content leaked"
        assert "expired" in t, t
    eq(len(sink.to(u["email"])), 1, "only the report reached carol")


@test
def certificate_not_for_encryption_is_reported():
    c = ctx()
    d, sink = c["d"], c["sink"]
    org = d.make_org()
    # An RSA certificate whose key usage forbids encryption.
    pki = c["pki"]
    key = os.path.join(pki.dir, "dave.key")
    crt = os.path.join(pki.dir, "dave.pem")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
            "-out", crt, "-days", "10", "-subj", "/CN=dave", "-addext",
            "keyUsage=critical,digitalSignature", "-addext",
            "extendedKeyUsage=emailProtection")
    u = email_user(d, org["id"], email="dave@org.test", smime_cert=read(crt))
    a = d.publish(c["pub"]["token"], title="Dave's item")
    rows = wait_deliveries(d, "event_id = %s AND user_id = %d" %
                           (a["event_id"], u["id"]),
                           lambda r: r and r[0]["state"] == "failed")
    assert "not meant for encryption" in rows[0]["last_error"], rows[0]
    m = sink.wait_to(u["email"])[0]
    assert "Dave's item" not in text_of(m.msg)


if __name__ == "__main__":
    main()
