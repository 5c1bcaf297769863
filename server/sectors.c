/*
 * sectors.c: the NIS2 sector tags of SECTORS.md (Directive (EU) 2022/2555,
 * Annexes I and II) and the organisation kinds with their delivery priority.
 * Pure tables: the TLP rule, the filters and the API validation use them.
 */

#include <string.h>

#include "tocsind.h"

struct sectors_entry {
	const char		*tag;
	const char *const	*subs;	/* NULL-terminated, or NULL */
};

static const char *const sectors_energy[] = { "electricity",
    "district-heating", "oil", "gas", "hydrogen", NULL };
static const char *const sectors_transport[] = { "air", "rail", "water",
    "road", NULL };
static const char *const sectors_manufacturing[] = { "medical-devices",
    "electronics", "electrical-equipment", "machinery", "motor-vehicles",
    "other-transport", NULL };

static const struct sectors_entry sectors_table[] = {
	/* Annex I: sectors of high criticality. */
	{ "energy", sectors_energy },
	{ "transport", sectors_transport },
	{ "banking", NULL },
	{ "financial-market-infrastructure", NULL },
	{ "health", NULL },
	{ "drinking-water", NULL },
	{ "waste-water", NULL },
	{ "digital-infrastructure", NULL },
	{ "ict-service-management", NULL },
	{ "public-administration", NULL },
	{ "space", NULL },
	/* Annex II: other critical sectors. */
	{ "postal-courier", NULL },
	{ "waste-management", NULL },
	{ "chemicals", NULL },
	{ "food", NULL },
	{ "manufacturing", sectors_manufacturing },
	{ "digital-providers", NULL },
	{ "research", NULL },
};

static const char *const sectors_kind_names[KIND__COUNT] = {
	[KIND_ESSENTIAL] = "essential",
	[KIND_AUTHORITY] = "authority",
	[KIND_IMPORTANT] = "important",
	[KIND_PRIVATE] = "private",
	[KIND_PUBLIC] = "public",
};

/* Is this a known sector tag or "sector.sub" sub-sector tag? */
int
sector_valid(const char *tag)
{
	const struct sectors_entry	*e;
	const char			*dot, *sub;
	size_t				 i, len, j;

	if (tag == NULL)
		return (0);
	dot = strchr(tag, '.');
	len = dot != NULL ? (size_t)(dot - tag) : strlen(tag);
	for (i = 0; i < sizeof sectors_table / sizeof sectors_table[0]; i++) {
		e = &sectors_table[i];
		if (strlen(e->tag) != len || strncmp(e->tag, tag, len) != 0)
			continue;
		if (dot == NULL)
			return (1);
		if (e->subs == NULL)
			return (0);
		sub = dot + 1;
		for (j = 0; e->subs[j] != NULL; j++) {
			if (strcmp(e->subs[j], sub) == 0)
				return (1);
		}
		return (0);
	}
	return (0);
}

/* The I-th top-level sector tag, in SECTORS.md's order; NULL past the end
 * (the web's forms list them). */
const char *
sector_top(size_t i)
{
	if (i >= sizeof sectors_table / sizeof sectors_table[0])
		return (NULL);
	return (sectors_table[i].tag);
}

/* Does a filter/audience tag cover an organisation's or item's tag? */
int
sector_covers(const char *filter, const char *tag)
{
	size_t	len;

	if (filter == NULL || tag == NULL)
		return (0);
	len = strlen(filter);
	if (strncmp(filter, tag, len) != 0)
		return (0);
	return (tag[len] == '\0' || tag[len] == '.');
}

/* Parse an organisation kind; 0 or -1. */
int
kind_parse(const char *s, enum org_kind *kind)
{
	int	i;

	if (s == NULL)
		return (-1);
	for (i = 0; i < KIND__COUNT; i++) {
		if (strcmp(s, sectors_kind_names[i]) == 0) {
			*kind = (enum org_kind)i;
			return (0);
		}
	}
	return (-1);
}

/* The name of an organisation kind ("unknown" if out of range). */
const char *
kind_name(enum org_kind kind)
{
	if ((unsigned)kind >= KIND__COUNT)
		return ("unknown");
	return (sectors_kind_names[kind]);
}

/* Delivery class: 0 essential, 1 authority, 2 important, 3 the rest. */
int
kind_priority(enum org_kind kind)
{
	switch (kind) {
	case KIND_ESSENTIAL:
		return (0);
	case KIND_AUTHORITY:
		return (1);
	case KIND_IMPORTANT:
		return (2);
	default:
		return (3);
	}
}
