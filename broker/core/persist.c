/* broker/core/persist.c - opening the store from the configuration, and what each session event
 * writes to it. Only stored sessions write; the calls return at once (storage/store.h). */
#include "broker/core/persist.h"
#include "broker/conf/conf.h"
#include "broker/core/broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "broker/index/retain.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"
#include "storage/store.h"

static enum store_sync
sync_policy(const char *v)
{
	if (v != NULL && strcmp(v, "always") == 0)
		return STORE_SYNC_ALWAYS;
	if (v != NULL && strcmp(v, "none") == 0)
		return STORE_SYNC_NONE;
	return STORE_SYNC_BATCH;
}

/* Another node changed a retained message in the shared store: mirror it here. Runs on a
 * store thread; the retained index is thread-safe. */
static void
on_retain_changed(void *arg, const char *topic, struct sl_msg *msg)
{
	struct broker *b = arg;
	struct sl_msg *empty;

	if (msg != NULL) {
		retain_set(b->retained, msg);
		sl_msg_unref(msg);
		return;
	}
	empty = sl_msg_new(sl_bytes_make(topic, (uint32_t)strlen(topic)), sl_bytes_make(NULL, 0),
	                   sl_bytes_make(NULL, 0), sl_bytes_make(NULL, 0), 0, true);
	if (empty != NULL)
		retain_set(b->retained, empty); /* an empty payload clears the topic */
	sl_msg_unref(empty);
}

static bool
wants(const char *v, const char *name)
{
	return v != NULL && strcmp(v, name) == 0;
}

/* The embedded store's directory: persistence_file's own under persistence_location, so that
 * two brokers sharing a location with different persistence_file names keep apart (each its
 * files and its lock), and a mosquitto.db of mosquitto's stays untouched beside it. A location
 * laid out by an earlier Starling (its files directly in it) is used as it is. Returns a new
 * string (sl_free), or NULL (logged). */
static char *
store_dir(const struct conf *c)
{
	const char *loc = c->persistence_location[0] != '\0' ? c->persistence_location : ".";
	size_t len = strlen(loc) + strlen(c->persistence_file) + sizeof("/.starling/lock");
	const char *f = c->persistence_file;
	char *dir;
	struct stat st;

	if (f[0] == '\0' || strchr(f, '/') != NULL || strcmp(f, ".") == 0 || strcmp(f, "..") == 0) {
		LOG_ERR("store", "persistence_file '%s' must be a file name, without '/'", f);
		return NULL;
	}
	if ((dir = sl_malloc(len)) == NULL) {
		LOG_ERR("store", "no memory for the store's directory name");
		return NULL;
	}
	snprintf(dir, len, "%s/lock", loc);
	if (stat(dir, &st) == 0) {
		LOG_NOTICE("store",
		           "'%s' holds a store of an earlier version's layout: used as it "
		           "is (persistence_file '%s' applies to new locations)",
		           loc, c->persistence_file);
		snprintf(dir, len, "%s", loc);
		return dir;
	}
	snprintf(dir, len, "%s/%s.starling", loc, c->persistence_file);
	return dir;
}

int
persist_open(struct broker *b)
{
	const struct conf *c = broker_conf(b);
	struct store_conf sc;
	char *err = NULL;

	memset(&sc, 0, sizeof(sc));
	if (c->persistence && (sc.dir = store_dir(c)) == NULL)
		return -1;
	sc.sync = sync_policy(c->persistence_sync);
	sc.compact_s = c->autosave_interval;
	if (wants(c->session_store, "postgres")) {
		if (c->postgres_dsn == NULL) {
			LOG_ERR("store", "session_store postgres needs postgres_dsn");
			return -1;
		}
		sc.pg_dsn = c->postgres_dsn;
		sc.pg_pool = c->postgres_pool;
	}
	if (wants(c->retained_store, "redis")) {
		if (c->redis_url == NULL) {
			LOG_ERR("store", "retained_store redis needs redis_url");
			return -1;
		}
		sc.redis_url = c->redis_url;
	}
	sc.node_name = c->cluster_node_id != NULL ? c->cluster_node_id : "starling";
	sc.retain_changed = on_retain_changed;
	sc.retain_arg = b;
	b->store = store_open(&sc, &err);
	sl_free((char *)sc.dir);
	if (b->store == NULL) {
		LOG_ERR("store", "%s", err != NULL ? err : "cannot open the store");
		free(err);
		return -1;
	}
	return 0;
}

int
persist_attach(struct worker *w)
{
	w->sh = store_attach(w->b->store, w->loop);
	return w->sh != NULL ? 0 : -1;
}

void
persist_detach(struct worker *w)
{
	persist_flush(w); /* then cancelled with the handle's other barriers */
	store_detach(w->sh);
	w->sh = NULL;
	persist_ack_fini(w);
}

static bool
durable(const struct worker *w)
{
	return w->sh != NULL && store_durable(w->b->store);
}

