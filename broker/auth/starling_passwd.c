/* broker/auth/starling_passwd.c - the starling_passwd tool: manages a password file for
 * password_file, with mosquitto_passwd(1)'s command line and file format, so either tool can
 * maintain files for either broker. Writes "$7$" (PBKDF2-SHA512, 101 iterations, 12 random salt
 * bytes) like mosquitto_passwd 2.0, or "$6$" with -H sha512. With -H scram-sha-256 (or
 * scram-sha-512) it manages a scram_file instead (broker/auth.h): one line per user and
 * mechanism, 4096 iterations, 16 random salt bytes. The file is replaced atomically
 * (a temporary file in the same directory, then rename()) with mode 0600; other lines, comments
 * included, are kept as they were. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "broker/auth/auth.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_buf.h"

struct opts {
	bool batch, create, delete;
	uint32_t iterations; /* 0: "$6$" */
	int scram;           /* -1: a password file; else the enum scram_mech of a scram_file */
	const char *file, *user, *password;
};

static void
usage(void)
{
	fprintf(stderr,
	        "starling_passwd is a tool for managing password files for starling (and "
	        "mosquitto).\n\n"
	        "Usage: starling_passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile "
	        "username\n"
	        "       starling_passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile "
	        "username password\n"
	        "       starling_passwd -H scram-sha-256 | -H scram-sha-512 [-c | -D] [-b] "
	        "scramfile username [password]\n"
	        " -b : run in batch mode to allow passing passwords on the command line.\n"
	        " -c : create a new password file. This will overwrite existing files.\n"
	        " -D : delete the username rather than adding/updating its password.\n"
	        " -H : specify the hashing algorithm. Defaults to sha512-pbkdf2, which is "
	        "recommended.\n"
	        "      sha512 is for Mosquitto 1.6 and earlier. scram-sha-256 and scram-sha-512\n"
	        "      write a Starling scram_file for MQTT 5 SCRAM authentication.\n");
}

/* -H name. Returns 0, or 1 after printing why it is not a hash type. */
static int
hash_kind(const char *name, struct opts *o)
{
	if (strcmp(name, "sha512") == 0) {
		o->iterations = 0;
	} else if (strcmp(name, "scram-sha-256") == 0 || strcmp(name, "scram-sha-512") == 0) {
		o->scram = name[10] == '5' ? SCRAM_SHA_512 : SCRAM_SHA_256;
		o->iterations = SCRAM_ITERATIONS;
	} else if (strcmp(name, "sha512-pbkdf2") != 0) {
		fprintf(stderr, "Error: Unknown hash type '%s'\n", name);
		return 1;
	}
	return 0;
}

/* Returns 0, or 1 after printing why the command line is wrong. */
static int
parse_args(int argc, char **argv, struct opts *o)
{
	int i, left;

	memset(o, 0, sizeof(*o));
	o->iterations = AUTH_PBKDF2_ITERATIONS;
	o->scram = -1;
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		if (strcmp(argv[i], "-b") == 0) {
			o->batch = true;
		} else if (strcmp(argv[i], "-c") == 0) {
			o->create = true;
		} else if (strcmp(argv[i], "-D") == 0) {
			o->delete = true;
		} else if (strcmp(argv[i], "-H") == 0 && i + 1 < argc) {
			if (hash_kind(argv[++i], o) != 0)
				return 1;
		} else if (strcmp(argv[i], "-U") == 0) {
			fprintf(stderr,
			        "Error: -U is not supported: add each user again with -b.\n");
			return 1;
		} else {
			usage();
			return 1;
		}
	}
	if (o->create && o->delete) {
		fprintf(stderr, "Error: -c and -D cannot be used together.\n");
		return 1;
	}
	left = argc - i;
	if (left != (o->batch && !o->delete ? 3 : 2)) {
		usage();
		return 1;
	}
	o->file = argv[i];
	o->user = argv[i + 1];
	o->password = left == 3 ? argv[i + 2] : NULL;
	if (strchr(o->user, ':') != NULL || o->user[0] == '\0') {
		fprintf(stderr,
		        "Error: Username must not be empty or contain the ':' character.\n");
		return 1;
	}
	return 0;
}

/* Prints prompt and reads one line from stdin, without echo on a terminal. Returns a new
 * string (sl_free()) or NULL at the end of input. */
static char *
read_password(const char *prompt)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	char *line = NULL, *out = NULL;
	size_t cap = 0;
	ssize_t n;

	fputs(prompt, stdout);
	fflush(stdout);
	if (tty) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	n = getline(&line, &cap, stdin);
	if (tty)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	putchar('\n');
	if (n >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		out = sl_strndup(line, (size_t)n);
	}
	if (line != NULL)
		memset(line, 0, cap);
	free(line); /* style: getline()'s buffer comes from malloc() */
	return out;
}

