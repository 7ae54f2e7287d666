/* Tests for storage/store.c and store_h.c: the core between the workers' handles and the
 * backends - barriers without a backend, detach with barriers outstanding, the backlog bound.
 * The embedded backend stands in as a real collaborator (file_fix.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "file_fix.h"

struct calls {
	int n, status[8];
};

static void
on_done(void *arg, int status)
{
	struct calls *c = arg;

	ck_assert_int_lt(c->n, 8);
	c->status[c->n++] = status;
}

START_TEST(test_barrier_without_backend)
{
	struct store_conf cf = {.dir = NULL};
	struct calls c = {0};
	struct store_stats ss;
	struct store_h *h;
	struct store *st;
	struct sl_msg *m = fix_msg("t", "x");
	struct store_q q = {.seq = 1, .msg = m};
	char *err = NULL;
	uv_loop_t loop;

	st = store_open(&cf, &err);
	ck_assert_ptr_nonnull(st);
	ck_assert(!store_durable(st));
	ck_assert(store_ok(st));
	ck_assert_int_eq(store_load(st, &fix_visitor, NULL), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	h = store_attach(st, &loop);
	store_q_put(h, "c1", &q); /* nothing keeps it: dropped, not leaked */
	store_retain_put(h, m);
	ck_assert_int_eq(store_barrier(h, on_done, &c), 0);
	ck_assert_int_eq(c.n, 0); /* never from inside store_barrier: on the loop */
	uv_run(&loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(c.n, 1);
	ck_assert_int_eq(c.status[0], 0);
	store_stats(st, &ss);
	ck_assert_uint_eq(ss.writes, 0);
	ck_assert_uint_eq(ss.pending, 0);
	store_detach(h);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	store_close(st);
	sl_msg_unref(m);
}
END_TEST

/* A backend that holds writes for a minute (group commit), so barriers stay outstanding. */
static struct store_conf
slow_conf(const struct fix *f)
{
	struct store_conf cf = fix_conf(f, STORE_SYNC_BATCH);

	cf.batch_ms = 60000;
	return cf;
}

START_TEST(test_detach_cancels_outstanding_barriers)
{
	struct store_sess c1 = {"c1", 5, 100, 0, NULL};
	struct calls c = {0};
	struct store_conf cf;
	struct fix f;

	fix_init(&f);
	cf = slow_conf(&f);
	fix_open(&f, &cf, NULL);
	store_sess_put(f.h, &c1);
	for (uint64_t i = 1; i <= 3; i++) {
		fix_put_q(f.h, "c1", i, "x");
		ck_assert_int_eq(store_barrier(f.h, on_done, &c), 0);
	}
	uv_run(&f.loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(c.n, 0);
	store_detach(f.h); /* the callbacks run now; the backend frees its parts at stop */
	ck_assert_int_eq(c.n, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(c.status[i], -ECANCELED);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&f.loop), 0);
	store_close(f.st); /* the final snapshot makes the writes durable after all */
	ck_assert_int_eq(c.n, 3);
	ck_assert_uint_eq(fix_reload_count(&cf), 3);
	fix_rm_rf(f.tmp);
}
END_TEST

static void
on_counted(void *arg, int status)
{
	int *n = arg;

	ck_assert(status == 0 || status == -ECANCELED);
	(*n)++;
}

/* Detach races the backend completing the same barriers (ASan: no use after free). */
START_TEST(test_detach_races_completion)
{
	struct store_conf cf;
	struct fix f;
	int n = 0;

	fix_init(&f);
	cf = fix_conf(&f, STORE_SYNC_NONE);
	fix_open(&f, &cf, NULL);
	store_detach(f.h);
	for (int round = 0; round < 300; round++) {
		f.h = store_attach(f.st, &f.loop);
		for (uint64_t i = 1; i <= 20; i++) {
			fix_put_q(f.h, "c1", i, "x");
			ck_assert_int_eq(store_barrier(f.h, on_counted, &n), 0);
		}
		for (volatile int spin = 0; spin < round * 50; spin++)
			;
		store_detach(f.h);
		uv_run(&f.loop, UV_RUN_DEFAULT);
	}
	ck_assert_int_eq(n, 300 * 20);
	ck_assert_int_eq(uv_loop_close(&f.loop), 0);
	store_close(f.st);
	fix_rm_rf(f.tmp);
}
END_TEST

START_TEST(test_backlog_bound)
{
	struct store_stats ss;
	struct store_sess c1 = {"c1", 5, 100, 0, NULL};
	struct calls c = {0};
	struct store_conf cf;
	struct fix f;

	fix_init(&f);
	cf = slow_conf(&f);
	cf.max_pending = 10;
	fix_open(&f, &cf, NULL);
	ck_assert(store_ok(f.st));
	store_sess_put(f.h, &c1);
	for (uint64_t i = 1; i <= 19; i++)
		fix_put_q(f.h, "c1", i, "x");
	store_stats(f.st, &ss);
	ck_assert_uint_eq(ss.writes, 20);
	ck_assert_uint_eq(ss.failed, 10); /* over the bound: lost at once, visibly */
	ck_assert_uint_eq(ss.pending, 10);
	ck_assert(!store_ok(f.st)); /* no new persistent sessions meanwhile */
	ck_assert_int_eq(store_barrier(f.h, on_done, &c), 0);
	while (c.n == 0)
		uv_run(&f.loop, UV_RUN_ONCE);
	ck_assert_int_eq(c.status[0], -ENOSPC);
	fix_close(&f);
	ck_assert_uint_eq(fix_reload_count(&cf), 9); /* and the session */
	fix_rm_rf(f.tmp);
}
END_TEST

/* Durable QoS 1 issue: the broker holds publishers by the store's backlog, which counts the
 * writes a handle has handed over (at the end of its loop turn or at a barrier); the stats
 * count them as they are made. */
START_TEST(test_backlog_pct)
{
	struct store_sess c1 = {"c1", 5, 100, 0, NULL};
	struct calls c = {0};
	struct store_stats ss;
	struct store_conf cf;
	struct fix f;

	fix_init(&f);
	cf = slow_conf(&f);
	cf.max_pending = 20;
	fix_open(&f, &cf, NULL);
	ck_assert_uint_eq(store_backlog_pct(f.st), 0);
	store_sess_put(f.h, &c1);
	for (uint64_t i = 1; i <= 4; i++)
		fix_put_q(f.h, "c1", i, "x");
	store_stats(f.st, &ss);
	ck_assert_uint_eq(ss.pending, 5);
	ck_assert_uint_eq(store_backlog_pct(f.st), 0); /* not handed over yet */
	ck_assert_int_eq(store_barrier(f.h, on_done, &c), 0);
	ck_assert_uint_eq(store_backlog_pct(f.st), 30); /* with the barrier: 6 of 20 */
	fix_close(&f);
	ck_assert_int_eq(c.n, 1);
	ck_assert_uint_eq(fix_reload_count(&cf), 4);
	fix_rm_rf(f.tmp);
}
END_TEST

Suite *
store_core_suite(void)
{
	Suite *s = suite_create("store_core");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_barrier_without_backend);
	tcase_add_test(tc, test_detach_cancels_outstanding_barriers);
	tcase_add_test(tc, test_detach_races_completion);
	tcase_add_test(tc, test_backlog_bound);
	tcase_add_test(tc, test_backlog_pct);
	suite_add_tcase(s, tc);
	return s;
}
