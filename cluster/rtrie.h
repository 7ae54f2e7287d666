/* cluster/rtrie.h - the trie of filter levels under the route table (cluster/rtable.c), shared
 * by every origin. Nodes are 32-byte slab records named by 32-bit index (cluster/slab.h); the
 * root is index RTRIE_ROOT and lives outside the slab, so a child index is never 0 and 0 means
 * none. The children of every node are found through one open-addressing table keyed by
 * (parent, level name) under a per-trie seed. A node stays while it has children or routes
 * (rtable.c's, listed from n->entries); rtrie_prune() frees it when it has neither. One owner
 * (the cluster loop), no locks. */
#ifndef RTRIE_H
#define RTRIE_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/slab.h"
#include "proto/base/sl_buf.h"

#define RTRIE_ROOT 0
#define RTRIE_PLUS 1 /* has a '+' child */
#define RTRIE_HASH 2 /* has a '#' child */
#define RTRIE_HEAP 4 /* name[] holds a pointer to the name */
#define RTRIE_NAME_INLINE 13

/* A filter level. 32 bytes: a million filters of four or five levels make two million nodes. */
struct rtrie_node {
	uint32_t parent;  /* RTRIE_ROOT for a first level */
	uint32_t hv;      /* the key hash of (parent, name): its place in the table */
	uint32_t entries; /* the owner's: first route ending here, 0 = none */
	uint32_t nkid;    /* children, '+' and '#' included */
	uint16_t len;     /* of the name: a filter is at most 65,535 bytes */
	uint8_t flags;
	uint8_t name[RTRIE_NAME_INLINE]; /* the name if len <= RTRIE_NAME_INLINE, else a pointer */
};

struct rtrie {
	struct rtrie_node *root; /* owned */
	struct slab nodes;
	uint32_t *slot; /* children of every node: node indices, 0 = empty, linear probing */
	uint32_t nslot; /* a power of two, or 0 */
	uint64_t seed;
	uint64_t *bytes; /* the owner's heap byte counter (borrowed), kept up to date */
};

/* An empty trie counting its heap bytes in *bytes. Returns 0 or -ENOMEM. */
int rtrie_init(struct rtrie *tr, uint64_t seed, uint64_t *bytes);
/* Frees every node, whatever its entries (the owner frees those). */
void rtrie_fini(struct rtrie *tr);

/* Node x; valid until x is freed. */
static inline struct rtrie_node *
rtrie_at(const struct rtrie *tr, uint32_t x)
{
	return x == RTRIE_ROOT ? tr->root : slab_at(&tr->nodes, x);
}

/* FNV-1a 64 of b from h, and MurmurHash3's 64-bit finalizer. Pure. */
uint64_t rtrie_fnv(uint64_t h, struct sl_bytes b);
uint64_t rtrie_mix(uint64_t x);

/* n's level name: a view into n or its heap copy, valid while n is. */
struct sl_bytes rtrie_name(const struct rtrie_node *n);
/* Returns parent's child named l, or 0. */
uint32_t rtrie_child(const struct rtrie *tr, uint32_t parent, struct sl_bytes l);
/* Returns the node of filter's last level, or 0 if filter is not in the trie. */
uint32_t rtrie_find(const struct rtrie *tr, struct sl_bytes filter);
/* Finds or creates the nodes of filter. Returns the last one, or 0 (ENOMEM) with nothing left
 * created: the caller must give it an entry or rtrie_prune() it. */
uint32_t rtrie_make(struct rtrie *tr, struct sl_bytes filter);
/* Frees x and its ancestors while they have neither entries nor children; the root stays. */
void rtrie_prune(struct rtrie *tr, uint32_t x);
/* After removals: shrinks the child table to a load of 1/8 or more (all of it when empty). */
void rtrie_shrink(struct rtrie *tr);
/* Spells the filter ending at leaf (not the root) into buf, which must hold it (cap bytes:
 * size it for the longest filter made). Returns the view of buf. */
struct sl_bytes rtrie_filter(const struct rtrie *tr, uint32_t leaf, uint8_t *buf, uint32_t cap);
/* The first level of the filter ending at leaf. */
struct sl_bytes rtrie_first(const struct rtrie *tr, uint32_t leaf);

#endif
