/*
 * test_csv.c: the streaming CSV reader: RFC 4180 quoting, CRLF and LF,
 * line numbers (rows spanning lines), blank lines and a byte-order mark,
 * every kind of malformed row reported with its line while the rows after
 * it are read, the bounds, and the same answers whether the input is one
 * buffer or arrives a byte at a time.
 */

#include <stdlib.h>
#include <string.h>

#include "tocsind.h"
#include "unit.h"

/*
 * Read all of TEXT and describe it: one line per row, "L:a|b|c" for a
 * row starting on line L, "L!why" for a malformed one.
 */
struct slow {
	const char	*p;
	size_t		 left;
	size_t		 step;
};

static long
slow_read(void *arg, char *buf, size_t len)
{
	struct slow	*s = arg;
	size_t		 n = s->left < s->step ? s->left : s->step;

	if (n > len)
		n = len;
	memcpy(buf, s->p, n);
	s->p += n;
	s->left -= n;
	return ((long)n);
}

static char *
describe(struct csv *c)
{
	static char		 out[8192];
	const char *const	*f;
	const char		*why;
	size_t			 n, line, i, len = 0;
	enum csv_result		 res;

	out[0] = '\0';
	while ((res = csv_next(c, &f, &n, &line, &why)) != CSV_END) {
		if (res == CSV_ERROR) {
			len += snprintf(out + len, sizeof out - len, "ERROR\n");
			break;
		}
		if (res == CSV_BAD) {
			len += snprintf(out + len, sizeof out - len, "%zu!%s\n",
			    line, why);
			continue;
		}
		len += snprintf(out + len, sizeof out - len, "%zu:", line);
		for (i = 0; i < n; i++)
			len += snprintf(out + len, sizeof out - len, "%s%s",
			    i == 0 ? "" : "|", f[i]);
		len += snprintf(out + len, sizeof out - len, "\n");
	}
	csv_free(c);
	return (out);
}

/* Both ways of reading must agree; return the description. */
static const char *
parse_bounded(const char *text, size_t max_field, size_t max_fields,
    size_t max_row)
{
	static char	 first[8192];
	struct slow	 s;
	size_t		 steps[] = { 1, 2, 7, 4096 }, k;
	const char	*d;

	snprintf(first, sizeof first, "%s", describe(csv_new_buffer(text,
	    strlen(text), max_field, max_fields, max_row)));
	for (k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		s.p = text;
		s.left = strlen(text);
		s.step = steps[k];
		d = describe(csv_new(slow_read, &s, max_field, max_fields,
		    max_row));
		if (strcmp(d, first) != 0) {
			printf("buffer and %zu-byte reads differ:\n%s---\n%s",
			    steps[k], first, d);
			CHECK(0);
		}
	}
	return (first);
}

static const char *
parse(const char *text)
{
	return (parse_bounded(text, 64, 8, 256));
}

static void
test_plain(void)
{
	CHECK_STR_EQ(parse("a,b,c\n1,2,3\n"), "1:a|b|c\n2:1|2|3\n");
	CHECK_STR_EQ(parse("a,b\r\n1,2\r\n"), "1:a|b\n2:1|2\n");
	CHECK_STR_EQ(parse("a,b\n1,2"), "1:a|b\n2:1|2\n");
	CHECK_STR_EQ(parse("a,b\r\n1,2\r"), "1:a|b\n2:1|2\n");
	CHECK_STR_EQ(parse(""), "");
	CHECK_STR_EQ(parse("\n\n"), "");
	CHECK_STR_EQ(parse("a\n\n\r\nb\n"), "1:a\n4:b\n");
	CHECK_STR_EQ(parse(",\n,,x\n"), "1:|\n2:||x\n");
	CHECK_STR_EQ(parse("\xef\xbb\xbfts,ip\n"), "1:ts|ip\n");
	CHECK_STR_EQ(parse(" a , b \n"), "1: a | b \n");
}

static void
test_quoted(void)
{
	CHECK_STR_EQ(parse("\"a,b\",c\n"), "1:a,b|c\n");
	CHECK_STR_EQ(parse("\"say \"\"hi\"\"\",x\n"), "1:say \"hi\"|x\n");
	CHECK_STR_EQ(parse("\"\",\"\"\n"), "1:|\n");
	CHECK_STR_EQ(parse("\"\"\n"), "1:\n");
	CHECK_STR_EQ(parse("\"\"\"\"\n"), "1:\"\n");
	/* A row spanning lines keeps its first line; the next counts on. */
	CHECK_STR_EQ(parse("h\n\"one\ntwo\",x\nnext\n"),
	    "1:h\n2:one\ntwo|x\n4:next\n");
	CHECK_STR_EQ(parse("\"a\r\nb\"\r\nc\r\n"), "1:a\r\nb\n3:c\n");
	CHECK_STR_EQ(parse("\"a\",\"b\"\r\n"), "1:a|b\n");
	CHECK_STR_EQ(parse("\"x\""), "1:x\n");
}

static void
test_malformed(void)
{
	/* A stray quote: that line only. */
	CHECK_STR_EQ(parse("h\nab\"c,d\nok\n"),
	    "1:h\n2!quote inside an unquoted field\n3:ok\n");
	CHECK_STR_EQ(parse("h\n\"ab\"c,d\nok\n"),
	    "1:h\n2!text after a closing quote\n3:ok\n");
	/* An unterminated quote swallows nothing after its line. */
	CHECK_STR_EQ(parse("h\n\"open,x\nr3,y\nr4,z\n"),
	    "1:h\n2!unterminated quoted field\n3:r3|y\n4:r4|z\n");
	CHECK_STR_EQ(parse("h\n\"open,x"),
	    "1:h\n2!unterminated quoted field\n");
	CHECK_STR_EQ(parse("a\rb\nc\n"),
	    "1!carriage return without line feed\n2:c\n");
	{
		static const char nul[] = "a\nb\0c\nd\n";
		struct csv *c = csv_new_buffer(nul, sizeof nul - 1, 64, 8, 256);
		CHECK_STR_EQ(describe(c), "1:a\n2!NUL byte\n3:d\n");
	}
	/* Several bad rows in a row, and the good ones between. */
	CHECK_STR_EQ(parse("\"\nx\"y\nz\"\nok,1\n"),
	    "1!text after a closing quote\n2!quote inside an unquoted field\n"
	    "3!quote inside an unquoted field\n4:ok|1\n");
}

static void
test_bounds(void)
{
	char	big[2048];

	CHECK_STR_EQ(parse_bounded("abcd,e\nabcde,f\nx\n", 4, 8, 256),
	    "1:abcd|e\n2!field too long\n3:x\n");
	CHECK_STR_EQ(parse_bounded("a,b,c\na,b,c,d\nx\n", 64, 3, 256),
	    "1:a|b|c\n2!too many fields\n3:x\n");
	CHECK_STR_EQ(parse_bounded("aa,bb,cc\naaa,bbb,ccc\nx\n", 64, 8, 8),
	    "1:aa|bb|cc\n2!row too long\n3:x\n");
	/* A line far longer than any window is skipped whole. */
	memset(big, 'x', sizeof big);
	memcpy(big, "h\n", 2);
	memcpy(big + sizeof big - 6, "\nok\n", 5);
	CHECK_STR_EQ(parse_bounded(big, 16, 4, 32),
	    "1:h\n2!field too long\n3:ok\n");
}

int
main(void)
{
	test_plain();
	test_quoted();
	test_malformed();
	test_bounds();
	return (UNIT_DONE());
}
