/* broker/core/conn.c - one client connection: reads, decodes, and batches writes per loop turn. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "broker/conf/conf.h"
#include "broker/core/conn.h"
#include "broker/core/handle.h"
#include "broker/core/owner.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "broker/core/xport.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/base/sl_log.h"

/* Room kept for the rest of a partial packet. A connection holds receive memory only while a
 * packet is split across reads: whole packets are decoded straight from the worker's scratch
 * buffer, so an idle connection costs no buffer at all. The work of one read callback is
 * bounded by the size of one read (WORKER_RX_SCRATCH), so one busy client cannot starve the rest.
 */
#define RX_MIN_ROOM 16384

static void big_orphan(struct conn *c);

struct out_write {
	uv_write_t req;
	struct conn *c;
	struct sl_buf buf; /* owned: the bytes being written */
	uint8_t hdr_len;
	uint8_t hdr[14]; /* a transport's frame header, written before buf (xport.c) */
};

static void
on_closed(uv_handle_t *h)
{
	struct conn *c = container_of((uv_tcp_t *)h, struct conn, tcp);
	uint16_t i;

	sl_buf_fini(&c->tx);
	xport_free(c->x);
	for (i = 0; c->aliases != NULL && i <= c->n_aliases; i++)
		sl_free(c->aliases[i]);
	sl_free(c->aliases);
	for (i = 0; i < c->out_alias_n; i++)
		sl_msg_unref(c->out_alias[i]);
	sl_free(c->out_alias);
	handle_auth_free(c);
	handle_sub_free(c);
	big_orphan(c);
	conn_claim_end(c);
	if (c->ext != NULL) {
		sl_buf_fini(&c->ext->rx);
		sl_buf_fini(&c->ext->rx_more);
	}
	sl_free(c->ext);
	sl_free(c);
}

void
conn_claim_end(struct conn *c)
{
	char *id = c->claimed;

	if (id == NULL)
		return;
	c->claimed = NULL;
	/* This loop is the id's owner: no other holds a session for it, none can be made meanwhile.
	 */
	if (sess_find(c->w, id) == NULL)
		owner_release(c->w->b->owners, id, strlen(id), c->w->idx);
	sl_free(id);
}

struct conn_x *
conn_x(struct conn *c)
{
	if (c->ext == NULL)
		c->ext = sl_calloc(1, sizeof(*c->ext));
	return c->ext;
}

/* A closed connection is freed at the end of this loop turn, before the next flush: it must
 * leave the flush list now. The list holds only this turn's writers, so the walk is short. */
static void
undirty(struct conn *c)
{
	struct conn **pp;

	if (!c->dirty)
		return;
	for (pp = &c->w->dirty; *pp != NULL; pp = &(*pp)->dirty_next) {
		if (*pp == c) {
			*pp = c->dirty_next;
			break;
		}
	}
	c->dirty = false;
}

