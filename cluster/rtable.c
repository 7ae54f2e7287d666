/* cluster/rtable.c - the route table: one trie of filter levels for all origins (cluster/rtrie.h),
 * each level ending a filter listing its route entries (origin, group, count). Entries are
 * 32-byte slab records named by 32-bit index (cluster/slab.h), each also on its origin's list, so
 * that clearing or sweeping an origin costs its own routes only. Filter texts are not stored: a
 * trie path spells its filter, rebuilt on demand, except in the record of a shared (filter,
 * group), which rtable_match() hands out as views. */
#include "cluster/rtable.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "cluster/rtrie.h"
#include "cluster/slab.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/mqtt_topic.h"

#define ROOT RTRIE_ROOT
#define FIRST_BUCKETS 1024

/* One shared (filter, group) with every origin holding it: what on_shared gets. */
struct shared {
	struct rtable_shared sh; /* views into text; sh.origins: holders, one entry each */
	uint8_t text[];          /* the group, then the filter */
};

struct entry {
	struct shared *shared; /* NULL for a non-shared route */
	uint32_t node;         /* the leaf: the filter's last level */
	uint32_t leaf_next;    /* the leaf's next entry */
	uint32_t prev, next;   /* the origin's list */
	uint32_t count;
	uint8_t origin;
	uint8_t gen; /* the origin's generation when last set: rtable_sync_end() sweeps the rest */
};

struct origin {
	uint64_t digest;
	uint32_t head; /* first entry */
	uint32_t count;
	uint8_t gen;
};

/* What rtable_maybe() reads from any thread: routes worth a message to the cluster loop. */
struct summary {
	atomic_uint_fast32_t total;
	atomic_uint_fast32_t wild;                 /* whose filter starts with '+' or '#' */
	atomic_uint_fast32_t first[FIRST_BUCKETS]; /* by hash of the first level, the others */
};

struct step {
	uint32_t node, pos; /* a node reached, and where the rest of the topic starts */
};

struct rtable {
	struct rtrie trie;
	struct slab entries;
	struct step *stack; /* for rtable_match(): deepest filter + 2 */
	uint32_t stack_cap;
	uint8_t *scratch; /* a filter rebuilt from its leaf: longest filter */
	uint32_t scratch_cap;
	struct summary *sum; /* style: a pointer, so the const functions may still store to it */
	uint64_t bytes;
	struct origin origin[RTABLE_MAX_ORIGINS];
};

/* ---- helpers ---- */

uint64_t
rtable_route_hash(struct sl_bytes filter, struct sl_bytes group)
{
	uint64_t h = rtrie_fnv(0xcbf29ce484222325ull, filter);

	h = (h ^ 0) * 0x100000001b3ull; /* the separator: ("a", "b") differs from ("ab", "") */
	return rtrie_mix(rtrie_fnv(h, group));
}

static uint32_t
first_bucket(const struct rtable *t, struct sl_bytes l)
{
	return (uint32_t)rtrie_mix(rtrie_fnv(t->trie.seed, l)) & (FIRST_BUCKETS - 1);
}

static bool
level_is(struct sl_bytes l, char c)
{
	return l.len == 1 && l.p[0] == (uint8_t)c;
}

static struct rtrie_node *
node_at(const struct rtable *t, uint32_t x)
{
	return rtrie_at(&t->trie, x);
}

static struct entry *
entry_at(const struct rtable *t, uint32_t x)
{
	return slab_at(&t->entries, x);
}

static struct sl_bytes
filter_of(const struct rtable *t, uint32_t leaf)
{
	return rtrie_filter(&t->trie, leaf, t->scratch, t->scratch_cap);
}

/* Grows the match stack and the scratch buffer for filter, so that neither rtable_match() nor
 * a filter rebuilt from its leaf ever allocates. Returns 0 or -ENOMEM (t unchanged but them). */
static int
reserve(struct rtable *t, struct sl_bytes filter)
{
	uint32_t need = 3, i; /* the deepest stack is the levels + 2: see rtable_match() */
	struct step *st;
	uint8_t *sc;

	for (i = 0; i < filter.len; i++)
		need += filter.p[i] == '/';
	if (need > t->stack_cap) {
		if ((st = sl_realloc(t->stack, (size_t)need * sizeof(*st))) == NULL)
			return -ENOMEM;
		t->bytes += (uint64_t)(need - t->stack_cap) * sizeof(*st);
		t->stack = st;
		t->stack_cap = need;
	}
	if (filter.len > t->scratch_cap) {
		if ((sc = sl_realloc(t->scratch, filter.len)) == NULL)
			return -ENOMEM;
		t->bytes += filter.len - t->scratch_cap;
		t->scratch = sc;
		t->scratch_cap = filter.len;
	}
	return 0;
}

