/* cluster/frame.h - the frame codec of node-to-node links (CLUSTER.md section 2). Pure functions:
 * no I/O, no logging, no state; any thread may call them.
 *
 * A frame, all integers big endian (network order, as MQTT):
 *   u32 len | u8 type | u8 flags | u16 rsvd (0) | u32 meta_len | meta | tail
 * len counts the whole frame, these 12 header bytes included. meta is meta_len bytes of one
 * protobuf message of proto/cluster.proto, the one the type names. With CLF_FLAG_HAS_TAIL the
 * rest of the frame (possibly empty) is the raw tail: a Forward's payload, which the receiver
 * keeps as a view into its read buffer instead of a copy out of protobuf. Without it meta fills
 * the frame. */
#ifndef CLF_FRAME_H
#define CLF_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.pb-c.h" /* generated from proto/cluster.proto into the build tree */
#include "proto/base/sl_buf.h"

/* The link protocol. A peer's Hello must carry the same major; the link speaks the smaller
 * minor. A minor adds fields or IGNORABLE frame types only. */
#define CLF_PROTO_MAJOR 1
#define CLF_PROTO_MINOR 0
#define CLF_PORT 7800

#define CLF_HDR_LEN 12
/* Default bound of len: MQTT's largest packet (268435455 + 5 header bytes) + 64 KiB of meta. */
#define CLF_LEN_MAX_DEFAULT (268435460u + 65536u)
/* The largest bound clf_decode() accepts: its return value is an int. */
#define CLF_LEN_MAX_LIMIT 0x7fffffffu
/* Default cap of the bytes one clf_meta_unpack() may allocate. */
#define CLF_UNPACK_MAX_DEFAULT (32u << 20)

/* flags. Bits 2-7 are reserved: 0 on the wire in this major, malformed otherwise. */
#define CLF_FLAG_IGNORABLE 0x01u /* a receiver not knowing the type skips the frame */
#define CLF_FLAG_HAS_TAIL 0x02u  /* meta is followed by a raw tail */

/* Frame types of proto major 1; the number never changes meaning. 0 is never sent. */
enum clf_type {
	CLF_HELLO = 1,
	CLF_AUTH = 2,
	CLF_HEARTBEAT = 3,
	CLF_ROUTE_DELTA = 4,
	CLF_ROUTE_SYNC_REQUEST = 5,
	CLF_ROUTE_FULL_SYNC = 6,
	CLF_FORWARD = 7, /* the only type with a tail */
	CLF_FORWARD_ACK = 8,
	CLF_ROUTE_ACK = 9,
	CLF_LEAVE = 10,
};

/* Why a frame is malformed; the link is closed then (the stream cannot be resynchronised). */
enum clf_err {
	CLF_OK = 0,
	CLF_ERR_LEN_SHORT,  /* len < CLF_HDR_LEN */
	CLF_ERR_LEN_LONG,   /* len > the receiver's bound */
	CLF_ERR_META_LEN,   /* meta_len > len - CLF_HDR_LEN, or != it without a tail */
	CLF_ERR_RSVD,       /* rsvd is not 0 */
	CLF_ERR_FLAGS,      /* a reserved flag bit is set */
	CLF_ERR_TAIL,       /* HAS_TAIL on a known type that carries none */
	CLF_ERR_TYPE,       /* unknown type without IGNORABLE */
	CLF_ERR_META,       /* meta is not a valid message of its type */
	CLF_ERR_META_LARGE, /* unpacking meta would allocate more than allowed */
	CLF_ERR_NOMEM,      /* out of memory while unpacking */
};

/* A decoded frame. meta and tail are views into the caller's input buffer: valid while it is. */
struct clf_frame {
	uint32_t len; /* whole frame; set by clf_decode() as soon as the header is in */
	uint8_t type;
	uint8_t flags;
	bool known; /* false: an IGNORABLE type this node does not know; the caller skips it */
	struct sl_bytes meta;
	struct sl_bytes tail; /* empty without CLF_FLAG_HAS_TAIL */
};

/* Appends a frame's header for meta_len bytes of meta and tail (NULL: none) to out and
 * reserves the meta: the caller writes meta_len bytes at the pointer returned (no protobuf-c:
 * cluster/fwd_wire.h), then the tail's bytes. NULL with *rc = -EMSGSIZE or -ENOMEM. */
uint8_t *clf_head_put(struct sl_buf *out, uint8_t type, uint8_t flags, size_t meta_len,
                      const struct sl_bytes *tail, int *rc);
/* Appends one whole frame to out: header, meta packed by protobuf-c, then the tail's bytes.
 * meta may be NULL (meta_len 0); tail NULL means no tail (HAS_TAIL clear), else HAS_TAIL is set
 * even for an empty tail. flags may hold CLF_FLAG_IGNORABLE only. For a known type, meta must
 * be that type's message (asserted). Borrows everything. Returns 0, -EMSGSIZE when the frame
 * would exceed CLF_LEN_MAX_LIMIT, or -ENOMEM (out then keeps its previous length). */
int clf_encode(struct sl_buf *out, uint8_t type, uint8_t flags, const ProtobufCMessage *meta,
               const struct sl_bytes *tail);
/* As clf_encode() but appends only the header and meta; the frame's len counts tail->len bytes
 * which the caller sends next as a separate buffer (a payload is written without a copy). */
int clf_encode_head(struct sl_buf *out, uint8_t type, uint8_t flags, const ProtobufCMessage *meta,
                    const struct sl_bytes *tail);

/* Decodes the frame at the start of the len bytes at p, a stream's receive buffer. max_len
 * (<= CLF_LEN_MAX_LIMIT) bounds the frame's len. Returns the frame's length (> 0) with *f
 * filled, its views pointing into p; 0 when more bytes are needed (f->len is then set if the
 * header is in, 0 otherwise: the caller may size its buffer); or -1 for a malformed frame with
 * *err set. A bad length is reported from the first 4 bytes on, other header faults once the
 * 12 header bytes are in, before the rest arrives. meta itself is not looked at: see
 * clf_meta_unpack(). An unknown type with CLF_FLAG_IGNORABLE decodes with f->known false. */
int clf_decode(const uint8_t *p, size_t len, uint32_t max_len, struct clf_frame *f,
               enum clf_err *err);

/* The protobuf-c descriptor of a known type's meta, or NULL for an unknown type. */
const ProtobufCMessageDescriptor *clf_type_descriptor(uint8_t type);
/* A name for logs ("Forward"), or "unknown". Never NULL. */
const char *clf_type_name(uint8_t type);
/* Text for an error, for logs. Never NULL. */
const char *clf_strerror(enum clf_err err);

/* Unpacks f's meta (a known type) into a new message of its type, allocating through sl_malloc
 * at most max_alloc bytes in all, so a hostile frame cannot make this node allocate more than
 * that (protobuf-c allocates a whole struct per 2-byte empty submessage). Returns the message,
 * owned by the caller: free it with clf_meta_free(), never protobuf-c's default allocator;
 * string and bytes fields are copies, not views of f. Returns NULL with *err set to
 * CLF_ERR_META (not a valid message), CLF_ERR_META_LARGE (the cap was reached),
 * CLF_ERR_NOMEM, or CLF_ERR_TYPE (unknown type). */
ProtobufCMessage *clf_meta_unpack(const struct clf_frame *f, size_t max_alloc, enum clf_err *err);
/* Frees a message from clf_meta_unpack(); NULL is a no-op. Takes m. */
void clf_meta_free(ProtobufCMessage *m);

#endif
