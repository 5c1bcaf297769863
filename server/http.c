/*
 * http.c: the REST listener. libmicrohttpd runs a pool of threads; each
 * request's body is collected (bounded by limits.max_body_bytes), its bearer
 * token turned into a principal, a database connection taken from the pool,
 * and the one handler of the routing table called. Every error answer is
 * application/problem+json built from one table (http_problems).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <microhttpd.h>

#include "tocsind.h"

/* One table maps an HTTP failure to its problem type and title. */
static const struct http_problem {
	unsigned	 status;
	const char	*slug;
	const char	*title;
} http_problems[] = {
	{ 400, "malformed-json", "Malformed request" },
	{ 401, "unauthorized", "Authentication required" },
	{ 403, "forbidden", "Not allowed for this role" },
	{ 404, "not-found", "Not found" },
	{ 405, "method-not-allowed", "Method not allowed" },
	{ 409, "conflict", "Conflict with the current state" },
	{ 413, "body-too-large", "Request body too large" },
	{ 415, "unsupported-media-type", "Body must be application/json" },
	{ 422, "invalid-field", "Invalid field" },
	{ 429, "rate-limited", "Too many requests" },
	{ 500, "internal", "Internal error" },
	{ 503, "database-unavailable", "Database unavailable" },
};

static const struct route *const http_tables[] = {
	api_health_routes,
	api_organisations_routes,
	api_users_routes,
	api_tokens_routes,
	api_advisories_routes,
	api_subscriptions_routes,
	api_webhooks_routes,
	api_deliveries_routes,
	api_assets_routes,
	api_warnings_routes,
	api_unsubscribe_routes,
	api_metrics_routes,		/* metrics.c */
	api_audit_routes,
	/* The web (web*.c) and the REST it needs of its own. */
	api_audience_routes,
	web_routes,
	web_public_routes,
	web_portal_routes,
	web_staff_routes,
};

static int	http_route(struct req *, const struct route **, char *, size_t);
static void	http_req_free(struct req *);

/* Per-request state kept by libmicrohttpd between calls. */
struct http_state {
	char	*body;
	size_t	 len;
	int	 too_big;
};

static struct MHD_Daemon	*http_daemon;
static int			 http_listen_fd = -1;	/* http_listen() */
static size_t			 http_max_body;
static const struct config	*http_cfg;

/* The configuration in force. */
const struct config *
http_config(void)
{
	return (http_cfg);
}

/* Swap the configuration (SIGHUP); the old one is the caller's to keep. */
void
http_set_config(const struct config *cfg)
{
	http_cfg = cfg;
}

static const struct http_problem *
http_problem_find(unsigned status)
{
	size_t	i;

	for (i = 0; i < sizeof http_problems / sizeof http_problems[0]; i++) {
		if (http_problems[i].status == status)
			return (&http_problems[i]);
	}
	return (&http_problems[10]);	/* internal */
}

/* Reply with a JSON value (stolen). */
void
http_reply_json(struct req *r, unsigned status, json_t *v)
{
	free(r->out);
	r->out = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII |
	    JSON_REAL_PRECISION(15));
	json_decref(v);
	r->out_len = r->out != NULL ? strlen(r->out) : 0;
	r->out_type = "application/json";
	r->status = status;
	r->answered = 1;
}

/* Reply with text of the given content type. */
void
http_reply_text(struct req *r, unsigned status, const char *type,
    const char *text)
{
	free(r->out);
	r->out = xstrdup(text);
	r->out_len = strlen(text);
	r->out_type = type;
	r->status = status;
	r->answered = 1;
}

/* Reply with RFC 9457 problem+json; FIELD (may be NULL) names the member. */
void
http_problem(struct req *r, unsigned status, const char *field,
    const char *fmt, ...)
{
	const struct http_problem	*p = http_problem_find(status);
	json_t				*v;
	char				*detail, *type;
	va_list				 ap;

	va_start(ap, fmt);
	xvasprintf(&detail, fmt, ap);
	va_end(ap);
	xasprintf(&type, "/problems/%s", p->slug);
	v = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", p->title,
	    "status", (int)status, "detail", detail);
	if (field != NULL)
		json_object_set_new(v, "field", json_string(field));
	free(type);
	free(detail);
	http_reply_json(r, status, v);
	r->out_type = "application/problem+json";
}

