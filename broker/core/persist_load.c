/* broker/core/persist_load.c - the start of the broker: what the store holds goes back into the
 * workers (sessions on the worker owning their client id, retained into the shared index)
 * before any worker thread runs, so nothing here needs a lock. */
#include <string.h>

#include "broker/core/broker.h"
#include "broker/core/owner.h"
#include "broker/core/persist.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "broker/index/retain.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"
#include "storage/store.h"
#include "storage/store_image.h"

struct load {
	struct broker *b;
	struct sess *cur; /* the session the records being read belong to */
	uint64_t now_wall, sessions, msgs, retained;
};

/* The worker a stored session goes back to: spread by client id hash (its load is not known
 * yet), and registered there (owner.h). */
static struct worker *
owner_of(struct load *l, const char *client_id)
{
	size_t len = strlen(client_id);
	uint32_t w = worker_owner(l->b, client_id, len);

	if (l->b->owners != NULL && owner_claim(l->b->owners, client_id, len, w, &w) < 0)
		return NULL;
	return &l->b->workers[w];
}

/* The records of one session follow it; looking it up again covers any other order. */
static struct sess *
find(struct load *l, const char *client_id)
{
	struct worker *w;

	if (l->cur != NULL && strcmp(l->cur->client_id, client_id) == 0)
		return l->cur;
	if ((w = owner_of(l, client_id)) == NULL)
		return NULL;
	return l->cur = sess_find(w, client_id);
}

/* Wall-clock ms at the store to loop ms now; a time already past is due at once. */
static uint64_t
loop_time(struct load *l, struct worker *w, uint64_t wall)
{
	return uv_now(w->loop) + (wall > l->now_wall ? wall - l->now_wall : 0);
}

static int
on_sess(void *arg, const struct store_sess *ss)
{
	struct load *l = arg;
	struct worker *w = owner_of(l, ss->client_id);
	struct sess *s = w != NULL ? sess_find(w, ss->client_id) : NULL;

	if (w == NULL || (s == NULL && (s = sess_new(w, ss->client_id)) == NULL))
		return -1;
	if (sess_x(s) == NULL) /* a stored session numbers its deliveries there */
		return -1;
	s->version = ss->version;
	s->expiry = ss->expiry;
	/* Whose session it is: ACLs apply to it at once, and only that user resumes it. */
	sl_free(s->username);
	s->username = ss->username != NULL ? sl_strdup(ss->username) : NULL;
	if (ss->username != NULL && s->username == NULL)
		return -1;
	s->user_set = true;
	/* A session that was online when the broker stopped went offline then: its expiry
	 * counts from this start, as if the client had just disconnected. */
	if (ss->expiry == UINT32_MAX)
		s->expire_at = 0;
	else if (ss->expire_at != 0)
		s->expire_at = loop_time(l, w, ss->expire_at);
	else
		s->expire_at = uv_now(w->loop) + (uint64_t)ss->expiry * 1000u;
	if (s->expire_at == 0 && ss->expiry != UINT32_MAX)
		s->expire_at = 1; /* 0 means "not scheduled" */
	if (!s->stored) {
		s->stored = true;
		atomic_fetch_add(&l->b->n_stored, 1);
	}
	l->cur = s;
	l->sessions++;
	return 0;
}

static int
on_sub(void *arg, const char *client_id, const struct store_sub *sub)
{
	struct load *l = arg;
	struct sess *s = find(l, client_id);
	bool existed;

	if (s == NULL)
		return 0; /* a record of a session that is gone */
	if (sess_add_sub(s, sub->filter, sub->options, sub->sub_id, &existed) < 0)
		LOG_WARN("store", "client '%s': cannot restore subscription '%s'", client_id,
		         sub->filter);
	return 0;
}

static int
on_q(void *arg, const char *client_id, const struct store_q *q)
{
	struct load *l = arg;
	struct sess *s = find(l, client_id);
	struct sess_x *x;

	if (s == NULL)
		return 0;
	if ((x = sess_x(s)) == NULL || sess_restore_dlv(s, q) < 0)
		return -1;
	if (q->seq > x->next_seq)
		x->next_seq = q->seq;
	l->msgs++;
	return 0;
}

static int
on_rx(void *arg, const char *client_id, uint16_t pid)
{
	struct load *l = arg;
	struct sess *s = find(l, client_id);

	if (s != NULL && !sess_rx_has(s, pid) && sess_rx_add(s, pid) < 0)
		return -1;
	return 0;
}

static int
on_will(void *arg, const char *client_id, struct sl_msg *msg, uint64_t at_ms)
{
	struct load *l = arg;
	struct sess *s = find(l, client_id);
	struct sess_x *x;

	if (s == NULL)
		return 0;
	if ((x = sess_x(s)) == NULL)
		return -1;
	sl_msg_unref(x->will);
	x->will = sl_msg_ref(msg);
	x->will_at = loop_time(l, s->w, at_ms);
	if (x->will_at == 0)
		x->will_at = 1;
	s->will_stored = true;
	return 0;
}

/* One stored session, whole: its record, then its parts, through the handlers above. */
static int
on_image(void *arg, const struct store_image *img)
{
	const char *id = img->sess.client_id;
	int rc = on_sess(arg, &img->sess);

	for (uint32_t i = 0; i < img->n_subs && rc == 0; i++)
		rc = on_sub(arg, id, &img->subs[i]);
	for (uint32_t i = 0; i < img->n_q && rc == 0; i++)
		rc = on_q(arg, id, &img->q[i]);
	for (uint32_t i = 0; i < img->n_rx && rc == 0; i++)
		rc = on_rx(arg, id, img->rx[i]);
	if (rc == 0 && img->will != NULL)
		rc = on_will(arg, id, img->will, img->will_at);
	return rc;
}

static int
on_retain(void *arg, struct sl_msg *msg)
{
	struct load *l = arg;

	if (retain_set(l->b->retained, msg) < 0)
		return -1;
	l->retained++;
	return 0;
}

int
persist_load(struct broker *b)
{
	static const struct store_visitor v = {on_image, on_retain};
	struct load l = {b, NULL, sl_now_ms(), 0, 0, 0};
	struct store_h **sh;
	int rc;

	if ((sh = sl_calloc(b->n_workers, sizeof(*sh))) == NULL)
		return -1;
	/* No writes while reading back: what is restored is in the store already, and its
	 * threads start only at the end of the load. */
	for (uint32_t i = 0; i < b->n_workers; i++) {
		uv_update_time(b->workers[i].loop);
		sh[i] = b->workers[i].sh;
		b->workers[i].sh = NULL;
	}
	rc = store_load(b->store, &v, &l);
	for (uint32_t i = 0; i < b->n_workers; i++)
		b->workers[i].sh = sh[i];
	sl_free(sh);
	if (rc != 0) {
		LOG_ERR("store", "loading the store failed (%d)", rc);
		return -1;
	}
	if (store_durable(b->store))
		LOG_NOTICE("store", "restored %llu sessions, %llu queued messages, %llu retained",
		           (unsigned long long)l.sessions, (unsigned long long)l.msgs,
		           (unsigned long long)l.retained);
	return 0;
}
