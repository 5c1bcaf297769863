/*
 * pubbench.c: publisher for the stream fan-out benchmark.
 *
 * Publishes COUNT messages, one every INTERVAL microseconds (as a schedule
 * from the start: if a publish falls behind, the next goes out as soon as
 * a connection is free), each carrying "BENCHT<ns>" = CLOCK_REALTIME just
 * before its request is handed to the network, so that wsbench can compute
 * the latency from the publish request to each receipt.
 *
 *   tocsin  POST URL (…/v1/advisories) with a bearer token, an advisory
 *           {title, summary, tlp: CLEAR, severity: high}; up to CONC
 *           requests in flight (libcurl multi, keep-alive).
 *   nchan   POST URL (…/pub/CHANNEL), body: a JSON document of SIZE bytes
 *           shaped like tocsind's stream message.
 *   mqtt    MQTT 3.1.1 over plain TCP to HOST:PORT, PUBLISH QoS 0 on TOPIC,
 *           the same SIZE-byte document.
 *
 * pubbench --proto tocsin|nchan|mqtt (--url URL | --port P [--host H])
 *          [--token T] [--topic T] --count K --interval-us I [--conc C]
 *          [--size BYTES]
 * Prints "PUBLISHED ok=N failed=N first=NS last=NS" at the end.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

static const char *proto = "tocsin", *url, *host = "127.0.0.1", *token;
static const char *topic = "bench";
static int port, count = 10, conc = 8, size = 1000;
static long interval_us = 1000000;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
sleep_until(int64_t t)
{
	int64_t d = t - now_ns();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = d / 1000000000;
	ts.tv_nsec = d % 1000000000;
	nanosleep(&ts, NULL);
}

/* The message body for sequence number SEQ, stamped now. */
static char *
body(int seq, int64_t *stamp)
{
	static const char summary[] = "Benchmark advisory: an out-of-bounds "
	    "write in the SSL-VPN lets an unauthenticated attacker run code on "
	    "the appliance. Exploitation in the wild is reported.";
	char *b = malloc((size_t)size + 1024);
	int n;

	*stamp = now_ns();
	if (strcmp(proto, "tocsin") == 0) {
		sprintf(b, "{\"title\":\"Bench advisory %d BENCHT%" PRId64 "\","
		    "\"summary\":\"%s\",\"tlp\":\"CLEAR\",\"severity\":\"high\"}",
		    seq, *stamp, summary);
		return b;
	}
	n = sprintf(b, "{\"type\":\"advisory.published\",\"event_id\":%d,"
	    "\"tlp\":\"CLEAR\",\"data\":{\"id\":\"CCB-2026-%04d\",\"revision\":1,"
	    "\"title\":\"Bench advisory %d BENCHT%" PRId64 "\",\"summary\":\"%s\","
	    "\"tlp\":\"CLEAR\",\"severity\":\"high\",\"pad\":\"",
	    seq + 1, seq + 1, seq, *stamp, summary);
	while (n < size - 3)
		b[n++] = 'x';
	strcpy(b + n, "\"}}");
	return b;
}

struct req {
	CURL *h;
	char *body;
	struct curl_slist *hdrs;
};

static size_t
discard(char *p, size_t s, size_t n, void *u)
{
	return s * n;
}

