/* broker/core/handle_auth.c - MQTT 5 enhanced authentication (4.12; AUTH 3.15) with SCRAM-SHA-256
 * and SCRAM-SHA-512 (broker/scram.h) against the password file's users (broker/auth.h).
 *
 * At CONNECT: CONNECT (method, client-first-message) -> AUTH 0x18 (server-first) -> AUTH 0x18
 * (client-final) -> CONNACK 0x00 (server-final, for the client to check the server) or CONNACK
 * 0x86. The CONNECT is kept as received, since its views point into a receive buffer that is
 * gone by the next AUTH, and decoded again once the proof holds: only then is the session
 * opened, so a failed exchange takes no session over, resumes nothing and publishes no will.
 *
 * Re-authentication (4.12.1) is supported, with the method and the user of the CONNECT (the
 * session's subscriptions were authorised for that user): AUTH 0x19 (client-first) -> AUTH
 * 0x18 (server-first) -> AUTH 0x18 (client-final) -> AUTH 0x00 (server-final); other packets
 * flow meanwhile. A password changed since (SIGHUP) is the one checked.
 *
 * Both must end within connect_timeout: at CONNECT counted from the accept, as for the CONNECT
 * itself (worker.c), for a re-authentication from its AUTH 0x19.
 *
 * Reason codes. Before CONNACK: 0x8C a method not known or not configured [MQTT-4.12.0-1];
 * 0x86 a wrong proof, an unknown user (told apart from a known one only at the proof: made-up
 * salt), or a CONNECT User Name that is not the SCRAM user; 0x87 a SCRAM message that is
 * malformed or asks for channel binding, or a timeout; 0x82 an AUTH against the protocol or any
 * other packet [MQTT-3.1.2-30]. After CONNACK DISCONNECT has no 0x86 (3.14.2.1): every failure
 * is 0x87 [MQTT-4.12.1-2], and 0x82 for a protocol error. */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "broker/conf/conf.h"
#include "broker/core/access.h"
#include "broker/core/conn.h"
#include "broker/core/handle.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/base/sl_log.h"

struct conn_auth {
	struct scram *scram; /* owned */
	enum scram_mech mech;
	const char *user; /* as the client-first-message names it; owned by scram */
	uint8_t *connect; /* the CONNECT as received; NULL in a re-authentication */
	size_t connect_len;
	uint64_t started; /* ms: the accept, or the AUTH 0x19 */
	bool known;       /* the user has credentials: else no proof may pass */
};

static void
auth_end(struct conn *c)
{
	struct conn_auth *a = conn_auth(c);

	if (a == NULL)
		return;
	c->ext->auth = NULL;
	scram_free(a->scram);
	sl_free(a->connect);
	sl_free(a);
}

void
handle_auth_free(struct conn *c)
{
	auth_end(c);
}

static const char *
who(const struct conn *c)
{
	return c->s != NULL ? c->s->client_id : conn_peer(c);
}

/* Ends the exchange, and the connection: CONNACK rc before CONNACK [MQTT-4.12.0-4], else
 * DISCONNECT [MQTT-4.12.1-2] with 0x87 for 0x86 and 0x80 for 0x88, which it does not have. */
static int
fail(struct conn *c, uint8_t rc, const char *why)
{
	struct mqtt_pkt pkt;

	LOG_NOTICE("auth", "%s '%s' refused (%s): %s",
	           c->connected ? "re-authentication of" : "client from", who(c), mqtt_rc_str(rc),
	           why);
	auth_end(c);
	if (c->connected) {
		conn_disconnect(c, rc == MQTT_RC_BAD_USERNAME_PASSWORD ? MQTT_RC_NOT_AUTHORIZED
		                   : rc == MQTT_RC_SERVER_UNAVAILABLE  ? MQTT_RC_UNSPECIFIED
		                                                       : rc);
		return -1;
	}
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_CONNACK;
	pkt.u.connack.rc = rc;
	conn_send(c, &pkt);
	conn_close(c, true);
	return -1;
}

/* Sends AUTH rc (0x18 or 0x00: [MQTT-3.15.2-1] an Authenticate Reason Code) with the method
 * [MQTT-4.12.0-5] and data. Only ever within an exchange the client started with a method
 * [MQTT-4.12.0-6]. Returns 0 or a negative errno. */
