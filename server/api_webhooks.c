/*
 * api_webhooks.c: /v1/webhooks: an organisation's endpoints (org-admin for
 * its own; admin for any, naming organisation_id), their secrets (shown
 * once, at creation and rotation), a test delivery, the endpoint's
 * delivery log with manual retry, and the CSIRT's public signing key.
 * Another organisation's endpoint answers 404 like a missing one. SQL is
 * in store_webhooks.c and store_outbox.c; the SSRF guard in ssrf.c.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define API_WEBHOOKS_ROLES	(ROLEBIT(ROLE_ADMIN) | ROLEBIT(ROLE_ORG_ADMIN))
#define API_WEBHOOKS_TOKEN_MAX	512

static void	api_webhooks_signing_key_cb(struct req *);
static void	api_webhooks_create_cb(struct req *);
static void	api_webhooks_list_cb(struct req *);
static void	api_webhooks_get_cb(struct req *);
static void	api_webhooks_update_cb(struct req *);
static void	api_webhooks_delete_cb(struct req *);
static void	api_webhooks_test_cb(struct req *);
static void	api_webhooks_rotate_cb(struct req *);
static void	api_webhooks_deliveries_cb(struct req *);
static void	api_webhooks_retry_cb(struct req *);

/* The signing key comes first: the one-segment GET would take it. */
const struct route api_webhooks_routes[] = {
	{ "GET", "/v1/webhooks/signing-key", api_webhooks_signing_key_cb,
	    HTTP_ROUTE_NO_DB },
	{ "POST", "/v1/webhooks", api_webhooks_create_cb, 0 },
	{ "GET", "/v1/webhooks", api_webhooks_list_cb, 0 },
	{ "GET", "/v1/webhooks/*", api_webhooks_get_cb, 0 },
	{ "PATCH", "/v1/webhooks/*", api_webhooks_update_cb, 0 },
	{ "DELETE", "/v1/webhooks/*", api_webhooks_delete_cb, 0 },
	{ "POST", "/v1/webhooks/*/test", api_webhooks_test_cb, 0 },
	{ "POST", "/v1/webhooks/*/rotate-secret", api_webhooks_rotate_cb, 0 },
	{ "GET", "/v1/webhooks/*/deliveries", api_webhooks_deliveries_cb, 0 },
	{ "POST", "/v1/webhooks/*/deliveries/*/retry", api_webhooks_retry_cb,
	    0 },
	{ NULL, NULL, NULL, 0 }
};

static const char *const api_webhooks_create_members[] = {
	"url", "format", "targeted", "splunk_token", "organisation_id", NULL
};
static const char *const api_webhooks_update_members[] = {
	"url", "format", "targeted", "active", "splunk_token", NULL
};
static const char *const api_webhooks_rotate_members[] = {
	"grace_s", NULL
};

static void
api_webhooks_not_found(struct req *r)
{
	http_problem(r, 404, NULL, "no such webhook");
}

/* Load the endpoint of path parameter 0 the caller may manage; 0 or -1. */
static int
api_webhooks_load(struct req *r, struct webhook *w)
{
	int64_t	id;
	int	rc;

	memset(w, 0, sizeof *w);
	if (!http_require_roles(r, API_WEBHOOKS_ROLES))
		return (-1);
	if ((id = http_parse_id(r->params[0])) == 0) {
		api_webhooks_not_found(r);
		return (-1);
	}
	rc = store_webhooks_get(r->db, id, r->who->role == ROLE_ADMIN ? 0 :
	    r->who->org_id, w);
	if (rc == TOCSIN_STORE_NOT_FOUND) {
		api_webhooks_not_found(r);
		return (-1);
	}
	if (rc != 0) {
		api_db_failed(r);
		return (-1);
	}
	return (0);
}

/* Is FORMAT one of json, splunk-hec, ecs? */
static int
api_webhooks_format_ok(const char *format)
{
	return (format != NULL && (strcmp(format, "json") == 0 ||
	    strcmp(format, "splunk-hec") == 0 || strcmp(format, "ecs") == 0));
}

