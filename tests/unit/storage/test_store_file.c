/* Tests for storage/store_file.c: the embedded backend through store.h - round trips through
 * close and crash, compaction, damaged files, the directory lock, the durability policies - and
 * a throughput measurement. The fixture is in file_fix.c. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "file_fix.h"
#include "proto/base/sl_log.h"

/* Every kind of write, deletes of what exists and of what does not. */
static void
write_kinds(struct fix *f)
{
	struct store_h *h = f->h;
	struct store_sess c1 = {"c1", 5, 100, 0, NULL}, c2 = {"c2", 4, UINT32_MAX, 1234, "alice"};
	struct store_sess c3 = {"c3", 5, 10, 0, NULL};
	struct store_sub s1 = {"a/+", 1, 7}, s1b = {"a/+", 0, 8}, s2 = {"b/#", 2, 0};
	struct sl_msg *will = fix_msg("will/c1", "bye"), *w2 = fix_msg("will/c2", "x");
	struct sl_msg *r1 = fix_msg("t/1", "one"), *r2 = fix_msg("t/2", "two");
	struct sl_msg *r2b = fix_msg("t/2", "two-b");

	store_sess_put(h, &c1);
	store_sub_put(h, "c1", &s1);
	store_sub_put(h, "c1", &s2);
	store_sub_put(h, "c1", &s1b); /* replaces a/+ */
	store_sub_del(h, "c1", "b/#");
	for (uint64_t i = 1; i <= 3; i++)
		fix_put_q(h, "c1", i, i == 1 ? "m1" : i == 2 ? "m2" : "m3");
	store_q_state(h, "c1", 2, STORE_Q_SENT, 10);
	store_q_state(h, "c1", 3, STORE_Q_REL, 11);
	store_q_del(h, "c1", 1);
	store_q_del(h, "c1", 99);
	store_q_state(h, "nobody", 1, STORE_Q_REL, 1);
	store_rx_put(h, "c1", 5);
	store_rx_put(h, "c1", 6);
	store_rx_put(h, "c1", 6);
	store_rx_del(h, "c1", 6);
	store_will_put(h, "c1", will, 12345);
	store_sess_put(h, &c2); /* expire_at long past: still reported, the broker decides */
	store_will_put(h, "c2", w2, 1);
	store_will_del(h, "c2");
	store_sess_put(h, &c3);
	store_sub_put(h, "c3", &s2);
	fix_put_q(h, "c3", 1, "gone");
	store_rx_put(h, "c3", 1);
	store_will_put(h, "c3", w2, 5);
	store_sess_del(h, "c3");
	store_sess_del(h, "never");
	store_retain_put(h, r1);
	store_retain_put(h, r2);
	store_retain_put(h, r2b);
	store_retain_del(h, "t/1");
	store_retain_del(h, "none");
	sl_msg_unref(will);
	sl_msg_unref(w2);
	sl_msg_unref(r1);
	sl_msg_unref(r2);
	sl_msg_unref(r2b);
}

static const char kinds_state[] = "q c1 2 q/t=m2 qos1 st1 pid10 r0 ids2:9\n"
                                  "q c1 3 q/t=m3 qos1 st2 pid11 r0 ids2:9\n"
                                  "ret t/2=two-b\n"
                                  "rx c1 5\n"
                                  "sess c1 v5 exp 100 at 0\n"
                                  "sess c2 v4 exp 4294967295 at 1234 user alice\n"
                                  "sub c1 a/+ o0 id8\n"
                                  "will c1 will/c1=bye at 12345\n";

/* cases: closed (the final snapshot), _exit (the log replayed), SIGKILL (the same) */
START_TEST(test_round_trip_every_kind)
{
	struct fix f;
	struct store_conf cf;
	struct seen seen;

	fix_init(&f);
	cf = fix_conf(&f, STORE_SYNC_BATCH);
	if (_i == 0) {
		fix_open(&f, &cf, NULL);
		write_kinds(&f);
		ck_assert_int_eq(fix_barrier(&f), 0);
		fix_close(&f);
	} else {
		fix_in_child(&f, &cf, write_kinds, _i == 2);
	}
	ck_assert_str_eq(fix_reload(&f, &cf, &seen), kinds_state);
	ck_assert_str_eq(fix_reload(&f, &cf, &seen), kinds_state); /* from the snapshot just made */
	fix_rm_rf(f.tmp);
}
END_TEST

