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
	int	 stream_threads;	/* 0: one per CPU */
	int	 ws_auth_timeout_s;
	int	 ws_ping_interval_s;
	/* Added for the outbox (parsed by config.c once its table has them). */
	char	*key_file;		/* 32-byte server key; made if absent */
	char	*webhooks_signing_key;	/* Ed25519 PEM; made if absent */
	char	**webhooks_allow;	/* CIDRs allowed despite the guard */
	size_t	 n_webhooks_allow;
	int	 webhooks_per_endpoint;	/* concurrent requests per endpoint */
	int	 deliver_concurrency;	/* requests in flight per worker */
	/* Running it for real (tls.c, priv.c). */
	char	*public_stream_url;	/* NULL: derived from listen.ws */
	char	*user;			/* started as root, become this */
	/* Operations (metrics.c, ratelimit.c, audit.c, retention.c). */
	char	*metrics_listen;	/* NULL: /metrics on listen.http */
	int	 retention_audit_days;
	int	 limits_rate_per_token;	/* requests per second; 0: none */
	int	 limits_burst_per_token;
	int	 limits_rate_per_address;
	int	 limits_burst_per_address;
	char	**http_trusted_proxies;	/* CIDRs whose X-Forwarded-For counts */
	size_t	 n_http_trusted_proxies;
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
PGresult *db_exec_unique(PGconn *, const char *, int,
	    const char *const *, int *);
int	 db_exec_ok(PGconn *, const char *, int, const char *const *);
PGresult *db_exec_id(PGconn *, const char *, int64_t);
int	 db_conn_broken(PGconn *);
const char *db_schema_dir(void);

/* sectors.c: the NIS2 sector tags and organisation kinds. */
enum org_kind { KIND_ESSENTIAL, KIND_AUTHORITY, KIND_IMPORTANT, KIND_PRIVATE,
    KIND_PUBLIC, KIND__COUNT };
int		 sector_valid(const char *);
/* Does a filter/audience tag cover an organisation's or item's tag? */
int		 sector_covers(const char *, const char *);
const char	*sector_top(size_t);
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
#define HTTP_MAX_HEADERS 12
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
	/* For the web (web*.c): extra answer headers; http_call()'s body and
	 * query, used instead of the connection's. */
	char			*out_hdrs[HTTP_MAX_HEADERS][2];
	size_t			 n_out_hdrs;
	json_t			*json_in;
	const char *const	*query_in;	/* key, value, ..., NULL */
};
typedef void	(*http_handler_cb)(struct req *);
/* Bind listen.http (before privileges are dropped); http_start() calls
 * it if not. */
int		 http_listen(const struct config *);
int		 http_start(const struct config *);
void		 http_stop(void);
/* The configuration in force (set by http_start, swapped on SIGHUP). */
const struct config *http_config(void);
void		 http_set_config(const struct config *);
struct sockaddr_storage;
int		 http_bind(const char *, const char *, int);
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
/* The web's hooks: another header on the answer; an answer of LEN bytes
 * (stolen); a REST route run in-process as R's principal on R's connection
 * (the status; *answer its JSON, or NULL). */
void		 http_add_header(struct req *, const char *, const char *);
void		 http_reply_data(struct req *, unsigned, const char *, char *,
		    size_t);
unsigned	 http_call(struct req *, const char *, const char *,
		    const char *const *, json_t *, json_t **);

/* auth.c: bearer token -> principal. */
/* Look up a token; 0 and fill the principal, -1 unknown/revoked, -2 db. */
int		 auth_principal_by_token(PGconn *, const char *,
		    struct principal *);
int		 auth_principal_by_user(PGconn *, int64_t, struct principal *);
/* An API token or a web stream ticket (the stream only). */
int		 auth_principal_by_stream_token(PGconn *, const char *,
		    struct principal *);

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
extern const struct route api_webhooks_routes[];
extern const struct route api_deliveries_routes[];
extern const struct route api_assets_routes[];
extern const struct route api_warnings_routes[];

/* wsframe.c: a server's text frame header, written once per event. */
#define WSFRAME_HEADER_MAX	10
size_t		 wsframe_text_header(unsigned char *, uint64_t);

/* stream.c: the WebSocket listener (libwebsockets, its own thread). */
/* Bind (before privileges are dropped); stream_start() calls it if not. */
int		 stream_listen(const struct config *);
int		 stream_start(const struct config *);
void		 stream_stop(void);
/* A client message, parsed apart from any connection (and fuzzed so). */
enum stream_msg_type { STREAM_MSG_MALFORMED, STREAM_MSG_UNKNOWN,
    STREAM_MSG_AUTH, STREAM_MSG_RESUME };
struct stream_client_msg {
	enum stream_msg_type	 type;
	json_t			*json;		/* owns token */
	const char		*token;		/* AUTH: NULL if none */
	int64_t			 since;		/* RESUME: -1 if not valid */
};
int		 stream_parse_client_message(const char *, size_t,
		    struct stream_client_msg *);
void		 stream_client_msg_clear(struct stream_client_msg *);

/*
 * stream.c, streamdb.c: the stream's threads. stream.c's shards (one
 * libwebsockets context and thread each) never wait on PostgreSQL;
 * streamdb.c (their database thread) loads events and runs jobs for them.
 * Jobs and results travel as streamdb_msg through locked queues, in order,
 * one queue of results per shard. An event is serialised once and shared
 * by every shard; its count is atomic.
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
	size_t			 shard;		/* whose job or result */
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
void		 stream_event_ref(struct stream_event *);
void		 stream_event_unref(struct stream_event *);
void		 stream_event_set_created(struct stream_event *, int64_t);
/* TLP.md "What is pushed": is the event pushed to this principal, given
 * its ws subscription filters? Live push and replay both ask this. */
int		 stream_event_wanted(const struct stream_event *,
		    const struct principal *, const struct filter *, size_t);
