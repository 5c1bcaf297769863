/*
 * api_deliveries.c: GET /v1/advisories/{id}/deliveries: for CSIRT staff,
 * who received an advisory and how: one row per delivery (each event of
 * the advisory, each recipient and channel) with its state, attempts,
 * times, last status and last error. The answers of the recipients'
 * systems stay in the endpoint's own log (GET /v1/webhooks/{id}/deliveries).
 * Every page read is in the audit log (deliveries.read): the report says
 * who received what, so who looked at it is kept too.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

static void	api_deliveries_advisory_cb(struct req *);

/* api_advisories.c's GET of one segment cannot match this longer path. */
const struct route api_deliveries_routes[] = {
	{ "GET", "/v1/advisories/*/deliveries", api_deliveries_advisory_cb, 0 },
	{ NULL, NULL, NULL, 0 }
};

static void
api_deliveries_advisory_cb(struct req *r)
{
	struct outbox_query	 q;
	json_t			*items;
	const char		*state;
	int64_t			 next;
	int			 rc;

	/* Publishers see who received what; admins operate the platform. */
	if (!http_require_roles(r, ROLES_STAFF))
		return;
	memset(&q, 0, sizeof q);
	if (api_list_args(r, &q.cursor, &q.limit) != 0)
		return;
	if ((state = http_query(r, "state")) != NULL &&
	    strcmp(state, "pending") != 0 && strcmp(state, "sending") != 0 &&
	    strcmp(state, "delivered") != 0 && strcmp(state, "failed") != 0 &&
	    strcmp(state, "cancelled") != 0) {
		http_problem(r, 422, "state", "state: must be pending, sending, "
		    "delivered, failed or cancelled");
		return;
	}
	q.state = state;
	q.item_kind = "advisory";
	q.item_id = r->params[0];
	rc = store_outbox_list(r->db, &q, &items, &next);
	if (rc == TOCSIN_STORE_NOT_FOUND)
		http_problem(r, 404, NULL, "no advisory %s", r->params[0]);
	else if (rc != 0)
		api_db_failed(r);
	else if (audit_record(r->db, r->who->user_id, "deliveries.read",
	    "advisory", r->params[0], json_pack("{s:s?, s:I}", "state", state,
	    "cursor", (json_int_t)q.cursor)) != 0) {
		/* Who read whose addresses is kept, or nothing is shown. */
		json_decref(items);
		api_db_failed(r);
	} else
		api_reply_list(r, items, next);
}
