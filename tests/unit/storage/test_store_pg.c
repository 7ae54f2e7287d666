/* tests/unit/storage/test_store_pg.c - the PostgreSQL session store against a real server:
 * each test starts its own (tests/services/postgres.sh) in a temporary directory on a free
 * port and stops it in the teardown. Without PostgreSQL 15's binaries the suite runs one test
 * that says so. */
#include <check.h>
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "proto/base/sl_msg.h"
#include "storage/store.h"

static char pg_dir[64];
static char pg_dsn[256];
static int pg_port;

/* tests/services/postgres.sh, found from this file's path. */
static const char *
script(void)
{
	static char path[PATH_MAX];
	const char *cut = strstr(__FILE__, "/unit/storage/");

	snprintf(path, sizeof(path), "%.*s/services/postgres.sh", (int)(cut - __FILE__), __FILE__);
	return path;
}

static const char *
pg_bin(void)
{
	const char *bin = getenv("PG_BIN");

	return bin != NULL ? bin : "/usr/lib/postgresql/15/bin";
}

static int
free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* Runs postgres.sh cmd on the fixture's server; its stdout (the DSN for start) into out. */
static int
pg_ctl(const char *cmd, char *out, size_t outlen)
{
	char line[PATH_MAX + 256], sink[256];
	size_t n = 0;
	FILE *f;

	/* The watcher kills the server if this test process dies without its teardown. */
	snprintf(line, sizeof(line), "PG_OWNER_PID=%d sh '%s' %s '%s' %d", (int)getpid(), script(),
	         cmd, pg_dir, pg_port);
	f = popen(line, "r");
	ck_assert_ptr_nonnull(f);
	if (out == NULL) { /* read it all anyway: a closed pipe would kill the script */
		out = sink;
		outlen = sizeof(sink);
	}
	out[0] = '\0';
	while (n + 1 < outlen && fgets(out + n, (int)(outlen - n), f) != NULL)
		n = strlen(out);
	while (fgets(line, sizeof(line), f) != NULL)
		continue;
	while (n > 0 && out[n - 1] == '\n')
		out[--n] = '\0';
	return pclose(f);
}

