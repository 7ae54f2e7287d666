/* Fuzz target for proto/mqtt.h. Byte 0 picks the connection's protocol level (bits 0-1: 0, 3, 4
 * or 5) and maximum packet size (bits 2-3: none, 16, 300, 4096); the rest is a byte stream decoded
 * packet by packet as a connection would, a CONNECT switching to its own level. Every packet that
 * decodes is encoded again (mqtt_encode(), and for PUBLISH the fast path) and must decode to the
 * same fields. abort() whenever a contract of proto/mqtt.h is broken. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mqtt.h"

static const uint8_t levels[4] = {0, MQTT_V31, MQTT_V311, MQTT_V5};
static const uint32_t maxes[4] = {0, 16, 300, 4096};

static void
check(int ok)
{
	if (!ok)
		abort(); /* a contract of proto/mqtt.h was broken */
}

static int
bytes_same(struct sl_bytes a, struct sl_bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Every view of a decoded packet lies inside the packet. */
static void
check_view(struct sl_bytes v, const uint8_t *p, size_t n)
{
	check(v.len == 0 || (v.p >= p && v.p + v.len <= p + n));
}

static int
props_same(const struct mqtt_props *a, const struct mqtt_props *b)
{
	return a->present == b->present && a->message_expiry == b->message_expiry &&
	       a->session_expiry == b->session_expiry && a->will_delay == b->will_delay &&
	       a->max_packet_size == b->max_packet_size && a->n_sub_ids == b->n_sub_ids &&
	       memcmp(a->sub_ids, b->sub_ids, sizeof(a->sub_ids)) == 0 &&
	       a->payload_format == b->payload_format &&
	       a->request_problem_info == b->request_problem_info &&
	       a->request_response_info == b->request_response_info && a->max_qos == b->max_qos &&
	       a->retain_available == b->retain_available &&
	       a->wildcard_available == b->wildcard_available &&
	       a->sub_id_available == b->sub_id_available &&
	       a->shared_available == b->shared_available &&
	       a->server_keep_alive == b->server_keep_alive && a->receive_max == b->receive_max &&
	       a->topic_alias_max == b->topic_alias_max && a->topic_alias == b->topic_alias &&
	       bytes_same(a->content_type, b->content_type) &&
	       bytes_same(a->response_topic, b->response_topic) &&
	       bytes_same(a->correlation_data, b->correlation_data) &&
	       bytes_same(a->assigned_client_id, b->assigned_client_id) &&
	       bytes_same(a->auth_method, b->auth_method) &&
	       bytes_same(a->auth_data, b->auth_data) &&
	       bytes_same(a->response_info, b->response_info) &&
	       bytes_same(a->server_reference, b->server_reference) &&
	       bytes_same(a->reason_string, b->reason_string) && a->n_user_props == b->n_user_props;
}

static int
connect_same(const struct mqtt_connect *a, const struct mqtt_connect *b)
{
	return a->version == b->version && a->clean_start == b->clean_start &&
	       a->will_flag == b->will_flag && a->will_qos == b->will_qos &&
	       a->will_retain == b->will_retain && a->has_username == b->has_username &&
	       a->has_password == b->has_password && a->keep_alive == b->keep_alive &&
	       bytes_same(a->client_id, b->client_id) && bytes_same(a->will_topic, b->will_topic) &&
	       bytes_same(a->will_payload, b->will_payload) &&
	       bytes_same(a->username, b->username) && bytes_same(a->password, b->password) &&
	       props_same(&a->props, &b->props) && props_same(&a->will_props, &b->will_props);
}

static int
pkt_same(const struct mqtt_pkt *a, const struct mqtt_pkt *b)
{
	const struct mqtt_publish *pa = &a->u.publish, *pb = &b->u.publish;
	const struct mqtt_suback *sa = &a->u.suback, *sb = &b->u.suback;

	if (a->type != b->type || a->flags != b->flags)
		return 0;
	switch (a->type) {
	case MQTT_CONNECT:
		return connect_same(&a->u.connect, &b->u.connect);
	case MQTT_CONNACK:
		return a->u.connack.session_present == b->u.connack.session_present &&
		       a->u.connack.rc == b->u.connack.rc &&
		       props_same(&a->u.connack.props, &b->u.connack.props);
	case MQTT_PUBLISH:
		return pa->packet_id == pb->packet_id && bytes_same(pa->topic, pb->topic) &&
		       bytes_same(pa->payload, pb->payload) && props_same(&pa->props, &pb->props);
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return a->u.subscribe.packet_id == b->u.subscribe.packet_id &&
		       a->u.subscribe.count == b->u.subscribe.count &&
		       bytes_same(a->u.subscribe.entries, b->u.subscribe.entries) &&
		       props_same(&a->u.subscribe.props, &b->u.subscribe.props);
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		return sa->packet_id == sb->packet_id && sa->count == sb->count &&
		       (sa->count == 0 || memcmp(sa->rcs, sb->rcs, sa->count) == 0) &&
		       props_same(&sa->props, &sb->props);
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		return a->u.reason.rc == b->u.reason.rc &&
		       props_same(&a->u.reason.props, &b->u.reason.props);
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
		return 1;
	default:
		return a->u.ack.packet_id == b->u.ack.packet_id && a->u.ack.rc == b->u.ack.rc &&
		       props_same(&a->u.ack.props, &b->u.ack.props);
	}
}

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
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return &pkt->u.subscribe.props;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		return &pkt->u.suback.props;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		return &pkt->u.reason.props;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
		return NULL;
	default:
		return &pkt->u.ack.props;
	}
}