static void
unlink_conn(struct conn *c)
{
	struct worker *w = c->w;

	undirty(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	w->n_conns--;
	atomic_fetch_sub(&w->b->conns, 1);
	atomic_fetch_sub(&w->b->listener_conns[c->listener], 1);
}

void
conn_close(struct conn *c, bool graceful)
{
	if (c->closing)
		return;
	if (graceful && (c->tx.len > 0 || c->writing > 0)) {
		c->want_close = true;
		uv_read_stop((uv_stream_t *)&c->tcp);
		conn_mark_dirty(c);
		return;
	}
	c->closing = true;
	unlink_conn(c);
	if (c->connected) {
		c->w->st.clients_connected--;
		if (worker_conf(c->w)->connection_messages)
			LOG_NOTICE("conn", "client '%s' disconnected",
			           c->s != NULL ? c->s->client_id : "");
	}
	if (c->s != NULL && c->s->conn == c) {
		sess_detach(c->s, !c->will_ok);
	}
	c->s = NULL;
	uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void
conn_disconnect(struct conn *c, enum mqtt_rc rc)
{
	struct mqtt_pkt pkt;

	if (c->closing)
		return;
	if (c->want_close) { /* already said goodbye and the peer is not reading it: drop */
		conn_close(c, false);
		return;
	}
	/* [MQTT-4.13.1-1] v5 may say why; before CONNACK only CONNACK may carry a reason. */
	if (c->version == MQTT_V5 && c->connected) {
		memset(&pkt, 0, sizeof(pkt));
		pkt.type = MQTT_DISCONNECT;
		pkt.u.reason.rc = rc;
		conn_send(c, &pkt);
	}
	LOG_INFO("conn", "closing '%s': %s", c->s != NULL ? c->s->client_id : conn_peer(c),
	         mqtt_rc_str(rc));
	conn_close(c, true);
}

void
conn_mark_dirty(struct conn *c)
{
	if (c->dirty || c->closing)
		return;
	c->dirty = true;
	c->dirty_next = c->w->dirty;
	c->w->dirty = c;
}

void
conn_send_ack(struct conn *c, enum mqtt_type type, uint16_t pid, uint8_t rc)
{
	struct mqtt_pkt pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = type;
	pkt.flags = type == MQTT_PUBREL ? 2 : 0;
	pkt.u.ack.packet_id = pid;
	pkt.u.ack.rc = c->version == MQTT_V5 ? rc : 0;
	conn_send(c, &pkt);
}

int
conn_send_raw(struct conn *c, const void *p, size_t len)
{
	if (c->closing)
		return -EPIPE;
	c->w->st.bytes_sent += len;
	conn_mark_dirty(c);
	return sl_buf_append(&c->tx, p, len);
}

int
conn_send(struct conn *c, const struct mqtt_pkt *pkt)
{
	size_t before = c->tx.len;
	int rc;

	if (c->closing)
		return -EPIPE;
	rc = mqtt_encode(&c->tx, c->version, pkt);
	if (rc < 0)
		return rc;
	if (c->max_packet_out != 0 && c->tx.len - before > c->max_packet_out) {
		/* [MQTT-3.1.2-24] nothing above the client's Maximum Packet Size; [MQTT-3.1.2-25]
		 * a packet too large is discarded as if sent. */
		c->tx.len = before;
		return -EMSGSIZE;
	}
	c->w->st.bytes_sent += c->tx.len - before;
	conn_mark_dirty(c);
	return 0;
}

size_t
conn_backlog(const struct conn *c)
{
	return c->tx.len + c->writing;
}

static void
on_written(uv_write_t *req, int status)
{
	struct out_write *w = container_of(req, struct out_write, req);
	struct conn *c = w->c;

	c->writing -= w->buf.len + w->hdr_len;
	sl_buf_fini(&w->buf);
	sl_free(w);
	if (status < 0) {
		conn_close(c, false); /* idempotent: UV_ECANCELED arrives while closing */
		return;
	}
	if (c->want_close && c->tx.len == 0 && c->writing == 0)
		conn_close(c, false);
	else if (c->s != NULL && !c->closing)
		sess_pump(c->s);
}

int
conn_write(struct conn *c, struct sl_buf *buf, const uint8_t *hdr, size_t hdr_len)
{
	struct out_write *w = sl_malloc(sizeof(*w));
	uv_buf_t b[2];
	int rc;

	SL_ASSERT(hdr_len <= sizeof(w->hdr));
	if (w == NULL) {
		sl_buf_fini(buf);
		return -ENOMEM;
	}
	w->c = c;
	w->buf = *buf; /* the write owns the bytes; the caller starts a fresh buffer */
	memset(buf, 0, sizeof(*buf));
	w->hdr_len = (uint8_t)hdr_len;
	if (hdr_len > 0)
		memcpy(w->hdr, hdr, hdr_len);
	b[0] = uv_buf_init((char *)w->hdr, (unsigned)hdr_len);
	b[1] = uv_buf_init((char *)w->buf.data, (unsigned)w->buf.len);
	c->writing += w->buf.len + hdr_len;
	rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, hdr_len > 0 ? b : b + 1, hdr_len > 0 ? 2 : 1,
	              on_written);
	if (rc < 0) {
		c->writing -= w->buf.len + hdr_len;
		sl_buf_fini(&w->buf);
		sl_free(w);
	}
	return rc;
}

static void
flush_one(struct conn *c)
{
	c->dirty = false;
	if (c->closing)
		return;
	/* A transport turns the batch into its own records or frames. */
	if (c->x != NULL ? xport_flush(c) < 0
	                 : c->tx.len > 0 && conn_write(c, &c->tx, NULL, 0) < 0) {
		conn_close(c, false);
		return;
	}
	if (c->want_close && c->writing == 0)
		conn_close(c, false);
}

void
conn_flush_all(struct worker *w)
{
	struct conn *c;

	/* One write per connection per loop turn: every packet queued this turn goes together. */
	while ((c = w->dirty) != NULL) {
		w->dirty = c->dirty_next;
		flush_one(c);
	}
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = container_of((uv_tcp_t *)h, struct conn, tcp);
	struct sl_buf *rx;

	(void)hint;
	if (conn_partial(c) == 0 || c->x != NULL) { /* a transport's bytes are not MQTT yet */
		*buf = uv_buf_init((char *)c->w->rx_scratch, WORKER_RX_SCRATCH);
		return;
	}
	rx = &c->ext->rx;
	if (sl_buf_reserve(rx, RX_MIN_ROOM) < 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)rx->data + rx->len, (unsigned)(rx->cap - rx->len));
}

