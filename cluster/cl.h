/* cluster/cl.h - the cluster's inside, shared by its files; nothing outside cluster/ includes
 * it. Everything here lives on the cluster loop (one thread) but for the mailbox (mb_mu) and
 * the stats snapshot (st_mu). Files: cluster.c (thread, mailbox, API), link.c (a TCP
 * connection: frames, Hello/Auth), peer.c (targets to dial, peers by node id, heartbeats,
 * reachability, readiness), gossip.c (route tables, deltas, full syncs, waits), forward.c
 * (Forward out and in, buffers, acks). */
#ifndef CL_H
#define CL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/cluster.h"
#include "cluster/ctls.h"
#include "cluster/frame.h"
#include "cluster/fwd_wire.h"
#include "cluster/rtable.h"
#include "proto/base/sl_buf.h"
#include "proto/base/sl_err.h"
#include "proto/base/sl_msg.h"

#define CL_NONCE_LEN 32
#define CL_MAC_LEN 32
/* Bytes written to a link's socket and not yet completed above which no more Forwards are
 * encoded for it: they wait in the peer's queue, where control frames cannot be stuck behind
 * them (one link carries both; this bounds the kernel-side head-of-line wait). */
#define CL_LINK_INFLIGHT_MAX (4u << 20)
/* Unpacking one frame's meta may allocate at most this (a full-sync chunk is the largest). */
#define CL_UNPACK_MAX (64u << 20)
/* Routes per RouteFullSync frame. */
#define CL_SYNC_CHUNK 65536
#define CL_BACKOFF_MIN_MS 100
#define CL_BACKOFF_MAX_MS 2000

struct cluster;
struct cl_peer;

/* A mailbox item: what other threads ask of the cluster loop. */
enum cl_item_type { CL_ITEM_ROUTE, CL_ITEM_WAIT, CL_ITEM_FORWARD, CL_ITEM_STOP };

/* Messages per FORWARD item of a cluster_batch (cluster_forward() posts items of one). */
#define CL_ITEM_MSGS 256
struct cl_item {
	struct cl_item *next;
	enum cl_item_type type;
	int32_t delta;        /* ROUTE */
	void *token;          /* WAIT */
	struct sl_msg *msg;   /* FORWARD of one message: an owned reference */
	struct sl_msg **msgs; /* FORWARD of a batch: owned array of n_msgs owned references */
	uint32_t n_msgs;
	struct cluster_batch *owner; /* FORWARD of a batch: where to give it back once done */
	uint32_t flen, glen;         /* ROUTE: the filter then the group follow the item */
	char text[];
};

/* One Forward waiting for a peer: not yet sent, or sent and not yet acknowledged (QoS 1/2 and
 * shared ones are kept until acknowledged; QoS 0 is dropped once written). */
struct cl_fwd {
	struct cl_fwd *next;
	uint64_t seq;       /* 0 until first sent on a link */
	struct sl_msg *msg; /* owned reference */
	uint64_t enq_ms;
	uint64_t tried;      /* shared: origins already asked (bit per slot) */
	bool sent;           /* written on a link at least once (a resend is counted) */
	uint8_t *group;      /* shared: owned group\0filter, or NULL */
	uint32_t glen, flen; /* shared: their lengths */
};

/* A TCP connection to or from another node, before and after it is authenticated. */
struct cl_link {
	struct cluster *cl;
	struct cl_link *next; /* in cl->links */
	uv_tcp_t tcp;         /* freed in its close callback */
	uv_connect_t connect;
	struct cl_target *target; /* outbound: what was dialled; NULL inbound */
	struct cl_peer *peer;     /* bound once authenticated */
	bool closing, got_hello, got_auth, sent_auth, left;
	uint8_t nonce[CL_NONCE_LEN], peer_nonce[CL_NONCE_LEN];
	char *peer_id; /* from the peer's Hello, owned */
	uint64_t peer_inc;
	uint64_t knows_inc, knows_ver; /* our routes as the peer's Hello says it holds them */
	struct sl_buf rx, tx;    /* read and not yet framed; to write at the loop turn's end */
	struct ctls *tls;        /* with cluster_tls_*: owned; rx and tx are plaintext then */
	struct sl_buf raw, cout; /* with tls: bytes as read; records to write */
	size_t inflight;         /* bytes handed to uv_write and not completed */
	char addr[64];           /* the remote address, for logs */
};