static void
on_tick(uv_timer_t *t)
{
	(void)t;
}

/* Waits (running the loop) until a snapshot has replaced the first log. */
static void
compact_then_write(struct fix *f)
{
	unsigned long long lo, hi;
	uv_timer_t t;

	write_kinds(f);
	ck_assert_int_eq(fix_barrier(f), 0);
	uv_timer_init(&f->loop, &t);
	for (int i = 0; i < 100 && fix_files(f, "snap", &lo, &hi) == 0; i++) {
		uv_timer_start(&t, on_tick, 50, 0);
		uv_run(&f->loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT); /* t is on this stack: closed before we return */
	ck_assert_int_eq(fix_files(f, "snap", &lo, &hi), 1);
	fix_put_q(f->h, "c1", 4, "m4");
	store_q_del(f->h, "c1", 2);
	store_retain_del(f->h, "t/2");
}

START_TEST(test_compaction_then_reload)
{
	static const char want[] = "q c1 3 q/t=m3 qos1 st2 pid11 r0 ids2:9\n"
	                           "q c1 4 q/t=m4 qos1 st0 pid0 r0 ids2:9\n"
	                           "rx c1 5\n"
	                           "sess c1 v5 exp 100 at 0\n"
	                           "sess c2 v4 exp 4294967295 at 1234 user alice\n"
	                           "sub c1 a/+ o0 id8\n"
	                           "will c1 will/c1=bye at 12345\n";
	unsigned long long slo, shi, llo, lhi;
	struct store_conf cf;
	struct seen seen;
	struct fix f;

	fix_init(&f);
	cf = fix_conf(&f, STORE_SYNC_BATCH);
	cf.compact_s = 1;
	fix_in_child(&f, &cf, compact_then_write, false);
	/* The snapshot replaced log 1; later writes are in logs of its generation or newer. */
	ck_assert_int_eq(fix_files(&f, "snap", &slo, &shi), 1);
	ck_assert_uint_ge(shi, 2);
	ck_assert_int_ge(fix_files(&f, "log", &llo, &lhi), 1);
	/* An older log may outlive a crash right after the snapshot: load ignores it. */
	ck_assert_uint_ge(lhi, shi);
	ck_assert_str_eq(fix_reload(&f, &cf, &seen), want);
	/* A clean close leaves one snapshot and no log. */
	ck_assert_int_eq(fix_files(&f, "snap", &slo, &shi), 1);
	ck_assert_int_eq(fix_files(&f, "log", &llo, &lhi), 0);
	ck_assert_str_eq(fix_reload(&f, &cf, &seen), want);
	fix_rm_rf(f.tmp);
}
END_TEST

/* Ten queued messages, each in its own batch, so each is its own log record. */
static void
write_ten(struct fix *f)
{
	struct store_sess c1 = {"c1", 5, 100, 0, NULL};
	char p[8];

	store_sess_put(f->h, &c1);
	for (uint64_t i = 1; i <= 10; i++) {
		snprintf(p, sizeof(p), "m%u", (unsigned)i);
		fix_put_q(f->h, "c1", i, p);
		ck_assert_int_eq(fix_barrier(f), 0);
	}
}

static bool
file_has(const char *path, const char *what)
{
	static char buf[8192];
	FILE *fp = fopen(path, "r");
	size_t n;

	ck_assert_ptr_nonnull(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return strstr(buf, what) != NULL;
}

static const struct {
	const char *name;
	int cut;  /* bytes cut off the end, or */
	int flip; /* the byte this far from the end inverted */
	const char *warning;
} damage[] = {
        {"torn tail", 5, 0, "record cut short"},
        {"torn header", 0, 0, "torn record header"},
        {"corrupt byte", 0, 3, "bad checksum"},
        {"zeroed tail", 0, 0, "zeroed or corrupt"},
};

static void
damage_log(const char *path, int i)
{
	struct stat st;
	int fd = open(path, O_RDWR);
	uint8_t b;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	if (damage[i].cut > 0)
		ck_assert_int_eq(ftruncate(fd, st.st_size - damage[i].cut), 0);
	if (i == 1)
		ck_assert_int_eq(pwrite(fd, "\x05\x00\x00", 3, st.st_size), 3);
	if (damage[i].flip > 0) {
		ck_assert_int_eq(pread(fd, &b, 1, st.st_size - damage[i].flip), 1);
		b = (uint8_t)~b;
		ck_assert_int_eq(pwrite(fd, &b, 1, st.st_size - damage[i].flip), 1);
	}
	if (i == 3)
		ck_assert_int_eq(ftruncate(fd, st.st_size + 4096), 0);
	close(fd);
}

/* cases: see damage[] - the good prefix loads, a warning names the file and the reason */
START_TEST(test_damaged_log_tail)
{
	char log[128], path[160], want[512] = "";
	struct store_conf cf;
	struct seen seen;
	struct fix f;

	fix_init(&f);
	cf = fix_conf(&f, STORE_SYNC_BATCH);
	fix_in_child(&f, &cf, write_ten, false);
	snprintf(path, sizeof(path), "%s/log-0000000000000001", f.dir);
	damage_log(path, _i);
	snprintf(log, sizeof(log), "%s/log.txt", f.tmp);
	ck_assert_int_eq(sl_log_set_dest(log), 0);
	for (int i = 1; i <= 9; i++) { /* as fix_dump sorts them: 1, 10, 2, ... */
		snprintf(want + strlen(want), sizeof(want) - strlen(want),
		         "q c1 %d q/t=m%d qos1 st0 pid0 r0 ids2:9\n", i, i);
		if (i == 1 && (_i == 1 || _i == 3)) /* the damage is after the tenth */
			strcat(want, "q c1 10 q/t=m10 qos1 st0 pid0 r0 ids2:9\n");
	}
	strcat(want, "sess c1 v5 exp 100 at 0\n");
	ck_assert_str_eq(fix_reload(&f, &cf, &seen), want);
	ck_assert_msg(file_has(log, "WARN store: '"), "%s: no warning", damage[_i].name);
	ck_assert_msg(file_has(log, "log-0000000000000001': "), "%s", damage[_i].name);
	ck_assert_msg(file_has(log, damage[_i].warning), "%s", damage[_i].name);
	ck_assert_str_eq(fix_reload(&f, &cf, &seen), want);
	fix_rm_rf(f.tmp);
}
END_TEST

/* cases: a flipped byte inside, the end cut off - the store refuses to open, and says why */
START_TEST(test_damaged_snapshot)
{
	struct store_conf cf;
	char path[160], *err = NULL;
	struct fix f;
	struct stat st;
	uint8_t b;
	int fd;

	fix_init(&f);
	cf = fix_conf(&f, STORE_SYNC_NONE);
	fix_open(&f, &cf, NULL);
	write_kinds(&f);
	ck_assert_int_eq(fix_barrier(&f), 0);
	fix_close(&f);
	snprintf(path, sizeof(path), "%s/snap-0000000000000002", f.dir);
	ck_assert_int_ge(fd = open(path, O_RDWR), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	if (_i == 0) {
		ck_assert_int_eq(pread(fd, &b, 1, st.st_size / 2), 1);
		b ^= 0x10;
		ck_assert_int_eq(pwrite(fd, &b, 1, st.st_size / 2), 1);
	} else {
		ck_assert_int_eq(ftruncate(fd, st.st_size - 17), 0); /* the END record */
	}
	close(fd);
	ck_assert_ptr_null(store_open(&cf, &err));
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, "snap-0000000000000002' is damaged") != NULL, "%s", err);
	if (_i == 1)
		ck_assert_msg(strstr(err, "(no end record)") != NULL, "%s", err);
	free(err);
	fix_rm_rf(f.tmp);
}
END_TEST

START_TEST(test_directory_lock)
{
	struct store_conf cf;
	struct store *st, *st2;
	char *err = NULL;
	struct stat sb;
	struct fix f;
	int status;
	pid_t pid;

	fix_init(&f);
	strcat(f.dir, "/a/b"); /* created with its parents, mode 0700 */
	cf = fix_conf(&f, STORE_SYNC_BATCH);
	st = store_open(&cf, &err);
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(stat(f.dir, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0700);
	ck_assert_ptr_null(store_open(&cf, &err));
	ck_assert_msg(strstr(err, "is in use by another process") != NULL, "%s", err);
	free(err);
	if ((pid = fork()) == 0) /* another process: the same */
		_exit(store_open(&cf, &err) == NULL && strstr(err, "in use") != NULL ? 0 : 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	store_close(st);
	st2 = store_open(&cf, &err);
	ck_assert_ptr_nonnull(st2);
	store_close(st2);
	fix_rm_rf(f.tmp);
}
END_TEST

struct burst {
	struct fix *f;
	int next, done, bad;
};

static void
on_burst(void *arg, int status)
{
	struct burst *b = arg;

	b->bad += status != 0;
	b->done++;
}

/* cases: always, batch, none - a barrier completes once what came before is durable */
START_TEST(test_barrier_sync_policies)
{
	static const enum store_sync mode[] = {STORE_SYNC_ALWAYS, STORE_SYNC_BATCH,
	                                       STORE_SYNC_NONE};
	struct store_conf cf;
	struct store_stats ss;
	struct burst b = {0};
	uint64_t s0;
	struct fix f;

	fix_init(&f);
	cf = fix_conf(&f, mode[_i]);
	fix_open(&f, &cf, NULL);
	for (uint64_t i = 1; i <= 20; i++) { /* one at a time: each needs its own sync */
		s0 = fix_syncs(&f);
		fix_put_q(f.h, "c1", i, "x");
		ck_assert(store_h_dirty(f.h));
		ck_assert_int_eq(fix_barrier(&f), 0);
		ck_assert(!store_h_dirty(f.h));
		store_stats(f.st, &ss);
		ck_assert_uint_eq(ss.pending, 0);
		ck_assert_uint_eq(ss.syncs, mode[_i] == STORE_SYNC_NONE ? 0 : s0 + 1);
	}
	s0 = fix_syncs(&f);
	for (b.next = 0; b.next < 200; b.next++) { /* a burst: BATCH and ALWAYS group them */
		fix_put_q(f.h, "c2", (uint64_t)b.next + 1, "y");
		ck_assert_int_eq(store_barrier(f.h, on_burst, &b), 0);
	}
	while (b.done < 200)
		uv_run(&f.loop, UV_RUN_ONCE);
	ck_assert_int_eq(b.bad, 0);
	ck_assert_uint_le(fix_syncs(&f) - s0, mode[_i] == STORE_SYNC_NONE ? 0 : 200);
	fix_close(&f);
	fix_rm_rf(f.tmp);
}
END_TEST

static uint64_t
timed_barrier(struct fix *f)
{
	uint64_t t0 = uv_hrtime();

	ck_assert_int_eq(fix_barrier(f), 0);
	return (uv_hrtime() - t0) / 1000000;
}

START_TEST(test_group_commit_waits_batch_ms)
{
	struct store_conf cf;
	struct fix f;

	fix_init(&f);
	cf = fix_conf(&f, STORE_SYNC_BATCH);
	cf.batch_ms = 300;
	fix_open(&f, &cf, NULL);
	fix_put_q(f.h, "c1", 1, "x");
	ck_assert_uint_ge(timed_barrier(&f), 200); /* the first sync is batch_ms after start */
	fix_put_q(f.h, "c1", 2, "x");
	ck_assert_uint_ge(timed_barrier(&f), 200); /* the next, batch_ms after that */
	ck_assert_uint_eq(fix_syncs(&f), 2);
	ck_assert_uint_lt(timed_barrier(&f), 200); /* nothing to sync: at once */
	fix_close(&f);
	fix_rm_rf(f.tmp);
}
END_TEST

/* Durable QoS 1 issue: fan-out subscribers are sent the same messages, so their queues hold
 * the same runs of seqs; in one group commit every put with its delete cancels out, and one
 * message per session, not deleted, is kept. (With seq XORed into the hash, these runs made
 * probe chains thousands long.) */
START_TEST(test_fanout_seqs_cancel_per_session)
{
	struct store_conf cf;
	char id[16];
	struct fix f;

	fix_init(&f);
	cf = fix_conf(&f, STORE_SYNC_BATCH);
	fix_open(&f, &cf, NULL);
	for (int s = 0; s < 20; s++) {
		struct store_sess ss = {id, 5, 100, 0, NULL};

		snprintf(id, sizeof(id), "sub%d", s);
		store_sess_put(f.h, &ss);
	}
	ck_assert_int_eq(fix_barrier(&f), 0);
	for (uint64_t seq = 1; seq <= 500; seq++) {
		for (int s = 0; s < 20; s++) {
			snprintf(id, sizeof(id), "sub%d", s);
			fix_put_q(f.h, id, seq, "x");
			if (seq < 500)
				store_q_del(f.h, id, seq);
		}
	}
	ck_assert_int_eq(fix_barrier(&f), 0);
	fix_close(&f);
	ck_assert_uint_eq(fix_reload_count(&cf), 20);
	fix_rm_rf(f.tmp);
}
END_TEST

#define CRASH_N 5000

static void
write_many(struct fix *f)
{
	struct store_sess c1 = {"c1", 5, 100, 0, NULL};

	store_sess_put(f->h, &c1);
	for (uint64_t i = 1; i <= CRASH_N; i++)
		fix_put_q(f->h, "c1", i, "payload");
}

/* cases: _exit, SIGKILL - everything before the barrier the child saw is there */
START_TEST(test_crash_keeps_barriered_writes)
{
	struct store_conf cf;
	struct fix f;

	fix_init(&f);
	cf = fix_conf(&f, STORE_SYNC_BATCH);
	fix_in_child(&f, &cf, write_many, _i == 1);
	ck_assert_uint_eq(fix_reload_count(&cf), CRASH_N);
	fix_rm_rf(f.tmp);
}
END_TEST

/* Under a file size limit of 256 KB: writes fail (EFBIG) once the log reaches it, so do the
 * barriers after them and store_ok(); the snapshot that follows (small: everything queued was
 * deleted) starts a new log and all is well again. */
static void
write_past_limit(struct fix *f)
{
	struct rlimit rl = {256 << 10, RLIM_INFINITY};
	struct store_sess c1 = {"c1", 5, 100, 0, NULL};
	char big[1024];
	uint64_t seq = 0;
	int rc = 0;

	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	store_sess_put(f->h, &c1);
	while (rc == 0 && seq < 1000) {
		for (int i = 0; i < 10; i++, seq++)
			fix_put_q(f->h, "c1", seq + 1, big);
		rc = fix_barrier(f);
		/* Deleted in a later batch: a put and its delete in one batch never reach the
		 * disk at all. */
		for (uint64_t d = seq - 9; d <= seq; d++)
			store_q_del(f->h, "c1", d);
	}
	ck_assert_int_eq(rc, -EFBIG);
	ck_assert(!store_ok(f->st));
	for (int i = 0; i < 200 && (rc != 0 || !store_ok(f->st)); i++) {
		usleep(10000);
		rc = fix_barrier(f); /* the snapshot heals the store in the background */
	}
	ck_assert_int_eq(rc, 0);
	ck_assert(store_ok(f->st));
	fix_put_q(f->h, "c1", 5000, "after");
}

START_TEST(test_write_failure_heals)
{
	struct store_conf cf;
	struct seen seen;
	struct fix f;

	fix_init(&f);
	cf = fix_conf(&f, STORE_SYNC_BATCH);
	fix_in_child(&f, &cf, write_past_limit, false);
	ck_assert_str_eq(fix_reload(&f, &cf, &seen), "q c1 5000 q/t=after qos1 st0 pid0 r0 ids2:9\n"
	                                             "sess c1 v5 exp 100 at 0\n");
	fix_rm_rf(f.tmp);
}
END_TEST

/* The QoS 1 path of a persistent subscriber, a window of publishes in flight: each is a Q_PUT
 * and a barrier (the PUBACK to the publisher waits for it), then a Q_STATE (sent) and a Q_DEL
 * (acknowledged). */
#define WINDOW 1024
#define CLIENTS 8

struct bench {
	struct fix *f;
	struct sl_msg *msg;
	uint64_t seq, ops, bars, lat_ns, t_end;
	int inflight;
};

struct bench_pub {
	struct bench *b;
	uint64_t seq, t0;
};

static void on_bench_bar(void *arg, int status);

static void
bench_pub(struct bench_pub *p)
{
	struct bench *b = p->b;
	struct store_q q = {.qos = 1, .msg = b->msg};
	char client[16];

	p->seq = q.seq = ++b->seq;
	snprintf(client, sizeof(client), "bench%u", (unsigned)(p->seq % CLIENTS));
	store_q_put(b->f->h, client, &q);
	p->t0 = uv_hrtime();
	ck_assert_int_eq(store_barrier(b->f->h, on_bench_bar, p), 0);
	b->ops++;
}

static void
on_bench_bar(void *arg, int status)
{
	struct bench_pub *p = arg;
	struct bench *b = p->b;
	char client[16];

	ck_assert_int_eq(status, 0);
	b->bars++;
	b->lat_ns += uv_hrtime() - p->t0;
	snprintf(client, sizeof(client), "bench%u", (unsigned)(p->seq % CLIENTS));
	store_q_state(b->f->h, client, p->seq, STORE_Q_SENT, (uint16_t)p->seq);
	store_q_del(b->f->h, client, p->seq);
	b->ops += 2;
	if (uv_hrtime() < b->t_end)
		bench_pub(p);
	else
		b->inflight--;
}

static const struct {
	enum store_sync sync;
	const char *name;
	int window;
} bench_cases[] = {
        {STORE_SYNC_BATCH, "batch", 1},    {STORE_SYNC_BATCH, "batch", 64},
        {STORE_SYNC_BATCH, "batch", 1024}, {STORE_SYNC_ALWAYS, "always", 1},
        {STORE_SYNC_ALWAYS, "always", 64}, {STORE_SYNC_ALWAYS, "always", 1024},
        {STORE_SYNC_NONE, "none", 1024},
};

/* cases: bench_cases[] - prints ops/s, barriers/s and the mean barrier latency */
START_TEST(test_bench_qos1_path)
{
	static struct bench_pub pubs[WINDOW];
	struct bench b = {0};
	struct store_conf cf;
	struct fix f;
	uint64_t t0, s0;
	double secs;

	fix_init(&f);
	cf = fix_conf(&f, bench_cases[_i].sync);
	fix_open(&f, &cf, NULL);
	b.f = &f;
	b.msg = fix_msg("bench/topic",
	                "a payload of some sixty bytes, like a small sensor reading");
	s0 = fix_syncs(&f);
	t0 = uv_hrtime();
	b.t_end = t0 + 500000000ull;
	for (b.inflight = 0; b.inflight < bench_cases[_i].window; b.inflight++) {
		pubs[b.inflight].b = &b;
		bench_pub(&pubs[b.inflight]);
	}
	while (b.inflight > 0)
		uv_run(&f.loop, UV_RUN_ONCE);
	secs = (double)(uv_hrtime() - t0) / 1e9;
	printf("store_file bench, sync %s, window %d: %.0f ops/s, %.0f barriers/s, mean barrier "
	       "latency %.0f us, %.0f fdatasyncs/s\n",
	       bench_cases[_i].name, bench_cases[_i].window, (double)b.ops / secs,
	       (double)b.bars / secs, (double)b.lat_ns / (double)b.bars / 1e3,
	       (double)(fix_syncs(&f) - s0) / secs);
	fflush(stdout);
	sl_msg_unref(b.msg);
	fix_close(&f);
	ck_assert_uint_eq(fix_reload_count(&cf), 0); /* every message was acknowledged */
	fix_rm_rf(f.tmp);
}
END_TEST

Suite *
store_file_suite(void)
{
	Suite *s = suite_create("store_file");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_round_trip_every_kind, 0, 3);
	tcase_add_test(tc, test_compaction_then_reload);
	tcase_add_loop_test(tc, test_damaged_log_tail, 0, (int)N(damage));
	tcase_add_loop_test(tc, test_damaged_snapshot, 0, 2);
	tcase_add_test(tc, test_directory_lock);
	tcase_add_loop_test(tc, test_barrier_sync_policies, 0, 3);
	tcase_add_test(tc, test_group_commit_waits_batch_ms);
	tcase_add_test(tc, test_fanout_seqs_cancel_per_session);
	tcase_add_loop_test(tc, test_crash_keeps_barriered_writes, 0, 2);
	tcase_add_test(tc, test_write_failure_heals);
	suite_add_tcase(s, tc);
	/* Figures, not checks: only when asked (tests/bench holds the benchmarks that count). */
	if (getenv("STARLING_BENCH") != NULL) {
		TCase *bench = tcase_create("bench");

		tcase_set_timeout(bench, 300);
		tcase_add_loop_test(bench, test_bench_qos1_path, 0, (int)N(bench_cases));
		suite_add_tcase(s, bench);
	}
	return s;
}
