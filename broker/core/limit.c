/* broker/core/limit.c - per-connection publish rate limits (token buckets), topic depth, and
 * overload protection against memory_limit. The keys and what a client sees are documented in
 * etc/starling.conf; connection timeouts are worker.c's tick, subscription quotas handle_sub.c's.
 *
 * Rate limits apply backpressure, as EMQX's do: a PUBLISH is never refused for its rate. It is
 * charged to the connection's buckets when it arrives; a bucket in debt stops the reading of
 * that connection until the tick finds the debt paid, so the client's TCP window fills and it
 * slows down. Nothing is lost, nothing is disconnected, and the other clients of the loop do
 * not notice. */
#include <string.h>

#include "broker/conf/conf.h"
#include "broker/core/conn.h"
#include "broker/core/limit.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

/* A refill covers at most this long: rate x ms stays far from overflowing (rates are at most
 * 2^40 per second, conf_keys.c), and a bucket is full long before. */
#define MAX_REFILL_MS 1000000u
/* Above memory_limit a QoS 0 message still goes to a connection that takes it at once: queue
 * empty and less than this unwritten. */
#define SHED_BACKLOG (64u << 10)

/* A bucket's size in thousandths of a token: the burst, or one second's worth. */
static int64_t
bucket_cap(uint64_t rate, uint64_t burst)
{
	return (int64_t)(burst != 0 ? burst : rate) * 1000;
}

static int64_t
refill(int64_t tokens, uint64_t rate, uint64_t burst, uint64_t ms)
{
	int64_t cap = bucket_cap(rate, burst);

	if (rate == 0)
		return 0; /* off (perhaps since a reload): no debt */
	tokens += (int64_t)rate * (int64_t)ms;
	return tokens > cap ? cap : tokens;
}

/* Brings c's buckets up to now. Returns whether neither is in debt. Paused without buckets
 * (no memory for them at the charge): whether they exist now, to start full at the next. */
static bool
buckets_refill(struct conn *c, uint64_t now)
{
	const struct conf *cf = worker_conf(c->w);
	struct conn_x *x = conn_x(c);
	uint64_t ms;

	if (x == NULL || x->tb_ms == 0)
		return x != NULL;
	ms = now - x->tb_ms;
	if (ms > MAX_REFILL_MS)
		ms = MAX_REFILL_MS;
	x->tb_ms = now;
	x->tb_msgs = refill(x->tb_msgs, cf->max_publish_rate, cf->max_publish_burst, ms);
	x->tb_bytes =
	        refill(x->tb_bytes, cf->max_publish_bytes_rate, cf->max_publish_bytes_burst, ms);
	return x->tb_msgs >= 0 && x->tb_bytes >= 0;
}

/* Stops reading from c until the tick resumes it: the PUBLISH in hand is handled, the next
 * ones wait in the socket. */
static void
throttle(struct conn *c, const char *why)
{
	c->paused = true;
	c->w->st.pub_throttled++;
	uv_read_stop((uv_stream_t *)&c->tcp);
	LOG_DEBUG("limit", "client '%s' %s, reading paused",
	          c->s != NULL ? c->s->client_id : conn_peer(c), why);
}

void
limit_publish_charge(struct conn *c, const struct mqtt_publish *p)
{
	const struct conf *cf = worker_conf(c->w);
	struct conn_x *x;
	uint64_t now;

	if (cf->max_publish_rate == 0 && cf->max_publish_bytes_rate == 0)
		return;
	if ((x = conn_x(c)) == NULL) { /* buckets are made at the first charge */
		if (!c->paused)
			throttle(c, "has no memory for its publish rate buckets");
		return;
	}
	now = uv_now(c->w->loop);
	if (x->tb_ms == 0) { /* the first PUBLISH: the buckets start full */
		x->tb_ms = now;
		x->tb_msgs = bucket_cap(cf->max_publish_rate, cf->max_publish_burst);
		x->tb_bytes = bucket_cap(cf->max_publish_bytes_rate, cf->max_publish_bytes_burst);
	} else {
		buckets_refill(c, now);
	}
	if (cf->max_publish_rate != 0)
		x->tb_msgs -= 1000;
	if (cf->max_publish_bytes_rate != 0)
		x->tb_bytes -= ((int64_t)p->topic.len + p->payload.len) * 1000;
	if ((x->tb_msgs >= 0 && x->tb_bytes >= 0) || c->paused)
		return;
	throttle(c, "over its publish rate"); /* in debt */
}

void
limit_conn_tick(struct conn *c, uint64_t now)
{
	if (!c->paused || c->closing || c->held) /* held: persist_ack.c resumes it */
		return;
	c->last_rx_ms = now; /* the broker is the one not reading: no keep-alive timeout */
	if (buckets_refill(c, now))
		conn_resume(c);
}

int
limit_mem_level(const struct worker *w)
{
	uint64_t lim = worker_conf(w)->memory_limit, used;

	if (lim == 0)
		return 0;
	used = sl_alloc_bytes();
	return used >= lim + lim / 4 ? 2 : used >= lim ? 1 : 0;
}

bool
limit_connect_refused(struct conn *c)
{
	if (limit_mem_level(c->w) == 0)
		return false;
	c->w->st.load_conn_refused++;
	LOG_DEBUG("limit", "client from %s refused: heap above memory_limit", conn_peer(c));
	return true;
}

bool
limit_publish_refused(struct conn *c, const struct mqtt_publish *p)
{
	if (limit_mem_level(c->w) < 2)
		return false;
	if (p->qos == 0)
		c->w->st.load_pub_dropped++;
	else
		c->w->st.load_pub_refused++;
	return true;
}

bool
limit_shed_qos0(struct sess *s)
{
	if (limit_mem_level(s->w) == 0)
		return false;
	if (s->conn != NULL && !s->conn->closing && s->queue.head == NULL &&
	    conn_backlog(s->conn) < SHED_BACKLOG)
		return false; /* written now, gone from memory with the next write */
	s->w->st.load_pub_dropped++;
	return true;
}

bool
limit_topic_too_deep(const struct worker *w, struct sl_bytes topic)
{
	uint32_t max = worker_conf(w)->max_topic_levels, levels = 1, i;

	if (max == 0)
		return false;
	for (i = 0; i < topic.len && levels <= max; i++)
		levels += topic.p[i] == '/';
	return levels > max;
}

void
limit_tick(struct worker *w)
{
	int level = limit_mem_level(w);
	struct sess *s;
	uint32_t shed;

	if (level != w->mem_level && w->idx == 0) {
		if (level > w->mem_level)
			LOG_WARN("limit",
			         "heap %llu bytes, memory_limit %llu: refusing new clients and "
			         "shedding QoS 0%s",
			         (unsigned long long)sl_alloc_bytes(),
			         (unsigned long long)worker_conf(w)->memory_limit,
			         level == 2 ? ", refusing QoS 1/2 PUBLISH" : "");
		else
			LOG_NOTICE("limit", "heap %llu bytes, memory_limit %llu: %s",
			           (unsigned long long)sl_alloc_bytes(),
			           (unsigned long long)worker_conf(w)->memory_limit,
			           level == 0 ? "back to normal"
			                      : "accepting QoS 1/2 PUBLISH again");
	}
	w->mem_level = level;
	if (level == 0)
		return;
	/* QoS 0 goes first: queued copies are what a slow subscriber piles up. */
	for (s = w->all_sess; s != NULL; s = s->next_all) {
		if (s->queue.head == NULL)
			continue;
		if ((shed = sess_shed_qos0(s)) == 0)
			continue;
		sess_dropped(s, shed);
		w->st.load_pub_dropped += shed;
	}
}
