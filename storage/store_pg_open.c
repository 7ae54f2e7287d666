/* storage/store_pg_open.c - the PostgreSQL backend's blocking side, run before the loops:
 * parse the DSN, connect (retrying for a while) and migrate. Loading is store_pg_load.c.
 *
 * A node whose database is unreachable at start retries for STORE_PG_OPEN_WAIT_MS and then
 * fails to open: starting without its sessions would hand their clients empty sessions
 * (CONNACK session present 0) and let new writes overwrite state it never loaded. Once
 * running, an outage only makes store_ok() false (see store_pg.c). A server that answers but
 * refuses us (authentication, missing database) fails at once: waiting will not fix it. Only
 * the pool's first connection is made here; the others (postgres_pool) are made on the
 * backend's thread once it starts. */
#include "store_pg_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

#define STORE_PG_OPEN_WAIT_MS 5000

/* Used where the DSN says nothing: dead peers are noticed within seconds, not hours. */
static const char *const defaults[][2] = {
        {"application_name", "starling"}, {"connect_timeout", "5"},  {"keepalives_idle", "10"},
        {"keepalives_interval", "5"},     {"keepalives_count", "3"}, {"tcp_user_timeout", "20000"},
};

#define N_DEFAULTS (sizeof(defaults) / sizeof(defaults[0]))

static void
on_notice(void *arg, const char *msg)
{
	(void)arg;
	LOG_DEBUG("store", "PostgreSQL: %.*s", (int)strcspn(msg, "\n"), msg);
}

void
store_pg_quiet(PGconn *conn)
{
	PQsetNoticeProcessor(conn, on_notice, NULL);
}

static bool
is_set(const PQconninfoOption *opts, const char *kw)
{
	for (const PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, kw) == 0)
			return o->val != NULL && o->val[0] != '\0';
	return false;
}

/* Parses the DSN (key=value or postgresql:// URI) into pg->kw/val. */
static int
parse_dsn(struct store_pg *pg, const char *dsn, char **err)
{
	char *msg = NULL;
	size_t n = N_DEFAULTS + 1, i = 0;

	pg->opts = PQconninfoParse(dsn, &msg);
	if (pg->opts == NULL) {
		*err = store_pg_errf("postgres_dsn: %s", msg != NULL ? msg : "out of memory");
		PQfreemem(msg);
		return -EINVAL;
	}
	for (const PQconninfoOption *o = pg->opts; o->keyword != NULL; o++)
		n++;
	pg->kw = sl_calloc(n, sizeof(*pg->kw));
	pg->val = sl_calloc(n, sizeof(*pg->val));
	if (pg->kw == NULL || pg->val == NULL)
		return -ENOMEM;
	for (const PQconninfoOption *o = pg->opts; o->keyword != NULL; o++) {
		if (o->val != NULL && o->val[0] != '\0') {
			pg->kw[i] = o->keyword;
			pg->val[i++] = o->val;
		}
	}
	for (size_t d = 0; d < N_DEFAULTS; d++) {
		if (!is_set(pg->opts, defaults[d][0])) {
			pg->kw[i] = defaults[d][0];
			pg->val[i++] = defaults[d][1];
		}
	}
	return 0;
}

static void
nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int
connect_blocking(struct store_pg *pg, char **err)
{
	uint64_t deadline = uv_hrtime() + (uint64_t)STORE_PG_OPEN_WAIT_MS * 1000000u;
	PGPing ping;

	for (;;) {
		pg->conn = PQconnectdbParams(pg->kw, pg->val, 0);
		if (pg->conn == NULL)
			return -ENOMEM;
		if (PQstatus(pg->conn) == CONNECTION_OK)
			break;
		ping = PQpingParams(pg->kw, pg->val, 0);
		if (ping == PQPING_OK || ping == PQPING_NO_ATTEMPT || uv_hrtime() >= deadline) {
			if (ping == PQPING_OK)
				*err = store_pg_errf("PostgreSQL refused the connection: %s",
				                     PQerrorMessage(pg->conn));
			else
				*err = store_pg_errf("PostgreSQL unreachable for %d s: %s",
				                     STORE_PG_OPEN_WAIT_MS / 1000,
				                     PQerrorMessage(pg->conn));
			PQfinish(pg->conn);
			pg->conn = NULL;
			return ping == PQPING_OK ? -EACCES : -ECONNREFUSED;
		}
		PQfinish(pg->conn);
		pg->conn = NULL;
		nap_ms(250);
	}
	store_pg_quiet(pg->conn);
	return 0;
}

int
store_pg_open(const struct store_conf *cf, bool sessions, bool retained, void **be, char **err)
{
	struct store_pg *pg;
	int rc = -ENOMEM;

	*err = NULL;
	if (retained || !sessions || cf->pg_dsn == NULL) { /* retained: Redis or the log */
		*err = store_pg_errf("PostgreSQL store keeps sessions only");
		return -EINVAL;
	}
	if ((pg = sl_calloc(1, sizeof(*pg))) == NULL)
		return -ENOMEM;
	pg->node = sl_strdup(cf->node_name != NULL ? cf->node_name : "starling");
	if (pg->node == NULL)
		goto fail;
	if ((rc = parse_dsn(pg, cf->pg_dsn, err)) < 0)
		goto fail;
	pg->n_conn = cf->pg_pool != 0 ? cf->pg_pool : 2;
	if (pg->n_conn > STORE_PG_POOL_MAX) {
		*err = store_pg_errf("postgres_pool: %" PRIu32 " connections, at most %d",
		                     pg->n_conn, STORE_PG_POOL_MAX);
		rc = -EINVAL;
		goto fail;
	}
	if ((pg->pool = sl_calloc(pg->n_conn, sizeof(*pg->pool))) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = connect_blocking(pg, err)) < 0)
		goto fail;
	if ((rc = store_pg_migrate(pg->conn, err)) < 0)
		goto fail;
	*be = pg;
	return 0;
fail:
	store_pg_free(pg);
	return rc;
}

void
store_pg_free(void *be)
{
	struct store_pg *pg = be;

	if (pg == NULL)
		return;
	PQfinish(pg->conn);
	for (uint32_t i = 0; pg->pool != NULL && i < pg->n_conn; i++)
		PQfinish(pg->pool[i].conn); /* NULL once stopped */
	sl_free(pg->pool);
	PQconninfoFree(pg->opts);
	sl_buf_fini(&pg->scratch);
	sl_free(pg->kw);
	sl_free(pg->val);
	sl_free(pg->node);
	sl_free(pg);
}
