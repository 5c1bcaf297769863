/*
 * ssrf.c: the guard that keeps webhooks from reaching into the CSIRT's own
 * network. An address is classified (loopback, private, link-local,
 * multicast, unspecified, reserved, or public; IPv4 carried inside IPv6 is
 * classified as the IPv4 it carries) and refused unless it is public,
 * webhooks.allow_private_networks is set (loopback, private, link-local),
 * or a webhooks.allow CIDR contains it.
 *
 * The check runs when an endpoint is created or its URL changed (every
 * resolved address must pass) and again on every connection the delivery
 * worker opens (deliver.c's CURLOPT_OPENSOCKETFUNCTION sees the address
 * curl is about to connect to), so a name that later resolves elsewhere
 * (DNS rebinding) is refused at send time.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "tocsind.h"

#define SSRF_URL_MAX	2048

static const char *const ssrf_names[] = {
	[SSRF_PUBLIC] = "public",
	[SSRF_LOOPBACK] = "loopback",
	[SSRF_PRIVATE] = "private",
	[SSRF_LINK_LOCAL] = "link-local",
	[SSRF_MULTICAST] = "multicast",
	[SSRF_UNSPECIFIED] = "unspecified",
	[SSRF_RESERVED] = "reserved",
};

/* One IPv4 range: address and prefix length, host order. */
struct ssrf_range4 {
	uint32_t		net;
	int			bits;
	enum ssrf_class		class;
};

static const struct ssrf_range4 ssrf_v4[] = {
	{ 0x00000000, 8, SSRF_UNSPECIFIED },	/* 0/8 "this network" */
	{ 0x7f000000, 8, SSRF_LOOPBACK },
	{ 0x0a000000, 8, SSRF_PRIVATE },
	{ 0xac100000, 12, SSRF_PRIVATE },
	{ 0xc0a80000, 16, SSRF_PRIVATE },
	{ 0x64400000, 10, SSRF_PRIVATE },	/* shared address space */
	{ 0xa9fe0000, 16, SSRF_LINK_LOCAL },
	{ 0xe0000000, 4, SSRF_MULTICAST },
	{ 0xc0000000, 24, SSRF_RESERVED },	/* IETF protocol assignments */
	{ 0xc0000200, 24, SSRF_RESERVED },	/* TEST-NET-1 */
	{ 0xc6120000, 15, SSRF_RESERVED },	/* benchmarking */
	{ 0xc6336400, 24, SSRF_RESERVED },	/* TEST-NET-2 */
	{ 0xcb007100, 24, SSRF_RESERVED },	/* TEST-NET-3 */
	{ 0xf0000000, 4, SSRF_RESERVED },	/* and 255.255.255.255 */
};

/* Classify an IPv4 address (host order). */
static enum ssrf_class
ssrf_classify4(uint32_t a)
{
	size_t		i;
	uint32_t	mask;

	for (i = 0; i < sizeof ssrf_v4 / sizeof ssrf_v4[0]; i++) {
		mask = 0xffffffffu << (32 - ssrf_v4[i].bits);
		if ((a & mask) == ssrf_v4[i].net)
			return (ssrf_v4[i].class);
	}
	return (SSRF_PUBLIC);
}

