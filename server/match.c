/*
 * match.c: subscription filters (CONTRACT.md, "Subscription filter"): their
 * JSON form, and whether a filter matches an advisory. Every given field
 * must match; an empty filter matches everything. Visibility is not decided
 * here: the stream and the delivery workers ask tlp_may_see() first.
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tocsind.h"

static const char *const match_severity_names[SEV__COUNT] = {
	[SEV_LOW] = "low",
	[SEV_MEDIUM] = "medium",
	[SEV_HIGH] = "high",
	[SEV_CRITICAL] = "critical",
};

static const char *const match_members[] = {
	"sectors", "min_severity", "keywords", "cves", "products"
};

/* Parse a severity name; 0 or -1. */
int
severity_parse(const char *s, enum severity *sev)
{
	int	i;

	if (s == NULL)
		return (-1);
	for (i = 0; i < SEV__COUNT; i++) {
		if (strcmp(s, match_severity_names[i]) == 0) {
			*sev = (enum severity)i;
			return (0);
		}
	}
	return (-1);
}

/* The name of a severity ("unknown" if out of range). */
const char *
severity_name(enum severity sev)
{
	if ((unsigned)sev >= SEV__COUNT)
		return ("unknown");
	return (match_severity_names[sev]);
}

/* Is s a CVE identifier, CVE-YYYY-NNNN with four or more digits? */
static int
match_cve_valid(const char *s)
{
	size_t	i, n;

	if (strncasecmp(s, "CVE-", 4) != 0)
		return (0);
	for (i = 4; i < 8; i++) {
		if (!isdigit((unsigned char)s[i]))
			return (0);
	}
	if (s[8] != '-')
		return (0);
	for (n = 0; isdigit((unsigned char)s[9 + n]); n++)
		;
	return (n >= 4 && n <= 19 && s[9 + n] == '\0');
}

/* The part of a CPE name after "cpe:2.3:" or "cpe:/", or NULL. */
static const char *
match_cpe_body(const char *s)
{
	if (strncasecmp(s, "cpe:2.3:", 8) == 0)
		return (s + 8);
	if (strncasecmp(s, "cpe:/", 5) == 0)
		return (s + 5);
	return (NULL);
}

/* Does the string hold a non-space character? */
static int
match_has_text(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!isspace((unsigned char)*s))
			return (1);
	}
	return (0);
}

