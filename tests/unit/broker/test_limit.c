/* Tests for broker/limit.c: topic depth, the memory levels against memory_limit, and the
 * publish token buckets (charge, debt, refill). Resuming a paused connection and everything
 * seen by clients are tested in tests/integration/test_protection.py. */
#include <check.h>
#include <string.h>
#include <uv.h>

#include "broker/conf/conf.h"
#include "broker/core/broker.h"
#include "broker/core/conn.h"
#include "broker/core/limit.h"
#include "broker/core/worker.h"
#include "proto/base/sl_alloc.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

struct depth_case {
	const char *topic;
	uint16_t max;
	bool deep;
};

static const struct depth_case depth_cases[] = {
        {"a/b/c/d/e/f/g/h", 0, false}, /* 0: no limit */
        {"a/b/c", 3, false},
        {"a/b/c/d", 3, true},
        {"", 1, false},     /* one empty level */
        {"/", 1, true},     /* two empty levels */
        {"a//b/", 3, true}, /* four levels, two of them empty */
        {"+/+/#", 3, false},
        {"sport/tennis/#", 2, true},
};

START_TEST(test_topic_depth) /* cases: no limit, at, over, empty levels, wildcards */
{
	const struct depth_case *dc = &depth_cases[_i];
	struct broker b;
	struct conf cf;
	struct worker w;

	memset(&w, 0, sizeof(w));
	memset(&b, 0, sizeof(b));
	memset(&cf, 0, sizeof(cf));
	cf.max_topic_levels = dc->max;
	atomic_init(&b.conf, &cf);
	w.b = &b;
	ck_assert_msg(
	        limit_topic_too_deep(&w, sl_bytes_make(dc->topic, (uint32_t)strlen(dc->topic))) ==
	                dc->deep,
	        "'%s' with max %u", dc->topic, dc->max);
}
END_TEST

START_TEST(test_memory_levels) /* off, below, above, above 1.25 x */
{
	void *hold = sl_malloc(1 << 20); /* the heap counter is well above 0 */
	struct broker b;
	struct conf cf;
	struct worker w;
	uint64_t used;

	ck_assert_ptr_nonnull(hold);
	memset(&w, 0, sizeof(w));
	memset(&b, 0, sizeof(b));
	memset(&cf, 0, sizeof(cf));
	atomic_init(&b.conf, &cf);
	w.b = &b;
	used = sl_alloc_bytes();
	ck_assert_int_eq(limit_mem_level(&w), 0);
	cf.memory_limit = used * 2;
	ck_assert_int_eq(limit_mem_level(&w), 0);
	cf.memory_limit = used - used / 10;
	ck_assert_int_eq(limit_mem_level(&w), 1);
	cf.memory_limit = used / 2;
	ck_assert_int_eq(limit_mem_level(&w), 2);
	cf.memory_limit = 1;
	ck_assert_int_eq(limit_mem_level(&w), 2);
	sl_free(hold);
}
END_TEST

/* A connection on a loop, not connected: enough for the buckets and uv_read_stop(). */
struct fix {
	uv_loop_t loop;
	struct conf cf;
	struct broker b;
	struct worker w;
	struct conn c;
};

static void
fix_init(struct fix *f)
{
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	f->w.loop = &f->loop;
	atomic_init(&f->b.conf, &f->cf);
	f->w.b = &f->b;
	f->c.w = &f->w;
	f->c.connected = true;
	ck_assert_int_eq(uv_tcp_init(&f->loop, &f->c.tcp), 0);
}

