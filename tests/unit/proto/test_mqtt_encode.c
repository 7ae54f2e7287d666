/* Tests for proto/mqtt_encode.c: every packet type and version encodes to exactly the bytes it
 * was decoded from, the v5 short forms, refusals (-EINVAL, -ENOMEM), and the PUBLISH fast path
 * (mqtt_publish_hdr_len/write) whose output must decode. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "proto/mqtt.h"

#define PKT(s) (const uint8_t *)(s), sizeof(s) - 1
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

#include "vectors.h"

/* The properties of pkt that mqtt_encode() writes, or NULL for packets without any. */
static struct mqtt_props *
props_of(struct mqtt_pkt *pkt)
{
	switch (pkt->type) {
	case MQTT_CONNECT:
		return &pkt->u.connect.props;
	case MQTT_CONNACK:
		return &pkt->u.connack.props;
	case MQTT_PUBLISH:
		return &pkt->u.publish.props;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		return &pkt->u.ack.props;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return &pkt->u.subscribe.props;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		return &pkt->u.suback.props;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		return &pkt->u.reason.props;
	default:
		return NULL;
	}
}

/* Makes decoded properties encodable again: user properties come from the raw block. */
static void
keep_user_props(struct mqtt_props *p, uint8_t *room)
{
	uint32_t n = mqtt_props_filter(p->raw, MQTT_PB(MQTT_PROP_USER_PROPERTY), room);

	p->user_props = sl_bytes_make(room, n);
}

/* decode, then encode at the same level: the same bytes. */
START_TEST(test_round_trip) /* cases: valid_vecs */
{
	const struct valid_vec *v = &valid_vecs[_i];
	uint8_t room[2][256];
	struct sl_buf out = SL_BUF_INIT;
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;
	uint8_t version = v->version;

	ck_assert_int_eq(mqtt_decode(v->in, v->len, version, 0, &pkt, &rc), (int)v->len);
	if (pkt.type == MQTT_CONNECT) {
		version = pkt.u.connect.version; /* a CONNECT is written at its own level */
		keep_user_props(&pkt.u.connect.will_props, room[1]);
	}
	if (props_of(&pkt) != NULL)
		keep_user_props(props_of(&pkt), room[0]);
	ck_assert_msg(mqtt_encode(&out, version, &pkt) == 0, "%s", v->name);
	ck_assert_msg(out.len == v->len && memcmp(out.data, v->in, v->len) == 0,
	              "%s: %zu bytes, want %zu", v->name, out.len, v->len);
	sl_buf_fini(&out);
}
END_TEST

/* Encodes pkt at version and compares with want. */
static void
encode_eq(uint8_t version, const struct mqtt_pkt *pkt, const char *want, size_t len)
{
	struct sl_buf out = SL_BUF_INIT;

	ck_assert_int_eq(mqtt_encode(&out, version, pkt), 0);
	ck_assert_uint_eq(out.len, len);
	ck_assert_mem_eq(out.data, want, len);
	sl_buf_fini(&out);
}

#define WANT(s) s, sizeof(s) - 1

/* 3.4.2.1, 3.14.2.1, 3.15.2.1: success without properties takes the short form. */
START_TEST(test_v5_short_forms)
{
	struct mqtt_pkt pkt = {.type = MQTT_PUBACK};

	pkt.u.ack.packet_id = 0x1234;
	encode_eq(MQTT_V5, &pkt, WANT("\x40\x02\x12\x34"));
	pkt.type = MQTT_PUBREL;
	encode_eq(MQTT_V5, &pkt, WANT("\x62\x02\x12\x34"));
	pkt.u.ack.rc = MQTT_RC_PACKET_ID_NOT_FOUND; /* 3.4.2.2.1: no Property Length if empty */
	encode_eq(MQTT_V5, &pkt, WANT("\x62\x03\x12\x34\x92"));
	pkt.u.ack.rc = 0;
	pkt.u.ack.props.present = MQTT_PB(MQTT_PROP_REASON_STRING);
	pkt.u.ack.props.reason_string = sl_bytes_make("r", 1);
	encode_eq(MQTT_V5, &pkt, WANT("\x62\x08\x12\x34\x00\x04\x1f\x00\x01r"));
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_DISCONNECT;
	encode_eq(MQTT_V5, &pkt, WANT("\xe0\x00"));
	pkt.u.reason.rc = MQTT_RC_SESSION_TAKEN_OVER;
	encode_eq(MQTT_V5, &pkt, WANT("\xe0\x01\x8e"));
	pkt.type = MQTT_AUTH;
	pkt.u.reason.rc = 0;
	encode_eq(MQTT_V5, &pkt, WANT("\xf0\x00"));
}
END_TEST

