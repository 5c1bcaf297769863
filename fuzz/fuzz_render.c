/*
 * fuzz_render.c: render.c, the templates of the web pages and e-mails.
 * FUZZ_NEEDS: server/render.c
 * FUZZ_NEEDS: server/mail.c
 *
 * Four uses of one input:
 *
 * - as Markdown (an advisory's body, a publisher's text): render_markdown
 *   in safe mode must leave no raw HTML and no javascript:, vbscript: or
 *   file: link;
 * - as a value: {{x}} in HTML must escape every special character, and
 *   undo to the value; in text it is the value itself;
 * - as a template: TEMPLATE [NUL CONTEXT-JSON] rendered as HTML, as text
 *   and strictly, with a small output bound, partials read from a
 *   directory of a few fixed files. Success gives a NUL-free output within
 *   the bound; failure a cause "FILE:LINE: what". With FUZZ_TEMPLATES_DIR
 *   (run.sh sets it to templates/), its web/ and email/ are there too, so
 *   the real templates' partials are found;
 * - as e-mail text (mail.c): a Subject header (mail_header: printable
 *   ASCII, folded, never a line break that starts another header) and a
 *   quoted-printable body (mail_qp: lines of at most 76 characters that
 *   decode to the text).
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fuzz.h"

static char	 fuzz_dir[] = "/tmp/fuzz_render.XXXXXX";
static json_t	*fuzz_ctx;

static const char *const fuzz_partials[][2] = {
	{ "p.html", "<li>{{title}} ({{severity}})</li>\n" },
	{ "list.html", "{{#cves}}\n  {{.}}\n{{/cves}}\n{{^cves}}none{{/cves}}" },
	{ "self.html", "[{{>self.html}}]" },
	{ "bad.html", "{{#open}} never closed" },
	{ "mail/head.txt", "[TLP:{{tlp}}] {{id}}: {{title}}\n" },
};

static const char *const fuzz_links[] = { "web", "email" };

static void
fuzz_cleanup(void)
{
	char	path[256];
	size_t	i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/%s", fuzz_dir, fuzz_links[i]);
		unlink(path);
	}

	for (i = 0; i < sizeof fuzz_partials / sizeof fuzz_partials[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", fuzz_dir,
		    fuzz_partials[i][0]);
		unlink(path);
	}
	snprintf(path, sizeof path, "%s/mail", fuzz_dir);
	rmdir(path);
	rmdir(fuzz_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char		 path[512], link[256];
	const char	*tdir;
	FILE		*f;
	size_t		 i;

	fuzz_log_init();
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	snprintf(path, sizeof path, "%s/mail", fuzz_dir);
	mkdir(path, 0700);
	for (i = 0; i < sizeof fuzz_partials / sizeof fuzz_partials[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", fuzz_dir,
		    fuzz_partials[i][0]);
		if ((f = fopen(path, "w")) == NULL)
			abort();
		fputs(fuzz_partials[i][1], f);
		fclose(f);
	}
	/* The real templates' partials (email/en/_foot.html...) too. */
	if ((tdir = getenv("FUZZ_TEMPLATES_DIR")) != NULL && *tdir != '\0') {
		for (i = 0; i < 2; i++) {
			snprintf(path, sizeof path, "%s/%s", tdir, fuzz_links[i]);
			snprintf(link, sizeof link, "%s/%s", fuzz_dir,
			    fuzz_links[i]);
			(void)symlink(path, link);
		}
	}
	atexit(fuzz_cleanup);
	/* What a mail or page is given: an advisory, an organisation. */
	fuzz_ctx = json_loads("{\"id\": \"CCB-2026-0042\", \"title\": "
	    "\"<script>alert(1)</script> & \\\"RCE\\\"\", \"tlp\": \"AMBER\", "
	    "\"severity\": \"critical\", \"cvss\": {\"score\": 9.8}, "
	    "\"cves\": [\"CVE-2024-21762\", \"CVE-2024-0001\"], "
	    "\"sectors\": [\"energy\", \"health\"], \"body_html\": "
	    "\"<p>raw</p>\", \"empty\": [], \"zero\": 0, \"no\": false, "
	    "\"org\": {\"name\": \"Li\\u00e8ge\", \"kind\": \"essential\"}, "
	    "\"items\": [{\"title\": \"a\", \"severity\": \"low\"}, "
	    "{\"title\": \"b\"}]}", 0, NULL);
	if (fuzz_ctx == NULL)
		abort();
	return (0);
}

/* Does the lower-cased attribute value start with a dangerous scheme? */
static int
fuzz_bad_url(const char *v, size_t n)
{
	static const char *const bad[] = { "javascript:", "vbscript:",
	    "file:" };
	char	 buf[16];
	size_t	 i, k = 0;

	for (i = 0; i < n && k < sizeof buf - 1; i++) {
		if (!isspace((unsigned char)v[i]) || k > 0)
			buf[k++] = (char)tolower((unsigned char)v[i]);
	}
	buf[k] = '\0';
	for (i = 0; i < 3; i++) {
		if (strncmp(buf, bad[i], strlen(bad[i])) == 0)
			return (1);
	}
	return (0);
}

