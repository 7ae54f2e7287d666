/* broker/core/sys.c - $SYS/broker/... topics, compatible with Mosquitto's common ones. */
#include <stdio.h>
#include <string.h>

#include "broker/core/broker.h"
#include "broker/core/node.h"
#include "broker/core/owner.h"
#include "broker/core/route.h"
#include "broker/core/sys.h"
#include "broker/core/worker.h"
#include "broker/index/retain.h"
#include "broker/index/topic.h"
#include "cluster/cluster.h"
#include "proto/base/sl_alloc.h"
#include "storage/store.h"

static void
put_str(struct worker *w, const char *topic, const char *payload)
{
	struct sl_msg *m;
	uint32_t len = (uint32_t)strlen(payload);

	m = sl_msg_new(sl_bytes_make(topic, (uint32_t)strlen(topic)), sl_bytes_make(NULL, 0),
	               sl_bytes_make(payload, len), sl_bytes_make(NULL, 0), 0, true);
	if (m == NULL)
		return;
	/* Retained, as in Mosquitto: a new subscriber sees the latest values at once. */
	retain_set(w->retained, m);
	route_publish(w, m, NULL);
	sl_msg_unref(m);
}

static void
put(struct worker *w, const char *topic, const char *fmt, unsigned long long v)
{
	char payload[64];

	snprintf(payload, sizeof(payload), fmt, v);
	put_str(w, topic, payload);
}

/* The store's health: what an operator watches when a database goes away. */
static void
sys_store(struct worker *w)
{
	struct store_stats ss;

	if (w->b->store == NULL || !store_durable(w->b->store))
		return;
	store_stats(w->b->store, &ss);
	put(w, "$SYS/broker/store/writes", "%llu", ss.writes);
	put(w, "$SYS/broker/store/failed", "%llu", ss.failed);
	put(w, "$SYS/broker/store/pending", "%llu", ss.pending);
	put(w, "$SYS/broker/store/syncs", "%llu", ss.syncs);
	put(w, "$SYS/broker/store/reconnects", "%llu", ss.reconnects);
	put(w, "$SYS/broker/store/sessions/up", "%llu", ss.sessions_up);
	put(w, "$SYS/broker/store/retained/up", "%llu", ss.retained_up);
}

/* Adds up the workers' latest snapshots (each refreshed on its own tick). */
static void
totals(struct broker *b, struct worker_stats *st, uint64_t *sess, uint64_t *subs)
{
	uint32_t i;

	memset(st, 0, sizeof(*st));
	*sess = *subs = 0;
	for (i = 0; i < b->n_workers; i++) {
		struct worker *w = &b->workers[i];

		pthread_mutex_lock(&w->snap_mu);
		st->clients_connected += w->snap.clients_connected;
		st->msgs_received += w->snap.msgs_received;
		st->msgs_sent += w->snap.msgs_sent;
		st->bytes_received += w->snap.bytes_received;
		st->bytes_sent += w->snap.bytes_sent;
		st->pub_dropped += w->snap.pub_dropped;
		st->conn_timed_out += w->snap.conn_timed_out;
		st->pub_throttled += w->snap.pub_throttled;
		st->load_conn_refused += w->snap.load_conn_refused;
		st->load_pub_dropped += w->snap.load_pub_dropped;
		st->load_pub_refused += w->snap.load_pub_refused;
		if (w->snap.loop_stall_max_us > st->loop_stall_max_us)
			st->loop_stall_max_us = w->snap.loop_stall_max_us;
		*sess += w->snap_sess;
		*subs += w->snap_subs;
		pthread_mutex_unlock(&w->snap_mu);
	}
}

/* This node's part of a cluster: its links and what went over them (cluster.h). */
static void
sys_cluster(struct worker *w)
{
	struct cluster *cl = node_cluster(w->b);
	struct cluster_stats cs;

	if (cl == NULL)
		return;
	cluster_stats(cl, &cs);
	put_str(w, "$SYS/broker/cluster/node_id", cluster_node_id(cl));
	put(w, "$SYS/broker/cluster/peers/known", "%llu", cs.peers_known);
	put(w, "$SYS/broker/cluster/peers/reachable", "%llu", cs.peers_reachable);
	put(w, "$SYS/broker/cluster/ready", "%llu", cs.ready && !atomic_load(&w->b->fenced));
	put(w, "$SYS/broker/cluster/fenced", "%llu", atomic_load(&w->b->fenced));
	put(w, "$SYS/broker/cluster/routes/local", "%llu", cs.routes_local);
	put(w, "$SYS/broker/cluster/routes/remote", "%llu", cs.routes_remote);
	put(w, "$SYS/broker/cluster/routes/bytes", "%llu", cs.routes_bytes);
	put(w, "$SYS/broker/cluster/frames/out", "%llu", cs.frames_out);
	put(w, "$SYS/broker/cluster/frames/in", "%llu", cs.frames_in);
	put(w, "$SYS/broker/cluster/forwards/out", "%llu", cs.forwards_out);
	put(w, "$SYS/broker/cluster/forwards/in", "%llu", cs.forwards_in);
	put(w, "$SYS/broker/cluster/forward/dropped", "%llu", cs.forward_dropped);
	put(w, "$SYS/broker/cluster/forward/resent", "%llu", cs.forward_resent);
	put(w, "$SYS/broker/cluster/forward/dup_dropped", "%llu", cs.forward_dup_dropped);
	put(w, "$SYS/broker/cluster/shared/repicked", "%llu", cs.shared_repicked);
	put(w, "$SYS/broker/cluster/auth/failed", "%llu", cs.auth_failed);
}