static uint32_t
max_in(const struct conn *c)
{
	return worker_conf(c->w)->max_packet_size;
}

/* A CONNECT for a client id another worker owns moves the connection there, CONNECT and all.
 * Returns true when c was handed over (and closed here), or closed. */
static bool
handoff(struct conn *c, const struct mqtt_pkt *pkt, const uint8_t *data, size_t len)
{
	const struct sl_bytes id = pkt->u.connect.client_id;
	uint32_t owner;
	int rc;

	if (c->w->b->owners == NULL || id.len == 0)
		return false; /* one worker; or an assigned id, registered here (handle.c) */
	/* Placed only when the id has no owner yet: placement may start a worker. */
	if (!owner_find(c->w->b->owners, (const char *)id.p, id.len, &owner) &&
	    owner_claim(c->w->b->owners, (const char *)id.p, id.len,
	                owner_place(c->w->b, (const char *)id.p, id.len), &owner) < 0)
		owner = c->w->idx; /* no memory to register it: served here, unregistered */
	if (owner == c->w->idx) {
		/* Served here: if it ends without a session, the registry must forget the id. */
		if ((c->claimed = sl_strndup((const char *)id.p, id.len)) == NULL) {
			conn_close(c, false);
			return true;
		}
		return false;
	}
	if ((rc = worker_handoff(c, owner, data, len)) == -EAGAIN) {
		/* Its transport still has bytes on this loop's socket: the client reconnects
		 * rather than have its session on a loop that does not own its id. */
		LOG_WARN("conn", "client from %s: cannot move a busy transport, closing",
		         conn_peer(c));
		conn_close(c, false);
		return true;
	}
	return rc == 0;
}

/* Handles packet pkt, the first n bytes of data[0, len), as mqtt_decode() returned it (n, rc).
 * Returns true if it was taken and the next may follow; false when c closed, was handed over,
 * or has no complete packet. */
static bool
take(struct conn *c, const uint8_t *data, size_t len, int n, struct mqtt_pkt *pkt, enum mqtt_rc rc)
{
	if (n == 0)
		return false;
	if (n < 0) {
		if (!c->connected && pkt->type == MQTT_CONNECT &&
		    rc == MQTT_RC_UNSUPPORTED_VERSION) {
			/* [MQTT-3.1.2-2] CONNACK 0x01 then close; v3 form, as the client's level is
			 * not one we speak. */
			conn_send_raw(c, "\x20\x02\x00\x01", 4);
			conn_close(c, true);
			return false;
		}
		conn_disconnect(c, rc);
		return false;
	}
	if (pkt->type == MQTT_CONNECT && !c->connected && conn_auth(c) == NULL &&
	    handoff(c, pkt, data, len)) /* an exchange: a second CONNECT */
		return false;
	c->w->st.bytes_received += (uint64_t)n;
	c->w->pkt_raw = data;
	c->w->pkt_raw_len = (size_t)n;
	return handle_packet(c, pkt) == 0;
}

