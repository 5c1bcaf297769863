/*
 * warning.c: the spear warning's pieces that need no database: the head
 * (title, description, category, label, severity) checked the same way for
 * POST /v1/warnings and for imports, each observation checked, normalised
 * and attributed to its owner through an assetmatch, and the batch that
 * gathers, per owning organisation, the observations it alone will see.
 *
 * Observations are kept as compact JSON text, not jansson values: an import
 * of a million rows then costs a hundred bytes per matched row, and nothing
 * per unmatched one. The batch splits an organisation's observations over
 * several warnings ("part" i of "parts") when they would exceed a byte
 * bound, so that every event fits the stream's send queue.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tocsind.h"

#define WARNING_TITLE_MAX	300
#define WARNING_DESCRIPTION_MAX	10000
#define WARNING_CATEGORY_MAX	100

static const char *const warning_obs_members[] = {
	"ip", "domain", "email", "port", "asn", "timestamp", "details", NULL
};

/* Growable text. */

/* Append LEN bytes of S, keeping the text NUL-terminated. */
void
wbuf_add(struct wbuf *b, const char *s, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		b->cap = b->cap == 0 ? 256 : b->cap;
		while (b->len + len + 1 > b->cap)
			b->cap *= 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

/* Append a string. */
void
wbuf_str(struct wbuf *b, const char *s)
{
	wbuf_add(b, s, strlen(s));
}

/* Append N in decimal (snprintf shows in a million-row import). */
void
wbuf_uint(struct wbuf *b, unsigned long long n)
{
	char	buf[24], *p = buf + sizeof buf;

	do {
		*--p = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	wbuf_add(b, p, (size_t)(buf + sizeof buf - p));
}

/* Free the text and empty the buffer. */
void
wbuf_free(struct wbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* Append S as a JSON string literal (S is valid UTF-8). */
void
wbuf_json_string(struct wbuf *b, const char *s)
{
	static const char	 hex[] = "0123456789abcdef";
	const char		*run = s;
	char			 esc[7];
	unsigned char		 c;

	wbuf_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		wbuf_add(b, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"':
			wbuf_add(b, "\\\"", 2);
			break;
		case '\\':
			wbuf_add(b, "\\\\", 2);
			break;
		case '\n':
			wbuf_add(b, "\\n", 2);
			break;
		case '\r':
			wbuf_add(b, "\\r", 2);
			break;
		case '\t':
			wbuf_add(b, "\\t", 2);
			break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			wbuf_add(b, esc, 6);
			break;
		}
	}
	wbuf_add(b, run, (size_t)(s - run));
	wbuf_add(b, "\"", 1);
}

/* Is S valid UTF-8 (shortest forms, no surrogates, at most U+10FFFF)? */
int
warning_utf8_ok(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	unsigned		 cp, n, i;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0) {
			n = 1;
			cp = *p & 0x1f;
		} else if ((*p & 0xf0) == 0xe0) {
			n = 2;
			cp = *p & 0x0f;
		} else if ((*p & 0xf8) == 0xf0) {
			n = 3;
			cp = *p & 0x07;
		} else
			return (0);
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return (0);
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return (0);
		p += n + 1;
	}
	return (1);
}

/* Text without control characters (but \n \r \t when MULTILINE). */
static int
warning_text_ok(const char *s, int multiline, size_t max, int required)
{
	const unsigned char	*p;
	size_t			 chars = 0;
	int			 visible = 0;

	if (!warning_utf8_ok(s))
		return (0);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p < 0x20 && !(multiline && (*p == '\n' || *p == '\r' ||
		    *p == '\t'))) || *p == 0x7f)
			return (0);
		if ((*p & 0xc0) != 0x80)
			chars++;
		if (!isspace(*p))
			visible = 1;
	}
	return (chars <= max && (visible || !required));
}

static int
warning_digits(const char *s, int n)
{
	int	i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return (0);
	}
	return (1);
}

/*
 * Normalise a timestamp into RFC 3339 with "T" and an upper-case "Z" or
 * offset: "YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|+hh:mm]". A time without zone is
 * UTC, as Shadowserver writes it. 0, or -1 if S is none.
 */
