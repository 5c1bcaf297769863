/*
 * api_assets.c: the /v1/assets resource: the networks, AS numbers and
 * domains organisations own. An org-admin proposes its organisation's; an
 * admin approves or rejects them (PATCH), may register approved ones
 * directly, and may load many at once from CSV (POST /v1/assets/import).
 * Only approved assets of active organisations match observations
 * (assetmatch.c). SQL lives in store_assets.c.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "tocsind.h"

#define API_ASSETS_ERRORS_LISTED 100
#define API_ASSETS_IMPORT_BATCH	5000

static const char *const api_assets_create_members[] = {
	"organisation_id", "type", "value", "status", NULL
};
static const char *const api_assets_update_members[] = { "status", NULL };

static json_t *
api_assets_to_json(const struct asset *a)
{
	return (json_pack("{s:I, s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:s}",
	    "id", (json_int_t)a->id,
	    "organisation_id", (json_int_t)a->organisation_id,
	    "type", asset_type_name(a->type), "value", a->value,
	    "status", asset_status_name(a->status),
	    "proposed_by", a->proposed_by != 0 ?
	    json_integer(a->proposed_by) : json_null(),
	    "decided_by", a->decided_by != 0 ?
	    json_integer(a->decided_by) : json_null(),
	    "decided_at", a->decided_at != NULL ?
	    json_string(a->decided_at) : json_null(),
	    "created_at", a->created_at));
}

/* Is the organisation one that may own assets (exists, active)? */
static int
api_assets_org_ok(struct req *r, int64_t id)
{
	struct organisation	o;
	int			rc;

	rc = store_organisations_get(r->db, id, 0, &o);
	if (rc == TOCSIN_STORE_NOT_FOUND || (rc == 0 && !o.active)) {
		if (rc == 0)
			store_organisations_clear(&o);
		http_problem(r, 422, "organisation_id", "no such organisation");
		return (0);
	}
	if (rc != 0) {
		api_db_failed(r);
		return (0);
	}
	store_organisations_clear(&o);
	return (1);
}

/*
 * POST /v1/assets {type, value[, organisation_id][, status]}. An org-admin
 * proposes for its own organisation. An admin names the organisation and
 * registers the asset approved (it is the approver) unless it passes
 * status "proposed" to decide later.
 */
