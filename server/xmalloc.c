/*
 * xmalloc.c: memory allocation that never returns NULL. Inputs are bounded
 * before anything is allocated for them, so running out of memory is a
 * broken invariant: say so on stderr and abort.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

static void xmalloc_fail(const char *, size_t)
	    __attribute__((noreturn));

static void
xmalloc_fail(const char *what, size_t size)
{
	fprintf(stderr, "tocsind: %s: out of memory allocating %zu bytes\n",
	    what, size);
	abort();
}

/* Allocate size bytes (at least one, so a zero size is not an error). */
void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		size = 1;
	if ((p = malloc(size)) == NULL)
		xmalloc_fail("xmalloc", size);
	return (p);
}

/* Allocate a zeroed array of nmemb elements of size bytes. */
void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	if (nmemb > SIZE_MAX / size)
		xmalloc_fail("xcalloc", SIZE_MAX);
	if ((p = calloc(nmemb, size)) == NULL)
		xmalloc_fail("xcalloc", nmemb * size);
	return (p);
}

/* Resize ptr (which may be NULL) to size bytes. */
void *
xrealloc(void *ptr, size_t size)
{
	void	*p;

	if (size == 0)
		size = 1;
	if ((p = realloc(ptr, size)) == NULL)
		xmalloc_fail("xrealloc", size);
	return (p);
}

/* Copy a string. */
char *
xstrdup(const char *s)
{
	return (xstrndup(s, strlen(s)));
}

/* Copy at most n bytes of a string, always terminated. */
char *
xstrndup(const char *s, size_t n)
{
	char	*p;
	size_t	 len;

	len = strnlen(s, n);
	if (len == SIZE_MAX)
		xmalloc_fail("xstrndup", len);
	p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return (p);
}

/* Format into a new string; return its length. */
int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = xvasprintf(ret, fmt, ap);
	va_end(ap);
	return (n);
}

/* Format into a new string from a va_list; return its length. */
int
xvasprintf(char **ret, const char *fmt, va_list ap)
{
	va_list	 ap2;
	int	 n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		fprintf(stderr, "tocsind: xvasprintf: bad format \"%s\"\n",
		    fmt);
		abort();
	}
	*ret = xmalloc((size_t)n + 1);
	if (vsnprintf(*ret, (size_t)n + 1, fmt, ap) != n) {
		fprintf(stderr, "tocsind: xvasprintf: length changed\n");
		abort();
	}
	return (n);
}
