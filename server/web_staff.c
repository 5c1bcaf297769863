/*
 * web_staff.c: the CSIRT analysts' pages: compose and publish an advisory
 * (with the audience's reach and the Markdown previewed), revise and
 * revoke it, follow its delivery per channel and recipient; approve the
 * organisations' assets (admin, as the API says); issue a spear warning.
 * Forms are turned into the API's JSON and run in-process (http_call), so
 * a refusal is the API's own 422, shown on the form with what was typed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tocsind.h"

#define WEB_PUBLISHER	(ROLEBIT(ROLE_PUBLISHER))
#define WEB_STAFF	(ROLES_STAFF)

static void	web_staff_publish_form_cb(struct req *);
static void	web_staff_publish_cb(struct req *);
static void	web_staff_edit_form_cb(struct req *);
static void	web_staff_edit_cb(struct req *);
static void	web_staff_revoke_cb(struct req *);
static void	web_staff_deliveries_cb(struct req *);
static void	web_staff_assets_cb(struct req *);
static void	web_staff_asset_approve_cb(struct req *);
static void	web_staff_asset_reject_cb(struct req *);
static void	web_staff_warning_form_cb(struct req *);
static void	web_staff_warning_cb(struct req *);

const struct route web_staff_routes[] = {
	{ "GET", "/publish", web_staff_publish_form_cb, 0 },
	{ "POST", "/publish", web_staff_publish_cb, 0 },
	{ "GET", "/advisories/*/edit", web_staff_edit_form_cb, 0 },
	{ "POST", "/advisories/*/edit", web_staff_edit_cb, 0 },
	{ "POST", "/advisories/*/revoke", web_staff_revoke_cb, 0 },
	{ "GET", "/advisories/*/deliveries", web_staff_deliveries_cb, 0 },
	{ "GET", "/staff/assets", web_staff_assets_cb, 0 },
	{ "POST", "/staff/assets/*/approve", web_staff_asset_approve_cb, 0 },
	{ "POST", "/staff/assets/*/reject", web_staff_asset_reject_cb, 0 },
	{ "GET", "/staff/warnings", web_staff_warning_form_cb, 0 },
	{ "POST", "/staff/warnings", web_staff_warning_cb, 0 },
	{ NULL, NULL, NULL, 0 }
};

static const char *const web_staff_tlps[] = { "CLEAR", "GREEN", "AMBER",
    "AMBER+STRICT", "RED" };
static const char *const web_staff_sevs[] = { "low", "medium", "high",
    "critical" };

/* Options {value, label, selected} of a fixed list. */
static json_t *
web_staff_options(struct web *w, const char *const *values, size_t n,
    const char *prefix, const char *selected)
{
	json_t	*out = json_array();
	char	 key[64];
	size_t	 i;

	for (i = 0; i < n; i++) {
		snprintf(key, sizeof key, "%s%s", prefix, values[i]);
		json_array_append_new(out, json_pack("{s:s, s:s, s:b}",
		    "value", values[i], "label", prefix[0] != '\0' ?
		    web_text(w, key) : values[i], "selected",
		    selected != NULL && strcmp(selected, values[i]) == 0));
	}
	return (out);
}

static int
web_staff_has(json_t *arr, const char *s)
{
	json_t	*v;
	size_t	 i;

	json_array_foreach(arr, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return (1);
		if (json_is_integer(v) && strtoll(s, NULL, 10) ==
		    json_integer_value(v))
			return (1);
	}
	return (0);
}

static char *
web_staff_join(json_t *arr)
{
	struct render_buf	 b;
	json_t			*v;
	size_t			 i;
	char			 num[24];

	memset(&b, 0, sizeof b);
	b.max = 1024 * 1024;
	json_array_foreach(arr, i, v) {
		if (i > 0)
			render_buf_str(&b, "\n");
		if (json_is_integer(v)) {
			snprintf(num, sizeof num, "%lld",
			    (long long)json_integer_value(v));
			render_buf_str(&b, num);
		} else if (json_is_string(v))
			render_buf_str(&b, json_string_value(v));
	}
	return (b.p != NULL ? b.p : xstrdup(""));
}

/*
 * The form's context from an advisory document (a draft or the stored
 * one): every value back in its field, the lists of choices ticked.
 */
