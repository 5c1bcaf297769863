/*
 * api_organisations.c: the /v1/organisations resource (docs/API.md). Only
 * an admin creates, changes or deactivates organisations; an org-admin may
 * read its own. SQL lives in store_organisations.c.
 *
 * This file also holds the few helpers every REST resource file shares:
 * unknown-member refusal, list paging, the database-failure answer and the
 * validation of names and e-mail addresses.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define API_LIST_DEFAULT_LIMIT	50
#define API_NAME_MAX_CHARS	200
#define API_EMAIL_MAX		254
#define API_EMAIL_LOCAL_MAX	64

static const char *const api_organisations_create_members[] = {
	"name", "kind", "sectors", "contact_email", NULL
};
static const char *const api_organisations_update_members[] = {
	"name", "kind", "sectors", "contact_email", "active", NULL
};

/* Refuse (422, naming it) a member of BODY not in ALLOWED; 0 or -1. */
int
api_check_members(struct req *r, json_t *body, const char *const *allowed)
{
	const char	*key;
	json_t		*v;
	size_t		 i;

	json_object_foreach(body, key, v) {
		for (i = 0; allowed[i] != NULL; i++) {
			if (strcmp(key, allowed[i]) == 0)
				break;
		}
		if (allowed[i] == NULL) {
			http_problem(r, 422, key, "unknown member \"%s\"", key);
			return (-1);
		}
	}
	return (0);
}

/* Parse ?cursor= (an id) and ?limit= (1..200); 0, or -1 after a 422. */
int
api_list_args(struct req *r, int64_t *cursor, int *limit)
{
	const char	*s;
	int64_t		 v;

	*cursor = 0;
	*limit = API_LIST_DEFAULT_LIMIT;
	if ((s = http_query(r, "cursor")) != NULL && *s != '\0') {
		if ((*cursor = http_parse_id(s)) == 0) {
			http_problem(r, 422, "cursor", "cursor must be the "
			    "next_cursor of a previous page");
			return (-1);
		}
	}
	if ((s = http_query(r, "limit")) != NULL && *s != '\0') {
		v = http_parse_id(s);
		if (v < 1 || v > TOCSIN_MAX_LIST_LIMIT) {
			http_problem(r, 422, "limit", "limit must be an integer "
			    "from 1 to %d", TOCSIN_MAX_LIST_LIMIT);
			return (-1);
		}
		*limit = (int)v;
	}
	return (0);
}

/* Answer 200 {"items": ITEMS (stolen), "next_cursor"}; NEXT 0: last page. */
void
api_reply_list(struct req *r, json_t *items, int64_t next)
{
	char	 buf[24];
	json_t	*cursor;

	if (next != 0) {
		snprintf(buf, sizeof buf, "%" PRId64, next);
		cursor = json_string(buf);
	} else
		cursor = json_null();
	http_reply_json(r, 200, json_pack("{s:o, s:o}", "items", items,
	    "next_cursor", cursor));
}

/* Answer 201 with V (stolen) and Location: BASE/ID. */
void
api_reply_created(struct req *r, const char *base, int64_t id, json_t *v)
{
	free(r->out_location);
	xasprintf(&r->out_location, "%s/%" PRId64, base, id);
	http_reply_json(r, 201, v);
}

/* Undo the transaction; answer 503 if PostgreSQL went away, else 500. */
void
api_db_failed(struct req *r)
{
	db_rollback(r->db);
	if (db_conn_broken(r->db))
		http_problem(r, 503, NULL, "PostgreSQL is unreachable");
	else
		http_problem(r, 500, NULL, "the database refused the request");
}

/* The value of a JSON string without embedded NUL, else NULL. */
const char *
api_string(json_t *v)
{
	const char	*s;

	if (!json_is_string(v))
		return (NULL);
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return (NULL);
	return (s);
}

/* Is S a name: 1 to 200 characters, no control characters, not blank? */
int
api_valid_name(const char *s)
{
	const unsigned char	*p;
	size_t			 chars = 0;
	int			 visible = 0;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return (0);
		if ((*p & 0xc0) != 0x80)
			chars++;
		if (*p != ' ')
			visible = 1;
	}
	return (visible && chars <= API_NAME_MAX_CHARS);
}

/*
 * Is S a plausible addr-spec: local@domain, one @, at most 254 bytes, no
 * spaces, controls or RFC 5322 specials, no empty or doubled dots, and a
 * domain of letters, digits, hyphens (or UTF-8) between dots. Quoted local
 * parts and address literals are refused: no CSIRT contact needs them.
 */
