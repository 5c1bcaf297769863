/*
 * stream.c: the WebSocket stream (CONTRACT.md "WebSocket stream", API.md
 * "Stream messages"). One libwebsockets context, serviced by its own
 * thread, owns every client: authentication, replay from a cursor, live
 * push, back-pressure and pings. It never waits on PostgreSQL: streamdb.c
 * looks tokens up, reads replay batches and loads new events, and hands the
 * results back through a queue and lws_cancel_service().
 *
 * An event is serialised once, behind LWS_PRE bytes of headroom so that
 * lws_write() frames it in place, and is referenced by the ring of recent
 * events and by every connection queue it sits in. Users are shared: the
 * principal and ws filters of a user are held once however many connections
 * it has, and a reload swaps them for all of them.
 *
 * A connection goes AUTH -> REPLAY -> LIVE. Its cursor is the last event id
 * it has been considered for. Live events advance LIVE connections only; a
 * REPLAY connection reads the ring (or, below the ring, streamdb batches)
 * until it reaches the last event, then says "ready" and goes LIVE. So an
 * event published during a replay is sent once: by the replay.
 *
 * Pings come from one stream-wide timer, not from lws's per-connection
 * validity timers: lws 4.1 keeps a thread's timers in one sorted list and
 * inserts by walking it, so re-arming one timer per connection at every
 * ping and pong costs O(n) each, and at 10,000 connections took most of the
 * thread. sh->conns is kept in the order connections were last heard from,
 * so the timer looks only at those silent for ping_interval_s.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ev.h>
#include <libwebsockets.h>

#include "tocsind.h"

#define STREAM_PATH		"/v1/stream"
#define STREAM_PROTOCOL		"tocsin"
#define STREAM_MAX_RX		4096	/* largest client message */
#define STREAM_MAX_TOKEN	128	/* tokens are about 50 characters */
#define STREAM_USER_BUCKETS	4096
#define STREAM_CLOSE_AUTH	4401	/* API.md: authentication refused */
#define STREAM_CLOSE_AGAIN	1013	/* RFC 6455 registry: try again later */
#define STREAM_CLOSE_GRACE_S	5	/* a closing peer that never reads */
#define STREAM_WRITES_PER_TURN	16	/* writes per writeable callback */
#define STREAM_BATCH_BYTES	65536	/* frames gathered into one write */
#define STREAM_THREADS_AUTO_MAX	16	/* stream.threads 0: one per CPU */
#define STREAM_TICK_US		(10 * LWS_USEC_PER_SEC) /* safety net only */
#define STREAM_STOP_TICK_US	(50 * LWS_US_PER_MS)
#define STREAM_STOP_GRACE_US	(3 * LWS_USEC_PER_SEC)
#define STREAM_PING_TICK_US	LWS_USEC_PER_SEC
#define STREAM_PING_GRACE_MIN_S	10	/* answer time allowed at least */
/* lws 4.1 passes a pong up to us only if it has a payload; the peer
 * echoes the ping's (RFC 6455, 5.5.3). */
#define STREAM_PING_PAYLOAD	"tocsin"

/* One element of an event's scope: who may see it, what filters look at. */
struct stream_scope {
	struct audience		 aud;
	struct match_item	 item;	/* borrows from the event's scope_json */
};

struct stream_event {
	int64_t			 id;	/* 0: a control message */
	int64_t			 created_us;	/* wall clock; 0: unknown */
	atomic_uint		 refs;		/* shards share events */
	size_t			 len;
	size_t			 hlen;	/* its frame header, before buf[LWS_PRE] */
	size_t			 bytes;	/* memory held, estimated */
	json_t			*scope_json;
	struct stream_scope	*scope;
	size_t			 n_scope;
	unsigned char		 buf[];	/* LWS_PRE headroom, then the JSON */
};
_Static_assert(LWS_PRE >= WSFRAME_HEADER_MAX, "no room for a frame header");

/* A user with connections: its principal and ws filters, held once. */
struct stream_user {
	int64_t			 id;
	struct principal	*principal;
	struct filter		*filters;
	size_t			 n_filters;
	int64_t			 memo_id;	/* last event decided, 0: none */
	int			 memo_wanted;
	int			 reload_pending;
	int			 reload_again;
	size_t			 nconns;
	TAILQ_HEAD(, stream_conn) conns;
	TAILQ_ENTRY(stream_user) entry;
	struct stream_user	*hnext;
};

enum stream_state { STREAM_AUTH, STREAM_REPLAY, STREAM_LIVE };

struct stream_conn {
	struct lws		*wsi;		/* NULL once closed */
	unsigned		 refs;		/* the wsi, each job in flight */
	enum stream_state	 state;
	struct stream_user	*user;		/* once authenticated */
	unsigned char		 token_hash[32];
	int			 header_auth;
	int			 auth_pending;
	int			 has_since;	/* resume asked before auth */
	int64_t			 since;

	int64_t			 cursor;
	uint64_t		 replay_gen;	/* stale batches are dropped */
	int			 replay_wait;	/* a batch is on its way */
	int			 replay_check;	/* truncation not yet checked */
	int64_t			 replay_since;

	int			 close_code;	/* close at next writeable */
	int			 close_after;	/* close once the queue drains */
	const char		*close_reason;

	struct stream_event	**q;		/* ring of queued messages */
	size_t			 q_cap;
	size_t			 q_first;
	size_t			 q_len;
	size_t			 q_bytes;

	char			*rx;
	size_t			 rx_len;

	lws_usec_t		 last_rx;	/* a frame or a pong came */
	lws_usec_t		 ping_at;	/* pinged, no answer; 0: none */
	int			 ping_due;	/* ping at next writeable */
	int			 peer_closed;	/* the client sent a close */
	int			 flush_pending;	/* on sh->flush */

	TAILQ_ENTRY(stream_conn) entry;		/* sh->conns or sh->reap */
	TAILQ_ENTRY(stream_conn) uentry;	/* user->conns */
	TAILQ_ENTRY(stream_conn) fentry;	/* sh->flush */
};

/* What lws keeps per connection; the handshake's findings, then ours. */
struct stream_pss {
	struct stream_conn	*conn;
	int			 header_auth;
	int			 has_since;
	int64_t			 since;
	char			 token[STREAM_MAX_TOKEN];
};

/*
 * A shard: one libwebsockets context served by its own thread, with its
 * connections, users and ring. The acceptor hands each new connection to
 * one shard, in turn; every shard receives every event (streamdb.c).
 */
struct stream_shard {
	size_t			 index;
	const struct config	*cfg;
	struct lws_context	*ctx;
	struct lws_vhost	*vhost;
	pthread_mutex_t		 ctx_lock;	/* ctx, inbox against others */
	pthread_t		 thread;
	int			 started;
	atomic_int		 stopping;	/* set by stream_stop() */
	int			*inbox;		/* accepted sockets to adopt */
	size_t			 inbox_len;
	size_t			 inbox_cap;

	/* The stream thread's own from here on. */
	int			 closing;	/* 1001 sent to everyone */
	lws_usec_t		 close_deadline;
	int			 done;
	int			 destroying;
	lws_sorted_usec_list_t	 sul_tick;
	lws_sorted_usec_list_t	 sul_reap;
	lws_sorted_usec_list_t	 sul_ping;
	lws_usec_t		 ping_us;	/* silence before a ping */
	lws_usec_t		 grace_us;	/* from the ping to hanging up */
	size_t			 q_limit;
	unsigned char		*batch;		/* LWS_PRE + STREAM_BATCH_BYTES */
	struct ev_loop		*loop;		/* epoll, lws's through evlib-ev */
	void			*foreign[1];	/* info.foreign_loops */

	struct stream_event	**ring;		/* recent events, by id */
	size_t			 ring_cap;
	size_t			 ring_first;
	size_t			 ring_len;
	size_t			 ring_bytes;	/* its events' ev->bytes */
	int64_t			 last;		/* last event id known */
	int64_t			 floor;		/* the ring has all after it */
	int			 head_known;

	TAILQ_HEAD(, stream_conn) conns;	/* least recently heard first */
	TAILQ_HEAD(, stream_conn) reap;
	TAILQ_HEAD(, stream_conn) flush;	/* live pushes to write now */
	int			 draining;	/* in stream_drain() */
	size_t			 nconns;
	TAILQ_HEAD(, stream_user) users;
	struct stream_user	*buckets[STREAM_USER_BUCKETS];
};

static struct {
	struct stream_shard	*shards;
	size_t			 nshards;
	int			 listen_fd;
	int			 stop_fd;	/* eventfd: the acceptor stops */
	pthread_t		 acceptor;
	int			 running;
	size_t			 next;		/* the acceptor's next shard */
} stream = {
	.listen_fd = -1,
	.stop_fd = -1,
};
/* The shard whose thread this is (or that the main thread works on). */
static __thread struct stream_shard *sh;

