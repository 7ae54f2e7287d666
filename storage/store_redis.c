/* storage/store_redis.c - retained messages in Redis: the ops table, the URL, the blocking
 * connect at open and the paged load. The runtime (hiredis async on the backend loop) is in
 * store_redis_link.c (connections, change notes) and store_redis_write.c (writes, barriers).
 *
 * Other nodes' changes reach the broker through store_conf.retain_changed, called on this
 * backend's thread (not a worker loop): the broker's callback must be thread safe. */
#include "store_redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"
#include "store_codec.h"

#define PAGE 1000
#define LOADING_WAIT_MS 60000

/* Removes the index entries (ARGV) whose keys (KEYS[2..]) are gone, expired or deleted by hand,
 * checking again inside the script: a node may have put the topic since our MGET. */
static const char clean_lua[] = "local n = 0\n"
                                "for i = 1, #ARGV do\n"
                                "  if redis.call('EXISTS', KEYS[i + 1]) == 0 then\n"
                                "    n = n + redis.call('ZREM', KEYS[1], ARGV[i])\n"
                                "  end\n"
                                "end\n"
                                "return n\n";

static void set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* *err = a malloc'd message (the core frees it with free()). */
static void
set_err(char **err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (*err = malloc((size_t)n + 1)) == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(*err, (size_t)n + 1, fmt, ap);
	va_end(ap);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Copies s[0..len) decoding %XX (a password may hold any byte). NULL on ENOMEM or a bad %. */
static char *
pct_decode(const char *s, size_t len)
{
	char *out = sl_malloc(len + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= len || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
			sl_free(out);
			return NULL;
		}
		*o++ = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
		i += 2;
	}
	*o = '\0';
	return out;
}

/* user:pass (or :pass) before '@'. */
static int
parse_userinfo(const char *s, size_t len, struct store_redis_url *u)
{
	const char *colon = memchr(s, ':', len);

	if (colon == NULL)
		return -EINVAL; /* a user without a password cannot AUTH */
	if (colon > s && (u->user = pct_decode(s, (size_t)(colon - s))) == NULL)
		return -EINVAL;
	u->pass = pct_decode(colon + 1, len - (size_t)(colon - s) - 1);
	return u->pass != NULL ? 0 : -EINVAL;
}

static int
parse_number(const char *s, size_t len, long max, int *out)
{
	long v = 0;

	if (len == 0 || len > 9)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* host, [v6host], host:port, [v6host]:port. */
static int
parse_hostport(const char *s, size_t len, struct store_redis_url *u)
{
	const char *end = s + len, *h = s, *he, *colon;

	if (len > 0 && s[0] == '[') {
		h = s + 1;
		if ((he = memchr(h, ']', (size_t)(end - h))) == NULL)
			return -EINVAL;
		colon = he + 1 < end ? he + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return -EINVAL;
	} else {
		colon = memchr(s, ':', len);
		he = colon != NULL ? colon : end;
	}
	if (he == h || (u->host = sl_strndup(h, (size_t)(he - h))) == NULL)
		return -EINVAL;
	u->port = 6379;
	if (colon != NULL &&
	    (parse_number(colon + 1, (size_t)(end - colon - 1), 65535, &u->port) < 0 || !u->port))
		return -EINVAL;
	return 0;
}

int
store_redis_url_parse(const char *url, struct store_redis_url *u, char **err)
{
	static const char scheme[] = "redis://";
	const char *a, *slash, *at;
	int rc;

	memset(u, 0, sizeof(*u));
	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
		set_err(err, "redis_url: want redis://[[user]:password@]host[:port][/db]");
		return -EINVAL;
	}
	a = url + sizeof(scheme) - 1;
	slash = strchr(a, '/');
	if (slash == NULL)
		slash = a + strlen(a);
	at = NULL;
	for (const char *p = a; p < slash; p++)
		if (*p == '@')
			at = p;
	rc = at != NULL ? parse_userinfo(a, (size_t)(at - a), u) : 0;
	if (rc == 0)
		rc = parse_hostport(at != NULL ? at + 1 : a, (size_t)(slash - (at ? at + 1 : a)),
		                    u);
	if (rc == 0 && *slash == '/' && slash[1] != '\0')
		rc = parse_number(slash + 1, strlen(slash + 1), 1000000, &u->db);
	if (rc < 0) {
		/* The URL may hold a password: name the part, never echo it. */
		set_err(err, "redis_url: bad %s",
		        u->pass == NULL && at != NULL ? "user:password"
		        : u->host == NULL             ? "host or port"
		                                      : "port or db");
		store_redis_url_fini(u);
	}
	return rc;
}

void
store_redis_url_fini(struct store_redis_url *u)
{
	sl_free(u->host);
	sl_free(u->user);
	sl_free(u->pass);
	memset(u, 0, sizeof(*u));
}

