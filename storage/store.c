/* storage/store.c - the store core: picks the backends, runs each on its own thread and loop,
 * moves ops from the workers' handles to them, and puts together the sessions they load. */
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "store_image.h"

void
store_op_free(struct store_op *op)
{
	if (op == NULL)
		return;
	if (op->kind == SOP_SESS_PUT)
		sl_free((char *)op->sess.username);
	sl_free((char *)op->sub.filter);
	if (op->pool != NULL) {
		store_pool_put(op); /* with its message: the owner drops that reference */
		return;
	}
	sl_msg_unref(op->q.msg);
	sl_msg_unref(op->msg);
	sl_free(op);
}

void
store_be_done(struct store_be *core, struct store_op *op, int status)
{
	atomic_fetch_sub(&core->pending, 1);
	if (status < 0 && op->kind != SOP_BARRIER)
		atomic_fetch_add(&core->st->failed, 1);
	if (op->kind == SOP_BARRIER)
		store_bar_part(core->st, op->bar, status);
	store_op_free(op);
}

void
store_be_set_up(struct store_be *core, bool up)
{
	atomic_store(&core->up, up);
}

void
store_be_count_sync(struct store_be *core)
{
	atomic_fetch_add(&core->st->syncs, 1);
}

void
store_be_count_reconnect(struct store_be *core)
{
	atomic_fetch_add(&core->st->reconnects, 1);
}

void
store_be_retain_changed(struct store_be *core, const char *topic, struct sl_msg *msg)
{
	if (core->st->retain_changed != NULL)
		core->st->retain_changed(core->st->retain_arg, topic, msg);
	else
		sl_msg_unref(msg);
}

void
store_core_reject(struct store_be *be, struct store_op *op)
{
	atomic_fetch_add(&be->pending, 1); /* store_be_done takes it off again */
	store_be_done(be, op, -ENOSPC);
}

void
store_core_push(struct store_be *be, struct store_op *head, struct store_op *tail, uint32_t n)
{
	tail->next = NULL;
	atomic_fetch_add(&be->pending, n); /* before the backend can complete any of them */
	pthread_mutex_lock(&be->mu);
	if (be->tail != NULL)
		be->tail->next = head;
	else
		be->head = head;
	be->tail = tail;
	be->n += n;
	pthread_mutex_unlock(&be->mu);
	/* After the append: a backend that stops being quiet then takes the queue, so either it
	 * sees these ops or this sees it is no longer quiet. */
	if (!atomic_load(&be->quiet))
		uv_async_send(&be->wake);
}

void
store_be_quiet(struct store_be *core)
{
	atomic_store(&core->quiet, true);
}

struct store_op *
store_be_take(struct store_be *core, struct store_op **tail, uint32_t *n)
{
	struct store_op *head;

	atomic_store(&core->quiet, false);
	pthread_mutex_lock(&core->mu);
	head = core->head;
	*tail = core->tail;
	*n = core->n;
	core->head = core->tail = NULL;
	core->n = 0;
	pthread_mutex_unlock(&core->mu);
	return head;
}

static void
on_wake(uv_async_t *a)
{
	struct store_be *be = a->data;
	struct store_op *batch, *tail;
	bool stopping;
	uint32_t n;

	pthread_mutex_lock(&be->mu);
	batch = be->head;
	tail = be->tail;
	n = be->n;
	be->head = be->tail = NULL;
	be->n = 0;
	stopping = be->stopping;
	pthread_mutex_unlock(&be->mu);
	if (batch != NULL)
		be->ops->submit(be->be, batch, tail, n);
	if (stopping) {
		be->ops->stop(be->be);
		uv_close((uv_handle_t *)&be->wake, NULL);
	}
}

static void
be_thread(void *arg)
{
	struct store_be *be = arg;

	uv_run(&be->loop, UV_RUN_DEFAULT);
}

static void
be_free(struct store_be *be)
{
	if (be == NULL)
		return;
	if (be->be != NULL)
		be->ops->free(be->be);
	pthread_mutex_destroy(&be->mu);
	sl_free(be);
}

