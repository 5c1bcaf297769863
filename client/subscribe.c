/*
 * subscribe.c: the subscribe command. Finds the stream with GET /v1 (rest.c)
 * unless given, keeps one libwebsockets client connection to it, prints
 * every item once, runs --exec, records the last event id in the state
 * file, and reconnects with capped exponential backoff, resuming after the
 * last event printed. Everything runs in the lws event loop: the retry
 * timer is an lws sul, and SIGINT/SIGTERM wake the loop with
 * lws_cancel_service().
 */
#include "client.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <openssl/x509.h>

#define SUBSCRIBE_BACKOFF_MIN_MS	500
#define SUBSCRIBE_BACKOFF_MAX_MS	30000
#define SUBSCRIBE_DEFAULT_RETRIES	8
#define SUBSCRIBE_CLOSE_WAIT_US		(2 * LWS_US_PER_SEC)
#define SUBSCRIBE_STATE_MAX		64	/* bytes in a state file */
#define SUBSCRIBE_CLOSE_AUTH		4401

enum {
	OPT_SINCE = 256,
	OPT_STATE,
	OPT_FORMAT,
	OPT_EXEC,
	OPT_MAX_RETRIES
};

enum sub_format { SUB_JSONL, SUB_TEXT };

struct sub {
	struct client		*c;
	enum sub_format		 format;
	const char		*state;		/* --state FILE, or NULL */
	char			*state_dir;	/* fsync'd after a rename */
	const char		*exec;		/* --exec CMD, or NULL */
	long long		 max_retries;	/* 0: for ever */
	long long		 last;		/* last event seen, -1: none */

	/* Where the stream is, from -w or GET /v1. */
	char			*stream_url;
	int			 tls;
	char			*address;	/* host, no IPv6 brackets */
	char			*host_header;
	int			 port;
	char			*path;		/* path and query */

	struct lws_context	*ctx;
	lws_sorted_usec_list_t	 sul_connect;	/* next attempt */
	lws_sorted_usec_list_t	 sul_close;	/* give up a clean close */
	struct lws		*wsi;
	int			 failures;	/* failed attempts in a row */
	int			 quitting;	/* SIGINT or SIGTERM */
	int			 done;
	int			 status;	/* exit status once done */
	int			 fatal;		/* non-zero: exit with it */

	/* The current attempt. */
	int			 ended;
	int			 established;
	int			 bad;		/* protocol error: a failure */
	int			 auth_error;	/* "error" with 401 or 403 */
	unsigned int		 http_status;
	int			 close_code;
	char			*close_reason;
	char			*cause;
	char			*attempt_path;

	/* The message being reassembled from frames. */
	char			*msg;
	size_t			 msg_len;
	size_t			 msg_size;
	int			 msg_binary;
};

static struct lws_context *subscribe_ctx;	/* for the signal handler */

static void	subscribe_connect_cb(lws_sorted_usec_list_t *);

/*
 * With the server's pings every 30 s, a connection that stays silent to our
 * own ping for this long is dead: close it and reconnect.
 */
static const lws_retry_bo_t subscribe_idle_policy = {
	.secs_since_valid_ping = 60,
	.secs_since_valid_hangup = 90,
};

static void
subscribe_signal_cb(int sig)
{
	client_quit = 1;
	if (subscribe_ctx != NULL)
		lws_cancel_service(subscribe_ctx);
}

static void
subscribe_lws_log_cb(int level, const char *line)
{
	fprintf(stderr, "tocsin: lws: %s", line);
}

/*
 * Read the state file: the last event id, a decimal number. A missing or
 * empty file means no state (*last = -1).
 */
