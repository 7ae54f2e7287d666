/* tests/unit/cluster/test_ctls.c - TLS of node links (cluster/ctls.h), two ends in memory with
 * the bytes pumped between them: handshake and 10 MB each way, full records for a big write,
 * a certificate from another CA refused in both roles, a client without a certificate
 * refused, garbage and forged records, and the reasons ctls_ctx_new() gives. The certificates
 * are made at test time by the openssl CLI (as tests/integration/certs.py does), once per
 * test case, in a temporary directory. */
#include <check.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/ctls.h"
#include "pki_fix.h"
#include "proto/base/sl_buf.h"

#define DATA_LEN (10u << 20)

static struct ctls_ctx *
ctx_of(const char *node)
{
	char cert[64], key[64], err[256] = "";
	struct ctls_ctx *c;

	snprintf(cert, sizeof(cert), "%s.pem", node);
	snprintf(key, sizeof(key), "%s.key", node);
	c = ctls_ctx_new(pki("ca.pem"), pki(cert), pki(key), err, sizeof(err));
	ck_assert_msg(c != NULL, "%s: %s", node, err);
	return c;
}

/* One end of a link: a ctls, or (no_cert test) a bare OpenSSL client. */
struct end {
	struct ctls *t;
	SSL *raw;
	struct sl_buf plain, out;
	int rc; /* the first failure */
	char why[256];
};

/* A TLS client without a certificate, which ctls cannot be; verifies the server. */
static void
raw_client(struct end *e)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, pki("ca.pem"), NULL), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	e->raw = SSL_new(ctx);
	SSL_CTX_free(ctx);
	SSL_set_bio(e->raw, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
	BIO_set_mem_eof_return(SSL_get_rbio(e->raw), -1);
	SSL_set_connect_state(e->raw);
}

static int
raw_feed(struct end *e, const uint8_t *p, size_t n)
{
	BIO *wbio = SSL_get_wbio(e->raw);
	uint8_t tmp[16384];
	size_t got = 0;
	int r;

	if (n > 0)
		ck_assert_int_eq(BIO_write(SSL_get_rbio(e->raw), p, (int)n), (int)n);
	ERR_clear_error();
	while ((r = SSL_read_ex(e->raw, tmp, sizeof(tmp), &got)) == 1)
		ck_assert_int_eq(sl_buf_append(&e->plain, tmp, got), 0);
	r = SSL_get_error(e->raw, r);
	if (r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE)
		ERR_error_string_n(ERR_peek_error(), e->why, sizeof(e->why));
	while ((r = BIO_read(wbio, tmp, sizeof(tmp))) > 0)
		ck_assert_int_eq(sl_buf_append(&e->out, tmp, (size_t)r), 0);
	return e->why[0] != '\0' ? -EPROTO : 0;
}

static int
feed(struct end *e, const uint8_t *p, size_t n)
{
	return e->t != NULL ? ctls_read(e->t, p, n, &e->plain, &e->out) : raw_feed(e, p, n);
}

static void
end_fini(struct end *e)
{
	ctls_free(e->t);
	SSL_free(e->raw);
	sl_buf_fini(&e->plain);
	sl_buf_fini(&e->out);
}

/* Delivers from's output to `to` in reads of at most piece bytes (records split anywhere). A
 * failed end closes its socket: it takes nothing more. */
static void
move(struct end *from, struct end *to, size_t piece)
{
	size_t off, n;
	int rc;

	for (off = 0; off < from->out.len && to->rc == 0; off += n) {
		n = from->out.len - off < piece ? from->out.len - off : piece;
		if ((rc = feed(to, from->out.data + off, n)) < 0)
			to->rc = rc;
	}
	from->out.len = 0;
}

/* Pumps until neither end has anything to say. */
static void
pump(struct end *a, struct end *b, size_t piece)
{
	int rounds;

	for (rounds = 0; a->out.len > 0 || b->out.len > 0; rounds++) {
		ck_assert_int_lt(rounds, 100000);
		move(a, b, piece);
		move(b, a, piece);
	}
}

