/* cluster/link.c - one TCP connection between two nodes: dialled or accepted, Hello and Auth
 * both ways, then frames dispatched to the peer it belongs to. A link carries nothing but
 * Hello and Auth until the peer proved it knows cluster_secret. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cl.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

#define RX_CHUNK 65536

struct wreq {
	uv_write_t req;
	struct cl_link *l;
	struct sl_buf buf; /* owned */
};

static void
on_closed(uv_handle_t *h)
{
	struct cl_link *l = h->data;
	struct cl_link **pp;

	for (pp = &l->cl->links; *pp != NULL; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	sl_buf_fini(&l->rx);
	sl_buf_fini(&l->tx);
	sl_buf_fini(&l->raw);
	sl_buf_fini(&l->cout);
	ctls_free(l->tls);
	sl_free(l->peer_id);
	sl_free(l);
}

void
cl_link_close(struct cl_link *l, const char *why)
{
	if (l->closing)
		return;
	l->closing = true;
	if (l->peer != NULL) {
		LOG_NOTICE("cluster", "link to '%s' (%s) closed: %s", l->peer->node_id, l->addr,
		           why);
		cl_peer_unbind(l);
	} else {
		LOG_DEBUG("cluster", "link %s closed: %s", l->addr, why);
	}
	if (l->target != NULL) {
		l->target->tried = true;
		l->target->link = NULL;
		l->target = NULL;
	}
	uv_close((uv_handle_t *)&l->tcp, on_closed);
}

static void
on_written(uv_write_t *req, int status)
{
	struct wreq *w = container_of(req, struct wreq, req);
	struct cl_link *l = w->l;

	l->inflight -= w->buf.len;
	sl_buf_fini(&w->buf);
	sl_free(w);
	if (status < 0 && status != UV_ECANCELED)
		cl_link_close(l, uv_strerror(status));
}

/* With TLS, the turn's frames become records after what the handshake has to say. Returns
the buffer to write, or NULL when l was closed. */
static struct sl_buf *
link_out(struct cl_link *l)
{
	if (l->tls == NULL)
		return &l->tx;
	if (l->tx.len > 0 && ctls_write(l->tls, l->tx.data, l->tx.len, &l->cout) < 0) {
		cl_link_close(l, ctls_error(l->tls));
		return NULL;
	}
	l->tx.len = 0;
	return &l->cout;
}

/* Hands l's output to the socket in one write. */
static void
link_flush(struct cl_link *l)
{
	struct sl_buf *out;
	struct wreq *w;
	uv_buf_t b;
	int rc;

	if (l->closing || (out = link_out(l)) == NULL || out->len == 0)
		return;
	if ((w = sl_malloc(sizeof(*w))) == NULL) {
		cl_link_close(l, "out of memory");
		return;
	}
	w->l = l;
	w->buf = *out;
	memset(out, 0, sizeof(*out));
	b = uv_buf_init((char *)w->buf.data, (unsigned int)w->buf.len);
	l->inflight += w->buf.len;
	if ((rc = uv_write(&w->req, (uv_stream_t *)&l->tcp, &b, 1, on_written)) < 0) {
		l->inflight -= w->buf.len;
		sl_buf_fini(&w->buf);
		sl_free(w);
		cl_link_close(l, uv_strerror(rc));
	}
}

void
cl_link_flush_all(struct cluster *cl)
{
	for (struct cl_link *l = cl->links; l != NULL; l = l->next)
		link_flush(l);
}

/* After a frame was encoded into l->tx with status rc: counted, or the link closed. */
static int
queued(struct cl_link *l, int rc)
{
	if (rc < 0) {
		cl_link_close(l, "cannot encode a frame");
		return rc;
	}
	l->cl->st.frames_out++;
	/* A large backlog goes out now rather than at the turn's end: bounded memory. */
	if (l->tx.len >= (1u << 20))
		link_flush(l);
	return 0;
}

int
cl_link_send(struct cl_link *l, uint8_t type, const ProtobufCMessage *meta,
             const struct sl_bytes *tail)
{
	if (l->closing)
		return -EPIPE;
	return queued(l, clf_encode(&l->tx, type, 0, meta, tail));
}

int
cl_link_send_fwd(struct cl_link *l, const struct clw_fwd *fw, struct sl_bytes payload)
{
	if (l->closing)
		return -EPIPE;
	return queued(l, clw_fwd_encode(&l->tx, fw, payload));
}

static void
send_hello(struct cl_link *l)
{
	struct cluster *cl = l->cl;
	Starling__Cluster__V1__Hello h = STARLING__CLUSTER__V1__HELLO__INIT;
	size_t n = 0;

	cl_auth_random(l->nonce, CL_NONCE_LEN);
	h.cluster_id = (char *)cl->conf.name;
	h.node_id = (char *)cl->conf.node_id;
	h.incarnation = cl->incarnation;
	h.proto_major = CLF_PROTO_MAJOR;
	h.proto_minor = CLF_PROTO_MINOR;
	h.nonce.data = l->nonce;
	h.nonce.len = CL_NONCE_LEN;
	h.route_version = cl->version;
	h.known_versions = cl_gossip_known(cl, &n);
	h.n_known_versions = n;
	cl_link_send(l, CLF_HELLO, &h.base, NULL);
	for (size_t i = 0; i < n; i++)
		sl_free(h.known_versions[i]);
	sl_free(h.known_versions);
}

static void
refuse(struct cl_link *l, const char *why)
{
	l->cl->st.auth_failed++;
	LOG_WARN("cluster", "peer %s ('%s') refused: %s", l->addr,
	         l->peer_id != NULL ? l->peer_id : "?", why);
	cl_link_close(l, why);
}

static void
on_hello(struct cl_link *l, const Starling__Cluster__V1__Hello *h)
{
	struct cluster *cl = l->cl;
	Starling__Cluster__V1__Auth a = STARLING__CLUSTER__V1__AUTH__INIT;
	uint8_t mac[CL_MAC_LEN];

	if (l->got_hello)
		return refuse(l, "a second Hello");
	l->got_hello = true;
	l->peer_id = sl_strdup(h->node_id);
	if (strcmp(h->cluster_id, cl->conf.name) != 0)
		return refuse(l, "another cluster_name");
	if (h->proto_major != CLF_PROTO_MAJOR)
		return refuse(l, "another major protocol version");
	if (h->nonce.len != CL_NONCE_LEN || h->node_id[0] == '\0' || l->peer_id == NULL)
		return refuse(l, "a malformed Hello");
	if (strcmp(h->node_id, cl->conf.node_id) == 0) {
		if (l->target != NULL && h->incarnation == cl->incarnation)
			l->target->self = true; /* our own address: never dialled again */
		else if (h->incarnation != cl->incarnation)
			LOG_ERR("cluster", "another node at %s uses our node id '%s'", l->addr,
			        h->node_id);
		cl_link_close(l, "our own node id");
		return;
	}
	l->peer_inc = h->incarnation;
	for (size_t i = 0; i < h->n_known_versions; i++)
		if (strcmp(h->known_versions[i]->origin, cl->conf.node_id) == 0) {
			l->knows_inc = h->known_versions[i]->incarnation;
			l->knows_ver = h->known_versions[i]->version;
		}
	memcpy(l->peer_nonce, h->nonce.data, CL_NONCE_LEN);
	cl_auth_mac(cl, cl->conf.node_id, l->peer_id, l->peer_nonce, l->nonce, mac);
	a.nonce.data = l->peer_nonce;
	a.nonce.len = CL_NONCE_LEN;
	a.own_nonce.data = l->nonce;
	a.own_nonce.len = CL_NONCE_LEN;
	a.hmac.data = mac;
	a.hmac.len = CL_MAC_LEN;
	/* The link speaks the smaller minor; this release knows only CLF_PROTO_MINOR. */
	a.chosen_minor = h->proto_minor > CLF_PROTO_MINOR ? CLF_PROTO_MINOR : h->proto_minor;
	cl_link_send(l, CLF_AUTH, &a.base, NULL);
	l->sent_auth = true;
}

static void
on_auth(struct cl_link *l, const Starling__Cluster__V1__Auth *a)
{
	uint8_t want[CL_MAC_LEN];
	struct cl_peer *p;

	if (!l->sent_auth || l->got_auth)
		return refuse(l, "Auth out of order");
	if (a->nonce.len != CL_NONCE_LEN || memcmp(a->nonce.data, l->nonce, CL_NONCE_LEN) != 0 ||
	    a->hmac.len != CL_MAC_LEN)
		return refuse(l, "a malformed Auth");
	cl_auth_mac(l->cl, l->peer_id, l->cl->conf.node_id, l->nonce, l->peer_nonce, want);
	if (CRYPTO_memcmp(want, a->hmac.data, CL_MAC_LEN) != 0)
		return refuse(l, "authentication failed (another cluster_secret)");
	l->got_auth = true;
	if ((p = cl_peer_bind(l)) == NULL)
		return;
	LOG_NOTICE("cluster", "link to '%s' (%s) up", p->node_id, l->addr);
}

/* One frame of an authenticated link. */
static void
on_peer_frame(struct cl_link *l, const struct clf_frame *f, ProtobufCMessage *m)
{
	struct cl_peer *p = l->peer;

	switch (f->type) {
	case CLF_HEARTBEAT:
		cl_peer_heartbeat_in(p, (const Starling__Cluster__V1__Heartbeat *)m);
		break;
	case CLF_FORWARD_ACK:
		cl_fwd_ack_in(p, (const Starling__Cluster__V1__ForwardAck *)m);
		break;
	case CLF_LEAVE:
		l->left = true;
		cl_link_close(l, "the peer is leaving");
		break;
	default:
		cl_gossip_frame(p, f->type, m);
		break;
	}
}

/* Handles one frame. Returns false once l is closing. */
static bool
on_frame(struct cl_link *l, const struct clf_frame *f)
{
	enum clf_err err = CLF_OK;
	ProtobufCMessage *m;

	l->cl->st.frames_in++;
	if (!f->known)
		return true; /* an IGNORABLE frame of a newer minor */
	if (f->type == CLF_FORWARD && l->peer != NULL) {
		cl_fwd_in(l->peer, f);
		return !l->closing;
	}
	if ((m = clf_meta_unpack(f, CL_UNPACK_MAX, &err)) == NULL) {
		cl_link_close(l, clf_strerror(err));
		return false;
	}
	if (f->type == CLF_HELLO)
		on_hello(l, (Starling__Cluster__V1__Hello *)m);
	else if (f->type == CLF_AUTH && l->got_hello)
		on_auth(l, (Starling__Cluster__V1__Auth *)m);
	else if (l->peer != NULL)
		on_peer_frame(l, f, m);
	else
		refuse(l, "a frame before authentication");
	clf_meta_free(m);
	return !l->closing;
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct cl_link *l = h->data;
	struct sl_buf *in = l->tls != NULL ? &l->raw : &l->rx;

	(void)hint;
	if (sl_buf_reserve(in, RX_CHUNK) < 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)in->data + in->len, (unsigned int)(in->cap - in->len));
}

