/* Tests for broker/conf.c: lines, listeners, files, include_dir, reload, the fuzz seeds.
 * Value syntax and the key table are tested in test_conf_keys.c. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/conf/conf.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"
#include "text_fix.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define ALL_LEVELS 0x1fu
#define DEFAULT_LEVELS 0x0fu /* error, warning, notice, information */

/* conf_init() + conf_load_string() under the name "t.conf". */
static int
load(struct conf *c, const char *text, char *err)
{
	conf_init(c);
	return conf_load_string(c, "t.conf", text, err, 256);
}

/* The source tree's root, from this file's path (CMake compiles it by absolute path). */
static void
src_path(char *out, size_t size, const char *rel)
{
	const char *me = __FILE__, *cut = strstr(me, "tests/unit/broker/test_conf.c");

	ck_assert_msg(cut != NULL, "cannot find the source tree from %s", me);
	snprintf(out, size, "%.*s%s", (int)(cut - me), me, rel);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	fclose(f);
}

/* Removes a scratch directory made by mkdtemp() and its files (one level of subdirs). */
static void
rm_tree(const char *dir)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) != 0)
			rm_tree(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Listeners as "port bind protocol max_connections; ...", bind "*" when NULL. */
static void
listeners_text(const struct conf *c, char *out, size_t size)
{
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < c->n_listeners && len < size; i++) {
		const struct conf_listener *l = &c->listeners[i];

		len += (size_t)snprintf(out + len, size - len, "%s%u %s %s %d", i ? "; " : "",
		                        l->port, l->bind_address ? l->bind_address : "*",
		                        l->protocol, l->max_connections);
	}
}

START_TEST(test_defaults) /* every struct conf field, read directly, after conf_init() */
{
	struct conf c;

	conf_init(&c);
	ck_assert_ptr_null(c.path);
	ck_assert_uint_eq(c.n_listeners, 0);
	ck_assert_int_eq(c.worker_threads, 0);
	ck_assert_int_eq(c.max_connections, -1);
	ck_assert_uint_eq(c.max_keepalive, 65535);
	ck_assert_int_eq(c.max_queued_messages, 1000);
	ck_assert_uint_eq(c.max_queued_bytes, 0);
	ck_assert_int_eq(c.max_inflight_messages, 20);
	ck_assert_uint_eq(c.max_inflight_bytes, 0);
	ck_assert_uint_eq(c.max_packet_size, 0);
	ck_assert_uint_eq(c.message_size_limit, 0);
	ck_assert(c.allow_anonymous);
	ck_assert(c.allow_zero_length_clientid);
	ck_assert_str_eq(c.auto_id_prefix, "auto-");
	ck_assert_int_eq(c.persistent_client_expiration, -1);
	ck_assert(c.retain_available);
	ck_assert_uint_eq(c.max_qos, 2);
	ck_assert_uint_eq(c.sys_interval, 10);
	ck_assert(!c.persistence);
	ck_assert_str_eq(c.persistence_location, "");
	ck_assert_str_eq(c.persistence_file, "mosquitto.db");
	ck_assert_uint_eq(c.autosave_interval, 1800);
	ck_assert_str_eq(c.log_dest, "stderr");
	ck_assert_uint_eq(c.log_type_mask, DEFAULT_LEVELS);
	ck_assert(c.connection_messages);
	ck_assert_ptr_null(c.password_file);
	ck_assert_ptr_null(c.acl_file);
	ck_assert_ptr_null(c.pid_file);
	ck_assert(!c.payload_format_validation);
	ck_assert_uint_eq(c.max_topic_alias, 10);
	ck_assert(c.set_tcp_nodelay);
	ck_assert(!c.upgrade_outgoing_qos);
	ck_assert(!c.queue_qos0_messages);
	ck_assert_ptr_null(c.store_backend);
	ck_assert_ptr_null(c.cluster_peers);
	ck_assert_uint_eq(c.n_warnings, 0);
	conf_fini(&c);
	conf_init(&c); /* reusable */
	conf_fini(&c);
}
END_TEST

