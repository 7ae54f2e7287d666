/* broker/core/sess.c - MQTT sessions: subscriptions, queues, in-flight QoS 1/2 state, wills and
 * expiry. Sessions live in memory on their worker's loop; a stored one also writes each change to
 * the store (broker/persist.c). */
#include <stddef.h>
#include <string.h>

#include "broker/conf/conf.h"
#include "broker/core/access.h"
#include "broker/core/conn.h"
#include "broker/core/limit.h"
#include "broker/core/mount.h"
#include "broker/core/owner.h"
#include "broker/core/persist.h"
#include "broker/core/retq.h"
#include "broker/core/route.h"
#include "broker/core/sess.h"
#include "broker/core/slice.h"
#include "broker/core/worker.h"
#include "broker/index/retain.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/base/sl_log.h"
#include "storage/store.h"

/* Above this many unwritten bytes a connection counts as slow: QoS 0 is dropped for it and
 * QoS 1/2 waits in its queue, so one slow subscriber never holds up the others. */
#define SLOW_BACKLOG (4u << 20)

uint32_t
sess_hash(const char *s)
{
	return sess_hash_n(s, strlen(s));
}

uint32_t
sess_hash_n(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

struct sess *
sess_find(struct worker *w, const char *client_id)
{
	struct sess *s;

	if (w->sess_cap == 0)
		return NULL;
	for (s = w->sess_tab[sess_hash(client_id) & (w->sess_cap - 1)]; s != NULL; s = s->hnext)
		if (strcmp(s->client_id, client_id) == 0)
			return s;
	return NULL;
}

/* An id's top half is its client id's hash (sess_new()): the one bucket to walk. A table by
 * id of its own would cost 8 bytes per session in the session and 10-20 in the table. */
struct sess *
sess_by_id(struct worker *w, uint64_t id)
{
	struct sess *s;

	if (w->sess_cap == 0)
		return NULL;
	for (s = w->sess_tab[(uint32_t)(id >> 32) & (w->sess_cap - 1)]; s != NULL; s = s->hnext)
		if (s->id == id)
			return s;
	return NULL;
}

static int
grow_table(struct worker *w)
{
	uint32_t cap = w->sess_cap ? w->sess_cap * 2 : 1024, b;
	struct sess **tab = sl_calloc(cap, sizeof(*tab));
	struct sess *s;

	if (tab == NULL)
		return -1;
	for (s = w->all_sess; s != NULL; s = s->next_all) {
		b = (uint32_t)(s->id >> 32) & (cap - 1);
		s->hnext = tab[b];
		tab[b] = s;
	}
	sl_free(w->sess_tab);
	w->sess_tab = tab;
	w->sess_cap = cap;
	return 0;
}

struct sess *
sess_new(struct worker *w, const char *client_id)
{
	uint32_t h = sess_hash(client_id), b;
	size_t len = strlen(client_id) + 1, size = offsetof(struct sess, client_id) + len;
	struct sess *s;

	if ((w->n_sess + 1) * 4 > w->sess_cap * 3 && grow_table(w) < 0)
		return NULL;
	/* One allocation: idle sessions are most sessions. Sized to the id's end, not to
	 * sizeof: the padding after the last field holds the id's first bytes. */
	if ((s = sl_calloc(1, size > sizeof(*s) ? size : sizeof(*s))) == NULL)
		return NULL;
	memcpy(s->client_id, client_id, len);
	s->w = w;
	s->next_pid = 1;
	/* Unique on this worker: another session could have it only 2^32 sessions later and
	 * with a client id of the same hash (ids travel in mailbox items and thread-pool jobs,
	 * and are looked up again when they come back). */
	s->id = (uint64_t)h << 32 | (uint32_t)++w->id_counter;
	b = h & (w->sess_cap - 1);
	s->hnext = w->sess_tab[b];
	w->sess_tab[b] = s;
	s->next_all = w->all_sess;
	if (w->all_sess != NULL)
		w->all_sess->prev_all = s;
	w->all_sess = s;
	w->n_sess++;
	return s;
}

static void
dlv_free(struct dlv *d)
{
	sl_msg_unref(d->msg);
	sl_free(d);
}

/* d ends for good (acknowledged, expired, refused): the store forgets it too. */
static void
dlv_end(struct sess *s, struct dlv *d)
{
	persist_q_del(s, d);
	dlv_free(d);
}

static void
dlv_list_free(struct dlv_list *l)
{
	struct dlv *d, *next;

	for (d = l->head; d != NULL; d = next) {
		next = d->next;
		dlv_free(d);
	}
	memset(l, 0, sizeof(*l));
}

/* Unlinks *pp from l; prev is the entry before it (NULL at the head). Returns it. */
static struct dlv *
dlv_unlink(struct dlv_list *l, struct dlv **pp, struct dlv *prev)
{
	struct dlv *d = *pp;

	*pp = d->next;
	if (l->tail == d)
		l->tail = prev;
	l->count--;
	l->bytes -= d->msg != NULL ? d->msg->payload.len : 0;
	return d;
}

static void
unlink_sess(struct sess *s)
{
	struct worker *w = s->w;
	struct sess **pp = &w->sess_tab[(uint32_t)(s->id >> 32) & (w->sess_cap - 1)];

	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
	if (s->prev_all != NULL)
		s->prev_all->next_all = s->next_all;
	else
		w->all_sess = s->next_all;
	if (s->next_all != NULL)
		s->next_all->prev_all = s->prev_all;
	w->n_sess--;
}

/* A session holding more subscriptions than this ends in slices (reap()): removing a million
 * from the index takes about a second. */
#define REAP_MIN 4096

/* What is left of s once its subscriptions are out of the index. */
static void
free_rest(struct sess *s)
{
	sess_clear_subs(s);
	if (s->ext != NULL) {
		sl_msg_unref(s->ext->will);
		sl_free(s->ext->rx_qos2);
		sl_free(s->ext);
	}
	sl_free(s->subs);
	sl_free(s->username); /* after sess_clear_subs(): no shared pick reads it any more */
	sl_free(s);
}

struct reap {
	struct slice sl;
	struct sess *s; /* owned: dying, out of the session table */
};

static bool
on_reap(struct slice *sl, uint64_t deadline)
{
	struct reap *r = container_of(sl, struct reap, sl);

	if (!sess_clear_subs_until(r->s, deadline))
		return false;
	free_rest(r->s);
	sl_free(r);
	return true;
}

/* Ends s's subscriptions a slice per loop turn; meanwhile the index may still name s, and
 * matches skip it (s->dying). Returns false when s must be freed now instead. */
static bool
reap_later(struct sess *s)
{
	struct reap *r;

	if (s->n_subs < REAP_MIN || s->w->stopping || (r = sl_malloc(sizeof(*r))) == NULL)
		return false;
	r->s = s;
	s->dying = true;
	slice_add(s->w, &r->sl, on_reap);
	return true;
}

void
sess_free(struct sess *s)
{
	if (s == NULL)
		return;
	SL_ASSERT(s->conn == NULL);
	if (s->stored) /* freed at shutdown: the store keeps it */
		atomic_fetch_sub(&s->w->b->n_stored, 1);
	persist_sess_gone(s);
	retq_free(s);
	unlink_sess(s); /* a new session may take its client id at once */
	dlv_list_free(&s->queue);
	dlv_list_free(&s->inflight);
	if (!reap_later(s))
		free_rest(s);
}

static void
dlv_append(struct dlv_list *l, struct dlv *d)
{
	d->next = NULL;
	if (l->tail != NULL)
		l->tail->next = d;
	else
		l->head = d;
	l->tail = d;
	l->count++;
	l->bytes += d->msg != NULL ? d->msg->payload.len : 0;
}

static struct dlv *
dlv_pop(struct dlv_list *l)
{
	return l->head != NULL ? dlv_unlink(l, &l->head, NULL) : NULL;
}

struct dlv *
sess_inflight_find(struct sess *s, uint16_t pid, uint8_t state)
{
	struct dlv *d;

	for (d = s->inflight.head; d != NULL; d = d->next)
		if (d->pid == pid && d->state == state)
			return d;
	return NULL;
}

bool
sess_inflight_done(struct sess *s, uint16_t pid, uint8_t state)
{
	struct dlv **pp, *d, *prev = NULL;

	for (pp = &s->inflight.head; (d = *pp) != NULL; prev = d, pp = &d->next) {
		if (d->pid == pid && d->state == state) {
			dlv_end(s, dlv_unlink(&s->inflight, pp, prev));
			return true;
		}
	}
	return false;
}

void
sess_inflight_released(struct sess *s, struct dlv *d)
{
	s->inflight.bytes -= d->msg->payload.len;
	sl_msg_unref(d->msg); /* delivered: only the packet id stays in flight */
	d->msg = NULL;
	d->state = DLV_WAIT_PUBCOMP;
	persist_q_state(s, d);
}

/* Picks the outbound topic alias for topic: an existing one (the topic is then omitted), a new
 * one while the client's maximum allows, or none. The table keeps a message reference for the
 * topic bytes: no copy. [MQTT-3.3.2-12..14] aliases are per connection. */
static void
out_alias(struct conn *c, struct sl_msg *msg, struct mqtt_pub_out *o)
{
	const struct sl_bytes t = msg->topic;
	uint16_t i;

	for (i = 0; i < c->out_alias_n; i++) {
		const struct sl_bytes a = c->out_alias[i]->topic;

		if (a.len == t.len && memcmp(a.p, t.p, t.len) == 0) {
			o->topic_alias = (uint16_t)(i + 1);
			o->omit_topic = true;
			return;
		}
	}
	if (c->out_alias_n < c->out_alias_max) {
		c->out_alias[c->out_alias_n++] = sl_msg_ref(msg);
		o->topic_alias = c->out_alias_n;
	}
}

/* Writes one PUBLISH for d to the session's connection. Returns false if it cannot be sent
 * at all (expired, or larger than the client accepts). */
static bool
write_publish(struct sess *s, const struct dlv *d, bool dup)
{
	struct conn *c = s->conn;
	struct mqtt_pub_out o;
	bool expired;
	size_t hl;

	memset(&o, 0, sizeof(o));
	/* The clock only for a message that expires: a system call per delivery otherwise. */
	o.expiry_left =
	        sl_msg_expiry_left(d->msg, d->msg->expiry_at_ms ? sl_now_ms() : 0, &expired);
	if (expired)
		return false; /* [MQTT-3.3.2-5] not delivered after expiry */
	o.version = c->version;
	o.qos = d->qos;
	o.dup = dup;
	o.retain = d->retain;
	o.packet_id = d->pid;
	o.topic = d->msg->topic;
	if (!mount_out(c, &o.topic))
		return false; /* outside the mount point of the client's listener */
	o.payload_len = d->msg->payload.len;
	if (c->version == MQTT_V5) {
		o.has_expiry = d->msg->expiry_at_ms != 0; /* [MQTT-3.3.2-6] the time left */
		o.n_sub_ids = d->n_sub_ids;
		o.sub_ids = d->sub_ids;
		o.props = d->msg->props;
		if (c->out_alias_max > 0)
			out_alias(c, d->msg, &o);
	}
	hl = mqtt_publish_hdr_len(&o);
	if (hl == 0 || (c->max_packet_out && hl + o.payload_len > c->max_packet_out) ||
	    sl_buf_reserve(&c->tx, hl + o.payload_len) < 0) {
		/* [MQTT-3.1.2-24] never exceed the client's maximum. An alias this message
		 * just took is given back: the client never learnt it. */
		if (o.topic_alias != 0 && !o.omit_topic)
			sl_msg_unref(c->out_alias[--c->out_alias_n]);
		return false;
	}
	c->tx.len += mqtt_publish_hdr_write(c->tx.data + c->tx.len, &o);
	conn_send_raw(c, d->msg->payload.p, d->msg->payload.len);
	c->w->st.bytes_sent += hl;
	c->w->st.msgs_sent++;
	return true;
}

static uint32_t
window(const struct sess *s)
{
	int mi = worker_conf(s->w)->max_inflight_messages;
	uint32_t w = s->conn->send_quota;

	if (mi > 0 && (uint32_t)mi < w)
		w = (uint32_t)mi;
	return w;
}

/* Whether pid may be in flight. Ids go out in increasing order (mod 2^16, skipping 0) and
 * the in-flight list is in send order, so every id in it lies in the circular range from its
 * head's to its tail's: one outside is free without a scan. A list restored from the store
 * keeps its stored order, which need not be that: it is scanned until it empties. */
static bool
pid_busy(struct sess *s, uint16_t pid)
{
	const struct dlv *d, *lo = s->inflight.head, *hi = s->inflight.tail;

	if (lo == NULL) {
		s->pids_unordered = false;
		return false;
	}
	if (!s->pids_unordered && (uint16_t)(pid - lo->pid) > (uint16_t)(hi->pid - lo->pid))
		return false;
	for (d = lo; d != NULL && d->pid != pid; d = d->next)
		;
	return d != NULL;
}

static uint16_t
next_pid(struct sess *s)
{
	uint16_t pid;

	for (;;) { /* skip ids still in flight: [MQTT-2.2.1-3] an id is reused only after ack */
		pid = s->next_pid++;
		if (s->next_pid == 0)
			s->next_pid = 1;
		if (!pid_busy(s, pid))
			return pid;
	}
}

bool
sess_has_room(const struct sess *s)
{
	return s->conn != NULL && conn_backlog(s->conn) < SLOW_BACKLOG &&
	       s->inflight.count < window(s);
}

static void
pump_queue(struct sess *s)
{
	struct dlv *d;

	while (s->conn != NULL && !s->conn->closing && s->queue.head != NULL &&
	       conn_backlog(s->conn) < SLOW_BACKLOG &&
	       (s->queue.head->qos == 0 || s->inflight.count < window(s))) {
		d = dlv_pop(&s->queue);
		if (d->qos == 0) {
			write_publish(s, d, false);
			dlv_free(d);
			continue;
		}
		d->pid = next_pid(s);
		d->state = d->qos == 1 ? DLV_WAIT_PUBACK : DLV_WAIT_PUBREC;
		if (!write_publish(s, d, false)) {
			dlv_end(s, d);
			continue;
		}
		/* Sent at once: one store write says so, not a put then a state change. */
		if (d->fresh)
			persist_q_put(s, d);
		else
			persist_q_state(s, d);
		d->fresh = false;
		dlv_append(&s->inflight, d);
	}
}

/* Drops the queued messages of s it may not read. Returns how many. */
static uint32_t
recheck_queue(struct sess *s)
{
	struct dlv **pp = &s->queue.head, *prev = NULL, *d;
	uint32_t dropped = 0;

	while ((d = *pp) != NULL) {
		if (access_acl(s, d->msg->topic, AUTH_READ)) {
			prev = d;
			pp = &d->next;
			continue;
		}
		dlv_end(s, dlv_unlink(&s->queue, pp, prev));
		dropped++;
	}
	return dropped;
}

void
sess_recheck(struct worker *w)
{
	uint64_t dropped = 0;

	for (struct sess *s = w->all_sess; s != NULL; s = s->next_all)
		dropped += recheck_queue(s);
	if (dropped > 0)
		LOG_NOTICE("auth",
		           "dropped %llu queued messages the reloaded ACL does not let their "
		           "sessions read",
		           (unsigned long long)dropped);
}

void
sess_pump(struct sess *s)
{
	do
		pump_queue(s);
	while (s->ext != NULL && s->ext->retq != NULL && retq_feed(s));
}

bool
sess_queue_fits(const struct sess *s, uint32_t len)
{
	const struct conf *cf = worker_conf(s->w);

	return (cf->max_queued_messages <= 0 ||
	        s->queue.count < (uint32_t)cf->max_queued_messages) &&
	       (cf->max_queued_bytes == 0 || s->queue.bytes + len <= cf->max_queued_bytes);
}

/* Makes room in a full queue: drops the oldest QoS 0 message first, else refuses the new one
 * (counted). Returns true if there is room for one more. */
static bool
queue_room(struct sess *s, uint8_t qos, uint32_t len)
{
	struct dlv **pp, *d, *prev = NULL;

	if (sess_queue_fits(s, len))
		return true;
	if (qos > 0) {
		for (pp = &s->queue.head; (d = *pp) != NULL; prev = d, pp = &d->next) {
			if (d->qos != 0)
				continue;
			dlv_free(dlv_unlink(&s->queue, pp, prev));
			sess_dropped(s, 1);
			return true;
		}
	}
	return false;
}

static void
drop(struct sess *s)
{
	uint64_t n = sess_dropped(s, 1);

	if (n == 1 || (n != 0 && n % 1000 == 0))
		LOG_WARN("sess", "client '%s' queue full, dropped %llu so far", s->client_id,
		         (unsigned long long)n);
}

void
sess_deliver(struct sess *s, struct sl_msg *msg, uint8_t qos, bool retain, const uint32_t *sub_ids,
             uint8_t n_sub_ids)
{
	struct dlv *d;

	sess_enqueue(s, msg, qos, retain, sub_ids, n_sub_ids);
	sess_pump(s);
	/* Still queued (offline, window full): stored as queued. */
	if ((d = s->queue.tail) != NULL && d->fresh) {
		persist_q_put(s, d);
		d->fresh = false;
	}
}

void
sess_enqueue(struct sess *s, struct sl_msg *msg, uint8_t qos, bool retain, const uint32_t *sub_ids,
             uint8_t n_sub_ids)
{
	struct dlv *d;

	if (qos == 0 && s->conn == NULL && !worker_conf(s->w)->queue_qos0_messages)
		return; /* mosquitto's default: QoS 0 is not queued for offline clients */
	if (qos == 0 && limit_shed_qos0(s)) { /* above memory_limit: QoS 0 is not queued */
		sess_dropped(s, 1);
		return;
	}
	if (qos == 0 && s->conn != NULL && s->queue.head == NULL &&
	    conn_backlog(s->conn) >= SLOW_BACKLOG) {
		drop(s);
		return;
	}
	if (!queue_room(s, qos, msg->payload.len)) {
		drop(s);
		return;
	}
	if ((d = sl_calloc(1, sizeof(*d))) == NULL) {
		drop(s);
		return;
	}
	d->msg = sl_msg_ref(msg);
	d->qos = qos;
	d->retain = retain;
	d->n_sub_ids = n_sub_ids;
	if (n_sub_ids > 0)
		memcpy(d->sub_ids, sub_ids, n_sub_ids * sizeof(*sub_ids));
	d->fresh = qos > 0;
	dlv_append(&s->queue, d);
}

int
sess_restore_dlv(struct sess *s, const struct store_q *q)
{
	struct dlv *d = sl_calloc(1, sizeof(*d));

	if (d == NULL)
		return -1;
	d->seq = q->seq;
	d->qos = q->qos;
	d->retain = q->retain;
	d->pid = q->pid;
	d->n_sub_ids = q->n_sub_ids < SESS_MAX_SUB_IDS ? q->n_sub_ids : SESS_MAX_SUB_IDS;
	memcpy(d->sub_ids, q->sub_ids, d->n_sub_ids * sizeof(*d->sub_ids));
	if (q->state == STORE_Q_QUEUED) {
		d->msg = sl_msg_ref(q->msg);
		d->state = DLV_QUEUED;
		dlv_append(&s->queue, d);
		return 0;
	}
	/* In flight when the broker stopped: resent with its packet id on resume. */
	s->pids_unordered = true;
	if (q->state == STORE_Q_REL) {
		d->state = DLV_WAIT_PUBCOMP;
	} else {
		d->msg = sl_msg_ref(q->msg);
		d->state = d->qos == 1 ? DLV_WAIT_PUBACK : DLV_WAIT_PUBREC;
	}
	dlv_append(&s->inflight, d);
	return 0;
}

uint32_t
sess_shed_qos0(struct sess *s)
{
	struct dlv **pp = &s->queue.head, *d, *prev = NULL;
	uint32_t n = 0;

	while ((d = *pp) != NULL) {
		if (d->qos != 0) {
			prev = d;
			pp = &d->next;
			continue;
		}
		dlv_free(dlv_unlink(&s->queue, pp, prev)); /* QoS 0 is never stored */
		n++;
	}
	return n;
}

void
sess_resend(struct sess *s)
{
	struct dlv *d;

	/* [MQTT-4.4.0-1] unacknowledged PUBLISH (DUP set) and PUBREL go again, in order. */
	for (d = s->inflight.head; d != NULL; d = d->next) {
		if (d->state == DLV_WAIT_PUBCOMP)
			conn_send_ack(s->conn, MQTT_PUBREL, d->pid, 0);
		else
			write_publish(s, d, true);
	}
}

void
sess_publish_will(struct sess *s)
{
	struct sess_x *x = s->ext;
	struct sl_msg *m = x != NULL ? x->will : NULL;

	if (x != NULL) {
		x->will = NULL;
		x->will_at = 0;
	}
	persist_will(s, false);
	if (m == NULL)
		return;
	if (!access_acl(s, m->topic, AUTH_WRITE)) {
		/* Checked when published, with the rules then in force (mosquitto): dropped. */
		LOG_INFO("sess", "will of client '%s' to '%.*s' not published: not authorised",
		         s->client_id, (int)m->topic.len, (const char *)m->topic.p);
		sl_msg_unref(m);
		return;
	}
	if (x->will_expiry > 0)
		m->expiry_at_ms = sl_now_ms() + (uint64_t)x->will_expiry * 1000u;
	if (m->retain)
		route_retain(s->w, m);
	route_publish(s->w, m, NULL); /* may deliver to s's own queue: s stays valid */
	sl_msg_unref(m);
}

void
sess_detach(struct sess *s, bool abnormal)
{
	uint64_t now = uv_now(s->w->loop);
	struct sess_x *x = s->ext; /* NULL: no will */
	uint32_t delay;

	s->conn = NULL;
	atomic_store(&s->online, false);
	if (x != NULL && !abnormal) {
		sl_msg_unref(x->will); /* [MQTT-3.1.2-10] a normal DISCONNECT discards it */
		x->will = NULL;
	} else if (x != NULL && x->will != NULL) {
		/* [MQTT-3.1.3-9] the will waits for the earlier of its delay and the session's
		 * end. */
		delay = x->will_delay < s->expiry ? x->will_delay : s->expiry;
		if (delay == 0)
			sess_publish_will(s);
		else
			x->will_at = now + (uint64_t)delay * 1000u;
	}
	if (s->expiry == 0) {
		sess_end(s);
		return;
	}
	s->expire_at = s->expiry == UINT32_MAX ? 0 : now + (uint64_t)s->expiry * 1000u;
	persist_sess(s); /* its expiry now runs, in wall-clock time */
	if (x != NULL && x->will_at != 0)
		persist_will(s, true);
}

void
sess_end(struct sess *s)
{
	struct owner_table *owners = s->w->b->owners;

	persist_sess_del(s);
	if (owners != NULL) /* the id may go to any worker now */
		owner_release(owners, s->client_id, strlen(s->client_id), s->w->idx);
	sess_free(s);
}

void
sess_tick(struct worker *w, uint64_t now)
{
	struct sess *s, *next;

	for (s = w->all_sess; s != NULL; s = next) {
		next = s->next_all;
		if (s->conn != NULL)
			continue;
		if (s->ext != NULL && s->ext->will_at != 0 && now >= s->ext->will_at)
			sess_publish_will(s);
		if (s->expire_at != 0 && now >= s->expire_at) {
			LOG_INFO("sess", "session '%s' expired", s->client_id);
			sess_end(s);
		}
	}
}
