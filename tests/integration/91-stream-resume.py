#!/usr/bin/python3
"""91-stream-resume: a subscriber that was away gets exactly what it
missed, in order, then goes live without a duplicate (CONTRACT.md,
"WebSocket stream"; docs/API.md, "Stream messages"): with ?since=N, with
{"type":"resume"} sent before the browser-style auth, and with a resume
sent after "ready" (which restarts the replay). Replay from the ring and
from the database (a small stream.ring_events). A resume point older than
the purge horizon is told so with replay.truncated before what exists is
replayed. Items published while a long replay from the database is under
way are delivered once: no duplicate, no gap, in id order."""

from harness import *

ITEM_TYPES = ("advisory.published", "advisory.updated", "advisory.revoked",
              "warning.issued")


def subscribe(d, token, flt):
    r = d.api("POST", "/v1/subscriptions", token,
              json={"name": "s", "filter": flt, "channels": ["ws"]})
    assert r.status == 201, "create subscription: %d %r" % r[::2]


class Setup:
    """A member of an energy organisation subscribed to energy items, and
    what a publisher can publish for or around it."""

    def __init__(self, d):
        self.d = d
        self.org = d.make_org(kind="essential", sectors=["energy"])
        self.other = d.make_org(kind="essential", sectors=["health"])
        self.member = d.principal("member", self.org["id"])
        subscribe(d, self.member["token"], {"sectors": ["energy"]})
        self.pub = d.principal("publisher")["token"]

    def wanted(self):
        """An item the member is pushed (CLEAR, energy): its event id."""
        return self.d.publish(self.pub, sectors=["energy"])["event_id"]

    def unwanted(self):
        """Two items it is not pushed: CLEAR about health (no matching
        subscription, not targeted), AMBER for another organisation about
        energy (not entitled)."""
        self.d.publish(self.pub, sectors=["health"])
        self.d.publish(self.pub, tlp="AMBER", sectors=["energy"],
                       audience={"organisations": [self.other["id"]]})

    def missed(self, n=3):
        """n wanted items with unwanted ones around them; their ids."""
        ids = []
        for _ in range(n):
            self.unwanted()
            ids.append(self.wanted())
        self.unwanted()
        return ids


def last_event_id(d):
    return int(d.db.scalar("SELECT coalesce(max(event_id), 0) FROM events"))


async def until_ready(s, timeout=15):
    """(item messages before "ready", every other message, ready)."""
    items, other = [], []
    deadline = time.monotonic() + timeout
    while True:
        m = await s.recv(max(0.1, deadline - time.monotonic()))
        if m["type"] == "ready":
            return items, other, m
        if m["type"] == "error":
            raise AssertionError("stream error %r" % m)
        (items if m["type"] in ITEM_TYPES else other).append(m)


async def next_item(s, timeout=10):
    m = await s.recv_until(lambda m: m["type"] in ITEM_TYPES
                           or m["type"] == "error", timeout)
    assert m["type"] != "error", "stream error %r" % m
    return m


def ids(items):
    return [m["event_id"] for m in items]


async def live_once_more(s, setup):
    """Live after the replay: the next item is the next one published, and
    nothing else came in between (no duplicate of the replay)."""
    want = setup.wanted()
    m = await next_item(s)
    eq(m["event_id"], want, "first live item after the replay")


async def away_and_back(d, setup):
    """Connected, one live item, disconnected; returns (last seen, missed,
    last event id)."""
    async with Stream(d.ws_url, setup.member["token"]) as s:
        await s.recv_until(lambda m: m["type"] == "ready", 10)
        seen = setup.wanted()
        eq((await next_item(s))["event_id"], seen, "live item")
    missed = setup.missed()
    return seen, missed, last_event_id(d)


@test
async def since_query_returns_exactly_what_was_missed():
    d = shared_daemon("resume")
    setup = Setup(d)
    seen, missed, last = await away_and_back(d, setup)
    async with Stream(d.ws_url, setup.member["token"], since=seen) as s:
        items, other, ready = await until_ready(s)
        eq(ids(items), missed, "replayed event ids after ?since=%d" % seen)
        eq([m["type"] for m in items], ["advisory.published"] * 3)
        eq(other, [], "other messages during the replay")
        eq(ready["last_event_id"], last, "ready.last_event_id")
        await live_once_more(s, setup)


