/* cluster/lease.c - the node lease (lease.h). One thread: join, then every renew period renew
 * this node's row and declare dead whoever's lease has been expired for the grace time. Every
 * PostgreSQL call is bounded by the renew period (non-blocking libpq and poll()), so a server
 * that stops answering cannot hold the thread past the moment this node must fence itself. */
#include "cluster/lease.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

struct lease {
	struct lease_conf conf; /* strings owned */
	struct lease_ops ops;
	pthread_t thread;
	pthread_mutex_t mu; /* stop, st */
	pthread_cond_t cv;
	bool stop, leaving;
	struct lease_stats st;
	/* the thread's */
	PGconn *conn;
	bool joined;
	uint64_t last_ok_ms;  /* monotonic: the last successful join or renewal */
	uint64_t ok_since_ms; /* monotonic: the first success after the last failure */
	bool outage_logged;
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits until fd is ready for `events` or deadline (monotonic ms). Returns 1, 0 on timeout. */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
	uint64_t now = mono_ms();
	struct pollfd p = {fd, events, 0};

	if (now >= deadline)
		return 0;
	return poll(&p, 1, (int)(deadline - now)) > 0;
}

static void
drop_conn(struct lease *l)
{
	if (l->conn != NULL)
		PQfinish(l->conn);
	l->conn = NULL;
}

