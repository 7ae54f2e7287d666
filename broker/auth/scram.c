/* broker/auth/scram.c - SCRAM server messages (RFC 5802 section 7 grammar) and key math (section 3)
 * with OpenSSL: HMAC, EVP digests, PKCS5_PBKDF2_HMAC for Hi(), RAND_bytes, CRYPTO_memcmp.
 *
 * Why not GNU SASL: Debian 12's libgsasl 2.2 offers SCRAM-SHA-1 and SCRAM-SHA-256 only, so
 * SCRAM-SHA-512 (the one that can use mosquitto's "$7$" PBKDF2-SHA512 hashes) would need this
 * code anyway; one implementation for both keeps one behaviour and one dependency (OpenSSL,
 * already linked for the password file). */
#include "broker/auth/scram.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "broker/auth/b64.h"
#include "proto/base/sl_alloc.h"
#include "proto/mqtt.h"

enum { ST_NEW, ST_FIRST, ST_SENT, ST_DONE };

struct scram {
	enum scram_mech mech;
	int state;
	char *user;       /* saslname decoded */
	char *gs2;        /* gs2-header as received: "c=" must carry it back */
	char *cnonce;     /* the client's nonce */
	char *nonce;      /* client's and server's nonces, as sent in server-first */
	struct sl_buf am; /* AuthMessage, built as the messages go by */
	struct scram_cred cred;
};

/* A position in a message being parsed, split at commas. */
struct cur {
	const char *p;
	size_t n;
	bool end; /* no field left */
};

static const char *const names[] = {"SCRAM-SHA-256", "SCRAM-SHA-512"};

int
scram_mech_parse(struct sl_bytes name)
{
	int i;

	for (i = 0; i < 2; i++)
		if (name.len == strlen(names[i]) && memcmp(name.p, names[i], name.len) == 0)
			return i;
	return -1;
}

const char *
scram_mech_name(enum scram_mech m)
{
	return names[m == SCRAM_SHA_512];
}

size_t
scram_hash_len(enum scram_mech m)
{
	return m == SCRAM_SHA_512 ? 64 : 32;
}

static const EVP_MD *
md(enum scram_mech m)
{
	return m == SCRAM_SHA_512 ? EVP_sha512() : EVP_sha256();
}

static int
hmac(enum scram_mech m, const uint8_t *key, const void *data, size_t n, uint8_t *out)
{
	unsigned int len = 0;

	return HMAC(md(m), key, (int)scram_hash_len(m), data, n, out, &len) != NULL ? 0 : -EIO;
}

int
scram_salted_password(enum scram_mech m, const void *password, size_t len, const uint8_t *salt,
                      size_t salt_len, uint32_t iterations, uint8_t *out)
{
	/* RFC 5802 2.2: Hi() is PBKDF2 (RFC 2898) with HMAC-H as the PRF and dkLen the hash
	 * length, so its single block is U1 ^ ... ^ Ui with U1 = HMAC(str, salt + INT(1)). */
	if (len > INT_MAX || salt_len > INT_MAX || iterations < 1 || iterations > INT_MAX)
		return -EIO;
	return PKCS5_PBKDF2_HMAC(password, (int)len, salt, (int)salt_len, (int)iterations, md(m),
	                         (int)scram_hash_len(m), out) == 1
	               ? 0
	               : -EIO;
}

int
scram_keys(enum scram_mech m, const uint8_t *salted, struct scram_cred *cred)
{
	uint8_t ck[SCRAM_MAX_HASH];
	int rc;

	/* ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey = H(ClientKey),
	 * ServerKey = HMAC(SaltedPassword, "Server Key"). */
	rc = hmac(m, salted, "Client Key", 10, ck);
	if (rc == 0 && EVP_Digest(ck, scram_hash_len(m), cred->stored_key, NULL, md(m), NULL) != 1)
		rc = -EIO;
	if (rc == 0)
		rc = hmac(m, salted, "Server Key", 10, cred->server_key);
	OPENSSL_cleanse(ck, sizeof(ck));
	return rc;
}

/* Appends the base64 of p[n] to b. Returns 0 or -ENOMEM. */
static int
b64_append(struct sl_buf *b, const uint8_t *p, size_t n)
{
	if (n > INT_MAX / 2 || sl_buf_reserve(b, 4 * ((n + 2) / 3) + 1) < 0)
		return -ENOMEM;
	b->len += (size_t)EVP_EncodeBlock(b->data + b->len, p, (int)n);
	return 0;
}

static int
append_str(struct sl_buf *b, const char *s)
{
	return sl_buf_append(b, s, strlen(s));
}

struct scram *
scram_new(enum scram_mech m)
{
	struct scram *s = sl_calloc(1, sizeof(*s));

	if (s != NULL)
		s->mech = m;
	return s;
}

void
scram_free(struct scram *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(&s->cred, sizeof(s->cred));
	if (s->am.data != NULL)
		OPENSSL_cleanse(s->am.data, s->am.len);
	sl_buf_fini(&s->am);
	sl_free(s->user);
	sl_free(s->gs2);
	sl_free(s->cnonce);
	sl_free(s->nonce);
	sl_free(s);
}