static int	stream_cb(struct lws *, enum lws_callback_reasons, void *,
		    void *, size_t);

static struct lws_protocols stream_protocols[] = {
	{
		.name = STREAM_PROTOCOL,
		.callback = stream_cb,
		.per_session_data_size = sizeof(struct stream_pss),
		.rx_buffer_size = STREAM_MAX_RX,
	},
	{ .name = NULL }
};
/* No validity timers: lws would use its default (ping after 300 s) when
 * given no policy; secs_since_valid_hangup 0 turns them off. */
static const lws_retry_bo_t stream_no_validity = {
	.secs_since_valid_ping = 0,
	.secs_since_valid_hangup = 0,
};

static void	stream_replay_step(struct stream_conn *);
static void	stream_flush(void);
static void	stream_adopt(void);

/* A job for streamdb, whose result comes back to this shard. */
static void
stream_submit(struct streamdb_msg *m)
{
	m->shard = sh->index;
	streamdb_submit(m);
}

/* ---- Events. ---- */

/* A JSON string literal for S, or NULL if S is not valid UTF-8. */
static char *
stream_quote(const char *s)
{
	json_t	*j;
	char	*out;

	if ((j = json_string(s)) == NULL)
		return (NULL);
	out = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(j);
	return (out);
}

/* Staff only: a RED label naming nobody opens the item to CSIRT staff. */
static void
stream_scope_staff_only(struct audience *aud)
{
	memset(aud, 0, sizeof *aud);
	aud->tlp = TLP_RED;
}

/*
 * Parse one stored scope element. The audience was validated when it was
 * published; if it no longer passes (a sector renamed, say), nobody but
 * staff gets the event, rather than a guess at who may.
 */
static void
stream_scope_parse(int64_t id, size_t i, json_t *e, struct stream_scope *s)
{
	const char	*label, *field, *message;
	enum tlp	 tlp;

	label = json_string_value(json_object_get(e, "tlp"));
	if (label == NULL || tlp_parse(label, &tlp) != 0) {
		log_warn("stream: event %" PRId64 ": scope %zu has no valid "
		    "tlp; staff only", id, i);
		stream_scope_staff_only(&s->aud);
	} else if (audience_from_json(json_object_get(e, "audience"), tlp,
	    &s->aud, &field, &message) != 0) {
		log_warn("stream: event %" PRId64 ": scope %zu: %s %s; staff "
		    "only", id, i, field, message);
		stream_scope_staff_only(&s->aud);
	}
	match_item_from_json(e, &s->item);
}

/*
 * The memory that a malloc() of N bytes takes with glibc: a chunk of N and
 * its 8-byte header, rounded up to 16, at least 32. An estimate elsewhere.
 */
static size_t
stream_chunk(size_t n)
{
	n = (n + 8 + 15) & ~(size_t)15;
	return (n < 32 ? 32 : n);
}

/*
 * The memory a parsed JSON value holds, estimated from jansson 2.x's
 * layout: 16-byte value headers, an object's hash table (8 buckets of 16
 * bytes, doubled as it fills) and one pair per key (56 bytes and the key),
 * an array's table (8 pointers, doubled), a string's copy.
 */
static size_t
stream_json_bytes(json_t *j)
{
	const char	*k;
	json_t		*v;
	size_t		 n, i, cap;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		for (cap = 8; cap < json_object_size(j); cap *= 2)
			;
		n = stream_chunk(72) + stream_chunk(cap * 16);
		json_object_foreach(j, k, v)
			n += stream_chunk(57 + strlen(k)) + stream_json_bytes(v);
		return (n);
	case JSON_ARRAY:
		for (cap = 8; cap < json_array_size(j); cap *= 2)
			;
		n = stream_chunk(40) + stream_chunk(cap * sizeof(json_t *));
		json_array_foreach(j, i, v)
			n += stream_json_bytes(v);
		return (n);
	case JSON_STRING:
		return (stream_chunk(32) +
		    stream_chunk(json_string_length(j) + 1));
	case JSON_INTEGER:
	case JSON_REAL:
		return (stream_chunk(24));
	default:
		return (0);	/* true, false and null are shared */
	}
}

/* The memory one scope element's own vectors hold (its strings borrow
 * from the event's scope_json, but for the audience's sectors). */
static size_t
stream_scope_bytes(const struct stream_scope *s)
{
	size_t	n = 0, i;

	if (s->aud.n_orgs != 0)
		n += stream_chunk(s->aud.n_orgs * sizeof *s->aud.orgs);
	if (s->aud.n_users != 0)
		n += stream_chunk(s->aud.n_users * sizeof *s->aud.users);
	if (s->aud.n_sectors != 0)
		n += stream_chunk(s->aud.n_sectors * sizeof *s->aud.sectors);
	for (i = 0; i < s->aud.n_sectors; i++)
		n += stream_chunk(strlen(s->aud.sectors[i]) + 1);
	if (s->item.n_sectors != 0)
		n += stream_chunk(s->item.n_sectors * sizeof(char *));
	if (s->item.n_cves != 0)
		n += stream_chunk(s->item.n_cves * sizeof(char *));
	if (s->item.n_products != 0)
		n += stream_chunk(s->item.n_products * sizeof(char *));
	return (n);
}

/*
 * Write the WebSocket frame header just before the message, once: every
 * connection, in every shard, sends these same bytes as they are, and
 * lws writes nothing into them (stream_write_batch()).
 */
static void
stream_event_frame(struct stream_event *ev)
{
	unsigned char	hdr[WSFRAME_HEADER_MAX];

	ev->hlen = wsframe_text_header(hdr, ev->len);
	memcpy(ev->buf + LWS_PRE - ev->hlen, hdr, ev->hlen);
}

/*
 * An event from its row: the wire message {"type", "event_id", "tlp",
 * "data"} written once after LWS_PRE bytes of headroom (data is the jsonb
 * text as stored), and the parsed scope. Called by the streamdb thread.
 */
struct stream_event *
stream_event_new(int64_t id, const char *type, const char *tlp,
    const char *scope, const char *data)
{
	static const char	 fmt[] = "{\"type\":%s,\"event_id\":%" PRId64
				     ",\"tlp\":%s,\"data\":%s}";
	struct stream_event	*ev;
	json_t			*js, *e;
	char			*qtype, *qtlp;
	size_t			 i;
	int			 len;

	qtype = stream_quote(type);
	qtlp = stream_quote(tlp);
	if (qtype == NULL || qtlp == NULL) {
		log_warn("stream: event %" PRId64 ": type or tlp is not "
		    "UTF-8; skipped", id);
		free(qtype);
		free(qtlp);
		return (NULL);
	}
	len = snprintf(NULL, 0, fmt, qtype, id, qtlp, data);
	ev = xcalloc(1, sizeof *ev + LWS_PRE + len + 1);
	snprintf((char *)ev->buf + LWS_PRE, len + 1, fmt, qtype, id, qtlp,
	    data);
	free(qtype);
	free(qtlp);
	ev->id = id;
	atomic_init(&ev->refs, 1);
	ev->len = len;
	stream_event_frame(ev);

	js = json_loads(scope, 0, NULL);
	if (!json_is_array(js)) {
		log_warn("stream: event %" PRId64 ": scope is not an array; "
		    "staff only", id);
		json_decref(js);
		js = json_pack("[{}]");
	}
	ev->scope_json = js;
	ev->n_scope = json_array_size(js);
	if (ev->n_scope != 0)
		ev->scope = xcalloc(ev->n_scope, sizeof *ev->scope);
	json_array_foreach(js, i, e)
		stream_scope_parse(id, i, e, &ev->scope[i]);

	/* What the ring's gauge counts for it (tocsin_stream_ring_bytes). */
	ev->bytes = stream_chunk(sizeof *ev + LWS_PRE + len + 1) +
	    stream_json_bytes(js);
	if (ev->n_scope != 0)
		ev->bytes += stream_chunk(ev->n_scope * sizeof *ev->scope);
	for (i = 0; i < ev->n_scope; i++)
		ev->bytes += stream_scope_bytes(&ev->scope[i]);
	return (ev);
}

/* When the event was created (microseconds of the wall clock). */
void
stream_event_set_created(struct stream_event *ev, int64_t us)
{
	ev->created_us = us;
}

