/*
 * test_mail.c: the pure parts of e-mail: RFC 2047 headers (encoded words
 * of whole characters, lines of 76 at most, decoding back to the text),
 * folding, quoted-printable bodies, addresses, the one-click unsubscribe
 * tokens (round trip, forged, malformed), digest times, and what an SMTP
 * answer means for a delivery.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "tocsind.h"
#include "unit.h"

/* Decode an unfolded header value made of B encoded words and text. */
static char *
decode_words(const char *v)
{
	struct render_buf	 b;
	const char		*p = v, *q, *end;
	unsigned char		*raw;
	char			*enc;
	size_t			 len;

	memset(&b, 0, sizeof b);
	b.max = 1 << 20;
	while (*p != '\0') {
		if (strncmp(p, "=?UTF-8?B?", 10) == 0 &&
		    (end = strstr(p + 10, "?=")) != NULL) {
			enc = xstrndup(p + 10, (size_t)(end - p - 10));
			if (sign_base64_decode(enc, &raw, &len) == 0) {
				render_buf_add(&b, (char *)raw, len);
				free(raw);
			}
			free(enc);
			p = end + 2;
			/* Whitespace between encoded words is not text. */
			for (q = p; *q == ' '; q++)
				;
			if (strncmp(q, "=?UTF-8?B?", 10) == 0)
				p = q;
			continue;
		}
		render_buf_add(&b, p++, 1);
	}
	return (b.p != NULL ? b.p : xstrdup(""));
}

/* The value of a rendered header, unfolded (CRLF SP -> SP). */
static char *
unfold(const char *h)
{
	const char	*colon = strchr(h, ':');
	char		*out = xmalloc(strlen(h) + 1), *o = out;
	const char	*p;

	for (p = colon + 2; *p != '\0'; p++) {
		if (p[0] == '\r' && p[1] == '\n') {
			p++;
			continue;
		}
		*o++ = *p;
	}
	*o = '\0';
	return (out);
}

/* Every line of S (CRLF separated) at most MAX bytes? */
static int
lines_within(const char *s, size_t max)
{
	const char	*p = s, *e;

	while (*p != '\0') {
		e = strstr(p, "\r\n");
		if (e == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) > max)
			return (0);
		p = *e != '\0' ? e + 2 : e;
	}
	return (1);
}

static char *
header(const char *name, const char *value)
{
	struct render_buf	b;

	memset(&b, 0, sizeof b);
	b.max = 1 << 20;
	mail_header(&b, name, value);
	return (b.p);
}

static void
test_headers(void)
{
	const char	*utf = "[TLP:AMBER] CCB-2026-0042: Vulnérabilité "
			    "critique — Schwachstelle für Überwachung, 漢字 "
			    "and 🚨, long enough for several encoded words";
	const char	*ascii = "[TLP:GREEN] CCB-2026-0001: A plain ASCII "
			    "title that is long enough to be folded at a space "
			    "somewhere past seventy-eight characters";
	char		*h, *v, *d;

	h = header("Subject", "[TLP:CLEAR] CCB-2026-0001: Short");
	CHECK_STR_EQ(h, "Subject: [TLP:CLEAR] CCB-2026-0001: Short\r\n");
	free(h);

	h = header("Subject", ascii);
	CHECK(lines_within(h, 78));
	v = unfold(h);
	CHECK_STR_EQ(v, ascii);
	free(v);
	free(h);

	h = header("Subject", utf);
	CHECK(strncmp(h, "Subject: =?UTF-8?B?", 19) == 0);
	CHECK(lines_within(h, 76));
	v = unfold(h);
	d = decode_words(v);
	CHECK_STR_EQ(d, utf);
	free(d);
	free(v);
	free(h);

	/* Control characters never reach a header; "=?" is encoded. */
	h = header("Subject", "a\r\nBcc: x@y.z");
	CHECK_STR_EQ(h, "Subject: a  Bcc: x@y.z\r\n");
	free(h);
	h = header("Subject", "=?UTF-8?B?Zm9v?=");
	CHECK(strncmp(h, "Subject: =?UTF-8?B?PT9VVEYtOD9CP1ptOXY/PQ==?=", 45)
	    == 0);
	free(h);
}

