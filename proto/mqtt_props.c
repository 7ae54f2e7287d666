/* proto/mqtt_props.c - MQTT 5.0 properties (section 2.2.2): decoding with the per-packet
 * validity rules, encoding, and the walkers over a received block (filter, user properties). */
#include "mqtt.h"

#include <stddef.h>
#include <string.h>

#include "mqtt_int.h"

/* How a property value is encoded (section 2.2.2.2, Table 2-4). */
enum prop_type { PT_NONE, PT_U8, PT_U16, PT_U32, PT_VARINT, PT_STR, PT_BIN, PT_PAIR };

/* The value rule of a property beyond its encoding. */
enum prop_check { CK_NONE, CK_BOOL, CK_NONZERO };

/* Packets a property may appear in: bit (1 << packet type); the will properties of a CONNECT
 * use bit 0 (MQTT_INT_WILL), which no packet type has. */
#define IN(t) (1u << (t))
#define IN_ACKS (IN(MQTT_PUBACK) | IN(MQTT_PUBREC) | IN(MQTT_PUBREL) | IN(MQTT_PUBCOMP))
#define IN_MSG (IN(MQTT_PUBLISH) | IN(MQTT_INT_WILL))
#define IN_ALL 0xFFFFu

struct prop_def {
	uint8_t type;   /* enum prop_type; PT_NONE: no property has this identifier */
	uint8_t check;  /* enum prop_check */
	uint16_t where; /* IN() bits */
	uint16_t off;   /* offset of the field in struct mqtt_props (PT_U8..PT_BIN) */
};

#define F(field) offsetof(struct mqtt_props, field)

static const struct prop_def defs[] = {
        [MQTT_PROP_PAYLOAD_FORMAT] = {PT_U8, CK_BOOL, IN_MSG, F(payload_format)},
        [MQTT_PROP_MESSAGE_EXPIRY] = {PT_U32, CK_NONE, IN_MSG, F(message_expiry)},
        [MQTT_PROP_CONTENT_TYPE] = {PT_STR, CK_NONE, IN_MSG, F(content_type)},
        [MQTT_PROP_RESPONSE_TOPIC] = {PT_STR, CK_NONE, IN_MSG, F(response_topic)},
        [MQTT_PROP_CORRELATION_DATA] = {PT_BIN, CK_NONE, IN_MSG, F(correlation_data)},
        [MQTT_PROP_SUBSCRIPTION_ID] = {PT_VARINT, CK_NONZERO, IN(MQTT_PUBLISH) | IN(MQTT_SUBSCRIBE),
                                       0},
        [MQTT_PROP_SESSION_EXPIRY] = {PT_U32, CK_NONE,
                                      IN(MQTT_CONNECT) | IN(MQTT_CONNACK) | IN(MQTT_DISCONNECT),
                                      F(session_expiry)},
        [MQTT_PROP_ASSIGNED_CLIENT_ID] = {PT_STR, CK_NONE, IN(MQTT_CONNACK), F(assigned_client_id)},
        [MQTT_PROP_SERVER_KEEP_ALIVE] = {PT_U16, CK_NONE, IN(MQTT_CONNACK), F(server_keep_alive)},
        [MQTT_PROP_AUTH_METHOD] = {PT_STR, CK_NONE,
                                   IN(MQTT_CONNECT) | IN(MQTT_CONNACK) | IN(MQTT_AUTH),
                                   F(auth_method)},
        [MQTT_PROP_AUTH_DATA] = {PT_BIN, CK_NONE,
                                 IN(MQTT_CONNECT) | IN(MQTT_CONNACK) | IN(MQTT_AUTH), F(auth_data)},
        [MQTT_PROP_REQUEST_PROBLEM_INFO] = {PT_U8, CK_BOOL, IN(MQTT_CONNECT),
                                            F(request_problem_info)},
        [MQTT_PROP_WILL_DELAY] = {PT_U32, CK_NONE, IN(MQTT_INT_WILL), F(will_delay)},
        [MQTT_PROP_REQUEST_RESPONSE_INFO] = {PT_U8, CK_BOOL, IN(MQTT_CONNECT),
                                             F(request_response_info)},
        [MQTT_PROP_RESPONSE_INFO] = {PT_STR, CK_NONE, IN(MQTT_CONNACK), F(response_info)},
        [MQTT_PROP_SERVER_REFERENCE] = {PT_STR, CK_NONE, IN(MQTT_CONNACK) | IN(MQTT_DISCONNECT),
                                        F(server_reference)},
        [MQTT_PROP_REASON_STRING] = {PT_STR, CK_NONE,
                                     IN(MQTT_CONNACK) | IN_ACKS | IN(MQTT_SUBACK) |
                                             IN(MQTT_UNSUBACK) | IN(MQTT_DISCONNECT) |
                                             IN(MQTT_AUTH),
                                     F(reason_string)},
        [MQTT_PROP_RECEIVE_MAX] = {PT_U16, CK_NONZERO, IN(MQTT_CONNECT) | IN(MQTT_CONNACK),
                                   F(receive_max)},
        [MQTT_PROP_TOPIC_ALIAS_MAX] = {PT_U16, CK_NONE, IN(MQTT_CONNECT) | IN(MQTT_CONNACK),
                                       F(topic_alias_max)},
        [MQTT_PROP_TOPIC_ALIAS] = {PT_U16, CK_NONZERO, IN(MQTT_PUBLISH), F(topic_alias)},
        [MQTT_PROP_MAX_QOS] = {PT_U8, CK_BOOL, IN(MQTT_CONNACK), F(max_qos)},
        [MQTT_PROP_RETAIN_AVAILABLE] = {PT_U8, CK_BOOL, IN(MQTT_CONNACK), F(retain_available)},
        [MQTT_PROP_USER_PROPERTY] = {PT_PAIR, CK_NONE, IN_ALL, 0},
        [MQTT_PROP_MAX_PACKET_SIZE] = {PT_U32, CK_NONZERO, IN(MQTT_CONNECT) | IN(MQTT_CONNACK),
                                       F(max_packet_size)},
        [MQTT_PROP_WILDCARD_SUB_AVAILABLE] = {PT_U8, CK_BOOL, IN(MQTT_CONNACK),
                                              F(wildcard_available)},
        [MQTT_PROP_SUB_ID_AVAILABLE] = {PT_U8, CK_BOOL, IN(MQTT_CONNACK), F(sub_id_available)},
        [MQTT_PROP_SHARED_SUB_AVAILABLE] = {PT_U8, CK_BOOL, IN(MQTT_CONNACK), F(shared_available)},
};

