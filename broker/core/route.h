/* broker/core/route.h - who gets a message. One routing of a message yields its destinations
 * through one path (route.c): the matching sessions of this worker, the other workers whose
 * interest summary may match (one mailbox item each, in per-publisher order), one member of
 * each matching shared group, and other cluster nodes (the remote seam below, one frame per
 * node). A message that came from another node is routed without the remote step: a forwarded
 * PUBLISH is never forwarded again. On the routing worker's loop unless said otherwise. */
#ifndef ROUTE_H
#define ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/base/sl_msg.h"

struct broker;
struct worker;
struct sess;
struct ack_leg;
struct route_interest;

/* One index entry a message matched (a worker's scratch, route.c). */
struct match_ent {
	struct sess *s;
	uint8_t options;
	uint32_t sub_id;
};

/* The cluster's side of routing: other nodes as destinations. */
struct route_remote {
	/* Forwards msg to every other node that has a matching subscriber, one frame per node.
	 * On w's loop; msg is borrowed (take a reference to keep it). leg, when not NULL, is the
	 * publisher's acknowledgement: hold it (persist_leg_hold) once per node whose durable
	 * receipt the acknowledgement must wait for. Returns how many nodes it went to. */
	uint32_t (*forward)(void *arg, struct worker *w, struct sl_msg *msg, struct ack_leg *leg);
	/* The end of w's loop turn: what forward() gathered goes out (may be NULL). */
	void (*flush)(void *arg, struct worker *w);
	void *arg;
	/* The remote side picks the member of every shared group, this node's included (a
	 * cluster: else each node would pick one): route_publish() picks none then, but for a
	 * message that stays on this node (route_stays_here()). */
	bool picks_shared;
};

/* Installs the cluster's forwarder; NULL: a single node (the default). Before the workers
 * start; b keeps a copy of *r. */
void route_set_remote(struct broker *b, const struct route_remote *r);
/* The remote side's end of w's loop turn (worker.c's flush). */
void route_flush_remote(struct worker *w);

/* Routes msg, published on this node (a client, a will, the broker), to every destination.
 * Borrows msg. leg (may be NULL): the publisher waits for the store writes this message causes.
 * Returns how many destinations may get it: 0 when no subscriber anywhere can match (the v5
 * reason 0x10 No matching subscribers). Not exact the other way: another worker counted by its
 * summary (or a node by its table) may turn out to have no match. */
uint32_t route_publish(struct worker *w, struct sl_msg *msg, struct ack_leg *leg);
/* The same for msg forwarded from another node: never forwarded again. */
uint32_t route_forwarded(struct worker *w, struct sl_msg *msg, struct ack_leg *leg);
/* Delivers msg to the matching sessions of this worker only (a message another worker
 * routed). Borrows msg. Returns how many sessions matched. */
uint32_t route_local(struct worker *w, struct sl_msg *msg);
/* msg becomes the retained message of its topic (an empty payload clears it), in memory and
 * in the store. Borrows msg. */
void route_retain(struct worker *w, struct sl_msg *msg);
/* The QoS of a delivery of a message published at `published` to a subscription granted
 * `granted`: the lower, unless upgrade_outgoing_qos. */
uint8_t route_qos(const struct worker *w, uint8_t published, uint8_t granted);
/* Whether a message on topic stays on this node: $SYS topics (each node has its own) are
 * never forwarded. */
bool route_stays_here(struct sl_bytes topic);

/* One member of a shared group, as route_shared_member() picked it. */
struct route_member {
	uint64_t sess_id; /* its session (sess_by_id() on its worker) */
	uint32_t worker;
	uint32_t sub_id;
	uint8_t qos; /* of the delivery (route_qos()) */
};
/* Picks the member of shared group (filter, group) (an index key) to give msg to: the next one
 * round robin that is online and may read it, as route_publish() picks. Any thread (takes
 * share_mu). Borrows msg. Returns 0 with *m set, or -ENOENT if no member can take it. */
int route_shared_member(struct broker *b, struct sl_msg *msg, struct sl_bytes filter,
                        struct sl_bytes group, struct route_member *m);

/* Splits "$share/g/f"; returns the index key (filter, group) and 0, or -1 if malformed. */
int route_index_key(const char *filter, struct sl_bytes *f, struct sl_bytes *g);

/* route_interest.c: the interest summary of a worker's index (w->interest). */
struct route_interest *route_interest_new(void);
void route_interest_free(struct route_interest *ri);
/* filter (an index key: no $share prefix) enters or leaves w's index. On w's loop; add before
 * the index holds it, so a PUBLISH that follows its SUBACK always reaches w. */
void route_interest_add(struct worker *w, struct sl_bytes filter);
void route_interest_remove(struct worker *w, struct sl_bytes filter);
/* Whether any worker but w holds a filter at all (one load: under `pack` the others are idle).
 * On w's loop. */
bool route_others_interested(const struct worker *w);
/* Whether w's index may hold a filter matching topic (false: it holds none). Any thread. */
bool route_interested(const struct worker *w, struct sl_bytes topic);

#endif