/* v3 levels ignore properties and reason codes. */
START_TEST(test_v3_ignores_v5_fields)
{
	struct mqtt_pkt pkt = {.type = MQTT_PUBLISH};

	pkt.u.publish.topic = sl_bytes_make("t", 1);
	pkt.u.publish.qos = 1;
	pkt.u.publish.packet_id = 2;
	pkt.u.publish.props.present = MQTT_PB(MQTT_PROP_MESSAGE_EXPIRY);
	pkt.u.publish.props.user_props = sl_bytes_make("\x26\x00\x00\x00\x00", 5);
	encode_eq(MQTT_V311, &pkt, WANT("\x32\x05\x00\x01t\x00\x02"));
	encode_eq(0, &pkt, WANT("\x32\x05\x00\x01t\x00\x02"));
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_PUBACK;
	pkt.u.ack.packet_id = 9;
	pkt.u.ack.rc = MQTT_RC_QUOTA_EXCEEDED;
	encode_eq(MQTT_V311, &pkt, WANT("\x40\x02\x00\x09"));
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_DISCONNECT;
	pkt.u.reason.rc = MQTT_RC_SERVER_BUSY;
	encode_eq(MQTT_V31, &pkt, WANT("\xe0\x00"));
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_UNSUBACK; /* 3.11.3 (3.1.1): no payload */
	pkt.u.suback.packet_id = 3;
	pkt.u.suback.count = 1;
	pkt.u.suback.rcs = (const uint8_t *)"\x00";
	encode_eq(MQTT_V311, &pkt, WANT("\xb0\x02\x00\x03"));
}
END_TEST

/* The fixed-header flags come from the fields, never from pkt->flags. */
START_TEST(test_fixed_header_flags_mqtt_2_2_2_1)
{
	struct mqtt_pkt pkt = {.type = MQTT_SUBSCRIBE, .flags = 0x0F};

	pkt.u.subscribe.packet_id = 1;
	pkt.u.subscribe.entries = sl_bytes_make("\x00\x01"
	                                        "a"
	                                        "\x01",
	                                        4);
	encode_eq(MQTT_V311, &pkt,
	          WANT("\x82\x06\x00\x01\x00\x01"
	               "a"
	               "\x01"));
	pkt.type = MQTT_UNSUBSCRIBE;
	pkt.u.subscribe.entries.len = 3;
	encode_eq(MQTT_V311, &pkt,
	          WANT("\xa2\x05\x00\x01\x00\x01"
	               "a"));
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_PUBLISH;
	pkt.flags = 0x0F;
	pkt.u.publish.topic = sl_bytes_make("t", 1);
	pkt.u.publish.qos = 2;
	pkt.u.publish.dup = true;
	pkt.u.publish.packet_id = 1;
	encode_eq(MQTT_V311, &pkt, WANT("\x3c\x05\x00\x01t\x00\x01"));
}
END_TEST

