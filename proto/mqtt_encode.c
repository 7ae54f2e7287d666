/* proto/mqtt_encode.c - packets to bytes: mqtt_encode() for every packet type, and the PUBLISH
 * fast path that writes only what precedes a shared payload. */
#include "mqtt.h"

#include <errno.h>
#include <string.h>

#include "base/sl_err.h"
#include "mqtt_int.h"

static void
connect_encode(struct wr *w, uint8_t version, const struct mqtt_connect *c)
{
	struct sl_bytes name =
	        version == MQTT_V31 ? sl_bytes_make("MQIsdp", 6) : sl_bytes_make("MQTT", 4);
	bool v5 = version == MQTT_V5;

	if (c->will_qos > 3 && w->err == 0)
		w->err = -EINVAL; /* would spill into the Will Retain bit */
	w_bin(w, name);
	w_u8(w, version);
	w_u8(w, (uint8_t)(c->clean_start << 1 | c->will_flag << 2 | (c->will_qos & 3) << 3 |
	                  c->will_retain << 5 | c->has_password << 6 | c->has_username << 7));
	w_u16(w, c->keep_alive);
	if (v5)
		mqtt_int_props_write(w, &c->props);
	w_bin(w, c->client_id);
	if (c->will_flag) {
		if (v5)
			mqtt_int_props_write(w, &c->will_props);
		w_bin(w, c->will_topic);
		w_bin(w, c->will_payload);
	}
	if (c->has_username)
		w_bin(w, c->username);
	if (c->has_password)
		w_bin(w, c->password);
}

static void
publish_encode(struct wr *w, bool v5, const struct mqtt_publish *p)
{
	w_bin(w, p->topic);
	if (p->qos > 0)
		w_u16(w, p->packet_id);
	if (v5)
		mqtt_int_props_write(w, &p->props);
	w_bytes(w, p->payload.p, p->payload.len);
}

/* The tail shared by the v5 acks, DISCONNECT and AUTH: a reason code then properties, both
 * omitted in the short form (3.4.2.1, 3.14.2.1, 3.15.2.1) and the properties alone omitted when
 * empty (3.4.2.2.1, 3.14.2.2.1). */
static void
reason_encode(struct wr *w, uint8_t rc, const struct mqtt_props *props)
{
	bool empty = mqtt_int_props_empty(props);

	if (rc == 0 && empty)
		return;
	w_u8(w, rc);
	if (!empty)
		mqtt_int_props_write(w, props);
}

/* SUBACK and UNSUBACK: 3.1.1 UNSUBACK is the packet id alone (3.11.3). */
static void
suback_encode(struct wr *w, bool v5, enum mqtt_type type, const struct mqtt_suback *s)
{
	w_u16(w, s->packet_id);
	if (!v5 && type == MQTT_UNSUBACK)
		return;
	if (v5)
		mqtt_int_props_write(w, &s->props);
	w_bytes(w, s->rcs, s->count);
}

static void
body_encode(struct wr *w, uint8_t version, const struct mqtt_pkt *pkt)
{
	bool v5 = version == MQTT_V5;

	switch (pkt->type) {
	case MQTT_CONNECT:
		connect_encode(w, version, &pkt->u.connect);
		break;
	case MQTT_CONNACK:
		w_u8(w, pkt->u.connack.session_present);
		w_u8(w, pkt->u.connack.rc);
		if (v5)
			mqtt_int_props_write(w, &pkt->u.connack.props);
		break;
	case MQTT_PUBLISH:
		publish_encode(w, v5, &pkt->u.publish);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		w_u16(w, pkt->u.ack.packet_id);
		if (v5)
			reason_encode(w, pkt->u.ack.rc, &pkt->u.ack.props);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		w_u16(w, pkt->u.subscribe.packet_id);
		if (v5)
			mqtt_int_props_write(w, &pkt->u.subscribe.props);
		w_bytes(w, pkt->u.subscribe.entries.p, pkt->u.subscribe.entries.len);
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		suback_encode(w, v5, pkt->type, &pkt->u.suback);
		break;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
		break;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		if (v5)
			reason_encode(w, pkt->u.reason.rc, &pkt->u.reason.props);
		break;
	}
}

/* Byte 1 of the fixed header; -1 when pkt has no encoding. */
static int
first_byte(const struct mqtt_pkt *pkt)
{
	const struct mqtt_publish *p = &pkt->u.publish;

	if (pkt->type < MQTT_CONNECT || pkt->type > MQTT_AUTH)
		return -1;
	switch (pkt->type) {
	case MQTT_PUBLISH:
		if (p->qos > 2)
			return -1; /* [MQTT-3.3.1-4] */
		return MQTT_PUBLISH << 4 | p->dup << 3 | p->qos << 1 | p->retain;
	case MQTT_PUBREL:
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return pkt->type << 4 | 0x02; /* [MQTT-2.2.2-1] */
	default:
		return pkt->type << 4;
	}
}