/* A query-string argument, or NULL. */
const char *
http_query(struct req *r, const char *key)
{
	const char *const	*q;

	if (r->query_in != NULL) {	/* http_call() */
		for (q = r->query_in; q[0] != NULL; q += 2) {
			if (strcmp(q[0], key) == 0)
				return (q[1]);
		}
		return (NULL);
	}
	return (MHD_lookup_connection_value(r->mc, MHD_GET_ARGUMENT_KIND, key));
}

/* A positive integer id, or 0. */
int64_t
http_parse_id(const char *s)
{
	char		*end;
	long long	 v;

	if (s == NULL || *s < '1' || *s > '9')
		return (0);
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v <= 0 || v == LLONG_MAX)
		return (0);
	return (v);
}

/* Another header on the answer (the web's security headers, cookies). */
void
http_add_header(struct req *r, const char *name, const char *value)
{
	if (r->n_out_hdrs == HTTP_MAX_HEADERS)
		fatalx("http_add_header: more than %d headers", HTTP_MAX_HEADERS);
	r->out_hdrs[r->n_out_hdrs][0] = xstrdup(name);
	r->out_hdrs[r->n_out_hdrs][1] = xstrdup(value);
	r->n_out_hdrs++;
}

/* Reply with LEN bytes of BUF (stolen) of the given content type. */
void
http_reply_data(struct req *r, unsigned status, const char *type, char *buf,
    size_t len)
{
	free(r->out);
	r->out = buf;
	r->out_len = len;
	r->out_type = type;
	r->status = status;
	r->answered = 1;
}

/*
 * Run the REST route METHOD PATH in-process, as R's principal on R's
 * database connection, with BODY (borrowed; NULL: none) and QUERY (key,
 * value, ..., NULL) instead of the connection's: the web's forms reuse
 * the API's rules and validation this way. Returns the status; *answer is
 * the parsed JSON answer (a problem on failure) or NULL.
 */
unsigned
http_call(struct req *r, const char *method, const char *path,
    const char *const *query, json_t *body, json_t **answer)
{
	static const char *const none[] = { NULL };
	struct req		 sub;
	const struct route	*rt = NULL;
	char			 allow[128];
	unsigned		 status;

	memset(&sub, 0, sizeof sub);
	sub.mc = r->mc;
	sub.method = method;
	sub.path = path;
	sub.who = r->who;
	sub.db = r->db;
	sub.json_in = body;
	sub.query_in = query != NULL ? query : none;
	sub.body = body != NULL ? "{}" : NULL;	/* "is there a body?" */
	sub.body_len = body != NULL ? 2 : 0;
	switch (http_route(&sub, &rt, allow, sizeof allow)) {
	case 0:
		if (sub.db == NULL && !(rt->flags & HTTP_ROUTE_NO_DB))
			http_problem(&sub, 503, NULL, "PostgreSQL is "
			    "unreachable");
		else
			rt->cb(&sub);
		break;
	case -1:
		http_problem(&sub, 404, NULL, "no resource at %s", path);
		break;
	default:
		http_problem(&sub, 405, NULL, "%s is not allowed here",
		    method);
	}
	if (!sub.answered)
		http_problem(&sub, 500, NULL, "the handler gave no answer");
	status = sub.status;
	*answer = sub.out != NULL ? json_loadb(sub.out, sub.out_len, 0, NULL) :
	    NULL;
	sub.who = NULL;		/* R's */
	http_req_free(&sub);
	return (status);
}

/* The parsed JSON object body, or NULL after replying 400/415. */
json_t *
http_json_body(struct req *r)
{
	const char	*ct;
	json_t		*v;
	json_error_t	 err;

	if (r->json_in != NULL)		/* http_call() */
		return (json_incref(r->json_in));
	ct = MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
		http_problem(r, 415, NULL, "send the body as application/json");
		return (NULL);
	}
	if (r->body_len == 0) {
		http_problem(r, 400, NULL, "a JSON object body is required");
		return (NULL);
	}
	v = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err);
	if (v == NULL) {
		http_problem(r, 400, NULL, "malformed JSON at line %d, column "
		    "%d: %s", err.line, err.column, err.text);
		return (NULL);
	}
	if (!json_is_object(v)) {
		json_decref(v);
		http_problem(r, 400, NULL, "the body must be a JSON object");
		return (NULL);
	}
	return (v);
}

