/*
 * config.c: tocsind.yaml into struct config. One table of keys (path, type,
 * bounds, default, help) drives parsing with libyaml's document API,
 * validation and defaults. Every problem is collected as "FILE:LINE:
 * message", sorted by line, and handed back in one string. Called by
 * tocsind.c at start-up and for check-config; talks to nothing else.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "tocsind.h"

#ifndef TOCSIN_DATADIR
#define TOCSIN_DATADIR "/usr/share/tocsin"
#endif

#define CONFIG_MAX_FILE		(1024 * 1024)	/* a real file is ~1 KiB */
#define CONFIG_SHOW_MAX		64	/* user text shown in a message */
#define CONFIG_SHOW_SIZE	(CONFIG_SHOW_MAX * 4 + 8)

#define nitems(a)		(sizeof (a) / sizeof (a)[0])

enum config_type {
	CONFIG_SECTION,		/* a mapping of further keys */
	CONFIG_STRING,
	CONFIG_FILE,		/* path to a readable regular file */
	CONFIG_BOOL,
	CONFIG_INT,
	CONFIG_SIZE,		/* bytes, with an optional K, M or G suffix */
	CONFIG_ENUM,
	CONFIG_HOSTPORT,
	CONFIG_URL,
	CONFIG_CIDRS		/* a list of CIDR blocks */
};

struct config_key {
	const char	 *path;
	enum config_type  type;
	size_t		  off;		/* into struct config */
	long long	  min;		/* CONFIG_INT and CONFIG_SIZE */
	long long	  max;
	const char	 *def;		/* default, spelt as in the file */
	int		  required;
	const char	 *requires;	/* may only be given with this key */
	const char *const *schemes;	/* CONFIG_URL */
	const char	 *choices;	/* CONFIG_ENUM, for messages */
	int		(*parse)(const char *, void *);	/* CONFIG_ENUM */
	const char	*(*check)(const char *);	/* extra rule */
	const char	 *help;
	size_t		  count_off;	/* CONFIG_CIDRS: where the count goes */
};

struct config_cause {
	size_t		 line;
	size_t		 seq;
	char		*msg;
};

struct config_ctx {
	const char		*name;
	struct config		*cf;
	yaml_document_t		*doc;
	size_t			 given[64];	/* line of each key, or 0 */
	int			 set[64];	/* given with a good value */
	int			 bad[64];	/* given, refused, reported */
	int			 broken;	/* top level not a mapping */
	struct config_cause	*causes;
	size_t			 ncauses;
	size_t			 causes_size;
};

static int		 config_parse_log_level(const char *, void *);
static const char	*config_check_prefix(const char *);
static const char	*config_check_from(const char *);

#define CF(f)	offsetof(struct config, f)

static const char *const config_http_schemes[] = { "http://", "https://",
    NULL };
static const char *const config_smtp_schemes[] = { "smtp://", "smtps://",
    NULL };
static const char *const config_ws_schemes[] = { "ws://", "wss://", NULL };