/* A remaining length over 127 needs a longer varint: the body moves to close the gap. */
START_TEST(test_long_remaining_length)
{
	static const size_t sizes[] = {121, 122, 16379, 16380, 2097148, 2097149};
	struct mqtt_pkt pkt = {.type = MQTT_PUBLISH}, back;
	struct sl_buf out = SL_BUF_INIT;
	enum mqtt_rc rc;
	uint8_t *payload = malloc(2097149);
	int i;

	ck_assert_ptr_nonnull(payload);
	memset(payload, 'x', 2097149);
	pkt.u.publish.topic = sl_bytes_make("ab", 2);
	for (i = 0; i < N(sizes); i++) {
		pkt.u.publish.payload = sl_bytes_make(payload, (uint32_t)sizes[i]);
		out.len = 0;
		ck_assert_int_eq(mqtt_encode(&out, MQTT_V311, &pkt), 0);
		/* topic 2 + 2, payload: remaining length 125, 126, 16383, 16384, ... */
		ck_assert_uint_eq(out.len, 1 + (size_t)mqtt_varint_len((uint32_t)sizes[i] + 4) +
		                                   sizes[i] + 4);
		ck_assert_int_eq(mqtt_decode(out.data, out.len, 4, 0, &back, &rc), (int)out.len);
		ck_assert_uint_eq(back.u.publish.payload.len, sizes[i]);
		ck_assert_mem_eq(back.u.publish.topic.p, "ab", 2);
	}
	sl_buf_fini(&out);
	free(payload);
}
END_TEST

/* Appends to what the buffer holds. */
START_TEST(test_encode_appends)
{
	struct mqtt_pkt pkt = {.type = MQTT_PINGREQ};
	struct sl_buf out = SL_BUF_INIT;

	ck_assert_int_eq(mqtt_encode(&out, MQTT_V311, &pkt), 0);
	pkt.type = MQTT_PINGRESP;
	ck_assert_int_eq(mqtt_encode(&out, MQTT_V5, &pkt), 0);
	ck_assert_uint_eq(out.len, 4);
	ck_assert_mem_eq(out.data, "\xc0\x00\xd0\x00", 4);
	sl_buf_fini(&out);
}
END_TEST

struct invalid_case {
	const char *name;
	uint8_t version;
	struct mqtt_pkt pkt;
};

static const uint8_t big[70000];

#define TOPIC(s) .topic = {(const uint8_t *)(s), sizeof(s) - 1}

