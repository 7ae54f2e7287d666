/* broker/handle_sub.c - SUBSCRIBE and UNSUBSCRIBE. */
#include <string.h>

#include "broker/node.h"
#include "broker/persist.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"
#include "proto/mqtt_topic.h"

/* Keeps in msgs[0, n) the messages s may read, dropping the others' references: retained
 * messages are checked like live deliveries (mosquitto). Returns how many are left. */
static size_t
readable(struct sess *s, struct sl_msg **msgs, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (node_acl(s, msgs[i]->topic, AUTH_READ))
			msgs[k++] = msgs[i];
		else
			sl_msg_unref(msgs[i]);
	}
	return k;
}

void
retq_deliver(struct sess *s, struct sl_msg **msgs, size_t n, uint8_t options, uint32_t sub_id)
{
	if (n == 0) {
		sl_free(msgs);
		return;
	}
	if ((n = readable(s, msgs, n)) == 0) {
		sl_free(msgs);
		return;
	}
	/* Paged out by sess_pump as the connection drains (retq.c). */
	if (retq_add(s, msgs, n, options, sub_id) < 0) {
		for (size_t i = 0; i < n; i++)
			sl_msg_unref(msgs[i]);
		sl_free(msgs);
		return;
	}
	sess_pump(s);
}

/* Whether subscribing s to filter (not one it holds: that replaces) would go over
 * max_subscriptions_per_client. */
static bool
over_quota(const struct sess *s, const char *filter)
{
	uint32_t max = node_conf(s->n)->max_subscriptions_per_client, i;

	if (max == 0 || s->n_subs < max)
		return false;
	for (i = 0; i < s->n_subs; i++)
		if (strcmp(s->subs[i].filter, filter) == 0)
			return false;
	return true;
}

/* Subscribes s to one filter. Returns the granted QoS or a failure reason code; *retained says
 * whether retained messages are due (sent after the SUBACK). */
static uint8_t
subscribe_one(struct sess *s, struct sl_bytes f, uint8_t *options, uint32_t sub_id, bool *retained)
{
	struct sl_bytes group, filter = f;
	char *text;
	uint8_t qos = MQTT_SUBOPT_QOS(*options);
	bool existed = false;
	int shared = mqtt_topic_share_split(f, &group, &filter);

	*retained = false;
	if (shared < 0 || !mqtt_topic_filter_valid(filter))
		return s->version == MQTT_V5 ? MQTT_RC_TOPIC_FILTER_INVALID : 0x80;
	if (limit_topic_too_deep(s->n, filter)) /* max_topic_levels */
		return s->version == MQTT_V5 ? MQTT_RC_TOPIC_FILTER_INVALID : 0x80;
	if (shared > 0 && (*options & MQTT_SUBOPT_NO_LOCAL))
		return MQTT_RC_PROTOCOL_ERROR; /* [MQTT-3.8.3-4] */
	/* The ACL (auth.h): SUBACK 0x87 Not authorized (v5 3.9.3), 0x80 Failure (3.1.1 3.9.3). */
	if (!node_acl(s, filter, AUTH_SUBSCRIBE))
		return s->version == MQTT_V5 ? MQTT_RC_NOT_AUTHORIZED : 0x80;
	if (qos > node_conf(s->n)->max_qos)
		qos = node_conf(s->n)->max_qos;
	*options = (uint8_t)((*options & ~0x03) | qos);
	if ((text = sl_strndup((const char *)f.p, f.len)) == NULL)
		return MQTT_RC_UNSPECIFIED;
	if (over_quota(s, text)) {
		sl_free(text);
		/* v5 3.9.3: 0x97 Quota exceeded; 3.1.1 has only 0x80 Failure. */
		return s->version == MQTT_V5 ? MQTT_RC_QUOTA_EXCEEDED : 0x80;
	}
	if (sess_add_sub(s, text, *options, sub_id, &existed) < 0) {
		sl_free(text);
		return MQTT_RC_UNSPECIFIED;
	}
	persist_sub(s, text, *options, sub_id);
	sl_free(text);
	/* [MQTT-3.3.1-9..11] retain handling; shared subscriptions get no retained messages. */
	*retained = shared == 0 &&
	            (MQTT_SUBOPT_RH(*options) == 0 || (MQTT_SUBOPT_RH(*options) == 1 && !existed));
	return qos;
}

static void
send_suback(struct conn *c, enum mqtt_type type, uint16_t pid, const uint8_t *rcs, uint32_t n)
{
	struct mqtt_pkt ack;

	memset(&ack, 0, sizeof(ack));
	ack.type = type;
	ack.u.suback.packet_id = pid;
	ack.u.suback.count = n;
	ack.u.suback.rcs = rcs;
	conn_send(c, &ack);
}

int
handle_subscribe(struct conn *c, struct mqtt_subscribe *p)
{
	uint8_t rcs[p->count], opts[p->count];
	bool want[p->count];
	struct sl_bytes cur = p->entries, filter;
	uint32_t sub_id = 0, i;
	uint8_t skip; /* options again: opts[] already holds them as granted */
	char *text;

	if (p->props.n_sub_ids > 0)
		sub_id = p->props.sub_ids[0];
	for (i = 0; i < p->count && mqtt_sub_next(&cur, &filter, &opts[i]) == 1; i++) {
		if (c->version != MQTT_V5)
			opts[i] &= 0x03;
		rcs[i] = subscribe_one(c->s, filter, &opts[i], sub_id, &want[i]);
	}
	send_suback(c, MQTT_SUBACK, p->packet_id, rcs, i);
	cur = p->entries;
	for (i = 0; i < p->count && mqtt_sub_next(&cur, &filter, &skip) == 1; i++) {
		if (!want[i] || (text = sl_strndup((const char *)filter.p, filter.len)) == NULL)
			continue;
		retq_match(c->s, text, opts[i], sub_id);
		sl_free(text);
	}
	return 0;
}

int
handle_unsubscribe(struct conn *c, struct mqtt_subscribe *p)
{
	uint8_t rcs[p->count];
	struct sl_bytes cur = p->entries, filter;
	uint32_t i;
	char *text;

	for (i = 0; i < p->count && mqtt_unsub_next(&cur, &filter) == 1; i++) {
		text = sl_strndup((const char *)filter.p, filter.len);
		rcs[i] = text != NULL && sess_remove_sub(c->s, text) == 0
		                 ? MQTT_RC_SUCCESS
		                 : MQTT_RC_NO_SUBSCRIPTION_EXISTED;
		if (rcs[i] == MQTT_RC_SUCCESS)
			persist_unsub(c->s, text);
		sl_free(text);
	}
	send_suback(c, MQTT_UNSUBACK, p->packet_id, rcs, i);
	return 0;
}