/* A Splunk HEC token: 1 to 512 printable ASCII characters. */
static int
api_webhooks_token_ok(const char *s)
{
	size_t	i;

	if (s == NULL || *s == '\0' || strlen(s) > API_WEBHOOKS_TOKEN_MAX)
		return (0);
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return (0);
	}
	return (1);
}

/*
 * Read url, format, targeted (and active, for PATCH) from BODY into W,
 * checking the URL with the SSRF guard; *TOKEN is the given splunk_token
 * or NULL. 0, or -1 after a 422.
 */
static int
api_webhooks_read(struct req *r, json_t *body, struct webhook *w,
    const char **token, int patch)
{
	json_t		*v;
	const char	*s;
	char		*cause = NULL;

	*token = NULL;
	if ((v = json_object_get(body, "url")) != NULL) {
		if ((s = api_string(v)) == NULL) {
			http_problem(r, 422, "url", "url: must be a string");
			return (-1);
		}
		if (ssrf_check_url(http_config(), s, &cause) != 0) {
			http_problem(r, 422, "url", "%s", cause);
			free(cause);
			return (-1);
		}
		free(w->url);
		w->url = xstrdup(s);
	}
	if ((v = json_object_get(body, "format")) != NULL) {
		if (!api_webhooks_format_ok(s = api_string(v))) {
			http_problem(r, 422, "format", "format: must be json, "
			    "splunk-hec or ecs");
			return (-1);
		}
		free(w->format);
		w->format = xstrdup(s);
	}
	if ((v = json_object_get(body, "targeted")) != NULL) {
		if (!json_is_boolean(v)) {
			http_problem(r, 422, "targeted", "targeted: must be "
			    "true or false");
			return (-1);
		}
		w->targeted = json_is_true(v);
	}
	if (patch && (v = json_object_get(body, "active")) != NULL) {
		if (!json_is_boolean(v)) {
			http_problem(r, 422, "active", "active: must be true "
			    "or false");
			return (-1);
		}
		w->active = json_is_true(v);
	}
	if ((v = json_object_get(body, "splunk_token")) != NULL) {
		if (!api_webhooks_token_ok(*token = api_string(v))) {
			http_problem(r, 422, "splunk_token", "splunk_token: "
			    "must be 1 to %d printable characters",
			    API_WEBHOOKS_TOKEN_MAX);
			return (-1);
		}
		if (strcmp(w->format, "splunk-hec") != 0) {
			http_problem(r, 422, "splunk_token", "splunk_token: "
			    "only for the splunk-hec format");
			return (-1);
		}
	}
	return (0);
}

/* GET /v1/webhooks/signing-key: anyone may have the public key. */
static void
api_webhooks_signing_key_cb(struct req *r)
{
	const char	*b64 = sign_public_key_b64();
	char		*whpk;

	if (b64 == NULL) {
		http_problem(r, 500, NULL, "no signing key is loaded");
		return;
	}
	xasprintf(&whpk, "whpk_%s", b64);
	http_reply_json(r, 200, json_pack("{s:s, s:s, s:s, s:s, s:s}",
	    "algorithm", "ed25519", "signature_version", "v1a",
	    "public_key", b64, "whpk", whpk, "pem", sign_public_key_pem()));
	free(whpk);
}

