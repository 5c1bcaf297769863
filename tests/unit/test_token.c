/*
 * test_token.c: API tokens: shape, randomness, hashing, comparison.
 */

#include <stdlib.h>
#include <string.h>

#include "tocsind.h"
#include "unit.h"

/* Decode one base64url character, or -1. */
static int
test_b64(char c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '-')
		return (62);
	if (c == '_')
		return (63);
	return (-1);
}

static void
test_generate(void)
{
	char	*a, *b, *body;
	size_t	 i, plen, bits;
	int	 bad;

	a = token_generate();
	b = token_generate();
	plen = strlen(TOCSIN_TOKEN_PREFIX);
	CHECK(strncmp(a, "tcs_", 4) == 0);
	CHECK(strcmp(a, b) != 0);

	/* At least TOCSIN_TOKEN_BYTES bytes, in unpadded base64url. */
	body = a + plen;
	bits = strlen(body) * 6;
	CHECK(TOCSIN_TOKEN_BYTES >= 32);
	CHECK(bits >= TOCSIN_TOKEN_BYTES * 8);
	CHECK(bits < TOCSIN_TOKEN_BYTES * 8 + 6);
	CHECK_INT_EQ(strlen(a), 4 + 43);
	bad = 0;
	for (i = 0; body[i] != '\0'; i++) {
		if (test_b64(body[i]) < 0)
			bad = 1;
	}
	CHECK(!bad);
	CHECK(strchr(a, '=') == NULL && strchr(a, '+') == NULL &&
	    strchr(a, '/') == NULL);
	CHECK(token_looks_valid(a));
	CHECK(token_looks_valid(b));
	free(a);
	free(b);

	/* Many tokens: all different, and the alphabet fully used. */
	{
		char	*seen[64];
		int	 used[64] = { 0 }, all = 1, dup = 0, j, k;

		for (j = 0; j < 64; j++) {
			seen[j] = token_generate();
			for (body = seen[j] + plen; *body != '\0'; body++)
				used[test_b64(*body)] = 1;
			for (k = 0; k < j; k++) {
				if (strcmp(seen[j], seen[k]) == 0)
					dup = 1;
			}
		}
		for (j = 0; j < 64; j++)
			all &= used[j];
		CHECK(!dup);
		CHECK(all);
		for (j = 0; j < 64; j++)
			free(seen[j]);
	}
}

static void
test_hash(void)
{
	/* SHA-256("abc"), FIPS 180-2. */
	static const unsigned char abc[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
		0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
		0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad
	};
	unsigned char	 h1[32], h2[32], h3[32], canary[40];
	char		*a, *b;

	token_hash("abc", h1);
	CHECK(memcmp(h1, abc, 32) == 0);

	a = token_generate();
	b = token_generate();
	token_hash(a, h1);
	token_hash(a, h2);
	token_hash(b, h3);
	CHECK(memcmp(h1, h2, 32) == 0);
	CHECK(memcmp(h1, h3, 32) != 0);
	CHECK(token_equal(h1, h2, 32));
	CHECK(!token_equal(h1, h3, 32));
	h2[31] ^= 1;
	CHECK(!token_equal(h1, h2, 32));
	h2[31] ^= 1;
	h2[0] ^= 0x80;
	CHECK(!token_equal(h1, h2, 32));
	CHECK(token_equal(h1, h3, 0));

	/* Exactly 32 bytes are written. */
	memset(canary, 0xa5, sizeof canary);
	token_hash(a, canary);
	CHECK(memcmp(canary, h1, 32) == 0);
	CHECK(canary[32] == 0xa5 && canary[39] == 0xa5);
	free(a);
	free(b);
}

static void
test_looks_valid(void)
{
	char	*t, *u;
	size_t	 len;

	t = token_generate();
	len = strlen(t);
	CHECK(token_looks_valid(t));
	u = xstrdup(t);
	u[len - 1] = '\0';
	CHECK(!token_looks_valid(u));		/* too short */
	free(u);
	xasprintf(&u, "%sA", t);
	CHECK(!token_looks_valid(u));		/* too long */
	free(u);
	u = xstrdup(t);
	u[10] = '+';
	CHECK(!token_looks_valid(u));		/* base64, not base64url */
	u[10] = '=';
	CHECK(!token_looks_valid(u));
	u[10] = ' ';
	CHECK(!token_looks_valid(u));
	u[0] = 'T';
	u[10] = 'A';
	CHECK(!token_looks_valid(u));		/* prefix */
	free(u);
	free(t);

	CHECK(!token_looks_valid(NULL));
	CHECK(!token_looks_valid(""));
	CHECK(!token_looks_valid("tcs_"));
	CHECK(!token_looks_valid("Bearer tcs_abc"));
	CHECK(!token_looks_valid("tcs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAA\xc3\xa9"));
	CHECK(token_looks_valid("tcs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAA"));
	CHECK(token_looks_valid("tcs_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_"
	    "-"));
}

int
main(void)
{
	test_generate();
	test_hash();
	test_looks_valid();
	return (UNIT_DONE());
}
