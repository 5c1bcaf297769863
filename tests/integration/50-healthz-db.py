#!/usr/bin/python3
"""50-healthz-db: /healthz follows PostgreSQL: 200, 503 while it is down
(and every request needing it answers 503, not 401 or 500), 200 again once
it is back, without restarting tocsind. The cluster stopped is a private
one of this test, never the run's shared cluster."""

from harness import *


@test
def healthz_follows_postgresql():
    pg = PrivateCluster("pg-healthz").start()
    db = new_database("healthz", on=pg)
    d = Daemon(db)
    pub = d.principal("publisher")["token"]
    r = d.api("GET", "/healthz")
    eq(r.status, 200, "/healthz with PostgreSQL up")
    eq(r.body, {"status": "ok"}, "/healthz body")
    before = d.publish(pub)

    pg.stop()
    d.wait_health(503, 30)
    problem_ok(d.api("GET", "/healthz"), 503)
    problem_ok(d.api("GET", "/v1/advisories", pub), 503)
    problem_ok(d.api("GET", "/v1/advisories/" + before["id"], pub), 503)
    problem_ok(d.api("POST", "/v1/advisories", pub, json=advisory()), 503)
    assert d.alive(), "tocsind exited when PostgreSQL went away"

    pg.start()
    d.wait_health(200, 60)
    assert d.alive()
    # The pool reconnected: reads and writes work on the old connections'
    # replacements, and nothing was half-written while it was down.
    items = d.list_all("/v1/advisories", pub)
    eq([a["id"] for a in items], [before["id"]], "advisories after the outage")
    after = d.publish(pub)
    eq(d.api("GET", "/v1/advisories/" + after["id"], pub).status, 200,
       "GET after the outage")
    d.stop()
    pg.stop()


if __name__ == "__main__":
    main()
