/*
 * mail.c: one e-mail message from its template to the relay. It renders
 * templates/email/<lang>/<name>.subject, .txt and .html (render.c; English
 * when a language lacks one) into a body (multipart/alternative,
 * quoted-printable UTF-8, CRLF lines) that smime.c signs; the body holds
 * nothing about its recipient, so the worker renders and signs it once per
 * item and language and each message only adds its headers (RFC 2047) -
 * or, for a recipient with a certificate, is signed and encrypted on its
 * own. It sets up the libcurl SMTP transfer that deliver.c runs (smtp://,
 * smtps://, STARTTLS, AUTH), owns the one-click unsubscribe tokens (HMAC
 * with a key derived from the server key; in the header only, so that a
 * forwarded mail does not carry its recipient's), and the clock of the
 * digests, which tests may move.
 *
 * Headers of every message: From, To, Subject "[TLP:LABEL] ID: title",
 * Date, Message-ID (the delivery's msg_id, the same on every retry),
 * X-TLP, Auto-Submitted: auto-generated, and for mail that a subscription
 * asked for List-Unsubscribe with List-Unsubscribe-Post (RFC 8058). An
 * encrypted message carries its real headers inside too (protected
 * headers), and for TLP:RED its outer Subject has no title.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/time.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "tocsind.h"

#define MAIL_QP_LINE		76	/* RFC 2045 */
#define MAIL_HEADER_LINE	78	/* RFC 5322's recommendation */
#define MAIL_EW_BYTES		45	/* UTF-8 bytes per encoded-word */
#define MAIL_EW_LINE		76	/* RFC 2047: lines with encoded-words */
#define MAIL_PASSWORD_MAX	1024
#define MAIL_TOKEN_VERSION	1
#define MAIL_TOKEN_MAC		16	/* bytes of HMAC-SHA256 kept */
#define MAIL_TOKEN_PURPOSE	"tocsin one-click unsubscribe v1"
#define MAIL_CONNECT_S		10

/* The relay and the sender, read once at start. */
static struct {
	char	*url;
	char	*from_addr;	/* envelope and header address */
	char	*from_name;	/* display name; NULL: none */
	char	*domain;	/* of Message-ID */
	char	*username;
	char	*password;
	int	 starttls;
} mail_relay;

/* ---- Headers: RFC 2047 and folding. ---- */

/* Is S printable ASCII only, with nothing that looks like an encoded-word? */
static int
mail_plain_ascii(const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p > 0x7e)
			return (0);
	}
	return (strstr(s, "=?") == NULL);
}

/* Length of the UTF-8 sequence starting at P (1 for a stray byte). */
static size_t
mail_utf8_len(const unsigned char *p, size_t left)
{
	size_t	n, i;

	if (*p < 0xc0)
		n = 1;
	else if (*p < 0xe0)
		n = 2;
	else if (*p < 0xf0)
		n = 3;
	else
		n = 4;
	if (n > left)
		return (1);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (1);
	}
	return (n);
}

/*
 * Append S as RFC 2047 B encoded-words of whole UTF-8 characters, each
 * line at most 76 characters (COL: the line so far), folded between words.
 */
static void
mail_encoded_words(struct render_buf *b, const char *s, size_t col)
{
	const unsigned char	*p = (const unsigned char *)s;
	unsigned char		 enc[4 * ((MAIL_EW_BYTES + 2) / 3) + 8];
	size_t			 left = strlen(s), take, n, max;

	while (left > 0) {
		max = col + 12 < MAIL_EW_LINE ?
		    ((MAIL_EW_LINE - col - 12) / 4) * 3 : 0;
		if (max > MAIL_EW_BYTES)
			max = MAIL_EW_BYTES;
		if (max < 12 && col > 1) {
			render_buf_str(b, "\r\n ");
			col = 1;
			continue;
		}
		/* Whole characters only: a word must decode on its own. */
		take = 0;
		while (take < left) {
			n = mail_utf8_len(p + take, left - take);
			if (take + n > max)
				break;
			take += n;
		}
		if (take == 0)
			take = mail_utf8_len(p, left);
		n = (size_t)EVP_EncodeBlock(enc, p, (int)take);
		render_buf_str(b, "=?UTF-8?B?");
		render_buf_add(b, (const char *)enc, n);
		render_buf_str(b, "?=");
		p += take;
		left -= take;
		col += n + 12;
		if (left > 0) {
			render_buf_str(b, "\r\n ");
			col = 1;
		}
	}
}

