/*
 * web_public.c: the pages anyone may read: the list of TLP:CLEAR
 * advisories (/), one advisory (/advisories/ID), one warning, and the Atom
 * feed. Anonymous visitors are an anonymous principal through the same
 * store and tlp_may_see() calls as the API, so nothing above CLEAR can
 * appear; a signed-in person sees on /advisories/ID what the API shows it.
 * A hidden advisory and a missing one get the same 404 page.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define WEB_PUBLIC_PAGE		20	/* advisories per page of / */
#define WEB_FEED_ENTRIES	50

static void	web_public_index_cb(struct req *);
static void	web_public_advisory_cb(struct req *);
static void	web_public_warning_cb(struct req *);
static void	web_public_feed_cb(struct req *);

const struct route web_public_routes[] = {
	{ "GET", "/", web_public_index_cb, 0 },
	{ "GET", "/advisories/*", web_public_advisory_cb, 0 },
	{ "GET", "/warnings/*", web_public_warning_cb, 0 },
	{ "GET", "/feed/advisories.atom", web_public_feed_cb, 0 },
	{ NULL, NULL, NULL, 0 }
};

/* "tlp-amber-strict" for "AMBER+STRICT": the banner's CSS class. */
static json_t *
web_tlp_class(const char *tlp)
{
	char	buf[32];
	size_t	i;

	snprintf(buf, sizeof buf, "tlp-%s", tlp != NULL ? tlp : "red");
	for (i = 0; buf[i] != '\0'; i++) {
		if (buf[i] >= 'A' && buf[i] <= 'Z')
			buf[i] += 'a' - 'A';
		else if (buf[i] == '+')
			buf[i] = '-';
	}
	return (json_string(buf));
}

/* A sector tag in the page's language ("energy.gas": "Energy: gas"). */
static json_t *
web_sector_label(struct web *w, const char *tag)
{
	const char	*dot = strchr(tag, '.');
	char		 key[96], *s;
	json_t		*v;

	snprintf(key, sizeof key, "sector_%.*s", dot != NULL ?
	    (int)(dot - tag) : (int)strlen(tag), tag);
	if (dot == NULL)
		return (json_string(web_text(w, key)));
	xasprintf(&s, "%s: %s", web_text(w, key), dot + 1);
	v = json_string(s);
	free(s);
	return (v);
}

/* Every top-level sector with its label; those in SELECTED ticked. */
json_t *
web_sector_options(struct web *w, json_t *selected)
{
	json_t		*out = json_array(), *v;
	const char	*tag;
	size_t		 i, j;
	int		 on;

	for (i = 0; (tag = sector_top(i)) != NULL; i++) {
		on = 0;
		json_array_foreach(selected, j, v) {
			if (json_is_string(v) && strcmp(json_string_value(v),
			    tag) == 0)
				on = 1;
		}
		json_array_append_new(out, json_pack("{s:s, s:o, s:b}", "tag",
		    tag, "label", web_sector_label(w, tag), "selected", on));
	}
	return (out);
}

static json_t *
web_severity_label(struct web *w, const char *sev)
{
	char	key[48];

	snprintf(key, sizeof key, "severity_%s", sev != NULL ? sev : "");
	return (json_string(web_text(w, key)));
}

/* An advisory (the API's JSON) as the templates show it: a new object. */
json_t *
web_advisory_view(struct web *w, json_t *doc)
{
	json_t		*v = json_deep_copy(doc), *sectors, *s;
	const char	*tlp = json_string_value(json_object_get(doc, "tlp"));
	const char	*body = json_string_value(json_object_get(doc, "body"));
	const char	*status;
	char		*html;
	size_t		 i;

	json_object_set_new(v, "tlp_class", web_tlp_class(tlp));
	json_object_set_new(v, "severity_label", web_severity_label(w,
	    json_string_value(json_object_get(doc, "severity"))));
	sectors = json_array();
	json_array_foreach(json_object_get(doc, "sectors"), i, s) {
		if (json_is_string(s))
			json_array_append_new(sectors, json_pack("{s:O, s:o}",
			    "tag", s, "label", web_sector_label(w,
			    json_string_value(s))));
	}
	json_object_set_new(v, "sector_labels", sectors);
	html = render_markdown(body != NULL ? body : "", body != NULL ?
	    strlen(body) : 0);
	json_object_set_new(v, "body_html", json_string(html));
	free(html);
	status = json_string_value(json_object_get(doc, "status"));
	json_object_set_new(v, "revoked", json_boolean(status != NULL &&
	    strcmp(status, "revoked") == 0));
	json_object_set_new(v, "revised", json_boolean(json_integer_value(
	    json_object_get(doc, "revision")) > 1));
	return (v);
}

