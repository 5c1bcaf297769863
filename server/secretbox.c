/*
 * secretbox.c: secrets at rest. The server key (32 random bytes in
 * key_file, made with mode 0600 on first start) seals webhook secrets and
 * Splunk tokens with AES-256-GCM before they reach PostgreSQL; only this
 * file and the delivery worker ever hold them in clear, and never log them.
 *
 * A sealed value is: version byte 1, a 12-byte random nonce, the
 * ciphertext, the 16-byte tag. The purpose ("webhook-secret", ...) is the
 * associated data, so a value sealed for one column does not open as
 * another. Every instance on one database must share the same key file.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "tocsind.h"

#define SECRETBOX_KEY_BYTES	32
#define SECRETBOX_NONCE_BYTES	12
#define SECRETBOX_TAG_BYTES	16
#define SECRETBOX_VERSION	1
#define SECRETBOX_OVERHEAD	(1 + SECRETBOX_NONCE_BYTES + SECRETBOX_TAG_BYTES)
#define SECRETBOX_MAX_PLAIN	4096	/* secrets and tokens are short */

static unsigned char	secretbox_key[SECRETBOX_KEY_BYTES];
static int		secretbox_ready;

/* Read exactly the key from FD; 0 or -1 and *cause. */
static int
secretbox_read_key(int fd, const char *path, char **cause)
{
	unsigned char	buf[SECRETBOX_KEY_BYTES + 1];
	ssize_t		n;
	size_t		got = 0;

	while (got < sizeof buf) {
		n = read(fd, buf + got, sizeof buf - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			return (-1);
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != SECRETBOX_KEY_BYTES) {
		OPENSSL_cleanse(buf, sizeof buf);
		xasprintf(cause, "%s: must hold exactly %d bytes (it holds %s)",
		    path, SECRETBOX_KEY_BYTES, got > SECRETBOX_KEY_BYTES ?
		    "more" : "fewer");
		return (-1);
	}
	memcpy(secretbox_key, buf, SECRETBOX_KEY_BYTES);
	OPENSSL_cleanse(buf, sizeof buf);
	return (0);
}

/*
 * Make the directory holding PATH (mode 0700) if it is missing, as the
 * default /var/lib/tocsin may be on a fresh machine; its parent must exist.
 */
static void
secretbox_mkdir_parent(const char *path)
{
	char	*dir, *slash;

	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) == 0)
			log_info("created directory %s", dir);
	}
	free(dir);
}

/*
 * Create the key file PATH, mode 0600, its directory too if missing, for
 * writing: 0 and *FD, 1 if it exists already (left alone), -1 and *CAUSE.
 */
int
secretbox_key_file_new(const char *path, int *fd, char **cause)
{
	secretbox_mkdir_parent(path);
	*fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (*fd < 0 && errno == EEXIST)
		return (1);
	if (*fd < 0) {
		xasprintf(cause, "%s: cannot create: %s", path,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/* Create PATH with a new random key (mode 0600); 0, 1 if it exists, -1. */
static int
secretbox_create_key(const char *path, char **cause)
{
	unsigned char	key[SECRETBOX_KEY_BYTES];
	int		fd, rc;
	ssize_t		n;

	if ((rc = secretbox_key_file_new(path, &fd, cause)) != 0)
		return (rc);
	if (RAND_bytes(key, sizeof key) != 1)
		fatalx("secretbox: RAND_bytes failed");
	n = write(fd, key, sizeof key);
	OPENSSL_cleanse(key, sizeof key);
	if (n != (ssize_t)sizeof key || fsync(fd) != 0) {
		xasprintf(cause, "%s: cannot write: %s", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		return (-1);
	}
	close(fd);
	log_info("secretbox: created a new server key in %s (copy it to "
	    "every instance sharing the database)", path);
	return (0);
}

/* Load (or create) the server key at PATH (NULL: the default); 0 or -1. */
int
secretbox_init(const char *path, char **cause)
{
	struct stat	st;
	int		fd, rc;

	if (path == NULL)
		path = TOCSIN_KEY_FILE_DEFAULT;
	if ((rc = secretbox_create_key(path, cause)) < 0)
		return (-1);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
		log_warn("secretbox: %s is readable by group or others; "
		    "chmod 600 it", path);
	rc = secretbox_read_key(fd, path, cause);
	close(fd);
	if (rc == 0)
		secretbox_ready = 1;
	return (rc);
}

/* Forget the key (shutdown). */
void
secretbox_shutdown(void)
{
	OPENSSL_cleanse(secretbox_key, sizeof secretbox_key);
	secretbox_ready = 0;
}

/* Use KEY instead of a file (unit tests). */
void
secretbox_set_key(const unsigned char key[32])
{
	memcpy(secretbox_key, key, SECRETBOX_KEY_BYTES);
	secretbox_ready = 1;
}

/*
 * A 32-byte key for PURPOSE derived from the server key (HMAC-SHA256 of
 * the purpose keyed with it), so that one file serves several uses (the
 * one-click unsubscribe tokens of e-mail) without one key doing two jobs.
 * 0, or -1 without a key.
 */
int
secretbox_derive(const char *purpose, unsigned char out[32])
{
	unsigned int	len = 32;

	if (!secretbox_ready)
		return (-1);
	if (HMAC(EVP_sha256(), secretbox_key, SECRETBOX_KEY_BYTES,
	    (const unsigned char *)purpose, strlen(purpose), out, &len) == NULL
	    || len != 32)
		return (-1);
	return (0);
}

/*
 * Seal LEN bytes of PLAIN for PURPOSE into a new buffer (*out, *outlen).
 * 0 or -1 (no key, or input too long).
 */
int
secretbox_seal(const char *purpose, const void *plain, size_t len,
    unsigned char **out, size_t *outlen)
{
	EVP_CIPHER_CTX	*ctx;
	unsigned char	*buf, *nonce, *ct;
	int		 n, ok = 0;

	*out = NULL;
	*outlen = 0;
	if (!secretbox_ready || len > SECRETBOX_MAX_PLAIN)
		return (-1);
	buf = xmalloc(SECRETBOX_OVERHEAD + len);
	buf[0] = SECRETBOX_VERSION;
	nonce = buf + 1;
	ct = nonce + SECRETBOX_NONCE_BYTES;
	if (RAND_bytes(nonce, SECRETBOX_NONCE_BYTES) != 1)
		fatalx("secretbox: RAND_bytes failed");
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		fatalx("secretbox: out of memory");
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
	    SECRETBOX_NONCE_BYTES, NULL) == 1 &&
	    EVP_EncryptInit_ex(ctx, NULL, NULL, secretbox_key, nonce) == 1 &&
	    EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)purpose,
	    (int)strlen(purpose)) == 1 &&
	    EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) == 1 &&
	    (size_t)n == len &&
	    EVP_EncryptFinal_ex(ctx, ct + n, &n) == 1 && n == 0 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SECRETBOX_TAG_BYTES,
	    ct + len) == 1)
		ok = 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		free(buf);
		return (-1);
	}
	*out = buf;
	*outlen = SECRETBOX_OVERHEAD + len;
	return (0);
}

