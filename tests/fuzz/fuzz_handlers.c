/* Fuzz target for the broker past the decoder: handlers, sessions, the router and delivery.
 * Each input runs on a fresh one-worker node (no listener, no store) whose connections have no
 * socket (conn_new_sink(), xport.h): bytes go in through conn_input(), what the broker writes
 * comes out at on_sink(), which checks it is well-formed MQTT within the limits the client
 * set (Maximum Packet Size, Topic Alias Maximum). The loop runs (UV_RUN_NOWAIT) after every
 * record, so flushes, the mailbox and thread pool results happen between chunks, and then
 * consistent() checks the node's sessions, connections and indexes agree. The node is stopped
 * and freed at the end of the input, so LeakSanitizer sees anything an input leaks.
 *
 * Input: byte 0 picks the configuration (struct knobs below); then records until the end:
 *     op       bits 0-1: connection slot (opened by its first DATA, again after it closed)
 *              bits 2-4: 5 DROP: the slot's connection fails (a socket error, no DISCONNECT)
 *                        6 TICK: the next byte is seconds the clock moves on; the node's
 *                          periodic work runs (rate limits, wills, expiry, $SYS)
 *                        any other: DATA
 *     DATA     length: one byte below 0x80, or 0x80 | high 7 bits then the low byte;
 *              then that many bytes (fewer at the end of the input) for conn_input()
 * tests/fuzz/gen_handlers_corpus.py writes seeds in this format. */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/auth/auth.h"
#include "broker/auth/scram.h"
#include "broker/conf/conf.h"
#include "broker/core/broker.h"
#include "broker/core/conn.h"
#include "broker/core/handle.h"
#include "broker/core/limit.h"
#include "broker/core/sess.h"
#include "broker/core/sys.h"
#include "broker/core/worker.h"
#include "broker/core/xport.h"
#include "broker/index/retain.h"
#include "broker/index/topic.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"
#include "proto/mqtt.h"

#define SLOTS 4
enum { OP_DROP = 5, OP_TICK = 6 };

struct fz {
	struct conf cf;
	struct broker b;
	struct worker n;
	struct conn *c[SLOTS]; /* NULL, or a connection that may have closed since (live()) */
	uint64_t ahead_ms;     /* how far TICKs moved the clock past the loop's */
	bool trace;            /* SL_FUZZ_TRACE is set */
};

static void
check(int ok)
{
	if (!ok)
		abort(); /* the broker broke a contract towards its clients */
}

/* SL_FUZZ_TRACE=1 in the environment: one line per packet the broker sends, to see what a
 * seed does (gen_handlers_corpus.py). */
static void
trace(const struct fz *f, const struct conn *c, const struct mqtt_pkt *pkt, int len)
{
	unsigned i;

	for (i = 0; i < SLOTS && f->c[i] != c; i++)
		;
	fprintf(stderr, "slot %u <- %s len %d", i, mqtt_type_str(pkt->type), len);
	if (pkt->type == MQTT_PUBLISH)
		fprintf(stderr, " '%.*s' qos %u id %u", (int)pkt->u.publish.topic.len,
		        (const char *)pkt->u.publish.topic.p, pkt->u.publish.qos,
		        pkt->u.publish.packet_id);
	else if (pkt->type == MQTT_CONNACK)
		fprintf(stderr, " rc 0x%02x", pkt->u.connack.rc);
	fprintf(stderr, "\n");
}

/* What the broker writes to a client: whole packets it can decode at the client's level,
 * within the limits the client's CONNECT set. */
