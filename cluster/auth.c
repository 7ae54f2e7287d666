/* cluster/auth.c - the challenge each node answers before a link carries anything: an
 * HMAC-SHA256 keyed with cluster_secret over both nonces, so the secret never crosses the wire
 * and a recorded answer is worthless on the next link (fresh nonces). */
#include "cluster/cl.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

void
cl_auth_random(void *p, size_t n)
{
	if (RAND_bytes(p, (int)n) != 1)
		abort(); /* style: no entropy means no safe cluster at all */
}

/* Appends a length-prefixed field: the MAC's input cannot be split two ways. */
static size_t
put_field(uint8_t *out, size_t at, const void *p, size_t n)
{
	out[at] = (uint8_t)(n >> 8);
	out[at + 1] = (uint8_t)n;
	memcpy(out + at + 2, p, n);
	return at + 2 + n;
}

void
cl_auth_mac(const struct cluster *cl, const char *from, const char *to,
            const uint8_t to_nonce[CL_NONCE_LEN], const uint8_t from_nonce[CL_NONCE_LEN],
            uint8_t mac[CL_MAC_LEN])
{
	static const char label[] = "starling-cluster-v1";
	const char *name = cl->conf.name;
	size_t lf = strnlen(from, 1024), lt = strnlen(to, 1024), ln = strnlen(name, 1024);
	uint8_t in[5 * 2 + sizeof(label) + 3 * 1024 + 2 * CL_NONCE_LEN];
	unsigned int mlen = CL_MAC_LEN;
	size_t at = 0;

	at = put_field(in, at, label, sizeof(label) - 1);
	at = put_field(in, at, name, ln);
	at = put_field(in, at, from, lf);
	at = put_field(in, at, to, lt);
	at = put_field(in, at, to_nonce, CL_NONCE_LEN);
	memcpy(in + at, from_nonce, CL_NONCE_LEN);
	at += CL_NONCE_LEN;
	if (HMAC(EVP_sha256(), cl->conf.secret, (int)strlen(cl->conf.secret), in, at, mac, &mlen) ==
	    NULL)
		abort(); /* style: SHA-256 is always there; a failing HMAC is a broken OpenSSL */
}
