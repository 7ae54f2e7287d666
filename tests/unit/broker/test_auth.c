/* Tests for broker/auth.c and broker/auth_acl.c: password files made by Debian's
 * mosquitto_passwd and by starling_passwd, every ACL rule kind, SUBSCRIBE filters, bad files.
 * The scratch directory and tool runner are in auth_fix.c. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth_fix.h"
#include "broker/auth/auth.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

static struct auth *
load_ok(const char *pw, const char *acl)
{
	char *err = NULL;
	struct auth *a = auth_load(pw, acl, &err);

	ck_assert_msg(a != NULL, "load failed: %s", err ? err : "?");
	ck_assert_ptr_null(err);
	return a;
}

static int
pw_check(const struct auth *a, const char *user, const char *pw)
{
	return auth_password(a, user, pw, pw != NULL ? strlen(pw) : 0);
}

/* Users alice/apw, bob/bpw (sha512 when bob_sha512), and carol/cpw added later. */
static void
check_users(struct auth *a)
{
	ck_assert(auth_has_passwords(a));
	ck_assert_int_eq(pw_check(a, "alice", "apw"), 0);
	ck_assert_int_eq(pw_check(a, "bob", "bpw"), 0);
	ck_assert_int_eq(pw_check(a, "carol", "c p:w"), 0);
	ck_assert_int_eq(pw_check(a, "alice", "bpw"), -EACCES);
	ck_assert_int_eq(pw_check(a, "alice", "apw "), -EACCES);
	ck_assert_int_eq(pw_check(a, "alice", ""), -EACCES);
	ck_assert_int_eq(pw_check(a, "alice", NULL), -EACCES);
	ck_assert_int_eq(pw_check(a, "bob", "apw"), -EACCES);
	ck_assert_int_eq(pw_check(a, "dave", "apw"), -EACCES);
	ck_assert_int_eq(pw_check(a, "Alice", "apw"), -EACCES);
}

START_TEST(test_mosquitto_passwd_files) /* $7$ (default) and $6$ (-H sha512) entries */
{
	char *mk[] = {MOSQUITTO_PASSWD, "-c", "-b", NULL, "alice", "apw", NULL};
	char *add6[] = {MOSQUITTO_PASSWD, "-H", "sha512", "-b", NULL, "bob", "bpw", NULL};
	char *add7[] = {MOSQUITTO_PASSWD, "-b", NULL, "carol", "c p:w", NULL};
	struct auth *a;

	if (!auth_fix_have_mosquitto_passwd("test_mosquitto_passwd_files"))
		return;
	auth_fix_mkdir("auth");
	mk[3] = add6[4] = add7[2] = (char *)auth_fix_path("pw");
	ck_assert_int_eq(auth_fix_run(mk), 0);
	ck_assert_int_eq(auth_fix_run(add6), 0);
	ck_assert_int_eq(auth_fix_run(add7), 0);
	a = load_ok(auth_fix_path("pw"), NULL);
	check_users(a);
	ck_assert(!auth_has_acl(a));
	auth_free(a);
	auth_fix_rmdir();
}
END_TEST

