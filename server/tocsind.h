/*
 * tocsind.h: the map of the daemon. One section per file, in the order a
 * request travels: configuration and logging, the database, the pure rules
 * (sectors, TLP, matching), the stores, HTTP and its resources, the stream.
 */
#ifndef TOCSIND_H
#define TOCSIND_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <jansson.h>
#include <libpq-fe.h>

#define TOCSIN_VERSION_STRING PACKAGE_VERSION

/* Hard ceilings that no configuration can raise. */
#define TOCSIN_MAX_LIST_LIMIT	200
#define TOCSIN_TOKEN_BYTES	32	/* random bytes in an API token */
#define TOCSIN_TOKEN_PREFIX	"tcs_"
#define TOCSIN_NOTIFY_EVENTS	"tocsin_events"
#define TOCSIN_NOTIFY_PRINCIPALS "tocsin_principals"

/* xmalloc.c: allocation that aborts on exhaustion (inputs are bounded first). */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 xvasprintf(char **, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));

/* log.c: leveled logging to stderr; never pass secrets or e-mail addresses. */
enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG };
void	 log_init(enum log_level, const char *);
void	 log_set_level(enum log_level);
int	 log_parse_level(const char *, enum log_level *);
void	 log_reopen(void);
void	 log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* config.c: tocsind.yaml, every key of CONTRACT.md, validated with lines. */
struct config {
	char	*path;
	char	*listen_http;		/* "host:port" */
	char	*listen_ws;
	char	*tls_cert;		/* NULL: plain */
	char	*tls_key;
	char	*database;		/* libpq connection string */
	char	*public_url;
	char	*advisory_id_prefix;
	char	*smtp_url;
	int	 smtp_starttls;
	char	*smtp_from;
	char	*smtp_username;
	char	*smtp_password_file;
	char	*smime_cert;
	char	*smime_key;
	int	 webhooks_timeout_s;
	int	 webhooks_allow_private_networks;
	size_t	 max_body_bytes;
	size_t	 ws_send_queue_bytes;
	int	 retention_deliveries_days;
	char	*templates;
	enum log_level log_level;
	int	 http_threads;		/* libmicrohttpd worker threads */
	int	 db_pool_size;		/* connections for the REST threads */
	int	 stream_ring_events;	/* recent events kept in memory */
	int	 ws_auth_timeout_s;
	int	 ws_ping_interval_s;
	/* Added for the outbox (parsed by config.c once its table has them). */
	char	*key_file;		/* 32-byte server key; made if absent */
	char	*webhooks_signing_key;	/* Ed25519 PEM; made if absent */
	char	**webhooks_allow;	/* CIDRs allowed despite the guard */
	size_t	 n_webhooks_allow;
	int	 webhooks_per_endpoint;	/* concurrent requests per endpoint */
	int	 deliver_concurrency;	/* requests in flight per worker */
};
/* Parse PATH into a new config; on error return NULL and set *causes to a
 * newline-separated list of "FILE:LINE: message" (caller frees). */
struct config	*config_load(const char *, char **);
struct config	*config_parse_string(const char *, const char *, size_t,
		    char **);
void		 config_free(struct config *);

/* db.c: libpq connections, the REST pool, migrations, LISTEN/NOTIFY. */
int	 db_pool_init(const char *, int);
void	 db_pool_shutdown(void);
PGconn	*db_acquire(void);		/* NULL when PostgreSQL is unreachable */
void	 db_release(PGconn *);
PGconn	*db_connect(const char *, char **);
int	 db_ping(PGconn *);
int	 db_migrate(PGconn *, const char *, char **);
int	 db_begin(PGconn *);
int	 db_commit(PGconn *);
void	 db_rollback(PGconn *);
/* Run a parameterised statement; on failure log and return NULL. */
PGresult *db_exec(PGconn *, const char *, int, const char *const *);
int	 db_exec_ok(PGconn *, const char *, int, const char *const *);
int	 db_conn_broken(PGconn *);
const char *db_schema_dir(void);

/* sectors.c: the NIS2 sector tags and organisation kinds. */
enum org_kind { KIND_ESSENTIAL, KIND_AUTHORITY, KIND_IMPORTANT, KIND_PRIVATE,
    KIND_PUBLIC, KIND__COUNT };
