/*
 * tocsin.c: main for tocsin(1). Reads the global options and the
 * environment (TOCSIN_URL, TOCSIN_TOKEN, TOCSIN_WS_URL), loads the token,
 * and hands the rest of the command line to a command in rest.c or
 * subscribe.c. Also the small helpers every command shares: allocation,
 * messages on stderr, number parsing and JSON printing.
 */
#include "client.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

volatile sig_atomic_t client_quit;

enum { OPT_CACERT = 256 };

static const char *const http_schemes[] = { "http", "https", NULL };

static const char *tocsin_usage_line =
    "usage: tocsin [-v] [-u URL] [-t TOKEN | -T TOKEN_FILE] [-w WS_URL] "
    "[--cacert FILE] command [args]\n";

static const struct {
	const char	*name;
	int		 (*fn)(struct client *, int, char **);
	int		  needs_token;
	const char	*usage;
} tocsin_commands[] = {
	{ "publish",	rest_cmd_publish,	1,
	  "[--json] FILE.json" },
	{ "get",	rest_cmd_get,		1,
	  "[--revision N] ID" },
	{ "list",	rest_cmd_list,		1,
	  "[--since TIME] [--sector S] [--tlp L] [--severity S] [--cve C]\n"
	  "\t    [-q TEXT] [--limit N] [--all] [--json]" },
	{ "subscribe",	subscribe_cmd,		1,
	  "[--since N | --state FILE] [--format jsonl|text]\n"
	  "\t    [--exec CMD] [--max-retries N]" },
};
#define TOCSIN_NCOMMANDS (sizeof tocsin_commands / sizeof tocsin_commands[0])

void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		size = 1;
	if ((p = malloc(size)) == NULL) {
		client_warnx("out of memory");
		abort();
	}
	return p;
}

void *
xrealloc(void *old, size_t size)
{
	void	*p;

	if (size == 0)
		size = 1;
	if ((p = realloc(old, size)) == NULL) {
		client_warnx("out of memory");
		abort();
	}
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL) {
		client_warnx("out of memory");
		abort();
	}
	return p;
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n < 0) {
		client_warnx("out of memory");
		abort();
	}
	return n;
}

