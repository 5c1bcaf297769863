/*
 * store_users.c: the SQL for users, and "tocsind bootstrap-admin". The REST
 * handlers call it inside their request's transaction. A change to a user
 * (role, details, deletion) is announced on tocsin_principals in the same
 * transaction so its live WebSocket connections re-read their principal.
 * A deleted user is kept, inactive, because advisories name their publisher.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define STORE_USERS_COLUMNS \
	"id, coalesce(organisation_id, 0), name, email, role, language, " \
	"smime_cert, to_char(created_at AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* Fill U from row ROW of RES (STORE_USERS_COLUMNS). */
static int
store_users_fill(PGresult *res, int row, struct user *u)
{
	memset(u, 0, sizeof *u);
	if (role_parse(PQgetvalue(res, row, 4), &u->role) != 0) {
		log_warn("user %s: unreadable row", PQgetvalue(res, row, 0));
		return (-1);
	}
	u->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	u->organisation_id = strtoll(PQgetvalue(res, row, 1), NULL, 10);
	u->name = xstrdup(PQgetvalue(res, row, 2));
	if (!PQgetisnull(res, row, 3))
		u->email = xstrdup(PQgetvalue(res, row, 3));
	u->language = xstrdup(PQgetvalue(res, row, 5));
	if (!PQgetisnull(res, row, 6))
		u->smime_cert = xstrdup(PQgetvalue(res, row, 6));
	u->created_at = xstrdup(PQgetvalue(res, row, 7));
	return (0);
}

/* Tell live connections that user ID must be re-read (or dropped). */
int
store_users_notify(PGconn *db, int64_t id)
{
	char		 payload[40];
	const char	*params[1];

	snprintf(payload, sizeof payload, "user:%" PRId64, id);
	params[0] = payload;
	return (db_exec_ok(db, "SELECT pg_notify('" TOCSIN_NOTIFY_PRINCIPALS
	    "', $1)", 1, params));
}

/* Insert U (id and created_at filled in); 0 or -1. */
int
store_users_insert(PGconn *db, struct user *u)
{
	char		 orgbuf[24];
	const char	*params[6];
	PGresult	*res;
	struct user	 created;
	int		 rc;

	snprintf(orgbuf, sizeof orgbuf, "%" PRId64, u->organisation_id);
	params[0] = u->organisation_id != 0 ? orgbuf : NULL;
	params[1] = u->name;
	params[2] = u->email;
	params[3] = role_name(u->role);
	params[4] = u->language != NULL ? u->language : "en";
	params[5] = u->smime_cert;
	res = db_exec(db, "INSERT INTO users (organisation_id, name, email, "
	    "role, language, smime_cert) VALUES ($1, $2, $3, $4, $5, $6) "
	    "RETURNING " STORE_USERS_COLUMNS, 6, params);
	if (res == NULL)
		return (-1);
	rc = PQntuples(res) == 1 ? store_users_fill(res, 0, &created) : -1;
	PQclear(res);
	if (rc != 0)
		return (-1);
	store_users_clear(u);
	*u = created;
	return (0);
}

/* Read active user ID, locking it if LOCK; 0, TOCSIN_STORE_NOT_FOUND, -1. */
int
store_users_get(PGconn *db, int64_t id, int lock, struct user *u)
{
	PGresult	*res;
	int		 rc;

	memset(u, 0, sizeof *u);
	res = db_exec_id(db, lock ?
	    "SELECT " STORE_USERS_COLUMNS " FROM users "
	    "WHERE id = $1 AND active FOR UPDATE" :
	    "SELECT " STORE_USERS_COLUMNS " FROM users "
	    "WHERE id = $1 AND active", id);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) != 1)
		rc = TOCSIN_STORE_NOT_FOUND;
	else
		rc = store_users_fill(res, 0, u);
	PQclear(res);
	return (rc);
}

/*
 * Up to LIMIT active users with an id above AFTER, in id order; ORG, if not
 * 0, narrows the list to that organisation's users.
 */
int
store_users_list(PGconn *db, int64_t org, int64_t after, int limit,
    struct user **out, size_t *n)
{
	char		 orgbuf[24], afterbuf[24], limitbuf[16];
	const char	*params[3];
	PGresult	*res;
	int		 i, rows;

