/* tests/unit/cluster/test_cluster.c - clusters of this process talking over real loopback
 * TCP: their threads, links, Hello/Auth, route gossip, waits and forwards, with ops that
 * record what the broker would have been asked to do. */
#include <check.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "pki_fix.h"
#include "proto/base/sl_msg.h"

struct rec {
	atomic_uint delivered, shared, waited;
	atomic_uint refuse_shared; /* deliver_shared answers -ENOENT */
	char last_topic[64];
	char last_payload[64];
	atomic_uint qos;
};

static void
on_deliver(void *arg, struct sl_msg *m)
{
	struct rec *r = arg;

	snprintf(r->last_topic, sizeof(r->last_topic), "%.*s", (int)m->topic.len, m->topic.p);
	snprintf(r->last_payload, sizeof(r->last_payload), "%.*s", (int)m->payload.len,
	         m->payload.p);
	atomic_store(&r->qos, m->qos);
	atomic_fetch_add(&r->delivered, 1);
}

static int
on_deliver_shared(void *arg, struct sl_msg *m, struct sl_bytes g, struct sl_bytes f)
{
	struct rec *r = arg;

	(void)m;
	(void)g;
	(void)f;
	if (atomic_load(&r->refuse_shared))
		return -2;
	atomic_fetch_add(&r->shared, 1);
	return 0;
}

static void
on_flush(void *arg)
{
	(void)arg;
}

static void
on_waited(void *arg, void *token)
{
	struct rec *r = arg;

	(void)token;
	atomic_fetch_add(&r->waited, 1);
}

static uint16_t
free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

#define NMAX 3
static uint16_t ports[NMAX];
static char peer_text[NMAX][32];
static const char *peer_list[NMAX];
static struct rec recs[NMAX];

static const char *tls_cert[NMAX]; /* set: the node speaks TLS with this certificate */

static struct cluster *
node(int i, int n, const char *secret)
{
	static char ids[NMAX][8];
	struct cluster_conf c = {0};
	struct cluster_ops ops = {on_deliver, on_deliver_shared, on_flush, on_waited, &recs[i]};
	struct cluster *cl;
	int err = 0;

	snprintf(ids[i], sizeof(ids[i]), "n%d", i);
	c.node_id = ids[i];
	c.bind_host = "127.0.0.1";
	c.bind_port = ports[i];
	c.peers = peer_list;
	c.n_peers = (uint32_t)n;
	c.secret = secret;
	c.heartbeat_ms = 100;
	c.unreachable_ms = 1000;
	c.sub_wait_ms = 3000;
	c.buffer_bytes = 1u << 20;
	c.buffer_ms = 10000;
	if (tls_cert[i] != NULL) {
		static char cert[NMAX][600], key[NMAX][600];
		snprintf(cert[i], sizeof(cert[i]), "%s.pem", pki(tls_cert[i]));
		snprintf(key[i], sizeof(key[i]), "%s.key", pki(tls_cert[i]));
		c.tls_cafile = pki("ca.pem");
		c.tls_certfile = cert[i];
		c.tls_keyfile = key[i];
	}
	cl = cluster_new(&c, &ops, &err);
	ck_assert_ptr_nonnull(cl);
	ck_assert_int_eq(cluster_start(cl), 0);
	return cl;
}

