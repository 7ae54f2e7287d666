/* tests/unit/cluster/test_fwd_wire.c - the hand-coded Forward (cluster/fwd_wire.h) held to
 * protobuf-c: random Forwards pack to the same bytes as protobuf-c packs them, parse back from
 * protobuf-c's bytes to the same fields, and protobuf-c unpacks ours; unknown fields are
 * skipped; a known field with another wire type, a truncated field or a bad tag is refused,
 * and every prefix of a message parses or fails cleanly. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/frame.h"
#include "cluster/fwd_wire.h"

typedef Starling__Cluster__V1__Forward pb_fwd;

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A value at the default half the time, else something of 1..5 varint bytes. */
static uint64_t
rand_int(void)
{
	static const uint64_t caps[] = {1, 0x7f, 0x3fff, 0xffffffffu, ~0ull};

	return next() % 2 ? 0 : next() % caps[next() % 5] + 1;
}

static struct sl_bytes
rand_bytes(uint8_t *buf, size_t cap)
{
	size_t n = next() % 2 ? 0 : next() % cap;

	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)next();
	return sl_bytes_make(buf, (uint32_t)n);
}

struct sample {
	struct clw_fwd w;
	pb_fwd pb;
	Starling__Cluster__V1__SharedTarget st;
	uint8_t topic[200], sender[30], user[30], props[300], group[20], filter[40];
};

static ProtobufCBinaryData
pbb(struct sl_bytes b)
{
	return (ProtobufCBinaryData){b.len, (uint8_t *)b.p};
}

static void
fill(struct sample *s)
{
	struct clw_fwd *w = &s->w;

	memset(s, 0, sizeof(*s));
	w->seq = rand_int();
	w->topic = rand_bytes(s->topic, sizeof(s->topic));
	w->qos = (uint32_t)rand_int();
	w->retain = next() % 2;
	w->sender = rand_bytes(s->sender, sizeof(s->sender));
	w->sender_kind = (uint32_t)rand_int();
	w->sender_user = rand_bytes(s->user, sizeof(s->user));
	w->expiry_left = (uint32_t)rand_int();
	w->payload_format = (uint32_t)rand_int();
	w->props = rand_bytes(s->props, sizeof(s->props));
	w->shared = next() % 3 == 0;
	if (w->shared) {
		w->group = rand_bytes(s->group, sizeof(s->group));
		w->filter = rand_bytes(s->filter, sizeof(s->filter));
	}
	s->pb = (pb_fwd)STARLING__CLUSTER__V1__FORWARD__INIT;
	s->pb.seq = w->seq;
	s->pb.topic = pbb(w->topic);
	s->pb.qos = w->qos;
	s->pb.retain = w->retain;
	s->pb.sender = pbb(w->sender);
	s->pb.sender_kind = w->sender_kind;
	s->pb.sender_user = pbb(w->sender_user);
	s->pb.expiry_left = w->expiry_left;
	s->pb.payload_format = w->payload_format;
	s->pb.props = pbb(w->props);
	if (w->shared) {
		s->st = (Starling__Cluster__V1__SharedTarget)
		        STARLING__CLUSTER__V1__SHARED_TARGET__INIT;
		s->st.group = pbb(w->group);
		s->st.filter = pbb(w->filter);
		s->pb.shared = &s->st;
	}
}

static void
same_bytes(struct sl_bytes a, struct sl_bytes b)
{
	ck_assert_uint_eq(a.len, b.len);
	if (a.len > 0)
		ck_assert_mem_eq(a.p, b.p, a.len);
}

static void
same_fields(const struct clw_fwd *a, const struct clw_fwd *b)
{
	ck_assert_uint_eq(a->seq, b->seq);
	same_bytes(a->topic, b->topic);
	ck_assert_uint_eq(a->qos, b->qos);
	ck_assert_int_eq(a->retain, b->retain);
	same_bytes(a->sender, b->sender);
	ck_assert_uint_eq(a->sender_kind, b->sender_kind);
	same_bytes(a->sender_user, b->sender_user);
	ck_assert_uint_eq(a->expiry_left, b->expiry_left);
	ck_assert_uint_eq(a->payload_format, b->payload_format);
	same_bytes(a->props, b->props);
	ck_assert_int_eq(a->shared, b->shared);
	same_bytes(a->group, b->group);
	same_bytes(a->filter, b->filter);
}

START_TEST(test_same_bytes_as_protobuf_c) /* 20000 random Forwards */
{
	static struct sample s;

	for (int i = 0; i < 20000; i++) {
		size_t n, pn;
		uint8_t *ours, *theirs;
		struct clw_fwd back;
		pb_fwd *un;

		fill(&s);
		n = clw_fwd_size(&s.w);
		pn = protobuf_c_message_get_packed_size(&s.pb.base);
		ck_assert_uint_eq(n, pn);
		ours = malloc(n + 1);
		theirs = malloc(pn + 1);
		clw_fwd_pack(&s.w, ours);
		protobuf_c_message_pack(&s.pb.base, theirs);
		ck_assert_mem_eq(ours, theirs, n);
		/* protobuf-c's bytes parse to the same fields, and protobuf-c reads ours. */
		ck_assert_int_eq(clw_fwd_parse(sl_bytes_make(theirs, (uint32_t)pn), &back), 0);
		same_fields(&back, &s.w);
		un = starling__cluster__v1__forward__unpack(NULL, n, ours);
		ck_assert_ptr_nonnull(un);
		ck_assert_uint_eq(un->seq, s.w.seq);
		ck_assert_uint_eq(un->topic.len, s.w.topic.len);
		ck_assert_int_eq(un->shared != NULL, s.w.shared);
		starling__cluster__v1__forward__free_unpacked(un, NULL);
		free(ours);
		free(theirs);
	}
}
END_TEST