static int
subscribe_state_read(const char *path, long long *last)
{
	char	 buf[SUBSCRIBE_STATE_MAX + 1];
	ssize_t	 n;
	size_t	 len;
	int	 fd;

	*last = -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		client_warnx("%s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0) {
		client_warnx("%s: %s", path, strerror(errno));
		return -1;
	}
	len = (size_t)n;
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ' ||
	    buf[len - 1] == '\r' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	if (len == 0)
		return 0;
	if (client_parse_int(buf, 0, INT64_MAX, last) != 0) {
		client_warnx("%s: not a state file (expected an event id)",
		    path);
		return -1;
	}
	return 0;
}

/*
 * Record id in the state file so that a crash never loses it: write a
 * temporary file beside it, fsync, rename over, fsync the directory.
 */
static int
subscribe_state_write(struct sub *s, long long id)
{
	char	*tmp, *text;
	int	 fd, dfd, len;

	xasprintf(&tmp, "%s.XXXXXX", s->state);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		client_warnx("%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	len = xasprintf(&text, "%lld\n", id);
	if (fchmod(fd, 0644) == -1 || write(fd, text, len) != len ||
	    fsync(fd) == -1) {
		client_warnx("%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		client_warnx("%s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, s->state) == -1) {
		client_warnx("%s: %s", s->state, strerror(errno));
		goto fail;
	}
	if ((dfd = open(s->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) !=
	    -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(text);
	free(tmp);
	return 0;
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(text);
	free(tmp);
	return -1;
}

/*
 * Run --exec for one event: /bin/sh -c CMD with the event as one JSON line
 * on its standard input, and wait for it. Returns 0 once the command ran
 * (whatever its status, which is reported), 1 if it was killed while we
 * are stopping (the event should run again next time), -1 if it could not
 * be started.
 */
static int
subscribe_exec(struct sub *s, const char *text, long long id,
    const char *type)
{
	char	 idbuf[32];
	size_t	 len, off;
	ssize_t	 n;
	pid_t	 pid;
	int	 fds[2], wstatus;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		client_warnx("--exec: pipe: %s", strerror(errno));
		return -1;
	}
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	fflush(stdout);
	fflush(stderr);
	switch (pid = fork()) {
	case -1:
		client_warnx("--exec: fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	case 0:
		/*
		 * Child: one thread, so setenv is safe here. dup2 clears
		 * close-on-exec, except when the pipe already is fd 0.
		 */
		if (fds[0] == STDIN_FILENO)
			(void)fcntl(fds[0], F_SETFD, 0);
		else if (dup2(fds[0], STDIN_FILENO) == -1)
			_exit(127);
		closefrom(STDERR_FILENO + 1);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		/* The command has no business with our token. */
		unsetenv("TOCSIN_TOKEN");
		setenv("TOCSIN_EVENT_ID", idbuf, 1);
		setenv("TOCSIN_EVENT_TYPE", type, 1);
		execl("/bin/sh", "sh", "-c", s->exec, (char *)NULL);
		_exit(127);
	}

	/*
	 * A command that exits without reading its input gives EPIPE
	 * (SIGPIPE is ignored): that is its choice, not an error.
	 */
	close(fds[0]);
	len = strlen(text);
	for (off = 0; off < len; off += (size_t)n) {
		n = write(fds[1], text + off, len - off);
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n == -1)
			break;
	}
	close(fds[1]);

	while (waitpid(pid, &wstatus, 0) == -1) {
		if (errno != EINTR) {
			client_warnx("--exec: waitpid: %s", strerror(errno));
			return -1;
		}
	}
	if (WIFSIGNALED(wstatus)) {
		if (client_quit) {
			client_warnx("--exec: event %lld: command killed by "
			    "signal %d while stopping; it will run again",
			    id, WTERMSIG(wstatus));
			return 1;
		}
		client_warnx("--exec: event %lld: command killed by signal %d",
		    id, WTERMSIG(wstatus));
	} else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0)
		client_warnx("--exec: event %lld: command exited with status "
		    "%d", id, WEXITSTATUS(wstatus));
	return 0;
}

/* One item as "EVENT_ID TYPE [TLP:LABEL] ID rREV: title". */
static int
subscribe_print_text(const json_t *j, long long id, const char *type)
{
	const json_t	*data, *rev, *v;
	const char	*tlp, *title;
	char		*t, *l, *ident = NULL, *ti;
	int		 n;

	data = json_object_get(j, "data");
	if ((tlp = json_string_value(json_object_get(j, "tlp"))) == NULL)
		tlp = json_string_value(json_object_get(data, "tlp"));
	v = json_object_get(data, "id");
	if (json_is_string(v))
		ident = client_sanitize(json_string_value(v));
	else if (json_is_integer(v))
		xasprintf(&ident, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
	else
		ident = xstrdup("-");
	rev = json_object_get(data, "revision");
	title = json_string_value(json_object_get(data, "title"));

	t = client_sanitize(type);
	l = client_sanitize(tlp != NULL ? tlp : "-");
	ti = title != NULL ? client_sanitize(title) : NULL;
	if (json_is_integer(rev))
		n = printf("%lld %s [TLP:%s] %s r%" JSON_INTEGER_FORMAT
		    "%s%s\n", id, t, l, ident, json_integer_value(rev),
		    ti != NULL ? ": " : "", ti != NULL ? ti : "");
	else
		n = printf("%lld %s [TLP:%s] %s%s%s\n", id, t, l, ident,
		    ti != NULL ? ": " : "", ti != NULL ? ti : "");
	free(t);
	free(l);
	free(ti);
	free(ident);
	return n < 0 ? -1 : 0;
}

/*
 * An item: print it unless already printed, flush, run --exec, then record
 * it. Returns -1 on a failure that must stop the subscription.
 */
static int
subscribe_item(struct sub *s, const json_t *j, const char *type)
{
	json_t		*v;
	long long	 id;
	char		*text;
	int		 rc;

	v = json_object_get(j, "event_id");
	if (!json_is_integer(v) || json_integer_value(v) <= 0) {
		client_warnx("ignoring a %s message without a valid event_id",
		    type);
		return 0;
	}
	id = json_integer_value(v);
	if (id <= s->last) {
		client_note(s->c, "skipping event %lld: already seen", id);
		return 0;
	}

	text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
	if (text == NULL) {
		client_warnx("out of memory");
		abort();
	}
	if (s->format == SUB_JSONL)
		rc = puts(text) == EOF ? -1 : 0;
	else
		rc = subscribe_print_text(j, id, type);
	if (rc != 0 || fflush(stdout) != 0) {
		client_warnx("stdout: %s", strerror(errno));
		free(text);
		s->fatal = TOCSIN_EXIT_USAGE;
		return -1;
	}

	if (s->exec != NULL) {
		/* The command gets the same line jsonl prints. */
		text = xrealloc(text, strlen(text) + 2);
		strcat(text, "\n");
		rc = subscribe_exec(s, text, id, type);
		if (rc != 0) {
			/* 1: stopping; the event stays unrecorded. */
			free(text);
			if (rc == -1)
				s->fatal = TOCSIN_EXIT_USAGE;
			return -1;
		}
	}
	free(text);

	s->last = id;
	if (s->state != NULL && subscribe_state_write(s, id) != 0) {
		s->fatal = TOCSIN_EXIT_USAGE;
		return -1;
	}
	return 0;
}

/* One whole message from the server. Returns -1 to stop. */
static int
subscribe_message(struct sub *s, const char *buf, size_t len)
{
	json_t		*j, *v;
	json_error_t	 err;
	const char	*type, *detail;
	long long	 n, m;
	char		*d;
	int		 rc = 0;

	if ((j = json_loadb(buf, len, 0, &err)) == NULL ||
	    !json_is_object(j)) {
		client_warnx("ignoring a message that is not a JSON object%s%s",
		    j == NULL ? ": " : "", j == NULL ? err.text : "");
		json_decref(j);
		return 0;
	}
	if ((type = json_string_value(json_object_get(j, "type"))) == NULL) {
		client_warnx("ignoring a message without a type");
		json_decref(j);
		return 0;
	}

	if (strcmp(type, "advisory.published") == 0 ||
	    strcmp(type, "advisory.updated") == 0 ||
	    strcmp(type, "advisory.revoked") == 0 ||
	    strcmp(type, "warning.issued") == 0)
		rc = subscribe_item(s, j, type);
	else if (strcmp(type, "ready") == 0) {
		v = json_object_get(j, "last_event_id");
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			client_note(s->c, "ready");
			json_decref(j);
			return 0;
		}
		n = json_integer_value(v);
		client_note(s->c, "ready: live after event %lld", n);
		if (s->last > n)
			client_warnx("the server's last event is %lld, before "
			    "%lld where this subscriber stands: events up to "
			    "%lld will be skipped", n, s->last, s->last);
		/*
		 * Started live without a position: remember where live
		 * began, so that a reconnection or a restart resumes from
		 * there and misses nothing.
		 */
		if (s->last < 0) {
			s->last = n;
			if (s->state != NULL &&
			    subscribe_state_write(s, n) != 0) {
				s->fatal = TOCSIN_EXIT_USAGE;
				rc = -1;
			}
		}
	} else if (strcmp(type, "replay.truncated") == 0) {
		n = json_integer_value(json_object_get(j, "since"));
		m = json_integer_value(json_object_get(j, "oldest_event_id"));
		client_warnx("the server no longer keeps the events after %lld;"
		    " replay starts at event %lld", n, m);
	} else if (strcmp(type, "error") == 0) {
		n = json_integer_value(json_object_get(j, "status"));
		detail = json_string_value(json_object_get(j, "detail"));
		d = client_sanitize(detail != NULL ? detail : "");
		client_warnx("server error %lld%s%s", n, *d != '\0' ? ": " : "",
		    d);
		free(d);
		if (n == 401 || n == 403)
			s->auth_error = 1;
	}
	json_decref(j);
	return rc;
}

/* Part of a message: keep it until the last frame is in. */
static int
subscribe_receive(struct sub *s, struct lws *wsi, const void *in,
    size_t len)
{
	int	rc;

	if (lws_is_first_fragment(wsi) && s->msg_len == 0)
		s->msg_binary = lws_frame_is_binary(wsi);
	if (len > TOCSIN_MAX_MESSAGE - s->msg_len) {
		client_warnx("a message from the server is larger than %lu "
		    "bytes", (unsigned long)TOCSIN_MAX_MESSAGE);
		s->bad = 1;
		return -1;
	}
	if (s->msg_len + len + 1 > s->msg_size) {
		s->msg_size = s->msg_size == 0 ? 8192 : s->msg_size;
		while (s->msg_size < s->msg_len + len + 1)
			s->msg_size *= 2;
		s->msg = xrealloc(s->msg, s->msg_size);
	}
	memcpy(s->msg + s->msg_len, in, len);
	s->msg_len += len;
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;

	rc = 0;
	if (!s->msg_binary)
		rc = subscribe_message(s, s->msg, s->msg_len);
	s->msg_len = 0;
	return rc;
}

/* Milliseconds to wait before the next attempt, from s->failures. */
static unsigned int
subscribe_backoff_ms(const struct sub *s)
{
	unsigned int	ms = SUBSCRIBE_BACKOFF_MIN_MS;
	int		n;

	for (n = 1; n < s->failures && ms < SUBSCRIBE_BACKOFF_MAX_MS; n++)
		ms *= 2;
	if (ms > SUBSCRIBE_BACKOFF_MAX_MS)
		ms = SUBSCRIBE_BACKOFF_MAX_MS;

	/*
	 * Take off up to a quarter at random, so that subscribers cut off
	 * together come back spread out, and the documented bound holds.
	 */
	return ms - arc4random_uniform(ms / 4 + 1);
}

static void
subscribe_finish(struct sub *s, int status)
{
	s->done = 1;
	s->status = status;
	lws_sul_cancel(&s->sul_connect);
	lws_sul_cancel(&s->sul_close);
	lws_cancel_service(s->ctx);
}

/*
 * The attempt is over, by failure or by close. Decide: stop, or try again
 * after the backoff.
 */
static void
subscribe_attempt_end(struct sub *s)
{
	unsigned int	 ms;
	char		*why;
	const char	*where;

	if (s->ended)
		return;
	s->ended = 1;
	s->wsi = NULL;
	s->msg_len = 0;

	if (s->fatal != 0 || s->quitting || client_quit) {
		subscribe_finish(s, s->fatal);
		return;
	}

	if (s->http_status == 401 || s->http_status == 403 ||
	    s->close_code == SUBSCRIBE_CLOSE_AUTH || s->auth_error) {
		if (s->http_status == 401 || s->http_status == 403)
			client_warnx("%s: authentication refused (HTTP %u)",
			    s->stream_url, s->http_status);
		else
			client_warnx("%s: authentication refused (close code "
			    "%d)", s->stream_url, s->close_code);
		subscribe_finish(s, TOCSIN_EXIT_AUTH);
		return;
	}

	/* Before discovery, the cause names the REST URL itself. */
	where = s->stream_url != NULL ? s->stream_url : "";
	if (s->http_status != 0 && s->http_status != 101)
		xasprintf(&why, "HTTP %u", s->http_status);
	else if (s->close_code != 0)
		xasprintf(&why, "close code %d%s%s", s->close_code,
		    s->close_reason != NULL ? ": " : "",
		    s->close_reason != NULL ? s->close_reason : "");
	else
		why = xstrdup(s->cause != NULL ? s->cause : "connection lost");

	if (s->established && !s->bad) {
		s->failures = 0;
		ms = subscribe_backoff_ms(s);
		client_warnx("%s: connection closed (%s); reconnecting in "
		    "%.1f s", s->stream_url, why, ms / 1000.0);
	} else {
		s->failures++;
		if (s->max_retries > 0 && s->failures >= s->max_retries) {
			client_warnx("%s%s%s; giving up after %d attempt%s",
			    where, *where != '\0' ? ": " : "", why,
			    s->failures, s->failures == 1 ? "" : "s");
			free(why);
			subscribe_finish(s, TOCSIN_EXIT_UNREACHABLE);
			return;
		}
		ms = subscribe_backoff_ms(s);
		if (s->max_retries > 0)
			client_warnx("%s%s%s; retrying in %.1f s (attempt %d "
			    "of %lld)", where, *where != '\0' ? ": " : "",
			    why, ms / 1000.0, s->failures, s->max_retries);
		else
			client_warnx("%s%s%s; retrying in %.1f s (attempt %d)",
			    where, *where != '\0' ? ": " : "", why,
			    ms / 1000.0, s->failures);
	}
	free(why);
	lws_sul_schedule(s->ctx, 0, &s->sul_connect, subscribe_connect_cb,
	    (lws_usec_t)ms * 1000);
}

static int
subscribe_ws_cb(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct sub	*s = lws_context_user(lws_get_context(wsi));
	unsigned char	**p, *end, *u = in;
	char		*value;
	int		 rc;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		p = (unsigned char **)in;
		end = *p + len;
		xasprintf(&value, "Bearer %s", s->c->token);
		rc = lws_add_http_header_by_name(wsi,
		    (const unsigned char *)"authorization:",
		    (const unsigned char *)value, (int)strlen(value), p, end);
		explicit_bzero(value, strlen(value));
		free(value);
		if (rc == 0)
			rc = lws_add_http_header_by_name(wsi,
			    (const unsigned char *)"user-agent:",
			    (const unsigned char *)"tocsin/" PACKAGE_VERSION,
			    (int)strlen("tocsin/" PACKAGE_VERSION), p, end);
		return rc != 0 ? -1 : 0;

	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		/* The status is gone after this callback: keep it. */
		s->http_status = lws_http_client_http_response(wsi);
		return 0;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (s->cause == NULL)
			xasprintf(&s->cause, "%.*s", in != NULL ? (int)len : 0,
			    in != NULL ? (const char *)in : "");
		if (s->cause[0] == '\0') {
			free(s->cause);
			s->cause = xstrdup("cannot connect");
		}
		subscribe_attempt_end(s);
		return 0;

	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		s->established = 1;
		client_note(s->c, "connected to %s", s->stream_url);
		return 0;

	case LWS_CALLBACK_CLIENT_RECEIVE:
		return subscribe_receive(s, wsi, in, len);

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2) {
			s->close_code = (u[0] << 8) | u[1];
			free(s->close_reason);
			s->close_reason = NULL;
			if (len > 2) {
				xasprintf(&value, "%.*s", (int)(len - 2),
				    (const char *)u + 2);
				s->close_reason = client_sanitize(value);
				free(value);
			}
		}
		return 0;

	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (s->quitting) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
			return -1;
		}
		return 0;

	case LWS_CALLBACK_CLIENT_CLOSED:
		subscribe_attempt_end(s);
		return 0;

	case LWS_CALLBACK_WSI_DESTROY:
		/* Whatever way the connection went, the attempt is over. */
		if (s != NULL && s->wsi == wsi && !s->ended) {
			if (s->cause == NULL)
				s->cause = xstrdup(s->established ?
				    "connection lost" : "no answer to the "
				    "WebSocket handshake");
			subscribe_attempt_end(s);
		}
		return 0;

	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols subscribe_protocols[] = {
	{ "tocsin", subscribe_ws_cb, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/*
 * Take url as the stream to use. From discovery, refuse a ws:// URL when
 * the REST URL is https://: the token would travel in clear.
 */
static int
subscribe_set_stream(struct sub *s, const char *url, int discovered,
    char **cause)
{
	static const char *const schemes[] = { "ws", "wss", NULL };
	char	*scheme, *host;

	if (rest_url_split(url, schemes, &scheme, &host, &s->port, &s->path,
	    cause) != 0)
		return -1;
	s->tls = strcmp(scheme, "wss") == 0;
	free(scheme);
	if (discovered && !s->tls && strncmp(s->c->url, "https:", 6) == 0) {
		xasprintf(cause, "the server gives %s as its stream, which "
		    "would send the token unencrypted; use -w to insist", url);
		free(host);
		return -1;
	}
	if (host[0] == '[') {
		s->address = xstrdup(host + 1);
		s->address[strcspn(s->address, "]")] = '\0';
	} else
		s->address = xstrdup(host);
	if (s->port == (s->tls ? 443 : 80))
		s->host_header = host;
	else {
		xasprintf(&s->host_header, "%s:%d", host, s->port);
		free(host);
	}
	s->stream_url = xstrdup(url);
	return 0;
}

/* Start an attempt: find the stream if needed, then connect. */
static void
subscribe_connect_cb(lws_sorted_usec_list_t *sul)
{
	struct sub			*s;
	struct lws_client_connect_info	 i;
	char				*url = NULL;
	int				 rc;

	s = lws_container_of(sul, struct sub, sul_connect);
	if (client_quit) {
		subscribe_finish(s, TOCSIN_EXIT_OK);
		return;
	}

	s->ended = 0;
	s->established = 0;
	s->bad = 0;
	s->auth_error = 0;
	s->http_status = 0;
	s->close_code = 0;
	free(s->close_reason);
	s->close_reason = NULL;
	free(s->cause);
	s->cause = NULL;

	if (s->stream_url == NULL) {
		rc = rest_discover(s->c, &url, &s->cause);
		if (rc == TOCSIN_EXIT_AUTH) {
			client_warnx("%s: authentication refused", s->cause);
			subscribe_finish(s, TOCSIN_EXIT_AUTH);
			return;
		}
		if (rc != TOCSIN_EXIT_OK) {
			subscribe_attempt_end(s);
			return;
		}
		if (subscribe_set_stream(s, url, 1, &s->cause) != 0) {
			client_warnx("%s", s->cause);
			free(url);
			subscribe_finish(s, TOCSIN_EXIT_UNREACHABLE);
			return;
		}
		client_note(s->c, "the stream is at %s", url);
		free(url);
	}

	free(s->attempt_path);
	if (s->last >= 0)
		xasprintf(&s->attempt_path, "%s%ssince=%lld", s->path,
		    strchr(s->path, '?') != NULL ? "&" : "?", s->last);
	else
		s->attempt_path = xstrdup(s->path);
	if (s->last >= 0)
		client_note(s->c, "connecting to %s after event %lld",
		    s->stream_url, s->last);
	else
		client_note(s->c, "connecting to %s, live", s->stream_url);

	memset(&i, 0, sizeof i);
	i.context = s->ctx;
	i.address = s->address;
	i.port = s->port;
	i.ssl_connection = s->tls ? LCCSCF_USE_SSL : 0;
	i.path = s->attempt_path;
	i.host = s->host_header;
	i.local_protocol_name = subscribe_protocols[0].name;
	i.pwsi = &s->wsi;
	i.retry_and_idle_policy = &subscribe_idle_policy;
	if (lws_client_connect_via_info(&i) == NULL && !s->ended) {
		if (s->cause == NULL)
			s->cause = xstrdup("cannot connect");
		subscribe_attempt_end(s);
	}
}

/* SIGINT or SIGTERM: close cleanly, but not for longer than a moment. */
static void
subscribe_close_timeout_cb(lws_sorted_usec_list_t *sul)
{
	struct sub	*s = lws_container_of(sul, struct sub, sul_close);

	subscribe_finish(s, s->fatal);
}

static void
subscribe_quit(struct sub *s)
{
	s->quitting = 1;
	lws_sul_cancel(&s->sul_connect);
	if (s->wsi == NULL || s->ended) {
		subscribe_finish(s, TOCSIN_EXIT_OK);
		return;
	}
	lws_callback_on_writable(s->wsi);
	lws_sul_schedule(s->ctx, 0, &s->sul_close, subscribe_close_timeout_cb,
	    SUBSCRIBE_CLOSE_WAIT_US);
}

static struct lws_context *
subscribe_context(struct sub *s)
{
	struct lws_context_creation_info	 info;
	const char				*ca;

	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = subscribe_protocols;
	info.user = s;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.timeout_secs = TOCSIN_CONNECT_TIMEOUT;
	info.connect_timeout_secs = TOCSIN_CONNECT_TIMEOUT;
	info.gid = (gid_t)-1;
	info.uid = (uid_t)-1;

	/*
	 * Name the system bundle ourselves: left alone, lws also looks for
	 * CAs in a directory relative to the working directory.
	 */
	if (s->c->cacert != NULL) {
		info.client_ssl_ca_filepath = s->c->cacert;
		info.options |= LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	} else {
		ca = getenv(X509_get_default_cert_file_env());
		if (ca == NULL || *ca == '\0')
			ca = X509_get_default_cert_file();
		info.client_ssl_ca_filepath = ca;
	}
	return lws_create_context(&info);
}

/* subscribe [--since N | --state FILE] [--format F] [--exec CMD] ... */
int
subscribe_cmd(struct client *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since",	 required_argument,	NULL, OPT_SINCE },
		{ "state",	 required_argument,	NULL, OPT_STATE },
		{ "format",	 required_argument,	NULL, OPT_FORMAT },
		{ "exec",	 required_argument,	NULL, OPT_EXEC },
		{ "max-retries", required_argument,	NULL, OPT_MAX_RETRIES },
		{ NULL,		 0,			NULL, 0 }
	};
	struct sub		 s;
	struct sigaction	 sa;
	char			*cause = NULL, *slash;
	long long		 since = -1;
	int			 ch;

	memset(&s, 0, sizeof s);
	s.c = c;
	s.format = SUB_JSONL;
	s.max_retries = SUBSCRIBE_DEFAULT_RETRIES;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_SINCE:
			if (client_parse_int(optarg, 0, INT64_MAX, &since) != 0)
				return client_usage("subscribe", "bad event id "
				    "for --since: %s", optarg);
			break;
		case OPT_STATE:
			if (*optarg == '\0')
				return client_usage("subscribe", "empty "
				    "--state file name");
			s.state = optarg;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "jsonl") == 0)
				s.format = SUB_JSONL;
			else if (strcmp(optarg, "text") == 0)
				s.format = SUB_TEXT;
			else
				return client_usage("subscribe", "bad format: "
				    "%s (jsonl or text)", optarg);
			break;
		case OPT_EXEC:
			s.exec = optarg;
			break;
		case OPT_MAX_RETRIES:
			if (client_parse_int(optarg, 0, INT32_MAX,
			    &s.max_retries) != 0)
				return client_usage("subscribe", "bad number "
				    "for --max-retries: %s", optarg);
			break;
		default:
			return client_bad_option("subscribe", ch, argv);
		}
	}
	if (argc != optind)
		return client_usage("subscribe", "unexpected argument: %s",
		    argv[optind]);
	if (since >= 0 && s.state != NULL)
		return client_usage("subscribe", "--since and --state are "
		    "mutually exclusive");

	s.last = since;
	if (s.state != NULL) {
		if (subscribe_state_read(s.state, &s.last) != 0)
			return TOCSIN_EXIT_USAGE;
		s.state_dir = xstrdup(s.state);
		if ((slash = strrchr(s.state_dir, '/')) == NULL) {
			free(s.state_dir);
			s.state_dir = xstrdup(".");
		} else if (slash == s.state_dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		/* Fail now rather than at the first event. */
		if (access(s.state_dir, W_OK | X_OK) != 0) {
			client_warnx("%s: %s", s.state_dir, strerror(errno));
			free(s.state_dir);
			return TOCSIN_EXIT_USAGE;
		}
	}
	if (c->ws_url != NULL &&
	    subscribe_set_stream(&s, c->ws_url, 0, &cause) != 0) {
		client_usage("subscribe", "%s", cause);
		free(cause);
		free(s.state_dir);
		return TOCSIN_EXIT_USAGE;
	}

	lws_set_log_level(c->verbose >= 2 ? LLL_ERR | LLL_WARN : 0,
	    subscribe_lws_log_cb);
	if ((s.ctx = subscribe_context(&s)) == NULL) {
		client_warnx("cannot create the libwebsockets context");
		s.status = TOCSIN_EXIT_USAGE;
		goto out;
	}

	/*
	 * Signals only set a flag and wake the loop; no SA_RESTART, so that
	 * a wait for --exec sees them too.
	 */
	subscribe_ctx = s.ctx;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = subscribe_signal_cb;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	lws_sul_schedule(s.ctx, 0, &s.sul_connect, subscribe_connect_cb, 1);
	while (!s.done) {
		if (client_quit && !s.quitting)
			subscribe_quit(&s);
		if (s.done)
			break;
		if (lws_service(s.ctx, 0) < 0) {
			client_warnx("libwebsockets service failed");
			s.status = TOCSIN_EXIT_UNREACHABLE;
			break;
		}
	}

	subscribe_ctx = NULL;
	lws_context_destroy(s.ctx);
out:
	free(s.msg);
	free(s.attempt_path);
	free(s.cause);
	free(s.close_reason);
	free(s.stream_url);
	free(s.address);
	free(s.host_header);
	free(s.path);
	free(s.state_dir);
	return s.status;
}