/* A message for one connection (ready, error...); MSG is stolen. */
static struct stream_event *
stream_event_control(json_t *msg)
{
	struct stream_event	*ev;
	size_t			 len;

	len = json_dumpb(msg, NULL, 0, JSON_COMPACT);
	ev = xcalloc(1, sizeof *ev + LWS_PRE + len + 1);
	json_dumpb(msg, (char *)ev->buf + LWS_PRE, len, JSON_COMPACT);
	json_decref(msg);
	atomic_init(&ev->refs, 1);
	ev->len = len;
	stream_event_frame(ev);
	return (ev);
}

void
stream_event_ref(struct stream_event *ev)
{
	atomic_fetch_add_explicit(&ev->refs, 1, memory_order_relaxed);
}

/* Drop a reference; the last one frees the event. */
void
stream_event_unref(struct stream_event *ev)
{
	size_t	i;

	if (ev == NULL || atomic_fetch_sub_explicit(&ev->refs, 1,
	    memory_order_acq_rel) != 1)
		return;
	for (i = 0; i < ev->n_scope; i++) {
		audience_clear(&ev->scope[i].aud);
		match_item_free_arrays(&ev->scope[i].item);
	}
	free(ev->scope);
	json_decref(ev->scope_json);
	free(ev);
}

/*
 * TLP.md, "What is pushed": some scope element lets the principal see the
 * item, and that element either names the principal or meets one of its ws
 * subscriptions. Staff may see everything but are pushed by the same rule.
 */
int
stream_event_wanted(const struct stream_event *ev, const struct principal *p,
    const struct filter *filters, size_t n_filters)
{
	const struct stream_scope	*s;
	size_t				 i, j;

	for (i = 0; i < ev->n_scope; i++) {
		s = &ev->scope[i];
		if (!tlp_may_see(&s->aud, p))
			continue;
		if (tlp_targets(&s->aud, p))
			return (1);
		for (j = 0; j < n_filters; j++) {
			if (match_filter(&filters[j], &s->item))
				return (1);
		}
	}
	return (0);
}

/* ---- The ring of recent events. ---- */

static struct stream_event *
stream_ring_at(size_t i)
{
	return (sh->ring[(sh->ring_first + i) % sh->ring_cap]);
}

/* The index of the first event after ID. */
static size_t
stream_ring_after(int64_t id)
{
	size_t	lo = 0, hi = sh->ring_len, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (stream_ring_at(mid)->id <= id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo);
}

static void
stream_ring_append(struct stream_event *ev)
{
	struct stream_event	*old;

	if (sh->ring_len == sh->ring_cap) {
		old = stream_ring_at(0);
		sh->floor = old->id;
		sh->ring_bytes -= old->bytes;
		stream_event_unref(old);
		sh->ring_first = (sh->ring_first + 1) % sh->ring_cap;
		sh->ring_len--;
	}
	stream_event_ref(ev);
	sh->ring[(sh->ring_first + sh->ring_len) % sh->ring_cap] = ev;
	sh->ring_len++;
	sh->ring_bytes += ev->bytes;
	if (sh->index == 0)	/* every shard's ring holds the same events */
		metrics_stream_ring(sh->ring_len, sh->ring_bytes);
}

/* ---- Users. ---- */

static struct stream_user *
stream_user_find(int64_t id)
{
	struct stream_user	*u;

	u = sh->buckets[(uint64_t)id % STREAM_USER_BUCKETS];
	for (; u != NULL; u = u->hnext) {
		if (u->id == id)
			return (u);
	}
	return (NULL);
}

static void
stream_user_clear(struct stream_user *u)
{
	size_t	i;

	if (u->principal != NULL) {
		principal_clear(u->principal);
		free(u->principal);
		u->principal = NULL;
	}
	for (i = 0; i < u->n_filters; i++)
		filter_clear(&u->filters[i]);
	free(u->filters);
	u->filters = NULL;
	u->n_filters = 0;
	u->memo_id = 0;
}

/* Swap in the principal and filters a job brought (taken from M). */
static void
stream_user_set(struct stream_user *u, struct streamdb_msg *m)
{
	stream_user_clear(u);
	u->principal = m->principal;
	u->filters = m->filters;
	u->n_filters = m->n_filters;
	m->principal = NULL;
	m->filters = NULL;
	m->n_filters = 0;
}

static struct stream_user *
stream_user_get(int64_t id)
{
	struct stream_user	*u, **b;

	if ((u = stream_user_find(id)) != NULL)
		return (u);
	u = xcalloc(1, sizeof *u);
	u->id = id;
	TAILQ_INIT(&u->conns);
	b = &sh->buckets[(uint64_t)id % STREAM_USER_BUCKETS];
	u->hnext = *b;
	*b = u;
	TAILQ_INSERT_TAIL(&sh->users, u, entry);
	return (u);
}

static void
stream_user_free(struct stream_user *u)
{
	struct stream_user	**b;

	for (b = &sh->buckets[(uint64_t)u->id % STREAM_USER_BUCKETS];
	    *b != u; b = &(*b)->hnext)
		;
	*b = u->hnext;
	TAILQ_REMOVE(&sh->users, u, entry);
	stream_user_clear(u);
	free(u);
}

/* Is the event pushed to this user? Decided once per event, not per
 * connection: 10,000 connections of one user cost one decision. */
static int
stream_user_wants(struct stream_user *u, const struct stream_event *ev)
{
	if (u->memo_id != ev->id) {
		u->memo_wanted = stream_event_wanted(ev, u->principal,
		    u->filters, u->n_filters);
		u->memo_id = ev->id;
	}
	return (u->memo_wanted);
}

/* Have the user's principal re-read (once at a time, again if asked). */
static void
stream_user_reload(struct stream_user *u)
{
	struct streamdb_msg	*m;

	if (u->reload_pending) {
		u->reload_again = 1;
		return;
	}
	m = streamdb_msg_new(STREAMDB_RELOAD);
	m->id = u->id;
	u->reload_pending = 1;
	stream_submit(m);
}

/* ---- Connections. ---- */

static void
stream_conn_drop_queue(struct stream_conn *c)
{
	while (c->q_len > 0) {
		stream_event_unref(c->q[c->q_first]);
		c->q_first = (c->q_first + 1) % c->q_cap;
		c->q_len--;
	}
	c->q_first = 0;
	c->q_bytes = 0;
}

static void
stream_conn_unref(struct stream_conn *c)
{
	if (--c->refs != 0)
		return;
	stream_conn_drop_queue(c);
	free(c->q);
	free(c->rx);
	free(c);
}

/*
 * The peer sent a frame or a pong: it is alive, whatever ping was due or
 * unanswered. To the tail of sh->conns, which stays in order of last_rx.
 */
static void
stream_conn_heard(struct stream_conn *c)
{
	c->last_rx = lws_now_usecs();
	c->ping_at = 0;
	c->ping_due = 0;
	TAILQ_REMOVE(&sh->conns, c, entry);
	TAILQ_INSERT_TAIL(&sh->conns, c, entry);
}

/* Close now, dropping what is queued: slow reader, shutdown. */
static void
stream_conn_close(struct stream_conn *c, int code, const char *reason)
{
	if (c->wsi == NULL || c->close_code != 0)
		return;
	stream_conn_drop_queue(c);
	c->close_code = code;
	c->close_reason = reason;
	lws_callback_on_writable(c->wsi);
	/* A peer that never reads never makes us writable. */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, STREAM_CLOSE_GRACE_S);
}

/*
 * Queue EV. When ENFORCE (live push), a queue that would pass
 * ws_send_queue_bytes closes the connection with 1008: the client resumes,
 * and nobody else waits for it. One event always fits an empty queue.
 */
static int
stream_conn_push(struct stream_conn *c, struct stream_event *ev, int enforce)
{
	struct stream_event	**q;
	size_t			  i, cap;

	if (c->wsi == NULL || c->close_code != 0 || c->close_after != 0)
		return (-1);
	if (enforce && c->q_len != 0 && c->q_bytes + ev->len > sh->q_limit) {
		log_debug("stream: user %" PRId64 ": slow reader closed",
		    c->user != NULL ? c->user->id : 0);
		stream_conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    "send queue full; resume");
		return (-1);
	}
	if (c->q_len == c->q_cap) {
		cap = c->q_cap == 0 ? 8 : c->q_cap * 2;
		q = xcalloc(cap, sizeof *q);
		for (i = 0; i < c->q_len; i++)
			q[i] = c->q[(c->q_first + i) % c->q_cap];
		free(c->q);
		c->q = q;
		c->q_cap = cap;
		c->q_first = 0;
	}
	stream_event_ref(ev);
	c->q[(c->q_first + c->q_len) % c->q_cap] = ev;
	c->q_len++;
	c->q_bytes += ev->len;
	if (c->q_len == 1) {
		/* Live pushes are written when the drain ends (stream_flush). */
		if (sh->draining && c->state == STREAM_LIVE) {
			if (!c->flush_pending) {
				c->flush_pending = 1;
				TAILQ_INSERT_TAIL(&sh->flush, c, fentry);
			}
		} else
			lws_callback_on_writable(c->wsi);
	}
	return (0);
}

