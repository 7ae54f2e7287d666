/* broker/node.h - the state of one broker node and its connections and sessions. Everything
 * here lives on the node's loop and is touched only from it.
 * style: the structs are visible to the broker's own files (conn.c, sess.c, handle_*.c) to
 * keep each of them small; nothing outside broker/ includes this header. */
#ifndef NODE_H
#define NODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "broker/auth/auth.h"
#include "broker/conf/conf.h"
#include "broker/index/retain.h"
#include "broker/core/slice.h"
#include "broker/index/topic.h"
#include "proto/base/sl_buf.h"
#include "proto/base/sl_msg.h"
#include "proto/mqtt.h"
#include "storage/store.h"

#define SESS_MAX_SUB_IDS 8
/* Outbound topic aliases kept per connection: enough for a client's hot topics, small enough
 * that the lookup on every PUBLISH stays a short scan. */
#define OUT_ALIAS_CAP 32
/* One read's worth: every connection of a worker reads into this buffer in turn. */
#define WORKER_RX_SCRATCH 65536

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
	struct conn *conn; /* NULL while offline */
	struct sess_x *x;  /* NULL until needed (sess_x()); owned */
	char *username;    /* owned; NULL = anonymous. Set under b->share_mu (access_set_user) */
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

struct xport;
struct tls_set;

/* The rarely used part of a connection (conn_x()): allocated by its first partial packet,
 * charge against a publish rate limit or AUTH exchange, freed with the connection. */
struct conn_x {
	struct sl_buf rx;          /* a packet split across reads, while it is (conn.c) */
	uint64_t tb_ms;            /* publish token buckets last refilled (limit.c); 0 = not yet */
	int64_t tb_msgs, tb_bytes; /* tokens in thousandths; negative = a debt being paid */
	struct conn_auth *auth;    /* an AUTH exchange in progress (handle_auth.c); owned */
	uint8_t auth_mech;         /* v5 enhanced authentication: 1 + enum scram_mech; 0 = none */
	struct sub_job *job;       /* a SUBSCRIBE done in slices (handle_sub.c); owned */
	struct big_decode *big;    /* the decode of a large packet off the loop (conn.c) */
	size_t big_len;            /* that packet's size, at the front of rx; 0 = none */
	struct sl_buf rx_more; /* bytes that came meanwhile (a transport's records): rx is read */
};

/* Laid out without holes, as struct sess. */
struct conn {
	uv_tcp_t tcp;
	struct worker *w;
	struct xport *x; /* PROXY/TLS/WebSocket (xport.h), owned; NULL for plain TCP */
	struct conn *next, *prev;
	struct conn *dirty_next;
	struct sess *s;
	struct sl_buf tx;
	size_t writing; /* bytes in uv_write requests not yet completed */
	uint64_t last_rx_ms;
	uint64_t start_ms; /* accepted (or adopted): CONNECT is due within connect_timeout */
	char **aliases;    /* inbound topic aliases 1..n_aliases, owned; NULL until one is set */
	struct sl_msg **out_alias; /* outbound: alias i+1 names out_alias[i]->topic (refs) */
	struct conn_x *ext;        /* NULL until needed (conn_x()); owned */
	uint32_t max_packet_out;   /* client's Maximum Packet Size; 0 = protocol max */
	int listener;
	uint16_t keepalive;
	uint16_t send_quota; /* client's Receive Maximum */
	uint16_t n_aliases;
	uint16_t out_alias_max; /* min(client's Topic Alias Maximum, OUT_ALIAS_CAP) */
	uint16_t out_alias_n;
	uint8_t version;
	bool connected;
	bool closing;
	bool dirty;
	bool will_ok;    /* a normal DISCONNECT: the will is discarded */
	bool want_close; /* close once tx is written */
	bool paused;     /* reading stopped by a publish rate limit until the debt is paid */
	bool held; /* paused (as above) while its session owes too many acks the store holds up */
};

struct worker_stats {
	uint64_t clients_total;
	uint64_t clients_connected;
	uint64_t msgs_received, msgs_sent, bytes_received, bytes_sent;
	uint64_t pub_dropped;
	uint64_t connections_refused;
	uint64_t conn_timed_out;    /* closed: no CONNECT in time, or a stalled packet */
	uint64_t pub_throttled;     /* times a publisher's reading was paused (rate limits) */
	uint64_t load_conn_refused; /* CONNECTs refused above memory_limit */
	uint64_t load_pub_dropped;  /* QoS 0 shed above memory_limit */
	uint64_t load_pub_refused;  /* QoS 1/2 PUBLISHes refused above the refuse mark */
	uint64_t loop_stall_max_us; /* the longest loop turn outside the poll (worker.c) */
};