static const struct invalid_case invalid_cases[] = {
        {"type 0", 4, {.type = (enum mqtt_type)0}},
        {"type 16", 4, {.type = (enum mqtt_type)16}},
        {"version 6", 6, {.type = MQTT_PINGREQ}},
        {"version 2", 2, {.type = MQTT_PINGREQ}},
        {"auth in v311", 4, {.type = MQTT_AUTH}},
        {"publish qos3 mqtt_3_3_1_4",
         4,
         {.type = MQTT_PUBLISH, .u.publish = {.qos = 3, .packet_id = 1, TOPIC("t")}}},
        {"publish qos9",
         4,
         {.type = MQTT_PUBLISH, .u.publish = {.qos = 9, .packet_id = 1, TOPIC("t")}}},
        {"publish dup qos0 mqtt_3_3_1_2",
         4,
         {.type = MQTT_PUBLISH, .u.publish = {.dup = true, TOPIC("t")}}},
        {"publish id 0 mqtt_2_3_1_1",
         5,
         {.type = MQTT_PUBLISH, .u.publish = {.qos = 1, TOPIC("t")}}},
        {"publish wildcard mqtt_3_3_2_2", 4, {.type = MQTT_PUBLISH, .u.publish = {TOPIC("a/#")}}},
        {"publish empty topic", 4, {.type = MQTT_PUBLISH}},
        {"publish empty topic v5", 5, {.type = MQTT_PUBLISH}},
        {"publish topic too long",
         4,
         {.type = MQTT_PUBLISH, .u.publish = {.topic = {big, sizeof(big)}}}},
        {"publish topic invalid utf8", 4, {.type = MQTT_PUBLISH, .u.publish = {TOPIC("\xc3")}}},
        {"connect will qos 3",
         4,
         {.type = MQTT_CONNECT, .u.connect = {.will_flag = true, .will_qos = 3}}},
        {"connect will qos 4",
         4,
         {.type = MQTT_CONNECT, .u.connect = {.will_flag = true, .will_qos = 4}}},
        {"connect will qos no will", 5, {.type = MQTT_CONNECT, .u.connect = {.will_qos = 1}}},
        {"connect password no user mqtt_3_1_2_22",
         4,
         {.type = MQTT_CONNECT, .u.connect = {.has_password = true}}},
        {"subscribe empty mqtt_3_8_3_3",
         4,
         {.type = MQTT_SUBSCRIBE, .u.subscribe = {.packet_id = 1}}},
        {"subscribe bad entry",
         5,
         {.type = MQTT_SUBSCRIBE,
          .u.subscribe = {.packet_id = 1,
                          .entries = {(const uint8_t *)"\x00\x01"
                                                       "a"
                                                       "\xc0",
                                      4}}}},
        {"unsubscribe id 0",
         4,
         {.type = MQTT_UNSUBSCRIBE,
          .u.subscribe = {.entries = {(const uint8_t *)"\x00\x01"
                                                       "a",
                                      3}}}},
        {"suback no codes", 5, {.type = MQTT_SUBACK, .u.suback = {.packet_id = 1}}},
        {"suback bad code",
         4,
         {.type = MQTT_SUBACK,
          .u.suback = {.packet_id = 1, .count = 1, .rcs = (const uint8_t *)"\x03"}}},
        {"puback id 0", 5, {.type = MQTT_PUBACK}},
        {"puback v5 bad rc", 5, {.type = MQTT_PUBACK, .u.ack = {.packet_id = 1, .rc = 0x92}}},
        {"disconnect v5 bad rc", 5, {.type = MQTT_DISCONNECT, .u.reason = {.rc = 0x01}}},
        {"connack v311 rc 6", 4, {.type = MQTT_CONNACK, .u.connack = {.rc = 6}}},
};

/* What mqtt_decode() would refuse is -EINVAL, and the buffer keeps only what it held. */
START_TEST(test_encode_invalid) /* cases: invalid_cases */
{
	const struct invalid_case *ic = &invalid_cases[_i];
	struct sl_buf out = SL_BUF_INIT;

	ck_assert_int_eq(sl_buf_append(&out, "ab", 2), 0);
	ck_assert_msg(mqtt_encode(&out, ic->version, &ic->pkt) == -EINVAL, "%s", ic->name);
	ck_assert_uint_eq(out.len, 2);
	ck_assert_mem_eq(out.data, "ab", 2);
	sl_buf_fini(&out);
}
END_TEST

static int
fail_all(size_t size)
{
	(void)size;
	return 1;
}

START_TEST(test_encode_enomem)
{
	struct mqtt_pkt pkt = {.type = MQTT_PINGREQ};
	struct sl_buf out = SL_BUF_INIT;

	sl_alloc_set_fail_hook(fail_all);
	ck_assert_int_eq(mqtt_encode(&out, MQTT_V311, &pkt), -ENOMEM);
	sl_alloc_set_fail_hook(NULL);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(mqtt_encode(&out, MQTT_V311, &pkt), 0);
	ck_assert_uint_eq(out.len, 2);
	sl_buf_fini(&out);
}
END_TEST

/* Writes the fast-path header of o then its payload, checks the length agreement, and decodes
 * the result at o->version into *back. The bytes stay in *buf (to free). */
static void
pub_out_decode(const struct mqtt_pub_out *o, const uint8_t *payload, uint8_t **buf,
               struct mqtt_pkt *back)
{
	size_t hdr = mqtt_publish_hdr_len(o);
	enum mqtt_rc rc;

	ck_assert_uint_gt(hdr, 0);
	*buf = malloc(hdr + o->payload_len);
	ck_assert_ptr_nonnull(*buf);
	ck_assert_uint_eq(mqtt_publish_hdr_write(*buf, o), hdr);
	memcpy(*buf + hdr, payload, o->payload_len);
	ck_assert_int_eq(mqtt_decode(*buf, hdr + o->payload_len, o->version, 0, back, &rc),
	                 (int)(hdr + o->payload_len));
	ck_assert_uint_eq(back->u.publish.payload.len, o->payload_len);
	ck_assert_mem_eq(back->u.publish.payload.p, payload, o->payload_len);
}

