/* Tests for broker/auth_scram.c: "$7$" lines as SCRAM-SHA-512 (the stored hash is
 * SaltedPassword, also for mosquitto_passwd's files), the scram_file and starling_passwd -H
 * scram-*, made-up credentials for unknown users, bad files. The scratch directory and tool
 * runner are in auth_fix.c. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_fix.h"
#include "broker/auth/auth.h"
#include "proto/base/sl_alloc.h"

/* Loads pw and scram (either may be NULL); fails the test on an error. */
static struct auth *
load_ok(const char *pw, const char *scram, bool from_pw)
{
	char *err = NULL;
	struct auth *a = auth_load(pw, NULL, &err);

	ck_assert_msg(a != NULL, "load failed: %s", err ? err : "?");
	ck_assert_msg(auth_load_scram(a, scram, from_pw, &err) == 0, "scram: %s", err);
	ck_assert_ptr_null(err);
	return a;
}

/* Whether cred is what password gives with cred's own salt and iterations. */
static bool
cred_is(enum scram_mech m, const struct scram_cred *cred, const char *password)
{
	uint8_t salted[SCRAM_MAX_HASH];
	struct scram_cred want = *cred;
	size_t hl = scram_hash_len(m);

	ck_assert_int_eq(scram_salted_password(m, password, strlen(password), cred->salt,
	                                       cred->salt_len, cred->iterations, salted),
	                 0);
	ck_assert_int_eq(scram_keys(m, salted, &want), 0);
	return memcmp(want.stored_key, cred->stored_key, hl) == 0 &&
	       memcmp(want.server_key, cred->server_key, hl) == 0;
}

START_TEST(test_dollar7_is_salted_password) /* auth_hash_make's "$7$": SHA-512 only */
{
	char h7[256], h6[256], text[700];
	struct scram_cred c, c2;
	struct auth *a;

	auth_fix_mkdir("scram");
	ck_assert_int_eq(auth_hash_make("pencil", 6, AUTH_PBKDF2_ITERATIONS, h7, sizeof(h7)), 0);
	ck_assert_int_eq(auth_hash_make("pw6", 3, 0, h6, sizeof(h6)), 0);
	snprintf(text, sizeof(text), "alice:%s\nbob:%s\n", h7, h6);
	a = load_ok(auth_fix_write("pw", text), NULL, true);
	ck_assert(auth_scram_offered(a, SCRAM_SHA_512));
	ck_assert(!auth_scram_offered(a, SCRAM_SHA_256));
	ck_assert_int_eq(auth_scram_cred(a, "alice", SCRAM_SHA_512, &c), 0);
	ck_assert_uint_eq(c.iterations, AUTH_PBKDF2_ITERATIONS);
	ck_assert_uint_eq(c.salt_len, AUTH_SALT_LEN);
	ck_assert(cred_is(SCRAM_SHA_512, &c, "pencil"));
	ck_assert(!cred_is(SCRAM_SHA_512, &c, "pencil "));
	ck_assert_int_eq(auth_scram_cred(a, "alice", SCRAM_SHA_256, &c), -ENOENT);
	/* "$6$" and unknown users: made up, the same salt on every try. */
	ck_assert_int_eq(auth_scram_cred(a, "bob", SCRAM_SHA_512, &c), -ENOENT);
	ck_assert_int_eq(auth_scram_cred(a, "nobody", SCRAM_SHA_512, &c), -ENOENT);
	ck_assert_int_eq(auth_scram_cred(a, "nobody", SCRAM_SHA_512, &c2), -ENOENT);
	ck_assert_uint_eq(c.iterations, AUTH_PBKDF2_ITERATIONS);
	ck_assert_uint_eq(c.salt_len, AUTH_SALT_LEN);
	ck_assert(memcmp(c.salt, c2.salt, c.salt_len) == 0);
	ck_assert_int_eq(auth_scram_cred(a, "nobody2", SCRAM_SHA_512, &c2), -ENOENT);
	ck_assert(memcmp(c.salt, c2.salt, c.salt_len) != 0);
	auth_free(a);
	a = load_ok(auth_fix_path("pw"), NULL, false); /* off by default */
	ck_assert(!auth_scram_offered(a, SCRAM_SHA_512));
	ck_assert_int_eq(auth_scram_cred(a, "alice", SCRAM_SHA_512, &c), -ENOENT);
	auth_free(a);
	auth_fix_rmdir();
}
END_TEST