/* A packet this large is decoded on the thread pool: checking millions of entries or
 * properties takes tens of milliseconds per 16 MB, which the loop's other clients must not
 * wait for (issue 10). */
#define BIG_PACKET (1u << 20)

/* The decode of one large packet, at the front of c->ext->rx, off the loop. */
struct big_decode {
	uv_work_t req;
	struct conn *c; /* NULL once c is gone: then orphan holds the bytes */
	struct sl_buf orphan;
	const uint8_t *data; /* the packet: len bytes, read by the thread pool */
	size_t len;
	uint32_t max;
	uint8_t version;
	int n; /* mqtt_decode()'s answer */
	enum mqtt_rc rc;
	struct mqtt_pkt pkt;
};

/* Whether data starts with a complete packet of at least BIG_PACKET bytes: then reading pauses
 * and it is decoded off the loop (big_start(), once the caller has it in c->ext->rx). */
static bool
big_due(struct conn *c, const uint8_t *data, size_t len)
{
	uint32_t rl;
	int vn;
	struct conn_x *x;

	if (len < BIG_PACKET || (vn = mqtt_varint_read(data + 1, len - 1, &rl)) <= 0 ||
	    1 + (size_t)vn + rl < BIG_PACKET || 1 + (size_t)vn + rl > len ||
	    rl + 1 + (size_t)vn > max_in(c) || (x = conn_x(c)) == NULL)
		return false; /* small, incomplete, or over the limit: mqtt_decode() says which */
	x->big_len = 1 + (size_t)vn + rl;
	c->paused = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	return true;
}

/* Decodes and handles every complete packet in data[0, len). Returns the bytes consumed; when
 * c was closed or handed over meanwhile, nothing of data may be kept. */
static size_t
process_input(struct conn *c, const uint8_t *data, size_t len)
{
	struct mqtt_pkt pkt;
	enum mqtt_rc rc = MQTT_RC_SUCCESS;
	size_t off = 0;
	int n;

	while (!c->closing && !c->want_close && !c->paused) { /* paused: limit.c */
		if (big_due(c, data + off, len - off))
			break;
		n = mqtt_decode(data + off, len - off, c->version, max_in(c), &pkt, &rc);
		if (!take(c, data + off, len - off, n, &pkt, rc))
			break;
		off += (size_t)n;
	}
	return off;
}

static void
on_big_work(uv_work_t *req)
{
	struct big_decode *w = container_of(req, struct big_decode, req);

	w->n = mqtt_decode(w->data, w->len, w->version, w->max, &w->pkt, &w->rc);
}

static void
on_big_done(uv_work_t *req, int status)
{
	struct big_decode *w = container_of(req, struct big_decode, req);
	struct conn *c = w->c;
	struct sl_buf *rx;

	(void)status; /* never cancelled */
	if (c == NULL) {
		sl_buf_fini(&w->orphan);
		sl_free(w);
		return;
	}
	rx = &c->ext->rx;
	c->ext->big = NULL;
	c->ext->big_len = 0;
	if (take(c, rx->data, rx->len, w->n, &w->pkt, w->rc) && !c->closing)
		sl_buf_consume(rx, (size_t)w->n);
	sl_free(w);
	if (!c->closing && c->ext->rx_more.len > 0) { /* what came meanwhile goes after */
		if (sl_buf_append(rx, c->ext->rx_more.data, c->ext->rx_more.len) < 0)
			conn_close(c, false);
		sl_buf_fini(&c->ext->rx_more);
	}
	if (!c->closing && !c->held) /* held: persist_ack.c resumes it */
		conn_resume(c);
}

