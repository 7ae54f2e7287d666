/* storage/store_h.c - a worker's handle on the store: writes become ops queued to the backend
 * that keeps them; barriers go to every backend and come back on the handle's loop. */
#include "store_int.h"

#include <errno.h>
#include <string.h>

#include "proto/base/sl_alloc.h"

/* Client ids up to this long (with their NUL) are kept in a pooled op; longer ones get their
 * own allocation. */
#define POOL_KEY 64
#define POOL_SIZE (sizeof(struct store_op) + POOL_KEY)
/* Ops a pool keeps for reuse, at most: a burst's backlog is given back to malloc. A worker has
 * a group commit's writes out at once: 4,096 was too few at 400,000 msgs/s (2 writes each, a
 * commit every 5-10 ms), so the pool freed and allocated again. About 4 MB at most. */
#define POOL_KEEP 16384

/* Frees the list of returned ops at op, with the message references they still hold. */
static void
ops_free(struct store_op *op)
{
	for (struct store_op *next; op != NULL; op = next) {
		next = op->next;
		sl_msg_unref(op->q.msg);
		sl_msg_unref(op->msg);
		sl_free(op);
	}
}

void
store_pool_free(struct store_pool *p)
{
	ops_free(atomic_load(&p->back));
	ops_free(p->free);
	sl_free(p);
}

void
store_pool_put(struct store_op *op)
{
	struct store_pool *p = op->pool;
	struct store_op *top = atomic_load_explicit(&p->back, memory_order_relaxed);

	/* Push only; the owner takes the whole stack at once, so no ABA. */
	do
		op->next = top;
	while (!atomic_compare_exchange_weak_explicit(&p->back, &top, op, memory_order_release,
	                                              memory_order_relaxed));
}

/* Takes back what other threads freed (once per loop turn, and when the pool runs dry), keeping
 * POOL_KEEP at most. The returned ops still hold their messages: the last reference to a
 * message is then dropped here, on a worker, as without a store, not on the backend's thread,
 * where freeing the message and its receive chunk took the publishing worker's arena lock.
 * Owner's thread only. */
static void
pool_collect(struct store_pool *p)
{
	struct store_op *op = atomic_exchange_explicit(&p->back, NULL, memory_order_acquire), *next;

	for (; op != NULL; op = next) {
		next = op->next;
		op->next = NULL;
		if (p->n_free >= POOL_KEEP) {
			ops_free(op);
			continue;
		}
		sl_msg_unref(op->q.msg);
		sl_msg_unref(op->msg);
		op->q.msg = op->msg = NULL;
		op->next = p->free;
		p->free = op;
		p->n_free++;
	}
}

/* A zeroed op of POOL_SIZE bytes from h's pool, or NULL. */
static struct store_op *
pool_get(struct store_h *h)
{
	struct store_pool *p = h->pool;
	struct store_op *op;

	if (p->free == NULL)
		pool_collect(p);
	if ((op = p->free) != NULL) {
		p->free = op->next;
		p->n_free--;
	} else if ((op = sl_malloc(POOL_SIZE)) == NULL) {
		return NULL;
	}
	memset(op, 0, sizeof(*op));
	op->pool = p;
	return op;
}

static void
bar_unlink(struct store_bar **list, struct store_bar *bar)
{
	if (bar->prev != NULL)
		bar->prev->next = bar->next;
	else
		*list = bar->next;
	if (bar->next != NULL)
		bar->next->prev = bar->prev;
	bar->next = bar->prev = NULL;
}

static void
bar_push(struct store_bar **list, struct store_bar *bar)
{
	bar->prev = NULL;
	bar->next = *list;
	if (*list != NULL)
		(*list)->prev = bar;
	*list = bar;
}

void
store_bar_part(struct store *st, struct store_bar *bar, int status)
{
	struct store_h *h;

	pthread_mutex_lock(&st->mu);
	if (status < 0 && bar->status == 0)
		bar->status = status;
	if (atomic_fetch_sub(&bar->parts, 1) != 1) {
		pthread_mutex_unlock(&st->mu);
		return;
	}
	h = bar->h;
	if (h == NULL) { /* its handle is gone; the callback already ran with -ECANCELED */
		pthread_mutex_unlock(&st->mu);
		sl_free(bar);
		return;
	}
	bar_unlink(&h->outstanding, bar);
	bar_push(&h->done, bar);
	uv_async_send(&h->async);
	pthread_mutex_unlock(&st->mu);
}

