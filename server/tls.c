/*
 * tls.c: the certificate and key of both listeners (tls.cert, tls.key).
 * The files are read into memory at start-up, before privileges are
 * dropped, and again on SIGHUP; a pair that fails to load or whose key
 * does not match its certificate is refused and the running pair kept.
 *
 * Each library picks the pair in force when a handshake starts, so a
 * reload needs no restart of either listener: libmicrohttpd (GnuTLS)
 * through its certificate callback, libwebsockets (OpenSSL) through the
 * vhost SSL_CTX's certificate callback. Connections already established
 * keep the certificate they were shown.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <microhttpd.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tocsind.h"

#define TLS_MAX_FILE	(1024 * 1024)	/* a chain is a few KiB */
#define TLS_MAX_CHAIN	16		/* certificates in tls.cert */
#define TLS_EXPIRY_WARN	(14 * 86400)	/* warn when closer than this */

/* One certificate chain and its key, as both libraries want them. */
struct tls_pair {
	gnutls_pcert_st		 pcerts[TLS_MAX_CHAIN];
	unsigned int		 n_pcerts;
	gnutls_privkey_t	 gkey;
	X509			*leaf;
	STACK_OF(X509)		*chain;		/* after the leaf */
	EVP_PKEY		*key;
	char			 serial[128];	/* hex, for the log */
	struct tls_pair		*next;		/* tls_retired */
};

static pthread_mutex_t	 tls_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_pair	*tls_current;
/*
 * GnuTLS keeps the pointers the callback returns for the rest of the
 * handshake and takes no reference, so a replaced pair is kept until
 * tls_shutdown(): a few KiB per SIGHUP.
 */
static struct tls_pair	*tls_retired;

static struct MHD_OptionItem tls_mhd[3];

static void
tls_pair_free(struct tls_pair *p)
{
	unsigned int	i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n_pcerts; i++)
		gnutls_pcert_deinit(&p->pcerts[i]);
	if (p->gkey != NULL)
		gnutls_privkey_deinit(p->gkey);
	X509_free(p->leaf);
	sk_X509_pop_free(p->chain, X509_free);
	EVP_PKEY_free(p->key);
	free(p);
}

/* Read a whole small file; NULL and *cause on failure. */
static char *
tls_read_file(const char *what, const char *path, size_t *len, char **cause)
{
	struct stat	 sb;
	char		*buf;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s: %s", what, path, strerror(errno));
		return (NULL);
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > TLS_MAX_FILE) {
		xasprintf(cause, "%s: %s: not a regular file of at most %d "
		    "bytes", what, path, TLS_MAX_FILE);
		close(fd);
		return (NULL);
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != (size_t)sb.st_size) {
		xasprintf(cause, "%s: %s: short read", what, path);
		explicit_bzero(buf, got);
		free(buf);
		return (NULL);
	}
	buf[got] = '\0';
	*len = got;
	return (buf);
}

static const char *
tls_ssl_error(void)
{
	static __thread char	buf[256];
	unsigned long		e = ERR_peek_last_error();

	if (e == 0)
		return ("no detail");
	ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	return (buf);
}

/* The OpenSSL half: leaf, chain and key; the key must match the leaf. */
static int
tls_pair_openssl(struct tls_pair *p, const char *cert, size_t cert_len,
    const char *key, size_t key_len, const struct config *cfg, char **cause)
{
	BIO		*b;
	X509		*x;
	ASN1_INTEGER	*sn;
	BIGNUM		*bn;
	char		*hex;

	ERR_clear_error();
	b = BIO_new_mem_buf(cert, (int)cert_len);
	p->leaf = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	if (p->leaf == NULL) {
		BIO_free(b);
		xasprintf(cause, "tls.cert: %s: no PEM certificate (%s)",
		    cfg->tls_cert, tls_ssl_error());
		return (-1);
	}
	p->chain = sk_X509_new_null();
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(p->chain) + 1 >= TLS_MAX_CHAIN) {
			X509_free(x);
			BIO_free(b);
			xasprintf(cause, "tls.cert: %s: more than %d "
			    "certificates", cfg->tls_cert, TLS_MAX_CHAIN);
			return (-1);
		}
		sk_X509_push(p->chain, x);
	}
	ERR_clear_error();	/* the end of the file */
	BIO_free(b);

	b = BIO_new_mem_buf(key, (int)key_len);
	p->key = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, "") : NULL;
	BIO_free(b);
	if (p->key == NULL) {
		xasprintf(cause, "tls.key: %s: no PEM private key, or one "
		    "protected by a passphrase (%s)", cfg->tls_key,
		    tls_ssl_error());
		return (-1);
	}
	if (X509_check_private_key(p->leaf, p->key) != 1) {
		ERR_clear_error();
		xasprintf(cause, "tls.key: %s does not match the certificate "
		    "in %s", cfg->tls_key, cfg->tls_cert);
		return (-1);
	}

	sn = X509_get_serialNumber(p->leaf);
	if ((bn = ASN1_INTEGER_to_BN(sn, NULL)) != NULL &&
	    (hex = BN_bn2hex(bn)) != NULL) {
		snprintf(p->serial, sizeof p->serial, "%s", hex);
		OPENSSL_free(hex);
	}
	BN_free(bn);
	return (0);
}

