/* storage/store_be.h - what a backend implements, and the little it may call back. Private to
 * storage/: the broker sees only store.h.
 *
 * Each backend gets its own thread with its own libuv loop (for uv_poll on a database socket,
 * timers, the hiredis adapter). The core hands it writes in batches, in the order the handles
 * made them; the backend reports each op done once it is durable, or failed. */
#ifndef STORE_BE_H
#define STORE_BE_H

#include "store.h"

enum store_op_kind {
	SOP_SESS_PUT,
	SOP_SESS_DEL,
	SOP_SUB_PUT,
	SOP_SUB_DEL,
	SOP_Q_PUT,
	SOP_Q_STATE,
	SOP_Q_DEL,
	SOP_RX_PUT,
	SOP_RX_DEL,
	SOP_WILL_PUT,
	SOP_WILL_DEL,
	SOP_RET_PUT,
	SOP_RET_DEL,
	SOP_BARRIER,
};

struct store_bar;

/* One write (or a barrier) as a handle made it. Every pointer in it is owned by the op. */
struct store_op {
	struct store_op *next;
	uint8_t kind;
	char *key; /* client id; the topic for RET_DEL; NULL for RET_PUT, BARRIER. In the op's own
	            * allocation (store_h.c), or borrowed by an op on the stack */
	struct store_sess sess;  /* SESS_PUT: client_id aliases key */
	struct store_sub sub;    /* SUB_PUT, SUB_DEL: filter owned (const only for the API) */
	struct store_q q;        /* Q_PUT (q.msg a reference), Q_STATE (seq, state, pid),
	                          * Q_DEL (seq), RX_PUT/RX_DEL (pid) */
	struct sl_msg *msg;      /* WILL_PUT, RET_PUT: a reference */
	uint64_t at_ms;          /* WILL_PUT */
	struct store_bar *bar;   /* BARRIER */
	bool skip;               /* a backend's own mark: cancelled out within its batch */
	struct store_pool *pool; /* the handle's pool it goes back to when freed; NULL: its own */
};

/* What a backend's load reports, part by part: every session's record, then per session its
 * subscriptions, its messages in seq order, its QoS 2 receive ids and its will; then the
 * retained messages. The core gathers a session's parts by client id into one struct
 * store_image (store_visitor's), so a part need not follow its record, only come after it (a
 * part before its record is dropped). A NULL callback is not wanted. A callback's non-zero
 * return stops the load, which returns it. msg arguments are borrowed. */
struct store_be_visitor {
	int (*sess)(void *arg, const struct store_sess *s);
	int (*sub)(void *arg, const char *client_id, const struct store_sub *sub);
	int (*q)(void *arg, const char *client_id, const struct store_q *q);
	int (*rx)(void *arg, const char *client_id, uint16_t pid);
	int (*will)(void *arg, const char *client_id, struct sl_msg *msg, uint64_t at_ms);
	int (*retain)(void *arg, struct sl_msg *msg);
};

/* The core's side of one backend, passed to the backend's start(). */
struct store_be;

struct store_be_ops {
	const char *name;
	/* Connects or opens files (blocking; before the loops). sessions/retained say which
	 * records this backend keeps. Returns 0 and *be, or a negative errno and *err (malloc'd,
	 * or NULL). */
	int (*open)(const struct store_conf *cf, bool sessions, bool retained, void **be,
	            char **err);
	/* Reports what it holds (blocking; after open, before start). */
	int (*load)(void *be, const struct store_be_visitor *v, void *arg);
	/* Once, on the opening thread just before the backend's thread starts running loop
	 * (which it then runs until stop() has released its handles). */
	int (*start)(void *be, uv_loop_t *loop, struct store_be *core);
	/* On the backend's thread: a batch, oldest first; ownership of the ops passes. Each must
	 * end in store_be_done, and a BARRIER only after every op before it is durable. */
	void (*submit)(void *be, struct store_op *head, struct store_op *tail, uint32_t n);
	/* On the backend's thread: finish (final snapshot), fail what cannot be finished, close
	 * the loop handles. */
	void (*stop)(void *be);
	void (*free)(void *be);
};

extern const struct store_be_ops store_file_ops;
extern const struct store_be_ops store_pg_ops;
extern const struct store_be_ops store_redis_ops;

/* An op is durable (status 0) or lost (negative errno). Frees it. Backend thread only. */
void store_be_done(struct store_be *core, struct store_op *op, int status);
/* The backend's server is reachable (or not). */
void store_be_set_up(struct store_be *core, bool up);
void store_be_count_sync(struct store_be *core);
void store_be_count_reconnect(struct store_be *core);
/* Another process changed a retained message: forwards to the broker. Takes msg (may be NULL). */
void store_be_retain_changed(struct store_be *core, const char *topic, struct sl_msg *msg);

/* Until the next store_be_take, ops handed to the backend do not wake its loop: it has a timer
 * armed and takes them itself then (group commit), instead of a wakeup per worker loop turn. */
void store_be_quiet(struct store_be *core);
/* The ops queued for the backend (a list, oldest first, or NULL), its last in *tail and how
 * many in *n; ends store_be_quiet. */
struct store_op *store_be_take(struct store_be *core, struct store_op **tail, uint32_t *n);

/* Frees an op and what it owns (for backends that drop ops they were handed, and the core). */
void store_op_free(struct store_op *op);

#endif
