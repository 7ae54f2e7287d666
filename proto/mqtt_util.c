/* proto/mqtt_util.c - MQTT data representations (section 1.5): Variable Byte Integers, UTF-8
 * validation; the SUBSCRIBE/UNSUBSCRIBE payload walkers; names for logs. */
#include "mqtt.h"

#include "mqtt_int.h"

int
mqtt_varint_read(const uint8_t *p, size_t len, uint32_t *value)
{
	uint32_t v = 0;
	size_t i;

	/* [MQTT-1.5.5-1] at most four bytes: a fourth byte with its continuation bit set would
	 * need a fifth, which no valid packet has. Non-minimal encodings are tolerated. */
	for (i = 0; i < 4; i++) {
		if (i == len)
			return 0;
		v |= (uint32_t)(p[i] & 0x7F) << (7 * i);
		if ((p[i] & 0x80) == 0) {
			*value = v;
			return (int)i + 1;
		}
	}
	return -1;
}

int
mqtt_varint_write(uint8_t *out, uint32_t v)
{
	int n = 0;

	/* Bounded to four bytes even for v > MQTT_MAX_VARINT, which callers must not pass. */
	do {
		out[n] = (uint8_t)(v & 0x7F);
		v >>= 7;
		if (v != 0 && n < 3)
			out[n] |= 0x80;
		n++;
	} while (v != 0 && n < 4);
	return n;
}

int
mqtt_varint_len(uint32_t v)
{
	if (v < 128u)
		return 1;
	if (v < 16384u)
		return 2;
	if (v < 2097152u)
		return 3;
	return 4;
}

/* Length of the well-formed UTF-8 sequence at p (left > 0 bytes), or 0 if it is ill-formed:
 * truncated, a bad continuation byte, an overlong form, a surrogate or beyond U+10FFFF. */
