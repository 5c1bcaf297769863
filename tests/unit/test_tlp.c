/*
 * test_tlp.c: every cell of TLP.md's table, for tlp_may_see() and
 * tlp_targets(), then the audience checks and the audience's JSON form.
 */

#include <stdlib.h>
#include <string.h>

#include "tocsind.h"
#include "unit.h"

/*
 * One audience for every label: organisations 10 and 40 by id, the energy
 * sector narrowed to essential entities, and user 100 (who counts for RED
 * only). User 100 belongs to organisation 50, which is not in the audience.
 */
static int64_t	 test_aud_orgs[] = { 10, 40 };
static char	*test_aud_sectors[] = { (char *)"energy" };
static int64_t	 test_aud_users[] = { 100 };

static char	*test_health[] = { (char *)"health" };
static char	*test_gas[] = { (char *)"energy.gas" };
static char	*test_air[] = { (char *)"transport.air" };
static char	*test_banking[] = { (char *)"banking" };

enum {
	P_ANONYMOUS,	/* no token */
	P_BY_ID,	/* member of organisation 10, named by id */
	P_BY_SECTOR,	/* essential, energy.gas: covered by "energy" */
	P_WRONG_KIND,	/* private, energy.gas: sector met, kind not */
	P_OTHER,	/* member of organisation 30, in nothing */
	P_INACTIVE,	/* member of organisation 40: named, inactive */
	P_RED_USER,	/* user 100, named in audience.users */
	P_COLLEAGUE,	/* user 101, same organisation as user 100 */
	P_PUBLISHER,
	P_ADMIN,
	P__COUNT
};

static const char *const test_pnames[P__COUNT] = {
	"anonymous", "member by id", "member by sector", "wrong kind",
	"other organisation", "inactive organisation", "RED user",
	"colleague of RED user", "publisher", "admin"
};

static struct principal	test_p[P__COUNT];

/* Expected may_see per principal and label (CLEAR GREEN AMBER STRICT RED). */
static const int test_see[P__COUNT][TLP__COUNT] = {
	[P_ANONYMOUS] =   { 1, 0, 0, 0, 0 },
	[P_BY_ID] =       { 1, 1, 1, 1, 0 },
	[P_BY_SECTOR] =   { 1, 1, 1, 1, 0 },
	[P_WRONG_KIND] =  { 1, 1, 0, 0, 0 },
	[P_OTHER] =       { 1, 1, 0, 0, 0 },
	[P_INACTIVE] =    { 1, 0, 0, 0, 0 },
	[P_RED_USER] =    { 1, 1, 0, 0, 1 },
	[P_COLLEAGUE] =   { 1, 1, 0, 0, 0 },
	[P_PUBLISHER] =   { 1, 1, 1, 1, 1 },
	[P_ADMIN] =       { 1, 1, 1, 1, 1 },
};

/*
 * Expected tlp_targets: the audience names the organisation whatever the
 * label, and the user only for RED; visibility is tlp_may_see's business.
 */
static const int test_targets[P__COUNT][TLP__COUNT] = {
	[P_ANONYMOUS] =   { 0, 0, 0, 0, 0 },
	[P_BY_ID] =       { 1, 1, 1, 1, 1 },
	[P_BY_SECTOR] =   { 1, 1, 1, 1, 1 },
	[P_WRONG_KIND] =  { 0, 0, 0, 0, 0 },
	[P_OTHER] =       { 0, 0, 0, 0, 0 },
	[P_INACTIVE] =    { 1, 1, 1, 1, 1 },
	[P_RED_USER] =    { 0, 0, 0, 0, 1 },
	[P_COLLEAGUE] =   { 0, 0, 0, 0, 0 },
	[P_PUBLISHER] =   { 0, 0, 0, 0, 0 },
	[P_ADMIN] =       { 0, 0, 0, 0, 0 },
};

static void
test_member(struct principal *p, int64_t user, int64_t org,
    enum org_kind kind, int active, char **sectors)
{
	memset(p, 0, sizeof *p);
	p->user_id = user;
	p->org_id = org;
	p->role = ROLE_MEMBER;
	p->org_kind = kind;
	p->org_active = active;
	p->org_sectors = sectors;
	p->n_org_sectors = 1;
}

