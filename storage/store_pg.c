/* storage/store_pg.c - sessions in PostgreSQL: the backend's runtime, on its own thread and
 * loop. One non-blocking libpq connection in pipeline mode, watched with uv_poll. The ops
 * handed over are sent as transactions (one prepared statement per write, then a Sync, which
 * commits them together), up to STORE_PG_INFLIGHT at once; while those commit, newer ops wait
 * and go together in the next one. An op is done when its transaction's Sync comes back with
 * no error, so a barrier is done once every earlier write has committed.
 *
 * Failure: when the connection drops, store_ok() turns false and every op not yet answered goes
 * back to the front of the queue, in order; we reconnect with exponential backoff
 * (BACKOFF_MIN_MS .. BACKOFF_MAX_MS) and send them again. Some may have committed already:
 * the writes are upserts and deletes, so replaying them in order ends in the same rows. The
 * core bounds the backlog (max_pending). A transaction rejected for its data (SQLSTATE class
 * 22 or 23) is replayed one write per transaction, so only the offending write fails
 * (-EIO, and the next barrier fails with it). At stop we flush for up to STOP_FLUSH_MS, then
 * fail the rest with -ECANCELED. */
#include "store_pg_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/base/sl_log.h"
#include "store_codec.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 5000
#define STOP_FLUSH_MS 2000
#define RING (STORE_PG_INFLIGHT + 1)

struct store_pg_poll {
	uv_poll_t h; /* h.data: the backend */
	int fd;
};

static void conn_lost(struct store_pg *pg, const char *why, uint32_t solo);
static void connected(struct store_pg *pg);
static void pump(struct store_pg *pg);
static void on_poll(uv_poll_t *h, int status, int events);

static void
ops_append(struct store_op **head, struct store_op **tail, struct store_op *op)
{
	op->next = NULL;
	if (*tail != NULL)
		(*tail)->next = op;
	else
		*head = op;
	*tail = op;
}

static struct store_pg_txn *
ring_at(struct store_pg *pg, uint32_t i)
{
	return &pg->ring[(pg->ring_head + i) % RING];
}

static struct store_pg_txn *
ring_push(struct store_pg *pg)
{
	struct store_pg_txn *t;

	SL_ASSERT(pg->ring_n < RING);
	t = ring_at(pg, pg->ring_n++);
	memset(t, 0, sizeof(*t));
	return t;
}

/* Completes a list of ops: writes with status; a barrier fails if it did or if any write
 * failed since the previous barrier. */
static uint32_t
finish_ops(struct store_pg *pg, struct store_op *op, int status)
{
	uint32_t n = 0;

	for (struct store_op *next; op != NULL; op = next, n++) {
		int st = status;

		next = op->next;
		if (op->kind == SOP_BARRIER) {
			if (pg->lost && st == 0)
				st = -EIO;
			pg->lost = false;
		} else if (status < 0) {
			pg->lost = true;
		}
		store_be_done(pg->core, op, st);
	}
	return n;
}

static bool
drained(struct store_pg *pg)
{
	return pg->wait == NULL && (pg->ring_n == 0 || (pg->ring_n == 1 && ring_at(pg, 0)->prep));
}

static void
on_poll_closed(uv_handle_t *h)
{
	sl_free(container_of(h, struct store_pg_poll, h));
}

static void
unwatch(struct store_pg *pg)
{
	if (pg->poll == NULL)
		return;
	uv_close((uv_handle_t *)&pg->poll->h, on_poll_closed); /* stops it now */
	pg->poll = NULL;
	pg->poll_events = 0;
}

/* Watches PQsocket(conn) for events. libpq may replace the socket while connecting, and a uv
 * poll handle is bound to one fd, so a new fd gets a new handle. */
static int
watch(struct store_pg *pg, int events)
{
	int fd = PQsocket(pg->conn), rc;
	struct store_pg_poll *p = pg->poll;

	if (fd < 0)
		return -EBADF;
	if (p != NULL && p->fd != fd) {
		unwatch(pg);
		p = NULL;
	}
	if (p == NULL) {
		if ((p = sl_calloc(1, sizeof(*p))) == NULL)
			return -ENOMEM;
		if ((rc = uv_poll_init(pg->loop, &p->h, fd)) < 0) {
			sl_free(p);
			return rc;
		}
		p->fd = fd;
		p->h.data = pg;
		pg->poll = p;
	}
	if (events == pg->poll_events)
		return 0;
	if ((rc = uv_poll_start(&p->h, events, on_poll)) == 0)
		pg->poll_events = events;
	return rc;
}

