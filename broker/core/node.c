/* broker/core/node.c - this broker as a node of a cluster (node.h): the configuration handed to
 * cluster_new(), the forwarder route.c calls, route changes and SUBACK waits, and the ops the
 * cluster calls on its own thread. The ops never touch a session: they post mailbox items to
 * the workers (MB_ROUTE for a peer's message, MB_DELIVER for a shared group's member), gathered
 * per worker over a batch of calls and posted at its end (ops->flush), one lock and at most one
 * wake-up per worker and batch, as worker_post_batched() does between workers. */
#include "broker/core/node.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "broker/conf/conf.h"
#include "broker/core/broker.h"
#include "broker/core/route.h"
#include "broker/core/worker.h"
#include "cluster/cluster.h"
#include "cluster/lease.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/base/sl_log.h"

#define NODE_PORT 7800

/* A SUBACK's token travels through the cluster as a number, not a pointer: the connection it
 * names may be gone when the answer comes (handle_sub.c looks key up again). */
#define KEY_BITS 48

struct node {
	struct broker *b;
	struct cluster *cl;
	/* The cluster thread's: items gathered per worker since the last ops->flush. */
	struct mb_batch *out;
	uint32_t *dirty; /* workers with items in out, n_dirty of them */
	uint32_t n_dirty;
	struct lease *lease; /* owned; NULL without one (node_lease.c) */
	/* Per worker, the MB_ROUTE_MANY item of out[] still taking messages, or NULL: one item
	 * for many messages (an item per message costs an allocation on this thread and a free
	 * on the worker's, each contending for the other's malloc arena). */
	struct mb_item **many;
	/* MB_ROUTE_MANY items the workers are done with, their messages still referenced: the
	 * cluster thread, which allocated the messages, frees them (node_give_back()); a few
	 * items are kept for reuse (spare, the cluster thread's). */
	_Atomic(struct mb_item *) returned;
	struct mb_item *spare;
	uint32_t n_spare;
	/* Per worker, touched on its loop only: the Forwards of its current loop turn. */
	struct cluster_batch *fwd;
	bool started;
	atomic_bool stopped; /* node_stop() ran: no more calls into the cluster */
};

/* ---- configuration ---- */

/* Appends "host:port" of the address p[0, len) to *text, the port 7800 when left out. */
static int
peer_put(const char *p, size_t len, char **text)
{
	char host[CONF_HOST_MAX];
	uint16_t port;
	int n;

	if (conf_addr_split(p, len, host, &port) < 0)
		return -EINVAL;
	n = sprintf(*text, strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host,
	            port != 0 ? port : NODE_PORT);
	*text += n + 1;
	return 0;
}

/* cluster_peers, "a:1, b [::1]:2", as an array of "host:port" strings. */
static int
peers_split(const char *v, struct cluster_conf *cc, struct node_conf_mem *mem)
{
	static const char sep[] = ", \t";
	size_t n = 0, len;
	const char *p;
	char *text;

	for (p = v + strspn(v, sep); *p != '\0'; p += len, p += strspn(p, sep), n++)
		len = strcspn(p, sep);
	/* Each entry grows by at most its brackets, ":65535" and a NUL. */
	mem->peer_text = sl_malloc(strlen(v) + n * 9 + 1);
	mem->peers = sl_calloc(n + 1, sizeof(*mem->peers));
	if (mem->peer_text == NULL || mem->peers == NULL)
		return -ENOMEM;
	text = mem->peer_text;
	for (p = v + strspn(v, sep); *p != '\0'; p += len, p += strspn(p, sep)) {
		len = strcspn(p, sep);
		mem->peers[cc->n_peers] = text;
		if (peer_put(p, len, &text) < 0)
			return -EINVAL;
		cc->n_peers++;
	}
	cc->peers = mem->peers;
	return 0;
}