/* The IPv4 address inside bytes 12..15 of an IPv6 address. */
static uint32_t
ssrf_embedded4(const unsigned char *b)
{
	return ((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
	    (uint32_t)b[14] << 8 | b[15]);
}

/* Classify an IPv6 address (16 bytes). */
static enum ssrf_class
ssrf_classify6(const unsigned char *b)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0xff, 0xff };
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	static const unsigned char zero[16];
	size_t	i;

	if (memcmp(b, zero, 16) == 0)
		return (SSRF_UNSPECIFIED);
	if (memcmp(b, zero, 15) == 0 && b[15] == 1)
		return (SSRF_LOOPBACK);
	/* IPv4-mapped, NAT64 and the old IPv4-compatible form. */
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 ||
	    memcmp(b, zero, 12) == 0)
		return (ssrf_classify4(ssrf_embedded4(b)));
	if (b[0] == 0xff)
		return (SSRF_MULTICAST);
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return (SSRF_LINK_LOCAL);
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return (SSRF_PRIVATE);		/* old site-local */
	if ((b[0] & 0xfe) == 0xfc)
		return (SSRF_PRIVATE);		/* unique local fc00::/7 */
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
		return (SSRF_RESERVED);		/* documentation */
	if (b[0] == 0x01 && b[1] == 0x00) {
		for (i = 2; i < 8 && b[i] == 0; i++)
			;
		if (i == 8)
			return (SSRF_RESERVED);	/* discard 100::/64 */
	}
	if (b[0] == 0x20 && b[1] == 0x02)	/* 6to4 carries an IPv4 */
		return (ssrf_classify4((uint32_t)b[2] << 24 |
		    (uint32_t)b[3] << 16 | (uint32_t)b[4] << 8 | b[5]));
	return (SSRF_PUBLIC);
}

/* Classify a socket address; anything but IPv4/IPv6 is reserved. */
enum ssrf_class
ssrf_classify(const struct sockaddr *sa)
{
	const struct sockaddr_in	*s4;
	const struct sockaddr_in6	*s6;

	switch (sa->sa_family) {
	case AF_INET:
		s4 = (const struct sockaddr_in *)sa;
		return (ssrf_classify4(ntohl(s4->sin_addr.s_addr)));
	case AF_INET6:
		s6 = (const struct sockaddr_in6 *)sa;
		return (ssrf_classify6(s6->sin6_addr.s6_addr));
	default:
		return (SSRF_RESERVED);
	}
}

/* The name of a class. */
const char *
ssrf_class_name(enum ssrf_class c)
{
	if ((unsigned)c >= sizeof ssrf_names / sizeof ssrf_names[0])
		return ("reserved");
	return (ssrf_names[c]);
}

/*
 * Parse "address[/bits]" into 16 bytes (IPv4 as IPv4-mapped IPv6, bits
 * shifted by 96) and a prefix length; 0 or -1.
 */
static int
ssrf_cidr_parse(const char *s, unsigned char net[16], int *bits)
{
	char		 buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	struct in_addr	 a4;
	long		 n = -1;
	int		 v4;

	if (strlen(s) >= sizeof buf)
		return (-1);
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')) != NULL) {
		*slash++ = '\0';
		if (*slash < '0' || *slash > '9')
			return (-1);
		n = strtol(slash, &end, 10);
		if (*end != '\0')
			return (-1);
	}
	memset(net, 0, 16);
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		v4 = 1;
		net[10] = net[11] = 0xff;
		memcpy(net + 12, &a4, 4);
	} else if (inet_pton(AF_INET6, buf, net) == 1)
		v4 = 0;
	else
		return (-1);
	if (n == -1)
		n = v4 ? 32 : 128;
	if (n < 0 || n > (v4 ? 32 : 128))
		return (-1);
	*bits = (int)n + (v4 ? 96 : 0);
	return (0);
}

/* Is S a CIDR (or a single address) webhooks.allow accepts? */
int
ssrf_cidr_valid(const char *s)
{
	unsigned char	net[16];
	int		bits;

	return (s != NULL && ssrf_cidr_parse(s, net, &bits) == 0);
}

/* Does the CIDR contain ADDR (16 bytes, IPv4 mapped)? */
static int
ssrf_cidr_contains(const char *cidr, const unsigned char addr[16])
{
	unsigned char	net[16];
	int		bits, i, rem;

	if (ssrf_cidr_parse(cidr, net, &bits) != 0)
		return (0);
	for (i = 0; i < bits / 8; i++) {
		if (net[i] != addr[i])
			return (0);
	}
	rem = bits % 8;
	if (rem != 0 && ((net[i] ^ addr[i]) & (0xff << (8 - rem)) & 0xff))
		return (0);
	return (1);
}

/* The address as 16 bytes, IPv4 mapped; 0 or -1. */
static int
ssrf_bytes(const struct sockaddr *sa, unsigned char out[16])
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr,
		    4);
		return (0);
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return (0);
	}
	return (-1);
}

