/*
 * render.c: templates and Markdown, for the web pages and the e-mails.
 *
 * Templates are files under the templates directory in a mustache subset:
 * {{name}} (escaped for the output: HTML, plain text, or the caller's own
 * escaper), {{{name}}} and {{&name}} (raw: HTML made here, such as cmark's),
 * {{#name}}...{{/name}} (over an array's elements, into an object, or once
 * for any other true value), {{^name}}...{{/name}} (when false or empty),
 * {{>file}} (another template, by its name under the directory) and
 * {{! comment }}. Names are looked up from the innermost context out;
 * "a.b" descends ("a.0" is an array's first element), "." is the current
 * value. A tag alone on its line takes
 * the line with it, as mustache does, so text templates stay tidy.
 *
 * A template is parsed whole before anything is rendered, so a malformed
 * one is reported (FILE:LINE: what) even where its sections are not used.
 * The output is bounded; going past the bound is an error, never a
 * truncated page.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmark.h>

#include "tocsind.h"

#define RENDER_MAX_DEPTH	32	/* nested sections */
#define RENDER_MAX_PARTIALS	8	/* partials within partials */
#define RENDER_MAX_STACK	64	/* context values */
#define RENDER_MAX_NAME		128

enum render_node_type { RN_TEXT, RN_VAR, RN_RAW, RN_SECTION, RN_INVERTED,
    RN_PARTIAL };

struct render_node {
	enum render_node_type	 type;
	const char		*text;	/* RN_TEXT: into the source */
	size_t			 len;
	char			*name;
	int			 line;
	struct render_node	*child;	/* sections */
	struct render_node	*next;
};

struct render_tmpl {
	char			*name;
	char			*src;
	struct render_node	*root;
	struct render_tmpl	*next;	/* partials loaded by one render */
};

struct render_ctx {
	const char		*dir;
	const struct render_opts *o;
	struct render_buf	 out;
	json_t			*stack[RENDER_MAX_STACK];
	int			 depth;
	int			 partials;
	struct render_tmpl	*loaded;
	char			*cause;
};

/* Append N bytes; past the bound, remember it and add nothing more. */
void
render_buf_add(struct render_buf *b, const char *s, size_t n)
{
	size_t	cap;

	if (b->over)
		return;
	if (n > b->max || b->len > b->max - n) {
		b->over = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		cap = b->cap != 0 ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
render_buf_str(struct render_buf *b, const char *s)
{
	render_buf_add(b, s, strlen(s));
}

/* HTML (and XML) text and attribute values: the five special characters. */
void
render_escape_html(struct render_buf *b, const char *s, size_t n, void *arg)
{
	size_t		 i, start = 0;
	const char	*rep;

	(void)arg;
	for (i = 0; i < n; i++) {
		switch (s[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			continue;
		}
		render_buf_add(b, s + start, i - start);
		render_buf_str(b, rep);
		start = i + 1;
	}
	render_buf_add(b, s + start, n - start);
}

/* Plain text: as it is. */
static void
render_escape_text(struct render_buf *b, const char *s, size_t n, void *arg)
{
	(void)arg;
	render_buf_add(b, s, n);
}

/*
 * The templates directory: the configured one when it is there, else
 * templates/ beside the binary (the build tree, like db_schema_dir()).
 * TOCSIN_TEMPLATES_DIR overrides both (tests).
 */
const char *
render_dir(const struct config *cfg)
{
	static char	 local[PATH_MAX];
	const char	*dir;
	char		*slash;
	ssize_t		 n;

	if ((dir = getenv("TOCSIN_TEMPLATES_DIR")) != NULL && *dir != '\0')
		return (dir);
	if (cfg != NULL && cfg->templates != NULL &&
	    access(cfg->templates, R_OK | X_OK) == 0)
		return (cfg->templates);
	n = readlink("/proc/self/exe", local, sizeof local - 16);
	if (n <= 0)
		return (TOCSIN_DATADIR "/templates");
	local[n] = '\0';
	if ((slash = strrchr(local, '/')) != NULL)
		strcpy(slash, "/templates");
	return (local);
}

/* Is NAME a template name: relative, no "..", a small alphabet? */
int
render_name_ok(const char *name)
{
	const char	*p;

	if (name == NULL || *name == '\0' || *name == '/' ||
	    strlen(name) > 200 || strstr(name, "..") != NULL ||
	    strstr(name, "//") != NULL)
		return (0);
	for (p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '.' || *p == '/'))
			return (0);
	}
	return (1);
}

/* Read a file of the templates directory (bounded); NULL and *cause. */
char *
render_read(const char *dir, const char *name, size_t max, size_t *lenp,
    char **cause)
{
	struct stat	 sb;
	FILE		*f;
	char		*path, *buf;
	size_t		 len;

	if (!render_name_ok(name)) {
		xasprintf(cause, "%s: not a template name", name);
		return (NULL);
	}
	xasprintf(&path, "%s/%s", dir, name);
	if ((f = fopen(path, "rb")) == NULL) {
		xasprintf(cause, "%s: %s", name, strerror(errno));
		free(path);
		return (NULL);
	}
	free(path);
	if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
		xasprintf(cause, "%s: not a regular file", name);
		fclose(f);
		return (NULL);
	}
	if ((size_t)sb.st_size > max) {
		xasprintf(cause, "%s: larger than %zu bytes", name, max);
		fclose(f);
		return (NULL);
	}
	len = (size_t)sb.st_size;
	buf = xmalloc(len + 1);
	if (fread(buf, 1, len, f) != len) {
		xasprintf(cause, "%s: short read", name);
		free(buf);
		fclose(f);
		return (NULL);
	}
	buf[len] = '\0';
	fclose(f);
	if (lenp != NULL)
		*lenp = len;
	return (buf);
}

