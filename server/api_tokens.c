/*
 * api_tokens.c: the /v1/tokens resource (docs/API.md). A user makes,
 * lists and revokes its own tokens; an admin does so for anyone. The token
 * itself appears once, in the 201 body, and nowhere else: not in the log,
 * not in the database (store_tokens.c keeps its hash).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

static const char *const api_tokens_create_members[] = {
	"user_id", NULL
};

static json_t *
api_tokens_to_json(const struct token_record *t)
{
	return (json_pack("{s:I, s:I, s:s, s:s?, s:s?}",
	    "id", (json_int_t)t->id, "user_id", (json_int_t)t->user_id,
	    "created_at", t->created_at, "last_used_at", t->last_used_at,
	    "revoked_at", t->revoked_at));
}

/*
 * The user whose tokens the request is about: VALUE (an id, absent or
 * null for the caller). Only an admin may name someone else. 0 (not an
 * id) or -1 (not allowed) after answering.
 */
static int64_t
api_tokens_owner(struct req *r, json_t *value, const char *field)
{
	int64_t	id;

	if (value == NULL || json_is_null(value))
		return (r->who->user_id);
	if (!json_is_integer(value) || json_integer_value(value) <= 0) {
		http_problem(r, 422, field, "%s must be a user's id", field);
		return (0);
	}
	id = json_integer_value(value);
	if (id != r->who->user_id && r->who->role != ROLE_ADMIN) {
		http_problem(r, 403, NULL, "only an admin manages another "
		    "user's tokens");
		return (-1);
	}
	return (id);
}

/*
 * POST /v1/tokens. An empty body means {} (a token for the caller), so that
 * "curl -X POST" works.
 */
static void
api_tokens_create_cb(struct req *r)
{
	struct token_record	 t;
	struct user		 u;
	json_t			*body, *v;
	char			*token = NULL;
	int64_t			 owner;
	int			 rc;

	if (!http_require_roles(r, ROLES_USERS))
		return;
	if (r->body_len == 0)
		body = json_object();
	else if ((body = http_json_body(r)) == NULL)
		return;
	if (api_check_members(r, body, api_tokens_create_members) != 0)
		goto out;
	owner = api_tokens_owner(r, json_object_get(body, "user_id"),
	    "user_id");
	if (owner <= 0)
		goto out;
	if (db_begin(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	if (owner != r->who->user_id) {
		/* Locked, so the user cannot be deleted under its new token. */
		memset(&u, 0, sizeof u);
		rc = store_users_get(r->db, owner, 1, &u);
		store_users_clear(&u);
		if (rc == TOCSIN_STORE_NOT_FOUND) {
			db_rollback(r->db);
			http_problem(r, 422, "user_id", "no such user");
			goto out;
		}
		if (rc != 0) {
			api_db_failed(r);
			goto out;
		}
	}
	if (store_tokens_insert(r->db, owner, &t, &token) != 0) {
		api_db_failed(r);
		goto out;
	}
	if (audit_record_id(r->db, r->who->user_id, "token.create", "token",
	    t.id, json_pack("{s:I}", "user_id", (json_int_t)owner)) != 0 ||
	    db_commit(r->db) != 0) {
		api_db_failed(r);
		store_tokens_clear(&t);
		goto out;
	}
	log_info("token %" PRId64 " made for user %" PRId64 " by user %"
	    PRId64, t.id, owner, r->who->user_id);
	v = api_tokens_to_json(&t);
	json_object_del(v, "last_used_at");
	json_object_del(v, "revoked_at");
	json_object_set_new(v, "token", json_string(token));
	api_reply_created(r, "/v1/tokens", t.id, v);
	store_tokens_clear(&t);
out:
	if (token != NULL) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	json_decref(body);
}

/* GET /v1/tokens: the caller's tokens (an admin: ?user_id=N's), no secrets. */
static void
api_tokens_list_cb(struct req *r)
{
	struct token_record	*v;
	json_t			*q = NULL;
	const char		*s;
	int64_t			 cursor, owner;
	size_t			 n;
	int			 limit;

	if (!http_require_roles(r, ROLES_USERS))
		return;
	if (api_list_args(r, &cursor, &limit) != 0)
		return;
	if ((s = http_query(r, "user_id")) != NULL && *s != '\0') {
		if ((owner = http_parse_id(s)) == 0) {
			http_problem(r, 422, "user_id", "user_id must be a "
			    "user's id");
			return;
		}
		q = json_integer(owner);
	}
	owner = api_tokens_owner(r, q, "user_id");
	json_decref(q);
	if (owner <= 0)
		return;
	if (store_tokens_list(r->db, owner, cursor, limit + 1, &v, &n) != 0) {
		api_db_failed(r);
		return;
	}
	API_REPLY_PAGE(r, v, n, limit, api_tokens_to_json, store_tokens_clear);
}

/* DELETE /v1/tokens/{id}: revoke; someone else's is "not found". */
static void
api_tokens_delete_cb(struct req *r)
{
	int64_t	id;
	int	rc;

	if (!http_require_roles(r, ROLES_USERS))
		return;
	if ((id = http_parse_id(r->params[0])) == 0) {
		http_problem(r, 404, NULL, "no such token");
		return;
	}
	if (db_begin(r->db) != 0) {
		api_db_failed(r);
		return;
	}
	rc = store_tokens_revoke(r->db, id, r->who->role == ROLE_ADMIN ? 0 :
	    r->who->user_id);
	if (rc == TOCSIN_STORE_NOT_FOUND) {
		db_rollback(r->db);
		http_problem(r, 404, NULL, "no such token");
		return;
	}
	if (rc != 0 || audit_record_id(r->db, r->who->user_id, "token.revoke",
	    "token", id, NULL) != 0 || db_commit(r->db) != 0) {
		api_db_failed(r);
		return;
	}
	log_info("token %" PRId64 " revoked by user %" PRId64, id,
	    r->who->user_id);
	http_reply_text(r, 204, NULL, "");
}

const struct route api_tokens_routes[] = {
	{ "POST", "/v1/tokens", api_tokens_create_cb, 0 },
	{ "GET", "/v1/tokens", api_tokens_list_cb, 0 },
	{ "DELETE", "/v1/tokens/*", api_tokens_delete_cb, 0 },
	{ NULL, NULL, NULL, 0 }
};
