/*
 * deliver_mail.c: the e-mail side of the outbox worker. deliver.c claims
 * e-mail rows as it claims webhook rows and hands them here; this file
 * looks at each recipient as it is now (store_email.c), asks the TLP rule
 * again, picks the template (the event's type; "red-notice" for TLP:RED
 * without a certificate; "digest"; "bounce-report"), fills its values
 * from the event, and has mail.c compose the message, signed and, when
 * the recipient has a certificate, encrypted. The body of an item holds
 * nothing about its recipient, so it is rendered and signed once per
 * language and template in a batch; each message adds its headers.
 * deliver.c then sends what comes back and records the outcome.
 *
 * Nothing is skipped silently: a recipient gone or no longer entitled is
 * "cancelled" with the reason; an unusable certificate "failed" with the
 * reason and reported; TLP:RED never leaves in clear.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define DELIVER_MAIL_OBSERVATIONS 50	/* listed in a warning's mail */

/* The FIRST colours of TLP.md, for the HTML banner. */
static const char *
deliver_mail_colour(const char *tlp)
{
	if (strcmp(tlp, "RED") == 0)
		return ("#FF2B2B");
	if (strncmp(tlp, "AMBER", 5) == 0)
		return ("#FFC000");
	if (strcmp(tlp, "GREEN") == 0)
		return ("#33FF00");
	return ("#FFFFFF");
}

/*
 * The values every template has: language, label, links. Nothing about
 * the recipient: the body of an item is shared by all its recipients.
 */
static json_t *
deliver_mail_base(const struct config *cfg, const char *lang,
    const char *tlp)
{
	json_t	*ctx;
	char	*line;

	xasprintf(&line, "TLP:%s", tlp);
	ctx = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:b}}", "lang", lang,
	    "label", tlp, "label_line", line, "tlp_colour",
	    deliver_mail_colour(tlp), "portal_url", cfg->public_url, "lang_is",
	    lang, 1);
	free(line);
	return (ctx);
}

/* "sev": {"<severity>": true}, so templates can word each level. */
static void
deliver_mail_severity(json_t *ctx, json_t *src)
{
	const char	*sev = json_string_value(json_object_get(src,
			    "severity"));

	if (sev == NULL)
		return;
	json_object_set_new(ctx, "severity", json_string(sev));
	json_object_set_new(ctx, "sev", json_pack("{s:b}", sev, 1));
}

/* Copy the member NAME of SRC into CTX when it is there. */
static void
deliver_mail_copy(json_t *ctx, json_t *src, const char *name)
{
	json_t	*v = json_object_get(src, name);

	if (v != NULL && !json_is_null(v))
		json_object_set(ctx, name, v);
}

/*
 * The values of an advisory's or a warning's mail: title, severity and
 * CVSS, CVEs, affected products, what to do (summary and body: Markdown
 * as text, cmark's HTML for the HTML part), references, the link.
 */
static void
deliver_mail_item(const struct config *cfg, json_t *ctx,
    const struct deliver_item *it)
{
	static const char *const copy[] = { "id", "revision", "title",
	    "summary", "cvss", "cves", "products", "references", "sectors",
	    "published_at", "updated_at", "status", "description", "category",
	    "observation_count", "part", "parts", NULL };
	json_t		*d = it->data, *obs, *list, *o;
	const char	*id, *body;
	char		*url, *html, *s;
	size_t		 i;

	for (i = 0; copy[i] != NULL; i++)
		deliver_mail_copy(ctx, d, copy[i]);
	deliver_mail_severity(ctx, d);
	json_object_set_new(ctx, "type", json_string(it->type));
	json_object_set_new(ctx, "is_update", json_boolean(strcmp(it->type,
	    "advisory.updated") == 0));
	id = json_string_value(json_object_get(d, "id"));
	if (id != NULL) {
		xasprintf(&url, "%s/%s/%s", cfg->public_url,
		    strncmp(it->type, "warning.", 8) == 0 ? "warnings" :
		    "advisories", id);
		json_object_set_new(ctx, "url", json_string(url));
		free(url);
	}
	if ((body = json_string_value(json_object_get(d, "body"))) != NULL &&
	    *body != '\0') {
		json_object_set_new(ctx, "body", json_string(body));
		html = render_markdown(body, strlen(body));
		json_object_set_new(ctx, "body_html", json_string(html));
		free(html);
	}
	/* A warning's observations: the first ones, one line each. */
	if (json_is_array(obs = json_object_get(d, "observations"))) {
		list = json_array();
		json_array_foreach(obs, i, o) {
			if (i == DELIVER_MAIL_OBSERVATIONS)
				break;
			s = json_dumps(o, JSON_COMPACT);
			if (s != NULL)
				json_array_append_new(list, json_string(s));
			free(s);
		}
		json_object_set_new(ctx, "observations", list);
		if (json_array_size(obs) > DELIVER_MAIL_OBSERVATIONS)
			json_object_set_new(ctx, "observations_more",
			    json_integer((json_int_t)json_array_size(obs) -
			    DELIVER_MAIL_OBSERVATIONS));
	}
}

