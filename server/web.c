/*
 * web.c: the portal's core, served by the REST listener from
 * templates/web/: who is signed in (a session cookie, or a bearer token for
 * scripts), CSRF, the language of the page, the layout and its security
 * headers, static files, sign-in and sign-out, and the three small JSON
 * endpoints the pages' scripts call (a stream ticket, the audience preview,
 * the Markdown preview). The pages themselves live in web_public.c,
 * web_portal.c and web_staff.c; their forms run the REST routes in-process
 * (http_call), so the web and the API share every rule.
 *
 * Sessions: a random id in an HttpOnly, SameSite=Strict cookie (Secure
 * under TLS), kept as SHA-256 in web_sessions with a per-session CSRF token
 * that every state-changing form carries back. Anonymous forms (sign-in,
 * language) use a double-submit cookie instead.
 *
 * The live page never sees an API token or the session id: it asks
 * POST /web/stream-ticket (session cookie and X-CSRF-Token header) for a
 * single-use ticket valid TOCSIN_WEB_TICKET_S seconds, and sends it as the
 * stream's {"type":"auth"} message. The stream accepts tickets (auth.c) and
 * keeps the connection while the session lives; signing out ends it.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "tocsind.h"

#define WEB_COOKIE_SESSION	"tocsin_session"
#define WEB_COOKIE_CSRF		"tocsin_csrf"
#define WEB_COOKIE_LANG		"tocsin_lang"
#define WEB_LANG_COOKIE_S	(365 * 86400)

static void	web_static_cb(struct req *);
static void	web_signin_form_cb(struct req *);
static void	web_signin_cb(struct req *);
static void	web_link_request_cb(struct req *);
static void	web_link_form_cb(struct req *);
static void	web_link_confirm_cb(struct req *);
static void	web_signout_cb(struct req *);
static void	web_language_cb(struct req *);
static void	web_ticket_cb(struct req *);
static void	web_preview_audience_cb(struct req *);
static void	web_preview_markdown_cb(struct req *);

const struct route web_routes[] = {
	{ "GET", "/static/*", web_static_cb, HTTP_ROUTE_NO_DB },
	{ "GET", "/signin", web_signin_form_cb, 0 },
	{ "POST", "/signin", web_signin_cb, 0 },
	{ "POST", "/signin/link", web_link_request_cb, 0 },
	{ "GET", "/signin/link", web_link_form_cb, 0 },
	{ "POST", "/signin/link/confirm", web_link_confirm_cb, 0 },
	{ "POST", "/signout", web_signout_cb, 0 },
	{ "POST", "/language", web_language_cb, 0 },
	{ "POST", "/web/stream-ticket", web_ticket_cb, 0 },
	{ "POST", "/web/preview-audience", web_preview_audience_cb, 0 },
	{ "POST", "/web/preview-markdown", web_preview_markdown_cb, 0 },
	{ NULL, NULL, NULL, 0 }
};

static const struct {
	const char	*code;
	const char	*name;	/* in itself */
} web_languages[] = {
	{ "en", "English" },
	{ "fr", "Fran\xc3\xa7" "ais" },
	{ "nl", "Nederlands" },
	{ "de", "Deutsch" },
};
#define WEB_NLANGUAGES (sizeof web_languages / sizeof web_languages[0])

static const char *
web_language_find(const char *code, size_t len)
{
	size_t	i;

	for (i = 0; i < WEB_NLANGUAGES; i++) {
		if (strlen(web_languages[i].code) == len &&
		    strncasecmp(web_languages[i].code, code, len) == 0)
			return (web_languages[i].code);
	}
	return (NULL);
}

/* The best supported language of an Accept-Language header, or NULL. */
static const char *
web_accept_language(const char *h)
{
	const char	*best = NULL, *p, *end, *lang, *q;
	double		 bestq = 0, qv;
	size_t		 len;

	for (p = h; p != NULL && *p != '\0'; p = end) {
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		/* The primary subtag: "nl" of "nl-BE;q=0.8". */
		for (lang = p; lang < p + len && *lang != '-' &&
		    *lang != ';' && *lang != ' '; lang++)
			;
		qv = 1.0;
		q = memchr(p, ';', len);
		if (q != NULL && (q = strstr(q, "q=")) != NULL && q < p + len)
			qv = strtod(q + 2, NULL);
		if (web_language_find(p, lang - p) != NULL && qv > bestq) {
			best = web_language_find(p, lang - p);
			bestq = qv;
		}
		if (end != NULL)
			end++;
	}
	return (best);
}

static const char *
web_cookie(struct req *r, const char *name)
{
	return (MHD_lookup_connection_value(r->mc, MHD_COOKIE_KIND, name));
}

static const char *
web_header(struct req *r, const char *name)
{
	return (MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND, name));
}

