/* broker/auth/auth_scram.c - SCRAM credentials of the password file's users: the scram_file, "$7$"
 * lines as SCRAM-SHA-512, and made-up ones for unknown users (semantics in auth.h). */
#include "broker/auth/auth.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "broker/auth/auth_int.h"
#include "broker/auth/b64.h"
#include "proto/base/sl_alloc.h"

static int
cmp_scram(const void *x, const void *y)
{
	const struct auth_int_scram *p = x, *q = y;
	int c = strcmp(p->user, q->user);

	return c != 0 ? c : (int)p->mech - (int)q->mech;
}

/* Then by line: a repeated entry sorts after the line it repeats. */
static int
cmp_scram_line(const void *x, const void *y)
{
	const struct auth_int_scram *p = x, *q = y;
	int c = cmp_scram(x, y);

	return c != 0 ? c : (p->line > q->line) - (p->line < q->line);
}

static int
cmp_pw(const void *x, const void *y)
{
	return strcmp(((const struct auth_int_pw *)x)->user, ((const struct auth_int_pw *)y)->user);
}

void
auth_int_scram_free(struct auth *a)
{
	size_t i;

	for (i = 0; i < a->n_scram; i++) {
		OPENSSL_cleanse(&a->scram[i].cred, sizeof(a->scram[i].cred));
		sl_free(a->scram[i].user);
	}
	sl_free(a->scram);
	a->scram = NULL;
	a->n_scram = 0;
}

/* Splits line at ':' into exactly n fields. */
static bool
split(char *line, char **f, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		f[i] = line;
		line = strchr(line, ':');
		if ((line == NULL) != (i == n - 1))
			return false;
		if (line != NULL)
			*line++ = '\0';
	}
	return true;
}

/* Parses "MECH:ITER:SALT:STOREDKEY:SERVERKEY" (f[1..5]) into e. Returns 0 or -1. */
static int
parse_cred(char **f, struct auth_int_scram *e)
{
	struct scram_cred *c = &e->cred;
	unsigned long iter;
	char *end;
	int m = scram_mech_parse(sl_bytes_make(f[1], (uint32_t)strlen(f[1]))), n, hl;

	if (m < 0)
		return -1;
	e->mech = (enum scram_mech)m;
	hl = (int)scram_hash_len(e->mech);
	errno = 0;
	iter = strtoul(f[2], &end, 10);
	if (end == f[2] || *end != '\0' || f[2][0] == '-' || errno != 0 || iter < 1 ||
	    iter > INT_MAX)
		return -1;
	c->iterations = (uint32_t)iter;
	n = b64_decode(f[3], strlen(f[3]), B64_PAD_REQUIRED, c->salt, sizeof(c->salt));
	if (n < 1)
		return -1;
	c->salt_len = (uint32_t)n;
	if (b64_decode(f[4], strlen(f[4]), B64_PAD_REQUIRED, c->stored_key,
	               sizeof(c->stored_key)) != hl ||
	    b64_decode(f[5], strlen(f[5]), B64_PAD_REQUIRED, c->server_key,
	               sizeof(c->server_key)) != hl)
		return -1;
	return 0;
}

/* One "user:MECH:ITER:SALT:STOREDKEY:SERVERKEY" line into a fresh entry at the end. */
static int
scram_line(struct auth *a, struct auth_int_file *lf, char *line, size_t *cap, char **err)
{
	struct auth_int_scram *e;
	char *f[6];

	if (!split(line, f, 6) || f[0][0] == '\0')
		return auth_int_err(err,
		                    "%s:%u: expected user:MECHANISM:ITERATIONS:SALT:STOREDKEY:"
		                    "SERVERKEY (starling_passwd -H scram-sha-256)",
		                    lf->path, lf->line);
	if (a->n_scram == *cap) {
		e = sl_realloc(a->scram, (*cap * 2 + 16) * sizeof(*e));
		if (e == NULL)
			return auth_int_err(err, "out of memory");
		a->scram = e;
		*cap = *cap * 2 + 16;
	}
	e = &a->scram[a->n_scram];
	memset(e, 0, sizeof(*e));
	if (parse_cred(f, e) < 0)
		return auth_int_err(err, "%s:%u: bad SCRAM entry for user '%s'", lf->path, lf->line,
		                    f[0]);
	if ((e->user = sl_strdup(f[0])) == NULL)
		return auth_int_err(err, "out of memory");
	e->line = lf->line;
	a->n_scram++;
	return 0;
}

static int
scram_file_load(struct auth *a, const char *path, char **err)
{
	struct auth_int_file lf;
	size_t cap = 0, i;
	char *line;
	int rc = 0;

	a->has_scram = true;
	if (auth_int_open(&lf, path, err) < 0)
		return -1;
	while (rc == 0 && (line = auth_int_next(&lf, err)) != NULL) {
		line += strspn(line, " \t");
		if (line[0] != '\0' && line[0] != '#')
			rc = scram_line(a, &lf, line, &cap, err);
	}
	auth_int_close(&lf);
	if (rc < 0 || *err != NULL)
		return -1;
	if (a->n_scram > 1)
		qsort(a->scram, a->n_scram, sizeof(*a->scram), cmp_scram_line);
	for (i = 1; i < a->n_scram; i++)
		if (cmp_scram(&a->scram[i - 1], &a->scram[i]) == 0)
			return auth_int_err(err, "%s:%u: user '%s' has %s on line %u already", path,
			                    a->scram[i].line, a->scram[i].user,
			                    scram_mech_name(a->scram[i].mech),
			                    a->scram[i - 1].line);
	return 0;
}

