/* broker/core/node.h - this broker as a node of a cluster: the broker's side of
 * cluster/cluster.h (node.c). It fills struct cluster_conf from the configuration, installs the
 * forwarder of route.c (struct route_remote), reports every change of the node's subscription
 * set, holds a SUBACK until the peers hold its routes, and implements the ops the cluster calls
 * on its own thread: a peer's message to this node's subscribers, a shared group's message to
 * one member here. On a single node (no cluster key set) b->node is NULL and every call below
 * is a no-op. */
#ifndef NODE_H
#define NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/base/sl_buf.h"

struct broker;
struct worker;
struct conf;
struct cluster;
struct cluster_conf;

/* What node_conf() allocates for the strings of a struct cluster_conf. */
struct node_conf_mem {
	char *bind_host;    /* owned */
	char *dns_name;     /* owned */
	const char **peers; /* owned; its strings point into peer_text */
	char *peer_text;    /* owned: the peers as "host:port" strings, one after the other */
};

/* Fills cc from c, a cluster node's configuration (conf_cluster_on(); conf_load() checked
 * it). cc's strings point into c and into *mem: keep both until cluster_new() copied cc, then
 * node_conf_fini(mem). Ports left out take 7800; seconds in the file become milliseconds.
 * Returns 0, -EINVAL (an address conf_load() did not check: c was made by hand) or -ENOMEM;
 * node_conf_fini() it either way. */
int node_conf(const struct conf *c, struct cluster_conf *cc, struct node_conf_mem *mem);
void node_conf_fini(struct node_conf_mem *mem);

/* Makes b a cluster node when its configuration says so (cluster_new(), route_set_remote()):
 * before the store is loaded, so that the subscriptions of restored sessions are reported,
 * and before any loop runs. Returns 0 (also when b is a single node) or a negative errno
 * (logged). */
int node_open(struct broker *b);
/* Starts the cluster (its port and thread) once the workers are set up: the cluster may call
 * the ops at once. Returns 0 or a negative errno (logged): a fatal start-up error. */
int node_start(struct broker *b);
/* Stops the cluster and joins its thread: no op runs after this returns, so the workers may
 * stop. Idempotent; any thread but the cluster's (worker_stop_all()). */
void node_stop(struct broker *b);
/* Frees what node_open() made, once no worker runs. */
void node_close(struct broker *b);

/* (filter, group) (an index key: route_index_key(); group empty for a non-shared one) entered
 * (+1) or left (-1) the subscriptions of one session of this node. Any thread. */
void node_route_change(struct broker *b, struct sl_bytes filter, struct sl_bytes group, int delta);
/* Whether a SUBACK must wait for node_route_wait() (b is a cluster node). */
bool node_waits(const struct broker *b);
/* A worker done with an MB_ROUTE_MANY item hands it back (true): the cluster thread that
 * allocated its messages frees them. false: free it as usual. Any worker. */
struct mb_item;
bool node_give_back(struct broker *b, struct mb_item *it);
/* Asks the cluster to say when every reachable peer holds the route changes reported so far
 * by w (or its wait bound passed): an MB_WAITED item carrying key (below 2^48, not 0) then
 * arrives in w's mailbox. On w's loop. */
void node_route_wait(struct worker *w, uint64_t key);
/* b's cluster, or NULL on a single node. */
struct cluster *node_cluster(const struct broker *b);

/* node_lease.c: the node lease, when sessions live in PostgreSQL (node_lease_wanted()).
 * node_lease_start() returns it started (the caller stops it with lease_stop()), or NULL
 * (logged). */
struct lease;
bool node_lease_wanted(struct broker *b);
struct lease *node_lease_start(struct broker *b);

#endif
