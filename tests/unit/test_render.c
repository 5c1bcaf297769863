/*
 * test_render.c: the template engine (escaping, sections, inverted
 * sections, partials, missing values, malformed templates with their line,
 * the output bound) and Markdown in safe mode.
 */

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tocsind.h"
#include "unit.h"

static char	test_dir[] = "/tmp/test_render.XXXXXX";

/* Render SRC with the JSON context CTX; the output, or "ERR:" + cause. */
static char *
test_render_opts(const char *src, const char *ctx, const struct render_opts *o)
{
	json_t	*v = NULL;
	char	*out, *cause = NULL, *err;

	if (ctx != NULL)
		v = json_loads(ctx, 0, NULL);
	if (render_string(test_dir, "t.html", src, v, o, &out, NULL,
	    &cause) != 0) {
		xasprintf(&err, "ERR:%s", cause);
		free(cause);
		out = err;
	}
	json_decref(v);
	return (out);
}

static char *
test_render(const char *src, const char *ctx)
{
	return (test_render_opts(src, ctx, NULL));
}

#define CHECK_RENDER(src, ctx, want) do {				\
	char *got_ = test_render((src), (ctx));				\
	CHECK_STR_EQ(got_, (want));					\
	free(got_);							\
} while (0)

static void
test_write(const char *name, const char *text)
{
	char	 path[256];
	FILE	*f;

	snprintf(path, sizeof path, "%s/%s", test_dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void
test_escaping(void)
{
	struct render_opts	 text = { RENDER_TEXT, 0, 0, NULL, NULL };
	char			*s;

	CHECK_RENDER("<p>{{x}}</p>", "{\"x\": \"<b>&\\\"'</b>\"}",
	    "<p>&lt;b&gt;&amp;&quot;&#39;&lt;/b&gt;</p>");
	CHECK_RENDER("{{{x}}}|{{&x}}", "{\"x\": \"<i>a&b</i>\"}",
	    "<i>a&b</i>|<i>a&b</i>");
	CHECK_RENDER("{{ x }}", "{\"x\": \"a\"}", "a");
	CHECK_RENDER("{{n}} {{r}} {{t}} {{f}} {{z}}",
	    "{\"n\": 42, \"r\": 1.5, \"t\": true, \"f\": false, \"z\": null}",
	    "42 1.5 true  ");
	s = test_render_opts("{{x}}", "{\"x\": \"<a & b>\"}", &text);
	CHECK_STR_EQ(s, "<a & b>");
	free(s);
	/* Text of the template itself is never escaped. */
	CHECK_RENDER("<a href=\"/\">&amp;</a>", NULL,
	    "<a href=\"/\">&amp;</a>");
}

/* A custom escaper (the e-mail's RFC 2047 headers plug in this way). */
static void
test_upper_cb(struct render_buf *b, const char *s, size_t n, void *arg)
{
	size_t	i;
	char	c;

	(void)arg;
	for (i = 0; i < n; i++) {
		c = (s[i] >= 'a' && s[i] <= 'z') ? s[i] - 32 : s[i];
		render_buf_add(b, &c, 1);
	}
}

static void
test_custom_escape(void)
{
	struct render_opts	 o = { RENDER_TEXT, 0, 0, test_upper_cb, NULL };
	char			*s;

	s = test_render_opts("Subject: {{s}}", "{\"s\": \"hello\"}", &o);
	CHECK_STR_EQ(s, "Subject: HELLO");
	free(s);
}

static void
test_sections(void)
{
	const char	*items = "{\"items\": [{\"n\": \"a\"}, {\"n\": \"b\"}],"
	    " \"title\": \"T\", \"empty\": [], \"obj\": {\"k\": \"v\"},"
	    " \"yes\": true, \"no\": false, \"zero\": 0, \"s\": \"\","
	    " \"tags\": [\"x\", \"y\"]}";

	CHECK_RENDER("{{#items}}[{{n}}]{{/items}}", items, "[a][b]");
	/* Outer names are reached from inside a section. */
	CHECK_RENDER("{{#items}}{{title}}{{n}} {{/items}}", items, "Ta Tb ");
	CHECK_RENDER("{{#tags}}<{{.}}>{{/tags}}", items, "<x><y>");
	CHECK_RENDER("{{#obj}}{{k}}{{/obj}}|{{obj.k}}", items, "v|v");
	CHECK_RENDER("{{tags.1}}{{items.0.n}}{{tags.7}}", items, "ya");
	CHECK_RENDER("{{#yes}}Y{{/yes}}{{#no}}N{{/no}}{{#zero}}Z{{/zero}}"
	    "{{#s}}S{{/s}}{{#empty}}E{{/empty}}{{#missing}}M{{/missing}}",
	    items, "Y");
	CHECK_RENDER("{{#a}}{{#b}}{{c}}{{/b}}{{/a}}",
	    "{\"a\": {\"b\": [{\"c\": 1}, {\"c\": 2}]}}", "12");
	/* A standalone tag takes its line with it. */
	CHECK_RENDER("<ul>\n  {{#tags}}\n  <li>{{.}}</li>\n  {{/tags}}\n"
	    "</ul>\n", items, "<ul>\n  <li>x</li>\n  <li>y</li>\n</ul>\n");
	CHECK_RENDER("a {{#yes}}b{{/yes}} c\n", items, "a b c\n");
	/* Dotted names stop where the first part is found. */
	CHECK_RENDER("{{#obj}}{{title.k}}{{/obj}}", items, "");
}

static void
test_inverted(void)
{
	const char	*ctx = "{\"empty\": [], \"full\": [1], \"no\": false}";

	CHECK_RENDER("{{^empty}}none{{/empty}}", ctx, "none");
	CHECK_RENDER("{{^full}}none{{/full}}", ctx, "");
	CHECK_RENDER("{{^no}}N{{/no}}{{^missing}}M{{/missing}}", ctx, "NM");
	CHECK_RENDER("{{#full}}some{{/full}}{{^full}}none{{/full}}", ctx,
	    "some");
}

static void
test_partials(void)
{
	char	*s;

	test_write("item.html", "<li>{{name}}</li>");
	test_write("list.html", "<ul>{{#items}}{{>item.html}}{{/items}}</ul>");
	test_write("loop.html", "{{>loop.html}}");
	test_write("broken.html", "line one\nline {{#open}} two\n");
	CHECK_RENDER("{{>list.html}}",
	    "{\"items\": [{\"name\": \"<a>\"}, {\"name\": \"b\"}]}",
	    "<ul><li>&lt;a&gt;</li><li>b</li></ul>");
	CHECK_RENDER("x{{>missing.html}}", "{}",
	    "ERR:t.html:1: partial missing.html: No such file or directory");
	CHECK_RENDER("{{>../etc/passwd}}", "{}",
	    "ERR:t.html:1: partial \"../etc/passwd\": not a template name");
	s = test_render("{{>loop.html}}", "{}");
	CHECK(strncmp(s, "ERR:loop.html:1: partials nested deeper", 39) == 0);
	free(s);
	/* A malformed partial is reported with its own name and line. */
	CHECK_RENDER("\n{{>broken.html}}", "{}",
	    "ERR:broken.html:2: section \"open\" is never closed");
}

static void
test_missing(void)
{
	struct render_opts	 strict = { RENDER_HTML, 0, RENDER_STRICT, NULL,
	    NULL };
	char			*s;

	CHECK_RENDER("a{{nothing}}b{{{nada}}}c{{x.y.z}}", "{\"x\": {}}",
	    "abc");
	CHECK_RENDER("{{x}}", NULL, "");
	s = test_render_opts("ok\n{{x}}\n{{nothing}}", "{\"x\": 1}", &strict);
	CHECK_STR_EQ(s, "ERR:t.html:3: no value for \"nothing\"");
	free(s);
}

static void
test_malformed(void)
{
	CHECK_RENDER("a\nb {{x\nc", "{}",
	    "ERR:t.html:2: \"{{\" without its closing \"}}\"");
	CHECK_RENDER("{{{x}}", "{}",
	    "ERR:t.html:1: \"{{\" without its closing \"}}}\"");
	CHECK_RENDER("\n\n{{#a}}\n{{/b}}", "{}",
	    "ERR:t.html:4: \"{{/b}}\" closes section \"a\" opened at line 3");
	CHECK_RENDER("x\n{{/a}}", "{}",
	    "ERR:t.html:2: \"{{/a}}\" closes no section");
	CHECK_RENDER("1\n2\n{{^a}}\n", "{}",
	    "ERR:t.html:3: section \"a\" is never closed");
	CHECK_RENDER("{{}}", "{}", "ERR:t.html:1: empty tag");
	CHECK_RENDER("{{a b}}", "{}",
	    "ERR:t.html:1: bad character ' ' in tag \"a b\"");
	CHECK_RENDER("{{=<% %>=}}", "{}",
	    "ERR:t.html:1: bad character '=' in tag \"=<% %>=\"");
	/* An error in a section that is not rendered is still reported. */
	CHECK_RENDER("{{#no}}{{/yes}}{{/no}}", "{\"no\": false}",
	    "ERR:t.html:1: \"{{/yes}}\" closes section \"no\" opened at "
	    "line 1");
	CHECK_RENDER("{{! a comment }}x", "{}", "x");
}

static void
test_bound(void)
{
	struct render_opts	 small = { RENDER_HTML, 16, 0, NULL, NULL };
	char			*s;

	s = test_render_opts("{{#a}}0123456789{{/a}}", "{\"a\": [1, 2, 3]}",
	    &small);
	CHECK_STR_EQ(s, "ERR:t.html:1: output larger than 16 bytes");
	free(s);
	s = test_render_opts("{{#a}}0123{{/a}}", "{\"a\": [1, 2, 3]}",
	    &small);
	CHECK_STR_EQ(s, "012301230123");
	free(s);
}

static void
test_file(void)
{
	char	*out, *cause = NULL;
	json_t	*v = json_pack("{s:s}", "name", "<x>");

	test_write("page.html", "Hello {{name}}\n");
	CHECK(render_file(test_dir, "page.html", v, NULL, &out, NULL,
	    &cause) == 0);
	CHECK_STR_EQ(out, "Hello &lt;x&gt;\n");
	free(out);
	CHECK(render_file(test_dir, "nope.html", v, NULL, &out, NULL,
	    &cause) == -1);
	CHECK(cause != NULL && strncmp(cause, "nope.html: ", 11) == 0);
	free(cause);
	cause = NULL;
	CHECK(render_file(test_dir, "/etc/passwd", v, NULL, &out, NULL,
	    &cause) == -1);
	free(cause);
	json_decref(v);
}

static void
test_markdown(void)
{
	const char	*md = "# Title\n\nSome *text* <script>alert(1)</script>"
	    "\n\n[x](javascript:alert(1)) [y](https://example.org/)\n";
	char		*html = render_markdown(md, strlen(md));

	CHECK(strstr(html, "<h1>Title</h1>") != NULL);
	CHECK(strstr(html, "<em>text</em>") != NULL);
	CHECK(strstr(html, "<script") == NULL);
	CHECK(strstr(html, "javascript:") == NULL);
	CHECK(strstr(html, "href=\"https://example.org/\"") != NULL);
	free(html);
}

int
main(void)
{
	char	cmd[64];

	if (mkdtemp(test_dir) == NULL)
		return (1);
	test_escaping();
	test_custom_escape();
	test_sections();
	test_inverted();
	test_partials();
	test_missing();
	test_malformed();
	test_bound();
	test_file();
	test_markdown();
	snprintf(cmd, sizeof cmd, "rm -rf %s", test_dir);
	if (system(cmd) != 0)
		printf("test_render: could not remove %s\n", test_dir);
	return (UNIT_DONE());
}
