/* cluster/rtable.h - the cluster's route table: for every node of the cluster (an origin: slot
 * 0 is this node, peers take slots 1..RTABLE_MAX_ORIGINS-1), the set of its routes, a route
 * being (filter, group) with a count. A group is empty for a non-shared subscription. One entry
 * per (origin, filter, group), never per subscriber. A PUBLISH's topic is matched once against
 * all origins together (one trie of filter levels; each leaf holds the origins that want it).
 *
 * Owned by the cluster loop: every call there, except rtable_maybe() (any thread, lock-free).
 * Memory target: under 150 bytes per remote route with a million routes (issue 14). */
#ifndef RTABLE_H
#define RTABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/base/sl_buf.h"

#define RTABLE_MAX_ORIGINS 64
#define RTABLE_SELF 0

struct rtable;

/* A new empty table, or NULL (ENOMEM). */
struct rtable *rtable_new(void);
/* Frees t and every entry. NULL is a no-op. */
void rtable_free(struct rtable *t);

/* The order-independent hash of one route, the term of an origin's digest (the digest is the
 * sum mod 2^64 of its routes' hashes, so adding or removing one is O(1) and both ends of a
 * link compute the same value whatever the order). Any thread, pure. */
uint64_t rtable_route_hash(struct sl_bytes filter, struct sl_bytes group);

/* Sets origin's route (filter, group) with count `count` (> 0), creating it if absent. Copies
 * the views. Returns 1 if it was created, 0 if it existed (its count replaced), -ENOMEM
 * (nothing changed), or -EINVAL for a count of 0 or a filter or group over 65,535 bytes.
 * Filters are not validated: a '#' that is not the last level never matches. */
int rtable_set(struct rtable *t, uint8_t origin, struct sl_bytes filter, struct sl_bytes group,
               uint32_t count);
/* Adds delta (+1 or -1 or any) to origin's (filter, group) count, creating the entry at a
 * positive result and removing it at 0 or below (a lost delta; the digest calls for a sync).
 * *now gets the count after (0 = removed or absent). Returns 1 if the entry was created, -1 if
 * it was removed, 0 otherwise, or -ENOMEM (nothing changed), or -ENOENT for a negative delta on
 * an absent entry, or -EINVAL as rtable_set(). */
int rtable_add(struct rtable *t, uint8_t origin, struct sl_bytes filter, struct sl_bytes group,
               int32_t delta, uint32_t *now);
/* Removes origin's (filter, group). Returns 0 or -ENOENT. */
int rtable_del(struct rtable *t, uint8_t origin, struct sl_bytes filter, struct sl_bytes group);
/* Removes every route of origin. */
void rtable_clear(struct rtable *t, uint8_t origin);

/* A full sync of origin's table: between begin and end, rtable_set() marks the routes it
 * names (so does an rtable_add() that leaves a route in place: a delta newer than the sync);
 * end removes origin's routes that were not named. Until end the old routes stay, so
 * the table is a superset of the origin's during a sync, never a half (no message is missed
 * while a sync is applied; an extra forward is matched by the receiver and dropped). */
void rtable_sync_begin(struct rtable *t, uint8_t origin);
void rtable_sync_end(struct rtable *t, uint8_t origin);

/* origin's route count and digest (see rtable_route_hash()). */
uint32_t rtable_count(const struct rtable *t, uint8_t origin);
uint64_t rtable_digest(const struct rtable *t, uint8_t origin);
/* Calls cb for each of origin's routes, in no particular order; stops early when cb returns
 * non-zero and returns that, else 0. The views are valid during the call only. Do not change
 * t from cb. */
int rtable_each(const struct rtable *t, uint8_t origin,
                int (*cb)(void *arg, struct sl_bytes filter, struct sl_bytes group, uint32_t count),
                void *arg);

/* A shared group that matched a topic: the origins with a route to (filter, group). */
struct rtable_shared {
	struct sl_bytes group, filter; /* views into t, valid until t changes */
	uint64_t origins;              /* bit o: origin o holds the route */
};
/* Matches topic (a topic name, [MQTT-4.7]: '+' and '#' match levels, a filter starting with
 * '+' or '#' does not match a topic starting with '$' [MQTT-4.7.2-1]) against every origin's
 * routes. Returns the bitmap of origins holding a matching non-shared route; calls on_shared
 * (may be NULL) once per matching shared (filter, group). */
uint64_t rtable_match(const struct rtable *t, struct sl_bytes topic,
                      void (*on_shared)(void *arg, const struct rtable_shared *sh), void *arg);

/* Whether rtable_match() on topic may find something worth a message to the cluster loop: a
 * non-shared route of another origin than RTABLE_SELF, or a shared route of any origin. false
 * is exact. Any thread, lock-free (atomic counters the cluster loop updates). */
bool rtable_maybe(const struct rtable *t, struct sl_bytes topic);

/* Heap bytes t holds (for the memory-per-route figure). */
uint64_t rtable_bytes(const struct rtable *t);

#endif