static void
test_setup(void)
{
	memset(&test_p[P_ANONYMOUS], 0, sizeof test_p[P_ANONYMOUS]);
	test_p[P_ANONYMOUS].role = ROLE_ANONYMOUS;
	test_member(&test_p[P_BY_ID], 110, 10, KIND_IMPORTANT, 1, test_health);
	test_member(&test_p[P_BY_SECTOR], 120, 20, KIND_ESSENTIAL, 1,
	    test_gas);
	test_member(&test_p[P_WRONG_KIND], 121, 21, KIND_PRIVATE, 1, test_gas);
	test_member(&test_p[P_OTHER], 130, 30, KIND_ESSENTIAL, 1, test_air);
	test_member(&test_p[P_INACTIVE], 140, 40, KIND_ESSENTIAL, 0, test_gas);
	test_member(&test_p[P_RED_USER], 100, 50, KIND_IMPORTANT, 1,
	    test_banking);
	test_member(&test_p[P_COLLEAGUE], 101, 50, KIND_IMPORTANT, 1,
	    test_banking);
	test_p[P_COLLEAGUE].role = ROLE_ORG_ADMIN;
	memset(&test_p[P_PUBLISHER], 0, sizeof test_p[P_PUBLISHER]);
	test_p[P_PUBLISHER].user_id = 1;
	test_p[P_PUBLISHER].role = ROLE_PUBLISHER;
	memset(&test_p[P_ADMIN], 0, sizeof test_p[P_ADMIN]);
	test_p[P_ADMIN].user_id = 2;
	test_p[P_ADMIN].role = ROLE_ADMIN;
}

static void
test_audience(struct audience *a, enum tlp tlp)
{
	memset(a, 0, sizeof *a);
	a->tlp = tlp;
	a->orgs = test_aud_orgs;
	a->n_orgs = 2;
	a->sectors = test_aud_sectors;
	a->n_sectors = 1;
	a->kinds = 1u << KIND_ESSENTIAL;
	a->users = test_aud_users;
	a->n_users = 1;
}

static void
test_table(void)
{
	struct audience	a;
	int		i, t, got;

	for (t = 0; t < TLP__COUNT; t++) {
		test_audience(&a, (enum tlp)t);
		for (i = 0; i < P__COUNT; i++) {
			got = tlp_may_see(&a, &test_p[i]);
			if (!CHECK(got == test_see[i][t]))
				printf("     may_see TLP:%s, %s: got %d\n",
				    tlp_name((enum tlp)t), test_pnames[i], got);
			got = tlp_targets(&a, &test_p[i]);
			if (!CHECK(got == test_targets[i][t]))
				printf("     targets TLP:%s, %s: got %d\n",
				    tlp_name((enum tlp)t), test_pnames[i], got);
		}
	}
}

static void
test_edges(void)
{
	struct audience		a;
	struct principal	p;
	char			*energy[] = { (char *)"energy" };
	char			*gas[] = { (char *)"energy.gas" };
	int64_t			 staff[] = { 1 };

	/* Without kinds, every kind in the sector is in the audience. */
	memset(&a, 0, sizeof a);
	a.tlp = TLP_AMBER;
	a.sectors = test_aud_sectors;
	a.n_sectors = 1;
	CHECK(tlp_may_see(&a, &test_p[P_WRONG_KIND]));
	CHECK(tlp_targets(&a, &test_p[P_WRONG_KIND]));
	CHECK(!tlp_may_see(&a, &test_p[P_BY_ID]));

	/* A sub-sector does not cover its sector. */
	test_member(&p, 200, 60, KIND_ESSENTIAL, 1, energy);
	a.sectors = gas;
	CHECK(!tlp_may_see(&a, &p));
	CHECK(!tlp_targets(&a, &p));
	a.sectors = energy;
	CHECK(tlp_may_see(&a, &p));

	/* Kinds narrow the sectors only, never the organisations by id. */
	memset(&a, 0, sizeof a);
	a.tlp = TLP_AMBER_STRICT;
	a.orgs = test_aud_orgs;
	a.n_orgs = 2;
	a.kinds = 1u << KIND_AUTHORITY;
	CHECK(tlp_may_see(&a, &test_p[P_BY_ID]));

	/* A member without an organisation is not in the community. */
	test_member(&p, 201, 0, KIND_ESSENTIAL, 1, energy);
	a.tlp = TLP_GREEN;
	CHECK(!tlp_may_see(&a, &p));

	/* The named RED user of an inactive organisation sees nothing. */
	test_member(&p, 100, 50, KIND_ESSENTIAL, 0, energy);
	test_audience(&a, TLP_RED);
	CHECK(!tlp_may_see(&a, &p));

	/* Staff named in a RED audience are targeted. */
	a.users = staff;
	CHECK(tlp_targets(&a, &test_p[P_PUBLISHER]));
	CHECK(!tlp_targets(&a, &test_p[P_ADMIN]));

	/* An anonymous principal is never targeted, even "user 0". */
	test_audience(&a, TLP_RED);
	CHECK(!tlp_targets(&a, &test_p[P_ANONYMOUS]));
	CHECK(!tlp_may_see(NULL, &test_p[P_ADMIN]));
	CHECK(!tlp_may_see(&a, NULL));

	/* An unknown label opens nothing but to staff. */
	a.tlp = (enum tlp)TLP__COUNT;
	CHECK(!tlp_may_see(&a, &test_p[P_RED_USER]));
	CHECK(tlp_may_see(&a, &test_p[P_ADMIN]));
}

