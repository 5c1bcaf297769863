/*
 * store_email.c: the SQL of e-mail, beside the outbox it shares with
 * webhooks (store_outbox.c, schema/002_outbox.sql, 005_email.sql).
 *
 * - Planning (store_outbox_plan_compute, before or in the publishing
 *   transaction; the digest list is written with the event):
 *   users whose e-mail subscriptions match, or whom the item targets
 *   (their organisation is in its audience and they take e-mail; TLP:RED:
 *   they are named), and the security contact of each organisation the
 *   item targets. Everyone passes tlp_may_see(); TLP:RED goes to named
 *   users only, never to a contact or to staff who are not named. One row
 *   per (event, recipient); a contact whose address is a recipient user's
 *   is not written to twice. A user whose matching subscriptions all
 *   choose "daily@HH:MM" gets the item in a digest instead, unless it is
 *   critical or targets them.
 * - The worker's reads: recipients as they are now, and digest items.
 * - Digests: the rows of users whose digest time has come become one
 *   delivery each (any instance may run it; one at a time).
 * - Reports: a refused address or an unusable certificate makes a report
 *   to the organisation's other contacts, queued in the same transaction
 *   that records the failure.
 * - One-click unsubscribe: remove "email" from named subscriptions.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "tocsind.h"

#define STORE_EMAIL_DIGEST_LOCK	"7411005"	/* one digest run at a time */
#define STORE_EMAIL_STAFF_PRIORITY 3		/* CSIRT staff: the rest */

/* A user's e-mail subscriptions while planning. */
struct store_email_sub {
	int64_t		 id;
	struct filter	 filter;
	int		 minute;	/* daily@HH:MM, or -1: immediate */
};

/* A candidate user while planning. */
struct store_email_user {
	int64_t			 id;
	struct principal	 p;
	char			*email;		/* lower case */
	struct store_email_sub	*subs;
	size_t			 n_subs;
	int			 red_named;
};

static void
store_email_user_clear(struct store_email_user *u)
{
	size_t	i;

	principal_clear(&u->p);
	free(u->email);
	for (i = 0; i < u->n_subs; i++)
		filter_clear(&u->subs[i].filter);
	free(u->subs);
	memset(u, 0, sizeof *u);
}

/* Is ID among the N ids of V? */
static int
store_email_has(const int64_t *v, size_t n, int64_t id)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (v[i] == id)
			return (1);
	}
	return (0);
}

/* Fill P from columns COL.. of row I: role, org, kind, active, sectors. */
static int
store_email_principal(PGresult *res, int i, int col, int64_t user,
    struct principal *p)
{
	enum role	 role;
	enum org_kind	 kind;

	memset(p, 0, sizeof *p);
	if (role_parse(PQgetvalue(res, i, col), &role) != 0 ||
	    kind_parse(PQgetvalue(res, i, col + 2), &kind) != 0)
		return (-1);
	p->user_id = user;
	p->role = role;
	p->org_id = strtoll(PQgetvalue(res, i, col + 1), NULL, 10);
	p->org_kind = kind;
	p->org_active = PQgetvalue(res, i, col + 3)[0] == 't';
	if (pg_parse_text_array(PQgetvalue(res, i, col + 4), &p->org_sectors,
	    &p->n_org_sectors) != 0)
		return (-1);
	return (0);
}

/*
 * Parse subscription row I (id, filter, digest at COL..) into U's list;
 * a filter that no longer parses is skipped (logged).
 */
static void
store_email_add_sub(PGresult *res, int i, int col,
    struct store_email_sub **subs, size_t *n)
{
	struct store_email_sub	*s;
	json_error_t		 err;
	json_t			*v;
	char			*cause = NULL;

	if (PQgetisnull(res, i, col))
		return;
	if ((v = json_loads(PQgetvalue(res, i, col + 1), 0, &err)) == NULL)
		return;
	*subs = xrealloc(*subs, (*n + 1) * sizeof **subs);
	s = &(*subs)[*n];
	memset(s, 0, sizeof *s);
	if (filter_from_json(v, &s->filter, &cause) != 0) {
		log_warn("subscription %s: filter skipped: %s",
		    PQgetvalue(res, i, col), cause);
		free(cause);
		json_decref(v);
		return;
	}
	json_decref(v);
	s->id = strtoll(PQgetvalue(res, i, col), NULL, 10);
	s->minute = mail_digest_minute(PQgetvalue(res, i, col + 2));
	(*n)++;
}