int		 sector_valid(const char *);
/* Does a filter/audience tag cover an organisation's or item's tag? */
int		 sector_covers(const char *, const char *);
int		 kind_parse(const char *, enum org_kind *);
const char	*kind_name(enum org_kind);
int		 kind_priority(enum org_kind);

/* tlp.c: THE rule of TLP.md. Every path that reveals an item calls it. */
enum tlp { TLP_CLEAR, TLP_GREEN, TLP_AMBER, TLP_AMBER_STRICT, TLP_RED,
    TLP__COUNT };
enum role { ROLE_ANONYMOUS, ROLE_MEMBER, ROLE_ORG_ADMIN, ROLE_PUBLISHER,
    ROLE_ADMIN };
struct principal {
	int64_t		 user_id;	/* 0: anonymous */
	int64_t		 org_id;	/* 0: none (CSIRT staff) */
	enum role	 role;
	enum org_kind	 org_kind;
	int		 org_active;
	char		**org_sectors;
	size_t		 n_org_sectors;
	char		*language;
};
/* Who an item revision is for: its label and audience (TLP.md). */
struct audience {
	enum tlp	 tlp;
	int64_t		*orgs;
	size_t		 n_orgs;
	char		**sectors;
	size_t		 n_sectors;
	unsigned	 kinds;		/* bit per enum org_kind; 0: any */
	int64_t		*users;
	size_t		 n_users;
};
int		 tlp_parse(const char *, enum tlp *);
const char	*tlp_name(enum tlp);
int		 role_parse(const char *, enum role *);
const char	*role_name(enum role);
int		 role_is_staff(enum role);
/* May this principal see content carrying this label and audience? */
int		 tlp_may_see(const struct audience *, const struct principal *);
/* Does the audience name the principal (its organisation, or it for RED)? */
int		 tlp_targets(const struct audience *, const struct principal *);
/* 0 if the audience is acceptable for its label, else -1 and *field. */
int		 tlp_audience_check(const struct audience *, const char **);
int		 audience_from_json(json_t *, enum tlp, struct audience *,
		    const char **, const char **);
json_t		*audience_to_json(const struct audience *);
void		 audience_clear(struct audience *);
void		 principal_clear(struct principal *);
struct principal *principal_dup(const struct principal *);

/* match.c: subscription filters (CONTRACT.md, "Subscription filter"). */
enum severity { SEV_LOW, SEV_MEDIUM, SEV_HIGH, SEV_CRITICAL, SEV__COUNT };
int		 severity_parse(const char *, enum severity *);
const char	*severity_name(enum severity);
struct filter {
	char		**sectors;
	size_t		 n_sectors;
	int		 min_severity;	/* -1: any */
	char		**keywords;
	size_t		 n_keywords;
	char		**cves;
	size_t		 n_cves;
	char		**products;
	size_t		 n_products;
};
/* What a filter looks at in an item. */
struct match_item {
	const char	*title;
	const char	*summary;
	int		 severity;	/* enum severity, -1 none */
	const char	*const *sectors;
	size_t		 n_sectors;
	const char	*const *cves;
	size_t		 n_cves;
	const char	*const *products;
	size_t		 n_products;
};
int	 filter_from_json(json_t *, struct filter *, char **);
json_t	*filter_to_json(const struct filter *);
void	 filter_clear(struct filter *);
int	 match_filter(const struct filter *, const struct match_item *);
void	 match_item_from_json(json_t *, struct match_item *);
void	 match_item_free_arrays(struct match_item *);

/* token.c: API tokens: generation, hashing, constant-time comparison. */
char	*token_generate(void);
void	 token_hash(const char *, unsigned char[32]);
int	 token_equal(const unsigned char *, const unsigned char *, size_t);
int	 token_looks_valid(const char *);

/* http.c: libmicrohttpd set-up, routing table, bodies, problem+json. */
struct MHD_Connection;
#define HTTP_MAX_PARAMS 4
struct req {
	struct MHD_Connection	*mc;
	const char		*method;
	const char		*path;
	char			*params[HTTP_MAX_PARAMS];	/* '*' captures */
	size_t			 n_params;
	const char		*body;
	size_t			 body_len;
	struct principal	*who;	/* never NULL; role ANONYMOUS if no token */
	PGconn			*db;	/* acquired before the handler runs */
	/* The answer, filled by http_reply_* / http_problem. */
	unsigned		 status;
	char			*out;
	size_t			 out_len;
	const char		*out_type;
	char			*out_location;
	int			 answered;
};
typedef void	(*http_handler_cb)(struct req *);
int		 http_start(const struct config *);
void		 http_stop(void);
/* The configuration in force (set by http_start, swapped on SIGHUP). */
const struct config *http_config(void);
void		 http_set_config(const struct config *);
struct sockaddr_storage;
int		 http_parse_listen(const char *, struct sockaddr_storage *,
		    unsigned int *);
