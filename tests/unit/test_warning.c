/*
 * test_warning.c: the spear warning's pure parts: timestamps, UTF-8 and
 * JSON text, the head's rules (labels), observations from JSON, rows of a
 * Shadowserver report, and the batch (per organisation, split in parts).
 */

#include <stdlib.h>
#include <string.h>

#include "tocsind.h"
#include "unit.h"

static const char *
ts(const char *in)
{
	static char	out[64];

	if (warning_timestamp_normalise(in, out, sizeof out) != 0)
		return ("!");
	return (out);
}

static void
test_timestamps(void)
{
	CHECK_STR_EQ(ts("2026-01-15 03:12:44"), "2026-01-15T03:12:44Z");
	CHECK_STR_EQ(ts("2026-01-15T03:12:44Z"), "2026-01-15T03:12:44Z");
	CHECK_STR_EQ(ts("2026-01-15t03:12:44z"), "2026-01-15T03:12:44Z");
	CHECK_STR_EQ(ts("2026-01-15T03:12:44.250+01:00"),
	    "2026-01-15T03:12:44.250+01:00");
	CHECK_STR_EQ(ts("2026-01-15"), "!");
	CHECK_STR_EQ(ts("2026-13-15 03:12:44"), "!");
	CHECK_STR_EQ(ts("2026-01-15 24:00:00"), "!");
	CHECK_STR_EQ(ts("2026-01-15 03:12:44 UTC"), "!");
	CHECK_STR_EQ(ts("2026-01-15T03:12:44+1:00"), "!");
	CHECK_STR_EQ(ts("yesterday"), "!");
	CHECK_STR_EQ(ts(""), "!");
}

static void
test_text(void)
{
	struct wbuf	b;

	CHECK(warning_utf8_ok("Li\xc3\xa8ge"));
	CHECK(!warning_utf8_ok("Li\xe8ge"));
	CHECK(!warning_utf8_ok("\xc0\xaf"));		/* overlong */
	CHECK(!warning_utf8_ok("\xed\xa0\x80"));	/* surrogate */
	CHECK(!warning_utf8_ok("\xf4\x90\x80\x80"));	/* > U+10FFFF */
	CHECK(warning_utf8_ok("\xf0\x9f\x94\x94"));
	memset(&b, 0, sizeof b);
	wbuf_json_string(&b, "a\"b\\c\n\x01\x7f\xc3\xa8");
	CHECK_STR_EQ(b.p, "\"a\\\"b\\\\c\\n\\u0001\\u007f\xc3\xa8\"");
	wbuf_free(&b);
}

static void
test_head(void)
{
	struct warning_head	h;
	struct field_error	err;

	memset(&h, 0, sizeof h);
	h.title = "Open RDP";
	CHECK(warning_head_check(&h, NULL, NULL, &err) == 0);
	CHECK_INT_EQ(h.tlp, TLP_AMBER_STRICT);
	CHECK_INT_EQ(h.severity, SEV_HIGH);
	CHECK_STR_EQ(h.description, "");
	CHECK(warning_head_check(&h, "AMBER", "low", &err) == 0);
	CHECK_INT_EQ(h.tlp, TLP_AMBER);
	CHECK_INT_EQ(h.severity, SEV_LOW);
	CHECK(warning_head_check(&h, "RED", NULL, &err) == -1);
	CHECK_STR_EQ(err.field, "tlp");
	CHECK(warning_head_check(&h, "CLEAR", NULL, &err) == -1);
	CHECK(warning_head_check(&h, "GREEN", NULL, &err) == -1);
	h.title = "two\nlines";
	CHECK(warning_head_check(&h, NULL, NULL, &err) == -1);
	CHECK_STR_EQ(err.field, "title");
	h.title = "ok";
	h.category = "tab\there";
	CHECK(warning_head_check(&h, NULL, NULL, &err) == -1);
	CHECK_STR_EQ(err.field, "category");
}

static struct assetmatch *
matcher(void)
{
	struct assetmatch	*m = assetmatch_new();
	const char		*why;

	assetmatch_add(m, ASSET_CIDR, ASSET_APPROVED, "198.51.100.0/24", 1,
	    &why);
	assetmatch_add(m, ASSET_CIDR, ASSET_APPROVED, "198.51.100.128/25", 2,
	    &why);
	assetmatch_add(m, ASSET_DOMAIN, ASSET_APPROVED, "example.be", 3, &why);
	assetmatch_add(m, ASSET_ASN, ASSET_APPROVED, "64500", 4, &why);
	assetmatch_build(m);
	return (m);
}

