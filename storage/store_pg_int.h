/* storage/store_pg_int.h - what the PostgreSQL backend's files share: the backend's state, the
 * schema and its statements (store_pg_schema.c), the blocking side run before the loops
 * (store_pg_open.c: DSN, connect, migrate; store_pg_load.c: load) and the async side on the
 * backend's thread (store_pg_pool.c: the pool, routing and barriers; store_pg.c: one
 * connection). Private to storage/. */
#ifndef STORE_PG_INT_H
#define STORE_PG_INT_H

#include <libpq-fe.h>

#include "store_be.h"

/* Connections at most (postgres_pool); each is a server backend process. */
#define STORE_PG_POOL_MAX 64
/* Transactions in flight on a connection at once (plus one slot for the PREPAREs). While
 * they commit, newer ops wait and are sent together: our side of group commit. */
#define STORE_PG_INFLIGHT 3
/* Write statements per transaction, at most; and no more once its message bodies reach
 * STORE_PG_TXN_BYTES (bounds what libpq buffers). */
#define STORE_PG_TXN_OPS 512
#define STORE_PG_TXN_BYTES (1u << 20)

/* One transaction sent and not yet answered, or the PREPAREs of a new connection. */
struct store_pg_txn {
	struct store_op *head, *tail; /* its ops, barrier marks included, in order */
	uint32_t nops, writes;
	size_t bytes;
	bool prep;   /* the statements' PREPAREs, not a transaction */
	bool solo;   /* sent while isolating a failed transaction's ops */
	bool failed; /* any statement failed: the server rolled the transaction back */
};

struct store_pg_poll;

enum store_pg_state {
	STORE_PG_DOWN,       /* waiting for the retry timer */
	STORE_PG_CONNECTING, /* PQconnectPoll in progress */
	STORE_PG_PREPARING,  /* connected, PREPAREs in flight */
	STORE_PG_READY,
};

/* One pooled connection (store_pg.c): non-blocking, pipeline mode, with its own queue,
 * reconnect and replay. Backend thread only. */
struct store_pg_conn {
	struct store_pg *pg;
	uint32_t idx;               /* in pg->pool; also its mark in each store_pg_bar */
	PGconn *conn;               /* NULL while down */
	struct store_pg_poll *poll; /* watching PQsocket(conn), or NULL */
	int poll_events;
	uv_timer_t retry; /* backoff before a connect, then the connect's deadline */
	enum store_pg_state state;
	uint32_t backoff_ms;
	bool ever_ready;
	bool down; /* lost, and not ready again since: counted in pg->n_down */
	bool lost; /* a write failed since the last mark passed: the next one fails */

	struct store_op *wait, *wait_tail; /* not sent yet, oldest first */
	uint32_t solo; /* the first `solo` ops of wait go one write per transaction */
	struct store_pg_txn ring[STORE_PG_INFLIGHT + 1];
	uint32_t ring_head, ring_n;
};

/* One BARRIER handed to the backend: a mark goes to every connection, and the barrier is done
 * once each has passed its mark (everything queued on it before is committed). Marks pass in
 * order on each connection, so barriers finish in the order they came. */
struct store_pg_bar {
	struct store_op *op; /* the core's barrier, done with the first failure of a mark */
	int status;
	uint32_t left;          /* marks not passed yet */
	struct store_op mark[]; /* mark[i] rides connection i's queue (kind SOP_BARRIER) */
};

struct store_pg {
	/* Connection parameters: the DSN's own, plus our defaults for what it leaves unset. */
	PQconninfoOption *opts; /* owns the DSN's strings */
	const char **kw, **val; /* NULL-terminated, pointing into opts or at literals */
	char *node;             /* cf->node_name, or "starling" */
	PGconn *conn;           /* blocking, from open to start(); then pool[0]'s first */
	uint32_t n_conn;        /* cf->pg_pool */
	struct store_pg_conn *pool;

	uv_loop_t *loop; /* the rest: backend thread only */
	struct store_be *core;
	struct sl_buf scratch; /* a message body being sent, on any connection */
	uv_timer_t stop_timer;
	uint32_t n_down; /* connections down: store_ok() is false while any is */
	bool stopping, closed;
};

/* The statements, indexed by store_op_kind (SOP_SESS_PUT .. SOP_WILL_DEL); $1 is always the
 * node, $2 the client id. */
#define STORE_PG_NSTMT (SOP_WILL_DEL + 1)
extern const char *const store_pg_stmt[STORE_PG_NSTMT];
extern const int store_pg_stmt_nparams[STORE_PG_NSTMT];

/* Brings the schema up to date in one transaction under an advisory lock, so nodes starting
 * at once queue behind each other. Blocking. Returns 0, or -EIO with *err (malloc'd). */
int store_pg_migrate(PGconn *conn, char **err);

/* A malloc'd message for an *err (printf format, trailing newlines dropped), or NULL. */
char *store_pg_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Blocking side (store_pg_open.c, store_pg_load.c). */
int store_pg_open(const struct store_conf *cf, bool sessions, bool retained, void **be, char **err);
int store_pg_load(void *be, const struct store_be_visitor *v, void *arg);
void store_pg_free(void *be);
/* Sends libpq's notices (e.g. "relation exists, skipping") to the log at DEBUG. */
void store_pg_quiet(PGconn *conn);

/* One connection (store_pg.c), backend thread only. Starts it: with conn (open's, connected;
 * taken) or, if NULL, by connecting now. */
void store_pg_conn_start(struct store_pg_conn *pc, PGconn *conn);
/* Queues a write or a mark (takes it); store_pg_conn_pump sends what is queued. A mark may
 * pass at once, calling store_pg_mark_passed before this returns. */
void store_pg_conn_queue(struct store_pg_conn *pc, struct store_op *op);
void store_pg_conn_pump(struct store_pg_conn *pc);
/* Nothing queued or in flight (the PREPAREs aside). */
bool store_pg_conn_idle(const struct store_pg_conn *pc);
/* Fails what is queued or in flight with -ECANCELED, disconnects, closes the timer. Returns
 * the number of ops failed. */
uint32_t store_pg_conn_shutdown(struct store_pg_conn *pc);

/* The pool (store_pg_pool.c), called back by a connection. A mark passed with status (-EIO
 * when a write on pc failed since its previous mark; -ECANCELED at stop). */
void store_pg_mark_passed(struct store_pg_conn *pc, struct store_op *mark, int status);
/* pc went down or came back: store_ok() follows the pool. */
void store_pg_set_down(struct store_pg_conn *pc, bool down);
/* pc's transaction finished: at stop, the pool shuts down once every connection is idle. */
void store_pg_check_stop(struct store_pg *pg);

#endif
