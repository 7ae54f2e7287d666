/* Tests for proto/mqtt_util.c: Variable Byte Integers, UTF-8 validation, the SUBSCRIBE and
 * UNSUBSCRIBE payload walkers, and the names used in logs. */
#include <check.h>
#include <string.h>

#include "proto/mqtt.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

struct varint_case {
	const char *name;
	const uint8_t *in;
	size_t len;
	int rc;
	uint32_t value;
};

#define IN(s) (const uint8_t *)(s), sizeof(s) - 1

static const struct varint_case varint_cases[] = {
        {"zero", IN("\x00"), 1, 0},
        {"127", IN("\x7f"), 1, 127},
        {"128", IN("\x80\x01"), 2, 128},
        {"16383", IN("\xff\x7f"), 2, 16383},
        {"16384", IN("\x80\x80\x01"), 3, 16384},
        {"2097151", IN("\xff\xff\x7f"), 3, 2097151},
        {"2097152", IN("\x80\x80\x80\x01"), 4, 2097152},
        {"max", IN("\xff\xff\xff\x7f"), 4, MQTT_MAX_VARINT},
        {"trailing bytes ignored", IN("\x05\xff"), 1, 5},
        {"non-minimal tolerated", IN("\x80\x00"), 2, 0},
        {"empty", IN(""), 0, 0},
        {"split read 1", IN("\x80"), 0, 0},
        {"split read 3", IN("\xff\xff\xff"), 0, 0},
        {"fifth byte", IN("\xff\xff\xff\xff\x7f"), -1, 0},
        {"fifth byte not yet read", IN("\x80\x80\x80\x80"), -1, 0},
};

START_TEST(test_varint_read) /* cases: zero, 127, 128, max, split read, fifth byte */
{
	const struct varint_case *vc = &varint_cases[_i];
	uint32_t value = 0xDEADBEEF;
	int rc = mqtt_varint_read(vc->in, vc->len, &value);

	ck_assert_msg(rc == vc->rc, "%s: rc %d, want %d", vc->name, rc, vc->rc);
	if (vc->rc > 0)
		ck_assert_uint_eq(value, vc->value);
}
END_TEST

/* Writing is the inverse of reading, in the fewest bytes [MQTT-1.5.5-1]. */
START_TEST(test_varint_write) /* cases: the minimal varint_cases */
{
	const struct varint_case *vc = &varint_cases[_i];
	uint8_t out[4];

	if (vc->rc <= 0 || strstr(vc->name, "minimal") || strstr(vc->name, "trailing"))
		return;
	ck_assert_int_eq(mqtt_varint_write(out, vc->value), vc->rc);
	ck_assert_int_eq(mqtt_varint_len(vc->value), vc->rc);
	ck_assert_mem_eq(out, vc->in, (size_t)vc->rc);
}
END_TEST

START_TEST(test_varint_round_trip)
{
	uint32_t v, back;
	uint8_t out[4];
	int n;

	for (v = 0; v <= MQTT_MAX_VARINT; v = v * 3 + 1) {
		n = mqtt_varint_write(out, v);
		ck_assert_int_eq(n, mqtt_varint_len(v));
		ck_assert_int_eq(mqtt_varint_read(out, (size_t)n, &back), n);
		ck_assert_uint_eq(back, v);
		ck_assert_int_eq(mqtt_varint_read(out, (size_t)n - 1, &back), 0);
	}
}
END_TEST

struct utf8_case {
	const char *name;
	const char *s;
	size_t len;
	bool valid;
};

#define S(s) s, sizeof(s) - 1