/* Starts the decode big_due() asked for; the packet is at the front of c->ext->rx. */
static void
big_start(struct conn *c)
{
	struct conn_x *x = c->ext;
	struct big_decode *w = sl_calloc(1, sizeof(*w));

	if (w == NULL) {
		conn_close(c, false);
		return;
	}
	w->c = c;
	w->data = x->rx.data;
	w->len = x->big_len;
	w->max = max_in(c);
	w->version = c->version;
	x->big = w;
	uv_queue_work(c->w->loop, &w->req, on_big_work, on_big_done); /* cannot fail: cb set */
}

/* c goes while its large packet is being decoded: the decode keeps the bytes it reads. */
static void
big_orphan(struct conn *c)
{
	struct big_decode *w = c->ext != NULL ? c->ext->big : NULL;

	if (w == NULL)
		return;
	w->c = NULL;
	w->orphan = c->ext->rx;
	memset(&c->ext->rx, 0, sizeof(c->ext->rx));
}

/* Processes what c holds in c->ext->rx; frees the buffer once it is empty. */
static void
process_rx(struct conn *c)
{
	struct sl_buf *rx;
	size_t used;

	if (c->ext == NULL)
		return;   /* holds nothing */
	rx = &c->ext->rx; /* stays put: c->ext is not reallocated */
	used = process_input(c, rx->data, rx->len);
	if (c->closing)
		return;
	sl_buf_consume(rx, used);
	if (c->ext->big_len > 0 && c->ext->big == NULL)
		big_start(c); /* the large packet is at the front now */
	else if (rx->len == 0)
		sl_buf_fini(rx);
}

void
conn_input(struct conn *c, const uint8_t *data, size_t len)
{
	struct conn_x *x;
	size_t used;

	if (c->ext != NULL && c->ext->big != NULL) {
		/* The thread pool is reading rx: its bytes must not move. A transport may still
		 * hand over records it had decoded; they wait aside (on_big_done()). */
		if (sl_buf_append(&c->ext->rx_more, data, len) < 0)
			conn_close(c, false);
		return;
	}

	if (conn_partial(c) > 0) { /* behind a partial packet */
		if (sl_buf_append(&c->ext->rx, data, len) < 0)
			conn_close(c, false);
		else
			process_rx(c);
		return;
	}
	used = process_input(c, data, len);
	/* Keep only a partial packet; the scratch buffer is the next read's. */
	if (!c->closing && used < len &&
	    ((x = conn_x(c)) == NULL || sl_buf_append(&x->rx, data + used, len - used) < 0)) {
		conn_close(c, false);
		return;
	}
	if (!c->closing && c->ext != NULL && c->ext->big_len > 0 && c->ext->big == NULL)
		big_start(c); /* a transport's buffer held it: in c->ext->rx now */
}

static void
on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = container_of((uv_tcp_t *)stream, struct conn, tcp);
	const uint8_t *data = (const uint8_t *)buf->base;

	if (nread < 0) {
		conn_close(c, false);
		return;
	}
	if (nread == 0)
		return;
	c->last_rx_ms = uv_now(c->w->loop);
	if (c->x != NULL) { /* on_alloc handed out the scratch buffer */
		xport_on_read(c, c->w->rx_scratch, (size_t)nread);
		return;
	}
	if (data != c->w->rx_scratch) { /* the tail of a partial packet, read into c->ext->rx */
		c->ext->rx.len += (size_t)nread;
		process_rx(c);
		return;
	}
	conn_input(c, data, (size_t)nread);
}

static int
find_listener(struct worker *w, uv_stream_t *server)
{
	size_t i;

	for (i = 0; i < w->n_listeners; i++)
		if ((uv_stream_t *)&w->listeners[i] == server)
			return (int)i;
	return 0;
}

/* The client's address for a log line, formatted when asked rather than kept: 64 bytes per
 * idle connection is a tenth of its memory. Valid until the next call on this worker. */
const char *
conn_peer(const struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char *host = c->w->peer_buf;

	if (c->x != NULL && xport_peer(c->x) != NULL) /* a PROXY header named the client */
		return xport_peer(c->x);
	snprintf(host, sizeof(c->w->peer_buf), "?");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6)
			uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(c->w->peer_buf));
		else
			uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(c->w->peer_buf));
	}
	return host;
}

