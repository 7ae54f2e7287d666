/* tests/unit/cluster/test_frame.c - the frame codec of node links (cluster/frame.h): round trips
 * of every type, streaming (byte by byte, every truncation), each header rule, skipping unknown
 * ignorable types, the unpack allocation cap, and random bit flips. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/frame.h"
#include "proto/base/sl_alloc.h"

/* One populated message of each type, the fields chosen so that every kind (string, bytes,
 * enum, repeated scalar, repeated and nested message) is on the wire somewhere. */
static uint8_t nonce_a[32] = {1, 2, 3}, nonce_b[32] = {9, 8, 7}, mac[32] = {0xaa, 0x55};
static Starling__Cluster__V1__KnownVersion kv[2] = {STARLING__CLUSTER__V1__KNOWN_VERSION__INIT,
                                                    STARLING__CLUSTER__V1__KNOWN_VERSION__INIT};
static Starling__Cluster__V1__KnownVersion *kvp[2] = {&kv[0], &kv[1]};
static Starling__Cluster__V1__RouteOp ops[2] = {STARLING__CLUSTER__V1__ROUTE_OP__INIT,
                                                STARLING__CLUSTER__V1__ROUTE_OP__INIT};
static Starling__Cluster__V1__RouteOp *opsp[2] = {&ops[0], &ops[1]};
static Starling__Cluster__V1__RouteEntry ent = STARLING__CLUSTER__V1__ROUTE_ENTRY__INIT;
static Starling__Cluster__V1__RouteEntry *entp[1] = {&ent};
static Starling__Cluster__V1__SharedTarget st = STARLING__CLUSTER__V1__SHARED_TARGET__INIT;
static Starling__Cluster__V1__Nack nk = STARLING__CLUSTER__V1__NACK__INIT;
static Starling__Cluster__V1__Nack *nkp[1] = {&nk};

static Starling__Cluster__V1__Hello hello = STARLING__CLUSTER__V1__HELLO__INIT;
static Starling__Cluster__V1__Auth auth = STARLING__CLUSTER__V1__AUTH__INIT;
static Starling__Cluster__V1__Heartbeat hb = STARLING__CLUSTER__V1__HEARTBEAT__INIT;
static Starling__Cluster__V1__RouteDelta rd = STARLING__CLUSTER__V1__ROUTE_DELTA__INIT;
static Starling__Cluster__V1__RouteSyncRequest rsr =
        STARLING__CLUSTER__V1__ROUTE_SYNC_REQUEST__INIT;
static Starling__Cluster__V1__RouteFullSync rfs = STARLING__CLUSTER__V1__ROUTE_FULL_SYNC__INIT;
static Starling__Cluster__V1__Forward fwd = STARLING__CLUSTER__V1__FORWARD__INIT;
static Starling__Cluster__V1__ForwardAck fack = STARLING__CLUSTER__V1__FORWARD_ACK__INIT;
static Starling__Cluster__V1__RouteAck rack = STARLING__CLUSTER__V1__ROUTE_ACK__INIT;
static Starling__Cluster__V1__Leave leave = STARLING__CLUSTER__V1__LEAVE__INIT;