START_TEST(test_mosquitto_passwd_dollar7) /* mosquitto_passwd's own "$7$" serves SHA-512 */
{
	char *mk[] = {MOSQUITTO_PASSWD, "-c", "-b", NULL, "alice", "a pw:x", NULL};
	struct scram_cred c;
	struct auth *a;

	if (!auth_fix_have_mosquitto_passwd("test_mosquitto_passwd_dollar7"))
		return;
	auth_fix_mkdir("scram");
	mk[3] = (char *)auth_fix_path("pw");
	ck_assert_int_eq(auth_fix_run(mk), 0);
	a = load_ok(auth_fix_path("pw"), NULL, true);
	ck_assert_int_eq(auth_scram_cred(a, "alice", SCRAM_SHA_512, &c), 0);
	ck_assert(cred_is(SCRAM_SHA_512, &c, "a pw:x"));
	auth_free(a);
	auth_fix_rmdir();
}
END_TEST

START_TEST(test_scram_file) /* lines for both mechanisms; a line wins over "$7$"; users */
{
	char h7[256], s256[256], s512[256], s512b[256], text[1400];
	struct scram_cred c;
	struct auth *a;

	auth_fix_mkdir("scram");
	ck_assert_int_eq(auth_hash_make("old", 3, AUTH_PBKDF2_ITERATIONS, h7, sizeof(h7)), 0);
	ck_assert_int_eq(auth_scram_make(SCRAM_SHA_256, "pw", 2, 4096, s256, sizeof(s256)), 0);
	ck_assert_int_eq(auth_scram_make(SCRAM_SHA_512, "new", 3, 5000, s512, sizeof(s512)), 0);
	ck_assert_int_eq(auth_scram_make(SCRAM_SHA_512, "x", 1, 4096, s512b, sizeof(s512b)), 0);
	ck_assert_int_eq(auth_scram_make(SCRAM_SHA_256, "pw", 2, 4096, text, 100), -ENOSPC);
	ck_assert_int_eq(strncmp(s256, "SCRAM-SHA-256:4096:", 19), 0);
	snprintf(text, sizeof(text), "alice:%s\ncarol:%s\n", h7, h7);
	auth_fix_write("pw", text);
	snprintf(text, sizeof(text), "# comment\n\nalice:%s\n  alice:%s  \ngone:%s\n", s256, s512,
	         s512b);
	a = load_ok(auth_fix_path("pw"), auth_fix_write("scram", text), true);
	ck_assert(auth_scram_offered(a, SCRAM_SHA_256));
	ck_assert_int_eq(auth_scram_cred(a, "alice", SCRAM_SHA_256, &c), 0);
	ck_assert_uint_eq(c.salt_len, SCRAM_SALT_LEN);
	ck_assert(cred_is(SCRAM_SHA_256, &c, "pw"));
	ck_assert_int_eq(auth_scram_cred(a, "alice", SCRAM_SHA_512, &c), 0);
	ck_assert_uint_eq(c.iterations, 5000);
	ck_assert(cred_is(SCRAM_SHA_512, &c, "new")); /* the line, not the "$7$" hash */
	ck_assert_int_eq(auth_scram_cred(a, "carol", SCRAM_SHA_512, &c), 0); /* "$7$" */
	ck_assert(cred_is(SCRAM_SHA_512, &c, "old"));
	ck_assert_int_eq(auth_scram_cred(a, "carol", SCRAM_SHA_256, &c), -ENOENT);
	ck_assert_uint_eq(c.iterations, SCRAM_ITERATIONS);
	ck_assert_uint_eq(c.salt_len, SCRAM_SALT_LEN);
	/* Not in the password file: the line does not count. */
	ck_assert_int_eq(auth_scram_cred(a, "gone", SCRAM_SHA_512, &c), -ENOENT);
	auth_free(a);
	a = load_ok(auth_fix_path("pw"), auth_fix_path("scram"), false);
	ck_assert(auth_scram_offered(a, SCRAM_SHA_512)); /* the file has SHA-512 lines */
	ck_assert_int_eq(auth_scram_cred(a, "carol", SCRAM_SHA_512, &c), -ENOENT);
	auth_free(a);
	auth_fix_rmdir();
}
END_TEST