/* streamdb.c: start with a libpq conninfo, the number of shards and a
 * thread-safe wake-up of one shard. */
int		 streamdb_start(const char *, size_t, void (*)(size_t));
void		 streamdb_stop(void);
void		 streamdb_free(void);
/* Queue a job (taken over); its result comes back through streamdb_take. */
void		 streamdb_submit(struct streamdb_msg *);
/* Every waiting result, oldest first, as a list linked by next. */
struct streamdb_msg *streamdb_take(size_t);
struct streamdb_msg *streamdb_msg_new(enum streamdb_type);
/* Free a message and what its results still hold (not conn). */
void		 streamdb_msg_free(struct streamdb_msg *);

/* advisory.c: the advisory document: validation, normal form, scope. */
/* What a validator refused: the field (as the API names it) and why. */
struct field_error {
	char	field[64];
	char	message[320];
};
int	 advisory_validate(json_t *, size_t, json_t **, struct audience *,
	    struct field_error *);
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
/* A user's own data as JSON (GET /v1/users/{id}/export): 0, NOT_FOUND, -1. */
int	 store_users_export(PGconn *, int64_t, json_t **);
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
/*
 * Answer one page of a list: V (an array of N rows with an "id", fetched
 * with LIMIT + 1 so that a row past the page says there is a next one)
 * shown with TO_JSON, each row freed with CLEAR, then V. The cursor of
 * the next page is the id of the page's last row.
 */
#define API_REPLY_PAGE(r, v, n, limit, to_json, clear) do {		\
	json_t	*items_ = json_array();					\
	int64_t	 next_ = 0;						\
	size_t	 n_ = (n), i_;						\
									\
	if (n_ > (size_t)(limit)) {					\
		next_ = (v)[(limit) - 1].id;				\
		for (i_ = (size_t)(limit); i_ < n_; i_++)		\
			clear(&(v)[i_]);				\
		n_ = (size_t)(limit);					\
	}								\
	for (i_ = 0; i_ < n_; i_++) {					\
		json_array_append_new(items_, to_json(&(v)[i_]));	\
		clear(&(v)[i_]);					\
	}								\
	free(v);							\
	api_reply_list((r), items_, next_);				\
} while (0)
void	 api_reply_created(struct req *, const char *, int64_t, json_t *);
void	 api_db_failed(struct req *);
const char *api_string(json_t *);
int	 api_valid_name(const char *);
int	 api_valid_email(const char *);

/* secretbox.c: the server key; AES-256-GCM for secrets at rest. */
#define TOCSIN_KEY_FILE_DEFAULT	"/var/lib/tocsin/server.key"
#define TOCSIN_WEBHOOK_SECRET_PREFIX "whsec_"
#define TOCSIN_WEBHOOK_SECRET_BYTES 32
int	 secretbox_init(const char *, char **);
int	 secretbox_key_file_new(const char *, int *, char **);
void	 secretbox_shutdown(void);
void	 secretbox_set_key(const unsigned char[32]);
/* A key for another purpose derived from the server key; 0 or -1. */
int	 secretbox_derive(const char *, unsigned char[32]);
int	 secretbox_seal(const char *, const void *, size_t, unsigned char **,
	    size_t *);
char	*secretbox_open(const char *, const unsigned char *, size_t,
	    size_t *);
/* Seal a string as a bytea parameter ("\x..."); open a bytea column. */
char	*secretbox_seal_pg(const char *, const char *);
char	*secretbox_open_pg(const char *, const char *);
/* Wipe and free a secret (length 0: a string). */
void	 secretbox_free(char *, size_t);
char	*secretbox_webhook_secret(void);

/* sign.c: Standard Webhooks signatures (v1 HMAC, v1a Ed25519), base64. */
#define TOCSIN_SIGNING_KEY_DEFAULT "/var/lib/tocsin/webhook-ed25519.pem"
int		 sign_init(const char *, char **);
void		 sign_shutdown(void);
const char	*sign_public_key_b64(void);
const char	*sign_public_key_pem(void);
char		*sign_base64_encode(const void *, size_t);
int		 sign_base64_decode(const char *, unsigned char **, size_t *);
int		 sign_secret_bytes(const char *, unsigned char **, size_t *);
char		*sign_v1(const char *, const char *, const char *,
		    const char *, size_t);
char		*sign_v1a(const char *, const char *, const char *, size_t);
/* The webhook-signature value (secret, old secret or NULL, id, ts, body). */
char		*sign_header(const char *, const char *, const char *,
		    const char *, const char *, size_t);

/* ssrf.c: which addresses a webhook may reach (webhooks.allow*). */
enum ssrf_class { SSRF_PUBLIC, SSRF_LOOPBACK, SSRF_PRIVATE, SSRF_LINK_LOCAL,
    SSRF_MULTICAST, SSRF_UNSPECIFIED, SSRF_RESERVED };
struct sockaddr;
enum ssrf_class	 ssrf_classify(const struct sockaddr *);
const char	*ssrf_class_name(enum ssrf_class);
int		 ssrf_cidr_valid(const char *);
/* 1 if allowed, else 0 and a reason ("10.0.0.1 is a private address"). */
int		 ssrf_address_allowed(const struct config *,
		    const struct sockaddr *, char *, size_t);
/* Scheme, host, resolution: 0, or -1 and *cause ("url: ..."). */
int		 ssrf_check_url(const struct config *, const char *, char **);

