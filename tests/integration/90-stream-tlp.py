#!/usr/bin/python3
"""90-stream-tlp: the TLP matrix of 30-tlp-matrix over the WebSocket
stream (TLP.md, "What is pushed"), cell by cell, for live push, for replay
from the ring (?since= on the same tocsind) and for replay from the
database (?since= on a second tocsind started afterwards on the same
database, whose ring holds none of the items). The first tocsind serves
the stream with three threads, so the columns' connections are spread
over them (handed out in turn); the second with one.

    pushed = may see AND (the item names the principal's organisation or
             user, OR one of its subscriptions with channel "ws" matches)

Absence is proven by order, not by waiting: after the matrix items a CLEAR
"sentinel" that every column receives (its audience names every
organisation, and the one column without an organisation has a ws
subscription on the word "sentinel") is published; events are considered
in id order for every connection, so once the sentinel arrived, whatever
did not arrive before it never will. Replay ends with "ready", which does
the same job."""

from harness import *

LABELS = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")
ITEM_TYPES = ("advisory.published", "advisory.updated", "advisory.revoked",
              "warning.issued")

# Organisations: A is the audience of every item, B another one, R the one
# of the named RED user, C one more. Columns (who is connected):
#   audience-member   member of A, ws subscription matching everything
#   audience-idle     member of A, no subscription (targeted by the audience)
#   other-member      member of B, ws subscription matching everything
#   red-user          member of R named in the RED item, no subscription
#   red-colleague     member of R, ws subscription matching everything
#   publisher         publisher, ws subscription matching everything
#   idle-member       member of C, no subscription: entitled to CLEAR and
#                     GREEN, neither subscribed nor targeted
#   idle-publisher    publisher (entitled to everything, never targeted)
#                     whose only ws subscription matches the sentinels only
#   email-only        member of B, subscription matching everything but on
#                     the "email" channel only
WHO = ("audience-member", "audience-idle", "other-member", "red-user",
       "red-colleague", "publisher", "idle-member", "idle-publisher",
       "email-only")
PUSHED = {
    #               a-mem a-idl other red-u red-c publ  idl-m idl-p email
    "CLEAR":        (1,    1,    1,    0,    1,    1,    0,    0,    0),
    "GREEN":        (1,    1,    1,    0,    1,    1,    0,    0,    0),
    "AMBER":        (1,    1,    0,    0,    0,    1,    0,    0,    0),
    "AMBER+STRICT": (1,    1,    0,    0,    0,    1,    0,    0,    0),
    "RED":          (0,    0,    0,    1,    0,    1,    0,    0,    0),
}
EVERYTHING = {}
SENTINEL_ONLY = {"keywords": ["sentinel"]}


def subscribe(d, token, flt, channels=("ws",)):
    r = d.api("POST", "/v1/subscriptions", token,
              json={"name": "s", "filter": flt, "channels": list(channels)})
    assert r.status == 201, "create subscription: %d %r" % r[::2]


def cast(d):
    orgs = {k: d.make_org(kind=kind, sectors=sectors) for k, kind, sectors in (
        ("A", "essential", ["energy.gas"]), ("B", "important", ["health"]),
        ("R", "private", ["banking"]), ("C", "public", ["transport"]))}
    p = {
        "audience-member": d.principal("member", orgs["A"]["id"]),
        "audience-idle": d.principal("member", orgs["A"]["id"]),
        "other-member": d.principal("member", orgs["B"]["id"]),
        "red-user": d.principal("member", orgs["R"]["id"]),
        "red-colleague": d.principal("member", orgs["R"]["id"]),
        "publisher": d.principal("publisher"),
        "idle-member": d.principal("member", orgs["C"]["id"]),
        "idle-publisher": d.principal("publisher"),
        "email-only": d.principal("member", orgs["B"]["id"]),
    }
    for who in ("audience-member", "other-member", "red-colleague",
                "publisher"):
        subscribe(d, p[who]["token"], EVERYTHING)
    subscribe(d, p["idle-publisher"]["token"], SENTINEL_ONLY)
    subscribe(d, p["email-only"]["token"], EVERYTHING, ("email",))
    return p, orgs


def last_event_id(d):
    return int(d.db.scalar("SELECT coalesce(max(event_id), 0) FROM events"))


def publish_matrix(d, people, orgs):
    """Each label published, then revised; then the sentinel. Returns
    ({event_id: (type, label, advisory id)}, sentinel event id)."""
    pub = people["publisher"]["token"]
    events, docs = {}, {}
    for label in LABELS:
        aud = {"organisations": [orgs["A"]["id"]]}
        if label == "RED":
            aud["users"] = [people["red-user"]["id"]]
        doc = advisory(tlp=label, audience=aud, title="matrix " + label)
        r = d.api("POST", "/v1/advisories", pub, json=doc)
        eq(r.status, 201, "publish %s" % label)
        events[r.body["event_id"]] = ("advisory.published", label,
                                      r.body["id"])
        docs[label] = (r.body["id"], doc)
    for label in LABELS:
        aid, doc = docs[label]
        r = d.api("PUT", "/v1/advisories/" + aid, pub,
                  json=dict(doc, title="matrix %s, revised" % label))
        eq(r.status, 200, "revise %s" % label)
        events[r.body["event_id"]] = ("advisory.updated", label, aid)
    s = d.publish(pub, title="Sentinel after the matrix",
                  audience={"organisations": [o["id"] for o in orgs.values()]})
    return events, s["event_id"]


