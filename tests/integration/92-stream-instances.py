#!/usr/bin/python3
"""92-stream-instances: two tocsind on one database. Live fan-out follows
PostgreSQL LISTEN/NOTIFY, so an item published through either instance
reaches the subscribers of both, once, in order, within a second (the
product's promise), and the TLP rule holds on both. Changes to principals
travel the same way: a subscription made through one instance takes effect
on a connection to the other, and a token revoked through one closes the
connections it opened on the other with 4401. Both instances serve the
stream with two threads, which are dealt connections in turn: the two
connections a user opens on instance 2 are on different threads, and
principal changes must reach each."""

from harness import *

ITEM_TYPES = ("advisory.published", "advisory.updated", "advisory.revoked",
              "warning.issued")


def subscribe(d, token, flt):
    r = d.api("POST", "/v1/subscriptions", token,
              json={"name": "s", "filter": flt, "channels": ["ws"]})
    assert r.status == 201, "create subscription: %d %r" % r[::2]
    return r.body


def pair(name):
    db = new_database(name)
    d1 = Daemon(db, stream={"threads": 2})
    d2 = Daemon(db, migrate=False, bootstrap=False, stream={"threads": 2})
    d2.admin_token = d1.admin_token
    return d1, d2


async def ready_stream(d, token):
    s = Stream(d.ws_url, token)
    await s.connect()
    await s.recv_until(lambda m: m["type"] == "ready", 10)
    return s


async def next_item(s, timeout=10):
    m = await s.recv_until(lambda m: m["type"] in ITEM_TYPES
                           or m["type"] == "error", timeout)
    assert m["type"] != "error", "stream error %r" % m
    return m


@test
async def publish_through_one_receive_on_the_other():
    d1, d2 = pair("instances")
    org = d1.make_org(sectors=["energy"])
    other = d1.make_org(sectors=["health"])
    m1 = d1.principal("member", org["id"])
    m2 = d1.principal("member", org["id"])
    subscribe(d1, m1["token"], {})
    subscribe(d1, m2["token"], {})
    pub = d1.principal("publisher")["token"]
    s1 = await ready_stream(d1, m1["token"])      # on instance 1
    s2 = await ready_stream(d2, m2["token"])      # on instance 2

    sent, latencies = [], []
    for i, (via, label) in enumerate(((d1, "CLEAR"), (d2, "GREEN"),
                                      (d1, "AMBER"), (d2, "AMBER"),
                                      (d1, "GREEN"), (d2, "CLEAR"))):
        t0 = time.monotonic()
        a = via.publish(pub, tlp=label, audience={"organisations":
                                                  [org["id"]]})
        sent.append(a["event_id"])
        for who, s in (("subscriber of instance 1", s1),
                       ("subscriber of instance 2", s2)):
            m = await next_item(s, 10)
            dt = time.monotonic() - t0
            log("event %d published via #%d reached the %s in %.3f s"
                % (a["event_id"], via.n, who, dt))
            eq((m["event_id"], m["data"]["id"], m["tlp"]),
               (a["event_id"], a["id"], label),
               "item #%d on the %s" % (i, who))
            assert dt < 1.0, "event %d took %.3f s to the %s" % (
                a["event_id"], dt, who)
            latencies.append(dt)
    # NOTIFY drives the fan-out, not the once-a-second safety-net fetch.
    latencies.sort()
    median = latencies[len(latencies) // 2]
    assert median < 0.5, "median latency %.3f s: NOTIFY not used?" % median

    # Not entitled on either instance: an AMBER item for another
    # organisation, then a sentinel both get; only the sentinel arrives.
    d2.publish(pub, tlp="AMBER", audience={"organisations": [other["id"]]})
    sentinel = d1.publish(pub)["event_id"]
    for s in (s1, s2):
        eq((await next_item(s))["event_id"], sentinel,
           "next item after a hidden one")
    # Each instance pushed each event once: every item message, in order.
    for s in (s1, s2):
        eq([m["event_id"] for m in s.messages if m["type"] in ITEM_TYPES],
           sent + [sentinel], "item messages of one connection")
    await s1.close()
    await s2.close()
    d2.stop()


@test
async def principal_changes_reach_the_other_instance():
    d1, d2 = pair("instances_principals")
    org = d1.make_org(sectors=["energy"])
    m = d1.principal("member", org["id"])
    pub = d1.principal("publisher")["token"]
    s = await ready_stream(d2, m["token"])

    # Not subscribed, not targeted: a CLEAR item is not pushed (the
    # targeted sentinel after it is).
    d1.publish(pub, title="before the subscription")
    sentinel = d1.publish(pub, audience={"organisations": [org["id"]]})
    eq((await next_item(s))["event_id"], sentinel["event_id"],
       "first item (the untargeted one must not come)")

    # A subscription made through instance 1 applies on instance 2. The
    # reload is asynchronous: publish until one matching item arrives,
    # then every later one must too.
    subscribe(d1, m["token"], {"sectors": ["energy"]})
    deadline = time.monotonic() + 10
    while True:
        a = d1.publish(pub, sectors=["energy"])
        try:
            got = await next_item(s, 0.5)
            eq(got["event_id"], a["event_id"], "subscribed item")
            break
        except StreamClosed:
            raise
        except AssertionError as e:
            if "no matching stream message" not in str(e) or \
                    time.monotonic() > deadline:
                raise
    for _ in range(3):
        a = d1.publish(pub, sectors=["energy"])
        eq((await next_item(s))["event_id"], a["event_id"],
           "subscribed item after the reload")

    # A second token of the same user, its connection on instance 2;
    # revoked through instance 1: that connection ends with 4401, the
    # other one stays.
    r = d1.api("POST", "/v1/tokens", d1.admin_token, json={"user_id": m["id"]})
    eq(r.status, 201, "second token")
    s_b = await ready_stream(d2, r.body["token"])
    eq(d1.api("DELETE", "/v1/tokens/%d" % r.body["id"],
              d1.admin_token).status, 204, "revoke")
    try:
        msg = await s_b.recv_until(lambda x: x["type"] == "error", 10)
        eq(msg.get("status"), 401, "error status before the close")
        await s_b.recv(5)
        raise AssertionError("connection with a revoked token still open")
    except StreamClosed as e:
        eq(e.code, 4401, "close code after revocation")
    a = d1.publish(pub, sectors=["energy"])
    eq((await next_item(s))["event_id"], a["event_id"],
       "the connection with the live token still receives")
    await s.close()
    d2.stop()


if __name__ == "__main__":
    main()
