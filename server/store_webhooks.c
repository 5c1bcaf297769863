/*
 * store_webhooks.c: the SQL of webhook endpoints. Secrets and Splunk tokens
 * are sealed by secretbox.c before they are written and opened only for the
 * delivery worker (store_webhooks_targets); nothing here returns or logs
 * them otherwise. DELETE keeps the row without its secrets, so the delivery
 * log and the advisories' delivery reports stay whole.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define STORE_WEBHOOKS_TS(c) \
	"to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define STORE_WEBHOOKS_COLUMNS \
	"w.id, w.organisation_id, w.url, w.format, w.targeted, w.active, " \
	"w.disabled_reason, CASE WHEN w.old_secret_until > now() THEN " \
	STORE_WEBHOOKS_TS("w.old_secret_until") " END, " \
	"w.splunk_token_enc IS NOT NULL, " STORE_WEBHOOKS_TS("w.created_at") \
	", " STORE_WEBHOOKS_TS("w.updated_at")

/* Purposes the secrets are sealed for (secretbox's associated data). */
#define STORE_WEBHOOKS_SECRET	"tocsin webhook secret"
#define STORE_WEBHOOKS_TOKEN	"tocsin splunk token"

static char *
store_webhooks_dup_or_null(PGresult *res, int row, int col)
{
	return (PQgetisnull(res, row, col) ? NULL :
	    xstrdup(PQgetvalue(res, row, col)));
}

/* Fill W from row ROW of RES (STORE_WEBHOOKS_COLUMNS). */
static void
store_webhooks_fill(PGresult *res, int row, struct webhook *w)
{
	memset(w, 0, sizeof *w);
	w->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	w->organisation_id = strtoll(PQgetvalue(res, row, 1), NULL, 10);
	w->url = xstrdup(PQgetvalue(res, row, 2));
	w->format = xstrdup(PQgetvalue(res, row, 3));
	w->targeted = PQgetvalue(res, row, 4)[0] == 't';
	w->active = PQgetvalue(res, row, 5)[0] == 't';
	w->disabled_reason = store_webhooks_dup_or_null(res, row, 6);
	w->old_secret_until = store_webhooks_dup_or_null(res, row, 7);
	w->has_splunk_token = PQgetvalue(res, row, 8)[0] == 't';
	w->created_at = xstrdup(PQgetvalue(res, row, 9));
	w->updated_at = xstrdup(PQgetvalue(res, row, 10));
}

/* Free what W holds. */
void
store_webhooks_clear(struct webhook *w)
{
	free(w->url);
	free(w->format);
	free(w->disabled_reason);
	free(w->old_secret_until);
	free(w->created_at);
	free(w->updated_at);
	memset(w, 0, sizeof *w);
}

/* The endpoint as the API shows it: never a secret. */
json_t *
store_webhooks_json(const struct webhook *w)
{
	json_t	*v;

	v = json_pack("{s:I, s:I, s:s, s:s, s:b, s:b, s:s, s:s}",
	    "id", (json_int_t)w->id,
	    "organisation_id", (json_int_t)w->organisation_id,
	    "url", w->url, "format", w->format, "targeted", w->targeted,
	    "active", w->active, "created_at", w->created_at,
	    "updated_at", w->updated_at);
	json_object_set_new(v, "disabled_reason", w->disabled_reason != NULL ?
	    json_string(w->disabled_reason) : json_null());
	json_object_set_new(v, "old_secret_expires_at",
	    w->old_secret_until != NULL ? json_string(w->old_secret_until) :
	    json_null());
	if (strcmp(w->format, "splunk-hec") == 0)
		json_object_set_new(v, "has_splunk_token",
		    json_boolean(w->has_splunk_token));
	return (v);
}


/*
 * The one endpoint RES (STORE_WEBHOOKS_COLUMNS, NULL: failed) returned,
 * into W (its old contents freed); RES is cleared. 0, NOT_FOUND or -1.
 */
static int
store_webhooks_one(PGresult *res, struct webhook *w)
{
	if (res == NULL)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (TOCSIN_STORE_NOT_FOUND);
	}
	store_webhooks_clear(w);
	store_webhooks_fill(res, 0, w);
	PQclear(res);
	return (0);
}
/*
 * Insert W (id, times filled in) with SECRET and TOKEN (NULL: none), both
 * sealed here. 0 or -1.
 */
