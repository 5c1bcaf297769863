/*
 * wsbench.c: WebSocket fan-out subscriber load generator (libwebsockets).
 *
 * Opens N subscriber connections to one of three servers and records, for
 * every message that carries a publish timestamp, the latency from that
 * timestamp to the receipt:
 *
 *   tocsin  ws://HOST:PORT/v1/stream with "Authorization: Bearer TOKEN"
 *           (tokens read from a file, used round-robin); a connection is
 *           ready when the server's {"type":"ready"} message arrives.
 *   mqtt    MQTT 3.1.1 over WebSocket (subprotocol "mqtt"), QoS 0: CONNECT,
 *           SUBSCRIBE TOPIC; ready on SUBACK.  (mosquitto)
 *   nchan   ws://HOST:PORT/PATH, a websocket subscriber; ready when the
 *           handshake completes.  (nginx + nchan)
 *
 * The publisher (pubbench) writes "BENCHT<ns since the epoch, CLOCK_REALTIME>"
 * into every message just before it sends the publish request; both run on
 * the same machine, so the clock is the same.
 *
 * Protocol on stdout, for run.sh: "READY ok=N failed=N" once every
 * connection is ready or has failed; "RESULT key=value ..." at the end.
 * Latencies (microseconds, one per line) go to --out.
 *
 * wsbench --proto tocsin|mqtt|nchan --port P [--host 127.0.0.1] [--path P]
 *         [--tokens FILE] [--topic T] --conns N --expect M [--out FILE]
 *         [--inflight 64] [--timeout 120] [--idle 5] [--linger]
 *
 * --linger: after RESULT, keep the connections open until SIGTERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <libwebsockets.h>

enum proto { P_TOCSIN, P_MQTT, P_NCHAN };

enum cstate { C_IDLE, C_CONNECTING, C_OPEN, C_READY, C_FAILED, C_CLOSED };

struct conn {
	struct lws *wsi;
	enum cstate state;
	int mqtt_step;		/* 0 send CONNECT, 1 wait CONNACK, 2 send SUB, 3 wait SUBACK */
	const char *token;
	unsigned char *buf;	/* current message (tocsin, nchan) or MQTT stream */
	size_t len, cap;
	long received;
};

static enum proto proto = P_TOCSIN;
static const char *host = "127.0.0.1", *path, *topic = "bench", *outpath;
static int port, nconns, inflight_max = 64;
static long expect;
static int timeout_s = 120, idle_s = 5;

static struct lws_context *ctx;
static struct conn *conns;
static char **tokens;
static int ntokens;

static int next_conn, inflight, nready, nfailed, nclosed_after_ready;
static int ready_reported, done;
static volatile sig_atomic_t stop;	/* SIGTERM/SIGINT */
static int linger;			/* keep the connections until stop */
static long total_msgs, other_msgs;
static uint64_t total_bytes;
static int64_t first_recv, last_recv, min_sent = INT64_MAX, max_sent;
static int64_t start_ns, last_msg_ns;
static int32_t *lat;		/* microseconds */
static size_t nlat, lat_cap;
static int close_codes[5000];
static int errors_shown;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
record(const unsigned char *msg, size_t len)
{
	int64_t t = now_ns(), sent = 0;
	const unsigned char *p, *end = msg + len;

