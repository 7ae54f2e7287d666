/* Tests for broker/conf_keys.c: the key table and the value syntax of each type, through
 * conf_load_string() (broker/conf.c). Lines, listeners and files are tested in test_conf.c. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/conf/conf.h"
#include "proto/base/sl_log.h"
#include "text_fix.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* conf_init() + conf_load_string() under the name "t.conf". */
static int
load(struct conf *c, const char *text, char *err)
{
	conf_init(c);
	return conf_load_string(c, "t.conf", text, err, 256);
}

/* The path of rel in the source tree, from this file's path (CMake compiles by full path). */
static void
src_path(char *out, size_t size, const char *rel)
{
	const char *me = __FILE__, *cut = strstr(me, "tests/unit/broker/test_conf_keys.c");

	ck_assert_msg(cut != NULL, "cannot find the source tree from %s", me);
	snprintf(out, size, "%.*s%s", (int)(cut - me), me, rel);
}

/* A field's value as text, found through the key table: numbers in decimal, strings as they
 * are, "(null)". Listener keys read c->listeners[0]. */
static void
field_text(const struct conf *c, const char *key, char *out, size_t size)
{
	const struct conf_key *k = conf_key_find(key);
	const char *base;
	const char *f;

	ck_assert_msg(k != NULL, "no key %s", key);
	base = k->scope == CONF_GLOBAL ? (const char *)c : (const char *)&c->listeners[0];
	f = base + k->offset;
	switch (k->type) {
	case CONF_BOOL:
		snprintf(out, size, "%d", *(const bool *)f);
		break;
	case CONF_INT:
		snprintf(out, size, "%d", *(const int *)f);
		break;
	case CONF_U8:
		snprintf(out, size, "%u", *(const uint8_t *)f);
		break;
	case CONF_U16:
		snprintf(out, size, "%u", *(const uint16_t *)f);
		break;
	case CONF_U32:
		snprintf(out, size, "%u", *(const uint32_t *)f);
		break;
	case CONF_U64:
	case CONF_SIZE:
		snprintf(out, size, "%llu", (unsigned long long)*(const uint64_t *)f);
		break;
	case CONF_DURATION:
		snprintf(out, size, "%lld", (long long)*(const int64_t *)f);
		break;
	case CONF_LOG_TYPE:
		snprintf(out, size, "0x%x", *(const unsigned *)f);
		break;
	default:
		snprintf(out, size, "%s", *(char *const *)f ? *(char *const *)f : "(null)");
		break;
	}
}

struct key_case {
	const char *text;
	const char *key; /* the field to read, through the table */
	const char *want;
};

/* What a cluster node needs besides the key that makes it one (conf.c check_cluster()). */
#define NODE "cluster_node_id n1\ncluster_secret s\n"