static int
send_auth(struct conn *c, enum scram_mech m, uint8_t rc, const struct sl_buf *data)
{
	const char *method = scram_mech_name(m);
	struct mqtt_pkt pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_AUTH;
	pkt.u.reason.rc = rc;
	pkt.u.reason.props.present = MQTT_PB(MQTT_PROP_AUTH_METHOD) | MQTT_PB(MQTT_PROP_AUTH_DATA);
	pkt.u.reason.props.auth_method = sl_bytes_make(method, (uint32_t)strlen(method));
	pkt.u.reason.props.auth_data = sl_bytes_make(data->data, (uint32_t)data->len);
	return conn_send(c, &pkt);
}

static struct conn_auth *
auth_new(struct conn *c, enum scram_mech m, uint64_t started)
{
	struct conn_x *x = conn_x(c);
	struct conn_auth *a;

	if (x == NULL || (a = sl_calloc(1, sizeof(*a))) == NULL)
		return NULL;
	if ((a->scram = scram_new(m)) == NULL) {
		sl_free(a);
		return NULL;
	}
	a->mech = m;
	a->started = started;
	x->auth = a;
	return a;
}

/* Reads the client-first-message and answers AUTH 0x18 with the server-first-message
 * [MQTT-4.12.0-2]. want: the user the client must be (NULL: any). Returns 0 or a reason code
 * to fail with. */
static uint8_t
first(struct conn *c, struct sl_bytes data, const struct sl_bytes *want)
{
	struct conn_auth *a = conn_auth(c);
	struct sl_buf out = SL_BUF_INIT;
	struct scram_cred cred;
	int rc = scram_client_first(a->scram, data, &a->user);

	if (rc < 0)
		return rc == -ENOMEM ? MQTT_RC_SERVER_UNAVAILABLE : MQTT_RC_NOT_AUTHORIZED;
	if (want != NULL &&
	    (strlen(a->user) != want->len || memcmp(a->user, want->p, want->len) != 0))
		return MQTT_RC_BAD_USERNAME_PASSWORD;
	a->known = access_scram_cred(c->w, c->listener, a->user, a->mech, &cred) == 0;
	rc = scram_server_first(a->scram, &cred, NULL, &out);
	OPENSSL_cleanse(&cred, sizeof(cred));
	if (rc == 0)
		rc = send_auth(c, a->mech, MQTT_RC_CONTINUE_AUTH, &out);
	sl_buf_fini(&out);
	return rc < 0 ? MQTT_RC_SERVER_UNAVAILABLE : 0;
}

int
handle_auth_begin(struct conn *c, const struct mqtt_connect *p)
{
	int m = scram_mech_parse(p->props.auth_method);
	struct conn_auth *a;
	uint8_t rc;

	SL_ASSERT(conn_auth(c) == NULL && c->w->pkt_raw != NULL);
	if (m < 0 || !access_scram_offered(c->w, c->listener, (enum scram_mech)m))
		return fail(c, MQTT_RC_BAD_AUTH_METHOD, "authentication method not offered");
	if ((a = auth_new(c, (enum scram_mech)m, c->start_ms)) == NULL ||
	    (a->connect = sl_malloc(c->w->pkt_raw_len)) == NULL)
		return fail(c, MQTT_RC_SERVER_UNAVAILABLE, "out of memory");
	memcpy(a->connect, c->w->pkt_raw, c->w->pkt_raw_len);
	a->connect_len = c->w->pkt_raw_len;
	/* A User Name beside the method must be the user SCRAM authenticates. */
	if ((rc = first(c, p->props.auth_data, p->has_username ? &p->username : NULL)) != 0)
		return fail(c, rc, "bad SCRAM client-first-message or user name");
	return 0;
}

/* The proof held before CONNACK: the CONNECT is handled now, as the SCRAM user. */
static int
connect_done(struct conn *c, const struct sl_buf *server_final)
{
	struct conn_auth *a = conn_auth(c);
	struct sl_bytes user = sl_bytes_make(a->user, (uint32_t)strlen(a->user));
	enum mqtt_rc drc;
	struct mqtt_pkt pkt;
	int n, rc;

	/* It decoded when it arrived, so it decodes the same way again. */
	n = mqtt_decode(a->connect, a->connect_len, 0, 0, &pkt, &drc);
	SL_ASSERT(n == (int)a->connect_len && pkt.type == MQTT_CONNECT);
	c->ext->auth = NULL; /* a (the CONNECT's bytes, the user) lives until the CONNACK is sent */
	c->ext->auth_mech = (uint8_t)(1 + a->mech);
	rc = handle_connect_accept(c, &pkt.u.connect, &user,
	                           sl_bytes_make(server_final->data, (uint32_t)server_final->len));
	c->ext->auth = a; /* c is freed only in its close callback: ext is still there */
	auth_end(c);
	return rc;
}

