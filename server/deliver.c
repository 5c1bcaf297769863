/*
 * deliver.c: the outbox worker (webhooks and e-mail), one thread per
 * tocsind with its own PostgreSQL connection and a libcurl multi handle.
 *
 *   LISTEN tocsin_outbox / every second / a request finished
 *     -> claim due rows (store_outbox_claim: priority order, SKIP LOCKED,
 *        at most webhooks_per_endpoint in flight per endpoint,
 *        DELIVER_MAIL_INFLIGHT messages to the relay, and
 *        deliver_concurrency in all)
 *     -> load the events (cached) and endpoints, check once more that the
 *        organisation may see the item (tlp_may_see), render, sign, POST;
 *        e-mail rows go to deliver_mail.c, which composes the message
 *        that curl then sends through the relay (mail.c)
 *     -> record every finished attempt in one transaction (retry schedule,
 *        Retry-After, 410 disables, refused addresses reported)
 *     -> every few seconds, turn the digests that are due into deliveries
 *
 * Every connection curl opens goes through deliver_opensocket_cb, which
 * refuses addresses the SSRF guard forbids, whatever DNS said earlier.
 * Redirects are not followed. On SIGTERM no new rows are claimed; requests
 * in flight get until the timeout (at most DELIVER_STOP_S) to finish, and
 * the rest are handed back untried.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "tocsind.h"

#define DELIVER_PER_ENDPOINT	4
#define DELIVER_CONCURRENCY	64
#define DELIVER_TIMEOUT_S	10
#define DELIVER_LEASE_MARGIN_S	10	/* recording after the timeout */
#define DELIVER_POLL_MS		1000	/* look for due retries this often */
#define DELIVER_REQUEUE_MS	5000	/* look for expired leases */
#define DELIVER_STOP_S		6	/* SIGTERM: the contract's 10 s, less */
#define DELIVER_EVENT_CACHE	256
#define DELIVER_BODY_KEEP	(64 * 1024)	/* read no more of an answer */
#define DELIVER_MAIL_INFLIGHT	32	/* messages to the relay at once */
#define DELIVER_MAIL_BATCH	512	/* e-mail claimed and composed at once */
#define DELIVER_MAIL_TIMEOUT_S	60	/* one SMTP transaction */
#define DELIVER_MAIL_LEASE_S	(2 * DELIVER_MAIL_TIMEOUT_S)	/* queued too */
#define DELIVER_DIGEST_MS	2000	/* look for digests that are due */
#define DELIVER_RECORD_BATCH	256	/* finished attempts recorded at once */
#define DELIVER_RECORD_MS	50	/* ... or after this long */

/* An event as the worker renders it, cached across claims. */
struct deliver_event {
	int64_t			 event_id;
	char			*type;
	char			*tlp;
	char			*timestamp;
	int64_t			 time;
	json_t			*data;
	struct outbox_scope	 scope;
	uint64_t		 used;
};

/* One request in flight. */
struct deliver_job {
	struct outbox_claim	 row;
	CURL			*easy;
	char			*body;
	struct curl_slist	*headers;
	char			 resp[TOCSIN_OUTBOX_RESPONSE_BYTES + 1];
	size_t			 resp_len;
	size_t			 read;
	char			 errbuf[CURL_ERROR_SIZE];
	int			 refused;
	char			 refused_why[160];
	int64_t			 retry_after_s;
	int64_t			 started_us;	/* wall clock */
	int64_t			 started_ms;	/* monotonic */
	int			 queued;	/* in jobs, counted in flight */
	int			 is_mail;
	int			 counted;	/* e-mail: started, in flight */
	int			 waiting;	/* e-mail: in mail_wait */
	struct mail_msg		*mail;		/* e-mail: the message */
	struct curl_slist	*rcpts;
	const char		*report;	/* e-mail: report the failure */
	TAILQ_ENTRY(deliver_job) entry;
	TAILQ_ENTRY(deliver_job) wait_entry;
};
TAILQ_HEAD(deliver_jobs, deliver_job);

/* Requests in flight per endpoint (few: at most the concurrency). */
struct deliver_busy {
	int64_t	*id;
	int	*n;
	size_t	 len;
	size_t	 cap;
};

struct deliver {
	const struct config	*cfg;
	pthread_t		 thread;
	int			 started;
	int			 stop;		/* atomic */
	CURLM			*multi;
	PGconn			*db;
	struct deliver_jobs	 jobs;
	int			 inflight;
	int			 mail_inflight;	/* e-mail sent now */
	int			 mail_queued;	/* claimed, not yet collected */
	struct deliver_jobs	 mail_wait;	/* composed, waiting to start */
	int64_t			 first_done_ms;	/* oldest unrecorded outcome */
	int			 hooks_idle;	/* no webhook due at the last look,
						   nothing new since */
	double			 mail_avg_ms;	/* SMTP transaction, moving avg */
	struct deliver_busy	 busy;
	struct deliver_event	 cache[DELIVER_EVENT_CACHE];
	uint64_t		 tick;
	struct outbox_result	*done;
	struct deliver_job	**done_jobs;
	size_t			 ndone;
	size_t			 done_cap;
	int			 per_endpoint;
	int			 concurrency;
	int			 timeout_s;
};

