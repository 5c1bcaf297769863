/*
 * store_advisories.c: SQL of advisories and their revisions: create with a
 * gap-free identifier, revise, revoke (each with its event, in one
 * transaction), load one revision, and list. Lists are narrowed in SQL to a
 * superset of what the principal may see; tlp_may_see() decides each row.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define TS(x) "to_char(" x " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* Columns of a loaded row; r is the shown revision, l the latest. */
#define STORE_ADV_COLUMNS \
	"a.num, a.id, a.status, a.revision, " TS("a.published_at") ", " \
	TS("r.created_at") ", r.revision, r.doc, r.tlp, r.aud_orgs, " \
	"r.aud_sectors, r.aud_kinds, r.aud_users, l.tlp, l.aud_orgs, " \
	"l.aud_sectors, l.aud_kinds, l.aud_users "

#define STORE_ADV_INSERT_REVISION \
	"INSERT INTO advisory_revisions (advisory_num, revision, tlp, " \
	"severity, title, summary, sectors, cves, products, aud_orgs, " \
	"aud_sectors, aud_kinds, aud_users, doc, created_by) VALUES ($1, $2, " \
	"$3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"

/* Free what a loaded row holds. */
void
store_advisories_row_free(struct advisory_row *row)
{
	free(row->id);
	free(row->status);
	free(row->published_at);
	free(row->updated_at);
	json_decref(row->doc);
	audience_clear(&row->latest);
	audience_clear(&row->aud);
	memset(row, 0, sizeof *row);
}

/* Rebuild an audience from its columns (tlp, orgs, sectors, kinds, users). */
static int
store_advisories_audience(PGresult *res, int i, int col, struct audience *a)
{
	char		**kinds = NULL;
	size_t		 nkinds = 0, k;
	enum org_kind	 kind;
	enum tlp	 tlp;

	memset(a, 0, sizeof *a);
	if (tlp_parse(PQgetvalue(res, i, col), &tlp) != 0)
		return (-1);
	a->tlp = tlp;
	if (pg_parse_int_array(PQgetvalue(res, i, col + 1), &a->orgs,
	    &a->n_orgs) != 0 ||
	    pg_parse_text_array(PQgetvalue(res, i, col + 2), &a->sectors,
	    &a->n_sectors) != 0 ||
	    pg_parse_text_array(PQgetvalue(res, i, col + 3), &kinds,
	    &nkinds) != 0 ||
	    pg_parse_int_array(PQgetvalue(res, i, col + 4), &a->users,
	    &a->n_users) != 0) {
		strv_free(kinds, nkinds);
		audience_clear(a);
		return (-1);
	}
	for (k = 0; k < nkinds; k++) {
		if (kind_parse(kinds[k], &kind) == 0)
			a->kinds |= 1u << kind;
	}
	strv_free(kinds, nkinds);
	return (0);
}

/* Fill ROW from row I of RES (STORE_ADV_COLUMNS). */
static int
store_advisories_fill(PGresult *res, int i, struct advisory_row *row)
{
	json_error_t	err;

	memset(row, 0, sizeof *row);
	row->num = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	row->id = xstrdup(PQgetvalue(res, i, 1));
	row->status = xstrdup(PQgetvalue(res, i, 2));
	row->revision = atoi(PQgetvalue(res, i, 3));
	row->published_at = xstrdup(PQgetvalue(res, i, 4));
	row->updated_at = xstrdup(PQgetvalue(res, i, 5));
	row->shown = atoi(PQgetvalue(res, i, 6));
	row->doc = json_loads(PQgetvalue(res, i, 7), 0, &err);
	if (row->doc == NULL ||
	    store_advisories_audience(res, i, 8, &row->aud) != 0 ||
	    store_advisories_audience(res, i, 13, &row->latest) != 0) {
		log_warn("advisory %s: stored revision unreadable", row->id);
		store_advisories_row_free(row);
		return (-1);
	}
	return (0);
}

/*
 * The advisory as clients see it: the document plus what the server adds.
 * The audience lists other organisations and people: staff only.
 */
