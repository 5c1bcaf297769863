/*
 * webhook.c: what one webhook request carries. The body of each format
 * (json: Standard Webhooks {type, timestamp, data} as on the stream;
 * splunk-hec: the HEC event envelope; ecs: Elastic Common Schema fields)
 * always holds the TLP label, and the headers: webhook-id (the delivery's
 * msg_id, the same on every retry), webhook-timestamp, webhook-signature
 * (sign.c) and, for Splunk, its token. deliver.c sends them.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "tocsind.h"

/* The "data" member with the label in it (a new reference). */
static json_t *
webhook_data(const struct webhook_event *ev)
{
	json_t	*d;

	if (json_is_object(ev->data))
		d = json_deep_copy(ev->data);
	else
		d = json_object();
	json_object_set_new(d, "tlp", json_string(ev->tlp));
	return (d);
}

/* The Standard Webhooks body, as a JSON object. */
static json_t *
webhook_json(const struct webhook_event *ev)
{
	json_t	*v;

	v = json_pack("{s:s, s:s}", "type", ev->type, "timestamp",
	    ev->timestamp);
	if (ev->event_id != 0)
		json_object_set_new(v, "event_id", json_integer(ev->event_id));
	json_object_set_new(v, "tlp", json_string(ev->tlp));
	json_object_set_new(v, "data", webhook_data(ev));
	return (v);
}

/* Splunk HTTP Event Collector: {time, host, source, sourcetype, event}. */
static json_t *
webhook_splunk(const struct webhook_event *ev)
{
	return (json_pack("{s:I, s:s, s:s, s:o}", "time",
	    (json_int_t)ev->time, "source", "tocsin", "sourcetype",
	    "tocsin:advisory", "event", webhook_json(ev)));
}

/* "advisory" of "advisory.published"; "test" of "webhook.test". */
static void
webhook_item_kind(const char *type, char *out, size_t len)
{
	const char	*dot = strchr(type, '.');
	size_t		 n = dot != NULL ? (size_t)(dot - type) : strlen(type);

	if (strcmp(type, "webhook.test") == 0)
		snprintf(out, len, "test");
	else
		snprintf(out, len, "%.*s", (int)n, type);
}

/* ECS event.severity from ours (as Elastic's risk scores map them). */
static int
webhook_ecs_severity(const char *s, char *label, size_t len)
{
	static const struct {
		const char	*name;
		const char	*label;
		int		 score;
	} map[] = {
		{ "low", "Low", 21 },
		{ "medium", "Medium", 47 },
		{ "high", "High", 73 },
		{ "critical", "Critical", 99 },
	};
	size_t	i;

	for (i = 0; s != NULL && i < sizeof map / sizeof map[0]; i++) {
		if (strcmp(s, map[i].name) == 0) {
			snprintf(label, len, "%s", map[i].label);
			return (map[i].score);
		}
	}
	return (-1);
}

