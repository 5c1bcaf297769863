/*
 * csv.c: a small streaming reader of RFC 4180 CSV: fields separated by
 * commas, optionally double-quoted (with "" for a quote, and commas and line
 * breaks inside), rows ended by CRLF or LF. It hands out one row at a time
 * with the line it starts on, so a caller never holds more than one row;
 * fields, rows and the number of fields are bounded by the caller.
 *
 * A malformed row (a stray quote, an unterminated quoted field, a NUL, a
 * bound passed) is reported and skipped, and reading resumes on the line
 * after the one the bad row started on: one broken line never swallows the
 * rest of a file. Blank lines are skipped; a UTF-8 byte-order mark at the
 * start is ignored. The reader does not look at encodings otherwise.
 */
#include "config.h"

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define CSV_CHUNK	65536

enum csv_state { CSV_S_START, CSV_S_UNQUOTED, CSV_S_QUOTED, CSV_S_QUOTE,
    CSV_S_CR };

/* The bytes that end a run of ordinary ones, outside and inside quotes. */
static const unsigned char csv_stop_plain[256] = {
	['\0'] = 1, [','] = 1, ['\n'] = 1, ['\r'] = 1, ['"'] = 1
};
static const unsigned char csv_stop_quoted[256] = {
	['\0'] = 1, ['\n'] = 1, ['"'] = 1
};

struct csv {
	csv_read_cb	 read;		/* NULL: all the input is in raw */
	void		*arg;
	char		*buf;		/* owned window (callbacks) */
	size_t		 cap;
	const char	*raw;		/* the input bytes we have */
	size_t		 rlen;
	size_t		 rpos;		/* next byte to look at */
	size_t		 rowstart;	/* where the row began */
	int		 eof;
	int		 first;		/* nothing read yet (BOM) */
	size_t		 line;		/* physical line at rpos */
	size_t		 rowline;

	size_t		 max_field;
	size_t		 max_fields;
	size_t		 max_row;
	char		*out;		/* the unescaped fields */
	size_t		 outlen;
	size_t		*offs;		/* field starts in out */
	const char	**fields;
	size_t		 nf;
};

static struct csv *
csv_alloc(size_t max_field, size_t max_fields, size_t max_row)
{
	struct csv	*c;

	c = xcalloc(1, sizeof *c);
	c->max_field = max_field;
	c->max_fields = max_fields;
	c->max_row = max_row;
	c->out = xmalloc(max_row + max_fields + 1);
	c->offs = xcalloc(max_fields + 1, sizeof *c->offs);
	c->fields = xcalloc(max_fields + 1, sizeof *c->fields);
	c->line = 1;
	c->first = 1;
	return (c);
}

/*
 * A reader pulling bytes from READ(ARG, buf, len): it returns the number
 * of bytes read, 0 at the end, -1 on error. Fields are at most MAX_FIELD
 * bytes, rows at most MAX_FIELDS fields and MAX_ROW bytes.
 */
struct csv *
csv_new(csv_read_cb read, void *arg, size_t max_field, size_t max_fields,
    size_t max_row)
{
	struct csv	*c = csv_alloc(max_field, max_fields, max_row);

	c->read = read;
	c->arg = arg;
	/* Room for one whole raw row (quotes double) and a chunk more. */
	c->cap = 2 * max_row + CSV_CHUNK;
	c->buf = xmalloc(c->cap);
	c->raw = c->buf;
	return (c);
}

/* A reader over LEN bytes at DATA (borrowed: it must outlive the reader). */
struct csv *
csv_new_buffer(const char *data, size_t len, size_t max_field,
    size_t max_fields, size_t max_row)
{
	struct csv	*c = csv_alloc(max_field, max_fields, max_row);

	c->raw = data;
	c->rlen = len;
	c->eof = 1;
	return (c);
}

/* Free a reader (NULL is fine); the input is the caller's. */
void
csv_free(struct csv *c)
{
	if (c == NULL)
		return;
	free(c->buf);
	free(c->out);
	free(c->offs);
	free(c->fields);
	free(c);
}

/*
 * More input: 1 got some, 0 at the end, -1 read error, -2 the current row
 * fills the whole window. Bytes before the current row are dropped.
 */
static int
csv_fill(struct csv *c)
{
	long	n;

	if (c->eof)
		return (0);
	if (c->rowstart > 0) {
		memmove(c->buf, c->buf + c->rowstart, c->rlen - c->rowstart);
		c->rlen -= c->rowstart;
		c->rpos -= c->rowstart;
		c->rowstart = 0;
	}
	if (c->rlen == c->cap)
		return (-2);
	n = c->read(c->arg, c->buf + c->rlen, c->cap - c->rlen);
	if (n < 0)
		return (-1);
	if (n == 0) {
		c->eof = 1;
		return (0);
	}
	c->rlen += (size_t)n;
	return (1);
}

/*
 * After a malformed row: go on at the line after the one it started on.
 * 0, or -1 on a read error.
 */
static int
csv_resync(struct csv *c)
{
	const char	*nl;
	int		 rc;

	for (;;) {
		nl = memchr(c->raw + c->rowstart, '\n', c->rlen - c->rowstart);
		if (nl != NULL) {
			c->rpos = (size_t)(nl - c->raw) + 1;
			c->line = c->rowline + 1;
			return (0);
		}
		/* That line is longer than the window: drop what we have. */
		c->rowstart = c->rpos = c->rlen;
		if ((rc = csv_fill(c)) <= 0) {
			c->rpos = c->rlen;
			c->line = c->rowline + 1;
			return (rc == -1 ? -1 : 0);
		}
	}
}

