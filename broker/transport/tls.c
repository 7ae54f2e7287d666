/* broker/transport/tls.c - per-listener SSL_CTX (built at start, rebuilt on SIGHUP) and the
 * memory-BIO plumbing of one connection's SSL. Keys, mosquitto.conf(5) semantics: certfile, keyfile
 * PEM server certificate chain and key; TLS is on when certfile is cafile, capath           CAs
 * that client certificates are verified against ciphers, ciphers_tls1.3  OpenSSL cipher list (TLS
 * <= 1.2) and TLS 1.3 suites; without ciphers, TLS 1.2 offers only forward-secret AEAD suites
 *                            (DEFAULT_CIPHERS), stricter than OpenSSL's default
 *   crlfile                  PEM certificate revocation list(s) checked against client
 *                            certificates (leaf), read again on SIGHUP with the rest
 *   tls_version              the lowest version accepted (default tlsv1.2)
 *   require_certificate      mutual TLS: a client without a valid certificate is refused
 *   use_identity_as_username the certificate's subject CN is the user name (handle.c); a
 *                            certificate is asked for (verified if sent) even without
 *                            require_certificate */
#include "broker/transport/tls.h"
#include "broker/conf/conf.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

struct tls_set {
	pthread_mutex_t mu; /* guards ctx[]: swapped by reloads, read by accepts on any loop */
	size_t n;
	SSL_CTX **ctx; /* per listener; NULL where the listener does not speak TLS */
};

bool
tls_listener(const struct conf_listener *l)
{
	return l->certfile != NULL;
}

/* TLS 1.2 without a ciphers key: ECDHE key exchange (forward secrecy) with AEAD ciphers only.
 * OpenSSL's own default also allows RSA key exchange and CBC-SHA1 suites. TLS 1.3 suites are
 * all of that kind already. */
#define DEFAULT_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"

/* The reason of the most recent OpenSSL error (static text). */
static const char *
ssl_why(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : "unknown error";
}

static int
min_version(const struct conf_listener *l)
{
	if (l->tls_version != NULL && strcmp(l->tls_version, "tlsv1.3") == 0)
		return TLS1_3_VERSION;
	if (l->tls_version != NULL && strcmp(l->tls_version, "tlsv1.1") == 0)
		return TLS1_1_VERSION;
	return TLS1_2_VERSION;
}

/* Adds the CRLs of the PEM file path to ctx's store and checks client certificates against
 * them (the leaf, as mosquitto). Returns 0 or -EINVAL (no CRL in the file). */
static int
load_crl(SSL_CTX *ctx, const char *path)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());

	if (lookup == NULL || X509_load_crl_file(lookup, path, X509_FILETYPE_PEM) <= 0)
		return -EINVAL;
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	return 0;
}

/* Who is asked for a certificate, and against which CAs it is checked. */
static int
setup_verify(SSL_CTX *ctx, const struct conf_listener *l, const char **what)
{
	STACK_OF(X509_NAME) * names;

	if ((l->cafile != NULL || l->capath != NULL) &&
	    !SSL_CTX_load_verify_locations(ctx, l->cafile, l->capath)) {
		*what = "cafile/capath";
		return -EINVAL;
	}
	if (l->crlfile != NULL && load_crl(ctx, l->crlfile) < 0) {
		*what = "crlfile";
		return -EINVAL;
	}
	if (!l->require_certificate && !l->use_identity_as_username)
		return 0;
	/* use_identity_as_username alone: a certificate is asked for and verified if sent; a
	 * client without one is refused at CONNECT (handle.c), not in the handshake. */
	SSL_CTX_set_verify(ctx,
	                   SSL_VERIFY_PEER |
	                           (l->require_certificate ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
	                   NULL);
	/* Tell clients which CAs are accepted, so they pick the right certificate. */
	if (l->cafile != NULL && (names = SSL_load_client_CA_file(l->cafile)) != NULL)
		SSL_CTX_set_client_CA_list(ctx, names);
	return 0;
}

/* A context for listener l from its files. Returns NULL with *what naming the bad part. */
static SSL_CTX *
build(const struct conf_listener *l, const char **what)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	unsigned char sid[8];

	*what = "out of memory";
	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, min_version(l));
	/* No renegotiation: a peer could make SSL_write wait for a read, and it is a DoS lever. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	                                 SSL_OP_NO_COMPRESSION);
	/* Idle connections give their record buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Resumed sessions must keep their verified client: a context id is required for that. */
	memcpy(sid, "starling", sizeof(sid));
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid));
	if (!SSL_CTX_set_cipher_list(ctx, l->ciphers != NULL ? l->ciphers : DEFAULT_CIPHERS))
		*what = "ciphers";
	else if (l->ciphersuites != NULL && !SSL_CTX_set_ciphersuites(ctx, l->ciphersuites))
		*what = "ciphers_tls1.3";
	else if (!SSL_CTX_use_certificate_chain_file(ctx, l->certfile))
		*what = "certfile";
	else if (!SSL_CTX_use_PrivateKey_file(ctx, l->keyfile, SSL_FILETYPE_PEM))
		*what = "keyfile";
	else if (!SSL_CTX_check_private_key(ctx))
		*what = "keyfile (does not match certfile)";
	else if (setup_verify(ctx, l, what) == 0)
		return ctx;
	SSL_CTX_free(ctx);
	return NULL;
}