/* Append plain ASCII S, folded at spaces past the recommended width. */
static void
mail_folded(struct render_buf *b, const char *s, size_t col)
{
	const char	*sp, *best;

	while (col + strlen(s) > MAIL_HEADER_LINE) {
		/* The last space that keeps the line short, else the first. */
		best = NULL;
		for (sp = s + 1; *sp != '\0'; sp++) {
			if (*sp != ' ')
				continue;
			if (best != NULL && col + (size_t)(sp - s) >
			    MAIL_HEADER_LINE)
				break;
			best = sp;
		}
		if (best == NULL)
			break;
		render_buf_add(b, s, (size_t)(best - s));
		render_buf_str(b, "\r\n");
		s = best;	/* the space starts the continuation */
		col = 0;
	}
	render_buf_str(b, s);
}

/*
 * Append the header "NAME: VALUE" and its CRLF. VALUE is unstructured
 * text: encoded (RFC 2047, UTF-8) when it is not plain ASCII, folded.
 * Control characters never reach a header.
 */
void
mail_header(struct render_buf *b, const char *name, const char *value)
{
	char	*clean, *p;

	clean = xstrdup(value);
	for (p = clean; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	render_buf_str(b, name);
	render_buf_str(b, ": ");
	if (mail_plain_ascii(clean))
		mail_folded(b, clean, strlen(name) + 2);
	else
		mail_encoded_words(b, clean, strlen(name) + 2);
	render_buf_str(b, "\r\n");
	free(clean);
}

/* Is the display name safe as a bare phrase (atext and spaces)? */
static int
mail_phrase_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) && strchr(" !#$%&'*+-/=?^_`{|}~",
		    *s) == NULL)
			return (0);
	}
	return (1);
}

/* Append "NAME: display <addr>" (display encoded or quoted as needed). */
static void
mail_header_addr(struct render_buf *b, const char *name, const char *display,
    const char *addr)
{
	char	*clean, *p;

	render_buf_str(b, name);
	render_buf_str(b, ": ");
	if (display != NULL && *display != '\0') {
		clean = xstrdup(display);
		for (p = clean; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
		}
		if (mail_plain_ascii(clean) && mail_phrase_ok(clean))
			render_buf_str(b, clean);
		else if (mail_plain_ascii(clean)) {
			render_buf_str(b, "\"");
			for (p = clean; *p != '\0'; p++) {
				if (*p == '"' || *p == '\\')
					render_buf_str(b, "\\");
				render_buf_add(b, p, 1);
			}
			render_buf_str(b, "\"");
		} else
			mail_encoded_words(b, clean, strlen(name) + 2);
		render_buf_str(b, " ");
		free(clean);
	}
	render_buf_str(b, "<");
	render_buf_str(b, addr);
	render_buf_str(b, ">\r\n");
}

/* ---- Bodies: quoted-printable. ---- */

/*
 * Append N bytes of UTF-8 text as quoted-printable (RFC 2045) with CRLF
 * line ends: lines of at most 76 characters, '=' and everything outside
 * printable ASCII encoded, spaces before a line end encoded, and a line
 * starting "From " or "." encoded so that no relay rewrites signed text.
 */
void
mail_qp(struct render_buf *b, const char *s, size_t n)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			 enc[3];
	size_t			 i, col = 0, w;
	unsigned char		 c;
	int			 encode, bol = 1;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
			continue;
		if (c == '\n') {
			render_buf_str(b, "\r\n");
			col = 0;
			bol = 1;
			continue;
		}
		encode = c == '=' || c > 0x7e || (c < 0x20 && c != '\t');
		if ((c == ' ' || c == '\t') && (i + 1 == n || s[i + 1] == '\n' ||
		    s[i + 1] == '\r'))
			encode = 1;
		if (bol && (c == '.' || (c == 'F' && n - i >= 5 &&
		    memcmp(s + i, "From ", 5) == 0)))
			encode = 1;
		w = encode ? 3 : 1;
		/* Room for this and a soft break's '='. */
		if (col + w > MAIL_QP_LINE - 1) {
			render_buf_str(b, "=\r\n");
			col = 0;
		}
		if (encode) {
			enc[0] = '=';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			render_buf_add(b, enc, 3);
		} else
			render_buf_add(b, (const char *)&c, 1);
		col += w;
		bol = 0;
	}
}

/* ---- Set-up. ---- */