#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

/* The definition of property id, or NULL if the id is unknown. Every identifier of this version
 * is one byte (the non-normative comment in 2.2.2.2), so a first byte with the continuation bit
 * set is an unknown identifier too. */
static const struct prop_def *
def_of(uint8_t id)
{
	if (id >= N_DEFS || defs[id].type == PT_NONE)
		return NULL;
	return &defs[id];
}

/* The field of a fixed-size or byte-view property inside pr. */
static void *
field_of(struct mqtt_props *pr, const struct prop_def *d)
{
	return (char *)pr + d->off;
}

/* Reads a Subscription Identifier: a Variable Byte Integer; several only in a PUBLISH. */
static bool
sub_id_read(struct rd *r, struct mqtt_props *pr)
{
	uint32_t v;

	if (!rd_varint(r, &v))
		return false;
	/* An implementation limit: a PUBLISH matching more subscriptions of one client than
	 * struct mqtt_props can hold. Only a server sends several, never to this broker. */
	if (pr->n_sub_ids >= MQTT_MAX_SUB_IDS)
		return rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	pr->sub_ids[pr->n_sub_ids++] = v;
	return true;
}

static bool
value_read(struct rd *r, const struct prop_def *d, struct mqtt_props *pr)
{
	struct sl_bytes key, value;

	switch ((enum prop_type)d->type) {
	case PT_U8:
		return rd_u8(r, field_of(pr, d));
	case PT_U16:
		return rd_u16(r, field_of(pr, d));
	case PT_U32:
		return rd_u32(r, field_of(pr, d));
	case PT_STR:
		return rd_str(r, field_of(pr, d));
	case PT_BIN:
		return rd_bin(r, field_of(pr, d));
	case PT_VARINT:
		return sub_id_read(r, pr);
	case PT_PAIR:
		/* [MQTT-1.5.7-1] both strings of a pair must be valid UTF-8 strings */
		if (!rd_str(r, &key) || !rd_str(r, &value))
			return false;
		pr->n_user_props++;
		return true;
	case PT_NONE:
		break;
	}
	return rd_fail(r, MQTT_RC_MALFORMED);
}

