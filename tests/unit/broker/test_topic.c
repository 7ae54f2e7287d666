/* Tests for broker/topic.c: the per-worker subscription index. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/index/topic.h"
#include "proto/base/sl_alloc.h"
#include "proto/mqtt.h"
#include "proto/mqtt_topic.h"

static struct sl_bytes
bv(const char *s)
{
	return sl_bytes_make(s, (uint32_t)strlen(s));
}

static const struct sl_bytes NOGROUP = {(const uint8_t *)"", 0};

#define MAX_HITS 64

/* What topic_tree_match() reported. */
struct hits {
	size_t n; /* calls, including those past MAX_HITS */
	size_t shared;
	uint64_t sess[MAX_HITS];
	uint8_t options[MAX_HITS];
	uint32_t sub_id[MAX_HITS];
	bool is_shared[MAX_HITS];
	uint64_t reject; /* ok() refuses this session (0 = none); ~0 refuses all */
	size_t ok_calls;
};

static void
on_hit(void *arg, const struct topic_sub *sub, bool shared)
{
	struct hits *h = arg;

	if (h->n < MAX_HITS) {
		h->sess[h->n] = sub->sess_id;
		h->options[h->n] = sub->options;
		h->sub_id[h->n] = sub->sub_id;
		h->is_shared[h->n] = shared;
	}
	h->n++;
	h->shared += shared;
}

static bool
on_member_ok(void *arg, const struct topic_sub *sub)
{
	struct hits *h = arg;

	h->ok_calls++;
	return h->reject != ~(uint64_t)0 && sub->sess_id != h->reject;
}

static struct hits
match(struct topic_tree *t, const char *topic)
{
	struct hits h;

	memset(&h, 0, sizeof(h));
	topic_tree_match(t, bv(topic), on_hit, NULL, &h);
	return h;
}

/* Sorted session ids of h as "1,2,3", for comparisons that ignore order. */
static void
hits_str(const struct hits *h, char *out, size_t size)
{
	uint64_t v[MAX_HITS], x;
	size_t n = h->n < MAX_HITS ? h->n : MAX_HITS, i, j, len = 0;

	memcpy(v, h->sess, n * sizeof(v[0]));
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && v[j - 1] > v[j]; j--)
			x = v[j], v[j] = v[j - 1], v[j - 1] = x;
	out[0] = '\0';
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, size - len, "%s%llu", i ? "," : "",
		                        (unsigned long long)v[i]);
}

static void
add(struct topic_tree *t, const char *filter, const char *group, uint64_t sess, uint8_t opts)
{
	struct topic_sub sub = {.sess_id = sess, .worker = 1, .options = opts, .sub_id = 0};
	bool replaced = true;

	ck_assert_int_eq(topic_tree_add(t, bv(filter), bv(group), &sub, &replaced), 0);
	ck_assert(!replaced);
}

/* Filters of the match table; filter i belongs to session i + 1. */
static const char *const filters[] = {
        "sport/tennis/player1/#",
        "sport/tennis/+",
        "sport/#",
        "sport/+",
        "+/+",
        "/+",
        "+",
        "#",
        "$SYS/#",
        "$SYS/monitor/+",
        "+/monitor/Clients",
        "a//b",
        "a/+/b",
        "/finance",
        "sport/tennis/player1",
        "a/#",
        "a",
        "+/#",
        "a/b/",
        "$SYS",
};

#define NFILTERS ((int)(sizeof(filters) / sizeof(filters[0])))

struct tree_case {
	const char *topic;
	const char *want; /* sorted session ids */
};

static const struct tree_case tree_cases[] = {
        {"sport/tennis/player1", "1,2,3,8,15,18"},
        {"sport/tennis/player1/ranking", "1,3,8,18"},
        {"sport", "3,7,8,18"},
        {"sport/", "3,4,5,8,18"},
        {"/finance", "5,6,8,14,18"},
        {"$SYS/monitor/Clients", "9,10"},
        {"$SYS", "9,20"},
        {"$SYS/x/y", "9"},
        {"a//b", "8,12,13,16,18"},
        {"a", "7,8,16,17,18"},
        {"a/b/", "8,16,18,19"},
        {"x/monitor/Clients", "8,11,18"},
        {"nothing/at/all/here", "8,18"},
        {"/", "5,6,8,18"},
};

