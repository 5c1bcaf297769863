/*
 * rest.c: tocsin's REST side, one libcurl easy handle per request. Owns the
 * publish, get and list commands, the GET /v1 discovery that subscribe.c
 * uses to find the stream, and the mapping from an HTTP answer to an exit
 * status (problem+json details go to stderr).
 */
#include "client.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

enum {
	OPT_JSON = 256,
	OPT_REVISION,
	OPT_SINCE,
	OPT_SECTOR,
	OPT_TLP,
	OPT_SEVERITY,
	OPT_CVE,
	OPT_LIMIT,
	OPT_ALL
};

/* The body being received, bounded by TOCSIN_MAX_RESPONSE. */
struct rest_buf {
	char	*data;
	size_t	 len;
	size_t	 size;
	int	 overflow;
};

static volatile sig_atomic_t *rest_abort;

/* Requests give up early when *abortp becomes non-zero (a signal). */
void
rest_init(volatile sig_atomic_t *abortp)
{
	rest_abort = abortp;
}

/* Free what a reply holds; the reply itself is the caller's. */
void
rest_reply_free(struct rest_reply *r)
{
	free(r->body);
	free(r->location);
	memset(r, 0, sizeof *r);
}

static size_t
rest_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct rest_buf	*b = arg;
	size_t		 n = size * nmemb, want;

	if (n > TOCSIN_MAX_RESPONSE - b->len) {
		b->overflow = 1;
		return 0;
	}
	if (b->len + n + 1 > b->size) {
		want = b->size == 0 ? 16384 : b->size;
		while (want < b->len + n + 1)
			want *= 2;
		b->data = xrealloc(b->data, want);
		b->size = want;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static int
rest_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	return rest_abort != NULL && *rest_abort;
}

/*
 * Split an absolute URL whose scheme is one of schemes (NULL-terminated).
 * Any of the outputs may be NULL; the strings are allocated. path keeps its
 * leading slash and the query, if any. The port defaults to 443 for https
 * and wss, else 80.
 */
int
rest_url_split(const char *url, const char *const *schemes, char **scheme,
    char **host, int *port, char **path, char **cause)
{
	CURLU		*u;
	char		*s = NULL, *h = NULL, *p = NULL, *q = NULL, *pt = NULL;
	char		*user = NULL;
	long long	 portnum;
	size_t		 i;
	int		 rc = -1;

	if ((u = curl_url()) == NULL) {
		client_warnx("out of memory");
		abort();
	}
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) !=
	    CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &s, 0) !=
	    CURLUE_OK || curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK) {
		xasprintf(cause, "%s: not a valid URL", url);
		goto out;
	}
	for (i = 0; schemes[i] != NULL; i++) {
		if (strcmp(s, schemes[i]) == 0)
			break;
	}
	if (schemes[i] == NULL) {
		xasprintf(cause, "%s: scheme must be %s%s%s", url, schemes[0],
		    schemes[1] != NULL ? " or " : "",
		    schemes[1] != NULL ? schemes[1] : "");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		/* Not echoed: it holds a password. */
		xasprintf(cause, "credentials do not belong in the URL");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &pt, 0) == CURLUE_OK) {
		if (client_parse_int(pt, 1, 65535, &portnum) != 0) {
			xasprintf(cause, "%s: bad port", url);
			goto out;
		}
	} else if (strcmp(s, "https") == 0 || strcmp(s, "wss") == 0)
		portnum = 443;
	else
		portnum = 80;
	if (curl_url_get(u, CURLUPART_PATH, &p, 0) != CURLUE_OK) {
		xasprintf(cause, "%s: not a valid URL", url);
		goto out;
	}
	(void)curl_url_get(u, CURLUPART_QUERY, &q, 0);

	if (scheme != NULL)
		*scheme = xstrdup(s);
	if (host != NULL)
		*host = xstrdup(h);
	if (port != NULL)
		*port = (int)portnum;
	if (path != NULL) {
		if (q != NULL)
			xasprintf(path, "%s?%s", p, q);
		else
			*path = xstrdup(p);
	}
	rc = 0;
out:
	curl_free(s);
	curl_free(h);
	curl_free(p);
	curl_free(q);
	curl_free(pt);
	curl_free(user);
	curl_url_cleanup(u);
	return rc;
}

/*
 * The URL of path under the base URL, with query pairs (name, value, ...,
 * NULL; a NULL value skips its pair) encoded by libcurl.
 */