struct bad_case {
	const char *name, *scram, *err; /* err: the message after "<dir>/scram:" */
};

#define K32 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
static const struct bad_case bad_cases[] = {
        {"fields", "alice:SCRAM-SHA-256:4096:AAAA:" K32 "\n",
         "1: expected user:MECHANISM:ITERATIONS:SALT:STOREDKEY:SERVERKEY (starling_passwd -H "
         "scram-sha-256)"},
        {"no user", ":SCRAM-SHA-256:4096:AAAA:" K32 ":" K32 "\n",
         "1: expected user:MECHANISM:ITERATIONS:SALT:STOREDKEY:SERVERKEY (starling_passwd -H "
         "scram-sha-256)"},
        {"mechanism", "alice:SCRAM-SHA-1:4096:AAAA:" K32 ":" K32 "\n",
         "1: bad SCRAM entry for user 'alice'"},
        {"iterations", "alice:SCRAM-SHA-256:0:AAAA:" K32 ":" K32 "\n",
         "1: bad SCRAM entry for user 'alice'"},
        {"iterations sign", "alice:SCRAM-SHA-256:-1:AAAA:" K32 ":" K32 "\n",
         "1: bad SCRAM entry for user 'alice'"},
        {"salt", "alice:SCRAM-SHA-256:4096:AA:" K32 ":" K32 "\n",
         "1: bad SCRAM entry for user 'alice'"},
        {"key length", "#\nalice:SCRAM-SHA-512:4096:AAAA:" K32 ":" K32 "\n",
         "2: bad SCRAM entry for user 'alice'"},
        {"duplicate",
         "alice:SCRAM-SHA-256:4096:AAAA:" K32 ":" K32 "\n\n"
         "alice:SCRAM-SHA-256:9:AAAA:" K32 ":" K32 "\n",
         "3: user 'alice' has SCRAM-SHA-256 on line 1 already"},
};

START_TEST(test_bad_scram_files) /* table: file:line and why */
{
	const struct bad_case *bc = &bad_cases[_i];
	char want[700], h7[256], text[400];
	char *err = NULL;
	struct auth *a;

	auth_fix_mkdir("scram");
	ck_assert_int_eq(auth_hash_make("x", 1, 1, h7, sizeof(h7)), 0);
	snprintf(text, sizeof(text), "alice:%s\n", h7);
	a = auth_load(auth_fix_write("pw", text), NULL, &err);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(auth_load_scram(a, auth_fix_write("scram", bc->scram), false, &err), -1);
	snprintf(want, sizeof(want), "%s:%s", auth_fix_path("scram"), bc->err);
	ck_assert_msg(err != NULL && strcmp(err, want) == 0, "%s: got '%s'\nwant '%s'", bc->name,
	              err ? err : "(null)", want);
	sl_free(err);
	auth_free(a);
	auth_fix_rmdir();
}
END_TEST

START_TEST(test_needs_password_file) /* and a missing scram_file */
{
	char *err = NULL;
	struct auth *a = auth_load(NULL, NULL, &err);

	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(auth_load_scram(a, NULL, false, &err), 0);
	ck_assert(!auth_scram_offered(a, SCRAM_SHA_512));
	ck_assert_int_eq(auth_load_scram(a, NULL, true, &err), -1);
	ck_assert_str_eq(err, "scram_from_password_file needs a password_file: it holds the users");
	sl_free(err);
	ck_assert_int_eq(auth_load_scram(a, "/x", false, &err), -1);
	ck_assert_str_eq(err, "scram_file needs a password_file: it holds the users");
	sl_free(err);
	auth_free(a);
	auth_fix_mkdir("scram");
	a = auth_load(auth_fix_write("pw", ""), NULL, &err);
	ck_assert_int_eq(auth_load_scram(a, auth_fix_path("nosuch"), false, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "nosuch: No such file or directory"));
	sl_free(err);
	auth_free(a);
	ck_assert(!auth_scram_offered(NULL, SCRAM_SHA_512));
	auth_fix_rmdir();
}
END_TEST

