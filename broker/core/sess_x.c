/* broker/core/sess_x.c - the rarely used part of a session (struct sess_x in sess.h): allocated
 * the first time a session needs one of its fields, freed with the session (sess_free()).
 * Most sessions never need it, so an idle client costs only struct sess. Here: the accessor,
 * drop counts, and the packet ids of QoS 2 PUBLISHes received and awaiting PUBREL. The will is
 * sess.c's, owed acks persist_ack.c's, retained pages retq.c's. */
#include "broker/core/persist.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "proto/base/sl_alloc.h"

struct sess_x *
sess_x(struct sess *s)
{
	if (s->ext == NULL)
		s->ext = sl_calloc(1, sizeof(*s->ext));
	return s->ext;
}

uint64_t
sess_dropped(struct sess *s, uint32_t n)
{
	struct sess_x *x = sess_x(s);

	s->w->st.pub_dropped += n;
	if (x == NULL)
		return 0;
	x->dropped += n;
	return x->dropped;
}

bool
sess_rx_has(const struct sess *s, uint16_t pid)
{
	const struct sess_x *x = s->ext;

	for (uint32_t i = 0; x != NULL && i < x->n_rx_qos2; i++)
		if (x->rx_qos2[i] == pid)
			return true;
	return false;
}

int
sess_rx_add(struct sess *s, uint16_t pid)
{
	struct sess_x *x = sess_x(s);
	uint16_t *a;

	if (x == NULL)
		return -1;
	if (x->n_rx_qos2 == x->cap_rx_qos2) {
		a = sl_realloc(x->rx_qos2, (x->cap_rx_qos2 * 2 + 8) * sizeof(*a));
		if (a == NULL)
			return -1;
		x->rx_qos2 = a;
		x->cap_rx_qos2 = x->cap_rx_qos2 * 2 + 8;
	}
	x->rx_qos2[x->n_rx_qos2++] = pid;
	persist_rx(s, pid, true);
	return 0;
}

bool
sess_rx_remove(struct sess *s, uint16_t pid)
{
	struct sess_x *x = s->ext;

	for (uint32_t i = 0; x != NULL && i < x->n_rx_qos2; i++) {
		if (x->rx_qos2[i] == pid) {
			x->rx_qos2[i] = x->rx_qos2[--x->n_rx_qos2];
			persist_rx(s, pid, false);
			return true;
		}
	}
	return false;
}