static char *
qp(const char *s)
{
	struct render_buf	b;

	memset(&b, 0, sizeof b);
	b.max = 1 << 20;
	mail_qp(&b, s, strlen(s));
	return (b.p != NULL ? b.p : xstrdup(""));
}

static void
test_qp(void)
{
	char	 long_line[301], *q;

	q = qp("a=b\nc \nd\te\n");
	CHECK_STR_EQ(q, "a=3Db\r\nc=20\r\nd\te\r\n");
	free(q);
	q = qp("From here\n.dot\nFrom\n");
	CHECK_STR_EQ(q, "=46rom here\r\n=2Edot\r\nFrom\r\n");
	free(q);
	q = qp("é—\r\n");
	CHECK_STR_EQ(q, "=C3=A9=E2=80=94\r\n");
	free(q);
	memset(long_line, 'x', 300);
	long_line[300] = '\0';
	q = qp(long_line);
	CHECK(lines_within(q, 76));
	CHECK(strstr(q, "=\r\n") != NULL);
	free(q);
	memset(long_line, 0xe9, 300);	/* encoded: never split */
	q = qp(long_line);
	CHECK(lines_within(q, 76));
	CHECK(strstr(q, "=E\r\n") == NULL && strstr(q, "=\r\n9") == NULL);
	free(q);
}

static void
test_addresses(void)
{
	CHECK(mail_address_ok("soc@example.be"));
	CHECK(mail_address_ok("a.b+c@sub.example.be"));
	CHECK(!mail_address_ok("no-at-sign"));
	CHECK(!mail_address_ok("@example.be"));
	CHECK(!mail_address_ok("a@"));
	CHECK(!mail_address_ok("a b@example.be"));
	CHECK(!mail_address_ok("a@example.be>\r\nRCPT TO:<x@y"));
	CHECK(!mail_address_ok("zoë@example.be"));
	CHECK(!mail_address_ok(NULL));
}

static void
test_tokens(void)
{
	unsigned char	 key[32];
	int64_t		 subs[20], user, *got;
	size_t		 n, i;
	char		*t, *f;

	memset(key, 7, sizeof key);
	secretbox_set_key(key);
	for (i = 0; i < 20; i++)
		subs[i] = 1000 + (int64_t)i;
	t = mail_unsub_token(42, subs, 2);
	CHECK(t != NULL && strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
	    "nopqrstuvwxyz0123456789-_") == strlen(t));
	CHECK(mail_unsub_verify(t, &user, &got, &n) == 0);
	CHECK(user == 42 && n == 2 && got[0] == 1000 && got[1] == 1001);
	free(got);
	/* Any change to the payload or the MAC: forged. */
	f = xstrdup(t);
	f[5] = f[5] == 'A' ? 'B' : 'A';
	CHECK_INT_EQ(mail_unsub_verify(f, &user, &got, &n), -2);
	free(f);
	f = xstrdup(t);
	f[strlen(f) - 2] = f[strlen(f) - 2] == 'A' ? 'B' : 'A';
	CHECK_INT_EQ(mail_unsub_verify(f, &user, &got, &n), -2);
	free(f);
	free(t);
	/* Another server key: forged too. */
	t = mail_unsub_token(42, subs, 1);
	key[0] ^= 1;
	secretbox_set_key(key);
	CHECK_INT_EQ(mail_unsub_verify(t, &user, &got, &n), -2);
	free(t);
	/* At most TOCSIN_UNSUB_MAX subscriptions. */
	t = mail_unsub_token(7, subs, 20);
	CHECK(mail_unsub_verify(t, &user, &got, &n) == 0 &&
	    n == TOCSIN_UNSUB_MAX && got[n - 1] == 1000 + TOCSIN_UNSUB_MAX - 1);
	free(got);
	free(t);
	/* Not tokens at all. */
	CHECK_INT_EQ(mail_unsub_verify(NULL, &user, &got, &n), -1);
	CHECK_INT_EQ(mail_unsub_verify("", &user, &got, &n), -1);
	CHECK_INT_EQ(mail_unsub_verify("not a token at all!", &user, &got,
	    &n), -1);
	CHECK_INT_EQ(mail_unsub_verify("AAAAAAAAAAAAAAAAAAAAAAAA", &user, &got,
	    &n), -1);
	secretbox_shutdown();
	t = mail_unsub_token(1, subs, 1);
	CHECK(t == NULL);	/* no server key, no token */
}

