/*
 * store_web.c: the SQL of the web portal (schema/004_web.sql): sessions,
 * whose random ids are kept only as SHA-256; the live page's stream
 * tickets; and the audience preview of the publishing form, which asks
 * tlp_may_see() for every active organisation, as delivery would.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tocsind.h"

/* "\x" and the hex of a SHA-256, as a bytea parameter. */
static void
store_web_hex(const unsigned char hash[32], char out[2 + 64 + 1])
{
	size_t	i;

	out[0] = '\\';
	out[1] = 'x';
	for (i = 0; i < 32; i++)
		snprintf(out + 2 + 2 * i, 3, "%02x", hash[i]);
}

/* A random string of BYTES bytes in unpadded base64url; the caller frees. */
char *
store_web_random(size_t bytes)
{
	unsigned char	 raw[64], b64[((64 + 2) / 3) * 4 + 1];
	char		*out;
	size_t		 i, len;
	int		 n;

	if (bytes > sizeof raw)
		bytes = sizeof raw;
	if (RAND_bytes(raw, (int)bytes) != 1)
		fatalx("store_web_random: RAND_bytes failed");
	n = EVP_EncodeBlock(b64, raw, (int)bytes);
	OPENSSL_cleanse(raw, sizeof raw);
	if (n <= 0)
		fatalx("store_web_random: EVP_EncodeBlock failed");
	len = (size_t)n;
	while (len > 0 && b64[len - 1] == '=')
		len--;
	out = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (b64[i] == '+')
			out[i] = '-';
		else if (b64[i] == '/')
			out[i] = '_';
		else
			out[i] = (char)b64[i];
	}
	out[len] = '\0';
	OPENSSL_cleanse(b64, sizeof b64);
	return (out);
}

/* Does S look like a session id (before any look-up)? */
static int
store_web_id_ok(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i == 64 || !((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return (0);
	}
	return (i >= 40);
}

/*
 * A new session for USER_ID lasting LIFETIME seconds: 0 with *id (for the
 * cookie) and *csrf (the caller frees both), or -1. Expired sessions are
 * swept on the way.
 */
int
store_web_session_create(PGconn *db, int64_t user_id, int lifetime,
    char **id, char **csrf)
{
	unsigned char	 hash[32];
	char		 hex[2 + 64 + 1], user[24], life[16];
	const char	*params[4];

	*id = store_web_random(TOCSIN_TOKEN_BYTES);
	*csrf = store_web_random(24);
	token_hash(*id, hash);
	store_web_hex(hash, hex);
	snprintf(user, sizeof user, "%" PRId64, user_id);
	snprintf(life, sizeof life, "%d", lifetime);
	params[0] = hex;
	params[1] = user;
	params[2] = *csrf;
	params[3] = life;
	if (db_exec_ok(db, "DELETE FROM web_sessions WHERE expires_at < now()",
	    0, NULL) != 0 ||
	    db_exec_ok(db, "INSERT INTO web_sessions (id_hash, user_id, csrf, "
	    "expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => "
	    "$4::int))", 4, params) != 0) {
		free(*id);
		free(*csrf);
		*id = *csrf = NULL;
		return (-1);
	}
	return (0);
}

/*
 * The live session with this id: 0 and S filled (its user's principal
 * in S->who), TOCSIN_STORE_NOT_FOUND (unknown, expired, or its user or
 * organisation gone), or -1 (database).
 */
int
store_web_session_get(PGconn *db, const char *id, struct web_session *s)
{
	char		 hex[2 + 64 + 1];
	const char	*params[1];
	PGresult	*res;
	int		 rc;

	memset(s, 0, sizeof *s);
	if (id == NULL || !store_web_id_ok(id))
		return (TOCSIN_STORE_NOT_FOUND);
	token_hash(id, s->hash);
	store_web_hex(s->hash, hex);
	params[0] = hex;
	res = db_exec(db, "SELECT s.user_id, s.csrf, extract(epoch FROM "
	    "s.expires_at)::bigint, u.name FROM web_sessions s JOIN users u "
	    "ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > now()",
	    1, params);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (TOCSIN_STORE_NOT_FOUND);
	}
	s->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	s->csrf = xstrdup(PQgetvalue(res, 0, 1));
	s->expires = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	s->user_name = xstrdup(PQgetvalue(res, 0, 3));
	PQclear(res);
	rc = auth_principal_by_user(db, s->user_id, &s->who);
	if (rc == 0 && s->who.org_id != 0 && !s->who.org_active) {
		principal_clear(&s->who);
		rc = -1;
	}
	if (rc != 0) {
		free(s->csrf);
		free(s->user_name);
		memset(s, 0, sizeof *s);
		return (rc == -2 ? -1 : TOCSIN_STORE_NOT_FOUND);
	}
	return (0);
}

