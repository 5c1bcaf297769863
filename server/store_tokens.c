/*
 * store_tokens.c: the SQL for API tokens. A token is made here (token.c),
 * handed back once to the caller, and only its SHA-256 reaches the
 * database; nothing here logs a token. Revoking one is announced on
 * tocsin_principals so the stream drops connections that used it.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define STORE_TOKENS_TS(c) \
	"to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define STORE_TOKENS_COLUMNS \
	"id, user_id, " STORE_TOKENS_TS("created_at") ", " \
	STORE_TOKENS_TS("last_used_at") ", " STORE_TOKENS_TS("revoked_at")

/* Fill T from row ROW of RES (STORE_TOKENS_COLUMNS). */
static void
store_tokens_fill(PGresult *res, int row, struct token_record *t)
{
	memset(t, 0, sizeof *t);
	t->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	t->user_id = strtoll(PQgetvalue(res, row, 1), NULL, 10);
	t->created_at = xstrdup(PQgetvalue(res, row, 2));
	if (!PQgetisnull(res, row, 3))
		t->last_used_at = xstrdup(PQgetvalue(res, row, 3));
	if (!PQgetisnull(res, row, 4))
		t->revoked_at = xstrdup(PQgetvalue(res, row, 4));
}

/*
 * Make a token for USER_ID: *token gets the secret (the caller shows it
 * once, then wipes and frees it), T the stored record. 0 or -1.
 */
int
store_tokens_insert(PGconn *db, int64_t user_id, struct token_record *t,
    char **token)
{
	unsigned char	 hash[32];
	char		 hex[2 + 2 * sizeof hash + 1], userbuf[24];
	const char	*params[2];
	PGresult	*res;
	size_t		 i;

	*token = token_generate();
	token_hash(*token, hash);
	hex[0] = '\\';
	hex[1] = 'x';
	for (i = 0; i < sizeof hash; i++)
		snprintf(hex + 2 + 2 * i, 3, "%02x", hash[i]);
	snprintf(userbuf, sizeof userbuf, "%" PRId64, user_id);
	params[0] = userbuf;
	params[1] = hex;
	res = db_exec(db, "INSERT INTO tokens (user_id, hash) "
	    "VALUES ($1, $2::bytea) RETURNING " STORE_TOKENS_COLUMNS,
	    2, params);
	explicit_bzero(hash, sizeof hash);
	explicit_bzero(hex, sizeof hex);
	if (res == NULL || PQntuples(res) != 1) {
		PQclear(res);
		explicit_bzero(*token, strlen(*token));
		free(*token);
		*token = NULL;
		return (-1);
	}
	store_tokens_fill(res, 0, t);
	PQclear(res);
	return (0);
}

/* Up to LIMIT tokens of USER_ID with an id above AFTER, in id order. */
int
store_tokens_list(PGconn *db, int64_t user_id, int64_t after, int limit,
    struct token_record **out, size_t *n)
{
	char		 userbuf[24], afterbuf[24], limitbuf[16];
	const char	*params[3];
	PGresult	*res;
	int		 i, rows;

	*out = NULL;
	*n = 0;
	snprintf(userbuf, sizeof userbuf, "%" PRId64, user_id);
	snprintf(afterbuf, sizeof afterbuf, "%" PRId64, after);
	snprintf(limitbuf, sizeof limitbuf, "%d", limit);
	params[0] = userbuf;
	params[1] = afterbuf;
	params[2] = limitbuf;
	res = db_exec(db, "SELECT " STORE_TOKENS_COLUMNS " FROM tokens "
	    "WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3", 3, params);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	if (rows > 0)
		*out = xcalloc(rows, sizeof **out);
	for (i = 0; i < rows; i++)
		store_tokens_fill(res, i, &(*out)[i]);
	*n = rows;
	PQclear(res);
	return (0);
}

/*
 * Revoke token ID, if it belongs to OWNER (0: anyone's), and announce it
 * for its user. Revoking twice keeps the first time and is not an error.
 * 0, TOCSIN_STORE_NOT_FOUND or -1.
 */
int
store_tokens_revoke(PGconn *db, int64_t id, int64_t owner)
{
	char		 idbuf[24], ownerbuf[24];
	const char	*params[2];
	PGresult	*res;
	int64_t		 user_id;

	snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
	snprintf(ownerbuf, sizeof ownerbuf, "%" PRId64, owner);
	params[0] = idbuf;
	params[1] = ownerbuf;
	res = db_exec(db, "UPDATE tokens SET "
	    "revoked_at = coalesce(revoked_at, now()) "
	    "WHERE id = $1 AND ($2::bigint = 0 OR user_id = $2) "
	    "RETURNING user_id", 2, params);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (TOCSIN_STORE_NOT_FOUND);
	}
	user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return (store_users_notify(db, user_id));
}

/* Free what T holds. */
void
store_tokens_clear(struct token_record *t)
{
	free(t->created_at);
	free(t->last_used_at);
	free(t->revoked_at);
	memset(t, 0, sizeof *t);
}
