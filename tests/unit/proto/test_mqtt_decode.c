/* Tests for proto/mqtt_decode.c: every packet type in 3.1.1 and 5.0 decoded field by field, the
 * fixed header, and incremental input split at every byte. The malformed packets are in
 * test_mqtt_malformed.c. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mqtt.h"

#define PKT(s) (const uint8_t *)(s), sizeof(s) - 1
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

#include "vectors.h"

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

static const struct valid_vec *
vec(const char *name)
{
	int i;

	for (i = 0; i < n_valid_vecs; i++)
		if (strcmp(valid_vecs[i].name, name) == 0)
			return &valid_vecs[i];
	ck_abort_msg("no vector '%s'", name);
	return NULL;
}

/* Decodes the named valid vector into *pkt; the views point into the static table. */
static void
decode_ok(const char *name, struct mqtt_pkt *pkt)
{
	const struct valid_vec *v = vec(name);
	enum mqtt_rc rc = MQTT_RC_UNSPECIFIED;
	int n = mqtt_decode(v->in, v->len, v->version, 0, pkt, &rc);

	ck_assert_msg(n == (int)v->len, "%s: consumed %d of %zu, rc 0x%02x", name, n, v->len, rc);
	ck_assert_int_eq(rc, MQTT_RC_SUCCESS);
}

static void
ck_bytes(struct sl_bytes b, const char *want)
{
	ck_assert_uint_eq(b.len, strlen(want));
	ck_assert_msg(b.len == 0 || memcmp(b.p, want, b.len) == 0, "'%.*s' != '%s'", (int)b.len,
	              (const char *)b.p, want);
}

START_TEST(test_valid_vectors) /* cases: valid_vecs, each consumed whole from an exact buffer */
{
	const struct valid_vec *v = &valid_vecs[_i];
	uint8_t *buf = exact_copy(v->in, v->len);
	struct mqtt_pkt pkt;
	enum mqtt_rc rc = MQTT_RC_UNSPECIFIED;
	int n = mqtt_decode(buf, v->len, v->version, 0, &pkt, &rc);

	ck_assert_msg(n == (int)v->len, "%s: returned %d, rc 0x%02x (%s)", v->name, n, rc,
	              mqtt_rc_str(rc));
	ck_assert_int_eq(rc, MQTT_RC_SUCCESS);
	ck_assert_int_eq(pkt.type, v->in[0] >> 4);
	ck_assert_uint_eq(pkt.flags, v->in[0] & 0x0F);
	ck_assert_uint_eq(pkt.remaining_len, v->len - 1 - (pkt.remaining_len < 128 ? 1 : 2));
	free(buf);
}
END_TEST

/* Fed one more byte at a time, a valid packet decodes only once its last byte is there. */
START_TEST(test_split_read) /* cases: valid_vecs */
{
	const struct valid_vec *v = &valid_vecs[_i];
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;
	size_t k;
	int n;

	for (k = 0; k <= v->len; k++) {
		uint8_t *buf = exact_copy(v->in, k);

		n = mqtt_decode(buf, k, v->version, 0, &pkt, &rc);
		ck_assert_msg(n == (k == v->len ? (int)v->len : 0), "%s: prefix %zu returned %d",
		              v->name, k, n);
		free(buf);
	}
}
END_TEST

/* Several packets in one buffer come out one per call, in order. */
START_TEST(test_many_in_one_buffer)
{
	static const char *names[] = {"v311 pingreq", "v311 publish qos1 dup retain",
	                              "v311 subscribe", "v311 puback", "v311 disconnect"};
	uint8_t buf[256];
	size_t len = 0, off = 0;
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;
	int i, n;

	for (i = 0; i < N(names); i++) {
		memcpy(buf + len, vec(names[i])->in, vec(names[i])->len);
		len += vec(names[i])->len;
	}
	for (i = 0; i < N(names); i++) {
		n = mqtt_decode(buf + off, len - off, MQTT_V311, 0, &pkt, &rc);
		ck_assert_int_eq(n, (int)vec(names[i])->len);
		ck_assert_int_eq(pkt.type, vec(names[i])->in[0] >> 4);
		off += (size_t)n;
	}
	ck_assert_uint_eq(off, len);
	ck_assert_int_eq(mqtt_decode(buf + off, 0, MQTT_V311, 0, &pkt, &rc), 0);
}
END_TEST

