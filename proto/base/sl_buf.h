/* proto/base/sl_buf.h - a growable byte buffer and a byte view. Not thread-safe: one owner. */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stddef.h>
#include <stdint.h>

/* A borrowed view of len bytes; never owns p. */
struct sl_bytes {
	const uint8_t *p;
	uint32_t len;
};

struct sl_buf {
	uint8_t *data; /* owned; NULL when cap == 0 */
	size_t len;
	size_t cap;
};

#define SL_BUF_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

/* Makes room for n more bytes. Returns 0 or -ENOMEM (the buffer is unchanged then). */
int sl_buf_reserve(struct sl_buf *b, size_t n);
/* Appends n bytes. Returns 0 or -ENOMEM. */
int sl_buf_append(struct sl_buf *b, const void *p, size_t n);
/* Drops the first n bytes (memmove of the rest). */
void sl_buf_consume(struct sl_buf *b, size_t n);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void sl_buf_fini(struct sl_buf *b);

static inline struct sl_bytes
sl_bytes_make(const void *p, uint32_t len)
{
	struct sl_bytes v = {(const uint8_t *)p, len};
	return v;
}

#endif
