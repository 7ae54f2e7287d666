/* Fuzzes topic validation and matching. The input is "filter\0topic" (no 0 byte: the same bytes
 * are both). Checks the contracts of proto/mqtt_topic.h and that the subscription tree
 * (broker/topic.c) and the retained store (broker/retain.c) agree with mqtt_topic_match(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/index/retain.h"
#include "broker/index/topic.h"
#include "proto/base/sl_alloc.h"
#include "proto/mqtt_topic.h"

struct seen {
	int normal;
	int shared;
};

static void
on_match(void *arg, const struct topic_sub *sub, bool shared)
{
	struct seen *s = arg;

	if (sub->sess_id != (shared ? 2u : 1u))
		abort();
	if (shared)
		s->shared++;
	else
		s->normal++;
}

static void
check_share_split(struct sl_bytes f)
{
	bool prefixed = f.len >= 7 && memcmp(f.p, "$share/", 7) == 0;
	struct sl_bytes g, sf;
	int rc = mqtt_topic_share_split(f, &g, &sf);

	if (prefixed != (rc != 0))
		abort(); /* 0 exactly when there is no "$share/" prefix */
	if (rc != 1)
		return;
	if (g.len == 0 || sf.len == 0 || g.p != f.p + 7 || sf.p != g.p + g.len + 1 ||
	    7 + g.len + 1 + sf.len != f.len)
		abort();
	if (memchr(g.p, '/', g.len) || memchr(g.p, '+', g.len) || memchr(g.p, '#', g.len))
		abort(); /* [MQTT-4.8.2-2] */
}

static void
check_name(struct sl_bytes t)
{
	bool dollar = t.p[0] == '$';

	if (!mqtt_topic_filter_valid(t) || !mqtt_topic_match(t, t))
		abort(); /* a name is a filter matching itself */
	if (mqtt_topic_match(sl_bytes_make("#", 1), t) == dollar)
		abort(); /* [MQTT-4.7.2-1] */
	if (mqtt_topic_match(sl_bytes_make("+", 1), t) != (!dollar && !memchr(t.p, '/', t.len)))
		abort();
}

/* The tree reports the filter's subscriptions exactly when mqtt_topic_match() says so. */
static void
check_tree(struct sl_bytes f, struct sl_bytes t, bool want)
{
	struct topic_tree *tree = topic_tree_new();
	struct topic_sub sub = {.sess_id = 1, .options = 1};
	struct seen seen = {0, 0};
	bool replaced;

	if (tree == NULL)
		return;
	if (topic_tree_add(tree, f, sl_bytes_make("", 0), &sub, &replaced) < 0)
		goto out;
	sub.sess_id = 2;
	if (topic_tree_add(tree, f, sl_bytes_make("g", 1), &sub, &replaced) < 0)
		goto out;
	topic_tree_match(tree, t, on_match, NULL, &seen);
	if (seen.normal != want || seen.shared != want || topic_tree_count(tree) != 2)
		abort();
	if (topic_tree_remove(tree, f, sl_bytes_make("g", 1), 2) != 0 ||
	    topic_tree_remove(tree, f, sl_bytes_make("", 0), 1) != 0 || topic_tree_count(tree) != 0)
		abort();
out:
	topic_tree_free(tree);
}

/* The retained store returns the topic's message exactly when mqtt_topic_match() says so. */
static void
check_retain(struct sl_bytes f, struct sl_bytes t, bool want)
{
	struct retain_store *r = retain_new();
	struct sl_msg *m = sl_msg_new(t, sl_bytes_make("", 0), sl_bytes_make("x", 1),
	                              sl_bytes_make("", 0), 0, true);
	struct sl_msg **out = NULL;
	size_t n = 0;

	if (r == NULL || m == NULL || retain_set(r, m) < 0)
		goto out;
	if (retain_match(r, f, 0, &out, &n) < 0)
		goto out;
	if (n != (size_t)want || (n == 1 && out[0] != m))
		abort();
	if (n == 1)
		sl_msg_unref(out[0]);
	sl_free(out);
out:
	retain_free(r);
	sl_msg_unref(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *zero = memchr(data, 0, size);
	struct sl_bytes f, t;
	bool fv, tv, m;

	if (size > MQTT_TOPIC_MAX)
		return 0;
	f = sl_bytes_make(data, zero != NULL ? (uint32_t)(zero - data) : (uint32_t)size);
	t = zero != NULL ? sl_bytes_make(zero + 1, (uint32_t)(size - f.len - 1)) : f;
	fv = mqtt_topic_filter_valid(f);
	tv = mqtt_topic_name_valid(t);
	m = mqtt_topic_match(f, t); /* any input: must be memory safe */
	check_share_split(f);
	if (tv)
		check_name(t);
	if (!fv || !tv)
		return 0;
	if (!memchr(f.p, '+', f.len) && !memchr(f.p, '#', f.len) &&
	    m != (f.len == t.len && memcmp(f.p, t.p, f.len) == 0))
		abort(); /* without wildcards, matching is equality */
	check_tree(f, t, m);
	check_retain(f, t, m);
	return 0;
}