static struct deliver	deliver_w;

/* Milliseconds of the monotonic clock. */
static int64_t
deliver_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Microseconds of the wall clock. */
static int64_t
deliver_wall_us(void)
{
	struct timeval	tv;

	gettimeofday(&tv, NULL);
	return ((int64_t)tv.tv_sec * 1000000 + tv.tv_usec);
}

/* Count a request in flight to endpoint ID (DELTA +1 or -1). */
static void
deliver_busy_add(struct deliver_busy *b, int64_t id, int delta)
{
	size_t	i;

	if (id == 0)
		return;
	for (i = 0; i < b->len && b->id[i] != id; i++)
		;
	if (i == b->len) {
		if (delta < 0)
			return;
		if (b->len == b->cap) {
			b->cap = b->cap == 0 ? 16 : 2 * b->cap;
			b->id = xrealloc(b->id, b->cap * sizeof *b->id);
			b->n = xrealloc(b->n, b->cap * sizeof *b->n);
		}
		b->id[b->len] = id;
		b->n[b->len++] = 0;
	}
	b->n[i] += delta;
	if (b->n[i] <= 0) {
		b->len--;
		b->id[i] = b->id[b->len];
		b->n[i] = b->n[b->len];
	}
}

/* Free a cached event's contents. */
static void
deliver_event_clear(struct deliver_event *e)
{
	free(e->type);
	free(e->tlp);
	free(e->timestamp);
	json_decref(e->data);
	store_outbox_scope_clear(&e->scope);
	memset(e, 0, sizeof *e);
}

static struct deliver_event *
deliver_event_find(struct deliver *w, int64_t id)
{
	size_t	i;

	for (i = 0; i < DELIVER_EVENT_CACHE; i++) {
		if (w->cache[i].event_id == id) {
			w->cache[i].used = ++w->tick;
			return (&w->cache[i]);
		}
	}
	return (NULL);
}

/* The least recently used slot, emptied. */
static struct deliver_event *
deliver_event_slot(struct deliver *w)
{
	struct deliver_event	*e = &w->cache[0];
	size_t			 i;

	for (i = 1; i < DELIVER_EVENT_CACHE; i++) {
		if (w->cache[i].used < e->used)
			e = &w->cache[i];
	}
	deliver_event_clear(e);
	return (e);
}

/* Load the events of the claimed rows that are not cached; 0 or -1. */
static int
deliver_events_load(struct deliver *w, struct outbox_claim *rows, size_t n)
{
	struct deliver_event	*e;
	PGresult		*res;
	const char		*params[1];
	int64_t			*ids;
	size_t			 nids = 0, i, k;
	json_t			*scope;
	json_error_t		 err;
	char			*arr;
	int			 r;

	ids = xcalloc(n + 1, sizeof *ids);
	for (i = 0; i < n; i++) {
		if (rows[i].event_id == 0 ||
		    deliver_event_find(w, rows[i].event_id) != NULL)
			continue;
		for (k = 0; k < nids && ids[k] != rows[i].event_id; k++)
			;
		if (k == nids)
			ids[nids++] = rows[i].event_id;
	}
	if (nids == 0) {
		free(ids);
		return (0);
	}
	arr = pg_int_array(ids, nids);
	free(ids);
	params[0] = arr;
	res = db_exec(w->db, "SELECT event_id, type, tlp, data, scope, "
	    "to_char(created_at AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
	    "extract(epoch FROM created_at)::bigint "
	    "FROM events WHERE event_id = ANY ($1::bigint[])", 1, params);
	free(arr);
	if (res == NULL)
		return (-1);
	for (r = 0; r < PQntuples(res); r++) {
		e = deliver_event_slot(w);
		e->data = json_loads(PQgetvalue(res, r, 3), 0, &err);
		scope = json_loads(PQgetvalue(res, r, 4), 0, &err);
		if (e->data == NULL || scope == NULL ||
		    store_outbox_scope_parse(scope, &e->scope) != 0) {
			json_decref(scope);
			deliver_event_clear(e);
			continue;
		}
		json_decref(scope);
		e->event_id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		e->type = xstrdup(PQgetvalue(res, r, 1));
		e->tlp = xstrdup(PQgetvalue(res, r, 2));
		e->timestamp = xstrdup(PQgetvalue(res, r, 5));
		e->time = strtoll(PQgetvalue(res, r, 6), NULL, 10);
		e->used = ++w->tick;
	}
	PQclear(res);
	return (0);
}