/* store_webhooks.c: webhook endpoints; secrets sealed by secretbox.c. */
#define TOCSIN_WEBHOOKS_PER_ORG	100
#define TOCSIN_WEBHOOK_GRACE_DEFAULT 86400
#define TOCSIN_WEBHOOK_GRACE_MAX (7 * 86400)
struct webhook {
	int64_t		 id;
	int64_t		 organisation_id;
	char		*url;
	char		*format;	/* json, splunk-hec, ecs */
	int		 targeted;
	int		 active;
	char		*disabled_reason;	/* NULL: none */
	char		*old_secret_until;	/* NULL: no rotation pending */
	int		 has_splunk_token;
	char		*created_at;	/* RFC 3339, UTC */
	char		*updated_at;
};
/* What the worker needs to send to one endpoint (secrets in clear). */
struct webhook_target {
	int64_t		 id;
	int64_t		 organisation_id;
	char		*url;
	char		*format;
	int		 active;	/* endpoint and organisation */
	char		*secret;
	char		*old_secret;	/* NULL outside a grace period */
	char		*splunk_token;	/* NULL: none */
	struct principal org;		/* the organisation as a recipient */
};
int	 store_webhooks_insert(PGconn *, struct webhook *, const char *,
	    const char *);
/* Load one (org 0: any organisation's): 0, TOCSIN_STORE_NOT_FOUND, -1. */
int	 store_webhooks_get(PGconn *, int64_t, int64_t, struct webhook *);
int	 store_webhooks_list(PGconn *, int64_t, int64_t, int,
	    struct webhook **, size_t *);
int	 store_webhooks_count(PGconn *, int64_t, int64_t *);
/* Write url, format, targeted, active; token: NULL keep, "" clear. */
int	 store_webhooks_update(PGconn *, struct webhook *, const char *);
int	 store_webhooks_delete(PGconn *, int64_t);
int	 store_webhooks_rotate(PGconn *, int64_t, const char *, int,
	    struct webhook *);
int	 store_webhooks_targets(PGconn *, const int64_t *, size_t,
	    struct webhook_target **, size_t *);
void	 store_webhooks_target_clear(struct webhook_target *);
json_t	*store_webhooks_json(const struct webhook *);
void	 store_webhooks_clear(struct webhook *);
/* The organisation as a recipient (webhooks, its security contact). */
#define TOCSIN_PRINCIPAL_ORGANISATION	(-1)	/* user_id: no person */
int	 store_webhooks_org_principal(struct principal *, int64_t,
	    const char *, int, const char *);

/* store_outbox.c: the delivery outbox that webhooks and e-mail share. */
#define TOCSIN_NOTIFY_OUTBOX	"tocsin_outbox"
#define TOCSIN_OUTBOX_ATTEMPTS	8	/* the first and 7 retries */
#define TOCSIN_OUTBOX_RESPONSE_BYTES 512
/* An event's scope, parsed once: per element its audience and filter view. */
struct outbox_element {
	int		 valid;		/* audience parsed; else never shown */
	struct audience	 aud;
	struct match_item item;
};
struct outbox_scope {
	json_t			*json;	/* owns the strings items borrow */
	struct outbox_element	*v;
	size_t			 n;
};
int	 store_outbox_scope_parse(json_t *, struct outbox_scope *);
void	 store_outbox_scope_clear(struct outbox_scope *);
/* Is some element visible to the principal (never RED without a user)? */
int	 store_outbox_scope_visible(const struct outbox_scope *,
	    const struct principal *);
/* Visible AND (targeted and named, or one of the filters matches)? */
int	 store_outbox_scope_wants(const struct outbox_scope *,
	    const struct principal *, int, const struct filter *, size_t);
/* One planned delivery; the planner of each channel adds its own. */
struct outbox_recipient {
	const char	*channel;	/* "webhook", "email" */
	int64_t		 organisation_id;	/* 0: none */
	int64_t		 webhook_id;	/* 0: none */
	int64_t		 user_id;	/* 0: none */
	int		 to_contact;	/* organisation's security contact */
	int		 priority;	/* kind_priority() */
};
struct outbox_plan {
	struct outbox_recipient	*v;
	size_t			 n;
	size_t			 cap;
	int64_t			*dig_users;	/* e-mail digests instead */
	double			*dig_due;	/* epoch seconds */
	size_t			 ndig;
	double			 dig_planned;
};
void	 store_outbox_plan_add(struct outbox_plan *,
	    const struct outbox_recipient *);
/* Ids of the only organisations that may see the scope, or NULL. */
char	*store_outbox_named_only(const struct outbox_scope *);
/* In the publishing transaction: one delivery per recipient; count or -1. */
int	 store_outbox_plan(PGconn *, int64_t, const char *, json_t *);
int	 store_outbox_plan_compute(PGconn *, const char *, json_t *,
	    struct outbox_plan *);
int	 store_outbox_plan_write(PGconn *, int64_t, const struct outbox_plan *);
json_t	*store_outbox_plan_json(const struct outbox_plan *);
void	 store_outbox_plan_clear(struct outbox_plan *);

/* One advisory to publish, with its results (publish.c). */
struct publish_item {
	int64_t			 publisher;	/* user id */
	json_t			*doc;		/* normalised, with audience */
	const struct audience	*aud;
	json_t			*scope;		/* the event's */
	struct outbox_plan	 plan;		/* planned before, written in */
	char			 client[64];	/* audit: client address */
	int			 rc;		/* 0, -1 failed, -2 db away */
	char			*id;		/* PREFIX-YYYY-NNNN */
	int64_t			 num;
	int64_t			 event_id;
	char			*published_at;
	struct publish_item	*next;		/* publish.c's queue */
	int			 state;
};
int	 store_advisories_publish(PGconn *, const char *, const char *,
	    struct publish_item **, size_t);

/* publish.c: publishing in groups, one transaction per group. */
int	 publish_advisory(PGconn *, struct publish_item *);
void	 publish_item_clear(struct publish_item *);

int	 store_outbox_enqueue_test(PGconn *, const struct outbox_recipient *,
	    json_t *, int64_t *);