/* One observation from JSON text: its owner and normal form, or field. */
static const char *
obs(const struct assetmatch *m, const char *text, int64_t *org)
{
	static char		 out[1024];
	struct warning_key	 k;
	struct field_error	 err;
	struct wbuf		 b;
	json_t			*j = json_loads(text, JSON_ALLOW_NUL, NULL);

	memset(&b, 0, sizeof b);
	*org = -1;
	if (warning_obs_from_json(j, 0, &k, &b, &err) != 0)
		snprintf(out, sizeof out, "!%s", err.field);
	else {
		snprintf(out, sizeof out, "%s", b.p);
		*org = warning_attribute(m, &k);
	}
	wbuf_free(&b);
	json_decref(j);
	return (out);
}

static void
test_observations(void)
{
	struct assetmatch	*m = matcher();
	int64_t			 org;

	CHECK_STR_EQ(obs(m, "{\"ip\":\"198.51.100.200\",\"port\":443,"
	    "\"timestamp\":\"2026-01-15 03:12:44\",\"details\":{\"a\":[1]}}",
	    &org), "{\"ip\":\"198.51.100.200\",\"port\":443,\"timestamp\":"
	    "\"2026-01-15T03:12:44Z\",\"details\":{\"a\":[1]}}");
	CHECK_INT_EQ(org, 2);
	CHECK_STR_EQ(obs(m, "{\"ip\":\"2001:DB8::0:1\",\"asn\":64500,"
	    "\"timestamp\":\"2026-01-15T03:12:44Z\"}", &org),
	    "{\"ip\":\"2001:db8::1\",\"asn\":64500,\"timestamp\":"
	    "\"2026-01-15T03:12:44Z\"}");
	CHECK_INT_EQ(org, 4);
	obs(m, "{\"domain\":\"WWW.example.BE.\",\"timestamp\":"
	    "\"2026-01-15T03:12:44Z\"}", &org);
	CHECK_INT_EQ(org, 3);
	obs(m, "{\"email\":\"a@mail.example.be\",\"timestamp\":"
	    "\"2026-01-15T03:12:44Z\"}", &org);
	CHECK_INT_EQ(org, 3);
	obs(m, "{\"ip\":\"203.0.113.1\",\"timestamp\":"
	    "\"2026-01-15T03:12:44Z\"}", &org);
	CHECK_INT_EQ(org, 0);
	CHECK_STR_EQ(obs(m, "{\"ip\":\"1.2.3\",\"timestamp\":\"x\"}", &org),
	    "!observations[0].ip");
	CHECK_STR_EQ(obs(m, "{\"ip\":\"1.2.3.4\",\"domain\":\"example.be\","
	    "\"timestamp\":\"2026-01-15T03:12:44Z\"}", &org),
	    "!observations[0]");
	CHECK_STR_EQ(obs(m, "{\"ip\":\"1.2.3.4\",\"timestamp\":"
	    "\"2026-01-15T03:12:44Z\",\"details\":{\"x\":\"a\\u0000b\"}}",
	    &org), "!observations[0].details");
	CHECK_STR_EQ(obs(m, "[]", &org), "!observations[0]");
	assetmatch_unref(m);
}

