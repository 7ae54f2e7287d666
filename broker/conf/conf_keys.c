/* broker/conf/conf_keys.c - THE table of configuration keys (name, type, default, reloadable flag,
 * field offset and scope) and the value syntax of each type. Adding a key is adding a row here
 * (and a line to etc/starling.conf, which a unit test checks). Key names are mosquitto.conf(5)'s,
 * matched case-sensitively as mosquitto does. Files, lines and listeners are broker/conf.c's. */
#include "broker/conf/conf.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

/* style: clang-format would spread each row over up to eight lines; a table reads best as one. */
/* clang-format off */

/* Row builders, so each key fits on one or two lines. */
#define G(nm, ty, fld, df, lo, hi, rl)                                                             \
	{.name = nm, .type = ty, .scope = CONF_GLOBAL, .reloadable = rl,                           \
	 .offset = offsetof(struct conf, fld), .def = df, .min = lo, .max = hi}
#define GSTR(nm, fld, df, rl) G(nm, CONF_STR, fld, df, 0, 0, rl)
#define GCHOICE(nm, fld, df, choices)                                                              \
	{.name = nm, .type = CONF_CHOICE, .scope = CONF_GLOBAL, .offset = offsetof(struct conf, fld), \
	 .def = df, .extra = choices}
#define GBOOL(nm, fld, df, rl) G(nm, CONF_BOOL, fld, df, 0, 0, rl)
#define LS(nm, ty, sc, fld, df, lo, hi, choices)                                                   \
	{.name = nm, .type = ty, .scope = sc, .offset = offsetof(struct conf_listener, fld),       \
	 .def = df, .min = lo, .max = hi, .extra = choices}
#define L(nm, ty, fld, df, lo, hi) LS(nm, ty, CONF_LISTENER_KEY, fld, df, lo, hi, NULL)
#define LSTR(nm, fld) L(nm, CONF_STR, fld, NULL, 0, 0)
#define LBOOL(nm, fld) L(nm, CONF_BOOL, fld, "false", 0, 0)
#define ALIAS(nm, target) {.name = nm, .type = CONF_ALIAS, .extra = target}
#define IGN(nm, how, harmless, what)                                                               \
	{.name = nm, .type = CONF_IGNORED, .ignore = how, .def = harmless, .extra = what}
#define SILENT(nm) IGN(nm, CONF_IGN_SILENT, NULL, NULL)
#define BRIDGE(nm) IGN(nm, CONF_IGN_BRIDGE, NULL, "bridges")

#define PKT_MAX 268435455 /* the largest MQTT packet / payload: a 4-byte variable integer */
/* The largest byte count or byte rate (1 TiB): keeps the token arithmetic of limit.c, rate
 * times milliseconds, far from overflowing. */
#define SIZE_MAX_KEY (1ll << 40)