/* The walkers agree with the decoder; user_props is filled for encoding (room: raw.len). */
static void
check_props(struct mqtt_props *p, uint8_t *room, const uint8_t *pkt, size_t n)
{
	struct sl_bytes cur = p->raw, k, v;
	uint32_t users = 0, len;

	check_view(p->raw, pkt, n);
	while (mqtt_user_prop_next(&cur, &k, &v) == 1) {
		check(mqtt_utf8_valid(k.p, k.len) && mqtt_utf8_valid(v.p, v.len));
		users++;
	}
	check(users == p->n_user_props);
	check((users > 0) == ((p->present & MQTT_PB(MQTT_PROP_USER_PROPERTY)) != 0));
	check((p->n_sub_ids > 0) == ((p->present & MQTT_PB(MQTT_PROP_SUBSCRIPTION_ID)) != 0));
	len = mqtt_props_filter(p->raw, ~0ull, room);
	check(len == p->raw.len && (len == 0 || memcmp(room, p->raw.p, len) == 0));
	len = mqtt_props_filter(p->raw, MQTT_PB(MQTT_PROP_USER_PROPERTY), room);
	p->user_props = sl_bytes_make(room, len);
}

/* Decodes out and compares it with pkt. */
static void
check_again(const uint8_t *out, size_t len, uint8_t version, const struct mqtt_pkt *pkt)
{
	struct mqtt_pkt back;
	enum mqtt_rc rc;

	check(mqtt_decode(out, len, version, 0, &back, &rc) == (int)len);
	check(pkt_same(pkt, &back));
}

