/* broker/auth/auth.c - loading the password and ACL files, and checking passwords. The ACL half is
 * in auth_acl.c. */
#include "broker/auth/auth.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "broker/auth/auth_int.h"
#include "broker/auth/b64.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

int
auth_int_err(char **err, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	*err = sl_strdup(buf);
	return -1;
}

int
auth_int_skip(const struct auth_int_file *lf, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	LOG_WARN("auth", "%s:%u: %s, line skipped", lf->path, lf->line, buf);
	return 0;
}

int
auth_int_open(struct auth_int_file *lf, const char *path, char **err)
{
	memset(lf, 0, sizeof(*lf));
	lf->path = path;
	if ((lf->f = fopen(path, "r")) == NULL)
		return auth_int_err(err, "%s: %s", path, strerror(errno));
	return 0;
}

char *
auth_int_next(struct auth_int_file *lf, char **err)
{
	ssize_t n = getline(&lf->buf, &lf->cap, lf->f);

	if (n < 0) {
		if (ferror(lf->f))
			auth_int_err(err, "%s:%u: read error", lf->path, lf->line + 1);
		return NULL;
	}
	lf->line++;
	lf->unreadable = strlen(lf->buf) != (size_t)n;
	if (lf->unreadable) {
		auth_int_skip(lf, "NUL byte in line");
		lf->buf[0] = '\0';
		return lf->buf;
	}
	while (n > 0 && strchr(" \t\r\n\v\f", lf->buf[n - 1]) != NULL)
		lf->buf[--n] = '\0';
	return lf->buf;
}

void
auth_int_close(struct auth_int_file *lf)
{
	if (lf->f != NULL)
		fclose(lf->f);
	free(lf->buf); /* style: getline()'s buffer comes from malloc() */
	lf->f = NULL;
	lf->buf = NULL;
}

/* Parses "$6$SALT$HASH" or "$7$ITER$SALT$HASH" into pw. Returns 0 or -1. */
static int
parse_hash(char *h, struct auth_int_pw *pw)
{
	char *salt, *hash, *end;
	unsigned long iter;
	int n;

	if (strncmp(h, "$6$", 3) == 0) {
		pw->kind = AUTH_INT_SHA512;
		salt = h + 3;
	} else if (strncmp(h, "$7$", 3) == 0) {
		pw->kind = AUTH_INT_PBKDF2;
		errno = 0;
		iter = strtoul(h + 3, &end, 10);
		if (end == h + 3 || *end != '$' || errno != 0 || iter < 1 || iter > INT_MAX)
			return -1;
		pw->iterations = (uint32_t)iter;
		salt = end + 1;
	} else {
		return -1;
	}
	if ((hash = strchr(salt, '$')) == NULL)
		return -1;
	n = b64_decode(salt, (size_t)(hash - salt), B64_PAD_OPTIONAL, pw->salt, sizeof(pw->salt));
	if (n < 1)
		return -1;
	pw->salt_len = (uint32_t)n;
	hash++;
	if (b64_decode(hash, strlen(hash), B64_PAD_OPTIONAL, pw->hash, sizeof(pw->hash)) !=
	    AUTH_HASH_LEN)
		return -1;
	return 0;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* One "user:hash" line into a fresh entry at the end of a->pw. A line that cannot be used is
 * skipped: its user cannot log in with it. */
static int
pw_line(struct auth *a, struct auth_int_file *lf, char *line, size_t *cap, char **err)
{
	char *colon = strchr(line, ':'), *user, *hash;
	struct auth_int_pw *pw;

	if (colon == NULL)
		return auth_int_skip(lf, "expected user:hash");
	*colon = '\0';
	user = trim(line);
	hash = trim(colon + 1);
	if (*user == '\0')
		return auth_int_skip(lf, "empty user name");
	if (a->n_pw == *cap) {
		pw = sl_realloc(a->pw, (*cap * 2 + 16) * sizeof(*pw));
		if (pw == NULL)
			return auth_int_err(err, "out of memory");
		a->pw = pw;
		*cap = *cap * 2 + 16;
	}
	pw = &a->pw[a->n_pw];
	memset(pw, 0, sizeof(*pw));
	if (parse_hash(hash, pw) < 0)
		return auth_int_skip(lf, "%s for user '%s' (want $6$ or $7$ from %s)",
		                     hash[0] == '$' ? "bad password hash" : "plain-text password",
		                     user, "starling_passwd or mosquitto_passwd");
	if ((pw->user = sl_strdup(user)) == NULL)
		return auth_int_err(err, "out of memory");
	pw->line = lf->line;
	a->n_pw++;
	return 0;
}

static int
cmp_pw(const void *x, const void *y)
{
	return strcmp(((const struct auth_int_pw *)x)->user, ((const struct auth_int_pw *)y)->user);
}

/* By user, then by line: a duplicate sorts after the line it repeats. */
static int
cmp_pw_line(const void *x, const void *y)
{
	const struct auth_int_pw *p = x, *q = y;
	int c = strcmp(p->user, q->user);

	return c != 0 ? c : (p->line > q->line) - (p->line < q->line);
}

static int
pw_load(struct auth *a, const char *path, char **err)
{
	struct auth_int_file lf;
	size_t cap = 0, i, n;
	char *line;
	int rc = 0;

	a->has_pw = true;
	if (auth_int_open(&lf, path, err) < 0)
		return -1;
	while (rc == 0 && (line = auth_int_next(&lf, err)) != NULL) {
		line += strspn(line, " \t");
		if (line[0] != '\0' && line[0] != '#')
			rc = pw_line(a, &lf, line, &cap, err);
	}
	auth_int_close(&lf);
	if (rc < 0 || *err != NULL)
		return -1;
	if (a->n_pw > 1)
		qsort(a->pw, a->n_pw, sizeof(*a->pw), cmp_pw_line);
	/* A user listed again keeps the first line (a repeat sorts after it). */
	for (i = 1, n = a->n_pw > 0; i < a->n_pw; i++) {
		if (strcmp(a->pw[n - 1].user, a->pw[i].user) == 0) {
			lf.line = a->pw[i].line;
			auth_int_skip(&lf, "user '%s' already on line %u", a->pw[i].user,
			              a->pw[n - 1].line);
			sl_free(a->pw[i].user);
			continue;
		}
		a->pw[n++] = a->pw[i];
	}
	a->n_pw = a->n_pw > 0 ? n : 0;
	return 0;
}

struct auth *
auth_load(const char *pw_path, const char *acl_path, char **err)
{
	struct auth *a = sl_calloc(1, sizeof(*a));

	*err = NULL;
	if (a == NULL) {
		auth_int_err(err, "out of memory");
		return NULL;
	}
	if ((pw_path != NULL && pw_load(a, pw_path, err) < 0) ||
	    (acl_path != NULL && auth_int_acl_load(a, acl_path, err) < 0)) {
		auth_free(a);
		return NULL;
	}
	return a;
}

void
auth_free(struct auth *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n_pw; i++) {
		OPENSSL_cleanse(a->pw[i].hash, sizeof(a->pw[i].hash));
		sl_free(a->pw[i].user);
	}
	sl_free(a->pw);
	auth_int_scram_free(a);
	auth_int_acl_free(a);
	sl_free(a);
}