static void
api_assets_create_cb(struct req *r)
{
	struct asset	 a;
	json_t		*body, *v;
	const char	*s, *why;
	char		 value[TOCSIN_ASSET_VALUE_MAX];
	int		 admin = r->who->role == ROLE_ADMIN, rc;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN) |
	    ROLEBIT(ROLE_ORG_ADMIN)))
		return;
	if ((body = http_json_body(r)) == NULL)
		return;
	memset(&a, 0, sizeof a);
	if (api_check_members(r, body, api_assets_create_members) != 0)
		goto out;
	if ((s = api_string(json_object_get(body, "type"))) == NULL ||
	    asset_type_parse(s, &a.type) != 0) {
		http_problem(r, 422, "type", "type must be cidr, asn or "
		    "domain");
		goto out;
	}
	v = json_object_get(body, "value");
	if (json_is_integer(v) && a.type == ASSET_ASN) {
		snprintf(value, sizeof value, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		s = value;
	} else if ((s = api_string(v)) == NULL) {
		http_problem(r, 422, "value", "value is required: a CIDR "
		    "prefix, an AS number or a domain");
		goto out;
	}
	if (asset_normalise(a.type, s, value, sizeof value, &why) != 0) {
		http_problem(r, 422, "value", "value %s", why);
		goto out;
	}
	a.value = xstrdup(value);
	a.status = admin ? ASSET_APPROVED : ASSET_PROPOSED;
	if ((v = json_object_get(body, "status")) != NULL) {
		s = api_string(v);
		if (!admin) {
			http_problem(r, 422, "status", "status: an admin "
			    "decides; an org-admin proposes");
			goto out;
		}
		if (s == NULL || asset_status_parse(s, &a.status) != 0 ||
		    a.status == ASSET_REJECTED) {
			http_problem(r, 422, "status", "status must be "
			    "approved or proposed");
			goto out;
		}
	}
	v = json_object_get(body, "organisation_id");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) <= 0)) {
		http_problem(r, 422, "organisation_id", "organisation_id must "
		    "be an organisation's id");
		goto out;
	}
	a.organisation_id = v != NULL ? json_integer_value(v) : 0;
	if (!admin) {
		if (a.organisation_id == 0)
			a.organisation_id = r->who->org_id;
		/* Another organisation is answered like a missing one. */
		if (a.organisation_id != r->who->org_id) {
			http_problem(r, 422, "organisation_id", "no such "
			    "organisation");
			goto out;
		}
	} else if (a.organisation_id == 0) {
		http_problem(r, 422, "organisation_id", "organisation_id is "
		    "required");
		goto out;
	}
	if (!api_assets_org_ok(r, a.organisation_id))
		goto out;
	a.proposed_by = r->who->user_id;
	a.decided_by = a.status == ASSET_APPROVED ? r->who->user_id : 0;
	/* The asset and its audit entry (an approval too) commit together. */
	if (db_begin(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	rc = store_assets_insert(r->db, &a);
	if (rc == 0 && (audit_record_id(r->db, r->who->user_id,
	    a.status == ASSET_APPROVED ? "asset.approve" : "asset.propose",
	    "asset", a.id, json_pack("{s:I, s:s, s:s}", "organisation_id",
	    (json_int_t)a.organisation_id, "type", asset_type_name(a.type),
	    "value", a.value)) != 0 || db_commit(r->db) != 0))
		rc = -1;
	if (rc != 0)
		db_rollback(r->db);
	if (rc == TOCSIN_STORE_CONFLICT)
		http_problem(r, 409, "value", "%s %s is registered already, by "
		    "this organisation or approved for another", a.value,
		    asset_type_name(a.type));
	else if (rc != 0)
		api_db_failed(r);
	else {
		log_info("asset %" PRId64 " (%s) %s for organisation %" PRId64
		    " by user %" PRId64, a.id, asset_type_name(a.type),
		    asset_status_name(a.status), a.organisation_id,
		    r->who->user_id);
		api_reply_created(r, "/v1/assets", a.id,
		    api_assets_to_json(&a));
	}
out:
	store_assets_clear(&a);
	json_decref(body);
}

/* GET /v1/assets: an admin every one (?organisation_id=), an org-admin
 * its organisation's; both may narrow with ?status= and ?type=. */
static void
api_assets_list_cb(struct req *r)
{
	struct asset_query	 q;
	struct asset		*v;
	enum asset_status	 st;
	enum asset_type		 type;
	const char		*s;
	size_t			 n;
	int			 limit;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN) |
	    ROLEBIT(ROLE_ORG_ADMIN)))
		return;
	memset(&q, 0, sizeof q);
	q.status = q.type = -1;
	if (api_list_args(r, &q.after, &limit) != 0)
		return;
	if ((s = http_query(r, "status")) != NULL) {
		if (asset_status_parse(s, &st) != 0) {
			http_problem(r, 422, "status", "status must be "
			    "proposed, approved or rejected");
			return;
		}
		q.status = st;
	}
	if ((s = http_query(r, "type")) != NULL) {
		if (asset_type_parse(s, &type) != 0) {
			http_problem(r, 422, "type", "type must be cidr, asn "
			    "or domain");
			return;
		}
		q.type = type;
	}
	if (r->who->role == ROLE_ADMIN) {
		if ((s = http_query(r, "organisation_id")) != NULL &&
		    (q.organisation_id = http_parse_id(s)) == 0) {
			http_problem(r, 422, "organisation_id",
			    "organisation_id must be an organisation's id");
			return;
		}
	} else
		q.organisation_id = r->who->org_id;
	q.limit = limit + 1;
	if (store_assets_list(r->db, &q, &v, &n) != 0) {
		api_db_failed(r);
		return;
	}
	API_REPLY_PAGE(r, v, n, limit, api_assets_to_json, store_assets_clear);
}