/* The tree must agree with the expected set and with mqtt_topic_match() over every filter. */
START_TEST(test_match_table_mqtt_4_7_2_1) /* cases: tree_cases */
{
	const struct tree_case *tc = &tree_cases[_i];
	struct topic_tree *t = topic_tree_new();
	char got[512], brute[512];
	struct hits h, want;
	int i;

	ck_assert_ptr_nonnull(t);
	memset(&want, 0, sizeof(want));
	for (i = 0; i < NFILTERS; i++) {
		add(t, filters[i], "", (uint64_t)i + 1, 0);
		if (mqtt_topic_match(bv(filters[i]), bv(tc->topic)))
			want.sess[want.n++] = (uint64_t)i + 1;
	}
	ck_assert_uint_eq(topic_tree_count(t), NFILTERS);
	h = match(t, tc->topic);
	hits_str(&h, got, sizeof(got));
	hits_str(&want, brute, sizeof(brute));
	ck_assert_msg(strcmp(got, tc->want) == 0, "%s: got %s, want %s", tc->topic, got, tc->want);
	ck_assert_str_eq(brute, tc->want);
	ck_assert_uint_eq(h.shared, 0);
	topic_tree_free(t);
}
END_TEST

START_TEST(test_add_replace_remove)
{
	struct topic_tree *t = topic_tree_new();
	struct topic_sub sub = {.sess_id = 7, .worker = 2, .options = 1, .sub_id = 5};
	bool replaced = true;
	struct hits h;

	ck_assert_int_eq(topic_tree_add(t, bv("a/b"), NOGROUP, &sub, &replaced), 0);
	ck_assert(!replaced);
	ck_assert_uint_eq(topic_tree_count(t), 1);
	sub.options = 2 | MQTT_SUBOPT_NO_LOCAL;
	sub.sub_id = 9;
	ck_assert_int_eq(topic_tree_add(t, bv("a/b"), NOGROUP, &sub, &replaced), 0);
	ck_assert(replaced);
	ck_assert_uint_eq(topic_tree_count(t), 1);
	h = match(t, "a/b");
	ck_assert_uint_eq(h.n, 1);
	ck_assert_uint_eq(h.sess[0], 7);
	ck_assert_uint_eq(h.options[0], 2 | MQTT_SUBOPT_NO_LOCAL);
	ck_assert_uint_eq(h.sub_id[0], 9);
	ck_assert_int_eq(topic_tree_remove(t, bv("a/b"), NOGROUP, 8), -ENOENT);
	ck_assert_int_eq(topic_tree_remove(t, bv("a/c"), NOGROUP, 7), -ENOENT);
	ck_assert_int_eq(topic_tree_remove(t, bv("a"), NOGROUP, 7), -ENOENT);
	ck_assert_int_eq(topic_tree_remove(t, bv("a/b"), bv("g"), 7), -ENOENT);
	ck_assert_int_eq(topic_tree_remove(t, bv("a/b"), NOGROUP, 7), 0);
	ck_assert_int_eq(topic_tree_remove(t, bv("a/b"), NOGROUP, 7), -ENOENT);
	ck_assert_uint_eq(topic_tree_count(t), 0);
	ck_assert_uint_eq(match(t, "a/b").n, 0);
	topic_tree_free(t);
}
END_TEST

/* The same session through several filters is reported once per filter: the caller merges. */
START_TEST(test_overlapping_filters)
{
	struct topic_tree *t = topic_tree_new();
	struct hits h;

	add(t, "a/+", "", 1, 0);
	add(t, "a/#", "", 1, 1);
	add(t, "a/b", "", 1, 2);
	add(t, "#", "", 1, 1);
	add(t, "a/b", "", 2, 0);
	ck_assert_uint_eq(topic_tree_count(t), 5);
	h = match(t, "a/b");
	ck_assert_uint_eq(h.n, 5);
	h = match(t, "a");
	ck_assert_uint_eq(h.n, 2); /* "a/#" and "#" */
	ck_assert_int_eq(topic_tree_remove(t, bv("a/#"), NOGROUP, 1), 0);
	ck_assert_uint_eq(match(t, "a/b").n, 4);
	ck_assert_uint_eq(match(t, "a").n, 1);
	topic_tree_free(t);
}
END_TEST