	/* Find "BENCHT" followed by digits. */
	for (p = msg; p + 6 < end; p++) {
		p = memchr(p, 'B', (size_t)(end - p));
		if (p == NULL || p + 6 >= end)
			break;
		if (memcmp(p, "BENCHT", 6) == 0) {
			p += 6;
			while (p < end && *p >= '0' && *p <= '9')
				sent = sent * 10 + (*p++ - '0');
			break;
		}
	}
	if (sent == 0) {
		other_msgs++;
		return;
	}
	if (first_recv == 0)
		first_recv = t;
	last_recv = t;
	last_msg_ns = t;
	if (sent < min_sent)
		min_sent = sent;
	if (sent > max_sent)
		max_sent = sent;
	total_msgs++;
	total_bytes += len;
	if (nlat == lat_cap) {
		lat_cap = lat_cap ? lat_cap * 2 : 65536;
		lat = realloc(lat, lat_cap * sizeof(*lat));
		if (lat == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	lat[nlat++] = (int32_t)((t - sent) / 1000);
	if (expect > 0 && total_msgs >= (long)nconns * expect)
		done = 1;
}

static void
append(struct conn *c, const void *in, size_t len)
{
	if (c->len + len > c->cap) {
		c->cap = (c->len + len) * 2;
		c->buf = realloc(c->buf, c->cap);
		if (c->buf == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	memcpy(c->buf + c->len, in, len);
	c->len += len;
}

static void
set_ready(struct conn *c)
{
	if (c->state != C_READY) {
		c->state = C_READY;
		nready++;
	}
}

static int
mqtt_send(struct lws *wsi, const unsigned char *pkt, size_t len)
{
	unsigned char buf[LWS_PRE + 256];

	memcpy(buf + LWS_PRE, pkt, len);
	return lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_BINARY) < (int)len;
}

/* Consume complete MQTT packets from the connection's byte stream. */
static void
mqtt_parse(struct lws *wsi, struct conn *c)
{
	size_t off = 0;

	for (;;) {
		size_t rl = 0, i = 1;
		int shift = 0;
		unsigned type;

		if (c->len - off < 2)
			break;
		do {
			if (off + i >= c->len)
				goto out;
			rl |= (size_t)(c->buf[off + i] & 0x7f) << shift;
			shift += 7;
		} while (c->buf[off + i++] & 0x80);
		if (c->len - off < i + rl)
			break;
		type = c->buf[off] >> 4;
		if (type == 2) {		/* CONNACK */
			c->mqtt_step = 2;
			lws_callback_on_writable(wsi);
		} else if (type == 9) {		/* SUBACK */
			c->mqtt_step = 4;
			set_ready(c);
		} else if (type == 3) {		/* PUBLISH, QoS 0 */
			const unsigned char *v = c->buf + off + i;
			size_t tl = (size_t)v[0] << 8 | v[1];

			if (2 + tl <= rl) {
				c->received++;
				record(v + 2 + tl, rl - 2 - tl);
			}
		}
		off += i + rl;
	}
out:
	if (off > 0) {
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	}
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct conn *c = lws_get_opaque_user_data(wsi);

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (c != NULL && c->token != NULL) {
			unsigned char **p = (unsigned char **)in, *end = *p + len;
			char auth[600];
			int n = snprintf(auth, sizeof(auth), "Bearer %s", c->token);

			if (lws_add_http_header_by_token(wsi,
			    WSI_TOKEN_HTTP_AUTHORIZATION, (unsigned char *)auth,
			    n, p, end))
				return -1;
		}
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (c == NULL)
			break;
		inflight--;
		c->state = C_OPEN;
		if (proto == P_NCHAN)
			set_ready(c);
		else if (proto == P_MQTT)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (c == NULL || proto != P_MQTT)
			break;
		if (c->mqtt_step == 0) {
			/* CONNECT: protocol "MQTT" level 4, clean session,
			 * keep-alive 300 s, client id "" (server assigns). */
			static const unsigned char pkt[] = {
				0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02,
				0x01, 0x2c, 0, 0 };

			c->mqtt_step = 1;
			if (mqtt_send(wsi, pkt, sizeof(pkt)))
				return -1;
		} else if (c->mqtt_step == 2) {
			unsigned char pkt[256];
			size_t tl = strlen(topic), n = 0;

			pkt[n++] = 0x82;
			pkt[n++] = (unsigned char)(2 + 2 + tl + 1);
			pkt[n++] = 0;
			pkt[n++] = 1;		/* packet id */
			pkt[n++] = (unsigned char)(tl >> 8);
			pkt[n++] = (unsigned char)tl;
			memcpy(pkt + n, topic, tl);
			n += tl;
			pkt[n++] = 0;		/* QoS 0 */
			c->mqtt_step = 3;
			if (mqtt_send(wsi, pkt, n))
				return -1;
		}
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (c == NULL)
			break;
		append(c, in, len);
		if (proto == P_MQTT) {
			mqtt_parse(wsi, c);
			break;
		}
		if (!lws_is_final_fragment(wsi) ||
		    lws_remaining_packet_payload(wsi) > 0)
			break;
		if (proto == P_TOCSIN && c->state != C_READY) {
			/* Before "ready": only the ready message counts. */
			if (memmem(c->buf, c->len, "\"ready\"", 7) != NULL)
				set_ready(c);
			else
				record(c->buf, c->len);
		} else {
			c->received++;
			record(c->buf, c->len);
		}
		c->len = 0;
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2) {
			int code = ((unsigned char *)in)[0] << 8 |
			    ((unsigned char *)in)[1];

			if (code >= 0 && code < 5000)
				close_codes[code]++;
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c == NULL)
			break;
		if (errors_shown++ < 5)
			fprintf(stderr, "wsbench: connection error: %.*s\n",
			    in ? (int)len : 0, in ? (char *)in : "");
		if (c->state == C_CONNECTING)
			inflight--;
		if (c->state == C_READY) {
			nready--;
			nclosed_after_ready++;
		}
		c->state = C_FAILED;
		c->wsi = NULL;
		nfailed++;
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c == NULL)
			break;
		if (c->state == C_READY) {
			nready--;
			nclosed_after_ready++;
		} else if (c->state == C_CONNECTING) {
			inflight--;
			nfailed++;
		} else if (c->state == C_OPEN) {
			nfailed++;
		}
		c->state = C_CLOSED;
		c->wsi = NULL;
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "bench", callback, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
connect_more(void)
{
	while (inflight < inflight_max && next_conn < nconns) {
		struct conn *c = &conns[next_conn];
		struct lws_client_connect_info ci;
		char hostport[300];

		memset(&ci, 0, sizeof(ci));
		snprintf(hostport, sizeof(hostport), "%s:%d", host, port);
		ci.context = ctx;
		ci.address = host;
		ci.port = port;
		ci.path = path;
		ci.host = hostport;
		ci.origin = hostport;
		ci.local_protocol_name = "bench";
		ci.protocol = proto == P_MQTT ? "mqtt" : NULL;
		ci.opaque_user_data = c;
		ci.pwsi = &c->wsi;
		if (ntokens > 0)
			c->token = tokens[next_conn % ntokens];
		c->state = C_CONNECTING;
		inflight++;
		next_conn++;
		if (lws_client_connect_via_info(&ci) == NULL &&
		    c->state == C_CONNECTING) {
			c->state = C_FAILED;
			inflight--;
			nfailed++;
		}
	}
}

static lws_sorted_usec_list_t tick_sul;

static void
tick(lws_sorted_usec_list_t *sul)
{
	int64_t t = now_ns();

	connect_more();
	if (!ready_reported && next_conn == nconns && inflight == 0) {
		int pending = 0;

		/* Established but not yet ready (MQTT SUBACK, tocsin
		 * "ready"): wait for them, up to the timeout. */
		for (int k = 0; k < nconns; k++)
			if (conns[k].state == C_OPEN)
				pending++;
		if (pending > 0 && t - start_ns < (int64_t)timeout_s * 1000000000)
			goto later;
		printf("READY ok=%d failed=%d pending=%d\n", nready, nfailed,
		    pending);
		fflush(stdout);
		ready_reported = 1;
	}
later:
	if (t - start_ns > (int64_t)timeout_s * 1000000000)
		done = 1;
	if (last_msg_ns != 0 && t - last_msg_ns > (int64_t)idle_s * 1000000000)
		done = 1;
	if (!done)
		lws_sul_schedule(ctx, 0, &tick_sul, tick, 20 * LWS_US_PER_MS);
}

static void
on_signal(int sig)
{
	done = 1;
	stop = 1;
	if (ctx != NULL)
		lws_cancel_service(ctx);
}

static void
read_tokens(const char *file)
{
	FILE *f = fopen(file, "r");
	char line[1024];

	if (f == NULL) {
		perror(file);
		exit(1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		tokens = realloc(tokens, (size_t)(ntokens + 1) * sizeof(*tokens));
		tokens[ntokens++] = strdup(line);
	}
	fclose(f);
	if (ntokens == 0) {
		fprintf(stderr, "wsbench: no token in %s\n", file);
		exit(1);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: wsbench --proto tocsin|mqtt|nchan --port P "
	    "[--host H] [--path P] [--tokens FILE] [--topic T] --conns N "
	    "--expect M [--out FILE] [--inflight K] [--timeout S] [--idle S] "
	    "[--linger]\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "proto", required_argument, NULL, 'P' },
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'u' },
		{ "tokens", required_argument, NULL, 'T' },
		{ "topic", required_argument, NULL, 't' },
		{ "conns", required_argument, NULL, 'n' },
		{ "expect", required_argument, NULL, 'e' },
		{ "out", required_argument, NULL, 'o' },
		{ "inflight", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 'w' },
		{ "idle", required_argument, NULL, 'I' },
		{ "linger", no_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 }
	};
	struct lws_context_creation_info info;
	struct rlimit rl;
	int ch, i, closes = 0;
	FILE *f;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'P':
			if (strcmp(optarg, "tocsin") == 0)
				proto = P_TOCSIN;
			else if (strcmp(optarg, "mqtt") == 0)
				proto = P_MQTT;
			else if (strcmp(optarg, "nchan") == 0)
				proto = P_NCHAN;
			else
				usage();
			break;
		case 'h': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'u': path = optarg; break;
		case 'T': read_tokens(optarg); break;
		case 't': topic = optarg; break;
		case 'n': nconns = atoi(optarg); break;
		case 'e': expect = atol(optarg); break;
		case 'o': outpath = optarg; break;
		case 'i': inflight_max = atoi(optarg); break;
		case 'w': timeout_s = atoi(optarg); break;
		case 'I': idle_s = atoi(optarg); break;
		case 'L': linger = 1; break;
		default: usage();
		}
	}
	if (port <= 0 || nconns <= 0 || (proto == P_TOCSIN && ntokens == 0))
		usage();
	if (path == NULL)
		path = proto == P_TOCSIN ? "/v1/stream" : "/";
	if (strlen(topic) > 200)
		usage();

