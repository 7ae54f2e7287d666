/* broker/conf/conf.h - the broker's configuration: a mosquitto.conf(5)-compatible file parsed into
 * plain structs. Pointing Starling at an existing mosquitto.conf works: mosquitto keys Starling
 * does not implement are accepted (some with a one-time "not supported, ignored" warning), and
 * only really unknown keys are warned about and counted.
 *
 * Listeners and allow_anonymous (a deliberate difference from Mosquitto 2.0):
 *  - "listener PORT [ADDRESS]" starts a listener; per-listener keys that follow apply to it.
 *    Per-listener keys before the first "listener" line, and "port" / "bind_address" anywhere
 *    (mosquitto semantics), configure the default listener (port 1883 unless "port" says).
 *  - When the file configures no listener at all, Starling listens on all addresses, port 1883,
 *    and allow_anonymous defaults to true: a broker usable out of the box, as Mosquitto 1.x was.
 *    (Mosquitto 2.0 binds to localhost only in that case.)
 *  - As soon as any listener is configured, allow_anonymous defaults to false, exactly as in
 *    Mosquitto 2.0. An explicit allow_anonymous line always wins.
 *
 * Nothing here is thread-safe: load on one thread, then hand out copies of what others need
 * (the broker swaps in whole snapshots on a reload: broker/worker_conf.c). */
#ifndef CONF_H
#define CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One listening socket. Every char * is owned by the struct conf holding the listener. */
struct conf_listener {
	char *bind_address; /* NULL = all addresses */
	uint16_t port;
	char *protocol;      /* "mqtt" (default) or "websockets" */
	char *socket_domain; /* NULL, "ipv4" or "ipv6" */
	int max_connections; /* -1 = unlimited */
	bool proxy_protocol; /* starling extension: a PROXY v1/v2 header is required */
	/* TLS (broker/tls.c: semantics there); ciphersuites is mosquitto's ciphers_tls1.3. */
	char *cafile, *capath, *crlfile, *certfile, *keyfile, *ciphers, *ciphersuites, *tls_version;
	bool require_certificate, use_identity_as_username, use_username_as_clientid;
	char *mount_point; /* topic prefix without wildcards, or NULL */
	/* per_listener_settings true: this listener's own password_file, acl_file (NULL = none)
	 * and allow_anonymous (-1 = not given: the global rule); unused otherwise. */
	char *password_file, *acl_file;
	int8_t allow_anonymous;
	char *http_dir; /* ignored; parsed */
};

/* The whole configuration. Every char * and the listeners array are owned by the struct and
 * freed by conf_fini(); after a successful load no string with a default is NULL. */