/* Reply with a JSON value (stolen). */
void		 http_reply_json(struct req *, unsigned, json_t *);
void		 http_reply_text(struct req *, unsigned, const char *,
		    const char *);
/* Reply with RFC 9457 problem+json; field names the offending member. */
void		 http_problem(struct req *, unsigned, const char *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
const char	*http_query(struct req *, const char *);
/* The parsed JSON object body, or NULL after replying 400/415. */
json_t		*http_json_body(struct req *);
/* 1 if the principal has one of the roles (bit per enum role), else replies
 * 401 (anonymous) or 403 and returns 0. */
int		 http_require_roles(struct req *, unsigned);
#define ROLEBIT(r)	(1u << (r))
#define ROLES_STAFF	(ROLEBIT(ROLE_ADMIN) | ROLEBIT(ROLE_PUBLISHER))
#define ROLES_USERS	(ROLES_STAFF | ROLEBIT(ROLE_ORG_ADMIN) | \
			 ROLEBIT(ROLE_MEMBER))
/* Parse a positive int64 path/query id; 0 if not one. */
int64_t		 http_parse_id(const char *);

/* auth.c: bearer token -> principal. */
/* Look up a token; 0 and fill the principal, -1 unknown/revoked, -2 db. */
int		 auth_principal_by_token(PGconn *, const char *,
		    struct principal *);
int		 auth_principal_by_user(PGconn *, int64_t, struct principal *);

/* The REST resources: each file registers its routes. */
struct route {
	const char	*method;
	const char	*pattern;	/* '*' matches one path segment */
	http_handler_cb	 cb;
	int		 flags;
};
#define HTTP_ROUTE_NO_DB	0x1	/* handler copes with r->db == NULL */
extern const struct route api_health_routes[];
extern const struct route api_organisations_routes[];
extern const struct route api_users_routes[];
extern const struct route api_tokens_routes[];
extern const struct route api_advisories_routes[];
extern const struct route api_subscriptions_routes[];

/* stream.c: the WebSocket listener (libwebsockets, its own thread). */
int		 stream_start(const struct config *);
void		 stream_stop(void);

/*
 * stream.c, streamdb.c: the stream's two threads. stream.c (libwebsockets)
 * never waits on PostgreSQL; streamdb.c (its database thread) loads events
 * and runs jobs for it. Jobs and results travel as streamdb_msg through two
 * locked queues, in order. An event is serialised once and refcounted;
 * once handed to the stream thread only that thread touches its count.
 */
struct stream_event;
struct stream_conn;
enum streamdb_type {
	STREAMDB_AUTH,		/* job: token -> principal, ws filters */
	STREAMDB_REPLAY,	/* job: events after a cursor */
	STREAMDB_RELOAD,	/* job: a connected user's principal again */
	STREAMDB_HEAD,		/* result: the last event id at start-up */
	STREAMDB_EVENTS,	/* result: newly committed events, in order */
	STREAMDB_NOTICE,	/* result: principals changed ('u', 'o', '*') */
};
struct streamdb_msg {
	enum streamdb_type	 type;
	struct streamdb_msg	*next;
	struct stream_conn	*conn;		/* stream.c's; opaque here */
	uint64_t		 gen;		/* stream.c's replay generation */
	/* Arguments. */
	char			*token;		/* AUTH; wiped once used */
	int64_t			 id;		/* REPLAY cursor, RELOAD user,
						   HEAD id, NOTICE user/org */
	size_t			 max_bytes;	/* REPLAY: batch byte budget */
	char			 notice;	/* NOTICE: 'u', 'o' or '*' */
	/* Results. */
	int			 status;	/* 0; -1 refused; -2 database;
						   -3 cancelled at shutdown */
	struct principal	*principal;	/* AUTH, RELOAD */
	struct filter		*filters;	/* the user's ws filters */
	size_t			 n_filters;
	unsigned char		 hash[32];	/* AUTH: the token's SHA-256 */
	unsigned char		(*hashes)[32];	/* RELOAD: live token hashes */
	size_t			 n_hashes;
	struct stream_event	**events;	/* REPLAY, EVENTS: one ref each */
	size_t			 n_events;
	int64_t			 last_id;	/* REPLAY, EVENTS: last id read
						   (0: no row) */
	int64_t			 purged_before;	/* REPLAY: event_horizon */
};
/* Build an event from its row; NULL if it cannot be (logged). Any thread. */
struct stream_event *stream_event_new(int64_t, const char *, const char *,
		    const char *, const char *);
