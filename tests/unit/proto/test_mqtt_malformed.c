/* Tests for proto/mqtt_decode.c, continued: malformed packets, one case per spec statement, and
 * incomplete input. style: a second file for mqtt_decode.c, as the table alone is 300 lines. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mqtt.h"

#define PKT(s) (const uint8_t *)(s), sizeof(s) - 1
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Short names for the table. */
#define MALFORMED MQTT_RC_MALFORMED
#define PROTOCOL_ERROR MQTT_RC_PROTOCOL_ERROR
#define TOPIC_NAME_INVALID MQTT_RC_TOPIC_NAME_INVALID
#define UNSUPPORTED_VERSION MQTT_RC_UNSUPPORTED_VERSION
#define PACKET_TOO_LARGE MQTT_RC_PACKET_TOO_LARGE

/* A packet refused with reason rc at connection level `version` (max: the max_packet_size
 * argument). */
struct bad_vec {
	const char *name;
	uint8_t version;
	uint32_t max;
	enum mqtt_rc rc;
	const uint8_t *in;
	size_t len;
};

/* Input that is not a whole packet yet. */
struct more_vec {
	const char *name;
	uint8_t version;
	const uint8_t *in;
	size_t len;
};

/* One vector per line, its bytes grouped by field. */
/* clang-format off */
static const struct bad_vec bad_vecs[] = {
	{"type 0 reserved", 4, 0, MALFORMED, PKT("\x00\x00")},
	{"auth in v311 mqtt_2_2_1", 4, 0, MALFORMED, PKT("\xf0\x00")},
	{"auth before connect", 0, 0, MALFORMED, PKT("\xf0\x00")},
	{"connect flags mqtt_2_2_2_1", 0, 0, MALFORMED, PKT("\x11\x00")},
	{"connack flags mqtt_2_2_2_1", 4, 0, MALFORMED, PKT("\x28\x02\x00\x00")},
	{"puback flags mqtt_2_2_2_1", 4, 0, MALFORMED, PKT("\x41\x02\x00\x01")},
	{"pubrel flags 0000 mqtt_2_2_2_1", 4, 0, MALFORMED, PKT("\x60\x02\x00\x01")},
	{"pubrel flags 0011 mqtt_2_2_2_1", 5, 0, MALFORMED, PKT("\x63\x02\x00\x01")},
	{"subscribe flags 0000 mqtt_3_8_1_1", 4, 0, MALFORMED, PKT("\x80\x06\x00\x01\x00\x01" "a"
	    "\x00")},
	{"unsubscribe flags 0000 mqtt_3_10_1_1", 4, 0, MALFORMED, PKT("\xa0\x05\x00\x01\x00\x01"
	    "a")},
	{"pingreq flags mqtt_2_2_2_1", 4, 0, MALFORMED, PKT("\xc8\x00")},
	{"disconnect flags mqtt_2_2_2_1", 5, 0, MALFORMED, PKT("\xe2\x00")},
	{"publish qos3 v311 mqtt_3_3_1_4", 4, 0, MALFORMED, PKT("\x36\x05\x00\x01" "a" "\x00\x01")},
	{"publish qos3 v5 mqtt_3_3_1_4", 5, 0, MALFORMED, PKT("\x36\x06\x00\x01" "a"
	    "\x00\x01\x00")},
	{"publish dup qos0 v311 mqtt_3_3_1_2", 4, 0, MALFORMED, PKT("\x38\x03\x00\x01" "a")},
	{"publish dup qos0 v5 mqtt_3_3_1_2", 5, 0, PROTOCOL_ERROR, PKT("\x38\x04\x00\x01" "a"
	    "\x00")},
	{"remaining length fifth byte", 4, 0, MALFORMED, PKT("\x30\xff\xff\xff\xff\x7f")},
	{"remaining length fifth byte partial", 4, 0, MALFORMED, PKT("\x30\x80\x80\x80\x80")},
	{"too large from fixed header", 4, 10, PACKET_TOO_LARGE, PKT("\x30\x0a")},
	{"too large max 1", 4, 1, PACKET_TOO_LARGE, PKT("\xc0\x00")},
	{"too large varint", 5, 200, PACKET_TOO_LARGE, PKT("\x30\xc8\x01")},
	{"pingreq with body", 4, 0, MALFORMED, PKT("\xc0\x01\x00")},
	{"pingresp with body", 5, 0, MALFORMED, PKT("\xd0\x01\x00")},
	{"disconnect v311 with body", 4, 0, MALFORMED, PKT("\xe0\x01\x00")},
	{"puback v311 rl 3", 4, 0, MALFORMED, PKT("\x40\x03\x00\x01\x00")},
	{"puback rl 1", 5, 0, MALFORMED, PKT("\x40\x01\x01")},
	{"puback id 0 mqtt_2_3_1_1", 4, 0, PROTOCOL_ERROR, PKT("\x40\x02\x00\x00")},
	{"pubrec id 0 v5", 5, 0, PROTOCOL_ERROR, PKT("\x50\x02\x00\x00")},
	{"publish qos1 id 0 mqtt_2_3_1_1", 4, 0, PROTOCOL_ERROR, PKT("\x32\x05\x00\x01" "a"
	    "\x00\x00")},
	{"publish qos2 id 0 v5", 5, 0, PROTOCOL_ERROR, PKT("\x34\x06\x00\x01" "a" "\x00\x00\x00")},
	{"publish id truncated", 4, 0, MALFORMED, PKT("\x32\x04\x00\x01" "a" "\x00")},
	{"publish plus mqtt_3_3_2_2", 4, 0, TOPIC_NAME_INVALID, PKT("\x30\x07\x00\x05" "a/+/b")},
	{"publish hash mqtt_3_3_2_2", 5, 0, TOPIC_NAME_INVALID, PKT("\x30\x04\x00\x01" "#" "\x00")},
	{"publish empty topic v311 mqtt_4_7_3_1", 4, 0, MALFORMED, PKT("\x30\x03\x00\x00" "x")},
	{"publish empty topic v5 no alias", 5, 0, PROTOCOL_ERROR, PKT("\x30\x04\x00\x00\x00" "x")},
	{"publish topic surrogate mqtt_1_5_4_1", 4, 0, MALFORMED,
	    PKT("\x30\x05\x00\x03\xed\xa0\x80")},
	{"publish topic nul mqtt_1_5_4_2", 4, 0, MALFORMED, PKT("\x30\x05\x00\x03\x61\x00\x62")},
	{"publish topic overlong", 5, 0, MALFORMED, PKT("\x30\x05\x00\x02\xc0\xaf\x00")},
	{"publish topic past packet", 4, 0, MALFORMED, PKT("\x30\x03\x00\x05" "a")},
	{"publish v5 no property length", 5, 0, MALFORMED, PKT("\x30\x03\x00\x01" "a")},
	{"publish v5 property length past packet", 5, 0, MALFORMED, PKT("\x30\x06\x00\x01" "a"
	    "\x05\x01\x01")},
	{"connect mqtt level 3 mqtt_3_1_2_2", 0, 0, UNSUPPORTED_VERSION, PKT("\x10\x0d\x00\x04"
	    "MQTT" "\x03\x02\x00\x00\x00\x01" "a")},
	{"connect mqtt level 6", 0, 0, UNSUPPORTED_VERSION, PKT("\x10\x0d\x00\x04" "MQTT"
	    "\x06\x02\x00\x00\x00\x01" "a")},
	{"connect mqisdp level 4", 0, 0, UNSUPPORTED_VERSION, PKT("\x10\x0f\x00\x06" "MQIsdp"
	    "\x04\x02\x00\x00\x00\x01" "a")},
	{"connect bad name mqtt_3_1_2_1", 0, 0, UNSUPPORTED_VERSION, PKT("\x10\x0d\x00\x04" "MQTX"
	    "\x04\x02\x00\x00\x00\x01" "a")},
	{"connect truncated name", 0, 0, MALFORMED, PKT("\x10\x04\x00\x04" "MQ")},
	{"connect reserved flag mqtt_3_1_2_3", 0, 0, MALFORMED, PKT("\x10\x0d\x00\x04" "MQTT"
	    "\x04\x03\x00\x00\x00\x01" "a")},
	{"connect reserved flag v5 mqtt_3_1_2_3", 0, 0, MALFORMED, PKT("\x10\x0e\x00\x04" "MQTT"
	    "\x05\x01\x00\x00\x00\x00\x01" "a")},
	{"connect will qos3 mqtt_3_1_2_14", 0, 0, MALFORMED, PKT("\x10\x13\x00\x04" "MQTT"
	    "\x04\x1c\x00\x00\x00\x01" "a" "\x00\x01" "t" "\x00\x01" "m")},
	{"connect will qos3 v5 mqtt_3_1_2_12", 0, 0, MALFORMED, PKT("\x10\x15\x00\x04" "MQTT"
	    "\x05\x1c\x00\x00\x00\x00\x01" "a" "\x00\x00\x01" "t" "\x00\x01" "m")},
	{"connect will qos no will mqtt_3_1_2_13", 0, 0, MALFORMED, PKT("\x10\x0d\x00\x04" "MQTT"
	    "\x04\x08\x00\x00\x00\x01" "a")},
	{"connect will qos no will v5 mqtt_3_1_2_11", 0, 0, MALFORMED, PKT("\x10\x0e\x00\x04" "MQTT"
	    "\x05\x10\x00\x00\x00\x00\x01" "a")},
	{"connect will retain no will mqtt_3_1_2_15", 0, 0, MALFORMED, PKT("\x10\x0d\x00\x04" "MQTT"
	    "\x04\x20\x00\x00\x00\x01" "a")},
	{"connect will retain no will v5 mqtt_3_1_2_13", 0, 0, MALFORMED, PKT("\x10\x0e\x00\x04"
	    "MQTT" "\x05\x20\x00\x00\x00\x00\x01" "a")},
	{"connect password no user mqtt_3_1_2_22", 0, 0, MALFORMED, PKT("\x10\x10\x00\x04" "MQTT"
	    "\x04\x40\x00\x00\x00\x01" "a" "\x00\x01" "p")},
	{"connect password no user v31", 0, 0, MALFORMED, PKT("\x10\x12\x00\x06" "MQIsdp"
	    "\x03\x40\x00\x00\x00\x01" "a" "\x00\x01" "p")},
	{"connect extra bytes", 0, 0, MALFORMED, PKT("\x10\x0e\x00\x04" "MQTT"
	    "\x04\x02\x00\x00\x00\x01" "a" "\x00")},
	{"connect extra bytes v5", 0, 0, MALFORMED, PKT("\x10\x0f\x00\x04" "MQTT"
	    "\x05\x02\x00\x00\x00\x00\x01" "a" "\x00")},
	{"connect missing username", 0, 0, MALFORMED, PKT("\x10\x0d\x00\x04" "MQTT"
	    "\x04\x80\x00\x00\x00\x01" "a")},
	{"connect missing password", 0, 0, MALFORMED, PKT("\x10\x10\x00\x04" "MQTT"
	    "\x04\xc2\x00\x00\x00\x01" "a" "\x00\x01" "u")},
	{"connect truncated after level", 0, 0, MALFORMED, PKT("\x10\x07\x00\x04" "MQTT" "\x04")},
	{"connect missing will", 0, 0, MALFORMED, PKT("\x10\x10\x00\x04" "MQTT"
	    "\x04\x04\x00\x00\x00\x01" "a" "\x00\x01" "t")},
	{"connect client id invalid utf8", 0, 0, MALFORMED, PKT("\x10\x0d\x00\x04" "MQTT"
	    "\x04\x02\x00\x00\x00\x01\xff")},
	{"connect username invalid utf8", 0, 0, MALFORMED, PKT("\x10\x10\x00\x04" "MQTT"
	    "\x04\x82\x00\x00\x00\x01" "a" "\x00\x01\xc3")},
	{"connect will topic invalid utf8", 0, 0, MALFORMED, PKT("\x10\x13\x00\x04" "MQTT"
	    "\x04\x06\x00\x00\x00\x01" "a" "\x00\x01\x80\x00\x01" "m")},
	{"connect v5 no property length", 0, 0, MALFORMED, PKT("\x10\x0a\x00\x04" "MQTT"
	    "\x05\x02\x00\x00")},
	{"connect v5 will property not allowed", 0, 0, MALFORMED, PKT("\x10\x1a\x00\x04" "MQTT"
	    "\x05\x06\x00\x00\x00\x00\x01" "a" "\x05\x11\x00\x00\x00\x01\x00\x01" "t" "\x00\x01"
	    "m")},
	{"connect v5 property not allowed", 0, 0, MALFORMED, PKT("\x10\x11\x00\x04" "MQTT"
	    "\x05\x02\x00\x00\x03\x23\x00\x01\x00\x01" "a")},
	{"connack reserved flags mqtt_3_2_2_1", 4, 0, MALFORMED, PKT("\x20\x02\x02\x00")},
	{"connack v311 rc 6", 4, 0, PROTOCOL_ERROR, PKT("\x20\x02\x00\x06")},
	{"connack session present refused mqtt_3_2_2_4", 4, 0, PROTOCOL_ERROR,
	    PKT("\x20\x02\x01\x05")},
	{"connack v5 session present refused mqtt_3_2_2_6", 5, 0, PROTOCOL_ERROR,
	    PKT("\x20\x03\x01\x80\x00")},
	{"connack v5 rc 0x01", 5, 0, PROTOCOL_ERROR, PKT("\x20\x03\x00\x01\x00")},
	{"connack v5 no property length", 5, 0, MALFORMED, PKT("\x20\x02\x00\x00")},
	{"connack v311 short", 4, 0, MALFORMED, PKT("\x20\x01\x00")},
	{"puback v5 rc 0x92", 5, 0, PROTOCOL_ERROR, PKT("\x40\x03\x00\x01\x92")},
	{"pubrel v5 rc 0x10", 5, 0, PROTOCOL_ERROR, PKT("\x62\x03\x00\x01\x10")},
	{"pubcomp v5 extra", 5, 0, MALFORMED, PKT("\x70\x05\x00\x01\x00\x00\x00")},
	{"subscribe no payload mqtt_3_8_3_3", 4, 0, PROTOCOL_ERROR, PKT("\x82\x02\x00\x01")},
	{"subscribe v5 no payload mqtt_3_8_3_2", 5, 0, PROTOCOL_ERROR, PKT("\x82\x03\x00\x01\x00")},
	{"subscribe id 0 mqtt_2_3_1_1", 4, 0, PROTOCOL_ERROR, PKT("\x82\x06\x00\x00\x00\x01" "a"
	    "\x00")},
	{"subscribe v311 reserved bits mqtt_3_8_3_4", 4, 0, MALFORMED,
	    PKT("\x82\x06\x00\x01\x00\x01" "a" "\x04")},
	{"subscribe v311 qos3 mqtt_3_8_3_4", 4, 0, MALFORMED, PKT("\x82\x06\x00\x01\x00\x01" "a"
	    "\x03")},
	{"subscribe v5 reserved bits mqtt_3_8_3_5", 5, 0, MALFORMED,
	    PKT("\x82\x07\x00\x01\x00\x00\x01" "a" "\x40")},
	{"subscribe v5 qos3", 5, 0, PROTOCOL_ERROR, PKT("\x82\x07\x00\x01\x00\x00\x01" "a" "\x03")},
	{"subscribe v5 retain handling 3", 5, 0, PROTOCOL_ERROR, PKT("\x82\x07\x00\x01\x00\x00\x01"
	    "a" "\x30")},
	{"subscribe empty filter v311 mqtt_4_7_3_1", 4, 0, MALFORMED,
	    PKT("\x82\x05\x00\x01\x00\x00\x00")},
	{"subscribe empty filter v5", 5, 0, PROTOCOL_ERROR,
	    PKT("\x82\x06\x00\x01\x00\x00\x00\x00")},
	{"subscribe missing options", 4, 0, MALFORMED, PKT("\x82\x05\x00\x01\x00\x01" "a")},
	{"subscribe second missing options", 5, 0, MALFORMED, PKT("\x82\x0a\x00\x01\x00\x00\x01" "a"
	    "\x00\x00\x01" "b")},
	{"subscribe filter invalid utf8", 4, 0, MALFORMED,
	    PKT("\x82\x08\x00\x01\x00\x03\xed\xbf\xbf\x00")},
	{"subscribe v5 two sub ids", 5, 0, PROTOCOL_ERROR,
	    PKT("\x82\x0b\x00\x01\x04\x0b\x01\x0b\x02\x00\x01" "a" "\x00")},
	{"unsubscribe no payload mqtt_3_10_3_2", 4, 0, PROTOCOL_ERROR, PKT("\xa2\x02\x00\x01")},
	{"unsubscribe v5 no payload mqtt_3_10_3_2", 5, 0, PROTOCOL_ERROR,
	    PKT("\xa2\x03\x00\x01\x00")},
	{"unsubscribe id 0 mqtt_2_3_1_1", 5, 0, PROTOCOL_ERROR, PKT("\xa2\x06\x00\x00\x00\x00\x01"
	    "a")},
	{"unsubscribe empty filter", 4, 0, MALFORMED, PKT("\xa2\x04\x00\x01\x00\x00")},
	{"unsubscribe v5 sub id not allowed", 5, 0, MALFORMED,
	    PKT("\xa2\x08\x00\x01\x02\x0b\x01\x00\x01" "a")},
	{"suback truncated id", 4, 0, MALFORMED, PKT("\x90\x01\x00")},
	{"unsuback id 0 mqtt_2_3_1_1", 5, 0, PROTOCOL_ERROR, PKT("\xb0\x04\x00\x00\x00\x00")},
	{"suback no codes", 4, 0, PROTOCOL_ERROR, PKT("\x90\x02\x00\x01")},
	{"suback v311 rc 3 mqtt_3_9_3_2", 4, 0, PROTOCOL_ERROR, PKT("\x90\x03\x00\x01\x03")},
	{"suback v311 rc 0x87", 4, 0, PROTOCOL_ERROR, PKT("\x90\x03\x00\x01\x87")},
	{"suback v5 rc 3", 5, 0, PROTOCOL_ERROR, PKT("\x90\x05\x00\x01\x00\x00\x03")},
	{"unsuback v311 payload", 4, 0, MALFORMED, PKT("\xb0\x03\x00\x01\x00")},
	{"unsuback v5 no codes", 5, 0, PROTOCOL_ERROR, PKT("\xb0\x03\x00\x01\x00")},
	{"unsuback v5 rc 0x01", 5, 0, PROTOCOL_ERROR, PKT("\xb0\x04\x00\x01\x00\x01")},
	{"disconnect v5 rc 0x01", 5, 0, PROTOCOL_ERROR, PKT("\xe0\x01\x01")},
	{"disconnect v5 property past packet", 5, 0, MALFORMED, PKT("\xe0\x03\x00\x03\x1f")},
	{"auth v5 rc 0x04", 5, 0, PROTOCOL_ERROR, PKT("\xf0\x01\x04")},
	{"auth v5 extra", 5, 0, MALFORMED, PKT("\xf0\x07\x18\x04\x15\x00\x01" "m" "\x00")},
};