/* ---- entries ---- */

static bool
group_is(const struct shared *s, struct sl_bytes group)
{
	if (s == NULL)
		return group.len == 0;
	return s->sh.group.len == group.len && memcmp(s->sh.group.p, group.p, group.len) == 0;
}

/* Counts e in (d = 1) or out (d = -1) of the summary rtable_maybe() reads. */
static void
summary_add(struct rtable *t, const struct entry *e, int d)
{
	atomic_uint_fast32_t *c;
	struct sl_bytes l;

	if (e->origin == RTABLE_SELF && e->shared == NULL)
		return; /* our own non-shared routes are the broker's to deliver, not the cluster's
		         */
	l = rtrie_first(&t->trie, e->node);
	c = level_is(l, '+') || level_is(l, '#') ? &t->sum->wild
	                                         : &t->sum->first[first_bucket(t, l)];
	/* Release: a thread that saw the route through other means sees the counters too. */
	if (d > 0) {
		atomic_fetch_add_explicit(c, 1, memory_order_release);
		atomic_fetch_add_explicit(&t->sum->total, 1, memory_order_release);
	} else {
		atomic_fetch_sub_explicit(&t->sum->total, 1, memory_order_release);
		atomic_fetch_sub_explicit(c, 1, memory_order_release);
	}
}

/* Returns origin's entry for (leaf, group), or 0. */
static uint32_t
entry_find(const struct rtable *t, uint32_t leaf, uint8_t origin, struct sl_bytes group)
{
	struct entry *e;
	uint32_t x;

	for (x = node_at(t, leaf)->entries; x != 0; x = e->leaf_next) {
		e = entry_at(t, x);
		if (e->origin == origin && group_is(e->shared, group))
			return x;
	}
	return 0;
}

static uint32_t
lookup(const struct rtable *t, uint8_t origin, struct sl_bytes filter, struct sl_bytes group)
{
	uint32_t leaf = rtrie_find(&t->trie, filter);

	return leaf != 0 ? entry_find(t, leaf, origin, group) : 0;
}

static void
shared_free(struct rtable *t, struct shared *s)
{
	t->bytes -= sizeof(*s) + s->sh.group.len + s->sh.filter.len;
	sl_free(s);
}

/* The record of (filter, group) at leaf: another origin's, or a new one holding no origin yet.
 * NULL on ENOMEM. */
static struct shared *
shared_get(struct rtable *t, uint32_t leaf, struct sl_bytes filter, struct sl_bytes group)
{
	struct shared *s;
	struct entry *e;
	uint32_t x;

	for (x = node_at(t, leaf)->entries; x != 0; x = e->leaf_next) {
		e = entry_at(t, x);
		if (e->shared != NULL && group_is(e->shared, group))
			return e->shared;
	}
	if ((s = sl_malloc(sizeof(*s) + group.len + filter.len)) == NULL)
		return NULL;
	t->bytes += sizeof(*s) + group.len + filter.len;
	memcpy(s->text, group.p, group.len);
	if (filter.len > 0)
		memcpy(s->text + group.len, filter.p, filter.len);
	s->sh.group = sl_bytes_make(s->text, group.len);
	s->sh.filter = sl_bytes_make(s->text + group.len, filter.len);
	s->sh.origins = 0;
	return s;
}

/* Fills the new entry x and links it to its leaf, its origin and the summary. */
static void
entry_link(struct rtable *t, uint32_t x, uint32_t leaf, uint8_t origin, struct shared *s)
{
	struct origin *o = &t->origin[origin];
	struct entry *e = entry_at(t, x);
	struct rtrie_node *n = node_at(t, leaf);

	e->shared = s;
	e->node = leaf;
	e->origin = origin;
	e->gen = o->gen;
	e->leaf_next = n->entries;
	n->entries = x;
	e->next = o->head;
	if (o->head != 0)
		entry_at(t, o->head)->prev = x;
	o->head = x;
	o->count++;
	if (s != NULL)
		s->sh.origins |= 1ull << origin;
	summary_add(t, e, 1);
}