/* A client of ca_node talking to a server of srv_node, handshake pumped to its end. */
static void
connect_ends(struct end *cli, struct end *srv, const char *cli_node, const char *srv_node)
{
	struct ctls_ctx *cc = ctx_of(cli_node), *sc = ctx_of(srv_node);

	cli->t = ctls_new(cc, false);
	srv->t = ctls_new(sc, true);
	ck_assert_ptr_nonnull(cli->t);
	ck_assert_ptr_nonnull(srv->t);
	/* The sessions hold their own references (ctls.h). */
	ctls_ctx_free(cc);
	ctls_ctx_free(sc);
	ck_assert_int_eq(ctls_start(srv->t, &srv->out), 0);
	ck_assert_uint_eq(srv->out.len, 0);
	ck_assert_int_eq(ctls_start(cli->t, &cli->out), 0);
	ck_assert_uint_gt(cli->out.len, 0);
}

static void
fill(uint8_t *p, size_t n, uint64_t seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		p[i] = (uint8_t)seed;
	}
}

START_TEST(test_ctls_handshake_10mb_both_ways)
{
	struct end cli = {0}, srv = {0};
	uint8_t *a = malloc(DATA_LEN), *b = malloc(DATA_LEN);
	size_t off, n;

	fill(a, DATA_LEN, 0x1234567u);
	fill(b, DATA_LEN, 0x7654321u);
	connect_ends(&cli, &srv, "node1", "node2");
	/* Written before the handshake: held, then sent first once it ends. */
	ck_assert_int_eq(ctls_write(cli.t, a, 1000, &cli.out), 0);
	ck_assert_uint_gt(cli.out.len, 0); /* the ClientHello only */
	ck_assert(!ctls_ready(cli.t));
	pump(&cli, &srv, 1500);
	ck_assert_msg(ctls_ready(cli.t) && ctls_ready(srv.t), "cli '%s' srv '%s'",
	              ctls_error(cli.t), ctls_error(srv.t));
	ck_assert_str_eq(ctls_error(cli.t), "");
	ck_assert_uint_eq(srv.plain.len, 1000);
	/* The rest at once one way, in odd-sized writes the other, both before any pumping. */
	ck_assert_int_eq(ctls_write(cli.t, a + 1000, DATA_LEN - 1000, &cli.out), 0);
	for (off = 0; off < DATA_LEN; off += n) {
		n = DATA_LEN - off < 100003 ? DATA_LEN - off : 100003;
		ck_assert_int_eq(ctls_write(srv.t, b + off, n, &srv.out), 0);
	}
	pump(&cli, &srv, 12345);
	ck_assert_int_eq(cli.rc, 0);
	ck_assert_int_eq(srv.rc, 0);
	ck_assert_uint_eq(srv.plain.len, DATA_LEN);
	ck_assert_uint_eq(cli.plain.len, DATA_LEN);
	ck_assert(memcmp(srv.plain.data, a, DATA_LEN) == 0);
	ck_assert(memcmp(cli.plain.data, b, DATA_LEN) == 0);
	end_fini(&cli);
	end_fini(&srv);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_ctls_big_write_full_records)
{
	struct end cli = {0}, srv = {0};
	size_t len = 1u << 20, off, records = 0;
	uint8_t *a = malloc(len);

	fill(a, len, 42);
	connect_ends(&cli, &srv, "node1", "node2");
	pump(&cli, &srv, 65536);
	ck_assert(ctls_ready(cli.t) && ctls_ready(srv.t));
	ck_assert_int_eq(ctls_write(cli.t, a, len, &cli.out), 0);
	/* Record headers: type, version, 16-bit length. 1 MiB is 64 full records, no more. */
	for (off = 0; off + 5 <= cli.out.len; records++)
		off += 5 + ((size_t)cli.out.data[off + 3] << 8 | cli.out.data[off + 4]);
	ck_assert_uint_eq(off, cli.out.len);
	ck_assert_uint_eq(records, len / 16384);
	ck_assert_uint_le(cli.out.len, len + records * 29);
	pump(&cli, &srv, 4096);
	ck_assert_uint_eq(srv.plain.len, len);
	ck_assert(memcmp(srv.plain.data, a, len) == 0);
	end_fini(&cli);
	end_fini(&srv);
	free(a);
}
END_TEST