/* Keep the finished job's outcome for the next batch of records. */
static void
deliver_finish(struct deliver *w, struct deliver_job *j,
    enum outbox_outcome outcome, int status, const char *error)
{
	struct outbox_result	*r;

	if (w->ndone == 0)
		w->first_done_ms = deliver_now_ms();
	if (w->ndone == w->done_cap) {
		w->done_cap = w->done_cap == 0 ? 64 : 2 * w->done_cap;
		w->done = xrealloc(w->done, w->done_cap * sizeof *w->done);
		w->done_jobs = xrealloc(w->done_jobs, w->done_cap *
		    sizeof *w->done_jobs);
	}
	r = &w->done[w->ndone];
	memset(r, 0, sizeof *r);
	r->delivery_id = j->row.id;
	r->attempt = j->row.attempt;
	r->channel = j->is_mail ? "email" : "webhook";
	r->report = j->report;
	r->webhook_id = j->row.webhook_id;
	r->outcome = outcome;
	r->status = status;
	/* The job outlives the record: keep the error in its buffer. */
	if (error != NULL && error != j->errbuf)
		snprintf(j->errbuf, sizeof j->errbuf, "%s", error);
	r->error = error != NULL ? j->errbuf : NULL;
	j->resp[j->resp_len] = '\0';
	r->response = j->resp_len > 0 ? j->resp : NULL;
	r->retry_after_s = j->retry_after_s;
	r->started_at = j->started_us != 0 ? j->started_us : deliver_wall_us();
	r->duration_ms = j->started_ms != 0 ?
	    (int)(deliver_now_ms() - j->started_ms) : 0;
	if (j->is_mail && j->started_ms != 0)
		w->mail_avg_ms = 0.9 * w->mail_avg_ms + 0.1 * r->duration_ms;
	w->done_jobs[w->ndone++] = j;
}

static void
deliver_job_free(struct deliver_job *j)
{
	if (j->easy != NULL)
		curl_easy_cleanup(j->easy);
	curl_slist_free_all(j->headers);
	curl_slist_free_all(j->rcpts);
	mail_msg_free(j->mail);
	free(j->body);
	store_outbox_claim_clear(&j->row);
	free(j);
}

/* Write the finished attempts; free their jobs. */
static void
deliver_record(struct deliver *w)
{
	size_t	i;

	if (w->ndone == 0)
		return;
	if (w->db == NULL || store_outbox_record(w->db, w->done, w->ndone) != 0)
		log_warn("deliver: %zu attempts could not be recorded; their "
		    "rows return to the queue when the lease expires",
		    w->ndone);
	for (i = 0; i < w->ndone; i++)
		deliver_job_free(w->done_jobs[i]);
	w->ndone = 0;
}

/* curl: keep the first bytes of the answer, read at most a bound. */
static size_t
deliver_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct deliver_job	*j = arg;
	size_t			 len = size * nmemb, room;

	room = TOCSIN_OUTBOX_RESPONSE_BYTES - j->resp_len;
	if (room > 0) {
		memcpy(j->resp + j->resp_len, data, len < room ? len : room);
		j->resp_len += len < room ? len : room;
	}
	j->read += len;
	if (j->read > DELIVER_BODY_KEEP)
		return (0);	/* enough: the status is what counts */
	return (len);
}

/* curl: note Retry-After (seconds, or an HTTP date). */
static size_t
deliver_header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct deliver_job	*j = arg;
	size_t			 len = size * nmemb;
	char			 buf[128], *p, *end;
	time_t			 t;
	long long		 s;

	if (len < 12 || len >= sizeof buf ||
	    strncasecmp(data, "Retry-After:", 12) != 0)
		return (len);
	memcpy(buf, data + 12, len - 12);
	buf[len - 12] = '\0';
	for (p = buf; *p == ' ' || *p == '\t'; p++)
		;
	p[strcspn(p, "\r\n")] = '\0';
	if (*p >= '0' && *p <= '9') {
		s = strtoll(p, &end, 10);
		if (*end == '\0' && s >= 0)
			j->retry_after_s = s;
	} else if ((t = curl_getdate(p, NULL)) != -1 && t > time(NULL))
		j->retry_after_s = (int64_t)(t - time(NULL));
	return (len);
}

/*
 * curl: open the socket for a connection, unless the SSRF guard refuses
 * the address (this is where DNS rebinding is caught).
 */
