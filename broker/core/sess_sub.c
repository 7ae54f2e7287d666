/* broker/core/sess_sub.c - the subscriptions a session remembers (s->subs), and their entries in
 * the index. Every operation is O(1) amortised whatever the count: a client may hold a million
 * filters, and adding, replacing or removing one must not scan the others (issue 10: 200,000
 * filters added by a linear scan each held a worker for minutes). Up to SCAN_MAX filters a scan
 * is cheaper than a table and costs no memory; past it an open-addressing table of indexes into
 * s->subs (in sess_x, which only such sessions need) finds a filter by its hash. */
#include <string.h>

#include "broker/core/broker.h"
#include "broker/core/node.h"
#include "broker/core/route.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "broker/index/topic.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"

#define SCAN_MAX 8

/* Normal subscriptions go in this worker's index, shared ones in the one index all workers
 * pick from; both name the session by address. Other workers may read a shared entry's
 * session (its id and online flag) only under share_mu: the entry leaves the index under that
 * lock before the session is freed. A cluster node tells the cluster of each entry that comes
 * or goes (a replaced one neither), before the SUBACK waits for the peers to know. */
static int
index_add(struct sess *s, const struct sess_sub *ss, bool *replaced)
{
	struct topic_sub ts = {(uint64_t)(uintptr_t)s, (uint16_t)s->w->idx, ss->options,
	                       ss->sub_id};
	struct broker *b = s->w->b;
	struct sl_bytes f, g;
	int rc;

	if (route_index_key(ss->filter, &f, &g) < 0)
		return -1;
	if (g.len == 0) {
		/* Counted before the index holds it: no PUBLISH after the SUBACK skips this worker.
		 */
		route_interest_add(s->w, f);
		rc = topic_tree_add(s->w->subs, f, g, &ts, replaced);
		if (rc < 0 || *replaced)
			route_interest_remove(s->w, f); /* counted already, or not held */
	} else {
		pthread_mutex_lock(&b->share_mu);
		rc = topic_tree_add(b->shared, f, g, &ts, replaced);
		if (rc == 0 && !*replaced)
			atomic_fetch_add(&b->n_shared, 1);
		pthread_mutex_unlock(&b->share_mu);
	}
	if (rc == 0 && !*replaced)
		node_route_change(b, f, g, 1);
	return rc;
}

static void
index_remove(struct sess *s, const char *filter)
{
	struct broker *b = s->w->b;
	struct sl_bytes f, g;
	int rc;

	if (route_index_key(filter, &f, &g) < 0)
		return;
	if (g.len == 0) {
		if ((rc = topic_tree_remove(s->w->subs, f, g, (uint64_t)(uintptr_t)s)) == 0)
			route_interest_remove(s->w, f);
	} else {
		pthread_mutex_lock(&b->share_mu);
		if ((rc = topic_tree_remove(b->shared, f, g, (uint64_t)(uintptr_t)s)) == 0)
			atomic_fetch_sub(&b->n_shared, 1);
		pthread_mutex_unlock(&b->share_mu);
	}
	if (rc == 0)
		node_route_change(b, f, g, -1);
}

/* The table of a session with many subscriptions: 1 + an index into s->subs per used slot,
 * linear probing by filter hash. It doubles without a pause: the old slots are moved a few at
 * a time by later changes (MIGRATE per change, twice what keeps ahead of the next doubling), so
 * no single SUBSCRIBE pays for rehashing a million filters. Every subscription is in exactly
 * one of the two tables. */
struct sub_index {
	uint32_t *slots;           /* cap slots */
	uint32_t cap;              /* a power of two, more than twice n_subs */
	uint32_t *old;             /* the table before the last doubling, being emptied; or NULL */
	uint32_t old_cap, old_pos; /* its size, and the first slot not yet moved */
};

#define MIGRATE 4
/* A removed entry of the old table: its slots are never shifted, only moved in order. */
#define TOMB UINT32_MAX

static uint32_t
home(uint32_t cap, const char *filter)
{
	return sess_hash(filter) & (cap - 1);
}

