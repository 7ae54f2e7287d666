/* Fuzzes the PROXY protocol header parser (broker/proxy.c) against the contract of proxy.h:
 * a length within the input and PROXY_MAX, a CN view inside the input, the same answer when
 * the input arrives in two parts (0 = need more, never a different verdict). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/transport/proxy.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_hdr h;
	int rc = proxy_parse(data, size, &h), part;
	size_t cut;

	if (rc > (int)size || rc > PROXY_MAX || (rc < 0 && rc != -EPROTO && rc != -EMSGSIZE))
		abort();
	if (rc > 0 && h.cn.len > 0 && (h.cn.p < data || h.cn.p + h.cn.len > data + rc))
		abort();
	if (rc > 0 && memchr(h.addr, '\0', sizeof(h.addr)) == NULL)
		abort();
	for (cut = 0; cut < size && cut < 256; cut++) { /* a prefix never contradicts the whole */
		part = proxy_parse(data, cut, &h);
		if (part != 0 && part != rc && !(part < 0 && rc < 0))
			abort();
	}
	return 0;
}
