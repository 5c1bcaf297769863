/*
 * assetmatch.c: who owns an observed address or name. The asset values
 * organisations register (CIDR prefixes, AS numbers, domains) are parsed
 * and normalised here, and a matcher is built in memory from the approved
 * ones: longest prefix over IPv4 and IPv6, longest label-aligned domain
 * suffix, and the AS number only when no prefix matches. Pure: no SQL, no
 * locks; store_assets.c loads and caches a matcher, the warning paths ask it.
 *
 * Prefixes are turned into sorted disjoint ranges once (CIDR prefixes are
 * either nested or disjoint, so a sweep with a stack gives every range its
 * most specific owner); a lookup is then one binary search, whatever the
 * nesting depth. Domains go into an open-addressing hash table and a lookup
 * tries the name, then each parent at a label boundary.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tocsind.h"

/* The shortest prefixes anyone may register: no one owns more. */
#define ASSET_MIN_LEN_V4	8
#define ASSET_MIN_LEN_V6	16

static const char *const asset_type_names[ASSET__COUNT] = {
	[ASSET_CIDR] = "cidr",
	[ASSET_ASN] = "asn",
	[ASSET_DOMAIN] = "domain",
};
static const char *const asset_status_names[ASSET_STATUS__COUNT] = {
	[ASSET_PROPOSED] = "proposed",
	[ASSET_APPROVED] = "approved",
	[ASSET_REJECTED] = "rejected",
};

/* A 128-bit key, most significant half first. */
struct am_key {
	uint64_t	 hi;
	uint64_t	 lo;
};

struct am_prefix {
	struct am_key	 start;
	struct am_key	 end;		/* last address covered */
	unsigned	 len;
	size_t		 seq;		/* order added: first wins a tie */
	int64_t		 org;
};

/* From this address on (to the next bound), ORG owns it (0: no one). */
struct am_bound {
	struct am_key	 at;
	int64_t		 org;
};

struct am_family {
	struct am_prefix *v;		/* while adding */
	size_t		 n;
	size_t		 cap;
	struct am_bound	*b;		/* after building */
	size_t		 nb;
	struct am_key	*samp;		/* each AM_STRIDE-th bound's at */
	size_t		 ns;
	struct am_key	 max;		/* the last address */
};

/*
 * A lookup searches a small array of every AM_STRIDE-th bound first (it
 * stays in cache), then one block of bounds: a few cache misses per
 * lookup instead of one per halving of the whole array.
 */
#define AM_STRIDE	32

struct am_domain {
	const char	*name;		/* NULL: empty slot */
	uint32_t	 hash;
	int64_t		 org;
};

struct am_asn {
	uint32_t	 asn;
	size_t		 seq;
	int64_t		 org;
};

struct assetmatch {
	int		 refs;
	int		 built;
	size_t		 seq;
	struct am_family v4;
	struct am_family v6;
	struct am_domain *dom;		/* power-of-two table */
	size_t		 dom_cap;
	size_t		 dom_n;
	char		**names;	/* owned copies, one per entry */
	struct am_asn	*asn;
	size_t		 n_asn;
	size_t		 cap_asn;
	size_t		 n_assets;
};

/* Parse a type name; 0 or -1. */
int
asset_type_parse(const char *s, enum asset_type *t)
{
	int	i;

	for (i = 0; s != NULL && i < ASSET__COUNT; i++) {
		if (strcmp(s, asset_type_names[i]) == 0) {
			*t = (enum asset_type)i;
			return (0);
		}
	}
	return (-1);
}

/* The name of a type ("?" if out of range). */
const char *
asset_type_name(enum asset_type t)
{
	return ((unsigned)t < ASSET__COUNT ? asset_type_names[t] : "?");
}

/* Parse a status name; 0 or -1. */
int
asset_status_parse(const char *s, enum asset_status *st)
{
	int	i;

	for (i = 0; s != NULL && i < ASSET_STATUS__COUNT; i++) {
		if (strcmp(s, asset_status_names[i]) == 0) {
			*st = (enum asset_status)i;
			return (0);
		}
	}
	return (-1);
}

/* The name of a status ("?" if out of range). */
const char *
asset_status_name(enum asset_status st)
{
	return ((unsigned)st < ASSET_STATUS__COUNT ? asset_status_names[st] :
	    "?");
}

/*
 * Parse an observed address: IPv4 dotted quad or IPv6 text (no zone, no
 * brackets). An IPv4-mapped IPv6 address is the IPv4 address it maps:
 * that is where it lives. 0 or -1.
 */