/* A claimed delivery: the row and what it carries. */
struct outbox_claim {
	int64_t		 id;
	char		*channel;
	int64_t		 event_id;	/* 0: payload delivery (test) */
	int64_t		 organisation_id;
	int64_t		 webhook_id;
	int64_t		 user_id;
	int		 to_contact;
	int		 priority;
	char		*msg_id;
	int		 attempt;	/* this attempt's number, from 1 */
	json_t		*payload;	/* NULL unless event_id is 0 */
	char		*created_at;	/* RFC 3339, UTC */
};
/* Due rows of a channel, in priority order, capped per endpoint. */
int	 store_outbox_claim(PGconn *, const char *, int, int, const int64_t *,
	    const int *, size_t, int, struct outbox_claim **, size_t *);
void	 store_outbox_claim_clear(struct outbox_claim *);
/* Leases that ran out (a crashed worker) go back to pending; count or -1. */
int	 store_outbox_requeue_expired(PGconn *);
/* Delivered; retry later; failed for good; 410 (disable the endpoint);
 * cancelled unsent (endpoint off, item no longer visible). */
enum outbox_outcome { OUTBOX_DELIVERED, OUTBOX_RETRY, OUTBOX_FAILED,
    OUTBOX_GONE, OUTBOX_CANCELLED };
struct outbox_result {
	int64_t		 delivery_id;
	int		 attempt;
	const char	*channel;
	int64_t		 webhook_id;
	enum outbox_outcome outcome;
	int		 status;	/* protocol status; 0 none */
	const char	*error;		/* NULL: none */
	const char	*response;	/* first bytes of the answer, or NULL */
	int64_t		 retry_after_s;	/* seconds the peer asked, or 0 */
	int64_t		 started_at;	/* Unix time, microseconds */
	int		 duration_ms;
	const char	*report;	/* e-mail failed: "address" or
					   "certificate" (store_email_report) */
};
int	 store_outbox_record(PGconn *, const struct outbox_result *, size_t);
/* Give claimed rows back untried (shutdown): state pending, attempt undone. */
int	 store_outbox_release(PGconn *, const int64_t *, const int *, size_t);
/* A page of a delivery log: an endpoint's, or an item's events'. */
struct outbox_query {
	int64_t		 webhook_id;	/* 0: any */
	const char	*item_kind;	/* with item_id: "advisory" */
	const char	*item_id;	/* NULL: any */
	const char	*state;		/* NULL: any */
	int64_t		 cursor;	/* 0: newest */
	int		 limit;
	int		 with_response;	/* include last_response */
};
int	 store_outbox_list(PGconn *, const struct outbox_query *, json_t **,
	    int64_t *);
int	 store_outbox_retry(PGconn *, int64_t, int64_t);
/* Delay before attempt N+1 after N failed, in seconds (with jitter). */
double	 store_outbox_retry_delay(int);
/* Counters since start and the queue's depth, as Prometheus text. */
struct outbox_metrics {
	uint64_t	 attempts[2];	/* per channel: webhook, email */
	uint64_t	 failures[2];	/* attempts that did not deliver */
	uint64_t	 failed[2];	/* deliveries given up */
	uint64_t	 delivered[2];
	uint64_t	 disabled;	/* endpoints disabled by 410 */
};
void	 store_outbox_metrics_get(struct outbox_metrics *);
int	 store_outbox_metrics_text(PGconn *, char **);

/* webhook.c: one webhook request: the body of each format, the headers. */
struct webhook_event {
	const char	*type;		/* advisory.published, webhook.test */
	int64_t		 event_id;	/* 0: none */
	const char	*tlp;
	json_t		*data;
	const char	*timestamp;	/* RFC 3339 */
	int64_t		 time;		/* Unix seconds of timestamp */
};
/* The body for FORMAT (json, splunk-hec, ecs), compact; NULL if unknown. */
char	*webhook_render(const char *, const struct webhook_event *,
	    const char *);
/* The request headers (curl list) for a rendered body. */
struct curl_slist *webhook_headers(const struct webhook_target *,
	    const char *, int64_t, const char *, size_t);

/* deliver.c: the outbox worker thread (libcurl multi). */
/* Load the server and signing keys, set up libcurl; 0 or -1 (logged). */
int	 deliver_init(const struct config *);
int	 deliver_start(const struct config *);
/* SIGTERM: stop claiming (returns at once); deliver_stop() then waits. */
void	 deliver_quit(void);
void	 deliver_stop(void);
void	 deliver_shutdown(void);

/* assetmatch.c: asset values and the in-memory owner matcher (pure). */
#define TOCSIN_ASSET_VALUE_MAX	256	/* bytes of a normalised value */
enum asset_type { ASSET_CIDR, ASSET_ASN, ASSET_DOMAIN, ASSET__COUNT };
enum asset_status { ASSET_PROPOSED, ASSET_APPROVED, ASSET_REJECTED,
    ASSET_STATUS__COUNT };
/* An address: IPv4 in b[0..3], or IPv6 (v6 set). */
struct asset_addr {
	int		 v6;
	unsigned char	 b[16];
};
struct assetmatch;
int		 asset_type_parse(const char *, enum asset_type *);
const char	*asset_type_name(enum asset_type);
int		 asset_status_parse(const char *, enum asset_status *);
const char	*asset_status_name(enum asset_status);
int		 asset_addr_parse(const char *, struct asset_addr *);
void		 asset_addr_format(const struct asset_addr *, char *, size_t);
int		 asset_asn_parse(const char *, uint32_t *);
int		 asset_domain_normalise(const char *, int, char *, size_t,
		    const char **);
/* Normalise a value of a type: 0, or -1 and *why ("value ..."). */
int		 asset_normalise(enum asset_type, const char *, char *, size_t,
		    const char **);
struct assetmatch *assetmatch_new(void);
struct assetmatch *assetmatch_ref(struct assetmatch *);
void		 assetmatch_unref(struct assetmatch *);
/* Add an asset of an organisation; skipped unless approved. */
int		 assetmatch_add(struct assetmatch *, enum asset_type,
		    enum asset_status, const char *, int64_t, const char **);
