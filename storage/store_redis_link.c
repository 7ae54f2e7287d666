/* storage/store_redis_link.c - the Redis backend's two connections on its loop (hiredis async):
 * the writer carries the ops (store_redis_write.c) and the GETs for change notes, the
 * subscriber hears other nodes' changes. Each re-connects with backoff (100 ms doubling to 5 s)
 * whenever it drops; the writer's unanswered ops are then sent again, in order.
 *
 * Contexts: hiredis frees a context itself on a connection error, running every pending
 * callback with a NULL reply and then the disconnect callback; we free it ourselves only
 * outside those callbacks (store_redis_link_drop). Either way link->ac is cleared first, so a
 * callback whose context is not link->ac belongs to a dead connection and does nothing. */
#include "store_redis.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"
#include "store_codec.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_MS 2000 /* connect and set-up, else retry */
#define WATCHDOG_MS 1000
#define NO_REPLY_MS 10000 /* a writer with ops out and no reply for this long is dropped */
#define MAX_GETS 65536    /* change notes being read; more are dropped (memory bound) */

/* The scripts. Redis does not roll a failed script back: the index goes first, as the one
 * command that can fail (WRONGTYPE, if someone replaced it), so a failure changes nothing.
 * KEYS: value key, index, recent. ARGV: value, expiry ms ('0' = none), topic, channel, note,
 * now ms, recent member ("<origin hex>:<topic>"). */
static const char put_lua[] = "redis.call('ZADD', KEYS[2], 0, ARGV[3])\n"
                              "redis.call('SET', KEYS[1], ARGV[1])\n"
                              "if ARGV[2] ~= '0' then\n"
                              "  redis.call('PEXPIREAT', KEYS[1], ARGV[2])\n"
                              "end\n"
                              "redis.call('ZADD', KEYS[3], ARGV[6], ARGV[7])\n"
                              "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf',"
                              " tonumber(ARGV[6]) - 600000)\n"
                              "redis.call('PUBLISH', ARGV[4], ARGV[5])\n"
                              "return 1\n";
/* KEYS: value key, index, recent. ARGV: topic, channel, note, now ms, recent member. */
static const char del_lua[] = "redis.call('ZREM', KEYS[2], ARGV[1])\n"
                              "redis.call('DEL', KEYS[1])\n"
                              "redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])\n"
                              "redis.call('PUBLISH', ARGV[2], ARGV[3])\n"
                              "return 1\n";

enum { STEP_AUTH, STEP_SELECT, STEP_PUT_SHA, STEP_DEL_SHA };

/* The event hooks hiredis needs, on a uv_poll_t. style: not hiredis's adapters/libuv.h, because
 * the Debian 0.14 one returns on status < 0, and libuv reports a refused connect (POLLERR) only
 * that way: the connect would never end. */
struct rpoll {
	uv_poll_t poll;
	redisAsyncContext *ac; /* NULL once hiredis let go (cleanup) */
	int events;
};

static void
on_poll(uv_poll_t *h, int status, int events)
{
	struct rpoll *p = h->data;

	if (status < 0) /* hand the error over as the events hiredis waits for: it finds it */
		events = p->events;
	if (p->ac != NULL && (events & UV_READABLE))
		redisAsyncHandleRead(p->ac);
	if (p->ac != NULL && (events & UV_WRITABLE))
		redisAsyncHandleWrite(p->ac);
}

static void
ev_update(struct rpoll *p, int add, int del)
{
	p->events = (p->events | add) & ~del;
	if (p->events != 0)
		uv_poll_start(&p->poll, p->events, on_poll);
	else
		uv_poll_stop(&p->poll);
}

static void
ev_add_read(void *d)
{
	ev_update(d, UV_READABLE, 0);
}

static void
ev_del_read(void *d)
{
	ev_update(d, 0, UV_READABLE);
}

static void
ev_add_write(void *d)
{
	ev_update(d, UV_WRITABLE, 0);
}

static void
ev_del_write(void *d)
{
	ev_update(d, 0, UV_WRITABLE);
}

static void
on_poll_closed(uv_handle_t *h)
{
	sl_free(h->data);
}

static void
ev_cleanup(void *d)
{
	struct rpoll *p = d;

	p->ac = NULL;
	uv_close((uv_handle_t *)&p->poll, on_poll_closed);
}