int
warning_timestamp_normalise(const char *s, char *out, size_t outlen)
{
	const char	*p;
	size_t		 len = strlen(s);
	int		 mon, day, hour, min, sec;

	if (len < 19 || len + 2 > outlen || !warning_digits(s, 4) ||
	    s[4] != '-' || !warning_digits(s + 5, 2) || s[7] != '-' ||
	    !warning_digits(s + 8, 2) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !warning_digits(s + 11, 2) || s[13] != ':' ||
	    !warning_digits(s + 14, 2) || s[16] != ':' ||
	    !warning_digits(s + 17, 2))
		return (-1);
	mon = atoi(s + 5);
	day = atoi(s + 8);
	hour = atoi(s + 11);
	min = atoi(s + 14);
	sec = atoi(s + 17);
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 ||
	    min > 59 || sec > 60)
		return (-1);
	p = s + 19;
	if (*p == '.') {
		if (!isdigit((unsigned char)p[1]))
			return (-1);
		for (p++; isdigit((unsigned char)*p); p++)
			;
	}
	memcpy(out, s, (size_t)(p - s));
	out[10] = 'T';
	out += p - s;
	if (*p == '\0')
		memcpy(out, "Z", 2);
	else if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		memcpy(out, "Z", 2);
	else if ((*p == '+' || *p == '-') && warning_digits(p + 1, 2) &&
	    p[3] == ':' && warning_digits(p + 4, 2) && p[6] == '\0' &&
	    atoi(p + 1) <= 23 && atoi(p + 4) <= 59)
		memcpy(out, p, 7);
	else
		return (-1);
	return (0);
}

/*
 * Check a warning's head; strings are borrowed. TLP: a warning carries one
 * organisation's data, so it is AMBER or AMBER+STRICT: a RED item names
 * people, not an organisation, and a CLEAR or GREEN one would reach every
 * subscriber whose filter matches, the owner's addresses with it.
 */
int
warning_head_check(struct warning_head *h, const char *tlp,
    const char *severity, struct field_error *err)
{
	enum severity	sev;

	if (h->title == NULL)
		return (field_fail(err, "title", "title: required"));
	if (!warning_text_ok(h->title, 0, WARNING_TITLE_MAX, 1))
		return (field_fail(err, "title", "title: 1 to %d characters "
		    "of UTF-8 text on one line", WARNING_TITLE_MAX));
	if (h->description == NULL)
		h->description = "";
	if (!warning_text_ok(h->description, 1, WARNING_DESCRIPTION_MAX, 0))
		return (field_fail(err, "description", "description: at "
		    "most %d characters of UTF-8 text",
		    WARNING_DESCRIPTION_MAX));
	if (h->category == NULL)
		h->category = "";
	if (!warning_text_ok(h->category, 0, WARNING_CATEGORY_MAX, 0))
		return (field_fail(err, "category", "category: at most %d "
		    "characters of UTF-8 text on one line",
		    WARNING_CATEGORY_MAX));
	h->tlp = TLP_AMBER_STRICT;
	if (tlp != NULL && (tlp_parse(tlp, &h->tlp) != 0 ||
	    (h->tlp != TLP_AMBER && h->tlp != TLP_AMBER_STRICT)))
		return (field_fail(err, "tlp", "tlp: a warning is AMBER or "
		    "AMBER+STRICT (the default): it carries one "
		    "organisation's data"));
	h->severity = SEV_HIGH;
	if (severity != NULL) {
		if (severity_parse(severity, &sev) != 0)
			return (field_fail(err, "severity", "severity: one "
			    "of low, medium, high, critical"));
		h->severity = sev;
	}
	return (0);
}

/*
 * The owner of an observation's key, or 0: the longest prefix of its
 * address, else the registered domain of its name (a report's hostname
 * beside the address), else the owner of its AS number, the coarsest.
 */
int64_t
warning_attribute(const struct assetmatch *m, const struct warning_key *k)
{
	int64_t	org = 0;

	if (k->has_addr)
		org = assetmatch_ip(m, &k->addr, 0, NULL);
	if (org == 0 && k->domain[0] != '\0')
		org = assetmatch_domain(m, k->domain);
	if (org == 0 && k->has_addr && k->asn != 0)
		org = assetmatch_asn(m, k->asn);
	return (org);
}