/* Puts subscription i (index into s->subs) in the current table, which has a free slot. */
static void
slot_put(struct sess *s, uint32_t i)
{
	struct sub_index *t = s->ext->sub_index;
	uint32_t k = home(t->cap, s->subs[i].filter);

	while (t->slots[k] != 0)
		k = (k + 1) & (t->cap - 1);
	t->slots[k] = i + 1;
}

/* Moves up to n slots of the old table into the current one. */
static void
migrate(struct sess *s, uint32_t n)
{
	struct sub_index *t = s->ext->sub_index;
	uint32_t v;

	for (; t->old != NULL && n > 0; n--) {
		v = t->old[t->old_pos];
		if (v != 0 && v != TOMB) {
			/* A tombstone where it was: probes of the old table still pass it (an empty
			 * slot stays empty, so no chain grows), and never find this copy again: the
			 * index it names could be reused by a removal's move. */
			t->old[t->old_pos] = TOMB;
			slot_put(s, v - 1);
		}
		t->old_pos++;
		if (t->old_pos == t->old_cap) {
			sl_free(t->old);
			t->old = NULL;
		}
	}
}

/* Doubles the table (or makes the first one, of the subscriptions held). Returns 0 or -1
 * (ENOMEM: the table in force still serves). */
static int
table_grow(struct sess *s)
{
	struct sess_x *x = sess_x(s);
	struct sub_index *t;
	uint32_t *slots, cap;

	if (x == NULL)
		return -1;
	if (x->sub_index == NULL && (x->sub_index = sl_calloc(1, sizeof(*t))) == NULL)
		return -1;
	t = x->sub_index;
	cap = t->cap != 0 ? t->cap * 2 : 4 * SCAN_MAX;
	if ((slots = sl_calloc(cap, sizeof(*slots))) == NULL)
		return -1;
	migrate(s, UINT32_MAX); /* seldom anything left: MIGRATE per change outruns growth */
	t->old = t->slots;
	t->old_cap = t->cap;
	t->old_pos = 0;
	t->slots = slots;
	t->cap = cap;
	if (t->old == NULL) /* the first table: a few scanned entries */
		for (uint32_t i = 0; i < s->n_subs; i++)
			slot_put(s, i);
	return 0;
}

/* The slot holding filter in table tab of cap slots, or UINT32_MAX. */
static uint32_t
probe(const struct sess *s, const uint32_t *tab, uint32_t cap, const char *filter)
{
	uint32_t k = home(cap, filter);

	for (; tab[k] != 0; k = (k + 1) & (cap - 1))
		if (tab[k] != TOMB && strcmp(s->subs[tab[k] - 1].filter, filter) == 0)
			return k;
	return UINT32_MAX;
}

static bool
has_table(const struct sess *s)
{
	return s->ext != NULL && s->ext->sub_index != NULL;
}

/* The slot that holds filter: in the current table, or (*old) in the old one. UINT32_MAX if
 * none does. */
static uint32_t
slot_find(const struct sess *s, const char *filter, bool *old)
{
	const struct sub_index *t = s->ext->sub_index;
	uint32_t k = probe(s, t->slots, t->cap, filter);

	*old = false;
	if (k != UINT32_MAX || t->old == NULL)
		return k;
	*old = true;
	return probe(s, t->old, t->old_cap, filter);
}

/* The index in s->subs of filter, or UINT32_MAX. */
static uint32_t
sub_find(const struct sess *s, const char *filter)
{
	uint32_t k;
	bool old;

	if (has_table(s)) {
		k = slot_find(s, filter, &old);
		if (k == UINT32_MAX)
			return k;
		return (old ? s->ext->sub_index->old[k] : s->ext->sub_index->slots[k]) - 1;
	}
	for (uint32_t i = 0; i < s->n_subs; i++)
		if (strcmp(s->subs[i].filter, filter) == 0)
			return i;
	return UINT32_MAX;
}

/* Empties slot k of the current table by backward shift, so its lookups need no tombstones. */
static void
slot_clear(struct sess *s, uint32_t k)
{
	struct sub_index *t = s->ext->sub_index;
	uint32_t mask = t->cap - 1, j = k, h;

	for (;;) {
		j = (j + 1) & mask;
		if (t->slots[j] == 0)
			break;
		h = home(t->cap, s->subs[t->slots[j] - 1].filter);
		/* The entry at j may move back to k unless its home lies in (k, j]. */
		if (((j - h) & mask) >= ((j - k) & mask)) {
			t->slots[k] = t->slots[j];
			k = j;
		}
	}
	t->slots[k] = 0;
}

