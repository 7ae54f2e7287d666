/* broker/node.c - a node: its listeners, timers, signals and the flush of batched writes. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/node.h"
#include "broker/persist.h"
#include "broker/tls.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/base/sl_log.h"

#define TICK_MS 250

/* The time n's loop spent since the last call outside its poll for I/O: the longest such
 * stretch is the longest any client of n waited for a turn (one slow callback or packet
 * holds everyone). Kept as the worst since start, in microseconds ($SYS loop/stall_max_us). */
static void
measure_stall(struct node *n)
{
	uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(n->loop), busy;

	if (n->turn_ns != 0) {
		busy = (now - n->turn_ns) - (idle - n->turn_idle_ns);
		if (busy / 1000 > n->st.loop_stall_max_us)
			n->st.loop_stall_max_us = busy / 1000;
	}
	n->turn_ns = now;
	n->turn_idle_ns = idle;
}

static void
on_flush(uv_prepare_t *h)
{
	persist_flush(h->data); /* before the writes: acknowledgements may become due */
	conn_flush_all(h->data);
	measure_stall(h->data); /* last before the poll */
}

/* Closes c, which stopped making progress (half-open, slowloris, stalled). */
static void
timed_out(struct conn *c, const char *why)
{
	c->n->st.conn_timed_out++;
	LOG_INFO("conn", "%s '%s' %s, closing", c->connected ? "client" : "connection from",
	         c->s != NULL ? c->s->client_id : conn_peer(c), why);
	if (c->connected)
		conn_disconnect(c, MQTT_RC_KEEPALIVE_TIMEOUT);
	else
		conn_close(c, false); /* no CONNACK: the peer never said what it speaks */
}

/* Before CONNECT, the whole CONNECT is due within connect_timeout of the accept, however
 * slowly its bytes trickle in: half-open sockets and slowloris cost a slot for that long at
 * most. After it, [MQTT-3.1.2-24] a packet within 1.5 keep-alive periods; with keep alive 0, a
 * packet begun must go on arriving, a byte at least every connect_timeout. A connection paused
 * by a rate limit is exempt: the broker is the one not reading. */
static void
check_conns(struct node *n, uint64_t now)
{
	uint64_t ct = (uint64_t)node_conf(n)->connect_timeout * 1000u;
	struct conn *c, *next;

	for (c = n->conns; c != NULL; c = next) {
		next = c->next;
		limit_conn_tick(c, now);
		if (c->closing || c->paused)
			continue;
		if (conn_auth(c) != NULL && handle_auth_tick(c, now))
			continue;
		if (!c->connected && now - c->start_ms > ct) {
			timed_out(c, "sent no complete CONNECT in time");
		} else if (c->connected && c->keepalive > 0 &&
		           now - c->last_rx_ms > (uint64_t)c->keepalive * 1500u) {
			LOG_NOTICE("conn", "client '%s' has exceeded timeout, disconnecting",
			           c->s != NULL ? c->s->client_id : conn_peer(c));
			conn_disconnect(c, MQTT_RC_KEEPALIVE_TIMEOUT);
		} else if (c->connected && c->keepalive == 0 && conn_partial(c) > 0 &&
		           now - c->last_rx_ms > ct) {
			timed_out(c, "stalled in the middle of a packet");
		}
	}
}

static void
snapshot(struct node *n)
{
	pthread_mutex_lock(&n->snap_mu);
	n->snap = n->st;
	n->snap_sess = n->n_sess;
	n->snap_subs = topic_tree_count(n->subs);
	pthread_mutex_unlock(&n->snap_mu);
}

static void
on_tick(uv_timer_t *t)
{
	struct node *n = t->data;
	uint64_t now = uv_now(n->loop), every = (uint64_t)node_conf(n)->sys_interval * 1000u;

	check_conns(n, now);
	limit_tick(n);
	sess_tick(n, now);
	snapshot(n);
	if (n->idx == 0 && every > 0 && now - n->last_sys_ms >= every) {
		n->last_sys_ms = now;
		sys_publish(n, now);
	}
}

static void
on_signal(uv_signal_t *h, int signum)
{
	struct node *n = h->data;

	if (signum == SIGHUP) {
		node_reload(n);
		return;
	}
	LOG_NOTICE("node", "signal %d received, shutting down", signum);
	node_stop(n, 0);
}

/* Sets up worker idx of b on its own loop. Signals are caught by worker 0 only. */
int
node_init(struct node *n, struct broker *b, uint32_t idx)
{
	memset(n, 0, sizeof(*n));
	n->b = b;
	n->idx = idx;
	n->retained = b->retained;
	n->started_ms = b->started_ms;
	n->loop = &n->loop_storage;
	pthread_mutex_init(&n->snap_mu, NULL);
	if (uv_loop_init(n->loop) < 0)
		return -ENOMEM;
	uv_loop_configure(n->loop, UV_METRICS_IDLE_TIME); /* measure_stall() */
	n->subs = topic_tree_new();
	n->rx_scratch = sl_malloc(NODE_RX_SCRATCH);
	n->listeners = sl_calloc(node_conf(n)->n_listeners + 1, sizeof(uv_tcp_t));
	if (n->subs == NULL || n->rx_scratch == NULL || n->listeners == NULL ||
	    worker_mailbox_init(n) < 0)
		return -ENOMEM;
	if (b->store != NULL && persist_attach(n) < 0)
		return -ENOMEM;
	slice_init(n);
	uv_prepare_init(n->loop, &n->flush);
	n->flush.data = n;
	uv_prepare_start(&n->flush, on_flush);
	uv_timer_init(n->loop, &n->tick);
	n->tick.data = n;
	uv_timer_start(&n->tick, on_tick, TICK_MS, TICK_MS);
	if (idx != 0)
		return 0;
	uv_signal_init(n->loop, &n->sig_term);
	uv_signal_init(n->loop, &n->sig_int);
	uv_signal_init(n->loop, &n->sig_hup);
	n->sig_term.data = n->sig_int.data = n->sig_hup.data = n;
	uv_signal_start(&n->sig_term, on_signal, SIGTERM);
	uv_signal_start(&n->sig_int, on_signal, SIGINT);
	uv_signal_start(&n->sig_hup, on_signal, SIGHUP);
	return 0;
}