static void
on_sink(void *arg, struct conn *c, const uint8_t *p, size_t len)
{
	const struct fz *f = arg;
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;
	size_t off = 0;
	int n;

	while (off < len) {
		n = mqtt_decode(p + off, len - off, c->version, 0, &pkt, &rc);
		if (f->trace && n <= 0)
			fprintf(stderr, "undecodable at level %u: %d, %s, first byte 0x%02x\n",
			        c->version, n, mqtt_rc_str(rc), p[off]);
		if (f->trace && n > 0)
			trace(f, c, &pkt, n);
		check(n > 0);
		check(c->max_packet_out == 0 || (uint32_t)n <= c->max_packet_out);
		/* [MQTT-3.3.2-9] no topic alias above the client's Topic Alias Maximum */
		check(pkt.type != MQTT_PUBLISH ||
		      !(pkt.u.publish.props.present & MQTT_PB(MQTT_PROP_TOPIC_ALIAS)) ||
		      pkt.u.publish.props.topic_alias <= c->out_alias_max);
		off += (size_t)n;
	}
}

/* Mosquitto's acl_file semantics (auth.h): anonymous clients get the topic lines before the
 * first user line, alice hers, everyone the patterns. */
static const char acl_text[] = "topic readwrite t/#\n"
                               "topic read $SYS/#\n"
                               "topic deny t/secret/#\n"
                               "topic write w/#\n"
                               "pattern readwrite c/%c/#\n"
                               "pattern read u/%u/+\n"
                               "user alice\n"
                               "topic readwrite a/#\n";