/* The PUBLISH fast path, as the broker forwards a decoded message. */
static void
check_publish_hdr(const struct mqtt_pkt *pkt, uint8_t version)
{
	const struct mqtt_publish *p = &pkt->u.publish;
	uint64_t own = MQTT_PB(MQTT_PROP_MESSAGE_EXPIRY) | MQTT_PB(MQTT_PROP_TOPIC_ALIAS) |
	               MQTT_PB(MQTT_PROP_SUBSCRIPTION_ID);
	struct mqtt_pub_out o = {.version = version,
	                         .qos = p->qos,
	                         .dup = p->dup,
	                         .retain = p->retain,
	                         .packet_id = p->packet_id};
	uint8_t *buf = malloc(p->props.raw.len + 1);
	uint8_t *out;
	size_t hdr;

	check(buf != NULL);
	o.topic_alias = p->props.topic_alias;
	o.omit_topic = p->topic.len == 0;
	o.has_expiry = (p->props.present & MQTT_PB(MQTT_PROP_MESSAGE_EXPIRY)) != 0;
	o.expiry_left = p->props.message_expiry;
	o.n_sub_ids = p->props.n_sub_ids;
	o.sub_ids = p->props.sub_ids;
	o.topic = p->topic;
	o.props = sl_bytes_make(buf, mqtt_props_filter(p->props.raw, ~own, buf));
	o.payload_len = p->payload.len;
	hdr = mqtt_publish_hdr_len(&o);
	check(hdr > 0);
	out = malloc(hdr + p->payload.len + 1);
	check(out != NULL);
	check(mqtt_publish_hdr_write(out, &o) == hdr);
	if (p->payload.len > 0)
		memcpy(out + hdr, p->payload.p, p->payload.len);
	check_again(out, hdr + p->payload.len, version, pkt);
	free(out);
	free(buf);
}

/* A decoded packet: the contract on its views, then encode it again and decode that. */
static void
round_trip(struct mqtt_pkt *pkt, const uint8_t *p, size_t n, uint8_t version)
{
	struct mqtt_props *props = props_of(pkt);
	struct sl_buf out = SL_BUF_INIT;
	uint8_t *room = malloc(2 * n + 2);

	check(room != NULL);
	if (pkt->type == MQTT_CONNECT) {
		version = pkt->u.connect.version;
		check_props(&pkt->u.connect.will_props, room + n + 1, p, n);
	}
	if (props != NULL)
		check_props(props, room, p, n);
	if (pkt->type == MQTT_PUBLISH) {
		check_view(pkt->u.publish.topic, p, n);
		check_view(pkt->u.publish.payload, p, n);
		check_publish_hdr(pkt, version);
	}
	check(mqtt_encode(&out, version, pkt) == 0);
	check_again(out.data, out.len, version, pkt);
	sl_buf_fini(&out);
	free(room);
}

/* One decode step. Returns the bytes consumed, or 0 to stop. */
static size_t
step(const uint8_t *p, size_t left, uint8_t *version, uint32_t max)
{
	struct mqtt_pkt pkt, shorter;
	enum mqtt_rc rc;
	int n = mqtt_decode(p, left, *version, max, &pkt, &rc);

	if (n < 0) {
		check(n == -1);
		check(rc == MQTT_RC_MALFORMED || rc == MQTT_RC_PROTOCOL_ERROR ||
		      rc == MQTT_RC_PACKET_TOO_LARGE ||
		      (rc == MQTT_RC_UNSUPPORTED_VERSION && pkt.type == MQTT_CONNECT) ||
		      (rc == MQTT_RC_TOPIC_NAME_INVALID && pkt.type == MQTT_PUBLISH));
		return 0;
	}
	check(rc == MQTT_RC_SUCCESS);
	if (n == 0)
		return 0;
	check((size_t)n <= left && (max == 0 || (uint32_t)n <= max));
	check(pkt.type >= MQTT_CONNECT && pkt.type <= MQTT_AUTH);
	check(pkt.remaining_len + 1 + (uint32_t)mqtt_varint_len(pkt.remaining_len) <= (uint32_t)n);
	/* one byte short is always "need more" */
	check(mqtt_decode(p, (size_t)n - 1, *version, max, &shorter, &rc) == 0);
	round_trip(&pkt, p, (size_t)n, *version);
	if (pkt.type == MQTT_CONNECT)
		*version = pkt.u.connect.version; /* the connection now speaks this level */
	return (size_t)n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t version;
	uint32_t max;
	size_t off = 1, n;

	if (size < 1)
		return 0;
	version = levels[data[0] & 3];
	max = maxes[(data[0] >> 2) & 3];
	while (off < size && (n = step(data + off, size - off, &version, max)) > 0)
		off += n;
	return 0;
}
