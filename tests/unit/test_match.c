/*
 * test_match.c: subscription filters (parsing, every field's errors, the
 * matching rules) and json_util.c (JSON helpers, PostgreSQL arrays).
 */

#include <stdlib.h>
#include <string.h>

#include "tocsind.h"
#include "unit.h"

static json_t *
test_json(const char *text)
{
	json_t	*j;

	j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (j == NULL) {
		printf("bad test JSON: %s\n", text);
		exit(2);
	}
	return (j);
}

/* filter_from_json on text; the cause's field (up to ':') or NULL. */
static int
test_filter(const char *text, struct filter *f, char *field, size_t size)
{
	json_t	*j;
	char	*cause = NULL;
	size_t	 n;
	int	 rc;

	j = text != NULL ? test_json(text) : NULL;
	rc = filter_from_json(j, f, &cause);
	json_decref(j);
	field[0] = '\0';
	if (cause != NULL) {
		n = strcspn(cause, ":");
		if (n >= size)
			n = size - 1;
		memcpy(field, cause, n);
		field[n] = '\0';
		free(cause);
	}
	return (rc);
}

static void
test_parse_errors(void)
{
	static const struct {
		const char	*text;
		const char	*field;
	} bad[] = {
		{ "[]", "filter" },
		{ "3", "filter" },
		{ "{\"sector\":[\"energy\"]}", "filter.sector" },
		{ "{\"keywords\":[\"x\"],\"tlp\":\"RED\"}", "filter.tlp" },
		{ "{\"sectors\":\"energy\"}", "filter.sectors" },
		{ "{\"sectors\":[1]}", "filter.sectors" },
		{ "{\"sectors\":[\"energy.nuclear\"]}", "filter.sectors" },
		{ "{\"sectors\":[\"nuclear\"]}", "filter.sectors" },
		{ "{\"min_severity\":\"severe\"}", "filter.min_severity" },
		{ "{\"min_severity\":2}", "filter.min_severity" },
		{ "{\"min_severity\":null}", "filter.min_severity" },
		{ "{\"min_severity\":\"HIGH\"}", "filter.min_severity" },
		{ "{\"keywords\":\"rce\"}", "filter.keywords" },
		{ "{\"keywords\":[\"\"]}", "filter.keywords" },
		{ "{\"keywords\":[\"  \"]}", "filter.keywords" },
		{ "{\"keywords\":[\"ok\",5]}", "filter.keywords" },
		{ "{\"keywords\":[\"a\\u0000b\"]}", "filter.keywords" },
		{ "{\"cves\":[\"CVE-2024-123\"]}", "filter.cves" },
		{ "{\"cves\":[\"CVE-24-12345\"]}", "filter.cves" },
		{ "{\"cves\":[\"2024-21762\"]}", "filter.cves" },
		{ "{\"cves\":[\"CVE-2024-21762 \"]}", "filter.cves" },
		{ "{\"cves\":[\"CVE-2024-2176x\"]}", "filter.cves" },
		{ "{\"cves\":\"CVE-2024-21762\"}", "filter.cves" },
		{ "{\"products\":[\"fortinet:fortios\"]}", "filter.products" },
		{ "{\"products\":[\"cpe:2.3:\"]}", "filter.products" },
		{ "{\"products\":[\"cpe:2.2:a:x\"]}", "filter.products" },
		{ "{\"products\":[{}]}", "filter.products" },
	};
	struct filter	f;
	char		field[64];
	char		*cause;
	json_t		*j;
	size_t		i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (!CHECK(test_filter(bad[i].text, &f, field,
		    sizeof field) == -1) || !CHECK_STR_EQ(field, bad[i].field))
			printf("     filter %s\n", bad[i].text);
		CHECK(f.sectors == NULL && f.keywords == NULL &&
		    f.cves == NULL && f.products == NULL);
		filter_clear(&f);
	}

	/* The message names the field and the allowed values. */
	j = test_json("{\"min_severity\":\"severe\"}");
	CHECK(filter_from_json(j, &f, &cause) == -1);
	CHECK_STR_EQ(cause, "filter.min_severity: must be one of low, medium,"
	    " high, critical");
	free(cause);
	json_decref(j);
}