/* Writes text to dir/name. Returns 0 or -1. */
static int
put(const char *dir, const char *name, const char *text, char *path, size_t len)
{
	FILE *f;

	if ((size_t)snprintf(path, len, "%s/%s", dir, name) >= len ||
	    (f = fopen(path, "w")) == NULL)
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

/* User alice, password "secret": a "$7$" line (CONNECT with a password, and SCRAM-SHA-512)
 * and a scram_file line (SCRAM-SHA-256). Salts are random: no seed can finish an exchange,
 * but every step up to the client's proof is reachable. Returns 0 or -1. */
static int
write_files(const char *dir, char paths[3][4096])
{
	char line[512], hash[256];

	if (auth_hash_make("secret", 6, AUTH_PBKDF2_ITERATIONS, hash, sizeof(hash)) < 0)
		return -1;
	snprintf(line, sizeof(line), "alice:%s\n", hash);
	if (put(dir, "pw", line, paths[0], sizeof(paths[0])) < 0)
		return -1;
	if (auth_scram_make(SCRAM_SHA_256, "secret", 6, SCRAM_ITERATIONS, hash, sizeof(hash)) < 0)
		return -1;
	snprintf(line, sizeof(line), "alice:%s\n", hash);
	if (put(dir, "scram", line, paths[1], sizeof(paths[1])) < 0)
		return -1;
	return put(dir, "acl", acl_text, paths[2], sizeof(paths[2]));
}

/* The password file, SCRAM credentials and ACL above, loaded once (auth_load() reads files,
 * and hashing is slow) and kept for the process: the checks never change them. NULL if they
 * could not be written or loaded. */
static struct auth *
auth(void)
{
	static struct auth *a;
	static bool tried;
	const char *tmp = getenv("TMPDIR");
	char dir[4096], paths[3][4096], *err = NULL;
	int i;

	if (tried)
		return a;
	tried = true;
	snprintf(dir, sizeof(dir), "%s/fuzz_handlers.XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return NULL;
	memset(paths, 0, sizeof(paths));
	if (write_files(dir, paths) == 0 && (a = auth_load(paths[0], paths[2], &err)) != NULL &&
	    auth_load_scram(a, paths[1], true, &err) < 0) {
		auth_free(a);
		a = NULL;
	}
	sl_free(err);
	for (i = 0; i < 3; i++)
		if (paths[i][0] != '\0')
			unlink(paths[i]);
	rmdir(dir);
	return a;
}

/* Byte 0: small limits that make queues fill, windows close, aliases run out and readers
 * pause within a short input. */
static void
knobs(struct conf *cf, uint8_t k)
{
	cf->max_inflight_messages = (k & 0x01) ? 2 : 20;
	cf->max_queued_messages = (k & 0x02) ? 3 : 1000;
	cf->max_topic_alias = (k & 0x04) ? 2 : 10;
	if (k & 0x08) {
		cf->retain_available = false;
		cf->max_qos = 1;
	}
	if (k & 0x10) { /* overload: rate limits, and memory_limit a little above the node's */
		cf->max_publish_rate = 1;
		cf->max_publish_burst = 2;
		cf->memory_limit = sl_alloc_bytes() + (128u << 10);
	}
	if (k & 0x20) {
		cf->max_subscriptions_per_client = 3;
		cf->max_topic_levels = 3;
		cf->message_size_limit = 32;
	}
	if (k & 0x40)
		cf->max_packet_size = 128;
	/* and a password file, SCRAM and an ACL: up() */
	cf->payload_format_validation = (k & 0x80) != 0;
	cf->connection_messages = false;
}

/* worker_init() makes worker 0 catch SIGTERM, SIGINT and SIGHUP; the fuzzer's node leaves them
 * to libFuzzer, or a signal would wait in a loop nobody runs and the fuzzer would not stop. */
static int
node_up(struct worker *w, struct broker *b)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction saved[3];
	size_t i;
	int rc;

	for (i = 0; i < 3; i++)
		sigaction(sigs[i], NULL, &saved[i]);
	if ((rc = worker_init(w, b, 0)) < 0)
		return rc;
	uv_signal_stop(&w->sig_term);
	uv_signal_stop(&w->sig_int);
	uv_signal_stop(&w->sig_hup);
	for (i = 0; i < 3; i++)
		sigaction(sigs[i], &saved[i], NULL);
	return 0;
}

static int
up(struct fz *f, uint8_t k)
{
	memset(f, 0, sizeof(*f));
	conf_init(&f->cf);
	if (conf_complete(&f->cf) < 0) {
		conf_fini(&f->cf);
		return -1;
	}
	knobs(&f->cf, k);
	f->trace = getenv("SL_FUZZ_TRACE") != NULL;
	f->b.conf = &f->cf;
	f->b.n_workers = 1;
	f->b.workers = &f->n;
	pthread_mutex_init(&f->b.share_mu, NULL);
	f->b.retained = retain_new();
	f->b.shared = topic_tree_new();
	f->b.listener_conns = sl_calloc(f->cf.n_listeners + 1, sizeof(*f->b.listener_conns));
	check(f->b.retained != NULL && f->b.shared != NULL && f->b.listener_conns != NULL);
	if (k & 0x80)
		atomic_store(&f->b.auth, auth());
	check(node_up(&f->n, &f->b) == 0);
	return 0;
}

/* worker_stop() disconnects every connection; worker_fini() frees every session. */
static void
down(struct fz *f)
{
	worker_stop(&f->n, 0);
	uv_run(f->n.loop, UV_RUN_DEFAULT);
	worker_fini(&f->n);
	topic_tree_free(f->b.shared);
	retain_free(f->b.retained);
	sl_free(f->b.listener_conns);
	pthread_mutex_destroy(&f->b.share_mu);
	conf_fini(&f->cf);
}

/* Whether c is still open: closed connections leave the node's list at once. */
static bool
live(struct fz *f, const struct conn *c)
{
	const struct conn *it;

	for (it = f->n.conns; it != NULL; it = it->next)
		if (it == c)
			return true;
	return false;
}

/* The open connection of slot i, opened now if it has none. NULL on ENOMEM. */
static struct conn *
slot(struct fz *f, unsigned i)
{
	struct xport *x;
	unsigned j;

	if (f->c[i] != NULL && live(f, f->c[i]))
		return f->c[i];
	f->c[i] = NULL;
	if ((x = xport_sink_new(on_sink, f)) == NULL)
		return NULL;
	f->c[i] = conn_new_sink(&f->n, 0, x);
	for (j = 0; j < SLOTS; j++) /* a freed connection's address may come back */
		if (j != i && f->c[j] == f->c[i])
			f->c[j] = NULL;
	return f->c[i];
}

/* What worker.c's tick does that a fuzzer can reach without waiting for real time. */
static void
tick(struct fz *f, uint8_t seconds)
{
	struct worker *w = &f->n;
	struct conn *c, *next;
	uint64_t now;

	f->ahead_ms += (uint64_t)seconds * 1000u;
	now = uv_now(w->loop) + f->ahead_ms;
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		limit_conn_tick(c, now);
		if (!c->closing && conn_auth(c) != NULL)
			handle_auth_tick(c, now);
	}
	limit_tick(w);
	sess_tick(w, now);
	sys_publish(w, now);
}

