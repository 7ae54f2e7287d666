/* broker/core/xport.h - the transport between a connection's socket and the MQTT codec, for
 * listeners that are not plain TCP:
 *     socket bytes -> [PROXY header, once] -> [TLS] -> [WebSocket frames] -> MQTT bytes
 * and the reverse for writes, once per loop turn with the connection's batched packets.
 * A plain TCP connection has none (conn->x == NULL) and keeps its zero-copy path.
 *
 * A struct xport holds no libuv handle and no pointer into a loop: it belongs to its
 * connection's loop, and moves with the connection (mailbox item) when a CONNECT is handed
 * to the worker owning the client id (worker_handoff()).
 *
 * Time: the PROXY header, the TLS handshake, the WebSocket upgrade and then CONNECT are all
 * due within connect_timeout of the accept (worker.c), however slowly the bytes trickle in. */
#ifndef XPORT_H
#define XPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct xport;

/* Gives c (just accepted on its listener) the transport its listener needs, or none. Returns
 * 0 (c->x set, or left NULL for plain TCP) or -ENOMEM. */
int xport_attach(struct conn *c);
/* Frees x (NULL is fine). */
void xport_free(struct xport *x);
/* Bytes read from c's socket: data[0, len), in the worker's scratch buffer (modified in
 * place). Decodes them and hands MQTT bytes to conn_input(); may close c. On return c->x may
 * be NULL: the connection was handed to another worker with its transport. */
void xport_on_read(struct conn *c, uint8_t *data, size_t len);
/* After c was adopted from another worker: decodes what its transport still holds. */
void xport_resume(struct conn *c);
/* Turns c->tx (packets queued this turn) and the transport's own output into socket writes
 * (conn_write()). c->tx is empty afterwards. Returns 0 or a negative errno (close c). */
int xport_flush(struct conn *c);
/* The client address a PROXY header gave, or NULL. */
const char *xport_peer(const struct xport *x);
/* What a socketless connection writes: its batch of packets data[0, len), borrowed. */
typedef void xport_sink_cb(void *arg, struct conn *c, const uint8_t *data, size_t len);
/* A transport without a socket, for tests and tests/fuzz/fuzz_handlers.c (conn_new_sink()):
 * each flush hands the connection's batch to cb(arg, ...) instead of writing it, and nothing
 * is read (bytes come in through conn_input()). Plain TCP connections never see it; other
 * transports pay one test per flush. Returns a new transport, or NULL (ENOMEM). */
struct xport *xport_sink_new(xport_sink_cb *cb, void *arg);
/* Whether x sits on a socket: false for a sink. */
bool xport_has_socket(const struct xport *x);
/* The client certificate's subject CN (verified by our TLS, or by the proxy that terminated
 * TLS, PROXY v2 PP2_SUBTYPE_SSL_CN), or NULL. Borrowed: lives as long as x. */
const char *xport_identity(const struct xport *x);
#endif
