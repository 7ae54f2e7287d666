/* broker/core/route.h - who gets a message: one match against the index, merged per
 * session. On the publishing worker's loop. */
#ifndef ROUTE_H
#define ROUTE_H

#include <stdint.h>

#include "proto/base/sl_msg.h"

struct worker;
struct sess;
struct ack_leg;

/* One index entry a message matched (a worker's scratch, route.c). */
struct match_ent {
	struct sess *s;
	uint8_t options;
	uint32_t sub_id;
};

/* Sends msg to every matching subscriber on every worker. Borrows msg. */
/* leg (may be NULL): a publisher waits for the store writes this message causes. */
void route_publish(struct worker *w, struct sl_msg *msg, struct ack_leg *leg);
/* The QoS of a delivery of a message published at `published` to a subscription granted
 * `granted`: the lower, unless upgrade_outgoing_qos. */
uint8_t route_qos(const struct worker *w, uint8_t published, uint8_t granted);
/* Delivers msg to the matching sessions of this worker only. Borrows msg. */
void route_local(struct worker *w, struct sl_msg *msg);
/* Splits "$share/g/f"; returns the index key (filter, group) and 0, or -1 if malformed. */
int route_index_key(const char *filter, struct sl_bytes *f, struct sl_bytes *g);

#endif