/* An address to dial (static peer or DNS answer). */
struct cl_target {
	struct cl_target *next;
	char *hostport; /* owned "host:port" */
	struct sockaddr_storage sa;
	bool resolved, self, seen; /* seen: still in the last DNS answer */
	bool tried;                /* dialled at least once (readiness waits for one round) */
	struct cl_link *link;      /* the outbound attempt or connection, or NULL */
	struct cl_peer *peer;      /* who answered last time, or NULL */
	uint64_t next_dial_ms;
	uint32_t backoff_ms;
	uv_getaddrinfo_t gai;
	bool resolving;
};

/* Another node, known by its node id once one of its links authenticated. Its slot is its
 * origin number in the route table. Peers are never freed before the cluster. */
struct cl_peer {
	struct cluster *cl;
	uint8_t slot;
	char *node_id;        /* owned */
	struct cl_link *link; /* the authenticated link in use, or NULL */
	uint64_t incarnation; /* its boot, from its last Hello */
	bool reachable;
	uint64_t last_rx_ms;
	/* Its routes as this node holds them. */
	uint64_t rt_inc, rt_version;
	bool rt_synced, rt_syncing, sync_asked;
	uint32_t sync_chunk;
	/* Our routes as it holds them: its last RouteAck for our incarnation. */
	uint64_t acked_version;
	bool needs_sync; /* send it our table at the turn's end */
	/* Forwards to it, in order: head is the oldest unacknowledged; unsent the first one not
	 * yet written on the current link (NULL: all written). */
	struct cl_fwd *q_head, *q_tail, *unsent;
	uint64_t next_seq, q_bytes;
	uint32_t q_len;
	/* Forwards from it: the highest seq handled for its incarnation, and what to ack. */
	uint64_t in_inc, in_seq;
	bool ack_due;
	Starling__Cluster__V1__Nack **nacks;
	uint32_t n_nacks, cap_nacks;
	uint64_t hb_seq, last_tx_hb_ms;
	uint64_t down_since_ms; /* when its link went; 0 while linked */
	bool repicked;          /* its shared Forwards went elsewhere since it went down */
	bool pg_ok;             /* from its last heartbeat */
	uint64_t our_ver_sent;  /* our route version it has, or will once our frames arrive */
};

/* A cluster_route_wait() not over yet. */
struct cl_wait {
	struct cl_wait *next;
	void *token;
	uint64_t version; /* our route version it needs every reachable peer to hold */
	uint64_t deadline_ms;
};

struct cluster {
	struct cluster_conf conf; /* deep copy: strings in conf_mem */
	char *conf_mem;
	struct cluster_ops ops;
	uint64_t incarnation;
	uv_loop_t loop;
	uv_thread_t thread;
	bool started, loop_open;
	uv_async_t mb_async;
	pthread_mutex_t mb_mu;
	struct cl_item *mb_head, *mb_tail;
	uv_tcp_t listener;
	struct ctls_ctx *tls; /* owned; NULL without cluster_tls_* */
	uv_timer_t tick;
	uv_timer_t dns_timer;
	uv_getaddrinfo_t dns_req;
	bool dns_busy;
	uv_prepare_t flush;
	bool stopping;
	struct rtable *rt;
	/* PostgreSQL as this node's lease sees it (cluster_set_pg_ok(), any thread), and whether
	 * it is down for every node of a reachable majority (cl_peer_pg_view(), read by any). */
	atomic_bool pg_ok, pg_down_all;
	struct cl_peer *peers[RTABLE_MAX_ORIGINS]; /* by slot; [0] is this node: NULL */
	struct cl_target *targets;
	struct cl_link *links;
	/* Our own routes: their version, and the ops of this turn not yet sent. */
	uint64_t version, sent_version;
	Starling__Cluster__V1__RouteOp **rops;
	uint32_t n_rops, cap_rops;
	struct cl_wait *waits;
	uint32_t rr; /* round robin of shared picks */
	bool first_round_done;
	struct cluster_stats st; /* the loop's counters */
	pthread_mutex_t st_mu;
	struct cluster_stats snap; /* copied at each turn's end, under st_mu */
};

