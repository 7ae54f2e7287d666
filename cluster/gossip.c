/* cluster/gossip.c - route tables across the cluster (CLUSTER.md section 6). Each node owns its
 * routes (origin slot RTABLE_SELF of cl->rt, counted per (filter, group)) and is the only one
 * to send them: a RouteDelta per loop turn with the 0 -> 1 and 1 -> 0 changes, applied by a
 * peer only on top of exactly the version it holds; a full sync otherwise (a new link whose
 * Hello shows another version, a gap, a digest mismatch). Receivers answer RouteAck, which is
 * what a SUBACK waits for. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cl.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

typedef Starling__Cluster__V1__RouteOp route_op;
typedef Starling__Cluster__V1__RouteEntry route_entry;

int
cl_gossip_init(struct cluster *cl)
{
	return (cl->rt = rtable_new()) != NULL ? 0 : -ENOMEM;
}

static void
ops_clear(struct cluster *cl)
{
	for (uint32_t i = 0; i < cl->n_rops; i++)
		sl_free(cl->rops[i]);
	cl->n_rops = 0;
}

void
cl_gossip_fini(struct cluster *cl)
{
	struct cl_wait *w, *next;

	ops_clear(cl);
	sl_free(cl->rops);
	for (w = cl->waits; w != NULL; w = next) {
		next = w->next;
		sl_free(w);
	}
	rtable_free(cl->rt);
}

/* A RouteOp and its two strings in one allocation. */
static route_op *
op_new(struct sl_bytes f, struct sl_bytes g, bool add, uint32_t members)
{
	route_op *op = sl_malloc(sizeof(*op) + f.len + g.len + 2);
	char *text;

	if (op == NULL)
		return NULL;
	*op = (route_op)STARLING__CLUSTER__V1__ROUTE_OP__INIT;
	text = (char *)(op + 1);
	if (f.len > 0)
		memcpy(text, f.p, f.len);
	text[f.len] = '\0';
	if (g.len > 0) /* an empty view may have a NULL p */
		memcpy(text + f.len + 1, g.p, g.len);
	text[f.len + 1 + g.len] = '\0';
	op->op = add ? STARLING__CLUSTER__V1__ROUTE_OP__OP__ADD
	             : STARLING__CLUSTER__V1__ROUTE_OP__OP__DEL;
	op->filter = text;
	op->share_group = text + f.len + 1;
	op->members = members;
	return op;
}

void
cl_gossip_change(struct cluster *cl, struct sl_bytes f, struct sl_bytes g, int32_t delta)
{
	uint32_t now = 0;
	int rc = rtable_add(cl->rt, RTABLE_SELF, f, g, delta, &now);
	route_op *op;

	LOG_DEBUG("cluster", "route '%.*s' group '%.*s' %+d: %s", (int)f.len, (const char *)f.p,
	          (int)g.len, (const char *)g.p, delta,
	          rc == 1    ? "announced"
	          : rc == -1 ? "withdrawn"
	                     : "counted");
	if (rc == 0)
		return;
	if (rc < -1) { /* -1: removed (rtable.h) */
		if (rc != -ENOENT)
			LOG_ERR("cluster",
			        "out of memory in the route table: route '%.*s' not "
			        "announced",
			        (int)f.len, (const char *)f.p);
		return;
	}
	if (cl->n_rops == cl->cap_rops) {
		uint32_t cap = cl->cap_rops ? cl->cap_rops * 2 : 64;
		route_op **ops = sl_realloc(cl->rops, cap * sizeof(*ops));
		if (ops == NULL)
			goto fail;
		cl->rops = ops;
		cl->cap_rops = cap;
	}
	if ((op = op_new(f, g, rc == 1, now)) == NULL)
		goto fail;
	cl->rops[cl->n_rops++] = op;
	cl->version++;
	return;
fail:
	/* The table changed but peers will not hear of it: the digest check repairs that. */
	LOG_ERR("cluster", "out of memory announcing route '%.*s'", (int)f.len, (const char *)f.p);
}

struct sync_ctx {
	struct cl_link *l;
	route_entry *ents;
	route_entry **ptrs;
	uint32_t n, chunk;
	Starling__Cluster__V1__RouteFullSync fs;
};

