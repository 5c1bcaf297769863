/*
 * publish.c: publishing advisories in groups (group commit).
 *
 * Every publish holds the year's identifier counter and the event-ordering
 * lock until it commits (gap-free numbers, events visible in id order), so
 * one transaction per advisory would publish no faster than one commit at
 * a time. Instead the REST threads that publish at the same moment form a
 * queue; whichever finds nobody writing becomes the leader, takes what is
 * queued (up to PUBLISH_GROUP_MAX) and writes it in one transaction on its
 * own connection (store_advisories_publish), then wakes the others. While
 * it writes, new arrivals queue for the next group: under load groups grow
 * by themselves, and a lone publish is a group of one with no waiting.
 *
 * Each advisory is all-or-nothing with its revision, event, audit entry
 * and deliveries. A group that the database refuses (nothing written) is
 * retried one advisory at a time, so an advisory that cannot be stored
 * fails alone. Nothing is answered before its transaction has committed.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tocsind.h"

#define PUBLISH_GROUP_MAX	64

enum { PUBLISH_QUEUED, PUBLISH_TAKEN, PUBLISH_DONE };

static pthread_mutex_t		 publish_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 publish_cond = PTHREAD_COND_INITIALIZER;
static struct publish_item	*publish_head;
static struct publish_item	**publish_tail = &publish_head;
static int			 publish_leading;

/* Write group V of N on DB; set each item's rc. */
static void
publish_group(PGconn *db, struct publish_item **v, size_t n)
{
	const struct config	*cfg = http_config();
	size_t			 i;
	int			 rc;

	rc = store_advisories_publish(db, cfg->advisory_id_prefix,
	    cfg->advisory_id_prefix, v, n);
	log_debug("publish: a group of %zu %s", n, rc == 0 ? "committed" :
	    "failed");
	if (rc == -1 && n > 1 && !db_conn_broken(db)) {
		/* One of them may be what failed: each on its own. */
		log_warn("publish: a group of %zu failed; each on its own", n);
		for (i = 0; i < n; i++)
			publish_group(db, &v[i], 1);
		return;
	}
	for (i = 0; i < n; i++)
		v[i]->rc = rc == 0 ? 0 : db_conn_broken(db) ? -2 : -1;
}

/*
 * Publish ITEM (its doc, audience, scope and plan filled in) through DB, a
 * connection this thread holds. Returns when it has committed or failed:
 * 0 (ITEM's id, num, event_id and published_at set), -1 failed, -2 the
 * database is unavailable.
 */
int
publish_advisory(PGconn *db, struct publish_item *item)
{
	struct publish_item	*group[PUBLISH_GROUP_MAX];
	size_t			 n, i;

	item->state = PUBLISH_QUEUED;
	item->next = NULL;
	item->rc = -1;
	pthread_mutex_lock(&publish_lock);
	*publish_tail = item;
	publish_tail = &item->next;
	while (item->state != PUBLISH_DONE) {
		if (publish_leading || item->state != PUBLISH_QUEUED) {
			pthread_cond_wait(&publish_cond, &publish_lock);
			continue;
		}
		/* Lead: take the queue's head, which holds ITEM or soon will. */
		publish_leading = 1;
		for (n = 0; n < PUBLISH_GROUP_MAX && publish_head != NULL; n++) {
			group[n] = publish_head;
			group[n]->state = PUBLISH_TAKEN;
			publish_head = publish_head->next;
		}
		if (publish_head == NULL)
			publish_tail = &publish_head;
		pthread_mutex_unlock(&publish_lock);

		publish_group(db, group, n);

		pthread_mutex_lock(&publish_lock);
		for (i = 0; i < n; i++)
			group[i]->state = PUBLISH_DONE;
		publish_leading = 0;
		pthread_cond_broadcast(&publish_cond);
	}
	pthread_mutex_unlock(&publish_lock);
	return (item->rc);
}

/* Free what an item's results and plan hold (not its doc or scope). */
void
publish_item_clear(struct publish_item *item)
{
	free(item->id);
	free(item->published_at);
	item->id = item->published_at = NULL;
	store_outbox_plan_clear(&item->plan);
}