/* 1 if the caller has one of ROLES; else answer 401 or 403 and 0. */
int
http_require_roles(struct req *r, unsigned roles)
{
	if (roles & ROLEBIT(r->who->role))
		return (1);
	if (r->who->role == ROLE_ANONYMOUS)
		http_problem(r, 401, NULL, "send Authorization: Bearer <token>");
	else
		http_problem(r, 403, NULL, "the %s role may not do this",
		    role_name(r->who->role));
	return (0);
}

/* Does PATH match PATTERN ('*' = one segment)? Fill r->params. */
static int
http_match(const char *pattern, const char *path, struct req *r)
{
	const char	*p = pattern, *s = path, *end;

	r->n_params = 0;
	while (*p != '\0' && *s != '\0') {
		if (*p == '*') {
			end = strchr(s, '/');
			if (end == NULL)
				end = s + strlen(s);
			if (end == s || r->n_params == HTTP_MAX_PARAMS)
				return (0);
			r->params[r->n_params++] = xstrndup(s, end - s);
			s = end;
			p++;
			continue;
		}
		if (*p != *s)
			return (0);
		p++;
		s++;
	}
	return (*p == '\0' && *s == '\0');
}

static void
http_params_free(struct req *r)
{
	size_t	i;

	for (i = 0; i < r->n_params; i++) {
		free(r->params[i]);
		r->params[i] = NULL;
	}
	r->n_params = 0;
}

/* Find the route; 0 found, -1 no path, -2 path but not this method. */
static int
http_route(struct req *r, const struct route **found, char *allow,
    size_t allowlen)
{
	const struct route	*rt;
	size_t			 i;
	int			 path_seen = 0;

	*allow = '\0';
	for (i = 0; i < sizeof http_tables / sizeof http_tables[0]; i++) {
		for (rt = http_tables[i]; rt->pattern != NULL; rt++) {
			if (!http_match(rt->pattern, r->path, r)) {
				http_params_free(r);
				continue;
			}
			if (strcmp(rt->method, r->method) == 0) {
				*found = rt;
				return (0);
			}
			http_params_free(r);
			path_seen = 1;
			if (strstr(allow, rt->method) == NULL) {
				size_t used = strlen(allow);
				snprintf(allow + used, allowlen - used, "%s%s",
				    used != 0 ? ", " : "", rt->method);
			}
		}
	}
	return (path_seen ? -2 : -1);
}

/* Fill r->who from the Authorization header; 0, or -1 after answering. */
static int
http_authenticate(struct req *r)
{
	const char	*h;
	int		 rc;

	r->who = xcalloc(1, sizeof *r->who);
	r->who->role = ROLE_ANONYMOUS;
	h = MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (h == NULL)
		return (0);
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		http_problem(r, 401, NULL, "use Authorization: Bearer <token>");
		return (-1);
	}
	h += 7;
	while (*h == ' ')
		h++;
	if (r->db == NULL) {
		http_problem(r, 503, NULL, "PostgreSQL is unreachable");
		return (-1);
	}
	rc = auth_principal_by_token(r->db, h, r->who);
	if (rc == -2) {
		http_problem(r, 503, NULL, "PostgreSQL is unreachable");
		return (-1);
	}
	if (rc != 0) {
		http_problem(r, 401, NULL, "the token is unknown or revoked");
		return (-1);
	}
	return (0);
}

static void
http_req_free(struct req *r)
{
	http_params_free(r);
	if (r->who != NULL) {
		principal_clear(r->who);
		free(r->who);
	}
	free(r->out);
	free(r->out_location);
	while (r->n_out_hdrs > 0) {
		r->n_out_hdrs--;
		free(r->out_hdrs[r->n_out_hdrs][0]);
		free(r->out_hdrs[r->n_out_hdrs][1]);
	}
}

