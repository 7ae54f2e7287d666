#include "broker/index/topic.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/mqtt_topic.h"

#include "broker/index/ltree.h"

/* Below this many entries a linear scan by sess_id is cheaper than hashing. */
#define SUBSET_IDX_MIN 16u

/* The subscriptions of one filter (normal ones) or of one share group. The array is what match
 * walks; past SUBSET_IDX_MIN entries an open-addressing index by sess_id keeps add and remove
 * O(1), so tearing down 10,000 subscribers of one filter is not quadratic. */
struct subset {
	struct topic_sub *v;
	uint32_t n;
	uint32_t cap;
	uint32_t *idx; /* per slot: position in v + 1, 0 = free; NULL below SUBSET_IDX_MIN */
	uint32_t idx_mask;
};

/* The members of one share group on one filter. */
struct group {
	struct group *next;
	struct subset members;
	uint32_t cursor; /* position of the next member to try */
	uint32_t len;
	uint8_t name[];
};

/* One filter level. Literal children are hashed by name; '+' and '#' children have their own
 * pointers so the match walk reaches them without hashing. */
struct tnode {
	struct ltree_node lt; /* first: literal children are in its buckets, '+' and '#' not */
	struct tnode *plus;
	struct tnode *hash; /* subscriptions only: '#' is always the last level */
	struct subset subs;
	struct group *groups;
	uint8_t name[];
};

/* The tnode of l, which may be NULL (the root's parent). */
static struct tnode *
tnode_of(struct ltree_node *l)
{
	return l != NULL ? container_of(l, struct tnode, lt) : NULL;
}

/* A pending branch of the match walk: a node reached, and where the next topic level starts. */
struct step {
	struct tnode *node;
	uint32_t pos;
};

struct topic_tree {
	struct tnode *root;
	size_t count;
	uint64_t seed; /* per tree: names made to collide in one tree do not in another */
	/* The match walk keeps at most one pending branch per level plus one: sized in add from the
	 * deepest filter seen, so match needs no recursion (filters may have 32,768 levels) and no
	 * allocation. */
	struct step *stack;
	uint32_t stack_cap;
};

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static bool
level_is(struct sl_bytes l, char c)
{
	return l.len == 1 && l.p[0] == (uint8_t)c;
}

/* ---- subset: an array of subscriptions with an optional index by sess_id ---- */

static uint32_t
idx_home(const struct subset *s, uint64_t sess_id)
{
	return (uint32_t)mix64(sess_id) & s->idx_mask;
}

/* Returns the index slot holding sess_id, or the free slot where it would go. */
static uint32_t
idx_slot(const struct subset *s, uint64_t sess_id)
{
	uint32_t i = idx_home(s, sess_id);

	while (s->idx[i] != 0 && s->v[s->idx[i] - 1].sess_id != sess_id)
		i = (i + 1) & s->idx_mask;
	return i;
}

/* Frees slot i by backward shift, so lookups need no tombstones. */
static void
idx_erase(struct subset *s, uint32_t i)
{
	uint32_t j = i, home;

	for (;;) {
		j = (j + 1) & s->idx_mask;
		if (s->idx[j] == 0)
			break;
		home = idx_home(s, s->v[s->idx[j] - 1].sess_id);
		/* The entry at j may move back to i unless its home lies in (i, j]. */
		if (((j - home) & s->idx_mask) >= ((j - i) & s->idx_mask)) {
			s->idx[i] = s->idx[j];
			i = j;
		}
	}
	s->idx[i] = 0;
}

/* Rebuilds the index for `want` entries at a load of at most 1/4. Returns 0 or -ENOMEM. */
static int
idx_build(struct subset *s, uint32_t want)
{
	uint32_t size = 64, i;
	uint32_t *idx;

	while (size < want * 4)
		size *= 2;
	idx = sl_calloc(size, sizeof(*idx));
	if (idx == NULL)
		return -ENOMEM;
	sl_free(s->idx);
	s->idx = idx;
	s->idx_mask = size - 1;
	for (i = 0; i < s->n; i++)
		s->idx[idx_slot(s, s->v[i].sess_id)] = i + 1;
	return 0;
}

