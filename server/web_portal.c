/*
 * web_portal.c: the pages of the organisations' people: the live page
 * (live.js connects to the stream with a ticket, see web.c), the list of
 * what they may read, their subscriptions; and for org-admins the
 * organisation (its contact and users), its webhooks (with the test
 * button and the delivery log) and its assets. Every read and every form
 * goes through the REST route in-process (http_call) as the signed-in
 * principal, so the rules and messages are the API's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define WEB_ORG_ROLES	(ROLEBIT(ROLE_ORG_ADMIN))
#define WEB_PEOPLE	(ROLES_USERS)

static void	web_portal_live_cb(struct req *);
static void	web_portal_list_cb(struct req *);
static void	web_portal_subs_cb(struct req *);
static void	web_portal_subs_create_cb(struct req *);
static void	web_portal_subs_delete_cb(struct req *);
static void	web_portal_org_cb(struct req *);
static void	web_portal_org_user_cb(struct req *);
static void	web_portal_hooks_cb(struct req *);
static void	web_portal_hooks_create_cb(struct req *);
static void	web_portal_hook_cb(struct req *);
static void	web_portal_hook_test_cb(struct req *);
static void	web_portal_hook_delete_cb(struct req *);
static void	web_portal_assets_cb(struct req *);
static void	web_portal_assets_create_cb(struct req *);
static void	web_portal_assets_delete_cb(struct req *);

const struct route web_portal_routes[] = {
	{ "GET", "/live", web_portal_live_cb, 0 },
	{ "GET", "/advisories", web_portal_list_cb, 0 },
	{ "GET", "/subscriptions", web_portal_subs_cb, 0 },
	{ "POST", "/subscriptions", web_portal_subs_create_cb, 0 },
	{ "POST", "/subscriptions/*/delete", web_portal_subs_delete_cb, 0 },
	{ "GET", "/org", web_portal_org_cb, 0 },
	{ "POST", "/org/users", web_portal_org_user_cb, 0 },
	{ "GET", "/org/webhooks", web_portal_hooks_cb, 0 },
	{ "POST", "/org/webhooks", web_portal_hooks_create_cb, 0 },
	{ "GET", "/org/webhooks/*", web_portal_hook_cb, 0 },
	{ "POST", "/org/webhooks/*/test", web_portal_hook_test_cb, 0 },
	{ "POST", "/org/webhooks/*/delete", web_portal_hook_delete_cb, 0 },
	{ "GET", "/org/assets", web_portal_assets_cb, 0 },
	{ "POST", "/org/assets", web_portal_assets_create_cb, 0 },
	{ "POST", "/org/assets/*/delete", web_portal_assets_delete_cb, 0 },
	{ NULL, NULL, NULL, 0 }
};

/* GET a REST list in-process: its items (a new array; empty on failure). */
static json_t *
web_portal_items(struct web *w, const char *path, const char *const *query)
{
	json_t		*answer = NULL, *items;
	unsigned	 status;

	status = http_call(w->r, "GET", path, query, NULL, &answer);
	items = json_object_get(answer, "items");
	if (status != 200 || !json_is_array(items)) {
		json_decref(answer);
		return (json_array());
	}
	json_incref(items);
	json_decref(answer);
	return (items);
}

/* Set "error" (the API's detail) on CTX when STATUS is a failure. */
static int
web_portal_failed(json_t *ctx, unsigned status, json_t *answer)
{
	if (status >= 200 && status < 300)
		return (0);
	json_object_set_new(ctx, "error", web_problem_text(answer));
	return (1);
}

/* A page PAGE of the signed-in user with ROLES, nothing submitted. */
static void
web_portal_show(struct req *r, unsigned roles,
    void (*page)(struct web *, json_t *))
{
	struct web	w;

	web_begin(r, &w);
	if (web_require(&w, roles))
		page(&w, json_object());
	web_end(&w);
}

/*
 * POST BODY (stolen) to the REST route PATH as the signed-in user; done:
 * to the page BACK; refused: PAGE again with the error, CTX (stolen; NULL
 * for none) holding what the form should keep.
 */
