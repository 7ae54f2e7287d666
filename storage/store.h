/* storage/store.h - the one interface for everything that outlives a connection or a process:
 * persistent sessions (subscriptions, queued and in-flight messages, QoS 2 receive state),
 * retained messages and pending delayed wills.
 *
 * Threads: a `struct store` is shared by every worker of a process. Each worker loop attaches
 * its own `struct store_h`; writes made through one handle are applied in the order they were
 * made, and callbacks run on that handle's loop. The backends run on their own threads, so no
 * call here blocks a worker loop (store_open and store_load block, and run before the loops).
 *
 * Durability: writes return at once and carry no callback. store_barrier() is the one way to
 * learn that every earlier write of a handle is durable (on disk, committed in PostgreSQL,
 * acknowledged by Redis); the broker acknowledges a QoS 1/2 PUBLISH after its barrier.
 *
 * Keys: a session is its client id; a message queued for a session is (client id, seq), seq
 * chosen by the broker, increasing per session; a retained message is its topic. */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proto/base/sl_msg.h"

struct store;
struct store_h;

/* Completion of store_barrier: status 0 (durable) or a negative errno (it will not be). */
typedef void store_done_cb(void *arg, int status);

enum store_sync {
	STORE_SYNC_BATCH,  /* group commit: fsync every few ms */
	STORE_SYNC_ALWAYS, /* fsync before any barrier completes, no waiting for company */
	STORE_SYNC_NONE,   /* write(2) only: survives a broker crash, not a power cut */
};

/* Called, on a store thread, when another process changed a retained message (Redis pub/sub).
 * msg is NULL when the topic was cleared; else a reference the callee takes. */
typedef void store_retain_cb(void *arg, const char *topic, struct sl_msg *msg);

struct store_conf {
	/* Embedded backend: used for sessions unless pg_dsn is set, and for retained messages
	 * unless redis_url is set. NULL dir: no embedded backend (nothing persists there). */
	const char *dir;
	enum store_sync sync;
	uint32_t batch_ms;     /* group commit interval for STORE_SYNC_BATCH; 0 = 2 ms */
	uint32_t compact_s;    /* snapshot and truncate the log this often; 0 = only at close */
	const char *pg_dsn;    /* non-NULL: sessions in PostgreSQL */
	const char *redis_url; /* non-NULL: retained messages in Redis (redis://host:port/db) */
	const char *node_name; /* the owner recorded with each session in shared stores */
	/* Connections to PostgreSQL (config postgres_pool), 1 .. 64; 0 = 2. A session's
	 * writes all go through one of them, chosen by client id; a barrier waits for all. */
	uint32_t pg_pool;
	/* Writes held while a server is unreachable before store_ok() turns false and barriers
	 * fail; 0 = 100000. */
	uint32_t max_pending;
	store_retain_cb *retain_changed; /* may be NULL */
	void *retain_arg;
};

/* One subscription of a session. */
struct store_sub {
	const char *filter; /* as subscribed, "$share/g/f" included */
	uint8_t options;    /* the v5 subscription options byte */
	uint32_t sub_id;    /* 0 = none */
};

/* A session's own fields (writes keep its subscriptions, messages and will as separate
 * records; store_load reports them together, in a struct store_image). */
struct store_sess {
	const char *client_id;
	uint8_t version;      /* MQTT protocol level: 3, 4 or 5 */
	uint32_t expiry;      /* seconds after disconnect; UINT32_MAX = never */
	uint64_t expire_at;   /* wall-clock ms when an offline session ends; 0 = online */
	const char *username; /* the user it belongs to (ACLs, takeover); NULL = anonymous */
};

enum store_q_state {
	STORE_Q_QUEUED, /* not sent yet (pid 0) */
	STORE_Q_SENT,   /* sent with pid, awaiting PUBACK or PUBREC */
	STORE_Q_REL,    /* QoS 2: PUBREC received, PUBREL sent; only pid matters now */
};

#define STORE_MAX_SUB_IDS 8

/* A message queued for, or in flight to, one session. */
struct store_q {
	uint64_t seq;
	uint16_t pid;
	uint8_t qos; /* granted for this delivery */
	uint8_t state;
	bool retain;
	uint8_t n_sub_ids;
	uint32_t sub_ids[STORE_MAX_SUB_IDS];
	struct sl_msg *msg; /* put: borrowed (the store takes its own reference); load: borrowed */
};

struct store_image; /* store_image.h: one whole session */