/* Split "Name <addr>" or "addr"; 0 or -1. */
static int
mail_parse_from(const char *from, char **name, char **addr)
{
	const char	*lt, *gt, *at;
	char		*n, *e;

	*name = *addr = NULL;
	if ((lt = strchr(from, '<')) != NULL) {
		if ((gt = strchr(lt, '>')) == NULL || gt[1] != '\0')
			return (-1);
		*addr = xstrndup(lt + 1, (size_t)(gt - lt - 1));
		n = xstrndup(from, (size_t)(lt - from));
		while (*n != '\0' && isspace((unsigned char)n[strlen(n) - 1]))
			n[strlen(n) - 1] = '\0';
		e = n;
		while (isspace((unsigned char)*e))
			e++;
		if (*e == '"' && strlen(e) >= 2 && e[strlen(e) - 1] == '"') {
			e[strlen(e) - 1] = '\0';
			e++;
		}
		*name = *e != '\0' ? xstrdup(e) : NULL;
		free(n);
	} else
		*addr = xstrdup(from);
	if (!mail_address_ok(*addr) || (at = strrchr(*addr, '@')) == NULL) {
		free(*name);
		free(*addr);
		*name = *addr = NULL;
		return (-1);
	}
	return (0);
}

/*
 * Read the relay's settings and password (smtp.password_file: its first
 * line) before the threads start. 0 (nothing to do without smtp.url), or
 * -1 and *cause.
 */
int
mail_init(const struct config *cfg, char **cause)
{
	FILE	*f;
	char	 buf[MAIL_PASSWORD_MAX + 2];

	if (cfg->smtp_url == NULL)
		return (0);
	if (cfg->smtp_from == NULL || mail_parse_from(cfg->smtp_from,
	    &mail_relay.from_name, &mail_relay.from_addr) != 0) {
		xasprintf(cause, "smtp.from: not an address such as "
		    "\"CSIRT <ews@example.org>\"");
		return (-1);
	}
	mail_relay.domain = xstrdup(strrchr(mail_relay.from_addr, '@') + 1);
	mail_relay.url = xstrdup(cfg->smtp_url);
	mail_relay.starttls = cfg->smtp_starttls;
	if (cfg->smtp_username != NULL && cfg->smtp_password_file != NULL) {
		if ((f = fopen(cfg->smtp_password_file, "r")) == NULL) {
			xasprintf(cause, "smtp.password_file: %s: %s",
			    cfg->smtp_password_file, strerror(errno));
			mail_shutdown();
			return (-1);
		}
		if (fgets(buf, sizeof buf, f) == NULL)
			buf[0] = '\0';
		fclose(f);
		buf[strcspn(buf, "\r\n")] = '\0';
		if (buf[0] == '\0' || strlen(buf) > MAIL_PASSWORD_MAX) {
			OPENSSL_cleanse(buf, sizeof buf);
			xasprintf(cause, "smtp.password_file: %s: no password "
			    "on its first line", cfg->smtp_password_file);
			mail_shutdown();
			return (-1);
		}
		mail_relay.username = xstrdup(cfg->smtp_username);
		mail_relay.password = xstrdup(buf);
		OPENSSL_cleanse(buf, sizeof buf);
	}
	return (0);
}

/* Forget the relay's settings, wiping the password. */
void
mail_shutdown(void)
{
	free(mail_relay.url);
	free(mail_relay.from_addr);
	free(mail_relay.from_name);
	free(mail_relay.domain);
	free(mail_relay.username);
	secretbox_free(mail_relay.password, 0);
	memset(&mail_relay, 0, sizeof mail_relay);
}

/* Is e-mail configured (a relay to send through)? */
int
mail_enabled(void)
{
	return (mail_relay.url != NULL);
}

/*
 * Is ADDR an address we put in an envelope and a header: ASCII
 * local@domain, no spaces, controls, quotes or angle brackets, at most
 * 254 bytes? (Internationalised addresses would need SMTPUTF8, which
 * libcurl does not offer here.)
 */
int
mail_address_ok(const char *addr)
{
	const char	*at, *p;

	if (addr == NULL || strlen(addr) > 254 ||
	    (at = strrchr(addr, '@')) == NULL || at == addr || at[1] == '\0')
		return (0);
	for (p = addr; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("<>()[]\\,;:\"", *p) != NULL)
			return (0);
	}
	return (1);
}

/* ---- The clock of digests. ---- */

/*
 * Now, in Unix seconds. TOCSIN_TEST_NOW (tests only) moves it: a number
 * is the time at the first call, from which the clock runs on; a path
 * (starting with '/') names a file holding the time, read at every call,
 * so that a test can jump to tomorrow.
 */
