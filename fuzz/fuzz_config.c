/*
 * fuzz_config.c: tocsind.yaml through config_parse_string(), the parser
 * that start-up, SIGHUP and check-config use: libyaml's document API, the
 * key table, every value check, and the cause list with its lines.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init();
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*cf;
	char		*causes = NULL, *line;

	cf = config_parse_string("fuzz.yaml", (const char *)data, size,
	    &causes);
	if (cf == NULL) {
		/* A refusal always says why, each line naming the file. */
		FUZZ_CHECK(causes != NULL && *causes != '\0');
		for (line = causes; line != NULL;
		    line = (line = strchr(line, '\n')) ? line + 1 : NULL)
			FUZZ_CHECK(strncmp(line, "fuzz.yaml", 9) == 0);
		free(causes);
		return (0);
	}
	/* Accepted: the required key and every default are there. */
	FUZZ_CHECK(causes == NULL);
	FUZZ_CHECK(cf->database != NULL && cf->listen_http != NULL &&
	    cf->listen_ws != NULL && cf->public_url != NULL &&
	    cf->advisory_id_prefix != NULL);
	FUZZ_CHECK(cf->max_body_bytes > 0 && cf->http_threads > 0 &&
	    cf->db_pool_size > 0);
	config_free(cf);
	return (0);
}
