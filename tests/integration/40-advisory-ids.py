#!/usr/bin/python3
"""40-advisory-ids: identifiers PREFIX-YYYY-NNNN under concurrency: 8
clients x 100 publishes give 800 unique, gap-free numbers 0001..0800, and
refused publishes in between take no number. Publishes that arrive
together are written in one transaction (server/publish.c): the answer is
what GET shows, and an advisory that the database refuses inside such a
group fails alone and gives its number back."""

import datetime
import json
import threading

from harness import *

CLIENTS = 8
EACH = 100


@test
def concurrent_publishes_get_gap_free_ids():
    d = Daemon(new_database("ids"), advisory_id_prefix="IDT")
    tokens = [d.principal("publisher")["token"] for _ in range(CLIENTS)]
    year = datetime.datetime.now(datetime.timezone.utc).year
    results = [[] for _ in range(CLIENTS)]
    errors = []
    start = threading.Barrier(CLIENTS)

    def client(i):
        try:
            start.wait(30)
            for n in range(EACH):
                r = d.api("POST", "/v1/advisories", tokens[i], json=advisory(
                    title="client %d publish %d" % (i, n), severity="low"))
                results[i].append((r.status, r.body))
                if n % 10 == 5:     # a refused one must not take a number
                    bad = d.api("POST", "/v1/advisories", tokens[i],
                                json=advisory(tlp="AMBER"))
                    results[i].append((bad.status, None))
        except Exception as e:
            errors.append("client %d: %r" % (i, e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log("%d publishes in %.1fs" % (CLIENTS * EACH, time.monotonic() - t0))
    assert not errors, "; ".join(errors)

    created = [b for res in results for st, b in res if b is not None]
    statuses = sorted({st for res in results for st, b in res if b is not None})
    eq(statuses, [201], "statuses of the valid publishes")
    eq(len(created), CLIENTS * EACH, "created advisories")
    refused = {st for res in results for st, b in res if b is None}
    eq(refused, {422}, "statuses of the invalid publishes")

    nums = []
    for b in created:
        m = re.fullmatch(r"IDT-(\d{4})-(\d{4,})", b["id"])
        assert m, "identifier %r is not IDT-YYYY-NNNN" % b["id"]
        eq(int(m.group(1)), year, "year in %s" % b["id"])
        eq(b.get("revision"), 1, "revision of %s" % b["id"])
        nums.append(int(m.group(2)))
    eq(len(set(b["id"] for b in created)), len(created), "unique identifiers")
    eq(sorted(nums), list(range(1, CLIENTS * EACH + 1)), "numbers 1..800")
    ev = [b.get("event_id") for b in created]
    assert all(isinstance(e, int) for e in ev), "an event_id is not an integer"
    eq(len(set(ev)), len(ev), "unique event ids")

    # Each client saw its own numbers increase.
    for i, res in enumerate(results):
        mine = [int(b["id"].rsplit("-", 1)[1]) for st, b in res if b is not None]
        eq(mine, sorted(mine), "numbers seen by client %d in order" % i)
    # And the server agrees: every identifier is listed once.
    listed = d.list_all("/v1/advisories", tokens[0], limit=200)
    eq(sorted(a["id"] for a in listed), sorted(b["id"] for b in created),
       "listed identifiers")
    # Four digits, zero-padded, below 10000.
    assert "IDT-%d-0001" % year in {b["id"] for b in created}
    # The answer to the publish is the advisory as GET shows it, and the
    # event carries the same, without the audience.
    for b in created[::97]:
        got = d.api("GET", "/v1/advisories/" + b["id"], tokens[0])
        eq(got.status, 200, "GET %s" % b["id"])
        want = dict(b)
        del want["event_id"]
        eq(got.body, want, "publish answer vs GET of %s" % b["id"])
        data = json.loads(d.db.scalar(
            "SELECT data FROM events WHERE item_id = '%s'" % b["id"]))
        del want["audience"]
        eq(data, want, "event data of %s" % b["id"])
    eq(int(d.db.scalar("SELECT count(*) FROM audit WHERE action = "
                       "'advisory.publish'")), CLIENTS * EACH,
       "audit entries of the publishes")


@test
def a_refused_advisory_in_a_group_fails_alone():
    d = Daemon(new_database("idgroup"), advisory_id_prefix="GRP")
    token = d.principal("publisher")["token"]
    year = datetime.datetime.now(datetime.timezone.utc).year
    # The database refuses one title: a stand-in for any failure of one
    # advisory inside a group (validation has passed; the insert fails).
    d.db.sql("CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql "
             "AS $$ BEGIN IF NEW.title = 'poison' THEN RAISE EXCEPTION "
             "'poisoned'; END IF; RETURN NEW; END $$; "
             "CREATE TRIGGER poison BEFORE INSERT ON advisory_revisions "
             "FOR EACH ROW EXECUTE FUNCTION poison()")
    good, bad, errors = [], [], []

    def burst(k):
        start = threading.Barrier(CLIENTS)

        def one(i):
            try:
                start.wait(30)
                title = "poison" if i == k % CLIENTS else "burst %d/%d" % (k, i)
                r = d.api("POST", "/v1/advisories", token,
                          json=advisory(title=title))
                (bad if title == "poison" else good).append(r)
            except Exception as e:
                errors.append(repr(e))
        ts = [threading.Thread(target=one, args=(i,)) for i in range(CLIENTS)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    # Bursts until a group holding the refused one has been written (the
    # daemon says so), at most 50.
    grouped = "failed; each on its own"
    for k in range(50):
        burst(k)
        if grouped in d.stderr():
            break
    assert not errors, "; ".join(errors)
    assert grouped in d.stderr(), \
        "no burst made a group holding the refused advisory"
    eq({r.status for r in bad}, {500}, "statuses of the refused publishes")
    for r in bad:
        problem_ok(r, 500)
    eq({r.status for r in good}, {201}, "statuses of the others")
    nums = sorted(int(r.body["id"].rsplit("-", 1)[1]) for r in good)
    eq(nums, list(range(1, len(good) + 1)), "numbers: gap-free")
    assert all(r.body["id"].startswith("GRP-%d-" % year) for r in good)
    eq(int(d.db.scalar("SELECT count(*) FROM advisories")), len(good),
       "advisories stored")
    eq(int(d.db.scalar("SELECT count(*) FROM events")), len(good),
       "events written")
    eq(int(d.db.scalar("SELECT count(*) FROM advisory_revisions "
                       "WHERE title = 'poison'")), 0, "refused one stored")


if __name__ == "__main__":
    main()
