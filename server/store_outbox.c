/*
 * store_outbox.c: the one delivery outbox that webhooks and e-mail share.
 *
 * Planning runs inside the publishing transaction (store_events_insert):
 * the event's scope is parsed once, each channel's planner adds the
 * recipients that should get it (store_outbox_plan_webhooks here;
 * store_email_plan in store_email.c), and all rows are written with one
 * INSERT and a NOTIFY on tocsin_outbox, so nothing is lost between commit
 * and send.
 *
 * Workers (deliver.c) claim due rows with FOR UPDATE SKIP LOCKED in the
 * charter's priority order, hold them under a lease while sending, and
 * record each attempt; a lease that runs out (a crashed worker) puts the
 * row back in the queue. The attempt counter doubles as the lease's token:
 * a worker records only the attempt it claimed.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "tocsind.h"

#define STORE_OUTBOX_TS(c) \
	"to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define STORE_OUTBOX_MSGID_BYTES 16
#define STORE_OUTBOX_RETRY_AFTER_MAX 86400	/* a peer may ask one day */

/* Seconds to wait after attempt N (1-based) failed: 5 s ... 10 h. */
static const double store_outbox_schedule[TOCSIN_OUTBOX_ATTEMPTS - 1] = {
	5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600
};

static const char *const store_outbox_channels[2] = { "webhook", "email" };
static struct outbox_metrics store_outbox_counters;

/* Index of a channel in the metrics (webhook 0, email 1). */
static int
store_outbox_channel_index(const char *channel)
{
	return (channel != NULL && strcmp(channel, "email") == 0 ? 1 : 0);
}

/* Parse an event's scope (an array of elements) into S; 0 or -1. */
int
store_outbox_scope_parse(json_t *scope, struct outbox_scope *s)
{
	struct outbox_element	*e;
	const char		*field, *message;
	json_t			*el;
	enum tlp		 tlp;
	size_t			 i;

	memset(s, 0, sizeof *s);
	if (!json_is_array(scope))
		return (-1);
	s->json = json_incref(scope);
	s->n = json_array_size(scope);
	if (s->n == 0)
		return (0);
	s->v = xcalloc(s->n, sizeof *s->v);
	json_array_foreach(scope, i, el) {
		e = &s->v[i];
		match_item_from_json(el, &e->item);
		/* An element we cannot read shows nothing to anyone. */
		if (tlp_parse(json_string_value(json_object_get(el, "tlp")),
		    &tlp) != 0)
			continue;
		if (audience_from_json(json_object_get(el, "audience"), tlp,
		    &e->aud, &field, &message) != 0)
			continue;
		e->valid = 1;
	}
	return (0);
}

/* Free a parsed scope. */
void
store_outbox_scope_clear(struct outbox_scope *s)
{
	size_t	i;

	for (i = 0; i < s->n; i++) {
		audience_clear(&s->v[i].aud);
		match_item_free_arrays(&s->v[i].item);
	}
	free(s->v);
	json_decref(s->json);
	memset(s, 0, sizeof *s);
}

/* May P see element E? RED never reaches a recipient without a person. */
static int
store_outbox_element_visible(const struct outbox_element *e,
    const struct principal *p)
{
	if (!e->valid || !tlp_may_see(&e->aud, p))
		return (0);
	if (e->aud.tlp == TLP_RED && p->user_id <= 0) {
		/* tlp_may_see() must have refused: a broken invariant. */
		log_error("outbox: TLP:RED visible to organisation %" PRId64
		    " without a user; refused", p->org_id);
		return (0);
	}
	return (1);
}

/* Is some element of the scope visible to P? */
int
store_outbox_scope_visible(const struct outbox_scope *s,
    const struct principal *p)
{
	size_t	i;

	for (i = 0; i < s->n; i++) {
		if (store_outbox_element_visible(&s->v[i], p))
			return (1);
	}
	return (0);
}

/*
 * Should P receive the item: some element visible to P that either names
 * P (when TARGETED) or matches one of the N FILTERS (TLP.md, "What is
 * pushed")?
 */
int
store_outbox_scope_wants(const struct outbox_scope *s,
    const struct principal *p, int targeted, const struct filter *filters,
    size_t n)
{
	size_t	i, j;

	for (i = 0; i < s->n; i++) {
		if (!store_outbox_element_visible(&s->v[i], p))
			continue;
		if (targeted && tlp_targets(&s->v[i].aud, p))
			return (1);
		for (j = 0; j < n; j++) {
			if (match_filter(&filters[j], &s->v[i].item))
				return (1);
		}
	}
	return (0);
}

/* Append a recipient to the plan. */
void
store_outbox_plan_add(struct outbox_plan *plan,
    const struct outbox_recipient *r)
{
	if (plan->n == plan->cap) {
		plan->cap = plan->cap == 0 ? 16 : plan->cap * 2;
		plan->v = xrealloc(plan->v, plan->cap * sizeof *plan->v);
	}
	plan->v[plan->n++] = *r;
}

/* A new message id: "msg_" and 32 hex digits of randomness. */
static void
store_outbox_msg_id(char out[4 + 2 * STORE_OUTBOX_MSGID_BYTES + 1])
{
	unsigned char	raw[STORE_OUTBOX_MSGID_BYTES];
	size_t		i;

	if (RAND_bytes(raw, sizeof raw) != 1)
		fatalx("outbox: RAND_bytes failed");
	memcpy(out, "msg_", 4);
	for (i = 0; i < sizeof raw; i++)
		snprintf(out + 4 + 2 * i, 3, "%02x", raw[i]);
}

/* A webhook's subscription filters, while planning. */
struct store_outbox_hook {
	int64_t		 id;
	int64_t		 org;
	struct filter	*filters;
	size_t		 n;
};

