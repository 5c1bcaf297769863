/*
 * metrics.c: this instance's counters, gauges and latency histograms, and
 * GET /metrics in the Prometheus text format (version 0.0.4). The http,
 * stream, deliver and db code count through the one-line metrics_*() calls
 * below; everything is a C11 atomic, so counting never takes a lock and
 * never waits on a scrape. Queue depths come from PostgreSQL at scrape
 * time (every instance reports the same shared queue).
 *
 * /metrics is for operators: on the REST listener it needs an admin
 * token; with metrics.listen set it is answered there without a token
 * (a loopback or management address) and refused on the REST listener.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "tocsind.h"

#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

/* Request methods and status classes, fixed so labels stay few. */
static const char *const metrics_methods[] = {
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"
};
#define METRICS_METHODS	(sizeof metrics_methods / sizeof metrics_methods[0])
#define METRICS_CLASSES	5	/* 1xx .. 5xx */

/* Event types; anything else counts as "other". */
static const char *const metrics_event_types[] = {
	"advisory.published", "advisory.updated", "advisory.revoked",
	"warning.issued", "other"
};
#define METRICS_EVENT_TYPES \
	(sizeof metrics_event_types / sizeof metrics_event_types[0])

static const char *const metrics_channels[METRICS__CHANNELS] = {
	[METRICS_WS] = "ws", [METRICS_WEBHOOK] = "webhook",
	[METRICS_EMAIL] = "email"
};
static const char *const metrics_results[METRICS__RESULTS] = {
	[METRICS_DELIVERED] = "delivered", [METRICS_RETRY] = "retry",
	[METRICS_FAILED] = "failed", [METRICS_GONE] = "gone",
	[METRICS_CANCELLED] = "cancelled"
};

/*
 * Publish-to-delivery latency, in seconds: from sub-second stream pushes
 * to webhook retries hours later (the retry schedule reaches a day).
 */
static const double metrics_bounds[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
	900, 3600, 21600, 86400
};
#define METRICS_BUCKETS	(sizeof metrics_bounds / sizeof metrics_bounds[0])

/* Counts per bucket (not cumulative; the last is +Inf), sum in us. */
struct metrics_histogram {
	atomic_uint_fast64_t	 bucket[METRICS_BUCKETS + 1];
	atomic_uint_fast64_t	 sum_us;
};

static struct {
	atomic_uint_fast64_t	 http[METRICS_METHODS][METRICS_CLASSES];
	atomic_int_fast64_t	 ws_connections;
	atomic_uint_fast64_t	 ring_events;
	atomic_uint_fast64_t	 ring_bytes;
	atomic_uint_fast64_t	 events[METRICS_EVENT_TYPES];
	atomic_uint_fast64_t	 deliveries[METRICS__CHANNELS]
				    [METRICS__RESULTS];
	struct metrics_histogram latency[METRICS__CHANNELS];
	atomic_uint_fast64_t	 db_errors;
	atomic_uint_fast64_t	 rate_limited[2];	/* token, address */
	atomic_uint_fast64_t	 audit_failures;
} metrics;

/*
 * Events written by this thread's open transaction: counted only when it
 * commits (db_commit calls metrics_tx_end), so a rollback counts nothing.
 */
static _Thread_local unsigned	metrics_pending[METRICS_EVENT_TYPES];

static struct MHD_Daemon	*metrics_daemon;
static int			 metrics_fd = -1;	/* metrics_listen() */

