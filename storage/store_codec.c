/* storage/store_codec.c - the message encoding and little-endian helpers of store_codec.h. */
#include "store_codec.h"

#include <errno.h>

int
store_put_u16(struct sl_buf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	return sl_buf_append(b, x, sizeof(x));
}

int
store_put_u32(struct sl_buf *b, uint32_t v)
{
	uint8_t x[4];

	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	return sl_buf_append(b, x, sizeof(x));
}

int
store_put_u64(struct sl_buf *b, uint64_t v)
{
	uint8_t x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	return sl_buf_append(b, x, sizeof(x));
}

int
store_put_bytes(struct sl_buf *b, const void *p, uint32_t len)
{
	if (store_put_u32(b, len) < 0)
		return -ENOMEM;
	return len > 0 ? sl_buf_append(b, p, len) : 0;
}

static int
get_n(struct store_rd *r, size_t n, uint64_t *v)
{
	*v = 0;
	if (r->bad || r->len - r->off < n) {
		r->bad = 1;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		*v |= (uint64_t)r->p[r->off + i] << (8 * i);
	r->off += n;
	return 0;
}

int
store_get_u8(struct store_rd *r, uint8_t *v)
{
	uint64_t x;
	int rc = get_n(r, 1, &x);

	*v = (uint8_t)x;
	return rc;
}

int
store_get_u16(struct store_rd *r, uint16_t *v)
{
	uint64_t x;
	int rc = get_n(r, 2, &x);

	*v = (uint16_t)x;
	return rc;
}

int
store_get_u32(struct store_rd *r, uint32_t *v)
{
	uint64_t x;
	int rc = get_n(r, 4, &x);

	*v = (uint32_t)x;
	return rc;
}

int
store_get_u64(struct store_rd *r, uint64_t *v)
{
	return get_n(r, 8, v);
}

int
store_get_bytes(struct store_rd *r, struct sl_bytes *v)
{
	uint32_t n;

	v->p = NULL;
	v->len = 0;
	if (store_get_u32(r, &n) < 0)
		return -1;
	if (r->len - r->off < n) {
		r->bad = 1;
		return -1;
	}
	v->p = r->p + r->off;
	v->len = n;
	r->off += n;
	return 0;
}

int
store_msg_encode(struct sl_buf *out, const struct sl_msg *m)
{
	uint8_t head[2] = {STORE_MSG_VERSION,
	                   (uint8_t)(m->qos | (m->retain ? 4 : 0) | (m->payload_format << 3))};

	if (sl_buf_append(out, head, sizeof(head)) < 0 || store_put_u64(out, m->expiry_at_ms) < 0 ||
	    store_put_bytes(out, m->topic.p, m->topic.len) < 0 ||
	    store_put_bytes(out, m->props.p, m->props.len) < 0 ||
	    store_put_bytes(out, m->payload.p, m->payload.len) < 0 ||
	    store_put_bytes(out, m->sender.p, m->sender.len) < 0 ||
	    sl_buf_append(out, &m->sender_kind, 1) < 0 ||
	    store_put_bytes(out, m->sender_user.p, m->sender_user.len) < 0)
		return -ENOMEM;
	return 0;
}

struct sl_msg *
store_msg_decode(const uint8_t *p, size_t len, size_t *used)
{
	struct store_rd r = {p, len, 0, 0};
	struct sl_bytes topic, props, payload, sender, user = {NULL, 0};
	uint8_t ver, flags, kind = SL_SENDER_UNKNOWN;
	uint64_t expiry;
	struct sl_msg *m;

	*used = 0;
	store_get_u8(&r, &ver);
	store_get_u8(&r, &flags);
	store_get_u64(&r, &expiry);
	store_get_bytes(&r, &topic);
	store_get_bytes(&r, &props);
	store_get_bytes(&r, &payload);
	store_get_bytes(&r, &sender);
	if (ver >= 2) { /* version 1 ends here: who sent it is not known */
		store_get_u8(&r, &kind);
		store_get_bytes(&r, &user);
	}
	if (r.bad || ver < 1 || ver > STORE_MSG_VERSION || (flags & 3) == 3 || (flags >> 3) > 1 ||
	    kind > SL_SENDER_USER)
		return NULL;
	m = sl_msg_new_from(topic, props, payload, sender, kind == SL_SENDER_USER ? &user : NULL,
	                    flags & 3, (flags & 4) != 0);
	if (m == NULL)
		return NULL;
	m->sender_kind = kind;
	m->expiry_at_ms = expiry;
	m->payload_format = flags >> 3;
	*used = r.off;
	return m;
}