json_t *
store_advisories_json(const struct advisory_row *row, int with_audience,
    const char *publisher)
{
	json_t	*v = json_deep_copy(row->doc);

	if (!with_audience)
		json_object_del(v, "audience");
	json_object_set_new(v, "id", json_string(row->id));
	json_object_set_new(v, "revision", json_integer(row->shown));
	json_object_set_new(v, "latest_revision", json_integer(row->revision));
	json_object_set_new(v, "status", json_string(row->status));
	json_object_set_new(v, "published_at", json_string(row->published_at));
	json_object_set_new(v, "updated_at", json_string(row->updated_at));
	json_object_set_new(v, "publisher", json_string(publisher));
	return (v);
}

/* Load one advisory (revision 0: latest): 0, -1 not found, -2 db error. */
int
store_advisories_get(PGconn *db, const char *id, int revision,
    struct advisory_row *row)
{
	PGresult	*res;
	const char	*params[2];
	char		 rev[16];
	int		 rc;

	snprintf(rev, sizeof rev, "%d", revision);
	params[0] = id;
	params[1] = revision > 0 ? rev : NULL;
	res = db_exec(db, "SELECT " STORE_ADV_COLUMNS "FROM advisories a "
	    "JOIN advisory_revisions l ON l.advisory_num = a.num "
	    "AND l.revision = a.revision "
	    "JOIN advisory_revisions r ON r.advisory_num = a.num "
	    "AND r.revision = coalesce($2::int, a.revision) "
	    "WHERE a.id = $1", 2, params);
	if (res == NULL)
		return (-2);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (-1);
	}
	rc = store_advisories_fill(res, 0, row) == 0 ? 0 : -2;
	PQclear(res);
	return (rc);
}

/* Insert revision REV of advisory NUM from the normalised DOC. */
static int
store_advisories_insert_revision(PGconn *db, const char *num, int rev,
    json_t *doc, const struct audience *aud, int64_t author)
{
	const char	*params[15];
	char		 revs[16], authors[24], *arrays[8], *doc_s;
	char		**v;
	size_t		 n, i, k;
	json_t		*arr, *item;
	static const char *names[] = { "sectors", "cves", "products" };
	int		 rc;

	snprintf(revs, sizeof revs, "%d", rev);
	snprintf(authors, sizeof authors, "%lld", (long long)author);
	for (i = 0; i < 3; i++) {
		arr = json_object_get(doc, names[i]);
		n = json_array_size(arr);
		v = xcalloc(n + 1, sizeof *v);
		json_array_foreach(arr, k, item)
			v[k] = (char *)json_string_value(item);
		arrays[i] = pg_text_array(v, n);
		free(v);
	}
	arrays[3] = pg_int_array(aud->orgs, aud->n_orgs);
	arrays[4] = pg_text_array(aud->sectors, aud->n_sectors);
	v = xcalloc(KIND__COUNT + 1, sizeof *v);
	for (n = 0, k = 0; k < KIND__COUNT; k++) {
		if (aud->kinds & (1u << k))
			v[n++] = (char *)kind_name(k);
	}
	arrays[5] = pg_text_array(v, n);
	free(v);
	arrays[6] = pg_int_array(aud->users, aud->n_users);
	doc_s = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));

	params[0] = num;
	params[1] = revs;
	params[2] = json_string_value(json_object_get(doc, "tlp"));
	params[3] = json_string_value(json_object_get(doc, "severity"));
	params[4] = json_string_value(json_object_get(doc, "title"));
	params[5] = json_string_value(json_object_get(doc, "summary"));
	for (i = 0; i < 7; i++)
		params[6 + i] = arrays[i];
	params[13] = doc_s;
	params[14] = authors;
	rc = db_exec_ok(db, STORE_ADV_INSERT_REVISION, 15, params);
	for (i = 0; i < 7; i++)
		free(arrays[i]);
	free(doc_s);
	return (rc);
}