/* Set a cookie: HttpOnly, SameSite=Strict, Secure under TLS. */
static void
web_set_cookie(struct web *w, const char *name, const char *value, int max_age)
{
	char	*h;

	xasprintf(&h, "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
	    name, value, max_age, http_config()->tls_cert != NULL ?
	    "; Secure" : "");
	http_add_header(w->r, MHD_HTTP_HEADER_SET_COOKIE, h);
	free(h);
}

static int
web_token_shaped(const char *s, size_t min, size_t max)
{
	size_t	i;

	if (s == NULL)
		return (0);
	for (i = 0; s[i] != '\0'; i++) {
		if (i == max || !((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return (0);
	}
	return (i >= min);
}

/* The catalogue of LANG over the English one (a missing text falls back). */
static json_t *
web_catalogue(const char *lang)
{
	const char	*dir = render_dir(http_config());
	json_t		*en, *v;
	char		*src, *cause = NULL, name[64];

	snprintf(name, sizeof name, "web/i18n/%s.json", "en");
	if ((src = render_read(dir, name, TOCSIN_TEMPLATE_MAX, NULL,
	    &cause)) == NULL) {
		log_error("web: %s", cause);
		free(cause);
		return (json_object());
	}
	en = json_loads(src, 0, NULL);
	free(src);
	if (!json_is_object(en)) {
		log_error("web: %s: not a JSON object", name);
		json_decref(en);
		en = json_object();
	}
	if (strcmp(lang, "en") == 0)
		return (en);
	snprintf(name, sizeof name, "web/i18n/%s.json", lang);
	if ((src = render_read(dir, name, TOCSIN_TEMPLATE_MAX, NULL,
	    &cause)) == NULL) {
		log_error("web: %s", cause);
		free(cause);
		return (en);
	}
	v = json_loads(src, 0, NULL);
	free(src);
	if (json_is_object(v))
		json_object_update(en, v);
	else
		log_error("web: %s: not a JSON object", name);
	json_decref(v);
	return (en);
}

/*
 * Who is asking, in which language: a bearer token (scripts) or the
 * session cookie; else anonymous with a double-submit CSRF cookie.
 */
void
web_begin(struct req *r, struct web *w)
{
	const char	*c, *lang = NULL;

	memset(w, 0, sizeof *w);
	w->r = r;
	if (r->who == NULL) {	/* web_not_found(): before authentication */
		r->who = xcalloc(1, sizeof *r->who);
		r->who->role = ROLE_ANONYMOUS;
	}
	if (r->who->role != ROLE_ANONYMOUS)
		w->signed_in = 1;	/* Authorization: Bearer */
	else if (r->db != NULL && (c = web_cookie(r, WEB_COOKIE_SESSION)) !=
	    NULL && store_web_session_get(r->db, c, &w->session) == 0) {
		principal_clear(r->who);
		*r->who = w->session.who;	/* moved */
		memset(&w->session.who, 0, sizeof w->session.who);
		w->by_session = w->signed_in = 1;
		w->csrf = w->session.csrf;
	}
	if (!w->signed_in) {
		c = web_cookie(r, WEB_COOKIE_CSRF);
		if (web_token_shaped(c, 32, 64))
			w->anon_csrf = xstrdup(c);
		else {
			w->anon_csrf = store_web_random(24);
			web_set_cookie(w, WEB_COOKIE_CSRF, w->anon_csrf,
			    TOCSIN_WEB_SESSION_S);
		}
		w->csrf = w->anon_csrf;
	}
	if (w->signed_in && r->who->language != NULL)
		lang = web_language_find(r->who->language,
		    strlen(r->who->language));
	if (lang == NULL && (c = web_cookie(r, WEB_COOKIE_LANG)) != NULL)
		lang = web_language_find(c, strlen(c));
	if (lang == NULL)
		lang = web_accept_language(web_header(r,
		    MHD_HTTP_HEADER_ACCEPT_LANGUAGE));
	w->lang = lang != NULL ? lang : "en";
	w->t = web_catalogue(w->lang);
}

void
web_end(struct web *w)
{
	store_web_session_clear(&w->session);
	free(w->anon_csrf);
	json_decref(w->t);
	json_decref(w->form);
	memset(w, 0, sizeof *w);
}

/* A fixed text of the page's language; the key itself if none. */
const char *
web_text(struct web *w, const char *key)
{
	const char	*s = json_string_value(json_object_get(w->t, key));

	return (s != NULL ? s : key);
}

/* Where browsers reach the stream (the ws listener, as GET /v1 says). */
char *
web_stream_url(const struct config *cfg)
{
	const char	*ws = cfg->listen_ws, *port, *h, *e;
	char		*url;
	int		 wild;

	if (cfg->public_stream_url != NULL)	/* behind a proxy */
		return (xstrdup(cfg->public_stream_url));
	port = strrchr(ws, ':');
	wild = port == NULL || port == ws || strncmp(ws, "0.0.0.0:", 8) == 0 ||
	    strncmp(ws, "[::]:", 5) == 0 || strncmp(ws, "*:", 2) == 0;
	/*
	 * A listener on every address has no name to give; use
	 * public_url's host with the ws port. Behind a reverse proxy,
	 * public_stream_url says where the stream is.
	 */
	if (wild && port != NULL && (h = strstr(cfg->public_url, "://")) !=
	    NULL) {
		h += 3;
		for (e = h; *e != '\0' && *e != '/' && *e != ':'; e++)
			;
		if (*h == '[')
			e = strchr(h, ']') != NULL ? strchr(h, ']') + 1 : e;
		xasprintf(&url, "%s://%.*s%s/v1/stream", cfg->tls_cert != NULL ?
		    "wss" : "ws", (int)(e - h), h, port);
		return (url);
	}
	xasprintf(&url, "%s://%s/v1/stream", cfg->tls_cert != NULL ? "wss" :
	    "ws", ws);
	return (url);
}

/* The headers every HTML answer carries (CONTRACT: no inline script). */
static void
web_security_headers(struct web *w)
{
	char	*csp, *ws = web_stream_url(http_config());

	xasprintf(&csp, "default-src 'none'; script-src 'self'; style-src "
	    "'self'; img-src 'self'; font-src 'self'; connect-src 'self' %s; "
	    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'", ws);
	http_add_header(w->r, "Content-Security-Policy", csp);
	/*
	 * same-origin, not no-referrer: under no-referrer browsers send
	 * "Origin: null" with our own forms' POSTs, which the Origin check
	 * of web_form() must refuse. Other sites still get no referrer.
	 */
	http_add_header(w->r, "Referrer-Policy", "same-origin");
	http_add_header(w->r, "X-Frame-Options", "DENY");
	http_add_header(w->r, "Cross-Origin-Opener-Policy", "same-origin");
	if (http_config()->tls_cert != NULL)
		http_add_header(w->r, "Strict-Transport-Security",
		    "max-age=31536000");
	free(csp);
	free(ws);
}

/* What every page's layout needs, added to CTX. */
static void
web_layout_context(struct web *w, json_t *ctx, const char *title)
{
	struct principal	*p = w->r->who;
	json_t			*langs, *user;
	size_t			 i;

	json_object_set(ctx, "t", w->t);
	json_object_set_new(ctx, "lang", json_string(w->lang));
	json_object_set_new(ctx, "csrf", json_string(w->csrf != NULL ?
	    w->csrf : ""));
	json_object_set_new(ctx, "title", json_string(title));
	json_object_set_new(ctx, "path", json_string(w->r->path));
	langs = json_array();
	for (i = 0; i < WEB_NLANGUAGES; i++)
		json_array_append_new(langs, json_pack("{s:s, s:s, s:b}",
		    "code", web_languages[i].code, "name",
		    web_languages[i].name, "selected",
		    strcmp(web_languages[i].code, w->lang) == 0));
	json_object_set_new(ctx, "languages", langs);
	if (!w->signed_in)
		return;
	user = json_pack("{s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:I}",
	    "name", w->session.user_name != NULL ? w->session.user_name :
	    role_name(p->role), "role", role_name(p->role),
	    "is_staff", role_is_staff(p->role),
	    "is_admin", p->role == ROLE_ADMIN,
	    "is_publisher", p->role == ROLE_PUBLISHER,
	    "is_org_admin", p->role == ROLE_ORG_ADMIN,
	    "in_org", p->org_id != 0,
	    "org_id", (json_int_t)p->org_id);
	json_object_set_new(user, "role_label", json_string(web_text(w,
	    p->role == ROLE_ADMIN ? "role_admin" :
	    p->role == ROLE_PUBLISHER ? "role_publisher" :
	    p->role == ROLE_ORG_ADMIN ? "role_org_admin" : "role_member")));
	json_object_set_new(ctx, "user", user);
}

/* Render "web/TMPL" into the layout and answer with it; CTX is stolen. */
void
web_page(struct web *w, unsigned status, const char *tmpl,
    const char *title_key, json_t *ctx)
{
	const char	*dir = render_dir(http_config());
	char		*name, *content = NULL, *out = NULL, *cause = NULL;
	size_t		 len;

	if (ctx == NULL)
		ctx = json_object();
	web_layout_context(w, ctx, web_text(w, title_key));
	xasprintf(&name, "web/%s", tmpl);
	if (render_file(dir, name, ctx, NULL, &content, NULL, &cause) != 0 ||
	    (json_object_set_new(ctx, "content", json_string(content)),
	    render_file(dir, "web/layout.html", ctx, NULL, &out, &len,
	    &cause)) != 0) {
		log_error("web: %s", cause);
		free(cause);
		http_reply_text(w->r, 500, "text/plain; charset=utf-8",
		    "The page could not be made; the log says why.\n");
	} else
		http_reply_data(w->r, status, "text/html; charset=utf-8", out,
		    len);
	web_security_headers(w);
	free(content);
	free(name);
	json_decref(ctx);
}

/* A page with a heading and a sentence (errors, refusals). */
void
web_message_page(struct web *w, unsigned status, const char *title_key,
    const char *text_key)
{
	web_page(w, status, "message.html", title_key, json_pack("{s:s, s:s}",
	    "heading", web_text(w, title_key), "message",
	    web_text(w, text_key)));
}

/* 303 to a path of ours. */
void
web_redirect(struct web *w, const char *location)
{
	free(w->r->out_location);
	w->r->out_location = xstrdup(location);
	http_reply_text(w->r, 303, "text/html; charset=utf-8",
	    "<!DOCTYPE html><title>See other</title>\n");
	web_security_headers(w);
}

/* A local path to go back to (never another site: "//host" is refused). */
static const char *
web_local_path(const char *p, const char *dflt)
{
	if (p == NULL || p[0] != '/' || p[1] == '/' || p[1] == '\\' ||
	    strlen(p) > 512 || strpbrk(p, "\r\n") != NULL)
		return (dflt);
	return (p);
}

int
web_require(struct web *w, unsigned roles)
{
	char	*loc;

	if (!w->signed_in) {
		char *enc = web_urlencode(w->r->path);

		xasprintf(&loc, "/signin?next=%s", enc);
		web_redirect(w, loc);
		free(enc);
		free(loc);
		return (0);
	}
	if (!(roles & ROLEBIT(w->r->who->role))) {
		web_message_page(w, 403, "forbidden_title", "forbidden_text");
		return (0);
	}
	return (1);
}

static int
web_hex(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Decode one x-www-form-urlencoded component into a new string. */
static char *
web_urldecode(const char *s, size_t n, size_t *outlen)
{
	char	*out = xmalloc(n + 1);
	size_t	 i, j = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '+')
			out[j++] = ' ';
		else if (i + 5 < n && strncmp(s + i, "%0D%0A", 6) == 0) {
			out[j++] = '\n';	/* browsers send CRLF lines */
			i += 5;
		}
		else if (s[i] == '%' && i + 2 < n && web_hex(s[i + 1]) >= 0 &&
		    web_hex(s[i + 2]) >= 0) {
			out[j++] = (char)(web_hex(s[i + 1]) * 16 +
			    web_hex(s[i + 2]));
			i += 2;
		} else
			out[j++] = s[i];
	}
	out[j] = '\0';
	*outlen = j;
	return (out);
}

/* Parse a form body into name -> [values]; -1 if it is not one. */
static int
web_parse_form(const char *body, size_t len, json_t **out)
{
	json_t		*form = json_object(), *arr, *v;
	const char	*p = body, *end = body + len, *amp, *eq;
	char		*name, *value;
	size_t		 nl, vl;

	while (p < end) {
		amp = memchr(p, '&', end - p);
		if (amp == NULL)
			amp = end;
		if (amp == p) {
			p = amp + 1;
			continue;
		}
		eq = memchr(p, '=', amp - p);
		if (eq == NULL)
			eq = amp;
		name = web_urldecode(p, eq - p, &nl);
		if (eq < amp)
			value = web_urldecode(eq + 1, amp - eq - 1, &vl);
		else {
			value = xstrdup("");
			vl = 0;
		}
		/* jansson refuses invalid UTF-8, and so do we. */
		v = json_stringn(value, vl);
		if (nl == 0 || strlen(name) != nl || v == NULL ||
		    strlen(value) != vl) {
			json_decref(v);
			free(name);
			free(value);
			json_decref(form);
			return (-1);
		}
		if ((arr = json_object_get(form, name)) == NULL) {
			arr = json_array();
			json_object_set_new(form, name, arr);
		}
		json_array_append_new(arr, v);
		free(name);
		free(value);
		p = amp + 1;
	}
	*out = form;
	return (0);
}

/* Is the request from our own pages (Origin, when the browser sends it)? */
static int
web_same_origin(struct web *w)
{
	const char	*origin = web_header(w->r, "Origin");
	const char	*host = web_header(w->r, MHD_HTTP_HEADER_HOST);
	const char	*o;

	if (origin == NULL)
		return (1);
	if (host == NULL || (o = strstr(origin, "://")) == NULL)
		return (0);
	return (strcmp(o + 3, host) == 0);
}

static int
web_csrf_equal(const char *a, const char *b)
{
	size_t	n;

	if (a == NULL || b == NULL || (n = strlen(a)) != strlen(b) || n == 0)
		return (0);
	return (token_equal((const unsigned char *)a,
	    (const unsigned char *)b, n));
}

/* A bearer token is no ambient credential: no CSRF to fear. */
static int
web_by_bearer(struct web *w)
{
	return (w->signed_in && !w->by_session);
}

int
web_form(struct web *w)
{
	const char	*ct = web_header(w->r, MHD_HTTP_HEADER_CONTENT_TYPE);

	if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded",
	    33) != 0 || web_parse_form(w->r->body != NULL ? w->r->body : "",
	    w->r->body_len, &w->form) != 0) {
		web_message_page(w, 400, "bad_request_title",
		    "bad_request_text");
		return (-1);
	}
	if (web_by_bearer(w))
		return (0);
	if (!web_same_origin(w) || !web_csrf_equal(web_form_get(w, "csrf"),
	    w->csrf)) {
		log_info("web: %s %s refused: CSRF token missing or wrong",
		    w->r->method, w->r->path);
		web_message_page(w, 403, "csrf_title", "csrf_text");
		return (-1);
	}
	return (0);
}

/* The first value of a form field, or NULL. */
const char *
web_form_get(struct web *w, const char *name)
{
	return (json_string_value(json_array_get(json_object_get(w->form,
	    name), 0)));
}

/* Every value of a form field that is not empty (a new array). */
json_t *
web_form_all(struct web *w, const char *name)
{
	json_t	*out = json_array(), *v;
	size_t	 i;

	json_array_foreach(json_object_get(w->form, name), i, v) {
		if (json_string_length(v) > 0)
			json_array_append(out, v);
	}
	return (out);
}

/* A text field split on newlines and commas, trimmed (a new array). */
json_t *
web_form_lines(struct web *w, const char *name)
{
	const char	*s = web_form_get(w, name), *p, *e;
	json_t		*out = json_array();
	size_t		 n;

	for (p = s; p != NULL && *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, "\r\n,");
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		n = e - p;
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0)
			json_array_append_new(out, json_stringn(p, n));
	}
	return (out);
}