static void
test_names(void)
{
	enum tlp	t;
	enum role	r;
	int		i;

	for (i = 0; i < TLP__COUNT; i++) {
		CHECK(tlp_parse(tlp_name((enum tlp)i), &t) == 0);
		CHECK(t == (enum tlp)i);
	}
	CHECK(tlp_parse("AMBER+STRICT", &t) == 0 && t == TLP_AMBER_STRICT);
	CHECK_STR_EQ(tlp_name(TLP_CLEAR), "CLEAR");
	CHECK_STR_EQ(tlp_name(TLP_AMBER_STRICT), "AMBER+STRICT");
	CHECK(tlp_parse("WHITE", &t) == -1);
	CHECK(tlp_parse("amber", &t) == -1);
	CHECK(tlp_parse("TLP:RED", &t) == -1);
	CHECK(tlp_parse("", &t) == -1);
	CHECK(tlp_parse(NULL, &t) == -1);

	CHECK(role_parse("admin", &r) == 0 && r == ROLE_ADMIN);
	CHECK(role_parse("publisher", &r) == 0 && r == ROLE_PUBLISHER);
	CHECK(role_parse("org-admin", &r) == 0 && r == ROLE_ORG_ADMIN);
	CHECK(role_parse("member", &r) == 0 && r == ROLE_MEMBER);
	CHECK(role_parse("anonymous", &r) == -1);
	CHECK(role_parse("root", &r) == -1);
	CHECK_STR_EQ(role_name(ROLE_ANONYMOUS), "anonymous");
	CHECK_STR_EQ(role_name(ROLE_ORG_ADMIN), "org-admin");
	CHECK(role_is_staff(ROLE_ADMIN));
	CHECK(role_is_staff(ROLE_PUBLISHER));
	CHECK(!role_is_staff(ROLE_ORG_ADMIN));
	CHECK(!role_is_staff(ROLE_MEMBER));
	CHECK(!role_is_staff(ROLE_ANONYMOUS));
}

static void
test_check(void)
{
	struct audience	 a;
	const char	*field;
	int64_t		 one[] = { 7 };
	char		*health[] = { (char *)"health" };
	int		 t;

	memset(&a, 0, sizeof a);
	for (t = 0; t < TLP__COUNT; t++) {
		a.tlp = (enum tlp)t;
		field = "unset";
		if (t == TLP_CLEAR || t == TLP_GREEN) {
			CHECK(tlp_audience_check(&a, &field) == 0);
			CHECK(field == NULL);
		} else if (t == TLP_RED) {
			CHECK(tlp_audience_check(&a, &field) == -1);
			CHECK_STR_EQ(field, "audience.users");
		} else {
			CHECK(tlp_audience_check(&a, &field) == -1);
			CHECK_STR_EQ(field, "audience");
		}
	}

	/* Kinds alone name nobody. */
	a.tlp = TLP_AMBER;
	a.kinds = 1u << KIND_ESSENTIAL;
	CHECK(tlp_audience_check(&a, &field) == -1);
	a.kinds = 0;
	a.orgs = one;
	a.n_orgs = 1;
	CHECK(tlp_audience_check(&a, &field) == 0);
	a.tlp = TLP_AMBER_STRICT;
	CHECK(tlp_audience_check(&a, &field) == 0);
	a.orgs = NULL;
	a.n_orgs = 0;
	a.sectors = health;
	a.n_sectors = 1;
	CHECK(tlp_audience_check(&a, &field) == 0);

	/* RED needs users: organisations and sectors are not enough. */
	a.tlp = TLP_RED;
	a.orgs = one;
	a.n_orgs = 1;
	CHECK(tlp_audience_check(&a, &field) == -1);
	CHECK_STR_EQ(field, "audience.users");
	a.users = one;
	a.n_users = 1;
	CHECK(tlp_audience_check(&a, &field) == 0);

	/* AMBER ignores users for visibility, so they do not fill it. */
	memset(&a, 0, sizeof a);
	a.tlp = TLP_AMBER;
	a.users = one;
	a.n_users = 1;
	CHECK(tlp_audience_check(&a, &field) == -1);
	CHECK_STR_EQ(field, "audience");
}

