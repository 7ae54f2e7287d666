/* broker/index/retain.h - the node's retained messages, one per topic, shared by every worker
 * thread. All functions are thread-safe (one mutex; each call holds it briefly). Topics and filters
 * are assumed valid (proto/mqtt_topic.h) and filters carry no "$share/" prefix. */
#ifndef RETAIN_H
#define RETAIN_H

#include <stddef.h>
#include <stdint.h>

#include "proto/base/sl_buf.h"
#include "proto/base/sl_msg.h"

struct retain_store;

/* Returns a new empty store owned by the caller, or NULL on ENOMEM. */
struct retain_store *retain_new(void);
/* Drops every message reference and frees r. NULL is a no-op. No other call may be running. */
void retain_free(struct retain_store *r);

/* Makes msg the retained message of msg->topic, replacing any [MQTT-3.3.1-5]; a message with an
 * empty payload deletes it instead and is not kept [MQTT-3.3.1-6], [MQTT-3.3.1-7]. Borrows msg:
 * takes its own reference when kept. Returns 0 or -ENOMEM (the store is unchanged then). */
int retain_set(struct retain_store *r, struct sl_msg *msg);

/* Sets *out to a new array, owned by the caller (sl_free() it), of *n new references to the
 * retained messages whose topic matches filter, in no particular order; *out is NULL when *n is
 * 0. Messages expired at now_ms (expiry_at_ms != 0 && expiry_at_ms <= now_ms) are deleted
 * instead of returned. Follows mqtt_topic_match(), including that a leading wildcard does not
 * match '$' topics [MQTT-4.7.2-1]. Walks only the branches filter can match. Returns 0, or
 * -ENOMEM with *out NULL and *n 0. */
int retain_match(struct retain_store *r, struct sl_bytes filter, uint64_t now_ms,
                 struct sl_msg ***out, size_t *n);

/* Number of retained messages held. */
size_t retain_count(struct retain_store *r);

/* Calls cb(arg, msg) for every retained message (for persistence), from the calling thread.
 * cb borrows msg. The messages are snapshotted under the lock and cb runs without it, except
 * when the snapshot cannot be allocated: then cb runs under the lock. So cb must not call
 * retain_* on r in either case. */
void retain_foreach(struct retain_store *r, void (*cb)(void *arg, struct sl_msg *msg), void *arg);

#endif