/* Takes the next comma-separated field of c into f. False when none is left. */
static bool
next_field(struct cur *c, struct cur *f)
{
	const char *comma;

	if (c->end)
		return false;
	comma = c->n > 0 ? memchr(c->p, ',', c->n) : NULL;
	f->p = c->p;
	f->end = false;
	if (comma == NULL) {
		f->n = c->n;
		c->end = true;
		return true;
	}
	f->n = (size_t)(comma - c->p);
	c->p = comma + 1;
	c->n -= f->n + 1;
	return true;
}

/* Whether field f is the attribute "k=value"; *v is its value then. */
static bool
attr(const struct cur *f, char k, struct cur *v)
{
	if (f->n < 2 || f->p[0] != k || f->p[1] != '=')
		return false;
	v->p = f->p + 2;
	v->n = f->n - 2;
	v->end = false;
	return true;
}

/* printable = %x21-2B / %x2D-7E: a nonce, at least one character. */
static bool
printable(const struct cur *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (v->p[i] < 0x21 || v->p[i] > 0x7E || v->p[i] == ',')
			return false;
	return v->n > 0;
}

/* Every field left is an extension "a=value" (RFC 5802 7: ignored when not understood). */
static bool
extensions_ok(struct cur *c)
{
	struct cur f;

	while (next_field(c, &f))
		if (f.n < 2 || f.p[1] != '=' ||
		    !((f.p[0] >= 'a' && f.p[0] <= 'z') || (f.p[0] >= 'A' && f.p[0] <= 'Z')))
			return false;
	return true;
}

/* saslname: "=2C" stands for ',' and "=3D" for '='; the result is non-empty UTF-8. */
static int
set_user(struct scram *s, const struct cur *v)
{
	char *u = sl_malloc(v->n + 1);
	size_t i, o = 0;

	if (u == NULL)
		return -ENOMEM;
	for (i = 0; i < v->n; i++) {
		if (v->p[i] != '=') {
			u[o++] = v->p[i];
			continue;
		}
		if (v->n - i < 3 ||
		    (memcmp(v->p + i, "=2C", 3) != 0 && memcmp(v->p + i, "=3D", 3) != 0))
			break;
		u[o++] = v->p[i + 1] == '2' ? ',' : '=';
		i += 2;
	}
	if (i < v->n || o == 0 || !mqtt_utf8_valid((const uint8_t *)u, o)) {
		sl_free(u);
		return -EINVAL;
	}
	u[o] = '\0';
	s->user = u;
	return 0;
}

/* gs2-header = gs2-cbind-flag "," [authzid] ",": only "n" or "y", and no authzid. */
static int
parse_gs2(struct cur *c)
{
	struct cur f, v;

	if (!next_field(c, &f))
		return -EINVAL;
	if (attr(&f, 'p', &v))
		return -ENOTSUP; /* channel binding: only the -PLUS mechanisms have it */
	if (f.n != 1 || (f.p[0] != 'n' && f.p[0] != 'y'))
		return -EINVAL;
	if (!next_field(c, &f) || c->end)
		return -EINVAL;
	if (f.n > 0)
		return attr(&f, 'a', &v) ? -ENOTSUP : -EINVAL;
	return 0;
}

int
scram_client_first(struct scram *s, struct sl_bytes msg, const char **user)
{
	struct cur c = {(const char *)msg.p, msg.len, false}, f, v;
	const char *bare;
	int rc;

	if (s->state != ST_NEW || msg.len == 0 || memchr(msg.p, '\0', msg.len) != NULL)
		return -EINVAL;
	if ((rc = parse_gs2(&c)) < 0)
		return rc;
	bare = c.p;
	if ((s->gs2 = sl_strndup((const char *)msg.p, (size_t)(bare - (const char *)msg.p))) ==
	    NULL)
		return -ENOMEM;
	/* client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions] */
	if (!next_field(&c, &f))
		return -EINVAL;
	if (attr(&f, 'm', &v))
		return -ENOTSUP; /* RFC 5802 5.1: a server that does not know it must fail */
	if (!attr(&f, 'n', &v))
		return -EINVAL;
	if ((rc = set_user(s, &v)) < 0)
		return rc;
	if (!next_field(&c, &f) || !attr(&f, 'r', &v) || !printable(&v) || !extensions_ok(&c))
		return -EINVAL;
	if ((s->cnonce = sl_strndup(v.p, v.n)) == NULL ||
	    sl_buf_append(&s->am, bare, msg.len - (size_t)(bare - (const char *)msg.p)) < 0)
		return -ENOMEM;
	s->state = ST_FIRST;
	*user = s->user;
	return 0;
}

