/* broker/conf/conf.c - reads mosquitto.conf(5) files into struct conf: lines, listeners,
 * include_dir, defaults, lifecycle and reload. What each key is and how its value is parsed is in
 * the table of broker/conf_keys.c. */
#include "broker/conf/conf.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

/* A configuration file is a few kilobytes; the cap only stops a wrong path (a disk image, a
 * FIFO fed forever) from eating memory. */
#define FILE_MAX (16u << 20)

/* Quotes at most this much of a key or value in messages, so one line stays one line. */
#define Q "%.80s"

/* The state of one conf_load*(): what outlives a line, across include_dir files. */
struct parse {
	struct conf *c;
	char *err;
	size_t errlen;
	const char *file; /* the file being read, for messages */
	unsigned line;
	unsigned depth; /* 0 in the main file: include_dir is read only there, as in mosquitto */
	size_t cur;     /* 1 + index in c->listeners of the current listener; 0 = default one */
	struct conf_listener deflt; /* the default listener, moved into c if a key touched it */
	bool have_deflt;
	bool anon_set;        /* allow_anonymous was given: the listener rule does not apply */
	bool security_set;    /* password_file, acl_file or allow_anonymous was given */
	bool log_type_set;    /* the first log_type line replaces the default mask */
	unsigned n_log_dest;  /* a second log_dest line replaces the first: say so once */
	bool in_bridge;       /* a "connection" line was seen in this file */
	char cluster_at[300]; /* "file:line" of the first line that turned the cluster on */
	char cluster_key[40]; /* its key, as written */
	bool warned[CONF_KEYS_MAX]; /* per key: its one-time warning was logged */
};

static int fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct parse *p, bool count, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Sets p->err to "file:line: message" and returns -1. */
static int
fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	size_t i;
	int n;

	if (p->errlen == 0)
		return -1;
	if (p->line > 0)
		n = snprintf(p->err, p->errlen, "%s:%u: ", p->file, p->line);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->file);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	/* A file name or a value may hold control bytes; the contract is one printable line. */
	for (i = 0; p->err[i] != '\0'; i++)
		if ((unsigned char)p->err[i] < 0x20 || p->err[i] == 0x7f)
			p->err[i] = '?';
	return -1;
}

/* Logs a warning about the current line; count says it is a likely mistake (n_warnings). */
static void
note(struct parse *p, bool count, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	LOG_WARN("conf", "%s:%u: %s", p->file, p->line, msg);
	if (count)
		p->c->n_warnings++;
}

static bool
is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Cuts the first whitespace-separated word off *s: returns it NUL-terminated, or NULL when *s
 * holds only whitespace, and leaves *s at the next word. */
static char *
next_word(char **s)
{
	char *w = *s, *e;

	while (is_ws(*w))
		w++;
	if (*w == '\0')
		return NULL;
	for (e = w; *e != '\0' && !is_ws(*e); e++)
		;
	if (*e != '\0')
		*e++ = '\0';
	while (is_ws(*e))
		e++;
	*s = e;
	return w;
}

