/* tests/unit/storage/test_store_image.c - a whole session as a value (storage/store_image.h):
 * a full and an empty session survive encode and decode; every truncation, trailing bytes and
 * random byte flips decode to an error or a valid image, never a crash or a leak (run under
 * ASan); counts the bytes cannot hold fail before anything is allocated; running out of memory
 * at each allocation in turn is an error, never a leak. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/sl_alloc.h"
#include "storage/store_codec.h"
#include "storage/store_image.h"

#define N_SUBS 40
#define N_Q 9
#define N_RX 5

static struct sl_bytes
bv(const char *s)
{
	return sl_bytes_make(s, (uint32_t)strlen(s));
}

static struct sl_msg *
msg(const char *topic, const char *payload)
{
	static const uint8_t props[] = {0x03, 0x00, 0x01, 'x'}; /* content type "x" */
	struct sl_bytes user = bv("bob");
	struct sl_msg *m = sl_msg_new_from(bv(topic), sl_bytes_make(props, sizeof(props)),
	                                   bv(payload), bv("pub"), &user, 2, false);

	ck_assert_ptr_nonnull(m);
	m->expiry_at_ms = 1700000000123ull;
	m->payload_format = 1;
	return m;
}

/* A session with everything: user name, subscriptions (shared ones and sub ids), deliveries
 * queued, sent and released with sub ids, receive ids and a will. */
static struct store_image *
full_image(void)
{
	struct store_sess s = {"client-1", 5, 3600, 1700000000999ull, "alice"};
	struct store_image *img = store_image_new(&s);
	struct sl_msg *m = msg("a/b", "hello"), *will = msg("will/1", "bye");
	char filter[64];

	ck_assert_ptr_nonnull(img);
	for (uint32_t i = 0; i < N_SUBS; i++) {
		if (i % 4 == 0)
			snprintf(filter, sizeof(filter), "$share/g%u/t/+/x", i);
		else
			snprintf(filter, sizeof(filter), "t/%u/#", i);
		ck_assert_int_eq(store_image_add_sub(img, &(struct store_sub){filter, (uint8_t)i,
		                                                              i % 3 == 0 ? 0 : i}),
		                 0);
	}
	for (uint32_t i = 0; i < N_Q; i++) {
		struct store_q q = {.seq = 10 + 3 * i,
		                    .pid = i % 3 == 0 ? 0 : (uint16_t)(100 + i),
		                    .qos = (uint8_t)(1 + i % 2),
		                    .state = (uint8_t)(i % 3), /* queued, sent, released */
		                    .retain = i % 2 == 0,
		                    .n_sub_ids = (uint8_t)(i % (STORE_MAX_SUB_IDS + 1)),
		                    .msg = m};

		for (uint8_t k = 0; k < q.n_sub_ids; k++)
			q.sub_ids[k] = 1000 * i + k;
		ck_assert_int_eq(store_image_add_q(img, &q), 0);
	}
	for (uint16_t i = 0; i < N_RX; i++)
		ck_assert_int_eq(store_image_add_rx(img, (uint16_t)(7 + 11 * i)), 0);
	store_image_set_will(img, will, 1700000005000ull);
	sl_msg_unref(m); /* the image keeps its own references */
	sl_msg_unref(will);
	return img;
}

static void
encode(const struct store_image *img, struct sl_buf *b)
{
	*b = (struct sl_buf)SL_BUF_INIT;
	ck_assert_int_eq(store_image_encode(b, img), 0);
}

static void
assert_same_msg(const struct sl_msg *a, const struct sl_msg *b)
{
	struct sl_buf x = SL_BUF_INIT, y = SL_BUF_INIT;

	ck_assert_int_eq(store_msg_encode(&x, a), 0);
	ck_assert_int_eq(store_msg_encode(&y, b), 0);
	ck_assert_uint_eq(x.len, y.len);
	ck_assert_mem_eq(x.data, y.data, x.len);
	sl_buf_fini(&x);
	sl_buf_fini(&y);
}

static void
assert_same_sess(const struct store_sess *a, const struct store_sess *b)
{
	ck_assert_str_eq(a->client_id, b->client_id);
	ck_assert_uint_eq(a->version, b->version);
	ck_assert_uint_eq(a->expiry, b->expiry);
	ck_assert_uint_eq(a->expire_at, b->expire_at);
	ck_assert_int_eq(a->username == NULL, b->username == NULL);
	if (a->username != NULL)
		ck_assert_str_eq(a->username, b->username);
}

