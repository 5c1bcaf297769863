/*
 * advisory.c: the advisory document: validation of what a publisher sends
 * (CONTRACT.md, "Advisory"), its normalised form, and the scope element the
 * event log keeps for the stream and the delivery workers. Pure: no SQL.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tocsind.h"

#define ADVISORY_TITLE_MAX	300
#define ADVISORY_SUMMARY_MAX	4000
#define ADVISORY_LIST_MAX	500
#define ADVISORY_ITEM_MAX	2048

static const char *advisory_members[] = {
	"title", "summary", "body", "tlp", "severity", "cvss", "sectors",
	"cves", "products", "references", "audience", NULL
};

/* Is S valid UTF-8 without control characters other than \n, \r, \t? */
static int
advisory_text_ok(const char *s, int multiline)
{
	const unsigned char	*p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (*p < 0x20 && !(multiline &&
		    (*p == '\n' || *p == '\r' || *p == '\t')))
			return (0);
		if (*p == 0x7f)
			return (0);
	}
	return (1);
}

/* CVE-YYYY-NNNN+ (case-insensitive); writes the upper-case form. */
int
advisory_cve_normalise(const char *in, char *out, size_t outlen)
{
	size_t	i, len = strlen(in);

	if (len < 13 || len >= outlen || strncasecmp(in, "CVE-", 4) != 0)
		return (-1);
	for (i = 4; i < 8; i++) {
		if (!isdigit((unsigned char)in[i]))
			return (-1);
	}
	if (in[8] != '-')
		return (-1);
	for (i = 9; i < len; i++) {
		if (!isdigit((unsigned char)in[i]))
			return (-1);
	}
	if (len - 9 < 4 || len - 9 > 19)
		return (-1);
	for (i = 0; i <= len; i++)
		out[i] = toupper((unsigned char)in[i]);
	return (0);
}

/* Validate an array of strings under FIELD with a per-item check. */
static int
advisory_strings(json_t *in, json_t *out, const char *field,
    struct field_error *err, int (*check)(const char *, char *, size_t),
    const char *what)
{
	json_t		*v, *arr, *item;
	size_t		 i;
	char		 norm[ADVISORY_ITEM_MAX], sub[64];
	const char	*s;

	v = json_object_get(in, field);
	arr = json_array();
	json_object_set_new(out, field, arr);
	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_array(v))
		return (field_fail(err, field, "%s: must be an array of "
		    "strings", field));
	if (json_array_size(v) > ADVISORY_LIST_MAX)
		return (field_fail(err, field, "%s: at most %d items",
		    field, ADVISORY_LIST_MAX));
	json_array_foreach(v, i, item) {
		snprintf(sub, sizeof sub, "%s[%zu]", field, i);
		if (!json_is_string(item))
			return (field_fail(err, sub, "%s: must be a string",
			    sub));
		s = json_string_value(item);
		if (strlen(s) == 0 || strlen(s) >= sizeof norm ||
		    !advisory_text_ok(s, 0))
			return (field_fail(err, sub, "%s: must be a "
			    "non-empty line of at most %zu bytes", sub,
			    sizeof norm - 1));
		if (check != NULL && check(s, norm, sizeof norm) != 0)
			return (field_fail(err, sub, "%s: \"%s\" is not %s",
			    sub, s, what));
		json_array_append_new(arr, json_string(check != NULL ? norm :
		    s));
	}
	return (0);
}

static int
advisory_check_sector(const char *s, char *out, size_t len)
{
	if (!sector_valid(s))
		return (-1);
	snprintf(out, len, "%s", s);
	return (0);
}

static int
advisory_check_product(const char *s, char *out, size_t len)
{
	if (strncmp(s, "cpe:2.3:", 8) != 0 && strncmp(s, "cpe:/", 5) != 0)
		return (-1);
	snprintf(out, len, "%s", s);
	return (0);
}