static json_t *
web_staff_form_context(struct web *w, json_t *doc)
{
	struct organisation	*orgs = NULL;
	size_t			 n = 0, i;
	json_t			*ctx, *aud, *list, *cvss;
	static const char *const kinds[] = { "essential", "authority",
	    "important", "private", "public" };
	const char		*lines[] = { "cves", "products", "references" };
	const char		*md;
	char			*s, id[24];

	aud = json_object_get(doc, "audience");
	cvss = json_object_get(doc, "cvss");
	ctx = json_pack("{s:O}", "doc", doc);
	json_object_set_new(ctx, "tlps", web_staff_options(w, web_staff_tlps,
	    5, "", json_string_value(json_object_get(doc, "tlp"))));
	json_object_set_new(ctx, "severities", web_staff_options(w,
	    web_staff_sevs, 4, "severity_", json_string_value(
	    json_object_get(doc, "severity"))));
	json_object_set_new(ctx, "sectors", web_sector_options(w,
	    json_object_get(doc, "sectors")));
	json_object_set_new(ctx, "aud_sectors", web_sector_options(w,
	    json_object_get(aud, "sectors")));
	list = json_array();
	for (i = 0; i < 5; i++) {
		char key[32];

		snprintf(key, sizeof key, "kind_%s", kinds[i]);
		json_array_append_new(list, json_pack("{s:s, s:s, s:b}",
		    "value", kinds[i], "label", web_text(w, key), "selected",
		    web_staff_has(json_object_get(aud, "kinds"), kinds[i])));
	}
	json_object_set_new(ctx, "aud_kinds", list);
	/* XXX: past 500 organisations this wants a search box. */
	list = json_array();
	if (store_organisations_list(w->r->db, 0, 0, 500, &orgs, &n) == 0) {
		for (i = 0; i < n; i++) {
			snprintf(id, sizeof id, "%lld", (long long)orgs[i].id);
			if (orgs[i].active)
				json_array_append_new(list, json_pack(
				    "{s:s, s:s, s:b}", "value", id, "label",
				    orgs[i].name, "selected", web_staff_has(
				    json_object_get(aud, "organisations"),
				    id)));
			store_organisations_clear(&orgs[i]);
		}
		free(orgs);
	}
	json_object_set_new(ctx, "aud_orgs", list);
	for (i = 0; i < 3; i++) {
		char key[32];

		snprintf(key, sizeof key, "%s_text", lines[i]);
		s = web_staff_join(json_object_get(doc, lines[i]));
		json_object_set_new(ctx, key, json_string(s));
		free(s);
	}
	s = web_staff_join(json_object_get(aud, "users"));
	json_object_set_new(ctx, "aud_users_text", json_string(s));
	free(s);
	if (cvss != NULL) {
		json_object_set(ctx, "cvss", cvss);
		json_object_set_new(ctx, "cvss_versions", web_staff_options(w,
		    (const char *const[]){ "2.0", "3.0", "3.1", "4.0" }, 4, "",
		    json_string_value(json_object_get(cvss, "version"))));
	} else
		json_object_set_new(ctx, "cvss_versions", web_staff_options(w,
		    (const char *const[]){ "2.0", "3.0", "3.1", "4.0" }, 4, "",
		    "3.1"));
	md = json_string_value(json_object_get(doc, "body"));
	s = render_markdown(md != NULL ? md : "", md != NULL ? strlen(md) : 0);
	json_object_set_new(ctx, "body_preview", json_string(s));
	free(s);
	json_object_set_new(ctx, "scripts", json_pack("[s]", "publish.js"));
	return (ctx);
}

