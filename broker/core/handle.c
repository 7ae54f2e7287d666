/* broker/core/handle.c - dispatch of decoded packets, and CONNECT. */
#include <stdio.h>
#include <string.h>

#include "broker/conf/conf.h"
#include "broker/core/access.h"
#include "broker/core/conn.h"
#include "broker/core/handle.h"
#include "broker/core/limit.h"
#include "broker/core/mount.h"
#include "broker/core/owner.h"
#include "broker/core/persist.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "broker/core/xport.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"
#include "proto/mqtt_topic.h"
#include "storage/store.h"

int
handle_packet(struct conn *c, struct mqtt_pkt *pkt)
{
	if (!c->connected && conn_auth(c) != NULL)
		return handle_auth_pending(c, pkt); /* CONNECT waits for its AUTH exchange */
	if (!c->connected && pkt->type != MQTT_CONNECT) {
		/* [MQTT-3.1.0-1] the first packet must be CONNECT. */
		conn_close(c, false);
		return -1;
	}
	switch (pkt->type) {
	case MQTT_CONNECT:
		if (c->connected) {
			/* [MQTT-3.1.0-2] a second CONNECT is a protocol error. */
			conn_disconnect(c, MQTT_RC_PROTOCOL_ERROR);
			return -1;
		}
		return handle_connect(c, &pkt->u.connect);
	case MQTT_PUBLISH:
		return handle_publish(c, &pkt->u.publish);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		return handle_ack(c, pkt);
	case MQTT_SUBSCRIBE:
		return handle_subscribe(c, &pkt->u.subscribe);
	case MQTT_UNSUBSCRIBE:
		return handle_unsubscribe(c, &pkt->u.subscribe);
	case MQTT_PINGREQ:
		conn_send_raw(c, "\xd0\x00", 2);
		return 0;
	case MQTT_AUTH:
		return handle_auth(c, &pkt->u.reason);
	case MQTT_DISCONNECT:
		/* [MQTT-3.14.4-3] a normal DISCONNECT discards the will; v5 0x04 keeps it. */
		c->will_ok = pkt->u.reason.rc != MQTT_RC_DISCONNECT_WITH_WILL;
		if (c->version == MQTT_V5 && c->s != NULL &&
		    (pkt->u.reason.props.present & MQTT_PB(MQTT_PROP_SESSION_EXPIRY))) {
			if (c->s->expiry == 0 && pkt->u.reason.props.session_expiry != 0) {
				/* [MQTT-3.14.2-2] cannot go from 0 to non-zero. */
				c->will_ok = false;
				conn_disconnect(c, MQTT_RC_PROTOCOL_ERROR);
				return -1;
			}
			c->s->expiry = pkt->u.reason.props.session_expiry;
		}
		conn_close(c, true);
		return -1;
	default:
		/* Server-to-client packets (CONNACK, SUBACK, ...). */
		conn_disconnect(c, MQTT_RC_PROTOCOL_ERROR);
		return -1;
	}
}

/* A v3 refusal that closes without any CONNACK ([MQTT-3.2.2-6]: 3.1.1 has no return code for
 * what the server cannot accept in the will). */
#define V3_CLOSE 0xFF

/* Availabilities stated though absent means the same (connack_props()): the first to go when
 * a CONNACK must shrink. */
static void
drop_defaults(struct mqtt_props *ap)
{
	uint64_t drop = MQTT_PB(MQTT_PROP_WILDCARD_SUB_AVAILABLE) |
	                MQTT_PB(MQTT_PROP_SUB_ID_AVAILABLE) |
	                MQTT_PB(MQTT_PROP_SHARED_SUB_AVAILABLE);

	if (ap->retain_available)
		drop |= MQTT_PB(MQTT_PROP_RETAIN_AVAILABLE);
	if (ap->receive_max == 65535)
		drop |= MQTT_PB(MQTT_PROP_RECEIVE_MAX);
	if (ap->topic_alias_max == 0)
		drop |= MQTT_PB(MQTT_PROP_TOPIC_ALIAS_MAX);
	ap->present &= ~drop;
}

/* Whether pkt fits the client's Maximum Packet Size ([MQTT-3.1.2-24]: the server must not send
 * a larger packet), once the optional properties are dropped if need be. */
