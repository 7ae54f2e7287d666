/* broker/core/persist.h - the broker's side of the store: what a session, a queued message, a
 * retained message or a delayed will writes, the load at start, and acknowledgements that
 * wait for durability.
 *
 * A session is stored when its expiry is non-zero and the store is durable. Its QoS 1/2
 * deliveries are stored (seq), their progress (sent with pid, PUBREC received) and their end.
 *
 * The acknowledgement rule: a QoS 1/2 PUBLISH is acknowledged once every write it caused, on
 * every worker (queued copies for stored sessions, the retained message, the QoS 2 receive
 * id), is durable. The publishing worker makes an ack_leg, a counter with one part per worker
 * the message visits; each worker, after routing it, releases its part through a store
 * barrier (or at once if it wrote nothing); the last part posts MB_ACK to the publisher's
 * worker. Acknowledgements leave in PUBLISH order ([MQTT-4.6.0-2]): the session keeps those it
 * owes in a list, and one that is ready waits for those before it. */
#ifndef PERSIST_H
#define PERSIST_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/base/sl_msg.h"

struct broker;
struct worker;
struct sess;
struct dlv;
struct conn;
struct mb_item;

struct ack_leg;

/* Opens the store b->conf names into b->store. Returns 0, or -1 with a message logged. */
int persist_open(struct broker *b);
/* Loads stored sessions, messages, wills and retained messages into the workers (after
 * worker_init, before the worker threads start) and starts the store's threads. */
int persist_load(struct broker *b);
/* Worker n's handle (on n's thread). */
int persist_attach(struct worker *w);
void persist_detach(struct worker *w);

/* The session's own record: written when s->expiry is non-zero, else removed if stored. */
void persist_sess(struct sess *s);
/* Removes the session and everything of it from the store (it ended). */
void persist_sess_del(struct sess *s);
void persist_sub(struct sess *s, const char *filter, uint8_t options, uint32_t sub_id);
void persist_unsub(struct sess *s, const char *filter);
/* A QoS 1/2 delivery for s, queued or already sent (d->state, d->pid): stores it under a new
 * seq (d->seq). */
void persist_q_put(struct sess *s, struct dlv *d);
/* d was sent (pid set) or released (PUBREC received). */
void persist_q_state(struct sess *s, const struct dlv *d);
/* d ended: acknowledged, expired or dropped. */
void persist_q_del(struct sess *s, const struct dlv *d);
void persist_rx(struct sess *s, uint16_t pid, bool put);
/* s's will is due later (put) or was published or cancelled. */
void persist_will(struct sess *s, bool put);
/* A retained message was set (or cleared: empty payload) by a publish on n. */
void persist_retain(struct worker *w, struct sl_msg *msg);

/* Whether a QoS 1/2 PUBLISH from s must wait for the store before its acknowledgement. */
bool persist_ack_needed(const struct sess *s, const struct sl_msg *msg);
/* Owes an acknowledgement (type PUBACK or PUBREC, rc) for pid: sent now unless earlier ones
 * are still owed. */
void persist_ack_now(struct sess *s, uint16_t pid, uint8_t type, uint8_t rc);
/* Owes one that waits for the store: returns the leg to route the message with (one part
 * held by the caller), or NULL on ENOMEM (then acknowledge at once, as before durability). */
struct ack_leg *persist_ack_begin(struct sess *s, uint16_t pid, uint8_t type);
/* The reason code leg's acknowledgement carries once durable (a success code: 0x10 No matching
 * subscribers); on the publisher's loop, in the turn persist_ack_begin() made leg. */
void persist_ack_set_rc(struct ack_leg *leg, uint8_t rc);
/* One more worker will route the message (a mailbox item carries the leg). */
void persist_leg_hold(struct ack_leg *leg);
/* This worker has routed the message: its part ends once its writes are durable. */
void persist_leg_done(struct worker *w, struct ack_leg *leg);
/* End of a loop turn: one barrier for the parts persist_leg_done collected. */
void persist_flush(struct worker *w);
/* MB_ACK on the publisher's worker. */
void persist_on_ack(struct worker *w, const struct mb_item *it);
/* s is being freed: drops what it still owes. */
void persist_sess_gone(struct sess *s);
/* Frees an MB_ACK item (it is part of its leg) on the worker it was posted to. */
void persist_ack_item_free(struct worker *w, struct mb_item *it);
/* Frees n's spare legs and owed-ack entries (at detach). */
void persist_ack_fini(struct worker *w);

#endif