/* Queue a message for this connection alone; MSG is stolen. */
static void
stream_conn_send(struct stream_conn *c, json_t *msg)
{
	struct stream_event	*ev;

	ev = stream_event_control(msg);
	stream_conn_push(c, ev, 0);
	stream_event_unref(ev);
}

/* {"type": "error"} without closing: a bad message after auth. */
static void
stream_conn_error(struct stream_conn *c, int status, const char *detail)
{
	stream_conn_send(c, json_pack("{s:s, s:i, s:s}", "type", "error",
	    "status", status, "detail", detail));
}

/* {"type": "error"}, then close with CODE once it is written. Nothing
 * queued before it is sent: the connection lost its right to it. */
static void
stream_conn_fail(struct stream_conn *c, int status, int code,
    const char *detail)
{
	if (c->wsi == NULL || c->close_code != 0 || c->close_after != 0)
		return;
	stream_conn_drop_queue(c);
	stream_conn_error(c, status, detail);
	c->close_after = code;
	c->close_reason = detail;
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, STREAM_CLOSE_GRACE_S);
}

static void
stream_conn_ready(struct stream_conn *c)
{
	c->state = STREAM_LIVE;
	stream_conn_send(c, json_pack("{s:s, s:I}", "type", "ready",
	    "last_event_id", (json_int_t)c->cursor));
}

/* Ask streamdb for the batch after the cursor. */
static void
stream_replay_request(struct stream_conn *c)
{
	struct streamdb_msg	*m;

	m = streamdb_msg_new(STREAMDB_REPLAY);
	m->conn = c;
	m->gen = c->replay_gen;
	m->id = c->cursor;
	m->max_bytes = sh->q_limit / 2;
	c->refs++;
	c->replay_wait = 1;
	stream_submit(m);
}

/* Replay from SINCE: what is queued is dropped, as the client asked. */
static void
stream_replay_start(struct stream_conn *c, int64_t since)
{
	stream_conn_drop_queue(c);
	c->state = STREAM_REPLAY;
	c->cursor = since;
	c->replay_since = since;
	c->replay_check = 1;
	c->replay_gen++;
	c->replay_wait = 0;
	stream_replay_step(c);
}

/*
 * Move a replaying connection on while its queue is under half the limit:
 * from the ring when it holds everything after the cursor, else by a
 * streamdb batch; at the last event, "ready" and LIVE.
 */
static void
stream_replay_step(struct stream_conn *c)
{
	struct stream_event	*ev;
	size_t			 i;

	while (c->wsi != NULL && c->state == STREAM_REPLAY &&
	    !c->replay_wait && c->close_code == 0 && c->close_after == 0 &&
	    c->q_bytes < sh->q_limit / 2) {
		if (c->cursor >= sh->last) {
			stream_conn_ready(c);
			return;
		}
		if (c->cursor < sh->floor) {
			if (!sh->closing)
				stream_replay_request(c);
			return;
		}
		for (i = stream_ring_after(c->cursor); i < sh->ring_len &&
		    c->q_bytes < sh->q_limit / 2; i++) {
			ev = stream_ring_at(i);
			if (stream_user_wants(c->user, ev))
				stream_conn_push(c, ev, 0);
			c->cursor = ev->id;
		}
		/* Events that could not be built are in no ring. */
		if (i == sh->ring_len && c->cursor < sh->last)
			c->cursor = sh->last;
	}
}

static void
stream_auth_submit(struct stream_conn *c, const char *token)
{
	struct streamdb_msg	*m;

	m = streamdb_msg_new(STREAMDB_AUTH);
	m->token = xstrdup(token);
	m->conn = c;
	c->refs++;
	c->auth_pending = 1;
	stream_submit(m);
}

/* The closed connection leaves every list but the reap list; it is freed
 * outside its own callback, at the top of a later loop turn. */
static void stream_reap_cb(lws_sorted_usec_list_t *);

static void
stream_conn_closed(struct stream_conn *c)
{
	c->wsi = NULL;
	stream_conn_drop_queue(c);
	if (c->flush_pending) {
		TAILQ_REMOVE(&sh->flush, c, fentry);
		c->flush_pending = 0;
	}
	TAILQ_REMOVE(&sh->conns, c, entry);
	sh->nconns--;
	metrics_ws_connections(-1);
	TAILQ_INSERT_TAIL(&sh->reap, c, entry);
	if (!sh->destroying)
		lws_sul_schedule(sh->ctx, 0, &sh->sul_reap, stream_reap_cb, 1);
}

static void
stream_reap(void)
{
	struct stream_conn	*c;
	struct stream_user	*u;

	while ((c = TAILQ_FIRST(&sh->reap)) != NULL) {
		TAILQ_REMOVE(&sh->reap, c, entry);
		if ((u = c->user) != NULL) {
			TAILQ_REMOVE(&u->conns, c, uentry);
			c->user = NULL;
			if (--u->nconns == 0)
				stream_user_free(u);
		}
		stream_conn_unref(c);
	}
}

static void
stream_reap_cb(lws_sorted_usec_list_t *sul)
{
	stream_reap();
}

/* ---- Results from streamdb. ---- */

static void
stream_on_head(struct streamdb_msg *m)
{
	sh->last = sh->floor = m->id;
	sh->head_known = 1;
}

/* A new event: into the ring, and to every LIVE connection that wants it. */
static void
stream_live(struct stream_event *ev)
{
	struct stream_user	*u;
	struct stream_conn	*c;
	int			 wanted;

	if (ev->id <= sh->last)
		return;
	stream_ring_append(ev);
	sh->last = ev->id;
	TAILQ_FOREACH(u, &sh->users, entry) {
		wanted = -1;
		TAILQ_FOREACH(c, &u->conns, uentry) {
			if (c->state != STREAM_LIVE || c->cursor >= ev->id ||
			    c->wsi == NULL || c->close_code != 0 ||
			    c->close_after != 0)
				continue;
			if (wanted == -1)
				wanted = stream_user_wants(u, ev);
			if (wanted)
				stream_conn_push(c, ev, 1);
			c->cursor = ev->id;
		}
	}
}

static void
stream_on_events(struct streamdb_msg *m)
{
	size_t	i;

	for (i = 0; i < m->n_events; i++)
		stream_live(m->events[i]);
	if (m->last_id > sh->last)
		sh->last = m->last_id;
}

static void
stream_on_auth(struct streamdb_msg *m)
{
	struct stream_conn	*c = m->conn;
	struct stream_user	*u;

	c->auth_pending = 0;
	if (c->wsi == NULL || c->state != STREAM_AUTH || c->close_code != 0 ||
	    c->close_after != 0)
		return;
	if (m->status == -1) {
		stream_conn_fail(c, 401, STREAM_CLOSE_AUTH,
		    "invalid or revoked token");
		return;
	}
	if (m->status != 0 || !sh->head_known) {
		stream_conn_fail(c, 503, STREAM_CLOSE_AGAIN,
		    "database unavailable; try again later");
		return;
	}
	u = stream_user_get(m->principal->user_id);
	stream_user_set(u, m);
	c->user = u;
	TAILQ_INSERT_TAIL(&u->conns, c, uentry);
	u->nconns++;
	memcpy(c->token_hash, m->hash, sizeof c->token_hash);
	lws_set_timer_usecs(c->wsi, LWS_SET_TIMER_USEC_CANCEL);
	log_debug("stream: user %" PRId64 " authenticated", u->id);
	if (c->has_since)
		stream_replay_start(c, c->since);
	else {
		c->cursor = sh->last;
		stream_conn_ready(c);
	}
}

static void
stream_on_replay(struct streamdb_msg *m)
{
	struct stream_conn	*c = m->conn;
	struct stream_event	*ev;
	size_t			 i;

	if (c->wsi == NULL || c->state != STREAM_REPLAY ||
	    m->gen != c->replay_gen)
		return;		/* closed, or restarted by a resume */
	c->replay_wait = 0;
	if (m->status != 0) {
		stream_conn_fail(c, 503, STREAM_CLOSE_AGAIN,
		    "database unavailable; resume later");
		return;
	}
	if (c->replay_check) {
		c->replay_check = 0;
		/* Ids below purged_before are gone: was one of them due? */
		if (c->replay_since + 1 < m->purged_before)
			stream_conn_send(c, json_pack("{s:s, s:I, s:I}",
			    "type", "replay.truncated",
			    "since", (json_int_t)c->replay_since,
			    "oldest_event_id", (json_int_t)m->purged_before));
	}
	for (i = 0; i < m->n_events; i++) {
		ev = m->events[i];
		if (ev->id <= c->cursor)
			continue;
		if (stream_user_wants(c->user, ev))
			stream_conn_push(c, ev, 0);
		c->cursor = ev->id;
	}
	if (m->last_id > c->cursor)
		c->cursor = m->last_id;
	/*
	 * No row after the cursor: every event this thread knows of was
	 * loaded by streamdb before this query ran, so none is left below
	 * sh->last (results come back in order).
	 */
	if (m->last_id == 0 && c->cursor < sh->last)
		c->cursor = sh->last;
	stream_replay_step(c);
}