static const struct utf8_case utf8_cases[] = {
        {"empty", S(""), true},
        {"ascii", S("sport/tennis"), true},
        {"2 bytes U+00E9", S("\xc3\xa9"), true},
        {"3 bytes U+20AC", S("\xe2\x82\xac"), true},
        {"4 bytes U+1D11E", S("\xf0\x9d\x84\x9e"), true},
        {"last U+10FFFF", S("\xf4\x8f\xbf\xbf"), true},
        {"U+D7FF before surrogates", S("\xed\x9f\xbf"), true},
        {"U+E000 after surrogates", S("\xee\x80\x80"), true},
        {"U+FEFF not stripped mqtt_1_5_4_3", S("\xef\xbb\xbf"), true},
        {"noncharacter U+FFFF", S("\xef\xbf\xbf"), true},
        {"control U+0001", S("\x01"), true},
        {"U+0000 mqtt_1_5_4_2", S("a\x00"), false},
        {"U+0000 overlong", S("\xc0\x80"), false},
        {"surrogate U+D800 mqtt_1_5_4_1", S("\xed\xa0\x80"), false},
        {"surrogate U+DFFF mqtt_1_5_4_1", S("\xed\xbf\xbf"), false},
        {"overlong 2 bytes", S("\xc1\xbf"), false},
        {"overlong 3 bytes", S("\xe0\x80\xaf"), false},
        {"overlong 4 bytes", S("\xf0\x80\x80\xaf"), false},
        {"beyond U+10FFFF", S("\xf4\x90\x80\x80"), false},
        {"F5 lead", S("\xf5\x80\x80\x80"), false},
        {"FF", S("\xff"), false},
        {"lone continuation", S("\x80"), false},
        {"truncated 2", S("\xc3"), false},
        {"truncated 3", S("ab\xe2\x82"), false},
        {"truncated 4", S("\xf0\x9d\x84"), false},
        {"bad continuation", S("\xc3\x28"), false},
        {"ascii in 3 byte", S("\xe2\x28\xa1"), false},
        {"5 byte form", S("\xf8\x88\x80\x80\x80"), false},
};

START_TEST(test_utf8_valid_mqtt_1_5_4_1) /* cases: utf8_cases */
{
	const struct utf8_case *uc = &utf8_cases[_i];

	ck_assert_msg(mqtt_utf8_valid((const uint8_t *)uc->s, uc->len) == uc->valid, "%s",
	              uc->name);
}
END_TEST

START_TEST(test_sub_next)
{
	static const uint8_t entries[] = {0x00, 0x01, 'a', 0x01, 0x00, 0x00, 0x02,
	                                  0x00, 0x03, 'b', '/',  '#',  0x2D};
	struct sl_bytes cur = sl_bytes_make(entries, sizeof(entries)), f;
	uint8_t o = 0xFF;

	ck_assert_int_eq(mqtt_sub_next(&cur, &f, &o), 1);
	ck_assert_uint_eq(f.len, 1);
	ck_assert_mem_eq(f.p, "a", 1);
	ck_assert_uint_eq(o, 1);
	ck_assert_int_eq(mqtt_sub_next(&cur, &f, &o), 1); /* empty filters walk too */
	ck_assert_uint_eq(f.len, 0);
	ck_assert_uint_eq(o, 2);
	ck_assert_int_eq(mqtt_sub_next(&cur, &f, &o), 1);
	ck_assert_mem_eq(f.p, "b/#", 3);
	ck_assert_uint_eq(o, 0x2D);
	ck_assert_int_eq(mqtt_sub_next(&cur, &f, &o), 0);
	ck_assert_uint_eq(cur.len, 0);
}
END_TEST

/* A cursor that was not produced by mqtt_decode() ends the walk instead of overrunning. */
START_TEST(test_sub_next_truncated)
{
	static const uint8_t no_opts[] = {0x00, 0x01, 'a'};
	static const uint8_t short_str[] = {0x00, 0x05, 'a', 'b'};
	struct sl_bytes cur = sl_bytes_make(no_opts, sizeof(no_opts)), f;
	uint8_t o;

	ck_assert_int_eq(mqtt_sub_next(&cur, &f, &o), 0);
	cur = sl_bytes_make(short_str, sizeof(short_str));
	ck_assert_int_eq(mqtt_sub_next(&cur, &f, &o), 0);
	ck_assert_int_eq(mqtt_unsub_next(&cur, &f), 0);
	cur = sl_bytes_make(short_str, 1);
	ck_assert_int_eq(mqtt_unsub_next(&cur, &f), 0);
	cur = sl_bytes_make(no_opts, sizeof(no_opts));
	ck_assert_int_eq(mqtt_unsub_next(&cur, &f), 1);
	ck_assert_mem_eq(f.p, "a", 1);
}
END_TEST

