/*
 * streamdb.c: the stream's database thread. It owns two PostgreSQL
 * connections: one LISTENs on tocsin_events and tocsin_principals, the other
 * runs queries. It loads committed events in id order (on NOTIFY, every
 * second as a safety net, and after reconnecting) and runs the jobs that the
 * libwebsockets thread (stream.c) must not block on: token look-ups, replay
 * batches, principal reloads. Jobs arrive on one locked queue; results
 * leave on one queue per stream thread (stream.c's shards), each in the
 * order they were made, and the wake callback (lws_cancel_service) tells
 * that thread to look. A job's result goes back to the shard that asked;
 * what every shard must know (the head, new events, principal notices) is
 * posted to each, the events shared by reference.
 *
 * Why "event_id > last" is enough: ids are taken under a lock held until
 * commit (store_events.c), so they become visible in order; a fetch after
 * the last id read never skips one, across NOTIFY losses and reconnections.
 */
#include "config.h"

#include <sys/eventfd.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tocsind.h"

#define STREAMDB_FETCH_LIMIT	1000	/* events per live fetch */
#define STREAMDB_FETCH_LIMIT_S	"1000"
#define STREAMDB_REPLAY_LIMIT_S	"500"	/* events per replay batch */
#define STREAMDB_POLL_MS	1000	/* safety-net fetch */
#define STREAMDB_BACKOFF_MIN_MS	500
#define STREAMDB_BACKOFF_MAX_MS	30000

#define STREAMDB_EVENT_COLUMNS	"event_id, type, tlp, scope, data, " \
	"(extract(epoch FROM created_at) * 1000000)::bigint AS created_us"

static struct {
	pthread_t		 thread;
	int			 running;
	int			 wakefd;
	char			*conninfo;
	void			(*wake)(size_t);

	pthread_mutex_t		 lock;		/* the queues, stopping */
	struct streamdb_msg	*in, **in_tail;
	struct streamdb_outq {
		struct streamdb_msg	*head, **tail;
	}			*out;		/* one per shard */
	size_t			 nshards;
	int			 stopping;

	/* The thread's own. */
	PGconn			*listen;
	PGconn			*query;
	int64_t			 last;		/* last event id loaded */
	int			 have_last;
	int			 fetch;		/* NOTIFY seen: load now */
	int64_t			 next_fetch;	/* monotonic ms */
	int64_t			 retry_at;
	int			 backoff_ms;
	int			 outage;	/* logged the current outage */
} sdb = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wakefd = -1,
};

static int64_t
streamdb_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* A zeroed message of TYPE. */
struct streamdb_msg *
streamdb_msg_new(enum streamdb_type type)
{
	struct streamdb_msg	*m;

	m = xcalloc(1, sizeof *m);
	m->type = type;
	return (m);
}

/* Free a message and whatever its results still hold; never its conn. */
void
streamdb_msg_free(struct streamdb_msg *m)
{
	size_t	i;

	if (m == NULL)
		return;
	if (m->token != NULL) {
		explicit_bzero(m->token, strlen(m->token));
		free(m->token);
	}
	if (m->principal != NULL) {
		principal_clear(m->principal);
		free(m->principal);
	}
	for (i = 0; i < m->n_filters; i++)
		filter_clear(&m->filters[i]);
	free(m->filters);
	free(m->hashes);
	for (i = 0; i < m->n_events; i++)
		stream_event_unref(m->events[i]);
	free(m->events);
	free(m);
}

/* Queue M for its shard; the caller holds sdb.lock. */
static void
streamdb_out_append(struct streamdb_msg *m)
{
	struct streamdb_outq	*q = &sdb.out[m->shard];

	m->next = NULL;
	*q->tail = m;
	q->tail = &m->next;
}

/* Hand a result to the shard it belongs to and wake that shard. */
static void
streamdb_post(struct streamdb_msg *m)
{
	pthread_mutex_lock(&sdb.lock);
	streamdb_out_append(m);
	pthread_mutex_unlock(&sdb.lock);
	sdb.wake(m->shard);
}

/* Hand a head, events or notice to every shard: copies for all but the
 * first, which share M's events (one reference each). */