double
mail_now(void)
{
	static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
	static double		 offset;
	static int		 ready;
	struct timeval		 tv;
	const char		*env;
	double			 real, v;
	FILE			*f;
	char			 buf[64];

	gettimeofday(&tv, NULL);
	real = (double)tv.tv_sec + tv.tv_usec / 1e6;
	if ((env = getenv("TOCSIN_TEST_NOW")) == NULL || *env == '\0')
		return (real);
	if (*env == '/') {
		if ((f = fopen(env, "r")) == NULL)
			return (real);
		v = fgets(buf, sizeof buf, f) != NULL ? strtod(buf, NULL) : 0;
		fclose(f);
		return (v > 0 ? v : real);
	}
	pthread_mutex_lock(&lock);
	if (!ready) {
		v = strtod(env, NULL);
		offset = v > 0 ? v - real : 0;
		ready = 1;
	}
	v = real + offset;
	pthread_mutex_unlock(&lock);
	return (v);
}

/*
 * The first time after NOW (Unix seconds) when the local clock shows
 * MINUTE (minutes after midnight): the next digest. Local time is the
 * daemon's (TZ); mktime() takes summer time into account.
 */
double
mail_next_time(double now, int minute)
{
	struct tm	tm;
	time_t		t = (time_t)now, at;

	localtime_r(&t, &tm);
	tm.tm_hour = minute / 60;
	tm.tm_min = minute % 60;
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	at = mktime(&tm);
	if ((double)at <= now) {
		localtime_r(&t, &tm);
		tm.tm_mday++;
		tm.tm_hour = minute / 60;
		tm.tm_min = minute % 60;
		tm.tm_sec = 0;
		tm.tm_isdst = -1;
		at = mktime(&tm);
	}
	return ((double)at);
}

/* Minutes after midnight of "daily@HH:MM", or -1 (immediate, invalid). */
int
mail_digest_minute(const char *digest)
{
	int	h, m;

	if (digest == NULL || strncmp(digest, "daily@", 6) != 0 ||
	    strlen(digest) != 11 || !isdigit((unsigned char)digest[6]) ||
	    !isdigit((unsigned char)digest[7]) || digest[8] != ':' ||
	    !isdigit((unsigned char)digest[9]) ||
	    !isdigit((unsigned char)digest[10]))
		return (-1);
	h = (digest[6] - '0') * 10 + digest[7] - '0';
	m = (digest[9] - '0') * 10 + digest[10] - '0';
	if (h > 23 || m > 59)
		return (-1);
	return (h * 60 + m);
}

/* ---- One-click unsubscribe tokens. ---- */

static void
mail_put64(unsigned char *p, uint64_t v)
{
	int	i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t
mail_get64(const unsigned char *p)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (v);
}

/* The MAC of LEN bytes; 0 or -1 (no server key). */
static int
mail_token_mac(const unsigned char *p, size_t len,
    unsigned char mac[32])
{
	unsigned char	key[32];
	unsigned int	n = 32;
	int		rc = 0;

	if (secretbox_derive(MAIL_TOKEN_PURPOSE, key) != 0)
		return (-1);
	if (HMAC(EVP_sha256(), key, sizeof key, p, len, mac, &n) == NULL)
		rc = -1;
	OPENSSL_cleanse(key, sizeof key);
	return (rc);
}

/*
 * The token of a one-click unsubscribe link: it names user USER and the
 * N subscriptions (at most TOCSIN_UNSUB_MAX) whose e-mail channel it
 * removes, and carries an HMAC-SHA256 (first 16 bytes) keyed with a key
 * derived from the server key. Base64url without padding; NULL without a
 * server key.
 */
char *
mail_unsub_token(int64_t user, const int64_t *subs, size_t n)
{
	unsigned char	 buf[2 + 8 + 1 + 8 * TOCSIN_UNSUB_MAX + 32];
	unsigned char	 mac[32];
	size_t		 len, i;
	char		*b64, *p;

	if (n > TOCSIN_UNSUB_MAX)
		n = TOCSIN_UNSUB_MAX;
	buf[0] = 'U';
	buf[1] = MAIL_TOKEN_VERSION;
	mail_put64(buf + 2, (uint64_t)user);
	buf[10] = (unsigned char)n;
	for (i = 0; i < n; i++)
		mail_put64(buf + 11 + 8 * i, (uint64_t)subs[i]);
	len = 11 + 8 * n;
	if (mail_token_mac(buf, len, mac) != 0)
		return (NULL);
	memcpy(buf + len, mac, MAIL_TOKEN_MAC);
	len += MAIL_TOKEN_MAC;
	b64 = sign_base64_encode(buf, len);
	for (p = b64; *p != '\0'; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=') {
			*p = '\0';
			break;
		}
	}
	return (b64);
}