struct ack_leg;
struct pend_ack;
struct sub_job;
struct retq;

struct match_ent {
	struct sess *s;
	uint8_t options;
	uint32_t sub_id;
};

/* Mailbox items: the only things besides messages that cross worker loops. */
enum mb_type { MB_ROUTE, MB_DELIVER, MB_CONN, MB_STOP, MB_ACK, MB_RECHECK };
struct mb_item {
	struct mb_item *next;
	enum mb_type type;
	struct sl_msg *msg;    /* owned reference (ROUTE, DELIVER) */
	struct ack_leg *leg;   /* ROUTE, DELIVER: a publisher waits for this worker; one part */
	uint64_t sess_id;      /* DELIVER, ACK */
	uint64_t ack_id;       /* ACK: which of the session's owed acknowledgements */
	struct pend_ack *pend; /* ACK: that one; valid while the session sess_id exists */
	uint32_t sub_id;
	uint8_t qos;
	bool retain;
	int fd; /* CONN: owned descriptor; -1 when none */
	int listener;
	struct xport *x;  /* CONN: the connection's transport, owned; NULL when plain */
	int code;         /* STOP: exit code; ACK: the store's status */
	struct sl_buf rx; /* CONN: bytes read but not yet handled */
	char peer[64];
};

/* What the workers of one process share. Everything here is either immutable after start,
 * atomic, or behind its own lock. */
struct broker {
	/* The configuration in force, immutable: a reload swaps in a new snapshot (worker_conf.c).
	 * Read it with worker_conf() or broker_conf(). */
	_Atomic(const struct conf *) conf;
	struct conf **confs; /* snapshots made by reloads, the one in force among them; owned */
	size_t n_confs;
	struct retain_store *retained; /* thread-safe */
	struct worker *workers;
	uint32_t n_workers;
	pthread_mutex_t share_mu;  /* guards `shared` */
	struct topic_tree *shared; /* shared subscription groups of every worker */
	atomic_uint n_shared;
	_Atomic(struct auth *) auth; /* password file and ACL in force (access.c) */
	/* per_listener_settings: each listener's own rules, n_lauth = its listeners; else 0 */
	_Atomic(struct auth *) *lauth;
	uint32_t n_lauth;
	struct auth **auth_old; /* replaced by reloads, freed at exit (access.c) */
	size_t n_auth_old;
	atomic_uint conns;           /* connections of all workers */
	atomic_uint *listener_conns; /* per listener, all workers */
	uint64_t started_ms;
	struct store *store;  /* owned; thread-safe */
	atomic_uint n_stored; /* sessions the store holds, all workers */
	atomic_bool stopping; /* no more mailbox posts between workers */
	struct tls_set *tls;  /* per-listener TLS contexts (tls.c), thread-safe */
};

struct worker {
	struct broker *b;
	uint32_t idx; /* worker index */
	uv_thread_t thread;
	uv_loop_t loop_storage;
	uv_loop_t *loop;
	uint8_t *rx_scratch; /* WORKER_RX_SCRATCH bytes, owned */
	struct topic_tree *subs;
	struct retain_store *retained;
	pthread_mutex_t mb_mu;
	struct mb_item *mb_head, *mb_tail;
	uv_async_t mb_async;
	pthread_mutex_t snap_mu; /* guards snap and snap_* */
	struct worker_stats snap;
	uint64_t snap_sess, snap_subs;
	struct sess **sess_tab; /* by client id (sess_find()), and so by id (sess_by_id()) */
	uint32_t sess_cap, n_sess;
	struct sess *all_sess;
	struct conn *conns;
	struct conn *dirty;
	uint32_t n_conns;
	uv_tcp_t *listeners;
	size_t n_listeners;
	uv_prepare_t flush;
	uv_idle_t slice_idle;               /* runs slices while any is queued (slice.h) */
	struct slice *slices, *slices_tail; /* queued, in turn order */
	uv_timer_t tick;
	uv_signal_t sig_term, sig_int, sig_hup;
	struct store_h *sh;    /* this loop's handle on b->store */
	struct ack_leg **legs; /* parts waiting for this turn's barrier (persist_ack.c) */
	uint32_t n_legs, cap_legs;
	void *free_legs, *free_acks; /* persist_ack.c's free lists, linked through the first word */
	uint32_t n_free_legs, n_free_acks;
	char peer_buf[64]; /* conn_peer()'s answer */
	/* The packet being handled, as received (conn.c process_input(); a loop handles one at a
	 * time): a CONNECT that starts an AUTH exchange is copied from here, to be handled once
	 * authentication ends (handle_auth.c). */
	const uint8_t *pkt_raw;
	size_t pkt_raw_len;
	struct match_ent *match;
	uint32_t n_match, cap_match;
	struct sl_buf mount_buf; /* a topic with its listener's mount point (mount.c) */
	uint64_t started_ms;
	uint64_t turn_ns, turn_idle_ns; /* at the last loop turn's end (worker.c measure_stall) */
	uint64_t last_sys_ms;
	uint64_t id_counter;
	struct worker_stats st;
	int mem_level; /* limit_mem_level() at the last tick (limit.c) */
	bool stopping;
	int exit_code;
};