/*
 * What the item is to user U: 0 nothing; else 1 and *immediate (1: now,
 * 0: in the digest). RED reaches named users only, staff included.
 */
static int
store_email_user_wants(const struct outbox_scope *s,
    const struct store_email_user *u, int *immediate)
{
	const struct outbox_element	*e;
	size_t				 i, j;
	int				 targeted = 0, red = 0, critical = 0;
	int				 matched = 0, now = 0;

	for (i = 0; i < s->n; i++) {
		e = &s->v[i];
		if (!e->valid || !tlp_may_see(&e->aud, &u->p))
			continue;
		if (e->aud.tlp == TLP_RED && !tlp_targets(&e->aud, &u->p))
			continue;
		if (tlp_targets(&e->aud, &u->p)) {
			targeted = 1;
			if (e->aud.tlp == TLP_RED)
				red = 1;
		}
		if (e->item.severity == SEV_CRITICAL)
			critical = 1;
		for (j = 0; j < u->n_subs; j++) {
			if (match_filter(&u->subs[j].filter, &e->item)) {
				matched = 1;
				if (u->subs[j].minute < 0)
					now = 1;
			}
		}
	}
	/* Targeted: by e-mail if the user takes e-mail, or named in RED. */
	if (targeted && (u->n_subs > 0 || red)) {
		*immediate = 1;
		return (1);
	}
	if (!matched)
		return (0);
	*immediate = now || critical;
	return (1);
}

/* The minute of the user's daily digest: the earliest of its times. */
static int
store_email_user_minute(const struct store_email_user *u)
{
	size_t	i;
	int	m = -1;

	for (i = 0; i < u->n_subs; i++) {
		if (u->subs[i].minute >= 0 && (m < 0 || u->subs[i].minute < m))
			m = u->subs[i].minute;
	}
	return (m < 0 ? 0 : m);
}

/* Load the candidate users (one row per e-mail subscription). */
static int
store_email_users(PGconn *db, const struct outbox_scope *s,
    struct store_email_user **out, size_t *nout)
{
	const struct outbox_element	*e;
	struct store_email_user		*v = NULL, *u = NULL;
	PGresult			*res;
	const char			*params[3];
	int64_t				*red = NULL, id;
	size_t				 nred = 0, n = 0, i, k;
	char				*red_s, *orgs;
	int				 all_red = 1, rows, r;

	*out = NULL;
	*nout = 0;
	for (i = 0; i < s->n; i++) {
		e = &s->v[i];
		if (!e->valid)
			continue;
		if (e->aud.tlp != TLP_RED) {
			all_red = 0;
			continue;
		}
		red = xrealloc(red, (nred + e->aud.n_users + 1) * sizeof *red);
		for (k = 0; k < e->aud.n_users; k++)
			red[nred++] = e->aud.users[k];
	}
	red_s = pg_int_array(red, nred);
	orgs = all_red ? NULL : store_outbox_named_only(s);
	params[0] = red_s;
	params[1] = all_red ? "t" : "f";
	params[2] = orgs;
	res = db_exec(db, "SELECT u.id, u.role, coalesce(u.organisation_id, 0), "
	    "coalesce(o.kind, 'public'), coalesce(o.active, true), "
	    "coalesce(o.sectors, '{}'), lower(u.email), s.id, s.filter, "
	    "s.digest FROM users u "
	    "LEFT JOIN organisations o ON o.id = u.organisation_id "
	    "LEFT JOIN subscriptions s ON s.user_id = u.id "
	    "AND jsonb_typeof(s.channels) = 'array' AND s.channels ? 'email' "
	    "WHERE u.active AND coalesce(o.active, true) "
	    "AND coalesce(u.email, '') <> '' "
	    "AND (s.id IS NOT NULL OR u.id = ANY ($1::bigint[])) "
	    "AND (NOT $2::boolean OR u.id = ANY ($1::bigint[])) "
	    "AND ($3::bigint[] IS NULL OR u.organisation_id IS NULL "
	    "OR u.organisation_id = ANY ($3::bigint[]) "
	    "OR u.id = ANY ($1::bigint[])) "
	    "ORDER BY u.id, s.id", 3, params);
	free(red_s);
	free(orgs);
	if (res == NULL) {
		free(red);
		return (-1);
	}
	rows = PQntuples(res);
	for (r = 0; r < rows; r++) {
		id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		if (u == NULL || u->id != id) {
			v = xrealloc(v, (n + 1) * sizeof *v);
			u = &v[n];
			memset(u, 0, sizeof *u);
			if (store_email_principal(res, r, 1, id, &u->p) != 0) {
				principal_clear(&u->p);
				u = NULL;
				continue;
			}
			u->id = id;
			u->email = xstrdup(PQgetvalue(res, r, 6));
			u->red_named = store_email_has(red, nred, id);
			n++;
		}
		store_email_add_sub(res, r, 7, &u->subs, &u->n_subs);
	}
	PQclear(res);
	free(red);
	*out = v;
	*nout = n;
	return (0);
}

