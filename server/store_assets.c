/*
 * store_assets.c: SQL of the asset registry (schema/003_assets.sql), bulk
 * registration, and the matcher cache.
 *
 * The cache: one matcher per process, built from the approved assets of
 * active organisations and tagged with asset_generation.gen, which a
 * trigger bumps on any change to assets or to an organisation's active
 * flag. Each warning request reads gen (one cheap query) and rebuilds only
 * when it moved. Asking the database each time rather than LISTENing
 * keeps every instance right without a listener thread, and a rebuild
 * never waits on a notification that a broken connection lost.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define STORE_ASSETS_BATCH	5000	/* rows per bulk INSERT */

#define STORE_ASSETS_TS(c) \
	"to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define STORE_ASSETS_COLUMNS \
	"id, organisation_id, type, value, status, " \
	"coalesce(proposed_by, 0), coalesce(decided_by, 0), " \
	STORE_ASSETS_TS("decided_at") ", " STORE_ASSETS_TS("created_at")

static pthread_mutex_t	 store_assets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct assetmatch *store_assets_cache;
static char		 store_assets_gen[24];

/* Fill A from row I of RES (STORE_ASSETS_COLUMNS). */
static int
store_assets_fill(PGresult *res, int i, struct asset *a)
{
	memset(a, 0, sizeof *a);
	if (asset_type_parse(PQgetvalue(res, i, 2), &a->type) != 0 ||
	    asset_status_parse(PQgetvalue(res, i, 4), &a->status) != 0)
		return (-1);
	a->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	a->organisation_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
	a->value = xstrdup(PQgetvalue(res, i, 3));
	a->proposed_by = strtoll(PQgetvalue(res, i, 5), NULL, 10);
	a->decided_by = strtoll(PQgetvalue(res, i, 6), NULL, 10);
	if (!PQgetisnull(res, i, 7))
		a->decided_at = xstrdup(PQgetvalue(res, i, 7));
	a->created_at = xstrdup(PQgetvalue(res, i, 8));
	return (0);
}

/* Free what an asset holds and zero it (not the struct). */
void
store_assets_clear(struct asset *a)
{
	free(a->value);
	free(a->decided_at);
	free(a->created_at);
	memset(a, 0, sizeof *a);
}

/* Replace A with row 0 of RES. */
static int
store_assets_take(PGresult *res, struct asset *a)
{
	struct asset	got;

	if (PQntuples(res) != 1 || store_assets_fill(res, 0, &got) != 0)
		return (-1);
	store_assets_clear(a);
	*a = got;
	return (0);
}

/*
 * Insert A (value normalised; status proposed or approved, decided_by
 * set for approved). 0 and A filled in, TOCSIN_STORE_CONFLICT (the
 * organisation has it already, or another one owns it approved), or -1.
 */
int
store_assets_insert(PGconn *db, struct asset *a)
{
	const char	*params[5];
	char		 org[24], by[24], dec[24];
	PGresult	*res;
	int		 conflict, rc;

	snprintf(org, sizeof org, "%" PRId64, a->organisation_id);
	snprintf(by, sizeof by, "%" PRId64, a->proposed_by);
	snprintf(dec, sizeof dec, "%" PRId64, a->decided_by);
	params[0] = org;
	params[1] = asset_type_name(a->type);
	params[2] = a->value;
	params[3] = asset_status_name(a->status);
	params[4] = a->proposed_by != 0 ? by : NULL;
	res = db_exec_unique(db, "INSERT INTO assets (organisation_id, "
	    "type, value, status, proposed_by, decided_by, decided_at) "
	    "VALUES ($1, $2, $3, $4, $5, CASE WHEN $4 = 'proposed' THEN NULL "
	    "ELSE $5::bigint END, CASE WHEN $4 = 'proposed' THEN NULL "
	    "ELSE now() END) RETURNING " STORE_ASSETS_COLUMNS, 5, params,
	    &conflict);
	if (res == NULL)
		return (conflict ? TOCSIN_STORE_CONFLICT : -1);
	rc = store_assets_take(res, a);
	PQclear(res);
	return (rc);
}

