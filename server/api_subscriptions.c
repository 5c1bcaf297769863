/*
 * api_subscriptions.c: the /v1/subscriptions resource (docs/API.md). A
 * user manages its own subscriptions; an org-admin also those of its
 * organisation's users; an admin anyone's. Filters are checked by match.c,
 * SQL lives in store_subscriptions.c.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define API_SUBSCRIPTIONS_WEBHOOK	"webhook:"

static const char *const api_subscriptions_create_members[] = {
	"user_id", "name", "filter", "channels", "digest", NULL
};

static json_t *
api_subscriptions_to_json(const struct subscription *s)
{
	return (json_pack("{s:I, s:I, s:s, s:O, s:O, s:s}",
	    "id", (json_int_t)s->id, "user_id", (json_int_t)s->user_id,
	    "name", s->name, "filter", s->filter, "channels", s->channels,
	    "digest", s->digest));
}

/* May the caller see and manage subscriptions of this user? */
static int
api_subscriptions_visible(struct req *r, int64_t user_id, int64_t org_id)
{
	if (r->who->role == ROLE_ADMIN || r->who->user_id == user_id)
		return (1);
	return (r->who->role == ROLE_ORG_ADMIN && org_id != 0 &&
	    org_id == r->who->org_id);
}

/*
 * Is S "ws", "email" or "webhook:<positive id>"? That the endpoint exists
 * is checked once the owner is known (api_subscriptions_check_webhooks).
 */
static int
api_subscriptions_valid_channel(const char *s)
{
	size_t	len = strlen(API_SUBSCRIPTIONS_WEBHOOK);

	if (strcmp(s, "ws") == 0 || strcmp(s, "email") == 0)
		return (1);
	return (strncmp(s, API_SUBSCRIPTIONS_WEBHOOK, len) == 0 &&
	    http_parse_id(s + len) != 0);
}

/* Does the array of channels CHANNELS hold CHANNEL? */
static int
api_subscriptions_has(json_t *channels, const char *channel)
{
	json_t	*e;
	size_t	 i;

	json_array_foreach(channels, i, e) {
		if (strcmp(json_string_value(e), channel) == 0)
			return (1);
	}
	return (0);
}

/*
 * Every "webhook:<id>" channel must name an endpoint of the owner's
 * organisation: another organisation's endpoint answers like a missing
 * one. 0, or -1 after rolling back and answering.
 */
static int
api_subscriptions_check_webhooks(struct req *r, json_t *channels, int64_t org)
{
	struct webhook	 w;
	json_t		*e;
	size_t		 i, len = strlen(API_SUBSCRIPTIONS_WEBHOOK);
	const char	*str;
	int		 rc;

	json_array_foreach(channels, i, e) {
		str = json_string_value(e);
		if (strncmp(str, API_SUBSCRIPTIONS_WEBHOOK, len) != 0)
			continue;
		memset(&w, 0, sizeof w);
		rc = org == 0 ? TOCSIN_STORE_NOT_FOUND :
		    store_webhooks_get(r->db, http_parse_id(str + len), org, &w);
		if (rc == 0)
			store_webhooks_clear(&w);
		if (rc == TOCSIN_STORE_NOT_FOUND) {
			db_rollback(r->db);
			http_problem(r, 422, "channels", "%s: no such webhook "
			    "endpoint of the subscriber's organisation", str);
			return (-1);
		}
		if (rc != 0) {
			api_db_failed(r);
			return (-1);
		}
	}
	return (0);
}

/* Is S "immediate" or "daily@HH:MM" (00:00 to 23:59)? */
static int
api_subscriptions_valid_digest(const char *s)
{
	if (strcmp(s, "immediate") == 0)
		return (1);
	if (strlen(s) != 11 || strncmp(s, "daily@", 6) != 0 || s[8] != ':')
		return (0);
	if (!isdigit((unsigned char)s[6]) || !isdigit((unsigned char)s[7]) ||
	    !isdigit((unsigned char)s[9]) || !isdigit((unsigned char)s[10]))
		return (0);
	return ((s[6] - '0') * 10 + (s[7] - '0') <= 23 &&
	    (s[9] - '0') * 10 + (s[10] - '0') <= 59);
}

/*
 * Answer 422 for a filter that match.c refused. Its cause starts with the
 * member at fault ("sectors: ..." or "filter.sectors: ..."); that becomes
 * the problem's field, under "filter".
 */
