/* Tests for broker/retain.c: the node's retained messages. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/index/retain.h"
#include "proto/base/sl_alloc.h"
#include "proto/mqtt_topic.h"

static struct sl_bytes
bv(const char *s)
{
	return sl_bytes_make(s, (uint32_t)strlen(s));
}

static struct sl_msg *
msg_new(const char *topic, const char *payload, uint64_t expiry_at_ms)
{
	struct sl_msg *m = sl_msg_new(bv(topic), bv(""), bv(payload), bv("pub"), 1, true);

	ck_assert_ptr_nonnull(m);
	m->expiry_at_ms = expiry_at_ms;
	return m;
}

static unsigned
refs(struct sl_msg *m)
{
	return atomic_load(&m->refs);
}

/* Returns the retained message of exactly topic (a new ref), or NULL. */
static struct sl_msg *
get(struct retain_store *r, const char *topic, uint64_t now_ms)
{
	struct sl_msg **out, *m;
	size_t n;

	ck_assert_int_eq(retain_match(r, bv(topic), now_ms, &out, &n), 0);
	ck_assert_uint_le(n, 1);
	m = n == 1 ? out[0] : NULL;
	if (n == 0)
		ck_assert_ptr_null(out);
	sl_free(out);
	return m;
}

START_TEST(test_set_replace_mqtt_3_3_1_5)
{
	struct retain_store *r = retain_new();
	struct sl_msg *a = msg_new("a/b", "1", 0), *b = msg_new("a/b", "2", 0), *m;

	ck_assert_int_eq(retain_set(r, a), 0);
	ck_assert_uint_eq(retain_count(r), 1);
	ck_assert_uint_eq(refs(a), 2); /* ours and the store's */
	m = get(r, "a/b", 0);
	ck_assert_ptr_eq(m, a);
	ck_assert_uint_eq(refs(a), 3);
	sl_msg_unref(m);
	ck_assert_ptr_null(get(r, "a", 0));
	ck_assert_ptr_null(get(r, "a/b/c", 0));
	ck_assert_int_eq(retain_set(r, b), 0); /* replaces */
	ck_assert_uint_eq(retain_count(r), 1);
	ck_assert_uint_eq(refs(a), 1);
	m = get(r, "a/b", 0);
	ck_assert_ptr_eq(m, b);
	sl_msg_unref(m);
	ck_assert_int_eq(retain_set(r, b), 0); /* the same message again */
	ck_assert_uint_eq(refs(b), 2);
	retain_free(r);
	ck_assert_uint_eq(refs(b), 1);
	sl_msg_unref(a);
	sl_msg_unref(b);
}
END_TEST

START_TEST(test_empty_payload_deletes_mqtt_3_3_1_6)
{
	struct retain_store *r = retain_new();
	struct sl_msg *a = msg_new("a/b", "1", 0), *c = msg_new("a/b/c", "3", 0);
	struct sl_msg *del_a = msg_new("a/b", "", 0), *del_c = msg_new("a/b/c", "", 0);
	struct sl_msg *none = msg_new("x/y", "", 0), *m;
	uint64_t before;

	/* Size the root's buckets, which stay, so the byte count can show the pruning. */
	ck_assert_int_eq(retain_set(r, a), 0);
	ck_assert_int_eq(retain_set(r, del_a), 0);
	before = sl_alloc_bytes();
	ck_assert_int_eq(retain_set(r, none), 0); /* [MQTT-3.3.1-7] not kept */
	ck_assert_uint_eq(retain_count(r), 0);
	ck_assert_uint_eq(refs(none), 1);
	ck_assert_uint_eq(sl_alloc_bytes(), before);
	ck_assert_int_eq(retain_set(r, a), 0);
	ck_assert_int_eq(retain_set(r, c), 0);
	ck_assert_uint_eq(retain_count(r), 2);
	ck_assert_int_eq(retain_set(r, del_a), 0); /* [MQTT-3.3.1-6] */
	ck_assert_uint_eq(retain_count(r), 1);
	ck_assert_uint_eq(refs(a), 1);
	ck_assert_uint_eq(refs(del_a), 1);
	ck_assert_ptr_null(get(r, "a/b", 0));
	m = get(r, "a/b/c", 0); /* the topic below is untouched */
	ck_assert_ptr_eq(m, c);
	sl_msg_unref(m);
	ck_assert_int_eq(retain_set(r, del_c), 0);
	ck_assert_uint_eq(retain_count(r), 0);
	ck_assert_uint_eq(refs(c), 1);
	ck_assert_uint_eq(sl_alloc_bytes(), before); /* every node freed */
	retain_free(r);
	sl_msg_unref(a);
	sl_msg_unref(c);
	sl_msg_unref(del_a);
	sl_msg_unref(del_c);
	sl_msg_unref(none);
}
END_TEST