/* host[:port] into an allocated host and a port (7800 when left out). */
static int
addr_split(const char *v, char **host, uint16_t *port)
{
	char h[CONF_HOST_MAX];

	if (conf_addr_split(v, strlen(v), h, port) < 0)
		return -EINVAL;
	if (*port == 0)
		*port = NODE_PORT;
	return (*host = sl_strdup(h)) != NULL ? 0 : -ENOMEM;
}

/* The addresses: where to listen, whom to dial, which name to resolve. */
static int
conf_addrs(const struct conf *c, struct cluster_conf *cc, struct node_conf_mem *mem)
{
	const char *dns = c->cluster_discovery;
	int rc;

	if ((rc = addr_split(c->cluster_bind != NULL ? c->cluster_bind : "0.0.0.0", &mem->bind_host,
	                     &cc->bind_port)) < 0)
		return rc;
	cc->bind_host = mem->bind_host;
	if (dns != NULL) {
		if (strncmp(dns, "dns", 3) != 0)
			return -EINVAL;
		dns += 3 + strspn(dns + 3, " \t");
		if ((rc = addr_split(dns, &mem->dns_name, &cc->dns_port)) < 0)
			return rc;
		cc->dns_name = mem->dns_name;
	}
	return c->cluster_peers != NULL ? peers_split(c->cluster_peers, cc, mem) : 0;
}

int
node_conf(const struct conf *c, struct cluster_conf *cc, struct node_conf_mem *mem)
{
	memset(cc, 0, sizeof(*cc));
	memset(mem, 0, sizeof(*mem));
	cc->node_id = c->cluster_node_id;
	cc->name = c->cluster_name != NULL ? c->cluster_name : "starling";
	cc->advertise = c->cluster_advertise;
	cc->dns_interval_ms = c->cluster_discovery_interval * 1000u;
	cc->secret = c->cluster_secret;
	cc->tls_cafile = c->cluster_tls_cafile;
	cc->tls_certfile = c->cluster_tls_certfile;
	cc->tls_keyfile = c->cluster_tls_keyfile;
	cc->heartbeat_ms = c->cluster_heartbeat_interval;
	cc->unreachable_ms = c->cluster_unreachable_after;
	cc->sub_wait_ms = c->cluster_subscribe_wait;
	cc->buffer_bytes = c->cluster_buffer_bytes;
	cc->buffer_ms = c->cluster_buffer_time * 1000u;
	cc->shared_policy = c->cluster_shared_policy != NULL &&
	                                    strcmp(c->cluster_shared_policy, "round_robin") == 0
	                            ? CLUSTER_SHARED_ROUND_ROBIN
	                            : CLUSTER_SHARED_LOCAL_FIRST;
	return conf_addrs(c, cc, mem);
}

void
node_conf_fini(struct node_conf_mem *mem)
{
	sl_free(mem->bind_host);
	sl_free(mem->dns_name);
	sl_free(mem->peers);
	sl_free(mem->peer_text);
	memset(mem, 0, sizeof(*mem));
}

/* ---- the ops, on the cluster thread ---- */

/* Queues it for worker i until the batch's flush. */
static void
gather(struct node *n, uint32_t i, struct mb_item *it)
{
	struct mb_batch *q = &n->out[i];

	if (it->type != MB_ROUTE_MANY)
		n->many[i] = NULL; /* later messages go after it: order kept */
	it->next = NULL;
	if (q->tail != NULL) {
		q->tail->next = it;
	} else {
		q->head = it;
		n->dirty[n->n_dirty++] = i;
	}
	q->tail = it;
}

/* Messages per MB_ROUTE_MANY item: a full read of a link's socket, or close to it. */
#define MANY_CAP 256

static void
many_free(struct mb_item *it)
{
	sl_free(it->msgs);
	sl_free(it);
}

/* Frees the messages of the items the workers gave back (on the thread that allocated
 * them) and keeps a few items for reuse. On the cluster thread, or after it stopped. */
