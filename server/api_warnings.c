/*
 * api_warnings.c: /v1/warnings: spear warnings. A publisher sends
 * observations (POST /v1/warnings, JSON) or a partner's report
 * (POST /v1/warnings/import?format=shadowserver, CSV); each observation
 * goes to the organisation owning its address or name (assetmatch.c), and
 * each organisation gets one warning holding only its own observations.
 * The answer counts what matched and what did not, and never echoes an
 * unmatched observation. Reads go through tlp_may_see(); a warning the
 * caller may not see answers exactly like one that does not exist.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tocsind.h"

#define API_WARNINGS_LINES_LISTED	100	/* malformed line numbers */
#define API_WARNINGS_PART_MIN		1024
#define API_WARNINGS_PART_MAX		(16 * 1024 * 1024)

static const char *const api_warnings_members[] = {
	"title", "description", "tlp", "category", "severity", "observations",
	NULL
};

/*
 * The most observation text one warning carries: a quarter of the
 * stream's per-client queue, so that its event fits it (unless a single
 * observation is larger: a part holds at least one).
 */
static size_t
api_warnings_part_bytes(void)
{
	size_t	n = http_config()->ws_send_queue_bytes / 4;

	if (n < API_WARNINGS_PART_MIN)
		return (API_WARNINGS_PART_MIN);
	return (n > API_WARNINGS_PART_MAX ? API_WARNINGS_PART_MAX : n);
}

/* Take the matcher, or answer 503/500 and NULL. */
static struct assetmatch *
api_warnings_matcher(struct req *r)
{
	struct assetmatch	*m;

	if (store_assets_matcher(r->db, &m) != 0) {
		api_db_failed(r);
		return (NULL);
	}
	return (m);
}

/* Publish B and answer with what was made (V: extra members, stolen). */
static void
api_warnings_publish(struct req *r, const struct warning_head *h,
    struct warning_batch *b, size_t unmatched, json_t *v)
{
	struct warning_made	*made;
	struct timespec		 t0, t1;
	size_t			 n, i;
	json_t			*list;

