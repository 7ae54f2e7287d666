/* broker/retq.c - retained messages a SUBSCRIBE made due, handed to the session's queue a page
 * at a time as its connection drains. A "#" subscription over a million retained messages
 * must neither fill the queue past max_queued_messages (dropping most of them) nor write
 * everything in one loop turn: the session takes a page whenever its queue is empty and
 * its connection has room, from sess_pump. */
#include <string.h>

#include "broker/node.h"
#include "proto/base/sl_alloc.h"

/* Enough to keep a client's window busy between two pumps, small enough for one loop turn. */
#define RETQ_PAGE 256

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
	struct retq *q = sl_calloc(1, sizeof(*q));

	if (q == NULL)
		return -1;
	q->msgs = msgs;
	q->n = n;
	q->options = options;
	q->sub_id = sub_id;
	if (s->retq_tail != NULL)
		s->retq_tail->next = q;
	else
		s->retq = q;
	s->retq_tail = q;
	return 0;
}

static void
retq_pop(struct sess *s)
{
	struct retq *q = s->retq;

	for (size_t i = q->pos; i < q->n; i++)
		sl_msg_unref(q->msgs[i]);
	sl_free(q->msgs);
	s->retq = q->next;
	if (s->retq == NULL)
		s->retq_tail = NULL;
	sl_free(q);
}

bool
retq_feed(struct sess *s)
{
	struct retq *q;
	uint32_t moved = 0;
	uint8_t qos;

	if (s->conn == NULL || s->conn->closing || s->queue.head != NULL || !sess_has_room(s))
		return false;
	while ((q = s->retq) != NULL && moved < RETQ_PAGE) {
		if (q->pos == q->n) {
			retq_pop(s);
			continue;
		}
		struct sl_msg *m = q->msgs[q->pos];

		if (!sess_queue_fits(s, m->payload.len))
			break; /* the rest waits for the next pump: never dropped for queue limits
			        */
		q->pos++;

		qos = m->qos < MQTT_SUBOPT_QOS(q->options) ? m->qos : MQTT_SUBOPT_QOS(q->options);
		/* [MQTT-3.3.1-8] retained messages sent on subscribe carry RETAIN 1. */
		sess_enqueue(s, m, qos, true, q->sub_id ? &q->sub_id : NULL, q->sub_id ? 1 : 0);
		sl_msg_unref(m);
		moved++;
	}
	if (s->retq != NULL && s->retq->pos == s->retq->n)
		retq_pop(s);
	return moved > 0;
}

void
retq_free(struct sess *s)
{
	while (s->retq != NULL)
		retq_pop(s);
}
