/* broker/core/broker_conf.c - the configuration in force, replaced whole on SIGHUP and read by
 * every worker.
 *
 * Sharing: b->conf points to an immutable struct conf that every worker reads without a lock
 * (an acquire load, worker_conf()). A reload, on worker 0, copies the one in force, applies the
 * reloadable keys of the file to the copy and swaps the pointer (release): the next read on
 * any worker sees the new keys, and no read ever sees a key half written. As with the auth
 * rules (access.c), the old one cannot be freed then, since another worker may be reading
 * it or hold a pointer into it (a listener's keys); replaced ones are kept until shutdown, a
 * few kilobytes per SIGHUP. */
#include <errno.h>

#include "broker/conf/conf.h"
#include "broker/core/broker.h"
#include "broker/core/worker.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

/* A copy of cur with fresh's reloadable keys; *changed says how many. Returns it (owned by the
 * caller), or NULL when out of memory. */
static struct conf *
next_snapshot(const struct conf *cur, const struct conf *fresh, int *changed)
{
	struct conf *snap = sl_calloc(1, sizeof(*snap));

	if (snap == NULL)
		return NULL;
	if (conf_copy(snap, cur) < 0 || (*changed = conf_reload_apply(snap, fresh)) < 0) {
		conf_fini(snap);
		sl_free(snap);
		return NULL;
	}
	return snap;
}

int
broker_conf_reload(struct worker *w)
{
	struct broker *b = w->b;
	const struct conf *cur = worker_conf(w);
	struct conf fresh, *snap, **kept;
	char err[512];
	int changed = 0;

	if ((kept = sl_realloc(b->confs, (b->n_confs + 1) * sizeof(*kept))) == NULL)
		goto fail_nomem;
	b->confs = kept;
	conf_init(&fresh);
	if (conf_load(&fresh, cur->path, err, sizeof(err)) < 0) {
		LOG_ERR("broker", "reload failed, keeping the running configuration: %s", err);
		conf_fini(&fresh);
		return -EINVAL;
	}
	snap = next_snapshot(cur, &fresh, &changed);
	conf_fini(&fresh);
	if (snap == NULL)
		goto fail_nomem;
	b->confs[b->n_confs++] = snap;
	atomic_store_explicit(&b->conf, snap, memory_order_release);
	sl_log_set_mask(snap->log_type_mask);
	LOG_NOTICE("broker", "configuration reloaded, %d keys changed", changed);
	return changed;

fail_nomem:
	LOG_ERR("broker", "reload failed, keeping the running configuration: %s", "out of memory");
	return -ENOMEM;
}

void
broker_conf_fini(struct broker *b)
{
	size_t i;

	atomic_store(&b->conf, NULL);
	for (i = 0; i < b->n_confs; i++) {
		conf_fini(b->confs[i]);
		sl_free(b->confs[i]);
	}
	sl_free(b->confs);
	b->confs = NULL;
	b->n_confs = 0;
}
