/* broker/core/access.h - who may connect and what a session may read or write: the
 * password file and ACL in force (broker/auth/auth.h), loaded at start, swapped whole on SIGHUP,
 * old ones kept until exit so no check ever reads freed rules. Shared by all workers. */
#ifndef ACCESS_H
#define ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/auth/auth.h"
#include "proto/base/sl_msg.h"
#include "proto/mqtt.h"

struct broker;
struct worker;
struct sess;

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
uint8_t access_connect(struct worker *w, int listener, const struct mqtt_connect *p, uint8_t *v3rc);
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

#endif