static json_t *
web_severity_options(struct web *w, const char *selected)
{
	static const char *const sev[] = { "low", "medium", "high",
	    "critical" };
	json_t		*out = json_array();
	size_t		 i;

	for (i = 0; i < 4; i++)
		json_array_append_new(out, json_pack("{s:s, s:o, s:b}",
		    "value", sev[i], "label", web_severity_label(w, sev[i]),
		    "selected", selected != NULL && strcmp(selected, sev[i]) ==
		    0));
	return (out);
}

/* GET /: TLP:CLEAR advisories, newest first; q, severity, sector filters. */
static void
web_public_index_cb(struct req *r)
{
	struct web		 w;
	struct principal	 anon;
	struct advisory_query	 q;
	struct advisory_row	*rows = NULL;
	enum severity		 sev;
	json_t			*items, *ctx, *sel;
	const char		*s;
	size_t			 n = 0, i;
	int64_t			 next = 0;
	char			*url, *eq, *es;

	web_begin(r, &w);
	memset(&anon, 0, sizeof anon);
	anon.role = ROLE_ANONYMOUS;
	memset(&q, 0, sizeof q);
	q.min_severity = -1;
	q.limit = WEB_PUBLIC_PAGE;
	q.tlp = "CLEAR";
	ctx = json_object();
	if ((s = http_query(r, "q")) != NULL && *s != '\0' && strlen(s) <= 200)
		q.q = s;
	if ((s = http_query(r, "severity")) != NULL &&
	    severity_parse(s, &sev) == 0)
		q.min_severity = sev;
	if ((s = http_query(r, "sector")) != NULL && sector_valid(s))
		q.sector = s;
	if ((s = http_query(r, "cursor")) != NULL)
		q.cursor = http_parse_id(s);
	/* Anonymous on purpose: / is the public page, whoever is signed in. */
	if (store_advisories_list(r->db, &q, &anon, &rows, &n, &next) != 0) {
		json_decref(ctx);
		web_message_page(&w, 503, "unavailable_title",
		    "unavailable_text");
		goto out;
	}
	items = json_array();
	for (i = 0; i < n; i++) {
		json_t *doc = store_advisories_json(&rows[i], 0,
		    http_config()->advisory_id_prefix);
		json_array_append_new(items, web_advisory_view(&w, doc));
		json_decref(doc);
		store_advisories_row_free(&rows[i]);
	}
	free(rows);
	json_object_set_new(ctx, "items", items);
	json_object_set_new(ctx, "q", json_string(q.q != NULL ? q.q : ""));
	json_object_set_new(ctx, "severities", web_severity_options(&w,
	    q.min_severity >= 0 ? severity_name(q.min_severity) : NULL));
	sel = json_pack("[s]", q.sector != NULL ? q.sector : "");
	json_object_set_new(ctx, "sectors", web_sector_options(&w, sel));
	json_decref(sel);
	json_object_set_new(ctx, "filtered", json_boolean(q.q != NULL ||
	    q.min_severity >= 0 || q.sector != NULL));
	if (next != 0) {
		/* The same filters, from the next cursor. */
		eq = web_urlencode(q.q != NULL ? q.q : "");
		es = xstrdup(q.min_severity >= 0 ?
		    severity_name(q.min_severity) : "");
		xasprintf(&url, "/?q=%s&severity=%s&sector=%s&cursor=%lld", eq,
		    es, q.sector != NULL ? q.sector : "", (long long)next);
		json_object_set_new(ctx, "next_url", json_string(url));
		free(url);
		free(eq);
		free(es);
	}
	web_page(&w, 200, "index.html", "index_title", ctx);
out:
	web_end(&w);
}

/* GET /advisories/ID: what the API would show this visitor, or 404. */
static void
web_public_advisory_cb(struct req *r)
{
	struct web	 w;
	json_t		*answer = NULL, *ctx;
	const char	*rev = http_query(r, "revision");
	const char	*query[] = { "revision", rev, NULL };
	char		*path;
	unsigned	 status;

	web_begin(r, &w);
	xasprintf(&path, "/v1/advisories/%s", r->params[0]);
	status = http_call(r, "GET", path, rev != NULL ? query : NULL, NULL,
	    &answer);
	free(path);
	if (status == 200) {
		ctx = json_pack("{s:o}", "advisory", web_advisory_view(&w,
		    answer));
		json_object_set_new(ctx, "can_edit", json_boolean(
		    w.signed_in && r->who->role == ROLE_PUBLISHER));
		json_object_set_new(ctx, "can_follow", json_boolean(
		    w.signed_in && role_is_staff(r->who->role)));
		web_page(&w, 200, "advisory.html", "advisory_title", ctx);
	} else if (status == 404 || status == 422)
		web_message_page(&w, 404, "not_found_title", "not_found_text");
	else
		web_message_page(&w, 503, "unavailable_title",
		    "unavailable_text");
	json_decref(answer);
	web_end(&w);
}