/* Write the event for the shown revision of ROW; its id or -1. */
static int64_t
store_advisories_event(PGconn *db, const char *type, struct advisory_row *row,
    const char *publisher)
{
	json_t	*scope, *data;
	int64_t	 id;

	scope = json_pack("[o]", advisory_scope_element(row->doc));
	data = store_advisories_json(row, 0, publisher);
	id = store_events_insert(db, type, "advisory", row->id, row->shown,
	    tlp_name(row->aud.tlp), scope, data);
	json_decref(scope);
	json_decref(data);
	return (id);
}

/*
 * The audit entry of a change to ROW by ACTOR, in its transaction: the
 * revision, label and event, and, for a revision (OLD: the one before),
 * whether the TLP or the audience changed and how (ids only).
 */
static int
store_advisories_audit(PGconn *db, const char *action, int64_t actor,
    const struct advisory_row *row, const struct advisory_row *old,
    int64_t event_id)
{
	json_t	*d, *changes, *was, *now;

	d = json_pack("{s:i, s:s, s:I}", "revision", row->revision, "tlp",
	    tlp_name(row->latest.tlp), "event_id", (json_int_t)event_id);
	if (old != NULL) {
		changes = json_object();
		if (old->latest.tlp != row->latest.tlp)
			json_object_set_new(changes, "tlp", json_pack(
			    "{s:s, s:s}", "from", tlp_name(old->latest.tlp),
			    "to", tlp_name(row->latest.tlp)));
		was = audience_to_json(&old->latest);
		now = audience_to_json(&row->latest);
		if (!json_equal(was, now))
			json_object_set_new(changes, "audience", json_pack(
			    "{s:O, s:O}", "from", was, "to", now));
		json_decref(was);
		json_decref(now);
		json_object_set_new(d, "changes", changes);
	}
	return (audit_record(db, actor, action, "advisory", row->id, d));
}

/* The audience of an item as the arrays tocsin_publish_advisories takes. */
static void
store_advisories_audience_json(json_t *it, const struct audience *aud)
{
	json_t	*orgs, *sectors, *kinds, *users;
	size_t	 i;
	int	 k;

	orgs = json_array();
	for (i = 0; i < aud->n_orgs; i++)
		json_array_append_new(orgs, json_integer(aud->orgs[i]));
	sectors = json_array();
	for (i = 0; i < aud->n_sectors; i++)
		json_array_append_new(sectors, json_string(aud->sectors[i]));
	kinds = json_array();
	for (k = 0; k < KIND__COUNT; k++) {
		if (aud->kinds & (1u << k))
			json_array_append_new(kinds,
			    json_string(kind_name((enum org_kind)k)));
	}
	users = json_array();
	for (i = 0; i < aud->n_users; i++)
		json_array_append_new(users, json_integer(aud->users[i]));
	json_object_set_new(it, "aud_orgs", orgs);
	json_object_set_new(it, "aud_sectors", sectors);
	json_object_set_new(it, "aud_kinds", kinds);
	json_object_set_new(it, "aud_users", users);
}

/*
 * Publish the N advisories of V with one statement, which is its own
 * transaction: each gets the next gap-free number of the year for PREFIX
 * (in V's order), its revision 1, its event (PUBLISHER names the
 * publisher in it), its audit entry and the deliveries planned beforehand
 * (schema/008_publish.sql). All or nothing: 0 and the results in V, -1
 * (nothing written), or -2 (written, but the answer cannot be read).
 */