static bool
over_limit(struct worker *w, int li)
{
	int lmax = worker_conf(w)->listeners[li].max_connections;
	int gmax = worker_conf(w)->max_connections;

	return (lmax >= 0 && atomic_load(&w->b->listener_conns[li]) >= (uint32_t)lmax) ||
	       (gmax >= 0 && atomic_load(&w->b->conns) >= (uint32_t)gmax) || w->stopping;
}

static void
link_conn(struct worker *w, struct conn *c)
{
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	atomic_fetch_add(&w->b->conns, 1);
	atomic_fetch_add(&w->b->listener_conns[c->listener], 1);
}

/* The state of a connection before its first byte. */
static void
begin(struct conn *c)
{
	c->last_rx_ms = uv_now(c->w->loop);
	c->start_ms = c->last_rx_ms; /* CONNECT is due within connect_timeout (worker.c) */
	c->send_quota = 65535;
}

static void
conn_start(struct conn *c)
{
	if (worker_conf(c->w)->set_tcp_nodelay)
		uv_tcp_nodelay(&c->tcp, 1);
	begin(c);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		conn_close(c, false);
}

void
conn_resume(struct conn *c)
{
	if (c->closing || !c->paused)
		return;
	if (c->ext != NULL && (c->ext->job != NULL || c->ext->big_len > 0))
		return; /* a SUBSCRIBE in slices, a large packet's decode: their end resumes c */
	c->paused = false;
	if (conn_partial(c) > 0)
		process_rx(c); /* may pause c again */
	if (c->x != NULL && !xport_has_socket(c->x))
		return; /* a sink has no socket to read from */
	if (!c->closing && !c->paused && !c->want_close &&
	    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		conn_close(c, false);
}

struct conn *
conn_new_sink(struct worker *w, int listener, struct xport *x)
{
	struct conn *c = sl_calloc(1, sizeof(*c));

	/* uv_tcp_init() makes no socket: the handle only gives the connection its close
	 * callback, so a sink ends through conn_close() like any other. */
	if (c == NULL || uv_tcp_init(w->loop, &c->tcp) < 0) {
		sl_free(c);
		xport_free(x);
		return NULL;
	}
	c->w = w;
	c->listener = listener;
	c->x = x;
	link_conn(w, c);
	begin(c);
	return c;
}

void
conn_adopt(struct worker *w, int fd, int listener, const struct sl_buf *rx, struct xport **x)
{
	struct conn *c = sl_calloc(1, sizeof(*c));

	if (c == NULL || uv_tcp_init(w->loop, &c->tcp) < 0) {
		sl_free(c);
		close(fd);
		return;
	}
	c->w = w;
	c->listener = listener;
	c->x = *x; /* takes the transport: TLS session, WebSocket state */
	*x = NULL;
	link_conn(w, c);
	if (uv_tcp_open(&c->tcp, fd) < 0) {
		close(fd);
		conn_close(c, false);
		return;
	}
	conn_start(c); /* the peer's address is read again (socket or PROXY header) */
	/* Handled from the item's buffer: only a partial packet is copied, so a connection
	 * handed over does not keep c->ext for the rest of its life. */
	if (!c->closing && rx->len > 0)
		conn_input(c, rx->data, rx->len);
	if (!c->closing && c->x != NULL)
		xport_resume(c);
}

void
conn_on_accept(uv_stream_t *server, int status)
{
	struct worker *w = server->data;
	struct conn *c;
	bool refuse;

	if (status < 0)
		return;
	c = sl_calloc(1, sizeof(*c));
	if (c == NULL || uv_tcp_init(w->loop, &c->tcp) < 0) {
		sl_free(c);
		return;
	}
	c->w = w;
	c->listener = find_listener(w, server);
	refuse = over_limit(w, c->listener); /* counted before this one joins */
	link_conn(w, c);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 || refuse || xport_attach(c) < 0) {
		w->st.connections_refused++;
		conn_close(c, false);
		return;
	}
	conn_start(c);
}
