/*
 * sign.c: Standard Webhooks signatures (https://www.standardwebhooks.com/).
 * The signed content is "msg_id.timestamp.body". v1 is the base64 of its
 * HMAC-SHA256 keyed with the secret's bytes (the base64 after "whsec_");
 * v1a is the base64 of its Ed25519 signature with the CSIRT's key, whose
 * public half GET /v1/webhooks/signing-key publishes, so a SIEM can verify
 * without a shared secret. Also the base64 helpers (OpenSSL's EVP_Encode/
 * DecodeBlock) the rest of the outbox uses. No hand-written crypto.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "tocsind.h"

#define SIGN_ED25519_BYTES	32
#define SIGN_MAX_SECRET		64	/* Standard Webhooks: 24 to 64 bytes */

static EVP_PKEY	*sign_key;
static char	*sign_pub_b64;
static char	*sign_pub_pem;

/* The base64 of LEN bytes, padded (a new string). */
char *
sign_base64_encode(const void *in, size_t len)
{
	char	*out;
	int	 n;

	out = xmalloc(4 * ((len + 2) / 3) + 1);
	n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	if (n < 0)
		fatalx("sign: EVP_EncodeBlock failed");
	out[n] = '\0';
	return (out);
}

/*
 * Decode padded base64 into a new buffer; 0 or -1 if not base64.
 * EVP_DecodeBlock counts the padding as zero bytes: take them off.
 */
int
sign_base64_decode(const char *in, unsigned char **out, size_t *outlen)
{
	size_t		 len = strlen(in), pad = 0;
	unsigned char	*buf;
	int		 n;

	*out = NULL;
	*outlen = 0;
	if (len == 0 || len % 4 != 0 || len > 1 << 20)
		return (-1);
	if (in[len - 1] == '=')
		pad++;
	if (in[len - 2] == '=')
		pad++;
	buf = xmalloc(len / 4 * 3 + 1);
	n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad) {
		free(buf);
		return (-1);
	}
	*out = buf;
	*outlen = (size_t)n - pad;
	return (0);
}

/* Write a new Ed25519 key to PATH (mode 0600); 0, 1 if it exists, -1. */
static int
sign_create_key(const char *path, char **cause)
{
	EVP_PKEY	*key;
	FILE		*f;
	int		 fd, ok;

	if ((ok = secretbox_key_file_new(path, &fd, cause)) != 0)
		return (ok);
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL)
		fatalx("sign: Ed25519 key generation failed");
	if ((f = fdopen(fd, "w")) == NULL)
		fatalx("sign: fdopen: %s", strerror(errno));
	ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
	EVP_PKEY_free(key);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	fclose(f);
	if (!ok) {
		unlink(path);
		xasprintf(cause, "%s: cannot write the key", path);
		return (-1);
	}
	log_info("sign: created a new Ed25519 webhook signing key in %s",
	    path);
	return (0);
}

/* Load (or create) the Ed25519 signing key at PATH (NULL: default). */
int
sign_init(const char *path, char **cause)
{
	unsigned char	 raw[SIGN_ED25519_BYTES];
	size_t		 rawlen = sizeof raw;
	struct stat	 st;
	BIO		*bio;
	BUF_MEM		*mem;
	FILE		*f;

	if (path == NULL)
		path = TOCSIN_SIGNING_KEY_DEFAULT;
	if (sign_create_key(path, cause) < 0)
		return (-1);
	if ((f = fopen(path, "r")) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0)
		log_warn("sign: %s is readable by group or others; chmod 600 "
		    "it", path);
	sign_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (sign_key == NULL || EVP_PKEY_get_id(sign_key) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(sign_key);
		sign_key = NULL;
		xasprintf(cause, "%s: not an Ed25519 private key in PEM", path);
		return (-1);
	}
	if (EVP_PKEY_get_raw_public_key(sign_key, raw, &rawlen) != 1 ||
	    rawlen != sizeof raw)
		fatalx("sign: cannot read the public key");
	sign_pub_b64 = sign_base64_encode(raw, rawlen);
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PUBKEY(bio, sign_key) != 1)
		fatalx("sign: cannot write the public key");
	BIO_get_mem_ptr(bio, &mem);
	sign_pub_pem = xstrndup(mem->data, mem->length);
	BIO_free(bio);
	return (0);
}

/* Forget the key (shutdown). */
void
sign_shutdown(void)
{
	EVP_PKEY_free(sign_key);
	sign_key = NULL;
	free(sign_pub_b64);
	free(sign_pub_pem);
	sign_pub_b64 = sign_pub_pem = NULL;
}