static const struct config_key config_keys[] = {
	{ .path = "listen", .type = CONFIG_SECTION,
	  .help = "addresses to listen on" },
	{ .path = "listen.http", .type = CONFIG_HOSTPORT,
	  .off = CF(listen_http),
	  .def = "127.0.0.1:8080",
	  .help = "REST API and web pages" },
	{ .path = "listen.ws", .type = CONFIG_HOSTPORT, .off = CF(listen_ws),
	  .def = "127.0.0.1:8081",
	  .help = "WebSocket stream, path /v1/stream" },

	{ .path = "tls", .type = CONFIG_SECTION,
	  .help = "TLS for both listeners; plain when absent" },
	{ .path = "tls.cert", .type = CONFIG_FILE, .off = CF(tls_cert),
	  .requires = "tls.key",
	  .help = "certificate chain in PEM" },
	{ .path = "tls.key", .type = CONFIG_FILE, .off = CF(tls_key),
	  .requires = "tls.cert",
	  .help = "private key in PEM" },

	{ .path = "database", .type = CONFIG_STRING, .off = CF(database),
	  .required = 1,
	  .help = "libpq connection string" },
	{ .path = "database_pool", .type = CONFIG_INT, .off = CF(db_pool_size),
	  .min = 1, .max = 256, .def = "8",
	  .help = "PostgreSQL connections for the REST threads" },
	{ .path = "public_url", .type = CONFIG_URL, .off = CF(public_url),
	  .schemes = config_http_schemes, .def = "http://127.0.0.1:8080",
	  .help = "base URL of the server as users see it" },
	{ .path = "public_stream_url", .type = CONFIG_URL,
	  .off = CF(public_stream_url), .schemes = config_ws_schemes,
	  .help = "the stream's URL as clients see it (behind a proxy); "
	  "default: from listen.ws" },
	{ .path = "user", .type = CONFIG_STRING, .off = CF(user),
	  .def = "tocsin",
	  .help = "started as root, run as this user once bound" },
	{ .path = "advisory_id_prefix", .type = CONFIG_STRING,
	  .off = CF(advisory_id_prefix), .def = "CCB",
	  .check = config_check_prefix,
	  .help = "first part of advisory identifiers" },

	{ .path = "smtp", .type = CONFIG_SECTION,
	  .help = "mail relay; no e-mail when absent" },
	{ .path = "smtp.url", .type = CONFIG_URL, .off = CF(smtp_url),
	  .schemes = config_smtp_schemes, .requires = "smtp.from",
	  .help = "relay, smtp:// or smtps://" },
	{ .path = "smtp.starttls", .type = CONFIG_BOOL,
	  .off = CF(smtp_starttls),
	  .def = "false",
	  .help = "require STARTTLS on an smtp:// relay" },
	{ .path = "smtp.from", .type = CONFIG_STRING, .off = CF(smtp_from),
	  .check = config_check_from,
	  .help = "From: header of every message" },
	{ .path = "smtp.username", .type = CONFIG_STRING,
	  .off = CF(smtp_username), .requires = "smtp.password_file",
	  .help = "relay user name" },
	{ .path = "smtp.password_file", .type = CONFIG_FILE,
	  .off = CF(smtp_password_file), .requires = "smtp.username",
	  .help = "file holding the relay password" },

	{ .path = "smime", .type = CONFIG_SECTION,
	  .help = "S/MIME signing of e-mail; unsigned when absent" },
	{ .path = "smime.cert", .type = CONFIG_FILE, .off = CF(smime_cert),
	  .requires = "smime.key",
	  .help = "signing certificate in PEM" },
	{ .path = "smime.key", .type = CONFIG_FILE, .off = CF(smime_key),
	  .requires = "smime.cert",
	  .help = "signing key in PEM" },

	{ .path = "webhooks", .type = CONFIG_SECTION,
	  .help = "outgoing webhooks" },
	{ .path = "webhooks.timeout_s", .type = CONFIG_INT,
	  .off = CF(webhooks_timeout_s), .min = 1, .max = 300, .def = "10",
	  .help = "seconds a receiver has to answer 2xx" },
	{ .path = "webhooks.allow_private_networks", .type = CONFIG_BOOL,
	  .off = CF(webhooks_allow_private_networks), .def = "false",
	  .help = "allow loopback, private and link-local targets" },
	{ .path = "webhooks.allow", .type = CONFIG_CIDRS,
	  .off = CF(webhooks_allow), .count_off = CF(n_webhooks_allow),
	  .help = "CIDR blocks allowed despite the private-network guard" },
	{ .path = "webhooks.signing_key", .type = CONFIG_STRING,
	  .off = CF(webhooks_signing_key),
	  .def = "/var/lib/tocsin/webhook-ed25519.pem",
	  .help = "Ed25519 key for v1a signatures; made if absent" },
	{ .path = "webhooks.per_endpoint", .type = CONFIG_INT,
	  .off = CF(webhooks_per_endpoint), .min = 1, .max = 64, .def = "4",
	  .help = "requests in flight to one endpoint" },

	{ .path = "key_file", .type = CONFIG_STRING, .off = CF(key_file),
	  .def = "/var/lib/tocsin/server.key",
	  .help = "32-byte key encrypting secrets at rest; made if absent" },

	{ .path = "deliver", .type = CONFIG_SECTION,
	  .help = "delivery workers (webhooks, e-mail)" },
	{ .path = "deliver.concurrency", .type = CONFIG_INT,
	  .off = CF(deliver_concurrency), .min = 1, .max = 1024, .def = "64",
	  .help = "requests in flight per instance" },

	{ .path = "limits", .type = CONFIG_SECTION,
	  .help = "size and rate limits" },
	{ .path = "limits.max_body_bytes", .type = CONFIG_SIZE,
	  .off = CF(max_body_bytes), .min = 1024, .max = 67108864,
	  .def = "1048576",
	  .help = "largest request body; larger ones get 413" },
	{ .path = "limits.ws_send_queue_bytes", .type = CONFIG_SIZE,
	  .off = CF(ws_send_queue_bytes), .min = 4096, .max = 1073741824,
	  .def = "1048576",
	  .help = "stream bytes queued for one client before closing it" },
	{ .path = "limits.rate_per_token", .type = CONFIG_INT,
	  .off = CF(limits_rate_per_token), .min = 0, .max = 1000000,
	  .def = "20",
	  .help = "REST requests per second per API token; 0: no limit" },
	{ .path = "limits.burst_per_token", .type = CONFIG_INT,
	  .off = CF(limits_burst_per_token), .min = 1, .max = 1000000,
	  .def = "100",
	  .help = "requests a token may make at once before the rate applies" },
	{ .path = "limits.rate_per_address", .type = CONFIG_INT,
	  .off = CF(limits_rate_per_address), .min = 0, .max = 1000000,
	  .def = "50",
	  .help = "REST requests per second per client address; 0: no limit" },
	{ .path = "limits.burst_per_address", .type = CONFIG_INT,
	  .off = CF(limits_burst_per_address), .min = 1, .max = 1000000,
	  .def = "200",
	  .help = "requests an address may make at once" },

	{ .path = "retention", .type = CONFIG_SECTION,
	  .help = "how long records are kept" },
	{ .path = "retention.deliveries_days", .type = CONFIG_INT,
	  .off = CF(retention_deliveries_days), .min = 1, .max = 3650,
	  .def = "90",
	  .help = "days finished deliveries are kept" },
	{ .path = "retention.audit_days", .type = CONFIG_INT,
	  .off = CF(retention_audit_days), .min = 1, .max = 36500,
	  .def = "365",
	  .help = "days audit log entries are kept" },

	{ .path = "templates", .type = CONFIG_STRING, .off = CF(templates),
	  .def = TOCSIN_DATADIR "/templates",
	  .help = "directory of e-mail and web templates" },

	{ .path = "log", .type = CONFIG_SECTION,
	  .help = "logging" },
	{ .path = "log.level", .type = CONFIG_ENUM, .off = CF(log_level),
	  .choices = "error, warn, info, debug",
	  .parse = config_parse_log_level, .def = "info",
	  .help = "least severe level written" },

	{ .path = "http", .type = CONFIG_SECTION,
	  .help = "REST server" },
	{ .path = "http.threads", .type = CONFIG_INT, .off = CF(http_threads),
	  .min = 1, .max = 64, .def = "4",
	  .help = "libmicrohttpd worker threads" },
	{ .path = "http.trusted_proxies", .type = CONFIG_CIDRS,
	  .off = CF(http_trusted_proxies),
	  .count_off = CF(n_http_trusted_proxies),
	  .help = "proxies whose X-Forwarded-For gives the client address" },

	{ .path = "metrics", .type = CONFIG_SECTION,
	  .help = "Prometheus metrics" },
	{ .path = "metrics.listen", .type = CONFIG_HOSTPORT,
	  .off = CF(metrics_listen),
	  .help = "serve GET /metrics here without a token (and not on "
	  "listen.http)" },

	{ .path = "stream", .type = CONFIG_SECTION,
	  .help = "WebSocket stream" },
	{ .path = "stream.ring_events", .type = CONFIG_INT,
	  .off = CF(stream_ring_events), .min = 16, .max = 1000000,
	  .def = "4096",
	  .help = "recent events kept in memory for resuming clients" },
	{ .path = "stream.threads", .type = CONFIG_INT,
	  .off = CF(stream_threads), .min = 0, .max = 64, .def = "0",
	  .help = "threads serving stream connections; 0: one per CPU "
	  "(at most 16)" },
	{ .path = "stream.auth_timeout_s", .type = CONFIG_INT,
	  .off = CF(ws_auth_timeout_s), .min = 1, .max = 60, .def = "5",
	  .help = "seconds a browser has to send its auth message" },
	{ .path = "stream.ping_interval_s", .type = CONFIG_INT,
	  .off = CF(ws_ping_interval_s), .min = 1, .max = 3600, .def = "30",
	  .help = "seconds between pings" },
};

