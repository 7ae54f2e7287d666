/* Tests for storage/store_redis*.c: retained messages in a real redis-server, one per test case
 * (redis_fix.h). STARLING_BIG=1 makes the paged load test put and load 1,000,000 messages
 * instead of 20,000 (and prints the times). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "redis_fix.h"
#include "storage/store_codec.h"
#include "storage/store_redis.h"

START_TEST(test_url_parse) /* cases: forms of host, port, db, user, password; malformed */
{
	static const struct {
		const char *url, *host, *user, *pass;
		int port, db, rc;
	} c[] = {
	        {"redis://h", "h", NULL, NULL, 6379, 0, 0},
	        {"redis://h:1234/5", "h", NULL, NULL, 1234, 5, 0},
	        {"redis://h/", "h", NULL, NULL, 6379, 0, 0},
	        {"redis://:p%40ss@h/2", "h", NULL, "p@ss", 6379, 2, 0},
	        {"redis://u:p@[::1]:7000", "::1", "u", "p", 7000, 0, 0},
	        {"redis://a:b:c@h", "h", "a", "b:c", 6379, 0, 0},
	        {"http://h", NULL, NULL, NULL, 0, 0, -EINVAL},
	        {"redis://", NULL, NULL, NULL, 0, 0, -EINVAL},
	        {"redis://h:0", NULL, NULL, NULL, 0, 0, -EINVAL},
	        {"redis://h:70000", NULL, NULL, NULL, 0, 0, -EINVAL},
	        {"redis://h/x", NULL, NULL, NULL, 0, 0, -EINVAL},
	        {"redis://u@h", NULL, NULL, NULL, 0, 0, -EINVAL},
	        {"redis://:%zz@h", NULL, NULL, NULL, 0, 0, -EINVAL},
	        {"redis://[::1", NULL, NULL, NULL, 0, 0, -EINVAL},
	};
	struct store_redis_url u;
	char *err = NULL;
	int rc;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		rc = store_redis_url_parse(c[i].url, &u, &err);
		ck_assert_msg(rc == c[i].rc, "%s: rc %d", c[i].url, rc);
		if (rc < 0) {
			ck_assert_ptr_nonnull(err);
			ck_assert_ptr_null(strstr(err, c[i].url)); /* the URL may hold a password */
			ck_assert_ptr_null(strstr(err, "%zz"));
			free(err);
			err = NULL;
			continue;
		}
		ck_assert_str_eq(u.host, c[i].host);
		ck_assert_int_eq(u.port, c[i].port);
		ck_assert_int_eq(u.db, c[i].db);
		ck_assert_pstr_eq(u.user, c[i].user);
		ck_assert_pstr_eq(u.pass, c[i].pass);
		store_redis_url_fini(&u);
	}
}
END_TEST

START_TEST(test_open_unreachable_fails)
{
	struct store_conf cf = {0};
	char url[64], *err = NULL;

	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", redis_fix_free_port());
	cf.redis_url = url;
	ck_assert_ptr_null(store_open(&cf, &err));
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, "connect") != NULL, "%s", err);
	free(err);
}
END_TEST

