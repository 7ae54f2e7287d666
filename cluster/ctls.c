/* cluster/ctls.c - TLS of node links over OpenSSL memory BIOs: bytes from the socket go into the
 * input BIO, SSL reads and writes records through the two BIOs, and whatever lands in the output
 * BIO is moved into the caller's buffer at the end of every call. */
#include "cluster/ctls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "proto/base/sl_alloc.h"

/* TLS 1.2 suites: ECDHE key exchange (forward secrecy) with AEAD ciphers only; OpenSSL's own
 * default also allows RSA key exchange and CBC. TLS 1.3 suites are all of that kind already. */
#define CIPHERS_TLS12 "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"
/* Plaintext given to one SSL_write: four full records (RFC 8446 5.1: at most 2^14 bytes of
 * plaintext each). Moving the records out after each piece keeps the output BIO small, so a
 * many-MB write does not sit there whole before being copied into the caller's buffer. */
#define WRITE_PIECE (4u * 16384u)
/* Free room in plain before each SSL_read: one full record decrypts straight into it. */
#define READ_ROOM 16384u
/* Bytes a TLS 1.3 AEAD record adds to its plaintext: 5 header, 1 content type, 16 tag. TLS 1.2
 * GCM adds 29 (an 8-byte explicit nonce); ctls_write() only uses this to size out once. */
#define RECORD_OVERHEAD 29u

struct ctls_ctx {
	SSL_CTX *ssl;
};

struct ctls {
	SSL *ssl;
	struct sl_buf held; /* plaintext written before the handshake ended */
	int rc;             /* 0, or the failure every later call returns */
	char why[200];      /* ctls_error(): "" until rc < 0 */
};

/* The reason of the oldest error on this thread's OpenSSL queue (static text): the oldest is the
 * cause, later ones are callers saying they failed too. */
static const char *
ssl_why(void)
{
	unsigned long e = ERR_peek_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : "unknown error";
}

/* One line for err: the file, and why it could not be used. A file OpenSSL could not open is
 * reported by its system error (ERR_LIB_SYS carries errno), which says "No such file..." where
 * OpenSSL's own reason would only say "system lib"; "no start line" (a certificate) and the
 * decoder's "unsupported" (a key) mean the file holds no such PEM block. */
static void
say_file(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_peek_error();
	const char *r = ssl_why();

	if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SYS)
		r = strerror(ERR_GET_REASON(e));
	else if ((ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) ||
	         ERR_GET_LIB(e) == ERR_LIB_OSSL_DECODER)
		r = "no PEM block of the expected kind in it";
	snprintf(err, errlen, "%s '%s': %s", what, path, r);
}