static int
stream_hash_live(const struct stream_conn *c, const struct streamdb_msg *m)
{
	size_t	i;

	for (i = 0; i < m->n_hashes; i++) {
		if (token_equal(c->token_hash, m->hashes[i],
		    sizeof c->token_hash))
			return (1);
	}
	return (0);
}

/* A user's principal re-read: swap it in, and drop what lost its right. */
static void
stream_on_reload(struct streamdb_msg *m)
{
	struct stream_user	*u;
	struct stream_conn	*c;

	if ((u = stream_user_find(m->id)) == NULL)
		return;		/* all its connections went */
	u->reload_pending = 0;
	if (m->status == 0) {
		stream_user_set(u, m);
		TAILQ_FOREACH(c, &u->conns, uentry) {
			if (!stream_hash_live(c, m))
				stream_conn_fail(c, 401, STREAM_CLOSE_AUTH,
				    "token revoked");
		}
	} else if (m->status == -1) {
		log_info("stream: user %" PRId64 " may no longer connect",
		    u->id);
		TAILQ_FOREACH(c, &u->conns, uentry)
			stream_conn_fail(c, 401, STREAM_CLOSE_AUTH,
			    "credentials withdrawn");
	} else
		log_warn("stream: user %" PRId64 ": reload failed; retried "
		    "when the database is back", u->id);
	if (u->reload_again) {
		u->reload_again = 0;
		stream_user_reload(u);
	}
}

static void
stream_on_notice(struct streamdb_msg *m)
{
	struct stream_user	*u;

	if (m->notice == 'u') {
		if ((u = stream_user_find(m->id)) != NULL)
			stream_user_reload(u);
		return;
	}
	TAILQ_FOREACH(u, &sh->users, entry) {
		if (m->notice == '*' || u->principal->org_id == m->id)
			stream_user_reload(u);
	}
}

/* Act on one result, then release it and the connection it held. */
static void
stream_handle(struct streamdb_msg *m)
{
	if (m->status != -3) {
		switch (m->type) {
		case STREAMDB_HEAD:
			stream_on_head(m);
			break;
		case STREAMDB_EVENTS:
			stream_on_events(m);
			break;
		case STREAMDB_AUTH:
			stream_on_auth(m);
			break;
		case STREAMDB_REPLAY:
			stream_on_replay(m);
			break;
		case STREAMDB_RELOAD:
			stream_on_reload(m);
			break;
		case STREAMDB_NOTICE:
			stream_on_notice(m);
			break;
		}
	}
	if (m->conn != NULL)
		stream_conn_unref(m->conn);
	streamdb_msg_free(m);
}

/* Handle every result streamdb has posted, in order, until none is left. */
static void
stream_drain(void)
{
	struct streamdb_msg	*m, *next;

	sh->draining = 1;
	while ((m = streamdb_take(sh->index)) != NULL) {
		for (; m != NULL; m = next) {
			next = m->next;
			stream_handle(m);
		}
	}
	sh->draining = 0;
	if (!sh->destroying)
		stream_flush();
}

/* ---- Shutdown and the periodic tick. ---- */

static void	stream_tick_cb(lws_sorted_usec_list_t *);

static void
stream_begin_close(void)
{
	struct stream_conn	*c;

	sh->closing = 1;
	sh->close_deadline = lws_now_usecs() + STREAM_STOP_GRACE_US;
	TAILQ_FOREACH(c, &sh->conns, entry)
		stream_conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY,
		    "server shutting down");
	lws_sul_schedule(sh->ctx, 0, &sh->sul_tick, stream_tick_cb,
	    STREAM_STOP_TICK_US);
}

static void
stream_tick_cb(lws_sorted_usec_list_t *sul)
{
	stream_drain();		/* a safety net; wake-ups do the work */
	if (sh->closing) {
		if (sh->nconns == 0 || lws_now_usecs() >= sh->close_deadline) {
			sh->done = 1;
			ev_break(sh->loop, EVBREAK_ALL);
		} else
			lws_sul_schedule(sh->ctx, 0, &sh->sul_tick,
			    stream_tick_cb, STREAM_STOP_TICK_US);
		return;
	}
	lws_sul_schedule(sh->ctx, 0, &sh->sul_tick, stream_tick_cb,
	    STREAM_TICK_US);
}

/*
 * Every second: ping the connections silent for ping_interval_s, and hang
 * up on those whose ping went unanswered for the grace period (as lws's
 * secs_since_valid_hangup did: ping_interval_s plus as long again, 10 s at
 * least, from the last frame). Only the head of sh->conns, the connections
 * silent that long, is looked at. The hang-up is asynchronous, so the
 * connection leaves sh->conns in its CLOSED callback, after this walk; no
 * close frame, as the peer is presumed gone.
 */
static void
stream_ping_cb(lws_sorted_usec_list_t *sul)
{
	struct stream_conn	*c;
	lws_usec_t		 now;

	now = lws_now_usecs();
	TAILQ_FOREACH(c, &sh->conns, entry) {
		if (now - c->last_rx < sh->ping_us)
			break;
		if (c->close_code != 0 || c->close_after != 0)
			continue;	/* closing, on its own deadline */
		if (c->ping_at == 0) {
			c->ping_at = now;
			c->ping_due = 1;
			lws_callback_on_writable(c->wsi);
		} else if (now - c->ping_at >= sh->grace_us) {
			log_debug("stream: user %" PRId64 ": no pong; hanging "
			    "up", c->user != NULL ? c->user->id : 0);
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND,
			    LWS_TO_KILL_ASYNC);
		}
	}
	if (!sh->closing)
		lws_sul_schedule(sh->ctx, 0, &sh->sul_ping, stream_ping_cb,
		    STREAM_PING_TICK_US);
}


/* ---- The lws callback. ---- */

/* Parse ?since=N; 0 (and *has) or -1 if malformed. */
static int
stream_since_arg(struct lws *wsi, int *has, int64_t *since)
{
	char		 buf[32];
	const char	*v;
	char		*end;
	long long	 n;

	*has = 0;
	if ((v = lws_get_urlarg_by_name(wsi, "since=", buf, sizeof buf)) ==
	    NULL)
		return (0);
	if (*v < '0' || *v > '9')
		return (-1);
	errno = 0;
	n = strtoll(v, &end, 10);
	if (*end != '\0' || errno != 0)
		return (-1);
	*has = 1;
	*since = n;
	return (0);
}

/*
 * Before the handshake: only /v1/stream, with a well-formed since. The
 * refusal is written by hand: at this point lws would answer "HTTP/1.0"
 * (it parses the request version only for plain requests), which strict
 * WebSocket clients reject instead of reporting the status.
 */
static int
stream_confirm_upgrade(struct lws *wsi)
{
	unsigned char	 buf[LWS_PRE + 128];
	char		 uri[64];
	const char	*text = NULL;
	int64_t		 since;
	int		 has, n;
	unsigned	 status = 0;

	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 ||
	    strcmp(uri, STREAM_PATH) != 0) {
		status = HTTP_STATUS_NOT_FOUND;
		text = "Not Found";
	} else if (stream_since_arg(wsi, &has, &since) != 0) {
		status = HTTP_STATUS_BAD_REQUEST;
		text = "Bad Request";
	} else if (atomic_load(&sh->stopping)) {
		status = HTTP_STATUS_SERVICE_UNAVAILABLE;
		text = "Service Unavailable";
	}
	if (status == 0)
		return (0);
	n = snprintf((char *)buf + LWS_PRE, sizeof buf - LWS_PRE,
	    "HTTP/1.1 %u %s\r\ncontent-length: 0\r\nconnection: close"
	    "\r\n\r\n", status, text);
	if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP_HEADERS) != n)
		return (-1);
	return (1);
}

