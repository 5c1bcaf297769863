/*
 * api_users.c: the /v1/users resource (docs/API.md). An admin manages every
 * user; an org-admin manages the org-admin and member users of its own
 * organisation and sees no one else; any user may read itself. SQL lives in
 * store_users.c; certificates are checked with OpenSSL.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tocsind.h"

static const char *const api_users_create_members[] = {
	"organisation_id", "name", "email", "role", "language", "smime_cert",
	NULL
};
static const char *const api_users_update_members[] = {
	"name", "email", "role", "language", "smime_cert", NULL
};
static const char *const api_users_languages[] = {
	"fr", "nl", "de", "en", NULL
};

static json_t *
api_users_to_json(const struct user *u)
{
	return (json_pack("{s:I, s:o, s:s, s:s?, s:s, s:s, s:b, s:s}",
	    "id", (json_int_t)u->id,
	    "organisation_id", u->organisation_id != 0 ?
	    json_integer(u->organisation_id) : json_null(),
	    "name", u->name, "email", u->email, "role", role_name(u->role),
	    "language", u->language, "has_smime_cert", u->smime_cert != NULL,
	    "created_at", u->created_at));
}

/* The member names of object O (a new array). */
static json_t *
api_users_member_names(json_t *o)
{
	const char	*k;
	json_t		*v, *keys = json_array();

	json_object_foreach(o, k, v)
		json_array_append_new(keys, json_string(k));
	return (keys);
}

/* Is PEM a certificate OpenSSL can read? */
static int
api_users_valid_cert(const char *pem)
{
	BIO	*bio;
	X509	*x;

	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		return (0);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (x == NULL) {
		/* The queue is per thread; leave it clean for the next user. */
		ERR_clear_error();
		return (0);
	}
	X509_free(x);
	return (1);
}

/* May the caller see (and, if it may write at all, manage) user U? */
static int
api_users_visible(struct req *r, const struct user *u)
{
	if (r->who->role == ROLE_ADMIN || r->who->user_id == u->id)
		return (1);
	return (r->who->role == ROLE_ORG_ADMIN && u->organisation_id != 0 &&
	    u->organisation_id == r->who->org_id);
}

/*
 * Apply name, email, role, language and smime_cert from BODY to U; 0, or
 * -1 after answering. The role's own rules are the caller's to check.
 */
static int
api_users_read(struct req *r, json_t *body, struct user *u)
{
	json_t		*v;
	const char	*s;
	enum role	 role;
	size_t		 i;

	if ((v = json_object_get(body, "name")) != NULL) {
		if ((s = api_string(v)) == NULL || !api_valid_name(s)) {
			http_problem(r, 422, "name", "name must be a string of "
			    "1 to 200 characters");
			return (-1);
		}
		free(u->name);
		u->name = xstrdup(s);
	}
	if ((v = json_object_get(body, "email")) != NULL) {
		if ((s = api_string(v)) == NULL || !api_valid_email(s)) {
			http_problem(r, 422, "email", "email must be an e-mail "
			    "address");
			return (-1);
		}
		free(u->email);
		u->email = xstrdup(s);
	}
	if ((v = json_object_get(body, "role")) != NULL) {
		if ((s = api_string(v)) == NULL || role_parse(s, &role) != 0) {
			http_problem(r, 422, "role", "role must be admin, "
			    "publisher, org-admin or member");
			return (-1);
		}
		u->role = role;
	}
	if ((v = json_object_get(body, "language")) != NULL) {
		s = api_string(v);
		for (i = 0; s != NULL && api_users_languages[i] != NULL; i++) {
			if (strcmp(s, api_users_languages[i]) == 0)
				break;
		}
		if (s == NULL || api_users_languages[i] == NULL) {
			http_problem(r, 422, "language", "language must be fr, "
			    "nl, de or en");
			return (-1);
		}
		free(u->language);
		u->language = xstrdup(s);
	}
	if ((v = json_object_get(body, "smime_cert")) != NULL) {
		if (json_is_null(v)) {
			free(u->smime_cert);
			u->smime_cert = NULL;
		} else if ((s = api_string(v)) != NULL &&
		    api_users_valid_cert(s)) {
			free(u->smime_cert);
			u->smime_cert = xstrdup(s);
		} else {
			http_problem(r, 422, "smime_cert", "smime_cert must be "
			    "an X.509 certificate in PEM or null");
			return (-1);
		}
	}
	return (0);
}