/* The scripts' endpoints: the session and the X-CSRF-Token header. */
int
web_check_csrf_header(struct web *w)
{
	if (web_by_bearer(w))
		return (1);
	if (!w->by_session) {
		http_problem(w->r, 401, NULL, "sign in first");
		return (0);
	}
	if (!web_same_origin(w) || !web_csrf_equal(web_header(w->r,
	    "X-CSRF-Token"), w->csrf)) {
		http_problem(w->r, 403, NULL, "the X-CSRF-Token header is "
		    "missing or wrong");
		return (0);
	}
	return (1);
}

/* S for a query string (RFC 3986 unreserved kept); the caller frees. */
char *
web_urlencode(const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			*out = xmalloc(3 * strlen(s) + 1), *o = out;
	unsigned char		 c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~')
			*o++ = (char)c;
		else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return (out);
}

/* Paths a person's browser asks for: everything but the API's. */
int
web_owns_path(const char *path)
{
	return (strncmp(path, "/v1/", 4) != 0 && strcmp(path, "/v1") != 0 &&
	    strcmp(path, "/healthz") != 0 && strcmp(path, "/metrics") != 0);
}

/* A page for a path nothing serves (outside /v1: a person is asking). */
void
web_not_found(struct req *r)
{
	struct web	w;

	web_begin(r, &w);
	web_message_page(&w, 404, "not_found_title", "not_found_text");
	web_end(&w);
}

