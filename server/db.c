/*
 * db.c: libpq connections for the REST threads (a small pool), the helpers
 * every store uses to run parameterised SQL, and "tocsind migrate".
 * Connections are made lazily and remade after PostgreSQL comes back, so a
 * database restart never needs a tocsind restart.
 */
#include "config.h"

#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tocsind.h"

#define DB_UNIQUE_VIOLATION	"23505"	/* SQLSTATE unique_violation */

static pthread_mutex_t	 db_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 db_cond = PTHREAD_COND_INITIALIZER;
static char		*db_conninfo;
static PGconn		**db_free;	/* idle slots; NULL slot: not yet made */
static int		 db_nfree;
static int		 db_size;

/* Quiet libpq's NOTICE chatter (e.g. "relation already exists"). */
static void
db_notice_cb(void *arg, const char *msg)
{
	log_debug("postgresql: %s", msg);
}

/* Open one connection; NULL and *cause on failure. */
PGconn *
db_connect(const char *conninfo, char **cause)
{
	PGconn	*conn;

	conn = PQconnectdb(conninfo);
	if (conn == NULL) {
		*cause = xstrdup("out of memory");
		return (NULL);
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		metrics_db_error();
		*cause = xstrdup(PQerrorMessage(conn));
		(*cause)[strcspn(*cause, "\n")] = '\0';
		PQfinish(conn);
		return (NULL);
	}
	PQsetNoticeProcessor(conn, db_notice_cb, NULL);
	return (conn);
}

/* Set up the pool of SIZE connections for CONNINFO (made on first use). */
int
db_pool_init(const char *conninfo, int size)
{
	db_conninfo = xstrdup(conninfo);
	db_size = size;
	db_free = xcalloc(size, sizeof *db_free);
	db_nfree = size;
	return (0);
}

/* Close every idle connection. */
void
db_pool_shutdown(void)
{
	int	i;

	pthread_mutex_lock(&db_lock);
	for (i = 0; i < db_nfree; i++) {
		if (db_free[i] != NULL)
			PQfinish(db_free[i]);
	}
	db_nfree = 0;
	pthread_mutex_unlock(&db_lock);
}

/* Is the connection unusable (server gone, socket closed)? */
int
db_conn_broken(PGconn *conn)
{
	return (conn == NULL || PQstatus(conn) != CONNECTION_OK);
}

/*
 * Take a connection from the pool, waiting if all are busy. A connection
 * that broke is reset here; if PostgreSQL is still away, the slot goes back
 * and NULL tells the caller to answer 503.
 */
PGconn *
db_acquire(void)
{
	PGconn	*conn;
	char	*cause;

	pthread_mutex_lock(&db_lock);
	while (db_nfree == 0)
		pthread_cond_wait(&db_cond, &db_lock);
	conn = db_free[--db_nfree];
	pthread_mutex_unlock(&db_lock);

	if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
		PQreset(conn);
		if (PQstatus(conn) != CONNECTION_OK) {
			PQfinish(conn);
			conn = NULL;
		}
	}
	if (conn == NULL) {
		conn = db_connect(db_conninfo, &cause);
		if (conn == NULL) {
			log_warn("database unavailable: %s", cause);
			free(cause);
			db_release(NULL);
			return (NULL);
		}
	}
	return (conn);
}

/* Give a connection (or an empty slot) back to the pool. */
void
db_release(PGconn *conn)
{
	if (conn != NULL && PQtransactionStatus(conn) != PQTRANS_IDLE &&
	    PQstatus(conn) == CONNECTION_OK) {
		/* A handler that bailed out mid-transaction: undo it. */
		PQclear(PQexec(conn, "ROLLBACK"));
	}
	metrics_tx_end(0);	/* whatever was not committed is not counted */
	pthread_mutex_lock(&db_lock);
	db_free[db_nfree++] = conn;
	pthread_cond_signal(&db_cond);
	pthread_mutex_unlock(&db_lock);
}

/* 0 if the server answers a trivial query. */
int
db_ping(PGconn *conn)
{
	PGresult	*res;
	int		 ok;

	res = PQexec(conn, "SELECT 1");
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	return (ok ? 0 : -1);
}

/*
 * Log a failed statement: the SQLSTATE and the primary message only.
 * PostgreSQL's DETAIL may quote the row ("Failing row contains (...)"),
 * and rows hold e-mail addresses: never in the log.
 */
static void
db_log_error(PGresult *res)
{
	const char	*state, *msg;

	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (msg == NULL)
		msg = PQresultErrorMessage(res);
	log_warn("database: %s%s%s", state != NULL ? state : "",
	    state != NULL ? ": " : "", msg);
}

/* Run a parameterised statement; NULL (logged) unless it succeeded. */
PGresult *
db_exec(PGconn *conn, const char *sql, int n, const char *const *params)
{
	PGresult	*res;
	ExecStatusType	 st;

	res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return (res);
	metrics_db_error();
	db_log_error(res);
	PQclear(res);
	return (NULL);
}

/*
 * Like db_exec, but a unique violation is an answer (409 to the client),
 * not a fault: NULL and *CONFLICT set, neither logged nor counted.
 */
PGresult *
db_exec_unique(PGconn *conn, const char *sql, int n,
    const char *const *params, int *conflict)
{
	PGresult	*res;
	ExecStatusType	 st;
	const char	*state;

	*conflict = 0;
	res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return (res);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state != NULL && strcmp(state, DB_UNIQUE_VIOLATION) == 0)
		*conflict = 1;
	else {
		metrics_db_error();
		db_log_error(res);
	}
	PQclear(res);
	return (NULL);
}

