#include "ltree.h"

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
	SL_ASSERT(name_off >= sizeof(*c) && name_off <= size);
	c->name_off = (uint32_t)name_off;
	if (l.len > 0)
		memcpy((uint8_t *)c + name_off, l.p, l.len);
	c->len = l.len;
	c->hv = ltree_hash(seed, l);
	c->parent = parent;
	return c;
}

void
ltree_node_fini(struct ltree_node *n)
{
	sl_free(n->bucket);
}

struct ltree_node *
ltree_find(const struct ltree_node *n, uint64_t seed, struct sl_bytes l)
{
	struct ltree_node *c;
	uint64_t hv;

	if (n->nkid == 0)
		return NULL;
	hv = ltree_hash(seed, l);
	for (c = n->bucket[hv & (n->nbucket - 1)]; c != NULL; c = c->next)
		if (c->hv == hv && c->len == l.len &&
		    (l.len == 0 || !memcmp(ltree_name(c), l.p, l.len)))
			return c;
	return NULL;
}

/* Doubles the bucket array when the children outnumber it. */
int
ltree_reserve(struct ltree_node *n)
{
	uint32_t nb = n->nbucket != 0 ? n->nbucket * 2 : 2, i;
	struct ltree_node **b, *c, *next;

	if (n->nkid < n->nbucket)
		return 0;
	b = sl_calloc(nb, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	for (i = 0; i < n->nbucket; i++) {
		for (c = n->bucket[i]; c != NULL; c = next) {
			next = c->next;
			c->next = b[c->hv & (nb - 1)];
			b[c->hv & (nb - 1)] = c;
		}
	}
	sl_free(n->bucket);
	n->bucket = b;
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
	b = &n->bucket[c->hv & (n->nbucket - 1)];
	c->next = *b;
	*b = c;
	n->nkid++;
	return 0;
}

void
ltree_unlink_child(struct ltree_node *n, struct ltree_node *c)
{
	struct ltree_node **cp = &n->bucket[c->hv & (n->nbucket - 1)];

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
		i = (uint32_t)(c->hv & (n->nbucket - 1)) + 1;
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