/* One or more cases per key type, and every key Starling stores. */
static const struct key_case key_cases[] = {
        {"allow_anonymous false", "allow_anonymous", "0"},
        {"allow_anonymous 0", "allow_anonymous", "0"}, /* mosquitto takes 1|0 too */
        {"listener 1883\nallow_anonymous 1", "allow_anonymous", "1"},
        {"allow_zero_length_clientid false", "allow_zero_length_clientid", "0"},
        {"auto_id_prefix gen-", "auto_id_prefix", "gen-"},
        {"auto_id_prefix a#b c", "auto_id_prefix", "a#b c"}, /* '#' in a value is literal */
        {"worker_threads 8", "worker_threads", "8"},
        {"global_max_connections 5000", "global_max_connections", "5000"},
        {"max_keepalive 0", "max_keepalive", "0"},
        {"max_keepalive\t\t600  ", "max_keepalive", "600"},
        {"max_queued_messages 0", "max_queued_messages", "0"},
        {"max_queued_bytes 9223372036854775807", "max_queued_bytes", "9223372036854775807"},
        {"max_inflight_messages 65535", "max_inflight_messages", "65535"},
        {"max_inflight_bytes 1048576", "max_inflight_bytes", "1048576"},
        {"max_packet_size 0", "max_packet_size", "0"},
        {"max_packet_size 20", "max_packet_size", "20"},
        {"max_packet_size 268435455", "max_packet_size", "268435455"},
        {"message_size_limit 1024", "message_size_limit", "1024"},
        {"persistent_client_expiration 1h", "persistent_client_expiration", "3600"},
        {"persistent_client_expiration 2d", "persistent_client_expiration", "172800"},
        {"persistent_client_expiration 1w", "persistent_client_expiration", "604800"},
        {"persistent_client_expiration 1m", "persistent_client_expiration", "2592000"},
        {"persistent_client_expiration 1y", "persistent_client_expiration", "31536000"},
        {"persistent_client_expiration 1y\npersistent_client_expiration never",
         "persistent_client_expiration", "-1"},
        {"retain_available false", "retain_available", "0"},
        {"max_qos 1", "max_qos", "1"},
        {"maximum_qos 0", "max_qos", "0"}, /* mosquitto's older name */
        {"sys_interval 0", "sys_interval", "0"},
        {"persistence true", "persistence", "1"},
        {"retained_persistence true", "persistence", "1"},
        {"persistence_location /var/lib/mosquitto/", "persistence_location", "/var/lib/mosquitto/"},
        {"persistence_file starling.db", "persistence_file", "starling.db"},
        {"autosave_interval 60", "autosave_interval", "60"},
        {"log_dest stdout", "log_dest", "stdout"},
        {"log_dest file   /var/log/my logs/b.log", "log_dest", "file /var/log/my logs/b.log"},
        {"log_dest syslog\nlog_dest none", "log_dest", "none"}, /* the last one is kept */
        {"log_type debug", "log_type", "0x10"},
        {"log_type error\nlog_type warning", "log_type", "0x3"},
        {"log_type all", "log_type", "0x1f"},
        {"log_type none", "log_type", "0x0"},
        {"log_type subscribe", "log_type", "0x0"},
        {"log_type all\nlog_type none\nlog_type notice", "log_type", "0x4"},
        {"connection_messages false", "connection_messages", "0"},
        {"password_file /etc/mosquitto/passwd", "password_file", "/etc/mosquitto/passwd"},
        {"acl_file /etc/mosquitto/acl", "acl_file", "/etc/mosquitto/acl"},
        {"pid_file /run/mosquitto/mosquitto.pid", "pid_file", "/run/mosquitto/mosquitto.pid"},
        {"payload_format_validation true", "payload_format_validation", "1"},
        {"max_topic_alias 0", "max_topic_alias", "0"},
        {"set_tcp_nodelay false", "set_tcp_nodelay", "0"},
        {"upgrade_outgoing_qos true", "upgrade_outgoing_qos", "1"},
        {"queue_qos0_messages true", "queue_qos0_messages", "1"},
        {"max_publish_rate 20", "max_publish_rate", "20"},
        {"max_publish_burst 5", "max_publish_burst", "5"},
        {"max_publish_bytes_rate 65536", "max_publish_bytes_rate", "65536"},
        {"max_publish_bytes_rate 64k", "max_publish_bytes_rate", "65536"},
        {"max_publish_bytes_burst 1M", "max_publish_bytes_burst", "1048576"},
        {"max_subscriptions_per_client 100", "max_subscriptions_per_client", "100"},
        {"max_topic_levels 16", "max_topic_levels", "16"},
        {"memory_limit 536870912", "memory_limit", "536870912"}, /* mosquitto's form */
        {"memory_limit 512M", "memory_limit", "536870912"},
        {"memory_limit 2G", "memory_limit", "2147483648"},
        {"memory_limit 3K", "memory_limit", "3072"},
        {"memory_limit 1024G", "memory_limit", "1099511627776"},
        {"connect_timeout 1", "connect_timeout", "1"},
        {"store_backend file", "store_backend", "file"},
        {"session_store postgres", "session_store", "postgres"},
        {"retained_store redis", "retained_store", "redis"},
        {"postgres_dsn host=db user=sl dbname=sl", "postgres_dsn", "host=db user=sl dbname=sl"},
        {"redis_url redis://cache:6379/0", "redis_url", "redis://cache:6379/0"},
        {"cluster_name prod", "cluster_name", "prod"},
        {"cluster_node_id n1", "cluster_node_id", "n1"},
        {"cluster_secret s3cr3t", "cluster_secret", "s3cr3t"},
        /* A key that turns the cluster on needs cluster_node_id and cluster_secret (NODE). */
        {NODE "cluster_listen 0.0.0.0:7946", "cluster_listen", "0.0.0.0:7946"},
        {NODE "cluster_bind 10.0.0.1", "cluster_bind", "10.0.0.1"},
        {NODE "cluster_bind [::1]:7801", "cluster_bind", "[::1]:7801"},
        {NODE "cluster_bind ::", "cluster_bind", "::"},
        {NODE "cluster_peers n2:7946 n3:7946", "cluster_peers", "n2:7946 n3:7946"},
        {NODE "cluster_peers n2:7946,n3, [fd00::3]:7800", "cluster_peers",
         "n2:7946,n3, [fd00::3]:7800"},
        {NODE "cluster_discovery dns starling.svc:7801", "cluster_discovery",
         "dns starling.svc:7801"},
        {NODE "cluster_discovery dns  starling", "cluster_discovery", "dns  starling"},
        {"cluster_advertise n1.example:7800", "cluster_advertise", "n1.example:7800"},
        {"cluster_discovery_interval 30", "cluster_discovery_interval", "30"},
        {"cluster_tls_cafile /c/ca.pem", "cluster_tls_cafile", "/c/ca.pem"},
        {"cluster_tls_certfile /c/n.pem", "cluster_tls_certfile", "/c/n.pem"},
        {"cluster_tls_keyfile /c/n.key", "cluster_tls_keyfile", "/c/n.key"},
        {"cluster_heartbeat_interval 250", "cluster_heartbeat_interval", "250"},
        {"cluster_unreachable_after 1000", "cluster_unreachable_after", "1000"},
        {"cluster_subscribe_wait 0", "cluster_subscribe_wait", "0"},
        {"cluster_buffer_bytes 1G", "cluster_buffer_bytes", "1073741824"},
        {"cluster_buffer_time 120", "cluster_buffer_time", "120"},
        {"cluster_shared_policy round_robin", "cluster_shared_policy", "round_robin"},
        /* Listener keys: before any listener line they configure the default listener. */
        {"port 1884", "port", "1884"},
        {"bind_address 127.0.0.1", "bind_address", "127.0.0.1"},
        {"listener 1 ::1", "bind_address", "::1"},
        {"protocol websockets", "protocol", "websockets"},
        {"listener 9001\nsocket_domain ipv6", "socket_domain", "ipv6"},
        {"listener 1883\nmax_connections 10", "max_connections", "10"},
        {"listener 1883\nproxy_protocol true", "proxy_protocol", "1"},
        {"listener 8883\ncafile /c/ca.pem", "cafile", "/c/ca.pem"},
        {"listener 8883\ncapath /c", "capath", "/c"},
        {"listener 8883\ncertfile /c/s.pem", "certfile", "/c/s.pem"},
        {"listener 8883\nkeyfile /c/s.key", "keyfile", "/c/s.key"},
        {"listener 8883\nciphers HIGH:!aNULL", "ciphers", "HIGH:!aNULL"},
        {"listener 8883\nciphers_tls1.3 TLS_AES_256_GCM_SHA384", "ciphers_tls1.3",
         "TLS_AES_256_GCM_SHA384"},
        {"listener 8883\nciphersuites TLS_AES_128_GCM_SHA256", "ciphers_tls1.3",
         "TLS_AES_128_GCM_SHA256"},
        {"listener 8883\ntls_version tlsv1.3", "tls_version", "tlsv1.3"},
        {"listener 8883\nrequire_certificate true", "require_certificate", "1"},
        {"listener 8883\nuse_identity_as_username true", "use_identity_as_username", "1"},
        {"listener 1883\nuse_username_as_clientid true", "use_username_as_clientid", "1"},
        {"listener 1883\nmount_point tenant/a/", "mount_point", "tenant/a/"},
        {"listener 9001\nhttp_dir /srv/www", "http_dir", "/srv/www"},
};

