/* tests/unit/storage/file_fix.c - the fixture of file_fix.h. */
#include "file_fix.h"

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/store_be.h"
#include "storage/store_image.h"

struct sl_bytes
fix_bv(const char *s)
{
	return sl_bytes_make(s, (uint32_t)strlen(s));
}

struct sl_msg *
fix_msg(const char *topic, const char *payload)
{
	struct sl_msg *m = sl_msg_new(fix_bv(topic), fix_bv("\x01\x01"), fix_bv(payload),
	                              fix_bv("pub"), 1, false);

	ck_assert_ptr_nonnull(m);
	m->expiry_at_ms = 77;
	return m;
}

void
fix_rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[512];

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		fix_rm_rf(sub);
	}
	closedir(d);
	rmdir(path);
}

void
fix_init(struct fix *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/sl_store_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->tmp));
	snprintf(f->dir, sizeof(f->dir), "%s/data", f->tmp);
}

struct store_conf
fix_conf(const struct fix *f, enum store_sync sync)
{
	struct store_conf cf = {.dir = f->dir, .sync = sync};

	return cf;
}

static void add(struct seen *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
add(struct seen *s, const char *fmt, ...)
{
	va_list ap;

	ck_assert_int_lt(s->n, (int)N(s->lines));
	va_start(ap, fmt);
	vsnprintf(s->lines[s->n++], sizeof(s->lines[0]), fmt, ap);
	va_end(ap);
}

/* Moves to part of client's records; they must not go back. */
static void
order(struct seen *s, const char *client, int part)
{
	if (strcmp(s->client, client) != 0) {
		snprintf(s->client, sizeof(s->client), "%s", client);
		s->part = part;
		s->last_seq = 0;
	}
	ck_assert_int_ge(part, s->part);
	s->part = part;
}

static int
v_sess(void *arg, const struct store_sess *ss)
{
	struct seen *s = arg;

	add(s, "sess %s v%u exp %u at %llu%s%s", ss->client_id, ss->version, ss->expiry,
	    (unsigned long long)ss->expire_at, ss->username != NULL ? " user " : "",
	    ss->username != NULL ? ss->username : "");
	return 0;
}

static int
v_sub(void *arg, const char *client, const struct store_sub *sub)
{
	struct seen *s = arg;

	order(s, client, 0);
	add(s, "sub %s %s o%u id%u", client, sub->filter, sub->options, sub->sub_id);
	return 0;
}

static int
v_q(void *arg, const char *client, const struct store_q *q)
{
	struct seen *s = arg;
	const struct sl_msg *m = q->msg;

	order(s, client, 1);
	ck_assert_uint_gt(q->seq, s->last_seq);
	s->last_seq = q->seq;
	ck_assert_int_eq(m->expiry_at_ms, 77);
	ck_assert_int_eq(m->props.len, 2);
	add(s, "q %s %llu %.*s=%.*s qos%u st%u pid%u r%d ids%u:%u", client,
	    (unsigned long long)q->seq, (int)m->topic.len, (const char *)m->topic.p,
	    (int)m->payload.len, (const char *)m->payload.p, q->qos, q->state, q->pid, q->retain,
	    q->n_sub_ids, q->n_sub_ids > 0 ? q->sub_ids[q->n_sub_ids - 1] : 0);
	return 0;
}

static int
v_rx(void *arg, const char *client, uint16_t pid)
{
	struct seen *s = arg;

	order(s, client, 2);
	add(s, "rx %s %u", client, pid);
	return 0;
}

static int
v_will(void *arg, const char *client, struct sl_msg *msg, uint64_t at_ms)
{
	struct seen *s = arg;

	order(s, client, 3);
	add(s, "will %s %.*s=%.*s at %llu", client, (int)msg->topic.len, (const char *)msg->topic.p,
	    (int)msg->payload.len, (const char *)msg->payload.p, (unsigned long long)at_ms);
	return 0;
}

static int
v_retain(void *arg, struct sl_msg *msg)
{
	struct seen *s = arg;

	add(s, "ret %.*s=%.*s", (int)msg->topic.len, (const char *)msg->topic.p,
	    (int)msg->payload.len, (const char *)msg->payload.p);
	return 0;
}

/* A session: its record, then its parts. */
static int
v_image(void *arg, const struct store_image *img)
{
	static const struct store_be_visitor parts = {v_sess, v_sub, v_q, v_rx, v_will, NULL};

	return store_image_each(img, &parts, arg);
}

const struct store_visitor fix_visitor = {v_image, v_retain};
const struct store_be_visitor fix_be_visitor = {v_sess, v_sub, v_q, v_rx, v_will, v_retain};

static int
cmp_line(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The lines seen, sorted, joined by '\n' (static: one at a time). */
const char *
fix_dump(struct seen *s)
{
	static char out[512 * 160];
	size_t off = 0;

	qsort(s->lines, (size_t)s->n, sizeof(s->lines[0]), cmp_line);
	out[0] = '\0';
	for (int i = 0; i < s->n; i++)
		off += (size_t)snprintf(out + off, sizeof(out) - off, "%s\n", s->lines[i]);
	return out;
}

/* Opens, loads into seen (may be NULL) and attaches. */
void
fix_open(struct fix *f, const struct store_conf *cf, struct seen *seen)
{
	struct seen scratch;
	char *err = NULL;

	f->st = store_open(cf, &err);
	ck_assert_msg(f->st != NULL, "store_open: %s", err != NULL ? err : "?");
	memset(seen != NULL ? seen : &scratch, 0, sizeof(scratch));
	ck_assert_int_eq(store_load(f->st, &fix_visitor, seen != NULL ? seen : &scratch), 0);
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	f->h = store_attach(f->st, &f->loop);
	ck_assert_ptr_nonnull(f->h);
}

static void
on_flag(void *arg, int status)
{
	int *flag = arg;

	*flag = status == 0 ? 1 : status;
}

/* Waits for a barrier; returns its status. */
int
fix_barrier(struct fix *f)
{
	int flag = 0;

	ck_assert_int_eq(store_barrier(f->h, on_flag, &flag), 0);
	while (flag == 0)
		uv_run(&f->loop, UV_RUN_ONCE);
	return flag == 1 ? 0 : flag;
}

void
fix_close(struct fix *f)
{
	store_detach(f->h);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
	store_close(f->st);
	f->st = NULL;
}

/* Opens the directory again and reports what it holds (sorted lines). */
const char *
fix_reload(struct fix *f, const struct store_conf *cf, struct seen *seen)
{
	fix_open(f, cf, seen);
	fix_close(f);
	return fix_dump(seen);
}

/* Runs fn in a child process on a store of cf, which then dies without closing anything:
 * _exit after its last barrier (kill9: the parent kills it with SIGKILL instead). */
void
fix_in_child(struct fix *f, const struct store_conf *cf, void (*fn)(struct fix *), bool kill9)
{
	int fds[2], status;
	char c = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		fix_open(f, cf, NULL);
		fn(f);
		c = fix_barrier(f) == 0 ? 'y' : 'n';
		if (write(fds[1], &c, 1) != 1 || !kill9)
			_exit(c == 'y' ? 0 : 1);
		for (;;)
			pause();
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	ck_assert_int_eq(c, 'y');
	close(fds[0]);
	if (kill9)
		kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(kill9 ? WIFSIGNALED(status) : WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

void
fix_put_q(struct store_h *h, const char *client, uint64_t seq, const char *payload)
{
	struct sl_msg *m = fix_msg("q/t", payload);
	struct store_q q = {.seq = seq, .qos = 1, .msg = m, .n_sub_ids = 2, .sub_ids = {3, 9}};

	store_q_put(h, client, &q);
	sl_msg_unref(m);
}

/* Files named prefix-<gen> in dir: how many, and the lowest and highest gen. */
int
fix_files(const struct fix *f, const char *prefix, unsigned long long *lo, unsigned long long *hi)
{
	DIR *d = opendir(f->dir);
	struct dirent *e;
	size_t n = strlen(prefix);
	int count = 0;

	*lo = ~0ull;
	*hi = 0;
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		unsigned long long g;

		if (strncmp(e->d_name, prefix, n) != 0 || strlen(e->d_name) != n + 17)
			continue;
		g = strtoull(e->d_name + n + 1, NULL, 16);
		*lo = g < *lo ? g : *lo;
		*hi = g > *hi ? g : *hi;
		count++;
	}
	closedir(d);
	return count;
}

uint64_t
fix_syncs(const struct fix *f)
{
	struct store_stats ss;

	store_stats(f->st, &ss);
	return ss.syncs;
}

/* Counts the queued messages of a session, checking their order. */
static int
count_q(void *arg, const struct store_image *img)
{
	for (uint32_t i = 1; i < img->n_q; i++)
		ck_assert_uint_gt(img->q[i].seq, img->q[i - 1].seq);
	*(uint64_t *)arg += img->n_q;
	return 0;
}

uint64_t
fix_reload_count(const struct store_conf *cf)
{
	struct store_visitor v = {.image = count_q};
	uint64_t n = 0;
	char *err = NULL;
	struct store *st = store_open(cf, &err);

	ck_assert_msg(st != NULL, "%s", err);
	ck_assert_int_eq(store_load(st, &v, &n), 0);
	store_close(st);
	return n;
}