static size_t
utf8_seq(const uint8_t *p, size_t left)
{
	static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
	uint32_t cp;
	size_t n, k;

	if ((p[0] & 0xE0) == 0xC0) {
		n = 1;
		cp = p[0] & 0x1Fu;
	} else if ((p[0] & 0xF0) == 0xE0) {
		n = 2;
		cp = p[0] & 0x0Fu;
	} else if ((p[0] & 0xF8) == 0xF0) {
		n = 3;
		cp = p[0] & 0x07u;
	} else {
		return 0; /* a continuation byte or 0xF8..0xFF cannot start a sequence */
	}
	if (left <= n)
		return 0;
	for (k = 1; k <= n; k++) {
		if ((p[k] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3Fu);
	}
	if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n + 1;
}

bool
mqtt_utf8_valid(const uint8_t *p, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		if (p[i] == 0)
			return false; /* [MQTT-1.5.4-2] U+0000 */
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		/* [MQTT-1.5.4-1] well-formed per RFC 3629, no surrogates D800..DFFF */
		n = utf8_seq(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Reads one length-prefixed string from the front of *cursor. The payload was validated by
 * mqtt_decode(); the bounds checks keep a cursor built by hand memory safe anyway. */
static int
entry_next(struct sl_bytes *cursor, struct sl_bytes *filter, uint32_t extra)
{
	uint32_t n;

	if (cursor->len < 2)
		return 0;
	n = (uint32_t)cursor->p[0] << 8 | cursor->p[1];
	if (cursor->len - 2 < n || cursor->len - 2 - n < extra)
		return 0;
	*filter = sl_bytes_make(cursor->p + 2, n);
	return 1;
}

int
mqtt_sub_next(struct sl_bytes *cursor, struct sl_bytes *filter, uint8_t *options)
{
	if (!entry_next(cursor, filter, 1))
		return 0;
	*options = filter->p[filter->len];
	cursor->p += 2 + filter->len + 1;
	cursor->len -= 2 + filter->len + 1;
	return 1;
}

int
mqtt_unsub_next(struct sl_bytes *cursor, struct sl_bytes *filter)
{
	if (!entry_next(cursor, filter, 0))
		return 0;
	cursor->p += 2 + filter->len;
	cursor->len -= 2 + filter->len;
	return 1;
}

/* Names for logs. A table rather than a switch: the lookup is not on a hot path. */
static const struct {
	uint8_t rc;
	const char *name;
} rc_names[] = {
        {MQTT_RC_SUCCESS, "success"},
        {MQTT_RC_GRANTED_QOS1, "granted QoS 1"},
        {MQTT_RC_GRANTED_QOS2, "granted QoS 2"},
        {MQTT_RC_DISCONNECT_WITH_WILL, "disconnect with will message"},
        {MQTT_RC_NO_MATCHING_SUBSCRIBERS, "no matching subscribers"},
        {MQTT_RC_NO_SUBSCRIPTION_EXISTED, "no subscription existed"},
        {MQTT_RC_CONTINUE_AUTH, "continue authentication"},
        {MQTT_RC_REAUTHENTICATE, "re-authenticate"},
        {MQTT_RC_UNSPECIFIED, "unspecified error"},
        {MQTT_RC_MALFORMED, "malformed packet"},
        {MQTT_RC_PROTOCOL_ERROR, "protocol error"},
        {MQTT_RC_IMPL_SPECIFIC, "implementation specific error"},
        {MQTT_RC_UNSUPPORTED_VERSION, "unsupported protocol version"},
        {MQTT_RC_CLIENT_ID_INVALID, "client identifier not valid"},
        {MQTT_RC_BAD_USERNAME_PASSWORD, "bad user name or password"},
        {MQTT_RC_NOT_AUTHORIZED, "not authorized"},
        {MQTT_RC_SERVER_UNAVAILABLE, "server unavailable"},
        {MQTT_RC_SERVER_BUSY, "server busy"},
        {MQTT_RC_BANNED, "banned"},
        {MQTT_RC_SHUTTING_DOWN, "server shutting down"},
        {MQTT_RC_BAD_AUTH_METHOD, "bad authentication method"},
        {MQTT_RC_KEEPALIVE_TIMEOUT, "keep alive timeout"},
        {MQTT_RC_SESSION_TAKEN_OVER, "session taken over"},
        {MQTT_RC_TOPIC_FILTER_INVALID, "topic filter invalid"},
        {MQTT_RC_TOPIC_NAME_INVALID, "topic name invalid"},
        {MQTT_RC_PACKET_ID_IN_USE, "packet identifier in use"},
        {MQTT_RC_PACKET_ID_NOT_FOUND, "packet identifier not found"},
        {MQTT_RC_RECEIVE_MAX_EXCEEDED, "receive maximum exceeded"},
        {MQTT_RC_TOPIC_ALIAS_INVALID, "topic alias invalid"},
        {MQTT_RC_PACKET_TOO_LARGE, "packet too large"},
        {MQTT_RC_MESSAGE_RATE_TOO_HIGH, "message rate too high"},
        {MQTT_RC_QUOTA_EXCEEDED, "quota exceeded"},
        {MQTT_RC_ADMIN_ACTION, "administrative action"},
        {MQTT_RC_PAYLOAD_FORMAT_INVALID, "payload format invalid"},
        {MQTT_RC_RETAIN_NOT_SUPPORTED, "retain not supported"},
        {MQTT_RC_QOS_NOT_SUPPORTED, "QoS not supported"},
        {MQTT_RC_USE_ANOTHER_SERVER, "use another server"},
        {MQTT_RC_SERVER_MOVED, "server moved"},
        {MQTT_RC_SHARED_SUBS_NOT_SUPPORTED, "shared subscriptions not supported"},
        {MQTT_RC_CONNECTION_RATE_EXCEEDED, "connection rate exceeded"},
        {MQTT_RC_MAX_CONNECT_TIME, "maximum connect time"},
        {MQTT_RC_SUB_IDS_NOT_SUPPORTED, "subscription identifiers not supported"},
        {MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED, "wildcard subscriptions not supported"},
};

const char *
mqtt_rc_str(uint8_t rc)
{
	size_t i;

	for (i = 0; i < sizeof(rc_names) / sizeof(rc_names[0]); i++)
		if (rc_names[i].rc == rc)
			return rc_names[i].name;
	return "unknown reason code";
}

static const char *const type_names[] = {
        [MQTT_CONNECT] = "CONNECT",   [MQTT_CONNACK] = "CONNACK",
        [MQTT_PUBLISH] = "PUBLISH",   [MQTT_PUBACK] = "PUBACK",
        [MQTT_PUBREC] = "PUBREC",     [MQTT_PUBREL] = "PUBREL",
        [MQTT_PUBCOMP] = "PUBCOMP",   [MQTT_SUBSCRIBE] = "SUBSCRIBE",
        [MQTT_SUBACK] = "SUBACK",     [MQTT_UNSUBSCRIBE] = "UNSUBSCRIBE",
        [MQTT_UNSUBACK] = "UNSUBACK", [MQTT_PINGREQ] = "PINGREQ",
        [MQTT_PINGRESP] = "PINGRESP", [MQTT_DISCONNECT] = "DISCONNECT",
        [MQTT_AUTH] = "AUTH",
};

const char *
mqtt_type_str(enum mqtt_type type)
{
	if ((unsigned)type >= sizeof(type_names) / sizeof(type_names[0]) ||
	    type_names[type] == NULL)
		return "UNKNOWN";
	return type_names[type];
}