/* Every field of a and b alike, field by field (not only as bytes). */
static void
assert_same(const struct store_image *a, const struct store_image *b)
{
	assert_same_sess(&a->sess, &b->sess);
	ck_assert_uint_eq(a->n_subs, b->n_subs);
	for (uint32_t i = 0; i < a->n_subs; i++) {
		ck_assert_str_eq(a->subs[i].filter, b->subs[i].filter);
		ck_assert_uint_eq(a->subs[i].options, b->subs[i].options);
		ck_assert_uint_eq(a->subs[i].sub_id, b->subs[i].sub_id);
	}
	ck_assert_uint_eq(a->n_q, b->n_q);
	for (uint32_t i = 0; i < a->n_q; i++) {
		const struct store_q *x = &a->q[i], *y = &b->q[i];

		ck_assert_uint_eq(x->seq, y->seq);
		ck_assert_uint_eq(x->pid, y->pid);
		ck_assert_uint_eq(x->qos, y->qos);
		ck_assert_uint_eq(x->state, y->state);
		ck_assert_int_eq(x->retain, y->retain);
		ck_assert_uint_eq(x->n_sub_ids, y->n_sub_ids);
		for (uint8_t k = 0; k < x->n_sub_ids; k++)
			ck_assert_uint_eq(x->sub_ids[k], y->sub_ids[k]);
		assert_same_msg(x->msg, y->msg);
	}
	ck_assert_uint_eq(a->n_rx, b->n_rx);
	for (uint32_t i = 0; i < a->n_rx; i++)
		ck_assert_uint_eq(a->rx[i], b->rx[i]);
	ck_assert_int_eq(a->will == NULL, b->will == NULL);
	if (a->will != NULL) {
		ck_assert_uint_eq(a->will_at, b->will_at);
		assert_same_msg(a->will, b->will);
	}
}

/* Whether a decoded image is valid: within the rules of store_image_add_q, and the same bytes
 * again after another encode and decode. (Not always the bytes it came from: a message may
 * decode from a form its encoder no longer writes, such as a user name its sender kind
 * ignores.) Plain checks, no ck_assert: each of those costs a round trip to the runner, too
 * slow by the thousand. */
static bool
valid(const struct store_image *img)
{
	struct sl_buf b = SL_BUF_INIT, b2 = SL_BUF_INIT;
	struct store_image *again = NULL;
	bool ok = true;

	for (uint32_t i = 0; i < img->n_q; i++)
		ok &= img->q[i].msg != NULL && img->q[i].qos <= 2 &&
		      img->q[i].state <= STORE_Q_REL && img->q[i].n_sub_ids <= STORE_MAX_SUB_IDS &&
		      (i == 0 || img->q[i].seq > img->q[i - 1].seq);
	ok &= store_image_encode(&b, img) == 0 && store_image_decode(b.data, b.len, &again) == 0 &&
	      store_image_encode(&b2, again) == 0 && b.len == b2.len &&
	      memcmp(b.data, b2.data, b.len) == 0;
	store_image_free(again);
	sl_buf_fini(&b);
	sl_buf_fini(&b2);
	return ok;
}

START_TEST(test_full_round_trip)
{
	struct store_image *img = full_image(), *got = NULL;
	struct sl_buf b, again;

	encode(img, &b);
	ck_assert_int_eq(store_image_decode(b.data, b.len, &got), 0);
	ck_assert_ptr_nonnull(got);
	assert_same(img, got);
	ck_assert_uint_eq(got->n_subs, N_SUBS);
	ck_assert_uint_eq(got->n_q, N_Q);
	ck_assert_uint_eq(got->q[N_Q - 1].n_sub_ids, STORE_MAX_SUB_IDS);
	ck_assert_uint_eq(got->q[2].state, STORE_Q_REL);
	ck_assert_str_eq(got->sess.username, "alice");
	ck_assert_mem_eq(got->will->payload.p, "bye", 3);
	ck_assert(valid(got));
	encode(got, &again);
	ck_assert_uint_eq(again.len, b.len);
	ck_assert_mem_eq(again.data, b.data, b.len);
	store_image_free(got);
	store_image_free(img);
	sl_buf_fini(&b);
	sl_buf_fini(&again);
}
END_TEST

