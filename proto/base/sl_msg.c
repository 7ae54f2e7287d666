#include "sl_msg.h"

#include <string.h>
#include <time.h>

#include "sl_alloc.h"

static struct sl_bytes
place(uint8_t **at, struct sl_bytes src)
{
	struct sl_bytes v = {*at, src.len};

	if (src.len > 0)
		memcpy(*at, src.p, src.len);
	*at += src.len;
	return v;
}

struct sl_msg *
sl_msg_new_from(struct sl_bytes topic, struct sl_bytes props, struct sl_bytes payload,
                struct sl_bytes sender, const struct sl_bytes *user, uint8_t qos, bool retain)
{
	struct sl_bytes none = {NULL, 0}, u = user != NULL ? *user : none;
	size_t n = (size_t)topic.len + props.len + payload.len + sender.len + u.len;
	struct sl_msg *m = sl_malloc(sizeof(*m) + n);
	uint8_t *at;

	if (m == NULL)
		return NULL;
	atomic_init(&m->refs, 1);
	at = m->data;
	m->topic = place(&at, topic);
	m->props = place(&at, props);
	m->payload = place(&at, payload);
	m->sender = place(&at, sender);
	m->sender_user = place(&at, u);
	m->sender_kind = user != NULL ? SL_SENDER_USER : SL_SENDER_ANON;
	m->expiry_at_ms = 0;
	m->qos = qos;
	m->retain = retain;
	m->payload_format = 0;
	return m;
}

struct sl_msg *
sl_msg_new(struct sl_bytes topic, struct sl_bytes props, struct sl_bytes payload,
           struct sl_bytes sender, uint8_t qos, bool retain)
{
	struct sl_msg *m = sl_msg_new_from(topic, props, payload, sender, NULL, qos, retain);

	if (m != NULL)
		m->sender_kind = SL_SENDER_UNKNOWN;
	return m;
}

struct sl_msg *
sl_msg_ref(struct sl_msg *msg)
{
	atomic_fetch_add_explicit(&msg->refs, 1, memory_order_relaxed);
	return msg;
}

void
sl_msg_unref(struct sl_msg *msg)
{
	if (msg == NULL)
		return;
	if (atomic_fetch_sub_explicit(&msg->refs, 1, memory_order_acq_rel) != 1)
		return;
	sl_free(msg);
}

uint32_t
sl_msg_expiry_left(const struct sl_msg *msg, uint64_t now_ms, bool *expired)
{
	*expired = false;
	if (msg->expiry_at_ms == 0)
		return 0;
	if (now_ms >= msg->expiry_at_ms) {
		*expired = true;
		return 0;
	}
	return (uint32_t)((msg->expiry_at_ms - now_ms + 999) / 1000);
}

uint64_t
sl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
