/*
 * ratelimit.c: token buckets per API token and per client address, asked
 * by http.c before routing, so a flood costs neither a database connection
 * nor a token lookup. limits.rate_per_* requests per second refill a
 * bucket of limits.burst_per_* (0 rate: no limit); an empty bucket answers
 * 429 with Retry-After, the seconds until the next request would pass.
 *
 * Buckets live in two fixed tables (tokens, addresses) of RATELIMIT_SETS
 * sets of RATELIMIT_WAYS slots, found by a keyed hash of the token's
 * SHA-256 or of the address (an IPv6 client by its /64), each set under
 * one of RATELIMIT_STRIPES locks. A full table evicts the fullest bucket
 * of the set: a bucket at its burst is what a new client gets anyway, so
 * under pressure the limit errs on the lenient side, never the other.
 *
 * The client address is the peer's, or, when the peer is one of
 * http.trusted_proxies (nginx in front), the rightmost address of
 * X-Forwarded-For that is not itself a trusted proxy. It is also what the
 * audit log records (audit_set_client).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>

#include "tocsind.h"

#define RATELIMIT_WAYS		8
#define RATELIMIT_SETS		1024	/* per table: 8192 buckets */
#define RATELIMIT_STRIPES	64
#define RATELIMIT_XFF_MAX	32	/* X-Forwarded-For entries looked at */

struct ratelimit_bucket {
	unsigned char	 key[16];	/* all zero: free */
	double		 tokens;
	int64_t		 last_us;
};

struct ratelimit_table {
	pthread_mutex_t		 lock[RATELIMIT_STRIPES];
	struct ratelimit_bucket	 b[RATELIMIT_SETS][RATELIMIT_WAYS];
};

static struct ratelimit_table	ratelimit_tokens, ratelimit_addresses;
static uint64_t			ratelimit_seed[2];
static pthread_once_t		ratelimit_once = PTHREAD_ONCE_INIT;

static void
ratelimit_init(void)
{
	size_t	i;

	for (i = 0; i < RATELIMIT_STRIPES; i++) {
		pthread_mutex_init(&ratelimit_tokens.lock[i], NULL);
		pthread_mutex_init(&ratelimit_addresses.lock[i], NULL);
	}
	/* Keyed, so nobody can aim many clients at one set. */
	if (getrandom(ratelimit_seed, sizeof ratelimit_seed, 0) !=
	    (ssize_t)sizeof ratelimit_seed)
		fatalx("ratelimit: getrandom failed");
}

static int64_t
ratelimit_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

/* splitmix64's finaliser. */
static uint64_t
ratelimit_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (x);
}

static size_t
ratelimit_set_of(const unsigned char key[16])
{
	uint64_t	a, b;

	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	return (ratelimit_mix(ratelimit_mix(a ^ ratelimit_seed[0]) ^ b ^
	    ratelimit_seed[1]) % RATELIMIT_SETS);
}

/*
 * Take one request from KEY's bucket (RATE per second, BURST deep). 0 if
 * it may pass, else the seconds until it would (at least 1).
 */
static int
ratelimit_take(struct ratelimit_table *t, const unsigned char key[16],
    int rate, int burst)
{
	struct ratelimit_bucket	*set, *b = NULL, *victim = NULL;
	pthread_mutex_t		*lock;
	static const unsigned char zero[16];
	int64_t			 now = ratelimit_now_us();
	double			 tokens, most = -1, wait;
	size_t			 s, i;
	int			 retry = 0;

	if (burst < 1)
		burst = 1;
	s = ratelimit_set_of(key);
	set = t->b[s];
	lock = &t->lock[s % RATELIMIT_STRIPES];
	pthread_mutex_lock(lock);
	for (i = 0; i < RATELIMIT_WAYS; i++) {
		if (memcmp(set[i].key, key, 16) == 0) {
			b = &set[i];
			break;
		}
		if (memcmp(set[i].key, zero, 16) == 0)
			tokens = burst + 1.0;	/* a free slot beats all */
		else {
			tokens = set[i].tokens + (double)(now -
			    set[i].last_us) / 1e6 * rate;
		}
		if (tokens > most) {
			most = tokens;
			victim = &set[i];
		}
	}
	if (b == NULL) {
		b = victim;
		memcpy(b->key, key, 16);
		b->tokens = burst;
		b->last_us = now;
	}
	b->tokens += (double)(now - b->last_us) / 1e6 * rate;
	if (b->tokens > burst)
		b->tokens = burst;
	b->last_us = now;
	if (b->tokens >= 1)
		b->tokens -= 1;
	else {
		wait = (1 - b->tokens) / rate;
		retry = (int)wait;
		if ((double)retry < wait)
			retry++;
		if (retry < 1)
			retry = 1;
	}
	pthread_mutex_unlock(lock);
	return (retry);
}

/* Parse an address, IPv4 mapped into 16 bytes; 0 or -1. */
static int
ratelimit_parse_addr(const char *s, unsigned char out[16])
{
	struct in_addr	v4;

	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, &v4) == 1) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &v4, 4);
		return (0);
	}
	return (inet_pton(AF_INET6, s, out) == 1 ? 0 : -1);
}