static void
web_portal_submit(struct web *w, const char *path, json_t *body,
    const char *back, void (*page)(struct web *, json_t *), json_t *ctx)
{
	json_t		*answer = NULL;
	unsigned	 status;

	status = http_call(w->r, "POST", path, NULL, body, &answer);
	json_decref(body);
	if (ctx == NULL)
		ctx = json_object();
	if (web_portal_failed(ctx, status, answer))
		page(w, ctx);
	else {
		json_decref(ctx);
		web_redirect(w, back);
	}
	json_decref(answer);
}

/* GET /live: the page; live.js does the rest. */
static void
web_portal_live_cb(struct req *r)
{
	struct web	 w;
	json_t		*ctx, *recent, *list, *v;
	const char	*query[] = { "limit", "10", NULL };
	size_t		 i;
	char		*url;

	web_begin(r, &w);
	if (!web_require(&w, WEB_PEOPLE))
		goto out;
	url = web_stream_url(http_config());
	ctx = json_pack("{s:s, s:b}", "stream_url", url, "by_session",
	    w.by_session);
	free(url);
	recent = json_array();
	list = web_portal_items(&w, "/v1/advisories", query);
	json_array_foreach(list, i, v)
		json_array_append_new(recent, web_advisory_view(&w, v));
	json_decref(list);
	json_object_set_new(ctx, "recent", recent);
	json_object_set_new(ctx, "scripts", json_pack("[s]", "live.js"));
	web_page(&w, 200, "live.html", "live_title", ctx);
out:
	web_end(&w);
}

/* GET /advisories: everything the person may read, with filters. */
static void
web_portal_list_cb(struct req *r)
{
	struct web	 w;
	json_t		*ctx, *items, *list, *v, *answer = NULL, *sel;
	const char	*query[11];
	const char	*names[] = { "q", "severity", "sector", "tlp",
	    "cursor" };
	const char	*s, *next;
	size_t		 i, n = 0;
	unsigned	 status;
	char		*url;

	web_begin(r, &w);
	if (!web_require(&w, WEB_PEOPLE))
		goto out;
	for (i = 0; i < 5; i++) {
		if ((s = http_query(r, names[i])) != NULL && *s != '\0') {
			query[n++] = names[i];
			query[n++] = s;
		}
	}
	query[n] = NULL;
	ctx = json_object();
	status = http_call(r, "GET", "/v1/advisories", query, NULL, &answer);
	web_portal_failed(ctx, status, answer);
	items = json_array();
	list = json_object_get(answer, "items");
	json_array_foreach(list, i, v)
		json_array_append_new(items, web_advisory_view(&w, v));
	json_object_set_new(ctx, "items", items);
	s = http_query(r, "q");
	json_object_set_new(ctx, "q", json_string(s != NULL ? s : ""));
	s = http_query(r, "sector");
	sel = json_pack("[s]", s != NULL ? s : "");
	json_object_set_new(ctx, "sectors", web_sector_options(&w, sel));
	json_decref(sel);
	if ((next = json_string_value(json_object_get(answer,
	    "next_cursor"))) != NULL) {
		xasprintf(&url, "/advisories?cursor=%s", next);
		json_object_set_new(ctx, "next_url", json_string(url));
		free(url);
	}
	json_decref(answer);
	web_page(&w, 200, "list.html", "list_title", ctx);
out:
	web_end(&w);
}

/* The channels a person may pick: ws, e-mail, the organisation's hooks. */
static json_t *
web_portal_channels(struct web *w)
{
	json_t	*out, *hooks, *h;
	size_t	 i;
	char	 ch[40];

	out = json_pack("[{s:s, s:s}, {s:s, s:s}]", "value", "ws", "label",
	    web_text(w, "channel_ws"), "value", "email", "label",
	    web_text(w, "channel_email"));
	if (w->r->who->role != ROLE_ORG_ADMIN)
		return (out);
	hooks = web_portal_items(w, "/v1/webhooks", NULL);
	json_array_foreach(hooks, i, h) {
		snprintf(ch, sizeof ch, "webhook:%lld", (long long)
		    json_integer_value(json_object_get(h, "id")));
		json_array_append_new(out, json_pack("{s:s, s:O}", "value", ch,
		    "label", json_object_get(h, "url")));
	}
	json_decref(hooks);
	return (out);
}

