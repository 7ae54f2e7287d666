/* broker/index/topic.h - the subscription index of one worker: topic filter -> subscriptions,
 * matched on every PUBLISH. A tree with one node per filter level. Single threaded: create, use and
 * free it on one worker loop, no locks. Filters and topic names are assumed valid (check them with
 * proto/mqtt_topic.h first); a "$share/<group>/" prefix is split off by the caller. */
#ifndef TOPIC_H
#define TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/sl_buf.h"

struct topic_tree;

/* One subscription as stored. */
struct topic_sub {
	uint64_t sess_id; /* owning session, unique per filter and group */
	uint16_t worker;  /* worker thread that owns the session */
	uint8_t options;  /* subscription options byte: bits 0-1 QoS, 2 no-local,
	                   * 3 retain-as-published, 4-5 retain handling (MQTT_SUBOPT_*) */
	uint32_t sub_id;  /* v5 subscription identifier, 0 = none */
};

/* Returns a new empty tree owned by the caller, or NULL on ENOMEM. */
struct topic_tree *topic_tree_new(void);
/* Frees t and every subscription in it. NULL is a no-op. */
void topic_tree_free(struct topic_tree *t);

/* Adds *sub for filter (without any $share prefix) in share group `group`, empty for a normal
 * subscription. A second add with the same sess_id, filter and group replaces the entry (worker,
 * options and sub_id updated) and sets *replaced; otherwise *replaced is false. Borrows every
 * argument and copies what it keeps. Returns 0, or -ENOMEM with t unchanged. */
int topic_tree_add(struct topic_tree *t, struct sl_bytes filter, struct sl_bytes group,
                   const struct topic_sub *sub, bool *replaced);
/* Removes the subscription of sess_id on filter in group (empty = normal) and frees the nodes
 * left empty. Returns 0, or -ENOENT if there was none. */
int topic_tree_remove(struct topic_tree *t, struct sl_bytes filter, struct sl_bytes group,
                      uint64_t sess_id);

/* Called for each match; sub is borrowed and valid only during the call. */
typedef void topic_match_cb(void *arg, const struct topic_sub *sub, bool shared);
/* Asked whether a shared group member may receive the message now (e.g. is online). */
typedef bool topic_member_ok_cb(void *arg, const struct topic_sub *sub);

/* Calls cb once for every normal subscription whose filter matches topic, and once per matching
 * share group with one member chosen round robin (one cursor per group, advanced on each pick)
 * among those ok accepts (ok NULL accepts all); a group with no acceptable member is skipped
 * (section 4.8.2: each message goes to one session of the group). The same session may be reported
 * several times through overlapping filters: the caller merges. Filters starting with a wildcard
 * never match topics starting with '$' [MQTT-4.7.2-1]. Costs O(levels x matching '+' branches);
 * never allocates. cb and ok must not modify t. */
void topic_tree_match(struct topic_tree *t, struct sl_bytes topic, topic_match_cb *cb,
                      topic_member_ok_cb *ok, void *arg);

/* Calls cb once with one member of share group `group` on exactly filter (no matching: the
 * cluster names a group by its index key), chosen as topic_tree_match() chooses (the group's
 * round robin cursor, ok). Returns 0, or -ENOENT when the group has no member ok accepts. */
int topic_tree_pick(struct topic_tree *t, struct sl_bytes filter, struct sl_bytes group,
                    topic_match_cb *cb, topic_member_ok_cb *ok, void *arg);

/* Number of subscriptions held, share group members included. */
size_t topic_tree_count(const struct topic_tree *t);

#endif