START_TEST(test_empty_levels_distinct)
{
	struct topic_tree *t = topic_tree_new();

	add(t, "/a", "", 1, 0);
	add(t, "a", "", 2, 0);
	add(t, "a/", "", 3, 0);
	add(t, "a//", "", 4, 0);
	ck_assert_uint_eq(match(t, "/a").sess[0], 1);
	ck_assert_uint_eq(match(t, "/a").n, 1);
	ck_assert_uint_eq(match(t, "a").sess[0], 2);
	ck_assert_uint_eq(match(t, "a/").sess[0], 3);
	ck_assert_uint_eq(match(t, "a//").sess[0], 4);
	ck_assert_uint_eq(match(t, "a///").n, 0);
	topic_tree_free(t);
}
END_TEST

START_TEST(test_dollar_topics_mqtt_4_7_2_1)
{
	struct topic_tree *t = topic_tree_new();
	char got[128];
	struct hits h;

	add(t, "#", "", 1, 0);
	add(t, "+/broker/load", "", 2, 0);
	add(t, "+/#", "", 3, 0);
	add(t, "$SYS/#", "", 4, 0);
	add(t, "$SYS/broker/+", "", 5, 0);
	add(t, "#", "g", 6, 0);
	h = match(t, "$SYS/broker/load");
	hits_str(&h, got, sizeof(got));
	ck_assert_str_eq(got, "4,5");
	h = match(t, "x/broker/load");
	hits_str(&h, got, sizeof(got));
	ck_assert_str_eq(got, "1,2,3,6");
	topic_tree_free(t);
}
END_TEST

START_TEST(test_shared_round_robin)
{
	struct topic_tree *t = topic_tree_new();
	static const uint64_t want[] = {1, 2, 3, 1, 2, 3, 1};
	struct hits h;
	size_t i;

	add(t, "a/+", "g", 1, 0);
	add(t, "a/+", "g", 2, 0);
	add(t, "a/+", "g", 3, 0);
	add(t, "a/+", "", 1, 0); /* a normal subscription of a member is separate */
	ck_assert_uint_eq(topic_tree_count(t), 4);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		h = match(t, "a/x");
		ck_assert_uint_eq(h.n, 2);
		ck_assert_uint_eq(h.shared, 1);
		ck_assert(h.is_shared[0] != h.is_shared[1]);
		ck_assert_uint_eq(h.is_shared[0] ? h.sess[0] : h.sess[1], want[i]);
	}
	ck_assert_uint_eq(match(t, "b/x").n, 0); /* no match: cursor untouched */
	h = match(t, "a/x");
	ck_assert_uint_eq(h.is_shared[0] ? h.sess[0] : h.sess[1], 2);
	topic_tree_free(t);
}
END_TEST

/* Each group on each matching filter picks one member; groups have their own cursors. */
START_TEST(test_shared_groups_independent)
{
	struct topic_tree *t = topic_tree_new();
	char got[128];
	struct hits h;
	bool replaced;
	struct topic_sub sub = {.sess_id = 11, .options = 2};

	add(t, "a/b", "g1", 11, 0);
	add(t, "a/b", "g1", 12, 0);
	add(t, "a/b", "g2", 21, 0);
	add(t, "a/#", "g1", 31, 0); /* same group name, other filter: another group */
	ck_assert_int_eq(topic_tree_add(t, bv("a/b"), bv("g1"), &sub, &replaced), 0);
	ck_assert(replaced);
	ck_assert_uint_eq(topic_tree_count(t), 4);
	h = match(t, "a/b");
	hits_str(&h, got, sizeof(got));
	ck_assert_str_eq(got, "11,21,31");
	ck_assert_uint_eq(h.shared, 3);
	h = match(t, "a/b");
	hits_str(&h, got, sizeof(got));
	ck_assert_str_eq(got, "12,21,31");
	ck_assert_int_eq(topic_tree_remove(t, bv("a/b"), bv("g1"), 12), 0);
	ck_assert_int_eq(topic_tree_remove(t, bv("a/b"), bv("g1"), 12), -ENOENT);
	ck_assert_int_eq(topic_tree_remove(t, bv("a/b"), bv("g3"), 21), -ENOENT);
	ck_assert_int_eq(topic_tree_remove(t, bv("a/b"), NOGROUP, 21), -ENOENT);
	h = match(t, "a/b");
	hits_str(&h, got, sizeof(got));
	ck_assert_str_eq(got, "11,21,31");
	ck_assert_int_eq(topic_tree_remove(t, bv("a/b"), bv("g1"), 11), 0);
	ck_assert_int_eq(topic_tree_remove(t, bv("a/b"), bv("g2"), 21), 0);
	ck_assert_int_eq(topic_tree_remove(t, bv("a/#"), bv("g1"), 31), 0);
	ck_assert_uint_eq(topic_tree_count(t), 0);
	ck_assert_uint_eq(match(t, "a/b").n, 0);
	topic_tree_free(t);
}
END_TEST