void		 stream_event_unref(struct stream_event *);
int64_t		 stream_event_id(const struct stream_event *);
/* TLP.md "What is pushed": is the event pushed to this principal, given
 * its ws subscription filters? Live push and replay both ask this. */
int		 stream_event_wanted(const struct stream_event *,
		    const struct principal *, const struct filter *, size_t);
/* streamdb.c: start with a libpq conninfo and a thread-safe wake-up. */
int		 streamdb_start(const char *, void (*)(void));
void		 streamdb_stop(void);
/* Queue a job (taken over); its result comes back through streamdb_take. */
void		 streamdb_submit(struct streamdb_msg *);
/* Every waiting result, oldest first, as a list linked by next. */
struct streamdb_msg *streamdb_take(void);
struct streamdb_msg *streamdb_msg_new(enum streamdb_type);
/* Free a message and what its results still hold (not conn). */
void		 streamdb_msg_free(struct streamdb_msg *);

/* advisory.c: the advisory document: validation, normal form, scope. */
struct advisory_error {
	char	field[64];
	char	message[320];
};
int	 advisory_validate(json_t *, size_t, json_t **, struct audience *,
	    struct advisory_error *);
int	 advisory_cve_normalise(const char *, char *, size_t);
json_t	*advisory_scope_element(json_t *);
/* Is S an RFC 3339 date-time (or a plain YYYY-MM-DD date)? */
int	 advisory_timestamp_ok(const char *);

/* store_events.c: the event log (insert under the ordering lock, NOTIFY). */
int64_t	 store_events_insert(PGconn *, const char *, const char *,
	    const char *, int, const char *, json_t *, json_t *);

/* store_advisories.c: SQL of advisories and their revisions. */
struct advisory_row {
	int64_t		 num;
	char		*id;
	char		*status;
	int		 revision;	/* latest */
	int		 shown;		/* the revision loaded in doc */
	char		*published_at;
	char		*updated_at;	/* of the shown revision */
	json_t		*doc;
	struct audience	 latest;	/* audience of the latest revision */
	struct audience	 aud;		/* audience of the shown revision */
};
struct advisory_query {
	int64_t		 cursor;	/* 0: from the newest */
	const char	*since;
	const char	*sector;
	const char	*tlp;
	int		 min_severity;	/* -1: any */
	const char	*cve;
	const char	*q;
	int		 limit;
	char		 cve_buf[32];
};
void	 store_advisories_row_free(struct advisory_row *);
json_t	*store_advisories_json(const struct advisory_row *, int,
	    const char *);
int	 store_advisories_create(PGconn *, const char *, int64_t, json_t *,
	    const struct audience *, const char *, struct advisory_row *,
	    int64_t *);
/* Load one advisory (revision 0: latest): 0, -1 not found, -2 db error. */
int	 store_advisories_get(PGconn *, const char *, int,
	    struct advisory_row *);
int	 store_advisories_list(PGconn *, const struct advisory_query *,
	    const struct principal *, struct advisory_row **, size_t *,
	    int64_t *);
/* 0 done, -1 not found, -2 db error, -3 revoked (conflict). */
int	 store_advisories_revise(PGconn *, const char *, int64_t, json_t *,
	    const struct audience *, const char *, struct advisory_row *,
	    int64_t *);
int	 store_advisories_revoke(PGconn *, const char *, int64_t,
	    struct advisory_row *, int64_t *);

/* store_organisations.c: organisations (docs/API.md "Organisations"). */
#define TOCSIN_STORE_NOT_FOUND	(-2)	/* no such (active) row */
#define TOCSIN_STORE_CONFLICT	(-3)	/* a unique name is taken */
struct organisation {
	int64_t		 id;
	char		*name;
	enum org_kind	 kind;
	char		**sectors;
	size_t		 n_sectors;
	char		*contact_email;	/* NULL: none */
	int		 active;
	char		*created_at;	/* RFC 3339, UTC */
	char		*updated_at;
};
int	 store_organisations_insert(PGconn *, struct organisation *);
int	 store_organisations_get(PGconn *, int64_t, int,
	    struct organisation *);