/*
 * Check a token: 0 and *user, *subs (caller frees), *n; -1 when it is not
 * a token at all (400); -2 when its MAC does not verify (403).
 */
int
mail_unsub_verify(const char *token, int64_t *user, int64_t **subs,
    size_t *n)
{
	unsigned char	*raw, mac[32];
	char		*b64, *p;
	size_t		 len, rawlen, i, k;
	int		 rc = -1;

	*user = 0;
	*subs = NULL;
	*n = 0;
	if (token == NULL || (len = strlen(token)) < 16 || len > 512)
		return (-1);
	b64 = xmalloc(len + 4);
	for (i = 0; i < len; i++) {
		if (token[i] == '-')
			b64[i] = '+';
		else if (token[i] == '_')
			b64[i] = '/';
		else if (isalnum((unsigned char)token[i]))
			b64[i] = token[i];
		else {
			free(b64);
			return (-1);
		}
	}
	while (i % 4 != 0)
		b64[i++] = '=';
	b64[i] = '\0';
	p = b64;
	if (sign_base64_decode(p, &raw, &rawlen) != 0) {
		free(b64);
		return (-1);
	}
	free(b64);
	if (rawlen < 11 + MAIL_TOKEN_MAC || raw[0] != 'U' ||
	    raw[1] != MAIL_TOKEN_VERSION || raw[10] > TOCSIN_UNSUB_MAX ||
	    rawlen != 11 + 8 * (size_t)raw[10] + MAIL_TOKEN_MAC)
		goto out;
	rc = -2;
	if (mail_token_mac(raw, rawlen - MAIL_TOKEN_MAC, mac) != 0 ||
	    CRYPTO_memcmp(mac, raw + rawlen - MAIL_TOKEN_MAC,
	    MAIL_TOKEN_MAC) != 0)
		goto out;
	*user = (int64_t)mail_get64(raw + 2);
	*n = raw[10];
	*subs = xcalloc(*n + 1, sizeof **subs);
	for (k = 0; k < *n; k++)
		(*subs)[k] = (int64_t)mail_get64(raw + 11 + 8 * k);
	rc = 0;
out:
	free(raw);
	return (rc);
}

/* ---- Templates. ---- */

/* Header text: controls become spaces, so no value breaks a header. */
static void
mail_escape_header(struct render_buf *b, const char *s, size_t n, void *arg)
{
	size_t	i, start = 0;

	(void)arg;
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			render_buf_add(b, s + start, i - start);
			render_buf_str(b, " ");
			start = i + 1;
		}
	}
	render_buf_add(b, s + start, n - start);
}

/*
 * Render templates/email/LANG/NAME.EXT (English when LANG has none) with
 * CTX; 0 and *out, or -1 and *cause.
 */
static int
mail_render(const char *dir, const char *lang, const char *name,
    const char *ext, json_t *ctx, const struct render_opts *o, char **out,
    char **cause)
{
	char	*file, *path;
	int	 rc;

	xasprintf(&file, "email/%s/%s.%s", lang, name, ext);
	xasprintf(&path, "%s/%s", dir, file);
	if (strcmp(lang, "en") != 0 && access(path, R_OK) != 0) {
		free(file);
		xasprintf(&file, "email/en/%s.%s", name, ext);
	}
	free(path);
	rc = render_file(dir, file, ctx, o, out, NULL, cause);
	free(file);
	return (rc);
}

/* "Tue, 25 Nov 2026 00:54:23 +0000". */
static void
mail_date(char *buf, size_t len)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm	tm;
	time_t		t = time(NULL);

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The headers that travel inside an encrypted message too. */
static void
mail_headers_common(struct render_buf *b, const struct mail_spec *m,
    const char *subject, const char *date)
{
	mail_header_addr(b, "From", mail_relay.from_name,
	    mail_relay.from_addr);
	mail_header_addr(b, "To", m->to_name, m->to);
	mail_header(b, "Subject", subject);
	render_buf_str(b, "Date: ");
	render_buf_str(b, date);
	render_buf_str(b, "\r\nMessage-ID: <");
	render_buf_str(b, m->msg_id);
	render_buf_str(b, "@");
	render_buf_str(b, mail_relay.domain);
	render_buf_str(b, ">\r\n");
}

void
mail_msg_free(struct mail_msg *m)
{
	if (m == NULL)
		return;
	free(m->rcpt);
	free(m->data);
	free(m);
}

void
mail_body_free(struct mail_body *b)
{
	if (b == NULL)
		return;
	free(b->subject);
	free(b->entity);
	free(b->signed_entity);
	free(b);
}

