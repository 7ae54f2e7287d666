/* cluster/cluster.h - this node's membership of a Starling cluster (CLUSTER.md, issue 14): the
 * links to the other nodes on port 7800, the route tables they gossip, and the forwarding of
 * publishes to them. The cluster runs on a loop and thread of its own ("the cluster loop");
 * workers reach it only through the calls below, which post to its mailbox and never block on
 * I/O. It reaches the broker only through struct cluster_ops: it includes nothing of broker/.
 *
 * Routing contract (what the broker does and does not do once a cluster is installed):
 * - the broker reports every change of its subscription set: a (filter, group) entering or
 *   leaving any session of this node (cluster_route_change()); the cluster keeps the node-wide
 *   count and gossips 0 -> 1 and 1 -> 0 transitions to its peers;
 * - non-shared subscriptions: the broker delivers a local PUBLISH to this node's sessions itself
 *   and hands it to cluster_forward() when cluster_maybe() says a peer may want it; the cluster
 *   sends it once to each peer with a matching route;
 * - shared subscriptions are picked by the cluster only, never by the broker on its own (else a
 *   group would get a message from each node): for every matching group, local or remote, the
 *   cluster picks one node by policy and asks that node's broker for one member
 *   (ops->deliver_shared()), re-picking another node when it has none;
 * - a message that came from a peer is delivered through ops->deliver() to this node's
 *   non-shared subscribers only and is never forwarded again. */
#ifndef CLUSTER_H
#define CLUSTER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto/base/sl_buf.h"
#include "proto/base/sl_msg.h"

struct cluster;

/* How the node that received a PUBLISH picks the node of a shared group's member. */
enum cluster_shared_policy {
	CLUSTER_SHARED_LOCAL_FIRST, /* this node if it has a member, else round robin (default) */
	CLUSTER_SHARED_ROUND_ROBIN, /* every node holding the group in turn, this one included */
};

/* Configuration (the cluster_* keys of the broker's configuration file). The cluster takes a
 * deep copy in cluster_new(); the caller keeps ownership of this one. */
struct cluster_conf {
	const char *node_id;   /* cluster_node_id: unique and stable per node (required) */
	const char *name;      /* cluster_name: nodes of another cluster are refused; "starling" */
	const char *bind_host; /* cluster_bind host[:port]: listen address (default 0.0.0.0) */
	uint16_t bind_port;    /* default 7800 */
	const char *advertise; /* cluster_advertise host:port: how peers reach this node; NULL =
	                          the bind address */
	const char **peers;    /* cluster_peers: static "host:port" list (this node may be in it) */
	uint32_t n_peers;
	const char *dns_name;     /* cluster_discovery dns NAME[:port]: re-resolved; NULL = off */
	uint16_t dns_port;        /* default 7800 */
	uint32_t dns_interval_ms; /* cluster_discovery_interval (s in the file): 5000 */
	const char *secret;       /* cluster_secret: HMAC key of the challenge (required) */
	const char *tls_cafile;   /* cluster_tls_cafile/certfile/keyfile: TLS between nodes when */
	const char *tls_certfile; /* all three are set; a peer's certificate must chain to the CA */
	const char *tls_keyfile;
	uint32_t heartbeat_ms;   /* cluster_heartbeat_interval: 500 */
	uint32_t unreachable_ms; /* cluster_unreachable_after: silence that makes a peer
	                            unreachable for routing: 2000 */
	uint32_t sub_wait_ms;    /* cluster_subscribe_wait: bound of a SUBACK's wait for the
	                            reachable peers to hold its route: 5000 */
	uint64_t buffer_bytes;   /* cluster_buffer_bytes: QoS 1/2 forwards kept per peer: 64 MiB */
	uint32_t buffer_ms;      /* cluster_buffer_time (s in the file): their age bound: 60000 */
	enum cluster_shared_policy shared_policy; /* cluster_shared_policy */
};

/* What the broker gives the cluster. Every call is made on the cluster loop. */
struct cluster_ops {
	/* msg came from a peer: route it to this node's non-shared subscribers, never to a peer
	 * again. Borrows msg (take a reference to keep it). */
	void (*deliver)(void *arg, struct sl_msg *msg);
	/* Gives msg to one member of shared group `group` with filter `filter` on this node.
	 * Borrows msg. Returns 0, or -ENOENT when the group has no member that can take it. */
	int (*deliver_shared)(void *arg, struct sl_msg *msg, struct sl_bytes group,
	                      struct sl_bytes filter);
	/* The end of a batch of deliver()/deliver_shared() calls: post what was gathered. */
	void (*flush)(void *arg);
	/* A cluster_route_wait() is over: token is the caller's. */
	void (*waited)(void *arg, void *token);
	void *arg;
};

