/* tests/unit/cluster/test_lease.c - node leases (cluster/lease.h) on a real PostgreSQL (the
 * storage tests' fixture: a fresh server per test): a node joins and renews; a node that stops
 * renewing is declared dead by exactly one of the others, with the live set, after ttl + grace;
 * a node that leaves is never declared; a node whose row was taken learns it (lost); with
 * PostgreSQL down for everyone a node fences itself and nobody is declared dead, then all
 * recover. Times are short (renew 100 ms, ttl 800, fence 600, grace 200) and stretched by
 * SL_TEST_TIME_SCALE under the sanitizers. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../storage/pg_fix.h"
#include "cluster/lease.h"
#include "storage/store.h"

static double
scale(void)
{
	const char *s = getenv("SL_TEST_TIME_SCALE");

	return s != NULL && atof(s) >= 1 ? atof(s) : 1;
}

static void
sleep_ms(double ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)((long)ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* What one node's callbacks saw. */
struct seen {
	atomic_int fenced, unfenced, lost, declared;
	pthread_mutex_t mu;
	char dead[64], live[256];
};

static void
on_fenced(void *arg, bool fenced)
{
	struct seen *s = arg;

	atomic_fetch_add(fenced ? &s->fenced : &s->unfenced, 1);
}

static void
on_lost(void *arg)
{
	atomic_fetch_add(&((struct seen *)arg)->lost, 1);
}

static void
on_declared(void *arg, const char *node, uint64_t inc, const char *const *live, size_t n)
{
	struct seen *s = arg;

	(void)inc;
	pthread_mutex_lock(&s->mu);
	snprintf(s->dead, sizeof(s->dead), "%s", node);
	s->live[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strncat(s->live, live[i], sizeof(s->live) - strlen(s->live) - 2);
		strcat(s->live, " ");
	}
	pthread_mutex_unlock(&s->mu);
	atomic_fetch_add(&s->declared, 1);
}

static struct seen seen[3];

static struct lease *
start(int i, uint64_t inc)
{
	static const char *const names[] = {"a", "b", "c"};
	double k = scale();
	struct lease_conf c = {pg_fix_dsn(),
	                       names[i],
	                       inc,
	                       (uint32_t)(100 * k),
	                       (uint32_t)(800 * k),
	                       (uint32_t)(600 * k),
	                       (uint32_t)(200 * k)};
	struct lease_ops ops = {on_fenced, on_lost, on_declared, NULL, NULL, &seen[i]};
	int err;
	struct lease *l = lease_start(&c, &ops, &err);

	ck_assert_msg(l != NULL, "lease_start: %d", err);
	return l;
}

/* The schema comes with the store: opening it runs the migrations. */
static void
setup(void)
{
	pg_fix_up1();
	store_close(pg_fix_open("schema"));
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 3; i++)
		pthread_mutex_init(&seen[i].mu, NULL);
}

static void
teardown(void)
{
	pg_fix_down();
}

static bool
wait_for(atomic_int *v, int at_least, double ms)
{
	for (double t = 0; t < ms * scale(); t += 20) {
		if (atomic_load(v) >= at_least)
			return true;
		sleep_ms(20);
	}
	return atomic_load(v) >= at_least;
}

static long
row_state(const char *node)
{
	char sql[128];

	snprintf(sql, sizeof(sql),
	         "SELECT coalesce(max(state), -1) FROM cluster_node WHERE node_id = '%s'", node);
	return pg_fix_count(sql);
}

START_TEST(test_join_and_renew)
{
	struct lease *a = start(0, 7);
	struct lease_stats st;

	sleep_ms(500 * scale());
	lease_stats(a, &st);
	ck_assert_uint_ge(st.renewals, 3);
	ck_assert(!st.fenced && !st.lost);
	ck_assert_int_eq(row_state("a"), 0);
	ck_assert_int_eq(pg_fix_count("SELECT incarnation FROM cluster_node WHERE node_id = 'a'"),
	                 7);
	ck_assert_int_eq(pg_fix_count("SELECT count(*) FROM cluster_node"
	                              " WHERE node_id = 'a' AND lease_until > now()"),
	                 1);
	lease_stop(a, false);
}
END_TEST

/* a stops renewing (as a node killed -9 would): one of b and c declares it, with {b, c}. */
START_TEST(test_dead_node_declared_once)
{
	struct lease *a = start(0, 1), *b = start(1, 2), *c = start(2, 3);

	sleep_ms(300 * scale());
	lease_stop(a, false);
	/* Not before ttl + grace: the lease still holds. */
	sleep_ms(500 * scale());
	ck_assert_int_eq(atomic_load(&seen[1].declared) + atomic_load(&seen[2].declared), 0);
	ck_assert_int_eq(row_state("a"), 0);
	for (int t = 0;
	     t < 200 && atomic_load(&seen[1].declared) + atomic_load(&seen[2].declared) == 0; t++)
		sleep_ms(20 * scale());
	sleep_ms(500 * scale()); /* a second declaration would show by now */
	ck_assert_int_eq(atomic_load(&seen[1].declared) + atomic_load(&seen[2].declared), 1);
	ck_assert_int_eq(row_state("a"), 1);
	struct seen *w = atomic_load(&seen[1].declared) ? &seen[1] : &seen[2];
	ck_assert_str_eq(w->dead, "a");
	ck_assert_str_eq(w->live, "b c ");
	ck_assert_int_eq(pg_fix_count("SELECT count(*) FROM cluster_node WHERE node_id = 'a'"
	                              " AND declared_by IN ('b', 'c')"
	                              " AND live_set = ARRAY['b', 'c']"),
	                 1);
	lease_stop(b, false);
	lease_stop(c, false);
}
END_TEST

