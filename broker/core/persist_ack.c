/* broker/core/persist_ack.c - acknowledgements that wait for the store (see persist.h): ack legs
 * across workers, and the per-session list that keeps PUBACK/PUBREC in PUBLISH order. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "broker/core/broker.h"
#include "broker/core/conn.h"
#include "broker/core/persist.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"
#include "proto/mqtt.h"
#include "storage/store.h"

/* v3 clients have no receive maximum: a publisher that runs ahead of the store stops being
 * read, so the store's backlog never reaches its bound (store_conf.max_pending, past which
 * writes fail) and is a slower publisher instead. What fills the store is writes, not
 * publishes (a message to 20 stored subscribers makes 40), so the store's own backlog decides:
 * a publisher is held once it passes HOLD_PCT % of the bound, and resumed when an
 * acknowledgement it was owed comes back (a group commit) with the backlog under RESUME_PCT %,
 * or once it owes none. A fixed count of owed acknowledgements (1,024, then resumed at 256)
 * held publishers whenever one fsync took longer than 1,024 of its messages (20 ms at 50,000
 * msgs/s: a third of the fsyncs on a shared disk), and at 4,096 a publisher to 20 subscribers
 * filled the bound before it was held. ACK_HOLD still caps one session's list. */
#define HOLD_PCT 50
#define RESUME_PCT 25
#define ACK_HOLD 65536

/* Legs and owed acknowledgements are made and freed on the publisher's worker, hundreds per
 * loop turn, more than malloc's per-thread cache holds (7 of a size): each worker keeps up to
 * FREE_KEEP of each in a free list linked through their first word (a group commit's worth at
 * several hundred thousand msgs/s). */
#define FREE_KEEP 8192

/* One acknowledgement a session owes, in PUBLISH order. */
struct pend_ack {
	struct pend_ack *next;
	uint64_t id;
	uint16_t pid;
	uint8_t type; /* MQTT_PUBACK or MQTT_PUBREC */
	uint8_t rc;
	bool ready;
	int status; /* the store's: < 0 means the message is not durable */
};

/* Shared by the workers a message visits. Holds ids, never pointers into a worker, so it can
 * outlive the session. Made on the publisher's worker and freed there too: the last part
 * posts the leg's own MB_ACK item back, and freeing that item (persist_ack_item_free) frees
 * the leg, so no worker frees another's allocation (glibc then takes the other thread's arena
 * lock). */
struct ack_leg {
	struct mb_item ack; /* first: the MB_ACK item is the leg */
	atomic_int parts;
	atomic_int status;
	uint32_t origin; /* worker of the publishing session */
	uint64_t sess_id;
	uint64_t ack_id;
	/* Read only on the origin worker, and only after sess_id was found there: a session
	 * frees its owed acknowledgements only when it ends or after this one is answered. */
	struct pend_ack *pend;
};

/* A zeroed object of size from the free list, else from sl_calloc; NULL on ENOMEM. */
static void *
spare_get(void **list, uint32_t *n, size_t size)
{
	void *p = *list;

	if (p == NULL)
		return sl_calloc(1, size);
	*list = *(void **)p;
	(*n)--;
	memset(p, 0, size);
	return p;
}

/* Keeps p for reuse, or frees it when the list is full or n's store is detached. */
static void
spare_put(const struct worker *w, void **list, uint32_t *count, void *p)
{
	if (*count >= FREE_KEEP || w->sh == NULL) {
		sl_free(p);
		return;
	}
	*(void **)p = *list;
	*list = p;
	(*count)++;
}

static void
ack_put(struct worker *w, struct pend_ack *a)
{
	spare_put(w, &w->free_acks, &w->n_free_acks, a);
}

static void
leg_put(struct worker *w, struct ack_leg *leg)
{
	spare_put(w, &w->free_legs, &w->n_free_legs, leg);
}

static void
spares_free(void **list, uint32_t *n)
{
	for (void *p = *list, *next; p != NULL; p = next) {
		next = *(void **)p;
		sl_free(p);
	}
	*list = NULL;
	*n = 0;
}

void
persist_ack_fini(struct worker *w)
{
	spares_free(&w->free_legs, &w->n_free_legs);
	spares_free(&w->free_acks, &w->n_free_acks);
}

void
persist_ack_item_free(struct worker *w, struct mb_item *it)
{
	leg_put(w, (struct ack_leg *)it); /* the item is the leg's first member */
}