@test
async def resume_message_before_auth():
    d = shared_daemon("resume")
    setup = Setup(d)
    seen, missed, last = await away_and_back(d, setup)
    async with Stream(d.ws_url) as s:
        await s.send({"type": "resume", "since": seen})
        await s.send({"type": "auth", "token": setup.member["token"]})
        items, other, ready = await until_ready(s)
        eq(ids(items), missed, "replayed ids after a resume message")
        eq(other, [], "other messages during the replay")
        eq(ready["last_event_id"], last, "ready.last_event_id")
        await live_once_more(s, setup)


@test
async def resume_message_after_ready_restarts_the_replay():
    d = shared_daemon("resume")
    setup = Setup(d)
    seen, missed, last = await away_and_back(d, setup)
    async with Stream(d.ws_url, setup.member["token"]) as s:
        _, _, ready = await until_ready(s)
        eq(ready["last_event_id"], last, "live from the head")
        await s.send({"type": "resume", "since": seen})
        items, other, ready = await until_ready(s)
        eq(ids(items), missed, "replayed ids after a resume after ready")
        eq(other, [], "other messages during the replay")
        eq(ready["last_event_id"], last, "second ready")
        await live_once_more(s, setup)


@test
async def resume_from_the_database_beyond_the_ring():
    # 16 events in memory; 30 missed items with 90 unwanted around them.
    d = shared_daemon("resume-db", stream={"ring_events": 16})
    setup = Setup(d)
    async with Stream(d.ws_url, setup.member["token"]) as s:
        await s.recv_until(lambda m: m["type"] == "ready", 10)
        seen = setup.wanted()
        eq((await next_item(s))["event_id"], seen, "live item")
    missed = setup.missed(30)
    last = last_event_id(d)
    assert last - seen > 16, "the ring holds everything missed"
    for how in ("since", "message"):
        if how == "since":
            s = Stream(d.ws_url, setup.member["token"], since=seen)
            await s.connect()
        else:
            s = Stream(d.ws_url)
            await s.connect()
            await s.send({"type": "resume", "since": seen})
            await s.send({"type": "auth", "token": setup.member["token"]})
        items, other, ready = await until_ready(s)
        eq(ids(items), missed, "replayed ids from the database (%s)" % how)
        eq(other, [], "other messages during the replay (%s)" % how)
        eq(ready["last_event_id"], last, "ready.last_event_id (%s)" % how)
        await s.close()


@test
async def resume_before_the_purge_horizon_is_truncated():
    db = new_database("resume_purge")
    d = Daemon(db, stream={"ring_events": 16})
    setup = Setup(d)
    base = last_event_id(d)
    early = setup.missed(10)         # 10 wanted, 31 events in all
    later = setup.missed(10)
    purged_before = early[5]         # keep early[5:] and later
    # A purge, as retention would do it: rows gone, horizon moved.
    db.sql("BEGIN; DELETE FROM events WHERE event_id < %d; "
           "UPDATE event_horizon SET purged_before = %d; COMMIT"
           % (purged_before, purged_before))
    last = last_event_id(d)
    assert last - purged_before > 16, "what is kept must be beyond the ring"
    survivors = early[5:] + later

    # From before the horizon: told, then what exists, then ready.
    for since in (base, early[2], purged_before - 2):
        async with Stream(d.ws_url, setup.member["token"], since=since) as s:
            items, other, ready = await until_ready(s)
            eq(other, [{"type": "replay.truncated", "since": since,
                        "oldest_event_id": purged_before}],
               "messages besides items, ?since=%d" % since)
            eq(s.messages[0]["type"], "replay.truncated",
               "replay.truncated comes first (?since=%d)" % since)
            eq(ids(items), survivors, "replayed after truncation")
            eq(ready["last_event_id"], last)
    # The same through a resume message after ready.
    async with Stream(d.ws_url, setup.member["token"]) as s:
        await until_ready(s)
        await s.send({"type": "resume", "since": base})
        items, other, ready = await until_ready(s)
        eq(other, [{"type": "replay.truncated", "since": base,
                    "oldest_event_id": purged_before}], "resume message")
        eq(ids(items), survivors, "replayed after truncation (message)")

    # Right at the horizon nothing was lost: no truncation message.
    async with Stream(d.ws_url, setup.member["token"],
                      since=purged_before - 1) as s:
        items, other, ready = await until_ready(s)
        eq(other, [], "messages besides items at the horizon")
        eq(ids(items), survivors, "replayed from the horizon")
    d.stop()