static const struct more_vec more_vecs[] = {
	{"empty", 4, PKT("")},
	{"first byte only", 4, PKT("\x30")},
	{"inside remaining length", 4, PKT("\x30\x80")},
	{"inside remaining length 3", 5, PKT("\x30\xff\xff\xff")},
	{"body missing", 4, PKT("\x30\x05\x00")},
	{"large body pending", 4, PKT("\x30\xff\xff\xff\x7f\x00\x01\x61")},
};
/* clang-format on */

/* A heap copy of exactly n bytes, so ASan reports any read past the length given. */
static uint8_t *
exact_copy(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n > 0 ? n : 1);

	ck_assert_ptr_nonnull(c);
	if (n > 0)
		memcpy(c, p, n);
	return c;
}

START_TEST(test_bad_vectors) /* cases: bad_vecs, by spec statement */
{
	const struct bad_vec *b = &bad_vecs[_i];
	uint8_t *buf = exact_copy(b->in, b->len);
	struct mqtt_pkt pkt;
	enum mqtt_rc rc = MQTT_RC_SUCCESS;
	int n = mqtt_decode(buf, b->len, b->version, b->max, &pkt, &rc);

	ck_assert_msg(n == -1 && rc == b->rc, "%s: returned %d rc 0x%02x (%s), want -1 0x%02x",
	              b->name, n, rc, mqtt_rc_str(rc), b->rc);
	free(buf);
}
END_TEST