/* audience_from_json on text; returns its result and the field. */
static int
test_parse(const char *text, enum tlp tlp, const char **field)
{
	struct audience	 a;
	json_t		*j = NULL;
	json_error_t	 err;
	const char	*message;
	int		 rc;

	if (text != NULL && (j = json_loads(text, JSON_DECODE_ANY,
	    &err)) == NULL) {
		printf("     bad test JSON: %s\n", text);
		return (-2);
	}
	rc = audience_from_json(j, tlp, &a, field, &message);
	if (rc == -1) {
		CHECK(message != NULL && *field != NULL &&
		    strncmp(message, *field, strlen(*field)) == 0 &&
		    message[strlen(*field)] == ':');
		CHECK(a.orgs == NULL && a.sectors == NULL && a.users == NULL);
	} else
		CHECK(*field == NULL);
	audience_clear(&a);
	json_decref(j);
	return (rc);
}

static void
test_json(void)
{
	static const struct {
		const char	*text;
		enum tlp	 tlp;
		const char	*field;
	} bad[] = {
		{ "[]", TLP_AMBER, "audience" },
		{ "\"energy\"", TLP_GREEN, "audience" },
		{ "{\"orgs\":[1]}", TLP_AMBER, "audience.orgs" },
		{ "{\"organisations\":[1],\"x\":1}", TLP_AMBER, "audience.x" },
		{ NULL, TLP_AMBER, "audience" },
		{ "{}", TLP_AMBER_STRICT, "audience" },
		{ "{\"kinds\":[\"essential\"]}", TLP_AMBER, "audience" },
		{ "{\"organisations\":[],\"sectors\":[]}", TLP_AMBER,
		  "audience" },
		{ "{\"organisations\":1}", TLP_AMBER,
		  "audience.organisations" },
		{ "{\"organisations\":null}", TLP_AMBER,
		  "audience.organisations" },
		{ "{\"organisations\":[0]}", TLP_AMBER,
		  "audience.organisations" },
		{ "{\"organisations\":[-3]}", TLP_AMBER,
		  "audience.organisations" },
		{ "{\"organisations\":[\"3\"]}", TLP_AMBER,
		  "audience.organisations" },
		{ "{\"organisations\":[3.0]}", TLP_AMBER,
		  "audience.organisations" },
		{ "{\"organisations\":[true]}", TLP_AMBER,
		  "audience.organisations" },
		{ "{\"sectors\":\"energy\"}", TLP_AMBER, "audience.sectors" },
		{ "{\"sectors\":[1]}", TLP_AMBER, "audience.sectors" },
		{ "{\"sectors\":[\"energy.nuclear\"]}", TLP_AMBER,
		  "audience.sectors" },
		{ "{\"sectors\":[\"Energy\"]}", TLP_AMBER, "audience.sectors" },
		{ "{\"sectors\":[\"energy\"],\"kinds\":[\"large\"]}", TLP_AMBER,
		  "audience.kinds" },
		{ "{\"sectors\":[\"energy\"],\"kinds\":\"essential\"}",
		  TLP_AMBER, "audience.kinds" },
		{ "{\"sectors\":[\"energy\"],\"kinds\":[1]}", TLP_AMBER,
		  "audience.kinds" },
		{ "{\"users\":[\"x\"]}", TLP_RED, "audience.users" },
		{ "{\"users\":[0]}", TLP_RED, "audience.users" },
		{ "{\"users\":{}}", TLP_RED, "audience.users" },
		{ "{\"users\":[]}", TLP_RED, "audience.users" },
		{ "{\"organisations\":[4]}", TLP_RED, "audience.users" },
		{ NULL, TLP_RED, "audience.users" },
	};
	static const struct {
		const char	*text;
		enum tlp	 tlp;
	} good[] = {
		{ NULL, TLP_CLEAR },
		{ NULL, TLP_GREEN },
		{ "{}", TLP_GREEN },
		{ "{\"organisations\":[4]}", TLP_AMBER },
		{ "{\"sectors\":[\"energy.gas\"]}", TLP_AMBER_STRICT },
		{ "{\"users\":[9]}", TLP_RED },
		{ "{\"organisations\":[4],\"users\":[9]}", TLP_CLEAR },
	};
	const char	*field;
	size_t		 i;
	int		 rc;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		field = NULL;
		rc = test_parse(bad[i].text, bad[i].tlp, &field);
		if (!CHECK(rc == -1) || !CHECK_STR_EQ(field, bad[i].field))
			printf("     audience %s\n", bad[i].text ? bad[i].text :
			    "(absent)");
	}
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		if (!CHECK(test_parse(good[i].text, good[i].tlp, &field) == 0))
			printf("     audience %s field %s\n", good[i].text ?
			    good[i].text : "(absent)", field);
	}
}

