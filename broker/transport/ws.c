/* broker/transport/ws.c - the WebSocket upgrade (parsed with http-parser) and frame decoding (RFC
 * 6455) for MQTT over WebSocket; see ws.h for why the frames are not wslay's. */
#include "broker/transport/ws.h"

#include <errno.h>
#include <http_parser.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto/base/sl_alloc.h"

/* The request headers an upgrade needs; others are skipped. */
enum { H_UPGRADE, H_KEY, H_VERSION, H_PROTOCOL, H_N };
static const char *const hnames[H_N] = {"upgrade", "sec-websocket-key", "sec-websocket-version",
                                        "sec-websocket-protocol"};
#define HVAL_MAX 256

struct ws_hs {
	http_parser p;
	size_t total;    /* request bytes seen */
	char name[32];   /* the header name being read; longer ones are not ours */
	size_t name_len; /* > sizeof(name) - 1: too long to be one we want */
	int cur;         /* index of the header whose value is being read, or -1 */
	bool in_value;
	bool done;
	bool bad; /* a wanted header's value is too long */
	char val[H_N][HVAL_MAX];
	size_t val_len[H_N];
};

static int
on_field(http_parser *p, const char *at, size_t len)
{
	struct ws_hs *hs = p->data;

	if (hs->in_value) { /* a new header begins */
		hs->in_value = false;
		hs->name_len = 0;
	}
	if (hs->name_len + len < sizeof(hs->name))
		memcpy(hs->name + hs->name_len, at, len);
	hs->name_len += len;
	return 0;
}

static int
on_value(http_parser *p, const char *at, size_t len)
{
	struct ws_hs *hs = p->data;
	size_t *vl;
	int i;

	if (!hs->in_value) { /* the first piece of this header's value */
		hs->in_value = true;
		hs->cur = -1;
		for (i = 0; hs->name_len < sizeof(hs->name) && i < H_N; i++)
			if (hs->name_len == strlen(hnames[i]) &&
			    strncasecmp(hs->name, hnames[i], hs->name_len) == 0)
				hs->cur = i;
		/* A repeated header adds to the list (RFC 7230 3.2.2). */
		if (hs->cur >= 0 && hs->val_len[hs->cur] > 0)
			on_value(p, ",", 1);
	}
	if (hs->cur < 0)
		return 0;
	vl = &hs->val_len[hs->cur];
	if (*vl + len >= HVAL_MAX) {
		hs->bad = true;
		return 0;
	}
	memcpy(hs->val[hs->cur] + *vl, at, len);
	*vl += len;
	hs->val[hs->cur][*vl] = '\0';
	return 0;
}

static int
on_complete(http_parser *p)
{
	((struct ws_hs *)p->data)->done = true;
	return 0;
}

static const http_parser_settings settings = {
        .on_header_field = on_field,
        .on_header_value = on_value,
        .on_message_complete = on_complete,
};

struct ws_hs *
ws_hs_new(void)
{
	struct ws_hs *hs = sl_calloc(1, sizeof(*hs));

	if (hs == NULL)
		return NULL;
	http_parser_init(&hs->p, HTTP_REQUEST);
	hs->p.data = hs;
	hs->cur = -1;
	return hs;
}

void
ws_hs_free(struct ws_hs *hs)
{
	sl_free(hs);
}

