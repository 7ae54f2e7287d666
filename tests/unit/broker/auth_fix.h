/* tests/unit/broker/auth_fix.h - a fixture for the auth tests (test_auth.c, test_auth_scram.c):
 * a scratch directory for password, ACL and scram files, and running a tool such as
 * mosquitto_passwd. One directory at a time per test process (Check forks each test). */
#ifndef AUTH_FIX_H
#define AUTH_FIX_H

#include <stdbool.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MOSQUITTO_PASSWD "/usr/bin/mosquitto_passwd"

/* Makes the scratch directory, /tmp/sl-<tag>-XXXXXX; fails the test if it cannot. */
void auth_fix_mkdir(const char *tag);
/* Removes the scratch directory and the files in it. */
void auth_fix_rmdir(void);
/* The path of name in the scratch directory: a static buffer, valid for the next 3 calls. */
const char *auth_fix_path(const char *name);
/* Writes text to name in the scratch directory; returns its path (as auth_fix_path()). */
const char *auth_fix_write(const char *name, const char *text);
/* Whether MOSQUITTO_PASSWD can be run; if not, says on stderr that test is skipped. */
bool auth_fix_have_mosquitto_passwd(const char *test);
/* Runs argv (no shell), output discarded; returns its exit status, or -1 if it did not exit
 * (127: it could not run). */
int auth_fix_run(char *const argv[]);

#endif
