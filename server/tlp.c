/*
 * tlp.c: THE rule of TLP.md. Given an item's label and audience and a
 * principal, decide whether the principal may see the content, and whether
 * the audience names it. Every path that reveals an item (REST, stream push
 * and replay, e-mail, webhooks, public pages, CSAF, delivery reports) asks
 * tlp_may_see(); nothing else decides. Also the audience's JSON form.
 */

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "tocsind.h"

static const char *const tlp_names[TLP__COUNT] = {
	[TLP_CLEAR] = "CLEAR",
	[TLP_GREEN] = "GREEN",
	[TLP_AMBER] = "AMBER",
	[TLP_AMBER_STRICT] = "AMBER+STRICT",
	[TLP_RED] = "RED",
};

static const char *const tlp_role_names[] = {
	[ROLE_ANONYMOUS] = "anonymous",
	[ROLE_MEMBER] = "member",
	[ROLE_ORG_ADMIN] = "org-admin",
	[ROLE_PUBLISHER] = "publisher",
	[ROLE_ADMIN] = "admin",
};
#define TLP_N_ROLES (sizeof tlp_role_names / sizeof tlp_role_names[0])

/* Parse a TLP 2.0 label as CONTRACT.md spells it; 0 or -1. */
int
tlp_parse(const char *s, enum tlp *tlp)
{
	int	i;

	if (s == NULL)
		return (-1);
	for (i = 0; i < TLP__COUNT; i++) {
		if (strcmp(s, tlp_names[i]) == 0) {
			*tlp = (enum tlp)i;
			return (0);
		}
	}
	return (-1);
}

/* The label without its "TLP:" prefix ("RED" if out of range). */
const char *
tlp_name(enum tlp tlp)
{
	/* An unknown label must never read as a weaker one. */
	if ((unsigned)tlp >= TLP__COUNT)
		return (tlp_names[TLP_RED]);
	return (tlp_names[tlp]);
}

/* Parse a role a user can hold ("anonymous" is not one); 0 or -1. */
int
role_parse(const char *s, enum role *role)
{
	size_t	i;

	if (s == NULL)
		return (-1);
	for (i = 0; i < TLP_N_ROLES; i++) {
		if (i == ROLE_ANONYMOUS)
			continue;
		if (strcmp(s, tlp_role_names[i]) == 0) {
			*role = (enum role)i;
			return (0);
		}
	}
	return (-1);
}

/* The name of a role. */
const char *
role_name(enum role role)
{
	if ((unsigned)role >= TLP_N_ROLES)
		return ("anonymous");
	return (tlp_role_names[role]);
}

/* Is this CSIRT staff, who see everything? */
int
role_is_staff(enum role role)
{
	return (role == ROLE_ADMIN || role == ROLE_PUBLISHER);
}

/* Does the principal belong to an organisation that is still active? */
static int
tlp_org_active(const struct principal *p)
{
	return (p->org_id != 0 && p->org_active);
}

/*
 * Is the principal's organisation in the audience: named by id, or one of
 * its sectors met by an audience sector (narrowed by kinds when given)?
 */
static int
tlp_org_in_audience(const struct audience *aud, const struct principal *p)
{
	size_t	i, j;

	if (p->org_id == 0)
		return (0);
	for (i = 0; i < aud->n_orgs; i++) {
		if (aud->orgs[i] == p->org_id)
			return (1);
	}
	if (aud->n_sectors == 0)
		return (0);
	if (aud->kinds != 0 && ((unsigned)p->org_kind >= KIND__COUNT ||
	    (aud->kinds & (1u << p->org_kind)) == 0))
		return (0);
	for (i = 0; i < aud->n_sectors; i++) {
		for (j = 0; j < p->n_org_sectors; j++) {
			if (sector_covers(aud->sectors[i], p->org_sectors[j]))
				return (1);
		}
	}
	return (0);
}

/* Is the principal's user named in the audience's users (RED only)? */
static int
tlp_user_named(const struct audience *aud, const struct principal *p)
{
	size_t	i;

	if (p->user_id == 0)
		return (0);
	for (i = 0; i < aud->n_users; i++) {
		if (aud->users[i] == p->user_id)
			return (1);
	}
	return (0);
}

