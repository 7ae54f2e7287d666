/* cluster/cluster.c - the cluster's thread and loop, its mailbox, and the public calls of
 * cluster.h. Other threads only post items; the loop drains them in order, so a route change
 * posted before a wait is applied before it. */
#include "cluster/cluster.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cl.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

uint64_t
cl_now_ms(const struct cluster *cl)
{
	return uv_now((uv_loop_t *)&cl->loop);
}

/* The addresses of conf's strings. */
static size_t
conf_strings(struct cluster_conf *c, const char **s[], size_t max)
{
	const char **fixed[] = {&c->node_id,    &c->name,         &c->bind_host,
	                        &c->advertise,  &c->dns_name,     &c->secret,
	                        &c->tls_cafile, &c->tls_certfile, &c->tls_keyfile};
	size_t n = 0;

	for (; n < sizeof(fixed) / sizeof(fixed[0]); n++)
		s[n] = fixed[n];
	for (uint32_t i = 0; i < c->n_peers && n < max; i++)
		s[n++] = &c->peers[i];
	return n;
}

/* Copies conf's strings into one allocation: the cluster's conf stays valid whatever the
 * caller does with its own. */
static int
conf_copy(struct cluster *cl, const struct cluster_conf *in)
{
	const char **str[9 + RTABLE_MAX_ORIGINS];
	size_t n, total = 0, i;
	char *p;

	if (in->n_peers > RTABLE_MAX_ORIGINS)
		return -EINVAL;
	cl->conf = *in;
	if ((cl->conf.peers = sl_calloc(in->n_peers + 1, sizeof(char *))) == NULL)
		return -ENOMEM;
	if (in->n_peers > 0) /* peers may be NULL with none (memcpy's arguments must not be) */
		memcpy(cl->conf.peers, in->peers, in->n_peers * sizeof(char *));
	n = conf_strings(&cl->conf, str, 9 + RTABLE_MAX_ORIGINS);
	for (i = 0; i < n; i++)
		total += *str[i] != NULL ? strlen(*str[i]) + 1 : 0;
	if ((cl->conf_mem = p = sl_malloc(total + 1)) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (*str[i] == NULL)
			continue;
		strcpy(p, *str[i]);
		*str[i] = p;
		p += strlen(p) + 1;
	}
	if (cl->conf.name == NULL)
		cl->conf.name = "starling";
	return 0;
}

static int
conf_check(const struct cluster_conf *c)
{
	if (c->node_id == NULL || c->node_id[0] == '\0' || strlen(c->node_id) > 255) {
		LOG_ERR("cluster", "cluster_node_id is required (1 to 255 bytes)");
		return -EINVAL;
	}
	if (c->secret == NULL || c->secret[0] == '\0') {
		LOG_ERR("cluster", "cluster_secret is required: peers prove they know it");
		return -EINVAL;
	}
	if ((c->tls_cafile != NULL) != (c->tls_certfile != NULL) ||
	    (c->tls_certfile != NULL) != (c->tls_keyfile != NULL)) {
		LOG_ERR("cluster", "cluster_tls_cafile, _certfile and _keyfile go together");
		return -EINVAL;
	}
	return 0;
}

static void on_mailbox(uv_async_t *a);
static void on_flush(uv_prepare_t *h);

/* The loop and its handles exist from cluster_new() on: the broker may post route changes
 * (of the sessions it restores) before cluster_start(). */
static int
loop_init(struct cluster *cl)
{
	int rc;

	if ((rc = uv_loop_init(&cl->loop)) < 0)
		return rc;
	cl->loop_open = true;
	uv_async_init(&cl->loop, &cl->mb_async, on_mailbox);
	cl->mb_async.data = cl;
	uv_prepare_init(&cl->loop, &cl->flush);
	cl->flush.data = cl;
	uv_prepare_start(&cl->flush, on_flush);
	uv_timer_init(&cl->loop, &cl->tick);
	cl->tick.data = cl;
	uv_timer_init(&cl->loop, &cl->dns_timer);
	cl->dns_timer.data = cl;
	uv_tcp_init(&cl->loop, &cl->listener);
	cl->listener.data = cl;
	return 0;
}