/* Parse a subscription filter (NULL: empty); on error -1 and *cause. */
int
filter_from_json(json_t *obj, struct filter *out, char **cause)
{
	const char	*key, *s;
	json_t		*v;
	size_t		 i, j;
	enum severity	 sev;
	int		 known;

	memset(out, 0, sizeof *out);
	out->min_severity = -1;
	*cause = NULL;
	if (obj == NULL)
		return (0);
	if (!json_is_object(obj)) {
		xasprintf(cause, "filter: must be an object");
		return (-1);
	}
	json_object_foreach(obj, key, v) {
		known = 0;
		for (i = 0; i < sizeof match_members / sizeof *match_members;
		    i++) {
			if (strcmp(key, match_members[i]) == 0)
				known = 1;
		}
		if (!known) {
			xasprintf(cause, "filter.%.64s: unknown member "
			    "(allowed: sectors, min_severity, keywords, cves, "
			    "products)", key);
			goto fail;
		}
	}

	if (json_string_array(json_object_get(obj, "sectors"), &out->sectors,
	    &out->n_sectors) != 0) {
		xasprintf(cause, "filter.sectors: must be an array of sector "
		    "tags");
		goto fail;
	}
	for (i = 0; i < out->n_sectors; i++) {
		if (!sector_valid(out->sectors[i])) {
			xasprintf(cause, "filter.sectors: unknown sector tag "
			    "\"%.64s\"", out->sectors[i]);
			goto fail;
		}
	}

	if ((v = json_object_get(obj, "min_severity")) != NULL) {
		if (!json_is_string(v) ||
		    severity_parse(json_string_value(v), &sev) != 0) {
			xasprintf(cause, "filter.min_severity: must be one of "
			    "low, medium, high, critical");
			goto fail;
		}
		out->min_severity = (int)sev;
	}

	if (json_string_array(json_object_get(obj, "keywords"),
	    &out->keywords, &out->n_keywords) != 0) {
		xasprintf(cause, "filter.keywords: must be an array of "
		    "non-empty strings");
		goto fail;
	}
	for (i = 0; i < out->n_keywords; i++) {
		if (!match_has_text(out->keywords[i])) {
			xasprintf(cause, "filter.keywords: must be an array of "
			    "non-empty strings");
			goto fail;
		}
	}

	if (json_string_array(json_object_get(obj, "cves"), &out->cves,
	    &out->n_cves) != 0) {
		xasprintf(cause, "filter.cves: must be an array of CVE "
		    "identifiers like CVE-2024-21762");
		goto fail;
	}
	for (i = 0; i < out->n_cves; i++) {
		if (!match_cve_valid(out->cves[i])) {
			xasprintf(cause, "filter.cves: \"%.64s\" is not a CVE "
			    "identifier like CVE-2024-21762", out->cves[i]);
			goto fail;
		}
		for (j = 0; j < 3; j++)
			out->cves[i][j] = (char)toupper(
			    (unsigned char)out->cves[i][j]);
	}

	if (json_string_array(json_object_get(obj, "products"),
	    &out->products, &out->n_products) != 0) {
		xasprintf(cause, "filter.products: must be an array of CPE "
		    "names");
		goto fail;
	}
	for (i = 0; i < out->n_products; i++) {
		s = match_cpe_body(out->products[i]);
		if (s == NULL || *s == '\0') {
			xasprintf(cause, "filter.products: \"%.64s\" is not a "
			    "CPE name (cpe:2.3:... or cpe:/...)",
			    out->products[i]);
			goto fail;
		}
	}
	return (0);

fail:
	filter_clear(out);
	return (-1);
}

/* Add a string array member to a JSON object, unless it is empty. */
static void
match_set_array(json_t *o, const char *key, char *const *v, size_t n)
{
	json_t	*a;
	size_t	 i;

	if (n == 0)
		return;
	a = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	json_object_set_new(o, key, a);
}

/* The filter as JSON, without its absent members. */
json_t *
filter_to_json(const struct filter *f)
{
	json_t	*o;

	o = json_object();
	match_set_array(o, "sectors", f->sectors, f->n_sectors);
	if (f->min_severity >= 0 && f->min_severity < SEV__COUNT) {
		json_object_set_new(o, "min_severity", json_string(
		    severity_name((enum severity)f->min_severity)));
	}
	match_set_array(o, "keywords", f->keywords, f->n_keywords);
	match_set_array(o, "cves", f->cves, f->n_cves);
	match_set_array(o, "products", f->products, f->n_products);
	return (o);
}

/* Free a filter's arrays and leave it empty (matching everything). */
void
filter_clear(struct filter *f)
{
	strv_free(f->sectors, f->n_sectors);
	strv_free(f->keywords, f->n_keywords);
	strv_free(f->cves, f->n_cves);
	strv_free(f->products, f->n_products);
	memset(f, 0, sizeof *f);
	f->min_severity = -1;
}

/*
 * Is the character holding byte s[i] (i < len) a separator between words?
 * ASCII letters and digits are word characters, other ASCII is not; a
 * non-ASCII character is part of a word unless it is common Unicode
 * punctuation or space (no-break space, guillemets, curly quotes, dashes,
 * ellipsis), which French, Dutch and German texts put around names.
 */
static int
match_is_separator(const unsigned char *s, size_t len, size_t i)
{
	unsigned	cp;
	int		back;

	if (s[i] < 0x80)
		return (!isalnum(s[i]));
	for (back = 0; back < 3 && i > 0 && (s[i] & 0xc0) == 0x80; back++)
		i--;
	if ((s[i] & 0xe0) == 0xc0 && i + 1 < len)
		cp = ((s[i] & 0x1fu) << 6) | (s[i + 1] & 0x3fu);
	else if ((s[i] & 0xf0) == 0xe0 && i + 2 < len) {
		cp = ((s[i] & 0x0fu) << 12) | ((s[i + 1] & 0x3fu) << 6) |
		    (s[i + 2] & 0x3fu);
	} else
		return (0);
	if (cp == 0xa0 || cp == 0xab || cp == 0xbb)
		return (1);
	if (cp >= 0x2000 && cp <= 0x206f)	/* General Punctuation */
		return (1);
	return (0);
}