static void
test_parse_good(void)
{
	struct filter	 f;
	json_t		*j, *out;
	char		*cause = (char *)"unset", *s;
	char		 field[64];

	/* Absent, or an empty object: no member, any severity. */
	CHECK(filter_from_json(NULL, &f, &cause) == 0 && cause == NULL);
	CHECK(f.min_severity == -1 && f.n_sectors == 0 && f.n_keywords == 0);
	out = filter_to_json(&f);
	CHECK(json_object_size(out) == 0);
	json_decref(out);
	filter_clear(&f);

	j = test_json("{\"sectors\":[\"energy\",\"health\"],"
	    "\"min_severity\":\"high\",\"keywords\":[\"FortiOS\",\"VPN\"],"
	    "\"cves\":[\"cve-2024-21762\"],"
	    "\"products\":[\"cpe:2.3:o:fortinet:fortios\",\"cpe:/a:apache\"]}");
	CHECK(filter_from_json(j, &f, &cause) == 0);
	CHECK(f.n_sectors == 2 && f.n_keywords == 2 && f.n_cves == 1 &&
	    f.n_products == 2);
	CHECK(f.min_severity == SEV_HIGH);
	CHECK_STR_EQ(f.cves[0], "CVE-2024-21762");
	out = filter_to_json(&f);
	s = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
	CHECK_STR_EQ(s, "{\"cves\":[\"CVE-2024-21762\"],\"keywords\":"
	    "[\"FortiOS\",\"VPN\"],\"min_severity\":\"high\",\"products\":"
	    "[\"cpe:2.3:o:fortinet:fortios\",\"cpe:/a:apache\"],\"sectors\":"
	    "[\"energy\",\"health\"]}");
	free(s);
	json_decref(out);
	json_decref(j);
	filter_clear(&f);
	CHECK(f.min_severity == -1 && f.sectors == NULL);

	/* Empty arrays are as good as absent. */
	CHECK(test_filter("{\"sectors\":[],\"keywords\":[]}", &f, field,
	    sizeof field) == 0);
	out = filter_to_json(&f);
	CHECK(json_object_size(out) == 0);
	json_decref(out);
	filter_clear(&f);

	CHECK(test_filter("{\"cves\":[\"CVE-2021-44228\",\"CVE-2024-1234567\"]"
	    ",\"products\":[\"CPE:2.3:a:apache:log4j\"],\"sectors\":"
	    "[\"manufacturing.medical-devices\"],\"min_severity\":\"low\"}",
	    &f, field, sizeof field) == 0);
	filter_clear(&f);
}

static struct match_item
test_item(const char *title, const char *summary, int severity)
{
	struct match_item	item;

	memset(&item, 0, sizeof item);
	item.title = title;
	item.summary = summary;
	item.severity = severity;
	return (item);
}

/* Does the filter in text match the item? */
static int
test_matches(const char *text, const struct match_item *item)
{
	struct filter	f;
	char		field[64];
	int		rc;

	if (test_filter(text, &f, field, sizeof field) != 0) {
		printf("bad test filter: %s\n", text);
		exit(2);
	}
	rc = match_filter(&f, item);
	filter_clear(&f);
	return (rc);
}