/* Counters for $SYS and tests (cluster_stats()). */
struct cluster_stats {
	uint32_t peers_known, peers_reachable;
	bool ready;                         /* holds every reachable peer's routes */
	uint64_t routes_local;              /* (filter, group) entries this node announces */
	uint64_t routes_remote;             /* entries held of other nodes */
	uint64_t routes_bytes;              /* heap bytes of the route table, all origins */
	uint64_t route_version;             /* this node's route table version */
	uint64_t frames_out, frames_in;     /* frames of any type on the mesh */
	uint64_t forwards_out, forwards_in; /* Forward frames */
	uint64_t forward_dropped;           /* buffer over its bytes or time bound, or QoS 0
	                                       to an unreachable peer */
	uint64_t forward_resent;            /* sent again after a reconnect */
	uint64_t forward_dup_dropped;       /* received again and ignored */
	uint64_t shared_repicked;           /* another node picked after a NO_MEMBER */
	uint64_t auth_failed;               /* links refused: wrong secret or cluster */
	uint64_t digest_resyncs;            /* full syncs asked after a digest mismatch */
	uint64_t buffered_bytes;            /* QoS 1/2 forwards awaiting a peer's ack */
};

/* Creates the cluster of this node from conf (copied) and ops (copied). Does not start it.
 * Returns NULL with *err set (-EINVAL for a bad configuration, logged; -ENOMEM). */
struct cluster *cluster_new(const struct cluster_conf *conf, const struct cluster_ops *ops,
                            int *err);
/* Binds the cluster port and starts the cluster thread: it dials the peers and accepts
 * theirs. Returns 0 or a negative errno (the port is taken: logged). */
int cluster_start(struct cluster *cl);
/* Says goodbye to the peers (a last ForwardAck on every link, then close), stops the thread
 * and joins it. Any thread but the cluster loop's; once. */
void cluster_stop(struct cluster *cl);
/* Frees a stopped (or never started) cluster. NULL is a no-op. */
void cluster_free(struct cluster *cl);

/* The node-wide count of subscriptions to (filter, group) changed by delta (+1 or -1); group
 * is empty for a non-shared one, members counted in delta. Any thread; copies the views. The
 * peers learn a route when the count leaves 0 and lose it when it returns to 0. */
void cluster_route_change(struct cluster *cl, struct sl_bytes filter, struct sl_bytes group,
                          int delta);
/* Asks for ops->waited(token) once every reachable peer holds every route change reported
 * (cluster_route_change() returned) before this call, or sub_wait_ms has passed, whichever
 * is first: the broker sends a SUBACK then, so a PUBLISH accepted afterwards by any node that
 * can reach this one matches the new subscription. Any thread. */
void cluster_route_wait(struct cluster *cl, void *token);
/* Whether a message on topic may need cluster_forward(): a peer may have a matching route, or
 * any node (this one included) has a matching shared group. false is exact: nothing to do.
 * Any thread, lock-free. */
bool cluster_maybe(const struct cluster *cl, struct sl_bytes topic);
/* Sends msg, published on this node, to every peer with a matching non-shared route (one
 * frame per peer) and to one member of each matching shared group (on whatever node the
 * policy picks). Borrows msg: the cluster takes its own reference. Any thread; order is kept
 * per calling thread. */
void cluster_forward(struct cluster *cl, struct sl_msg *msg);
/* A calling thread's Forwards of one loop turn, handed over together by cluster_batch_post():
 * one lock and at most one wake-up of the cluster thread per turn instead of one per message
 * (at full speed the wake-ups cost more than the Forwards). Zero-initialised; owned by the
 * thread that fills it. */
struct cl_item;
struct cluster_batch {
	struct cl_item *head, *tail;
	/* Items the cluster thread is done with, their messages still referenced: released by
	 * the filling thread at its next post, so that a message is freed by the thread that
	 * allocated it (a free from another thread takes that thread's malloc arena lock). */
	_Atomic(struct cl_item *) done;
	struct cl_item *spare; /* released items kept for reuse, n_spare of them */
	uint32_t n_spare;
};
/* cluster_forward(), held in b until cluster_batch_post(cl, b). Order is kept per batch. */
void cluster_forward_batched(struct cluster *cl, struct cluster_batch *b, struct sl_msg *msg);
/* Hands b's Forwards to the cluster thread; b is empty after. */
void cluster_batch_post(struct cluster *cl, struct cluster_batch *b);
/* Releases what b still holds; the cluster thread has stopped (cluster_stop()). */
void cluster_batch_fini(struct cluster_batch *b);
/* This node's view of PostgreSQL (its lease's last renewal), sent in heartbeats. Any thread. */
void cluster_set_pg_ok(struct cluster *cl, bool ok);
/* Whether PostgreSQL is down for this node and every peer it reaches, and those are a majority
 * of the cluster: a global outage, in which no node fences itself. Any thread. */
bool cluster_pg_down_everywhere(const struct cluster *cl);
/* This boot of the node (random, non-zero): the node lease's incarnation. */
uint64_t cluster_incarnation(const struct cluster *cl);
/* Copies the counters. Any thread. */
void cluster_stats(const struct cluster *cl, struct cluster_stats *st);
/* The node id (from conf), for logs and $SYS. */
const char *cluster_node_id(const struct cluster *cl);

#endif