/* Creates origin's route. Returns 0, or -ENOMEM with t unchanged (but for spare capacity). */
static int
entry_create(struct rtable *t, uint8_t origin, struct sl_bytes filter, struct sl_bytes group,
             uint32_t count)
{
	struct shared *s = NULL;
	uint32_t leaf, x;

	if (reserve(t, filter) < 0 || (leaf = rtrie_make(&t->trie, filter)) == 0)
		return -ENOMEM;
	if (group.len > 0 && (s = shared_get(t, leaf, filter, group)) == NULL)
		goto fail_prune;
	if ((x = slab_alloc(&t->entries)) == 0)
		goto fail_shared;
	entry_link(t, x, leaf, origin, s);
	entry_at(t, x)->count = count;
	t->origin[origin].digest += rtable_route_hash(filter, group);
	return 0;
fail_shared:
	if (s != NULL && s->sh.origins == 0)
		shared_free(t, s);
fail_prune:
	rtrie_prune(&t->trie, leaf);
	return -ENOMEM;
}

/* Removes entry x, whose route hashes to hash, and the nodes left empty. */
static void
entry_remove(struct rtable *t, uint32_t x, uint64_t hash)
{
	struct entry *e = entry_at(t, x);
	struct origin *o = &t->origin[e->origin];
	uint32_t *link, leaf = e->node;

	summary_add(t, e, -1);
	for (link = &node_at(t, leaf)->entries; *link != x; link = &entry_at(t, *link)->leaf_next)
		;
	*link = e->leaf_next;
	if (e->prev != 0)
		entry_at(t, e->prev)->next = e->next;
	else
		o->head = e->next;
	if (e->next != 0)
		entry_at(t, e->next)->prev = e->prev;
	o->count--;
	o->digest -= hash;
	if (e->shared != NULL && (e->shared->sh.origins &= ~(1ull << e->origin)) == 0)
		shared_free(t, e->shared);
	slab_free(&t->entries, x);
	rtrie_prune(&t->trie, leaf);
}

/* The hash of x's route, its filter rebuilt unless a shared record holds it. */
static uint64_t
entry_hash(const struct rtable *t, uint32_t x)
{
	const struct entry *e = entry_at(t, x);

	if (e->shared != NULL)
		return rtable_route_hash(e->shared->sh.filter, e->shared->sh.group);
	return rtable_route_hash(filter_of(t, e->node), sl_bytes_make(NULL, 0));
}

/* ---- the table ---- */

struct rtable *
rtable_new(void)
{
	struct rtable *t = sl_calloc(1, sizeof(*t));
	struct timespec ts;
	uint64_t seed;

	if (t == NULL)
		return NULL;
	t->bytes = sizeof(*t);
	slab_init(&t->entries, sizeof(struct entry), &t->bytes);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	seed = rtrie_mix((uintptr_t)t ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30));
	if (rtrie_init(&t->trie, seed, &t->bytes) < 0)
		goto fail_free;
	if ((t->sum = sl_calloc(1, sizeof(*t->sum))) == NULL)
		goto fail_trie;
	t->bytes += sizeof(*t->sum);
	if (reserve(t, sl_bytes_make(NULL, 0)) < 0)
		goto fail_sum;
	return t;
fail_sum:
	sl_free(t->sum);
fail_trie:
	rtrie_fini(&t->trie);
fail_free:
	sl_free(t);
	return NULL;
}

void
rtable_free(struct rtable *t)
{
	struct entry *e;
	uint32_t i, x;

	if (t == NULL)
		return;
	for (i = 0; i < RTABLE_MAX_ORIGINS; i++)
		for (x = t->origin[i].head; x != 0; x = e->next) {
			e = entry_at(t, x);
			if (e->shared != NULL && (e->shared->sh.origins &= ~(1ull << i)) == 0)
				sl_free(e->shared);
		}
	slab_fini(&t->entries);
	rtrie_fini(&t->trie);
	sl_free(t->stack);
	sl_free(t->scratch);
	sl_free(t->sum);
	sl_free(t);
}

static int
check(uint8_t origin, struct sl_bytes filter, struct sl_bytes group)
{
	SL_ASSERT(origin < RTABLE_MAX_ORIGINS); /* slots are ours to hand out, not a peer's */
	return filter.len > MQTT_TOPIC_MAX || group.len > MQTT_TOPIC_MAX ? -EINVAL : 0;
}