/*
 * May the recipient see some element of SCOPE, by e-mail? TLP:RED only
 * for a user it names (staff included); never for a contact.
 */
static int
deliver_mail_visible(const struct outbox_scope *s, const struct email_rcpt *r)
{
	const struct outbox_element	*e;
	size_t				 i;

	if (r->user_id == 0)
		return (store_outbox_scope_visible(s, &r->p));
	for (i = 0; i < s->n; i++) {
		e = &s->v[i];
		if (!e->valid || !tlp_may_see(&e->aud, &r->p))
			continue;
		if (e->aud.tlp == TLP_RED && !tlp_targets(&e->aud, &r->p))
			continue;
		return (1);
	}
	return (0);
}

/*
 * Does user R still want the item by e-mail, and because of which
 * subscriptions (for the unsubscribe link)? 1 and *subs (caller frees),
 * or 0. As the planner: targeted (with e-mail, or named in TLP:RED), or
 * an e-mail subscription matches.
 */
static int
deliver_mail_wanted(const struct outbox_scope *s, const struct email_rcpt *r,
    int64_t **subs, size_t *nsubs)
{
	const struct outbox_element	*e;
	size_t				 i, j, k;
	int				 targeted = 0, red = 0;

	*subs = xcalloc(r->n_subs + 1, sizeof **subs);
	*nsubs = 0;
	for (i = 0; i < s->n; i++) {
		e = &s->v[i];
		if (!e->valid || !tlp_may_see(&e->aud, &r->p))
			continue;
		if (e->aud.tlp == TLP_RED && !tlp_targets(&e->aud, &r->p))
			continue;
		if (tlp_targets(&e->aud, &r->p)) {
			targeted = 1;
			red |= e->aud.tlp == TLP_RED;
		}
		for (j = 0; j < r->n_subs; j++) {
			if (!match_filter(&r->subs[j], &e->item))
				continue;
			for (k = 0; k < *nsubs && (*subs)[k] != r->sub_ids[j];
			    k++)
				;
			if (k == *nsubs)
				(*subs)[(*nsubs)++] = r->sub_ids[j];
		}
	}
	if (*nsubs == 0 && targeted && r->n_subs > 0) {
		/* Targeted: the mail comes from taking e-mail at all. */
		for (j = 0; j < r->n_subs; j++)
			(*subs)[(*nsubs)++] = r->sub_ids[j];
	}
	if (*nsubs > 0 || (targeted && red))
		return (1);
	free(*subs);
	*subs = NULL;
	return (0);
}

/* The one-click link for SUBS of USER, or NULL (none, or no key). */
static char *
deliver_mail_unsub_url(const struct config *cfg, int64_t user,
    const int64_t *subs, size_t n)
{
	char	*token, *url;

	if (n == 0 || (token = mail_unsub_token(user, subs, n)) == NULL)
		return (NULL);
	xasprintf(&url, "%s/unsubscribe?t=%s", cfg->public_url, token);
	free(token);
	return (url);
}

