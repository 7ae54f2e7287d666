/* tests/unit/storage/test_store_pg.c - the PostgreSQL session store against a real server
 * (pg_fix.h: each test starts its own), every test with a pool of one connection and of three.
 * The pool's own behaviour is test_store_pg_pool.c. Without PostgreSQL 15's binaries the suite
 * runs one test that says so. */
#include <check.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "pg_fix.h"
#include "proto/base/sl_msg.h"
#include "storage/store.h"

/* One of each record kind, with overwrites and deletes, through close and reopen. */
static void
write_everything(struct store_h *h)
{
	struct sl_msg *m = pg_fix_msg("t/1", "hello"), *w = pg_fix_msg("will/c1", "bye");
	struct store_q q2 = {.seq = 2,
	                     .pid = 10,
	                     .qos = 2,
	                     .state = STORE_Q_SENT,
	                     .retain = true,
	                     .n_sub_ids = 2,
	                     .sub_ids = {7, 9},
	                     .msg = m};

	store_sess_put(h, &(struct store_sess){"c1", 5, 3600, 0, NULL});
	store_sub_put(h, "c1", &(struct store_sub){"a/+", 0x15, 7});
	store_sub_put(h, "c1", &(struct store_sub){"$share/g/b", 1, 0});
	store_sub_put(h, "c1", &(struct store_sub){"gone", 1, 0});
	store_sub_del(h, "c1", "gone");
	pg_fix_q_put(h, "c1", 1, 0, STORE_Q_QUEUED, m);
	store_q_put(h, "c1", &q2);
	store_q_state(h, "c1", 2, STORE_Q_REL, 11);
	pg_fix_q_put(h, "c1", 3, 0, STORE_Q_QUEUED, m);
	store_q_del(h, "c1", 3);
	store_rx_put(h, "c1", 5);
	store_rx_put(h, "c1", 6);
	store_rx_del(h, "c1", 6);
	store_will_put(h, "c1", w, 12345);
	store_sess_put(h, &(struct store_sess){"c2", 4, UINT32_MAX, 1700000000000ull, NULL});
	store_will_put(h, "c2", w, 1);
	store_will_del(h, "c2");
	store_sub_put(h, "c2", &(struct store_sub){"x", 0, 0});
	store_sess_put(h, &(struct store_sess){"c3", 4, 10, 0, NULL});
	store_sub_put(h, "c3", &(struct store_sub){"y", 0, 0});
	pg_fix_q_put(h, "c3", 1, 0, STORE_Q_QUEUED, m);
	store_rx_put(h, "c3", 1);
	store_will_put(h, "c3", w, 1);
	store_sess_del(h, "c3");
	store_sess_put(h, &(struct store_sess){"c1", 5, 3600, 99, "alice"}); /* upsert */
	sl_msg_unref(m);
	sl_msg_unref(w);
}

static const char round_trip_want[] =
        "sess c1 v5 e3600 x99 ualice\n"
        "sub c1 $share/g/b o1 i0\n"
        "sub c1 a/+ o21 i7\n"
        "q c1 1 pid0 q1 s0 r0 ids [t/1|hello|pub|p4 q1 r0 f1 x1700000000123]\n"
        "q c1 2 pid11 q2 s2 r1 ids,7,9 [t/1|hello|pub|p4 q1 r0 f1 x1700000000123]\n"
        "rx c1 5\n"
        "will c1 12345 [will/c1|bye|pub|p4 q1 r0 f1 x1700000000123]\n"
        "sess c2 v4 e4294967295 x1700000000000\n"
        "sub c2 x o0 i0\n";