START_TEST(test_default_listener) /* conf_complete() without a file: 0.0.0.0:1883, anonymous */
{
	struct conf c;

	conf_init(&c);
	ck_assert_int_eq(conf_complete(&c), 0);
	ck_assert(c.allow_anonymous);
	ck_assert_uint_eq(c.n_listeners, 1);
	ck_assert_ptr_null(c.listeners[0].bind_address);
	ck_assert_uint_eq(c.listeners[0].port, 1883);
	ck_assert_str_eq(c.listeners[0].protocol, "mqtt");
	ck_assert_ptr_null(c.listeners[0].socket_domain);
	ck_assert_int_eq(c.listeners[0].max_connections, -1);
	ck_assert(!c.listeners[0].proxy_protocol && !c.listeners[0].require_certificate);
	ck_assert_ptr_null(c.listeners[0].certfile);
	ck_assert_ptr_null(c.listeners[0].mount_point);
	ck_assert_int_eq(conf_complete(&c), 0); /* idempotent */
	ck_assert_uint_eq(c.n_listeners, 1);
	conf_fini(&c);
}
END_TEST

struct listener_case {
	const char *text;
	const char *want; /* listeners_text() */
	bool anon;
	unsigned warnings;
};

static const struct listener_case listener_cases[] = {
        {"", "1883 * mqtt -1", true, 0},
        {"allow_anonymous false", "1883 * mqtt -1", false, 0},
        {"listener 8883", "8883 * mqtt -1", false, 0},
        {"listener 1883\nallow_anonymous true", "1883 * mqtt -1", true, 0},
        {"allow_anonymous true\nlistener 1883", "1883 * mqtt -1", true, 0},
        {"port 1884", "1884 * mqtt -1", false, 0},
        {"bind_address 127.0.0.1", "1883 127.0.0.1 mqtt -1", false, 0},
        {"max_connections 10", "1883 * mqtt 10", false, 0},
        {"listener 1883 0.0.0.0\nlistener 9001\nprotocol websockets\nmax_connections 5",
         "1883 0.0.0.0 mqtt -1; 9001 * websockets 5", false, 0},
        /* A listener key before the first listener line: the default listener, listed first. */
        {"max_connections 10\nlistener 8883\nprotocol websockets",
         "1883 * mqtt 10; 8883 * websockets -1", false, 0},
        {"listener 8883\nport 1884", "1884 * mqtt -1; 8883 * mqtt -1", false, 1},
        {"listener 8883\nbind_address ::1", "1883 ::1 mqtt -1; 8883 * mqtt -1", false, 1},
        {"port 1\nport 2", "2 * mqtt -1", false, 0},
        {"listener 1883 # all addresses", "1883 * mqtt -1", false, 0},
        {"listener 1883 ::1 # v6 only", "1883 ::1 mqtt -1", false, 0},
        {"listener 1883\nlistener 1883 127.0.0.1", "1883 * mqtt -1; 1883 127.0.0.1 mqtt -1", false,
         0},
        {"listener    65535    \t", "65535 * mqtt -1", false, 0},
};

START_TEST(test_listeners) /* cases: default listener rules, blocks, allow_anonymous */
{
	const struct listener_case *lc = &listener_cases[_i];
	char err[256], got[512];
	struct conf c;

	ck_assert_msg(load(&c, lc->text, err) == 0, "%s: %s", lc->text, err);
	listeners_text(&c, got, sizeof(got));
	ck_assert_msg(strcmp(got, lc->want) == 0, "%s: got '%s', want '%s'", lc->text, got,
	              lc->want);
	ck_assert_msg(c.allow_anonymous == lc->anon, "%s: allow_anonymous", lc->text);
	ck_assert_uint_eq(c.n_warnings, lc->warnings);
	conf_fini(&c);
}
END_TEST