/* Load asset ID (locked if LOCK): 0, TOCSIN_STORE_NOT_FOUND or -1. */
int
store_assets_get(PGconn *db, int64_t id, int lock, struct asset *a)
{
	const char	*params[1];
	char		 idbuf[24];
	PGresult	*res;
	int		 rc;

	memset(a, 0, sizeof *a);
	snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
	params[0] = idbuf;
	res = db_exec(db, lock ?
	    "SELECT " STORE_ASSETS_COLUMNS " FROM assets WHERE id = $1 "
	    "FOR UPDATE" :
	    "SELECT " STORE_ASSETS_COLUMNS " FROM assets WHERE id = $1",
	    1, params);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) == 0)
		rc = TOCSIN_STORE_NOT_FOUND;
	else
		rc = store_assets_fill(res, 0, a);
	PQclear(res);
	return (rc);
}

/* Up to Q->limit assets after Q->after in id order, narrowed by Q. */
int
store_assets_list(PGconn *db, const struct asset_query *q,
    struct asset **out, size_t *n)
{
	const char	*params[5];
	char		 org[24], after[24], limit[16];
	PGresult	*res;
	int		 i, rows;

	*out = NULL;
	*n = 0;
	snprintf(org, sizeof org, "%" PRId64, q->organisation_id);
	snprintf(after, sizeof after, "%" PRId64, q->after);
	snprintf(limit, sizeof limit, "%d", q->limit);
	params[0] = org;
	params[1] = q->status >= 0 ? asset_status_name(q->status) : NULL;
	params[2] = q->type >= 0 ? asset_type_name(q->type) : NULL;
	params[3] = after;
	params[4] = limit;
	res = db_exec(db, "SELECT " STORE_ASSETS_COLUMNS " FROM assets "
	    "WHERE ($1::bigint = 0 OR organisation_id = $1) "
	    "AND ($2::text IS NULL OR status = $2) "
	    "AND ($3::text IS NULL OR type = $3) "
	    "AND id > $4 ORDER BY id LIMIT $5", 5, params);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	*out = xcalloc(rows + 1, sizeof **out);
	for (i = 0; i < rows; i++) {
		if (store_assets_fill(res, i, &(*out)[*n]) == 0)
			(*n)++;
	}
	PQclear(res);
	return (0);
}

/*
 * Record an admin's decision on A (loaded): status, who, when. 0 and A
 * updated, TOCSIN_STORE_CONFLICT (approving a value another organisation
 * owns approved), or -1.
 */
int
store_assets_decide(PGconn *db, struct asset *a, enum asset_status status,
    int64_t by)
{
	const char	*params[3];
	char		 id[24], who[24];
	PGresult	*res;
	int		 conflict, rc;

	snprintf(id, sizeof id, "%" PRId64, a->id);
	snprintf(who, sizeof who, "%" PRId64, by);
	params[0] = id;
	params[1] = asset_status_name(status);
	params[2] = who;
	res = db_exec_unique(db, "UPDATE assets SET status = $2, "
	    "decided_by = $3, decided_at = now() WHERE id = $1 "
	    "RETURNING " STORE_ASSETS_COLUMNS, 3, params, &conflict);
	if (res == NULL)
		return (conflict ? TOCSIN_STORE_CONFLICT : -1);
	rc = store_assets_take(res, a);
	PQclear(res);
	return (rc);
}

/* Delete asset ID: 0, TOCSIN_STORE_NOT_FOUND or -1. */
int
store_assets_delete(PGconn *db, int64_t id)
{
	const char	*params[1];
	char		 idbuf[24];
	PGresult	*res;
	int		 rows;

	snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
	params[0] = idbuf;
	if ((res = db_exec(db, "DELETE FROM assets WHERE id = $1", 1,
	    params)) == NULL)
		return (-1);
	rows = atoi(PQcmdTuples(res));
	PQclear(res);
	return (rows == 0 ? TOCSIN_STORE_NOT_FOUND : 0);
}

/* The ids of active organisations, ascending (for bulk checks). */
int
store_assets_active_orgs(PGconn *db, int64_t **ids, size_t *n)
{
	PGresult	*res;
	int		 i, rows;

	*ids = NULL;
	*n = 0;
	if ((res = db_exec(db, "SELECT id FROM organisations WHERE active "
	    "ORDER BY id", 0, NULL)) == NULL)
		return (-1);
	rows = PQntuples(res);
	*ids = xcalloc(rows + 1, sizeof **ids);
	for (i = 0; i < rows; i++)
		(*ids)[i] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	*n = (size_t)rows;
	PQclear(res);
	return (0);
}

