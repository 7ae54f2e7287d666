/* broker/core/handle.h - the packet handlers: what each decoded MQTT packet does to the
 * connection and its session (handle.c: dispatch, CONNECT, acks; handle_pub.c; handle_sub.c;
 * handle_auth.c: MQTT 5 enhanced authentication). On the connection's loop. */
#ifndef HANDLE_H
#define HANDLE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/mqtt.h"

struct conn;
struct worker;

/* The v5 properties a PUBLISH or a will carries on to subscribers ([MQTT-3.3.2-17..20]:
 * payload format, content type, response topic, correlation data, user properties); the others
 * are the hop's own (topic alias, subscription ids, message expiry, recomputed). */
#define HANDLE_FORWARD_PROPS                                                                       \
	(MQTT_PB(MQTT_PROP_PAYLOAD_FORMAT) | MQTT_PB(MQTT_PROP_CONTENT_TYPE) |                     \
	 MQTT_PB(MQTT_PROP_RESPONSE_TOPIC) | MQTT_PB(MQTT_PROP_CORRELATION_DATA) |                 \
	 MQTT_PB(MQTT_PROP_USER_PROPERTY))

/* handle.c: dispatch one decoded packet. Returns 0, or -1 when the connection was closed. */
int handle_packet(struct conn *c, struct mqtt_pkt *pkt);
int handle_connect(struct conn *c, struct mqtt_connect *p);
int handle_publish(struct conn *c, struct mqtt_publish *p);
int handle_subscribe(struct conn *c, struct mqtt_subscribe *p);
int handle_unsubscribe(struct conn *c, struct mqtt_subscribe *p);
/* Frees c's SUBSCRIBE or UNSUBSCRIBE in slices, if any (when c is freed). */
void handle_sub_free(struct conn *c);
/* The cluster's wait for a SUBSCRIBE's routes is over (MB_WAITED, node_route_wait()): its
 * SUBACK goes out now, if its connection is still there. On w's loop. */
void handle_sub_waited(struct worker *w, uint64_t key);
/* Frees w's table of SUBACKs waiting for the cluster (its connections are gone). */
void handle_sub_fini(struct worker *w);
int handle_ack(struct conn *c, struct mqtt_pkt *pkt);
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
/* From the worker's tick: ends c's exchange if it has run past connect_timeout (CONNACK 0x87
 * before CONNACK, DISCONNECT 0x87 after). Returns true if it did (c is closing). */
bool handle_auth_tick(struct conn *c, uint64_t now);
/* Frees c's exchange, if any (when c is freed). */
void handle_auth_free(struct conn *c);

#endif