/* Plain HTTP on the ws listener: there is nothing but the stream. */
static int
stream_http(struct lws *wsi, const char *uri)
{
	unsigned	status = HTTP_STATUS_NOT_FOUND;

	if (uri != NULL && strcmp(uri, STREAM_PATH) == 0)
		status = HTTP_STATUS_BAD_REQUEST;	/* no Upgrade */
	if (lws_return_http_status(wsi, status, NULL) != 0)
		return (-1);
	return (lws_http_transaction_completed(wsi) ? -1 : 0);
}

/* The headers are still there: keep the bearer token and since. */
static void
stream_filter(struct lws *wsi, struct stream_pss *pss)
{
	char	 buf[STREAM_MAX_TOKEN + 16], *t;
	int	 len;

	stream_since_arg(wsi, &pss->has_since, &pss->since);
	len = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
	if (len <= 0)
		return;
	pss->header_auth = 1;
	if (len >= (int)sizeof buf || lws_hdr_copy(wsi, buf, sizeof buf,
	    WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
		return;		/* too long for a token: refused later */
	if (strncasecmp(buf, "Bearer ", 7) == 0) {
		for (t = buf + 7; *t == ' '; t++)
			;
		if (strlen(t) < sizeof pss->token)
			strcpy(pss->token, t);
	}
	explicit_bzero(buf, sizeof buf);
}

static void
stream_established(struct lws *wsi, struct stream_pss *pss)
{
	struct stream_conn	*c;

	c = xcalloc(1, sizeof *c);
	c->wsi = wsi;
	c->refs = 1;
	c->state = STREAM_AUTH;
	c->has_since = pss->has_since;
	c->since = pss->since;
	c->last_rx = lws_now_usecs();
	TAILQ_INSERT_TAIL(&sh->conns, c, entry);
	sh->nconns++;
	metrics_ws_connections(1);
	pss->conn = c;

	if (sh->closing) {
		stream_conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY,
		    "server shutting down");
		return;
	}
	if (pss->header_auth) {
		c->header_auth = 1;
		stream_auth_submit(c, pss->token);
		explicit_bzero(pss->token, sizeof pss->token);
	} else
		lws_set_timer_usecs(wsi, (lws_usec_t)sh->cfg->ws_auth_timeout_s *
		    LWS_USEC_PER_SEC);
}

/*
 * Parse a whole client message (API.md "Stream messages") into m, with no
 * connection and no side effect, so fuzz/fuzz_stream_msg.c reaches it
 * alone. m->json owns m->token; stream_client_msg_clear() frees it.
 * 0, or -1 if the text is not JSON (m->type STREAM_MSG_MALFORMED).
 */
int
stream_parse_client_message(const char *buf, size_t len,
    struct stream_client_msg *m)
{
	const char	*type;
	json_t		*since;

	memset(m, 0, sizeof *m);
	m->since = -1;
	if ((m->json = json_loadb(buf, len, 0, NULL)) == NULL) {
		m->type = STREAM_MSG_MALFORMED;
		return (-1);
	}
	type = json_string_value(json_object_get(m->json, "type"));
	if (type != NULL && strcmp(type, "auth") == 0) {
		m->type = STREAM_MSG_AUTH;
		m->token = json_string_value(json_object_get(m->json, "token"));
	} else if (type != NULL && strcmp(type, "resume") == 0) {
		m->type = STREAM_MSG_RESUME;
		since = json_object_get(m->json, "since");
		if (json_is_integer(since) && json_integer_value(since) >= 0)
			m->since = json_integer_value(since);
	} else
		m->type = STREAM_MSG_UNKNOWN;
	return (0);
}

void
stream_client_msg_clear(struct stream_client_msg *m)
{
	json_decref(m->json);
	memset(m, 0, sizeof *m);
}

/* A whole client message: auth, resume. */
static void
stream_message(struct stream_conn *c)
{
	struct stream_client_msg m;

	stream_parse_client_message(c->rx, c->rx_len, &m);
	explicit_bzero(c->rx, c->rx_len);
	c->rx_len = 0;
	switch (m.type) {
	case STREAM_MSG_AUTH:
		if (c->state != STREAM_AUTH || c->auth_pending ||
		    c->header_auth)
			stream_conn_error(c, 400, "already authenticated");
		else if (m.token == NULL)
			stream_conn_fail(c, 401, STREAM_CLOSE_AUTH,
			    "auth needs a token");
		else
			stream_auth_submit(c, m.token);
		break;
	case STREAM_MSG_RESUME:
		if (m.since < 0)
			stream_conn_error(c, 400,
			    "resume needs since, a non-negative event id");
		else if (c->state == STREAM_AUTH) {
			c->has_since = 1;
			c->since = m.since;
		} else
			stream_replay_start(c, m.since);
		break;
	default:
		if (c->state == STREAM_AUTH)
			stream_conn_fail(c, 401, STREAM_CLOSE_AUTH,
			    "authenticate first");
		else
			stream_conn_error(c, 400,
			    m.type == STREAM_MSG_MALFORMED ? "malformed JSON" :
			    "unknown message type");
		break;
	}
	stream_client_msg_clear(&m);
}

static void
stream_receive(struct lws *wsi, struct stream_conn *c, const void *in,
    size_t len)
{
	if (c->close_code != 0 || c->close_after != 0)
		return;
	if (lws_frame_is_binary(wsi)) {
		stream_conn_close(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
		    "text messages only");
		return;
	}
	if (len > STREAM_MAX_RX - c->rx_len) {
		stream_conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		    "message too large");
		return;
	}
	if (c->rx == NULL)
		c->rx = xmalloc(STREAM_MAX_RX);
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (lws_is_final_fragment(wsi))
		stream_message(c);
}

/*
 * Send the message at the head of the queue and those after it that fit
 * with it in STREAM_BATCH_BYTES, as their ready-made frames (one, or
 * several side by side in the shard's buffer) in one raw write
 * (LWS_WRITE_HTTP is sent as is on a WebSocket connection): a backlog
 * costs one send() per batch rather than one per message. lws keeps what
 * the kernel did not take and sends it before calling us again. 0, or -1
 * to close.
 */
static int
stream_write_batch(struct lws *wsi, struct stream_conn *c)
{
	struct stream_event	*ev, *done[STREAM_BATCH_BYTES / 64];
	unsigned char		*p;
	size_t			 i, n, len, total;
	int			 w;

	n = 0;
	total = 0;
	while (n < c->q_len && n < sizeof done / sizeof done[0]) {
		ev = c->q[(c->q_first + n) % c->q_cap];
		len = ev->hlen + ev->len;
		if (n > 0 && total + len > STREAM_BATCH_BYTES)
			break;
		total += len;
		n++;
	}
	if (n == 1) {
		ev = c->q[c->q_first];
		w = lws_write(wsi, ev->buf + LWS_PRE - ev->hlen, total,
		    LWS_WRITE_HTTP);
	} else {
		p = sh->batch + LWS_PRE;
		for (i = 0; i < n; i++) {
			ev = c->q[(c->q_first + i) % c->q_cap];
			memcpy(p, ev->buf + LWS_PRE - ev->hlen,
			    ev->hlen + ev->len);
			p += ev->hlen + ev->len;
		}
		w = lws_write(wsi, sh->batch + LWS_PRE, total, LWS_WRITE_HTTP);
	}
	for (i = 0; i < n; i++) {
		done[i] = c->q[c->q_first];
		c->q_first = (c->q_first + 1) % c->q_cap;
		c->q_len--;
		c->q_bytes -= done[i]->len;
	}
	for (i = 0; i < n; i++) {
		ev = done[i];
		if (w == (int)total && ev->created_us != 0 &&
		    c->state == STREAM_LIVE)	/* live pushes, not replays */
			metrics_latency_since(METRICS_WS, ev->created_us);
		stream_event_unref(ev);
	}
	return (w < (int)total ? -1 : 0);
}

/*
 * Several batches while the socket takes them (a burst costs one loop turn
 * per STREAM_WRITES_PER_TURN, not per message); a write the kernel took
 * only in part leaves the pipe choked. 0, or -1 to close.
 */
static int
stream_write_queue(struct lws *wsi, struct stream_conn *c)
{
	int	k;

	for (k = 0; k < STREAM_WRITES_PER_TURN && c->q_len > 0; k++) {
		if (k > 0 && lws_send_pipe_choked(wsi))
			break;
		if (stream_write_batch(wsi, c) != 0)
			return (-1);
	}
	return (0);
}

/*
 * Write the live pushes a drain queued, there and then. An advisory for
 * thousands of connections would otherwise cost, for each, write interest
 * set and cleared (two epoll_ctl()), a loop turn and a writeable callback;
 * a connection lws holds nothing back for takes its batch now, as it would
 * have in that callback. The rest (a ping due, a close under way, bytes
 * lws still holds, what the socket did not take) waits for writeable as
 * before, so the queue limit still sees a slow reader.
 */