static curl_socket_t
deliver_opensocket_cb(void *arg, curlsocktype purpose,
    struct curl_sockaddr *addr)
{
	struct deliver_job	*j = arg;

	if (!ssrf_address_allowed(deliver_w.cfg, &addr->addr, j->refused_why,
	    sizeof j->refused_why)) {
		j->refused = 1;
		return (CURL_SOCKET_BAD);
	}
	return (socket(addr->family, addr->socktype | SOCK_CLOEXEC,
	    addr->protocol));
}

/* Set up the request of job J to T with event EV (NULL: payload). */
static int
deliver_prepare(struct deliver *w, struct deliver_job *j,
    const struct webhook_target *t, const struct deliver_event *ev,
    const char **why)
{
	struct webhook_event	 we;
	json_t			*p = j->row.payload;
	int64_t			 now = time(NULL);

	memset(&we, 0, sizeof we);
	if (ev != NULL) {
		we.type = ev->type;
		we.event_id = ev->event_id;
		we.tlp = ev->tlp;
		we.data = ev->data;
		we.timestamp = ev->timestamp;
		we.time = ev->time;
	} else {
		we.type = json_string_value(json_object_get(p, "type"));
		we.tlp = json_string_value(json_object_get(p, "tlp"));
		we.data = json_object_get(p, "data");
		we.timestamp = j->row.created_at;
		we.time = now;
		if (we.type == NULL || we.tlp == NULL) {
			*why = "the queued payload is unreadable";
			return (-1);
		}
	}
	if ((j->body = webhook_render(t->format, &we, j->row.msg_id)) == NULL) {
		*why = "unknown format";
		return (-1);
	}
	j->headers = webhook_headers(t, j->row.msg_id, now, j->body,
	    strlen(j->body));
	if (j->headers == NULL) {
		*why = "the endpoint's secret cannot be opened with this "
		    "server's key (key_file differs between instances?)";
		return (-1);
	}
	if ((j->easy = curl_easy_init()) == NULL)
		fatalx("deliver: curl_easy_init failed");
	curl_easy_setopt(j->easy, CURLOPT_URL, t->url);
	curl_easy_setopt(j->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, j->body);
	curl_easy_setopt(j->easy, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)strlen(j->body));
	curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->headers);
	curl_easy_setopt(j->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(j->easy, CURLOPT_PROXY, "");	/* never a proxy */
	curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS,
	    (long)w->timeout_s * 1000);
	curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(w->timeout_s < 10 ? w->timeout_s : 10) * 1000);
	curl_easy_setopt(j->easy, CURLOPT_OPENSOCKETFUNCTION,
	    deliver_opensocket_cb);
	curl_easy_setopt(j->easy, CURLOPT_OPENSOCKETDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, deliver_write_cb);
	curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_HEADERFUNCTION, deliver_header_cb);
	curl_easy_setopt(j->easy, CURLOPT_HEADERDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
	return (0);
}

static const struct webhook_target *
deliver_target_find(const struct webhook_target *t, size_t n, int64_t id)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (t[i].id == id)
			return (&t[i]);
	}
	return (NULL);
}

/* A job for ROW (taken over), in flight until deliver_collect takes it out. */
static struct deliver_job *
deliver_job_new(struct deliver *w, struct outbox_claim *row, int is_mail)
{
	struct deliver_job	*j;

	j = xcalloc(1, sizeof *j);
	j->row = *row;
	memset(row, 0, sizeof *row);
	j->is_mail = is_mail;
	if (is_mail)
		w->mail_queued++;	/* in flight once started */
	else {
		deliver_busy_add(&w->busy, j->row.webhook_id, 1);
		w->inflight++;
	}
	TAILQ_INSERT_TAIL(&w->jobs, j, entry);
	j->queued = 1;
	return (j);
}

