/* proto/mqtt.h - MQTT 3.1, 3.1.1 and 5.0 packet codec. Pure functions: no I/O, no logging, no
 * allocation on decode. Decoded packets hold views (struct sl_bytes) into the caller's buffer:
 * they are valid only while that buffer is. Safe from any thread. */
#ifndef MQTT_H
#define MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sl_buf.h"

enum mqtt_version { MQTT_V31 = 3, MQTT_V311 = 4, MQTT_V5 = 5 };

enum mqtt_type {
	MQTT_CONNECT = 1,
	MQTT_CONNACK = 2,
	MQTT_PUBLISH = 3,
	MQTT_PUBACK = 4,
	MQTT_PUBREC = 5,
	MQTT_PUBREL = 6,
	MQTT_PUBCOMP = 7,
	MQTT_SUBSCRIBE = 8,
	MQTT_SUBACK = 9,
	MQTT_UNSUBSCRIBE = 10,
	MQTT_UNSUBACK = 11,
	MQTT_PINGREQ = 12,
	MQTT_PINGRESP = 13,
	MQTT_DISCONNECT = 14,
	MQTT_AUTH = 15,
};

/* MQTT 5.0 reason codes (section 2.4). v3 CONNACK return codes are separate (mqtt_v3_rc). */
enum mqtt_rc {
	MQTT_RC_SUCCESS = 0x00, /* also Normal disconnection, Granted QoS 0 */
	MQTT_RC_GRANTED_QOS1 = 0x01,
	MQTT_RC_GRANTED_QOS2 = 0x02,
	MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
	MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
	MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
	MQTT_RC_CONTINUE_AUTH = 0x18,
	MQTT_RC_REAUTHENTICATE = 0x19,
	MQTT_RC_UNSPECIFIED = 0x80,
	MQTT_RC_MALFORMED = 0x81,
	MQTT_RC_PROTOCOL_ERROR = 0x82,
	MQTT_RC_IMPL_SPECIFIC = 0x83,
	MQTT_RC_UNSUPPORTED_VERSION = 0x84,
	MQTT_RC_CLIENT_ID_INVALID = 0x85,
	MQTT_RC_BAD_USERNAME_PASSWORD = 0x86,
	MQTT_RC_NOT_AUTHORIZED = 0x87,
	MQTT_RC_SERVER_UNAVAILABLE = 0x88,
	MQTT_RC_SERVER_BUSY = 0x89,
	MQTT_RC_BANNED = 0x8A,
	MQTT_RC_SHUTTING_DOWN = 0x8B,
	MQTT_RC_BAD_AUTH_METHOD = 0x8C,
	MQTT_RC_KEEPALIVE_TIMEOUT = 0x8D,
	MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
	MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
	MQTT_RC_TOPIC_NAME_INVALID = 0x90,
	MQTT_RC_PACKET_ID_IN_USE = 0x91,
	MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
	MQTT_RC_RECEIVE_MAX_EXCEEDED = 0x93,
	MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
	MQTT_RC_PACKET_TOO_LARGE = 0x95,
	MQTT_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
	MQTT_RC_QUOTA_EXCEEDED = 0x97,
	MQTT_RC_ADMIN_ACTION = 0x98,
	MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
	MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
	MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
	MQTT_RC_USE_ANOTHER_SERVER = 0x9C,
	MQTT_RC_SERVER_MOVED = 0x9D,
	MQTT_RC_SHARED_SUBS_NOT_SUPPORTED = 0x9E,
	MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
	MQTT_RC_MAX_CONNECT_TIME = 0xA0,
	MQTT_RC_SUB_IDS_NOT_SUPPORTED = 0xA1,
	MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED = 0xA2,
};

/* MQTT 3.1/3.1.1 CONNACK return codes. */
enum mqtt_v3_rc {
	MQTT_V3_ACCEPTED = 0,
	MQTT_V3_BAD_VERSION = 1,
	MQTT_V3_ID_REJECTED = 2,
	MQTT_V3_SERVER_UNAVAILABLE = 3,
	MQTT_V3_BAD_USERNAME_PASSWORD = 4,
	MQTT_V3_NOT_AUTHORIZED = 5,
};