static bool
in_scope(const struct conf_key *k, bool listener)
{
	return conf_key_has_field(k) && (k->scope != CONF_GLOBAL) == listener;
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

/* Sets the defaults of one scope: numbers if asked, strings that are NULL. Goes on past a
 * failed allocation, so conf_init() sets every number whatever happens. Returns 0 or -ENOMEM
 * (the table's defaults are valid: a unit test parses them all). */
static int
fill_defaults(void *base, bool listener, bool numbers)
{
	size_t n, i;
	const struct conf_key *t = conf_key_table(&n);
	char why[8];
	int rc = 0;

	for (i = 0; i < n; i++) {
		if (!in_scope(&t[i], listener) || t[i].def == NULL)
			continue;
		if (conf_key_is_str(&t[i]) ? *conf_key_str(&t[i], base) != NULL : !numbers)
			continue;
		if (conf_key_set(&t[i], base, t[i].def, why, sizeof(why)) < 0)
			rc = -ENOMEM;
	}
	return rc;
}

static void
free_strings(void *base, bool listener)
{
	size_t n, i;
	const struct conf_key *t = conf_key_table(&n);

	for (i = 0; i < n; i++)
		if (in_scope(&t[i], listener))
			conf_key_free(&t[i], base);
	if (listener) { /* per_listener_settings' own fields: not rows of the table */
		sl_free(((struct conf_listener *)base)->password_file);
		sl_free(((struct conf_listener *)base)->acl_file);
	}
}

/* Appends a listener with its defaults to c. Returns it, or NULL on ENOMEM. */
static struct conf_listener *
add_listener(struct conf *c)
{
	struct conf_listener *ls = sl_realloc(c->listeners, (c->n_listeners + 1) * sizeof(*ls));
	struct conf_listener *l;

	if (ls == NULL)
		return NULL;
	c->listeners = ls;
	l = &ls[c->n_listeners];
	memset(l, 0, sizeof(*l));
	l->allow_anonymous = -1;
	if (fill_defaults(l, true, true) < 0) {
		free_strings(l, true);
		return NULL;
	}
	c->n_listeners++;
	return l;
}

/* "listener PORT [ADDRESS]". As in mosquitto, a word starting with '#' ends the line. */
static int
on_listener(struct parse *p, char *v)
{
	char *port = next_word(&v), *addr = next_word(&v);
	struct conf_listener tmp, *l;
	char why[64];
	size_t i;

	if (addr != NULL && addr[0] == '#')
		addr = NULL; /* the rest of the line is a comment */
	else if (*v != '\0' && *v != '#')
		return fail(p, "unexpected '" Q "' after the listener address", v);
	if (port == NULL)
		return fail(p, "missing value for 'listener'");
	memset(&tmp, 0, sizeof(tmp));
	/* PORT has the syntax and range of the "port" key. */
	if (conf_key_set(conf_key_find("port"), &tmp, port, why, sizeof(why)) < 0)
		return fail(p, "invalid value '" Q "' for 'listener': %s", port, why);
	for (i = 0; i < p->c->n_listeners; i++) {
		l = &p->c->listeners[i];
		if (l->port == tmp.port && (l->bind_address == NULL) == (addr == NULL) &&
		    (addr == NULL || strcmp(l->bind_address, addr) == 0))
			return fail(p, "listener %u%s" Q " defined twice", tmp.port,
			            addr ? " " : "", addr ? addr : "");
	}
	if ((l = add_listener(p->c)) == NULL)
		return fail(p, "out of memory");
	l->port = tmp.port;
	if (set_str(&l->bind_address, addr) < 0)
		return fail(p, "out of memory");
	p->cur = p->c->n_listeners;
	return 0;
}

/* The ignored mosquitto keys: see enum conf_ignore. */
static int
on_ignored(struct parse *p, const struct conf_key *k, const char *name, const char *v)
{
	size_t n;
	size_t idx = (size_t)(k - conf_key_table(&n));

	switch (k->ignore) {
	case CONF_IGN_SILENT:
		return 0;
	case CONF_IGN_BRIDGE:
		if (!p->in_bridge)
			note(p, true,
			     "'" Q "' is a bridge option outside a 'connection' block, ignored",
			     name);
		return 0;
	case CONF_IGN_BRIDGE_START:
		p->in_bridge = true;
		break;
	case CONF_IGN_WARN:
		if (k->def != NULL && v != NULL && strcmp(v, k->def) == 0)
			return 0;
		break;
	}
	if (!p->warned[idx]) {
		p->warned[idx] = true;
		note(p, false, "'" Q "' is not supported (%s), ignored", name, k->extra);
	}
	return 0;
}

static int load_file(struct parse *p, const char *path);

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
free_names(char **v, size_t n)
{
	while (n > 0)
		sl_free(v[--n]);
	sl_free(v);
}

/* Sets *out to the sorted paths of dir's *.conf entries (owned by the caller: free_names()).
 * Returns the count, or a negative errno with *out NULL. */
static int
list_conf_files(const char *dir, char ***out)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL, **nv;
	size_t n = 0, len;

	*out = NULL;
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 5 || strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		if ((nv = sl_realloc(v, (n + 1) * sizeof(*v))) == NULL)
			goto fail_free;
		v = nv;
		if ((v[n] = sl_malloc(strlen(dir) + len + 2)) == NULL)
			goto fail_free;
		sprintf(v[n++], "%s/%s", dir, de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_names); /* mosquitto: case-sensitive, capitals first */
	*out = v;
	return (int)n;
fail_free:
	closedir(d);
	free_names(v, n);
	return -ENOMEM;
}