/* The GnuTLS half, for libmicrohttpd. */
static int
tls_pair_gnutls(struct tls_pair *p, const char *cert, size_t cert_len,
    const char *key, size_t key_len, const struct config *cfg, char **cause)
{
	gnutls_datum_t	 d;
	int		 rc;

	d.data = (unsigned char *)cert;
	d.size = (unsigned int)cert_len;
	p->n_pcerts = TLS_MAX_CHAIN;
	rc = gnutls_pcert_list_import_x509_raw(p->pcerts, &p->n_pcerts, &d,
	    GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0) {
		p->n_pcerts = 0;
		xasprintf(cause, "tls.cert: %s: %s", cfg->tls_cert,
		    gnutls_strerror(rc));
		return (-1);
	}
	if ((rc = gnutls_privkey_init(&p->gkey)) < 0) {
		xasprintf(cause, "tls.key: %s", gnutls_strerror(rc));
		return (-1);
	}
	d.data = (unsigned char *)key;
	d.size = (unsigned int)key_len;
	rc = gnutls_privkey_import_x509_raw(p->gkey, &d, GNUTLS_X509_FMT_PEM,
	    NULL, 0);
	if (rc < 0) {
		xasprintf(cause, "tls.key: %s: %s", cfg->tls_key,
		    gnutls_strerror(rc));
		return (-1);
	}
	return (0);
}

/* Load cfg's pair; NULL and *cause on failure. */
static struct tls_pair *
tls_pair_load(const struct config *cfg, char **cause)
{
	struct tls_pair	*p;
	char		*cert, *key;
	size_t		 cert_len, key_len;
	int		 rc;

	if ((cert = tls_read_file("tls.cert", cfg->tls_cert, &cert_len,
	    cause)) == NULL)
		return (NULL);
	if ((key = tls_read_file("tls.key", cfg->tls_key, &key_len,
	    cause)) == NULL) {
		free(cert);
		return (NULL);
	}
	p = xcalloc(1, sizeof *p);
	rc = tls_pair_openssl(p, cert, cert_len, key, key_len, cfg, cause);
	if (rc == 0)
		rc = tls_pair_gnutls(p, cert, cert_len, key, key_len, cfg,
		    cause);
	explicit_bzero(key, key_len);
	free(key);
	free(cert);
	if (rc != 0) {
		tls_pair_free(p);
		return (NULL);
	}
	return (p);
}

static void
tls_pair_log(const struct tls_pair *p, const char *verb)
{
	const ASN1_TIME	*end = X509_get0_notAfter(p->leaf);
	struct tm	 tm;
	char		 when[32] = "?";
	time_t		 soon;

	if (ASN1_TIME_to_tm(end, &tm) == 1)
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	log_info("tls: %s certificate serial %s, valid until %s", verb,
	    p->serial, when);
	soon = time(NULL) + TLS_EXPIRY_WARN;
	if (X509_cmp_current_time(end) < 0)
		log_warn("tls: the certificate has EXPIRED (%s)", when);
	else if (X509_cmp_time(end, &soon) < 0)
		log_warn("tls: the certificate expires within 14 days (%s)",
		    when);
}

/* libmicrohttpd's certificate callback: the pair in force. */
static int
tls_gnutls_cert_cb(gnutls_session_t session, const gnutls_datum_t *req_ca_dn,
    int nreqs, const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
    gnutls_pcert_st **pcert, unsigned int *pcert_length,
    gnutls_privkey_t *pkey)
{
	int	rc = -1;

	pthread_mutex_lock(&tls_lock);
	if (tls_current != NULL) {
		*pcert = tls_current->pcerts;
		*pcert_length = tls_current->n_pcerts;
		*pkey = tls_current->gkey;
		rc = 0;
	}
	pthread_mutex_unlock(&tls_lock);
	return (rc);
}