int
mqtt_encode(struct sl_buf *out, uint8_t version, const struct mqtt_pkt *pkt)
{
	struct wr w = {out, 0};
	size_t start = out->len, at;
	struct mqtt_pkt check;
	enum mqtt_rc rc;
	int b = first_byte(pkt);

	if (b < 0 ||
	    (version != 0 && version != MQTT_V31 && version != MQTT_V311 && version != MQTT_V5))
		return -EINVAL;
	w_u8(&w, (uint8_t)b);
	at = w_open(&w);
	body_encode(&w, version == 0 ? MQTT_V311 : version, pkt);
	w_close(&w, at);
	/* The contract is that mqtt_decode() accepts every packet written here. Rather than
	 * restate each of its rules (UTF-8, identifiers, reason codes, which property goes in
	 * which packet), decode the result: an invalid pkt is -EINVAL, not bytes a peer drops. */
	if (w.err == 0 && mqtt_decode(out->data + start, out->len - start, version, 0, &check,
	                              &rc) != (int)(out->len - start))
		w.err = -EINVAL;
	if (w.err != 0)
		out->len = start;
	return w.err;
}

/* Length of the v5 property block of o, without its own length prefix. */
static uint64_t
pub_props_len(const struct mqtt_pub_out *o)
{
	uint64_t n = o->props.len;
	unsigned i;

	if (o->has_expiry)
		n += 1 + 4;
	if (o->topic_alias != 0)
		n += 1 + 2;
	for (i = 0; i < o->n_sub_ids; i++)
		n += 1 + (unsigned)mqtt_varint_len(o->sub_ids[i]);
	return n;
}

/* Remaining length of the PUBLISH described by o, or UINT64_MAX if it cannot be sent. */
static uint64_t
pub_remaining(const struct mqtt_pub_out *o)
{
	bool v5 = o->version == MQTT_V5;
	uint64_t n = 2 + (uint64_t)o->payload_len, props;

	if (!(v5 && o->omit_topic)) {
		if (o->topic.len > UINT16_MAX)
			return UINT64_MAX;
		n += o->topic.len;
	}
	if (o->qos > 0)
		n += 2;
	if (v5) {
		props = pub_props_len(o);
		if (props > MQTT_MAX_VARINT)
			return UINT64_MAX;
		n += (unsigned)mqtt_varint_len((uint32_t)props) + props;
	}
	return n > MQTT_MAX_REMAINING_LENGTH ? UINT64_MAX : n;
}

size_t
mqtt_publish_hdr_len(const struct mqtt_pub_out *o)
{
	uint64_t rl = pub_remaining(o);

	if (rl == UINT64_MAX)
		return 0;
	return 1 + (size_t)mqtt_varint_len((uint32_t)rl) + (size_t)(rl - o->payload_len);
}

static uint8_t *
put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

/* The v5 property block: the per-subscriber properties first, then the forwarded ones. */
static uint8_t *
put_props(uint8_t *p, const struct mqtt_pub_out *o)
{
	unsigned i;

	p += mqtt_varint_write(p, (uint32_t)pub_props_len(o));
	if (o->has_expiry) {
		*p++ = MQTT_PROP_MESSAGE_EXPIRY;
		p = put_u16(p, (uint16_t)(o->expiry_left >> 16));
		p = put_u16(p, (uint16_t)o->expiry_left);
	}
	if (o->topic_alias != 0) {
		*p++ = MQTT_PROP_TOPIC_ALIAS;
		p = put_u16(p, o->topic_alias);
	}
	for (i = 0; i < o->n_sub_ids; i++) {
		*p++ = MQTT_PROP_SUBSCRIPTION_ID;
		p += mqtt_varint_write(p, o->sub_ids[i]);
	}
	if (o->props.len > 0)
		memcpy(p, o->props.p, o->props.len);
	return p + o->props.len;
}

size_t
mqtt_publish_hdr_write(uint8_t *out, const struct mqtt_pub_out *o)
{
	bool v5 = o->version == MQTT_V5;
	uint64_t rl = pub_remaining(o);
	uint32_t topic_len = v5 && o->omit_topic ? 0 : o->topic.len;
	uint8_t *p = out;

	/* The caller sized out with mqtt_publish_hdr_len(), which returned 0 for this. */
	SL_ASSERT(rl != UINT64_MAX);
	*p++ = (uint8_t)(MQTT_PUBLISH << 4 | o->dup << 3 | (o->qos & 3) << 1 | o->retain);
	p += mqtt_varint_write(p, (uint32_t)rl);
	p = put_u16(p, (uint16_t)topic_len);
	if (topic_len > 0)
		memcpy(p, o->topic.p, topic_len);
	p += topic_len;
	if (o->qos > 0)
		p = put_u16(p, o->packet_id);
	if (v5)
		p = put_props(p, o);
	return (size_t)(p - out);
}