void
store_web_session_clear(struct web_session *s)
{
	if (s->csrf != NULL) {
		OPENSSL_cleanse(s->csrf, strlen(s->csrf));
		free(s->csrf);
	}
	free(s->user_name);
	principal_clear(&s->who);
	memset(s, 0, sizeof *s);
}

/*
 * End a session (sign-out). Its stream tickets go with it, and the user's
 * live connections are told to check their credentials again, so a live
 * page of this session is closed at once. 0 or -1.
 */
int
store_web_session_delete(PGconn *db, const struct web_session *s)
{
	char		 hex[2 + 64 + 1];
	const char	*params[1];

	store_web_hex(s->hash, hex);
	params[0] = hex;
	if (db_exec_ok(db, "DELETE FROM web_sessions WHERE id_hash = $1", 1,
	    params) != 0)
		return (-1);
	return (store_users_notify(db, s->user_id));
}

/*
 * A stream ticket for session S, good for one WebSocket authentication
 * within TTL seconds: 0 and *ticket (API token shaped; the caller frees),
 * or -1. Spent and stale tickets of the session are swept.
 */
int
store_web_ticket_create(PGconn *db, const struct web_session *s, int ttl,
    char **ticket)
{
	unsigned char	 hash[32];
	char		 hex[2 + 64 + 1], shex[2 + 64 + 1], user[24], ttls[16];
	const char	*params[4];

	*ticket = token_generate();
	token_hash(*ticket, hash);
	store_web_hex(hash, hex);
	store_web_hex(s->hash, shex);
	snprintf(user, sizeof user, "%" PRId64, s->user_id);
	snprintf(ttls, sizeof ttls, "%d", ttl);
	params[0] = shex;
	/*
	 * A used ticket stays while its session lives: the stream checks
	 * that its connection's credential is still live (streamdb.c).
	 * Keep the few most recent; a page reconnecting after every sleep
	 * would otherwise pile them up.
	 */
	if (db_exec_ok(db, "DELETE FROM web_stream_tickets WHERE session_hash "
	    "= $1 AND ((used_at IS NULL AND expires_at < now()) OR hash NOT IN "
	    "(SELECT hash FROM web_stream_tickets WHERE session_hash = $1 "
	    "ORDER BY expires_at DESC LIMIT 16))", 1, params) != 0)
		goto fail;
	params[0] = hex;
	params[1] = shex;
	params[2] = user;
	params[3] = ttls;
	if (db_exec_ok(db, "INSERT INTO web_stream_tickets (hash, session_hash, "
	    "user_id, expires_at) VALUES ($1, $2, $3, now() + "
	    "make_interval(secs => $4::int))", 4, params) != 0)
		goto fail;
	return (0);
fail:
	free(*ticket);
	*ticket = NULL;
	return (-1);
}

/*
 * Spend a stream ticket: 0 and the principal of its user, -1 unknown,
 * spent, expired or its session over, -2 database.
 */
int
store_web_ticket_use(PGconn *db, const unsigned char hash[32],
    struct principal *p)
{
	char		 hex[2 + 64 + 1];
	const char	*params[1];
	PGresult	*res;
	int64_t		 user;
	int		 rc;

	store_web_hex(hash, hex);
	params[0] = hex;
	res = db_exec(db, "UPDATE web_stream_tickets t SET used_at = now() "
	    "FROM web_sessions s WHERE t.hash = $1 AND t.used_at IS NULL AND "
	    "t.expires_at > now() AND s.id_hash = t.session_hash AND "
	    "s.expires_at > now() RETURNING t.user_id", 1, params);
	if (res == NULL)
		return (-2);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (-1);
	}
	user = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	rc = auth_principal_by_user(db, user, p);
	if (rc == 0 && p->org_id != 0 && !p->org_active) {
		principal_clear(p);
		rc = -1;
	}
	return (rc);
}

/*
 * How many organisations and people an item with this label and audience
 * would reach (CSIRT staff aside): each active organisation is asked to
 * tlp_may_see() as one of its members; for RED, each named user as
 * itself. 0 or -1.
 */
