/* broker/core/owner.h - the session registry: which worker owns each client id, and where a
 * new session is placed. A client id has one owner at a time; a CONNECT for it anywhere is
 * handed to that worker, so takeover and resume never cross loops.
 *
 * Placement (worker_placement): `pack` (the default) gives a new session to the first worker,
 * in index order, whose loop was busy less than a third of the last tick, so at moderate load
 * publishers and subscribers share one loop and a message needs no hand-off between threads
 * (issue 13: each hand-off costs the receiving thread a wake-up, a third more broker CPU than
 * Mosquitto at 10,000 msg/s); workers fill up in turn as load grows. `hash` spreads new
 * sessions by client id hash, whatever the load. A session never moves once placed. Under
 * pack a worker's thread starts when placement first picks it (worker_activate()).
 *
 * Threads: every function may be called from any worker (one mutex per stripe; called once
 * per CONNECT and per session end, never per message). With one worker there is no registry
 * (b->owners NULL): worker 0 owns everything. */
#ifndef OWNER_H
#define OWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct owner_table;

struct owner_table *owner_new(void);
/* Frees t and its entries; no worker runs any more. NULL is a no-op. */
void owner_free(struct owner_table *t);
/* The owner of id[0, len) in *owner: its registered worker, else `want`, registered now.
 * Returns 1 when it registered want, 0 when id had an owner, -ENOMEM (*owner = want, not
 * registered). */
int owner_claim(struct owner_table *t, const char *id, size_t len, uint32_t want, uint32_t *owner);
/* id[0, len)'s registered owner in *owner: returns true, or false when it has none. */
bool owner_find(struct owner_table *t, const char *id, size_t len, uint32_t *owner);
/* Forgets id's owner if it is w (a session that ended on w, or a CONNECT that claimed and
 * got none). The caller, on w's loop, knows w holds no session for id. */
void owner_release(struct owner_table *t, const char *id, size_t len, uint32_t w);
/* How many ids are registered (for $SYS and tests). */
size_t owner_count(struct owner_table *t);
/* Where a new session goes, by worker_placement and the workers' load. Any loop. */
uint32_t owner_place(struct broker *b, const char *id, size_t len);

#endif