static void
pg_setup(void)
{
	strcpy(pg_dir, "/tmp/sl_pg.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(pg_dir));
	pg_port = free_port();
	ck_assert_int_eq(pg_ctl("start", pg_dsn, sizeof(pg_dsn)), 0);
	ck_assert_msg(strstr(pg_dsn, "dbname=starling") != NULL, "DSN '%s'", pg_dsn);
}

static void
pg_teardown(void)
{
	char cmd[128];

	pg_ctl("stop", NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pg_dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct store *
open_dsn(const char *dsn, const char *node)
{
	struct store_conf cf = {.pg_dsn = dsn, .node_name = node};
	char *err = NULL;
	struct store *st = store_open(&cf, &err);

	ck_assert_msg(st != NULL, "store_open: %s", err != NULL ? err : "?");
	return st;
}

static struct store *
open_node(const char *node)
{
	return open_dsn(pg_dsn, node);
}

/* What a load reported, one line per record. */
struct rec {
	char buf[1 << 19];
	size_t len;
	int n;
};

static void
recf(struct rec *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r->len += (size_t)vsnprintf(r->buf + r->len, sizeof(r->buf) - r->len, fmt, ap);
	va_end(ap);
	ck_assert_uint_lt(r->len, sizeof(r->buf));
	r->n++;
}

static void
rec_msg(struct rec *r, const struct sl_msg *m)
{
	recf(r, " [%.*s|%.*s|%.*s|p%u q%u r%d f%u x%llu]", (int)m->topic.len, m->topic.p,
	     (int)m->payload.len, m->payload.p, (int)m->sender.len, m->sender.p, m->props.len,
	     m->qos, m->retain, m->payload_format, (unsigned long long)m->expiry_at_ms);
}

static int
v_sess(void *arg, const struct store_sess *s)
{
	recf(arg, "sess %s v%u e%u x%llu%s%s\n", s->client_id, s->version, s->expiry,
	     (unsigned long long)s->expire_at, s->username != NULL ? " u" : "",
	     s->username != NULL ? s->username : "");
	return 0;
}

static int
v_sub(void *arg, const char *id, const struct store_sub *sub)
{
	recf(arg, "sub %s %s o%u i%u\n", id, sub->filter, sub->options, sub->sub_id);
	return 0;
}

static int
v_q(void *arg, const char *id, const struct store_q *q)
{
	recf(arg, "q %s %llu pid%u q%u s%u r%d ids", id, (unsigned long long)q->seq, q->pid, q->qos,
	     q->state, q->retain);
	for (int i = 0; i < q->n_sub_ids; i++)
		recf(arg, ",%u", q->sub_ids[i]);
	rec_msg(arg, q->msg);
	recf(arg, "\n");
	return 0;
}

static int
v_rx(void *arg, const char *id, uint16_t pid)
{
	recf(arg, "rx %s %u\n", id, pid);
	return 0;
}

static int
v_will(void *arg, const char *id, struct sl_msg *msg, uint64_t at_ms)
{
	recf(arg, "will %s %llu", id, (unsigned long long)at_ms);
	rec_msg(arg, msg);
	recf(arg, "\n");
	return 0;
}

static const struct store_visitor recorder = {v_sess, v_sub, v_q, v_rx, v_will, NULL};

static struct sl_msg *
msg_new(const char *topic, const char *payload)
{
	static const uint8_t props[] = {0x03, 0x00, 0x01, 'x'}; /* content type "x" */
	struct sl_msg *m = sl_msg_new(sl_bytes_make(topic, (uint32_t)strlen(topic)),
	                              sl_bytes_make(props, sizeof(props)),
	                              sl_bytes_make(payload, (uint32_t)strlen(payload)),
	                              sl_bytes_make("pub", 3), 1, false);

	ck_assert_ptr_nonnull(m);
	m->expiry_at_ms = 1700000000123ull;
	m->payload_format = 1;
	return m;
}

struct waiter {
	int done, status;
};

static void
on_barrier(void *arg, int status)
{
	struct waiter *w = arg;

	w->done++;
	w->status = status;
}

static int
barrier_wait(uv_loop_t *loop, struct store_h *h)
{
	struct waiter w = {0, 0};

	ck_assert_int_eq(store_barrier(h, on_barrier, &w), 0);
	while (!w.done)
		uv_run(loop, UV_RUN_ONCE);
	return w.status;
}

static void
detach_close(uv_loop_t *loop, struct store_h *h, struct store *st)
{
	store_detach(h);
	uv_run(loop, UV_RUN_DEFAULT);
	store_close(st);
	ck_assert_int_eq(uv_loop_close(loop), 0);
}

/* Opens node, loads into r, and closes again. */
static void
load_node(const char *node, struct rec *r)
{
	struct store *st = open_node(node);

	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(store_load(st, &recorder, r), 0);
	store_close(st);
}

static void
q_put(struct store_h *h, const char *id, uint64_t seq, uint16_t pid, uint8_t state,
      struct sl_msg *m)
{
	struct store_q q = {.seq = seq, .pid = pid, .qos = 1, .state = state, .msg = m};

	store_q_put(h, id, &q);
}

/* One of each record kind, with overwrites and deletes, through close and reopen. */
static void
write_everything(struct store_h *h)
{
	struct sl_msg *m = msg_new("t/1", "hello"), *w = msg_new("will/c1", "bye");
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
	q_put(h, "c1", 1, 0, STORE_Q_QUEUED, m);
	store_q_put(h, "c1", &q2);
	store_q_state(h, "c1", 2, STORE_Q_REL, 11);
	q_put(h, "c1", 3, 0, STORE_Q_QUEUED, m);
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
	q_put(h, "c3", 1, 0, STORE_Q_QUEUED, m);
	store_rx_put(h, "c3", 1);
	store_will_put(h, "c3", w, 1);
	store_sess_del(h, "c3");
	store_sess_put(h, &(struct store_sess){"c1", 5, 3600, 99, "alice"}); /* upsert */
	sl_msg_unref(m);
	sl_msg_unref(w);
}

static const char round_trip_want[] =
        "sess c1 v5 e3600 x99 ualice\n"
        "sess c2 v4 e4294967295 x1700000000000\n"
        "sub c1 $share/g/b o1 i0\n"
        "sub c1 a/+ o21 i7\n"
        "q c1 1 pid0 q1 s0 r0 ids [t/1|hello|pub|p4 q1 r0 f1 x1700000000123]\n"
        "q c1 2 pid11 q2 s2 r1 ids,7,9 [t/1|hello|pub|p4 q1 r0 f1 x1700000000123]\n"
        "rx c1 5\n"
        "will c1 12345 [will/c1|bye|pub|p4 q1 r0 f1 x1700000000123]\n"
        "sub c2 x o0 i0\n";

START_TEST(test_round_trip_every_record)
{
	struct store *st = open_node("n1");
	struct rec r = {.len = 0};
	uv_loop_t loop;
	struct store_h *h;

	ck_assert_int_eq(store_load(st, &recorder, &r), 0);
	ck_assert_int_eq(r.n, 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	h = store_attach(st, &loop);
	ck_assert_ptr_nonnull(h);
	ck_assert(store_durable(st));
	write_everything(h);
	ck_assert_int_eq(barrier_wait(&loop, h), 0);
	detach_close(&loop, h, st);

	load_node("n1", &r);
	ck_assert_str_eq(r.buf, round_trip_want);
	load_node("n2", &r); /* another node's sessions are not ours */
	ck_assert_int_eq(r.n, 0);
}
END_TEST

struct peek {
	uv_loop_t *loop;
	int done, status;
	long rows;
};

static long
count_rows(const char *sql)
{
	PGconn *c = PQconnectdb(pg_dsn);
	PGresult *res;
	long n;

	ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
	res = PQexec(c, sql);
	ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
	n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	PQfinish(c);
	return n;
}

/* Reads the row back on a connection of its own, from inside the barrier's callback. */
static void
on_barrier_peek(void *arg, int status)
{
	struct peek *p = arg;

	p->status = status;
	p->rows = count_rows("SELECT count(*) FROM messages WHERE node = 'starling'"
	                     " AND client_id = 'c1' AND seq BETWEEN 1 AND 50");
	p->done = 1;
}

START_TEST(test_barrier_done_after_commit)
{
	struct store_conf cf = {.pg_dsn = pg_dsn}; /* node_name NULL: "starling" */
	char *err = NULL;
	struct store *st = store_open(&cf, &err);
	struct sl_msg *m = msg_new("t", "p");
	struct peek p = {.done = 0};
	uv_loop_t loop;
	struct store_h *h;

	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(store_load(st, &recorder, &(struct rec){.len = 0}), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	h = store_attach(st, &loop);
	for (uint64_t seq = 1; seq <= 50; seq++)
		q_put(h, "c1", seq, 0, STORE_Q_QUEUED, m);
	ck_assert(store_h_dirty(h));
	ck_assert_int_eq(store_barrier(h, on_barrier_peek, &p), 0);
	ck_assert(!store_h_dirty(h));
	while (!p.done)
		uv_run(&loop, UV_RUN_ONCE);
	ck_assert_int_eq(p.status, 0);
	ck_assert_int_eq(p.rows, 50);
	sl_msg_unref(m);
	detach_close(&loop, h, st);
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
		ck_assert_int_eq(pg_ctl("kill", NULL, 0), 0);
		c->killed = true;
		c->killed_at = uv_now(t->loop);
	}
	if (c->killed && !c->restarted && uv_now(t->loop) - c->killed_at >= 400) {
		ck_assert_msg(c->saw_down, "store_ok() still true 400 ms after the kill");
		ck_assert_int_eq(pg_ctl("start", NULL, 0), 0);
		c->restarted = true;
	}
	for (int n = 0; n < 10 && c->issued < c->total; n++) {
		b = malloc(sizeof(*b));
		ck_assert_ptr_nonnull(b);
		b->c = c;
		b->seq = ++c->issued;
		q_put(c->h, "c1", b->seq, 0, STORE_Q_QUEUED, c->m);
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
	struct rec r;
	uv_loop_t loop;
	char dsn[160];

	/* Two addresses, the first refusing: every connect moves libpq to a second socket. */
	snprintf(dsn, sizeof(dsn),
	         "host=127.0.0.1,127.0.0.1 port=%d,%d dbname=starling user=postgres", free_port(),
	         pg_port);
	c.st = open_dsn(dsn, "n1");
	ck_assert_int_eq(store_load(c.st, &recorder, &(struct rec){.len = 0}), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	c.h = store_attach(c.st, &loop);
	c.m = msg_new("t", "p");
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
	detach_close(&loop, c.h, c.st);

	load_node("n1", &r);
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
	struct store_conf cf = {.pg_dsn = pg_dsn};
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
	ck_assert_int_eq(count_rows("SELECT count(*) FROM schema_version"),
	                 count_rows("SELECT max(version) FROM schema_version"));
	ck_assert_int_ge(count_rows("SELECT count(*) FROM schema_version"), 1);
}
END_TEST

/* In a UTF8 database an invalid client id fails its own write only (SQLSTATE 22021). */
START_TEST(test_rejected_write_fails_alone)
{
	struct store *st = open_node("n1");
	struct rec r;
	uv_loop_t loop;
	struct store_h *h;

	ck_assert_int_eq(store_load(st, &recorder, &(struct rec){.len = 0}), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	h = store_attach(st, &loop);
	store_sess_put(h, &(struct store_sess){"ok1", 5, 1, 0, NULL});
	store_sess_put(h, &(struct store_sess){"bad\xff", 5, 1, 0, NULL});
	store_sess_put(h, &(struct store_sess){"ok2", 5, 1, 0, NULL});
	ck_assert_int_eq(barrier_wait(&loop, h), -EIO);
	store_sess_put(h, &(struct store_sess){"ok3", 5, 1, 0, NULL});
	ck_assert_int_eq(barrier_wait(&loop, h), 0);
	detach_close(&loop, h, st);
	load_node("n1", &r);
	ck_assert_str_eq(r.buf, "sess ok1 v5 e1 x0\nsess ok2 v5 e1 x0\nsess ok3 v5 e1 x0\n");
}
END_TEST

START_TEST(test_close_while_down_is_bounded)
{
	struct store *st = open_node("n1");
	struct sl_msg *m = msg_new("t", "p");
	struct waiter w = {0, 0};
	uint64_t t0;
	uv_loop_t loop;
	struct store_h *h;

	ck_assert_int_eq(store_load(st, &recorder, &(struct rec){.len = 0}), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	h = store_attach(st, &loop);
	ck_assert_int_eq(pg_ctl("kill", NULL, 0), 0);
	q_put(h, "c1", 1, 0, STORE_Q_QUEUED, m);
	ck_assert_int_eq(store_barrier(h, on_barrier, &w), 0);
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

	snprintf(dsn, sizeof(dsn), "host=127.0.0.1 port=%d dbname=starling", free_port());
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
	        msg_new("bench/topic", "a payload of some sixty bytes, as telemetry often is..");
	struct bench b = {0, 0};
	struct store_stats s0, s1;
	uint64_t i = 0, t0 = uv_hrtime();
	double s;

	store_stats(st, &s0);
	while (i < rounds || b.outstanding > 0) {
		while (i < rounds && b.outstanding < window) {
			char id[16];

			snprintf(id, sizeof(id), "c%llu", (unsigned long long)(i % 64));
			q_put(h, id, ++i, 0, STORE_Q_QUEUED, m);
			store_q_del(h, id, i);
			ck_assert_int_eq(store_barrier(h, on_bench_barrier, &b), 0);
			b.outstanding++;
		}
		uv_run(loop, UV_RUN_ONCE);
	}
	s = (double)(uv_hrtime() - t0) / 1e9;
	store_stats(st, &s1);
	printf("store_pg: window %d: %llu Q_PUT+Q_DEL+barrier in %.2f s: %.0f writes/s, %.0f "
	       "barriers/s, %llu commits\n",
	       window, (unsigned long long)rounds, s, 2.0 * (double)rounds / s, (double)rounds / s,
	       (unsigned long long)(s1.syncs - s0.syncs));
	ck_assert_int_eq(b.failed, 0);
	sl_msg_unref(m);
}

START_TEST(test_throughput_put_del_barrier)
{
	struct store *st = open_node("bench");
	uv_loop_t loop;
	struct store_h *h;

	ck_assert_int_eq(store_load(st, &recorder, &(struct rec){.len = 0}), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	h = store_attach(st, &loop);
	bench(st, &loop, h, 20000, 256); /* many publishers: pipelined, commits shared */
	bench(st, &loop, h, 500, 1);     /* one at a time: a commit round trip each */
	detach_close(&loop, h, st);
}
END_TEST

START_TEST(test_skipped_without_postgres)
{
	printf("store_pg: %s/postgres not found, PostgreSQL tests skipped\n", pg_bin());
}
END_TEST

Suite *
store_pg_suite(void)
{
	Suite *s = suite_create("store_pg");
	TCase *tc = tcase_create("server");
	TCase *alone = tcase_create("no server");
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/postgres", pg_bin());
	if (access(path, X_OK) != 0) {
		tcase_add_test(alone, test_skipped_without_postgres);
		suite_add_tcase(s, alone);
		return s;
	}
	tcase_add_checked_fixture(tc, pg_setup, pg_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip_every_record);
	tcase_add_test(tc, test_barrier_done_after_commit);
	tcase_add_test(tc, test_kill9_restart_under_writes);
	tcase_add_test(tc, test_migrations_idempotent_and_concurrent);
	tcase_add_test(tc, test_rejected_write_fails_alone);
	tcase_add_test(tc, test_close_while_down_is_bounded);
	tcase_add_test(tc, test_throughput_put_del_barrier);
	suite_add_tcase(s, tc);
	tcase_set_timeout(alone, 30);
	tcase_add_test(alone, test_open_fails_unreachable_or_malformed);
	suite_add_tcase(s, alone);
	return s;
}