static int
attach(redisAsyncContext *ac, uv_loop_t *loop)
{
	struct rpoll *p = sl_calloc(1, sizeof(*p));
	int rc;

	if (p == NULL)
		return -ENOMEM;
	if ((rc = uv_poll_init(loop, &p->poll, ac->c.fd)) < 0) {
		sl_free(p);
		return rc;
	}
	p->poll.data = p;
	p->ac = ac;
	ac->ev.data = p;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	return 0;
}

static void on_link_timer(uv_timer_t *t);

/* l->ac is already NULL (gone or being freed): note the outage and try again later. */
static void
link_retry(struct store_redis_link *l, const char *why)
{
	struct store_redis *r = l->r;

	if (l->sub && l->ready)
		r->heard_ms = sl_now_ms(); /* heard everything until now */
	l->ready = false;
	if (!l->sub)
		store_redis_writer_down(r);
	if (r->finished)
		return;
	if (!l->warned)
		LOG_WARN("store", "redis %s:%d %s: %s; reconnecting", r->url.host, r->url.port,
		         l->sub ? "subscriber" : "writer", why);
	else
		LOG_DEBUG("store", "redis %s:%d %s: %s; next try in %u ms", r->url.host,
		          r->url.port, l->sub ? "subscriber" : "writer", why, l->backoff_ms);
	l->warned = true;
	uv_timer_start(&l->timer, on_link_timer, l->backoff_ms, 0);
	l->backoff_ms = l->backoff_ms * 2 < BACKOFF_MAX_MS ? l->backoff_ms * 2 : BACKOFF_MAX_MS;
}

void
store_redis_link_lost(struct store_redis_link *l, const redisAsyncContext *ac)
{
	l->ac = NULL;
	link_retry(l, ac->errstr != NULL && ac->errstr[0] != '\0' ? ac->errstr : "connection lost");
}

void
store_redis_link_drop(struct store_redis_link *l, const char *why)
{
	redisAsyncContext *ac = l->ac;

	l->ac = NULL;
	link_retry(l, why);
	if (ac != NULL)
		redisAsyncFree(ac); /* deferred by hiredis when inside one of ac's callbacks */
}

static void
link_ready(struct store_redis_link *l)
{
	struct store_redis *r = l->r;

	l->ready = true;
	l->backoff_ms = BACKOFF_MIN_MS;
	if (l->warned)
		LOG_NOTICE("store", "redis %s:%d %s: connected again%s", r->url.host, r->url.port,
		           l->sub ? "subscriber" : "writer",
		           l->sub ? "; changes made meanwhile were not heard" : "");
	if (l->was_up && !l->sub)
		store_be_count_reconnect(r->core);
	l->was_up = true;
	l->warned = false;
	if (l->sub) {
		uv_timer_stop(&l->timer);
		r->catchup = true;
		store_redis_catchup(r);
		return;
	}
	uv_timer_start(&l->timer, on_link_timer, WATCHDOG_MS, WATCHDOG_MS);
	store_redis_writer_up(r); /* last: it may finish a stopping backend */
}

static void
on_setup(redisAsyncContext *ac, void *reply, void *arg)
{
	struct store_redis_link *l = ac->data;
	redisReply *rep = reply;
	int step = (int)(intptr_t)arg;
	char *sha = step == STEP_PUT_SHA ? l->r->put_sha : l->r->del_sha;

	if (ac != l->ac)
		return;
	if (rep == NULL) {
		store_redis_link_lost(l, ac);
		return;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		store_redis_link_drop(l, rep->str);
		return;
	}
	if (step == STEP_PUT_SHA || step == STEP_DEL_SHA) {
		if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
			store_redis_link_drop(l, "SCRIPT LOAD: unexpected reply");
			return;
		}
		memcpy(sha, rep->str, 41);
	}
	if (--l->step == 0 && !l->sub)
		link_ready(l);
}