static void
reclaim(struct node *n)
{
	struct mb_item *it = atomic_exchange(&n->returned, NULL), *next;

	for (; it != NULL; it = next) {
		next = it->next;
		for (uint32_t i = 0; i < it->n_msgs; i++)
			sl_msg_unref(it->msgs[i]);
		it->n_msgs = 0;
		if (n->n_spare >= 8) {
			many_free(it);
			continue;
		}
		it->next = n->spare;
		n->spare = it;
		n->n_spare++;
	}
}

/* A new MB_ROUTE_MANY item: a spare one, or allocated. NULL: no memory. */
static struct mb_item *
many_new(struct node *n)
{
	struct mb_item *it;
	struct sl_msg **msgs;

	if (n->spare == NULL)
		reclaim(n);
	if ((it = n->spare) != NULL) {
		n->spare = it->next;
		n->n_spare--;
		msgs = it->msgs;
		memset(it, 0, sizeof(*it));
		it->type = MB_ROUTE_MANY;
		it->fd = -1;
		it->msgs = msgs;
		return it;
	}
	if ((it = worker_item(MB_ROUTE_MANY)) == NULL)
		return NULL;
	if ((it->msgs = sl_malloc(MANY_CAP * sizeof(*it->msgs))) == NULL) {
		sl_free(it);
		return NULL;
	}
	return it;
}

bool
node_give_back(struct broker *b, struct mb_item *it)
{
	struct node *n = b->node;
	uint64_t bytes = 0;

	if (n == NULL || it->type != MB_ROUTE_MANY)
		return false;
	for (uint32_t i = 0; i < it->n_msgs; i++)
		bytes += it->msgs[i]->payload.len;
	if (bytes > (256u << 10))
		return false; /* large: freed now rather than held until the cluster's next turn */
	it->next = atomic_load(&n->returned);
	while (!atomic_compare_exchange_weak(&n->returned, &it->next, it))
		;
	return true;
}

/* Worker i's MB_ROUTE_MANY item with room for one more message, gathered; NULL: no memory. */
static struct mb_item *
many_item(struct node *n, uint32_t i)
{
	struct mb_item *it = n->many[i];

	if (it != NULL && it->n_msgs < MANY_CAP)
		return it;
	if ((it = many_new(n)) == NULL)
		return NULL;
	gather(n, i, it);
	n->many[i] = it;
	return it;
}

/* A peer's message: to this node's non-shared subscribers, on every worker whose index may
 * match (route_local() there, which neither forwards nor picks shared members). A worker
 * not started under `worker_placement pack` holds no session: skipped. */
static void
on_deliver(void *arg, struct sl_msg *msg)
{
	struct node *n = arg;
	struct broker *b = n->b;
	struct mb_item *it;

	for (uint32_t i = 0; i < b->n_workers; i++) {
		if (!atomic_load(&b->workers[i].active) ||
		    !route_interested(&b->workers[i], msg->topic))
			continue;
		if ((it = many_item(n, i)) == NULL) {
			LOG_WARN("cluster", "out of memory: a message on '%.*s' missed worker %u",
			         (int)msg->topic.len, (const char *)msg->topic.p, i);
			continue;
		}
		it->msgs[it->n_msgs++] = sl_msg_ref(msg);
	}
}

/* The cluster picked this node for shared group (filter, group): one member here. */
static int
on_deliver_shared(void *arg, struct sl_msg *msg, struct sl_bytes group, struct sl_bytes filter)
{
	struct node *n = arg;
	struct route_member m;
	struct mb_item *it;

	if (route_shared_member(n->b, msg, filter, group, &m) < 0)
		return -ENOENT;
	/* No memory for the item: as good as no member here, so the cluster tries another node. */
	if ((it = worker_item(MB_DELIVER)) == NULL)
		return -ENOENT;
	it->msg = sl_msg_ref(msg);
	it->sess_id = m.sess_id; /* looked up on arrival: the member may leave meanwhile */
	it->qos = m.qos;
	it->sub_id = m.sub_id;
	gather(n, m.worker, it);
	return 0;
}

