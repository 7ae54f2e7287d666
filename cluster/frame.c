/* cluster/frame.c - frame header, bounds and versioning rules, and protobuf-c glue with a
 * bounded allocator. */
#include "cluster/frame.h"

#include <errno.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"

/* What each known type carries; indexed by enum clf_type. */
static const struct {
	const ProtobufCMessageDescriptor *desc;
	const char *name;
	bool tail;
} types[] = {
        [CLF_HELLO] = {&starling__cluster__v1__hello__descriptor, "Hello", false},
        [CLF_AUTH] = {&starling__cluster__v1__auth__descriptor, "Auth", false},
        [CLF_HEARTBEAT] = {&starling__cluster__v1__heartbeat__descriptor, "Heartbeat", false},
        [CLF_ROUTE_DELTA] = {&starling__cluster__v1__route_delta__descriptor, "RouteDelta", false},
        [CLF_ROUTE_SYNC_REQUEST] = {&starling__cluster__v1__route_sync_request__descriptor,
                                    "RouteSyncRequest", false},
        [CLF_ROUTE_FULL_SYNC] = {&starling__cluster__v1__route_full_sync__descriptor,
                                 "RouteFullSync", false},
        [CLF_FORWARD] = {&starling__cluster__v1__forward__descriptor, "Forward", true},
        [CLF_FORWARD_ACK] = {&starling__cluster__v1__forward_ack__descriptor, "ForwardAck", false},
        [CLF_ROUTE_ACK] = {&starling__cluster__v1__route_ack__descriptor, "RouteAck", false},
        [CLF_LEAVE] = {&starling__cluster__v1__leave__descriptor, "Leave", false},
};

#define NTYPES (sizeof(types) / sizeof(types[0]))

static bool
type_known(uint8_t type)
{
	return type < NTYPES && types[type].desc != NULL;
}

const ProtobufCMessageDescriptor *
clf_type_descriptor(uint8_t type)
{
	return type_known(type) ? types[type].desc : NULL;
}

const char *
clf_type_name(uint8_t type)
{
	return type_known(type) ? types[type].name : "unknown";
}

