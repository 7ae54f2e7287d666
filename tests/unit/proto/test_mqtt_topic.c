/* Tests for proto/mqtt_topic.c: name and filter validation, matching, $share splitting. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mqtt_topic.h"

static struct sl_bytes
bv(const char *s)
{
	return sl_bytes_make(s, (uint32_t)strlen(s));
}

struct valid_case {
	const char *s;
	bool valid;
};

static const struct valid_case name_cases[] = {
        {"sport/tennis/player1", true},
        {"a", true},
        {"/", true},  /* two empty levels */
        {"//", true}, /* [MQTT-4.7.1-1] empty levels are allowed */
        {"/finance", true},
        {"$SYS/broker/load", true},
        {" ", true},
        {"", false},        /* [MQTT-4.7.3-1] */
        {"sport/+", false}, /* [MQTT-4.7.1-1] no wildcards in names */
        {"sport/#", false},
        {"+", false},
        {"#", false},
        {"a+b", false},
        {"a#", false},
};

START_TEST(test_name_valid_mqtt_4_7_1_1) /* cases: name_cases */
{
	const struct valid_case *vc = &name_cases[_i];

	ck_assert_msg(mqtt_topic_name_valid(bv(vc->s)) == vc->valid, "'%s': want %d", vc->s,
	              vc->valid);
}
END_TEST

static const struct valid_case filter_cases[] = {
        {"sport/tennis/player1/#", true},
        {"sport/#", true},
        {"#", true},
        {"sport/tennis/#", true},
        {"+", true},
        {"+/tennis/#", true},
        {"sport/+/player1", true},
        {"+/+", true},
        {"/+", true},
        {"/", true},
        {"a//b", true},
        {"$SYS/#", true},
        {"$share/g/a", true},              /* structurally an ordinary filter */
        {"", false},                       /* [MQTT-4.7.3-1] */
        {"sport/tennis#", false},          /* [MQTT-4.7.1-2] '#' must be a whole level */
        {"sport/tennis/#/ranking", false}, /* [MQTT-4.7.1-2] and the last one */
        {"#/", false},
        {"##", false},
        {"a/#/#", false},
        {"sport+", false}, /* [MQTT-4.7.1-3] '+' must be a whole level */
        {"sport/+x/a", false},
        {"++", false},
        {"+#", false},
        {"a/b+", false},
};

START_TEST(test_filter_valid_mqtt_4_7_1_2) /* cases: filter_cases */
{
	const struct valid_case *vc = &filter_cases[_i];

	ck_assert_msg(mqtt_topic_filter_valid(bv(vc->s)) == vc->valid, "'%s': want %d", vc->s,
	              vc->valid);
}
END_TEST

START_TEST(test_length_limit)
{
	char *s = malloc(MQTT_TOPIC_MAX + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, 'a', MQTT_TOPIC_MAX + 1);
	ck_assert(mqtt_topic_name_valid(sl_bytes_make(s, MQTT_TOPIC_MAX)));
	ck_assert(!mqtt_topic_name_valid(sl_bytes_make(s, MQTT_TOPIC_MAX + 1)));
	ck_assert(mqtt_topic_filter_valid(sl_bytes_make(s, MQTT_TOPIC_MAX)));
	ck_assert(!mqtt_topic_filter_valid(sl_bytes_make(s, MQTT_TOPIC_MAX + 1)));
	s[MQTT_TOPIC_MAX - 2] = '/';
	s[MQTT_TOPIC_MAX - 1] = '#';
	ck_assert(mqtt_topic_filter_valid(sl_bytes_make(s, MQTT_TOPIC_MAX)));
	ck_assert(mqtt_topic_match(sl_bytes_make(s, MQTT_TOPIC_MAX),
	                           sl_bytes_make(s, MQTT_TOPIC_MAX - 2)));
	free(s);
}
END_TEST

START_TEST(test_empty_views_with_null_pointer)
{
	struct sl_bytes none = {NULL, 0}, g, f;
	uint32_t pos = 0;

	ck_assert(!mqtt_topic_name_valid(none));
	ck_assert(!mqtt_topic_filter_valid(none));
	ck_assert(mqtt_topic_match(none, none)); /* unspecified, but must be memory safe */
	ck_assert_int_eq(mqtt_topic_share_split(none, &g, &f), 0);
	ck_assert(mqtt_topic_level_next(none, &pos, &g));
	ck_assert_uint_eq(g.len, 0);
	ck_assert(!mqtt_topic_level_next(none, &pos, &g));
}
END_TEST

struct match_case {
	const char *filter;
	const char *topic;
	bool match;
};

