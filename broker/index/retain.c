#include "broker/index/retain.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/mqtt_topic.h"

#include "broker/index/ltree.h"

/* One topic level. Children are hashed by name, as in topic.c, so a filter without wildcards
 * costs one lookup per level whatever the number of retained topics. */
struct rnode {
	struct ltree_node lt; /* first */
	struct sl_msg *msg;   /* owned ref: the retained message of this exact topic, or NULL */
	uint8_t name[];
};

struct retain_store {
	pthread_mutex_t lock; /* guards everything below */
	struct rnode *root;
	size_t count;
	uint64_t seed; /* per store: names made to collide in one store do not in another */
};

/* Step position meaning "this node and its whole subtree" (a '#' was reached). */
#define WHOLE UINT32_MAX

/* A pending branch of a match: a node reached, and where the next filter level starts. */
struct step {
	struct rnode *node;
	uint32_t pos;
};

/* The state of one retain_match(): a heap stack, because '+' fans out to every child and
 * retained topics may be 32,768 levels deep, and the result array. */
struct walk {
	struct retain_store *r;
	uint64_t now_ms;
	struct step *st;
	size_t sp;
	size_t st_cap;
	struct sl_msg **out;
	size_t n;
	size_t cap;
};

/* The rnode of l, which may be NULL (the root's parent, no child). */
static struct rnode *
rnode_of(struct ltree_node *l)
{
	return l != NULL ? container_of(l, struct rnode, lt) : NULL;
}

static struct rnode *
kid_find(const struct retain_store *r, const struct rnode *n, struct sl_bytes l)
{
	return rnode_of(ltree_find(&n->lt, r->seed, l));
}

static struct rnode *
kid_new(const struct retain_store *r, struct rnode *n, struct sl_bytes l)
{
	struct ltree_node *c;
	int rc;

	/* Buckets first: then the node allocation is the last that can fail, nothing to undo. */
	if (ltree_reserve(&n->lt) < 0)
		return NULL;
	c = ltree_node_new(sizeof(struct rnode), offsetof(struct rnode, name), r->seed, &n->lt, l);
	if (c == NULL)
		return NULL;
	rc = ltree_add_child(&n->lt, c);
	SL_ASSERT(rc == 0); /* reserved above: cannot fail */
	return rnode_of(c);
}

/* Frees n and its ancestors while they hold nothing; the root stays. */
static void
prune(struct retain_store *r, struct rnode *n)
{
	struct rnode *parent;

	while (n != r->root && n->lt.nkid == 0 && n->msg == NULL) {
		parent = rnode_of(n->lt.parent);
		ltree_unlink_child(&parent->lt, &n->lt);
		ltree_node_fini(&n->lt);
		sl_free(n);
		n = parent;
	}
}

/* Finds or creates the node of topic. Returns 0, or -ENOMEM with nothing left created. */
static int
node_make(struct retain_store *r, struct sl_bytes topic, struct rnode **out)
{
	struct rnode *n = r->root, *c;
	struct sl_bytes l;
	uint32_t pos = 0;

	while (mqtt_topic_level_next(topic, &pos, &l)) {
		c = kid_find(r, n, l);
		if (c == NULL && (c = kid_new(r, n, l)) == NULL) {
			prune(r, n);
			return -ENOMEM;
		}
		n = c;
	}
	*out = n;
	return 0;
}

static struct rnode *
node_find(const struct retain_store *r, struct sl_bytes topic)
{
	struct rnode *n = r->root;
	struct sl_bytes l;
	uint32_t pos = 0;

	while (n != NULL && mqtt_topic_level_next(topic, &pos, &l))
		n = kid_find(r, n, l);
	return n;
}

/* The node after n in a preorder walk from the root, through parent pointers: no allocation
 * and no recursion, so it also serves retain_foreach() when memory is short. */