START_TEST(test_key_types) /* cases: every stored key, every type, repeats, aliases */
{
	const struct key_case *kc = &key_cases[_i];
	char err[256], got[256];
	struct conf c;

	ck_assert_msg(load(&c, kc->text, err) == 0, "%s: %s", kc->text, err);
	field_text(&c, kc->key, got, sizeof(got));
	ck_assert_msg(strcmp(got, kc->want) == 0, "%s: got %s, want %s", kc->text, got, kc->want);
	ck_assert_uint_eq(c.n_warnings, 0);
	conf_fini(&c);
}
END_TEST

struct bad_case {
	const char *text;
	const char *err; /* exact */
};

static const struct bad_case bad_cases[] = {
        {"max_keepalive 70000",
         "t.conf:1: invalid value '70000' for 'max_keepalive': expected an integer in 0..65535"},
        {"allow_anonymous TRUE",
         "t.conf:1: invalid value 'TRUE' for 'allow_anonymous': expected true or false"},
        {"port 0", "t.conf:1: invalid value '0' for 'port': expected an integer in 1..65535"},
        {"session_store redis",
         "t.conf:1: invalid value 'redis' for 'session_store': expected embedded|postgres"},
        {"persistence_sync sometimes", "t.conf:1: invalid value 'sometimes' for "
                                       "'persistence_sync': expected always|batch|none"},
        {"port 65536",
         "t.conf:1: invalid value '65536' for 'port': expected an integer in 1..65535"},
        {"max_packet_size 19",
         "t.conf:1: invalid value '19' for 'max_packet_size': expected 0 or an "
         "integer in 20..268435455"},
        {"max_packet_size 268435456", "t.conf:1: invalid value '268435456' for 'max_packet_size': "
                                      "expected 0 or an integer in 20..268435455"},
        {"message_size_limit -1", "t.conf:1: invalid value '-1' for 'message_size_limit': expected "
                                  "an integer in 0..268435455"},
        {"max_inflight_messages 65536", "t.conf:1: invalid value '65536' for "
                                        "'max_inflight_messages': expected an integer in 0..65535"},
        {"max_queued_messages 1000 # at most", "t.conf:1: invalid value '1000 # at most' for "
                                               "'max_queued_messages': expected an integer in "
                                               "0..2147483647"},
        {"max_queued_bytes 99999999999999999999",
         "t.conf:1: invalid value '99999999999999999999' for 'max_queued_bytes': expected an "
         "integer in 0..9223372036854775807"},
        {"sys_interval 1e3",
         "t.conf:1: invalid value '1e3' for 'sys_interval': expected an integer in 0..65535"},
        {"sys_interval +5",
         "t.conf:1: invalid value '+5' for 'sys_interval': expected an integer in 0..65535"},
        {"max_qos 3", "t.conf:1: invalid value '3' for 'max_qos': expected an integer in 0..2"},
        {"maximum_qos 3", "t.conf:1: invalid value '3' for 'maximum_qos': expected an integer in "
                          "0..2"},
        {"worker_threads -1",
         "t.conf:1: invalid value '-1' for 'worker_threads': expected an integer in 0..1024"},
        {"persistent_client_expiration 5",
         "t.conf:1: invalid value '5' for 'persistent_client_expiration': expected a positive "
         "number followed by h, d, w, m or y"},
        {"persistent_client_expiration 0d",
         "t.conf:1: invalid value '0d' for 'persistent_client_expiration': expected a positive "
         "number followed by h, d, w, m or y"},
        {"persistent_client_expiration 99999999999999999y",
         "t.conf:1: invalid value '99999999999999999y' for 'persistent_client_expiration': "
         "expected a positive number followed by h, d, w, m or y"},
        {"protocol tcp", "t.conf:1: invalid value 'tcp' for 'protocol': expected mqtt|websockets"},
        {"log_type loud", "t.conf:1: invalid value 'loud' for 'log_type': expected "
                          "error|warning|notice|information|debug|all|none"},
        {"log_dest file", "t.conf:1: invalid value 'file' for 'log_dest': 'file' needs a path"},
        {"log_dest stderr now", "t.conf:1: invalid value 'stderr now' for 'log_dest': expected "
                                "stderr|stdout|syslog|topic|dlt|none|file PATH"},
        {"listener 1\nsocket_domain ipv5",
         "t.conf:2: invalid value 'ipv5' for 'socket_domain': expected ipv4|ipv6"},
        {"memory_limit 512MB", "t.conf:1: invalid value '512MB' for 'memory_limit': expected a "
                               "byte count (N, or N followed by k, M or G) in 0..1099511627776"},
        {"memory_limit 1025G", "t.conf:1: invalid value '1025G' for 'memory_limit': expected a "
                               "byte count (N, or N followed by k, M or G) in 0..1099511627776"},
        {"memory_limit -1M", "t.conf:1: invalid value '-1M' for 'memory_limit': expected a "
                             "byte count (N, or N followed by k, M or G) in 0..1099511627776"},
        {"memory_limit M", "t.conf:1: invalid value 'M' for 'memory_limit': expected a "
                           "byte count (N, or N followed by k, M or G) in 0..1099511627776"},
        {"connect_timeout 0",
         "t.conf:1: invalid value '0' for 'connect_timeout': expected an integer in 1..3600"},
        {"listener 1\nmount_point a/+/", "t.conf:2: invalid value 'a/+/' for 'mount_point': a "
                                         "topic prefix must not hold + or #"},
        {"cluster_bind n1:65536",
         "t.conf:1: invalid value 'n1:65536' for 'cluster_bind': expected host[:port]"},
        {"cluster_bind :7800",
         "t.conf:1: invalid value ':7800' for 'cluster_bind': expected host[:port]"},
        {"cluster_bind [::1]7800",
         "t.conf:1: invalid value '[::1]7800' for 'cluster_bind': expected host[:port]"},
        {"cluster_bind a b", "t.conf:1: invalid value 'a b' for 'cluster_bind': expected "
                             "host[:port]"},
        {"cluster_advertise n1",
         "t.conf:1: invalid value 'n1' for 'cluster_advertise': expected host:port"},
        {"cluster_peers n2:1,n3:x", "t.conf:1: invalid value 'n2:1,n3:x' for 'cluster_peers': "
                                    "expected host[:port] entries separated by commas or spaces"},
        {"cluster_peers ,", "t.conf:1: invalid value ',' for 'cluster_peers': expected "
                            "host[:port] entries separated by commas or spaces"},
        {"cluster_discovery srv starling", "t.conf:1: invalid value 'srv starling' for "
                                           "'cluster_discovery': expected dns NAME[:port]"},
        {"cluster_discovery dns a b", "t.conf:1: invalid value 'dns a b' for "
                                      "'cluster_discovery': expected dns NAME[:port]"},
        {"cluster_discovery dnsname", "t.conf:1: invalid value 'dnsname' for "
                                      "'cluster_discovery': expected dns NAME[:port]"},
        {"cluster_shared_policy random", "t.conf:1: invalid value 'random' for "
                                         "'cluster_shared_policy': expected "
                                         "local_first|round_robin"},
        {"cluster_heartbeat_interval 0", "t.conf:1: invalid value '0' for "
                                         "'cluster_heartbeat_interval': expected an integer in "
                                         "10..60000"},
        /* A cluster node without its id or secret: said at the line that made it one. */
        {"cluster_bind 0.0.0.0", "t.conf:1: cluster_bind makes this broker a cluster node, which "
                                 "needs cluster_node_id and cluster_secret"},
        {"cluster_node_id n1\ncluster_peers a:1\ncluster_bind b",
         "t.conf:2: cluster_peers makes this broker a cluster node, which needs cluster_secret"},
        {"cluster_secret s\n\ncluster_listen x:1", "t.conf:3: cluster_listen makes this broker "
                                                   "a cluster node, which needs cluster_node_id"},
        {"cluster_discovery dns n", "t.conf:1: cluster_discovery makes this broker a cluster "
                                    "node, which needs cluster_node_id and cluster_secret"},
};

