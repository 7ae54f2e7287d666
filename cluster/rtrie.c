/* cluster/rtrie.c - the trie of filter levels: slab nodes, one child table for all of them. */
#include "cluster/rtrie.h"

#include <errno.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/mqtt_topic.h"

#define MIN_SLOTS 16u

/* MurmurHash3's 64-bit finalizer: every input bit flips each output bit with p ~ 1/2. */
uint64_t
rtrie_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

uint64_t
rtrie_fnv(uint64_t h, struct sl_bytes b)
{
	uint32_t i;

	for (i = 0; i < b.len; i++)
		h = (h ^ b.p[i]) * 0x100000001b3ull; /* FNV-1a 64 */
	return h;
}

/* Seeded per table, so that which filters collide cannot be precomputed by a client. */
static uint32_t
key_hash(const struct rtrie *tr, uint32_t parent, struct sl_bytes l)
{
	return (uint32_t)rtrie_mix(rtrie_fnv(tr->seed ^ ((uint64_t)parent << 17), l));
}

static bool
level_is(struct sl_bytes l, char c)
{
	return l.len == 1 && l.p[0] == (uint8_t)c;
}

struct sl_bytes
rtrie_name(const struct rtrie_node *n)
{
	const uint8_t *p = n->name;

	if (n->flags & RTRIE_HEAP)
		memcpy(&p, n->name, sizeof(p));
	return sl_bytes_make(p, n->len);
}

/* Returns parent's child named l, or 0. */
uint32_t
rtrie_child(const struct rtrie *tr, uint32_t parent, struct sl_bytes l)
{
	uint32_t hv, i, x, mask = tr->nslot - 1;
	struct sl_bytes name;
	struct rtrie_node *c;

	if (rtrie_at(tr, parent)->nkid == 0)
		return 0;
	hv = key_hash(tr, parent, l);
	for (i = hv & mask; (x = tr->slot[i]) != 0; i = (i + 1) & mask) {
		c = rtrie_at(tr, x);
		if (c->hv != hv || c->parent != parent || c->len != l.len)
			continue;
		name = rtrie_name(c);
		if (l.len == 0 || memcmp(name.p, l.p, l.len) == 0)
			return x;
	}
	return 0;
}

static void
slot_put(uint32_t *slot, uint32_t nslot, uint32_t x, uint32_t hv)
{
	uint32_t i;

	for (i = hv & (nslot - 1); slot[i] != 0; i = (i + 1) & (nslot - 1))
		;
	slot[i] = x;
}

/* Rehashes into nslot slots. Returns 0, or -ENOMEM with tr unchanged. */
static int
slots_resize(struct rtrie *tr, uint32_t nslot)
{
	uint32_t *slot = NULL, i;

	if (nslot > 0 && (slot = sl_calloc(nslot, sizeof(*slot))) == NULL)
		return -ENOMEM;
	for (i = 0; i < tr->nslot; i++)
		if (tr->slot[i] != 0)
			slot_put(slot, nslot, tr->slot[i], rtrie_at(tr, tr->slot[i])->hv);
	sl_free(tr->slot);
	*tr->bytes += (uint64_t)nslot * sizeof(*slot);
	*tr->bytes -= (uint64_t)tr->nslot * sizeof(*slot);
	tr->slot = slot;
	tr->nslot = nslot;
	return 0;
}

/* Room for one more node at a load of at most 3/4. Returns 0 or -ENOMEM. */
static int
slots_reserve(struct rtrie *tr)
{
	uint64_t need = (uint64_t)tr->nodes.live + 1;

	if (need * 4 <= (uint64_t)tr->nslot * 3)
		return 0;
	return slots_resize(tr, tr->nslot != 0 ? tr->nslot * 2 : MIN_SLOTS);
}

/* Halves the table while its load is under 1/8 (growth is at 3/4: no flapping). */
void
rtrie_shrink(struct rtrie *tr)
{
	uint32_t n = tr->nslot;

	if (tr->nodes.live == 0) {
		slots_resize(tr, 0);
		return;
	}
	while (n > MIN_SLOTS && (uint64_t)tr->nodes.live * 4 < n / 2)
		n /= 2;
	if (n != tr->nslot)
		(void)slots_resize(tr, n); /* on ENOMEM the larger table stays, still correct */
}

/* Backward-shift deletion: no tombstones, so probes stay short after churn. */
static void
slot_remove(struct rtrie *tr, uint32_t x)
{
	uint32_t mask = tr->nslot - 1, i, j, home, y;

	for (i = rtrie_at(tr, x)->hv & mask; tr->slot[i] != x; i = (i + 1) & mask)
		;
	for (j = (i + 1) & mask; (y = tr->slot[j]) != 0; j = (j + 1) & mask) {
		home = rtrie_at(tr, y)->hv & mask;
		/* y may move back to i unless its home lies cyclically in (i, j]. */
		if (((j - home) & mask) < ((j - i) & mask))
			continue;
		tr->slot[i] = y;
		i = j;
	}
	tr->slot[i] = 0;
}

static void
node_free(struct rtrie *tr, uint32_t x)
{
	struct rtrie_node *n = rtrie_at(tr, x);
	struct sl_bytes name = rtrie_name(n);

	if (n->flags & RTRIE_HEAP) {
		sl_free((void *)name.p);
		*tr->bytes -= name.len;
	}
	slab_free(&tr->nodes, x);
}