/* Does the org's list of recipient addresses hold ADDR? */
struct store_email_addr {
	int64_t		 org;
	const char	*email;
};

static int
store_email_addr_cmp(const void *a, const void *b)
{
	const struct store_email_addr	*x = a, *y = b;

	if (x->org != y->org)
		return (x->org < y->org ? -1 : 1);
	return (strcmp(x->email, y->email));
}

/*
 * The contact planner: the security contact of every active organisation
 * that the item targets and that may see it (never for TLP:RED), unless a
 * user of that organisation with the same address already gets it now.
 */
static int
store_email_plan_contacts(PGconn *db, const struct outbox_scope *s,
    const struct store_email_addr *taken, size_t ntaken,
    struct outbox_plan *plan)
{
	struct outbox_recipient	 r;
	struct store_email_addr	 key;
	struct principal	 p;
	PGresult		*res;
	const char		*params[1];
	char			*orgs;
	int64_t			 id;
	int			 rows, i, any = 0;

	for (i = 0; i < (int)s->n; i++) {
		if (s->v[i].valid && s->v[i].aud.tlp != TLP_RED)
			any = 1;
	}
	if (!any)
		return (0);
	orgs = store_outbox_named_only(s);
	params[0] = orgs;
	res = db_exec(db, "SELECT id, kind, sectors, lower(contact_email) "
	    "FROM organisations WHERE active "
	    "AND coalesce(contact_email, '') <> '' "
	    "AND ($1::bigint[] IS NULL OR id = ANY ($1::bigint[])) "
	    "ORDER BY id", 1, params);
	free(orgs);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	for (i = 0; i < rows; i++) {
		id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		if (store_webhooks_org_principal(&p, id, PQgetvalue(res, i, 1),
		    1, PQgetvalue(res, i, 2)) != 0)
			continue;
		if (store_outbox_scope_wants(s, &p, 1, NULL, 0)) {
			key.org = id;
			key.email = PQgetvalue(res, i, 3);
			if (ntaken == 0 || bsearch(&key, taken, ntaken,
			    sizeof *taken, store_email_addr_cmp) == NULL) {
				memset(&r, 0, sizeof r);
				r.channel = "email";
				r.organisation_id = id;
				r.to_contact = 1;
				r.priority = kind_priority(p.org_kind);
				store_outbox_plan_add(plan, &r);
			}
		}
		principal_clear(&p);
	}
	PQclear(res);
	return (0);
}

/*
 * The e-mail planner: add the immediate recipients of scope S to PLAN and
 * the digest ones to PLAN's digest list (due at their next digest time by
 * mail_now()). It only reads, so it may run before the publishing
 * transaction; store_outbox_plan_write() stores the digest list with the
 * event. Nothing without a relay (smtp.url). 0 or -1.
 */
int
store_email_plan(PGconn *db, const struct outbox_scope *s,
    struct outbox_plan *plan)
{
	struct store_email_user	*users = NULL;
	struct store_email_addr	*taken = NULL;
	struct outbox_recipient	 r;
	struct store_email_user	*u;
	size_t			 nusers = 0, ntaken = 0, i;
	int			 immediate, rc = -1;