/*
 * Open a sealed value for PURPOSE: a new NUL-terminated buffer of the
 * plain bytes (free with secretbox_free), or NULL if it does not
 * authenticate (wrong key, wrong purpose, tampered).
 */
char *
secretbox_open(const char *purpose, const unsigned char *in, size_t len,
    size_t *plainlen)
{
	EVP_CIPHER_CTX		*ctx;
	const unsigned char	*nonce, *ct, *tag;
	unsigned char		 tagbuf[SECRETBOX_TAG_BYTES];
	char			*out;
	size_t			 ctlen;
	int			 n, ok = 0;

	if (!secretbox_ready || len < SECRETBOX_OVERHEAD ||
	    in[0] != SECRETBOX_VERSION ||
	    len - SECRETBOX_OVERHEAD > SECRETBOX_MAX_PLAIN)
		return (NULL);
	nonce = in + 1;
	ct = nonce + SECRETBOX_NONCE_BYTES;
	ctlen = len - SECRETBOX_OVERHEAD;
	tag = ct + ctlen;
	memcpy(tagbuf, tag, sizeof tagbuf);
	out = xmalloc(ctlen + 1);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		fatalx("secretbox: out of memory");
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
	    SECRETBOX_NONCE_BYTES, NULL) == 1 &&
	    EVP_DecryptInit_ex(ctx, NULL, NULL, secretbox_key, nonce) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)purpose,
	    (int)strlen(purpose)) == 1 &&
	    EVP_DecryptUpdate(ctx, (unsigned char *)out, &n, ct,
	    (int)ctlen) == 1 && (size_t)n == ctlen &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SECRETBOX_TAG_BYTES,
	    tagbuf) == 1 &&
	    EVP_DecryptFinal_ex(ctx, (unsigned char *)out + n, &n) == 1)
		ok = 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		secretbox_free(out, ctlen + 1);
		return (NULL);
	}
	out[ctlen] = '\0';
	if (plainlen != NULL)
		*plainlen = ctlen;
	return (out);
}

/* Seal a string for a bytea parameter: "\x<hex>", or NULL. */
char *
secretbox_seal_pg(const char *purpose, const char *plain)
{
	unsigned char	*sealed;
	size_t		 len, i;
	char		*hex;

	if (secretbox_seal(purpose, plain, strlen(plain), &sealed, &len) != 0)
		return (NULL);
	hex = xmalloc(2 + 2 * len + 1);
	hex[0] = '\\';
	hex[1] = 'x';
	for (i = 0; i < len; i++)
		snprintf(hex + 2 + 2 * i, 3, "%02x", sealed[i]);
	free(sealed);
	return (hex);
}

/* Open a bytea column value as libpq gives it (text form); NULL if bad. */
char *
secretbox_open_pg(const char *purpose, const char *value)
{
	unsigned char	*raw;
	size_t		 len;
	char		*plain;

	if (value == NULL || *value == '\0')
		return (NULL);
	raw = PQunescapeBytea((const unsigned char *)value, &len);
	if (raw == NULL)
		return (NULL);
	plain = secretbox_open(purpose, raw, len, NULL);
	PQfreemem(raw);
	return (plain);
}

/* Wipe and free a secret of LEN bytes (0: a NUL-terminated string). */
void
secretbox_free(char *s, size_t len)
{
	if (s == NULL)
		return;
	if (len == 0)
		len = strlen(s);
	OPENSSL_cleanse(s, len);
	free(s);
}

/* A new webhook secret: "whsec_" and the base64 of 32 random bytes. */
char *
secretbox_webhook_secret(void)
{
	unsigned char	 raw[TOCSIN_WEBHOOK_SECRET_BYTES];
	char		*b64, *out;

	if (RAND_bytes(raw, sizeof raw) != 1)
		fatalx("secretbox: RAND_bytes failed");
	b64 = sign_base64_encode(raw, sizeof raw);
	OPENSSL_cleanse(raw, sizeof raw);
	xasprintf(&out, "%s%s", TOCSIN_WEBHOOK_SECRET_PREFIX, b64);
	secretbox_free(b64, 0);
	return (out);
}
