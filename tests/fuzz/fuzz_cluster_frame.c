/* Fuzzes the cluster frame decoder (cluster/frame.h) as a link sees it: the input's first byte
 * picks the size of the reads (1..256 bytes), the rest is the byte stream from a peer. Every
 * complete known frame is unpacked (capped at 1 MiB) and re-encoded. Checks that streamed
 * delivery decodes exactly what the whole buffer does, that views stay inside the input, that
 * clf_decode() keeps its tri-state contract, and that a re-encoded frame decodes to the same
 * type and tail. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/frame.h"
#include "cluster/fwd_wire.h"
#include "proto/base/sl_alloc.h"

#define MAX_LEN 65536u

/* Re-encodes an unpacked frame and decodes it again. */
static void
check_reencode(const struct clf_frame *f, const ProtobufCMessage *m)
{
	struct sl_buf b = SL_BUF_INIT;
	struct clf_frame g;
	enum clf_err err;
	const struct sl_bytes *tail = (f->flags & CLF_FLAG_HAS_TAIL) ? &f->tail : NULL;

	if (clf_encode(&b, f->type, f->flags & CLF_FLAG_IGNORABLE, m, tail) < 0)
		goto out; /* out of memory */
	if (clf_decode(b.data, b.len, CLF_LEN_MAX_LIMIT, &g, &err) != (int)b.len)
		abort();
	if (g.type != f->type || g.flags != f->flags || g.tail.len != f->tail.len ||
	    memcmp(g.tail.p, f->tail.p, f->tail.len) != 0)
		abort();
out:
	sl_buf_fini(&b);
}

static bool
same(struct sl_bytes a, ProtobufCBinaryData b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.data, a.len) == 0);
}

/* The hand-coded Forward (cluster/fwd_wire.h) against protobuf-c on the same meta: whatever
 * protobuf-c accepts (pb non-NULL) it accepts with the same fields; whatever it accepts packs
 * and parses back to the same fields. */
static void
check_fwd_wire(const struct clf_frame *f, const Starling__Cluster__V1__Forward *pb)
{
	struct clw_fwd w, again;
	uint8_t *buf;
	size_t n;

	if (clw_fwd_parse(f->meta, &w) < 0) {
		if (pb != NULL)
			abort();
		return;
	}
	if (pb != NULL &&
	    (w.seq != pb->seq || !same(w.topic, pb->topic) || w.qos != pb->qos ||
	     w.retain != pb->retain || !same(w.sender, pb->sender) ||
	     w.sender_kind != pb->sender_kind || !same(w.sender_user, pb->sender_user) ||
	     w.expiry_left != pb->expiry_left || w.payload_format != pb->payload_format ||
	     !same(w.props, pb->props) || w.shared != (pb->shared != NULL) ||
	     (w.shared &&
	      (!same(w.group, pb->shared->group) || !same(w.filter, pb->shared->filter)))))
		abort();
	n = clw_fwd_size(&w);
	if ((buf = malloc(n + 1)) == NULL)
		return;
	clw_fwd_pack(&w, buf);
	if (clw_fwd_parse(sl_bytes_make(buf, (uint32_t)n), &again) < 0 || again.seq != w.seq ||
	    again.topic.len != w.topic.len || again.shared != w.shared ||
	    again.props.len != w.props.len)
		abort();
	free(buf);
}

/* Decodes every frame at the start of p. Returns the bytes consumed; *frames counts them and
 * *bad is set when a malformed frame stopped it. */
static size_t
drain(const uint8_t *p, size_t len, int *frames, int *bad)
{
	size_t off = 0;
	struct clf_frame f;
	enum clf_err err;
	int rc;

	while ((rc = clf_decode(p + off, len - off, MAX_LEN, &f, &err)) > 0) {
		if ((size_t)rc > len - off || f.len != (uint32_t)rc || f.meta.p != p + off + 12 ||
		    f.tail.p + f.tail.len != p + off + (size_t)rc || err != CLF_OK)
			abort();
		if (f.known) {
			ProtobufCMessage *m = clf_meta_unpack(&f, 1u << 20, &err);

			if ((m == NULL) != (err != CLF_OK))
				abort();
			if (m != NULL)
				check_reencode(&f, m);
			if (f.type == CLF_FORWARD)
				check_fwd_wire(&f, (const Starling__Cluster__V1__Forward *)m);
			clf_meta_free(m);
		}
		off += (size_t)rc;
		(*frames)++;
	}
	if (rc < 0 && err == CLF_OK)
		abort();
	if (rc == 0 && (err != CLF_OK || (f.len != 0 && f.len <= len - off)))
		abort(); /* "need more" only when more is needed */
	*bad = rc < 0;
	return off;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t step, have = 0, fed = 0, used;
	int whole_frames = 0, whole_bad = 0, frames = 0, bad = 0;
	uint8_t *rx = NULL;

	if (size < 1)
		return 0;
	step = (size_t)data[0] + 1;
	data++;
	size--;
	drain(data, size, &whole_frames, &whole_bad);
	/* The same stream in reads of step bytes, each into an exact-size copy so that ASan
	 * sees a read past what has arrived. */
	while (fed < size && !bad) {
		size_t n = size - fed < step ? size - fed : step;
		uint8_t *next = malloc(have + n > 0 ? have + n : 1);

		if (next == NULL)
			abort();
		if (have > 0)
			memcpy(next, rx, have);
		memcpy(next + have, data + fed, n);
		free(rx);
		rx = next;
		have += n;
		fed += n;
		used = drain(rx, have, &frames, &bad);
		memmove(rx, rx + used, have - used);
		have -= used;
	}
	free(rx);
	if (frames != whole_frames || bad != whole_bad)
		abort();
	return 0;
}