/* worker.c */
/* The worker that owns client id id[0, len) (not NUL-terminated). Any loop. */
uint32_t worker_owner(const struct broker *b, const char *id, size_t len);
struct mb_item *worker_item(enum mb_type type);
void worker_post(struct worker *to, struct mb_item *item);
void worker_broadcast(struct worker *w, struct sl_msg *msg, struct ack_leg *leg);
int worker_handoff(struct conn *c, uint32_t to, const uint8_t *data, size_t len);
int worker_mailbox_init(struct worker *w);
void worker_mailbox_fini(struct worker *w);
int worker_start(struct worker *w);
void worker_stop_all(struct broker *b, int code);

/* worker.c */
int worker_init(struct worker *w, struct broker *b, uint32_t idx);
int worker_listen(struct worker *w);
void worker_fini(struct worker *w);
void worker_stop(struct worker *w, int exit_code);
int worker_reload(struct worker *w);

/* worker_conf.c: the configuration, shared by all workers. */
/* The configuration in force (b->conf). Any thread; valid until the broker is freed. Read it
 * again rather than keep it across loop turns: a reload replaces it. */
static inline const struct conf *
broker_conf(struct broker *b)
{
	return atomic_load_explicit(&b->conf, memory_order_acquire);
}
/* The same, from n's loop. */
static inline const struct conf *
worker_conf(const struct worker *w)
{
	return broker_conf(w->b);
}
/* Reloads the file the configuration came from (its path, not NULL) and swaps in a snapshot
 * with its reloadable keys (conf_reload_apply()); on a bad file keeps the one in force and logs
 * why. Worker 0 (SIGHUP). Returns how many keys changed, or a negative errno. */
int broker_conf_reload(struct worker *w);
/* Frees the snapshots reloads made (not the first one: its owner frees it) and sets b->conf
 * NULL; no worker runs any more. */
void broker_conf_fini(struct broker *b);

/* access.c: the password file and ACL (broker/auth.h), shared by all workers. */
/* Loads b->conf's password_file and acl_file into b->auth (before the workers start).
 * Returns 0, or -EINVAL with the reason logged ("file:line: ..."). */
int access_init(struct broker *b);
/* Loads them again and swaps them in; on a bad file keeps the rules in force and logs why.
 * Worker 0 (SIGHUP), after the configuration reload. Returns 0 or a negative errno. */
int access_reload(struct broker *b);
/* Frees b->auth and every replaced one; no worker runs any more. */
void access_fini(struct broker *b);
/* Who may connect: checks p's user name and password, and allow_anonymous. Returns 0, or a v5
 * reason code (0x86, 0x87) with the v3 return code in *v3rc. Any loop. */
uint8_t access_connect(struct worker *w, int listener, const struct mqtt_connect *p,
                          uint8_t *v3rc);
/* Whether session s (its client id and user name) may do access on topic (auth_acl()). On s's
 * loop, or under b->share_mu. */
bool access_acl(const struct sess *s, struct sl_bytes topic, enum auth_access access);
/* s's user name as a message's sender, in *u; NULL when s is anonymous. */
const struct sl_bytes *access_sender_user(const struct sess *s, struct sl_bytes *u);
/* check_retain_source (mosquitto, default true): whether the publisher of retained message msg
 * may still write its topic under the ACL in force. True when the key is off, there is no ACL,
 * or the publisher is not known (the broker's own, or stored by an older version). Any loop. */