START_TEST(test_listener_block_keys) /* per-listener keys go to the most recent listener */
{
	const char *text = "listener 1883\n"
	                   "mount_point a/\n"
	                   "listener 8883\n"
	                   "certfile /c.pem\n"
	                   "keyfile /k.pem\n"
	                   "require_certificate true\n"
	                   "max_qos 1\n" /* global wherever it is */
	                   "listener 9001 127.0.0.1\n"
	                   "protocol websockets\n"
	                   "proxy_protocol true\n";
	char err[256];
	struct conf c;

	ck_assert_msg(load(&c, text, err) == 0, "%s", err);
	ck_assert_uint_eq(c.n_listeners, 3);
	ck_assert_str_eq(c.listeners[0].mount_point, "a/");
	ck_assert_ptr_null(c.listeners[0].certfile);
	ck_assert_ptr_null(c.listeners[1].mount_point);
	ck_assert_str_eq(c.listeners[1].certfile, "/c.pem");
	ck_assert_str_eq(c.listeners[1].keyfile, "/k.pem");
	ck_assert(c.listeners[1].require_certificate);
	ck_assert(!c.listeners[2].require_certificate);
	ck_assert_str_eq(c.listeners[2].bind_address, "127.0.0.1");
	ck_assert_str_eq(c.listeners[2].protocol, "websockets");
	ck_assert(c.listeners[2].proxy_protocol && !c.listeners[1].proxy_protocol);
	ck_assert_uint_eq(c.max_qos, 1);
	ck_assert(!c.allow_anonymous);
	conf_fini(&c);
}
END_TEST

struct bad_case {
	const char *text;
	const char *err; /* exact */
};

/* Line, listener and file errors; bad values of each type are in test_conf_keys.c. */
static const struct bad_case bad_cases[] = {
        {"# comment\n\nallow_anonymous yes",
         "t.conf:3: invalid value 'yes' for 'allow_anonymous': expected true or false"},
        {"listener", "t.conf:1: missing value for 'listener'"},
        {"listener    ", "t.conf:1: missing value for 'listener'"},
        {"listener 0",
         "t.conf:1: invalid value '0' for 'listener': expected an integer in 1..65535"},
        {"listener x1883",
         "t.conf:1: invalid value 'x1883' for 'listener': expected an integer in 1..65535"},
        {"listener 1883 a b", "t.conf:1: unexpected 'b' after the listener address"},
        {"listener 1883\nlistener 1883", "t.conf:2: listener 1883 defined twice"},
        {"listener 1883 ::1\nlistener 1883 ::1", "t.conf:2: listener 1883 ::1 defined twice"},
        {"password_file", "t.conf:1: missing value for 'password_file'"},
        {"persistent_client_expiration",
         "t.conf:1: missing value for 'persistent_client_expiration'"},
        {"include_dir /nonexistent/sl-conf",
         "t.conf:1: include_dir '/nonexistent/sl-conf': No such file or directory"},
        {"allow_anonymous true\r\nmax_keepalive x\r\n",
         "t.conf:2: invalid value 'x' for 'max_keepalive': expected an integer in 0..65535"},
};

START_TEST(test_bad_lines) /* cases: errors name the file and the line, exactly */
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