/* The limit counts the whole packet: fixed header included. */
START_TEST(test_max_packet_size_exact)
{
	const struct valid_vec *v = vec("v311 publish qos0"); /* 9 bytes */
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;

	ck_assert_int_eq(mqtt_decode(v->in, v->len, 4, (uint32_t)v->len, &pkt, &rc), (int)v->len);
	ck_assert_int_eq(mqtt_decode(v->in, v->len, 4, (uint32_t)v->len - 1, &pkt, &rc), -1);
	ck_assert_int_eq(rc, MQTT_RC_PACKET_TOO_LARGE);
	/* refused on the two header bytes alone, without waiting for the body */
	ck_assert_int_eq(mqtt_decode(v->in, 2, 4, (uint32_t)v->len - 1, &pkt, &rc), -1);
	ck_assert_int_eq(rc, MQTT_RC_PACKET_TOO_LARGE);
	ck_assert_int_eq(mqtt_decode(v->in, 1, 4, (uint32_t)v->len - 1, &pkt, &rc), 0);
}
END_TEST

/* The largest remaining length: a header is enough to size it; 5 + 268435455 bytes in all. */
START_TEST(test_remaining_length_max)
{
	static const uint8_t hdr[] = {0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01, 'a'};
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;

	ck_assert_int_eq(mqtt_decode(hdr, sizeof(hdr), 4, 0, &pkt, &rc), 0);
	ck_assert_int_eq(mqtt_decode(hdr, sizeof(hdr), 4, 268435460u, &pkt, &rc), 0);
	ck_assert_int_eq(mqtt_decode(hdr, sizeof(hdr), 4, 268435459u, &pkt, &rc), -1);
	ck_assert_int_eq(rc, MQTT_RC_PACKET_TOO_LARGE);
}
END_TEST

/* [MQTT-3.1.2-2] the broker answers in the client's format: the level is filled on refusal. */
START_TEST(test_connect_unsupported_level_mqtt_3_1_2_2)
{
	static const uint8_t in[] = {0x10, 0x0D, 0x00, 0x04, 'M',  'Q',  'T', 'T',
	                             0x06, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00};
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;

	ck_assert_int_eq(mqtt_decode(in, sizeof(in), 0, 0, &pkt, &rc), -1);
	ck_assert_int_eq(rc, MQTT_RC_UNSUPPORTED_VERSION);
	ck_assert_int_eq(pkt.type, MQTT_CONNECT);
	ck_assert_uint_eq(pkt.u.connect.version, 6);
}
END_TEST

/* A CONNECT carries its own level, whatever the connection's. */
START_TEST(test_connect_own_level)
{
	const struct valid_vec *v = vec("v5 connect minimal");
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;

	ck_assert_int_eq(mqtt_decode(v->in, v->len, MQTT_V311, 0, &pkt, &rc), (int)v->len);
	ck_assert_uint_eq(pkt.u.connect.version, MQTT_V5);
	v = vec("v311 connect minimal");
	ck_assert_int_eq(mqtt_decode(v->in, v->len, MQTT_V5, 0, &pkt, &rc), (int)v->len);
	ck_assert_uint_eq(pkt.u.connect.version, MQTT_V311);
}
END_TEST

START_TEST(test_connect_v311_full)
{
	struct mqtt_pkt pkt;
	const struct mqtt_connect *c = &pkt.u.connect;

	decode_ok("v311 connect full", &pkt);
	ck_assert_int_eq(pkt.type, MQTT_CONNECT);
	ck_assert_uint_eq(c->version, MQTT_V311);
	ck_assert(c->clean_start && c->will_flag && c->will_retain);
	ck_assert(c->has_username && c->has_password);
	ck_assert_uint_eq(c->will_qos, 1);
	ck_assert_uint_eq(c->keep_alive, 60);
	ck_bytes(c->client_id, "c1");
	ck_bytes(c->will_topic, "w/t");
	ck_bytes(c->will_payload, "bye");
	ck_bytes(c->username, "u");
	ck_bytes(c->password, "p");
	ck_assert_uint_eq(c->props.present, 0);
}
END_TEST

