/* broker/auth/auth_int.h - private to auth.c (password file, load, free) and auth_acl.c (ACL file):
 * the layout of struct auth and the loaders of its two halves. Nothing else includes it. */
#ifndef AUTH_INT_H
#define AUTH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "broker/auth/auth.h"
#include "broker/auth/scram.h"

#define AUTH_HASH_LEN 64 /* SHA512 */
#define AUTH_SALT_MAX 64

enum auth_int_kind { AUTH_INT_SHA512, AUTH_INT_PBKDF2 };

/* One line of the password file. */
struct auth_int_pw {
	char *user;    /* owned */
	unsigned line; /* in the file, for messages */
	enum auth_int_kind kind;
	uint32_t iterations; /* PBKDF2 only */
	uint32_t salt_len;
	uint8_t salt[AUTH_SALT_MAX];
	uint8_t hash[AUTH_HASH_LEN];
};

/* Rule access bits are AUTH_READ | AUTH_WRITE; AUTH_INT_DENY (no bit) is a deny rule. */
#define AUTH_INT_DENY 0

/* One topic or pattern line of the ACL file. */
struct auth_int_rule {
	char *filter; /* owned; a pattern keeps its %c / %u */
	uint32_t len;
	uint8_t access;
	uint8_t n_c, n_u; /* occurrences of %c and %u (patterns; saturates at 255) */
};

struct auth_int_rules {
	struct auth_int_rule *v; /* owned array */
	size_t n, cap;
};

/* The topic rules after one "user NAME" line (all of them, when NAME recurs). */
struct auth_int_user {
	char *name;    /* owned */
	unsigned line; /* of the first "user NAME" line */
	struct auth_int_rules rules;
};

/* One line of the scram_file (auth_scram.c). */
struct auth_int_scram {
	char *user;    /* owned */
	unsigned line; /* in the file, for messages */
	enum scram_mech mech;
	struct scram_cred cred;
};

struct auth {
	bool has_pw, has_acl;
	struct auth_int_pw *pw; /* sorted by user, unique */
	size_t n_pw;
	bool has_scram;               /* a scram_file was loaded (possibly empty) */
	bool scram_from_pw;           /* SCRAM-SHA-512 from "$7$" lines */
	struct auth_int_scram *scram; /* sorted by user, then mechanism; unique */
	size_t n_scram;
	uint8_t scram_secret[32];       /* keys the made-up salts of unknown users */
	struct auth_int_rules anon;     /* topic lines before any user line */
	struct auth_int_rules patterns; /* every pattern line */
	struct auth_int_user *users;    /* sorted by name, unique */
	size_t n_users;
};

/* A text file read line by line (both files). */
struct auth_int_file {
	const char *path; /* borrowed */
	FILE *f;
	char *buf; /* getline()'s, owned */
	size_t cap;
	unsigned line;   /* number of the line last returned */
	bool unreadable; /* that line held a NUL byte: returned empty, its meaning unknown */
};

/* Opens path. Returns 0, or -1 with *err = "path: strerror". */
int auth_int_open(struct auth_int_file *lf, const char *path, char **err);
/* Returns the next line without its end of line and trailing blanks (in lf's buffer, valid
 * until the next call), or NULL at the end of the file; NULL with *err set on a read error
 * ("path:line: ..."). A line holding a NUL byte is skipped with a warning (returned empty). */
char *auth_int_next(struct auth_int_file *lf, char **err);
void auth_int_close(struct auth_int_file *lf);

/* Parses the ACL file at path into a (zeroed ACL half). Returns 0, or -1 with *err set as
 * auth_load() says; a then holds what was parsed so far (auth_free() it). */
int auth_int_acl_load(struct auth *a, const char *path, char **err);

/* Frees the ACL half of a. */
void auth_int_acl_free(struct auth *a);

/* Frees the SCRAM half of a (auth_scram.c). */
void auth_int_scram_free(struct auth *a);

/* Logs a warning "path:line: <fmt>, line skipped" for a line of lf that cannot be used, as
 * mosquitto does: the rest of the file still serves. Returns 0. Callers make sure that what
 * they skip can only deny, never grant. */
int auth_int_skip(const struct auth_int_file *lf, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Sets *err to a new string made from fmt (NULL if even that cannot be allocated). Returns
 * -1. */
int auth_int_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