/*
 * Check one observation of POST /v1/warnings (element I of the array) and
 * write its normal form as JSON text into OUT and its key into K. Members:
 * exactly one of ip, domain, email; timestamp; port, asn, details
 * optional. 0, or -1 and ERR naming the member.
 */
int
warning_obs_from_json(json_t *o, size_t i, struct warning_key *k,
    struct wbuf *out, struct field_error *err)
{
	const char	*key, *s, *at, *why;
	char		 f[48], ts[64], text[64];
	json_t		*v, *d;
	json_int_t	 n;
	size_t		 j, keys = 0;
	char		*dump;

	memset(k, 0, sizeof *k);
	snprintf(f, sizeof f, "observations[%zu]", i);
	if (!json_is_object(o))
		return (field_fail(err, f, "%s: must be an object", f));
	json_object_foreach(o, key, v) {
		for (j = 0; warning_obs_members[j] != NULL; j++) {
			if (strcmp(key, warning_obs_members[j]) == 0)
				break;
		}
		if (warning_obs_members[j] == NULL) {
			snprintf(f, sizeof f, "observations[%zu].%.20s", i,
			    key);
			return (field_fail(err, f, "%s: unknown member "
			    "(allowed: ip, domain, email, port, asn, "
			    "timestamp, details)", f));
		}
		if (strcmp(key, "ip") == 0 || strcmp(key, "domain") == 0 ||
		    strcmp(key, "email") == 0)
			keys++;
	}
	if (keys != 1)
		return (field_fail(err, f, "%s: give exactly one of ip, "
		    "domain, email", f));
	wbuf_add(out, "{", 1);
	if ((v = json_object_get(o, "ip")) != NULL) {
		snprintf(f, sizeof f, "observations[%zu].ip", i);
		if ((s = api_string(v)) == NULL ||
		    asset_addr_parse(s, &k->addr) != 0)
			return (field_fail(err, f, "%s: not an IPv4 or IPv6 "
			    "address", f));
		k->has_addr = 1;
		asset_addr_format(&k->addr, text, sizeof text);
		wbuf_str(out, "\"ip\":");
		wbuf_json_string(out, text);
	} else if ((v = json_object_get(o, "domain")) != NULL) {
		snprintf(f, sizeof f, "observations[%zu].domain", i);
		if ((s = api_string(v)) == NULL || asset_domain_normalise(s, 0,
		    k->domain, sizeof k->domain, &why) != 0)
			return (field_fail(err, f, "%s: not a domain name",
			    f));
		wbuf_str(out, "\"domain\":");
		wbuf_json_string(out, k->domain);
	} else {
		v = json_object_get(o, "email");
		snprintf(f, sizeof f, "observations[%zu].email", i);
		if ((s = api_string(v)) == NULL || !api_valid_email(s) ||
		    (at = strrchr(s, '@')) == NULL ||
		    asset_domain_normalise(at + 1, 0, k->domain,
		    sizeof k->domain, &why) != 0 || !warning_utf8_ok(s))
			return (field_fail(err, f, "%s: not an e-mail "
			    "address", f));
		wbuf_str(out, "\"email\":");
		wbuf_json_string(out, s);
	}
	if ((v = json_object_get(o, "port")) != NULL) {
		snprintf(f, sizeof f, "observations[%zu].port", i);
		if (!json_is_integer(v) || (n = json_integer_value(v)) < 0 ||
		    n > 65535)
			return (field_fail(err, f, "%s: an integer from 0 to "
			    "65535", f));
		snprintf(text, sizeof text, ",\"port\":%d", (int)n);
		wbuf_str(out, text);
	}
	if ((v = json_object_get(o, "asn")) != NULL) {
		snprintf(f, sizeof f, "observations[%zu].asn", i);
		if (!json_is_integer(v) || (n = json_integer_value(v)) < 1 ||
		    n > 4294967295LL)
			return (field_fail(err, f, "%s: an AS number from 1 "
			    "to 4294967295", f));
		k->asn = (uint32_t)n;
		snprintf(text, sizeof text, ",\"asn\":%u", k->asn);
		wbuf_str(out, text);
	}
	snprintf(f, sizeof f, "observations[%zu].timestamp", i);
	if ((v = json_object_get(o, "timestamp")) == NULL)
		return (field_fail(err, f, "%s: required", f));
	if ((s = api_string(v)) == NULL ||
	    warning_timestamp_normalise(s, ts, sizeof ts) != 0)
		return (field_fail(err, f, "%s: an RFC 3339 date-time such "
		    "as 2026-01-31T08:00:00Z", f));
	wbuf_str(out, ",\"timestamp\":");
	wbuf_json_string(out, ts);
	if ((d = json_object_get(o, "details")) != NULL) {
		snprintf(f, sizeof f, "observations[%zu].details", i);
		if (!json_is_object(d))
			return (field_fail(err, f, "%s: must be an object",
			    f));
		/* jsonb refuses \u0000; so does the rest of the API. */
		if ((dump = json_dumps(d, JSON_COMPACT)) == NULL ||
		    strstr(dump, "\\u0000") != NULL) {
			free(dump);
			return (field_fail(err, f, "%s: must not hold NUL "
			    "characters", f));
		}
		wbuf_str(out, ",\"details\":");
		wbuf_str(out, dump);
		free(dump);
	}
	wbuf_add(out, "}", 1);
	return (0);
}

