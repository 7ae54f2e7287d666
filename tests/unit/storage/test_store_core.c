/* Tests for storage/store.c and store_h.c: the core between the workers' handles and the
 * backends - barriers without a backend, detach with barriers outstanding, the backlog bound,
 * sessions loaded whole.
 * The embedded backend stands in as a real collaborator (file_fix.c). */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_fix.h"
#include "storage/store_image.h"

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

#define N_GATHER 300 /* sessions: the core's table of them grows a few times */

/* Session i: subscription "f/c<i>" (sub id i), i % 3 messages with payload c<i>, receive id
 * i + 1 when i is even, a will "w/c<i>" when i % 5 is 0. Written parts first, sessions in
 * turn, so no session's records lie together in the log. */
static void
write_gather(struct fix *f)
{
	char id[16], filter[24];

	for (unsigned i = 0; i < N_GATHER; i++) {
		snprintf(id, sizeof(id), "c%u", i);
		store_sess_put(f->h, &(struct store_sess){id, 5, 60, 0, NULL});
	}
	for (unsigned i = 0; i < N_GATHER; i++) {
		struct sl_msg *w;

		snprintf(id, sizeof(id), "c%u", i);
		snprintf(filter, sizeof(filter), "f/%s", id);
		store_sub_put(f->h, id, &(struct store_sub){filter, 1, i});
		for (uint64_t seq = 1; seq <= i % 3; seq++)
			fix_put_q(f->h, id, seq, id);
		if (i % 2 == 0)
			store_rx_put(f->h, id, (uint16_t)(i + 1));
		if (i % 5 != 0)
			continue;
		snprintf(filter, sizeof(filter), "w/%s", id);
		w = fix_msg(filter, "bye");
		store_will_put(f->h, id, w, 1000 + i);
		sl_msg_unref(w);
	}
}

struct gathered {
	unsigned n, stop_at;
	bool seen[N_GATHER];
};

/* Each image holds its own session's parts and no other's. */
static int
on_image(void *arg, const struct store_image *img)
{
	struct gathered *g = arg;
	char filter[24], will[24];
	unsigned i;

	ck_assert_int_eq(sscanf(img->sess.client_id, "c%u", &i), 1);
	ck_assert(i < N_GATHER && !g->seen[i]);
	g->seen[i] = true;
	snprintf(filter, sizeof(filter), "f/%s", img->sess.client_id);
	snprintf(will, sizeof(will), "w/%s", img->sess.client_id);
	ck_assert_uint_eq(img->n_subs, 1);
	ck_assert_str_eq(img->subs[0].filter, filter);
	ck_assert_uint_eq(img->subs[0].sub_id, i);
	ck_assert_uint_eq(img->n_q, i % 3);
	for (uint32_t k = 0; k < img->n_q; k++) {
		ck_assert_uint_eq(img->q[k].seq, k + 1);
		ck_assert_uint_eq(img->q[k].msg->payload.len, strlen(img->sess.client_id));
		ck_assert_mem_eq(img->q[k].msg->payload.p, img->sess.client_id,
		                 img->q[k].msg->payload.len);
	}
	ck_assert_uint_eq(img->n_rx, i % 2 == 0);
	if (img->n_rx == 1)
		ck_assert_uint_eq(img->rx[0], i + 1);
	ck_assert_int_eq(img->will != NULL, i % 5 == 0);
	if (img->will != NULL) {
		ck_assert_uint_eq(img->will_at, 1000 + i);
		ck_assert_mem_eq(img->will->topic.p, will, strlen(will));
	}
	return ++g->n == g->stop_at ? 7 : 0;
}

/* store_load gathers what the backend reports part by part (every session's record before any
 * part) into one image per session; a visitor's non-zero return stops it and is returned. */
START_TEST(test_load_gathers_whole_sessions)
{
	struct store_visitor v = {.image = on_image};
	struct gathered g = {.n = 0};
	struct store_conf cf;
	struct store *st;
	char *err = NULL;
	struct fix f;

	fix_init(&f);
	cf = fix_conf(&f, STORE_SYNC_NONE);
	fix_in_child(&f, &cf, write_gather, false);
	st = store_open(&cf, &err);
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(store_load(st, &v, &g), 0);
	ck_assert_uint_eq(g.n, N_GATHER);
	store_close(st);
	memset(&g, 0, sizeof(g));
	g.stop_at = 10;
	st = store_open(&cf, &err);
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(store_load(st, &v, &g), 7); /* the images not reported are freed */
	ck_assert_uint_eq(g.n, 10);
	store_close(st);
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
	tcase_add_test(tc, test_load_gathers_whole_sessions);
	suite_add_tcase(s, tc);
	return s;
}