static char *
rest_make_url(const struct client *c, const char *path,
    const char *const *query, char **cause)
{
	CURLU	*u;
	char	*base, *pair, *out = NULL, *url = NULL;
	size_t	 i;

	if ((u = curl_url()) == NULL) {
		client_warnx("out of memory");
		abort();
	}
	xasprintf(&base, "%s%s", c->url, path);
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK) {
		xasprintf(cause, "%s: not a valid URL", c->url);
		goto out;
	}
	for (i = 0; query != NULL && query[i] != NULL; i += 2) {
		if (query[i + 1] == NULL)
			continue;
		xasprintf(&pair, "%s=%s", query[i], query[i + 1]);
		if (curl_url_set(u, CURLUPART_QUERY, pair,
		    CURLU_APPENDQUERY | CURLU_URLENCODE) != CURLUE_OK) {
			xasprintf(cause, "cannot encode %s", query[i]);
			free(pair);
			goto out;
		}
		free(pair);
	}
	if (curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK) {
		xasprintf(cause, "%s: not a valid URL", c->url);
		goto out;
	}
	url = xstrdup(out);
	curl_free(out);
out:
	free(base);
	curl_url_cleanup(u);
	return url;
}

/*
 * One request, over in at most timeout seconds. Returns 0 when the server
 * answered (whatever the status, in r), -1 when it could not be reached or
 * the transfer failed (cause set). With auth, the token goes in an
 * Authorization header.
 */
static int
rest_request(const struct client *c, const char *method, const char *path,
    const char *const *query, const char *body, size_t bodylen, int auth,
    long timeout, struct rest_reply *r, char **cause)
{
	CURL			*curl;
	CURLcode		 res;
	struct curl_slist	*headers = NULL;
	struct rest_buf		 buf;
	char			 errbuf[CURL_ERROR_SIZE], *url, *h;
	char			*location = NULL;
	curl_off_t		 retry_after = 0;
	int			 rc = -1;

	memset(r, 0, sizeof *r);
	memset(&buf, 0, sizeof buf);
	if ((url = rest_make_url(c, path, query, cause)) == NULL)
		return -1;
	if ((curl = curl_easy_init()) == NULL) {
		client_warnx("out of memory");
		abort();
	}

	headers = curl_slist_append(headers,
	    "Accept: application/json, application/problem+json");
	if (body != NULL)
		headers = curl_slist_append(headers,
		    "Content-Type: application/json");
	if (auth && c->token != NULL) {
		xasprintf(&h, "Authorization: Bearer %s", c->token);
		headers = curl_slist_append(headers, h);
		explicit_bzero(h, strlen(h));
		free(h);
	}
	if (headers == NULL) {
		client_warnx("out of memory");
		abort();
	}

	errbuf[0] = '\0';
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT,
	    (long)TOCSIN_CONNECT_TIMEOUT);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "tocsin/" PACKAGE_VERSION);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, rest_write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, rest_progress_cb);
	if (c->cacert != NULL) {
		/* Only the given CAs, not those of the system as well. */
		curl_easy_setopt(curl, CURLOPT_CAINFO, c->cacert);
		curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
	}
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)bodylen);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);

	res = curl_easy_perform(curl);
	if (res != CURLE_OK) {
		if (buf.overflow)
			xasprintf(cause, "%s: response larger than %lu bytes",
			    url, (unsigned long)TOCSIN_MAX_RESPONSE);
		else if (res == CURLE_ABORTED_BY_CALLBACK)
			xasprintf(cause, "%s: interrupted", url);
		else
			xasprintf(cause, "%s: %s", url, errbuf[0] != '\0' ?
			    errbuf : curl_easy_strerror(res));
		free(buf.data);
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &location) ==
	    CURLE_OK && location != NULL)
		r->location = xstrdup(location);
	if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry_after) ==
	    CURLE_OK)
		r->retry_after = (long)retry_after;
	r->body = buf.data != NULL ? buf.data : xstrdup("");
	r->len = buf.len;
	rc = 0;
out:
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	free(url);
	return rc;
}

/*
 * Map an answer to an exit status: 0 for 2xx; otherwise say why on stderr
 * (the problem+json title, detail and field when there are some) and
 * return 2 for 401 and 403, 4 for the other 4xx, 3 for anything else (a
 * redirection, a server error).
 */