static const struct conf_key keys[] = {
	/* Listeners. */
	{.name = "listener", .type = CONF_LISTENER},
	LS("port", CONF_U16, CONF_DEFAULT_LISTENER, port, "1883", 1, 65535, NULL),
	LS("bind_address", CONF_STR, CONF_DEFAULT_LISTENER, bind_address, NULL, 0, 0, NULL),
	LS("protocol", CONF_CHOICE, CONF_LISTENER_KEY, protocol, "mqtt", 0, 0, "mqtt|websockets"),
	LS("socket_domain", CONF_CHOICE, CONF_LISTENER_KEY, socket_domain, NULL, 0, 0, "ipv4|ipv6"),
	L("max_connections", CONF_INT, max_connections, "-1", -1, INT_MAX),
	LBOOL("proxy_protocol", proxy_protocol),
	LSTR("cafile", cafile),
	LSTR("capath", capath),
	LSTR("crlfile", crlfile),
	LSTR("certfile", certfile),
	LSTR("keyfile", keyfile),
	LSTR("ciphers", ciphers),
	LSTR("ciphers_tls1.3", ciphersuites),
	ALIAS("ciphersuites", "ciphers_tls1.3"),
	LS("tls_version", CONF_CHOICE, CONF_LISTENER_KEY, tls_version, NULL, 0, 0,
	   "tlsv1.3|tlsv1.2|tlsv1.1"),
	LBOOL("require_certificate", require_certificate),
	LBOOL("use_identity_as_username", use_identity_as_username),
	LBOOL("use_username_as_clientid", use_username_as_clientid),
	L("mount_point", CONF_MOUNT, mount_point, NULL, 0, 0),
	LSTR("http_dir", http_dir),

	/* General. */
	{.name = "include_dir", .type = CONF_INCLUDE_DIR},
	G("worker_threads", CONF_INT, worker_threads, "0", 0, 1024, false),
	GCHOICE("worker_placement", worker_placement, "pack", "pack|hash"),
	G("global_max_connections", CONF_INT, max_connections, "-1", -1, INT_MAX, false),
	G("max_keepalive", CONF_U16, max_keepalive, "65535", 0, 65535, true),
	G("max_queued_messages", CONF_INT, max_queued_messages, "1000", 0, INT_MAX, true),
	G("max_queued_bytes", CONF_U64, max_queued_bytes, "0", 0, INT64_MAX, true),
	G("max_inflight_messages", CONF_INT, max_inflight_messages, "20", 0, 65535, true),
	G("max_inflight_bytes", CONF_U64, max_inflight_bytes, "0", 0, INT64_MAX, false),
	/* 0 means "the protocol maximum"; below 20 no packet with properties fits (mosquitto). */
	{.name = "max_packet_size", .type = CONF_U32, .scope = CONF_GLOBAL, .reloadable = true,
	 .zero_ok = true, .offset = offsetof(struct conf, max_packet_size), .def = "0", .min = 20,
	 .max = PKT_MAX},
	G("message_size_limit", CONF_U32, message_size_limit, "0", 0, PKT_MAX, true),
	GBOOL("allow_anonymous", allow_anonymous, "true", true),
	GBOOL("per_listener_settings", per_listener_settings, "false", false),
	GBOOL("allow_zero_length_clientid", allow_zero_length_clientid, "true", false),
	GSTR("auto_id_prefix", auto_id_prefix, "auto-", false),
	G("persistent_client_expiration", CONF_DURATION, persistent_client_expiration, "never", 0,
	  0, true),
	GBOOL("retain_available", retain_available, "true", false),
	GBOOL("check_retain_source", check_retain_source, "true", true),
	G("max_qos", CONF_U8, max_qos, "2", 0, 2, false),
	ALIAS("maximum_qos", "max_qos"),
	G("sys_interval", CONF_U32, sys_interval, "10", 0, 65535, true),
	GBOOL("persistence", persistence, "false", false),
	ALIAS("retained_persistence", "persistence"),
	GSTR("persistence_location", persistence_location, "", false),
	GSTR("persistence_file", persistence_file, "mosquitto.db", false),
	G("autosave_interval", CONF_U32, autosave_interval, "1800", 0, INT_MAX, false),
	G("log_dest", CONF_LOG_DEST, log_dest, "stderr", 0, 0, false),
	G("log_type", CONF_LOG_TYPE, log_type_mask, "error warning notice information", 0, 0, true),
	GBOOL("connection_messages", connection_messages, "true", false),
	GSTR("password_file", password_file, NULL, true),
	GSTR("acl_file", acl_file, NULL, true),
	GSTR("scram_file", scram_file, NULL, true),
	GBOOL("scram_from_password_file", scram_from_password_file, "false", true),
	GSTR("pid_file", pid_file, NULL, false),
	GBOOL("payload_format_validation", payload_format_validation, "false", true),
	G("max_topic_alias", CONF_U16, max_topic_alias, "10", 0, 65535, false),
	GBOOL("set_tcp_nodelay", set_tcp_nodelay, "true", false),
	GBOOL("upgrade_outgoing_qos", upgrade_outgoing_qos, "false", false),
	GBOOL("queue_qos0_messages", queue_qos0_messages, "false", false),

	/* Limits and overload protection (broker/limit.c): Starling keys but memory_limit. */
	G("max_publish_rate", CONF_U32, max_publish_rate, "0", 0, 1000000000, true),
	G("max_publish_burst", CONF_U32, max_publish_burst, "0", 0, 1000000000, true),
	G("max_publish_bytes_rate", CONF_SIZE, max_publish_bytes_rate, "0", 0, SIZE_MAX_KEY, true),
	G("max_publish_bytes_burst", CONF_SIZE, max_publish_bytes_burst, "0", 0, SIZE_MAX_KEY, true),
	G("max_subscriptions_per_client", CONF_U32, max_subscriptions_per_client, "0", 0, INT_MAX,
	  true),
	G("max_topic_levels", CONF_U16, max_topic_levels, "0", 0, 65535, true),
	G("memory_limit", CONF_SIZE, memory_limit, "0", 0, SIZE_MAX_KEY, true),
	G("connect_timeout", CONF_U32, connect_timeout, "10", 1, 3600, true),

	/* Starling: storage. */
	GSTR("store_backend", store_backend, NULL, false),
	GCHOICE("session_store", session_store, "embedded", "embedded|postgres"),
	GCHOICE("retained_store", retained_store, "embedded", "embedded|redis"),
	GCHOICE("persistence_sync", persistence_sync, "batch", "always|batch|none"),
	GSTR("postgres_dsn", postgres_dsn, NULL, false),
	G("postgres_pool", CONF_U32, postgres_pool, "2", 1, 64, false),
	GSTR("redis_url", redis_url, NULL, false),

	/* Starling: the cluster (cluster/cluster.h). Times in the unit their name suggests. */
	GSTR("cluster_name", cluster_name, "starling", false),
	GSTR("cluster_node_id", cluster_node_id, NULL, false),
	G("cluster_bind", CONF_ADDR, cluster_bind, NULL, 0, 0, false),
	ALIAS("cluster_listen", "cluster_bind"),
	G("cluster_advertise", CONF_ADDR, cluster_advertise, NULL, 1, 0, false),
	G("cluster_peers", CONF_ADDRS, cluster_peers, NULL, 0, 0, false),
	G("cluster_discovery", CONF_DISCOVERY, cluster_discovery, NULL, 0, 0, false),
	G("cluster_discovery_interval", CONF_U32, cluster_discovery_interval, "5", 1, 86400, false),
	GSTR("cluster_secret", cluster_secret, NULL, false),
	GSTR("cluster_tls_cafile", cluster_tls_cafile, NULL, false),
	GSTR("cluster_tls_certfile", cluster_tls_certfile, NULL, false),
	GSTR("cluster_tls_keyfile", cluster_tls_keyfile, NULL, false),
	G("cluster_heartbeat_interval", CONF_U32, cluster_heartbeat_interval, "500", 10, 60000, false),
	G("cluster_unreachable_after", CONF_U32, cluster_unreachable_after, "2000", 10, 600000, false),
	G("cluster_subscribe_wait", CONF_U32, cluster_subscribe_wait, "5000", 0, 600000, false),
	G("cluster_lease_renew_interval", CONF_U32, cluster_lease_renew, "1000", 20, 60000, false),
	G("cluster_lease_ttl", CONF_U32, cluster_lease_ttl, "8000", 100, 600000, false),
	G("cluster_lease_fence_after", CONF_U32, cluster_lease_fence, "6000", 50, 600000, false),
	G("cluster_lease_grace", CONF_U32, cluster_lease_grace, "2000", 0, 600000, false),
	G("cluster_buffer_bytes", CONF_SIZE, cluster_buffer_bytes, "64M", 0, SIZE_MAX_KEY, false),
	G("cluster_buffer_time", CONF_U32, cluster_buffer_time, "60", 0, 86400, false),
	GCHOICE("cluster_shared_policy", cluster_shared_policy, "local_first",
	        "local_first|round_robin"),

	/* Mosquitto keys Starling does not implement, so that an existing mosquitto.conf loads.
	 * Warned about once when they change behaviour (unless set to the harmless value),
	 * silent when they do not. */
	IGN("accept_protocol_versions", CONF_IGN_WARN, NULL, "every listener accepts 3.1-5.0"),
	IGN("auth_plugin", CONF_IGN_WARN, NULL, "plugins"),
	IGN("plugin", CONF_IGN_WARN, NULL, "plugins"),
	IGN("global_plugin", CONF_IGN_WARN, NULL, "plugins"),
	IGN("plugin_load", CONF_IGN_WARN, NULL, "plugins"),
	IGN("plugin_use", CONF_IGN_WARN, NULL, "plugins"),
	SILENT("auth_opt_*"),
	SILENT("plugin_opt_*"),
	SILENT("auth_plugin_deny_special_chars"),
	IGN("autosave_on_changes", CONF_IGN_WARN, "false", "autosave by message count"),
	IGN("bind_interface", CONF_IGN_WARN, NULL, "binding to a network interface"),
	IGN("clientid_prefixes", CONF_IGN_WARN, NULL, "client id prefixes"),
	IGN("dhparamfile", CONF_IGN_WARN, NULL, "DH parameter files"),
	IGN("disable_client_cert_date_checks", CONF_IGN_WARN, "false", "skipping cert date checks"),
	IGN("enable_control_api", CONF_IGN_WARN, "false", "the $CONTROL API"),
	IGN("global_max_clients", CONF_IGN_WARN, "-1", "a global client limit"),
	IGN("listener_allow_anonymous", CONF_IGN_WARN, NULL, "per-listener security settings"),
	IGN("listener_auto_id_prefix", CONF_IGN_WARN, NULL, "per-listener security settings"),
	IGN("psk_file", CONF_IGN_WARN, NULL, "TLS-PSK"),
	IGN("psk_hint", CONF_IGN_WARN, NULL, "TLS-PSK"),
	IGN("tls_engine", CONF_IGN_WARN, NULL, "TLS engines"),
	IGN("tls_engine_kpass_sha1", CONF_IGN_WARN, NULL, "TLS engines"),
	IGN("tls_keyform", CONF_IGN_WARN, "pem", "TLS engines"),
	IGN("use_subject_as_username", CONF_IGN_WARN, "false", "certificate subjects as usernames"),
	IGN("user", CONF_IGN_WARN, NULL, "dropping privileges: start Starling as that user"),
	IGN("websockets_origin", CONF_IGN_WARN, NULL, "WebSocket origin checks"),
	SILENT("allow_duplicate_messages"),
	SILENT("log_facility"),
	SILENT("log_timestamp"),
	SILENT("log_timestamp_format"),
	SILENT("max_topic_alias_broker"),
	SILENT("quic_log_level"),
	SILENT("retry_interval"),
	SILENT("store_clean_interval"),
	SILENT("websockets_headers_size"),
	SILENT("websockets_log_level"),

	/* Mosquitto bridges: "connection NAME" starts a block of the keys below. */
	IGN("connection", CONF_IGN_BRIDGE_START, NULL, "bridges"),
	BRIDGE("address"),
	BRIDGE("addresses"),
	BRIDGE("bridge_alpn"),
	BRIDGE("bridge_attempt_unsubscribe"),
	BRIDGE("bridge_bind_address"),
	BRIDGE("bridge_cafile"),
	BRIDGE("bridge_capath"),
	BRIDGE("bridge_certfile"),
	BRIDGE("bridge_ciphers"),
	BRIDGE("bridge_ciphers_tls1.3"),
	BRIDGE("bridge_identity"),
	BRIDGE("bridge_insecure"),
	BRIDGE("bridge_keyfile"),
	BRIDGE("bridge_max_packet_size"),
	BRIDGE("bridge_max_topic_alias"),
	BRIDGE("bridge_outgoing_retain"),
	BRIDGE("bridge_protocol_version"),
	BRIDGE("bridge_psk"),
	BRIDGE("bridge_receive_maximum"),
	BRIDGE("bridge_reload_type"),
	BRIDGE("bridge_require_ocsp"),
	BRIDGE("bridge_session_expiry_interval"),
	BRIDGE("bridge_tcp_keepalive"),
	BRIDGE("bridge_tcp_user_timeout"),
	BRIDGE("bridge_tls_version"),
	BRIDGE("cleansession"),
	BRIDGE("clientid"),
	BRIDGE("idle_timeout"),
	BRIDGE("keepalive_interval"),
	BRIDGE("local_cleansession"),
	BRIDGE("local_clientid"),
	BRIDGE("local_password"),
	BRIDGE("local_username"),
	BRIDGE("notification_topic"),
	BRIDGE("notifications"),
	BRIDGE("notifications_local_only"),
	BRIDGE("password"),
	BRIDGE("remote_clientid"),
	BRIDGE("remote_password"),
	BRIDGE("remote_username"),
	BRIDGE("restart_timeout"),
	BRIDGE("round_robin"),
	BRIDGE("start_type"),
	BRIDGE("threshold"),
	BRIDGE("topic"),
	BRIDGE("try_private"),
	BRIDGE("username"),
};

