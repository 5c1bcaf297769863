#!/usr/bin/python3
"""96-stream-auth: authenticating on the stream (CONTRACT.md, "WebSocket
stream"; docs/API.md, "Stream messages"). The Authorization header, or for
browsers {"type":"auth"} as the first message within stream.auth_timeout_s
(2 s here); no auth by then closes with 4401 after an error message; a bad
token in a message closes with 4401 at once; a bad token in the header is
refused. Malformed upgrades are refused with an HTTP status."""

from harness import *

AUTH_TIMEOUT = 2
ITEM_TYPES = ("advisory.published", "advisory.updated", "advisory.revoked",
              "warning.issued")


def setup():
    d = shared_daemon("stream_auth", stream={"auth_timeout_s": AUTH_TIMEOUT})
    org = d.make_org()
    m = d.principal("member", org["id"])
    pub = d.principal("publisher")["token"]
    return d, org, m, pub


async def expect_refusal(s, timeout=5):
    """An error message with status 401, then close 4401, and nothing
    else; returns the seconds until the close."""
    t0 = time.monotonic()
    try:
        while True:
            await s.recv(timeout)
    except StreamClosed as e:
        code = e.code
    dt = time.monotonic() - t0
    types = [m["type"] for m in s.messages]
    eq(types, ["error"], "messages before the close")
    eq(s.messages[0].get("status"), 401, "error status")
    eq(code, 4401, "close code")
    return dt


@test
async def header_auth():
    d, org, m, pub = setup()
    async with Stream(d.ws_url, m["token"]) as s:
        ready = await s.recv(5)
        eq(ready["type"], "ready", "first message")
        a = d.publish(pub, audience={"organisations": [org["id"]]})
        eq((await s.recv(5))["event_id"], a["event_id"], "live item")


@test
async def first_message_auth_within_the_deadline():
    d, org, m, pub = setup()
    async with Stream(d.ws_url) as s:
        t0 = time.monotonic()
        # Half the deadline goes by without a word: that is allowed.
        await s.expect_nothing(AUTH_TIMEOUT / 2)
        await s.send({"type": "auth", "token": m["token"]})
        ready = await s.recv(5)
        eq(ready["type"], "ready", "answer to a timely auth")
        # Past the deadline the connection is still there and live.
        left = t0 + AUTH_TIMEOUT + 0.5 - time.monotonic()
        if left > 0:
            await s.expect_nothing(left)
        a = d.publish(pub, audience={"organisations": [org["id"]]})
        got = await s.recv(5)
        eq((got["type"], got["event_id"]),
           ("advisory.published", a["event_id"]), "live item after auth")
        # A second auth is an error, not a reason to close.
        await s.send({"type": "auth", "token": m["token"]})
        err = await s.recv(5)
        eq((err["type"], err.get("status")), ("error", 400), "second auth")
        a = d.publish(pub, audience={"organisations": [org["id"]]})
        eq((await s.recv(5))["event_id"], a["event_id"], "still live")


@test
async def no_auth_within_the_deadline_is_4401():
    d, org, m, pub = setup()
    s = Stream(d.ws_url)
    t0 = time.monotonic()
    await s.connect()
    await expect_refusal(s, AUTH_TIMEOUT + 5)
    dt = time.monotonic() - t0
    log("closed %.2f s after connecting (deadline %d s)" % (dt, AUTH_TIMEOUT))
    assert AUTH_TIMEOUT - 0.2 <= dt <= AUTH_TIMEOUT + 2, \
        "closed after %.2f s, deadline %d s" % (dt, AUTH_TIMEOUT)


@test
async def bad_token_in_a_message_is_4401():
    d, org, m, pub = setup()
    for msg in ({"type": "auth", "token": "tcs_" + "A" * 43},
                {"type": "auth", "token": ""},
                {"type": "auth"},
                {"type": "hello"},
                "not json"):
        s = Stream(d.ws_url)
        await s.connect()
        await s.send(msg)
        dt = await expect_refusal(s, 5)
        log("first message %r: 4401 after %.2f s" % (msg, dt))
        assert dt < AUTH_TIMEOUT - 0.5, \
            "refused only at the deadline (%.2f s), not at the message" % dt


@test
async def revoked_token_is_refused():
    d, org, m, pub = setup()
    r = d.api("POST", "/v1/tokens", d.admin_token, json={"user_id": m["id"]})
    eq(r.status, 201)
    eq(d.api("DELETE", "/v1/tokens/%d" % r.body["id"],
             d.admin_token).status, 204)
    s = Stream(d.ws_url)
    await s.connect()
    await s.send({"type": "auth", "token": r.body["token"]})
    await expect_refusal(s, 5)


@test
async def bad_token_in_the_header_is_refused():
    """Refused either on the upgrade (HTTP 401) or, once upgraded, with an
    error message and 4401 before anything else; never a "ready"."""
    import websockets
    d, org, m, pub = setup()
    for token in ("tcs_" + "B" * 43, "x"):
        s = Stream(d.ws_url, token)
        try:
            await s.connect()
        except websockets.InvalidStatusCode as e:
            log("bad header token: HTTP %d on the upgrade" % e.status_code)
            eq(e.status_code, 401, "HTTP status of the refused upgrade")
            continue
        dt = await expect_refusal(s, 5)
        log("bad header token: upgraded, then 4401 after %.2f s" % dt)
    # Not a bearer token at all.
    s = Stream(d.ws_url, headers={"Authorization": "Basic YTpi"})
    try:
        await s.connect()
    except websockets.InvalidStatusCode as e:
        eq(e.status_code, 401, "HTTP status for Basic auth")
        return
    await expect_refusal(s, 5)


@test
async def malformed_upgrades_are_refused():
    import websockets
    d, org, m, pub = setup()
    base = d.ws_url.rsplit("/v1/stream", 1)[0]
    for url, status in ((d.ws_url + "?since=abc", 400),
                        (d.ws_url + "?since=-1", 400),
                        (base + "/v1/streams", 404),
                        (base + "/", 404)):
        s = Stream(url, m["token"])
        try:
            await s.connect()
        except websockets.InvalidStatusCode as e:
            eq(e.status_code, status, url)
            continue
        await s.close()
        raise AssertionError("%s was upgraded" % url)


if __name__ == "__main__":
    main()