int
store_webhooks_insert(PGconn *db, struct webhook *w, const char *secret,
    const char *token)
{
	char		 org[24], *sec, *tok = NULL;
	const char	*params[6];
	PGresult	*res;

	if ((sec = secretbox_seal_pg(STORE_WEBHOOKS_SECRET, secret)) == NULL)
		return (-1);
	if (token != NULL &&
	    (tok = secretbox_seal_pg(STORE_WEBHOOKS_TOKEN, token)) == NULL) {
		free(sec);
		return (-1);
	}
	snprintf(org, sizeof org, "%" PRId64, w->organisation_id);
	params[0] = org;
	params[1] = w->url;
	params[2] = w->format;
	params[3] = w->targeted ? "true" : "false";
	params[4] = sec;
	params[5] = tok;
	res = db_exec(db, "INSERT INTO webhooks AS w (organisation_id, url, "
	    "format, targeted, secret_enc, splunk_token_enc) VALUES ($1, $2, "
	    "$3, $4, $5, $6) RETURNING " STORE_WEBHOOKS_COLUMNS, 6, params);
	free(sec);
	free(tok);
	return (store_webhooks_one(res, w));
}

/* Load endpoint ID (of organisation ORG, 0: any); 0, NOT_FOUND or -1. */
int
store_webhooks_get(PGconn *db, int64_t id, int64_t org, struct webhook *w)
{
	char		 idb[24], orgb[24];
	const char	*params[2];
	PGresult	*res;
	int		 rc = 0;

	snprintf(idb, sizeof idb, "%" PRId64, id);
	snprintf(orgb, sizeof orgb, "%" PRId64, org);
	params[0] = idb;
	params[1] = orgb;
	res = db_exec(db, "SELECT " STORE_WEBHOOKS_COLUMNS " FROM webhooks w "
	    "WHERE w.id = $1 AND w.deleted_at IS NULL "
	    "AND ($2::bigint = 0 OR w.organisation_id = $2)", 2, params);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) != 1)
		rc = TOCSIN_STORE_NOT_FOUND;
	else
		store_webhooks_fill(res, 0, w);
	PQclear(res);
	return (rc);
}

/* Up to LIMIT endpoints of ORG (0: all) with an id above AFTER. */
int
store_webhooks_list(PGconn *db, int64_t org, int64_t after, int limit,
    struct webhook **out, size_t *n)
{
	char		 orgb[24], afterb[24], limitb[16];
	const char	*params[3];
	PGresult	*res;
	int		 i, rows;

	*out = NULL;
	*n = 0;
	snprintf(orgb, sizeof orgb, "%" PRId64, org);
	snprintf(afterb, sizeof afterb, "%" PRId64, after);
	snprintf(limitb, sizeof limitb, "%d", limit);
	params[0] = orgb;
	params[1] = afterb;
	params[2] = limitb;
	res = db_exec(db, "SELECT " STORE_WEBHOOKS_COLUMNS " FROM webhooks w "
	    "WHERE w.deleted_at IS NULL "
	    "AND ($1::bigint = 0 OR w.organisation_id = $1) AND w.id > $2 "
	    "ORDER BY w.id LIMIT $3", 3, params);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	if (rows > 0)
		*out = xcalloc(rows, sizeof **out);
	for (i = 0; i < rows; i++)
		store_webhooks_fill(res, i, &(*out)[i]);
	*n = rows;
	PQclear(res);
	return (0);
}

/* How many (not deleted) endpoints organisation ORG has; 0 or -1. */
int
store_webhooks_count(PGconn *db, int64_t org, int64_t *n)
{
	char		 orgb[24];
	const char	*params[1];
	PGresult	*res;

	snprintf(orgb, sizeof orgb, "%" PRId64, org);
	params[0] = orgb;
	res = db_exec(db, "SELECT count(*) FROM webhooks WHERE "
	    "organisation_id = $1 AND deleted_at IS NULL", 1, params);
	if (res == NULL)
		return (-1);
	*n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return (0);
}

