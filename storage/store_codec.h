/* storage/store_codec.h - one byte encoding of a message (all of struct sl_msg: topic, v5
 * properties, payload, sender, expiry, QoS, retain, payload format), shared by the backends:
 * the embedded log's records, Redis values and PostgreSQL bytea columns.
 * Layout (little endian): u8 version (2), u8 flags (qos | retain << 2 | format << 3),
 * u64 expiry_at_ms, then topic, props, payload, sender each as u32 length + bytes, then u8
 * sender kind (enum sl_sender) and the sender's user name as u32 length + bytes. Version 1,
 * which ends after sender, still reads (sender kind unknown). */
#ifndef STORE_CODEC_H
#define STORE_CODEC_H

#include <stddef.h>

#include "proto/base/sl_buf.h"
#include "proto/base/sl_msg.h"

#define STORE_MSG_VERSION 2

/* Appends msg's encoding to out. Returns 0 or -ENOMEM. */
int store_msg_encode(struct sl_buf *out, const struct sl_msg *msg);
/* Decodes one message from the len bytes at p. Returns a new message (refs 1, owned by the
 * caller) and sets *used, or NULL when the bytes are malformed, truncated or out of memory
 * (*used then 0). */
struct sl_msg *store_msg_decode(const uint8_t *p, size_t len, size_t *used);

/* Little-endian helpers for the backends' own records. */
int store_put_u16(struct sl_buf *b, uint16_t v);
int store_put_u32(struct sl_buf *b, uint32_t v);
int store_put_u64(struct sl_buf *b, uint64_t v);
/* Length-prefixed (u32) bytes. */
int store_put_bytes(struct sl_buf *b, const void *p, uint32_t len);

/* A bounded reader: every get fails (returns -1, sets bad) past the end. */
struct store_rd {
	const uint8_t *p;
	size_t len, off;
	int bad;
};
int store_get_u8(struct store_rd *r, uint8_t *v);
int store_get_u16(struct store_rd *r, uint16_t *v);
int store_get_u32(struct store_rd *r, uint32_t *v);
int store_get_u64(struct store_rd *r, uint64_t *v);
/* A view of length-prefixed bytes inside the reader's buffer. */
int store_get_bytes(struct store_rd *r, struct sl_bytes *v);

#endif
