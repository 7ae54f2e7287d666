/* Tests for broker/ws.c: the WebSocket upgrade and the in-place frame decoder. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "broker/transport/ws.h"
#include "proto/base/sl_buf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Whether b holds the text s (memmem is a GNU extension). */
static bool
contains(const struct sl_buf *b, const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; i + n <= b->len; i++)
		if (memcmp(b->data + i, s, n) == 0)
			return true;
	return false;
}

START_TEST(test_accept_key_rfc6455_1_3)
{
	char accept[29];

	/* The worked example of RFC 6455 section 1.3. */
	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, accept);
	ck_assert_str_eq(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

#define REQ_HEAD                                                                                   \
	"GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"                          \
	"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"       \
	"Sec-WebSocket-Version: 13\r\n"

struct hs_case {
	const char *name;
	const char *req;
	int rc;
	const char *proto; /* the subprotocol selected when rc == 1 */
};

static const struct hs_case hs_cases[] = {
        {"mqtt", REQ_HEAD "Sec-WebSocket-Protocol: mqtt\r\n\r\n", 1, "mqtt"},
        {"mqtt in a list", REQ_HEAD "Sec-WebSocket-Protocol: x, mqtt , y\r\n\r\n", 1, "mqtt"},
        {"mqtt preferred", REQ_HEAD "Sec-WebSocket-Protocol: mqttv3.1, mqtt\r\n\r\n", 1, "mqtt"},
        {"mqttv3.1", REQ_HEAD "Sec-WebSocket-Protocol: mqttv3.1\r\n\r\n", 1, "mqttv3.1"},
        {"repeated header",
         REQ_HEAD "Sec-WebSocket-Protocol: x\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n", 1, "mqtt"},
        {"header names any case", REQ_HEAD "sec-websocket-PROTOCOL: mqtt\r\n\r\n", 1, "mqtt"},
        {"no subprotocol mqtt_6_0_0_3", REQ_HEAD "\r\n", -EPROTO, NULL},
        {"other subprotocol", REQ_HEAD "Sec-WebSocket-Protocol: chat\r\n\r\n", -EPROTO, NULL},
        {"POST",
         "POST /mqtt HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
         -EPROTO, NULL},
        {"no upgrade", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", -EPROTO, NULL},
        {"version 8",
         "GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
         "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
         -EPROTO, NULL},
        {"short key",
         "GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
         -EPROTO, NULL},
        {"not http", "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00", -EPROTO, NULL},
};

START_TEST(test_handshake_table) /* cases: see hs_cases; fed whole, then a byte at a time */
{
	const struct hs_case *hc = &hs_cases[_i];
	size_t len = strlen(hc->req), used = 0, i, total = 0;
	struct sl_buf reply = SL_BUF_INIT;
	char want[64];
	struct ws_hs *hs;
	int rc = 0, pass;

	for (pass = 0; pass < 2; pass++) {
		hs = ws_hs_new();
		reply.len = 0;
		total = 0;
		if (pass == 0) {
			rc = ws_hs_input(hs, (const uint8_t *)hc->req, len, &reply, &used);
			total = used;
		} else {
			for (i = 0, rc = 0; i < len && rc == 0; i++) {
				rc = ws_hs_input(hs, (const uint8_t *)hc->req + i, 1, &reply,
				                 &used);
				total += used;
			}
		}
		ck_assert_msg(rc == hc->rc, "%s pass %d: rc %d, want %d", hc->name, pass, rc,
		              hc->rc);
		ck_assert(reply.len > 12);
		if (rc == 1) {
			ck_assert_uint_eq(total, len);
			ck_assert(memcmp(reply.data, "HTTP/1.1 101 ", 13) == 0);
			snprintf(want, sizeof(want), "Sec-WebSocket-Protocol: %s\r\n", hc->proto);
			ck_assert(contains(&reply, want));
			ck_assert(contains(&reply,
			                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
		} else {
			ck_assert(memcmp(reply.data, "HTTP/1.1 400 ", 13) == 0);
		}
		ws_hs_free(hs);
	}
	sl_buf_fini(&reply);
}
END_TEST

START_TEST(test_handshake_frames_after_request)
{
	const char *req = REQ_HEAD "Sec-WebSocket-Protocol: mqtt\r\n\r\n\x82\x80";
	struct sl_buf reply = SL_BUF_INIT;
	struct ws_hs *hs = ws_hs_new();
	size_t used = 0;

	ck_assert_int_eq(ws_hs_input(hs, (const uint8_t *)req, strlen(req), &reply, &used), 1);
	ck_assert_uint_eq(used, strlen(req) - 2); /* the frame is left for the decoder */
	ws_hs_free(hs);
	sl_buf_fini(&reply);
}
END_TEST

START_TEST(test_handshake_size_bound)
{
	struct sl_buf reply = SL_BUF_INIT;
	struct ws_hs *hs = ws_hs_new();
	char line[128];
	size_t used, sent = 0;
	int rc;

	rc = ws_hs_input(hs, (const uint8_t *)REQ_HEAD, strlen(REQ_HEAD), &reply, &used);
	sent += used;
	for (; rc == 0 && sent < 2 * WS_HS_MAX; sent += used) {
		snprintf(line, sizeof(line), "X-Padding: %0100d\r\n", 0);
		rc = ws_hs_input(hs, (const uint8_t *)line, strlen(line), &reply, &used);
	}
	ck_assert_int_eq(rc, -EMSGSIZE);
	ck_assert(sent <= WS_HS_MAX);
	ck_assert(memcmp(reply.data, "HTTP/1.1 400 ", 13) == 0);
	ws_hs_free(hs);
	sl_buf_fini(&reply);
}
END_TEST

/* A masked client frame: fin, opcode, payload p[0, n), mask m. Returns its length. */
static size_t
frame(uint8_t *out, bool fin, uint8_t op, const void *p, size_t n, const uint8_t m[4])
{
	size_t off = 0, i;

	out[off++] = (uint8_t)((fin ? 0x80 : 0) | op);
	if (n < 126) {
		out[off++] = (uint8_t)(0x80 | n);
	} else if (n <= 0xffff) {
		out[off++] = 0x80 | 126;
		out[off++] = (uint8_t)(n >> 8);
		out[off++] = (uint8_t)n;
	} else {
		out[off++] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			out[off++] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
	}
	memcpy(out + off, m, 4);
	off += 4;
	for (i = 0; i < n; i++)
		out[off + i] = ((const uint8_t *)p)[i] ^ m[i & 3];
	return off + n;
}

static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Feeds in[0, len) in chunks of `chunk` bytes (copied, as reads would be); collects output. */
static int
feed(struct ws *w, const uint8_t *in, size_t len, size_t chunk, struct sl_buf *out,
     struct sl_buf *reply)
{
	uint8_t buf[70000];
	size_t off, n;
	int got;

	for (off = 0; off < len && w->err == 0; off += n) {
		n = len - off < chunk ? len - off : chunk;
		memcpy(buf, in + off, n);
		got = ws_input(w, buf, n, reply);
		ck_assert(got >= 0 && (size_t)got <= n);
		sl_buf_append(out, buf, (size_t)got);
	}
	return w->err;
}

START_TEST(test_frames_split_and_merged_mqtt_6_0_0_2)
{
	static const size_t chunks[] = {1, 2, 3, 7, 13, 64, 1000, 70000};
	uint8_t stream[70000], big[66000];
	struct sl_buf out = SL_BUF_INIT, reply = SL_BUF_INIT, want = SL_BUF_INIT;
	size_t len = 0, i, c;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	/* A packet split over a fragmented message, two packets in one frame, an empty
	 * frame, a ping in the middle of a fragmented message, a 16-bit and a 64-bit length. */
	len += frame(stream + len, false, 0x2, "\x30\x0a\x00\x03", 4, mask);
	len += frame(stream + len, false, 0x0, "a/b", 3, mask);
	len += frame(stream + len, true, 0x9, "hi", 2, mask);
	len += frame(stream + len, true, 0x0, "hello", 5, mask);
	len += frame(stream + len, true, 0x2, "\xc0\x00\xc0\x00", 4, mask);
	len += frame(stream + len, true, 0x2, "", 0, mask);
	len += frame(stream + len, true, 0x2, big, 300, mask);
	len += frame(stream + len, true, 0x2, big, sizeof(big) - 300, mask);
	sl_buf_append(&want,
	              "\x30\x0a\x00\x03"
	              "a/b"
	              "hello"
	              "\xc0\x00\xc0\x00",
	              16);
	sl_buf_append(&want, big, 300);
	sl_buf_append(&want, big, sizeof(big) - 300);
	for (c = 0; c < N(chunks); c++) {
		struct ws w;

		memset(&w, 0, sizeof(w));
		out.len = reply.len = 0;
		ck_assert_int_eq(feed(&w, stream, len, chunks[c], &out, &reply), 0);
		ck_assert_uint_eq(out.len, want.len);
		ck_assert_msg(memcmp(out.data, want.data, want.len) == 0, "chunk %zu", chunks[c]);
		ck_assert_uint_eq(reply.len, 4); /* the pong: unmasked, same payload */
		ck_assert(memcmp(reply.data, "\x8a\x02hi", 4) == 0);
		ck_assert(w.in_frame == false && w.in_message == false);
	}
	sl_buf_fini(&out);
	sl_buf_fini(&reply);
	sl_buf_fini(&want);
}
END_TEST

struct bad_case {
	const char *name;
	uint8_t in[16];
	size_t len;
	int err;
	uint16_t code; /* of the close frame sent back; 0 = echo of none */
};

static const struct bad_case bad_cases[] = {
        {"text frame mqtt_6_0_0_1", {0x81, 0x80, 1, 2, 3, 4}, 6, -EPROTO, 1003},
        {"unmasked", {0x82, 0x00}, 2, -EPROTO, 1002},
        {"rsv bit", {0xc2, 0x80, 1, 2, 3, 4}, 6, -EPROTO, 1002},
        {"reserved opcode", {0x83, 0x80, 1, 2, 3, 4}, 6, -EPROTO, 1002},
        {"continuation of nothing", {0x80, 0x80, 1, 2, 3, 4}, 6, -EPROTO, 1002},
        {"fragmented ping", {0x09, 0x80, 1, 2, 3, 4}, 6, -EPROTO, 1002},
        {"ping too long", {0x89, 0xfe, 0, 126, 1, 2, 3, 4}, 8, -EPROTO, 1002},
        {"length top bit", {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, 14, -EPROTO, 1002},
        {"close 1000", {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8}, 8, -ECONNRESET, 1000},
        {"close empty", {0x88, 0x80, 0, 0, 0, 0}, 6, -ECONNRESET, 0},
        {"close one byte", {0x88, 0x81, 0, 0, 0, 0, 0x03}, 7, -EPROTO, 1002},
};

START_TEST(test_bad_frames) /* cases: see bad_cases */
{
	const struct bad_case *bc = &bad_cases[_i];
	struct sl_buf reply = SL_BUF_INIT;
	uint8_t buf[16];
	struct ws w;
	int got;

	memset(&w, 0, sizeof(w));
	memcpy(buf, bc->in, bc->len);
	got = ws_input(&w, buf, bc->len, &reply);
	ck_assert_msg(got == 0 && w.err == bc->err, "%s: got %d err %d", bc->name, got, w.err);
	ck_assert_uint_eq(reply.data[0], 0x88);
	if (bc->code == 0) {
		ck_assert_uint_eq(reply.len, 2);
	} else {
		ck_assert_uint_eq(reply.len, 4);
		ck_assert_uint_eq((unsigned)reply.data[2] << 8 | reply.data[3], bc->code);
	}
	/* Nothing more is decoded once the stream has ended. */
	memcpy(buf, bc->in, bc->len);
	ck_assert_int_eq(ws_input(&w, buf, bc->len, &reply), 0);
	sl_buf_fini(&reply);
}
END_TEST

START_TEST(test_data_before_close_is_kept)
{
	uint8_t stream[64];
	struct sl_buf reply = SL_BUF_INIT;
	size_t len = 0;
	struct ws w;

	/* A DISCONNECT and a close frame in one read: the DISCONNECT still counts. */
	memset(&w, 0, sizeof(w));
	len += frame(stream + len, true, 0x2, "\xe0\x00", 2, mask);
	len += frame(stream + len, true, 0x8, "\x03\xe8", 2, mask);
	ck_assert_int_eq(ws_input(&w, stream, len, &reply), 2);
	ck_assert(memcmp(stream, "\xe0\x00", 2) == 0);
	ck_assert_int_eq(w.err, -ECONNRESET);
	sl_buf_fini(&reply);
}
END_TEST

START_TEST(test_frame_hdr)
{
	uint8_t h[10];

	ck_assert_uint_eq(ws_frame_hdr(h, 125), 2);
	ck_assert(h[0] == 0x82 && h[1] == 125);
	ck_assert_uint_eq(ws_frame_hdr(h, 126), 4);
	ck_assert(h[1] == 126 && h[2] == 0 && h[3] == 126);
	ck_assert_uint_eq(ws_frame_hdr(h, 65535), 4);
	ck_assert_uint_eq(ws_frame_hdr(h, 65536), 10);
	ck_assert(h[1] == 127 && h[7] == 1 && h[8] == 0 && h[9] == 0);
}
END_TEST

Suite *
ws_suite(void)
{
	Suite *s = suite_create("ws");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_accept_key_rfc6455_1_3);
	tcase_add_loop_test(tc, test_handshake_table, 0, N(hs_cases));
	tcase_add_test(tc, test_handshake_frames_after_request);
	tcase_add_test(tc, test_handshake_size_bound);
	tcase_add_test(tc, test_frames_split_and_merged_mqtt_6_0_0_2);
	tcase_add_loop_test(tc, test_bad_frames, 0, N(bad_cases));
	tcase_add_test(tc, test_data_before_close_is_kept);
	tcase_add_test(tc, test_frame_hdr);
	suite_add_tcase(s, tc);
	return s;
}
