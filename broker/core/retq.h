/* broker/core/retq.h - retained messages due after SUBSCRIBE, fed to a session's queue a
 * page at a time as its connection drains. On the session's loop. */
#ifndef RETQ_H
#define RETQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sess;
struct sl_msg;

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

#endif
