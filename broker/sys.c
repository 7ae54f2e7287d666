/* broker/sys.c - $SYS/broker/... topics, compatible with Mosquitto's common ones. */
#include <stdio.h>
#include <string.h>

#include "broker/node.h"
#include "proto/base/sl_alloc.h"

static void
put_str(struct node *n, const char *topic, const char *payload)
{
	struct sl_msg *m;
	uint32_t len = (uint32_t)strlen(payload);

	m = sl_msg_new(sl_bytes_make(topic, (uint32_t)strlen(topic)), sl_bytes_make(NULL, 0),
		       sl_bytes_make(payload, len), sl_bytes_make(NULL, 0), 0, true);
	if (m == NULL)
		return;
	/* Retained, as in Mosquitto: a new subscriber sees the latest values at once. */
	retain_set(n->retained, m);
	route_publish(n, m);
	sl_msg_unref(m);
}

static void
put(struct node *n, const char *topic, const char *fmt, unsigned long long v)
{
	char payload[64];

	snprintf(payload, sizeof(payload), fmt, v);
	put_str(n, topic, payload);
}

void
sys_publish(struct node *n, uint64_t now)
{
	const struct node_stats *st = &n->st;
	uint64_t up = (sl_now_ms() - n->started_ms) / 1000u;
	(void)now;
	put_str(n, "$SYS/broker/version", "starling version " SL_VERSION);
	put(n, "$SYS/broker/uptime", "%llu seconds", up);
	put(n, "$SYS/broker/clients/connected", "%llu", st->clients_connected);
	put(n, "$SYS/broker/clients/active", "%llu", st->clients_connected);
	put(n, "$SYS/broker/clients/total", "%llu", n->n_sess);
	put(n, "$SYS/broker/clients/disconnected", "%llu",
	    n->n_sess > st->clients_connected ? n->n_sess - st->clients_connected : 0);
	put(n, "$SYS/broker/messages/received", "%llu", st->msgs_received);
	put(n, "$SYS/broker/messages/sent", "%llu", st->msgs_sent);
	put(n, "$SYS/broker/publish/messages/dropped", "%llu", st->pub_dropped);
	put(n, "$SYS/broker/bytes/received", "%llu", st->bytes_received);
	put(n, "$SYS/broker/bytes/sent", "%llu", st->bytes_sent);
	put(n, "$SYS/broker/subscriptions/count", "%llu", topic_tree_count(n->subs));
	put(n, "$SYS/broker/retained messages/count", "%llu", retain_count(n->retained));
	put(n, "$SYS/broker/heap/current", "%llu", sl_alloc_bytes());
}
