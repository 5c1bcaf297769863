/*
 * api_health.c: what monitoring and clients ask before anything else:
 * GET /healthz (is PostgreSQL reachable?) and GET /v1 (version and where
 * the WebSocket stream listens).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

static void	api_health_healthz(struct req *);
static void	api_health_root(struct req *);

const struct route api_health_routes[] = {
	{ "GET", "/healthz", api_health_healthz, HTTP_ROUTE_NO_DB },
	{ "GET", "/v1", api_health_root, HTTP_ROUTE_NO_DB },
	{ NULL, NULL, NULL, 0 }
};

/* 200 when a pooled connection answers; 503 otherwise, with no restart. */
static void
api_health_healthz(struct req *r)
{
	if (r->db != NULL && db_ping(r->db) == 0)
		http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
	else
		http_problem(r, 503, NULL, "PostgreSQL is unreachable");
}

/* The stream's address as clients should use it. */
static char *
api_health_stream_url(const struct config *cfg)
{
	char	*url;

	if (cfg->public_stream_url != NULL)	/* behind a proxy */
		return (xstrdup(cfg->public_stream_url));
	xasprintf(&url, "%s://%s/v1/stream", cfg->tls_cert != NULL ? "wss" :
	    "ws", cfg->listen_ws);
	return (url);
}

static void
api_health_root(struct req *r)
{
	char	*url = api_health_stream_url(http_config());

	http_reply_json(r, 200, json_pack("{s:s, s:s}", "version",
	    PACKAGE_VERSION, "stream_url", url));
	free(url);
}