START_TEST(test_left_node_never_declared)
{
	struct lease *a = start(0, 1), *b = start(1, 2);

	sleep_ms(300 * scale());
	lease_stop(a, true);
	ck_assert_int_eq(row_state("a"), 2);
	sleep_ms(1500 * scale());
	ck_assert_int_eq(atomic_load(&seen[1].declared), 0);
	ck_assert_int_eq(row_state("a"), 2);
	lease_stop(b, false);
}
END_TEST

/* Its row declared dead (or taken by a newer boot): the node learns it at its next renewal. */
START_TEST(test_row_taken_is_lost)
{
	struct lease *a = start(0, 1);
	PGconn *c;

	sleep_ms(300 * scale());
	c = pg_fix_connect();
	PQclear(PQexec(c, "UPDATE cluster_node SET state = 1 WHERE node_id = 'a'"));
	PQfinish(c);
	ck_assert(wait_for(&seen[0].lost, 1, 1000));
	lease_stop(a, false);
	ck_assert_int_eq(atomic_load(&seen[0].lost), 1);
}
END_TEST

/* PostgreSQL down for everyone: each node fences itself after fence_ms, nobody is declared
 * dead then or after PostgreSQL returns (every lease expired meanwhile: a node sweeps only
 * after renewing for a whole ttl, by when the others renewed too), and all unfence. */
START_TEST(test_global_outage_fences_and_declares_nobody)
{
	struct lease *a = start(0, 1), *b = start(1, 2);

	sleep_ms(300 * scale());
	ck_assert_int_eq(pg_fix_ctl("stop"), 0);
	ck_assert(wait_for(&seen[0].fenced, 1, 2000));
	ck_assert(wait_for(&seen[1].fenced, 1, 2000));
	sleep_ms(1200 * scale()); /* past ttl + grace */
	ck_assert_int_eq(pg_fix_ctl("start"), 0);
	ck_assert(wait_for(&seen[0].unfenced, 1, 5000));
	ck_assert(wait_for(&seen[1].unfenced, 1, 5000));
	sleep_ms(2000 * scale());
	ck_assert_int_eq(atomic_load(&seen[0].declared) + atomic_load(&seen[1].declared), 0);
	ck_assert_int_eq(atomic_load(&seen[0].lost) + atomic_load(&seen[1].lost), 0);
	ck_assert_int_eq(row_state("a"), 0);
	ck_assert_int_eq(row_state("b"), 0);
	lease_stop(a, false);
	lease_stop(b, false);
}
END_TEST

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* After an outage a node declares nobody before it has renewed for a whole ttl (every lease
 * expired meanwhile; the others may not have renewed yet). Here a really died during the
 * outage: b declares it, but only a ttl after PostgreSQL came back. */
START_TEST(test_no_declaration_right_after_an_outage)
{
	struct lease *a = start(0, 1), *b = start(1, 2);
	double back;

	sleep_ms(1000 * scale()); /* b's sweeps have begun */
	ck_assert_int_eq(pg_fix_ctl("stop"), 0);
	lease_stop(a, false);
	sleep_ms(1200 * scale());
	ck_assert_int_eq(pg_fix_ctl("start"), 0);
	back = now_ms();
	ck_assert(wait_for(&seen[1].declared, 1, 6000));
	ck_assert_msg(now_ms() - back >= 500 * scale(), /* b may renew while pg_ctl still waits */
	              "a declared %.0f ms after PostgreSQL came back (ttl 800)", now_ms() - back);
	ck_assert_int_eq(row_state("a"), 1);
	lease_stop(b, false);
}
END_TEST

START_TEST(test_bad_timing_refused)
{
	struct lease_conf c = {"dbname=x", "a", 1, 100, 800, 900, 200}; /* fence >= ttl */
	struct lease_ops ops = {0};
	int err;

	ck_assert_ptr_null(lease_start(&c, &ops, &err));
	ck_assert_int_eq(err, -22);
}
END_TEST

Suite *
lease_suite(void)
{
	Suite *s = suite_create("lease");
	TCase *tc = tcase_create("lease");

	tcase_add_test(tc, test_bad_timing_refused);
	if (pg_fix_have()) {
		TCase *pg = tcase_create("lease_pg");
		tcase_add_checked_fixture(pg, setup, teardown);
		tcase_set_timeout(pg, 60 * scale());
		tcase_add_test(pg, test_join_and_renew);
		tcase_add_test(pg, test_dead_node_declared_once);
		tcase_add_test(pg, test_left_node_never_declared);
		tcase_add_test(pg, test_row_taken_is_lost);
		tcase_add_test(pg, test_global_outage_fences_and_declares_nobody);
		tcase_add_test(pg, test_no_declaration_right_after_an_outage);
		suite_add_tcase(s, pg);
	}
	suite_add_tcase(s, tc);
	return s;
}