static void
check_list(const struct dlv_list *l)
{
	const struct dlv *d;
	uint32_t n = 0;

	for (d = l->head; d != NULL; d = d->next, n++)
		check(d->next != NULL || d == l->tail);
	check(n == l->count);
}

/* Every open connection is counted, and agrees with its session. */
static void
check_conns(const struct worker *w)
{
	const struct conn *c;
	uint32_t n_conns = 0, connected = 0;

	for (c = w->conns; c != NULL; c = c->next, n_conns++) {
		check(!c->closing && (c->s == NULL || c->s->conn == c));
		connected += c->connected;
	}
	check(n_conns == w->n_conns && connected == w->st.clients_connected);
}

/* Sessions and connections agree with each other and with the indexes, between records. */
static void
consistent(struct fz *f)
{
	struct worker *w = &f->n;
	const struct sess *s;
	size_t local = 0, shared = 0, n_sess = 0;
	uint32_t i;

	check_conns(w);
	for (s = w->all_sess; s != NULL; s = s->next_all, n_sess++) {
		check(s->conn == NULL || s->conn->s == s);
		check(sess_find(w, s->client_id) == s);
		for (i = 0; i < s->n_subs; i++)
			strncmp(s->subs[i].filter, "$share/", 7) == 0 ? shared++ : local++;
		check_list(&s->inflight);
		check_list(&s->queue);
	}
	check(n_sess == w->n_sess);
	check(topic_tree_count(w->subs) == local);
	check(topic_tree_count(f->b.shared) == shared && atomic_load(&f->b.n_shared) == shared);
}

/* One record at data[0, size). Returns the bytes it used. */
static size_t
record(struct fz *f, const uint8_t *data, size_t size)
{
	unsigned op = (data[0] >> 2) & 7, i = data[0] & 3;
	size_t off = 1, len;
	struct conn *c;

	if (op == OP_DROP) {
		if (f->c[i] != NULL && live(f, f->c[i]))
			conn_close(f->c[i], false);
		return 1;
	}
	if (op == OP_TICK) {
		tick(f, size > 1 ? data[1] : 1);
		return size > 1 ? 2 : 1;
	}
	if (off >= size)
		return off;
	len = data[off++];
	if ((len & 0x80) && off < size)
		len = (len & 0x7f) << 8 | data[off++];
	if (len > size - off)
		len = size - off;
	/* Closing after its last writes, c reads no more: a socket would keep the bytes. Paused
	 * (limit.c), it is fed anyway: the bytes wait in c as they would in the socket. */
	if (len > 0 && (c = slot(f, i)) != NULL && !c->want_close) {
		c->last_rx_ms = uv_now(f->n.loop);
		conn_input(c, data + off, len);
	}
	return off + len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz *f;
	size_t off = 1;

	if (size < 1)
		return 0;
	sl_log_set_mask(0); /* a line per packet would be most of the run */
	f = malloc(sizeof(*f));
	if (f == NULL || up(f, data[0]) < 0) {
		free(f);
		return 0;
	}
	while (off < size) {
		off += record(f, data + off, size - off);
		uv_run(f->n.loop, UV_RUN_NOWAIT);
		consistent(f);
	}
	down(f);
	free(f);
	return 0;
}