static void
stream_flush(void)
{
	struct stream_conn	*c;

	while ((c = TAILQ_FIRST(&sh->flush)) != NULL) {
		TAILQ_REMOVE(&sh->flush, c, fentry);
		c->flush_pending = 0;
		if (c->wsi == NULL || c->q_len == 0)
			continue;
		if (c->state == STREAM_LIVE && c->close_code == 0 &&
		    c->close_after == 0 && !c->ping_due && !c->peer_closed &&
		    !lws_partial_buffered(c->wsi) &&
		    stream_write_queue(c->wsi, c) != 0) {
			/* Not in its callback: lws closes it on its next turn. */
			stream_conn_drop_queue(c);
			c->close_code = LWS_CLOSE_STATUS_ABNORMAL_CLOSE;
			c->close_reason = "write failed";
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK,
			    LWS_TO_KILL_ASYNC);
			continue;
		}
		if (c->q_len > 0)
			lws_callback_on_writable(c->wsi);
	}
}

static int
stream_writeable(struct lws *wsi, struct stream_conn *c)
{
	unsigned char		 ping[LWS_PRE + sizeof STREAM_PING_PAYLOAD];
	size_t			 len;
	int			 n;

	if (c->close_code == 0 && c->close_after != 0 && c->q_len == 0)
		c->close_code = c->close_after;
	if (c->close_code != 0) {
		lws_close_reason(wsi, (enum lws_close_status)c->close_code,
		    (unsigned char *)c->close_reason, strlen(c->close_reason));
		return (-1);
	}
	/*
	 * Each write is of whole frames, and lws sends the rest of a partly
	 * sent one before calling us again: a ping written here falls
	 * between messages. The queue goes on next time.
	 */
	if (c->ping_due) {
		c->ping_due = 0;
		len = sizeof STREAM_PING_PAYLOAD - 1;
		memcpy(ping + LWS_PRE, STREAM_PING_PAYLOAD, len);
		n = lws_write(wsi, ping + LWS_PRE, len, LWS_WRITE_PING);
		if (n < (int)len)
			return (-1);
		if (c->q_len > 0 || c->close_after != 0)
			lws_callback_on_writable(wsi);
		return (0);
	}
	if (stream_write_queue(wsi, c) != 0)
		return (-1);
	if (c->state == STREAM_REPLAY)
		stream_replay_step(c);
	if (c->q_len > 0 || c->close_after != 0)
		lws_callback_on_writable(wsi);
	return (0);
}

static int
stream_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct stream_pss	*pss = user;
	struct stream_conn	*c;

	/* Not a connection's: user is the vhost's SSL_CTX. */
	if (reason == LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS)
		return (tls_enabled() && tls_setup_ssl_ctx(user) != 0);
	c = pss != NULL ? pss->conn : NULL;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return (stream_http(wsi, in));
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return (stream_confirm_upgrade(wsi));
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		stream_filter(wsi, pss);
		return (0);
	case LWS_CALLBACK_ESTABLISHED:
		stream_established(wsi, pss);
		return (0);
	case LWS_CALLBACK_RECEIVE:
		if (c != NULL) {
			stream_conn_heard(c);
			stream_receive(wsi, c, in, len);
		}
		return (0);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (c != NULL)
			c->peer_closed = 1;
		return (0);
	case LWS_CALLBACK_RECEIVE_PONG:
		if (c != NULL)
			stream_conn_heard(c);
		return (0);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return (c != NULL ? stream_writeable(wsi, c) : 0);
	case LWS_CALLBACK_TIMER:
		/* The auth deadline; a token being looked up may finish. */
		if (c != NULL && c->state == STREAM_AUTH && !c->auth_pending)
			stream_conn_fail(c, 401, STREAM_CLOSE_AUTH,
			    "no authentication within the deadline");
		return (0);
	case LWS_CALLBACK_CLOSED:
		if (c != NULL) {
			pss->conn = NULL;
			stream_conn_closed(c);
		}
		return (0);
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		stream_adopt();
		stream_drain();
		if (atomic_load(&sh->stopping) && !sh->closing)
			stream_begin_close();
		return (0);
	default:
		break;
	}
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
}

/* ---- Start and stop. ---- */

static void
stream_lws_log(int level, const char *line)
{
	const char	*p;

	/* Drop lws's own timestamp; ours is on every line. */
	if (line[0] == '[' && (p = strstr(line, "] ")) != NULL)
		line = p + 2;
	if (level & LLL_ERR)
		log_warn("stream: lws: %s", line);
	else
		log_debug("stream: lws: %s", line);
}

/* Adopt the sockets the acceptor handed to this shard. */
static void
stream_adopt(void)
{
	int	*fds;
	size_t	 i, n;

	pthread_mutex_lock(&sh->ctx_lock);
	fds = sh->inbox;
	n = sh->inbox_len;
	sh->inbox = NULL;
	sh->inbox_len = sh->inbox_cap = 0;
	pthread_mutex_unlock(&sh->ctx_lock);
	for (i = 0; i < n; i++) {
		if (sh->closing ||
		    lws_adopt_socket_vhost(sh->vhost, fds[i]) == NULL) {
			/* lws closes what it failed to adopt, not the rest. */
			if (sh->closing)
				close(fds[i]);
			else
				log_warn("stream: a connection could not be "
				    "taken in");
		}
	}
	free(fds);
}

/* Give FD to the next shard in turn; 0, or -1 if it is stopping. */
static int
stream_hand_over(int fd)
{
	struct stream_shard	*s;

	s = &stream.shards[stream.next];
	stream.next = (stream.next + 1) % stream.nshards;
	pthread_mutex_lock(&s->ctx_lock);
	if (s->ctx == NULL) {
		pthread_mutex_unlock(&s->ctx_lock);
		return (-1);
	}
	if (s->inbox_len == s->inbox_cap) {
		s->inbox_cap = s->inbox_cap == 0 ? 16 : s->inbox_cap * 2;
		s->inbox = xrealloc(s->inbox, s->inbox_cap * sizeof *s->inbox);
	}
	s->inbox[s->inbox_len++] = fd;
	lws_cancel_service(s->ctx);
	pthread_mutex_unlock(&s->ctx_lock);
	return (0);
}

/*
 * The acceptor thread: accept on listen.ws and hand each connection to a
 * shard in turn, until stop_fd is written. Out of descriptors, it waits a
 * little rather than spin on a pending connection it cannot take.
 */