static void
api_subscriptions_filter_problem(struct req *r, const char *cause)
{
	char	*field;
	size_t	 len;

	if (cause == NULL)
		cause = "invalid filter";
	len = strspn(cause, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.[]-");
	if (strncmp(cause, "filter", 6) == 0 && (len == 6 || cause[6] == '.')) {
		field = xstrndup(cause, len);
		http_problem(r, 422, field, "%s", cause);
	} else {
		if (len == 0 || (cause[len] != ':' && cause[len] != ' '))
			field = xstrdup("filter");
		else
			xasprintf(&field, "filter.%.*s", (int)len, cause);
		http_problem(r, 422, field, "filter: %s", cause);
	}
	free(field);
}

/* Check and copy the members of BODY into S; 0, or -1 after a 422. */
static int
api_subscriptions_read(struct req *r, json_t *body, struct subscription *s)
{
	json_t		*v, *e;
	const char	*str, *other;
	struct filter	 f;
	char		*cause = NULL;
	size_t		 i, j;

	if ((v = json_object_get(body, "name")) == NULL) {
		http_problem(r, 422, "name", "name is required");
		return (-1);
	}
	if ((str = api_string(v)) == NULL || !api_valid_name(str)) {
		http_problem(r, 422, "name", "name must be a string of 1 to "
		    "200 characters");
		return (-1);
	}
	s->name = xstrdup(str);

	if ((v = json_object_get(body, "filter")) == NULL)
		s->filter = json_object();
	else {
		if (!json_is_object(v)) {
			http_problem(r, 422, "filter", "filter must be an "
			    "object");
			return (-1);
		}
		memset(&f, 0, sizeof f);
		if (filter_from_json(v, &f, &cause) != 0) {
			api_subscriptions_filter_problem(r, cause);
			free(cause);
			return (-1);
		}
		filter_clear(&f);
		s->filter = json_incref(v);
	}

	if ((v = json_object_get(body, "channels")) == NULL) {
		http_problem(r, 422, "channels", "channels is required");
		return (-1);
	}
	if (!json_is_array(v) || json_array_size(v) == 0) {
		http_problem(r, 422, "channels", "channels must be a non-empty "
		    "array");
		return (-1);
	}
	json_array_foreach(v, i, e) {
		if ((str = api_string(e)) == NULL ||
		    !api_subscriptions_valid_channel(str)) {
			http_problem(r, 422, "channels", "a channel is \"ws\", "
			    "\"email\" or \"webhook:<id>\"");
			return (-1);
		}
		for (j = 0; j < i; j++) {
			other = json_string_value(json_array_get(v, j));
			if (strcmp(other, str) == 0) {
				http_problem(r, 422, "channels", "channel \"%s\" "
				    "is given twice", str);
				return (-1);
			}
		}
	}
	s->channels = json_incref(v);

	if ((v = json_object_get(body, "digest")) == NULL || json_is_null(v))
		str = "immediate";
	else if ((str = api_string(v)) == NULL ||
	    !api_subscriptions_valid_digest(str)) {
		http_problem(r, 422, "digest", "digest must be \"immediate\" or "
		    "\"daily@HH:MM\"");
		return (-1);
	}
	/* A daily digest without e-mail would be a setting silently lost. */
	if (strcmp(str, "immediate") != 0 &&
	    !api_subscriptions_has(s->channels, "email")) {
		http_problem(r, 422, "digest", "a daily digest needs the "
		    "\"email\" channel");
		return (-1);
	}
	s->digest = xstrdup(str);
	return (0);
}

/* POST /v1/subscriptions */
static void
api_subscriptions_create_cb(struct req *r)
{
	struct subscription	 s;
	struct user		 u;
	json_t			*body, *v;
	int			 rc;

	if (!http_require_roles(r, ROLES_USERS))
		return;
	if ((body = http_json_body(r)) == NULL)
		return;
	memset(&s, 0, sizeof s);
	memset(&u, 0, sizeof u);
	if (api_check_members(r, body, api_subscriptions_create_members) != 0)
		goto out;
	s.user_id = r->who->user_id;
	if ((v = json_object_get(body, "user_id")) != NULL &&
	    !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0) {
			http_problem(r, 422, "user_id", "user_id must be a "
			    "user's id");
			goto out;
		}
		s.user_id = json_integer_value(v);
	}
	if (api_subscriptions_read(r, body, &s) != 0)
		goto out;

	if (db_begin(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	/* Locked, so the owner cannot be deleted under its subscription. */
	rc = store_users_get(r->db, s.user_id, 1, &u);
	if (rc == 0 && !api_subscriptions_visible(r, u.id, u.organisation_id))
		rc = TOCSIN_STORE_NOT_FOUND;
	if (rc == TOCSIN_STORE_NOT_FOUND) {
		db_rollback(r->db);
		http_problem(r, 422, "user_id", "no such user");
		goto out;
	}
	if (rc != 0) {
		api_db_failed(r);
		goto out;
	}
	if (u.email == NULL && api_subscriptions_has(s.channels, "email")) {
		db_rollback(r->db);
		http_problem(r, 422, "channels", "the user has no e-mail "
		    "address");
		goto out;
	}
	if (api_subscriptions_check_webhooks(r, s.channels,
	    u.organisation_id) != 0)
		goto out;
	s.organisation_id = u.organisation_id;
	if (store_subscriptions_insert(r->db, &s) != 0 ||
	    db_commit(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	log_info("subscription %" PRId64 " of user %" PRId64 " created by "
	    "user %" PRId64, s.id, s.user_id, r->who->user_id);
	api_reply_created(r, "/v1/subscriptions", s.id,
	    api_subscriptions_to_json(&s));
out:
	store_users_clear(&u);
	store_subscriptions_clear(&s);
	json_decref(body);
}

/*
 * GET /v1/subscriptions: the caller's; an org-admin's organisation's; with
 * ?user_id=N, that user's among those the caller may see.
 */
static void
api_subscriptions_list_cb(struct req *r)
{
	struct subscription	*v = NULL;
	const char		*q;
	int64_t			 cursor, user_id, org = 0;
	size_t			 n = 0;
	int			 limit;

	if (!http_require_roles(r, ROLES_USERS))
		return;
	if (api_list_args(r, &cursor, &limit) != 0)
		return;
	user_id = r->who->user_id;
	if ((q = http_query(r, "user_id")) != NULL && *q != '\0') {
		if ((user_id = http_parse_id(q)) == 0) {
			http_problem(r, 422, "user_id", "user_id must be a "
			    "user's id");
			return;
		}
	} else if (r->who->role == ROLE_ORG_ADMIN)
		user_id = 0;
	if (r->who->role == ROLE_ORG_ADMIN)
		org = r->who->org_id;
	else if (r->who->role != ROLE_ADMIN && user_id != r->who->user_id) {
		/* Someone else's: as if that user had none. */
		api_reply_list(r, json_array(), 0);
		return;
	}
	if (store_subscriptions_list(r->db, user_id, org, cursor, limit + 1,
	    &v, &n) != 0) {
		api_db_failed(r);
		return;
	}
	API_REPLY_PAGE(r, v, n, limit, api_subscriptions_to_json, store_subscriptions_clear);
}

/* GET /v1/subscriptions/{id} */
static void
api_subscriptions_get_cb(struct req *r)
{
	struct subscription	 s;
	int64_t			 id;
	int			 rc;

	if (!http_require_roles(r, ROLES_USERS))
		return;
	if ((id = http_parse_id(r->params[0])) == 0) {
		http_problem(r, 404, NULL, "no such subscription");
		return;
	}
	rc = store_subscriptions_get(r->db, id, &s);
	if (rc == TOCSIN_STORE_NOT_FOUND)
		http_problem(r, 404, NULL, "no such subscription");
	else if (rc != 0)
		api_db_failed(r);
	else {
		if (api_subscriptions_visible(r, s.user_id, s.organisation_id))
			http_reply_json(r, 200, api_subscriptions_to_json(&s));
		else
			http_problem(r, 404, NULL, "no such subscription");
		store_subscriptions_clear(&s);
	}
}

/* DELETE /v1/subscriptions/{id} */
static void
api_subscriptions_delete_cb(struct req *r)
{
	struct subscription	 s;
	int64_t			 id;
	int			 rc, visible;

	if (!http_require_roles(r, ROLES_USERS))
		return;
	if ((id = http_parse_id(r->params[0])) == 0) {
		http_problem(r, 404, NULL, "no such subscription");
		return;
	}
	if (db_begin(r->db) != 0) {
		api_db_failed(r);
		return;
	}
	rc = store_subscriptions_get(r->db, id, &s);
	if (rc == 0) {
		visible = api_subscriptions_visible(r, s.user_id,
		    s.organisation_id);
		store_subscriptions_clear(&s);
		if (!visible)
			rc = TOCSIN_STORE_NOT_FOUND;
	}
	if (rc == 0)
		rc = store_subscriptions_delete(r->db, id);
	if (rc == TOCSIN_STORE_NOT_FOUND) {
		db_rollback(r->db);
		http_problem(r, 404, NULL, "no such subscription");
		return;
	}
	if (rc != 0 || db_commit(r->db) != 0) {
		api_db_failed(r);
		return;
	}
	log_info("subscription %" PRId64 " deleted by user %" PRId64, id,
	    r->who->user_id);
	http_reply_text(r, 204, NULL, "");
}

const struct route api_subscriptions_routes[] = {
	{ "POST", "/v1/subscriptions", api_subscriptions_create_cb, 0 },
	{ "GET", "/v1/subscriptions", api_subscriptions_list_cb, 0 },
	{ "GET", "/v1/subscriptions/*", api_subscriptions_get_cb, 0 },
	{ "DELETE", "/v1/subscriptions/*", api_subscriptions_delete_cb, 0 },
	{ NULL, NULL, NULL, 0 }
};