/* Set the outcome of the rows whose line RES lists (column 0). */
static void
store_assets_mark(PGresult *res, struct asset_import_row *rows, size_t n,
    int outcome)
{
	size_t	j;
	int64_t	line;
	int	k;

	/* Lines ascend in both: one merge-like pass. */
	for (k = 0, j = 0; k < PQntuples(res); k++) {
		line = strtoll(PQgetvalue(res, k, 0), NULL, 10);
		while (j < n && (int64_t)rows[j].line < line)
			j++;
		if (j < n && (int64_t)rows[j].line == line)
			rows[j].outcome = outcome;
	}
}

/*
 * One bulk INSERT of rows [0, n) (lines ascending); sets each row's
 * outcome: 0 there already, -1 another organisation owns the value
 * approved, 1 created.
 */
static int
store_assets_import_batch(PGconn *db, struct asset_import_row *rows,
    size_t n, const char *by)
{
	struct wbuf	 orgs, types, values, statuses, lines;
	const char	*params[6];
	PGresult	*res;
	char		 num[48];
	size_t		 i;
	int		 rc = -1;

	memset(&orgs, 0, sizeof orgs);
	memset(&types, 0, sizeof types);
	memset(&values, 0, sizeof values);
	memset(&statuses, 0, sizeof statuses);
	memset(&lines, 0, sizeof lines);
	for (i = 0; i < n; i++) {
		const char *sep = i == 0 ? "{" : ",";
		snprintf(num, sizeof num, "%s%" PRId64, sep,
		    rows[i].organisation_id);
		wbuf_str(&orgs, num);
		snprintf(num, sizeof num, "%s%zu", sep, rows[i].line);
		wbuf_str(&lines, num);
		wbuf_str(&types, sep);
		wbuf_str(&types, asset_type_name(rows[i].type));
		wbuf_str(&statuses, sep);
		wbuf_str(&statuses, asset_status_name(rows[i].status));
		/* Normalised values hold no quote, backslash or comma. */
		wbuf_str(&values, sep);
		wbuf_str(&values, "\"");
		wbuf_str(&values, rows[i].value);
		wbuf_str(&values, "\"");
		rows[i].outcome = 1;
	}
	wbuf_str(&orgs, "}");
	wbuf_str(&lines, "}");
	wbuf_str(&types, "}");
	wbuf_str(&statuses, "}");
	wbuf_str(&values, "}");
	params[0] = orgs.p;
	params[1] = types.p;
	params[2] = values.p;
	params[3] = lines.p;
	params[4] = statuses.p;
	params[5] = by;

	/* What the organisation has already stays as it is. */
	res = db_exec(db, "SELECT l FROM unnest($1::bigint[], $2::text[], "
	    "$3::text[], $4::bigint[]) AS u(o, t, v, l) WHERE EXISTS "
	    "(SELECT 1 FROM assets a WHERE a.organisation_id = u.o AND "
	    "a.type = u.t AND a.value = u.v) ORDER BY l", 4, params);
	if (res == NULL)
		goto out;
	store_assets_mark(res, rows, n, 0);
	PQclear(res);
	/*
	 * ON CONFLICT DO NOTHING covers both unique indexes: a row the
	 * organisation has, and a value another one owns approved (of two
	 * such lines in the file, the first wins).
	 */
	if (db_exec_ok(db, "INSERT INTO assets (organisation_id, type, value, "
	    "status, proposed_by, decided_by, decided_at) "
	    "SELECT o, t, v, s, $6::bigint, CASE WHEN s = 'proposed' THEN NULL "
	    "ELSE $6::bigint END, CASE WHEN s = 'proposed' THEN NULL "
	    "ELSE now() END FROM unnest($1::bigint[], $2::text[], $3::text[], "
	    "$4::bigint[], $5::text[]) AS u(o, t, v, l, s) ORDER BY l "
	    "ON CONFLICT DO NOTHING", 6, params) != 0)
		goto out;
	/* Still not the organisation's: refused by the approved index. */
	res = db_exec(db, "SELECT l FROM unnest($1::bigint[], $2::text[], "
	    "$3::text[], $4::bigint[]) AS u(o, t, v, l) WHERE NOT EXISTS "
	    "(SELECT 1 FROM assets a WHERE a.organisation_id = u.o AND "
	    "a.type = u.t AND a.value = u.v) ORDER BY l", 4, params);
	if (res == NULL)
		goto out;
	store_assets_mark(res, rows, n, -1);
	PQclear(res);
	rc = 0;
out:
	wbuf_free(&orgs);
	wbuf_free(&types);
	wbuf_free(&values);
	wbuf_free(&statuses);
	wbuf_free(&lines);
	return (rc);
}

