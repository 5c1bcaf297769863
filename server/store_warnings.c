/*
 * store_warnings.c: SQL of spear warnings. A batch (warning.c) is
 * published in one transaction: gap-free identifiers of the warnings'
 * own series (PREFIX-W-YYYY-NNNNN, counter "PREFIX-W"), one row per
 * warning, and per warning its event "warning.issued" whose scope names
 * the owning organisation alone, so the stream, replay, webhooks and
 * e-mail take it to that organisation's channels and nowhere else.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define STORE_WARNINGS_TS(c) \
	"to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define STORE_WARNINGS_COLUMNS \
	"num, id, organisation_id, tlp, title, description, category, " \
	"severity, observation_count, part, parts, coalesce(event_id, 0), " \
	STORE_WARNINGS_TS("created_at")

/* Free what a loaded row holds and zero it (not the struct). */
void
store_warnings_row_free(struct warning_row *w)
{
	free(w->id);
	free(w->title);
	free(w->description);
	free(w->category);
	free(w->severity);
	free(w->created_at);
	json_decref(w->observations);
	memset(w, 0, sizeof *w);
}

/* Fill W from row I of RES (STORE_WARNINGS_COLUMNS [, observations]). */
static int
store_warnings_fill(PGresult *res, int i, struct warning_row *w)
{
	json_error_t	err;

	memset(w, 0, sizeof *w);
	if (tlp_parse(PQgetvalue(res, i, 3), &w->tlp) != 0)
		return (-1);
	w->num = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	w->id = xstrdup(PQgetvalue(res, i, 1));
	w->organisation_id = strtoll(PQgetvalue(res, i, 2), NULL, 10);
	w->title = xstrdup(PQgetvalue(res, i, 4));
	w->description = xstrdup(PQgetvalue(res, i, 5));
	w->category = xstrdup(PQgetvalue(res, i, 6));
	w->severity = xstrdup(PQgetvalue(res, i, 7));
	w->count = atoi(PQgetvalue(res, i, 8));
	w->part = atoi(PQgetvalue(res, i, 9));
	w->parts = atoi(PQgetvalue(res, i, 10));
	w->event_id = strtoll(PQgetvalue(res, i, 11), NULL, 10);
	w->created_at = xstrdup(PQgetvalue(res, i, 12));
	if (PQnfields(res) > 13) {
		w->observations = json_loads(PQgetvalue(res, i, 13), 0, &err);
		if (w->observations == NULL) {
			log_warn("warning %s: observations unreadable", w->id);
			store_warnings_row_free(w);
			return (-1);
		}
	}
	return (0);
}

/* Who a warning is for: its label and its organisation (ORG: storage). */
void
store_warnings_audience(const struct warning_row *w, struct audience *aud,
    int64_t *org)
{
	memset(aud, 0, sizeof *aud);
	aud->tlp = w->tlp;
	*org = w->organisation_id;
	aud->orgs = org;
	aud->n_orgs = 1;
}

/*
 * The warning as its organisation sees it; the same members as the data
 * of its event (observations when loaded).
 */
json_t *
store_warnings_json(const struct warning_row *w, int with_observations)
{
	json_t	*v;

	v = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:s}",
	    "id", w->id, "organisation_id", (json_int_t)w->organisation_id,
	    "title", w->title, "description", w->description,
	    "category", w->category, "severity", w->severity,
	    "tlp", tlp_name(w->tlp), "observation_count", w->count,
	    "created_at", w->created_at);
	if (w->parts > 1) {
		json_object_set_new(v, "part", json_integer(w->part));
		json_object_set_new(v, "parts", json_integer(w->parts));
	}
	if (with_observations && w->observations != NULL)
		json_object_set(v, "observations", w->observations);
	return (v);
}

/* Load warning ID with its observations: 0, TOCSIN_STORE_NOT_FOUND, -1. */
int
store_warnings_get(PGconn *db, const char *id, struct warning_row *w)
{
	const char	*params[1];
	PGresult	*res;
	int		 rc;

	memset(w, 0, sizeof *w);
	params[0] = id;
	res = db_exec(db, "SELECT " STORE_WARNINGS_COLUMNS ", observations "
	    "FROM warnings WHERE id = $1", 1, params);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) != 1)
		rc = TOCSIN_STORE_NOT_FOUND;
	else
		rc = store_warnings_fill(res, 0, w);
	PQclear(res);
	return (rc);
}

/*
 * Up to LIMIT warnings before CURSOR (0: from the newest), newest first,
 * without their observations; ORG (0: all) and CATEGORY (NULL: any)
 * narrow. 0 or -1.
 */
