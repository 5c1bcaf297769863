/*
 * test_config.c: config.c against CONTRACT.md's example, the defaults and
 * every kind of error, each with its exact "FILE:LINE: message".
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tocsind.h"
#include "unit.h"

#ifndef TOCSIN_DATADIR
#define TOCSIN_DATADIR "/usr/share/tocsin"
#endif

static char	tmpdir[] = "/tmp/test_config.XXXXXX";
static char	*tls_crt, *tls_key, *smime_crt, *smime_key;

/* Create a small file under tmpdir; returns its path. */
static char *
make_file(const char *name, const char *text)
{
	char	*path;
	FILE	*f;

	xasprintf(&path, "%s/%s", tmpdir, name);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fputs(text, f);
	fclose(f);
	return (path);
}

static struct config *
parse(const char *text, char **causes)
{
	return (config_parse_string("t.yaml", text, strlen(text), causes));
}

/* The causes of a file that must fail, or NULL if it parsed. */
static char *
errors(const char *text)
{
	struct config	*cf;
	char		*causes;

	cf = parse(text, &causes);
	if (cf != NULL) {
		config_free(cf);
		return (NULL);
	}
	return (causes);
}

static void
check_error(const char *text, const char *want, int line)
{
	char	*got;

	got = errors(text);
	if (!unit_check_str(got, want, __FILE__, line, want))
		printf("     input:\n%s\n", text);
	free(got);
}
#define CHECK_ERROR(text, want)	check_error((text), (want), __LINE__)

static void
test_contract_example(void)
{
	struct config	*cf;
	char		*text, *causes;

	xasprintf(&text,
	    "listen:\n"
	    "  http: \"127.0.0.1:8080\"    # REST API and web pages\n"
	    "  ws:   \"127.0.0.1:8081\"    # WebSocket stream\n"
	    "tls:                        # optional; both listeners\n"
	    "  cert: %s\n"
	    "  key:  %s\n"
	    "database: \"postgresql:///tocsin\"  # libpq connection string\n"
	    "public_url: \"https://ews.example.be\"\n"
	    "advisory_id_prefix: \"CCB\"\n"
	    "smtp:\n"
	    "  url: \"smtp://127.0.0.1:25\"\n"
	    "  from: \"CCB Early Warning <ews@example.be>\"\n"
	    "smime:                      # optional: sign every e-mail\n"
	    "  cert: %s\n"
	    "  key:  %s\n"
	    "webhooks:\n"
	    "  timeout_s: 10\n"
	    "  allow_private_networks: false\n"
	    "limits:\n"
	    "  max_body_bytes: 1048576\n"
	    "  ws_send_queue_bytes: 1048576\n"
	    "retention:\n"
	    "  deliveries_days: 90\n"
	    "templates: /usr/share/tocsin/templates\n"
	    "log: { level: info }\n",
	    tls_crt, tls_key, smime_crt, smime_key);
	cf = parse(text, &causes);
	CHECK(cf != NULL);
	CHECK_STR_EQ(causes, NULL);
	free(text);
	free(causes);
	if (cf == NULL)
		return;
	CHECK_STR_EQ(cf->path, "t.yaml");
	CHECK_STR_EQ(cf->listen_http, "127.0.0.1:8080");
	CHECK_STR_EQ(cf->listen_ws, "127.0.0.1:8081");
	CHECK_STR_EQ(cf->tls_cert, tls_crt);
	CHECK_STR_EQ(cf->tls_key, tls_key);
	CHECK_STR_EQ(cf->database, "postgresql:///tocsin");
	CHECK_STR_EQ(cf->public_url, "https://ews.example.be");
	CHECK_STR_EQ(cf->advisory_id_prefix, "CCB");
	CHECK_STR_EQ(cf->smtp_url, "smtp://127.0.0.1:25");
	CHECK_INT_EQ(cf->smtp_starttls, 0);
	CHECK_STR_EQ(cf->smtp_from, "CCB Early Warning <ews@example.be>");
	CHECK_STR_EQ(cf->smtp_username, NULL);
	CHECK_STR_EQ(cf->smtp_password_file, NULL);
	CHECK_STR_EQ(cf->smime_cert, smime_crt);
	CHECK_STR_EQ(cf->smime_key, smime_key);
	CHECK_INT_EQ(cf->webhooks_timeout_s, 10);
	CHECK_INT_EQ(cf->webhooks_allow_private_networks, 0);
	CHECK_INT_EQ(cf->max_body_bytes, 1048576);
	CHECK_INT_EQ(cf->ws_send_queue_bytes, 1048576);
	CHECK_INT_EQ(cf->retention_deliveries_days, 90);
	CHECK_STR_EQ(cf->templates, "/usr/share/tocsin/templates");
	CHECK_INT_EQ(cf->log_level, LOG_LEVEL_INFO);
	config_free(cf);
}

