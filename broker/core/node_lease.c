/* broker/core/node_lease.c - the node lease (cluster/lease.h) as this broker uses it (issue
 * 15): started with the cluster when sessions live in PostgreSQL; its renewals go into the
 * cluster's heartbeats (pg_ok); fenced, the node closes every client with v5 DISCONNECT 0x9C
 * (use another server) and refuses CONNECTs with the same code (v3: server unavailable) until
 * a renewal succeeds again, unless PostgreSQL is down for every node it reaches (a global
 * outage: nobody could take its clients over, so it keeps serving); declared dead by a peer
 * (lost), it stops with exit code 75 (EX_TEMPFAIL) so that its supervisor starts a new boot. */
#include "broker/core/node.h"

#include <errno.h>
#include <string.h>

#include "broker/conf/conf.h"
#include "broker/core/broker.h"
#include "broker/core/worker.h"
#include "cluster/cluster.h"
#include "cluster/lease.h"
#include "proto/base/sl_err.h"
#include "proto/base/sl_log.h"

#define EXIT_LOST 75

/* ---- the lease's callbacks, on its thread ---- */

static void
on_fenced(void *arg, bool fenced)
{
	struct broker *b = arg;
	struct mb_item *it;

	atomic_store(&b->fenced, fenced);
	if (!fenced)
		return; /* CONNECTs are taken again; nothing to tell the workers */
	for (uint32_t i = 0; i < b->n_workers; i++) {
		if (!atomic_load(&b->workers[i].active) || (it = worker_item(MB_FENCE)) == NULL)
			continue;
		worker_post(&b->workers[i], it);
	}
}

static void
on_lost(void *arg)
{
	struct broker *b = arg;
	struct mb_item *it;

	LOG_ERR("cluster",
	        "this node was declared dead by a peer: stopping (exit %d), to come back "
	        "as a new boot",
	        EXIT_LOST);
	on_fenced(b, true);
	if ((it = worker_item(MB_STOP)) != NULL) {
		it->code = EXIT_LOST;
		worker_post(&b->workers[0], it);
	}
}

static void
on_renewed(void *arg, bool ok)
{
	struct broker *b = arg;

	cluster_set_pg_ok(node_cluster(b), ok);
}

static bool
on_global_outage(void *arg)
{
	return cluster_pg_down_everywhere(node_cluster(arg));
}

/* ---- life cycle ---- */

bool
node_lease_wanted(struct broker *b)
{
	const struct conf *c = broker_conf(b);

	return node_cluster(b) != NULL && c->session_store != NULL &&
	       strcmp(c->session_store, "postgres") == 0 && c->postgres_dsn != NULL;
}

struct lease *
node_lease_start(struct broker *b)
{
	struct cluster *cl = node_cluster(b);
	const struct conf *c = broker_conf(b);
	struct lease_conf lc = {c->postgres_dsn,         cluster_node_id(cl),
	                        cluster_incarnation(cl), c->cluster_lease_renew,
	                        c->cluster_lease_ttl,    c->cluster_lease_fence,
	                        c->cluster_lease_grace};
	struct lease_ops ops = {on_fenced, on_lost, NULL, on_renewed, on_global_outage, b};
	struct lease *l;
	int rc;

	if ((l = lease_start(&lc, &ops, &rc)) == NULL)
		LOG_ERR("cluster", "cannot start the node lease: %s%s", sl_strerror(rc),
		        rc == -EINVAL
		                ? " (cluster_lease_renew_interval < cluster_lease_fence_after < "
		                  "cluster_lease_ttl is required)"
		                : "");
	return l;
}