/* The problem's detail, or nothing (a new string value). */
json_t *
web_problem_text(json_t *answer)
{
	const char	*d = json_string_value(json_object_get(answer,
	    "detail"));

	return (json_string(d != NULL ? d : "?"));
}

/*
 * Run METHOD PATH (no body) as the signed-in user; when it answers OK or
 * ALSO (0: none), go to the page TO, else show the refusal.
 */
void
web_action(struct web *w, const char *method, const char *path,
    const char *to, unsigned ok, unsigned also)
{
	json_t		*answer = NULL;
	unsigned	 status;

	status = http_call(w->r, method, path, NULL, NULL, &answer);
	if (status == ok || (also != 0 && status == also))
		web_redirect(w, to);
	else
		web_refused_page(w, status, answer);
	json_decref(answer);
}

/* A REST route refused an action with STATUS and ANSWER: 404 as a page
 * that is not there, anything else as its problem's detail. */
void
web_refused_page(struct web *w, unsigned status, json_t *answer)
{
	if (status == 404)
		web_message_page(w, 404, "not_found_title", "not_found_text");
	else
		web_page(w, status, "message.html", "error_title", json_pack(
		    "{s:s, s:o}", "heading", web_text(w, "error_title"),
		    "message", web_problem_text(answer)));
}