static void
test_defaults(void)
{
	struct config	*cf;
	char		*causes;

	cf = parse("database: dbname=tocsin\n", &causes);
	CHECK(cf != NULL);
	CHECK_STR_EQ(causes, NULL);
	if (cf == NULL) {
		free(causes);
		return;
	}
	CHECK_STR_EQ(cf->listen_http, "127.0.0.1:8080");
	CHECK_STR_EQ(cf->listen_ws, "127.0.0.1:8081");
	CHECK_STR_EQ(cf->tls_cert, NULL);
	CHECK_STR_EQ(cf->tls_key, NULL);
	CHECK_STR_EQ(cf->database, "dbname=tocsin");
	CHECK_STR_EQ(cf->public_url, "http://127.0.0.1:8080");
	CHECK_STR_EQ(cf->advisory_id_prefix, "CCB");
	CHECK_STR_EQ(cf->smtp_url, NULL);
	CHECK_INT_EQ(cf->smtp_starttls, 0);
	CHECK_STR_EQ(cf->smtp_from, NULL);
	CHECK_STR_EQ(cf->smime_cert, NULL);
	CHECK_INT_EQ(cf->webhooks_timeout_s, 10);
	CHECK_INT_EQ(cf->webhooks_allow_private_networks, 0);
	CHECK_INT_EQ(cf->max_body_bytes, 1048576);
	CHECK_INT_EQ(cf->ws_send_queue_bytes, 1048576);
	CHECK_INT_EQ(cf->retention_deliveries_days, 90);
	CHECK_STR_EQ(cf->templates, TOCSIN_DATADIR "/templates");
	CHECK_INT_EQ(cf->log_level, LOG_LEVEL_INFO);
	CHECK_INT_EQ(cf->http_threads, 4);
	CHECK_INT_EQ(cf->db_pool_size, 8);
	CHECK_INT_EQ(cf->stream_ring_events, 4096);
	CHECK_INT_EQ(cf->stream_threads, 0);
	CHECK_INT_EQ(cf->ws_auth_timeout_s, 5);
	CHECK_INT_EQ(cf->ws_ping_interval_s, 30);
	config_free(cf);
}