/* Start the claimed rows (taken over), or finish them at once. */
static void
deliver_start_rows(struct deliver *w, struct outbox_claim *rows, size_t n)
{
	struct webhook_target		*targets = NULL;
	const struct webhook_target	*t;
	const struct deliver_event	*ev;
	struct deliver_job		*j;
	int64_t				*ids;
	size_t				 ntargets = 0, i;
	const char			*why;
	int				 loaded;

	ids = xcalloc(n + 1, sizeof *ids);
	for (i = 0; i < n; i++)
		ids[i] = rows[i].webhook_id;
	loaded = store_webhooks_targets(w->db, ids, n, &targets,
	    &ntargets) == 0 && deliver_events_load(w, rows, n) == 0;
	free(ids);

	for (i = 0; i < n; i++) {
		j = deliver_job_new(w, &rows[i], 0);
		if (!loaded) {
			deliver_finish(w, j, OUTBOX_RETRY, 0,
			    "database error while loading the delivery");
			continue;
		}
		t = deliver_target_find(targets, ntargets, j->row.webhook_id);
		ev = j->row.event_id != 0 ?
		    deliver_event_find(w, j->row.event_id) : NULL;
		if (t == NULL || !t->active) {
			deliver_finish(w, j, OUTBOX_CANCELLED, 0,
			    "endpoint disabled or deleted");
			continue;
		}
		if (j->row.event_id != 0 && ev == NULL) {
			deliver_finish(w, j, OUTBOX_CANCELLED, 0,
			    "the event is no longer in the log");
			continue;
		}
		/*
		 * Planned at publication; asked again now, because the
		 * organisation may have changed since (TLP.md: every path
		 * that reveals an item asks tlp_may_see).
		 */
		if (ev != NULL && !store_outbox_scope_visible(&ev->scope,
		    &t->org)) {
			deliver_finish(w, j, OUTBOX_CANCELLED, 0,
			    "the organisation may no longer see this item");
			continue;
		}
		if (deliver_prepare(w, j, t, ev, &why) != 0) {
			deliver_finish(w, j, OUTBOX_RETRY, 0, why);
			continue;
		}
		j->started_us = deliver_wall_us();
		j->started_ms = deliver_now_ms();
		curl_multi_add_handle(w->multi, j->easy);
	}
	for (i = 0; i < ntargets; i++)
		store_webhooks_target_clear(&targets[i]);
	free(targets);
}

/*
 * Start composed e-mail while there is room: DELIVER_MAIL_INFLIGHT to
 * the relay, deliver_concurrency in all.
 */
static void
deliver_mail_start(struct deliver *w)
{
	struct deliver_job	*j;

	while ((j = TAILQ_FIRST(&w->mail_wait)) != NULL &&
	    w->mail_inflight < DELIVER_MAIL_INFLIGHT &&
	    w->inflight < w->concurrency) {
		TAILQ_REMOVE(&w->mail_wait, j, wait_entry);
		j->waiting = 0;
		j->counted = 1;
		w->mail_inflight++;
		w->inflight++;
		j->started_us = deliver_wall_us();
		j->started_ms = deliver_now_ms();
		curl_multi_add_handle(w->multi, j->easy);
	}
}

/*
 * Take claimed e-mail rows over: deliver_mail.c composes each message (or
 * says why none is sent); composed ones wait in mail_wait for a
 * connection to the relay (deliver_mail_start).
 */
static void
deliver_start_mail_rows(struct deliver *w, struct outbox_claim *rows,
    size_t n)
{
	struct deliver_mail_result	*res;
	struct deliver_item		*items, **ip;
	const struct deliver_event	*ev;
	struct deliver_job		*j;
	size_t				 i;
	int				 loaded;

	loaded = deliver_events_load(w, rows, n) == 0;
	items = xcalloc(n, sizeof *items);
	ip = xcalloc(n, sizeof *ip);
	for (i = 0; i < n; i++) {
		if (rows[i].event_id == 0 || (ev = deliver_event_find(w,
		    rows[i].event_id)) == NULL)
			continue;
		items[i].event_id = ev->event_id;
		items[i].type = ev->type;
		items[i].tlp = ev->tlp;
		items[i].timestamp = ev->timestamp;
		items[i].data = ev->data;
		items[i].scope = &ev->scope;
		ip[i] = &items[i];
	}
	res = xcalloc(n, sizeof *res);
	deliver_mail_prepare(w->db, w->cfg, rows,
	    (const struct deliver_item *const *)ip, n, loaded, res);
	for (i = 0; i < n; i++) {
		j = deliver_job_new(w, &rows[i], 1);
		if (res[i].msg == NULL) {
			j->report = res[i].report;
			deliver_finish(w, j, res[i].outcome, 0, res[i].error);
			continue;
		}
		j->mail = res[i].msg;
		if ((j->easy = curl_easy_init()) == NULL)
			fatalx("deliver: curl_easy_init failed");
		mail_curl_setup(j->easy, j->mail, j->errbuf,
		    DELIVER_MAIL_TIMEOUT_S, &j->rcpts);
		curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
		TAILQ_INSERT_TAIL(&w->mail_wait, j, wait_entry);
		j->waiting = 1;
	}
	deliver_mail_start(w);
	free(res);
	free(ip);
	free(items);
}