/* Key combinations that cannot work, refused at start as mosquitto does. */
static const char *
check_keys(const struct conf_listener *l)
{
	if ((l->certfile == NULL) != (l->keyfile == NULL))
		return "certfile and keyfile go together";
	if (l->certfile == NULL && (l->cafile || l->capath || l->require_certificate))
		return "cafile, capath and require_certificate need certfile";
	if (l->crlfile != NULL && l->cafile == NULL && l->capath == NULL)
		return "crlfile needs cafile or capath";
	if ((l->require_certificate || (l->use_identity_as_username && l->certfile != NULL)) &&
	    l->cafile == NULL && l->capath == NULL)
		return "require_certificate and use_identity_as_username need cafile or capath";
	if (l->use_identity_as_username && l->certfile == NULL && !l->proxy_protocol)
		return "use_identity_as_username needs certfile (or proxy_protocol)";
	return NULL;
}

int
tls_init(struct tls_set **out, const struct conf *cf)
{
	struct tls_set *t;
	const char *why;
	size_t i;

	if ((t = *out = sl_calloc(1, sizeof(*t))) == NULL ||
	    (t->ctx = sl_calloc(cf->n_listeners + 1, sizeof(SSL_CTX *))) == NULL)
		return -ENOMEM;
	pthread_mutex_init(&t->mu, NULL);
	t->n = cf->n_listeners;
	for (i = 0; i < cf->n_listeners; i++) {
		const struct conf_listener *l = &cf->listeners[i];

		if ((why = check_keys(l)) != NULL) {
			LOG_ERR("tls", "listener on port %u: %s", l->port, why);
			return -EINVAL;
		}
		if (!tls_listener(l))
			continue;
		ERR_clear_error();
		if ((t->ctx[i] = build(l, &why)) == NULL) {
			LOG_ERR("tls", "listener on port %u: cannot use %s: %s", l->port, why,
			        ssl_why());
			return -EINVAL;
		}
	}
	return 0;
}

int
tls_reload(struct tls_set *t, const struct conf *cf)
{
	SSL_CTX *fresh, *old;
	const char *why;
	int rc = 0;
	size_t i;

	for (i = 0; t != NULL && i < t->n; i++) {
		if (t->ctx[i] == NULL)
			continue;
		ERR_clear_error();
		if ((fresh = build(&cf->listeners[i], &why)) == NULL) {
			LOG_ERR("tls",
			        "listener on port %u: reload failed, keeping the old "
			        "certificate: %s: %s",
			        cf->listeners[i].port, why, ssl_why());
			rc = -EINVAL;
			continue;
		}
		pthread_mutex_lock(&t->mu);
		old = t->ctx[i];
		t->ctx[i] = fresh;
		pthread_mutex_unlock(&t->mu);
		SSL_CTX_free(old); /* connections made with it hold their own references */
		LOG_NOTICE("tls", "listener on port %u: certificate reloaded",
		           cf->listeners[i].port);
	}
	return rc;
}

void
tls_fini(struct tls_set *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		SSL_CTX_free(t->ctx[i]);
	pthread_mutex_destroy(&t->mu);
	sl_free(t->ctx);
	sl_free(t);
}

SSL *
tls_new(struct tls_set *t, int li)
{
	BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
	SSL *ssl = NULL;

	if (t != NULL && (size_t)li < t->n) {
		pthread_mutex_lock(&t->mu);
		if (t->ctx[li] != NULL)
			ssl = SSL_new(t->ctx[li]); /* takes its own reference on the context */
		pthread_mutex_unlock(&t->mu);
	}
	if (ssl == NULL || rbio == NULL || wbio == NULL) {
		BIO_free(rbio);
		BIO_free(wbio);
		SSL_free(ssl);
		return NULL;
	}
	/* An empty input BIO means "wait for more", not end of file. */
	BIO_set_mem_eof_return(rbio, -1);
	SSL_set_bio(ssl, rbio, wbio);
	SSL_set_accept_state(ssl);
	return ssl;
}

int
tls_feed(SSL *ssl, const uint8_t *p, size_t len)
{
	size_t done = 0;

	if (len == 0)
		return 0;
	return BIO_write_ex(SSL_get_rbio(ssl), p, len, &done) == 1 && done == len ? 0 : -ENOMEM;
}

int
tls_read(SSL *ssl, uint8_t *out, size_t cap, const char **why)
{
	size_t n = 0;

	ERR_clear_error(); /* SSL_get_error() reads this thread's queue */
	if (SSL_read_ex(ssl, out, cap, &n) == 1)
		return (int)n;
	switch (SSL_get_error(ssl, 0)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return -ECONNRESET;
	default:
		*why = ssl_why();
		return -EPROTO;
	}
}

int
tls_write(SSL *ssl, const uint8_t *p, size_t len)
{
	size_t n = 0;

	ERR_clear_error();
	/* A memory BIO takes every record, so the whole buffer is written at once. */
	return len == 0 || (SSL_write_ex(ssl, p, len, &n) == 1 && n == len) ? 0 : -EPROTO;
}

bool
tls_pending(SSL *ssl)
{
	return BIO_ctrl_pending(SSL_get_wbio(ssl)) > 0;
}

int
tls_take(SSL *ssl, struct sl_buf *out)
{
	BIO *wbio = SSL_get_wbio(ssl);
	size_t pending = BIO_ctrl_pending(wbio), n = 0;

	if (pending == 0)
		return 0;
	if (sl_buf_reserve(out, pending) < 0)
		return -ENOMEM;
	if (BIO_read_ex(wbio, out->data + out->len, pending, &n) == 1)
		out->len += n;
	return 0;
}

char *
tls_peer_cn(SSL *ssl)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	X509_NAME *name;
	unsigned char *utf8 = NULL;
	char *cn = NULL;
	int i, len;

	if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK ||
	    (name = X509_get_subject_name(cert)) == NULL ||
	    (i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0)
		return NULL;
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (len > 0 && memchr(utf8, '\0', (size_t)len) == NULL)
		cn = sl_strndup((const char *)utf8, (size_t)len);
	OPENSSL_free(utf8);
	return cn;
}