/* Load the asset of the path if the caller may act on it; else answer. */
static int
api_assets_load(struct req *r, int lock, struct asset *a)
{
	int64_t	id = http_parse_id(r->params[0]);
	int	rc;

	memset(a, 0, sizeof *a);
	if (id == 0) {
		http_problem(r, 404, NULL, "no such asset");
		return (-1);
	}
	rc = store_assets_get(r->db, id, lock, a);
	if (rc == TOCSIN_STORE_NOT_FOUND || (rc == 0 &&
	    r->who->role != ROLE_ADMIN &&
	    a->organisation_id != r->who->org_id)) {
		store_assets_clear(a);
		db_rollback(r->db);
		http_problem(r, 404, NULL, "no such asset");
		return (-1);
	}
	if (rc != 0) {
		api_db_failed(r);
		return (-1);
	}
	return (0);
}

/* GET /v1/assets/{id} */
static void
api_assets_get_cb(struct req *r)
{
	struct asset	a;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN) |
	    ROLEBIT(ROLE_ORG_ADMIN)))
		return;
	if (api_assets_load(r, 0, &a) != 0)
		return;
	http_reply_json(r, 200, api_assets_to_json(&a));
	store_assets_clear(&a);
}

/* PATCH /v1/assets/{id} {status: approved | rejected}: an admin decides. */
static void
api_assets_update_cb(struct req *r)
{
	struct asset		 a;
	enum asset_status	 st;
	json_t			*body;
	const char		*s;
	int			 rc;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN)))
		return;
	if ((body = http_json_body(r)) == NULL)
		return;
	memset(&a, 0, sizeof a);
	if (api_check_members(r, body, api_assets_update_members) != 0)
		goto out;
	if ((s = api_string(json_object_get(body, "status"))) == NULL ||
	    asset_status_parse(s, &st) != 0 || st == ASSET_PROPOSED) {
		http_problem(r, 422, "status", "status must be approved or "
		    "rejected");
		goto out;
	}
	if (db_begin(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	if (api_assets_load(r, 1, &a) != 0)
		goto out;
	rc = store_assets_decide(r->db, &a, st, r->who->user_id);
	if (rc == TOCSIN_STORE_CONFLICT) {
		db_rollback(r->db);
		http_problem(r, 409, "status", "%s %s is approved for another "
		    "organisation already", a.value, asset_type_name(a.type));
		goto out;
	}
	if (rc != 0 || audit_record_id(r->db, r->who->user_id,	/* audit.c */
	    st == ASSET_APPROVED ? "asset.approve" : "asset.reject", "asset",
	    a.id, json_pack("{s:I, s:s, s:s}", "organisation_id",
	    (json_int_t)a.organisation_id, "type", asset_type_name(a.type),
	    "value", a.value)) != 0 || db_commit(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	log_info("asset %" PRId64 " %s by user %" PRId64, a.id,
	    asset_status_name(a.status), r->who->user_id);
	http_reply_json(r, 200, api_assets_to_json(&a));
out:
	store_assets_clear(&a);
	json_decref(body);
}

/* DELETE /v1/assets/{id}: an org-admin its own, an admin any. */
static void
api_assets_delete_cb(struct req *r)
{
	struct asset	a;
	int		rc;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN) |
	    ROLEBIT(ROLE_ORG_ADMIN)))
		return;
	if (db_begin(r->db) != 0) {
		api_db_failed(r);
		return;
	}
	if (api_assets_load(r, 1, &a) != 0)
		return;
	rc = store_assets_delete(r->db, a.id);
	if (rc != 0 || db_commit(r->db) != 0) {
		store_assets_clear(&a);
		api_db_failed(r);
		return;
	}
	log_info("asset %" PRId64 " deleted by user %" PRId64, a.id,
	    r->who->user_id);
	store_assets_clear(&a);
	http_reply_text(r, 204, NULL, "");
}