/* Adapt log_parse_level to the table's enum parser. */
static int
config_parse_log_level(const char *s, void *dst)
{
	enum log_level	level;

	if (log_parse_level(s, &level) != 0)
		return (-1);
	*(enum log_level *)dst = level;
	return (0);
}

/* Identifiers look like CCB-2026-0042: keep the prefix plain. */
static const char *
config_check_prefix(const char *s)
{
	size_t	n;

	for (n = 0; s[n] != '\0'; n++) {
		if (!(s[n] >= 'A' && s[n] <= 'Z') &&
		    !(s[n] >= '0' && s[n] <= '9'))
			break;
	}
	if (n == 0 || n > 16 || s[n] != '\0')
		return ("must be 1 to 16 characters from A-Z and 0-9");
	return (NULL);
}

static const char *
config_check_from(const char *s)
{
	if (strchr(s, '@') == NULL)
		return ("must be an address such as "
		    "\"CSIRT <ews@example.org>\"");
	return (NULL);
}

/* Copy user text for a message: printable, quoted escapes, truncated. */
static const char *
config_show(char *buf, const char *s, size_t len)
{
	size_t	i, o = 0;

	for (i = 0; i < len && i < CONFIG_SHOW_MAX; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			buf[o++] = '\\';
			buf[o++] = s[i];
		} else if ((unsigned char)s[i] < 0x20 ||
		    (unsigned char)s[i] == 0x7f) {
			snprintf(buf + o, 5, "\\x%02x", (unsigned char)s[i]);
			o += 4;
		} else
			buf[o++] = s[i];
	}
	if (i < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return (buf);
}

