/*
 * test_assetmatch.c: asset values (normal forms, refusals) and the owner
 * matcher: longest prefix over overlapping IPv4 and IPv6 prefixes, domain
 * suffixes on label boundaries, the AS number only when no prefix
 * matches, proposed and rejected assets never matching; a brute-force
 * cross-check on random nested prefixes, and the timing of 1,000,000
 * lookups against 100,000 prefixes.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tocsind.h"
#include "unit.h"

static int64_t
ip_owner(const struct assetmatch *m, const char *ip, uint32_t asn)
{
	struct asset_addr	a;

	if (asset_addr_parse(ip, &a) != 0) {
		printf("bad test address %s\n", ip);
		exit(2);
	}
	return (assetmatch_ip(m, &a, asn, NULL));
}

static void
add(struct assetmatch *m, enum asset_type t, const char *v, int64_t org)
{
	const char	*why;

	if (assetmatch_add(m, t, ASSET_APPROVED, v, org, &why) != 0) {
		printf("bad test asset %s: %s\n", v, why);
		exit(2);
	}
}

/* Normalise; the result, or "!" when refused. */
static const char *
norm(enum asset_type t, const char *in)
{
	static char	 out[TOCSIN_ASSET_VALUE_MAX];
	const char	*why;

	if (asset_normalise(t, in, out, sizeof out, &why) != 0)
		return ("!");
	return (out);
}

static void
test_normalise(void)
{
	CHECK_STR_EQ(norm(ASSET_CIDR, "192.0.2.0/24"), "192.0.2.0/24");
	CHECK_STR_EQ(norm(ASSET_CIDR, "192.0.2.7"), "192.0.2.7/32");
	CHECK_STR_EQ(norm(ASSET_CIDR, "192.0.2.1/24"), "!");	/* host bits */
	CHECK_STR_EQ(norm(ASSET_CIDR, "192.0.2.0/33"), "!");
	CHECK_STR_EQ(norm(ASSET_CIDR, "192.0.2.0/"), "!");
	CHECK_STR_EQ(norm(ASSET_CIDR, "192.0.2.0/-1"), "!");
	CHECK_STR_EQ(norm(ASSET_CIDR, "0.0.0.0/0"), "!");	/* too wide */
	CHECK_STR_EQ(norm(ASSET_CIDR, "10.0.0.0/8"), "10.0.0.0/8");
	CHECK_STR_EQ(norm(ASSET_CIDR, "192.0.02.0/24"), "!");
	CHECK_STR_EQ(norm(ASSET_CIDR, "2001:DB8:0:0::/32"), "2001:db8::/32");
	CHECK_STR_EQ(norm(ASSET_CIDR, "2001:db8:0:1:0:0:0:0/64"),
	    "2001:db8:0:1::/64");
	CHECK_STR_EQ(norm(ASSET_CIDR, "2001:db8::1/64"), "!");
	CHECK_STR_EQ(norm(ASSET_CIDR, "::ffff:192.0.2.0/120"), "!");
	CHECK_STR_EQ(norm(ASSET_CIDR, "2001:db8::/15"), "!");
	CHECK_STR_EQ(norm(ASSET_CIDR, "fe80::1%eth0/128"), "!");
	CHECK_STR_EQ(norm(ASSET_CIDR, "example.be"), "!");
	CHECK_STR_EQ(norm(ASSET_ASN, "64500"), "64500");
	CHECK_STR_EQ(norm(ASSET_ASN, "AS64500"), "64500");
	CHECK_STR_EQ(norm(ASSET_ASN, "as4294967295"), "4294967295");
	CHECK_STR_EQ(norm(ASSET_ASN, "4294967296"), "!");
	CHECK_STR_EQ(norm(ASSET_ASN, "0"), "!");
	CHECK_STR_EQ(norm(ASSET_ASN, "064500"), "!");
	CHECK_STR_EQ(norm(ASSET_ASN, "-1"), "!");
	CHECK_STR_EQ(norm(ASSET_ASN, "1.10"), "!");
	CHECK_STR_EQ(norm(ASSET_DOMAIN, "Example.BE."), "example.be");
	CHECK_STR_EQ(norm(ASSET_DOMAIN, "xn--bcher-kva.example"),
	    "xn--bcher-kva.example");
	CHECK_STR_EQ(norm(ASSET_DOMAIN, "be"), "!");		/* a TLD */
	CHECK_STR_EQ(norm(ASSET_DOMAIN, "-a.example.be"), "!");
	CHECK_STR_EQ(norm(ASSET_DOMAIN, "a-.example.be"), "!");
	CHECK_STR_EQ(norm(ASSET_DOMAIN, "a..example.be"), "!");
	CHECK_STR_EQ(norm(ASSET_DOMAIN, "*.example.be"), "!");
	CHECK_STR_EQ(norm(ASSET_DOMAIN, "_dmarc.example.be"), "!");
	CHECK_STR_EQ(norm(ASSET_DOMAIN, "b\xc3\xbc" "cher.example"), "!");
	CHECK_STR_EQ(norm(ASSET_DOMAIN, ""), "!");
	CHECK_STR_EQ(norm(ASSET_DOMAIN, "."), "!");
}