static void
run_done(struct store_bar *list)
{
	while (list != NULL) {
		struct store_bar *bar = list;

		list = bar->next;
		bar->cb(bar->arg, bar->status);
		sl_free(bar);
	}
}

/* Hands every write queued on h to its backend, in order. */
static void
push_all(struct store_h *h)
{
	uint32_t made = atomic_load_explicit(&h->made, memory_order_relaxed);

	if (made != 0) {
		atomic_fetch_add(&h->st->writes, made);
		atomic_store_explicit(&h->made, 0, memory_order_relaxed);
	}
	for (uint32_t i = 0; i < h->st->n_be; i++) {
		if (h->head[i] == NULL)
			continue;
		store_core_push(h->st->be[i], h->head[i], h->tail[i],
		                atomic_load_explicit(&h->n[i], memory_order_relaxed));
		h->head[i] = h->tail[i] = NULL;
		atomic_store_explicit(&h->n[i], 0, memory_order_relaxed);
	}
}

/* End of a loop turn, before it waits for I/O: nothing written in the turn waits longer. */
static void
on_flush(uv_prepare_t *p)
{
	struct store_h *h = p->data;

	push_all(h);
	pool_collect(h->pool);
}

static void
on_done(uv_async_t *a)
{
	struct store_h *h = a->data;
	struct store_bar *list;

	pthread_mutex_lock(&h->st->mu);
	list = h->done;
	h->done = NULL;
	pthread_mutex_unlock(&h->st->mu);
	run_done(list);
}

struct store_h *
store_attach(struct store *st, uv_loop_t *loop)
{
	struct store_h *h = sl_calloc(1, sizeof(*h));

	if (h == NULL || (h->pool = sl_calloc(1, sizeof(*h->pool))) == NULL) {
		sl_free(h);
		return NULL;
	}
	h->st = st;
	atomic_init(&h->pool->back, NULL);
	if (uv_async_init(loop, &h->async, on_done) < 0) {
		sl_free(h->pool);
		sl_free(h);
		return NULL;
	}
	pthread_mutex_lock(&st->mu);
	h->pool->next = st->pools;
	st->pools = h->pool;
	h->next_h = st->handles;
	if (st->handles != NULL)
		st->handles->prev_h = h;
	st->handles = h;
	pthread_mutex_unlock(&st->mu);
	h->async.data = h;
	h->flush.data = h;
	uv_prepare_init(loop, &h->flush); /* cannot fail */
	uv_prepare_start(&h->flush, on_flush);
	uv_unref((uv_handle_t *)&h->flush); /* the loop lives as long as it did before */
	h->open_handles = 2;
	return h;
}

static void
on_h_closed(uv_handle_t *handle)
{
	struct store_h *h = handle->data;

	if (--h->open_handles == 0)
		sl_free(h);
}

void
store_detach(struct store_h *h)
{
	struct store_bar *done, *out;

	if (h == NULL)
		return;
	push_all(h); /* written before the detach: the store still keeps them */
	/* Barriers still with a backend complete now as cancelled; the backend's last part
	 * frees them later (bar->h = NULL). */
	pthread_mutex_lock(&h->st->mu);
	if (h->prev_h != NULL)
		h->prev_h->next_h = h->next_h;
	else
		h->st->handles = h->next_h;
	if (h->next_h != NULL)
		h->next_h->prev_h = h->prev_h;
	done = h->done;
	out = h->outstanding;
	h->done = h->outstanding = NULL;
	for (struct store_bar *b = out; b != NULL; b = b->next) {
		b->h = NULL;
		/* Our own part: a backend finishing b once the lock is released must not free it
		 * while its callback runs below. */
		atomic_fetch_add(&b->parts, 1);
	}
	pthread_mutex_unlock(&h->st->mu);
	run_done(done);
	for (struct store_bar *b = out, *next; b != NULL; b = next) {
		next = b->next; /* stable: lists change only while a barrier has its handle */
		b->cb(b->arg, -ECANCELED);
		store_bar_part(h->st, b, 0); /* frees b if the backends are done with it */
	}
	uv_close((uv_handle_t *)&h->async, on_h_closed);
	uv_close((uv_handle_t *)&h->flush, on_h_closed);
	h->pool = NULL; /* ops still with a backend go back to it; store_close frees it */
}