static void
web_portal_subs_page(struct web *w, json_t *ctx)
{
	json_t	*subs, *s, *sectors;
	size_t	 i;

	subs = web_portal_items(w, "/v1/subscriptions", NULL);
	json_array_foreach(subs, i, s) {
		char *f = json_dumps(json_object_get(s, "filter"),
		    JSON_COMPACT);
		char *c = json_dumps(json_object_get(s, "channels"),
		    JSON_COMPACT);

		json_object_set_new(s, "filter_text", json_string(f != NULL ?
		    f : "{}"));
		json_object_set_new(s, "channels_text", json_string(c != NULL ?
		    c : "[]"));
		free(f);
		free(c);
	}
	json_object_set_new(ctx, "subscriptions", subs);
	sectors = web_form_all(w, "sectors");
	json_object_set_new(ctx, "sectors", web_sector_options(w, sectors));
	json_decref(sectors);
	json_object_set_new(ctx, "channels", web_portal_channels(w));
	web_page(w, json_object_get(ctx, "error") != NULL ? 422 : 200,
	    "subscriptions.html", "subs_title", ctx);
}

static void
web_portal_subs_cb(struct req *r)
{
	web_portal_show(r, WEB_PEOPLE, web_portal_subs_page);
}

/* A filter from the form: only the fields given. */
static json_t *
web_portal_filter(struct web *w)
{
	json_t		*f = json_object(), *v;
	const char	*s;
	size_t		 i;
	static const char *const lists[] = { "keywords", "cves", "products" };

	if (json_array_size(v = web_form_all(w, "sectors")) > 0)
		json_object_set(f, "sectors", v);
	json_decref(v);
	if ((s = web_form_get(w, "min_severity")) != NULL && *s != '\0')
		json_object_set_new(f, "min_severity", json_string(s));
	for (i = 0; i < 3; i++) {
		if (json_array_size(v = web_form_lines(w, lists[i])) > 0)
			json_object_set(f, lists[i], v);
		json_decref(v);
	}
	return (f);
}

static void
web_portal_subs_create_cb(struct req *r)
{
	struct web	 w;
	json_t		*body, *ctx;
	const char	*digest;

	web_begin(r, &w);
	if (!web_require(&w, WEB_PEOPLE) || web_form(&w) != 0)
		goto out;
	digest = web_form_get(&w, "digest");
	body = json_pack("{s:s, s:o, s:o}", "name", web_form_get(&w, "name") ?
	    web_form_get(&w, "name") : "", "filter", web_portal_filter(&w),
	    "channels", web_form_all(&w, "channels"));
	if (digest != NULL && *digest != '\0')
		json_object_set_new(body, "digest", json_string(digest));
	ctx = json_object();
	json_object_set(ctx, "form_name", json_array_get(json_object_get(
	    w.form, "name"), 0));
	web_portal_submit(&w, "/v1/subscriptions", body, "/subscriptions",
	    web_portal_subs_page, ctx);
out:
	web_end(&w);
}

/* POST .../ID/delete: DELETE the REST resource, then back to PAGE. */
static void
web_portal_delete(struct req *r, unsigned roles, const char *prefix,
    const char *page)
{
	struct web	 w;
	char		*path;

	web_begin(r, &w);
	if (web_require(&w, roles) && web_form(&w) == 0) {
		xasprintf(&path, "%s/%s", prefix, r->params[0]);
		web_action(&w, "DELETE", path, page, 204, 200);
		free(path);
	}
	web_end(&w);
}

static void
web_portal_subs_delete_cb(struct req *r)
{
	web_portal_delete(r, WEB_PEOPLE, "/v1/subscriptions",
	    "/subscriptions");
}