START_TEST(test_publish_hdr_v311)
{
	struct mqtt_pub_out o = {.version = MQTT_V311, .topic = {(const uint8_t *)"a/b", 3}};
	struct mqtt_pkt back;
	uint8_t *buf;

	o.payload_len = 5;
	ck_assert_uint_eq(mqtt_publish_hdr_len(&o), 2 + 2 + 3);
	pub_out_decode(&o, (const uint8_t *)"hello", &buf, &back);
	ck_assert_mem_eq(buf,
	                 "\x30\x0a\x00\x03"
	                 "a/b",
	                 7);
	ck_assert_uint_eq(back.u.publish.qos, 0);
	free(buf);
	/* QoS, DUP and RETAIN; v5-only fields are ignored at this level */
	o.qos = 2;
	o.dup = o.retain = true;
	o.packet_id = 0xBEEF;
	o.topic_alias = 4;
	o.omit_topic = o.has_expiry = true;
	o.props = sl_bytes_make("\x01\x01", 2);
	ck_assert_uint_eq(mqtt_publish_hdr_len(&o), 2 + 2 + 3 + 2);
	pub_out_decode(&o, (const uint8_t *)"hello", &buf, &back);
	ck_assert_mem_eq(buf,
	                 "\x3d\x0c\x00\x03"
	                 "a/b"
	                 "\xbe\xef",
	                 9);
	ck_assert(back.u.publish.dup && back.u.publish.retain);
	ck_assert_uint_eq(back.u.publish.packet_id, 0xBEEF);
	free(buf);
}
END_TEST

/* The per-subscriber properties first (expiry, alias, sub ids), then the forwarded ones. */
START_TEST(test_publish_hdr_v5)
{
	static const uint32_t ids[] = {1, 200};
	static const char want[] = "\x32\x20\x00\x01t\x00\x07\x18"
	                           "\x02\x00\x00\x01\x2c"
	                           "\x23\x00\x03"
	                           "\x0b\x01\x0b\xc8\x01"
	                           "\x03\x00\x01j\x26\x00\x01k\x00\x01v";
	struct mqtt_pub_out o = {.version = MQTT_V5, .qos = 1, .packet_id = 7};
	const struct mqtt_props *p;
	struct mqtt_pkt back;
	uint8_t *buf;

	o.topic = sl_bytes_make("t", 1);
	o.has_expiry = true;
	o.expiry_left = 300;
	o.topic_alias = 3;
	o.n_sub_ids = 2;
	o.sub_ids = ids;
	o.props = sl_bytes_make("\x03\x00\x01j\x26\x00\x01k\x00\x01v", 11);
	o.payload_len = 2;
	ck_assert_uint_eq(mqtt_publish_hdr_len(&o), sizeof(want) - 1);
	pub_out_decode(&o, (const uint8_t *)"pl", &buf, &back);
	ck_assert_mem_eq(buf, want, sizeof(want) - 1);
	p = &back.u.publish.props;
	ck_assert_uint_eq(p->message_expiry, 300);
	ck_assert_uint_eq(p->topic_alias, 3);
	ck_assert_uint_eq(p->n_sub_ids, 2);
	ck_assert_uint_eq(p->sub_ids[1], 200);
	ck_assert_uint_eq(p->n_user_props, 1);
	ck_assert_uint_eq(p->content_type.len, 1);
	free(buf);
}
END_TEST