START_TEST(test_round_trip_every_record)
{
	struct store *st = pg_fix_open("n1");
	struct pg_fix_rec r = {.len = 0};
	uv_loop_t loop;
	struct store_h *h;

	ck_assert_int_eq(store_load(st, &pg_fix_recorder, &r), 0);
	ck_assert_int_eq(r.n, 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	h = store_attach(st, &loop);
	ck_assert_ptr_nonnull(h);
	ck_assert(store_durable(st));
	write_everything(h);
	ck_assert_int_eq(pg_fix_barrier(&loop, h), 0);
	pg_fix_close(&loop, h, st);

	pg_fix_load("n1", &r);
	ck_assert_str_eq(r.buf, round_trip_want);
	pg_fix_load("n2", &r); /* another node's sessions are not ours */
	ck_assert_int_eq(r.n, 0);
}
END_TEST

struct peek {
	uv_loop_t *loop;
	int done, status;
	long rows;
};

/* Reads the row back on a connection of its own, from inside the barrier's callback. */
static void
on_barrier_peek(void *arg, int status)
{
	struct peek *p = arg;

	p->status = status;
	p->rows = pg_fix_count("SELECT count(*) FROM messages WHERE node = 'starling'"
	                       " AND client_id = 'c1' AND seq BETWEEN 1 AND 50");
	p->done = 1;
}

START_TEST(test_barrier_done_after_commit)
{
	/* node_name NULL: "starling" */
	struct store_conf cf = {.pg_dsn = pg_fix_dsn(), .pg_pool = pg_fix_pool()};
	char *err = NULL;
	struct store *st = store_open(&cf, &err);
	struct sl_msg *m = pg_fix_msg("t", "p");
	struct peek p = {.done = 0};
	uv_loop_t loop;
	struct store_h *h;

	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(store_load(st, &pg_fix_recorder, &(struct pg_fix_rec){.len = 0}), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	h = store_attach(st, &loop);
	for (uint64_t seq = 1; seq <= 50; seq++)
		pg_fix_q_put(h, "c1", seq, 0, STORE_Q_QUEUED, m);
	ck_assert(store_h_dirty(h));
	ck_assert_int_eq(store_barrier(h, on_barrier_peek, &p), 0);
	ck_assert(!store_h_dirty(h));
	while (!p.done)
		uv_run(&loop, UV_RUN_ONCE);
	ck_assert_int_eq(p.status, 0);
	ck_assert_int_eq(p.rows, 50);
	sl_msg_unref(m);
	pg_fix_close(&loop, h, st);
}
END_TEST

/* Writes ten messages (deleting every other one in the next round) with a barrier each per
 * tick; kills the server after 1000 and starts it again 400 ms later. */
struct chaos {
	struct store *st;
	struct store_h *h;
	struct sl_msg *m;
	uv_timer_t tick;
	uint64_t issued, total, done, failed;
	uint64_t killed_at;
	bool killed, restarted, saw_down;
	int status[3001];
};

struct chaos_bar {
	struct chaos *c;
	uint64_t seq;
};

static void
on_chaos_barrier(void *arg, int status)
{
	struct chaos_bar *b = arg;

	b->c->status[b->seq] = status;
	b->c->done++;
	b->c->failed += status != 0;
	free(b);
}

static void
on_tick(uv_timer_t *t)
{
	struct chaos *c = t->data;
	struct chaos_bar *b;

	if (!store_ok(c->st))
		c->saw_down = true;
	if (c->issued >= 1000 && !c->killed) {
		ck_assert_int_eq(pg_fix_ctl("kill"), 0);
		c->killed = true;
		c->killed_at = uv_now(t->loop);
	}
	if (c->killed && !c->restarted && uv_now(t->loop) - c->killed_at >= 400) {
		ck_assert_msg(c->saw_down, "store_ok() still true 400 ms after the kill");
		ck_assert_int_eq(pg_fix_ctl("start"), 0);
		c->restarted = true;
	}
	for (int n = 0; n < 10 && c->issued < c->total; n++) {
		b = malloc(sizeof(*b));
		ck_assert_ptr_nonnull(b);
		b->c = c;
		b->seq = ++c->issued;
		pg_fix_q_put(c->h, "c1", b->seq, 0, STORE_Q_QUEUED, c->m);
		if (b->seq % 2 == 0) /* a replay after reconnect must not bring it back */
			store_q_del(c->h, "c1", b->seq - 1);
		ck_assert_int_eq(store_barrier(c->h, on_chaos_barrier, b), 0);
	}
	if (c->issued == c->total && c->restarted)
		uv_timer_stop(t);
}

START_TEST(test_kill9_restart_under_writes)
{
	struct chaos c = {.total = 3000};
	struct store_stats stats;
	struct pg_fix_rec r;
	uv_loop_t loop;
	char dsn[160];

	/* Two addresses, the first refusing: every connect moves libpq to a second socket. */
	snprintf(dsn, sizeof(dsn),
	         "host=127.0.0.1,127.0.0.1 port=%d,%d dbname=starling user=postgres",
	         pg_fix_free_port(), pg_fix_port());
	c.st = pg_fix_open_dsn(dsn, "n1");
	ck_assert_int_eq(store_load(c.st, &pg_fix_recorder, &(struct pg_fix_rec){.len = 0}), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	c.h = store_attach(c.st, &loop);
	c.m = pg_fix_msg("t", "p");
	store_sess_put(c.h, &(struct store_sess){"c1", 5, 60, 0, NULL});
	uv_timer_init(&loop, &c.tick);
	c.tick.data = &c;
	uv_timer_start(&c.tick, on_tick, 2, 2);
	while (c.done < c.total)
		uv_run(&loop, UV_RUN_ONCE);
	ck_assert(c.restarted);
	ck_assert(c.saw_down);
	ck_assert(store_ok(c.st));
	store_stats(c.st, &stats);
	ck_assert_uint_ge(stats.reconnects, 1);
	ck_assert(stats.sessions_up);
	/* The outage was short and the backlog small: every write was kept and resent. */
	ck_assert_uint_eq(c.failed, 0);
	ck_assert_uint_eq(stats.failed, 0);
	uv_close((uv_handle_t *)&c.tick, NULL);
	sl_msg_unref(c.m);
	pg_fix_close(&loop, c.h, c.st);

	pg_fix_load("n1", &r);
	for (uint64_t seq = 1; seq <= c.total; seq++) {
		char want[32];

		snprintf(want, sizeof(want), "q c1 %llu ", (unsigned long long)seq);
		if (seq % 2 == 1)
			ck_assert_msg(strstr(r.buf, want) == NULL, "seq %llu deleted, then back",
			              (unsigned long long)seq);
		else if (c.status[seq] == 0)
			ck_assert_msg(strstr(r.buf, want) != NULL, "seq %llu acked, then lost",
			              (unsigned long long)seq);
	}
}
END_TEST

static void *
open_close_thread(void *arg)
{
	struct store_conf cf = {.pg_dsn = pg_fix_dsn(), .pg_pool = pg_fix_pool()};
	char *err = NULL;
	struct store *st = store_open(&cf, &err);

	(void)arg;
	if (st == NULL)
		return err != NULL ? err : strdup("?");
	store_close(st);
	return NULL;
}

START_TEST(test_migrations_idempotent_and_concurrent)
{
	pthread_t t[4];
	void *err;

	for (int i = 0; i < 4; i++) /* fresh database: all four race to create the schema */
		ck_assert_int_eq(pthread_create(&t[i], NULL, open_close_thread, NULL), 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], &err), 0);
		ck_assert_msg(err == NULL, "open: %s", (char *)err);
	}
	ck_assert_ptr_null(open_close_thread(NULL)); /* and once more, alone */
	ck_assert_int_eq(pg_fix_count("SELECT count(*) FROM schema_version"),
	                 pg_fix_count("SELECT max(version) FROM schema_version"));
	ck_assert_int_ge(pg_fix_count("SELECT count(*) FROM schema_version"), 1);
}
END_TEST