/* An advisory document from the form (what POST/PUT take). */
static json_t *
web_staff_form_doc(struct web *w)
{
	json_t		*doc, *aud, *v, *users, *u, *cvss;
	const char	*s;
	size_t		 i;
	static const char *const texts[] = { "title", "summary", "body",
	    "tlp", "severity" };
	static const char *const lines[] = { "cves", "products",
	    "references" };

	doc = json_object();
	for (i = 0; i < 5; i++)
		json_object_set_new(doc, texts[i], json_string(
		    (s = web_form_get(w, texts[i])) != NULL ? s : ""));
	json_object_set_new(doc, "sectors", web_form_all(w, "sectors"));
	for (i = 0; i < 3; i++)
		json_object_set_new(doc, lines[i], web_form_lines(w, lines[i]));
	if ((s = web_form_get(w, "cvss_score")) != NULL && *s != '\0') {
		char	*end;
		double	 d = strtod(s, &end);

		cvss = json_pack("{s:s}", "version", (v = json_array_get(
		    json_object_get(w->form, "cvss_version"), 0)) != NULL ?
		    json_string_value(v) : "3.1");
		json_object_set_new(cvss, "score", *end == '\0' ?
		    json_real(d) : json_string(s));
		if ((s = web_form_get(w, "cvss_vector")) != NULL && *s != '\0')
			json_object_set_new(cvss, "vector", json_string(s));
		json_object_set_new(doc, "cvss", cvss);
	}
	aud = json_object();
	if (json_array_size(v = web_form_all(w, "aud_orgs")) > 0) {
		json_t *ids = json_array();

		json_array_foreach(v, i, u)
			json_array_append_new(ids, json_integer(
			    http_parse_id(json_string_value(u))));
		json_object_set_new(aud, "organisations", ids);
	}
	json_decref(v);
	if (json_array_size(v = web_form_all(w, "aud_sectors")) > 0)
		json_object_set(aud, "sectors", v);
	json_decref(v);
	if (json_array_size(v = web_form_all(w, "aud_kinds")) > 0)
		json_object_set(aud, "kinds", v);
	json_decref(v);
	users = web_form_lines(w, "aud_users");
	if (json_array_size(users) > 0) {
		json_t *ids = json_array();

		json_array_foreach(users, i, u) {
			int64_t id = http_parse_id(json_string_value(u));

			/* A typo is the API's to refuse, by name. */
			json_array_append_new(ids, id > 0 ? json_integer(id) :
			    json_incref(u));
		}
		json_object_set_new(aud, "users", ids);
	}
	json_decref(users);
	if (json_object_size(aud) > 0)
		json_object_set_new(doc, "audience", aud);
	else
		json_decref(aud);
	return (doc);
}

/* Counts of the audience preview into CTX (or its refusal); the form's
 * context renders the body. */
static void
web_staff_preview(struct web *w, json_t *ctx, json_t *doc)
{
	json_t		*body, *answer = NULL;
	unsigned	 status;

	body = json_pack("{s:O}", "tlp", json_object_get(doc, "tlp"));
	if (json_object_get(doc, "audience") != NULL)
		json_object_set(body, "audience", json_object_get(doc,
		    "audience"));
	status = http_call(w->r, "POST", "/v1/advisories/preview-audience",
	    NULL, body, &answer);
	json_decref(body);
	if (status == 200)
		json_object_set(ctx, "reach", answer);
	else
		json_object_set_new(ctx, "reach_error",
		    web_problem_text(answer));
	json_decref(answer);
}

static void
web_staff_form_page(struct web *w, unsigned status, json_t *doc,
    const char *id, json_t *extra)
{
	json_t		*ctx = web_staff_form_context(w, doc);
	char		*action;

	if (id != NULL) {
		xasprintf(&action, "/advisories/%s/edit", id);
		json_object_set_new(ctx, "edit_id", json_string(id));
	} else
		action = xstrdup("/publish");
	json_object_set_new(ctx, "action", json_string(action));
	free(action);
	if (extra != NULL) {
		json_object_update(ctx, extra);
		json_decref(extra);
	}
	web_page(w, status, "publish.html", id != NULL ? "edit_title" :
	    "publish_title", ctx);
}

static void
web_staff_publish_form_cb(struct req *r)
{
	struct web	 w;
	json_t		*doc;

	web_begin(r, &w);
	if (web_require(&w, WEB_PUBLISHER)) {
		doc = json_pack("{s:s, s:s}", "tlp", "AMBER", "severity",
		    "high");
		web_staff_form_page(&w, 200, doc, NULL, NULL);
		json_decref(doc);
	}
	web_end(&w);
}

/*
 * POST the form: "preview" shows it again with the reach and the body as
 * it will read; "publish" sends it (POST, or PUT for a revision).
 */
static void
web_staff_submit(struct req *r, const char *id)
{
	struct web	 w;
	json_t		*doc, *answer = NULL, *extra;
	const char	*action;
	char		*path, *loc;
	unsigned	 status;

	web_begin(r, &w);
	if (!web_require(&w, WEB_PUBLISHER) || web_form(&w) != 0)
		goto out;
	doc = web_staff_form_doc(&w);
	action = web_form_get(&w, "action");
	extra = json_object();
	if (action == NULL || strcmp(action, "publish") != 0) {
		web_staff_preview(&w, extra, doc);
		web_staff_form_page(&w, 200, doc, id, extra);
		json_decref(doc);
		goto out;
	}
	if (id != NULL) {
		xasprintf(&path, "/v1/advisories/%s", id);
		status = http_call(r, "PUT", path, NULL, doc, &answer);
		free(path);
	} else
		status = http_call(r, "POST", "/v1/advisories", NULL, doc,
		    &answer);
	if (status == 201 || status == 200) {
		xasprintf(&loc, "/advisories/%s", json_string_value(
		    json_object_get(answer, "id")));
		web_redirect(&w, loc);
		free(loc);
		json_decref(extra);
	} else if (status == 404) {
		json_decref(extra);
		web_message_page(&w, 404, "not_found_title", "not_found_text");
	} else {
		json_object_set_new(extra, "error", web_problem_text(answer));
		json_object_set(extra, "error_field", json_object_get(answer,
		    "field"));
		web_staff_preview(&w, extra, doc);
		web_staff_form_page(&w, status, doc, id, extra);
	}
	json_decref(doc);
	json_decref(answer);
out:
	web_end(&w);
}

