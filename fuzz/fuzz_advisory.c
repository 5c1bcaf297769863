/*
 * fuzz_advisory.c: JSON request bodies as http_json_body() parses them
 * (json_loadb, duplicates refused, objects only), then what the handlers
 * do with them: advisory_validate (POST/PUT /v1/advisories), the audience
 * for every label, a subscription filter (the body and its "filter"), and
 * a warning's head and observations (POST /v1/warnings).
 *
 * Beyond memory errors it checks what the code promises: a normalised
 * advisory validates again to itself; audiences and filters survive their
 * own JSON form; nobody anonymous or in an inactive organisation sees more
 * than CLEAR, and RED reaches only the users it names; every observation
 * and every batch part is JSON.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"

static struct assetmatch	*fuzz_m;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init();
	fuzz_m = fuzz_assets();
	return (0);
}

/* Is user u named in the audience? */
static int
fuzz_named(const struct audience *aud, int64_t u)
{
	size_t	i;

	for (i = 0; i < aud->n_users; i++) {
		if (aud->users[i] == u)
			return (1);
	}
	return (0);
}

/* The TLP.md rule's hard edges, for every principal. */
static void
fuzz_tlp(const struct audience *aud, const struct match_item *item)
{
	const struct principal	*p;
	size_t			 i;
	int			 see;

	for (i = 0; i < FUZZ_NPRINCIPALS; i++) {
		p = &fuzz_principals[i];
		see = tlp_may_see(aud, p);
		(void)tlp_targets(aud, p);
		if (role_is_staff(p->role))
			FUZZ_CHECK(see);
		else if (p->role == ROLE_ANONYMOUS || !p->org_active)
			FUZZ_CHECK(see == (aud->tlp == TLP_CLEAR));
		else if (aud->tlp == TLP_RED)
			FUZZ_CHECK(see == fuzz_named(aud, p->user_id));
	}
	(void)item;
}

static void
fuzz_audience_roundtrip(const struct audience *aud)
{
	struct audience	 again;
	const char	*field, *message;
	json_t		*j, *k;

	j = audience_to_json(aud);
	FUZZ_CHECK(audience_from_json(j, aud->tlp, &again, &field,
	    &message) == 0);
	k = audience_to_json(&again);
	FUZZ_CHECK(json_equal(j, k));
	json_decref(j);
	json_decref(k);
	audience_clear(&again);
}

static void
fuzz_advisory(json_t *v)
{
	struct field_error	 err;
	struct audience		 aud, aud2;
	struct match_item	 item;
	json_t			*norm, *norm2, *scope;

	memset(&err, 0, sizeof err);
	if (advisory_validate(v, 65536, &norm, &aud, &err) != 0) {
		/* Refused: a field and a message, NUL-terminated. */
		FUZZ_CHECK(norm == NULL);
		FUZZ_CHECK(memchr(err.field, '\0', sizeof err.field) != NULL);
		FUZZ_CHECK(err.message[0] != '\0');
		return;
	}
	FUZZ_CHECK(tlp_audience_check(&aud, NULL) == 0);

	/* The normal form is a fixed point (what a revision starts from). */
	FUZZ_CHECK(advisory_validate(norm, 65536, &norm2, &aud2, &err) == 0);
	FUZZ_CHECK(json_equal(norm, norm2));
	json_decref(norm2);
	audience_clear(&aud2);

	fuzz_audience_roundtrip(&aud);
	scope = advisory_scope_element(norm);
	match_item_from_json(scope, &item);
	fuzz_tlp(&aud, &item);
	match_item_free_arrays(&item);
	json_decref(scope);
	audience_clear(&aud);
	json_decref(norm);
}

