/* Fuzzes the WebSocket upgrade parser and frame decoder (broker/ws.c). The first byte picks the
 * part and where the input is cut in two (two reads); checks the contracts of ws.h: the
 * decoder never returns more bytes than it was given, stops for good once err is set, and the
 * upgrade never reads past WS_HS_MAX. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/transport/ws.h"
#include "proto/base/sl_buf.h"

static void
frames(uint8_t *buf, size_t size, size_t cut)
{
	struct sl_buf reply = SL_BUF_INIT;
	struct ws w;
	int n;

	memset(&w, 0, sizeof(w));
	n = ws_input(&w, buf, cut, &reply);
	if (n < 0 || (size_t)n > cut)
		abort();
	if (w.err != 0) {
		if (ws_input(&w, buf + cut, size - cut, &reply) != 0)
			abort(); /* nothing after the end */
	} else {
		n = ws_input(&w, buf + cut, size - cut, &reply);
		if (n < 0 || (size_t)n > size - cut)
			abort();
	}
	if (w.err != 0 && w.err != -EPROTO && w.err != -ECONNRESET && w.err != -ENOMEM)
		abort();
	sl_buf_fini(&reply);
}

static void
upgrade(const uint8_t *data, size_t size, size_t cut)
{
	struct sl_buf reply = SL_BUF_INIT;
	struct ws_hs *hs = ws_hs_new();
	size_t used = 0;
	int rc;

	if (hs == NULL)
		return;
	rc = ws_hs_input(hs, data, cut, &reply, &used);
	if (used > cut)
		abort();
	if (rc == 0) {
		rc = ws_hs_input(hs, data + cut, size - cut, &reply, &used);
		if (used > size - cut)
			abort();
	}
	if (rc != 0 && reply.len == 0 && rc != -ENOMEM)
		abort(); /* an answer (101 or 400) is always written */
	ws_hs_free(hs);
	sl_buf_fini(&reply);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;
	size_t cut;

	if (size < 1)
		return 0;
	cut = (size - 1) == 0 ? 0 : (data[0] >> 1) % (size - 1);
	if (data[0] & 1) {
		upgrade(data + 1, size - 1, cut);
		return 0;
	}
	if ((buf = malloc(size)) == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1); /* decoded in place */
	frames(buf, size - 1, cut);
	free(buf);
	return 0;
}
