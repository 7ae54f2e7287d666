/* Tests for broker/proxy.c: PROXY protocol v1 and v2 headers (HAProxy's proxy-protocol.txt). */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "broker/transport/proxy.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct v1_case {
	const char *name;
	const char *in;
	int rc;           /* -1: the whole line's length */
	const char *addr; /* expected when rc > 0 */
};

static const struct v1_case v1_cases[] = {
        {"tcp4", "PROXY TCP4 192.0.2.1 198.51.100.2 51000 1883\r\nMQTT", -1, "192.0.2.1"},
        {"tcp6", "PROXY TCP6 2001:db8::1 2001:db8::2 51000 1883\r\n", -1, "2001:db8::1"},
        {"unknown", "PROXY UNKNOWN\r\n", -1, ""},
        {"unknown with addresses", "PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n", -1, ""},
        {"partial", "PROXY TCP4 192.0.2.1 19", 0, NULL},
        {"partial prefix", "PRO", 0, NULL},
        {"partial before LF", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r", 0, NULL},
        {"not proxy", "\x10\x0c\x00\x04MQTT", -EPROTO, NULL},
        {"lower case", "proxy TCP4 1.2.3.4 1.2.3.5 1 2\r\n", -EPROTO, NULL},
        {"bad family", "PROXY UDP4 1.2.3.4 1.2.3.5 1 2\r\n", -EPROTO, NULL},
        {"v6 address as TCP4", "PROXY TCP4 ::1 ::1 1 2\r\n", -EPROTO, NULL},
        {"bad address", "PROXY TCP4 1.2.3.400 1.2.3.5 1 2\r\n", -EPROTO, NULL},
        {"port too big", "PROXY TCP4 1.2.3.4 1.2.3.5 65536 2\r\n", -EPROTO, NULL},
        {"port leading zero", "PROXY TCP4 1.2.3.4 1.2.3.5 01 2\r\n", -EPROTO, NULL},
        {"missing port", "PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n", -EPROTO, NULL},
        {"extra field", "PROXY TCP4 1.2.3.4 1.2.3.5 1 2 3\r\n", -EPROTO, NULL},
        {"double space", "PROXY TCP4  1.2.3.4 1.2.3.5 1 2\r\n", -EPROTO, NULL},
        {"bare LF", "PROXY TCP4 1.2.3.4 1.2.3.5 1 2\n", 0, NULL},
        {"control byte", "PROXY TCP4 1.2.3.4\x01 1.2.3.5 1 2\r\n", -EPROTO, NULL},
        {"no CRLF in 107 bytes",
         "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:"
         "ffff 65535 65535 and more",
         -EPROTO, NULL},
};

START_TEST(test_v1_table) /* cases: see v1_cases */
{
	const struct v1_case *vc = &v1_cases[_i];
	const char *crlf = strstr(vc->in, "\r\n");
	int want = vc->rc == -1 ? (int)(crlf - vc->in) + 2 : vc->rc;
	struct proxy_hdr h;
	int rc = proxy_parse((const uint8_t *)vc->in, strlen(vc->in), &h);

	ck_assert_msg(rc == want, "%s: rc %d, want %d", vc->name, rc, want);
	if (want > 0) {
		ck_assert_int_eq(h.version, 1);
		ck_assert_str_eq(h.addr, vc->addr);
		ck_assert(!h.ssl && h.cn.len == 0);
	}
}
END_TEST

START_TEST(test_v1_longest_line)
{
	/* 107 bytes exactly: the longest line the spec allows (2.1); one more is refused. */
	const char *in = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	                 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	const char *over = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	                   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355\r\n";
	struct proxy_hdr h;

	ck_assert_int_eq(strlen(in), 107);
	ck_assert_int_eq(proxy_parse((const uint8_t *)in, strlen(in), &h), 107);
	ck_assert_str_eq(h.addr, "");
	ck_assert_int_eq(proxy_parse((const uint8_t *)over, strlen(over), &h), -EPROTO);
}
END_TEST

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* Builds a v2 header: ver_cmd, fam, body (addresses + TLVs). Returns its length. */
static size_t
v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *body, size_t blen)
{
	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(blen >> 8);
	out[15] = (uint8_t)blen;
	if (blen > 0)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

static const uint8_t inet4[12] = {192, 0, 2, 7, 10, 0, 0, 1, 0xc3, 0x50, 0x07, 0x5b};

START_TEST(test_v2_inet4_and_split_reads)
{
	uint8_t buf[64];
	size_t len = v2(buf, 0x21, 0x11, inet4, sizeof(inet4)), i;
	struct proxy_hdr h;

	for (i = 0; i < len; i++) /* every prefix: need more */
		ck_assert_int_eq(proxy_parse(buf, i, &h), 0);
	buf[len] = 0x10; /* the MQTT CONNECT that follows is not part of it */
	ck_assert_int_eq(proxy_parse(buf, len + 1, &h), (int)len);
	ck_assert_int_eq(h.version, 2);
	ck_assert_str_eq(h.addr, "192.0.2.7");
}
END_TEST

START_TEST(test_v2_inet6)
{
	uint8_t body[36] = {0x20, 0x01, 0x0d, 0xb8}, buf[64];
	size_t len;
	struct proxy_hdr h;

	body[15] = 1;
	len = v2(buf, 0x21, 0x21, body, sizeof(body));
	ck_assert_int_eq(proxy_parse(buf, len, &h), (int)len);
	ck_assert_str_eq(h.addr, "2001:db8::1");
}
END_TEST

START_TEST(test_v2_local_keeps_own_address)
{
	uint8_t buf[64];
	size_t len = v2(buf, 0x20, 0x11, inet4, sizeof(inet4));
	struct proxy_hdr h;

	/* LOCAL (a health check from the proxy itself): addresses are ignored. */
	ck_assert_int_eq(proxy_parse(buf, len, &h), (int)len);
	ck_assert_str_eq(h.addr, "");
	len = v2(buf, 0x21, 0x00, NULL, 0); /* PROXY, AF_UNSPEC */
	ck_assert_int_eq(proxy_parse(buf, len, &h), (int)len);
	ck_assert_str_eq(h.addr, "");
}
END_TEST

/* An address block plus a PP2_TYPE_SSL TLV with client bits, verify, and a CN sub-TLV. */
static size_t
ssl_hdr(uint8_t *buf, uint8_t client, uint32_t verify, const char *cn)
{
	uint8_t body[256];
	size_t cl = strlen(cn), ssl_len = 5 + 3 + 7 + 3 + cl, off = 0;

	memcpy(body, inet4, 12);
	off = 12;
	body[off++] = 0x04; /* PP2_TYPE_NOOP first: skipped */
	body[off++] = 0;
	body[off++] = 2;
	body[off++] = 0;
	body[off++] = 0;
	body[off++] = 0x20; /* PP2_TYPE_SSL */
	body[off++] = (uint8_t)(ssl_len >> 8);
	body[off++] = (uint8_t)ssl_len;
	body[off++] = client;
	body[off++] = (uint8_t)(verify >> 24);
	body[off++] = (uint8_t)(verify >> 16);
	body[off++] = (uint8_t)(verify >> 8);
	body[off++] = (uint8_t)verify;
	body[off++] = 0x21; /* PP2_SUBTYPE_SSL_VERSION */
	body[off++] = 0;
	body[off++] = 7;
	memcpy(body + off, "TLSv1.3", 7);
	off += 7;
	body[off++] = 0x22; /* PP2_SUBTYPE_SSL_CN */
	body[off++] = 0;
	body[off++] = (uint8_t)cl;
	memcpy(body + off, cn, cl);
	off += cl;
	return v2(buf, 0x21, 0x11, body, off);
}

START_TEST(test_v2_ssl_cn)
{
	uint8_t buf[300];
	size_t len = ssl_hdr(buf, 0x07, 0, "alice");
	struct proxy_hdr h;

	ck_assert_int_eq(proxy_parse(buf, len, &h), (int)len);
	ck_assert(h.ssl && h.cn_verified);
	ck_assert_int_eq(h.cn.len, 5);
	ck_assert(memcmp(h.cn.p, "alice", 5) == 0);
	ck_assert_str_eq(h.addr, "192.0.2.7");
}
END_TEST

START_TEST(test_v2_ssl_cn_unverified)
{
	uint8_t buf[300];
	size_t len = ssl_hdr(buf, 0x03, 1, "alice"); /* verify failed */
	struct proxy_hdr h;

	ck_assert_int_eq(proxy_parse(buf, len, &h), (int)len);
	ck_assert(h.ssl && !h.cn_verified);
	len = ssl_hdr(buf, 0x01, 0, "alice"); /* TLS, but no client certificate */
	ck_assert_int_eq(proxy_parse(buf, len, &h), (int)len);
	ck_assert(h.ssl && !h.cn_verified);
}
END_TEST

START_TEST(test_v2_malformed)
{
	uint8_t buf[300], bad_tlv[15];
	size_t len;
	struct proxy_hdr h;

	len = v2(buf, 0x11, 0x11, inet4, 12); /* version 1 in a v2 signature */
	ck_assert_int_eq(proxy_parse(buf, len, &h), -EPROTO);
	len = v2(buf, 0x22, 0x11, inet4, 12); /* command 2 */
	ck_assert_int_eq(proxy_parse(buf, len, &h), -EPROTO);
	len = v2(buf, 0x21, 0x11, inet4, 8); /* address block cut short */
	ck_assert_int_eq(proxy_parse(buf, len, &h), -EPROTO);
	len = v2(buf, 0x21, 0x41, inet4, 12); /* family 4 */
	ck_assert_int_eq(proxy_parse(buf, len, &h), -EPROTO);
	memcpy(bad_tlv, inet4, 12);
	bad_tlv[12] = 0x20; /* a TLV longer than what is left */
	bad_tlv[13] = 0;
	bad_tlv[14] = 9;
	len = v2(buf, 0x21, 0x11, bad_tlv, sizeof(bad_tlv));
	ck_assert_int_eq(proxy_parse(buf, len, &h), -EPROTO);
	len = ssl_hdr(buf, 0x07, 0, "alice");
	buf[16 + 12 + 5 + 2] -= 1; /* SSL TLV one byte shorter: its CN sub-TLV overruns */
	ck_assert_int_eq(proxy_parse(buf, len, &h), -EPROTO);
}
END_TEST

START_TEST(test_v2_oversized)
{
	uint8_t buf[16];

	memcpy(buf, sig, 12);
	buf[12] = 0x21;
	buf[13] = 0x11;
	buf[14] = 0xff; /* 65535 bytes announced: over PROXY_MAX, refused before reading them */
	buf[15] = 0xff;
	struct proxy_hdr h;
	ck_assert_int_eq(proxy_parse(buf, sizeof(buf), &h), -EMSGSIZE);
}
END_TEST

Suite *
proxy_suite(void)
{
	Suite *s = suite_create("proxy");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_v1_table, 0, N(v1_cases));
	tcase_add_test(tc, test_v1_longest_line);
	tcase_add_test(tc, test_v2_inet4_and_split_reads);
	tcase_add_test(tc, test_v2_inet6);
	tcase_add_test(tc, test_v2_local_keeps_own_address);
	tcase_add_test(tc, test_v2_ssl_cn);
	tcase_add_test(tc, test_v2_ssl_cn_unverified);
	tcase_add_test(tc, test_v2_malformed);
	tcase_add_test(tc, test_v2_oversized);
	suite_add_tcase(s, tc);
	return s;
}
