/* broker/core/retq.c - retained messages a SUBSCRIBE made due, handed to the session's queue a page
 * at a time as its connection drains. A "#" subscription over a million retained messages
 * must neither fill the queue past max_queued_messages (dropping most of them) nor write
 * everything in one loop turn: the session takes a page whenever its queue is empty and
 * its connection has room, from sess_pump. */
#include <string.h>

#include "broker/core/access.h"
#include "broker/core/conn.h"
#include "broker/core/retq.h"
#include "broker/core/route.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "broker/index/retain.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"

/* Enough to keep a client's window busy between two pumps, small enough for one loop turn. */
#define RETQ_PAGE 256
/* Above this many retained messages a match may take milliseconds (100 ms for a '#' over a
 * million here): it runs on libuv's thread pool instead of the worker loop. */
#define RETQ_ASYNC 10000

/* A retained match on the thread pool. The session is looked up again by id when it is done:
 * it may have ended meanwhile. */
struct retq_job {
	uv_work_t req;
	struct worker *w;
	uint64_t sess_id;
	struct sl_msg **msgs;
	size_t n_msgs;
	uint8_t options;
	uint32_t sub_id;
	int rc;
	char filter[]; /* owned copy */
};

static void
job_work(uv_work_t *req)
{
	struct retq_job *j = container_of(req, struct retq_job, req);

	j->rc = retain_match(j->w->retained, sl_bytes_make(j->filter, (uint32_t)strlen(j->filter)),
	                     sl_now_ms(), &j->msgs, &j->n_msgs);
}

static void
job_done(uv_work_t *req, int status)
{
	struct retq_job *j = container_of(req, struct retq_job, req);
	struct sess *s = status == 0 && j->rc == 0 ? sess_by_id(j->w, j->sess_id) : NULL;

	if (s != NULL) {
		retq_deliver(s, j->msgs, j->n_msgs, j->options, j->sub_id);
	} else {
		for (size_t i = 0; i < j->n_msgs; i++)
			sl_msg_unref(j->msgs[i]);
		sl_free(j->msgs);
	}
	sl_free(j);
}

void
retq_deliver(struct sess *s, struct sl_msg **msgs, size_t n, uint8_t options, uint32_t sub_id)
{
	if (n == 0) {
		sl_free(msgs);
		return;
	}
	/* Paged out by sess_pump as the connection drains; the ACL is asked then (retq.c). */
	if (retq_add(s, msgs, n, options, sub_id) < 0) {
		for (size_t i = 0; i < n; i++)
			sl_msg_unref(msgs[i]);
		sl_free(msgs);
		return;
	}
	sess_pump(s);
}

void
retq_match(struct sess *s, const char *filter, uint8_t options, uint32_t sub_id)
{
	struct sl_msg **msgs = NULL;
	size_t n = 0, len = strlen(filter) + 1;
	struct retq_job *j;

	if (retain_count(s->w->retained) >= RETQ_ASYNC &&
	    (j = sl_calloc(1, sizeof(*j) + len)) != NULL) {
		j->w = s->w;
		j->sess_id = s->id;
		j->options = options;
		j->sub_id = sub_id;
		memcpy(j->filter, filter, len);
		if (uv_queue_work(s->w->loop, &j->req, job_work, job_done) == 0)
			return;
		sl_free(j);
	}
	if (retain_match(s->w->retained, sl_bytes_make(filter, (uint32_t)(len - 1)), sl_now_ms(),
	                 &msgs, &n) == 0)
		retq_deliver(s, msgs, n, options, sub_id);
}

struct retq {
	struct retq *next;
	struct sl_msg **msgs; /* owned array of owned references */
	size_t n, pos;
	uint8_t options;
	uint32_t sub_id;
};

int
retq_add(struct sess *s, struct sl_msg **msgs, size_t n, uint8_t options, uint32_t sub_id)
{
	struct sess_x *x = sess_x(s);
	struct retq *q;

	if (x == NULL || (q = sl_calloc(1, sizeof(*q))) == NULL)
		return -1;
	q->msgs = msgs;
	q->n = n;
	q->options = options;
	q->sub_id = sub_id;
	if (x->retq_tail != NULL)
		x->retq_tail->next = q;
	else
		x->retq = q;
	x->retq_tail = q;
	return 0;
}

static void
retq_pop(struct sess_x *x)
{
	struct retq *q = x->retq;

	for (size_t i = q->pos; i < q->n; i++)
		sl_msg_unref(q->msgs[i]);
	sl_free(q->msgs);
	x->retq = q->next;
	if (x->retq == NULL)
		x->retq_tail = NULL;
	sl_free(q);
}

bool
retq_feed(struct sess *s)
{
	struct sess_x *x = s->ext;
	struct retq *q;
	uint32_t seen = 0;
	uint8_t qos;

	if (x == NULL || s->conn == NULL || s->conn->closing || s->queue.head != NULL ||
	    !sess_has_room(s))
		return false;
	while ((q = x->retq) != NULL && seen < RETQ_PAGE) {
		if (q->pos == q->n) {
			retq_pop(x);
			continue;
		}
		struct sl_msg *m = q->msgs[q->pos];

		if (!sess_queue_fits(s, m->payload.len))
			break; /* the rest waits for the next pump: never dropped for queue limits
			        */
		q->pos++;
		seen++;
		/* Asked as late as possible, so a reload between SUBSCRIBE and now counts: the
		 * reader's ACL, as for a live message, and check_retain_source (mosquitto). */
		if (!access_acl(s, m->topic, AUTH_READ) || !access_retain_source(s, m)) {
			sl_msg_unref(m);
			continue;
		}

		qos = route_qos(s->w, m->qos, MQTT_SUBOPT_QOS(q->options));
		/* [MQTT-3.3.1-8] retained messages sent on subscribe carry RETAIN 1. */
		sess_enqueue(s, m, qos, true, q->sub_id ? &q->sub_id : NULL, q->sub_id ? 1 : 0);
		sl_msg_unref(m);
	}
	if (x->retq != NULL && x->retq->pos == x->retq->n)
		retq_pop(x);
	return seen > 0;
}

void
retq_free(struct sess *s)
{
	while (s->ext != NULL && s->ext->retq != NULL)
		retq_pop(s->ext);
}