/* A digest's values: each item with its label, severity, CVEs, link. */
static int
deliver_mail_digest(PGconn *db, const struct config *cfg,
    const struct email_rcpt *r, json_t *payload, json_t *ctx)
{
	struct email_item	*items;
	json_t			*list, *e, *d = json_object_get(payload, "data");
	const char		*id;
	char			*url;
	size_t			 n, i;

	if (store_email_items(db, json_object_get(d, "events"), &items,
	    &n) != 0)
		return (-1);
	list = json_array();
	for (i = 0; i < n; i++) {
		if (!deliver_mail_visible(&items[i].scope, r))
			continue;
		e = json_object();
		json_object_set_new(e, "label", json_string(items[i].tlp));
		json_object_set_new(e, "type", json_string(items[i].type));
		json_object_set_new(e, "revoked", json_boolean(strcmp(
		    items[i].type, "advisory.revoked") == 0));
		json_object_set_new(e, "is_update", json_boolean(strcmp(
		    items[i].type, "advisory.updated") == 0));
		deliver_mail_copy(e, items[i].data, "id");
		deliver_mail_copy(e, items[i].data, "title");
		deliver_mail_copy(e, items[i].data, "cves");
		deliver_mail_copy(e, items[i].data, "revision");
		deliver_mail_severity(e, items[i].data);
		id = items[i].item_id;
		xasprintf(&url, "%s/%s/%s", cfg->public_url,
		    strncmp(items[i].type, "warning.", 8) == 0 ? "warnings" :
		    "advisories", id);
		json_object_set_new(e, "url", json_string(url));
		free(url);
		json_array_append_new(list, e);
	}
	store_email_items_free(items, n);
	json_object_set_new(ctx, "count", json_integer(
	    (json_int_t)json_array_size(list)));
	json_object_set_new(ctx, "items", list);
	deliver_mail_copy(ctx, d, "date");
	return (0);
}

/* Finish row RES without sending. */
static void
deliver_mail_result(struct deliver_mail_result *res,
    enum outbox_outcome outcome, const char *report, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
deliver_mail_result(struct deliver_mail_result *res,
    enum outbox_outcome outcome, const char *report, const char *fmt, ...)
{
	va_list	ap;

	res->msg = NULL;
	res->outcome = outcome;
	res->report = report;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof res->error, fmt, ap);
	va_end(ap);
}

/* Bodies of one batch: one per (event, language, template). */
struct deliver_mail_cache {
	int64_t			 event_id;
	char			 lang[8];
	const char		*template;
	struct mail_body	*body;		/* NULL: it failed */
	char			*cause;
};
struct deliver_mail_bodies {
	struct deliver_mail_cache	*v;
	size_t				 n;
};

/*
 * The body of event IT in LANG with TEMPLATE, rendered and signed on first
 * use in the batch; NULL and *cause (borrowed) if it cannot be made.
 */
static const struct mail_body *
deliver_mail_event_body(const struct config *cfg,
    struct deliver_mail_bodies *cache, const struct deliver_item *it,
    const char *lang, const char *template, const char **cause)
{
	struct deliver_mail_cache	*c;
	json_t				*ctx;
	const char			*id;
	char				*url;
	size_t				 i;

	for (i = 0; i < cache->n; i++) {
		c = &cache->v[i];
		if (c->event_id == it->event_id && strcmp(c->lang, lang) == 0 &&
		    strcmp(c->template, template) == 0) {
			*cause = c->cause;
			return (c->body);
		}
	}
	ctx = deliver_mail_base(cfg, lang, it->tlp);
	if (strcmp(template, "red-notice") == 0) {
		/* No title, summary or body: the id, the label, a link. */
		id = json_string_value(json_object_get(it->data, "id"));
		if (id == NULL)
			id = "";
		json_object_set_new(ctx, "id", json_string(id));
		xasprintf(&url, "%s/advisories/%s", cfg->public_url, id);
		json_object_set_new(ctx, "url", json_string(url));
		free(url);
		json_object_set_new(ctx, "type", json_string(it->type));
		json_object_set_new(ctx, "revoked", json_boolean(
		    strcmp(it->type, "advisory.revoked") == 0));
		json_object_set_new(ctx, "is_update", json_boolean(
		    strcmp(it->type, "advisory.updated") == 0));
	} else
		deliver_mail_item(cfg, ctx, it);
	cache->v = xrealloc(cache->v, (cache->n + 1) * sizeof *cache->v);
	c = &cache->v[cache->n++];
	memset(c, 0, sizeof *c);
	c->event_id = it->event_id;
	snprintf(c->lang, sizeof c->lang, "%s", lang);
	c->template = template;
	if (mail_body_new(cfg, lang, template, ctx, &c->body, &c->cause) != 0)
		log_error("deliver: event %" PRId64 ", %s/%s: %s",
		    it->event_id, lang, template, c->cause);
	json_decref(ctx);
	*cause = c->cause;
	return (c->body);
}

static void
deliver_mail_bodies_free(struct deliver_mail_bodies *cache)
{
	size_t	i;

	for (i = 0; i < cache->n; i++) {
		mail_body_free(cache->v[i].body);
		free(cache->v[i].cause);
	}
	free(cache->v);
}

/*
 * The body of payload row ROW (a digest, a report) for R: its own. 0 and
 * *out, or -1 with RES filled.
 */