void
ws_accept_key(const char *key, size_t key_len, char accept[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[EVP_MAX_MD_SIZE];
	char buf[64 + sizeof(guid)];
	unsigned int mdlen = 0;

	if (key_len > 64)
		key_len = 64;
	memcpy(buf, key, key_len);
	memcpy(buf + key_len, guid, sizeof(guid) - 1);
	EVP_Digest(buf, key_len + sizeof(guid) - 1, md, &mdlen, EVP_sha1(), NULL);
	EVP_EncodeBlock((unsigned char *)accept, md, (int)mdlen); /* 20 bytes -> 28 chars + NUL */
}

/* Whether the comma-separated list holds tok (surrounding blanks ignored). */
static bool
has_token(const char *list, const char *tok, bool nocase)
{
	size_t n = strlen(tok), len;
	const char *p = list;

	while (*p != '\0') {
		p += strspn(p, " \t,");
		len = strcspn(p, ",");
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == n && (nocase ? strncasecmp(p, tok, n) : strncmp(p, tok, n)) == 0)
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* Checks the request and appends the 101 response. Returns 1, or -EPROTO. */
static int
accept_upgrade(struct ws_hs *hs, struct sl_buf *reply)
{
	const char *proto;
	char accept[29], resp[256];
	int n;

	if (hs->bad || hs->p.method != HTTP_GET || !hs->p.upgrade ||
	    !has_token(hs->val[H_UPGRADE], "websocket", true) ||
	    strcmp(hs->val[H_VERSION], "13") != 0 || hs->val_len[H_KEY] != 24)
		return -EPROTO;
	/* [MQTT-6.0.0-3] the client offers "mqtt"; [MQTT-6.0.0-4] the server selects it.
	 * "mqttv3.1" is what clients written for the MQTT 3.1 era offer instead. */
	if (has_token(hs->val[H_PROTOCOL], "mqtt", false))
		proto = "mqtt";
	else if (has_token(hs->val[H_PROTOCOL], "mqttv3.1", false))
		proto = "mqttv3.1";
	else
		return -EPROTO;
	ws_accept_key(hs->val[H_KEY], hs->val_len[H_KEY], accept);
	n = snprintf(resp, sizeof(resp),
	             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	             "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
	             "Sec-WebSocket-Protocol: %s\r\n\r\n",
	             accept, proto);
	return sl_buf_append(reply, resp, (size_t)n) < 0 ? -ENOMEM : 1;
}

static int
refuse(struct sl_buf *reply, int rc)
{
	static const char resp[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
	                           "Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n";

	return sl_buf_append(reply, resp, sizeof(resp) - 1) < 0 ? -ENOMEM : rc;
}

int
ws_hs_input(struct ws_hs *hs, const uint8_t *data, size_t len, struct sl_buf *reply, size_t *used)
{
	size_t room = WS_HS_MAX - hs->total, n = len < room ? len : room, parsed;

	*used = 0;
	parsed = http_parser_execute(&hs->p, &settings, (const char *)data, n);
	hs->total += parsed;
	if (HTTP_PARSER_ERRNO(&hs->p) != HPE_OK)
		return refuse(reply, -EPROTO);
	if (hs->done) {
		*used = parsed;
		return accept_upgrade(hs, reply) == 1 ? 1 : refuse(reply, -EPROTO);
	}
	if (parsed != n)
		return refuse(reply, -EPROTO); /* stopped early without a complete request */
	if (hs->total >= WS_HS_MAX)
		return refuse(reply, -EMSGSIZE);
	*used = n;
	return 0;
}

size_t
ws_frame_hdr(uint8_t hdr[10], uint64_t len)
{
	int i;

	hdr[0] = 0x82; /* FIN, binary [MQTT-6.0.0-1] */
	if (len < 126) {
		hdr[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		hdr[1] = 126;
		hdr[2] = (uint8_t)(len >> 8);
		hdr[3] = (uint8_t)len;
		return 4;
	}
	hdr[1] = 127;
	for (i = 0; i < 8; i++)
		hdr[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}

/* Appends a control frame (opcode op, payload p[0, n), n <= 125) to reply. */
static int
control(struct sl_buf *reply, uint8_t op, const uint8_t *p, size_t n)
{
	uint8_t h[2] = {(uint8_t)(0x80 | op), (uint8_t)n};

	if (sl_buf_append(reply, h, 2) < 0 || sl_buf_append(reply, p, n) < 0)
		return -ENOMEM;
	return 0;
}

/* Appends a close frame with status code and returns rc. */
static int
fail(struct sl_buf *reply, uint16_t code, int rc)
{
	uint8_t c[2] = {(uint8_t)(code >> 8), (uint8_t)code};

	return control(reply, 0x8, c, 2) < 0 ? -ENOMEM : rc;
}

/* Header length wanted given the bytes collected so far. */
static size_t
hdr_need(const struct ws *w)
{
	uint8_t len7;

	if (w->hdr_len < 2)
		return 2;
	len7 = w->hdr[1] & 0x7f;
	return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((w->hdr[1] & 0x80) ? 4 : 0);
}

/* A complete header: checks it and starts the frame. Returns 0 or a negative errno. */
static int
start_frame(struct ws *w, struct sl_buf *reply)
{
	uint8_t len7 = w->hdr[1] & 0x7f, op = w->hdr[0] & 0x0f;
	size_t i, off = 2;

	w->fin = (w->hdr[0] & 0x80) != 0;
	w->opcode = op;
	w->left = len7;
	if (len7 >= 126) {
		w->left = 0;
		for (i = 0; i < (len7 == 126 ? 2u : 8u); i++)
			w->left = w->left << 8 | w->hdr[off++];
		if (w->left >> 63)
			return fail(reply, 1002, -EPROTO); /* RFC 6455 5.2: the top bit is 0 */
	}
	memcpy(w->mask, w->hdr + off, 4);
	w->mask_pos = 0;
	w->ctl_len = 0;
	if ((w->hdr[0] & 0x70) != 0)
		return fail(reply, 1002, -EPROTO); /* no extension was negotiated */
	if (op == 0x1)
		return fail(reply, 1003, -EPROTO); /* [MQTT-6.0.0-1] binary frames only */
	if (op >= 0x8) {                           /* RFC 6455 5.5 */
		if (op > 0xa || !w->fin || w->left > 125)
			return fail(reply, 1002, -EPROTO);
		return 0;
	}
	if (op != 0x2 && op != 0x0)
		return fail(reply, 1002, -EPROTO);
	if ((op == 0x0) != w->in_message)
		return fail(reply, 1002, -EPROTO); /* a continuation of nothing, or interleaved */
	w->in_message = !w->fin;
	return 0;
}

/* The current frame is complete: acts on a control frame. Returns 0 or a negative errno. */
static int
end_frame(struct ws *w, struct sl_buf *reply)
{
	w->hdr_len = 0;
	w->in_frame = false;
	switch (w->opcode) {
	case 0x8: /* close: echo the status code, then the connection ends (RFC 6455 5.5.1) */
		if (w->ctl_len == 1)
			return fail(reply, 1002, -EPROTO);
		return control(reply, 0x8, w->ctl, w->ctl_len < 2 ? w->ctl_len : 2) < 0
		               ? -ENOMEM
		               : -ECONNRESET;
	case 0x9:
		return control(reply, 0xa, w->ctl, w->ctl_len);
	default: /* pong, or the end of a data frame */
		return 0;
	}
}

/* Unmasks p[0, n) continuing the current frame's mask. */
static void
unmask(struct ws *w, uint8_t *p, size_t n)
{
	uint8_t m[4];
	size_t i;

	for (i = 0; i < 4; i++)
		m[i] = w->mask[(w->mask_pos + i) & 3];
	for (i = 0; i < n; i++)
		p[i] ^= m[i & 3];
	w->mask_pos = (uint8_t)((w->mask_pos + n) & 3);
}

/* Collects header bytes from data[*in, len). Returns 1 when the header is complete, 0 when
 * more is needed, or a negative errno. */
static int
read_hdr(struct ws *w, const uint8_t *data, size_t len, size_t *in, struct sl_buf *reply)
{
	size_t need, n;
	int rc;

	while ((need = hdr_need(w)) > w->hdr_len) {
		if (*in == len)
			return 0;
		n = need - w->hdr_len < len - *in ? need - w->hdr_len : len - *in;
		memcpy(w->hdr + w->hdr_len, data + *in, n);
		w->hdr_len = (uint8_t)(w->hdr_len + n);
		*in += n;
		if (w->hdr_len >= 2 && !(w->hdr[1] & 0x80))
			return fail(reply, 1002, -EPROTO); /* RFC 6455 5.1: clients mask */
	}
	rc = start_frame(w, reply);
	return rc < 0 ? rc : 1;
}

int
ws_input(struct ws *w, uint8_t *data, size_t len, struct sl_buf *reply)
{
	size_t in = 0, out = 0, n;
	int rc;

	while (w->err == 0) {
		if (!w->in_frame) {
			if ((rc = read_hdr(w, data, len, &in, reply)) <= 0) {
				w->err = rc;
				break;
			}
			w->in_frame = true;
		}
		n = w->left < len - in ? (size_t)w->left : len - in;
		unmask(w, data + in, n);
		if (w->opcode >= 0x8) {
			memcpy(w->ctl + w->ctl_len, data + in, n);
			w->ctl_len = (uint8_t)(w->ctl_len + n);
		} else {
			memmove(data + out, data + in, n); /* [MQTT-6.0.0-2] a byte stream */
			out += n;
		}
		in += n;
		w->left -= n;
		if (w->left > 0)
			break; /* the rest of the frame comes with the next read */
		w->err = end_frame(w, reply);
	}
	return (int)out;
}