/* The address as text. */
static void
ssrf_ntop(const struct sockaddr *sa, char *buf, size_t len)
{
	const void	*a;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else {
		snprintf(buf, len, "(family %d)", sa->sa_family);
		return;
	}
	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "(unprintable)");
}

/*
 * May a webhook connect to SA under CFG? 1 yes; 0 no, with WHY (e.g.
 * "127.0.0.1 is a loopback address") filled.
 */
int
ssrf_address_allowed(const struct config *cfg, const struct sockaddr *sa,
    char *why, size_t whylen)
{
	enum ssrf_class	 c = ssrf_classify(sa);
	unsigned char	 addr[16];
	char		 text[INET6_ADDRSTRLEN];
	size_t		 i;

	if (c == SSRF_PUBLIC)
		return (1);
	if (cfg != NULL && cfg->webhooks_allow_private_networks &&
	    (c == SSRF_LOOPBACK || c == SSRF_PRIVATE || c == SSRF_LINK_LOCAL))
		return (1);
	if (cfg != NULL && ssrf_bytes(sa, addr) == 0) {
		for (i = 0; i < cfg->n_webhooks_allow; i++) {
			if (ssrf_cidr_contains(cfg->webhooks_allow[i], addr))
				return (1);
		}
	}
	ssrf_ntop(sa, text, sizeof text);
	snprintf(why, whylen, "%s is a%s %s address", text,
	    c == SSRF_UNSPECIFIED ? "n" : "", ssrf_class_name(c));
	return (0);
}

/*
 * Check a webhook URL: http or https, a host, no credentials, not too
 * long, and every address the host resolves to allowed. 0, or -1 and
 * *cause (a sentence for the 422 detail, starting with "url: ").
 */
int
ssrf_check_url(const struct config *cfg, const char *url, char **cause)
{
	CURLU		*u;
	char		*scheme = NULL, *host = NULL, *user = NULL, *port = NULL;
	char		 why[128], hostbuf[256];
	struct addrinfo	 hints, *ai = NULL, *p;
	size_t		 hl;
	int		 rc = -1, gai;

	*cause = NULL;
	if (strlen(url) > SSRF_URL_MAX) {
		xasprintf(cause, "url: must be at most %d characters",
		    SSRF_URL_MAX);
		return (-1);
	}
	if ((u = curl_url()) == NULL)
		fatalx("ssrf: out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		xasprintf(cause, "url: not an absolute http or https URL");
		goto out;
	}
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
		xasprintf(cause, "url: only http and https URLs are allowed");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK &&
	    user != NULL) {
		xasprintf(cause, "url: credentials in the URL are not allowed");
		goto out;
	}
	curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
	/* "[::1]" comes back with its brackets. */
	hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']' &&
	    hl - 2 < sizeof hostbuf) {
		memcpy(hostbuf, host + 1, hl - 2);
		hostbuf[hl - 2] = '\0';
	} else if (hl < sizeof hostbuf)
		strcpy(hostbuf, host);
	else {
		xasprintf(cause, "url: host name too long");
		goto out;
	}
	/* A zone index ("fe80::1%eth0") names an interface: never. */
	if (strchr(hostbuf, '%') != NULL) {
		xasprintf(cause, "url: scoped addresses are not allowed");
		goto out;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	if ((gai = getaddrinfo(hostbuf, port, &hints, &ai)) != 0) {
		xasprintf(cause, "url: %.200s does not resolve (%s)", hostbuf,
		    gai_strerror(gai));
		goto out;
	}
	for (p = ai; p != NULL; p = p->ai_next) {
		if (!ssrf_address_allowed(cfg, p->ai_addr, why, sizeof why)) {
			xasprintf(cause, "url: %.200s: %s; webhooks may not "
			    "reach it (see webhooks.allow_private_networks "
			    "and webhooks.allow)", hostbuf, why);
			goto out;
		}
	}
	rc = 0;
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(port);
	curl_url_cleanup(u);
	return (rc);
}
