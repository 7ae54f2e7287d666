/* Tests for proto/mqtt_props.c: which property may appear in which packet (the matrix of
 * Table 2-4), duplicates, value rules, the raw block walkers, and property encoding. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "proto/mqtt.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define WILL 0 /* the will properties of a CONNECT, in the masks below */
#define IN(t) (1u << (t))
#define ACKS (IN(MQTT_PUBACK) | IN(MQTT_PUBREC) | IN(MQTT_PUBREL) | IN(MQTT_PUBCOMP))
#define MSG (IN(MQTT_PUBLISH) | IN(WILL))
#define ALL 0xCFFFu /* every packet with properties: not PINGREQ, PINGRESP */

/* One sample value per property and where Table 2-4 allows it. */
struct sample {
	uint8_t id;
	const char *val;
	size_t len;
	unsigned where;
	bool boolean; /* 0 or 1 only */
};

#define V(s) s, sizeof(s) - 1

static const struct sample samples[] = {
        {MQTT_PROP_PAYLOAD_FORMAT, V("\x01"), MSG, true},
        {MQTT_PROP_MESSAGE_EXPIRY, V("\x00\x00\x00\x01"), MSG, false},
        {MQTT_PROP_CONTENT_TYPE,
         V("\x00\x01"
           "c"),
         MSG, false},
        {MQTT_PROP_RESPONSE_TOPIC,
         V("\x00\x01"
           "r"),
         MSG, false},
        {MQTT_PROP_CORRELATION_DATA, V("\x00\x02\xff\x00"), MSG, false}, /* binary: any bytes */
        {MQTT_PROP_SUBSCRIPTION_ID, V("\x81\x01"), IN(MQTT_PUBLISH) | IN(MQTT_SUBSCRIBE), false},
        {MQTT_PROP_SESSION_EXPIRY, V("\x00\x00\x00\x01"),
         IN(MQTT_CONNECT) | IN(MQTT_CONNACK) | IN(MQTT_DISCONNECT), false},
        {MQTT_PROP_ASSIGNED_CLIENT_ID,
         V("\x00\x01"
           "i"),
         IN(MQTT_CONNACK), false},
        {MQTT_PROP_SERVER_KEEP_ALIVE, V("\x00\x01"), IN(MQTT_CONNACK), false},
        {MQTT_PROP_AUTH_METHOD,
         V("\x00\x01"
           "m"),
         IN(MQTT_CONNECT) | IN(MQTT_CONNACK) | IN(MQTT_AUTH), false},
        {MQTT_PROP_AUTH_DATA,
         V("\x00\x01"
           "d"),
         IN(MQTT_CONNECT) | IN(MQTT_CONNACK) | IN(MQTT_AUTH), false},
        {MQTT_PROP_REQUEST_PROBLEM_INFO, V("\x01"), IN(MQTT_CONNECT), true},
        {MQTT_PROP_WILL_DELAY, V("\x00\x00\x00\x01"), IN(WILL), false},
        {MQTT_PROP_REQUEST_RESPONSE_INFO, V("\x01"), IN(MQTT_CONNECT), true},
        {MQTT_PROP_RESPONSE_INFO,
         V("\x00\x01"
           "r"),
         IN(MQTT_CONNACK), false},
        {MQTT_PROP_SERVER_REFERENCE,
         V("\x00\x01"
           "s"),
         IN(MQTT_CONNACK) | IN(MQTT_DISCONNECT), false},
        {MQTT_PROP_REASON_STRING,
         V("\x00\x01"
           "r"),
         IN(MQTT_CONNACK) | ACKS | IN(MQTT_SUBACK) | IN(MQTT_UNSUBACK) | IN(MQTT_DISCONNECT) |
                 IN(MQTT_AUTH),
         false},
        {MQTT_PROP_RECEIVE_MAX, V("\x00\x01"), IN(MQTT_CONNECT) | IN(MQTT_CONNACK), false},
        {MQTT_PROP_TOPIC_ALIAS_MAX, V("\x00\x01"), IN(MQTT_CONNECT) | IN(MQTT_CONNACK), false},
        {MQTT_PROP_TOPIC_ALIAS, V("\x00\x01"), IN(MQTT_PUBLISH), false},
        {MQTT_PROP_MAX_QOS, V("\x01"), IN(MQTT_CONNACK), true},
        {MQTT_PROP_RETAIN_AVAILABLE, V("\x01"), IN(MQTT_CONNACK), true},
        {MQTT_PROP_USER_PROPERTY,
         V("\x00\x01"
           "k"
           "\x00\x01"
           "v"),
         ALL, false},
        {MQTT_PROP_MAX_PACKET_SIZE, V("\x00\x00\x00\x01"), IN(MQTT_CONNECT) | IN(MQTT_CONNACK),
         false},
        {MQTT_PROP_WILDCARD_SUB_AVAILABLE, V("\x01"), IN(MQTT_CONNACK), true},
        {MQTT_PROP_SUB_ID_AVAILABLE, V("\x01"), IN(MQTT_CONNACK), true},
        {MQTT_PROP_SHARED_SUB_AVAILABLE, V("\x01"), IN(MQTT_CONNACK), true},
};