static int
on_include_dir(struct parse *p, const char *dir)
{
	char **files;
	int n, i, rc = 0;

	if (p->depth > 0) {
		note(p, true, "include_dir is read only in the main file, ignored");
		return 0;
	}
	n = list_conf_files(dir, &files);
	if (n < 0)
		rc = n == -ENOMEM ? fail(p, "out of memory")
		                  : fail(p, "include_dir '" Q "': %s", dir, strerror(-n));
	p->depth++;
	for (i = 0; i < n && rc == 0; i++) {
		LOG_INFO("conf", "loading config file %s", files[i]);
		rc = load_file(p, files[i]);
	}
	p->depth--;
	if (n > 0)
		free_names(files, (size_t)n);
	return rc;
}

/* The struct a key of k's scope sets on the current line. */
static void *
target(struct parse *p, const struct conf_key *k, const char *name)
{
	if (k->scope == CONF_GLOBAL)
		return p->c;
	if (k->scope == CONF_DEFAULT_LISTENER && p->cur != 0)
		note(p, true, "'%s' sets the default listener, not listener %u (as in mosquitto)",
		     name, p->c->listeners[p->cur - 1].port);
	if (k->scope == CONF_LISTENER_KEY && p->cur != 0)
		return &p->c->listeners[p->cur - 1];
	p->have_deflt = true;
	return &p->deflt;
}

/* Whether k is one of the keys per_listener_settings makes a listener's. */
static bool
security_key(const struct conf_key *k)
{
	return k->scope == CONF_GLOBAL && (k->offset == offsetof(struct conf, password_file) ||
	                                   k->offset == offsetof(struct conf, acl_file) ||
	                                   k->offset == offsetof(struct conf, allow_anonymous));
}

/* per_listener_settings: password_file, acl_file or allow_anonymous for the current listener
 * (before any listener line: the default one, as mosquitto). */
static int
apply_listener_security(struct parse *p, const struct conf_key *k, const char *name, char *v)
{
	struct conf_listener *l = p->cur != 0 ? &p->c->listeners[p->cur - 1] : &p->deflt;
	struct conf tmp;
	char why[96];

	if (k->offset == offsetof(struct conf, allow_anonymous)) {
		memset(&tmp, 0, sizeof(tmp));
		if (conf_key_set(k, &tmp, v, why, sizeof(why)) < 0)
			return fail(p, "invalid value '" Q "' for '%s': %s", v, name, why);
		l->allow_anonymous = tmp.allow_anonymous;
		return 0;
	}
	if (set_str(k->offset == offsetof(struct conf, password_file) ? &l->password_file
	                                                              : &l->acl_file,
	            v) < 0)
		return fail(p, "out of memory");
	return 0;
}