/* Per worker: where sessions live (worker_placement) and how busy each loop is. */
static void
per_worker(struct worker *w)
{
	struct broker *b = w->b;
	char topic[64];

	if (b->owners != NULL) /* client ids with an owner: sessions, and CONNECTs under way */
		put(w, "$SYS/broker/sessions/registered", "%llu", owner_count(b->owners));
	for (uint32_t i = 0; b->n_workers > 1 && i < b->n_workers; i++) {
		struct worker *x = &b->workers[i];
		uint64_t sess, conns;

		pthread_mutex_lock(&x->snap_mu);
		sess = x->snap_sess;
		conns = x->snap.clients_connected;
		pthread_mutex_unlock(&x->snap_mu);
		snprintf(topic, sizeof(topic), "$SYS/broker/workers/%u/sessions", i);
		put(w, topic, "%llu", sess);
		snprintf(topic, sizeof(topic), "$SYS/broker/workers/%u/clients/connected", i);
		put(w, topic, "%llu", conns);
		snprintf(topic, sizeof(topic), "$SYS/broker/workers/%u/busy_permille", i);
		put(w, topic, "%llu",
		    atomic_load_explicit(&x->busy_permille, memory_order_relaxed));
	}
}

void
sys_publish(struct worker *w, uint64_t now)
{
	struct worker_stats st;
	uint64_t up = (sl_now_ms() - w->started_ms) / 1000u, sess, subs;

	(void)now;
	totals(w->b, &st, &sess, &subs);
	pthread_mutex_lock(&w->b->share_mu);
	subs += topic_tree_count(w->b->shared);
	pthread_mutex_unlock(&w->b->share_mu);
	put_str(w, "$SYS/broker/version", "starling version " SL_VERSION);
	put(w, "$SYS/broker/uptime", "%llu seconds", up);
	put(w, "$SYS/broker/clients/connected", "%llu", st.clients_connected);
	put(w, "$SYS/broker/clients/active", "%llu", st.clients_connected);
	put(w, "$SYS/broker/clients/total", "%llu", sess);
	put(w, "$SYS/broker/clients/disconnected", "%llu",
	    sess > st.clients_connected ? sess - st.clients_connected : 0);
	put(w, "$SYS/broker/messages/received", "%llu", st.msgs_received);
	put(w, "$SYS/broker/messages/sent", "%llu", st.msgs_sent);
	put(w, "$SYS/broker/publish/messages/dropped", "%llu", st.pub_dropped);
	put(w, "$SYS/broker/bytes/received", "%llu", st.bytes_received);
	put(w, "$SYS/broker/bytes/sent", "%llu", st.bytes_sent);
	put(w, "$SYS/broker/subscriptions/count", "%llu", subs);
	put(w, "$SYS/broker/retained messages/count", "%llu", retain_count(w->retained));
	put(w, "$SYS/broker/heap/current", "%llu", sl_alloc_bytes());
	/* Starling's own: what the limits of broker/limit.c did (etc/starling.conf). */
	put(w, "$SYS/broker/connections/timed_out", "%llu", st.conn_timed_out);
	put(w, "$SYS/broker/publish/throttled", "%llu", st.pub_throttled);
	put(w, "$SYS/broker/load/connections/refused", "%llu", st.load_conn_refused);
	put(w, "$SYS/broker/load/publish/dropped", "%llu", st.load_pub_dropped);
	put(w, "$SYS/broker/load/publish/refused", "%llu", st.load_pub_refused);
	/* The worst wait any client had for its worker's turn since start, over all workers. */
	put(w, "$SYS/broker/loop/stall_max_us", "%llu", st.loop_stall_max_us);
	per_worker(w);
	sys_store(w);
	sys_cluster(w);
}