int
auth_load_scram(struct auth *a, const char *scram_path, bool from_password_file, char **err)
{
	*err = NULL;
	if (scram_path == NULL && !from_password_file)
		return 0;
	if (!a->has_pw)
		return auth_int_err(err, "%s needs a password_file: it holds the users",
		                    scram_path != NULL ? "scram_file" : "scram_from_password_file");
	if (RAND_bytes(a->scram_secret, sizeof(a->scram_secret)) != 1)
		return auth_int_err(err, "no randomness for SCRAM");
	a->scram_from_pw = from_password_file;
	return scram_path != NULL ? scram_file_load(a, scram_path, err) : 0;
}

bool
auth_scram_offered(const struct auth *a, enum scram_mech m)
{
	return a != NULL && (a->has_scram || (m == SCRAM_SHA_512 && a->scram_from_pw));
}

/* Credentials nobody can prove: a salt that depends only on the user (an attacker asking twice
 * sees the same one, as for a real user) and zero keys (no ClientKey hashes to zero). */
static int
made_up(const struct auth *a, const char *username, enum scram_mech m, struct scram_cred *cred)
{
	static const uint8_t zero[32];
	const uint8_t *key = a != NULL ? a->scram_secret : zero;
	bool like7 = m == SCRAM_SHA_512 && a != NULL && a->scram_from_pw;
	uint8_t h[64];
	unsigned hl = 0;

	memset(cred, 0, sizeof(*cred));
	cred->salt_len = like7 ? AUTH_SALT_LEN : SCRAM_SALT_LEN;
	cred->iterations = like7 ? AUTH_PBKDF2_ITERATIONS : SCRAM_ITERATIONS;
	if (username == NULL || HMAC(EVP_sha512(), key, 32, (const uint8_t *)username,
	                             strlen(username), h, &hl) == NULL)
		memset(h, 0, sizeof(h));
	memcpy(cred->salt, h + (m == SCRAM_SHA_512 ? 32 : 0), cred->salt_len);
	return -ENOENT;
}

int
auth_scram_cred(const struct auth *a, const char *username, enum scram_mech m,
                struct scram_cred *cred)
{
	const struct auth_int_pw *pw = NULL, pkey = {.user = (char *)username};
	const struct auth_int_scram *sc = NULL, skey = {.user = (char *)username, .mech = m};

	if (!auth_scram_offered(a, m) || username == NULL)
		return made_up(a, username, m, cred);
	if (a->n_pw > 0)
		pw = bsearch(&pkey, a->pw, a->n_pw, sizeof(*a->pw), cmp_pw);
	if (pw != NULL && a->n_scram > 0)
		sc = bsearch(&skey, a->scram, a->n_scram, sizeof(*a->scram), cmp_scram);
	if (sc != NULL) {
		*cred = sc->cred;
		return 0;
	}
	if (pw == NULL || m != SCRAM_SHA_512 || !a->scram_from_pw || pw->kind != AUTH_INT_PBKDF2)
		return made_up(a, username, m, cred);
	/* "$7$": the hash is SaltedPassword for s=salt, i=iterations (auth.h). */
	memset(cred, 0, sizeof(*cred));
	cred->iterations = pw->iterations;
	cred->salt_len = pw->salt_len;
	memcpy(cred->salt, pw->salt, pw->salt_len);
	if (scram_keys(m, pw->hash, cred) < 0)
		return made_up(a, username, m, cred);
	return 0;
}

int
auth_scram_make(enum scram_mech m, const void *password, size_t len, uint32_t iterations, char *out,
                size_t outlen)
{
	unsigned char salt64[SCRAM_SALT_LEN * 2], sk64[SCRAM_MAX_HASH * 2],
	        svk64[SCRAM_MAX_HASH * 2];
	uint8_t salted[SCRAM_MAX_HASH];
	struct scram_cred c = {.iterations = iterations, .salt_len = SCRAM_SALT_LEN};
	int hl = (int)scram_hash_len(m), rc = 0;

	if (outlen < 256)
		return -ENOSPC;
	if (RAND_bytes(c.salt, SCRAM_SALT_LEN) != 1 ||
	    scram_salted_password(m, password, len, c.salt, SCRAM_SALT_LEN, iterations, salted) <
	            0 ||
	    scram_keys(m, salted, &c) < 0)
		rc = -EIO;
	if (rc == 0) {
		EVP_EncodeBlock(salt64, c.salt, SCRAM_SALT_LEN);
		EVP_EncodeBlock(sk64, c.stored_key, hl);
		EVP_EncodeBlock(svk64, c.server_key, hl);
		snprintf(out, outlen, "%s:%u:%s:%s:%s", scram_mech_name(m), iterations,
		         (char *)salt64, (char *)sk64, (char *)svk64);
	}
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(&c, sizeof(c));
	return rc;
}