/* Shadowserver columns with a meaning of their own; the rest is details. */
enum { SS_TIMESTAMP, SS_IP, SS_PORT, SS_ASN, SS_HOSTNAME, SS__KNOWN };
static const char *const warning_ss_known[SS__KNOWN] = {
	"timestamp", "ip", "port", "asn", "hostname"
};

/*
 * Read a Shadowserver report's header row: column names (case-insensitive,
 * blanks around them ignored), "timestamp" and one of "ip", "hostname"
 * required, no name twice. 0, or -1 and *why.
 */
int
warning_ss_header(struct warning_ss *ss, const char *const *fields, size_t n,
    const char **why)
{
	size_t	i, j, a, b;

	memset(ss, 0, sizeof *ss);
	for (i = 0; i < SS__KNOWN; i++)
		ss->col[i] = -1;
	ss->names = xcalloc(n, sizeof *ss->names);
	ss->n = n;
	for (i = 0; i < n; i++) {
		a = strspn(fields[i], " \t");
		b = strlen(fields[i]);
		while (b > a && (fields[i][b - 1] == ' ' ||
		    fields[i][b - 1] == '\t'))
			b--;
		ss->names[i] = xstrndup(fields[i] + a, b - a);
		for (j = 0; ss->names[i][j] != '\0'; j++)
			ss->names[i][j] = (char)tolower(
			    (unsigned char)ss->names[i][j]);
		if (b == a || !warning_text_ok(ss->names[i], 0, 200, 1)) {
			*why = "a column has no name, or not one of text";
			goto fail;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(ss->names[i], ss->names[j]) == 0) {
				*why = "a column name is given twice";
				goto fail;
			}
		}
		for (j = 0; j < SS__KNOWN; j++) {
			if (strcmp(ss->names[i], warning_ss_known[j]) == 0)
				ss->col[j] = (int)i;
		}
	}
	if (ss->col[SS_TIMESTAMP] < 0) {
		*why = "the header names no timestamp column";
		goto fail;
	}
	if (ss->col[SS_IP] < 0 && ss->col[SS_HOSTNAME] < 0) {
		*why = "the header names no ip or hostname column";
		goto fail;
	}
	/* Pre-render each column's "name": for details. */
	ss->keys = xcalloc(n, sizeof *ss->keys);
	for (i = 0; i < n; i++) {
		struct wbuf kb;

		memset(&kb, 0, sizeof kb);
		wbuf_json_string(&kb, ss->names[i]);
		wbuf_add(&kb, ":", 1);
		ss->keys[i] = kb.p;
	}
	return (0);
fail:
	warning_ss_clear(ss);
	return (-1);
}

/* Free what a header holds and zero it. */
void
warning_ss_clear(struct warning_ss *ss)
{
	size_t	i;

	for (i = 0; i < ss->n; i++) {
		free(ss->names[i]);
		if (ss->keys != NULL)
			free(ss->keys[i]);
	}
	free(ss->names);
	free(ss->keys);
	memset(ss, 0, sizeof *ss);
}

