/* broker/core/sess.h - a session: what the broker keeps of a client id across its
 * connections (subscriptions, queued and in-flight deliveries, QoS 2 receive ids, will,
 * expiry). A session lives on its owning worker's loop and is touched only from it, but for
 * s->online and s->username (read by other workers under b->share_mu, see access.h).
 * Files: sess.c (lifecycle, delivery, queue), sess_x.c (the rarely used part), sess_sub.c
 * (its subscriptions). */
#ifndef SESS_H
#define SESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto/base/sl_msg.h"

/* Subscription identifiers kept per delivery [MQTT-3.3.4-3]. */
#define SESS_MAX_SUB_IDS 8

struct worker;
struct conn;
struct store_q;
struct pend_ack;
struct retq;
struct sub_index;

/* One message on its way to one session: queued, or in flight awaiting its acks. */
struct dlv {
	struct dlv *next;
	struct sl_msg *msg; /* owned reference */
	uint16_t pid;
	uint8_t qos;
	bool retain;
	uint8_t state; /* DLV_QUEUED, DLV_WAIT_PUBACK, DLV_WAIT_PUBREC, DLV_WAIT_PUBCOMP */
	uint8_t n_sub_ids;
	bool fresh; /* not yet offered to the store: written once, as sent or as queued */
	uint32_t sub_ids[SESS_MAX_SUB_IDS];
	uint64_t seq; /* its key in the store; 0 = not stored (QoS 0, or a session not stored) */
};
enum { DLV_QUEUED, DLV_WAIT_PUBACK, DLV_WAIT_PUBREC, DLV_WAIT_PUBCOMP };

struct dlv_list {
	struct dlv *head, *tail;
	uint32_t count;
	uint64_t bytes;
};

/* One subscription as the session remembers it (the index holds the routing copy). */
struct sess_sub {
	char *filter; /* as subscribed, "$share/g/f" included; owned */
	uint8_t options;
	uint32_t sub_id;
};

/* The rarely used part of a session (sess_x()): allocated the first time one of these is
 * needed, freed with the session. Most sessions never need it: an idle client without a will
 * costs only struct sess. A stored session always has one (persist_sess(): next_seq). */
struct sess_x {
	struct sl_msg *will; /* owned; NULL if none */
	uint64_t will_at;    /* ms; 0 = not scheduled */
	uint32_t will_delay;
	uint32_t will_expiry; /* seconds from publication; 0 = none */
	struct pend_ack *acks,
	        *acks_tail; /* PUBACK/PUBREC owed, in PUBLISH order (persist_ack.c) */
	uint64_t next_ack;
	uint32_t n_acks; /* in acks */
	uint32_t n_rx_qos2, cap_rx_qos2;
	uint16_t *rx_qos2;             /* packet ids of QoS 2 PUBLISHes awaiting PUBREL */
	struct retq *retq, *retq_tail; /* retained messages still due after SUBSCRIBE (retq.c) */
	uint64_t dropped;              /* messages for this session dropped (queue full, load) */
	uint64_t next_seq;             /* the last store key given to a delivery (persist.c) */
	uint16_t listener;             /* per_listener_settings: whose rules apply (access.c) */
	struct sub_index *sub_index;   /* past a few subscriptions: subs by filter (sess_sub.c) */
};

/* Laid out without holes: an idle client costs this and struct conn (tests/bench/README.md,
 * idle memory). */
struct sess {
	struct worker *w;
	uint64_t id;        /* client id hash << 32 | a count of this worker's (sess_by_id()) */
	struct sess *hnext; /* client id hash chain */
	struct sess *next_all, *prev_all;
	struct conn *conn;  /* NULL while offline */
	struct sess_x *ext; /* NULL until needed (sess_x()); owned */
	char *username;     /* owned; NULL = anonymous. Set under b->share_mu (access_set_user) */
	struct sess_sub *subs;
	uint64_t expire_at;       /* ms, when offline; 0 = not scheduled */
	struct dlv_list inflight; /* sent, awaiting acks, in send order */
	struct dlv_list queue;    /* waiting to be sent */
	uint32_t expiry;          /* seconds after disconnect; UINT32_MAX = never */
	uint32_t n_subs, cap_subs;
	uint16_t next_pid;
	atomic_bool online; /* conn != NULL, readable from other workers under share_mu */
	uint8_t version;
	/* style: one byte of flags, so that a short client id still fits the allocation of an
	 * idle session (test_idle_struct_sizes). */
	bool stored : 1;         /* the store holds this session (expiry > 0, a durable store) */
	bool will_stored : 1;    /* the store holds its pending delayed will */
	bool pids_unordered : 1; /* in-flight ids not in send order (restored): next_pid scans */
	bool user_set : 1;       /* username came from a CONNECT or the store (not yet: anyone's) */
	bool dying : 1;   /* ended; its subscriptions leave the index in slices (sess.c reap) */
	char client_id[]; /* in the same allocation as the session */
};

