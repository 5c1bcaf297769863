/*
 * api_advisories.c: /v1/advisories: publish, read, list, revise, revoke.
 * Reads go through tlp_may_see(); an advisory the caller may not see
 * answers exactly like one that does not exist.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

static void	api_advisories_create(struct req *);
static void	api_advisories_list(struct req *);
static void	api_advisories_get(struct req *);
static void	api_advisories_revise(struct req *);
static void	api_advisories_revoke(struct req *);

const struct route api_advisories_routes[] = {
	{ "POST", "/v1/advisories", api_advisories_create, 0 },
	{ "GET", "/v1/advisories", api_advisories_list, 0 },
	{ "GET", "/v1/advisories/*", api_advisories_get, 0 },
	{ "PUT", "/v1/advisories/*", api_advisories_revise, 0 },
	{ "POST", "/v1/advisories/*/revoke", api_advisories_revoke, 0 },
	{ NULL, NULL, NULL, 0 }
};

static void
api_advisories_not_found(struct req *r, const char *id)
{
	http_problem(r, 404, NULL, "no advisory %s", id);
}

/* Validate the body into a normalised document; NULL after answering. */
static json_t *
api_advisories_document(struct req *r, struct audience *aud)
{
	json_t			*body, *doc;
	struct field_error	 err;

	if ((body = http_json_body(r)) == NULL)
		return (NULL);
	if (advisory_validate(body, http_config()->max_body_bytes, &doc, aud,
	    &err) != 0) {
		json_decref(body);
		http_problem(r, 422, err.field, "%s", err.message);
		return (NULL);
	}
	json_decref(body);
	return (doc);
}

/* Answer with the advisory and the event that announced the change. */
static void
api_advisories_reply(struct req *r, unsigned status, struct advisory_row *row,
    int64_t event_id)
{
	json_t	*v;

	v = store_advisories_json(row, role_is_staff(r->who->role),
	    http_config()->advisory_id_prefix);
	json_object_set_new(v, "event_id", json_integer(event_id));
	if (status == 201)
		xasprintf(&r->out_location, "/v1/advisories/%s", row->id);
	http_reply_json(r, status, v);
}

/*
 * Publish: plan the deliveries (reads only, on this thread's connection),
 * then hand the advisory to publish.c, which stores it with the others
 * published at the same moment and returns once it has committed.
 */
static void
api_advisories_create(struct req *r)
{
	struct audience		 aud;
	struct advisory_row	 row;
	struct publish_item	 item;
	const char		*client;
	json_t			*doc;
	int			 rc;

	if (!http_require_roles(r, ROLEBIT(ROLE_PUBLISHER)))
		return;
	if ((doc = api_advisories_document(r, &aud)) == NULL)
		return;
	memset(&item, 0, sizeof item);
	item.publisher = r->who->user_id;
	item.doc = doc;
	item.aud = &aud;
	item.scope = json_pack("[o]", advisory_scope_element(doc));
	if ((client = audit_client_addr()) != NULL)
		snprintf(item.client, sizeof item.client, "%s", client);
	if (store_outbox_plan_compute(r->db, "advisory", item.scope,
	    &item.plan) != 0)
		rc = db_conn_broken(r->db) ? -2 : -1;
	else
		rc = publish_advisory(r->db, &item);
	if (rc != 0)
		http_problem(r, rc == -2 ? 503 : 500, NULL,
		    "the advisory could not be stored");
	else {
		log_info("advisory %s published by user %lld (event %lld)",
		    item.id, (long long)r->who->user_id,
		    (long long)item.event_id);
		/* What GET would show: revision 1, just published. */
		memset(&row, 0, sizeof row);
		row.id = item.id;
		row.status = (char *)"published";
		row.revision = row.shown = 1;
		row.published_at = row.updated_at = item.published_at;
		row.doc = doc;
		api_advisories_reply(r, 201, &row, item.event_id);
	}
	publish_item_clear(&item);
	json_decref(item.scope);
	json_decref(doc);
	audience_clear(&aud);
}

