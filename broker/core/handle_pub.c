/* broker/core/handle_pub.c - PUBLISH from a client and the acknowledgement flows both ways. */
#include <stdlib.h>
#include <string.h>

#include "broker/conf/conf.h"
#include "broker/core/access.h"
#include "broker/core/conn.h"
#include "broker/core/handle.h"
#include "broker/core/limit.h"
#include "broker/core/mount.h"
#include "broker/core/persist.h"
#include "broker/core/route.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "broker/index/retain.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"
#include "proto/mqtt_topic.h"

/* Resolves the v5 topic alias of p into its topic. Returns 0 or a reason code. */
static uint8_t
resolve_alias(struct conn *c, struct mqtt_publish *p)
{
	uint16_t a;
	char *t;

	if (!(p->props.present & MQTT_PB(MQTT_PROP_TOPIC_ALIAS)))
		return p->topic.len == 0 ? MQTT_RC_PROTOCOL_ERROR : 0;
	a = p->props.topic_alias;
	if (a == 0 || a > c->n_aliases)
		return MQTT_RC_TOPIC_ALIAS_INVALID; /* [MQTT-3.3.2-9/10] */
	if (p->topic.len == 0) {
		if (c->aliases == NULL || c->aliases[a] == NULL)
			return MQTT_RC_PROTOCOL_ERROR; /* [MQTT-3.3.4-?] alias never set */
		p->topic = sl_bytes_make(c->aliases[a], (uint32_t)strlen(c->aliases[a]));
		return 0;
	}
	if (c->aliases == NULL &&
	    (c->aliases = sl_calloc((size_t)c->n_aliases + 1, sizeof(char *))) == NULL)
		return MQTT_RC_UNSPECIFIED;
	t = sl_strndup((const char *)p->topic.p, p->topic.len);
	if (t == NULL)
		return MQTT_RC_UNSPECIFIED;
	sl_free(c->aliases[a]);
	c->aliases[a] = t;
	return 0;
}

/* Checks p against the broker's limits. Returns 0 or a v5 reason code that closes. */
static uint8_t
check_publish(struct conn *c, struct mqtt_publish *p)
{
	const struct conf *cf = worker_conf(c->w);
	uint8_t rc;

	if (c->version == MQTT_V5 && (rc = resolve_alias(c, p)) != 0)
		return rc;
	if (!mqtt_topic_name_valid(p->topic))
		return MQTT_RC_TOPIC_NAME_INVALID;
	/* v5 3.14.2.1: 0x90 "correctly formed, but not accepted by this Server". */
	if (limit_topic_too_deep(c->w, p->topic))
		return MQTT_RC_TOPIC_NAME_INVALID;
	if (p->qos > cf->max_qos)
		return MQTT_RC_QOS_NOT_SUPPORTED; /* [MQTT-3.2.2-11] */
	if (p->retain && !cf->retain_available)
		return MQTT_RC_RETAIN_NOT_SUPPORTED; /* [MQTT-3.2.2-14] */
	return 0;
}

static struct sl_msg *
make_msg(struct conn *c, const struct mqtt_publish *p)
{
	struct sl_bytes user;
	uint8_t *props = NULL;
	uint32_t np = 0;
	struct sl_msg *m;
	const char *cid = c->s->client_id;

	if (c->version == MQTT_V5 && p->props.raw.len > 0) {
		props = sl_malloc(p->props.raw.len);
		if (props == NULL)
			return NULL;
		np = mqtt_props_filter(p->props.raw, HANDLE_FORWARD_PROPS, props);
	}
	m = sl_msg_new_from(p->topic, sl_bytes_make(props, np), p->payload,
	                    sl_bytes_make(cid, (uint32_t)strlen(cid)),
	                    access_sender_user(c->s, &user), p->qos, p->retain);
	sl_free(props);
	if (m == NULL)
		return NULL;
	m->payload_format = p->props.payload_format;
	if (p->props.present & MQTT_PB(MQTT_PROP_MESSAGE_EXPIRY))
		m->expiry_at_ms = sl_now_ms() + (uint64_t)p->props.message_expiry * 1000u;
	return m;
}

/* Routes an accepted PUBLISH. Returns the v5 reason code for its acknowledgement; *leg is
 * set when the acknowledgement waits for the store (it is then owed, not sent). */