START_TEST(test_unsub_next)
{
	static const uint8_t entries[] = {0x00, 0x02, 'a', 'b', 0x00, 0x01, '+'};
	struct sl_bytes cur = sl_bytes_make(entries, sizeof(entries)), f;

	ck_assert_int_eq(mqtt_unsub_next(&cur, &f), 1);
	ck_assert_mem_eq(f.p, "ab", 2);
	ck_assert_int_eq(mqtt_unsub_next(&cur, &f), 1);
	ck_assert_uint_eq(f.len, 1);
	ck_assert_mem_eq(f.p, "+", 1);
	ck_assert_int_eq(mqtt_unsub_next(&cur, &f), 0);
}
END_TEST

START_TEST(test_rc_str)
{
	unsigned rc;

	ck_assert_str_eq(mqtt_rc_str(MQTT_RC_SUCCESS), "success");
	ck_assert_str_eq(mqtt_rc_str(MQTT_RC_MALFORMED), "malformed packet");
	ck_assert_str_eq(mqtt_rc_str(MQTT_RC_PROTOCOL_ERROR), "protocol error");
	ck_assert_str_eq(mqtt_rc_str(MQTT_RC_PACKET_TOO_LARGE), "packet too large");
	ck_assert_str_eq(mqtt_rc_str(MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED),
	                 "wildcard subscriptions not supported");
	ck_assert_str_eq(mqtt_rc_str(0x03), "unknown reason code");
	ck_assert_str_eq(mqtt_rc_str(0xFF), "unknown reason code");
	/* every code from 0x80 to 0xA2 is defined (2.4) */
	for (rc = 0x80; rc <= 0xA2; rc++)
		ck_assert_str_ne(mqtt_rc_str((uint8_t)rc), "unknown reason code");
}
END_TEST

START_TEST(test_type_str)
{
	ck_assert_str_eq(mqtt_type_str(MQTT_CONNECT), "CONNECT");
	ck_assert_str_eq(mqtt_type_str(MQTT_PUBREL), "PUBREL");
	ck_assert_str_eq(mqtt_type_str(MQTT_UNSUBACK), "UNSUBACK");
	ck_assert_str_eq(mqtt_type_str(MQTT_AUTH), "AUTH");
	ck_assert_str_eq(mqtt_type_str((enum mqtt_type)0), "UNKNOWN");
	ck_assert_str_eq(mqtt_type_str((enum mqtt_type)16), "UNKNOWN");
	ck_assert_str_eq(mqtt_type_str((enum mqtt_type) - 1), "UNKNOWN");
}
END_TEST

Suite *
mqtt_util_suite(void)
{
	Suite *s = suite_create("mqtt_util");
	TCase *tc = tcase_create("varint");

	tcase_add_loop_test(tc, test_varint_read, 0, N(varint_cases));
	tcase_add_loop_test(tc, test_varint_write, 0, N(varint_cases));
	tcase_add_test(tc, test_varint_round_trip);
	suite_add_tcase(s, tc);
	tc = tcase_create("utf8");
	tcase_add_loop_test(tc, test_utf8_valid_mqtt_1_5_4_1, 0, N(utf8_cases));
	suite_add_tcase(s, tc);
	tc = tcase_create("walk");
	tcase_add_test(tc, test_sub_next);
	tcase_add_test(tc, test_sub_next_truncated);
	tcase_add_test(tc, test_unsub_next);
	suite_add_tcase(s, tc);
	tc = tcase_create("names");
	tcase_add_test(tc, test_rc_str);
	tcase_add_test(tc, test_type_str);
	suite_add_tcase(s, tc);
	return s;
}
