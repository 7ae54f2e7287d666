/* cluster/peer.c - membership: the addresses to dial (cluster_peers, cluster_discovery dns),
 * the peers they turn out to be (by node id, once authenticated), one link per peer,
 * heartbeats and silence. Unreachable means "not routed to right now", never "dead": a dead
 * node is the next issue's, and needs more than silence. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cl.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

static struct cl_target *
target_add(struct cluster *cl, const char *hostport)
{
	struct cl_target *t;

	for (t = cl->targets; t != NULL; t = t->next)
		if (strcmp(t->hostport, hostport) == 0)
			return t;
	if ((t = sl_calloc(1, sizeof(*t))) == NULL || (t->hostport = sl_strdup(hostport)) == NULL) {
		sl_free(t);
		return NULL;
	}
	t->backoff_ms = CL_BACKOFF_MIN_MS;
	t->gai.data = t;
	t->next = cl->targets;
	cl->targets = t;
	return t;
}

int
cl_peer_targets_init(struct cluster *cl)
{
	for (uint32_t i = 0; i < cl->conf.n_peers; i++) {
		const char *colon = strrchr(cl->conf.peers[i], ':');
		if (colon == NULL || atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535) {
			LOG_ERR("cluster", "cluster_peers: '%s' is not host:port",
			        cl->conf.peers[i]);
			return -EINVAL;
		}
		if (target_add(cl, cl->conf.peers[i]) == NULL)
			return -ENOMEM;
	}
	return 0;
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
	struct cl_target *t = req->data;

	t->resolving = false;
	if (status == 0 && ai != NULL) {
		memcpy(&t->sa, ai->ai_addr, ai->ai_addrlen);
		t->resolved = true;
		t->next_dial_ms = 0; /* dial at the next tick, not after the resolver's backoff */
	} else if (status != UV_ECANCELED) {
		LOG_WARN("cluster", "cannot resolve peer '%s': %s", t->hostport,
		         uv_strerror(status));
		t->tried = true;
	}
	uv_freeaddrinfo(ai);
}

static void
resolve(struct cluster *cl, struct cl_target *t)
{
	char host[256];
	const char *colon = strrchr(t->hostport, ':');
	size_t n = (size_t)(colon - t->hostport);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};

	if (n >= sizeof(host))
		n = sizeof(host) - 1;
	memcpy(host, t->hostport, n);
	host[n] = '\0';
	if (host[0] == '[' && n > 2 && host[n - 1] == ']') { /* [v6]:port */
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	if (uv_getaddrinfo(&cl->loop, &t->gai, on_resolved, host, colon + 1, &hints) == 0)
		t->resolving = true;
}

/* cluster_discovery dns: every answer is a node's address; new ones become targets. */
static void
on_dns(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
	struct cluster *cl = req->data;
	char ip[64], hp[80];

	cl->dns_busy = false;
	if (status < 0) {
		if (status != UV_ECANCELED)
			LOG_WARN("cluster", "discovery: cannot resolve '%s': %s", cl->conf.dns_name,
			         uv_strerror(status));
		cl->first_round_done = true;
		return;
	}
	for (struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
		struct cl_target *t;
		if (a->ai_family == AF_INET6) {
			uv_ip6_name((struct sockaddr_in6 *)a->ai_addr, ip, sizeof(ip));
			snprintf(hp, sizeof(hp), "[%s]:%u", ip, cl->conf.dns_port);
		} else {
			uv_ip4_name((struct sockaddr_in *)a->ai_addr, ip, sizeof(ip));
			snprintf(hp, sizeof(hp), "%s:%u", ip, cl->conf.dns_port);
		}
		if ((t = target_add(cl, hp)) != NULL && !t->resolved && !t->resolving)
			resolve(cl, t);
	}
	uv_freeaddrinfo(ai);
}

static void
on_dns_timer(uv_timer_t *tm)
{
	struct cluster *cl = tm->data;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};

	if (cl->dns_busy || cl->stopping)
		return;
	cl->dns_req.data = cl;
	if (uv_getaddrinfo(&cl->loop, &cl->dns_req, on_dns, cl->conf.dns_name, NULL, &hints) == 0)
		cl->dns_busy = true;
}

