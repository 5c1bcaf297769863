/*
 * test_webhooks.c: the pure parts of the outbox: Standard Webhooks
 * signatures (the specification's example vector), base64, the secret box,
 * the SSRF classification, the TLP decision for organisations, the retry
 * schedule and the three body formats.
 */

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "tocsind.h"
#include "unit.h"

static void
test_v1_vector(void)
{
	/* The example of the Standard Webhooks libraries' tests. */
	const char	*body = "{\"test\": 2432232314}";
	char		*sig;

	sig = sign_v1("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	    "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, strlen(body));
	CHECK_STR_EQ(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
	free(sig);
	CHECK(sign_v1("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "a", "1", "", 0) ==
	    NULL);
	CHECK(sign_v1("whsec_not base64!", "a", "1", "", 0) == NULL);
	CHECK(sign_v1("whsec_AAAA", "a", "1", "", 0) == NULL);	/* 3 bytes */
}

static void
test_base64(void)
{
	unsigned char	*out;
	size_t		 len;
	char		*s;

	s = sign_base64_encode("ab", 2);
	CHECK_STR_EQ(s, "YWI=");
	CHECK(sign_base64_decode(s, &out, &len) == 0 && len == 2 &&
	    memcmp(out, "ab", 2) == 0);
	free(out);
	free(s);
	CHECK(sign_base64_decode("YWJj", &out, &len) == 0 && len == 3);
	free(out);
	CHECK(sign_base64_decode("YWI", &out, &len) == -1);
	CHECK(sign_base64_decode("", &out, &len) == -1);
	CHECK(sign_base64_decode("Y!I=", &out, &len) == -1);
}

static void
test_secretbox(void)
{
	unsigned char	 key[32], *sealed;
	size_t		 len, plen;
	char		*plain, *secret, *pg;
	unsigned char	*raw;
	size_t		 rawlen;

	memset(key, 7, sizeof key);
	secretbox_set_key(key);
	CHECK(secretbox_seal("p", "hello", 5, &sealed, &len) == 0);
	CHECK_INT_EQ(len, 5 + 29);
	plain = secretbox_open("p", sealed, len, &plen);
	CHECK_STR_EQ(plain, "hello");
	CHECK_INT_EQ(plen, 5);
	secretbox_free(plain, 0);
	CHECK(secretbox_open("q", sealed, len, NULL) == NULL);
	sealed[len - 1] ^= 1;
	CHECK(secretbox_open("p", sealed, len, NULL) == NULL);
	sealed[len - 1] ^= 1;
	sealed[3] ^= 1;
	CHECK(secretbox_open("p", sealed, len, NULL) == NULL);
	free(sealed);

	secret = secretbox_webhook_secret();
	CHECK(strncmp(secret, "whsec_", 6) == 0);
	CHECK(sign_secret_bytes(secret, &raw, &rawlen) == 0 && rawlen == 32);
	free(raw);
	pg = secretbox_seal_pg("p", secret);
	CHECK(pg != NULL && strncmp(pg, "\\x", 2) == 0);
	CHECK(strstr(pg, secret) == NULL);
	plain = secretbox_open_pg("p", pg);
	CHECK_STR_EQ(plain, secret);
	secretbox_free(plain, 0);
	free(pg);
	secretbox_free(secret, 0);
}

static void
test_v1a(void)
{
	char		 path[] = "/tmp/tocsin-unit-XXXXXX", *cause = NULL;
	char		 file[64], *sig;
	unsigned char	*raw, *pub;
	size_t		 rawlen, publen;
	EVP_PKEY	*pk;
	EVP_MD_CTX	*ctx;
	int		 fd;

	fd = mkstemp(path);
	close(fd);
	unlink(path);
	snprintf(file, sizeof file, "%s", path);
	CHECK(sign_init(file, &cause) == 0);
	free(cause);
	sig = sign_v1a("msg_1", "1700000000", "{}", 2);
	CHECK(sig != NULL && strncmp(sig, "v1a,", 4) == 0);
	CHECK(sign_base64_decode(sig + 4, &raw, &rawlen) == 0 && rawlen == 64);
	CHECK(sign_base64_decode(sign_public_key_b64(), &pub, &publen) == 0 &&
	    publen == 32);
	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, publen);
	ctx = EVP_MD_CTX_new();
	CHECK(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
	    EVP_DigestVerify(ctx, raw, rawlen,
	    (const unsigned char *)"msg_1.1700000000.{}", 19) == 1);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	CHECK(strstr(sign_public_key_pem(), "BEGIN PUBLIC KEY") != NULL);
	free(raw);
	free(pub);
	free(sig);
	sign_shutdown();
	unlink(file);
}

static enum ssrf_class
test_class(const char *addr)
{
	struct sockaddr_storage	ss;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	return (ssrf_classify((struct sockaddr *)&ss));
}

static void
test_ssrf(void)
{
	struct sockaddr_in	 sa;
	struct config		 cfg;
	char			*allow[] = { "10.9.0.0/16", "2001:db8::/32" };
	char			 why[128];

	CHECK_INT_EQ(test_class("8.8.8.8"), SSRF_PUBLIC);
	CHECK_INT_EQ(test_class("127.0.0.1"), SSRF_LOOPBACK);
	CHECK_INT_EQ(test_class("127.255.0.9"), SSRF_LOOPBACK);
	CHECK_INT_EQ(test_class("10.0.0.1"), SSRF_PRIVATE);
	CHECK_INT_EQ(test_class("172.16.0.1"), SSRF_PRIVATE);
	CHECK_INT_EQ(test_class("172.31.255.255"), SSRF_PRIVATE);
	CHECK_INT_EQ(test_class("172.32.0.1"), SSRF_PUBLIC);
	CHECK_INT_EQ(test_class("192.168.0.1"), SSRF_PRIVATE);
	CHECK_INT_EQ(test_class("100.64.0.1"), SSRF_PRIVATE);
	CHECK_INT_EQ(test_class("100.128.0.1"), SSRF_PUBLIC);
	CHECK_INT_EQ(test_class("169.254.169.254"), SSRF_LINK_LOCAL);
	CHECK_INT_EQ(test_class("224.0.0.1"), SSRF_MULTICAST);
	CHECK_INT_EQ(test_class("0.0.0.0"), SSRF_UNSPECIFIED);
	CHECK_INT_EQ(test_class("255.255.255.255"), SSRF_RESERVED);
	CHECK_INT_EQ(test_class("::"), SSRF_UNSPECIFIED);
	CHECK_INT_EQ(test_class("::1"), SSRF_LOOPBACK);
	CHECK_INT_EQ(test_class("fe80::1"), SSRF_LINK_LOCAL);
	CHECK_INT_EQ(test_class("fc00::1"), SSRF_PRIVATE);
	CHECK_INT_EQ(test_class("fdff::1"), SSRF_PRIVATE);
	CHECK_INT_EQ(test_class("ff02::1"), SSRF_MULTICAST);
	CHECK_INT_EQ(test_class("::ffff:127.0.0.1"), SSRF_LOOPBACK);
	CHECK_INT_EQ(test_class("::ffff:10.1.1.1"), SSRF_PRIVATE);
	CHECK_INT_EQ(test_class("::ffff:8.8.8.8"), SSRF_PUBLIC);
	CHECK_INT_EQ(test_class("64:ff9b::a9fe:a9fe"), SSRF_LINK_LOCAL);
	CHECK_INT_EQ(test_class("2002:7f00:1::"), SSRF_LOOPBACK);
	CHECK_INT_EQ(test_class("2001:4860:4860::8888"), SSRF_PUBLIC);

	CHECK(ssrf_cidr_valid("10.0.0.0/8"));
	CHECK(ssrf_cidr_valid("192.0.2.7"));
	CHECK(ssrf_cidr_valid("fd00::/8"));
	CHECK(!ssrf_cidr_valid("10.0.0.0/33"));
	CHECK(!ssrf_cidr_valid("10.0.0/8"));
	CHECK(!ssrf_cidr_valid("fd00::/129"));
	CHECK(!ssrf_cidr_valid("host/8"));

	memset(&cfg, 0, sizeof cfg);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	inet_pton(AF_INET, "10.9.1.2", &sa.sin_addr);
	CHECK(!ssrf_address_allowed(&cfg, (struct sockaddr *)&sa, why,
	    sizeof why));
	CHECK_STR_EQ(why, "10.9.1.2 is a private address");
	cfg.webhooks_allow = allow;
	cfg.n_webhooks_allow = 2;
	CHECK(ssrf_address_allowed(&cfg, (struct sockaddr *)&sa, why,
	    sizeof why));
	inet_pton(AF_INET, "10.8.1.2", &sa.sin_addr);
	CHECK(!ssrf_address_allowed(&cfg, (struct sockaddr *)&sa, why,
	    sizeof why));
	cfg.webhooks_allow_private_networks = 1;
	CHECK(ssrf_address_allowed(&cfg, (struct sockaddr *)&sa, why,
	    sizeof why));
	inet_pton(AF_INET, "224.0.0.1", &sa.sin_addr);
	CHECK(!ssrf_address_allowed(&cfg, (struct sockaddr *)&sa, why,
	    sizeof why));
}

/* An organisation principal of kind essential in sector energy. */
static void
test_org(struct principal *p, int64_t id)
{
	CHECK(store_webhooks_org_principal(p, id, "essential", 1,
	    "{energy}") == 0);
	CHECK(p->user_id == TOCSIN_PRINCIPAL_ORGANISATION &&
	    p->org_kind == KIND_ESSENTIAL && p->n_org_sectors == 1 &&
	    strcmp(p->org_sectors[0], "energy") == 0);
}

/* A row that cannot be read makes no principal. */
static void
test_org_unreadable(void)
{
	struct principal	p;

	CHECK(store_webhooks_org_principal(&p, 1, "galactic", 1, "{}") ==
	    -1);
	CHECK(store_webhooks_org_principal(&p, 1, "essential", 1,
	    "not an array") == -1);
}

static int
test_wants(const char *scope_json, int64_t org, int targeted,
    const char *filter_json)
{
	struct outbox_scope	 s;
	struct principal	 p;
	struct filter		 f;
	json_t			*scope, *fj = NULL;
	char			*cause = NULL;
	int			 rc, nf = 0;

	scope = json_loads(scope_json, 0, NULL);
	if (filter_json != NULL) {
		fj = json_loads(filter_json, 0, NULL);
		if (filter_from_json(fj, &f, &cause) == 0)
			nf = 1;
		free(cause);
	}
	test_org(&p, org);
	store_outbox_scope_parse(scope, &s);
	rc = store_outbox_scope_wants(&s, &p, targeted, nf ? &f : NULL, nf);
	store_outbox_scope_clear(&s);
	principal_clear(&p);
	if (nf)
		filter_clear(&f);
	json_decref(fj);
	json_decref(scope);
	return (rc);
}

static void
test_tlp_planning(void)
{
	const char	*red = "[{\"tlp\":\"RED\",\"audience\":{\"organisations\":"
	    "[5],\"users\":[1]},\"title\":\"x\"}]";
	const char	*amber = "[{\"tlp\":\"AMBER\",\"audience\":"
	    "{\"organisations\":[5]},\"title\":\"x\",\"cves\":"
	    "[\"CVE-2024-0001\"]}]";
	const char	*green = "[{\"tlp\":\"GREEN\",\"title\":\"x\","
	    "\"sectors\":[\"energy\"]}]";
	const char	*bysector = "[{\"tlp\":\"AMBER\",\"audience\":"
	    "{\"sectors\":[\"energy\"]},\"title\":\"x\"}]";

	/* RED: neither named, nor subscribed, nor anything. */
	CHECK(!test_wants(red, 5, 1, NULL));
	CHECK(!test_wants(red, 5, 1, "{}"));
	/* AMBER: only the audience, targeted or subscribed. */
	CHECK(test_wants(amber, 5, 1, NULL));
	CHECK(!test_wants(amber, 5, 0, NULL));
	CHECK(test_wants(amber, 5, 0, "{\"cves\":[\"CVE-2024-0001\"]}"));
	CHECK(!test_wants(amber, 5, 0, "{\"cves\":[\"CVE-2024-0002\"]}"));
	CHECK(!test_wants(amber, 6, 1, "{}"));
	CHECK(test_wants(bysector, 6, 1, NULL));
	/* GREEN: any registered organisation that subscribes. */
	CHECK(!test_wants(green, 6, 1, NULL));
	CHECK(test_wants(green, 6, 0, "{\"sectors\":[\"energy\"]}"));
	CHECK(!test_wants(green, 6, 0, "{\"sectors\":[\"health\"]}"));
	/* An unreadable element shows nothing. */
	CHECK(!test_wants("[{\"tlp\":\"PURPLE\"}]", 5, 1, "{}"));
	CHECK(!test_wants("[{\"tlp\":\"AMBER\"}]", 5, 1, "{}"));
}

static void
test_retry_delay(void)
{
	static const double	want[] = { 5, 300, 1800, 7200, 18000, 36000,
				    36000 };
	double			d;
	int			i;

	for (i = 1; i < TOCSIN_OUTBOX_ATTEMPTS; i++) {
		d = store_outbox_retry_delay(i);
		CHECK(d >= 0.8 * want[i - 1] && d <= 1.2 * want[i - 1]);
	}
	CHECK(store_outbox_retry_delay(TOCSIN_OUTBOX_ATTEMPTS) < 0);
	CHECK(store_outbox_retry_delay(0) < 0);
}

static void
test_render(void)
{
	struct webhook_event	 ev;
	json_t			*data, *v;
	char			*s;

	data = json_loads("{\"id\":\"CCB-2026-0042\",\"tlp\":\"AMBER\","
	    "\"title\":\"T\",\"summary\":\"S\",\"severity\":\"high\","
	    "\"cves\":[\"CVE-2024-21762\"],\"cvss\":{\"version\":\"3.1\","
	    "\"score\":8.1}}", 0, NULL);
	memset(&ev, 0, sizeof ev);
	ev.type = "advisory.published";
	ev.event_id = 12;
	ev.tlp = "AMBER";
	ev.data = data;
	ev.timestamp = "2026-01-31T08:00:00.000Z";
	ev.time = 1769846400;

	s = webhook_render("json", &ev, "msg_1");
	v = json_loads(s, 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(v, "type")),
	    "advisory.published");
	CHECK_STR_EQ(json_string_value(json_object_get(v, "tlp")), "AMBER");
	CHECK_INT_EQ(json_integer_value(json_object_get(v, "event_id")), 12);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(v,
	    "data"), "id")), "CCB-2026-0042");
	json_decref(v);
	free(s);

	s = webhook_render("splunk-hec", &ev, "msg_1");
	v = json_loads(s, 0, NULL);
	CHECK_INT_EQ(json_integer_value(json_object_get(v, "time")),
	    1769846400);
	CHECK_STR_EQ(json_string_value(json_object_get(v, "sourcetype")),
	    "tocsin:advisory");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(v,
	    "event"), "tlp")), "AMBER");
	json_decref(v);
	free(s);

	s = webhook_render("ecs", &ev, "msg_1");
	v = json_loads(s, 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(v, "@timestamp")),
	    "2026-01-31T08:00:00.000Z");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(v,
	    "vulnerability"), "severity")), "High");
	CHECK(json_real_value(json_object_get(json_object_get(
	    json_object_get(v, "vulnerability"), "score"), "base")) == 8.1);
	CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(v,
	    "event"), "severity")), 73);
	CHECK_STR_EQ(json_string_value(json_object_get(v, "tlp")), "AMBER");
	json_decref(v);
	free(s);

	CHECK(webhook_render("xml", &ev, "msg_1") == NULL);
	json_decref(data);
}

int
main(void)
{
	test_v1_vector();
	test_base64();
	test_secretbox();
	test_v1a();
	test_ssrf();
	test_tlp_planning();
	test_org_unreadable();
	test_retry_delay();
	test_render();
	secretbox_shutdown();
	return (UNIT_DONE());
}