static void
on_flush(void *arg)
{
	struct node *n = arg;

	reclaim(n); /* messages are not held past the cluster's turn */
	for (uint32_t k = 0; k < n->n_dirty; k++) {
		n->many[n->dirty[k]] = NULL;
		worker_post_batch(&n->b->workers[n->dirty[k]], &n->out[n->dirty[k]]);
	}
	n->n_dirty = 0;
}

/* A SUBACK's wait is over: the worker that asked finds the SUBSCRIBE again by key. */
static void
on_waited(void *arg, void *token)
{
	struct node *n = arg;
	uint64_t v = (uint64_t)(uintptr_t)token;
	uint32_t i = (uint32_t)(v >> KEY_BITS);
	struct mb_item *it;

	SL_ASSERT(i < n->b->n_workers);
	if ((it = worker_item(MB_WAITED)) == NULL) {
		/* The client gets no SUBACK: it may resubscribe; nothing better without memory. */
		LOG_ERR("cluster", "out of memory: a SUBACK of worker %u is lost", i);
		return;
	}
	it->ack_id = v & ((UINT64_C(1) << KEY_BITS) - 1);
	worker_post(&n->b->workers[i], it);
}

/* ---- the forwarder, on a worker ---- */

/* route.c's remote step for a PUBLISH of this node: one destination (the cluster) when a peer
 * or a shared group may want it; the cluster sends it on and picks the shared members. */
static uint32_t
on_forward(void *arg, struct worker *w, struct sl_msg *msg, struct ack_leg *leg)
{
	struct node *n = arg;

	(void)leg; /* style: cluster.h has no durable receipt yet; the PUBACK does not wait */
	if (route_stays_here(msg->topic) || !cluster_maybe(n->cl, msg->topic))
		return 0;
	cluster_forward_batched(n->cl, &n->fwd[w->idx], msg);
	return 1;
}

static void
on_forward_flush(void *arg, struct worker *w)
{
	struct node *n = arg;

	cluster_batch_post(n->cl, &n->fwd[w->idx]);
}

/* ---- life cycle ---- */

static struct node *
node_new(struct broker *b)
{
	struct node *n = sl_calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->b = b;
	atomic_init(&n->stopped, false);
	n->out = sl_calloc(b->n_workers, sizeof(*n->out));
	n->dirty = sl_calloc(b->n_workers, sizeof(*n->dirty));
	n->fwd = sl_calloc(b->n_workers, sizeof(*n->fwd));
	n->many = sl_calloc(b->n_workers, sizeof(*n->many));
	if (n->out == NULL || n->dirty == NULL || n->fwd == NULL || n->many == NULL) {
		sl_free(n->many);
		sl_free(n->out);
		sl_free(n->dirty);
		sl_free(n->fwd);
		sl_free(n);
		return NULL;
	}
	return n;
}

int
node_open(struct broker *b)
{
	const struct conf *c = broker_conf(b);
	struct cluster_ops ops = {on_deliver, on_deliver_shared, on_flush, on_waited, NULL};
	struct route_remote r = {on_forward, on_forward_flush, NULL, true};
	struct cluster_conf cc;
	struct node_conf_mem mem;
	int rc;

	if (!conf_cluster_on(c))
		return 0;
	SL_ASSERT(b->n_workers < (1u << (64 - KEY_BITS)));
	if ((b->node = node_new(b)) == NULL)
		return -ENOMEM;
	ops.arg = r.arg = b->node;
	if ((rc = node_conf(c, &cc, &mem)) == 0)
		b->node->cl = cluster_new(&cc, &ops, &rc);
	node_conf_fini(&mem);
	if (b->node->cl == NULL) {
		LOG_ERR("cluster", "cannot set up the cluster: %s", sl_strerror(rc));
		return rc < 0 ? rc : -EINVAL;
	}
	route_set_remote(b, &r);
	/* Retained messages reach the other nodes through the shared store only (its change
	 * notifications, persist.c), never through the mesh. */
	if (c->retained_store == NULL || strcmp(c->retained_store, "redis") != 0)
		LOG_WARN("cluster", "retained_store is not redis: each node keeps its own retained "
		                    "messages, a subscriber gets those of the node it is on");
	return 0;
}