struct cluster *
cluster_new(const struct cluster_conf *conf, const struct cluster_ops *ops, int *err)
{
	struct cluster *cl;

	if ((*err = conf_check(conf)) < 0)
		return NULL;
	if ((cl = sl_calloc(1, sizeof(*cl))) == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	cl->ops = *ops;
	pthread_mutex_init(&cl->mb_mu, NULL);
	pthread_mutex_init(&cl->st_mu, NULL);
	if ((*err = conf_copy(cl, conf)) < 0 || (*err = cl_gossip_init(cl)) < 0)
		goto fail;
	atomic_init(&cl->pg_ok, true);
	atomic_init(&cl->pg_down_all, false);
	cl_auth_random(&cl->incarnation, sizeof(cl->incarnation));
	cl->incarnation &= 0x7fffffffffffffffull; /* non-zero, so 0 can mean "none" */
	cl->incarnation |= 1;
	if ((*err = cl_peer_targets_init(cl)) < 0 || (*err = loop_init(cl)) < 0)
		goto fail;
	return cl;
fail:
	cluster_free(cl);
	return NULL;
}

static void
item_free(struct cl_item *it)
{
	sl_msg_unref(it->msg);
	for (uint32_t i = 0; i < it->n_msgs; i++)
		sl_msg_unref(it->msgs[i]);
	sl_free(it->msgs);
	sl_free(it);
}

/* Returns a batch's item to the thread that filled it, unless its messages are large: those
 * are freed here now rather than held until that thread's next turn. */
static bool
give_back(struct cl_item *it)
{
	struct cluster_batch *b = it->owner;
	uint64_t bytes = 0;

	if (b == NULL)
		return false;
	for (uint32_t i = 0; i < it->n_msgs; i++)
		bytes += it->msgs[i]->payload.len;
	if (bytes > (256u << 10))
		return false;
	it->next = atomic_load(&b->done);
	while (!atomic_compare_exchange_weak(&b->done, &it->next, it))
		;
	return true;
}

/* Takes the whole mailbox at once and handles it in order. */
static void
on_mailbox(uv_async_t *a)
{
	struct cluster *cl = a->data;
	struct cl_item *it, *next;

	pthread_mutex_lock(&cl->mb_mu);
	it = cl->mb_head;
	cl->mb_head = cl->mb_tail = NULL;
	pthread_mutex_unlock(&cl->mb_mu);
	for (; it != NULL; it = next) {
		next = it->next;
		switch (it->type) {
		case CL_ITEM_ROUTE:
			cl_gossip_change(cl, sl_bytes_make(it->text, it->flen),
			                 sl_bytes_make(it->text + it->flen, it->glen), it->delta);
			break;
		case CL_ITEM_WAIT:
			cl_gossip_wait(cl, it->token);
			break;
		case CL_ITEM_FORWARD:
			if (!cl->stopping && it->msg != NULL)
				cl_fwd_out(cl, it->msg);
			for (uint32_t i = 0; !cl->stopping && i < it->n_msgs; i++)
				cl_fwd_out(cl, it->msgs[i]);
			if (give_back(it))
				continue;
			break;
		case CL_ITEM_STOP:
			cl->stopping = true;
			break;
		}
		item_free(it);
	}
	cl->ops.flush(cl->ops.arg);
	if (cl->stopping)
		uv_stop(&cl->loop);
}

static void
post(struct cluster *cl, struct cl_item *it)
{
	it->next = NULL;
	pthread_mutex_lock(&cl->mb_mu);
	if (cl->mb_tail != NULL)
		cl->mb_tail->next = it;
	else
		cl->mb_head = it;
	cl->mb_tail = it;
	pthread_mutex_unlock(&cl->mb_mu);
	uv_async_send(&cl->mb_async);
}

/* The end of each loop turn, before it polls: what the turn produced goes out together. */
static void
on_flush(uv_prepare_t *h)
{
	struct cluster *cl = h->data;

	cl_gossip_flush(cl);
	for (int i = 1; i < RTABLE_MAX_ORIGINS; i++)
		if (cl->peers[i] != NULL) {
			cl_fwd_send_acks(cl->peers[i]);
			cl_fwd_pump(cl->peers[i]);
		}
	cl_link_flush_all(cl);
	cl->st.routes_local = rtable_count(cl->rt, RTABLE_SELF);
	cl->st.routes_remote = 0;
	cl->st.routes_bytes = rtable_bytes(cl->rt);
	for (int i = 1; i < RTABLE_MAX_ORIGINS; i++)
		cl->st.routes_remote += rtable_count(cl->rt, (uint8_t)i);
	cl->st.route_version = cl->version;
	pthread_mutex_lock(&cl->st_mu);
	cl->snap = cl->st;
	pthread_mutex_unlock(&cl->st_mu);
}

static void
on_tick(uv_timer_t *t)
{
	struct cluster *cl = t->data;

	cl_peer_tick(cl);
	cl_gossip_check_waits(cl, true);
}

static void
thread_main(void *arg)
{
	struct cluster *cl = arg;

	uv_run(&cl->loop, UV_RUN_DEFAULT);
}

static void
on_connection(uv_stream_t *server, int status)
{
	if (status == 0)
		cl_link_accepted(server->data);
}

static int
listen_start(struct cluster *cl)
{
	struct sockaddr_storage sa;
	const char *host = cl->conf.bind_host != NULL ? cl->conf.bind_host : "0.0.0.0";
	int rc;

	if (uv_ip4_addr(host, cl->conf.bind_port, (struct sockaddr_in *)&sa) != 0 &&
	    uv_ip6_addr(host, cl->conf.bind_port, (struct sockaddr_in6 *)&sa) != 0) {
		LOG_ERR("cluster", "cluster_bind '%s': not an IP address", host);
		return -EINVAL;
	}
	if ((rc = uv_tcp_bind(&cl->listener, (struct sockaddr *)&sa, 0)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&cl->listener, 64, on_connection)) < 0) {
		LOG_ERR("cluster", "cannot listen on %s:%u: %s", host, cl->conf.bind_port,
		        uv_strerror(rc));
		return rc;
	}
	LOG_NOTICE("cluster", "node '%s' listening for peers on %s:%u", cl->conf.node_id, host,
	           cl->conf.bind_port);
	return 0;
}