/*
 * Register ROWS (checked, values normalised) for admin BY inside the
 * caller's transaction, in batches; each row's outcome says whether it
 * was created, was there already (unchanged) or conflicts with another
 * organisation's approved asset. 0 or -1.
 */
int
store_assets_import(PGconn *db, struct asset_import_row *rows, size_t n,
    int64_t by)
{
	char	who[24];
	size_t	i, len;

	snprintf(who, sizeof who, "%" PRId64, by);
	for (i = 0; i < n; i += len) {
		len = n - i < STORE_ASSETS_BATCH ? n - i : STORE_ASSETS_BATCH;
		if (store_assets_import_batch(db, rows + i, len, who) != 0)
			return (-1);
	}
	return (0);
}

/* Build a matcher from what the database holds now; NULL on failure. */
static struct assetmatch *
store_assets_load(PGconn *db, char *gen, size_t genlen)
{
	struct assetmatch	*m;
	PGresult		*res;
	enum asset_type		 type;
	const char		*why;
	int			 i, rows;

	/* gen and the rows from one snapshot. */
	if (db_exec_ok(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	    0, NULL) != 0)
		return (NULL);
	if ((res = db_exec(db, "SELECT gen FROM asset_generation", 0,
	    NULL)) == NULL || PQntuples(res) != 1) {
		PQclear(res);
		db_rollback(db);
		return (NULL);
	}
	snprintf(gen, genlen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	res = db_exec(db, "SELECT a.type, a.value, a.organisation_id "
	    "FROM assets a JOIN organisations o ON o.id = a.organisation_id "
	    "WHERE a.status = 'approved' AND o.active ORDER BY a.id", 0, NULL);
	db_rollback(db);
	if (res == NULL)
		return (NULL);
	m = assetmatch_new();
	rows = PQntuples(res);
	for (i = 0; i < rows; i++) {
		why = "has an unknown type";
		if (asset_type_parse(PQgetvalue(res, i, 0), &type) != 0 ||
		    assetmatch_add(m, type, ASSET_APPROVED,
		    PQgetvalue(res, i, 1), strtoll(PQgetvalue(res, i, 2), NULL,
		    10), &why) != 0)
			log_warn("asset %s \"%s\" skipped: value %s",
			    PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), why);
	}
	PQclear(res);
	assetmatch_build(m);
	return (m);
}

/*
 * The matcher of the approved assets, rebuilt if they changed since it
 * was built (a reference: assetmatch_unref it). Called outside any
 * transaction. 0 or -1.
 */
int
store_assets_matcher(PGconn *db, struct assetmatch **out)
{
	struct assetmatch	*m;
	PGresult		*res;
	char			 gen[24];

	*out = NULL;
	if ((res = db_exec(db, "SELECT gen FROM asset_generation", 0,
	    NULL)) == NULL)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (-1);
	}
	snprintf(gen, sizeof gen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	pthread_mutex_lock(&store_assets_lock);
	if (store_assets_cache != NULL && strcmp(gen, store_assets_gen) == 0) {
		*out = assetmatch_ref(store_assets_cache);
		pthread_mutex_unlock(&store_assets_lock);
		return (0);
	}
	pthread_mutex_unlock(&store_assets_lock);

	/* Built outside the lock: readers of the old one are not held up. */
	if ((m = store_assets_load(db, gen, sizeof gen)) == NULL)
		return (-1);
	log_info("assets: matcher rebuilt, %zu approved assets (generation "
	    "%s)", assetmatch_count(m), gen);
	pthread_mutex_lock(&store_assets_lock);
	if (store_assets_cache == NULL ||
	    strtoll(gen, NULL, 10) >= strtoll(store_assets_gen, NULL, 10)) {
		assetmatch_unref(store_assets_cache);
		store_assets_cache = assetmatch_ref(m);
		snprintf(store_assets_gen, sizeof store_assets_gen, "%s", gen);
	}
	pthread_mutex_unlock(&store_assets_lock);
	*out = m;
	return (0);
}