static void
test_sectors_severity(void)
{
	static const char *const gas[] = { "energy.gas" };
	static const char *const two[] = { "transport.air", "health" };
	static const char *const energy[] = { "energy" };
	struct match_item	 item;

	item = test_item("t", "s", SEV_MEDIUM);
	item.sectors = gas;
	item.n_sectors = 1;
	CHECK(test_matches("{\"sectors\":[\"energy\"]}", &item));
	CHECK(test_matches("{\"sectors\":[\"energy.gas\"]}", &item));
	CHECK(test_matches("{\"sectors\":[\"health\",\"energy\"]}", &item));
	CHECK(!test_matches("{\"sectors\":[\"energy.oil\"]}", &item));
	CHECK(!test_matches("{\"sectors\":[\"health\"]}", &item));
	item.sectors = two;
	item.n_sectors = 2;
	CHECK(test_matches("{\"sectors\":[\"health\"]}", &item));
	CHECK(test_matches("{\"sectors\":[\"transport\"]}", &item));
	CHECK(!test_matches("{\"sectors\":[\"transport.rail\"]}", &item));
	item.sectors = energy;
	item.n_sectors = 1;
	CHECK(!test_matches("{\"sectors\":[\"energy.gas\"]}", &item));
	item.n_sectors = 0;
	CHECK(!test_matches("{\"sectors\":[\"energy\"]}", &item));

	item = test_item("t", "s", SEV_HIGH);
	CHECK(test_matches("{\"min_severity\":\"low\"}", &item));
	CHECK(test_matches("{\"min_severity\":\"medium\"}", &item));
	CHECK(test_matches("{\"min_severity\":\"high\"}", &item));
	CHECK(!test_matches("{\"min_severity\":\"critical\"}", &item));
	item.severity = SEV_CRITICAL;
	CHECK(test_matches("{\"min_severity\":\"critical\"}", &item));
	item.severity = SEV_LOW;
	CHECK(test_matches("{\"min_severity\":\"low\"}", &item));
	CHECK(!test_matches("{\"min_severity\":\"medium\"}", &item));
	item.severity = -1;
	CHECK(!test_matches("{\"min_severity\":\"low\"}", &item));
	CHECK(test_matches("{}", &item));
}

static void
test_keywords(void)
{
	struct match_item	item;

	item = test_item("Critical RCE in FortiOS SSL-VPN",
	    "One paragraph about open-source software.", SEV_CRITICAL);
	CHECK(test_matches("{\"keywords\":[\"fortios\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"FORTIOS\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"rce\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"vpn\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"ssl-vpn\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"Paragraph\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"open-source\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"software\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"rce in fortios\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"nothing\",\"critical\"]}",
	    &item));
	CHECK(!test_matches("{\"keywords\":[\"forti\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"ssl\",\"fortinet\"]}", &item));
	CHECK(!test_matches("{\"keywords\":[\"fortinet\"]}", &item));
	CHECK(!test_matches("{\"keywords\":[\"para\"]}", &item));
	CHECK(!test_matches("{\"keywords\":[\"graph\"]}", &item));

	/* "rce" inside "source" is not the word RCE. */
	item = test_item("Patch your source tree", "Resources and sources.",
	    SEV_LOW);
	CHECK(!test_matches("{\"keywords\":[\"rce\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"sources\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"source\"]}", &item));

	/* Either title or summary; missing ones are skipped. */
	item = test_item(NULL, "Exploited: Ivanti Connect Secure.", SEV_LOW);
	CHECK(test_matches("{\"keywords\":[\"ivanti\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"secure\"]}", &item));
	item = test_item("Ivanti", NULL, SEV_LOW);
	CHECK(test_matches("{\"keywords\":[\"IVANTI\"]}", &item));
	CHECK(!test_matches("{\"keywords\":[\"connect\"]}", &item));

	/*
	 * Non-ASCII letters are word characters, Unicode quotes are not;
	 * Latin-1 capitals fold like ASCII ones.
	 */
	item = test_item("Faille critique dans «FortiOS»",
	    "Énergie : mise à jour du système d’exploitation", SEV_LOW);
	CHECK(test_matches("{\"keywords\":[\"fortios\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"énergie\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"Énergie\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"système\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"exploitation\"]}", &item));
	CHECK(!test_matches("{\"keywords\":[\"nergie\"]}", &item));
	CHECK(!test_matches("{\"keywords\":[\"syst\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"SYSTÈME\"]}", &item));
	item = test_item("Überlauf in ÖVP-Software", NULL, SEV_LOW);
	CHECK(test_matches("{\"keywords\":[\"überlauf\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"övp-software\"]}", &item));
	CHECK(!test_matches("{\"keywords\":[\"berlauf\"]}", &item));

	/* A keyword that ends with punctuation needs no boundary there. */
	item = test_item("Flaw in a C++ library", "c++17 too", SEV_LOW);
	CHECK(test_matches("{\"keywords\":[\"c++\"]}", &item));
	CHECK(test_matches("{\"keywords\":[\"c\"]}", &item));
	CHECK(!test_matches("{\"keywords\":[\"library++\"]}", &item));
}