	if (!mail_enabled() || s->n == 0)
		return (0);
	if (store_email_users(db, s, &users, &nusers) != 0)
		return (-1);
	plan->dig_planned = mail_now();
	for (i = 0; i < nusers; i++) {
		u = &users[i];
		if (!store_email_user_wants(s, u, &immediate))
			continue;
		if (!immediate) {
			plan->dig_users = xrealloc(plan->dig_users,
			    (plan->ndig + 1) * sizeof *plan->dig_users);
			plan->dig_due = xrealloc(plan->dig_due,
			    (plan->ndig + 1) * sizeof *plan->dig_due);
			plan->dig_users[plan->ndig] = u->id;
			plan->dig_due[plan->ndig++] = mail_next_time(
			    plan->dig_planned, store_email_user_minute(u));
			continue;
		}
		memset(&r, 0, sizeof r);
		r.channel = "email";
		r.organisation_id = u->p.org_id;
		r.user_id = u->id;
		r.priority = u->p.org_id != 0 ? kind_priority(u->p.org_kind) :
		    STORE_EMAIL_STAFF_PRIORITY;
		store_outbox_plan_add(plan, &r);
		if (u->p.org_id != 0) {
			taken = xrealloc(taken, (ntaken + 1) * sizeof *taken);
			taken[ntaken].org = u->p.org_id;
			taken[ntaken++].email = u->email;
		}
	}
	if (ntaken > 1)
		qsort(taken, ntaken, sizeof *taken, store_email_addr_cmp);
	/* The addresses in TAKEN point into USERS: plan contacts first. */
	rc = store_email_plan_contacts(db, s, taken, ntaken, plan);
	for (i = 0; i < nusers; i++)
		store_email_user_clear(&users[i]);
	free(users);
	free(taken);
	return (rc);
}

/* ---- The worker's reads. ---- */

/* Free what a recipient holds. */
void
store_email_rcpt_clear(struct email_rcpt *r)
{
	size_t	i;

	principal_clear(&r->p);
	free(r->address);
	free(r->name);
	free(r->language);
	free(r->smime_cert);
	for (i = 0; i < r->n_subs; i++)
		filter_clear(&r->subs[i]);
	free(r->subs);
	free(r->sub_ids);
	free(r->sub_minutes);
	memset(r, 0, sizeof *r);
}

/* The recipient of a claimed row: by user, else by the organisation. */
const struct email_rcpt *
store_email_rcpt_find(const struct email_rcpt *v, size_t n, int64_t user,
    int64_t org)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (user != 0 ? v[i].user_id == user :
		    (v[i].user_id == 0 && v[i].org_id == org))
			return (&v[i]);
	}
	return (NULL);
}

/* Users IDS as recipients now, with their e-mail subscriptions. */
static int
store_email_rcpt_users(PGconn *db, const char *ids, struct email_rcpt **v,
    size_t *n)
{
	struct store_email_sub	*subs;
	struct email_rcpt	*r = NULL;
	PGresult		*res;
	const char		*params[1];
	int64_t			 id;
	size_t			 nsubs, k;
	int			 rows, i;

	params[0] = ids;
	res = db_exec(db, "SELECT u.id, u.role, coalesce(u.organisation_id, 0), "
	    "coalesce(o.kind, 'public'), coalesce(o.active, true), "
	    "coalesce(o.sectors, '{}'), u.email, u.name, u.language, "
	    "u.smime_cert, u.active, s.id, s.filter, s.digest FROM users u "
	    "LEFT JOIN organisations o ON o.id = u.organisation_id "
	    "LEFT JOIN subscriptions s ON s.user_id = u.id "
	    "AND jsonb_typeof(s.channels) = 'array' AND s.channels ? 'email' "
	    "WHERE u.id = ANY ($1::bigint[]) ORDER BY u.id, s.id", 1, params);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	for (i = 0; i < rows; i++) {
		id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		if (r == NULL || r->user_id != id) {
			*v = xrealloc(*v, (*n + 1) * sizeof **v);
			r = &(*v)[*n];
			memset(r, 0, sizeof *r);
			if (store_email_principal(res, i, 1, id, &r->p) != 0) {
				principal_clear(&r->p);
				r = NULL;
				continue;
			}
			(*n)++;
			r->user_id = id;
			r->org_id = r->p.org_id;
			/* A deactivated organisation's people get nothing. */
			r->active = PQgetvalue(res, i, 10)[0] == 't' &&
			    r->p.org_active;
			if (!PQgetisnull(res, i, 6) &&
			    *PQgetvalue(res, i, 6) != '\0')
				r->address = xstrdup(PQgetvalue(res, i, 6));
			r->name = xstrdup(PQgetvalue(res, i, 7));
			r->language = xstrdup(PQgetvalue(res, i, 8));
			r->p.language = xstrdup(r->language);
			if (!PQgetisnull(res, i, 9))
				r->smime_cert = xstrdup(PQgetvalue(res, i, 9));
		}
		subs = NULL;
		nsubs = 0;
		store_email_add_sub(res, i, 11, &subs, &nsubs);
		for (k = 0; k < nsubs; k++) {
			r->subs = xrealloc(r->subs, (r->n_subs + 1) *
			    sizeof *r->subs);
			r->sub_ids = xrealloc(r->sub_ids, (r->n_subs + 1) *
			    sizeof *r->sub_ids);
			r->sub_minutes = xrealloc(r->sub_minutes,
			    (r->n_subs + 1) * sizeof *r->sub_minutes);
			r->subs[r->n_subs] = subs[k].filter;
			r->sub_ids[r->n_subs] = subs[k].id;
			r->sub_minutes[r->n_subs++] = subs[k].minute;
		}
		free(subs);
	}
	PQclear(res);
	return (0);
}