int
rest_exit_status(const struct rest_reply *r, const char *what)
{
	json_t		*j;
	const char	*title = NULL, *detail = NULL, *field = NULL;
	char		*t = NULL, *d = NULL, *f = NULL;
	int		 status;

	if (r->status >= 200 && r->status <= 299)
		return TOCSIN_EXIT_OK;

	if ((j = json_loadb(r->body, r->len, 0, NULL)) != NULL &&
	    json_is_object(j)) {
		title = json_string_value(json_object_get(j, "title"));
		detail = json_string_value(json_object_get(j, "detail"));
		field = json_string_value(json_object_get(j, "field"));
	}
	if (title != NULL)
		t = client_sanitize(title);
	if (detail != NULL)
		d = client_sanitize(detail);
	if (field != NULL)
		f = client_sanitize(field);

	if (r->status >= 300 && r->status <= 399) {
		client_warnx("%s: the server answered %ld, a redirection%s%s; "
		    "give the new URL with -u", what, r->status,
		    r->location != NULL ? " to " : "",
		    r->location != NULL ? r->location : "");
	} else {
		client_warnx("%s: %ld%s%s%s%s%s%s%s", what, r->status,
		    t != NULL ? " " : "", t != NULL ? t : "",
		    d != NULL ? ": " : "", d != NULL ? d : "",
		    f != NULL ? " (field " : "", f != NULL ? f : "",
		    f != NULL ? ")" : "");
		if (r->status == 429 && r->retry_after > 0)
			client_warnx("the server asks to retry in %ld s",
			    r->retry_after);
	}

	if (r->status == 401 || r->status == 403)
		status = TOCSIN_EXIT_AUTH;
	else if (r->status >= 400 && r->status <= 499)
		status = TOCSIN_EXIT_REFUSED;
	else
		status = TOCSIN_EXIT_UNREACHABLE;
	free(t);
	free(d);
	free(f);
	json_decref(j);
	return status;
}

/*
 * GET /v1 and return its stream_url in *url. Returns 0, TOCSIN_EXIT_AUTH,
 * or TOCSIN_EXIT_UNREACHABLE with *cause set (any other failure: worth
 * retrying later).
 */
int
rest_discover(const struct client *c, char **url, char **cause)
{
	struct rest_reply	 r;
	json_t			*j;
	const char		*s;
	int			 status;

	if (rest_request(c, "GET", "/v1", NULL, NULL, 0, 0,
	    TOCSIN_DISCOVER_TIMEOUT, &r, cause) != 0)
		return TOCSIN_EXIT_UNREACHABLE;
	if (r.status == 401 || r.status == 403) {
		xasprintf(cause, "%s/v1: %ld", c->url, r.status);
		status = TOCSIN_EXIT_AUTH;
	} else if (r.status != 200) {
		xasprintf(cause, "%s/v1: the server answered %ld", c->url,
		    r.status);
		status = TOCSIN_EXIT_UNREACHABLE;
	} else if ((j = json_loadb(r.body, r.len, 0, NULL)) == NULL ||
	    (s = json_string_value(json_object_get(j, "stream_url"))) ==
	    NULL) {
		xasprintf(cause, "%s/v1: no stream_url in the answer", c->url);
		json_decref(j);
		status = TOCSIN_EXIT_UNREACHABLE;
	} else {
		*url = xstrdup(s);
		json_decref(j);
		status = TOCSIN_EXIT_OK;
	}
	rest_reply_free(&r);
	return status;
}