/* Any stored session, on any worker, may be sent a copy that must be stored first, so one
 * stored session anywhere is reason enough to wait; so is a retained message. A stored
 * publisher (its QoS 2 receive id) is one of those sessions. */
bool
persist_ack_needed(const struct sess *s, const struct sl_msg *msg)
{
	struct broker *b = s->w->b;

	if (s->w->sh == NULL || !store_durable(b->store))
		return false;
	return msg->retain || atomic_load(&b->n_stored) > 0;
}

static void
send_one(struct sess *s, const struct pend_ack *a)
{
	struct conn *c = s->conn;

	if (c == NULL || c->closing)
		return; /* the client resends after it reconnects [MQTT-4.4.0-1] */
	if (a->status < 0 && c->version != MQTT_V5) {
		/* v3 has no failure code: no acknowledgement, and the client resends. */
		LOG_WARN("store", "client '%s': message %u not stored (%s), closing", s->client_id,
		         a->pid, strerror(-a->status));
		conn_close(c, false);
		return;
	}
	/* v5 and not stored: not accepted, it may send it again. */
	conn_send_ack(c, a->type, a->pid, a->status < 0 ? MQTT_RC_UNSPECIFIED : a->rc);
}

/* s owes acknowledgements: it has its x. */
static void
drain(struct sess *s)
{
	struct sess_x *x = s->ext;
	struct pend_ack *a;

	while ((a = x->acks) != NULL && a->ready) {
		x->acks = a->next;
		if (x->acks == NULL)
			x->acks_tail = NULL;
		x->n_acks--;
		send_one(s, a);
		ack_put(s->w, a);
	}
	if (s->conn != NULL && s->conn->held &&
	    (x->n_acks == 0 ||
	     (x->n_acks < ACK_HOLD / 2 && store_backlog_pct(s->w->b->store) < RESUME_PCT))) {
		s->conn->held = false;
		conn_resume(s->conn);
	}
}

