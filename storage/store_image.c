/* storage/store_image.c - a whole session as a value, and its encoding (store_image.h). */
#include "store_image.h"
#include "store_be.h"

#include <errno.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "store_codec.h"

#define FLAG_USER 1
#define FLAG_WILL 2

/* The fewest bytes an entry can take, to bound counts by the bytes left: a subscription (empty
 * filter), a delivery (no sub ids; a version 1 message with every field empty) and an rx id. */
#define SUB_MIN (4 + 1 + 4)
#define Q_MIN (8 + 2 + 1 + 1 + 1 + 1 + (1 + 1 + 8 + 4 * 4))
#define RX_MIN 2

struct store_image *
store_image_new(const struct store_sess *s)
{
	struct store_image *img = sl_calloc(1, sizeof(*img));

	if (img == NULL)
		return NULL;
	img->sess = *s;
	img->sess.client_id = sl_strdup(s->client_id);
	img->sess.username = s->username != NULL ? sl_strdup(s->username) : NULL;
	if (img->sess.client_id == NULL || (s->username != NULL && img->sess.username == NULL)) {
		store_image_free(img);
		return NULL;
	}
	return img;
}

void
store_image_free(struct store_image *img)
{
	if (img == NULL)
		return;
	for (uint32_t i = 0; i < img->n_subs; i++)
		sl_free((char *)img->subs[i].filter);
	for (uint32_t i = 0; i < img->n_q; i++)
		sl_msg_unref(img->q[i].msg);
	sl_free(img->subs);
	sl_free(img->q);
	sl_free(img->rx);
	sl_msg_unref(img->will);
	sl_free((char *)img->sess.client_id);
	sl_free((char *)img->sess.username);
	sl_free(img);
}

/* Room for n more entries of size bytes past len in arr (cap allocated): returns arr, moved
 * perhaps, or NULL on ENOMEM (arr unchanged). Doubles, so appending one by one stays linear. */
static void *
room(void *arr, uint32_t *cap, uint32_t len, uint32_t n, size_t size)
{
	uint64_t want = (uint64_t)*cap * 2;
	void *p;

	if (*cap - len >= n)
		return arr;
	if (want < (uint64_t)len + n)
		want = (uint64_t)len + n;
	if (want < 4)
		want = 4;
	if (want > UINT32_MAX || want > SIZE_MAX / size)
		return NULL;
	if ((p = sl_realloc(arr, (size_t)want * size)) == NULL)
		return NULL;
	*cap = (uint32_t)want;
	return p;
}

/* Appends a subscription whose filter the image takes (freed here on failure). */
static int
push_sub(struct store_image *img, char *filter, uint8_t options, uint32_t sub_id)
{
	struct store_sub *subs = room(img->subs, &img->cap_subs, img->n_subs, 1, sizeof(*subs));

	if (subs == NULL) {
		sl_free(filter);
		return -ENOMEM;
	}
	img->subs = subs;
	subs[img->n_subs++] = (struct store_sub){filter, options, sub_id};
	return 0;
}

int
store_image_add_sub(struct store_image *img, const struct store_sub *sub)
{
	char *filter = sl_strdup(sub->filter);

	if (filter == NULL)
		return -ENOMEM;
	return push_sub(img, filter, sub->options, sub->sub_id);
}

int
store_image_add_q(struct store_image *img, const struct store_q *q)
{
	struct store_q *qs;

	if (q->msg == NULL || q->qos > 2 || q->state > STORE_Q_REL ||
	    q->n_sub_ids > STORE_MAX_SUB_IDS ||
	    (img->n_q > 0 && q->seq <= img->q[img->n_q - 1].seq))
		return -EINVAL;
	if ((qs = room(img->q, &img->cap_q, img->n_q, 1, sizeof(*qs))) == NULL)
		return -ENOMEM;
	img->q = qs;
	qs[img->n_q] = *q;
	qs[img->n_q++].msg = sl_msg_ref(q->msg);
	return 0;
}

int
store_image_add_rx(struct store_image *img, uint16_t pid)
{
	uint16_t *rx = room(img->rx, &img->cap_rx, img->n_rx, 1, sizeof(*rx));

	if (rx == NULL)
		return -ENOMEM;
	img->rx = rx;
	rx[img->n_rx++] = pid;
	return 0;
}

void
store_image_set_will(struct store_image *img, struct sl_msg *msg, uint64_t at_ms)
{
	struct sl_msg *old = img->will;

	img->will = msg != NULL ? sl_msg_ref(msg) : NULL;
	img->will_at = msg != NULL ? at_ms : 0;
	sl_msg_unref(old);
}

static int
put_u8(struct sl_buf *b, uint8_t v)
{
	return sl_buf_append(b, &v, 1);
}

static int
put_str(struct sl_buf *b, const char *s)
{
	size_t n = strlen(s);

	if (n > UINT32_MAX)
		return -EINVAL;
	return store_put_bytes(b, s, (uint32_t)n);
}