/* Read all of path ("-": stdin) into memory, up to TOCSIN_MAX_UPLOAD. */
static char *
rest_read_file(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*data = NULL;
	size_t	 len = 0, size = 0, n;

	if (strcmp(path, "-") == 0)
		f = stdin;
	else if ((f = fopen(path, "r")) == NULL) {
		client_warnx("%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len == size) {
			if (size > TOCSIN_MAX_UPLOAD) {
				client_warnx("%s: larger than %lu bytes", path,
				    (unsigned long)TOCSIN_MAX_UPLOAD);
				goto fail;
			}
			size = size == 0 ? 65536 : size * 2;
			data = xrealloc(data, size + 1);
		}
		n = fread(data + len, 1, size - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		client_warnx("%s: %s", path, strerror(errno));
		goto fail;
	}
	if (f != stdin)
		fclose(f);
	data[len] = '\0';
	*lenp = len;
	return data;
fail:
	if (f != stdin)
		fclose(f);
	free(data);
	return NULL;
}

/* Send a request whose answer is the command's result; parse it as JSON. */
static int
rest_call(struct client *c, const char *method, const char *path,
    const char *const *query, const char *body, size_t bodylen,
    const char *what, json_t **out)
{
	struct rest_reply	 r;
	json_error_t		 err;
	char			*cause = NULL;
	int			 status;

	if (rest_request(c, method, path, query, body, bodylen, 1,
	    TOCSIN_REST_TIMEOUT, &r, &cause) != 0) {
		client_warnx("%s", cause);
		free(cause);
		return TOCSIN_EXIT_UNREACHABLE;
	}
	if ((status = rest_exit_status(&r, what)) != TOCSIN_EXIT_OK) {
		rest_reply_free(&r);
		return status;
	}
	if ((*out = json_loadb(r.body, r.len, 0, &err)) == NULL) {
		client_warnx("%s: the server sent invalid JSON: %s", what,
		    err.text);
		rest_reply_free(&r);
		return TOCSIN_EXIT_UNREACHABLE;
	}
	rest_reply_free(&r);
	return TOCSIN_EXIT_OK;
}

/* publish [--json] FILE: POST /v1/advisories. */
int
rest_cmd_publish(struct client *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,	NULL, OPT_JSON },
		{ NULL,		0,		NULL, 0 }
	};
	json_t		*doc, *res;
	json_error_t	 err;
	const char	*id;
	char		*body;
	size_t		 len;
	int		 ch, json = 0, status;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			json = 1;
			break;
		default:
			return client_bad_option("publish", ch, argv);
		}
	}
	if (argc - optind != 1)
		return client_usage("publish", "publish needs one file");

	if ((body = rest_read_file(argv[optind], &len)) == NULL)
		return TOCSIN_EXIT_USAGE;
	/* Check locally for a better message; send the bytes as written. */
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (doc == NULL) {
		client_warnx("%s:%d:%d: %s", argv[optind], err.line,
		    err.column, err.text);
		free(body);
		return TOCSIN_EXIT_USAGE;
	}
	if (!json_is_object(doc)) {
		client_warnx("%s: not a JSON object", argv[optind]);
		json_decref(doc);
		free(body);
		return TOCSIN_EXIT_USAGE;
	}
	json_decref(doc);

	status = rest_call(c, "POST", "/v1/advisories", NULL, body, len,
	    "publish", &res);
	free(body);
	if (status != TOCSIN_EXIT_OK)
		return status;

	if (json)
		status = client_print_json(stdout, res, 1);
	else if ((id = json_string_value(json_object_get(res, "id"))) ==
	    NULL || !json_is_integer(json_object_get(res, "event_id"))) {
		client_warnx("publish: the answer has no id or event_id");
		status = client_print_json(stdout, res, 1);
	} else {
		body = client_sanitize(id);
		status = printf("%s (event %" JSON_INTEGER_FORMAT ")\n", body,
		    json_integer_value(json_object_get(res, "event_id")));
		status = status < 0 ? -1 : 0;
		free(body);
	}
	json_decref(res);
	if (status != 0) {
		client_warnx("stdout: %s", strerror(errno));
		return TOCSIN_EXIT_USAGE;
	}
	return TOCSIN_EXIT_OK;
}

/* get [--revision N] ID: GET /v1/advisories/ID, printed indented. */
int
rest_cmd_get(struct client *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "revision",	required_argument,	NULL, OPT_REVISION },
		{ NULL,		0,			NULL, 0 }
	};
	const char	*query[] = { "revision", NULL, NULL };
	json_t		*res;
	long long	 n;
	char		*id, *path;
	int		 ch, status;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_REVISION:
			if (client_parse_int(optarg, 1, INT32_MAX, &n) != 0)
				return client_usage("get", "bad revision: %s",
				    optarg);
			query[1] = optarg;
			break;
		default:
			return client_bad_option("get", ch, argv);
		}
	}
	if (argc - optind != 1 || *argv[optind] == '\0')
		return client_usage("get", "get needs one advisory id");

	if ((id = curl_easy_escape(NULL, argv[optind], 0)) == NULL) {
		client_warnx("out of memory");
		abort();
	}
	xasprintf(&path, "/v1/advisories/%s", id);
	curl_free(id);
	status = rest_call(c, "GET", path, query, NULL, 0, argv[optind], &res);
	free(path);
	if (status != TOCSIN_EXIT_OK)
		return status;
	status = client_print_json(stdout, res, 1);
	json_decref(res);
	if (status != 0) {
		client_warnx("stdout: %s", strerror(errno));
		return TOCSIN_EXIT_USAGE;
	}
	return TOCSIN_EXIT_OK;
}