/* A listening socket of its own per worker, all on one port: SO_REUSEPORT lets the kernel
 * spread new connections over the workers (libuv 1.44 has no flag for it). */
static int
reuseport_socket(const struct sockaddr *sa)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                          : sizeof(struct sockaddr_in);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, sa, len) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

static int
listen_one(struct node *n, size_t i)
{
	const struct conf_listener *l = &node_conf(n)->listeners[i];
	const char *addr = l->bind_address;
	struct sockaddr_storage ss;
	int rc;

	if (addr == NULL)
		addr = (l->socket_domain != NULL && strcmp(l->socket_domain, "ipv6") == 0)
		               ? "::"
		               : "0.0.0.0";
	if (strchr(addr, ':') != NULL)
		rc = uv_ip6_addr(addr, l->port, (struct sockaddr_in6 *)&ss);
	else
		rc = uv_ip4_addr(addr, l->port, (struct sockaddr_in *)&ss);
	if (rc < 0)
		return rc;
	uv_tcp_init(n->loop, &n->listeners[i]);
	n->listeners[i].data = n;
	n->n_listeners = i + 1;
	if ((rc = reuseport_socket((struct sockaddr *)&ss)) < 0)
		return rc;
	if ((rc = uv_tcp_open(&n->listeners[i], rc)) < 0)
		return rc;
	/* A deep backlog: connection storms should measure the broker, not SYN retries. */
	if ((rc = uv_listen((uv_stream_t *)&n->listeners[i], 4096, conn_on_accept)) < 0)
		return rc;
	if (n->idx == 0)
		LOG_NOTICE("node", "opening listen socket on %s port %u", addr, l->port);
	return 0;
}

int
node_listen(struct node *n)
{
	const struct conf *cf = node_conf(n);
	size_t i;
	int rc;

	for (i = 0; i < cf->n_listeners; i++) {
		if ((rc = listen_one(n, i)) < 0) {
			LOG_ERR("node", "cannot listen on port %u: %s", cf->listeners[i].port,
			        uv_strerror(rc));
			return rc;
		}
	}
	return 0;
}

void
node_stop(struct node *n, int exit_code)
{
	struct conn *c, *next;
	size_t i;

	if (n->stopping)
		return;
	n->stopping = true;
	n->exit_code = exit_code;
	if (n->idx == 0)
		worker_stop_all(n->b, exit_code);
	for (i = 0; i < n->n_listeners; i++)
		uv_close((uv_handle_t *)&n->listeners[i], NULL);
	for (c = n->conns; c != NULL; c = next) {
		next = c->next;
		c->will_ok = true; /* a server shutdown is not the client's failure */
		conn_disconnect(c, MQTT_RC_SHUTTING_DOWN); /* v5 clients learn why */
	}
	conn_flush_all(n);
	/* uv_write already tried to send the DISCONNECTs; a peer that is not reading must not
	 * keep the process alive, so every connection closes now. */
	for (c = n->conns; c != NULL; c = next) {
		next = c->next;
		conn_close(c, false);
	}
	slice_fini(n); /* after the closes: a SUBSCRIBE in slices ends with its connection */
	uv_close((uv_handle_t *)&n->slice_idle, NULL);
	persist_detach(n); /* barriers still out complete now, cancelled */
	uv_close((uv_handle_t *)&n->tick, NULL);
	uv_close((uv_handle_t *)&n->flush, NULL);
	uv_close((uv_handle_t *)&n->mb_async, NULL);
	if (n->idx != 0)
		return;
	uv_close((uv_handle_t *)&n->sig_term, NULL);
	uv_close((uv_handle_t *)&n->sig_int, NULL);
	uv_close((uv_handle_t *)&n->sig_hup, NULL);
}

int
node_reload(struct node *n)
{
	int rc;

	if (node_conf(n)->path == NULL)
		return 0;
	if ((rc = node_conf_reload(n)) < 0)
		return rc;
	node_auth_reload(n->b); /* both files again, even when their paths did not change */
	tls_reload(n->b);       /* certificates and keys again, for new connections */
	return rc;
}

/* Frees what the worker holds; its loop has stopped. */
void
node_fini(struct node *n)
{
	struct sess *s;

	while ((s = n->all_sess) != NULL) {
		s->conn = NULL;
		sess_free(s);
	}
	worker_mailbox_fini(n);
	topic_tree_free(n->subs);
	sl_free(n->sess_tab);
	sl_free(n->match);
	sl_buf_fini(&n->mount_buf);
	sl_free(n->legs);
	sl_free(n->rx_scratch);
	sl_free(n->listeners);
	uv_run(n->loop, UV_RUN_DEFAULT); /* close callbacks still due */
	uv_loop_close(n->loop);
	pthread_mutex_destroy(&n->snap_mu);
}
