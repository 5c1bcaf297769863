/*
 * store_subscriptions.c: the SQL for subscriptions: a filter (match.c), the
 * channels to deliver on and the e-mail digest. The REST handlers write
 * them; the stream reads a user's filters for its channel. Every change is
 * announced on tocsin_principals for the owner so live connections reload.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define STORE_SUBSCRIPTIONS_COLUMNS \
	"s.id, s.user_id, coalesce(u.organisation_id, 0), s.name, " \
	"s.filter, s.channels, s.digest"
#define STORE_SUBSCRIPTIONS_FROM \
	" FROM subscriptions s JOIN users u ON u.id = s.user_id"

/* Fill S from row ROW of RES (STORE_SUBSCRIPTIONS_COLUMNS). */
static int
store_subscriptions_fill(PGresult *res, int row, struct subscription *s)
{
	json_error_t	 err;

	memset(s, 0, sizeof *s);
	s->filter = json_loads(PQgetvalue(res, row, 4), 0, &err);
	s->channels = json_loads(PQgetvalue(res, row, 5), 0, &err);
	if (s->filter == NULL || s->channels == NULL) {
		log_warn("subscription %s: unreadable row",
		    PQgetvalue(res, row, 0));
		json_decref(s->filter);
		json_decref(s->channels);
		memset(s, 0, sizeof *s);
		return (-1);
	}
	s->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	s->user_id = strtoll(PQgetvalue(res, row, 1), NULL, 10);
	s->organisation_id = strtoll(PQgetvalue(res, row, 2), NULL, 10);
	s->name = xstrdup(PQgetvalue(res, row, 3));
	s->digest = xstrdup(PQgetvalue(res, row, 6));
	return (0);
}

/* Insert S for S->user_id (id filled in) and announce it; 0 or -1. */
int
store_subscriptions_insert(PGconn *db, struct subscription *s)
{
	char		 userbuf[24], *filter, *channels;
	const char	*params[5];
	PGresult	*res;

	snprintf(userbuf, sizeof userbuf, "%" PRId64, s->user_id);
	filter = json_dumps(s->filter, JSON_COMPACT);
	channels = json_dumps(s->channels, JSON_COMPACT);
	if (filter == NULL || channels == NULL) {
		free(filter);
		free(channels);
		return (-1);
	}
	params[0] = userbuf;
	params[1] = s->name;
	params[2] = filter;
	params[3] = channels;
	params[4] = s->digest;
	res = db_exec(db, "INSERT INTO subscriptions "
	    "(user_id, name, filter, channels, digest) "
	    "VALUES ($1, $2, $3::jsonb, $4::jsonb, $5) RETURNING id",
	    5, params);
	free(filter);
	free(channels);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (-1);
	}
	s->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return (store_users_notify(db, s->user_id));
}

/* Read subscription ID; 0, TOCSIN_STORE_NOT_FOUND or -1. */
int
store_subscriptions_get(PGconn *db, int64_t id, struct subscription *s)
{
	char		 idbuf[24];
	const char	*params[1];
	PGresult	*res;
	int		 rc;

	memset(s, 0, sizeof *s);
	snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
	params[0] = idbuf;
	res = db_exec(db, "SELECT " STORE_SUBSCRIPTIONS_COLUMNS
	    STORE_SUBSCRIPTIONS_FROM " WHERE s.id = $1 AND u.active",
	    1, params);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) != 1)
		rc = TOCSIN_STORE_NOT_FOUND;
	else
		rc = store_subscriptions_fill(res, 0, s);
	PQclear(res);
	return (rc);
}

/*
 * Up to LIMIT subscriptions with an id above AFTER, in id order, of user
 * USER_ID and of users of organisation ORG (either 0: any).
 */