void		 assetmatch_build(struct assetmatch *);
size_t		 assetmatch_count(const struct assetmatch *);
/* Owner of an address: longest prefix, else the AS number's (0: none). */
int64_t		 assetmatch_ip(const struct assetmatch *,
		    const struct asset_addr *, uint32_t, enum asset_type *);
int64_t		 assetmatch_asn(const struct assetmatch *, uint32_t);
/* Owner of a normalised name: longest label-aligned suffix (0: none). */
int64_t		 assetmatch_domain(const struct assetmatch *, const char *);

/* csv.c: a streaming RFC 4180 reader, one bounded row at a time. */
#define TOCSIN_CSV_MAX_FIELD	8192
#define TOCSIN_CSV_MAX_FIELDS	256
#define TOCSIN_CSV_MAX_ROW	65536
struct csv;
enum csv_result { CSV_ROW, CSV_END, CSV_BAD, CSV_ERROR };
/* Read up to len bytes: the count, 0 at the end, -1 on error. */
typedef long	(*csv_read_cb)(void *, char *, size_t);
struct csv	*csv_new(csv_read_cb, void *, size_t, size_t, size_t);
struct csv	*csv_new_buffer(const char *, size_t, size_t, size_t, size_t);
enum csv_result	 csv_next(struct csv *, const char *const **, size_t *,
		    size_t *, const char **);
void		 csv_free(struct csv *);

/* store_assets.c: the asset registry and the cached matcher. */
struct asset {
	int64_t			 id;
	int64_t			 organisation_id;
	enum asset_type		 type;
	char			*value;		/* normalised */
	enum asset_status	 status;
	int64_t			 proposed_by;	/* 0: unknown */
	int64_t			 decided_by;	/* 0: not decided */
	char			*decided_at;	/* RFC 3339, UTC; NULL */
	char			*created_at;
};
struct asset_query {
	int64_t		 organisation_id;	/* 0: all */
	int		 status;		/* enum asset_status, -1 any */
	int		 type;			/* enum asset_type, -1 any */
	int64_t		 after;			/* cursor: id */
	int		 limit;
};
/* One line of a bulk registration, and what became of it. */
struct asset_import_row {
	size_t		 line;
	int64_t		 organisation_id;
	enum asset_type	 type;
	enum asset_status status;
	char		 value[TOCSIN_ASSET_VALUE_MAX];
	int		 outcome;	/* 1 created, 0 unchanged, -1 conflict */
};
int	 store_assets_insert(PGconn *, struct asset *);
int	 store_assets_get(PGconn *, int64_t, int, struct asset *);
int	 store_assets_list(PGconn *, const struct asset_query *,
	    struct asset **, size_t *);
int	 store_assets_decide(PGconn *, struct asset *, enum asset_status,
	    int64_t);
int	 store_assets_delete(PGconn *, int64_t);
int	 store_assets_import(PGconn *, struct asset_import_row *, size_t,
	    int64_t);
int	 store_assets_active_orgs(PGconn *, int64_t **, size_t *);
void	 store_assets_clear(struct asset *);
/* The matcher of the approved assets (a reference; unref it). */
int	 store_assets_matcher(PGconn *, struct assetmatch **);

/* warning.c: spear warnings without SQL: head, observations, batches. */
struct wbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};
void	 wbuf_add(struct wbuf *, const char *, size_t);
void	 wbuf_str(struct wbuf *, const char *);
void	 wbuf_json_string(struct wbuf *, const char *);
void	 wbuf_uint(struct wbuf *, unsigned long long);
void	 wbuf_free(struct wbuf *);
struct warning_head {
	const char	*title;		/* borrowed */
	const char	*description;
	const char	*category;
	enum tlp	 tlp;
	enum severity	 severity;
};
/* What an observation is attributed by. */
struct warning_key {
	int			 has_addr;
	struct asset_addr	 addr;
	uint32_t		 asn;		/* 0: none */
	char			 domain[256];	/* "": none */
};
/* A Shadowserver report's columns. */
struct warning_ss {
	char	**names;
	char	**keys;		/* "name": as JSON, for details */
	size_t	  n;
	int	  col[5];	/* timestamp, ip, port, asn, hostname; -1 */
};
/* One warning to be: an organisation's observations (a JSON array). */
struct warning_part {
	int64_t		 org;
	struct wbuf	 obs;
	size_t		 count;
	size_t		 seq;
	int		 part;		/* 1.. of parts */
	int		 parts;
};
struct warning_batch {
	size_t			 max_bytes;
	struct warning_part	*parts;
	size_t			 n_parts;
	size_t			 cap_parts;
	size_t			*slots;
	size_t			 cap_slots;
	size_t			 n_orgs;
	size_t			 matched;
};
int	 warning_utf8_ok(const char *);
int	 warning_timestamp_normalise(const char *, char *, size_t);
int	 warning_head_check(struct warning_head *, const char *, const char *,
	    struct field_error *);
int64_t	 warning_attribute(const struct assetmatch *,
	    const struct warning_key *);
int	 warning_obs_from_json(json_t *, size_t, struct warning_key *,
	    struct wbuf *, struct field_error *);
int	 warning_ss_header(struct warning_ss *, const char *const *, size_t,
	    const char **);
void	 warning_ss_clear(struct warning_ss *);
int	 warning_ss_row(const struct warning_ss *, const struct assetmatch *,
	    const char *const *, size_t, int64_t *, struct wbuf *,
	    const char **);
struct warning_batch *warning_batch_new(size_t);
void	 warning_batch_add(struct warning_batch *, int64_t, const char *,
	    size_t);
void	 warning_batch_finish(struct warning_batch *);
void	 warning_batch_free(struct warning_batch *);

