/*
 * store_events.c: the event log that the stream and the delivery workers
 * read. An event is written in the same transaction as the change it
 * announces, together with its outbox rows (store_outbox_plan: webhook and
 * e-mail deliveries), and NOTIFY tells every tocsind instance at commit.
 *
 * Why the lock: a bigserial alone does not make ids visible in order (two
 * transactions may commit in the other order than they took their ids), and
 * a reader resuming "after N" would then miss the smaller id forever. The
 * transaction-scoped advisory lock is held until commit, so whoever takes an
 * id next commits after us, and "event_id > last seen" never skips one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "tocsind.h"

#define STORE_EVENTS_LOCK	"7411002"

/* Append an event inside the caller's transaction; its id, or -1. */
int64_t
store_events_insert(PGconn *db, const char *type, const char *item_kind,
    const char *item_id, int revision, const char *tlp, json_t *scope,
    json_t *data)
{
	PGresult	*res;
	const char	*params[7];
	char		 rev[24], *scope_s, *data_s;
	int64_t		 id = -1;

	if (db_exec_ok(db, "SELECT pg_advisory_xact_lock(" STORE_EVENTS_LOCK
	    ")", 0, NULL) != 0)
		return (-1);
	snprintf(rev, sizeof rev, "%d", revision);
	scope_s = json_dumps(scope, JSON_COMPACT | JSON_REAL_PRECISION(15));
	data_s = json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(15));
	params[0] = type;
	params[1] = item_kind;
	params[2] = item_id;
	params[3] = rev;
	params[4] = tlp;
	params[5] = scope_s;
	params[6] = data_s;
	res = db_exec(db, "INSERT INTO events (type, item_kind, item_id, "
	    "revision, tlp, scope, data) VALUES ($1, $2, $3, $4, $5, $6, $7) "
	    "RETURNING event_id", 7, params);
	free(scope_s);
	free(data_s);
	if (res == NULL)
		return (-1);
	id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	/* The outbox rows commit with the event, or neither does. */
	if (store_outbox_plan(db, id, item_kind, scope) < 0)
		return (-1);
	params[0] = TOCSIN_NOTIFY_EVENTS;
	snprintf(rev, sizeof rev, "%lld", (long long)id);
	params[1] = rev;
	if (db_exec_ok(db, "SELECT pg_notify($1, $2)", 2, params) != 0)
		return (-1);
	metrics_event(type);	/* counted when the transaction commits */
	return (id);
}
