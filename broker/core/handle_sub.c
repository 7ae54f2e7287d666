/* broker/core/handle_sub.c - SUBSCRIBE and UNSUBSCRIBE. */
#include <string.h>

#include "broker/conf/conf.h"
#include "broker/core/access.h"
#include "broker/core/conn.h"
#include "broker/core/handle.h"
#include "broker/core/limit.h"
#include "broker/core/mount.h"
#include "broker/core/node.h"
#include "broker/core/persist.h"
#include "broker/core/retq.h"
#include "broker/core/sess.h"
#include "broker/core/slice.h"
#include "broker/core/worker.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/base/sl_log.h"
#include "proto/mqtt_topic.h"

/* Whether subscribing s to filter (not one it holds: that replaces) would go over
 * max_subscriptions_per_client. */
static bool
over_quota(const struct sess *s, const char *filter)
{
	uint32_t max = worker_conf(s->w)->max_subscriptions_per_client;

	return max != 0 && s->n_subs >= max && !sess_has_sub(s, filter);
}

/* Subscribes s to one filter. Returns the granted QoS or a failure reason code; *retained says
 * whether retained messages are due (sent after the SUBACK). */
static uint8_t
subscribe_one(struct conn *c, struct sl_bytes f, uint8_t *options, uint32_t sub_id, bool *retained)
{
	struct sess *s = c->s;
	struct sl_bytes group, filter = f;
	char *text;
	uint8_t qos = MQTT_SUBOPT_QOS(*options);
	bool existed = false;
	int shared = mqtt_topic_share_split(f, &group, &filter);

	*retained = false;
	if (shared < 0 || !mqtt_topic_filter_valid(filter))
		return s->version == MQTT_V5 ? MQTT_RC_TOPIC_FILTER_INVALID : 0x80;
	if (limit_topic_too_deep(s->w, filter)) /* max_topic_levels */
		return s->version == MQTT_V5 ? MQTT_RC_TOPIC_FILTER_INVALID : 0x80;
	if (shared > 0 && (*options & MQTT_SUBOPT_NO_LOCAL))
		return MQTT_RC_PROTOCOL_ERROR; /* [MQTT-3.8.3-4] */
	/* From here on, the filter as the broker knows it: under the listener's mount point. */
	if (mount_in(c, &f) < 0)
		return MQTT_RC_UNSPECIFIED;
	filter = f;
	if (shared > 0)
		mqtt_topic_share_split(f, &group, &filter);
	/* The ACL (auth.h): SUBACK 0x87 Not authorized (v5 3.9.3), 0x80 Failure (3.1.1 3.9.3). */
	if (!access_acl(s, filter, AUTH_SUBSCRIBE))
		return s->version == MQTT_V5 ? MQTT_RC_NOT_AUTHORIZED : 0x80;
	if (qos > worker_conf(s->w)->max_qos)
		qos = worker_conf(s->w)->max_qos;
	*options = (uint8_t)((*options & ~0x03) | qos);
	if ((text = sl_strndup((const char *)f.p, f.len)) == NULL)
		return MQTT_RC_UNSPECIFIED;
	if (over_quota(s, text)) {
		sl_free(text);
		/* v5 3.9.3: 0x97 Quota exceeded; 3.1.1 has only 0x80 Failure. */
		return s->version == MQTT_V5 ? MQTT_RC_QUOTA_EXCEEDED : 0x80;
	}
	if (sess_add_sub(s, text, *options, sub_id, &existed) < 0) {
		sl_free(text);
		return MQTT_RC_UNSPECIFIED;
	}
	persist_sub(s, text, *options, sub_id);
	sl_free(text);
	/* [MQTT-3.3.1-9..11] retain handling; shared subscriptions get no retained messages. */
	*retained = shared == 0 &&
	            (MQTT_SUBOPT_RH(*options) == 0 || (MQTT_SUBOPT_RH(*options) == 1 && !existed));
	return qos;
}