/*
 * One data row of a Shadowserver report: check it, attribute it, and for a
 * row with an owner write its observation into OUT; the owner is found
 * by warning_attribute(). *org: the owner, 0 for none. 0, or -1 and *why
 * when the row is malformed (then nothing is written).
 */
int
warning_ss_row(const struct warning_ss *ss, const struct assetmatch *m,
    const char *const *fields, size_t n, int64_t *org, struct wbuf *out,
    const char **why)
{
	struct warning_key	 k;
	const char		*ip, *port, *asn, *host, *ts;
	char			 tsbuf[64], text[64], *end;
	unsigned long		 portv = 0;
	size_t			 i;
	int			 first = 1;

	*org = 0;
	if (n != ss->n) {
		*why = "wrong number of fields";
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (!warning_utf8_ok(fields[i])) {
			*why = "not UTF-8";
			return (-1);
		}
	}
	memset(&k, 0, sizeof k);
	ts = fields[ss->col[SS_TIMESTAMP]];
	ip = ss->col[SS_IP] >= 0 ? fields[ss->col[SS_IP]] : "";
	port = ss->col[SS_PORT] >= 0 ? fields[ss->col[SS_PORT]] : "";
	asn = ss->col[SS_ASN] >= 0 ? fields[ss->col[SS_ASN]] : "";
	host = ss->col[SS_HOSTNAME] >= 0 ? fields[ss->col[SS_HOSTNAME]] : "";
	if (warning_timestamp_normalise(ts, tsbuf, sizeof tsbuf) != 0) {
		*why = "bad timestamp";
		return (-1);
	}
	if (*ip != '\0') {
		if (asset_addr_parse(ip, &k.addr) != 0) {
			*why = "bad ip";
			return (-1);
		}
		k.has_addr = 1;
	}
	if (*port != '\0') {
		if (!isdigit((unsigned char)*port) || strlen(port) > 5 ||
		    (portv = strtoul(port, &end, 10)) > 65535 || *end != '\0') {
			*why = "bad port";
			return (-1);
		}
	}
	if (*asn != '\0' && asset_asn_parse(asn, &k.asn) != 0) {
		*why = "bad asn";
		return (-1);
	}
	if (*host != '\0' && asset_domain_normalise(host, 0, k.domain,
	    sizeof k.domain, why) != 0) {
		/* A hostname beside an address is a detail, not a key. */
		if (!k.has_addr) {
			*why = "bad hostname";
			return (-1);
		}
		k.domain[0] = '\0';
	}
	if (!k.has_addr && k.domain[0] == '\0') {
		*why = "no ip or hostname";
		return (-1);
	}
	if ((*org = warning_attribute(m, &k)) == 0)
		return (0);

	wbuf_add(out, "{", 1);
	if (k.has_addr) {
		asset_addr_format(&k.addr, text, sizeof text);
		wbuf_str(out, "\"ip\":");
		wbuf_json_string(out, text);
	} else {
		wbuf_str(out, "\"domain\":");
		wbuf_json_string(out, k.domain);
	}
	if (*port != '\0') {
		wbuf_add(out, ",\"port\":", 8);
		wbuf_uint(out, portv);
	}
	if (k.asn != 0) {
		wbuf_add(out, ",\"asn\":", 7);
		wbuf_uint(out, k.asn);
	}
	wbuf_str(out, ",\"timestamp\":");
	wbuf_json_string(out, tsbuf);
	wbuf_str(out, ",\"details\":{");
	for (i = 0; i < n; i++) {
		if ((int)i == ss->col[SS_TIMESTAMP] ||
		    (int)i == ss->col[SS_IP] ||
		    (int)i == ss->col[SS_PORT] || (int)i == ss->col[SS_ASN] ||
		    ((int)i == ss->col[SS_HOSTNAME] && !k.has_addr) ||
		    fields[i][0] == '\0')
			continue;
		if (!first)
			wbuf_add(out, ",", 1);
		first = 0;
		wbuf_str(out, ss->keys[i]);
		wbuf_json_string(out, fields[i]);
	}
	wbuf_add(out, "}}", 2);
	return (0);
}

/* The batch: per organisation, its parts of observations. */