/* GET /warnings/ID: a spear warning, for those the API shows it to. */
static void
web_public_warning_cb(struct req *r)
{
	struct web	 w;
	json_t		*answer = NULL, *v;
	char		*path;
	unsigned	 status;

	web_begin(r, &w);
	if (!w.signed_in) {
		web_message_page(&w, 404, "not_found_title", "not_found_text");
		goto out;
	}
	xasprintf(&path, "/v1/warnings/%s", r->params[0]);
	status = http_call(r, "GET", path, NULL, NULL, &answer);
	free(path);
	if (status == 200) {
		v = json_deep_copy(answer);
		json_object_set_new(v, "tlp_class", web_tlp_class(
		    json_string_value(json_object_get(answer, "tlp"))));
		json_object_set_new(v, "severity_label", web_severity_label(&w,
		    json_string_value(json_object_get(answer, "severity"))));
		json_object_set_new(v, "observations_text", json_string(""));
		if (json_object_get(answer, "observations") != NULL) {
			char *s = json_dumps(json_object_get(answer,
			    "observations"), JSON_INDENT(2));
			json_object_set_new(v, "observations_text",
			    json_string(s != NULL ? s : ""));
			free(s);
		}
		web_page(&w, 200, "warning.html", "warning_title",
		    json_pack("{s:o}", "warning", v));
	} else if (status == 404 || status == 403 || status == 422)
		web_message_page(&w, 404, "not_found_title", "not_found_text");
	else
		web_message_page(&w, 503, "unavailable_title",
		    "unavailable_text");
	json_decref(answer);
out:
	web_end(&w);
}

/* GET /feed/advisories.atom: Atom 1.0 (RFC 4287), TLP:CLEAR only. */
static void
web_public_feed_cb(struct req *r)
{
	struct principal	 anon;
	struct advisory_query	 q;
	struct advisory_row	*rows = NULL;
	const struct config	*cfg = http_config();
	json_t			*entries, *ctx, *doc, *e;
	const char		*updated = NULL, *body;
	char			*out = NULL, *cause = NULL, *html;
	size_t			 n = 0, i, len;
	int64_t			 next;

	memset(&anon, 0, sizeof anon);
	anon.role = ROLE_ANONYMOUS;
	memset(&q, 0, sizeof q);
	q.min_severity = -1;
	q.limit = WEB_FEED_ENTRIES;
	q.tlp = "CLEAR";
	if (store_advisories_list(r->db, &q, &anon, &rows, &n, &next) != 0) {
		http_problem(r, 503, NULL, "PostgreSQL is unreachable");
		return;
	}
	entries = json_array();
	for (i = 0; i < n; i++) {
		doc = store_advisories_json(&rows[i], 0, cfg->advisory_id_prefix);
		/* Belt and braces: the list asked for CLEAR, as anonymous. */
		if (rows[i].latest.tlp != TLP_CLEAR) {
			json_decref(doc);
			continue;
		}
		e = json_deep_copy(doc);
		body = json_string_value(json_object_get(doc, "body"));
		html = render_markdown(body != NULL ? body : "", body != NULL ?
		    strlen(body) : 0);
		json_object_set_new(e, "body_html", json_string(html));
		free(html);
		json_object_set_new(e, "revoked", json_boolean(strcmp(
		    rows[i].status, "revoked") == 0));
		json_array_append_new(entries, e);
		if (updated == NULL || strcmp(rows[i].updated_at, updated) > 0)
			updated = json_string_value(json_object_get(e,
			    "updated_at"));
		json_decref(doc);
	}
	ctx = json_pack("{s:s, s:s, s:o}", "base", cfg->public_url,
	    "updated", updated != NULL ? updated : "1970-01-01T00:00:00Z",
	    "entries", entries);
	if (render_file(render_dir(cfg), "web/feed.atom", ctx, NULL, &out,
	    &len, &cause) != 0) {
		log_error("web: %s", cause);
		free(cause);
		http_problem(r, 500, NULL, "the feed could not be made");
	} else
		http_reply_data(r, 200, "application/atom+xml; charset=utf-8",
		    out, len);
	json_decref(ctx);
	for (i = 0; i < n; i++)
		store_advisories_row_free(&rows[i]);
	free(rows);
}
