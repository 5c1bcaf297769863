/*
 * tocsind.c: the daemon's entry point: arguments, the subcommands
 * (check-config, migrate, bootstrap-admin), start-up (keys, bind, drop
 * privileges, then the REST, stream and delivery threads), and the signal
 * loop (SIGTERM stops, SIGHUP reloads).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tocsind.h"

#define TOCSIND_DEFAULT_CONFIG	"/etc/tocsin/tocsind.yaml"

static void
tocsind_usage(FILE *f)
{
	fprintf(f,
	    "usage: tocsind [-c FILE] [COMMAND]\n"
	    "\n"
	    "Commands:\n"
	    "  (none)                 run in the foreground, logging to stderr\n"
	    "  check-config           validate the configuration and exit\n"
	    "  migrate                bring the PostgreSQL schema up to date\n"
	    "  bootstrap-admin NAME   create the first admin and print its token\n"
	    "\n"
	    "Options:\n"
	    "  -c, --config FILE      configuration (default %s)\n"
	    "  -h, --help             this help\n"
	    "  -V, --version          print the version\n",
	    TOCSIND_DEFAULT_CONFIG);
}

/* Load the configuration or print every error and return NULL. */
static struct config *
tocsind_load(const char *path)
{
	struct config	*cfg;
	char		*causes = NULL;

	if ((cfg = config_load(path, &causes)) == NULL) {
		fprintf(stderr, "%s\n", causes != NULL ? causes : path);
		free(causes);
	}
	return (cfg);
}

static int
tocsind_migrate(struct config *cfg)
{
	PGconn	*db;
	char	*cause = NULL;
	int	 rc;

	if ((db = db_connect(cfg->database, &cause)) == NULL) {
		log_error("database: %s", cause);
		free(cause);
		return (1);
	}
	rc = db_migrate(db, db_schema_dir(), &cause);
	if (rc != 0) {
		log_error("migrate: %s", cause);
		free(cause);
	}
	PQfinish(db);
	return (rc == 0 ? 0 : 1);
}

static int
tocsind_bootstrap_admin(struct config *cfg, const char *name)
{
	PGconn	*db;
	char	*cause = NULL, *token = NULL;
	int	 rc;

	if (*name == '\0' || strlen(name) > 200) {
		fprintf(stderr, "tocsind: bootstrap-admin: NAME must be 1 to "
		    "200 characters\n");
		return (1);
	}
	if ((db = db_connect(cfg->database, &cause)) == NULL) {
		log_error("database: %s", cause);
		free(cause);
		return (1);
	}
	rc = store_users_bootstrap_admin(db, name, &token, &cause);
	PQfinish(db);
	if (rc != 0) {
		log_error("bootstrap-admin: %s", cause != NULL ? cause : "failed");
		free(cause);
		return (1);
	}
	/* The only time this token is ever shown: stdout, alone on a line. */
	printf("%s\n", token);
	fflush(stdout);
	explicit_bzero(token, strlen(token));
	free(token);
	log_info("bootstrap-admin: token created for admin \"%s\"", name);
	return (0);
}

/* SIGHUP: re-read the file; apply what can change without a restart. */
static struct config *
tocsind_reload(struct config *cfg)
{
	struct config	*fresh;
	char		*causes = NULL;

	if ((fresh = config_load(cfg->path, &causes)) == NULL) {
		log_warn("reload refused, keeping the running configuration:\n%s",
		    causes);
		free(causes);
		return (cfg);
	}
	log_set_level(fresh->log_level);
	log_reopen();
	tls_reload(fresh);		/* logs what it did or refused */
	log_info("configuration reloaded (log level, TLS certificate and "
	    "key; other keys need a restart)");
	config_free(fresh);
	return (cfg);
}

static int
tocsind_run(struct config *cfg)
{
	sigset_t	 set;
	int		 sig;

	/* Threads inherit this mask; only this thread takes the signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (deliver_init(cfg) != 0)	/* keys and libcurl, before threads */
		return (1);
	if (tls_init(cfg) != 0)
		return (1);
	db_pool_init(cfg->database, cfg->db_pool_size);
	if (metrics_listen(cfg) != 0)	/* metrics.c: bound before the drop */
		return (1);
	/* Bind both listeners and hold every key, then drop privileges
	 * (started as root) before any thread starts. */
	if (http_listen(cfg) != 0 || stream_listen(cfg) != 0 ||
	    priv_drop(cfg) != 0) {
		stream_stop();
		http_stop();
		tls_shutdown();
		return (1);
	}
	if (http_start(cfg) != 0) {
		stream_stop();
		tls_shutdown();
		return (1);
	}
	if (stream_start(cfg) != 0) {
		http_stop();
		tls_shutdown();
		return (1);
	}
	if (deliver_start(cfg) != 0) {
		stream_stop();
		http_stop();
		tls_shutdown();
		return (1);
	}
	/* metrics.c, retention.c: the operators' listener, the purge. */
	if (metrics_start(cfg) != 0 || retention_start(cfg) != 0) {
		deliver_stop();
		stream_stop();
		http_stop();
		tls_shutdown();
		return (1);
	}
	log_info("tocsind %s running", PACKAGE_VERSION);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			cfg = tocsind_reload(cfg);
			continue;
		}
		break;
	}
	log_info("stopping (signal %d)", sig);
	/* Deliveries in flight finish (or are handed back) meanwhile. */
	deliver_quit();
	http_stop();
	metrics_stop();
	retention_stop();
	stream_stop();
	tls_shutdown();
	deliver_stop();
	db_pool_shutdown();
	deliver_shutdown();
	log_info("stopped");
	return (0);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = TOCSIND_DEFAULT_CONFIG, *cmd;
	struct config	*cfg;
	int		 ch, rc;

	log_init(LOG_LEVEL_INFO, "tocsind");
	while ((ch = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			tocsind_usage(stdout);
			return (0);
		case 'V':
			printf("tocsind %s\n", PACKAGE_VERSION);
			return (0);
		default:
			tocsind_usage(stderr);
			return (1);
		}
	}
	argc -= optind;
	argv += optind;
	cmd = argc > 0 ? argv[0] : NULL;
	if (cmd != NULL && strcmp(cmd, "check-config") != 0 &&
	    strcmp(cmd, "migrate") != 0 &&
	    strcmp(cmd, "bootstrap-admin") != 0) {
		fprintf(stderr, "tocsind: unknown command \"%s\"\n", cmd);
		tocsind_usage(stderr);
		return (1);
	}
	if ((cmd != NULL && strcmp(cmd, "bootstrap-admin") == 0) ?
	    argc != 2 : argc > 1) {
		tocsind_usage(stderr);
		return (1);
	}

	if ((cfg = tocsind_load(path)) == NULL)
		return (1);
	log_set_level(cfg->log_level);
	if (cmd == NULL)
		rc = tocsind_run(cfg);
	else if (strcmp(cmd, "check-config") == 0) {
		printf("%s: ok\n", path);
		rc = 0;
	} else if (strcmp(cmd, "migrate") == 0)
		rc = tocsind_migrate(cfg);
	else
		rc = tocsind_bootstrap_admin(cfg, argv[1]);
	config_free(cfg);
	return (rc);
}