static bool
connack_fits(const struct conn *c, struct mqtt_pkt *pkt)
{
	struct sl_buf b = SL_BUF_INIT;
	bool fits;

	if (c->version != MQTT_V5 || c->max_packet_out == 0)
		return true;
	for (int pass = 0;; pass++) {
		b.len = 0;
		fits = mqtt_encode(&b, c->version, pkt) == 0 && b.len <= c->max_packet_out;
		if (fits || pass == 1)
			break;
		drop_defaults(&pkt->u.connack.props);
	}
	sl_buf_fini(&b);
	return fits;
}

/* Whether a successful CONNACK with *ap fits the client's Maximum Packet Size, trimming ap if
 * need be. If not, closes c. */
static bool
connack_room(struct conn *c, struct mqtt_props *ap)
{
	struct mqtt_pkt pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_CONNACK;
	pkt.u.connack.props = *ap;
	if (connack_fits(c, &pkt)) {
		*ap = pkt.u.connack.props;
		return true;
	}
	LOG_NOTICE("conn", "client from %s: maximum packet size %u is below a CONNACK, closing",
	           conn_peer(c), c->max_packet_out);
	conn_close(c, false);
	return false;
}

/* Sends a CONNACK; props: v5 properties, NULL for none. Returns 0, or -1 when the client's
 * Maximum Packet Size does not allow even the bare CONNACK (then c closes without one). */
static int
send_connack(struct conn *c, bool present, uint8_t rc, const struct mqtt_props *props)
{
	struct mqtt_pkt pkt;

	memset(&pkt, 0, sizeof(pkt));
	if (props != NULL)
		pkt.u.connack.props = *props;
	if (!connack_room(c, &pkt.u.connack.props))
		return -1;
	pkt.type = MQTT_CONNACK;
	/* MQTT 3.1 has no session present flag: that byte is reserved there. */
	pkt.u.connack.session_present = present && c->version != MQTT_V31;
	pkt.u.connack.rc = rc;
	conn_send(c, &pkt);
	return 0;
}

/* Refuses a CONNECT: v5 reason code or v3 return code, then close. A v3 code of V3_CLOSE
 * closes without a CONNACK. */
static int
refuse(struct conn *c, uint8_t v5rc, uint8_t v3rc)
{
	if (c->version != MQTT_V5 && v3rc == V3_CLOSE) {
		conn_close(c, false);
		return -1;
	}
	if (send_connack(c, false, c->version == MQTT_V5 ? v5rc : v3rc, NULL) == 0)
		conn_close(c, true);
	return -1;
}

static struct sl_msg *
make_will(struct conn *c, const struct mqtt_connect *p)
{
	uint8_t *props = NULL; /* the will's properties may be as large as the packet: heap */
	struct sl_bytes user, topic;
	uint32_t np = 0;
	struct sl_msg *m;

	if (c->version == MQTT_V5 && p->will_props.raw.len > 0) {
		if ((props = sl_malloc(p->will_props.raw.len)) == NULL)
			return NULL;
		np = mqtt_props_filter(p->will_props.raw, HANDLE_FORWARD_PROPS, props);
	}
	topic = p->will_topic;
	if (mount_in(c, &topic) < 0) {
		sl_free(props);
		return NULL;
	}
	m = sl_msg_new_from(topic, sl_bytes_make(props, np), p->will_payload, p->client_id,
	                    access_sender_user(c->s, &user), p->will_qos, p->will_retain);
	sl_free(props); /* sl_msg_new_from copied what it keeps */
	if (m != NULL)
		m->payload_format = p->will_props.payload_format;
	return m;
}

/* Picks a client id for an empty one; also the v5 Assigned Client Identifier. */
static void
assign_id(struct conn *c, char *out, size_t len)
{
	struct worker *w = c->w;
	uint32_t owner;

	/* Registered to this worker (owner.h): a later reconnect with it must land on this
	 * session. Unique by the start time, worker and count; a taken one (a client chose it)
	 * is skipped. */
	do {
		w->id_counter++;
		snprintf(out, len, "%s%llx-%x-%llx", worker_conf(w)->auto_id_prefix,
		         (unsigned long long)w->b->started_ms, w->idx,
		         (unsigned long long)w->id_counter);
	} while (w->b->owners != NULL &&
	         owner_claim(w->b->owners, out, strlen(out), w->idx, &owner) == 0);
}