static void
shutdown_pg(struct store_pg *pg)
{
	uint32_t n = 0;

	if (pg->closed)
		return;
	pg->closed = true;
	for (uint32_t i = 0; i < pg->ring_n; i++)
		n += finish_ops(pg, ring_at(pg, i)->head, -ECANCELED);
	pg->ring_n = 0;
	n += finish_ops(pg, pg->wait, -ECANCELED);
	pg->wait = pg->wait_tail = NULL;
	if (n > 0)
		LOG_WARN("store", "PostgreSQL: %" PRIu32 " writes not committed at stop", n);
	unwatch(pg);
	PQfinish(pg->conn);
	pg->conn = NULL;
	uv_close((uv_handle_t *)&pg->retry, NULL);
	uv_close((uv_handle_t *)&pg->stop_timer, NULL);
}

static void
on_stop_timer(uv_timer_t *t)
{
	shutdown_pg(t->data);
}

/* The PREPAREs of a new connection are back: writes may flow. */
static void
ready(struct store_pg *pg)
{
	pg->state = STORE_PG_READY;
	pg->backoff_ms = BACKOFF_MIN_MS;
	if (pg->ever_ready) {
		store_be_count_reconnect(pg->core);
		LOG_NOTICE("store", "PostgreSQL reconnected, %s writes to resend",
		           pg->wait != NULL ? "some" : "no");
	}
	pg->ever_ready = true;
	store_be_set_up(pg->core, true);
}

static void
txn_end(struct store_pg *pg)
{
	struct store_pg_txn t = *ring_at(pg, 0);

	if (t.failed && t.writes > 1) {
		/* One write spoiled the transaction: replay from here on, these ops one write
		 * per transaction, on a fresh connection (the later transactions in flight
		 * must not overtake them). */
		conn_lost(pg, "isolating a write PostgreSQL rejected", t.nops);
		return;
	}
	pg->ring_head = (pg->ring_head + 1) % RING;
	pg->ring_n--;
	if (t.prep) {
		ready(pg);
		return;
	}
	if (t.writes > 0 && !t.failed)
		store_be_count_sync(pg->core);
	finish_ops(pg, t.head, t.failed ? -EIO : 0);
	if (pg->stopping && drained(pg))
		shutdown_pg(pg);
}

/* An error that is not about this transaction's data: the connection, the server or the
 * schema is in trouble, so keep the ops and reconnect. */
static bool
server_trouble(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

	if (state == NULL || sev == NULL || strcmp(sev, "ERROR") != 0)
		return true; /* libpq's own (connection lost), or FATAL/PANIC */
	return strncmp(state, "22", 2) != 0 && strncmp(state, "23", 2) != 0;
}

