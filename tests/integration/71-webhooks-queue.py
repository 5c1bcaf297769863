#!/usr/bin/python3
"""71-webhooks-queue: the outbox as a queue. A kill -9 in the middle of
500 deliveries loses none (duplicates counted and reported); two tocsind
on one database share the queue without sending anything twice; the
charter's priority order decides who is served first."""

import collections
import re
import time

from harness import *
from webhook_sink import *


def daemon(name, **kw):
    d = Daemon(new_database(name), start=False)
    outbox_config(d, allow_private=True, timeout_s=kw.pop("timeout_s", 2),
                  **kw)
    d.start()
    return d


def endpoints(d, sink, org_id, n, prefix, delay=0.0):
    """n endpoints of organisation org_id (created by the admin), each a
    path of the sink; v1 verified on every request, v1a on none (speed)."""
    eps = []
    for i in range(n):
        ep = sink.endpoint("%s-%d" % (prefix, i))
        ep.delay = delay
        ep.verify_v1a = False
        make_webhook(d, d.admin_token, ep, org_id=org_id)
        eps.append(ep)
    return eps


def all_ids(eps):
    ids = []
    for ep in eps:
        ids.extend(ep.ids())
    return ids


@test
def crash_loses_nothing():
    d = daemon("wh_crash")
    sink = Sink()
    pub = d.principal("publisher")
    org = d.make_org(kind="important")
    eps = endpoints(d, sink, org["id"], 50, "crash", delay=0.3)
    for _ in range(10):
        d.publish(pub["token"], audience={"organisations": [org["id"]]})
    eq(d.db.scalar("SELECT count(*) FROM deliveries"), "500", "planned")
    wait_until(lambda: len(all_ids(eps)) >= 120, 60, "120 requests")
    d.kill()
    at_kill = len(all_ids(eps))
    states = dict(d.db.sql("SELECT state, count(*) FROM deliveries "
                           "GROUP BY state"))
    log("killed after %d requests; rows: %s" % (at_kill, states))
    assert int(states.get("pending", 0)) > 0, "nothing left to recover"
    d.start()
    wait_until(lambda: len(set(all_ids(eps))) >= 500, 120,
               "500 distinct webhook-ids")
    wait_until(lambda: d.db.scalar("SELECT count(*) FROM deliveries WHERE "
                                   "state = 'delivered'") == "500", 30,
               "500 rows delivered")
    ids = all_ids(eps)
    dup = len(ids) - len(set(ids))
    log("crash test: %d requests, %d distinct webhook-ids, %d duplicates "
        "(at-least-once: requests in flight at the kill)" %
        (len(ids), len(set(ids)), dup))
    want = {r[0] for r in d.db.sql("SELECT msg_id FROM deliveries")}
    eq(set(ids), want, "the webhook-ids received")
    assert dup <= 64, "more duplicates (%d) than requests in flight" % dup
    for ep in eps:
        ep.assert_valid()
    sink.close()


@test
def two_daemons_share_the_queue():
    d1 = daemon("wh_two")
    d2 = Daemon(d1.db.dsn, migrate=False, bootstrap=False, start=False)
    d2.admin_token = d1.admin_token
    outbox_config(d2, allow_private=True, timeout_s=2)
    d2.start()
    sink = Sink()
    pub = d1.principal("publisher")
    org = d1.make_org(kind="essential")
    eps = endpoints(d1, sink, org["id"], 20, "two", delay=0.05)
    for i in range(20):
        (d1 if i % 2 else d2).publish(pub["token"], audience={
            "organisations": [org["id"]]})
    wait_until(lambda: len(set(all_ids(eps))) >= 400, 60, "400 deliveries")
    time.sleep(2)
    ids = all_ids(eps)
    counts = collections.Counter(ids)
    twice = [i for i, n in counts.items() if n > 1]
    eq(twice, [], "webhook-ids sent twice")
    eq(len(ids), 400, "requests")

    def claimed(d):
        return sum(int(m.group(1)) for m in re.finditer(
            r"deliver: claimed (\d+) deliveries", d.stderr()))
    c1, c2 = claimed(d1), claimed(d2)
    log("claimed: daemon 1 %d, daemon 2 %d" % (c1, c2))
    eq(c1 + c2, 400, "claims in all")
    assert c1 > 0 and c2 > 0, "one daemon did all the work"
    for ep in eps:
        ep.assert_valid()
    sink.close()