/* Organisations IDS' security contacts as recipients now. */
static int
store_email_rcpt_contacts(PGconn *db, const char *ids, struct email_rcpt **v,
    size_t *n)
{
	struct email_rcpt	*r;
	PGresult		*res;
	const char		*params[1];
	int64_t			 id;
	int			 rows, i, active;

	params[0] = ids;
	res = db_exec(db, "SELECT id, kind, active, sectors, contact_email, "
	    "name FROM organisations WHERE id = ANY ($1::bigint[])", 1, params);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	for (i = 0; i < rows; i++) {
		id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		active = PQgetvalue(res, i, 2)[0] == 't';
		*v = xrealloc(*v, (*n + 1) * sizeof **v);
		r = &(*v)[*n];
		memset(r, 0, sizeof *r);
		if (store_webhooks_org_principal(&r->p, id, PQgetvalue(res, i,
		    1), active, PQgetvalue(res, i, 3)) != 0)
			continue;
		(*n)++;
		r->org_id = id;
		r->active = active;
		if (!PQgetisnull(res, i, 4) && *PQgetvalue(res, i, 4) != '\0')
			r->address = xstrdup(PQgetvalue(res, i, 4));
		r->name = xstrdup(PQgetvalue(res, i, 5));
		r->language = xstrdup("en");
	}
	PQclear(res);
	return (0);
}

/*
 * The recipients of N claimed e-mail rows as they are now (address,
 * language, certificate, organisation, e-mail subscriptions): 0 and *out
 * (*nout entries; find them with store_email_rcpt_find), or -1.
 */
int
store_email_recipients(PGconn *db, const struct outbox_claim *rows, size_t n,
    struct email_rcpt **out, size_t *nout)
{
	int64_t	*users, *orgs;
	size_t	 nu = 0, no = 0, i;
	char	*a;
	int	 rc = 0;

	*out = NULL;
	*nout = 0;
	users = xcalloc(n + 1, sizeof *users);
	orgs = xcalloc(n + 1, sizeof *orgs);
	for (i = 0; i < n; i++) {
		if (rows[i].user_id != 0 &&
		    !store_email_has(users, nu, rows[i].user_id))
			users[nu++] = rows[i].user_id;
		else if (rows[i].user_id == 0 && rows[i].to_contact &&
		    !store_email_has(orgs, no, rows[i].organisation_id))
			orgs[no++] = rows[i].organisation_id;
	}
	if (nu > 0) {
		a = pg_int_array(users, nu);
		rc = store_email_rcpt_users(db, a, out, nout);
		free(a);
	}
	if (rc == 0 && no > 0) {
		a = pg_int_array(orgs, no);
		rc = store_email_rcpt_contacts(db, a, out, nout);
		free(a);
	}
	free(users);
	free(orgs);
	if (rc != 0) {
		for (i = 0; i < *nout; i++)
			store_email_rcpt_clear(&(*out)[i]);
		free(*out);
		*out = NULL;
		*nout = 0;
	}
	return (rc);
}

/* Free digest items. */
void
store_email_items_free(struct email_item *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(v[i].type);
		free(v[i].item_id);
		free(v[i].tlp);
		free(v[i].created_at);
		json_decref(v[i].data);
		store_outbox_scope_clear(&v[i].scope);
	}
	free(v);
}