static void
on_result(struct store_pg *pg, PGresult *res)
{
	struct store_pg_txn *t = ring_at(pg, 0);

	switch (PQresultStatus(res)) {
	case PGRES_PIPELINE_SYNC:
		txn_end(pg);
		break;
	case PGRES_FATAL_ERROR:
		if (t->prep || server_trouble(res)) {
			conn_lost(pg, PQresultErrorMessage(res), 0);
			break;
		}
		if (!t->failed)
			LOG_WARN("store", "PostgreSQL rejected a write: %s",
			         PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		t->failed = true;
		break;
	case PGRES_PIPELINE_ABORTED:
		t->failed = true;
		break;
	default:
		break;
	}
}

static void
read_results(struct store_pg *pg)
{
	int nulls = 0;
	PGresult *res;

	while (pg->conn != NULL && pg->ring_n > 0 && !PQisBusy(pg->conn)) {
		res = PQgetResult(pg->conn);
		if (res == NULL) {
			/* One ends each statement's results; two in a row: nothing more now. */
			if (++nulls > 1)
				break;
			continue;
		}
		nulls = 0;
		on_result(pg, res);
		PQclear(res);
	}
}

static void
connect_step(struct store_pg *pg)
{
	PostgresPollingStatusType st;
	int rc = 0;

	/* libpq may close the socket inside PQconnectPoll: never while we poll it. */
	if (pg->poll != NULL && pg->poll_events != 0) {
		uv_poll_stop(&pg->poll->h);
		pg->poll_events = 0;
	}
	st = PQconnectPoll(pg->conn);
	if (st == PGRES_POLLING_READING)
		rc = watch(pg, UV_READABLE);
	else if (st == PGRES_POLLING_WRITING)
		rc = watch(pg, UV_WRITABLE);
	else if (st != PGRES_POLLING_OK)
		rc = -ECONNREFUSED;
	if (rc < 0) {
		conn_lost(pg, PQerrorMessage(pg->conn), 0);
		return;
	}
	if (st == PGRES_POLLING_OK) {
		uv_timer_stop(&pg->retry); /* the connect deadline */
		connected(pg);
	}
}

static void
on_retry(uv_timer_t *timer)
{
	struct store_pg *pg = timer->data;

	if (pg->state == STORE_PG_CONNECTING) {
		conn_lost(pg, "connect timed out", 0);
		return;
	}
	SL_ASSERT(pg->state == STORE_PG_DOWN);
	pg->conn = PQconnectStartParams(pg->kw, pg->val, 0);
	if (pg->conn == NULL || PQstatus(pg->conn) == CONNECTION_BAD ||
	    PQsetnonblocking(pg->conn, 1) != 0) {
		conn_lost(pg, pg->conn != NULL ? PQerrorMessage(pg->conn) : "out of memory", 0);
		return;
	}
	pg->state = STORE_PG_CONNECTING;
	uv_timer_start(&pg->retry, on_retry, CONNECT_TIMEOUT_MS, 0);
	/* [libpq] after PQconnectStart, act as if PQconnectPoll had said PGRES_POLLING_WRITING */
	if (watch(pg, UV_WRITABLE) < 0)
		conn_lost(pg, "cannot watch the socket", 0);
}

/* Everything unanswered goes back to the front of the queue, in order, and we reconnect:
 * after the backoff, or at once when solo > 0 (the head transaction's solo ops are to be
 * replayed one write at a time; the server is fine). */
static void
conn_lost(struct store_pg *pg, const char *why, uint32_t solo)
{
	struct store_op *head = NULL, *tail = NULL;
	bool isolate = solo > 0;
	uint32_t delay = 0;

	if (pg->closed)
		return;
	if (!isolate && pg->state >= STORE_PG_PREPARING)
		LOG_WARN("store", "PostgreSQL connection lost: %.*s", (int)strcspn(why, "\n"), why);
	else if (!isolate)
		LOG_INFO("store", "PostgreSQL connect failed: %.*s", (int)strcspn(why, "\n"), why);
	unwatch(pg);
	PQfinish(pg->conn); /* why may point into conn: not used past here */
	pg->conn = NULL;
	for (uint32_t i = 0; i < pg->ring_n; i++) {
		struct store_pg_txn *t = ring_at(pg, i);

		if (t->solo)
			solo += t->nops;
		if (t->head == NULL)
			continue;
		if (tail != NULL)
			tail->next = t->head;
		else
			head = t->head;
		tail = t->tail;
	}
	pg->ring_n = 0;
	if (tail != NULL) {
		tail->next = pg->wait;
		if (pg->wait == NULL)
			pg->wait_tail = tail;
		pg->wait = head;
	}
	pg->solo += solo;
	if (!isolate || pg->state != STORE_PG_READY) {
		store_be_set_up(pg->core, false);
		delay = pg->backoff_ms;
		pg->backoff_ms =
		        pg->backoff_ms * 2 < BACKOFF_MAX_MS ? pg->backoff_ms * 2 : BACKOFF_MAX_MS;
	}
	pg->state = STORE_PG_DOWN;
	uv_timer_start(&pg->retry, on_retry, delay, 0);
}

/* A new connection (or open's): pipeline mode, then the statements' PREPAREs. */
static void
connected(struct store_pg *pg)
{
	struct store_pg_txn *t;
	char name[8];

	store_pg_quiet(pg->conn);
	if (PQsetnonblocking(pg->conn, 1) != 0 || PQenterPipelineMode(pg->conn) != 1)
		goto lost;
	t = ring_push(pg);
	t->prep = true;
	for (int k = 0; k < STORE_PG_NSTMT; k++) {
		snprintf(name, sizeof(name), "s%d", k);
		if (!PQsendPrepare(pg->conn, name, store_pg_stmt[k], store_pg_stmt_nparams[k],
		                   NULL))
			goto lost;
	}
	if (!PQpipelineSync(pg->conn))
		goto lost;
	pg->state = STORE_PG_PREPARING;
	pump(pg);
	return;
lost:
	conn_lost(pg, PQerrorMessage(pg->conn), 0);
}

/* One statement's parameters: text, but for the message bodies (binary bytea). */
struct params {
	const char *v[9];
	int len[9], fmt[9];
	int n, nnum;
	char num[7][24];
	char ids[STORE_MAX_SUB_IDS * 11 + 3];
};

static void
add(struct params *p, const char *s)
{
	p->v[p->n] = s;
	p->len[p->n] = 0;
	p->fmt[p->n++] = 0;
}

static void
add_u(struct params *p, uint64_t v)
{
	snprintf(p->num[p->nnum], sizeof(p->num[0]), "%" PRIu64, v);
	add(p, p->num[p->nnum++]);
}

/* A uint64 kept bit for bit in a bigint. */
static void
add_i64(struct params *p, uint64_t v)
{
	snprintf(p->num[p->nnum], sizeof(p->num[0]), "%" PRId64, (int64_t)v);
	add(p, p->num[p->nnum++]);
}

static int
add_msg(struct store_pg *pg, struct params *p, const struct sl_msg *msg)
{
	if (store_msg_encode(&pg->scratch, msg) < 0)
		return -ENOMEM;
	p->v[p->n] = (const char *)pg->scratch.data;
	p->len[p->n] = (int)pg->scratch.len;
	p->fmt[p->n++] = 1;
	return 0;
}

static void
add_ids(struct params *p, const struct store_q *q)
{
	size_t off = 1;

	p->ids[0] = '{';
	for (uint8_t i = 0; i < q->n_sub_ids && i < STORE_MAX_SUB_IDS; i++)
		off += (size_t)snprintf(p->ids + off, sizeof(p->ids) - off, "%s%" PRIu32,
		                        i > 0 ? "," : "", q->sub_ids[i]);
	snprintf(p->ids + off, sizeof(p->ids) - off, "}");
	add(p, p->ids);
}

static int
fill(struct store_pg *pg, const struct store_op *op, struct params *p)
{
	add(p, pg->node);
	add(p, op->key);
	switch (op->kind) {
	case SOP_SESS_PUT:
		add_u(p, op->sess.version);
		add_u(p, op->sess.expiry);
		add_i64(p, op->sess.expire_at);
		add(p, op->sess.username); /* NULL: SQL NULL */
		break;
	case SOP_SUB_PUT:
		add(p, op->sub.filter);
		add_u(p, op->sub.options);
		add_u(p, op->sub.sub_id);
		break;
	case SOP_SUB_DEL:
		add(p, op->sub.filter);
		break;
	case SOP_Q_PUT:
		add_i64(p, op->q.seq);
		add_u(p, op->q.pid);
		add_u(p, op->q.qos);
		add_u(p, op->q.state);
		add(p, op->q.retain ? "t" : "f");
		add_ids(p, &op->q);
		return add_msg(pg, p, op->q.msg);
	case SOP_Q_STATE:
		add_i64(p, op->q.seq);
		add_u(p, op->q.state);
		add_u(p, op->q.pid);
		break;
	case SOP_Q_DEL:
		add_i64(p, op->q.seq);
		break;
	case SOP_RX_PUT:
	case SOP_RX_DEL:
		add_u(p, op->q.pid);
		break;
	case SOP_WILL_PUT:
		add_i64(p, op->at_ms);
		return add_msg(pg, p, op->msg);
	default: /* SESS_DEL, WILL_DEL: node and client id only */
		break;
	}
	return 0;
}

static int
send_op(struct store_pg *pg, const struct store_op *op)
{
	struct params p = {.n = 0};
	char name[8];

	pg->scratch.len = 0;
	if (fill(pg, op, &p) < 0)
		return -ENOMEM;
	SL_ASSERT(p.n == store_pg_stmt_nparams[op->kind]);
	snprintf(name, sizeof(name), "s%d", op->kind);
	return PQsendQueryPrepared(pg->conn, name, p.n, p.v, p.len, p.fmt, 0) ? 0 : -EIO;
}

/* Moves the oldest waiting ops into one transaction and sends it: the statements, then a Sync.
 * style: no BEGIN/COMMIT. The statements between two Syncs already run as one transaction,
 * committed at the Sync (durably: ReadyForQuery follows the commit record's flush) and rolled
 * back whole on an error. An explicit block would outlive a failed Sync ("current transaction
 * is aborted") and poison every transaction pipelined behind it.
 * An op leaves the queue only once sent: on failure conn_lost finds everything in order. */
static int
send_txn(struct store_pg *pg)
{
	struct store_pg_txn *t = ring_push(pg);
	uint32_t limit;

	t->solo = pg->solo > 0;
	limit = t->solo ? 1 : STORE_PG_TXN_OPS;
	while (pg->wait != NULL) {
		struct store_op *op = pg->wait;
		bool write = op->kind != SOP_BARRIER;

		if (write && (t->writes == limit || t->bytes >= STORE_PG_TXN_BYTES))
			break;
		if (write && send_op(pg, op) < 0)
			return -EIO;
		t->bytes += pg->scratch.len; /* message bodies dominate */
		if ((pg->wait = op->next) == NULL)
			pg->wait_tail = NULL;
		ops_append(&t->head, &t->tail, op);
		t->nops++;
		t->writes += write;
		if (pg->solo > 0)
			pg->solo--;
	}
	return PQpipelineSync(pg->conn) == 1 ? 0 : -EIO;
}

/* Sends what the pipeline has room for, flushes, and watches for what comes next. */
static void
pump(struct store_pg *pg)
{
	int rc;

	if (pg->conn == NULL)
		return;
	while (pg->state == STORE_PG_READY && pg->wait != NULL && pg->ring_n < STORE_PG_INFLIGHT) {
		if (send_txn(pg) < 0) {
			conn_lost(pg, PQerrorMessage(pg->conn), 0);
			return;
		}
	}
	rc = PQflush(pg->conn);
	if (rc < 0 || watch(pg, UV_READABLE | (rc == 1 ? UV_WRITABLE : 0)) < 0)
		conn_lost(pg, PQerrorMessage(pg->conn), 0);
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
	struct store_pg *pg = h->data;
	int ok;

	(void)events;
	if (pg->state == STORE_PG_CONNECTING) {
		/* A refused connect shows as POLLERR, which libuv reports as UV_EBADF: let
		 * PQconnectPoll read the socket's error and try the DSN's next host. */
		connect_step(pg);
		return;
	}
	ok = PQconsumeInput(pg->conn); /* on POLLERR too: it names the error */
	if (!ok || status < 0) {
		conn_lost(pg, !ok ? PQerrorMessage(pg->conn) : uv_strerror(status), 0);
		return;
	}
	read_results(pg);
	pump(pg);
}

static int
pg_start(void *be, uv_loop_t *loop, struct store_be *core)
{
	struct store_pg *pg = be;

	pg->loop = loop;
	pg->core = core;
	pg->backoff_ms = BACKOFF_MIN_MS;
	uv_timer_init(loop, &pg->retry);
	uv_timer_init(loop, &pg->stop_timer);
	pg->retry.data = pg->stop_timer.data = pg;
	if (PQstatus(pg->conn) == CONNECTION_OK) {
		connected(pg); /* open's connection, after the load */
	} else {
		PQfinish(pg->conn);
		pg->conn = NULL;
		conn_lost(pg, "connection from open lost", 0);
	}
	return 0;
}

static void
pg_submit(void *be, struct store_op *head)
{
	struct store_pg *pg = be;

	for (struct store_op *next; head != NULL; head = next) {
		next = head->next;
		if (head->kind >= STORE_PG_NSTMT && head->kind != SOP_BARRIER)
			store_be_done(pg->core, head, -EOPNOTSUPP); /* retained: not kept here */
		else
			ops_append(&pg->wait, &pg->wait_tail, head);
	}
	pump(pg);
}

static void
pg_stop(void *be)
{
	struct store_pg *pg = be;

	pg->stopping = true;
	if (drained(pg))
		shutdown_pg(pg);
	else
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
