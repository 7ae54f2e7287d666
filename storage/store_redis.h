/* storage/store_redis.h - the Redis backend's own struct, shared by its files. Private to
 * store_redis*.c: the core sees only store_redis_ops.
 *
 * Data model (db from the URL):
 *   starling:ret:v:<topic>  string, the store_msg_encode bytes; PEXPIREAT at the message's
 *                           expiry, so Redis drops it by itself
 *   starling:ret:idx        sorted set of topics (all scores 0), read in lex pages at load so
 *                           no node ever runs KEYS or SCAN over the whole keyspace; a topic
 *                           whose key has expired stays until a load removes it
 *   starling:ret:recent     sorted set: topic -> wall-clock ms of its last change (10 min)
 *   starling:ret:chg[:db]   pub/sub channel: after each put or delete, u8 version, u64 origin,
 *                           bytes node name, bytes topic (store_codec helpers); pub/sub ignores
 *                           db, so a db other than 0 gets its own channel
 * A put (SET, PEXPIREAT, ZADD, PUBLISH) and a delete (DEL, ZREM, PUBLISH) each run as one Lua
 * script, so another node never sees a key without its index entry or the reverse. */
#ifndef STORE_REDIS_H
#define STORE_REDIS_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "proto/base/sl_buf.h"
#include "proto/base/sl_err.h"
#include "store_be.h"

#define STORE_REDIS_KEY "starling:ret:v:"
#define STORE_REDIS_IDX "starling:ret:idx"
#define STORE_REDIS_CHAN "starling:ret:chg"
/* Sorted set of topics changed recently, scored by the writer's wall clock (ms), trimmed to
 * STORE_REDIS_RECENT_MS: a subscriber that was not listening (start-up, an outage) reads the
 * topics changed since it last heard, instead of missing them. */
#define STORE_REDIS_RECENT "starling:ret:recent"
#define STORE_REDIS_RECENT_MS 600000
#define STORE_REDIS_NOTE_VERSION 1

/* Where the server is: parsed from redis://[[user]:password@]host[:port][/db]. */
struct store_redis_url {
	char *host;
	int port;
	int db;
	char *user; /* NULL: AUTH password only (or no AUTH when pass is NULL too) */
	char *pass;
};

/* One connection to Redis on the backend loop, re-made with backoff whenever it drops. */
struct store_redis_link {
	struct store_redis *r;
	redisAsyncContext *ac; /* NULL while down; replies of any other context are stale */
	uv_timer_t timer;      /* connect timeout, retry backoff, reply watchdog */
	uint32_t backoff_ms;
	bool sub;    /* the subscriber (else the writer) */
	bool ready;  /* connected and set up: may carry work */
	bool was_up; /* set up once: the next set-up is a reconnect */
	bool warned; /* the current outage was logged */
	int step;    /* set-up replies still awaited */
};

/* An op the writer holds until its reply: status < 0 = failed before it was sent. */
struct store_redis_slot {
	struct store_op *op;
	int status;
};

struct store_redis {
	struct store_redis_url url;
	char *node;         /* cf->node_name, "" if none */
	char *chan;         /* the change channel for this db */
	uint64_t origin;    /* random per open: marks this process's own change notes */
	redisContext *sync; /* open .. load (blocking); NULL after */
	uv_loop_t *loop;
	struct store_be *core;
	struct store_redis_link w, s; /* writer, subscriber */
	/* Ops not done yet, oldest first, in a ring: head, n; the first sent of them are on the
	 * writer link, inflight of them without a reply yet. */
	struct store_redis_slot *ring;
	uint32_t cap, head, n, sent, inflight;
	uint32_t n_bars;      /* barriers among the n */
	uint64_t progress_ms; /* last reply, or when the writer became busy (loop time) */
	uint32_t gets;        /* GETs for other nodes' change notes awaiting their reply */
	uint64_t heard_ms;    /* wall clock: every change before it was heard or loaded */
	bool catchup;         /* the subscriber is back: read what changed since heard_ms */
	int bar_fail;         /* status the next bar_fail_n barriers complete with */
	uint32_t bar_fail_n;
	char put_sha[41], del_sha[41];
	struct sl_buf key, val, note, rmember; /* scratch for the op being sent */
	uv_timer_t stop_timer;
	bool stopping, finished;
};

/* Parses a redis:// URL into u (strings owned by u). Returns 0 or -EINVAL with *err set
 * (malloc'd). */
int store_redis_url_parse(const char *url, struct store_redis_url *u, char **err);
void store_redis_url_fini(struct store_redis_url *u);

/* Appends STORE_REDIS_KEY and the topic to b (emptied first). Returns 0 or -ENOMEM. */
int store_redis_key(struct sl_buf *b, const void *topic, size_t len);
/* Appends a change note for topic to b (emptied first). Returns 0 or -ENOMEM. */
int store_redis_note(const struct store_redis *r, struct sl_buf *b, const void *topic, size_t len);

/* Runtime (store_redis_link.c, store_redis_write.c), all on the backend loop. */
int store_redis_start(void *be, uv_loop_t *loop, struct store_be *core);
void store_redis_submit(void *be, struct store_op *head, struct store_op *tail, uint32_t n);
void store_redis_stop(void *be);
/* The writer is set up (or lost): send what waits, or put every unanswered op back. */
void store_redis_writer_up(struct store_redis *r);
/* Reads the topics changed since r->heard_ms once both links are up (store_redis_link.c). */
void store_redis_catchup(struct store_redis *r);
void store_redis_writer_down(struct store_redis *r);
/* Frees both links' contexts (no reconnect) and closes every handle of the backend. */
void store_redis_links_close(struct store_redis *r);
/* Drops a link we hold (frees its context) and schedules a reconnect. Not from the context's
 * disconnect callback nor from a NULL reply (hiredis is freeing it then): see the next. */
void store_redis_link_drop(struct store_redis_link *l, const char *why);
/* hiredis is freeing l->ac (a NULL reply, a failed connect, a disconnect): forget it and
 * schedule a reconnect. */
void store_redis_link_lost(struct store_redis_link *l, const redisAsyncContext *ac);

#endif