/*
 * Write W's url, format, targeted and active (re-enabling clears the
 * reason) and TOKEN (NULL: keep, "": remove). W is reloaded. 0 or -1.
 */
int
store_webhooks_update(PGconn *db, struct webhook *w, const char *token)
{
	char		 idb[24], *tok = NULL;
	const char	*params[7];
	PGresult	*res;
	int		 rc;

	if (token != NULL && *token != '\0' &&
	    (tok = secretbox_seal_pg(STORE_WEBHOOKS_TOKEN, token)) == NULL)
		return (-1);
	snprintf(idb, sizeof idb, "%" PRId64, w->id);
	params[0] = idb;
	params[1] = w->url;
	params[2] = w->format;
	params[3] = w->targeted ? "true" : "false";
	params[4] = w->active ? "true" : "false";
	params[5] = token == NULL ? "keep" : "set";
	params[6] = tok;
	res = db_exec(db, "UPDATE webhooks AS w SET url = $2, format = $3, "
	    "targeted = $4, disabled_reason = CASE WHEN $5::boolean THEN NULL "
	    "WHEN w.active THEN 'disabled by the organisation' "
	    "ELSE w.disabled_reason END, active = $5, "
	    "splunk_token_enc = CASE WHEN $6::text = 'keep' THEN w.splunk_token_enc "
	    "ELSE $7::bytea END, updated_at = now() "
	    "WHERE w.id = $1 AND w.deleted_at IS NULL "
	    "RETURNING " STORE_WEBHOOKS_COLUMNS, 7, params);
	free(tok);
	if ((rc = store_webhooks_one(res, w)) != 0)
		return (rc);
	/* An endpoint turned off takes its queue with it. */
	if (!w->active && db_exec_ok(db, "UPDATE deliveries SET state = "
	    "'cancelled', last_error = 'endpoint disabled', updated_at = now() "
	    "WHERE webhook_id = $1 AND state = 'pending'", 1, params) != 0)
		return (-1);
	return (0);
}

/*
 * Delete endpoint ID: keep the row for the log, drop its secrets, cancel
 * what is queued. 0, TOCSIN_STORE_NOT_FOUND or -1.
 */
int
store_webhooks_delete(PGconn *db, int64_t id)
{
	char		 idb[24];
	const char	*params[1];
	PGresult	*res;
	int		 n;

	snprintf(idb, sizeof idb, "%" PRId64, id);
	params[0] = idb;
	res = db_exec(db, "UPDATE webhooks SET deleted_at = now(), "
	    "active = false, disabled_reason = 'deleted', secret_enc = '', "
	    "old_secret_enc = NULL, old_secret_until = NULL, "
	    "splunk_token_enc = NULL, updated_at = now() "
	    "WHERE id = $1 AND deleted_at IS NULL", 1, params);
	if (res == NULL)
		return (-1);
	n = atoi(PQcmdTuples(res));
	PQclear(res);
	if (n != 1)
		return (TOCSIN_STORE_NOT_FOUND);
	return (db_exec_ok(db, "UPDATE deliveries SET state = 'cancelled', "
	    "last_error = 'endpoint deleted', updated_at = now() "
	    "WHERE webhook_id = $1 AND state = 'pending'", 1, params));
}

/*
 * Replace endpoint ID's secret by SECRET; the current one keeps signing
 * for GRACE_S seconds (0: dropped now). W is reloaded. 0, NOT_FOUND, -1.
 */
int
store_webhooks_rotate(PGconn *db, int64_t id, const char *secret, int grace_s,
    struct webhook *w)
{
	char		 idb[24], grace[16], *sec;
	const char	*params[3];
	PGresult	*res;

	if ((sec = secretbox_seal_pg(STORE_WEBHOOKS_SECRET, secret)) == NULL)
		return (-1);
	snprintf(idb, sizeof idb, "%" PRId64, id);
	snprintf(grace, sizeof grace, "%d", grace_s);
	params[0] = idb;
	params[1] = sec;
	params[2] = grace;
	res = db_exec(db, "UPDATE webhooks AS w SET "
	    "old_secret_enc = CASE WHEN $3::int > 0 THEN w.secret_enc END, "
	    "old_secret_until = CASE WHEN $3::int > 0 THEN "
	    "now() + make_interval(secs => $3::int) END, "
	    "secret_enc = $2, updated_at = now() "
	    "WHERE w.id = $1 AND w.deleted_at IS NULL "
	    "RETURNING " STORE_WEBHOOKS_COLUMNS, 3, params);
	free(sec);
	return (store_webhooks_one(res, w));
}