static void
config_add_cause(struct config_ctx *ctx, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
config_add_cause(struct config_ctx *ctx, size_t line, const char *fmt, ...)
{
	struct config_cause	*cc;
	va_list			 ap;

	if (ctx->ncauses == ctx->causes_size) {
		ctx->causes_size = ctx->causes_size == 0 ? 8 :
		    ctx->causes_size * 2;
		ctx->causes = xrealloc(ctx->causes,
		    ctx->causes_size * sizeof *ctx->causes);
	}
	cc = &ctx->causes[ctx->ncauses];
	cc->line = line;
	cc->seq = ctx->ncauses++;
	va_start(ap, fmt);
	xvasprintf(&cc->msg, fmt, ap);
	va_end(ap);
}

static int
config_cause_cmp(const void *a0, const void *b0)
{
	const struct config_cause	*a = a0, *b = b0;

	if (a->line != b->line)
		return (a->line < b->line ? -1 : 1);
	return (a->seq < b->seq ? -1 : (a->seq > b->seq));
}

/* Sort the causes by line and join them as "FILE:LINE: message" lines. */
static char *
config_join_causes(struct config_ctx *ctx)
{
	char	*out = NULL, *line;
	size_t	 i, len = 0, size = 0, n;

	qsort(ctx->causes, ctx->ncauses, sizeof *ctx->causes,
	    config_cause_cmp);
	for (i = 0; i < ctx->ncauses; i++) {
		if (ctx->causes[i].line == 0)
			n = xasprintf(&line, "%s: %s", ctx->name,
			    ctx->causes[i].msg);
		else
			n = xasprintf(&line, "%s:%zu: %s", ctx->name,
			    ctx->causes[i].line, ctx->causes[i].msg);
		if (len + n + 2 > size) {
			size = (len + n + 2) * 2;
			out = xrealloc(out, size);
		}
		if (len != 0)
			out[len++] = '\n';
		memcpy(out + len, line, n + 1);
		len += n;
		free(line);
	}
	return (out);
}

static void
config_free_causes(struct config_ctx *ctx)
{
	size_t	i;

	for (i = 0; i < ctx->ncauses; i++)
		free(ctx->causes[i].msg);
	free(ctx->causes);
	ctx->causes = NULL;
	ctx->ncauses = ctx->causes_size = 0;
}

static int
config_find(const char *path)
{
	size_t	i;

	for (i = 0; i < nitems(config_keys); i++) {
		if (strcmp(config_keys[i].path, path) == 0)
			return ((int)i);
	}
	return (-1);
}

/* The part of a key's path after its section (the whole path at the top). */
static const char *
config_key_name(const struct config_key *k, const char *prefix)
{
	size_t	plen;

	if (prefix == NULL)
		return (strchr(k->path, '.') == NULL ? k->path : NULL);
	plen = strlen(prefix);
	if (strncmp(k->path, prefix, plen) != 0 || k->path[plen] != '.' ||
	    strchr(k->path + plen + 1, '.') != NULL)
		return (NULL);
	return (k->path + plen + 1);
}

/* Levenshtein distance, for short keys only. */
static size_t
config_distance(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b), i, j, prev, tmp, cost;
	size_t	row[CONFIG_SHOW_MAX + 1];

	if (lb > CONFIG_SHOW_MAX)
		return ((size_t)-1);
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			cost = (a[i - 1] == b[j - 1]) ? 0 : 1;
			row[j] = prev + cost;
			if (row[j] > row[j - 1] + 1)
				row[j] = row[j - 1] + 1;
			if (row[j] > tmp + 1)
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return (row[lb]);
}

/*
 * A hint for an unknown key: a sibling a typo or two away, else the same
 * name in another section ("timeout_s" at the top: "webhooks.timeout_s").
 */
static const char *
config_suggest(const char *prefix, const char *key)
{
	const struct config_key	*k;
	const char		*name, *best = NULL, *dot;
	size_t			 i, d, bestd = 3;

	if (strlen(key) > CONFIG_SHOW_MAX)
		return (NULL);
	for (i = 0; i < nitems(config_keys); i++) {
		k = &config_keys[i];
		if ((name = config_key_name(k, prefix)) == NULL)
			continue;
		d = config_distance(key, name);
		if (d < bestd && d < strlen(key)) {
			bestd = d;
			best = k->path;
		}
	}
	if (best != NULL)
		return (best);
	for (i = 0; i < nitems(config_keys); i++) {
		k = &config_keys[i];
		dot = strrchr(k->path, '.');
		if (dot != NULL && strcmp(dot + 1, key) == 0)
			return (k->path);
	}
	return (NULL);
}

/* Decimal only, so "010" and "0x10" never mean what YAML 1.1 would make
 * of them; sizes may end in K, M or G (powers of 1024). */
static int
config_parse_number(const char *s, int size, long long *v)
{
	const char		*p = s;
	unsigned long long	 n = 0, mult = 1;
	int			 neg = 0, big = 0;

	if (*p == '-' || *p == '+')
		neg = (*p++ == '-');
	if (!isdigit((unsigned char)*p))
		return (-1);
	if (p[0] == '0' && isdigit((unsigned char)p[1]))
		return (-1);
	for (; isdigit((unsigned char)*p); p++) {
		if (n > 1000000000000000ULL)
			big = 1;
		else
			n = n * 10 + (unsigned long long)(*p - '0');
	}
	if (size && *p != '\0') {
		switch (*p++) {
		case 'k': case 'K':
			mult = 1024;
			break;
		case 'm': case 'M':
			mult = 1024 * 1024;
			break;
		case 'g': case 'G':
			mult = 1024 * 1024 * 1024;
			break;
		default:
			return (-1);
		}
	}
	if (*p != '\0')
		return (-1);
	if (big || n > (unsigned long long)LLONG_MAX / mult)
		*v = neg ? LLONG_MIN : LLONG_MAX;
	else
		*v = neg ? -(long long)(n * mult) : (long long)(n * mult);
	return (0);
}