/* 3.3.2.3.4: with a Topic Alias the topic name may be sent empty. */
START_TEST(test_publish_hdr_v5_omit_topic)
{
	struct mqtt_pub_out o = {.version = MQTT_V5, .topic_alias = 9, .omit_topic = true};
	struct mqtt_pkt back;
	uint8_t *buf;

	o.topic = sl_bytes_make("long/topic", 10);
	ck_assert_uint_eq(mqtt_publish_hdr_len(&o), 2 + 2 + 1 + 3);
	pub_out_decode(&o, (const uint8_t *)"", &buf, &back);
	ck_assert_mem_eq(buf, "\x30\x06\x00\x00\x03\x23\x00\x09", 8);
	ck_assert_uint_eq(back.u.publish.topic.len, 0);
	ck_assert_uint_eq(back.u.publish.props.topic_alias, 9);
	free(buf);
	/* no properties at all: a zero Property Length */
	o.topic_alias = 0;
	o.omit_topic = false;
	pub_out_decode(&o, (const uint8_t *)"", &buf, &back);
	ck_assert_mem_eq(buf, "\x30\x0d\x00\x0along/topic\x00", 15);
	free(buf);
}
END_TEST

/* A payload over 127 bytes needs a longer remaining length. */
START_TEST(test_publish_hdr_long_payload)
{
	struct mqtt_pub_out o = {.version = MQTT_V5, .qos = 1, .packet_id = 1};
	static uint8_t payload[20000];
	struct mqtt_pkt back;
	uint8_t *buf;

	o.topic = sl_bytes_make("t", 1);
	o.payload_len = sizeof(payload);
	memset(payload, 'z', sizeof(payload));
	ck_assert_uint_eq(mqtt_publish_hdr_len(&o), 1 + 3 + 3 + 2 + 1);
	pub_out_decode(&o, payload, &buf, &back);
	ck_assert_uint_eq(back.remaining_len, 20006);
	free(buf);
}
END_TEST

/* What cannot be sent at all has no header length. */
START_TEST(test_publish_hdr_too_large)
{
	struct mqtt_pub_out o = {.version = MQTT_V311};

	o.topic = sl_bytes_make("t", 1);
	o.payload_len = MQTT_MAX_REMAINING_LENGTH - 3;
	ck_assert_uint_eq(mqtt_publish_hdr_len(&o), 1 + 4 + 3);
	o.payload_len++;
	ck_assert_uint_eq(mqtt_publish_hdr_len(&o), 0);
	o.payload_len = 0;
	o.topic = sl_bytes_make(big, 65536);
	ck_assert_uint_eq(mqtt_publish_hdr_len(&o), 0);
	o.topic.len = 65535;
	ck_assert_uint_eq(mqtt_publish_hdr_len(&o), 1 + 3 + 2 + 65535);
	o.version = MQTT_V5;
	o.omit_topic = true;
	o.topic.len = 65536; /* not sent */
	ck_assert_uint_eq(mqtt_publish_hdr_len(&o), 1 + 1 + 2 + 1);
}
END_TEST

Suite *
mqtt_encode_suite(void)
{
	Suite *s = suite_create("mqtt_encode");
	TCase *tc = tcase_create("encode");

	tcase_add_loop_test(tc, test_round_trip, 0, n_valid_vecs);
	tcase_add_test(tc, test_v5_short_forms);
	tcase_add_test(tc, test_v3_ignores_v5_fields);
	tcase_add_test(tc, test_fixed_header_flags_mqtt_2_2_2_1);
	tcase_add_test(tc, test_long_remaining_length);
	tcase_add_test(tc, test_encode_appends);
	tcase_add_loop_test(tc, test_encode_invalid, 0, N(invalid_cases));
	tcase_add_test(tc, test_encode_enomem);
	suite_add_tcase(s, tc);
	tc = tcase_create("publish_hdr");
	tcase_add_test(tc, test_publish_hdr_v311);
	tcase_add_test(tc, test_publish_hdr_v5);
	tcase_add_test(tc, test_publish_hdr_v5_omit_topic);
	tcase_add_test(tc, test_publish_hdr_long_payload);
	tcase_add_test(tc, test_publish_hdr_too_large);
	suite_add_tcase(s, tc);
	return s;
}