/*
 * Fold a byte to lower case, given the byte before it: ASCII letters, and
 * the Latin-1 capitals (U+00C0 to U+00DE but U+00D7, encoded C3 80..9E) of
 * French, Dutch and German. Other bytes compare as they are.
 */
static unsigned char
match_fold(unsigned char c, unsigned char prev)
{
	if (c >= 'A' && c <= 'Z')
		return ((unsigned char)(c + 'a' - 'A'));
	if (prev == 0xc3 && c >= 0x80 && c <= 0x9e && c != 0x97)
		return ((unsigned char)(c + 0x20));
	return (c);
}

/* Does keyword kw appear in text as whole words, ignoring case? */
static int
match_keyword(const char *text, const char *kw)
{
	const unsigned char	*t = (const unsigned char *)text;
	const unsigned char	*k = (const unsigned char *)kw;
	size_t			 tlen, klen, i, j;
	int			 word_first, word_last;

	if (text == NULL)
		return (0);
	tlen = strlen(text);
	klen = strlen(kw);
	if (klen == 0 || klen > tlen)
		return (0);

	/*
	 * As a regular expression's \b: a boundary is needed only where the
	 * keyword itself starts or ends with a word character, so "c++"
	 * matches in "c++ library" and "RCE" does not match in "source".
	 */
	word_first = !match_is_separator(k, klen, 0);
	word_last = !match_is_separator(k, klen, klen - 1);
	for (i = 0; i + klen <= tlen; i++) {
		for (j = 0; j < klen; j++) {
			if (match_fold(t[i + j], j == 0 ? 0 : t[i + j - 1]) !=
			    match_fold(k[j], j == 0 ? 0 : k[j - 1]))
				break;
		}
		if (j != klen)
			continue;
		if (word_first && i > 0 && !match_is_separator(t, tlen, i - 1))
			continue;
		if (word_last && i + klen < tlen &&
		    !match_is_separator(t, tlen, i + klen))
			continue;
		return (1);
	}
	return (0);
}

/* The next component of a CPE body, split at unescaped colons. */
static const char *
match_cpe_next(const char *s, size_t *len)
{
	const char	*p;

	for (p = s; *p != '\0' && *p != ':'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
	}
	*len = (size_t)(p - s);
	return (*p == ':' ? p + 1 : NULL);
}

/* Is a CPE component ANY ("*" or empty, as in CPE 2.2 URIs)? */
static int
match_cpe_any(const char *c, size_t len)
{
	return (len == 0 || (len == 1 && *c == '*'));
}

/* Are two CPE components equal, ignoring ASCII case and escapes? */
static int
match_cpe_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t	i = 0, j = 0;

	for (;;) {
		if (i < alen && a[i] == '\\')
			i++;
		if (j < blen && b[j] == '\\')
			j++;
		if (i == alen || j == blen)
			return (i == alen && j == blen);
		if (match_fold((unsigned char)a[i], 0) !=
		    match_fold((unsigned char)b[j], 0))
			return (0);
		i++;
		j++;
	}
}

/*
 * Does a filter product match an item product? CPE names are compared
 * component by component after their prefix, so "cpe:2.3:o:fortinet" covers
 * "cpe:2.3:o:fortinet:fortios:7.0.1" but not "cpe:2.3:o:fortinetx". A
 * component that is ANY ("*", empty, or missing at the end) on either side
 * matches anything, as in CPE name matching: an item about every version of
 * a product concerns a filter that names one version.
 */