static uint32_t
session_expiry(struct conn *c, const struct mqtt_connect *p)
{
	int64_t pce = worker_conf(c->w)->persistent_client_expiration;

	if (c->version == MQTT_V5)
		return (p->props.present & MQTT_PB(MQTT_PROP_SESSION_EXPIRY))
		               ? p->props.session_expiry
		               : 0;
	if (p->clean_start)
		return 0;
	return pce < 0 ? UINT32_MAX : (uint32_t)(pce > UINT32_MAX - 1 ? UINT32_MAX - 1 : pce);
}

static void
takeover(struct sess *s)
{
	struct conn *old = s->conn;

	/* Detach first: closing the old connection must not end the session it hands over. */
	old->s = NULL;
	s->conn = NULL;
	atomic_store(&s->online, false);
	/* The old connection ends without DISCONNECT: its will goes out now unless delayed, and a
	 * delayed will is cancelled by this very reconnect [MQTT-3.1.3-9]. */
	if (s->ext != NULL && s->ext->will != NULL && s->ext->will_delay == 0)
		sess_publish_will(s);
	/* [MQTT-3.1.4-3] the existing connection is closed; v5 says why. */
	conn_disconnect(old, MQTT_RC_SESSION_TAKEN_OVER);
}

/* Checks the will of a CONNECT against what this broker allows. Returns 0 or a v5 rc, with
 * the v3 answer in *v3rc. */
static uint8_t
check_will(struct conn *c, const struct mqtt_connect *p, uint8_t *v3rc)
{
	uint32_t limit = worker_conf(c->w)->message_size_limit;

	if (!p->will_flag)
		return 0;
	/* A will is a message like any other: message_size_limit holds (mosquitto: CONNACK 5 /
	 * 0x95). */
	if (limit > 0 && p->will_payload.len > limit) {
		*v3rc = MQTT_V3_NOT_AUTHORIZED;
		return MQTT_RC_PACKET_TOO_LARGE;
	}
	/* 3.1.1 has no return code for these: [MQTT-3.2.2-6] close without a CONNACK, rather
	 * than "server unavailable" that clients retry for ever. */
	*v3rc = V3_CLOSE;
	if (!mqtt_topic_name_valid(p->will_topic) || limit_topic_too_deep(c->w, p->will_topic))
		return MQTT_RC_TOPIC_NAME_INVALID;
	if (p->will_qos > worker_conf(c->w)->max_qos)
		return MQTT_RC_QOS_NOT_SUPPORTED; /* [MQTT-3.2.2-12] */
	if (p->will_retain && !worker_conf(c->w)->retain_available)
		return MQTT_RC_RETAIN_NOT_SUPPORTED; /* [MQTT-3.2.2-13] */
	return 0;
}

static uint8_t
check_client(struct conn *c, const struct mqtt_connect *p, uint8_t *v3rc)
{
	const struct conf *cf = worker_conf(c->w);
	uint8_t rc;

	if (limit_connect_refused(c)) { /* above memory_limit: before the cost of auth */
		*v3rc = MQTT_V3_SERVER_UNAVAILABLE;
		return MQTT_RC_SERVER_BUSY;
	}
	if (p->client_id.len == 0 && (!cf->allow_zero_length_clientid || c->version == MQTT_V31 ||
	                              (c->version == MQTT_V311 && !p->clean_start))) {
		/* [MQTT-3.1.3-8] an empty id needs clean session in 3.1.1. */
		*v3rc = MQTT_V3_ID_REJECTED;
		return MQTT_RC_CLIENT_ID_INVALID;
	}
	/* [MQTT-3.1.4-2] authentication: CONNACK 0x86 / 0x87 (v5 3.2.2.2), return code 4 / 5
	 * (3.1.1 3.2.2.3), then close [MQTT-3.2.2-7] (3.1.1: [MQTT-3.2.2-5]). With an
	 * Authentication Method the AUTH exchange decides instead (handle_auth.c). */
	if (!(p->props.present & MQTT_PB(MQTT_PROP_AUTH_METHOD)) &&
	    !worker_conf(c->w)->listeners[c->listener].use_identity_as_username &&
	    (rc = access_connect(c->w, c->listener, p, v3rc)) != 0) {
		LOG_NOTICE("conn", "client from %s refused: %s", conn_peer(c),
		           rc == MQTT_RC_NOT_AUTHORIZED ? "not authorised"
		                                        : "bad user name or password");
		return rc;
	}
	return check_will(c, p, v3rc);
}

