#include "broker/index/ltree.h"

#include <errno.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"

uint64_t
ltree_hash(uint64_t seed, struct sl_bytes l)
{
	uint64_t h = seed;
	uint32_t i;

	for (i = 0; i < l.len; i++)
		h = (h ^ l.p[i]) * 0x100000001b3ull; /* FNV-1a: levels are short */
	return h ^ (h >> 29);
}

struct ltree_node *
ltree_node_new(size_t size, size_t name_off, uint64_t seed, struct ltree_node *parent,
               struct sl_bytes l)
{
	struct ltree_node *c = sl_calloc(1, size + l.len);

	if (c == NULL)
		return NULL;
	SL_ASSERT(name_off >= sizeof(*c) && name_off <= size && name_off <= UINT16_MAX);
	SL_ASSERT(l.len <= UINT16_MAX); /* a level of a topic, which is at most 65,535 bytes */
	c->name_off = (uint16_t)name_off;
	if (l.len > 0)
		memcpy((uint8_t *)c + name_off, l.p, l.len);
	c->len = (uint16_t)l.len;
	c->hv = ltree_hash(seed, l);
	c->parent = parent;
	return c;
}

void
ltree_node_fini(struct ltree_node *n)
{
	sl_free(n->bucket);
}

/* The bucket of hash hv. A doubling splits the buckets of the lower half one by one (linear
 * hashing): a bucket not yet split still holds the children of both halves. */
static uint32_t
slot(const struct ltree_node *n, uint64_t hv)
{
	uint32_t b = (uint32_t)hv & (n->nbucket / 2 - 1);

	return b < n->split ? (uint32_t)hv & (n->nbucket - 1) : b;
}

struct ltree_node *
ltree_find(const struct ltree_node *n, uint64_t seed, struct sl_bytes l)
{
	struct ltree_node *c;
	uint64_t hv;

	if (n->nkid == 0)
		return NULL;
	hv = ltree_hash(seed, l);
	for (c = n->bucket[slot(n, hv)]; c != NULL; c = c->next)
		if (c->hv == hv && c->len == l.len &&
		    (l.len == 0 || !memcmp(ltree_name(c), l.p, l.len)))
			return c;
	return NULL;
}

/* Splits up to count buckets of the doubling under way: bucket b keeps the children whose
 * hash says b under the doubled mask and hands the others to b + nbucket / 2. */
static void
split_some(struct ltree_node *n, uint32_t count)
{
	uint32_t half = n->nbucket / 2;
	struct ltree_node **from, *c;

	for (; count > 0 && n->split < half; count--, n->split++) {
		from = &n->bucket[n->split];
		while ((c = *from) != NULL) {
			if ((c->hv & (n->nbucket - 1)) == n->split) {
				from = &c->next;
				continue;
			}
			*from = c->next;
			c->next = n->bucket[n->split + half];
			n->bucket[n->split + half] = c;
		}
	}
}

/* Doubles the bucket array when the children outnumber it; the buckets are split later, two
 * per added child, which finishes before the next doubling is due. */
int
ltree_reserve(struct ltree_node *n)
{
	uint32_t nb = n->nbucket != 0 ? n->nbucket * 2 : 2;
	struct ltree_node **b;

	if (n->nkid < n->nbucket) {
		split_some(n, 2);
		return 0;
	}
	if (n->nbucket != 0)
		split_some(n, UINT32_MAX); /* seldom anything left (see above) */
	b = sl_realloc(n->bucket, (size_t)nb * sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	memset(b + n->nbucket, 0, (size_t)(nb - n->nbucket) * sizeof(*b));
	n->bucket = b;
	n->split = n->nbucket != 0 ? 0 : 1; /* the first pair of buckets needs no split */
	n->nbucket = nb;
	return 0;
}

int
ltree_add_child(struct ltree_node *n, struct ltree_node *c)
{
	struct ltree_node **b;
	int rc;

	if ((rc = ltree_reserve(n)) < 0)
		return rc;
	b = &n->bucket[slot(n, c->hv)];
	c->next = *b;
	*b = c;
	n->nkid++;
	return 0;
}

void
ltree_unlink_child(struct ltree_node *n, struct ltree_node *c)
{
	struct ltree_node **cp = &n->bucket[slot(n, c->hv)];

	while (*cp != c)
		cp = &(*cp)->next;
	*cp = c->next;
	n->nkid--;
}

struct ltree_node *
ltree_next_child(const struct ltree_node *n, const struct ltree_node *c)
{
	uint32_t i = 0;

	if (c != NULL) {
		if (c->next != NULL)
			return c->next;
		i = slot(n, c->hv) + 1;
	}
	for (; i < n->nbucket; i++)
		if (n->bucket[i] != NULL)
			return n->bucket[i];
	return NULL;
}

struct ltree_node *
ltree_pop_child(struct ltree_node *n)
{
	struct ltree_node *c;

	for (; n->nbucket > 0; n->nbucket--) {
		if ((c = n->bucket[n->nbucket - 1]) != NULL) {
			n->bucket[n->nbucket - 1] = c->next;
			return c;
		}
	}
	return NULL;
}
