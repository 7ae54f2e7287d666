/* broker/core/worker_mb.c - N worker loops, one per core, and the mailboxes between them.
 * A client id belongs to one worker (owner.h): a connection whose CONNECT lands on another
 * worker is handed over (socket and unread bytes) through that worker's mailbox, so a session,
 * its connection and its queues never leave one loop. Routed messages go out once per loop
 * turn and destination (worker_post_batched), and a post wakes its worker only when it sleeps:
 * a hand-off costs the receiving thread a wake-up, the dearest part of a message at moderate
 * rates (issue 13). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "broker/core/broker.h"
#include "broker/core/conn.h"
#include "broker/core/handle.h"
#include "broker/core/node.h"
#include "broker/core/persist.h"
#include "broker/core/route.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "broker/core/xport.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/base/sl_log.h"

uint32_t
worker_owner(const struct broker *b, const char *id, size_t len)
{
	return sess_hash_n(id, len) % b->n_workers;
}

/* Appends the chain head..tail to to's mailbox and wakes `to` if it sleeps. The fence pairs
 * with worker_before_poll()'s: either this sees `sleeping` set, or that sees the items. */
static void
deliver(struct worker *to, struct mb_item *head, struct mb_item *tail)
{
	tail->next = NULL;
	pthread_mutex_lock(&to->mb_mu);
	if (to->mb_tail != NULL)
		to->mb_tail->next = head;
	else
		to->mb_head = head;
	to->mb_tail = tail;
	pthread_mutex_unlock(&to->mb_mu);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&to->sleeping, memory_order_relaxed))
		uv_async_send(&to->mb_async);
}

/* Takes item: it belongs to the target's mailbox until drained. */
void
worker_post(struct worker *to, struct mb_item *item)
{
	deliver(to, item, item);
}

void
worker_post_batched(struct worker *from, struct worker *to, struct mb_item *item)
{
	struct mb_batch *q;

	if (from->out == NULL) {
		worker_post(to, item);
		return;
	}
	q = &from->out[to->idx];
	item->next = NULL;
	if (q->tail != NULL) {
		q->tail->next = item;
	} else {
		q->head = item;
		from->out_dirty[from->n_out_dirty++] = to->idx;
	}
	q->tail = item;
}

void
worker_post_batch(struct worker *to, struct mb_batch *q)
{
	if (q->head != NULL)
		deliver(to, q->head, q->tail);
	q->head = q->tail = NULL;
}

void
worker_post_flush(struct worker *w)
{
	for (uint32_t i = 0; i < w->n_out_dirty; i++) {
		struct mb_batch *q = &w->out[w->out_dirty[i]];

		deliver(&w->b->workers[w->out_dirty[i]], q->head, q->tail);
		q->head = q->tail = NULL;
	}
	w->n_out_dirty = 0;
}

void
worker_before_poll(struct worker *w)
{
	bool pending;

	atomic_store_explicit(&w->sleeping, true, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	pthread_mutex_lock(&w->mb_mu);
	pending = w->mb_head != NULL;
	pthread_mutex_unlock(&w->mb_mu);
	if (pending) /* posted while it was awake: poll must not block */
		uv_async_send(&w->mb_async);
}

static void
on_woke(uv_check_t *h)
{
	struct worker *w = h->data;

	atomic_store_explicit(&w->sleeping, false, memory_order_relaxed);
}

/* An item with a leg that is never processed (shutdown) still ends its part. */
static void
item_free(struct worker *w, struct mb_item *it)
{
	if (it->type == MB_ACK) {
		persist_ack_item_free(w, it); /* owns nothing; part of its leg */
		return;
	}
	persist_leg_done(w, it->leg);
	sl_msg_unref(it->msg);
	for (uint32_t i = 0; i < it->n_msgs; i++)
		sl_msg_unref(it->msgs[i]);
	sl_free(it->msgs);
	if (it->fd >= 0)
		close(it->fd);
	sl_buf_fini(&it->rx);
	xport_free(it->x);
	sl_free(it);
}

static void
on_deliver(struct worker *w, struct mb_item *it)
{
	struct sess *s = sess_by_id(w, it->sess_id);

	/* The member may have left since it was picked: then the message is not for it. */
	if (s != NULL)
		sess_deliver(s, it->msg, it->qos, it->retain, it->sub_id ? &it->sub_id : NULL,
		             it->sub_id ? 1 : 0);
}

/* Every client goes, v5 ones told to use another server [MQTT-3.14.2-1]; no will: a fenced
 * node's sessions are for the node that takes them over, wills included. */
static void
fence(struct worker *w)
{
	struct conn *c, *next;

	if (!atomic_load(&w->b->fenced))
		return; /* unfenced meanwhile */
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		c->will_ok = true;
		conn_disconnect(c, MQTT_RC_USE_ANOTHER_SERVER);
	}
}

static void
process_item(struct worker *w, struct mb_item *it)
{
	switch (it->type) {
	case MB_ROUTE:
		route_local(w, it->msg);
		break;
	case MB_ROUTE_MANY:
		for (uint32_t i = 0; i < it->n_msgs; i++)
			route_local(w, it->msgs[i]);
		if (node_give_back(w->b, it))
			return;
		break;
	case MB_DELIVER:
		on_deliver(w, it);
		break;
	case MB_ACK:
		persist_on_ack(w, it);
		break;
	case MB_CONN:
		conn_adopt(w, it->fd, it->listener, &it->rx, &it->x);
		it->fd = -1; /* the connection owns it now */
		break;
	case MB_STOP:
		worker_stop(w, it->code);
		break;
	case MB_RECHECK:
		sess_recheck(w);
		break;
	case MB_WAITED:
		handle_sub_waited(w, it->ack_id);
		break;
	case MB_FENCE:
		fence(w);
		break;
	}
	item_free(w, it);
}