static struct sess *
open_session(struct conn *c, const struct mqtt_connect *p, const struct sl_bytes *user,
             const char *cid, bool *present)
{
	struct sess *s = sess_find(c->w, cid);

	*present = false;
	if (s != NULL && s->conn == NULL && s->expire_at != 0 &&
	    uv_now(c->w->loop) >= s->expire_at) {
		/* Expired before the next tick noticed (e.g. while the broker was down). */
		if (s->ext != NULL && s->ext->will_at != 0)
			sess_publish_will(s);
		persist_sess_del(s);
		sess_free(s);
		s = NULL;
	}
	if (s != NULL && s->conn != NULL)
		takeover(s);
	/* [MQTT-3.1.2-6] (v5 3.1.2.11.2: expiry 0) a clean session ended with the connection just
	 * taken over: the new one starts empty, and the ended session's will is due now. */
	if (s != NULL && s->expiry == 0) {
		if (s->ext != NULL && s->ext->will != NULL)
			sess_publish_will(s);
		persist_sess_del(s);
		sess_free(s);
		s = NULL;
	}
	/* Not resumed under another user name: its subscriptions and queue were authorised for
	 * the other one. */
	if (s != NULL && (p->clean_start || !access_same_user(s, user))) {
		persist_sess_del(s);
		sess_free(s);
		s = NULL;
	}
	if (s != NULL) {
		*present = true;
		s->expire_at = 0;
		if (s->ext != NULL) { /* a reconnect cancels a pending will [MQTT-3.1.3-9] */
			s->ext->will_at = 0;
			sl_msg_unref(s->ext->will);
			s->ext->will = NULL;
		}
		persist_will(s, false);
		return s;
	}
	return sess_new(c->w, cid);
}

static void
connack_props(struct conn *c, const struct mqtt_connect *p, struct mqtt_props *ap,
              const char *assigned, uint16_t ska, struct sl_bytes auth_data)
{
	const struct conf *cf = worker_conf(c->w);

	memset(ap, 0, sizeof(*ap));
	/* Availability is said outright, though absent means available: clients and
	 * operators reading a CONNACK should not have to know the defaults. */
	ap->present = MQTT_PB(MQTT_PROP_RECEIVE_MAX) | MQTT_PB(MQTT_PROP_TOPIC_ALIAS_MAX) |
	              MQTT_PB(MQTT_PROP_RETAIN_AVAILABLE) |
	              MQTT_PB(MQTT_PROP_WILDCARD_SUB_AVAILABLE) |
	              MQTT_PB(MQTT_PROP_SUB_ID_AVAILABLE) | MQTT_PB(MQTT_PROP_SHARED_SUB_AVAILABLE);
	ap->retain_available = cf->retain_available;
	ap->wildcard_available = 1;
	ap->sub_id_available = 1;
	ap->shared_available = 1;
	ap->receive_max =
	        cf->max_inflight_messages > 0 ? (uint16_t)cf->max_inflight_messages : 65535;
	ap->topic_alias_max = cf->max_topic_alias;
	if (cf->max_qos < 2) {
		ap->present |= MQTT_PB(MQTT_PROP_MAX_QOS);
		ap->max_qos = cf->max_qos;
	}
	if (cf->max_packet_size > 0) {
		ap->present |= MQTT_PB(MQTT_PROP_MAX_PACKET_SIZE);
		ap->max_packet_size = cf->max_packet_size;
	}
	if (assigned != NULL) {
		ap->present |= MQTT_PB(MQTT_PROP_ASSIGNED_CLIENT_ID);
		ap->assigned_client_id = sl_bytes_make(assigned, (uint32_t)strlen(assigned));
	}
	if (ska != c->keepalive || (c->keepalive == 0 && ska != 0)) {
		ap->present |= MQTT_PB(MQTT_PROP_SERVER_KEEP_ALIVE);
		ap->server_keep_alive = ska;
	}
	if (p->props.present & MQTT_PB(MQTT_PROP_AUTH_METHOD)) {
		/* [MQTT-4.12.0-5] a successful CONNACK names the CONNECT's method, and only then
		 * [MQTT-4.12.0-6]; its data is SCRAM's server-final-message, for the client to
		 * check the server. */
		ap->present |= MQTT_PB(MQTT_PROP_AUTH_METHOD) | MQTT_PB(MQTT_PROP_AUTH_DATA);
		ap->auth_method = p->props.auth_method;
		ap->auth_data = auth_data;
	}
}

