/* broker/core/route.c - who gets a message: one match against the index, merged per session. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker/conf/conf.h"
#include "broker/core/access.h"
#include "broker/core/broker.h"
#include "broker/core/persist.h"
#include "broker/core/route.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "broker/index/retain.h"
#include "broker/index/topic.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"
#include "proto/mqtt_topic.h"

/* style: an index entry's sess_id is the session's address on this loop; a session removes
 * its entries before it is freed, so a match never sees a dangling one. */
static struct sess *
sub_sess(const struct topic_sub *sub)
{
	return (struct sess *)(uintptr_t)sub->sess_id;
}

static void
on_match(void *arg, const struct topic_sub *sub, bool shared)
{
	struct worker *w = arg;
	struct match_ent *m;

	(void)shared;
	if (w->n_match == w->cap_match) {
		m = sl_realloc(w->match, (w->cap_match * 2 + 16) * sizeof(*m));
		if (m == NULL)
			return; /* that subscriber misses this message; counted below */
		w->match = m;
		w->cap_match = w->cap_match * 2 + 16;
	}
	w->match[w->n_match].s = sub_sess(sub);
	w->match[w->n_match].options = sub->options;
	w->match[w->n_match].sub_id = sub->sub_id;
	w->n_match++;
}

static int
cmp_ent(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct match_ent *)a)->s;
	uintptr_t y = (uintptr_t)((const struct match_ent *)b)->s;

	return x < y ? -1 : x > y;
}

static bool
is_local(const struct sl_msg *msg, const struct sess *s)
{
	size_t len = strlen(s->client_id);

	return msg->sender.len == len && memcmp(msg->sender.p, s->client_id, len) == 0;
}

/* Delivers one copy to the session of ents[0..cnt): the highest QoS granted, every
 * subscription identifier [MQTT-3.3.4-3..5]. Returns 1 if sent. */
static uint32_t
deliver_merged(struct sl_msg *msg, const struct match_ent *ents, uint32_t cnt)
{
	uint32_t ids[SESS_MAX_SUB_IDS], i;
	uint8_t n_ids = 0, qos = 0;
	bool any = false, rap = false;

	if (ents[0].s->dying) /* ended: only its subscriptions linger, a slice at a time */
		return 0;
	for (i = 0; i < cnt; i++) {
		/* [MQTT-3.8.3-3] no local: not back to the publishing client id. */
		if ((ents[i].options & MQTT_SUBOPT_NO_LOCAL) && is_local(msg, ents[i].s))
			continue;
		any = true;
		if (MQTT_SUBOPT_QOS(ents[i].options) > qos)
			qos = MQTT_SUBOPT_QOS(ents[i].options);
		rap |= (ents[i].options & MQTT_SUBOPT_RAP) != 0;
		if (ents[i].sub_id != 0 && n_ids < SESS_MAX_SUB_IDS)
			ids[n_ids++] = ents[i].sub_id;
	}
	/* The ACL is asked once per session and message (auth.h: READ). */
	if (!any || !access_acl(ents[0].s, msg->topic, AUTH_READ))
		return 0;
	/* [MQTT-3.8.4-8] QoS is the lower of published and granted; [MQTT-3.3.1-12/13]. */
	sess_deliver(ents[0].s, msg, route_qos(ents[0].s->w, msg->qos, qos), rap && msg->retain,
	             ids, n_ids);
	return 1;
}

uint8_t
route_qos(const struct worker *w, uint8_t published, uint8_t granted)
{
	/* [MQTT-3.8.4-8] the lower of the two; mosquitto's upgrade_outgoing_qos breaks that on
	 * purpose, and so do we when it is set. */
	if (worker_conf(w)->upgrade_outgoing_qos)
		return granted;
	return published < granted ? published : granted;
}

uint32_t
route_local(struct worker *w, struct sl_msg *msg)
{
	uint32_t i, j, matched;

	w->n_match = 0;
	topic_tree_match(w->subs, msg->topic, on_match, NULL, w);
	matched = w->n_match;
	if (w->n_match > 1)
		qsort(w->match, w->n_match, sizeof(*w->match), cmp_ent);
	for (i = 0; i < w->n_match; i = j) {
		for (j = i + 1; j < w->n_match && w->match[j].s == w->match[i].s; j++)
			;
		deliver_merged(msg, &w->match[i], j - i);
	}
	return matched;
}

struct share_ctx {
	struct worker *w;
	struct sl_msg *msg;
	struct ack_leg *leg;
	uint32_t picked;
	struct broker *b;       /* route_shared_member(), on no worker's loop: w is NULL */
	struct route_member *m; /* and its answer */
};

/* Shared groups go round robin among connected members that may read the message (the
 * session's user name is stable under share_mu, see access_set_user()). Runs under share_mu. */
static bool
member_online(void *arg, const struct topic_sub *sub)
{
	const struct share_ctx *x = arg;
	const struct sess *s = sub_sess(sub);

	return atomic_load(&s->online) && access_acl(s, x->msg->topic, AUTH_READ);
}

/* One member of a matching shared group, picked round robin [MQTT-4.8.2-?]: delivered here
 * if it lives on this worker, else posted to its worker. Runs under share_mu. */