static int
advisory_check_url(const char *s, char *out, size_t len)
{
	if ((strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
	    || strpbrk(s, " \"<>") != NULL)
		return (-1);
	snprintf(out, len, "%s", s);
	return (0);
}

/* A required or optional string member, bounded. */
static int
advisory_text(json_t *in, json_t *out, const char *field, int required,
    size_t max, int multiline, struct field_error *err)
{
	json_t		*v = json_object_get(in, field);
	const char	*s;

	if (v == NULL || json_is_null(v)) {
		if (required)
			return (field_fail(err, field, "%s: required",
			    field));
		json_object_set_new(out, field, json_string(""));
		return (0);
	}
	if (!json_is_string(v))
		return (field_fail(err, field, "%s: must be a string",
		    field));
	s = json_string_value(v);
	if (required && *s == '\0')
		return (field_fail(err, field, "%s: must not be empty",
		    field));
	if (strlen(s) > max)
		return (field_fail(err, field, "%s: at most %zu bytes",
		    field, max));
	if (!advisory_text_ok(s, multiline))
		return (field_fail(err, field, "%s: control characters "
		    "are not allowed", field));
	json_object_set(out, field, v);
	return (0);
}

static int
advisory_cvss(json_t *in, json_t *out, struct field_error *err)
{
	json_t		*v = json_object_get(in, "cvss"), *score;
	const char	*key, *version, *vector;
	json_t		*val;
	double		 d;

	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_object(v))
		return (field_fail(err, "cvss", "cvss: must be an object "
		    "{version, score, vector}"));
	json_object_foreach(v, key, val) {
		if (strcmp(key, "version") != 0 && strcmp(key, "score") != 0 &&
		    strcmp(key, "vector") != 0)
			return (field_fail(err, "cvss", "cvss: unknown "
			    "member \"%s\"", key));
	}
	if (json_get_string(v, "version", &version) != 1 ||
	    (strcmp(version, "2.0") != 0 && strcmp(version, "3.0") != 0 &&
	    strcmp(version, "3.1") != 0 && strcmp(version, "4.0") != 0))
		return (field_fail(err, "cvss.version", "cvss.version: "
		    "must be one of 2.0, 3.0, 3.1, 4.0"));
	score = json_object_get(v, "score");
	if (!json_is_number(score) || (d = json_number_value(score)) < 0 ||
	    d > 10)
		return (field_fail(err, "cvss.score", "cvss.score: must be "
		    "a number from 0 to 10"));
	switch (json_get_string(v, "vector", &vector)) {
	case -1:
		return (field_fail(err, "cvss.vector", "cvss.vector: must "
		    "be a string"));
	case 1:
		if (strlen(vector) > 256 || !advisory_text_ok(vector, 0) ||
		    (strcmp(version, "2.0") != 0 &&
		    strncmp(vector, "CVSS:", 5) != 0))
			return (field_fail(err, "cvss.vector", "cvss.vector:"
			    " must be a CVSS vector string (CVSS:%s/...)",
			    version));
		break;
	}
	json_object_set(out, "cvss", v);
	return (0);
}

/*
 * Validate a publisher's advisory document. On success *norm holds the
 * normalised document (every member present, CVEs upper-case) and AUD its
 * audience; on failure ERR names the field.
 */
int
advisory_validate(json_t *in, size_t body_max, json_t **norm,
    struct audience *aud, struct field_error *err)
{
	json_t		*out, *val;
	const char	*key, *s, *afield = NULL, *amsg = NULL;
	enum tlp	 tlp;
	enum severity	 sev;
	size_t		 i;