	*out = NULL;
	*n = 0;
	snprintf(orgbuf, sizeof orgbuf, "%" PRId64, org);
	snprintf(afterbuf, sizeof afterbuf, "%" PRId64, after);
	snprintf(limitbuf, sizeof limitbuf, "%d", limit);
	params[0] = orgbuf;
	params[1] = afterbuf;
	params[2] = limitbuf;
	res = db_exec(db, "SELECT " STORE_USERS_COLUMNS " FROM users "
	    "WHERE active AND ($1::bigint = 0 OR organisation_id = $1) "
	    "AND id > $2 ORDER BY id LIMIT $3", 3, params);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	if (rows > 0)
		*out = xcalloc(rows, sizeof **out);
	for (i = 0; i < rows; i++) {
		if (store_users_fill(res, i, &(*out)[*n]) != 0)
			break;
		(*n)++;
	}
	PQclear(res);
	if (i != rows) {
		for (i = 0; (size_t)i < *n; i++)
			store_users_clear(&(*out)[i]);
		free(*out);
		*out = NULL;
		*n = 0;
		return (-1);
	}
	return (0);
}

/*
 * Write U's name, email, role, language and certificate back and announce
 * the change; 0, TOCSIN_STORE_NOT_FOUND or -1. The organisation never
 * changes here.
 */
int
store_users_update(PGconn *db, struct user *u)
{
	char		 idbuf[24];
	const char	*params[6];
	PGresult	*res;
	struct user	 updated;
	int		 rc;

	snprintf(idbuf, sizeof idbuf, "%" PRId64, u->id);
	params[0] = idbuf;
	params[1] = u->name;
	params[2] = u->email;
	params[3] = role_name(u->role);
	params[4] = u->language;
	params[5] = u->smime_cert;
	res = db_exec(db, "UPDATE users SET name = $2, email = $3, role = $4, "
	    "language = $5, smime_cert = $6, updated_at = now() "
	    "WHERE id = $1 AND active RETURNING " STORE_USERS_COLUMNS,
	    6, params);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) != 1)
		rc = TOCSIN_STORE_NOT_FOUND;
	else
		rc = store_users_fill(res, 0, &updated);
	PQclear(res);
	if (rc != 0)
		return (rc);
	store_users_clear(u);
	*u = updated;
	return (store_users_notify(db, u->id));
}

/*
 * Delete user ID: its personal data goes (the name becomes "deleted user
 * ID", e-mail address and certificate are cleared, the error texts of its
 * deliveries, which may quote its address, are wiped), it becomes inactive
 * (advisories keep naming their publisher by id), its tokens are revoked,
 * its subscriptions and web sessions removed and its pending deliveries
 * cancelled, so nothing more reaches it. Delivery records and audit
 * entries stay, by id, until their retention ends. 0,
 * TOCSIN_STORE_NOT_FOUND or -1.
 */
int
store_users_delete(PGconn *db, int64_t id)
{
	char		 idbuf[24];
	const char	*params[1];
	PGresult	*res;
	int		 rows;

	snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
	params[0] = idbuf;
	res = db_exec(db, "UPDATE users SET active = false, "
	    "name = 'deleted user ' || id, email = NULL, smime_cert = NULL, "
	    "updated_at = now() WHERE id = $1 AND active", 1, params);
	if (res == NULL)
		return (-1);
	rows = atoi(PQcmdTuples(res));
	PQclear(res);
	if (rows != 1)
		return (TOCSIN_STORE_NOT_FOUND);
	if (db_exec_ok(db, "UPDATE tokens SET revoked_at = now() "
	    "WHERE user_id = $1 AND revoked_at IS NULL", 1, params) != 0 ||
	    db_exec_ok(db, "DELETE FROM subscriptions WHERE user_id = $1",
	    1, params) != 0 ||
	    db_exec_ok(db, "DELETE FROM web_sessions WHERE user_id = $1",
	    1, params) != 0 ||
	    db_exec_ok(db, "UPDATE deliveries SET state = CASE WHEN state = "
	    "'pending' THEN 'cancelled' ELSE state END, last_error = CASE "
	    "WHEN state = 'pending' THEN 'recipient deleted' END, "
	    "last_response = NULL, updated_at = CASE WHEN state = 'pending' "
	    "THEN now() ELSE updated_at END WHERE user_id = $1",
	    1, params) != 0 ||
	    db_exec_ok(db, "UPDATE delivery_attempts SET error = NULL, "
	    "response = NULL WHERE delivery_id IN (SELECT id FROM deliveries "
	    "WHERE user_id = $1) AND (error IS NOT NULL OR response IS NOT "
	    "NULL)", 1, params) != 0)
		return (-1);
	return (store_users_notify(db, id));
}