/* After the thread ended: closes every handle of the loop and runs it until they are gone. */
static void
close_all(struct cluster *cl)
{
	for (struct cl_link *l = cl->links; l != NULL; l = l->next)
		cl_link_close(l, "node stopping");
	for (struct cl_target *t = cl->targets; t != NULL; t = t->next)
		if (t->resolving)
			uv_cancel((uv_req_t *)&t->gai);
	if (cl->dns_busy)
		uv_cancel((uv_req_t *)&cl->dns_req);
	uv_close((uv_handle_t *)&cl->listener, NULL);
	uv_close((uv_handle_t *)&cl->tick, NULL);
	uv_close((uv_handle_t *)&cl->dns_timer, NULL);
	uv_close((uv_handle_t *)&cl->flush, NULL);
	uv_close((uv_handle_t *)&cl->mb_async, NULL);
	while (uv_run(&cl->loop, UV_RUN_NOWAIT) != 0)
		;
	if (uv_loop_close(&cl->loop) != 0)
		LOG_ERR("cluster", "a handle of the cluster loop is still open at stop");
	cl->loop_open = false;
}

int
cluster_start(struct cluster *cl)
{
	int rc;

	if (cl->conf.tls_cafile != NULL) {
		char why[256];
		cl->tls = ctls_ctx_new(cl->conf.tls_cafile, cl->conf.tls_certfile,
		                       cl->conf.tls_keyfile, why, sizeof(why));
		if (cl->tls == NULL) {
			LOG_ERR("cluster", "cluster TLS: %s", why);
			return -EINVAL;
		}
	}
	if ((rc = listen_start(cl)) < 0)
		return rc; /* cluster_free() closes the loop */
	/* Twice per heartbeat: beats, silence checks, dials and wait deadlines. */
	uv_timer_start(&cl->tick, on_tick, 0,
	               cl->conf.heartbeat_ms > 1 ? cl->conf.heartbeat_ms / 2 : 1);
	cl_peer_dns_start(cl);
	if ((rc = uv_thread_create(&cl->thread, thread_main, cl)) < 0)
		return rc;
	cl->started = true;
	return 0;
}