/* In a UTF8 database an invalid client id fails its own write only (SQLSTATE 22021). */
START_TEST(test_rejected_write_fails_alone)
{
	struct store *st = pg_fix_open("n1");
	struct pg_fix_rec r;
	uv_loop_t loop;
	struct store_h *h;

	ck_assert_int_eq(store_load(st, &pg_fix_recorder, &(struct pg_fix_rec){.len = 0}), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	h = store_attach(st, &loop);
	store_sess_put(h, &(struct store_sess){"ok1", 5, 1, 0, NULL});
	store_sess_put(h, &(struct store_sess){"bad\xff", 5, 1, 0, NULL});
	store_sess_put(h, &(struct store_sess){"ok2", 5, 1, 0, NULL});
	ck_assert_int_eq(pg_fix_barrier(&loop, h), -EIO);
	store_sess_put(h, &(struct store_sess){"ok3", 5, 1, 0, NULL});
	ck_assert_int_eq(pg_fix_barrier(&loop, h), 0);
	pg_fix_close(&loop, h, st);
	pg_fix_load("n1", &r);
	ck_assert_str_eq(r.buf, "sess ok1 v5 e1 x0\nsess ok2 v5 e1 x0\nsess ok3 v5 e1 x0\n");
}
END_TEST

START_TEST(test_close_while_down_is_bounded)
{
	struct store *st = pg_fix_open("n1");
	struct sl_msg *m = pg_fix_msg("t", "p");
	struct pg_fix_waiter w = {0, 0};
	uint64_t t0;
	uv_loop_t loop;
	struct store_h *h;

	ck_assert_int_eq(store_load(st, &pg_fix_recorder, &(struct pg_fix_rec){.len = 0}), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	h = store_attach(st, &loop);
	ck_assert_int_eq(pg_fix_ctl("kill"), 0);
	pg_fix_q_put(h, "c1", 1, 0, STORE_Q_QUEUED, m);
	ck_assert_int_eq(store_barrier(h, pg_fix_on_barrier, &w), 0);
	for (int i = 0; i < 300 && store_ok(st); i++)
		usleep(10000);
	ck_assert(!store_ok(st));
	ck_assert_int_eq(w.done, 0);
	store_detach(h); /* the barrier is cancelled now */
	ck_assert_int_eq(w.done, 1);
	ck_assert_int_eq(w.status, -ECANCELED);
	uv_run(&loop, UV_RUN_DEFAULT);
	t0 = uv_hrtime();
	store_close(st); /* flushes for up to 2 s, then gives up */
	ck_assert_uint_lt((uv_hrtime() - t0) / 1000000u, 4000);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	sl_msg_unref(m);
}
END_TEST

START_TEST(test_open_fails_unreachable_or_malformed)
{
	char dsn[128], *err = NULL;
	struct store_conf cf = {.pg_dsn = dsn};
	uint64_t t0 = uv_hrtime(), ms;

	snprintf(dsn, sizeof(dsn), "host=127.0.0.1 port=%d dbname=starling", pg_fix_free_port());
	ck_assert_ptr_null(store_open(&cf, &err));
	ms = (uv_hrtime() - t0) / 1000000u;
	ck_assert_msg(err != NULL && strstr(err, "unreachable") != NULL, "err %s", err);
	ck_assert_uint_ge(ms, 4000); /* it retried for a while */
	free(err);
	err = NULL;
	cf.pg_dsn = "host=127.0.0.1 nonsense";
	t0 = uv_hrtime();
	ck_assert_ptr_null(store_open(&cf, &err));
	ck_assert_uint_lt((uv_hrtime() - t0) / 1000000u, 1000);
	ck_assert_msg(err != NULL && strstr(err, "postgres_dsn") != NULL, "err %s", err);
	free(err);
	err = NULL;
	cf.pg_dsn = dsn;
	cf.pg_pool = 65;
	ck_assert_ptr_null(store_open(&cf, &err));
	ck_assert_msg(err != NULL && strstr(err, "postgres_pool") != NULL, "err %s", err);
	free(err);
}
END_TEST

struct bench {
	int outstanding, failed;
};

static void
on_bench_barrier(void *arg, int status)
{
	struct bench *b = arg;

	b->outstanding--;
	b->failed += status != 0;
}

/* Runs rounds of Q_PUT + Q_DEL + barrier, at most window barriers outstanding, and prints the
 * rates: never asserts one. */
static void
bench(struct store *st, uv_loop_t *loop, struct store_h *h, uint64_t rounds, int window)
{
	struct sl_msg *m =
	        pg_fix_msg("bench/topic", "a payload of some sixty bytes, as telemetry often is..");
	struct bench b = {0, 0};
	struct store_stats s0, s1;
	uint64_t i = 0, t0 = uv_hrtime();
	double s;

	store_stats(st, &s0);
	while (i < rounds || b.outstanding > 0) {
		while (i < rounds && b.outstanding < window) {
			char id[16];

			snprintf(id, sizeof(id), "c%llu", (unsigned long long)(i % 64));
			pg_fix_q_put(h, id, ++i, 0, STORE_Q_QUEUED, m);
			store_q_del(h, id, i);
			ck_assert_int_eq(store_barrier(h, on_bench_barrier, &b), 0);
			b.outstanding++;
		}
		uv_run(loop, UV_RUN_ONCE);
	}
	s = (double)(uv_hrtime() - t0) / 1e9;
	store_stats(st, &s1);
	printf("store_pg: pool %u, window %d: %llu Q_PUT+Q_DEL+barrier in %.2f s: %.0f writes/s, "
	       "%.0f barriers/s, %llu commits\n",
	       pg_fix_pool(), window, (unsigned long long)rounds, s, 2.0 * (double)rounds / s,
	       (double)rounds / s, (unsigned long long)(s1.syncs - s0.syncs));
	ck_assert_int_eq(b.failed, 0);
	sl_msg_unref(m);
}

START_TEST(test_throughput_put_del_barrier)
{
	struct store *st = pg_fix_open("bench");
	uv_loop_t loop;
	struct store_h *h;

	ck_assert_int_eq(store_load(st, &pg_fix_recorder, &(struct pg_fix_rec){.len = 0}), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	h = store_attach(st, &loop);
	bench(st, &loop, h, 20000, 256); /* many publishers: pipelined, commits shared */
	bench(st, &loop, h, 500, 1);     /* one at a time: a commit round trip each */
	pg_fix_close(&loop, h, st);
}
END_TEST

START_TEST(test_skipped_without_postgres)
{
	printf("store_pg: %s/postgres not found, PostgreSQL tests skipped\n", pg_fix_bin());
}
END_TEST

/* The same tests against a pool of one connection and of three. */
static TCase *
server_case(const char *name, void (*up)(void))
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, up, pg_fix_down);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip_every_record);
	tcase_add_test(tc, test_barrier_done_after_commit);
	tcase_add_test(tc, test_kill9_restart_under_writes);
	tcase_add_test(tc, test_migrations_idempotent_and_concurrent);
	tcase_add_test(tc, test_rejected_write_fails_alone);
	tcase_add_test(tc, test_close_while_down_is_bounded);
	tcase_add_test(tc, test_throughput_put_del_barrier);
	return tc;
}

Suite *
store_pg_suite(void)
{
	Suite *s = suite_create("store_pg");
	TCase *alone = tcase_create("no server");

	if (!pg_fix_have()) {
		tcase_add_test(alone, test_skipped_without_postgres);
		suite_add_tcase(s, alone);
		return s;
	}
	suite_add_tcase(s, server_case("pool 1", pg_fix_up1));
	suite_add_tcase(s, server_case("pool 3", pg_fix_up3));
	tcase_set_timeout(alone, 30);
	tcase_add_test(alone, test_open_fails_unreachable_or_malformed);
	suite_add_tcase(s, alone);
	return s;
}
