#!/usr/bin/python3
"""40-advisory-ids: identifiers PREFIX-YYYY-NNNN under concurrency: 8
clients x 100 publishes give 800 unique, gap-free numbers 0001..0800, and
refused publishes in between take no number."""

import datetime
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


if __name__ == "__main__":
    main()
