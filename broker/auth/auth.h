/* broker/auth/auth.h - who may connect and what each client may publish, subscribe to and receive:
 * Mosquitto's password_file and acl_file, loaded into one immutable struct auth. Immutable once
 * loaded, so any thread may call the checks at the same time; a reload builds a new one.
 *
 * Password file (mosquitto_passwd(1), starling_passwd): one "user:hash" per line, the hash
 *  - "$7$ITER$SALT$HASH": PBKDF2-HMAC-SHA512 with ITER iterations (mosquitto 2.x, 101), or
 *  - "$6$SALT$HASH": SHA512(password || salt) (mosquitto 1.x, mosquitto_passwd -H sha512);
 *  SALT and HASH in base64, HASH 64 bytes. Blank lines and lines starting with '#' are skipped.
 *  As mosquitto, a line that cannot be used (no colon, a bad or plain-text hash, a user listed
 *  again: the first line counts) is skipped with a warning naming file and line; its user
 *  cannot log in with it, everyone else still can. Only an unreadable file fails the load.
 *
 * ACL file (mosquitto.conf(5) acl_file), semantics as mosquitto 2.0.11 behaves (checked):
 *  - "topic [read|write|readwrite|deny] FILTER" (no access word = readwrite; the rest of the
 *    line is the filter, so it may hold spaces), "pattern [..] FILTER", "user NAME", lines
 *    starting with '#' and blank lines. A line that cannot be used is skipped with a warning
 *    naming file:line, in a way that can only deny, never grant (issue 11): a missing or
 *    invalid filter matches nothing anyway; an unknown access word denies its filter; a user
 *    line without a name drops the topic lines after it (they must not fall to the section
 *    above); a line of unknown keyword (a misspelt topic, pattern or user line) denies its
 *    filter in its section and as a pattern, and drops the rest of its section.
 *  - topic lines before the first user line apply to clients without a user name only; after
 *    "user NAME", to clients that authenticated as NAME (a name may recur: its rules add up).
 *    A client with a user name that has no section gets no topic rules at all.
 *  - pattern lines apply to every client, wherever they stand; "%c" is replaced by the client
 *    id and "%u" by the user name, anywhere in the filter. A pattern holding "%u" never
 *    matches a client without a user name; no pattern matches a client whose id or user name
 *    holds '+' or '#' (it would act as a wildcard).
 *  - A request is checked against the client's topic rules, then the patterns: in each set a
 *    matching deny rule refuses it first, then a rule granting that access allows it. What no
 *    rule allows is denied. So a user's "readwrite a/#" beats a pattern "deny a/%u/x", but a
 *    "deny" in the same set wins wherever it stands (mosquitto's "deny is handled first").
 *  - No acl_file: everything is allowed. An acl_file (even empty): everything not allowed by a
 *    rule is denied, $SYS included.
 *  - A filter starting with a wildcard never matches a topic starting with '$' [MQTT-4.7.2-1].
 *
 * SUBSCRIBE (where mosquitto's acl_file grants every subscription and only filters deliveries):
 * a filter is refused when it provably can never deliver anything: a deny rule covers every
 * topic it matches, or no rule granting read overlaps it. "#" with only "read a/b" is granted
 * (and then delivers a/b only); "x/#" with only "read a/#" is refused. Deliveries are still
 * checked one by one (READ), so the outcome on the wire is mosquitto's but for the SUBACK code
 * of subscriptions that could only ever stay silent.
 *
 * SCRAM (MQTT 5 enhanced authentication: broker/scram.h, handle_auth.c) checks the same users.
 * A SCRAM server needs per user the salt, the iteration count, StoredKey and ServerKey, all from
 * SaltedPassword = Hi(password, salt, i). They come from:
 *  - a "$7$" line, for SCRAM-SHA-512 only, with scram_from_password_file true: that hash is
 *    PBKDF2-HMAC-SHA512(password, SALT, ITER) with 64 bytes of output, one SHA-512 block, and
 *    PBKDF2's first block is by definition Hi() with HMAC-SHA-512 (RFC 5802 2.2, RFC 2898 5.2:
 *    U1 = PRF(P, S || INT(1)), T1 = U1 ^ ... ^ Uc). So the hash is SaltedPassword once the
 *    client is told s=SALT and i=ITER (checked against mosquitto_passwd's files in the tests).
 *    The price, and why it is off by default: the file's hashes become password-equivalent for
 *    SCRAM-SHA-512 (whoever reads the file logs in without cracking it); keep the file as
 *    secret as plain-text passwords. Also, mosquitto_passwd's 101 iterations are under RFC
 *    7677's 4096, which some clients insist on. "$6$" lines cannot serve SCRAM at all.
 *  - a scram_file: lines "user:MECH:ITER:SALT:STOREDKEY:SERVERKEY", MECH SCRAM-SHA-256 or
 *    SCRAM-SHA-512, the last three in base64 (with padding), written by "starling_passwd -H
 *    scram-sha-256 FILE USER". The only way to SCRAM-SHA-256, and not password-equivalent. A
 *    line wins over "$7$" for its mechanism. It counts only while its user is in the
 *    password_file, which stays the one list of users (deleting a user there ends SCRAM too;
 *    a changed password must be changed in both files). Blank and '#' lines are skipped; a bad
 *    line or a repeated user and mechanism makes the whole file bad, as in the password file.
 * A mechanism is offered when a source of it is configured: SCRAM-SHA-256 with a scram_file,
 * SCRAM-SHA-512 with a scram_file or scram_from_password_file (else CONNACK 0x8C). A user who is
 * unknown, or has no credentials for the mechanism, gets a made-up salt that is the same on
 * every try, and fails only at the proof: the exchange does not tell which users exist. */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/auth/scram.h"