/* A header and rows through warning_ss_row; "org:json" or "!why". */
static void
test_shadowserver(void)
{
	static const char *const hdr[] = { "Timestamp", " ip ", "port", "asn",
	    "hostname", "tag", "city" };
	const char *const r1[] = { "2026-01-15 03:12:44", "198.51.100.10",
	    "443", "64500", "vpn.example.org", "ssl-vpn", "" };
	const char *const r2[] = { "2026-01-15 03:12:44", "", "", "",
	    "a.example.be", "x", "Gent, OVL" };
	const char *const r3[] = { "2026-01-15 03:12:44", "203.0.113.9", "",
	    "64500", "", "", "" };
	const char *const r4[] = { "2026-01-15 03:12:44", "203.0.113.9", "",
	    "", "www.example.be", "", "" };
	const char *const bad_port[] = { "2026-01-15 03:12:44", "198.51.100.1",
	    "65536", "", "", "", "" };
	const char *const bad_none[] = { "2026-01-15 03:12:44", "", "", "",
	    "", "", "" };
	const char *const bad_utf8[] = { "2026-01-15 03:12:44", "198.51.100.1",
	    "", "", "", "Li\xe8ge", "" };
	static const char *const dup[] = { "ip", "IP", "timestamp" };
	static const char *const noip[] = { "timestamp", "port" };
	struct warning_ss	 ss;
	struct assetmatch	*m = matcher();
	struct wbuf		 b;
	const char		*why;
	int64_t			 org;

	CHECK(warning_ss_header(&ss, dup, 3, &why) == -1);
	CHECK(warning_ss_header(&ss, noip, 2, &why) == -1);
	CHECK(warning_ss_header(&ss, hdr, 7, &why) == 0);
	memset(&b, 0, sizeof b);
	CHECK(warning_ss_row(&ss, m, r1, 7, &org, &b, &why) == 0);
	CHECK_INT_EQ(org, 1);
	CHECK_STR_EQ(b.p, "{\"ip\":\"198.51.100.10\",\"port\":443,"
	    "\"asn\":64500,"
	    "\"timestamp\":\"2026-01-15T03:12:44Z\",\"details\":{\"hostname\":"
	    "\"vpn.example.org\",\"tag\":\"ssl-vpn\"}}");
	b.len = 0;
	CHECK(warning_ss_row(&ss, m, r2, 7, &org, &b, &why) == 0);
	CHECK_INT_EQ(org, 3);
	CHECK_STR_EQ(b.p, "{\"domain\":\"a.example.be\",\"timestamp\":"
	    "\"2026-01-15T03:12:44Z\",\"details\":{\"tag\":\"x\",\"city\":"
	    "\"Gent, OVL\"}}");
	b.len = 0;
	CHECK(warning_ss_row(&ss, m, r3, 7, &org, &b, &why) == 0);
	CHECK_INT_EQ(org, 4);			/* the AS number */
	b.len = 0;
	CHECK(warning_ss_row(&ss, m, r4, 7, &org, &b, &why) == 0);
	CHECK_INT_EQ(org, 3);			/* the hostname's domain */
	CHECK(warning_ss_row(&ss, m, r1, 6, &org, &b, &why) == -1);
	CHECK(warning_ss_row(&ss, m, bad_port, 7, &org, &b, &why) == -1);
	CHECK_STR_EQ(why, "bad port");
	CHECK(warning_ss_row(&ss, m, bad_none, 7, &org, &b, &why) == -1);
	CHECK(warning_ss_row(&ss, m, bad_utf8, 7, &org, &b, &why) == -1);
	wbuf_free(&b);
	warning_ss_clear(&ss);
	assetmatch_unref(m);
}

static void
test_batch(void)
{
	struct warning_batch	*b = warning_batch_new(1024);
	char			 obs_text[128];
	size_t			 i;

	for (i = 0; i < 100; i++) {
		snprintf(obs_text, sizeof obs_text, "{\"n\":%zu}", i);
		warning_batch_add(b, i % 3 == 0 ? 7 : 1000 + (int64_t)(i % 5),
		    obs_text, strlen(obs_text));
	}
	for (i = 0; i < 300; i++)
		warning_batch_add(b, 3, "{\"x\":\"0123456789\"}", 18);
	warning_batch_finish(b);
	CHECK_INT_EQ(b->matched, 400);
	CHECK_INT_EQ(b->n_orgs, 7);
	CHECK_INT_EQ(b->parts[0].org, 3);
	CHECK(b->parts[0].parts > 1);
	for (i = 0; i < b->n_parts; i++) {
		json_t *a = json_loads(b->parts[i].obs.p, 0, NULL);
		CHECK(json_is_array(a));
		CHECK_INT_EQ(json_array_size(a), b->parts[i].count);
		CHECK(b->parts[i].obs.len <= 1024);
		if (i > 0 && b->parts[i].org == b->parts[i - 1].org)
			CHECK_INT_EQ(b->parts[i].part,
			    b->parts[i - 1].part + 1);
		json_decref(a);
	}
	warning_batch_free(b);
}

int
main(void)
{
	test_timestamps();
	test_text();
	test_head();
	test_observations();
	test_shadowserver();
	test_batch();
	return (UNIT_DONE());
}