static int
deliver_mail_payload_body(PGconn *db, const struct config *cfg,
    const struct outbox_claim *row, const struct email_rcpt *r,
    const char *lang, int64_t **subs, size_t *nsubs, struct mail_body **out,
    struct deliver_mail_result *res)
{
	json_t		*ctx, *d;
	const char	*type, *tlp, *reason;
	char		*cause = NULL;
	size_t		 j;

	*out = NULL;
	type = json_string_value(json_object_get(row->payload, "type"));
	tlp = json_string_value(json_object_get(row->payload, "tlp"));
	if (type == NULL || tlp == NULL) {
		deliver_mail_result(res, OUTBOX_FAILED, NULL,
		    "the queued payload is unreadable");
		return (-1);
	}
	ctx = deliver_mail_base(cfg, lang, tlp);
	d = json_object_get(row->payload, "data");
	if (strcmp(type, "digest") == 0) {
		if (r->user_id == 0 || deliver_mail_digest(db, cfg, r,
		    row->payload, ctx) != 0) {
			json_decref(ctx);
			deliver_mail_result(res, OUTBOX_RETRY, NULL,
			    "database error while loading the digest");
			return (-1);
		}
		if (json_integer_value(json_object_get(ctx, "count")) == 0) {
			json_decref(ctx);
			deliver_mail_result(res, OUTBOX_CANCELLED, NULL,
			    "nothing in the digest may be shown to the "
			    "recipient any more");
			return (-1);
		}
		/* The digest comes from the daily subscriptions. */
		for (j = 0; j < r->n_subs; j++) {
			if (r->sub_minutes[j] < 0)
				continue;
			*subs = xrealloc(*subs, (*nsubs + 1) * sizeof **subs);
			(*subs)[(*nsubs)++] = r->sub_ids[j];
		}
	} else if (strcmp(type, "bounce-report") == 0) {
		json_object_update(ctx, d);
		reason = json_string_value(json_object_get(d, "reason"));
		json_object_set_new(ctx, "reason_is", json_pack("{s:b}",
		    reason != NULL ? reason : "address", 1));
	} else {
		json_decref(ctx);
		deliver_mail_result(res, OUTBOX_FAILED, NULL,
		    "unknown e-mail payload \"%s\"", type);
		return (-1);
	}
	if (mail_body_new(cfg, lang, type, ctx, out, &cause) != 0) {
		log_error("deliver: delivery %" PRId64 ": %s", row->id, cause);
		deliver_mail_result(res, OUTBOX_RETRY, NULL, "%s", cause);
		free(cause);
		json_decref(ctx);
		return (-1);
	}
	json_decref(ctx);
	return (0);
}

/* Compose row ROW (event IT, or NULL for a payload) for recipient R. */
static void
deliver_mail_one(PGconn *db, const struct config *cfg,
    struct deliver_mail_bodies *cache, const struct outbox_claim *row,
    const struct deliver_item *it, const struct email_rcpt *r,
    struct deliver_mail_result *res)
{
	struct mail_spec	 m;
	struct smime_rcpt	*cert = NULL;
	struct mail_body	*own = NULL;
	const struct mail_body	*body;
	const char		*lang, *tlp, *template, *why, *ptype;
	int64_t			*subs = NULL;
	size_t			 nsubs = 0;
	char			*cause = NULL, *unsub = NULL, whybuf[256];
	int			 report_row = 0;

	lang = r->language != NULL ? r->language : "en";
	if (!mail_address_ok(r->address)) {
		deliver_mail_result(res, OUTBOX_FAILED, "address", "the "
		    "address cannot be used over SMTP (malformed, or not plain "
		    "ASCII); not sent");
		return;
	}
	if (row->event_id != 0) {
		/*
		 * Planned at publication; asked again now (TLP.md: every
		 * path that reveals an item asks tlp_may_see).
		 */
		if (!deliver_mail_visible(it->scope, r)) {
			deliver_mail_result(res, OUTBOX_CANCELLED, NULL,
			    "the recipient may no longer see this item");
			return;
		}
		if (r->user_id != 0 && !deliver_mail_wanted(it->scope, r, &subs,
		    &nsubs)) {
			deliver_mail_result(res, OUTBOX_CANCELLED, NULL,
			    "the recipient no longer takes this by e-mail");
			return;
		}
		tlp = it->tlp;
	} else {
		tlp = json_string_value(json_object_get(row->payload, "tlp"));
		ptype = json_string_value(json_object_get(row->payload,
		    "type"));
		/* A report goes in clear: it may be about the certificate. */
		report_row = ptype != NULL && strcmp(ptype,
		    "bounce-report") == 0;
	}