#define STORE_USERS_TS(c) \
	"to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/*
 * What tocsin holds about active user ID, for its right of access: the
 * profile (with its e-mail address and certificate), its tokens (never
 * their secret), subscriptions, web sessions and the deliveries addressed
 * to it, as one JSON object in *out. Its audit entries come from
 * audit_about_user(). 0, TOCSIN_STORE_NOT_FOUND or -1.
 */
int
store_users_export(PGconn *db, int64_t id, json_t **out)
{
	char		 idbuf[24];
	const char	*params[1];
	PGresult	*res;
	json_error_t	 err;

	*out = NULL;
	snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
	params[0] = idbuf;
	res = db_exec(db, "SELECT json_build_object("
	    "'user', json_build_object('id', u.id, 'organisation_id', "
	    "u.organisation_id, 'name', u.name, 'email', u.email, 'role', "
	    "u.role, 'language', u.language, 'smime_cert', u.smime_cert, "
	    "'created_at', " STORE_USERS_TS("u.created_at") ", 'updated_at', "
	    STORE_USERS_TS("u.updated_at") "), "
	    "'tokens', coalesce((SELECT json_agg(json_build_object('id', t.id, "
	    "'created_at', " STORE_USERS_TS("t.created_at") ", 'last_used_at', "
	    STORE_USERS_TS("t.last_used_at") ", 'revoked_at', "
	    STORE_USERS_TS("t.revoked_at") ") ORDER BY t.id) FROM tokens t "
	    "WHERE t.user_id = u.id), '[]'), "
	    "'subscriptions', coalesce((SELECT json_agg(json_build_object("
	    "'id', s.id, 'name', s.name, 'filter', s.filter, 'channels', "
	    "s.channels, 'digest', s.digest, 'created_at', "
	    STORE_USERS_TS("s.created_at") ") ORDER BY s.id) FROM "
	    "subscriptions s WHERE s.user_id = u.id), '[]'), "
	    "'web_sessions', coalesce((SELECT json_agg(json_build_object("
	    "'created_at', " STORE_USERS_TS("w.created_at") ", 'expires_at', "
	    STORE_USERS_TS("w.expires_at") ") ORDER BY w.created_at) FROM "
	    "web_sessions w WHERE w.user_id = u.id), '[]'), "
	    "'deliveries', coalesce((SELECT json_agg(json_build_object("
	    "'id', d.id, 'channel', d.channel, 'event_id', d.event_id, "
	    "'type', e.type, 'item_kind', e.item_kind, 'item_id', e.item_id, "
	    "'state', d.state, 'attempts', d.attempts, 'created_at', "
	    STORE_USERS_TS("d.created_at") ", 'delivered_at', "
	    STORE_USERS_TS("d.delivered_at") ", 'last_status', d.last_status, "
	    "'last_error', d.last_error) ORDER BY d.id) FROM deliveries d "
	    "LEFT JOIN events e ON e.event_id = d.event_id "
	    "WHERE d.user_id = u.id), '[]')) "
	    "FROM users u WHERE u.id = $1 AND u.active", 1, params);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (TOCSIN_STORE_NOT_FOUND);
	}
	*out = json_loads(PQgetvalue(res, 0, 0), 0, &err);
	PQclear(res);
	return (*out != NULL ? 0 : -1);
}

/*
 * Count the active admins other than EXCEPT into *N, locking them so that
 * two requests cannot each remove "another" admin and leave none.
 */
