/*
 * retention.c: personal data is kept no longer than its period. A purge
 * pass deletes finished deliveries (delivered, failed or cancelled) whose
 * last change is older than retention.deliveries_days, with their attempts
 * (ON DELETE CASCADE), and audit entries older than retention.audit_days.
 * Deliveries are the children of events, so nothing else moves: the event
 * log, advisories and users stay as they are.
 *
 * A small thread of its own runs a pass RETENTION_START_S after start and
 * then every RETENTION_INTERVAL_S, on its own connection. Several
 * instances may all run it: a session advisory lock lets one at a time
 * work and the others skip their turn. POST /v1/admin/purge (api_audit.c)
 * runs a pass at once, in the request.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tocsind.h"

#define RETENTION_LOCK		"7411006"
#define RETENTION_BATCH		"5000"	/* deliveries per statement */
#define RETENTION_START_S	60
#define RETENTION_INTERVAL_S	3600

static struct {
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 running;
	int		 stop;
	char		*conninfo;
	int		 deliveries_days;
	int		 audit_days;
} retention = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

/*
 * One pass on DB with the periods of CFG: 0 and the counts in *out, 1 if
 * another instance holds the lock (nothing done), -1 on a database error.
 * Deliveries go in batches, each its own statement, so no long lock is
 * held on the outbox that the workers claim from.
 */
int
retention_purge(PGconn *db, int deliveries_days, int audit_days,
    struct retention_counts *out)
{
	const char	*params[1];
	char		 days[16];
	PGresult	*res;
	int64_t		 n, a;
	int		 got;

	memset(out, 0, sizeof *out);
	res = db_exec(db, "SELECT pg_try_advisory_lock(" RETENTION_LOCK ")", 0,
	    NULL);
	if (res == NULL)
		return (-1);
	got = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!got)
		return (1);

	snprintf(days, sizeof days, "%d", deliveries_days);
	params[0] = days;
	do {
		/* Attempts go by cascade; counted from the same snapshot. */
		res = db_exec(db, "WITH d AS (DELETE FROM deliveries WHERE id "
		    "IN (SELECT id FROM deliveries WHERE state IN ('delivered', "
		    "'failed', 'cancelled') AND updated_at < now() - "
		    "make_interval(days => $1::int) LIMIT " RETENTION_BATCH ") "
		    "RETURNING id) SELECT (SELECT count(*) FROM d), (SELECT "
		    "count(*) FROM delivery_attempts WHERE delivery_id IN "
		    "(SELECT id FROM d))", 1, params);
		if (res == NULL)
			goto fail;
		n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		a = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		PQclear(res);
		out->deliveries += n;
		out->attempts += a;
	} while (n == strtoll(RETENTION_BATCH, NULL, 10));

	if ((out->audit = audit_purge(db, audit_days)) < 0)
		goto fail;
	if (out->deliveries != 0 || out->audit != 0)
		log_info("retention: purged %" PRId64 " deliveries (%" PRId64
		    " attempts) older than %d days, %" PRId64 " audit entries "
		    "older than %d days", out->deliveries, out->attempts,
		    deliveries_days, out->audit, audit_days);
	PQclear(PQexec(db, "SELECT pg_advisory_unlock(" RETENTION_LOCK ")"));
	return (0);
fail:
	if (!db_conn_broken(db))
		PQclear(PQexec(db, "SELECT pg_advisory_unlock(" RETENTION_LOCK
		    ")"));
	return (-1);
}

/* The thread: a pass now and then, on a connection made for it. */
static void *
retention_main(void *arg)
{
	struct retention_counts	 c;
	struct timespec		 until;
	PGconn			*db;
	char			*cause = NULL;
	int			 wait_s = RETENTION_START_S;

	pthread_mutex_lock(&retention.lock);
	for (;;) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait_s;
		while (!retention.stop && pthread_cond_timedwait(
		    &retention.cond, &retention.lock, &until) != ETIMEDOUT)
			;
		if (retention.stop)
			break;
		pthread_mutex_unlock(&retention.lock);
		wait_s = RETENTION_INTERVAL_S;
		if ((db = db_connect(retention.conninfo, &cause)) == NULL) {
			log_warn("retention: database: %s; next pass in %d s",
			    cause, wait_s);
			free(cause);
			cause = NULL;
		} else {
			if (retention_purge(db, retention.deliveries_days,
			    retention.audit_days, &c) < 0)
				log_warn("retention: the purge failed; next "
				    "pass in %d s", wait_s);
			PQfinish(db);
		}
		pthread_mutex_lock(&retention.lock);
	}
	pthread_mutex_unlock(&retention.lock);
	return (NULL);
}

/* Start the purge thread; 0 or -1 (logged). */
int
retention_start(const struct config *cfg)
{
	retention.conninfo = xstrdup(cfg->database);
	retention.deliveries_days = cfg->retention_deliveries_days;
	retention.audit_days = cfg->retention_audit_days;
	retention.stop = 0;
	if (pthread_create(&retention.thread, NULL, retention_main, NULL) != 0) {
		log_error("retention: cannot start the purge thread");
		free(retention.conninfo);
		retention.conninfo = NULL;
		return (-1);
	}
	retention.running = 1;
	return (0);
}

/* Stop the purge thread (a pass under way finishes first). */
void
retention_stop(void)
{
	if (!retention.running)
		return;
	pthread_mutex_lock(&retention.lock);
	retention.stop = 1;
	pthread_cond_signal(&retention.cond);
	pthread_mutex_unlock(&retention.lock);
	pthread_join(retention.thread, NULL);
	retention.running = 0;
	free(retention.conninfo);
	retention.conninfo = NULL;
}