static void
test_values(void)
{
	struct config	*cf;
	char		*causes;

	cf = parse(
	    "database: x\n"
	    "listen: {http: \"[::1]:80\", ws: \"0.0.0.0:9000\"}\n"
	    "public_url: https://ews.example.be/tocsin//\n"
	    "advisory_id_prefix: CERT2\n"
	    "smtp: {url: \"smtp://relay:587\", starttls: yes, from: a@b}\n"
	    "webhooks: {allow_private_networks: YES}\n"
	    "limits: {max_body_bytes: 2M, ws_send_queue_bytes: 64k}\n"
	    "log:\n"
	    "  level: debug\n"
	    "tls:\n"
	    "http: {threads: 64}\n"
	    "database_pool: 1\n"
	    "stream:\n"
	    "  ring_events: 1000000\n"
	    "  threads: 64\n"
	    "  auth_timeout_s: ~\n"
	    "  ping_interval_s: 3600\n", &causes);
	CHECK(cf != NULL);
	CHECK_STR_EQ(causes, NULL);
	if (cf == NULL) {
		free(causes);
		return;
	}
	CHECK_STR_EQ(cf->listen_http, "[::1]:80");
	CHECK_STR_EQ(cf->listen_ws, "0.0.0.0:9000");
	CHECK_STR_EQ(cf->public_url, "https://ews.example.be/tocsin");
	CHECK_STR_EQ(cf->advisory_id_prefix, "CERT2");
	CHECK_INT_EQ(cf->smtp_starttls, 1);
	CHECK_INT_EQ(cf->webhooks_allow_private_networks, 1);
	CHECK_INT_EQ(cf->max_body_bytes, 2 * 1024 * 1024);
	CHECK_INT_EQ(cf->ws_send_queue_bytes, 64 * 1024);
	CHECK_INT_EQ(cf->log_level, LOG_LEVEL_DEBUG);
	CHECK_STR_EQ(cf->tls_cert, NULL);
	CHECK_INT_EQ(cf->http_threads, 64);
	CHECK_INT_EQ(cf->db_pool_size, 1);
	CHECK_INT_EQ(cf->stream_ring_events, 1000000);
	CHECK_INT_EQ(cf->stream_threads, 64);
	CHECK_INT_EQ(cf->ws_auth_timeout_s, 5);
	CHECK_INT_EQ(cf->ws_ping_interval_s, 3600);
	config_free(cf);
}

