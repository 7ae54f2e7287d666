/* storage/store_file_rec.c - the embedded backend's records (store_file.h): CRC32C, framing,
 * encoding a write op, and replaying a file into the model. */
#include "store_file.h"

#include <errno.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "store_codec.h"

/* Reflected polynomial 0x82f63b78 (iSCSI, ext4, SCTP): better error detection than zlib's
 * CRC32 at the same cost, and the one hardware CRC instructions compute. */
static const uint32_t crc_table[256] = {
        0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c, 0x26a1e7e8,
        0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b, 0x4d43cfd0, 0xbf284cd3,
        0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b, 0xd7c45070,
        0x25afd373, 0x36ff2087, 0xc494a384, 0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54,
        0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29,
        0x33ed7d2a, 0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
        0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa, 0x30e349b1,
        0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
        0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a, 0x7da08661, 0x8fcb0562, 0x9c9bf696,
        0x6ef07595, 0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0,
        0x67dafa54, 0x95b17957, 0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c,
        0xfe53516f, 0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
        0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f, 0x3ac7f2eb,
        0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7, 0x61c69362, 0x93ad1061,
        0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789, 0xeb1fcbad,
        0x197448ae, 0x0a24bb5a, 0xf84f3859, 0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
        0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5,
        0xa55230e6, 0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
        0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c, 0x456cac67,
        0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043,
        0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c, 0x92a8fc17, 0x60c37f14, 0x73938ce0,
        0x81f80fe3, 0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db,
        0xf94ad42f, 0x0b21572c, 0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6,
        0x502036a5, 0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
        0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975, 0x0e330a81,
        0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d, 0x758fe5d6, 0x87e466d5,
        0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2, 0xff56bd19,
        0x0d3d3e1a, 0x1e6dcdee, 0xec064eed, 0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530,
        0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc,
        0x5a048dff, 0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
        0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540, 0x590ab964,
        0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
        0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee, 0x24aa3f05, 0xd6c1bc06, 0xc5914ff2,
        0x37faccf1, 0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9,
        0x4f48173d, 0xbd23943e, 0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a,
        0xc69f7b69, 0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
        0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t
crc_soft(uint32_t crc, const uint8_t *b, size_t n)
{
	while (n-- > 0)
		crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>

/* The SSE 4.2 crc32 instruction computes this very polynomial (Castagnoli), 8 bytes a cycle
 * or so: a byte-at-a-time table was the embedded store's top cost under load. */
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const uint8_t *b, size_t n)
{
	uint64_t c = crc, v;

	for (; n >= 8; n -= 8, b += 8) {
		memcpy(&v, b, 8);
		c = _mm_crc32_u64(c, v);
	}
	crc = (uint32_t)c;
	while (n-- > 0)
		crc = _mm_crc32_u8(crc, *b++);
	return crc;
}

static bool
have_hw(void)
{
	return __builtin_cpu_supports("sse4.2");
}
#else
static uint32_t
crc_hw(uint32_t crc, const uint8_t *b, size_t n)
{
	return crc_soft(crc, b, n);
}

static bool
have_hw(void)
{
	return false;
}
#endif

uint32_t
store_file_crc(uint32_t crc, const void *p, size_t n)
{
	crc = ~crc;
	crc = have_hw() ? crc_hw(crc, p, n) : crc_soft(crc, p, n);
	return ~crc;
}

/* One pointer -> id entry of struct store_file_ids. */
struct store_file_id {
	const struct sl_msg *msg;
	uint64_t stamp;
	uint32_t id;
};

void
store_file_ids_reset(struct store_file_ids *ids)
{
	ids->stamp++;
	ids->n = 0;
	ids->next = 0;
}

void
store_file_ids_fini(struct store_file_ids *ids)
{
	sl_free(ids->slot);
	memset(ids, 0, sizeof(*ids));
}

static uint32_t
ptr_hash(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x;
}

static struct store_file_id *
ids_find(struct store_file_id *slot, uint32_t cap, uint64_t stamp, const struct sl_msg *msg)
{
	uint32_t i = ptr_hash(msg) & (cap - 1);

	while (slot[i].stamp == stamp && slot[i].msg != msg)
		i = (i + 1) & (cap - 1);
	return &slot[i];
}

static int
ids_grow(struct store_file_ids *ids)
{
	uint32_t cap = ids->cap != 0 ? ids->cap * 2 : 64;
	struct store_file_id *slot = sl_calloc(cap, sizeof(*slot));

	if (slot == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < ids->cap; i++)
		if (ids->slot[i].stamp == ids->stamp)
			*ids_find(slot, cap, ids->stamp, ids->slot[i].msg) = ids->slot[i];
	sl_free(ids->slot);
	ids->slot = slot;
	ids->cap = cap;
	return 0;
}

/* Sets *id for msg; *fresh when it is new here (its MSG record is still to be written). */
static int
ids_get(struct store_file_ids *ids, const struct sl_msg *msg, uint32_t *id, bool *fresh)
{
	struct store_file_id *e;

	if ((ids->n + 1) * 2 > ids->cap && ids_grow(ids) < 0)
		return -ENOMEM;
	e = ids_find(ids->slot, ids->cap, ids->stamp, msg);
	*fresh = e->stamp != ids->stamp;
	if (*fresh) {
		e->msg = msg;
		e->stamp = ids->stamp;
		e->id = ids->next++;
		ids->n++;
	}
	*id = e->id;
	return 0;
}

/* Starts a record: reserves its header and writes kind. Returns where it starts. */
static size_t
rec_begin(struct sl_buf *b, uint8_t kind, int *rc)
{
	size_t at = b->len;
	uint8_t hdr[STORE_FILE_HDR + 1] = {0};

	hdr[STORE_FILE_HDR] = kind;
	*rc = sl_buf_append(b, hdr, sizeof(hdr));
	return at;
}

/* Fills in the header of the record started at at (or drops it when rc < 0). */
static int
rec_end(struct sl_buf *b, size_t at, int rc)
{
	uint8_t *p = b->data + at;
	size_t len = b->len - at - STORE_FILE_HDR;
	uint32_t crc;

	if (rc < 0 || len > STORE_FILE_MAX_REC) {
		b->len = at;
		return rc < 0 ? rc : -EMSGSIZE;
	}
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(len >> (8 * i));
	crc = store_file_crc(0, p, 4);
	crc = store_file_crc(crc, p + STORE_FILE_HDR, len);
	for (int i = 0; i < 4; i++)
		p[4 + i] = (uint8_t)(crc >> (8 * i));
	return 0;
}

static int
put_str(struct sl_buf *b, const char *s)
{
	return store_put_bytes(b, s, (uint32_t)strlen(s) + 1);
}

static int
put_u8(struct sl_buf *b, uint8_t v)
{
	return sl_buf_append(b, &v, 1);
}

/* The field writers below chain with || so the fields go out in order and the first failure
 * (always -ENOMEM) stops the rest. */
int
store_file_put_head(struct sl_buf *b, uint8_t type, uint64_t gen)
{
	int rc;
	size_t at = rec_begin(b, SF_HEAD, &rc);

	if (rc == 0 &&
	    (store_put_u32(b, STORE_FILE_MAGIC) < 0 || store_put_u16(b, STORE_FILE_VERSION) < 0 ||
	     put_u8(b, type) < 0 || store_put_u64(b, gen) < 0))
		rc = -ENOMEM;
	return rec_end(b, at, rc);
}

int
store_file_put_end(struct sl_buf *b, uint64_t records)
{
	int rc;
	size_t at = rec_begin(b, SF_END, &rc);

	if (rc == 0)
		rc = store_put_u64(b, records);
	return rec_end(b, at, rc);
}

/* Writes a MSG record for msg unless this batch or snapshot already has; sets *id. */
static int
put_msg(struct sl_buf *b, struct store_file_ids *ids, const struct sl_msg *msg, uint32_t *id,
        uint64_t *records)
{
	bool fresh;
	size_t at;
	int rc;

	if (ids_get(ids, msg, id, &fresh) < 0)
		return -ENOMEM;
	if (!fresh)
		return 0;
	at = rec_begin(b, SF_MSG, &rc);
	if (rc == 0 && (store_put_u32(b, *id) < 0 || store_msg_encode(b, msg) < 0))
		rc = -ENOMEM;
	if ((rc = rec_end(b, at, rc)) < 0) {
		/* Ids must stay dense on disk: start over at 0, which replay reads as a reset. */
		store_file_ids_reset(ids);
		return rc;
	}
	(*records)++;
	return 0;
}

static int
put_q(struct sl_buf *b, const struct store_q *q, uint32_t msg_id)
{
	uint8_t n = q->n_sub_ids <= STORE_MAX_SUB_IDS ? q->n_sub_ids : STORE_MAX_SUB_IDS;

	if (store_put_u64(b, q->seq) < 0 || store_put_u16(b, q->pid) < 0 || put_u8(b, q->qos) < 0 ||
	    put_u8(b, q->state) < 0 || put_u8(b, q->retain ? 1 : 0) < 0 || put_u8(b, n) < 0)
		return -ENOMEM;
	for (uint8_t i = 0; i < n; i++)
		if (store_put_u32(b, q->sub_ids[i]) < 0)
			return -ENOMEM;
	return store_put_u32(b, msg_id);
}

/* The payload of op after its key; msg_id is its message's. */
static int
put_fields(struct sl_buf *b, const struct store_op *op, uint32_t msg_id)
{
	bool bad = false;

	switch (op->kind) {
	case SOP_SESS_PUT:
		bad = put_u8(b, op->sess.version) < 0 || store_put_u32(b, op->sess.expiry) < 0 ||
		      store_put_u64(b, op->sess.expire_at) < 0 ||
		      put_u8(b, op->sess.username != NULL) < 0 ||
		      (op->sess.username != NULL && put_str(b, op->sess.username) < 0);
		break;
	case SOP_SUB_PUT:
		bad = put_str(b, op->sub.filter) < 0 || put_u8(b, op->sub.options) < 0 ||
		      store_put_u32(b, op->sub.sub_id) < 0;
		break;
	case SOP_SUB_DEL:
		bad = put_str(b, op->sub.filter) < 0;
		break;
	case SOP_Q_PUT:
		bad = put_q(b, &op->q, msg_id) < 0;
		break;
	case SOP_Q_STATE:
		bad = store_put_u64(b, op->q.seq) < 0 || put_u8(b, op->q.state) < 0 ||
		      store_put_u16(b, op->q.pid) < 0;
		break;
	case SOP_Q_DEL:
		bad = store_put_u64(b, op->q.seq) < 0;
		break;
	case SOP_RX_PUT:
	case SOP_RX_DEL:
		bad = store_put_u16(b, op->q.pid) < 0;
		break;
	case SOP_WILL_PUT:
		bad = store_put_u64(b, op->at_ms) < 0 || store_put_u32(b, msg_id) < 0;
		break;
	case SOP_RET_PUT:
		bad = store_put_u32(b, msg_id) < 0;
		break;
	default: /* SESS_DEL, WILL_DEL, RET_DEL: the key alone */
		break;
	}
	return bad ? -ENOMEM : 0;
}

/* Record kind of each op kind (SOP_* order). */
static const uint8_t op_rec[] = {
        SF_SESS_PUT, SF_SESS_DEL, SF_SUB_PUT,  SF_SUB_DEL,  SF_Q_PUT,   SF_Q_STATE, SF_Q_DEL,
        SF_RX_PUT,   SF_RX_DEL,   SF_WILL_PUT, SF_WILL_DEL, SF_RET_PUT, SF_RET_DEL,
};

int
store_file_put_op(struct sl_buf *b, struct store_file_ids *ids, const struct store_op *op,
                  uint64_t *records)
{
	const struct sl_msg *msg = op->kind == SOP_Q_PUT ? op->q.msg : op->msg;
	uint32_t msg_id = 0;
	size_t at;
	int rc;

	if (op->kind >= sizeof(op_rec))
		return -EINVAL;
	if (msg != NULL && (rc = put_msg(b, ids, msg, &msg_id, records)) < 0)
		return rc;
	at = rec_begin(b, op_rec[op->kind], &rc);
	if (rc == 0 && op->key != NULL)
		rc = put_str(b, op->key);
	if (rc == 0)
		rc = put_fields(b, op, msg_id);
	if ((rc = rec_end(b, at, rc)) < 0)
		return rc;
	(*records)++;
	return 0;
}

/* The messages of a file being replayed, by id. */
struct msgtab {
	struct sl_msg **v; /* references */
	uint32_t n, cap;
};

static void
msgtab_clear(struct msgtab *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		sl_msg_unref(t->v[i]);
	t->n = 0;
}

static int
msgtab_add(struct msgtab *t, struct sl_msg *msg)
{
	if (t->n == t->cap) {
		uint32_t cap = t->cap != 0 ? t->cap * 2 : 64;
		struct sl_msg **v = sl_realloc(t->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n++] = msg;
	return 0;
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Checks the frame of the record at p; sets *n to its size. Returns NULL or what is wrong. */
static const char *
frame(const uint8_t *p, size_t avail, size_t *n)
{
	uint32_t len;

	if (avail < STORE_FILE_HDR)
		return "torn record header";
	len = le32(p);
	if (len == 0 || len > STORE_FILE_MAX_REC)
		return "bad record length (zeroed or corrupt)";
	if (avail - STORE_FILE_HDR < len)
		return "record cut short";
	if (store_file_crc(store_file_crc(0, p, 4), p + STORE_FILE_HDR, len) != le32(p + 4))
		return "bad checksum";
	*n = STORE_FILE_HDR + len;
	return NULL;
}

/* A string written with its NUL, no NUL inside: usable in place. */
static int
get_str(struct store_rd *r, const char **s)
{
	struct sl_bytes v;

	*s = NULL;
	if (store_get_bytes(r, &v) < 0)
		return -1;
	if (v.len == 0 || v.p[v.len - 1] != 0 || memchr(v.p, 0, v.len - 1) != NULL) {
		r->bad = 1;
		return -1;
	}
	*s = (const char *)v.p;
	return 0;
}

static int
get_msg(struct store_rd *r, const struct msgtab *t, struct sl_msg **msg)
{
	uint32_t id;

	if (store_get_u32(r, &id) < 0)
		return -1;
	if (id >= t->n) {
		r->bad = 1;
		return -1;
	}
	*msg = sl_msg_ref(t->v[id]);
	return 0;
}

static void
get_q(struct store_rd *r, const struct msgtab *t, struct store_q *q)
{
	uint8_t retain = 0;

	store_get_u64(r, &q->seq);
	store_get_u16(r, &q->pid);
	store_get_u8(r, &q->qos);
	store_get_u8(r, &q->state);
	store_get_u8(r, &retain);
	store_get_u8(r, &q->n_sub_ids);
	if (q->qos > 2 || q->state > STORE_Q_REL || retain > 1 || q->n_sub_ids > STORE_MAX_SUB_IDS)
		r->bad = 1;
	for (uint8_t i = 0; i < q->n_sub_ids && !r->bad; i++)
		store_get_u32(r, &q->sub_ids[i]);
	q->retain = retain != 0;
	if (!r->bad)
		get_msg(r, t, &q->msg);
}

/* Op kind of each write record kind (SF_SESS_PUT on). */
static const uint8_t rec_op[] = {
        SOP_SESS_PUT, SOP_SESS_DEL, SOP_SUB_PUT,  SOP_SUB_DEL,  SOP_Q_PUT,   SOP_Q_STATE, SOP_Q_DEL,
        SOP_RX_PUT,   SOP_RX_DEL,   SOP_WILL_PUT, SOP_WILL_DEL, SOP_RET_PUT, SOP_RET_DEL,
};

/* Decodes a write record into op, whose strings then point into the file. Message references
 * in op are the caller's to drop, even when this fails (-1: malformed). */
static int
get_op(struct store_rd *r, uint8_t kind, const struct msgtab *t, struct store_op *op)
{
	uint8_t has_user = 0;
	const char *key = NULL;

	op->kind = rec_op[kind - SF_SESS_PUT];
	if (kind != SF_RET_PUT)
		get_str(r, &key);
	op->key = (char *)key; /* style: the op is on the stack and never freed; key stays const */
	switch (kind) {
	case SF_SESS_PUT:
		op->sess.client_id = key;
		store_get_u8(r, &op->sess.version);
		store_get_u32(r, &op->sess.expiry);
		store_get_u64(r, &op->sess.expire_at);
		if (store_get_u8(r, &has_user) == 0 && has_user)
			get_str(r, &op->sess.username);
		break;
	case SF_SUB_PUT:
		get_str(r, &op->sub.filter);
		store_get_u8(r, &op->sub.options);
		store_get_u32(r, &op->sub.sub_id);
		break;
	case SF_SUB_DEL:
		get_str(r, &op->sub.filter);
		break;
	case SF_Q_PUT:
		get_q(r, t, &op->q);
		break;
	case SF_Q_STATE:
		store_get_u64(r, &op->q.seq);
		store_get_u8(r, &op->q.state);
		store_get_u16(r, &op->q.pid);
		r->bad |= op->q.state > STORE_Q_REL;
		break;
	case SF_Q_DEL:
		store_get_u64(r, &op->q.seq);
		break;
	case SF_RX_PUT:
	case SF_RX_DEL:
		store_get_u16(r, &op->q.pid);
		break;
	case SF_WILL_PUT:
		store_get_u64(r, &op->at_ms);
		get_msg(r, t, &op->msg);
		break;
	case SF_RET_PUT:
		get_msg(r, t, &op->msg);
		break;
	default: /* SESS_DEL, WILL_DEL, RET_DEL: the key alone */
		break;
	}
	return r->bad || r->off != r->len ? -1 : 0;
}

static const char *
rec_head(struct store_rd *r, uint8_t type, uint64_t gen)
{
	uint32_t magic = 0;
	uint16_t version = 0;
	uint8_t t = 0;
	uint64_t g = 0;

	store_get_u32(r, &magic);
	store_get_u16(r, &version);
	store_get_u8(r, &t);
	store_get_u64(r, &g);
	if (r->bad || r->off != r->len || magic != STORE_FILE_MAGIC)
		return "not a starling store file";
	if (version != STORE_FILE_VERSION)
		return "unsupported format version";
	if (t != type || g != gen)
		return "header names another file";
	return NULL;
}

static const char *
rec_msg(struct store_rd *r, struct msgtab *t, int *rc)
{
	struct sl_msg *msg;
	uint32_t id;
	size_t used;

	if (store_get_u32(r, &id) < 0)
		return "malformed message record";
	if (id == 0)
		msgtab_clear(t);
	if (id != t->n)
		return "message record out of sequence";
	msg = store_msg_decode(r->p + r->off, r->len - r->off, &used);
	if (msg == NULL || used != r->len - r->off) {
		sl_msg_unref(msg);
		return "malformed message record";
	}
	if ((*rc = msgtab_add(t, msg)) < 0)
		sl_msg_unref(msg);
	return NULL;
}

static const char *
rec_write(struct store_file_model *m, struct store_rd *r, uint8_t kind, const struct msgtab *t,
          int *rc)
{
	struct store_op op;
	const char *why = NULL;

	memset(&op, 0, sizeof(op));
	if (get_op(r, kind, t, &op) < 0)
		why = "malformed record";
	else if ((*rc = store_file_apply(m, &op)) == -EINVAL)
		why = "record without its message";
	sl_msg_unref(op.q.msg);
	sl_msg_unref(op.msg);
	if (*rc == -EINVAL)
		*rc = 0;
	return why;
}

/* Applies the record (kind + payload at p, n bytes). Returns NULL or why it is unusable. */
static const char *
record(struct store_file_model *m, struct msgtab *t, const uint8_t *p, size_t n, uint8_t type,
       uint64_t gen, struct store_file_scan *sc, int *rc)
{
	struct store_rd r = {p + 1, n - 1, 0, 0};
	uint64_t count;

	if (sc->records == 0)
		return p[0] == SF_HEAD ? rec_head(&r, type, gen) : "no header";
	if (sc->ended)
		return "records after the end";
	switch (p[0]) {
	case SF_END:
		if (type != STORE_FILE_SNAP || store_get_u64(&r, &count) < 0 || r.off != r.len ||
		    count != sc->records)
			return "bad end record";
		sc->ended = true;
		return NULL;
	case SF_MSG:
		return rec_msg(&r, t, rc);
	default:
		if (p[0] < SF_SESS_PUT || p[0] > SF_RET_DEL)
			return "unknown record kind";
		return rec_write(m, &r, p[0], t, rc);
	}
}

int
store_file_scan(struct store_file_model *m, const uint8_t *p, size_t len, uint8_t type,
                uint64_t gen, struct store_file_scan *sc)
{
	struct msgtab t = {NULL, 0, 0};
	size_t off = 0, n = 0;
	int rc = 0;

	memset(sc, 0, sizeof(*sc));
	while (off < len && rc == 0) {
		sc->why = frame(p + off, len - off, &n);
		if (sc->why == NULL)
			sc->why = record(m, &t, p + off + STORE_FILE_HDR, n - STORE_FILE_HDR, type,
			                 gen, sc, &rc);
		if (sc->why != NULL || rc < 0)
			break;
		off += n;
		sc->good = off;
		sc->records++;
	}
	msgtab_clear(&t);
	sl_free(t.v);
	return rc;
}
