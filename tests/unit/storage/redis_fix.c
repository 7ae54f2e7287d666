/* tests/unit/storage/redis_fix.c - the Redis store tests' fixture (redis_fix.h). */
#include "redis_fix.h"

#include <arpa/inet.h>
#include <check.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/base/sl_alloc.h"

static char srv_dir[PATH_MAX];
static int srv_port;
static int srv_state;        /* 1 up, -1 no redis-server here */
static const char *srv_pass; /* the server requires it */

static struct sl_bytes
bv(const char *s)
{
	return sl_bytes_make(s, (uint32_t)strlen(s));
}

uint64_t
redis_fix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
redis_fix_sleep(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static const char *
script(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("STARLING_REDIS_SH");
	char *p;

	if (env != NULL)
		return env;
	/* CMake compiles with absolute paths: .../tests/unit/storage/redis_fix.c */
	snprintf(path, sizeof(path), "%s", __FILE__);
	p = strstr(path, "/unit/storage/");
	ck_assert_ptr_nonnull(p);
	snprintf(p, sizeof(path) - (size_t)(p - path), "/services/redis.sh");
	return path;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
	char cmd[PATH_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

int
redis_fix_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

void
redis_fix_start(void)
{
	int rc = sh("'%s' start '%s' %d %s%s >/dev/null", script(), srv_dir, srv_port,
	            srv_pass != NULL ? "--requirepass " : "", srv_pass != NULL ? srv_pass : "");

	ck_assert_msg(rc == 0, "redis.sh start failed (%d); see %s/redis.log", rc, srv_dir);
}

void
redis_fix_kill9(void)
{
	ck_assert_int_eq(sh("'%s' kill '%s'", script(), srv_dir), 0);
}

/* Unchecked fixtures: one server per test case, in the runner (the forked tests inherit it). */
static void
srv_up(const char *pass)
{
	char pid[32];

	srv_pass = pass;
	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		srv_state = -1;
		return;
	}
	snprintf(srv_dir, sizeof(srv_dir), "%s/sl_redis_XXXXXX",
	         getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(srv_dir));
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("REDIS_OWNER_PID", pid, 1); /* a runner killed on a timeout takes redis along */
	srv_port = redis_fix_free_port();
	redis_fix_start();
	srv_state = 1;
}

void
redis_fix_up(void)
{
	srv_up(NULL);
}

void
redis_fix_up_pass(void)
{
	srv_up(REDIS_FIX_PASS);
}

void
redis_fix_down(void)
{
	if (srv_state != 1)
		return;
	sh("'%s' stop '%s'", script(), srv_dir);
	sh("rm -rf '%s'", srv_dir);
	srv_state = 0;
}

bool
redis_fix_have(void)
{
	if (srv_state < 0)
		printf("skipped: no redis-server\n");
	return srv_state > 0;
}

redisContext *
redis_fix_connect(int db)
{
	redisContext *c = redisConnect("127.0.0.1", srv_port);

	ck_assert_msg(c != NULL && c->err == 0, "connect: %s", c != NULL ? c->errstr : "?");
	if (srv_pass != NULL)
		freeReplyObject(redisCommand(c, "AUTH %s", srv_pass));
	freeReplyObject(redisCommand(c, "SELECT %d", db));
	return c;
}

redisReply *
redis_fix_cmd(int db, const char *fmt, ...)
{
	redisContext *c = redis_fix_connect(db);
	redisReply *rep;
	va_list ap;

	va_start(ap, fmt);
	rep = redisvCommand(c, fmt, ap);
	va_end(ap);
	ck_assert_ptr_nonnull(rep);
	redisFree(c);
	return rep;
}

long long
redis_fix_int(int db, const char *cmd, const char *key)
{
	redisReply *rep = redis_fix_cmd(db, "%s %s", cmd, key);
	long long v = rep->integer;

	ck_assert_msg(rep->type == REDIS_REPLY_INTEGER, "%s %s: %s", cmd, key,
	              rep->type == REDIS_REPLY_ERROR ? rep->str : "not an integer");
	freeReplyObject(rep);
	return v;
}

static void
on_changed(void *arg, const char *topic, struct sl_msg *m)
{
	struct redis_fix_rec *r = arg;

	pthread_mutex_lock(&r->mu);
	snprintf(r->topic, sizeof(r->topic), "%s", topic);
	r->gone = m == NULL;
	if (m != NULL) {
		snprintf(r->payload, sizeof(r->payload), "%.*s", (int)m->payload.len,
		         (const char *)m->payload.p);
		if (r->puts++ == 0)
			snprintf(r->first_put, sizeof(r->first_put), "%s", topic);
	} else {
		r->dels++;
	}
	pthread_mutex_unlock(&r->mu);
	sl_msg_unref(m);
}

bool
redis_fix_heard(struct redis_fix_rec *r, const char *topic, const char *payload)
{
	bool ok;

	pthread_mutex_lock(&r->mu);
	ok = strcmp(r->topic, topic) == 0 &&
	     (payload == NULL ? r->gone : !r->gone && strcmp(r->payload, payload) == 0);
	pthread_mutex_unlock(&r->mu);
	return ok;
}

struct store *
redis_fix_open(int db, const char *pass, const char *node, struct redis_fix_rec *rec, char **errp)
{
	struct store_conf cf = {0};
	char url[160], *err = NULL;
	struct store *st;

	if (pass != NULL)
		snprintf(url, sizeof(url), "redis://:%s@127.0.0.1:%d/%d", pass, srv_port, db);
	else
		snprintf(url, sizeof(url), "redis://127.0.0.1:%d/%d", srv_port, db);
	cf.redis_url = url;
	cf.node_name = node;
	cf.retain_changed = rec != NULL ? on_changed : NULL;
	cf.retain_arg = rec;
	st = store_open(&cf, &err);
	if (errp != NULL) {
		*errp = err;
		return st;
	}
	ck_assert_msg(st != NULL, "store_open: %s", err != NULL ? err : "?");
	return st;
}

static int
on_load_retain(void *arg, struct sl_msg *m)
{
	struct redis_fix_loaded *ld = arg;

	if (ld->n == ld->cap) {
		ld->cap = ld->cap != 0 ? ld->cap * 2 : 64;
		ld->v = realloc(ld->v, ld->cap * sizeof(*ld->v));
		ck_assert_ptr_nonnull(ld->v);
	}
	ld->v[ld->n++] = sl_msg_ref(m);
	return 0;
}

void
redis_fix_load(struct store *st, struct redis_fix_loaded *ld)
{
	struct store_visitor v = {.retain = on_load_retain};

	ck_assert_int_eq(store_load(st, &v, ld), 0);
}

struct sl_msg *
redis_fix_find(const struct redis_fix_loaded *ld, const char *topic)
{
	for (size_t i = 0; i < ld->n; i++)
		if (ld->v[i]->topic.len == strlen(topic) &&
		    memcmp(ld->v[i]->topic.p, topic, ld->v[i]->topic.len) == 0)
			return ld->v[i];
	return NULL;
}

void
redis_fix_loaded_fini(struct redis_fix_loaded *ld)
{
	for (size_t i = 0; i < ld->n; i++)
		sl_msg_unref(ld->v[i]);
	free(ld->v);
	memset(ld, 0, sizeof(*ld));
}

void
redis_fix_on_bar(void *arg, int status)
{
	struct redis_fix_bwait *b = arg;

	b->done = true;
	b->status = status;
}

int
redis_fix_barrier(uv_loop_t *loop, struct store_h *h)
{
	struct redis_fix_bwait b = {false, 0};
	uint64_t t0 = redis_fix_ms();

	ck_assert_int_eq(store_barrier(h, redis_fix_on_bar, &b), 0);
	while (!b.done) {
		uv_run(loop, UV_RUN_ONCE);
		ck_assert_msg(redis_fix_ms() - t0 < 15000, "barrier not done in 15 s");
	}
	return b.status;
}

void
redis_fix_close(uv_loop_t *loop, struct store *st, struct store_h *h)
{
	store_detach(h);
	uv_run(loop, UV_RUN_NOWAIT);
	store_close(st);
}

struct sl_msg *
redis_fix_msg(const char *topic, const char *payload, uint64_t expiry_at_ms)
{
	static const char props[] = "\x03\x00\x04json"; /* content type "json" */
	struct sl_msg *m = sl_msg_new(bv(topic), sl_bytes_make(props, sizeof(props) - 1),
	                              bv(payload), bv("pub-1"), 1, true);

	ck_assert_ptr_nonnull(m);
	m->expiry_at_ms = expiry_at_ms;
	m->payload_format = 1;
	return m;
}

void
redis_fix_put(struct store_h *h, const char *topic, const char *payload, uint64_t expiry_at_ms)
{
	struct sl_msg *m = redis_fix_msg(topic, payload, expiry_at_ms);

	store_retain_put(h, m);
	sl_msg_unref(m);
}

void
redis_fix_assert_msg(const struct sl_msg *m, const char *payload, uint64_t expiry_at_ms)
{
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->payload.len, strlen(payload));
	ck_assert(memcmp(m->payload.p, payload, m->payload.len) == 0);
	ck_assert_uint_eq(m->props.len, 7);
	ck_assert(memcmp(m->props.p, "\x03\x00\x04json", 7) == 0);
	ck_assert_uint_eq(m->sender.len, 5);
	ck_assert_uint_eq(m->qos, 1);
	ck_assert(m->retain);
	ck_assert_uint_eq(m->payload_format, 1);
	ck_assert_uint_eq(m->expiry_at_ms, expiry_at_ms);
}

void
redis_fix_rec_init(struct redis_fix_rec *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
}