/* Makes the slot naming filter name v instead (v = 0: frees it). */
static void
slot_set(struct sess *s, const char *filter, uint32_t v)
{
	uint32_t k;
	bool old;

	k = slot_find(s, filter, &old);
	SL_ASSERT(k != UINT32_MAX);
	if (old)
		s->ext->sub_index->old[k] = v != 0 ? v : TOMB;
	else if (v != 0)
		s->ext->sub_index->slots[k] = v;
	else
		slot_clear(s, k);
}

static void
table_free(struct sess *s)
{
	if (!has_table(s))
		return;
	sl_free(s->ext->sub_index->slots);
	sl_free(s->ext->sub_index->old);
	sl_free(s->ext->sub_index);
	s->ext->sub_index = NULL;
}

bool
sess_has_sub(const struct sess *s, const char *filter)
{
	return sub_find(s, filter) != UINT32_MAX;
}

/* Appends an entry for a copy of filter to s->subs (and the table). Returns it, or NULL. */
static struct sess_sub *
sub_append(struct sess *s, const char *filter)
{
	struct sess_sub *a;

	if (s->n_subs == s->cap_subs) {
		a = sl_realloc(s->subs, (s->cap_subs * 2 + 4) * sizeof(*a));
		if (a == NULL)
			return NULL;
		s->subs = a;
		s->cap_subs = s->cap_subs * 2 + 4;
	}
	if ((has_table(s) && (s->n_subs + 1) * 2 > s->ext->sub_index->cap) ||
	    (!has_table(s) && s->n_subs >= SCAN_MAX)) {
		if (table_grow(s) < 0)
			return NULL;
	}
	if ((s->subs[s->n_subs].filter = sl_strdup(filter)) == NULL)
		return NULL;
	if (has_table(s)) {
		migrate(s, MIGRATE);
		slot_put(s, s->n_subs);
	}
	return &s->subs[s->n_subs++];
}

int
sess_add_sub(struct sess *s, const char *filter, uint8_t options, uint32_t sub_id, bool *existed)
{
	uint32_t i = sub_find(s, filter);
	struct sess_sub *ss;

	*existed = i != UINT32_MAX;
	if (i != UINT32_MAX)
		ss = &s->subs[i];
	else if ((ss = sub_append(s, filter)) == NULL)
		return -1;
	/* [MQTT-3.8.4-3] a repeated filter replaces the subscription. */
	ss->options = options;
	ss->sub_id = sub_id;
	return index_add(s, ss, &(bool){false});
}

/* Drops subscription i from s->subs (its index entry is gone): the last one takes its place. */
static void
sub_drop(struct sess *s, uint32_t i)
{
	uint32_t last = s->n_subs - 1;

	if (has_table(s)) {
		migrate(s, MIGRATE);
		slot_set(s, s->subs[i].filter, 0);
		if (i != last) /* the last one's slot now names i */
			slot_set(s, s->subs[last].filter, i + 1);
	}
	sl_free(s->subs[i].filter);
	s->subs[i] = s->subs[last];
	s->n_subs--;
}

int
sess_remove_sub(struct sess *s, const char *filter)
{
	uint32_t i = sub_find(s, filter);

	if (i == UINT32_MAX)
		return -1;
	index_remove(s, filter);
	sub_drop(s, i);
	return 0;
}

bool
sess_clear_subs_until(struct sess *s, uint64_t deadline)
{
	uint32_t done = 0;

	table_free(s); /* nobody looks a filter up in a session being emptied */
	while (s->n_subs > 0) {
		/* The clock is read every 256 removals: a removal is well under a microsecond. */
		if (++done % 256 == 0 && uv_hrtime() >= deadline)
			return false;
		s->n_subs--;
		index_remove(s, s->subs[s->n_subs].filter);
		sl_free(s->subs[s->n_subs].filter);
	}
	return true;
}

void
sess_clear_subs(struct sess *s)
{
	sess_clear_subs_until(s, UINT64_MAX);
}