int
node_start(struct broker *b)
{
	int rc;

	if (b->node == NULL)
		return 0;
	if ((rc = cluster_start(b->node->cl)) < 0) {
		LOG_ERR("cluster", "cannot start the cluster: %s", sl_strerror(rc));
		return rc;
	}
	b->node->started = true;
	if (node_lease_wanted(b) && (b->node->lease = node_lease_start(b)) == NULL)
		return -EIO;
	LOG_NOTICE("cluster", "node '%s' of cluster '%s' started", cluster_node_id(b->node->cl),
	           broker_conf(b)->cluster_name);
	return 0;
}

void
node_stop(struct broker *b)
{
	struct node *n = b->node;

	if (n == NULL || atomic_exchange(&n->stopped, true) || !n->started)
		return;
	/* Left, on a clean stop: no peer waits out its lease to declare it dead. */
	lease_stop(n->lease, true);
	n->lease = NULL;
	cluster_stop(n->cl);
	/* Gathered but never flushed: the batch did not end. */
	for (uint32_t k = 0; k < n->n_dirty; k++) {
		n->many[n->dirty[k]] = NULL;
		worker_post_batch(&b->workers[n->dirty[k]], &n->out[n->dirty[k]]);
	}
	n->n_dirty = 0;
}

void
node_close(struct broker *b)
{
	struct node *n = b->node;

	if (n == NULL)
		return;
	route_set_remote(b, NULL);
	/* A turn that never reached its flush (the loop stopped): cluster_free() frees them. */
	for (uint32_t i = 0; n->cl != NULL && i < b->n_workers; i++)
		cluster_batch_post(n->cl, &n->fwd[i]);
	cluster_free(n->cl);
	for (uint32_t i = 0; i < b->n_workers; i++)
		cluster_batch_fini(&n->fwd[i]); /* what the stopped cluster thread gave back */
	reclaim(n);                             /* and what the stopped workers gave back */
	for (struct mb_item *it = n->spare, *next; it != NULL; it = next) {
		next = it->next;
		many_free(it);
	}
	sl_free(n->out);
	sl_free(n->dirty);
	sl_free(n->fwd);
	sl_free(n->many);
	sl_free(n);
	b->node = NULL;
}

/* ---- calls from the workers ---- */

void
node_route_change(struct broker *b, struct sl_bytes filter, struct sl_bytes group, int delta)
{
	/* After node_stop() the sessions still leave the index (shutdown): nobody to tell. */
	if (b->node == NULL || atomic_load_explicit(&b->node->stopped, memory_order_relaxed))
		return;
	cluster_route_change(b->node->cl, filter, group, delta);
}

bool
node_waits(const struct broker *b)
{
	return b->node != NULL;
}

void
node_route_wait(struct worker *w, uint64_t key)
{
	uint64_t v = (uint64_t)w->idx << KEY_BITS | key;

	/* style: the token is a number in a pointer; a 32-bit build would need an allocation. */
	_Static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "token: a 64-bit pointer");
	SL_ASSERT(key != 0 && key >> KEY_BITS == 0);
	if (atomic_load(&w->b->node->stopped))
		return; /* shutting down: the connection closes without its SUBACK */
	cluster_route_wait(w->b->node->cl, (void *)(uintptr_t)v);
}

struct cluster *
node_cluster(const struct broker *b)
{
	return b->node != NULL ? b->node->cl : NULL;
}