static void
test_errors(void)
{
	char	*text;

	/* Unknown keys, with a hint when one is near. */
	CHECK_ERROR("database: x\n"
	    "# comment\n"
	    "lisen:\n"
	    "  http: 127.0.0.1:80\n",
	    "t.yaml:3: unknown key \"lisen\" (did you mean \"listen\"?)");
	CHECK_ERROR("database: x\n"
	    "listen:\n"
	    "  htp: 127.0.0.1:80\n",
	    "t.yaml:3: unknown key \"listen.htp\" "
	    "(did you mean \"listen.http\"?)");
	CHECK_ERROR("database: x\ntimeout_s: 5\n",
	    "t.yaml:2: unknown key \"timeout_s\" "
	    "(did you mean \"webhooks.timeout_s\"?)");
	CHECK_ERROR("database: x\nfrobnicate: 5\n",
	    "t.yaml:2: unknown key \"frobnicate\"");
	CHECK_ERROR("database: x\nlisten.http: 127.0.0.1:80\n",
	    "t.yaml:2: unknown key \"listen.http\" (write it as nested "
	    "mappings, one level per dot)");

	/* Wrong types. */
	CHECK_ERROR("database: x\nlisten: 8080\n",
	    "t.yaml:2: listen: must be a mapping, not a scalar");
	CHECK_ERROR("database:\n  host: db\n",
	    "t.yaml:2: database: must be a string, not a mapping");
	CHECK_ERROR("database: x\nwebhooks:\n  timeout_s: [1, 2]\n",
	    "t.yaml:3: webhooks.timeout_s: must be an integer between 1 and "
	    "300, not a list");
	CHECK_ERROR("database: x\nstream:\n  threads: 65\n",
	    "t.yaml:3: stream.threads: must be between 0 and 64");
	CHECK_ERROR("database: x\nwebhooks:\n  timeout_s: ten\n",
	    "t.yaml:3: webhooks.timeout_s: must be an integer between 1 and "
	    "300, not \"ten\"");
	CHECK_ERROR("database: x\nwebhooks:\n  timeout_s: \"10\"\n",
	    "t.yaml:3: webhooks.timeout_s: must be an integer between 1 and "
	    "300, not a quoted string");
	CHECK_ERROR("database: x\nwebhooks:\n  timeout_s: 0x10\n",
	    "t.yaml:3: webhooks.timeout_s: must be an integer between 1 and "
	    "300, not \"0x10\"");
	CHECK_ERROR("database: x\nsmtp: {starttls: maybe}\n",
	    "t.yaml:2: smtp.starttls: must be true or false, not \"maybe\"");
	CHECK_ERROR("- database: x\n",
	    "t.yaml:1: must be a mapping of keys, not a list");

	/* Out of range. */
	CHECK_ERROR("database: x\n"
	    "listen:\n"
	    "  http: 127.0.0.1:8080\n"
	    "webhooks:\n"
	    "  timeout_s: 10\n"
	    "limits:\n"
	    "  max_body_bytes: 100\n",
	    "t.yaml:7: limits.max_body_bytes: must be between 1024 and "
	    "67108864");
	CHECK_ERROR("database: x\n"
	    "webhooks: {timeout_s: 99999999999999999999}\n",
	    "t.yaml:2: webhooks.timeout_s: must be between 1 and 300");
	CHECK_ERROR("database: x\nretention: {deliveries_days: -1}\n",
	    "t.yaml:2: retention.deliveries_days: must be between 1 and 3650");
	CHECK_ERROR("database: x\nlimits: {max_body_bytes: 1G}\n",
	    "t.yaml:2: limits.max_body_bytes: must be between 1024 and "
	    "67108864");

	/* Enumerations and strings with rules. */
	CHECK_ERROR("database: x\nlog: { level: verbose }\n",
	    "t.yaml:2: log.level: must be one of error, warn, info, debug, "
	    "not \"verbose\"");
	CHECK_ERROR("database: x\nadvisory_id_prefix: ccb\n",
	    "t.yaml:2: advisory_id_prefix: must be 1 to 16 characters from "
	    "A-Z and 0-9");
	CHECK_ERROR("database: x\nadvisory_id_prefix: ABCDEFGHIJKLMNOPQ\n",
	    "t.yaml:2: advisory_id_prefix: must be 1 to 16 characters from "
	    "A-Z and 0-9");
	CHECK_ERROR("database: x\npublic_url: ftp://x\n",
	    "t.yaml:2: public_url: must be a URL starting with http:// or "
	    "https://, not \"ftp://x\"");
	CHECK_ERROR("database: x\npublic_url: https:///\n",
	    "t.yaml:2: public_url: must be a URL starting with http:// or "
	    "https://, not \"https:///\"");
	CHECK_ERROR("database: \"\"\n",
	    "t.yaml:1: database: must not be empty");
	CHECK_ERROR("database: \"a\\0b\"\n",
	    "t.yaml:1: database: must not contain NUL bytes");
	CHECK_ERROR("database: x\nsmtp:\n  url: smtp://r\n"
	    "  from: \"a@b\\r\\nBcc: c@d\"\n",
	    "t.yaml:4: smtp.from: must not contain control characters");

	/* Listen addresses. */
	CHECK_ERROR("database: x\nlisten: {http: localhost}\n",
	    "t.yaml:2: listen.http: must be \"host:port\" or \"[IPv6 "
	    "address]:port\" with a port from 1 to 65535, not \"localhost\"");
	CHECK_ERROR("database: x\nlisten: {http: \"::1:80\"}\n",
	    "t.yaml:2: listen.http: must be \"host:port\" or \"[IPv6 "
	    "address]:port\" with a port from 1 to 65535, not \"::1:80\"");
	CHECK_ERROR("database: x\nlisten:\n  ws: \"[::1]:0\"\n",
	    "t.yaml:3: listen.ws: must be \"host:port\" or \"[IPv6 "
	    "address]:port\" with a port from 1 to 65535, not \"[::1]:0\"");
	CHECK_ERROR("database: x\nlisten:\n  ws: 127.0.0.1:65536\n",
	    "t.yaml:3: listen.ws: must be \"host:port\" or \"[IPv6 "
	    "address]:port\" with a port from 1 to 65535, not "
	    "\"127.0.0.1:65536\"");
	CHECK_ERROR("database: x\nlisten:\n  ws: 127.0.0.1:8080\n",
	    "t.yaml:3: listen.ws: must differ from listen.http");

	/* Keys that go together, and files. */
	xasprintf(&text, "database: x\ntls:\n  cert: %s\n", tls_crt);
	CHECK_ERROR(text, "t.yaml:3: tls.cert: requires tls.key as well");
	free(text);
	CHECK_ERROR("database: x\ntls:\n  cert: /nonexistent/tls.crt\n"
	    "  key: /nonexistent/tls.key\n",
	    "t.yaml:3: tls.cert: \"/nonexistent/tls.crt\": No such file or "
	    "directory\n"
	    "t.yaml:4: tls.key: \"/nonexistent/tls.key\": No such file or "
	    "directory");
	xasprintf(&text, "database: x\nsmime: {cert: %s, key: %s}\n",
	    smime_crt, tmpdir);
	{
		char	*want, *got;

		xasprintf(&want, "t.yaml:2: smime.key: \"%s\": not a "
		    "regular file", tmpdir);
		got = errors(text);
		CHECK_STR_EQ(got, want);
		free(got);
		free(want);
	}
	free(text);
	CHECK_ERROR("database: x\nsmtp:\n  url: smtp://relay\n",
	    "t.yaml:3: smtp.url: requires smtp.from as well");
	CHECK_ERROR("database: x\nsmtp:\n  url: smtps://relay\n"
	    "  from: a@b\n  starttls: true\n",
	    "t.yaml:5: smtp.starttls: only for smtp:// (smtps:// is TLS from "
	    "the start)");

	/* Duplicates, direct and through a repeated section. */
	CHECK_ERROR("database: x\nlisten:\n  http: 127.0.0.1:1\n"
	    "  http: 127.0.0.1:2\n",
	    "t.yaml:4: duplicate key \"listen.http\" (first on line 3)");
	CHECK_ERROR("database: x\nlog: {level: info}\nlog: {level: warn}\n",
	    "t.yaml:3: duplicate key \"log\" (first on line 2)");

	/* YAML syntax errors stop the parse at their line. */
	CHECK_ERROR("database: x\nlisten:\n  http: [127.0.0.1:80\n"
	    "limits: {}\n",
	    "t.yaml:4: syntax error: did not find expected ',' or ']' "
	    "(while parsing a flow sequence on line 3)");
	CHECK_ERROR("database: x\n  listen: 1\n",
	    "t.yaml:2: syntax error: mapping values are not allowed in "
	    "this context");
	CHECK_ERROR("database: x\nlisten:\n\thttp: 1\n",
	    "t.yaml:3: syntax error: found character that cannot start any "
	    "token (while scanning for the next token on line 3)");
	CHECK_ERROR("database: x\nlog: *nope\n",
	    "t.yaml:2: syntax error: found undefined alias");
	CHECK_ERROR("database: x\n---\ndatabase: y\n",
	    "t.yaml:2: only one YAML document is allowed");

	/* Required keys. */
	CHECK_ERROR("", "t.yaml:1: database: required");
	CHECK_ERROR("# only a comment\n", "t.yaml:1: database: required");
	CHECK_ERROR("listen: {}\ndatabase:\n", "t.yaml:2: database: required");
}

