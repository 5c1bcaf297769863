/*
 * store_organisations.c: the SQL for organisations. The REST handlers call
 * it inside their request's transaction. A change that alters what the
 * organisation's users may see (kind, sectors, active) is announced on
 * tocsin_principals in that same transaction, so live WebSocket connections
 * re-read their principal once it commits.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define STORE_ORGANISATIONS_TS(c) \
	"to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define STORE_ORGANISATIONS_COLUMNS \
	"id, name, kind, sectors, contact_email, active, " \
	STORE_ORGANISATIONS_TS("created_at") ", " \
	STORE_ORGANISATIONS_TS("updated_at")

/* Fill O from row ROW of RES (STORE_ORGANISATIONS_COLUMNS). */
static int
store_organisations_fill(PGresult *res, int row, struct organisation *o)
{
	memset(o, 0, sizeof *o);
	if (kind_parse(PQgetvalue(res, row, 2), &o->kind) != 0 ||
	    pg_parse_text_array(PQgetvalue(res, row, 3), &o->sectors,
	    &o->n_sectors) != 0) {
		log_warn("organisation %s: unreadable row",
		    PQgetvalue(res, row, 0));
		return (-1);
	}
	o->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	o->name = xstrdup(PQgetvalue(res, row, 1));
	if (!PQgetisnull(res, row, 4))
		o->contact_email = xstrdup(PQgetvalue(res, row, 4));
	o->active = PQgetvalue(res, row, 5)[0] == 't';
	o->created_at = xstrdup(PQgetvalue(res, row, 6));
	o->updated_at = xstrdup(PQgetvalue(res, row, 7));
	return (0);
}

/* Tell live connections that the organisation's users must be re-read. */
int
store_organisations_notify(PGconn *db, int64_t id)
{
	char		 payload[40];
	const char	*params[1];

	snprintf(payload, sizeof payload, "org:%" PRId64, id);
	params[0] = payload;
	return (db_exec_ok(db, "SELECT pg_notify('" TOCSIN_NOTIFY_PRINCIPALS
	    "', $1)", 1, params));
}

/* Insert O (id and times filled in); 0, TOCSIN_STORE_CONFLICT or -1. */
int
store_organisations_insert(PGconn *db, struct organisation *o)
{
	const char	*params[4];
	char		*sectors;
	PGresult	*res;
	struct organisation created;
	int		 conflict, rc;

	sectors = pg_text_array(o->sectors, o->n_sectors);
	params[0] = o->name;
	params[1] = kind_name(o->kind);
	params[2] = sectors;
	params[3] = o->contact_email;
	res = db_exec_unique(db, "INSERT INTO organisations "
	    "(name, kind, sectors, contact_email) "
	    "VALUES ($1, $2, $3::text[], $4) "
	    "RETURNING " STORE_ORGANISATIONS_COLUMNS, 4, params, &conflict);
	free(sectors);
	if (res == NULL)
		return (conflict ? TOCSIN_STORE_CONFLICT : -1);
	rc = PQntuples(res) == 1 ?
	    store_organisations_fill(res, 0, &created) : -1;
	PQclear(res);
	if (rc != 0)
		return (-1);
	store_organisations_clear(o);
	*o = created;
	return (0);
}

/* Read organisation ID (active or not), locking it if LOCK. */
int
store_organisations_get(PGconn *db, int64_t id, int lock,
    struct organisation *o)
{
	PGresult	*res;
	int		 rc;

	memset(o, 0, sizeof *o);
	res = db_exec_id(db, lock ?
	    "SELECT " STORE_ORGANISATIONS_COLUMNS " FROM organisations "
	    "WHERE id = $1 FOR UPDATE" :
	    "SELECT " STORE_ORGANISATIONS_COLUMNS " FROM organisations "
	    "WHERE id = $1", id);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) != 1)
		rc = TOCSIN_STORE_NOT_FOUND;
	else
		rc = store_organisations_fill(res, 0, o);
	PQclear(res);
	return (rc);
}

/*
 * Up to LIMIT organisations with an id above AFTER, in id order; ONLY, if
 * not 0, narrows the list to that one organisation (an org-admin's view).
 */
