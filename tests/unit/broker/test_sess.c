/* tests/unit/broker/test_sess.c - what an idle session costs, and finding sessions by id (the
 * id's top half is its client id's hash: sess_by_id() walks one bucket of the table by client
 * id), on a real one-worker node. The rarely used part (sess_x.c) is made on first need. */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "broker/core/conn.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "broker/index/topic.h"
#include "proto/base/sl_alloc.h"
#include "worker_fix.h"

static struct worker_fix fix;
static struct worker *w;

static void
setup(void)
{
	w = worker_fix_up(&fix);
}

static void
teardown(void)
{
	worker_fix_down(&fix);
}

START_TEST(test_idle_struct_sizes) /* the idle benchmark's figures (tests/bench/README.md) */
{
	if (sizeof(void *) != 8)
		return; /* the sizes below are LP64's */
	/* A 19-byte client id still fits the 192-byte malloc chunk. */
	ck_assert_uint_le(offsetof(struct sess, client_id), 164);
	ck_assert_uint_le(sizeof(struct conn) - sizeof(uv_tcp_t), 152);
}
END_TEST

START_TEST(test_new_session_has_no_x)
{
	struct sess *s = sess_new(w, "client-1");
	struct sl_msg *m = sl_msg_new(sl_bytes_make("t", 1), sl_bytes_make(NULL, 0),
	                              sl_bytes_make("p", 1), sl_bytes_make("x", 1), 0, false);

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(m);
	s->expiry = 3600; /* outlives its connection */
	ck_assert_str_eq(s->client_id, "client-1");
	ck_assert_uint_eq(s->id >> 32, sess_hash("client-1"));
	ck_assert_ptr_eq(sess_find(w, "client-1"), s);
	ck_assert(!sess_rx_has(s, 1));
	sess_deliver(s, m, 0, false, NULL, 0); /* QoS 0 is not queued offline: nothing kept */
	sess_detach(s, true);                  /* no will: nothing to schedule */
	ck_assert_ptr_null(s->ext);
	sl_msg_unref(m);
}
END_TEST

START_TEST(test_by_id_across_growth_and_free) /* 1024 -> 4096 buckets; freed ids stay gone */
{
	enum { N_SESS = 2500 };
	static struct sess *s[N_SESS];
	static uint64_t id[N_SESS];
	char cid[32];
	int i;

	for (i = 0; i < N_SESS; i++) {
		snprintf(cid, sizeof(cid), "c%d", i);
		ck_assert_ptr_nonnull(s[i] = sess_new(w, cid));
		id[i] = s[i]->id;
	}
	ck_assert_uint_ge(w->sess_cap, 4096);
	for (i = 0; i < N_SESS; i += 2)
		sess_free(s[i]);
	for (i = 0; i < N_SESS; i++)
		ck_assert_ptr_eq(sess_by_id(w, id[i]), i % 2 == 0 ? NULL : s[i]);
	/* The same client id again: a new session, a new id; the old one finds nothing. */
	ck_assert_ptr_nonnull(s[0] = sess_new(w, "c0"));
	ck_assert_uint_ne(s[0]->id, id[0]);
	ck_assert_ptr_null(sess_by_id(w, id[0]));
	ck_assert_ptr_eq(sess_by_id(w, s[0]->id), s[0]);
}
END_TEST

START_TEST(test_x_made_on_first_need) /* QoS 2 receive ids, drop counts */
{
	struct sess *s = sess_new(w, "q2");

	ck_assert_ptr_nonnull(s);
	ck_assert(!sess_rx_remove(s, 7));
	ck_assert_ptr_null(s->ext);
	for (uint16_t pid = 1; pid <= 20; pid++) /* past the first capacity of 8 */
		ck_assert_int_eq(sess_rx_add(s, pid), 0);
	ck_assert_ptr_nonnull(s->ext);
	ck_assert(sess_rx_has(s, 20));
	ck_assert(sess_rx_remove(s, 7));
	ck_assert(!sess_rx_has(s, 7));
	ck_assert_uint_eq(s->ext->n_rx_qos2, 19);
	ck_assert_uint_eq(sess_dropped(s, 2), 2);
	ck_assert_uint_eq(sess_dropped(s, 1), 3);
	ck_assert_uint_eq(w->st.pub_dropped, 3);
	sess_free(s); /* frees x and its ids (the sanitizer build checks) */
}
END_TEST