struct conf {
	char *path; /* file it was loaded from, or NULL */
	struct conf_listener *listeners;
	size_t n_listeners;
	int worker_threads;          /* 0 = number of cores (starling key) */
	char *worker_placement;      /* pack|hash: which worker a new session goes to (owner.h) */
	int max_connections;         /* -1 unlimited; key global_max_connections (mosquitto 2.1) */
	uint16_t max_keepalive;      /* 65535 */
	int max_queued_messages;     /* 1000; 0 = unlimited */
	uint64_t max_queued_bytes;   /* 0 = unlimited */
	int max_inflight_messages;   /* 20 (mosquitto default); 0 = unlimited, i.e. 65535 */
	uint64_t max_inflight_bytes; /* 0 = unlimited */
	uint32_t max_packet_size;    /* 0 = protocol max; else 20..268435455 */
	uint32_t message_size_limit; /* 0 = none; mosquitto's key: max PUBLISH payload */
	bool allow_anonymous;        /* see the top of this file */
	/* mosquitto's per_listener_settings: password_file, acl_file and allow_anonymous given
	 * after a listener line are that listener's (before any: the default listener's). */
	bool per_listener_settings;
	bool allow_zero_length_clientid;      /* true */
	char *auto_id_prefix;                 /* "auto-" */
	int64_t persistent_client_expiration; /* seconds; -1 = never (syntax: 1h, 2d, 1w, 1m, 1y) */
	bool retain_available;                /* true */
	bool check_retain_source;   /* true: the publisher of a retained message must still be
	                             * allowed to write its topic when it is delivered */
	uint8_t max_qos;            /* 2 */
	uint32_t sys_interval;      /* 10 seconds; 0 disables */
	bool persistence;           /* false (mosquitto default) */
	char *persistence_location; /* "" -> current dir; starling stores its files there */
	char *persistence_file;     /* "mosquitto.db" */
	uint32_t autosave_interval; /* 1800 */
	/* "stderr" by default; the whole value: stderr|stdout|syslog|topic|dlt|none or
	 * "file PATH". Mosquitto logs to every log_dest given; Starling keeps the last one. */
	char *log_dest;
	/* Bits (1 << SL_LOG_ERR .. SL_LOG_DEBUG) from log_type lines: error, warning, notice,
	 * information, debug, all, none. Default (mosquitto's): error, warning, notice,
	 * information. The first log_type line replaces the default; later ones add to it. */
	unsigned log_type_mask;
	bool connection_messages;       /* true */
	char *password_file, *acl_file; /* NULL = none; loaded by broker/auth.h */
	char *scram_file;               /* NULL = none; starling key, broker/auth.h */
	bool scram_from_password_file;  /* false; starling key: "$7$" lines serve SCRAM-SHA-512 */
	char *pid_file;
	bool payload_format_validation; /* starling key, default false */
	uint16_t max_topic_alias;       /* 10 (mosquitto) */
	bool set_tcp_nodelay;           /* mosquitto default false; starling default true */
	bool upgrade_outgoing_qos;      /* deliver at the granted QoS (route_qos()) */
	bool queue_qos0_messages;       /* false */
	/* Limits and overload protection (broker/limit.c); 0 means no limit. Starling keys, but
	 * memory_limit: mosquitto's name, Starling's semantics (a high-water mark, not a cap). */
	uint32_t max_publish_rate;             /* PUBLISH packets per second per connection */
	uint32_t max_publish_burst;            /* packets; 0 = one second's worth */
	uint64_t max_publish_bytes_rate;       /* topic + payload bytes per second per connection */
	uint64_t max_publish_bytes_burst;      /* bytes; 0 = one second's worth */
	uint32_t max_subscriptions_per_client; /* filters a session may hold */
	uint16_t max_topic_levels;             /* in a PUBLISH topic, will topic or filter */
	uint64_t memory_limit;                 /* heap bytes (sl_alloc_bytes()) */
	uint32_t connect_timeout;              /* seconds from accept to a complete CONNECT: 10 */
	/* starling keys for later issues: parsed and stored */
	char *store_backend, *postgres_dsn, *redis_url;
	char *session_store;    /* embedded|postgres: where persistent sessions live */
	char *retained_store;   /* embedded|redis: where retained messages live */
	char *persistence_sync; /* always|batch|none: when the embedded log is fsynced */
	uint32_t postgres_pool; /* connections to PostgreSQL (sessions partitioned by client id) */
	/* cluster_* keys (cluster/cluster.h: struct cluster_conf; broker/core/node.c fills it).
	 * The cluster is on when cluster_bind (alias cluster_listen), cluster_peers or
	 * cluster_discovery is set (conf_cluster_on()); then cluster_node_id and cluster_secret
	 * are required, and conf_load() fails without them. Unknown cluster_* keys are unknown
	 * keys. */
	char *cluster_name;      /* "starling": nodes of another cluster are refused */
	char *cluster_node_id;   /* unique and stable per node */
	char *cluster_bind;      /* host[:port] the links listen on; NULL = 0.0.0.0:7800 */
	char *cluster_advertise; /* host:port peers reach this node at; NULL = the bind address */
	char *cluster_peers;     /* host[:port] entries separated by commas or spaces */
	char *cluster_discovery; /* "dns NAME[:port]", re-resolved */
	char *cluster_secret;    /* the HMAC key of the links' challenge */
	char *cluster_tls_cafile, *cluster_tls_certfile, *cluster_tls_keyfile; /* all or none */
	char *cluster_shared_policy;         /* local_first|round_robin */
	uint32_t cluster_discovery_interval; /* seconds: 5 */
	uint32_t cluster_heartbeat_interval; /* ms: 500 */
	/* ms; the node lease (node_lease.c): renew every, expires after, fenced after, and
	 * declared dead by a peer this long after it expired */
	uint32_t cluster_lease_renew, cluster_lease_ttl, cluster_lease_fence, cluster_lease_grace;
	uint32_t cluster_unreachable_after; /* ms: 2000 */
	uint32_t cluster_subscribe_wait;    /* ms: 5000, a SUBACK's wait for the peers */
	uint64_t cluster_buffer_bytes;      /* QoS 1/2 forwards kept per peer: 64 MiB */
	uint32_t cluster_buffer_time;       /* seconds: 60 */
	/* Likely mistakes, each also logged: unknown keys, bridge keys outside a "connection"
	 * block and include_dir in an included file (all ignored), and port/bind_address after a
	 * listener line (applied to the default listener, as mosquitto does). Mosquitto keys that
	 * Starling does not implement are logged once per key but not counted. */
	unsigned n_warnings;
};