	warning_batch_finish(b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (store_warnings_publish(r->db, http_config()->advisory_id_prefix,
	    r->who->user_id, h, b, &made, &n) != 0) {
		json_decref(v);
		api_db_failed(r);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	list = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:s, s:I}", "id",
		    made[i].id, "organisation_id",
		    (json_int_t)made[i].organisation_id));
	free(made);
	json_object_set_new(v, "warnings_created", json_integer((json_int_t)n));
	json_object_set_new(v, "observations_matched",
	    json_integer((json_int_t)b->matched));
	json_object_set_new(v, "observations_unmatched",
	    json_integer((json_int_t)unmatched));
	json_object_set_new(v, "warnings", list);
	log_info("warnings: %zu issued by user %" PRId64 " to %zu "
	    "organisations (%zu observations matched, %zu unmatched), stored "
	    "in %.3f s", n, r->who->user_id, b->n_orgs, b->matched, unmatched,
	    (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	http_reply_json(r, n > 0 ? 201 : 200, v);
}

/* POST /v1/warnings */
static void
api_warnings_create_cb(struct req *r)
{
	struct warning_head	 h;
	struct field_error	 err;
	struct warning_key	 k;
	struct warning_batch	*b = NULL;
	struct assetmatch	*m = NULL;
	struct wbuf		 obs;
	json_t			*body, *list, *o;
	const char		*tlp = NULL, *sev = NULL;
	static const char *const names[] = { "title", "description",
	    "category", "tlp", "severity" };
	const char		**dst[5];
	size_t			 i, unmatched = 0;
	int64_t			 org;

	if (!http_require_roles(r, ROLEBIT(ROLE_PUBLISHER)))
		return;
	if ((body = http_json_body(r)) == NULL)
		return;
	memset(&obs, 0, sizeof obs);
	memset(&h, 0, sizeof h);
	dst[0] = &h.title;
	dst[1] = &h.description;
	dst[2] = &h.category;
	dst[3] = &tlp;
	dst[4] = &sev;
	if (api_check_members(r, body, api_warnings_members) != 0)
		goto out;
	for (i = 0; i < 5; i++) {
		if (json_get_string(body, names[i], dst[i]) < 0) {
			http_problem(r, 422, names[i], "%s: must be a string",
			    names[i]);
			goto out;
		}
	}
	if (warning_head_check(&h, tlp, sev, &err) != 0) {
		http_problem(r, 422, err.field, "%s", err.message);
		goto out;
	}
	list = json_object_get(body, "observations");
	if (!json_is_array(list) || json_array_size(list) == 0) {
		http_problem(r, 422, "observations", "observations: a "
		    "non-empty array of {ip | domain | email, port, asn, "
		    "timestamp, details}");
		goto out;
	}
	if ((m = api_warnings_matcher(r)) == NULL)
		goto out;
	b = warning_batch_new(api_warnings_part_bytes());
	json_array_foreach(list, i, o) {
		obs.len = 0;
		if (warning_obs_from_json(o, i, &k, &obs, &err) != 0) {
			http_problem(r, 422, err.field, "%s", err.message);
			goto out;
		}
		if ((org = warning_attribute(m, &k)) == 0)
			unmatched++;
		else
			warning_batch_add(b, org, obs.p, obs.len);
	}
	api_warnings_publish(r, &h, b, unmatched, json_object());
out:
	wbuf_free(&obs);
	warning_batch_free(b);
	assetmatch_unref(m);
	json_decref(body);
}

/*
 * POST /v1/warnings/import?format=shadowserver&title=...[&description=]
 * [&category=][&tlp=][&severity=], a Shadowserver report as text/csv. The
 * body is read one row at a time; only matched rows are kept, as their
 * organisation's observations. A malformed row is counted, its line
 * listed (the first 100), and the others go on.
 */
static void
api_warnings_import_cb(struct req *r)
{
	struct warning_head	 h;
	struct field_error	 err;
	struct warning_ss	 ss;
	struct warning_batch	*b = NULL;
	struct assetmatch	*m = NULL;
	struct csv		*c = NULL;
	struct wbuf		 obs;
	struct timespec		 t0, t1;
	const char *const	*f;
	const char		*why, *fmt;
	size_t			 nf, line, rows = 0, malformed = 0;
	size_t			 unmatched = 0;
	int64_t			 org;
	json_t			*lines = NULL, *v;
	enum csv_result		 res;

	if (!http_require_roles(r, ROLEBIT(ROLE_PUBLISHER)))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&obs, 0, sizeof obs);
	memset(&ss, 0, sizeof ss);
	if ((fmt = http_query(r, "format")) == NULL ||
	    strcmp(fmt, "shadowserver") != 0) {
		http_problem(r, 422, "format", "format: shadowserver is the "
		    "one known report format");
		return;
	}
	memset(&h, 0, sizeof h);
	h.title = http_query(r, "title");
	h.description = http_query(r, "description");
	h.category = http_query(r, "category");
	if (warning_head_check(&h, http_query(r, "tlp"),
	    http_query(r, "severity"), &err) != 0) {
		http_problem(r, 422, err.field, "%s", err.message);
		return;
	}
	if (!api_assets_csv_body(r))
		return;
	c = csv_new_buffer(r->body, r->body_len, TOCSIN_CSV_MAX_FIELD,
	    TOCSIN_CSV_MAX_FIELDS, TOCSIN_CSV_MAX_ROW);
	if ((res = csv_next(c, &f, &nf, &line, &why)) != CSV_ROW) {
		http_problem(r, 422, "body", "line 1: %s", res == CSV_BAD ?
		    why : "a header row naming the columns is expected");
		goto out;
	}
	if (warning_ss_header(&ss, f, nf, &why) != 0) {
		http_problem(r, 422, "body", "line %zu: %s", line, why);
		goto out;
	}
	if ((m = api_warnings_matcher(r)) == NULL)
		goto out;
	b = warning_batch_new(api_warnings_part_bytes());
	lines = json_array();
	for (;;) {
		res = csv_next(c, &f, &nf, &line, &why);
		if (res == CSV_END || res == CSV_ERROR)
			break;
		rows++;
		obs.len = 0;
		if (res == CSV_ROW &&
		    warning_ss_row(&ss, m, f, nf, &org, &obs, &why) == 0) {
			if (org == 0)
				unmatched++;
			else
				warning_batch_add(b, org, obs.p, obs.len);
			continue;
		}
		if (malformed++ < API_WARNINGS_LINES_LISTED)
			json_array_append_new(lines, json_integer(
			    (json_int_t)line));
		log_debug("warnings: import line %zu malformed: %s", line,
		    why);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("warnings: import of %zu rows read in %.3f s (%zu malformed, "
	    "%zu unmatched)", rows, (double)(t1.tv_sec - t0.tv_sec) +
	    (t1.tv_nsec - t0.tv_nsec) / 1e9, malformed, unmatched);
	v = json_pack("{s:I, s:I, s:O}", "rows", (json_int_t)rows,
	    "malformed", (json_int_t)malformed, "malformed_lines", lines);
	api_warnings_publish(r, &h, b, unmatched, v);
out:
	csv_free(c);
	warning_ss_clear(&ss);
	wbuf_free(&obs);
	warning_batch_free(b);
	assetmatch_unref(m);
	json_decref(lines);
}

/* GET /v1/warnings: staff every one (?organisation_id=), others their
 * organisation's; ?category= narrows. Without observations. */
static void
api_warnings_list_cb(struct req *r)
{
	struct warning_row	*rows;
	struct audience		 aud;
	json_t			*items;
	const char		*category, *s;
	int64_t			 cursor, org = 0, next = 0, orgid;
	size_t			 n, i, kept = 0;
	int			 limit;

	if (!http_require_roles(r, ROLES_USERS))
		return;
	if (api_list_args(r, &cursor, &limit) != 0)
		return;
	category = http_query(r, "category");
	if (role_is_staff(r->who->role)) {
		if ((s = http_query(r, "organisation_id")) != NULL &&
		    (org = http_parse_id(s)) == 0) {
			http_problem(r, 422, "organisation_id",
			    "organisation_id must be an organisation's id");
			return;
		}
	} else if ((org = r->who->org_id) == 0) {
		api_reply_list(r, json_array(), 0);
		return;
	}
	if (store_warnings_list(r->db, org, category, cursor, limit + 1, &rows,
	    &n) != 0) {
		api_db_failed(r);
		return;
	}
	items = json_array();
	for (i = 0; i < n; i++) {
		store_warnings_audience(&rows[i], &aud, &orgid);
		/* The SQL above narrows; this decides. */
		if (kept < (size_t)limit && tlp_may_see(&aud, r->who)) {
			json_array_append_new(items,
			    store_warnings_json(&rows[i], 0));
			kept++;
		}
		if (i == (size_t)limit - 1 && n > (size_t)limit)
			next = rows[i].num;
		store_warnings_row_free(&rows[i]);
	}
	free(rows);
	api_reply_list(r, items, next);
}

/* GET /v1/warnings/{id} */
static void
api_warnings_get_cb(struct req *r)
{
	struct warning_row	w;
	struct audience		aud;
	int64_t			orgid;
	int			rc;

	if (!http_require_roles(r, ROLES_USERS))
		return;
	rc = store_warnings_get(r->db, r->params[0], &w);
	if (rc == -1) {
		api_db_failed(r);
		return;
	}
	if (rc == 0)
		store_warnings_audience(&w, &aud, &orgid);
	if (rc != 0 || !tlp_may_see(&aud, r->who)) {
		if (rc == 0)
			store_warnings_row_free(&w);
		http_problem(r, 404, NULL, "no warning %s", r->params[0]);
		return;
	}
	http_reply_json(r, 200, store_warnings_json(&w, 1));
	store_warnings_row_free(&w);
}

const struct route api_warnings_routes[] = {
	{ "POST", "/v1/warnings", api_warnings_create_cb, 0 },
	{ "GET", "/v1/warnings", api_warnings_list_cb, 0 },
	{ "POST", "/v1/warnings/import", api_warnings_import_cb, 0 },
	{ "GET", "/v1/warnings/*", api_warnings_get_cb, 0 },
	{ NULL, NULL, NULL, 0 }
};
