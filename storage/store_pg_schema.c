/* storage/store_pg_schema.c - the PostgreSQL schema (migrations compiled into the binary) and
 * the statements the backend runs against it.
 *
 * Every row carries the owning node (store_conf.node_name): a node loads and writes only its
 * own rows, so nodes can share one database and a later cluster can adopt a dead node's
 * sessions by rewriting that column. No foreign keys: writes arrive in the broker's order,
 * which need not create the session row first, and a failed constraint would roll back a
 * whole batch; SESS_DEL deletes the children explicitly instead. */
#include "store_pg_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/sl_log.h"

/* Migration N (1-based) is migrations[N - 1]; append only, never edit a released one. */
static const char *const migrations[] = {
        "CREATE TABLE sessions ("
        " node text NOT NULL, client_id text NOT NULL,"
        " version smallint NOT NULL,"
        " expiry bigint NOT NULL,"    /* seconds after disconnect; 4294967295 = never */
        " expire_at bigint NOT NULL," /* wall-clock ms; 0 = online */
        " PRIMARY KEY (node, client_id));"
        "CREATE TABLE subscriptions ("
        " node text NOT NULL, client_id text NOT NULL, filter text NOT NULL,"
        " options smallint NOT NULL, sub_id bigint NOT NULL,"
        " PRIMARY KEY (node, client_id, filter));"
        "CREATE TABLE messages ("
        " node text NOT NULL, client_id text NOT NULL, seq bigint NOT NULL,"
        " pid integer NOT NULL, qos smallint NOT NULL, state smallint NOT NULL,"
        " retain boolean NOT NULL, sub_ids bigint[] NOT NULL,"
        " body bytea NOT NULL," /* store_msg_encode */
        " PRIMARY KEY (node, client_id, seq));"
        "CREATE TABLE rx_ids ("
        " node text NOT NULL, client_id text NOT NULL, pid integer NOT NULL,"
        " PRIMARY KEY (node, client_id, pid));"
        "CREATE TABLE wills ("
        " node text NOT NULL, client_id text NOT NULL,"
        " at_ms bigint NOT NULL, body bytea NOT NULL,"
        " PRIMARY KEY (node, client_id));",
        /* 2: the user a session belongs to; NULL = anonymous. */
        "ALTER TABLE sessions ADD COLUMN username text;",
        /* 3: cluster node leases (cluster/lease.c): a node is dead when a peer has said so
         * here, never on mesh silence alone. state 0 alive, 1 dead, 2 left. */
        "CREATE TABLE cluster_node ("
        " node_id text PRIMARY KEY, incarnation bigint NOT NULL,"
        " lease_until timestamptz NOT NULL, state smallint NOT NULL,"
        " declared_by text, live_set text[], updated_at timestamptz NOT NULL);",
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

/* Upserts and deletes only: replaying a suffix of the writes after a reconnect (some of which
 * may have committed) ends in the same rows. */
const char *const store_pg_stmt[STORE_PG_NSTMT] = {
        [SOP_SESS_PUT] = "INSERT INTO sessions (node, client_id, version, expiry, expire_at,"
                         " username) VALUES ($1, $2, $3, $4, $5, $6)"
                         " ON CONFLICT (node, client_id) DO UPDATE"
                         " SET version = EXCLUDED.version, expiry = EXCLUDED.expiry,"
                         " expire_at = EXCLUDED.expire_at, username = EXCLUDED.username",
        [SOP_SESS_DEL] = "WITH s AS (DELETE FROM subscriptions WHERE node = $1 AND client_id = $2),"
                         " m AS (DELETE FROM messages WHERE node = $1 AND client_id = $2),"
                         " r AS (DELETE FROM rx_ids WHERE node = $1 AND client_id = $2),"
                         " w AS (DELETE FROM wills WHERE node = $1 AND client_id = $2)"
                         " DELETE FROM sessions WHERE node = $1 AND client_id = $2",
        [SOP_SUB_PUT] = "INSERT INTO subscriptions (node, client_id, filter, options, sub_id)"
                        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (node, client_id, filter)"
                        " DO UPDATE SET options = EXCLUDED.options, sub_id = EXCLUDED.sub_id",
        [SOP_SUB_DEL] = "DELETE FROM subscriptions WHERE node = $1 AND client_id = $2"
                        " AND filter = $3",
        [SOP_Q_PUT] = "INSERT INTO messages (node, client_id, seq, pid, qos, state, retain,"
                      " sub_ids, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                      " ON CONFLICT (node, client_id, seq) DO UPDATE SET pid = EXCLUDED.pid,"
                      " qos = EXCLUDED.qos, state = EXCLUDED.state, retain = EXCLUDED.retain,"
                      " sub_ids = EXCLUDED.sub_ids, body = EXCLUDED.body",
        [SOP_Q_STATE] = "UPDATE messages SET state = $4, pid = $5 WHERE node = $1"
                        " AND client_id = $2 AND seq = $3",
        [SOP_Q_DEL] = "DELETE FROM messages WHERE node = $1 AND client_id = $2 AND seq = $3",
        [SOP_RX_PUT] = "INSERT INTO rx_ids (node, client_id, pid) VALUES ($1, $2, $3)"
                       " ON CONFLICT DO NOTHING",
        [SOP_RX_DEL] = "DELETE FROM rx_ids WHERE node = $1 AND client_id = $2 AND pid = $3",
        [SOP_WILL_PUT] = "INSERT INTO wills (node, client_id, at_ms, body)"
                         " VALUES ($1, $2, $3, $4) ON CONFLICT (node, client_id) DO UPDATE"
                         " SET at_ms = EXCLUDED.at_ms, body = EXCLUDED.body",
        [SOP_WILL_DEL] = "DELETE FROM wills WHERE node = $1 AND client_id = $2",
};

const int store_pg_stmt_nparams[STORE_PG_NSTMT] = {
        [SOP_SESS_PUT] = 6, [SOP_SESS_DEL] = 2, [SOP_SUB_PUT] = 5,  [SOP_SUB_DEL] = 3,
        [SOP_Q_PUT] = 9,    [SOP_Q_STATE] = 5,  [SOP_Q_DEL] = 3,    [SOP_RX_PUT] = 3,
        [SOP_RX_DEL] = 3,   [SOP_WILL_PUT] = 4, [SOP_WILL_DEL] = 2,
};

char *
store_pg_errf(const char *fmt, ...)
{
	char *s = malloc(512);
	va_list ap;
	size_t n;

	if (s == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, 512, fmt, ap);
	va_end(ap);
	n = strlen(s); /* libpq's messages end in a newline */
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/* Runs sql; returns 0, or -EIO with *err naming what. */
static int
exec(PGconn *conn, const char *what, const char *sql, char **err)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		*err = store_pg_errf("PostgreSQL %s: %s", what, PQerrorMessage(conn));
		rc = -EIO;
	}
	PQclear(res);
	return rc;
}