static struct store_op *
op_new(struct store_h *h, uint8_t kind, const char *key)
{
	size_t len = key != NULL ? strlen(key) + 1 : 0;
	struct store_op *op = len <= POOL_KEY ? pool_get(h) : sl_malloc(sizeof(*op) + len);

	if (op == NULL) {
		atomic_fetch_add(&h->st->failed, 1);
		return NULL;
	}
	if (len > POOL_KEY)
		memset(op, 0, sizeof(*op));
	op->kind = kind;
	if (key != NULL) { /* one allocation per write: this is the QoS 1 hot path */
		op->key = (char *)(op + 1);
		memcpy(op->key, key, len);
	}
	return op;
}

/* Queues op on h for backend i (pushed at the end of the loop turn). Returns 0, or -ENOSPC
 * when the backlog bound failed it at once. */
static int
queue_op(struct store_h *h, uint32_t i, struct store_op *op)
{
	struct store_be *be = h->st->be[i];
	uint32_t n = atomic_load_explicit(&h->n[i], memory_order_relaxed);

	/* Over the bound the write is lost now, visibly (failed count, next barrier fails),
	 * rather than growing without limit while a server is away. */
	if (atomic_load_explicit(&be->pending, memory_order_relaxed) + n >= h->st->max_pending) {
		store_core_reject(be, op);
		return -ENOSPC;
	}
	op->next = NULL;
	if (h->tail[i] != NULL)
		h->tail[i]->next = op;
	else
		h->head[i] = op;
	h->tail[i] = op;
	atomic_store_explicit(&h->n[i], n + 1, memory_order_relaxed);
	return 0;
}

/* Sends op to the backend keeping its kind of record; frees it if there is none. */
static void
op_send(struct store_h *h, struct store_op *op)
{
	struct store *st = h->st;
	bool ret;

	if (op == NULL)
		return;
	ret = op->kind == SOP_RET_PUT || op->kind == SOP_RET_DEL;
	for (uint32_t i = 0; i < st->n_be; i++) {
		if (ret ? st->be[i]->retained : st->be[i]->sessions) {
			h->dirty |= 1u << i;
			atomic_store_explicit(
			        &h->made, atomic_load_explicit(&h->made, memory_order_relaxed) + 1,
			        memory_order_relaxed);
			if (queue_op(h, i, op) < 0)
				h->lost = true; /* the next barrier says so */
			return;
		}
	}
	store_op_free(op); /* nothing keeps this kind of record */
}

void
store_sess_put(struct store_h *h, const struct store_sess *s)
{
	struct store_op *op = op_new(h, SOP_SESS_PUT, s->client_id);

	if (op == NULL)
		return;
	op->sess = *s;
	op->sess.client_id = op->key;
	op->sess.username = NULL;
	if (s->username != NULL && (op->sess.username = sl_strdup(s->username)) == NULL) {
		store_op_free(op);
		atomic_fetch_add(&h->st->failed, 1);
		return;
	}
	op_send(h, op);
}

void
store_sess_del(struct store_h *h, const char *client_id)
{
	op_send(h, op_new(h, SOP_SESS_DEL, client_id));
}

static void
sub_op(struct store_h *h, uint8_t kind, const char *client_id, const struct store_sub *sub)
{
	struct store_op *op = op_new(h, kind, client_id);

	if (op == NULL)
		return;
	op->sub = *sub;
	op->sub.filter = sl_strdup(sub->filter);
	if (op->sub.filter == NULL) {
		store_op_free(op);
		atomic_fetch_add(&h->st->failed, 1);
		return;
	}
	op_send(h, op);
}

void
store_sub_put(struct store_h *h, const char *client_id, const struct store_sub *sub)
{
	sub_op(h, SOP_SUB_PUT, client_id, sub);
}

void
store_sub_del(struct store_h *h, const char *client_id, const char *filter)
{
	struct store_sub sub = {filter, 0, 0};

	sub_op(h, SOP_SUB_DEL, client_id, &sub);
}