/* clang-format on */

_Static_assert(sizeof(keys) / sizeof(keys[0]) <= CONF_KEYS_MAX, "raise CONF_KEYS_MAX");

const struct conf_key *
conf_key_table(size_t *n)
{
	*n = sizeof(keys) / sizeof(keys[0]);
	return keys;
}

static const struct conf_key *
find_exact(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

const struct conf_key *
conf_key_find(const char *name)
{
	const struct conf_key *k = find_exact(name);
	size_t i, len;

	if (k != NULL)
		return k->type == CONF_ALIAS ? find_exact(k->extra) : k;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		len = strlen(keys[i].name);
		if (len > 0 && keys[i].name[len - 1] == '*' && strlen(name) >= len &&
		    strncmp(keys[i].name, name, len - 1) == 0)
			return &keys[i];
	}
	return NULL;
}

/* Parses a whole decimal integer: digits with an optional '-', nothing else, no overflow. */
static bool
parse_i64(const char *v, int64_t *out)
{
	const char *d = v[0] == '-' ? v + 1 : v;
	char *end;
	long long x;

	if (*d < '0' || *d > '9')
		return false;
	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = x;
	return true;
}

/* The numeric field of k in base (a struct conf or struct conf_listener, per k->scope). */
static int64_t
get_num(const struct conf_key *k, const void *base)
{
	const char *f = (const char *)base + k->offset;

	switch (k->type) {
	case CONF_BOOL:
		return *(const bool *)f;
	case CONF_INT:
		return *(const int *)f;
	case CONF_U8:
		return *(const uint8_t *)f;
	case CONF_U16:
		return *(const uint16_t *)f;
	case CONF_U32:
		return *(const uint32_t *)f;
	case CONF_U64:
	case CONF_SIZE:
		return (int64_t) * (const uint64_t *)f; /* the table keeps max <= INT64_MAX */
	case CONF_DURATION:
		return *(const int64_t *)f;
	case CONF_LOG_TYPE:
		return *(const unsigned *)f;
	default:
		return 0;
	}
}