int
store_warnings_list(PGconn *db, int64_t org, const char *category,
    int64_t cursor, int limit, struct warning_row **out, size_t *n)
{
	const char	*params[4];
	char		 orgs[24], cursors[24], limits[16];
	PGresult	*res;
	int		 i, rows;

	*out = NULL;
	*n = 0;
	snprintf(orgs, sizeof orgs, "%" PRId64, org);
	snprintf(cursors, sizeof cursors, "%" PRId64, cursor > 0 ? cursor :
	    INT64_MAX);
	snprintf(limits, sizeof limits, "%d", limit);
	params[0] = orgs;
	params[1] = category;
	params[2] = cursors;
	params[3] = limits;
	res = db_exec(db, "SELECT " STORE_WARNINGS_COLUMNS " FROM warnings "
	    "WHERE ($1::bigint = 0 OR organisation_id = $1) "
	    "AND ($2::text IS NULL OR category = $2) "
	    "AND num < $3 ORDER BY num DESC LIMIT $4", 4, params);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	*out = xcalloc(rows + 1, sizeof **out);
	for (i = 0; i < rows; i++) {
		if (store_warnings_fill(res, i, &(*out)[*n]) == 0)
			(*n)++;
	}
	PQclear(res);
	return (0);
}

/* The sectors of the batch's organisations, as JSON arrays by org. */
static int
store_warnings_sectors(PGconn *db, const struct warning_batch *b,
    json_t **sectors)
{
	struct wbuf	 ids;
	const char	*params[1];
	PGresult	*res;
	char		 num[32], **v;
	size_t		 i, n, k;
	int		 j;

	memset(&ids, 0, sizeof ids);
	wbuf_str(&ids, "{");
	for (i = 0; i < b->n_parts; i++) {
		snprintf(num, sizeof num, "%s%" PRId64, i == 0 ? "" : ",",
		    b->parts[i].org);
		wbuf_str(&ids, num);
	}
	wbuf_str(&ids, "}");
	params[0] = ids.p;
	res = db_exec(db, "SELECT id, sectors FROM organisations "
	    "WHERE id = ANY ($1::bigint[])", 1, params);
	wbuf_free(&ids);
	if (res == NULL)
		return (-1);
	*sectors = json_object();
	for (j = 0; j < PQntuples(res); j++) {
		json_t *a = json_array();
		if (pg_parse_text_array(PQgetvalue(res, j, 1), &v, &n) == 0) {
			for (k = 0; k < n; k++)
				json_array_append_new(a, json_string(v[k]));
			strv_free(v, n);
		}
		json_object_set_new(*sectors, PQgetvalue(res, j, 0), a);
	}
	PQclear(res);
	return (0);
}

/*
 * Take N consecutive numbers of this year's counter for PREFIX; also the
 * transaction's time, the warnings' created_at.
 */
static int
store_warnings_numbers(PGconn *db, const char *prefix, size_t n, char *year,
    size_t yearlen, int64_t *first, char *now, size_t nowlen)
{
	const char	*params[2];
	char		 count[24];
	PGresult	*res;

	snprintf(count, sizeof count, "%zu", n);
	params[0] = prefix;
	params[1] = count;
	/* The row stays locked until commit: numbers are gap-free. */
	res = db_exec(db, "INSERT INTO id_counters (prefix, year, last) "
	    "VALUES ($1, extract(year FROM now() AT TIME ZONE 'UTC')::int, "
	    "$2::int) ON CONFLICT (prefix, year) DO UPDATE "
	    "SET last = id_counters.last + $2::int RETURNING year, last, "
	    STORE_WARNINGS_TS("now()"), 2, params);
	if (res == NULL)
		return (-1);
	snprintf(year, yearlen, "%s", PQgetvalue(res, 0, 0));
	*first = strtoll(PQgetvalue(res, 0, 1), NULL, 10) - (int64_t)n + 1;
	snprintf(now, nowlen, "%s", PQgetvalue(res, 0, 2));
	PQclear(res);
	return (0);
}

/*
 * Store part P as warning ID with its event; 0 or -1.
 *
 * Why this order: the observations are the bulk of an import (a hundred
 * megabytes for a million rows) and turning JSON text into jsonb is what
 * costs. They are parsed once, into the event's data; the warning's row
 * then takes its copy from there (jsonb to jsonb, no parsing). The event
 * is written by store_events_insert() without them and completed by an
 * UPDATE before anyone can read it: nothing reads an event before its
 * transaction commits, and planning its deliveries only reads its scope.
 */