/* sess.c */
struct sess *sess_find(struct worker *w, const char *client_id);
struct sess *sess_new(struct worker *w, const char *client_id);
/* The session id (s->id) on n, or NULL: it ended, and no later one takes its id. */
struct sess *sess_by_id(struct worker *w, uint64_t id);
/* FNV-1a of a client id: the session table's hash and the owning worker's choice. */
uint32_t sess_hash(const char *client_id);
/* The same hash of id[0, len) (not NUL-terminated). */
uint32_t sess_hash_n(const char *id, size_t len);
/* The in-flight entry pid in state, still listed, or NULL. */
struct dlv *sess_inflight_find(struct sess *s, uint16_t pid, uint8_t state);
/* Removes and frees the in-flight entry pid in state. Returns false if there is none. */
bool sess_inflight_done(struct sess *s, uint16_t pid, uint8_t state);
/* A QoS 2 delivery was received (PUBREC): drops the message, keeps the id for PUBCOMP. */
void sess_inflight_released(struct sess *s, struct dlv *d);
/* s ends for good: out of the store and the registry (owner.h), then freed. */
void sess_end(struct sess *s);
/* Frees s and its state in memory; the store is not touched (persist_sess_del ends it). */
void sess_free(struct sess *s);
/* A delivery read back from the store (persist_load.c). Returns 0 or -1 (ENOMEM). */
int sess_restore_dlv(struct sess *s, const struct store_q *q);
/* Delivers msg at qos to s now, or queues it. Borrows msg. */
void sess_deliver(struct sess *s, struct sl_msg *msg, uint8_t qos, bool retain,
                  const uint32_t *sub_ids, uint8_t n_sub_ids);
/* Queues msg for s without sending yet (sess_deliver = this + sess_pump). Borrows msg. */
void sess_enqueue(struct sess *s, struct sl_msg *msg, uint8_t qos, bool retain,
                  const uint32_t *sub_ids, uint8_t n_sub_ids);
/* Sends what the client's receive window allows from the queue, then pages of due
 * retained messages. */
void sess_pump(struct sess *s);
/* Whether s's queue takes one more message of len bytes within its limits. */
bool sess_queue_fits(const struct sess *s, uint32_t len);
/* Whether s's connection can take another message now (window and backlog). */
bool sess_has_room(const struct sess *s);

/* sess_x.c: the rarely used part of a session. */
/* s's x, allocated (zeroed) at the first call. Returns NULL on ENOMEM: the caller refuses or
 * drops what needed it. */
struct sess_x *sess_x(struct sess *s);
/* Counts n messages s dropped, in the worker's total too. Returns s's count so far, or 0 when
 * there is no memory to keep one. */
uint64_t sess_dropped(struct sess *s, uint32_t n);
/* Packet ids of QoS 2 PUBLISHes received, awaiting PUBREL. sess_rx_add() returns 0 or -1
 * (ENOMEM). */
bool sess_rx_has(const struct sess *s, uint16_t pid);
int sess_rx_add(struct sess *s, uint16_t pid);
bool sess_rx_remove(struct sess *s, uint16_t pid);

void retq_free(struct sess *s);
/* Drops the QoS 0 messages of s's queue (memory_limit). Returns how many. */
uint32_t sess_shed_qos0(struct sess *s);
/* The ACL was reloaded: drops from every session of n the queued messages it may no longer
 * read (already sent ones stay in flight). From the mailbox (MB_RECHECK), posted after the new
 * rules are in force, so a message routed under the old ones is queued by then. */
void sess_recheck(struct worker *w);
/* Resends in-flight messages after a session resumes ([MQTT-4.4.0-1]). */
void sess_resend(struct sess *s);
/* sess_sub.c: the subscriptions of a session, each O(1) amortised whatever their number. */
/* Subscribes s to filter (copied), or replaces its options and sub_id if s holds it already
 * (*existed says which). Returns 0 or -1 (ENOMEM). */
int sess_add_sub(struct sess *s, const char *filter, uint8_t options, uint32_t sub_id,
                 bool *existed);
/* Whether s holds filter ("$share/g/f" included). */
bool sess_has_sub(const struct sess *s, const char *filter);
/* Returns 0, or -1 if s does not hold filter. */
int sess_remove_sub(struct sess *s, const char *filter);
/* Removes every subscription of s from the index. */
void sess_clear_subs(struct sess *s);
/* The same in slices: stops once uv_hrtime() passes deadline. Returns true when none is
 * left. */
bool sess_clear_subs_until(struct sess *s, uint64_t deadline);
/* The connection went away (abnormal: without a normal DISCONNECT): schedule expiry and the
 * will. */
void sess_detach(struct sess *s, bool abnormal);
void sess_tick(struct worker *w, uint64_t now);
void sess_publish_will(struct sess *s);

#endif