/* Stores v, already range-checked against the table, in the numeric field of k. */
static void
put_num(const struct conf_key *k, void *base, int64_t v)
{
	char *f = (char *)base + k->offset;

	switch (k->type) {
	case CONF_BOOL:
		*(bool *)f = v != 0;
		break;
	case CONF_INT:
		*(int *)f = (int)v;
		break;
	case CONF_U8:
		*(uint8_t *)f = (uint8_t)v;
		break;
	case CONF_U16:
		*(uint16_t *)f = (uint16_t)v;
		break;
	case CONF_U32:
		*(uint32_t *)f = (uint32_t)v;
		break;
	case CONF_U64:
	case CONF_SIZE:
		*(uint64_t *)f = (uint64_t)v;
		break;
	case CONF_DURATION:
		*(int64_t *)f = v;
		break;
	case CONF_LOG_TYPE:
		*(unsigned *)f = (unsigned)v;
		break;
	default:
		break;
	}
}

/* Replaces the string *f by a copy of v (v NULL: unset). Returns 0 or -ENOMEM. */
static int
set_str(char **f, const char *v)
{
	char *s = NULL;

	if (v != NULL && (s = sl_strdup(v)) == NULL)
		return -ENOMEM;
	sl_free(*f);
	*f = s;
	return 0;
}

