/* broker/core/worker.c - a worker: its listeners, timers, signals and the flush of batched writes.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/conf/conf.h"
#include "broker/core/access.h"
#include "broker/core/broker.h"
#include "broker/core/conn.h"
#include "broker/core/handle.h"
#include "broker/core/limit.h"
#include "broker/core/persist.h"
#include "broker/core/route.h"
#include "broker/core/sess.h"
#include "broker/core/slice.h"
#include "broker/core/sys.h"
#include "broker/core/worker.h"
#include "broker/index/topic.h"
#include "broker/transport/tls.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/base/sl_log.h"

#define TICK_MS 250

/* The time n's loop spent since the last call outside its poll for I/O: the longest such
 * stretch is the longest any client of n waited for a turn (one slow callback or packet
 * holds everyone). Kept as the worst since start, in microseconds ($SYS loop/stall_max_us). */
static void
measure_stall(struct worker *w)
{
	uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(w->loop), busy;

	if (w->turn_ns != 0) {
		busy = (now - w->turn_ns) - (idle - w->turn_idle_ns);
		if (busy / 1000 > w->st.loop_stall_max_us)
			w->st.loop_stall_max_us = busy / 1000;
	}
	w->turn_ns = now;
	w->turn_idle_ns = idle;
}

/* The loop's busy share since the last tick (owner_place() packs new sessions by it). */
static void
measure_busy(struct worker *w)
{
	uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(w->loop), span, busy;

	span = now - w->tick_ns;
	if (w->tick_ns != 0 && span > 0) {
		busy = span - (idle - w->tick_idle_ns < span ? idle - w->tick_idle_ns : span);
		atomic_store_explicit(&w->busy_permille, (unsigned)(busy * 1000 / span),
		                      memory_order_relaxed);
	}
	w->tick_ns = now;
	w->tick_idle_ns = idle;
}

static void
on_flush(uv_prepare_t *h)
{
	persist_flush(h->data);      /* before the writes: acknowledgements may become due */
	worker_post_flush(h->data);  /* this turn's routed messages, one post per worker */
	route_flush_remote(h->data); /* and to the other nodes, one post per turn */
	conn_flush_all(h->data);
	worker_before_poll(h->data);
	measure_stall(h->data); /* last before the poll */
}

