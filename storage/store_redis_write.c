/* storage/store_redis_write.c - the Redis backend's writes: every op the core hands over waits
 * in a ring, oldest first, until Redis answered it. Puts and deletes go out pipelined on the
 * writer link (one EVALSHA each, at most MAX_INFLIGHT unanswered); a reply completes the oldest
 * op; a barrier completes once it is the oldest, i.e. after every reply before it. When the
 * writer drops, everything unanswered is sent again, in order, after the reconnect: puts and
 * deletes are idempotent, and Redis (appendfsync always) acknowledged nothing it could lose. */
#include "store_redis.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"
#include "store_codec.h"

#define MAX_INFLIGHT 8192
#define STOP_FLUSH_MS 2000

static struct store_redis_slot *
slot_at(struct store_redis *r, uint32_t i)
{
	return &r->ring[(r->head + i) & (r->cap - 1)];
}

static int
ring_push(struct store_redis *r, struct store_op *op)
{
	if (r->n == r->cap) {
		uint32_t cap = r->cap != 0 ? r->cap * 2 : 1024;
		struct store_redis_slot *v = sl_malloc(cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		for (uint32_t i = 0; i < r->n; i++)
			v[i] = *slot_at(r, i);
		sl_free(r->ring);
		r->ring = v;
		r->cap = cap;
		r->head = 0;
	}
	*slot_at(r, r->n++) = (struct store_redis_slot){op, 0};
	r->n_bars += op->kind == SOP_BARRIER;
	return 0;
}

/* A write failed: the barriers queued behind it fail too, and so does the next one to come
 * (ops carry no handle, so this is the closest the backend gets to "the next barrier of the
 * handle that made it", whose barrier may reach us after the error; the failed count in
 * store_stats is exact). The failed op is the oldest: every barrier held is behind it. */
static void
note_failure(struct store_redis *r, int status)
{
	r->bar_fail = status;
	if (r->n_bars + 1 > r->bar_fail_n)
		r->bar_fail_n = r->n_bars + 1;
}

/* Completes the oldest op with status and drops it from the ring. */
static void
pop_done(struct store_redis *r, int status)
{
	struct store_op *op = slot_at(r, 0)->op;

	if (op->kind == SOP_BARRIER)
		r->n_bars--;
	if (op->kind == SOP_BARRIER && r->bar_fail_n > 0) {
		r->bar_fail_n--;
		status = r->bar_fail;
	} else if (op->kind != SOP_BARRIER && status < 0) {
		note_failure(r, status);
	}
	r->head = (r->head + 1) & (r->cap - 1);
	r->n--;
	if (r->sent > 0)
		r->sent--;
	store_be_done(r->core, op, status);
}

static void
finish(struct store_redis *r)
{
	if (r->finished)
		return;
	r->finished = true;
	if (r->n > 0)
		LOG_WARN("store", "redis %s:%d: %u writes not acknowledged after %d ms; failed",
		         r->url.host, r->url.port, r->n, STOP_FLUSH_MS);
	while (r->n > 0)
		pop_done(r, -ECANCELED);
	store_redis_links_close(r);
}

/* Completes the barriers and pre-failed ops at the front. */
static void
settle(struct store_redis *r)
{
	while (r->n > 0) {
		struct store_redis_slot *s = slot_at(r, 0);

		if (s->op->kind != SOP_BARRIER && s->status == 0)
			break;
		pop_done(r, s->status);
	}
	if (r->stopping && r->n == 0)
		finish(r);
}

static int
topic_of(const struct store_op *op, const void **p, size_t *len)
{
	if (op->kind == SOP_RET_PUT) {
		*p = op->msg->topic.p;
		*len = op->msg->topic.len;
		return 0;
	}
	if (op->kind == SOP_RET_DEL) {
		*p = op->key;
		*len = strlen(op->key);
		return 0;
	}
	return -ENOTSUP; /* sessions never come here (open refuses them) */
}

static void on_op_reply(redisAsyncContext *ac, void *reply, void *arg);

/* Sends op. Returns 0, -EPIPE if the link would not take it, or another negative errno if op
 * itself cannot be sent (it then fails in its turn). */
static int
send_op(struct store_redis *r, const struct store_op *op)
{
	const char *argv[13] = {"EVALSHA", r->put_sha,      "3",
	                        NULL,      STORE_REDIS_IDX, STORE_REDIS_RECENT};
	size_t len[13] = {7, 40, 1, 0, sizeof(STORE_REDIS_IDX) - 1, sizeof(STORE_REDIS_RECENT) - 1};
	char px[24], now[24], member[17];
	const void *topic;
	size_t tlen;
	int argc = 6;

	if (topic_of(op, &topic, &tlen) < 0)
		return -ENOTSUP;
	if (store_redis_key(&r->key, topic, tlen) < 0 ||
	    store_redis_note(r, &r->note, topic, tlen) < 0)
		return -ENOMEM;
	if (op->kind == SOP_RET_PUT) {
		r->val.len = 0;
		if (store_msg_encode(&r->val, op->msg) < 0)
			return -ENOMEM;
		snprintf(px, sizeof(px), "%llu", (unsigned long long)op->msg->expiry_at_ms);
		argv[argc] = (const char *)r->val.data, len[argc++] = r->val.len;
		argv[argc] = px, len[argc++] = strlen(px);
	} else {
		argv[1] = r->del_sha;
	}
	argv[3] = (const char *)r->key.data, len[3] = r->key.len;
	argv[argc] = topic, len[argc++] = tlen;
	argv[argc] = r->chan, len[argc++] = strlen(r->chan);
	argv[argc] = (const char *)r->note.data, len[argc++] = r->note.len;
	snprintf(now, sizeof(now), "%llu", (unsigned long long)sl_now_ms());
	argv[argc] = now, len[argc++] = strlen(now);
	/* The recent set's member: who changed the topic, so the catch-up skips its own. */
	snprintf(member, sizeof(member), "%016llx", (unsigned long long)r->origin);
	r->rmember.len = 0;
	if (sl_buf_append(&r->rmember, member, 16) < 0 || sl_buf_append(&r->rmember, ":", 1) < 0 ||
	    sl_buf_append(&r->rmember, topic, tlen) < 0)
		return -ENOMEM;
	argv[argc] = (const char *)r->rmember.data, len[argc++] = r->rmember.len;
	if (redisAsyncCommandArgv(r->w.ac, on_op_reply, NULL, argc, argv, len) != REDIS_OK)
		return -EPIPE;
	return 0;
}

/* Sends what waits, as far as the writer is up and the pipeline has room. */
static void
pump(struct store_redis *r)
{
	settle(r);
	while (r->w.ready && r->sent < r->n && r->inflight < MAX_INFLIGHT) {
		struct store_redis_slot *s = slot_at(r, r->sent);
		int rc = 0;

		if (s->op->kind != SOP_BARRIER && s->status == 0)
			rc = send_op(r, s->op);
		if (rc == -EPIPE) {
			store_redis_link_drop(&r->w, "command not queued");
			return;
		}
		if (rc < 0)
			s->status = rc;
		else if (s->op->kind != SOP_BARRIER && r->inflight++ == 0)
			r->progress_ms = uv_now(r->loop);
		r->sent++;
	}
	settle(r);
}

/* Error replies that say "not now" rather than "never": retried on a fresh connection. */
static bool
transient(const char *err)
{
	static const char *const codes[] = {"LOADING", "BUSY",       "NOSCRIPT", "READONLY",
	                                    "MISCONF", "OOM",        "TRYAGAIN", "MASTERDOWN",
	                                    "NOAUTH",  "CLUSTERDOWN"};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		size_t n = strlen(codes[i]);

		if (strncmp(err, codes[i], n) == 0 && (err[n] == ' ' || err[n] == '\0'))
			return true;
	}
	return false;
}