static int
set_number(const struct conf_key *k, void *base, const char *v, char *why, size_t whylen)
{
	int64_t x;

	if (k->type == CONF_BOOL) {
		/* mosquitto's conf__parse_bool() takes 1 and 0 as well: a drop-in must too. */
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0 && strcmp(v, "1") != 0 &&
		    strcmp(v, "0") != 0) {
			snprintf(why, whylen, "expected true or false");
			return -EINVAL;
		}
		put_num(k, base, v[0] == 't' || v[0] == '1');
		return 0;
	}
	if (!parse_i64(v, &x) || ((x < k->min || x > k->max) && !(k->zero_ok && x == 0))) {
		snprintf(why, whylen, "expected %san integer in %lld..%lld",
		         k->zero_ok ? "0 or " : "", (long long)k->min, (long long)k->max);
		return -EINVAL;
	}
	put_num(k, base, x);
	return 0;
}

/* A byte count: N, or N followed by k, M or G (binary multiples, as in "512M"). mosquitto's
 * memory_limit takes a plain N, which stays valid. */
static int
set_size(const struct conf_key *k, void *base, const char *v, char *why, size_t whylen)
{
	static const char units[] = "kKMG";
	static const int shift[] = {10, 10, 20, 30};
	size_t len = strlen(v);
	const char *u = len > 1 ? strchr(units, v[len - 1]) : NULL;
	char num[24];
	int64_t x;

	if (u != NULL && *u != '\0' && len - 1 < sizeof(num)) {
		memcpy(num, v, len - 1);
		num[len - 1] = '\0';
	} else {
		snprintf(num, sizeof(num), "%s", len < sizeof(num) ? v : "");
		u = NULL;
	}
	if (parse_i64(num, &x) && x >= 0 && (u == NULL || x <= (k->max >> shift[u - units]))) {
		x = u != NULL ? x << shift[u - units] : x;
		if (x >= k->min && x <= k->max) {
			put_num(k, base, x);
			return 0;
		}
	}
	snprintf(why, whylen, "expected a byte count (N, or N followed by k, M or G) in %lld..%lld",
	         (long long)k->min, (long long)k->max);
	return -EINVAL;
}