int
store_users_other_admins(PGconn *db, int64_t except, int64_t *n)
{
	char		 idbuf[24];
	const char	*params[1];
	PGresult	*res;

	snprintf(idbuf, sizeof idbuf, "%" PRId64, except);
	params[0] = idbuf;
	res = db_exec(db, "SELECT id FROM users WHERE role = 'admin' AND "
	    "active AND id <> $1 ORDER BY id FOR UPDATE", 1, params);
	if (res == NULL)
		return (-1);
	*n = PQntuples(res);
	PQclear(res);
	return (0);
}

/*
 * The ids of every user of organisation ORG, active or not, into a new
 * array (the caller frees it); for the stream, which re-reads or drops their
 * connections when the organisation changes.
 */
int
store_users_of_org(PGconn *db, int64_t org, int64_t **ids, size_t *n)
{
	char		 orgbuf[24];
	const char	*params[1];
	PGresult	*res;
	int		 i, rows;

	*ids = NULL;
	*n = 0;
	snprintf(orgbuf, sizeof orgbuf, "%" PRId64, org);
	params[0] = orgbuf;
	res = db_exec(db, "SELECT id FROM users WHERE organisation_id = $1 "
	    "ORDER BY id", 1, params);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	if (rows > 0) {
		*ids = xcalloc(rows, sizeof **ids);
		for (i = 0; i < rows; i++)
			(*ids)[i] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		*n = rows;
	}
	PQclear(res);
	return (0);
}

/*
 * "tocsind bootstrap-admin NAME": in one transaction, create an admin user
 * NAME (no organisation, no e-mail) and a token for it, returned in *token
 * for the caller to print once and free. If an active admin named NAME
 * already exists, no second one is made: it only gets a fresh token, which
 * is how an operator recovers a lost admin token (older tokens stay valid
 * until revoked with DELETE /v1/tokens/{id}). 0, or -1 and *cause.
 */
int
store_users_bootstrap_admin(PGconn *db, const char *name, char **token,
    char **cause)
{
	const char		*params[1];
	PGresult		*res;
	struct user		 u;
	struct token_record	 t;
	int64_t			 id;

	*token = NULL;
	if (!api_valid_name(name)) {
		*cause = xstrdup("the name must be 1 to 200 printable "
		    "characters");
		return (-1);
	}
	if (db_begin(db) != 0)
		goto fail;
	/* One bootstrap at a time, so two runs cannot make two admins. */
	if (db_exec_ok(db, "SELECT pg_advisory_xact_lock(7411002)", 0,
	    NULL) != 0)
		goto fail;
	params[0] = name;
	res = db_exec(db, "SELECT id FROM users WHERE role = 'admin' AND "
	    "active AND name = $1 ORDER BY id LIMIT 1", 1, params);
	if (res == NULL)
		goto fail;
	id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) :
	    0;
	PQclear(res);
	if (id == 0) {
		memset(&u, 0, sizeof u);
		u.name = xstrdup(name);
		u.role = ROLE_ADMIN;
		u.language = xstrdup("en");
		if (store_users_insert(db, &u) != 0) {
			store_users_clear(&u);
			goto fail;
		}
		id = u.id;
		store_users_clear(&u);
	}
	if (store_tokens_insert(db, id, &t, token) != 0)
		goto fail;
	/* By the system (no actor): whoever ran the command on the host. */
	if (audit_record_id(db, 0, "token.create", "token", t.id,
	    json_pack("{s:I, s:s}", "user_id", (json_int_t)id, "via",
	    "bootstrap-admin")) != 0) {
		store_tokens_clear(&t);
		explicit_bzero(*token, strlen(*token));
		free(*token);
		*token = NULL;
		goto fail;
	}
	store_tokens_clear(&t);
	if (db_commit(db) != 0) {
		explicit_bzero(*token, strlen(*token));
		free(*token);
		*token = NULL;
		goto fail;
	}
	return (0);
fail:
	xasprintf(cause, "database: %s", PQerrorMessage(db));
	(*cause)[strcspn(*cause, "\n")] = '\0';
	db_rollback(db);
	return (-1);
}

/* Free what U holds. */
void
store_users_clear(struct user *u)
{
	free(u->name);
	free(u->email);
	free(u->language);
	free(u->smime_cert);
	free(u->created_at);
	memset(u, 0, sizeof *u);
}