static void
send_suback(struct conn *c, enum mqtt_type type, uint16_t pid, const uint8_t *rcs, uint32_t n)
{
	struct mqtt_pkt ack;

	memset(&ack, 0, sizeof(ack));
	ack.type = type;
	ack.u.suback.packet_id = pid;
	ack.u.suback.count = n;
	ack.u.suback.rcs = rcs;
	conn_send(c, &ack);
}

/* Bit 7 of an options byte, reserved on the wire (v5 3.8.3.1), marks an entry whose retained
 * messages are due once the SUBACK is out. */
#define WANT_RETAINED 0x80

/* A SUBSCRIBE or UNSUBSCRIBE being handled. Its per-entry state is on the heap, sized by the
 * packet (a client may send millions of entries); when it takes longer than a slice the rest
 * is done a slice per loop turn while the connection's reading waits (issue 10). */
struct sub_job {
	struct slice sl;
	struct conn *c;
	uint8_t *copy;           /* owned: the entries, once the job outlives the packet */
	struct sl_bytes entries; /* all of them (the packet's, or copy) */
	struct sl_bytes cur;     /* those not yet walked in this pass */
	uint32_t count, i;       /* entries, and the next one of this pass */
	uint32_t sub_id;
	uint16_t pid;
	bool unsub;
	bool granted;      /* some filter was: on a cluster node the SUBACK waits for the peers */
	bool waited;       /* that wait is asked for (or not needed) */
	bool acked;        /* the SUBACK is out: now the retained messages */
	uint64_t wait_key; /* while the wait runs: its key in w->sub_waits; else 0 */
	uint8_t *rcs;      /* count reason codes, in this allocation */
	uint8_t *opts;     /* count options as granted, WANT_RETAINED marked; in this allocation */
};

static struct sub_job *
job_new(struct conn *c, const struct mqtt_subscribe *p, bool unsub)
{
	struct sub_job *j = sl_calloc(1, sizeof(*j) + 2 * (size_t)p->count);

	if (j == NULL)
		return NULL;
	j->c = c;
	j->entries = j->cur = p->entries;
	j->count = p->count;
	j->sub_id = p->props.n_sub_ids > 0 ? p->props.sub_ids[0] : 0;
	j->pid = p->packet_id;
	j->unsub = unsub;
	j->rcs = (uint8_t *)(j + 1);
	j->opts = j->rcs + p->count;
	return j;
}

/* Handles entry i, the next one of the first pass. Returns false past the last. */
static bool
first_pass(struct sub_job *j)
{
	struct sl_bytes filter;
	struct sess *s = j->c->s;
	uint8_t *o = &j->opts[j->i];
	bool want = false;
	char *text;

	if (j->unsub) {
		if (mqtt_unsub_next(&j->cur, &filter) != 1)
			return false;
		text = mount_in(j->c, &filter) == 0 ? sl_strndup((const char *)filter.p, filter.len)
		                                    : NULL;
		j->rcs[j->i] = text != NULL && sess_remove_sub(s, text) == 0
		                       ? MQTT_RC_SUCCESS
		                       : MQTT_RC_NO_SUBSCRIPTION_EXISTED;
		if (j->rcs[j->i] == MQTT_RC_SUCCESS)
			persist_unsub(s, text);
		sl_free(text);
		return true;
	}
	if (mqtt_sub_next(&j->cur, &filter, o) != 1)
		return false;
	if (j->c->version != MQTT_V5)
		*o &= 0x03;
	j->rcs[j->i] = subscribe_one(j->c, filter, o, j->sub_id, &want);
	j->granted |= j->rcs[j->i] < 0x80;
	if (want)
		*o |= WANT_RETAINED;
	return true;
}

/* Sends the retained messages entry i of a SUBSCRIBE asked for. Returns false past the last. */
static bool
second_pass(struct sub_job *j)
{
	struct sl_bytes filter;
	uint8_t skip; /* as received: opts[] holds them as granted */
	uint8_t o = j->opts[j->i];
	char *text;

	if (mqtt_sub_next(&j->cur, &filter, &skip) != 1)
		return false;
	if ((o & WANT_RETAINED) && mount_in(j->c, &filter) == 0 &&
	    (text = sl_strndup((const char *)filter.p, filter.len)) != NULL) {
		retq_match(j->c->s, text, (uint8_t)(o & ~WANT_RETAINED), j->sub_id);
		sl_free(text);
	}
	return true;
}

