/* tests/unit/storage/pg_fix.h - a fixture for the PostgreSQL store's tests: each test starts its
 * own server (tests/services/postgres.sh in a temporary directory on a free port) and stops it
 * in the teardown; stores are opened with the test case's pool size; a visitor records what a
 * load reports, one line per record; loop and SQL helpers. Every failure is a Check assertion. */
#ifndef PG_FIX_H
#define PG_FIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <uv.h>

#include "storage/store.h"

/* Where the server binaries are (PG_BIN, or PostgreSQL 15's); whether postgres is there. */
const char *pg_fix_bin(void);
bool pg_fix_have(void);

/* Checked fixtures: a fresh server, and stores with a pool of 1 or 3 connections. */
void pg_fix_up1(void);
void pg_fix_up3(void);
void pg_fix_down(void);

/* The server's DSN and port (valid between up and down); the pool size stores get. */
const char *pg_fix_dsn(void);
int pg_fix_port(void);
uint32_t pg_fix_pool(void);

int pg_fix_free_port(void);
/* Runs postgres.sh cmd (start, stop, kill) on the fixture's server; returns its exit status. */
int pg_fix_ctl(const char *cmd);

/* Opens (asserting success) a store on dsn or the fixture's server, as node. */
struct store *pg_fix_open_dsn(const char *dsn, const char *node);
struct store *pg_fix_open(const char *node);

/* What a load reported, one line per record: each session's, then its parts'. */
struct pg_fix_rec {
	char buf[1 << 19];
	size_t len;
	int n;
};

extern const struct store_visitor pg_fix_recorder; /* arg: a struct pg_fix_rec */

/* Opens node, loads into r, and closes again. */
void pg_fix_load(const char *node, struct pg_fix_rec *r);

/* A QoS 1 message with a content type, sender "pub", payload format 1 and an expiry. */
struct sl_msg *pg_fix_msg(const char *topic, const char *payload);
void pg_fix_q_put(struct store_h *h, const char *id, uint64_t seq, uint16_t pid, uint8_t state,
                  struct sl_msg *m);

struct pg_fix_waiter {
	int done, status;
};

void pg_fix_on_barrier(void *arg, int status); /* a store_done_cb for a struct pg_fix_waiter */
/* Runs loop until a new barrier on h completes; returns its status. */
int pg_fix_barrier(uv_loop_t *loop, struct store_h *h);
/* Detaches h, lets loop close it, closes st and the loop. */
void pg_fix_close(uv_loop_t *loop, struct store_h *h, struct store *st);

/* A blocking connection of the test's own (caller PQfinish()es it). */
PGconn *pg_fix_connect(void);
/* The first column of the first row of a query on a connection of its own, as a number. */
long pg_fix_count(const char *sql);

#endif
