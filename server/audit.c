/*
 * audit.c: the audit log (schema/006_audit.sql): who published, revised
 * or revoked an advisory, changed its TLP or audience, made or revoked a
 * token, decided an asset, read a delivery report, exported or deleted a
 * user, signed in. audit_record() writes one entry on the caller's
 * connection, so an action with a transaction commits with its entry or
 * not at all. Entries carry ids, never e-mail addresses or secrets; the
 * client address is the one ratelimit.c found for this thread's request.
 * Read by admins (GET /v1/audit, api_audit.c); kept retention.audit_days
 * (retention.c).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define AUDIT_ADDR_MAX	64

#define AUDIT_COLUMNS \
	"id, to_char(at AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), actor_user_id, action, " \
	"object_type, object_id, details, host(client_addr)"

/* The REST thread's client address (ratelimit_admit sets it). */
static _Thread_local char	audit_client[AUDIT_ADDR_MAX];

/* The address of the request this thread serves; NULL: none. */
void
audit_set_client(const char *addr)
{
	if (addr == NULL)
		audit_client[0] = '\0';
	else
		snprintf(audit_client, sizeof audit_client, "%s", addr);
}

/* The address of the request this thread serves, or NULL. */
const char *
audit_client_addr(void)
{
	return (audit_client[0] != '\0' ? audit_client : NULL);
}

/*
 * Write an entry: ACTOR (0: the system) did ACTION ("advisory.publish")
 * to OBJECT_TYPE OBJECT_ID (may be NULL), with DETAILS (stolen; NULL: {}).
 * Inside the caller's transaction, if it has one. 0, or -1 (logged; the
 * transaction is then aborted and the action should fail with it).
 */
int
audit_record(PGconn *db, int64_t actor, const char *action,
    const char *object_type, const char *object_id, json_t *details)
{
	const char	*params[6];
	char		 actorbuf[24], *d;
	int		 rc;

	snprintf(actorbuf, sizeof actorbuf, "%" PRId64, actor);
	if (details == NULL)
		details = json_object();
	d = json_dumps(details, JSON_COMPACT);
	params[0] = actor > 0 ? actorbuf : NULL;
	params[1] = action;
	params[2] = object_type;
	params[3] = object_id;
	params[4] = d != NULL ? d : "{}";
	params[5] = audit_client[0] != '\0' ? audit_client : NULL;
	rc = db_exec_ok(db, "INSERT INTO audit (actor_user_id, action, "
	    "object_type, object_id, details, client_addr) VALUES ($1, $2, $3, "
	    "$4, $5::jsonb, $6::inet)", 6, params);
	free(d);
	json_decref(details);
	if (rc != 0) {
		log_warn("audit: %s of %s %s by user %" PRId64 " not recorded",
		    action, object_type, object_id != NULL ? object_id : "-",
		    actor);
		metrics_audit_failure();
	}
	return (rc);
}

/* The same with an integer object id. */
int
audit_record_id(PGconn *db, int64_t actor, const char *action,
    const char *object_type, int64_t object_id, json_t *details)
{
	char	buf[24];

	snprintf(buf, sizeof buf, "%" PRId64, object_id);
	return (audit_record(db, actor, action, object_type, buf, details));
}

/* Row I of RES (AUDIT_COLUMNS) as the API shows it. */
json_t *
audit_row_json(PGresult *res, int i)
{
	json_t		*v, *details;
	json_error_t	 err;

	details = json_loads(PQgetvalue(res, i, 6), 0, &err);
	v = json_pack("{s:I, s:s, s:o, s:s, s:s, s:o, s:o, s:o}",
	    "id", (json_int_t)strtoll(PQgetvalue(res, i, 0), NULL, 10),
	    "at", PQgetvalue(res, i, 1),
	    "actor_user_id", PQgetisnull(res, i, 2) ? json_null() :
	    json_integer(strtoll(PQgetvalue(res, i, 2), NULL, 10)),
	    "action", PQgetvalue(res, i, 3),
	    "object_type", PQgetvalue(res, i, 4),
	    "object_id", PQgetisnull(res, i, 5) ? json_null() :
	    json_string(PQgetvalue(res, i, 5)),
	    "details", details != NULL ? details : json_object(),
	    "client_address", PQgetisnull(res, i, 7) ? json_null() :
	    json_string(PQgetvalue(res, i, 7)));
	return (v);
}