START_TEST(test_round_trip_put_del_expiry)
{
	uint64_t later = sl_now_ms() + 3600 * 1000, soon = sl_now_ms() + 300;
	struct redis_fix_loaded ld = {0};
	struct store_h *h;
	struct store *st;
	uv_loop_t loop;

	if (!redis_fix_have())
		return;
	freeReplyObject(redis_fix_cmd(1, "FLUSHDB"));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	st = redis_fix_open(1, NULL, "n1", NULL, NULL);
	redis_fix_load(st, &ld);
	ck_assert_uint_eq(ld.n, 0);
	h = store_attach(st, &loop);
	redis_fix_put(h, "a/1", "one", 0);
	redis_fix_put(h, "a/2", "two", later);
	redis_fix_put(h, "a/3", "three", soon);
	redis_fix_put(h, "a/4", "four", 0);
	store_retain_del(h, "a/4");
	redis_fix_put(h, "a/1", "uno", 0); /* replaces */
	redis_fix_put(h, "a/5", "five", 0);
	ck_assert_int_eq(redis_fix_barrier(&loop, h), 0);
	ck_assert_int_eq(redis_fix_int(1, "ZCARD", STORE_REDIS_IDX), 4);
	/* expiry is PEXPIREAT */
	ck_assert_int_eq(redis_fix_int(1, "PEXPIRETIME", STORE_REDIS_KEY "a/2"), (long long)later);
	ck_assert_int_eq(redis_fix_int(1, "PTTL", STORE_REDIS_KEY "a/1"), -1);
	redis_fix_close(&loop, st, h);

	redis_fix_sleep(400); /* a/3 expires in Redis; a/5 vanishes behind the index's back */
	freeReplyObject(redis_fix_cmd(1, "DEL " STORE_REDIS_KEY "a/5"));
	st = redis_fix_open(1, NULL, "n1", NULL, NULL);
	redis_fix_load(st, &ld);
	ck_assert_uint_eq(ld.n, 2);
	redis_fix_assert_msg(redis_fix_find(&ld, "a/1"), "uno", 0);
	redis_fix_assert_msg(redis_fix_find(&ld, "a/2"), "two", later);
	ck_assert_int_eq(redis_fix_int(1, "ZCARD", STORE_REDIS_IDX), 2); /* a/3, a/5 cleaned */
	redis_fix_loaded_fini(&ld);
	h = store_attach(st, &loop);
	redis_fix_close(&loop, st, h);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Puts (or deletes) through h until rec hears it, at most 5 s: the other store's subscriber
 * may not be up yet, and a repeated put or delete changes nothing. */
static void
until_heard(uv_loop_t *loop, struct store_h *h, struct redis_fix_rec *rec, const char *topic,
            const char *payload)
{
	for (int i = 0; i < 50; i++) {
		if (payload != NULL)
			redis_fix_put(h, topic, payload, 0);
		else
			store_retain_del(h, topic);
		ck_assert_int_eq(redis_fix_barrier(loop, h), 0);
		for (int j = 0; j < 10; j++) {
			if (redis_fix_heard(rec, topic, payload))
				return;
			redis_fix_sleep(10);
		}
	}
	ck_abort_msg("'%s' never heard", topic);
}

START_TEST(test_two_stores_hear_each_other)
{
	struct redis_fix_rec ra, rb;
	struct redis_fix_loaded ld = {0};
	struct store *a, *b;
	struct store_h *ha, *hb;
	uv_loop_t loop;

	if (!redis_fix_have())
		return;
	redis_fix_rec_init(&ra);
	redis_fix_rec_init(&rb);
	freeReplyObject(redis_fix_cmd(2, "FLUSHDB"));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	a = redis_fix_open(2, NULL, "node-a", &ra, NULL);
	b = redis_fix_open(2, NULL, "node-b", &rb, NULL);
	redis_fix_load(a, &ld);
	redis_fix_load(b, &ld);
	ha = store_attach(a, &loop);
	hb = store_attach(b, &loop);

	until_heard(&loop, ha, &rb, "x/1", "hello");
	until_heard(&loop, hb, &ra, "x/1", NULL);
	until_heard(&loop, hb, &ra, "x/2", "from b");
	pthread_mutex_lock(&ra.mu);
	pthread_mutex_lock(&rb.mu);
	ck_assert_uint_ge(rb.puts, 1);
	ck_assert_uint_eq(rb.dels, 0); /* b's own delete was not reported to b */
	ck_assert_uint_ge(ra.dels, 1);
	ck_assert_uint_ge(ra.puts, 1);
	ck_assert_str_eq(ra.first_put, "x/2"); /* from b; a never heard its own x/1 */
	ck_assert_str_eq(rb.first_put, "x/1");
	ck_assert_str_eq(ra.payload, "from b");
	pthread_mutex_unlock(&rb.mu);
	pthread_mutex_unlock(&ra.mu);

	redis_fix_close(&loop, a, ha);
	redis_fix_close(&loop, b, hb);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_write_error_fails_barrier)
{
	struct redis_fix_loaded ld = {0};
	struct store_stats ss;
	struct store_h *h;
	struct store *st;
	uv_loop_t loop;

	if (!redis_fix_have())
		return;
	freeReplyObject(redis_fix_cmd(5, "FLUSHDB"));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	st = redis_fix_open(5, NULL, "n5", NULL, NULL);
	redis_fix_load(st, &ld);
	h = store_attach(st, &loop);
	freeReplyObject(redis_fix_cmd(5, "SET %s %s", STORE_REDIS_IDX, "not-a-zset"));
	redis_fix_put(h, "e/1", "never", 0); /* ZADD: WRONGTYPE, a permanent error */
	ck_assert_int_eq(redis_fix_barrier(&loop, h), -EIO);
	store_stats(st, &ss);
	ck_assert_uint_ge(ss.failed, 1); /* the put (the core counts the failed barrier too) */
	ck_assert(ss.retained_up);       /* the server is fine; the write was not */
	/* Nothing half done: the script failed at its first command. */
	ck_assert_int_eq(redis_fix_int(5, "EXISTS", STORE_REDIS_KEY "e/1"), 0);
	freeReplyObject(redis_fix_cmd(5, "DEL %s", STORE_REDIS_IDX));
	/* The next barrier may fail too: a write's barrier may reach the backend after the
	 * write's error reply, and ops carry no handle, so the next barrier in fails as well. */
	redis_fix_put(h, "e/2", "fine", 0);
	redis_fix_barrier(&loop, h);
	redis_fix_put(h, "e/3", "fine", 0);
	ck_assert_int_eq(redis_fix_barrier(&loop, h), 0);
	ck_assert_int_eq(redis_fix_int(5, "EXISTS", STORE_REDIS_KEY "e/2"), 1);
	redis_fix_close(&loop, st, h);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_script_flush_reconnects_and_replays)
{
	struct redis_fix_loaded ld = {0};
	struct store_stats ss;
	struct store_h *h;
	struct store *st;
	uv_loop_t loop;

	if (!redis_fix_have())
		return;
	freeReplyObject(redis_fix_cmd(8, "FLUSHDB"));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	st = redis_fix_open(8, NULL, "n8", NULL, NULL);
	redis_fix_load(st, &ld);
	h = store_attach(st, &loop);
	redis_fix_put(h, "f/1", "before", 0);
	ck_assert_int_eq(redis_fix_barrier(&loop, h), 0);
	freeReplyObject(redis_fix_cmd(8, "SCRIPT FLUSH"));
	redis_fix_put(h, "f/2", "after", 0); /* NOSCRIPT: "not now", so reconnect and replay */
	store_retain_del(h, "f/1");
	ck_assert_int_eq(redis_fix_barrier(&loop, h), 0);
	store_stats(st, &ss);
	ck_assert_uint_eq(ss.reconnects, 1);
	ck_assert_uint_eq(ss.failed, 0);
	ck_assert_int_eq(redis_fix_int(8, "EXISTS", STORE_REDIS_KEY "f/2"), 1);
	ck_assert_int_eq(redis_fix_int(8, "EXISTS", STORE_REDIS_KEY "f/1"), 0);
	redis_fix_close(&loop, st, h);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Ops of the kill test are a function of their index j: topic j % KT_TOPICS, a delete when
 * j % 7 == 6, else a put with payload j. */
#define KT_TOPICS 3000
#define KT_PER_TICK 20

struct kt {
	uv_loop_t *loop;
	struct store_h *h;
	uv_timer_t tick;
	uint64_t t0;
	uint32_t nops, acked; /* ops made; ops [0, acked) covered by a successful barrier */
	unsigned bars, bars_ok, bars_bad;
	int phase;
	bool final_done;
};

struct kt_bar {
	struct kt *kt;
	uint32_t upto;
};

static void
on_kt_bar(void *arg, int status)
{
	struct kt_bar *kb = arg;

	if (status == 0) {
		kb->kt->bars_ok++;
		if (kb->upto > kb->kt->acked)
			kb->kt->acked = kb->upto;
	} else {
		kb->kt->bars_bad++;
	}
	free(kb);
}

static void
kt_op(struct kt *kt)
{
	uint32_t j = kt->nops++;
	char topic[32], payload[16];

	snprintf(topic, sizeof(topic), "w/%u", j % KT_TOPICS);
	snprintf(payload, sizeof(payload), "%u", j);
	if (j % 7 == 6)
		store_retain_del(kt->h, topic);
	else
		redis_fix_put(kt->h, topic, payload, 0);
}

static void
kt_barrier(struct kt *kt)
{
	struct kt_bar *kb = malloc(sizeof(*kb));

	ck_assert_ptr_nonnull(kb);
	kb->kt = kt;
	kb->upto = kt->nops;
	kt->bars++;
	ck_assert_int_eq(store_barrier(kt->h, on_kt_bar, kb), 0);
}

/* Topic i's payload index in Redis (-1 absent), read straight from db. */
static void
read_state(int db, int64_t *state)
{
	redisContext *c = redis_fix_connect(db);
	redisReply *rep;
	struct sl_msg *m;
	size_t used;

	ck_assert(c != NULL && c->err == 0);
	freeReplyObject(redisCommand(c, "SELECT %d", db));
	for (int i = 0; i < KT_TOPICS; i++) {
		rep = redisCommand(c, "GET " STORE_REDIS_KEY "w/%d", i);
		ck_assert(rep != NULL && rep->type != REDIS_REPLY_ERROR);
		state[i] = -1;
		if (rep->type == REDIS_REPLY_STRING) {
			m = store_msg_decode((const uint8_t *)rep->str, rep->len, &used);
			ck_assert_ptr_nonnull(m);
			state[i] = strtoll((const char *)m->payload.p, NULL, 10);
			sl_msg_unref(m);
		}
		freeReplyObject(rep);
	}
	redisFree(c);
}

/* After the ops [0, acked) are durable and [0, made) were sent, in order: topic i holds what
 * some op k >= its last acked op L (k < made) left there. */
static void
check_durable(const int64_t *state, uint32_t acked, uint32_t made)
{
	for (uint32_t i = 0; i < KT_TOPICS; i++) {
		int64_t l, k, s = state[i];
		bool ok = false;

		if (acked == 0 || acked - 1 < i)
			continue; /* nothing acknowledged on it */
		l = (int64_t)(acked - 1) - (int64_t)((acked - 1 - i) % KT_TOPICS);
		if (s >= 0)
			ok = s >= l && s % KT_TOPICS == i && s % 7 != 6 && s < made;
		for (k = l; s < 0 && !ok && k < made; k += KT_TOPICS)
			ok = k % 7 == 6;
		ck_assert_msg(ok, "topic w/%u holds %lld, last acknowledged op %lld", i,
		              (long long)s, (long long)l);
	}
}

/* The state after every op [0, made). */
static int64_t
expected(uint32_t i, uint32_t made)
{
	int64_t l;

	if (made == 0 || made - 1 < i)
		return -1;
	l = (int64_t)(made - 1) - (int64_t)((made - 1 - i) % KT_TOPICS);
	return l % 7 == 6 ? -1 : l;
}

static void
on_kt_tick(uv_timer_t *t)
{
	struct kt *kt = container_of(t, struct kt, tick);
	uint64_t el = redis_fix_ms() - kt->t0;
	static int64_t state[KT_TOPICS];

	if (kt->phase == 0 && el >= 300) {
		redis_fix_kill9(); /* mid-stream: some ops sent, some answered, some not */
		kt->phase = 1;
	} else if (kt->phase == 1 && el >= 700) {
		redis_fix_start();
		read_state(3, state);
		check_durable(state, kt->acked, kt->nops);
		kt->phase = 2;
	} else if (kt->phase == 2 && el >= 1500) {
		uv_timer_stop(t);
		kt_barrier(kt);
		kt->phase = 3;
		return;
	}
	for (int i = 0; i < KT_PER_TICK; i++)
		kt_op(kt);
	kt_barrier(kt);
}

static void
kt_verify_loaded(struct store *st, uint32_t made)
{
	struct redis_fix_loaded ld = {0};
	char topic[32];

	redis_fix_load(st, &ld);
	for (uint32_t i = 0; i < KT_TOPICS; i++) {
		int64_t want = expected(i, made);
		struct sl_msg *m;

		snprintf(topic, sizeof(topic), "w/%u", i);
		m = redis_fix_find(&ld, topic);
		ck_assert_msg((m != NULL) == (want >= 0), "%s: %s", topic,
		              m ? "present" : "absent");
		if (m != NULL)
			ck_assert_int_eq(strtoll((const char *)m->payload.p, NULL, 10), want);
	}
	redis_fix_loaded_fini(&ld);
}

START_TEST(test_kill9_restart_under_writes)
{
	static int64_t state[KT_TOPICS];
	struct kt kt = {0};
	struct store_stats ss;
	struct redis_fix_loaded ld = {0};
	struct store *st;
	uv_loop_t loop;

	if (!redis_fix_have())
		return;
	freeReplyObject(redis_fix_cmd(3, "FLUSHDB"));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	st = redis_fix_open(3, NULL, "n3", NULL, NULL);
	redis_fix_load(st, &ld);
	kt.loop = &loop;
	kt.h = store_attach(st, &loop);
	kt.t0 = redis_fix_ms();
	uv_timer_init(&loop, &kt.tick);
	uv_timer_start(&kt.tick, on_kt_tick, 1, 1);
	while (kt.bars_ok + kt.bars_bad < kt.bars || kt.phase < 3) {
		uv_run(&loop, UV_RUN_ONCE);
		ck_assert_msg(redis_fix_ms() - kt.t0 < 30000, "writes not done in 30 s");
	}
	store_stats(st, &ss);
	printf("redis kill -9: %u ops, %u barriers, all ok after %llu reconnect(s)\n", kt.nops,
	       kt.bars, (unsigned long long)ss.reconnects);
	ck_assert_uint_eq(kt.bars_bad, 0); /* every op queued while down was replayed */
	ck_assert_uint_ge(ss.reconnects, 1);
	ck_assert(ss.retained_up);
	ck_assert_uint_eq(ss.failed, 0);
	read_state(3, state);
	for (uint32_t i = 0; i < KT_TOPICS; i++)
		ck_assert_int_eq(state[i], expected(i, kt.nops));
	uv_close((uv_handle_t *)&kt.tick, NULL);
	redis_fix_close(&loop, st, kt.h);

	redis_fix_kill9(); /* everything was acknowledged: a crash now loses none of it */
	redis_fix_start();
	st = redis_fix_open(3, NULL, "n3", NULL, NULL);
	kt_verify_loaded(st, kt.nops);
	kt.h = store_attach(st, &loop);
	redis_fix_close(&loop, st, kt.h);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Puts total messages p/<i> in chunks, each followed by a barrier, a few chunks in flight. */
struct pl {
	struct store_h *h;
	uint32_t next, total;
	unsigned outstanding, failed;
};

#define PL_CHUNK 5000
#define PL_WINDOW 4

static void on_pl_chunk(void *arg, int status);

static void
pl_issue(struct pl *p)
{
	char topic[32], payload[16];

	for (uint32_t k = 0; k < PL_CHUNK && p->next < p->total; k++, p->next++) {
		snprintf(topic, sizeof(topic), "p/%u", p->next);
		snprintf(payload, sizeof(payload), "%u", p->next);
		redis_fix_put(p->h, topic, payload, 0);
	}
	p->outstanding++;
	ck_assert_int_eq(store_barrier(p->h, on_pl_chunk, p), 0);
}

static void
on_pl_chunk(void *arg, int status)
{
	struct pl *p = arg;

	p->outstanding--;
	p->failed += status != 0;
	if (p->next < p->total)
		pl_issue(p);
}

struct pl_check {
	uint8_t *seen;
	uint32_t total, n, bad;
};

static int
on_pl_load(void *arg, struct sl_msg *m)
{
	struct pl_check *c = arg;
	unsigned long i = strtoul((const char *)m->topic.p + 2, NULL, 10);

	if (i >= c->total || c->seen[i] || strtoul((const char *)m->payload.p, NULL, 10) != i)
		c->bad++;
	else
		c->seen[i] = 1;
	c->n++;
	return 0;
}

START_TEST(test_paged_load)
{
	const char *big = getenv("STARLING_BIG");
	uint32_t total = big != NULL && strcmp(big, "1") == 0 ? 1000000 : 20000;
	struct pl p = {.total = total};
	struct pl_check c = {.total = total};
	struct store_visitor v = {.retain = on_pl_load};
	struct store *st;
	uint64_t t0, t1;
	uv_loop_t loop;

	if (!redis_fix_have())
		return;
	freeReplyObject(redis_fix_cmd(4, "FLUSHDB"));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	st = redis_fix_open(4, NULL, "n4", NULL, NULL);
	ck_assert_int_eq(store_load(st, &v, &c), 0);
	p.h = store_attach(st, &loop);
	t0 = redis_fix_ms();
	for (int w = 0; w < PL_WINDOW && p.next < p.total; w++)
		pl_issue(&p);
	while (p.outstanding > 0)
		uv_run(&loop, UV_RUN_ONCE);
	t1 = redis_fix_ms();
	ck_assert_uint_eq(p.failed, 0);
	printf("redis: %u retained puts in %.3f s: %.0f puts/s (appendfsync always)\n", total,
	       (double)(t1 - t0) / 1e3, total * 1e3 / (double)(t1 - t0 + 1));
	redis_fix_close(&loop, st, p.h);

	c.seen = calloc(total, 1);
	ck_assert_ptr_nonnull(c.seen);
	st = redis_fix_open(4, NULL, "n4", NULL, NULL);
	t0 = redis_fix_ms();
	ck_assert_int_eq(store_load(st, &v, &c), 0);
	t1 = redis_fix_ms();
	printf("redis: loaded %u retained messages in %.3f s (pages of 1000)\n", c.n,
	       (double)(t1 - t0) / 1e3);
	ck_assert_uint_eq(c.bad, 0);
	ck_assert_uint_eq(c.n, total);
	free(c.seen);
	p.h = store_attach(st, &loop);
	redis_fix_close(&loop, st, p.h);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_password_in_url)
{
	struct redis_fix_loaded ld = {0};
	struct store_h *h;
	struct store *st;
	uv_loop_t loop;
	char *err = NULL;

	if (!redis_fix_have())
		return;
	ck_assert_ptr_null(redis_fix_open(6, "wrong", "n6", NULL, &err));
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, "AUTH") != NULL && strstr(err, "wrong") == NULL, "%s", err);
	free(err);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	st = redis_fix_open(6, REDIS_FIX_PASS, "n6", NULL, NULL);
	redis_fix_load(st, &ld);
	h = store_attach(st, &loop);
	redis_fix_put(h, "pw/1", "secret kept", 0);
	ck_assert_int_eq(redis_fix_barrier(&loop, h), 0);
	redis_fix_close(&loop, st, h);
	st = redis_fix_open(6, REDIS_FIX_PASS, "n6", NULL, NULL);
	redis_fix_load(st, &ld);
	ck_assert_uint_eq(ld.n, 1);
	redis_fix_assert_msg(redis_fix_find(&ld, "pw/1"), "secret kept", 0);
	redis_fix_loaded_fini(&ld);
	h = store_attach(st, &loop);
	redis_fix_close(&loop, st, h);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_close_while_down_cancels_after_flush_window)
{
	struct redis_fix_loaded ld = {0};
	struct store_stats ss;
	struct redis_fix_bwait b = {false, 0};
	struct store_h *h;
	struct store *st;
	uv_loop_t loop;
	uint64_t t0;

	if (!redis_fix_have())
		return;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	st = redis_fix_open(7, NULL, "n7", NULL, NULL);
	redis_fix_load(st, &ld);
	h = store_attach(st, &loop);
	ck_assert_int_eq(redis_fix_barrier(&loop, h), 0);
	redis_fix_kill9();
	redis_fix_put(h, "down/1", "lost", 0);
	ck_assert_int_eq(store_barrier(h, redis_fix_on_bar, &b), 0);
	for (int i = 0; i < 100; i++) {
		store_stats(st, &ss);
		if (!ss.retained_up)
			break;
		redis_fix_sleep(20);
	}
	ck_assert(!ss.retained_up);
	ck_assert_uint_eq(ss.pending, 2); /* the put and the barrier, held for replay */
	uv_run(&loop, UV_RUN_NOWAIT);
	ck_assert(!b.done);
	store_detach(h); /* the barrier's callback: -ECANCELED */
	ck_assert(b.done);
	ck_assert_int_eq(b.status, -ECANCELED);
	uv_run(&loop, UV_RUN_NOWAIT);
	t0 = redis_fix_ms();
	store_close(st); /* flushes for 2 s, then fails the rest */
	ck_assert_uint_ge(redis_fix_ms() - t0, 1900);
	ck_assert_uint_lt(redis_fix_ms() - t0, 5000);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

Suite *
store_redis_suite(void)
{
	Suite *s = suite_create("store_redis");
	const char *big = getenv("STARLING_BIG");
	int timeout = big != NULL && strcmp(big, "1") == 0 ? 1800 : 60;
	TCase *tc = tcase_create("url");

	tcase_add_test(tc, test_url_parse);
	tcase_add_test(tc, test_open_unreachable_fails);
	suite_add_tcase(s, tc);

	tc = tcase_create("server");
	tcase_add_unchecked_fixture(tc, redis_fix_up, redis_fix_down);
	tcase_set_timeout(tc, timeout);
	tcase_add_test(tc, test_round_trip_put_del_expiry);
	tcase_add_test(tc, test_two_stores_hear_each_other);
	tcase_add_test(tc, test_write_error_fails_barrier);
	tcase_add_test(tc, test_script_flush_reconnects_and_replays);
	tcase_add_test(tc, test_kill9_restart_under_writes);
	tcase_add_test(tc, test_paged_load);
	suite_add_tcase(s, tc);

	tc = tcase_create("password");
	tcase_add_unchecked_fixture(tc, redis_fix_up_pass, redis_fix_down);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_password_in_url);
	suite_add_tcase(s, tc);

	tc = tcase_create("down");
	tcase_add_unchecked_fixture(tc, redis_fix_up, redis_fix_down);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_close_while_down_cancels_after_flush_window);
	suite_add_tcase(s, tc);
	return s;
}