static void *
stream_accept_main(void *arg)
{
	struct pollfd	 pfd[2];
	int		 fd, wait_ms = -1, warned = 0;

	pfd[0].fd = stream.stop_fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = stream.listen_fd;
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, wait_ms == -1 ? 2 : 1, wait_ms) == -1 &&
		    errno != EINTR) {
			log_error("stream: poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents != 0)
			break;
		wait_ms = -1;
		while ((fd = accept4(stream.listen_fd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
			warned = 0;
			if (stream_hand_over(fd) != 0)
				close(fd);
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			if (!warned)
				log_warn("stream: accept: %s; retrying",
				    strerror(errno));
			warned = 1;
			wait_ms = 100;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR && errno != ECONNABORTED && errno != EPROTO)
			log_warn("stream: accept: %s", strerror(errno));
	}
	return (NULL);
}

/* Free what the shard holds once its context is gone. */
static void
stream_free_all(void)
{
	size_t	i;

	stream_reap();
	for (i = 0; i < sh->ring_len; i++)
		stream_event_unref(stream_ring_at(i));
	free(sh->ring);
	sh->ring = NULL;
	sh->ring_len = sh->ring_first = sh->ring_bytes = 0;
	if (sh->index == 0)
		metrics_stream_ring(0, 0);
	free(sh->batch);
	sh->batch = NULL;
	for (i = 0; i < sh->inbox_len; i++)
		close(sh->inbox[i]);
	free(sh->inbox);
	sh->inbox = NULL;
	sh->inbox_len = sh->inbox_cap = 0;
}

static void *
stream_main(void *arg)
{
	sh = arg;
	while (!sh->done)
		ev_run(sh->loop, 0);
	return (NULL);
}

/* Destroy the shard's context (CLOSED for whoever is left), then free. */
static void
stream_shard_destroy(struct stream_shard *s)
{
	struct lws_context	*ctx;

	sh = s;
	pthread_mutex_lock(&s->ctx_lock);
	ctx = s->ctx;
	s->ctx = NULL;		/* no more wake-ups, no more sockets */
	pthread_mutex_unlock(&s->ctx_lock);
	s->destroying = 1;
	if (ctx != NULL)
		lws_context_destroy(ctx);
	if (s->loop != NULL)
		ev_loop_destroy(s->loop);
	s->loop = NULL;
	stream_drain();		/* releases jobs' references */
	stream_free_all();
	sh = NULL;
}

/* Every shard destroyed, the listener closed. */
static void
stream_free_shards(void)
{
	size_t	i;

	for (i = 0; i < stream.nshards; i++)
		stream_shard_destroy(&stream.shards[i]);
	free(stream.shards);
	stream.shards = NULL;
	stream.nshards = 0;
	if (stream.listen_fd != -1)
		close(stream.listen_fd);
	stream.listen_fd = -1;
	if (stream.stop_fd != -1)
		close(stream.stop_fd);
	stream.stop_fd = -1;
}

/* The shard's state and its lws context, a server with no listener of
 * its own (the acceptor's sockets are adopted); 0 or -1 (logged). */
static int
stream_shard_init(struct stream_shard *s, const struct config *cfg)
{
	struct lws_context_creation_info	 info;
	int					 ping;

	sh = s;
	s->cfg = cfg;
	s->q_limit = cfg->ws_send_queue_bytes;
	s->ring_cap = cfg->stream_ring_events;
	s->ring = xcalloc(s->ring_cap, sizeof *s->ring);
	s->batch = xmalloc(LWS_PRE + STREAM_BATCH_BYTES);
	TAILQ_INIT(&s->conns);
	TAILQ_INIT(&s->reap);
	TAILQ_INIT(&s->flush);
	TAILQ_INIT(&s->users);

	/* A ping after ping_interval_s of silence; the hang-up if no answer
	 * follows within as long again (STREAM_PING_GRACE_MIN_S at least). */
	ping = cfg->ws_ping_interval_s;
	s->ping_us = (lws_usec_t)ping * LWS_USEC_PER_SEC;
	s->grace_us = (lws_usec_t)(ping > STREAM_PING_GRACE_MIN_S ? ping :
	    STREAM_PING_GRACE_MIN_S) * LWS_USEC_PER_SEC;

	memset(&info, 0, sizeof info);
	info.vhost_name = "stream";
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = stream_protocols;
	info.retry_and_idle_policy = &stream_no_validity;
	/* HTTP/1.1 only: a stream carried over HTTP/2 (RFC 8441) would
	 * frame differently from what stream_write_batch() writes. */
	info.alpn = "http/1.1";
	info.gid = -1;
	info.uid = -1;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
	/*
	 * TLS with no certificate given to lws: tls.c sets the pair per
	 * handshake on the vhost's SSL_CTX (stream_cb), so SIGHUP can change
	 * it. Without ALLOW_NON_SSL_ON_SSL_PORT, plain HTTP is refused.
	 */
	if (tls_enabled())
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
		    LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX;
	/*
	 * And no client SSL_CTX, which lws 4.1 would make for each context
	 * (with the system's CA store) and never free once a second context
	 * has taken a new SSL_CTX ex_data index (a global of lws's): the
	 * stream makes no client connections. With no listen_accept_role,
	 * this option changes nothing else here.
	 */
	info.options |= LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
	/*
	 * The loop is libev's, on epoll, and ours to run (stream_main):
	 * lws's own loop calls poll() over every socket of the thread at
	 * each wake-up, a cost that grows with the connections. No signal
	 * watcher on a loop lws is given; the daemon's signals stay its own.
	 */
	if ((s->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV)) == NULL &&
	    (s->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV)) == NULL) {
		log_error("listen.ws: stream thread %zu: no event loop",
		    s->index);
		return (-1);
	}
	s->foreign[0] = s->loop;
	info.foreign_loops = s->foreign;
	info.options |= LWS_SERVER_OPTION_LIBEV;
	if ((s->ctx = lws_create_context(&info)) == NULL ||
	    (s->vhost = lws_get_vhost_by_name(s->ctx, "stream")) == NULL) {
		log_error("listen.ws: cannot start stream thread %zu (is "
		    "libwebsockets-evlib-ev installed?)", s->index);
		return (-1);
	}
	lws_sul_schedule(s->ctx, 0, &s->sul_tick, stream_tick_cb,
	    STREAM_TICK_US);
	lws_sul_schedule(s->ctx, 0, &s->sul_ping, stream_ping_cb,
	    STREAM_PING_TICK_US);
	sh = NULL;
	return (0);
}

/* How many shards: stream.threads, or one per CPU when it is 0. */
static size_t
stream_shard_count(const struct config *cfg)
{
	long	n;

	if (cfg->stream_threads > 0)
		return ((size_t)cfg->stream_threads);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return (1);
	return (n > STREAM_THREADS_AUTO_MAX ? STREAM_THREADS_AUTO_MAX :
	    (size_t)n);
}

/*
 * Bind cfg->listen_ws and make the shards (before privileges are
 * dropped); 0 or -1 (logged).
 */
int
stream_listen(const struct config *cfg)
{
	size_t	i;

	if (stream.shards != NULL)
		return (0);
	stream.listen_fd = http_bind("listen.ws", cfg->listen_ws, SOMAXCONN);
	if (stream.listen_fd == -1)
		return (-1);
	if ((stream.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		log_error("stream: eventfd: %s", strerror(errno));
		stream_free_shards();
		return (-1);
	}
	/* One send() may take a whole queue's worth: no copy for big
	 * events. */
	stream_protocols[0].tx_packet_size = cfg->ws_send_queue_bytes;
	lws_set_log_level(LLL_ERR | LLL_WARN, stream_lws_log);
	metrics_stream_ring(0, 0);
	stream.nshards = stream_shard_count(cfg);
	stream.shards = xcalloc(stream.nshards, sizeof *stream.shards);
	stream.next = 0;
	for (i = 0; i < stream.nshards; i++) {
		stream.shards[i].index = i;
		pthread_mutex_init(&stream.shards[i].ctx_lock, NULL);
	}
	for (i = 0; i < stream.nshards; i++) {
		if (stream_shard_init(&stream.shards[i], cfg) != 0) {
			stream_free_shards();
			return (-1);
		}
	}
	return (0);
}

static void
stream_wake(size_t i)
{
	struct stream_shard	*s = &stream.shards[i];

	pthread_mutex_lock(&s->ctx_lock);
	if (s->ctx != NULL)
		lws_cancel_service(s->ctx);
	pthread_mutex_unlock(&s->ctx_lock);
}

/* Stop the shards that were started, and streamdb, then free all. */
static void
stream_shutdown(void)
{
	struct stream_shard	*s;
	size_t			 i;

	for (i = 0; i < stream.nshards; i++) {
		s = &stream.shards[i];
		atomic_store(&s->stopping, 1);
		stream_wake(i);
	}
	for (i = 0; i < stream.nshards; i++) {
		s = &stream.shards[i];
		if (s->started)
			pthread_join(s->thread, NULL);
		s->started = 0;
	}
	streamdb_stop();
	stream_free_shards();
	streamdb_free();
}

/* Listen on cfg->listen_ws and start the threads; 0 or -1 (logged). */
int
stream_start(const struct config *cfg)
{
	struct stream_shard	*s;
	size_t			 i;
	int			 error;

	if (stream_listen(cfg) != 0)
		return (-1);
	if (streamdb_start(cfg->database, stream.nshards, stream_wake) != 0) {
		stream_free_shards();
		return (-1);
	}
	for (i = 0; i < stream.nshards; i++) {
		s = &stream.shards[i];
		if ((error = pthread_create(&s->thread, NULL, stream_main,
		    s)) != 0) {
			log_error("stream: pthread_create: %s",
			    strerror(error));
			stream_shutdown();
			return (-1);
		}
		s->started = 1;
		pthread_setname_np(s->thread, "stream");
	}
	if ((error = pthread_create(&stream.acceptor, NULL, stream_accept_main,
	    NULL)) != 0) {
		log_error("stream: pthread_create: %s", strerror(error));
		stream_shutdown();
		return (-1);
	}
	pthread_setname_np(stream.acceptor, "stream-accept");
	stream.running = 1;
	log_info("stream listening on %s%s, %zu thread%s", cfg->listen_ws,
	    tls_enabled() ? " (TLS)" : "", stream.nshards,
	    stream.nshards == 1 ? "" : "s");
	return (0);
}

/* Stop accepting, close every connection with 1001, stop every thread,
 * free everything. */
void
stream_stop(void)
{
	uint64_t	one = 1;
	ssize_t		n;

	if (!stream.running) {
		if (stream.shards != NULL)	/* bound, never started */
			stream_free_shards();
		return;
	}
	n = write(stream.stop_fd, &one, sizeof one);
	(void)n;
	pthread_join(stream.acceptor, NULL);
	stream_shutdown();
	stream.running = 0;
	log_info("stream stopped");
}
