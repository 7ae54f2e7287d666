/* storage/store_pg.c - sessions in PostgreSQL: one pooled connection (store_pg_pool.c routes
 * the ops), on the backend's thread and loop. A non-blocking libpq connection in pipeline mode,
 * watched with uv_poll. The ops queued on it are sent as transactions (one prepared statement
 * per write, then a Sync, which commits them together), up to STORE_PG_INFLIGHT at once; while
 * those commit, newer ops wait and go together in the next one. An op is done when its
 * transaction's Sync comes back with no error, so a barrier's mark passes once every earlier
 * write on this connection has committed.
 *
 * Failure: when the connection drops, store_ok() turns false and every op not yet answered goes
 * back to the front of its queue, in order; we reconnect with exponential backoff
 * (BACKOFF_MIN_MS .. BACKOFF_MAX_MS) and send them again. Some may have committed already:
 * the writes are upserts and deletes, so replaying them in order ends in the same rows. The
 * core bounds the backlog (max_pending). A transaction rejected for its data (SQLSTATE class
 * 22 or 23) is replayed one write per transaction, so only the offending write fails
 * (-EIO, and the next barrier fails with it). */
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
#define RING (STORE_PG_INFLIGHT + 1)

struct store_pg_poll {
	uv_poll_t h; /* h.data: the connection */
	int fd;
};

static void conn_lost(struct store_pg_conn *pc, const char *why, uint32_t solo);
static void connected(struct store_pg_conn *pc);
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
ring_at(struct store_pg_conn *pc, uint32_t i)
{
	return &pc->ring[(pc->ring_head + i) % RING];
}

static struct store_pg_txn *
ring_push(struct store_pg_conn *pc)
{
	struct store_pg_txn *t;

	SL_ASSERT(pc->ring_n < RING);
	t = ring_at(pc, pc->ring_n++);
	memset(t, 0, sizeof(*t));
	return t;
}

/* Completes a list of ops: writes with status; a barrier's mark fails if it did or if any
 * write on this connection failed since the previous mark. */
static uint32_t
finish_ops(struct store_pg_conn *pc, struct store_op *op, int status)
{
	uint32_t n = 0;

	for (struct store_op *next; op != NULL; op = next, n++) {
		int st = status;

		next = op->next;
		if (op->kind == SOP_BARRIER) {
			if (pc->lost && st == 0)
				st = -EIO;
			pc->lost = false;
			store_pg_mark_passed(pc, op, st);
			continue;
		}
		if (status < 0)
			pc->lost = true;
		store_be_done(pc->pg->core, op, st);
	}
	return n;
}

bool
store_pg_conn_idle(const struct store_pg_conn *pc)
{
	return pc->wait == NULL &&
	       (pc->ring_n == 0 || (pc->ring_n == 1 && pc->ring[pc->ring_head].prep));
}

static void
on_poll_closed(uv_handle_t *h)
{
	sl_free(container_of(h, struct store_pg_poll, h));
}

static void
unwatch(struct store_pg_conn *pc)
{
	if (pc->poll == NULL)
		return;
	uv_close((uv_handle_t *)&pc->poll->h, on_poll_closed); /* stops it now */
	pc->poll = NULL;
	pc->poll_events = 0;
}

/* Watches PQsocket(conn) for events. libpq may replace the socket while connecting, and a uv
 * poll handle is bound to one fd, so a new fd gets a new handle. */
static int
watch(struct store_pg_conn *pc, int events)
{
	int fd = PQsocket(pc->conn), rc;
	struct store_pg_poll *p = pc->poll;

	if (fd < 0)
		return -EBADF;
	if (p != NULL && p->fd != fd) {
		unwatch(pc);
		p = NULL;
	}
	if (p == NULL) {
		if ((p = sl_calloc(1, sizeof(*p))) == NULL)
			return -ENOMEM;
		if ((rc = uv_poll_init(pc->pg->loop, &p->h, fd)) < 0) {
			sl_free(p);
			return rc;
		}
		p->fd = fd;
		p->h.data = pc;
		pc->poll = p;
	}
	if (events == pc->poll_events)
		return 0;
	if ((rc = uv_poll_start(&p->h, events, on_poll)) == 0)
		pc->poll_events = events;
	return rc;
}