	/* A certificate on file: encrypted, or not sent at all. */
	if (r->smime_cert != NULL && !report_row &&
	    smime_rcpt_load(r->smime_cert, &cert, whybuf,
	    sizeof whybuf) != 0) {
		free(subs);
		deliver_mail_result(res, OUTBOX_FAILED, "certificate", "%s",
		    whybuf);
		return;
	}
	if (row->event_id != 0) {
		/* TLP:RED without a certificate: a notice without content. */
		template = strcmp(tlp, "RED") == 0 && cert == NULL ?
		    "red-notice" : it->type;
		body = deliver_mail_event_body(cfg, cache, it, lang, template,
		    &why);
		if (body == NULL) {
			/* A template fault is ours: retried, and logged. */
			deliver_mail_result(res, OUTBOX_RETRY, NULL, "%s", why);
			goto out;
		}
	} else {
		if (deliver_mail_payload_body(db, cfg, row, r, lang, &subs,
		    &nsubs, &own, res) != 0)
			goto out;
		body = own;
	}
	if (r->user_id != 0)
		unsub = deliver_mail_unsub_url(cfg, r->user_id, subs, nsubs);

	memset(&m, 0, sizeof m);
	m.tlp = tlp;
	m.id = it != NULL ? json_string_value(json_object_get(it->data, "id")) :
	    NULL;
	m.to = r->address;
	m.to_name = r->name;
	m.msg_id = row->msg_id;
	m.unsubscribe_url = unsub;
	m.encrypt_to = cert;
	m.hide_subject = cert != NULL && strcmp(tlp, "RED") == 0;
	if (mail_compose(&m, body, &res->msg, &cause) != 0) {
		log_warn("deliver: delivery %" PRId64 ": %s", row->id, cause);
		deliver_mail_result(res, OUTBOX_FAILED, cert != NULL ?
		    "certificate" : NULL, "%s", cause);
	}
out:
	free(cause);
	free(unsub);
	free(subs);
	mail_body_free(own);
	smime_rcpt_free(cert);
}

/*
 * XXX: a message to a recipient with a certificate is signed (protected
 * headers inside) and encrypted on its own, ~0.7 ms of CPU, in the
 * worker's one thread; composing those on a few threads would scale
 * encrypted mail with the cores (bench/README, "E-mail").
 *
 * Prepare N claimed e-mail rows: ITEMS[i] is row i's event as the worker
 * holds it (NULL for a payload row, or an event no longer in the log
 * when rows[i].event_id is not 0). RES[i] gets the message to send, or
 * the outcome. LOADED: whether the events could be read at all.
 */
void
deliver_mail_prepare(PGconn *db, const struct config *cfg,
    const struct outbox_claim *rows, const struct deliver_item *const *items,
    size_t n, int loaded, struct deliver_mail_result *res)
{
	struct deliver_mail_bodies	 cache;
	struct email_rcpt		*rcpts = NULL;
	const struct email_rcpt		*r;
	size_t				 nrcpts = 0, i;

	memset(res, 0, n * sizeof *res);
	memset(&cache, 0, sizeof cache);
	if (!loaded || store_email_recipients(db, rows, n, &rcpts,
	    &nrcpts) != 0) {
		for (i = 0; i < n; i++)
			deliver_mail_result(&res[i], OUTBOX_RETRY, NULL,
			    "database error while loading the delivery");
		return;
	}
	for (i = 0; i < n; i++) {
		r = store_email_rcpt_find(rcpts, nrcpts, rows[i].user_id,
		    rows[i].organisation_id);
		if (r == NULL || !r->active || r->address == NULL) {
			deliver_mail_result(&res[i], OUTBOX_CANCELLED, NULL,
			    "the recipient is gone or has no e-mail address");
			continue;
		}
		if (rows[i].event_id != 0 && items[i] == NULL) {
			deliver_mail_result(&res[i], OUTBOX_CANCELLED, NULL,
			    "the event is no longer in the log");
			continue;
		}
		deliver_mail_one(db, cfg, &cache, &rows[i], items[i], r,
		    &res[i]);
	}
	deliver_mail_bodies_free(&cache);
	for (i = 0; i < nrcpts; i++)
		store_email_rcpt_clear(&rcpts[i]);
	free(rcpts);
}
