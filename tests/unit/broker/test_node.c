/* Tests for broker/core/node.c: when a configuration makes a cluster node, and the struct
 * cluster_conf handed to cluster_new() (addresses split, ports defaulted, seconds made
 * milliseconds). */
#include <check.h>
#include <string.h>

#include "broker/conf/conf.h"
#include "broker/core/node.h"
#include "cluster/cluster.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* What a cluster node needs besides the key that makes it one. */
#define NODE "cluster_node_id n1\ncluster_secret s\n"

struct on_case {
	const char *text;
	bool on;
};

static const struct on_case on_cases[] = {
        {"", false},
        {"cluster_name prod\ncluster_node_id n1\ncluster_secret s", false},
        {"cluster_advertise n1:7800\ncluster_subscribe_wait 10", false},
        {NODE "cluster_bind 0.0.0.0", true},
        {NODE "cluster_listen 0.0.0.0:7946", true},
        {NODE "cluster_peers n2", true},
        {NODE "cluster_discovery dns starling", true},
};

START_TEST(test_cluster_on) /* cases: no key, keys that do not, each key that does */
{
	const struct on_case *oc = &on_cases[_i];
	char err[256];
	struct conf c;

	conf_init(&c);
	ck_assert_msg(conf_load_string(&c, "t.conf", oc->text, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(conf_cluster_on(&c) == oc->on, "%s", oc->text);
	conf_fini(&c);
}
END_TEST

/* Loads text and fills cc from it. */
static void
fill(struct conf *c, const char *text, struct cluster_conf *cc, struct node_conf_mem *mem)
{
	char err[256];

	conf_init(c);
	ck_assert_msg(conf_load_string(c, "t.conf", text, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(node_conf(c, cc, mem), 0);
}

START_TEST(test_conf_defaults)
{
	struct cluster_conf cc;
	struct node_conf_mem mem;
	struct conf c;

	fill(&c, NODE "cluster_peers n2", &cc, &mem);
	ck_assert_str_eq(cc.node_id, "n1");
	ck_assert_str_eq(cc.name, "starling");
	ck_assert_str_eq(cc.secret, "s");
	ck_assert_str_eq(cc.bind_host, "0.0.0.0");
	ck_assert_uint_eq(cc.bind_port, 7800);
	ck_assert_ptr_null(cc.advertise);
	ck_assert_ptr_null(cc.dns_name);
	ck_assert_ptr_null(cc.tls_cafile);
	ck_assert_uint_eq(cc.dns_interval_ms, 5000);
	ck_assert_uint_eq(cc.heartbeat_ms, 500);
	ck_assert_uint_eq(cc.unreachable_ms, 2000);
	ck_assert_uint_eq(cc.sub_wait_ms, 5000);
	ck_assert_uint_eq(cc.buffer_bytes, 64u << 20);
	ck_assert_uint_eq(cc.buffer_ms, 60000);
	ck_assert_int_eq(cc.shared_policy, CLUSTER_SHARED_LOCAL_FIRST);
	ck_assert_uint_eq(cc.n_peers, 1);
	ck_assert_str_eq(cc.peers[0], "n2:7800");
	node_conf_fini(&mem);
	conf_fini(&c);
}
END_TEST

START_TEST(test_conf_every_key)
{
	struct cluster_conf cc;
	struct node_conf_mem mem;
	struct conf c;

	fill(&c,
	     NODE "cluster_name prod\ncluster_bind [::1]:7901\ncluster_advertise n1.x:7902\n"
	          "cluster_peers n2:7946, n3 ,[fd00::3],10.0.0.4:1\n"
	          "cluster_discovery dns  nodes.svc:7903\ncluster_discovery_interval 30\n"
	          "cluster_tls_cafile ca\ncluster_tls_certfile cert\ncluster_tls_keyfile key\n"
	          "cluster_heartbeat_interval 100\ncluster_unreachable_after 400\n"
	          "cluster_subscribe_wait 0\ncluster_buffer_bytes 1k\ncluster_buffer_time 2\n"
	          "cluster_shared_policy round_robin",
	     &cc, &mem);
	ck_assert_str_eq(cc.name, "prod");
	ck_assert_str_eq(cc.bind_host, "::1");
	ck_assert_uint_eq(cc.bind_port, 7901);
	ck_assert_str_eq(cc.advertise, "n1.x:7902");
	ck_assert_uint_eq(cc.n_peers, 4);
	ck_assert_str_eq(cc.peers[0], "n2:7946");
	ck_assert_str_eq(cc.peers[1], "n3:7800");
	ck_assert_str_eq(cc.peers[2], "[fd00::3]:7800");
	ck_assert_str_eq(cc.peers[3], "10.0.0.4:1");
	ck_assert_str_eq(cc.dns_name, "nodes.svc");
	ck_assert_uint_eq(cc.dns_port, 7903);
	ck_assert_uint_eq(cc.dns_interval_ms, 30000);
	ck_assert_str_eq(cc.tls_cafile, "ca");
	ck_assert_str_eq(cc.tls_certfile, "cert");
	ck_assert_str_eq(cc.tls_keyfile, "key");
	ck_assert_uint_eq(cc.heartbeat_ms, 100);
	ck_assert_uint_eq(cc.unreachable_ms, 400);
	ck_assert_uint_eq(cc.sub_wait_ms, 0);
	ck_assert_uint_eq(cc.buffer_bytes, 1024);
	ck_assert_uint_eq(cc.buffer_ms, 2000);
	ck_assert_int_eq(cc.shared_policy, CLUSTER_SHARED_ROUND_ROBIN);
	node_conf_fini(&mem);
	conf_fini(&c);
}
END_TEST

START_TEST(test_conf_dns_default_port)
{
	struct cluster_conf cc;
	struct node_conf_mem mem;
	struct conf c;

	fill(&c, NODE "cluster_discovery dns starling", &cc, &mem);
	ck_assert_str_eq(cc.dns_name, "starling");
	ck_assert_uint_eq(cc.dns_port, 7800);
	ck_assert_uint_eq(cc.n_peers, 0);
	ck_assert_ptr_null(cc.peers);
	node_conf_fini(&mem);
	conf_fini(&c);
}
END_TEST

Suite *
node_suite(void)
{
	Suite *s = suite_create("node");
	TCase *tc = tcase_create("node");

	tcase_add_loop_test(tc, test_cluster_on, 0, N(on_cases));
	tcase_add_test(tc, test_conf_defaults);
	tcase_add_test(tc, test_conf_every_key);
	tcase_add_test(tc, test_conf_dns_default_port);
	suite_add_tcase(s, tc);
	return s;
}
