/*
 * smime.c: S/MIME for e-mail with OpenSSL's CMS. The CSIRT's certificate
 * and key (smime.cert, smime.key; the chain may follow the certificate in
 * its file) sign every message detached, as multipart/signed, so that any
 * mail client shows who sent it without hiding the text from one that
 * cannot check; a recipient's certificate (users.smime_cert) encrypts it
 * with AES-256-CBC, which every S/MIME client and `openssl smime -decrypt`
 * read (GCM would need AuthEnvelopedData, which `openssl smime` cannot).
 *
 * The entity given to sign or encrypt is already canonical (CRLF lines,
 * 7-bit transfer encodings), so both run in binary mode: what is signed is
 * byte for byte what is sent. Used by the delivery worker's thread only;
 * loaded before the threads start.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tocsind.h"

struct smime_rcpt {
	X509	*cert;
};

static X509		*smime_cert;
static EVP_PKEY		*smime_key;
static STACK_OF(X509)	*smime_chain;

/* OpenSSL's last error as text, for a cause. */
static const char *
smime_ssl_error(char *buf, size_t len)
{
	unsigned long	e = ERR_get_error();

	ERR_clear_error();
	if (e == 0)
		snprintf(buf, len, "unknown OpenSSL error");
	else
		ERR_error_string_n(e, buf, len);
	return (buf);
}

/* "Jan  2 03:04:05 2026 GMT" of an ASN1_TIME, into BUF. */
static void
smime_time(const ASN1_TIME *t, char *buf, size_t len)
{
	BIO	*b = BIO_new(BIO_s_mem());
	char	*p;
	long	 n;

	buf[0] = '\0';
	if (b == NULL)
		return;
	if (ASN1_TIME_print(b, t) == 1) {
		n = BIO_get_mem_data(b, &p);
		snprintf(buf, len, "%.*s", (int)n, p);
	}
	BIO_free(b);
}

/* Load the signing certificate (and chain) and key; 0 or -1 and *cause. */
int
smime_init(const struct config *cfg, char **cause)
{
	BIO	*b;
	X509	*x;
	char	 err[256], when[64];

	if (cfg->smime_cert == NULL || cfg->smime_key == NULL)
		return (0);
	if ((b = BIO_new_file(cfg->smime_cert, "r")) == NULL) {
		xasprintf(cause, "smime.cert: %s: cannot be read",
		    cfg->smime_cert);
		return (-1);
	}
	smime_cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (smime_cert == NULL) {
		BIO_free(b);
		xasprintf(cause, "smime.cert: %s: no PEM certificate (%s)",
		    cfg->smime_cert, smime_ssl_error(err, sizeof err));
		return (-1);
	}
	/* Whatever follows is the chain, sent with every signature. */
	smime_chain = sk_X509_new_null();
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		sk_X509_push(smime_chain, x);
	ERR_clear_error();
	BIO_free(b);
	if ((b = BIO_new_file(cfg->smime_key, "r")) == NULL) {
		xasprintf(cause, "smime.key: %s: cannot be read",
		    cfg->smime_key);
		goto fail;
	}
	smime_key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (smime_key == NULL) {
		xasprintf(cause, "smime.key: %s: no PEM private key (%s)",
		    cfg->smime_key, smime_ssl_error(err, sizeof err));
		goto fail;
	}
	if (X509_check_private_key(smime_cert, smime_key) != 1) {
		ERR_clear_error();
		xasprintf(cause, "smime.key: %s does not belong to the "
		    "certificate in %s", cfg->smime_key, cfg->smime_cert);
		goto fail;
	}
	/* Sign anyway: a warning in the log beats mail that stops. */
	if (X509_cmp_time(X509_get0_notAfter(smime_cert), NULL) < 0) {
		smime_time(X509_get0_notAfter(smime_cert), when, sizeof when);
		log_warn("smime: the signing certificate expired on %s; "
		    "signatures will not verify", when);
	}
	if (X509_check_purpose(smime_cert, X509_PURPOSE_SMIME_SIGN, 0) != 1)
		log_warn("smime: the signing certificate is not meant for "
		    "S/MIME signing (key usage); clients may refuse it");
	ERR_clear_error();
	log_info("smime: signing e-mail");
	return (0);
fail:
	smime_shutdown();
	return (-1);
}

/* Forget the key and certificates. */
void
smime_shutdown(void)
{
	EVP_PKEY_free(smime_key);
	X509_free(smime_cert);
	sk_X509_pop_free(smime_chain, X509_free);
	smime_key = NULL;
	smime_cert = NULL;
	smime_chain = NULL;
}

/* Is signing configured? */
int
smime_enabled(void)
{
	return (smime_key != NULL);
}

/*
 * Append what B holds to OUT, less a first "MIME-Version" line, every
 * line ending in CRLF: OpenSSL ends its base64 lines with a bare LF even
 * with CMS_CRLFEOL, which SMTP does not allow. (The signed content is
 * already CRLF throughout, so it is copied unchanged.)
 */
static void
smime_take(BIO *b, struct render_buf *out, int strip_version)
{
	static const char	 mv[] = "MIME-Version: 1.0\r\n";
	char			*p;
	long			 n, i, start = 0;

	n = BIO_get_mem_data(b, &p);
	if (strip_version && n >= (long)sizeof mv - 1 &&
	    memcmp(p, mv, sizeof mv - 1) == 0) {
		p += sizeof mv - 1;
		n -= sizeof mv - 1;
	}
	for (i = 0; i < n; i++) {
		if (p[i] != '\n' || (i > 0 && p[i - 1] == '\r'))
			continue;
		render_buf_add(out, p + start, (size_t)(i - start));
		render_buf_str(out, "\r\n");
		start = i + 1;
	}
	render_buf_add(out, p + start, (size_t)(n - start));
}