/* Close the field being read; 0 or -1 (too many). */
static int
csv_end_field(struct csv *c)
{
	if (c->nf == c->max_fields)
		return (-1);
	c->out[c->outlen++] = '\0';
	c->nf++;
	c->offs[c->nf] = c->outlen;
	return (0);
}

/*
 * The next row. CSV_ROW: *fields (valid until the next call) holds *n
 * strings. CSV_BAD: the row starting on *line was malformed (*why says
 * how) and was skipped. CSV_END: no more rows. CSV_ERROR: reading failed.
 * *line is the line the row starts on, counting from 1.
 */
enum csv_result
csv_next(struct csv *c, const char *const **fields, size_t *n, size_t *line,
    const char **why)
{
	enum csv_state		 st, crfrom = CSV_S_START;
	const unsigned char	*stop;
	unsigned char		 ch;
	size_t			 i, run;
	int			 rc;

	*why = NULL;
again:
	st = CSV_S_START;
	c->outlen = 0;
	c->nf = 0;
	c->offs[0] = 0;
	c->rowstart = c->rpos;
	c->rowline = c->line;
	*line = c->rowline;
	for (;;) {
		if (c->rpos == c->rlen) {
			rc = csv_fill(c);
			if (rc == -1)
				return (CSV_ERROR);
			if (rc == -2) {
				*why = "row too long";
				goto bad;
			}
			if (rc == 0)
				break;
		}
		if (c->first) {
			c->first = 0;
			rc = 0;
			while (c->rlen - c->rpos < 3 && (rc = csv_fill(c)) > 0)
				;
			if (rc == -1)
				return (CSV_ERROR);
			if (c->rlen - c->rpos >= 3 &&
			    memcmp(c->raw + c->rpos, "\xef\xbb\xbf", 3) == 0) {
				c->rpos += 3;
				c->rowstart = c->rpos;
				continue;
			}
		}
		/* A run of ordinary bytes is copied at once. */
		if (st == CSV_S_START || st == CSV_S_UNQUOTED ||
		    st == CSV_S_QUOTED) {
			stop = st == CSV_S_QUOTED ? csv_stop_quoted :
			    csv_stop_plain;
			for (i = c->rpos; i < c->rlen &&
			    !stop[(unsigned char)c->raw[i]]; i++)
				;
			if ((run = i - c->rpos) > 0) {
				if (c->outlen - c->offs[c->nf] + run >
				    c->max_field) {
					*why = "field too long";
					goto bad;
				}
				if (c->outlen + run > c->max_row) {
					*why = "row too long";
					goto bad;
				}
				memcpy(c->out + c->outlen, c->raw + c->rpos,
				    run);
				c->outlen += run;
				c->rpos = i;
				if (st == CSV_S_START)
					st = CSV_S_UNQUOTED;
				continue;
			}
		}
		ch = (unsigned char)c->raw[c->rpos++];
		if (ch == '\0') {
			*why = "NUL byte";
			goto bad;
		}
		switch (st) {
		case CSV_S_START:
			if (ch == '"') {
				st = CSV_S_QUOTED;
				continue;
			}
			/* FALLTHROUGH */
		case CSV_S_UNQUOTED:
			if (ch == ',') {
				if (csv_end_field(c) != 0)
					goto too_many;
				st = CSV_S_START;
				continue;
			}
			if (ch == '\n' || ch == '\r') {
				crfrom = st;
				if (ch == '\r') {
					st = CSV_S_CR;
					continue;
				}
				c->line++;
				goto end_row;
			}
			if (ch == '"') {
				*why = "quote inside an unquoted field";
				goto bad;
			}
			st = CSV_S_UNQUOTED;
			break;
		case CSV_S_QUOTED:
			if (ch == '"') {
				st = CSV_S_QUOTE;
				continue;
			}
			if (ch == '\n')
				c->line++;
			break;
		case CSV_S_QUOTE:
			if (ch == '"') {
				st = CSV_S_QUOTED;
				break;
			}
			if (ch == ',') {
				if (csv_end_field(c) != 0)
					goto too_many;
				st = CSV_S_START;
				continue;
			}
			if (ch == '\n') {
				crfrom = st;
				c->line++;
				goto end_row;
			}
			if (ch == '\r') {
				crfrom = st;
				st = CSV_S_CR;
				continue;
			}
			*why = "text after a closing quote";
			goto bad;
		case CSV_S_CR:
			if (ch != '\n') {
				*why = "carriage return without line feed";
				goto bad;
			}
			c->line++;
			goto end_row;
		}
		/* Append ch to the current field. */
		if (c->outlen - c->offs[c->nf] >= c->max_field) {
			*why = "field too long";
			goto bad;
		}
		if (c->outlen >= c->max_row) {
			*why = "row too long";
			goto bad;
		}
		c->out[c->outlen++] = (char)ch;
	}

	/* End of input. */
	if (st == CSV_S_QUOTED) {
		*why = "unterminated quoted field";
		goto bad;
	}
	if (st == CSV_S_CR)
		st = crfrom;
	if (c->rpos == c->rowstart || (st == CSV_S_START && c->nf == 0 &&
	    c->outlen == 0))
		return (CSV_END);
	crfrom = st;
	/* FALLTHROUGH */
end_row:
	/* A line with nothing on it is no row. */
	if (crfrom == CSV_S_START && c->nf == 0 && c->outlen == 0)
		goto again;
	if (csv_end_field(c) != 0)
		goto too_many;
	for (i = 0; i < c->nf; i++)
		c->fields[i] = c->out + c->offs[i];
	*fields = c->fields;
	*n = c->nf;
	return (CSV_ROW);

too_many:
	*why = "too many fields";
bad:
	*line = c->rowline;
	if (csv_resync(c) != 0)
		return (CSV_ERROR);
	return (CSV_BAD);
}
