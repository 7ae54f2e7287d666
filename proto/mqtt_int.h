/* proto/mqtt_int.h - private to the MQTT codec (mqtt_decode.c, mqtt_encode.c, mqtt_props.c,
 * mqtt_util.c): a bounds-checked reader over one packet body, a growing writer with a sticky
 * error, and the property block entry points. Pure functions, safe from any thread. */
#ifndef MQTT_INT_H
#define MQTT_INT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/sl_buf.h"
#include "mqtt.h"

/* style: this header is private to one module and its helpers are inline on purpose: every
 * packet decoder is a straight sequence of these reads, and a call per byte would not pay. */

/* The "packet type" of the will properties of a CONNECT, for property validity checks. */
#define MQTT_INT_WILL 0

/* A cursor over the body of one complete packet. A failed read leaves the reason in rc. */
struct rd {
	const uint8_t *p;
	uint32_t left;
	enum mqtt_rc rc;
};

/* Records why decoding stopped; returns false so callers can `return rd_fail(...)`. */
static inline bool
rd_fail(struct rd *r, enum mqtt_rc rc)
{
	r->rc = rc;
	return false;
}

/* Takes n bytes as a view. Running past the remaining length is a Malformed Packet. */
static inline bool
rd_bytes(struct rd *r, uint32_t n, struct sl_bytes *v)
{
	if (r->left < n)
		return rd_fail(r, MQTT_RC_MALFORMED);
	*v = sl_bytes_make(r->p, n);
	r->p += n;
	r->left -= n;
	return true;
}

static inline bool
rd_u8(struct rd *r, uint8_t *v)
{
	if (r->left < 1)
		return rd_fail(r, MQTT_RC_MALFORMED);
	*v = r->p[0];
	r->p++;
	r->left--;
	return true;
}

/* Two Byte Integer, big-endian (section 1.5.2). */
static inline bool
rd_u16(struct rd *r, uint16_t *v)
{
	if (r->left < 2)
		return rd_fail(r, MQTT_RC_MALFORMED);
	*v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	r->left -= 2;
	return true;
}

/* Four Byte Integer, big-endian (section 1.5.3). */
static inline bool
rd_u32(struct rd *r, uint32_t *v)
{
	if (r->left < 4)
		return rd_fail(r, MQTT_RC_MALFORMED);
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->left -= 4;
	return true;
}

/* Variable Byte Integer inside a complete packet: running out of bytes is malformed too. */
static inline bool
rd_varint(struct rd *r, uint32_t *v)
{
	int n = mqtt_varint_read(r->p, r->left, v);

	if (n <= 0)
		return rd_fail(r, MQTT_RC_MALFORMED);
	r->p += n;
	r->left -= (uint32_t)n;
	return true;
}

/* Binary Data: a Two Byte Integer length, then that many bytes (section 1.5.6). */
static inline bool
rd_bin(struct rd *r, struct sl_bytes *v)
{
	uint16_t n;

	return rd_u16(r, &n) && rd_bytes(r, n, v);
}

/* UTF-8 Encoded String (section 1.5.4). */
static inline bool
rd_str(struct rd *r, struct sl_bytes *v)
{
	if (!rd_bin(r, v))
		return false;
	/* [MQTT-1.5.4-1] [MQTT-1.5.4-2] ill-formed UTF-8 or U+0000 is a Malformed Packet. */
	if (!mqtt_utf8_valid(v->p, v->len))
		return rd_fail(r, MQTT_RC_MALFORMED);
	return true;
}

/* A packet must end exactly where its remaining length says. */
static inline bool
rd_end(struct rd *r)
{
	if (r->left != 0)
		return rd_fail(r, MQTT_RC_MALFORMED);
	return true;
}

/* Appends to a struct sl_buf. The first failure sticks in err (-ENOMEM or -EINVAL) and makes
 * every later write a no-op, so an encoder checks once at the end. */
struct wr {
	struct sl_buf *b;
	int err;
};

static inline void
w_bytes(struct wr *w, const void *p, size_t n)
{
	if (w->err == 0)
		w->err = sl_buf_append(w->b, p, n);
}

static inline void
w_u8(struct wr *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static inline void
w_u16(struct wr *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	w_bytes(w, b, sizeof(b));
}

static inline void
w_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	w_bytes(w, b, sizeof(b));
}

static inline void
w_varint(struct wr *w, uint32_t v)
{
	uint8_t b[4];

	if (v > MQTT_MAX_VARINT) {
		if (w->err == 0)
			w->err = -EINVAL;
		return;
	}
	w_bytes(w, b, (size_t)mqtt_varint_write(b, v));
}

/* Binary Data or a UTF-8 string: the length must fit its Two Byte Integer prefix. */
static inline void
w_bin(struct wr *w, struct sl_bytes v)
{
	if (v.len > UINT16_MAX && w->err == 0)
		w->err = -EINVAL;
	w_u16(w, (uint16_t)v.len);
	w_bytes(w, v.p, v.len);
}

/* Opens a section prefixed by its Variable Byte Integer length (a remaining length or a
 * property length): reserves the longest prefix and returns where it starts. */
static inline size_t
w_open(struct wr *w)
{
	static const uint8_t gap[4];

	w_bytes(w, gap, sizeof(gap));
	return w->b->len - sizeof(gap);
}

/* Closes the section opened at `at`: writes its length there and closes the unused gap. */
static inline void
w_close(struct wr *w, size_t at)
{
	size_t n;
	uint8_t b[4];
	int k;

	if (w->err != 0)
		return;
	n = w->b->len - at - sizeof(b);
	if (n > MQTT_MAX_VARINT) {
		w->err = -EINVAL;
		return;
	}
	k = mqtt_varint_write(b, (uint32_t)n);
	memcpy(w->b->data + at, b, (size_t)k);
	memmove(w->b->data + at + k, w->b->data + at + sizeof(b), n);
	w->b->len -= sizeof(b) - (size_t)k;
}

/* Reads a property block (its Variable Byte Integer length, then the properties) valid on packet
 * type `kind` (MQTT_INT_WILL for will properties) into *pr, which must be zeroed. Returns false
 * with r->rc set when the block is malformed or breaks a rule of section 2.2.2. */
bool mqtt_int_props_decode(struct rd *r, uint8_t kind, struct mqtt_props *pr);

/* Writes pr as a property block: length, present properties in id order, user_props verbatim,
 * then one Subscription Identifier per sub_ids entry. Sets w->err to -EINVAL when pr cannot be
 * encoded (a present bit with no known property, too many sub ids, a value too long). */
void mqtt_int_props_write(struct wr *w, const struct mqtt_props *pr);

/* True when mqtt_int_props_write() would write an empty block (the short forms allow omitting
 * it). */
bool mqtt_int_props_empty(const struct mqtt_props *pr);

#endif