/* mosquitto's persistent_client_expiration: a positive count of hours, days, weeks, months
 * (30 days) or years (365 days); "never" is Starling's spelling of the default. */
static int
set_duration(const struct conf_key *k, void *base, const char *v, char *why, size_t whylen)
{
	static const char units[] = "hdwmy";
	static const int64_t secs[] = {3600, 86400, 7 * 86400, 30 * 86400, 365 * 86400};
	size_t len = strlen(v);
	const char *u = len > 1 ? strchr(units, v[len - 1]) : NULL;
	char num[24];
	int64_t x;

	if (strcmp(v, "never") == 0) {
		put_num(k, base, -1);
		return 0;
	}
	if (u != NULL && *u != '\0' && len - 1 < sizeof(num)) {
		memcpy(num, v, len - 1);
		num[len - 1] = '\0';
		if (parse_i64(num, &x) && x > 0 && x <= INT64_MAX / secs[u - units]) {
			put_num(k, base, x * secs[u - units]);
			return 0;
		}
	}
	snprintf(why, whylen, "expected a positive number followed by h, d, w, m or y");
	return -EINVAL;
}

/* Is v one of the '|'-separated words of list? */
static bool
in_list(const char *list, const char *v)
{
	size_t len = strlen(v);
	const char *w = list, *bar;

	for (;;) {
		bar = strchr(w, '|');
		if ((bar != NULL ? (size_t)(bar - w) : strlen(w)) == len && strncmp(w, v, len) == 0)
			return true;
		if (bar == NULL)
			return false;
		w = bar + 1;
	}
}

