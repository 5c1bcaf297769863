#!/usr/bin/python3
"""93-stream-db-restart: PostgreSQL restarted under a connected subscriber.
The connection stays open through the outage, and once the database is
back the stream's own connections (LISTEN and queries) are re-established
and the subscriber receives the next item, once, on the same connection;
the one after it too. A resume from before the outage still replays from
the database. The cluster stopped is a private one of this test."""

from harness import *

ITEM_TYPES = ("advisory.published", "advisory.updated", "advisory.revoked",
              "warning.issued")


async def next_item(s, timeout=10):
    m = await s.recv_until(lambda m: m["type"] in ITEM_TYPES
                           or m["type"] == "error", timeout)
    assert m["type"] != "error", "stream error %r" % m
    return m


def publish_retrying(d, token, timeout=30, **fields):
    """POST an advisory; 503 is retried while the REST pool reconnects."""
    deadline = time.monotonic() + timeout
    while True:
        r = d.api("POST", "/v1/advisories", token, json=advisory(**fields))
        if r.status == 201:
            return r.body
        assert r.status == 503 and time.monotonic() < deadline, \
            "publish after the restart: %d %r" % r[::2]
        time.sleep(0.2)


@test
async def subscriber_survives_a_database_restart():
    pg = PrivateCluster("pg-stream").start()
    db = new_database("stream_restart", on=pg)
    d = Daemon(db)
    org = d.make_org(sectors=["energy"])
    m = d.principal("member", org["id"])
    r = d.api("POST", "/v1/subscriptions", m["token"],
              json={"name": "all", "filter": {}, "channels": ["ws"]})
    eq(r.status, 201, "subscription")
    pub = d.principal("publisher")["token"]

    s = Stream(d.ws_url, m["token"])
    await s.connect()
    await s.recv_until(lambda x: x["type"] == "ready", 10)
    before = d.publish(pub, title="before the outage")
    eq((await next_item(s))["event_id"], before["event_id"], "before")

    pg.stop()
    d.wait_health(503, 30)
    # Nothing to push while it is down, and the connection is not dropped
    # (a ping from us is answered).
    pong = await s.ws.ping()
    await asyncio.wait_for(pong, 5)
    eq(s.ws.closed, False, "connection open during the outage")

    pg.start()
    d.wait_health(200, 60)
    t0 = time.monotonic()
    after = publish_retrying(d, pub, title="after the outage")
    got = await next_item(s, 45)
    log("first item after the restart arrived %.2f s after its publish"
        % (time.monotonic() - t0))
    eq((got["event_id"], got["data"]["id"]),
       (after["event_id"], after["id"]), "first item after the restart")
    again = d.publish(pub, title="and the next")
    eq((await next_item(s))["event_id"], again["event_id"],
       "second item after the restart (no duplicate before it)")
    eq([x["event_id"] for x in s.messages if x["type"] in ITEM_TYPES],
       [before["event_id"], after["event_id"], again["event_id"]],
       "every item on the connection, once")
    await s.close()

    # A resume from before the outage replays through the new connection.
    async with Stream(d.ws_url, m["token"], since=0) as s2:
        ready = await s2.recv_until(lambda x: x["type"] == "ready", 15)
        eq([x["event_id"] for x in s2.messages if x["type"] in ITEM_TYPES],
           [before["event_id"], after["event_id"], again["event_id"]],
           "replay after the restart")
        eq(ready["last_event_id"], again["event_id"], "ready")
    d.stop()
    pg.stop()


if __name__ == "__main__":
    main()