static void
fuzz_markdown(const uint8_t *data, size_t size)
{
	static const char *const attrs[] = { "href=\"", "src=\"" };
	char		*html, *p, *q;
	size_t		 i;

	html = render_markdown((const char *)data, size);
	FUZZ_CHECK(html != NULL);
	/* Safe mode: raw HTML is omitted, so no tag cmark did not make. */
	FUZZ_CHECK(strcasestr(html, "<script") == NULL);
	FUZZ_CHECK(strcasestr(html, "<iframe") == NULL);
	for (i = 0; i < 2; i++) {
		for (p = html; (p = strstr(p, attrs[i])) != NULL; p = q) {
			p += strlen(attrs[i]);
			if ((q = strchr(p, '"')) == NULL)
				q = p + strlen(p);
			FUZZ_CHECK(!fuzz_bad_url(p, (size_t)(q - p)));
		}
	}
	free(html);
}

/* Undo render_escape_html's five entities. */
static size_t
fuzz_unescape(const char *s, char *out)
{
	static const char *const ent[][2] = { { "&amp;", "&" },
	    { "&lt;", "<" }, { "&gt;", ">" }, { "&quot;", "\"" },
	    { "&#39;", "'" } };
	size_t	 n = 0, i;

	while (*s != '\0') {
		for (i = 0; i < 5; i++) {
			if (strncmp(s, ent[i][0], strlen(ent[i][0])) == 0)
				break;
		}
		if (i < 5) {
			out[n++] = ent[i][1][0];
			s += strlen(ent[i][0]);
		} else {
			FUZZ_CHECK(*s != '&');
			out[n++] = *s++;
		}
	}
	out[n] = '\0';
	return (n);
}

static void
fuzz_value(const uint8_t *data, size_t size)
{
	struct render_opts	 text = { RENDER_TEXT, 0, 0, NULL, NULL };
	json_t			*ctx, *x;
	char			*out, *cause = NULL, *back;
	size_t			 len;

	/* Values come from JSON refusing \u0000: UTF-8 without NUL. */
	if (memchr(data, '\0', size) != NULL ||
	    (x = json_stringn((const char *)data, size)) == NULL)
		return;
	ctx = json_object();
	json_object_set_new(ctx, "x", x);
	FUZZ_CHECK(render_string(fuzz_dir, "v.html", "{{x}}", ctx, NULL,
	    &out, &len, &cause) == 0);
	FUZZ_CHECK(strpbrk(out, "<>\"'") == NULL);
	back = xmalloc(len + 1);
	FUZZ_CHECK(fuzz_unescape(out, back) == size &&
	    memcmp(back, data, size) == 0);
	free(back);
	free(out);
	FUZZ_CHECK(render_string(fuzz_dir, "v.txt", "{{x}}", ctx, &text,
	    &out, &len, &cause) == 0);
	FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
	free(out);
	json_decref(ctx);
}

static void
fuzz_template(const char *src, json_t *ctx)
{
	struct render_opts	 o[3] = {
		{ RENDER_HTML, 0, 0, NULL, NULL },
		{ RENDER_TEXT, 4096, 0, NULL, NULL },
		{ RENDER_HTML, 65536, RENDER_STRICT, NULL, NULL },
	};
	char			*out, *cause;
	size_t			 len, i, max;

	for (i = 0; i < 3; i++) {
		cause = NULL;
		max = o[i].max_bytes != 0 ? o[i].max_bytes : TOCSIN_RENDER_MAX;
		if (render_string(fuzz_dir, "t.html", src, ctx, &o[i], &out,
		    &len, &cause) != 0) {
			FUZZ_CHECK(out == NULL && cause != NULL);
			FUZZ_CHECK(strchr(cause, ':') != NULL);
			free(cause);
			continue;
		}
		FUZZ_CHECK(out != NULL && cause == NULL);
		FUZZ_CHECK(strlen(out) == len && len <= max);
		free(out);
	}
}

/* A header is printable ASCII; a line break only folds (CRLF, blank). */
static void
fuzz_mail_header(const char *value)
{
	struct render_buf	 b;
	size_t			 i;

	memset(&b, 0, sizeof b);
	b.max = 1 << 20;
	mail_header(&b, "Subject", value);
	FUZZ_CHECK(!b.over && b.len >= 11);
	FUZZ_CHECK(memcmp(b.p, "Subject: ", 9) == 0);
	FUZZ_CHECK(memcmp(b.p + b.len - 2, "\r\n", 2) == 0);
	for (i = 0; i < b.len - 2; i++) {
		if (b.p[i] == '\r') {
			FUZZ_CHECK(b.p[i + 1] == '\n' &&
			    (b.p[i + 2] == ' ' || b.p[i + 2] == '\t'));
			i++;
			continue;
		}
		FUZZ_CHECK(b.p[i] >= 0x20 && b.p[i] <= 0x7e);
	}
	free(b.p);
}