static void
fill_messages(void)
{
	hello.cluster_id = "c1";
	hello.node_id = "n1";
	hello.incarnation = 0x1234567890abcdefull;
	hello.proto_major = CLF_PROTO_MAJOR;
	hello.proto_minor = CLF_PROTO_MINOR;
	hello.features = 5;
	hello.nonce = (ProtobufCBinaryData){sizeof(nonce_a), nonce_a};
	kv[0].origin = "n2";
	kv[0].version = 7;
	kv[1].origin = "n3";
	kv[1].incarnation = 3;
	hello.n_known_versions = 2;
	hello.known_versions = kvp;
	auth.nonce = (ProtobufCBinaryData){sizeof(nonce_a), nonce_a};
	auth.own_nonce = (ProtobufCBinaryData){sizeof(nonce_b), nonce_b};
	auth.hmac = (ProtobufCBinaryData){sizeof(mac), mac};
	auth.chosen_minor = 0;
	hb.seq = 42;
	hb.route_digest = ~0ull;
	hb.route_count = 3;
	hb.pg_ok = 1;
	ops[0].route_id = 1;
	ops[0].filter = "a/+/c";
	ops[1].op = STARLING__CLUSTER__V1__ROUTE_OP__OP__DEL;
	ops[1].route_id = 2;
	ops[1].filter = "x/#";
	ops[1].share_group = "g";
	rd.origin = "n1";
	rd.from_version = 6;
	rd.to_version = 7;
	rd.n_ops = 2;
	rd.ops = opsp;
	rsr.origin = "n1";
	rsr.version_known = 6;
	ent.route_id = 9;
	ent.filter = "s/#";
	rfs.origin = "n1";
	rfs.last = 1;
	rfs.n_entries = 1;
	rfs.entries = entp;
	st.group = (ProtobufCBinaryData){1, (uint8_t *)"g"};
	st.filter = (ProtobufCBinaryData){3, (uint8_t *)"x/#"};
	fwd.seq = 77;
	fwd.topic = (ProtobufCBinaryData){5, (uint8_t *)"a/b/c"};
	fwd.sender = (ProtobufCBinaryData){3, (uint8_t *)"pub"};
	fwd.qos = 1;
	fwd.retain = 1;
	fwd.expiry_left = 30;
	fwd.props = (ProtobufCBinaryData){sizeof(mac), mac};
	fwd.shared = &st;
	nk.seq = 76;
	nk.reason = STARLING__CLUSTER__V1__NACK__REASON__QUEUE_FULL;
	fack.upto_seq = 77;
	fack.n_nacks = 1;
	fack.nacks = nkp;
	rack.origin = "n1";
	rack.version = 7;
	leave.node_id = "n1";
	leave.incarnation = 3;
}

static const ProtobufCMessage *
meta_of(uint8_t type)
{
	fill_messages();
	switch (type) {
	case CLF_HELLO:
		return &hello.base;
	case CLF_AUTH:
		return &auth.base;
	case CLF_HEARTBEAT:
		return &hb.base;
	case CLF_ROUTE_DELTA:
		return &rd.base;
	case CLF_ROUTE_SYNC_REQUEST:
		return &rsr.base;
	case CLF_ROUTE_FULL_SYNC:
		return &rfs.base;
	case CLF_FORWARD:
		return &fwd.base;
	case CLF_FORWARD_ACK:
		return &fack.base;
	case CLF_ROUTE_ACK:
		return &rack.base;
	case CLF_LEAVE:
		return &leave.base;
	}
	return NULL;
}

static const uint8_t payload[] = "the payload: \0 any bytes";