int
store_advisories_publish(PGconn *db, const char *prefix,
    const char *publisher, struct publish_item **v, size_t n)
{
	PGresult	*res;
	json_t		*items, *it, *plan;
	const char	*params[3];
	char		*items_s;
	size_t		 i;
	int		 rows, k, rc = -1;

	items = json_array();
	for (i = 0; i < n; i++) {
		it = json_pack("{s:I, s:O, s:O}", "publisher_id",
		    (json_int_t)v[i]->publisher, "doc", v[i]->doc, "scope",
		    v[i]->scope);
		store_advisories_audience_json(it, v[i]->aud);
		json_object_set_new(it, "client", v[i]->client[0] != '\0' ?
		    json_string(v[i]->client) : json_null());
		if ((plan = store_outbox_plan_json(&v[i]->plan)) != NULL)
			json_object_set_new(it, "plan", plan);
		json_array_append_new(items, it);
	}
	items_s = json_dumps(items, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(items);
	params[0] = prefix;
	params[1] = publisher;
	params[2] = items_s;
	res = db_exec(db, "SELECT ord, id, num, event_id, published_at "
	    "FROM tocsin_publish_advisories($1, $2, $3::jsonb)", 3, params);
	free(items_s);
	if (res == NULL)
		goto out;
	rows = PQntuples(res);
	for (k = 0; k < rows && (size_t)rows == n; k++) {
		i = (size_t)atoi(PQgetvalue(res, k, 0));
		if (i >= n || v[i]->id != NULL)
			break;
		v[i]->id = xstrdup(PQgetvalue(res, k, 1));
		v[i]->num = strtoll(PQgetvalue(res, k, 2), NULL, 10);
		v[i]->event_id = strtoll(PQgetvalue(res, k, 3), NULL, 10);
		v[i]->published_at = xstrdup(PQgetvalue(res, k, 4));
		metrics_event("advisory.published");
	}
	PQclear(res);
	if (k == rows && (size_t)rows == n)
		rc = 0;
	else {	/* committed, but not as asked: not to be tried again */
		log_error("publish: the database answered %d rows for %zu "
		    "advisories", rows, n);
		rc = -2;
	}
out:
	metrics_tx_end(rc == 0);
	if (rc != 0) {
		for (i = 0; i < n; i++) {
			free(v[i]->id);
			free(v[i]->published_at);
			v[i]->id = v[i]->published_at = NULL;
		}
	}
	return (rc);
}

/* Lock advisory ID for a change: 0 and NUM/status/revision, or -1/-2. */
static int
store_advisories_lock(PGconn *db, const char *id, char *num, size_t numlen,
    int *revoked, int *revision)
{
	PGresult	*res;
	const char	*params[1];

	params[0] = id;
	res = db_exec(db, "SELECT num, status, revision FROM advisories "
	    "WHERE id = $1 FOR UPDATE", 1, params);
	if (res == NULL)
		return (-2);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (-1);
	}
	snprintf(num, numlen, "%s", PQgetvalue(res, 0, 0));
	*revoked = strcmp(PQgetvalue(res, 0, 1), "revoked") == 0;
	*revision = atoi(PQgetvalue(res, 0, 2));
	PQclear(res);
	return (0);
}

/* A new revision: 0 done, -1 not found, -2 db error, -3 revoked. */
int
store_advisories_revise(PGconn *db, const char *id, int64_t author,
    json_t *doc, const struct audience *aud, const char *publisher_name,
    struct advisory_row *row, int64_t *event_id)
{
	const char		*params[2];
	char			 num[24], revs[16];
	int			 revoked, revision, rc;
	struct advisory_row	 old;

	memset(&old, 0, sizeof old);
	if (db_begin(db) != 0)
		return (-2);
	rc = store_advisories_lock(db, id, num, sizeof num, &revoked,
	    &revision);
	if (rc != 0)
		goto fail;
	if (revoked) {
		rc = -3;
		goto fail;
	}
	rc = -2;
	/* The revision before, for the audit log's TLP and audience. */
	if (store_advisories_get(db, id, 0, &old) != 0)
		goto fail;
	snprintf(revs, sizeof revs, "%d", revision + 1);
	params[0] = num;
	params[1] = revs;
	if (store_advisories_insert_revision(db, num, revision + 1, doc, aud,
	    author) != 0 ||
	    db_exec_ok(db, "UPDATE advisories SET revision = $2, "
	    "updated_at = now() WHERE num = $1", 2, params) != 0 ||
	    store_advisories_get(db, id, 0, row) != 0)
		goto fail;
	*event_id = store_advisories_event(db, "advisory.updated", row,
	    publisher_name);
	if (*event_id < 0 || store_advisories_audit(db, "advisory.revise",
	    author, row, &old, *event_id) != 0 || db_commit(db) != 0) {
		store_advisories_row_free(row);
		goto fail;
	}
	store_advisories_row_free(&old);
	return (0);
fail:
	store_advisories_row_free(&old);
	db_rollback(db);
	return (rc);
}