/* "host:port" or "[IPv6]:port", port 1 to 65535. */
static int
config_check_hostport(const char *s)
{
	const char	*end, *port, *p;
	char		 addr[INET6_ADDRSTRLEN];
	struct in6_addr	 in6;
	size_t		 hlen;
	long		 n = 0;

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return (-1);
		hlen = end - s - 1;
		if (hlen == 0 || hlen >= sizeof addr)
			return (-1);
		memcpy(addr, s + 1, hlen);
		addr[hlen] = '\0';
		if (inet_pton(AF_INET6, addr, &in6) != 1)
			return (-1);
		port = end + 2;
	} else {
		if ((end = strrchr(s, ':')) == NULL || end == s)
			return (-1);
		if (end - s > 253)
			return (-1);
		for (p = s; p != end; p++) {
			if (!isalnum((unsigned char)*p) && *p != '-' &&
			    *p != '.')
				return (-1);
		}
		port = end + 1;
	}
	if (*port == '0' || *port == '\0')
		return (-1);
	for (p = port; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) || p - port >= 5)
			return (-1);
		n = n * 10 + (*p - '0');
	}
	return (n >= 1 && n <= 65535 ? 0 : -1);
}

/* A URL with one of the key's schemes and something after it. */
static int
config_check_url(const struct config_key *k, char *s)
{
	const char *const	*sc;
	size_t			 slen = 0, len;

	for (sc = k->schemes; *sc != NULL; sc++) {
		slen = strlen(*sc);
		if (strncmp(s, *sc, slen) == 0)
			break;
	}
	if (*sc == NULL || strchr(s, ' ') != NULL)
		return (-1);
	/* Links are built as public_url + "/path": keep no trailing slash. */
	len = strlen(s);
	while (len > slen && s[len - 1] == '/')
		s[--len] = '\0';
	if (len == slen || s[slen] == '/')
		return (-1);
	return (0);
}

/* What a key expects, for messages: "must be <this>". */
static const char *
config_expected(const struct config_key *k, char *buf, size_t len)
{
	const char *const	*sc;
	size_t			 o;

	switch (k->type) {
	case CONFIG_SECTION:
		return ("a mapping");
	case CONFIG_STRING:
		return ("a string");
	case CONFIG_FILE:
		return ("a file path");
	case CONFIG_BOOL:
		return ("true or false");
	case CONFIG_INT:
		snprintf(buf, len, "an integer between %lld and %lld",
		    k->min, k->max);
		return (buf);
	case CONFIG_SIZE:
		snprintf(buf, len, "a size in bytes between %lld and %lld",
		    k->min, k->max);
		return (buf);
	case CONFIG_ENUM:
		snprintf(buf, len, "one of %s", k->choices);
		return (buf);
	case CONFIG_HOSTPORT:
		return ("\"host:port\" or \"[IPv6 address]:port\" with a port "
		    "from 1 to 65535");
	case CONFIG_CIDRS:
		return ("a list of CIDR blocks such as 192.0.2.0/24");
	case CONFIG_URL:
		o = (size_t)snprintf(buf, len, "a URL starting with");
		for (sc = k->schemes; *sc != NULL && o < len; sc++) {
			o += (size_t)snprintf(buf + o, len - o, "%s %s",
			    sc == k->schemes ? "" : " or", *sc);
		}
		return (buf);
	}
	return ("a value");
}

static const char *
config_node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return ("a mapping");
	case YAML_SEQUENCE_NODE:
		return ("a list");
	default:
		return ("a scalar");
	}
}

/* An empty plain value, "~" or "null": the key counts as absent. */
static int
config_is_null(const yaml_node_t *n)
{
	const char	*v = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return (0);
	return (n->data.scalar.length == 0 || strcmp(v, "~") == 0 ||
	    strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	    strcmp(v, "NULL") == 0);
}

/*
 * Check one value and store it. Defaults come through here too (line 0), so
 * the table cannot hold a default that the file could not.
 */