int
asset_addr_parse(const char *s, struct asset_addr *a)
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};

	memset(a, 0, sizeof *a);
	if (strchr(s, ':') == NULL) {
		if (inet_pton(AF_INET, s, a->b) != 1)
			return (-1);
		a->v6 = 0;
		return (0);
	}
	if (inet_pton(AF_INET6, s, a->b) != 1)
		return (-1);
	if (memcmp(a->b, mapped, sizeof mapped) == 0) {
		memmove(a->b, a->b + 12, 4);
		memset(a->b + 4, 0, 12);
		a->v6 = 0;
	} else
		a->v6 = 1;
	return (0);
}

/*
 * The canonical text of an address, as inet_ntop() writes it (RFC 5952 for
 * IPv6: lower case, no leading zeros, the first longest run of two or more
 * zero groups as "::"). Written by hand because inet_ntop() goes through
 * sprintf, which shows in an import of a million rows. OUTLEN must be at
 * least INET6_ADDRSTRLEN.
 */
void
asset_addr_format(const struct asset_addr *a, char *out, size_t outlen)
{
	static const char	 hex[] = "0123456789abcdef";
	static const unsigned char zero12[12];
	unsigned		 g[8], v;
	int			 i, best = -1, bestlen = 0, run = 0, n;
	char			*o = out;

	if (outlen < 46) {
		if (outlen > 0)
			out[0] = '\0';
		return;
	}
	if (!a->v6) {
		for (i = 0; i < 4; i++) {
			v = a->b[i];
			if (v >= 100)
				*o++ = (char)('0' + v / 100);
			if (v >= 10)
				*o++ = (char)('0' + v / 10 % 10);
			*o++ = (char)('0' + v % 10);
			*o++ = i < 3 ? '.' : '\0';
		}
		return;
	}
	/* ::a.b.c.d and the like: rare; let the library spell them. */
	if (memcmp(a->b, zero12, sizeof zero12) == 0) {
		if (inet_ntop(AF_INET6, a->b, out, (socklen_t)outlen) == NULL)
			out[0] = '\0';
		return;
	}
	for (i = 0; i < 8; i++) {
		g[i] = (unsigned)a->b[2 * i] << 8 | a->b[2 * i + 1];
		run = g[i] == 0 ? run + 1 : 0;
		if (run > bestlen) {
			bestlen = run;
			best = i - run + 1;
		}
	}
	if (bestlen < 2)
		best = -1;
	for (i = 0; i < 8; i++) {
		if (i == best) {
			*o++ = ':';
			if (i == 0)
				*o++ = ':';
			i += bestlen - 1;
			continue;
		}
		for (n = 12; n > 0 && (g[i] >> n) == 0; n -= 4)
			;
		for (; n >= 0; n -= 4)
			*o++ = hex[(g[i] >> n) & 15];
		if (i < 7)
			*o++ = ':';
	}
	*o = '\0';
}

/* Parse an AS number: digits, optionally after "AS"; 1..4294967295. */
int
asset_asn_parse(const char *s, uint32_t *asn)
{
	unsigned long long	 v = 0;
	const char		*p = s;

	if (strncasecmp(p, "AS", 2) == 0)
		p += 2;
	if (*p < '0' || *p > '9' || (*p == '0' && p[1] != '\0'))
		return (-1);
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return (-1);
		v = v * 10 + (unsigned)(*p - '0');
		if (v > 4294967295ULL)
			return (-1);
	}
	if (v == 0)
		return (-1);
	*asn = (uint32_t)v;
	return (0);
}

/*
 * Normalise a host or domain name: lower case, no trailing dot, labels of
 * 1 to 63 letters, digits and hyphens (not first or last), 253 bytes at
 * most. STRICT (registered assets) also refuses underscores and names of a
 * single label (a whole top-level domain is no one's); observed names may
 * carry underscores (_dmarc.example.be). 0 and OUT, or -1 and *why.
 */