const char *
clf_strerror(enum clf_err err)
{
	switch (err) {
	case CLF_OK:
		return "ok";
	case CLF_ERR_LEN_SHORT:
		return "frame length below the header's";
	case CLF_ERR_LEN_LONG:
		return "frame length above the limit";
	case CLF_ERR_META_LEN:
		return "meta length inconsistent with frame length";
	case CLF_ERR_RSVD:
		return "reserved header field not zero";
	case CLF_ERR_FLAGS:
		return "reserved flag bit set";
	case CLF_ERR_TAIL:
		return "tail on a frame type that carries none";
	case CLF_ERR_TYPE:
		return "unknown frame type not ignorable";
	case CLF_ERR_META:
		return "meta is not a valid message of its type";
	case CLF_ERR_META_LARGE:
		return "meta would allocate more than allowed";
	case CLF_ERR_NOMEM:
		return "out of memory";
	}
	return "unknown error";
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int
clf_encode_head(struct sl_buf *out, uint8_t type, uint8_t flags, const ProtobufCMessage *meta,
                const struct sl_bytes *tail)
{
	size_t meta_len = meta != NULL ? protobuf_c_message_get_packed_size(meta) : 0;
	uint8_t *m;
	int rc;

	/* Our own frames follow the table: a known type with the wrong message is a bug here,
	 * not a peer's fault. */
	SL_ASSERT(!type_known(type) || meta == NULL || meta->descriptor == types[type].desc);
	if ((m = clf_head_put(out, type, flags, meta_len, tail, &rc)) == NULL)
		return rc;
	if (meta != NULL && protobuf_c_message_pack(meta, m) != meta_len)
		SL_ASSERT(!"protobuf-c packed a size other than it computed");
	return 0;
}

uint8_t *
clf_head_put(struct sl_buf *out, uint8_t type, uint8_t flags, size_t meta_len,
             const struct sl_bytes *tail, int *rc)
{
	size_t tail_len = tail != NULL ? tail->len : 0;
	uint8_t *h;

	SL_ASSERT((flags & ~CLF_FLAG_IGNORABLE) == 0);
	SL_ASSERT(!type_known(type) || tail == NULL || types[type].tail);
	if (meta_len > CLF_LEN_MAX_LIMIT - CLF_HDR_LEN ||
	    tail_len > CLF_LEN_MAX_LIMIT - CLF_HDR_LEN - meta_len) {
		*rc = -EMSGSIZE;
		return NULL;
	}
	if ((*rc = sl_buf_reserve(out, CLF_HDR_LEN + meta_len)) < 0)
		return NULL;
	h = out->data + out->len;
	put_u32(h, (uint32_t)(CLF_HDR_LEN + meta_len + tail_len));
	h[4] = type;
	h[5] = (uint8_t)(flags | (tail != NULL ? CLF_FLAG_HAS_TAIL : 0));
	h[6] = h[7] = 0;
	put_u32(h + 8, (uint32_t)meta_len);
	out->len += CLF_HDR_LEN + meta_len;
	return h + CLF_HDR_LEN;
}

int
clf_encode(struct sl_buf *out, uint8_t type, uint8_t flags, const ProtobufCMessage *meta,
           const struct sl_bytes *tail)
{
	size_t old = out->len;
	int rc;

	if ((rc = clf_encode_head(out, type, flags, meta, tail)) < 0)
		return rc;
	if (tail != NULL && (rc = sl_buf_append(out, tail->p, tail->len)) < 0) {
		out->len = old; /* drop the head: no half frame in out */
		return rc;
	}
	return 0;
}

/* The header's rules, checked once its 12 bytes are in. Returns 0 or -1 with *err set. */
static int
check_header(const uint8_t *p, struct clf_frame *f, enum clf_err *err)
{
	uint32_t meta_len = get_u32(p + 8);

	f->type = p[4];
	f->flags = p[5];
	f->known = type_known(f->type);
	*err = CLF_ERR_RSVD;
	if (p[6] != 0 || p[7] != 0)
		return -1;
	*err = CLF_ERR_FLAGS;
	if (f->flags & ~(CLF_FLAG_IGNORABLE | CLF_FLAG_HAS_TAIL))
		return -1;
	/* An unknown type is skippable only if its sender said so: anything else may change
	 * what the following frames mean (CLUSTER.md section 2, rolling upgrades). */
	*err = CLF_ERR_TYPE;
	if (!f->known && !(f->flags & CLF_FLAG_IGNORABLE))
		return -1;
	*err = CLF_ERR_META_LEN;
	if (meta_len > f->len - CLF_HDR_LEN)
		return -1;
	if (!(f->flags & CLF_FLAG_HAS_TAIL) && meta_len != f->len - CLF_HDR_LEN)
		return -1;
	*err = CLF_ERR_TAIL;
	if (f->known && (f->flags & CLF_FLAG_HAS_TAIL) && !types[f->type].tail)
		return -1;
	*err = CLF_OK;
	f->meta.len = meta_len;
	f->tail.len = f->len - CLF_HDR_LEN - meta_len;
	return 0;
}

int
clf_decode(const uint8_t *p, size_t len, uint32_t max_len, struct clf_frame *f, enum clf_err *err)
{
	SL_ASSERT(max_len <= CLF_LEN_MAX_LIMIT);
	memset(f, 0, sizeof(*f));
	*err = CLF_OK;
	if (len < 4)
		return 0;
	f->len = get_u32(p);
	/* Refused from the length alone, so a peer cannot make us wait for (and buffer) a
	 * frame we would reject anyway. */
	if (f->len < CLF_HDR_LEN || f->len > max_len) {
		*err = f->len < CLF_HDR_LEN ? CLF_ERR_LEN_SHORT : CLF_ERR_LEN_LONG;
		return -1;
	}
	if (len < CLF_HDR_LEN) {
		f->len = 0; /* as promised: set only once the whole header is in */
		return 0;
	}
	if (check_header(p, f, err) < 0)
		return -1;
	if (len < f->len)
		return 0;
	f->meta.p = p + CLF_HDR_LEN;
	f->tail.p = f->meta.p + f->meta.len;
	return (int)f->len;
}

/* The allocator of one unpack: sl_malloc under a byte budget. Frees are not refunded: the
 * budget bounds what a frame can make us allocate, not what is live. */
struct budget {
	size_t left;
	bool over;  /* a request was refused for the cap */
	bool nomem; /* sl_malloc failed */
};

static void *
budget_alloc(void *data, size_t size)
{
	struct budget *b = data;
	void *p;

	if (b == NULL)
		return NULL; /* the free-only allocator of clf_meta_free() */
	if (size > b->left) {
		b->over = true;
		return NULL;
	}
	b->left -= size;
	p = sl_malloc(size > 0 ? size : 1);
	if (p == NULL)
		b->nomem = true;
	return p;
}

static void
budget_free(void *data, void *p)
{
	(void)data;
	sl_free(p);
}

ProtobufCMessage *
clf_meta_unpack(const struct clf_frame *f, size_t max_alloc, enum clf_err *err)
{
	struct budget b = {max_alloc, false, false};
	ProtobufCAllocator a = {budget_alloc, budget_free, &b};
	ProtobufCMessage *m;

	if (!type_known(f->type)) {
		*err = CLF_ERR_TYPE;
		return NULL;
	}
	m = protobuf_c_message_unpack(types[f->type].desc, &a, f->meta.len, f->meta.p);
	if (m == NULL)
		*err = b.over ? CLF_ERR_META_LARGE : b.nomem ? CLF_ERR_NOMEM : CLF_ERR_META;
	else
		*err = CLF_OK;
	return m;
}

void
clf_meta_free(ProtobufCMessage *m)
{
	/* No budget: protobuf-c only frees here, and budget_alloc() refuses without one. */
	ProtobufCAllocator a = {budget_alloc, budget_free, NULL};

	if (m != NULL)
		protobuf_c_message_free_unpacked(m, &a);
}
