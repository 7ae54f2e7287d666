/* broker/core/worker.h - one worker: a libuv loop on its own thread with its listening
 * sockets, connections, sessions and subscription index (worker.c), and its mailbox, the one
 * way other threads reach it (worker_mb.c). Everything here is touched only from the worker's
 * own loop, but for the mailbox (any thread) and snap (under snap_mu). */
#ifndef WORKER_H
#define WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "broker/core/broker.h"
#include "proto/base/sl_buf.h"

/* One read's worth: every connection of a worker reads into this buffer in turn. */
#define WORKER_RX_SCRATCH 65536

struct sl_msg;
struct topic_tree;
struct retain_store;
struct sess;
struct conn;
struct slice;
struct store_h;
struct ack_leg;
struct pend_ack;
struct match_ent;
struct route_interest;
struct xport;
struct sub_waits;

struct worker_stats {
	uint64_t clients_total;
	uint64_t clients_connected;
	uint64_t msgs_received, msgs_sent, bytes_received, bytes_sent;
	uint64_t pub_dropped;
	uint64_t connections_refused;
	uint64_t conn_timed_out;    /* closed: no CONNECT in time, or a stalled packet */
	uint64_t pub_throttled;     /* times a publisher's reading was paused (rate limits) */
	uint64_t load_conn_refused; /* CONNECTs refused above memory_limit */
	uint64_t load_pub_dropped;  /* QoS 0 shed above memory_limit */
	uint64_t load_pub_refused;  /* QoS 1/2 PUBLISHes refused above the refuse mark */
	uint64_t loop_stall_max_us; /* the longest loop turn outside the poll (worker.c) */
};

/* Mailbox items: the only things besides messages that cross worker loops. */
enum mb_type {
	MB_ROUTE,
	MB_ROUTE_MANY, /* msgs[0, n_msgs): route_local() each, in order (messages from a peer) */
	MB_DELIVER,
	MB_CONN,
	MB_STOP,
	MB_ACK,
	MB_RECHECK,
	MB_WAITED,
	MB_FENCE /* the node is fenced (node_lease.c): close every client with 0x9C */
};
struct mb_item {
	struct mb_item *next;
	enum mb_type type;
	struct sl_msg *msg;   /* owned reference (ROUTE, DELIVER) */
	struct sl_msg **msgs; /* ROUTE_MANY: owned array of owned references */
	uint32_t n_msgs;
	struct ack_leg *leg;   /* ROUTE, DELIVER: a publisher waits for this worker; one part */
	uint64_t sess_id;      /* DELIVER, ACK */
	uint64_t ack_id;       /* ACK: which of the session's owed acknowledgements; WAITED: the
	                          SUBACK the cluster's wait released (handle_sub_waited()) */
	struct pend_ack *pend; /* ACK: that one; valid while the session sess_id exists */
	uint32_t sub_id;
	uint8_t qos;
	bool retain;
	int fd; /* CONN: owned descriptor; -1 when none */
	int listener;
	struct xport *x;  /* CONN: the connection's transport, owned; NULL when plain */
	int code;         /* STOP: exit code; ACK: the store's status */
	struct sl_buf rx; /* CONN: bytes read but not yet handled */
	char peer[64];
};