static int
store_warnings_one(PGconn *db, const char *id, int64_t publisher,
    const struct warning_head *h, const struct warning_part *p,
    json_t *sectors, const char *now, struct warning_made *made)
{
	struct warning_row	 w;
	struct audience		 aud;
	struct wbuf		 full;
	const char		*params[13];
	char			 org[24], count[24], part[16], parts[16];
	char			 pub[24], ev[24], *head;
	json_t			*scope, *data, *s;
	int64_t			 event_id, orgid;
	int			 rc;

	memset(&w, 0, sizeof w);
	w.id = (char *)id;
	w.organisation_id = p->org;
	w.tlp = h->tlp;
	w.title = (char *)h->title;
	w.description = (char *)h->description;
	w.category = (char *)h->category;
	w.severity = (char *)severity_name(h->severity);
	w.count = (int)p->count;
	w.part = p->part;
	w.parts = p->parts;
	w.created_at = (char *)now;

	snprintf(org, sizeof org, "%" PRId64, p->org);
	store_warnings_audience(&w, &aud, &orgid);
	if ((s = json_object_get(sectors, org)) == NULL)
		s = json_array();
	else
		json_incref(s);
	scope = json_pack("[{s:s, s:o, s:s, s:s, s:s, s:o, s:[], s:[]}]",
	    "tlp", tlp_name(w.tlp), "audience", audience_to_json(&aud),
	    "title", w.title, "summary", w.description,
	    "severity", w.severity, "sectors", s, "cves", "products");
	data = store_warnings_json(&w, 0);
	event_id = store_events_insert(db, "warning.issued", "warning", id, 1,
	    tlp_name(w.tlp), scope, data);
	json_decref(scope);
	if (event_id < 0) {
		json_decref(data);
		return (-1);
	}

	/* The data again, with the observations' text spliced in. */
	head = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	memset(&full, 0, sizeof full);
	wbuf_add(&full, head, strlen(head) - 1);	/* without its "}" */
	free(head);
	wbuf_str(&full, ",\"observations\":");
	wbuf_add(&full, p->obs.p, p->obs.len);
	wbuf_add(&full, "}", 1);
	snprintf(ev, sizeof ev, "%" PRId64, event_id);
	snprintf(count, sizeof count, "%zu", p->count);
	snprintf(part, sizeof part, "%d", p->part);
	snprintf(parts, sizeof parts, "%d", p->parts);
	snprintf(pub, sizeof pub, "%" PRId64, publisher);
	params[0] = id;
	params[1] = org;
	params[2] = tlp_name(h->tlp);
	params[3] = h->title;
	params[4] = h->description;
	params[5] = h->category;
	params[6] = w.severity;
	params[7] = count;
	params[8] = part;
	params[9] = parts;
	params[10] = publisher != 0 ? pub : NULL;
	params[11] = ev;
	params[12] = full.p;
	rc = db_exec_ok(db, "WITH e AS (UPDATE events SET data = $13::jsonb "
	    "WHERE event_id = $12 RETURNING event_id, data) "
	    "INSERT INTO warnings (id, organisation_id, tlp, title, "
	    "description, category, severity, observation_count, part, parts, "
	    "publisher_id, event_id, observations) SELECT $1, $2, $3, $4, $5, "
	    "$6, $7, $8, $9, $10, $11, e.event_id, e.data->'observations' "
	    "FROM e", 13, params);
	wbuf_free(&full);
	if (rc != 0)
		return (-1);
	snprintf(made->id, sizeof made->id, "%s", id);
	made->organisation_id = p->org;
	made->event_id = event_id;
	return (0);
}

/*
 * Publish batch B (finished) under head H for PUBLISHER in one
 * transaction: every warning and its event, or nothing. *made lists what
 * was created (caller frees). 0 or -1.
 */
int
store_warnings_publish(PGconn *db, const char *prefix, int64_t publisher,
    const struct warning_head *h, struct warning_batch *b,
    struct warning_made **made, size_t *nmade)
{
	json_t	*sectors = NULL;
	char	*counter = NULL, *id = NULL, year[16], now[32];
	int64_t	 first;
	size_t	 i;

	*made = NULL;
	*nmade = 0;
	if (b->n_parts == 0)
		return (0);
	xasprintf(&counter, "%s-W", prefix);
	if (db_begin(db) != 0)
		goto fail;
	/*
	 * LZ4 (where the server has it) compresses the large values of this
	 * transaction several times faster than the default pglz.
	 */
	if (db_exec_ok(db, "SELECT set_config('default_toast_compression', "
	    "'lz4', true) FROM pg_settings WHERE name = "
	    "'default_toast_compression' AND 'lz4' = ANY (enumvals)", 0,
	    NULL) != 0 ||
	    store_warnings_sectors(db, b, &sectors) != 0 ||
	    store_warnings_numbers(db, counter, b->n_parts, year, sizeof year,
	    &first, now, sizeof now) != 0)
		goto fail;
	*made = xcalloc(b->n_parts, sizeof **made);
	for (i = 0; i < b->n_parts; i++) {
		xasprintf(&id, "%s-%s-%05" PRId64, counter, year,
		    first + (int64_t)i);
		if (store_warnings_one(db, id, publisher, h, &b->parts[i],
		    sectors, now, &(*made)[i]) != 0)
			goto fail;
		free(id);
		id = NULL;
	}
	if (db_commit(db) != 0)
		goto fail;
	*nmade = b->n_parts;
	json_decref(sectors);
	free(counter);
	return (0);
fail:
	db_rollback(db);
	json_decref(sectors);
	free(counter);
	free(id);
	free(*made);
	*made = NULL;
	return (-1);
}