/* Topics held for the wildcard table. */
static const char *const topics[] = {
        "sport/tennis/player1",
        "sport/tennis/player1/ranking",
        "sport/tennis/player1/score/wimbledon",
        "sport/tennis/player2",
        "sport",
        "sport/",
        "/finance",
        "/",
        "$SYS/broker/load",
        "$SYS",
        "a//b",
        "a/b",
        "a/$x",
};

#define NTOPICS ((int)(sizeof(topics) / sizeof(topics[0])))

static const char *const match_filters[] = {
        "#",
        "+",
        "+/+",
        "+/#",
        "/+",
        "sport/tennis/player1/#",
        "sport/#",
        "sport/+",
        "sport/tennis/+",
        "sport/+/player1",
        "+/tennis/#",
        "$SYS/#",
        "$SYS/+/load",
        "$SYS",
        "a/+/b",
        "a/+",
        "a//b",
        "sport/tennis/player1",
        "nothing",
        "sport/tennis/player3/#",
};

/* Retains one message per entry of topics[]; m[k] gets a reference to each. */
static void
store_topics(struct retain_store *r, struct sl_msg **m)
{
	int k;

	for (k = 0; k < NTOPICS; k++) {
		m[k] = msg_new(topics[k], "x", 0);
		ck_assert_int_eq(retain_set(r, m[k]), 0);
	}
	ck_assert_uint_eq(retain_count(r), NTOPICS);
}

/* How many of topics[] filter matches, by mqtt_topic_match(). */
static size_t
count_matching(const char *filter)
{
	size_t n = 0;
	int k;

	for (k = 0; k < NTOPICS; k++)
		n += mqtt_topic_match(bv(filter), bv(topics[k]));
	return n;
}

/* Each filter returns exactly the topics mqtt_topic_match() accepts [MQTT-4.7.2-1]. */
START_TEST(test_match_wildcards) /* cases: match_filters */
{
	const char *filter = match_filters[_i];
	struct retain_store *r = retain_new();
	struct sl_msg *m[NTOPICS], **out;
	bool seen[NTOPICS] = {false};
	size_t n, i;
	int k;

	store_topics(r, m);
	ck_assert_int_eq(retain_match(r, bv(filter), 0, &out, &n), 0);
	for (i = 0; i < n; i++) {
		for (k = 0; k < NTOPICS && out[i] != m[k]; k++)
			;
		ck_assert_int_lt(k, NTOPICS);
		ck_assert_msg(!seen[k], "%s: %s twice", filter, topics[k]);
		ck_assert_msg(mqtt_topic_match(bv(filter), bv(topics[k])), "%s: got %s", filter,
		              topics[k]);
		seen[k] = true;
		sl_msg_unref(out[i]);
	}
	sl_free(out);
	ck_assert_msg(n == count_matching(filter), "%s: %zu matches", filter, n);
	retain_free(r);
	for (k = 0; k < NTOPICS; k++) {
		ck_assert_uint_eq(refs(m[k]), 1);
		sl_msg_unref(m[k]);
	}
}
END_TEST