/* May an org-admin give this role? It hands out only its own two. */
static int
api_users_role_allowed(struct req *r, enum role role)
{
	if (r->who->role == ROLE_ADMIN ||
	    role == ROLE_ORG_ADMIN || role == ROLE_MEMBER)
		return (1);
	http_problem(r, 403, NULL, "an org-admin may give only the org-admin "
	    "and member roles");
	return (0);
}

/*
 * Would removing admin USER_ID (deletion or another role) leave no admin?
 * 1 after answering 409, 0 if not, -1 after a database failure answer.
 */
static int
api_users_last_admin(struct req *r, int64_t user_id)
{
	int64_t	others;

	if (store_users_other_admins(r->db, user_id, &others) != 0) {
		api_db_failed(r);
		return (-1);
	}
	if (others != 0)
		return (0);
	db_rollback(r->db);
	http_problem(r, 409, NULL, "the last admin cannot be removed");
	return (1);
}

/* POST /v1/users */
static void
api_users_create_cb(struct req *r)
{
	struct user		 u;
	struct organisation	 o;
	json_t			*body, *v;
	int			 rc;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN) |
	    ROLEBIT(ROLE_ORG_ADMIN)))
		return;
	if ((body = http_json_body(r)) == NULL)
		return;
	memset(&u, 0, sizeof u);
	if (api_check_members(r, body, api_users_create_members) != 0)
		goto out;
	if (json_object_get(body, "name") == NULL) {
		http_problem(r, 422, "name", "name is required");
		goto out;
	}
	if (json_object_get(body, "email") == NULL) {
		http_problem(r, 422, "email", "email is required");
		goto out;
	}
	if (json_object_get(body, "role") == NULL) {
		http_problem(r, 422, "role", "role is required");
		goto out;
	}
	if ((v = json_object_get(body, "organisation_id")) != NULL &&
	    !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0) {
			http_problem(r, 422, "organisation_id", "organisation_id "
			    "must be an organisation's id");
			goto out;
		}
		u.organisation_id = json_integer_value(v);
	}
	u.language = xstrdup("en");
	if (api_users_read(r, body, &u) != 0)
		goto out;
	if (!api_users_role_allowed(r, u.role))
		goto out;
	if (r->who->role == ROLE_ORG_ADMIN) {
		/*
		 * Another organisation is refused exactly like a missing one,
		 * so an org-admin learns nothing about what else exists.
		 */
		if (u.organisation_id == 0)
			u.organisation_id = r->who->org_id;
		if (u.organisation_id != r->who->org_id) {
			http_problem(r, 422, "organisation_id", "no such "
			    "organisation");
			goto out;
		}
	}
	if (role_is_staff(u.role) && u.organisation_id != 0) {
		http_problem(r, 422, "organisation_id", "%s users belong to no "
		    "organisation", role_name(u.role));
		goto out;
	}
	if (!role_is_staff(u.role) && u.organisation_id == 0) {
		http_problem(r, 422, "organisation_id", "%s users need an "
		    "organisation_id", role_name(u.role));
		goto out;
	}

	if (db_begin(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	if (u.organisation_id != 0) {
		/* Locked, so it cannot be deactivated under the new user. */
		memset(&o, 0, sizeof o);
		rc = store_organisations_get(r->db, u.organisation_id, 1, &o);
		if (rc == 0 && !o.active)
			rc = TOCSIN_STORE_NOT_FOUND;
		store_organisations_clear(&o);
		if (rc == TOCSIN_STORE_NOT_FOUND) {
			db_rollback(r->db);
			http_problem(r, 422, "organisation_id", "no such "
			    "organisation");
			goto out;
		}
		if (rc != 0) {
			api_db_failed(r);
			goto out;
		}
	}
	if (store_users_insert(r->db, &u) != 0 ||
	    audit_record_id(r->db, r->who->user_id, "user.create", "user",
	    u.id, json_pack("{s:s, s:o}", "role", role_name(u.role),
	    "organisation_id", u.organisation_id != 0 ?
	    json_integer(u.organisation_id) : json_null())) != 0 ||
	    db_commit(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	log_info("user %" PRId64 " (%s) created by user %" PRId64, u.id,
	    role_name(u.role), r->who->user_id);
	api_reply_created(r, "/v1/users", u.id, api_users_to_json(&u));
out:
	store_users_clear(&u);
	json_decref(body);
}

/* GET /v1/users: every user for an admin, its organisation's for an org-admin. */
static void
api_users_list_cb(struct req *r)
{
	struct user	*v;
	int64_t		 cursor;
	size_t		 n;
	int		 limit;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN) |
	    ROLEBIT(ROLE_ORG_ADMIN)))
		return;
	if (api_list_args(r, &cursor, &limit) != 0)
		return;
	if (store_users_list(r->db, r->who->role == ROLE_ADMIN ? 0 :
	    r->who->org_id, cursor, limit + 1, &v, &n) != 0) {
		api_db_failed(r);
		return;
	}
	API_REPLY_PAGE(r, v, n, limit, api_users_to_json, store_users_clear);
}