/*
 * Render templates/email/LANG/NAME.{subject,txt,html} with CTX into a
 * body: the Subject, the multipart/alternative entity (quoted-printable
 * UTF-8, CRLF) and, when smime is configured, that entity signed. CTX
 * must hold nothing about the recipient: one body serves every recipient
 * of an item in a language, so it is rendered and signed once. 0 and
 * *out, or -1 and *cause (a template or signing error).
 */
int
mail_body_new(const struct config *cfg, const char *lang, const char *name,
    json_t *ctx, struct mail_body **out, char **cause)
{
	struct render_opts	 text = { RENDER_TEXT, 0, 0, NULL, NULL };
	struct render_opts	 html = { RENDER_HTML, 0, 0, NULL, NULL };
	struct render_opts	 subj = { RENDER_TEXT, 4096, 0,
				    mail_escape_header, NULL };
	struct render_buf	 e, sg;
	struct mail_body	*b;
	const char		*dir = render_dir(cfg);
	char			*subject = NULL, *txt = NULL, *htm = NULL, *p;
	char			 bound[40];
	unsigned char		 rnd[12];
	size_t			 k;
	int			 rc = -1;

	*out = NULL;
	memset(&e, 0, sizeof e);
	memset(&sg, 0, sizeof sg);
	e.max = sg.max = 2 * TOCSIN_RENDER_MAX;
	if (mail_render(dir, lang, name, "subject", ctx, &subj, &subject,
	    cause) != 0 ||
	    mail_render(dir, lang, name, "txt", ctx, &text, &txt, cause) != 0 ||
	    mail_render(dir, lang, name, "html", ctx, &html, &htm, cause) != 0)
		goto out;
	/* One line, no surrounding blanks. */
	for (p = subject; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	}
	for (k = strlen(subject); k > 0 && subject[k - 1] == ' '; k--)
		subject[k - 1] = '\0';
	for (p = subject; *p == ' '; p++)
		;
	memmove(subject, p, strlen(p) + 1);

	/* "=_" never occurs in quoted-printable text: a safe boundary. */
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		fatalx("mail: RAND_bytes failed");
	memcpy(bound, "=_alt_", 6);
	for (k = 0; k < sizeof rnd; k++)
		snprintf(bound + 6 + 2 * k, 3, "%02x", rnd[k]);
	render_buf_str(&e, "Content-Type: multipart/alternative; boundary=\"");
	render_buf_str(&e, bound);
	render_buf_str(&e, "\"\r\n\r\n--");
	render_buf_str(&e, bound);
	render_buf_str(&e, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	mail_qp(&e, txt, strlen(txt));
	render_buf_str(&e, "\r\n--");
	render_buf_str(&e, bound);
	render_buf_str(&e, "\r\nContent-Type: text/html; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	mail_qp(&e, htm, strlen(htm));
	render_buf_str(&e, "\r\n--");
	render_buf_str(&e, bound);
	render_buf_str(&e, "--\r\n");
	if (smime_enabled() && smime_sign(e.p, e.len, &sg, cause) != 0)
		goto out;
	if (e.over || sg.over) {
		xasprintf(cause, "the message is larger than %zu bytes", e.max);
		goto out;
	}
	b = xcalloc(1, sizeof *b);
	b->subject = subject;
	b->entity = e.p;
	b->entity_len = e.len;
	b->signed_entity = sg.p;
	b->signed_len = sg.len;
	subject = NULL;
	e.p = sg.p = NULL;
	*out = b;
	rc = 0;
out:
	free(subject);
	free(txt);
	free(htm);
	free(e.p);
	free(sg.p);
	return (rc);
}

/*
 * Compose the message M from body B: the outer headers, then B's signed
 * (or plain) entity; or, when m->encrypt_to is given, B's entity with the
 * real headers inside (protected headers), signed for this recipient and
 * encrypted to it. 0 and *out, or -1 and *cause (encryption).
 */
int
mail_compose(const struct mail_spec *m, const struct mail_body *b,
    struct mail_msg **out, char **cause)
{
	struct render_buf	 inner, signed_e, final;
	const char		*head_end;
	char			*hidden = NULL, date[64];
	int			 rc = -1;

	*out = NULL;
	memset(&inner, 0, sizeof inner);
	memset(&signed_e, 0, sizeof signed_e);
	memset(&final, 0, sizeof final);
	inner.max = signed_e.max = final.max = 4 * TOCSIN_RENDER_MAX;
	if (!mail_address_ok(m->to)) {
		xasprintf(cause, "the recipient's address is not usable");
		return (-1);
	}
	mail_date(date, sizeof date);
	if (m->hide_subject)
		xasprintf(&hidden, "[TLP:%s] %s: ...", m->tlp,
		    m->id != NULL ? m->id : "");
	mail_headers_common(&final, m, hidden != NULL ? hidden : b->subject,
	    date);
	render_buf_str(&final, "MIME-Version: 1.0\r\nX-TLP: ");
	render_buf_str(&final, m->tlp);
	render_buf_str(&final, "\r\nAuto-Submitted: auto-generated\r\n"
	    "X-Auto-Response-Suppress: All\r\n");
	if (m->unsubscribe_url != NULL) {
		render_buf_str(&final, "List-Unsubscribe: <");
		render_buf_str(&final, m->unsubscribe_url);
		render_buf_str(&final, ">\r\nList-Unsubscribe-Post: "
		    "List-Unsubscribe=One-Click\r\n");
	}
	if (m->encrypt_to == NULL) {
		if (b->signed_entity != NULL)
			render_buf_add(&final, b->signed_entity, b->signed_len);
		else
			render_buf_add(&final, b->entity, b->entity_len);
	} else {
		/* Protected headers: the real ones, inside the encryption. */
		head_end = strstr(b->entity, "\r\n");
		render_buf_add(&inner, b->entity, (size_t)(head_end -
		    b->entity));
		render_buf_str(&inner, "; protected-headers=\"v1\"\r\n");
		mail_headers_common(&inner, m, b->subject, date);
		render_buf_add(&inner, head_end + 2, b->entity_len -
		    (size_t)(head_end + 2 - b->entity));
		if (smime_enabled()) {
			if (smime_sign(inner.p, inner.len, &signed_e,
			    cause) != 0)
				goto out;
		}
		if (smime_encrypt(m->encrypt_to, smime_enabled() ? signed_e.p :
		    inner.p, smime_enabled() ? signed_e.len : inner.len, &final,
		    cause) != 0)
			goto out;
	}
	if (inner.over || signed_e.over || final.over) {
		xasprintf(cause, "the message is larger than %zu bytes",
		    final.max);
		goto out;
	}
	*out = xcalloc(1, sizeof **out);
	(*out)->rcpt = xstrdup(m->to);
	(*out)->data = final.p;
	(*out)->len = final.len;
	final.p = NULL;
	rc = 0;
out:
	free(hidden);
	free(inner.p);
	free(signed_e.p);
	free(final.p);
	return (rc);
}

/* ---- SMTP through libcurl. ---- */

/* curl: the next bytes of the message. */
static size_t
mail_read_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct mail_msg	*m = arg;
	size_t		 n = size * nmemb;

	if (n > m->len - m->off)
		n = m->len - m->off;
	memcpy(buf, m->data + m->off, n);
	m->off += n;
	return (n);
}

/*
 * Set EASY up to send M through the relay: MAIL FROM the configured
 * address, RCPT TO the recipient, TLS as configured (smtps://, or
 * STARTTLS required with smtp.starttls), AUTH when a user is configured.
 * *RCPTS is the list to free after the transfer.
 */
void
mail_curl_setup(void *easy, struct mail_msg *m, char *errbuf, int timeout_s,
    struct curl_slist **rcpts)
{
	char	*from, *to;

	xasprintf(&from, "<%s>", mail_relay.from_addr);
	xasprintf(&to, "<%s>", m->rcpt);
	*rcpts = curl_slist_append(NULL, to);
	free(to);
	m->off = 0;
	curl_easy_setopt(easy, CURLOPT_URL, mail_relay.url);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(easy, CURLOPT_MAIL_FROM, from);
	free(from);	/* curl copies string options */
	curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, *rcpts);
	curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(easy, CURLOPT_READFUNCTION, mail_read_cb);
	curl_easy_setopt(easy, CURLOPT_READDATA, m);
	curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m->len);
	if (mail_relay.starttls)
		curl_easy_setopt(easy, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (mail_relay.username != NULL) {
		curl_easy_setopt(easy, CURLOPT_USERNAME, mail_relay.username);
		curl_easy_setopt(easy, CURLOPT_PASSWORD, mail_relay.password);
	}
	curl_easy_setopt(easy, CURLOPT_PROXY, "");
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)timeout_s * 1000);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)MAIL_CONNECT_S * 1000);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
}