/* The body as an audience, for each label (advisories and warnings). */
static void
fuzz_audiences(json_t *v)
{
	struct audience	 aud;
	const char	*field, *message;
	int		 t;

	for (t = 0; t < TLP__COUNT; t++) {
		if (audience_from_json(v, (enum tlp)t, &aud, &field,
		    &message) != 0) {
			FUZZ_CHECK(field != NULL && message != NULL);
			continue;
		}
		FUZZ_CHECK(tlp_audience_check(&aud, NULL) == 0);
		fuzz_audience_roundtrip(&aud);
		fuzz_tlp(&aud, NULL);
		audience_clear(&aud);
	}
}

/* The body as a subscription filter, matched against the body as an item. */
static void
fuzz_filter(json_t *v, json_t *itemv)
{
	struct filter		 f, g;
	struct match_item	 item;
	char			*cause;
	json_t			*j, *k;

	if (filter_from_json(v, &f, &cause) != 0) {
		FUZZ_CHECK(cause != NULL);
		free(cause);
		return;
	}
	FUZZ_CHECK(cause == NULL);
	j = filter_to_json(&f);
	FUZZ_CHECK(filter_from_json(j, &g, &cause) == 0);
	k = filter_to_json(&g);
	FUZZ_CHECK(json_equal(j, k));
	match_item_from_json(itemv, &item);
	FUZZ_CHECK(match_filter(&f, &item) == match_filter(&g, &item));
	match_item_free_arrays(&item);
	json_decref(j);
	json_decref(k);
	filter_clear(&f);
	filter_clear(&g);
}

/* POST /v1/warnings: head, observations, attribution, the batch. */
static void
fuzz_warning(json_t *v)
{
	static const char *const names[] = { "title", "description",
	    "category", "tlp", "severity" };
	struct warning_head	 h;
	struct field_error	 err;
	struct warning_key	 k;
	struct warning_batch	*b;
	struct wbuf		 obs;
	const char		*tlp = NULL, *sev = NULL, **dst[5];
	json_t			*list, *o, *j;
	size_t			 i;
	int64_t			 org;

	memset(&h, 0, sizeof h);
	dst[0] = &h.title;
	dst[1] = &h.description;
	dst[2] = &h.category;
	dst[3] = &tlp;
	dst[4] = &sev;
	for (i = 0; i < 5; i++) {
		if (json_get_string(v, names[i], dst[i]) < 0)
			*dst[i] = NULL;
	}
	if (h.title == NULL)
		h.title = "t";		/* reach the observations anyway */
	if (warning_head_check(&h, tlp, sev, &err) != 0)
		return;
	list = json_object_get(v, "observations");
	if (!json_is_array(list))
		return;
	memset(&obs, 0, sizeof obs);
	b = warning_batch_new(1024);	/* the smallest part: split often */
	json_array_foreach(list, i, o) {
		obs.len = 0;
		if (warning_obs_from_json(o, i, &k, &obs, &err) != 0)
			continue;
		j = json_loadb(obs.p, obs.len, 0, NULL);
		FUZZ_CHECK(json_is_object(j));
		json_decref(j);
		if ((org = warning_attribute(fuzz_m, &k)) != 0)
			warning_batch_add(b, org, obs.p, obs.len);
	}
	warning_batch_finish(b);
	for (i = 0; i < b->n_parts; i++) {
		j = json_loadb(b->parts[i].obs.p, b->parts[i].obs.len, 0,
		    NULL);
		FUZZ_CHECK(json_is_array(j));
		FUZZ_CHECK(json_array_size(j) == b->parts[i].count);
		json_decref(j);
	}
	warning_batch_free(b);
	wbuf_free(&obs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t		*v;
	json_error_t	 jerr;

	v = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (v == NULL)
		return (0);
	/* http_json_body() hands handlers objects only. */
	if (json_is_object(v)) {
		fuzz_advisory(v);
		fuzz_audiences(v);
		fuzz_audiences(json_object_get(v, "audience"));
		fuzz_filter(v, v);
		fuzz_filter(json_object_get(v, "filter"), v);
		fuzz_warning(v);
	}
	json_decref(v);
	return (0);
}