static int
config_set_value(struct config_ctx *ctx, const struct config_key *k,
    const char *value, size_t len, int quoted, size_t line)
{
	void		*dst = (char *)ctx->cf + k->off;
	char		 show[CONFIG_SHOW_SIZE], expect[128], *s;
	const char	*why, *what;
	long long	 n;
	struct stat	 sb;
	size_t		 i;

	if (memchr(value, '\0', len) != NULL) {
		config_add_cause(ctx, line, "%s: must not contain NUL bytes",
		    k->path);
		return (-1);
	}
	switch (k->type) {
	case CONFIG_BOOL:
		if (quoted)
			goto bad;
		if (strcasecmp(value, "true") == 0 ||
		    strcasecmp(value, "yes") == 0)
			*(int *)dst = 1;
		else if (strcasecmp(value, "false") == 0 ||
		    strcasecmp(value, "no") == 0)
			*(int *)dst = 0;
		else
			goto bad;
		return (0);
	case CONFIG_INT:
	case CONFIG_SIZE:
		if (quoted ||
		    config_parse_number(value, k->type == CONFIG_SIZE, &n) != 0)
			goto bad;
		if (n < k->min || n > k->max) {
			config_add_cause(ctx, line,
			    "%s: must be between %lld and %lld", k->path,
			    k->min, k->max);
			return (-1);
		}
		if (k->type == CONFIG_INT)
			*(int *)dst = (int)n;
		else
			*(size_t *)dst = (size_t)n;
		return (0);
	case CONFIG_ENUM:
		if (k->parse(value, dst) != 0)
			goto bad;
		return (0);
	default:
		break;
	}

	for (i = 0; i < len; i++) {
		if ((unsigned char)value[i] < 0x20 ||
		    (unsigned char)value[i] == 0x7f) {
			config_add_cause(ctx, line,
			    "%s: must not contain control characters", k->path);
			return (-1);
		}
	}
	if (len == 0) {
		config_add_cause(ctx, line, "%s: must not be empty", k->path);
		return (-1);
	}
	s = xstrdup(value);
	switch (k->type) {
	case CONFIG_HOSTPORT:
		if (config_check_hostport(s) != 0)
			goto bad_free;
		break;
	case CONFIG_URL:
		if (config_check_url(k, s) != 0)
			goto bad_free;
		break;
	case CONFIG_FILE:
		if (stat(s, &sb) != 0 || access(s, R_OK) != 0) {
			config_add_cause(ctx, line, "%s: \"%s\": %s", k->path,
			    config_show(show, s, len), strerror(errno));
			free(s);
			return (-1);
		}
		if (!S_ISREG(sb.st_mode)) {
			config_add_cause(ctx, line,
			    "%s: \"%s\": not a regular file", k->path,
			    config_show(show, s, len));
			free(s);
			return (-1);
		}
		break;
	default:
		if (k->check != NULL && (why = k->check(s)) != NULL) {
			config_add_cause(ctx, line, "%s: %s", k->path, why);
			free(s);
			return (-1);
		}
		break;
	}
	free(*(char **)dst);
	*(char **)dst = s;
	return (0);

bad_free:
	free(s);
bad:
	what = config_expected(k, expect, sizeof expect);
	if (quoted && (k->type == CONFIG_BOOL || k->type == CONFIG_INT ||
	    k->type == CONFIG_SIZE))
		config_add_cause(ctx, line, "%s: must be %s, not a quoted "
		    "string", k->path, what);
	else
		config_add_cause(ctx, line, "%s: must be %s, not \"%s\"",
		    k->path, what, config_show(show, value, len));
	return (-1);
}

static void	config_walk(struct config_ctx *, yaml_node_t *, const char *);

/* A list of CIDR blocks: every item checked, each error on its own line. */
static void
config_set_cidrs(struct config_ctx *ctx, int idx, yaml_node_t *vn)
{
	const struct config_key	*k = &config_keys[idx];
	char			***dst = (char ***)((char *)ctx->cf + k->off);
	size_t			*count = (size_t *)((char *)ctx->cf +
				    k->count_off);
	char			 show[CONFIG_SHOW_SIZE];
	yaml_node_item_t	*it;
	yaml_node_t		*item;
	const char		*v;
	int			 bad = 0;

	if (vn->type != YAML_SEQUENCE_NODE) {
		config_add_cause(ctx, vn->start_mark.line + 1,
		    "%s: must be a list of CIDR blocks, not %s", k->path,
		    config_node_kind(vn));
		ctx->bad[idx] = 1;
		return;
	}
	for (it = vn->data.sequence.items.start;
	    it < vn->data.sequence.items.top; it++) {
		item = yaml_document_get_node(ctx->doc, *it);
		if (item == NULL)
			continue;
		if (item->type != YAML_SCALAR_NODE) {
			config_add_cause(ctx, item->start_mark.line + 1,
			    "%s: items must be CIDR blocks, not %s", k->path,
			    config_node_kind(item));
			bad = 1;
			continue;
		}
		v = (const char *)item->data.scalar.value;
		if (!ssrf_cidr_valid(v)) {
			config_add_cause(ctx, item->start_mark.line + 1,
			    "%s: \"%s\" is not a CIDR block such as "
			    "192.0.2.0/24", k->path, config_show(show, v,
			    item->data.scalar.length));
			bad = 1;
			continue;
		}
		*dst = xrealloc(*dst, (*count + 1) * sizeof **dst);
		(*dst)[(*count)++] = xstrdup(v);
	}
	if (bad)
		ctx->bad[idx] = 1;
	else
		ctx->set[idx] = 1;
}

/* One key's value node: a section to walk, or a scalar to store. */
static void
config_set_node(struct config_ctx *ctx, int idx, yaml_node_t *vn)
{
	const struct config_key	*k = &config_keys[idx];
	char			 expect[128];
	size_t			 line = vn->start_mark.line + 1;
	int			 quoted;

	if (config_is_null(vn))
		return;
	if (k->type == CONFIG_SECTION) {
		if (vn->type != YAML_MAPPING_NODE) {
			config_add_cause(ctx, line,
			    "%s: must be a mapping, not %s", k->path,
			    config_node_kind(vn));
			ctx->bad[idx] = 1;
			return;
		}
		ctx->set[idx] = 1;
		config_walk(ctx, vn, k->path);
		return;
	}
	if (k->type == CONFIG_CIDRS) {
		config_set_cidrs(ctx, idx, vn);
		return;
	}
	if (vn->type != YAML_SCALAR_NODE) {
		config_add_cause(ctx, line, "%s: must be %s, not %s", k->path,
		    config_expected(k, expect, sizeof expect),
		    config_node_kind(vn));
		ctx->bad[idx] = 1;
		return;
	}
	quoted = vn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
	if (config_set_value(ctx, k, (const char *)vn->data.scalar.value,
	    vn->data.scalar.length, quoted, line) == 0)
		ctx->set[idx] = 1;
	else
		ctx->bad[idx] = 1;
}