int
rtable_set(struct rtable *t, uint8_t origin, struct sl_bytes filter, struct sl_bytes group,
           uint32_t count)
{
	struct entry *e;
	uint32_t x;
	int rc;

	if ((rc = check(origin, filter, group)) < 0)
		return rc;
	if (count == 0)
		return -EINVAL;
	if ((x = lookup(t, origin, filter, group)) == 0) {
		rc = entry_create(t, origin, filter, group, count);
		return rc < 0 ? rc : 1;
	}
	e = entry_at(t, x);
	e->count = count;
	e->gen = t->origin[origin].gen; /* named by the sync under way, if any */
	return 0;
}

int
rtable_add(struct rtable *t, uint8_t origin, struct sl_bytes filter, struct sl_bytes group,
           int32_t delta, uint32_t *now)
{
	struct entry *e;
	int64_t sum;
	uint32_t x;
	int rc;

	*now = 0;
	if ((rc = check(origin, filter, group)) < 0)
		return rc;
	if ((x = lookup(t, origin, filter, group)) == 0) {
		if (delta <= 0)
			return delta < 0 ? -ENOENT : 0;
		if ((rc = entry_create(t, origin, filter, group, (uint32_t)delta)) < 0)
			return rc;
		*now = (uint32_t)delta;
		return 1;
	}
	e = entry_at(t, x);
	sum = (int64_t)e->count + delta;
	if (sum <= 0) {
		/* Below zero means a delta was lost or doubled; the digest will call for a sync. */
		entry_remove(t, x, rtable_route_hash(filter, group));
		rtrie_shrink(&t->trie);
		return -1;
	}
	e->count = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
	e->gen = t->origin[origin].gen; /* it exists at the origin now: keep it through a sync */
	*now = e->count;
	return 0;
}

int
rtable_del(struct rtable *t, uint8_t origin, struct sl_bytes filter, struct sl_bytes group)
{
	uint32_t x;

	if (check(origin, filter, group) < 0 || (x = lookup(t, origin, filter, group)) == 0)
		return -ENOENT;
	entry_remove(t, x, rtable_route_hash(filter, group));
	rtrie_shrink(&t->trie);
	return 0;
}

void
rtable_clear(struct rtable *t, uint8_t origin)
{
	struct origin *o = &t->origin[origin];

	SL_ASSERT(origin < RTABLE_MAX_ORIGINS);
	while (o->head != 0)
		entry_remove(t, o->head, 0);
	o->digest = 0; /* the sum of nothing: the hashes were not worth computing one by one */
	rtrie_shrink(&t->trie);
}

void
rtable_sync_begin(struct rtable *t, uint8_t origin)
{
	SL_ASSERT(origin < RTABLE_MAX_ORIGINS);
	/* Every entry is at the old generation (creation and each set stamp the current one, the
	 * last end swept the others); a set moves one to the new. 8 bits: a begin without an end
	 * 255 times in a row could let a stale entry pass as named, a broken caller's problem. */
	t->origin[origin].gen++;
}

void
rtable_sync_end(struct rtable *t, uint8_t origin)
{
	struct origin *o = &t->origin[origin];
	struct entry *e;
	uint32_t x, next;

	SL_ASSERT(origin < RTABLE_MAX_ORIGINS);
	for (x = o->head; x != 0; x = next) {
		e = entry_at(t, x);
		next = e->next;
		if (e->gen != o->gen)
			entry_remove(t, x, entry_hash(t, x));
	}
	rtrie_shrink(&t->trie);
}

uint32_t
rtable_count(const struct rtable *t, uint8_t origin)
{
	SL_ASSERT(origin < RTABLE_MAX_ORIGINS);
	return t->origin[origin].count;
}

uint64_t
rtable_digest(const struct rtable *t, uint8_t origin)
{
	SL_ASSERT(origin < RTABLE_MAX_ORIGINS);
	return t->origin[origin].digest;
}