/* rogue's certificate is signed by another CA; it trusts the cluster CA itself, so only the
 * cluster node's check stops the link. _i: 0 rogue dials, 1 rogue accepts. */
START_TEST(test_ctls_other_ca_refused)
{
	struct end cli = {0}, srv = {0};
	struct end *node = _i == 0 ? &srv : &cli, *rogue = _i == 0 ? &cli : &srv;
	static const uint8_t secret[] = "the routes";

	connect_ends(&cli, &srv, _i == 0 ? "rogue" : "node1", _i == 0 ? "node2" : "rogue");
	ck_assert_int_eq(ctls_write(cli.t, secret, sizeof(secret), &cli.out), 0);
	ck_assert_int_eq(ctls_write(srv.t, secret, sizeof(secret), &srv.out), 0);
	pump(&cli, &srv, 4096);
	ck_assert_int_eq(node->rc, -EPROTO);
	ck_assert_msg(strstr(ctls_error(node->t), "certificate verify failed") != NULL &&
	                      strstr(ctls_error(node->t), "unable to get local issuer") != NULL,
	              "node: '%s'", ctls_error(node->t));
	/* The rogue end learns it from the alert. */
	ck_assert_int_eq(rogue->rc, -EPROTO);
	ck_assert_msg(strstr(ctls_error(rogue->t), "alert unknown ca") != NULL, "rogue: '%s'",
	              ctls_error(rogue->t));
	ck_assert(!ctls_ready(cli.t) && !ctls_ready(srv.t));
	ck_assert_uint_eq(node->plain.len, 0);
	ck_assert_uint_eq(rogue->plain.len, 0);
	ck_assert_int_eq(ctls_write(node->t, secret, sizeof(secret), &node->out), -EPROTO);
	end_fini(&cli);
	end_fini(&srv);
}
END_TEST

START_TEST(test_ctls_client_without_cert_refused)
{
	struct end cli = {0}, srv = {0};
	struct ctls_ctx *sc = ctx_of("node2");

	raw_client(&cli);
	srv.t = ctls_new(sc, true);
	ctls_ctx_free(sc);
	ck_assert_int_eq(raw_feed(&cli, NULL, 0), 0); /* the ClientHello */
	pump(&cli, &srv, 4096);
	ck_assert_int_eq(srv.rc, -EPROTO);
	ck_assert_msg(strstr(ctls_error(srv.t), "peer did not return a certificate") != NULL,
	              "'%s'", ctls_error(srv.t));
	ck_assert(!ctls_ready(srv.t));
	ck_assert_int_eq(cli.rc, -EPROTO);
	ck_assert_msg(strstr(cli.why, "certificate required") != NULL, "client: '%s'", cli.why);
	end_fini(&cli);
	end_fini(&srv);
}
END_TEST

enum garbage_kind { G_HTTP, G_FF, G_RANDOM, G_FORGED };
static const struct garbage_case {
	const char *name;
	bool to_server;
	bool after_handshake;
	enum garbage_kind kind;
} garbage_cases[] = {
        {"http request to a server", true, false, G_HTTP},
        {"0xff bytes to a server", true, false, G_FF},
        {"1 MiB random to a server", true, false, G_RANDOM},
        {"http text to a client", false, false, G_HTTP},
        {"forged record to a server", true, true, G_FORGED},
        {"forged record to a client", false, true, G_FORGED},
        {"random to a client after the handshake", false, true, G_RANDOM},
};

/* The garbage of kind k in b. */
static void
garbage(struct sl_buf *b, enum garbage_kind k)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: node2\r\n\r\n";
	static const uint8_t forged[5] = {23, 3, 3, 0, 64}; /* application_data, 64 bytes */

	b->len = 0;
	if (k == G_HTTP) {
		ck_assert_int_eq(sl_buf_append(b, http, strlen(http)), 0);
		return;
	}
	ck_assert_int_eq(sl_buf_reserve(b, 1u << 20), 0);
	b->len = k == G_RANDOM ? 1u << 20 : k == G_FORGED ? sizeof(forged) + 64 : 64;
	fill(b->data, b->len, 99);
	if (k == G_FF)
		memset(b->data, 0xff, b->len);
	if (k == G_FORGED)
		memcpy(b->data, forged, sizeof(forged));
}