/* Run a statement whose one parameter is the id ID; NULL as db_exec. */
PGresult *
db_exec_id(PGconn *conn, const char *sql, int64_t id)
{
	char		 buf[24];
	const char	*params[1];

	snprintf(buf, sizeof buf, "%lld", (long long)id);
	params[0] = buf;
	return (db_exec(conn, sql, 1, params));
}

/* Run a statement whose result is not needed; 0 on success. */
int
db_exec_ok(PGconn *conn, const char *sql, int n, const char *const *params)
{
	PGresult	*res;

	if ((res = db_exec(conn, sql, n, params)) == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

/* Transaction helpers. */
int
db_begin(PGconn *conn)
{
	return (db_exec_ok(conn, "BEGIN", 0, NULL));
}

int
db_commit(PGconn *conn)
{
	int	rc;

	/* A failed COMMIT with a good status is a rollback all the same. */
	rc = db_exec_ok(conn, "COMMIT", 0, NULL);
	metrics_tx_end(rc == 0);
	return (rc);
}

void
db_rollback(PGconn *conn)
{
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
	metrics_tx_end(0);
}

/*
 * Where the versioned schema files are: TOCSIN_SCHEMA_DIR, else the
 * installed copy, else schema/ beside the binary (a build tree).
 */
const char *
db_schema_dir(void)
{
	static char	 local[PATH_MAX];
	const char	*dir;
	char		*slash;
	ssize_t		 n;

	if ((dir = getenv("TOCSIN_SCHEMA_DIR")) != NULL && *dir != '\0')
		return (dir);
	if (access(TOCSIN_DATADIR "/schema", R_OK) == 0)
		return (TOCSIN_DATADIR "/schema");
	n = readlink("/proc/self/exe", local, sizeof local - 8);
	if (n <= 0)
		return (TOCSIN_DATADIR "/schema");
	local[n] = '\0';
	if ((slash = strrchr(local, '/')) != NULL)
		strcpy(slash, "/schema");
	return (local);
}

static int
db_migrate_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

static char *
db_read_file(const char *path, char **cause)
{
	FILE	*f;
	char	*buf;
	long	 len;

	if ((f = fopen(path, "r")) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (NULL);
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = xmalloc(len + 1);
	if (fread(buf, 1, len, f) != (size_t)len) {
		xasprintf(cause, "%s: short read", path);
		free(buf);
		fclose(f);
		return (NULL);
	}
	buf[len] = '\0';
	fclose(f);
	return (buf);
}

/*
 * Apply every NNN_name.sql file of DIR not yet recorded, in order, each in
 * its own transaction together with its record. An advisory lock keeps two
 * instances started at once from racing.
 */
int
db_migrate(PGconn *conn, const char *dir, char **cause)
{
	DIR		*d;
	struct dirent	*de;
	char		**files = NULL, *path, *sql, version[16];
	size_t		 nfiles = 0, i;
	PGresult	*res;
	const char	*params[2];
	int		 applied = 0, rc = -1;

	if ((d = opendir(dir)) == NULL) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len < 8 || strcmp(de->d_name + len - 4, ".sql") != 0 ||
		    strspn(de->d_name, "0123456789") != 3 ||
		    de->d_name[3] != '_')
			continue;
		files = xrealloc(files, (nfiles + 1) * sizeof *files);
		files[nfiles++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (nfiles == 0) {
		xasprintf(cause, "%s: no schema files", dir);
		return (-1);
	}
	qsort(files, nfiles, sizeof *files, db_migrate_cmp);

	if (db_exec_ok(conn, "SELECT pg_advisory_lock(7411001)", 0, NULL) != 0 ||
	    db_exec_ok(conn, "CREATE TABLE IF NOT EXISTS tocsin_migrations ("
	    "version integer PRIMARY KEY, name text NOT NULL, "
	    "applied_at timestamptz NOT NULL DEFAULT now())", 0, NULL) != 0) {
		xasprintf(cause, "%s", PQerrorMessage(conn));
		goto out;
	}
	for (i = 0; i < nfiles; i++) {
		snprintf(version, sizeof version, "%.3s", files[i]);
		params[0] = version;
		params[1] = files[i];
		res = db_exec(conn, "SELECT 1 FROM tocsin_migrations "
		    "WHERE version = $1", 1, params);
		if (res == NULL) {
			xasprintf(cause, "%s", PQerrorMessage(conn));
			goto out;
		}
		if (PQntuples(res) > 0) {
			PQclear(res);
			continue;
		}
		PQclear(res);

		xasprintf(&path, "%s/%s", dir, files[i]);
		sql = db_read_file(path, cause);
		free(path);
		if (sql == NULL)
			goto out;
		if (db_begin(conn) != 0) {
			free(sql);
			xasprintf(cause, "%s", PQerrorMessage(conn));
			goto out;
		}
		/* A schema file may hold several statements: simple protocol. */
		res = PQexec(conn, sql);
		free(sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK) {
			xasprintf(cause, "%s: %s", files[i],
			    PQresultErrorMessage(res));
			PQclear(res);
			db_rollback(conn);
			goto out;
		}
		PQclear(res);
		if (db_exec_ok(conn, "INSERT INTO tocsin_migrations "
		    "(version, name) VALUES ($1, $2)", 2, params) != 0 ||
		    db_commit(conn) != 0) {
			xasprintf(cause, "%s: %s", files[i],
			    PQerrorMessage(conn));
			db_rollback(conn);
			goto out;
		}
		log_info("migrate: applied %s", files[i]);
		applied++;
	}
	if (applied == 0)
		log_info("migrate: schema already current");
	rc = 0;
out:
	PQclear(PQexec(conn, "SELECT pg_advisory_unlock(7411001)"));
	for (i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	return (rc);
}