static int
match_product(const char *filter, const char *item)
{
	const char	*f, *t, *fc, *tc;
	size_t		 flen, tlen;

	if ((f = match_cpe_body(filter)) == NULL ||
	    (t = match_cpe_body(item)) == NULL)
		return (0);
	while (f != NULL) {
		fc = f;
		f = match_cpe_next(fc, &flen);
		if (t != NULL) {
			tc = t;
			t = match_cpe_next(tc, &tlen);
		} else {
			tc = "";
			tlen = 0;
		}
		if (match_cpe_any(fc, flen) || match_cpe_any(tc, tlen))
			continue;
		if (!match_cpe_equal(fc, flen, tc, tlen))
			return (0);
	}
	return (1);
}

/* Does the item meet every field the filter gives? */
int
match_filter(const struct filter *f, const struct match_item *item)
{
	size_t	i, j;
	int	ok;

	if (f->n_sectors != 0) {
		ok = 0;
		for (i = 0; i < f->n_sectors && !ok; i++) {
			for (j = 0; j < item->n_sectors && !ok; j++)
				ok = sector_covers(f->sectors[i],
				    item->sectors[j]);
		}
		if (!ok)
			return (0);
	}
	if (f->min_severity >= 0 &&
	    (item->severity < 0 || item->severity < f->min_severity))
		return (0);
	if (f->n_keywords != 0) {
		ok = 0;
		for (i = 0; i < f->n_keywords && !ok; i++) {
			ok = match_keyword(item->title, f->keywords[i]) ||
			    match_keyword(item->summary, f->keywords[i]);
		}
		if (!ok)
			return (0);
	}
	if (f->n_cves != 0) {
		ok = 0;
		for (i = 0; i < f->n_cves && !ok; i++) {
			for (j = 0; j < item->n_cves && !ok; j++)
				ok = strcasecmp(f->cves[i], item->cves[j]) == 0;
		}
		if (!ok)
			return (0);
	}
	if (f->n_products != 0) {
		ok = 0;
		for (i = 0; i < f->n_products && !ok; i++) {
			for (j = 0; j < item->n_products && !ok; j++)
				ok = match_product(f->products[i],
				    item->products[j]);
		}
		if (!ok)
			return (0);
	}
	return (1);
}

/* Borrow the strings of a JSON array into a new vector (strings only). */
static const char *const *
match_borrow_array(json_t *a, size_t *np)
{
	const char	**v;
	json_t		 *e;
	size_t		  i, n = 0;

	*np = 0;
	if (!json_is_array(a) || json_array_size(a) == 0)
		return (NULL);
	v = xcalloc(json_array_size(a), sizeof *v);
	json_array_foreach(a, i, e) {
		if (json_is_string(e))
			v[n++] = json_string_value(e);
	}
	*np = n;
	return (v);
}

/*
 * Fill item from an advisory's JSON "data" object. The strings are borrowed
 * from the JSON, which must outlive the item; the vectors are allocated and
 * freed by match_item_free_arrays().
 */
void
match_item_from_json(json_t *data, struct match_item *out)
{
	const char	*s;
	enum severity	 sev;

	memset(out, 0, sizeof *out);
	out->severity = -1;
	if (!json_is_object(data))
		return;
	out->title = json_string_value(json_object_get(data, "title"));
	out->summary = json_string_value(json_object_get(data, "summary"));
	s = json_string_value(json_object_get(data, "severity"));
	if (s != NULL && severity_parse(s, &sev) == 0)
		out->severity = (int)sev;
	out->sectors = match_borrow_array(json_object_get(data, "sectors"),
	    &out->n_sectors);
	out->cves = match_borrow_array(json_object_get(data, "cves"),
	    &out->n_cves);
	out->products = match_borrow_array(json_object_get(data, "products"),
	    &out->n_products);
}

/* Free the vectors of an item filled by match_item_from_json(). */
void
match_item_free_arrays(struct match_item *item)
{
	free((void *)item->sectors);
	free((void *)item->cves);
	free((void *)item->products);
	item->sectors = item->cves = item->products = NULL;
	item->n_sectors = item->n_cves = item->n_products = 0;
}
