/* storage/store_pg_load.c - store_load for the PostgreSQL backend: this node's sessions
 * (rows whose node column is store_conf.node_name; other nodes' rows are theirs to load), read
 * in one REPEATABLE READ snapshot through server-side cursors so memory stays bounded.
 *
 * Every table is read ordered by client id in byte order (COLLATE "C", which strcmp agrees
 * with), and the children are merged against the sessions: rows of a client id without a
 * session row (never created, or left by an interrupted delete) are skipped. Malformed rows
 * are skipped with a warning rather than stopping the broker from starting. */
#include "store_pg_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/sl_log.h"
#include "store_codec.h"

/* A server-side cursor read FETCH by FETCH, so a large load never holds every row at once. */
struct cur {
	PGconn *conn;
	const char *name;
	PGresult *res;
	int row, n;
	bool end, err;
};

static int
cur_open(struct cur *c, PGconn *conn, const char *name, const char *sql, const char *node)
{
	char buf[512];
	PGresult *res;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	c->conn = conn;
	c->name = name;
	snprintf(buf, sizeof(buf), "DECLARE %s NO SCROLL CURSOR FOR %s", name, sql);
	res = PQexecParams(conn, buf, 1, NULL, &node, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		LOG_ERR("store", "PostgreSQL load: %s", PQerrorMessage(conn));
		c->end = c->err = true;
		rc = -EIO;
	}
	PQclear(res);
	return rc;
}

/* The client id of the current row, or NULL at the end (c->err tells an error from it). */
static const char *
cur_key(struct cur *c)
{
	char sql[64];

	if (c->row >= c->n && !c->end) {
		PQclear(c->res);
		snprintf(sql, sizeof(sql), "FETCH 1000 FROM %s", c->name);
		c->res = PQexec(c->conn, sql);
		c->row = c->n = 0;
		if (PQresultStatus(c->res) != PGRES_TUPLES_OK) {
			LOG_ERR("store", "PostgreSQL load: %s", PQerrorMessage(c->conn));
			c->err = true;
		} else {
			c->n = PQntuples(c->res);
		}
		c->end = c->n == 0;
	}
	return c->row < c->n ? PQgetvalue(c->res, c->row, 0) : NULL;
}

static const char *
cell(const struct cur *c, int col)
{
	return PQgetvalue(c->res, c->row, col);
}

/* Parses a non-negative decimal up to max. */
static bool
get_u(const struct cur *c, int col, uint64_t max, uint64_t *out)
{
	const char *s = cell(c, col);
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return s[0] >= '0' && s[0] <= '9' && *end == '\0' && errno == 0 && *out <= max;
}

/* A bigint holding a uint64 bit for bit (seq, wall-clock ms). */
static bool
get_u64(const struct cur *c, int col, uint64_t *out)
{
	const char *s = cell(c, col);
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	*out = (uint64_t)v;
	return s[0] != '\0' && *end == '\0' && errno == 0;
}

/* Decodes a bytea column (text format) holding store_msg_encode's bytes. */
static struct sl_msg *
get_msg(const struct cur *c, int col)
{
	size_t len = 0, used;
	unsigned char *p = PQunescapeBytea((const unsigned char *)cell(c, col), &len);
	struct sl_msg *m;

	if (p == NULL)
		return NULL;
	m = store_msg_decode(p, len, &used);
	PQfreemem(p);
	if (m != NULL && used != len) {
		sl_msg_unref(m);
		m = NULL;
	}
	return m;
}

struct load {
	const struct store_be_visitor *v;
	void *arg;
	const char *id;
	struct cur sess, ids, sub, q, rx, will;
};

static void
bad_row(const struct load *l, const char *table)
{
	LOG_WARN("store", "PostgreSQL load: client '%s': malformed %s row skipped", l->id, table);
}

static int
emit_sess(struct load *l)
{
	struct store_sess s = {.client_id = l->id};
	uint64_t version, expiry;

	if (!get_u(&l->sess, 1, 255, &version) || !get_u(&l->sess, 2, UINT32_MAX, &expiry) ||
	    !get_u64(&l->sess, 3, &s.expire_at)) {
		bad_row(l, "sessions");
		return 0;
	}
	s.version = (uint8_t)version;
	s.expiry = (uint32_t)expiry;
	s.username = PQgetisnull(l->sess.res, l->sess.row, 4) ? NULL : cell(&l->sess, 4);
	return l->v->sess != NULL ? l->v->sess(l->arg, &s) : 0;
}

static int
emit_sub(struct load *l)
{
	struct store_sub sub = {.filter = cell(&l->sub, 1)};
	uint64_t options, sub_id;

	if (!get_u(&l->sub, 2, 255, &options) || !get_u(&l->sub, 3, UINT32_MAX, &sub_id)) {
		bad_row(l, "subscriptions");
		return 0;
	}
	sub.options = (uint8_t)options;
	sub.sub_id = (uint32_t)sub_id;
	return l->v->sub != NULL ? l->v->sub(l->arg, l->id, &sub) : 0;
}

/* Parses a bigint[] in text form ("{1,2}") into q's subscription ids. */
static bool
get_sub_ids(const char *s, struct store_q *q)
{
	char *end;

	if (*s++ != '{')
		return false;
	while (*s != '}') {
		if (q->n_sub_ids == STORE_MAX_SUB_IDS || *s < '0' || *s > '9')
			return false;
		errno = 0;
		q->sub_ids[q->n_sub_ids++] = (uint32_t)strtoul(s, &end, 10);
		if (errno != 0 || (*end != ',' && *end != '}'))
			return false;
		s = *end == ',' ? end + 1 : end;
	}
	return s[1] == '\0';
}