static int
run_http(void)
{
	CURLM *m = curl_multi_init();
	struct req *reqs = calloc((size_t)conc, sizeof(*reqs));
	int *busy = calloc((size_t)conc, sizeof(int));
	int sent = 0, ok = 0, failed = 0, running = 0, i;
	int64_t t0 = now_ns() + 10000000, first = 0, last = 0, stamp;
	char auth[600];

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
	    token ? token : "");
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conc);
	for (i = 0; i < conc; i++) {
		reqs[i].h = curl_easy_init();
		reqs[i].hdrs = curl_slist_append(NULL,
		    "Content-Type: application/json");
		reqs[i].hdrs = curl_slist_append(reqs[i].hdrs, "Expect:");
		if (token != NULL)
			reqs[i].hdrs = curl_slist_append(reqs[i].hdrs, auth);
	}
	while (ok + failed < count) {
		CURLMsg *msg;
		int left;

		/* Start what is due, on a free handle. */
		while (sent < count && now_ns() >= t0 + (int64_t)sent *
		    interval_us * 1000) {
			for (i = 0; i < conc && busy[i]; i++)
				;
			if (i == conc)
				break;
			free(reqs[i].body);
			reqs[i].body = body(sent, &stamp);
			if (first == 0)
				first = stamp;
			last = stamp;
			curl_easy_setopt(reqs[i].h, CURLOPT_URL, url);
			curl_easy_setopt(reqs[i].h, CURLOPT_HTTPHEADER,
			    reqs[i].hdrs);
			curl_easy_setopt(reqs[i].h, CURLOPT_POSTFIELDS,
			    reqs[i].body);
			curl_easy_setopt(reqs[i].h, CURLOPT_WRITEFUNCTION,
			    discard);
			curl_easy_setopt(reqs[i].h, CURLOPT_TCP_NODELAY, 1L);
			curl_easy_setopt(reqs[i].h, CURLOPT_TIMEOUT, 30L);
			curl_easy_setopt(reqs[i].h, CURLOPT_PRIVATE, &busy[i]);
			busy[i] = 1;
			curl_multi_add_handle(m, reqs[i].h);
			sent++;
			curl_multi_perform(m, &running);
		}
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			int *b;
			long code = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&b);
			curl_easy_getinfo(msg->easy_handle,
			    CURLINFO_RESPONSE_CODE, &code);
			if (msg->data.result == CURLE_OK && code >= 200 &&
			    code < 300)
				ok++;
			else {
				if (failed++ < 5)
					fprintf(stderr, "pubbench: publish "
					    "failed: %s, HTTP %ld\n",
					    curl_easy_strerror(msg->data.result),
					    code);
			}
			curl_multi_remove_handle(m, msg->easy_handle);
			*b = 0;
		}
		if (ok + failed < count) {
			/* Sleep (never spin: the server needs the CPU) until
			 * the next publish is due or a transfer progresses. */
			int64_t due = t0 + (int64_t)sent * interval_us * 1000;
			int64_t wait_us = (due - now_ns()) / 1000;
			int free_slot = 0;

			for (i = 0; i < conc; i++)
				free_slot |= !busy[i];
			if (sent >= count || !free_slot || wait_us > 100000)
				curl_multi_poll(m, NULL, 0, 100, NULL);
			else if (wait_us > 0 && running > 0)
				curl_multi_poll(m, NULL, 0,
				    (int)((wait_us + 999) / 1000), NULL);
			else if (wait_us > 0)
				sleep_until(due);
		}
	}
	printf("PUBLISHED ok=%d failed=%d first=%" PRId64 " last=%" PRId64 "\n",
	    ok, failed, first, last);
	return failed > 0;
}

static int
writeall(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
run_mqtt(void)
{
	struct sockaddr_in sa;
	unsigned char pkt[16 + 65536], ack[4];
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, i, ok = 0;
	static const unsigned char connect_pkt[] = {
		0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0x01, 0x2c, 0, 0 };
	int64_t t0, first = 0, last = 0, stamp;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("pubbench: connect");
		return 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (writeall(fd, connect_pkt, sizeof(connect_pkt)) < 0 ||
	    read(fd, ack, 4) != 4 || ack[0] != 0x20 || ack[3] != 0) {
		fprintf(stderr, "pubbench: MQTT CONNECT refused\n");
		return 1;
	}
	t0 = now_ns() + 10000000;
	for (i = 0; i < count; i++) {
		size_t tl = strlen(topic), n = 0, rl, pl;
		char *b;

		sleep_until(t0 + (int64_t)i * interval_us * 1000);
		b = body(i, &stamp);
		if (first == 0)
			first = stamp;
		last = stamp;
		pl = strlen(b);
		rl = 2 + tl + pl;
		pkt[n++] = 0x30;
		do {
			pkt[n] = rl & 0x7f;
			rl >>= 7;
			if (rl)
				pkt[n] |= 0x80;
			n++;
		} while (rl);
		pkt[n++] = (unsigned char)(tl >> 8);
		pkt[n++] = (unsigned char)tl;
		memcpy(pkt + n, topic, tl);
		n += tl;
		memcpy(pkt + n, b, pl);
		n += pl;
		free(b);
		if (writeall(fd, pkt, n) < 0) {
			perror("pubbench: write");
			break;
		}
		ok++;
	}
	pkt[0] = 0xe0;		/* DISCONNECT */
	pkt[1] = 0;
	writeall(fd, pkt, 2);
	close(fd);
	printf("PUBLISHED ok=%d failed=%d first=%" PRId64 " last=%" PRId64 "\n",
	    ok, count - ok, first, last);
	return ok != count;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "proto", required_argument, NULL, 'P' },
		{ "url", required_argument, NULL, 'u' },
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ "token", required_argument, NULL, 'T' },
		{ "topic", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'c' },
		{ "interval-us", required_argument, NULL, 'i' },
		{ "conc", required_argument, NULL, 'C' },
		{ "size", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'P': proto = optarg; break;
		case 'u': url = optarg; break;
		case 'h': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'T': token = optarg; break;
		case 't': topic = optarg; break;
		case 'c': count = atoi(optarg); break;
		case 'i': interval_us = atol(optarg); break;
		case 'C': conc = atoi(optarg); break;
		case 's': size = atoi(optarg); break;
		default:
			fprintf(stderr, "pubbench: bad option\n");
			return 1;
		}
	}
	if (size < 400 || size > 60000 || conc < 1 || count < 1) {
		fprintf(stderr, "pubbench: bad --size, --conc or --count\n");
		return 1;
	}
	if (strcmp(proto, "mqtt") == 0)
		return port > 0 ? run_mqtt() : 1;
	if (url == NULL) {
		fprintf(stderr, "pubbench: --url needed\n");
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return run_http();
}
