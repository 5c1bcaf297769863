/*
 * api_audience.c: POST /v1/advisories/preview-audience (publishers): how
 * many organisations and people an advisory with this label and audience
 * would reach, before it is published. The body is {tlp, audience} as in an
 * advisory (other members of a draft are ignored); the audience is checked
 * as publishing would check it, so a preview that answers 422 names what
 * publishing would refuse. The counts come from tlp_may_see(), the rule
 * delivery follows (store_web.c); CSIRT staff, who see everything, are
 * not counted.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

static void	api_audience_preview_cb(struct req *);

/* Before api_advisories.c's "/v1/advisories/ *" matches no POST. */
const struct route api_audience_routes[] = {
	{ "POST", "/v1/advisories/preview-audience", api_audience_preview_cb,
	  0 },
	{ NULL, NULL, NULL, 0 }
};

static void
api_audience_preview_cb(struct req *r)
{
	struct audience	 aud;
	json_t		*body, *v;
	const char	*field, *message;
	enum tlp	 tlp;
	int64_t		 orgs, people;

	if (!http_require_roles(r, ROLEBIT(ROLE_PUBLISHER) |
	    ROLEBIT(ROLE_ADMIN)))
		return;
	if ((body = http_json_body(r)) == NULL)
		return;
	v = json_object_get(body, "tlp");
	if (!json_is_string(v) || tlp_parse(json_string_value(v), &tlp) != 0) {
		http_problem(r, 422, "tlp", "tlp: must be one of CLEAR, GREEN, "
		    "AMBER, AMBER+STRICT, RED");
		json_decref(body);
		return;
	}
	if (audience_from_json(json_object_get(body, "audience"), tlp, &aud,
	    &field, &message) != 0) {
		http_problem(r, 422, field, "%s", message);
		json_decref(body);
		return;
	}
	json_decref(body);
	if (store_web_audience_count(r->db, &aud, &orgs, &people) != 0)
		api_db_failed(r);
	else
		http_reply_json(r, 200, json_pack("{s:s, s:I, s:I, s:b}",
		    "tlp", tlp_name(tlp), "organisations", (json_int_t)orgs,
		    "people", (json_int_t)people, "public", tlp == TLP_CLEAR));
	audience_clear(&aud);
}
