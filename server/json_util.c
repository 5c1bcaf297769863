/*
 * json_util.c: small helpers over jansson for validating request bodies, and
 * the conversion of string and integer lists to and from PostgreSQL's array
 * text form, so that arrays travel as one text parameter ($n::text[]).
 */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tocsind.h"

/* Is s a JSON string without an embedded NUL? */
static int
json_util_plain_string(json_t *s)
{
	const char	*v;

	if (!json_is_string(s))
		return (0);
	v = json_string_value(s);
	return (strlen(v) == json_string_length(s));
}

/* Is the member absent (0), a string (1) or of another type (-1)? */
int
json_get_string(json_t *obj, const char *key, const char **out)
{
	json_t	*v;

	*out = NULL;
	if (obj == NULL || !json_is_object(obj))
		return (0);
	if ((v = json_object_get(obj, key)) == NULL)
		return (0);
	if (!json_util_plain_string(v))
		return (-1);
	*out = json_string_value(v);
	return (1);
}

/* Copy an array of strings (NULL: empty); -1 unless every element is one. */
int
json_string_array(json_t *a, char ***vp, size_t *np)
{
	json_t	*e;
	char	**v;
	size_t	 i, n;

	*vp = NULL;
	*np = 0;
	if (a == NULL)
		return (0);
	if (!json_is_array(a))
		return (-1);
	n = json_array_size(a);
	json_array_foreach(a, i, e) {
		if (!json_util_plain_string(e))
			return (-1);
	}
	if (n == 0)
		return (0);
	v = xcalloc(n, sizeof *v);
	json_array_foreach(a, i, e)
		v[i] = xstrdup(json_string_value(e));
	*vp = v;
	*np = n;
	return (0);
}

/* Copy an array of positive integers (NULL: empty); -1 otherwise. */
int
json_int_array(json_t *a, int64_t **vp, size_t *np)
{
	json_t	*e;
	int64_t	*v;
	size_t	 i, n;

	*vp = NULL;
	*np = 0;
	if (a == NULL)
		return (0);
	if (!json_is_array(a))
		return (-1);
	n = json_array_size(a);
	json_array_foreach(a, i, e) {
		if (!json_is_integer(e) || json_integer_value(e) <= 0)
			return (-1);
	}
	if (n == 0)
		return (0);
	v = xcalloc(n, sizeof *v);
	json_array_foreach(a, i, e)
		v[i] = (int64_t)json_integer_value(e);
	*vp = v;
	*np = n;
	return (0);
}

/* Free n strings and the vector holding them. */
void
strv_free(char **v, size_t n)
{
	size_t	i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A PostgreSQL array literal of text, every element quoted: {"a","b\"c"}. */
char *
pg_text_array(char *const *v, size_t n)
{
	char		*out, *p;
	const char	*s;
	size_t		 i, len;

	len = 3;
	for (i = 0; i < n; i++)
		len += 2 * strlen(v[i]) + 3;
	p = out = xmalloc(len);
	*p++ = '{';
	for (i = 0; i < n; i++) {
		if (i != 0)
			*p++ = ',';
		*p++ = '"';
		for (s = v[i]; *s != '\0'; s++) {
			if (*s == '"' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return (out);
}

/* A PostgreSQL array literal of integers: {1,2,3}. */
char *
pg_int_array(const int64_t *v, size_t n)
{
	char	*out;
	size_t	 i, len, off;

	len = 3 + n * 21;
	out = xmalloc(len);
	off = 0;
	out[off++] = '{';
	for (i = 0; i < n; i++) {
		off += (size_t)snprintf(out + off, len - off, "%s%" PRId64,
		    i == 0 ? "" : ",", v[i]);
	}
	out[off++] = '}';
	out[off] = '\0';
	return (out);
}

/*
 * Split PostgreSQL's text output of a one-dimensional array into strings.
 * Elements are bare (no quotes, no spaces, no special characters) or
 * double-quoted with backslash escapes. An unquoted NULL is refused: the
 * columns are NOT NULL element-wise by construction.
 */
static int
json_util_pg_split(const char *s, char ***vp, size_t *np)
{
	char		**v = NULL, *e;
	size_t		  n = 0, cap = 0, len;
	const char	 *start;
	int		  quoted;

	*vp = NULL;
	*np = 0;
	if (s == NULL)
		return (-1);
	while (isspace((unsigned char)*s))
		s++;
	if (*s++ != '{')
		return (-1);
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '}')
		goto end;
	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		quoted = (*s == '"');
		if (quoted) {
			e = xmalloc(strlen(s));
			len = 0;
			for (s++; *s != '"'; s++) {
				if (*s == '\\')
					s++;
				if (*s == '\0') {
					free(e);
					goto fail;
				}
				e[len++] = *s;
			}
			e[len] = '\0';
			s++;
		} else {
			start = s;
			while (*s != '\0' && *s != ',' && *s != '}' &&
			    *s != '"' && *s != '{' && *s != '\\')
				s++;
			len = (size_t)(s - start);
			while (len > 0 &&
			    isspace((unsigned char)start[len - 1]))
				len--;
			if (len == 0 || (len == 4 &&
			    strncasecmp(start, "NULL", 4) == 0))
				goto fail;
			e = xstrndup(start, len);
		}
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n++] = e;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '}')
			break;
		if (*s++ != ',')
			goto fail;
	}
end:
	s++;
	while (isspace((unsigned char)*s))
		s++;
	if (*s != '\0')
		goto fail;
	*vp = v;
	*np = n;
	return (0);
fail:
	strv_free(v, n);
	return (-1);
}

/* Parse PostgreSQL's text output of a text[] into new strings. */
int
pg_parse_text_array(const char *s, char ***vp, size_t *np)
{
	return (json_util_pg_split(s, vp, np));
}

/* Parse PostgreSQL's text output of a bigint[] into integers. */
int
pg_parse_int_array(const char *s, int64_t **vp, size_t *np)
{
	char		**sv, *end;
	int64_t		 *v;
	long long	  x;
	size_t		  i, n;

	*vp = NULL;
	*np = 0;
	if (json_util_pg_split(s, &sv, &n) != 0)
		return (-1);
	if (n == 0)
		return (0);
	v = xcalloc(n, sizeof *v);
	for (i = 0; i < n; i++) {
		errno = 0;
		x = strtoll(sv[i], &end, 10);
		if (errno != 0 || end == sv[i] || *end != '\0' ||
		    isspace((unsigned char)sv[i][0])) {
			free(v);
			strv_free(sv, n);
			return (-1);
		}
		v[i] = (int64_t)x;
	}
	strv_free(sv, n);
	*vp = v;
	*np = n;
	return (0);
}

/* Refuse: ERR names FIELD and says why (printf-style). Returns -1. */
int
field_fail(struct field_error *err, const char *field, const char *fmt, ...)
{
	va_list	ap;

	snprintf(err->field, sizeof err->field, "%s", field);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return (-1);
}