/* Connects without blocking past deadline. */
static int
connect_by(struct lease *l, uint64_t deadline)
{
	static const char *const kw[] = {"dbname", "application_name", "connect_timeout", NULL};
	const char *val[] = {l->conf.dsn, "starling-lease", "2", NULL};
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if ((l->conn = PQconnectStartParams(kw, val, 1)) == NULL)
		return -ENOMEM;
	while (PQstatus(l->conn) != CONNECTION_BAD) {
		if (st == PGRES_POLLING_OK)
			return 0;
		if (st == PGRES_POLLING_FAILED ||
		    !wait_fd(PQsocket(l->conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
		             deadline))
			break;
		st = PQconnectPoll(l->conn);
	}
	drop_conn(l);
	return -ECONNREFUSED;
}

/* Runs sql with params; the result (caller PQclear()s it) or NULL when it failed or did not
 * finish by deadline (the connection is dropped then). */
static PGresult *
exec_by(struct lease *l, const char *sql, int n, const char *const *params, uint64_t deadline)
{
	PGresult *res, *last = NULL;

	if (l->conn == NULL && connect_by(l, deadline) < 0)
		return NULL;
	if (!PQsendQueryParams(l->conn, sql, n, NULL, params, NULL, NULL, 0))
		goto fail;
	for (;;) {
		while (PQisBusy(l->conn)) {
			if (!wait_fd(PQsocket(l->conn), POLLIN, deadline) ||
			    !PQconsumeInput(l->conn))
				goto fail;
		}
		if ((res = PQgetResult(l->conn)) == NULL)
			break;
		PQclear(last);
		last = res;
	}
	if (last == NULL ||
	    (PQresultStatus(last) != PGRES_COMMAND_OK && PQresultStatus(last) != PGRES_TUPLES_OK)) {
		if (last != NULL)
			LOG_WARN("lease", "%s", PQresultErrorMessage(last));
		PQclear(last);
		return NULL;
	}
	return last;
fail:
	PQclear(last);
	drop_conn(l); /* mid-query: the connection's state is unknown */
	return NULL;
}

static bool
stopping(struct lease *l)
{
	bool s;

	pthread_mutex_lock(&l->mu);
	s = l->stop;
	pthread_mutex_unlock(&l->mu);
	return s;
}

/* The node's row with this incarnation, alive: a new boot takes it over from an older one,
 * which finds out at its next renewal (lost). */
static bool
join(struct lease *l, const char *const p[3], uint64_t deadline)
{
	PGresult *r = exec_by(
	        l,
	        "INSERT INTO cluster_node (node_id, incarnation, lease_until, state, updated_at)"
	        " VALUES ($1, $2, now() + $3 * interval '1 millisecond', 0, now())"
	        " ON CONFLICT (node_id) DO UPDATE SET incarnation = EXCLUDED.incarnation,"
	        " lease_until = EXCLUDED.lease_until, state = 0, declared_by = NULL,"
	        " live_set = NULL, updated_at = now()",
	        3, p, deadline);

	PQclear(r);
	return r != NULL;
}

/* 1 renewed, 0 the row is no longer ours (declared dead, left, or a newer boot), -1 failed. */
static int
renew(struct lease *l, const char *const p[3], uint64_t deadline)
{
	PGresult *r = exec_by(l,
	                      "UPDATE cluster_node SET lease_until = now() + $3 * interval"
	                      " '1 millisecond', updated_at = now()"
	                      " WHERE node_id = $1 AND incarnation = $2 AND state = 0",
	                      3, p, deadline);
	int rc;

	if (r == NULL)
		return -1;
	rc = strcmp(PQcmdTuples(r), "0") != 0;
	PQclear(r);
	return rc;
}

/* Reports one declared node with the live set written for it. */
static void
report_declared(struct lease *l, PGresult *r, int row)
{
	const char *node = PQgetvalue(r, row, 0);
	uint64_t inc = strtoull(PQgetvalue(r, row, 1), NULL, 10);
	const char *live[64];
	size_t n = 0;

	for (int i = 0; i < PQntuples(r) && n < 64; i++)
		if (strcmp(PQgetvalue(r, i, 0), node) == 0 && !PQgetisnull(r, i, 2))
			live[n++] = PQgetvalue(r, i, 2);
	LOG_NOTICE("lease", "node %s (incarnation %llu) declared dead: its lease expired", node,
	           (unsigned long long)inc);
	pthread_mutex_lock(&l->mu);
	l->st.declared++;
	pthread_mutex_unlock(&l->mu);
	if (l->ops.declared != NULL)
		l->ops.declared(l->ops.arg, node, inc, live, n);
}

/* Declares dead every other node whose lease expired more than grace ago, while this node's own
 * lease holds: one UPDATE, so when several nodes sweep at once each row goes to one of them. The
 * live set is taken from the table in the same statement: the same for every adopter. */
static void
sweep(struct lease *l, const char *const p[3], uint64_t deadline)
{
	char grace[16];
	const char *q[4] = {p[0], p[1], grace, NULL};
	PGresult *r;
	const char *prev = NULL;

	snprintf(grace, sizeof(grace), "%u", l->conf.grace_ms);
	r = exec_by(l,
	            "WITH me AS (SELECT 1 FROM cluster_node WHERE node_id = $1 AND incarnation = $2"
	            "   AND state = 0 AND lease_until >= now()),"
	            " live AS (SELECT coalesce(array_agg(node_id ORDER BY node_id), '{}') AS s"
	            "   FROM cluster_node WHERE state = 0 AND lease_until >= now()),"
	            " d AS (UPDATE cluster_node SET state = 1, declared_by = $1,"
	            "   live_set = (SELECT s FROM live), updated_at = now()"
	            "   WHERE state = 0 AND node_id <> $1 AND EXISTS (SELECT 1 FROM me)"
	            "   AND lease_until < now() - $3 * interval '1 millisecond'"
	            "   RETURNING node_id, incarnation, live_set)"
	            " SELECT node_id, incarnation, unnest(live_set) FROM d ORDER BY node_id",
	            3, q, deadline);
	if (r == NULL)
		return;
	for (int i = 0; i < PQntuples(r); i++) {
		if (prev == NULL || strcmp(prev, PQgetvalue(r, i, 0)) != 0)
			report_declared(l, r, i);
		prev = PQgetvalue(r, i, 0);
	}
	PQclear(r);
}

static void
set_fenced(struct lease *l, bool fenced)
{
	pthread_mutex_lock(&l->mu);
	l->st.fenced = fenced;
	pthread_mutex_unlock(&l->mu);
	if (fenced)
		LOG_WARN("lease", "PostgreSQL has not renewed this node's lease for %u ms: fenced",
		         l->conf.fence_ms);
	else
		LOG_NOTICE("lease", "lease renewed again: no longer fenced");
	if (l->ops.fenced != NULL)
		l->ops.fenced(l->ops.arg, fenced);
}

/* One period: join or renew, then fence or unfence, then sweep. Returns false once lost. */
static bool
period(struct lease *l, const char *const p[3])
{
	uint64_t start = mono_ms(), deadline = start + l->conf.renew_ms;
	int rc = l->joined ? renew(l, p, deadline) : join(l, p, deadline) ? 1 : -1;

	pthread_mutex_lock(&l->mu);
	if (rc > 0)
		l->st.renewals++;
	else if (rc < 0)
		l->st.renew_failures++;
	pthread_mutex_unlock(&l->mu);
	if (rc == 0) {
		LOG_ERR("lease",
		        "this node's lease was taken (declared dead, or a newer boot of %s)",
		        l->conf.node_id);
		pthread_mutex_lock(&l->mu);
		l->st.lost = true;
		pthread_mutex_unlock(&l->mu);
		if (l->ops.lost != NULL)
			l->ops.lost(l->ops.arg);
		return false;
	}
	if (l->ops.renewed != NULL)
		l->ops.renewed(l->ops.arg, rc > 0);
	if (rc > 0) {
		if (!l->joined || l->last_ok_ms + 2 * l->conf.renew_ms < mono_ms())
			l->ok_since_ms = mono_ms(); /* (re)starting a run of successes */
		l->joined = true;
		l->last_ok_ms = mono_ms();
		if (l->st.fenced)
			set_fenced(l, false);
		/* Only after a whole ttl of renewals: had PostgreSQL been away for everyone, every
		 * lease expired meanwhile, and the others need a period to renew theirs. */
		if (mono_ms() - l->ok_since_ms >= l->conf.ttl_ms)
			sweep(l, p, deadline);
	} else if (!l->st.fenced && mono_ms() - l->last_ok_ms >= l->conf.fence_ms) {
		if (l->ops.global_outage == NULL || !l->ops.global_outage(l->ops.arg)) {
			set_fenced(l, true);
		} else if (!l->outage_logged) {
			l->outage_logged = true;
			LOG_WARN("lease",
			         "PostgreSQL is down for every node this one reaches: not fenced,"
			         " still serving");
		}
	}
	if (rc > 0)
		l->outage_logged = false;
	return true;
}

/* Sleeps until the next period (measured from `since`) or a stop. */
static void
pause_until(struct lease *l, uint64_t since)
{
	struct timespec ts;
	uint64_t due = since + l->conf.renew_ms, now = mono_ms();
	uint64_t wait = due > now ? due - now : 0;

	clock_gettime(CLOCK_REALTIME, &ts); /* the condition variable's clock */
	ts.tv_sec += (time_t)(wait / 1000);
	ts.tv_nsec += (long)(wait % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&l->mu);
	while (!l->stop && pthread_cond_timedwait(&l->cv, &l->mu, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&l->mu);
}

static void *
run(void *arg)
{
	struct lease *l = arg;
	char inc[24], ttl[16];
	const char *p[3] = {l->conf.node_id, inc, ttl};
	bool leaving;

	snprintf(inc, sizeof(inc), "%llu", (unsigned long long)l->conf.incarnation);
	snprintf(ttl, sizeof(ttl), "%u", l->conf.ttl_ms);
	l->last_ok_ms = mono_ms();
	while (!stopping(l)) {
		uint64_t start = mono_ms();
		if (!period(l, p))
			break;
		pause_until(l, start);
	}
	pthread_mutex_lock(&l->mu);
	leaving = l->leaving; /* false when the loop ended on its own (lost) */
	pthread_mutex_unlock(&l->mu);
	if (leaving && l->joined && !l->st.lost) {
		PGresult *r = exec_by(l,
		                      "UPDATE cluster_node SET state = 2, updated_at = now()"
		                      " WHERE node_id = $1 AND incarnation = $2",
		                      2, p, mono_ms() + l->conf.renew_ms);
		PQclear(r);
	}
	drop_conn(l);
	return NULL;
}

static void
lease_free(struct lease *l)
{
	sl_free((char *)l->conf.dsn);
	sl_free((char *)l->conf.node_id);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	sl_free(l);
}

struct lease *
lease_start(const struct lease_conf *conf, const struct lease_ops *ops, int *err)
{
	struct lease *l = sl_calloc(1, sizeof(*l));

	*err = -ENOMEM;
	if (l == NULL)
		return NULL;
	l->conf = *conf;
	l->ops = *ops;
	l->conf.dsn = conf->dsn != NULL ? sl_strdup(conf->dsn) : NULL;
	l->conf.node_id = conf->node_id != NULL ? sl_strdup(conf->node_id) : NULL;
	l->conf.renew_ms = conf->renew_ms ? conf->renew_ms : 1000;
	l->conf.ttl_ms = conf->ttl_ms ? conf->ttl_ms : 8000;
	l->conf.fence_ms = conf->fence_ms ? conf->fence_ms : 6000;
	l->conf.grace_ms = conf->grace_ms ? conf->grace_ms : 2000;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	if (l->conf.dsn == NULL || l->conf.node_id == NULL)
		goto fail;
	*err = -EINVAL;
	if (l->conf.fence_ms >= l->conf.ttl_ms || l->conf.renew_ms >= l->conf.fence_ms)
		goto fail; /* fenced before anyone may declare it dead, and after a missed renewal
		            */
	if ((*err = -pthread_create(&l->thread, NULL, run, l)) != 0)
		goto fail;
	*err = 0;
	return l;
fail:
	lease_free(l);
	return NULL;
}

void
lease_stop(struct lease *l, bool leaving)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	l->leaving = leaving;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	lease_free(l);
}

void
lease_stats(struct lease *l, struct lease_stats *out)
{
	pthread_mutex_lock(&l->mu);
	*out = l->st;
	pthread_mutex_unlock(&l->mu);
}
