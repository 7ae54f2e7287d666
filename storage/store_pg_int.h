/* storage/store_pg_int.h - what the PostgreSQL backend's files share: the backend's state, the
 * schema and its statements (store_pg_schema.c), the blocking side run before the loops
 * (store_pg_open.c: DSN, connect, migrate; store_pg_load.c: load) and the async side on the
 * backend's thread (store_pg.c). Private to storage/. */
#ifndef STORE_PG_INT_H
#define STORE_PG_INT_H

#include <libpq-fe.h>

#include "store_be.h"

/* Transactions in flight on the connection at once (plus one slot for the PREPAREs). While
 * they commit, newer ops wait and are sent together: our side of group commit. */
#define STORE_PG_INFLIGHT 3
/* Write statements per transaction, at most; and no more once its message bodies reach
 * STORE_PG_TXN_BYTES (bounds what libpq buffers). */
#define STORE_PG_TXN_OPS 512
#define STORE_PG_TXN_BYTES (1u << 20)

/* One transaction sent and not yet answered, or the PREPAREs of a new connection. */
struct store_pg_txn {
	struct store_op *head, *tail; /* its ops, barriers included, in order */
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

struct store_pg {
	/* Connection parameters: the DSN's own, plus our defaults for what it leaves unset. */
	PQconninfoOption *opts; /* owns the DSN's strings */
	const char **kw, **val; /* NULL-terminated, pointing into opts or at literals */
	char *node;             /* cf->node_name, or "starling" */
	PGconn *conn;           /* blocking from open until start(), then the non-blocking one */

	uv_loop_t *loop; /* the rest: backend thread only */
	struct store_be *core;
	struct store_pg_poll *poll; /* watching PQsocket(conn), or NULL */
	struct sl_buf scratch;      /* a message body being sent */
	int poll_events;
	uv_timer_t retry; /* backoff before a connect, then the connect's deadline */
	uv_timer_t stop_timer;
	enum store_pg_state state;
	uint32_t backoff_ms;
	bool ever_ready, stopping, closed;
	bool lost; /* a write failed since the last barrier completed: the next one fails */

	struct store_op *wait, *wait_tail; /* not sent yet, oldest first */
	uint32_t solo; /* the first `solo` ops of wait go one write per transaction */
	struct store_pg_txn ring[STORE_PG_INFLIGHT + 1];
	uint32_t ring_head, ring_n;
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
int store_pg_load(void *be, const struct store_visitor *v, void *arg);
void store_pg_free(void *be);
/* Sends libpq's notices (e.g. "relation exists, skipping") to the log at DEBUG. */
void store_pg_quiet(PGconn *conn);

#endif