/* GET /v1/users/{id} */
static void
api_users_get_cb(struct req *r)
{
	struct user	 u;
	int64_t		 id;
	int		 rc;

	if (!http_require_roles(r, ROLES_USERS))
		return;
	if ((id = http_parse_id(r->params[0])) == 0) {
		http_problem(r, 404, NULL, "no such user");
		return;
	}
	rc = store_users_get(r->db, id, 0, &u);
	if (rc == TOCSIN_STORE_NOT_FOUND)
		http_problem(r, 404, NULL, "no such user");
	else if (rc != 0)
		api_db_failed(r);
	else {
		if (api_users_visible(r, &u))
			http_reply_json(r, 200, api_users_to_json(&u));
		else
			http_problem(r, 404, NULL, "no such user");
		store_users_clear(&u);
	}
}

/* PATCH /v1/users/{id} */
static void
api_users_update_cb(struct req *r)
{
	struct user	 u;
	json_t		*body;
	int64_t		 id;
	enum role	 was;
	int		 rc;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN) |
	    ROLEBIT(ROLE_ORG_ADMIN)))
		return;
	if ((id = http_parse_id(r->params[0])) == 0) {
		http_problem(r, 404, NULL, "no such user");
		return;
	}
	if ((body = http_json_body(r)) == NULL)
		return;
	memset(&u, 0, sizeof u);
	if (api_check_members(r, body, api_users_update_members) != 0)
		goto out;
	if (db_begin(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	rc = store_users_get(r->db, id, 1, &u);
	if (rc == 0 && !api_users_visible(r, &u))
		rc = TOCSIN_STORE_NOT_FOUND;
	if (rc == TOCSIN_STORE_NOT_FOUND) {
		db_rollback(r->db);
		http_problem(r, 404, NULL, "no such user");
		goto out;
	}
	if (rc != 0) {
		api_db_failed(r);
		goto out;
	}
	was = u.role;
	if (api_users_read(r, body, &u) != 0) {
		db_rollback(r->db);
		goto out;
	}
	if (u.role != was && !api_users_role_allowed(r, u.role)) {
		db_rollback(r->db);
		goto out;
	}
	/*
	 * CSIRT staff have no organisation and everyone else has one; PATCH
	 * cannot move a user between organisations, so the role may not cross
	 * that line (create a new user instead).
	 */
	if (role_is_staff(u.role) != role_is_staff(was)) {
		db_rollback(r->db);
		http_problem(r, 422, "role", "a %s cannot become %s: staff "
		    "belong to no organisation", role_name(was),
		    role_name(u.role));
		goto out;
	}
	if (was == ROLE_ADMIN && u.role != ROLE_ADMIN &&
	    api_users_last_admin(r, u.id) != 0)
		goto out;
	/* Which members changed, never their values (ids only). */
	if ((rc = store_users_update(r->db, &u)) != 0 ||
	    audit_record_id(r->db, r->who->user_id, "user.update", "user",
	    u.id, json_pack("{s:o, s:s, s:s}", "members",
	    api_users_member_names(body), "role_from", role_name(was),
	    "role_to", role_name(u.role))) != 0 ||
	    db_commit(r->db) != 0) {
		api_db_failed(r);
		goto out;
	}
	log_info("user %" PRId64 " changed by user %" PRId64, u.id,
	    r->who->user_id);
	http_reply_json(r, 200, api_users_to_json(&u));
out:
	store_users_clear(&u);
	json_decref(body);
}

/* DELETE /v1/users/{id} */
static void
api_users_delete_cb(struct req *r)
{
	struct user	 u;
	int64_t		 id;
	int		 rc;

	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN) |
	    ROLEBIT(ROLE_ORG_ADMIN)))
		return;
	if ((id = http_parse_id(r->params[0])) == 0) {
		http_problem(r, 404, NULL, "no such user");
		return;
	}
	if (db_begin(r->db) != 0) {
		api_db_failed(r);
		return;
	}
	memset(&u, 0, sizeof u);
	rc = store_users_get(r->db, id, 1, &u);
	if (rc == 0 && !api_users_visible(r, &u))
		rc = TOCSIN_STORE_NOT_FOUND;
	if (rc == TOCSIN_STORE_NOT_FOUND) {
		db_rollback(r->db);
		store_users_clear(&u);
		http_problem(r, 404, NULL, "no such user");
		return;
	}
	if (rc != 0) {
		api_db_failed(r);
		return;
	}
	if (u.role == ROLE_ADMIN && api_users_last_admin(r, u.id) != 0) {
		store_users_clear(&u);
		return;
	}
	store_users_clear(&u);
	if (store_users_delete(r->db, id) != 0 ||
	    audit_record_id(r->db, r->who->user_id, "user.delete", "user", id,
	    NULL) != 0 || db_commit(r->db) != 0) {
		api_db_failed(r);
		return;
	}
	log_info("user %" PRId64 " deleted by user %" PRId64, id,
	    r->who->user_id);
	http_reply_text(r, 204, NULL, "");
}