static void
test_digest_times(void)
{
	double	now;

	CHECK_INT_EQ(mail_digest_minute("daily@08:00"), 480);
	CHECK_INT_EQ(mail_digest_minute("daily@23:59"), 23 * 60 + 59);
	CHECK_INT_EQ(mail_digest_minute("daily@00:00"), 0);
	CHECK_INT_EQ(mail_digest_minute("daily@24:00"), -1);
	CHECK_INT_EQ(mail_digest_minute("daily@8:00"), -1);
	CHECK_INT_EQ(mail_digest_minute("immediate"), -1);
	CHECK_INT_EQ(mail_digest_minute(NULL), -1);

	setenv("TZ", "UTC", 1);
	tzset();
	now = 1894258800;			/* 2030-01-10 07:00:00 UTC */
	CHECK(mail_next_time(now, 480) == now + 3600);
	CHECK(mail_next_time(now + 3600, 480) == now + 3600 + 86400);
	CHECK(mail_next_time(now, 0) == now + 17 * 3600);
	/* Summer time: 08:00 in Brussels is 06:00 UTC in July. */
	setenv("TZ", "Europe/Brussels", 1);
	tzset();
	now = 1909465200;			/* 2030-07-05 07:00:00 UTC */
	CHECK(mail_next_time(now, 480) == now + 23 * 3600);
	setenv("TZ", "UTC", 1);
	tzset();

	setenv("TOCSIN_TEST_NOW", "/nonexistent/clock", 1);
	CHECK(mail_now() > 1.7e9);	/* unreadable: the real clock */
	unsetenv("TOCSIN_TEST_NOW");
}

static void
test_outcomes(void)
{
	char	why[256];
	int	bad;

	CHECK_INT_EQ(mail_outcome(CURLE_OK, 250, "", &bad, why, sizeof why),
	    OUTBOX_DELIVERED);
	CHECK_INT_EQ(mail_outcome(CURLE_SEND_ERROR, 550, "RCPT failed: 550",
	    &bad, why, sizeof why), OUTBOX_FAILED);
	CHECK(bad && strstr(why, "550") != NULL);
	CHECK_INT_EQ(mail_outcome(CURLE_SEND_ERROR, 553, "RCPT failed: 553",
	    &bad, why, sizeof why), OUTBOX_FAILED);
	CHECK(bad);
	CHECK_INT_EQ(mail_outcome(CURLE_SEND_ERROR, 552, "RCPT failed: 552",
	    &bad, why, sizeof why), OUTBOX_FAILED);
	CHECK(!bad);
	CHECK_INT_EQ(mail_outcome(CURLE_WEIRD_SERVER_REPLY, 554, "", &bad,
	    why, sizeof why), OUTBOX_FAILED);
	CHECK(!bad);
	CHECK_INT_EQ(mail_outcome(CURLE_SEND_ERROR, 451, "RCPT failed: 451",
	    &bad, why, sizeof why), OUTBOX_RETRY);
	CHECK(!bad && strstr(why, "temporary") != NULL);
	CHECK_INT_EQ(mail_outcome(CURLE_WEIRD_SERVER_REPLY, 452, "", &bad,
	    why, sizeof why), OUTBOX_RETRY);
	/* The relay refusing us, not the message: retried, not failed. */
	CHECK_INT_EQ(mail_outcome(CURLE_SEND_ERROR, 550, "MAIL failed: 550",
	    &bad, why, sizeof why), OUTBOX_RETRY);
	CHECK_INT_EQ(mail_outcome(CURLE_LOGIN_DENIED, 535, "", &bad, why,
	    sizeof why), OUTBOX_RETRY);
	CHECK_INT_EQ(mail_outcome(CURLE_COULDNT_CONNECT, 0, "", &bad, why,
	    sizeof why), OUTBOX_RETRY);
	CHECK(why[0] != '\0');
}

int
main(void)
{
	test_headers();
	test_qp();
	test_addresses();
	test_tokens();
	test_digest_times();
	test_outcomes();
	return (UNIT_DONE());
}
