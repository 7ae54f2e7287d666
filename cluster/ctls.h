/* cluster/ctls.h - TLS for links between cluster nodes, over memory: the caller owns the socket,
 * hands ctls the bytes it read and writes out the bytes ctls gives back. No I/O, no logging.
 *
 * Mutual TLS, TLS 1.2 at least (1.3 when both ends have it, which Starling's always do). Each
 * end presents its node certificate and verifies the other's against the cluster CA; a server
 * refuses a client without a certificate. A node's identity is "a certificate signed by the
 * cluster CA", nothing more: no host name or IP address is checked, since nodes dial addresses
 * found by DNS discovery and a certificate cannot list them in advance. Which node is which is
 * settled after TLS, by the link's Hello. A node certificate serves both ends of a link, so it
 * must allow TLS client and server use (extendedKeyUsage serverAuth,clientAuth, or none).
 *
 * A struct ctls_ctx may be shared by any threads (OpenSSL locks it). A struct ctls belongs to
 * one loop: call it only from there. */
#ifndef CTLS_H
#define CTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/sl_buf.h"

struct ctls_ctx;
struct ctls;

/* A context for both ends of links, from PEM files: cafile the cluster CA certificate(s),
 * certfile this node's certificate (its chain may follow), keyfile its private key. Reads the
 * files now. Returns a new context (owned by the caller), or NULL with a one-line reason naming
 * the file at fault in err (errlen bytes, NUL-terminated): missing or unreadable, not PEM,
 * key not matching the certificate. */
struct ctls_ctx *ctls_ctx_new(const char *cafile, const char *certfile, const char *keyfile,
                              char *err, size_t errlen);
/* Frees c. Sessions made from it keep working (each holds its own reference). NULL is a no-op. */
void ctls_ctx_free(struct ctls_ctx *c);

/* A new TLS session (owned by the caller) over c, the accepting end if server, else the
 * dialing one; NULL when out of memory. Nothing is sent until ctls_start(). */
struct ctls *ctls_new(struct ctls_ctx *c, bool server);
/* Frees t and whatever it still holds. NULL is a no-op. Sends nothing: closing the socket is
 * the end of a link (its own frames say goodbye, so no close_notify is needed). */
void ctls_free(struct ctls *t);

/* Begins the handshake: a client appends its ClientHello to out, a server nothing (it waits for
 * one). Returns 0, -ENOMEM, or -EPROTO (see ctls_error()). */
int ctls_start(struct ctls *t, struct sl_buf *out);

/* Feeds n bytes read from the socket (any split: a record may span calls). Appends the
 * plaintext they complete to plain, and what must be written to the socket (handshake
 * records, alerts, data held by ctls_write() until the handshake ended) to out; write out even
 * when this fails, it may carry the alert telling the peer why. Borrows p, plain and out.
 * Returns 0; -EPROTO when the session failed (a certificate refused by either end, garbage,
 * a forged record: ctls_error() says why); -ECONNRESET when the peer closed TLS cleanly;
 * -ENOMEM. After a failure every call returns the same error: close the socket. */
int ctls_read(struct ctls *t, const uint8_t *p, size_t n, struct sl_buf *plain, struct sl_buf *out);

/* Encrypts the n bytes at p and appends the records to out. Before the handshake ends they are
 * copied and held, and come out of the ctls_read() that ends it. Write a loop turn's frames in
 * one call: records are cut at 16 KiB, so a big buffer costs about 22 bytes per 16 KiB, while
 * each call ends its own (possibly tiny) record. Returns 0, -ENOMEM, or the failure that
 * ctls_read() returned. */
int ctls_write(struct ctls *t, const uint8_t *p, size_t n, struct sl_buf *out);

/* Whether the handshake ended, the peer's certificate verified, and nothing failed since. With
 * TLS 1.3 a client is ready once it sent its certificate; the server may still refuse it, and
 * the client learns so from the alert its next ctls_read() gets. */
bool ctls_ready(const struct ctls *t);

/* Why t failed ("certificate verify failed: unable to get local issuer certificate", "peer did
 * not return a certificate", "tlsv1 alert unknown ca", ...), or "" if it did not. The text is
 * owned by t and valid until ctls_free(). */
const char *ctls_error(const struct ctls *t);

#endif