static void
apply_client_props(struct conn *c, const struct mqtt_connect *p)
{
	const struct mqtt_props *pp = &p->props;

	c->send_quota = (pp->present & MQTT_PB(MQTT_PROP_RECEIVE_MAX)) ? pp->receive_max : 65535;
	if ((pp->present & MQTT_PB(MQTT_PROP_TOPIC_ALIAS_MAX)) && pp->topic_alias_max > 0) {
		c->out_alias_max =
		        pp->topic_alias_max < OUT_ALIAS_CAP ? pp->topic_alias_max : OUT_ALIAS_CAP;
		c->out_alias = sl_calloc(c->out_alias_max, sizeof(*c->out_alias));
		if (c->out_alias == NULL)
			c->out_alias_max = 0;
	}
	/* The table itself is made by the first PUBLISH that sets an alias (handle_pub.c):
	 * most clients never use one. */
	if (c->version == MQTT_V5)
		c->n_aliases = worker_conf(c->w)->max_topic_alias;
}

/* s->ext is there when p has a will (handle_connect_accept()). */
static void
set_will(struct conn *c, struct sess *s, const struct mqtt_connect *p)
{
	struct sess_x *x = s->ext;

	if (x != NULL) {
		sl_msg_unref(x->will);
		x->will = NULL;
		x->will_delay = 0;
	}
	if (!p->will_flag)
		return;
	x->will = make_will(c, p);
	if (p->will_props.present & MQTT_PB(MQTT_PROP_WILL_DELAY))
		x->will_delay = p->will_props.will_delay;
	/* Message expiry counts from when the will is published, not from CONNECT. */
	x->will_expiry = (p->will_props.present & MQTT_PB(MQTT_PROP_MESSAGE_EXPIRY))
	                         ? p->will_props.message_expiry
	                         : 0;
}

/* use_identity_as_username (mosquitto): the client certificate's subject CN is the user name,
 * for the ACL and the session's owner; the CONNECT's user name and password are ignored and no
 * password is checked, as the certificate was (by our TLS handshake, or by the proxy that
 * terminated TLS: PROXY v2 PP2_SUBTYPE_SSL_CN). Without one the client is refused as having a
 * bad user name or password (mosquitto's answer). Returns 0, or the v5 reason to refuse. */
static uint8_t
use_identity(struct conn *c, struct mqtt_connect *p, uint8_t *v3rc)
{
	const char *id = c->x != NULL ? xport_identity(c->x) : NULL;

	if (!worker_conf(c->w)->listeners[c->listener].use_identity_as_username)
		return 0;
	*v3rc = MQTT_V3_BAD_USERNAME_PASSWORD;
	if (id == NULL) {
		LOG_NOTICE("conn", "client from %s refused: no verified certificate", conn_peer(c));
		return MQTT_RC_BAD_USERNAME_PASSWORD;
	}
	if (p->props.present & MQTT_PB(MQTT_PROP_AUTH_METHOD))
		return MQTT_RC_BAD_AUTH_METHOD; /* the certificate is the authentication */
	p->has_username = true;
	p->username = sl_bytes_make(id, (uint32_t)strlen(id)); /* lives as long as c */
	p->has_password = false;
	p->password = sl_bytes_make(NULL, 0);
	return 0;
}

int
handle_connect(struct conn *c, struct mqtt_connect *p)
{
	uint8_t rc, v3rc;

	c->version = p->version;
	/* Known before any answer: a refusal's CONNACK must fit it too. */
	c->max_packet_out = (p->props.present & MQTT_PB(MQTT_PROP_MAX_PACKET_SIZE))
	                            ? p->props.max_packet_size
	                            : 0;
	if ((rc = use_identity(c, p, &v3rc)) != 0 || (rc = check_client(c, p, &v3rc)) != 0)
		return refuse(c, rc, v3rc);
	/* v5 enhanced authentication: the session opens only once the exchange succeeds. */
	if (p->props.present & MQTT_PB(MQTT_PROP_AUTH_METHOD))
		return handle_auth_begin(c, p);
	return handle_connect_accept(c, p, p->has_username ? &p->username : NULL,
	                             sl_bytes_make(NULL, 0));
}