/* libwebsockets' handshakes: give this connection the pair in force. */
static int
tls_openssl_cert_cb(SSL *ssl, void *arg)
{
	int	ok = 0;

	pthread_mutex_lock(&tls_lock);
	if (tls_current != NULL &&
	    SSL_use_certificate(ssl, tls_current->leaf) == 1 &&
	    SSL_use_PrivateKey(ssl, tls_current->key) == 1 &&
	    SSL_set1_chain(ssl, tls_current->chain) == 1)
		ok = 1;
	pthread_mutex_unlock(&tls_lock);
	if (!ok)
		ERR_clear_error();
	return (ok);
}

/* Read the pair named by cfg (if any) before privileges are dropped. */
int
tls_init(const struct config *cfg)
{
	struct tls_pair	*p;
	char		*cause = NULL;

	if (cfg->tls_cert == NULL)
		return (0);
	if ((p = tls_pair_load(cfg, &cause)) == NULL) {
		log_error("%s", cause);
		free(cause);
		return (-1);
	}
	tls_pair_log(p, "using");
	pthread_mutex_lock(&tls_lock);
	tls_current = p;
	pthread_mutex_unlock(&tls_lock);
	if (strncmp(cfg->public_url, "https://", 8) != 0)
		log_warn("tls: public_url %s is not https://; links and the "
		    "web's cookies will be wrong", cfg->public_url);
	return (0);
}

/* Are the listeners TLS? */
int
tls_enabled(void)
{
	int	on;

	pthread_mutex_lock(&tls_lock);
	on = tls_current != NULL;
	pthread_mutex_unlock(&tls_lock);
	return (on);
}

/*
 * SIGHUP: load cfg's pair and put it in force for new handshakes. 0, or
 * -1 (logged) keeping the running pair. Turning TLS on or off needs a
 * restart: the listeners were made one way.
 */
int
tls_reload(const struct config *cfg)
{
	struct tls_pair	*p;
	char		*cause = NULL;
	int		 on = tls_enabled();

	if (cfg->tls_cert == NULL || !on) {
		if (cfg->tls_cert != NULL || on)
			log_warn("tls: turning TLS %s needs a restart",
			    on ? "off" : "on");
		return (0);
	}
	if ((p = tls_pair_load(cfg, &cause)) == NULL) {
		log_warn("tls: reload refused, keeping the running "
		    "certificate: %s", cause);
		free(cause);
		return (-1);
	}
	pthread_mutex_lock(&tls_lock);
	tls_current->next = tls_retired;
	tls_retired = tls_current;
	tls_current = p;
	pthread_mutex_unlock(&tls_lock);
	tls_pair_log(p, "reloaded:");
	return (0);
}

/* Free every pair (after both listeners have stopped). */
void
tls_shutdown(void)
{
	struct tls_pair	*p;

	pthread_mutex_lock(&tls_lock);
	tls_pair_free(tls_current);
	tls_current = NULL;
	while ((p = tls_retired) != NULL) {
		tls_retired = p->next;
		tls_pair_free(p);
	}
	pthread_mutex_unlock(&tls_lock);
}

/*
 * libmicrohttpd's TLS options (MHD_OPTION_ARRAY): the certificate
 * callback and TLS 1.2 or later; an empty list when TLS is off.
 */
struct MHD_OptionItem *
tls_mhd_options(void)
{
	size_t	n = 0;

	memset(tls_mhd, 0, sizeof tls_mhd);
	if (tls_enabled()) {
		tls_mhd[n].option = MHD_OPTION_HTTPS_CERT_CALLBACK;
		tls_mhd[n++].ptr_value = (void *)tls_gnutls_cert_cb;
		tls_mhd[n].option = MHD_OPTION_HTTPS_PRIORITIES;
		tls_mhd[n++].ptr_value = (void *)
		    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
	}
	tls_mhd[n].option = MHD_OPTION_END;
	return (tls_mhd);
}

/*
 * The stream vhost's SSL_CTX, once at start-up (libwebsockets'
 * LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS): TLS 1.2 or later,
 * and the pair chosen per handshake. 0 or -1.
 */
int
tls_setup_ssl_ctx(struct ssl_ctx_st *ctx)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		log_error("tls: %s", tls_ssl_error());
		return (-1);
	}
	SSL_CTX_set_cert_cb(ctx, tls_openssl_cert_cb, NULL);
	return (0);
}
