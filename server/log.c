/*
 * log.c: leveled logging to stderr, where systemd's journal collects it.
 * One line per message, written with the stream locked so that lines from
 * different threads never interleave. Never log tokens, secrets or e-mail
 * addresses.
 */

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "tocsind.h"

static _Atomic int	log_level = LOG_LEVEL_INFO;
static char		log_ident[32] = "tocsind";

static const char *const log_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static void	log_vwrite(const char *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

/* Set the level and the name printed before the pid. */
void
log_init(enum log_level level, const char *ident)
{
	if (ident != NULL && *ident != '\0')
		snprintf(log_ident, sizeof log_ident, "%s", ident);
	log_set_level(level);
}

/* Change the level, for example after a reload. */
void
log_set_level(enum log_level level)
{
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	atomic_store(&log_level, (int)level);
}

/* Parse "error", "warn", "info" or "debug"; 0 or -1. */
int
log_parse_level(const char *s, enum log_level *level)
{
	size_t	i;

	if (s == NULL)
		return (-1);
	for (i = 0; i < sizeof log_names / sizeof log_names[0]; i++) {
		if (strcasecmp(s, log_names[i]) == 0) {
			*level = (enum log_level)i;
			return (0);
		}
	}
	return (-1);
}

/* Reopen the log after SIGHUP; stderr belongs to the supervisor. */
void
log_reopen(void)
{
}

/* Characters of an address's local part and of a domain. */
#define LOG_LOCAL_CHARS \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-"
#define LOG_DOMAIN_CHARS \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"
#define LOG_TOKEN_CHARS \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/="

/*
 * The safety net under "never log an e-mail address or a token": whatever
 * a caller passed (a relay's answer quoting the recipient, a database
 * message), an address becomes "<e-mail>" and an API token or webhook
 * secret "<secret>". A new string, or MSG itself when there is nothing.
 */
static char *
log_redact(char *msg)
{
	static const char *const prefixes[] = { TOCSIN_TOKEN_PREFIX,
	    TOCSIN_WEBHOOK_SECRET_PREFIX };
	const char	*p, *at, *end;
	char		*out, *o;
	size_t		 i, k, n, plen = 0;

	if (strchr(msg, '@') == NULL && strstr(msg, prefixes[0]) == NULL &&
	    strstr(msg, prefixes[1]) == NULL)
		return (msg);
	/* A replacement is at most 3 bytes longer than the 5 it replaces. */
	o = out = xmalloc(2 * strlen(msg) + 1);
	for (p = msg; *p != '\0';) {
		for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
			plen = strlen(prefixes[i]);
			if (strncmp(p, prefixes[i], plen) == 0 &&
			    strspn(p + plen, LOG_TOKEN_CHARS) >= 16)
				break;
		}
		if (i < sizeof prefixes / sizeof prefixes[0]) {
			memcpy(o, "<secret>", 8);
			o += 8;
			p += plen + strspn(p + plen, LOG_TOKEN_CHARS);
			continue;
		}
		n = strspn(p, LOG_LOCAL_CHARS);
		if (n > 0 && p[n] == '@') {
			at = p + n;
			end = at + 1 + strspn(at + 1, LOG_DOMAIN_CHARS);
			if (memchr(at + 1, '.', end - at - 1) != NULL) {
				memcpy(o, "<e-mail>", 8);
				o += 8;
				p = end;
				continue;
			}
		}
		/* Not here: copy the run (or one byte), up to a secret in it. */
		if (n == 0)
			n = 1;
		for (k = 1; k < n; k++) {
			if (strncmp(p + k, prefixes[0], strlen(prefixes[0])) ==
			    0 || strncmp(p + k, prefixes[1],
			    strlen(prefixes[1])) == 0) {
				n = k;
				break;
			}
		}
		memcpy(o, p, n);
		o += n;
		p += n;
	}
	*o = '\0';
	free(msg);
	return (out);
}

static void
log_vwrite(const char *tag, const char *fmt, va_list ap)
{
	char		 stamp[32];
	char		*msg;
	struct tm	 tm;
	time_t		 now;
	int		 len;

	now = time(NULL);
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(stamp, sizeof stamp, "%lld", (long long)now);

	len = xvasprintf(&msg, fmt, ap);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		msg[--len] = '\0';
	msg = log_redact(msg);

	flockfile(stderr);
	fprintf(stderr, "%s %s[%ld]: %s: %s\n", stamp, log_ident,
	    (long)getpid(), tag, msg);
	fflush(stderr);
	funlockfile(stderr);
	free(msg);
}

/* Log an error. */
void
log_error(const char *fmt, ...)
{
	va_list	ap;

	if (atomic_load(&log_level) < LOG_LEVEL_ERROR)
		return;
	va_start(ap, fmt);
	log_vwrite("error", fmt, ap);
	va_end(ap);
}

/* Log a warning. */
void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	if (atomic_load(&log_level) < LOG_LEVEL_WARN)
		return;
	va_start(ap, fmt);
	log_vwrite("warn", fmt, ap);
	va_end(ap);
}

/* Log an informational message. */
void
log_info(const char *fmt, ...)
{
	va_list	ap;

	if (atomic_load(&log_level) < LOG_LEVEL_INFO)
		return;
	va_start(ap, fmt);
	log_vwrite("info", fmt, ap);
	va_end(ap);
}

/* Log a debugging message. */
void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (atomic_load(&log_level) < LOG_LEVEL_DEBUG)
		return;
	va_start(ap, fmt);
	log_vwrite("debug", fmt, ap);
	va_end(ap);
}

/* Log at any level and exit 1: start-up failures and broken invariants. */
void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite("fatal", fmt, ap);
	va_end(ap);
	exit(1);
}