/* Sends the entries gathered so far as one chunk and frees their strings. */
static int
sync_send(struct sync_ctx *x, bool last)
{
	int rc;

	x->fs.chunk_no = x->chunk++;
	x->fs.last = last;
	x->fs.n_entries = x->n;
	x->fs.entries = x->ptrs;
	rc = cl_link_send(x->l, CLF_ROUTE_FULL_SYNC, &x->fs.base, NULL);
	for (uint32_t i = 0; i < x->n; i++) {
		sl_free(x->ents[i].filter);
		sl_free(x->ents[i].share_group);
	}
	x->n = 0;
	return rc;
}

static int
sync_one(void *arg, struct sl_bytes f, struct sl_bytes g, uint32_t count)
{
	struct sync_ctx *x = arg;
	route_entry *e = &x->ents[x->n];

	/* The views are not NUL-terminated: protobuf-c packs strings, so copies. */
	*e = (route_entry)STARLING__CLUSTER__V1__ROUTE_ENTRY__INIT;
	e->filter = sl_strndup(f.len > 0 ? (const char *)f.p : "", f.len);
	e->share_group = sl_strndup(g.len > 0 ? (const char *)g.p : "", g.len);
	e->members = count;
	x->n++;
	if (e->filter == NULL || e->share_group == NULL)
		return -ENOMEM;
	return x->n < CL_SYNC_CHUNK ? 0 : sync_send(x, false);
}

/* Sends our whole table to p in chunks; p's table swaps to it at the last one. */
static void
full_sync(struct cluster *cl, struct cl_peer *p)
{
	struct sync_ctx x = {.l = p->link};
	int rc = -ENOMEM;

	x.fs = (Starling__Cluster__V1__RouteFullSync)STARLING__CLUSTER__V1__ROUTE_FULL_SYNC__INIT;
	x.fs.origin = (char *)cl->conf.node_id;
	x.fs.incarnation = cl->incarnation;
	x.fs.version = cl->version;
	x.ents = sl_malloc(CL_SYNC_CHUNK * sizeof(*x.ents));
	x.ptrs = sl_malloc(CL_SYNC_CHUNK * sizeof(*x.ptrs));
	if (x.ents != NULL && x.ptrs != NULL) {
		for (uint32_t i = 0; i < CL_SYNC_CHUNK; i++)
			x.ptrs[i] = &x.ents[i];
		rc = rtable_each(cl->rt, RTABLE_SELF, sync_one, &x);
		rc = rc == 0 ? sync_send(&x, true) : (sync_send(&x, false), rc);
	}
	sl_free(x.ents);
	sl_free(x.ptrs);
	if (rc < 0 && p->link != NULL) {
		cl_link_close(p->link, "cannot send the route table");
		return;
	}
	p->needs_sync = false;
	p->our_ver_sent = cl->version;
	LOG_INFO("cluster", "sent %u routes to '%s' (version %llu)", rtable_count(cl->rt, 0),
	         p->node_id, (unsigned long long)cl->version);
}

/* The turn's route changes to every peer holding the version they start from; our table to
 * the peers that need it whole. */
void
cl_gossip_flush(struct cluster *cl)
{
	Starling__Cluster__V1__RouteDelta d = STARLING__CLUSTER__V1__ROUTE_DELTA__INIT;

	d.origin = (char *)cl->conf.node_id;
	d.incarnation = cl->incarnation;
	d.from_version = cl->sent_version;
	d.to_version = cl->version;
	d.ops = cl->rops;
	d.n_ops = cl->n_rops;
	for (int i = 1; i < RTABLE_MAX_ORIGINS; i++) {
		struct cl_peer *p = cl->peers[i];
		if (p == NULL || p->link == NULL)
			continue;
		if (cl->n_rops > 0 && !p->needs_sync && p->our_ver_sent == cl->sent_version &&
		    cl_link_send(p->link, CLF_ROUTE_DELTA, &d.base, NULL) == 0)
			p->our_ver_sent = cl->version;
		if (p->link != NULL && (p->needs_sync || p->our_ver_sent != cl->version))
			full_sync(cl, p);
	}
	ops_clear(cl);
	cl->sent_version = cl->version;
}

static bool
wait_over(struct cluster *cl, const struct cl_wait *w)
{
	for (int i = 1; i < RTABLE_MAX_ORIGINS; i++) {
		struct cl_peer *p = cl->peers[i];
		if (p != NULL && p->link != NULL && p->acked_version < w->version)
			return false;
	}
	return true;
}