/* May this principal see content carrying this label and audience? */
int
tlp_may_see(const struct audience *aud, const struct principal *p)
{
	if (aud == NULL || p == NULL)
		return (0);
	if (role_is_staff(p->role))
		return (1);
	if (aud->tlp == TLP_CLEAR)
		return (1);
	if (p->role == ROLE_ANONYMOUS || p->user_id == 0)
		return (0);

	switch (aud->tlp) {
	case TLP_GREEN:
		return (tlp_org_active(p));
	case TLP_AMBER:
	case TLP_AMBER_STRICT:
		return (tlp_org_active(p) && tlp_org_in_audience(aud, p));
	case TLP_RED:
		/*
		 * Named individuals only: neither the organisation nor the
		 * sectors in the audience open a RED item to anyone.
		 */
		return (tlp_org_active(p) && tlp_user_named(aud, p));
	default:
		return (0);
	}
}

/* Does the audience name the principal (its organisation, or it for RED)? */
int
tlp_targets(const struct audience *aud, const struct principal *p)
{
	if (aud == NULL || p == NULL)
		return (0);
	if (p->role == ROLE_ANONYMOUS || p->user_id == 0)
		return (0);
	if (tlp_org_in_audience(aud, p))
		return (1);
	return (aud->tlp == TLP_RED && tlp_user_named(aud, p));
}

/* 0 if the audience is acceptable for its label, else -1 and *field. */
int
tlp_audience_check(const struct audience *aud, const char **field)
{
	const char	*bad = NULL;

	switch (aud->tlp) {
	case TLP_AMBER:
	case TLP_AMBER_STRICT:
		if (aud->n_orgs == 0 && aud->n_sectors == 0)
			bad = "audience";
		break;
	case TLP_RED:
		if (aud->n_users == 0)
			bad = "audience.users";
		break;
	case TLP_CLEAR:
	case TLP_GREEN:
		break;
	default:
		bad = "tlp";
		break;
	}
	if (field != NULL)
		*field = bad;
	return (bad == NULL ? 0 : -1);
}

/*
 * Parse an advisory's "audience" member (NULL: absent) for label tlp into
 * out, then check it against the label. On error return -1 with *field the
 * offending member and *message a static "field: reason" sentence; out is
 * left empty.
 */