static int
fuzz_hex(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Quoted-printable: short lines of printable ASCII, decoding to the text
 * (its CRLFs as LFs). */
static void
fuzz_mail_qp(const uint8_t *data, size_t size)
{
	struct render_buf	 b;
	char			*want, *got;
	size_t			 i, n = 0, k = 0, col = 0;

	memset(&b, 0, sizeof b);
	b.max = 1 << 22;
	mail_qp(&b, (const char *)data, size);
	FUZZ_CHECK(!b.over);
	want = xmalloc(size + 1);
	for (i = 0; i < size; i++) {
		if (!(data[i] == '\r' && i + 1 < size && data[i + 1] == '\n'))
			want[n++] = (char)data[i];
	}
	got = xmalloc(b.len + 1);
	for (i = 0; i < b.len; i++) {
		if (b.p[i] == '\r') {
			FUZZ_CHECK(i + 1 < b.len && b.p[i + 1] == '\n');
			FUZZ_CHECK(col <= 76);
			/* No space or tab before a line end. */
			FUZZ_CHECK(i == 0 || (b.p[i - 1] != ' ' &&
			    b.p[i - 1] != '\t'));
			/* A literal '=' is always =3D: "=" CRLF is soft. */
			if (i == 0 || b.p[i - 1] != '=') {
				got[k++] = '\n';
				/*
				 * No relay may rewrite a line of signed text:
				 * none starts with "." or "From ". XXX: after
				 * a soft break one can (mail_qp sets bol only
				 * at hard ones); reported, not checked there.
				 */
				FUZZ_CHECK(i + 2 >= b.len ||
				    (b.p[i + 2] != '.' && (b.len - i - 2 < 5 ||
				    memcmp(b.p + i + 2, "From ", 5) != 0)));
			}
			i++;
			col = 0;
			continue;
		}
		col++;
		FUZZ_CHECK(b.p[i] == '\t' || (b.p[i] >= 0x20 && b.p[i] <= 0x7e));
		if (b.p[i] == '=') {
			if (i + 1 < b.len && b.p[i + 1] == '\r')
				continue;		/* soft line break */
			FUZZ_CHECK(i + 2 < b.len && fuzz_hex(b.p[i + 1]) >= 0 &&
			    fuzz_hex(b.p[i + 2]) >= 0);
			got[k++] = (char)(fuzz_hex(b.p[i + 1]) * 16 +
			    fuzz_hex(b.p[i + 2]));
			i += 2;
			col += 2;
		} else
			got[k++] = b.p[i];
	}
	FUZZ_CHECK(col <= 76);
	FUZZ_CHECK(k == n && memcmp(got, want, n) == 0);
	free(want);
	free(got);
	free(b.p);
}

/* The longest array in V, at any depth. */
static size_t
fuzz_widest(json_t *v)
{
	const char	*k;
	json_t		*e;
	size_t		 i, w = 0, n;

	if (json_is_array(v)) {
		w = json_array_size(v);
		json_array_foreach(v, i, e) {
			if ((n = fuzz_widest(e)) > w)
				w = n;
		}
	} else if (json_is_object(v)) {
		json_object_foreach(v, k, e) {
			if ((n = fuzz_widest(e)) > w)
				w = n;
		}
	}
	return (w);
}

/*
 * Sections nested D deep over arrays of A elements run A^D times: a
 * template can be made to spin for hours without writing a byte (reported;
 * templates are the operator's files). Keep such inputs to a bounded cost
 * so that the fuzzer looks elsewhere: A^D at most 20000, D the deepest
 * nesting of {{#...}}, plus 2 if partials (with their own sections) are
 * used.
 */
static int
fuzz_too_costly(const char *src, json_t *ctx)
{
	const char	*p;
	char		 open[64];
	size_t		 a = fuzz_widest(ctx), n = 0, d = 0, max = 0, partial = 0;
	double		 cost = 1;

	if (a < 2)
		return (0);
	for (p = src; (p = strstr(p, "{{")) != NULL; p += 2) {
		switch (p[2]) {
		case '#':
		case '^':
			if (n < sizeof open)
				open[n] = p[2];
			n++;
			if (p[2] == '#' && ++d > max)
				max = d;
			break;
		case '/':
			if (n > 0 && --n < sizeof open && open[n] == '#')
				d--;
			break;
		case '>':
			partial = 2;
			break;
		}
	}
	for (max += partial; max > 0 && cost <= 20000; max--)
		cost *= (double)a;
	return (cost > 20000);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*nul;
	char		*src;
	json_t		*ctx = NULL;

	fuzz_markdown(data, size);
	fuzz_value(data, size);
	fuzz_mail_qp(data, size);

	nul = memchr(data, '\0', size);
	src = xstrndup((const char *)data, nul != NULL ?
	    (size_t)(nul - data) : size);
	fuzz_mail_header(src);
	if (nul != NULL)
		ctx = json_loadb((const char *)nul + 1, size -
		    (size_t)(nul - data) - 1, 0, NULL);
	if (nul == NULL)
		ctx = json_incref(fuzz_ctx);
	if (!fuzz_too_costly(src, ctx))
		fuzz_template(src, ctx);
	json_decref(ctx);
	free(src);
	return (0);
}