static void
web_staff_publish_cb(struct req *r)
{
	web_staff_submit(r, NULL);
}

static void
web_staff_edit_form_cb(struct req *r)
{
	struct web	 w;
	json_t		*answer = NULL;
	char		*path;
	unsigned	 status;

	web_begin(r, &w);
	if (!web_require(&w, WEB_PUBLISHER))
		goto out;
	xasprintf(&path, "/v1/advisories/%s", r->params[0]);
	status = http_call(r, "GET", path, NULL, NULL, &answer);
	free(path);
	if (status == 200)
		web_staff_form_page(&w, 200, answer, r->params[0], NULL);
	else
		web_message_page(&w, 404, "not_found_title", "not_found_text");
	json_decref(answer);
out:
	web_end(&w);
}

static void
web_staff_edit_cb(struct req *r)
{
	web_staff_submit(r, r->params[0]);
}

static void
web_staff_revoke_cb(struct req *r)
{
	struct web	 w;
	char		*path, *to;

	web_begin(r, &w);
	if (!web_require(&w, WEB_PUBLISHER) || web_form(&w) != 0)
		goto out;
	/* Revocation is final: the form's box must be ticked. */
	if (web_form_get(&w, "confirm") == NULL) {
		web_message_page(&w, 400, "bad_request_title",
		    "revoke_confirm");
		goto out;
	}
	/* Revoked already (409): the page shows it so. */
	xasprintf(&path, "/v1/advisories/%s/revoke", r->params[0]);
	xasprintf(&to, "/advisories/%s", r->params[0]);
	web_action(&w, "POST", path, to, 200, 409);
	free(path);
	free(to);
out:
	web_end(&w);
}

/* GET /advisories/ID/deliveries: per recipient and channel, refreshed. */
static void
web_staff_deliveries_cb(struct req *r)
{
	struct web	 w;
	json_t		*answer = NULL, *items, *v, *ctx;
	const char	*state, *query[] = { "limit", "200", NULL };
	char		*path, key[48];
	size_t		 i;
	unsigned	 status;

	web_begin(r, &w);
	if (!web_require(&w, WEB_STAFF))
		goto out;
	xasprintf(&path, "/v1/advisories/%s/deliveries", r->params[0]);
	status = http_call(r, "GET", path, query, NULL, &answer);
	free(path);
	if (status != 200) {
		web_message_page(&w, status == 404 ? 404 : 503, status == 404 ?
		    "not_found_title" : "unavailable_title", status == 404 ?
		    "not_found_text" : "unavailable_text");
		json_decref(answer);
		goto out;
	}
	items = json_object_get(answer, "items");
	json_array_foreach(items, i, v) {
		state = json_string_value(json_object_get(v, "state"));
		snprintf(key, sizeof key, "state_%s", state != NULL ? state :
		    "");
		json_object_set_new(v, "state_label", json_string(web_text(&w,
		    key)));
		json_object_set_new(v, "state_class", json_string(state !=
		    NULL ? state : ""));
	}
	ctx = json_pack("{s:s, s:O, s:[s]}", "id", r->params[0], "deliveries",
	    items, "scripts", "refresh.js");
	web_page(&w, 200, "deliveries.html", "deliveries_title", ctx);
	json_decref(answer);
out:
	web_end(&w);
}

static void
web_staff_assets_page(struct web *w, json_t *ctx)
{
	json_t		*answer = NULL;
	const char	*query[] = { "status", "proposed", "limit", "200",
	    NULL };

	if (http_call(w->r, "GET", "/v1/assets", query, NULL, &answer) ==
	    200)
		json_object_set(ctx, "assets", json_object_get(answer,
		    "items"));
	json_decref(answer);
	web_page(w, 200, "staff_assets.html", "staff_assets_title", ctx);
}