static int
current_version(PGconn *conn, long *version, char **err)
{
	PGresult *res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_version");
	int rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		*err = store_pg_errf("PostgreSQL schema version: %s", PQerrorMessage(conn));
		rc = -EIO;
	} else {
		*version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	}
	PQclear(res);
	return rc;
}

static int
apply(PGconn *conn, long from, char **err)
{
	char sql[96], what[32];

	for (size_t i = (size_t)from; i < N_MIGRATIONS; i++) {
		snprintf(what, sizeof(what), "migration %zu", i + 1);
		snprintf(sql, sizeof(sql), "INSERT INTO schema_version (version) VALUES (%zu)",
		         i + 1);
		if (exec(conn, what, migrations[i], err) < 0 || exec(conn, what, sql, err) < 0)
			return -EIO;
		LOG_NOTICE("store", "PostgreSQL schema migrated to version %zu", i + 1);
	}
	return 0;
}

int
store_pg_migrate(PGconn *conn, char **err)
{
	long version = 0;

	/* The transaction-level lock serialises concurrent starters and is released by the
	 * COMMIT (or by the server if we die): the second one finds the tables made. The key
	 * is arbitrary but fixed ("STRLSCHM"). */
	if (exec(conn, "BEGIN", "BEGIN", err) < 0)
		return -EIO;
	if (exec(conn, "schema lock", "SELECT pg_advisory_xact_lock(6076440233577728077)", err) <
	            0 ||
	    exec(conn, "schema_version",
	         "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY,"
	         " applied_at timestamptz NOT NULL DEFAULT now())",
	         err) < 0 ||
	    current_version(conn, &version, err) < 0 || apply(conn, version, err) < 0) {
		PQclear(PQexec(conn, "ROLLBACK"));
		return -EIO;
	}
	if (version > (long)N_MIGRATIONS)
		LOG_WARN("store", "PostgreSQL schema version %ld is newer than this binary's %zu",
		         version, N_MIGRATIONS);
	return exec(conn, "COMMIT", "COMMIT", err);
}