/* A byte builder for test packets. */
struct bld {
	uint8_t b[1024];
	size_t n;
};

static void
put(struct bld *b, const void *p, size_t n)
{
	ck_assert_uint_le(b->n + n, sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void
put_u8(struct bld *b, uint8_t v)
{
	put(b, &v, 1);
}

static void
put_str(struct bld *b, const char *s)
{
	put_u8(b, 0);
	put_u8(b, (uint8_t)strlen(s));
	put(b, s, strlen(s));
}

/* The property block prefix (lengths under 128 in these tests). */
static void
put_props(struct bld *b, const struct bld *props)
{
	ck_assert_uint_lt(props->n, 128);
	put_u8(b, (uint8_t)props->n);
	put(b, props->b, props->n);
}

static void
put_prop(struct bld *b, const struct sample *s)
{
	put_u8(b, s->id);
	put(b, s->val, s->len);
}

/* Wraps a property block in a minimal valid v5 packet of type kind (WILL: the will properties
 * of a CONNECT); the result is in *out. */
static void
host(unsigned kind, const struct bld *props, struct bld *out)
{
	static const struct bld none;
	struct bld body = {.n = 0};
	uint8_t first = (uint8_t)((kind == WILL ? MQTT_CONNECT : kind) << 4);

	if (kind == MQTT_PUBREL || kind == MQTT_SUBSCRIBE || kind == MQTT_UNSUBSCRIBE)
		first |= 0x02;
	if (kind == WILL || kind == MQTT_CONNECT) {
		put_str(&body, "MQTT");
		put(&body, kind == WILL ? "\x05\x06\x00\x00" : "\x05\x02\x00\x00", 4);
		put_props(&body, kind == WILL ? &none : props);
		put_str(&body, "a");
		if (kind == WILL) {
			put_props(&body, props);
			put_str(&body, "t");
			put_str(&body, "m");
		}
	} else if (kind == MQTT_CONNACK || kind == MQTT_DISCONNECT || kind == MQTT_AUTH) {
		put(&body, "\x00\x00", kind == MQTT_CONNACK ? 2 : 1);
		put_props(&body, props);
	} else if (kind == MQTT_PUBLISH) {
		put_str(&body, "t");
		put_props(&body, props);
	} else {
		put(&body, "\x00\x01", 2); /* packet id */
		if (kind >= MQTT_PUBACK && kind <= MQTT_PUBCOMP)
			put_u8(&body, 0);
		put_props(&body, props);
		if (kind == MQTT_SUBSCRIBE || kind == MQTT_UNSUBSCRIBE)
			put_str(&body, "a");
		if (kind == MQTT_SUBSCRIBE || kind == MQTT_SUBACK || kind == MQTT_UNSUBACK)
			put_u8(&body, 0); /* options, or one reason code */
	}
	out->n = 0;
	put_u8(out, first);
	ck_assert_uint_lt(body.n, 128);
	put_u8(out, (uint8_t)body.n);
	put(out, body.b, body.n);
}

static const struct sample *
sample_of(uint8_t id)
{
	int i;

	for (i = 0; i < N(samples); i++)
		if (samples[i].id == id)
			return &samples[i];
	ck_abort_msg("no sample 0x%02x", id);
	return NULL;
}

static int
decode5(const struct bld *b, struct mqtt_pkt *pkt, enum mqtt_rc *rc)
{
	return mqtt_decode(b->b, b->n, MQTT_V5, 0, pkt, rc);
}

/* The properties of the packet or will decoded in pkt. */
static const struct mqtt_props *
props_of(unsigned kind, const struct mqtt_pkt *pkt)
{
	switch (kind) {
	case WILL:
		return &pkt->u.connect.will_props;
	case MQTT_CONNECT:
		return &pkt->u.connect.props;
	case MQTT_CONNACK:
		return &pkt->u.connack.props;
	case MQTT_PUBLISH:
		return &pkt->u.publish.props;
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
		return &pkt->u.ack.props;
	}
}

/* 2.2.2.2: "A Control Packet which contains an Identifier which is not valid for its packet
 * type ... is a Malformed Packet". Every property against every packet type. */
START_TEST(test_prop_matrix_2_2_2_2) /* cases: samples x packet types 0..15 */
{
	const struct sample *s = &samples[_i / 16];
	const struct sample *method = sample_of(MQTT_PROP_AUTH_METHOD);
	unsigned kind = (unsigned)_i % 16;
	struct bld props = {.n = 0}, pkt_bytes;
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;
	int n;

	if (kind == MQTT_PINGREQ || kind == MQTT_PINGRESP)
		return;
	/* Authentication Data needs an Authentication Method (3.1.2.11.10) */
	if (s->id == MQTT_PROP_AUTH_DATA && (method->where & IN(kind)))
		put_prop(&props, method);
	put_prop(&props, s);
	host(kind, &props, &pkt_bytes);
	n = decode5(&pkt_bytes, &pkt, &rc);
	if ((s->where & IN(kind)) == 0) {
		ck_assert_msg(n == -1 && rc == MQTT_RC_MALFORMED, "0x%02x in type %u: %d 0x%02x",
		              s->id, kind, n, rc);
		return;
	}
	ck_assert_msg(n == (int)pkt_bytes.n, "0x%02x in type %u: %d 0x%02x", s->id, kind, n, rc);
	ck_assert(props_of(kind, &pkt)->present & MQTT_PB(s->id));
}
END_TEST

/* "It is a Protocol Error to include X more than once", for every X but User Property and a
 * PUBLISH's Subscription Identifiers. */
START_TEST(test_prop_twice_protocol_error) /* cases: samples */
{
	const struct sample *s = &samples[_i];
	struct bld props = {.n = 0}, bytes;
	unsigned kind = 0;
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;
	int n;

	while ((s->where & IN(kind)) == 0)
		kind++;
	if (s->id == MQTT_PROP_AUTH_DATA)
		put_prop(&props, sample_of(MQTT_PROP_AUTH_METHOD));
	put_prop(&props, s);
	put_prop(&props, s);
	host(kind, &props, &bytes);
	n = decode5(&bytes, &pkt, &rc);
	if (s->id == MQTT_PROP_USER_PROPERTY ||
	    (s->id == MQTT_PROP_SUBSCRIPTION_ID && kind == MQTT_PUBLISH)) {
		ck_assert_int_eq(n, (int)bytes.n);
		return;
	}
	ck_assert_msg(n == -1 && rc == MQTT_RC_PROTOCOL_ERROR, "0x%02x twice: %d 0x%02x", s->id, n,
	              rc);
}
END_TEST

static uint8_t
bool_field(const struct mqtt_props *p, uint8_t id)
{
	switch (id) {
	case MQTT_PROP_PAYLOAD_FORMAT:
		return p->payload_format;
	case MQTT_PROP_REQUEST_PROBLEM_INFO:
		return p->request_problem_info;
	case MQTT_PROP_REQUEST_RESPONSE_INFO:
		return p->request_response_info;
	case MQTT_PROP_MAX_QOS:
		return p->max_qos;
	case MQTT_PROP_RETAIN_AVAILABLE:
		return p->retain_available;
	case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
		return p->wildcard_available;
	case MQTT_PROP_SUB_ID_AVAILABLE:
		return p->sub_id_available;
	default:
		return p->shared_available;
	}
}

/* Byte properties that are 0 or 1: 2 is a Protocol Error (3.1.2.11, 3.2.2.3, 3.3.2.3.2). */
START_TEST(test_prop_bool_value) /* cases: samples */
{
	const struct sample *s = &samples[_i];
	struct bld props = {.n = 0}, bytes;
	unsigned kind = 0;
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;
	uint8_t v;

	if (!s->boolean)
		return;
	while ((s->where & IN(kind)) == 0)
		kind++;
	for (v = 0; v < 3; v++) {
		props.n = 0;
		put_u8(&props, s->id);
		put_u8(&props, v);
		host(kind, &props, &bytes);
		if (v < 2) {
			ck_assert_int_eq(decode5(&bytes, &pkt, &rc), (int)bytes.n);
			ck_assert_uint_eq(bool_field(props_of(kind, &pkt), s->id), v);
		} else {
			ck_assert_int_eq(decode5(&bytes, &pkt, &rc), -1);
			ck_assert_int_eq(rc, MQTT_RC_PROTOCOL_ERROR);
		}
	}
}
END_TEST

struct rule_case {
	const char *name;
	unsigned kind;
	const char *props;
	size_t len;
	enum mqtt_rc rc; /* MQTT_RC_SUCCESS: accepted */
};

static const struct rule_case rule_cases[] = {
        /* 3.1.2.11.3 */
        {"receive maximum 0", MQTT_CONNECT, V("\x21\x00\x00"), MQTT_RC_PROTOCOL_ERROR},
        /* 3.2.2.3.6 */
        {"maximum packet size 0", MQTT_CONNACK, V("\x27\x00\x00\x00\x00"), MQTT_RC_PROTOCOL_ERROR},
        /* [MQTT-3.3.2-8] */
        {"topic alias 0 mqtt_3_3_2_8", MQTT_PUBLISH, V("\x23\x00\x00"), MQTT_RC_PROTOCOL_ERROR},
        /* 3.8.2.1.2 */
        {"subscription id 0 subscribe", MQTT_SUBSCRIBE, V("\x0b\x00"), MQTT_RC_PROTOCOL_ERROR},
        {"subscription id 0 publish", MQTT_PUBLISH, V("\x0b\x01\x0b\x00"), MQTT_RC_PROTOCOL_ERROR},
        {"subscription id max", MQTT_SUBSCRIBE, V("\x0b\xff\xff\xff\x7f"), MQTT_RC_SUCCESS},
        {"subscription id five bytes", MQTT_SUBSCRIBE, V("\x0b\xff\xff\xff\xff\x01"),
         MQTT_RC_MALFORMED},
        {"subscription id truncated", MQTT_SUBSCRIBE, V("\x0b\x81"), MQTT_RC_MALFORMED},
        /* 3.1.2.11.10 */
        {"auth data without method", MQTT_CONNECT,
         V("\x16\x00\x01"
           "d"),
         MQTT_RC_PROTOCOL_ERROR},
        {"auth data without method auth", MQTT_AUTH, V("\x16\x00\x00"), MQTT_RC_PROTOCOL_ERROR},
        {"auth data after method", MQTT_AUTH,
         V("\x16\x00\x00\x15\x00\x01"
           "m"),
         MQTT_RC_SUCCESS},
        /* 2.2.2.2: unknown identifiers */
        {"unknown id 0x00", MQTT_PUBLISH, V("\x00\x01"), MQTT_RC_MALFORMED},
        {"unknown id 0x04", MQTT_PUBLISH, V("\x04\x01"), MQTT_RC_MALFORMED},
        {"unknown id 0x2b", MQTT_CONNACK, V("\x2b\x01"), MQTT_RC_MALFORMED},
        {"unknown id 0x7f", MQTT_CONNACK, V("\x7f\x01"), MQTT_RC_MALFORMED},
        {"two byte id", MQTT_PUBLISH, V("\x81\x00\x01"), MQTT_RC_MALFORMED},
        /* values running past the block */
        {"u32 truncated", MQTT_PUBLISH, V("\x02\x00\x00"), MQTT_RC_MALFORMED},
        {"u16 truncated", MQTT_PUBLISH, V("\x23\x00"), MQTT_RC_MALFORMED},
        {"u8 missing", MQTT_PUBLISH, V("\x01"), MQTT_RC_MALFORMED},
        {"string past block", MQTT_PUBLISH,
         V("\x03\x00\x05"
           "ab"),
         MQTT_RC_MALFORMED},
        {"user property value missing", MQTT_PUBLISH,
         V("\x26\x00\x01"
           "k"),
         MQTT_RC_MALFORMED},
        /* [MQTT-1.5.4-1] [MQTT-1.5.7-1] */
        {"content type surrogate", MQTT_PUBLISH, V("\x03\x00\x03\xed\xa0\x80"), MQTT_RC_MALFORMED},
        {"user property key invalid", MQTT_PUBLISH,
         V("\x26\x00\x01\xff\x00\x01"
           "v"),
         MQTT_RC_MALFORMED},
        {"user property value nul", MQTT_CONNACK,
         V("\x26\x00\x01"
           "k"
           "\x00\x01\x00"),
         MQTT_RC_MALFORMED},
        {"reason string overlong", MQTT_DISCONNECT, V("\x1f\x00\x02\xc1\xbf"), MQTT_RC_MALFORMED},
        {"user property empty strings", MQTT_PUBACK, V("\x26\x00\x00\x00\x00"), MQTT_RC_SUCCESS},
        {"many user properties", MQTT_SUBACK,
         V("\x26\x00\x01"
           "a"
           "\x00\x00\x26\x00\x01"
           "a"
           "\x00\x00\x26\x00\x00\x00\x01"
           "b"),
         MQTT_RC_SUCCESS},
};

START_TEST(test_prop_rules) /* cases: rule_cases */
{
	const struct rule_case *c = &rule_cases[_i];
	struct bld props = {.n = 0}, bytes;
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;
	int n;

	put(&props, c->props, c->len);
	host(c->kind, &props, &bytes);
	n = decode5(&bytes, &pkt, &rc);
	if (c->rc == MQTT_RC_SUCCESS)
		ck_assert_msg(n == (int)bytes.n, "%s: %d 0x%02x", c->name, n, rc);
	else
		ck_assert_msg(n == -1 && rc == c->rc, "%s: %d 0x%02x", c->name, n, rc);
}
END_TEST

/* A property length past the packet, or not a varint, is malformed. */
START_TEST(test_prop_length_past_packet)
{
	static const uint8_t longer[] = {0x40, 0x05, 0x00, 0x01, 0x00, 0x04, 0x1F};
	static const uint8_t fifth[] = {0x40, 0x08, 0x00, 0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;

	ck_assert_int_eq(mqtt_decode(longer, sizeof(longer), 5, 0, &pkt, &rc), -1);
	ck_assert_int_eq(rc, MQTT_RC_MALFORMED);
	ck_assert_int_eq(mqtt_decode(fifth, sizeof(fifth), 5, 0, &pkt, &rc), -1);
	ck_assert_int_eq(rc, MQTT_RC_MALFORMED);
}
END_TEST

/* Up to MQTT_MAX_SUB_IDS subscription ids in a PUBLISH; more is refused, not overflowed. */
START_TEST(test_publish_sub_ids_limit)
{
	struct bld props = {.n = 0}, bytes;
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;
	int i;

	for (i = 0; i < MQTT_MAX_SUB_IDS; i++) {
		put_u8(&props, MQTT_PROP_SUBSCRIPTION_ID);
		put_u8(&props, (uint8_t)(i + 1));
	}
	host(MQTT_PUBLISH, &props, &bytes);
	ck_assert_int_eq(decode5(&bytes, &pkt, &rc), (int)bytes.n);
	ck_assert_uint_eq(pkt.u.publish.props.n_sub_ids, MQTT_MAX_SUB_IDS);
	ck_assert_uint_eq(pkt.u.publish.props.sub_ids[MQTT_MAX_SUB_IDS - 1], MQTT_MAX_SUB_IDS);
	put(&props, "\x0b\x7f", 2);
	host(MQTT_PUBLISH, &props, &bytes);
	ck_assert_int_eq(decode5(&bytes, &pkt, &rc), -1);
	ck_assert_int_eq(rc, MQTT_RC_PROTOCOL_ERROR);
}
END_TEST

/* A PUBLISH block mixing user properties with others, as received. */
static const char mixed[] = "\x01\x01"
                            "\x26\x00\x01"
                            "k"
                            "\x00\x01"
                            "v"
                            "\x02\x00\x00\x00\x3c"
                            "\x26\x00\x02"
                            "k2"
                            "\x00\x02"
                            "v2"
                            "\x0b\x03"
                            "\x23\x00\x02";

/* Decodes a PUBLISH holding `mixed`; static: the views in *pkt point into its bytes. */
static void
decode_mixed(struct mqtt_pkt *pkt)
{
	static struct bld bytes;
	struct bld props = {.n = 0};
	enum mqtt_rc rc;

	put(&props, mixed, sizeof(mixed) - 1);
	host(MQTT_PUBLISH, &props, &bytes);
	ck_assert_int_eq(decode5(&bytes, pkt, &rc), (int)bytes.n);
	ck_assert_uint_eq(pkt->u.publish.props.raw.len, sizeof(mixed) - 1);
	ck_assert_mem_eq(pkt->u.publish.props.raw.p, mixed, sizeof(mixed) - 1);
}

START_TEST(test_decode_mixed_fields)
{
	struct mqtt_pkt pkt;
	const struct mqtt_props *p = &pkt.u.publish.props;

	decode_mixed(&pkt);
	ck_assert_uint_eq(p->present,
	                  MQTT_PB(1) | MQTT_PB(2) | MQTT_PB(0x0B) | MQTT_PB(0x23) | MQTT_PB(0x26));
	ck_assert_uint_eq(p->n_user_props, 2);
	ck_assert_uint_eq(p->message_expiry, 60);
	ck_assert_uint_eq(p->topic_alias, 2);
	ck_assert_uint_eq(p->n_sub_ids, 1);
	ck_assert_uint_eq(p->sub_ids[0], 3);
	ck_assert_uint_eq(p->user_props.len, 0); /* encode only */
}
END_TEST

START_TEST(test_props_filter)
{
	struct mqtt_pkt pkt;
	uint8_t out[64];
	uint32_t n;

	decode_mixed(&pkt);
	n = mqtt_props_filter(pkt.u.publish.props.raw, MQTT_PB(MQTT_PROP_USER_PROPERTY), out);
	ck_assert_uint_eq(n, 7 + 9);
	ck_assert_mem_eq(out,
	                 "\x26\x00\x01"
	                 "k"
	                 "\x00\x01"
	                 "v"
	                 "\x26\x00\x02"
	                 "k2"
	                 "\x00\x02"
	                 "v2",
	                 n);
	n = mqtt_props_filter(pkt.u.publish.props.raw,
	                      MQTT_PB(MQTT_PROP_PAYLOAD_FORMAT) | MQTT_PB(MQTT_PROP_TOPIC_ALIAS),
	                      out);
	ck_assert_uint_eq(n, 5);
	ck_assert_mem_eq(out, "\x01\x01\x23\x00\x02", 5);
	ck_assert_uint_eq(mqtt_props_filter(pkt.u.publish.props.raw, 0, out), 0);
	n = mqtt_props_filter(pkt.u.publish.props.raw, ~0ull, out);
	ck_assert_uint_eq(n, sizeof(mixed) - 1);
	ck_assert_mem_eq(out, mixed, n);
}
END_TEST

/* Not a block mqtt_decode() accepted: the walk stops, copying only what came before. */
START_TEST(test_props_filter_garbage)
{
	static const uint8_t raw[] = {0x01, 0x01, 0x04, 0x00, 0x23, 0x00, 0x01};
	static const uint8_t cut[] = {0x01, 0x01, 0x03, 0x00, 0x09};
	uint8_t out[16];

	ck_assert_uint_eq(mqtt_props_filter(sl_bytes_make(raw, sizeof(raw)), ~0ull, out), 2);
	ck_assert_uint_eq(mqtt_props_filter(sl_bytes_make(cut, sizeof(cut)), ~0ull, out), 2);
	ck_assert_uint_eq(mqtt_props_filter(sl_bytes_make(NULL, 0), ~0ull, out), 0);
}
END_TEST

START_TEST(test_user_prop_next)
{
	struct mqtt_pkt pkt;
	struct sl_bytes cur, k, v;

	decode_mixed(&pkt);
	cur = pkt.u.publish.props.raw;
	ck_assert_int_eq(mqtt_user_prop_next(&cur, &k, &v), 1);
	ck_assert_uint_eq(k.len, 1);
	ck_assert_mem_eq(k.p, "k", 1);
	ck_assert_mem_eq(v.p, "v", 1);
	ck_assert_int_eq(mqtt_user_prop_next(&cur, &k, &v), 1);
	ck_assert_uint_eq(v.len, 2);
	ck_assert_mem_eq(k.p, "k2", 2);
	ck_assert_mem_eq(v.p, "v2", 2);
	ck_assert_int_eq(mqtt_user_prop_next(&cur, &k, &v), 0);
	ck_assert_int_eq(mqtt_user_prop_next(&cur, &k, &v), 0);
}
END_TEST

START_TEST(test_user_prop_next_garbage)
{
	static const uint8_t cut[] = {0x26, 0x00, 0x01, 'k', 0x00, 0x05, 'v'};
	static const uint8_t unknown[] = {0x05, 0x26, 0x00, 0x00, 0x00, 0x00};
	struct sl_bytes cur = sl_bytes_make(cut, sizeof(cut)), k, v;

	ck_assert_int_eq(mqtt_user_prop_next(&cur, &k, &v), 0);
	cur = sl_bytes_make(unknown, sizeof(unknown));
	ck_assert_int_eq(mqtt_user_prop_next(&cur, &k, &v), 0);
	ck_assert_uint_eq(cur.len, 0);
}
END_TEST

/* Encoding writes present properties in id order whatever order the fields were set in, then
 * user_props verbatim, then one 0x0B per sub id. */
START_TEST(test_props_encode_order)
{
	static const char want[] = "\x20\x16\x00\x00\x13"
	                           "\x12\x00\x02"
	                           "id"
	                           "\x24\x00"
	                           "\x27\x00\x00\x03\xe8"
	                           "\x26\x00\x01"
	                           "a"
	                           "\x00\x01"
	                           "b";
	struct mqtt_pkt pkt = {.type = MQTT_CONNACK};
	struct mqtt_props *p = &pkt.u.connack.props;
	struct sl_buf out = SL_BUF_INIT;

	p->present = MQTT_PB(MQTT_PROP_MAX_PACKET_SIZE) | MQTT_PB(MQTT_PROP_MAX_QOS) |
	             MQTT_PB(MQTT_PROP_ASSIGNED_CLIENT_ID);
	p->max_packet_size = 1000;
	p->max_qos = 0;
	p->assigned_client_id = sl_bytes_make("id", 2);
	p->user_props = sl_bytes_make("\x26\x00\x01"
	                              "a"
	                              "\x00\x01"
	                              "b",
	                              7);
	ck_assert_int_eq(mqtt_encode(&out, MQTT_V5, &pkt), 0);
	ck_assert_uint_eq(out.len, sizeof(want) - 1);
	ck_assert_mem_eq(out.data, want, out.len);
	sl_buf_fini(&out);
}
END_TEST

START_TEST(test_props_encode_sub_ids_last)
{
	static const char want[] = "\x30\x12\x00\x01"
	                           "t"
	                           "\x0d\x23\x00\x09\x26\x00\x00\x00\x00\x0b\x05\x0b\xac\x02"
	                           "p";
	struct mqtt_pkt pkt = {.type = MQTT_PUBLISH};
	struct mqtt_props *p = &pkt.u.publish.props;
	struct sl_buf out = SL_BUF_INIT;

	pkt.u.publish.topic = sl_bytes_make("t", 1);
	pkt.u.publish.payload = sl_bytes_make("p", 1);
	p->present = MQTT_PB(MQTT_PROP_TOPIC_ALIAS) | MQTT_PB(MQTT_PROP_SUBSCRIPTION_ID);
	p->topic_alias = 9;
	p->n_sub_ids = 2;
	p->sub_ids[0] = 5;
	p->sub_ids[1] = 300;
	p->user_props = sl_bytes_make("\x26\x00\x00\x00\x00", 5);
	ck_assert_int_eq(mqtt_encode(&out, MQTT_V5, &pkt), 0);
	ck_assert_uint_eq(out.len, sizeof(want) - 1);
	ck_assert_mem_eq(out.data, want, out.len);
	sl_buf_fini(&out);
}
END_TEST

/* Properties mqtt_decode() would refuse cannot be encoded; the buffer is left as it was. */
START_TEST(test_props_encode_invalid)
{
	struct mqtt_pkt pkt = {.type = MQTT_CONNACK};
	struct mqtt_props *p = &pkt.u.connack.props;
	struct sl_buf out = SL_BUF_INIT;

	sl_buf_append(&out, "xy", 2);
	p->present = MQTT_PB(4); /* no property 0x04 */
	ck_assert_int_eq(mqtt_encode(&out, MQTT_V5, &pkt), -EINVAL);
	p->present = MQTT_PB(63);
	ck_assert_int_eq(mqtt_encode(&out, MQTT_V5, &pkt), -EINVAL);
	p->present = MQTT_PB(MQTT_PROP_TOPIC_ALIAS); /* PUBLISH only */
	p->topic_alias = 1;
	ck_assert_int_eq(mqtt_encode(&out, MQTT_V5, &pkt), -EINVAL);
	p->present = MQTT_PB(MQTT_PROP_RECEIVE_MAX); /* 0 is a Protocol Error */
	ck_assert_int_eq(mqtt_encode(&out, MQTT_V5, &pkt), -EINVAL);
	p->present = MQTT_PB(MQTT_PROP_REASON_STRING);
	p->reason_string = sl_bytes_make("\xff", 1);
	ck_assert_int_eq(mqtt_encode(&out, MQTT_V5, &pkt), -EINVAL);
	p->present = 0;
	p->n_sub_ids = MQTT_MAX_SUB_IDS + 1;
	ck_assert_int_eq(mqtt_encode(&out, MQTT_V5, &pkt), -EINVAL);
	p->n_sub_ids = 0;
	p->user_props = sl_bytes_make("\x26\x00", 2); /* not a whole entry */
	ck_assert_int_eq(mqtt_encode(&out, MQTT_V5, &pkt), -EINVAL);
	ck_assert_uint_eq(out.len, 2);
	p->user_props.len = 0;
	ck_assert_int_eq(mqtt_encode(&out, MQTT_V5, &pkt), 0);
	ck_assert_mem_eq(out.data, "xy\x20\x03\x00\x00\x00", 7);
	sl_buf_fini(&out);
}
END_TEST

Suite *
mqtt_props_suite(void)
{
	Suite *s = suite_create("mqtt_props");
	TCase *tc = tcase_create("decode");

	tcase_add_loop_test(tc, test_prop_matrix_2_2_2_2, 0, N(samples) * 16);
	tcase_add_loop_test(tc, test_prop_twice_protocol_error, 0, N(samples));
	tcase_add_loop_test(tc, test_prop_bool_value, 0, N(samples));
	tcase_add_loop_test(tc, test_prop_rules, 0, N(rule_cases));
	tcase_add_test(tc, test_prop_length_past_packet);
	tcase_add_test(tc, test_publish_sub_ids_limit);
	tcase_add_test(tc, test_decode_mixed_fields);
	suite_add_tcase(s, tc);
	tc = tcase_create("walk");
	tcase_add_test(tc, test_props_filter);
	tcase_add_test(tc, test_props_filter_garbage);
	tcase_add_test(tc, test_user_prop_next);
	tcase_add_test(tc, test_user_prop_next_garbage);
	suite_add_tcase(s, tc);
	tc = tcase_create("encode");
	tcase_add_test(tc, test_props_encode_order);
	tcase_add_test(tc, test_props_encode_sub_ids_last);
	tcase_add_test(tc, test_props_encode_invalid);
	suite_add_tcase(s, tc);
	return s;
}
