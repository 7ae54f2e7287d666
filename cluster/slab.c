/* cluster/slab.c - pages of fixed-size records with a free list threaded through free records. */
#include "cluster/slab.h"

#include <string.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"

void
slab_init(struct slab *s, uint32_t size, uint64_t *bytes)
{
	SL_ASSERT(size >= sizeof(uint32_t));
	memset(s, 0, sizeof(*s));
	s->size = size;
	s->bytes = bytes;
	s->top = 1; /* index 0 means none */
}

void
slab_fini(struct slab *s)
{
	uint32_t i;

	for (i = 0; i < s->npage; i++)
		sl_free(s->page[i]);
	sl_free(s->page);
	*s->bytes -=
	        (uint64_t)s->npage * SLAB_PAGE * s->size + (uint64_t)s->cap_page * sizeof(*s->page);
	slab_init(s, s->size, s->bytes);
}

/* Appends a page. Returns 0, or -1 with s unchanged. */
static int
grow(struct slab *s)
{
	uint32_t cap = s->cap_page != 0 ? s->cap_page * 2 : 4;
	uint8_t **pages, *p;

	SL_ASSERT(s->npage < (1u << (32 - SLAB_SHIFT)) - 1); /* 32-bit indices */
	if (s->npage == s->cap_page) {
		pages = sl_realloc(s->page, (size_t)cap * sizeof(*pages));
		if (pages == NULL)
			return -1;
		*s->bytes += (uint64_t)(cap - s->cap_page) * sizeof(*pages);
		s->page = pages;
		s->cap_page = cap;
	}
	p = sl_malloc((size_t)SLAB_PAGE * s->size);
	if (p == NULL)
		return -1;
	*s->bytes += (uint64_t)SLAB_PAGE * s->size;
	s->page[s->npage++] = p;
	return 0;
}

uint32_t
slab_alloc(struct slab *s)
{
	uint32_t i;

	if (s->free != 0) {
		i = s->free;
		memcpy(&s->free, slab_at(s, i), sizeof(s->free));
	} else {
		if (s->top >= s->npage * SLAB_PAGE && grow(s) < 0)
			return 0;
		i = s->top++;
	}
	memset(slab_at(s, i), 0, s->size);
	s->live++;
	return i;
}

void
slab_free(struct slab *s, uint32_t i)
{
	SL_ASSERT(i != 0 && i < s->top && s->live > 0);
	if (--s->live == 0) {
		/* The pages of a table emptied by a clear go back; otherwise they stay for reuse.
		 */
		slab_fini(s);
		return;
	}
	memcpy(slab_at(s, i), &s->free, sizeof(s->free));
	s->free = i;
}