START_TEST(test_shared_ok_skips_members)
{
	struct topic_tree *t = topic_tree_new();
	static const uint64_t want[] = {1, 3, 1, 3};
	struct hits h;
	size_t i;

	add(t, "q", "g", 1, 0);
	add(t, "q", "g", 2, 0);
	add(t, "q", "g", 3, 0);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		memset(&h, 0, sizeof(h));
		h.reject = 2;
		topic_tree_match(t, bv("q"), on_hit, on_member_ok, &h);
		ck_assert_uint_eq(h.n, 1);
		ck_assert(h.is_shared[0]);
		ck_assert_uint_eq(h.sess[0], want[i]);
	}
	memset(&h, 0, sizeof(h));
	h.reject = ~(uint64_t)0;
	topic_tree_match(t, bv("q"), on_hit, on_member_ok, &h);
	ck_assert_uint_eq(h.n, 0); /* no acceptable member: the group is skipped */
	ck_assert_uint_eq(h.ok_calls, 3);
	/* ok() is not asked about normal subscriptions. */
	add(t, "q", "", 2, 0);
	memset(&h, 0, sizeof(h));
	h.reject = ~(uint64_t)0;
	topic_tree_match(t, bv("q"), on_hit, on_member_ok, &h);
	ck_assert_uint_eq(h.n, 1);
	ck_assert(!h.is_shared[0]);
	topic_tree_free(t);
}
END_TEST

/* The cursor stays in range when members leave, and every remaining member still gets turns. */
START_TEST(test_shared_cursor_after_remove)
{
	struct topic_tree *t = topic_tree_new();
	bool seen[6] = {false};
	struct hits h;
	uint64_t s;
	int i;

	for (s = 1; s <= 5; s++)
		add(t, "q", "g", s, 0);
	for (i = 0; i < 4; i++)
		match(t, "q");
	ck_assert_int_eq(topic_tree_remove(t, bv("q"), bv("g"), 5), 0);
	ck_assert_int_eq(topic_tree_remove(t, bv("q"), bv("g"), 4), 0);
	for (i = 0; i < 3; i++) {
		h = match(t, "q");
		ck_assert_uint_eq(h.n, 1);
		ck_assert(h.sess[0] >= 1 && h.sess[0] <= 3);
		seen[h.sess[0]] = true;
	}
	ck_assert(seen[1] && seen[2] && seen[3]);
	topic_tree_free(t);
}
END_TEST

/* Removing the last subscription frees the nodes it alone needed. */
START_TEST(test_remove_prunes_nodes)
{
	struct topic_tree *t = topic_tree_new();
	char f[64];
	uint64_t before;
	int i;

	add(t, "a/b/c/d", "", 1, 0); /* sizes the match stack and the root's buckets */
	ck_assert_int_eq(topic_tree_remove(t, bv("a/b/c/d"), NOGROUP, 1), 0);
	before = sl_alloc_bytes();
	for (i = 0; i < 200; i++) {
		snprintf(f, sizeof(f), "a/b/%d/+", i);
		add(t, f, i % 2 ? "" : "grp", (uint64_t)i, 0);
		add(t, f, "", 1000 + (uint64_t)i, 0);
	}
	ck_assert_uint_gt(sl_alloc_bytes(), before);
	ck_assert_uint_eq(match(t, "a/b/7/x").n, 2);
	for (i = 0; i < 200; i++) {
		snprintf(f, sizeof(f), "a/b/%d/+", i);
		ck_assert_int_eq(topic_tree_remove(t, bv(f), bv(i % 2 ? "" : "grp"), (uint64_t)i),
		                 0);
		ck_assert_int_eq(topic_tree_remove(t, bv(f), NOGROUP, 1000 + (uint64_t)i), 0);
	}
	ck_assert_uint_eq(topic_tree_count(t), 0);
	ck_assert_uint_eq(sl_alloc_bytes(), before);
	topic_tree_free(t);
}
END_TEST

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define FANOUT 10000