/* Print "tocsin: message" on stderr. */
void
client_warnx(const char *fmt, ...)
{
	va_list	ap;

	fflush(stdout);
	fputs("tocsin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Like client_warnx, but only with -v. */
void
client_note(const struct client *c, const char *fmt, ...)
{
	va_list	ap;

	if (c->verbose == 0)
		return;
	fflush(stdout);
	fputs("tocsin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * The usage of one command; or with cmd NULL, the global line, followed by
 * every command's when all is set (for -h).
 */
static void
tocsin_print_usage(FILE *f, const char *cmd, int all)
{
	size_t	i;

	if (cmd == NULL) {
		fputs(tocsin_usage_line, f);
		if (!all)
			return;
	}
	for (i = 0; i < TOCSIN_NCOMMANDS; i++) {
		if (cmd == NULL)
			fprintf(f, "\ttocsin %s %s\n", tocsin_commands[i].name,
			    tocsin_commands[i].usage);
		else if (strcmp(cmd, tocsin_commands[i].name) == 0)
			fprintf(f, "usage: tocsin [options] %s %s\n", cmd,
			    tocsin_commands[i].usage);
	}
}

/*
 * Report a usage error: the message, then the usage line of the command (or
 * the global one when cmd is NULL). Returns the exit status to use.
 */
int
client_usage(const char *cmd, const char *fmt, ...)
{
	va_list	ap;

	if (fmt != NULL) {
		fflush(stdout);
		fputs("tocsin: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	tocsin_print_usage(stderr, cmd, 0);
	return TOCSIN_EXIT_USAGE;
}

/* Parse a decimal integer in [min, max]; 0 on success, -1 if bad. */
int
client_parse_int(const char *s, long long min, long long max,
    long long *out)
{
	char		*end;
	long long	 v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * Turn what getopt_long returned for a bad option into a usage error.
 * Long-only options have values from 256 up, so optopt names a short
 * option only below that.
 */
int
client_bad_option(const char *cmd, int ch, char **argv)
{
	if (ch == ':') {
		if (optopt > 0 && optopt < 256 && isprint(optopt))
			return client_usage(cmd, "option -%c needs an "
			    "argument", optopt);
		return client_usage(cmd, "option %s needs an argument",
		    argv[optind - 1]);
	}
	if (optopt > 0 && optopt < 256 && isprint(optopt))
		return client_usage(cmd, "unknown option -%c", optopt);
	return client_usage(cmd, "unknown option %s", argv[optind - 1]);
}

/*
 * Print a JSON value: pretty (indented, then a newline) or compact on one
 * line. Reals get 15 significant digits, so 9.8 prints as 9.8 and not as
 * the 17-digit binary approximation. Returns -1 on an output error.
 */
int
client_print_json(FILE *f, const json_t *j, int pretty)
{
	size_t	flags = JSON_REAL_PRECISION(15);

	flags |= pretty ? JSON_INDENT(2) : JSON_COMPACT;
	if (json_dumpf(j, f, flags) != 0 || fputc('\n', f) == EOF)
		return -1;
	return 0;
}

/*
 * A copy of s fit for one line of a terminal: control characters (a title
 * could carry newlines or escape sequences) become spaces.
 */
char *
client_sanitize(const char *s)
{
	char	*copy, *p;

	copy = xstrdup(s);
	for (p = copy; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	return copy;
}

/*
 * The token file holds the token on its first line; trailing whitespace
 * (the newline an editor adds) is dropped.
 */
static int
tocsin_read_token_file(const char *path, char **token)
{
	FILE	*f;
	char	 buf[TOCSIN_MAX_TOKEN + 2];
	size_t	 n;

	if (strcmp(path, "-") == 0)
		f = stdin;
	else if ((f = fopen(path, "r")) == NULL) {
		client_warnx("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fgets(buf, sizeof buf, f) == NULL) {
		if (ferror(f))
			client_warnx("%s: %s", path, strerror(errno));
		else
			client_warnx("%s: empty token file", path);
		if (f != stdin)
			fclose(f);
		return -1;
	}
	if (f != stdin)
		fclose(f);
	n = strlen(buf);
	if (n > TOCSIN_MAX_TOKEN && buf[n - 1] != '\n') {
		explicit_bzero(buf, sizeof buf);
		client_warnx("%s: token too long", path);
		return -1;
	}
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	*token = xstrdup(buf);
	explicit_bzero(buf, sizeof buf);
	return 0;
}

/*
 * A token goes into an HTTP header: refuse anything that could end or
 * split the header.
 */
static int
tocsin_check_token(const char *token, const char *from)
{
	const char	*p;

	if (*token == '\0') {
		client_warnx("%s: empty token", from);
		return -1;
	}
	if (strlen(token) > TOCSIN_MAX_TOKEN) {
		client_warnx("%s: token too long", from);
		return -1;
	}
	for (p = token; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			client_warnx("%s: token contains a space or a "
			    "control character", from);
			return -1;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url",	required_argument,	NULL, 'u' },
		{ "token",	required_argument,	NULL, 't' },
		{ "token-file",	required_argument,	NULL, 'T' },
		{ "ws-url",	required_argument,	NULL, 'w' },
		{ "cacert",	required_argument,	NULL, OPT_CACERT },
		{ "verbose",	no_argument,		NULL, 'v' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	struct client	 c;
	const char	*url = NULL, *token = NULL, *token_file = NULL;
	const char	*ws_url = NULL, *env, *from;
	char		*cause = NULL;
	size_t		 i, n;
	int		 ch, status;

	memset(&c, 0, sizeof c);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:u:t:T:w:vhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'u':
			url = optarg;
			break;
		case 't':
			token = optarg;
			break;
		case 'T':
			token_file = optarg;
			break;
		case 'w':
			ws_url = optarg;
			break;
		case OPT_CACERT:
			c.cacert = optarg;
			break;
		case 'v':
			c.verbose++;
			break;
		case 'h':
			tocsin_print_usage(stdout, NULL, 1);
			return TOCSIN_EXIT_OK;
		case 'V':
			printf("tocsin %s\n", PACKAGE_VERSION);
			return TOCSIN_EXIT_OK;
		default:
			return client_bad_option(NULL, ch, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return client_usage(NULL, "no command given");

	for (i = 0; i < TOCSIN_NCOMMANDS; i++) {
		if (strcmp(argv[0], tocsin_commands[i].name) == 0)
			break;
	}
	if (i == TOCSIN_NCOMMANDS)
		return client_usage(NULL, "unknown command: %s", argv[0]);

	if (token != NULL && token_file != NULL)
		return client_usage(NULL, "-t and -T are mutually exclusive");
	if (url == NULL && (env = getenv("TOCSIN_URL")) != NULL && *env != '\0')
		url = env;
	if (url == NULL)
		url = TOCSIN_DEFAULT_URL;
	if (ws_url == NULL && (env = getenv("TOCSIN_WS_URL")) != NULL &&
	    *env != '\0')
		ws_url = env;
	if (c.cacert != NULL && access(c.cacert, R_OK) != 0) {
		client_warnx("%s: %s", c.cacert, strerror(errno));
		return TOCSIN_EXIT_USAGE;
	}

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		client_warnx("cannot initialise libcurl");
		return TOCSIN_EXIT_USAGE;
	}
	rest_init(&client_quit);
	status = TOCSIN_EXIT_USAGE;

	if (rest_url_split(url, http_schemes, NULL, NULL, NULL, NULL,
	    &cause) != 0) {
		client_usage(NULL, "%s", cause);
		free(cause);
		goto out;
	}
	c.url = xstrdup(url);
	n = strlen(c.url);
	while (n > 0 && c.url[n - 1] == '/')
		c.url[--n] = '\0';
	if (ws_url != NULL)
		c.ws_url = xstrdup(ws_url);

	if (token_file != NULL) {
		if (tocsin_read_token_file(token_file, &c.token) != 0)
			goto out;
		from = token_file;
	} else if (token != NULL) {
		c.token = xstrdup(token);
		from = "-t";
	} else if ((env = getenv("TOCSIN_TOKEN")) != NULL && *env != '\0') {
		c.token = xstrdup(env);
		from = "TOCSIN_TOKEN";
	} else
		from = NULL;
	if (c.token != NULL && tocsin_check_token(c.token, from) != 0)
		goto out;
	if (c.token == NULL && tocsin_commands[i].needs_token) {
		client_usage(NULL, "no token: use -T TOKEN_FILE, TOCSIN_TOKEN "
		    "or -t TOKEN");
		goto out;
	}

	status = tocsin_commands[i].fn(&c, argc, argv);
	if (fflush(stdout) != 0 && status == TOCSIN_EXIT_OK) {
		client_warnx("stdout: %s", strerror(errno));
		status = TOCSIN_EXIT_USAGE;
	}
out:
	curl_global_cleanup();
	if (c.token != NULL) {
		explicit_bzero(c.token, strlen(c.token));
		free(c.token);
	}
	free(c.ws_url);
	free(c.url);
	return status;
}