static struct store_be *
be_open(struct store *st, const struct store_be_ops *ops, bool sessions, bool retained, char **err)
{
	struct store_be *be = sl_calloc(1, sizeof(*be));
	int rc;

	if (be == NULL)
		return NULL;
	be->st = st;
	be->ops = ops;
	be->sessions = sessions;
	be->retained = retained;
	atomic_init(&be->up, true);
	atomic_init(&be->pending, 0);
	atomic_init(&be->quiet, false);
	pthread_mutex_init(&be->mu, NULL);
	rc = ops->open(&st->cf, sessions, retained, &be->be, err);
	if (rc < 0) {
		if (*err == NULL && (*err = malloc(128)) != NULL)
			snprintf(*err, 128, "%s store: %s", ops->name, strerror(-rc));
		be->be = NULL;
		be_free(be);
		return NULL;
	}
	return be;
}

static int
be_start(struct store_be *be)
{
	int rc = uv_loop_init(&be->loop);

	if (rc < 0)
		return rc;
	rc = uv_async_init(&be->loop, &be->wake, on_wake);
	if (rc < 0)
		goto fail_loop;
	be->wake.data = be;
	rc = be->ops->start(be->be, &be->loop, be);
	if (rc < 0)
		goto fail_async;
	rc = uv_thread_create(&be->thread, be_thread, be);
	if (rc < 0)
		goto fail_async;
	be->started = true;
	return 0;
fail_async:
	uv_close((uv_handle_t *)&be->wake, NULL);
	uv_run(&be->loop, UV_RUN_NOWAIT);
fail_loop:
	uv_loop_close(&be->loop);
	return rc;
}

static void
be_stop(struct store_be *be)
{
	if (!be->started)
		return;
	pthread_mutex_lock(&be->mu);
	be->stopping = true;
	pthread_mutex_unlock(&be->mu);
	uv_async_send(&be->wake);
	uv_thread_join(&be->thread);
	uv_loop_close(&be->loop);
	be->started = false;
}

static int
open_backends(struct store *st, char **err)
{
	const struct store_conf *cf = &st->cf;
	bool file_sess = cf->pg_dsn == NULL, file_ret = cf->redis_url == NULL;

	if (cf->dir != NULL && (file_sess || file_ret)) {
		st->be[st->n_be] = be_open(st, &store_file_ops, file_sess, file_ret, err);
		if (st->be[st->n_be++] == NULL)
			return -1;
	}
	if (cf->pg_dsn != NULL) {
		st->be[st->n_be] = be_open(st, &store_pg_ops, true, false, err);
		if (st->be[st->n_be++] == NULL)
			return -1;
	}
	if (cf->redis_url != NULL) {
		st->be[st->n_be] = be_open(st, &store_redis_ops, false, true, err);
		if (st->be[st->n_be++] == NULL)
			return -1;
	}
	return 0;
}

struct store *
store_open(const struct store_conf *cf, char **err)
{
	struct store *st = sl_calloc(1, sizeof(*st));

	*err = NULL;
	if (st == NULL)
		goto fail;
	st->cf = *cf;
	st->retain_changed = cf->retain_changed;
	st->retain_arg = cf->retain_arg;
	st->max_pending = cf->max_pending != 0 ? cf->max_pending : 100000;
	pthread_mutex_init(&st->mu, NULL);
	if (open_backends(st, err) < 0)
		goto fail;
	return st;
fail:
	if (*err == NULL)
		*err = strdup("store: out of memory");
	store_close(st);
	return NULL;
}

/* store_load's side of a backend's reports (store_be_visitor): each session's parts go into
 * its image, found by client id (the backends report every record before any part, so a part
 * does not simply follow its session); the images go to the caller once the backend has
 * reported everything. */
struct gather {
	const struct store_visitor *v;
	void *arg;
	struct store_image **imgs; /* n, in the order their records came; cap allocated */
	uint32_t n, cap;
	uint32_t *slot; /* nslot (a power of 2, over twice n): index into imgs + 1, 0 = empty */
	uint32_t nslot;
	struct store_image *last; /* one session's parts come together: this skips most lookups */
};

