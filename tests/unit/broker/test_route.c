/* tests/unit/broker/test_route.c - who gets a message: merge of overlapping subscriptions,
 * no-local, retain-as-published and shared groups, on a real one-worker node. */
#include <check.h>
#include <string.h>

#include "broker/core/route.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "proto/base/sl_alloc.h"
#include "proto/mqtt.h"
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

/* An offline persistent session: deliveries of QoS 1/2 wait in its queue, where we look. */
static struct sess *
offline(const char *id)
{
	struct sess *s = sess_new(w, id);

	ck_assert_ptr_nonnull(s);
	s->expiry = 3600;
	return s;
}

static void
sub(struct sess *s, const char *filter, uint8_t options, uint32_t sub_id)
{
	bool existed;

	ck_assert_int_eq(sess_add_sub(s, filter, options, sub_id, &existed), 0);
}

static void
publish(const char *topic, const char *sender, uint8_t qos, bool retain)
{
	struct sl_msg *m = sl_msg_new(sl_bytes_make(topic, (uint32_t)strlen(topic)),
	                              sl_bytes_make(NULL, 0), sl_bytes_make("p", 1),
	                              sl_bytes_make(sender, (uint32_t)strlen(sender)), qos, retain);

	ck_assert_ptr_nonnull(m);
	route_publish(w, m, NULL);
	sl_msg_unref(m);
}

START_TEST(test_overlap_one_copy_max_qos_all_ids_mqtt_3_3_4_3)
{
	struct sess *a = offline("a");

	sub(a, "t/#", 1, 5);
	sub(a, "t/+", 2, 7);
	publish("t/x", "pub", 2, false);
	ck_assert_uint_eq(a->queue.count, 1);
	ck_assert_uint_eq(a->queue.head->qos, 2);
	ck_assert_uint_eq(a->queue.head->n_sub_ids, 2);
	ck_assert_uint_eq(a->queue.head->sub_ids[0] + a->queue.head->sub_ids[1], 12);
}
END_TEST

START_TEST(test_qos_is_min_of_publish_and_grant_mqtt_3_8_4_8)
{
	struct sess *a = offline("a");

	sub(a, "t/x", 2, 0);
	publish("t/x", "pub", 1, false);
	ck_assert_uint_eq(a->queue.head->qos, 1);
	ck_assert_uint_eq(a->queue.head->n_sub_ids, 0);
}
END_TEST

START_TEST(test_no_local_mqtt_3_8_3_3)
{
	struct sess *self = offline("pub"), *other = offline("other");

	sub(self, "t/#", 1 | MQTT_SUBOPT_NO_LOCAL, 0);
	sub(other, "t/#", 1 | MQTT_SUBOPT_NO_LOCAL, 0);
	publish("t/x", "pub", 1, false);
	ck_assert_uint_eq(self->queue.count, 0);
	ck_assert_uint_eq(other->queue.count, 1);
}
END_TEST

START_TEST(test_retain_as_published_mqtt_3_3_1_12)
{
	struct sess *rap = offline("rap"), *plain = offline("plain");

	sub(rap, "t/#", 1 | MQTT_SUBOPT_RAP, 0);
	sub(plain, "t/#", 1, 0);
	publish("t/x", "pub", 1, true);
	ck_assert(rap->queue.head->retain);
	ck_assert(!plain->queue.head->retain);
}
END_TEST

START_TEST(test_shared_picks_connected_members_only)
{
	struct sess *away = offline("away"), *here = offline("here");
	int i;

	sub(away, "$share/g/t", 1, 0);
	sub(here, "$share/g/t", 1, 0);
	atomic_store(&here->online, true); /* as if connected; queued all the same here */
	for (i = 0; i < 4; i++)
		publish("t", "pub", 1, false);
	ck_assert_uint_eq(away->queue.count, 0);
	ck_assert_uint_eq(here->queue.count, 4);
	atomic_store(&here->online, false);
	sess_free(away); /* leaves the group: the index must not name it afterwards */
	publish("t", "pub", 1, false);
	ck_assert_uint_eq(here->queue.count, 4);
}
END_TEST

START_TEST(test_unsubscribed_session_gets_nothing)
{
	struct sess *a = offline("a");

	sub(a, "t/#", 1, 0);
	ck_assert_int_eq(sess_remove_sub(a, "t/#"), 0);
	ck_assert_int_eq(sess_remove_sub(a, "t/#"), -1);
	publish("t/x", "pub", 1, false);
	ck_assert_uint_eq(a->queue.count, 0);
}
END_TEST

static bool
interested(const char *topic)
{
	return route_interested(w, sl_bytes_make(topic, (uint32_t)strlen(topic)));
}

/* The interest summary may say yes for nothing (a collision) but never no for a topic a filter
 * of the worker matches: every shape of filter against the topics it matches and a few it
 * does not, then nothing once the filters are gone. */
START_TEST(test_interest_summary_never_misses)
{
	static const struct {
		const char *filter, *yes[3], *no;
	} cases[] = {
	        {"a", {"a", NULL, NULL}, "b"},
	        {"a/b", {"a/b", NULL, NULL}, "a/c"},
	        {"a/b/c/d", {"a/b/c/d", NULL, NULL}, "x/b/c/d"},
	        {"a/+", {"a/x", NULL, NULL}, "b/x"},
	        {"a/#", {"a", "a/x", "a/x/y"}, "ab"},
	        {"a/+/c", {"a/b/c", "a/z/c", NULL}, "b/b/c"},
	        {"+/b", {"x/b", "y/b", NULL}, "$SYS/b"},
	        {"#", {"x", "x/y/z", "/"}, "$SYS/x"},
	        {"$SYS/#", {"$SYS/x", "$SYS", NULL}, "$SYT/x"},
	        {"/a", {"/a", NULL, NULL}, "a"},
	};
	struct sess *s = offline("int");
	size_t i, k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(!interested(cases[i].yes[0]), "%s before", cases[i].filter);
		sub(s, cases[i].filter, 1, 0);
		for (k = 0; k < 3 && cases[i].yes[k] != NULL; k++)
			ck_assert_msg(interested(cases[i].yes[k]), "%s: %s", cases[i].filter,
			              cases[i].yes[k]);
		ck_assert_msg(!interested(cases[i].no), "%s: %s", cases[i].filter, cases[i].no);
		sub(s, cases[i].filter, 2, 0); /* a replaced subscription counts once */
		ck_assert_int_eq(sess_remove_sub(s, cases[i].filter), 0);
		for (k = 0; k < 3 && cases[i].yes[k] != NULL; k++)
			ck_assert_msg(!interested(cases[i].yes[k]), "%s after: %s", cases[i].filter,
			              cases[i].yes[k]);
	}
	/* Shared subscriptions are picked from the common index: no worker's summary. */
	sub(s, "$share/g/q", 1, 0);
	ck_assert(!interested("q"));
}
END_TEST

Suite *
route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("route");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_overlap_one_copy_max_qos_all_ids_mqtt_3_3_4_3);
	tcase_add_test(tc, test_qos_is_min_of_publish_and_grant_mqtt_3_8_4_8);
	tcase_add_test(tc, test_no_local_mqtt_3_8_3_3);
	tcase_add_test(tc, test_retain_as_published_mqtt_3_3_1_12);
	tcase_add_test(tc, test_shared_picks_connected_members_only);
	tcase_add_test(tc, test_unsubscribed_session_gets_nothing);
	tcase_add_test(tc, test_interest_summary_never_misses);
	suite_add_tcase(s, tc);
	return s;
}