/* cluster.c */
uint64_t cl_now_ms(const struct cluster *cl);
/* link.c */
void cl_link_accepted(struct cluster *cl);
int cl_link_dial(struct cluster *cl, struct cl_target *t);
void cl_link_close(struct cl_link *l, const char *why);
/* Appends one frame to l's output (written at the turn's end). Returns 0 or -ENOMEM (the
 * link is closed then). */
int cl_link_send(struct cl_link *l, uint8_t type, const ProtobufCMessage *meta,
                 const struct sl_bytes *tail);
/* cl_link_send() of a Forward coded by cluster/fwd_wire.c (the hot path). */
int cl_link_send_fwd(struct cl_link *l, const struct clw_fwd *fw, struct sl_bytes payload);
void cl_link_flush_all(struct cluster *cl);
/* peer.c */
int cl_peer_targets_init(struct cluster *cl);
void cl_peer_tick(struct cluster *cl);
void cl_peer_dns_start(struct cluster *cl);
/* l authenticated as node_id/incarnation: binds it to its peer (creating one) or closes it
 * if another link to the same peer wins. Returns the peer, or NULL when l was closed. */
struct cl_peer *cl_peer_bind(struct cl_link *l);
/* l (bound to a peer) is closing. */
void cl_peer_unbind(struct cl_link *l);
/* Recomputes cl->pg_down_all from this node's and the reachable peers' pg_ok. */
void cl_peer_pg_view(struct cluster *cl);
void cl_peer_heartbeat_in(struct cl_peer *p, const Starling__Cluster__V1__Heartbeat *hb);
void cl_peer_update_ready(struct cluster *cl);
/* The peer of slot, if reachable. */
struct cl_peer *cl_peer_reachable(struct cluster *cl, uint8_t slot);
/* gossip.c */
int cl_gossip_init(struct cluster *cl);
void cl_gossip_fini(struct cluster *cl);
void cl_gossip_change(struct cluster *cl, struct sl_bytes f, struct sl_bytes g, int32_t delta);
void cl_gossip_wait(struct cluster *cl, void *token);
void cl_gossip_flush(struct cluster *cl);
void cl_gossip_check_waits(struct cluster *cl, bool timers);
void cl_gossip_link_up(struct cl_peer *p);
void cl_gossip_link_down(struct cl_peer *p);
void cl_gossip_frame(struct cl_peer *p, uint8_t type, const ProtobufCMessage *m);
void cl_gossip_fill_heartbeat(struct cluster *cl, Starling__Cluster__V1__Heartbeat *hb);
void cl_gossip_check_digest(struct cl_peer *p, const Starling__Cluster__V1__Heartbeat *hb);
/* The origin's (incarnation, version) for Hello's known_versions; n set. Owned array. */
Starling__Cluster__V1__KnownVersion **cl_gossip_known(struct cluster *cl, size_t *n);
/* forward.c */
void cl_fwd_out(struct cluster *cl, struct sl_msg *msg);
void cl_fwd_in(struct cl_peer *p, const struct clf_frame *f);
void cl_fwd_ack_in(struct cl_peer *p, const Starling__Cluster__V1__ForwardAck *a);
void cl_fwd_link_up(struct cl_peer *p);
void cl_fwd_link_down(struct cl_peer *p, bool left);
void cl_fwd_pump(struct cl_peer *p);
void cl_fwd_send_acks(struct cl_peer *p);
void cl_fwd_expire(struct cl_peer *p, uint64_t now_ms);
void cl_fwd_free_all(struct cl_peer *p);
/* auth.c */
/* Fills p with n random bytes (nonces, incarnations). */
void cl_auth_random(void *p, size_t n);
/* The MAC the node `from` sends to `to`: over the cluster name, both ids and both nonces
 * (the receiver's first), so it cannot be replayed on another link or reflected. */
void cl_auth_mac(const struct cluster *cl, const char *from, const char *to,
                 const uint8_t to_nonce[CL_NONCE_LEN], const uint8_t from_nonce[CL_NONCE_LEN],
                 uint8_t mac[CL_MAC_LEN]);

#endif