int
store_web_audience_count(PGconn *db, const struct audience *aud,
    int64_t *orgs, int64_t *people)
{
	struct principal p;
	PGresult	*res;
	enum org_kind	 kind;
	int64_t		*seen = NULL;
	size_t		 nseen = 0, i, k;
	int		 n, j, rc;

	*orgs = *people = 0;
	if (aud->tlp == TLP_RED) {
		for (i = 0; i < aud->n_users; i++) {
			rc = auth_principal_by_user(db, aud->users[i], &p);
			if (rc == -2) {
				free(seen);
				return (-1);
			}
			if (rc != 0)
				continue;
			if (tlp_may_see(aud, &p) && !role_is_staff(p.role)) {
				(*people)++;
				for (k = 0; k < nseen; k++) {
					if (seen[k] == p.org_id)
						break;
				}
				if (k == nseen) {
					seen = xrealloc(seen, (nseen + 1) *
					    sizeof *seen);
					seen[nseen++] = p.org_id;
				}
			}
			principal_clear(&p);
		}
		free(seen);
		*orgs = (int64_t)nseen;
		return (0);
	}
	res = db_exec(db, "SELECT o.id, o.kind, o.sectors, (SELECT count(*) "
	    "FROM users u WHERE u.organisation_id = o.id AND u.active) "
	    "FROM organisations o WHERE o.active", 0, NULL);
	if (res == NULL)
		return (-1);
	n = PQntuples(res);
	for (j = 0; j < n; j++) {
		memset(&p, 0, sizeof p);
		if (kind_parse(PQgetvalue(res, j, 1), &kind) != 0 ||
		    pg_parse_text_array(PQgetvalue(res, j, 2), &p.org_sectors,
		    &p.n_org_sectors) != 0)
			continue;
		/* Any one of its members: not anonymous, not named. */
		p.user_id = TOCSIN_PRINCIPAL_ORGANISATION;
		p.role = ROLE_MEMBER;
		p.org_id = strtoll(PQgetvalue(res, j, 0), NULL, 10);
		p.org_kind = kind;
		p.org_active = 1;
		if (tlp_may_see(aud, &p)) {
			(*orgs)++;
			*people += strtoll(PQgetvalue(res, j, 3), NULL, 10);
		}
		principal_clear(&p);
	}
	PQclear(res);
	return (0);
}

/*
 * A sign-in link for USER, good once within TTL seconds: 0 and *token
 * (32 random bytes, base64url; the caller frees; only its SHA-256 is
 * stored), 1 when the user already got one in the last EVERY seconds
 * (nothing made: a mailbox is not to be flooded), or -1. The user's spent
 * and stale links are swept.
 */
int
store_web_link_create(PGconn *db, int64_t user, int ttl, int every,
    char **token)
{
	unsigned char	 hash[32];
	char		 hex[2 + 64 + 1], users[24], ttls[16], everys[16];
	const char	*params[4];
	PGresult	*res;
	int		 made;

	snprintf(users, sizeof users, "%" PRId64, user);
	snprintf(ttls, sizeof ttls, "%d", ttl);
	params[0] = users;
	if (db_exec_ok(db, "DELETE FROM web_signin_links WHERE user_id = $1 "
	    "AND (used_at IS NOT NULL OR expires_at < now())", 1, params) != 0)
		return (-1);
	*token = store_web_random(32);
	token_hash(*token, hash);
	store_web_hex(hash, hex);
	snprintf(everys, sizeof everys, "%d", every);
	params[0] = hex;
	params[1] = users;
	params[2] = ttls;
	params[3] = everys;
	res = db_exec(db, "INSERT INTO web_signin_links (hash, user_id, "
	    "expires_at) SELECT $1, $2, now() + make_interval(secs => $3::int) "
	    "WHERE NOT EXISTS (SELECT 1 FROM web_signin_links WHERE "
	    "user_id = $2 AND created_at > now() - make_interval(secs => "
	    "$4::int)) RETURNING 1", 4, params);
	made = res != NULL ? PQntuples(res) : -1;
	if (res != NULL)
		PQclear(res);
	if (made != 1) {
		free(*token);
		*token = NULL;
		return (made == 0 ? 1 : -1);
	}
	return (0);
}

/*
 * Spend a sign-in link: 0 and its user (still active), -1 unknown,
 * spent or expired, -2 database.
 */
int
store_web_link_use(PGconn *db, const char *token, int64_t *user)
{
	unsigned char	 hash[32];
	char		 hex[2 + 64 + 1];
	const char	*params[1];
	PGresult	*res;

	token_hash(token, hash);
	store_web_hex(hash, hex);
	params[0] = hex;
	res = db_exec(db, "UPDATE web_signin_links l SET used_at = now() "
	    "FROM users u WHERE l.hash = $1 AND l.used_at IS NULL AND "
	    "l.expires_at > now() AND u.id = l.user_id AND u.active "
	    "RETURNING l.user_id", 1, params);
	if (res == NULL)
		return (-2);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (-1);
	}
	*user = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return (0);
}
