/*
 * wsframe.c: the header of an unmasked, final WebSocket text frame, as a
 * server sends it (RFC 6455, section 5.2): FIN and opcode 1, then the
 * payload length in 7 bits, or 126 and 16 bits, or 127 and 64 bits, in
 * network order. libwebsockets would write this header into each
 * message's headroom at every lws_write(LWS_WRITE_TEXT); the stream
 * writes it once per event instead, so that the threads sharing an event
 * only read it and several queued messages can leave in one write
 * (stream_write_batch()), which lws has no call for.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "tocsind.h"

/* Write the header for a LEN-byte text payload to OUT; its length. */
size_t
wsframe_text_header(unsigned char *out, uint64_t len)
{
	size_t	n, i;

	out[0] = 0x80 | 0x1;	/* FIN, text */
	if (len < 126) {
		out[1] = (unsigned char)len;
		return (2);
	}
	if (len <= 0xffff) {
		out[1] = 126;
		n = 2;
	} else {
		out[1] = 127;
		n = 8;
	}
	for (i = 0; i < n; i++)
		out[2 + i] = (unsigned char)(len >> (8 * (n - 1 - i)));
	return (2 + n);
}
