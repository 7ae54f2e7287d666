/* broker/core/owner.c - the session registry (owner.h): a hash table of client id -> worker,
 * in stripes with a mutex each, so CONNECTs on different workers rarely wait for each other. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "broker/conf/conf.h"
#include "broker/core/broker.h"
#include "broker/core/owner.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "proto/base/sl_alloc.h"

#define STRIPES 64
/* A worker busier than this share of the last tick (per mille) takes no more new sessions
 * under `pack` while a less busy one is left. */
#define PACK_BUSY_PERMILLE 333

struct owner_ent {
	struct owner_ent *next;
	uint32_t hash;
	uint32_t worker;
	uint32_t len;
	char id[]; /* not NUL-terminated */
};

struct stripe {
	pthread_mutex_t mu;
	struct owner_ent **tab; /* cap buckets, a power of two (or NULL: none yet) */
	uint32_t cap, n;
};

struct owner_table {
	struct stripe s[STRIPES];
};

struct owner_table *
owner_new(void)
{
	struct owner_table *t = sl_calloc(1, sizeof(*t));

	for (size_t i = 0; t != NULL && i < STRIPES; i++)
		pthread_mutex_init(&t->s[i].mu, NULL);
	return t;
}

void
owner_free(struct owner_table *t)
{
	struct owner_ent *e, *next;

	if (t == NULL)
		return;
	for (size_t i = 0; i < STRIPES; i++) {
		for (uint32_t b = 0; b < t->s[i].cap; b++)
			for (e = t->s[i].tab[b]; e != NULL; e = next) {
				next = e->next;
				sl_free(e);
			}
		sl_free(t->s[i].tab);
		pthread_mutex_destroy(&t->s[i].mu);
	}
	sl_free(t);
}

static struct stripe *
stripe_of(struct owner_table *t, uint32_t h)
{
	return &t->s[(h >> 24) % STRIPES]; /* the top bits: the low ones pick the bucket */
}

static struct owner_ent **
slot(struct stripe *s, uint32_t h, const char *id, size_t len)
{
	struct owner_ent **p;

	for (p = &s->tab[h & (s->cap - 1)]; *p != NULL; p = &(*p)->next)
		if ((*p)->hash == h && (*p)->len == len && memcmp((*p)->id, id, len) == 0)
			break;
	return p;
}

/* Doubles s's buckets once it holds more entries than buckets: one stripe of 64 moves at a
 * time, while its CONNECTs wait (amortised O(1) per claim). Returns 0 or -ENOMEM. */
static int
grow(struct stripe *s)
{
	uint32_t cap = s->cap ? s->cap * 2 : 16;
	struct owner_ent **tab = sl_calloc(cap, sizeof(*tab)), *e, *next;

	if (tab == NULL)
		return -ENOMEM;
	for (uint32_t b = 0; b < s->cap; b++)
		for (e = s->tab[b]; e != NULL; e = next) {
			next = e->next;
			e->next = tab[e->hash & (cap - 1)];
			tab[e->hash & (cap - 1)] = e;
		}
	sl_free(s->tab);
	s->tab = tab;
	s->cap = cap;
	return 0;
}

int
owner_claim(struct owner_table *t, const char *id, size_t len, uint32_t want, uint32_t *owner)
{
	uint32_t h = sess_hash_n(id, len);
	struct stripe *s = stripe_of(t, h);
	struct owner_ent **p, *e;
	int rc = -ENOMEM;

	*owner = want;
	pthread_mutex_lock(&s->mu);
	if ((s->n >= s->cap && grow(s) < 0 && s->cap == 0))
		goto out;
	p = slot(s, h, id, len);
	if (*p != NULL) {
		*owner = (*p)->worker;
		rc = 0;
		goto out;
	}
	if ((e = sl_malloc(sizeof(*e) + len)) == NULL)
		goto out;
	e->next = NULL;
	e->hash = h;
	e->worker = want;
	e->len = (uint32_t)len;
	memcpy(e->id, id, len);
	*p = e;
	s->n++;
	rc = 1;
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

bool
owner_find(struct owner_table *t, const char *id, size_t len, uint32_t *owner)
{
	uint32_t h = sess_hash_n(id, len);
	struct stripe *s = stripe_of(t, h);
	struct owner_ent *e = NULL;

	pthread_mutex_lock(&s->mu);
	if (s->cap > 0 && (e = *slot(s, h, id, len)) != NULL)
		*owner = e->worker;
	pthread_mutex_unlock(&s->mu);
	return e != NULL;
}

void
owner_release(struct owner_table *t, const char *id, size_t len, uint32_t w)
{
	uint32_t h = sess_hash_n(id, len);
	struct stripe *s = stripe_of(t, h);
	struct owner_ent **p, *e;

	pthread_mutex_lock(&s->mu);
	if (s->cap > 0 && *(p = slot(s, h, id, len)) != NULL && (*p)->worker == w) {
		e = *p;
		*p = e->next;
		s->n--;
		sl_free(e);
	}
	pthread_mutex_unlock(&s->mu);
}

size_t
owner_count(struct owner_table *t)
{
	size_t n = 0;

	for (size_t i = 0; i < STRIPES; i++) {
		pthread_mutex_lock(&t->s[i].mu);
		n += t->s[i].n;
		pthread_mutex_unlock(&t->s[i].mu);
	}
	return n;
}

/* The first worker in index order under the pack threshold, else the least busy. A worker
 * not started yet counts as idle: it is the next to take sessions. */
static uint32_t
pack(struct broker *b)
{
	uint32_t i, best = 0, load, best_load = UINT32_MAX;

	for (i = 0; i < b->n_workers; i++) {
		load = atomic_load_explicit(&b->workers[i].busy_permille, memory_order_relaxed);
		if (load < PACK_BUSY_PERMILLE)
			return i;
		if (load < best_load) {
			best = i;
			best_load = load;
		}
	}
	return best;
}

uint32_t
owner_place(struct broker *b, const char *id, size_t len)
{
	uint32_t i;

	if (strcmp(broker_conf(b)->worker_placement, "hash") == 0)
		return worker_owner(b, id, len); /* every worker started with the broker */
	i = pack(b);
	return worker_activate(b, i) == 0 ? i : 0;
}