/* A new batch whose warnings hold at most MAX_BYTES of observations. */
struct warning_batch *
warning_batch_new(size_t max_bytes)
{
	struct warning_batch	*b;

	b = xcalloc(1, sizeof *b);
	b->max_bytes = max_bytes < 1024 ? 1024 : max_bytes;
	return (b);
}

/* Free a batch and its parts (NULL is fine). */
void
warning_batch_free(struct warning_batch *b)
{
	size_t	i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n_parts; i++)
		wbuf_free(&b->parts[i].obs);
	free(b->parts);
	free(b->slots);
	free(b);
}

static size_t
warning_batch_hash(int64_t org, size_t cap)
{
	uint64_t	x = (uint64_t)org * 0x9e3779b97f4a7c15ULL;

	return ((size_t)(x >> 32) & (cap - 1));
}

/* The slot of ORG's chain (index+1 of its last part; 0: none yet). */
static size_t *
warning_batch_slot(struct warning_batch *b, int64_t org)
{
	size_t	i, *old = b->slots, oldcap = b->cap_slots, j;

	if (2 * (b->n_orgs + 1) > b->cap_slots) {
		b->cap_slots = oldcap == 0 ? 64 : oldcap * 2;
		b->slots = xcalloc(b->cap_slots, sizeof *b->slots);
		for (j = 0; j < oldcap; j++) {
			if (old[j] == 0)
				continue;
			i = warning_batch_hash(b->parts[old[j] - 1].org,
			    b->cap_slots);
			while (b->slots[i] != 0)
				i = (i + 1) & (b->cap_slots - 1);
			b->slots[i] = old[j];
		}
		free(old);
	}
	i = warning_batch_hash(org, b->cap_slots);
	while (b->slots[i] != 0 && b->parts[b->slots[i] - 1].org != org)
		i = (i + 1) & (b->cap_slots - 1);
	return (&b->slots[i]);
}

/* Add ORG's observation (LEN bytes of JSON text at OBS). */
void
warning_batch_add(struct warning_batch *b, int64_t org, const char *obs,
    size_t len)
{
	struct warning_part	*p;
	size_t			*slot = warning_batch_slot(b, org);

	p = *slot != 0 ? &b->parts[*slot - 1] : NULL;
	if (p == NULL ||
	    (p->count > 0 && p->obs.len + len + 2 > b->max_bytes)) {
		if (p == NULL)
			b->n_orgs++;
		if (b->n_parts == b->cap_parts) {
			b->cap_parts = b->cap_parts == 0 ? 16 :
			    b->cap_parts * 2;
			b->parts = xrealloc(b->parts,
			    b->cap_parts * sizeof *b->parts);
		}
		p = &b->parts[b->n_parts++];
		memset(p, 0, sizeof *p);
		p->org = org;
		wbuf_add(&p->obs, "[", 1);
		*slot = b->n_parts;
	}
	if (p->count > 0)
		wbuf_add(&p->obs, ",", 1);
	wbuf_add(&p->obs, obs, len);
	p->count++;
	b->matched++;
}

static int
warning_part_cmp(const void *va, const void *vb)
{
	const struct warning_part	*a = va, *c = vb;

	if (a->org != c->org)
		return (a->org < c->org ? -1 : 1);
	return (a->seq < c->seq ? -1 : a->seq > c->seq);
}

/*
 * Done adding: close every part's array, order the parts by organisation
 * (then in the order they filled) and number them within it.
 */
void
warning_batch_finish(struct warning_batch *b)
{
	size_t	i, j, k;

	for (i = 0; i < b->n_parts; i++) {
		wbuf_add(&b->parts[i].obs, "]", 1);
		b->parts[i].seq = i;
	}
	if (b->n_parts > 1)
		qsort(b->parts, b->n_parts, sizeof *b->parts,
		    warning_part_cmp);
	for (i = 0; i < b->n_parts; i = j) {
		for (j = i; j < b->n_parts &&
		    b->parts[j].org == b->parts[i].org; j++)
			b->parts[j].part = (int)(j - i + 1);
		for (k = i; k < j; k++)
			b->parts[k].parts = (int)(j - i);
	}
	free(b->slots);
	b->slots = NULL;
	b->cap_slots = 0;
}