bool access_retain_source(const struct sess *s, const struct sl_msg *msg);
/* Whether s belongs to user (NULL = anonymous; both anonymous counts). */
bool access_same_user(const struct sess *s, const struct sl_bytes *user);
/* Sets s->username to a copy of user (NULL = anonymous). Returns 0 or -ENOMEM (unchanged then). */
int access_set_user(struct sess *s, const struct sl_bytes *user);
/* Whether the auth in force offers SCRAM mechanism m (auth_scram_offered()). Any loop. */
bool access_scram_offered(struct worker *w, int listener, enum scram_mech m);
/* user's SCRAM credentials for m from the auth in force (auth_scram_cred()). Any loop. */
int access_scram_cred(struct worker *w, int listener, const char *user, enum scram_mech m,
                         struct scram_cred *cred);

/* conn.c */
void conn_on_accept(uv_stream_t *server, int status);
/* Appends an encoded packet to c's send buffer (written at the end of this loop turn). */
int conn_send(struct conn *c, const struct mqtt_pkt *pkt);
/* Appends raw bytes. */
int conn_send_raw(struct conn *c, const void *p, size_t len);
/* MQTT bytes data[0, len) from c's transport (borrowed): decodes and handles every complete
 * packet, keeps a partial one. c may be closed or handed over on return. */
void conn_input(struct conn *c, const uint8_t *data, size_t len);
/* Writes hdr[0, hdr_len) (copied, at most 14 bytes) then buf to c's socket; takes buf's
 * bytes (buf is left empty, also on failure). Returns 0 or a negative errno. */
int conn_write(struct conn *c, struct sl_buf *buf, const uint8_t *hdr, size_t hdr_len);
void conn_mark_dirty(struct conn *c);
/* c's client address (PROXY header's, else the socket's) for logs; valid until the next call
 * on this worker. */
const char *conn_peer(const struct conn *c);
/* Closes c now (after writing what is queued when graceful). Idempotent. */
void conn_close(struct conn *c, bool graceful);
/* v5: sends DISCONNECT rc then closes; v3: closes. */
void conn_disconnect(struct conn *c, enum mqtt_rc rc);
size_t conn_backlog(const struct conn *c);
void conn_flush_all(struct worker *w);
/* Takes over a connection handed from another worker: fd (taken), its unread MQTT bytes (*rx,
 * borrowed: handled now, a partial packet copied) and its transport (*x taken and set NULL,
 * unless c could not be made). */
void conn_adopt(struct worker *w, int fd, int listener, const struct sl_buf *rx, struct xport **x);
/* A connection without a socket over x (xport_sink_new(); taken, also on failure), as if
 * accepted on listener: fed with conn_input(), its writes go to x's sink, ended by
 * conn_close(). Its CONNECT stays on n (there is no socket to hand over): for tests and
 * fuzzing on a one-worker node. Returns it, or NULL (ENOMEM). */
struct conn *conn_new_sink(struct worker *w, int listener, struct xport *x);
/* Reads again from c, paused by limit.c: first the packets it holds, then the socket. */
void conn_resume(struct conn *c);
/* c's rarely used part, allocated (zeroed) at the first call. Returns NULL on ENOMEM. */
struct conn_x *conn_x(struct conn *c);
/* The bytes c holds of a packet split across reads. */
static inline size_t
conn_partial(const struct conn *c)
{
	return c->ext != NULL ? c->ext->rx.len : 0;
}
/* c's AUTH exchange in progress (handle_auth.c), or NULL. */
static inline struct conn_auth *
conn_auth(const struct conn *c)
{
	return c->ext != NULL ? c->ext->auth : NULL;
}

/* handle.c: dispatch one decoded packet. Returns 0, or -1 when the connection was closed. */
int handle_packet(struct conn *c, struct mqtt_pkt *pkt);
int handle_connect(struct conn *c, struct mqtt_connect *p);
int handle_publish(struct conn *c, struct mqtt_publish *p);
int handle_subscribe(struct conn *c, struct mqtt_subscribe *p);
int handle_unsubscribe(struct conn *c, struct mqtt_subscribe *p);
/* Frees c's SUBSCRIBE or UNSUBSCRIBE in slices, if any (when c is freed). */
void handle_sub_free(struct conn *c);
int handle_ack(struct conn *c, struct mqtt_pkt *pkt);
/* Sends PUBACK, PUBREC, PUBREL or PUBCOMP for pid; rc goes to v5 clients only. */
void handle_send_ack(struct conn *c, enum mqtt_type type, uint16_t pid, uint8_t rc);
/* The second half of CONNECT, once the client is authenticated: opens the session and sends
 * CONNACK. user: the authenticated user name (NULL = anonymous). auth_data: the CONNACK's
 * Authentication Data, sent with p's Authentication Method if p has one. Returns 0 or -1
 * (closed). */