	memset(aud, 0, sizeof *aud);
	*norm = NULL;
	json_object_foreach(in, key, val) {
		for (i = 0; advisory_members[i] != NULL; i++) {
			if (strcmp(key, advisory_members[i]) == 0)
				break;
		}
		if (advisory_members[i] == NULL)
			return (field_fail(err, key, "%s: unknown member "
			    "(the server sets id, revision, status and dates)",
			    key));
	}
	out = json_object();
	if (advisory_text(in, out, "title", 1, ADVISORY_TITLE_MAX, 0,
	    err) != 0 ||
	    advisory_text(in, out, "summary", 0, ADVISORY_SUMMARY_MAX, 1,
	    err) != 0 ||
	    advisory_text(in, out, "body", 0, body_max, 1, err) != 0)
		goto fail;

	if (json_get_string(in, "tlp", &s) != 1) {
		field_fail(err, "tlp", "tlp: required, one of CLEAR, GREEN, "
		    "AMBER, AMBER+STRICT, RED");
		goto fail;
	}
	if (tlp_parse(s, &tlp) != 0) {
		field_fail(err, "tlp", "tlp: \"%s\" is not one of CLEAR, "
		    "GREEN, AMBER, AMBER+STRICT, RED", s);
		goto fail;
	}
	json_object_set_new(out, "tlp", json_string(tlp_name(tlp)));

	if (json_get_string(in, "severity", &s) != 1 ||
	    severity_parse(s, &sev) != 0) {
		field_fail(err, "severity", "severity: required, one of low,"
		    " medium, high, critical");
		goto fail;
	}
	json_object_set_new(out, "severity", json_string(severity_name(sev)));

	if (advisory_cvss(in, out, err) != 0 ||
	    advisory_strings(in, out, "sectors", err, advisory_check_sector,
	    "a NIS2 sector tag") != 0 ||
	    advisory_strings(in, out, "cves", err, advisory_cve_normalise,
	    "a CVE identifier (CVE-YYYY-NNNN)") != 0 ||
	    advisory_strings(in, out, "products", err, advisory_check_product,
	    "a CPE name (cpe:2.3:...)") != 0 ||
	    advisory_strings(in, out, "references", err, advisory_check_url,
	    "an http(s) URL") != 0)
		goto fail;

	if (audience_from_json(json_object_get(in, "audience"), tlp, aud,
	    &afield, &amsg) != 0) {
		field_fail(err, afield != NULL ? afield : "audience", "%s",
		    amsg != NULL ? amsg : "audience: invalid");
		goto fail;
	}
	json_object_set_new(out, "audience", audience_to_json(aud));
	*norm = out;
	return (0);
fail:
	audience_clear(aud);
	json_decref(out);
	return (-1);
}

/*
 * The scope element of an item revision kept in the event log: its label,
 * audience and what subscription filters look at (schema/001_init.sql).
 */
json_t *
advisory_scope_element(json_t *doc)
{
	static const char	*keep[] = { "tlp", "audience", "title",
				    "summary", "severity", "sectors", "cves",
				    "products", NULL };
	json_t			*e = json_object();
	size_t			 i;

	for (i = 0; keep[i] != NULL; i++) {
		json_t *v = json_object_get(doc, keep[i]);
		if (v != NULL)
			json_object_set(e, keep[i], v);
	}
	return (e);
}

/* Is S an RFC 3339 date-time (or a plain YYYY-MM-DD date)? */
int
advisory_timestamp_ok(const char *s)
{
	const char	*p;
	size_t		 i;
	static const char date[] = "dddd-dd-dd", time[] = "dd:dd:dd";

	for (i = 0; date[i] != '\0'; i++) {
		if (date[i] == 'd' ? !isdigit((unsigned char)s[i]) :
		    s[i] != date[i])
			return (0);
	}
	if (s[i] == '\0')
		return (1);
	if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
		return (0);
	p = s + i + 1;
	for (i = 0; time[i] != '\0'; i++) {
		if (time[i] == 'd' ? !isdigit((unsigned char)p[i]) :
		    p[i] != time[i])
			return (0);
	}
	p += i;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return (0);
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z')
		return (p[1] == '\0');
	if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2]) && p[3] == ':' &&
	    isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5]) &&
	    p[6] == '\0')
		return (1);
	return (0);
}