/* Closes c, which stopped making progress (half-open, slowloris, stalled). */
static void
timed_out(struct conn *c, const char *why)
{
	c->w->st.conn_timed_out++;
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
check_conns(struct worker *w, uint64_t now)
{
	uint64_t ct = (uint64_t)worker_conf(w)->connect_timeout * 1000u;
	struct conn *c, *next;

	for (c = w->conns; c != NULL; c = next) {
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
snapshot(struct worker *w)
{
	pthread_mutex_lock(&w->snap_mu);
	w->snap = w->st;
	w->snap_sess = w->n_sess;
	w->snap_subs = topic_tree_count(w->subs);
	pthread_mutex_unlock(&w->snap_mu);
}

static void
on_tick(uv_timer_t *t)
{
	struct worker *w = t->data;
	uint64_t now = uv_now(w->loop), every = (uint64_t)worker_conf(w)->sys_interval * 1000u;

	measure_busy(w);
	check_conns(w, now);
	limit_tick(w);
	sess_tick(w, now);
	snapshot(w);
	if (w->idx == 0 && every > 0 && now - w->last_sys_ms >= every) {
		w->last_sys_ms = now;
		sys_publish(w, now);
	}
}

static void
on_signal(uv_signal_t *h, int signum)
{
	struct worker *w = h->data;

	if (signum == SIGHUP) {
		worker_reload(w);
		return;
	}
	LOG_NOTICE("broker", "signal %d received, shutting down", signum);
	worker_stop(w, 0);
}

/* Sets up worker idx of b on its own loop. Signals are caught by worker 0 only. */
int
worker_init(struct worker *w, struct broker *b, uint32_t idx)
{
	memset(w, 0, sizeof(*w));
	w->b = b;
	w->idx = idx;
	w->retained = b->retained;
	w->started_ms = b->started_ms;
	w->loop = &w->loop_storage;
	pthread_mutex_init(&w->snap_mu, NULL);
	if (uv_loop_init(w->loop) < 0)
		return -ENOMEM;
	uv_loop_configure(w->loop, UV_METRICS_IDLE_TIME); /* measure_stall() */
	w->subs = topic_tree_new();
	w->interest = route_interest_new();
	w->rx_scratch = sl_malloc(WORKER_RX_SCRATCH);
	w->listeners = sl_calloc(worker_conf(w)->n_listeners + 1, sizeof(uv_tcp_t));
	if (w->subs == NULL || w->interest == NULL || w->rx_scratch == NULL ||
	    w->listeners == NULL || worker_mailbox_init(w) < 0)
		return -ENOMEM;
	if (b->store != NULL && persist_attach(w) < 0)
		return -ENOMEM;
	slice_init(w);
	uv_prepare_init(w->loop, &w->flush);
	w->flush.data = w;
	uv_prepare_start(&w->flush, on_flush);
	uv_timer_init(w->loop, &w->tick);
	w->tick.data = w;
	uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
	if (idx != 0)
		return 0;
	uv_signal_init(w->loop, &w->sig_term);
	uv_signal_init(w->loop, &w->sig_int);
	uv_signal_init(w->loop, &w->sig_hup);
	w->sig_term.data = w->sig_int.data = w->sig_hup.data = w;
	uv_signal_start(&w->sig_term, on_signal, SIGTERM);
	uv_signal_start(&w->sig_int, on_signal, SIGINT);
	uv_signal_start(&w->sig_hup, on_signal, SIGHUP);
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
listen_one(struct worker *w, size_t i)
{
	const struct conf_listener *l = &worker_conf(w)->listeners[i];
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
	uv_tcp_init(w->loop, &w->listeners[i]);
	w->listeners[i].data = w;
	w->n_listeners = i + 1;
	if ((rc = reuseport_socket((struct sockaddr *)&ss)) < 0)
		return rc;
	if ((rc = uv_tcp_open(&w->listeners[i], rc)) < 0)
		return rc;
	/* A deep backlog: connection storms should measure the broker, not SYN retries. */
	if ((rc = uv_listen((uv_stream_t *)&w->listeners[i], 4096, conn_on_accept)) < 0)
		return rc;
	if (w->idx == 0)
		LOG_NOTICE("broker", "opening listen socket on %s port %u", addr, l->port);
	return 0;
}

int
worker_listen(struct worker *w)
{
	const struct conf *cf = worker_conf(w);
	size_t i;
	int rc;

	for (i = 0; i < cf->n_listeners; i++) {
		if ((rc = listen_one(w, i)) < 0) {
			LOG_ERR("broker", "cannot listen on port %u: %s", cf->listeners[i].port,
			        uv_strerror(rc));
			return rc;
		}
	}
	return 0;
}

void
worker_stop(struct worker *w, int exit_code)
{
	struct conn *c, *next;
	size_t i;

	if (w->stopping)
		return;
	w->stopping = true;
	w->exit_code = exit_code;
	if (w->idx == 0)
		worker_stop_all(w->b, exit_code);
	for (i = 0; i < w->n_listeners; i++)
		uv_close((uv_handle_t *)&w->listeners[i], NULL);
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		c->will_ok = true; /* a server shutdown is not the client's failure */
		conn_disconnect(c, MQTT_RC_SHUTTING_DOWN); /* v5 clients learn why */
	}
	conn_flush_all(w);
	/* uv_write already tried to send the DISCONNECTs; a peer that is not reading must not
	 * keep the process alive, so every connection closes now. */
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		conn_close(c, false);
	}
	slice_fini(w); /* after the closes: a SUBSCRIBE in slices ends with its connection */
	uv_close((uv_handle_t *)&w->slice_idle, NULL);
	persist_detach(w); /* barriers still out complete now, cancelled */
	uv_close((uv_handle_t *)&w->tick, NULL);
	uv_close((uv_handle_t *)&w->flush, NULL);
	uv_close((uv_handle_t *)&w->mb_async, NULL);
	uv_close((uv_handle_t *)&w->woke, NULL);
	if (w->idx != 0)
		return;
	uv_close((uv_handle_t *)&w->sig_term, NULL);
	uv_close((uv_handle_t *)&w->sig_int, NULL);
	uv_close((uv_handle_t *)&w->sig_hup, NULL);
}

int
worker_reload(struct worker *w)
{
	int rc;

	if (worker_conf(w)->path == NULL)
		return 0;
	if ((rc = broker_conf_reload(w)) < 0)
		return rc;
	access_reload(w->b); /* both files again, even when their paths did not change */
	tls_reload(w->b->tls,
	           broker_conf(w->b)); /* certificates and keys again, for new connections */
	return rc;
}

/* Frees what the worker holds; its loop has stopped. */
void
worker_fini(struct worker *w)
{
	struct sess *s;

	while ((s = w->all_sess) != NULL) {
		s->conn = NULL;
		sess_free(s);
	}
	worker_mailbox_fini(w);
	handle_sub_fini(w);
	topic_tree_free(w->subs);
	route_interest_free(w->interest);
	sl_free(w->sess_tab);
	sl_free(w->match);
	sl_buf_fini(&w->mount_buf);
	sl_free(w->legs);
	sl_free(w->rx_scratch);
	sl_free(w->listeners);
	uv_run(w->loop, UV_RUN_DEFAULT); /* close callbacks still due */
	uv_loop_close(w->loop);
	pthread_mutex_destroy(&w->snap_mu);
}