/* The events IDS (a JSON array of ids) of a digest, in order; 0 or -1. */
int
store_email_items(PGconn *db, json_t *ids, struct email_item **out,
    size_t *nout)
{
	struct email_item	*it;
	PGresult		*res;
	const char		*params[1];
	json_t			*scope;
	json_error_t		 err;
	int64_t			*v;
	size_t			 n = 0, i;
	char			*arr;
	json_t			*e;
	int			 rows, r;

	*out = NULL;
	*nout = 0;
	if (!json_is_array(ids) || json_array_size(ids) == 0)
		return (0);
	v = xcalloc(json_array_size(ids), sizeof *v);
	json_array_foreach(ids, i, e) {
		if (json_is_integer(e))
			v[n++] = json_integer_value(e);
	}
	arr = pg_int_array(v, n);
	free(v);
	params[0] = arr;
	res = db_exec(db, "SELECT event_id, type, item_id, tlp, data, scope, "
	    "to_char(created_at AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM events "
	    "WHERE event_id = ANY ($1::bigint[]) ORDER BY event_id", 1, params);
	free(arr);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	*out = xcalloc(rows + 1, sizeof **out);
	for (r = 0; r < rows; r++) {
		it = &(*out)[*nout];
		memset(it, 0, sizeof *it);
		it->data = json_loads(PQgetvalue(res, r, 4), 0, &err);
		scope = json_loads(PQgetvalue(res, r, 5), 0, &err);
		if (it->data == NULL || scope == NULL ||
		    store_outbox_scope_parse(scope, &it->scope) != 0) {
			json_decref(scope);
			json_decref(it->data);
			it->data = NULL;
			continue;
		}
		json_decref(scope);
		it->event_id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		it->type = xstrdup(PQgetvalue(res, r, 1));
		it->item_id = xstrdup(PQgetvalue(res, r, 2));
		it->tlp = xstrdup(PQgetvalue(res, r, 3));
		it->created_at = xstrdup(PQgetvalue(res, r, 6));
		(*nout)++;
	}
	PQclear(res);
	return (0);
}

/* ---- Digests. ---- */

/*
 * Make the digests that are due at NOW (mail_now()): for every user with
 * an item whose due time has come, one delivery listing all its waiting
 * items (payload {"type": "digest", "tlp": the strictest label, "data":
 * {"events": [...], "date": "YYYY-MM-DD"}}). One instance at a time;
 * another that finds the lock taken does nothing. The number made, or -1.
 */
int
store_email_digest_run(PGconn *db, double now)
{
	struct outbox_recipient	 r;
	PGresult		*res, *lk;
	const char		*params[3];
	json_t			*events, *payload;
	enum tlp		 tlp, worst;
	enum org_kind		 kind;
	char			 nowb[32], date[16], uid[24], didb[24], *ids;
	int64_t			 user, org, did, *evs = NULL;
	size_t			 nev = 0;
	struct tm		 tm;
	time_t			 t = (time_t)now;
	int			 rows, i, j, made = 0;

	snprintf(nowb, sizeof nowb, "%.3f", now);
	localtime_r(&t, &tm);
	strftime(date, sizeof date, "%Y-%m-%d", &tm);
	if (db_begin(db) != 0)
		return (-1);
	lk = db_exec(db, "SELECT pg_try_advisory_xact_lock("
	    STORE_EMAIL_DIGEST_LOCK ")", 0, NULL);
	if (lk == NULL || PQgetvalue(lk, 0, 0)[0] != 't') {
		PQclear(lk);
		db_rollback(db);
		return (lk == NULL ? -1 : 0);
	}
	PQclear(lk);
	params[0] = nowb;
	res = db_exec(db, "SELECT d.user_id, d.event_id, e.tlp, "
	    "coalesce(u.organisation_id, 0), coalesce(o.kind, 'public') "
	    "FROM email_digest d JOIN events e ON e.event_id = d.event_id "
	    "JOIN users u ON u.id = d.user_id "
	    "LEFT JOIN organisations o ON o.id = u.organisation_id "
	    "WHERE d.delivery_id IS NULL "
	    "AND d.planned_at <= to_timestamp($1::float8) "
	    "AND d.user_id IN (SELECT user_id FROM email_digest WHERE "
	    "delivery_id IS NULL AND due_at <= to_timestamp($1::float8)) "
	    "ORDER BY d.user_id, d.event_id FOR UPDATE OF d", 1, params);
	if (res == NULL)
		goto fail;
	rows = PQntuples(res);
	for (i = 0; i < rows; i = j) {
		user = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		org = strtoll(PQgetvalue(res, i, 3), NULL, 10);
		worst = TLP_CLEAR;
		events = json_array();
		nev = 0;
		for (j = i; j < rows && strtoll(PQgetvalue(res, j, 0), NULL,
		    10) == user; j++) {
			evs = xrealloc(evs, (nev + 1) * sizeof *evs);
			evs[nev] = strtoll(PQgetvalue(res, j, 1), NULL, 10);
			json_array_append_new(events, json_integer(evs[nev++]));
			if (tlp_parse(PQgetvalue(res, j, 2), &tlp) == 0 &&
			    tlp > worst)
				worst = tlp;
		}
		payload = json_pack("{s:s, s:s, s:{s:o, s:s}}", "type",
		    "digest", "tlp", tlp_name(worst), "data", "events", events,
		    "date", date);
		memset(&r, 0, sizeof r);
		r.channel = "email";
		r.user_id = user;
		r.organisation_id = org;
		r.priority = org != 0 && kind_parse(PQgetvalue(res, i, 4),
		    &kind) == 0 ? kind_priority(kind) :
		    STORE_EMAIL_STAFF_PRIORITY;
		did = 0;
		if (store_outbox_enqueue_test(db, &r, payload, &did) != 0) {
			json_decref(payload);
			PQclear(res);
			goto fail;
		}
		json_decref(payload);
		ids = pg_int_array(evs, nev);
		snprintf(uid, sizeof uid, "%" PRId64, user);
		snprintf(didb, sizeof didb, "%" PRId64, did);
		params[0] = uid;
		params[1] = ids;
		params[2] = didb;
		if (db_exec_ok(db, "UPDATE email_digest SET delivery_id = "
		    "$3::bigint WHERE user_id = $1 AND event_id = "
		    "ANY ($2::bigint[])", 3, params) != 0) {
			free(ids);
			PQclear(res);
			goto fail;
		}
		free(ids);
		made++;
	}
	PQclear(res);
	free(evs);
	if (db_commit(db) != 0)
		return (-1);
	if (made > 0)
		log_info("outbox: %d digests queued", made);
	return (made);
fail:
	free(evs);
	db_rollback(db);
	return (-1);
}