/* ORs the levels named by the words of v into the mask. mosquitto's subscribe, unsubscribe,
 * websockets, internal and quic types have no Starling level: accepted, no bits. */
static int
add_log_types(const struct conf_key *k, void *base, const char *v, char *why, size_t whylen)
{
	static const char *const names[] = {"error", "warning", "notice", "information", "debug"};
	unsigned mask = (unsigned)get_num(k, base), i;
	char w[16];
	size_t n;

	for (v += strspn(v, " \t"); *v != '\0'; v += strspn(v, " \t")) {
		n = strcspn(v, " \t");
		snprintf(w, sizeof(w), "%.*s", n < sizeof(w) ? (int)n : 0, v);
		v += n;
		for (i = 0; i < 5 && strcmp(w, names[i]) != 0; i++)
			;
		if (i < 5)
			mask |= 1u << (SL_LOG_ERR + i);
		else if (strcmp(w, "all") == 0)
			mask = (1u << (SL_LOG_DEBUG + 1)) - 1;
		else if (strcmp(w, "none") == 0)
			mask = 0;
		else if (!in_list("subscribe|unsubscribe|websockets|internal|quic", w)) {
			snprintf(why, whylen,
			         "expected error|warning|notice|information|debug|all|none");
			return -EINVAL;
		}
	}
	put_num(k, base, mask);
	return 0;
}

/* Stores "file PATH" (whitespace normalised) or a single destination word. */
static int
set_log_dest(char **f, const char *v, char *why, size_t whylen)
{
	size_t n = strcspn(v, " \t");
	const char *rest = v + n + strspn(v + n, " \t");
	char *s;

	if (n == 4 && strncmp(v, "file", 4) == 0) {
		if (*rest == '\0') {
			snprintf(why, whylen, "'file' needs a path");
			return -EINVAL;
		}
		if ((s = sl_malloc(strlen(rest) + 6)) == NULL)
			return -ENOMEM;
		sprintf(s, "file %s", rest);
		sl_free(*f);
		*f = s;
		return 0;
	}
	if (*rest != '\0' || !in_list("stderr|stdout|syslog|topic|dlt|none", v)) {
		snprintf(why, whylen, "expected stderr|stdout|syslog|topic|dlt|none|file PATH");
		return -EINVAL;
	}
	return set_str(f, v);
}

