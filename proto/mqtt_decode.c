/* proto/mqtt_decode.c - bytes to packets: the fixed header and one decoder per packet type.
 *
 * Errors: v3.1/3.1.1 have no reason codes (the connection is closed), so the reason matters for
 * v5 only. Both versions use MQTT_RC_MALFORMED where the v5 text says "Malformed Packet" or the
 * packet cannot be parsed, and MQTT_RC_PROTOCOL_ERROR where it parses but breaks a rule (a zero
 * packet identifier, an empty SUBSCRIBE). Where only the v3 rule is a MUST the v3 statement is
 * cited. */
#include "mqtt.h"

#include <string.h>

#include "mqtt_int.h"

/* Reason codes each packet type may carry (v5 sections 3.2.2.2 .. 3.15.2.1). */
static const uint8_t connack_rcs[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                      0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                                      0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
static const uint8_t puback_rcs[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
static const uint8_t pubrel_rcs[] = {0x00, 0x92};
static const uint8_t suback_rcs[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                     0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
static const uint8_t unsuback_rcs[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
static const uint8_t disconnect_rcs[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                                         0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                                         0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
static const uint8_t auth_rcs[] = {0x00, 0x18, 0x19};
/* [MQTT-3.9.3-2] (3.1.1) return codes other than these are reserved. */
static const uint8_t v3_suback_rcs[] = {0x00, 0x01, 0x02, 0x80};

#define RCS(a) a, sizeof(a)

/* A reason code not defined for the packet parses, so it is a Protocol Error. */
static bool
rc_check(struct rd *r, uint8_t rc, const uint8_t *allowed, size_t n)
{
	if (memchr(allowed, rc, n) == NULL)
		return rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	return true;
}

/* A Packet Identifier where one is required: [MQTT-2.3.1-1] (3.1.1) it is non-zero, and acks
 * echo one. */
static bool
rd_packet_id(struct rd *r, uint16_t *id)
{
	if (!rd_u16(r, id))
		return false;
	if (*id == 0)
		return rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	return true;
}

/* The protocol name and level pairs this broker speaks (3.1.2.1, 3.1.2.2). */
static bool
protocol_known(struct sl_bytes name, uint8_t level)
{
	if (name.len == 4 && memcmp(name.p, "MQTT", 4) == 0)
		return level == MQTT_V311 || level == MQTT_V5;
	if (name.len == 6 && memcmp(name.p, "MQIsdp", 6) == 0)
		return level == MQTT_V31;
	return false;
}

static bool
connect_flags(struct rd *r, uint8_t flags, struct mqtt_connect *c)
{
	/* [MQTT-3.1.2-3] the reserved flag must be 0 */
	if ((flags & 0x01) != 0)
		return rd_fail(r, MQTT_RC_MALFORMED);
	c->clean_start = (flags & 0x02) != 0;
	c->will_flag = (flags & 0x04) != 0;
	c->will_qos = (flags >> 3) & 0x03;
	c->will_retain = (flags & 0x20) != 0;
	c->has_password = (flags & 0x40) != 0;
	c->has_username = (flags & 0x80) != 0;
	/* v5 [MQTT-3.1.2-12], 3.1.1 [MQTT-3.1.2-14]: Will QoS 3 is malformed */
	if (c->will_qos == 3)
		return rd_fail(r, MQTT_RC_MALFORMED);
	/* v5 [MQTT-3.1.2-11] [MQTT-3.1.2-13], 3.1.1 [MQTT-3.1.2-13] [MQTT-3.1.2-15]: without a
	 * will, Will QoS and Will Retain are 0 */
	if (!c->will_flag && (c->will_qos != 0 || c->will_retain))
		return rd_fail(r, MQTT_RC_MALFORMED);
	/* [MQTT-3.1.2-22] (3.1.1) no password without a user name; v5 allows it (3.1.2.9) */
	if (c->version != MQTT_V5 && c->has_password && !c->has_username)
		return rd_fail(r, MQTT_RC_MALFORMED);
	return true;
}

static bool
connect_decode(struct rd *r, struct mqtt_connect *c)
{
	struct sl_bytes name;
	uint8_t flags;
	bool v5;

	if (!rd_bin(r, &name) || !rd_u8(r, &c->version))
		return false;
	/* v5 [MQTT-3.1.2-2], 3.1.1 [MQTT-3.1.2-1] [MQTT-3.1.2-2]: the broker answers 0x84 or
	 * return code 1; c->version tells it which CONNACK format to use. */
	if (!protocol_known(name, c->version))
		return rd_fail(r, MQTT_RC_UNSUPPORTED_VERSION);
	if (!rd_u8(r, &flags) || !rd_u16(r, &c->keep_alive) || !connect_flags(r, flags, c))
		return false;
	v5 = c->version == MQTT_V5;
	if (v5 && !mqtt_int_props_decode(r, MQTT_CONNECT, &c->props))
		return false;
	/* The payload, in this order (3.1.3); an empty client id is the broker's decision. */
	if (!rd_str(r, &c->client_id))
		return false;
	if (c->will_flag) {
		if (v5 && !mqtt_int_props_decode(r, MQTT_INT_WILL, &c->will_props))
			return false;
		if (!rd_str(r, &c->will_topic) || !rd_bin(r, &c->will_payload))
			return false;
	}
	if (c->has_username && !rd_str(r, &c->username))
		return false;
	if (c->has_password && !rd_bin(r, &c->password))
		return false;
	return rd_end(r);
}

static bool
connack_decode(struct rd *r, bool v5, struct mqtt_connack *c)
{
	uint8_t flags;

	if (!rd_u8(r, &flags) || !rd_u8(r, &c->rc))
		return false;
	/* v5 [MQTT-3.2.2-1], 3.1.1 3.2.2.1: bits 7-1 of the acknowledge flags are reserved */
	if ((flags & 0xFE) != 0)
		return rd_fail(r, MQTT_RC_MALFORMED);
	c->session_present = flags & 0x01;
	if (v5 && !rc_check(r, c->rc, RCS(connack_rcs)))
		return false;
	/* 3.2.2.3 (3.1.1): return codes 6-255 are reserved */
	if (!v5 && c->rc > MQTT_V3_NOT_AUTHORIZED)
		return rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	/* v5 [MQTT-3.2.2-6], 3.1.1 [MQTT-3.2.2-4]: a refusal never has a session */
	if (c->session_present && c->rc != 0)
		return rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	if (v5 && !mqtt_int_props_decode(r, MQTT_CONNACK, &c->props))
		return false;
	return rd_end(r);
}

/* Topic name rules that need the properties (an empty name needs a Topic Alias). */
static bool
topic_check(struct rd *r, bool v5, const struct mqtt_publish *p)
{
	/* [MQTT-3.3.2-2] no wildcards in a topic name */
	if (memchr(p->topic.p, '+', p->topic.len) != NULL ||
	    memchr(p->topic.p, '#', p->topic.len) != NULL)
		return rd_fail(r, MQTT_RC_TOPIC_NAME_INVALID);
	if (p->topic.len > 0)
		return true;
	/* v5 3.3.2.1: "It is a Protocol Error if the Topic Name is zero length and there is no
	 * Topic Alias"; 3.1.1 [MQTT-4.7.3-1]: topic names are at least one character. */
	if (!v5)
		return rd_fail(r, MQTT_RC_MALFORMED);
	if ((p->props.present & MQTT_PB(MQTT_PROP_TOPIC_ALIAS)) == 0)
		return rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	return true;
}

static bool
publish_decode(struct rd *r, bool v5, uint8_t flags, struct mqtt_publish *p)
{
	p->retain = (flags & 0x01) != 0;
	p->qos = (flags >> 1) & 0x03;
	p->dup = (flags & 0x08) != 0;
	if (!rd_str(r, &p->topic))
		return false;
	/* [MQTT-2.3.1-5] (3.1.1) QoS 0 has no packet identifier */
	if (p->qos > 0 && !rd_packet_id(r, &p->packet_id))
		return false;
	if (v5 && !mqtt_int_props_decode(r, MQTT_PUBLISH, &p->props))
		return false;
	if (!topic_check(r, v5, p))
		return false;
	/* The rest is the payload; it may be empty (3.3.3). */
	return rd_bytes(r, r->left, &p->payload);
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
static bool
ack_decode(struct rd *r, bool v5, uint8_t type, struct mqtt_ack *a)
{
	bool rel = type == MQTT_PUBREL || type == MQTT_PUBCOMP;

	if (!rd_packet_id(r, &a->packet_id))
		return false;
	/* v3: exactly the packet id. v5 3.4.2.1: a Remaining Length of 2 means reason 0x00 and
	 * no properties; 3.4.2.2.1: with less than 4, the Property Length is absent. */
	if (!v5 || r->left == 0)
		return rd_end(r);
	if (!rd_u8(r, &a->rc))
		return false;
	if (!(rel ? rc_check(r, a->rc, RCS(pubrel_rcs)) : rc_check(r, a->rc, RCS(puback_rcs))))
		return false;
	if (r->left > 0 && !mqtt_int_props_decode(r, type, &a->props))
		return false;
	return rd_end(r);
}

/* An empty filter: v5 3.8.3 makes it a Protocol Error, 3.1.1 [MQTT-4.7.3-1] malformed. */
static bool
filter_check(struct rd *r, bool v5, struct sl_bytes f)
{
	if (f.len == 0)
		return rd_fail(r, v5 ? MQTT_RC_PROTOCOL_ERROR : MQTT_RC_MALFORMED);
	return true;
}

static bool
sub_options_check(struct rd *r, bool v5, uint8_t o)
{
	if (!v5) {
		/* [MQTT-3-8.3-4] (3.1.1) reserved bits set or QoS 3 are malformed */
		if ((o & 0xFC) != 0 || MQTT_SUBOPT_QOS(o) == 3)
			return rd_fail(r, MQTT_RC_MALFORMED);
		return true;
	}
	/* [MQTT-3.8.3-5] reserved bits 6 and 7 set are malformed */
	if ((o & 0xC0) != 0)
		return rd_fail(r, MQTT_RC_MALFORMED);
	/* 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3" and "to
	 * send a Retain Handling value of 3" */
	if (MQTT_SUBOPT_QOS(o) == 3 || MQTT_SUBOPT_RH(o) == 3)
		return rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	return true;
}

/* SUBSCRIBE and UNSUBSCRIBE: the same shape, options bytes only in SUBSCRIBE. Wildcard placement
 * is checked by the broker, per entry. */
static bool
subscribe_decode(struct rd *r, bool v5, uint8_t type, struct mqtt_subscribe *s)
{
	struct sl_bytes f;
	uint8_t o;

	if (!rd_packet_id(r, &s->packet_id))
		return false;
	if (v5 && !mqtt_int_props_decode(r, type, &s->props))
		return false;
	s->entries = sl_bytes_make(r->p, r->left);
	while (r->left > 0) {
		if (!rd_str(r, &f) || !filter_check(r, v5, f))
			return false;
		if (type == MQTT_SUBSCRIBE && (!rd_u8(r, &o) || !sub_options_check(r, v5, o)))
			return false;
		s->count++;
	}
	/* v5 [MQTT-3.8.3-2] [MQTT-3.10.3-2], 3.1.1 [MQTT-3.8.3-3] [MQTT-3.10.3-2]: at least one
	 * entry; an empty payload is a protocol violation. */
	if (s->count == 0)
		return rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	return true;
}

/* SUBACK and UNSUBACK. */
static bool
suback_decode(struct rd *r, bool v5, uint8_t type, struct mqtt_suback *s)
{
	const uint8_t *ok = v5 ? suback_rcs : v3_suback_rcs;
	size_t n_ok = v5 ? sizeof(suback_rcs) : sizeof(v3_suback_rcs);
	uint32_t i;

	if (type == MQTT_UNSUBACK) {
		ok = unsuback_rcs;
		n_ok = sizeof(unsuback_rcs);
	}
	if (!rd_packet_id(r, &s->packet_id))
		return false;
	/* 3.11.3 (3.1.1): UNSUBACK has no payload */
	if (!v5 && type == MQTT_UNSUBACK)
		return rd_end(r);
	if (v5 && !mqtt_int_props_decode(r, type, &s->props))
		return false;
	s->count = r->left;
	s->rcs = r->p;
	/* One reason code per filter of the request, which had at least one (3.9.3, 3.11.3). */
	if (s->count == 0)
		return rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	for (i = 0; i < s->count; i++) {
		if (!rc_check(r, s->rcs[i], ok, n_ok))
			return false;
	}
	r->p += r->left;
	r->left = 0;
	return true;
}

/* DISCONNECT and AUTH. */
static bool
reason_decode(struct rd *r, bool v5, uint8_t type, struct mqtt_reason *m)
{
	bool auth = type == MQTT_AUTH;

	/* v3 DISCONNECT is empty (3.14.1). v5 3.14.2.1, 3.15.2.1: a Remaining Length of 0 means
	 * reason 0x00 and no properties; 3.14.2.2.1: with less than 2, no Property Length
	 * (read the same way for AUTH, which has the same shape). */
	if (!v5 || r->left == 0)
		return rd_end(r);
	if (!rd_u8(r, &m->rc))
		return false;
	if (!(auth ? rc_check(r, m->rc, RCS(auth_rcs)) : rc_check(r, m->rc, RCS(disconnect_rcs))))
		return false;
	if (r->left > 0 && !mqtt_int_props_decode(r, type, &m->props))
		return false;
	return rd_end(r);
}

static bool
body_decode(struct rd *r, bool v5, struct mqtt_pkt *pkt)
{
	switch (pkt->type) {
	case MQTT_CONNECT:
		return connect_decode(r, &pkt->u.connect);
	case MQTT_CONNACK:
		return connack_decode(r, v5, &pkt->u.connack);
	case MQTT_PUBLISH:
		return publish_decode(r, v5, pkt->flags, &pkt->u.publish);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		return ack_decode(r, v5, pkt->type, &pkt->u.ack);
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return subscribe_decode(r, v5, pkt->type, &pkt->u.subscribe);
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		return suback_decode(r, v5, pkt->type, &pkt->u.suback);
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
		return rd_end(r); /* 3.12, 3.13: no variable header, no payload */
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		return reason_decode(r, v5, pkt->type, &pkt->u.reason);
	}
	return rd_fail(r, MQTT_RC_MALFORMED);
}

/* Checks the packet type and the flags of byte 1, before the rest of the packet arrives. */
static enum mqtt_rc
first_byte_check(uint8_t type, uint8_t flags, bool v5)
{
	uint8_t qos = (flags >> 1) & 0x03;

	switch (type) {
	case 0:
		return MQTT_RC_MALFORMED; /* type 0 is reserved (2.1.2) */
	case MQTT_AUTH:
		if (!v5)
			return MQTT_RC_MALFORMED; /* type 15 is reserved before v5 */
		break;
	case MQTT_PUBLISH:
		/* [MQTT-3.3.1-4] QoS 3 is malformed */
		if (qos == 3)
			return MQTT_RC_MALFORMED;
		/* [MQTT-3.3.1-2] no DUP on QoS 0; in v5 the packet parses: a Protocol Error */
		if (qos == 0 && (flags & 0x08) != 0)
			return v5 ? MQTT_RC_PROTOCOL_ERROR : MQTT_RC_MALFORMED;
		return MQTT_RC_SUCCESS;
	case MQTT_PUBREL:
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		/* [MQTT-2.2.2-1] [MQTT-2.2.2-2] reserved flags 0010 */
		return flags == 0x02 ? MQTT_RC_SUCCESS : MQTT_RC_MALFORMED;
	default:
		break;
	}
	/* [MQTT-2.2.2-1] [MQTT-2.2.2-2] reserved flags 0000 */
	return flags == 0 ? MQTT_RC_SUCCESS : MQTT_RC_MALFORMED;
}

int
mqtt_decode(const uint8_t *buf, size_t len, uint8_t version, uint32_t max_packet_size,
            struct mqtt_pkt *pkt, enum mqtt_rc *rc)
{
	/* Levels 0 (before CONNECT), 3 and 4 follow the 3.1.1 rules; a CONNECT its own level. */
	bool v5 = version == MQTT_V5;
	uint32_t rl;
	size_t total;
	struct rd r;
	int n;

	*rc = MQTT_RC_SUCCESS;
	if (len == 0)
		return 0;
	memset(pkt, 0, sizeof(*pkt));
	pkt->type = (enum mqtt_type)(buf[0] >> 4);
	pkt->flags = buf[0] & 0x0F;
	if ((*rc = first_byte_check(pkt->type, pkt->flags, v5)) != MQTT_RC_SUCCESS)
		return -1;
	n = mqtt_varint_read(buf + 1, len - 1, &rl);
	if (n == 0)
		return 0;
	if (n < 0) {
		*rc = MQTT_RC_MALFORMED; /* 2.1.4: at most four bytes */
		return -1;
	}
	pkt->remaining_len = rl;
	total = 1 + (size_t)n + rl;
	/* v5 3.1.2.11.4, 3.2.2.3.6: a packet over the Maximum Packet Size we announced is refused
	 * (0x95); its fixed header is enough to know, so do not wait for the body. */
	if (max_packet_size != 0 && total > max_packet_size) {
		*rc = MQTT_RC_PACKET_TOO_LARGE;
		return -1;
	}
	if (len < total)
		return 0;
	r = (struct rd){buf + 1 + n, rl, MQTT_RC_SUCCESS};
	if (!body_decode(&r, v5, pkt)) {
		*rc = r.rc;
		return -1;
	}
	return (int)total;
}