void
cluster_stop(struct cluster *cl)
{
	struct cl_item *it;

	if (cl == NULL || !cl->started)
		return;
	if ((it = sl_calloc(1, sizeof(*it))) != NULL) {
		it->type = CL_ITEM_STOP;
		post(cl, it);
	}
	uv_thread_join(&cl->thread);
	/* The loop stopped with the links open: say goodbye on each, then close everything. */
	for (struct cl_link *l = cl->links; l != NULL; l = l->next)
		if (l->peer != NULL && !l->closing) {
			Starling__Cluster__V1__Leave lv = STARLING__CLUSTER__V1__LEAVE__INIT;
			cl_fwd_send_acks(l->peer);
			lv.node_id = (char *)cl->conf.node_id;
			lv.incarnation = cl->incarnation;
			cl_link_send(l, CLF_LEAVE, &lv.base, NULL);
		}
	cl_link_flush_all(cl);
	uv_run(&cl->loop, UV_RUN_NOWAIT); /* the goodbyes' writes, best effort */
	cl->started = false;
	close_all(cl);
}

void
cluster_free(struct cluster *cl)
{
	struct cl_item *it, *next;

	if (cl == NULL)
		return;
	if (cl->loop_open) /* never started, or its start failed */
		close_all(cl);
	for (it = cl->mb_head; it != NULL; it = next) {
		next = it->next;
		item_free(it);
	}
	for (int i = 1; i < RTABLE_MAX_ORIGINS; i++) {
		struct cl_peer *p = cl->peers[i];
		if (p == NULL)
			continue;
		cl_fwd_free_all(p);
		sl_free(p->nacks);
		sl_free(p->node_id);
		sl_free(p);
	}
	for (struct cl_target *t = cl->targets, *tn; t != NULL; t = tn) {
		tn = t->next;
		sl_free(t->hostport);
		sl_free(t);
	}
	cl_gossip_fini(cl);
	ctls_ctx_free(cl->tls);
	pthread_mutex_destroy(&cl->mb_mu);
	pthread_mutex_destroy(&cl->st_mu);
	sl_free(cl->conf.peers);
	sl_free(cl->conf_mem);
	sl_free(cl);
}

void
cluster_route_change(struct cluster *cl, struct sl_bytes filter, struct sl_bytes group, int delta)
{
	struct cl_item *it;

	/* $SYS is per node and never forwarded: a peer has no use for such a route. */
	if (filter.len >= 4 && memcmp(filter.p, "$SYS", 4) == 0)
		return;
	if ((it = sl_malloc(sizeof(*it) + filter.len + group.len)) == NULL) {
		LOG_ERR("cluster", "out of memory announcing a route: peers may miss it until the "
		                   "next digest check");
		return;
	}
	memset(it, 0, sizeof(*it));
	it->type = CL_ITEM_ROUTE;
	it->delta = delta;
	it->flen = filter.len;
	it->glen = group.len;
	memcpy(it->text, filter.p, filter.len);
	if (group.len > 0)
		memcpy(it->text + filter.len, group.p, group.len);
	post(cl, it);
}

void
cluster_route_wait(struct cluster *cl, void *token)
{
	struct cl_item *it = sl_calloc(1, sizeof(*it));

	if (it == NULL) {
		cl->ops.waited(cl->ops.arg, token); /* style: no memory to wait; answer at once */
		return;
	}
	it->type = CL_ITEM_WAIT;
	it->token = token;
	post(cl, it);
}

