/* tests/unit/storage/test_store_codec.c - the one message encoding of every backend: a round
 * trip keeps everything, the publisher's user name included (check_retain_source, issue 11),
 * and a record of the first version, without it, still reads. */
#include <check.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "storage/store_codec.h"

static struct sl_bytes
bv(const char *s)
{
	return sl_bytes_make(s, (uint32_t)strlen(s));
}

static struct sl_msg *
round_trip(const struct sl_msg *m)
{
	struct sl_buf b = SL_BUF_INIT;
	struct sl_msg *out;
	size_t used;

	ck_assert_int_eq(store_msg_encode(&b, m), 0);
	out = store_msg_decode(b.data, b.len, &used);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(used, b.len);
	sl_buf_fini(&b);
	return out;
}

START_TEST(test_sender_user_round_trip_issue_11)
{
	struct sl_bytes user = bv("alice");
	struct sl_msg *m = sl_msg_new_from(bv("t/1"), bv(""), bv("p"), bv("cid"), &user, 1, true);
	struct sl_msg *anon = sl_msg_new_from(bv("t/2"), bv(""), bv("q"), bv("c2"), NULL, 0, false);
	struct sl_msg *sys = sl_msg_new(bv("$SYS/x"), bv(""), bv("1"), bv(""), 0, true);
	struct sl_msg *got;

	got = round_trip(m);
	ck_assert_uint_eq(got->sender_kind, SL_SENDER_USER);
	ck_assert_uint_eq(got->sender_user.len, 5);
	ck_assert_mem_eq(got->sender_user.p, "alice", 5);
	ck_assert_mem_eq(got->sender.p, "cid", 3);
	ck_assert(got->retain);
	sl_msg_unref(got);
	got = round_trip(anon);
	ck_assert_uint_eq(got->sender_kind, SL_SENDER_ANON);
	sl_msg_unref(got);
	got = round_trip(sys);
	ck_assert_uint_eq(got->sender_kind, SL_SENDER_UNKNOWN);
	sl_msg_unref(got);
	sl_msg_unref(m);
	sl_msg_unref(anon);
	sl_msg_unref(sys);
}
END_TEST

/* A version 1 record (stores written before the sender's user name was kept). */
START_TEST(test_version_1_still_reads)
{
	static const uint8_t v1[] = {1, 1 | 4, 0, 0, 0,   0,   0,
	                             0, 0,     0,                   /* ver, qos 1 retain, expiry */
	                             3, 0,     0, 0, 'a', '/', 'b', /* topic */
	                             0, 0,     0, 0,                /* props */
	                             2, 0,     0, 0, 'h', 'i',      /* payload */
	                             1, 0,     0, 0, 'c'};          /* sender */
	struct sl_msg *m;
	size_t used;

	m = store_msg_decode(v1, sizeof(v1), &used);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(used, sizeof(v1));
	ck_assert_uint_eq(m->sender_kind, SL_SENDER_UNKNOWN);
	ck_assert_mem_eq(m->payload.p, "hi", 2);
	sl_msg_unref(m);
	ck_assert_ptr_null(store_msg_decode(v1, sizeof(v1) - 1, &used));
}
END_TEST

Suite *
store_codec_suite(void)
{
	Suite *s = suite_create("store_codec");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_sender_user_round_trip_issue_11);
	tcase_add_test(tc, test_version_1_still_reads);
	suite_add_tcase(s, tc);
	return s;
}