/* Claim and start as many due rows as there is room for; how many. */
static size_t
deliver_claim(struct deliver *w)
{
	struct outbox_claim	*rows;
	size_t			 n, total = 0;
	int			 room = w->concurrency - w->inflight, ahead;

	if (room <= 0)
		return (0);
	/*
	 * Not again while nothing can have changed: e-mail finishing in
	 * hundreds would otherwise ask for webhooks after every batch.
	 */
	if (!w->hooks_idle) {
		if (store_outbox_claim(w->db, "webhook", room, w->per_endpoint,
		    w->busy.id, w->busy.n, w->busy.len,
		    w->timeout_s + DELIVER_LEASE_MARGIN_S, &rows, &n) != 0)
			return (0);
		if (n > 0) {
			log_debug("deliver: claimed %zu deliveries", n);
			deliver_start_rows(w, rows, n);
		} else
			w->hooks_idle = 1;
		free(rows);
		total += n;
	}

	/*
	 * E-mail: a batch composed ahead, refilled when half gone; no more
	 * than the relay, at its recent pace, takes in half the lease, so
	 * that no claimed row waits here past its lease (and is sent twice).
	 */
	ahead = DELIVER_MAIL_BATCH;
	if (w->mail_avg_ms > 0 && DELIVER_MAIL_INFLIGHT *
	    (DELIVER_MAIL_LEASE_S * 500.0 / w->mail_avg_ms) < ahead)
		ahead = (int)(DELIVER_MAIL_INFLIGHT *
		    (DELIVER_MAIL_LEASE_S * 500.0 / w->mail_avg_ms));
	if (ahead < DELIVER_MAIL_INFLIGHT)
		ahead = DELIVER_MAIL_INFLIGHT;
	room = ahead - w->mail_queued;
	if (!mail_enabled() || room < ahead / 2)
		return (total);
	if (store_outbox_claim(w->db, "email", room, room, NULL, NULL, 0,
	    DELIVER_MAIL_LEASE_S + DELIVER_LEASE_MARGIN_S, &rows, &n) != 0)
		return (total);
	if (n > 0) {
		log_debug("deliver: claimed %zu e-mails", n);
		deliver_start_mail_rows(w, rows, n);
	}
	free(rows);
	return (total + n);
}

/* A request finished: classify it. */
static void
deliver_done(struct deliver *w, struct deliver_job *j, CURLcode cc)
{
	enum outbox_outcome	outcome;
	long			code = 0;
	char			err[CURL_ERROR_SIZE + 200];
	int			bad_address;

	curl_multi_remove_handle(w->multi, j->easy);
	curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
	if (j->is_mail) {
		outcome = mail_outcome(cc, code, j->errbuf, &bad_address, err,
		    sizeof err);
		if (bad_address)
			j->report = "address";
		deliver_finish(w, j, outcome, (int)code, outcome ==
		    OUTBOX_DELIVERED ? NULL : err);
		return;
	}
	if (code >= 200 && code < 300 && (cc == CURLE_OK ||
	    cc == CURLE_WRITE_ERROR)) {
		deliver_finish(w, j, OUTBOX_DELIVERED, (int)code, NULL);
		return;
	}
	if (code == 410) {
		deliver_finish(w, j, OUTBOX_GONE, 410, "410 Gone: endpoint "
		    "disabled");
		return;
	}
	if (code >= 300 && code < 400)
		snprintf(err, sizeof err, "HTTP %ld: redirects are not "
		    "followed", code);
	else if (code != 0)
		snprintf(err, sizeof err, "HTTP %ld", code);
	else if (j->refused)
		snprintf(err, sizeof err, "refused by the SSRF guard: %s",
		    j->refused_why);
	else
		snprintf(err, sizeof err, "%s", j->errbuf[0] != '\0' ?
		    j->errbuf : curl_easy_strerror(cc));
	deliver_finish(w, j, OUTBOX_RETRY, (int)code, err);
}