/* Is ADDR in one of the CIDR blocks of http.trusted_proxies? */
static int
ratelimit_trusted(const struct config *cfg, const unsigned char addr[16])
{
	unsigned char	 net[16];
	char		 buf[64], *slash;
	size_t		 i;
	int		 bits, k, rem, v4;

	for (i = 0; i < cfg->n_http_trusted_proxies; i++) {
		snprintf(buf, sizeof buf, "%s", cfg->http_trusted_proxies[i]);
		bits = -1;
		if ((slash = strchr(buf, '/')) != NULL) {
			*slash = '\0';
			bits = atoi(slash + 1);
		}
		if (ratelimit_parse_addr(buf, net) != 0)
			continue;
		v4 = strchr(buf, ':') == NULL;
		if (bits < 0)
			bits = v4 ? 32 : 128;
		if (v4)
			bits += 96;
		if (bits > 128)
			continue;
		for (k = 0; k < bits / 8 && net[k] == addr[k]; k++)
			;
		if (k < bits / 8)
			continue;
		rem = bits % 8;
		if (rem != 0 && ((net[k] ^ addr[k]) & (0xff << (8 - rem)) & 0xff))
			continue;
		return (1);
	}
	return (0);
}

/* Text of a 16-byte address (IPv4 mapped shown as IPv4). */
static void
ratelimit_format(const unsigned char a[16], char *out, size_t len)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	if (memcmp(a, mapped, 12) == 0)
		inet_ntop(AF_INET, a + 12, out, len);
	else
		inet_ntop(AF_INET6, a, out, len);
}

/*
 * The client's address into OUT (16 bytes) from the peer and, behind a
 * trusted proxy, X-Forwarded-For. -1 if the peer is unknown (not TCP).
 */
static int
ratelimit_client(struct req *r, const struct config *cfg, unsigned char out[16])
{
	const union MHD_ConnectionInfo	*ci;
	const struct sockaddr		*sa;
	const char			*xff;
	char				 buf[1024], *p, *entry;
	unsigned char			 a[16];
	int				 n;

	memset(out, 0, 16);
	ci = MHD_get_connection_info(r->mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return (-1);
	if (sa->sa_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6)
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	else
		return (-1);
	if (cfg->n_http_trusted_proxies == 0 || !ratelimit_trusted(cfg, out))
		return (0);
	xff = MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND,
	    "X-Forwarded-For");
	if (xff == NULL || strlen(xff) >= sizeof buf)
		return (0);
	/* From the right: each proxy appended the address it saw. */
	snprintf(buf, sizeof buf, "%s", xff);
	for (n = 0; n < RATELIMIT_XFF_MAX; n++) {
		p = strrchr(buf, ',');
		entry = p != NULL ? p + 1 : buf;
		entry += strspn(entry, " \t");
		entry[strcspn(entry, " \t")] = '\0';
		if (ratelimit_parse_addr(entry, a) != 0)
			break;
		memcpy(out, a, 16);
		if (!ratelimit_trusted(cfg, a) || p == NULL)
			break;
		*p = '\0';
	}
	return (0);
}

/*
 * Before routing: note who is asking (for the audit log) and take one
 * request from its address's bucket and, with a bearer token, from the
 * token's. 0 to go on, or -1 after answering 429 with Retry-After.
 */
int
ratelimit_admit(struct req *r)
{
	const struct config	*cfg = http_config();
	unsigned char		 addr[16], key[32];
	const char		*h;
	char			 text[INET6_ADDRSTRLEN], secs[16];
	int			 retry = 0, by_token = 0;

	pthread_once(&ratelimit_once, ratelimit_init);
	if (ratelimit_client(r, cfg, addr) == 0) {
		ratelimit_format(addr, text, sizeof text);
		audit_set_client(text);
		if (cfg->limits_rate_per_address > 0) {
			/* Many IPv6 addresses are one client's: key by /64. */
			if (strchr(text, ':') != NULL)
				memset(addr + 8, 0, 8);
			addr[0] ^= 0x01;	/* never all zero (free) */
			retry = ratelimit_take(&ratelimit_addresses, addr,
			    cfg->limits_rate_per_address,
			    cfg->limits_burst_per_address);
		}
	} else
		audit_set_client(NULL);
	h = MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (retry == 0 && cfg->limits_rate_per_token > 0 && h != NULL &&
	    strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		h += strspn(h, " ");
		token_hash(h, key);
		key[0] |= 0x01;
		retry = ratelimit_take(&ratelimit_tokens, key,
		    cfg->limits_rate_per_token, cfg->limits_burst_per_token);
		explicit_bzero(key, sizeof key);
		by_token = 1;
	}
	if (retry == 0)
		return (0);
	metrics_rate_limited(by_token);
	snprintf(secs, sizeof secs, "%d", retry);
	http_problem(r, 429, NULL, "too many requests %s; retry after %d s",
	    by_token ? "with this token" : "from this address", retry);
	http_add_header(r, "Retry-After", secs);
	return (-1);
}
