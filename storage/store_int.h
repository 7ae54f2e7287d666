/* storage/store_int.h - the core's structs, shared by store.c (backends, threads) and
 * store_h.c (handles, writes, barriers). Private to storage/. */
#ifndef STORE_INT_H
#define STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "store_be.h"

/* The core's side of one backend: its thread, loop and queue of ops. */
struct store_be {
	struct store *st;
	const struct store_be_ops *ops;
	void *be;
	bool sessions, retained;
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t wake;
	pthread_mutex_t mu; /* guards head, tail, stopping */
	struct store_op *head, *tail;
	uint32_t n; /* ops in head..tail */
	bool stopping;
	bool started;
	atomic_bool up;
	atomic_ullong pending;
	atomic_bool quiet; /* the backend takes the queue itself soon: pushes need not wake it */
};

/* Ops made by one handle, reused: a write's op is allocated on a worker and freed on a backend
 * thread, and glibc's free() of another thread's chunk takes that thread's arena lock, so the
 * workers' own mallocs queued behind the backend's frees (futex waits were a sixth of the
 * broker's time under durable QoS 1). Freed ops come back through a lock-free stack instead.
 * A pool outlives its handle (ops may still be with a backend): store_close frees it. */
struct store_pool {
	_Atomic(struct store_op *) back; /* freed on any thread, for the owner to take */
	char pad[64];                    /* back is the backends' line, the rest the owner's */
	struct store_op *free;           /* the owner's: ready to reuse */
	uint32_t n_free;
	struct store_pool *next; /* in store.pools, under store.mu */
};

/* One store_barrier call: done when each backend it went to has passed it. */
struct store_bar {
	struct store_bar *next, *prev; /* in its handle's outstanding or done list */
	atomic_int parts;
	int status; /* first failure; written under st->mu */
	store_done_cb *cb;
	void *arg;
	struct store_h *h; /* NULL once the handle detached: the last part frees the barrier */
};

struct store_h {
	struct store *st;
	uv_async_t async;
	struct store_bar *outstanding; /* under st->mu */
	struct store_bar *done;        /* under st->mu: to run on the loop */
	unsigned dirty;                /* bit i: be[i] has had writes since the last barrier */
	bool lost;                     /* a write since the last barrier was dropped (backlog) */
	/* Writes go to the backends once per loop turn (and at a barrier), not one by one: one
	 * lock and one wakeup of the backend's thread for a turn's hundreds of writes. */
	uv_prepare_t flush;
	struct store_op *head[2], *tail[2]; /* per backend: admitted, not handed over yet */
	/* Counted here and added to the backend's pending and the store's writes once per push:
	 * those counters are shared by every worker and the backend threads, and an atomic add
	 * per write moved their cache line between cores at every write. Written by the owner
	 * only (relaxed), read by store_stats. */
	atomic_uint n[2];                /* ops in head[i]..tail[i] */
	atomic_uint made;                /* writes made since the last push */
	struct store_h *next_h, *prev_h; /* in store.handles, under store.mu */
	int open_handles;                /* async and flush: h is freed once both are closed */
	struct store_pool *pool;
};

struct store {
	struct store_conf cf;   /* strings not kept: backends copy what they need at open */
	struct store_be *be[2]; /* sessions, retained; may be the same backend, or NULL */
	uint32_t n_be;
	store_retain_cb *retain_changed;
	void *retain_arg;
	pthread_mutex_t mu; /* guards every handle's barrier lists */
	atomic_ullong writes, failed, syncs, reconnects;
	uint32_t max_pending;
	struct store_pool *pools; /* every handle's, attached or not; under mu */
	struct store_h *handles;  /* attached; under mu */
};

/* Fails op, over be's backlog bound, at once (counted, freed). */
void store_core_reject(struct store_be *be, struct store_op *op);
/* Queues the n admitted ops head..tail (linked through next) on be, in order, counting them
 * as pending; takes them. */
void store_core_push(struct store_be *be, struct store_op *head, struct store_op *tail, uint32_t n);
/* Returns op to its pool, its fields freed but its message references (q.msg, msg), which the
 * pool's owner drops. Any thread. */
void store_pool_put(struct store_op *op);
/* Frees a pool and the ops it holds (store_close, once no op can come back). */
void store_pool_free(struct store_pool *p);
/* One part of bar is over with status. Any thread. */
void store_bar_part(struct store *st, struct store_bar *bar, int status);

#endif