/* A whole frame from clw_fwd_encode() equals clf_encode() of the protobuf-c message. */
START_TEST(test_frame_as_clf_encode)
{
	static struct sample s;
	struct sl_buf a = SL_BUF_INIT, b = SL_BUF_INIT;
	struct sl_bytes tail = sl_bytes_make("payload", 7);

	for (int i = 0; i < 200; i++) {
		fill(&s);
		a.len = b.len = 0;
		ck_assert_int_eq(clw_fwd_encode(&a, &s.w, tail), 0);
		ck_assert_int_eq(clf_encode(&b, CLF_FORWARD, 0, &s.pb.base, &tail), 0);
		ck_assert_uint_eq(a.len, b.len);
		ck_assert_mem_eq(a.data, b.data, a.len);
	}
	sl_buf_fini(&a);
	sl_buf_fini(&b);
}
END_TEST

/* A later release's fields (numbers 12 and up, every wire type) are skipped. */
START_TEST(test_unknown_fields_skipped)
{
	/* seq=5, field 12 varint 300, field 13 64-bit, field 14 bytes "xy", field 15 32-bit,
	 * topic "t", field 11 (shared) with an unknown field 3 inside and group "g". */
	static const uint8_t m[] = {0x08, 5,    0x60, 0xac, 0x02, 0x69, 1,    2,    3,    4, 5,
	                            6,    7,    8,    0x72, 2,    'x',  'y',  0x7d, 1,    2, 3,
	                            4,    0x12, 1,    't',  0x5a, 5,    0x18, 1,    0x0a, 1, 'g'};
	struct clw_fwd f;

	ck_assert_int_eq(clw_fwd_parse(sl_bytes_make(m, sizeof(m)), &f), 0);
	ck_assert_uint_eq(f.seq, 5);
	ck_assert_uint_eq(f.topic.len, 1);
	ck_assert_int_eq(f.topic.p[0], 't');
	ck_assert(f.shared);
	ck_assert_uint_eq(f.group.len, 1);
	ck_assert_int_eq(f.group.p[0], 'g');
}
END_TEST

START_TEST(test_malformed_refused) /* loop: cases */
{
	static const struct {
		uint8_t len;
		uint8_t m[12];
	} cases[] = {
	        {2, {0x0a, 5}},      /* seq as bytes: wire type 2 on a varint */
	        {2, {0x10, 1}},      /* topic as a varint */
	        {3, {0x12, 5, 'a'}}, /* topic longer than what is left */
	        {1, {0x08}},         /* seq without its value */
	        {6, {0x80, 0x80, 0x80, 0x80, 0x80, 0x01}}, /* a tag of 6 bytes */
	        {2, {0x63, 1}},                            /* group start (wire type 3) */
	        {2, {0x66, 0}},                            /* wire type 6 */
	        {11,
	         {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	          0xff}},                /* 11-byte varint */
	        {4, {0x5a, 2, 0x08, 1}}, /* shared: group as a varint */
	        {3, {0x69, 1, 2}},       /* unknown 64-bit field cut short */
	};
	struct clw_fwd f;

	ck_assert_int_eq(clw_fwd_parse(sl_bytes_make(cases[_i].m, cases[_i].len), &f), -1);
}
END_TEST

/* Every prefix of a full message parses or is refused; none reads past its end (ASan). */
START_TEST(test_every_prefix)
{
	static struct sample s;

	for (int i = 0; i < 300; i++) {
		size_t n;
		uint8_t *m;

		fill(&s);
		n = clw_fwd_size(&s.w);
		m = malloc(n + 1);
		clw_fwd_pack(&s.w, m);
		for (size_t k = 0; k <= n; k++) {
			uint8_t *cut = malloc(k + 1); /* exactly k bytes for ASan to guard */
			struct clw_fwd f;
			memcpy(cut, m, k);
			(void)clw_fwd_parse(sl_bytes_make(cut, (uint32_t)k), &f);
			free(cut);
		}
		free(m);
	}
}
END_TEST

Suite *
fwd_wire_suite(void)
{
	Suite *s = suite_create("fwd_wire");
	TCase *tc = tcase_create("fwd_wire");

	tcase_add_test(tc, test_same_bytes_as_protobuf_c);
	tcase_add_test(tc, test_frame_as_clf_encode);
	tcase_add_test(tc, test_unknown_fields_skipped);
	tcase_add_loop_test(tc, test_malformed_refused, 0, 10);
	tcase_add_test(tc, test_every_prefix);
	suite_add_tcase(s, tc);
	return s;
}