static int
emit_q(struct load *l)
{
	struct store_q q = {.n_sub_ids = 0};
	uint64_t pid, qos, state;
	int rc;

	if (!get_u64(&l->q, 1, &q.seq) || !get_u(&l->q, 2, UINT16_MAX, &pid) ||
	    !get_u(&l->q, 3, 2, &qos) || !get_u(&l->q, 4, STORE_Q_REL, &state) ||
	    !get_sub_ids(cell(&l->q, 6), &q) || (q.msg = get_msg(&l->q, 7)) == NULL) {
		bad_row(l, "messages");
		return 0;
	}
	q.pid = (uint16_t)pid;
	q.qos = (uint8_t)qos;
	q.state = (uint8_t)state;
	q.retain = cell(&l->q, 5)[0] == 't';
	rc = l->v->q != NULL ? l->v->q(l->arg, l->id, &q) : 0;
	sl_msg_unref(q.msg);
	return rc;
}

static int
emit_rx(struct load *l)
{
	uint64_t pid;

	if (!get_u(&l->rx, 1, UINT16_MAX, &pid)) {
		bad_row(l, "rx_ids");
		return 0;
	}
	return l->v->rx != NULL ? l->v->rx(l->arg, l->id, (uint16_t)pid) : 0;
}

static int
emit_will(struct load *l)
{
	struct sl_msg *msg;
	uint64_t at_ms;
	int rc;

	if (!get_u64(&l->will, 1, &at_ms) || (msg = get_msg(&l->will, 2)) == NULL) {
		bad_row(l, "wills");
		return 0;
	}
	rc = l->v->will != NULL ? l->v->will(l->arg, l->id, msg, at_ms) : 0;
	sl_msg_unref(msg);
	return rc;
}

/* Skips c's rows of client ids before l->id, then passes each row of l->id to emit. */
static int
merge(struct load *l, struct cur *c, int (*emit)(struct load *l))
{
	const char *key;
	int cmp, rc;

	while ((key = cur_key(c)) != NULL && (cmp = strcmp(key, l->id)) <= 0) {
		if (cmp == 0 && (rc = emit(l)) != 0)
			return rc;
		c->row++;
	}
	return c->err ? -EIO : 0;
}

/* Every session first, then each one's children: store_be_visitor's order. */
static int
walk(struct load *l)
{
	int rc;

	while ((l->id = cur_key(&l->sess)) != NULL) {
		if ((rc = emit_sess(l)) != 0)
			return rc;
		l->sess.row++;
	}
	if (l->sess.err)
		return -EIO;
	while ((l->id = cur_key(&l->ids)) != NULL) {
		if ((rc = merge(l, &l->sub, emit_sub)) != 0 ||
		    (rc = merge(l, &l->q, emit_q)) != 0 || (rc = merge(l, &l->rx, emit_rx)) != 0 ||
		    (rc = merge(l, &l->will, emit_will)) != 0)
			return rc;
		l->ids.row++;
	}
	return l->ids.err ? -EIO : 0;
}

#define BY_ID " WHERE node = $1 ORDER BY client_id COLLATE \"C\""

static int
open_cursors(struct load *l, PGconn *conn, const char *node)
{
	if (cur_open(&l->sess, conn, "c_sess",
	             "SELECT client_id, version, expiry, expire_at, username FROM sessions" BY_ID,
	             node) < 0 ||
	    cur_open(&l->ids, conn, "c_ids", "SELECT client_id FROM sessions" BY_ID, node) < 0 ||
	    cur_open(&l->sub, conn, "c_sub",
	             "SELECT client_id, filter, options, sub_id FROM subscriptions" BY_ID
	             ", filter",
	             node) < 0 ||
	    cur_open(&l->q, conn, "c_q",
	             "SELECT client_id, seq, pid, qos, state, retain, sub_ids, body FROM "
	             "messages" BY_ID ", seq",
	             node) < 0 ||
	    cur_open(&l->rx, conn, "c_rx", "SELECT client_id, pid FROM rx_ids" BY_ID ", pid",
	             node) < 0 ||
	    cur_open(&l->will, conn, "c_will", "SELECT client_id, at_ms, body FROM wills" BY_ID,
	             node) < 0)
		return -EIO;
	return 0;
}

int
store_pg_load(void *be, const struct store_be_visitor *v, void *arg)
{
	struct store_pg *pg = be;
	struct load l = {.v = v, .arg = arg};
	PGresult *res;
	int rc;

	res = PQexec(pg->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -EIO;
	PQclear(res);
	if (rc < 0) {
		LOG_ERR("store", "PostgreSQL load: %s", PQerrorMessage(pg->conn));
		return rc;
	}
	rc = open_cursors(&l, pg->conn, pg->node);
	if (rc == 0)
		rc = walk(&l);
	PQclear(l.sess.res);
	PQclear(l.ids.res);
	PQclear(l.sub.res);
	PQclear(l.q.res);
	PQclear(l.rx.res);
	PQclear(l.will.res);
	PQclear(PQexec(pg->conn, rc == 0 ? "COMMIT" : "ROLLBACK"));
	return rc;
}