static struct rnode *
node_next(const struct rnode *n)
{
	const struct ltree_node *l = &n->lt;
	struct ltree_node *c;

	if ((c = ltree_next_child(l, NULL)) != NULL)
		return rnode_of(c);
	for (; l->parent != NULL; l = l->parent)
		if ((c = ltree_next_child(l->parent, l)) != NULL)
			return rnode_of(c);
	return NULL;
}

struct retain_store *
retain_new(void)
{
	struct retain_store *r = sl_calloc(1, sizeof(*r));
	struct timespec ts;

	if (r == NULL)
		return NULL;
	r->root = sl_calloc(1, sizeof(*r->root));
	if (r->root == NULL)
		goto fail_free;
	if (pthread_mutex_init(&r->lock, NULL) != 0)
		goto fail_root;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	r->seed = ((uint64_t)(uintptr_t)r ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30)) *
	          0x9e3779b97f4a7c15ull;
	return r;
fail_root:
	sl_free(r->root);
fail_free:
	sl_free(r);
	return NULL;
}

/* Detaches and returns one child of n, or NULL when none is left. Only for teardown: it
 * shrinks nbucket as buckets empty so a wide node is emptied in linear time. */
static struct rnode *
kid_pop(struct rnode *n)
{
	return rnode_of(ltree_pop_child(&n->lt));
}

void
retain_free(struct retain_store *r)
{
	struct rnode *n, *c, *parent;

	if (r == NULL)
		return;
	n = r->root;
	while (n != NULL) {
		if ((c = kid_pop(n)) != NULL) {
			n = c;
			continue;
		}
		parent = rnode_of(n->lt.parent);
		sl_msg_unref(n->msg);
		ltree_node_fini(&n->lt);
		sl_free(n);
		n = parent;
	}
	pthread_mutex_destroy(&r->lock);
	sl_free(r);
}

int
retain_set(struct retain_store *r, struct sl_msg *msg)
{
	struct sl_msg *old = NULL;
	struct rnode *n;
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	if (msg->payload.len == 0) {
		/* [MQTT-3.3.1-6] an empty payload removes the retained message, and
		 * [MQTT-3.3.1-7] is not stored itself (3.1.1: [MQTT-3.3.1-10], [MQTT-3.3.1-11]). */
		if ((n = node_find(r, msg->topic)) != NULL && (old = n->msg) != NULL) {
			n->msg = NULL;
			r->count--;
			prune(r, n);
		}
	} else if ((rc = node_make(r, msg->topic, &n)) == 0) {
		/* [MQTT-3.3.1-5] the new message replaces any retained one of that topic. */
		old = n->msg;
		n->msg = sl_msg_ref(msg);
		if (old == NULL)
			r->count++;
	}
	pthread_mutex_unlock(&r->lock);
	sl_msg_unref(old); /* may free: outside the lock */
	return rc;
}

static int
walk_push(struct walk *w, struct rnode *n, uint32_t pos)
{
	size_t cap;
	struct step *st;

	if (w->sp == w->st_cap) {
		cap = w->st_cap != 0 ? w->st_cap * 2 : 16;
		st = sl_realloc(w->st, cap * sizeof(*st));
		if (st == NULL)
			return -ENOMEM;
		w->st = st;
		w->st_cap = cap;
	}
	w->st[w->sp].node = n;
	w->st[w->sp].pos = pos;
	w->sp++;
	return 0;
}

/* Adds a reference to n's message to the result, or deletes it if expired. n may be freed. */
static int
walk_emit(struct walk *w, struct rnode *n)
{
	struct sl_msg *m = n->msg, **out;
	size_t cap;

	if (m == NULL)
		return 0;
	if (m->expiry_at_ms != 0 && m->expiry_at_ms <= w->now_ms) {
		/* 3.3.2.3.3: past its expiry interval it is no longer retained. n has no child on
		 * the walk stack (those are pushed after this call or kept it non-empty), so
		 * pruning frees nothing the walk still holds. */
		n->msg = NULL;
		w->r->count--;
		prune(w->r, n);
		sl_msg_unref(m);
		return 0;
	}
	if (w->n == w->cap) {
		cap = w->cap != 0 ? w->cap * 2 : 8;
		out = sl_realloc(w->out, cap * sizeof(*out));
		if (out == NULL)
			return -ENOMEM;
		w->out = out;
		w->cap = cap;
	}
	w->out[w->n++] = sl_msg_ref(m);
	return 0;
}