/* Encodes into a heap block of exactly the frame's size, so ASan sees any read past it. */
static uint8_t *
encode(uint8_t type, uint8_t flags, const struct sl_bytes *tail, size_t *len)
{
	struct sl_buf b = SL_BUF_INIT;
	uint8_t *p;

	ck_assert_int_eq(clf_encode(&b, type, flags, meta_of(type), tail), 0);
	p = malloc(b.len);
	ck_assert_ptr_nonnull(p);
	memcpy(p, b.data, b.len);
	*len = b.len;
	sl_buf_fini(&b);
	return p;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The unpacked message packs back to the same bytes: every field survived. */
static void
check_unpack(const struct clf_frame *f)
{
	enum clf_err err = CLF_ERR_META;
	ProtobufCMessage *m = clf_meta_unpack(f, CLF_UNPACK_MAX_DEFAULT, &err);
	uint8_t *re;

	ck_assert_msg(m != NULL, "%s: %s", clf_type_name(f->type), clf_strerror(err));
	ck_assert_int_eq(err, CLF_OK);
	ck_assert_ptr_eq(m->descriptor, clf_type_descriptor(f->type));
	ck_assert_uint_eq(protobuf_c_message_get_packed_size(m), f->meta.len);
	re = malloc(f->meta.len + 1);
	protobuf_c_message_pack(m, re);
	ck_assert_mem_eq(re, f->meta.p, f->meta.len);
	free(re);
	clf_meta_free(m);
}

START_TEST(test_round_trip_each_type) /* loop: types 1..8; Forward also with a tail */
{
	uint8_t type = (uint8_t)_i;
	struct sl_bytes tail = sl_bytes_make(payload, sizeof(payload));
	int with_tail;

	for (with_tail = 0; with_tail <= (type == CLF_FORWARD); with_tail++) {
		size_t len;
		uint8_t *p = encode(type, 0, with_tail ? &tail : NULL, &len);
		struct clf_frame f;
		enum clf_err err;

		ck_assert_int_eq(clf_decode(p, len, CLF_LEN_MAX_DEFAULT, &f, &err), (int)len);
		ck_assert_int_eq(err, CLF_OK);
		ck_assert_uint_eq(f.len, len);
		ck_assert_uint_eq(f.type, type);
		ck_assert(f.known);
		ck_assert_uint_eq(f.flags, with_tail ? CLF_FLAG_HAS_TAIL : 0);
		ck_assert_ptr_eq(f.meta.p, p + CLF_HDR_LEN); /* views, not copies */
		ck_assert_uint_eq(f.meta.len, protobuf_c_message_get_packed_size(meta_of(type)));
		ck_assert_uint_eq(f.tail.len, with_tail ? sizeof(payload) : 0);
		if (with_tail) {
			ck_assert_ptr_eq(f.tail.p, p + CLF_HDR_LEN + f.meta.len);
			ck_assert_mem_eq(f.tail.p, payload, sizeof(payload));
		}
		check_unpack(&f);
		free(p);
	}
}
END_TEST

/* An empty payload is a tail of 0 bytes, still flagged: a Forward says whether it has one. */
START_TEST(test_forward_empty_tail)
{
	struct sl_bytes tail = sl_bytes_make("", 0);
	size_t len;
	uint8_t *p = encode(CLF_FORWARD, 0, &tail, &len);
	struct clf_frame f;
	enum clf_err err;

	ck_assert_int_eq(clf_decode(p, len, CLF_LEN_MAX_DEFAULT, &f, &err), (int)len);
	ck_assert_uint_eq(f.flags, CLF_FLAG_HAS_TAIL);
	ck_assert_uint_eq(f.tail.len, 0);
	free(p);
}
END_TEST

/* clf_encode_head() writes header and meta only; len counts the tail sent separately. */
START_TEST(test_encode_head_leaves_tail_out)
{
	struct sl_bytes tail = sl_bytes_make(payload, sizeof(payload));
	struct sl_buf head = SL_BUF_INIT, whole = SL_BUF_INIT;

	ck_assert_int_eq(clf_encode_head(&head, CLF_FORWARD, 0, meta_of(CLF_FORWARD), &tail), 0);
	ck_assert_int_eq(clf_encode(&whole, CLF_FORWARD, 0, meta_of(CLF_FORWARD), &tail), 0);
	ck_assert_uint_eq(head.len + sizeof(payload), whole.len);
	ck_assert_mem_eq(head.data, whole.data, head.len);
	sl_buf_fini(&head);
	sl_buf_fini(&whole);
}
END_TEST

/* Two frames arriving one byte at a time: nothing before the first is whole, f.len is known
 * from the 12th byte on, then the second decodes from where the first ended. */
START_TEST(test_split_byte_by_byte)
{
	struct sl_bytes tail = sl_bytes_make(payload, sizeof(payload));
	struct sl_buf b = SL_BUF_INIT;
	size_t n, off = 0;
	int frames = 0;

	ck_assert_int_eq(clf_encode(&b, CLF_FORWARD, 0, meta_of(CLF_FORWARD), &tail), 0);
	ck_assert_int_eq(clf_encode(&b, CLF_HEARTBEAT, 0, meta_of(CLF_HEARTBEAT), NULL), 0);
	for (n = 1; n <= b.len; n++) {
		uint8_t *p = malloc(n - off);
		struct clf_frame f;
		enum clf_err err;
		int rc;

		memcpy(p, b.data + off, n - off);
		rc = clf_decode(p, n - off, CLF_LEN_MAX_DEFAULT, &f, &err);
		ck_assert_int_ge(rc, 0);
		if (rc == 0)
			ck_assert_uint_eq(f.len, n - off >= CLF_HDR_LEN ? f.len : 0);
		if (rc > 0) {
			ck_assert_uint_eq((size_t)rc, n - off);
			ck_assert_uint_eq(f.type, frames == 0 ? CLF_FORWARD : CLF_HEARTBEAT);
			check_unpack(&f);
			off = n;
			frames++;
		}
		free(p);
	}
	ck_assert_int_eq(frames, 2);
	sl_buf_fini(&b);
}
END_TEST

START_TEST(test_every_truncation_needs_more) /* loop: types 1..8 */
{
	struct sl_bytes tail = sl_bytes_make(payload, sizeof(payload));
	uint8_t type = (uint8_t)_i;
	size_t len, n;
	uint8_t *whole = encode(type, 0, type == CLF_FORWARD ? &tail : NULL, &len);

	for (n = 0; n < len; n++) {
		uint8_t *p = malloc(n + 1);
		struct clf_frame f;
		enum clf_err err;

		memcpy(p, whole, n);
		ck_assert_int_eq(clf_decode(p, n, CLF_LEN_MAX_DEFAULT, &f, &err), 0);
		ck_assert_int_eq(err, CLF_OK);
		ck_assert_uint_eq(f.len, n >= CLF_HDR_LEN ? len : 0);
		free(p);
	}
	free(whole);
}
END_TEST

/* A header-only frame: len, type, flags, rsvd, meta_len as given. */
static int
decode_hdr(uint32_t len, uint8_t type, uint8_t flags, uint16_t rsvd, uint32_t meta_len,
           uint32_t max_len, size_t have, struct clf_frame *f, enum clf_err *err)
{
	uint8_t h[CLF_HDR_LEN + 8] = {0};

	put32(h, len);
	h[4] = type;
	h[5] = flags;
	h[6] = (uint8_t)(rsvd >> 8);
	h[7] = (uint8_t)rsvd;
	put32(h + 8, meta_len);
	return clf_decode(h, have, max_len, f, err);
}

struct hdr_case {
	const char *name;
	uint32_t len;
	uint8_t type, flags;
	uint16_t rsvd;
	uint32_t meta_len, max_len;
	size_t have;
	int rc;
	enum clf_err err;
};

static const struct hdr_case hdr_cases[] = {
        {"len below header", 11, CLF_HEARTBEAT, 0, 0, 0, 1000, 4, -1, CLF_ERR_LEN_SHORT},
        {"len 0", 0, CLF_HEARTBEAT, 0, 0, 0, 1000, 4, -1, CLF_ERR_LEN_SHORT},
        {"oversize, told from 4 bytes", 1001, CLF_HEARTBEAT, 0, 0, 989, 1000, 4, -1,
         CLF_ERR_LEN_LONG},
        {"max len exactly", 1000, CLF_HEARTBEAT, 0, 0, 988, 1000, 12, 0, CLF_OK},
        {"len UINT32_MAX", 0xffffffffu, CLF_FORWARD, 2, 0, 0, CLF_LEN_MAX_LIMIT, 4, -1,
         CLF_ERR_LEN_LONG},
        {"empty heartbeat", 12, CLF_HEARTBEAT, 0, 0, 0, 1000, 12, 12, CLF_OK},
        {"meta_len past the frame", 20, CLF_HEARTBEAT, 0, 0, 9, 1000, 12, -1, CLF_ERR_META_LEN},
        {"meta_len past, with tail", 20, CLF_FORWARD, 2, 0, 9, 1000, 12, -1, CLF_ERR_META_LEN},
        {"meta_len huge", 20, CLF_FORWARD, 2, 0, 0xfffffff8u, 1000, 12, -1, CLF_ERR_META_LEN},
        {"meta_len short, no tail", 20, CLF_HEARTBEAT, 0, 0, 7, 1000, 12, -1, CLF_ERR_META_LEN},
        {"meta_len short, tail", 20, CLF_FORWARD, 2, 0, 7, 1000, 20, 20, CLF_OK},
        {"rsvd high byte", 12, CLF_HEARTBEAT, 0, 0x100, 0, 1000, 12, -1, CLF_ERR_RSVD},
        {"rsvd low byte", 12, CLF_HEARTBEAT, 0, 1, 0, 1000, 12, -1, CLF_ERR_RSVD},
        {"reserved flag bit", 12, CLF_HEARTBEAT, 0x80, 0, 0, 1000, 12, -1, CLF_ERR_FLAGS},
        {"tail on a heartbeat", 20, CLF_HEARTBEAT, 2, 0, 0, 1000, 12, -1, CLF_ERR_TAIL},
        {"type 0", 12, 0, 0, 0, 0, 1000, 12, -1, CLF_ERR_TYPE},
        {"unknown type", 12, 200, 0, 0, 0, 1000, 12, -1, CLF_ERR_TYPE},
        {"unknown type ignorable", 12, 200, 1, 0, 0, 1000, 12, 12, CLF_OK},
        {"unknown ignorable, tail", 20, 99, 3, 0, 4, 1000, 20, 20, CLF_OK},
        {"known type ignorable", 12, CLF_HEARTBEAT, 1, 0, 0, 1000, 12, 12, CLF_OK},
};

START_TEST(test_header_rules) /* loop: hdr_cases */
{
	const struct hdr_case *hc = &hdr_cases[_i];
	struct clf_frame f;
	enum clf_err err;
	int rc = decode_hdr(hc->len, hc->type, hc->flags, hc->rsvd, hc->meta_len, hc->max_len,
	                    hc->have, &f, &err);

	ck_assert_msg(rc == hc->rc, "%s: rc %d, want %d", hc->name, rc, hc->rc);
	ck_assert_msg(err == hc->err, "%s: %s, want %s", hc->name, clf_strerror(err),
	              clf_strerror(hc->err));
}
END_TEST

/* An unknown IGNORABLE frame is consumed whole and the next one still decodes (rolling upgrade:
 * a node of the next release may send frame types this one does not know). */
START_TEST(test_unknown_ignorable_is_skipped)
{
	struct sl_buf b = SL_BUF_INIT;
	struct sl_bytes tail = sl_bytes_make("xyz", 3);
	struct clf_frame f;
	enum clf_err err;
	int rc;

	ck_assert_int_eq(clf_encode(&b, 42, CLF_FLAG_IGNORABLE, meta_of(CLF_HEARTBEAT), &tail), 0);
	ck_assert_int_eq(clf_encode(&b, CLF_AUTH, 0, meta_of(CLF_AUTH), NULL), 0);
	rc = clf_decode(b.data, b.len, CLF_LEN_MAX_DEFAULT, &f, &err);
	ck_assert_int_gt(rc, 0);
	ck_assert(!f.known);
	ck_assert_uint_eq(f.type, 42);
	ck_assert_ptr_null(clf_meta_unpack(&f, CLF_UNPACK_MAX_DEFAULT, &err));
	ck_assert_int_eq(err, CLF_ERR_TYPE);
	ck_assert_int_gt(clf_decode(b.data + rc, b.len - (size_t)rc, CLF_LEN_MAX_DEFAULT, &f, &err),
	                 0);
	ck_assert_uint_eq(f.type, CLF_AUTH);
	check_unpack(&f);
	sl_buf_fini(&b);
}
END_TEST

/* Meta that is not protobuf of its type is refused by the unpack, not by the decoder. */
START_TEST(test_bad_meta_refused)
{
	uint8_t p[CLF_HDR_LEN + 3] = {
	        0,    0,    0,  CLF_HDR_LEN + 3, CLF_HEARTBEAT, 0, 0, 0, 0, 0, 0, 3,
	        0x0a, 0x10, 'x'}; /* field 1 (a uint64) as a 16-byte string */
	struct clf_frame f;
	enum clf_err err;

	ck_assert_int_eq(clf_decode(p, sizeof(p), CLF_LEN_MAX_DEFAULT, &f, &err), (int)sizeof(p));
	ck_assert_ptr_null(clf_meta_unpack(&f, CLF_UNPACK_MAX_DEFAULT, &err));
	ck_assert_int_eq(err, CLF_ERR_META);
}
END_TEST

/* 20000 empty route entries are 40000 bytes on the wire but a struct each unpacked: the cap
 * stops it, and everything allocated on the way is freed. */
START_TEST(test_unpack_allocation_capped)
{
	enum { N = 20000 };
	uint8_t *p = malloc(CLF_HDR_LEN + 2 * N);
	uint64_t before = sl_alloc_bytes();
	struct clf_frame f;
	enum clf_err err;
	ProtobufCMessage *m;
	size_t i;

	put32(p, CLF_HDR_LEN + 2 * N);
	memcpy(p + 4, (uint8_t[]){CLF_ROUTE_FULL_SYNC, 0, 0, 0}, 4);
	put32(p + 8, 2 * N);
	for (i = 0; i < N; i++) {
		p[CLF_HDR_LEN + 2 * i] = 6 << 3 | 2; /* entries, length-delimited */
		p[CLF_HDR_LEN + 2 * i + 1] = 0;
	}
	ck_assert_int_eq(clf_decode(p, CLF_HDR_LEN + 2 * N, CLF_LEN_MAX_DEFAULT, &f, &err),
	                 CLF_HDR_LEN + 2 * N);
	ck_assert_ptr_null(clf_meta_unpack(&f, 100000, &err));
	ck_assert_int_eq(err, CLF_ERR_META_LARGE);
	ck_assert_uint_eq(sl_alloc_bytes(), before);
	m = clf_meta_unpack(&f, CLF_UNPACK_MAX_DEFAULT, &err);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(((Starling__Cluster__V1__RouteFullSync *)m)->n_entries, N);
	clf_meta_free(m);
	ck_assert_uint_eq(sl_alloc_bytes(), before);
	free(p);
}
END_TEST

static int
fail_all(size_t size)
{
	(void)size;
	return 1;
}

START_TEST(test_unpack_out_of_memory)
{
	size_t len;
	uint8_t *p = encode(CLF_HELLO, 0, NULL, &len);
	struct clf_frame f;
	enum clf_err err;

	ck_assert_int_eq(clf_decode(p, len, CLF_LEN_MAX_DEFAULT, &f, &err), (int)len);
	sl_alloc_set_fail_hook(fail_all);
	ck_assert_ptr_null(clf_meta_unpack(&f, CLF_UNPACK_MAX_DEFAULT, &err));
	sl_alloc_set_fail_hook(NULL);
	ck_assert_int_eq(err, CLF_ERR_NOMEM);
	free(p);
}
END_TEST

/* Flipped bits anywhere: the decoder and the unpack may refuse but never read outside the
 * buffer (ASan) nor return views outside it. */
START_TEST(test_random_bit_flips)
{
	struct sl_bytes tail = sl_bytes_make(payload, sizeof(payload));
	int round;

	srand(14);
	for (round = 0; round < 4000; round++) {
		uint8_t type = (uint8_t)(1 + round % 8);
		size_t len, k, flips = 1 + (size_t)rand() % 4;
		uint8_t *p = encode(type, 0, type == CLF_FORWARD ? &tail : NULL, &len);
		struct clf_frame f;
		enum clf_err err;
		int rc;

		for (k = 0; k < flips; k++) {
			size_t bit = (size_t)rand() % (len * 8);
			p[bit / 8] ^= (uint8_t)(1u << bit % 8);
		}
		rc = clf_decode(p, len, 4096, &f, &err);
		if (rc > 0) {
			ck_assert_uint_le((size_t)rc, len);
			ck_assert_ptr_eq(f.meta.p, p + CLF_HDR_LEN);
			ck_assert_ptr_eq(f.tail.p + f.tail.len, p + rc);
			if (f.known) {
				ProtobufCMessage *m = clf_meta_unpack(&f, 1 << 20, &err);
				ck_assert((m == NULL) == (err != CLF_OK));
				clf_meta_free(m);
			}
		} else {
			ck_assert((rc < 0) == (err != CLF_OK));
		}
		free(p);
	}
}
END_TEST

Suite *
frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("frame");

	tcase_add_loop_test(tc, test_round_trip_each_type, CLF_HELLO, CLF_LEAVE + 1);
	tcase_add_test(tc, test_forward_empty_tail);
	tcase_add_test(tc, test_encode_head_leaves_tail_out);
	tcase_add_test(tc, test_split_byte_by_byte);
	tcase_add_loop_test(tc, test_every_truncation_needs_more, CLF_HELLO, CLF_LEAVE + 1);
	tcase_add_loop_test(tc, test_header_rules, 0, sizeof(hdr_cases) / sizeof(hdr_cases[0]));
	tcase_add_test(tc, test_unknown_ignorable_is_skipped);
	tcase_add_test(tc, test_bad_meta_refused);
	tcase_add_test(tc, test_unpack_allocation_capped);
	tcase_add_test(tc, test_unpack_out_of_memory);
	tcase_add_test(tc, test_random_bit_flips);
	suite_add_tcase(s, tc);
	return s;
}