int handle_connect_accept(struct conn *c, struct mqtt_connect *p, const struct sl_bytes *user,
                          struct sl_bytes auth_data);

/* handle_auth.c: MQTT 5 enhanced authentication (4.12) with SCRAM (broker/scram.h). */
/* A v5 CONNECT with an Authentication Method, checked but for its credentials: starts the
 * exchange, or refuses it (CONNACK 0x8C, 0x86, 0x87). The CONNECT is copied from n->pkt_raw
 * and handled again when the exchange succeeds. Returns 0 or -1 (closed). */
int handle_auth_begin(struct conn *c, const struct mqtt_connect *p);
/* Any packet while c's CONNECT waits for its AUTH exchange. Returns 0 or -1 (closed). */
int handle_auth_pending(struct conn *c, struct mqtt_pkt *pkt);
/* AUTH after CONNACK: re-authentication (4.12.1). Returns 0 or -1 (closed). */
int handle_auth(struct conn *c, const struct mqtt_reason *r);
/* From the node's tick: ends c's exchange if it has run past connect_timeout (CONNACK 0x87
 * before CONNACK, DISCONNECT 0x87 after). Returns true if it did (c is closing). */
bool handle_auth_tick(struct conn *c, uint64_t now);
/* Frees c's exchange, if any (when c is freed). */
void handle_auth_free(struct conn *c);

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
/* Counts n messages s dropped, in the node's total too. Returns s's count so far, or 0 when
 * there is no memory to keep one. */
uint64_t sess_dropped(struct sess *s, uint32_t n);
/* Packet ids of QoS 2 PUBLISHes received, awaiting PUBREL. sess_rx_add() returns 0 or -1
 * (ENOMEM). */
bool sess_rx_has(const struct sess *s, uint16_t pid);
int sess_rx_add(struct sess *s, uint16_t pid);
bool sess_rx_remove(struct sess *s, uint16_t pid);

/* retq.c: retained messages due after SUBSCRIBE, fed to the queue a page at a time. */
/* Takes msgs (an sl_malloc'd array of n references). Returns 0 or -1 (ENOMEM: not taken). */
int retq_add(struct sess *s, struct sl_msg **msgs, size_t n, uint8_t options, uint32_t sub_id);
/* Finds the retained messages filter matches and pages them to s (retq_deliver): at once for a
 * small retained set, else on the thread pool, so a '#' over millions never stalls the loop. */
void retq_match(struct sess *s, const char *filter, uint8_t options, uint32_t sub_id);
/* Takes msgs (n references, sl_malloc'd array) for paged delivery; the ACL and
 * check_retain_source are asked as each page is fed (retq_feed()). */
void retq_deliver(struct sess *s, struct sl_msg **msgs, size_t n, uint8_t options, uint32_t sub_id);
/* Moves a page into the empty queue if the connection has room. True if it moved any. */
bool retq_feed(struct sess *s);
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

/* route.c */
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

/* limit.c: per-connection rate limits, quotas and overload protection (etc/starling.conf). */
/* Charges a PUBLISH to c's token buckets; when one runs into debt, stops reading from c
 * until the tick finds it paid (the PUBLISH in hand is still handled). */
void limit_publish_charge(struct conn *c, const struct mqtt_publish *p);
/* The memory state against memory_limit: 0 below it, 1 above it (shed QoS 0, refuse new
 * clients), 2 above the refuse mark, 1.25 x memory_limit (refuse QoS 1/2 too). Any loop. */
int limit_mem_level(const struct worker *w);
/* Whether a CONNECT is refused for memory; counts it. v5 rc 0x89 Server busy, v3 3. */
bool limit_connect_refused(struct conn *c);
/* Whether a client's PUBLISH is refused for memory (level 2); counts it. */
bool limit_publish_refused(struct conn *c, const struct mqtt_publish *p);
/* Whether a QoS 0 delivery to s is shed for memory: it would have to wait in a queue. */
bool limit_shed_qos0(struct sess *s);
/* Whether topic (a name or a filter) has more levels than max_topic_levels allows. */
bool limit_topic_too_deep(const struct worker *w, struct sl_bytes topic);
/* Once per tick for every connection: refills paused buckets and resumes reading. */
void limit_conn_tick(struct conn *c, uint64_t now);
/* Once per tick: sheds queued QoS 0 above memory_limit, logs changes of the memory state. */
void limit_tick(struct worker *w);

/* sys.c */
void sys_publish(struct worker *w, uint64_t now);

#endif