/*
 * One page of entries matching Q, newest first: 0 and *items (a new
 * array) and *next (0: last page), or -1.
 */
int
audit_list(PGconn *db, const struct audit_query *q, json_t **items,
    int64_t *next)
{
	const char	*params[7];
	char		 cursor[24], actor[24], limit[16];
	PGresult	*res;
	int		 i, n;

	*items = NULL;
	*next = 0;
	snprintf(cursor, sizeof cursor, "%" PRId64, q->cursor > 0 ? q->cursor :
	    INT64_MAX);
	snprintf(actor, sizeof actor, "%" PRId64, q->actor);
	snprintf(limit, sizeof limit, "%d", q->limit + 1);
	params[0] = cursor;
	params[1] = q->actor > 0 ? actor : NULL;
	params[2] = q->action;
	params[3] = q->since;
	params[4] = q->object_type;
	params[5] = q->object_id;
	params[6] = limit;
	res = db_exec(db, "SELECT " AUDIT_COLUMNS " FROM audit "
	    "WHERE id < $1::bigint "
	    "AND ($2::bigint IS NULL OR actor_user_id = $2) "
	    "AND ($3::text IS NULL OR action = $3) "
	    "AND ($4::timestamptz IS NULL OR at >= $4) "
	    "AND ($5::text IS NULL OR object_type = $5) "
	    "AND ($6::text IS NULL OR object_id = $6) "
	    "ORDER BY id DESC LIMIT $7", 7, params);
	if (res == NULL)
		return (-1);
	n = PQntuples(res);
	*items = json_array();
	for (i = 0; i < n && i < q->limit; i++)
		json_array_append_new(*items, audit_row_json(res, i));
	if (n > q->limit)
		*next = strtoll(PQgetvalue(res, q->limit - 1, 0), NULL, 10);
	PQclear(res);
	return (0);
}

/*
 * Every entry about user ID, oldest first, for its export: what it did,
 * what was done to it or to its tokens. A new array, or
 * NULL.
 */
json_t *
audit_about_user(PGconn *db, int64_t id)
{
	const char	*params[2];
	char		 idbuf[24];
	PGresult	*res;
	json_t		*items;
	int		 i;

	snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
	params[0] = idbuf;	/* as a number */
	params[1] = idbuf;	/* as an object id */
	res = db_exec(db, "SELECT " AUDIT_COLUMNS " FROM audit "
	    "WHERE actor_user_id = $1::bigint "
	    "OR (object_type = 'user' AND object_id = $2::text) "
	    "OR (object_type = 'token' AND object_id IN (SELECT id::text "
	    "FROM tokens WHERE user_id = $1::bigint)) "
	    "ORDER BY id", 2, params);
	if (res == NULL)
		return (NULL);
	items = json_array();
	for (i = 0; i < PQntuples(res); i++)
		json_array_append_new(items, audit_row_json(res, i));
	PQclear(res);
	return (items);
}

/* Delete the entries older than DAYS; how many, or -1. */
int64_t
audit_purge(PGconn *db, int days)
{
	const char	*params[1];
	char		 daysbuf[16];
	PGresult	*res;
	int64_t		 n;

	snprintf(daysbuf, sizeof daysbuf, "%d", days);
	params[0] = daysbuf;
	res = db_exec(db, "DELETE FROM audit WHERE at < now() - "
	    "make_interval(days => $1::int)", 1, params);
	if (res == NULL)
		return (-1);
	n = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return (n);
}