static void
on_mailbox(uv_async_t *h)
{
	struct worker *w = h->data;
	struct mb_item *it, *next;

	pthread_mutex_lock(&w->mb_mu);
	it = w->mb_head;
	w->mb_head = w->mb_tail = NULL;
	pthread_mutex_unlock(&w->mb_mu);
	for (; it != NULL; it = next) {
		next = it->next;
		process_item(w, it);
	}
}

struct mb_item *
worker_item(enum mb_type type)
{
	struct mb_item *it = sl_calloc(1, sizeof(*it));

	if (it != NULL) {
		it->type = type;
		it->fd = -1;
	}
	return it;
}

int
worker_mailbox_init(struct worker *w)
{
	uint32_t n = w->b->n_workers;

	pthread_mutex_init(&w->mb_mu, NULL);
	atomic_init(&w->sleeping, true); /* until its loop runs: posts must wake it */
	if (n > 1 && ((w->out = sl_calloc(n, sizeof(*w->out))) == NULL ||
	              (w->out_dirty = sl_calloc(n, sizeof(*w->out_dirty))) == NULL))
		return -ENOMEM;
	w->woke.data = w;
	if (uv_check_init(w->loop, &w->woke) < 0 || uv_check_start(&w->woke, on_woke) < 0)
		return -ENOMEM;
	uv_unref((uv_handle_t *)&w->woke); /* it must not keep a stopping loop alive */
	w->mb_async.data = w;
	return uv_async_init(w->loop, &w->mb_async, on_mailbox);
}

void
worker_mailbox_fini(struct worker *w)
{
	struct mb_item *it, *next;

	for (it = w->mb_head; it != NULL; it = next) {
		next = it->next;
		item_free(w, it);
	}
	w->mb_head = w->mb_tail = NULL;
	for (uint32_t i = 0; i < w->n_out_dirty; i++) /* routed in the last turn, never posted */
		for (it = w->out[w->out_dirty[i]].head; it != NULL; it = next) {
			next = it->next;
			item_free(w, it);
		}
	sl_free(w->out);
	sl_free(w->out_dirty);
	w->out = NULL;
	w->out_dirty = NULL;
	w->n_out_dirty = 0;
	pthread_mutex_destroy(&w->mb_mu);
}

/* Posts msg to every other worker. Borrows msg; each item holds its own reference. */
/* Hands connection c (not yet connected) to worker `to` with its unread bytes data[0, len)
 * (copied) and its transport (TLS session, WebSocket state: c->x moves with the item; it
 * holds no handle of this loop). Returns 0 (c is closed here) or a negative errno (c is left
 * as it was). */
int
worker_handoff(struct conn *c, uint32_t to, const uint8_t *data, size_t len)
{
	struct mb_item *it = worker_item(MB_CONN);
	uv_os_fd_t fd;
	int rc = -ENOMEM;

	if (it == NULL)
		return rc;
	/* Bytes still queued on this handle would be lost with it: the transport's output (a
	 * 101 response, a handshake's last flight) is handed over only once written. */
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > 0) {
		item_free(c->w, it);
		return -EAGAIN;
	}
	if ((rc = uv_fileno((uv_handle_t *)&c->tcp, &fd)) < 0 || (it->fd = dup(fd)) < 0 ||
	    sl_buf_append(&it->rx, data, len) < 0) {
		rc = rc < 0 ? rc : -errno;
		item_free(c->w, it);
		return rc;
	}
	it->listener = c->listener;
	it->x = c->x;
	c->x = NULL; /* from here on another loop's: not touched here again */
	uv_read_stop((uv_stream_t *)&c->tcp);
	conn_close(c, false); /* closes our descriptor; the duplicate travels */
	worker_post(&c->w->b->workers[to], it);
	return 0;
}

static void
thread_main(void *arg)
{
	struct worker *w = arg;

	uv_run(w->loop, UV_RUN_DEFAULT);
}

int
worker_start(struct worker *w)
{
	return uv_thread_create(&w->thread, thread_main, w);
}

int
worker_activate(struct broker *b, uint32_t i)
{
	struct worker *w = &b->workers[i];
	int rc = 0;

	if (atomic_load(&w->active))
		return 0;
	pthread_mutex_lock(&b->activate_mu);
	/* Its loop runs on no thread yet: this thread may set up its listeners, and the thread
	 * creation publishes them to the new thread. */
	if (!atomic_load(&w->active) && !atomic_load(&b->stopping)) {
		if ((rc = worker_listen(w)) == 0 && (rc = worker_start(w)) == 0)
			atomic_store(&w->active, true);
		else
			LOG_ERR("broker", "cannot start worker %u: %s", i, uv_strerror(rc));
	}
	pthread_mutex_unlock(&b->activate_mu);
	return atomic_load(&w->active) ? 0 : (rc < 0 ? rc : -ECANCELED);
}

void
worker_stop_all(struct broker *b, int code)
{
	struct mb_item *it;
	uint32_t i;

	/* The cluster posts to every worker's mailbox: it stops first, while they all listen. */
	node_stop(b);
	atomic_store(&b->stopping, true);
	for (i = 1; i < b->n_workers; i++) {
		if ((it = worker_item(MB_STOP)) == NULL)
			continue;
		it->code = code;
		worker_post(&b->workers[i], it);
	}
}