/* Appends "user:hash\n" for o's user and password to out. Returns 0 or 1 (printed why). */
static int
add_entry(const struct opts *o, struct sl_buf *out)
{
	char hash[256], *p1 = NULL, *p2 = NULL;
	const char *pw = o->password;
	int rc = 1;

	if (pw == NULL) {
		p1 = read_password("Password: ");
		p2 = p1 != NULL ? read_password("Reenter password: ") : NULL;
		if (p1 == NULL || p2 == NULL)
			fprintf(stderr, "Error: No password given.\n");
		else if (strcmp(p1, p2) != 0)
			fprintf(stderr, "Error: Passwords do not match.\n");
		else
			pw = p1;
	}
	if (pw != NULL &&
	    (o->scram < 0 ? auth_hash_make(pw, strlen(pw), o->iterations, hash, sizeof(hash))
	                  : auth_scram_make((enum scram_mech)o->scram, pw, strlen(pw),
	                                    o->iterations, hash, sizeof(hash))) < 0)
		fprintf(stderr, "Error: Unable to hash the password.\n");
	else if (pw != NULL &&
	         (sl_buf_append(out, o->user, strlen(o->user)) < 0 ||
	          sl_buf_append(out, ":", 1) < 0 || sl_buf_append(out, hash, strlen(hash)) < 0 ||
	          sl_buf_append(out, "\n", 1) < 0))
		fprintf(stderr, "Error: Out of memory.\n");
	else if (pw != NULL)
		rc = 0;
	if (p1 != NULL)
		memset(p1, 0, strlen(p1));
	if (p2 != NULL)
		memset(p2, 0, strlen(p2));
	sl_free(p1);
	sl_free(p2);
	return rc;
}

/* Whether line is o's user's entry: "user:" with blanks around the name allowed, as the broker
 * reads it; in a scram_file "user:MECHANISM:", one line per mechanism. */
static bool
is_user_line(const struct opts *o, const char *line)
{
	size_t n = strlen(o->user);
	const char *mech;

	line += strspn(line, " \t");
	if (line[0] == '#' || strncmp(line, o->user, n) != 0)
		return false;
	line += n;
	line += strspn(line, " \t");
	if (line[0] != ':')
		return false;
	if (o->scram < 0)
		return true;
	mech = scram_mech_name((enum scram_mech)o->scram);
	return strncmp(line + 1, mech, strlen(mech)) == 0 && line[1 + strlen(mech)] == ':';
}

/* Copies the lines of the existing file to out, replacing (or with -D dropping) the user's.
 * Returns 0 or 1 (printed why). */
static int
rewrite(const struct opts *o, struct sl_buf *out)
{
	FILE *f = fopen(o->file, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool found = false;
	int rc = 0;

	if (f == NULL) {
		fprintf(stderr, "Error: Unable to open password file %s. %s.\n", o->file,
		        strerror(errno));
		return 1;
	}
	while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
		if (is_user_line(o, line)) {
			if (!found && !o->delete)
				rc = add_entry(o, out);
			found = true;
			continue;
		}
		if (sl_buf_append(out, line, (size_t)n) < 0 ||
		    (n > 0 && line[n - 1] != '\n' && sl_buf_append(out, "\n", 1) < 0))
			rc = 1;
	}
	free(line); /* style: getline()'s buffer comes from malloc() */
	fclose(f);
	if (rc == 0 && !found && o->delete) {
		fprintf(stderr, "Warning: User %s not found in password file.\n", o->user);
		rc = 1;
	} else if (rc == 0 && !found) {
		rc = add_entry(o, out);
	}
	return rc;
}

/* Replaces o->file by data[len] atomically, mode 0600. Returns 0 or 1 (printed why). */
static int
write_atomic(const char *path, const uint8_t *data, size_t len)
{
	size_t n = strlen(path) + sizeof(".tmpXXXXXX");
	char *tmp = sl_malloc(n);
	int fd = -1, ok = 0;

	if (tmp != NULL) {
		snprintf(tmp, n, "%s.tmpXXXXXX", path);
		fd = mkstemp(tmp);
	}
	if (fd >= 0) {
		ok = fchmod(fd, 0600) == 0 && write(fd, data, len) == (ssize_t)len &&
		     fsync(fd) == 0;
		ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
		if (!ok)
			unlink(tmp);
	}
	if (!ok)
		fprintf(stderr, "Error: Unable to write password file %s. %s.\n", path,
		        strerror(errno));
	sl_free(tmp);
	return ok ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct sl_buf out = SL_BUF_INIT;
	struct opts o;
	int rc;

	if (parse_args(argc, argv, &o) != 0)
		return 1;
	rc = o.create ? add_entry(&o, &out) : rewrite(&o, &out);
	if (rc == 0)
		rc = write_atomic(o.file, out.data, out.len);
	if (out.data != NULL)
		memset(out.data, 0, out.len);
	sl_buf_fini(&out);
	return rc;
}
