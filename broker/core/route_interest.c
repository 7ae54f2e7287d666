/* broker/core/route_interest.c - each worker's interest summary: which topics its index may
 * match, readable by every other worker without a lock, so that a PUBLISH is posted only to the
 * workers that can have a subscriber for it (issue 12/13: posting to all cost a wake-up each on
 * workers that had none).
 *
 * A filter counts in one of three places, by its literal prefix: a filter whose first level is
 * a wildcard in `wild`; one whose second level is a wildcard or missing ("a", "a/+", "a/#") in
 * one[hash(first level)]; any other in two[hash(first two levels)]. A topic can match a filter
 * of this worker only if wild (not for "$" topics, [MQTT-4.7.2-1]), one[its first level] or
 * two[its first two levels] is non-zero. Counters never miss a filter, they may only collide:
 * a false positive costs one needless post, the receiving worker matches and finds nobody.
 *
 * Ordering: the owner counts a filter before the index holds it and before its SUBACK, with
 * sequentially consistent increments; a publisher reads with acquire loads, so a PUBLISH sent
 * after that SUBACK was seen finds the count (as route.c's per-worker index did before). */
#include <stdatomic.h>
#include <string.h>

#include "broker/core/route.h"
#include "broker/core/worker.h"
#include "proto/base/sl_alloc.h"

#define SLOTS 4096 /* per table: 16 KB each, two per worker */

struct route_interest {
	atomic_uint total; /* every filter: 0 = skip the rest (an idle worker under `pack`) */
	atomic_uint wild;
	atomic_uint one[SLOTS];
	atomic_uint two[SLOTS];
};

struct route_interest *
route_interest_new(void)
{
	struct route_interest *ri = sl_malloc(sizeof(*ri));
	size_t i;

	if (ri == NULL)
		return NULL;
	atomic_init(&ri->total, 0);
	atomic_init(&ri->wild, 0);
	for (i = 0; i < SLOTS; i++) {
		atomic_init(&ri->one[i], 0);
		atomic_init(&ri->two[i], 0);
	}
	return ri;
}

void
route_interest_free(struct route_interest *ri)
{
	sl_free(ri);
}

/* FNV-1a of p[0, len), folded to a slot. */
static uint32_t
slot(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return (h ^ (h >> 16)) & (SLOTS - 1);
}

/* The length of the first level of p[0, len) (up to '/' or the end). */
static size_t
level_len(const uint8_t *p, size_t len)
{
	const uint8_t *e = memchr(p, '/', len);

	return e != NULL ? (size_t)(e - p) : len;
}

static bool
is_wild(const uint8_t *p, size_t len)
{
	return len == 1 && (p[0] == '+' || p[0] == '#');
}

/* The counter filter f counts in. */
static atomic_uint *
counter(struct route_interest *ri, struct sl_bytes f)
{
	size_t l1 = level_len(f.p, f.len), l2;

	if (is_wild(f.p, l1))
		return &ri->wild;
	if (l1 == f.len)
		return &ri->one[slot(f.p, l1)];
	l2 = level_len(f.p + l1 + 1, f.len - l1 - 1);
	if (is_wild(f.p + l1 + 1, l2))
		return &ri->one[slot(f.p, l1)];
	return &ri->two[slot(f.p, l1 + 1 + l2)];
}

void
route_interest_add(struct worker *w, struct sl_bytes filter)
{
	atomic_fetch_add(counter(w->interest, filter), 1);
	if (atomic_fetch_add(&w->interest->total, 1) == 0)
		atomic_fetch_add(&w->b->n_interested, 1);
}

void
route_interest_remove(struct worker *w, struct sl_bytes filter)
{
	if (atomic_fetch_sub(&w->interest->total, 1) == 1)
		atomic_fetch_sub(&w->b->n_interested, 1);
	atomic_fetch_sub(counter(w->interest, filter), 1);
}

bool
route_others_interested(const struct worker *w)
{
	unsigned self = atomic_load_explicit(&w->interest->total, memory_order_relaxed) > 0;

	return atomic_load_explicit(&w->b->n_interested, memory_order_acquire) > self;
}

bool
route_interested(const struct worker *w, struct sl_bytes topic)
{
	struct route_interest *ri = w->interest;
	size_t l1, l2;

	if (atomic_load_explicit(&ri->total, memory_order_acquire) == 0)
		return false;
	l1 = level_len(topic.p, topic.len);
	if ((topic.len == 0 || topic.p[0] != '$') &&
	    atomic_load_explicit(&ri->wild, memory_order_acquire) > 0)
		return true;
	if (atomic_load_explicit(&ri->one[slot(topic.p, l1)], memory_order_acquire) > 0)
		return true;
	if (l1 == topic.len)
		return false;
	l2 = level_len(topic.p + l1 + 1, topic.len - l1 - 1);
	return atomic_load_explicit(&ri->two[slot(topic.p, l1 + 1 + l2)], memory_order_acquire) > 0;
}