void
cl_gossip_wait(struct cluster *cl, void *token)
{
	struct cl_wait *w = sl_calloc(1, sizeof(*w));

	if (w == NULL) {
		cl->ops.waited(cl->ops.arg, token);
		return;
	}
	w->token = token;
	w->version = cl->version;
	w->deadline_ms = cl_now_ms(cl) + cl->conf.sub_wait_ms;
	if (wait_over(cl, w)) {
		sl_free(w);
		cl->ops.waited(cl->ops.arg, token);
		return;
	}
	w->next = cl->waits;
	cl->waits = w;
}

void
cl_gossip_check_waits(struct cluster *cl, bool timers)
{
	uint64_t now = cl_now_ms(cl);
	struct cl_wait **pp = &cl->waits, *w;
	bool any = false;

	while ((w = *pp) != NULL) {
		bool late = timers && now >= w->deadline_ms;
		if (!late && !wait_over(cl, w)) {
			pp = &w->next;
			continue;
		}
		if (late)
			LOG_WARN("cluster",
			         "a SUBACK waited %u ms for peers to hold its route: sent "
			         "anyway",
			         cl->conf.sub_wait_ms);
		*pp = w->next;
		cl->ops.waited(cl->ops.arg, w->token);
		sl_free(w);
		any = true;
	}
	if (any)
		cl->ops.flush(cl->ops.arg);
}

void
cl_gossip_link_up(struct cl_peer *p)
{
	struct cluster *cl = p->cl;
	const struct cl_link *l = p->link;

	if (l->knows_inc == cl->incarnation && l->knows_ver == cl->sent_version) {
		p->our_ver_sent = cl->sent_version;
		if (p->acked_version < cl->sent_version)
			p->acked_version = cl->sent_version;
	} else {
		p->needs_sync = true;
	}
	if (p->rt_inc != l->peer_inc)
		p->rt_synced = false; /* its old routes stay until its new table arrives */
}

void
cl_gossip_link_down(struct cl_peer *p)
{
	p->needs_sync = false;
	p->sync_asked = false;
	if (p->rt_syncing) { /* a partial table is no table: the next link syncs again */
		p->rt_syncing = false;
		p->rt_synced = false;
	}
	cl_gossip_check_waits(p->cl, false);
}

static void
route_ack(struct cl_peer *p)
{
	Starling__Cluster__V1__RouteAck a = STARLING__CLUSTER__V1__ROUTE_ACK__INIT;

	a.origin = p->node_id;
	a.incarnation = p->rt_inc;
	a.version = p->rt_version;
	cl_link_send(p->link, CLF_ROUTE_ACK, &a.base, NULL);
}

static void
ask_sync(struct cl_peer *p, const char *why)
{
	Starling__Cluster__V1__RouteSyncRequest r = STARLING__CLUSTER__V1__ROUTE_SYNC_REQUEST__INIT;

	if (p->sync_asked || p->rt_syncing)
		return;
	LOG_NOTICE("cluster", "asking '%s' for its whole route table: %s", p->node_id, why);
	p->sync_asked = true;
	r.origin = p->node_id;
	r.incarnation_known = p->rt_inc;
	r.version_known = p->rt_version;
	cl_link_send(p->link, CLF_ROUTE_SYNC_REQUEST, &r.base, NULL);
}

static void
apply_delta(struct cl_peer *p, const Starling__Cluster__V1__RouteDelta *d)
{
	struct rtable *rt = p->cl->rt;

	if (strcmp(d->origin, p->node_id) != 0)
		return; /* only an origin speaks for its routes */
	if (!p->rt_synced || d->incarnation != p->rt_inc || d->from_version != p->rt_version)
		return ask_sync(p, "a gap in its route deltas");
	for (size_t i = 0; i < d->n_ops; i++) {
		const route_op *op = d->ops[i];
		struct sl_bytes f = sl_bytes_make(op->filter, (uint32_t)strlen(op->filter));
		struct sl_bytes g =
		        sl_bytes_make(op->share_group, (uint32_t)strlen(op->share_group));
		if (op->op == STARLING__CLUSTER__V1__ROUTE_OP__OP__DEL)
			rtable_del(rt, p->slot, f, g);
		else if (rtable_set(rt, p->slot, f, g, op->members > 0 ? op->members : 1) < 0)
			return ask_sync(p, "out of memory applying a delta");
	}
	p->rt_version = d->to_version;
	route_ack(p);
}