/* Is the body text/csv? 1, or 0 after answering 415 or 422. */
int
api_assets_csv_body(struct req *r)
{
	const char	*ct;

	ct = MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct == NULL || strncasecmp(ct, "text/csv", 8) != 0 ||
	    (ct[8] != '\0' && ct[8] != ';' && ct[8] != ' ')) {
		http_problem(r, 415, NULL, "send the body as text/csv");
		return (0);
	}
	if (r->body_len == 0) {
		http_problem(r, 422, "body", "the body is empty: a header row "
		    "and rows are expected");
		return (0);
	}
	return (1);
}

/* The state of one bulk registration. */
struct api_assets_import {
	int64_t			*orgs;	/* active, ascending */
	size_t			 n_orgs;
	struct asset_import_row	*rows;	/* the batch being filled */
	size_t			 n;
	size_t			 total;
	size_t			 created;
	size_t			 unchanged;
	size_t			 refused;
	json_t			*errors;
};

static void
api_assets_import_error(struct api_assets_import *im, size_t line,
    const char *field, const char *detail)
{
	im->refused++;
	if (json_array_size(im->errors) < API_ASSETS_ERRORS_LISTED)
		json_array_append_new(im->errors, json_pack("{s:I, s:s?, s:s}",
		    "line", (json_int_t)line, "field", field, "detail",
		    detail));
}

static int
api_assets_org_cmp(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x < y ? -1 : x > y);
}

/* Write the batch; 0 or -1. */
static int
api_assets_import_flush(struct req *r, struct api_assets_import *im)
{
	size_t	i;

	if (im->n == 0)
		return (0);
	if (store_assets_import(r->db, im->rows, im->n, r->who->user_id) != 0)
		return (-1);
	for (i = 0; i < im->n; i++) {
		if (im->rows[i].outcome == 1)
			im->created++;
		else if (im->rows[i].outcome == 0)
			im->unchanged++;
		else
			api_assets_import_error(im, im->rows[i].line, "value",
			    "approved for another organisation already");
	}
	im->n = 0;
	return (0);
}

/* Check one data row into the batch, or record why it is refused. */
static void
api_assets_import_row(struct api_assets_import *im, const int *col,
    const char *const *f, size_t nf, size_t ncols, size_t line)
{
	struct asset_import_row	*row = &im->rows[im->n];
	const char		*why;
	int64_t			 org;
	char			*end, msg[160];

	if (nf != ncols) {
		api_assets_import_error(im, line, NULL, "wrong number of "
		    "fields");
		return;
	}
	memset(row, 0, sizeof *row);
	row->line = line;
	org = strtoll(f[col[0]], &end, 10);
	if (*f[col[0]] < '1' || *f[col[0]] > '9' || *end != '\0' ||
	    bsearch(&org, im->orgs, im->n_orgs, sizeof *im->orgs,
	    api_assets_org_cmp) == NULL) {
		api_assets_import_error(im, line, "organisation_id", "no such "
		    "organisation");
		return;
	}
	row->organisation_id = org;
	if (asset_type_parse(f[col[1]], &row->type) != 0) {
		api_assets_import_error(im, line, "type", "type must be cidr, "
		    "asn or domain");
		return;
	}
	if (asset_normalise(row->type, f[col[2]], row->value,
	    sizeof row->value, &why) != 0) {
		snprintf(msg, sizeof msg, "value %s", why);
		api_assets_import_error(im, line, "value", msg);
		return;
	}
	row->status = ASSET_APPROVED;
	if (col[3] >= 0 && *f[col[3]] != '\0' &&
	    (asset_status_parse(f[col[3]], &row->status) != 0 ||
	    row->status == ASSET_REJECTED)) {
		api_assets_import_error(im, line, "status", "status must be "
		    "approved or proposed");
		return;
	}
	im->n++;
	im->total++;
}

/*
 * POST /v1/assets/import (admin), text/csv with a header row naming
 * organisation_id, type, value and optionally status (approved, the
 * default, or proposed). Rows are read one at a time and written in
 * batches in one transaction; a refused line is reported with its number
 * and never stops the others. A line the organisation has already is
 * "unchanged", so a file can be loaded again.
 */