static uint32_t
hash_id(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* The slot holding id's image, or the empty one where it would go. */
static uint32_t *
gather_slot(const struct gather *g, const char *id)
{
	uint32_t mask = g->nslot - 1;

	for (uint32_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
		uint32_t *sl = &g->slot[i];

		if (*sl == 0 || strcmp(g->imgs[*sl - 1]->sess.client_id, id) == 0)
			return sl;
	}
}

static struct store_image *
gather_find(struct gather *g, const char *id)
{
	uint32_t *sl;

	if (g->last != NULL && strcmp(g->last->sess.client_id, id) == 0)
		return g->last;
	if (g->nslot == 0 || *(sl = gather_slot(g, id)) == 0)
		return NULL;
	return g->last = g->imgs[*sl - 1];
}

/* Room for one more image: imgs grown, slots kept under half full. Returns 0 or -ENOMEM. */
static int
gather_room(struct gather *g)
{
	struct store_image **imgs;
	uint32_t nslot, *slot;

	if (g->nslot >= UINT32_MAX / 4)
		return -ENOMEM; /* the doublings below stay within a uint32_t */
	if (g->n == g->cap) {
		imgs = sl_realloc(g->imgs, (size_t)(g->cap > 0 ? g->cap * 2 : 64) * sizeof(*imgs));
		if (imgs == NULL)
			return -ENOMEM;
		g->imgs = imgs;
		g->cap = g->cap > 0 ? g->cap * 2 : 64;
	}
	if ((g->n + 1) * 2 <= g->nslot)
		return 0;
	nslot = g->nslot > 0 ? g->nslot * 2 : 128;
	if ((slot = sl_calloc(nslot, sizeof(*slot))) == NULL)
		return -ENOMEM;
	sl_free(g->slot);
	g->slot = slot;
	g->nslot = nslot;
	for (uint32_t i = 0; i < g->n; i++)
		*gather_slot(g, g->imgs[i]->sess.client_id) = i + 1;
	return 0;
}

static int
on_load_sess(void *arg, const struct store_sess *s)
{
	struct gather *g = arg;
	struct store_image *img;

	/* A backend keys sessions by client id, so there is no second record; were there
	 * one, the first would stand. */
	if (gather_find(g, s->client_id) != NULL)
		return 0;
	if (gather_room(g) < 0 || (img = store_image_new(s)) == NULL)
		return -ENOMEM;
	g->imgs[g->n++] = img;
	*gather_slot(g, s->client_id) = g->n;
	return 0;
}

/* The parts of a session without a record are not reported (the backends send none). */
static int
on_load_sub(void *arg, const char *client_id, const struct store_sub *sub)
{
	struct store_image *img = gather_find(arg, client_id);

	return img != NULL ? store_image_add_sub(img, sub) : 0;
}

static int
on_load_q(void *arg, const char *client_id, const struct store_q *q)
{
	struct store_image *img = gather_find(arg, client_id);

	return img != NULL ? store_image_add_q(img, q) : 0;
}

static int
on_load_rx(void *arg, const char *client_id, uint16_t pid)
{
	struct store_image *img = gather_find(arg, client_id);

	return img != NULL ? store_image_add_rx(img, pid) : 0;
}

static int
on_load_will(void *arg, const char *client_id, struct sl_msg *msg, uint64_t at_ms)
{
	struct store_image *img = gather_find(arg, client_id);

	if (img != NULL)
		store_image_set_will(img, msg, at_ms);
	return 0;
}

static int
on_load_retain(void *arg, struct sl_msg *msg)
{
	struct gather *g = arg;

	return g->v->retain(g->arg, msg);
}

/* Reports the images gathered (unless rc already failed the load), frees them and empties
 * the table for the next backend. Returns rc, or the visitor's non-zero return. */
static int
gather_flush(struct gather *g, int rc)
{
	for (uint32_t i = 0; i < g->n; i++) {
		if (rc == 0)
			rc = g->v->image(g->arg, g->imgs[i]);
		store_image_free(g->imgs[i]);
	}
	g->n = 0;
	g->last = NULL;
	if (g->nslot > 0)
		memset(g->slot, 0, g->nslot * sizeof(*g->slot));
	return rc;
}

int
store_load(struct store *st, const struct store_visitor *v, void *arg)
{
	const bool img = v->image != NULL;
	const struct store_be_visitor bv = {
	        img ? on_load_sess : NULL, img ? on_load_sub : NULL,
	        img ? on_load_q : NULL,    img ? on_load_rx : NULL,
	        img ? on_load_will : NULL, v->retain != NULL ? on_load_retain : NULL};
	struct gather g = {.v = v, .arg = arg};
	int rc = 0;

	for (uint32_t i = 0; i < st->n_be && rc == 0; i++)
		rc = gather_flush(&g, st->be[i]->ops->load(st->be[i]->be, &bv, &g));
	sl_free(g.imgs);
	sl_free(g.slot);
	if (rc != 0)
		return rc;
	/* The threads start after the load so a backend's loader owns it alone meanwhile. */
	for (uint32_t i = 0; i < st->n_be; i++) {
		rc = be_start(st->be[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Backend i's writes not yet durable, those still in the handles included. */
static uint64_t
pending_all(const struct store *st, uint32_t i)
{
	uint64_t n = atomic_load(&st->be[i]->pending);

	pthread_mutex_lock(&((struct store *)st)->mu);
	for (const struct store_h *h = st->handles; h != NULL; h = h->next_h)
		n += atomic_load_explicit(&h->n[i], memory_order_relaxed);
	pthread_mutex_unlock(&((struct store *)st)->mu);
	return n;
}

bool
store_ok(const struct store *st)
{
	for (uint32_t i = 0; i < st->n_be; i++) {
		struct store_be *be = st->be[i];

		if (be->sessions &&
		    (!atomic_load(&be->up) || pending_all(st, i) >= st->max_pending / 2))
			return false;
	}
	return true;
}

uint32_t
store_backlog_pct(const struct store *st)
{
	uint64_t most = 0, n;

	for (uint32_t i = 0; i < st->n_be; i++)
		if ((n = atomic_load(&st->be[i]->pending)) > most)
			most = n;
	return most >= st->max_pending ? 100 : (uint32_t)(most * 100 / st->max_pending);
}

bool
store_durable(const struct store *st)
{
	return st->n_be > 0;
}

void
store_stats(const struct store *st, struct store_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->writes = atomic_load(&((struct store *)st)->writes);
	out->failed = atomic_load(&((struct store *)st)->failed);
	out->syncs = atomic_load(&((struct store *)st)->syncs);
	out->reconnects = atomic_load(&((struct store *)st)->reconnects);
	out->sessions_up = out->retained_up = true;
	pthread_mutex_lock(&((struct store *)st)->mu);
	for (const struct store_h *h = st->handles; h != NULL; h = h->next_h)
		out->writes += atomic_load_explicit(&h->made, memory_order_relaxed);
	pthread_mutex_unlock(&((struct store *)st)->mu);
	for (uint32_t i = 0; i < st->n_be; i++) {
		struct store_be *be = st->be[i];
		bool up = atomic_load(&be->up);

		out->pending += pending_all(st, i);
		if (be->sessions)
			out->sessions_up = up;
		if (be->retained)
			out->retained_up = up;
	}
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	for (uint32_t i = 0; i < st->n_be; i++)
		if (st->be[i] != NULL)
			be_stop(st->be[i]);
	for (uint32_t i = 0; i < st->n_be; i++)
		be_free(st->be[i]);
	for (struct store_pool *p = st->pools, *next; p != NULL; p = next) {
		next = p->next;
		store_pool_free(p);
	}
	pthread_mutex_destroy(&st->mu);
	sl_free(st);
}