/* Whether s's changes go to the store: stored, and not while the store is being read back
 * (persist_load hides the handles then). */
static bool
writes(const struct sess *s)
{
	return s->stored && s->w->sh != NULL;
}

void
persist_sess(struct sess *s)
{
	struct store_sess ss;

	if (!durable(s->w))
		return;
	if (s->expiry == 0) {
		persist_sess_del(s);
		return;
	}
	if (!s->stored && sess_x(s) == NULL) { /* where its deliveries are numbered */
		LOG_WARN("store", "session '%s' not stored: out of memory", s->client_id);
		return;
	}
	ss.client_id = s->client_id;
	ss.username = s->username;
	ss.version = s->version;
	ss.expiry = s->expiry;
	/* The store keeps wall-clock time: loop time means nothing after a restart. */
	ss.expire_at = s->conn != NULL || s->expiry == UINT32_MAX
	                       ? 0
	                       : sl_now_ms() + (uint64_t)s->expiry * 1000u;
	store_sess_put(s->w->sh, &ss);
	if (!s->stored) {
		s->stored = true;
		atomic_fetch_add(&s->w->b->n_stored, 1);
	}
}

void
persist_sess_del(struct sess *s)
{
	if (!writes(s))
		return;
	store_sess_del(s->w->sh, s->client_id);
	s->stored = false;
	s->will_stored = false;
	atomic_fetch_sub(&s->w->b->n_stored, 1);
	/* Its deliveries are gone from the store with it. */
	for (struct dlv *d = s->queue.head; d != NULL; d = d->next)
		d->seq = 0;
	for (struct dlv *d = s->inflight.head; d != NULL; d = d->next)
		d->seq = 0;
}

void
persist_sub(struct sess *s, const char *filter, uint8_t options, uint32_t sub_id)
{
	struct store_sub sub = {filter, options, sub_id};

	if (writes(s))
		store_sub_put(s->w->sh, s->client_id, &sub);
}

void
persist_unsub(struct sess *s, const char *filter)
{
	if (writes(s))
		store_sub_del(s->w->sh, s->client_id, filter);
}

void
persist_q_put(struct sess *s, struct dlv *d)
{
	struct sess_x *x;
	struct store_q q;

	/* A stored session has its x (persist_sess()): the last branch is never taken. */
	if (!writes(s) || d->qos == 0 || (x = sess_x(s)) == NULL)
		return;
	memset(&q, 0, sizeof(q));
	d->seq = ++x->next_seq;
	q.seq = d->seq;
	q.qos = d->qos;
	q.retain = d->retain;
	q.state = d->state == DLV_QUEUED ? STORE_Q_QUEUED : STORE_Q_SENT;
	q.pid = d->state == DLV_QUEUED ? 0 : d->pid;
	q.n_sub_ids = d->n_sub_ids;
	memcpy(q.sub_ids, d->sub_ids, sizeof(q.sub_ids));
	q.msg = d->msg;
	store_q_put(s->w->sh, s->client_id, &q);
}

void
persist_q_state(struct sess *s, const struct dlv *d)
{
	if (d->seq == 0 || !writes(s))
		return;
	store_q_state(s->w->sh, s->client_id, d->seq,
	              d->state == DLV_WAIT_PUBCOMP ? STORE_Q_REL : STORE_Q_SENT, d->pid);
}

void
persist_q_del(struct sess *s, const struct dlv *d)
{
	if (d->seq != 0 && writes(s))
		store_q_del(s->w->sh, s->client_id, d->seq);
}

void
persist_rx(struct sess *s, uint16_t pid, bool put)
{
	if (!writes(s))
		return;
	if (put)
		store_rx_put(s->w->sh, s->client_id, pid);
	else
		store_rx_del(s->w->sh, s->client_id, pid);
}

void
persist_will(struct sess *s, bool put)
{
	const struct sess_x *x = s->ext;
	uint64_t left;

	if (!writes(s))
		return;
	if (put && x != NULL && x->will != NULL) {
		left = x->will_at > uv_now(s->w->loop) ? x->will_at - uv_now(s->w->loop) : 0;
		store_will_put(s->w->sh, s->client_id, x->will, sl_now_ms() + left);
		s->will_stored = true;
	} else if (!put && s->will_stored) {
		store_will_del(s->w->sh, s->client_id);
		s->will_stored = false;
	}
}

void
persist_retain(struct worker *w, struct sl_msg *msg)
{
	char *topic;

	if (!durable(w))
		return;
	if (msg->payload.len > 0) {
		store_retain_put(w->sh, msg);
		return;
	}
	/* A topic is up to 64 KB of the client's: on the heap, not the stack. */
	if ((topic = sl_strndup((const char *)msg->topic.p, msg->topic.len)) == NULL) {
		LOG_ERR("store", "no memory to delete a retained message from the store");
		return;
	}
	store_retain_del(w->sh, topic);
	sl_free(topic);
}
