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
