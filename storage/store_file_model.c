/* storage/store_file_model.c - the embedded backend's state in memory (store_file.h): applied
 * from each write as it is logged and from each record as it is replayed; the source of
 * store_load's report and of every snapshot. */
#include "store_file.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "proto/base/sl_alloc.h"

struct store_file_sub {
	char *filter;
	uint8_t options;
	uint32_t sub_id;
};

/* A queued message; q[] entries stay sorted by seq. */
struct store_file_qent {
	uint64_t seq;
	struct sl_msg *msg; /* a reference; NULL: deleted, a hole until compacted */
	uint32_t sub_ids[STORE_MAX_SUB_IDS];
	uint16_t pid;
	uint8_t qos, state, n_sub_ids;
	bool retain;
};

struct store_file_sess {
	char *client_id;
	bool has_sess; /* a SESS_PUT was applied: the fields below it mean something */
	uint8_t version;
	uint32_t expiry;
	uint64_t expire_at;
	char *username;              /* owned; NULL = anonymous */
	struct store_file_sub *subs; /* in the order first subscribed */
	uint32_t n_subs, cap_subs;
	struct store_file_qent *q; /* the live queue is q[q_head..q_len), holes included */
	uint32_t q_head, q_len, q_cap, q_live;
	uint16_t *rx; /* QoS 2 packet ids received, unordered */
	uint32_t n_rx, cap_rx;
	struct sl_msg *will; /* a reference, or NULL */
	uint64_t will_at;
};

/* style: FNV-1a, seeded per process so that client ids chosen to collide do not line up the
 * same way twice; the final mix spreads the low bits the table uses. */
static uint32_t
key_hash(uint32_t seed, const char *k, size_t len)
{
	uint32_t h = 2166136261u ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)k[i];
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h;
}

static int
map_grow(struct store_file_map *m)
{
	uint32_t cap = m->cap != 0 ? m->cap * 2 : 16;
	struct store_file_slot *slot = sl_calloc(cap, sizeof(*slot));

	if (slot == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->cap; i++) {
		uint32_t j = m->slot[i].hash & (cap - 1);

		if (m->slot[i].key == NULL)
			continue;
		while (slot[j].key != NULL)
			j = (j + 1) & (cap - 1);
		slot[j] = m->slot[i];
	}
	sl_free(m->slot);
	m->slot = slot;
	m->cap = cap;
	return 0;
}

struct store_file_slot *
store_file_map_slot(struct store_file_map *m, const char *key, size_t len, bool create)
{
	uint32_t h = key_hash(m->seed, key, len), i;

	if (create && (m->n + 1) * 4 > m->cap * 3 && map_grow(m) < 0)
		return NULL;
	if (m->cap == 0)
		return NULL;
	for (i = h & (m->cap - 1); m->slot[i].key != NULL; i = (i + 1) & (m->cap - 1)) {
		struct store_file_slot *s = &m->slot[i];

		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
			return s;
	}
	if (!create)
		return NULL;
	m->slot[i] = (struct store_file_slot){key, (uint32_t)len, h, NULL};
	m->n++;
	return &m->slot[i];
}

void *
store_file_map_del(struct store_file_map *m, struct store_file_slot *s)
{
	uint32_t mask = m->cap - 1, i = (uint32_t)(s - m->slot), j = i;
	void *val = s->val;

	/* Backward shift: pull later entries of the probe run into the gap unless that would
	 * put one before its home slot. */
	for (;;) {
		uint32_t home;

		j = (j + 1) & mask;
		if (m->slot[j].key == NULL)
			break;
		home = m->slot[j].hash & mask;
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		m->slot[i] = m->slot[j];
		i = j;
	}
	m->slot[i].key = NULL;
	m->slot[i].val = NULL;
	m->n--;
	return val;
}

void
store_file_map_fini(struct store_file_map *m)
{
	sl_free(m->slot);
	m->slot = NULL;
	m->cap = m->n = 0;
}