bool
cluster_maybe(const struct cluster *cl, struct sl_bytes topic)
{
	return rtable_maybe(cl->rt, topic);
}

static struct cl_item *
forward_item(struct sl_msg *msg)
{
	struct cl_item *it = sl_malloc(sizeof(*it));

	if (it == NULL)
		return NULL;
	memset(it, 0, sizeof(*it));
	it->type = CL_ITEM_FORWARD;
	it->msg = sl_msg_ref(msg);
	return it;
}

void
cluster_forward(struct cluster *cl, struct sl_msg *msg)
{
	struct cl_item *it = forward_item(msg);

	if (it != NULL)
		post(cl, it);
}

/* One item per CL_ITEM_MSGS messages: an item per message costs an allocation on the
 * worker and a free on the cluster thread, each contending for the other's malloc arena. */
void
cluster_forward_batched(struct cluster *cl, struct cluster_batch *b, struct sl_msg *msg)
{
	struct cl_item *it = b->tail;

	(void)cl;
	if (it == NULL || it->n_msgs == CL_ITEM_MSGS) {
		if ((it = b->spare) != NULL) {
			b->spare = it->next;
			b->n_spare--;
		} else if ((it = sl_calloc(1, sizeof(*it))) == NULL) {
			return;
		} else if ((it->msgs = sl_malloc(CL_ITEM_MSGS * sizeof(*it->msgs))) == NULL) {
			sl_free(it);
			return;
		}
		it->type = CL_ITEM_FORWARD;
		it->owner = b;
		it->next = NULL;
		if (b->tail != NULL)
			b->tail->next = it;
		else
			b->head = it;
		b->tail = it;
	}
	it->msgs[it->n_msgs++] = sl_msg_ref(msg);
}

/* Releases the items the cluster thread gave back: their messages here, the items kept (a
 * few) for reuse. */
static void
reclaim(struct cluster_batch *b)
{
	struct cl_item *it = atomic_exchange(&b->done, NULL), *next;

	for (; it != NULL; it = next) {
		next = it->next;
		for (uint32_t i = 0; i < it->n_msgs; i++)
			sl_msg_unref(it->msgs[i]);
		it->n_msgs = 0;
		if (b->n_spare >= 8) {
			item_free(it);
			continue;
		}
		it->next = b->spare;
		b->spare = it;
		b->n_spare++;
	}
}

void
cluster_batch_fini(struct cluster_batch *b)
{
	struct cl_item *it, *next;

	reclaim(b);
	for (it = b->spare; it != NULL; it = next) {
		next = it->next;
		item_free(it);
	}
	b->spare = NULL;
	b->n_spare = 0;
}

void
cluster_batch_post(struct cluster *cl, struct cluster_batch *b)
{
	reclaim(b);
	if (b->head == NULL)
		return;
	pthread_mutex_lock(&cl->mb_mu);
	if (cl->mb_tail != NULL)
		cl->mb_tail->next = b->head;
	else
		cl->mb_head = b->head;
	cl->mb_tail = b->tail;
	pthread_mutex_unlock(&cl->mb_mu);
	uv_async_send(&cl->mb_async);
	b->head = b->tail = NULL;
}

void
cluster_stats(const struct cluster *cl, struct cluster_stats *st)
{
	pthread_mutex_lock((pthread_mutex_t *)&cl->st_mu);
	*st = cl->snap;
	pthread_mutex_unlock((pthread_mutex_t *)&cl->st_mu);
}

const char *
cluster_node_id(const struct cluster *cl)
{
	return cl->conf.node_id;
}

void
cluster_set_pg_ok(struct cluster *cl, bool ok)
{
	atomic_store(&cl->pg_ok, ok);
}

bool
cluster_pg_down_everywhere(const struct cluster *cl)
{
	return atomic_load(&((struct cluster *)cl)->pg_down_all);
}

uint64_t
cluster_incarnation(const struct cluster *cl)
{
	return cl->incarnation;
}