static void
test_cves_products(void)
{
	static const char *const cves[] = { "CVE-2024-21762",
	    "CVE-2023-27997" };
	static const char *const products[] = {
	    "cpe:2.3:o:fortinet:fortios:7.0.1:*:*:*:*:*:*:*",
	    "cpe:2.3:a:apache:http_server" };
	static const char *const uri[] = { "cpe:/a:apache:tomcat:9.0" };
	struct match_item	 item;

	item = test_item("t", "s", SEV_LOW);
	item.cves = cves;
	item.n_cves = 2;
	CHECK(test_matches("{\"cves\":[\"CVE-2023-27997\"]}", &item));
	CHECK(test_matches("{\"cves\":[\"cve-2024-21762\"]}", &item));
	CHECK(test_matches("{\"cves\":[\"CVE-2021-1111\",\"CVE-2024-21762\"]}",
	    &item));
	CHECK(!test_matches("{\"cves\":[\"CVE-2024-2176\"]}", &item));
	CHECK(!test_matches("{\"cves\":[\"CVE-2024-217620\"]}", &item));
	item.n_cves = 0;
	CHECK(!test_matches("{\"cves\":[\"CVE-2024-21762\"]}", &item));

	item = test_item("t", "s", SEV_LOW);
	item.products = products;
	item.n_products = 2;
	CHECK(test_matches("{\"products\":[\"cpe:2.3:o:fortinet:fortios\"]}",
	    &item));
	CHECK(test_matches("{\"products\":[\"cpe:2.3:o:fortinet\"]}", &item));
	CHECK(test_matches("{\"products\":[\"CPE:2.3:O:Fortinet:FortiOS\"]}",
	    &item));
	CHECK(test_matches("{\"products\":[\"cpe:2.3:o:fortinet:fortios:"
	    "7.0.1\"]}", &item));
	CHECK(test_matches("{\"products\":[\"cpe:2.3:a:apache\"]}", &item));
	CHECK(test_matches("{\"products\":[\"cpe:/a:apache:http_server\"]}",
	    &item));
	CHECK(test_matches("{\"products\":[\"cpe:2.3:x:y\","
	    "\"cpe:2.3:a:apache:http_server\"]}", &item));
	CHECK(!test_matches("{\"products\":[\"cpe:2.3:o:fortinet:forti\"]}",
	    &item));
	CHECK(!test_matches("{\"products\":[\"cpe:2.3:o:fortinet:fortios:"
	    "7.2.0\"]}", &item));
	CHECK(!test_matches("{\"products\":[\"cpe:2.3:a:fortinet\"]}", &item));
	CHECK(!test_matches("{\"products\":[\"cpe:2.3:a:apache:tomcat\"]}",
	    &item));
	/* The item names every version: a filter for one version matches. */
	CHECK(test_matches("{\"products\":[\"cpe:2.3:a:apache:http_server:"
	    "2.4.58\"]}", &item));

	item.products = uri;
	item.n_products = 1;
	CHECK(test_matches("{\"products\":[\"cpe:2.3:a:apache:tomcat\"]}",
	    &item));
	CHECK(test_matches("{\"products\":[\"cpe:/a:apache:tomcat:9.0\"]}",
	    &item));
	CHECK(!test_matches("{\"products\":[\"cpe:/a:apache:tomcat:10\"]}",
	    &item));
	item.n_products = 0;
	CHECK(!test_matches("{\"products\":[\"cpe:2.3:a\"]}", &item));
}