START_TEST(test_empty_round_trip)
{
	struct store_image *img = store_image_new(&(struct store_sess){"c", 4, 0, 0, NULL});
	struct store_image *got = NULL;
	struct sl_buf b;

	ck_assert_ptr_nonnull(img);
	encode(img, &b);
	/* version, flags, id, protocol version, expiry, expire_at, three empty counts */
	ck_assert_uint_eq(b.len, 2 + (4 + 1) + 1 + 4 + 8 + 3 * 4);
	ck_assert_int_eq(store_image_decode(b.data, b.len, &got), 0);
	assert_same(img, got);
	ck_assert_ptr_null(got->sess.username);
	ck_assert_ptr_null(got->will);
	ck_assert_uint_eq(got->n_subs + got->n_q + got->n_rx, 0);
	store_image_free(got);
	store_image_free(img);
	sl_buf_fini(&b);
}
END_TEST

/* Every proper prefix is truncated: an error, *out NULL. One byte more is trailing. */
START_TEST(test_every_truncation_and_trailing)
{
	struct store_image *img = full_image(), *got = img;
	struct sl_buf b;

	encode(img, &b);
	for (size_t len = 0; len < b.len; len++)
		if (store_image_decode(b.data, len, &got) != -EINVAL || got != NULL)
			ck_abort_msg("prefix %zu decoded", len);
	ck_assert_int_eq(sl_buf_append(&b, "", 1), 0);
	ck_assert_int_eq(store_image_decode(b.data, b.len, &got), -EINVAL);
	store_image_free(img);
	sl_buf_fini(&b);
}
END_TEST

/* Flips in every byte, then random ones: an error, or an image that is valid. */
START_TEST(test_byte_flips)
{
	struct store_image *img = full_image(), *got;
	struct sl_buf b;
	uint8_t *p;
	int rc;

	encode(img, &b);
	p = malloc(b.len);
	ck_assert_ptr_nonnull(p);
	srandom(1);
	for (size_t n = 0; n < b.len * 8 + 20000; n++) {
		memcpy(p, b.data, b.len);
		if (n < b.len * 8) {
			p[n / 8] ^= (uint8_t)(1u << (n % 8));
		} else {
			for (long k = random() % 4; k >= 0; k--)
				p[(size_t)random() % b.len] = (uint8_t)random();
		}
		rc = store_image_decode(p, b.len, &got);
		if ((rc != 0 && rc != -EINVAL) || (rc == 0) != (got != NULL) ||
		    (got != NULL && !valid(got)))
			ck_abort_msg("flip %zu: rc %d", n, rc);
		store_image_free(got);
	}
	free(p);
	store_image_free(img);
	sl_buf_fini(&b);
}
END_TEST

/* A count past what the bytes left hold fails before its entries are allocated. */
START_TEST(test_count_beyond_bytes)
{
	struct store_image *img = store_image_new(&(struct store_sess){"c", 5, 0, 0, NULL});
	struct store_image *got = img;
	struct sl_buf b;
	size_t subs_at;

	encode(img, &b);
	subs_at = 2 + (4 + 1) + 1 + 4 + 8;
	for (int which = 0; which < 3; which++) {
		uint8_t *count = b.data + subs_at + 4 * which;

		memset(count, 0xff, 4);
		ck_assert_int_eq(store_image_decode(b.data, b.len, &got), -EINVAL);
		ck_assert_ptr_null(got);
		count[0] = 1; /* one entry, no bytes for it */
		count[1] = count[2] = count[3] = 0;
		ck_assert_int_eq(store_image_decode(b.data, b.len, &got), -EINVAL);
		memset(count, 0, 4);
	}
	ck_assert_int_eq(store_image_decode(b.data, b.len, &got), 0);
	store_image_free(got);
	store_image_free(img);
	sl_buf_fini(&b);
}
END_TEST

/* Strings the image could not give back as C strings, unknown versions and flags. */
START_TEST(test_malformed_fields)
{
	struct store_image *img = store_image_new(&(struct store_sess){"cid", 5, 0, 0, NULL});
	struct store_image *got = img;
	struct sl_buf b;

	encode(img, &b);
	b.data[2 + 4 + 1] = 0; /* "c\0d" */
	ck_assert_int_eq(store_image_decode(b.data, b.len, &got), -EINVAL);
	b.data[2 + 4 + 1] = 'i';
	b.data[0] = STORE_IMAGE_VERSION + 1;
	ck_assert_int_eq(store_image_decode(b.data, b.len, &got), -EINVAL);
	b.data[0] = STORE_IMAGE_VERSION;
	b.data[1] = 4;
	ck_assert_int_eq(store_image_decode(b.data, b.len, &got), -EINVAL);
	b.data[1] = 0;
	ck_assert_int_eq(store_image_decode(b.data, b.len, &got), 0);
	ck_assert_str_eq(got->sess.client_id, "cid");
	store_image_free(got);
	store_image_free(img);
	sl_buf_fini(&b);
}
END_TEST