/*
 * Sign the canonical MIME entity IN (LEN bytes): append to OUT the
 * multipart/signed entity holding it and its detached signature
 * (application/pkcs7-signature, SHA-256), without a MIME-Version line.
 * 0, or -1 and *cause.
 */
int
smime_sign(const char *in, size_t len, struct render_buf *out, char **cause)
{
	const int	 flags = CMS_DETACHED | CMS_STREAM | CMS_BINARY;
	CMS_ContentInfo	*cms;
	BIO		*data, *b;
	char		 err[256];
	int		 ok;

	if (smime_key == NULL) {
		xasprintf(cause, "S/MIME signing is not configured");
		return (-1);
	}
	data = BIO_new_mem_buf(in, (int)len);
	cms = CMS_sign(smime_cert, smime_key, smime_chain, data, flags);
	if (cms == NULL) {
		BIO_free(data);
		xasprintf(cause, "S/MIME signing failed: %s",
		    smime_ssl_error(err, sizeof err));
		return (-1);
	}
	b = BIO_new(BIO_s_mem());
	/* Streaming: the digest is taken while the content is written. */
	ok = SMIME_write_CMS(b, cms, data, flags | CMS_CRLFEOL);
	CMS_ContentInfo_free(cms);
	BIO_free(data);
	if (ok != 1) {
		BIO_free(b);
		xasprintf(cause, "S/MIME signing failed: %s",
		    smime_ssl_error(err, sizeof err));
		return (-1);
	}
	smime_take(b, out, 1);
	BIO_free(b);
	return (0);
}

/*
 * A recipient's certificate PEM, checked for encryption now: 0 and *out,
 * or -1 and WHY (a sentence for the delivery's last_error: expired on
 * DATE, not valid before DATE, not for S/MIME encryption, unreadable).
 */
int
smime_rcpt_load(const char *pem, struct smime_rcpt **out, char *why,
    size_t whylen)
{
	BIO	*b;
	X509	*x;
	char	 when[64];

	*out = NULL;
	b = BIO_new_mem_buf(pem, -1);
	x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	ERR_clear_error();
	if (x == NULL) {
		snprintf(why, whylen, "the recipient's S/MIME certificate "
		    "cannot be read; not sent (upload a new one)");
		return (-1);
	}
	if (X509_cmp_time(X509_get0_notAfter(x), NULL) < 0) {
		smime_time(X509_get0_notAfter(x), when, sizeof when);
		snprintf(why, whylen, "the recipient's S/MIME certificate "
		    "expired on %s; not sent (upload a new one)", when);
		goto fail;
	}
	if (X509_cmp_time(X509_get0_notBefore(x), NULL) > 0) {
		smime_time(X509_get0_notBefore(x), when, sizeof when);
		snprintf(why, whylen, "the recipient's S/MIME certificate "
		    "is not valid before %s; not sent", when);
		goto fail;
	}
	if (X509_check_purpose(x, X509_PURPOSE_SMIME_ENCRYPT, 0) != 1) {
		snprintf(why, whylen, "the recipient's S/MIME certificate "
		    "is not meant for encryption (key usage); not sent");
		goto fail;
	}
	ERR_clear_error();
	*out = xcalloc(1, sizeof **out);
	(*out)->cert = x;
	return (0);
fail:
	ERR_clear_error();
	X509_free(x);
	return (-1);
}

void
smime_rcpt_free(struct smime_rcpt *r)
{
	if (r == NULL)
		return;
	X509_free(r->cert);
	free(r);
}

/*
 * Encrypt the canonical MIME entity IN (LEN bytes) to R with AES-256-CBC:
 * append to OUT the application/pkcs7-mime entity (enveloped-data,
 * base64), without a MIME-Version line. 0, or -1 and *cause.
 */
int
smime_encrypt(const struct smime_rcpt *r, const char *in, size_t len,
    struct render_buf *out, char **cause)
{
	STACK_OF(X509)	*certs;
	CMS_ContentInfo	*cms;
	BIO		*data, *b;
	char		 err[256];
	int		 ok;

	certs = sk_X509_new_null();
	sk_X509_push(certs, r->cert);
	data = BIO_new_mem_buf(in, (int)len);
	cms = CMS_encrypt(certs, data, EVP_aes_256_cbc(), CMS_BINARY);
	sk_X509_free(certs);	/* the certificate stays r's */
	BIO_free(data);
	if (cms == NULL) {
		xasprintf(cause, "the recipient's S/MIME certificate cannot "
		    "be used to encrypt (%s); not sent",
		    smime_ssl_error(err, sizeof err));
		return (-1);
	}
	b = BIO_new(BIO_s_mem());
	ok = SMIME_write_CMS(b, cms, NULL, CMS_BINARY | CMS_CRLFEOL);
	CMS_ContentInfo_free(cms);
	if (ok != 1) {
		BIO_free(b);
		xasprintf(cause, "S/MIME encryption failed: %s",
		    smime_ssl_error(err, sizeof err));
		return (-1);
	}
	smime_take(b, out, 1);
	BIO_free(b);
	return (0);
}
