/* storage/store_image.h - one whole session as a value: its record, subscriptions, queued and
 * in-flight deliveries, QoS 2 receive ids and delayed will. store_load reports each session
 * as one (store.h), and store_image_encode/decode turn one into bytes and back, for whatever
 * keeps or moves a session whole (a store, the cluster's handoff) without knowing its parts.
 *
 * Layout (little endian), version 1:
 *   u8 version (1), u8 flags (1: a user name follows, 2: a will follows; other bits 0)
 *   client id as u32 length + bytes (no NUL among them)
 *   u8 protocol version, u32 expiry, u64 expire_at
 *   user name as u32 length + bytes (no NUL)                              if flags & 1
 *   u32 n_subs, then each: filter as u32 length + bytes (no NUL), u8 options, u32 sub id
 *   u32 n_q, then each in increasing seq: u64 seq, u16 pid, u8 qos (<= 2), u8 state
 *     (enum store_q_state), u8 retain (0 or 1), u8 n_sub_ids (<= STORE_MAX_SUB_IDS),
 *     u32 sub_ids[n_sub_ids], the message (store_msg_encode)
 *   u32 n_rx, then each: u16 pid
 *   u64 will at_ms, the will (store_msg_encode)                           if flags & 2
 * and nothing after. Not thread-safe: one owner at a time (it may change threads whole). */
#ifndef STORE_IMAGE_H
#define STORE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/base/sl_buf.h"
#include "store.h"

#define STORE_IMAGE_VERSION 1

/* style: an open struct, not opaque: readers walk its arrays (broker/persist_load.c), as
 * they read a struct store_sess. Change it only through the functions below. */
struct store_image {
	struct store_sess sess; /* client_id and username owned (const only for the API) */
	struct store_sub *subs; /* n_subs, in the order added; each filter owned */
	struct store_q *q;      /* n_q, seq increasing; each msg an owned reference */
	uint16_t *rx;           /* n_rx QoS 2 packet ids received, PUBREL not yet */
	struct sl_msg *will;    /* an owned reference, or NULL: no will */
	uint64_t will_at;       /* wall-clock ms the will is due */
	uint32_t n_subs, n_q, n_rx;
	uint32_t cap_subs, cap_q, cap_rx; /* room allocated in subs, q, rx */
};

/* Returns a new image of s (its strings copied; client_id must not be NULL) with no
 * subscription, message, receive id or will yet, owned by the caller (store_image_free), or
 * NULL on ENOMEM. */
struct store_image *store_image_new(const struct store_sess *s);
/* Frees img, its strings and its message references. NULL is a no-op. */
void store_image_free(struct store_image *img);

/* Appends a subscription; copies sub->filter. Returns 0 or -ENOMEM. */
int store_image_add_sub(struct store_image *img, const struct store_sub *sub);
/* Appends a delivery. Borrows q->msg: the image takes its own reference. Returns 0, -ENOMEM,
 * or -EINVAL when q->msg is NULL, qos > 2, state > STORE_Q_REL, n_sub_ids >
 * STORE_MAX_SUB_IDS or seq is not above the previous delivery's. */
int store_image_add_q(struct store_image *img, const struct store_q *q);
/* Appends a QoS 2 receive packet id. Returns 0 or -ENOMEM. */
int store_image_add_rx(struct store_image *img, uint16_t pid);
/* Sets the will due at at_ms (wall clock), dropping any earlier one; msg NULL clears it.
 * Borrows msg: the image takes its own reference. */
void store_image_set_will(struct store_image *img, struct sl_msg *msg, uint64_t at_ms);

/* Appends img's encoding to out. Returns 0, or -ENOMEM or -EINVAL (a string longer than a u32
 * can say); out is then as it was. */
int store_image_encode(struct sl_buf *out, const struct store_image *img);
/* Decodes exactly the len bytes at p (borrowed) into a new image, owned by the caller. Returns
 * 0 and sets *out, or a negative errno and sets *out NULL: -EINVAL when the bytes are
 * malformed or truncated, break a rule of the layout above or of store_image_add_q, have
 * bytes after the image, or count more entries than the bytes left could hold (so nothing is
 * allocated beyond a small multiple of len); -ENOMEM. A message store_msg_decode refuses is
 * -EINVAL even when it ran out of memory (it does not say which). */
/* Reports img part by part, in store_load's old order: v->sess, then each sub, q, rx id and
 * the will (v->retain unused); stops at the first non-zero return and returns it. Borrows all.
 * For code that still thinks in parts (a backend's tests, the broker's rebuild). */
struct store_be_visitor;
int store_image_each(const struct store_image *img, const struct store_be_visitor *v, void *arg);
int store_image_decode(const uint8_t *p, size_t len, struct store_image **out);

#endif