struct worker {
	struct broker *b;
	uint32_t idx; /* worker index */
	uv_thread_t thread;
	/* Listening and its loop running (worker 0 from the start; the others when placement
	 * first needs them, worker_activate()); read by any thread. */
	atomic_bool active;
	uv_loop_t loop_storage;
	uv_loop_t *loop;
	uint8_t *rx_scratch; /* WORKER_RX_SCRATCH bytes, owned */
	struct topic_tree *subs;
	/* What subs may match, read by the other workers without a lock (route_interest.c) */
	struct route_interest *interest;
	/* Its loop's busy share over the last tick, per mille, read by owner_place() (any thread)
	 */
	atomic_uint busy_permille;
	uint64_t tick_ns, tick_idle_ns; /* at the last tick (worker.c) */
	struct retain_store *retained;
	pthread_mutex_t mb_mu;
	struct mb_item *mb_head, *mb_tail;
	uv_async_t mb_async;
	/* Set before the loop polls, cleared after: a post to an awake worker needs no wake-up,
	 * its loop looks at the mailbox before it polls again (worker_mb.c). */
	atomic_bool sleeping;
	uv_check_t woke;
	/* Items this loop turn routed to each other worker, posted together at the turn's end
	 * (worker_post_batched): one lock and at most one wake-up per destination and turn. */
	struct mb_batch *out; /* n_workers, indexed by destination; NULL with one worker */
	uint32_t *out_dirty;  /* destinations with items in out, n_out_dirty of them */
	uint32_t n_out_dirty;
	pthread_mutex_t snap_mu; /* guards snap and snap_* */
	struct worker_stats snap;
	uint64_t snap_sess, snap_subs;
	struct sess **sess_tab; /* by client id (sess_find()), and so by id (sess_by_id()) */
	uint32_t sess_cap, n_sess;
	struct sess *all_sess;
	struct conn *conns;
	struct conn *dirty;
	uint32_t n_conns;
	uv_tcp_t *listeners;
	size_t n_listeners;
	uv_prepare_t flush;
	uv_idle_t slice_idle;               /* runs slices while any is queued (slice.h) */
	struct slice *slices, *slices_tail; /* queued, in turn order */
	uv_timer_t tick;
	uv_signal_t sig_term, sig_int, sig_hup;
	struct store_h *sh;    /* this loop's handle on b->store */
	struct ack_leg **legs; /* parts waiting for this turn's barrier (persist_ack.c) */
	uint32_t n_legs, cap_legs;
	void *free_legs, *free_acks; /* persist_ack.c's free lists, linked through the first word */
	uint32_t n_free_legs, n_free_acks;
	char peer_buf[64]; /* conn_peer()'s answer */
	/* The packet being handled, as received (conn.c process_input(); a loop handles one at a
	 * time): a CONNECT that starts an AUTH exchange is copied from here, to be handled once
	 * authentication ends (handle_auth.c). */
	const uint8_t *pkt_raw;
	size_t pkt_raw_len;
	struct match_ent *match;
	uint32_t n_match, cap_match;
	struct sub_waits *sub_waits; /* SUBACKs waiting for the cluster (handle_sub.c), or NULL */
	struct sl_buf mount_buf;     /* a topic with its listener's mount point (mount.c) */
	uint64_t started_ms;
	uint64_t turn_ns, turn_idle_ns; /* at the last loop turn's end (worker.c measure_stall) */
	uint64_t last_sys_ms;
	uint64_t id_counter;
	struct worker_stats st;
	int mem_level; /* limit_mem_level() at the last tick (limit.c) */
	bool stopping;
	int exit_code;
};

/* worker.c */
/* The worker that owns client id id[0, len) (not NUL-terminated). Any loop. */
uint32_t worker_owner(const struct broker *b, const char *id, size_t len);
struct mb_item *worker_item(enum mb_type type);
/* A batch of mailbox items for one destination, in post order. */
struct mb_batch {
	struct mb_item *head, *tail;
};
/* Posts item (taken) to `to` at the end of from's loop turn, after the items from posted
 * before it this turn. On from's loop. Per-sender order holds with worker_post() only for
 * items that need none between them (route.c's MB_ROUTE and MB_DELIVER use this one). */
void worker_post_batched(struct worker *from, struct worker *to, struct mb_item *item);
/* Posts q's items (taken; q is left empty) to `to` in one go. Any thread. */
void worker_post_batch(struct worker *to, struct mb_batch *q);
/* Posts the turn's batches (from the flush, before the loop polls). */
void worker_post_flush(struct worker *w);
/* Before w's loop polls: marks it asleep, and wakes it at once if its mailbox holds items. */
void worker_before_poll(struct worker *w);
void worker_post(struct worker *to, struct mb_item *item);
int worker_handoff(struct conn *c, uint32_t to, const uint8_t *data, size_t len);
int worker_mailbox_init(struct worker *w);
void worker_mailbox_fini(struct worker *w);
int worker_start(struct worker *w);
/* Makes worker i listen and starts its thread, once (a worker other than 0 starts only when
 * it first gets a session: until then the process has one loop and one thread, so a lightly
 * loaded broker costs what a one-worker one does). Any worker's loop, or before the loops run.
 * Returns 0, or a negative errno (logged; the caller places the session elsewhere). */
int worker_activate(struct broker *b, uint32_t i);
void worker_stop_all(struct broker *b, int code);

/* worker.c */
int worker_init(struct worker *w, struct broker *b, uint32_t idx);
int worker_listen(struct worker *w);
void worker_fini(struct worker *w);
void worker_stop(struct worker *w, int exit_code);
int worker_reload(struct worker *w);

/* The configuration in force, from w's loop (broker_conf()). */
static inline const struct conf *
worker_conf(const struct worker *w)
{
	return broker_conf(w->b);
}

#endif
