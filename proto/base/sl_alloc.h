/* proto/base/sl_alloc.h - the project's allocator: counted heap bytes (for $SYS) and a failure
 * hook for tests. Safe from any thread. */
#ifndef SL_ALLOC_H
#define SL_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/* Like malloc/calloc/realloc/free; sl_free(NULL) is a no-op. */
void *sl_malloc(size_t size);
void *sl_calloc(size_t nmemb, size_t size);
void *sl_realloc(void *p, size_t size);
void sl_free(void *p);
/* Returns a new NUL-terminated copy of the len bytes at s (owned by the caller), or NULL. */
char *sl_strndup(const char *s, size_t len);
char *sl_strdup(const char *s);

/* Bytes currently allocated through sl_* (approximate, relaxed atomics). */
uint64_t sl_alloc_bytes(void);

/* Test hook: when set, called before each allocation; returning nonzero makes it fail. */
typedef int sl_alloc_fail_cb(size_t size);
void sl_alloc_set_fail_hook(sl_alloc_fail_cb *cb);

#endif