static void
test_many_errors(void)
{
	CHECK_ERROR(
	    "listen:\n"
	    "  http: nowhere\n"
	    "lisen: {}\n"
	    "webhooks:\n"
	    "  timeout_s: 0\n"
	    "  timeout_s: 1\n"
	    "log: { level: loud, colour: red }\n"
	    "limits:\n"
	    "  max_body_bytes: {}\n",
	    "t.yaml:1: database: required\n"
	    "t.yaml:2: listen.http: must be \"host:port\" or \"[IPv6 "
	    "address]:port\" with a port from 1 to 65535, not \"nowhere\"\n"
	    "t.yaml:3: unknown key \"lisen\" (did you mean \"listen\"?)\n"
	    "t.yaml:5: webhooks.timeout_s: must be between 1 and 300\n"
	    "t.yaml:6: duplicate key \"webhooks.timeout_s\" (first on line 5)\n"
	    "t.yaml:7: log.level: must be one of error, warn, info, debug, "
	    "not \"loud\"\n"
	    "t.yaml:7: unknown key \"log.colour\"\n"
	    "t.yaml:9: limits.max_body_bytes: must be a size in bytes between "
	    "1024 and 67108864, not a mapping");
}

static void
test_load(void)
{
	struct config	*cf;
	char		*path, *causes, *want;

	path = make_file("tocsind.yaml", "database: x\nlog: {level: warn}\n");
	cf = config_load(path, &causes);
	CHECK(cf != NULL);
	CHECK_STR_EQ(causes, NULL);
	if (cf != NULL) {
		CHECK_STR_EQ(cf->path, path);
		CHECK_INT_EQ(cf->log_level, LOG_LEVEL_WARN);
	}
	config_free(cf);
	free(causes);
	unlink(path);
	free(path);

	path = make_file("bad.yaml", "database: x\nhttp: {threads: 65}\n");
	cf = config_load(path, &causes);
	CHECK(cf == NULL);
	xasprintf(&want, "%s:2: http.threads: must be between 1 and 64",
	    path);
	CHECK_STR_EQ(causes, want);
	free(want);
	free(causes);
	unlink(path);
	free(path);

	cf = config_load("/nonexistent/tocsind.yaml", &causes);
	CHECK(cf == NULL);
	CHECK_STR_EQ(causes, "/nonexistent/tocsind.yaml: cannot open: "
	    "No such file or directory");
	free(causes);
	config_free(NULL);
}