static void
streamdb_post_all(struct streamdb_msg *m)
{
	struct streamdb_msg	*c;
	size_t			 i, k;

	for (i = 1; i < sdb.nshards; i++) {
		c = streamdb_msg_new(m->type);
		c->shard = i;
		c->id = m->id;
		c->notice = m->notice;
		c->last_id = m->last_id;
		if (m->n_events != 0) {
			c->events = xcalloc(m->n_events, sizeof *c->events);
			for (k = 0; k < m->n_events; k++) {
				stream_event_ref(m->events[k]);
				c->events[k] = m->events[k];
			}
			c->n_events = m->n_events;
		}
		streamdb_post(c);
	}
	m->shard = 0;
	streamdb_post(m);
}

/* Queue a job for the thread; the message is taken over. */
void
streamdb_submit(struct streamdb_msg *m)
{
	uint64_t	one = 1;
	ssize_t		n;

	m->next = NULL;
	pthread_mutex_lock(&sdb.lock);
	if (!sdb.running || sdb.stopping) {
		/* Too late: it comes back cancelled, to be released. */
		m->status = -3;
		streamdb_out_append(m);
		pthread_mutex_unlock(&sdb.lock);
		return;
	}
	*sdb.in_tail = m;
	sdb.in_tail = &m->next;
	pthread_mutex_unlock(&sdb.lock);
	n = write(sdb.wakefd, &one, sizeof one);
	(void)n;	/* a full counter already means "wake up" */
}

/* Every result waiting for SHARD, oldest first. */
struct streamdb_msg *
streamdb_take(size_t shard)
{
	struct streamdb_outq	*q;
	struct streamdb_msg	*list;

	pthread_mutex_lock(&sdb.lock);
	if (sdb.out == NULL) {		/* not started */
		pthread_mutex_unlock(&sdb.lock);
		return (NULL);
	}
	q = &sdb.out[shard];
	list = q->head;
	q->head = NULL;
	q->tail = &q->head;
	pthread_mutex_unlock(&sdb.lock);
	return (list);
}

/* Both connections closed; try again after a growing delay. */
static void
streamdb_lost(void)
{
	if (sdb.listen != NULL)
		PQfinish(sdb.listen);
	if (sdb.query != NULL)
		PQfinish(sdb.query);
	sdb.listen = sdb.query = NULL;
	if (!sdb.outage)
		log_warn("stream: database connection lost; reconnecting");
	sdb.outage = 1;
	if (sdb.backoff_ms == 0)
		sdb.backoff_ms = STREAMDB_BACKOFF_MIN_MS;
	sdb.retry_at = streamdb_now_ms() + sdb.backoff_ms;
	sdb.backoff_ms *= 2;
	if (sdb.backoff_ms > STREAMDB_BACKOFF_MAX_MS)
		sdb.backoff_ms = STREAMDB_BACKOFF_MAX_MS;
}

/* After a failed statement: was it the connection? Then start over. */
static void
streamdb_check(void)
{
	if (db_conn_broken(sdb.query))
		streamdb_lost();
}

/*
 * Open both connections, LISTEN, then (first time) read the head, or
 * (after an outage) load what was missed and have every connected user's
 * principal re-read, since tocsin_principals notices may have been lost.
 * LISTEN comes before any read so that nothing falls between them.
 */
static void
streamdb_connect(void)
{
	struct streamdb_msg	*m;
	PGresult		*res;
	char			*cause = NULL;

	sdb.listen = db_connect(sdb.conninfo, &cause);
	if (sdb.listen != NULL)
		sdb.query = db_connect(sdb.conninfo, &cause);
	if (sdb.listen == NULL || sdb.query == NULL) {
		if (!sdb.outage)
			log_warn("stream: database unavailable: %s", cause);
		else
			log_debug("stream: database still unavailable: %s",
			    cause);
		free(cause);
		streamdb_lost();
		return;
	}
	if (db_exec_ok(sdb.listen, "LISTEN " TOCSIN_NOTIFY_EVENTS, 0,
	    NULL) != 0 || db_exec_ok(sdb.listen, "LISTEN "
	    TOCSIN_NOTIFY_PRINCIPALS, 0, NULL) != 0) {
		streamdb_lost();
		return;
	}
	if (!sdb.have_last) {
		res = db_exec(sdb.query, "SELECT coalesce(max(event_id), 0) "
		    "FROM events", 0, NULL);
		if (res == NULL) {
			streamdb_lost();
			return;
		}
		sdb.last = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		sdb.have_last = 1;
		m = streamdb_msg_new(STREAMDB_HEAD);
		m->id = sdb.last;
		streamdb_post_all(m);
		log_info("stream: events from %" PRId64, sdb.last);
	} else {
		m = streamdb_msg_new(STREAMDB_NOTICE);
		m->notice = '*';
		streamdb_post_all(m);
		log_info("stream: database connection restored");
	}
	sdb.fetch = 1;
	sdb.outage = 0;
	sdb.backoff_ms = 0;
}