static void
on_op_reply(redisAsyncContext *ac, void *reply, void *arg)
{
	struct store_redis_link *l = ac->data;
	struct store_redis *r = l->r;
	redisReply *rep = reply;
	int status = 0;

	(void)arg;
	if (ac != l->ac) /* a dropped connection's: the op is queued again */
		return;
	if (rep == NULL) {
		store_redis_link_lost(l, ac);
		return;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		if (transient(rep->str)) {
			store_redis_link_drop(l, rep->str);
			return;
		}
		LOG_WARN("store", "redis: retained write failed: %s", rep->str);
		status = -EIO;
	}
	settle(r);
	SL_ASSERT(r->n > 0 && r->sent > 0 && r->inflight > 0);
	r->inflight--;
	r->progress_ms = uv_now(r->loop);
	pop_done(r, status);
	pump(r);
}

void
store_redis_submit(void *be, struct store_op *head, struct store_op *tail, uint32_t n)
{
	struct store_redis *r = be;

	(void)tail; /* the list is walked anyway */
	(void)n;
	while (head != NULL) {
		struct store_op *op = head;

		head = op->next;
		op->next = NULL;
		if (ring_push(r, op) < 0) {
			note_failure(r, -ENOMEM);
			store_be_done(r->core, op, -ENOMEM);
		}
	}
	pump(r);
}

void
store_redis_writer_up(struct store_redis *r)
{
	if (r->n > 0)
		LOG_DEBUG("store", "redis: sending %u waiting writes", r->n);
	store_be_set_up(r->core, true);
	store_redis_catchup(r);
	pump(r);
}

void
store_redis_writer_down(struct store_redis *r)
{
	r->sent = 0;
	r->inflight = 0;
	store_be_set_up(r->core, false);
}

static void
on_stop_timer(uv_timer_t *t)
{
	finish(container_of(t, struct store_redis, stop_timer));
}

void
store_redis_stop(void *be)
{
	struct store_redis *r = be;

	r->stopping = true;
	if (r->n == 0)
		finish(r);
	else
		uv_timer_start(&r->stop_timer, on_stop_timer, STOP_FLUSH_MS, 0);
}