static struct pend_ack *
owe(struct sess *s, uint16_t pid, uint8_t type, uint8_t rc)
{
	struct sess_x *x = sess_x(s);
	struct pend_ack *a;

	if (x == NULL)
		return NULL;
	a = spare_get(&s->w->free_acks, &s->w->n_free_acks, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->id = ++x->next_ack;
	x->n_acks++;
	a->pid = pid;
	a->type = type;
	a->rc = rc;
	if (x->acks_tail != NULL)
		x->acks_tail->next = a;
	else
		x->acks = a;
	x->acks_tail = a;
	return a;
}

void
persist_ack_now(struct sess *s, uint16_t pid, uint8_t type, uint8_t rc)
{
	struct pend_ack a = {NULL, 0, pid, type, rc, true, 0}, *q;

	if (s->ext == NULL || s->ext->acks == NULL) {
		send_one(s, &a);
		return;
	}
	if ((q = owe(s, pid, type, rc)) == NULL) {
		send_one(s, &a); /* out of order beats never */
		return;
	}
	q->ready = true;
}

struct ack_leg *
persist_ack_begin(struct sess *s, uint16_t pid, uint8_t type)
{
	struct ack_leg *leg = spare_get(&s->w->free_legs, &s->w->n_free_legs, sizeof(*leg));
	struct pend_ack *a;

	if (leg == NULL)
		return NULL;
	if ((a = owe(s, pid, type, 0)) == NULL) {
		leg_put(s->w, leg);
		return NULL;
	}
	atomic_init(&leg->parts, 1);
	atomic_init(&leg->status, 0);
	leg->ack.type = MB_ACK;
	leg->ack.fd = -1;
	leg->origin = s->w->idx;
	leg->sess_id = s->id;
	leg->ack_id = a->id;
	leg->pend = a;
	/* It owes this one: the drain that answers it can resume it. */
	if (s->conn != NULL && !s->conn->paused &&
	    (s->ext->n_acks >= ACK_HOLD || store_backlog_pct(s->w->b->store) >= HOLD_PCT)) {
		s->conn->paused = s->conn->held = true; /* this PUBLISH is handled; not the next */
		uv_read_stop((uv_stream_t *)&s->conn->tcp);
	}
	return leg;
}

void
persist_ack_set_rc(struct ack_leg *leg, uint8_t rc)
{
	/* Still owed: the answer comes from this loop's mailbox, after this turn's routing. */
	leg->pend->rc = rc;
}

void
persist_leg_hold(struct ack_leg *leg)
{
	atomic_fetch_add(&leg->parts, 1);
}

/* Ends one part of leg. here: the worker calling, when it may answer the publisher at once
 * (from a loop callback of its own, not from inside a packet's handling); else NULL. */
static void
leg_release(struct broker *b, struct ack_leg *leg, int status, struct worker *here)
{
	struct mb_item *it = &leg->ack;

	if (status < 0)
		atomic_store(&leg->status, status);
	if (atomic_fetch_sub(&leg->parts, 1) != 1)
		return;
	if (atomic_load(&b->stopping)) {
		sl_free(leg); /* the publisher's loop may be gone; its client resends */
		return;
	}
	it->sess_id = leg->sess_id;
	it->ack_id = leg->ack_id;
	it->pend = leg->pend;
	it->code = atomic_load(&leg->status);
	if (here != NULL && here->idx == leg->origin) {
		persist_on_ack(here, it); /* not through our own mailbox: no lock, no wakeup */
		leg_put(here, leg);
		return;
	}
	worker_post(&b->workers[leg->origin], it);
}

/* The parts one barrier ends: a leg is shared by the workers a message visits, so each keeps
 * its own list of them (an array), never a link inside the leg. */
struct leg_wait {
	struct worker *w;
	uint32_t n_legs;
	struct ack_leg *legs[];
};

static void
release_all(struct broker *b, struct ack_leg **legs, uint32_t n, int status, struct worker *here)
{
	for (uint32_t i = 0; i < n; i++)
		leg_release(b, legs[i], status, here);
}

static void
on_durable(void *arg, int status)
{
	struct leg_wait *w = arg;

	release_all(w->w->b, w->legs, w->n_legs, status, w->w);
	sl_free(w);
}

void
persist_leg_done(struct worker *w, struct ack_leg *leg)
{
	struct ack_leg **a;

	if (leg == NULL)
		return;
	if (w->sh == NULL || !store_h_dirty(w->sh)) {
		leg_release(w->b, leg, 0, NULL); /* nothing written here since the last barrier */
		return;
	}
	/* One barrier at the end of this loop turn covers every message routed in it: a mailbox
	 * drain of a hundred messages costs one barrier, not a hundred. */
	if (w->n_legs == w->cap_legs) {
		a = sl_realloc(w->legs, (w->cap_legs * 2 + 64) * sizeof(*a));
		if (a == NULL) {
			leg_release(w->b, leg, -ENOMEM, NULL);
			return;
		}
		w->legs = a;
		w->cap_legs = w->cap_legs * 2 + 64;
	}
	w->legs[w->n_legs++] = leg;
}

void
persist_flush(struct worker *w)
{
	uint32_t k = w->n_legs;
	struct leg_wait *lw;

	if (k == 0)
		return;
	w->n_legs = 0;
	lw = w->sh != NULL ? sl_malloc(sizeof(*lw) + k * sizeof(lw->legs[0])) : NULL;
	if (lw == NULL) {
		release_all(w->b, w->legs, k, w->sh == NULL ? -ECANCELED : -ENOMEM, NULL);
		return;
	}
	lw->w = w;
	lw->n_legs = k;
	memcpy(lw->legs, w->legs, k * sizeof(lw->legs[0]));
	if (store_barrier(w->sh, on_durable, lw) < 0) {
		release_all(w->b, lw->legs, k, -ENOMEM, NULL);
		sl_free(lw);
	}
}

void
persist_on_ack(struct worker *w, const struct mb_item *it)
{
	struct sess *s = sess_by_id(w, it->sess_id);
	struct pend_ack *a;

	if (s == NULL)
		return; /* the session ended meanwhile, and its owed acknowledgements with it */
	a = it->pend;   /* no search: a publisher far ahead of the store owes thousands */
	if (a->id != it->ack_id)
		return;
	a->ready = true;
	a->status = it->code;
	if (it->code < 0 && a->type == MQTT_PUBREC)
		sess_rx_remove(s, a->pid); /* not received after all: a resend must go through */
	drain(s);
}

void
persist_sess_gone(struct sess *s)
{
	struct sess_x *x = s->ext;
	struct pend_ack *a, *next;

	if (x == NULL)
		return;
	for (a = x->acks; a != NULL; a = next) {
		next = a->next;
		ack_put(s->w, a);
	}
	x->acks = x->acks_tail = NULL;
	x->n_acks = 0;
}