/* Sets every key to its default; c has no listener yet. Cannot fail: a string default that
 * cannot be allocated is left NULL, and conf_load*() / conf_complete() fill it in or report
 * running out of memory. */
void conf_init(struct conf *c);

/* Frees everything c owns; c is reusable after conf_init(). */
void conf_fini(struct conf *c);

/* Parses the file at path into c, which was just conf_init'ed, then calls conf_complete().
 * path is borrowed (c->path gets a copy). Returns 0, or -1 with err set to one line,
 * "file:line: message", for a bad value, a missing value, a bad listener line, an unreadable
 * file or include_dir ("file: message" when there is no line), or a cluster node without
 * cluster_node_id or cluster_secret (at the line that made it one). Unknown keys are logged
 * ("file:line: unknown option 'x', ignored") and counted in c->n_warnings, not errors. On error
 * c holds what was parsed so far: conf_fini() it either way. err may be NULL if errlen is 0. */
int conf_load(struct conf *c, const char *path, char *err, size_t errlen);

/* Same from a NUL-terminated string (for tests and fuzzing); name is used in messages ("-" if
 * NULL) and c->path stays NULL. include_dir works, relative to the current directory. */
int conf_load_string(struct conf *c, const char *name, const char *text, char *err, size_t errlen);

/* Completes c after conf_init() when no file is loaded (conf_load*() call it themselves): when
 * no listener was configured, adds the default one (all addresses, port 1883; allow_anonymous
 * keeps conf_init's true unless a file set it), and fills in string defaults that conf_init()
 * could not allocate. Returns 0 or -ENOMEM. */
int conf_complete(struct conf *c);

/* Makes dst a deep copy of src (strings and listeners duplicated), for a snapshot that lives on
 * its own. dst's old contents are not freed. Returns 0, or -ENOMEM: dst then holds a part of
 * the copy and nothing of src's; conf_fini() it either way. */
int conf_copy(struct conf *dst, const struct conf *src);

/* Whether c makes this process a cluster node: cluster_bind, cluster_peers or
 * cluster_discovery is set. */
bool conf_cluster_on(const struct conf *c);

/* The longest host name conf_addr_split() returns, its NUL included. */
#define CONF_HOST_MAX 256

/* Splits the address v[0, len), "host[:port]" (an IPv6 address in brackets when a port
 * follows, "[::1]:7800"; a bare IPv6 address has no port), into host (NUL-terminated, brackets
 * removed, CONF_HOST_MAX bytes) and *port (0 when there is none). Returns 0, or -EINVAL for an
 * empty or too long host or a port not in 1..65535. */
int conf_addr_split(const char *v, size_t len, char *host, uint16_t *port);

/* Applies the reloadable keys of fresh (a complete, freshly loaded configuration) onto the
 * live one (SIGHUP): max_queued_messages, max_queued_bytes, max_inflight_messages,
 * max_keepalive, allow_anonymous, password_file, acl_file, sys_interval, log_type,
 * message_size_limit, persistent_client_expiration, max_packet_size,
 * payload_format_validation, and the limits max_publish_rate, max_publish_burst,
 * max_publish_bytes_rate, max_publish_bytes_burst, max_subscriptions_per_client,
 * max_topic_levels, memory_limit and connect_timeout. Other changed keys and listeners are only
 * logged as needing a restart. Borrows fresh (strings are copied). Returns how many keys changed,
 * or -ENOMEM (live then holds the changes made before the failure). Nothing may read live
 * meanwhile. */
int conf_reload_apply(struct conf *live, const struct conf *fresh);

/*
 * The key table (broker/conf_keys.c): one row per key, the single place a key is defined.
 * conf.c parses, defaults, frees and reloads through it; tests and docs check against it.
 */
