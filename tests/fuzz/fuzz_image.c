/* Fuzzes store_image_decode (storage/store_image.h), the bytes a store or a cluster handoff
 * gives back: any input decodes to an error or to an image within the rules of
 * store_image_add_q that encodes, decodes and encodes again to the same bytes. Allocations
 * stay bounded by the input (libFuzzer's -malloc_limit_mb) and nothing leaks (ASan). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/store_image.h"

static void
check_rules(const struct store_image *img)
{
	for (uint32_t i = 0; i < img->n_q; i++) {
		const struct store_q *q = &img->q[i];

		if (q->msg == NULL || q->qos > 2 || q->state > STORE_Q_REL ||
		    q->n_sub_ids > STORE_MAX_SUB_IDS || (i > 0 && q->seq <= img->q[i - 1].seq))
			abort();
	}
	if (img->sess.client_id == NULL)
		abort();
}

/* Once decoded, an image is a fixed point of encode and decode. */
static void
check_round_trip(const struct store_image *img)
{
	struct sl_buf b = SL_BUF_INIT, b2 = SL_BUF_INIT;
	struct store_image *again = NULL;

	if (store_image_encode(&b, img) < 0)
		goto out; /* out of memory: nothing to check */
	if (store_image_decode(b.data, b.len, &again) != 0)
		abort();
	if (store_image_encode(&b2, again) < 0)
		goto out;
	if (b.len != b2.len || memcmp(b.data, b2.data, b.len) != 0)
		abort();
out:
	store_image_free(again);
	sl_buf_fini(&b);
	sl_buf_fini(&b2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_image *img = NULL;
	int rc = store_image_decode(data, size, &img);

	if ((rc != 0 && rc != -EINVAL && rc != -ENOMEM) || (rc == 0) != (img != NULL))
		abort(); /* the contract in store_image.h was broken */
	if (img == NULL)
		return 0;
	check_rules(img);
	check_round_trip(img);
	store_image_free(img);
	return 0;
}
