/*
 * token.c: API tokens. A token is "tcs_" and the unpadded base64url of
 * TOCSIN_TOKEN_BYTES random bytes from OpenSSL; it is shown once and only
 * its SHA-256 is stored (auth.c looks tokens up by that hash).
 */

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tocsind.h"

/* Characters of the base64url body: 4 per 3 bytes, without padding. */
#define TOCSIN_TOKEN_BODY_LEN	((TOCSIN_TOKEN_BYTES * 4 + 2) / 3)

/* A new random token; the caller frees it. */
char *
token_generate(void)
{
	unsigned char	 raw[TOCSIN_TOKEN_BYTES];
	unsigned char	 b64[((TOCSIN_TOKEN_BYTES + 2) / 3) * 4 + 1];
	char		*out;
	size_t		 i, plen, len;
	int		 n;

	if (RAND_bytes(raw, sizeof raw) != 1)
		fatalx("token_generate: RAND_bytes failed");
	n = EVP_EncodeBlock(b64, raw, sizeof raw);
	OPENSSL_cleanse(raw, sizeof raw);
	if (n <= 0)
		fatalx("token_generate: EVP_EncodeBlock failed");
	len = (size_t)n;
	while (len > 0 && b64[len - 1] == '=')
		len--;
	plen = strlen(TOCSIN_TOKEN_PREFIX);
	out = xmalloc(plen + len + 1);
	memcpy(out, TOCSIN_TOKEN_PREFIX, plen);
	for (i = 0; i < len; i++) {
		if (b64[i] == '+')
			out[plen + i] = '-';
		else if (b64[i] == '/')
			out[plen + i] = '_';
		else
			out[plen + i] = (char)b64[i];
	}
	out[plen + len] = '\0';
	OPENSSL_cleanse(b64, sizeof b64);
	return (out);
}

/* The SHA-256 of a token, as stored in tokens.hash. */
void
token_hash(const char *token, unsigned char out[32])
{
	unsigned int	len = 0;

	if (EVP_Digest(token, strlen(token), out, &len, EVP_sha256(),
	    NULL) != 1 || len != 32)
		fatalx("token_hash: EVP_Digest failed");
}

/* Are two hashes or secrets of n bytes equal? In constant time. */
int
token_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
	return (CRYPTO_memcmp(a, b, n) == 0);
}

/* Does the string have a token's shape (before any database look-up)? */
int
token_looks_valid(const char *s)
{
	size_t	plen, i;

	if (s == NULL)
		return (0);
	plen = strlen(TOCSIN_TOKEN_PREFIX);
	if (strncmp(s, TOCSIN_TOKEN_PREFIX, plen) != 0)
		return (0);
	s += plen;
	for (i = 0; s[i] != '\0'; i++) {
		if (i == TOCSIN_TOKEN_BODY_LEN)
			return (0);
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return (0);
	}
	return (i == TOCSIN_TOKEN_BODY_LEN);
}