int
conf_addr_split(const char *v, size_t len, char *host, uint16_t *port)
{
	const char *h = v, *end = v + len, *colon = memchr(v, ':', len), *rb;
	size_t hlen = len;
	char num[8];
	int64_t x;

	*port = 0;
	if (len > 0 && v[0] == '[') { /* "[v6]" or "[v6]:port" */
		if ((rb = memchr(v, ']', len)) == NULL || (rb + 1 < end && rb[1] != ':'))
			return -EINVAL;
		h = v + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1 < end ? rb + 1 : NULL;
	} else if (colon != NULL && memchr(colon + 1, ':', (size_t)(end - colon - 1)) != NULL) {
		colon = NULL; /* a bare IPv6 address: no port */
	} else if (colon != NULL) {
		hlen = (size_t)(colon - v);
	}
	if (hlen == 0 || hlen >= CONF_HOST_MAX)
		return -EINVAL;
	if (colon != NULL) {
		if ((size_t)(end - colon - 1) >= sizeof(num))
			return -EINVAL;
		memcpy(num, colon + 1, (size_t)(end - colon - 1));
		num[end - colon - 1] = '\0';
		if (num[0] == '-' || !parse_i64(num, &x) || x < 1 || x > 65535)
			return -EINVAL;
		*port = (uint16_t)x;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	return 0;
}

/* cluster_bind, cluster_advertise: one address; k->min 1 says the port is required. */
static int
set_addr(const struct conf_key *k, void *base, const char *v, char *why, size_t whylen)
{
	char host[CONF_HOST_MAX];
	uint16_t port;

	if (strpbrk(v, " \t,") != NULL || conf_addr_split(v, strlen(v), host, &port) < 0 ||
	    (k->min > 0 && port == 0)) {
		snprintf(why, whylen, "expected %s", k->min > 0 ? "host:port" : "host[:port]");
		return -EINVAL;
	}
	return set_str(conf_key_str(k, base), v);
}

/* cluster_peers: one address or more, separated by commas or blanks. */
static int
set_addrs(const struct conf_key *k, void *base, const char *v, char *why, size_t whylen)
{
	static const char sep[] = ", \t";
	char host[CONF_HOST_MAX];
	const char *p = v + strspn(v, sep);
	uint16_t port;
	size_t n;

	if (*p == '\0')
		goto fail;
	for (; *p != '\0'; p += n, p += strspn(p, sep)) {
		n = strcspn(p, sep);
		if (conf_addr_split(p, n, host, &port) < 0)
			goto fail;
	}
	return set_str(conf_key_str(k, base), v);
fail:
	snprintf(why, whylen, "expected host[:port] entries separated by commas or spaces");
	return -EINVAL;
}

/* cluster_discovery: "dns NAME[:port]", the only method so far. */
static int
set_discovery(const struct conf_key *k, void *base, const char *v, char *why, size_t whylen)
{
	char host[CONF_HOST_MAX];
	const char *name = v + 3 + strspn(v + 3, " \t");
	uint16_t port;

	if (strncmp(v, "dns", 3) != 0 || (v[3] != ' ' && v[3] != '\t') ||
	    strpbrk(name, " \t,") != NULL || conf_addr_split(name, strlen(name), host, &port) < 0) {
		snprintf(why, whylen, "expected dns NAME[:port]");
		return -EINVAL;
	}
	return set_str(conf_key_str(k, base), v);
}

int
conf_key_set(const struct conf_key *k, void *base, const char *v, char *why, size_t whylen)
{
	switch (k->type) {
	case CONF_DURATION:
		return set_duration(k, base, v, why, whylen);
	case CONF_SIZE:
		return set_size(k, base, v, why, whylen);
	case CONF_LOG_TYPE:
		return add_log_types(k, base, v, why, whylen);
	case CONF_LOG_DEST:
		return set_log_dest(conf_key_str(k, base), v, why, whylen);
	case CONF_CHOICE:
		if (!in_list(k->extra, v)) {
			snprintf(why, whylen, "expected %s", k->extra);
			return -EINVAL;
		}
		return set_str(conf_key_str(k, base), v);
	case CONF_MOUNT:
		if (strpbrk(v, "+#") != NULL) { /* it prefixes topic names [MQTT-4.7.1-1] */
			snprintf(why, whylen, "a topic prefix must not hold + or #");
			return -EINVAL;
		}
		return set_str(conf_key_str(k, base), v);
	case CONF_STR:
		return set_str(conf_key_str(k, base), v);
	case CONF_ADDR:
		return set_addr(k, base, v, why, whylen);
	case CONF_ADDRS:
		return set_addrs(k, base, v, why, whylen);
	case CONF_DISCOVERY:
		return set_discovery(k, base, v, why, whylen);
	default:
		return conf_key_has_field(k) ? set_number(k, base, v, why, whylen) : 0;
	}
}

bool
conf_key_equal(const struct conf_key *k, const void *a, const void *b)
{
	const char *x, *y;

	if (!conf_key_is_str(k))
		return get_num(k, a) == get_num(k, b);
	x = *conf_key_str(k, a);
	y = *conf_key_str(k, b);
	return x == y || (x != NULL && y != NULL && strcmp(x, y) == 0);
}

int
conf_key_copy(const struct conf_key *k, void *dst, const void *src)
{
	if (conf_key_is_str(k))
		return set_str(conf_key_str(k, dst), *conf_key_str(k, src));
	put_num(k, dst, get_num(k, src));
	return 0;
}

void
conf_key_free(const struct conf_key *k, void *base)
{
	if (conf_key_is_str(k)) {
		sl_free(*conf_key_str(k, base));
		*conf_key_str(k, base) = NULL;
	}
}