int
store_subscriptions_list(PGconn *db, int64_t user_id, int64_t org,
    int64_t after, int limit, struct subscription **out, size_t *n)
{
	char		 userbuf[24], orgbuf[24], afterbuf[24], limitbuf[16];
	const char	*params[4];
	PGresult	*res;
	int		 i, rows;

	*out = NULL;
	*n = 0;
	snprintf(userbuf, sizeof userbuf, "%" PRId64, user_id);
	snprintf(orgbuf, sizeof orgbuf, "%" PRId64, org);
	snprintf(afterbuf, sizeof afterbuf, "%" PRId64, after);
	snprintf(limitbuf, sizeof limitbuf, "%d", limit);
	params[0] = userbuf;
	params[1] = orgbuf;
	params[2] = afterbuf;
	params[3] = limitbuf;
	res = db_exec(db, "SELECT " STORE_SUBSCRIPTIONS_COLUMNS
	    STORE_SUBSCRIPTIONS_FROM " WHERE u.active "
	    "AND ($1::bigint = 0 OR s.user_id = $1) "
	    "AND ($2::bigint = 0 OR u.organisation_id = $2) "
	    "AND s.id > $3 ORDER BY s.id LIMIT $4", 4, params);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	if (rows > 0)
		*out = xcalloc(rows, sizeof **out);
	for (i = 0; i < rows; i++) {
		if (store_subscriptions_fill(res, i, &(*out)[*n]) != 0)
			break;
		(*n)++;
	}
	PQclear(res);
	if (i != rows) {
		for (i = 0; (size_t)i < *n; i++)
			store_subscriptions_clear(&(*out)[i]);
		free(*out);
		*out = NULL;
		*n = 0;
		return (-1);
	}
	return (0);
}

/* Delete subscription ID and announce it; 0, TOCSIN_STORE_NOT_FOUND, -1. */
int
store_subscriptions_delete(PGconn *db, int64_t id)
{
	char		 idbuf[24];
	const char	*params[1];
	PGresult	*res;
	int64_t		 user_id;

	snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
	params[0] = idbuf;
	res = db_exec(db, "DELETE FROM subscriptions WHERE id = $1 "
	    "RETURNING user_id", 1, params);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (TOCSIN_STORE_NOT_FOUND);
	}
	user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return (store_users_notify(db, user_id));
}

/*
 * The filters of USER_ID's subscriptions that deliver on CHANNEL (e.g.
 * "ws"), into a new array: the caller calls filter_clear on each and frees
 * the array. A stored filter that no longer parses is skipped and logged
 * rather than failing the user's whole stream.
 */
int
store_subscriptions_for_user(PGconn *db, int64_t user_id,
    const char *channel, struct filter **filters, size_t *n)
{
	char		 userbuf[24], *cause;
	const char	*params[2];
	PGresult	*res;
	json_t		*v;
	json_error_t	 err;
	int		 i, rows;

	*filters = NULL;
	*n = 0;
	snprintf(userbuf, sizeof userbuf, "%" PRId64, user_id);
	params[0] = userbuf;
	params[1] = channel;
	res = db_exec(db, "SELECT id, filter FROM subscriptions "
	    "WHERE user_id = $1 AND channels @> jsonb_build_array($2::text) "
	    "ORDER BY id", 2, params);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	if (rows > 0)
		*filters = xcalloc(rows, sizeof **filters);
	for (i = 0; i < rows; i++) {
		cause = NULL;
		v = json_loads(PQgetvalue(res, i, 1), 0, &err);
		if (v == NULL || filter_from_json(v, &(*filters)[*n],
		    &cause) != 0) {
			log_warn("subscription %s: filter skipped: %s",
			    PQgetvalue(res, i, 0), cause != NULL ? cause :
			    "not JSON");
			free(cause);
			memset(&(*filters)[*n], 0, sizeof **filters);
		} else
			(*n)++;
		json_decref(v);
	}
	PQclear(res);
	if (*n == 0) {
		free(*filters);
		*filters = NULL;
	}
	return (0);
}

/* Free what S holds. */
void
store_subscriptions_clear(struct subscription *s)
{
	free(s->name);
	json_decref(s->filter);
	json_decref(s->channels);
	free(s->digest);
	memset(s, 0, sizeof *s);
}