static void
render_nodes_free(struct render_node *n)
{
	struct render_node	*next;

	for (; n != NULL; n = next) {
		next = n->next;
		render_nodes_free(n->child);
		free(n->name);
		free(n);
	}
}

static void
render_tmpl_free(struct render_tmpl *t)
{
	if (t == NULL)
		return;
	render_nodes_free(t->root);
	free(t->name);
	free(t->src);
	free(t);
}

static int
render_line(const char *src, const char *at)
{
	int	line = 1;

	for (; src < at; src++) {
		if (*src == '\n')
			line++;
	}
	return (line);
}

static int
render_name_char(char c, int partial)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
	    (partial && c == '/'));
}

/* One parse: the source, the open sections, where nodes go next. */
struct render_parse {
	const char		*file;
	const char		*src;
	char			*cause;
	struct render_node	*open[RENDER_MAX_DEPTH + 1];
	struct render_node	**tail[RENDER_MAX_DEPTH + 1];
	int			 depth;
};

static struct render_node *
render_add(struct render_parse *p, enum render_node_type type, int line)
{
	struct render_node	*n = xcalloc(1, sizeof *n);

	n->type = type;
	n->line = line;
	*p->tail[p->depth] = n;
	p->tail[p->depth] = &n->next;
	return (n);
}