static void
test_all_fields(void)
{
	static const char *text = "{\"title\":\"Critical RCE in FortiOS "
	    "SSL-VPN\",\"summary\":\"One paragraph.\",\"severity\":"
	    "\"critical\",\"sectors\":[\"energy.gas\",\"health\"],\"cves\":"
	    "[\"CVE-2024-21762\"],\"products\":[\"cpe:2.3:o:fortinet:fortios\""
	    ",7],\"tlp\":\"AMBER\"}";
	static const char *all = "{\"sectors\":[\"energy\"],\"min_severity\":"
	    "\"high\",\"keywords\":[\"fortios\"],\"cves\":[\"CVE-2024-21762\"],"
	    "\"products\":[\"cpe:2.3:o:fortinet\"]}";
	struct match_item	 item;
	json_t			*data;

	data = test_json(text);
	match_item_from_json(data, &item);
	CHECK_STR_EQ(item.title, "Critical RCE in FortiOS SSL-VPN");
	CHECK_STR_EQ(item.summary, "One paragraph.");
	CHECK(item.severity == SEV_CRITICAL);
	CHECK(item.n_sectors == 2 && item.n_cves == 1 && item.n_products == 1);
	CHECK_STR_EQ(item.sectors[1], "health");

	CHECK(test_matches("{}", &item));
	CHECK(test_matches(all, &item));
	CHECK(!test_matches("{\"sectors\":[\"energy\"],\"min_severity\":"
	    "\"high\",\"keywords\":[\"fortios\"],\"cves\":[\"CVE-2024-21762\"],"
	    "\"products\":[\"cpe:2.3:a:apache\"]}", &item));
	CHECK(!test_matches("{\"sectors\":[\"banking\"],\"min_severity\":"
	    "\"high\",\"keywords\":[\"fortios\"]}", &item));
	CHECK(!test_matches("{\"sectors\":[\"energy\"],\"keywords\":"
	    "[\"ivanti\"]}", &item));
	CHECK(!test_matches("{\"min_severity\":\"low\",\"cves\":"
	    "[\"CVE-2023-27997\"]}", &item));
	match_item_free_arrays(&item);
	CHECK(item.sectors == NULL && item.n_sectors == 0);
	json_decref(data);

	/* Missing or odd members: nothing to match, severity unknown. */
	data = test_json("{\"severity\":\"severe\",\"sectors\":\"energy\"}");
	match_item_from_json(data, &item);
	CHECK(item.severity == -1 && item.title == NULL);
	CHECK(item.sectors == NULL && item.n_sectors == 0);
	CHECK(test_matches("{}", &item));
	CHECK(!test_matches("{\"keywords\":[\"energy\"]}", &item));
	match_item_free_arrays(&item);
	json_decref(data);
	match_item_from_json(NULL, &item);
	CHECK(item.severity == -1);
	match_item_free_arrays(&item);
}

static void
test_severity_names(void)
{
	enum severity	s;
	int		i;

	for (i = 0; i < SEV__COUNT; i++) {
		CHECK(severity_parse(severity_name((enum severity)i), &s) == 0);
		CHECK(s == (enum severity)i);
	}
	CHECK(severity_parse("Critical", &s) == -1);
	CHECK(severity_parse("none", &s) == -1);
	CHECK(severity_parse(NULL, &s) == -1);
	CHECK(SEV_LOW < SEV_MEDIUM && SEV_HIGH < SEV_CRITICAL);
}

static void
test_json_util(void)
{
	json_t		*j;
	const char	*s;
	char		**v;
	int64_t		 *iv;
	size_t		  n;

	j = test_json("{\"a\":\"x\",\"b\":1,\"c\":null}");
	CHECK(json_get_string(j, "a", &s) == 1);
	CHECK_STR_EQ(s, "x");
	CHECK(json_get_string(j, "b", &s) == -1 && s == NULL);
	CHECK(json_get_string(j, "c", &s) == -1);
	CHECK(json_get_string(j, "d", &s) == 0 && s == NULL);
	CHECK(json_get_string(NULL, "a", &s) == 0);
	json_decref(j);

	CHECK(json_string_array(NULL, &v, &n) == 0 && v == NULL && n == 0);
	j = test_json("[\"a\",\"b c\"]");
	CHECK(json_string_array(j, &v, &n) == 0 && n == 2);
	CHECK_STR_EQ(v[1], "b c");
	strv_free(v, n);
	json_decref(j);
	j = test_json("[\"a\",2]");
	CHECK(json_string_array(j, &v, &n) == -1 && v == NULL && n == 0);
	json_decref(j);
	j = test_json("{}");
	CHECK(json_string_array(j, &v, &n) == -1);
	json_decref(j);
	j = test_json("[]");
	CHECK(json_string_array(j, &v, &n) == 0 && n == 0);
	json_decref(j);

	CHECK(json_int_array(NULL, &iv, &n) == 0 && iv == NULL && n == 0);
	j = test_json("[1,9007199254740993]");
	CHECK(json_int_array(j, &iv, &n) == 0 && n == 2);
	CHECK(iv[0] == 1 && iv[1] == INT64_C(9007199254740993));
	free(iv);
	json_decref(j);
	j = test_json("[1,0]");
	CHECK(json_int_array(j, &iv, &n) == -1 && iv == NULL);
	json_decref(j);
	j = test_json("[1.5]");
	CHECK(json_int_array(j, &iv, &n) == -1);
	json_decref(j);
	j = test_json("\"1\"");
	CHECK(json_int_array(j, &iv, &n) == -1);
	json_decref(j);
}