void
store_q_put(struct store_h *h, const char *client_id, const struct store_q *q)
{
	struct store_op *op = op_new(h, SOP_Q_PUT, client_id);

	if (op == NULL)
		return;
	op->q = *q;
	op->q.msg = sl_msg_ref(q->msg);
	op_send(h, op);
}

void
store_q_state(struct store_h *h, const char *client_id, uint64_t seq, uint8_t state, uint16_t pid)
{
	struct store_op *op = op_new(h, SOP_Q_STATE, client_id);

	if (op == NULL)
		return;
	op->q.seq = seq;
	op->q.state = state;
	op->q.pid = pid;
	op_send(h, op);
}

void
store_q_del(struct store_h *h, const char *client_id, uint64_t seq)
{
	struct store_op *op = op_new(h, SOP_Q_DEL, client_id);

	if (op == NULL)
		return;
	op->q.seq = seq;
	op_send(h, op);
}

static void
rx_op(struct store_h *h, uint8_t kind, const char *client_id, uint16_t pid)
{
	struct store_op *op = op_new(h, kind, client_id);

	if (op == NULL)
		return;
	op->q.pid = pid;
	op_send(h, op);
}

void
store_rx_put(struct store_h *h, const char *client_id, uint16_t pid)
{
	rx_op(h, SOP_RX_PUT, client_id, pid);
}

void
store_rx_del(struct store_h *h, const char *client_id, uint16_t pid)
{
	rx_op(h, SOP_RX_DEL, client_id, pid);
}

void
store_will_put(struct store_h *h, const char *client_id, struct sl_msg *msg, uint64_t at_ms)
{
	struct store_op *op = op_new(h, SOP_WILL_PUT, client_id);

	if (op == NULL)
		return;
	op->msg = sl_msg_ref(msg);
	op->at_ms = at_ms;
	op_send(h, op);
}

void
store_will_del(struct store_h *h, const char *client_id)
{
	op_send(h, op_new(h, SOP_WILL_DEL, client_id));
}

void
store_retain_put(struct store_h *h, struct sl_msg *msg)
{
	struct store_op *op = op_new(h, SOP_RET_PUT, NULL);

	if (op == NULL)
		return;
	op->msg = sl_msg_ref(msg);
	op_send(h, op);
}

void
store_retain_del(struct store_h *h, const char *topic)
{
	op_send(h, op_new(h, SOP_RET_DEL, topic));
}

int
store_barrier(struct store_h *h, store_done_cb *cb, void *arg)
{
	struct store *st = h->st;
	struct store_bar *bar = sl_calloc(1, sizeof(*bar));
	struct store_op *ops[2] = {NULL, NULL};
	int parts = 1;

	if (bar == NULL)
		return -ENOMEM;
	bar->cb = cb;
	bar->arg = arg;
	bar->h = h;
	bar->status = h->lost ? -ENOSPC : 0;
	/* Only backends written to since the last barrier: a retained-message server that is
	 * away must not hold up acknowledgements that wrote nothing to it. */
	for (uint32_t i = 0; i < st->n_be; i++) {
		if (!(h->dirty & (1u << i)))
			continue;
		parts++;
		ops[i] = pool_get(h);
		if (ops[i] == NULL)
			goto fail;
		ops[i]->kind = SOP_BARRIER;
		ops[i]->bar = bar;
	}
	/* One part per backend, plus one held until every op is queued so a fast backend
	 * cannot finish the barrier while it is still being handed out. */
	atomic_init(&bar->parts, parts);
	pthread_mutex_lock(&st->mu);
	bar_push(&h->outstanding, bar);
	pthread_mutex_unlock(&st->mu);
	for (uint32_t i = 0; i < st->n_be; i++)
		if (ops[i] != NULL)
			queue_op(h, i, ops[i]); /* over the bound: failed, its part ended */
	push_all(h);                            /* the writes before it, then itself */
	store_bar_part(st, bar, 0);
	h->dirty = 0;
	h->lost = false;
	return 0;
fail:
	store_op_free(ops[0]);
	store_op_free(ops[1]);
	sl_free(bar);
	return -ENOMEM;
}

bool
store_h_dirty(const struct store_h *h)
{
	return h->dirty != 0;
}