/* ---- SUBACKs waiting for the cluster ----
 * A cluster node sends a SUBACK once every reachable peer holds the routes it granted
 * (cluster_route_wait()), so a message published anywhere after it reaches the subscriber.
 * Meanwhile the job keeps the connection's reading paused, as a job in slices does, and waits
 * off the slice queue. The cluster carries a key, not the job: the answer may come after the
 * connection closed. The key names a slot of this worker's table and the slot's generation
 * (bumped when the slot is freed), so a late answer finds nothing, or another job's slot
 * under another generation, and is dropped. */

#define SLOT_BITS 24
#define GEN_MASK ((1u << 24) - 1) /* the key is 48 bits (node.h) */

struct wait_slot {
	struct sub_job *j; /* NULL: free */
	uint32_t gen;      /* 1..GEN_MASK */
	uint32_t next;     /* free list */
};

struct sub_waits {
	struct wait_slot *v;
	uint32_t n, cap;
	uint32_t free; /* first free slot + 1; 0 = none */
};

/* A slot for j. Returns its key (not 0), or 0 when out of memory. */
static uint64_t
wait_put(struct worker *w, struct sub_job *j)
{
	struct sub_waits *t = w->sub_waits;
	struct wait_slot *v;
	uint32_t i;

	if (t == NULL && (t = w->sub_waits = sl_calloc(1, sizeof(*t))) == NULL)
		return 0;
	if (t->free == 0 && t->n == t->cap) {
		if (t->cap * 2 + 16 >= 1u << SLOT_BITS ||
		    (v = sl_realloc(t->v, (t->cap * 2 + 16) * sizeof(*v))) == NULL)
			return 0;
		t->v = v;
		t->cap = t->cap * 2 + 16;
	}
	if (t->free != 0) {
		i = t->free - 1;
		t->free = t->v[i].next;
	} else {
		i = t->n++;
		t->v[i].gen = 1;
	}
	t->v[i].j = j;
	return (uint64_t)t->v[i].gen << SLOT_BITS | i;
}

/* The job key names, taken off the table; NULL if it is gone. */
static struct sub_job *
wait_take(struct worker *w, uint64_t key)
{
	struct sub_waits *t = w->sub_waits;
	uint32_t i = (uint32_t)(key & ((1u << SLOT_BITS) - 1));
	struct sub_job *j;

	if (t == NULL || i >= t->n || t->v[i].j == NULL || t->v[i].gen != key >> SLOT_BITS)
		return NULL;
	j = t->v[i].j;
	t->v[i].j = NULL;
	t->v[i].gen = t->v[i].gen == GEN_MASK ? 1 : t->v[i].gen + 1;
	t->v[i].next = t->free;
	t->free = i + 1;
	j->wait_key = 0;
	return j;
}

/* At the SUBACK: asks the cluster to say when the peers hold what j granted. Returns whether
 * j waits (it is off the slice queue until handle_sub_waited()). */
static bool
wait_begin(struct sub_job *j)
{
	struct worker *w = j->c->w;

	j->waited = true;
	if (!j->granted || !node_waits(w->b))
		return false;
	if ((j->wait_key = wait_put(w, j)) == 0) {
		LOG_WARN("conn", "client '%s': no memory to wait for the cluster, SUBACK sent now",
		         j->c->s->client_id);
		return false;
	}
	node_route_wait(w, j->wait_key);
	return true;
}

/* Walks j's entries until deadline. Returns true when the job is over (done, or its
 * connection is going). */