static void
test_roundtrip(void)
{
	static const char	*text = "{\"organisations\":[4,5],"
	    "\"sectors\":[\"energy\",\"health\"],\"kinds\":[\"essential\","
	    "\"public\"],\"users\":[9]}";
	struct audience		 a;
	json_t			*j, *out, *empty;
	const char		*field, *message;
	char			*s;

	j = json_loads(text, 0, NULL);
	CHECK(audience_from_json(j, TLP_RED, &a, &field, &message) == 0);
	CHECK(a.tlp == TLP_RED);
	CHECK(a.n_orgs == 2 && a.orgs[0] == 4 && a.orgs[1] == 5);
	CHECK(a.n_sectors == 2);
	CHECK(a.kinds == ((1u << KIND_ESSENTIAL) | (1u << KIND_PUBLIC)));
	CHECK(a.n_users == 1 && a.users[0] == 9);
	out = audience_to_json(&a);
	CHECK(json_equal(j, out));
	json_decref(out);
	audience_clear(&a);
	CHECK(a.orgs == NULL && a.n_orgs == 0 && a.kinds == 0);
	json_decref(j);

	/* Always the four members, even when empty. */
	CHECK(audience_from_json(NULL, TLP_CLEAR, &a, &field, &message) == 0);
	out = audience_to_json(&a);
	s = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
	CHECK_STR_EQ(s, "{\"kinds\":[],\"organisations\":[],\"sectors\":[],"
	    "\"users\":[]}");
	free(s);
	empty = json_object();
	CHECK(!json_equal(out, empty));
	json_decref(empty);
	json_decref(out);
	audience_clear(&a);
}

static void
test_dup(void)
{
	struct principal	 p, *c;

	memset(&p, 0, sizeof p);
	p.user_id = 5;
	p.org_id = 6;
	p.role = ROLE_ORG_ADMIN;
	p.org_kind = KIND_AUTHORITY;
	p.org_active = 1;
	p.n_org_sectors = 2;
	p.org_sectors = xcalloc(2, sizeof *p.org_sectors);
	p.org_sectors[0] = xstrdup("energy.gas");
	p.org_sectors[1] = xstrdup("health");
	p.language = xstrdup("nl");

	c = principal_dup(&p);
	CHECK(c != &p && c->user_id == 5 && c->org_id == 6);
	CHECK(c->role == ROLE_ORG_ADMIN && c->org_kind == KIND_AUTHORITY);
	CHECK(c->org_active == 1 && c->n_org_sectors == 2);
	CHECK(c->org_sectors != p.org_sectors);
	CHECK_STR_EQ(c->org_sectors[1], "health");
	CHECK(c->language != p.language);
	CHECK_STR_EQ(c->language, "nl");
	principal_clear(&p);
	CHECK(p.org_sectors == NULL && p.language == NULL && p.user_id == 0);
	CHECK_STR_EQ(c->org_sectors[0], "energy.gas");
	principal_clear(c);
	free(c);

	memset(&p, 0, sizeof p);
	c = principal_dup(&p);
	CHECK(c->org_sectors == NULL && c->language == NULL);
	principal_clear(c);
	free(c);
	CHECK(principal_dup(NULL) == NULL);
}

int
main(void)
{
	test_setup();
	test_table();
	test_edges();
	test_names();
	test_check();
	test_json();
	test_roundtrip();
	test_dup();
	return (UNIT_DONE());
}