/* store_warnings.c: warnings: publish a batch in one transaction, read. */
struct warning_row {
	int64_t		 num;
	char		*id;
	int64_t		 organisation_id;
	enum tlp	 tlp;
	char		*title;
	char		*description;
	char		*category;
	char		*severity;
	int		 count;		/* observations */
	int		 part;
	int		 parts;
	json_t		*observations;	/* NULL when not loaded */
	int64_t		 event_id;
	char		*created_at;
};
/* What a published batch made: one entry per warning. */
struct warning_made {
	char		 id[64];
	int64_t		 organisation_id;
	int64_t		 event_id;
};
int	 store_warnings_publish(PGconn *, const char *, int64_t,
	    const struct warning_head *, struct warning_batch *,
	    struct warning_made **, size_t *);
int	 store_warnings_get(PGconn *, const char *, struct warning_row *);
int	 store_warnings_list(PGconn *, int64_t, const char *, int64_t, int,
	    struct warning_row **, size_t *);
void	 store_warnings_audience(const struct warning_row *,
	    struct audience *, int64_t *);
json_t	*store_warnings_json(const struct warning_row *, int);
void	 store_warnings_row_free(struct warning_row *);

/* api_assets.c: /v1/assets; also the text/csv body check of imports. */
int	 api_assets_csv_body(struct req *);

/* render.c: templates (a mustache subset) and Markdown (cmark, safe). */
#define TOCSIN_TEMPLATE_MAX	(256 * 1024)	/* bytes of one template file */
#define TOCSIN_RENDER_MAX	(4 * 1024 * 1024) /* default output bound */
#define RENDER_STRICT		0x1	/* a missing value is an error */
enum render_mode { RENDER_HTML, RENDER_TEXT };
struct render_buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	size_t	 max;
	int	 over;		/* an append went past max */
};
/* Escape N bytes of a {{value}} into the output (e-mail headers: RFC 2047). */
typedef void	(*render_escape_cb)(struct render_buf *, const char *, size_t,
		    void *);
struct render_opts {
	enum render_mode	 mode;
	size_t			 max_bytes;	/* 0: TOCSIN_RENDER_MAX */
	int			 flags;		/* RENDER_STRICT */
	render_escape_cb	 escape;	/* NULL: by mode */
	void			*escape_arg;
};
void		 render_buf_add(struct render_buf *, const char *, size_t);
void		 render_buf_str(struct render_buf *, const char *);
void		 render_escape_html(struct render_buf *, const char *, size_t,
		    void *);
/* The templates directory: configured, else templates/ beside the binary. */
const char	*render_dir(const struct config *);
int		 render_name_ok(const char *);
char		*render_read(const char *, const char *, size_t, size_t *,
		    char **);
/* 0 and *out (caller frees), or -1 and *cause "FILE:LINE: what". */
int		 render_file(const char *, const char *, json_t *,
		    const struct render_opts *, char **, size_t *, char **);
int		 render_string(const char *, const char *, const char *,
		    json_t *, const struct render_opts *, char **, size_t *,
		    char **);
char		*render_markdown(const char *, size_t);

/* store_web.c: web sessions, stream tickets, the audience preview. */
struct web_session {
	unsigned char	 hash[32];	/* SHA-256 of the cookie's id */
	int64_t		 user_id;
	char		*csrf;		/* what its forms must carry */
	char		*user_name;
	int64_t		 expires;	/* Unix time */
	struct principal who;
};
char	*store_web_random(size_t);
int	 store_web_session_create(PGconn *, int64_t, int, char **, char **);
int	 store_web_session_get(PGconn *, const char *, struct web_session *);
void	 store_web_session_clear(struct web_session *);
int	 store_web_session_delete(PGconn *, const struct web_session *);
int	 store_web_ticket_create(PGconn *, const struct web_session *, int,
	    char **);
int	 store_web_ticket_use(PGconn *, const unsigned char[32],
	    struct principal *);
/* E-mailed sign-in links (schema/007_signin_links.sql). */
int	 store_web_link_create(PGconn *, int64_t, int, int, char **);
int	 store_web_link_use(PGconn *, const char *, int64_t *);
int	 store_web_audience_count(PGconn *, const struct audience *,
	    int64_t *, int64_t *);

/* api_audience.c: POST /v1/advisories/preview-audience. */
extern const struct route api_audience_routes[];

/* web.c: the portal's core: sessions, CSRF, languages, pages, static. */
#define TOCSIN_WEB_SESSION_S	(12 * 3600)	/* a sign-in lasts this */
#define TOCSIN_WEB_TICKET_S	60		/* a stream ticket's life */
#define TOCSIN_WEB_STATIC_MAX	(1024 * 1024)
struct web {
	struct req		*r;
	struct web_session	 session;
	int			 by_session;	/* signed in with the cookie */
	int			 signed_in;	/* session or bearer token */
	const char		*csrf;		/* what forms must carry */
	char			*anon_csrf;	/* double-submit value */
	const char		*lang;		/* fr, nl, de, en */
	json_t			*t;		/* the catalogue */
	json_t			*form;		/* name -> [values] */
};
extern const struct route web_routes[];
extern const struct route web_public_routes[];
extern const struct route web_portal_routes[];
extern const struct route web_staff_routes[];
void		 web_begin(struct req *, struct web *);
void		 web_end(struct web *);
const char	*web_text(struct web *, const char *);
/* Render page TMPL (under web/) in the layout; ctx is stolen. */
void		 web_page(struct web *, unsigned, const char *, const char *,
		    json_t *);
void		 web_message_page(struct web *, unsigned, const char *,
		    const char *);
