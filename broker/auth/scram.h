/* broker/auth/scram.h - the server side of SCRAM (RFC 5802) with SHA-256 (RFC 7677) and SHA-512
 * (the same construction with SHA-512: HMAC-SHA-512, Hi() = PBKDF2-HMAC-SHA-512, 64-byte keys),
 * used as the MQTT 5 Authentication Methods "SCRAM-SHA-256" and "SCRAM-SHA-512" (handle_auth.c).
 * Pure: no I/O, no logging, no shared state; one struct scram per exchange, used by one thread.
 *
 * Supported: gs2 flags "n" and "y" (no channel binding: the -PLUS variants are not offered);
 * not supported: an authorization identity ("a="), the "m=" extension. Passwords are
 * hashed as the bytes the client gives (no SASLprep): mosquitto_passwd does the same, and for
 * ASCII passwords SASLprep changes nothing. */
#ifndef SCRAM_H
#define SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/sl_buf.h"

enum scram_mech { SCRAM_SHA_256, SCRAM_SHA_512 };

#define SCRAM_MAX_HASH 64 /* SHA-512 */
#define SCRAM_MAX_SALT 64
/* RFC 7677 5: "the iteration count ... SHOULD be at least 4096"; what starling_passwd writes. */
#define SCRAM_ITERATIONS 4096
#define SCRAM_SALT_LEN 16 /* what starling_passwd writes */

/* What the server keeps per user and mechanism (RFC 5802 3: it never needs the password). */
struct scram_cred {
	uint32_t iterations;
	uint32_t salt_len;
	uint8_t salt[SCRAM_MAX_SALT];
	uint8_t stored_key[SCRAM_MAX_HASH]; /* H(ClientKey) */
	uint8_t server_key[SCRAM_MAX_HASH]; /* HMAC(SaltedPassword, "Server Key") */
};

struct scram;

/* The mechanism an MQTT Authentication Method names ("SCRAM-SHA-256", "SCRAM-SHA-512", exact
 * case), or -1. */
int scram_mech_parse(struct sl_bytes name);
/* Its name. Never NULL. */
const char *scram_mech_name(enum scram_mech m);
/* Its hash output length: 32 or 64. */
size_t scram_hash_len(enum scram_mech m);

/* Hi(password, salt, iterations) = SaltedPassword, scram_hash_len(m) bytes into out; the same
 * as PBKDF2 with one block. Returns 0 or -EIO. */
int scram_salted_password(enum scram_mech m, const void *password, size_t len, const uint8_t *salt,
                          size_t salt_len, uint32_t iterations, uint8_t *out);
/* Fills cred's StoredKey and ServerKey from SaltedPassword (scram_hash_len(m) bytes); salt and
 * iterations are left to the caller. Returns 0 or -EIO. */
int scram_keys(enum scram_mech m, const uint8_t *salted, struct scram_cred *cred);

/* A new exchange for mechanism m, owned by the caller (scram_free()). NULL: out of memory. */
struct scram *scram_new(enum scram_mech m);
/* Frees s and wipes its keys. NULL is a no-op. */
void scram_free(struct scram *s);

/* Step 1: reads the client-first-message. Returns 0 with *user set to the user name (decoded,
 * NUL-terminated, valid UTF-8; owned by s, valid until scram_free()), -EINVAL when msg is not a
 * client-first-message, or -ENOTSUP when it asks for what is not supported (channel binding,
 * another authorization identity, a mandatory extension). */
int scram_client_first(struct scram *s, struct sl_bytes msg, const char **user);
/* Step 2: appends the server-first-message for cred (copied) to out. snonce is the server's
 * part of the nonce (printable ASCII but ','), NULL for 18 random bytes in base64 (tests pass
 * fixed ones). Returns 0, -ENOMEM, or -EIO (no randomness). After step 1 only. */
int scram_server_first(struct scram *s, const struct scram_cred *cred, const char *snonce,
                       struct sl_buf *out);
/* Step 3: checks the client-final-message: channel binding and nonce as sent, and the proof
 * against the StoredKey. Returns 0 with the server-final-message ("v=...") appended to out,
 * -EACCES for a wrong proof, -EINVAL when msg is not the client-final-message of this
 * exchange, or -ENOMEM / -EIO. After step 2 only; an exchange is over after it either way. */
int scram_client_final(struct scram *s, struct sl_bytes msg, struct sl_buf *out);

#endif