/* What add_q refuses; set_will replaces and clears. */
START_TEST(test_add_rules)
{
	struct store_image *img = store_image_new(&(struct store_sess){"c", 5, 0, 0, NULL});
	struct sl_msg *m = msg("t", "p");
	struct store_q q = {.seq = 5, .qos = 1, .msg = m};

	ck_assert_int_eq(store_image_add_q(img, &q), 0);
	ck_assert_int_eq(store_image_add_q(img, &q), -EINVAL); /* seq not above the last */
	q.seq = 4;
	ck_assert_int_eq(store_image_add_q(img, &q), -EINVAL);
	q.seq = 6;
	q.qos = 3;
	ck_assert_int_eq(store_image_add_q(img, &q), -EINVAL);
	q.qos = 2;
	q.state = STORE_Q_REL + 1;
	ck_assert_int_eq(store_image_add_q(img, &q), -EINVAL);
	q.state = STORE_Q_REL;
	q.n_sub_ids = STORE_MAX_SUB_IDS + 1;
	ck_assert_int_eq(store_image_add_q(img, &q), -EINVAL);
	q.n_sub_ids = 0;
	q.msg = NULL;
	ck_assert_int_eq(store_image_add_q(img, &q), -EINVAL);
	q.msg = m;
	ck_assert_int_eq(store_image_add_q(img, &q), 0);
	ck_assert_uint_eq(img->n_q, 2);
	store_image_set_will(img, m, 9);
	store_image_set_will(img, m, 10);
	ck_assert_uint_eq(img->will_at, 10);
	ck_assert_uint_eq(atomic_load(&m->refs), 4); /* ours, two deliveries, the will */
	store_image_set_will(img, NULL, 11);
	ck_assert_ptr_null(img->will);
	store_image_free(img);
	ck_assert_uint_eq(atomic_load(&m->refs), 1);
	sl_msg_unref(m);
}
END_TEST

static int fail_at;  /* the allocation to fail, counting from 0 */
static int n_allocs; /* allocations seen since the hook was set */

static int
fail_nth(size_t size)
{
	(void)size;
	return n_allocs++ == fail_at;
}

/* Each allocation failing in turn: an error (the caller's buffer as it was), never a leak. */
START_TEST(test_out_of_memory)
{
	struct store_image *img = full_image(), *got;
	struct sl_buf b, out = SL_BUF_INIT;
	int rc;

	encode(img, &b);
	for (fail_at = 0;; fail_at++) {
		n_allocs = 0;
		sl_alloc_set_fail_hook(fail_nth);
		rc = store_image_decode(b.data, b.len, &got);
		sl_alloc_set_fail_hook(NULL);
		/* store_msg_decode does not tell ENOMEM from malformed: -EINVAL then */
		ck_assert_msg(rc == 0 || rc == -ENOMEM || rc == -EINVAL, "%d: rc %d", fail_at, rc);
		ck_assert_int_eq(rc == 0, got != NULL);
		store_image_free(got);
		if (n_allocs <= fail_at)
			break; /* nothing failed: every allocation has been tried */
	}
	ck_assert_int_eq(rc, 0);
	for (fail_at = 0;; fail_at++) {
		out.len = 0;
		ck_assert_int_eq(sl_buf_append(&out, "xy", 2), 0);
		n_allocs = 0;
		sl_alloc_set_fail_hook(fail_nth);
		rc = store_image_encode(&out, img);
		sl_alloc_set_fail_hook(NULL);
		ck_assert_msg(rc == 0 || (rc == -ENOMEM && out.len == 2), "%d: rc %d", fail_at, rc);
		sl_buf_fini(&out);
		if (n_allocs <= fail_at)
			break;
	}
	ck_assert_int_eq(rc, 0);
	store_image_free(img);
	sl_buf_fini(&b);
}
END_TEST

Suite *
store_image_suite(void)
{
	Suite *s = suite_create("store_image");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30); /* test_byte_flips decodes some 30000 inputs: ~2 s under ASan */
	tcase_add_test(tc, test_full_round_trip);
	tcase_add_test(tc, test_empty_round_trip);
	tcase_add_test(tc, test_every_truncation_and_trailing);
	tcase_add_test(tc, test_byte_flips);
	tcase_add_test(tc, test_count_beyond_bytes);
	tcase_add_test(tc, test_malformed_fields);
	tcase_add_test(tc, test_add_rules);
	tcase_add_test(tc, test_out_of_memory);
	suite_add_tcase(s, tc);
	return s;
}
