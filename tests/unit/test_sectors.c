/*
 * test_sectors.c: the NIS2 tags of SECTORS.md, sector coverage, the
 * organisation kinds and their priority; then the small utilities
 * (xmalloc.c, log.c) the rest builds on.
 */

#include <stdlib.h>
#include <string.h>

#include "tocsind.h"
#include "unit.h"

static void
test_tags(void)
{
	static const char *const good[] = {
		"energy", "energy.electricity", "energy.district-heating",
		"energy.oil", "energy.gas", "energy.hydrogen",
		"transport", "transport.air", "transport.rail",
		"transport.water", "transport.road",
		"banking", "financial-market-infrastructure", "health",
		"drinking-water", "waste-water", "digital-infrastructure",
		"ict-service-management", "public-administration", "space",
		"postal-courier", "waste-management", "chemicals", "food",
		"manufacturing", "manufacturing.medical-devices",
		"manufacturing.electronics",
		"manufacturing.electrical-equipment",
		"manufacturing.machinery", "manufacturing.motor-vehicles",
		"manufacturing.other-transport",
		"digital-providers", "research",
	};
	static const char *const bad[] = {
		"", ".", "energy.", ".gas", "gas", "energy.nuclear",
		"Energy", "ENERGY", "energy.Gas", " energy", "energy ",
		"energy.gas.lng", "energy..gas", "banking.retail",
		"health.hospitals", "transport.space", "finance",
		"manufacturing.food", "energy,gas", "energy/gas",
		"nuclear", "ict", "digital",
	};
	size_t	i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		if (!CHECK(sector_valid(good[i])))
			printf("     valid: %s\n", good[i]);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (!CHECK(!sector_valid(bad[i])))
			printf("     refused: \"%s\"\n", bad[i]);
	}
	CHECK(!sector_valid(NULL));
}

static void
test_covers(void)
{
	CHECK(sector_covers("energy", "energy"));
	CHECK(sector_covers("energy", "energy.gas"));
	CHECK(sector_covers("energy.gas", "energy.gas"));
	CHECK(!sector_covers("energy.gas", "energy"));
	CHECK(!sector_covers("energy.gas", "energy.oil"));
	CHECK(!sector_covers("energy", "transport"));
	CHECK(!sector_covers("waste", "waste-water"));
	CHECK(!sector_covers("waste-water", "waste-management"));
	CHECK(!sector_covers("transport", "transport-air"));
	CHECK(!sector_covers("health", "healthcare"));
	CHECK(!sector_covers(NULL, "energy"));
	CHECK(!sector_covers("energy", NULL));
}

static void
test_kinds(void)
{
	static const char *const names[KIND__COUNT] = {
		"essential", "authority", "important", "private", "public"
	};
	enum org_kind	k;
	int		i;

	for (i = 0; i < KIND__COUNT; i++) {
		CHECK(kind_parse(names[i], &k) == 0);
		CHECK(k == (enum org_kind)i);
		CHECK_STR_EQ(kind_name((enum org_kind)i), names[i]);
	}
	CHECK(kind_parse("Essential", &k) == -1);
	CHECK(kind_parse("large", &k) == -1);
	CHECK(kind_parse("", &k) == -1);
	CHECK(kind_parse(NULL, &k) == -1);
	CHECK_STR_EQ(kind_name(KIND__COUNT), "unknown");

	CHECK_INT_EQ(kind_priority(KIND_ESSENTIAL), 0);
	CHECK_INT_EQ(kind_priority(KIND_AUTHORITY), 1);
	CHECK_INT_EQ(kind_priority(KIND_IMPORTANT), 2);
	CHECK_INT_EQ(kind_priority(KIND_PRIVATE), 3);
	CHECK_INT_EQ(kind_priority(KIND_PUBLIC), 3);
	CHECK(kind_priority(KIND_ESSENTIAL) < kind_priority(KIND_AUTHORITY));
	CHECK(kind_priority(KIND_AUTHORITY) < kind_priority(KIND_IMPORTANT));
	CHECK(kind_priority(KIND_IMPORTANT) < kind_priority(KIND_PRIVATE));
}

static void
test_utilities(void)
{
	enum log_level	 l;
	char		*s;
	void		*p;

	CHECK(log_parse_level("error", &l) == 0 && l == LOG_LEVEL_ERROR);
	CHECK(log_parse_level("warn", &l) == 0 && l == LOG_LEVEL_WARN);
	CHECK(log_parse_level("info", &l) == 0 && l == LOG_LEVEL_INFO);
	CHECK(log_parse_level("debug", &l) == 0 && l == LOG_LEVEL_DEBUG);
	CHECK(log_parse_level("verbose", &l) == -1);
	CHECK(log_parse_level(NULL, &l) == -1);
	log_init(LOG_LEVEL_ERROR, "test_sectors");
	log_info("not shown at level error");
	log_set_level(LOG_LEVEL_WARN);
	log_reopen();

	CHECK_INT_EQ(xasprintf(&s, "%s-%d", "CCB", 42), 6);
	CHECK_STR_EQ(s, "CCB-42");
	free(s);
	s = xstrndup("energy.gas", 6);
	CHECK_STR_EQ(s, "energy");
	free(s);
	s = xstrndup("oil", 10);
	CHECK_STR_EQ(s, "oil");
	free(s);
	s = xstrdup("");
	CHECK_STR_EQ(s, "");
	free(s);
	p = xmalloc(0);
	CHECK(p != NULL);
	p = xrealloc(p, 100);
	CHECK(p != NULL);
	free(p);
	p = xcalloc(0, 8);
	CHECK(p != NULL);
	free(p);
}

int
main(void)
{
	test_tags();
	test_covers();
	test_kinds();
	test_utilities();
	return (UNIT_DONE());
}