uint32_t
store_pg_conn_shutdown(struct store_pg_conn *pc)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < pc->ring_n; i++)
		n += finish_ops(pc, ring_at(pc, i)->head, -ECANCELED);
	pc->ring_n = 0;
	n += finish_ops(pc, pc->wait, -ECANCELED);
	pc->wait = pc->wait_tail = NULL;
	unwatch(pc);
	PQfinish(pc->conn);
	pc->conn = NULL;
	uv_close((uv_handle_t *)&pc->retry, NULL);
	return n;
}

/* The PREPAREs of a new connection are back: writes may flow. */
static void
ready(struct store_pg_conn *pc)
{
	pc->state = STORE_PG_READY;
	pc->backoff_ms = BACKOFF_MIN_MS;
	if (pc->ever_ready) {
		store_be_count_reconnect(pc->pg->core);
		LOG_NOTICE("store",
		           "PostgreSQL connection %" PRIu32 " reconnected, %s writes to resend",
		           pc->idx + 1, pc->wait != NULL ? "some" : "no");
	}
	pc->ever_ready = true;
	store_pg_set_down(pc, false);
}

static void
txn_end(struct store_pg_conn *pc)
{
	struct store_pg_txn t = *ring_at(pc, 0);

	if (t.failed && t.writes > 1) {
		/* One write spoiled the transaction: replay from here on, these ops one write
		 * per transaction, on a fresh connection (the later transactions in flight
		 * must not overtake them). */
		conn_lost(pc, "isolating a write PostgreSQL rejected", t.nops);
		return;
	}
	pc->ring_head = (pc->ring_head + 1) % RING;
	pc->ring_n--;
	if (t.prep) {
		ready(pc);
		return;
	}
	if (t.writes > 0 && !t.failed)
		store_be_count_sync(pc->pg->core);
	finish_ops(pc, t.head, t.failed ? -EIO : 0);
	store_pg_check_stop(pc->pg); /* may shut every connection, this one included */
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
on_result(struct store_pg_conn *pc, PGresult *res)
{
	struct store_pg_txn *t = ring_at(pc, 0);

	switch (PQresultStatus(res)) {
	case PGRES_PIPELINE_SYNC:
		txn_end(pc);
		break;
	case PGRES_FATAL_ERROR:
		if (t->prep || server_trouble(res)) {
			conn_lost(pc, PQresultErrorMessage(res), 0);
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
read_results(struct store_pg_conn *pc)
{
	int nulls = 0;
	PGresult *res;

	while (pc->conn != NULL && pc->ring_n > 0 && !PQisBusy(pc->conn)) {
		res = PQgetResult(pc->conn);
		if (res == NULL) {
			/* One ends each statement's results; two in a row: nothing more now. */
			if (++nulls > 1)
				break;
			continue;
		}
		nulls = 0;
		on_result(pc, res);
		PQclear(res);
	}
}

static void
connect_step(struct store_pg_conn *pc)
{
	PostgresPollingStatusType st;
	int rc = 0;

	/* libpq may close the socket inside PQconnectPoll: never while we poll it. */
	if (pc->poll != NULL && pc->poll_events != 0) {
		uv_poll_stop(&pc->poll->h);
		pc->poll_events = 0;
	}
	st = PQconnectPoll(pc->conn);
	if (st == PGRES_POLLING_READING)
		rc = watch(pc, UV_READABLE);
	else if (st == PGRES_POLLING_WRITING)
		rc = watch(pc, UV_WRITABLE);
	else if (st != PGRES_POLLING_OK)
		rc = -ECONNREFUSED;
	if (rc < 0) {
		conn_lost(pc, PQerrorMessage(pc->conn), 0);
		return;
	}
	if (st == PGRES_POLLING_OK) {
		uv_timer_stop(&pc->retry); /* the connect deadline */
		connected(pc);
	}
}

static void
on_retry(uv_timer_t *timer)
{
	struct store_pg_conn *pc = timer->data;
	struct store_pg *pg = pc->pg;

	if (pc->state == STORE_PG_CONNECTING) {
		conn_lost(pc, "connect timed out", 0);
		return;
	}
	SL_ASSERT(pc->state == STORE_PG_DOWN);
	pc->conn = PQconnectStartParams(pg->kw, pg->val, 0);
	if (pc->conn == NULL || PQstatus(pc->conn) == CONNECTION_BAD ||
	    PQsetnonblocking(pc->conn, 1) != 0) {
		conn_lost(pc, pc->conn != NULL ? PQerrorMessage(pc->conn) : "out of memory", 0);
		return;
	}
	pc->state = STORE_PG_CONNECTING;
	uv_timer_start(&pc->retry, on_retry, CONNECT_TIMEOUT_MS, 0);
	/* [libpq] after PQconnectStart, act as if PQconnectPoll had said PGRES_POLLING_WRITING */
	if (watch(pc, UV_WRITABLE) < 0)
		conn_lost(pc, "cannot watch the socket", 0);
}

/* Moves every transaction in flight back to the front of the queue, in order. Returns how
 * many of their ops were sent one write per transaction (isolating a rejected write). */
static uint32_t
requeue(struct store_pg_conn *pc)
{
	struct store_op *head = NULL, *tail = NULL;
	uint32_t solo = 0;

	for (uint32_t i = 0; i < pc->ring_n; i++) {
		struct store_pg_txn *t = ring_at(pc, i);

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
	pc->ring_n = 0;
	if (tail != NULL) {
		tail->next = pc->wait;
		if (pc->wait == NULL)
			pc->wait_tail = tail;
		pc->wait = head;
	}
	return solo;
}

/* Everything unanswered goes back to the front of the queue, in order, and we reconnect:
 * after the backoff, or at once when solo > 0 (the head transaction's solo ops are to be
 * replayed one write at a time; the server is fine). */
static void
conn_lost(struct store_pg_conn *pc, const char *why, uint32_t solo)
{
	bool isolate = solo > 0;
	int len = (int)strcspn(why, "\n");
	uint32_t delay = 0;

	if (pc->pg->closed)
		return;
	if (!isolate && pc->state >= STORE_PG_PREPARING)
		LOG_WARN("store", "PostgreSQL connection %" PRIu32 " lost: %.*s", pc->idx + 1, len,
		         why);
	else if (!isolate)
		LOG_INFO("store", "PostgreSQL connection %" PRIu32 " failed: %.*s", pc->idx + 1,
		         len, why);
	unwatch(pc);
	PQfinish(pc->conn); /* why may point into conn: not used past here */
	pc->conn = NULL;
	pc->solo += solo + requeue(pc);
	if (!isolate || pc->state != STORE_PG_READY) {
		store_pg_set_down(pc, true);
		delay = pc->backoff_ms;
		pc->backoff_ms =
		        pc->backoff_ms * 2 < BACKOFF_MAX_MS ? pc->backoff_ms * 2 : BACKOFF_MAX_MS;
	}
	pc->state = STORE_PG_DOWN;
	uv_timer_start(&pc->retry, on_retry, delay, 0);
}

/* A new connection (or open's): pipeline mode, then the statements' PREPAREs. */
static void
connected(struct store_pg_conn *pc)
{
	struct store_pg_txn *t;
	char name[8];

	store_pg_quiet(pc->conn);
	if (PQsetnonblocking(pc->conn, 1) != 0 || PQenterPipelineMode(pc->conn) != 1)
		goto lost;
	t = ring_push(pc);
	t->prep = true;
	for (int k = 0; k < STORE_PG_NSTMT; k++) {
		snprintf(name, sizeof(name), "s%d", k);
		if (!PQsendPrepare(pc->conn, name, store_pg_stmt[k], store_pg_stmt_nparams[k],
		                   NULL))
			goto lost;
	}
	if (!PQpipelineSync(pc->conn))
		goto lost;
	pc->state = STORE_PG_PREPARING;
	store_pg_conn_pump(pc);
	return;
lost:
	conn_lost(pc, PQerrorMessage(pc->conn), 0);
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
send_op(struct store_pg_conn *pc, const struct store_op *op)
{
	struct store_pg *pg = pc->pg;
	struct params p = {.n = 0};
	char name[8];

	pg->scratch.len = 0;
	if (fill(pg, op, &p) < 0)
		return -ENOMEM;
	SL_ASSERT(p.n == store_pg_stmt_nparams[op->kind]);
	snprintf(name, sizeof(name), "s%d", op->kind);
	return PQsendQueryPrepared(pc->conn, name, p.n, p.v, p.len, p.fmt, 0) ? 0 : -EIO;
}

/* Moves the oldest waiting ops into one transaction and sends it: the statements, then a Sync.
 * style: no BEGIN/COMMIT. The statements between two Syncs already run as one transaction,
 * committed at the Sync (durably: ReadyForQuery follows the commit record's flush) and rolled
 * back whole on an error. An explicit block would outlive a failed Sync ("current transaction
 * is aborted") and poison every transaction pipelined behind it.
 * An op leaves the queue only once sent: on failure conn_lost finds everything in order. */
static int
send_txn(struct store_pg_conn *pc)
{
	struct store_pg_txn *t = ring_push(pc);
	uint32_t limit;

	t->solo = pc->solo > 0;
	limit = t->solo ? 1 : STORE_PG_TXN_OPS;
	while (pc->wait != NULL) {
		struct store_op *op = pc->wait;
		bool write = op->kind != SOP_BARRIER;

		if (write && (t->writes == limit || t->bytes >= STORE_PG_TXN_BYTES))
			break;
		if (write && send_op(pc, op) < 0)
			return -EIO;
		t->bytes += write ? pc->pg->scratch.len : 0; /* message bodies dominate */
		if ((pc->wait = op->next) == NULL)
			pc->wait_tail = NULL;
		ops_append(&t->head, &t->tail, op);
		t->nops++;
		t->writes += write;
		if (pc->solo > 0)
			pc->solo--;
	}
	return PQpipelineSync(pc->conn) == 1 ? 0 : -EIO;
}

/* Sends what the pipeline has room for, flushes, and watches for what comes next. */
void
store_pg_conn_pump(struct store_pg_conn *pc)
{
	int rc;

	if (pc->conn == NULL || pc->state < STORE_PG_PREPARING)
		return; /* down, or connecting: PQconnectPoll decides what to watch */
	while (pc->state == STORE_PG_READY && pc->wait != NULL && pc->ring_n < STORE_PG_INFLIGHT) {
		if (send_txn(pc) < 0) {
			conn_lost(pc, PQerrorMessage(pc->conn), 0);
			return;
		}
	}
	rc = PQflush(pc->conn);
	if (rc < 0 || watch(pc, UV_READABLE | (rc == 1 ? UV_WRITABLE : 0)) < 0)
		conn_lost(pc, PQerrorMessage(pc->conn), 0);
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
	struct store_pg_conn *pc = h->data;
	int ok;

	(void)events;
	if (pc->state == STORE_PG_CONNECTING) {
		/* A refused connect shows as POLLERR, which libuv reports as UV_EBADF: let
		 * PQconnectPoll read the socket's error and try the DSN's next host. */
		connect_step(pc);
		return;
	}
	ok = PQconsumeInput(pc->conn); /* on POLLERR too: it names the error */
	if (!ok || status < 0) {
		conn_lost(pc, !ok ? PQerrorMessage(pc->conn) : uv_strerror(status), 0);
		return;
	}
	read_results(pc);
	store_pg_conn_pump(pc);
}

void
store_pg_conn_start(struct store_pg_conn *pc, PGconn *conn)
{
	uv_timer_init(pc->pg->loop, &pc->retry);
	pc->retry.data = pc;
	pc->backoff_ms = BACKOFF_MIN_MS;
	pc->state = STORE_PG_DOWN;
	if (conn == NULL) {
		uv_timer_start(&pc->retry, on_retry, 0, 0); /* a pool's other connections */
	} else if (PQstatus(conn) == CONNECTION_OK) {
		pc->conn = conn;
		connected(pc); /* open's connection, after the load */
	} else {
		PQfinish(conn);
		conn_lost(pc, "connection from open lost", 0);
	}
}

/* A mark need not wait for a transaction of its own: with nothing waiting it rides the newest
 * transaction in flight (which commits after everything before it), and with nothing in flight
 * either it passes at once. */
void
store_pg_conn_queue(struct store_pg_conn *pc, struct store_op *op)
{
	struct store_pg_txn *t;

	if (op->kind != SOP_BARRIER || pc->wait != NULL) {
		ops_append(&pc->wait, &pc->wait_tail, op);
		return;
	}
	t = pc->ring_n > 0 ? ring_at(pc, pc->ring_n - 1) : NULL;
	if (t == NULL || t->prep) {
		op->next = NULL;
		finish_ops(pc, op, 0);
		return;
	}
	ops_append(&t->head, &t->tail, op);
	t->nops++;
}