/*
 * Revoke: the notice carries the identifier and label only, and its scope
 * holds every revision, so everyone who could receive any revision gets it
 * (TLP.md, "Revisions and revocation"). 0, -1, -2 or -3 (already revoked).
 */
int
store_advisories_revoke(PGconn *db, const char *id, int64_t author,
    struct advisory_row *row, int64_t *event_id)
{
	PGresult	*res;
	const char	*params[1];
	char		 num[24];
	json_t		*scope, *data, *doc;
	json_error_t	 err;
	int		 revoked, revision, rc, i;

	if (db_begin(db) != 0)
		return (-2);
	rc = store_advisories_lock(db, id, num, sizeof num, &revoked,
	    &revision);
	if (rc != 0)
		goto fail;
	if (revoked) {
		rc = -3;
		goto fail;
	}
	rc = -2;
	params[0] = num;
	if (db_exec_ok(db, "UPDATE advisories SET status = 'revoked', "
	    "updated_at = now() WHERE num = $1", 1, params) != 0)
		goto fail;
	res = db_exec(db, "SELECT doc FROM advisory_revisions "
	    "WHERE advisory_num = $1 ORDER BY revision", 1, params);
	if (res == NULL)
		goto fail;
	scope = json_array();
	for (i = 0; i < PQntuples(res); i++) {
		if ((doc = json_loads(PQgetvalue(res, i, 0), 0, &err)) == NULL)
			continue;
		json_array_append_new(scope, advisory_scope_element(doc));
		json_decref(doc);
	}
	PQclear(res);
	if (store_advisories_get(db, id, 0, row) != 0) {
		json_decref(scope);
		goto fail;
	}
	data = json_pack("{s:s, s:i, s:s, s:s}", "id", row->id, "revision",
	    row->revision, "tlp", tlp_name(row->latest.tlp), "status",
	    "revoked");
	*event_id = store_events_insert(db, "advisory.revoked", "advisory",
	    row->id, row->revision, tlp_name(row->latest.tlp), scope, data);
	json_decref(scope);
	json_decref(data);
	if (*event_id < 0 || store_advisories_audit(db, "advisory.revoke",
	    author, row, NULL, *event_id) != 0 || db_commit(db) != 0) {
		store_advisories_row_free(row);
		goto fail;
	}
	return (0);
fail:
	db_rollback(db);
	return (rc);
}

/* The audience tags that would cover one of the organisation's sectors. */
static char *
store_advisories_covering(const struct principal *p)
{
	char	**v, *dot, *s;
	size_t	  n = 0, i;

	v = xcalloc(2 * p->n_org_sectors + 1, sizeof *v);
	for (i = 0; i < p->n_org_sectors; i++) {
		v[n++] = xstrdup(p->org_sectors[i]);
		if ((dot = strchr(p->org_sectors[i], '.')) != NULL)
			v[n++] = xstrndup(p->org_sectors[i],
			    dot - p->org_sectors[i]);
	}
	s = pg_text_array(v, n);
	strv_free(v, n);
	return (s);
}

/* q as an ILIKE pattern matching anywhere, with % _ \ escaped. */
static char *
store_advisories_like(const char *q)
{
	char	*out, *o;

	out = o = xmalloc(2 * strlen(q) + 3);
	*o++ = '%';
	for (; *q != '\0'; q++) {
		if (*q == '%' || *q == '_' || *q == '\\')
			*o++ = '\\';
		*o++ = *q;
	}
	*o++ = '%';
	*o = '\0';
	return (out);
}

/*
 * One page of the advisories P may see, newest first, after the query's
 * cursor. *next is the cursor of the following page, or 0 at the end.
 */
