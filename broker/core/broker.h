/* broker/core/broker.h - what the workers of one process share, and the configuration in
 * force (broker_conf.c: an immutable snapshot every worker reads through an atomic pointer,
 * swapped whole on SIGHUP). */
#ifndef BROKER_H
#define BROKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/core/route.h"

struct conf;
struct auth;
struct retain_store;
struct topic_tree;
struct store;
struct tls_set;
struct owner_table;
struct worker;
struct node;

/* What the workers of one process share. Everything here is either immutable after start,
 * atomic, or behind its own lock. */
struct broker {
	/* The configuration in force, immutable: a reload swaps in a new snapshot (worker_conf.c).
	 * Read it with worker_conf() or broker_conf(). */
	_Atomic(const struct conf *) conf;
	struct conf **confs; /* snapshots made by reloads, the one in force among them; owned */
	size_t n_confs;
	struct retain_store *retained; /* thread-safe */
	struct worker *workers;
	uint32_t n_workers;
	pthread_mutex_t share_mu;  /* guards `shared` */
	struct topic_tree *shared; /* shared subscription groups of every worker */
	atomic_uint n_shared;
	_Atomic(struct auth *) auth; /* password file and ACL in force (access.c) */
	/* per_listener_settings: each listener's own rules, n_lauth = its listeners; else 0 */
	_Atomic(struct auth *) *lauth;
	uint32_t n_lauth;
	struct auth **auth_old; /* replaced by reloads, freed at exit (access.c) */
	size_t n_auth_old;
	atomic_uint conns;           /* connections of all workers */
	atomic_uint *listener_conns; /* per listener, all workers */
	uint64_t started_ms;
	struct store *store;         /* owned; thread-safe */
	atomic_uint n_stored;        /* sessions the store holds, all workers */
	atomic_bool stopping;        /* no more mailbox posts between workers */
	atomic_bool fenced;          /* the node lease is lost for now: no clients (node_lease.c) */
	atomic_uint n_interested;    /* workers holding any filter (route_interest.c) */
	struct owner_table *owners;  /* client id -> worker (owner.h); NULL with one worker */
	pthread_mutex_t activate_mu; /* serialises worker_activate() */
	struct route_remote remote;  /* other nodes (route_set_remote), or none */
	struct node *node;           /* this node's cluster (node.h), or NULL: a single node */
	struct tls_set *tls;         /* per-listener TLS contexts (tls.c), thread-safe */
};

/* The configuration in force (b->conf). Any thread; valid until the broker is freed. Read it
 * again rather than keep it across loop turns: a reload replaces it. */
static inline const struct conf *
broker_conf(struct broker *b)
{
	return atomic_load_explicit(&b->conf, memory_order_acquire);
}
/* Reloads the file the configuration came from (its path, not NULL) and swaps in a snapshot
 * with its reloadable keys (conf_reload_apply()); on a bad file keeps the one in force and logs
 * why. Worker 0 (SIGHUP). Returns how many keys changed, or a negative errno. */
int broker_conf_reload(struct worker *w);
/* Frees the snapshots reloads made (not the first one: its owner frees it) and sets b->conf
 * NULL; no worker runs any more. */
void broker_conf_fini(struct broker *b);

#endif