/* Queue the answer held in R on the connection. */
static enum MHD_Result
http_send(struct MHD_Connection *mc, struct req *r, const char *allow)
{
	struct MHD_Response	*resp;
	enum MHD_Result		 ret;

	if (!r->answered)
		http_problem(r, 500, NULL, "the handler gave no answer");
	resp = MHD_create_response_from_buffer(r->out_len, r->out,
	    MHD_RESPMEM_MUST_FREE);
	r->out = NULL;
	if (resp == NULL)
		return (MHD_NO);
	if (r->out_type != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    r->out_type);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	if (allow != NULL && *allow != '\0')
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (r->out_location != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION,
		    r->out_location);
	for (size_t i = 0; i < r->n_out_hdrs; i++)
		MHD_add_response_header(resp, r->out_hdrs[i][0],
		    r->out_hdrs[i][1]);
	metrics_http_request(r->method, r->status);
	ret = MHD_queue_response(mc, r->status, resp);
	MHD_destroy_response(resp);
	return (ret);
}

/* Answer a bare problem outside the routed path (413 on the first call). */
static enum MHD_Result
http_send_problem(struct MHD_Connection *mc, unsigned status,
    const char *detail)
{
	struct req	 r;
	enum MHD_Result	 ret;

	memset(&r, 0, sizeof r);
	r.mc = mc;
	http_problem(&r, status, NULL, "%s", detail);
	ret = http_send(mc, &r, NULL);
	http_req_free(&r);
	return (ret);
}

/* Run the routed request once the whole body is in. */
static enum MHD_Result
http_dispatch(struct MHD_Connection *mc, const char *url, const char *method,
    struct http_state *st)
{
	struct req		 r;
	const struct route	*rt = NULL;
	char			 allow[128];
	enum MHD_Result		 ret;
	int			 found;

	memset(&r, 0, sizeof r);
	r.mc = mc;
	r.method = method;
	r.path = url;
	r.body = st->body;
	r.body_len = st->len;

	/* ratelimit.c: 429 before any work; notes the client for audit.c. */
	if (ratelimit_admit(&r) != 0) {
		found = 0;
		goto send;
	}
	found = http_route(&r, &rt, allow, sizeof allow);
	if (found == -1 && web_owns_path(url)) {
		web_not_found(&r);	/* a person's browser: a page */
		goto send;
	}
	if (found == -1) {
		http_problem(&r, 404, NULL, "no resource at %s", url);
		goto send;
	}
	if (found == -2) {
		http_problem(&r, 405, NULL, "%s is not allowed here; use %s",
		    method, allow);
		goto send;
	}
	r.db = db_acquire();
	if (r.db == NULL && !(rt->flags & HTTP_ROUTE_NO_DB)) {
		http_problem(&r, 503, NULL, "PostgreSQL is unreachable");
		goto send;
	}
	if (http_authenticate(&r) == 0)
		rt->cb(&r);
send:
	/* A failed db_acquire() has already given its slot back. */
	if (r.db != NULL) {
		db_release(r.db);
		r.db = NULL;
	}
	ret = http_send(mc, &r, found == -2 ? allow : NULL);
	http_req_free(&r);
	return (ret);
}

static enum MHD_Result
http_access_cb(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_state	*st = *con_cls;
	const char		*cl;
	unsigned long long	 n;

	if (st == NULL) {
		st = xcalloc(1, sizeof *st);
		*con_cls = st;
		cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL) {
			n = strtoull(cl, NULL, 10);
			if (n > http_max_body) {
				st->too_big = 1;
				return (http_send_problem(mc, 413,
				    "the body exceeds limits.max_body_bytes"));
			}
		}
		return (MHD_YES);
	}
	if (*upload_data_size != 0) {
		if (!st->too_big && st->len + *upload_data_size <=
		    http_max_body) {
			st->body = xrealloc(st->body,
			    st->len + *upload_data_size + 1);
			memcpy(st->body + st->len, upload_data,
			    *upload_data_size);
			st->len += *upload_data_size;
			st->body[st->len] = '\0';
		} else
			st->too_big = 1;
		*upload_data_size = 0;
		return (MHD_YES);
	}
	if (st->too_big)
		return (http_send_problem(mc, 413,
		    "the body exceeds limits.max_body_bytes"));
	return (http_dispatch(mc, url, method, st));
}