/*
 * What a finished transfer means for its delivery: delivered (CURLE_OK);
 * a permanent refusal of this message (5xx at RCPT TO or after the data)
 * is failed, and *BAD_ADDRESS says whether the relay refused the address
 * itself (550, 551, 553 at RCPT TO: to be reported); anything else (4xx,
 * no connection, a timeout, and the relay refusing us rather than the
 * message: 5xx to MAIL FROM or AUTH) is retried on the schedule. WHY gets
 * the reason for the delivery's last_error.
 */
enum outbox_outcome
mail_outcome(int cc, long code, const char *errbuf, int *bad_address,
    char *why, size_t whylen)
{
	const char	*err = errbuf != NULL && *errbuf != '\0' ? errbuf :
			    curl_easy_strerror((CURLcode)cc);
	int		 rcpt = errbuf != NULL && strncmp(errbuf, "RCPT", 4) == 0;

	*bad_address = 0;
	if (cc == CURLE_OK) {
		why[0] = '\0';
		return (OUTBOX_DELIVERED);
	}
	if (code >= 500 && code < 600 && cc != CURLE_LOGIN_DENIED &&
	    (errbuf == NULL || strncmp(errbuf, "MAIL", 4) != 0)) {
		*bad_address = rcpt && (code == 550 || code == 551 ||
		    code == 553);
		snprintf(why, whylen, "SMTP %ld: %s%s", code, *bad_address ?
		    "the relay refused the recipient's address: " :
		    "refused for good: ", err);
		return (OUTBOX_FAILED);
	}
	if (code >= 400 && code < 500)
		snprintf(why, whylen, "SMTP %ld (temporary): %s", code, err);
	else if (code >= 500)
		snprintf(why, whylen, "SMTP %ld: the relay refuses to take "
		    "mail from us (check smtp.from, smtp.username): %s", code,
		    err);
	else
		snprintf(why, whylen, "%s", err);
	return (OUTBOX_RETRY);
}