/* webhooks.allow: a list of CIDR blocks, each bad item on its line. */
static void
test_cidr_list(void)
{
	struct config	*cf;
	char		*causes = NULL;

	cf = parse("database: x\nwebhooks:\n  allow: [10.1.0.0/16, "
	    "\"fd00::/8\"]\n", &causes);
	CHECK(cf != NULL);
	if (cf != NULL) {
		CHECK_INT_EQ(cf->n_webhooks_allow, 2);
		CHECK_STR_EQ(cf->webhooks_allow[0], "10.1.0.0/16");
		CHECK_STR_EQ(cf->webhooks_allow[1], "fd00::/8");
		config_free(cf);
	}
	free(causes);
	CHECK_ERROR("database: x\nwebhooks:\n  allow:\n    - 10.0.0.0/8\n"
	    "    - bogus\n    - [1]\n",
	    "t.yaml:5: webhooks.allow: \"bogus\" is not a CIDR block such "
	    "as 192.0.2.0/24\n"
	    "t.yaml:6: webhooks.allow: items must be CIDR blocks, not a list");
	CHECK_ERROR("database: x\nwebhooks:\n  allow: 10.0.0.0/8\n",
	    "t.yaml:3: webhooks.allow: must be a list of CIDR blocks, not a "
	    "scalar");
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		abort();
	tls_crt = make_file("tls.crt", "-----BEGIN CERTIFICATE-----\n");
	tls_key = make_file("tls.key", "-----BEGIN PRIVATE KEY-----\n");
	smime_crt = make_file("smime.crt", "-----BEGIN CERTIFICATE-----\n");
	smime_key = make_file("smime.key", "-----BEGIN PRIVATE KEY-----\n");

	test_contract_example();
	test_defaults();
	test_values();
	test_errors();
	test_many_errors();
	test_load();
	test_cidr_list();

	unlink(tls_crt);
	unlink(tls_key);
	unlink(smime_crt);
	unlink(smime_key);
	rmdir(tmpdir);
	free(tls_crt);
	free(tls_key);
	free(smime_crt);
	free(smime_key);
	return (UNIT_DONE());
}