/* Collect what curl finished; the jobs leave the in-flight count. */
static void
deliver_collect(struct deliver *w)
{
	struct deliver_job	*j;
	CURLMsg			*m;
	int			 left;
	size_t			 i;

	while ((m = curl_multi_info_read(w->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
		deliver_done(w, j, m->data.result);
	}
	/* Finished here or when started: no longer in flight. */
	for (i = 0; i < w->ndone; i++) {
		j = w->done_jobs[i];
		if (!j->queued)
			continue;
		TAILQ_REMOVE(&w->jobs, j, entry);
		j->queued = 0;
		if (j->is_mail) {
			w->mail_queued--;
			if (!j->counted)
				continue;
			w->mail_inflight--;
		} else {
			deliver_busy_add(&w->busy, j->row.webhook_id, -1);
			w->hooks_idle = 0;	/* room at that endpoint */
		}
		w->inflight--;
	}
}

/* (Re)connect and LISTEN; 0 or -1 (logged). */
static int
deliver_connect(struct deliver *w)
{
	char		*cause = NULL;
	/*
	 * This connection lives for days while the deliveries table grows
	 * from nothing: a generic plan cached while it was small (the
	 * foreign-key checks of delivery_attempts) would keep scanning it
	 * whole. Plan each statement for the table as it is.
	 */
	const char	*plans = "SET plan_cache_mode = force_custom_plan";
	const char	*sql = "LISTEN " TOCSIN_NOTIFY_OUTBOX;

	if (w->db != NULL)
		PQfinish(w->db);
	if ((w->db = db_connect(w->cfg->database, &cause)) == NULL) {
		log_warn("deliver: database: %s", cause);
		free(cause);
		return (-1);
	}
	if (db_exec_ok(w->db, plans, 0, NULL) != 0 ||
	    db_exec_ok(w->db, sql, 0, NULL) != 0) {
		PQfinish(w->db);
		w->db = NULL;
		return (-1);
	}
	return (0);
}

/* Drain notifications; 1 if any came. */
static int
deliver_notified(struct deliver *w)
{
	PGnotify	*n;
	int		 any = 0;

	if (w->db == NULL || PQconsumeInput(w->db) != 1)
		return (0);
	while ((n = PQnotifies(w->db)) != NULL) {
		any = 1;
		PQfreemem(n);
	}
	return (any);
}

/* Wait for curl or PostgreSQL, at most MS milliseconds. */
static void
deliver_wait(struct deliver *w, int ms)
{
	struct curl_waitfd	fd;
	int			nfd = 0;

	memset(&fd, 0, sizeof fd);
	if (w->db != NULL && PQsocket(w->db) >= 0) {
		fd.fd = PQsocket(w->db);
		fd.events = CURL_WAIT_POLLIN;
		nfd = 1;
	}
	curl_multi_poll(w->multi, nfd ? &fd : NULL, nfd, ms, NULL);
}

/* SIGTERM: let requests in flight finish for a while, hand back the rest. */
static void
deliver_drain(struct deliver *w)
{
	struct deliver_job	*j;
	int64_t			 deadline, *ids;
	int			*atts, running, limit;
	size_t			 n = 0;

	limit = w->timeout_s < DELIVER_STOP_S ? w->timeout_s : DELIVER_STOP_S;
	deadline = deliver_now_ms() + (int64_t)limit * 1000;
	while (w->inflight > 0 && deliver_now_ms() < deadline) {
		curl_multi_perform(w->multi, &running);
		deliver_collect(w);
		deliver_record(w);
		if (w->inflight > 0)
			deliver_wait(w, 100);
	}
	/* Left: requests still running, and e-mail composed but unsent. */
	TAILQ_FOREACH(j, &w->jobs, entry)
		n++;
	if (n == 0)
		return;
	ids = xcalloc(n, sizeof *ids);
	atts = xcalloc(n, sizeof *atts);
	n = 0;
	while ((j = TAILQ_FIRST(&w->jobs)) != NULL) {
		TAILQ_REMOVE(&w->jobs, j, entry);
		if (j->waiting)
			TAILQ_REMOVE(&w->mail_wait, j, wait_entry);
		if (j->easy != NULL)
			curl_multi_remove_handle(w->multi, j->easy);
		ids[n] = j->row.id;
		atts[n++] = j->row.attempt;
		deliver_job_free(j);
	}
	w->inflight = 0;
	w->mail_inflight = 0;
	w->mail_queued = 0;
	if (w->db == NULL || store_outbox_release(w->db, ids, atts, n) != 0)
		log_warn("deliver: %zu deliveries could not be handed back; "
		    "they return to the queue when their lease expires", n);
	else
		log_info("deliver: %zu deliveries in flight handed back", n);
	free(ids);
	free(atts);
}

static void *
deliver_main(void *arg)
{
	struct deliver	*w = arg;
	int64_t		 now, next_poll = 0, next_requeue = 0, next_connect = 0;
	int64_t		 next_digest = 0;
	int		 running, want = 1, ms;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		now = deliver_now_ms();
		if (w->db == NULL || db_conn_broken(w->db)) {
			if (now < next_connect || deliver_connect(w) != 0) {
				if (now >= next_connect)
					next_connect = now + 2000;
				curl_multi_perform(w->multi, &running);
				deliver_collect(w);
				deliver_wait(w, 200);
				continue;
			}
			want = 1;
			w->hooks_idle = 0;
		}
		if (now >= next_requeue) {
			if (store_outbox_requeue_expired(w->db) > 0) {
				want = 1;
				w->hooks_idle = 0;
			}
			next_requeue = now + DELIVER_REQUEUE_MS;
		}
		if (now >= next_poll)
			w->hooks_idle = 0;	/* retries fall due with time */
		if (mail_enabled() && now >= next_digest) {
			if (store_email_digest_run(w->db, mail_now()) > 0)
				want = 1;
			next_digest = now + DELIVER_DIGEST_MS;
		}
		if (want || now >= next_poll) {
			want = deliver_claim(w) > 0;
			next_poll = now + DELIVER_POLL_MS;
		}
		curl_multi_perform(w->multi, &running);
		deliver_collect(w);
		deliver_mail_start(w);
		/* Outcomes are written in batches: a few milliseconds late. */
		now = deliver_now_ms();
		if (w->ndone > 0 && (w->ndone >= DELIVER_RECORD_BATCH ||
		    now - w->first_done_ms >= DELIVER_RECORD_MS ||
		    (w->inflight == 0 && TAILQ_EMPTY(&w->mail_wait)))) {
			deliver_record(w);
			want = 1;
		}
		if (want)
			ms = 0;
		else {
			ms = (int)(next_poll - now);
			ms = ms < 0 ? 0 : ms > DELIVER_POLL_MS ?
			    DELIVER_POLL_MS : ms;
		}
		if (w->ndone > 0 && w->first_done_ms + DELIVER_RECORD_MS - now <
		    ms)
			ms = (int)(w->first_done_ms + DELIVER_RECORD_MS - now);
		if (ms < 0)
			ms = 0;
		if (ms > 0 || running > 0)
			deliver_wait(w, ms);
		if (deliver_notified(w)) {
			want = 1;
			w->hooks_idle = 0;
		}
	}
	deliver_drain(w);
	deliver_record(w);
	return (NULL);
}

/*
 * Before any thread: the server key (secrets at rest), the Ed25519 signing
 * key, the relay's settings and password, the S/MIME key, libcurl's
 * global state. 0 or -1 (logged).
 */
int
deliver_init(const struct config *cfg)
{
	char	*cause = NULL;

	if (secretbox_init(cfg->key_file, &cause) != 0 ||
	    sign_init(cfg->webhooks_signing_key, &cause) != 0 ||
	    mail_init(cfg, &cause) != 0 || smime_init(cfg, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		return (-1);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("deliver: libcurl could not be initialised");
		return (-1);
	}
	return (0);
}

/* After every thread has stopped: forget the keys, release libcurl. */
void
deliver_shutdown(void)
{
	curl_global_cleanup();
	smime_shutdown();
	mail_shutdown();
	sign_shutdown();
	secretbox_shutdown();
}

/* Start the worker thread; 0 or -1 (logged). */
int
deliver_start(const struct config *cfg)
{
	struct deliver	*w = &deliver_w;

	memset(w, 0, sizeof *w);
	w->cfg = cfg;
	w->per_endpoint = cfg->webhooks_per_endpoint > 0 ?
	    cfg->webhooks_per_endpoint : DELIVER_PER_ENDPOINT;
	w->concurrency = cfg->deliver_concurrency > 0 ?
	    cfg->deliver_concurrency : DELIVER_CONCURRENCY;
	w->timeout_s = cfg->webhooks_timeout_s > 0 ?
	    cfg->webhooks_timeout_s : DELIVER_TIMEOUT_S;
	TAILQ_INIT(&w->jobs);
	TAILQ_INIT(&w->mail_wait);
	w->mail_avg_ms = 100;	/* until measured */
	if ((w->multi = curl_multi_init()) == NULL) {
		log_error("deliver: curl_multi_init failed");
		return (-1);
	}
	curl_multi_setopt(w->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    (long)w->concurrency);
	if (pthread_create(&w->thread, NULL, deliver_main, w) != 0) {
		log_error("deliver: cannot start the worker thread");
		curl_multi_cleanup(w->multi);
		return (-1);
	}
	w->started = 1;
	log_info("deliver: worker running (%d in flight, %d per endpoint, "
	    "timeout %d s; e-mail %s)", w->concurrency, w->per_endpoint,
	    w->timeout_s, mail_enabled() ? "through the relay" : "off");
	return (0);
}

/* Tell the worker to stop claiming and drain; does not wait. */
void
deliver_quit(void)
{
	struct deliver	*w = &deliver_w;

	if (!w->started)
		return;
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	curl_multi_wakeup(w->multi);
}

/* Stop the worker: finish or hand back what is in flight, then join. */
void
deliver_stop(void)
{
	struct deliver	*w = &deliver_w;
	size_t		 i;

	if (!w->started)
		return;
	deliver_quit();
	pthread_join(w->thread, NULL);
	w->started = 0;
	curl_multi_cleanup(w->multi);
	if (w->db != NULL)
		PQfinish(w->db);
	w->db = NULL;
	for (i = 0; i < DELIVER_EVENT_CACHE; i++)
		deliver_event_clear(&w->cache[i]);
	free(w->busy.id);
	free(w->busy.n);
	free(w->done);
	free(w->done_jobs);
	log_info("deliver: stopped");
}