/* Returns v (moved, perhaps) with room for n + 1 elements of size, or NULL (v unchanged). */
static void *
vec_room(void *v, uint32_t n, uint32_t *cap, size_t size)
{
	uint32_t c;

	if (n < *cap)
		return v;
	c = *cap != 0 ? *cap * 2 : 4;
	if ((v = sl_realloc(v, (size_t)c * size)) != NULL)
		*cap = c;
	return v;
}

void
store_file_model_init(struct store_file_model *m, bool sessions, bool retained)
{
	struct timespec ts;

	memset(m, 0, sizeof(*m));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	m->sess.seed = (uint32_t)ts.tv_nsec ^ (uint32_t)(uintptr_t)m;
	m->ret.seed = m->sess.seed * 2654435761u;
	m->sessions = sessions;
	m->retained = retained;
}

static void
sess_free(struct store_file_sess *s)
{
	for (uint32_t i = 0; i < s->n_subs; i++)
		sl_free(s->subs[i].filter);
	for (uint32_t i = s->q_head; i < s->q_len; i++)
		sl_msg_unref(s->q[i].msg);
	sl_msg_unref(s->will);
	sl_free(s->subs);
	sl_free(s->q);
	sl_free(s->rx);
	sl_free(s->username);
	sl_free(s->client_id);
	sl_free(s);
}

void
store_file_model_fini(struct store_file_model *m)
{
	for (uint32_t i = 0; i < m->sess.cap; i++)
		if (m->sess.slot[i].key != NULL)
			sess_free(m->sess.slot[i].val);
	for (uint32_t i = 0; i < m->ret.cap; i++)
		if (m->ret.slot[i].key != NULL)
			sl_msg_unref(m->ret.slot[i].val);
	store_file_map_fini(&m->sess);
	store_file_map_fini(&m->ret);
}

static struct store_file_sess *
sess_get(struct store_file_model *m, const char *id, bool create)
{
	struct store_file_slot *slot = store_file_map_slot(&m->sess, id, strlen(id), create);
	struct store_file_sess *s;

	if (slot == NULL || slot->val != NULL)
		return slot != NULL ? slot->val : NULL;
	s = sl_calloc(1, sizeof(*s));
	if (s == NULL || (s->client_id = sl_strdup(id)) == NULL) {
		sl_free(s);
		store_file_map_del(&m->sess, slot);
		return NULL;
	}
	slot->key = s->client_id; /* the key lives in the value from now on */
	slot->val = s;
	return s;
}

static void
sess_del(struct store_file_model *m, const char *id)
{
	struct store_file_slot *slot = store_file_map_slot(&m->sess, id, strlen(id), false);

	if (slot != NULL)
		sess_free(store_file_map_del(&m->sess, slot));
}

static int
sub_find(const struct store_file_sess *s, const char *filter)
{
	for (uint32_t i = 0; i < s->n_subs; i++)
		if (strcmp(s->subs[i].filter, filter) == 0)
			return (int)i;
	return -1;
}

static int
sub_put(struct store_file_sess *s, const struct store_sub *sub)
{
	int i = sub_find(s, sub->filter);
	struct store_file_sub *fs;

	if (i < 0) {
		if ((fs = vec_room(s->subs, s->n_subs, &s->cap_subs, sizeof(*fs))) == NULL)
			return -ENOMEM;
		s->subs = fs;
		fs = &s->subs[s->n_subs];
		if ((fs->filter = sl_strdup(sub->filter)) == NULL)
			return -ENOMEM;
		s->n_subs++;
	} else {
		fs = &s->subs[i];
	}
	fs->options = sub->options;
	fs->sub_id = sub->sub_id;
	return 0;
}

static void
sub_del(struct store_file_sess *s, const char *filter)
{
	int i = sub_find(s, filter);

	if (i < 0)
		return;
	sl_free(s->subs[i].filter);
	memmove(&s->subs[i], &s->subs[i + 1], (s->n_subs - (uint32_t)i - 1) * sizeof(*s->subs));
	s->n_subs--;
}