/* n bytes arrived: plaintext in rx. Returns false when l was closed. */
static bool
link_in(struct cl_link *l, size_t n)
{
	int rc;

	if (l->tls == NULL) {
		l->rx.len += n;
		return true;
	}
	rc = ctls_read(l->tls, l->raw.data, n, &l->rx, &l->cout);
	l->raw.len = 0;
	if (rc < 0) {
		if (rc != -ECONNRESET) {
			l->cl->st.auth_failed++;
			LOG_WARN("cluster", "peer %s refused: TLS: %s", l->addr,
			         ctls_error(l->tls));
		}
		l->tx.len = 0;
		link_flush(l); /* the alert that tells the peer why */
		cl_link_close(l, rc == -ECONNRESET ? "closed by the peer" : ctls_error(l->tls));
		return false;
	}
	return true;
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct cl_link *l = s->data;
	struct clf_frame f;
	enum clf_err err = CLF_OK;
	size_t off = 0;
	int rc;

	(void)buf;
	if (n < 0 || l->closing) {
		if (n < 0)
			cl_link_close(l, n == UV_EOF ? "closed by the peer" : uv_strerror((int)n));
		return;
	}
	if (!link_in(l, (size_t)n))
		return;
	if (l->peer != NULL)
		l->peer->last_rx_ms = cl_now_ms(l->cl);
	while ((rc = clf_decode(l->rx.data + off, l->rx.len - off, CLF_LEN_MAX_DEFAULT, &f, &err)) >
	       0) {
		off += (size_t)rc;
		if (!on_frame(l, &f))
			break;
	}
	if (rc < 0 && !l->closing)
		cl_link_close(l, clf_strerror(err));
	if (l->closing)
		return;
	sl_buf_consume(&l->rx, off);
	/* A frame longer than what is buffered: room for all of it, so it arrives in one piece. */
	if (rc == 0 && f.len > l->rx.cap && sl_buf_reserve(&l->rx, f.len - l->rx.len) < 0)
		cl_link_close(l, "out of memory for a frame");
	l->cl->ops.flush(l->cl->ops.arg);
}