static void
apply_sync(struct cl_peer *p, const Starling__Cluster__V1__RouteFullSync *s)
{
	struct rtable *rt = p->cl->rt;

	if (strcmp(s->origin, p->node_id) != 0)
		return;
	if (s->chunk_no == 0) {
		rtable_sync_begin(rt, p->slot);
		p->rt_syncing = true;
		p->sync_chunk = 0;
	}
	if (!p->rt_syncing || s->chunk_no != p->sync_chunk++)
		return;
	for (size_t i = 0; i < s->n_entries; i++) {
		const route_entry *e = s->entries[i];
		struct sl_bytes f = sl_bytes_make(e->filter, (uint32_t)strlen(e->filter));
		struct sl_bytes g = sl_bytes_make(e->share_group, (uint32_t)strlen(e->share_group));
		if (rtable_set(rt, p->slot, f, g, e->members > 0 ? e->members : 1) < 0) {
			p->rt_syncing = false;
			return ask_sync(p, "out of memory applying its table");
		}
	}
	if (!s->last)
		return;
	rtable_sync_end(rt, p->slot);
	p->rt_syncing = false;
	p->rt_synced = true;
	p->sync_asked = false;
	p->rt_inc = s->incarnation;
	p->rt_version = s->version;
	LOG_INFO("cluster", "holding %u routes of '%s' (version %llu)", rtable_count(rt, p->slot),
	         p->node_id, (unsigned long long)s->version);
	route_ack(p);
	cl_peer_update_ready(p->cl);
}

void
cl_gossip_frame(struct cl_peer *p, uint8_t type, const ProtobufCMessage *m)
{
	struct cluster *cl = p->cl;
	const Starling__Cluster__V1__RouteAck *a;

	switch (type) {
	case CLF_ROUTE_DELTA:
		apply_delta(p, (const Starling__Cluster__V1__RouteDelta *)m);
		break;
	case CLF_ROUTE_FULL_SYNC:
		apply_sync(p, (const Starling__Cluster__V1__RouteFullSync *)m);
		break;
	case CLF_ROUTE_SYNC_REQUEST:
		p->needs_sync = true; /* at the turn's end */
		break;
	case CLF_ROUTE_ACK:
		a = (const Starling__Cluster__V1__RouteAck *)m;
		if (strcmp(a->origin, cl->conf.node_id) == 0 && a->incarnation == cl->incarnation &&
		    a->version > p->acked_version) {
			p->acked_version = a->version;
			cl_gossip_check_waits(cl, false);
		}
		break;
	default:
		break; /* a known type this end does not expect: harmless */
	}
}

void
cl_gossip_fill_heartbeat(struct cluster *cl, Starling__Cluster__V1__Heartbeat *hb)
{
	/* The beat must not announce a version whose delta is still ours to send. */
	cl_gossip_flush(cl);
	hb->route_incarnation = cl->incarnation;
	hb->route_version = cl->version;
	hb->route_digest = rtable_digest(cl->rt, RTABLE_SELF);
	hb->route_count = rtable_count(cl->rt, RTABLE_SELF);
	hb->pg_ok = atomic_load(&cl->pg_ok);
}

void
cl_gossip_check_digest(struct cl_peer *p, const Starling__Cluster__V1__Heartbeat *hb)
{
	struct rtable *rt = p->cl->rt;

	if (!p->rt_synced || p->rt_syncing)
		return;
	if (hb->route_incarnation != p->rt_inc || hb->route_version != p->rt_version)
		return ask_sync(p, "its heartbeat names a route version this node lacks");
	if (hb->route_digest != rtable_digest(rt, p->slot) ||
	    hb->route_count != rtable_count(rt, p->slot)) {
		p->cl->st.digest_resyncs++;
		ask_sync(p, "route digest mismatch");
	}
}

Starling__Cluster__V1__KnownVersion **
cl_gossip_known(struct cluster *cl, size_t *n)
{
	Starling__Cluster__V1__KnownVersion **v = sl_calloc(RTABLE_MAX_ORIGINS, sizeof(*v));

	*n = 0;
	for (int i = 1; v != NULL && i < RTABLE_MAX_ORIGINS; i++) {
		struct cl_peer *p = cl->peers[i];
		Starling__Cluster__V1__KnownVersion *k;
		if (p == NULL || !p->rt_synced || (k = sl_malloc(sizeof(*k))) == NULL)
			continue;
		*k = (Starling__Cluster__V1__KnownVersion)
		        STARLING__CLUSTER__V1__KNOWN_VERSION__INIT;
		k->origin = p->node_id;
		k->incarnation = p->rt_inc;
		k->version = p->rt_version;
		v[(*n)++] = k;
	}
	return v;
}