START_TEST(test_expiry)
{
	struct retain_store *r = retain_new();
	struct sl_msg *a = msg_new("e/a", "1", 1000), *b = msg_new("e/b", "2", 2000);
	struct sl_msg *c = msg_new("e/c/d", "3", 0), **out;
	size_t n, i;

	ck_assert_int_eq(retain_set(r, a), 0);
	ck_assert_int_eq(retain_set(r, b), 0);
	ck_assert_int_eq(retain_set(r, c), 0);
	ck_assert_int_eq(retain_match(r, bv("e/#"), 999, &out, &n), 0);
	ck_assert_uint_eq(n, 3);
	for (i = 0; i < n; i++)
		sl_msg_unref(out[i]);
	sl_free(out);
	/* At its expiry time a message is gone: not returned, deleted, its reference dropped. */
	ck_assert_int_eq(retain_match(r, bv("e/+"), 1000, &out, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_eq(out[0], b);
	sl_msg_unref(out[0]);
	sl_free(out);
	ck_assert_uint_eq(retain_count(r), 2);
	ck_assert_uint_eq(refs(a), 1);
	/* The whole subtree under '#': b expires, c never does. */
	ck_assert_int_eq(retain_match(r, bv("#"), 5000, &out, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_eq(out[0], c);
	sl_msg_unref(out[0]);
	sl_free(out);
	ck_assert_uint_eq(retain_count(r), 1);
	ck_assert_uint_eq(refs(b), 1);
	ck_assert_ptr_null(get(r, "e/a", 0));
	retain_free(r);
	sl_msg_unref(a);
	sl_msg_unref(b);
	sl_msg_unref(c);
}
END_TEST

/* Expired siblings and parents removed in the middle of a walk must not disturb it. */
START_TEST(test_expiry_prunes_during_walk)
{
	struct retain_store *r = retain_new();
	struct sl_msg *m, **out;
	char topic[64];
	size_t n, i;
	int k;

	for (k = 0; k < 300; k++) {
		snprintf(topic, sizeof(topic), "p/%d/q%s", k % 30, k % 3 == 0 ? "" : "/r");
		if (k >= 30 && k % 2 == 0)
			snprintf(topic, sizeof(topic), "p/%d/%d/s", k % 30, k);
		m = msg_new(topic, "v", k % 2 ? 0 : 100);
		ck_assert_int_eq(retain_set(r, m), 0);
		sl_msg_unref(m);
	}
	n = retain_count(r);
	ck_assert_int_eq(retain_match(r, bv("p/#"), 100, &out, &n), 0);
	for (i = 0; i < n; i++) {
		ck_assert_uint_eq(out[i]->expiry_at_ms, 0);
		sl_msg_unref(out[i]);
	}
	sl_free(out);
	ck_assert_uint_eq(retain_count(r), n);
	ck_assert_int_eq(retain_match(r, bv("p/+/+/s"), 100, &out, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(retain_match(r, bv("#"), 100, &out, &n), 0);
	ck_assert_uint_eq(n, retain_count(r));
	for (i = 0; i < n; i++)
		sl_msg_unref(out[i]);
	sl_free(out);
	retain_free(r);
}
END_TEST

static void
on_each(void *arg, struct sl_msg *msg)
{
	size_t *n = arg;

	ck_assert_uint_ge(refs(msg), 2); /* the snapshot holds a reference */
	(*n)++;
}

START_TEST(test_foreach)
{
	struct retain_store *r = retain_new();
	size_t n = 0;
	int k;

	for (k = 0; k < NTOPICS; k++) {
		struct sl_msg *m = msg_new(topics[k], "x", 0);

		ck_assert_int_eq(retain_set(r, m), 0);
		sl_msg_unref(m);
	}
	retain_foreach(r, on_each, &n);
	ck_assert_uint_eq(n, NTOPICS); /* '$' topics included: this is for persistence */
	retain_free(r);
	r = retain_new();
	n = 0;
	retain_foreach(r, on_each, &n);
	ck_assert_uint_eq(n, 0);
	retain_free(r);
}
END_TEST

/* Many topics under one level: a filter without wildcards is one lookup per level. */
START_TEST(test_wide_level)
{
	struct retain_store *r = retain_new();
	struct sl_msg *m, **out;
	size_t n;
	char topic[64];
	int k;

	for (k = 0; k < 20000; k++) {
		snprintf(topic, sizeof(topic), "dev/%d/state", k);
		m = msg_new(topic, "on", 0);
		ck_assert_int_eq(retain_set(r, m), 0);
		sl_msg_unref(m);
	}
	ck_assert_uint_eq(retain_count(r), 20000);
	for (k = 0; k < 20000; k += 997) {
		snprintf(topic, sizeof(topic), "dev/%d/state", k);
		m = get(r, topic, 0);
		ck_assert_ptr_nonnull(m);
		ck_assert_mem_eq(m->topic.p, topic, m->topic.len);
		sl_msg_unref(m);
	}
	/* Issue 10: 20,000 children stop half way through splitting the buckets of the last
	 * doubling (ltree.c); a '+' walk still visits each child once. */
	ck_assert_int_eq(retain_match(r, bv("dev/+/state"), 0, &out, &n), 0);
	ck_assert_uint_eq(n, 20000);
	for (k = 0; k < (int)n; k++)
		sl_msg_unref(out[k]);
	sl_free(out);
	retain_free(r);
}
END_TEST

static int fail_after;

static int
fail_countdown(size_t size)
{
	(void)size;
	return fail_after-- <= 0;
}

START_TEST(test_enomem)
{
	struct retain_store *r = retain_new();
	struct sl_msg *m = msg_new("a/b/c/d", "1", 0), *o = msg_new("a/x", "2", 0), **out;
	size_t n = 99;
	int k, rc;

	ck_assert_int_eq(retain_set(r, o), 0);
	for (k = 0;; k++) {
		fail_after = k;
		sl_alloc_set_fail_hook(fail_countdown);
		rc = retain_set(r, m);
		sl_alloc_set_fail_hook(NULL);
		if (rc == 0)
			break;
		ck_assert_int_eq(rc, -ENOMEM);
		ck_assert_uint_eq(retain_count(r), 1);
		ck_assert_uint_eq(refs(m), 1);
	}
	ck_assert_int_gt(k, 1);
	ck_assert_uint_eq(retain_count(r), 2);
	fail_after = 0;
	sl_alloc_set_fail_hook(fail_countdown);
	rc = retain_match(r, bv("a/#"), 0, &out, &n);
	sl_alloc_set_fail_hook(NULL);
	ck_assert_int_eq(rc, -ENOMEM);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(n, 0);
	fail_after = 1; /* the walk stack, then the result array fails */
	sl_alloc_set_fail_hook(fail_countdown);
	rc = retain_match(r, bv("a/#"), 0, &out, &n);
	sl_alloc_set_fail_hook(NULL);
	ck_assert_int_eq(rc, -ENOMEM);
	ck_assert_uint_eq(refs(m), 2);
	ck_assert_uint_eq(refs(o), 2);
	retain_free(r);
	sl_msg_unref(m);
	sl_msg_unref(o);
}
END_TEST

static void *
hammer(void *arg)
{
	struct retain_store *r = arg;
	struct sl_msg *m, **out;
	char topic[32];
	size_t n, i;
	int k;

	for (k = 0; k < 2000; k++) {
		snprintf(topic, sizeof(topic), "h/%d", k % 50);
		m = msg_new(topic, k % 7 == 0 ? "" : "v", 0);
		ck_assert_int_eq(retain_set(r, m), 0);
		sl_msg_unref(m);
		ck_assert_int_eq(retain_match(r, bv("h/+"), 0, &out, &n), 0);
		for (i = 0; i < n; i++)
			sl_msg_unref(out[i]);
		sl_free(out);
	}
	return NULL;
}

/* Shared by every worker: concurrent callers (run under the sanitizers for races on refs). */
START_TEST(test_threads)
{
	struct retain_store *r = retain_new();
	pthread_t th[4];
	int k;

	for (k = 0; k < 4; k++)
		ck_assert_int_eq(pthread_create(&th[k], NULL, hammer, r), 0);
	for (k = 0; k < 4; k++)
		ck_assert_int_eq(pthread_join(th[k], NULL), 0);
	ck_assert_uint_le(retain_count(r), 50);
	retain_free(r);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *
retain_suite(void)
{
	Suite *s = suite_create("retain");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_set_replace_mqtt_3_3_1_5);
	tcase_add_test(tc, test_empty_payload_deletes_mqtt_3_3_1_6);
	tcase_add_loop_test(tc, test_match_wildcards, 0, N(match_filters));
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_expiry_prunes_during_walk);
	tcase_add_test(tc, test_foreach);
	tcase_add_test(tc, test_wide_level);
	tcase_add_test(tc, test_enomem);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}