/* What store_load reports: each session once, whole (its record, subscriptions, messages in
 * seq order, QoS 2 receive ids and will), and each retained message. A backend's sessions
 * come once it has read all of them, so its retained messages may come first. Either callback
 * may be NULL (not wanted). A callback returning non-zero stops the load, which then returns
 * that value. Both borrow what they are given: take a reference to keep a message. */
struct store_visitor {
	int (*image)(void *arg, const struct store_image *img);
	int (*retain)(void *arg, struct sl_msg *msg);
};

struct store_stats {
	uint64_t writes;     /* writes accepted */
	uint64_t failed;     /* writes a backend gave up on */
	uint64_t pending;    /* writes not yet durable */
	uint64_t syncs;      /* fsyncs or commits */
	uint64_t reconnects; /* to PostgreSQL or Redis */
	bool sessions_up, retained_up;
};

/* Opens the backends cf names and starts their threads. Blocks (run it before the loops).
 * Returns a store owned by the caller, or NULL with *err set (owned by the caller, free()). */
struct store *store_open(const struct store_conf *cf, char **err);
/* Reports everything stored to v (blocks; run it before the loops). Returns 0, a negative
 * errno (-ENOMEM putting sessions together, -EINVAL for a stored message store_image_add_q
 * refuses), or a visitor's non-zero return. */
int store_load(struct store *st, const struct store_visitor *v, void *arg);
/* Whether new persistent sessions can be honoured now (backend reachable, backlog bounded). */
bool store_ok(const struct store *st);
/* Writes not yet durable in the fullest backend, in percent of the bound (max_pending) past
 * which writes fail: a caller that can slow its writers down should, well before 100. Cheap
 * enough for every PUBLISH: it counts writes once their handle has handed them over (at the
 * end of its loop turn or at a barrier). */
uint32_t store_backlog_pct(const struct store *st);
/* Whether anything is durable at all (false for the memory-only store). */
bool store_durable(const struct store *st);
void store_stats(const struct store *st, struct store_stats *out);
/* Waits for outstanding writes, stops the threads (writing a final snapshot) and frees st.
 * Every handle must have been detached. */
void store_close(struct store *st);

/* Attaches a handle for loop (call on that loop's thread). NULL on ENOMEM. */
struct store_h *store_attach(struct store *st, uv_loop_t *loop);
/* Detaches h: pending barriers complete with -ECANCELED; h is freed once its uv handle closes
 * (the loop must run once more). */
void store_detach(struct store_h *h);

/* Writes. Each copies what it needs; none blocks or fails visibly (a failure shows in
 * store_stats and in the next barrier's status). */
void store_sess_put(struct store_h *h, const struct store_sess *s);
/* Removes the session with all its subscriptions, messages, receive ids and will. */
void store_sess_del(struct store_h *h, const char *client_id);
void store_sub_put(struct store_h *h, const char *client_id, const struct store_sub *sub);
void store_sub_del(struct store_h *h, const char *client_id, const char *filter);
void store_q_put(struct store_h *h, const char *client_id, const struct store_q *q);
/* The message seq moved to state with pid (STORE_Q_SENT or STORE_Q_REL). */
void store_q_state(struct store_h *h, const char *client_id, uint64_t seq, uint8_t state,
                   uint16_t pid);
void store_q_del(struct store_h *h, const char *client_id, uint64_t seq);
void store_rx_put(struct store_h *h, const char *client_id, uint16_t pid);
void store_rx_del(struct store_h *h, const char *client_id, uint16_t pid);
/* A delayed will due at at_ms (wall clock). Borrows msg. */
void store_will_put(struct store_h *h, const char *client_id, struct sl_msg *msg, uint64_t at_ms);
void store_will_del(struct store_h *h, const char *client_id);
/* Sets the retained message for msg's topic. Borrows msg. */
void store_retain_put(struct store_h *h, struct sl_msg *msg);
void store_retain_del(struct store_h *h, const char *topic);

/* Calls cb(arg, status) on h's loop once the writes made through h since its previous
 * barrier are durable (with everything queued before them in the same backend). Backends h
 * did not write to meanwhile are not waited for. Returns 0, or -ENOMEM (cb is then not
 * called). */
int store_barrier(struct store_h *h, store_done_cb *cb, void *arg);
/* Writes made through h since the last barrier (lets a caller skip a needless barrier). */
bool store_h_dirty(const struct store_h *h);

#endif