/* Applies "name v" (v NULL when the line has no value); k is name's row. */
static int
apply(struct parse *p, const struct conf_key *k, const char *name, char *v)
{
	char why[96];
	void *base;
	int rc;

	if (k->type == CONF_IGNORED)
		return on_ignored(p, k, name, v);
	if (v == NULL)
		return fail(p, "missing value for '%s'", name);
	if (k->type == CONF_LISTENER)
		return on_listener(p, v);
	if (k->type == CONF_INCLUDE_DIR)
		return on_include_dir(p, v);
	if (k->scope == CONF_GLOBAL && k->offset == offsetof(struct conf, per_listener_settings) &&
	    p->security_set)
		return fail(p, "per_listener_settings must come before password_file, acl_file and "
		               "allow_anonymous (as in mosquitto)");
	if (security_key(k)) {
		p->security_set = true;
		if (p->c->per_listener_settings)
			return apply_listener_security(p, k, name, v);
	}
	base = target(p, k, name);
	if (k->type == CONF_LOG_TYPE && !p->log_type_set) {
		p->log_type_set = true;
		p->c->log_type_mask = 0;
	}
	if (k->type == CONF_LOG_DEST && ++p->n_log_dest == 2)
		note(p, false, "mosquitto logs to every log_dest; Starling only to the last one");
	rc = conf_key_set(k, base, v, why, sizeof(why));
	if (rc == -ENOMEM)
		return fail(p, "out of memory");
	if (rc < 0)
		return fail(p, "invalid value '" Q "' for '%s': %s", v, name, why);
	if (k->scope == CONF_GLOBAL && k->offset == offsetof(struct conf, allow_anonymous))
		p->anon_set = true;
	if (conf_cluster_on(p->c) && p->cluster_at[0] == '\0') {
		snprintf(p->cluster_at, sizeof(p->cluster_at), "%s:%u", p->file, p->line);
		snprintf(p->cluster_key, sizeof(p->cluster_key), "%s", name);
	}
	return 0;
}

/* A cluster node needs a name and the secret its links prove they share (cluster.h): said at
 * the line that turned the cluster on, since that is where the mistake may be. */
static int
check_cluster(struct parse *p)
{
	const struct conf *c = p->c;
	bool id = c->cluster_node_id != NULL, secret = c->cluster_secret != NULL;

	if (!conf_cluster_on(c) || (id && secret))
		return 0;
	p->file = p->cluster_at;
	p->line = 0;
	return fail(p, "%s makes this broker a cluster node, which needs %s%s%s", p->cluster_key,
	            id ? "" : "cluster_node_id", !id && !secret ? " and " : "",
	            secret ? "" : "cluster_secret");
}

/* One line, without its '\n'. '#' starts a comment only as the first non-blank character:
 * mosquitto keeps a '#' inside a value literally. */
static int
parse_line(struct parse *p, char *line)
{
	char *key, *v, *end;
	const struct conf_key *k;

	while (is_ws(*line))
		line++;
	end = line + strlen(line);
	while (end > line && is_ws(end[-1]))
		*--end = '\0';
	if (*line == '\0' || *line == '#')
		return 0;
	key = line;
	v = key + strcspn(key, " \t");
	if (*v != '\0') {
		*v++ = '\0';
		v += strspn(v, " \t");
	}
	k = conf_key_find(key);
	if (k == NULL) {
		note(p, true, "unknown option '" Q "', ignored", key);
		return 0;
	}
	return apply(p, k, key, *v != '\0' ? v : NULL);
}

/* Parses buf[0..len), which is writable and NUL-terminated at len. */
static int
parse_text(struct parse *p, char *buf, size_t len)
{
	char *s = buf, *end = buf + len, *nl;
	int rc;

	while (s < end) {
		nl = memchr(s, '\n', (size_t)(end - s));
		if (nl == NULL)
			nl = end;
		*nl = '\0';
		p->line++;
		if (memchr(s, '\0', (size_t)(nl - s)) != NULL)
			return fail(p, "NUL byte in line");
		if ((rc = parse_line(p, s)) < 0)
			return rc;
		s = nl + 1;
	}
	return 0;
}

/* Reads the file at path into *out (NUL-terminated, owned by the caller). Returns its length,
 * or a negative errno (-EISDIR, -EFBIG past FILE_MAX). */