static void
web_staff_assets_cb(struct req *r)
{
	struct web	w;

	web_begin(r, &w);
	if (web_require(&w, ROLEBIT(ROLE_ADMIN)))
		web_staff_assets_page(&w, json_object());
	web_end(&w);
}

static void
web_staff_asset_decide(struct req *r, const char *status_to)
{
	struct web	 w;
	json_t		*answer = NULL, *body, *ctx;
	char		*path;
	unsigned	 status;

	web_begin(r, &w);
	if (!web_require(&w, ROLEBIT(ROLE_ADMIN)) || web_form(&w) != 0)
		goto out;
	xasprintf(&path, "/v1/assets/%s", r->params[0]);
	body = json_pack("{s:s}", "status", status_to);
	status = http_call(r, "PATCH", path, NULL, body, &answer);
	json_decref(body);
	free(path);
	if (status == 200)
		web_redirect(&w, "/staff/assets");
	else {
		ctx = json_pack("{s:o}", "error", web_problem_text(answer));
		web_staff_assets_page(&w, ctx);
	}
	json_decref(answer);
out:
	web_end(&w);
}

static void
web_staff_asset_approve_cb(struct req *r)
{
	web_staff_asset_decide(r, "approved");
}

static void
web_staff_asset_reject_cb(struct req *r)
{
	web_staff_asset_decide(r, "rejected");
}

static void
web_staff_warning_page(struct web *w, unsigned status, json_t *ctx)
{
	const char	*tlp = web_form_get(w, "tlp");
	const char	*sev = web_form_get(w, "severity");

	json_object_set_new(ctx, "tlps", web_staff_options(w, web_staff_tlps,
	    5, "", tlp != NULL ? tlp : "AMBER"));
	json_object_set_new(ctx, "severities", web_staff_options(w,
	    web_staff_sevs, 4, "severity_", sev != NULL ? sev : "high"));
	json_object_set(ctx, "form", w->form != NULL ? w->form : json_null());
	web_page(w, status, "warning_form.html", "warning_form_title", ctx);
}

static void
web_staff_warning_form_cb(struct req *r)
{
	struct web	w;

	web_begin(r, &w);
	if (web_require(&w, WEB_PUBLISHER))
		web_staff_warning_page(&w, 200, json_object());
	web_end(&w);
}

/* One line of the observations box: "ip|domain|email [port]". */
static json_t *
web_staff_observation(const char *line, const char *ts)
{
	char		 value[300], port[16] = "";
	const char	*kind;
	struct asset_addr a;
	json_t		*o;

	if (sscanf(line, "%299s %15s", value, port) < 1)
		return (NULL);
	if (strchr(value, '@') != NULL)
		kind = "email";
	else if (asset_addr_parse(value, &a) == 0)
		kind = "ip";
	else
		kind = "domain";
	o = json_pack("{s:s, s:s}", kind, value, "timestamp", ts);
	if (port[0] != '\0')
		json_object_set_new(o, "port", json_integer(atoi(port)));
	return (o);
}

/* POST /staff/warnings: observations matched to their owners. */
static void
web_staff_warning_cb(struct req *r)
{
	struct web	 w;
	json_t		*body, *obs, *lines, *v, *o, *answer = NULL, *ctx;
	const char	*names[] = { "title", "description", "category", "tlp",
	    "severity" };
	const char	*s;
	char		 ts[32];
	time_t		 now = time(NULL);
	struct tm	 tm;
	size_t		 i;
	unsigned	 status;

	web_begin(r, &w);
	if (!web_require(&w, WEB_PUBLISHER) || web_form(&w) != 0)
		goto out;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	body = json_object();
	for (i = 0; i < 5; i++) {
		if ((s = web_form_get(&w, names[i])) != NULL && *s != '\0')
			json_object_set_new(body, names[i], json_string(s));
	}
	obs = json_array();
	lines = web_form_lines(&w, "observations");
	json_array_foreach(lines, i, v) {
		if ((o = web_staff_observation(json_string_value(v), ts)) !=
		    NULL)
			json_array_append_new(obs, o);
	}
	json_decref(lines);
	json_object_set_new(body, "observations", obs);
	status = http_call(r, "POST", "/v1/warnings", NULL, body, &answer);
	json_decref(body);
	ctx = json_object();
	if (status == 201 || status == 200)
		json_object_set(ctx, "result", answer);
	else
		json_object_set_new(ctx, "error", web_problem_text(answer));
	web_staff_warning_page(&w, status == 201 || status == 200 ? 200 :
	    status, ctx);
	json_decref(answer);
out:
	web_end(&w);
}