/* Session of the i-th fan-out subscriber: spread out, so the index does the work. */
#define FAN_SESS(i) ((uint64_t)(i)*7919 + 1)

/* Subscribes FANOUT sessions to "fan/out" and to group "g" on "fan/+". Returns ns per add. The
 * timed loops count failures instead of asserting: each ck_assert writes to Check's log. */
static double
fanout_add(struct topic_tree *t)
{
	struct topic_sub sub = {.worker = 3, .options = 1};
	double t0 = now_ns();
	bool replaced;
	int bad = 0;
	uint64_t i;

	for (i = 0; i < FANOUT; i++) {
		sub.sess_id = FAN_SESS(i);
		bad += topic_tree_add(t, bv("fan/out"), NOGROUP, &sub, &replaced) != 0 || replaced;
		bad += topic_tree_add(t, bv("fan/+"), bv("g"), &sub, &replaced) != 0 || replaced;
	}
	ck_assert_int_eq(bad, 0);
	return (now_ns() - t0) / (2 * FANOUT);
}

/* Unsubscribes them all in an order unlike the adds. Returns ns per remove. */
static double
fanout_remove(struct topic_tree *t)
{
	double t0 = now_ns();
	int bad = 0, mid = 0;
	uint64_t i, k;

	for (i = 0; i < FANOUT; i++) {
		k = (i * 3001) % FANOUT; /* a permutation: 3001 is prime to 10,000 */
		bad += topic_tree_remove(t, bv("fan/out"), NOGROUP, FAN_SESS(k)) != 0;
		bad += topic_tree_remove(t, bv("fan/+"), bv("g"), FAN_SESS(k)) != 0;
		if (i == FANOUT / 2)
			mid = (int)match(t, "fan/out").n;
	}
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(mid, FANOUT - (FANOUT / 2 + 1) + 1); /* + one group member */
	return (now_ns() - t0) / (2 * FANOUT);
}

/* 10,000 subscribers of one filter: add, replace, match, remove. */
START_TEST(test_fanout_10k)
{
	struct topic_tree *t = topic_tree_new();
	struct topic_sub sub = {.sess_id = FAN_SESS(5), .options = 2};
	double add_ns, match_ns, rm_ns;
	bool replaced;
	struct hits h;

	add_ns = fanout_add(t);
	ck_assert_uint_eq(topic_tree_count(t), 2 * FANOUT);
	ck_assert_int_eq(topic_tree_add(t, bv("fan/out"), NOGROUP, &sub, &replaced), 0);
	ck_assert(replaced);
	match_ns = now_ns();
	h = match(t, "fan/out");
	match_ns = now_ns() - match_ns;
	ck_assert_uint_eq(h.n, FANOUT + 1);
	ck_assert_uint_eq(h.shared, 1);
	rm_ns = fanout_remove(t);
	ck_assert_uint_eq(topic_tree_count(t), 0);
	printf("topic fanout %d: add %.0f ns, match %.0f ns (%.1f ns/sub), remove %.0f ns\n",
	       FANOUT, add_ns, match_ns, match_ns / FANOUT, rm_ns);
	topic_tree_free(t);
}
END_TEST

static void
on_count(void *arg, const struct topic_sub *sub, bool shared)
{
	(void)sub;
	(void)shared;
	(*(size_t *)arg)++;
}

#define MATCH_ROUNDS 400000

