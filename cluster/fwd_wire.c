/* cluster/fwd_wire.c - the Forward message in protobuf's wire format, by hand (fwd_wire.h says
 * why). Wire types: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit; a tag is
 * (field number << 3 | wire type) as a varint. */
#include "cluster/fwd_wire.h"

#include <errno.h>
#include <string.h>

#include "cluster/frame.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* Field numbers of Forward and SharedTarget in proto/cluster.proto. */
enum {
	F_SEQ = 1,
	F_TOPIC,
	F_QOS,
	F_RETAIN,
	F_SENDER,
	F_SENDER_KIND,
	F_SENDER_USER,
	F_EXPIRY_LEFT,
	F_PAYLOAD_FORMAT,
	F_PROPS,
	F_SHARED,
};
enum { S_GROUP = 1, S_FILTER = 2 };

static size_t
varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *
put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* A varint field's size; 0 when v is the default (proto3 leaves it out). Tags here are < 128:
 * one byte. */
static size_t
vsize(uint64_t v)
{
	return v != 0 ? 1 + varint_size(v) : 0;
}

static size_t
bsize(struct sl_bytes b)
{
	return b.len != 0 ? 1 + varint_size(b.len) + b.len : 0;
}

static uint8_t *
vput(uint8_t *p, int field, uint64_t v)
{
	if (v == 0)
		return p;
	*p++ = (uint8_t)(field << 3 | WT_VARINT);
	return put_varint(p, v);
}

static uint8_t *
bput(uint8_t *p, int field, struct sl_bytes b)
{
	if (b.len == 0)
		return p;
	*p++ = (uint8_t)(field << 3 | WT_LEN);
	p = put_varint(p, b.len);
	memcpy(p, b.p, b.len);
	return p + b.len;
}

static size_t
shared_size(const struct clw_fwd *f)
{
	return bsize(f->group) + bsize(f->filter);
}

size_t
clw_fwd_size(const struct clw_fwd *f)
{
	size_t n = vsize(f->seq) + bsize(f->topic) + vsize(f->qos) + vsize(f->retain) +
	           bsize(f->sender) + vsize(f->sender_kind) + bsize(f->sender_user) +
	           vsize(f->expiry_left) + vsize(f->payload_format) + bsize(f->props);

	if (f->shared) /* a message field is written when set, even empty */
		n += 1 + varint_size(shared_size(f)) + shared_size(f);
	return n;
}

void
clw_fwd_pack(const struct clw_fwd *f, uint8_t *p)
{
	p = vput(p, F_SEQ, f->seq);
	p = bput(p, F_TOPIC, f->topic);
	p = vput(p, F_QOS, f->qos);
	p = vput(p, F_RETAIN, f->retain);
	p = bput(p, F_SENDER, f->sender);
	p = vput(p, F_SENDER_KIND, f->sender_kind);
	p = bput(p, F_SENDER_USER, f->sender_user);
	p = vput(p, F_EXPIRY_LEFT, f->expiry_left);
	p = vput(p, F_PAYLOAD_FORMAT, f->payload_format);
	p = bput(p, F_PROPS, f->props);
	if (f->shared) {
		*p++ = (uint8_t)(F_SHARED << 3 | WT_LEN);
		p = put_varint(p, shared_size(f));
		p = bput(p, S_GROUP, f->group);
		bput(p, S_FILTER, f->filter);
	}
}

int
clw_fwd_encode(struct sl_buf *out, const struct clw_fwd *f, struct sl_bytes tail)
{
	size_t meta_len = clw_fwd_size(f), old = out->len;
	uint8_t *m;
	int rc;

	if ((m = clf_head_put(out, CLF_FORWARD, 0, meta_len, &tail, &rc)) == NULL)
		return rc;
	clw_fwd_pack(f, m);
	if ((rc = sl_buf_append(out, tail.p, tail.len)) < 0) {
		out->len = old; /* no half frame in out */
		return rc;
	}
	return 0;
}

/* ---- parsing ---- */

struct rd {
	const uint8_t *p, *end;
};

