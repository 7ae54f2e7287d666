/* tests/unit/broker/auth_fix.c - the fixture of auth_fix.h. */
#include "auth_fix.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

void
auth_fix_mkdir(const char *tag)
{
	snprintf(dir, sizeof(dir), "/tmp/sl-%s-XXXXXX", tag);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

void
auth_fix_rmdir(void)
{
	char path[600];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_name[0] != '.')
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

const char *
auth_fix_path(const char *name)
{
	static char buf[4][600];
	static int slot;

	slot = (slot + 1) % 4;
	snprintf(buf[slot], sizeof(buf[slot]), "%s/%s", dir, name);
	return buf[slot];
}

const char *
auth_fix_write(const char *name, const char *text)
{
	const char *p = auth_fix_path(name);
	FILE *f = fopen(p, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	fclose(f);
	return p;
}

bool
auth_fix_have_mosquitto_passwd(const char *test)
{
	if (access(MOSQUITTO_PASSWD, X_OK) == 0)
		return true;
	fprintf(stderr, "%s: %s not installed, skipped\n", test, MOSQUITTO_PASSWD);
	return false;
}

int
auth_fix_run(char *const argv[])
{
	int st;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 1);
		dup2(devnull, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
