#include "mqtt_topic.h"

#include <string.h>

#define SHARE_PREFIX "$share/"
#define SHARE_PREFIX_LEN 7u

bool
mqtt_topic_level_next(struct sl_bytes s, uint32_t *pos, struct sl_bytes *level)
{
	const uint8_t *slash;
	uint32_t start = *pos;

	/* *pos == s.len + 1 once the last level (which has no '/' after it) was returned. */
	if (start > s.len)
		return false;
	slash = s.len > start ? memchr(s.p + start, '/', s.len - start) : NULL;
	level->p = start > 0 ? s.p + start : s.p; /* s.p may be NULL when s is empty */
	level->len = slash != NULL ? (uint32_t)(slash - level->p) : s.len - start;
	*pos = start + level->len + 1;
	return true;
}

static bool
level_is(struct sl_bytes level, char c)
{
	return level.len == 1 && level.p[0] == (uint8_t)c;
}

bool
mqtt_topic_name_valid(struct sl_bytes t)
{
	if (t.len == 0 || t.len > MQTT_TOPIC_MAX)
		return false; /* [MQTT-4.7.3-1] at least one character, [MQTT-4.7.3-3] */
	/* [MQTT-4.7.1-1] wildcards are for filters only. */
	return memchr(t.p, '+', t.len) == NULL && memchr(t.p, '#', t.len) == NULL;
}

bool
mqtt_topic_filter_valid(struct sl_bytes f)
{
	struct sl_bytes level;
	uint32_t pos = 0;

	if (f.len == 0 || f.len > MQTT_TOPIC_MAX)
		return false; /* [MQTT-4.7.3-1], [MQTT-4.7.3-3] */
	while (mqtt_topic_level_next(f, &pos, &level)) {
		bool plus = memchr(level.p, '+', level.len) != NULL;
		bool hash = memchr(level.p, '#', level.len) != NULL;

		/* [MQTT-4.7.1-2] '#' alone, and last. */
		if (hash && (level.len != 1 || pos <= f.len))
			return false;
		/* [MQTT-4.7.1-3] '+' occupies an entire level. */
		if (plus && level.len != 1)
			return false;
	}
	return true;
}

bool
mqtt_topic_match(struct sl_bytes filter, struct sl_bytes topic)
{
	struct sl_bytes fl, tl;
	uint32_t fpos = 0, tpos = 0;

	/* [MQTT-4.7.2-1] "#" and "+/..." must not match "$SYS/..." and the like. */
	if (topic.len > 0 && topic.p[0] == '$' && filter.len > 0 &&
	    (filter.p[0] == '+' || filter.p[0] == '#'))
		return false;
	while (mqtt_topic_level_next(filter, &fpos, &fl)) {
		/* '#' also matches the parent level: "a/#" matches "a" (4.7.1.2). */
		if (level_is(fl, '#'))
			return true;
		if (!mqtt_topic_level_next(topic, &tpos, &tl))
			return false;
		if (level_is(fl, '+'))
			continue;
		if (fl.len != tl.len || (fl.len > 0 && memcmp(fl.p, tl.p, fl.len) != 0))
			return false;
	}
	return tpos > topic.len; /* the topic must be used up too */
}

int
mqtt_topic_share_split(struct sl_bytes f, struct sl_bytes *group, struct sl_bytes *filter)
{
	struct sl_bytes g, rest;
	const uint8_t *slash;

	if (f.len < SHARE_PREFIX_LEN || memcmp(f.p, SHARE_PREFIX, SHARE_PREFIX_LEN) != 0)
		return 0;
	rest = sl_bytes_make(f.p + SHARE_PREFIX_LEN, f.len - SHARE_PREFIX_LEN);
	slash = memchr(rest.p, '/', rest.len);
	if (slash == NULL)
		return -1; /* [MQTT-4.8.2-2] "/" and a filter must follow the group */
	g = sl_bytes_make(rest.p, (uint32_t)(slash - rest.p));
	/* [MQTT-4.8.2-1] at least one character; [MQTT-4.8.2-2] no '/' (ends it), '+' or '#'. */
	if (g.len == 0 || memchr(g.p, '+', g.len) != NULL || memchr(g.p, '#', g.len) != NULL)
		return -1;
	rest = sl_bytes_make(slash + 1, rest.len - g.len - 1);
	if (rest.len == 0)
		return -1; /* [MQTT-4.8.2-2] */
	*group = g;
	*filter = rest;
	return 1;
}