/* Why s cannot become a stored session now, or NULL: the store cannot take a new one
 * (database away or its backlog full), or there is no memory for its delivery numbers
 * (sess_x()). Say so rather than promise what a restart would lose. */
static const char *
unstorable(struct conn *c, struct sess *s, const struct mqtt_connect *p)
{
	struct store *st = c->w->b->store;

	if (session_expiry(c, p) == 0 || s->stored || c->w->sh == NULL || !store_durable(st))
		return NULL;
	if (!store_ok(st))
		return "store unavailable";
	return sess_x(s) == NULL ? "out of memory" : NULL;
}

/* handle_connect_accept() for client id cid (the CONNECT's, or assigned when it had none). */
static int
accept_as(struct conn *c, struct mqtt_connect *p, const struct sl_bytes *user,
          struct sl_bytes auth_data, const char *cid)
{
	const struct conf *cf = worker_conf(c->w);
	struct mqtt_props ap;
	const char *why;
	uint16_t ska;
	bool present;
	struct sess *s;

	c->keepalive = p->keep_alive;
	ska = p->keep_alive;
	if (c->version == MQTT_V5 && cf->max_keepalive > 0 && (ska == 0 || ska > cf->max_keepalive))
		ska = cf->max_keepalive; /* [MQTT-3.2.2-21] the client must use ours */
	connack_props(c, p, &ap, p->client_id.len ? NULL : cid, ska, auth_data);
	if (!connack_room(c, &ap))
		return -1; /* before the session opens: no will of a client never connected */
	if ((s = open_session(c, p, user, cid, &present)) == NULL || access_set_user(s, user) < 0 ||
	    ((p->will_flag || cf->per_listener_settings) && sess_x(s) == NULL)) {
		if (s != NULL && !present)
			sess_free(s);
		return refuse(c, MQTT_RC_SERVER_UNAVAILABLE, MQTT_V3_SERVER_UNAVAILABLE);
	}
	if ((why = unstorable(c, s, p)) != NULL) {
		LOG_WARN("store", "refusing persistent session '%s': %s", s->client_id, why);
		if (!present)
			sess_free(s);
		return refuse(c, MQTT_RC_SERVER_UNAVAILABLE, MQTT_V3_SERVER_UNAVAILABLE);
	}
	if (cf->per_listener_settings) /* its listener's rules from now on (access.c) */
		s->ext->listener = (uint16_t)c->listener;
	s->conn = c;
	atomic_store(&s->online, true);
	c->s = s;
	s->version = c->version;
	s->expiry = session_expiry(c, p);
	persist_sess(s);
	set_will(c, s, p);
	apply_client_props(c, p);
	c->connected = true;
	conn_claim_end(c); /* its session holds the id now */
	c->w->st.clients_connected++;
	c->w->st.clients_total++;
	c->keepalive = ska;
	send_connack(c, present, 0, &ap); /* fits: connack_room() trimmed ap */
	if (cf->connection_messages)
		LOG_NOTICE("conn", "new client connected from %s as '%s' (p%u, c%u, k%u)",
		           conn_peer(c), s->client_id, c->version, p->clean_start, c->keepalive);
	if (present)
		sess_resend(s);
	sess_pump(s);
	return 0;
}

int
handle_connect_accept(struct conn *c, struct mqtt_connect *p, const struct sl_bytes *user,
                      struct sl_bytes auth_data)
{
	char idbuf[96], *cid = idbuf; /* a client id is up to 64 KB: on the heap */
	int rc;

	/* A fenced node serves nobody (node_lease.c): the client tries another node. */
	if (atomic_load_explicit(&c->w->b->fenced, memory_order_relaxed))
		return refuse(c, MQTT_RC_USE_ANOTHER_SERVER, MQTT_V3_SERVER_UNAVAILABLE);
	if (p->client_id.len == 0)
		assign_id(c, idbuf, sizeof(idbuf));
	else if ((cid = sl_strndup((const char *)p->client_id.p, p->client_id.len)) == NULL)
		return refuse(c, MQTT_RC_SERVER_UNAVAILABLE, MQTT_V3_SERVER_UNAVAILABLE);
	rc = accept_as(c, p, user, auth_data, cid);
	if (cid != idbuf)
		sl_free(cid);
	return rc;
}