static void
config_unknown(struct config_ctx *ctx, size_t line, const char *prefix,
    const char *key, size_t klen)
{
	char		 show[CONFIG_SHOW_SIZE], *path;
	const char	*hint = NULL, *dot = prefix != NULL ? "." : "";

	if (prefix == NULL)
		prefix = "";
	config_show(show, key, klen);
	if (strlen(key) == klen) {
		xasprintf(&path, "%s%s%s", prefix, dot, key);
		if (strchr(key, '.') != NULL && config_find(path) != -1) {
			config_add_cause(ctx, line, "unknown key \"%s%s%s\" "
			    "(write it as nested mappings, one level per dot)",
			    prefix, dot, show);
			free(path);
			return;
		}
		free(path);
		hint = config_suggest(*prefix != '\0' ? prefix : NULL, key);
	}
	if (hint != NULL)
		config_add_cause(ctx, line,
		    "unknown key \"%s%s%s\" (did you mean \"%s\"?)", prefix,
		    dot, show, hint);
	else
		config_add_cause(ctx, line, "unknown key \"%s%s%s\"", prefix,
		    dot, show);
}

/* Walk a mapping under prefix (NULL at the top). */
static void
config_walk(struct config_ctx *ctx, yaml_node_t *map, const char *prefix)
{
	yaml_node_pair_t	*pair;
	yaml_node_t		*kn, *vn;
	const char		*key;
	char			*path;
	size_t			 klen, line;
	int			 idx;

	for (pair = map->data.mapping.pairs.start;
	    pair < map->data.mapping.pairs.top; pair++) {
		kn = yaml_document_get_node(ctx->doc, pair->key);
		vn = yaml_document_get_node(ctx->doc, pair->value);
		if (kn == NULL || vn == NULL)
			continue;
		line = kn->start_mark.line + 1;
		if (kn->type != YAML_SCALAR_NODE) {
			config_add_cause(ctx, line, "keys must be strings, not "
			    "%s", config_node_kind(kn));
			continue;
		}
		key = (const char *)kn->data.scalar.value;
		klen = kn->data.scalar.length;

		idx = -1;
		if (strlen(key) == klen && strchr(key, '.') == NULL) {
			if (prefix != NULL)
				xasprintf(&path, "%s.%s", prefix, key);
			else
				path = xstrdup(key);
			idx = config_find(path);
			free(path);
		}
		if (idx == -1) {
			config_unknown(ctx, line, prefix, key, klen);
			continue;
		}
		/*
		 * A path has one place in the tree, so one array finds
		 * duplicates in linear time, even under repeated sections.
		 */
		if (ctx->given[idx] != 0) {
			config_add_cause(ctx, line,
			    "duplicate key \"%s\" (first on line %zu)",
			    config_keys[idx].path, ctx->given[idx]);
			continue;
		}
		ctx->given[idx] = line;
		config_set_node(ctx, idx, vn);
	}
}

/* Line for a missing key: its section's, else the top of the file. */
static size_t
config_parent_line(struct config_ctx *ctx, const struct config_key *k)
{
	const char	*dot;
	char		*parent;
	int		 idx;

	if ((dot = strrchr(k->path, '.')) == NULL)
		return (1);
	parent = xstrndup(k->path, dot - k->path);
	idx = config_find(parent);
	free(parent);
	if (idx == -1 || ctx->given[idx] == 0)
		return (1);
	return (ctx->given[idx]);
}

/*
 * Rules between keys, once the whole file is read. A key already reported
 * as bad is not reported again as missing.
 */
static void
config_finish(struct config_ctx *ctx)
{
	const struct config_key	*k;
	struct config		*cf = ctx->cf;
	size_t			 i, line;
	int			 other;

	if (ctx->broken)
		return;
	for (i = 0; i < nitems(config_keys); i++) {
		k = &config_keys[i];
		if (k->required && !ctx->set[i] && !ctx->bad[i]) {
			line = ctx->given[i];
			if (line == 0)
				line = config_parent_line(ctx, k);
			config_add_cause(ctx, line, "%s: required", k->path);
		}
		if (k->requires != NULL && ctx->set[i]) {
			other = config_find(k->requires);
			if (other != -1 && !ctx->set[other] &&
			    !ctx->bad[other])
				config_add_cause(ctx, ctx->given[i],
				    "%s: requires %s as well", k->path,
				    k->requires);
		}
	}

	if (cf->smtp_starttls && cf->smtp_url != NULL &&
	    strncmp(cf->smtp_url, "smtps://", 8) == 0) {
		config_add_cause(ctx, ctx->given[config_find("smtp.starttls")],
		    "smtp.starttls: only for smtp:// (smtps:// is TLS from "
		    "the start)");
	}
	if (cf->listen_http != NULL && cf->listen_ws != NULL &&
	    strcmp(cf->listen_http, cf->listen_ws) == 0) {
		line = ctx->given[config_find("listen.ws")];
		if (line == 0)
			line = ctx->given[config_find("listen.http")];
		config_add_cause(ctx, line == 0 ? 1 : line,
		    "listen.ws: must differ from listen.http");
	}
	if (cf->metrics_listen != NULL && ((cf->listen_http != NULL &&
	    strcmp(cf->metrics_listen, cf->listen_http) == 0) ||
	    (cf->listen_ws != NULL &&
	    strcmp(cf->metrics_listen, cf->listen_ws) == 0)))
		config_add_cause(ctx, ctx->given[config_find("metrics.listen")],
		    "metrics.listen: must differ from listen.http and "
		    "listen.ws");
}