START_TEST(test_connect_v311_minimal)
{
	struct mqtt_pkt pkt;
	const struct mqtt_connect *c = &pkt.u.connect;

	decode_ok("v311 connect minimal", &pkt);
	ck_assert(c->clean_start && !c->will_flag && !c->has_username && !c->has_password);
	ck_assert_uint_eq(c->client_id.len, 0); /* empty client id: the broker decides */
	ck_assert_uint_eq(c->will_topic.len, 0);
}
END_TEST

START_TEST(test_connect_v31)
{
	struct mqtt_pkt pkt;

	decode_ok("v31 connect", &pkt);
	ck_assert_uint_eq(pkt.u.connect.version, MQTT_V31);
	ck_assert_uint_eq(pkt.u.connect.keep_alive, 10);
	ck_bytes(pkt.u.connect.client_id, "abc");
}
END_TEST

START_TEST(test_connect_v5_full)
{
	struct mqtt_pkt pkt;
	const struct mqtt_connect *c = &pkt.u.connect;
	const struct mqtt_props *w = &c->will_props;

	decode_ok("v5 connect full", &pkt);
	ck_assert_uint_eq(c->version, MQTT_V5);
	ck_assert(c->clean_start && c->will_flag && !c->will_retain);
	ck_assert(c->has_username && c->has_password);
	ck_assert_uint_eq(c->will_qos, 1);
	ck_assert_uint_eq(c->props.present, MQTT_PB(MQTT_PROP_SESSION_EXPIRY) |
	                                            MQTT_PB(MQTT_PROP_RECEIVE_MAX) |
	                                            MQTT_PB(MQTT_PROP_TOPIC_ALIAS_MAX) |
	                                            MQTT_PB(MQTT_PROP_MAX_PACKET_SIZE) |
	                                            MQTT_PB(MQTT_PROP_USER_PROPERTY));
	ck_assert_uint_eq(c->props.session_expiry, 120);
	ck_assert_uint_eq(c->props.receive_max, 10);
	ck_assert_uint_eq(c->props.topic_alias_max, 5);
	ck_assert_uint_eq(c->props.max_packet_size, 1024);
	ck_assert_uint_eq(c->props.n_user_props, 1);
	ck_bytes(c->client_id, "c1");
	ck_assert_uint_eq(w->payload_format, 1);
	ck_assert_uint_eq(w->message_expiry, 30);
	ck_bytes(w->content_type, "text/plain");
	ck_bytes(w->response_topic, "r/t");
	ck_bytes(w->correlation_data, "cd");
	ck_assert_uint_eq(w->will_delay, 5);
	ck_assert_uint_eq(w->raw.len, 36);
	ck_bytes(c->will_topic, "w");
	ck_bytes(c->will_payload, "x");
	ck_bytes(c->username, "u");
	ck_bytes(c->password, "pw");
}
END_TEST

/* 3.1.2.9: v5 allows a password without a user name. */
START_TEST(test_connect_v5_password_only)
{
	struct mqtt_pkt pkt;

	decode_ok("v5 connect password only", &pkt);
	ck_assert(!pkt.u.connect.has_username && pkt.u.connect.has_password);
	ck_bytes(pkt.u.connect.password, "pw");
	ck_assert(!pkt.u.connect.clean_start);
}
END_TEST

START_TEST(test_connect_v5_auth)
{
	struct mqtt_pkt pkt;
	const struct mqtt_props *p = &pkt.u.connect.props;

	decode_ok("v5 connect auth", &pkt);
	ck_bytes(p->auth_method, "SCRAM");
	ck_bytes(p->auth_data, "d");
	ck_assert_uint_eq(p->request_problem_info, 0);
	ck_assert_uint_eq(p->request_response_info, 1);
	ck_assert(p->present & MQTT_PB(MQTT_PROP_REQUEST_PROBLEM_INFO));
}
END_TEST

START_TEST(test_connack_v311)
{
	struct mqtt_pkt pkt;

	decode_ok("v311 connack", &pkt);
	ck_assert(pkt.u.connack.session_present);
	ck_assert_uint_eq(pkt.u.connack.rc, MQTT_V3_ACCEPTED);
	decode_ok("v311 connack refused", &pkt);
	ck_assert(!pkt.u.connack.session_present);
	ck_assert_uint_eq(pkt.u.connack.rc, MQTT_V3_NOT_AUTHORIZED);
}
END_TEST