/* Build the events of rows [from, to) of RES (columns from COL on). */
static size_t
streamdb_events(PGresult *res, int col, int from, int to, size_t max_bytes,
    struct streamdb_msg *m)
{
	struct stream_event	*ev;
	size_t			 bytes = 0;
	int			 i;

	m->events = xcalloc(to - from, sizeof *m->events);
	for (i = from; i < to; i++) {
		if (PQgetisnull(res, i, col))
			continue;
		if (max_bytes != 0 && m->n_events != 0 && bytes >= max_bytes)
			break;
		m->last_id = strtoll(PQgetvalue(res, i, col), NULL, 10);
		bytes += PQgetlength(res, i, col + 4) + 64;
		ev = stream_event_new(m->last_id, PQgetvalue(res, i, col + 1),
		    PQgetvalue(res, i, col + 2), PQgetvalue(res, i, col + 3),
		    PQgetvalue(res, i, col + 4));
		if (ev != NULL) {
			stream_event_set_created(ev, strtoll(PQgetvalue(res,
			    i, col + 5), NULL, 10));	/* metrics.c latency */
			m->events[m->n_events++] = ev;
		}
	}
	return (bytes);
}

/* Load every committed event after the last one read, in order. */
static void
streamdb_fetch(void)
{
	struct streamdb_msg	*m;
	PGresult		*res;
	const char		*params[1];
	char			 after[24];
	int			 n;

	sdb.fetch = 0;
	sdb.next_fetch = streamdb_now_ms() + STREAMDB_POLL_MS;
	do {
		snprintf(after, sizeof after, "%" PRId64, sdb.last);
		params[0] = after;
		res = db_exec(sdb.query, "SELECT " STREAMDB_EVENT_COLUMNS
		    " FROM events WHERE event_id > $1 ORDER BY event_id "
		    "LIMIT " STREAMDB_FETCH_LIMIT_S, 1, params);
		if (res == NULL) {
			streamdb_check();
			return;
		}
		n = PQntuples(res);
		if (n > 0) {
			m = streamdb_msg_new(STREAMDB_EVENTS);
			streamdb_events(res, 0, 0, n, 0, m);
			sdb.last = m->last_id;
			streamdb_post_all(m);
		}
		PQclear(res);
	} while (n == STREAMDB_FETCH_LIMIT);
}

/* Read what NOTIFY brought: events to load, principals to re-read. */
static void
streamdb_notifies(void)
{
	struct streamdb_msg	*m;
	PGnotify		*n;
	long long		 id;
	char			 kind[8], end;

	if (!PQconsumeInput(sdb.listen)) {
		streamdb_lost();
		return;
	}
	while ((n = PQnotifies(sdb.listen)) != NULL) {
		if (strcmp(n->relname, TOCSIN_NOTIFY_EVENTS) == 0)
			sdb.fetch = 1;
		else if (sscanf(n->extra, "%7[a-z]:%lld%c", kind, &id,
		    &end) == 2 && id > 0 && (strcmp(kind, "user") == 0 ||
		    strcmp(kind, "org") == 0)) {
			m = streamdb_msg_new(STREAMDB_NOTICE);
			m->notice = kind[0] == 'u' ? 'u' : 'o';
			m->id = id;
			streamdb_post_all(m);
		} else
			log_debug("stream: notice ignored: %s", n->relname);
		PQfreemem(n);
	}
	if (PQstatus(sdb.listen) != CONNECTION_OK)
		streamdb_lost();
}

/* The user's ws filters into M; 0 or -2. */
static int
streamdb_filters(struct streamdb_msg *m)
{
	if (store_subscriptions_for_user(sdb.query, m->principal->user_id,
	    "ws", &m->filters, &m->n_filters) != 0)
		return (-2);
	return (0);
}