static void
test_prefixes(void)
{
	struct assetmatch	*m = assetmatch_new();
	enum asset_type		 how;
	struct asset_addr	 a;

	/* A provider's /16, a customer's /24 in it, a /28 in that. */
	add(m, ASSET_CIDR, "198.51.0.0/16", 1);
	add(m, ASSET_CIDR, "198.51.100.0/24", 2);
	add(m, ASSET_CIDR, "198.51.100.64/28", 3);
	add(m, ASSET_CIDR, "198.51.100.200/32", 4);
	add(m, ASSET_CIDR, "192.0.2.0/24", 5);
	add(m, ASSET_CIDR, "2001:db8::/32", 11);
	add(m, ASSET_CIDR, "2001:db8:1::/48", 12);
	add(m, ASSET_CIDR, "2001:db8:1:2::/64", 13);
	add(m, ASSET_CIDR, "2001:db8:1:2::1/128", 14);
	add(m, ASSET_CIDR, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/128", 15);
	assetmatch_build(m);
	CHECK_INT_EQ(assetmatch_count(m), 10);

	CHECK_INT_EQ(ip_owner(m, "198.51.0.1", 0), 1);
	CHECK_INT_EQ(ip_owner(m, "198.51.99.255", 0), 1);
	CHECK_INT_EQ(ip_owner(m, "198.51.100.0", 0), 2);
	CHECK_INT_EQ(ip_owner(m, "198.51.100.63", 0), 2);
	CHECK_INT_EQ(ip_owner(m, "198.51.100.64", 0), 3);
	CHECK_INT_EQ(ip_owner(m, "198.51.100.79", 0), 3);
	CHECK_INT_EQ(ip_owner(m, "198.51.100.80", 0), 2);
	CHECK_INT_EQ(ip_owner(m, "198.51.100.199", 0), 2);
	CHECK_INT_EQ(ip_owner(m, "198.51.100.200", 0), 4);
	CHECK_INT_EQ(ip_owner(m, "198.51.100.201", 0), 2);
	CHECK_INT_EQ(ip_owner(m, "198.51.100.255", 0), 2);
	CHECK_INT_EQ(ip_owner(m, "198.51.101.0", 0), 1);
	CHECK_INT_EQ(ip_owner(m, "198.51.255.255", 0), 1);
	CHECK_INT_EQ(ip_owner(m, "198.52.0.0", 0), 0);
	CHECK_INT_EQ(ip_owner(m, "198.50.255.255", 0), 0);
	CHECK_INT_EQ(ip_owner(m, "192.0.2.255", 0), 5);
	CHECK_INT_EQ(ip_owner(m, "203.0.113.1", 0), 0);
	CHECK_INT_EQ(ip_owner(m, "0.0.0.0", 0), 0);
	CHECK_INT_EQ(ip_owner(m, "255.255.255.255", 0), 0);
	/* IPv4-mapped IPv6 is the IPv4 address. */
	CHECK_INT_EQ(ip_owner(m, "::ffff:198.51.100.70", 0), 3);

	CHECK_INT_EQ(ip_owner(m, "2001:db8::1", 0), 11);
	CHECK_INT_EQ(ip_owner(m, "2001:db8:1::", 0), 12);
	CHECK_INT_EQ(ip_owner(m, "2001:db8:1:1:ffff:ffff:ffff:ffff", 0), 12);
	CHECK_INT_EQ(ip_owner(m, "2001:db8:1:2::", 0), 13);
	CHECK_INT_EQ(ip_owner(m, "2001:db8:1:2::1", 0), 14);
	CHECK_INT_EQ(ip_owner(m, "2001:db8:1:2::2", 0), 13);
	CHECK_INT_EQ(ip_owner(m, "2001:db8:1:3::", 0), 12);
	CHECK_INT_EQ(ip_owner(m, "2001:db8:2::", 0), 11);
	CHECK_INT_EQ(ip_owner(m, "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", 0),
	    11);
	CHECK_INT_EQ(ip_owner(m, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 0),
	    15);
	CHECK_INT_EQ(ip_owner(m, "2001:db9::", 0), 0);
	CHECK_INT_EQ(ip_owner(m, "2001:db7:ffff::", 0), 0);
	CHECK_INT_EQ(ip_owner(m, "::", 0), 0);
	CHECK_INT_EQ(ip_owner(m, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    0), 0);
	/* An IPv4 prefix never covers IPv6 addresses, or the reverse. */
	CHECK_INT_EQ(ip_owner(m, "::c633:6446", 0), 0);

	asset_addr_parse("198.51.100.70", &a);
	how = ASSET_DOMAIN;
	CHECK_INT_EQ(assetmatch_ip(m, &a, 64500, &how), 3);
	CHECK_INT_EQ(how, ASSET_CIDR);
	assetmatch_unref(m);
}

/* Longest at the very ends of the address spaces. */
static void
test_edges(void)
{
	struct assetmatch	*m = assetmatch_new();

	add(m, ASSET_CIDR, "255.0.0.0/8", 1);
	add(m, ASSET_CIDR, "255.255.255.255/32", 2);
	add(m, ASSET_CIDR, "0.0.0.0/8", 3);
	add(m, ASSET_CIDR, "0.0.0.0/32", 4);
	add(m, ASSET_CIDR, "ffff::/16", 5);
	add(m, ASSET_CIDR, "::/16", 6);
	add(m, ASSET_CIDR, "::/128", 7);
	/* Adjacent siblings inside a parent. */
	add(m, ASSET_CIDR, "10.0.0.0/8", 8);
	add(m, ASSET_CIDR, "10.1.0.0/16", 9);
	add(m, ASSET_CIDR, "10.2.0.0/16", 10);
	assetmatch_build(m);
	CHECK_INT_EQ(ip_owner(m, "255.255.255.255", 0), 2);
	CHECK_INT_EQ(ip_owner(m, "255.255.255.254", 0), 1);
	CHECK_INT_EQ(ip_owner(m, "0.0.0.0", 0), 4);
	CHECK_INT_EQ(ip_owner(m, "0.0.0.1", 0), 3);
	CHECK_INT_EQ(ip_owner(m, "1.0.0.0", 0), 0);
	CHECK_INT_EQ(ip_owner(m, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    0), 5);
	CHECK_INT_EQ(ip_owner(m, "::", 0), 7);
	CHECK_INT_EQ(ip_owner(m, "::1", 0), 6);
	CHECK_INT_EQ(ip_owner(m, "1::", 0), 0);
	CHECK_INT_EQ(ip_owner(m, "10.0.255.255", 0), 8);
	CHECK_INT_EQ(ip_owner(m, "10.1.255.255", 0), 9);
	CHECK_INT_EQ(ip_owner(m, "10.2.0.0", 0), 10);
	CHECK_INT_EQ(ip_owner(m, "10.3.0.0", 0), 8);
	assetmatch_unref(m);
}

static void
test_domains(void)
{
	struct assetmatch	*m = assetmatch_new();

	add(m, ASSET_DOMAIN, "example.be", 1);
	add(m, ASSET_DOMAIN, "b.example.be", 2);
	add(m, ASSET_DOMAIN, "EXAMPLE.org.", 3);
	assetmatch_build(m);
	CHECK_INT_EQ(assetmatch_domain(m, "example.be"), 1);
	CHECK_INT_EQ(assetmatch_domain(m, "www.example.be"), 1);
	CHECK_INT_EQ(assetmatch_domain(m, "a.c.example.be"), 1);
	CHECK_INT_EQ(assetmatch_domain(m, "b.example.be"), 2);
	CHECK_INT_EQ(assetmatch_domain(m, "a.b.example.be"), 2);
	CHECK_INT_EQ(assetmatch_domain(m, "x.y.a.b.example.be"), 2);
	CHECK_INT_EQ(assetmatch_domain(m, "ab.example.be"), 1);
	CHECK_INT_EQ(assetmatch_domain(m, "notexample.be"), 0);
	CHECK_INT_EQ(assetmatch_domain(m, "example.be.evil.test"), 0);
	CHECK_INT_EQ(assetmatch_domain(m, "be"), 0);
	CHECK_INT_EQ(assetmatch_domain(m, "mail.example.org"), 3);
	CHECK_INT_EQ(assetmatch_domain(m, "example.net"), 0);
	CHECK_INT_EQ(assetmatch_domain(m, ""), 0);
	assetmatch_unref(m);
}

static void
test_asn_fallback(void)
{
	struct assetmatch	*m = assetmatch_new();
	enum asset_type		 how = ASSET_DOMAIN;
	struct asset_addr	 a;

	add(m, ASSET_ASN, "64500", 7);
	add(m, ASSET_ASN, "AS64501", 8);
	add(m, ASSET_CIDR, "203.0.113.0/25", 9);
	assetmatch_build(m);
	/* A prefix match wins over the AS number. */
	CHECK_INT_EQ(ip_owner(m, "203.0.113.5", 64500), 9);
	/* No prefix: the AS number decides. */
	CHECK_INT_EQ(ip_owner(m, "203.0.113.200", 64500), 7);
	CHECK_INT_EQ(ip_owner(m, "2001:db8::1", 64501), 8);
	CHECK_INT_EQ(ip_owner(m, "203.0.113.200", 64502), 0);
	CHECK_INT_EQ(ip_owner(m, "203.0.113.200", 0), 0);
	asset_addr_parse("203.0.113.200", &a);
	CHECK_INT_EQ(assetmatch_ip(m, &a, 64501, &how), 8);
	CHECK_INT_EQ(how, ASSET_ASN);
	CHECK_INT_EQ(assetmatch_asn(m, 64500), 7);
	assetmatch_unref(m);
}

/* Proposed and rejected assets are never taken, whatever the caller. */
static void
test_unapproved(void)
{
	struct assetmatch	*m = assetmatch_new();
	const char		*why;

	CHECK(assetmatch_add(m, ASSET_CIDR, ASSET_PROPOSED, "192.0.2.0/24", 1,
	    &why) == 0);
	CHECK(assetmatch_add(m, ASSET_CIDR, ASSET_REJECTED, "192.0.2.128/25",
	    2, &why) == 0);
	CHECK(assetmatch_add(m, ASSET_DOMAIN, ASSET_PROPOSED, "example.be", 1,
	    &why) == 0);
	CHECK(assetmatch_add(m, ASSET_DOMAIN, ASSET_REJECTED, "example.org", 2,
	    &why) == 0);
	CHECK(assetmatch_add(m, ASSET_ASN, ASSET_PROPOSED, "64500", 1,
	    &why) == 0);
	CHECK(assetmatch_add(m, ASSET_ASN, ASSET_REJECTED, "64501", 2,
	    &why) == 0);
	/* A bad value is refused, approved or not. */
	CHECK(assetmatch_add(m, ASSET_CIDR, ASSET_APPROVED, "192.0.2.1/24", 3,
	    &why) == -1);
	CHECK(assetmatch_add(m, ASSET_CIDR, ASSET_APPROVED, "198.51.100.0/24",
	    4, &why) == 0);
	assetmatch_build(m);
	CHECK_INT_EQ(assetmatch_count(m), 1);
	CHECK_INT_EQ(ip_owner(m, "192.0.2.1", 0), 0);
	CHECK_INT_EQ(ip_owner(m, "192.0.2.200", 0), 0);
	CHECK_INT_EQ(ip_owner(m, "192.0.2.1", 64500), 0);
	CHECK_INT_EQ(ip_owner(m, "192.0.2.1", 64501), 0);
	CHECK_INT_EQ(assetmatch_domain(m, "www.example.be"), 0);
	CHECK_INT_EQ(assetmatch_domain(m, "example.org"), 0);
	CHECK_INT_EQ(ip_owner(m, "198.51.100.1", 0), 4);
	assetmatch_unref(m);
}

/* Of two identical approved values, the first added wins. */
static void
test_duplicates(void)
{
	struct assetmatch	*m = assetmatch_new();

	add(m, ASSET_CIDR, "192.0.2.0/24", 1);
	add(m, ASSET_CIDR, "192.0.2.0/24", 2);
	add(m, ASSET_CIDR, "192.0.2.0/25", 3);
	add(m, ASSET_DOMAIN, "example.be", 1);
	add(m, ASSET_DOMAIN, "example.be", 2);
	add(m, ASSET_ASN, "64500", 1);
	add(m, ASSET_ASN, "64500", 2);
	assetmatch_build(m);
	CHECK_INT_EQ(ip_owner(m, "192.0.2.200", 0), 1);
	CHECK_INT_EQ(ip_owner(m, "192.0.2.1", 0), 3);
	CHECK_INT_EQ(assetmatch_domain(m, "example.be"), 1);
	CHECK_INT_EQ(assetmatch_asn(m, 64500), 1);
	assetmatch_unref(m);
}

/* Our formatting is inet_ntop()'s, zero runs and all. */
static void
test_format(void)
{
	struct asset_addr	a;
	char			mine[64], libc[64];
	size_t			i, j, bad = 0;

	srand(3);
	for (i = 0; i < 200000; i++) {
		memset(&a, 0, sizeof a);
		a.v6 = i % 4 != 0;
		for (j = 0; j < (a.v6 ? 16u : 4u); j++) {
			/* Mostly zero bytes, for runs of zero groups. */
			a.b[j] = rand() % 3 == 0 ? (unsigned char)rand() : 0;
			if (rand() % 7 == 0)
				a.b[j] = (unsigned char)(rand() % 16);
		}
		asset_addr_format(&a, mine, sizeof mine);
		inet_ntop(a.v6 ? AF_INET6 : AF_INET, a.b, libc, sizeof libc);
		if (strcmp(mine, libc) != 0 && bad++ < 5)
			printf("format: %s, inet_ntop: %s\n", mine, libc);
	}
	CHECK_INT_EQ(bad, 0);
}

/* Random nested prefixes, checked against a scan of all of them. */
struct ref_prefix {
	struct asset_addr	a;
	unsigned		len;
	int64_t			org;
};

static int
ref_contains(const struct ref_prefix *p, const struct asset_addr *a)
{
	unsigned	i;

	if (p->a.v6 != a->v6)
		return (0);
	for (i = 0; i < p->len; i++) {
		if ((p->a.b[i / 8] ^ a->b[i / 8]) & (0x80 >> (i % 8)))
			return (0);
	}
	return (1);
}

static void
random_addr(struct asset_addr *a, int v6, unsigned seedlen,
    const unsigned char *base)
{
	unsigned	i;

	memset(a, 0, sizeof *a);
	a->v6 = v6;
	for (i = 0; i < (v6 ? 16u : 4u); i++)
		a->b[i] = (unsigned char)rand();
	/* Mostly inside a small region, so that prefixes nest. */
	for (i = 0; i < seedlen; i++) {
		if (base[i / 8] & (0x80 >> (i % 8)))
			a->b[i / 8] |= (unsigned char)(0x80 >> (i % 8));
		else
			a->b[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
	}
}

static void
mask(struct asset_addr *a, unsigned len)
{
	unsigned	i, max = a->v6 ? 128 : 32;

	for (i = len; i < max; i++)
		a->b[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
}

static void
test_brute_force(void)
{
	static const unsigned char base4[4] = { 10, 0, 0, 0 };
	static const unsigned char base6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	struct ref_prefix	*ref;
	struct assetmatch	*m = assetmatch_new();
	struct asset_addr	 a;
	char			 text[64], value[80];
	size_t			 n = 3000, i, j, bad = 0;
	unsigned		 best;
	int64_t			 want;

	srand(42);
	ref = calloc(n, sizeof *ref);
	for (i = 0; i < n; i++) {
		int v6 = i % 3 == 0;
		random_addr(&ref[i].a, v6, v6 ? 32 : 8, v6 ? base6 : base4);
		ref[i].len = v6 ? 32 + (unsigned)(rand() % 97) :
		    8 + (unsigned)(rand() % 25);
		mask(&ref[i].a, ref[i].len);
		ref[i].org = (int64_t)(i + 1);
		asset_addr_format(&ref[i].a, text, sizeof text);
		snprintf(value, sizeof value, "%s/%u", text, ref[i].len);
		add(m, ASSET_CIDR, value, ref[i].org);
	}
	assetmatch_build(m);
	for (j = 0; j < 20000; j++) {
		int v6 = j % 2 == 0;
		if (j % 4 < 2)
			random_addr(&a, v6, v6 ? 32 : 8, v6 ? base6 : base4);
		else {
			/* Close to a registered prefix's bounds. */
			const struct ref_prefix *p = &ref[rand() % n];
			a = p->a;
			if (rand() % 2) {
				unsigned k, max = a.v6 ? 128 : 32;
				for (k = p->len; k < max; k++)
					a.b[k / 8] |= (unsigned char)(0x80 >>
					    (k % 8));
			}
		}
		want = 0;
		best = 0;
		for (i = 0; i < n; i++) {
			if (ref_contains(&ref[i], &a) && (want == 0 ||
			    ref[i].len > best)) {
				want = ref[i].org;
				best = ref[i].len;
			}
		}
		if (assetmatch_ip(m, &a, 0, NULL) != want)
			bad++;
	}
	CHECK_INT_EQ(bad, 0);
	free(ref);
	assetmatch_unref(m);
}

/*
 * 100,000 overlapping prefixes (60% IPv4 /16 to /28, 40% IPv6 /32 to
 * /64), 1,000,000 lookups: well under the 5 s (build included).
 */
static void
test_timing(void)
{
	static const unsigned char base4[4] = { 10, 0, 0, 0 };
	static const unsigned char base6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	struct assetmatch	*m = assetmatch_new();
	struct asset_addr	*probes, a;
	struct timespec		 t0, t1, t2, t3;
	char			 text[64], value[80];
	size_t			 i, hits = 0;
	unsigned		 len;
	double			 build, look;

	srand(7);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 100000; i++) {
		int v6 = i % 5 >= 3;
		random_addr(&a, v6, v6 ? 32 : 8, v6 ? base6 : base4);
		len = v6 ? 32 + (unsigned)(rand() % 33) :
		    16 + (unsigned)(rand() % 13);
		mask(&a, len);
		asset_addr_format(&a, text, sizeof text);
		snprintf(value, sizeof value, "%s/%u", text, len);
		add(m, ASSET_CIDR, value, (int64_t)(i % 1000) + 1);
	}
	assetmatch_build(m);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	probes = calloc(1000000, sizeof *probes);
	for (i = 0; i < 1000000; i++) {
		int v6 = i % 5 >= 3;
		random_addr(&probes[i], v6, v6 ? 32 : 8, v6 ? base6 : base4);
	}
	clock_gettime(CLOCK_MONOTONIC, &t2);
	for (i = 0; i < 1000000; i++) {
		if (assetmatch_ip(m, &probes[i], 0, NULL) != 0)
			hits++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t3);
	build = (double)(t1.tv_sec - t0.tv_sec) +
	    (t1.tv_nsec - t0.tv_nsec) / 1e9;
	look = (double)(t3.tv_sec - t2.tv_sec) +
	    (t3.tv_nsec - t2.tv_nsec) / 1e9;
	printf("assetmatch: 100000 prefixes built in %.3f s, 1000000 lookups "
	    "in %.3f s (%zu matched)\n", build, look, hits);
	CHECK(hits > 0);
	CHECK(build + look < 5.0);
	free(probes);
	assetmatch_unref(m);
}

int
main(void)
{
	test_normalise();
	test_prefixes();
	test_edges();
	test_domains();
	test_asn_fallback();
	test_unapproved();
	test_duplicates();
	test_format();
	test_brute_force();
	test_timing();
	return (UNIT_DONE());
}
