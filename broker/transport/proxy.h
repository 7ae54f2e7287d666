/* broker/transport/proxy.h - the PROXY protocol header (HAProxy's proxy-protocol.txt, v1 text and
 * v2 binary) that a load balancer puts before a client's bytes on a `proxy_protocol true` listener.
 * A pure parser: no I/O, no allocation, callable from any thread. */
#ifndef PROXY_H
#define PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/sl_buf.h"

/* Longest header accepted: a v1 line is at most 107 bytes (spec 2.1); a v2 header is 16 bytes
 * plus addresses and TLVs. HAProxy's SSL TLVs with a client CN fit in a few hundred bytes. */
#define PROXY_MAX 2048

struct proxy_hdr {
	/* The client's address as text, or "" when the header gives none (v1 UNKNOWN, v2 LOCAL
	 * or an unspecified family): the connection's own peer address stands then. */
	char addr[48];
	uint8_t version; /* 1 or 2 */
	/* v2 PP2_TYPE_SSL: the proxy terminated TLS; cn is the client certificate's subject CN
	 * (PP2_SUBTYPE_SSL_CN), a view into the parsed bytes, len 0 when absent. cn_verified:
	 * the client presented a certificate on this connection or session and the proxy
	 * verified it (verify field 0). */
	bool ssl;
	bool cn_verified;
	struct sl_bytes cn;
};

/* Parses the header at the start of data[0, len). Returns the header's length (> 0) with *h
 * filled in (h->cn views data), 0 when more bytes are needed to decide, or -EPROTO when the
 * bytes are not a valid PROXY header, -EMSGSIZE when it would be longer than PROXY_MAX. */
int proxy_parse(const uint8_t *data, size_t len, struct proxy_hdr *h);

#endif
