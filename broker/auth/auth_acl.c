/* broker/auth/auth_acl.c - the ACL file (mosquitto.conf(5) acl_file): parsing, and the checks of
 * auth_acl(). The semantics are described at the top of auth.h. */
#include "broker/auth/auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker/auth/auth_int.h"
#include "proto/base/sl_alloc.h"
#include "proto/mqtt_topic.h"

/* A substituted pattern up to this size is built on the stack. */
#define SUBST_STACK 512

enum verdict { NO_MATCH, ALLOW, DENY };

static int
rules_add(struct auth_int_rules *rs, const char *filter, uint8_t access)
{
	struct auth_int_rule *r;
	const char *s;

	if (rs->n == rs->cap) {
		r = sl_realloc(rs->v, (rs->cap * 2 + 8) * sizeof(*r));
		if (r == NULL)
			return -ENOMEM;
		rs->v = r;
		rs->cap = rs->cap * 2 + 8;
	}
	r = &rs->v[rs->n];
	memset(r, 0, sizeof(*r));
	if ((r->filter = sl_strdup(filter)) == NULL)
		return -ENOMEM;
	r->len = (uint32_t)strlen(filter);
	r->access = access;
	for (s = filter; (s = strchr(s, '%')) != NULL && s[1] != '\0'; s++) {
		if (s[1] == 'c' && r->n_c < 255)
			r->n_c++;
		else if (s[1] == 'u' && r->n_u < 255)
			r->n_u++;
		if (s[1] == 'c' || s[1] == 'u')
			s++;
	}
	rs->n++;
	return 0;
}