/* Elastic Common Schema: the fields a SIEM indexes, ours under tocsin.*. */
static json_t *
webhook_ecs(const struct webhook_event *ev, const char *msg_id)
{
	json_t		*data = ev->data, *v, *event, *vuln, *threat, *t, *x;
	const char	*title, *sev, *summary;
	char		 kind[32], dataset[48], sevlabel[16];
	int		 score;

	webhook_item_kind(ev->type, kind, sizeof kind);
	snprintf(dataset, sizeof dataset, "tocsin.%s", kind);
	title = json_string_value(json_object_get(data, "title"));
	summary = json_string_value(json_object_get(data, "summary"));
	sev = json_string_value(json_object_get(data, "severity"));

	event = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
	    "kind", "enrichment", "id", msg_id, "dataset", dataset,
	    "module", "tocsin", "provider", "tocsin", "action", ev->type);
	if (strcmp(kind, "advisory") == 0)
		json_object_set_new(event, "category",
		    json_pack("[s]", "vulnerability"));
	else if (strcmp(kind, "warning") == 0)
		json_object_set_new(event, "category", json_pack("[s]",
		    "threat"));
	else
		json_object_set_new(event, "category", json_pack("[s]",
		    "configuration"));
	json_object_set_new(event, "type", json_pack("[s]",
	    strcmp(kind, "warning") == 0 ? "indicator" : "info"));
	json_object_set_new(event, "created", json_string(ev->timestamp));
	if ((score = webhook_ecs_severity(sev, sevlabel, sizeof sevlabel)) >= 0)
		json_object_set_new(event, "severity", json_integer(score));

	vuln = json_object();
	x = json_object_get(data, "cves");
	json_object_set_new(vuln, "id", json_is_array(x) ? json_deep_copy(x) :
	    json_array());
	if (score >= 0)
		json_object_set_new(vuln, "severity", json_string(sevlabel));
	if ((x = json_object_get(data, "cvss")) != NULL && json_is_object(x)) {
		t = json_object();
		if (json_is_number(json_object_get(x, "score")))
			json_object_set(t, "base", json_object_get(x, "score"));
		if (json_is_string(json_object_get(x, "version")))
			json_object_set(t, "version",
			    json_object_get(x, "version"));
		json_object_set_new(vuln, "score", t);
		json_object_set_new(vuln, "classification",
		    json_string("CVSS"));
	}
	json_object_set_new(vuln, "enumeration", json_string("CVE"));
	if (summary != NULL)
		json_object_set_new(vuln, "description", json_string(summary));
	x = json_object_get(data, "references");
	if (json_is_array(x) && json_array_size(x) > 0 &&
	    json_is_string(json_array_get(x, 0)))
		json_object_set(vuln, "reference", json_array_get(x, 0));

	threat = json_pack("{s:{s:s, s:s}, s:{s:{s:s, s:s}}}",
	    "feed", "name", "tocsin", "dataset", dataset,
	    "indicator", "marking", "tlp", ev->tlp, "tlp_version", "2.0");

	t = json_pack("{s:s}", "type", ev->type);
	if (ev->event_id != 0)
		json_object_set_new(t, "event_id", json_integer(ev->event_id));
	json_object_set_new(t, "tlp", json_string(ev->tlp));
	json_object_set_new(t, kind, webhook_data(ev));

	v = json_pack("{s:s, s:o, s:o, s:o, s:s, s:o, s:o}",
	    "@timestamp", ev->timestamp, "event", event, "vulnerability", vuln,
	    "threat", threat, "tlp", ev->tlp,
	    "tags", json_pack("[s+]", "TLP:", ev->tlp), "tocsin", t);
	if (title != NULL)
		json_object_set_new(v, "message", json_string(title));
	else
		json_object_set_new(v, "message", json_string(ev->type));
	return (v);
}

/*
 * The request body for FORMAT (json, splunk-hec, ecs) as compact JSON,
 * a new string; NULL for an unknown format. MSG_ID is the delivery's.
 */
char *
webhook_render(const char *format, const struct webhook_event *ev,
    const char *msg_id)
{
	json_t	*v;
	char	*s;

	if (strcmp(format, "json") == 0)
		v = webhook_json(ev);
	else if (strcmp(format, "splunk-hec") == 0)
		v = webhook_splunk(ev);
	else if (strcmp(format, "ecs") == 0)
		v = webhook_ecs(ev, msg_id);
	else
		return (NULL);
	s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(v);
	return (s);
}

/* Append "name: value" to a header list. */
static struct curl_slist *
webhook_add(struct curl_slist *h, const char *name, const char *value)
{
	struct curl_slist	*n;
	char			*line;

	/* "Name:" with nothing after it removes a header curl would add. */
	xasprintf(&line, "%s:%s%s", name, *value != '\0' ? " " : "", value);
	n = curl_slist_append(h, line);
	secretbox_free(line, 0);
	if (n == NULL)
		fatalx("webhook: out of memory");
	return (n);
}

/*
 * The headers of one request of BODY to T: Standard Webhooks' three (signed
 * at Unix time TS, the attempt's), the content type, Splunk's token. NULL
 * if the endpoint's secret is unusable.
 */
struct curl_slist *
webhook_headers(const struct webhook_target *t, const char *msg_id,
    int64_t ts, const char *body, size_t len)
{
	struct curl_slist	*h = NULL;
	char			 tsb[24], *sig, *auth;

	if (t->secret == NULL)
		return (NULL);
	snprintf(tsb, sizeof tsb, "%" PRId64, ts);
	if ((sig = sign_header(t->secret, t->old_secret, msg_id, tsb, body,
	    len)) == NULL)
		return (NULL);
	h = webhook_add(h, "Content-Type", "application/json");
	h = webhook_add(h, "User-Agent", "tocsin/" PACKAGE_VERSION);
	h = webhook_add(h, "webhook-id", msg_id);
	h = webhook_add(h, "webhook-timestamp", tsb);
	h = webhook_add(h, "webhook-signature", sig);
	free(sig);
	/* No "Expect: 100-continue" round trip before the body. */
	h = webhook_add(h, "Expect", "");
	if (strcmp(t->format, "splunk-hec") == 0 && t->splunk_token != NULL) {
		xasprintf(&auth, "Splunk %s", t->splunk_token);
		h = webhook_add(h, "Authorization", auth);
		secretbox_free(auth, 0);
	}
	return (h);
}