/* Find endpoint ID in the sorted array; NULL if absent. */
static struct store_outbox_hook *
store_outbox_hook_find(struct store_outbox_hook *v, size_t n, int64_t id)
{
	size_t	lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (v[mid].id == id)
			return (&v[mid]);
		if (v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (NULL);
}

/*
 * Load the filters of the subscriptions that deliver to a webhook into
 * the endpoints' entries (sorted by id). A subscription may only name an
 * endpoint of its own user's organisation; others are ignored.
 */
static int
store_outbox_hook_filters(PGconn *db, const char *orgs,
    struct store_outbox_hook *hooks, size_t nhooks)
{
	struct store_outbox_hook	*h;
	PGresult			*res;
	json_t				*v;
	json_error_t			 err;
	char				*cause, *end;
	const char			*ch, *params[1];
	int64_t				 id;
	int				 i, rows;

	params[0] = orgs;
	res = db_exec(db, "SELECT c.ch, u.organisation_id, s.filter, s.id "
	    "FROM subscriptions s JOIN users u ON u.id = s.user_id "
	    "CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN "
	    "jsonb_typeof(s.channels) = 'array' THEN s.channels ELSE '[]' END) "
	    "AS c(ch) WHERE u.active AND u.organisation_id IS NOT NULL "
	    "AND ($1::bigint[] IS NULL OR u.organisation_id = ANY ($1)) "
	    "AND c.ch LIKE 'webhook:%'", 1, params);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	for (i = 0; i < rows; i++) {
		ch = PQgetvalue(res, i, 0) + 8;
		id = strtoll(ch, &end, 10);
		if (*ch == '\0' || *end != '\0' ||
		    (h = store_outbox_hook_find(hooks, nhooks, id)) == NULL ||
		    h->org != strtoll(PQgetvalue(res, i, 1), NULL, 10))
			continue;
		if ((v = json_loads(PQgetvalue(res, i, 2), 0, &err)) == NULL)
			continue;
		h->filters = xrealloc(h->filters, (h->n + 1) *
		    sizeof *h->filters);
		cause = NULL;
		if (filter_from_json(v, &h->filters[h->n], &cause) == 0)
			h->n++;
		else {
			log_warn("subscription %s: filter skipped: %s",
			    PQgetvalue(res, i, 3), cause);
			free(cause);
		}
		json_decref(v);
	}
	PQclear(res);
	return (0);
}

/*
 * If only the organisations named by id can see the item (every element
 * RED, or AMBER with an audience of ids alone: a spear warning), their
 * array literal, so the planner reads their endpoints only; else NULL.
 */
char *
store_outbox_named_only(const struct outbox_scope *scope)
{
	const struct outbox_element	*e;
	int64_t				*ids = NULL;
	size_t				 n = 0, i, k;
	char				*arr;

	for (i = 0; i < scope->n; i++) {
		e = &scope->v[i];
		if (!e->valid || e->aud.tlp == TLP_RED)
			continue;
		if ((e->aud.tlp != TLP_AMBER &&
		    e->aud.tlp != TLP_AMBER_STRICT) || e->aud.n_sectors != 0) {
			free(ids);
			return (NULL);
		}
		ids = xrealloc(ids, (n + e->aud.n_orgs + 1) * sizeof *ids);
		for (k = 0; k < e->aud.n_orgs; k++)
			ids[n++] = e->aud.orgs[k];
	}
	arr = pg_int_array(ids, n);
	free(ids);
	return (arr);
}

/*
 * The webhook planner: every active endpoint of an active organisation
 * that may see the item, and is targeted by it (endpoint.targeted) or
 * has a subscription on "webhook:<id>" whose filter matches.
 */
static int
store_outbox_plan_webhooks(PGconn *db, const struct outbox_scope *scope,
    struct outbox_plan *plan)
{
	struct store_outbox_hook	*hooks = NULL;
	struct outbox_recipient		 r;
	struct principal		 p;
	PGresult			*res;
	char				*orgs;
	const char			*params[1];
	size_t				 i, j;
	int				 rows, rc = -1, any = 0;

	/* Nothing but RED (or unreadable): no webhook may have it. */
	for (i = 0; i < scope->n; i++) {
		if (scope->v[i].valid && scope->v[i].aud.tlp != TLP_RED)
			any = 1;
	}
	if (!any)
		return (0);

	orgs = store_outbox_named_only(scope);
	params[0] = orgs;
	res = db_exec(db, "SELECT w.id, w.organisation_id, w.targeted, "
	    "o.kind, o.sectors FROM webhooks w "
	    "JOIN organisations o ON o.id = w.organisation_id "
	    "WHERE w.active AND w.deleted_at IS NULL AND o.active "
	    "AND ($1::bigint[] IS NULL OR o.id = ANY ($1)) "
	    "ORDER BY w.id", 1, params);
	if (res == NULL) {
		free(orgs);
		return (-1);
	}
	rows = PQntuples(res);
	if (rows == 0) {
		free(orgs);
		PQclear(res);
		return (0);
	}
	hooks = xcalloc(rows, sizeof *hooks);
	for (i = 0; i < (size_t)rows; i++) {
		hooks[i].id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		hooks[i].org = strtoll(PQgetvalue(res, i, 1), NULL, 10);
	}
	if (store_outbox_hook_filters(db, orgs, hooks, rows) != 0)
		goto out;

	for (i = 0; i < (size_t)rows; i++) {
		if (store_webhooks_org_principal(&p, hooks[i].org,
		    PQgetvalue(res, i, 3), 1, PQgetvalue(res, i, 4)) != 0)
			continue;
		if (store_outbox_scope_wants(scope, &p,
		    PQgetvalue(res, i, 2)[0] == 't', hooks[i].filters,
		    hooks[i].n)) {
			memset(&r, 0, sizeof r);
			r.channel = "webhook";
			r.organisation_id = hooks[i].org;
			r.webhook_id = hooks[i].id;
			r.priority = kind_priority(p.org_kind);
			store_outbox_plan_add(plan, &r);
		}
		principal_clear(&p);
	}
	rc = 0;
out:
	free(orgs);
	for (i = 0; i < (size_t)rows; i++) {
		for (j = 0; j < hooks[i].n; j++)
			filter_clear(&hooks[i].filters[j]);
		free(hooks[i].filters);
	}
	free(hooks);
	PQclear(res);
	return (rc);
}

/* Append "NULL" or the integer to an array literal being built. */
static void
store_outbox_arr_int(char **buf, size_t *len, size_t *cap, int64_t v,
    int null_if_zero)
{
	char	tmp[32];
	int	n;

	if (null_if_zero && v == 0)
		n = snprintf(tmp, sizeof tmp, "NULL");
	else
		n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
	if (*len + (size_t)n + 2 >= *cap) {
		*cap = (*cap + (size_t)n + 2) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	if (*len > 1)
		(*buf)[(*len)++] = ',';
	memcpy(*buf + *len, tmp, (size_t)n);
	*len += (size_t)n;
	(*buf)[*len] = '\0';
}

/* Append a plain word (channel, message id: no quoting needed). */
static void
store_outbox_arr_word(char **buf, size_t *len, size_t *cap, const char *w)
{
	size_t	n = strlen(w);

	if (*len + n + 2 >= *cap) {
		*cap = (*cap + n + 2) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	if (*len > 1)
		(*buf)[(*len)++] = ',';
	memcpy(*buf + *len, w, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/* Write the planned rows for EVENT_ID (0: PAYLOAD) in one INSERT. */
static int
store_outbox_write(PGconn *db, int64_t event_id, json_t *payload,
    const struct outbox_plan *plan, int64_t *first_id)
{
	enum { CH, ORG, HOOK, USER, CONTACT, PRIO, MSG, NCOLS };
	char		*col[NCOLS], msg[4 + 2 * STORE_OUTBOX_MSGID_BYTES + 1];
	char		 ev[24], *pl = NULL;
	size_t		 len[NCOLS], cap[NCOLS], i, c;
	const char	*params[NCOLS + 2];
	PGresult	*res;

	for (c = 0; c < NCOLS; c++) {
		cap[c] = 64;
		col[c] = xmalloc(cap[c]);
		strcpy(col[c], "{");
		len[c] = 1;
	}
	for (i = 0; i < plan->n; i++) {
		const struct outbox_recipient *r = &plan->v[i];
		store_outbox_arr_word(&col[CH], &len[CH], &cap[CH], r->channel);
		store_outbox_arr_int(&col[ORG], &len[ORG], &cap[ORG],
		    r->organisation_id, 1);
		store_outbox_arr_int(&col[HOOK], &len[HOOK], &cap[HOOK],
		    r->webhook_id, 1);
		store_outbox_arr_int(&col[USER], &len[USER], &cap[USER],
		    r->user_id, 1);
		store_outbox_arr_word(&col[CONTACT], &len[CONTACT],
		    &cap[CONTACT], r->to_contact ? "t" : "f");
		store_outbox_arr_int(&col[PRIO], &len[PRIO], &cap[PRIO],
		    r->priority, 0);
		store_outbox_msg_id(msg);
		store_outbox_arr_word(&col[MSG], &len[MSG], &cap[MSG], msg);
	}
	for (c = 0; c < NCOLS; c++) {
		if (len[c] + 2 >= cap[c])
			col[c] = xrealloc(col[c], cap[c] = len[c] + 2);
		col[c][len[c]++] = '}';
		col[c][len[c]] = '\0';
	}
	snprintf(ev, sizeof ev, "%" PRId64, event_id);
	params[0] = event_id != 0 ? ev : NULL;
	if (payload != NULL)
		pl = json_dumps(payload, JSON_COMPACT);
	params[1] = pl;
	for (c = 0; c < NCOLS; c++)
		params[2 + c] = col[c];
	res = db_exec(db, "INSERT INTO deliveries (event_id, payload, channel, "
	    "organisation_id, webhook_id, user_id, to_contact, priority, "
	    "msg_id) SELECT $1::bigint, $2::jsonb, t.* FROM unnest($3::text[], "
	    "$4::bigint[], $5::bigint[], $6::bigint[], $7::boolean[], "
	    "$8::smallint[], $9::text[]) AS t RETURNING id", NCOLS + 2, params);
	free(pl);
	for (c = 0; c < NCOLS; c++)
		free(col[c]);
	if (res == NULL)
		return (-1);
	if (first_id != NULL && PQntuples(res) > 0)
		*first_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	params[0] = TOCSIN_NOTIFY_OUTBOX;
	return (db_exec_ok(db, "SELECT pg_notify($1, '')", 1, params));
}

/*
 * The recipients of an item with SCOPE on every channel, into PLAN (which
 * the caller clears with store_outbox_plan_clear). It only reads, so a
 * publish plans before its transaction and writes the rows in it with
 * store_outbox_plan_write. 0, or -1 (database error).
 */
int
store_outbox_plan_compute(PGconn *db, const char *item_kind, json_t *scope,
    struct outbox_plan *plan)
{
	struct outbox_scope	 s;
	int			 rc;

	memset(plan, 0, sizeof *plan);
	if (store_outbox_scope_parse(scope, &s) != 0) {
		log_warn("outbox: an item (%s) has no scope array", item_kind);
		return (0);
	}
	rc = store_outbox_plan_webhooks(db, &s, plan) != 0 ||
	    store_email_plan(db, &s, plan) != 0 ? -1 : 0;
	store_outbox_scope_clear(&s);
	return (rc);
}

/*
 * PLAN as tocsin_write_deliveries (schema/008_publish.sql) takes it, each
 * row with a new message id; NULL when there is nothing to write.
 */
json_t *
store_outbox_plan_json(const struct outbox_plan *plan)
{
	char	 msg[4 + 2 * STORE_OUTBOX_MSGID_BYTES + 1];
	json_t	*v, *rows, *users, *due;
	size_t	 i;

	if (plan->n == 0 && plan->ndig == 0)
		return (NULL);
	rows = json_array();
	for (i = 0; i < plan->n; i++) {
		const struct outbox_recipient *r = &plan->v[i];

		store_outbox_msg_id(msg);
		json_array_append_new(rows, json_pack("{s:s, s:o, s:o, s:o, "
		    "s:b, s:i, s:s}", "channel", r->channel,
		    "organisation_id", r->organisation_id != 0 ?
		    json_integer(r->organisation_id) : json_null(),
		    "webhook_id", r->webhook_id != 0 ?
		    json_integer(r->webhook_id) : json_null(),
		    "user_id", r->user_id != 0 ? json_integer(r->user_id) :
		    json_null(), "to_contact", r->to_contact,
		    "priority", r->priority, "msg_id", msg));
	}
	users = json_array();
	due = json_array();
	for (i = 0; i < plan->ndig; i++) {
		json_array_append_new(users, json_integer(plan->dig_users[i]));
		json_array_append_new(due, json_real(plan->dig_due[i]));
	}
	v = json_pack("{s:o, s:f, s:o, s:o}", "rows", rows, "digest_planned",
	    plan->dig_planned, "digest_users", users, "digest_due", due);
	return (v);
}

/*
 * Write PLAN for event EVENT_ID inside the caller's transaction: one row
 * per recipient, the digest list, a NOTIFY to the workers. The number of
 * rows, or -1 (the caller rolls back: no event without its deliveries).
 */
int
store_outbox_plan_write(PGconn *db, int64_t event_id,
    const struct outbox_plan *plan)
{
	PGresult	*res;
	json_t		*v;
	const char	*params[2];
	char		 ev[24], *s;
	int		 n;

	if ((v = store_outbox_plan_json(plan)) == NULL)
		return (0);
	snprintf(ev, sizeof ev, "%" PRId64, event_id);
	s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(v);
	params[0] = ev;
	params[1] = s;
	res = db_exec(db, "SELECT tocsin_write_deliveries($1, $2::jsonb)", 2,
	    params);
	free(s);
	if (res == NULL)
		return (-1);
	n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	log_debug("outbox: event %" PRId64 ": %d deliveries planned, %zu "
	    "users get it in their digest", event_id, n, plan->ndig);
	return (n);
}

/* Free what a plan holds. */
void
store_outbox_plan_clear(struct outbox_plan *plan)
{
	free(plan->v);
	free(plan->dig_users);
	free(plan->dig_due);
	memset(plan, 0, sizeof *plan);
}

/*
 * Plan and write the deliveries of event EVENT_ID (of ITEM_KIND, with
 * SCOPE) inside the caller's transaction. The number of rows, or -1.
 */
int
store_outbox_plan(PGconn *db, int64_t event_id, const char *item_kind,
    json_t *scope)
{
	struct outbox_plan	plan;
	int			rc = -1;

	if (store_outbox_plan_compute(db, item_kind, scope, &plan) == 0)
		rc = store_outbox_plan_write(db, event_id, &plan);
	store_outbox_plan_clear(&plan);
	return (rc);
}

/* Queue one delivery of PAYLOAD ({type, tlp, data}) to R; *id. 0 or -1. */
int
store_outbox_enqueue_test(PGconn *db, const struct outbox_recipient *r,
    json_t *payload, int64_t *id)
{
	struct outbox_plan	plan;

	plan.v = (struct outbox_recipient *)r;
	plan.n = plan.cap = 1;
	return (store_outbox_write(db, 0, payload, &plan, id));
}

/* Free a claimed row. */
void
store_outbox_claim_clear(struct outbox_claim *c)
{
	free(c->channel);
	free(c->msg_id);
	free(c->created_at);
	json_decref(c->payload);
	memset(c, 0, sizeof *c);
}

static int
store_outbox_claim_cmp(const void *a, const void *b)
{
	const struct outbox_claim	*x = a, *y = b;

	if (x->priority != y->priority)
		return (x->priority < y->priority ? -1 : 1);
	return (x->id < y->id ? -1 : x->id > y->id);
}

/*
 * Claim up to LIMIT due rows of CHANNEL, in priority order, at most
 * PER_KEY per webhook endpoint counting the NBUSY endpoints in BUSY that
 * already have requests in flight (BUSY_N each). The rows become
 * 'sending' under a lease of LEASE_S seconds, their attempt counted.
 * 0 and *OUT (sorted by priority, id), or -1.
 */
int
store_outbox_claim(PGconn *db, const char *channel, int limit, int per_key,
    const int64_t *busy, const int *busy_n, size_t nbusy, int lease_s,
    struct outbox_claim **out, size_t *nout)
{
	PGresult		*res;
	const char		*params[4];
	char			 lim[16], lease[16], *excl, *picked_s;
	int64_t			*full, *picked, key;
	int64_t			*seen_key = NULL;
	int			*seen_n = NULL;
	size_t			 nfull = 0, npicked = 0, nseen = 0, i, k;
	struct outbox_claim	*c;
	json_error_t		 err;
	int			 rows, r;

	*out = NULL;
	*nout = 0;
	if (limit <= 0)
		return (0);
	full = xcalloc(nbusy + 1, sizeof *full);
	for (i = 0; i < nbusy; i++) {
		if (busy_n[i] >= per_key)
			full[nfull++] = busy[i];
	}
	excl = pg_int_array(full, nfull);
	free(full);
	/*
	 * Look further than LIMIT: some candidates may hit their cap. (Not
	 * when no cap can bite, as for e-mail: locking four times the rows
	 * of a large batch costs.)
	 */
	if (nbusy == 0 && per_key >= limit)
		snprintf(lim, sizeof lim, "%d", limit);
	else
		snprintf(lim, sizeof lim, "%d", limit * 4 < 2000 ? limit * 4 :
		    2000);
	params[0] = channel;
	params[1] = lim;
	params[2] = excl;
	if (db_begin(db) != 0) {
		free(excl);
		return (-1);
	}
	res = db_exec(db, "SELECT id, coalesce(webhook_id, 0) FROM deliveries "
	    "WHERE state = 'pending' AND channel = $1 "
	    "AND next_attempt_at <= now() "
	    "AND coalesce(webhook_id, 0) <> ALL ($3::bigint[]) "
	    "ORDER BY priority, id LIMIT $2 FOR UPDATE SKIP LOCKED", 3, params);
	free(excl);
	if (res == NULL)
		goto fail;
	rows = PQntuples(res);
	picked = xcalloc(rows + 1, sizeof *picked);
	seen_key = xcalloc(rows + nbusy + 1, sizeof *seen_key);
	seen_n = xcalloc(rows + nbusy + 1, sizeof *seen_n);
	for (i = 0; i < nbusy; i++) {
		seen_key[nseen] = busy[i];
		seen_n[nseen++] = busy_n[i];
	}
	for (r = 0; r < rows && npicked < (size_t)limit; r++) {
		key = strtoll(PQgetvalue(res, r, 1), NULL, 10);
		if (key != 0) {
			for (k = 0; k < nseen && seen_key[k] != key; k++)
				;
			if (k == nseen) {
				seen_key[nseen] = key;
				seen_n[nseen++] = 0;
			}
			if (seen_n[k] >= per_key)
				continue;
			seen_n[k]++;
		}
		picked[npicked++] = strtoll(PQgetvalue(res, r, 0), NULL, 10);
	}
	PQclear(res);
	free(seen_key);
	free(seen_n);
	if (npicked == 0) {
		free(picked);
		db_rollback(db);
		return (0);
	}
	picked_s = pg_int_array(picked, npicked);
	free(picked);
	snprintf(lease, sizeof lease, "%d", lease_s);
	params[0] = picked_s;
	params[1] = lease;
	res = db_exec(db, "UPDATE deliveries SET state = 'sending', "
	    "attempts = attempts + 1, "
	    "lease_until = now() + make_interval(secs => $2::int), "
	    "updated_at = now() WHERE id = ANY ($1::bigint[]) "
	    "RETURNING id, channel, coalesce(event_id, 0), "
	    "coalesce(organisation_id, 0), coalesce(webhook_id, 0), "
	    "coalesce(user_id, 0), to_contact, priority, msg_id, attempts, "
	    "payload, " STORE_OUTBOX_TS("created_at"), 2, params);
	free(picked_s);
	if (res == NULL || db_commit(db) != 0) {
		PQclear(res);
		goto fail;
	}
	rows = PQntuples(res);
	*out = xcalloc(rows, sizeof **out);
	for (r = 0; r < rows; r++) {
		c = &(*out)[r];
		c->id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		c->channel = xstrdup(PQgetvalue(res, r, 1));
		c->event_id = strtoll(PQgetvalue(res, r, 2), NULL, 10);
		c->organisation_id = strtoll(PQgetvalue(res, r, 3), NULL, 10);
		c->webhook_id = strtoll(PQgetvalue(res, r, 4), NULL, 10);
		c->user_id = strtoll(PQgetvalue(res, r, 5), NULL, 10);
		c->to_contact = PQgetvalue(res, r, 6)[0] == 't';
		c->priority = atoi(PQgetvalue(res, r, 7));
		c->msg_id = xstrdup(PQgetvalue(res, r, 8));
		c->attempt = atoi(PQgetvalue(res, r, 9));
		if (!PQgetisnull(res, r, 10))
			c->payload = json_loads(PQgetvalue(res, r, 10), 0, &err);
		c->created_at = xstrdup(PQgetvalue(res, r, 11));
	}
	*nout = rows;
	PQclear(res);
	qsort(*out, *nout, sizeof **out, store_outbox_claim_cmp);
	return (0);
fail:
	db_rollback(db);
	return (-1);
}

/* Rows whose lease ran out go back to pending; how many, or -1. */
int
store_outbox_requeue_expired(PGconn *db)
{
	PGresult	*res;
	int		 n;

	res = db_exec(db, "UPDATE deliveries SET state = 'pending', "
	    "lease_until = NULL, updated_at = now(), last_error = "
	    "'the worker sending it stopped (lease expired); queued again' "
	    "WHERE state = 'sending' AND lease_until < now()", 0, NULL);
	if (res == NULL)
		return (-1);
	n = atoi(PQcmdTuples(res));
	PQclear(res);
	if (n > 0)
		log_warn("outbox: %d deliveries whose lease expired queued "
		    "again", n);
	return (n);
}

/*
 * Seconds to wait after attempt N failed (N from 1), with +-20% jitter so
 * that an outage's backlog does not return all at once. -1: give up.
 * TOCSIN_TEST_RETRY_SCALE (tests only) multiplies the schedule.
 */
double
store_outbox_retry_delay(int n)
{
	static double	 scale = -1;
	const char	*s;
	uint32_t	 rnd;
	double		 d;

	if (n < 1 || n >= TOCSIN_OUTBOX_ATTEMPTS)
		return (-1);
	if (scale < 0) {
		s = getenv("TOCSIN_TEST_RETRY_SCALE");
		scale = s != NULL ? strtod(s, NULL) : 1;
		if (!(scale > 0 && scale <= 1))
			scale = 1;
	}
	if (RAND_bytes((unsigned char *)&rnd, sizeof rnd) != 1)
		rnd = (uint32_t)time(NULL);
	d = store_outbox_schedule[n - 1] * scale;
	return (d * (0.8 + 0.4 * (rnd / 4294967295.0)));
}

/*
 * The first bytes of a response as text PostgreSQL accepts: valid UTF-8,
 * no control characters but tab and newline; others become '?'.
 */
static char *
store_outbox_clean(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 len, i, j, k, need;
	char			*out;
	int			 ok;

	if (s == NULL)
		return (NULL);
	len = strnlen(s, TOCSIN_OUTBOX_RESPONSE_BYTES);
	out = xmalloc(len + 1);
	for (i = 0, k = 0; i < len; ) {
		if (p[i] < 0x80) {
			ok = (p[i] >= 0x20 && p[i] != 0x7f) || p[i] == '\t' ||
			    p[i] == '\n';
			out[k++] = ok ? (char)p[i] : '?';
			i++;
			continue;
		}
		/* A lead byte, its continuation bytes all there (not cut). */
		if (p[i] >= 0xc2 && p[i] <= 0xdf)
			need = 1;
		else if (p[i] >= 0xe0 && p[i] <= 0xef)
			need = 2;
		else if (p[i] >= 0xf0 && p[i] <= 0xf4)
			need = 3;
		else
			need = 0;
		ok = need != 0 && i + need < len;
		for (j = 1; ok && j <= need; j++)
			ok = (p[i + j] & 0xc0) == 0x80;
		/* No overlong forms, surrogates or code points past U+10FFFF. */
		if (ok && ((p[i] == 0xe0 && p[i + 1] < 0xa0) ||
		    (p[i] == 0xed && p[i + 1] > 0x9f) ||
		    (p[i] == 0xf0 && p[i + 1] < 0x90) ||
		    (p[i] == 0xf4 && p[i + 1] > 0x8f)))
			ok = 0;
		if (!ok) {
			out[k++] = '?';
			i++;
			continue;
		}
		memcpy(out + k, p + i, need + 1);
		k += need + 1;
		i += need + 1;
	}
	out[k] = '\0';
	return (out);
}

/* Add to a counter from any thread. */
static void
store_outbox_count(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* Record one attempt's outcome (inside the caller's transaction). */
static int
store_outbox_record_one(PGconn *db, const struct outbox_result *r)
{
	const char	*params[7], *state;
	char		 id[24], att[16], status[16], delay[32], started[32];
	char		 dur[16], hook[24], *resp, *err;
	double		 d = 0, created = 0;
	int		 rc, ci = store_outbox_channel_index(r->channel);
	PGresult	*res;
	enum metrics_result mr;

	if (r->outcome == OUTBOX_CANCELLED) {
		metrics_delivery(metrics_channel_of(r->channel),
		    METRICS_CANCELLED);
		/* Nothing was sent: the claim's attempt is undone. */
		snprintf(id, sizeof id, "%" PRId64, r->delivery_id);
		snprintf(att, sizeof att, "%d", r->attempt);
		params[0] = id;
		params[1] = att;
		params[2] = r->error != NULL ? r->error : "cancelled";
		return (db_exec_ok(db, "UPDATE deliveries SET state = "
		    "'cancelled', attempts = attempts - 1, last_error = $3, "
		    "lease_until = NULL, updated_at = now() WHERE id = $1 "
		    "AND attempts = $2 AND state = 'sending'", 3, params));
	}
	switch (r->outcome) {
	case OUTBOX_DELIVERED:
		state = "delivered";
		break;
	case OUTBOX_RETRY:
		d = store_outbox_retry_delay(r->attempt);
		if (d < 0) {
			state = "failed";
			break;
		}
		/* Retry-After asks for later: honoured, within a day. */
		if (r->retry_after_s > 0 && (double)r->retry_after_s > d)
			d = r->retry_after_s > STORE_OUTBOX_RETRY_AFTER_MAX ?
			    STORE_OUTBOX_RETRY_AFTER_MAX :
			    (double)r->retry_after_s;
		state = "pending";
		break;
	default:
		state = "failed";
		break;
	}
	snprintf(id, sizeof id, "%" PRId64, r->delivery_id);
	snprintf(att, sizeof att, "%d", r->attempt);
	snprintf(status, sizeof status, "%d", r->status);
	snprintf(delay, sizeof delay, "%.3f", d);
	snprintf(started, sizeof started, "%" PRId64, r->started_at);
	snprintf(dur, sizeof dur, "%d", r->duration_ms);
	resp = store_outbox_clean(r->response);
	err = store_outbox_clean(r->error);
	params[0] = id;
	params[1] = att;
	params[2] = state;
	params[3] = r->status != 0 ? status : NULL;
	params[4] = err;
	params[5] = resp;
	params[6] = delay;
	/* A pending retry of a disabled endpoint is cancelled instead. */
	res = db_exec(db, "UPDATE deliveries d SET "
	    "state = CASE WHEN $3::text = 'pending' AND NOT coalesce((SELECT "
	    "w.active FROM webhooks w WHERE w.id = d.webhook_id), true) "
	    "THEN 'cancelled' ELSE $3::text END, "
	    "next_attempt_at = CASE WHEN $3::text = 'pending' THEN now() + "
	    "make_interval(secs => $7::float8) ELSE d.next_attempt_at END, "
	    "delivered_at = CASE WHEN $3::text = 'delivered' THEN now() END, "
	    "last_status = $4::int, last_error = $5::text, "
	    "last_response = $6::text, "
	    "lease_until = NULL, updated_at = now() "
	    "WHERE d.id = $1 AND d.attempts = $2 AND d.state = 'sending' "
	    "RETURNING extract(epoch FROM d.created_at)", 7, params);
	rc = res != NULL ? 0 : -1;
	if (res != NULL && PQntuples(res) == 1)	/* metrics.c latency */
		created = strtod(PQgetvalue(res, 0, 0), NULL);
	PQclear(res);
	if (rc == 0) {
		params[2] = started;
		params[6] = dur;
		rc = db_exec_ok(db, "INSERT INTO delivery_attempts (delivery_id, "
		    "attempt, started_at, duration_ms, status, error, response) "
		    "VALUES ($1, $2, to_timestamp($3::float8 / 1e6), $7::int, "
		    "$4::int, $5::text, $6::text) ON CONFLICT DO NOTHING", 7,
		    params);
	}
	/* E-mail refused for good: its organisation hears of it. */
	if (rc == 0 && r->report != NULL && strcmp(state, "failed") == 0)
		rc = store_email_report(db, r->delivery_id, r->report,
		    r->status, err);
	free(resp);
	free(err);
	if (rc != 0)
		return (-1);
	if (r->outcome == OUTBOX_GONE && r->webhook_id != 0) {
		/* 410 Gone: the endpoint is switched off, its queue with it. */
		snprintf(hook, sizeof hook, "%" PRId64, r->webhook_id);
		params[0] = hook;
		if (db_exec_ok(db, "UPDATE webhooks SET active = false, "
		    "disabled_reason = 'the endpoint answered 410 Gone', "
		    "updated_at = now() WHERE id = $1 AND active", 1,
		    params) != 0 ||
		    db_exec_ok(db, "UPDATE deliveries SET state = 'cancelled', "
		    "last_error = 'endpoint disabled (410 Gone)', "
		    "updated_at = now() WHERE webhook_id = $1 AND "
		    "state = 'pending'", 1, params) != 0)
			return (-1);
		log_warn("webhook %" PRId64 ": 410 Gone, endpoint disabled",
		    r->webhook_id);
		store_outbox_count(&store_outbox_counters.disabled, 1);
	}
	store_outbox_count(&store_outbox_counters.attempts[ci], 1);
	if (r->outcome == OUTBOX_DELIVERED)
		store_outbox_count(&store_outbox_counters.delivered[ci], 1);
	else {
		store_outbox_count(&store_outbox_counters.failures[ci], 1);
		if (strcmp(state, "failed") == 0)
			store_outbox_count(&store_outbox_counters.failed[ci],
			    1);
	}
	/* metrics.c: the outcome; once delivered, since the event's creation
	 * (the row was made in the publishing transaction: same now()). */
	mr = r->outcome == OUTBOX_DELIVERED ? METRICS_DELIVERED :
	    r->outcome == OUTBOX_GONE ? METRICS_GONE :
	    strcmp(state, "pending") == 0 ? METRICS_RETRY : METRICS_FAILED;
	metrics_delivery(metrics_channel_of(r->channel), mr);
	if (mr == METRICS_DELIVERED && created > 0)
		metrics_latency(metrics_channel_of(r->channel),
		    (double)r->started_at / 1e6 + r->duration_ms / 1e3 -
		    created);
	return (0);
}

/*
 * Record the N delivered attempts R[IDX[i]] with two statements whatever
 * N (a batch of e-mail may finish hundreds at once): as
 * store_outbox_record_one does for one, counters and metrics included.
 */
static int
store_outbox_record_delivered(PGconn *db, const struct outbox_result *r,
    const size_t *idx, size_t n)
{
	const struct outbox_result	*x;
	PGresult			*res;
	const char			*params[1];
	json_t				*rows;
	char				*doc, *resp;
	int64_t				 id;
	size_t				 i, k;
	int				 ci, nres;

	rows = json_array();
	for (i = 0; i < n; i++) {
		x = &r[idx[i]];
		resp = store_outbox_clean(x->response);
		json_array_append_new(rows, json_pack("{s:I, s:i, s:i, s:s?, "
		    "s:I, s:i}", "id", (json_int_t)x->delivery_id, "att",
		    x->attempt, "status", x->status, "resp", resp, "started",
		    (json_int_t)x->started_at, "dur", x->duration_ms));
		free(resp);
	}
	doc = json_dumps(rows, JSON_COMPACT);
	json_decref(rows);
	params[0] = doc;
	res = db_exec(db, "WITH t AS (SELECT * FROM jsonb_to_recordset("
	    "$1::jsonb) AS t(id bigint, att int, status int, resp text, "
	    "started float8, dur int)), "
	    "u AS (UPDATE deliveries d SET state = 'delivered', "
	    "delivered_at = now(), last_status = nullif(t.status, 0), "
	    "last_error = NULL, last_response = t.resp, lease_until = NULL, "
	    "updated_at = now() FROM t WHERE d.id = t.id "
	    "AND d.attempts = t.att AND d.state = 'sending' "
	    "RETURNING d.id, extract(epoch FROM d.created_at)), "
	    "i AS (INSERT INTO delivery_attempts (delivery_id, attempt, "
	    "started_at, duration_ms, status, response) SELECT t.id, t.att, "
	    "to_timestamp(t.started / 1e6), t.dur, nullif(t.status, 0), "
	    "t.resp FROM t ON CONFLICT DO NOTHING) "
	    "SELECT * FROM u", 1, params);
	free(doc);
	if (res == NULL)
		return (-1);
	nres = PQntuples(res);
	for (i = 0; i < n; i++) {
		x = &r[idx[i]];
		ci = store_outbox_channel_index(x->channel);
		store_outbox_count(&store_outbox_counters.attempts[ci], 1);
		store_outbox_count(&store_outbox_counters.delivered[ci], 1);
		metrics_delivery(metrics_channel_of(x->channel),
		    METRICS_DELIVERED);
		for (k = 0; k < (size_t)nres; k++) {
			id = strtoll(PQgetvalue(res, (int)k, 0), NULL, 10);
			if (id != x->delivery_id)
				continue;
			metrics_latency(metrics_channel_of(x->channel),
			    (double)x->started_at / 1e6 + x->duration_ms /
			    1e3 - strtod(PQgetvalue(res, (int)k, 1), NULL));
			break;
		}
	}
	PQclear(res);
	return (0);
}

/*
 * Record N attempts in one transaction: the attempt row, the delivery's
 * state (delivered; pending again after the schedule's delay, later if
 * Retry-After asks; failed after the last; 410 disables the endpoint).
 * A row whose lease was lost meanwhile is left alone. Delivered ones go
 * in one batch; the others one by one. 0 or -1.
 */
int
store_outbox_record(PGconn *db, const struct outbox_result *r, size_t n)
{
	size_t	*idx, nd = 0, i;

	if (n == 0)
		return (0);
	if (db_begin(db) != 0)
		return (-1);
	idx = xcalloc(n, sizeof *idx);
	for (i = 0; i < n; i++) {
		if (r[i].outcome == OUTBOX_DELIVERED) {
			idx[nd++] = i;
			continue;
		}
		if (store_outbox_record_one(db, &r[i]) != 0)
			goto fail;
	}
	if (nd > 0 && store_outbox_record_delivered(db, r, idx, nd) != 0)
		goto fail;
	free(idx);
	return (db_commit(db));
fail:
	free(idx);
	db_rollback(db);
	return (-1);
}

/* Hand back N claimed rows untried: pending now, attempt undone. */
int
store_outbox_release(PGconn *db, const int64_t *ids, const int *attempts,
    size_t n)
{
	const char	*params[2];
	char		 id[24], att[16];
	size_t		 i;
	int		 rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		snprintf(id, sizeof id, "%" PRId64, ids[i]);
		snprintf(att, sizeof att, "%d", attempts[i]);
		params[0] = id;
		params[1] = att;
		rc = db_exec_ok(db, "UPDATE deliveries SET state = 'pending', "
		    "attempts = attempts - 1, lease_until = NULL, "
		    "next_attempt_at = now(), updated_at = now() "
		    "WHERE id = $1 AND attempts = $2 AND state = 'sending'", 2,
		    params);
	}
	return (rc);
}

/* A copy of the counters since start. */
void
store_outbox_metrics_get(struct outbox_metrics *m)
{
	int	i;

	for (i = 0; i < 2; i++) {
		m->attempts[i] = __atomic_load_n(
		    &store_outbox_counters.attempts[i], __ATOMIC_RELAXED);
		m->failures[i] = __atomic_load_n(
		    &store_outbox_counters.failures[i], __ATOMIC_RELAXED);
		m->failed[i] = __atomic_load_n(
		    &store_outbox_counters.failed[i], __ATOMIC_RELAXED);
		m->delivered[i] = __atomic_load_n(
		    &store_outbox_counters.delivered[i], __ATOMIC_RELAXED);
	}
	m->disabled = __atomic_load_n(&store_outbox_counters.disabled,
	    __ATOMIC_RELAXED);
}

/* Append a formatted line to a growing buffer. */
static void
store_outbox_appendf(char **buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
store_outbox_appendf(char **buf, const char *fmt, ...)
{
	va_list	 ap;
	char	*line, *joined;

	va_start(ap, fmt);
	xvasprintf(&line, fmt, ap);
	va_end(ap);
	xasprintf(&joined, "%s%s", *buf != NULL ? *buf : "", line);
	free(line);
	free(*buf);
	*buf = joined;
}

/* A counter family NAME with one sample per channel, V[channel]. */
static void
store_outbox_counter_family(char **buf, const char *name, const char *help,
    const uint64_t v[2])
{
	int	c;

	store_outbox_appendf(buf, "# HELP %s %s\n# TYPE %s counter\n", name,
	    help, name);
	for (c = 0; c < 2; c++)
		store_outbox_appendf(buf, "%s{channel=\"%s\"} %" PRIu64 "\n",
		    name, store_outbox_channels[c], v[c]);
}

/*
 * The outbox's metrics in Prometheus text format (for GET /metrics): the
 * queue's depth per channel and state and its oldest due row (from the
 * database, so every instance reports the same queue), and this
 * instance's attempt, failure and outcome counters. 0 and *out, or -1.
 */
int
store_outbox_metrics_text(PGconn *db, char **out)
{
	struct outbox_metrics	 m;
	PGresult		*res;
	char			*buf = NULL;
	int			 i;

	*out = NULL;
	res = db_exec(db, "SELECT c.channel, s.state, coalesce(("
	    "SELECT count(*) FROM deliveries d WHERE d.channel = c.channel "
	    "AND d.state = s.state), 0), coalesce((SELECT extract(epoch FROM "
	    "now() - min(d.next_attempt_at)) FROM deliveries d WHERE "
	    "d.channel = c.channel AND d.state = 'pending' AND "
	    "d.next_attempt_at <= now()), 0) "
	    "FROM (VALUES ('webhook'), ('email')) AS c(channel), "
	    "(VALUES ('pending'), ('sending'), ('failed')) AS s(state) "
	    "ORDER BY 1, 2", 0, NULL);
	if (res == NULL)
		return (-1);
	store_outbox_appendf(&buf, "# HELP tocsin_outbox_depth Deliveries in "
	    "the outbox by channel and state.\n"
	    "# TYPE tocsin_outbox_depth gauge\n");
	for (i = 0; i < PQntuples(res); i++)
		store_outbox_appendf(&buf, "tocsin_outbox_depth{channel=\"%s\","
		    "state=\"%s\"} %s\n", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
	store_outbox_appendf(&buf, "# HELP tocsin_outbox_oldest_due_seconds "
	    "Age of the oldest due pending delivery.\n"
	    "# TYPE tocsin_outbox_oldest_due_seconds gauge\n");
	for (i = 0; i < PQntuples(res); i++) {
		if (strcmp(PQgetvalue(res, i, 1), "pending") == 0)
			store_outbox_appendf(&buf,
			    "tocsin_outbox_oldest_due_seconds{channel=\"%s\"} "
			    "%.0f\n", PQgetvalue(res, i, 0),
			    strtod(PQgetvalue(res, i, 3), NULL));
	}
	PQclear(res);

	store_outbox_metrics_get(&m);
	store_outbox_counter_family(&buf, "tocsin_outbox_attempts_total",
	    "Delivery attempts made by this instance.", m.attempts);
	store_outbox_counter_family(&buf, "tocsin_outbox_attempt_failures_total",
	    "Attempts that did not deliver.", m.failures);
	store_outbox_counter_family(&buf, "tocsin_outbox_delivered_total",
	    "Deliveries completed by this instance.", m.delivered);
	store_outbox_counter_family(&buf, "tocsin_outbox_failed_total",
	    "Deliveries given up after the last retry.", m.failed);
	store_outbox_appendf(&buf, "# HELP tocsin_webhooks_disabled_total "
	    "Endpoints disabled after answering 410 Gone.\n"
	    "# TYPE tocsin_webhooks_disabled_total counter\n"
	    "tocsin_webhooks_disabled_total %" PRIu64 "\n", m.disabled);
	*out = buf;
	return (0);
}

/* Row I of a delivery listing as JSON (columns of store_outbox_list). */
static json_t *
store_outbox_row_json(PGresult *res, int i, int with_response)
{
	static const char *const names[] = { "id", "channel", "event_id",
	    "type", "item_id", "revision", "tlp", "organisation_id",
	    "organisation", "webhook_id", "user_id", "to_contact", "msg_id",
	    "state", "attempts", "created_at", "updated_at",
	    "next_attempt_at", "delivered_at", "last_status", "last_error",
	    "last_response" };
	enum { INT, STR, BOOL };
	static const int types[] = { INT, STR, INT, STR, STR, INT, STR, INT,
	    STR, INT, INT, BOOL, STR, STR, INT, STR, STR, STR, STR, INT, STR,
	    STR };
	json_t		*v = json_object();
	const char	*s;
	size_t		 c, n = sizeof names / sizeof names[0];

	for (c = 0; c < n; c++) {
		if (c == n - 1 && !with_response)
			break;
		if (PQgetisnull(res, i, (int)c)) {
			json_object_set_new(v, names[c], json_null());
			continue;
		}
		s = PQgetvalue(res, i, (int)c);
		switch (types[c]) {
		case INT:
			json_object_set_new(v, names[c],
			    json_integer(strtoll(s, NULL, 10)));
			break;
		case BOOL:
			json_object_set_new(v, names[c], json_boolean(*s == 't'));
			break;
		default:
			json_object_set_new(v, names[c], json_string(s));
			break;
		}
	}
	return (v);
}

/*
 * A page of deliveries, newest first: those of endpoint Q->webhook_id, or
 * those of the events of item Q->item_id (an advisory's report). 0 and
 * *items (and *next, 0 on the last page), TOCSIN_STORE_NOT_FOUND for an
 * unknown item, or -1.
 */
int
store_outbox_list(PGconn *db, const struct outbox_query *q, json_t **items,
    int64_t *next)
{
	PGresult	*res;
	const char	*params[6];
	char		 hook[24], cursor[24], limit[16];
	int		 i, rows;

	*items = NULL;
	*next = 0;
	if (q->item_id != NULL) {
		params[0] = q->item_id;
		res = db_exec(db, "SELECT 1 FROM advisories WHERE id = $1", 1,
		    params);
		if (res == NULL)
			return (-1);
		rows = PQntuples(res);
		PQclear(res);
		if (rows == 0)
			return (TOCSIN_STORE_NOT_FOUND);
	}
	snprintf(hook, sizeof hook, "%" PRId64, q->webhook_id);
	snprintf(cursor, sizeof cursor, "%" PRId64, q->cursor);
	snprintf(limit, sizeof limit, "%d", q->limit + 1);
	params[0] = hook;
	params[1] = q->item_kind;
	params[2] = q->item_id;
	params[3] = q->state;
	params[4] = cursor;
	params[5] = limit;
	res = db_exec(db, "SELECT d.id, d.channel, d.event_id, "
	    "coalesce(e.type, d.payload->>'type'), e.item_id, e.revision, "
	    "coalesce(e.tlp, d.payload->>'tlp'), d.organisation_id, o.name, "
	    "d.webhook_id, d.user_id, d.to_contact, d.msg_id, d.state, "
	    "d.attempts, " STORE_OUTBOX_TS("d.created_at") ", "
	    STORE_OUTBOX_TS("d.updated_at") ", CASE WHEN d.state = 'pending' "
	    "THEN " STORE_OUTBOX_TS("d.next_attempt_at") " END, "
	    STORE_OUTBOX_TS("d.delivered_at") ", d.last_status, "
	    "d.last_error, d.last_response "
	    "FROM deliveries d LEFT JOIN events e ON e.event_id = d.event_id "
	    "LEFT JOIN organisations o ON o.id = d.organisation_id "
	    "WHERE ($1::bigint = 0 OR d.webhook_id = $1) "
	    "AND ($3::text IS NULL OR (e.item_kind = $2 AND e.item_id = $3)) "
	    "AND ($4::text IS NULL OR d.state = $4) "
	    "AND ($5::bigint = 0 OR d.id < $5) "
	    "ORDER BY d.id DESC LIMIT $6", 6, params);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	*items = json_array();
	for (i = 0; i < rows && i < q->limit; i++)
		json_array_append_new(*items, store_outbox_row_json(res, i,
		    q->with_response));
	if (rows > q->limit)
		*next = strtoll(PQgetvalue(res, q->limit - 1, 0), NULL, 10);
	PQclear(res);
	return (0);
}

/*
 * Manual retry of delivery ID of endpoint WEBHOOK_ID: a failed or
 * cancelled row is due again now. 0, TOCSIN_STORE_NOT_FOUND,
 * TOCSIN_STORE_CONFLICT (pending, sending or delivered), or -1.
 */
int
store_outbox_retry(PGconn *db, int64_t id, int64_t webhook_id)
{
	PGresult	*res;
	const char	*params[2];
	char		 idb[24], hook[24];
	int		 rows;

	snprintf(idb, sizeof idb, "%" PRId64, id);
	snprintf(hook, sizeof hook, "%" PRId64, webhook_id);
	params[0] = idb;
	params[1] = hook;
	res = db_exec(db, "UPDATE deliveries SET state = 'pending', "
	    "next_attempt_at = now(), updated_at = now() "
	    "WHERE id = $1 AND webhook_id = $2 "
	    "AND state IN ('failed', 'cancelled')", 2, params);
	if (res == NULL)
		return (-1);
	rows = atoi(PQcmdTuples(res));
	PQclear(res);
	if (rows == 1) {
		params[0] = TOCSIN_NOTIFY_OUTBOX;
		return (db_exec_ok(db, "SELECT pg_notify($1, '')", 1, params));
	}
	res = db_exec(db, "SELECT 1 FROM deliveries WHERE id = $1 "
	    "AND webhook_id = $2", 2, params);
	if (res == NULL)
		return (-1);
	rows = PQntuples(res);
	PQclear(res);
	return (rows == 0 ? TOCSIN_STORE_NOT_FOUND : TOCSIN_STORE_CONFLICT);
}