static const struct match_case match_cases[] = {
        /* 4.7.1.2 */
        {"sport/tennis/player1/#", "sport/tennis/player1", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
        {"sport/#", "sport", true}, /* '#' includes the parent level */
        {"sport/tennis/#", "sport/tennis", true},
        {"#", "sport/tennis/player1", true},
        {"#", "/", true},
        {"a/#", "a", true},
        {"a/#", "a/", true},
        {"a/#", "ab", false},
        {"a/#", "b/a", false},
        /* 4.7.1.3 */
        {"sport/tennis/+", "sport/tennis/player1", true},
        {"sport/tennis/+", "sport/tennis/player2", true},
        {"sport/tennis/+", "sport/tennis/player1/ranking", false},
        {"sport/+", "sport", false},
        {"sport/+", "sport/", true},
        {"+/+", "/finance", true},
        {"/+", "/finance", true},
        {"+", "/finance", false},
        {"+", "finance", true},
        {"+/tennis/#", "sport/tennis/player1", true},
        {"+/tennis/#", "sport/tennis", true},
        {"+/tennis/#", "sport/golf", false},
        {"a/+/b", "a//b", true},
        /* 4.7.2: [MQTT-4.7.2-1] leading wildcards do not match '$' topics */
        {"#", "$SYS/broker/load", false},
        {"+/monitor/Clients", "$SYS/monitor/Clients", false},
        {"+", "$SYS", false},
        {"+/#", "$SYS/x", false},
        {"$SYS/#", "$SYS/monitor/Clients", true},
        {"$SYS/#", "$SYS", true},
        {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
        {"a/+", "a/$x", true}, /* '$' is special only as the first character */
        {"#", "a/$x", true},
        /* 4.7.3: case sensitive, empty levels significant */
        {"ACCOUNTS", "Accounts", false},
        {"a/b", "a//b", false},
        {"a//b", "a//b", true},
        {"a//b", "a/b", false},
        {"/a", "a", false},
        {"a", "/a", false},
        {"a/b", "a/b/", false},
        {"a/b/", "a/b/", true},
        {"a/b/+", "a/b/", true},
        {"a/b", "a/bc", false},
        {"a/bc", "a/b", false},
        {"a/b", "a", false},
        {"a", "a/b", false},
        {"/", "/", true},
        {"+/+", "/", true},
        {"+", "/", false},
};

START_TEST(test_match_mqtt_4_7_2_1) /* cases: match_cases */
{
	const struct match_case *mc = &match_cases[_i];

	ck_assert_msg(mqtt_topic_filter_valid(bv(mc->filter)), "bad case filter %s", mc->filter);
	ck_assert_msg(mqtt_topic_name_valid(bv(mc->topic)), "bad case topic %s", mc->topic);
	ck_assert_msg(mqtt_topic_match(bv(mc->filter), bv(mc->topic)) == mc->match,
	              "'%s' vs '%s': want %d", mc->filter, mc->topic, mc->match);
}
END_TEST

struct share_case {
	const char *in;
	int rc;
	const char *group;
	const char *filter;
};

static const struct share_case share_cases[] = {
        {"$share/g/a/b", 1, "g", "a/b"},
        {"$share/consumers/sport/#", 1, "consumers", "sport/#"},
        {"$share/g/#", 1, "g", "#"},
        {"$share/g/+", 1, "g", "+"},
        {"$share/g//", 1, "g", "/"},
        {"$share/g/$SYS/x", 1, "g", "$SYS/x"},
        {"$share//a", -1, NULL, NULL}, /* [MQTT-4.8.2-1] empty group */
        {"$share/g", -1, NULL, NULL},  /* [MQTT-4.8.2-2] no '/' and filter */
        {"$share/g/", -1, NULL, NULL}, /* [MQTT-4.8.2-2] empty filter */
        {"$share/", -1, NULL, NULL},
        {"$share/g+/a", -1, NULL, NULL}, /* [MQTT-4.8.2-2] */
        {"$share/+/a", -1, NULL, NULL},
        {"$share/#/a", -1, NULL, NULL},
        {"$share/a#b/a", -1, NULL, NULL},
        {"$share", 0, NULL, NULL},
        {"$sharex/g/a", 0, NULL, NULL},
        {"$SHARE/g/a", 0, NULL, NULL},
        {"share/g/a", 0, NULL, NULL},
        {"a/b", 0, NULL, NULL},
        {"#", 0, NULL, NULL},
};

START_TEST(test_share_split_mqtt_4_8_2_1) /* cases: share_cases */
{
	const struct share_case *sc = &share_cases[_i];
	struct sl_bytes g = bv("untouched"), f = bv("untouched");
	int rc = mqtt_topic_share_split(bv(sc->in), &g, &f);

	ck_assert_msg(rc == sc->rc, "'%s': rc %d, want %d", sc->in, rc, sc->rc);
	if (rc != 1) {
		ck_assert_mem_eq(g.p, "untouched", 9);
		return;
	}
	ck_assert_int_eq(g.len, strlen(sc->group));
	ck_assert_mem_eq(g.p, sc->group, g.len);
	ck_assert_int_eq(f.len, strlen(sc->filter));
	ck_assert_mem_eq(f.p, sc->filter, f.len);
}
END_TEST

struct level_case {
	const char *in;
	const char *levels; /* the levels joined by '|' */
};

static const struct level_case level_cases[] = {
        {"a/b/c", "a|b|c"}, {"a//b", "a||b"}, {"/", "|"},     {"a/", "a|"},
        {"/a", "|a"},       {"", ""},         {"abc", "abc"},
};

START_TEST(test_level_next) /* cases: level_cases */
{
	const struct level_case *lc = &level_cases[_i];
	char got[64] = "";
	struct sl_bytes l;
	uint32_t pos = 0;
	int n = 0;

	while (mqtt_topic_level_next(bv(lc->in), &pos, &l)) {
		if (n++ > 0)
			strcat(got, "|");
		strncat(got, (const char *)l.p, l.len);
	}
	ck_assert_str_eq(got, lc->levels);
	ck_assert(!mqtt_topic_level_next(bv(lc->in), &pos, &l)); /* stays at the end */
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *
mqtt_topic_suite(void)
{
	Suite *s = suite_create("mqtt_topic");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_name_valid_mqtt_4_7_1_1, 0, N(name_cases));
	tcase_add_loop_test(tc, test_filter_valid_mqtt_4_7_1_2, 0, N(filter_cases));
	tcase_add_test(tc, test_length_limit);
	tcase_add_test(tc, test_empty_views_with_null_pointer);
	tcase_add_loop_test(tc, test_match_mqtt_4_7_2_1, 0, N(match_cases));
	tcase_add_loop_test(tc, test_share_split_mqtt_4_8_2_1, 0, N(share_cases));
	tcase_add_loop_test(tc, test_level_next, 0, N(level_cases));
	suite_add_tcase(s, tc);
	return s;
}
