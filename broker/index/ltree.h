/* broker/index/ltree.h - the level nodes shared by the subscription index (topic.c) and the
 * retained store (retain.c): a tree with one node per topic level, each node's children hashed by
 * name in a bucket array that doubles as they grow, a few buckets split per change so that no
 * single change rehashes a million children. A struct ltree_node is embedded as the first
 * member of its owner's node, which is found with container_of; the owner's node ends in the
 * level's name (a flexible array). No locks: the owner serializes access. */
#ifndef LTREE_H
#define LTREE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/base/sl_buf.h"

struct ltree_node {
	struct ltree_node *parent;
	struct ltree_node *next;    /* chain in the parent's bucket */
	struct ltree_node **bucket; /* hashed children; NULL while nbucket == 0 */
	uint64_t hv;                /* ltree_hash() of the name */
	uint32_t nbucket;           /* a power of two, or 0 */
	uint32_t nkid;              /* hashed children */
	uint32_t split; /* buckets below nbucket / 2 already split by the last doubling (ltree.c) */
	uint16_t len;   /* of the name: a level is at most a whole topic, 65,535 bytes */
	uint16_t name_off; /* bytes from this node to its name */
};

/* The name of n's level: len bytes, not NUL terminated. */
static inline const uint8_t *
ltree_name(const struct ltree_node *n)
{
	return (const uint8_t *)n + n->name_off;
}

/* Returns the hash of level l under the per-tree seed. */
uint64_t ltree_hash(uint64_t seed, struct sl_bytes l);

/* Allocates a zeroed owner node of `size` bytes plus l.len for the name, which starts name_off
 * bytes in (offsetof the owner's flexible array); the ltree_node must be at offset 0. Sets the
 * name, its hash under seed, and parent (without linking it: see ltree_add_child()). Returns
 * the embedded node, owned by the caller (free the owner with sl_free()), or NULL on ENOMEM. */
struct ltree_node *ltree_node_new(size_t size, size_t name_off, uint64_t seed,
                                  struct ltree_node *parent, struct sl_bytes l);
/* Frees the bucket array of n; n itself belongs to its owner. Its children must be gone. */
void ltree_node_fini(struct ltree_node *n);

/* Returns n's hashed child named l, or NULL. Hashes l only if n has hashed children. */
struct ltree_node *ltree_find(const struct ltree_node *n, uint64_t seed, struct sl_bytes l);
/* Makes room in n's buckets for one more child, and splits a few buckets of a doubling under
 * way. Returns 0, or -ENOMEM with n unchanged. */
int ltree_reserve(struct ltree_node *n);
/* Links c (from ltree_node_new(), parent n) into n's buckets; n borrows c until it is unlinked.
 * Returns 0, or -ENOMEM with n and c unchanged. */
int ltree_add_child(struct ltree_node *n, struct ltree_node *c);
/* Removes hashed child c from n's buckets. c stays the caller's. */
void ltree_unlink_child(struct ltree_node *n, struct ltree_node *c);
/* Returns the hashed child of n after c in bucket order (the first one if c is NULL), or NULL.
 * Visiting every child this way costs O(nbucket + nkid). */
struct ltree_node *ltree_next_child(const struct ltree_node *n, const struct ltree_node *c);
/* Detaches and returns one hashed child of n, or NULL when none is left. Only for teardown: it
 * shrinks nbucket as buckets empty (leaving nkid stale) so a wide node empties in linear time. */
struct ltree_node *ltree_pop_child(struct ltree_node *n);

#endif
