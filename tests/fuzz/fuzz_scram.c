/* Fuzzes the SCRAM server (broker/scram.c). The input is "M client-first\0client-final": the
 * first byte's low bit picks SCRAM-SHA-256 or -512. Checks scram.h's contract: only the
 * documented return codes, a user name that is non-empty UTF-8 without NUL, a server-first-
 * message that starts with the nonce (the server part fixed: deterministic), and no proof ever
 * accepted against keys nobody knows (all zero: no ClientKey hashes to them). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker/auth/scram.h"
#include "proto/mqtt.h"

static void
check_first(int rc, const char *user)
{
	if (rc != 0 && rc != -EINVAL && rc != -ENOTSUP && rc != -ENOMEM)
		abort();
	if (rc == 0 && (user == NULL || user[0] == '\0' ||
	                !mqtt_utf8_valid((const uint8_t *)user, strlen(user))))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scram_cred cred = {.iterations = 1, .salt_len = 4, .salt = {1, 2, 3, 4}};
	struct sl_buf out = SL_BUF_INIT;
	const uint8_t *nul;
	const char *user = NULL;
	struct scram *s;
	size_t n1;
	int rc;

	if (size < 1 || size > 65536)
		return 0;
	s = scram_new(data[0] & 1 ? SCRAM_SHA_512 : SCRAM_SHA_256);
	nul = memchr(data + 1, '\0', size - 1);
	n1 = nul != NULL ? (size_t)(nul - data - 1) : size - 1;
	rc = scram_client_first(s, sl_bytes_make(data + 1, (uint32_t)n1), &user);
	check_first(rc, user);
	if (rc == 0 && (rc = scram_server_first(s, &cred, "fuzz", &out)) == 0) {
		if (out.len < 2 || memcmp(out.data, "r=", 2) != 0)
			abort();
		out.len = 0;
		rc = nul == NULL
		             ? 0
		             : scram_client_final(
		                       s, sl_bytes_make(nul + 1, (uint32_t)(size - n1 - 2)), &out);
		if (rc == 0 && nul != NULL)
			abort(); /* a proof passed zero keys */
		if (rc != 0 && rc != -EINVAL && rc != -EACCES && rc != -ENOMEM)
			abort();
	}
	sl_buf_fini(&out);
	scram_free(s);
	return 0;
}