/* POST /v1/webhooks */
static void
api_webhooks_create_cb(struct req *r)
{
	struct webhook		 w;
	struct organisation	 o;
	json_t			*body, *v;
	const char		*token;
	char			*secret = NULL;
	int64_t			 org, n;
	int			 rc;

	if (!http_require_roles(r, API_WEBHOOKS_ROLES))
		return;
	if ((body = http_json_body(r)) == NULL)
		return;
	memset(&w, 0, sizeof w);
	memset(&o, 0, sizeof o);
	if (api_check_members(r, body, api_webhooks_create_members) != 0)
		goto out;
	org = r->who->role == ROLE_ADMIN ? 0 : r->who->org_id;
	if ((v = json_object_get(body, "organisation_id")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0) {
			http_problem(r, 422, "organisation_id",
			    "organisation_id: must be an organisation id");
			goto out;
		}
		if (org != 0 && json_integer_value(v) != org) {
			http_problem(r, 403, "organisation_id", "an org-admin "
			    "manages its own organisation's webhooks only");
			goto out;
		}
		org = json_integer_value(v);
	}
	if (org == 0) {
		http_problem(r, 422, "organisation_id", "organisation_id: "
		    "required for an admin");
		goto out;
	}
	if (json_object_get(body, "url") == NULL) {
		http_problem(r, 422, "url", "url: required");
		goto out;
	}
	w.organisation_id = org;
	w.format = xstrdup("json");
	w.targeted = 1;
	w.active = 1;
	if (api_webhooks_read(r, body, &w, &token, 0) != 0)
		goto out;
	if (strcmp(w.format, "splunk-hec") == 0 && token == NULL) {
		http_problem(r, 422, "splunk_token", "splunk_token: required "
		    "for the splunk-hec format");
		goto out;
	}
	if (db_begin(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	rc = store_organisations_get(r->db, org, 1, &o);
	if (rc == TOCSIN_STORE_NOT_FOUND || (rc == 0 && !o.active)) {
		db_rollback(r->db);
		http_problem(r, 422, "organisation_id", "organisation_id: no "
		    "such active organisation");
		goto out;
	}
	if (rc != 0 || store_webhooks_count(r->db, org, &n) != 0) {
		api_db_failed(r);
		goto out;
	}
	if (n >= TOCSIN_WEBHOOKS_PER_ORG) {
		db_rollback(r->db);
		http_problem(r, 409, NULL, "an organisation may have at most "
		    "%d webhooks", TOCSIN_WEBHOOKS_PER_ORG);
		goto out;
	}
	secret = secretbox_webhook_secret();
	if (store_webhooks_insert(r->db, &w, secret, token) != 0 ||
	    db_commit(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	log_info("webhook %" PRId64 " of organisation %" PRId64 " created by "
	    "user %" PRId64, w.id, w.organisation_id, r->who->user_id);
	v = store_webhooks_json(&w);
	/* The only time the secret leaves the server. */
	json_object_set_new(v, "secret", json_string(secret));
	api_reply_created(r, "/v1/webhooks", w.id, v);
out:
	secretbox_free(secret, 0);
	store_webhooks_clear(&w);
	store_organisations_clear(&o);
	json_decref(body);
}

/* GET /v1/webhooks: the caller's organisation's (admin: all, or ?org). */
static void
api_webhooks_list_cb(struct req *r)
{
	struct webhook	*v;
	const char	*s;
	int64_t		 cursor, org;
	size_t		 n;
	int		 limit;

	if (!http_require_roles(r, API_WEBHOOKS_ROLES))
		return;
	if (api_list_args(r, &cursor, &limit) != 0)
		return;
	org = r->who->role == ROLE_ADMIN ? 0 : r->who->org_id;
	if (r->who->role == ROLE_ADMIN &&
	    (s = http_query(r, "organisation_id")) != NULL &&
	    (org = http_parse_id(s)) == 0) {
		http_problem(r, 422, "organisation_id", "organisation_id: "
		    "must be an organisation id");
		return;
	}
	if (store_webhooks_list(r->db, org, cursor, limit + 1, &v, &n) != 0) {
		api_db_failed(r);
		return;
	}
	API_REPLY_PAGE(r, v, n, limit, store_webhooks_json, store_webhooks_clear);
}

/* GET /v1/webhooks/{id} */
static void
api_webhooks_get_cb(struct req *r)
{
	struct webhook	w;

	if (api_webhooks_load(r, &w) != 0)
		return;
	http_reply_json(r, 200, store_webhooks_json(&w));
	store_webhooks_clear(&w);
}

/* PATCH /v1/webhooks/{id}: url, format, targeted, active, splunk_token. */
static void
api_webhooks_update_cb(struct req *r)
{
	struct webhook	 w;
	json_t		*body = NULL;
	const char	*token;
	int		 had_token, rc;

	if (api_webhooks_load(r, &w) != 0)
		return;
	if ((body = http_json_body(r)) == NULL ||
	    api_check_members(r, body, api_webhooks_update_members) != 0 ||
	    api_webhooks_read(r, body, &w, &token, 1) != 0)
		goto out;
	had_token = w.has_splunk_token;
	if (strcmp(w.format, "splunk-hec") != 0)
		token = had_token ? "" : NULL;	/* drop a token now unused */
	else if (token == NULL && !had_token) {
		http_problem(r, 422, "splunk_token", "splunk_token: required "
		    "for the splunk-hec format");
		goto out;
	}
	rc = store_webhooks_update(r->db, &w, token);
	if (rc == TOCSIN_STORE_NOT_FOUND)
		api_webhooks_not_found(r);
	else if (rc != 0)
		api_db_failed(r);
	else {
		log_info("webhook %" PRId64 " changed by user %" PRId64, w.id,
		    r->who->user_id);
		http_reply_json(r, 200, store_webhooks_json(&w));
	}
out:
	store_webhooks_clear(&w);
	json_decref(body);
}

/* DELETE /v1/webhooks/{id}: 204; queued deliveries are cancelled. */
static void
api_webhooks_delete_cb(struct req *r)
{
	struct webhook	w;
	int		rc;

	if (api_webhooks_load(r, &w) != 0)
		return;
	rc = store_webhooks_delete(r->db, w.id);
	if (rc == TOCSIN_STORE_NOT_FOUND)
		api_webhooks_not_found(r);
	else if (rc != 0)
		api_db_failed(r);
	else {
		log_info("webhook %" PRId64 " deleted by user %" PRId64, w.id,
		    r->who->user_id);
		http_reply_text(r, 204, NULL, "");
	}
	store_webhooks_clear(&w);
}

/* POST /v1/webhooks/{id}/test: queue a webhook.test delivery (202). */
static void
api_webhooks_test_cb(struct req *r)
{
	struct webhook		 w;
	struct organisation	 o;
	struct outbox_recipient	 rcp;
	json_t			*payload;
	int64_t			 id = 0;
	int			 rc;

	if (api_webhooks_load(r, &w) != 0)
		return;
	memset(&o, 0, sizeof o);
	if (!w.active) {
		http_problem(r, 409, "active", "the webhook is disabled (%s); "
		    "PATCH {\"active\": true} first", w.disabled_reason != NULL ?
		    w.disabled_reason : "inactive");
		goto out;
	}
	if ((rc = store_organisations_get(r->db, w.organisation_id, 0,
	    &o)) != 0) {
		if (rc == TOCSIN_STORE_NOT_FOUND)
			api_webhooks_not_found(r);
		else
			api_db_failed(r);
		goto out;
	}
	memset(&rcp, 0, sizeof rcp);
	rcp.channel = "webhook";
	rcp.organisation_id = w.organisation_id;
	rcp.webhook_id = w.id;
	rcp.priority = kind_priority(o.kind);
	payload = json_pack("{s:s, s:s, s:{s:I, s:I, s:s}}", "type",
	    "webhook.test", "tlp", "CLEAR", "data", "webhook_id",
	    (json_int_t)w.id, "organisation_id", (json_int_t)w.organisation_id,
	    "message", "A test delivery from tocsin: the endpoint is "
	    "reachable and the signature verifies.");
	rc = store_outbox_enqueue_test(r->db, &rcp, payload, &id);
	json_decref(payload);
	if (rc != 0) {
		api_db_failed(r);
		goto out;
	}
	http_reply_json(r, 202, json_pack("{s:I, s:I, s:s}", "delivery_id",
	    (json_int_t)id, "webhook_id", (json_int_t)w.id, "state",
	    "pending"));
out:
	store_organisations_clear(&o);
	store_webhooks_clear(&w);
}

/*
 * POST /v1/webhooks/{id}/rotate-secret {grace_s?}: a new secret, shown
 * once; the old one keeps signing (a second v1 signature) for grace_s
 * seconds (default a day; 0 drops it at once).
 */
static void
api_webhooks_rotate_cb(struct req *r)
{
	struct webhook	 w;
	json_t		*body = NULL, *v;
	char		*secret = NULL;
	int		 grace = TOCSIN_WEBHOOK_GRACE_DEFAULT, rc;

	if (api_webhooks_load(r, &w) != 0)
		return;
	if (r->body_len > 0) {
		if ((body = http_json_body(r)) == NULL ||
		    api_check_members(r, body, api_webhooks_rotate_members) != 0)
			goto out;
		if ((v = json_object_get(body, "grace_s")) != NULL) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > TOCSIN_WEBHOOK_GRACE_MAX) {
				http_problem(r, 422, "grace_s", "grace_s: must "
				    "be an integer from 0 to %d",
				    TOCSIN_WEBHOOK_GRACE_MAX);
				goto out;
			}
			grace = (int)json_integer_value(v);
		}
	}
	secret = secretbox_webhook_secret();
	rc = store_webhooks_rotate(r->db, w.id, secret, grace, &w);
	if (rc == TOCSIN_STORE_NOT_FOUND)
		api_webhooks_not_found(r);
	else if (rc != 0)
		api_db_failed(r);
	else {
		log_info("webhook %" PRId64 ": secret rotated by user %" PRId64
		    " (grace %d s)", w.id, r->who->user_id, grace);
		v = store_webhooks_json(&w);
		json_object_set_new(v, "secret", json_string(secret));
		http_reply_json(r, 200, v);
	}
out:
	secretbox_free(secret, 0);
	store_webhooks_clear(&w);
	json_decref(body);
}

/* Is S a delivery state? */
static int
api_webhooks_state_ok(const char *s)
{
	static const char *const states[] = { "pending", "sending",
	    "delivered", "failed", "cancelled", NULL };
	size_t	i;

	for (i = 0; states[i] != NULL; i++) {
		if (strcmp(s, states[i]) == 0)
			return (1);
	}
	return (0);
}

/* GET /v1/webhooks/{id}/deliveries[?state=][&cursor=][&limit=] */
static void
api_webhooks_deliveries_cb(struct req *r)
{
	struct webhook		 w;
	struct outbox_query	 q;
	json_t			*items;
	int64_t			 next;

	if (api_webhooks_load(r, &w) != 0)
		return;
	memset(&q, 0, sizeof q);
	if (api_list_args(r, &q.cursor, &q.limit) != 0)
		goto out;
	if ((q.state = http_query(r, "state")) != NULL &&
	    !api_webhooks_state_ok(q.state)) {
		http_problem(r, 422, "state", "state: must be pending, sending, "
		    "delivered, failed or cancelled");
		goto out;
	}
	q.webhook_id = w.id;
	q.with_response = 1;
	if (store_outbox_list(r->db, &q, &items, &next) != 0) {
		api_db_failed(r);
		goto out;
	}
	api_reply_list(r, items, next);
out:
	store_webhooks_clear(&w);
}

/* POST /v1/webhooks/{id}/deliveries/{d}/retry: failed -> pending now. */
static void
api_webhooks_retry_cb(struct req *r)
{
	struct webhook	w;
	int64_t		d;
	int		rc;

	if (api_webhooks_load(r, &w) != 0)
		return;
	if ((d = http_parse_id(r->params[1])) == 0) {
		http_problem(r, 404, NULL, "no such delivery");
		goto out;
	}
	if (!w.active) {
		http_problem(r, 409, "active", "the webhook is disabled (%s); "
		    "PATCH {\"active\": true} first", w.disabled_reason != NULL ?
		    w.disabled_reason : "inactive");
		goto out;
	}
	rc = store_outbox_retry(r->db, d, w.id);
	if (rc == TOCSIN_STORE_NOT_FOUND)
		http_problem(r, 404, NULL, "no such delivery");
	else if (rc == TOCSIN_STORE_CONFLICT)
		http_problem(r, 409, NULL, "only a failed or cancelled "
		    "delivery can be retried");
	else if (rc != 0)
		api_db_failed(r);
	else
		http_reply_json(r, 202, json_pack("{s:I, s:s}", "id",
		    (json_int_t)d, "state", "pending"));
out:
	store_webhooks_clear(&w);
}