int
audience_from_json(json_t *obj, enum tlp tlp, struct audience *out,
    const char **field, const char **message)
{
	const char	*key, *f = NULL, *m = NULL;
	json_t		*v;
	char		**kinds = NULL;
	size_t		  i, n_kinds = 0;
	enum org_kind	  kind;

	memset(out, 0, sizeof *out);
	out->tlp = tlp;
	*field = NULL;
	*message = NULL;

	if (obj != NULL) {
		if (!json_is_object(obj)) {
			f = "audience";
			m = "audience: must be an object";
			goto fail;
		}
		json_object_foreach(obj, key, v) {
			if (strcmp(key, "organisations") != 0 &&
			    strcmp(key, "sectors") != 0 &&
			    strcmp(key, "kinds") != 0 &&
			    strcmp(key, "users") != 0) {
				/* Name the member; the caller copies it. */
				static __thread char uf[80], um[160];
				snprintf(uf, sizeof uf, "audience.%.60s", key);
				snprintf(um, sizeof um, "%s: unknown member "
				    "(allowed: organisations, sectors, kinds, "
				    "users)", uf);
				f = uf;
				m = um;
				goto fail;
			}
		}
		if (json_int_array(json_object_get(obj, "organisations"),
		    &out->orgs, &out->n_orgs) != 0) {
			f = "audience.organisations";
			m = "audience.organisations: must be an array of "
			    "organisation ids";
			goto fail;
		}
		if (json_string_array(json_object_get(obj, "sectors"),
		    &out->sectors, &out->n_sectors) != 0) {
			f = "audience.sectors";
			m = "audience.sectors: must be an array of sector "
			    "tags";
			goto fail;
		}
		for (i = 0; i < out->n_sectors; i++) {
			if (!sector_valid(out->sectors[i])) {
				f = "audience.sectors";
				m = "audience.sectors: unknown sector tag "
				    "(NIS2 tags like energy or energy.gas)";
				goto fail;
			}
		}
		if (json_string_array(json_object_get(obj, "kinds"), &kinds,
		    &n_kinds) != 0) {
			f = "audience.kinds";
			m = "audience.kinds: must be an array of "
			    "organisation kinds";
			goto fail;
		}
		for (i = 0; i < n_kinds; i++) {
			if (kind_parse(kinds[i], &kind) != 0) {
				f = "audience.kinds";
				m = "audience.kinds: each must be essential, "
				    "authority, important, private or public";
				goto fail;
			}
			out->kinds |= 1u << kind;
		}
		strv_free(kinds, n_kinds);
		kinds = NULL;
		if (json_int_array(json_object_get(obj, "users"), &out->users,
		    &out->n_users) != 0) {
			f = "audience.users";
			m = "audience.users: must be an array of user ids";
			goto fail;
		}
	}

	if (tlp_audience_check(out, &f) != 0) {
		if (strcmp(f, "audience.users") == 0)
			m = "audience.users: a TLP:RED item must name at "
			    "least one user";
		else if (strcmp(f, "audience") == 0)
			m = "audience: a TLP:AMBER or AMBER+STRICT item must "
			    "name organisations or sectors";
		else
			m = "tlp: not a TLP label";
		goto fail;
	}
	return (0);

fail:
	strv_free(kinds, n_kinds);
	audience_clear(out);
	*field = f;
	*message = m;
	return (-1);
}

/* The audience as JSON, always with its four members. */
json_t *
audience_to_json(const struct audience *aud)
{
	json_t	*o, *a;
	size_t	 i;
	int	 k;

	o = json_object();
	a = json_array();
	for (i = 0; i < aud->n_orgs; i++)
		json_array_append_new(a, json_integer(aud->orgs[i]));
	json_object_set_new(o, "organisations", a);
	a = json_array();
	for (i = 0; i < aud->n_sectors; i++)
		json_array_append_new(a, json_string(aud->sectors[i]));
	json_object_set_new(o, "sectors", a);
	a = json_array();
	for (k = 0; k < KIND__COUNT; k++) {
		if (aud->kinds & (1u << k))
			json_array_append_new(a,
			    json_string(kind_name((enum org_kind)k)));
	}
	json_object_set_new(o, "kinds", a);
	a = json_array();
	for (i = 0; i < aud->n_users; i++)
		json_array_append_new(a, json_integer(aud->users[i]));
	json_object_set_new(o, "users", a);
	return (o);
}

/* Free an audience's arrays and zero it. */
void
audience_clear(struct audience *aud)
{
	free(aud->orgs);
	strv_free(aud->sectors, aud->n_sectors);
	free(aud->users);
	memset(aud, 0, sizeof *aud);
}

/* Free a principal's sectors and language and zero it (not the struct). */
void
principal_clear(struct principal *p)
{
	strv_free(p->org_sectors, p->n_org_sectors);
	free(p->language);
	memset(p, 0, sizeof *p);
}

/* A deep copy of a principal; free with principal_clear() then free(). */
struct principal *
principal_dup(const struct principal *p)
{
	struct principal	*c;
	size_t			 i;

	if (p == NULL)
		return (NULL);
	c = xcalloc(1, sizeof *c);
	*c = *p;
	c->org_sectors = NULL;
	c->n_org_sectors = 0;
	if (p->n_org_sectors != 0) {
		c->org_sectors = xcalloc(p->n_org_sectors,
		    sizeof *c->org_sectors);
		for (i = 0; i < p->n_org_sectors; i++)
			c->org_sectors[i] = xstrdup(p->org_sectors[i]);
		c->n_org_sectors = p->n_org_sectors;
	}
	c->language = p->language != NULL ? xstrdup(p->language) : NULL;
	return (c);
}