static void
api_assets_import_cb(struct req *r)
{
	static const char *const names[] = { "organisation_id", "type",
	    "value", "status" };
	struct api_assets_import im;
	struct csv		*c;
	const char *const	*f;
	const char		*why;
	size_t			 nf, line, ncols = 0, rows = 0, i, j;
	int			 col[4] = { -1, -1, -1, -1 };
	enum csv_result		 res;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN)))
		return;
	if (!api_assets_csv_body(r))
		return;
	memset(&im, 0, sizeof im);
	c = csv_new_buffer(r->body, r->body_len, TOCSIN_CSV_MAX_FIELD,
	    TOCSIN_CSV_MAX_FIELDS, TOCSIN_CSV_MAX_ROW);
	if ((res = csv_next(c, &f, &nf, &line, &why)) != CSV_ROW) {
		http_problem(r, 422, "body", "line 1: %s", res == CSV_BAD ?
		    why : "a header row is expected");
		goto out;
	}
	for (i = 0; i < nf; i++) {
		for (j = 0; j < 4; j++) {
			if (strcasecmp(f[i], names[j]) == 0)
				break;
		}
		if (j == 4 || col[j] >= 0) {
			http_problem(r, 422, "body", "line 1: column \"%.40s\" "
			    "is unknown or given twice (organisation_id, type, "
			    "value, status)", f[i]);
			goto out;
		}
		col[j] = (int)i;
	}
	ncols = nf;
	if (col[0] < 0 || col[1] < 0 || col[2] < 0) {
		http_problem(r, 422, "body", "line 1: the header must name "
		    "organisation_id, type and value");
		goto out;
	}
	if (db_begin(r->db) != 0 ||
	    store_assets_active_orgs(r->db, &im.orgs, &im.n_orgs) != 0) {
		api_db_failed(r);
		goto out;
	}
	im.rows = xcalloc(API_ASSETS_IMPORT_BATCH, sizeof *im.rows);
	im.errors = json_array();
	for (;;) {
		res = csv_next(c, &f, &nf, &line, &why);
		if (res == CSV_END)
			break;
		rows++;
		if (res == CSV_BAD || res == CSV_ERROR) {
			api_assets_import_error(&im, line, NULL, why != NULL ?
			    why : "unreadable");
			if (res == CSV_ERROR)
				break;
			continue;
		}
		api_assets_import_row(&im, col, f, nf, ncols, line);
		if (im.n == API_ASSETS_IMPORT_BATCH &&
		    api_assets_import_flush(r, &im) != 0) {
			api_db_failed(r);
			goto out;
		}
	}
	/* One audit entry for the file, in its transaction. */
	if (api_assets_import_flush(r, &im) != 0 ||
	    audit_record(r->db, r->who->user_id, "asset.import", "asset", NULL,
	    json_pack("{s:I, s:I, s:I, s:I}", "rows", (json_int_t)rows,
	    "created", (json_int_t)im.created, "unchanged",
	    (json_int_t)im.unchanged, "refused", (json_int_t)im.refused)) != 0 ||
	    db_commit(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	log_info("assets: import by user %" PRId64 ": %zu rows, %zu created, "
	    "%zu unchanged, %zu refused", r->who->user_id, rows, im.created,
	    im.unchanged, im.refused);
	http_reply_json(r, 200, json_pack("{s:I, s:I, s:I, s:I, s:O}",
	    "rows", (json_int_t)rows, "created", (json_int_t)im.created,
	    "unchanged", (json_int_t)im.unchanged,
	    "refused", (json_int_t)im.refused, "errors", im.errors));
out:
	csv_free(c);
	free(im.orgs);
	free(im.rows);
	json_decref(im.errors);
}

const struct route api_assets_routes[] = {
	{ "POST", "/v1/assets", api_assets_create_cb, 0 },
	{ "GET", "/v1/assets", api_assets_list_cb, 0 },
	{ "POST", "/v1/assets/import", api_assets_import_cb, 0 },
	{ "GET", "/v1/assets/*", api_assets_get_cb, 0 },
	{ "PATCH", "/v1/assets/*", api_assets_update_cb, 0 },
	{ "DELETE", "/v1/assets/*", api_assets_delete_cb, 0 },
	{ NULL, NULL, NULL, 0 }
};
