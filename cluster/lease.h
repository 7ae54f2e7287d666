/* cluster/lease.h - this node's lease in PostgreSQL, and deciding that other nodes are dead
 * (issue 15; docs/cluster.md "sessions across nodes"). Death is a fact written in PostgreSQL
 * (table cluster_node, storage/store_pg_schema.c migration 3), never a conclusion from mesh
 * silence: a node renews `lease_until = now() + ttl` every renew period; a peer may mark it dead
 * only once its lease has been expired for `grace` more (one conditional UPDATE: exactly one
 * peer wins, and it records the set of nodes alive at that moment, which every adopter then
 * uses alike). A node whose renewals have failed for `fence` (< ttl, by its own monotonic
 * clock) is fenced: it must stop serving before anyone may declare it dead.
 *
 * Threads: the lease runs its own thread with its own blocking libpq connection (never a
 * worker's). Callbacks run on that thread; they must not block and must not call lease_*. */
#ifndef CLUSTER_LEASE_H
#define CLUSTER_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lease;

struct lease_conf {
	const char *dsn;      /* PostgreSQL, as postgres_dsn */
	const char *node_id;  /* this node */
	uint64_t incarnation; /* this boot of it (the cluster's) */
	uint32_t renew_ms;    /* 0 = 1000 */
	uint32_t ttl_ms;      /* 0 = 8000 */
	uint32_t fence_ms;    /* 0 = 6000; must be < ttl_ms */
	uint32_t grace_ms;    /* 0 = 2000 */
};

struct lease_ops {
	/* This node turned fenced (renewals failing for fence_ms) or unfenced (one succeeded). */
	void (*fenced)(void *arg, bool fenced);
	/* A peer declared this node (this incarnation) dead or left: it must drop every client
	 * and session it holds and may only come back as a new incarnation. Once. */
	void (*lost)(void *arg);
	/* This node declared node_id (incarnation inc) dead; live[0, n_live) is the set of nodes
	 * alive at that moment (this one included), as written in PostgreSQL. Borrowed. */
	void (*declared)(void *arg, const char *node_id, uint64_t inc, const char *const *live,
	                 size_t n_live);
	/* Each period: whether this node's renewal (or join) succeeded. May be NULL. */
	void (*renewed)(void *arg, bool ok);
	/* Asked before fencing: true when PostgreSQL is down for everyone (the peers this node
	 * reaches say so), and then this node does not fence: nobody could declare it dead and
	 * adopt its sessions, so it keeps serving. May be NULL (always fence). */
	bool (*global_outage)(void *arg);
	void *arg;
};

struct lease_stats {
	uint64_t renewals, renew_failures, declared;
	bool fenced, lost;
};

/* Starts the lease's thread: it joins (inserting or taking over the node's row with this
 * incarnation) and renews from then on. Returns the lease (owned by the caller: lease_stop())
 * or NULL with *err (negative errno). conf's strings are copied. */
struct lease *lease_start(const struct lease_conf *conf, const struct lease_ops *ops, int *err);
/* Stops the thread and frees l. leaving: marks the row left (state 2) first, so that no
 * peer waits out the ttl (a clean shutdown, after this node's sessions went elsewhere). */
void lease_stop(struct lease *l, bool leaving);
void lease_stats(struct lease *l, struct lease_stats *out);

#endif