static const struct {
	const char	*ext;
	const char	*type;
} web_types[] = {
	{ ".css", "text/css; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".woff2", "font/woff2" },
	{ ".json", "application/json" },
	{ ".txt", "text/plain; charset=utf-8" },
};

/* GET /static/NAME: a file of templates/web/static/, by its type. */
static void
web_static_cb(struct req *r)
{
	const char	*name = r->params[0], *type = NULL, *ext;
	char		*path, *buf, *cause = NULL;
	size_t		 i, len;

	ext = strrchr(name, '.');
	for (i = 0; ext != NULL && i < sizeof web_types / sizeof web_types[0];
	    i++) {
		if (strcmp(ext, web_types[i].ext) == 0)
			type = web_types[i].type;
	}
	if (type == NULL || !render_name_ok(name) || name[0] == '.') {
		web_not_found(r);
		return;
	}
	xasprintf(&path, "web/static/%s", name);
	buf = render_read(render_dir(http_config()), path,
	    TOCSIN_WEB_STATIC_MAX, &len, &cause);
	free(path);
	if (buf == NULL) {
		log_debug("web: %s", cause);
		free(cause);
		web_not_found(r);
		return;
	}
	http_reply_data(r, 200, type, buf, len);
}

static void
web_signin_page(struct web *w, unsigned status, const char *next,
    const char *error_key)
{
	json_t	*ctx = json_pack("{s:s}", "next", web_local_path(next, ""));

	if (error_key != NULL)
		json_object_set_new(ctx, "error", json_string(web_text(w,
		    error_key)));
	if (mail_enabled())
		json_object_set_new(ctx, "link", json_true());
	web_page(w, status, "signin.html", "signin_title", ctx);
}

/* Where a signed-in person starts. */
static const char *
web_home(struct web *w)
{
	return (role_is_staff(w->r->who->role) ? "/publish" : "/live");
}

static void
web_signin_form_cb(struct req *r)
{
	struct web	w;

	web_begin(r, &w);
	if (w.signed_in)
		web_redirect(&w, web_local_path(http_query(r, "next"),
		    web_home(&w)));
	else
		web_signin_page(&w, 200, http_query(r, "next"), NULL);
	web_end(&w);
}

/*
 * Within the caller's open transaction: P's session and its audit entry
 * (sign-in VIA "web" or "link"), committed together or neither; then the
 * cookie and the redirect to NEXT, or a 503 page. P is taken.
 */
static void
web_signin_commit(struct web *w, struct principal *p, const char *via,
    const char *next)
{
	struct req	*r = w->r;
	char		*id = NULL, *csrf = NULL;

	if (store_web_session_create(r->db, p->user_id, TOCSIN_WEB_SESSION_S,
	    &id, &csrf) != 0 ||
	    audit_record_id(r->db, p->user_id, "auth.sign_in", "user",
	    p->user_id, json_pack("{s:s}", "via", via)) != 0 ||
	    db_commit(r->db) != 0) {
		db_rollback(r->db);
		free(id);
		free(csrf);
		principal_clear(p);
		web_message_page(w, 503, "unavailable_title",
		    "unavailable_text");
		return;
	}
	log_info("web: user %lld signed in (%s)", (long long)p->user_id, via);
	web_set_cookie(w, WEB_COOKIE_SESSION, id, TOCSIN_WEB_SESSION_S);
	/* The page's principal from now on, for where it goes next. */
	principal_clear(r->who);
	*r->who = *p;
	memset(p, 0, sizeof *p);
	w->signed_in = 1;
	web_redirect(w, web_local_path(next, web_home(w)));
	free(id);
	free(csrf);
}

/* POST /signin: an API token for a session cookie. */
static void
web_signin_cb(struct req *r)
{
	struct web		 w;
	struct principal	 p;
	const char		*token, *next;
	int			 rc;

	web_begin(r, &w);
	if (web_form(&w) != 0)
		goto out;
	token = web_form_get(&w, "token");
	next = web_form_get(&w, "next");
	memset(&p, 0, sizeof p);
	rc = token != NULL ? auth_principal_by_token(r->db, token, &p) : -1;
	if (rc == -2) {
		web_message_page(&w, 503, "unavailable_title",
		    "unavailable_text");
		goto out;
	}
	if (rc != 0) {
		log_info("web: sign-in refused (unknown or revoked token)");
		web_signin_page(&w, 401, next, "signin_bad_token");
		goto out;
	}
	/* The session and its audit entry commit together, or neither. */
	if (db_begin(r->db) != 0) {
		principal_clear(&p);
		web_message_page(&w, 503, "unavailable_title",
		    "unavailable_text");
		goto out;
	}
	web_signin_commit(&w, &p, "web", next);
out:
	web_end(&w);
}

/* A sign-in link lasts this long, its mail may take this long, and a
 * user gets at most one in this many seconds. */
#define WEB_LINK_TTL_S		(15 * 60)
#define WEB_LINK_SMTP_S		10
#define WEB_LINK_EVERY_S	60
#define WEB_LINK_TOKEN_MAX	64

/* A sign-in mail on its way, owned by the thread that sends it. */
struct web_link_mail {
	int64_t	 user;
	char	*addr;
	char	*subject;
	char	*text;
};

/*
 * Send one sign-in mail, off the request's thread: the answer to
 * POST /signin/link must not take longer for a known address (the relay's
 * round trip) than for an unknown one.
 */
static void *
web_link_mail_main(void *arg)
{
	struct web_link_mail	*m = arg;
	char			*cause = NULL;

	if (mail_send_text(m->addr, m->subject, m->text, WEB_LINK_SMTP_S,
	    &cause) != 0) {
		log_warn("web: user %lld: sign-in link not sent: %s",
		    (long long)m->user, cause);
		free(cause);
	} else
		log_info("web: user %lld: sign-in link sent",
		    (long long)m->user);
	OPENSSL_cleanse(m->text, strlen(m->text));
	free(m->text);
	free(m->subject);
	free(m->addr);
	free(m);
	return (NULL);
}

/* Mail a sign-in link to user USER at ADDR, in the page's language. */
static void
web_link_send(struct web *w, int64_t user, const char *addr)
{
	const struct config	*cfg = http_config();
	struct web_link_mail	*m;
	pthread_attr_t		 attr;
	pthread_t		 t;
	char			*token = NULL;
	int			 rc;

	rc = store_web_link_create(w->r->db, user, WEB_LINK_TTL_S,
	    WEB_LINK_EVERY_S, &token);
	if (rc == 1) {
		log_info("web: user %lld: sign-in link refused: one was made "
		    "less than %d s ago", (long long)user, WEB_LINK_EVERY_S);
		return;
	}
	if (rc != 0) {
		log_error("web: user %lld: no sign-in link (database)",
		    (long long)user);
		return;
	}
	m = xcalloc(1, sizeof *m);
	m->user = user;
	m->addr = xstrdup(addr);
	m->subject = xstrdup(web_text(w, "signin_mail_subject"));
	xasprintf(&m->text, "%s\n\n%s/signin/link?t=%s\n\n%s\n",
	    web_text(w, "signin_mail_text"), cfg->public_url, token,
	    web_text(w, "signin_mail_ignore"));
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, web_link_mail_main, m) != 0) {
		log_warn("web: user %lld: sign-in link sent in the request",
		    (long long)user);
		web_link_mail_main(m);
	}
	pthread_attr_destroy(&attr);
}

