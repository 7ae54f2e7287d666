/* cluster/slab.h - fixed-size records addressed by a 32-bit index, in pages of SLAB_PAGE records:
 * no malloc header per record, and an index is half a pointer (the route table keeps a million
 * routes under 150 bytes each this way). Index 0 is never handed out, so it can mean "none".
 * Freed records are reused first; the pages go back to the heap when the last record is freed
 * (until then a freed record stays held, as malloc would hold it). One owner, no locks. */
#ifndef SLAB_H
#define SLAB_H

#include <stddef.h>
#include <stdint.h>

#define SLAB_SHIFT 10
#define SLAB_PAGE (1u << SLAB_SHIFT)

struct slab {
	uint8_t **page;  /* owned: npage pages of SLAB_PAGE * size bytes */
	uint64_t *bytes; /* the owner's heap byte counter, kept up to date */
	uint32_t size;   /* of a record, at least 4 (a free record holds the next free index) */
	uint32_t npage, cap_page;
	uint32_t top;  /* indices below top were handed out at least once */
	uint32_t free; /* first free record, 0 = none */
	uint32_t live; /* records handed out and not freed */
};

/* An empty slab of records of size bytes; bytes (borrowed, outlives s) counts its pages. */
void slab_init(struct slab *s, uint32_t size, uint64_t *bytes);
/* Frees every page; s is empty afterwards. */
void slab_fini(struct slab *s);
/* Returns the index of a zeroed record, or 0 (ENOMEM, s unchanged). */
uint32_t slab_alloc(struct slab *s);
/* Returns record i (from slab_alloc(), not freed) to s. */
void slab_free(struct slab *s, uint32_t i);

/* The record at index i; valid until i is freed (pages never move). */
static inline void *
slab_at(const struct slab *s, uint32_t i)
{
	return s->page[i >> SLAB_SHIFT] + (size_t)(i & (SLAB_PAGE - 1)) * s->size;
}

#endif