/* The settings every link shares. Returns 0, or -1 when OpenSSL refused one. */
static int
setup(SSL_CTX *ctx)
{
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, CIPHERS_TLS12))
		return -1;
	/* No renegotiation: it could make an SSL_write wait for a read, and it is a DoS lever. */
	SSL_CTX_set_options(ctx,
	                    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
	/* Links are long-lived and a reconnect is rare: resumption would save little and would
	 * need a session cache and ticket keys to manage. TLS 1.3 servers send tickets unasked. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	/* Mutual TLS. On the client end SSL_VERIFY_PEER checks the server's certificate and
	 * FAIL_IF_NO_PEER_CERT is ignored; no host name is set, so none is checked (ctls.h). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

/* Loads the three files into ctx. Returns 0, or -1 with err set. */
static int
load(SSL_CTX *ctx, const char *cafile, const char *certfile, const char *keyfile, char *err,
     size_t errlen)
{
	unsigned long e;

	if (!SSL_CTX_load_verify_locations(ctx, cafile, NULL)) {
		say_file(err, errlen, "cafile", cafile);
	} else if (!SSL_CTX_use_certificate_chain_file(ctx, certfile)) {
		say_file(err, errlen, "certfile", certfile);
	} else if (!SSL_CTX_use_PrivateKey_file(ctx, keyfile, SSL_FILETYPE_PEM) ||
	           !SSL_CTX_check_private_key(ctx)) {
		/* OpenSSL checks the pair as it loads the key; say which pair in plain words. */
		e = ERR_peek_error();
		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
			snprintf(err, errlen, "keyfile '%s' does not match certfile '%s'", keyfile,
			         certfile);
		else
			say_file(err, errlen, "keyfile", keyfile);
	} else {
		return 0;
	}
	return -1;
}

struct ctls_ctx *
ctls_ctx_new(const char *cafile, const char *certfile, const char *keyfile, char *err,
             size_t errlen)
{
	struct ctls_ctx *c;

	if (cafile == NULL || certfile == NULL || keyfile == NULL) {
		snprintf(err, errlen, "cafile, certfile and keyfile are all required");
		return NULL;
	}
	ERR_clear_error();
	if ((c = sl_calloc(1, sizeof(*c))) == NULL)
		goto fail_oom;
	if ((c->ssl = SSL_CTX_new(TLS_method())) == NULL)
		goto fail_free;
	if (load(c->ssl, cafile, certfile, keyfile, err, errlen) < 0)
		goto fail_ctx;
	if (setup(c->ssl) < 0) {
		snprintf(err, errlen, "TLS settings refused: %s", ssl_why());
		goto fail_ctx;
	}
	return c;
fail_ctx:
	SSL_CTX_free(c->ssl);
	sl_free(c);
	return NULL;
fail_free:
	sl_free(c);
fail_oom:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

void
ctls_ctx_free(struct ctls_ctx *c)
{
	if (c == NULL)
		return;
	SSL_CTX_free(c->ssl);
	sl_free(c);
}

struct ctls *
ctls_new(struct ctls_ctx *c, bool server)
{
	BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
	struct ctls *t = sl_calloc(1, sizeof(*t));

	if (t == NULL || rbio == NULL || wbio == NULL || (t->ssl = SSL_new(c->ssl)) == NULL) {
		BIO_free(rbio);
		BIO_free(wbio);
		sl_free(t);
		return NULL;
	}
	/* An empty input BIO means "wait for more", not end of file. */
	BIO_set_mem_eof_return(rbio, -1);
	SSL_set_bio(t->ssl, rbio, wbio); /* the SSL owns both now */
	if (server)
		SSL_set_accept_state(t->ssl);
	else
		SSL_set_connect_state(t->ssl);
	return t;
}

void
ctls_free(struct ctls *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	sl_buf_fini(&t->held);
	sl_free(t);
}

/* Marks t failed with rc and the reason of this thread's OpenSSL errors; a certificate this end
 * refused gets the verifier's reason too. Returns rc. */
static int
fail(struct ctls *t, int rc)
{
	long v = SSL_get_verify_result(t->ssl);

	t->rc = rc;
	if (rc == -ECONNRESET)
		snprintf(t->why, sizeof(t->why), "closed by the peer (close_notify)");
	else if (v != X509_V_OK)
		snprintf(t->why, sizeof(t->why), "%s: %s", ssl_why(),
		         X509_verify_cert_error_string(v));
	else
		snprintf(t->why, sizeof(t->why), "%s", ssl_why());
	return rc;
}

/* Moves the records waiting in the output BIO to the end of out. Returns 0 or -ENOMEM (they
 * stay in the BIO then, for the next call). */
static int
drain(struct ctls *t, struct sl_buf *out)
{
	BIO *wbio = SSL_get_wbio(t->ssl);
	size_t pending = BIO_ctrl_pending(wbio), n = 0;

	if (pending == 0)
		return 0;
	if (sl_buf_reserve(out, pending) < 0)
		return -ENOMEM;
	if (BIO_read_ex(wbio, out->data + out->len, pending, &n) == 1)
		out->len += n;
	return 0;
}

/* Encrypts n bytes into out, piece by piece. Returns 0, -ENOMEM or -EPROTO. */
static int
seal(struct ctls *t, const uint8_t *p, size_t n, struct sl_buf *out)
{
	size_t piece, done;
	int rc;

	/* Size out once for the whole write rather than doubling it through a large one. */
	if (sl_buf_reserve(out, n + (n / 16384u + 1) * RECORD_OVERHEAD) < 0)
		return -ENOMEM;
	while (n > 0) {
		piece = n < WRITE_PIECE ? n : WRITE_PIECE;
		done = 0;
		ERR_clear_error();
		/* A memory BIO takes every record: the whole piece is written or SSL failed. */
		if (SSL_write_ex(t->ssl, p, piece, &done) != 1 || done != piece)
			return fail(t, -EPROTO);
		if ((rc = drain(t, out)) < 0)
			return rc;
		p += piece;
		n -= piece;
	}
	return 0;
}

/* Advances the handshake with the input at hand; once it ends, sends what was held. Returns 0
 * (done or waiting for the peer), -ENOMEM or -EPROTO. */
static int
handshake(struct ctls *t, struct sl_buf *out)
{
	int r, rc;

	ERR_clear_error(); /* SSL_get_error() reads this thread's queue */
	r = SSL_do_handshake(t->ssl);
	if (r != 1) {
		r = SSL_get_error(t->ssl, r);
		return r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE ? 0 : fail(t, -EPROTO);
	}
	if (t->held.len == 0)
		return 0;
	rc = seal(t, t->held.data, t->held.len, out);
	sl_buf_fini(&t->held);
	return rc;
}

/* Decrypts every complete record in the input BIO into plain. Returns 0 (the input is used up),
 * -ENOMEM, -ECONNRESET or -EPROTO. */
static int
unseal(struct ctls *t, struct sl_buf *plain)
{
	size_t n;
	int r;

	for (;;) {
		if (sl_buf_reserve(plain, READ_ROOM) < 0)
			return -ENOMEM;
		n = 0;
		ERR_clear_error();
		if (SSL_read_ex(t->ssl, plain->data + plain->len, plain->cap - plain->len, &n) ==
		    1) {
			plain->len += n;
			continue;
		}
		r = SSL_get_error(t->ssl, 0);
		if (r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE)
			return 0;
		return fail(t, r == SSL_ERROR_ZERO_RETURN ? -ECONNRESET : -EPROTO);
	}
}

/* Runs the handshake then, once it ended, reads plaintext (when plain is given); then moves
 * what SSL wrote to out, an alert after a failure included. */
static int
advance(struct ctls *t, struct sl_buf *plain, struct sl_buf *out)
{
	int rc = 0, rc_out;

	if (!SSL_is_init_finished(t->ssl))
		rc = handshake(t, out);
	if (rc == 0 && plain != NULL && SSL_is_init_finished(t->ssl))
		rc = unseal(t, plain);
	rc_out = drain(t, out);
	return rc < 0 ? rc : rc_out;
}

int
ctls_start(struct ctls *t, struct sl_buf *out)
{
	if (t->rc < 0)
		return t->rc;
	if (SSL_is_server(t->ssl))
		return 0;
	return advance(t, NULL, out);
}

int
ctls_read(struct ctls *t, const uint8_t *p, size_t n, struct sl_buf *plain, struct sl_buf *out)
{
	size_t done = 0;

	if (t->rc < 0)
		return t->rc;
	if (n > 0 && (BIO_write_ex(SSL_get_rbio(t->ssl), p, n, &done) != 1 || done != n))
		return -ENOMEM;
	return advance(t, plain, out);
}

int
ctls_write(struct ctls *t, const uint8_t *p, size_t n, struct sl_buf *out)
{
	if (t->rc < 0)
		return t->rc;
	if (n == 0)
		return 0;
	if (!SSL_is_init_finished(t->ssl))
		return sl_buf_append(&t->held, p, n);
	return seal(t, p, n, out);
}

bool
ctls_ready(const struct ctls *t)
{
	return t->rc == 0 && SSL_is_init_finished(t->ssl);
}

const char *
ctls_error(const struct ctls *t)
{
	return t->why;
}