int	 store_organisations_list(PGconn *, int64_t, int64_t, int,
	    struct organisation **, size_t *);
int	 store_organisations_update(PGconn *, struct organisation *);
int	 store_organisations_deactivate(PGconn *, int64_t);
int	 store_organisations_notify(PGconn *, int64_t);
void	 store_organisations_clear(struct organisation *);

/* store_users.c: users, and "tocsind bootstrap-admin". */
struct user {
	int64_t		 id;
	int64_t		 organisation_id;	/* 0: none (CSIRT staff) */
	char		*name;
	char		*email;		/* NULL: none */
	enum role	 role;
	char		*language;
	char		*smime_cert;	/* PEM; NULL: none */
	char		*created_at;	/* RFC 3339, UTC */
};
int	 store_users_insert(PGconn *, struct user *);
int	 store_users_get(PGconn *, int64_t, int, struct user *);
int	 store_users_list(PGconn *, int64_t, int64_t, int, struct user **,
	    size_t *);
int	 store_users_update(PGconn *, struct user *);
int	 store_users_delete(PGconn *, int64_t);
int	 store_users_other_admins(PGconn *, int64_t, int64_t *);
int	 store_users_of_org(PGconn *, int64_t, int64_t **, size_t *);
int	 store_users_notify(PGconn *, int64_t);
int	 store_users_bootstrap_admin(PGconn *, const char *, char **,
	    char **);
void	 store_users_clear(struct user *);

/* store_tokens.c: API tokens; only their SHA-256 is stored. */
struct token_record {
	int64_t		 id;
	int64_t		 user_id;
	char		*created_at;	/* RFC 3339, UTC */
	char		*last_used_at;	/* NULL: never */
	char		*revoked_at;	/* NULL: live */
};
int	 store_tokens_insert(PGconn *, int64_t, struct token_record *,
	    char **);
int	 store_tokens_list(PGconn *, int64_t, int64_t, int,
	    struct token_record **, size_t *);
int	 store_tokens_revoke(PGconn *, int64_t, int64_t);
void	 store_tokens_clear(struct token_record *);

/* store_subscriptions.c: what each user asked to be sent, and where. */
struct subscription {
	int64_t		 id;
	int64_t		 user_id;
	int64_t		 organisation_id;	/* the owner's; 0: none */
	char		*name;
	json_t		*filter;	/* as given, validated */
	json_t		*channels;	/* array of channel strings */
	char		*digest;	/* "immediate" or "daily@HH:MM" */
};
int	 store_subscriptions_insert(PGconn *, struct subscription *);
int	 store_subscriptions_get(PGconn *, int64_t, struct subscription *);
int	 store_subscriptions_list(PGconn *, int64_t, int64_t, int64_t, int,
	    struct subscription **, size_t *);
int	 store_subscriptions_delete(PGconn *, int64_t);
int	 store_subscriptions_for_user(PGconn *, int64_t, const char *,
	    struct filter **, size_t *);
void	 store_subscriptions_clear(struct subscription *);

/* api_organisations.c: also the helpers every REST resource shares. */
int	 api_check_members(struct req *, json_t *, const char *const *);
int	 api_list_args(struct req *, int64_t *, int *);
void	 api_reply_list(struct req *, json_t *, int64_t);
void	 api_reply_created(struct req *, const char *, int64_t, json_t *);
void	 api_db_failed(struct req *);
const char *api_string(json_t *);
int	 api_valid_name(const char *);
int	 api_valid_email(const char *);

/* json_util.c: small helpers over jansson for validation. */
/* Is the member absent, or present with the type? (-1 wrong type) */
int		 json_get_string(json_t *, const char *, const char **);
int		 json_string_array(json_t *, char ***, size_t *);
int		 json_int_array(json_t *, int64_t **, size_t *);
void		 strv_free(char **, size_t);
char		*pg_text_array(char *const *, size_t);
char		*pg_int_array(const int64_t *, size_t);
int		 pg_parse_text_array(const char *, char ***, size_t *);
int		 pg_parse_int_array(const char *, int64_t **, size_t *);

#endif /* TOCSIND_H */