/* 10,000 distinct filters, one subscriber each: what one publish costs in a realistic tree. */
START_TEST(test_match_cost_10k_filters)
{
	struct topic_tree *t = topic_tree_new();
	static char topics[FANOUT][32];
	char f[64];
	size_t hits = 0;
	double t0, ns;
	int i, d;

	for (i = 0; i < FANOUT / 10; i++) {
		snprintf(f, sizeof(f), "site/%d/+/temp", i);
		add(t, f, "", (uint64_t)i * 10 + 1, 0);
		for (d = 1; d < 10; d++) {
			snprintf(f, sizeof(f), "site/%d/dev/%d", i, d);
			add(t, f, "", (uint64_t)i * 10 + (uint64_t)d + 1, 0);
		}
	}
	add(t, "site/#", "", 99999, 0);
	for (i = 0; i < FANOUT; i++)
		snprintf(topics[i], sizeof(topics[i]), "site/%d/dev/%d", (i * 7) % 1000, i % 10);
	t0 = now_ns();
	for (i = 0; i < MATCH_ROUNDS; i++)
		topic_tree_match(t, bv(topics[i % FANOUT]), on_count, NULL, &hits);
	ns = (now_ns() - t0) / MATCH_ROUNDS;
	/* "site/#" always; the exact filter unless the device is 0. */
	ck_assert_uint_eq(hits, 2 * (size_t)MATCH_ROUNDS - (size_t)MATCH_ROUNDS / 10);
	printf("topic match, 10k filters, 4 levels: %.0f ns per match\n", ns);
	topic_tree_free(t);
}
END_TEST

/* Filters of 30,000 levels: no recursion in add, match or free. */
START_TEST(test_deep_filter)
{
	struct topic_tree *t = topic_tree_new();
	uint32_t levels = 30000, len = levels * 2 - 1, i;
	char *f = malloc(len + 1);

	ck_assert_ptr_nonnull(f);
	for (i = 0; i < len; i++)
		f[i] = i % 2 ? '/' : 'a';
	f[len] = '\0';
	add(t, f, "", 1, 0);
	f[len - 1] = '+';
	add(t, f, "", 2, 0);
	f[len - 1] = '#';
	add(t, f, "", 3, 0);
	f[len - 1] = 'a';
	ck_assert_uint_eq(match(t, f).n, 3);
	ck_assert_uint_eq(match(t, "a/a").n, 0);
	topic_tree_free(t);
	free(f);
}
END_TEST

static int fail_after;

static int
fail_countdown(size_t size)
{
	(void)size;
	return fail_after-- <= 0;
}