/* A malformed packet cut anywhere is either "need more" or already refused for the same
 * reason: never accepted, never refused for another reason. */
START_TEST(test_bad_vectors_split) /* cases: bad_vecs */
{
	const struct bad_vec *b = &bad_vecs[_i];
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;
	size_t k;
	int n;

	for (k = 0; k < b->len; k++) {
		uint8_t *buf = exact_copy(b->in, k);

		rc = MQTT_RC_SUCCESS;
		n = mqtt_decode(buf, k, b->version, b->max, &pkt, &rc);
		ck_assert_msg(n == 0 || (n == -1 && rc == b->rc), "%s: prefix %zu: %d rc 0x%02x",
		              b->name, k, n, rc);
		free(buf);
	}
}
END_TEST

START_TEST(test_need_more) /* cases: more_vecs */
{
	const struct more_vec *v = &more_vecs[_i];
	uint8_t *buf = exact_copy(v->in, v->len);
	struct mqtt_pkt pkt;
	enum mqtt_rc rc = MQTT_RC_UNSPECIFIED;

	ck_assert_msg(mqtt_decode(buf, v->len, v->version, 0, &pkt, &rc) == 0, "%s", v->name);
	ck_assert_int_eq(rc, MQTT_RC_SUCCESS);
	free(buf);
}
END_TEST

Suite *
mqtt_malformed_suite(void)
{
	Suite *s = suite_create("mqtt_malformed");
	TCase *tc = tcase_create("malformed");

	tcase_add_loop_test(tc, test_bad_vectors, 0, N(bad_vecs));
	tcase_add_loop_test(tc, test_bad_vectors_split, 0, N(bad_vecs));
	tcase_add_loop_test(tc, test_need_more, 0, N(more_vecs));
	suite_add_tcase(s, tc);
	return s;
}