int
api_valid_email(const char *s)
{
	const char	*at, *p;
	size_t		 len = strlen(s);
	unsigned char	 c;

	if (len < 3 || len > API_EMAIL_MAX)
		return (0);
	if ((at = strchr(s, '@')) == NULL || strchr(at + 1, '@') != NULL)
		return (0);
	if (at == s || (size_t)(at - s) > API_EMAIL_LOCAL_MAX)
		return (0);
	if (strstr(s, "..") != NULL || s[0] == '.' || at[-1] == '.' ||
	    at[1] == '.' || at[1] == '-' || s[len - 1] == '.' ||
	    s[len - 1] == '-' || at[1] == '\0')
		return (0);
	for (p = s; p < at; p++) {
		c = (unsigned char)*p;
		if (c <= 0x20 || c == 0x7f || strchr("()<>[]:;,\\\"", c) != NULL)
			return (0);
	}
	for (p = at + 1; *p != '\0'; p++) {
		c = (unsigned char)*p;
		if (c >= 0x80 || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-')
			continue;
		if (c == '.' && p[-1] != '-' && p[1] != '-')
			continue;
		return (0);
	}
	return (1);
}

static json_t *
api_organisations_to_json(const struct organisation *o)
{
	json_t	*sectors;
	size_t	 i;

	sectors = json_array();
	for (i = 0; i < o->n_sectors; i++)
		json_array_append_new(sectors, json_string(o->sectors[i]));
	return (json_pack("{s:I, s:s, s:s, s:o, s:s?, s:b, s:s, s:s}",
	    "id", (json_int_t)o->id, "name", o->name,
	    "kind", kind_name(o->kind), "sectors", sectors,
	    "contact_email", o->contact_email, "active", o->active,
	    "created_at", o->created_at, "updated_at", o->updated_at));
}

/* Apply the members present in BODY to O; 0, or -1 after a 422. */
static int
api_organisations_read(struct req *r, json_t *body, struct organisation *o)
{
	json_t		*v;
	const char	*s;
	char		**sectors;
	size_t		 n, i;
	enum org_kind	 kind;

	if ((v = json_object_get(body, "name")) != NULL) {
		if ((s = api_string(v)) == NULL || !api_valid_name(s)) {
			http_problem(r, 422, "name", "name must be a string of "
			    "1 to %d characters", API_NAME_MAX_CHARS);
			return (-1);
		}
		free(o->name);
		o->name = xstrdup(s);
	}
	if ((v = json_object_get(body, "kind")) != NULL) {
		if ((s = api_string(v)) == NULL || kind_parse(s, &kind) != 0) {
			http_problem(r, 422, "kind", "kind must be essential, "
			    "important, authority, private or public");
			return (-1);
		}
		o->kind = kind;
	}
	if ((v = json_object_get(body, "sectors")) != NULL) {
		if (json_string_array(v, &sectors, &n) != 0) {
			http_problem(r, 422, "sectors", "sectors must be an "
			    "array of sector tags");
			return (-1);
		}
		for (i = 0; i < n; i++) {
			if (!sector_valid(sectors[i])) {
				http_problem(r, 422, "sectors", "unknown sector "
				    "\"%s\"", sectors[i]);
				strv_free(sectors, n);
				return (-1);
			}
		}
		strv_free(o->sectors, o->n_sectors);
		o->sectors = sectors;
		o->n_sectors = n;
	}
	if ((v = json_object_get(body, "contact_email")) != NULL) {
		if (json_is_null(v)) {
			free(o->contact_email);
			o->contact_email = NULL;
		} else if ((s = api_string(v)) != NULL && api_valid_email(s)) {
			free(o->contact_email);
			o->contact_email = xstrdup(s);
		} else {
			http_problem(r, 422, "contact_email", "contact_email "
			    "must be an e-mail address or null");
			return (-1);
		}
	}
	if ((v = json_object_get(body, "active")) != NULL) {
		if (!json_is_boolean(v)) {
			http_problem(r, 422, "active", "active must be true or "
			    "false");
			return (-1);
		}
		o->active = json_is_true(v);
	}
	return (0);
}

/* POST /v1/organisations */
static void
api_organisations_create_cb(struct req *r)
{
	struct organisation	 o;
	json_t			*body;
	int			 rc;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN)))
		return;
	if ((body = http_json_body(r)) == NULL)
		return;
	memset(&o, 0, sizeof o);
	if (api_check_members(r, body, api_organisations_create_members) != 0)
		goto out;
	if (json_object_get(body, "name") == NULL) {
		http_problem(r, 422, "name", "name is required");
		goto out;
	}
	if (json_object_get(body, "kind") == NULL) {
		http_problem(r, 422, "kind", "kind is required");
		goto out;
	}
	if (api_organisations_read(r, body, &o) != 0)
		goto out;
	o.active = 1;
	rc = store_organisations_insert(r->db, &o);
	if (rc == TOCSIN_STORE_CONFLICT)
		http_problem(r, 409, "name", "an active organisation is "
		    "already named \"%s\"", o.name);
	else if (rc != 0)
		api_db_failed(r);
	else {
		log_info("organisation %" PRId64 " created by user %" PRId64,
		    o.id, r->who->user_id);
		api_reply_created(r, "/v1/organisations", o.id,
		    api_organisations_to_json(&o));
	}