#include "proto/base/sl_buf.h"

struct auth;

enum auth_access {
	AUTH_READ = 1,      /* a message is delivered to the client: live, retained, a will */
	AUTH_WRITE = 2,     /* the client publishes to a topic (its will, when published) */
	AUTH_SUBSCRIBE = 4, /* the client subscribes to a filter ("$share/g/" split off) */
};

/* Iterations mosquitto_passwd 2.0 uses for "$7$", and what starling_passwd writes. */
#define AUTH_PBKDF2_ITERATIONS 101
/* Salt bytes mosquitto_passwd writes (and starling_passwd). Loading accepts 1..64. */
#define AUTH_SALT_LEN 12

/* Loads the password file at pw_path and the ACL file at acl_path; either may be NULL (not
 * configured). Blocking file I/O: call at start-up or on a reload, not per client. Returns a
 * new struct owned by the caller (auth_free()), or NULL with *err set to a new string owned by
 * the caller (sl_free()): "file:line: message", "file: strerror" or "out of memory". */
struct auth *auth_load(const char *pw_path, const char *acl_path, char **err);

/* Frees a. NULL is a no-op. Nobody may be using a any more. */
void auth_free(struct auth *a);

/* Whether a password file was loaded (possibly empty). a may be NULL: false. */
bool auth_has_passwords(const struct auth *a);

/* Whether an ACL file was loaded (possibly empty). a may be NULL: false. */
bool auth_has_acl(const struct auth *a);

/* Checks username (NUL-terminated) and the password's len bytes (NULL when the client sent
 * none) against the password file. Costs one hash of the user's kind (PBKDF2: its iterations),
 * also for an unknown user so timing does not tell which users exist. Returns 0, or -EACCES
 * for an unknown user, a missing or a wrong password, or when no password file is loaded. */
int auth_password(const struct auth *a, const char *username, const void *password, size_t len);

/* Whether the client client_id (never NULL), authenticated as username (NULL = anonymous), may
 * do access on topic: a topic name for READ and WRITE, a filter for SUBSCRIBE (valid ones;
 * checked with proto/mqtt_topic.h first). See the top of this file. a NULL or without an ACL
 * file allows everything. Does not allocate unless a substituted pattern exceeds 512 bytes;
 * running out of memory then denies. */
bool auth_acl(const struct auth *a, const char *client_id, const char *username,
              struct sl_bytes topic, enum auth_access access);

/* Adds SCRAM credentials to a, fresh from auth_load() and not shared yet: the scram_file at
 * scram_path (NULL = none) and, with from_password_file, "$7$" lines for SCRAM-SHA-512. Either
 * needs a password file in a. Blocking file I/O. Returns 0, or -1 with *err set as auth_load()
 * says (a keeps what was parsed: auth_free() it). */
int auth_load_scram(struct auth *a, const char *scram_path, bool from_password_file, char **err);

/* Whether a offers SCRAM mechanism m (see the top of this file). a may be NULL: false. */
bool auth_scram_offered(const struct auth *a, enum scram_mech m);

/* The SCRAM credentials of username for m into *cred. No hashing: cheap. Returns 0, or -ENOENT
 * with made-up ones (the same salt and iterations for the same user on the same a) when the
 * user is unknown, has none for m, or m is not offered. Any thread. */
int auth_scram_cred(const struct auth *a, const char *username, enum scram_mech m,
                    struct scram_cred *cred);

/* Writes the scram_file form of password (len bytes) for m, "MECH:ITER:SALT:STOREDKEY:SERVERKEY",
 * into out[outlen], NUL-terminated, with a new random salt of SCRAM_SALT_LEN bytes. Returns 0,
 * -ENOSPC if outlen is under 256, or -EIO if OpenSSL fails. */
int auth_scram_make(enum scram_mech m, const void *password, size_t len, uint32_t iterations,
                    char *out, size_t outlen);

/* Writes the password file hash of password (len bytes) into out[outlen], NUL-terminated:
 * "$7$ITER$SALT$HASH" with iterations > 0, or the salted SHA512 "$6$SALT$HASH" when iterations
 * is 0, with a new random salt of AUTH_SALT_LEN bytes. Returns 0, -ENOSPC if outlen is under
 * 160, or -EIO if OpenSSL fails (no randomness). */
int auth_hash_make(const void *password, size_t len, uint32_t iterations, char *out, size_t outlen);

#endif
