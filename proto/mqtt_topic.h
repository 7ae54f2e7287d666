/* proto/mqtt_topic.h - topic names and topic filters (MQTT 5.0 section 4.7, shared subscriptions
 * 4.8.2). Pure functions: no allocation, no I/O; every view is borrowed. Safe from any thread.
 * UTF-8 well-formedness and the absence of U+0000 [MQTT-4.7.3-2] are the decoder's job
 * (mqtt_utf8_valid()); these check structure only. */
#ifndef MQTT_TOPIC_H
#define MQTT_TOPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "base/sl_buf.h"

/* Longest topic name or filter [MQTT-4.7.3-3]: a UTF-8 string's 16-bit length prefix. */
#define MQTT_TOPIC_MAX 65535u

/* True if t may be used as the topic name of a PUBLISH: 1..65535 bytes without '+' or '#'
 * [MQTT-4.7.3-1], [MQTT-4.7.1-1]. */
bool mqtt_topic_name_valid(struct sl_bytes t);

/* True if f is a well-formed topic filter: 1..65535 bytes, '#' only as a whole last level
 * [MQTT-4.7.1-2], '+' only as a whole level [MQTT-4.7.1-3]. A "$share/" prefix is not special
 * here: split it off with mqtt_topic_share_split() first. */
bool mqtt_topic_filter_valid(struct sl_bytes f);

/* True if topic (a valid name) matches filter (a valid filter). '+' matches exactly one level,
 * '#' any number including none ("a/#" matches "a"); empty levels count ("a//b", "/a"). A filter
 * starting with a wildcard never matches a topic starting with '$' [MQTT-4.7.2-1]. The result for
 * invalid arguments is unspecified but memory safe. */
bool mqtt_topic_match(struct sl_bytes filter, struct sl_bytes topic);

/* Splits a shared subscription filter "$share/<group>/<filter>". Returns 1 with *group and
 * *filter set to views into f; 0 if f does not start with "$share/" (an ordinary filter; the
 * outputs are untouched); -1 if malformed: empty group [MQTT-4.8.2-1], a group holding '+' or
 * '#' (a '/' ends it), or no filter after the group [MQTT-4.8.2-2]. The filter part is not
 * validated: pass it to mqtt_topic_filter_valid(). */
int mqtt_topic_share_split(struct sl_bytes f, struct sl_bytes *group, struct sl_bytes *filter);

/* Iterates the '/'-separated levels of a name or filter. *pos starts at 0; each call returns
 * true with *level set to the next level (possibly empty) and *pos advanced, then false once all
 * levels were returned. A string of n '/' has n + 1 levels; the empty string has one. */
bool mqtt_topic_level_next(struct sl_bytes s, uint32_t *pos, struct sl_bytes *level);

#endif
