/* broker/core/conn.h - a client connection: its socket (or transport), the bytes read and
 * to be written, and the decoding of packets, which go to the handlers (handle.h). A connection
 * lives on one worker's loop and is touched only from it. */
#ifndef CONN_H
#define CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proto/base/sl_buf.h"
#include "proto/mqtt.h"

/* Outbound topic aliases kept per connection: enough for a client's hot topics, small enough
 * that the lookup on every PUBLISH stays a short scan. */
#define OUT_ALIAS_CAP 32

struct worker;
struct sess;
struct conn_auth;
struct sub_job;
struct big_decode;
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
	char *claimed; /* the client id its CONNECT claimed here (owner.h), until it connects; owned
	                */
	uint32_t max_packet_out; /* client's Maximum Packet Size; 0 = protocol max */
	int listener;
	uint16_t keepalive;
	uint16_t send_quota; /* client's Receive Maximum */
	uint16_t n_aliases;
	uint16_t out_alias_max; /* min(client's Topic Alias Maximum, OUT_ALIAS_CAP) */
	uint16_t out_alias_n;
	uint8_t version;
	/* style: one byte of flags, so struct conn keeps its size (test_idle_struct_sizes). */
	bool connected : 1;
	bool closing : 1;
	bool dirty : 1;
	bool will_ok : 1;    /* a normal DISCONNECT: the will is discarded */
	bool want_close : 1; /* close once tx is written */
	bool paused : 1;     /* reading stopped by a publish rate limit until the debt is paid */
	bool held : 1; /* paused (as above) while its session owes too many acks the store holds up
	                */
};

/* conn.c */
void conn_on_accept(uv_stream_t *server, int status);
/* Appends an encoded packet to c's send buffer (written at the end of this loop turn). */
int conn_send(struct conn *c, const struct mqtt_pkt *pkt);
/* Sends PUBACK, PUBREC, PUBREL or PUBCOMP for pid; rc goes to v5 clients only. */
void conn_send_ack(struct conn *c, enum mqtt_type type, uint16_t pid, uint8_t rc);
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
 * fuzzing on a one-worker broker. Returns it, or NULL (ENOMEM). */
struct conn *conn_new_sink(struct worker *w, int listener, struct xport *x);
/* c connected with a session, or closes without one: stops tracking the client id its CONNECT
 * claimed on this worker; without a session for it here, the registry forgets it. */
void conn_claim_end(struct conn *c);
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

#endif