/* Reads the client-final-message: CONNACK or AUTH 0x00 with the server-final-message. */
static int
final(struct conn *c, struct sl_bytes data)
{
	struct conn_auth *a = conn_auth(c);
	struct sl_buf out = SL_BUF_INIT;
	int rc = scram_client_final(a->scram, data, &out);

	if (rc == 0 && !a->known)
		rc = -EACCES; /* made-up credentials: no proof passes them */
	if (rc < 0) {
		sl_buf_fini(&out);
		LOG_INFO("auth", "SCRAM user '%s': %s", a->user,
		         rc == -EACCES ? "wrong proof or unknown user"
		                       : "bad client-final-message");
		return fail(c,
		            rc == -EACCES   ? MQTT_RC_BAD_USERNAME_PASSWORD
		            : rc == -EINVAL ? MQTT_RC_NOT_AUTHORIZED
		                            : MQTT_RC_SERVER_UNAVAILABLE,
		            "SCRAM proof not accepted");
	}
	if (!c->connected) {
		rc = connect_done(c, &out);
	} else {
		LOG_INFO("auth", "client '%s' re-authenticated as '%s'", who(c), a->user);
		rc = send_auth(c, a->mech, MQTT_RC_SUCCESS, &out) < 0 ? -1 : 0;
		auth_end(c);
	}
	sl_buf_fini(&out);
	return rc;
}

/* Whether r names the method of c's exchange or connection [MQTT-4.12.0-5], [MQTT-4.12.1-1]. */
static bool
same_method(const struct conn *c, const struct mqtt_reason *r)
{
	const struct conn_auth *a = conn_auth(c);
	int m = a != NULL ? (int)a->mech : c->ext != NULL ? (int)c->ext->auth_mech - 1 : -1;

	return (r->props.present & MQTT_PB(MQTT_PROP_AUTH_METHOD)) != 0 &&
	       scram_mech_parse(r->props.auth_method) == m;
}

/* An AUTH within an exchange: [MQTT-4.12.0-3] the client answers with 0x18. */
static int
step(struct conn *c, const struct mqtt_reason *r)
{
	if (r->rc != MQTT_RC_CONTINUE_AUTH || !same_method(c, r))
		return fail(c, MQTT_RC_PROTOCOL_ERROR, "AUTH without 0x18 or the method");
	return final(c, r->props.auth_data);
}

int
handle_auth_pending(struct conn *c, struct mqtt_pkt *pkt)
{
	switch (pkt->type) {
	case MQTT_AUTH:
		return step(c, &pkt->u.reason);
	case MQTT_DISCONNECT:
		auth_end(c);
		conn_close(c, true);
		return -1;
	default:
		/* [MQTT-3.1.2-30] only AUTH or DISCONNECT until CONNACK. */
		return fail(c, MQTT_RC_PROTOCOL_ERROR, "a packet other than AUTH before CONNACK");
	}
}

int
handle_auth(struct conn *c, const struct mqtt_reason *r)
{
	const char *name = c->s != NULL && c->s->username != NULL ? c->s->username : "";
	struct sl_bytes want = sl_bytes_make(name, (uint32_t)strlen(name));
	uint8_t rc;

	if (c->ext == NULL || c->ext->auth_mech == 0) {
		/* [MQTT-4.12.0-7] no Authentication Method in CONNECT: no AUTH. */
		conn_disconnect(c, MQTT_RC_PROTOCOL_ERROR);
		return -1;
	}
	if (conn_auth(c) != NULL)
		return step(c, r);
	/* [MQTT-4.12.1-1] re-authentication: 0x19 with the CONNECT's method. */
	if (r->rc != MQTT_RC_REAUTHENTICATE || !same_method(c, r))
		return fail(c, MQTT_RC_PROTOCOL_ERROR, "AUTH without 0x19 or the method");
	if (auth_new(c, (enum scram_mech)(c->ext->auth_mech - 1), uv_now(c->w->loop)) == NULL)
		return fail(c, MQTT_RC_SERVER_UNAVAILABLE, "out of memory");
	if ((rc = first(c, r->props.auth_data, &want)) != 0)
		return fail(c, rc, "bad SCRAM client-first-message or another user");
	return 0;
}

bool
handle_auth_tick(struct conn *c, uint64_t now)
{
	uint64_t limit = (uint64_t)worker_conf(c->w)->connect_timeout * 1000u;
	const struct conn_auth *a = conn_auth(c);

	if (a == NULL || now - a->started <= limit)
		return false;
	fail(c, MQTT_RC_NOT_AUTHORIZED, "AUTH exchange not finished within connect_timeout");
	return true;
}