@test
async def publishes_racing_with_a_replay_are_delivered_once():
    """A long backlog replayed from the database (16 events in the ring,
    a 64 KiB queue, so small batches), read slowly, while two threads keep
    publishing: events published during the replay reach the client by the
    replay, those after "ready" live; every event it should get arrives
    exactly once, in id order."""
    d = Daemon(new_database("resume_race"), stream={"ring_events": 16},
               limits={"ws_send_queue_bytes": 65536})
    setup = Setup(d)
    base = last_event_id(d)
    lock = threading.Lock()
    published = []                   # (event id, wanted)

    def one(i):
        if i % 3 == 0:
            return setup.wanted(), True
        if i % 3 == 1:
            return d.publish(setup.pub, sectors=["health"])["event_id"], False
        return d.publish(setup.pub, tlp="AMBER", sectors=["energy"], audience={
            "organisations": [setup.other["id"]]})["event_id"], False

    for i in range(600):
        published.append(one(i))
    backlog_last = last_event_id(d)

    stop = threading.Event()
    errors = []
    counter = itertools.count(600)

    def publisher():
        try:
            while not stop.is_set():
                r = one(next(counter))
                with lock:
                    published.append(r)
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=publisher, daemon=True)
               for _ in range(2)]
    for t in threads:
        t.start()
    # The threads are publishing before the replay starts.
    wait_until(lambda: last_event_id(d) >= backlog_last + 10, 10,
               "publishing in the background")

    got, ready, live_after, sentinel = [], None, 0, None
    s = Stream(d.ws_url, setup.member["token"], since=base)
    await s.connect()
    try:
        deadline = time.monotonic() + 40
        while True:
            m = await s.recv(max(0.1, deadline - time.monotonic()))
            if m["type"] == "ready":
                assert ready is None, "a second ready: %r" % m
                ready = m
                continue
            if m["type"] in ITEM_TYPES:
                got.append(m["event_id"])
                if ready is None:
                    # A slow reader keeps the replay going for a while.
                    await asyncio.sleep(0.004)
                else:
                    live_after += 1
                    if live_after == 30:
                        stop.set()
                        for t in threads:
                            t.join(30)
                        sentinel = setup.wanted()
                if sentinel is not None and got[-1] == sentinel:
                    break
            else:
                raise AssertionError("unexpected message %r" % m)
    finally:
        stop.set()
        await s.close()
    assert not errors, "publisher thread: %s" % errors

    want = sorted([e for e, w in published if w] + [sentinel])
    dups = sorted({e for e in got if got.count(e) > 1})
    log("race: backlog up to %d, ready at %d, %d events published in all, "
        "%d received (%d live)" % (backlog_last, ready["last_event_id"],
                                   len(published) + 1, len(got), live_after))
    assert not dups, "received twice: %s" % dups
    assert got == sorted(got), "out of order: %s" % [
        (a, b) for a, b in zip(got, got[1:]) if b <= a][:10]
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    assert not missing and not extra, \
        "gaps %s; not for this principal %s" % (missing[:20], extra[:20])
    # The race did happen: events published during the replay came by the
    # replay (ready after the backlog), and more came live after it.
    assert ready["last_event_id"] > backlog_last + 10, \
        "no publish raced with the replay (ready at %d, backlog to %d)" % (
            ready["last_event_id"], backlog_last)
    d.stop()


if __name__ == "__main__":
    main()