out:
	store_organisations_clear(&o);
	json_decref(body);
}

/* GET /v1/organisations: every one for an admin, its own for an org-admin. */
static void
api_organisations_list_cb(struct req *r)
{
	struct organisation	*v;
	int64_t			 cursor;
	size_t			 n;
	int			 limit;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN) |
	    ROLEBIT(ROLE_ORG_ADMIN)))
		return;
	if (api_list_args(r, &cursor, &limit) != 0)
		return;
	if (store_organisations_list(r->db, r->who->role == ROLE_ADMIN ? 0 :
	    r->who->org_id, cursor, limit + 1, &v, &n) != 0) {
		api_db_failed(r);
		return;
	}
	API_REPLY_PAGE(r, v, n, limit, api_organisations_to_json, store_organisations_clear);
}

/* GET /v1/organisations/{id} */
static void
api_organisations_get_cb(struct req *r)
{
	struct organisation	 o;
	int64_t			 id;
	int			 rc;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN) |
	    ROLEBIT(ROLE_ORG_ADMIN)))
		return;
	id = http_parse_id(r->params[0]);
	/* Another organisation is answered exactly like a missing one. */
	if (id == 0 || (r->who->role != ROLE_ADMIN && id != r->who->org_id)) {
		http_problem(r, 404, NULL, "no such organisation");
		return;
	}
	rc = store_organisations_get(r->db, id, 0, &o);
	if (rc == TOCSIN_STORE_NOT_FOUND)
		http_problem(r, 404, NULL, "no such organisation");
	else if (rc != 0)
		api_db_failed(r);
	else {
		http_reply_json(r, 200, api_organisations_to_json(&o));
		store_organisations_clear(&o);
	}
}

/* PATCH /v1/organisations/{id} */
static void
api_organisations_update_cb(struct req *r)
{
	struct organisation	 o;
	json_t			*body;
	int64_t			 id;
	int			 rc;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN)))
		return;
	if ((id = http_parse_id(r->params[0])) == 0) {
		http_problem(r, 404, NULL, "no such organisation");
		return;
	}
	if ((body = http_json_body(r)) == NULL)
		return;
	memset(&o, 0, sizeof o);
	if (api_check_members(r, body, api_organisations_update_members) != 0)
		goto out;
	if (db_begin(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	rc = store_organisations_get(r->db, id, 1, &o);
	if (rc == TOCSIN_STORE_NOT_FOUND) {
		db_rollback(r->db);
		http_problem(r, 404, NULL, "no such organisation");
		goto out;
	}
	if (rc != 0) {
		api_db_failed(r);
		goto out;
	}
	if (api_organisations_read(r, body, &o) != 0) {
		db_rollback(r->db);
		goto out;
	}
	rc = store_organisations_update(r->db, &o);
	if (rc == TOCSIN_STORE_CONFLICT) {
		db_rollback(r->db);
		http_problem(r, 409, "name", "an active organisation is "
		    "already named \"%s\"", o.name);
		goto out;
	}
	if (rc != 0 || db_commit(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	log_info("organisation %" PRId64 " changed by user %" PRId64, o.id,
	    r->who->user_id);
	http_reply_json(r, 200, api_organisations_to_json(&o));
out:
	store_organisations_clear(&o);
	json_decref(body);
}

/* DELETE /v1/organisations/{id}: deactivate; the history stays. */
static void
api_organisations_delete_cb(struct req *r)
{
	int64_t	id;
	int	rc;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN)))
		return;
	if ((id = http_parse_id(r->params[0])) == 0) {
		http_problem(r, 404, NULL, "no such organisation");
		return;
	}
	if (db_begin(r->db) != 0) {
		api_db_failed(r);
		return;
	}
	rc = store_organisations_deactivate(r->db, id);
	if (rc == TOCSIN_STORE_NOT_FOUND) {
		db_rollback(r->db);
		http_problem(r, 404, NULL, "no such organisation");
		return;
	}
	if (rc != 0 || db_commit(r->db) != 0) {
		api_db_failed(r);
		return;
	}
	log_info("organisation %" PRId64 " deactivated by user %" PRId64, id,
	    r->who->user_id);
	http_reply_text(r, 204, NULL, "");
}

const struct route api_organisations_routes[] = {
	{ "POST", "/v1/organisations", api_organisations_create_cb, 0 },
	{ "GET", "/v1/organisations", api_organisations_list_cb, 0 },
	{ "GET", "/v1/organisations/*", api_organisations_get_cb, 0 },
	{ "PATCH", "/v1/organisations/*", api_organisations_update_cb, 0 },
	{ "DELETE", "/v1/organisations/*", api_organisations_delete_cb, 0 },
	{ NULL, NULL, NULL, 0 }
};