static bool
subset_find(const struct subset *s, uint64_t sess_id, uint32_t *at)
{
	uint32_t i;

	if (s->idx != NULL) {
		i = idx_slot(s, sess_id);
		*at = s->idx[i] - 1;
		return s->idx[i] != 0;
	}
	for (i = 0; i < s->n; i++) {
		if (s->v[i].sess_id == sess_id) {
			*at = i;
			return true;
		}
	}
	return false;
}

/* Makes room for one more entry in the array and the index. Returns 0 or -ENOMEM. */
static int
subset_reserve(struct subset *s)
{
	uint32_t want = s->n + 1, cap;
	struct topic_sub *v;

	if (s->n == s->cap) {
		if (s->cap > UINT32_MAX / 8)
			return -ENOMEM; /* the index would need more than 2^32 slots */
		cap = s->cap != 0 ? s->cap * 2 : 2;
		v = sl_realloc(s->v, (size_t)cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	if (want >= SUBSET_IDX_MIN && (s->idx == NULL || want * 2 > s->idx_mask + 1))
		return idx_build(s, want);
	return 0;
}

static int
subset_put(struct subset *s, const struct topic_sub *sub, bool *replaced)
{
	uint32_t at;
	int rc;

	if (subset_find(s, sub->sess_id, &at)) {
		s->v[at] = *sub;
		*replaced = true;
		return 0;
	}
	if ((rc = subset_reserve(s)) < 0)
		return rc;
	s->v[s->n] = *sub;
	if (s->idx != NULL)
		s->idx[idx_slot(s, sub->sess_id)] = s->n + 1;
	s->n++;
	return 0;
}

/* Removes sess_id by moving the last entry into its place. Returns 0 or -ENOENT. */
static int
subset_remove(struct subset *s, uint64_t sess_id)
{
	uint32_t at, last = s->n - 1;

	if (!subset_find(s, sess_id, &at))
		return -ENOENT;
	if (s->idx != NULL)
		idx_erase(s, idx_slot(s, sess_id));
	if (at != last) {
		s->v[at] = s->v[last];
		/* v[last] still holds the moved entry, so its slot is found by id. */
		if (s->idx != NULL)
			s->idx[idx_slot(s, s->v[at].sess_id)] = at + 1;
	}
	s->n--;
	return 0;
}

static void
subset_fini(struct subset *s)
{
	sl_free(s->v);
	sl_free(s->idx);
}

/* ---- share groups of one node ---- */

static struct group **
group_link(struct tnode *n, struct sl_bytes name)
{
	struct group **gp;

	for (gp = &n->groups; *gp != NULL; gp = &(*gp)->next)
		if ((*gp)->len == name.len && memcmp((*gp)->name, name.p, name.len) == 0)
			break;
	return gp;
}

static int
group_put(struct tnode *n, struct sl_bytes name, const struct topic_sub *sub, bool *replaced)
{
	struct group **gp = group_link(n, name);
	struct group *g = *gp;
	int rc;

	if (g != NULL)
		return subset_put(&g->members, sub, replaced);
	g = sl_calloc(1, sizeof(*g) + name.len);
	if (g == NULL)
		return -ENOMEM;
	memcpy(g->name, name.p, name.len);
	g->len = name.len;
	if ((rc = subset_put(&g->members, sub, replaced)) < 0) {
		sl_free(g);
		return rc;
	}
	*gp = g;
	return 0;
}

static int
group_remove(struct tnode *n, struct sl_bytes name, uint64_t sess_id)
{
	struct group **gp = group_link(n, name);
	struct group *g = *gp;

	if (g == NULL || subset_remove(&g->members, sess_id) < 0)
		return -ENOENT;
	if (g->members.n == 0) {
		*gp = g->next;
		subset_fini(&g->members);
		sl_free(g);
	}
	return 0;
}

/* Reports one member of g: the next one from the cursor that ok accepts. Returns whether one
 * was. */
static bool
group_pick(struct group *g, topic_match_cb *cb, topic_member_ok_cb *ok, void *arg)
{
	uint32_t n = g->members.n, i = g->cursor < n ? g->cursor : 0, k;
	const struct topic_sub *m;

	for (k = 0; k < n; k++) {
		m = &g->members.v[i];
		if (++i == n)
			i = 0;
		if (ok == NULL || ok(arg, m)) {
			g->cursor = i;
			cb(arg, m, true);
			return true;
		}
	}
	return false;
}

/* ---- nodes ---- */

static struct tnode *
child(const struct topic_tree *t, const struct tnode *n, struct sl_bytes l)
{
	if (level_is(l, '+'))
		return n->plus;
	if (level_is(l, '#'))
		return n->hash;
	return tnode_of(ltree_find(&n->lt, t->seed, l));
}

static struct tnode *
child_new(const struct topic_tree *t, struct tnode *n, struct sl_bytes l)
{
	struct ltree_node *lc = ltree_node_new(sizeof(struct tnode), offsetof(struct tnode, name),
	                                       t->seed, &n->lt, l);
	struct tnode *c = tnode_of(lc);

	if (c == NULL)
		return NULL;
	if (level_is(l, '+')) {
		n->plus = c;
	} else if (level_is(l, '#')) {
		n->hash = c;
	} else if (ltree_add_child(&n->lt, lc) < 0) {
		sl_free(c);
		return NULL;
	}
	return c;
}

static void
child_unlink(struct tnode *n, struct tnode *c)
{
	if (n->plus == c)
		n->plus = NULL;
	else if (n->hash == c)
		n->hash = NULL;
	else
		ltree_unlink_child(&n->lt, &c->lt);
}

static void
node_free(struct tnode *n)
{
	struct group *g, *next;

	for (g = n->groups; g != NULL; g = next) {
		next = g->next;
		subset_fini(&g->members);
		sl_free(g);
	}
	subset_fini(&n->subs);
	ltree_node_fini(&n->lt);
	sl_free(n);
}

static bool
node_empty(const struct tnode *n)
{
	return n->lt.nkid == 0 && n->plus == NULL && n->hash == NULL && n->subs.n == 0 &&
	       n->groups == NULL;
}

/* Frees n and its ancestors while they hold nothing; the root stays. */
static void
prune(struct topic_tree *t, struct tnode *n)
{
	struct tnode *parent;

	while (n != t->root && node_empty(n)) {
		parent = tnode_of(n->lt.parent);
		child_unlink(parent, n);
		node_free(n);
		n = parent;
	}
}

/* Returns the node of filter, or NULL if no subscription uses it. */
static struct tnode *
node_find(const struct topic_tree *t, struct sl_bytes filter)
{
	struct tnode *n = t->root;
	struct sl_bytes l;
	uint32_t pos = 0;

	while (n != NULL && mqtt_topic_level_next(filter, &pos, &l))
		n = child(t, n, l);
	return n;
}

/* Finds or creates the node of filter. Returns 0, or -ENOMEM with nothing left created. */
static int
node_make(struct topic_tree *t, struct sl_bytes filter, struct tnode **out)
{
	struct tnode *n = t->root, *c;
	struct sl_bytes l;
	uint32_t pos = 0;

	while (mqtt_topic_level_next(filter, &pos, &l)) {
		c = child(t, n, l);
		if (c == NULL && (c = child_new(t, n, l)) == NULL) {
			prune(t, n);
			return -ENOMEM;
		}
		n = c;
	}
	*out = n;
	return 0;
}

/* Grows the match stack for a filter of filter's depth. Returns 0 or -ENOMEM. */
static int
stack_reserve(struct topic_tree *t, struct sl_bytes filter)
{
	uint32_t levels = 1, need, i;
	struct step *st;

	for (i = 0; i < filter.len; i++)
		levels += filter.p[i] == '/';
	need = levels + 2;
	if (need <= t->stack_cap)
		return 0;
	st = sl_realloc(t->stack, (size_t)need * sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	t->stack = st;
	t->stack_cap = need;
	return 0;
}

/* ---- the tree ---- */

struct topic_tree *
topic_tree_new(void)
{
	struct topic_tree *t = sl_calloc(1, sizeof(*t));
	struct timespec ts;

	if (t == NULL)
		return NULL;
	t->root = sl_calloc(1, sizeof(*t->root));
	if (t->root == NULL)
		goto fail_free;
	if (stack_reserve(t, sl_bytes_make("", 0)) < 0)
		goto fail_root;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t->seed = mix64((uintptr_t)t ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30));
	return t;
fail_root:
	sl_free(t->root);
fail_free:
	sl_free(t);
	return NULL;
}

/* Detaches and returns one child of n, or NULL when none is left. Only for teardown: it
 * shrinks nbucket as buckets empty so a wide node is emptied in linear time. */
static struct tnode *
kid_pop(struct tnode *n)
{
	struct tnode *c;

	if ((c = n->plus) != NULL) {
		n->plus = NULL;
		return c;
	}
	if ((c = n->hash) != NULL) {
		n->hash = NULL;
		return c;
	}
	return tnode_of(ltree_pop_child(&n->lt));
}

void
topic_tree_free(struct topic_tree *t)
{
	struct tnode *n, *c, *parent;

	if (t == NULL)
		return;
	/* Depth first through parent pointers: no recursion however deep the filters. */
	n = t->root;
	while (n != NULL) {
		if ((c = kid_pop(n)) != NULL) {
			n = c;
			continue;
		}
		parent = tnode_of(n->lt.parent);
		node_free(n);
		n = parent;
	}
	sl_free(t->stack);
	sl_free(t);
}

int
topic_tree_add(struct topic_tree *t, struct sl_bytes filter, struct sl_bytes group,
               const struct topic_sub *sub, bool *replaced)
{
	struct tnode *n;
	int rc;

	*replaced = false;
	if ((rc = stack_reserve(t, filter)) < 0)
		return rc;
	if ((rc = node_make(t, filter, &n)) < 0)
		return rc;
	if (group.len == 0)
		rc = subset_put(&n->subs, sub, replaced);
	else
		rc = group_put(n, group, sub, replaced);
	if (rc < 0) {
		prune(t, n);
		return rc;
	}
	if (!*replaced)
		t->count++;
	return 0;
}

int
topic_tree_remove(struct topic_tree *t, struct sl_bytes filter, struct sl_bytes group,
                  uint64_t sess_id)
{
	struct tnode *n = node_find(t, filter);
	int rc;

	if (n == NULL)
		return -ENOENT;
	if (group.len == 0)
		rc = subset_remove(&n->subs, sess_id);
	else
		rc = group_remove(n, group, sess_id);
	if (rc < 0)
		return rc;
	t->count--;
	prune(t, n);
	return 0;
}

/* Reports the subscriptions held at n: every normal one, one member per share group. */
static void
report(struct tnode *n, topic_match_cb *cb, topic_member_ok_cb *ok, void *arg)
{
	struct group *g;
	uint32_t i;

	for (i = 0; i < n->subs.n; i++)
		cb(arg, &n->subs.v[i], false);
	for (g = n->groups; g != NULL; g = g->next)
		group_pick(g, cb, ok, arg);
}

static void
push(struct topic_tree *t, uint32_t *sp, struct tnode *n, uint32_t pos)
{
	SL_ASSERT(*sp < t->stack_cap); /* stack_reserve() sized it for the deepest filter */
	t->stack[*sp].node = n;
	t->stack[*sp].pos = pos;
	(*sp)++;
}

void
topic_tree_match(struct topic_tree *t, struct sl_bytes topic, topic_match_cb *cb,
                 topic_member_ok_cb *ok, void *arg)
{
	bool dollar = topic.len > 0 && topic.p[0] == '$';
	uint32_t sp = 0, pos;
	struct sl_bytes l;
	struct tnode *n, *c;

	push(t, &sp, t->root, 0);
	while (sp > 0) {
		sp--;
		n = t->stack[sp].node;
		pos = t->stack[sp].pos;
		if (!mqtt_topic_level_next(topic, &pos, &l)) {
			/* All levels consumed: n's own filter matches, and so does "n/#". */
			report(n, cb, ok, arg);
			if (n->hash != NULL)
				report(n->hash, cb, ok, arg);
			continue;
		}
		/* [MQTT-4.7.2-1] A leading wildcard does not match a '$' topic. */
		if (n != t->root || !dollar) {
			if (n->hash != NULL)
				report(n->hash, cb, ok, arg);
			if (n->plus != NULL)
				push(t, &sp, n->plus, pos);
		}
		if ((c = tnode_of(ltree_find(&n->lt, t->seed, l))) != NULL)
			push(t, &sp, c, pos);
	}
}

int
topic_tree_pick(struct topic_tree *t, struct sl_bytes filter, struct sl_bytes group,
                topic_match_cb *cb, topic_member_ok_cb *ok, void *arg)
{
	struct tnode *n = group.len > 0 ? node_find(t, filter) : NULL;
	struct group *g = n != NULL ? *group_link(n, group) : NULL;

	return g != NULL && group_pick(g, cb, ok, arg) ? 0 : -ENOENT;
}

size_t
topic_tree_count(const struct topic_tree *t)
{
	return t->count;
}