static int
put_q(struct sl_buf *b, const struct store_q *q)
{
	int rc = 0;

	if (store_put_u64(b, q->seq) < 0 || store_put_u16(b, q->pid) < 0 || put_u8(b, q->qos) < 0 ||
	    put_u8(b, q->state) < 0 || put_u8(b, q->retain ? 1 : 0) < 0 ||
	    put_u8(b, q->n_sub_ids) < 0)
		return -ENOMEM;
	for (uint8_t i = 0; i < q->n_sub_ids && rc == 0; i++)
		rc = store_put_u32(b, q->sub_ids[i]);
	return rc < 0 ? rc : store_msg_encode(b, q->msg);
}

/* The record, then the subscriptions: everything up to the deliveries. */
static int
put_head(struct sl_buf *b, const struct store_image *img)
{
	const struct store_sess *s = &img->sess;
	uint8_t head[2] = {STORE_IMAGE_VERSION, (uint8_t)((s->username != NULL ? FLAG_USER : 0) |
	                                                  (img->will != NULL ? FLAG_WILL : 0))};
	int rc;

	if (sl_buf_append(b, head, sizeof(head)) < 0)
		return -ENOMEM;
	if ((rc = put_str(b, s->client_id)) < 0)
		return rc;
	if (put_u8(b, s->version) < 0 || store_put_u32(b, s->expiry) < 0 ||
	    store_put_u64(b, s->expire_at) < 0)
		return -ENOMEM;
	if (s->username != NULL && (rc = put_str(b, s->username)) < 0)
		return rc;
	if (store_put_u32(b, img->n_subs) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < img->n_subs; i++) {
		const struct store_sub *sub = &img->subs[i];

		if ((rc = put_str(b, sub->filter)) < 0)
			return rc;
		if (put_u8(b, sub->options) < 0 || store_put_u32(b, sub->sub_id) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int
put_image(struct sl_buf *b, const struct store_image *img)
{
	int rc = put_head(b, img);

	if (rc == 0)
		rc = store_put_u32(b, img->n_q);
	for (uint32_t i = 0; i < img->n_q && rc == 0; i++)
		rc = put_q(b, &img->q[i]);
	if (rc == 0)
		rc = store_put_u32(b, img->n_rx);
	for (uint32_t i = 0; i < img->n_rx && rc == 0; i++)
		rc = store_put_u16(b, img->rx[i]);
	if (rc == 0 && img->will != NULL && (rc = store_put_u64(b, img->will_at)) == 0)
		rc = store_msg_encode(b, img->will);
	return rc;
}

int
store_image_encode(struct sl_buf *out, const struct store_image *img)
{
	size_t start = out->len;
	int rc = put_image(out, img);

	if (rc < 0)
		out->len = start; /* no half image: the caller's buffer is as it was */
	return rc;
}

/* A new NUL-terminated copy of v in *s: -EINVAL if v holds a NUL (a C string would end
 * there, and the image would no longer say what the bytes said), -ENOMEM. */
static int
get_str(struct store_rd *r, char **s)
{
	struct sl_bytes v;

	*s = NULL;
	if (store_get_bytes(r, &v) < 0 || memchr(v.p, 0, v.len) != NULL)
		return -EINVAL;
	if ((*s = sl_strndup((const char *)v.p, v.len)) == NULL)
		return -ENOMEM;
	return 0;
}

/* Reads a count of entries of at least min bytes each, no more than the bytes left hold. */
static int
get_count(struct store_rd *r, size_t min, uint32_t *n)
{
	if (store_get_u32(r, n) < 0 || *n > (r->len - r->off) / min)
		return -EINVAL;
	return 0;
}

/* The record: a new image in *out, or an error. */
static int
get_sess(struct store_rd *r, uint8_t flags, struct store_image **out)
{
	struct store_sess s = {NULL, 0, 0, 0, NULL};
	char *id = NULL, *user = NULL;
	int rc;

	*out = NULL;
	if ((rc = get_str(r, &id)) < 0)
		goto fail;
	store_get_u8(r, &s.version);
	store_get_u32(r, &s.expiry);
	if (store_get_u64(r, &s.expire_at) < 0) {
		rc = -EINVAL;
		goto fail;
	}
	if ((flags & FLAG_USER) && (rc = get_str(r, &user)) < 0)
		goto fail;
	s.client_id = id;
	s.username = user;
	rc = (*out = store_image_new(&s)) != NULL ? 0 : -ENOMEM;
fail:
	sl_free(id);
	sl_free(user);
	return rc;
}

static int
get_subs(struct store_rd *r, struct store_image *img)
{
	uint32_t n, sub_id;
	uint8_t options;
	char *filter;
	int rc;

	if (get_count(r, SUB_MIN, &n) < 0)
		return -EINVAL;
	if (n > 0 &&
	    (img->subs = room(img->subs, &img->cap_subs, 0, n, sizeof(*img->subs))) == NULL)
		return -ENOMEM; /* img is new: nothing to lose */
	for (uint32_t i = 0; i < n; i++) {
		if ((rc = get_str(r, &filter)) < 0)
			return rc;
		store_get_u8(r, &options);
		if (store_get_u32(r, &sub_id) < 0) {
			sl_free(filter);
			return -EINVAL;
		}
		if ((rc = push_sub(img, filter, options, sub_id)) < 0)
			return rc;
	}
	return 0;
}

/* One delivery, its message a new reference in q->msg (NULL on error). */
static int
get_q(struct store_rd *r, struct store_q *q)
{
	uint8_t retain;
	size_t used;

	q->msg = NULL;
	store_get_u64(r, &q->seq);
	store_get_u16(r, &q->pid);
	store_get_u8(r, &q->qos);
	store_get_u8(r, &q->state);
	store_get_u8(r, &retain);
	store_get_u8(r, &q->n_sub_ids);
	if (r->bad || retain > 1 || q->n_sub_ids > STORE_MAX_SUB_IDS)
		return -EINVAL;
	q->retain = retain != 0;
	for (uint8_t i = 0; i < q->n_sub_ids; i++)
		store_get_u32(r, &q->sub_ids[i]);
	if (r->bad || (q->msg = store_msg_decode(r->p + r->off, r->len - r->off, &used)) == NULL)
		return -EINVAL;
	r->off += used;
	return 0;
}

static int
get_qs(struct store_rd *r, struct store_image *img)
{
	struct store_q q;
	uint32_t n;
	int rc;

	if (get_count(r, Q_MIN, &n) < 0)
		return -EINVAL;
	if (n > 0 && (img->q = room(img->q, &img->cap_q, 0, n, sizeof(*img->q))) == NULL)
		return -ENOMEM; /* img is new: nothing to lose */
	for (uint32_t i = 0; i < n; i++) {
		memset(&q, 0, sizeof(q));
		if ((rc = get_q(r, &q)) < 0)
			return rc;
		rc = store_image_add_q(img, &q); /* the same rules as for any caller */
		sl_msg_unref(q.msg);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The receive ids, then the will. */
static int
get_tail(struct store_rd *r, uint8_t flags, struct store_image *img)
{
	struct sl_msg *will;
	uint64_t at_ms;
	uint16_t pid;
	size_t used;
	uint32_t n;

	if (get_count(r, RX_MIN, &n) < 0)
		return -EINVAL;
	if (n > 0 && (img->rx = room(img->rx, &img->cap_rx, 0, n, sizeof(*img->rx))) == NULL)
		return -ENOMEM; /* img is new: nothing to lose */
	for (uint32_t i = 0; i < n; i++) {
		store_get_u16(r, &pid);
		img->rx[img->n_rx++] = pid; /* room for n made above; the count bounds the reads */
	}
	if (!(flags & FLAG_WILL))
		return 0;
	if (store_get_u64(r, &at_ms) < 0 ||
	    (will = store_msg_decode(r->p + r->off, r->len - r->off, &used)) == NULL)
		return -EINVAL;
	r->off += used;
	store_image_set_will(img, will, at_ms);
	sl_msg_unref(will);
	return 0;
}

int
store_image_decode(const uint8_t *p, size_t len, struct store_image **out)
{
	struct store_rd r = {p, len, 0, 0};
	struct store_image *img = NULL;
	uint8_t ver = 0, flags = 0;
	int rc;

	store_get_u8(&r, &ver);
	store_get_u8(&r, &flags);
	if (r.bad || ver != STORE_IMAGE_VERSION || (flags & ~(FLAG_USER | FLAG_WILL)) != 0) {
		rc = -EINVAL;
		goto fail;
	}
	if ((rc = get_sess(&r, flags, &img)) < 0 || (rc = get_subs(&r, img)) < 0 ||
	    (rc = get_qs(&r, img)) < 0 || (rc = get_tail(&r, flags, img)) < 0)
		goto fail;
	if (r.off != len) { /* trailing bytes: not what an encoder wrote */
		rc = -EINVAL;
		goto fail;
	}
	*out = img;
	return 0;
fail:
	store_image_free(img);
	*out = NULL;
	return rc;
}

int
store_image_each(const struct store_image *img, const struct store_be_visitor *v, void *arg)
{
	const char *id = img->sess.client_id;
	int rc = v->sess(arg, &img->sess);

	for (uint32_t i = 0; i < img->n_subs && rc == 0; i++)
		rc = v->sub(arg, id, &img->subs[i]);
	for (uint32_t i = 0; i < img->n_q && rc == 0; i++)
		rc = v->q(arg, id, &img->q[i]);
	for (uint32_t i = 0; i < img->n_rx && rc == 0; i++)
		rc = v->rx(arg, id, img->rx[i]);
	if (rc == 0 && img->will != NULL)
		rc = v->will(arg, id, img->will, img->will_at);
	return rc;
}
