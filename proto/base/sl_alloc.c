#include "sl_alloc.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* style: process-wide by design: the allocator hooks are the one allowed global (STYLE.md). */
static atomic_uint_fast64_t heap_bytes;
static sl_alloc_fail_cb *_Atomic fail_hook;

static int
should_fail(size_t size)
{
	sl_alloc_fail_cb *cb = atomic_load_explicit(&fail_hook, memory_order_relaxed);

	return cb != NULL && cb(size);
}

/* malloc_usable_size() avoids a size header, so pointers stay plain malloc pointers. */
static void
count_add(void *p)
{
	if (p != NULL)
		atomic_fetch_add_explicit(&heap_bytes, malloc_usable_size(p), memory_order_relaxed);
}

static void
count_sub(void *p)
{
	if (p != NULL)
		atomic_fetch_sub_explicit(&heap_bytes, malloc_usable_size(p), memory_order_relaxed);
}

void *
sl_malloc(size_t size)
{
	void *p;

	if (should_fail(size))
		return NULL;
	p = malloc(size);
	count_add(p);
	return p;
}

void *
sl_calloc(size_t nmemb, size_t size)
{
	void *p;

	if (should_fail(nmemb * size))
		return NULL;
	p = calloc(nmemb, size);
	count_add(p);
	return p;
}

void *
sl_realloc(void *p, size_t size)
{
	void *q;

	if (should_fail(size))
		return NULL;
	count_sub(p);
	q = realloc(p, size);
	if (q == NULL) {
		count_add(p);
		return NULL;
	}
	count_add(q);
	return q;
}

void
sl_free(void *p)
{
	count_sub(p);
	free(p);
}

char *
sl_strndup(const char *s, size_t len)
{
	char *d = sl_malloc(len + 1);

	if (d == NULL)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *
sl_strdup(const char *s)
{
	return sl_strndup(s, strlen(s));
}

uint64_t
sl_alloc_bytes(void)
{
	return atomic_load_explicit(&heap_bytes, memory_order_relaxed);
}

void
sl_alloc_set_fail_hook(sl_alloc_fail_cb *cb)
{
	atomic_store(&fail_hook, cb);
}
