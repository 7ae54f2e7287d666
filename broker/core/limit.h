/* broker/core/limit.h - per-connection rate limits, quotas and overload protection
 * (etc/starling.conf). On the connection's loop. */
#ifndef LIMIT_H
#define LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/base/sl_msg.h"
#include "proto/mqtt.h"

struct worker;
struct conn;
struct sess;

/* Charges a PUBLISH to c's token buckets; when one runs into debt, stops reading from c
 * until the tick finds it paid (the PUBLISH in hand is still handled). */
void limit_publish_charge(struct conn *c, const struct mqtt_publish *p);
/* The memory state against memory_limit: 0 below it, 1 above it (shed QoS 0, refuse new
 * clients), 2 above the refuse mark, 1.25 x memory_limit (refuse QoS 1/2 too). Any loop. */
int limit_mem_level(const struct worker *w);
/* Whether a CONNECT is refused for memory; counts it. v5 rc 0x89 Server busy, v3 3. */
bool limit_connect_refused(struct conn *c);
/* Whether a client's PUBLISH is refused for memory (level 2); counts it. */
bool limit_publish_refused(struct conn *c, const struct mqtt_publish *p);
/* Whether a QoS 0 delivery to s is shed for memory: it would have to wait in a queue. */
bool limit_shed_qos0(struct sess *s);
/* Whether topic (a name or a filter) has more levels than max_topic_levels allows. */
bool limit_topic_too_deep(const struct worker *w, struct sl_bytes topic);
/* Once per tick for every connection: refills paused buckets and resumes reading. */
void limit_conn_tick(struct conn *c, uint64_t now);
/* Once per tick: sheds queued QoS 0 above memory_limit, logs changes of the memory state. */
void limit_tick(struct worker *w);

#endif