/* The raw Ed25519 public key in base64, or NULL before sign_init. */
const char *
sign_public_key_b64(void)
{
	return (sign_pub_b64);
}

/* The public key as a PEM SubjectPublicKeyInfo, or NULL. */
const char *
sign_public_key_pem(void)
{
	return (sign_pub_pem);
}

/* "id.timestamp.body" in a new buffer of *len bytes. */
static unsigned char *
sign_content(const char *id, const char *ts, const char *body,
    size_t bodylen, size_t *len)
{
	size_t		 il = strlen(id), tl = strlen(ts);
	unsigned char	*c;

	*len = il + 1 + tl + 1 + bodylen;
	c = xmalloc(*len);
	memcpy(c, id, il);
	c[il] = '.';
	memcpy(c + il + 1, ts, tl);
	c[il + 1 + tl] = '.';
	memcpy(c + il + tl + 2, body, bodylen);
	return (c);
}

/* The secret's key bytes (the base64 after "whsec_"); 0 or -1. */
int
sign_secret_bytes(const char *secret, unsigned char **key, size_t *len)
{
	size_t	plen = strlen(TOCSIN_WEBHOOK_SECRET_PREFIX);

	if (strncmp(secret, TOCSIN_WEBHOOK_SECRET_PREFIX, plen) != 0 ||
	    sign_base64_decode(secret + plen, key, len) != 0)
		return (-1);
	if (*len < 16 || *len > SIGN_MAX_SECRET) {
		OPENSSL_cleanse(*key, *len);
		free(*key);
		*key = NULL;
		return (-1);
	}
	return (0);
}

/* "v1,<base64 HMAC-SHA256>" of the content with SECRET; NULL if bad. */
char *
sign_v1(const char *secret, const char *id, const char *ts, const char *body,
    size_t bodylen)
{
	unsigned char	*key, *content, mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0;
	size_t		 keylen, len;
	char		*b64, *out;

	if (sign_secret_bytes(secret, &key, &keylen) != 0)
		return (NULL);
	content = sign_content(id, ts, body, bodylen, &len);
	if (HMAC(EVP_sha256(), key, (int)keylen, content, len, mac,
	    &maclen) == NULL)
		fatalx("sign: HMAC failed");
	OPENSSL_cleanse(key, keylen);
	free(key);
	free(content);
	b64 = sign_base64_encode(mac, maclen);
	xasprintf(&out, "v1,%s", b64);
	free(b64);
	return (out);
}

/* "v1a,<base64 Ed25519 signature>" of the content; NULL before init. */
char *
sign_v1a(const char *id, const char *ts, const char *body, size_t bodylen)
{
	EVP_MD_CTX	*ctx;
	unsigned char	*content, sig[64];
	size_t		 len, siglen = sizeof sig;
	char		*b64, *out;
	int		 ok;

	if (sign_key == NULL)
		return (NULL);
	content = sign_content(id, ts, body, bodylen, &len);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("sign: out of memory");
	/* EVP_PKEY is safe to share between threads for signing. */
	ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, sign_key) == 1 &&
	    EVP_DigestSign(ctx, sig, &siglen, content, len) == 1;
	EVP_MD_CTX_free(ctx);
	free(content);
	if (!ok)
		return (NULL);
	b64 = sign_base64_encode(sig, siglen);
	xasprintf(&out, "v1a,%s", b64);
	free(b64);
	return (out);
}

/*
 * The webhook-signature header value: "v1,<new> v1a,<ed25519>" and, during
 * a rotation's grace period (OLD_SECRET not NULL), " v1,<old>". NULL if
 * SECRET is malformed.
 */
char *
sign_header(const char *secret, const char *old_secret, const char *id,
    const char *ts, const char *body, size_t bodylen)
{
	char	*v1, *v1a, *old = NULL, *out;

	if ((v1 = sign_v1(secret, id, ts, body, bodylen)) == NULL)
		return (NULL);
	v1a = sign_v1a(id, ts, body, bodylen);
	if (old_secret != NULL)
		old = sign_v1(old_secret, id, ts, body, bodylen);
	xasprintf(&out, "%s%s%s%s%s", v1, v1a != NULL ? " " : "",
	    v1a != NULL ? v1a : "", old != NULL ? " " : "",
	    old != NULL ? old : "");
	free(v1);
	free(v1a);
	free(old);
	return (out);
}
