/*
 * test_wsframe.c: the text frame header the stream writes when it sends
 * several messages at once, against RFC 6455, section 5.2, byte by byte.
 */
#include "config.h"

#include <stdint.h>

#include "tocsind.h"
#include "unit.h"

/* The header for LEN, compared with the WANT_LEN bytes of WANT. */
static int
header_is(uint64_t len, const unsigned char *want, size_t want_len)
{
	unsigned char	out[WSFRAME_HEADER_MAX + 4];
	size_t		n;

	memset(out, 0xee, sizeof out);
	n = wsframe_text_header(out, len);
	/* Nothing written past the header. */
	return (n == want_len && memcmp(out, want, n) == 0 &&
	    out[n] == 0xee);
}

int
main(void)
{
	/* 7-bit lengths: FIN|text, then the length. */
	CHECK(header_is(0, (const unsigned char *)"\x81\x00", 2));
	CHECK(header_is(5, (const unsigned char *)"\x81\x05", 2));
	CHECK(header_is(125, (const unsigned char *)"\x81\x7d", 2));
	/* 126 up to 65535: 126, then 16 bits in network order. */
	CHECK(header_is(126, (const unsigned char *)"\x81\x7e\x00\x7e", 4));
	CHECK(header_is(580, (const unsigned char *)"\x81\x7e\x02\x44", 4));
	CHECK(header_is(65535, (const unsigned char *)"\x81\x7e\xff\xff", 4));
	/* 65536 and up: 127, then 64 bits in network order. */
	CHECK(header_is(65536, (const unsigned char *)
	    "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
	CHECK(header_is(UINT64_C(0x0102030405060708), (const unsigned char *)
	    "\x81\x7f\x01\x02\x03\x04\x05\x06\x07\x08", 10));
	CHECK(WSFRAME_HEADER_MAX == 10);
	return (UNIT_DONE());
}