static void
http_completed_cb(void *cls, struct MHD_Connection *mc, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_state	*st = *con_cls;

	if (st != NULL) {
		free(st->body);
		free(st);
		*con_cls = NULL;
	}
}

/* Split "host:port" or "[v6]:port" into a socket address. */
int
http_parse_listen(const char *spec, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	struct addrinfo	 hints, *ai;
	char		 host[256], *port;
	const char	*colon;

	if (spec[0] == '[') {
		colon = strstr(spec, "]:");
		if (colon == NULL || (size_t)(colon - spec - 1) >= sizeof host)
			return (-1);
		memcpy(host, spec + 1, colon - spec - 1);
		host[colon - spec - 1] = '\0';
		port = (char *)colon + 2;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL || (size_t)(colon - spec) >= sizeof host)
			return (-1);
		memcpy(host, spec, colon - spec);
		host[colon - spec] = '\0';
		port = (char *)colon + 1;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(*host != '\0' ? host : NULL, port, &hints, &ai) != 0)
		return (-1);
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return (0);
}

/* libmicrohttpd's own messages (failed TLS handshakes among them). */
static void __attribute__((format(printf, 2, 0)))
http_mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
	char	buf[512];
	size_t	len;

	vsnprintf(buf, sizeof buf, fmt, ap);
	len = strlen(buf);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	log_info("http: %s", buf);
}

/*
 * A listening socket on SPEC ("host:port"), the value of config key KEY
 * (for the messages), with BACKLOG; the fd, or -1 (logged).
 */
int
http_bind(const char *key, const char *spec, int backlog)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			 fd, on = 1;

	if (http_parse_listen(spec, &ss, &sslen) != 0) {
		log_error("%s: cannot resolve %s", key, spec);
		return (-1);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof on) != 0) ||
	    bind(fd, (struct sockaddr *)&ss, sslen) != 0 ||
	    listen(fd, backlog) != 0) {
		log_error("%s: cannot listen on %s: %s", key, spec,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	return (fd);
}

/*
 * Bind and listen on cfg->listen_http, so that a daemon started as root
 * can drop privileges before libmicrohttpd starts its threads; 0 or -1
 * (logged). The socket goes to libmicrohttpd in http_start().
 */
int
http_listen(const struct config *cfg)
{
	if (http_listen_fd != -1)
		return (0);
	http_listen_fd = http_bind("listen.http", cfg->listen_http, SOMAXCONN);
	return (http_listen_fd == -1 ? -1 : 0);
}

/* Start the REST listener on cfg->listen_http; 0 or -1 (logged). */
int
http_start(const struct config *cfg)
{
	unsigned		 flags;

	if (http_listen(cfg) != 0)
		return (-1);
	http_max_body = cfg->max_body_bytes;
	http_cfg = cfg;
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_USE_ERROR_LOG;
	/* Plain HTTP sent to a TLS listener fails its handshake: nothing is
	 * served in clear and nothing is redirected. */
	if (tls_enabled())
		flags |= MHD_USE_TLS;
	http_daemon = MHD_start_daemon(flags, 0, NULL, NULL,
	    http_access_cb, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log_cb, NULL,
	    MHD_OPTION_LISTEN_SOCKET, http_listen_fd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http_threads,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed_cb, NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
	    MHD_OPTION_ARRAY, tls_mhd_options(),
	    MHD_OPTION_END);
	if (http_daemon == NULL) {
		log_error("listen.http: cannot serve on %s", cfg->listen_http);
		close(http_listen_fd);
		http_listen_fd = -1;
		return (-1);
	}
	http_listen_fd = -1;		/* libmicrohttpd's to close */
	log_info("REST listening on %s%s", cfg->listen_http,
	    tls_enabled() ? " (TLS)" : "");
	return (0);
}

/* Stop accepting; in-flight requests finish first. */
void
http_stop(void)
{
	if (http_daemon != NULL) {
		MHD_stop_daemon(http_daemon);
		http_daemon = NULL;
	}
	if (http_listen_fd != -1) {	/* bound, never started */
		close(http_listen_fd);
		http_listen_fd = -1;
	}
}
