/*
 * auth.c: from a bearer token (or a user id) to a principal: the user, its
 * role, and its organisation's kind, sectors and state. Tokens are looked
 * up by their SHA-256 only; the token itself is never stored or logged.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define AUTH_SELECT \
	"SELECT u.id, u.role, u.language, coalesce(u.organisation_id, 0), " \
	"coalesce(o.kind, 'public'), coalesce(o.active, true), " \
	"coalesce(o.sectors, '{}') "

/* Fill P from row 0 of RES (columns as AUTH_SELECT, from column OFF). */
static int
auth_fill(PGresult *res, int off, struct principal *p)
{
	enum role	 role;
	enum org_kind	 kind;

	memset(p, 0, sizeof *p);
	if (role_parse(PQgetvalue(res, 0, off + 1), &role) != 0 ||
	    kind_parse(PQgetvalue(res, 0, off + 4), &kind) != 0)
		return (-1);
	p->user_id = strtoll(PQgetvalue(res, 0, off), NULL, 10);
	p->role = role;
	p->language = xstrdup(PQgetvalue(res, 0, off + 2));
	p->org_id = strtoll(PQgetvalue(res, 0, off + 3), NULL, 10);
	p->org_kind = kind;
	p->org_active = PQgetvalue(res, 0, off + 5)[0] == 't';
	if (pg_parse_text_array(PQgetvalue(res, 0, off + 6), &p->org_sectors,
	    &p->n_org_sectors) != 0) {
		principal_clear(p);
		return (-1);
	}
	return (0);
}

/* Token → principal: 0 found, -1 unknown or revoked, -2 database error. */
int
auth_principal_by_token(PGconn *db, const char *token, struct principal *p)
{
	unsigned char	 hash[32], *stored;
	char		 hex[2 + 64 + 1];
	const char	*params[1];
	PGresult	*res;
	size_t		 i, len;
	int		 rc;

	if (!token_looks_valid(token))
		return (-1);
	token_hash(token, hash);
	hex[0] = '\\';
	hex[1] = 'x';
	for (i = 0; i < sizeof hash; i++)
		snprintf(hex + 2 + 2 * i, 3, "%02x", hash[i]);
	params[0] = hex;
	res = db_exec(db, AUTH_SELECT ", t.hash FROM tokens t "
	    "JOIN users u ON u.id = t.user_id "
	    "LEFT JOIN organisations o ON o.id = u.organisation_id "
	    "WHERE t.hash = $1 AND t.revoked_at IS NULL AND u.active "
	    "AND (o.id IS NULL OR o.active)", 1, params);
	if (res == NULL)
		return (db_conn_broken(db) ? -2 : -2);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (-1);
	}
	/* The index found it; compare anyway, in constant time. */
	stored = PQunescapeBytea((unsigned char *)PQgetvalue(res, 0, 7), &len);
	rc = (stored != NULL && len == sizeof hash &&
	    token_equal(stored, hash, sizeof hash)) ? 0 : -1;
	PQfreemem(stored);
	if (rc == 0 && auth_fill(res, 0, p) != 0)
		rc = -1;
	PQclear(res);
	return (rc);
}

/* User id → principal: 0 found, -1 unknown or inactive, -2 database. */
int
auth_principal_by_user(PGconn *db, int64_t user_id, struct principal *p)
{
	char		 id[32];
	const char	*params[1];
	PGresult	*res;
	int		 rc;

	snprintf(id, sizeof id, "%lld", (long long)user_id);
	params[0] = id;
	res = db_exec(db, AUTH_SELECT "FROM users u "
	    "LEFT JOIN organisations o ON o.id = u.organisation_id "
	    "WHERE u.id = $1 AND u.active", 1, params);
	if (res == NULL)
		return (-2);
	rc = PQntuples(res) == 1 ? auth_fill(res, 0, p) : -1;
	PQclear(res);
	return (rc);
}

/*
 * The stream's credential → principal: an API token, or a web stream
 * ticket (store_web.c), single-use, that the live page got with its
 * session; the REST API never accepts tickets. As auth_principal_by_token.
 */
int
auth_principal_by_stream_token(PGconn *db, const char *token,
    struct principal *p)
{
	unsigned char	hash[32];
	int		rc;

	rc = auth_principal_by_token(db, token, p);
	if (rc != -1 || !token_looks_valid(token))
		return (rc);
	token_hash(token, hash);
	return (store_web_ticket_use(db, hash, p));
}