static void
web_portal_org_page(struct web *w, json_t *ctx)
{
	json_t		*answer = NULL;
	char		*path;

	xasprintf(&path, "/v1/organisations/%lld",
	    (long long)w->r->who->org_id);
	if (http_call(w->r, "GET", path, NULL, NULL, &answer) == 200)
		json_object_set(ctx, "organisation", answer);
	free(path);
	json_decref(answer);
	json_object_set_new(ctx, "users", web_portal_items(w, "/v1/users",
	    NULL));
	web_page(w, json_object_get(ctx, "error") != NULL ? 422 : 200,
	    "org.html", "org_title", ctx);
}

/* GET /org: the organisation, its contact and its people. */
static void
web_portal_org_cb(struct req *r)
{
	web_portal_show(r, WEB_ORG_ROLES, web_portal_org_page);
}

/* POST /org/users: a new member or org-admin of the organisation. */
static void
web_portal_org_user_cb(struct req *r)
{
	struct web	 w;
	json_t		*body;
	const char	*name, *email, *role, *lang;

	web_begin(r, &w);
	if (!web_require(&w, WEB_ORG_ROLES) || web_form(&w) != 0)
		goto out;
	name = web_form_get(&w, "name");
	email = web_form_get(&w, "email");
	role = web_form_get(&w, "role");
	lang = web_form_get(&w, "language");
	body = json_pack("{s:s, s:s, s:s}", "name", name != NULL ? name : "",
	    "role", role != NULL ? role : "member", "language",
	    lang != NULL ? lang : w.lang);
	if (email != NULL && *email != '\0')
		json_object_set_new(body, "email", json_string(email));
	web_portal_submit(&w, "/v1/users", body, "/org", web_portal_org_page,
	    NULL);
out:
	web_end(&w);
}

static void
web_portal_hooks_page(struct web *w, json_t *ctx)
{
	json_object_set_new(ctx, "webhooks", web_portal_items(w,
	    "/v1/webhooks", NULL));
	web_page(w, json_object_get(ctx, "error") != NULL ? 422 : 200,
	    "webhooks.html", "hooks_title", ctx);
}

static void
web_portal_hooks_cb(struct req *r)
{
	web_portal_show(r, WEB_ORG_ROLES, web_portal_hooks_page);
}

/* The deliveries of a log, with what the templates show. */
static json_t *
web_portal_deliveries(struct web *w, json_t *items)
{
	json_t		*v;
	const char	*state;
	char		 key[48];
	size_t		 i;

	json_array_foreach(items, i, v) {
		state = json_string_value(json_object_get(v, "state"));
		snprintf(key, sizeof key, "state_%s", state != NULL ? state :
		    "");
		json_object_set_new(v, "state_label", json_string(web_text(w,
		    key)));
		json_object_set_new(v, "state_class", json_string(state !=
		    NULL ? state : ""));
	}
	return (items);
}

static void
web_portal_hook_page(struct web *w, const char *id, json_t *ctx)
{
	json_t		*answer = NULL;
	char		*path;
	unsigned	 status;

	xasprintf(&path, "/v1/webhooks/%s", id);
	status = http_call(w->r, "GET", path, NULL, NULL, &answer);
	free(path);
	if (status != 200) {
		json_decref(answer);
		json_decref(ctx);
		if (status == 404 || status == 422)
			web_message_page(w, 404, "not_found_title",
			    "not_found_text");
		else
			web_message_page(w, 503, "unavailable_title",
			    "unavailable_text");
		return;
	}
	json_object_set_new(ctx, "webhook", answer);
	xasprintf(&path, "/v1/webhooks/%s/deliveries", id);
	json_object_set_new(ctx, "deliveries", web_portal_deliveries(w,
	    web_portal_items(w, path, NULL)));
	free(path);
	json_object_set_new(ctx, "scripts", json_pack("[s]", "refresh.js"));
	web_page(w, 200, "webhook.html", "hook_title", ctx);
}