def expected_for(col, events):
    return [eid for eid in sorted(events)
            if PUSHED[events[eid][1]][col]]


def check_items(who, col, items, events, sentinel, path, bad):
    """items: the item messages received up to the sentinel (included)."""
    got = [m["event_id"] for m in items]
    want = expected_for(col, events) + [sentinel]
    for m in items:
        ev = events.get(m["event_id"])
        if ev is None:
            continue
        # The label travels on every copy (TLP.md, "Labels on every copy").
        if (m["type"], m["tlp"], m["data"].get("id"), m["data"].get("tlp")) \
                != (ev[0], ev[1], ev[2], ev[1]):
            bad.append("%s %s: event %d is %r, want %r" % (
                path, who, m["event_id"],
                (m["type"], m["tlp"], m["data"].get("id"),
                 m["data"].get("tlp")), (ev[0], ev[1], ev[2], ev[1])))
    for label in LABELS:
        for typ in ("advisory.published", "advisory.updated"):
            eid = [e for e, v in events.items() if v[:2] == (typ, label)][0]
            exp = bool(PUSHED[label][col])
            n = got.count(eid)
            ok = n == (1 if exp else 0)
            log("%-7s %-13s %-18s %-16s %s: got %d -> %s" % (
                path, label, typ, who, "pushed" if exp else "nothing", n,
                "ok" if ok else "WRONG"))
            if not ok:
                bad.append("%s %s x %s (%s): received %d time(s), want %d"
                           % (path, label, who, typ, n, int(exp)))
    if got != want:
        bad.append("%s %s: event ids %r, want exactly %r" % (path, who, got,
                                                             want))


async def read_to_sentinel(s, sentinel, timeout=10):
    """Item messages up to and including the sentinel."""
    items = []
    deadline = time.monotonic() + timeout
    while True:
        m = await s.recv(max(0.1, deadline - time.monotonic()))
        if m["type"] == "error":
            raise AssertionError("stream error %r" % m)
        if m["type"] in ITEM_TYPES:
            items.append(m)
            if m["event_id"] >= sentinel:
                return items


async def replay_until_ready(url, token, since, timeout=15):
    """Connect with ?since=; the item messages before "ready", and ready."""
    s = Stream(url, token, since=since)
    await s.connect()
    items = []
    try:
        deadline = time.monotonic() + timeout
        while True:
            m = await s.recv(max(0.1, deadline - time.monotonic()))
            if m["type"] == "ready":
                return items, m
            if m["type"] == "error":
                raise AssertionError("stream error %r" % m)
            items.append(m)
    finally:
        await s.close()


def stream_threads(d):
    """How many of the daemon's threads are named "stream"."""
    n = 0
    for task in os.listdir("/proc/%d/task" % d.proc.pid):
        with open("/proc/%d/task/%s/comm" % (d.proc.pid, task)) as f:
            n += f.read().strip() == "stream"
    return n


@test
async def tlp_matrix_live_and_replay():
    db = new_database("stream_tlp")
    d = Daemon(db, stream={"threads": 3})
    eq(stream_threads(d), 3, "stream threads with stream.threads 3")
    people, orgs = cast(d)
    base = last_event_id(d)

    # Live: everyone connected and ready before the first item.
    streams = {}
    for who in WHO:
        streams[who] = Stream(d.ws_url, people[who]["token"])
    await asyncio.gather(*(s.connect() for s in streams.values()))
    readies = await asyncio.gather(*(
        s.recv_until(lambda m: m["type"] == "ready", 10)
        for s in streams.values()))
    for r in readies:
        eq(r["last_event_id"], base, "ready.last_event_id before the matrix")

    events, sentinel = publish_matrix(d, people, orgs)
    bad = []
    got = await asyncio.gather(*(read_to_sentinel(streams[w], sentinel)
                                 for w in WHO))
    for col, who in enumerate(WHO):
        check_items(who, col, got[col], events, sentinel, "live", bad)
    for s in streams.values():
        await s.close()

    # Replay from the ring of the same tocsind.
    for col, who in enumerate(WHO):
        items, ready = await replay_until_ready(d.ws_url,
                                                people[who]["token"], base)
        assert ready["last_event_id"] >= sentinel, ready
        check_items(who, col, items, events, sentinel, "ring", bad)

    # Replay from the database: a second tocsind, started now, has none of
    # these events in its ring.
    d2 = Daemon(db, migrate=False, bootstrap=False, stream={"threads": 1})
    eq(stream_threads(d2), 1, "stream threads with stream.threads 1")
    for col, who in enumerate(WHO):
        items, ready = await replay_until_ready(d2.ws_url,
                                                people[who]["token"], base)
        assert ready["last_event_id"] >= sentinel, ready
        check_items(who, col, items, events, sentinel, "db", bad)
    d2.stop()
    assert not bad, "wrong cells:\n  " + "\n  ".join(bad)


if __name__ == "__main__":
    main()