static void
setup_ports(int n)
{
	memset(recs, 0, sizeof(recs));
	memset(tls_cert, 0, sizeof(tls_cert));
	for (int i = 0; i < n; i++) {
		ports[i] = free_port();
		snprintf(peer_text[i], sizeof(peer_text[i]), "127.0.0.1:%u", ports[i]);
		peer_list[i] = peer_text[i];
	}
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* Polls until cond holds or 5 s pass. */
#define WAIT_FOR(cond)                                                                             \
	do {                                                                                       \
		for (int w_ = 0; w_ < 500 && !(cond); w_++)                                        \
			sleep_ms(10);                                                              \
		ck_assert_msg((cond), "timed out: %s", #cond);                                     \
	} while (0)

static bool
ready(struct cluster *cl, uint32_t peers)
{
	struct cluster_stats st;

	cluster_stats(cl, &st);
	return st.ready && st.peers_reachable == peers;
}

static struct sl_msg *
msg(const char *topic, const char *payload, uint8_t qos)
{
	return sl_msg_new(sl_bytes_make(topic, (uint32_t)strlen(topic)), sl_bytes_make(NULL, 0),
	                  sl_bytes_make(payload, (uint32_t)strlen(payload)),
	                  sl_bytes_make("pub", 3), qos, false);
}

static struct sl_bytes
B(const char *s) {
	return sl_bytes_make(s, (uint32_t)strlen(s));
}

START_TEST(test_route_then_forward)
{
	struct cluster *a, *b;
	struct cluster_stats st;
	struct sl_msg *m;

	setup_ports(2);
	a = node(0, 2, "s3cret");
	b = node(1, 2, "s3cret");
	WAIT_FOR(ready(a, 1) && ready(b, 1));
	ck_assert(!cluster_maybe(a, B("a/x")));
	/* $SYS is per node: never announced. A subscription on b: its wait ends once a holds
	 * the route, so a holds the $SYS one too by then if it was sent. */
	cluster_route_change(b, B("$SYS/#"), B(""), 1);
	cluster_route_change(b, B("a/+"), B(""), 1);
	cluster_route_wait(b, NULL);
	WAIT_FOR(atomic_load(&recs[1].waited) == 1);
	ck_assert(cluster_maybe(a, B("a/x")));
	ck_assert(!cluster_maybe(a, B("b/x")));
	ck_assert(!cluster_maybe(a, B("$SYS/broker/uptime")));
	m = msg("a/x", "hello", 1);
	cluster_forward(a, m);
	sl_msg_unref(m);
	WAIT_FOR(atomic_load(&recs[1].delivered) == 1);
	ck_assert_str_eq(recs[1].last_topic, "a/x");
	ck_assert_str_eq(recs[1].last_payload, "hello");
	ck_assert_uint_eq(atomic_load(&recs[1].qos), 1);
	cluster_stats(a, &st);
	ck_assert_uint_eq(st.forwards_out, 1);
	/* The subscription leaves: a stops forwarding. */
	cluster_route_change(b, B("a/+"), B(""), -1);
	WAIT_FOR(!cluster_maybe(a, B("a/x")));
	cluster_stop(a);
	cluster_stop(b);
	cluster_free(a);
	cluster_free(b);
}
END_TEST

START_TEST(test_shared_exactly_one_node)
{
	struct cluster *a, *b, *c;
	struct sl_msg *m;

	setup_ports(3);
	a = node(0, 3, "k");
	b = node(1, 3, "k");
	c = node(2, 3, "k");
	WAIT_FOR(ready(a, 2) && ready(b, 2) && ready(c, 2));
	cluster_route_change(b, B("s/#"), B("g"), 1);
	cluster_route_change(c, B("s/#"), B("g"), 1);
	cluster_route_wait(b, NULL);
	cluster_route_wait(c, NULL);
	WAIT_FOR(atomic_load(&recs[1].waited) == 1 && atomic_load(&recs[2].waited) == 1);
	for (int i = 0; i < 100; i++) {
		m = msg("s/1", "x", 1);
		cluster_forward(a, m);
		sl_msg_unref(m);
	}
	WAIT_FOR(atomic_load(&recs[1].shared) + atomic_load(&recs[2].shared) == 100);
	ck_assert_uint_gt(atomic_load(&recs[1].shared), 0); /* round robin over b and c */
	ck_assert_uint_gt(atomic_load(&recs[2].shared), 0);
	/* c has no usable member any more: every message goes to b after c's NO_MEMBER. */
	atomic_store(&recs[2].refuse_shared, 1);
	for (int i = 0; i < 100; i++) {
		m = msg("s/1", "x", 1);
		cluster_forward(a, m);
		sl_msg_unref(m);
	}
	WAIT_FOR(atomic_load(&recs[1].shared) + atomic_load(&recs[2].shared) == 200);
	sleep_ms(200);
	ck_assert_uint_eq(atomic_load(&recs[1].shared) + atomic_load(&recs[2].shared), 200);
	/* a has a member itself: local first. */
	cluster_route_change(a, B("s/#"), B("g"), 1);
	m = msg("s/1", "x", 0);
	cluster_forward(a, m);
	sl_msg_unref(m);
	WAIT_FOR(atomic_load(&recs[0].shared) == 1);
	cluster_stop(a);
	cluster_stop(b);
	cluster_stop(c);
	cluster_free(a);
	cluster_free(b);
	cluster_free(c);
}
END_TEST

START_TEST(test_wrong_secret_refused)
{
	struct cluster *a, *b;
	struct cluster_stats st;

	setup_ports(2);
	a = node(0, 2, "right");
	b = node(1, 2, "wrong");
	WAIT_FOR((cluster_stats(a, &st), st.auth_failed > 0));
	sleep_ms(300);
	cluster_stats(a, &st);
	ck_assert_uint_eq(st.peers_reachable, 0);
	cluster_route_change(b, B("#"), B(""), 1);
	sleep_ms(300);
	ck_assert(!cluster_maybe(a, B("x")));
	cluster_stop(a);
	cluster_stop(b);
	cluster_free(a);
	cluster_free(b);
}
END_TEST

START_TEST(test_routes_survive_peer_restart)
{
	struct cluster *a, *b;

	setup_ports(2);
	a = node(0, 2, "k");
	b = node(1, 2, "k");
	WAIT_FOR(ready(a, 1) && ready(b, 1));
	cluster_route_change(a, B("x/#"), B(""), 1);
	WAIT_FOR(cluster_maybe(b, B("x/1")));
	cluster_stop(b);
	cluster_free(b);
	b = node(1, 2, "k"); /* a new boot: it learns a's table again */
	WAIT_FOR(ready(b, 1) && cluster_maybe(b, B("x/1")));
	cluster_stop(a);
	cluster_stop(b);
	cluster_free(a);
	cluster_free(b);
}
END_TEST

START_TEST(test_tls_links)
{
	struct cluster *a, *b, *c;
	struct cluster_stats st;
	struct sl_msg *m;

	setup_ports(3);
	tls_cert[0] = "node1";
	tls_cert[1] = "node2";
	tls_cert[2] = "rogue"; /* signed by another CA: refused whatever its secret */
	a = node(0, 3, "k");
	b = node(1, 3, "k");
	c = node(2, 3, "k");
	WAIT_FOR(ready(a, 1) && ready(b, 1));
	WAIT_FOR((cluster_stats(a, &st), st.auth_failed > 0));
	cluster_route_change(b, B("t"), B(""), 1);
	cluster_route_change(c, B("#"), B(""), 1);
	cluster_route_wait(b, NULL);
	WAIT_FOR(atomic_load(&recs[1].waited) == 1);
	m = msg("t", "over tls", 1);
	cluster_forward(a, m);
	sl_msg_unref(m);
	WAIT_FOR(atomic_load(&recs[1].delivered) == 1);
	ck_assert_str_eq(recs[1].last_payload, "over tls");
	sleep_ms(200);
	ck_assert_uint_eq(atomic_load(&recs[2].delivered), 0);
	cluster_stats(a, &st);
	ck_assert_uint_eq(st.peers_reachable, 1);
	cluster_stop(a);
	cluster_stop(b);
	cluster_stop(c);
	cluster_free(a);
	cluster_free(b);
	cluster_free(c);
}
END_TEST

Suite *
cluster_suite(void)
{
	Suite *s = suite_create("cluster");
	TCase *tc = tcase_create("loopback");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_route_then_forward);
	tcase_add_test(tc, test_shared_exactly_one_node);
	tcase_add_test(tc, test_wrong_secret_refused);
	tcase_add_test(tc, test_routes_survive_peer_restart);
	suite_add_tcase(s, tc);
	tc = tcase_create("tls");
	tcase_add_unchecked_fixture(tc, pki_setup, pki_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_tls_links);
	suite_add_tcase(s, tc);
	return s;
}