START_TEST(test_ctls_garbage)
{
	const struct garbage_case *gc = &garbage_cases[_i];
	struct end cli = {0}, srv = {0};
	struct sl_buf junk = SL_BUF_INIT;
	struct end *victim = gc->to_server ? &srv : &cli;
	int rc;

	connect_ends(&cli, &srv, "node1", "node2");
	if (gc->after_handshake)
		pump(&cli, &srv, 4096);
	ck_assert(ctls_ready(victim->t) == gc->after_handshake);
	garbage(&junk, gc->kind);
	rc = ctls_read(victim->t, junk.data, junk.len, &victim->plain, &victim->out);
	ck_assert_msg(rc == -EPROTO, "%s: rc %d", gc->name, rc);
	ck_assert_msg(ctls_error(victim->t)[0] != '\0', "%s: no reason", gc->name);
	ck_assert_uint_eq(victim->plain.len, 0);
	ck_assert(!ctls_ready(victim->t));
	/* Failed for good: the same error for everything after. */
	ck_assert_int_eq(ctls_read(victim->t, junk.data, 10, &victim->plain, &victim->out),
	                 -EPROTO);
	ck_assert_int_eq(ctls_write(victim->t, junk.data, 10, &victim->out), -EPROTO);
	sl_buf_fini(&junk);
	end_fini(&cli);
	end_fini(&srv);
}
END_TEST

static const struct ctx_case {
	const char *name;
	const char *ca, *cert, *key;
	const char *want1, *want2; /* in err */
} ctx_cases[] = {
        {"missing cafile", "nosuch.pem", "node1.pem", "node1.key", "cafile", "No such file"},
        {"missing certfile", "ca.pem", "nosuch.pem", "node1.key", "certfile", "No such file"},
        {"missing keyfile", "ca.pem", "node1.pem", "nosuch.key", "keyfile", "No such file"},
        {"key of another cert", "ca.pem", "node1.pem", "node2.key", "node2.key",
         "does not match certfile"},
        {"cafile not a certificate", "node1.key", "node1.pem", "node1.key", "cafile", "node1.key"},
        {"certfile not a certificate", "ca.pem", "node1.key", "node1.key", "certfile",
         "no PEM block"},
        {"keyfile not a key", "ca.pem", "node1.pem", "node1.pem", "keyfile", "no PEM block"},
        {"empty keyfile", "ca.pem", "node1.pem", "node.ext", "keyfile", "no PEM block"},
        {"no cafile", NULL, "node1.pem", "node1.key", "cafile", "required"},
};

START_TEST(test_ctls_ctx_new_errors)
{
	const struct ctx_case *cc = &ctx_cases[_i];
	char ca[512] = "", cert[512], key[512], err[256] = "";

	if (cc->ca != NULL)
		snprintf(ca, sizeof(ca), "%s", pki(cc->ca));
	snprintf(cert, sizeof(cert), "%s", pki(cc->cert));
	snprintf(key, sizeof(key), "%s", pki(cc->key));
	ck_assert_ptr_null(ctls_ctx_new(cc->ca != NULL ? ca : NULL, cert, key, err, sizeof(err)));
	ck_assert_msg(strstr(err, cc->want1) != NULL && strstr(err, cc->want2) != NULL, "%s: '%s'",
	              cc->name, err);
}
END_TEST

Suite *
ctls_suite(void)
{
	Suite *s = suite_create("ctls");
	TCase *tc = tcase_create("ctls");

	tcase_add_unchecked_fixture(tc, pki_setup, pki_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ctls_handshake_10mb_both_ways);
	tcase_add_test(tc, test_ctls_big_write_full_records);
	tcase_add_loop_test(tc, test_ctls_other_ca_refused, 0, 2);
	tcase_add_test(tc, test_ctls_client_without_cert_refused);
	tcase_add_loop_test(tc, test_ctls_garbage, 0,
	                    (int)(sizeof(garbage_cases) / sizeof(garbage_cases[0])));
	tcase_add_loop_test(tc, test_ctls_ctx_new_errors, 0,
	                    (int)(sizeof(ctx_cases) / sizeof(ctx_cases[0])));
	suite_add_tcase(s, tc);
	return s;
}