static struct cl_link *
link_new(struct cluster *cl)
{
	struct cl_link *l = sl_calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->cl = cl;
	if (uv_tcp_init(&cl->loop, &l->tcp) < 0) {
		sl_free(l);
		return NULL;
	}
	l->tcp.data = l;
	l->next = cl->links;
	cl->links = l;
	return l;
}

/* Both ends speak first: Hello, then read. */
static void
link_open(struct cl_link *l)
{
	struct sockaddr_storage sa;
	int len = sizeof(sa);
	int rc;

	uv_tcp_nodelay(&l->tcp, 1);
	if (uv_tcp_getpeername(&l->tcp, (struct sockaddr *)&sa, &len) == 0) {
		char ip[48] = "?";
		uint16_t port = 0;
		if (sa.ss_family == AF_INET6) {
			uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof(ip));
			port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
		} else {
			uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof(ip));
			port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
		}
		snprintf(l->addr, sizeof(l->addr), "%s:%u", ip, port);
	}
	if (l->cl->tls != NULL && ((l->tls = ctls_new(l->cl->tls, l->target == NULL)) == NULL ||
	                           ctls_start(l->tls, &l->cout) < 0)) {
		cl_link_close(l, "cannot start TLS");
		return;
	}
	if ((rc = uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read)) < 0) {
		cl_link_close(l, uv_strerror(rc));
		return;
	}
	send_hello(l); /* with TLS, held until the handshake is over */
}

void
cl_link_accepted(struct cluster *cl)
{
	struct cl_link *l = link_new(cl);

	if (l == NULL)
		return;
	if (uv_accept((uv_stream_t *)&cl->listener, (uv_stream_t *)&l->tcp) < 0) {
		cl_link_close(l, "accept failed");
		return;
	}
	link_open(l);
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct cl_link *l = container_of(req, struct cl_link, connect);

	if (l->closing)
		return;
	if (status < 0) {
		cl_link_close(l, uv_strerror(status));
		return;
	}
	link_open(l);
}

int
cl_link_dial(struct cluster *cl, struct cl_target *t)
{
	struct cl_link *l = link_new(cl);
	int rc;

	if (l == NULL)
		return -ENOMEM;
	l->target = t;
	t->link = l;
	snprintf(l->addr, sizeof(l->addr), "%s", t->hostport);
	if ((rc = uv_tcp_connect(&l->connect, &l->tcp, (struct sockaddr *)&t->sa, on_connect)) <
	    0) {
		cl_link_close(l, uv_strerror(rc));
		return rc;
	}
	return 0;
}
