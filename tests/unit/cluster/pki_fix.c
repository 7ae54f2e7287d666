/* tests/unit/cluster/pki_fix.c - a throwaway PKI for the cluster's TLS tests, made with the
 * openssl command: a cluster CA, two node certificates signed by it, and a rogue one of another
 * CA. */
#include "pki_fix.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static char pki_dir[256];

/* dir/name in one of a few rotating buffers, enough for one call's arguments. */
const char *
pki(const char *name)
{
	static char bufs[4][512];
	static unsigned next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", pki_dir, name);
	return b;
}

static void
sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

static void
make_ca(const char *name, const char *cn)
{
	sh("cd %s && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s.key &&"
	   " openssl req -x509 -new -key %s.key -out %s.pem -days 2 -subj '/O=Starling tests/CN=%s'"
	   " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
	   pki_dir, name, name, name, cn);
}

/* A node certificate: both TLS client and server use (ctls.h). */
static void
make_node(const char *name, const char *ca, int serial)
{
	sh("cd %s && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s.key &&"
	   " openssl req -new -key %s.key -out %s.csr -subj '/O=Starling tests/CN=%s' &&"
	   " openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -set_serial %d -days 2"
	   " -extfile node.ext -out %s.pem 2>/dev/null",
	   pki_dir, name, name, name, name, name, ca, ca, serial, name);
}

void
pki_setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(pki_dir, sizeof(pki_dir), "%s/ctls-XXXXXX", tmp != NULL ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(pki_dir));
	sh("printf 'basicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth,clientAuth\\n' > %s",
	   pki("node.ext"));
	make_ca("ca", "Cluster CA");
	make_ca("otherca", "Other CA");
	make_node("node1", "ca", 1);
	make_node("node2", "ca", 2);
	make_node("rogue", "otherca", 3);
}

void
pki_teardown(void)
{
	sh("rm -rf '%s'", pki_dir);
}
