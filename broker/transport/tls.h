/* broker/transport/tls.h - TLS on listeners that have a certfile (OpenSSL 3). One SSL_CTX per
 * listener, built at start from the listener's keys and built again on SIGHUP: new connections get
 * the new one, existing ones keep theirs (each SSL holds a reference on its SSL_CTX). A
 * connection's SSL reads from and writes to memory BIOs that broker/xport.c fills from and
 * drains to its libuv socket: OpenSSL never touches a socket and never blocks a loop. */
#ifndef TLS_H
#define TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/sl_buf.h"

struct conf;
struct tls_set; /* every listener's SSL_CTX; thread-safe */
struct conf_listener;

/* Whether listener l speaks TLS itself (it has a certfile). */
bool tls_listener(const struct conf_listener *l);

/* Checks the TLS keys of every listener and builds the contexts of those that speak TLS
 * (before the workers start) into *out (owned by the caller, tls_fini(); set also on failure).
 * Returns 0, or -EINVAL with the reason logged, naming the listener's port. */
int tls_init(struct tls_set **out, const struct conf *cf);
/* Builds every listener's context again from its files (certificate and key replaced on
 * disk) and swaps them in; a listener whose files do not load keeps its context (logged).
 * Worker 0, on SIGHUP. Returns 0 or -EINVAL when any listener kept its old context. */
int tls_reload(struct tls_set *t, const struct conf *cf);
/* Frees the contexts (connections still holding one keep it alive until they free it). */
void tls_fini(struct tls_set *t);

/* A server-side SSL for a new connection on listener li, with memory BIOs, in accept state.
 * Any loop. Returns NULL when out of memory (or li does not speak TLS). */
SSL *tls_new(struct tls_set *t, int li);
/* Hands ciphertext p[0, len) to ssl (copied). Returns 0 or -ENOMEM. */
int tls_feed(SSL *ssl, const uint8_t *p, size_t len);
/* Decrypts into out[0, cap), driving the handshake first. Returns the bytes (> 0), 0 when
 * more ciphertext is needed, -ECONNRESET when the client closed (close_notify), or -EPROTO
 * when the session failed (an alert may be waiting in the output: write it, then close).
 * *why is set to OpenSSL's reason then (static text). */
int tls_read(SSL *ssl, uint8_t *out, size_t cap, const char **why);
/* Encrypts p[0, len) into the output (the handshake is done). Returns 0 or -EPROTO. */
int tls_write(SSL *ssl, const uint8_t *p, size_t len);
/* Moves the ciphertext waiting to be sent onto the end of out. Returns 0 or -ENOMEM. */
int tls_take(SSL *ssl, struct sl_buf *out);
/* Whether ciphertext is waiting to be sent. */
bool tls_pending(SSL *ssl);
/* The subject CN of the client's certificate, when it presented one and it was verified:
 * a new string (sl_free it), or NULL (also for a CN holding a NUL, as mosquitto refuses). */
char *tls_peer_cn(SSL *ssl);

#endif