static void
api_advisories_get(struct req *r)
{
	struct advisory_row	 row;
	const char		*revs = http_query(r, "revision");
	int			 rev = 0, rc;
	json_t			*v;

	if (!http_require_roles(r, ROLES_USERS | ROLEBIT(ROLE_ANONYMOUS)))
		return;
	if (revs != NULL && (rev = (int)http_parse_id(revs)) <= 0) {
		http_problem(r, 422, "revision", "revision: must be a positive "
		    "integer");
		return;
	}
	rc = store_advisories_get(r->db, r->params[0], rev, &row);
	if (rc == -2) {
		http_problem(r, 503, NULL, "PostgreSQL is unreachable");
		return;
	}
	/* Both the latest and the asked revision must be visible. */
	if (rc != 0 || !tlp_may_see(&row.latest, r->who) ||
	    !tlp_may_see(&row.aud, r->who)) {
		if (rc == 0)
			store_advisories_row_free(&row);
		api_advisories_not_found(r, r->params[0]);
		return;
	}
	v = store_advisories_json(&row, role_is_staff(r->who->role),
	    http_config()->advisory_id_prefix);
	http_reply_json(r, 200, v);
	store_advisories_row_free(&row);
}

/* Parse the list's query string into Q; 0, or -1 after answering 422. */
static int
api_advisories_query(struct req *r, struct advisory_query *q)
{
	const char	*s;
	enum tlp	 tlp;
	enum severity	 sev;
	int64_t		 n;

	memset(q, 0, sizeof *q);
	q->min_severity = -1;
	q->limit = 50;
	if ((s = http_query(r, "cursor")) != NULL) {
		if ((q->cursor = http_parse_id(s)) == 0)
			goto bad_cursor;
	}
	if ((s = http_query(r, "limit")) != NULL) {
		n = http_parse_id(s);
		if (n < 1 || n > TOCSIN_MAX_LIST_LIMIT) {
			http_problem(r, 422, "limit", "limit: must be from 1 "
			    "to %d", TOCSIN_MAX_LIST_LIMIT);
			return (-1);
		}
		q->limit = (int)n;
	}
	if ((q->since = http_query(r, "since")) != NULL &&
	    !advisory_timestamp_ok(q->since)) {
		http_problem(r, 422, "since", "since: must be an RFC 3339 "
		    "date-time such as 2026-01-31T08:00:00Z");
		return (-1);
	}
	if ((q->sector = http_query(r, "sector")) != NULL &&
	    !sector_valid(q->sector)) {
		http_problem(r, 422, "sector", "sector: \"%s\" is not a NIS2 "
		    "sector tag", q->sector);
		return (-1);
	}
	if ((s = http_query(r, "tlp")) != NULL) {
		if (tlp_parse(s, &tlp) != 0) {
			http_problem(r, 422, "tlp", "tlp: must be one of CLEAR,"
			    " GREEN, AMBER, AMBER+STRICT, RED");
			return (-1);
		}
		q->tlp = tlp_name(tlp);
	}
	if ((s = http_query(r, "severity")) != NULL) {
		if (severity_parse(s, &sev) != 0) {
			http_problem(r, 422, "severity", "severity: must be one"
			    " of low, medium, high, critical");
			return (-1);
		}
		q->min_severity = sev;
	}
	if ((s = http_query(r, "cve")) != NULL) {
		if (advisory_cve_normalise(s, q->cve_buf, sizeof q->cve_buf)
		    != 0) {
			http_problem(r, 422, "cve", "cve: must be a CVE "
			    "identifier such as CVE-2024-21762");
			return (-1);
		}
		q->cve = q->cve_buf;
	}
	if ((s = http_query(r, "q")) != NULL && (*s == '\0' ||
	    strlen(s) > 200)) {
		http_problem(r, 422, "q", "q: must be 1 to 200 characters");
		return (-1);
	}
	q->q = s;
	return (0);
bad_cursor:
	http_problem(r, 422, "cursor", "cursor: use the next_cursor of the "
	    "previous page");
	return (-1);
}