/* The numeric value just read for d, for the value rules. */
static uint32_t
value_num(const struct prop_def *d, struct mqtt_props *pr)
{
	switch ((enum prop_type)d->type) {
	case PT_U8:
		return *(uint8_t *)field_of(pr, d);
	case PT_U16:
		return *(uint16_t *)field_of(pr, d);
	case PT_U32:
		return *(uint32_t *)field_of(pr, d);
	case PT_VARINT:
		return pr->sub_ids[pr->n_sub_ids - 1];
	default:
		return 0;
	}
}

/* Reads one property of a block valid on packet type kind. */
static bool
prop_read(struct rd *r, uint8_t kind, struct mqtt_props *pr)
{
	const struct prop_def *d;
	uint32_t v;
	uint8_t id;

	if (!rd_u8(r, &id))
		return false;
	d = def_of(id);
	/* 2.2.2.2: an identifier that is unknown or not valid for the packet type is a Malformed
	 * Packet. */
	if (d == NULL || (d->where & IN(kind)) == 0)
		return rd_fail(r, MQTT_RC_MALFORMED);
	/* Each property section says "It is a Protocol Error to include X more than once", but
	 * for User Property (2.2.2.2) and a server's PUBLISH with several subscription ids
	 * (3.3.2.3.8); a SUBSCRIBE carries at most one (3.8.2.1.2). */
	if ((pr->present & MQTT_PB(id)) != 0 && id != MQTT_PROP_USER_PROPERTY &&
	    !(id == MQTT_PROP_SUBSCRIPTION_ID && kind == MQTT_PUBLISH))
		return rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	if (!value_read(r, d, pr))
		return false;
	pr->present |= MQTT_PB(id);
	v = value_num(d, pr);
	/* 0/1 flags: Payload Format, Request Problem/Response Information, Maximum QoS, Retain,
	 * Wildcard, Subscription Identifier and Shared Subscription Available. Must be non-zero:
	 * Subscription Identifier, Receive Maximum, Maximum Packet Size, Topic Alias
	 * [MQTT-3.3.2-8]. Any other value is a Protocol Error (3.1.2.11, 3.2.2.3, 3.3.2.3). */
	if ((d->check == CK_BOOL && v > 1) || (d->check == CK_NONZERO && v == 0))
		return rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	return true;
}

bool
mqtt_int_props_decode(struct rd *r, uint8_t kind, struct mqtt_props *pr)
{
	struct rd block;
	uint32_t len;

	if (!rd_varint(r, &len))
		return false;
	/* A property length running past the packet is malformed. */
	if (!rd_bytes(r, len, &pr->raw))
		return false;
	block = (struct rd){pr->raw.p, pr->raw.len, MQTT_RC_SUCCESS};
	while (block.left > 0) {
		if (!prop_read(&block, kind, pr))
			return rd_fail(r, block.rc);
	}
	/* 3.1.2.11.10, 3.2.2.3.18: "It is a Protocol Error to include Authentication Data if
	 * there is no Authentication Method". */
	if ((pr->present & MQTT_PB(MQTT_PROP_AUTH_DATA)) != 0 &&
	    (pr->present & MQTT_PB(MQTT_PROP_AUTH_METHOD)) == 0)
		return rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	return true;
}

bool
mqtt_int_props_empty(const struct mqtt_props *pr)
{
	uint64_t own = MQTT_PB(MQTT_PROP_SUBSCRIPTION_ID) | MQTT_PB(MQTT_PROP_USER_PROPERTY);

	return (pr->present & ~own) == 0 && pr->user_props.len == 0 && pr->n_sub_ids == 0;
}

static void
prop_write(struct wr *w, uint8_t id, const struct prop_def *d, const struct mqtt_props *pr)
{
	const void *f = (const char *)pr + d->off;

	w_u8(w, id);
	switch ((enum prop_type)d->type) {
	case PT_U8:
		w_u8(w, *(const uint8_t *)f);
		break;
	case PT_U16:
		w_u16(w, *(const uint16_t *)f);
		break;
	case PT_U32:
		w_u32(w, *(const uint32_t *)f);
		break;
	case PT_STR:
	case PT_BIN:
		w_bin(w, *(const struct sl_bytes *)f);
		break;
	default: /* sub ids and user properties are written from their own fields */
		break;
	}
}