void		 web_redirect(struct web *, const char *);
/* 1 if signed in with one of ROLES; else a sign-in redirect or 403 page. */
int		 web_require(struct web *, unsigned);
/* Parse the form body and check its CSRF token; 0, or -1 after a page. */
int		 web_form(struct web *);
const char	*web_form_get(struct web *, const char *);
json_t		*web_form_all(struct web *, const char *);
json_t		*web_form_lines(struct web *, const char *);
/* The JS endpoints: the X-CSRF-Token header instead of a form field. */
int		 web_check_csrf_header(struct web *);
char		*web_stream_url(const struct config *);
char		*web_urlencode(const char *);
int		 web_owns_path(const char *);
void		 web_not_found(struct req *);
/* An advisory (API JSON, borrowed) as the templates show it (new ref). */
json_t		*web_advisory_view(struct web *, json_t *);
json_t		*web_sector_options(struct web *, json_t *);
json_t		*web_problem_text(json_t *);
void		 web_refused_page(struct web *, unsigned, json_t *);
void		 web_action(struct web *, const char *, const char *,
		    const char *, unsigned, unsigned);

/* smime.c: S/MIME (OpenSSL CMS): sign detached, encrypt with AES-256. */
struct smime_rcpt;
int	 smime_init(const struct config *, char **);
void	 smime_shutdown(void);
int	 smime_enabled(void);
/* Sign a canonical entity: append multipart/signed; 0 or -1 and cause. */
int	 smime_sign(const char *, size_t, struct render_buf *, char **);
/* A recipient certificate usable now: 0, or -1 and why (last_error). */
int	 smime_rcpt_load(const char *, struct smime_rcpt **, char *, size_t);
void	 smime_rcpt_free(struct smime_rcpt *);
/* Encrypt an entity: append application/pkcs7-mime; 0 or -1 and cause. */
int	 smime_encrypt(const struct smime_rcpt *, const char *, size_t,
	    struct render_buf *, char **);

/* mail.c: messages from templates/email/, MIME, RFC 2047, SMTP (curl). */
#define TOCSIN_UNSUB_MAX	16	/* subscriptions one token names */
/* A composed message, as curl reads it. */
struct mail_msg {
	char	*rcpt;		/* the envelope's recipient */
	char	*data;		/* the message, CRLF lines */
	size_t	 len;
	size_t	 off;		/* read so far by curl */
};
/* A rendered (and signed) body that recipients share. */
struct mail_body {
	char	*subject;		/* one line, UTF-8 */
	char	*entity;		/* multipart/alternative, CRLF */
	size_t	 entity_len;
	char	*signed_entity;		/* multipart/signed of it; NULL */
	size_t	 signed_len;
};
/* To whom one message goes, and how. */
struct mail_spec {
	const char		*tlp;		/* the label */
	const char		*id;		/* the item's, for a hidden
						   subject */
	const char		*to;
	const char		*to_name;	/* NULL: none */
	const char		*msg_id;	/* the delivery's */
	const char		*unsubscribe_url; /* NULL: no List-Unsubscribe */
	int			 hide_subject;	/* outer Subject without title */
	const struct smime_rcpt	*encrypt_to;	/* NULL: in clear */
};
int	 mail_init(const struct config *, char **);
void	 mail_shutdown(void);
int	 mail_enabled(void);
int	 mail_address_ok(const char *);
void	 mail_header(struct render_buf *, const char *, const char *);
void	 mail_qp(struct render_buf *, const char *, size_t);
/* Render and sign a body (no recipient in the values); 0 or -1. */
int	 mail_body_new(const struct config *, const char *, const char *,
	    json_t *, struct mail_body **, char **);
void	 mail_body_free(struct mail_body *);
int	 mail_compose(const struct mail_spec *, const struct mail_body *,
	    struct mail_msg **, char **);
void	 mail_msg_free(struct mail_msg *);
/* The digests' clock (TOCSIN_TEST_NOW in tests), Unix seconds. */
double	 mail_now(void);
double	 mail_next_time(double, int);
int	 mail_digest_minute(const char *);
char	*mail_unsub_token(int64_t, const int64_t *, size_t);
/* 0 and the user and subscriptions; -1 not a token; -2 forged. */
int	 mail_unsub_verify(const char *, int64_t *, int64_t **, size_t *);
struct curl_slist;
/* Set a curl easy handle up to send the message through the relay. */
void	 mail_curl_setup(void *, struct mail_msg *, char *, int,
	    struct curl_slist **);
/* Outcome of a finished transfer (curl code, SMTP code, curl's error). */
enum outbox_outcome mail_outcome(int, long, const char *, int *, char *,
	    size_t);
/* Send one plain-text message now (subject, text), within a timeout. */
int	 mail_send_text(const char *, const char *, const char *, int,
	    char **);

/* store_email.c: e-mail planning, recipients, digests, reports, unsubscribe. */
/* A recipient as it is now: a user, or an organisation's contact. */
struct email_rcpt {
	int64_t		 user_id;	/* 0: the organisation's contact */
	int64_t		 org_id;
	int		 active;
	char		*address;	/* NULL: none any more */
	char		*name;
	char		*language;
	char		*smime_cert;	/* PEM; NULL: none */
	struct principal p;		/* for tlp_may_see */
	struct filter	*subs;		/* the user's e-mail subscriptions */
	int64_t		*sub_ids;
	int		*sub_minutes;	/* digest minute, -1 immediate */
	size_t		 n_subs;
};
/* An event listed in a digest. */
struct email_item {
	int64_t			 event_id;
	char			*type;
	char			*item_id;
	char			*tlp;
	char			*created_at;
	json_t			*data;
	struct outbox_scope	 scope;
};
int	 store_email_plan(PGconn *, const struct outbox_scope *,
	    struct outbox_plan *);
int	 store_email_recipients(PGconn *, const struct outbox_claim *, size_t,
	    struct email_rcpt **, size_t *);
const struct email_rcpt *store_email_rcpt_find(const struct email_rcpt *,
	    size_t, int64_t, int64_t);
void	 store_email_rcpt_clear(struct email_rcpt *);
int	 store_email_items(PGconn *, json_t *, struct email_item **,
	    size_t *);
void	 store_email_items_free(struct email_item *, size_t);
int	 store_email_digest_run(PGconn *, double);
int	 store_email_report(PGconn *, int64_t, const char *, int,
	    const char *);