/* v5 property identifiers (section 2.2.2.2). */
enum mqtt_prop_id {
	MQTT_PROP_PAYLOAD_FORMAT = 0x01,
	MQTT_PROP_MESSAGE_EXPIRY = 0x02,
	MQTT_PROP_CONTENT_TYPE = 0x03,
	MQTT_PROP_RESPONSE_TOPIC = 0x08,
	MQTT_PROP_CORRELATION_DATA = 0x09,
	MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
	MQTT_PROP_SESSION_EXPIRY = 0x11,
	MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
	MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
	MQTT_PROP_AUTH_METHOD = 0x15,
	MQTT_PROP_AUTH_DATA = 0x16,
	MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
	MQTT_PROP_WILL_DELAY = 0x18,
	MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
	MQTT_PROP_RESPONSE_INFO = 0x1A,
	MQTT_PROP_SERVER_REFERENCE = 0x1C,
	MQTT_PROP_REASON_STRING = 0x1F,
	MQTT_PROP_RECEIVE_MAX = 0x21,
	MQTT_PROP_TOPIC_ALIAS_MAX = 0x22,
	MQTT_PROP_TOPIC_ALIAS = 0x23,
	MQTT_PROP_MAX_QOS = 0x24,
	MQTT_PROP_RETAIN_AVAILABLE = 0x25,
	MQTT_PROP_USER_PROPERTY = 0x26,
	MQTT_PROP_MAX_PACKET_SIZE = 0x27,
	MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
	MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
	MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

/* Presence bit of property id in struct mqtt_props.present: 1ull << id. */
#define MQTT_PB(id) (1ull << (id))

#define MQTT_MAX_SUB_IDS 32
#define MQTT_MAX_REMAINING_LENGTH 268435455u
#define MQTT_MAX_VARINT 268435455u

/* The v5 properties of one packet. On decode the views point into the input and `raw` is the
 * whole property block as received (without its length); user properties are read from raw
 * with mqtt_user_prop_next(). On encode, every property whose bit is set in `present` is
 * written, then `user_props` verbatim (already encoded 0x26 entries), then sub_ids. */
struct mqtt_props {
	uint64_t present;
	uint32_t message_expiry;
	uint32_t session_expiry;
	uint32_t will_delay;
	uint32_t max_packet_size;
	uint32_t sub_ids[MQTT_MAX_SUB_IDS]; /* PUBLISH may carry several, SUBSCRIBE one */
	uint8_t n_sub_ids;
	uint8_t payload_format;
	uint8_t request_problem_info;
	uint8_t request_response_info;
	uint8_t max_qos;
	uint8_t retain_available;
	uint8_t wildcard_available;
	uint8_t sub_id_available;
	uint8_t shared_available;
	uint16_t server_keep_alive;
	uint16_t receive_max;
	uint16_t topic_alias_max;
	uint16_t topic_alias;
	struct sl_bytes content_type;
	struct sl_bytes response_topic;
	struct sl_bytes correlation_data;
	struct sl_bytes assigned_client_id;
	struct sl_bytes auth_method;
	struct sl_bytes auth_data;
	struct sl_bytes response_info;
	struct sl_bytes server_reference;
	struct sl_bytes reason_string;
	struct sl_bytes user_props; /* encode only: encoded 0x26 entries written verbatim */
	uint32_t n_user_props;      /* decode: how many user properties raw holds */
	struct sl_bytes raw;        /* decode only */
};

struct mqtt_connect {
	uint8_t version; /* 3, 4 or 5, from the protocol level byte */
	bool clean_start;
	bool will_flag;
	uint8_t will_qos;
	bool will_retain;
	bool has_username;
	bool has_password;
	uint16_t keep_alive;
	struct sl_bytes client_id;
	struct sl_bytes will_topic;
	struct sl_bytes will_payload;
	struct sl_bytes username;
	struct sl_bytes password;
	struct mqtt_props props;
	struct mqtt_props will_props;
};

struct mqtt_connack {
	bool session_present;
	uint8_t rc; /* v5 reason code, or v3 return code (enum mqtt_v3_rc) */
	struct mqtt_props props;
};

struct mqtt_publish {
	uint8_t qos;
	bool dup;
	bool retain;
	uint16_t packet_id;    /* 0 for QoS 0 */
	struct sl_bytes topic; /* may be empty in v5 when a topic alias is set */
	struct sl_bytes payload;
	struct mqtt_props props;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
struct mqtt_ack {
	uint16_t packet_id;
	uint8_t rc; /* v5 reason code; 0 when absent and always in v3 */
	struct mqtt_props props;
};

/* SUBSCRIBE and UNSUBSCRIBE. `entries` is the validated payload; walk it with mqtt_sub_next()
 * or mqtt_unsub_next(). */
struct mqtt_subscribe {
	uint16_t packet_id;
	uint32_t count;
	struct sl_bytes entries;
	struct mqtt_props props;
};

/* SUBACK and UNSUBACK: one reason code per filter (v3.1/3.1.1 UNSUBACK has none). */
struct mqtt_suback {
	uint16_t packet_id;
	uint32_t count;
	const uint8_t *rcs;
	struct mqtt_props props;
};

/* DISCONNECT and AUTH. */
struct mqtt_reason {
	uint8_t rc;
	struct mqtt_props props;
};

struct mqtt_pkt {
	enum mqtt_type type;
	uint8_t flags; /* low nibble of the fixed header */
	uint32_t remaining_len;
	union {
		struct mqtt_connect connect;
		struct mqtt_connack connack;
		struct mqtt_publish publish;
		struct mqtt_ack ack;
		struct mqtt_subscribe subscribe; /* also UNSUBSCRIBE */
		struct mqtt_suback suback;       /* also UNSUBACK */
		struct mqtt_reason reason;       /* DISCONNECT, AUTH */
	} u;
};

/* Subscription options byte (v5 3.8.3.1): v3 clients only ever set the QoS bits. */
#define MQTT_SUBOPT_QOS(o) ((o)&0x03)
#define MQTT_SUBOPT_NO_LOCAL 0x04
#define MQTT_SUBOPT_RAP 0x08
#define MQTT_SUBOPT_RH(o) (((o) >> 4) & 0x03)

/*
 * Decodes one packet from the start of buf.
 * version: the connection's protocol level (3, 4, 5), or 0 before CONNECT (decoded as 3.1.1;
 *   a CONNECT carries its own level).
 * max_packet_size: largest whole packet accepted, 0 = the protocol limit. A larger packet is
 *   refused as soon as its fixed header is readable, without waiting for its body.
 * Returns the bytes consumed (> 0) with *pkt filled, 0 when buf holds no complete packet yet,
 * or -1 when malformed, with *rc the v5 reason code for the DISCONNECT/CONNACK:
 *   MQTT_RC_MALFORMED, MQTT_RC_PROTOCOL_ERROR, MQTT_RC_PACKET_TOO_LARGE,
 *   MQTT_RC_UNSUPPORTED_VERSION (CONNECT with an unknown level or protocol name),
 *   MQTT_RC_TOPIC_NAME_INVALID (PUBLISH topic with wildcards),
 *   MQTT_RC_TOPIC_FILTER_INVALID is not returned (filters are checked by the broker per entry).
 * Views in *pkt point into buf. Borrows buf and pkt.
 */
int mqtt_decode(const uint8_t *buf, size_t len, uint8_t version, uint32_t max_packet_size,
                struct mqtt_pkt *pkt, enum mqtt_rc *rc);

/* Walks the entries of a decoded SUBSCRIBE: returns 1 with the next filter and its options
 * byte, 0 at the end. *cursor starts as pkt->u.subscribe.entries and is advanced. */
int mqtt_sub_next(struct sl_bytes *cursor, struct sl_bytes *filter, uint8_t *options);
/* The same for UNSUBSCRIBE (no options byte). */
int mqtt_unsub_next(struct sl_bytes *cursor, struct sl_bytes *filter);
/* Walks the user properties of a decoded property block: returns 1 with the next pair, 0 at
 * the end. *cursor starts as props->raw. */
int mqtt_user_prop_next(struct sl_bytes *cursor, struct sl_bytes *key, struct sl_bytes *value);
/* Copies from a decoded block `raw` every property whose id bit is in keep_mask, in order, to
 * out (which must have room for raw.len bytes). Returns the bytes written. */
uint32_t mqtt_props_filter(struct sl_bytes raw, uint64_t keep_mask, uint8_t *out);

/* Appends the encoding of pkt for protocol level version to out. The fields used per type are
 * the ones mqtt_decode() fills; v3 levels ignore properties and v5-only fields.
 * Returns 0, or -ENOMEM, or -EINVAL when pkt cannot be encoded (e.g. too long). */
int mqtt_encode(struct sl_buf *out, uint8_t version, const struct mqtt_pkt *pkt);

/* The fast path for sending one PUBLISH to one subscriber: everything before the payload. */
struct mqtt_pub_out {
	uint8_t version;
	uint8_t qos;
	bool dup;
	bool retain;
	uint16_t packet_id;
	uint16_t topic_alias; /* 0 = none (v5 only) */
	bool omit_topic;      /* v5: send an empty topic name; topic_alias must be set */
	bool has_expiry;      /* v5: write message expiry = expiry_left */
	uint32_t expiry_left;
	uint8_t n_sub_ids; /* v5 */
	const uint32_t *sub_ids;
	struct sl_bytes topic;
	struct sl_bytes props; /* v5: encoded forwardable properties, written verbatim */
	uint32_t payload_len;
};
/* Returns the header length mqtt_publish_hdr_write() will write for o, or 0 when o cannot be
 * sent at all (remaining length over MQTT_MAX_REMAINING_LENGTH, or a topic over 65535 bytes). */
size_t mqtt_publish_hdr_len(const struct mqtt_pub_out *o);
/* Writes the fixed header, topic, packet id and properties to out (mqtt_publish_hdr_len(o)
 * bytes of room, which must not have been 0). Returns the bytes written. */
size_t mqtt_publish_hdr_write(uint8_t *out, const struct mqtt_pub_out *o);

/* Variable byte integer: returns bytes read (1..4), 0 if more input is needed, -1 if malformed
 * (a fifth byte would be needed). */
int mqtt_varint_read(const uint8_t *p, size_t len, uint32_t *value);
/* Writes v (<= MQTT_MAX_VARINT) to out (4 bytes of room); returns bytes written. */
int mqtt_varint_write(uint8_t *out, uint32_t v);
/* Encoded length of v. */
int mqtt_varint_len(uint32_t v);

/* [MQTT-1.5.4-1..3] well-formed UTF-8, no surrogates, no U+0000. */
bool mqtt_utf8_valid(const uint8_t *p, size_t len);

/* Name of a reason code or packet type, for logs. Never NULL. */
const char *mqtt_rc_str(uint8_t rc);
const char *mqtt_type_str(enum mqtt_type type);

#endif