void
cl_peer_dns_start(struct cluster *cl)
{
	if (cl->conf.dns_name == NULL)
		return;
	uv_timer_start(&cl->dns_timer, on_dns_timer, 0,
	               cl->conf.dns_interval_ms > 0 ? cl->conf.dns_interval_ms : 5000);
}

static void
heartbeat(struct cl_peer *p)
{
	Starling__Cluster__V1__Heartbeat hb = STARLING__CLUSTER__V1__HEARTBEAT__INIT;

	hb.seq = ++p->hb_seq;
	hb.mono_send_ns = uv_hrtime();
	cl_gossip_fill_heartbeat(p->cl, &hb);
	cl_link_send(p->link, CLF_HEARTBEAT, &hb.base, NULL);
}

static void
dial_due(struct cluster *cl, uint64_t now)
{
	for (struct cl_target *t = cl->targets; t != NULL; t = t->next) {
		if (!t->resolved) {
			if (!t->resolving && now >= t->next_dial_ms) {
				t->next_dial_ms = now + CL_BACKOFF_MAX_MS;
				resolve(cl, t);
			}
			continue;
		}
		if (t->self || t->link != NULL || (t->peer != NULL && t->peer->link != NULL) ||
		    now < t->next_dial_ms)
			continue;
		t->next_dial_ms = now + t->backoff_ms;
		t->backoff_ms = t->backoff_ms * 2 < CL_BACKOFF_MAX_MS ? t->backoff_ms * 2
		                                                      : CL_BACKOFF_MAX_MS;
		cl_link_dial(cl, t);
	}
}

/* Shared Forwards of a peer unreachable for longer than unreachable_ms go to another node. */
static void
peer_silence(struct cl_peer *p, uint64_t now)
{
	struct cluster *cl = p->cl;

	if (p->link != NULL && now - p->last_rx_ms > cl->conf.unreachable_ms) {
		LOG_WARN("cluster", "peer '%s' silent for %llu ms: unreachable", p->node_id,
		         (unsigned long long)(now - p->last_rx_ms));
		cl_link_close(p->link, "silent");
	}
	if (p->link != NULL && now - p->last_tx_hb_ms >= cl->conf.heartbeat_ms) {
		p->last_tx_hb_ms = now;
		heartbeat(p);
	}
	cl_fwd_expire(p, now);
}

void
cl_peer_tick(struct cluster *cl)
{
	uint64_t now = cl_now_ms(cl);
	bool all_tried = true;

	if (cl->stopping)
		return;
	for (int i = 1; i < RTABLE_MAX_ORIGINS; i++)
		if (cl->peers[i] != NULL)
			peer_silence(cl->peers[i], now);
	cl_peer_pg_view(cl);
	dial_due(cl, now);
	for (struct cl_target *t = cl->targets; t != NULL; t = t->next)
		all_tried = all_tried && (t->tried || t->self);
	if (all_tried && (cl->conf.dns_name == NULL || cl->first_round_done))
		cl->first_round_done = true;
	cl_peer_update_ready(cl);
}