int	 store_email_unsubscribe(PGconn *, int64_t, const int64_t *, size_t);

/* deliver_mail.c: the e-mail side of the outbox worker. */
/* An event as the worker holds it. */
struct deliver_item {
	int64_t			 event_id;
	const char		*type;
	const char		*tlp;
	const char		*timestamp;
	json_t			*data;
	const struct outbox_scope *scope;
};
/* A prepared row: the message to send, or what became of it. */
struct deliver_mail_result {
	struct mail_msg		*msg;		/* NULL: finished unsent */
	enum outbox_outcome	 outcome;
	const char		*report;	/* "certificate": report it */
	char			 error[256];
};
void	 deliver_mail_prepare(PGconn *, const struct config *,
	    const struct outbox_claim *, const struct deliver_item *const *,
	    size_t, int, struct deliver_mail_result *);

/* api_unsubscribe.c: the one-click unsubscribe endpoint (RFC 8058). */
extern const struct route api_unsubscribe_routes[];

/* tls.c: the listeners' certificate and key, read before privileges are
 * dropped and again on SIGHUP; each handshake takes the pair in force. */
struct MHD_OptionItem;
struct ssl_ctx_st;
int		 tls_init(const struct config *);
int		 tls_enabled(void);
int		 tls_reload(const struct config *);
void		 tls_shutdown(void);
/* For MHD_OPTION_ARRAY: the certificate callback, or nothing. */
struct MHD_OptionItem *tls_mhd_options(void);
/* The stream vhost's SSL_CTX: minimum version, per-handshake pair. */
int		 tls_setup_ssl_ctx(struct ssl_ctx_st *);

/* priv.c: become cfg->user once bound, when started as root. */
int		 priv_drop(const struct config *);

/* json_util.c: small helpers over jansson for validation. */
int		 field_fail(struct field_error *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
/* Is the member absent, or present with the type? (-1 wrong type) */
int		 json_get_string(json_t *, const char *, const char **);
int		 json_string_array(json_t *, char ***, size_t *);
int		 json_int_array(json_t *, int64_t **, size_t *);
void		 strv_free(char **, size_t);
char		*pg_text_array(char *const *, size_t);
char		*pg_int_array(const int64_t *, size_t);
int		 pg_parse_text_array(const char *, char ***, size_t *);
int		 pg_parse_int_array(const char *, int64_t **, size_t *);

/* metrics.c: counters, gauges, latency histograms; GET /metrics. */
enum metrics_channel { METRICS_WS, METRICS_WEBHOOK, METRICS_EMAIL,
    METRICS__CHANNELS };
enum metrics_result { METRICS_DELIVERED, METRICS_RETRY, METRICS_FAILED,
    METRICS_GONE, METRICS_CANCELLED, METRICS__RESULTS };
void	 metrics_http_request(const char *, unsigned);
void	 metrics_ws_connections(int);
void	 metrics_stream_ring(size_t, size_t);
/* An event written in this thread's transaction; counted if it commits. */
void	 metrics_event(const char *);
void	 metrics_tx_end(int);
enum metrics_channel metrics_channel_of(const char *);
void	 metrics_delivery(enum metrics_channel, enum metrics_result);
/* Seconds from an event's creation to its delivery on a channel. */
void	 metrics_latency(enum metrics_channel, double);
/* The same from its creation time (wall clock, microseconds) to now. */
void	 metrics_latency_since(enum metrics_channel, int64_t);
void	 metrics_db_error(void);
void	 metrics_rate_limited(int);
void	 metrics_audit_failure(void);
/* The Prometheus text exposition (caller frees); DB may be NULL. */
char	*metrics_text(PGconn *);
/* The metrics.listen listener, if configured: bound before privileges
 * are dropped, then served; 0 or -1 (logged). */
int	 metrics_listen(const struct config *);
int	 metrics_start(const struct config *);
void	 metrics_stop(void);
extern const struct route api_metrics_routes[];

/* ratelimit.c: token buckets per token and per client address. */
/* Before routing: 0 to go on, or -1 after answering 429 (Retry-After). */
int	 ratelimit_admit(struct req *);

/* audit.c: the audit log (schema/006_audit.sql). */
struct audit_query {
	int64_t		 actor;		/* 0: any */
	const char	*action;	/* NULL: any */
	const char	*object_type;
	const char	*object_id;
	const char	*since;		/* RFC 3339; NULL: any */
	int64_t		 cursor;	/* 0: newest */
	int		 limit;
};
/* This thread's request's client address (NULL: none), for entries. */
void	 audit_set_client(const char *);
const char *audit_client_addr(void);
/*
 * ACTOR (user id; 0: the system) did ACTION to OBJECT_TYPE OBJECT_ID,
 * with DETAILS (stolen; NULL: {}; ids only, never e-mail addresses or
 * secrets), on the caller's connection and so in its transaction. 0 or -1
 * (logged; the transaction is then aborted: fail the action with it).
 */
int	 audit_record(PGconn *, int64_t, const char *, const char *,
	    const char *, json_t *);
int	 audit_record_id(PGconn *, int64_t, const char *, const char *,
	    int64_t, json_t *);
json_t	*audit_row_json(PGresult *, int);
int	 audit_list(PGconn *, const struct audit_query *, json_t **,
	    int64_t *);
json_t	*audit_about_user(PGconn *, int64_t);
int64_t	 audit_purge(PGconn *, int);

/* retention.c: the purge of deliveries and audit entries past retention. */
struct retention_counts {
	int64_t		 deliveries;
	int64_t		 attempts;
	int64_t		 audit;
};
/* 0 done, 1 another instance is purging, -1 database error. */
int	 retention_purge(PGconn *, int, int, struct retention_counts *);
int	 retention_start(const struct config *);
void	 retention_stop(void);

/* api_audit.c: GET /v1/audit, POST /v1/admin/purge. */
extern const struct route api_audit_routes[];

#endif /* TOCSIND_H */