static long
read_all(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	size_t len = 0, cap = 4096, got;
	char *buf = NULL, *nb;
	long rc = 0;

	if (f == NULL)
		return -errno;
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
		rc = -EISDIR;
	while (rc == 0) {
		if (buf == NULL || len + 1 == cap) {
			cap = buf == NULL ? cap : cap * 2;
			if (cap > FILE_MAX) {
				rc = -EFBIG;
				break;
			}
			if ((nb = sl_realloc(buf, cap)) == NULL) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
		if (got == 0)
			rc = ferror(f) ? -EIO : 1;
	}
	fclose(f);
	if (rc < 0) {
		sl_free(buf);
		return rc;
	}
	buf[len] = '\0';
	*out = buf;
	return (long)len;
}

static int
load_file(struct parse *p, const char *path)
{
	const char *file = p->file;
	unsigned line = p->line;
	bool in_bridge = p->in_bridge;
	char *buf = NULL;
	long n;
	int rc;

	p->file = path;
	p->line = 0;
	p->in_bridge = false; /* a bridge block ends with its file, as in mosquitto */
	n = read_all(path, &buf);
	if (n == -ENOMEM)
		rc = fail(p, "out of memory");
	else if (n == -EFBIG)
		rc = fail(p, "too large for a configuration file (over %u bytes)", FILE_MAX - 1);
	else if (n < 0)
		rc = fail(p, "cannot read: %s", strerror((int)-n));
	else
		rc = parse_text(p, buf, (size_t)n);
	sl_free(buf);
	p->file = file;
	p->line = line;
	p->in_bridge = in_bridge;
	return rc;
}

static int
parse_begin(struct parse *p, struct conf *c, const char *file, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->c = c;
	p->err = err;
	p->errlen = err != NULL ? errlen : 0;
	p->file = file != NULL ? file : "-";
	if (p->errlen > 0)
		err[0] = '\0';
	p->deflt.allow_anonymous = -1;
	if (fill_defaults(&p->deflt, true, true) < 0)
		return fail(p, "out of memory");
	return 0;
}

/* After the last line: places the default listener first and settles allow_anonymous. */
static int
parse_finish(struct parse *p)
{
	struct conf *c = p->c;
	struct conf_listener *ls;

	p->line = 0;
	if (p->have_deflt) {
		ls = sl_realloc(c->listeners, (c->n_listeners + 1) * sizeof(*ls));
		if (ls == NULL)
			return fail(p, "out of memory");
		memmove(&ls[1], &ls[0], c->n_listeners * sizeof(*ls));
		ls[0] = p->deflt;
		memset(&p->deflt, 0, sizeof(p->deflt)); /* moved */
		c->listeners = ls;
		c->n_listeners++;
	}
	if (!p->anon_set)
		c->allow_anonymous = c->n_listeners == 0;
	if (check_cluster(p) < 0)
		return -1;
	if (conf_complete(c) < 0)
		return fail(p, "out of memory");
	return 0;
}

void
conf_init(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	fill_defaults(c, false, true); /* on ENOMEM some strings stay NULL: see conf.h */
}

void
conf_fini(struct conf *c)
{
	size_t i;

	for (i = 0; i < c->n_listeners; i++)
		free_strings(&c->listeners[i], true);
	free_strings(c, false);
	sl_free(c->listeners);
	sl_free(c->path);
	memset(c, 0, sizeof(*c));
}

bool
conf_cluster_on(const struct conf *c)
{
	return c->cluster_bind != NULL || c->cluster_peers != NULL || c->cluster_discovery != NULL;
}

int
conf_complete(struct conf *c)
{
	if (fill_defaults(c, false, false) < 0)
		return -ENOMEM;
	if (c->n_listeners == 0 && add_listener(c) == NULL)
		return -ENOMEM;
	return 0;
}

int
conf_load(struct conf *c, const char *path, char *err, size_t errlen)
{
	struct parse p;
	int rc;

	rc = parse_begin(&p, c, path, err, errlen);
	if (rc == 0 && set_str(&c->path, path) < 0)
		rc = fail(&p, "out of memory");
	if (rc == 0)
		rc = load_file(&p, path);
	if (rc == 0)
		rc = parse_finish(&p);
	free_strings(&p.deflt, true);
	return rc;
}

int
conf_load_string(struct conf *c, const char *name, const char *text, char *err, size_t errlen)
{
	struct parse p;
	char *buf;
	int rc;

	rc = parse_begin(&p, c, name, err, errlen);
	if (rc == 0) {
		if ((buf = sl_strdup(text)) == NULL)
			rc = fail(&p, "out of memory");
		else
			rc = parse_text(&p, buf, strlen(buf));
		sl_free(buf);
	}
	if (rc == 0)
		rc = parse_finish(&p);
	free_strings(&p.deflt, true);
	return rc;
}

/* Duplicates the string fields of src (in scope listener) into dst, a shallow copy of src.
 * Returns 0 or -ENOMEM. Either way dst's strings are its own: free_strings() frees none of
 * src's. */
static int
copy_strings(void *dst, const void *src, bool listener)
{
	size_t n, i;
	const struct conf_key *t = conf_key_table(&n);

	for (i = 0; i < n; i++)
		if (in_scope(&t[i], listener) && conf_key_is_str(&t[i]))
			*conf_key_str(&t[i], dst) = NULL;
	for (i = 0; i < n; i++)
		if (in_scope(&t[i], listener) && conf_key_is_str(&t[i]) &&
		    conf_key_copy(&t[i], dst, src) < 0)
			return -ENOMEM;
	if (listener) {
		struct conf_listener *d = dst;
		const struct conf_listener *l = src;

		d->password_file = d->acl_file = NULL;
		if (set_str(&d->password_file, l->password_file) < 0 ||
		    set_str(&d->acl_file, l->acl_file) < 0)
			return -ENOMEM;
	}
	return 0;
}

int
conf_copy(struct conf *dst, const struct conf *src)
{
	size_t i;

	*dst = *src;
	dst->path = NULL;
	dst->listeners = NULL;
	dst->n_listeners = 0;
	if (copy_strings(dst, src, false) < 0 ||
	    (src->path != NULL && (dst->path = sl_strdup(src->path)) == NULL))
		return -ENOMEM;
	if (src->n_listeners > 0 &&
	    (dst->listeners = sl_calloc(src->n_listeners, sizeof(*dst->listeners))) == NULL)
		return -ENOMEM;
	for (i = 0; i < src->n_listeners; i++) {
		dst->listeners[i] = src->listeners[i];
		dst->n_listeners = i + 1;
		if (copy_strings(&dst->listeners[i], &src->listeners[i], true) < 0)
			return -ENOMEM;
	}
	return 0;
}

static bool
listeners_equal(const struct conf *a, const struct conf *b)
{
	size_t n, i, j;
	const struct conf_key *t = conf_key_table(&n);

	if (a->n_listeners != b->n_listeners)
		return false;
	for (i = 0; i < a->n_listeners; i++)
		for (j = 0; j < n; j++)
			if (in_scope(&t[j], true) &&
			    !conf_key_equal(&t[j], &a->listeners[i], &b->listeners[i]))
				return false;
	return true;
}

int
conf_reload_apply(struct conf *live, const struct conf *fresh)
{
	size_t n, i;
	const struct conf_key *t = conf_key_table(&n);
	int changed = 0;

	for (i = 0; i < n; i++) {
		if (!in_scope(&t[i], false) || conf_key_equal(&t[i], live, fresh))
			continue;
		if (!t[i].reloadable) {
			LOG_WARN("conf", "'%s' changed: restart to apply it", t[i].name);
			continue;
		}
		if (conf_key_copy(&t[i], live, fresh) < 0)
			return -ENOMEM;
		LOG_NOTICE("conf", "'%s' reloaded", t[i].name);
		changed++;
	}
	if (!listeners_equal(live, fresh))
		LOG_WARN("conf", "listeners changed: restart to apply them");
	return changed;
}