/* Every allocation of add may fail: the tree is then unchanged and stays usable. */
START_TEST(test_add_enomem)
{
	struct topic_tree *t = topic_tree_new();
	struct topic_sub sub = {.sess_id = 100};
	bool replaced;
	int k, rc;

	for (k = 0; k < 15; k++)
		add(t, "x/y/z", "", (uint64_t)k + 1, 0); /* one short of the sess_id index */
	for (k = 0;; k++) {
		uint64_t before = sl_alloc_bytes();

		fail_after = k;
		sl_alloc_set_fail_hook(fail_countdown);
		rc = topic_tree_add(t, bv("p/q/r/s/t/u/v/w/x/y/z/1/2/3/4/5/6/7/8/9/0/a/b/c"),
		                    bv("g"), &sub, &replaced);
		sl_alloc_set_fail_hook(NULL);
		if (rc == 0)
			break;
		ck_assert_int_eq(rc, -ENOMEM);
		ck_assert_uint_eq(topic_tree_count(t), 15);
		if (k > 1) /* the second grew the match stack, which stays */
			ck_assert_uint_eq(sl_alloc_bytes(), before);
	}
	ck_assert_int_gt(k, 3);
	for (k = 0;; k++) { /* the 16th normal subscription builds the sess_id index */
		fail_after = k;
		sl_alloc_set_fail_hook(fail_countdown);
		sub.sess_id = 200;
		rc = topic_tree_add(t, bv("x/y/z"), NOGROUP, &sub, &replaced);
		sl_alloc_set_fail_hook(NULL);
		if (rc == 0)
			break;
		ck_assert_int_eq(rc, -ENOMEM);
		ck_assert_uint_eq(topic_tree_count(t), 16);
		ck_assert_uint_eq(match(t, "x/y/z").n, 15);
	}
	ck_assert_int_gt(k, 0);
	ck_assert_uint_eq(topic_tree_count(t), 17);
	ck_assert_uint_eq(match(t, "x/y/z").n, 16);
	topic_tree_free(t);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Issue 10: a level with many children doubles its buckets and splits them a few per added
 * child (linear hashing), so no add rehashes them all. Every child is found while splits are
 * under way, after removals, and after the next doublings. */
START_TEST(test_siblings_split_issue_10)
{
	enum { N_KIDS = 30000 };
	struct topic_tree *t = topic_tree_new();
	char f[32];
	struct hits h;
	int i;

	ck_assert_ptr_nonnull(t);
	for (i = 0; i < N_KIDS; i++) {
		snprintf(f, sizeof(f), "s/%d", i);
		add(t, f, "", (uint64_t)i + 1, 0);
		if (i % 997 == 0) { /* mid-split: everything so far still matches */
			for (int j = 0; j <= i; j += 101) {
				snprintf(f, sizeof(f), "s/%d", j);
				h = match(t, f);
				ck_assert_msg(h.n == 1 && h.sess[0] == (uint64_t)j + 1, "%s", f);
			}
		}
	}
	for (i = 0; i < N_KIDS; i += 2) {
		snprintf(f, sizeof(f), "s/%d", i);
		ck_assert_int_eq(topic_tree_remove(t, bv(f), NOGROUP, (uint64_t)i + 1), 0);
	}
	for (i = 0; i < N_KIDS; i++) {
		snprintf(f, sizeof(f), "s/%d", i);
		h = match(t, f);
		ck_assert_msg(h.n == (size_t)(i % 2), "%s: %zu", f, h.n);
	}
	topic_tree_free(t);
}
END_TEST

START_TEST(test_pick_exact_group) /* the cluster names a group by (filter, group): no match */
{
	struct topic_tree *t = topic_tree_new();
	struct hits h;

	add(t, "a/+", "g", 1, 0);
	add(t, "a/+", "g", 2, 0);
	add(t, "a/b", "g", 3, 0);
	add(t, "a/+", "", 4, 0);
	memset(&h, 0, sizeof(h));
	ck_assert_int_eq(topic_tree_pick(t, bv("a/+"), bv("g"), on_hit, NULL, &h), 0);
	ck_assert_int_eq(topic_tree_pick(t, bv("a/+"), bv("g"), on_hit, NULL, &h), 0);
	ck_assert_int_eq(topic_tree_pick(t, bv("a/+"), bv("g"), on_hit, NULL, &h), 0);
	ck_assert_uint_eq(h.n, 3); /* round robin, as match picks */
	ck_assert(h.sess[0] != h.sess[1] && h.sess[0] == h.sess[2]);
	ck_assert(h.sess[0] <= 2 && h.sess[1] <= 2 && h.is_shared[0]);
	h.reject = ~(uint64_t)0; /* no member can take it */
	ck_assert_int_eq(topic_tree_pick(t, bv("a/+"), bv("g"), on_hit, on_member_ok, &h), -ENOENT);
	ck_assert_int_eq(topic_tree_pick(t, bv("a/c"), bv("g"), on_hit, NULL, &h), -ENOENT);
	ck_assert_int_eq(topic_tree_pick(t, bv("a/+"), bv("h"), on_hit, NULL, &h), -ENOENT);
	ck_assert_int_eq(topic_tree_pick(t, bv("a/+"), NOGROUP, on_hit, NULL, &h), -ENOENT);
	ck_assert_uint_eq(h.n, 3);
	topic_tree_free(t);
}
END_TEST

Suite *
topic_suite(void)
{
	Suite *s = suite_create("topic");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_match_table_mqtt_4_7_2_1, 0, N(tree_cases));
	tcase_add_test(tc, test_add_replace_remove);
	tcase_add_test(tc, test_pick_exact_group);
	tcase_add_test(tc, test_overlapping_filters);
	tcase_add_test(tc, test_empty_levels_distinct);
	tcase_add_test(tc, test_dollar_topics_mqtt_4_7_2_1);
	tcase_add_test(tc, test_shared_round_robin);
	tcase_add_test(tc, test_shared_groups_independent);
	tcase_add_test(tc, test_shared_ok_skips_members);
	tcase_add_test(tc, test_shared_cursor_after_remove);
	tcase_add_test(tc, test_remove_prunes_nodes);
	tcase_add_test(tc, test_fanout_10k);
	tcase_add_test(tc, test_match_cost_10k_filters);
	tcase_add_test(tc, test_deep_filter);
	tcase_add_test(tc, test_add_enomem);
	tcase_add_test(tc, test_siblings_split_issue_10);
	suite_add_tcase(s, tc);
	return s;
}