static void
api_advisories_list(struct req *r)
{
	struct advisory_query	 q;
	struct advisory_row	*rows;
	size_t			 n, i;
	int64_t			 next;
	json_t			*items, *v;
	char			 cursor[24];

	if (!http_require_roles(r, ROLES_USERS))
		return;
	if (api_advisories_query(r, &q) != 0)
		return;
	if (store_advisories_list(r->db, &q, r->who, &rows, &n, &next) != 0) {
		http_problem(r, 503, NULL, "PostgreSQL is unreachable");
		return;
	}
	items = json_array();
	for (i = 0; i < n; i++) {
		json_array_append_new(items, store_advisories_json(&rows[i],
		    role_is_staff(r->who->role),
		    http_config()->advisory_id_prefix));
		store_advisories_row_free(&rows[i]);
	}
	free(rows);
	v = json_pack("{s:o}", "items", items);
	if (next != 0) {
		snprintf(cursor, sizeof cursor, "%lld", (long long)next);
		json_object_set_new(v, "next_cursor", json_string(cursor));
	} else
		json_object_set_new(v, "next_cursor", json_null());
	http_reply_json(r, 200, v);
}

static void
api_advisories_revise(struct req *r)
{
	struct audience		 aud;
	struct advisory_row	 row;
	json_t			*doc;
	int64_t			 event_id;
	int			 rc;

	if (!http_require_roles(r, ROLEBIT(ROLE_PUBLISHER)))
		return;
	if ((doc = api_advisories_document(r, &aud)) == NULL)
		return;
	rc = store_advisories_revise(r->db, r->params[0], r->who->user_id,
	    doc, &aud, http_config()->advisory_id_prefix, &row, &event_id);
	switch (rc) {
	case 0:
		log_info("advisory %s revision %d by user %lld (event %lld)",
		    row.id, row.shown, (long long)r->who->user_id,
		    (long long)event_id);
		api_advisories_reply(r, 200, &row, event_id);
		store_advisories_row_free(&row);
		break;
	case -1:
		api_advisories_not_found(r, r->params[0]);
		break;
	case -3:
		http_problem(r, 409, NULL, "advisory %s is revoked and can no "
		    "longer be revised", r->params[0]);
		break;
	default:
		http_problem(r, db_conn_broken(r->db) ? 503 : 500, NULL,
		    "the revision could not be stored");
	}
	json_decref(doc);
	audience_clear(&aud);
}

static void
api_advisories_revoke(struct req *r)
{
	struct advisory_row	 row;
	int64_t			 event_id;
	json_t			*v;

	if (!http_require_roles(r, ROLEBIT(ROLE_PUBLISHER)))
		return;
	switch (store_advisories_revoke(r->db, r->params[0], r->who->user_id,
	    &row, &event_id)) {
	case 0:
		log_info("advisory %s revoked by user %lld (event %lld)",
		    row.id, (long long)r->who->user_id, (long long)event_id);
		v = json_pack("{s:s, s:i, s:s, s:s, s:I}", "id", row.id,
		    "revision", row.revision, "tlp", tlp_name(row.latest.tlp),
		    "status", "revoked", "event_id", (json_int_t)event_id);
		http_reply_json(r, 200, v);
		store_advisories_row_free(&row);
		break;
	case -1:
		api_advisories_not_found(r, r->params[0]);
		break;
	case -3:
		http_problem(r, 409, NULL, "advisory %s is already revoked",
		    r->params[0]);
		break;
	default:
		http_problem(r, db_conn_broken(r->db) ? 503 : 500, NULL,
		    "the revocation could not be stored");
	}
}
