/* cluster/fwd_wire.h - starling.cluster.v1.Forward (proto/cluster.proto) coded by hand, for the
 * one frame sent per message: protobuf-c's generic pack, unpack and free were 18% of both
 * nodes' CPU in a saturated cross-node fan-in (tests/bench/README.md, issue 14), most of it
 * walking field descriptors. The bytes are protobuf's wire format, the same protobuf-c writes
 * (proto3: fields at their default are left out, fields in number order), so every other node
 * decodes them with protobuf-c; tests/unit/cluster/test_fwd_wire.c and the frame fuzz target
 * hold this code to protobuf-c, which codes every other message.
 *
 * Parsing makes no copy: the fields are views into the frame. */
#ifndef CLUSTER_FWD_WIRE_H
#define CLUSTER_FWD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/sl_buf.h"

struct clw_fwd {
	uint64_t seq;
	struct sl_bytes topic;
	uint32_t qos;
	bool retain;
	struct sl_bytes sender;
	uint32_t sender_kind;
	struct sl_bytes sender_user;
	uint32_t expiry_left;
	uint32_t payload_format;
	struct sl_bytes props;
	bool shared; /* SharedTarget present: group and filter */
	struct sl_bytes group, filter;
};

/* The packed size of f's meta. */
size_t clw_fwd_size(const struct clw_fwd *f);
/* Writes f's meta, exactly clw_fwd_size(f) bytes, at out. */
void clw_fwd_pack(const struct clw_fwd *f, uint8_t *out);
/* Appends a whole Forward frame (header, f's meta, then the tail's bytes) to out, as
 * clf_encode() would with protobuf-c. Returns 0, -EMSGSIZE or -ENOMEM (out unchanged). */
int clw_fwd_encode(struct sl_buf *out, const struct clw_fwd *f, struct sl_bytes tail);
/* Parses meta into *f (views into meta). Unknown fields are skipped; a known field with
 * another wire type, a truncated field or a bad tag is malformed. Returns 0 or -1. */
int clw_fwd_parse(struct sl_bytes meta, struct clw_fwd *f);

#endif