/*
 * POST /signin/link: mail a one-time sign-in link to the active user(s)
 * with this address. The answer is the same whether or not the address
 * is known, so the form tells no one which addresses exist.
 */
static void
web_link_request_cb(struct req *r)
{
	struct web	 w;
	PGresult	*res;
	const char	*addr, *params[1];
	int		 i;

	web_begin(r, &w);
	if (web_form(&w) != 0)
		goto out;
	addr = web_form_get(&w, "email");
	if (mail_enabled() && addr != NULL && mail_address_ok(addr)) {
		params[0] = addr;
		res = db_exec(r->db, "SELECT u.id, u.email FROM users u "
		    "LEFT JOIN organisations o ON o.id = u.organisation_id "
		    "WHERE u.active AND u.email IS NOT NULL AND "
		    "lower(u.email) = lower($1) AND (o.id IS NULL OR o.active) "
		    "ORDER BY u.id LIMIT 8", 1, params);
		for (i = 0; res != NULL && i < PQntuples(res); i++)
			web_link_send(&w, strtoll(PQgetvalue(res, i, 0), NULL,
			    10), PQgetvalue(res, i, 1));
		if (res != NULL)
			PQclear(res);
		else
			log_error("web: sign-in link: the users could not be "
			    "read");
	}
	web_message_page(&w, 200, "signin_link_sent_title",
	    "signin_link_sent_text");
out:
	web_end(&w);
}

