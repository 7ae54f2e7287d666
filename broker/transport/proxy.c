/* broker/transport/proxy.c - PROXY protocol v1 and v2 header parser (HAProxy's proxy-protocol.txt).
 * Strict: anything but a well-formed header is refused, as the spec asks of a receiver that
 * is configured to expect one (section 2: "MUST NOT try to guess"). */
#include "broker/transport/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define V1_MAX 107 /* "PROXY TCP6 " + two full IPv6 addresses + ports + CRLF (spec 2.1) */

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

enum {
	PP2_TYPE_SSL = 0x20,
	PP2_SUBTYPE_SSL_CN = 0x22,
	PP2_CLIENT_SSL = 0x01,
	PP2_CLIENT_CERT_CONN = 0x02,
	PP2_CLIENT_CERT_SESS = 0x04,
};

/* Whether data[0, len) can still be the start of sig[0, siglen). */
static bool
prefix_of(const uint8_t *data, size_t len, const void *sig, size_t siglen)
{
	return memcmp(data, sig, len < siglen ? len : siglen) == 0;
}

/* A decimal port, 0..65535, without sign or leading garbage. */
static bool
port_ok(const char *s)
{
	size_t n = strlen(s);
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535;
}

/* "PROXY TCP4|TCP6 SRC DST SPORT DPORT" or "PROXY UNKNOWN ...", without the CRLF. */
static int
parse_v1_line(char *line, struct proxy_hdr *h)
{
	char *f[6], *save = NULL, *tok;
	unsigned char bin[16];
	int n = 0, af;

	if (strncmp(line, "PROXY UNKNOWN", 13) == 0 && (line[13] == '\0' || line[13] == ' '))
		return 0; /* the proxy could not tell: keep the connection's own address */
	/* Single spaces only: strtok_r would accept runs of them. */
	if (strstr(line, "  ") != NULL || line[strlen(line) - 1] == ' ')
		return -EPROTO;
	for (tok = strtok_r(line, " ", &save); tok != NULL && n < 6;
	     tok = strtok_r(NULL, " ", &save))
		f[n++] = tok;
	if (n != 6 || tok != NULL || strcmp(f[0], "PROXY") != 0)
		return -EPROTO;
	if (strcmp(f[1], "TCP4") == 0)
		af = AF_INET;
	else if (strcmp(f[1], "TCP6") == 0)
		af = AF_INET6;
	else
		return -EPROTO;
	if (inet_pton(af, f[2], bin) != 1 || inet_pton(af, f[3], bin) != 1 || !port_ok(f[4]) ||
	    !port_ok(f[5]))
		return -EPROTO;
	snprintf(h->addr, sizeof(h->addr), "%s", f[2]);
	return 0;
}

static int
parse_v1(const uint8_t *data, size_t len, struct proxy_hdr *h)
{
	char line[V1_MAX + 1];
	size_t i;
	int rc;

	for (i = 0; i + 1 < len && i + 1 < V1_MAX; i++) {
		if (data[i] == '\r' && data[i + 1] == '\n')
			break;
		if (data[i] < 0x20 || data[i] > 0x7e)
			return -EPROTO;
	}
	if (i + 1 >= V1_MAX)
		return -EPROTO; /* no CRLF within the longest line there can be */
	if (i + 1 >= len)
		return 0;
	memcpy(line, data, i);
	line[i] = '\0';
	h->version = 1;
	if ((rc = parse_v1_line(line, h)) < 0)
		return rc;
	return (int)(i + 2);
}

/* The PP2_TYPE_SSL value: client bits (1), verify (4, big endian), then sub-TLVs. */
static int
parse_ssl_tlv(const uint8_t *v, size_t len, struct proxy_hdr *h)
{
	uint32_t verify;
	size_t off = 5, l;

	if (len < 5)
		return -EPROTO;
	verify = (uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 8 | v[4];
	h->ssl = (v[0] & PP2_CLIENT_SSL) != 0;
	h->cn_verified =
	        h->ssl && (v[0] & (PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS)) && verify == 0;
	while (off < len) {
		if (len - off < 3 || (l = (size_t)v[off + 1] << 8 | v[off + 2]) > len - off - 3)
			return -EPROTO;
		if (v[off] == PP2_SUBTYPE_SSL_CN)
			h->cn = sl_bytes_make(v + off + 3, (uint32_t)l);
		off += 3 + l;
	}
	return 0;
}

static int
parse_tlvs(const uint8_t *p, size_t len, struct proxy_hdr *h)
{
	size_t off = 0, l;

	while (off < len) {
		if (len - off < 3 || (l = (size_t)p[off + 1] << 8 | p[off + 2]) > len - off - 3)
			return -EPROTO;
		if (p[off] == PP2_TYPE_SSL && parse_ssl_tlv(p + off + 3, l, h) < 0)
			return -EPROTO;
		off += 3 + l;
	}
	return 0;
}

/* The address block of a PROXY command (family in the high nibble of fam). */
static int
parse_v2_addr(uint8_t fam, const uint8_t *p, size_t len, struct proxy_hdr *h)
{
	size_t alen;

	switch (fam >> 4) {
	case 0x0: /* AF_UNSPEC: no address; the connection's own one stands */
		alen = 0;
		break;
	case 0x1:
		if ((alen = 12) > len || !inet_ntop(AF_INET, p, h->addr, sizeof(h->addr)))
			return -EPROTO;
		break;
	case 0x2:
		if ((alen = 36) > len || !inet_ntop(AF_INET6, p, h->addr, sizeof(h->addr)))
			return -EPROTO;
		break;
	case 0x3: /* AF_UNIX: a path, not an address worth logging */
		if ((alen = 216) > len)
			return -EPROTO;
		break;
	default:
		return -EPROTO;
	}
	if ((fam & 0x0f) > 2)
		return -EPROTO;
	return parse_tlvs(p + alen, len - alen, h);
}

static int
parse_v2(const uint8_t *data, size_t len, struct proxy_hdr *h)
{
	size_t body;

	if (len < 16)
		return 0;
	if ((data[12] & 0xf0) != 0x20 || (data[12] & 0x0f) > 1)
		return -EPROTO; /* version 2; command LOCAL (0) or PROXY (1) */
	body = (size_t)data[14] << 8 | data[15];
	if (16 + body > PROXY_MAX)
		return -EMSGSIZE;
	if (len < 16 + body)
		return 0;
	h->version = 2;
	/* LOCAL: the proxy's own connection (health check); the block is skipped. */
	if ((data[12] & 0x0f) == 1 && parse_v2_addr(data[13], data + 16, body, h) < 0)
		return -EPROTO;
	return (int)(16 + body);
}

int
proxy_parse(const uint8_t *data, size_t len, struct proxy_hdr *h)
{
	memset(h, 0, sizeof(*h));
	if (len == 0)
		return 0;
	if (prefix_of(data, len, v2_sig, sizeof(v2_sig)))
		return len < sizeof(v2_sig) ? 0 : parse_v2(data, len, h);
	if (prefix_of(data, len, "PROXY ", 6))
		return len < 6 ? 0 : parse_v1(data, len, h);
	return -EPROTO;
}