bool
auth_has_passwords(const struct auth *a)
{
	return a != NULL && a->has_pw;
}

bool
auth_has_acl(const struct auth *a)
{
	return a != NULL && a->has_acl;
}

/* Hashes password as pw says into out[AUTH_HASH_LEN]. Returns 0 or -EIO. */
static int
hash_pw(const struct auth_int_pw *pw, const void *password, size_t len, uint8_t *out)
{
	EVP_MD_CTX *ctx;
	int ok;

	if (len > INT_MAX)
		return -EIO;
	if (pw->kind == AUTH_INT_PBKDF2)
		return PKCS5_PBKDF2_HMAC(password, (int)len, pw->salt, (int)pw->salt_len,
		                         (int)pw->iterations, EVP_sha512(), AUTH_HASH_LEN, out) == 1
		               ? 0
		               : -EIO;
	/* mosquitto 1.x: SHA512 of the password followed by the salt. */
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -EIO;
	ok = EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, password, len) == 1 &&
	     EVP_DigestUpdate(ctx, pw->salt, pw->salt_len) == 1 &&
	     EVP_DigestFinal_ex(ctx, out, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

int
auth_password(const struct auth *a, const char *username, const void *password, size_t len)
{
	/* Stands in for an unknown user: the same work as a mosquitto_passwd 2.0 entry. */
	static const struct auth_int_pw dummy = {.kind = AUTH_INT_PBKDF2,
	                                         .iterations = AUTH_PBKDF2_ITERATIONS,
	                                         .salt_len = AUTH_SALT_LEN};
	const struct auth_int_pw *pw = NULL, key = {.user = (char *)username};
	uint8_t out[AUTH_HASH_LEN];
	int rc;

	if (a == NULL || !a->has_pw || username == NULL)
		return -EACCES;
	if (a->n_pw > 0)
		pw = bsearch(&key, a->pw, a->n_pw, sizeof(*a->pw), cmp_pw);
	rc = hash_pw(pw != NULL ? pw : &dummy, password != NULL ? password : "",
	             password != NULL ? len : 0, out);
	if (rc == 0 &&
	    (pw == NULL || password == NULL || CRYPTO_memcmp(out, pw->hash, AUTH_HASH_LEN) != 0))
		rc = -EACCES;
	OPENSSL_cleanse(out, sizeof(out));
	return rc < 0 ? -EACCES : 0;
}

int
auth_hash_make(const void *password, size_t len, uint32_t iterations, char *out, size_t outlen)
{
	struct auth_int_pw pw = {.kind = iterations > 0 ? AUTH_INT_PBKDF2 : AUTH_INT_SHA512,
	                         .iterations = iterations,
	                         .salt_len = AUTH_SALT_LEN};
	unsigned char salt64[AUTH_SALT_LEN * 2], hash64[AUTH_HASH_LEN * 2];
	uint8_t hash[AUTH_HASH_LEN];

	if (outlen < 160)
		return -ENOSPC;
	if (RAND_bytes(pw.salt, AUTH_SALT_LEN) != 1 || hash_pw(&pw, password, len, hash) < 0)
		return -EIO;
	EVP_EncodeBlock(salt64, pw.salt, AUTH_SALT_LEN);
	EVP_EncodeBlock(hash64, hash, AUTH_HASH_LEN);
	OPENSSL_cleanse(hash, sizeof(hash));
	if (iterations > 0)
		snprintf(out, outlen, "$7$%u$%s$%s", iterations, (char *)salt64, (char *)hash64);
	else
		snprintf(out, outlen, "$6$%s$%s", (char *)salt64, (char *)hash64);
	return 0;
}
