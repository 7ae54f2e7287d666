/* tests/unit/storage/test_store_pg_pool.c - the PostgreSQL store's connection pool
 * (storage/store_pg_pool.c) with three connections against a real server (pg_fix.h): sessions
 * spread over the connections keep their own order, a barrier waits for every connection, one
 * connection dying loses nothing acknowledged. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "pg_fix.h"
#include "proto/base/sl_msg.h"
#include "storage/store.h"

#define N_CLIENTS 300

static void
client_id(char *id, size_t len, unsigned i)
{
	snprintf(id, len, "k%03u", i);
}

/* The k-th of the nine writes each client makes. Final: seq 1 gone, seq 2 released (pid 9),
 * seq 3 queued, expiry 2. */
static void
client_write(struct store_h *h, const char *id, int k, struct sl_msg *m)
{
	switch (k) {
	case 0:
	case 8:
		store_sess_put(h, &(struct store_sess){id, 5, k == 0 ? 1 : 2, 0, NULL});
		break;
	case 1:
	case 3:
	case 5:
	case 7:
		pg_fix_q_put(h, id, k < 5 ? (uint64_t)(k + 1) / 2 : 3, 0, STORE_Q_QUEUED, m);
		break;
	case 2:
		store_q_del(h, id, 1);
		break;
	case 4:
		store_q_state(h, id, 2, STORE_Q_REL, 9);
		break;
	default:
		store_q_del(h, id, 3);
		break;
	}
}

/* Reports the first line that differs (ck_assert_str_eq fails badly on 100 kB). */
static void
assert_same(const char *got, const char *want)
{
	size_t i = 0, line = 0;

	while (got[i] != '\0' && got[i] == want[i])
		i++;
	while (line < i && got[i - line - 1] != '\n')
		line++;
	ck_assert_msg(got[i] == want[i], "got '%.60s', want '%.60s'", got + i - line,
	              want + i - line);
}

