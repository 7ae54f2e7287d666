/* proto/base/sl_msg.h - an application message as published: topic, forwardable v5 properties,
 * payload. Immutable once created; shared by reference between subscribers, worker loops, the
 * store and cluster links (atomic refcount). To change one, copy it. */
#ifndef SL_MSG_H
#define SL_MSG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sl_buf.h"

struct sl_msg {
	atomic_uint refs;
	struct sl_bytes topic;
	/* Encoded v5 PUBLISH properties forwarded unchanged: payload format, content type,
	 * response topic, correlation data, user properties. Message expiry, topic alias and
	 * subscription identifiers are per delivery and are not in here. */
	struct sl_bytes props;
	struct sl_bytes payload;
	struct sl_bytes sender;      /* publisher's client id (for no-local); may be empty */
	struct sl_bytes sender_user; /* publisher's user name, when sender_kind is SL_SENDER_USER */
	uint64_t expiry_at_ms;       /* wall-clock ms since the epoch when it expires; 0 = never */
	uint8_t qos;                 /* QoS as published */
	bool retain;                 /* RETAIN flag as published */
	uint8_t payload_format;      /* 0 unspecified bytes, 1 UTF-8 (v5 property 0x01) */
	uint8_t sender_kind;         /* enum sl_sender: who published it, for check_retain_source */
	uint8_t data[];              /* topic, props, payload, sender and its user live here */
};

/* What is known of a message's publisher besides its client id. */
enum sl_sender {
	SL_SENDER_UNKNOWN, /* the broker's own ($SYS), or read back from an older store */
	SL_SENDER_ANON,    /* a client without a user name */
	SL_SENDER_USER,    /* a client with the user name sender_user */
};

/* Returns a new message (refs = 1) holding copies of topic, props, payload and sender, or NULL
 * on allocation failure. Borrows every view. Its sender kind is SL_SENDER_UNKNOWN. */
struct sl_msg *sl_msg_new(struct sl_bytes topic, struct sl_bytes props, struct sl_bytes payload,
                          struct sl_bytes sender, uint8_t qos, bool retain);
/* The same for a message a client published: user is its user name (copied), NULL when it
 * has none (SL_SENDER_ANON). */
struct sl_msg *sl_msg_new_from(struct sl_bytes topic, struct sl_bytes props,
                               struct sl_bytes payload, struct sl_bytes sender,
                               const struct sl_bytes *user, uint8_t qos, bool retain);

/* Returns msg with one more reference. Safe from any thread. */
struct sl_msg *sl_msg_ref(struct sl_msg *msg);
/* Drops one reference; frees at zero. NULL is a no-op. Safe from any thread. */
void sl_msg_unref(struct sl_msg *msg);

/* Remaining expiry in seconds at now_ms, rounded up; 0 if none set. *expired set when past. */
uint32_t sl_msg_expiry_left(const struct sl_msg *msg, uint64_t now_ms, bool *expired);

/* Wall clock in ms since the epoch. */
uint64_t sl_now_ms(void);

#endif