/* Another node changed topic: read its value now and tell the broker. */
static void
on_get(redisAsyncContext *ac, void *reply, void *arg)
{
	struct store_redis_link *l = ac->data;
	struct store_redis *r = l->r;
	redisReply *rep = reply;
	char *topic = arg;
	struct sl_msg *m;
	size_t used;

	r->gets--;
	if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
		LOG_DEBUG("store", "redis: GET '%s': %s", topic,
		          rep ? rep->str : "connection lost");
	} else if (rep->type == REDIS_REPLY_NIL) {
		store_be_retain_changed(r->core, topic, NULL);
	} else if (rep->type == REDIS_REPLY_STRING &&
	           (m = store_msg_decode((const uint8_t *)rep->str, rep->len, &used)) != NULL) {
		if (m->topic.len == strlen(topic) && memcmp(m->topic.p, topic, m->topic.len) == 0)
			store_be_retain_changed(r->core, topic, m);
		else
			sl_msg_unref(m);
	} else {
		LOG_WARN("store", "redis: retained '%s' is not a message; ignored", topic);
	}
	sl_free(topic);
}

static void
get_topic(struct store_redis *r, const void *topic, size_t len)
{
	char *t;

	if (!r->w.ready || r->gets >= MAX_GETS) {
		LOG_DEBUG("store", "redis: change of '%.*s' dropped", (int)len,
		          (const char *)topic);
		return;
	}
	if (store_redis_key(&r->key, topic, len) < 0 ||
	    (t = sl_strndup((const char *)topic, len)) == NULL)
		return;
	if (redisAsyncCommand(r->w.ac, on_get, t, "GET %b", r->key.data, r->key.len) != REDIS_OK)
		sl_free(t);
	else
		r->gets++;
}

static void
on_recent(redisAsyncContext *ac, void *reply, void *arg)
{
	struct store_redis_link *l = ac->data;
	redisReply *rep = reply;

	(void)arg;
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
		l->r->catchup = true; /* again when the links are back */
		return;
	}
	if (rep->elements > 0)
		LOG_INFO("store", "redis: %zu retained topics changed while not listening",
		         rep->elements);
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *e = rep->element[i];
		char own[18];

		/* "<origin>:<topic>": this process's own changes are not news to it. */
		snprintf(own, sizeof(own), "%016llx:", (unsigned long long)l->r->origin);
		if (e->type != REDIS_REPLY_STRING || e->len < 17 || memcmp(e->str, own, 17) == 0)
			continue;
		get_topic(l->r, e->str + 17, e->len - 17);
	}
}

void
store_redis_catchup(struct store_redis *r)
{
	char since[24];
	uint64_t now = sl_now_ms();

	if (!r->catchup || !r->w.ready || !r->s.ready)
		return;
	/* A margin for clocks of other nodes a little behind ours. */
	snprintf(since, sizeof(since), "%llu",
	         (unsigned long long)(r->heard_ms > 2000 ? r->heard_ms - 2000 : 0));
	if (now - r->heard_ms > STORE_REDIS_RECENT_MS)
		LOG_WARN("store",
		         "redis: not listening for %llu s: changes older than %u s are "
		         "missed until the next start",
		         (unsigned long long)(now - r->heard_ms) / 1000,
		         STORE_REDIS_RECENT_MS / 1000);
	if (redisAsyncCommand(r->w.ac, on_recent, NULL, "ZRANGEBYSCORE %s %s +inf",
	                      STORE_REDIS_RECENT, since) == REDIS_OK) {
		r->catchup = false;
		r->heard_ms = now;
	}
}

static void
on_note(struct store_redis *r, const redisReply *payload)
{
	struct store_rd rd = {(const uint8_t *)payload->str, payload->len, 0, 0};
	struct sl_bytes node, topic;
	uint64_t origin;
	uint8_t ver;

	store_get_u8(&rd, &ver);
	store_get_u64(&rd, &origin);
	store_get_bytes(&rd, &node);
	store_get_bytes(&rd, &topic);
	if (rd.bad || ver != STORE_REDIS_NOTE_VERSION || origin == r->origin)
		return;
	/* The writer is down too, most likely: the catch-up after it is back reads it. */
	if (!r->w.ready)
		r->catchup = true;
	get_topic(r, topic.p, topic.len);
}

static void
on_sub_msg(redisAsyncContext *ac, void *reply, void *arg)
{
	struct store_redis_link *l = ac->data;
	redisReply *rep = reply, *kind;

	(void)arg;
	if (ac != l->ac)
		return;
	if (rep == NULL) {
		store_redis_link_lost(l, ac);
		return;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
	    (kind = rep->element[0])->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(kind->str, "subscribe") == 0)
		link_ready(l);
	else if (strcmp(kind->str, "message") == 0 && rep->element[2]->type == REDIS_REPLY_STRING)
		on_note(l->r, rep->element[2]);
}