	/* One descriptor per connection, plus lws's own. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)nconns + 64) {
		fprintf(stderr, "wsbench: open-files limit %lu too low for %d "
		    "connections\n", (unsigned long)rl.rlim_cur, nconns);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	conns = calloc((size_t)nconns, sizeof(*conns));
	if (conns == NULL)
		return 1;
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.timeout_secs = 30;
	info.connect_timeout_secs = 30;
	ctx = lws_create_context(&info);
	if (ctx == NULL) {
		fprintf(stderr, "wsbench: lws_create_context failed\n");
		return 1;
	}
	start_ns = now_ns();
	lws_sul_schedule(ctx, 0, &tick_sul, tick, 1);
	while (!done)
		if (lws_service(ctx, 0) < 0)
			break;

	for (i = 0; i < 5000; i++)
		closes += close_codes[i];
	printf("RESULT ready=%d failed=%d closed=%d msgs=%ld other=%ld "
	    "bytes=%" PRIu64 " first_sent=%" PRId64 " last_sent=%" PRId64
	    " first_recv=%" PRId64 " last_recv=%" PRId64 " close1008=%d "
	    "closes=%d\n", nready, nfailed, nclosed_after_ready, total_msgs,
	    other_msgs, total_bytes, min_sent == INT64_MAX ? 0 : min_sent,
	    max_sent, first_recv, last_recv, close_codes[1008], closes);
	fflush(stdout);
	if (outpath != NULL) {
		f = fopen(outpath, "w");
		if (f == NULL) {
			perror(outpath);
			return 1;
		}
		for (size_t k = 0; k < nlat; k++)
			fprintf(f, "%d\n", lat[k]);
		fclose(f);
	}
	/*
	 * With --linger, the connections stay open (answering pings) until
	 * SIGTERM, so that one process closing its connections does not load
	 * the server while the other is still receiving.
	 */
	if (linger) {
		while (!stop)
			if (lws_service(ctx, 0) < 0)
				break;
	}
	lws_context_destroy(ctx);
	return 0;
}