static void
test_pg_arrays(void)
{
	char		*in[] = { (char *)"energy", (char *)"a\"b",
	    (char *)"back\\slash", (char *)"with space", (char *)"",
	    (char *)"NULL", (char *)"{x,y}", (char *)"é" };
	int64_t		 ints[] = { 1, -2, INT64_MAX, 42 };
	char		*s, **v;
	int64_t		*iv;
	size_t		 n, i;

	s = pg_text_array(in, 2);
	CHECK_STR_EQ(s, "{\"energy\",\"a\\\"b\"}");
	free(s);
	s = pg_text_array(NULL, 0);
	CHECK_STR_EQ(s, "{}");
	free(s);

	/* Round trip through our own literal. */
	s = pg_text_array(in, 8);
	CHECK(pg_parse_text_array(s, &v, &n) == 0 && n == 8);
	for (i = 0; i < n && i < 8; i++)
		CHECK_STR_EQ(v[i], in[i]);
	strv_free(v, n);
	free(s);

	/* PostgreSQL's own output: bare where it can, quoted where not. */
	CHECK(pg_parse_text_array("{energy,health,\"with space\","
	    "\"q\\\"uote\",\"NULL\"}", &v, &n) == 0 && n == 5);
	if (n == 5) {
		CHECK_STR_EQ(v[0], "energy");
		CHECK_STR_EQ(v[2], "with space");
		CHECK_STR_EQ(v[3], "q\"uote");
		CHECK_STR_EQ(v[4], "NULL");
	}
	strv_free(v, n);
	CHECK(pg_parse_text_array("{}", &v, &n) == 0 && n == 0 && v == NULL);
	CHECK(pg_parse_text_array("{a}", &v, &n) == 0 && n == 1);
	strv_free(v, n);

	CHECK(pg_parse_text_array(NULL, &v, &n) == -1);
	CHECK(pg_parse_text_array("", &v, &n) == -1);
	CHECK(pg_parse_text_array("{a,NULL}", &v, &n) == -1 && v == NULL);
	CHECK(pg_parse_text_array("{a,}", &v, &n) == -1);
	CHECK(pg_parse_text_array("{\"a}", &v, &n) == -1);
	CHECK(pg_parse_text_array("{a", &v, &n) == -1);
	CHECK(pg_parse_text_array("{a}x", &v, &n) == -1);
	CHECK(pg_parse_text_array("{{a},{b}}", &v, &n) == -1);
	CHECK(pg_parse_text_array("{\"a\\", &v, &n) == -1);

	s = pg_int_array(ints, 4);
	CHECK_STR_EQ(s, "{1,-2,9223372036854775807,42}");
	CHECK(pg_parse_int_array(s, &iv, &n) == 0 && n == 4);
	for (i = 0; i < n && i < 4; i++)
		CHECK(iv[i] == ints[i]);
	free(iv);
	free(s);
	s = pg_int_array(NULL, 0);
	CHECK_STR_EQ(s, "{}");
	CHECK(pg_parse_int_array(s, &iv, &n) == 0 && n == 0 && iv == NULL);
	free(s);
	CHECK(pg_parse_int_array("{1,x}", &iv, &n) == -1 && iv == NULL);
	CHECK(pg_parse_int_array("{1,NULL}", &iv, &n) == -1);
	CHECK(pg_parse_int_array("{99999999999999999999}", &iv, &n) == -1);
	CHECK(pg_parse_int_array("{1.5}", &iv, &n) == -1);
}

int
main(void)
{
	test_parse_errors();
	test_parse_good();
	test_sectors_severity();
	test_keywords();
	test_cves_products();
	test_all_fields();
	test_severity_names();
	test_json_util();
	test_pg_arrays();
	return (UNIT_DONE());
}