START_TEST(test_connack_v5)
{
	struct mqtt_pkt pkt;
	const struct mqtt_props *p = &pkt.u.connack.props;

	decode_ok("v5 connack", &pkt);
	ck_assert(!pkt.u.connack.session_present);
	ck_assert_uint_eq(pkt.u.connack.rc, 0);
	ck_assert_uint_eq(p->session_expiry, 0);
	ck_bytes(p->assigned_client_id, "id");
	ck_assert_uint_eq(p->server_keep_alive, 30);
	ck_bytes(p->response_info, "ri");
	ck_bytes(p->server_reference, "srv");
	ck_bytes(p->reason_string, "ok");
	ck_assert_uint_eq(p->receive_max, 20);
	ck_assert_uint_eq(p->topic_alias_max, 8);
	ck_assert_uint_eq(p->max_qos, 1);
	ck_assert_uint_eq(p->retain_available, 0);
	ck_assert_uint_eq(p->max_packet_size, 65536);
	ck_assert_uint_eq(p->wildcard_available, 1);
	ck_assert_uint_eq(p->sub_id_available, 0);
	ck_assert_uint_eq(p->shared_available, 1);
	ck_assert(p->present & MQTT_PB(MQTT_PROP_RETAIN_AVAILABLE)); /* present even when 0 */
	decode_ok("v5 connack refused", &pkt);
	ck_assert_uint_eq(pkt.u.connack.rc, MQTT_RC_NOT_AUTHORIZED);
}
END_TEST

START_TEST(test_publish_v311)
{
	struct mqtt_pkt pkt;
	const struct mqtt_publish *p = &pkt.u.publish;

	decode_ok("v311 publish qos0", &pkt);
	ck_assert_uint_eq(p->qos, 0);
	ck_assert(!p->dup && !p->retain);
	ck_assert_uint_eq(p->packet_id, 0);
	ck_bytes(p->topic, "a/b");
	ck_bytes(p->payload, "hi");
	decode_ok("v311 publish qos1 dup retain", &pkt);
	ck_assert_uint_eq(p->qos, 1);
	ck_assert(p->dup && p->retain);
	ck_assert_uint_eq(p->packet_id, 7);
	ck_bytes(p->payload, "x");
	decode_ok("v311 publish qos2 empty payload", &pkt);
	ck_assert_uint_eq(p->qos, 2);
	ck_assert_uint_eq(p->packet_id, 65535);
	ck_assert_uint_eq(p->payload.len, 0);
}
END_TEST

START_TEST(test_publish_v5_props)
{
	struct mqtt_pkt pkt;
	const struct mqtt_publish *p = &pkt.u.publish;

	decode_ok("v5 publish qos1 props", &pkt);
	ck_assert_uint_eq(p->qos, 1);
	ck_assert_uint_eq(p->packet_id, 5);
	ck_bytes(p->topic, "t/1");
	ck_bytes(p->payload, "hello");
	ck_assert_uint_eq(p->props.payload_format, 1);
	ck_assert_uint_eq(p->props.message_expiry, 60);
	ck_assert_uint_eq(p->props.topic_alias, 2);
	ck_assert_uint_eq(p->props.n_user_props, 1);
	ck_assert_uint_eq(p->props.n_sub_ids, 1);
	ck_assert_uint_eq(p->props.sub_ids[0], 3);
	ck_assert_uint_eq(p->props.raw.len, 19);
	decode_ok("v5 publish response", &pkt);
	ck_assert(p->retain);
	ck_bytes(p->props.content_type, "json");
	ck_bytes(p->props.response_topic, "resp/1");
	ck_assert_uint_eq(p->props.correlation_data.len, 2);
	ck_assert_uint_eq(p->props.correlation_data.p[1], 1);
}
END_TEST

/* 3.3.2.1: an empty topic name is allowed with a Topic Alias. */
START_TEST(test_publish_v5_alias_only)
{
	struct mqtt_pkt pkt;

	decode_ok("v5 publish alias only", &pkt);
	ck_assert_uint_eq(pkt.u.publish.topic.len, 0);
	ck_assert_uint_eq(pkt.u.publish.props.topic_alias, 1);
	ck_bytes(pkt.u.publish.payload, "p");
}
END_TEST

