/* storage/store_mem.c - the in-memory store: nothing outlives the process. */
#include "store.h"

#include "proto/base/sl_alloc.h"

struct store {
	enum store_kind kind;
};

struct store *
store_new(enum store_kind kind)
{
	struct store *s;

	if (kind != STORE_MEM)
		return NULL; /* the durable backends come with the storage issue */
	s = sl_calloc(1, sizeof(*s));
	if (s != NULL)
		s->kind = kind;
	return s;
}

void
store_free(struct store *s)
{
	sl_free(s);
}

enum store_kind
store_kind(const struct store *s)
{
	return s->kind;
}