static void
fix_fini(struct fix *f)
{
	sl_free(f->c.ext); /* conn.c frees it with the connection */
	uv_close((uv_handle_t *)&f->c.tcp, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

static void
publish(struct fix *f, uint32_t payload_len)
{
	static uint8_t payload[4096];
	struct mqtt_publish p;

	memset(&p, 0, sizeof(p));
	p.topic = sl_bytes_make("t", 1);
	p.payload = sl_bytes_make(payload, payload_len);
	limit_publish_charge(&f->c, &p);
}

START_TEST(test_message_bucket) /* burst, debt, partial refill, still paused */
{
	struct fix f;
	int i;

	fix_init(&f);
	f.cf.max_publish_rate = 5; /* burst 0: one second's worth, 5 */
	for (i = 0; i < 5; i++)
		publish(&f, 10);
	ck_assert(!f.c.paused);
	ck_assert_int_eq(f.c.ext->tb_msgs, 0);
	publish(&f, 10); /* the sixth runs into debt: handled, reading paused */
	ck_assert(f.c.paused);
	ck_assert_int_eq(f.c.ext->tb_msgs, -1000);
	ck_assert_uint_eq(f.w.st.pub_throttled, 1);
	limit_conn_tick(&f.c, f.c.ext->tb_ms + 100); /* 5/s for 0.1 s: half a token */
	ck_assert(f.c.paused);
	ck_assert_int_eq(f.c.ext->tb_msgs, -500);
	ck_assert_int_eq(f.c.ext->tb_bytes, 0); /* no byte limit: never in debt */
	fix_fini(&f);
}
END_TEST

START_TEST(test_byte_bucket) /* topic + payload charged; burst caps the refill */
{
	struct fix f;

	fix_init(&f);
	f.cf.max_publish_bytes_rate = 1000;
	f.cf.max_publish_bytes_burst = 2000;
	publish(&f, 1499); /* 1 + 1499 bytes of 2000 */
	ck_assert(!f.c.paused);
	ck_assert_int_eq(f.c.ext->tb_bytes, 500 * 1000);
	publish(&f, 999);
	ck_assert(f.c.paused);
	ck_assert_int_eq(f.c.ext->tb_bytes, -500 * 1000);
	limit_conn_tick(&f.c, f.c.ext->tb_ms + 400);
	ck_assert_int_eq(f.c.ext->tb_bytes, -100 * 1000);
	f.c.closing = true; /* a closing connection is left alone */
	limit_conn_tick(&f.c, f.c.ext->tb_ms + 100000);
	ck_assert_int_eq(f.c.ext->tb_bytes, -100 * 1000);
	fix_fini(&f);
}
END_TEST

START_TEST(test_no_rate_no_charge)
{
	struct fix f;

	fix_init(&f);
	publish(&f, 4000);
	ck_assert(!f.c.paused);
	ck_assert_ptr_null(f.c.ext); /* no buckets made */
	fix_fini(&f);
}
END_TEST

static int
fail_all(size_t size)
{
	(void)size;
	return 1;
}

/* The buckets live in the connection's x, made at the first charge: without memory for it the
 * publisher is paused as if in debt, and stays paused while there is still none. */
START_TEST(test_no_memory_for_buckets)
{
	struct fix f;

	fix_init(&f);
	f.cf.max_publish_rate = 5;
	sl_alloc_set_fail_hook(fail_all);
	publish(&f, 10); /* handled, then reading paused */
	ck_assert(f.c.paused);
	ck_assert_uint_eq(f.w.st.pub_throttled, 1);
	publish(&f, 10); /* already paused: counted once */
	limit_conn_tick(&f.c, 1000);
	sl_alloc_set_fail_hook(NULL);
	ck_assert(f.c.paused);
	ck_assert_ptr_null(f.c.ext);
	ck_assert_uint_eq(f.w.st.pub_throttled, 1);
	fix_fini(&f);
}
END_TEST

Suite *
limit_suite(void)
{
	Suite *s = suite_create("limit");
	TCase *tc = tcase_create("limit");

	tcase_add_loop_test(tc, test_topic_depth, 0, N(depth_cases));
	tcase_add_test(tc, test_memory_levels);
	tcase_add_test(tc, test_message_bucket);
	tcase_add_test(tc, test_byte_bucket);
	tcase_add_test(tc, test_no_rate_no_charge);
	tcase_add_test(tc, test_no_memory_for_buckets);
	suite_add_tcase(s, tc);
	return s;
}