int
asset_domain_normalise(const char *in, int strict, char *out, size_t outlen,
    const char **why)
{
	size_t		 len = strlen(in), i, label = 0, labels = 1;
	unsigned char	 c;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0) {
		*why = "is empty";
		return (-1);
	}
	if (len > 253 || len >= outlen) {
		*why = "is longer than 253 characters";
		return (-1);
	}
	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		if (c == '.') {
			if (label == 0) {
				*why = "has an empty label";
				return (-1);
			}
			if (out[i - 1] == '-') {
				*why = "has a label ending with a hyphen";
				return (-1);
			}
			labels++;
			label = 0;
			out[i] = '.';
			continue;
		}
		if (c >= 0x80) {
			*why = "must be in ASCII (A-labels, xn--...)";
			return (-1);
		}
		c = (unsigned char)tolower(c);
		if (!(isalnum(c) || c == '-' || (c == '_' && !strict))) {
			*why = "may hold only letters, digits, hyphens and "
			    "dots";
			return (-1);
		}
		if (c == '-' && label == 0) {
			*why = "has a label starting with a hyphen";
			return (-1);
		}
		if (++label > 63) {
			*why = "has a label longer than 63 characters";
			return (-1);
		}
		out[i] = (char)c;
	}
	if (out[len - 1] == '-') {
		*why = "has a label ending with a hyphen";
		return (-1);
	}
	if (strict && labels < 2) {
		*why = "must have at least two labels (example.be)";
		return (-1);
	}
	out[len] = '\0';
	return (0);
}

/*
 * Parse "address/length" (a bare address is a host: /32 or /128). Host
 * bits must be zero: 192.0.2.1/24 is refused rather than guessed at, since
 * it may as well be a typo for 192.0.2.1/32. 0 or -1 and *why.
 */
static int
asset_cidr_parse(const char *s, struct asset_addr *a, unsigned *lenp,
    const char **why)
{
	char		 buf[64], *slash, *end;
	unsigned long	 len;
	unsigned	 max, i;

	if (strlen(s) >= sizeof buf) {
		*why = "is not a CIDR prefix (address/length)";
		return (-1);
	}
	snprintf(buf, sizeof buf, "%s", s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	if (asset_addr_parse(buf, a) != 0) {
		*why = "is not a CIDR prefix (address/length)";
		return (-1);
	}
	if (strchr(buf, ':') != NULL && !a->v6) {
		*why = "is IPv4-mapped: register the IPv4 prefix";
		return (-1);
	}
	max = a->v6 ? 128 : 32;
	if (slash == NULL)
		len = max;
	else {
		if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3) {
			*why = "has no valid prefix length";
			return (-1);
		}
		len = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || len > max) {
			*why = "has no valid prefix length";
			return (-1);
		}
	}
	if (len < (a->v6 ? ASSET_MIN_LEN_V6 : ASSET_MIN_LEN_V4)) {
		*why = a->v6 ? "is shorter than /16" : "is shorter than /8";
		return (-1);
	}
	for (i = (unsigned)len; i < max; i++) {
		if (a->b[i / 8] & (0x80 >> (i % 8))) {
			*why = "has host bits set (give the network address)";
			return (-1);
		}
	}
	*lenp = (unsigned)len;
	return (0);
}

/*
 * Normalise an asset value of TYPE into OUT (TOCSIN_ASSET_VALUE_MAX bytes
 * is enough): the network in canonical text with its length, the AS number
 * as a decimal number, the domain in lower case without a trailing dot.
 * 0, or -1 and *why (a static phrase to follow "value ").
 */
int
asset_normalise(enum asset_type type, const char *in, char *out,
    size_t outlen, const char **why)
{
	struct asset_addr	 a;
	char			 text[INET6_ADDRSTRLEN];
	unsigned		 len;
	uint32_t		 asn;

	switch (type) {
	case ASSET_CIDR:
		if (asset_cidr_parse(in, &a, &len, why) != 0)
			return (-1);
		asset_addr_format(&a, text, sizeof text);
		if ((size_t)snprintf(out, outlen, "%s/%u", text, len) >=
		    outlen) {
			*why = "is too long";
			return (-1);
		}
		return (0);
	case ASSET_ASN:
		if (asset_asn_parse(in, &asn) != 0) {
			*why = "must be an AS number from 1 to 4294967295";
			return (-1);
		}
		snprintf(out, outlen, "%u", asn);
		return (0);
	case ASSET_DOMAIN:
		return (asset_domain_normalise(in, 1, out, outlen, why));
	default:
		*why = "has an unknown type";
		return (-1);
	}
}

/* Keys. */

static int
am_key_cmp(const struct am_key *a, const struct am_key *b)
{
	if (a->hi != b->hi)
		return (a->hi < b->hi ? -1 : 1);
	if (a->lo != b->lo)
		return (a->lo < b->lo ? -1 : 1);
	return (0);
}