/* ---- Reports of refused addresses and unusable certificates. ---- */

/*
 * Inside the transaction that records delivery ID as failed (STATUS, the
 * relay's code; ERROR, why): queue a report (payload "bounce-report",
 * TLP:AMBER+STRICT, no item content) to the organisation's org-admins
 * other than the recipient, and to its security contact when that is not
 * the address that failed. REASON is "address" (the relay refused it) or
 * "certificate" (then the user is told too: its address works). A report
 * is never reported on. 0 or -1.
 */
int
store_email_report(PGconn *db, int64_t id, const char *reason, int status,
    const char *error)
{
	struct outbox_recipient	 r;
	PGresult		*res, *to;
	const char		*params[3];
	json_t			*payload;
	enum org_kind		 kind;
	char			 idb[24], orgb[24], userb[24];
	const char		*address, *name, *item, *label, *type;
	int64_t			 org, user, uid;
	int			 contact, i, n = 0, prio, rc = -1;

	snprintf(idb, sizeof idb, "%" PRId64, id);
	params[0] = idb;
	res = db_exec(db, "SELECT coalesce(d.organisation_id, 0), "
	    "coalesce(d.user_id, 0), d.to_contact, coalesce(e.item_id, ''), "
	    "coalesce(e.tlp, d.payload->>'tlp', ''), "
	    "coalesce(e.type, d.payload->>'type', ''), "
	    "CASE WHEN d.to_contact THEN o.contact_email ELSE u.email END, "
	    "CASE WHEN d.to_contact THEN o.name ELSE u.name END, "
	    "coalesce(o.kind, 'public'), lower(coalesce(o.contact_email, '')), "
	    "lower(coalesce(u.email, '')) "
	    "FROM deliveries d LEFT JOIN events e ON e.event_id = d.event_id "
	    "LEFT JOIN organisations o ON o.id = d.organisation_id "
	    "LEFT JOIN users u ON u.id = d.user_id WHERE d.id = $1", 1, params);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (0);
	}
	org = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	user = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	contact = PQgetvalue(res, 0, 2)[0] == 't';
	item = PQgetvalue(res, 0, 3);
	label = PQgetvalue(res, 0, 4);
	type = PQgetvalue(res, 0, 5);
	address = PQgetvalue(res, 0, 6);
	name = PQgetvalue(res, 0, 7);
	if (strcmp(type, "bounce-report") == 0) {
		PQclear(res);
		return (0);
	}
	prio = kind_parse(PQgetvalue(res, 0, 8), &kind) == 0 && org != 0 ?
	    kind_priority(kind) : STORE_EMAIL_STAFF_PRIORITY;
	payload = json_pack("{s:s, s:s, s:{s:s, s:I, s:s, s:s, s:s, s:s, "
	    "s:s, s:i, s:s, s:b}}", "type", "bounce-report", "tlp",
	    "AMBER+STRICT", "data", "reason", reason, "delivery_id",
	    (json_int_t)id, "address", address, "recipient", name, "item_id",
	    item, "item_tlp", label, "item_type", type, "status", status,
	    "error", error != NULL ? error : "", "to_contact", contact);

	/* Who is told: org-admins but the recipient, then the contact. */
	snprintf(orgb, sizeof orgb, "%" PRId64, org);
	snprintf(userb, sizeof userb, "%" PRId64, user);
	params[0] = orgb;
	params[1] = userb;
	params[2] = PQgetvalue(res, 0, 10);
	to = db_exec(db, "SELECT id FROM users WHERE organisation_id = $1 "
	    "AND role = 'org-admin' AND active AND coalesce(email, '') <> '' "
	    "AND id <> $2 AND lower(email) <> $3 ORDER BY id", 3, params);
	if (to == NULL)
		goto out;
	memset(&r, 0, sizeof r);
	r.channel = "email";
	r.organisation_id = org;
	r.priority = prio;
	for (i = 0; i < PQntuples(to); i++) {
		uid = strtoll(PQgetvalue(to, i, 0), NULL, 10);
		r.user_id = uid;
		if (store_outbox_enqueue_test(db, &r, payload, NULL) != 0) {
			PQclear(to);
			goto out;
		}
		n++;
	}
	PQclear(to);
	r.user_id = 0;
	if (org != 0 && !contact && *PQgetvalue(res, 0, 9) != '\0' &&
	    strcmp(PQgetvalue(res, 0, 9), PQgetvalue(res, 0, 10)) != 0) {
		r.to_contact = 1;
		if (store_outbox_enqueue_test(db, &r, payload, NULL) != 0)
			goto out;
		r.to_contact = 0;
		n++;
	}
	/* A certificate problem: the user's address works; tell it too. */
	if (strcmp(reason, "certificate") == 0 && user != 0) {
		r.user_id = user;
		if (store_outbox_enqueue_test(db, &r, payload, NULL) != 0)
			goto out;
		n++;
	}
	if (n == 0)
		log_warn("outbox: delivery %" PRId64 " failed (%s) and its "
		    "organisation has no other contact to report it to", id,
		    reason);
	else
		log_info("outbox: delivery %" PRId64 " failed (%s); reported "
		    "to %d contacts", id, reason, n);
	rc = 0;