/*
 * GET /signin/link?t=TOKEN: a page whose button spends the link (POST),
 * so that mail scanners fetching the link do not consume it.
 */
static void
web_link_form_cb(struct req *r)
{
	struct web	 w;
	const char	*t = http_query(r, "t");

	web_begin(r, &w);
	if (t == NULL || *t == '\0' || strlen(t) > WEB_LINK_TOKEN_MAX)
		web_message_page(&w, 403, "signin_link_bad_title",
		    "signin_link_bad_text");
	else
		web_page(&w, 200, "signin_link.html", "signin_link_title",
		    json_pack("{s:s}", "link_token", t));
	web_end(&w);
}

/* POST /signin/link/confirm: spend the link for a session cookie. */
static void
web_link_confirm_cb(struct req *r)
{
	struct web		 w;
	struct principal	 p;
	const char		*t;
	int64_t			 user = 0;
	int			 rc;

	web_begin(r, &w);
	if (web_form(&w) != 0)
		goto out;
	t = web_form_get(&w, "t");
	memset(&p, 0, sizeof p);
	if (t == NULL || *t == '\0' || strlen(t) > WEB_LINK_TOKEN_MAX) {
		web_message_page(&w, 403, "signin_link_bad_title",
		    "signin_link_bad_text");
		goto out;
	}
	/* Spending the link, the session and its audit entry: one commit. */
	if (db_begin(r->db) != 0) {
		web_message_page(&w, 503, "unavailable_title",
		    "unavailable_text");
		goto out;
	}
	rc = store_web_link_use(r->db, t, &user);
	if (rc == 0) {
		rc = auth_principal_by_user(r->db, user, &p);
		if (rc == 0 && p.org_id != 0 && !p.org_active) {
			principal_clear(&p);
			rc = -1;
		}
	}
	if (rc != 0) {
		db_rollback(r->db);
		if (rc == -2)
			web_message_page(&w, 503, "unavailable_title",
			    "unavailable_text");
		else {
			log_info("web: sign-in link refused (unknown, used or "
			    "expired)");
			web_message_page(&w, 403, "signin_link_bad_title",
			    "signin_link_bad_text");
		}
		goto out;
	}
	web_signin_commit(&w, &p, "link", NULL);
out:
	web_end(&w);
}