/*
 * Send one short plain-text message (UTF-8, quoted-printable) to TO now,
 * through the relay, waiting at most TIMEOUT_S seconds: for mail that is
 * no item and has no outbox row (the web's sign-in links). 0 when the
 * relay took it, else -1 and *cause.
 */
int
mail_send_text(const char *to, const char *subject, const char *text,
    int timeout_s, char **cause)
{
	struct render_buf	 b;
	struct mail_msg		 m;
	struct curl_slist	*rcpts = NULL;
	CURL			*easy;
	CURLcode		 cc;
	char			 date[64], errbuf[CURL_ERROR_SIZE];
	unsigned char		 rnd[12];
	size_t			 k;
	int			 rc = -1;

	*cause = NULL;
	if (!mail_enabled() || !mail_address_ok(to)) {
		xasprintf(cause, "no relay, or an unusable address");
		return (-1);
	}
	memset(&b, 0, sizeof b);
	b.max = TOCSIN_RENDER_MAX;
	mail_date(date, sizeof date);
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		fatalx("mail: RAND_bytes failed");
	mail_header_addr(&b, "From", mail_relay.from_name,
	    mail_relay.from_addr);
	mail_header_addr(&b, "To", NULL, to);
	mail_header(&b, "Subject", subject);
	render_buf_str(&b, "Date: ");
	render_buf_str(&b, date);
	render_buf_str(&b, "\r\nMessage-ID: <msg_");
	for (k = 0; k < sizeof rnd; k++) {
		char	hx[3];

		snprintf(hx, sizeof hx, "%02x", rnd[k]);
		render_buf_str(&b, hx);
	}
	render_buf_str(&b, "@");
	render_buf_str(&b, mail_relay.domain);
	render_buf_str(&b, ">\r\nMIME-Version: 1.0\r\n"
	    "Auto-Submitted: auto-generated\r\n"
	    "X-Auto-Response-Suppress: All\r\n"
	    "Content-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	mail_qp(&b, text, strlen(text));
	render_buf_str(&b, "\r\n");
	if (b.over) {
		xasprintf(cause, "the message is too large");
		free(b.p);
		return (-1);
	}
	memset(&m, 0, sizeof m);
	m.rcpt = xstrdup(to);
	m.data = b.p;
	m.len = b.len;
	errbuf[0] = '\0';
	if ((easy = curl_easy_init()) == NULL) {
		xasprintf(cause, "curl_easy_init failed");
		goto out;
	}
	mail_curl_setup(easy, &m, errbuf, timeout_s, &rcpts);
	if ((cc = curl_easy_perform(easy)) != CURLE_OK)
		xasprintf(cause, "%s", errbuf[0] != '\0' ? errbuf :
		    curl_easy_strerror(cc));
	else
		rc = 0;
	curl_easy_cleanup(easy);
	curl_slist_free_all(rcpts);
out:
	free(m.rcpt);
	free(m.data);
	return (rc);
}