/* POST /org/webhooks: register; the secret is shown this once. */
static void
web_portal_hooks_create_cb(struct req *r)
{
	struct web	 w;
	json_t		*body, *answer = NULL, *ctx;
	const char	*url, *format, *token;
	char		 id[24];
	unsigned	 status;

	web_begin(r, &w);
	if (!web_require(&w, WEB_ORG_ROLES) || web_form(&w) != 0)
		goto out;
	url = web_form_get(&w, "url");
	format = web_form_get(&w, "format");
	token = web_form_get(&w, "splunk_token");
	body = json_pack("{s:s, s:s, s:b}", "url", url != NULL ? url : "",
	    "format", format != NULL && *format != '\0' ? format : "json",
	    "targeted", web_form_get(&w, "targeted") != NULL);
	if (token != NULL && *token != '\0')
		json_object_set_new(body, "splunk_token", json_string(token));
	status = http_call(r, "POST", "/v1/webhooks", NULL, body, &answer);
	json_decref(body);
	ctx = json_object();
	if (status == 201) {
		snprintf(id, sizeof id, "%lld", (long long)json_integer_value(
		    json_object_get(answer, "id")));
		json_object_set(ctx, "secret", json_object_get(answer,
		    "secret"));
		web_portal_hook_page(&w, id, ctx);
	} else {
		web_portal_failed(ctx, status, answer);
		json_object_set_new(ctx, "form_url", json_string(url != NULL ?
		    url : ""));
		web_portal_hooks_page(&w, ctx);
	}
	json_decref(answer);
out:
	web_end(&w);
}

/* GET /org/webhooks/ID: the endpoint, its test button and its log. */
static void
web_portal_hook_cb(struct req *r)
{
	struct web	 w;
	json_t		*ctx = json_object();

	web_begin(r, &w);
	if (!web_require(&w, WEB_ORG_ROLES)) {
		json_decref(ctx);
		goto out;
	}
	if (http_query(r, "tested") != NULL)
		json_object_set_new(ctx, "tested", json_true());
	web_portal_hook_page(&w, r->params[0], ctx);
out:
	web_end(&w);
}

static void
web_portal_hook_test_cb(struct req *r)
{
	struct web	 w;
	char		*path, *to;

	web_begin(r, &w);
	if (web_require(&w, WEB_ORG_ROLES) && web_form(&w) == 0) {
		xasprintf(&path, "/v1/webhooks/%s/test", r->params[0]);
		xasprintf(&to, "/org/webhooks/%s?tested=1", r->params[0]);
		web_action(&w, "POST", path, to, 202, 200);
		free(path);
		free(to);
	}
	web_end(&w);
}

static void
web_portal_hook_delete_cb(struct req *r)
{
	web_portal_delete(r, WEB_ORG_ROLES, "/v1/webhooks", "/org/webhooks");
}

static void
web_portal_assets_page(struct web *w, json_t *ctx)
{
	json_t		*assets, *a;
	const char	*st;
	char		 key[40];
	size_t		 i;

	assets = web_portal_items(w, "/v1/assets", NULL);
	json_array_foreach(assets, i, a) {
		st = json_string_value(json_object_get(a, "status"));
		snprintf(key, sizeof key, "asset_%s", st != NULL ? st : "");
		json_object_set_new(a, "status_label", json_string(web_text(w,
		    key)));
	}
	json_object_set_new(ctx, "assets", assets);
	web_page(w, json_object_get(ctx, "error") != NULL ? 422 : 200,
	    "assets.html", "assets_title", ctx);
}

static void
web_portal_assets_cb(struct req *r)
{
	web_portal_show(r, WEB_ORG_ROLES, web_portal_assets_page);
}

/* POST /org/assets: propose a network, AS or domain for approval. */
static void
web_portal_assets_create_cb(struct req *r)
{
	struct web	 w;
	json_t		*body;
	const char	*type, *value;

	web_begin(r, &w);
	if (!web_require(&w, WEB_ORG_ROLES) || web_form(&w) != 0)
		goto out;
	type = web_form_get(&w, "type");
	value = web_form_get(&w, "value");
	body = json_pack("{s:s, s:s}", "type", type != NULL ? type : "",
	    "value", value != NULL ? value : "");
	web_portal_submit(&w, "/v1/assets", body, "/org/assets",
	    web_portal_assets_page, NULL);
out:
	web_end(&w);
}

static void
web_portal_assets_delete_cb(struct req *r)
{
	web_portal_delete(r, WEB_ORG_ROLES, "/v1/assets", "/org/assets");
}