static bool
job_step(struct sub_job *j, uint64_t deadline)
{
	struct conn *c = j->c;

	for (;; j->i++) {
		if (c->closing || c->want_close)
			return true;
		/* The clock is read every 64 entries: one costs a few microseconds at most. */
		if ((j->i & 63) == 63 && uv_hrtime() >= deadline)
			return false;
		if (j->i < j->count && (!j->acked ? first_pass(j) : second_pass(j)))
			continue;
		if (j->acked || j->unsub) {
			if (!j->acked) /* [MQTT-3.11.3-1] one code per filter, in order */
				send_suback(c, MQTT_UNSUBACK, j->pid, j->rcs, j->i);
			return true;
		}
		if (!j->waited && wait_begin(j))
			return false; /* handle_sub_waited() queues it again */
		/* [MQTT-3.8.4-1] the SUBACK, then the retained messages [MQTT-3.3.1-6]. */
		send_suback(c, MQTT_SUBACK, j->pid, j->rcs, j->i);
		j->acked = true;
		j->count = j->i;
		j->cur = j->entries;
		j->i = (uint32_t)-1; /* the loop's increment starts the second pass at 0 */
	}
}

static void
job_free(struct sub_job *j)
{
	if (j->wait_key != 0) /* the cluster's answer will find nothing */
		wait_take(j->c->w, j->wait_key);
	sl_free(j->copy);
	sl_free(j);
}

static bool
on_job_slice(struct slice *sl, uint64_t deadline)
{
	struct sub_job *j = container_of(sl, struct sub_job, sl);
	struct conn *c = j->c;

	c->last_rx_ms = uv_now(c->w->loop); /* the broker is the one not reading */
	if (!job_step(j, deadline))
		return j->wait_key != 0; /* waiting: off the queue, still c's job */
	c->ext->job = NULL;
	job_free(j);
	if (!c->held) /* held: persist_ack.c resumes it once the store caught up */
		conn_resume(c);
	return true;
}

/* The job outlives the packet: keeps a copy of its entries and holds c's next packets until
 * it ends. Returns 0 or -1 (ENOMEM). */
static int
job_defer(struct sub_job *j)
{
	struct conn *c = j->c;
	struct conn_x *x = conn_x(c);
	size_t done = (size_t)(j->cur.p - j->entries.p);

	if (x == NULL || (j->copy = sl_malloc(j->entries.len)) == NULL)
		return -1;
	memcpy(j->copy, j->entries.p, j->entries.len);
	j->entries.p = j->copy;
	j->cur.p = j->copy + done;
	x->job = j;
	c->paused = true; /* conn_resume() waits for the job */
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (j->wait_key == 0) /* else handle_sub_waited() queues it */
		slice_add(c->w, &j->sl, on_job_slice);
	return 0;
}

/* SUBSCRIBE and UNSUBSCRIBE: within a slice if the packet is small enough, else in slices. */
static int
handle_entries(struct conn *c, struct mqtt_subscribe *p, bool unsub)
{
	struct sub_job *j = job_new(c, p, unsub);

	if (j != NULL && job_step(j, slice_deadline())) {
		job_free(j);
		return 0;
	}
	if (j != NULL && job_defer(j) == 0)
		return 0;
	if (j != NULL)
		job_free(j);
	LOG_WARN("conn", "client '%s': no memory for a %s of %u filters, closing", c->s->client_id,
	         unsub ? "UNSUBSCRIBE" : "SUBSCRIBE", p->count);
	conn_disconnect(c, MQTT_RC_UNSPECIFIED);
	return -1;
}

int
handle_subscribe(struct conn *c, struct mqtt_subscribe *p)
{
	return handle_entries(c, p, false);
}

int
handle_unsubscribe(struct conn *c, struct mqtt_subscribe *p)
{
	return handle_entries(c, p, true);
}

void
handle_sub_free(struct conn *c)
{
	if (c->ext == NULL || c->ext->job == NULL)
		return;
	slice_cancel(c->w, &c->ext->job->sl);
	job_free(c->ext->job);
	c->ext->job = NULL;
}

void
handle_sub_waited(struct worker *w, uint64_t key)
{
	struct sub_job *j = wait_take(w, key);

	if (j != NULL) /* else its connection closed meanwhile */
		slice_add(w, &j->sl, on_job_slice);
}

void
handle_sub_fini(struct worker *w)
{
	if (w->sub_waits == NULL)
		return;
	sl_free(w->sub_waits->v);
	sl_free(w->sub_waits);
	w->sub_waits = NULL;
}