enum conf_type {
	CONF_BOOL,      /* bool: true|false (mosquitto also takes 1|0) */
	CONF_INT,       /* int in min..max */
	CONF_U8,        /* uint8_t in min..max */
	CONF_U16,       /* uint16_t in min..max */
	CONF_U32,       /* uint32_t in min..max */
	CONF_U64,       /* uint64_t in min..max (max <= INT64_MAX) */
	CONF_SIZE,      /* uint64_t bytes in min..max: N, or N followed by k, M or G (x 1024) */
	CONF_DURATION,  /* int64_t seconds: N followed by h|d|w|m|y, or "never" (-1) */
	CONF_LOG_TYPE,  /* unsigned mask of (1 << enum sl_log_level) */
	CONF_STR,       /* char *, owned: the rest of the line; the first string type */
	CONF_CHOICE,    /* char *, owned: one of the '|'-separated words of extra */
	CONF_MOUNT,     /* char *, owned: a topic prefix without wildcards */
	CONF_LOG_DEST,  /* char *, owned: a log destination (see struct conf) */
	CONF_ADDR,      /* char *, owned: host[:port] (conf_addr_split()); min 1: port required */
	CONF_ADDRS,     /* char *, owned: host[:port] entries separated by commas or spaces */
	CONF_DISCOVERY, /* char *, owned: "dns NAME[:port]" */
	/* The types below have no field. */
	CONF_LISTENER,    /* "listener PORT [ADDRESS]": starts a listener */
	CONF_INCLUDE_DIR, /* reads DIR/ *.conf in strcmp() order; main file only */
	CONF_ALIAS,       /* another name for the key named by extra */
	CONF_IGNORED,     /* a mosquitto key Starling accepts but does not implement */
};

enum conf_scope {
	CONF_GLOBAL,           /* offset into struct conf */
	CONF_LISTENER_KEY,     /* offset into struct conf_listener: the most recent listener */
	CONF_DEFAULT_LISTENER, /* offset into struct conf_listener: always the default listener */
};

/* How a CONF_IGNORED key is treated. */
enum conf_ignore {
	CONF_IGN_SILENT,       /* no effect worth mentioning (cosmetic, obsolete) */
	CONF_IGN_WARN,         /* warns once per load, unless the value equals def */
	CONF_IGN_BRIDGE_START, /* "connection NAME": warns once, starts a bridge block */
	CONF_IGN_BRIDGE,       /* silent inside a bridge block; counted warning outside one */
};

struct conf_key {
	const char *name; /* a name ending in '*' matches every key with that prefix */
	enum conf_type type;
	enum conf_scope scope;
	bool reloadable; /* conf_reload_apply() applies it */
	bool zero_ok;    /* numeric: 0 is accepted besides min..max (it means "no limit") */
	size_t offset;   /* of the field, per scope; unused by field-less types */
	/* Default in config syntax, NULL = unset. CONF_IGNORED: the value that is harmless. */
	const char *def;
	int64_t min, max; /* numeric range */
	/* CONF_CHOICE: "a|b"; CONF_ALIAS: the target key; CONF_IGNORED: what is not supported. */
	const char *extra;
	enum conf_ignore ignore;
};

/* Upper bound on the table's length, for per-key flags kept by the parser. */
#define CONF_KEYS_MAX 256

/* Returns the static table and sets *n to its length. */
const struct conf_key *conf_key_table(size_t *n);

/* Returns the row for name (exact names first, then prefixes), with aliases resolved to their
 * target, or NULL for an unknown key. The row is static. */
const struct conf_key *conf_key_find(const char *name);

/* Whether k is stored in a field: of struct conf (CONF_GLOBAL) or struct conf_listener. */
static inline bool
conf_key_has_field(const struct conf_key *k)
{
	return k->type < CONF_LISTENER;
}

/* Whether k's field is a char * (owned by the struct holding it). */
static inline bool
conf_key_is_str(const struct conf_key *k)
{
	return k->type >= CONF_STR && k->type < CONF_LISTENER;
}

/* The char * field of string key k in base. */
static inline char **
conf_key_str(const struct conf_key *k, const void *base)
{
	return (char **)((char *)base + k->offset);
}

/* The field functions below take base = the struct conf or struct conf_listener (per k->scope)
 * holding k's field; k must have one. */

/* Sets k's field from the text v, a value in config syntax: replaces a string (the old one is
 * freed, v is copied), ORs log types in. Returns 0, -EINVAL with why[whylen] saying what was
 * expected (field unchanged), or -ENOMEM. */
int conf_key_set(const struct conf_key *k, void *base, const char *v, char *why, size_t whylen);

/* Whether k's field holds the same value in a and b (strings compared by content). */
bool conf_key_equal(const struct conf_key *k, const void *a, const void *b);

/* Copies k's field from src into dst; a string is duplicated. Returns 0 or -ENOMEM (dst is
 * unchanged then). */
int conf_key_copy(const struct conf_key *k, void *dst, const void *src);

/* Frees k's field in base and sets it NULL when it is a string; no-op otherwise. */
void conf_key_free(const struct conf_key *k, void *base);

#endif