static void
config_yaml_error(struct config_ctx *ctx, yaml_parser_t *p, const char *buf,
    size_t len)
{
	const char	*problem = p->problem != NULL ? p->problem : "error";
	size_t		 line, i;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		config_add_cause(ctx, 1, "out of memory");
		break;
	case YAML_READER_ERROR:
		/* The reader gives an offset, not a mark. */
		line = 1;
		for (i = 0; i < p->problem_offset && i < len; i++) {
			if (buf[i] == '\n')
				line++;
		}
		config_add_cause(ctx, line, "invalid text: %s", problem);
		break;
	default:
		line = p->problem_mark.line + 1;
		if (p->context != NULL)
			config_add_cause(ctx, line,
			    "syntax error: %s (%s on line %zu)", problem,
			    p->context, p->context_mark.line + 1);
		else
			config_add_cause(ctx, line, "syntax error: %s",
			    problem);
		break;
	}
}

static void
config_defaults(struct config_ctx *ctx)
{
	const struct config_key	*k;
	size_t			 i;

	for (i = 0; i < nitems(config_keys); i++) {
		k = &config_keys[i];
		if (k->def != NULL)
			config_set_value(ctx, k, k->def, strlen(k->def), 0, 0);
	}
}

/* Parse len bytes of YAML; name is the FILE in messages. */
struct config *
config_parse_string(const char *name, const char *buf, size_t len,
    char **causes)
{
	struct config_ctx	 ctx;
	yaml_parser_t		 parser;
	yaml_document_t		 doc, extra;
	yaml_node_t		*root;

	_Static_assert(nitems(config_keys) <= nitems(ctx.given),
	    "config_ctx arrays too small");

	memset(&ctx, 0, sizeof ctx);
	ctx.name = name;
	ctx.cf = xcalloc(1, sizeof *ctx.cf);
	ctx.cf->path = xstrdup(name);
	config_defaults(&ctx);

	if (!yaml_parser_initialize(&parser)) {
		config_add_cause(&ctx, 1, "out of memory");
		goto out;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		config_yaml_error(&ctx, &parser, buf, len);
		yaml_parser_delete(&parser);
		goto out;
	}
	ctx.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root != NULL && !config_is_null(root)) {
		if (root->type != YAML_MAPPING_NODE) {
			config_add_cause(&ctx, root->start_mark.line + 1,
			    "must be a mapping of keys, not %s",
			    config_node_kind(root));
			ctx.broken = 1;
		} else
			config_walk(&ctx, root, NULL);
	}
	config_finish(&ctx);

	if (root != NULL) {
		if (!yaml_parser_load(&parser, &extra))
			config_yaml_error(&ctx, &parser, buf, len);
		else {
			if (yaml_document_get_root_node(&extra) != NULL)
				config_add_cause(&ctx,
				    extra.start_mark.line + 1,
				    "only one YAML document is allowed");
			yaml_document_delete(&extra);
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);

out:
	if (ctx.ncauses != 0) {
		*causes = config_join_causes(&ctx);
		config_free_causes(&ctx);
		config_free(ctx.cf);
		return (NULL);
	}
	*causes = NULL;
	return (ctx.cf);
}

/* Read and parse a file; at most CONFIG_MAX_FILE bytes. */
struct config *
config_load(const char *path, char **causes)
{
	struct config	*cf;
	FILE		*f;
	char		*buf;
	size_t		 len;

	if ((f = fopen(path, "r")) == NULL) {
		xasprintf(causes, "%s: cannot open: %s", path,
		    strerror(errno));
		return (NULL);
	}
	buf = xmalloc(CONFIG_MAX_FILE + 1);
	len = fread(buf, 1, CONFIG_MAX_FILE + 1, f);
	if (ferror(f)) {
		xasprintf(causes, "%s: cannot read: %s", path,
		    strerror(errno));
		cf = NULL;
	} else if (len > CONFIG_MAX_FILE) {
		xasprintf(causes, "%s: larger than %d bytes", path,
		    CONFIG_MAX_FILE);
		cf = NULL;
	} else
		cf = config_parse_string(path, buf, len, causes);
	fclose(f);
	free(buf);
	return (cf);
}

/* Free a config and every string in it. */
void
config_free(struct config *cf)
{
	const struct config_key	*k;
	size_t			 i;

	if (cf == NULL)
		return;
	for (i = 0; i < nitems(config_keys); i++) {
		k = &config_keys[i];
		switch (k->type) {
		case CONFIG_STRING:
		case CONFIG_FILE:
		case CONFIG_HOSTPORT:
		case CONFIG_URL:
			free(*(char **)((char *)cf + k->off));
			break;
		case CONFIG_CIDRS:
			strv_free(*(char ***)((char *)cf + k->off),
			    *(size_t *)((char *)cf + k->count_off));
			break;
		default:
			break;
		}
	}
	free(cf->path);
	free(cf);
}