/* 3.3.2.3.8: a PUBLISH from the server may carry several subscription identifiers. */
START_TEST(test_publish_v5_sub_ids)
{
	struct mqtt_pkt pkt;

	decode_ok("v5 publish sub ids", &pkt);
	ck_assert_uint_eq(pkt.u.publish.props.n_sub_ids, 2);
	ck_assert_uint_eq(pkt.u.publish.props.sub_ids[0], 1);
	ck_assert_uint_eq(pkt.u.publish.props.sub_ids[1], MQTT_MAX_VARINT);
	ck_assert_uint_eq(pkt.u.publish.payload.len, 0);
}
END_TEST

START_TEST(test_acks_v311)
{
	static const char *names[] = {"v311 puback", "v311 pubrec", "v311 pubrel", "v311 pubcomp"};
	struct mqtt_pkt pkt;
	int i;

	for (i = 0; i < N(names); i++) {
		decode_ok(names[i], &pkt);
		ck_assert_int_eq(pkt.type, MQTT_PUBACK + i);
		ck_assert_uint_eq(pkt.u.ack.packet_id, 7);
		ck_assert_uint_eq(pkt.u.ack.rc, 0);
	}
}
END_TEST

START_TEST(test_acks_v5)
{
	struct mqtt_pkt pkt;

	decode_ok("v5 puback short", &pkt); /* 3.4.2.1: Remaining Length 2 means success */
	ck_assert_uint_eq(pkt.u.ack.packet_id, 1);
	ck_assert_uint_eq(pkt.u.ack.rc, MQTT_RC_SUCCESS);
	ck_assert_uint_eq(pkt.u.ack.props.present, 0);
	decode_ok("v5 puback rc", &pkt);
	ck_assert_uint_eq(pkt.u.ack.rc, MQTT_RC_NO_MATCHING_SUBSCRIBERS);
	decode_ok("v5 pubrec props", &pkt);
	ck_assert_int_eq(pkt.type, MQTT_PUBREC);
	ck_assert_uint_eq(pkt.u.ack.rc, MQTT_RC_UNSPECIFIED);
	ck_bytes(pkt.u.ack.props.reason_string, "bad");
	ck_assert_uint_eq(pkt.u.ack.props.n_user_props, 1);
	decode_ok("v5 pubrel rc", &pkt);
	ck_assert_int_eq(pkt.type, MQTT_PUBREL);
	ck_assert_uint_eq(pkt.u.ack.rc, MQTT_RC_PACKET_ID_NOT_FOUND);
	decode_ok("v5 pubcomp", &pkt);
	ck_assert_int_eq(pkt.type, MQTT_PUBCOMP);
}
END_TEST

START_TEST(test_subscribe_v311)
{
	struct mqtt_pkt pkt;
	struct sl_bytes cur, f;
	uint8_t o;

	decode_ok("v311 subscribe", &pkt);
	ck_assert_uint_eq(pkt.u.subscribe.packet_id, 10);
	ck_assert_uint_eq(pkt.u.subscribe.count, 2);
	cur = pkt.u.subscribe.entries;
	ck_assert_int_eq(mqtt_sub_next(&cur, &f, &o), 1);
	ck_bytes(f, "a/+"); /* wildcards are the broker's business */
	ck_assert_uint_eq(o, 1);
	ck_assert_int_eq(mqtt_sub_next(&cur, &f, &o), 1);
	ck_bytes(f, "#");
	ck_assert_uint_eq(o, 2);
	ck_assert_int_eq(mqtt_sub_next(&cur, &f, &o), 0);
}
END_TEST