START_TEST(test_err_buffer) /* err may be NULL with errlen 0, and is truncated, not overrun */
{
	char err[12];
	struct conf c;

	conf_init(&c);
	ck_assert_int_eq(conf_load_string(&c, "t.conf", "port x", NULL, 0), -1);
	conf_fini(&c);
	conf_init(&c);
	memset(err, 'z', sizeof(err));
	ck_assert_int_eq(conf_load_string(&c, "t.conf", "port x", err, 8), -1);
	ck_assert_str_eq(err, "t.conf:");
	ck_assert_int_eq(err[8], 'z');
	conf_fini(&c);
	conf_init(&c);
	ck_assert_int_eq(conf_load_string(&c, NULL, "port x", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "-:1: invali");
	conf_fini(&c);
}
END_TEST

START_TEST(test_comments_and_blanks) /* mosquitto: '#' starts a comment only at line start */
{
	const char *text = "# comment\n"
	                   "   # indented comment\n"
	                   "\n"
	                   "\t \r\n"
	                   "auto_id_prefix  x#y  \r\n"
	                   "pid_file /run/a b.pid";
	char err[256];
	struct conf c;

	ck_assert_msg(load(&c, text, err) == 0, "%s", err);
	ck_assert_str_eq(c.auto_id_prefix, "x#y");
	ck_assert_str_eq(c.pid_file, "/run/a b.pid");
	ck_assert_uint_eq(c.n_warnings, 0);
	conf_fini(&c);
}
END_TEST

/* Points the log at a new scratch file, whose path goes to path[size]. */
static void
capture_log(char *path, size_t size)
{
	int fd;

	snprintf(path, size, "/tmp/sl_conf_log_XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(sl_log_set_dest(path), 0);
	sl_log_set_mask(ALL_LEVELS);
}

static int
count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (hay = strstr(hay, needle); hay != NULL; hay = strstr(hay + 1, needle))
		n++;
	return n;
}

START_TEST(test_unknown_keys) /* counted and logged once per line; cluster_* typos too */
{
	const char *text = "foo 1\n"
	                   "bar\n"
	                   "cluster_bogus x\n"
	                   "Listener 1883\n" /* keys are case-sensitive, as in mosquitto */
	                   "plugin_opt_\n"   /* a prefix key needs something after the prefix */
	                   "topic a/# both 0\n"
	                   "max_keepalive 60\n";
	char err[256], log[64], *out;
	struct conf c;

	capture_log(log, sizeof(log));
	ck_assert_msg(load(&c, text, err) == 0, "%s", err);
	ck_assert_uint_eq(c.n_warnings, 6);
	ck_assert_uint_eq(c.max_keepalive, 60);
	conf_fini(&c);
	sl_log_set_dest("stderr");
	out = text_fix_read(log);
	ck_assert_msg(strstr(out, "conf: t.conf:1: unknown option 'foo', ignored\n") != NULL, "%s",
	              out);
	ck_assert(strstr(out, "t.conf:3: unknown option 'cluster_bogus', ignored") != NULL);
	ck_assert(strstr(out, "t.conf:6: 'topic' is a bridge option outside a 'connection' block, "
	                      "ignored") != NULL);
	free(out);
	unlink(log);
}
END_TEST

START_TEST(test_unsupported_keys) /* known mosquitto keys: not counted, warned once per key */
{
	const char *text = "per_listener_settings false\n" /* the harmless value: silent */
	                   "user mosquitto\n"
	                   "user nobody\n"
	                   "memory_limit 0\n"
	                   "check_retain_source true\n"
	                   "auth_plugin /usr/lib/auth.so\n"
	                   "auth_opt_backends files\n"
	                   "plugin_opt_x y\n"
	                   "log_timestamp true\n"
	                   "log_timestamp_format %Y-%m-%dT%H:%M:%S\n"
	                   "retry_interval 20\n"
	                   "listener 8883\n"
	                   "crlfile /c.crl\n"
	                   "connection cloud\n"
	                   "address mqtt.example.com:8883\n"
	                   "topic sensors/# out 1 local/ remote/\n"
	                   "remote_username u\n"
	                   "remote_password p\n"
	                   "bridge_cafile /ca.pem\n";
	char err[256], log[64], *out;
	struct conf c;

	capture_log(log, sizeof(log));
	ck_assert_msg(load(&c, text, err) == 0, "%s", err);
	ck_assert_uint_eq(c.n_warnings, 0);
	ck_assert_uint_eq(c.n_listeners, 1);
	conf_fini(&c);
	sl_log_set_dest("stderr");
	out = text_fix_read(log);
	ck_assert_int_eq(count_of(out, "'user' is not supported"), 1);
	ck_assert_int_eq(count_of(out, "t.conf:2: 'user' is not supported (dropping privileges"),
	                 1);
	ck_assert_int_eq(count_of(out, "'per_listener_settings'"), 0);
	ck_assert_int_eq(count_of(out, "'memory_limit'"), 0);
	ck_assert_int_eq(count_of(out, "'auth_plugin' is not supported (plugins), ignored"), 1);
	ck_assert_int_eq(count_of(out, "'crlfile' is not supported"), 0); /* it is (issue 11) */
	ck_assert_int_eq(count_of(out, "t.conf:14: 'connection' is not supported (bridges)"), 1);
	/* check_retain_source and crlfile are supported now (issue 11) */
	ck_assert_int_eq(count_of(out, "not supported"), 3);
	free(out);
	unlink(log);
}
END_TEST

START_TEST(test_log_dest_repeat) /* mosquitto logs to every log_dest; starling keeps the last */
{
	char err[256], log[64], *out;
	struct conf c;

	capture_log(log, sizeof(log));
	ck_assert_int_eq(
	        load(&c, "log_dest stdout\nlog_dest file /tmp/x y.log\nlog_dest stderr", err), 0);
	ck_assert_str_eq(c.log_dest, "stderr");
	ck_assert_uint_eq(c.n_warnings, 0);
	conf_fini(&c);
	sl_log_set_dest("stderr");
	out = text_fix_read(log);
	ck_assert_int_eq(count_of(out, "t.conf:2: mosquitto logs to every log_dest"), 1);
	ck_assert_int_eq(count_of(out, "log_dest"), 1);
	free(out);
	unlink(log);
}
END_TEST

START_TEST(test_include_dir) /* *.conf only, strcmp order, errors name the included file */
{
	char dir[] = "/tmp/sl_conf_XXXXXX", sub[64], text[256], err[512], want[512];
	struct conf c;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/conf.d", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	write_file(sub, "b.conf", "listener 1003\nauto_id_prefix b\n");
	write_file(sub, "a.conf", "listener 1002\nauto_id_prefix a\ninclude_dir /etc\n");
	write_file(sub, "B.conf", "listener 1001\nauto_id_prefix B\n");
	write_file(sub, "c.conf.disabled", "port x\n");
	write_file(sub, "notes.txt", "port x\n");
	write_file(sub, ".conf", "port x\n");
	snprintf(text, sizeof(text), "max_keepalive 10\ninclude_dir %s\nlistener 1004\n", sub);
	write_file(dir, "main.conf", text);
	snprintf(text, sizeof(text), "%s/main.conf", dir);

	conf_init(&c);
	ck_assert_msg(conf_load(&c, text, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.path, text);
	ck_assert_str_eq(c.auto_id_prefix, "b");
	ck_assert_uint_eq(c.n_listeners, 4);
	ck_assert_uint_eq(c.listeners[0].port, 1001); /* capitals first, as mosquitto */
	ck_assert_uint_eq(c.listeners[1].port, 1002);
	ck_assert_uint_eq(c.listeners[2].port, 1003);
	ck_assert_uint_eq(c.listeners[3].port, 1004);
	ck_assert_uint_eq(c.n_warnings, 1); /* include_dir inside an included file */
	conf_fini(&c);

	write_file(sub, "c.conf", "\nmax_qos 7\n");
	conf_init(&c);
	ck_assert_int_eq(conf_load(&c, text, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
	         "%s/c.conf:2: invalid value '7' for 'max_qos': expected an integer in 0..2", sub);
	ck_assert_str_eq(err, want);
	conf_fini(&c);
	rm_tree(dir);
}
END_TEST

START_TEST(test_file_errors) /* unreadable file, directory, NUL byte */
{
	char dir[] = "/tmp/sl_conf_XXXXXX", path[128], err[256], want[256];
	struct conf c;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/none.conf", dir);
	conf_init(&c);
	ck_assert_int_eq(conf_load(&c, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
	ck_assert_str_eq(err, want);
	conf_fini(&c);

	conf_init(&c);
	ck_assert_int_eq(conf_load(&c, dir, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: cannot read: Is a directory", dir);
	ck_assert_str_eq(err, want);
	conf_fini(&c);

	snprintf(path, sizeof(path), "%s/nul.conf", dir);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	fwrite("port 1\nport\0 2\n", 1, 15, f);
	fclose(f);
	conf_init(&c);
	ck_assert_int_eq(conf_load(&c, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: NUL byte in line", path);
	ck_assert_str_eq(err, want);
	conf_fini(&c);
	rm_tree(dir);
}
END_TEST

/* A Debian mosquitto.conf, its conf.d and the additions people usually make. */
static const char debian_main[] = "# Place your local configuration in /etc/mosquitto/conf.d/\n"
                                  "#\n"
                                  "# A full description of the configuration file is at\n"
                                  "# /usr/share/doc/mosquitto/examples/mosquitto.conf.example\n"
                                  "\n"
                                  "pid_file /run/mosquitto/mosquitto.pid\n"
                                  "\n"
                                  "persistence true\n"
                                  "persistence_location /var/lib/mosquitto/\n"
                                  "\n"
                                  "log_dest file /var/log/mosquitto/mosquitto.log\n"
                                  "\n"
                                  "include_dir %s\n";

static const char debian_local[] = "# /etc/mosquitto/conf.d/local.conf\n"
                                   "per_listener_settings false\n"
                                   "allow_anonymous false\n"
                                   "password_file /etc/mosquitto/passwd\n"
                                   "acl_file /etc/mosquitto/aclfile\n"
                                   "autosave_interval 300\n"
                                   "persistent_client_expiration 14d\n"
                                   "max_inflight_messages 40\n"
                                   "max_queued_messages 5000\n"
                                   "max_packet_size 1048576\n"
                                   "message_size_limit 0\n"
                                   "max_keepalive 300\n"
                                   "sys_interval 30\n"
                                   "log_type error\n"
                                   "log_type warning\n"
                                   "log_type notice\n"
                                   "log_type information\n"
                                   "log_timestamp true\n"
                                   "log_timestamp_format %Y-%m-%dT%H:%M:%S\n"
                                   "connection_messages true\n"
                                   "allow_zero_length_clientid true\n"
                                   "auto_id_prefix auto-\n"
                                   "set_tcp_nodelay false\n"
                                   "queue_qos0_messages false\n"
                                   "retain_available true\n"
                                   "upgrade_outgoing_qos false\n"
                                   "\n"
                                   "listener 1883\n"
                                   "protocol mqtt\n"
                                   "\n"
                                   "listener 8883\n"
                                   "cafile /etc/mosquitto/ca_certificates/ca.crt\n"
                                   "certfile /etc/mosquitto/certs/server.crt\n"
                                   "keyfile /etc/mosquitto/certs/server.key\n"
                                   "tls_version tlsv1.2\n"
                                   "require_certificate false\n"
                                   "use_identity_as_username false\n"
                                   "\n"
                                   "listener 9001\n"
                                   "protocol websockets\n"
                                   "max_connections -1\n"
                                   "socket_domain ipv4\n";

START_TEST(test_mosquitto_conf) /* a real-world mosquitto.conf loads with no error, no warning */
{
	char dir[] = "/tmp/sl_conf_XXXXXX", sub[64], path[128], text[1024], err[256];
	struct conf c;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/conf.d", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	snprintf(text, sizeof(text), debian_main, sub);
	write_file(dir, "mosquitto.conf", text);
	write_file(sub, "local.conf", debian_local);
	write_file(sub, "README", "Any files placed in this directory ...\n");
	snprintf(path, sizeof(path), "%s/mosquitto.conf", dir);

	conf_init(&c);
	ck_assert_msg(conf_load(&c, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.n_warnings, 0);
	ck_assert_str_eq(c.pid_file, "/run/mosquitto/mosquitto.pid");
	ck_assert(c.persistence);
	ck_assert_str_eq(c.persistence_location, "/var/lib/mosquitto/");
	ck_assert_str_eq(c.log_dest, "file /var/log/mosquitto/mosquitto.log");
	ck_assert(!c.allow_anonymous);
	ck_assert_str_eq(c.password_file, "/etc/mosquitto/passwd");
	ck_assert_str_eq(c.acl_file, "/etc/mosquitto/aclfile");
	ck_assert_int_eq(c.persistent_client_expiration, 14 * 86400);
	ck_assert_int_eq(c.max_inflight_messages, 40);
	ck_assert_uint_eq(c.max_packet_size, 1048576);
	ck_assert_uint_eq(c.log_type_mask, DEFAULT_LEVELS);
	ck_assert(!c.set_tcp_nodelay);
	ck_assert_uint_eq(c.n_listeners, 3);
	ck_assert_uint_eq(c.listeners[0].port, 1883);
	ck_assert_str_eq(c.listeners[1].certfile, "/etc/mosquitto/certs/server.crt");
	ck_assert_str_eq(c.listeners[1].tls_version, "tlsv1.2");
	ck_assert_str_eq(c.listeners[2].protocol, "websockets");
	ck_assert_str_eq(c.listeners[2].socket_domain, "ipv4");
	conf_fini(&c);
	rm_tree(dir);
}
END_TEST

START_TEST(test_reload_apply) /* reloadable keys are copied, the rest only reported */
{
	const char *a =
	        "listener 1883\nmax_queued_messages 10\npassword_file /a\npersistence false";
	const char *b = "listener 1883\nlistener 8883\n"
	                "max_queued_messages 20\n"
	                "password_file /b\n"
	                "acl_file /acl\n"
	                "log_type debug\n"
	                "allow_anonymous true\n"
	                "persistent_client_expiration 1h\n"
	                "max_packet_size 1000\n"
	                "persistence true\n"
	                "sys_interval 5\n"
	                "worker_threads 3\n";
	struct conf live, fresh;
	char err[256];

	ck_assert_msg(load(&live, a, err) == 0, "%s", err);
	ck_assert_msg(load(&fresh, b, err) == 0, "%s", err);
	ck_assert_int_eq(conf_reload_apply(&live, &fresh), 8);
	conf_fini(&fresh); /* live holds copies */
	ck_assert_int_eq(live.max_queued_messages, 20);
	ck_assert_str_eq(live.password_file, "/b");
	ck_assert_str_eq(live.acl_file, "/acl");
	ck_assert_uint_eq(live.log_type_mask, 1u << SL_LOG_DEBUG);
	ck_assert(live.allow_anonymous);
	ck_assert_int_eq(live.persistent_client_expiration, 3600);
	ck_assert_uint_eq(live.max_packet_size, 1000);
	ck_assert(!live.persistence); /* not reloadable */
	ck_assert_int_eq(live.worker_threads, 0);
	ck_assert_uint_eq(live.n_listeners, 1); /* listeners are not reloadable */

	ck_assert_msg(load(&fresh, a, err) == 0, "%s", err);
	ck_assert_int_eq(conf_reload_apply(&live, &fresh), 8); /* back again */
	ck_assert_ptr_null(live.acl_file);
	ck_assert_int_eq(conf_reload_apply(&live, &fresh), 0);
	conf_fini(&fresh);
	conf_fini(&live);
}
END_TEST

START_TEST(test_copy) /* a reload's snapshot: deep, so it outlives the original */
{
	const char *a = "listener 1883\nmax_queued_messages 10\npassword_file /a\n"
	                "listener 8883 ::1\ncertfile /c\nauto_id_prefix p-\n";
	struct conf orig, copy;
	char err[256];

	ck_assert_msg(load(&orig, a, err) == 0, "%s", err);
	ck_assert_int_eq(conf_copy(&copy, &orig), 0);
	ck_assert_ptr_ne(copy.password_file, orig.password_file);
	ck_assert_ptr_ne(copy.listeners, orig.listeners);
	conf_fini(&orig); /* the copy owns all it points to: ASan would see a use after free */
	ck_assert_int_eq(copy.max_queued_messages, 10);
	ck_assert_str_eq(copy.password_file, "/a");
	ck_assert_str_eq(copy.auto_id_prefix, "p-");
	ck_assert_uint_eq(copy.n_listeners, 2);
	ck_assert_uint_eq(copy.listeners[1].port, 8883);
	ck_assert_str_eq(copy.listeners[1].bind_address, "::1");
	ck_assert_str_eq(copy.listeners[1].certfile, "/c");
	conf_fini(&copy);
}
END_TEST

/* conf_load() of the file at path and conf_load_string() of its text agree. */
static void
check_seed(const char *path)
{
	char err1[256], err2[256], *text = text_fix_read(path);
	struct conf a, b;
	int rc;

	conf_init(&a);
	conf_init(&b);
	rc = conf_load(&a, path, err1, sizeof(err1));
	ck_assert_int_eq(conf_load_string(&b, path, text, err2, sizeof(err2)), rc);
	ck_assert_str_eq(err1, err2);
	ck_assert_uint_eq(a.n_warnings, b.n_warnings);
	ck_assert_uint_eq(a.n_listeners, b.n_listeners);
	conf_fini(&a);
	conf_fini(&b);
	free(text);
}

/* Every seed of the fuzz corpus, through both entry points; neither crashes nor leaks (the
 * ASan build checks). */
START_TEST(test_fuzz_seeds)
{
	char dir[512], path[1024];
	struct dirent *de;
	int n = 0;
	DIR *d;

	src_path(dir, sizeof(dir), "tests/fuzz/corpus/conf");
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	sl_log_set_mask(0);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		check_seed(path);
		n++;
	}
	closedir(d);
	ck_assert_int_ge(n, 3);
}
END_TEST

static int fail_at;  /* the allocation to fail, counting from 0 */
static int n_allocs; /* allocations seen since the hook was set */

static int
fail_nth(size_t size)
{
	(void)size;
	return n_allocs++ == fail_at;
}

START_TEST(test_out_of_memory) /* every allocation failing in turn: an error, never a leak */
{
	const char *text =
	        "listener 1883\nmax_connections 5\nlistener 9001 ::1\nprotocol websockets\n"
	        "auto_id_prefix x\nlog_dest file /tmp/l\nport 1884\npassword_file /p\n";
	char err[256];
	struct conf c, live, copy;
	int rc;

	sl_log_set_mask(0);
	for (fail_at = 0;; fail_at++) {
		n_allocs = 0;
		sl_alloc_set_fail_hook(fail_nth);
		conf_init(&c);
		rc = conf_load_string(&c, "t.conf", text, err, sizeof(err));
		if (rc == 0) {
			conf_init(&live);
			rc = conf_reload_apply(&live, &c);
			ck_assert_msg(rc == 2 || rc == -ENOMEM, "%d: rc %d", fail_at, rc);
			conf_fini(&live);
			rc = conf_copy(&copy, &c);
			ck_assert_msg(rc == 0 || rc == -ENOMEM, "%d: copy rc %d", fail_at, rc);
			conf_fini(&copy);
		} else {
			ck_assert_msg(strstr(err, "out of memory") != NULL, "%d: %s", fail_at, err);
		}
		sl_alloc_set_fail_hook(NULL);
		conf_fini(&c);
		if (n_allocs <= fail_at)
			break; /* nothing failed: every allocation has been tried */
	}
	ck_assert_int_gt(fail_at, 10);
}
END_TEST

Suite *
conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("conf");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_default_listener);
	tcase_add_loop_test(tc, test_listeners, 0, N(listener_cases));
	tcase_add_test(tc, test_listener_block_keys);
	tcase_add_loop_test(tc, test_bad_lines, 0, N(bad_cases));
	tcase_add_test(tc, test_err_buffer);
	tcase_add_test(tc, test_comments_and_blanks);
	tcase_add_test(tc, test_unknown_keys);
	tcase_add_test(tc, test_unsupported_keys);
	tcase_add_test(tc, test_log_dest_repeat);
	tcase_add_test(tc, test_include_dir);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_mosquitto_conf);
	tcase_add_test(tc, test_reload_apply);
	tcase_add_test(tc, test_copy);
	tcase_add_test(tc, test_fuzz_seeds);
	tcase_add_test(tc, test_out_of_memory);
	suite_add_tcase(s, tc);
	return s;
}