static void
on_share_pick(void *arg, const struct topic_sub *sub, bool shared)
{
	struct share_ctx *x = arg;
	uint8_t qos = MQTT_SUBOPT_QOS(sub->options);
	struct mb_item *it;
	struct sess *s;

	(void)shared;
	qos = route_qos(x->w, x->msg->qos, qos);
	s = sub_sess(sub);
	x->picked++;
	if (sub->worker == x->w->idx) {
		sess_deliver(s, x->msg, qos, false, sub->sub_id ? &sub->sub_id : NULL,
		             sub->sub_id ? 1 : 0);
		return;
	}
	if ((it = worker_item(MB_DELIVER)) == NULL)
		return;
	it->msg = sl_msg_ref(x->msg);
	it->sess_id = s->id; /* immutable; the owner looks it up, the session may go meanwhile */
	it->qos = qos;
	it->sub_id = sub->sub_id;
	if (x->leg != NULL) {
		persist_leg_hold(x->leg);
		it->leg = x->leg;
	}
	worker_post_batched(x->w, &x->w->b->workers[sub->worker], it);
}

/* Posts msg to every other worker whose index may match it, one item each: a worker without a
 * matching filter is not woken (each post costs the receiver a wake-up). Returns how many. */
static uint32_t
post_workers(struct worker *w, struct sl_msg *msg, struct ack_leg *leg)
{
	struct broker *b = w->b;
	struct mb_item *it;
	uint32_t i, n = 0;

	for (i = 0; i < b->n_workers; i++) {
		if (i == w->idx || !route_interested(&b->workers[i], msg->topic))
			continue;
		n++;
		if ((it = worker_item(MB_ROUTE)) == NULL) {
			w->st.pub_dropped++;
			continue;
		}
		it->msg = sl_msg_ref(msg);
		if (leg != NULL) {
			persist_leg_hold(leg);
			it->leg = leg;
		}
		worker_post_batched(w, &b->workers[i], it);
	}
	return n;
}

/* Shared groups are picked once per message, by the routing worker. Returns how many. */
static uint32_t
pick_shared(struct worker *w, struct sl_msg *msg, struct ack_leg *leg)
{
	struct broker *b = w->b;
	struct share_ctx x = {w, msg, leg, 0, b, NULL};

	if (atomic_load_explicit(&b->n_shared, memory_order_relaxed) == 0)
		return 0;
	pthread_mutex_lock(&b->share_mu);
	topic_tree_match(b->shared, msg->topic, on_share_pick, member_online, &x);
	pthread_mutex_unlock(&b->share_mu);
	return x.picked;
}

/* One member picked for route_shared_member(), under share_mu: what identifies it outlives
 * the lock, the entry may not. */
static void
on_member(void *arg, const struct topic_sub *sub, bool shared)
{
	struct share_ctx *x = arg;
	uint8_t granted = MQTT_SUBOPT_QOS(sub->options);

	(void)shared;
	x->m->sess_id = sub_sess(sub)->id;
	x->m->worker = sub->worker;
	x->m->sub_id = sub->sub_id;
	x->m->qos = route_qos(&x->b->workers[sub->worker], x->msg->qos, granted);
	x->picked++;
}

int
route_shared_member(struct broker *b, struct sl_msg *msg, struct sl_bytes filter,
                    struct sl_bytes group, struct route_member *m)
{
	struct share_ctx x = {NULL, msg, NULL, 0, b, m}; /* member_online() reads only msg */

	pthread_mutex_lock(&b->share_mu);
	topic_tree_pick(b->shared, filter, group, on_member, member_online, &x);
	pthread_mutex_unlock(&b->share_mu);
	return x.picked > 0 ? 0 : -ENOENT;
}

bool
route_stays_here(struct sl_bytes topic)
{
	return topic.len >= 4 && memcmp(topic.p, "$SYS", 4) == 0;
}

static uint32_t
route_all(struct worker *w, struct sl_msg *msg, struct ack_leg *leg, bool remote)
{
	const struct route_remote *r = &w->b->remote;
	uint32_t n = route_local(w, msg);

	if (!r->picks_shared || route_stays_here(msg->topic))
		n += pick_shared(w, msg, leg);
	if (w->b->n_workers > 1 && route_others_interested(w))
		n += post_workers(w, msg, leg);
	if (remote && r->forward != NULL)
		n += r->forward(r->arg, w, msg, leg);
	persist_leg_done(w, leg); /* this worker's part: after its own writes */
	return n;
}

uint32_t
route_publish(struct worker *w, struct sl_msg *msg, struct ack_leg *leg)
{
	return route_all(w, msg, leg, true);
}

uint32_t
route_forwarded(struct worker *w, struct sl_msg *msg, struct ack_leg *leg)
{
	return route_all(w, msg, leg, false);
}

void
route_set_remote(struct broker *b, const struct route_remote *r)
{
	static const struct route_remote none = {NULL, NULL, NULL, false};

	b->remote = r != NULL ? *r : none;
}

void
route_flush_remote(struct worker *w)
{
	const struct route_remote *r = &w->b->remote;

	if (r->flush != NULL)
		r->flush(r->arg, w);
}

void
route_retain(struct worker *w, struct sl_msg *msg)
{
	if (retain_set(w->retained, msg) < 0)
		LOG_WARN("route", "out of memory storing retained '%.*s'", (int)msg->topic.len,
		         (const char *)msg->topic.p);
	persist_retain(w, msg);
}

int
route_index_key(const char *filter, struct sl_bytes *f, struct sl_bytes *g)
{
	struct sl_bytes all = sl_bytes_make(filter, (uint32_t)strlen(filter));
	int shared = mqtt_topic_share_split(all, g, f);

	if (shared < 0)
		return -1;
	if (shared == 0) {
		*f = all;
		*g = sl_bytes_make("", 0);
	}
	return 0;
}
