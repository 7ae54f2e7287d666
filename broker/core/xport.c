/* broker/core/xport.c - the transport chain of a non-plain connection (see xport.h). Reads are
 * decoded in the worker's scratch buffer: the PROXY header is parsed where it was read (a
 * header split across reads is held until complete), TLS records are handed to OpenSSL and
 * the plaintext read back into the scratch buffer, WebSocket frames are unmasked in place.
 * Writes: the connection's batch of packets becomes one binary frame (its header a second
 * uv_buf_t: no copy) and, under TLS, one SSL_write into the memory BIO, drained into one
 * socket write. */
#include "broker/core/xport.h"
#include "broker/conf/conf.h"

#include <errno.h>
#include <string.h>

#include "broker/core/conn.h"
#include "broker/core/worker.h"
#include "broker/transport/proxy.h"
#include "broker/transport/tls.h"
#include "broker/transport/ws.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

struct xport {
	SSL *ssl;           /* NULL: no TLS on this listener */
	struct ws *ws;      /* NULL: not a WebSocket listener */
	struct ws_hs *hs;   /* the WebSocket upgrade still in progress, or NULL */
	struct sl_buf pre;  /* bytes above TLS to send before the next packets: the upgrade's
	                       response, pongs, close frames */
	struct sl_buf hold; /* a PROXY header split across reads */
	char *identity;     /* client certificate CN, owned; NULL if none */
	bool proxy;         /* the PROXY header is still expected */
	bool tls_done;      /* the TLS handshake completed */
	bool shut;          /* close_notify sent */
	char peer[48];      /* from the PROXY header; "" if it gave none */
	/* NULL unless socketless (xport_sink_new()): where flushes go instead */
	xport_sink_cb *sink;
	void *sink_arg;
};

static const struct conf_listener *
listener_of(const struct conn *c)
{
	return &worker_conf(c->w)->listeners[c->listener];
}

int
xport_attach(struct conn *c)
{
	const struct conf_listener *l = listener_of(c);
	bool ws = strcmp(l->protocol, "websockets") == 0;
	struct xport *x;

	if (!l->proxy_protocol && !tls_listener(l) && !ws)
		return 0; /* plain TCP: no transport, the fast path */
	if ((x = sl_calloc(1, sizeof(*x))) == NULL)
		return -ENOMEM;
	c->x = x;
	x->proxy = l->proxy_protocol;
	if (tls_listener(l) && (x->ssl = tls_new(c->w->b->tls, c->listener)) == NULL)
		return -ENOMEM;
	if (ws && ((x->ws = sl_calloc(1, sizeof(*x->ws))) == NULL || (x->hs = ws_hs_new()) == NULL))
		return -ENOMEM;
	return 0;
}

struct xport *
xport_sink_new(xport_sink_cb *cb, void *arg)
{
	struct xport *x = sl_calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->sink = cb;
	x->sink_arg = arg;
	snprintf(x->peer, sizeof(x->peer), "sink"); /* conn_peer() asks no socket */
	return x;
}

bool
xport_has_socket(const struct xport *x)
{
	return x->sink == NULL;
}

void
xport_free(struct xport *x)
{
	if (x == NULL)
		return;
	SSL_free(x->ssl);
	ws_hs_free(x->hs);
	sl_free(x->ws);
	sl_buf_fini(&x->pre);
	sl_buf_fini(&x->hold);
	sl_free(x->identity);
	sl_free(x);
}

const char *
xport_peer(const struct xport *x)
{
	return x->peer[0] != '\0' ? x->peer : NULL;
}

const char *
xport_identity(const struct xport *x)
{
	return x->identity;
}

/* Ends c after writing what the transport has to say (an alert, a 400, a close frame). */
static void
fail(struct conn *c)
{
	if (xport_flush(c) < 0)
		conn_close(c, false);
	else
		conn_close(c, true);
}

/* Takes what the header says; the CN only when the proxy verified the certificate. */
static void
proxy_apply(struct conn *c, const struct proxy_hdr *h)
{
	struct xport *x = c->x;

	if (h->addr[0] != '\0') {
		snprintf(x->peer, sizeof(x->peer), "%s", h->addr);
	}
	if (h->cn_verified && h->cn.len > 0 && memchr(h->cn.p, '\0', h->cn.len) == NULL)
		x->identity = sl_strndup((const char *)h->cn.p, h->cn.len);
}

/* Reads the PROXY header off *data. Returns 1 with *data, *len advanced past it, 0 when it
 * is not complete yet (bytes kept), -1 when c was closed. */
static int
proxy_stage(struct conn *c, uint8_t **data, size_t *len)
{
	struct xport *x = c->x;
	const uint8_t *p = *data;
	size_t plen = *len;
	struct proxy_hdr h;
	int n;

	if (x->hold.len > 0) {
		if (sl_buf_append(&x->hold, *data, *len) < 0)
			goto fail_close;
		p = x->hold.data;
		plen = x->hold.len;
	}
	if ((n = proxy_parse(p, plen, &h)) == 0) {
		if (x->hold.len == 0 && sl_buf_append(&x->hold, *data, *len) < 0)
			goto fail_close;
		return 0;
	}
	if (n < 0) {
		LOG_NOTICE("conn", "client from %s refused: %s PROXY header", conn_peer(c),
		           n == -EMSGSIZE ? "oversized" : "missing or malformed");
		goto fail_close;
	}
	proxy_apply(c, &h);
	/* The header ended in this read: what follows it is the tail of *data. */
	*data += *len - (plen - (size_t)n);
	*len = plen - (size_t)n;
	sl_buf_fini(&x->hold);
	x->proxy = false;
	return 1;
fail_close:
	conn_close(c, false);
	return -1;
}