/*
 * Fill P as the organisation ORG itself receiving (webhooks, its security
 * contact) from its row's KIND and SECTORS (a PostgreSQL text array): a
 * member with no person behind it, so tlp_may_see() opens CLEAR, GREEN
 * and the AMBER items whose audience holds the organisation, and never
 * RED (no user id can be named). 0, or -1 for a row that cannot be read.
 */
int
store_webhooks_org_principal(struct principal *p, int64_t org,
    const char *kind, int active, const char *sectors)
{
	enum org_kind	 k;

	memset(p, 0, sizeof *p);
	if (kind_parse(kind, &k) != 0 || pg_parse_text_array(sectors,
	    &p->org_sectors, &p->n_org_sectors) != 0)
		return (-1);
	p->user_id = TOCSIN_PRINCIPAL_ORGANISATION;
	p->org_id = org;
	p->role = ROLE_MEMBER;
	p->org_kind = k;
	p->org_active = active;
	return (0);
}

/* Free what a target holds, wiping its secrets. */
void
store_webhooks_target_clear(struct webhook_target *t)
{
	free(t->url);
	free(t->format);
	secretbox_free(t->secret, 0);
	secretbox_free(t->old_secret, 0);
	secretbox_free(t->splunk_token, 0);
	principal_clear(&t->org);
	memset(t, 0, sizeof *t);
}

/*
 * The endpoints IDS (N of them) as the worker sends to them, secrets
 * opened. An endpoint whose secret does not open (another server key?)
 * comes back with secret NULL. *OUT has *NOUT entries; 0 or -1.
 */
int
store_webhooks_targets(PGconn *db, const int64_t *ids, size_t n,
    struct webhook_target **out, size_t *nout)
{
	PGresult		*res;
	const char		*params[1];
	char			*arr;
	struct webhook_target	*t;
	int			 i, rows;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return (0);
	arr = pg_int_array(ids, n);
	params[0] = arr;
	res = db_exec(db, "SELECT w.id, w.organisation_id, w.url, w.format, "
	    "w.active AND o.active AND w.deleted_at IS NULL, w.secret_enc, "
	    "CASE WHEN w.old_secret_until > now() THEN w.old_secret_enc END, "
	    "w.splunk_token_enc, o.kind, o.sectors, o.active "
	    "FROM webhooks w JOIN organisations o ON o.id = w.organisation_id "
	    "WHERE w.id = ANY ($1::bigint[])", 1, params);
	free(arr);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	if (rows > 0)
		*out = xcalloc(rows, sizeof **out);
	for (i = 0; i < rows; i++) {
		t = &(*out)[*nout];
		if (store_webhooks_org_principal(&t->org, strtoll(PQgetvalue(res,
		    i, 1), NULL, 10), PQgetvalue(res, i, 8),
		    PQgetvalue(res, i, 10)[0] == 't', PQgetvalue(res, i, 9)) != 0) {
			log_warn("webhook %s: organisation row unreadable",
			    PQgetvalue(res, i, 0));
			continue;
		}
		t->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		t->organisation_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		t->url = xstrdup(PQgetvalue(res, i, 2));
		t->format = xstrdup(PQgetvalue(res, i, 3));
		t->active = PQgetvalue(res, i, 4)[0] == 't';
		t->secret = secretbox_open_pg(STORE_WEBHOOKS_SECRET,
		    PQgetvalue(res, i, 5));
		if (!PQgetisnull(res, i, 6))
			t->old_secret = secretbox_open_pg(STORE_WEBHOOKS_SECRET,
			    PQgetvalue(res, i, 6));
		if (!PQgetisnull(res, i, 7))
			t->splunk_token = secretbox_open_pg(
			    STORE_WEBHOOKS_TOKEN, PQgetvalue(res, i, 7));
		(*nout)++;
	}
	PQclear(res);
	return (0);
}