START_TEST(test_subscribe_v5)
{
	struct mqtt_pkt pkt;
	struct sl_bytes cur, f;
	uint8_t o;

	decode_ok("v5 subscribe", &pkt);
	ck_assert_uint_eq(pkt.u.subscribe.count, 2);
	ck_assert_uint_eq(pkt.u.subscribe.props.n_sub_ids, 1);
	ck_assert_uint_eq(pkt.u.subscribe.props.sub_ids[0], 7);
	cur = pkt.u.subscribe.entries;
	ck_assert_int_eq(mqtt_sub_next(&cur, &f, &o), 1);
	ck_bytes(f, "a/b");
	ck_assert_uint_eq(MQTT_SUBOPT_QOS(o), 1);
	ck_assert(o & MQTT_SUBOPT_NO_LOCAL);
	ck_assert(o & MQTT_SUBOPT_RAP);
	ck_assert_uint_eq(MQTT_SUBOPT_RH(o), 2);
	ck_assert_int_eq(mqtt_sub_next(&cur, &f, &o), 1);
	ck_bytes(f, "$share/g/c");
	ck_assert_uint_eq(MQTT_SUBOPT_QOS(o), 2);
	ck_assert_uint_eq(MQTT_SUBOPT_RH(o), 1);
	ck_assert_int_eq(mqtt_sub_next(&cur, &f, &o), 0);
}
END_TEST

START_TEST(test_subscribe_v31)
{
	struct mqtt_pkt pkt;

	decode_ok("v31 subscribe", &pkt);
	ck_assert_uint_eq(pkt.u.subscribe.count, 1);
	ck_assert_uint_eq(pkt.u.subscribe.packet_id, 1);
}
END_TEST

START_TEST(test_unsubscribe)
{
	struct mqtt_pkt pkt;
	struct sl_bytes cur, f;

	decode_ok("v311 unsubscribe", &pkt);
	ck_assert_int_eq(pkt.type, MQTT_UNSUBSCRIBE);
	ck_assert_uint_eq(pkt.u.subscribe.packet_id, 11);
	ck_assert_uint_eq(pkt.u.subscribe.count, 2);
	cur = pkt.u.subscribe.entries;
	ck_assert_int_eq(mqtt_unsub_next(&cur, &f), 1);
	ck_bytes(f, "a/+");
	ck_assert_int_eq(mqtt_unsub_next(&cur, &f), 1);
	ck_bytes(f, "b");
	ck_assert_int_eq(mqtt_unsub_next(&cur, &f), 0);
	decode_ok("v5 unsubscribe", &pkt);
	ck_assert_uint_eq(pkt.u.subscribe.count, 1);
	ck_assert_uint_eq(pkt.u.subscribe.props.n_user_props, 1);
	cur = pkt.u.subscribe.entries;
	ck_assert_int_eq(mqtt_unsub_next(&cur, &f), 1);
	ck_bytes(f, "a/b");
}
END_TEST

START_TEST(test_suback)
{
	struct mqtt_pkt pkt;

	decode_ok("v311 suback", &pkt);
	ck_assert_uint_eq(pkt.u.suback.packet_id, 10);
	ck_assert_uint_eq(pkt.u.suback.count, 2);
	ck_assert_uint_eq(pkt.u.suback.rcs[0], MQTT_RC_GRANTED_QOS1);
	ck_assert_uint_eq(pkt.u.suback.rcs[1], 0x80);
	decode_ok("v5 suback", &pkt);
	ck_assert_uint_eq(pkt.u.suback.count, 2);
	ck_assert_uint_eq(pkt.u.suback.rcs[1], MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED);
}
END_TEST

START_TEST(test_unsuback)
{
	struct mqtt_pkt pkt;

	decode_ok("v311 unsuback", &pkt); /* 3.11.3 (3.1.1): no payload */
	ck_assert_int_eq(pkt.type, MQTT_UNSUBACK);
	ck_assert_uint_eq(pkt.u.suback.packet_id, 11);
	ck_assert_uint_eq(pkt.u.suback.count, 0);
	decode_ok("v5 unsuback", &pkt);
	ck_assert_uint_eq(pkt.u.suback.count, 1);
	ck_assert_uint_eq(pkt.u.suback.rcs[0], MQTT_RC_NO_SUBSCRIPTION_EXISTED);
}
END_TEST