/* WebSocket upgrade and frames over data[0, len), then MQTT. */
static void
ws_stage(struct conn *c, uint8_t *data, size_t len)
{
	struct xport *x = c->x;
	size_t used;
	int rc;

	if (x->ws == NULL) {
		conn_input(c, data, len);
		return;
	}
	if (x->hs != NULL) {
		if ((rc = ws_hs_input(x->hs, data, len, &x->pre, &used)) == 0)
			return;
		conn_mark_dirty(c);
		if (rc < 0) {
			LOG_NOTICE("conn", "client from %s refused: %s WebSocket upgrade",
			           conn_peer(c), rc == -EMSGSIZE ? "oversized" : "bad");
			fail(c);
			return;
		}
		ws_hs_free(x->hs);
		x->hs = NULL;
		data += used;
		len -= used;
	}
	rc = (int)ws_input(x->ws, data, len, &x->pre);
	if (x->pre.len > 0)
		conn_mark_dirty(c);
	if (rc > 0)
		conn_input(c, data, (size_t)rc);
	if (c->x == x && !c->closing && x->ws->err != 0)
		fail(c); /* the client closed, or broke the framing */
}

static void
on_handshake(struct conn *c)
{
	struct xport *x = c->x;

	x->tls_done = true;
	if (listener_of(c)->use_identity_as_username) {
		sl_free(x->identity); /* our own handshake beats what a proxy said */
		x->identity = tls_peer_cn(x->ssl);
	}
	LOG_DEBUG("tls", "client from %s: %s, %s", conn_peer(c), SSL_get_version(x->ssl),
	          SSL_get_cipher_name(x->ssl));
}

/* Ciphertext data[0, len) in; plaintext out to the WebSocket/MQTT stages, a TLS record at
 * a time in the scratch buffer (free again once OpenSSL copied the ciphertext). */
static void
tls_stage(struct conn *c, const uint8_t *data, size_t len)
{
	struct xport *x = c->x;
	const char *why = NULL;
	int n;

	if (tls_feed(x->ssl, data, len) < 0) {
		conn_close(c, false);
		return;
	}
	for (;;) {
		n = tls_read(x->ssl, c->w->rx_scratch, WORKER_RX_SCRATCH, &why);
		if (!x->tls_done && SSL_is_init_finished(x->ssl))
			on_handshake(c);
		if (n <= 0)
			break;
		ws_stage(c, c->w->rx_scratch, (size_t)n);
		if (c->x != x || c->closing)
			return; /* handed over (x is another loop's now) or closed */
	}
	if (n == -EPROTO)
		LOG_NOTICE("conn", "client from %s: TLS failed: %s", conn_peer(c), why);
	if (n < 0)
		fail(c);
	else if (tls_pending(x->ssl))
		conn_mark_dirty(c); /* handshake messages, session tickets */
}

void
xport_on_read(struct conn *c, uint8_t *data, size_t len)
{
	struct xport *x = c->x;

	if (x->proxy && proxy_stage(c, &data, &len) <= 0)
		return;
	if (x->ssl != NULL)
		tls_stage(c, data, len);
	else if (len > 0)
		ws_stage(c, data, len);
}

void
xport_resume(struct conn *c)
{
	if (c->x->ssl != NULL)
		tls_stage(c, NULL, 0); /* records that came after the CONNECT */
	if (!c->closing && c->x != NULL &&
	    (c->x->pre.len > 0 || c->tx.len > 0 || (c->x->ssl != NULL && tls_pending(c->x->ssl))))
		conn_mark_dirty(c);
}

/* Under TLS: the upgrade response and control frames, then the packets as one frame, then
 * close_notify when the connection is closing; one socket write of the records. */
static int
flush_tls(struct conn *c, const uint8_t *hdr, size_t hl)
{
	struct xport *x = c->x;
	struct sl_buf wire = SL_BUF_INIT;

	if (x->tls_done) {
		if (tls_write(x->ssl, x->pre.data, x->pre.len) < 0 ||
		    tls_write(x->ssl, hdr, hl) < 0 || tls_write(x->ssl, c->tx.data, c->tx.len) < 0)
			return -EPROTO;
		sl_buf_fini(&x->pre);
		sl_buf_fini(&c->tx);
		if (c->want_close && !x->shut) {
			x->shut = true;
			SSL_shutdown(x->ssl);
		}
	}
	if (!tls_pending(x->ssl))
		return 0;
	if (tls_take(x->ssl, &wire) < 0) {
		sl_buf_fini(&wire);
		return -ENOMEM;
	}
	return conn_write(c, &wire, NULL, 0);
}

int
xport_flush(struct conn *c)
{
	struct xport *x = c->x;
	uint8_t hdr[10];
	size_t hl = 0;
	int rc;

	if (x->sink != NULL) { /* socketless: the batch goes to the sink, never to uv_write */
		if (c->tx.len > 0)
			x->sink(x->sink_arg, c, c->tx.data, c->tx.len);
		sl_buf_fini(&c->tx);
		return 0;
	}
	if (x->ws != NULL && c->tx.len > 0)
		hl = ws_frame_hdr(hdr, c->tx.len); /* [MQTT-6.0.0-1] a binary frame */
	if (x->ssl != NULL)
		return flush_tls(c, hdr, hl);
	if (x->pre.len > 0 && (rc = conn_write(c, &x->pre, NULL, 0)) < 0)
		return rc;
	if (c->tx.len > 0)
		return conn_write(c, &c->tx, hdr, hl);
	return 0;
}