/* Pushes every child of n with filter position pos; at the root a wildcard skips '$' topics
 * [MQTT-4.7.2-1]. */
static int
walk_kids(struct walk *w, struct rnode *n, uint32_t pos)
{
	bool skip_dollar = n == w->r->root;
	struct ltree_node *c;
	int rc;

	for (c = ltree_next_child(&n->lt, NULL); c != NULL; c = ltree_next_child(&n->lt, c)) {
		if (skip_dollar && c->len > 0 && ltree_name(c)[0] == '$')
			continue;
		if ((rc = walk_push(w, rnode_of(c), pos)) < 0)
			return rc;
	}
	return 0;
}

/* Handles one popped step: node n reached with the filter levels from pos still to match. */
static int
walk_step(struct walk *w, struct sl_bytes filter, struct rnode *n, uint32_t pos)
{
	struct sl_bytes l;
	struct rnode *c;
	int rc;

	if (pos != WHOLE && !mqtt_topic_level_next(filter, &pos, &l))
		return walk_emit(w, n); /* filter used up: n's topic is the match */
	if (pos == WHOLE || (l.len == 1 && l.p[0] == '#')) {
		/* '#' matches n itself ("a/#" matches "a") and everything below it. Children go
		 * on the stack first so that n is not pruned under them. */
		if ((rc = walk_kids(w, n, WHOLE)) < 0)
			return rc;
		return walk_emit(w, n);
	}
	if (l.len == 1 && l.p[0] == '+')
		return walk_kids(w, n, pos);
	if ((c = kid_find(w->r, n, l)) != NULL)
		return walk_push(w, c, pos);
	return 0;
}

int
retain_match(struct retain_store *r, struct sl_bytes filter, uint64_t now_ms, struct sl_msg ***out,
             size_t *n)
{
	struct walk w = {.r = r, .now_ms = now_ms};
	struct step s;
	int rc;

	pthread_mutex_lock(&r->lock);
	rc = walk_push(&w, r->root, 0);
	while (rc == 0 && w.sp > 0) {
		s = w.st[--w.sp];
		rc = walk_step(&w, filter, s.node, s.pos);
	}
	pthread_mutex_unlock(&r->lock);
	sl_free(w.st);
	if (rc < 0) {
		while (w.n > 0)
			sl_msg_unref(w.out[--w.n]);
		sl_free(w.out);
		w.out = NULL;
	}
	*out = w.out;
	*n = w.n;
	return rc;
}

size_t
retain_count(struct retain_store *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->count;
	pthread_mutex_unlock(&r->lock);
	return n;
}

void
retain_foreach(struct retain_store *r, void (*cb)(void *arg, struct sl_msg *msg), void *arg)
{
	struct sl_msg **snap;
	struct rnode *node;
	size_t n = 0, i;

	pthread_mutex_lock(&r->lock);
	/* Snapshot, so a slow cb (persistence I/O) does not hold every worker's retain calls. */
	snap = r->count > 0 ? sl_malloc(r->count * sizeof(*snap)) : NULL;
	for (node = r->root; node != NULL; node = node_next(node)) {
		if (node->msg == NULL)
			continue;
		if (snap != NULL)
			snap[n++] = sl_msg_ref(node->msg);
		else
			cb(arg, node->msg); /* no memory for a snapshot: run under the lock */
	}
	pthread_mutex_unlock(&r->lock);
	for (i = 0; i < n; i++) {
		cb(arg, snap[i]);
		sl_msg_unref(snap[i]);
	}
	sl_free(snap);
}