static void
metrics_add(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t
metrics_get(atomic_uint_fast64_t *c)
{
	return (atomic_load_explicit(c, memory_order_relaxed));
}

/* A request answered with STATUS. */
void
metrics_http_request(const char *method, unsigned status)
{
	size_t	m, c;

	for (m = 0; m < METRICS_METHODS - 1; m++) {
		if (method != NULL && strcmp(method, metrics_methods[m]) == 0)
			break;
	}
	c = status >= 100 && status < 600 ? status / 100 - 1 : 4;
	metrics_add(&metrics.http[m][c], 1);
}

/* A WebSocket connection opened (+1) or closed (-1). */
void
metrics_ws_connections(int delta)
{
	atomic_fetch_add_explicit(&metrics.ws_connections, delta,
	    memory_order_relaxed);
}

/* The stream's ring of recent events now holds EVENTS taking BYTES. */
void
metrics_stream_ring(size_t events, size_t bytes)
{
	atomic_store_explicit(&metrics.ring_events, events,
	    memory_order_relaxed);
	atomic_store_explicit(&metrics.ring_bytes, bytes,
	    memory_order_relaxed);
}

static size_t
metrics_event_index(const char *type)
{
	size_t	i;

	for (i = 0; i < METRICS_EVENT_TYPES - 1; i++) {
		if (strcmp(type, metrics_event_types[i]) == 0)
			break;
	}
	return (i);
}

/* An event of TYPE written in this thread's transaction (counted at commit). */
void
metrics_event(const char *type)
{
	metrics_pending[metrics_event_index(type)]++;
}

/* This thread's transaction ended: count its events if it COMMITTED. */
void
metrics_tx_end(int committed)
{
	size_t	i;

	for (i = 0; i < METRICS_EVENT_TYPES; i++) {
		if (committed && metrics_pending[i] != 0)
			metrics_add(&metrics.events[i], metrics_pending[i]);
		metrics_pending[i] = 0;
	}
}

/* The channel of an outbox row ("webhook", "email"). */
enum metrics_channel
metrics_channel_of(const char *channel)
{
	if (channel != NULL && strcmp(channel, "email") == 0)
		return (METRICS_EMAIL);
	return (METRICS_WEBHOOK);
}

/* An attempt of CHANNEL finished with RESULT. */
void
metrics_delivery(enum metrics_channel ch, enum metrics_result res)
{
	if (ch < METRICS__CHANNELS && res < METRICS__RESULTS)
		metrics_add(&metrics.deliveries[ch][res], 1);
}

/* SECONDS from an event's creation to its delivery on channel CH. */
void
metrics_latency(enum metrics_channel ch, double seconds)
{
	struct metrics_histogram	*h;
	size_t				 i;

	if (ch >= METRICS__CHANNELS)
		return;
	if (seconds < 0)
		seconds = 0;	/* clocks of two hosts */
	h = &metrics.latency[ch];
	for (i = 0; i < METRICS_BUCKETS && seconds > metrics_bounds[i]; i++)
		;
	metrics_add(&h->bucket[i], 1);
	if (seconds < 1e9)
		metrics_add(&h->sum_us, (uint64_t)(seconds * 1e6));
}

/* From CREATED_US (wall clock, microseconds) to now, on channel CH. */
void
metrics_latency_since(enum metrics_channel ch, int64_t created_us)
{
	struct timespec	ts;
	int64_t		now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	metrics_latency(ch, (double)(now - created_us) / 1e6);
}

/* A statement or a connection to PostgreSQL failed. */
void
metrics_db_error(void)
{
	metrics_add(&metrics.db_errors, 1);
}

/* A request refused with 429 (PER_TOKEN: by its token's bucket). */
void
metrics_rate_limited(int per_token)
{
	metrics_add(&metrics.rate_limited[per_token ? 0 : 1], 1);
}

/* An audit entry could not be written (audit.c). */
void
metrics_audit_failure(void)
{
	metrics_add(&metrics.audit_failures, 1);
}

static void
metrics_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
metrics_histogram_text(FILE *f, const char *name, const char *label,
    struct metrics_histogram *h)
{
	uint64_t	cum = 0;
	size_t		i;

	for (i = 0; i <= METRICS_BUCKETS; i++) {
		cum += metrics_get(&h->bucket[i]);
		if (i < METRICS_BUCKETS)
			fprintf(f, "%s_bucket{%s,le=\"%g\"} %" PRIu64 "\n",
			    name, label, metrics_bounds[i], cum);
		else
			fprintf(f, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n",
			    name, label, cum);
	}
	fprintf(f, "%s_sum{%s} %.6f\n", name, label,
	    (double)metrics_get(&h->sum_us) / 1e6);
	fprintf(f, "%s_count{%s} %" PRIu64 "\n", name, label, cum);
}

/* The delivery queue's depth per channel; -1 if PostgreSQL failed. */
static int
metrics_queue_text(FILE *f, PGconn *db)
{
	PGresult	*res;
	int		 i;

	if (db == NULL)
		return (-1);
	res = db_exec(db, "SELECT c.channel, (SELECT count(*) FROM deliveries "
	    "d WHERE d.channel = c.channel AND d.state IN ('pending', "
	    "'sending')) FROM (VALUES ('webhook'), ('email')) AS c(channel) "
	    "ORDER BY 1", 0, NULL);
	if (res == NULL)
		return (-1);
	metrics_head(f, "tocsin_delivery_queue_depth", "gauge",
	    "Deliveries pending or being sent, by channel (all instances).");
	for (i = 0; i < PQntuples(res); i++)
		fprintf(f, "tocsin_delivery_queue_depth{channel=\"%s\"} %s\n",
		    PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
	PQclear(res);
	return (0);
}

/*
 * The whole exposition (caller frees). DB may be NULL or fail: what comes
 * from PostgreSQL is then left out and the in-process metrics still come.
 */
char *
metrics_text(PGconn *db)
{
	FILE		*f;
	char		*buf = NULL, *outbox = NULL, label[64];
	size_t		 len = 0, m, c, t, r;

	if ((f = open_memstream(&buf, &len)) == NULL)
		fatalx("metrics: open_memstream failed");
	metrics_head(f, "tocsin_build_info", "gauge",
	    "The running version (always 1).");
	fprintf(f, "tocsin_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);

	metrics_head(f, "tocsin_http_requests_total", "counter",
	    "REST and web requests answered, by method and status class.");
	for (m = 0; m < METRICS_METHODS; m++) {
		for (c = 0; c < METRICS_CLASSES; c++) {
			if (metrics_get(&metrics.http[m][c]) == 0 &&
			    strcmp(metrics_methods[m], "GET") != 0)
				continue;
			fprintf(f, "tocsin_http_requests_total{method=\"%s\","
			    "status=\"%zuxx\"} %" PRIu64 "\n",
			    metrics_methods[m], c + 1,
			    metrics_get(&metrics.http[m][c]));
		}
	}

	metrics_head(f, "tocsin_ws_connections", "gauge",
	    "Open WebSocket connections to this instance.");
	fprintf(f, "tocsin_ws_connections %" PRIdFAST64 "\n",
	    atomic_load_explicit(&metrics.ws_connections,
	    memory_order_relaxed));

	metrics_head(f, "tocsin_stream_ring_events", "gauge",
	    "Recent events held in memory for resuming clients "
	    "(stream.ring_events at most).");
	fprintf(f, "tocsin_stream_ring_events %" PRIu64 "\n",
	    metrics_get(&metrics.ring_events));
	metrics_head(f, "tocsin_stream_ring_bytes", "gauge",
	    "Memory those events hold, estimated: messages and parsed "
	    "scopes.");
	fprintf(f, "tocsin_stream_ring_bytes %" PRIu64 "\n",
	    metrics_get(&metrics.ring_bytes));

	metrics_head(f, "tocsin_events_total", "counter",
	    "Events published (committed) by this instance, by type.");
	for (t = 0; t < METRICS_EVENT_TYPES; t++)
		fprintf(f, "tocsin_events_total{type=\"%s\"} %" PRIu64 "\n",
		    metrics_event_types[t], metrics_get(&metrics.events[t]));

	metrics_head(f, "tocsin_deliveries_total", "counter",
	    "Delivery attempts finished by this instance, by channel and "
	    "result.");
	for (c = METRICS_WEBHOOK; c < METRICS__CHANNELS; c++) {
		for (r = 0; r < METRICS__RESULTS; r++)
			fprintf(f, "tocsin_deliveries_total{channel=\"%s\","
			    "result=\"%s\"} %" PRIu64 "\n",
			    metrics_channels[c], metrics_results[r],
			    metrics_get(&metrics.deliveries[c][r]));
	}

	metrics_head(f, "tocsin_delivery_latency_seconds", "histogram",
	    "From an event's creation to its write on a WebSocket (ws) or "
	    "its successful delivery (webhook, email).");
	for (c = 0; c < METRICS__CHANNELS; c++) {
		snprintf(label, sizeof label, "channel=\"%s\"",
		    metrics_channels[c]);
		metrics_histogram_text(f, "tocsin_delivery_latency_seconds",
		    label, &metrics.latency[c]);
	}

	metrics_head(f, "tocsin_rate_limited_total", "counter",
	    "Requests refused with 429, by the bucket that was empty.");
	fprintf(f, "tocsin_rate_limited_total{bucket=\"token\"} %" PRIu64 "\n"
	    "tocsin_rate_limited_total{bucket=\"address\"} %" PRIu64 "\n",
	    metrics_get(&metrics.rate_limited[0]),
	    metrics_get(&metrics.rate_limited[1]));

	metrics_head(f, "tocsin_audit_failures_total", "counter",
	    "Audit entries that could not be written.");
	fprintf(f, "tocsin_audit_failures_total %" PRIu64 "\n",
	    metrics_get(&metrics.audit_failures));

	/* From PostgreSQL: may fail, and then counts as a database error. */
	if (metrics_queue_text(f, db) == 0 &&
	    store_outbox_metrics_text(db, &outbox) == 0 && outbox != NULL)
		fputs(outbox, f);
	free(outbox);

	metrics_head(f, "tocsin_db_errors_total", "counter",
	    "Failed PostgreSQL statements and connections.");
	fprintf(f, "tocsin_db_errors_total %" PRIu64 "\n",
	    metrics_get(&metrics.db_errors));
	if (fclose(f) != 0)
		fatalx("metrics: cannot write the exposition");
	return (buf);
}

/* GET /metrics on the REST listener: admins, unless metrics.listen is set. */
static void
api_metrics_cb(struct req *r)
{
	char	*text;

	if (http_config()->metrics_listen != NULL) {
		http_problem(r, 404, NULL, "metrics are served on "
		    "metrics.listen");
		return;
	}
	if (!http_require_roles(r, ROLEBIT(ROLE_ADMIN)))
		return;
	text = metrics_text(r->db);
	http_reply_data(r, 200, METRICS_CONTENT_TYPE, text, strlen(text));
}

const struct route api_metrics_routes[] = {
	{ "GET", "/metrics", api_metrics_cb, HTTP_ROUTE_NO_DB },
	{ NULL, NULL, NULL, 0 }
};

/* The metrics listener: GET /metrics and nothing else, no body, no token. */
static enum MHD_Result
metrics_access_cb(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct MHD_Response	*resp;
	enum MHD_Result		 ret;
	PGconn			*db;
	const char		*type = "text/plain; charset=utf-8";
	char			*text;
	unsigned		 status = 200;
	static int		 marker;

	if (*con_cls == NULL) {		/* headers only so far */
		*con_cls = &marker;
		return (MHD_YES);
	}
	if (*upload_data_size != 0) {	/* a body: ignored */
		*upload_data_size = 0;
		return (MHD_YES);
	}
	if (strcmp(url, "/metrics") != 0) {
		status = 404;
		text = xstrdup("only /metrics is served here\n");
	} else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		status = 405;
		text = xstrdup("use GET\n");
	} else {
		db = db_acquire();
		text = metrics_text(db);
		if (db != NULL)
			db_release(db);
		type = METRICS_CONTENT_TYPE;
	}
	resp = MHD_create_response_from_buffer(strlen(text), text,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return (MHD_NO);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	if (status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(mc, status, resp);
	MHD_destroy_response(resp);
	return (ret);
}

/*
 * Bind metrics.listen, if set, before privileges are dropped; 0 or -1
 * (logged). The socket goes to libmicrohttpd in metrics_start().
 */
int
metrics_listen(const struct config *cfg)
{
	if (cfg->metrics_listen == NULL || metrics_fd != -1)
		return (0);
	metrics_fd = http_bind("metrics.listen", cfg->metrics_listen, 16);
	return (metrics_fd == -1 ? -1 : 0);
}

/* Serve metrics.listen, if set; 0 or -1 (logged). Plain HTTP: keep it on
 * loopback or a management network. */
int
metrics_start(const struct config *cfg)
{
	if (cfg->metrics_listen == NULL)
		return (0);
	if (metrics_listen(cfg) != 0)
		return (-1);
	/* One thread: a scraper every few seconds, never a crowd. */
	metrics_daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_ERROR_LOG, 0, NULL, NULL, metrics_access_cb, NULL,
	    MHD_OPTION_LISTEN_SOCKET, metrics_fd,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
	    MHD_OPTION_END);
	if (metrics_daemon == NULL) {
		log_error("metrics.listen: cannot serve on %s",
		    cfg->metrics_listen);
		close(metrics_fd);
		metrics_fd = -1;
		return (-1);
	}
	log_info("metrics listening on %s", cfg->metrics_listen);
	return (0);
}

void
metrics_stop(void)
{
	if (metrics_daemon != NULL) {
		MHD_stop_daemon(metrics_daemon);
		metrics_daemon = NULL;
	}
	if (metrics_fd != -1) {
		close(metrics_fd);
		metrics_fd = -1;
	}
}