int
store_advisories_list(PGconn *db, const struct advisory_query *q,
    const struct principal *p, struct advisory_row **rows, size_t *nrows,
    int64_t *next)
{
	PGresult	*res;
	const char	*params[13];
	char		 cursor[24], sev[16], org[24], user[24], batch[16];
	char		*covering, *like = NULL;
	struct advisory_row row;
	int		 i, n, staff = role_is_staff(p->role);

	*rows = NULL;
	*nrows = 0;
	*next = 0;
	covering = store_advisories_covering(p);
	if (q->q != NULL)
		like = store_advisories_like(q->q);
	snprintf(cursor, sizeof cursor, "%lld", (long long)(q->cursor > 0 ?
	    q->cursor : INT64_MAX));
	snprintf(sev, sizeof sev, "%d", q->min_severity + 1);
	snprintf(org, sizeof org, "%lld", (long long)p->org_id);
	snprintf(user, sizeof user, "%lld", (long long)p->user_id);
	snprintf(batch, sizeof batch, "%d", 100);

	for (;;) {
		params[0] = cursor;
		params[1] = q->tlp;
		params[2] = q->since;
		params[3] = q->sector;
		params[4] = q->min_severity >= 0 ? sev : NULL;
		params[5] = q->cve;
		params[6] = like;
		params[7] = staff ? "true" : "false";
		params[8] = p->org_id != 0 && p->org_active ? org : NULL;
		params[9] = covering;
		params[10] = p->user_id != 0 ? user : NULL;
		params[11] = batch;
		res = db_exec(db, "SELECT " STORE_ADV_COLUMNS
		    "FROM advisories a JOIN advisory_revisions r "
		    "ON r.advisory_num = a.num AND r.revision = a.revision "
		    "JOIN advisory_revisions l "
		    "ON l.advisory_num = a.num AND l.revision = a.revision "
		    "WHERE a.num < $1::bigint "
		    "AND ($2::text IS NULL OR r.tlp = $2) "
		    "AND ($3::timestamptz IS NULL OR a.updated_at >= $3) "
		    "AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM "
		    "unnest(r.sectors) t WHERE t = $4 OR t LIKE $4 || '.%')) "
		    "AND ($5::int IS NULL OR array_position(ARRAY['low',"
		    "'medium','high','critical'], r.severity) >= $5) "
		    "AND ($6::text IS NULL OR r.cves @> ARRAY[$6]) "
		    "AND ($7::text IS NULL OR r.title ILIKE $7 "
		    "OR r.summary ILIKE $7) "
		    "AND ($8::boolean OR r.tlp = 'CLEAR' OR ($9::bigint IS NOT "
		    "NULL AND (r.tlp = 'GREEN' OR r.aud_orgs @> ARRAY[$9] OR "
		    "r.aud_sectors && $10::text[] OR (r.tlp = 'RED' AND "
		    "r.aud_users @> ARRAY[$11]::bigint[])))) "
		    "ORDER BY a.num DESC LIMIT $12", 12, params);
		if (res == NULL) {
			free(covering);
			free(like);
			for (i = 0; i < (int)*nrows; i++)
				store_advisories_row_free(&(*rows)[i]);
			free(*rows);
			*rows = NULL;
			*nrows = 0;
			return (-1);
		}
		n = PQntuples(res);
		for (i = 0; i < n; i++) {
			if (store_advisories_fill(res, i, &row) != 0)
				continue;
			snprintf(cursor, sizeof cursor, "%lld",
			    (long long)row.num);
			/* The SQL above narrows; this decides. */
			if (!tlp_may_see(&row.latest, p)) {
				store_advisories_row_free(&row);
				continue;
			}
			if ((int)*nrows == q->limit) {
				*next = (*rows)[*nrows - 1].num;
				store_advisories_row_free(&row);
				n = 0;
				break;
			}
			*rows = xrealloc(*rows, (*nrows + 1) * sizeof **rows);
			(*rows)[(*nrows)++] = row;
		}
		PQclear(res);
		if (n < 100)
			break;
	}
	free(covering);
	free(like);
	return (0);
}