/* IPv4 addresses sit in the low 32 bits, IPv6 use all 128. */
static void
am_key_from(const struct asset_addr *a, struct am_key *k)
{
	int	i;

	k->hi = k->lo = 0;
	if (!a->v6) {
		k->lo = (uint64_t)a->b[0] << 24 | (uint64_t)a->b[1] << 16 |
		    (uint64_t)a->b[2] << 8 | a->b[3];
		return;
	}
	for (i = 0; i < 8; i++) {
		k->hi = k->hi << 8 | a->b[i];
		k->lo = k->lo << 8 | a->b[8 + i];
	}
}

/* The last address of the prefix START/LEN in a family WIDTH bits wide. */
static void
am_key_end(const struct am_key *start, unsigned len, unsigned width,
    struct am_key *end)
{
	unsigned	host = width - len;

	*end = *start;
	if (host >= 64) {
		end->lo = ~(uint64_t)0;
		if (host == 128)
			end->hi = ~(uint64_t)0;
		else if (host > 64)
			end->hi |= ((uint64_t)1 << (host - 64)) - 1;
	} else if (host > 0)
		end->lo |= ((uint64_t)1 << host) - 1;
}

static void
am_key_inc(struct am_key *k)
{
	if (++k->lo == 0)
		k->hi++;
}

/* A new, empty matcher (one reference). */
struct assetmatch *
assetmatch_new(void)
{
	struct assetmatch	*m;

	m = xcalloc(1, sizeof *m);
	m->refs = 1;
	m->v4.max.lo = 0xffffffffULL;
	m->v6.max.hi = m->v6.max.lo = ~(uint64_t)0;
	return (m);
}

/* One more reference (any thread). */
struct assetmatch *
assetmatch_ref(struct assetmatch *m)
{
	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	return (m);
}

