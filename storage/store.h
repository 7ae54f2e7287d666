/* storage/store.h - the one interface for everything that outlives a connection or a process:
 * sessions, retained messages, delayed wills. Calls return at once and complete through a
 * callback on the caller's loop; the broker never knows which backend serves it.
 * Only the in-memory backend exists so far (issue: storage); the broker keeps sessions in
 * memory itself until the durable backends land. */
#ifndef STORE_H
#define STORE_H

#include <stdint.h>

struct store;

/* Completion of an asynchronous store call: status 0 or a negative errno. */
typedef void store_done_cb(void *arg, int status);

/* Backend kinds, chosen by configuration (persistence, session_store, retained_store). */
enum store_kind { STORE_MEM, STORE_FILE, STORE_PG, STORE_REDIS };

/* Returns a new store of kind, or NULL (ENOMEM or a kind not built in). Owned by the caller. */
struct store *store_new(enum store_kind kind);
void store_free(struct store *s);
enum store_kind store_kind(const struct store *s);

#endif