void
mqtt_int_props_write(struct wr *w, const struct mqtt_props *pr)
{
	uint64_t own = MQTT_PB(MQTT_PROP_SUBSCRIPTION_ID) | MQTT_PB(MQTT_PROP_USER_PROPERTY);
	uint64_t bits = pr->present & ~own;
	size_t at = w_open(w);
	unsigned id, i;

	for (id = 0; id < 64; id++) {
		if ((bits & MQTT_PB(id)) == 0)
			continue;
		if (def_of((uint8_t)id) != NULL)
			prop_write(w, (uint8_t)id, &defs[id], pr);
		else if (w->err == 0)
			w->err = -EINVAL; /* a presence bit no property has */
	}
	w_bytes(w, pr->user_props.p, pr->user_props.len);
	if (pr->n_sub_ids > MQTT_MAX_SUB_IDS && w->err == 0)
		w->err = -EINVAL;
	for (i = 0; i < pr->n_sub_ids && i < MQTT_MAX_SUB_IDS; i++) {
		w_u8(w, MQTT_PROP_SUBSCRIPTION_ID);
		w_varint(w, pr->sub_ids[i]);
	}
	w_close(w, at);
}

/* Steps over one property at the front of r. Returns its id, or -1 when r does not start with
 * a known, complete property. Values are not validated: the block was, when it was decoded. */
static int
prop_skip(struct rd *r)
{
	const struct prop_def *d;
	struct sl_bytes b;
	uint32_t v;
	uint8_t id;
	bool ok;

	if (!rd_u8(r, &id) || (d = def_of(id)) == NULL)
		return -1;
	switch ((enum prop_type)d->type) {
	case PT_U8:
		ok = rd_bytes(r, 1, &b);
		break;
	case PT_U16:
		ok = rd_bytes(r, 2, &b);
		break;
	case PT_U32:
		ok = rd_bytes(r, 4, &b);
		break;
	case PT_VARINT:
		ok = rd_varint(r, &v);
		break;
	case PT_PAIR:
		ok = rd_bin(r, &b) && rd_bin(r, &b);
		break;
	default:
		ok = rd_bin(r, &b);
		break;
	}
	return ok ? id : -1;
}

/* Appends [from, to) to out[0, n); returns the new length. */
static uint32_t
copy_run(uint8_t *out, uint32_t n, const uint8_t *from, const uint8_t *to)
{
	if (to > from) /* from may be NULL for an empty block */
		memcpy(out + n, from, (size_t)(to - from));
	return n + (uint32_t)(to - from);
}

uint32_t
mqtt_props_filter(struct sl_bytes raw, uint64_t keep_mask, uint8_t *out)
{
	struct rd r = {raw.p, raw.len, MQTT_RC_SUCCESS};
	const uint8_t *start, *run = raw.p; /* kept properties not yet copied start at run */
	uint32_t n = 0;
	int id;

	/* Copied a run of kept properties at a time: millions of user properties are one
	 * memcpy, not millions. */
	while (r.left > 0) {
		start = r.p;
		id = prop_skip(&r);
		if (id < 0) {
			r.p = start; /* not a block mqtt_decode() accepted: keep what came before */
			break;
		}
		if ((keep_mask & MQTT_PB(id)) == 0) {
			n = copy_run(out, n, run, start);
			run = r.p;
		}
	}
	return copy_run(out, n, run, r.p);
}

int
mqtt_user_prop_next(struct sl_bytes *cursor, struct sl_bytes *key, struct sl_bytes *value)
{
	struct rd r = {cursor->p, cursor->len, MQTT_RC_SUCCESS};
	struct rd pair;
	int id;

	while (r.left > 0) {
		pair = r;
		id = prop_skip(&r);
		if (id < 0)
			break;
		if (id != MQTT_PROP_USER_PROPERTY)
			continue;
		pair.p++;
		pair.left--;
		if (!rd_bin(&pair, key) || !rd_bin(&pair, value))
			break;
		*cursor = sl_bytes_make(r.p, r.left);
		return 1;
	}
	*cursor = sl_bytes_make(r.p, 0);
	return 0;
}