/* Drop a reference; the last one frees (NULL is fine). */
void
assetmatch_unref(struct assetmatch *m)
{
	size_t	i;

	if (m == NULL || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(m->v4.v);
	free(m->v4.b);
	free(m->v4.samp);
	free(m->v6.v);
	free(m->v6.b);
	free(m->v6.samp);
	for (i = 0; i < m->dom_n; i++)
		free(m->names[i]);
	free(m->names);
	free(m->dom);
	free(m->asn);
	free(m);
}

static void
am_family_add(struct am_family *f, const struct am_key *start, unsigned len,
    unsigned width, size_t seq, int64_t org)
{
	struct am_prefix	*p;

	if (f->n == f->cap) {
		f->cap = f->cap == 0 ? 64 : f->cap * 2;
		f->v = xrealloc(f->v, f->cap * sizeof *f->v);
	}
	p = &f->v[f->n++];
	p->start = *start;
	am_key_end(start, len, width, &p->end);
	p->len = len;
	p->seq = seq;
	p->org = org;
}

static uint32_t
am_hash(const char *s, size_t len)
{
	uint32_t	h = 2166136261u;
	size_t		i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return (h);
}

/* The slot of NAME (LEN bytes) in the table: its entry or an empty one. */
static struct am_domain *
am_domain_slot(struct am_domain *tab, size_t cap, const char *name,
    size_t len, uint32_t h)
{
	size_t	i = h & (cap - 1);

	for (;;) {
		struct am_domain *d = &tab[i];
		if (d->name == NULL || (d->hash == h &&
		    strncmp(d->name, name, len) == 0 && d->name[len] == '\0'))
			return (d);
		i = (i + 1) & (cap - 1);
	}
}

static void
am_domain_add(struct assetmatch *m, const char *name, int64_t org)
{
	struct am_domain	*old = m->dom, *d;
	size_t			 oldcap = m->dom_cap, i;
	size_t			 len = strlen(name);
	uint32_t		 h = am_hash(name, len);

	if (2 * (m->dom_n + 1) > m->dom_cap) {
		m->dom_cap = oldcap == 0 ? 64 : oldcap * 2;
		m->dom = xcalloc(m->dom_cap, sizeof *m->dom);
		for (i = 0; i < oldcap; i++) {
			if (old[i].name == NULL)
				continue;
			d = am_domain_slot(m->dom, m->dom_cap, old[i].name,
			    strlen(old[i].name), old[i].hash);
			*d = old[i];
		}
		free(old);
	}
	d = am_domain_slot(m->dom, m->dom_cap, name, len, h);
	if (d->name != NULL)
		return;		/* registered already: the first wins */
	m->names = xrealloc(m->names, (m->dom_n + 1) * sizeof *m->names);
	m->names[m->dom_n] = xstrdup(name);
	d->name = m->names[m->dom_n++];
	d->hash = h;
	d->org = org;
}

/*
 * Add one asset of organisation ORG. Only approved assets are taken: a
 * proposed or rejected one is skipped here whatever the caller loaded, so
 * that it can never match. 0 (added or skipped), or -1 and *why when the
 * value is not valid for its type.
 */
int
assetmatch_add(struct assetmatch *m, enum asset_type type,
    enum asset_status status, const char *value, int64_t org,
    const char **why)
{
	struct asset_addr	 a;
	struct am_key		 k;
	char			 buf[TOCSIN_ASSET_VALUE_MAX];
	unsigned		 len;
	uint32_t		 asn;

	if (m->built) {
		*why = "matcher already built";
		return (-1);
	}
	switch (type) {
	case ASSET_CIDR:
		if (asset_cidr_parse(value, &a, &len, why) != 0)
			return (-1);
		break;
	case ASSET_ASN:
		if (asset_asn_parse(value, &asn) != 0) {
			*why = "must be an AS number from 1 to 4294967295";
			return (-1);
		}
		break;
	case ASSET_DOMAIN:
		if (asset_domain_normalise(value, 1, buf, sizeof buf, why) != 0)
			return (-1);
		break;
	default:
		*why = "has an unknown type";
		return (-1);
	}
	if (status != ASSET_APPROVED || org <= 0)
		return (0);
	m->n_assets++;
	m->seq++;
	switch (type) {
	case ASSET_CIDR:
		am_key_from(&a, &k);
		if (a.v6)
			am_family_add(&m->v6, &k, len, 128, m->seq, org);
		else
			am_family_add(&m->v4, &k, len, 32, m->seq, org);
		break;
	case ASSET_ASN:
		if (m->n_asn == m->cap_asn) {
			m->cap_asn = m->cap_asn == 0 ? 16 : m->cap_asn * 2;
			m->asn = xrealloc(m->asn, m->cap_asn * sizeof *m->asn);
		}
		m->asn[m->n_asn].asn = asn;
		m->asn[m->n_asn].seq = m->seq;
		m->asn[m->n_asn++].org = org;
		break;
	default:
		am_domain_add(m, buf, org);
		break;
	}
	return (0);
}

/*
 * Start ascending; of prefixes with the same start the shorter (enclosing)
 * first; of identical prefixes the later-added first, so that the one
 * added first ends up innermost and wins.
 */
static int
am_prefix_cmp(const void *va, const void *vb)
{
	const struct am_prefix	*a = va, *b = vb;
	int			 c;

	if ((c = am_key_cmp(&a->start, &b->start)) != 0)
		return (c);
	if (a->len != b->len)
		return (a->len < b->len ? -1 : 1);
	return (a->seq > b->seq ? -1 : a->seq < b->seq);
}

/* Append (or, at the same address, overwrite) a bound. */
static void
am_bound_emit(struct am_family *f, const struct am_key *at, int64_t org)
{
	if (f->nb > 0 && am_key_cmp(&f->b[f->nb - 1].at, at) == 0) {
		f->b[f->nb - 1].org = org;
		/* Merge with the bound before if it now says the same. */
		if (f->nb > 1 && f->b[f->nb - 2].org == org)
			f->nb--;
		return;
	}
	if (f->nb > 0 && f->b[f->nb - 1].org == org)
		return;
	f->b[f->nb].at = *at;
	f->b[f->nb++].org = org;
}

/* Close the innermost open prefix: after its end, its parent owns. */
static void
am_family_pop(struct am_family *f, struct am_prefix **stack, size_t *depth)
{
	struct am_prefix	*t = stack[--*depth];
	struct am_key		 next;

	if (am_key_cmp(&t->end, &f->max) == 0)
		return;		/* nothing after the last address */
	next = t->end;
	am_key_inc(&next);
	am_bound_emit(f, &next, *depth > 0 ? stack[*depth - 1]->org : 0);
}

/*
 * The sweep: prefixes in order; every prefix opens where it starts (its
 * owner from there), closes after its end (its parent's owner again).
 * Since CIDR prefixes never partly overlap, an open prefix that does not
 * contain the next start has ended before it.
 */
static void
am_family_build(struct am_family *f)
{
	struct am_prefix	**stack;
	size_t			  depth = 0, i;

	if (f->n > 1)
		qsort(f->v, f->n, sizeof *f->v, am_prefix_cmp);
	f->b = xcalloc(2 * f->n + 1, sizeof *f->b);
	f->nb = 0;
	stack = xcalloc(f->n + 1, sizeof *stack);
	for (i = 0; i < f->n; i++) {
		while (depth > 0 &&
		    am_key_cmp(&stack[depth - 1]->end, &f->v[i].start) < 0)
			am_family_pop(f, stack, &depth);
		am_bound_emit(f, &f->v[i].start, f->v[i].org);
		stack[depth++] = &f->v[i];
	}
	while (depth > 0)
		am_family_pop(f, stack, &depth);
	free(stack);
	free(f->v);
	f->v = NULL;
	f->n = f->cap = 0;
	f->ns = (f->nb + AM_STRIDE - 1) / AM_STRIDE;
	f->samp = xcalloc(f->ns + 1, sizeof *f->samp);
	for (i = 0; i < f->ns; i++)
		f->samp[i] = f->b[i * AM_STRIDE].at;
}

static int
am_asn_cmp(const void *va, const void *vb)
{
	const struct am_asn	*a = va, *b = vb;

	if (a->asn != b->asn)
		return (a->asn < b->asn ? -1 : 1);
	return (a->seq < b->seq ? -1 : a->seq > b->seq);
}

/* Done adding: build the lookup structures. */
void
assetmatch_build(struct assetmatch *m)
{
	size_t	i, n = 0;

	if (m->built)
		return;
	am_family_build(&m->v4);
	am_family_build(&m->v6);
	if (m->n_asn > 1)
		qsort(m->asn, m->n_asn, sizeof *m->asn, am_asn_cmp);
	for (i = 0; i < m->n_asn; i++) {
		if (n > 0 && m->asn[n - 1].asn == m->asn[i].asn)
			continue;	/* the first added wins */
		m->asn[n++] = m->asn[i];
	}
	m->n_asn = n;
	m->built = 1;
}

/* How many approved assets the matcher holds. */
size_t
assetmatch_count(const struct assetmatch *m)
{
	return (m->n_assets);
}

/* The owner at K: that of the last bound at or before K. */
static int64_t
am_family_find(const struct am_family *f, const struct am_key *k)
{
	size_t	lo = 0, hi = f->ns, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (am_key_cmp(&f->samp[mid], k) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return (0);	/* before the first bound */
	/* In block lo - 1, whose first bound is at or before K. */
	hi = lo * AM_STRIDE < f->nb ? lo * AM_STRIDE : f->nb;
	lo = (lo - 1) * AM_STRIDE + 1;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (am_key_cmp(&f->b[mid].at, k) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (f->b[lo - 1].org);
}

static int64_t
am_asn_find(const struct assetmatch *m, uint32_t asn)
{
	size_t	lo = 0, hi = m->n_asn, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (m->asn[mid].asn == asn)
			return (m->asn[mid].org);
		if (m->asn[mid].asn < asn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (0);
}

/*
 * The owner of an address: the organisation of the longest approved
 * prefix containing it; if none, the owner of ASN (0: not known). 0 if
 * no one; *how (may be NULL) says which matched.
 */
int64_t
assetmatch_ip(const struct assetmatch *m, const struct asset_addr *a,
    uint32_t asn, enum asset_type *how)
{
	struct am_key	 k;
	int64_t		 org;

	am_key_from(a, &k);
	org = am_family_find(a->v6 ? &m->v6 : &m->v4, &k);
	if (org != 0) {
		if (how != NULL)
			*how = ASSET_CIDR;
		return (org);
	}
	if (asn != 0 && (org = am_asn_find(m, asn)) != 0) {
		if (how != NULL)
			*how = ASSET_ASN;
		return (org);
	}
	return (0);
}

/* The owner of the AS number alone, or 0. */
int64_t
assetmatch_asn(const struct assetmatch *m, uint32_t asn)
{
	return (am_asn_find(m, asn));
}

/*
 * The owner of a normalised name: the longest registered domain that is
 * the name or one of its parents at a label boundary (a.b.example.be is
 * example.be's unless b.example.be is registered; notexample.be is never
 * example.be's). 0 if no one.
 */
int64_t
assetmatch_domain(const struct assetmatch *m, const char *name)
{
	const char		*p = name;
	struct am_domain	*d;
	size_t			 len;

	if (m->dom_cap == 0)
		return (0);
	while (*p != '\0') {
		len = strlen(p);
		d = am_domain_slot(m->dom, m->dom_cap, p, len, am_hash(p, len));
		if (d->name != NULL)
			return (d->org);
		if ((p = strchr(p, '.')) == NULL)
			break;
		p++;
	}
	return (0);
}