START_TEST(test_ping_and_disconnect_v311)
{
	struct mqtt_pkt pkt;

	decode_ok("v311 pingreq", &pkt);
	ck_assert_int_eq(pkt.type, MQTT_PINGREQ);
	ck_assert_uint_eq(pkt.remaining_len, 0);
	decode_ok("v311 pingresp", &pkt);
	ck_assert_int_eq(pkt.type, MQTT_PINGRESP);
	decode_ok("v311 disconnect", &pkt);
	ck_assert_int_eq(pkt.type, MQTT_DISCONNECT);
	ck_assert_uint_eq(pkt.u.reason.rc, 0);
}
END_TEST

START_TEST(test_disconnect_v5)
{
	struct mqtt_pkt pkt;

	decode_ok("v5 disconnect short", &pkt); /* 3.14.2.1: Remaining Length 0 is normal */
	ck_assert_uint_eq(pkt.u.reason.rc, MQTT_RC_SUCCESS);
	decode_ok("v5 disconnect rc", &pkt); /* 3.14.2.2.1: no Property Length under 2 */
	ck_assert_uint_eq(pkt.u.reason.rc, MQTT_RC_DISCONNECT_WITH_WILL);
	ck_assert_uint_eq(pkt.u.reason.props.present, 0);
	decode_ok("v5 disconnect props", &pkt);
	ck_assert_uint_eq(pkt.u.reason.rc, MQTT_RC_SHUTTING_DOWN);
	ck_assert(pkt.u.reason.props.present & MQTT_PB(MQTT_PROP_SESSION_EXPIRY));
	ck_bytes(pkt.u.reason.props.server_reference, "srv");
	ck_bytes(pkt.u.reason.props.reason_string, "bye");
}
END_TEST

START_TEST(test_auth_v5)
{
	struct mqtt_pkt pkt;

	decode_ok("v5 auth short", &pkt);
	ck_assert_int_eq(pkt.type, MQTT_AUTH);
	ck_assert_uint_eq(pkt.u.reason.rc, MQTT_RC_SUCCESS);
	decode_ok("v5 auth continue", &pkt);
	ck_assert_uint_eq(pkt.u.reason.rc, MQTT_RC_CONTINUE_AUTH);
	ck_bytes(pkt.u.reason.props.auth_method, "SCRAM");
	ck_bytes(pkt.u.reason.props.auth_data, "x");
}
END_TEST

Suite *
mqtt_decode_suite(void)
{
	Suite *s = suite_create("mqtt_decode");
	TCase *tc = tcase_create("vectors");

	tcase_add_loop_test(tc, test_valid_vectors, 0, n_valid_vecs);
	tcase_add_loop_test(tc, test_split_read, 0, n_valid_vecs);
	tcase_add_test(tc, test_many_in_one_buffer);
	tcase_add_test(tc, test_max_packet_size_exact);
	tcase_add_test(tc, test_remaining_length_max);
	suite_add_tcase(s, tc);
	tc = tcase_create("fields");
	tcase_add_test(tc, test_connect_unsupported_level_mqtt_3_1_2_2);
	tcase_add_test(tc, test_connect_own_level);
	tcase_add_test(tc, test_connect_v311_full);
	tcase_add_test(tc, test_connect_v311_minimal);
	tcase_add_test(tc, test_connect_v31);
	tcase_add_test(tc, test_connect_v5_full);
	tcase_add_test(tc, test_connect_v5_password_only);
	tcase_add_test(tc, test_connect_v5_auth);
	tcase_add_test(tc, test_connack_v311);
	tcase_add_test(tc, test_connack_v5);
	tcase_add_test(tc, test_publish_v311);
	tcase_add_test(tc, test_publish_v5_props);
	tcase_add_test(tc, test_publish_v5_alias_only);
	tcase_add_test(tc, test_publish_v5_sub_ids);
	tcase_add_test(tc, test_acks_v311);
	tcase_add_test(tc, test_acks_v5);
	tcase_add_test(tc, test_subscribe_v311);
	tcase_add_test(tc, test_subscribe_v5);
	tcase_add_test(tc, test_subscribe_v31);
	tcase_add_test(tc, test_unsubscribe);
	tcase_add_test(tc, test_suback);
	tcase_add_test(tc, test_unsuback);
	tcase_add_test(tc, test_ping_and_disconnect_v311);
	tcase_add_test(tc, test_disconnect_v5);
	tcase_add_test(tc, test_auth_v5);
	suite_add_tcase(s, tc);
	return s;
}
