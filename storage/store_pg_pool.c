/* storage/store_pg_pool.c - sessions in PostgreSQL: the backend's ops, on its own thread and
 * loop, over a pool of postgres_pool connections (each one run by store_pg.c).
 *
 * Routing: a write goes to the connection its client id hashes to, so one session's writes
 * stay in order on one connection (they are the only ones touching its rows, so the
 * connections never wait on each other's locks). Writes of different sessions may commit in
 * any order.
 *
 * Barriers: a BARRIER must follow every earlier write on every connection, so it sends a mark
 * down each connection's queue and is done once all marks have passed (store_pg_bar). A
 * connection with nothing queued passes its mark at once, and a busy one with nothing waiting
 * lets it ride its newest transaction in flight: a barrier costs no transaction of its own.
 * Still, it waits for the slowest connection, and a burst split three ways commits as three
 * smaller transactions: more connections pay off only when one server process is the limit.
 *
 * Up and down: each connection reconnects and replays on its own (store_pg.c); store_ok() is
 * false while any of them is down. At stop we flush every connection for up to STOP_FLUSH_MS,
 * then fail the rest with -ECANCELED. */
#include "store_pg_int.h"

#include <errno.h>
#include <inttypes.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/base/sl_log.h"

#define STOP_FLUSH_MS 2000

/* FNV-1a of the client id: which connection carries its session's writes. */
static struct store_pg_conn *
route(struct store_pg *pg, const char *key)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)key; p != NULL && *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return &pg->pool[h % pg->n_conn];
}

void
store_pg_mark_passed(struct store_pg_conn *pc, struct store_op *mark, int status)
{
	struct store_pg_bar *b = container_of(mark - pc->idx, struct store_pg_bar, mark);

	SL_ASSERT(b->left > 0);
	if (status < 0 && b->status == 0)
		b->status = status;
	if (--b->left > 0)
		return;
	store_be_done(pc->pg->core, b->op, b->status);
	sl_free(b);
}

/* Takes op (a BARRIER) and sends a mark down every connection. */
static void
barrier(struct store_pg *pg, struct store_op *op)
{
	struct store_pg_bar *b = sl_calloc(1, sizeof(*b) + pg->n_conn * sizeof(b->mark[0]));

	if (b == NULL) {
		store_be_done(pg->core, op, -ENOMEM);
		return;
	}
	b->op = op;
	b->left = pg->n_conn;
	/* The last mark may pass at once and free b: b is not touched after it is queued. */
	for (uint32_t i = 0; i < pg->n_conn; i++) {
		b->mark[i].kind = SOP_BARRIER;
		store_pg_conn_queue(&pg->pool[i], &b->mark[i]);
	}
}

void
store_pg_set_down(struct store_pg_conn *pc, bool down)
{
	struct store_pg *pg = pc->pg;

	if (pc->down == down)
		return;
	pc->down = down;
	if (down)
		pg->n_down++;
	else
		pg->n_down--;
	store_be_set_up(pg->core, pg->n_down == 0);
}

static void
shutdown_pool(struct store_pg *pg)
{
	uint32_t n = 0;

	if (pg->closed)
		return;
	pg->closed = true;
	for (uint32_t i = 0; i < pg->n_conn; i++)
		n += store_pg_conn_shutdown(&pg->pool[i]);
	if (n > 0)
		LOG_WARN("store", "PostgreSQL: %" PRIu32 " writes not committed at stop", n);
	uv_close((uv_handle_t *)&pg->stop_timer, NULL);
}

void
store_pg_check_stop(struct store_pg *pg)
{
	if (!pg->stopping || pg->closed)
		return;
	for (uint32_t i = 0; i < pg->n_conn; i++)
		if (!store_pg_conn_idle(&pg->pool[i]))
			return;
	shutdown_pool(pg);
}

static void
on_stop_timer(uv_timer_t *t)
{
	shutdown_pool(t->data);
}

static int
pg_start(void *be, uv_loop_t *loop, struct store_be *core)
{
	struct store_pg *pg = be;

	pg->loop = loop;
	pg->core = core;
	uv_timer_init(loop, &pg->stop_timer);
	pg->stop_timer.data = pg;
	for (uint32_t i = 0; i < pg->n_conn; i++) {
		pg->pool[i].pg = pg;
		pg->pool[i].idx = i;
	}
	/* The first takes open's connection, the others connect now. */
	for (uint32_t i = 0; i < pg->n_conn; i++)
		store_pg_conn_start(&pg->pool[i], i == 0 ? pg->conn : NULL);
	pg->conn = NULL;
	return 0;
}

static void
pg_submit(void *be, struct store_op *head, struct store_op *tail, uint32_t n)
{
	struct store_pg *pg = be;

	(void)tail; /* the list is walked anyway */
	(void)n;
	for (struct store_op *next; head != NULL; head = next) {
		next = head->next;
		if (head->kind == SOP_BARRIER)
			barrier(pg, head);
		else if (head->kind >= STORE_PG_NSTMT)
			store_be_done(pg->core, head, -EOPNOTSUPP); /* retained: not kept here */
		else
			store_pg_conn_queue(route(pg, head->key), head);
	}
	for (uint32_t i = 0; i < pg->n_conn; i++)
		store_pg_conn_pump(&pg->pool[i]);
}

static void
pg_stop(void *be)
{
	struct store_pg *pg = be;

	pg->stopping = true;
	store_pg_check_stop(pg);
	if (!pg->closed)
		uv_timer_start(&pg->stop_timer, on_stop_timer, STOP_FLUSH_MS, 0);
}

const struct store_be_ops store_pg_ops = {
        .name = "pg",
        .open = store_pg_open,
        .load = store_pg_load,
        .start = pg_start,
        .submit = pg_submit,
        .stop = pg_stop,
        .free = store_pg_free,
};