/* Frees x and its ancestors while they hold nothing; the root stays. */
void
rtrie_prune(struct rtrie *tr, uint32_t x)
{
	struct rtrie_node *n, *parent;
	struct sl_bytes name;
	uint32_t gone;

	while (x != RTRIE_ROOT) {
		n = rtrie_at(tr, x);
		if (n->entries != 0 || n->nkid != 0)
			return;
		parent = rtrie_at(tr, n->parent);
		name = rtrie_name(n);
		if (level_is(name, '+'))
			parent->flags &= (uint8_t)~RTRIE_PLUS;
		else if (level_is(name, '#'))
			parent->flags &= (uint8_t)~RTRIE_HASH;
		parent->nkid--;
		slot_remove(tr, x);
		gone = x;
		x = n->parent;
		node_free(tr, gone);
	}
}

/* Creates parent's child named l. Returns its index, or 0 (ENOMEM, nothing changed). */
static uint32_t
node_new(struct rtrie *tr, uint32_t parent, struct sl_bytes l)
{
	uint8_t *heap = NULL;
	struct rtrie_node *n, *p;
	uint32_t x;

	if (slots_reserve(tr) < 0)
		return 0;
	if (l.len > RTRIE_NAME_INLINE) {
		if ((heap = sl_malloc(l.len)) == NULL)
			return 0;
		memcpy(heap, l.p, l.len);
	}
	if ((x = slab_alloc(&tr->nodes)) == 0) {
		sl_free(heap);
		return 0;
	}
	n = rtrie_at(tr, x);
	n->parent = parent;
	n->len = (uint16_t)l.len;
	n->hv = key_hash(tr, parent, l);
	if (heap != NULL) {
		n->flags = RTRIE_HEAP;
		memcpy(n->name, &heap, sizeof(heap));
		*tr->bytes += l.len;
	} else if (l.len > 0) {
		memcpy(n->name, l.p, l.len);
	}
	p = rtrie_at(tr, parent);
	p->nkid++;
	p->flags |= level_is(l, '+') ? RTRIE_PLUS : level_is(l, '#') ? RTRIE_HASH : 0;
	slot_put(tr->slot, tr->nslot, x, n->hv);
	return x;
}

/* Returns the leaf of filter, or 0 if no route uses it. */
uint32_t
rtrie_find(const struct rtrie *tr, struct sl_bytes filter)
{
	uint32_t x = RTRIE_ROOT, pos = 0;
	struct sl_bytes l;

	/* style: no "x != 0" in the condition: 0 is the root before the first level. */
	while (mqtt_topic_level_next(filter, &pos, &l))
		if ((x = rtrie_child(tr, x, l)) == 0)
			return 0;
	return x;
}

/* Finds or creates the leaf of filter. Returns it, or 0 (ENOMEM) with nothing left created. */
uint32_t
rtrie_make(struct rtrie *tr, struct sl_bytes filter)
{
	uint32_t x = RTRIE_ROOT, c, pos = 0;
	struct sl_bytes l;

	while (mqtt_topic_level_next(filter, &pos, &l)) {
		c = rtrie_child(tr, x, l);
		if (c == 0 && (c = node_new(tr, x, l)) == 0) {
			rtrie_prune(tr, x);
			return 0;
		}
		x = c;
	}
	return x;
}

struct sl_bytes
rtrie_filter(const struct rtrie *tr, uint32_t leaf, uint8_t *buf, uint32_t cap)
{
	uint32_t len = 0, end, x;
	struct sl_bytes name;
	struct rtrie_node *n;

	for (x = leaf; x != RTRIE_ROOT; x = n->parent) {
		n = rtrie_at(tr, x);
		len += n->len + 1u;
	}
	end = --len; /* leaf is not the root: a filter has a level */
	SL_ASSERT(len <= cap);
	for (x = leaf; x != RTRIE_ROOT; x = n->parent) {
		n = rtrie_at(tr, x);
		name = rtrie_name(n);
		end -= name.len;
		if (name.len > 0)
			memcpy(buf + end, name.p, name.len);
		if (end > 0)
			buf[--end] = '/';
	}
	return sl_bytes_make(buf, len);
}

struct sl_bytes
rtrie_first(const struct rtrie *tr, uint32_t leaf)
{
	struct rtrie_node *n;

	for (n = rtrie_at(tr, leaf); n->parent != RTRIE_ROOT; n = rtrie_at(tr, n->parent))
		;
	return rtrie_name(n);
}

int
rtrie_init(struct rtrie *tr, uint64_t seed, uint64_t *bytes)
{
	memset(tr, 0, sizeof(*tr));
	if ((tr->root = sl_calloc(1, sizeof(*tr->root))) == NULL)
		return -ENOMEM;
	slab_init(&tr->nodes, sizeof(struct rtrie_node), bytes);
	tr->seed = seed;
	tr->bytes = bytes;
	*bytes += sizeof(*tr->root);
	return 0;
}

void
rtrie_fini(struct rtrie *tr)
{
	struct rtrie_node *n;
	uint32_t i;

	/* Every node but the root is in the table: no walk of the trie, however deep. */
	for (i = 0; i < tr->nslot; i++) {
		if (tr->slot[i] == 0)
			continue;
		n = rtrie_at(tr, tr->slot[i]);
		if (n->flags & RTRIE_HEAP) {
			*tr->bytes -= n->len;
			sl_free((void *)rtrie_name(n).p);
		}
	}
	sl_free(tr->slot);
	*tr->bytes -= (uint64_t)tr->nslot * sizeof(*tr->slot);
	slab_fini(&tr->nodes);
	*tr->bytes -= sizeof(*tr->root);
	sl_free(tr->root);
	tr->root = NULL;
}
