/*
 * api_audit.c: the operators' side of accountability and retention, for
 * admins only: GET /v1/audit (the audit log, newest first, filtered by
 * actor, action, object and time, cursor pagination) and POST
 * /v1/admin/purge (a retention pass now instead of within the hour; its
 * counts in the answer, and an entry in the log).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

static void	api_audit_list_cb(struct req *);
static void	api_audit_purge_cb(struct req *);

const struct route api_audit_routes[] = {
	{ "GET", "/v1/audit", api_audit_list_cb, 0 },
	{ "POST", "/v1/admin/purge", api_audit_purge_cb, 0 },
	{ NULL, NULL, NULL, 0 }
};

/* Is S a short printable word ([a-z0-9._-], 1 to 64)? */
static int
api_audit_word(const char *s)
{
	size_t	n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-");

	return (n > 0 && n <= 64 && s[n] == '\0');
}

static void
api_audit_list_cb(struct req *r)
{
	struct audit_query	 q;
	const char		*s;
	json_t			*items;
	int64_t			 next;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN)))
		return;
	memset(&q, 0, sizeof q);
	if (api_list_args(r, &q.cursor, &q.limit) != 0)
		return;
	if ((s = http_query(r, "actor")) != NULL &&
	    (q.actor = http_parse_id(s)) == 0) {
		http_problem(r, 422, "actor", "actor must be a user's id");
		return;
	}
	if ((q.action = http_query(r, "action")) != NULL &&
	    !api_audit_word(q.action)) {
		http_problem(r, 422, "action", "action must be an action name "
		    "such as advisory.publish");
		return;
	}
	if ((q.object_type = http_query(r, "object_type")) != NULL &&
	    !api_audit_word(q.object_type)) {
		http_problem(r, 422, "object_type", "object_type must be a "
		    "type name such as advisory");
		return;
	}
	if ((q.object_id = http_query(r, "object_id")) != NULL &&
	    (*q.object_id == '\0' || strlen(q.object_id) > 200)) {
		http_problem(r, 422, "object_id", "object_id must be 1 to 200 "
		    "characters");
		return;
	}
	if ((q.since = http_query(r, "since")) != NULL &&
	    !advisory_timestamp_ok(q.since)) {
		http_problem(r, 422, "since", "since must be an RFC 3339 "
		    "date-time such as 2026-01-31T08:00:00Z");
		return;
	}
	if (audit_list(r->db, &q, &items, &next) != 0) {
		api_db_failed(r);
		return;
	}
	api_reply_list(r, items, next);
}

static void
api_audit_purge_cb(struct req *r)
{
	const struct config	*cfg = http_config();
	struct retention_counts	 c;
	int			 rc;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN)))
		return;
	rc = retention_purge(r->db, cfg->retention_deliveries_days,
	    cfg->retention_audit_days, &c);
	if (rc == 1) {
		http_problem(r, 409, NULL, "a purge is already running");
		return;
	}
	if (rc != 0) {
		api_db_failed(r);
		return;
	}
	/* After the purge, so the entry is not a candidate of its own pass. */
	audit_record(r->db, r->who->user_id, "retention.purge", "retention",
	    NULL, json_pack("{s:I, s:I, s:I, s:i, s:i}",
	    "deliveries", (json_int_t)c.deliveries,
	    "delivery_attempts", (json_int_t)c.attempts,
	    "audit", (json_int_t)c.audit,
	    "deliveries_days", cfg->retention_deliveries_days,
	    "audit_days", cfg->retention_audit_days));
	log_info("retention: purge asked by user %" PRId64, r->who->user_id);
	http_reply_json(r, 200, json_pack("{s:I, s:I, s:I}",
	    "deliveries", (json_int_t)c.deliveries,
	    "delivery_attempts", (json_int_t)c.attempts,
	    "audit", (json_int_t)c.audit));
}