/* Stopping flushes every connection: no barrier, the close alone makes them durable. */
START_TEST(test_clients_spread_keep_their_order)
{
	struct store *st = pg_fix_open("n1");
	struct sl_msg *m = pg_fix_msg("t", "p");
	static struct pg_fix_rec r; /* large */
	static char want[1 << 19];
	size_t len = 0;
	uv_loop_t loop;
	struct store_h *h;
	char id[16];

	ck_assert_int_eq(store_load(st, &pg_fix_recorder, &r), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	h = store_attach(st, &loop);
	/* Three passes over the clients, three writes of each client at a time: a put and the
	 * delete or update after it are adjacent, on their way to the same connection. */
	for (int pass = 0; pass < 3; pass++)
		for (unsigned i = 0; i < N_CLIENTS; i++) {
			client_id(id, sizeof(id), i);
			for (int k = pass * 3; k < pass * 3 + 3; k++)
				client_write(h, id, k, m);
		}
	sl_msg_unref(m);
	pg_fix_close(&loop, h, st);

	pg_fix_load("n1", &r);
	for (unsigned i = 0; i < N_CLIENTS; i++) {
		client_id(id, sizeof(id), i);
		len += (size_t)snprintf(
		        want + len, sizeof(want) - len,
		        "sess %s v5 e2 x0\n"
		        "q %s 2 pid9 q1 s2 r0 ids [t|p|pub|p4 q1 r0 f1 x1700000000123]\n"
		        "q %s 3 pid0 q1 s0 r0 ids [t|p|pub|p4 q1 r0 f1 x1700000000123]\n",
		        id, id, id);
	}
	assert_same(r.buf, want);
}
END_TEST

struct peek {
	int done, status;
	long msgs, expiry;
};

/* Reads the rows back on a connection of its own, from inside the barrier's callback. */
static void
on_barrier_peek(void *arg, int status)
{
	struct peek *p = arg;

	p->status = status;
	p->msgs = pg_fix_count("SELECT count(*) FROM messages WHERE node = 'n1'");
	p->expiry = pg_fix_count("SELECT expiry FROM sessions WHERE client_id = 'held'");
	p->done = 1;
}

static void
exec_ok(PGconn *c, const char *sql, ExecStatusType want)
{
	PGresult *res = PQexec(c, sql);

	ck_assert_msg(PQresultStatus(res) == want, "%s: %s", sql, PQerrorMessage(c));
	PQclear(res);
}

/* One session's row is locked by another transaction: the connection writing it stalls, the
 * other two commit their sessions' writes, and the barrier after them all waits for the stalled
 * one. */
START_TEST(test_barrier_waits_for_every_connection)
{
	struct store *st = pg_fix_open("n1");
	struct sl_msg *m = pg_fix_msg("t", "p");
	struct peek p = {0};
	uv_loop_t loop;
	struct store_h *h;
	PGconn *locker;
	uint64_t t0;
	long msgs;

	ck_assert_int_eq(store_load(st, &pg_fix_recorder, &(struct pg_fix_rec){.len = 0}), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	h = store_attach(st, &loop);
	store_sess_put(h, &(struct store_sess){"held", 5, 1, 0, NULL});
	ck_assert_int_eq(pg_fix_barrier(&loop, h), 0);
	locker = pg_fix_connect();
	exec_ok(locker, "BEGIN", PGRES_COMMAND_OK);
	exec_ok(locker, "SELECT 1 FROM sessions WHERE client_id = 'held' FOR UPDATE",
	        PGRES_TUPLES_OK);

	store_sess_put(h, &(struct store_sess){"held", 5, 99, 0, NULL}); /* waits for the lock */
	for (unsigned i = 0; i < 90; i++) {
		char id[16];

		snprintf(id, sizeof(id), "x%u", i);
		pg_fix_q_put(h, id, 1, 0, STORE_Q_QUEUED, m);
	}
	ck_assert_int_eq(store_barrier(h, on_barrier_peek, &p), 0);
	for (t0 = uv_hrtime(); uv_hrtime() - t0 < 300 * 1000000ull;) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(5000);
	}
	ck_assert_int_eq(p.done, 0);
	msgs = pg_fix_count("SELECT count(*) FROM messages WHERE node = 'n1'");
	ck_assert_msg(msgs > 0 && msgs < 90, "%ld of 90 committed while one connection stalls",
	              msgs);

	exec_ok(locker, "COMMIT", PGRES_COMMAND_OK);
	while (!p.done)
		uv_run(&loop, UV_RUN_ONCE);
	ck_assert_int_eq(p.status, 0);
	ck_assert_int_eq(p.msgs, 90);
	ck_assert_int_eq(p.expiry, 99);
	PQfinish(locker);
	sl_msg_unref(m);
	pg_fix_close(&loop, h, st);
}
END_TEST

/* Writes for 30 sessions, ten messages per tick (deleting every other one in the next), a
 * barrier each; after 1000, one connection's server process is terminated. */
struct chaos {
	struct store *st;
	struct store_h *h;
	struct sl_msg *m;
	uv_timer_t tick;
	uint64_t issued, total, done, failed;
	bool killed, saw_down;
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
seq_client(char *id, size_t len, uint64_t seq)
{
	snprintf(id, len, "c%llu", (unsigned long long)(seq % 30));
}

static void
terminate_one(void)
{
	ck_assert_int_eq(pg_fix_count("SELECT count(*) FROM pg_stat_activity"
	                              " WHERE application_name = 'starling'"),
	                 3);
	ck_assert_int_eq(pg_fix_count("SELECT count(*) FROM (SELECT pg_terminate_backend(pid)"
	                              " FROM pg_stat_activity WHERE application_name = 'starling'"
	                              " ORDER BY pid LIMIT 1) t"),
	                 1);
}

static void
on_tick(uv_timer_t *t)
{
	struct chaos *c = t->data;
	struct chaos_bar *b;
	char id[16];

	if (!store_ok(c->st))
		c->saw_down = true;
	if (c->issued >= 1000 && !c->killed) {
		terminate_one();
		c->killed = true;
	}
	for (int n = 0; n < 10 && c->issued < c->total; n++) {
		b = malloc(sizeof(*b));
		ck_assert_ptr_nonnull(b);
		b->c = c;
		b->seq = ++c->issued;
		seq_client(id, sizeof(id), b->seq);
		pg_fix_q_put(c->h, id, b->seq, 0, STORE_Q_QUEUED, c->m);
		if (b->seq % 2 == 0) { /* a replay after reconnect must not bring it back */
			seq_client(id, sizeof(id), b->seq - 1);
			store_q_del(c->h, id, b->seq - 1);
		}
		ck_assert_int_eq(store_barrier(c->h, on_chaos_barrier, b), 0);
	}
	if (c->issued == c->total)
		uv_timer_stop(t);
}

static void
check_chaos_rows(const struct chaos *c)
{
	static struct pg_fix_rec r; /* large */
	char want[32], id[16];

	pg_fix_load("n1", &r);
	for (uint64_t seq = 1; seq <= c->total; seq++) {
		seq_client(id, sizeof(id), seq);
		snprintf(want, sizeof(want), "q %s %llu ", id, (unsigned long long)seq);
		if (seq % 2 == 1)
			ck_assert_msg(strstr(r.buf, want) == NULL, "seq %llu deleted, then back",
			              (unsigned long long)seq);
		else if (c->status[seq] == 0)
			ck_assert_msg(strstr(r.buf, want) != NULL, "seq %llu acked, then lost",
			              (unsigned long long)seq);
	}
}

START_TEST(test_one_connection_terminated_under_writes)
{
	struct chaos c = {.total = 3000};
	struct store_stats stats;
	uv_loop_t loop;
	char id[16];

	c.st = pg_fix_open("n1");
	ck_assert_int_eq(store_load(c.st, &pg_fix_recorder, &(struct pg_fix_rec){.len = 0}), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	c.h = store_attach(c.st, &loop);
	c.m = pg_fix_msg("t", "p");
	for (uint64_t i = 0; i < 30; i++) {
		seq_client(id, sizeof(id), i);
		store_sess_put(c.h, &(struct store_sess){id, 5, 60, 0, NULL});
	}
	uv_timer_init(&loop, &c.tick);
	c.tick.data = &c;
	uv_timer_start(&c.tick, on_tick, 2, 2);
	while (c.done < c.total)
		uv_run(&loop, UV_RUN_ONCE);
	ck_assert(c.killed);
	ck_assert(c.saw_down);
	store_stats(c.st, &stats);
	ck_assert_uint_ge(stats.reconnects, 1);
	/* The connection came back and resent what it held: every write kept. */
	ck_assert_uint_eq(c.failed, 0);
	ck_assert_uint_eq(stats.failed, 0);
	ck_assert(store_ok(c.st));
	uv_close((uv_handle_t *)&c.tick, NULL);
	sl_msg_unref(c.m);
	pg_fix_close(&loop, c.h, c.st);
	check_chaos_rows(&c);
}
END_TEST

START_TEST(test_skipped_without_postgres)
{
	printf("store_pg_pool: %s/postgres not found, PostgreSQL tests skipped\n", pg_fix_bin());
}
END_TEST

Suite *
store_pg_pool_suite(void)
{
	Suite *s = suite_create("store_pg_pool");
	TCase *tc = tcase_create("pool 3");

	if (!pg_fix_have()) {
		tcase_add_test(tc, test_skipped_without_postgres);
		suite_add_tcase(s, tc);
		return s;
	}
	tcase_add_checked_fixture(tc, pg_fix_up3, pg_fix_down);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_clients_spread_keep_their_order);
	tcase_add_test(tc, test_barrier_waits_for_every_connection);
	tcase_add_test(tc, test_one_connection_terminated_under_writes);
	suite_add_tcase(s, tc);
	return s;
}