@test
def essential_entities_first():
    d = daemon("wh_priority", timeout_s=5, concurrency=16)
    sink = Sink()
    pub = d.principal("publisher")
    kinds = ["public", "private", "important", "authority", "essential"]
    kind_of, orgs, eps = {}, [], []
    for kind in kinds:
        for i in range(30):
            org = d.make_org(kind=kind)
            orgs.append(org["id"])
            ep = endpoints(d, sink, org["id"], 1, "prio-%s-%d" % (kind, i),
                           delay=1.0)[0]
            kind_of[ep.path] = kind
            eps.append(ep)
    d.publish(pub["token"], audience={"organisations": orgs})
    wait_until(lambda: len(all_ids(eps)) >= 150, 90, "150 deliveries")
    arrivals = sorted((r.t, kind_of[r.path]) for ep in eps
                      for r in ep.requests)
    order = [k for _, k in arrivals]
    log("arrival order by kind: %s" % " ".join(k[:3] for k in order))
    first = {k: min(t for t, kk in arrivals if kk == k) for k in kinds}
    last = {k: max(t for t, kk in arrivals if kk == k) for k in kinds}
    rest = min(first["private"], first["public"])
    assert last["essential"] < rest, \
        "a private/public delivery started before the last essential one"
    assert last["authority"] < rest, \
        "a private/public delivery started before the last authority one"
    rank = {k: sum(i for i, kk in enumerate(order) if kk == k) / 30.0
            for k in kinds}
    log("mean arrival rank: %s" % rank)
    assert rank["essential"] < rank["important"] < min(rank["private"],
                                                        rank["public"]), \
        "arrivals not in the charter's order: %s" % rank
    assert rank["authority"] < rank["important"], rank
    # The same, as the worker recorded when each request started.
    wait_until(lambda: d.db.scalar("SELECT count(*) FROM deliveries WHERE "
                                   "state = 'delivered'") == "150", 30,
               "150 deliveries recorded")
    started = [r[0] for r in d.db.sql(
        "SELECT o.kind FROM delivery_attempts a JOIN deliveries d "
        "ON d.id = a.delivery_id JOIN organisations o "
        "ON o.id = d.organisation_id ORDER BY a.started_at, d.id")]
    eq(len(started), 150, "attempts recorded")
    log("start order by kind: %s" % " ".join(k[:3] for k in started))
    prio = {"essential": 0, "authority": 1, "important": 2, "private": 3,
            "public": 3}
    eq([prio[k] for k in started], sorted(prio[k] for k in started),
       "started in the charter's order")
    for ep in eps:
        ep.assert_valid()
    sink.close()


@test
def sigterm_finishes_or_hands_back():
    """SIGTERM: a request that answers in time is recorded; one that does
    not is handed back untried (pending, attempt undone) and the daemon
    still exits 0 within 10 s; a restart delivers it."""
    d = daemon("wh_sigterm", timeout_s=30)
    sink = Sink()
    pub = d.principal("publisher")
    org = d.make_org(kind="essential")
    quick, slow = endpoints(d, sink, org["id"], 2, "term")
    quick.delay, slow.delay = 2.0, 25.0
    d.publish(pub["token"], audience={"organisations": [org["id"]]})
    quick.wait_count(1)
    slow.wait_count(1)
    t0 = time.monotonic()
    d.stop()                        # asserts exit 0 within 10 s
    log("stopped in %.1f s" % (time.monotonic() - t0))
    rows = dict((r[0], (r[1], r[2])) for r in d.db.sql(
        "SELECT webhook_id, state, attempts FROM deliveries"))
    eq(rows[str(quick.webhook["id"])], ("delivered", "1"), "finished in time")
    eq(rows[str(slow.webhook["id"])], ("pending", "0"), "handed back")
    slow.delay = 0
    d.start()
    slow.wait_count(2)
    wait_until(lambda: d.db.scalar("SELECT count(*) FROM deliveries WHERE "
                                   "state = 'delivered'") == "2", 20,
               "both delivered")
    eq(len(set(slow.ids())), 1, "the same webhook-id after the restart")
    sink.close()


if __name__ == "__main__":
    main()