/* Sets s->nonce to the client's nonce followed by snonce (or a random one). */
static int
make_nonce(struct scram *s, const char *snonce)
{
	unsigned char rnd[18], b64[25];
	size_t a = strlen(s->cnonce), b;

	if (snonce == NULL) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return -EIO;
		EVP_EncodeBlock(b64, rnd, sizeof(rnd)); /* 24 characters, no '=' and no ',' */
		snonce = (const char *)b64;
	}
	b = strlen(snonce);
	if ((s->nonce = sl_malloc(a + b + 1)) == NULL)
		return -ENOMEM;
	memcpy(s->nonce, s->cnonce, a);
	memcpy(s->nonce + a, snonce, b + 1);
	return 0;
}

int
scram_server_first(struct scram *s, const struct scram_cred *cred, const char *snonce,
                   struct sl_buf *out)
{
	char iter[24];
	size_t at;
	int rc;

	if (s->state != ST_FIRST || cred->salt_len == 0 || cred->salt_len > SCRAM_MAX_SALT)
		return -EINVAL;
	if ((rc = make_nonce(s, snonce)) < 0)
		return rc;
	s->cred = *cred;
	snprintf(iter, sizeof(iter), ",i=%u", cred->iterations);
	/* server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count */
	if (sl_buf_append(&s->am, ",", 1) < 0)
		return -ENOMEM;
	at = s->am.len;
	if (append_str(&s->am, "r=") < 0 || append_str(&s->am, s->nonce) < 0 ||
	    append_str(&s->am, ",s=") < 0 || b64_append(&s->am, cred->salt, cred->salt_len) < 0 ||
	    append_str(&s->am, iter) < 0 || sl_buf_append(out, s->am.data + at, s->am.len - at) < 0)
		return -ENOMEM;
	s->state = ST_SENT;
	return 0;
}

/* client-final-message-without-proof = channel-binding "," nonce ["," extensions]: c= must be
 * the base64 of the gs2-header received, r= the nonce sent. */
static bool
final_ok(struct scram *s, struct cur c)
{
	struct sl_buf want = SL_BUF_INIT;
	struct cur f, v;
	bool ok;

	if (!next_field(&c, &f) || !attr(&f, 'c', &v) ||
	    b64_append(&want, (const uint8_t *)s->gs2, strlen(s->gs2)) < 0)
		return false;
	ok = v.n == want.len && memcmp(v.p, want.data, v.n) == 0;
	sl_buf_fini(&want);
	return ok && next_field(&c, &f) && attr(&f, 'r', &v) && v.n == strlen(s->nonce) &&
	       memcmp(v.p, s->nonce, v.n) == 0 && extensions_ok(&c);
}

/* ClientKey = ClientProof ^ HMAC(StoredKey, AuthMessage); the proof holds if H(ClientKey) is
 * the StoredKey. Returns 0, -EACCES or -EIO. */
static int
verify(struct scram *s, const uint8_t *proof)
{
	size_t hl = scram_hash_len(s->mech), i;
	uint8_t sig[SCRAM_MAX_HASH], key[SCRAM_MAX_HASH];
	int rc = hmac(s->mech, s->cred.stored_key, s->am.data, s->am.len, sig);

	for (i = 0; rc == 0 && i < hl; i++)
		key[i] = proof[i] ^ sig[i];
	if (rc == 0 && EVP_Digest(key, hl, sig, NULL, md(s->mech), NULL) != 1)
		rc = -EIO;
	if (rc == 0 && CRYPTO_memcmp(sig, s->cred.stored_key, hl) != 0)
		rc = -EACCES;
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

int
scram_client_final(struct scram *s, struct sl_bytes msg, struct sl_buf *out)
{
	const char *p = (const char *)msg.p, *comma;
	uint8_t proof[SCRAM_MAX_HASH], sig[SCRAM_MAX_HASH];
	size_t hl = scram_hash_len(s->mech), n;
	int rc;

	if (s->state != ST_SENT || msg.len == 0 || memchr(p, '\0', msg.len) != NULL)
		return -EINVAL;
	s->state = ST_DONE;
	/* client-final-message = client-final-message-without-proof "," proof: proof is last. */
	for (comma = p + msg.len - 1; comma > p && *comma != ','; comma--)
		;
	n = (size_t)(comma - p);
	if (comma == p || msg.len - n < 4 || memcmp(comma, ",p=", 3) != 0 ||
	    !final_ok(s, (struct cur){p, n, false}) ||
	    b64_decode(comma + 3, msg.len - n - 3, B64_PAD_REQUIRED, proof, sizeof(proof)) !=
	            (int)hl)
		return -EINVAL;
	if (sl_buf_append(&s->am, ",", 1) < 0 || sl_buf_append(&s->am, p, n) < 0)
		return -ENOMEM;
	if ((rc = verify(s, proof)) < 0)
		return rc;
	/* server-final-message = "v=" base64(HMAC(ServerKey, AuthMessage)) */
	if ((rc = hmac(s->mech, s->cred.server_key, s->am.data, s->am.len, sig)) < 0)
		return rc;
	if (append_str(out, "v=") < 0 || b64_append(out, sig, hl) < 0)
		return -ENOMEM;
	return 0;
}