/* AUTH: token -> principal, ws filters and the token's hash. */
static void
streamdb_auth(struct streamdb_msg *m)
{
	m->principal = xcalloc(1, sizeof *m->principal);
	if (token_looks_valid(m->token))
		token_hash(m->token, m->hash);
	m->status = auth_principal_by_stream_token(sdb.query, m->token,
	    m->principal);
	explicit_bzero(m->token, strlen(m->token));
	if (m->status == 0)
		m->status = streamdb_filters(m);
}

/* RELOAD: the user's principal, ws filters and live token hashes again. */
static void
streamdb_reload(struct streamdb_msg *m)
{
	PGresult	*res;
	const char	*params[1];
	char		 user[24];
	unsigned char	*h;
	size_t		 len;
	int		 i, n;

	m->principal = xcalloc(1, sizeof *m->principal);
	m->status = auth_principal_by_user(sdb.query, m->id, m->principal);
	if (m->status != 0)
		return;
	/* A deactivated organisation's users can no longer sign in. */
	if (m->principal->org_id != 0 && !m->principal->org_active) {
		m->status = -1;
		return;
	}
	if ((m->status = streamdb_filters(m)) != 0)
		return;
	snprintf(user, sizeof user, "%" PRId64, m->id);
	params[0] = user;
	/* A web stream ticket lives as long as its session (store_web.c). */
	res = db_exec(sdb.query, "SELECT hash FROM tokens WHERE user_id = $1 "
	    "AND revoked_at IS NULL UNION ALL SELECT t.hash FROM "
	    "web_stream_tickets t JOIN web_sessions s ON s.id_hash = "
	    "t.session_hash WHERE t.user_id = $1 AND s.expires_at > now()", 1,
	    params);
	if (res == NULL) {
		m->status = -2;
		return;
	}
	n = PQntuples(res);
	m->hashes = xcalloc(n > 0 ? n : 1, sizeof *m->hashes);
	for (i = 0; i < n; i++) {
		h = PQunescapeBytea((unsigned char *)PQgetvalue(res, i, 0),
		    &len);
		if (h != NULL && len == sizeof m->hashes[0])
			memcpy(m->hashes[m->n_hashes++], h, len);
		PQfreemem(h);
	}
	PQclear(res);
}

/*
 * REPLAY: the events after the cursor, up to a byte budget, and the purge
 * horizon, read in one statement so that both come from one snapshot (a
 * purge between two reads could otherwise hide a truncation).
 */
static void
streamdb_replay(struct streamdb_msg *m)
{
	PGresult	*res;
	const char	*params[1];
	char		 after[24];
	int		 n;

	snprintf(after, sizeof after, "%" PRId64, m->id);
	params[0] = after;
	res = db_exec(sdb.query, "SELECT h.purged_before, e.* "
	    "FROM event_horizon h LEFT JOIN LATERAL (SELECT "
	    STREAMDB_EVENT_COLUMNS " FROM events WHERE event_id > $1 "
	    "ORDER BY event_id LIMIT " STREAMDB_REPLAY_LIMIT_S
	    ") e ON true ORDER BY e.event_id", 1, params);
	if (res == NULL) {
		m->status = -2;
		return;
	}
	n = PQntuples(res);
	if (n > 0) {
		m->purged_before = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		streamdb_events(res, 1, 0, n, m->max_bytes, m);
	}
	PQclear(res);
	m->status = 0;
}

/* Run every queued job, answering each; without a database, fail them. */
static void
streamdb_jobs(void)
{
	struct streamdb_msg	*m, *next;

	pthread_mutex_lock(&sdb.lock);
	m = sdb.in;
	sdb.in = NULL;
	sdb.in_tail = &sdb.in;
	pthread_mutex_unlock(&sdb.lock);

	for (; m != NULL; m = next) {
		next = m->next;
		if (sdb.query == NULL)
			m->status = -2;
		else {
			switch (m->type) {
			case STREAMDB_AUTH:
				streamdb_auth(m);
				break;
			case STREAMDB_REPLAY:
				streamdb_replay(m);
				break;
			case STREAMDB_RELOAD:
				streamdb_reload(m);
				break;
			default:
				m->status = -2;
				break;
			}
			if (m->status == -2)
				streamdb_check();
		}
		streamdb_post(m);
	}
}