START_TEST(test_starling_passwd_tool) /* the tool's files, -D, file mode 0600 */
{
#ifdef SL_STARLING_PASSWD
	char *mk[] = {SL_STARLING_PASSWD, "-c", "-b", NULL, "alice", "apw", NULL};
	char *add6[] = {SL_STARLING_PASSWD, "-H", "sha512", "-b", NULL, "bob", "bpw", NULL};
	char *add7[] = {SL_STARLING_PASSWD, "-b", NULL, "carol", "c p:w", NULL};
	char *del[] = {SL_STARLING_PASSWD, "-D", NULL, "bob", NULL};
	char *bad[] = {SL_STARLING_PASSWD, "-b", NULL, "a:b", "x", NULL};
	struct stat st;
	struct auth *a;

	auth_fix_mkdir("auth");
	mk[3] = add6[4] = add7[2] = del[2] = bad[2] = (char *)auth_fix_path("pw");
	ck_assert_int_eq(auth_fix_run(mk), 0);
	ck_assert_int_eq(auth_fix_run(add6), 0);
	ck_assert_int_eq(auth_fix_run(add7), 0);
	ck_assert_int_ne(auth_fix_run(bad), 0);
	ck_assert_int_eq(stat(auth_fix_path("pw"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	a = load_ok(auth_fix_path("pw"), NULL);
	check_users(a);
	auth_free(a);
	ck_assert_int_eq(auth_fix_run(del), 0);
	ck_assert_int_ne(auth_fix_run(del), 0); /* not there any more */
	a = load_ok(auth_fix_path("pw"), NULL);
	ck_assert_int_eq(pw_check(a, "bob", "bpw"), -EACCES);
	ck_assert_int_eq(pw_check(a, "alice", "apw"), 0);
	auth_free(a);
	auth_fix_rmdir();
#endif
}
END_TEST

START_TEST(test_hash_make_format) /* what starling_passwd writes: $7$101$<16>$<88> */
{
	char h[256], line[300];
	struct auth *a;

	ck_assert_int_eq(auth_hash_make("pw", 2, AUTH_PBKDF2_ITERATIONS, h, sizeof(h)), 0);
	ck_assert_int_eq(strncmp(h, "$7$101$", 7), 0);
	ck_assert_uint_eq(strlen(h), 7 + 16 + 1 + 88);
	ck_assert_int_eq(auth_hash_make("pw", 2, 0, h + 1, sizeof(h) - 1), 0);
	ck_assert_int_eq(strncmp(h + 1, "$6$", 3), 0);
	ck_assert_int_eq(auth_hash_make("pw", 2, 101, h, 100), -ENOSPC);
	auth_fix_mkdir("auth");
	ck_assert_int_eq(auth_hash_make("pw", 2, 7, h, sizeof(h)), 0);
	snprintf(line, sizeof(line), "# made here\n\n  u : %s  \n", h);
	a = load_ok(auth_fix_write("pw", line), NULL);
	ck_assert_int_eq(pw_check(a, "u", "pw"), 0);
	ck_assert_int_eq(pw_check(a, "u", "pW"), -EACCES);
	auth_free(a);
	auth_fix_rmdir();
}
END_TEST

/* A $6$ vector computed with Python's hashlib: sha512(b"hunter2" + salt). */
START_TEST(test_sha512_vector)
{
	struct auth *a;

	auth_fix_mkdir("auth");
	a = load_ok(auth_fix_write("pw",
	                           "bob:$6$R12q1Ye49zMH+lb8$g1/P2XE/s0Zfh0oej9JvtFEc2UaMc8g9w9Jvh"
	                           "Y/dlFyZiFhnitKpK1hVFZIoYAEKl/ilCB4layRMHTbDsYvFFA==\n"),
	            NULL);
	ck_assert_int_eq(pw_check(a, "bob", "hunter2"), 0);
	ck_assert_int_eq(pw_check(a, "bob", "hunter3"), -EACCES);
	auth_free(a);
	auth_fix_rmdir();
}
END_TEST

START_TEST(test_no_files) /* nothing configured: no users, everything allowed */
{
	struct auth *a = load_ok(NULL, NULL);

	ck_assert(!auth_has_passwords(a));
	ck_assert(!auth_has_acl(a));
	ck_assert_int_eq(pw_check(a, "alice", "apw"), -EACCES);
	ck_assert(auth_acl(a, "c", NULL, sl_bytes_make("a/b", 3), AUTH_WRITE));
	ck_assert(auth_acl(NULL, "c", "u", sl_bytes_make("#", 1), AUTH_SUBSCRIBE));
	auth_free(a);
	auth_free(NULL);
}
END_TEST

struct bad_case {
	const char *name;
	const char *text;
	const char *want; /* in the message, after "<path>" */
};

static const struct bad_case bad_pw[] = {
        {"no colon", "# ok\nalice\n", ":2: expected user:hash"},
        {"plain text", "alice:secret\n", ":1: plain-text password for user 'alice'"},
        {"unknown kind", "alice:$5$abc$def\n", ":1: bad password hash"},
        {"empty user", " :$6$abc$def\n", ":1: empty user name"},
        {"bad salt", "a:$7$101$!!!$820Dj3APb4SmUOHWHsYNu2u1/od/iVrcx\n", ":1: bad password hash"},
        {"short hash", "a:$7$101$VB/trRBCnjbjp3dd$820Dj3AP\n", ":1: bad password hash"},
        {"iterations 0", "a:$7$0$VB/trRBCnjbjp3dd$820Dj3AP\n", ":1: bad password hash"},
        {"iterations text", "a:$7$x$VB/trRBCnjbjp3dd$820Dj3AP\n", ":1: bad password hash"},
        {"no hash part", "a:$6$VB/trRBCnjbjp3dd\n", ":1: bad password hash"},
};

static void
expect_bad(const char *pw, const char *acl, const char *want_path, const char *want)
{
	char *err = NULL, full[700];
	struct auth *a = auth_load(pw, acl, &err);

	ck_assert_ptr_null(a);
	ck_assert_ptr_nonnull(err);
	snprintf(full, sizeof(full), "%s%s", want_path, want);
	ck_assert_msg(strstr(err, full) != NULL, "error '%s' lacks '%s'", err, full);
	sl_free(err);
}

/* Sends the log to a file of the scratch directory, to read back with expect_logged(). */
static void
log_capture(void)
{
	ck_assert_int_eq(sl_log_set_dest(auth_fix_path("log")), 0);
}

/* The captured log holds "<path><want>". */
static void
expect_logged(const char *path, const char *want)
{
	char buf[8192], full[700];
	FILE *f = fopen(auth_fix_path("log"), "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	snprintf(full, sizeof(full), "%s%s", path, want);
	ck_assert_msg(strstr(buf, full) != NULL, "log '%s' lacks '%s'", buf, full);
}

/* Issue 11: as mosquitto, a line that cannot be used is skipped with a warning naming file and
 * line; the other users still log in, the skipped line's user does not. */
START_TEST(test_bad_password_lines_skipped_issue_11)
{
	const struct bad_case *bc = &bad_pw[_i];
	char good[256], text[700], path[512];
	struct auth *a;

	auth_fix_mkdir("auth");
	ck_assert_int_eq(auth_hash_make("zpw", 3, 7, good, sizeof(good)), 0);
	snprintf(text, sizeof(text), "%szed:%s\n", bc->text, good);
	snprintf(path, sizeof(path), "%s", auth_fix_write("pw", text));
	log_capture();
	a = load_ok(path, NULL);
	expect_logged(path, bc->want);
	ck_assert_int_eq(pw_check(a, "zed", "zpw"), 0);
	ck_assert_int_eq(pw_check(a, "alice", "secret"), -EACCES);
	ck_assert_int_eq(pw_check(a, "alice", ""), -EACCES);
	ck_assert_int_eq(pw_check(a, "a", ""), -EACCES);
	auth_free(a);
	auth_fix_rmdir();
}
END_TEST

START_TEST(test_duplicate_user_and_missing_file)
{
	char first[256], second[256], text[1000], path[512];
	struct auth *a;

	auth_fix_mkdir("auth");
	ck_assert_int_eq(auth_hash_make("one", 3, 7, first, sizeof(first)), 0);
	ck_assert_int_eq(auth_hash_make("two", 3, 7, second, sizeof(second)), 0);
	snprintf(text, sizeof(text), "bob:%s\nalice:%s\n\nbob:%s\n", first, second, second);
	snprintf(path, sizeof(path), "%s", auth_fix_write("pw", text));
	log_capture();
	a = load_ok(path, NULL); /* Issue 11: skipped, not fatal; the first line counts */
	expect_logged(path, ":4: user 'bob' already on line 1, line skipped");
	ck_assert_int_eq(pw_check(a, "bob", "one"), 0);
	ck_assert_int_eq(pw_check(a, "bob", "two"), -EACCES);
	ck_assert_int_eq(pw_check(a, "alice", "two"), 0);
	auth_free(a);
	expect_bad(auth_fix_path("nope"), NULL, auth_fix_path("nope"),
	           ": No such file or directory");
	expect_bad(NULL, auth_fix_path("nope"), auth_fix_path("nope"),
	           ": No such file or directory");
	auth_fix_rmdir();
}
END_TEST

/* The ACL of most cases below. */
static const char acl_text[] = "# general: clients without a user name\n"
                               "topic read pub/#\n"
                               "topic anon/#\n"
                               "\n"
                               "  # an indented comment\n"
                               "user alice\n"
                               "topic readwrite a/#\n"
                               "topic deny a/secret/#\n"
                               "topic read r/#\n"
                               "topic write w/#\n"
                               "topic read $SYS/#\n"
                               "pattern deny a/alice/%u\n"
                               "user bob\n"
                               "topic   readwrite   b/with space  \n"
                               "topic readwrite alice-too/+\n"
                               "pattern readwrite p/%u/#\n"
                               "pattern read c/%c/#\n"
                               "pattern write mix%u-%c/x\n"
                               "pattern deny p/+/denied\n"
                               "user alice\n"
                               "topic read later/#\n";

struct acl_case {
	const char *name;
	const char *cid, *user, *topic;
	enum auth_access access;
	bool want;
};

#define R AUTH_READ
#define W AUTH_WRITE
#define S AUTH_SUBSCRIBE
static const struct acl_case acl_cases[] = {
        {"anon read", "c1", NULL, "pub/x", R, true},
        {"anon read-only", "c1", NULL, "pub/x", W, false},
        {"anon default readwrite", "c1", NULL, "anon/x/y", W, true},
        {"anon not in user rules", "c1", NULL, "a/x", R, false},
        {"general rules not for users", "c1", "alice", "pub/x", R, false},
        {"unknown user: patterns only", "c1", "zed", "pub/x", R, false},
        {"unknown user pattern", "c1", "zed", "p/zed/1", W, true},
        {"user readwrite", "c1", "alice", "a/x", W, true},
        {"user deny after grant", "c1", "alice", "a/secret/x", R, false},
        {"user deny write", "c1", "alice", "a/secret", W, false},
        {"user read", "c1", "alice", "r/1", R, true},
        {"user read not write", "c1", "alice", "r/1", W, false},
        {"user write", "c1", "alice", "w/1", W, true},
        {"user write not read", "c1", "alice", "w/1", R, false},
        {"other user's rules", "c1", "bob", "a/x", R, false},
        {"filter with spaces", "c1", "bob", "b/with space", W, true},
        {"repeated user section", "c1", "alice", "later/x", R, true},
        {"user grant beats pattern deny", "c1", "alice", "a/alice/alice", W, true},
        {"$SYS needs a rule", "c1", "bob", "$SYS/broker/uptime", R, false},
        {"$SYS rule", "c1", "alice", "$SYS/broker/uptime", R, true},
        {"$ topics need a $ rule", "c1", NULL, "$anon/x", R, false},
        {"pattern %u", "c1", "bob", "p/bob/x", W, true},
        {"pattern %u other user", "c1", "bob", "p/alice/x", W, false},
        {"pattern %u anonymous", "c1", NULL, "p//x", W, false},
        {"pattern %u literal for anonymous", "c1", NULL, "p/%u/x", W, false},
        {"pattern %c", "dev1", NULL, "c/dev1/t", R, true},
        {"pattern %c other id", "dev1", NULL, "c/dev2/t", R, false},
        {"pattern %c read only", "dev1", "bob", "c/dev1/t", W, false},
        {"pattern inside level", "k", "bob", "mixbob-k/x", W, true},
        {"pattern deny", "c1", "bob", "p/bob/denied", W, false},
        {"id with '/' widens %c", "a/b", NULL, "c/a/b/t", R, true},
        {"id with '+' gets no pattern", "a+b", NULL, "c/a+b/t", R, false},
        {"id with '#': no pattern at all", "x#", "bob", "p/bob/x", W, false},
        {"user rule with +", "c1", "bob", "alice-too/1", W, true},
        {"sub exact", "c1", "alice", "a/x", S, true},
        {"sub wider than grant", "c1", "alice", "#", S, true},
        {"sub + overlapping", "c1", "alice", "+/x", S, true},
        {"sub no overlap", "c1", "alice", "x/#", S, false},
        {"sub write-only", "c1", "alice", "w/#", S, false},
        {"sub covered by deny", "c1", "alice", "a/secret/+/y", S, false},
        {"sub deny covers parent", "c1", "alice", "a/secret", S, false},
        {"sub partly denied", "c1", "alice", "a/+/y", S, true},
        {"sub # anonymous", "c1", NULL, "#", S, true},
        {"sub overlaps a rule via +", "c1", "bob", "+/broker/#", S, true},
        {"sub $SYS without rule", "c1", "bob", "$SYS/#", S, false},
        {"sub $SYS with rule", "c1", "alice", "$SYS/broker/+", S, true},
        {"sub pattern %u", "c1", "bob", "p/bob/#", S, true},
        {"sub pattern other", "c1", "bob", "p/eve/#", S, false},
        {"sub pattern deny covers", "c1", "bob", "p/bob/denied", S, false},
        {"sub pattern %c", "d9", NULL, "c/d9/+", S, true},
        {"sub # matches parent", "c1", NULL, "pub", S, true},
        {"sub deeper than grant", "c1", "alice", "r/1/2/3", S, true},
        {"sub shallower", "c1", "alice", "w", S, false},
};

START_TEST(test_acl_rules)
{
	const struct acl_case *ac = &acl_cases[_i];
	struct auth *a;
	bool got;

	auth_fix_mkdir("auth");
	a = load_ok(NULL, auth_fix_write("acl", acl_text));
	ck_assert(auth_has_acl(a));
	got = auth_acl(a, ac->cid, ac->user, sl_bytes_make(ac->topic, (uint32_t)strlen(ac->topic)),
	               ac->access);
	ck_assert_msg(got == ac->want, "%s: got %d", ac->name, got);
	auth_free(a);
	auth_fix_rmdir();
}
END_TEST

START_TEST(test_acl_empty_denies_all)
{
	struct auth *a;

	auth_fix_mkdir("auth");
	a = load_ok(NULL, auth_fix_write("acl", "# nothing\n\n"));
	ck_assert(auth_has_acl(a));
	ck_assert(!auth_acl(a, "c", NULL, sl_bytes_make("a", 1), AUTH_READ));
	ck_assert(!auth_acl(a, "c", "u", sl_bytes_make("#", 1), AUTH_SUBSCRIBE));
	auth_free(a);
	auth_fix_rmdir();
}
END_TEST

START_TEST(test_acl_long_substitution) /* a pattern longer than the stack buffer */
{
	char id[700], topic[800];
	struct auth *a;

	memset(id, 'i', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	snprintf(topic, sizeof(topic), "t/%s/x", id);
	auth_fix_mkdir("auth");
	a = load_ok(NULL, auth_fix_write("acl", "pattern t/%c/x\n"));
	ck_assert(auth_acl(a, id, NULL, sl_bytes_make(topic, (uint32_t)strlen(topic)), AUTH_READ));
	topic[3] = 'j';
	ck_assert(!auth_acl(a, id, NULL, sl_bytes_make(topic, (uint32_t)strlen(topic)), AUTH_READ));
	auth_free(a);
	auth_fix_rmdir();
}
END_TEST

static const struct bad_case bad_acl[] = {
        {"unknown keyword", "topic a\nsubscribe b\n", ":2: unknown keyword 'subscribe'"},
        {"bad access", "user u\ntopic readonly a/b\n", ":2: access 'readonly' is not"},
        {"missing topic", "topic\n", ":1: missing topic, line skipped"},
        {"missing user", "user   \n", ":1: missing user name"},
        {"bad filter #", "topic read a/#/b\n", ":1: 'a/#/b' is not a valid topic filter"},
        {"bad filter +", "pattern read a+/b\n", ":1: 'a+/b' is not a valid topic filter"},
};

/* Issue 11: a bad ACL line is skipped with a warning (mosquitto serves everyone else). */
START_TEST(test_bad_acl_lines_skipped_issue_11)
{
	const struct bad_case bc = bad_acl[_i];
	char path[512];
	struct auth *a;

	auth_fix_mkdir("auth");
	snprintf(path, sizeof(path), "%s", auth_fix_write("acl", bc.text));
	log_capture();
	a = load_ok(NULL, path);
	expect_logged(path, bc.want);
	ck_assert(auth_has_acl(a));
	auth_free(a);
	auth_fix_rmdir();
}
END_TEST

static bool
acl_ok(const struct auth *a, const char *user, const char *topic, enum auth_access access)
{
	return auth_acl(a, "c1", user, sl_bytes_make(topic, (uint32_t)strlen(topic)), access);
}

/* Issue 11: skipping can only deny, never grant. A line of unknown keyword (a misspelt "topic
 * deny", "pattern deny" or "user") denies its filter everywhere and drops the rest of its
 * section; an unknown access word denies its filter; a user line without a name takes its
 * topic lines with it instead of leaving them to the section above. */
START_TEST(test_bad_acl_lines_never_grant_issue_11)
{
	static const char text[] = "topic readwrite pub/#\n"
	                           "topc deny pub/secret/#\n" /* misspelt deny */
	                           "topic readwrite after/#\n"
	                           "user alice\n"
	                           "topic readwrite a/#\n"
	                           "topic dney a/secret\n" /* misspelt access word */
	                           "usr bob\n"             /* misspelt user: bob's rules */
	                           "topic readwrite bob/#\n"
	                           "user\n"
	                           "topic readwrite nobody/#\n"
	                           "user carol\n"
	                           "topic readwrite c/#\n";
	struct auth *a;

	auth_fix_mkdir("auth");
	log_capture();
	a = load_ok(NULL, auth_fix_write("acl", text));
	ck_assert(acl_ok(a, NULL, "pub/x", AUTH_WRITE));
	ck_assert(!acl_ok(a, NULL, "pub/secret/x", AUTH_READ));
	ck_assert(!acl_ok(a, NULL, "after/x", AUTH_READ));
	ck_assert(acl_ok(a, "alice", "a/x", AUTH_WRITE));
	ck_assert(!acl_ok(a, "alice", "a/secret", AUTH_READ));
	ck_assert(!acl_ok(a, "alice", "bob/x", AUTH_READ));
	ck_assert(!acl_ok(a, "bob", "bob/x", AUTH_READ));
	ck_assert(!acl_ok(a, NULL, "nobody/x", AUTH_READ));
	ck_assert(!acl_ok(a, "carol", "nobody/x", AUTH_READ));
	ck_assert(acl_ok(a, "carol", "c/x", AUTH_WRITE));
	auth_free(a);
	auth_fix_rmdir();
}
END_TEST

/* Issue 11: a line with a NUL byte (maybe a user line) drops the rest of its section too. */
START_TEST(test_acl_nul_line_never_grants_issue_11)
{
	static const char text[] = "user alice\ntopic read a/#\nuser bob\0\ntopic readwrite "
	                           "bob/#\nuser carol\ntopic read c/#\n";
	char path[512];
	struct auth *a;
	FILE *f;

	auth_fix_mkdir("auth");
	snprintf(path, sizeof(path), "%s", auth_fix_path("acl"));
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(text, 1, sizeof(text) - 1, f), sizeof(text) - 1);
	fclose(f);
	log_capture();
	a = load_ok(NULL, path);
	expect_logged(path, ":3: NUL byte in line, line skipped");
	ck_assert(acl_ok(a, "alice", "a/x", AUTH_READ));
	ck_assert(!acl_ok(a, "alice", "bob/x", AUTH_READ));
	ck_assert(acl_ok(a, "carol", "c/x", AUTH_READ));
	auth_free(a);
	auth_fix_rmdir();
}
END_TEST

Suite *
auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_mosquitto_passwd_files);
	tcase_add_test(tc, test_starling_passwd_tool);
	tcase_add_test(tc, test_hash_make_format);
	tcase_add_test(tc, test_sha512_vector);
	tcase_add_test(tc, test_no_files);
	tcase_add_loop_test(tc, test_bad_password_lines_skipped_issue_11, 0, N(bad_pw));
	tcase_add_test(tc, test_duplicate_user_and_missing_file);
	tcase_add_loop_test(tc, test_acl_rules, 0, N(acl_cases));
	tcase_add_test(tc, test_acl_empty_denies_all);
	tcase_add_test(tc, test_acl_long_substitution);
	tcase_add_loop_test(tc, test_bad_acl_lines_skipped_issue_11, 0, N(bad_acl));
	tcase_add_test(tc, test_bad_acl_lines_never_grant_issue_11);
	tcase_add_test(tc, test_acl_nul_line_never_grants_issue_11);
	suite_add_tcase(s, tc);
	return s;
}
