/*
 * client.h: the map of tocsin(1), the subscriber and publisher client.
 * tocsin.c reads the global options and dispatches; rest.c speaks the REST
 * API with libcurl; subscribe.c follows the WebSocket stream with
 * libwebsockets. Include it first: it brings config.h and the feature
 * macros the system headers look at.
 */
#ifndef CLIENT_H
#define CLIENT_H

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1		/* vasprintf, explicit_bzero, closefrom */
#endif

#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <jansson.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

/* Exit statuses: the contract's four, and 4 for a refused REST request. */
#define TOCSIN_EXIT_OK		0
#define TOCSIN_EXIT_USAGE	1	/* also local failures: files, output */
#define TOCSIN_EXIT_AUTH	2
#define TOCSIN_EXIT_UNREACHABLE	3
#define TOCSIN_EXIT_REFUSED	4

#define TOCSIN_DEFAULT_URL	"http://127.0.0.1:8080"
#define TOCSIN_MAX_TOKEN	4096		/* bytes in a token */
#define TOCSIN_MAX_UPLOAD	(64UL << 20)	/* an advisory file */
#define TOCSIN_MAX_RESPONSE	(256UL << 20)	/* one REST response */
#define TOCSIN_MAX_MESSAGE	(64UL << 20)	/* one stream message */
#define TOCSIN_CONNECT_TIMEOUT	10		/* seconds, REST and stream */
#define TOCSIN_DISCOVER_TIMEOUT	20		/* seconds for GET /v1 */
#define TOCSIN_REST_TIMEOUT	600		/* seconds for one command */

/* What the global options and the environment say. */
struct client {
	char		*url;		/* REST base, no trailing slash */
	char		*token;		/* NULL until loaded */
	char		*ws_url;	/* NULL: ask GET /v1 */
	const char	*cacert;	/* NULL: the system store */
	int		 verbose;
};

/* tocsin.c */
extern volatile sig_atomic_t client_quit;	/* SIGINT or SIGTERM seen */
void	*xmalloc(size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 client_warnx(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	 client_note(const struct client *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 client_usage(const char *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 client_parse_int(const char *, long long, long long, long long *);
int	 client_bad_option(const char *, int, char **);
int	 client_print_json(FILE *, const json_t *, int);
char	*client_sanitize(const char *);

/* rest.c */
struct rest_reply {
	long	 status;		/* HTTP status, 0 before an answer */
	char	*body;			/* NUL-terminated, may be empty */
	size_t	 len;
	char	*location;		/* of a redirection, or NULL */
	long	 retry_after;		/* seconds, 0 if not given */
};
void	 rest_init(volatile sig_atomic_t *);
void	 rest_reply_free(struct rest_reply *);
int	 rest_discover(const struct client *, char **, char **);
int	 rest_exit_status(const struct rest_reply *, const char *);
int	 rest_url_split(const char *, const char *const *, char **, char **,
	    int *, char **, char **);
int	 rest_cmd_publish(struct client *, int, char **);
int	 rest_cmd_get(struct client *, int, char **);
int	 rest_cmd_list(struct client *, int, char **);

/* subscribe.c */
int	 subscribe_cmd(struct client *, int, char **);

#endif /* CLIENT_H */