/* A varint of at most 10 bytes (protobuf's limit). Returns 0 or -1. */
static int
get_varint(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;

	for (int shift = 0; shift < 70; shift += 7) {
		if (r->p == r->end)
			return -1;
		uint8_t b = *r->p++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

static int
get_len(struct rd *r, struct sl_bytes *b)
{
	uint64_t n;

	if (get_varint(r, &n) < 0 || n > (uint64_t)(r->end - r->p))
		return -1;
	*b = sl_bytes_make(r->p, (uint32_t)n);
	r->p += n;
	return 0;
}

/* Skips a field of an unknown number. */
static int
skip(struct rd *r, uint32_t wt)
{
	uint64_t v;
	struct sl_bytes b;

	switch (wt) {
	case WT_VARINT:
		return get_varint(r, &v);
	case WT_I64:
	case WT_I32: {
		size_t n = wt == WT_I64 ? 8 : 4;
		if ((size_t)(r->end - r->p) < n)
			return -1;
		r->p += n;
		return 0;
	}
	case WT_LEN:
		return get_len(r, &b);
	default:
		return -1; /* groups (3, 4) are not proto3, 6 and 7 do not exist */
	}
}

/* The next tag: field number and wire type. As protobuf-c reads them (a peer's frames are
 * accepted or refused alike by both): at most 5 bytes, the field number the bits above the
 * wire type, cut to 32; number 0 is skipped as unknown. */
static int
get_tag(struct rd *r, uint32_t *field, uint32_t *wt)
{
	uint64_t t = 0;

	for (int i = 0; i < 5; i++) {
		if (r->p == r->end)
			return -1;
		uint8_t b = *r->p++;
		t |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*field = (uint32_t)(t >> 3);
			*wt = (uint32_t)(t & 7);
			return 0;
		}
	}
	return -1;
}

static int
parse_shared(struct sl_bytes in, struct clw_fwd *f)
{
	struct rd r = {in.p, in.p + in.len};
	uint32_t field, wt;

	f->shared = true;
	while (r.p < r.end) {
		if (get_tag(&r, &field, &wt) < 0)
			return -1;
		if (field != S_GROUP && field != S_FILTER) {
			if (skip(&r, wt) < 0)
				return -1;
			continue;
		}
		if (wt != WT_LEN || get_len(&r, field == S_GROUP ? &f->group : &f->filter) < 0)
			return -1;
	}
	return 0;
}

static void
set_varint(struct clw_fwd *f, uint32_t field, uint64_t v)
{
	switch (field) {
	case F_SEQ:
		f->seq = v;
		break;
	case F_QOS:
		f->qos = (uint32_t)v;
		break; /* uint32: the low 32 bits, as protobuf */
	case F_RETAIN:
		f->retain = v != 0;
		break;
	case F_SENDER_KIND:
		f->sender_kind = (uint32_t)v;
		break;
	case F_EXPIRY_LEFT:
		f->expiry_left = (uint32_t)v;
		break;
	default:
		f->payload_format = (uint32_t)v;
		break;
	}
}

/* The bool field: protobuf-c takes it in any wire type, true when a byte of its encoding
 * (the length prefix included) has a bit of its low seven set; so do we, or a frame it
 * accepts would close the link here. */
static int
parse_bool(struct rd *r, uint32_t wt, bool *out)
{
	struct sl_bytes b;
	uint64_t v;
	size_t n = wt == WT_I64 ? 8 : 4;

	switch (wt) {
	case WT_VARINT:
		if (get_varint(r, &v) < 0)
			return -1;
		*out = v != 0;
		return 0;
	case WT_LEN:
		if (get_len(r, &b) < 0)
			return -1;
		*out = b.len > 0; /* a non-zero length has a non-zero byte in its varint */
		return 0;
	case WT_I64:
	case WT_I32:
		if ((size_t)(r->end - r->p) < n)
			return -1;
		*out = false;
		for (size_t i = 0; i < n; i++)
			*out = *out || (r->p[i] & 0x7f) != 0;
		r->p += n;
		return 0;
	default:
		return -1;
	}
}

/* A varint field (bool aside). */
static int
parse_varint_field(struct rd *r, uint32_t field, uint32_t wt, struct clw_fwd *f)
{
	uint64_t v;

	if (field == F_RETAIN)
		return parse_bool(r, wt, &f->retain);
	if (wt != WT_VARINT || get_varint(r, &v) < 0)
		return -1;
	set_varint(f, field, v);
	return 0;
}

/* A known field (1..F_SHARED). */
static int
parse_field(struct rd *r, uint32_t field, uint32_t wt, struct clw_fwd *f)
{
	struct sl_bytes *dst;
	struct sl_bytes b;

	switch (field) {
	case F_TOPIC:
		dst = &f->topic;
		break;
	case F_SENDER:
		dst = &f->sender;
		break;
	case F_SENDER_USER:
		dst = &f->sender_user;
		break;
	case F_PROPS:
		dst = &f->props;
		break;
	case F_SHARED:
		dst = NULL;
		break;
	default:
		return parse_varint_field(r, field, wt, f);
	}
	if (wt != WT_LEN || get_len(r, &b) < 0)
		return -1;
	if (dst == NULL)
		return parse_shared(b, f); /* repeated: merged, as protobuf does */
	*dst = b;
	return 0;
}

int
clw_fwd_parse(struct sl_bytes meta, struct clw_fwd *f)
{
	struct rd r = {meta.p, meta.p + meta.len};
	uint32_t field, wt;

	memset(f, 0, sizeof(*f));
	while (r.p < r.end) {
		if (get_tag(&r, &field, &wt) < 0)
			return -1;
		if (field == 0 || field > F_SHARED) {
			if (skip(&r, wt) < 0)
				return -1;
			continue;
		}
		if (parse_field(&r, field, wt, f) < 0)
			return -1;
	}
	return 0;
}