int
store_redis_key(struct sl_buf *b, const void *topic, size_t len)
{
	b->len = 0;
	if (sl_buf_append(b, STORE_REDIS_KEY, sizeof(STORE_REDIS_KEY) - 1) < 0)
		return -ENOMEM;
	return sl_buf_append(b, topic, len);
}

int
store_redis_note(const struct store_redis *r, struct sl_buf *b, const void *topic, size_t len)
{
	uint8_t ver = STORE_REDIS_NOTE_VERSION;

	b->len = 0;
	if (sl_buf_append(b, &ver, 1) < 0 || store_put_u64(b, r->origin) < 0 ||
	    store_put_bytes(b, r->node, (uint32_t)strlen(r->node)) < 0 ||
	    store_put_bytes(b, topic, (uint32_t)len) < 0)
		return -ENOMEM;
	return 0;
}

/* One blocking command; NULL with *err set on an I/O or error reply. */
static redisReply *
sync_cmd(redisContext *c, int argc, const char **argv, const size_t *len, char **err)
{
	redisReply *rep = redisCommandArgv(c, argc, argv, len);

	if (rep == NULL) {
		set_err(err, "redis store: %s: %s", argv[0], c->errstr);
		return NULL;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		set_err(err, "redis store: %s: %s", argv[0], rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

static int
sync_auth(struct store_redis *r, char **err)
{
	const char *argv[3] = {"AUTH"};
	size_t len[3];
	int argc = 1;
	redisReply *rep;

	if (r->url.pass == NULL)
		return 0;
	if (r->url.user != NULL)
		argv[argc++] = r->url.user;
	argv[argc++] = r->url.pass;
	for (int i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	if ((rep = sync_cmd(r->sync, argc, argv, len, err)) == NULL)
		return -EACCES;
	freeReplyObject(rep);
	return 0;
}

static int
sync_select(struct store_redis *r, char **err)
{
	char db[16];
	const char *argv[2] = {"SELECT", db};
	size_t len[2] = {6, 0};
	redisReply *rep;

	snprintf(db, sizeof(db), "%d", r->url.db);
	len[1] = strlen(db);
	if ((rep = sync_cmd(r->sync, 2, argv, len, err)) == NULL)
		return -EINVAL;
	freeReplyObject(rep);
	return 0;
}

/* A restarted server answers LOADING until its AOF is read: wait for it (bounded). */
static int
sync_wait_loaded(struct store_redis *r, char **err)
{
	struct timespec ts = {0, 100 * 1000 * 1000};

	for (int waited = 0;; waited += 100) {
		redisReply *rep = redisCommand(r->sync, "PING");
		bool loading;

		if (rep == NULL) {
			set_err(err, "redis store: PING: %s", r->sync->errstr);
			return -EIO;
		}
		loading = rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "LOADING", 7) == 0;
		if (!loading && rep->type == REDIS_REPLY_ERROR)
			set_err(err, "redis store: PING: %s", rep->str);
		freeReplyObject(rep);
		if (!loading)
			return *err != NULL ? -EIO : 0;
		if (waited >= LOADING_WAIT_MS) {
			set_err(err, "redis store: server still loading after 60 s");
			return -ETIMEDOUT;
		}
		nanosleep(&ts, NULL);
	}
}

static int
sync_connect(struct store_redis *r, char **err)
{
	struct timeval connect_tv = {5, 0}, io_tv = {30, 0};
	char where[300];
	int rc;

	snprintf(where, sizeof(where), "%s:%d", r->url.host, r->url.port);
	r->sync = redisConnectWithTimeout(r->url.host, r->url.port, connect_tv);
	if (r->sync == NULL || r->sync->err != 0) {
		set_err(err, "redis store: connect %s: %s", where,
		        r->sync != NULL ? r->sync->errstr : "out of memory");
		return -ECONNREFUSED;
	}
	redisSetTimeout(r->sync, io_tv);
	/* AUTH is answered while loading, SELECT and the rest only after. */
	rc = sync_auth(r, err);
	if (rc == 0)
		rc = sync_wait_loaded(r, err);
	if (rc == 0)
		rc = sync_select(r, err);
	return rc;
}

static void
redis_free(void *be)
{
	struct store_redis *r = be;

	if (r == NULL)
		return;
	if (r->sync != NULL)
		redisFree(r->sync);
	SL_ASSERT(r->n == 0);
	sl_free(r->ring);
	sl_buf_fini(&r->key);
	sl_buf_fini(&r->val);
	sl_buf_fini(&r->note);
	sl_buf_fini(&r->rmember);
	store_redis_url_fini(&r->url);
	sl_free(r->node);
	sl_free(r->chan);
	sl_free(r);
}

static uint64_t
random_origin(void)
{
	uint64_t v = 0;

	if (uv_random(NULL, NULL, &v, sizeof(v), 0, NULL) < 0)
		v = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)uv_os_getpid() << 32;
	return v;
}

static int
redis_open(const struct store_conf *cf, bool sessions, bool retained, void **be, char **err)
{
	struct store_redis *r;
	char chan[64];
	int rc;

	(void)retained;
	*err = NULL;
	if (sessions) {
		set_err(err, "redis store: keeps retained messages only");
		return -ENOTSUP;
	}
	if ((r = sl_calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	rc = store_redis_url_parse(cf->redis_url, &r->url, err);
	if (rc < 0)
		goto fail;
	/* Pub/sub ignores the db: another db's nodes must not hear our changes. */
	if (r->url.db == 0)
		snprintf(chan, sizeof(chan), "%s", STORE_REDIS_CHAN);
	else
		snprintf(chan, sizeof(chan), "%s:%d", STORE_REDIS_CHAN, r->url.db);
	r->chan = sl_strdup(chan);
	r->node = sl_strdup(cf->node_name != NULL ? cf->node_name : "");
	rc = -ENOMEM;
	if (r->chan == NULL || r->node == NULL)
		goto fail;
	r->origin = random_origin();
	rc = sync_connect(r, err);
	if (rc < 0)
		goto fail;
	*be = r;
	return 0;
fail:
	redis_free(r);
	return rc;
}

struct load_ctx {
	const struct store_be_visitor *v;
	void *arg;
	uint64_t now;
	size_t loaded, bad, cleaned;
	bool missing[PAGE];             /* of the page: the MGET found no value */
	const char *argv[2 * PAGE + 4]; /* of the next command */
	size_t len[2 * PAGE + 4];
	struct sl_buf keys; /* the bytes of its keys */
};

/* Puts the keys of the page's topics (those with want[i], or all if want is NULL) in argv from
 * at on. Returns how many, or -ENOMEM. */
static int
put_keys(struct load_ctx *lc, const redisReply *page, const bool *want, size_t at)
{
	size_t n = 0, off = 0;

	lc->keys.len = 0;
	for (size_t i = 0; i < page->elements; i++) {
		const redisReply *e = page->element[i];

		if (want != NULL && !want[i])
			continue;
		if (sl_buf_append(&lc->keys, STORE_REDIS_KEY, sizeof(STORE_REDIS_KEY) - 1) < 0 ||
		    sl_buf_append(&lc->keys, e->str, e->len) < 0)
			return -ENOMEM;
		lc->len[at + n++] = sizeof(STORE_REDIS_KEY) - 1 + e->len;
	}
	for (size_t i = 0; i < n; off += lc->len[at + i++])
		lc->argv[at + i] = (const char *)lc->keys.data + off;
	return (int)n;
}

/* Index entries whose keys the MGET did not find: removed unless put again since. Returns how
 * many were removed, or a negative errno. */
static int
clean_index(struct store_redis *r, struct load_ctx *lc, const redisReply *page)
{
	int n = put_keys(lc, page, lc->missing, 4), rc;
	size_t argc = 4 + (size_t)n;
	char nkeys[16], *err = NULL;
	redisReply *rep;

	if (n < 0)
		return n;
	for (size_t i = 0; i < page->elements; i++)
		if (lc->missing[i])
			lc->argv[argc] = page->element[i]->str,
			lc->len[argc++] = page->element[i]->len;
	snprintf(nkeys, sizeof(nkeys), "%d", n + 1);
	lc->argv[0] = "EVAL", lc->argv[1] = clean_lua, lc->argv[2] = nkeys;
	lc->argv[3] = STORE_REDIS_IDX;
	for (size_t i = 0; i < 4; i++)
		lc->len[i] = strlen(lc->argv[i]);
	rep = sync_cmd(r->sync, (int)argc, lc->argv, lc->len, &err);
	rc = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : -EIO;
	freeReplyObject(rep);
	if (err != NULL)
		LOG_WARN("store", "redis: cleaning the retained index: %s", err);
	free(err);
	return rc;
}

/* Reports one MGET value. Returns the visitor's non-zero, or 0. */
static int
visit_one(struct load_ctx *lc, const redisReply *topic, const redisReply *val)
{
	struct sl_msg *m;
	size_t used;
	int rc;

	m = store_msg_decode((const uint8_t *)val->str, val->len, &used);
	if (m == NULL || m->topic.len != topic->len ||
	    memcmp(m->topic.p, topic->str, topic->len) != 0) {
		if (lc->bad++ == 0)
			LOG_WARN("store", "redis: retained '%.*s' is not a message; skipped",
			         (int)topic->len, topic->str);
		sl_msg_unref(m);
		return 0;
	}
	if (m->expiry_at_ms != 0 && m->expiry_at_ms <= lc->now) { /* Redis drops it any moment */
		sl_msg_unref(m);
		return 0;
	}
	lc->loaded++;
	rc = lc->v->retain(lc->arg, m);
	sl_msg_unref(m);
	return rc;
}

static int
visit_page(struct store_redis *r, struct load_ctx *lc, const redisReply *page,
           const redisReply *vals)
{
	size_t n_missing = 0;
	int rc;

	if (vals->type != REDIS_REPLY_ARRAY || vals->elements != page->elements)
		return -EPROTO;
	for (size_t i = 0; i < page->elements; i++) {
		const redisReply *val = vals->element[i];

		lc->missing[i] = val->type == REDIS_REPLY_NIL;
		n_missing += lc->missing[i];
		if (val->type != REDIS_REPLY_STRING || lc->v->retain == NULL)
			continue;
		if ((rc = visit_one(lc, page->element[i], val)) != 0)
			return rc;
	}
	if (n_missing > 0 && (rc = clean_index(r, lc, page)) > 0)
		lc->cleaned += (size_t)rc;
	return 0;
}

static bool
page_ok(const redisReply *page)
{
	if (page == NULL || page->type != REDIS_REPLY_ARRAY || page->elements > PAGE)
		return false;
	for (size_t i = 0; i < page->elements; i++)
		if (page->element[i]->type != REDIS_REPLY_STRING)
			return false;
	return true;
}

/* Queues the MGET of the page's keys and the next page's ZRANGEBYLEX: a round trip for both.
 * Lex order over one score pages stably while other nodes add or remove topics. */
static int
append_next(struct store_redis *r, struct load_ctx *lc, const redisReply *page)
{
	const redisReply *last = page->element[page->elements - 1];
	int n = put_keys(lc, page, NULL, 1);

	if (n < 0)
		return n;
	lc->argv[0] = "MGET", lc->len[0] = 4;
	if (redisAppendCommandArgv(r->sync, n + 1, lc->argv, lc->len) != REDIS_OK)
		return -ENOMEM;
	lc->keys.len = 0; /* hiredis copied the command */
	if (sl_buf_append(&lc->keys, "(", 1) < 0 ||
	    sl_buf_append(&lc->keys, last->str, last->len) < 0)
		return -ENOMEM;
	if (redisAppendCommand(r->sync, "ZRANGEBYLEX %s %b + LIMIT 0 %d", STORE_REDIS_IDX,
	                       lc->keys.data, lc->keys.len, PAGE) != REDIS_OK)
		return -ENOMEM;
	return 0;
}

static int
load_pages(struct store_redis *r, struct load_ctx *lc)
{
	redisReply *page, *vals, *next;
	int rc = 0;

	page = redisCommand(r->sync, "ZRANGEBYLEX %s - + LIMIT 0 %d", STORE_REDIS_IDX, PAGE);
	while (rc == 0 && page_ok(page) && page->elements > 0) {
		vals = next = NULL;
		rc = append_next(r, lc, page);
		if (rc == 0 && (redisGetReply(r->sync, (void **)&vals) != REDIS_OK ||
		                redisGetReply(r->sync, (void **)&next) != REDIS_OK))
			rc = -EIO;
		if (rc == 0)
			rc = visit_page(r, lc, page, vals);
		freeReplyObject(vals);
		freeReplyObject(page);
		page = next;
	}
	if (rc == 0 && !page_ok(page)) {
		LOG_ERR("store", "redis: reading the retained index: %s",
		        page == NULL                      ? r->sync->errstr
		        : page->type == REDIS_REPLY_ERROR ? page->str
		                                          : "unexpected reply");
		rc = -EIO;
	}
	freeReplyObject(page);
	return rc;
}

static int
redis_load(void *be, const struct store_be_visitor *v, void *arg)
{
	struct store_redis *r = be;
	struct load_ctx *lc = sl_calloc(1, sizeof(*lc));
	int rc = -ENOMEM;

	if (lc != NULL && r->sync != NULL) {
		lc->v = v;
		lc->arg = arg;
		lc->now = sl_now_ms();
		r->heard_ms = lc->now; /* what changes after this the catch-up reads */
		rc = load_pages(r, lc);
		sl_buf_fini(&lc->keys);
	}
	if (rc == 0)
		LOG_INFO("store",
		         "redis: %zu retained messages loaded, %zu stale index entries removed",
		         lc->loaded, lc->cleaned);
	sl_free(lc);
	/* The runtime has connections of its own. */
	if (r->sync != NULL)
		redisFree(r->sync);
	r->sync = NULL;
	return rc;
}

const struct store_be_ops store_redis_ops = {
        .name = "redis",
        .open = redis_open,
        .load = redis_load,
        .start = store_redis_start,
        .submit = store_redis_submit,
        .stop = store_redis_stop,
        .free = redis_free,
};