static void *
streamdb_main(void *arg)
{
	struct pollfd	 pfd[2];
	uint64_t	 count;
	int64_t		 now, wait;
	nfds_t		 nfds;
	ssize_t		 n;

	for (;;) {
		pthread_mutex_lock(&sdb.lock);
		if (sdb.stopping) {
			pthread_mutex_unlock(&sdb.lock);
			break;
		}
		pthread_mutex_unlock(&sdb.lock);

		now = streamdb_now_ms();
		if (sdb.listen == NULL && now >= sdb.retry_at)
			streamdb_connect();
		if (sdb.listen != NULL && (sdb.fetch || now >= sdb.next_fetch))
			streamdb_fetch();
		streamdb_jobs();

		pfd[0].fd = sdb.wakefd;
		pfd[0].events = POLLIN;
		nfds = 1;
		now = streamdb_now_ms();
		if (sdb.listen != NULL) {
			pfd[1].fd = PQsocket(sdb.listen);
			pfd[1].events = POLLIN;
			nfds = 2;
			wait = sdb.fetch ? 0 : sdb.next_fetch - now;
		} else
			wait = sdb.retry_at - now;
		if (wait < 0)
			wait = 0;
		if (poll(pfd, nfds, (int)wait) == -1 && errno != EINTR) {
			log_error("stream: poll: %s", strerror(errno));
			continue;
		}
		if (pfd[0].revents & POLLIN) {
			n = read(sdb.wakefd, &count, sizeof count);
			(void)n;
		}
		if (nfds == 2 && pfd[1].revents != 0)
			streamdb_notifies();
	}
	return (NULL);
}

/*
 * Start the thread on CONNINFO for NSHARDS stream threads; WAKE(shard) is
 * called after each result posted to that shard.
 */
int
streamdb_start(const char *conninfo, size_t nshards, void (*wake)(size_t))
{
	size_t	 i;
	int	 error;

	sdb.conninfo = xstrdup(conninfo);
	sdb.wake = wake;
	sdb.in = NULL;
	sdb.in_tail = &sdb.in;
	sdb.nshards = nshards;
	sdb.out = xcalloc(nshards, sizeof *sdb.out);
	for (i = 0; i < nshards; i++)
		sdb.out[i].tail = &sdb.out[i].head;
	sdb.stopping = 0;
	sdb.have_last = 0;
	sdb.retry_at = 0;
	sdb.backoff_ms = 0;
	sdb.outage = 0;
	sdb.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sdb.wakefd == -1) {
		log_error("stream: eventfd: %s", strerror(errno));
		free(sdb.conninfo);
		free(sdb.out);
		sdb.out = NULL;
		return (-1);
	}
	if ((error = pthread_create(&sdb.thread, NULL, streamdb_main,
	    NULL)) != 0) {
		log_error("stream: pthread_create: %s", strerror(error));
		close(sdb.wakefd);
		sdb.wakefd = -1;
		free(sdb.conninfo);
		free(sdb.out);
		sdb.out = NULL;
		return (-1);
	}
	pthread_setname_np(sdb.thread, "streamdb");
	sdb.running = 1;
	return (0);
}

/*
 * Stop the thread and close its connections. Jobs it had not run come back
 * as results with status -3, so the caller releases what they refer to
 * through streamdb_take() as usual; then streamdb_free().
 */
void
streamdb_stop(void)
{
	struct streamdb_msg	*m, *next;
	uint64_t		 one = 1;
	ssize_t			 n;

	if (!sdb.running)
		return;
	pthread_mutex_lock(&sdb.lock);
	sdb.stopping = 1;
	pthread_mutex_unlock(&sdb.lock);
	n = write(sdb.wakefd, &one, sizeof one);
	(void)n;
	pthread_join(sdb.thread, NULL);
	sdb.running = 0;

	pthread_mutex_lock(&sdb.lock);
	m = sdb.in;
	sdb.in = NULL;
	sdb.in_tail = &sdb.in;
	for (; m != NULL; m = next) {
		next = m->next;
		m->status = -3;
		streamdb_out_append(m);
	}
	pthread_mutex_unlock(&sdb.lock);

	if (sdb.listen != NULL)
		PQfinish(sdb.listen);
	if (sdb.query != NULL)
		PQfinish(sdb.query);
	sdb.listen = sdb.query = NULL;
	close(sdb.wakefd);
	sdb.wakefd = -1;
	free(sdb.conninfo);
	sdb.conninfo = NULL;
}

/* Once every shard has taken what was left for it. */
void
streamdb_free(void)
{
	free(sdb.out);
	sdb.out = NULL;
	sdb.nshards = 0;
}