static uint8_t
accept_publish(struct conn *c, const struct mqtt_publish *p, uint8_t ack, struct ack_leg **leg)
{
	const struct conf *cf = worker_conf(c->w);
	struct sl_msg *m;
	uint8_t rc;

	if (cf->message_size_limit > 0 && p->payload.len > cf->message_size_limit)
		/* Dropped, as mosquitto does; v5 says why, with a code a PUBACK/PUBREC may carry
		 * (v5 3.4.2.1: 0x95 may not, and a client waiting for its ack would hang). */
		return MQTT_RC_QUOTA_EXCEEDED;
	if (cf->payload_format_validation && p->props.payload_format == 1 &&
	    !mqtt_utf8_valid(p->payload.p, p->payload.len))
		return MQTT_RC_PAYLOAD_FORMAT_INVALID; /* [MQTT-3.3.2-4] may refuse */
	if (p->topic.len > 0 && p->topic.p[0] == '$')
		/* Clients may not publish into $SYS and the like: acked, dropped. */
		return p->qos == 2 && sess_rx_add(c->s, p->packet_id) < 0 ? MQTT_RC_UNSPECIFIED : 0;
	if (!access_acl(c->s, p->topic, AUTH_WRITE)) {
		LOG_DEBUG("pub", "denied PUBLISH from '%s' to '%.*s'", c->s->client_id,
		          (int)p->topic.len, (const char *)p->topic.p);
		if (c->version == MQTT_V5)
			return MQTT_RC_NOT_AUTHORIZED; /* v5 3.4.2.1: the flow ends here */
		/* [MQTT-3.3.5-2] (3.1.1) no way to say why: acknowledged as usual, dropped. */
		return p->qos == 2 && sess_rx_add(c->s, p->packet_id) < 0 ? MQTT_RC_UNSPECIFIED : 0;
	}
	if ((m = make_msg(c, p)) == NULL)
		return MQTT_RC_UNSPECIFIED;
	if (p->qos == 2 && sess_rx_add(c->s, p->packet_id) < 0) {
		sl_msg_unref(m);
		return MQTT_RC_UNSPECIFIED;
	}
	if (p->retain)
		route_retain(c->w, m);
	if (ack != 0 && persist_ack_needed(c->s, m))
		*leg = persist_ack_begin(c->s, p->packet_id, ack);
	/* v5: 0x10 No matching subscribers when nobody can get it (v5 3.4.2.1), as mosquitto
	 * answers; a success code all the same (below 0x80), so the flow goes on. */
	rc = route_publish(c->w, m, *leg) == 0 && c->version == MQTT_V5
	             ? MQTT_RC_NO_MATCHING_SUBSCRIBERS
	             : 0;
	if (*leg != NULL && rc != 0)
		persist_ack_set_rc(*leg, rc);
	sl_msg_unref(m);
	return rc;
}

int
handle_publish(struct conn *c, struct mqtt_publish *p)
{
	struct ack_leg *leg = NULL;
	struct sess *s = c->s;
	int max_rx =
	        worker_conf(c->w)->max_inflight_messages; /* one read: a reload may change it */
	uint8_t rc, ack;

	c->w->st.msgs_received++;
	limit_publish_charge(c, p); /* may pause reading: this one is still handled */
	if ((rc = check_publish(c, p)) != 0) {
		conn_disconnect(c, rc);
		return -1;
	}
	if (p->qos == 2 && sess_rx_has(s, p->packet_id)) {
		persist_ack_now(s, p->packet_id, MQTT_PUBREC, 0); /* a resend: delivered already */
		return 0;
	}
	if (p->qos == 2 && max_rx > 0 && s->ext != NULL && s->ext->n_rx_qos2 >= (uint32_t)max_rx &&
	    c->version == MQTT_V5) {
		conn_disconnect(c, MQTT_RC_RECEIVE_MAX_EXCEEDED); /* [MQTT-3.3.4-9] */
		return -1;
	}
	ack = p->qos == 1 ? MQTT_PUBACK : p->qos == 2 ? MQTT_PUBREC : 0;
	if (limit_publish_refused(c, p)) {
		/* Above 1.25 x memory_limit: QoS 0 is dropped, v5 QoS 1/2 refused with 0x97 Quota
		 * exceeded (a failed PUBREC ends the flow). v3 cannot refuse a PUBLISH: the
		 * connection closes unacknowledged, and the client sends it again on reconnect. */
		if (ack != 0 && c->version != MQTT_V5) {
			conn_disconnect(c, MQTT_RC_QUOTA_EXCEEDED);
			return -1;
		}
		if (ack != 0)
			persist_ack_now(s, p->packet_id, ack, MQTT_RC_QUOTA_EXCEEDED);
		return 0;
	}
	/* mount_point: the topic as the rest of the broker knows it. */
	rc = mount_in(c, &p->topic) == 0 ? accept_publish(c, p, ack, &leg) : MQTT_RC_UNSPECIFIED;
	/* With a leg the acknowledgement is owed until the store has the message. */
	if (ack != 0 && leg == NULL)
		persist_ack_now(s, p->packet_id, ack, rc);
	return 0;
}

static void
on_pubrec(struct conn *c, uint16_t pid, uint8_t rc)
{
	struct dlv *d = sess_inflight_find(c->s, pid, DLV_WAIT_PUBREC);

	if (d == NULL)
		return;
	if (rc >= 0x80) { /* a failing PUBREC ends the flow */
		sess_inflight_done(c->s, pid, DLV_WAIT_PUBREC);
		return;
	}
	sess_inflight_released(c->s, d);
	conn_send_ack(c, MQTT_PUBREL, pid, 0);
}

int
handle_ack(struct conn *c, struct mqtt_pkt *pkt)
{
	uint16_t pid = pkt->u.ack.packet_id;

	switch (pkt->type) {
	case MQTT_PUBACK:
		sess_inflight_done(c->s, pid, DLV_WAIT_PUBACK);
		break;
	case MQTT_PUBREC:
		on_pubrec(c, pid, pkt->u.ack.rc);
		break;
	case MQTT_PUBCOMP:
		sess_inflight_done(c->s, pid, DLV_WAIT_PUBCOMP);
		break;
	default: /* PUBREL */
		conn_send_ack(c, MQTT_PUBCOMP, pid,
		              sess_rx_remove(c->s, pid) ? 0 : MQTT_RC_PACKET_ID_NOT_FOUND);
		return 0;
	}
	sess_pump(c->s);
	return 0;
}