START_TEST(test_bad_values) /* cases: each type's errors, exactly */
{
	const struct bad_case *bc = &bad_cases[_i];
	char err[256];
	struct conf c;

	ck_assert_int_eq(load(&c, bc->text, err), -1);
	ck_assert_msg(strcmp(err, bc->err) == 0, "%s:\n got '%s'\nwant '%s'", bc->text, err,
	              bc->err);
	conf_fini(&c);
}
END_TEST

/* The keys the brief makes reloadable, and only those. */
static const char *const reloadable[] = {
        "max_queued_messages",
        "max_queued_bytes",
        "max_inflight_messages",
        "max_keepalive",
        "allow_anonymous",
        "password_file",
        "acl_file",
        "scram_file",
        "scram_from_password_file",
        "check_retain_source",
        "sys_interval",
        "log_type",
        "message_size_limit",
        "persistent_client_expiration",
        "max_packet_size",
        "payload_format_validation",
        "max_publish_rate",
        "max_publish_burst",
        "max_publish_bytes_rate",
        "max_publish_bytes_burst",
        "max_subscriptions_per_client",
        "max_topic_levels",
        "memory_limit",
        "connect_timeout",
};

static bool
is_listed(const char *name, const char *const *list, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

START_TEST(test_key_table) /* names unique, fields not shared, defaults valid, reload set */
{
	size_t n, i, j;
	const struct conf_key *t = conf_key_table(&n);

	ck_assert_uint_le(n, CONF_KEYS_MAX);
	for (i = 0; i < n; i++) {
		bool field = t[i].type < CONF_LISTENER;

		for (j = i + 1; j < n; j++) {
			ck_assert_msg(strcmp(t[i].name, t[j].name) != 0, "%s twice", t[i].name);
			ck_assert_msg(!field || t[j].type >= CONF_LISTENER ||
			                      (t[j].scope == CONF_GLOBAL) !=
			                              (t[i].scope == CONF_GLOBAL) ||
			                      t[j].offset != t[i].offset,
			              "%s and %s share a field", t[i].name, t[j].name);
		}
		ck_assert_msg(t[i].reloadable == is_listed(t[i].name, reloadable, N(reloadable)),
		              "%s: reloadable", t[i].name);
		ck_assert_msg(!t[i].reloadable || t[i].scope == CONF_GLOBAL, "%s", t[i].name);
		if (t[i].type == CONF_ALIAS)
			ck_assert_ptr_eq(conf_key_find(t[i].name), conf_key_find(t[i].extra));
		else if (strchr(t[i].name, '*') == NULL)
			ck_assert_ptr_eq(conf_key_find(t[i].name), &t[i]);
		if (t[i].type == CONF_IGNORED && t[i].ignore != CONF_IGN_SILENT)
			ck_assert_msg(t[i].extra != NULL, "%s: say what is lost", t[i].name);
	}
	for (i = 0; i < n; i++) { /* every default, written as a line, is a valid value */
		char line[256], err[256];
		struct conf c;

		if (t[i].type >= CONF_LISTENER || t[i].def == NULL || t[i].def[0] == '\0')
			continue;
		snprintf(line, sizeof(line), "%s %s", t[i].name, t[i].def);
		ck_assert_msg(load(&c, line, err) == 0, "%s", err);
		conf_fini(&c);
	}
	ck_assert_ptr_eq(conf_key_find("plugin_opt_db_host"), conf_key_find("plugin_opt_*"));
	ck_assert_ptr_null(conf_key_find("plugin_opt"));
	ck_assert_ptr_null(conf_key_find(""));
}
END_TEST

START_TEST(test_example_file) /* etc/starling.conf loads cleanly and shows every key's default */
{
	size_t n, i;
	const struct conf_key *t = conf_key_table(&n);
	char path[512], line[512], err[256];
	char *text;
	struct conf c;

	src_path(path, sizeof(path), "etc/starling.conf");
	conf_init(&c);
	ck_assert_msg(conf_load(&c, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.n_warnings, 0);
	conf_fini(&c);
	text = text_fix_read(path);
	for (i = 0; i < n; i++) {
		if (t[i].type >= CONF_ALIAS || t[i].type == CONF_LOG_TYPE)
			continue;
		if (t[i].def == NULL || t[i].def[0] == '\0' || t[i].type == CONF_LISTENER)
			snprintf(line, sizeof(line), "\n#%s", t[i].name);
		else
			snprintf(line, sizeof(line), "\n#%s %s\n", t[i].name, t[i].def);
		ck_assert_msg(strstr(text, line) != NULL, "etc/starling.conf lacks '%s'", line + 1);
	}
	ck_assert(strstr(text, "\n#log_type error\n#log_type warning\n#log_type notice\n"
	                       "#log_type information\n") != NULL);
	free(text);
}
END_TEST

Suite *
conf_keys_suite(void)
{
	Suite *s = suite_create("conf_keys");
	TCase *tc = tcase_create("conf_keys");

	tcase_add_loop_test(tc, test_key_types, 0, N(key_cases));
	tcase_add_loop_test(tc, test_bad_values, 0, N(bad_cases));
	tcase_add_test(tc, test_key_table);
	tcase_add_test(tc, test_example_file);
	suite_add_tcase(s, tc);
	return s;
}
