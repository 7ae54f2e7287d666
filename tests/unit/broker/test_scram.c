/* Tests for broker/scram.c: RFC 7677's SCRAM-SHA-256 test vector, the same exchange with
 * SHA-512 (values computed with Python's hashlib/hmac, whose Hi() loop was checked against
 * hashlib.pbkdf2_hmac), wrong proofs, and malformed or unsupported messages. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "broker/auth/b64.h"
#include "broker/auth/scram.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* RFC 7677 3: user "user", password "pencil". */
#define CFIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define NONCE "rOprNGfwEbeRWgbNEkqO" SNONCE
#define SALT64 "W22ZaJ0SNY7soEsUEjb6gQ=="
#define SFIRST "r=" NONCE ",s=" SALT64 ",i=4096"
#define CFINAL_NOPROOF "c=biws,r=" NONCE

struct vector {
	enum scram_mech mech;
	const char *proof;        /* base64 ClientProof */
	const char *server_final; /* "v=..." */
};

static const struct vector vectors[] = {
        {SCRAM_SHA_256, "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
         "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
        {SCRAM_SHA_512,
         "gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ==",
         "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/"
         "AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw=="},
};

static struct sl_bytes
b(const char *s)
{
	return sl_bytes_make(s, (uint32_t)strlen(s));
}

/* The credentials for "pencil" with the vector's salt and 4096 iterations. */
static void
pencil(enum scram_mech m, struct scram_cred *cred)
{
	uint8_t salted[SCRAM_MAX_HASH];
	int n;

	memset(cred, 0, sizeof(*cred));
	n = b64_decode(SALT64, strlen(SALT64), B64_PAD_REQUIRED, cred->salt, sizeof(cred->salt));
	ck_assert_int_eq(n, 16);
	cred->salt_len = (uint32_t)n;
	cred->iterations = 4096;
	ck_assert_int_eq(scram_salted_password(m, "pencil", 6, cred->salt, 16, 4096, salted), 0);
	ck_assert_int_eq(scram_keys(m, salted, cred), 0);
}

/* Runs steps 1 and 2 of the vector's exchange on a new struct scram. */
static struct scram *
up_to_server_first(enum scram_mech m)
{
	struct sl_buf out = SL_BUF_INIT;
	struct scram_cred cred;
	struct scram *s = scram_new(m);
	const char *user = NULL;

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(scram_client_first(s, b(CFIRST), &user), 0);
	ck_assert_str_eq(user, "user");
	pencil(m, &cred);
	ck_assert_int_eq(scram_server_first(s, &cred, SNONCE, &out), 0);
	ck_assert_uint_eq(out.len, strlen(SFIRST));
	ck_assert(memcmp(out.data, SFIRST, out.len) == 0);
	sl_buf_fini(&out);
	return s;
}

START_TEST(test_vectors) /* cases: RFC 7677 SCRAM-SHA-256, the same with SHA-512 */
{
	const struct vector *v = &vectors[_i];
	struct sl_buf out = SL_BUF_INIT;
	struct scram *s = up_to_server_first(v->mech);
	char final[256];

	snprintf(final, sizeof(final), "%s,p=%s", CFINAL_NOPROOF, v->proof);
	ck_assert_int_eq(scram_client_final(s, b(final), &out), 0);
	ck_assert_uint_eq(out.len, strlen(v->server_final));
	ck_assert(memcmp(out.data, v->server_final, out.len) == 0);
	/* An exchange is over after its final message. */
	ck_assert_int_eq(scram_client_final(s, b(final), &out), -EINVAL);
	sl_buf_fini(&out);
	scram_free(s);
}
END_TEST

START_TEST(test_wrong_proof) /* one bit off, or the other mechanism's proof */
{
	const struct vector *v = &vectors[_i];
	struct sl_buf out = SL_BUF_INIT;
	struct scram *s = up_to_server_first(v->mech);
	char final[256], *p;

	snprintf(final, sizeof(final), "%s,p=%s", CFINAL_NOPROOF, v->proof);
	p = strstr(final, ",p=") + 3;
	p[0] = p[0] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(scram_client_final(s, b(final), &out), -EACCES);
	ck_assert_uint_eq(out.len, 0);
	scram_free(s);
	s = up_to_server_first(v->mech);
	snprintf(final, sizeof(final), "%s,p=%s", CFINAL_NOPROOF, vectors[1 - _i].proof);
	ck_assert_int_eq(scram_client_final(s, b(final), &out), -EINVAL); /* length differs */
	scram_free(s);
	sl_buf_fini(&out);
}
END_TEST

struct first_case {
	const char *name, *msg;
	int rc;
	const char *user;
};

static const struct first_case first_cases[] = {
        {"plain", "n,,n=user,r=abc", 0, "user"},
        {"y flag", "y,,n=user,r=abc", 0, "user"},
        {"escaped name", "n,,n=a=2Cb=3Dc,r=x", 0, "a,b=c"},
        {"utf-8 name", "n,,n=J\xc3\xb6rg,r=x", 0, "J\xc3\xb6rg"},
        {"extension", "n,,n=user,r=abc,x=1", 0, "user"},
        {"channel binding", "p=tls-unique,,n=user,r=abc", -ENOTSUP, NULL},
        {"authzid", "n,a=admin,n=user,r=abc", -ENOTSUP, NULL},
        {"mandatory extension", "n,,m=x,n=user,r=abc", -ENOTSUP, NULL},
        {"empty", "", -EINVAL, NULL},
        {"bad flag", "x,,n=user,r=abc", -EINVAL, NULL},
        {"no gs2 header", "n=user,r=abc", -EINVAL, NULL},
        {"gs2 header only", "n,,", -EINVAL, NULL},
        {"empty name", "n,,n=,r=abc", -EINVAL, NULL},
        {"bad escape", "n,,n=a=2Db,r=abc", -EINVAL, NULL},
        {"short escape", "n,,n=ab=2,r=abc", -EINVAL, NULL},
        {"bad utf-8", "n,,n=\xc3,r=abc", -EINVAL, NULL},
        {"no nonce", "n,,n=user", -EINVAL, NULL},
        {"empty nonce", "n,,n=user,r=", -EINVAL, NULL},
        {"nonce with a blank", "n,,n=user,r=a b", -EINVAL, NULL},
        {"nonce first", "n,,r=abc,n=user", -EINVAL, NULL},
        {"bad extension", "n,,n=user,r=abc,junk", -EINVAL, NULL},
};

START_TEST(test_client_first) /* the client-first-message grammar, table of cases */
{
	const struct first_case *fc = &first_cases[_i];
	struct scram *s = scram_new(SCRAM_SHA_256);
	const char *user = NULL;
	int rc = scram_client_first(s, b(fc->msg), &user);

	ck_assert_msg(rc == fc->rc, "%s: rc %d, want %d", fc->name, rc, fc->rc);
	if (fc->user != NULL)
		ck_assert_str_eq(user, fc->user);
	scram_free(s);
}
END_TEST

START_TEST(test_client_first_nul) /* a NUL byte anywhere is refused */
{
	static const char msg[] = "n,,n=us\0er,r=abc";
	struct scram *s = scram_new(SCRAM_SHA_512);
	const char *user = NULL;

	ck_assert_int_eq(scram_client_first(s, sl_bytes_make(msg, sizeof(msg) - 1), &user),
	                 -EINVAL);
	scram_free(s);
}
END_TEST

static const char *const bad_finals[] = {
        "",                                       /* empty */
        CFINAL_NOPROOF,                           /* no proof */
        CFINAL_NOPROOF ",p=",                     /* empty proof */
        CFINAL_NOPROOF ",p=dHzbZapWIk4jUhN+Ute9", /* short proof */
        "c=eSws,r=" NONCE ",p=AAAA",              /* gs2 header "y,," is not what came */
        "c=biws,r=rOprNGfwEbeRWgbNEkqO,p=AAAA",   /* the client's nonce alone */
        "r=" NONCE ",c=biws,p=AAAA",              /* out of order */
        CFINAL_NOPROOF ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",      /* no padding */
        CFINAL_NOPROOF ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,x=1", /* p= not last */
};

START_TEST(test_client_final_malformed) /* table: each is -EINVAL, not -EACCES */
{
	struct sl_buf out = SL_BUF_INIT;
	struct scram *s = up_to_server_first(SCRAM_SHA_256);

	ck_assert_msg(scram_client_final(s, b(bad_finals[_i]), &out) == -EINVAL, "case %d", _i);
	ck_assert_uint_eq(out.len, 0);
	scram_free(s);
}
END_TEST

START_TEST(test_order_and_random_nonce) /* steps out of order; a random nonce starts as sent */
{
	struct sl_buf out = SL_BUF_INIT;
	struct scram_cred cred;
	struct scram *s = scram_new(SCRAM_SHA_256);
	const char *user = NULL;

	pencil(SCRAM_SHA_256, &cred);
	ck_assert_int_eq(scram_server_first(s, &cred, NULL, &out), -EINVAL);
	ck_assert_int_eq(scram_client_final(s, b(CFINAL_NOPROOF ",p=AAAA"), &out), -EINVAL);
	ck_assert_int_eq(scram_client_first(s, b(CFIRST), &user), 0);
	ck_assert_int_eq(scram_client_first(s, b(CFIRST), &user), -EINVAL);
	ck_assert_int_eq(scram_server_first(s, &cred, NULL, &out), 0);
	/* "r=" + client nonce (20) + 24 base64 characters + ",s=" + salt + ",i=4096" */
	ck_assert_uint_eq(out.len, 2 + 20 + 24 + 3 + strlen(SALT64) + 7);
	ck_assert(memcmp(out.data, "r=rOprNGfwEbeRWgbNEkqO", 22) == 0);
	ck_assert(memchr(out.data + 22, ',', 24) == NULL);
	sl_buf_fini(&out);
	scram_free(s);
}
END_TEST

START_TEST(test_mech_names)
{
	ck_assert_int_eq(scram_mech_parse(b("SCRAM-SHA-256")), SCRAM_SHA_256);
	ck_assert_int_eq(scram_mech_parse(b("SCRAM-SHA-512")), SCRAM_SHA_512);
	ck_assert_int_eq(scram_mech_parse(b("scram-sha-256")), -1);
	ck_assert_int_eq(scram_mech_parse(b("SCRAM-SHA-1")), -1);
	ck_assert_int_eq(scram_mech_parse(b("SCRAM-SHA-256-PLUS")), -1);
	ck_assert_str_eq(scram_mech_name(SCRAM_SHA_512), "SCRAM-SHA-512");
	ck_assert_uint_eq(scram_hash_len(SCRAM_SHA_256), 32);
}
END_TEST

Suite *
scram_suite(void)
{
	Suite *s = suite_create("scram");
	TCase *tc = tcase_create("scram");

	tcase_add_loop_test(tc, test_vectors, 0, N(vectors));
	tcase_add_loop_test(tc, test_wrong_proof, 0, N(vectors));
	tcase_add_loop_test(tc, test_client_first, 0, N(first_cases));
	tcase_add_test(tc, test_client_first_nul);
	tcase_add_loop_test(tc, test_client_final_malformed, 0, N(bad_finals));
	tcase_add_test(tc, test_order_and_random_nonce);
	tcase_add_test(tc, test_mech_names);
	suite_add_tcase(s, tc);
	return s;
}