int
rtable_each(const struct rtable *t, uint8_t origin,
            int (*cb)(void *arg, struct sl_bytes filter, struct sl_bytes group, uint32_t count),
            void *arg)
{
	struct sl_bytes filter, group;
	struct entry *e;
	uint32_t x;
	int rc;

	SL_ASSERT(origin < RTABLE_MAX_ORIGINS);
	for (x = t->origin[origin].head; x != 0; x = e->next) {
		e = entry_at(t, x);
		filter = e->shared != NULL ? e->shared->sh.filter : filter_of(t, e->node);
		group = e->shared != NULL ? e->shared->sh.group : sl_bytes_make(NULL, 0);
		if ((rc = cb(arg, filter, group, e->count)) != 0)
			return rc;
	}
	return 0;
}

/* ---- matching ---- */

typedef void on_shared_cb(void *arg, const struct rtable_shared *sh);

static const uint8_t wild[2] = {'+', '#'};

static void
push(const struct rtable *t, uint32_t *sp, uint32_t x, uint32_t pos)
{
	SL_ASSERT(*sp < t->stack_cap); /* reserve() sized it for the deepest filter */
	t->stack[*sp].node = x;
	t->stack[*sp].pos = pos;
	(*sp)++;
}

/* The routes ending at x: returns the non-shared origins, reports each shared record once
 * (through the entry of its lowest origin). */
static uint64_t
report(const struct rtable *t, uint32_t x, on_shared_cb *on_shared, void *arg)
{
	const struct entry *e;
	uint64_t bits = 0;

	for (x = node_at(t, x)->entries; x != 0; x = e->leaf_next) {
		e = entry_at(t, x);
		if (e->shared == NULL)
			bits |= 1ull << e->origin;
		else if (on_shared != NULL && e->origin == __builtin_ctzll(e->shared->sh.origins))
			on_shared(arg, &e->shared->sh);
	}
	return bits;
}

/* Depth first with an explicit stack: a node pushes at most its '+' child and one literal
 * child, so the stack never holds more than the trie's depth + 2, however long the topic. */
uint64_t
rtable_match(const struct rtable *t, struct sl_bytes topic, on_shared_cb *on_shared, void *arg)
{
	bool dollar = topic.len > 0 && topic.p[0] == '$';
	uint32_t sp = 0, x, pos, c;
	uint64_t bits = 0;
	struct sl_bytes l;
	struct rtrie_node *n;

	push(t, &sp, ROOT, 0);
	while (sp > 0) {
		sp--;
		x = t->stack[sp].node;
		pos = t->stack[sp].pos;
		n = node_at(t, x);
		if (!mqtt_topic_level_next(topic, &pos, &l)) {
			/* All levels consumed: x's own filter matches, and so does "x/#". */
			bits |= report(t, x, on_shared, arg);
			if (n->flags & RTRIE_HASH)
				bits |= report(t,
				               rtrie_child(&t->trie, x, sl_bytes_make(&wild[1], 1)),
				               on_shared, arg);
			continue;
		}
		/* [MQTT-4.7.2-1] A leading wildcard does not match a '$' topic. */
		if (x != ROOT || !dollar) {
			if (n->flags & RTRIE_HASH)
				bits |= report(t,
				               rtrie_child(&t->trie, x, sl_bytes_make(&wild[1], 1)),
				               on_shared, arg);
			if (n->flags & RTRIE_PLUS)
				push(t, &sp, rtrie_child(&t->trie, x, sl_bytes_make(&wild[0], 1)),
				     pos);
		}
		/* A topic name holds no wildcard [MQTT-4.7.1-1]; if one does, '+' is not "+". */
		if (!level_is(l, '+') && !level_is(l, '#') &&
		    (c = rtrie_child(&t->trie, x, l)) != 0)
			push(t, &sp, c, pos);
	}
	return bits;
}

bool
rtable_maybe(const struct rtable *t, struct sl_bytes topic)
{
	struct sl_bytes first;
	uint32_t pos = 0;

	if (atomic_load_explicit(&t->sum->total, memory_order_acquire) == 0)
		return false;
	/* [MQTT-4.7.2-1] '+' or '#' first cannot match a '$' topic; any other non-$ topic, yes. */
	if ((topic.len == 0 || topic.p[0] != '$') &&
	    atomic_load_explicit(&t->sum->wild, memory_order_acquire) > 0)
		return true;
	/* A literal first level matches only the same first level: same bucket, never a miss. */
	mqtt_topic_level_next(topic, &pos, &first);
	return atomic_load_explicit(&t->sum->first[first_bucket(t, first)], memory_order_acquire) >
	       0;
}

uint64_t
rtable_bytes(const struct rtable *t)
{
	return t->bytes;
}