/* Issue 10: a session's subscriptions cost O(1) each, whatever their number; the table that
 * finds them doubles a few slots at a time. Adds, replaces and removes in an order that
 * crosses several doublings with old slots still to move, checking every filter each round
 * against what the session and the index hold. */
START_TEST(test_many_subs_issue_10)
{
	enum { N_SUBS = 20000 };
	struct sess *s = sess_new(w, "many");
	char f[32];
	bool existed;
	int i;

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < N_SUBS; i++) {
		snprintf(f, sizeof(f), "m/%d", i);
		ck_assert_int_eq(sess_add_sub(s, f, 1, 0, &existed), 0);
		ck_assert(!existed);
		if (i % 3 == 0) { /* a replacement is no new entry */
			ck_assert_int_eq(sess_add_sub(s, f, 0, 7, &existed), 0);
			ck_assert(existed);
		}
		if (i % 4 == 1) { /* removals while old slots are still being moved */
			snprintf(f, sizeof(f), "m/%d", i - 1);
			ck_assert_int_eq(sess_remove_sub(s, f), 0);
			ck_assert_int_eq(sess_remove_sub(s, f), -1);
		}
	}
	for (i = 0; i < N_SUBS; i++) {
		snprintf(f, sizeof(f), "m/%d", i);
		ck_assert_msg(sess_has_sub(s, f) == (i % 4 != 0), "filter %s", f);
	}
	ck_assert_uint_eq(s->n_subs, N_SUBS - N_SUBS / 4);
	ck_assert_uint_eq(topic_tree_count(w->subs), s->n_subs);
	for (i = N_SUBS - 1; i >= 0; i -= 2) {
		snprintf(f, sizeof(f), "m/%d", i);
		ck_assert_int_eq(sess_remove_sub(s, f), i % 4 != 0 ? 0 : -1);
	}
	for (i = 0; i < N_SUBS; i++) {
		snprintf(f, sizeof(f), "m/%d", i);
		ck_assert_msg(sess_has_sub(s, f) == (i % 2 == 0 && i % 4 != 0), "filter %s", f);
	}
	ck_assert_uint_eq(topic_tree_count(w->subs), s->n_subs);
	sess_free(s); /* 5,000 left: in slices */
	for (i = 0; i < 100000 && topic_tree_count(w->subs) > 0; i++)
		uv_run(w->loop, UV_RUN_NOWAIT);
	ck_assert_uint_eq(topic_tree_count(w->subs), 0);
}
END_TEST

/* Issue 10: a session ending with thousands of subscriptions leaves the index a slice per loop
 * turn; meanwhile its client id is free for a new session and matches skip the old one. */
START_TEST(test_reap_in_slices_issue_10)
{
	enum { N_SUBS = 50000 };
	struct sess *s = sess_new(w, "reaped"), *again;
	char f[32];
	bool existed;
	int turns = 0;

	ck_assert_ptr_nonnull(s);
	for (int i = 0; i < N_SUBS; i++) {
		snprintf(f, sizeof(f), "r/%d", i);
		ck_assert_int_eq(sess_add_sub(s, f, 1, 0, &existed), 0);
	}
	sess_free(s);
	ck_assert_ptr_null(sess_find(w, "reaped"));
	ck_assert_ptr_nonnull(again = sess_new(w, "reaped"));
	ck_assert_int_eq(sess_add_sub(again, "r/1", 1, 0, &existed), 0);
	while (topic_tree_count(w->subs) > 1) {
		ck_assert_int_lt(turns++, 100000);
		uv_run(w->loop, UV_RUN_NOWAIT);
	}
	ck_assert_uint_eq(topic_tree_count(w->subs), 1);
	ck_assert_ptr_null(w->slices);
	sess_free(again);
}
END_TEST

Suite *
sess_suite(void)
{
	Suite *s = suite_create("sess");
	TCase *tc = tcase_create("sess");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_idle_struct_sizes);
	tcase_add_test(tc, test_new_session_has_no_x);
	tcase_add_test(tc, test_by_id_across_growth_and_free);
	tcase_add_test(tc, test_x_made_on_first_need);
	tcase_add_test(tc, test_many_subs_issue_10);
	tcase_add_test(tc, test_reap_in_slices_issue_10);
	suite_add_tcase(s, tc);
	return s;
}
