/*
 * fuzz_stream_msg.c: what a WebSocket client sends, through the parser
 * stream.c's receive path uses (stream_parse_client_message: auth, resume,
 * anything else), bounded as stream_receive() bounds a message. When the
 * message is an array, or carries a "scope", that is also fed to
 * stream_event_new() as a stored event's scope and the event is offered
 * to every principal through stream_event_wanted(), the push decision.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"

#define FUZZ_MAX_RX	4096	/* STREAM_MAX_RX in stream.c */

static struct filter	 fuzz_filters[3];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const f[] = {
		"{}",
		"{\"sectors\":[\"energy\"],\"min_severity\":\"high\"}",
		("{\"keywords\":[\"vpn\"],\"cves\":[\"CVE-2024-21762\"],"
		    "\"products\":[\"cpe:2.3:o:fortinet\"]}"),
	};
	json_t	*j;
	char	*cause;
	size_t	 i;

	fuzz_log_init();
	for (i = 0; i < 3; i++) {
		j = json_loads(f[i], 0, NULL);
		if (filter_from_json(j, &fuzz_filters[i], &cause) != 0)
			abort();
		json_decref(j);
	}
	return (0);
}

static void
fuzz_event(json_t *scope, const char *type, const char *tlp)
{
	struct stream_event	*ev;
	char			*text;
	size_t			 i, n;

	if ((text = json_dumps(scope, JSON_ENCODE_ANY | JSON_COMPACT)) == NULL)
		return;
	ev = stream_event_new(42, type, tlp, text,
	    "{\"id\":\"CCB-2026-0001\",\"revision\":1}");
	free(text);
	if (ev == NULL)
		return;
	for (i = 0; i < FUZZ_NPRINCIPALS; i++) {
		for (n = 0; n <= 3; n++)
			(void)stream_event_wanted(ev, &fuzz_principals[i],
			    fuzz_filters, n);
	}
	stream_event_unref(ev);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream_client_msg m;
	const char		*type, *tlp;
	json_t			*scope;
	int			 rc;

	if (size > FUZZ_MAX_RX)
		return (0);	/* closed as too large before parsing */
	rc = stream_parse_client_message((const char *)data, size, &m);
	FUZZ_CHECK((rc == -1) == (m.type == STREAM_MSG_MALFORMED));
	FUZZ_CHECK((m.json == NULL) == (m.type == STREAM_MSG_MALFORMED));
	if (m.type != STREAM_MSG_AUTH)
		FUZZ_CHECK(m.token == NULL);
	FUZZ_CHECK(m.since >= -1);
	if (m.type != STREAM_MSG_RESUME)
		FUZZ_CHECK(m.since == -1);

	if (m.json != NULL) {
		scope = json_is_array(m.json) ? m.json :
		    json_object_get(m.json, "scope");
		type = json_string_value(json_object_get(m.json, "type"));
		tlp = json_string_value(json_object_get(m.json, "tlp"));
		if (scope != NULL)
			fuzz_event(scope, type != NULL ? type :
			    "advisory.published", tlp != NULL ? tlp : "GREEN");
	}
	stream_client_msg_clear(&m);
	return (0);
}