/*
 * GET /v1/users/{id}/export: the right of access. Everything tocsin holds
 * about the user (store_users_export) and the audit entries about it; an
 * entry by someone else shows that person's id, not its address. The user
 * itself or an admin; the export is itself audited.
 */
static void
api_users_export_cb(struct req *r)
{
	struct user	 u;
	json_t		*v, *audit, *e;
	int64_t		 id;
	size_t		 i;
	int		 rc;

	if (!http_require_roles(r, ROLES_USERS))
		return;
	if ((id = http_parse_id(r->params[0])) == 0) {
		http_problem(r, 404, NULL, "no such user");
		return;
	}
	if (id != r->who->user_id && r->who->role != ROLE_ADMIN) {
		rc = store_users_get(r->db, id, 0, &u);
		if (rc == 0 && api_users_visible(r, &u))
			http_problem(r, 403, NULL, "only the user itself or an "
			    "admin may export its data");
		else if (rc == 0 || rc == TOCSIN_STORE_NOT_FOUND)
			http_problem(r, 404, NULL, "no such user");
		else
			api_db_failed(r);
		if (rc == 0)
			store_users_clear(&u);
		return;
	}
	rc = store_users_export(r->db, id, &v);
	if (rc == TOCSIN_STORE_NOT_FOUND) {
		http_problem(r, 404, NULL, "no such user");
		return;
	}
	if (rc != 0 || (audit = audit_about_user(r->db, id)) == NULL) {
		json_decref(v);
		api_db_failed(r);
		return;
	}
	json_array_foreach(audit, i, e) {
		if (json_integer_value(json_object_get(e, "actor_user_id")) !=
		    id)
			json_object_set_new(e, "client_address", json_null());
	}
	json_object_set_new(v, "audit", audit);
	if (audit_record_id(r->db, r->who->user_id, "user.export", "user", id,
	    NULL) != 0) {
		json_decref(v);
		api_db_failed(r);
		return;
	}
	log_info("user %" PRId64 " exported by user %" PRId64, id,
	    r->who->user_id);
	http_reply_json(r, 200, v);
}

const struct route api_users_routes[] = {
	{ "POST", "/v1/users", api_users_create_cb, 0 },
	{ "GET", "/v1/users", api_users_list_cb, 0 },
	{ "GET", "/v1/users/*", api_users_get_cb, 0 },
	{ "PATCH", "/v1/users/*", api_users_update_cb, 0 },
	{ "DELETE", "/v1/users/*", api_users_delete_cb, 0 },
	{ "GET", "/v1/users/*/export", api_users_export_cb, 0 },
	{ NULL, NULL, NULL, 0 }
};