START_TEST(test_starling_passwd_scram) /* -H scram-sha-256/512: one line per user and mech */
{
#ifdef SL_STARLING_PASSWD
	char *mk[] = {SL_STARLING_PASSWD, "-b", NULL, "alice", "apw", NULL};
	char *s256[] = {
	        SL_STARLING_PASSWD, "-H", "scram-sha-256", "-c", "-b", NULL, "alice", "apw", NULL};
	char *s512[] = {
	        SL_STARLING_PASSWD, "-H", "scram-sha-512", "-b", NULL, "alice", "apw2", NULL};
	char *again[] = {
	        SL_STARLING_PASSWD, "-H", "scram-sha-256", "-b", NULL, "alice", "apw3", NULL};
	char *del[] = {SL_STARLING_PASSWD, "-H", "scram-sha-512", "-D", NULL, "alice", NULL};
	char *bad[] = {SL_STARLING_PASSWD, "-H", "scram-sha-1", "-b", NULL, "alice", "x", NULL};
	struct scram_cred c;
	struct auth *a;

	auth_fix_mkdir("scram");
	auth_fix_write("pw", "");
	mk[2] = (char *)auth_fix_path("pw");
	s256[5] = s512[4] = again[4] = del[4] = bad[4] = (char *)auth_fix_path("scram");
	ck_assert_int_eq(auth_fix_run(mk), 0);
	ck_assert_int_eq(auth_fix_run(s256), 0);
	ck_assert_int_eq(auth_fix_run(s512), 0);
	ck_assert_int_ne(auth_fix_run(bad), 0);
	a = load_ok(auth_fix_path("pw"), auth_fix_path("scram"), false);
	ck_assert_int_eq(auth_scram_cred(a, "alice", SCRAM_SHA_256, &c), 0);
	ck_assert_uint_eq(c.iterations, SCRAM_ITERATIONS);
	ck_assert(cred_is(SCRAM_SHA_256, &c, "apw"));
	ck_assert_int_eq(auth_scram_cred(a, "alice", SCRAM_SHA_512, &c), 0);
	ck_assert(cred_is(SCRAM_SHA_512, &c, "apw2"));
	auth_free(a);
	ck_assert_int_eq(auth_fix_run(again), 0); /* replaces the SHA-256 line only */
	ck_assert_int_eq(auth_fix_run(del), 0);   /* removes the SHA-512 line only */
	a = load_ok(auth_fix_path("pw"), auth_fix_path("scram"), false);
	ck_assert_int_eq(auth_scram_cred(a, "alice", SCRAM_SHA_256, &c), 0);
	ck_assert(cred_is(SCRAM_SHA_256, &c, "apw3"));
	ck_assert_int_eq(auth_scram_cred(a, "alice", SCRAM_SHA_512, &c), -ENOENT);
	auth_free(a);
	auth_fix_rmdir();
#endif
}
END_TEST

Suite *
auth_scram_suite(void)
{
	Suite *s = suite_create("auth_scram");
	TCase *tc = tcase_create("auth_scram");

	tcase_add_test(tc, test_dollar7_is_salted_password);
	tcase_add_test(tc, test_mosquitto_passwd_dollar7);
	tcase_add_test(tc, test_scram_file);
	tcase_add_loop_test(tc, test_bad_scram_files, 0, N(bad_cases));
	tcase_add_test(tc, test_needs_password_file);
	tcase_add_test(tc, test_starling_passwd_scram);
	suite_add_tcase(s, tc);
	return s;
}