/* One advisory of a list as "ID rN [TLP:LABEL] severity title". */
static int
rest_print_item(const json_t *item)
{
	const char	*fields[] = { "id", "tlp", "severity", "title" };
	char		*v[4];
	const json_t	*rev;
	const char	*s;
	size_t		 i;
	int		 n;

	for (i = 0; i < 4; i++) {
		s = json_string_value(json_object_get(item, fields[i]));
		v[i] = client_sanitize(s != NULL ? s : "-");
	}
	rev = json_object_get(item, "revision");
	if (json_is_integer(rev))
		n = printf("%s r%" JSON_INTEGER_FORMAT " [TLP:%s] %s %s\n",
		    v[0], json_integer_value(rev), v[1], v[2], v[3]);
	else
		n = printf("%s r- [TLP:%s] %s %s\n", v[0], v[1], v[2], v[3]);
	for (i = 0; i < 4; i++)
		free(v[i]);
	return n < 0 ? -1 : 0;
}

/* list [filters] [--limit N] [--all] [--json]: GET /v1/advisories. */
int
rest_cmd_list(struct client *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since",	required_argument,	NULL, OPT_SINCE },
		{ "sector",	required_argument,	NULL, OPT_SECTOR },
		{ "tlp",	required_argument,	NULL, OPT_TLP },
		{ "severity",	required_argument,	NULL, OPT_SEVERITY },
		{ "cve",	required_argument,	NULL, OPT_CVE },
		{ "query",	required_argument,	NULL, 'q' },
		{ "limit",	required_argument,	NULL, OPT_LIMIT },
		{ "all",	no_argument,		NULL, OPT_ALL },
		{ "json",	no_argument,		NULL, OPT_JSON },
		{ NULL,		0,			NULL, 0 }
	};
	/* Name and value pairs; the cursor goes last. */
	const char	*query[] = { "since", NULL, "sector", NULL, "tlp", NULL,
	    "severity", NULL, "cve", NULL, "q", NULL, "limit", NULL,
	    "cursor", NULL, NULL };
	json_t		*res, *items, *item, *next;
	char		*cursor = NULL, *prev = NULL;
	long long	 n;
	size_t		 i, count;
	int		 ch, all = 0, json = 0, status = TOCSIN_EXIT_OK;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":q:", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_SINCE:
			query[1] = optarg;
			break;
		case OPT_SECTOR:
			query[3] = optarg;
			break;
		case OPT_TLP:
			query[5] = optarg;
			break;
		case OPT_SEVERITY:
			query[7] = optarg;
			break;
		case OPT_CVE:
			query[9] = optarg;
			break;
		case 'q':
			query[11] = optarg;
			break;
		case OPT_LIMIT:
			if (client_parse_int(optarg, 1, 200, &n) != 0)
				return client_usage("list", "bad limit: %s "
				    "(1 to 200)", optarg);
			query[13] = optarg;
			break;
		case OPT_ALL:
			all = 1;
			break;
		case OPT_JSON:
			json = 1;
			break;
		default:
			return client_bad_option("list", ch, argv);
		}
	}
	if (argc != optind)
		return client_usage("list", "unexpected argument: %s",
		    argv[optind]);

	for (;;) {
		query[15] = cursor;
		status = rest_call(c, "GET", "/v1/advisories", query, NULL, 0,
		    "list", &res);
		if (status != TOCSIN_EXIT_OK)
			break;
		items = json_object_get(res, "items");
		if (!json_is_array(items)) {
			client_warnx("list: the answer has no items");
			json_decref(res);
			status = TOCSIN_EXIT_UNREACHABLE;
			break;
		}
		json_array_foreach(items, i, item) {
			if (json)
				status = client_print_json(stdout, item, 0);
			else
				status = rest_print_item(item);
			if (status != 0) {
				client_warnx("stdout: %s", strerror(errno));
				json_decref(res);
				free(cursor);
				free(prev);
				return TOCSIN_EXIT_USAGE;
			}
		}

		/* The API gives the cursor as a string; accept a number. */
		count = json_array_size(items);
		next = json_object_get(res, "next_cursor");
		free(prev);
		prev = cursor;
		cursor = NULL;
		if (json_is_string(next))
			cursor = xstrdup(json_string_value(next));
		else if (json_is_integer(next))
			xasprintf(&cursor, "%" JSON_INTEGER_FORMAT,
			    json_integer_value(next));
		json_decref(res);
		if (cursor == NULL || *cursor == '\0')
			break;
		if (!all) {
			client_note(c, "more items follow; --all fetches "
			    "them");
			break;
		}
		/* A server bug must not make --all loop for ever. */
		if (count == 0 || (prev != NULL && strcmp(prev, cursor) == 0)) {
			client_warnx("list: the server sent cursor %s again or "
			    "after an empty page", cursor);
			status = TOCSIN_EXIT_UNREACHABLE;
			break;
		}
	}
	free(prev);
	free(cursor);
	return status;
}