static void
web_signout_cb(struct req *r)
{
	struct web	w;

	web_begin(r, &w);
	if (web_form(&w) != 0)
		goto out;
	if (w.by_session) {
		if (store_web_session_delete(r->db, &w.session) != 0) {
			web_message_page(&w, 503, "unavailable_title",
			    "unavailable_text");
			goto out;
		}
		log_info("web: user %lld signed out",
		    (long long)w.session.user_id);
	}
	web_set_cookie(&w, WEB_COOKIE_SESSION, "", 0);
	web_redirect(&w, "/");
out:
	web_end(&w);
}

/* POST /language: the user's setting when signed in, else a cookie. */
static void
web_language_cb(struct req *r)
{
	struct web	 w;
	struct user	 u;
	const char	*lang, *code;

	web_begin(r, &w);
	if (web_form(&w) != 0)
		goto out;
	lang = web_form_get(&w, "lang");
	if (lang == NULL || (code = web_language_find(lang, strlen(lang))) ==
	    NULL) {
		web_message_page(&w, 400, "bad_request_title",
		    "bad_request_text");
		goto out;
	}
	if (w.by_session) {
		if (db_begin(r->db) != 0 ||
		    store_users_get(r->db, w.session.user_id, 1, &u) != 0) {
			db_rollback(r->db);
			web_message_page(&w, 503, "unavailable_title",
			    "unavailable_text");
			goto out;
		}
		free(u.language);
		u.language = xstrdup(code);
		if (store_users_update(r->db, &u) != 0 ||
		    db_commit(r->db) != 0) {
			db_rollback(r->db);
			store_users_clear(&u);
			web_message_page(&w, 503, "unavailable_title",
			    "unavailable_text");
			goto out;
		}
		store_users_clear(&u);
	}
	web_set_cookie(&w, WEB_COOKIE_LANG, code, WEB_LANG_COOKIE_S);
	web_redirect(&w, web_local_path(web_form_get(&w, "back"), "/"));
out:
	web_end(&w);
}

/* POST /web/stream-ticket: a single-use credential for the live page. */
static void
web_ticket_cb(struct req *r)
{
	struct web	 w;
	char		*ticket, *url;

	web_begin(r, &w);
	if (!web_check_csrf_header(&w))
		goto out;
	if (!w.by_session) {
		http_problem(r, 401, NULL, "a stream ticket needs a session");
		goto out;
	}
	if (store_web_ticket_create(r->db, &w.session, TOCSIN_WEB_TICKET_S,
	    &ticket) != 0) {
		api_db_failed(r);
		goto out;
	}
	url = web_stream_url(http_config());
	http_reply_json(r, 200, json_pack("{s:s, s:s, s:i}", "ticket", ticket,
	    "stream_url", url, "expires_in", TOCSIN_WEB_TICKET_S));
	explicit_bzero(ticket, strlen(ticket));
	free(ticket);
	free(url);
out:
	web_end(&w);
}

/* The scripts' JSON body, or NULL after answering. */
static json_t *
web_json_body(struct web *w)
{
	if (!web_check_csrf_header(w))
		return (NULL);
	if (!role_is_staff(w->r->who->role)) {
		http_problem(w->r, 403, NULL, "for CSIRT staff");
		return (NULL);
	}
	return (http_json_body(w->r));
}

/* POST /web/preview-audience: the REST preview, for the session. */
static void
web_preview_audience_cb(struct req *r)
{
	struct web	 w;
	json_t		*body, *answer = NULL;
	unsigned	 status;

	web_begin(r, &w);
	if ((body = web_json_body(&w)) != NULL) {
		status = http_call(r, "POST", "/v1/advisories/preview-audience",
		    NULL, body, &answer);
		if (answer == NULL)
			answer = json_object();
		http_reply_json(r, status, answer);
		if (status != 200)
			r->out_type = "application/problem+json";
		json_decref(body);
	}
	web_end(&w);
}

/* POST /web/preview-markdown {"markdown"}: {"html"} as pages show it. */
static void
web_preview_markdown_cb(struct req *r)
{
	struct web	 w;
	json_t		*body;
	const char	*md;
	char		*html;

	web_begin(r, &w);
	if ((body = web_json_body(&w)) != NULL) {
		if ((md = json_string_value(json_object_get(body, "markdown")))
		    == NULL)
			http_problem(r, 422, "markdown", "markdown: must be a "
			    "string");
		else {
			html = render_markdown(md, strlen(md));
			http_reply_json(r, 200, json_pack("{s:s}", "html",
			    html));
			free(html);
		}
		json_decref(body);
	}
	web_end(&w);
}