static void
rules_free(struct auth_int_rules *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		sl_free(rs->v[i].filter);
	sl_free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

/* Splits s at its first run of blanks: returns the first word, *rest what follows the run. */
static char *
word(char *s, char **rest)
{
	char *e;

	s += strspn(s, " \t");
	e = s + strcspn(s, " \t");
	*rest = e + strspn(e, " \t");
	*e = '\0';
	return s;
}

/* "topic|pattern [read|write|readwrite|deny] FILTER": rest is what follows the keyword. A line
 * that cannot be used is skipped (a missing or invalid filter matches nothing either way); an
 * access word that is none of the four makes the rule a deny of its filter, in case it was a
 * misspelt "deny": doubt only ever denies. */
static int
rule_line(struct auth_int_file *lf, char *rest, struct auth_int_rules *rs, char **err)
{
	static const char *const names[] = {"deny", "read", "write", "readwrite"};
	char *filter, *acc = rest;
	uint8_t access = AUTH_READ | AUTH_WRITE, i;

	if (*rest == '\0')
		return auth_int_skip(lf, "missing topic");
	/* As mosquitto: a single word is the filter itself, with read and write access. */
	acc = word(rest, &filter);
	if (*filter == '\0') {
		filter = acc;
	} else {
		for (i = 0; i < 4 && strcmp(acc, names[i]) != 0; i++)
			;
		if (i == 4)
			auth_int_skip(lf,
			              "access '%s' is not read, write, readwrite or deny: taken "
			              "as deny",
			              acc);
		access = i == 4 ? AUTH_INT_DENY : i; /* the index is the access bits */
	}
	if (strlen(filter) > MQTT_TOPIC_MAX ||
	    !mqtt_topic_filter_valid(sl_bytes_make(filter, (uint32_t)strlen(filter))))
		return auth_int_skip(lf, "'%s' is not a valid topic filter", filter);
	if (rules_add(rs, filter, access) < 0)
		return auth_int_err(err, "out of memory");
	return 0;
}

static int
user_line(struct auth *a, struct auth_int_file *lf, char *name, size_t *cap, char **err)
{
	struct auth_int_user *u;

	if (a->n_users == *cap) {
		u = sl_realloc(a->users, (*cap * 2 + 8) * sizeof(*u));
		if (u == NULL)
			return auth_int_err(err, "out of memory");
		a->users = u;
		*cap = *cap * 2 + 8;
	}
	u = &a->users[a->n_users];
	memset(u, 0, sizeof(*u));
	if ((u->name = sl_strdup(name)) == NULL)
		return auth_int_err(err, "out of memory");
	u->line = lf->line;
	a->n_users++;
	return 0;
}

static int
cmp_user(const void *x, const void *y)
{
	return strcmp(((const struct auth_int_user *)x)->name,
	              ((const struct auth_int_user *)y)->name);
}

/* By name, then by line, so that merging keeps the file's order of rules. */
static int
cmp_user_line(const void *x, const void *y)
{
	const struct auth_int_user *p = x, *q = y;
	int c = strcmp(p->name, q->name);

	return c != 0 ? c : (p->line > q->line) - (p->line < q->line);
}

/* Sorts the user sections and joins those of one name (mosquitto adds them up). */
static int
merge_users(struct auth *a)
{
	struct auth_int_user *keep, *u;
	struct auth_int_rule *v;
	size_t i, n = 0;

	if (a->n_users > 1)
		qsort(a->users, a->n_users, sizeof(*a->users), cmp_user_line);
	for (i = 0; i < a->n_users; i++) {
		u = &a->users[i];
		keep = n > 0 ? &a->users[n - 1] : NULL;
		if (keep == NULL || strcmp(keep->name, u->name) != 0) {
			if (&a->users[n] != u) {
				a->users[n] = *u;
				memset(u, 0, sizeof(*u)); /* one owner, should this loop fail */
			}
			n++;
			continue;
		}
		v = sl_realloc(keep->rules.v, (keep->rules.n + u->rules.n + 1) * sizeof(*v));
		if (v == NULL)
			return -ENOMEM; /* the rest stays listed, so auth_free() frees it */
		if (u->rules.n > 0)
			memcpy(v + keep->rules.n, u->rules.v, u->rules.n * sizeof(*v));
		keep->rules.v = v;
		keep->rules.n += u->rules.n;
		keep->rules.cap = keep->rules.n + 1;
		sl_free(u->rules.v);
		sl_free(u->name);
		memset(u, 0, sizeof(*u));
	}
	a->n_users = n;
	return 0;
}

/* Reading state: *cap of a->users, and whether the current section was lost. */
struct acl_read {
	size_t cap;
	bool lost; /* its header line could not be read: its topic lines belong to nobody */
};

/* A line of unknown keyword: perhaps a misspelt topic, pattern or user line. Whatever it was,
 * only denying is safe: its filter is denied both in the current section and as a pattern,
 * and the rest of the section is dropped (if it was a user line, its rules must not go to the
 * section before). */
static int
doubt_line(struct auth *a, struct auth_int_file *lf, const char *kw, char *rest,
           struct auth_int_rules *cur, struct acl_read *st, char **err)
{
	char *filter = rest, *acc = word(rest, &filter);

	if (*filter == '\0')
		filter = acc;
	auth_int_skip(lf,
	              "unknown keyword '%s' (want topic, pattern or user): '%s' denied and the "
	              "rest of this section skipped",
	              kw, filter);
	st->lost = true;
	if (*filter == '\0' || strlen(filter) > MQTT_TOPIC_MAX ||
	    !mqtt_topic_filter_valid(sl_bytes_make(filter, (uint32_t)strlen(filter))))
		return 0;
	if ((cur != NULL && rules_add(cur, filter, AUTH_INT_DENY) < 0) ||
	    rules_add(&a->patterns, filter, AUTH_INT_DENY) < 0)
		return auth_int_err(err, "out of memory");
	return 0;
}

static int
acl_line(struct auth *a, struct auth_int_file *lf, char *line, struct acl_read *st, char **err)
{
	char *rest, *kw = word(line, &rest);
	struct auth_int_rules *cur = a->n_users > 0 ? &a->users[a->n_users - 1].rules : &a->anon;

	if (st->lost)
		cur = NULL;
	if (strcmp(kw, "topic") == 0)
		return cur != NULL ? rule_line(lf, rest, cur, err)
		                   : auth_int_skip(lf, "in a section skipped above");
	if (strcmp(kw, "pattern") == 0) /* every client's, wherever it stands */
		return rule_line(lf, rest, &a->patterns, err);
	if (strcmp(kw, "user") == 0) {
		st->lost = *rest == '\0';
		if (st->lost)
			return auth_int_skip(lf,
			                     "missing user name: its topic lines are skipped too");
		return user_line(a, lf, rest, &st->cap, err);
	}
	return doubt_line(a, lf, kw, rest, cur, st, err);
}

int
auth_int_acl_load(struct auth *a, const char *path, char **err)
{
	struct auth_int_file lf;
	struct acl_read st = {0, false};
	char *line;
	int rc = 0;

	a->has_acl = true;
	if (auth_int_open(&lf, path, err) < 0)
		return -1;
	while (rc == 0 && (line = auth_int_next(&lf, err)) != NULL) {
		/* A line that cannot be read may have been a user line: as for an unknown
		 * keyword, the rest of its section must not fall to the section above. */
		st.lost |= lf.unreadable;
		line += strspn(line, " \t");
		if (line[0] != '\0' && line[0] != '#')
			rc = acl_line(a, &lf, line, &st, err);
	}
	auth_int_close(&lf);
	if (rc < 0 || *err != NULL)
		return -1;
	if (merge_users(a) < 0)
		return auth_int_err(err, "out of memory");
	return 0;
}

void
auth_int_acl_free(struct auth *a)
{
	size_t i;

	rules_free(&a->anon);
	rules_free(&a->patterns);
	for (i = 0; i < a->n_users; i++) {
		rules_free(&a->users[i].rules);
		sl_free(a->users[i].name);
	}
	sl_free(a->users);
	a->users = NULL;
	a->n_users = 0;
}

static bool
is_hash(struct sl_bytes l)
{
	return l.len == 1 && l.p[0] == '#';
}

static bool
is_wild(struct sl_bytes l)
{
	return l.len == 1 && (l.p[0] == '#' || l.p[0] == '+');
}

static bool
is_dollar(struct sl_bytes l)
{
	return l.len > 0 && l.p[0] == '$';
}

static bool
same(struct sl_bytes a, struct sl_bytes b)
{
	return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

/* Whether some topic name matches both filters a and b. */
static bool
overlaps(struct sl_bytes a, struct sl_bytes b)
{
	uint32_t pa = 0, pb = 0;
	struct sl_bytes la, lb;
	bool ha, hb, first;

	for (first = true;; first = false) {
		ha = mqtt_topic_level_next(a, &pa, &la);
		hb = mqtt_topic_level_next(b, &pb, &lb);
		if (!ha || !hb) /* "a/#" matches "a" too */
			return ha == hb || (ha && is_hash(la)) || (hb && is_hash(lb));
		/* [MQTT-4.7.2-1] a first-level wildcard matches no topic starting with '$'. */
		if (first && ((is_wild(la) && is_dollar(lb)) || (is_wild(lb) && is_dollar(la))))
			return false;
		if (is_hash(la) || is_hash(lb))
			return true;
		if (!is_wild(la) && !is_wild(lb) && !same(la, lb))
			return false;
	}
}

/* Whether every topic name that matches filter f matches filter d too. Errs towards false
 * ("+/#" does cover "#" but is not seen to). */
static bool
covers(struct sl_bytes d, struct sl_bytes f)
{
	uint32_t pd = 0, pf = 0;
	struct sl_bytes ld, lf;
	bool first;

	for (first = true;; first = false) {
		if (!mqtt_topic_level_next(d, &pd, &ld))
			return !mqtt_topic_level_next(f, &pf, &lf);
		if (!mqtt_topic_level_next(f, &pf, &lf))
			return is_hash(ld);
		if (first && is_wild(ld) && is_dollar(lf)) /* [MQTT-4.7.2-1] */
			return false;
		if (is_hash(ld))
			return true;
		if (is_hash(lf))
			return false;
		if (!is_wild(ld) && (is_wild(lf) || !same(ld, lf)))
			return false; /* a '+' in d covers a level or a '+' of f */
	}
}

/* Whether rule filter f matches topic for access; deny rules must cover a SUBSCRIBE filter,
 * granting rules need only overlap it. */
static bool
matches(struct sl_bytes f, struct sl_bytes topic, enum auth_access access, bool deny)
{
	if (access != AUTH_SUBSCRIBE)
		return mqtt_topic_match(f, topic);
	return deny ? covers(f, topic) : overlaps(f, topic);
}

/* Who asks: substitution values for patterns. */
struct who {
	const char *cid, *user;
	bool subst;
};

/* Writes r's filter with %c and %u replaced into out[cap]; returns the full length (which may
 * exceed cap: nothing past cap is written). */
static size_t
subst(const struct auth_int_rule *r, const struct who *w, char *out, size_t cap)
{
	size_t n = 0, i, vl;
	const char *v;

	for (i = 0; i < r->len; i++) {
		v = NULL;
		if (r->filter[i] == '%' && i + 1 < r->len && r->filter[i + 1] == 'c')
			v = w->cid;
		else if (r->filter[i] == '%' && i + 1 < r->len && r->filter[i + 1] == 'u')
			v = w->user;
		if (v == NULL) {
			if (n < cap)
				out[n] = r->filter[i];
			n++;
			continue;
		}
		vl = strlen(v);
		if (n + vl <= cap)
			memcpy(out + n, v, vl);
		n += vl;
		i++;
	}
	return n;
}

/* Matches rule r (substituted when w says so). Returns 1, 0, or -ENOMEM. */
static int
rule_matches(const struct auth_int_rule *r, const struct who *w, struct sl_bytes topic,
             enum auth_access access, bool deny)
{
	char stack[SUBST_STACK], *buf = stack;
	size_t n;
	bool m;

	if (!w->subst || (r->n_c == 0 && r->n_u == 0))
		return matches(sl_bytes_make(r->filter, r->len), topic, access, deny);
	n = subst(r, w, stack, sizeof(stack));
	if (n > MQTT_TOPIC_MAX)
		return 0; /* no topic is that long */
	if (n > sizeof(stack)) {
		if ((buf = sl_malloc(n)) == NULL)
			return -ENOMEM;
		subst(r, w, buf, n);
	}
	m = matches(sl_bytes_make(buf, (uint32_t)n), topic, access, deny);
	if (buf != stack)
		sl_free(buf);
	return m;
}

/* One set of rules: a matching deny first, then a rule granting the access. */
static enum verdict
check_set(const struct auth_int_rules *rs, const struct who *w, struct sl_bytes topic,
          enum auth_access access)
{
	uint8_t want = access == AUTH_SUBSCRIBE ? AUTH_READ : (uint8_t)access;
	int pass, m;
	size_t i;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < rs->n; i++) {
			const struct auth_int_rule *r = &rs->v[i];

			if (pass == 0 ? r->access != AUTH_INT_DENY : (r->access & want) == 0)
				continue;
			if (w->subst && r->n_u > 0 && w->user == NULL)
				continue; /* %u cannot apply to an anonymous client */
			m = rule_matches(r, w, topic, access, pass == 0);
			if (m < 0 && pass == 0)
				return DENY; /* could not check a deny rule: fail closed */
			if (m > 0)
				return pass == 0 ? DENY : ALLOW;
		}
	}
	return NO_MATCH;
}

static bool
wildcard_in(const char *s)
{
	return s != NULL && strpbrk(s, "+#") != NULL;
}

bool
auth_acl(const struct auth *a, const char *client_id, const char *username, struct sl_bytes topic,
         enum auth_access access)
{
	const struct auth_int_user key = {.name = (char *)username}, *u = NULL;
	struct who w = {client_id != NULL ? client_id : "", username, false};
	enum verdict v = NO_MATCH;

	if (a == NULL || !a->has_acl)
		return true;
	if (username == NULL)
		v = check_set(&a->anon, &w, topic, access);
	else if (a->n_users > 0 &&
	         (u = bsearch(&key, a->users, a->n_users, sizeof(*u), cmp_user)) != NULL)
		v = check_set(&u->rules, &w, topic, access);
	/* A '+' or '#' in an id would act as a wildcard in the pattern: no pattern applies. */
	if (v == NO_MATCH && a->patterns.n > 0 && !wildcard_in(client_id) &&
	    !wildcard_in(username)) {
		w.subst = true;
		v = check_set(&a->patterns, &w, topic, access);
	}
	return v == ALLOW;
}
