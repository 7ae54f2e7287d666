#include "sl_buf.h"

#include <errno.h>
#include <string.h>

#include "sl_alloc.h"

int
sl_buf_reserve(struct sl_buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 256;
	uint8_t *d;

	if (b->len + n <= b->cap)
		return 0;
	while (cap < b->len + n)
		cap *= 2;
	d = sl_realloc(b->data, cap);
	if (d == NULL)
		return -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

int
sl_buf_append(struct sl_buf *b, const void *p, size_t n)
{
	int rc = sl_buf_reserve(b, n);

	if (rc < 0)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void
sl_buf_consume(struct sl_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void
sl_buf_fini(struct sl_buf *b)
{
	sl_free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