static int
send_auth(struct store_redis_link *l)
{
	const struct store_redis_url *u = &l->r->url;
	void *step = (void *)(intptr_t)STEP_AUTH;

	if (u->pass == NULL)
		return REDIS_OK;
	l->step++;
	if (u->user != NULL)
		return redisAsyncCommand(l->ac, on_setup, step, "AUTH %s %s", u->user, u->pass);
	return redisAsyncCommand(l->ac, on_setup, step, "AUTH %s", u->pass);
}

/* Queued at once, sent when the connect completes; replies come in this order. */
static int
send_setup(struct store_redis_link *l)
{
	struct store_redis *r = l->r;
	int rc = send_auth(l);

	if (l->sub)
		return rc == REDIS_OK
		               ? redisAsyncCommand(l->ac, on_sub_msg, NULL, "SUBSCRIBE %s", r->chan)
		               : rc;
	l->step += 3;
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(l->ac, on_setup, (void *)(intptr_t)STEP_SELECT, "SELECT %d",
		                       r->url.db);
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(l->ac, on_setup, (void *)(intptr_t)STEP_PUT_SHA,
		                       "SCRIPT LOAD %s", put_lua);
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(l->ac, on_setup, (void *)(intptr_t)STEP_DEL_SHA,
		                       "SCRIPT LOAD %s", del_lua);
	return rc;
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct store_redis_link *l = ac->data;

	if (status != REDIS_OK && ac == l->ac)
		store_redis_link_lost(l, ac); /* hiredis frees ac after this returns */
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct store_redis_link *l = ac->data;

	(void)status;
	if (ac == l->ac)
		store_redis_link_lost(l, ac);
}

static void
link_connect(struct store_redis_link *l)
{
	struct store_redis *r = l->r;
	redisAsyncContext *ac = redisAsyncConnect(r->url.host, r->url.port);
	char why[128];

	if (ac == NULL || ac->err != 0 || attach(ac, r->loop) < 0) {
		snprintf(why, sizeof(why), "%s",
		         ac == NULL || ac->err == 0 ? "out of memory" : ac->errstr);
		if (ac != NULL)
			redisAsyncFree(ac);
		link_retry(l, why);
		return;
	}
	ac->data = l;
	l->ac = ac;
	l->step = 0;
	redisAsyncSetConnectCallback(ac, on_connect); /* after attach: it waits for writable */
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	redisEnableKeepAlive(&ac->c);
	uv_timer_start(&l->timer, on_link_timer, CONNECT_MS, 0);
	if (send_setup(l) != REDIS_OK)
		store_redis_link_drop(l, "out of memory");
}

static void
on_link_timer(uv_timer_t *t)
{
	struct store_redis_link *l = container_of(t, struct store_redis_link, timer);
	struct store_redis *r = l->r;

	if (l->ac == NULL)
		link_connect(l);
	else if (!l->ready)
		store_redis_link_drop(l, "connect timed out");
	else if (!l->sub && r->inflight > 0 && uv_now(r->loop) - r->progress_ms >= NO_REPLY_MS)
		store_redis_link_drop(l, "no reply for 10 s");
}

static void
link_init(struct store_redis *r, struct store_redis_link *l, bool sub)
{
	l->r = r;
	l->sub = sub;
	l->backoff_ms = BACKOFF_MIN_MS;
	uv_timer_init(r->loop, &l->timer);
}

int
store_redis_start(void *be, uv_loop_t *loop, struct store_be *core)
{
	struct store_redis *r = be;

	r->loop = loop;
	r->core = core;
	if (r->sync != NULL) { /* never loaded */
		redisFree(r->sync);
		r->sync = NULL;
	}
	link_init(r, &r->w, false);
	link_init(r, &r->s, true);
	uv_timer_init(loop, &r->stop_timer);
	link_connect(&r->w);
	link_connect(&r->s);
	return 0;
}

static void
link_close(struct store_redis_link *l)
{
	redisAsyncContext *ac = l->ac;

	l->ac = NULL;
	l->ready = false;
	if (ac != NULL)
		redisAsyncFree(ac);
	uv_close((uv_handle_t *)&l->timer, NULL);
}

void
store_redis_links_close(struct store_redis *r)
{
	link_close(&r->w);
	link_close(&r->s);
	uv_close((uv_handle_t *)&r->stop_timer, NULL);
}