static struct cl_peer *
peer_get(struct cluster *cl, const char *node_id)
{
	struct cl_peer *p;
	int i, free_slot = 0;

	for (i = 1; i < RTABLE_MAX_ORIGINS; i++) {
		if (cl->peers[i] == NULL) {
			if (free_slot == 0)
				free_slot = i;
		} else if (strcmp(cl->peers[i]->node_id, node_id) == 0) {
			return cl->peers[i];
		}
	}
	if (free_slot == 0 || (p = sl_calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if ((p->node_id = sl_strdup(node_id)) == NULL) {
		sl_free(p);
		return NULL;
	}
	p->cl = cl;
	p->slot = (uint8_t)free_slot;
	p->next_seq = 1;
	cl->peers[free_slot] = p;
	cl->st.peers_known++;
	return p;
}

/* Two authenticated links to one peer: both ends keep the one the lower node id dialled, so
 * they agree without a word; of two dialled by the same end, the newer (the other is stale). */
static bool
new_link_wins(const struct cl_link *old, const struct cl_link *l)
{
	const char *me = l->cl->conf.node_id, *them = l->peer_id;
	bool old_mine = old->target != NULL, new_mine = l->target != NULL;
	bool i_am_lower = strcmp(me, them) < 0;

	if (old_mine == new_mine)
		return true;
	return new_mine == i_am_lower;
}

struct cl_peer *
cl_peer_bind(struct cl_link *l)
{
	struct cluster *cl = l->cl;
	struct cl_peer *p = peer_get(cl, l->peer_id);

	if (p == NULL) {
		cl_link_close(l, "no slot for another node (at most 63 peers)");
		return NULL;
	}
	if (l->target != NULL) {
		l->target->peer = p;
		l->target->tried = true;
		l->target->backoff_ms = CL_BACKOFF_MIN_MS;
	}
	if (p->link != NULL) {
		if (!new_link_wins(p->link, l)) {
			cl_link_close(l, "a duplicate link");
			return NULL;
		}
		cl_link_close(p->link, "replaced by a newer link");
	}
	if (p->incarnation != l->peer_inc) { /* a new boot: nothing it held survives */
		p->incarnation = l->peer_inc;
		p->acked_version = 0;
		p->in_inc = l->peer_inc;
		p->in_seq = 0;
	}
	p->link = l;
	l->peer = p;
	p->reachable = true;
	p->last_rx_ms = cl_now_ms(cl);
	p->down_since_ms = 0;
	cl->st.peers_reachable++;
	cl_gossip_link_up(p);
	cl_fwd_link_up(p);
	cl_peer_update_ready(cl);
	return p;
}

void
cl_peer_unbind(struct cl_link *l)
{
	struct cl_peer *p = l->peer;

	l->peer = NULL;
	if (p == NULL || p->link != l)
		return;
	p->link = NULL;
	p->reachable = false;
	p->down_since_ms = cl_now_ms(p->cl);
	p->cl->st.peers_reachable--;
	if (l->left) { /* it said goodbye: its routes go now, not at the next sync */
		rtable_clear(p->cl->rt, p->slot);
		p->rt_synced = false;
		p->rt_inc = p->rt_version = 0;
	}
	cl_fwd_link_down(p, l->left);
	cl_gossip_link_down(p);
	cl_peer_update_ready(p->cl);
}

void
cl_peer_heartbeat_in(struct cl_peer *p, const Starling__Cluster__V1__Heartbeat *hb)
{
	cl_gossip_check_digest(p, hb);
	p->pg_ok = hb->pg_ok;
	cl_peer_pg_view(p->cl);
}

/* PostgreSQL is down for everyone when this node and every peer it reaches say so and those
 * are a majority of the nodes it knows: a minority cut off from the rest cannot tell a global
 * outage from its own isolation, and must fence (CLUSTER.md section 4). */
void
cl_peer_pg_view(struct cluster *cl)
{
	uint32_t known = 1, reachable = 1;
	bool all_down = !atomic_load(&cl->pg_ok);

	for (int i = 1; i < RTABLE_MAX_ORIGINS; i++) {
		struct cl_peer *p = cl->peers[i];
		if (p == NULL)
			continue;
		known++;
		if (p->link != NULL) {
			reachable++;
			all_down = all_down && !p->pg_ok;
		}
	}
	if (cl->conf.n_peers > known) /* static peers never heard of count too */
		known = (uint32_t)cl->conf.n_peers;
	atomic_store(&cl->pg_down_all, all_down && reachable > known / 2);
}

void
cl_peer_update_ready(struct cluster *cl)
{
	bool ready = cl->first_round_done;

	for (int i = 1; i < RTABLE_MAX_ORIGINS && ready; i++) {
		struct cl_peer *p = cl->peers[i];
		if (p != NULL && p->link != NULL && !p->rt_synced)
			ready = false;
	}
	if (ready && !cl->st.ready)
		LOG_NOTICE("cluster", "node '%s' ready: it holds the routes of %u reachable peers",
		           cl->conf.node_id, cl->st.peers_reachable);
	cl->st.ready = ready;
}

struct cl_peer *
cl_peer_reachable(struct cluster *cl, uint8_t slot)
{
	struct cl_peer *p = slot < RTABLE_MAX_ORIGINS ? cl->peers[slot] : NULL;

	return p != NULL && p->link != NULL ? p : NULL;
}
