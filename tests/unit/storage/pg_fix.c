/* tests/unit/storage/pg_fix.c - the PostgreSQL store tests' fixture (pg_fix.h). */
#include "pg_fix.h"

#include <check.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/base/sl_msg.h"
#include "storage/store_be.h"
#include "storage/store_image.h"

static char pg_dir[64];
static char pg_dsn[256];
static int pg_port;
static uint32_t pg_pool;

/* tests/services/postgres.sh, found from this file's path. */
static const char *
script(void)
{
	static char path[PATH_MAX];
	const char *cut = strstr(__FILE__, "/unit/storage/");

	snprintf(path, sizeof(path), "%.*s/services/postgres.sh", (int)(cut - __FILE__), __FILE__);
	return path;
}

const char *
pg_fix_bin(void)
{
	const char *bin = getenv("PG_BIN");

	return bin != NULL ? bin : "/usr/lib/postgresql/15/bin";
}

bool
pg_fix_have(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/postgres", pg_fix_bin());
	return access(path, X_OK) == 0;
}

int
pg_fix_free_port(void)
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
ctl(const char *cmd, char *out, size_t outlen)
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

int
pg_fix_ctl(const char *cmd)
{
	return ctl(cmd, NULL, 0);
}

static void
up(uint32_t pool)
{
	pg_pool = pool;
	strcpy(pg_dir, "/tmp/sl_pg.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(pg_dir));
	pg_port = pg_fix_free_port();
	ck_assert_int_eq(ctl("start", pg_dsn, sizeof(pg_dsn)), 0);
	ck_assert_msg(strstr(pg_dsn, "dbname=starling") != NULL, "DSN '%s'", pg_dsn);
}

void
pg_fix_up1(void)
{
	up(1);
}

void
pg_fix_up3(void)
{
	up(3);
}

void
pg_fix_down(void)
{
	char cmd[128];

	ctl("stop", NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pg_dir);
	ck_assert_int_eq(system(cmd), 0);
}

const char *
pg_fix_dsn(void)
{
	return pg_dsn;
}

int
pg_fix_port(void)
{
	return pg_port;
}

uint32_t
pg_fix_pool(void)
{
	return pg_pool;
}

struct store *
pg_fix_open_dsn(const char *dsn, const char *node)
{
	struct store_conf cf = {.pg_dsn = dsn, .node_name = node, .pg_pool = pg_pool};
	char *err = NULL;
	struct store *st = store_open(&cf, &err);

	ck_assert_msg(st != NULL, "store_open: %s", err != NULL ? err : "?");
	return st;
}

struct store *
pg_fix_open(const char *node)
{
	return pg_fix_open_dsn(pg_dsn, node);
}

static void
recf(struct pg_fix_rec *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r->len += (size_t)vsnprintf(r->buf + r->len, sizeof(r->buf) - r->len, fmt, ap);
	va_end(ap);
	ck_assert_uint_lt(r->len, sizeof(r->buf));
	r->n++;
}

static void
rec_msg(struct pg_fix_rec *r, const struct sl_msg *m)
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

/* A session: its record, then its parts. */
static int
v_image(void *arg, const struct store_image *img)
{
	static const struct store_be_visitor parts = {v_sess, v_sub, v_q, v_rx, v_will, NULL};

	return store_image_each(img, &parts, arg);
}

const struct store_visitor pg_fix_recorder = {v_image, NULL};

void
pg_fix_load(const char *node, struct pg_fix_rec *r)
{
	struct store *st = pg_fix_open(node);

	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(store_load(st, &pg_fix_recorder, r), 0);
	store_close(st);
}

struct sl_msg *
pg_fix_msg(const char *topic, const char *payload)
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

void
pg_fix_q_put(struct store_h *h, const char *id, uint64_t seq, uint16_t pid, uint8_t state,
             struct sl_msg *m)
{
	struct store_q q = {.seq = seq, .pid = pid, .qos = 1, .state = state, .msg = m};

	store_q_put(h, id, &q);
}

void
pg_fix_on_barrier(void *arg, int status)
{
	struct pg_fix_waiter *w = arg;

	w->done++;
	w->status = status;
}

int
pg_fix_barrier(uv_loop_t *loop, struct store_h *h)
{
	struct pg_fix_waiter w = {0, 0};

	ck_assert_int_eq(store_barrier(h, pg_fix_on_barrier, &w), 0);
	while (!w.done)
		uv_run(loop, UV_RUN_ONCE);
	return w.status;
}

void
pg_fix_close(uv_loop_t *loop, struct store_h *h, struct store *st)
{
	store_detach(h);
	uv_run(loop, UV_RUN_DEFAULT);
	store_close(st);
	ck_assert_int_eq(uv_loop_close(loop), 0);
}

PGconn *
pg_fix_connect(void)
{
	PGconn *c = PQconnectdb(pg_dsn);

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect: %s", PQerrorMessage(c));
	return c;
}

long
pg_fix_count(const char *sql)
{
	PGconn *c = pg_fix_connect();
	PGresult *res = PQexec(c, sql);
	long n;

	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
	n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	PQfinish(c);
	return n;
}