static int
render_fail(struct render_parse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
render_fail(struct render_parse *p, int line, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xasprintf(&p->cause, "%s:%d: %s", p->file, line, msg);
	free(msg);
	return (-1);
}

/*
 * Is the tag from TAG to END alone on its line? Then *from and *to are
 * the whitespace before it and the end of the line after it (newline
 * included) that go with it. TEXT is where the pending text starts: a tag
 * with another tag before it on its line is not alone.
 */
static int
render_standalone(const char *src, const char *text, const char *tag,
    const char *end, const char **from, const char **to)
{
	const char	*ls = tag, *e = end;

	while (ls > src && ls[-1] != '\n')
		ls--;
	if (ls < text)
		return (0);
	for (const char *q = ls; q < tag; q++) {
		if (*q != ' ' && *q != '\t')
			return (0);
	}
	while (*e == ' ' || *e == '\t')
		e++;
	if (*e == '\r' && e[1] == '\n')
		e += 2;
	else if (*e == '\n')
		e++;
	else if (*e != '\0')
		return (0);
	*from = ls;
	*to = e;
	return (1);
}

/* Parse T->src into T->root; 0, or -1 and *cause "FILE:LINE: what". */
static int
render_parse(struct render_tmpl *t, char **cause)
{
	struct render_parse	 p;
	struct render_node	*n;
	const char		*s, *text, *tag, *name, *close, *end;
	const char		*from, *to;
	char			 sigil, buf[RENDER_MAX_NAME + 1];
	size_t			 nlen;
	int			 line;

	memset(&p, 0, sizeof p);
	p.file = t->name;
	p.src = t->src;
	p.tail[0] = &t->root;
	text = s = t->src;
	for (;;) {
		tag = strstr(s, "{{");
		if (tag == NULL)
			break;
		line = render_line(t->src, tag);
		sigil = tag[2];
		if (sigil == '{') {
			name = tag + 3;
			close = strstr(name, "}}}");
			end = close != NULL ? close + 3 : NULL;
		} else {
			if (sigil == '#' || sigil == '^' || sigil == '/' ||
			    sigil == '>' || sigil == '!' || sigil == '&')
				name = tag + 3;
			else {
				name = tag + 2;
				sigil = '\0';
			}
			close = strstr(name, "}}");
			end = close != NULL ? close + 2 : NULL;
		}
		if (close == NULL) {
			render_fail(&p, line, "\"{{\" without its closing "
			    "\"%s\"", sigil == '{' ? "}}}" : "}}");
			goto fail;
		}
		if (sigil == '!')
			nlen = 0;
		else {
			while (name < close && (*name == ' ' || *name == '\t'))
				name++;
			nlen = close - name;
			while (nlen > 0 && (name[nlen - 1] == ' ' ||
			    name[nlen - 1] == '\t'))
				nlen--;
			if (nlen == 0) {
				render_fail(&p, line, "empty tag");
				goto fail;
			}
			if (nlen > RENDER_MAX_NAME) {
				render_fail(&p, line, "name too long");
				goto fail;
			}
			for (size_t i = 0; i < nlen; i++) {
				if (!render_name_char(name[i], sigil == '>')) {
					render_fail(&p, line, "bad character "
					    "'%c' in tag \"%.*s\"", name[i],
					    (int)nlen, name);
					goto fail;
				}
			}
			memcpy(buf, name, nlen);
			buf[nlen] = '\0';
		}
		/* Pending text, less what a standalone tag takes with it. */
		from = tag;
		to = end;
		if (sigil != '\0' && sigil != '{' && sigil != '&')
			render_standalone(t->src, text, tag, end, &from, &to);
		if (from > text) {
			n = render_add(&p, RN_TEXT, render_line(t->src, text));
			n->text = text;
			n->len = from - text;
		}
		text = s = to;
		switch (sigil) {
		case '!':
			break;
		case '{':
		case '&':
			render_add(&p, RN_RAW, line)->name = xstrdup(buf);
			break;
		case '\0':
			render_add(&p, RN_VAR, line)->name = xstrdup(buf);
			break;
		case '>':
			if (!render_name_ok(buf)) {
				render_fail(&p, line, "partial \"%s\": not a "
				    "template name", buf);
				goto fail;
			}
			render_add(&p, RN_PARTIAL, line)->name = xstrdup(buf);
			break;
		case '#':
		case '^':
			if (p.depth == RENDER_MAX_DEPTH) {
				render_fail(&p, line, "sections nested deeper "
				    "than %d", RENDER_MAX_DEPTH);
				goto fail;
			}
			n = render_add(&p, sigil == '#' ? RN_SECTION :
			    RN_INVERTED, line);
			n->name = xstrdup(buf);
			p.open[++p.depth] = n;
			p.tail[p.depth] = &n->child;
			break;
		case '/':
			if (p.depth == 0) {
				render_fail(&p, line, "\"{{/%s}}\" closes no "
				    "section", buf);
				goto fail;
			}
			if (strcmp(p.open[p.depth]->name, buf) != 0) {
				render_fail(&p, line, "\"{{/%s}}\" closes "
				    "section \"%s\" opened at line %d", buf,
				    p.open[p.depth]->name,
				    p.open[p.depth]->line);
				goto fail;
			}
			p.depth--;
			break;
		}
	}
	if (p.depth != 0) {
		render_fail(&p, p.open[p.depth]->line, "section \"%s\" is "
		    "never closed", p.open[p.depth]->name);
		goto fail;
	}
	if (*text != '\0') {
		n = render_add(&p, RN_TEXT, render_line(t->src, text));
		n->text = text;
		n->len = strlen(text);
	}
	return (0);
fail:
	*cause = p.cause;
	render_nodes_free(t->root);
	t->root = NULL;
	return (-1);
}

/* A parsed template from a string (the source is copied). */
static struct render_tmpl *
render_tmpl_new(const char *name, const char *src, char **cause)
{
	struct render_tmpl	*t = xcalloc(1, sizeof *t);

	t->name = xstrdup(name);
	t->src = xstrdup(src);
	if (render_parse(t, cause) != 0) {
		render_tmpl_free(t);
		return (NULL);
	}
	return (t);
}

/* Find NAME in the context stack: innermost first, then "a.b" descends. */
static json_t *
render_lookup(struct render_ctx *c, const char *name)
{
	json_t		*v = NULL;
	const char	*dot, *seg;
	char		 first[RENDER_MAX_NAME + 1];
	size_t		 n;
	int		 i;

	if (strcmp(name, ".") == 0)
		return (c->depth > 0 ? c->stack[c->depth - 1] : NULL);
	dot = strchr(name, '.');
	n = dot != NULL ? (size_t)(dot - name) : strlen(name);
	if (n == 0 || n > RENDER_MAX_NAME)
		return (NULL);
	memcpy(first, name, n);
	first[n] = '\0';
	for (i = c->depth - 1; i >= 0; i--) {
		if (json_is_object(c->stack[i]) &&
		    (v = json_object_get(c->stack[i], first)) != NULL)
			break;
	}
	while (v != NULL && dot != NULL) {
		seg = dot + 1;
		dot = strchr(seg, '.');
		n = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
		if (n == 0 || n > RENDER_MAX_NAME)
			return (NULL);
		memcpy(first, seg, n);
		first[n] = '\0';
		if (json_is_array(v) && strspn(first, "0123456789") == n &&
		    n < 9)
			v = json_array_get(v, strtoul(first, NULL, 10));
		else if (json_is_object(v))
			v = json_object_get(v, first);
		else
			return (NULL);
	}
	return (v);
}

/* False: absent, null, false, 0, "" and []. */
static int
render_truthy(json_t *v)
{
	if (v == NULL || json_is_null(v) || json_is_false(v))
		return (0);
	if (json_is_string(v))
		return (json_string_length(v) != 0);
	if (json_is_array(v))
		return (json_array_size(v) != 0);
	if (json_is_integer(v))
		return (json_integer_value(v) != 0);
	if (json_is_real(v))
		return (json_real_value(v) != 0.0);
	return (1);
}

static int
render_error(struct render_ctx *c, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
render_error(struct render_ctx *c, const char *file, int line,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (c->cause != NULL)
		return (-1);
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xasprintf(&c->cause, "%s:%d: %s", file, line, msg);
	free(msg);
	return (-1);
}

/* A value as text: strings as they are, numbers, true; else nothing. */
static void
render_value(struct render_ctx *c, json_t *v, int raw)
{
	char		 num[64];
	const char	*s = NULL;
	size_t		 n = 0;

	if (json_is_string(v)) {
		s = json_string_value(v);
		n = json_string_length(v);
	} else if (json_is_integer(v)) {
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		s = num;
		n = strlen(num);
	} else if (json_is_real(v)) {
		snprintf(num, sizeof num, "%g", json_real_value(v));
		s = num;
		n = strlen(num);
	} else if (json_is_true(v)) {
		s = "true";
		n = 4;
	}
	if (s == NULL)
		return;
	if (raw)
		render_buf_add(&c->out, s, n);
	else if (c->o->escape != NULL)
		c->o->escape(&c->out, s, n, c->o->escape_arg);
	else if (c->o->mode == RENDER_TEXT)
		render_escape_text(&c->out, s, n, NULL);
	else
		render_escape_html(&c->out, s, n, NULL);
}

static int	render_nodes(struct render_ctx *, const struct render_tmpl *,
		    const struct render_node *);

static int
render_push(struct render_ctx *c, const struct render_tmpl *t,
    const struct render_node *n, json_t *v)
{
	int	rc;

	if (c->depth == RENDER_MAX_STACK)
		return (render_error(c, t->name, n->line, "contexts nested "
		    "deeper than %d", RENDER_MAX_STACK));
	c->stack[c->depth++] = v;
	rc = render_nodes(c, t, n->child);
	c->depth--;
	return (rc);
}

/* A partial, parsed once per render however often it is used. */
static struct render_tmpl *
render_partial(struct render_ctx *c, const struct render_tmpl *t,
    const struct render_node *n)
{
	struct render_tmpl	*p;
	char			*src, *cause = NULL;

	for (p = c->loaded; p != NULL; p = p->next) {
		if (strcmp(p->name, n->name) == 0)
			return (p);
	}
	if ((src = render_read(c->dir, n->name, TOCSIN_TEMPLATE_MAX, NULL,
	    &cause)) == NULL) {
		render_error(c, t->name, n->line, "partial %s", cause);
		free(cause);
		return (NULL);
	}
	p = render_tmpl_new(n->name, src, &cause);
	free(src);
	if (p == NULL) {
		/* The partial's own FILE:LINE says where. */
		c->cause = cause;
		return (NULL);
	}
	p->next = c->loaded;
	c->loaded = p;
	return (p);
}

static int
render_nodes(struct render_ctx *c, const struct render_tmpl *t,
    const struct render_node *n)
{
	struct render_tmpl	*p;
	json_t			*v, *e;
	size_t			 i;
	int			 rc;

	for (; n != NULL; n = n->next) {
		switch (n->type) {
		case RN_TEXT:
			render_buf_add(&c->out, n->text, n->len);
			break;
		case RN_VAR:
		case RN_RAW:
			v = render_lookup(c, n->name);
			if (v == NULL && (c->o->flags & RENDER_STRICT))
				return (render_error(c, t->name, n->line,
				    "no value for \"%s\"", n->name));
			render_value(c, v, n->type == RN_RAW);
			break;
		case RN_SECTION:
			v = render_lookup(c, n->name);
			if (!render_truthy(v))
				break;
			if (json_is_array(v)) {
				json_array_foreach(v, i, e) {
					if (render_push(c, t, n, e) != 0)
						return (-1);
				}
			} else if (render_push(c, t, n, v) != 0)
				return (-1);
			break;
		case RN_INVERTED:
			v = render_lookup(c, n->name);
			if (!render_truthy(v) && render_nodes(c, t, n->child)
			    != 0)
				return (-1);
			break;
		case RN_PARTIAL:
			if (c->partials == RENDER_MAX_PARTIALS)
				return (render_error(c, t->name, n->line,
				    "partials nested deeper than %d",
				    RENDER_MAX_PARTIALS));
			if ((p = render_partial(c, t, n)) == NULL)
				return (-1);
			c->partials++;
			rc = render_nodes(c, p, p->root);
			c->partials--;
			if (rc != 0)
				return (-1);
			break;
		}
		if (c->out.over)
			return (render_error(c, t->name, n->line, "output "
			    "larger than %zu bytes", c->out.max));
	}
	return (0);
}

static const struct render_opts render_defaults = { RENDER_HTML, 0, 0, NULL,
    NULL };

/*
 * Render the template source SRC (called NAME in messages; its partials are
 * read from DIR) with the context CTX (borrowed). 0 and *out (NUL-ended,
 * *lenp bytes; the caller frees), or -1 and *cause "FILE:LINE: what".
 */
int
render_string(const char *dir, const char *name, const char *src,
    json_t *ctx, const struct render_opts *o, char **out, size_t *lenp,
    char **cause)
{
	struct render_ctx	 c;
	struct render_tmpl	*t, *p;
	int			 rc;

	*out = NULL;
	if (lenp != NULL)
		*lenp = 0;
	if ((t = render_tmpl_new(name, src, cause)) == NULL)
		return (-1);
	memset(&c, 0, sizeof c);
	c.dir = dir;
	c.o = o != NULL ? o : &render_defaults;
	c.out.max = c.o->max_bytes != 0 ? c.o->max_bytes : TOCSIN_RENDER_MAX;
	if (ctx != NULL)
		c.stack[c.depth++] = ctx;
	rc = render_nodes(&c, t, t->root);
	while ((p = c.loaded) != NULL) {
		c.loaded = p->next;
		render_tmpl_free(p);
	}
	render_tmpl_free(t);
	if (rc != 0) {
		free(c.out.p);
		*cause = c.cause;
		return (-1);
	}
	if (c.out.p == NULL)
		c.out.p = xstrdup("");
	*out = c.out.p;
	if (lenp != NULL)
		*lenp = c.out.len;
	return (0);
}

/* Render the template file NAME of DIR; as render_string(). */
int
render_file(const char *dir, const char *name, json_t *ctx,
    const struct render_opts *o, char **out, size_t *lenp, char **cause)
{
	char	*src;
	int	 rc;

	*out = NULL;
	if ((src = render_read(dir, name, TOCSIN_TEMPLATE_MAX, NULL,
	    cause)) == NULL)
		return (-1);
	rc = render_string(dir, name, src, ctx, o, out, lenp, cause);
	free(src);
	return (rc);
}

/*
 * Markdown to HTML with cmark, safe mode: raw HTML is dropped and links
 * to javascript:, vbscript:, file: and most data: URLs are emptied. The
 * caller frees the result.
 */
char *
render_markdown(const char *md, size_t len)
{
	char	*html, *copy;

	html = cmark_markdown_to_html(md, len, CMARK_OPT_SAFE |
	    CMARK_OPT_VALIDATE_UTF8);
	if (html == NULL)
		return (xstrdup(""));
	/* cmark allocates with its own allocator; hand back one of ours. */
	copy = xstrdup(html);
	free(html);
	return (copy);
}
