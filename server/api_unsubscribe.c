/*
 * api_unsubscribe.c: the one-click unsubscribe of e-mail (RFC 8058),
 * without login. The link of a mail's List-Unsubscribe header is
 * public_url/unsubscribe?t=TOKEN, the token naming a user and the
 * subscriptions that made the mail and carrying an HMAC (mail.c).
 *
 *   POST /unsubscribe?t=TOKEN   (body "List-Unsubscribe=One-Click", as
 *                                mail clients send it, or the page's form)
 *        -> removes "email" from those subscriptions; 200 with a page
 *   GET  /unsubscribe?t=TOKEN   -> a page with a button that POSTs: a GET
 *        changes nothing, since link checkers fetch every URL of a mail
 *
 * A token that is not one answers 400; one whose HMAC does not verify
 * (forged, or made with another server key) 403. Both change nothing.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tocsind.h"

/* Check the token of R; 0 and what it names, or -1 after answering. */
static int
api_unsubscribe_token(struct req *r, int64_t *user, int64_t **subs,
    size_t *n)
{
	int	rc;

	rc = mail_unsub_verify(http_query(r, "t"), user, subs, n);
	if (rc == -1) {
		http_problem(r, 400, "t", "t is not an unsubscribe token");
		return (-1);
	}
	if (rc != 0) {
		http_problem(r, 403, "t", "the unsubscribe token does not "
		    "verify");
		return (-1);
	}
	return (0);
}

/* Answer with templates/email/<lang>/unsubscribe.html in STATE. */
static void
api_unsubscribe_page(struct req *r, int64_t user, const char *state,
    int changed)
{
	struct render_opts	 o = { RENDER_HTML, 0, 0, NULL, NULL };
	struct user		 u;
	const struct config	*cfg = http_config();
	json_t			*ctx;
	const char		*lang = "en", *dir = render_dir(cfg);
	char			*out = NULL, *cause = NULL, *name, *action;
	char			*path;
	int			 have;

	have = store_users_get(r->db, user, 0, &u) == 0;
	if (have && u.language != NULL)
		lang = u.language;
	xasprintf(&action, "/unsubscribe?t=%s", http_query(r, "t"));
	ctx = json_pack("{s:s, s:s, s:i, s:s, s:{s:b}, s:{s:b}}", "lang",
	    lang, "action", action, "changed", changed, "portal_url",
	    cfg->public_url, "state_is", state, 1, "lang_is", lang, 1);
	free(action);
	xasprintf(&name, "email/%s/unsubscribe.html", lang);
	xasprintf(&path, "%s/%s", dir, name);
	if (access(path, R_OK) != 0) {
		free(name);
		name = xstrdup("email/en/unsubscribe.html");
	}
	free(path);
	if (render_file(dir, name, ctx, &o, &out, NULL, &cause) != 0) {
		log_error("unsubscribe: %s", cause);
		free(cause);
		http_reply_text(r, 200, "text/plain; charset=utf-8",
		    strcmp(state, "done") == 0 ? "You are unsubscribed.\n" :
		    "POST to this address to unsubscribe.\n");
	} else {
		http_reply_text(r, 200, "text/html; charset=utf-8", out);
		free(out);
	}
	free(name);
	json_decref(ctx);
	if (have)
		store_users_clear(&u);
}

/* GET: what the link would do, and a button to do it. */
static void
api_unsubscribe_get(struct req *r)
{
	int64_t	 user, *subs;
	size_t	 n;

	if (api_unsubscribe_token(r, &user, &subs, &n) != 0)
		return;
	free(subs);
	api_unsubscribe_page(r, user, "confirm", 0);
}

/* POST: one click, no login: the e-mail channel goes. */
static void
api_unsubscribe_post(struct req *r)
{
	int64_t	 user, *subs;
	size_t	 n;
	int	 changed;

	if (api_unsubscribe_token(r, &user, &subs, &n) != 0)
		return;
	changed = store_email_unsubscribe(r->db, user, subs, n);
	free(subs);
	if (changed < 0) {
		api_db_failed(r);
		return;
	}
	log_info("unsubscribe: user %" PRId64 ": e-mail removed from %d "
	    "subscriptions", user, changed);
	api_unsubscribe_page(r, user, "done", changed);
}

const struct route api_unsubscribe_routes[] = {
	{ "GET", "/unsubscribe", api_unsubscribe_get, 0 },
	{ "POST", "/unsubscribe", api_unsubscribe_post, 0 },
	{ NULL, NULL, NULL, 0 }
};