out:
	json_decref(payload);
	PQclear(res);
	return (rc);
}

/* ---- One-click unsubscribe. ---- */

/*
 * Remove "email" from the N subscriptions SUBS of USER (a subscription
 * left without channels is deleted; a daily digest becomes immediate, as
 * the digest needs e-mail). The number changed, or -1.
 */
int
store_email_unsubscribe(PGconn *db, int64_t user, const int64_t *subs,
    size_t n)
{
	PGresult	*res;
	const char	*params[2];
	char		 ub[24], *arr;
	int		 changed;

	snprintf(ub, sizeof ub, "%" PRId64, user);
	arr = pg_int_array(subs, n);
	params[0] = ub;
	params[1] = arr;
	if (db_begin(db) != 0) {
		free(arr);
		return (-1);
	}
	res = db_exec(db, "WITH t AS (SELECT id, channels - 'email' AS ch "
	    "FROM subscriptions WHERE user_id = $1 AND id = ANY ($2::bigint[]) "
	    "AND jsonb_typeof(channels) = 'array' AND channels ? 'email' "
	    "FOR UPDATE), "
	    "d AS (DELETE FROM subscriptions s USING t WHERE s.id = t.id "
	    "AND jsonb_array_length(t.ch) = 0 RETURNING s.id), "
	    "u AS (UPDATE subscriptions s SET channels = t.ch, "
	    "digest = 'immediate' FROM t WHERE s.id = t.id "
	    "AND jsonb_array_length(t.ch) > 0 RETURNING s.id) "
	    "SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM u)", 2,
	    params);
	free(arr);
	if (res == NULL) {
		db_rollback(db);
		return (-1);
	}
	changed = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if ((changed > 0 && store_users_notify(db, user) != 0) ||
	    db_commit(db) != 0) {
		db_rollback(db);
		return (-1);
	}
	return (changed);
}
