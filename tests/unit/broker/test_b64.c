/* Tests for broker/b64.c: the alphabet, padding required and optional, non-canonical trailing
 * bits, output that does not fit. */
#include <check.h>
#include <string.h>

#include "broker/auth/b64.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct b64_case {
	const char *name;
	const char *in;
	enum b64_pad pad;
	size_t cap;
	int rc;          /* the byte count, or -1 */
	const char *out; /* expected when rc > 0 */
};

static const struct b64_case b64_cases[] = {
        {"empty", "", B64_PAD_REQUIRED, 8, 0, NULL},
        {"three bytes", "biws", B64_PAD_REQUIRED, 8, 3, "n,,"},
        {"two pad", "YQ==", B64_PAD_REQUIRED, 8, 1, "a"},
        {"one pad", "YWI=", B64_PAD_REQUIRED, 8, 2, "ab"},
        {"all symbols", "+/+/", B64_PAD_REQUIRED, 8, 3, "\xfb\xff\xbf"},
        {"stray bits", "YR==", B64_PAD_REQUIRED, 8, -1, NULL},
        {"no padding", "YQ", B64_PAD_REQUIRED, 8, -1, NULL},
        {"blank", "Y Q=", B64_PAD_REQUIRED, 8, -1, NULL},
        {"url alphabet", "-_-_", B64_PAD_REQUIRED, 8, -1, NULL},
        {"only padding", "====", B64_PAD_REQUIRED, 8, -1, NULL},
        {"padding inside", "YQ==YQ==", B64_PAD_REQUIRED, 8, -1, NULL},
        {"9 bytes into 8", "AAAAAAAAAAAA", B64_PAD_REQUIRED, 8, -1, NULL},
        {"fits exactly", "AAAAAAAAAAA=", B64_PAD_REQUIRED, 8, 8, "\0\0\0\0\0\0\0\0"},
        {"optional: empty", "", B64_PAD_OPTIONAL, 8, 0, NULL},
        {"optional: padded", "YQ==", B64_PAD_OPTIONAL, 8, 1, "a"},
        {"optional: unpadded", "YQ", B64_PAD_OPTIONAL, 8, 1, "a"},
        {"optional: unpadded two", "YWI", B64_PAD_OPTIONAL, 8, 2, "ab"},
        {"optional: stray bits", "YR", B64_PAD_OPTIONAL, 8, -1, NULL},
        {"optional: one char", "Y", B64_PAD_OPTIONAL, 8, -1, NULL},
        {"optional: short padding", "YQ=", B64_PAD_OPTIONAL, 8, -1, NULL},
        {"optional: three pads", "YQ===", B64_PAD_OPTIONAL, 8, -1, NULL},
        {"optional: padding after 4", "YWJj==", B64_PAD_OPTIONAL, 8, -1, NULL},
        {"optional: blank", "Y Q", B64_PAD_OPTIONAL, 8, -1, NULL},
        {"optional: too long", "AAAAAAAAAAAA", B64_PAD_OPTIONAL, 8, -1, NULL},
};

START_TEST(test_decode) /* cases: b64_cases */
{
	const struct b64_case *bc = &b64_cases[_i];
	uint8_t out[16];
	int rc;

	memset(out, 0xee, sizeof(out));
	rc = b64_decode(bc->in, strlen(bc->in), bc->pad, out, bc->cap);
	ck_assert_msg(rc == bc->rc, "%s: rc %d, want %d", bc->name, rc, bc->rc);
	if (bc->rc > 0)
		ck_assert_msg(memcmp(out, bc->out, (size_t)bc->rc) == 0, "%s: wrong bytes",
		              bc->name);
	ck_assert_msg(out[bc->cap] == 0xee, "%s: wrote past cap", bc->name);
}
END_TEST

Suite *
b64_suite(void)
{
	Suite *s = suite_create("b64");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_decode, 0, N(b64_cases));
	suite_add_tcase(s, tc);
	return s;
}