/* The index in q[q_head..q_len) of seq, or where it would go (*found false). */
static uint32_t
q_find(const struct store_file_sess *s, uint64_t seq, bool *found)
{
	uint32_t lo = s->q_head, hi = s->q_len;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->q[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < s->q_len && s->q[lo].seq == seq;
	return lo;
}

/* Makes room for one more entry: drops the holes when they are half the array, else grows. */
static int
q_room(struct store_file_sess *s)
{
	struct store_file_qent *q;
	uint32_t j = 0;

	if (s->q_len < s->q_cap)
		return 0;
	if (s->q_live >= s->q_cap / 2) {
		if ((q = vec_room(s->q, s->q_len, &s->q_cap, sizeof(*q))) == NULL)
			return -ENOMEM;
		s->q = q;
		return 0;
	}
	for (uint32_t i = s->q_head; i < s->q_len; i++)
		if (s->q[i].msg != NULL)
			s->q[j++] = s->q[i];
	s->q_head = 0;
	s->q_len = j;
	return 0;
}

static int
q_put(struct store_file_sess *s, struct store_op *op)
{
	struct store_file_qent *e;
	uint32_t i;
	bool found;

	if (op->q.msg == NULL)
		return -EINVAL;
	if (q_room(s) < 0)
		return -ENOMEM;
	i = q_find(s, op->q.seq, &found);
	e = &s->q[i];
	if (!found) {
		memmove(e + 1, e, (s->q_len - i) * sizeof(*e));
		s->q_len++;
		e->msg = NULL;
	}
	if (e->msg != NULL)
		sl_msg_unref(e->msg);
	else
		s->q_live++;
	e->seq = op->q.seq;
	e->pid = op->q.pid;
	e->qos = op->q.qos;
	e->state = op->q.state;
	e->retain = op->q.retain;
	e->n_sub_ids = op->q.n_sub_ids <= STORE_MAX_SUB_IDS ? op->q.n_sub_ids : STORE_MAX_SUB_IDS;
	memcpy(e->sub_ids, op->q.sub_ids, sizeof(e->sub_ids));
	e->msg = op->q.msg;
	op->q.msg = NULL;
	return 0;
}

static void
q_del(struct store_file_sess *s, uint64_t seq)
{
	bool found;
	uint32_t i = q_find(s, seq, &found);

	if (!found || s->q[i].msg == NULL)
		return;
	sl_msg_unref(s->q[i].msg);
	s->q[i].msg = NULL;
	s->q_live--;
	while (s->q_head < s->q_len && s->q[s->q_head].msg == NULL)
		s->q_head++;
	if (s->q_live == 0)
		s->q_head = s->q_len = 0;
}

static void
q_state(struct store_file_sess *s, uint64_t seq, uint8_t state, uint16_t pid)
{
	bool found;
	uint32_t i = q_find(s, seq, &found);

	if (found && s->q[i].msg != NULL) {
		s->q[i].state = state;
		s->q[i].pid = pid;
	}
}

static int
rx_put(struct store_file_sess *s, uint16_t pid)
{
	uint16_t *rx;

	for (uint32_t i = 0; i < s->n_rx; i++)
		if (s->rx[i] == pid)
			return 0;
	if ((rx = vec_room(s->rx, s->n_rx, &s->cap_rx, sizeof(*rx))) == NULL)
		return -ENOMEM;
	s->rx = rx;
	s->rx[s->n_rx++] = pid;
	return 0;
}

static void
rx_del(struct store_file_sess *s, uint16_t pid)
{
	for (uint32_t i = 0; i < s->n_rx; i++) {
		if (s->rx[i] == pid) {
			s->rx[i] = s->rx[--s->n_rx];
			return;
		}
	}
}

static int
ret_apply(struct store_file_model *m, struct store_op *op)
{
	struct store_file_slot *slot;
	struct sl_msg *msg = op->msg;

	if (op->kind == SOP_RET_DEL) {
		slot = store_file_map_slot(&m->ret, op->key, strlen(op->key), false);
		if (slot != NULL)
			sl_msg_unref(store_file_map_del(&m->ret, slot));
		return 0;
	}
	if (msg == NULL)
		return -EINVAL;
	slot = store_file_map_slot(&m->ret, (const char *)msg->topic.p, msg->topic.len, true);
	if (slot == NULL)
		return -ENOMEM;
	sl_msg_unref(slot->val);
	slot->key = (const char *)msg->topic.p; /* the key lives in the message */
	slot->val = msg;
	op->msg = NULL;
	return 0;
}

/* The ops on a session's own records, once the session is found (or made). */
static int
sess_apply(struct store_file_sess *s, struct store_op *op)
{
	switch (op->kind) {
	case SOP_SESS_PUT: {
		char *u = NULL;

		if (op->sess.username != NULL && (u = sl_strdup(op->sess.username)) == NULL)
			return -ENOMEM;
		sl_free(s->username);
		s->username = u;
		s->has_sess = true;
		s->version = op->sess.version;
		s->expiry = op->sess.expiry;
		s->expire_at = op->sess.expire_at;
		return 0;
	}
	case SOP_SUB_PUT:
		return sub_put(s, &op->sub);
	case SOP_SUB_DEL:
		sub_del(s, op->sub.filter);
		return 0;
	case SOP_Q_PUT:
		return q_put(s, op);
	case SOP_Q_STATE:
		q_state(s, op->q.seq, op->q.state, op->q.pid);
		return 0;
	case SOP_Q_DEL:
		q_del(s, op->q.seq);
		return 0;
	case SOP_RX_PUT:
		return rx_put(s, op->q.pid);
	case SOP_RX_DEL:
		rx_del(s, op->q.pid);
		return 0;
	case SOP_WILL_PUT:
		if (op->msg == NULL)
			return -EINVAL;
		sl_msg_unref(s->will);
		s->will = op->msg;
		s->will_at = op->at_ms;
		op->msg = NULL;
		return 0;
	default: /* SOP_WILL_DEL */
		sl_msg_unref(s->will);
		s->will = NULL;
		return 0;
	}
}

int
store_file_apply(struct store_file_model *m, struct store_op *op)
{
	struct store_file_sess *s;
	bool put;

	if (op->kind == SOP_RET_PUT || op->kind == SOP_RET_DEL)
		return m->retained ? ret_apply(m, op) : 0;
	if (!m->sessions || op->kind >= SOP_BARRIER)
		return 0;
	if (op->kind == SOP_SESS_DEL) {
		sess_del(m, op->key);
		return 0;
	}
	/* Records may come before their session's SESS_PUT; deletes of nothing are no-ops. */
	put = op->kind == SOP_SESS_PUT || op->kind == SOP_SUB_PUT || op->kind == SOP_Q_PUT ||
	      op->kind == SOP_RX_PUT || op->kind == SOP_WILL_PUT;
	if ((s = sess_get(m, op->key, put)) == NULL)
		return put ? -ENOMEM : 0;
	return sess_apply(s, op);
}

static void
qent_view(const struct store_file_qent *e, struct store_q *q)
{
	q->seq = e->seq;
	q->pid = e->pid;
	q->qos = e->qos;
	q->state = e->state;
	q->retain = e->retain;
	q->n_sub_ids = e->n_sub_ids;
	memcpy(q->sub_ids, e->sub_ids, sizeof(q->sub_ids));
	q->msg = e->msg;
}

/* A session's records after the session itself, in the order of store_be.h. */
static int
visit_sess(const struct store_file_sess *s, const struct store_be_visitor *v, void *arg)
{
	struct store_q q;
	int rc = 0;

	for (uint32_t i = 0; i < s->n_subs && rc == 0 && v->sub != NULL; i++) {
		struct store_sub sub = {s->subs[i].filter, s->subs[i].options, s->subs[i].sub_id};

		rc = v->sub(arg, s->client_id, &sub);
	}
	for (uint32_t i = s->q_head; i < s->q_len && rc == 0 && v->q != NULL; i++) {
		if (s->q[i].msg == NULL)
			continue;
		qent_view(&s->q[i], &q);
		rc = v->q(arg, s->client_id, &q);
	}
	for (uint32_t i = 0; i < s->n_rx && rc == 0 && v->rx != NULL; i++)
		rc = v->rx(arg, s->client_id, s->rx[i]);
	if (rc == 0 && s->will != NULL && v->will != NULL)
		rc = v->will(arg, s->client_id, s->will, s->will_at);
	return rc;
}

int
store_file_visit(const struct store_file_model *m, const struct store_be_visitor *v, void *arg)
{
	const struct store_file_map *sm = &m->sess, *rm = &m->ret;
	int rc = 0;

	for (uint32_t i = 0; i < sm->cap && rc == 0 && v->sess != NULL; i++) {
		const struct store_file_sess *s = sm->slot[i].val;
		struct store_sess ss;

		if (sm->slot[i].key == NULL || !s->has_sess)
			continue;
		ss = (struct store_sess){s->client_id, s->version, s->expiry, s->expire_at,
		                         s->username};
		rc = v->sess(arg, &ss);
	}
	for (uint32_t i = 0; i < sm->cap && rc == 0; i++) {
		const struct store_file_sess *s = sm->slot[i].val;

		if (sm->slot[i].key != NULL && s->has_sess)
			rc = visit_sess(s, v, arg);
	}
	for (uint32_t i = 0; i < rm->cap && rc == 0 && v->retain != NULL; i++)
		if (rm->slot[i].key != NULL)
			rc = v->retain(arg, rm->slot[i].val);
	return rc;
}

/* Appends the records of one session, as writes that rebuild it. */
static int
snap_sess(struct sl_buf *b, struct store_file_ids *ids, const struct store_file_sess *s,
          uint64_t *n)
{
	struct store_op op;
	int rc = 0;

	memset(&op, 0, sizeof(op));
	op.key = s->client_id;
	if (s->has_sess) {
		op.kind = SOP_SESS_PUT;
		op.sess = (struct store_sess){s->client_id, s->version, s->expiry, s->expire_at,
		                              s->username};
		rc = store_file_put_op(b, ids, &op, n);
	}
	op.kind = SOP_SUB_PUT;
	for (uint32_t i = 0; i < s->n_subs && rc == 0; i++) {
		op.sub = (struct store_sub){s->subs[i].filter, s->subs[i].options,
		                            s->subs[i].sub_id};
		rc = store_file_put_op(b, ids, &op, n);
	}
	op.kind = SOP_Q_PUT;
	for (uint32_t i = s->q_head; i < s->q_len && rc == 0; i++) {
		if (s->q[i].msg != NULL) {
			qent_view(&s->q[i], &op.q);
			rc = store_file_put_op(b, ids, &op, n);
		}
	}
	op.kind = SOP_RX_PUT;
	for (uint32_t i = 0; i < s->n_rx && rc == 0; i++) {
		op.q.pid = s->rx[i];
		op.q.msg = NULL;
		rc = store_file_put_op(b, ids, &op, n);
	}
	if (rc == 0 && s->will != NULL) {
		op = (struct store_op){.kind = SOP_WILL_PUT, .key = s->client_id, .msg = s->will};
		op.at_ms = s->will_at;
		rc = store_file_put_op(b, ids, &op, n);
	}
	return rc;
}

int
store_file_snapshot(const struct store_file_model *m, uint64_t gen, struct sl_buf *b)
{
	struct store_file_ids ids;
	struct store_op op;
	uint64_t n = 1; /* the HEAD */
	int rc = store_file_put_head(b, STORE_FILE_SNAP, gen);

	memset(&ids, 0, sizeof(ids));
	store_file_ids_reset(&ids);
	for (uint32_t i = 0; i < m->sess.cap && rc == 0; i++)
		if (m->sess.slot[i].key != NULL)
			rc = snap_sess(b, &ids, m->sess.slot[i].val, &n);
	memset(&op, 0, sizeof(op));
	op.kind = SOP_RET_PUT;
	for (uint32_t i = 0; i < m->ret.cap && rc == 0; i++) {
		if (m->ret.slot[i].key != NULL) {
			op.msg = m->ret.slot[i].val;
			rc = store_file_put_op(b, &ids, &op, &n);
		}
	}
	if (rc == 0)
		rc = store_file_put_end(b, n);
	store_file_ids_fini(&ids);
	return rc;
}