int
store_organisations_list(PGconn *db, int64_t only, int64_t after, int limit,
    struct organisation **out, size_t *n)
{
	char		 onlybuf[24], afterbuf[24], limitbuf[16];
	const char	*params[3];
	PGresult	*res;
	int		 i, rows;

	*out = NULL;
	*n = 0;
	snprintf(onlybuf, sizeof onlybuf, "%" PRId64, only);
	snprintf(afterbuf, sizeof afterbuf, "%" PRId64, after);
	snprintf(limitbuf, sizeof limitbuf, "%d", limit);
	params[0] = onlybuf;
	params[1] = afterbuf;
	params[2] = limitbuf;
	res = db_exec(db, "SELECT " STORE_ORGANISATIONS_COLUMNS
	    " FROM organisations WHERE ($1::bigint = 0 OR id = $1) "
	    "AND id > $2 ORDER BY id LIMIT $3", 3, params);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	if (rows > 0)
		*out = xcalloc(rows, sizeof **out);
	for (i = 0; i < rows; i++) {
		if (store_organisations_fill(res, i, &(*out)[*n]) != 0)
			break;
		(*n)++;
	}
	PQclear(res);
	if (i != rows) {
		for (i = 0; (size_t)i < *n; i++)
			store_organisations_clear(&(*out)[i]);
		free(*out);
		*out = NULL;
		*n = 0;
		return (-1);
	}
	return (0);
}

/*
 * Write every field of O back (updated_at refreshed in O) and announce the
 * change; 0, TOCSIN_STORE_NOT_FOUND, TOCSIN_STORE_CONFLICT or -1.
 */
int
store_organisations_update(PGconn *db, struct organisation *o)
{
	char		 idbuf[24], *sectors;
	const char	*params[6];
	PGresult	*res;
	struct organisation updated;
	int		 conflict, rc;

	snprintf(idbuf, sizeof idbuf, "%" PRId64, o->id);
	sectors = pg_text_array(o->sectors, o->n_sectors);
	params[0] = idbuf;
	params[1] = o->name;
	params[2] = kind_name(o->kind);
	params[3] = sectors;
	params[4] = o->contact_email;
	params[5] = o->active ? "true" : "false";
	res = db_exec_unique(db, "UPDATE organisations SET "
	    "name = $2, kind = $3, sectors = $4::text[], contact_email = $5, "
	    "active = $6::boolean, updated_at = now() WHERE id = $1 "
	    "RETURNING " STORE_ORGANISATIONS_COLUMNS, 6, params, &conflict);
	free(sectors);
	if (res == NULL)
		return (conflict ? TOCSIN_STORE_CONFLICT : -1);
	if (PQntuples(res) != 1)
		rc = TOCSIN_STORE_NOT_FOUND;
	else
		rc = store_organisations_fill(res, 0, &updated);
	PQclear(res);
	if (rc != 0)
		return (rc);
	store_organisations_clear(o);
	*o = updated;
	return (store_organisations_notify(db, o->id));
}

/*
 * Deactivate organisation ID: its users can no longer sign in, its history
 * stays. Deactivating twice is not an error. 0, TOCSIN_STORE_NOT_FOUND, -1.
 */
int
store_organisations_deactivate(PGconn *db, int64_t id)
{
	char		 idbuf[24];
	const char	*params[1];
	PGresult	*res;
	int		 rows;

	snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
	params[0] = idbuf;
	res = db_exec(db, "UPDATE organisations SET active = false, "
	    "updated_at = CASE WHEN active THEN now() ELSE updated_at END "
	    "WHERE id = $1", 1, params);
	if (res == NULL)
		return (-1);
	rows = atoi(PQcmdTuples(res));
	PQclear(res);
	if (rows != 1)
		return (TOCSIN_STORE_NOT_FOUND);
	return (store_organisations_notify(db, id));
}

/* Free what O holds. */
void
store_organisations_clear(struct organisation *o)
{
	free(o->name);
	strv_free(o->sectors, o->n_sectors);
	free(o->contact_email);
	free(o->created_at);
	free(o->updated_at);
	memset(o, 0, sizeof *o);
}
