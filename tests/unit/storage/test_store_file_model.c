/* Tests for storage/store_file_model.c and store_file_rec.c: the embedded backend's state in
 * memory (queue order, many sessions, which records a backend keeps, shared messages) and its
 * records (checksum, replay of damaged or random bytes). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file_fix.h"
#include "proto/base/sl_alloc.h"
#include "storage/store_be.h"
#include "storage/store_file.h"

/* Out-of-order puts, deletes leaving holes, many entries: order survives both paths. */
static void
write_queue(struct fix *f)
{
	static const uint64_t first[] = {5, 3, 9, 1};
	struct store_sess c1 = {"c1", 5, 100, 0, NULL};

	store_sess_put(f->h, &c1);
	for (size_t i = 0; i < N(first); i++)
		fix_put_q(f->h, "c1", first[i], "x");
	store_q_del(f->h, "c1", 3);
	for (uint64_t i = 10; i < 3010; i++)
		fix_put_q(f->h, "c1", i, "x");
	for (uint64_t i = 11; i < 3010; i += 2)
		store_q_del(f->h, "c1", i);
	fix_put_q(f->h, "c1", 4, "x");
}

START_TEST(test_queue_order_and_holes)
{
	struct store_conf cf;
	struct fix f;

	fix_init(&f);
	cf = fix_conf(&f, STORE_SYNC_NONE);
	fix_in_child(&f, &cf, write_queue, false);
	ck_assert_uint_eq(fix_reload_count(&cf), 4 + 1500); /* 1 4 5 9, the even 10..3008 */
	ck_assert_uint_eq(fix_reload_count(&cf), 4 + 1500);
	fix_rm_rf(f.tmp);
}
END_TEST

/* Enough sessions to grow the table a few times; deletes move entries back in probe runs. */
static void
write_sessions(struct fix *f)
{
	char id[16];

	for (unsigned i = 0; i < 5000; i++) {
		struct store_sess s = {id, 5, 10, 0, NULL};

		snprintf(id, sizeof(id), "s%u", i);
		store_sess_put(f->h, &s);
		fix_put_q(f->h, id, 1, "x");
	}
	for (unsigned i = 0; i < 5000; i += 3) {
		snprintf(id, sizeof(id), "s%u", i);
		store_sess_del(f->h, id);
	}
}

static int
count_sess(void *arg, const struct store_image *img)
{
	(void)img;
	(*(unsigned *)arg)++;
	return 0;
}

START_TEST(test_many_sessions)
{
	struct store_visitor v = {.image = count_sess};
	struct store_conf cf;
	struct store *st;
	char *err = NULL;
	unsigned n = 0;
	struct fix f;

	fix_init(&f);
	cf = fix_conf(&f, STORE_SYNC_NONE);
	fix_in_child(&f, &cf, write_sessions, false);
	ck_assert_uint_eq(fix_reload_count(&cf), 5000 - 1667);
	st = store_open(&cf, &err);
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(store_load(st, &v, &n), 0);
	ck_assert_uint_eq(n, 5000 - 1667);
	store_close(st);
	fix_rm_rf(f.tmp);
}
END_TEST

static void
write_both(struct fix *f)
{
	struct store_sess c1 = {"c1", 5, 100, 0, NULL};
	struct sl_msg *r = fix_msg("t/1", "one");

	store_sess_put(f->h, &c1);
	store_retain_put(f->h, r);
	sl_msg_unref(r);
}

/* cases: sessions only, retained only - a backend reports (and keeps) only its records */
START_TEST(test_kept_records)
{
	static const char *want[] = {"sess c1 v5 exp 100 at 0\n", "ret t/1=one\n"};
	struct store_conf cf;
	struct seen seen;
	char *err = NULL;
	struct fix f;
	void *be;

	fix_init(&f);
	cf = fix_conf(&f, STORE_SYNC_NONE);
	fix_in_child(&f, &cf, write_both, false);
	ck_assert_int_eq(store_file_ops.open(&cf, _i == 0, _i == 1, &be, &err), 0);
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(store_file_ops.load(be, &fix_be_visitor, &seen), 0);
	ck_assert_str_eq(fix_dump(&seen), want[_i]);
	store_file_ops.free(be);
	fix_rm_rf(f.tmp);
}
END_TEST

#define BIG 10000

/* One message queued for 100 sessions is written once in a snapshot. */
START_TEST(test_snapshot_shares_messages)
{
	struct store_conf cf;
	struct sl_msg *m;
	char *big, id[16], path[160];
	struct stat st;
	struct fix f;

	fix_init(&f);
	cf = fix_conf(&f, STORE_SYNC_NONE);
	big = sl_malloc(BIG + 1);
	memset(big, 'p', BIG);
	big[BIG] = '\0';
	m = fix_msg("q/t", big);
	fix_open(&f, &cf, NULL);
	for (unsigned i = 0; i < 100; i++) {
		struct store_q q = {.seq = 1, .qos = 1, .msg = m};
		struct store_sess s = {id, 5, 10, 0, NULL};

		snprintf(id, sizeof(id), "s%u", i);
		store_sess_put(f.h, &s);
		store_q_put(f.h, id, &q);
	}
	ck_assert_int_eq(fix_barrier(&f), 0);
	fix_close(&f);
	snprintf(path, sizeof(path), "%s/snap-0000000000000002", f.dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_lt(st.st_size, 2 * BIG);
	ck_assert_uint_eq(fix_reload_count(&cf), 100);
	sl_msg_unref(m);
	sl_free(big);
	fix_rm_rf(f.tmp);
}
END_TEST

START_TEST(test_crc32c)
{
	/* The check value of CRC-32C (RFC 3720 B.4 lists the same polynomial). */
	ck_assert_uint_eq(store_file_crc(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(store_file_crc(store_file_crc(0, "1234", 4), "56789", 5), 0xe3069283u);
	ck_assert_uint_eq(store_file_crc(0, "", 0), 0);
}
END_TEST

/* A log of every op kind, encoded as the backend does, then replayed byte by byte cut short:
 * every prefix replays up to its last whole record, never more, never a crash. */
START_TEST(test_scan_every_prefix)
{
	struct store_file_model m;
	struct store_file_scan sc;
	struct store_file_ids ids = {0};
	struct sl_buf b = SL_BUF_INIT;
	struct sl_msg *msg = fix_msg("a/b", "payload");
	struct store_op op = {.kind = SOP_Q_PUT, .key = "c1", .q = {.seq = 1, .msg = msg}};
	uint64_t records = 0;
	size_t ends[4];

	store_file_ids_reset(&ids);
	ck_assert_int_eq(store_file_put_head(&b, STORE_FILE_LOG, 7), 0);
	ends[0] = b.len;
	ck_assert_int_eq(store_file_put_op(&b, &ids, &op, &records), 0); /* MSG + Q_PUT */
	ends[1] = b.len;
	op = (struct store_op){.kind = SOP_Q_STATE, .key = "c1", .q = {.seq = 1, .state = 1}};
	ck_assert_int_eq(store_file_put_op(&b, &ids, &op, &records), 0);
	ends[2] = b.len;
	op = (struct store_op){.kind = SOP_RET_DEL, .key = "t"};
	ck_assert_int_eq(store_file_put_op(&b, &ids, &op, &records), 0);
	ends[3] = b.len;
	ck_assert_uint_eq(records, 4);
	for (size_t len = 0; len <= b.len; len++) {
		size_t want = 0;

		for (int i = 0; i < 4; i++)
			want = ends[i] <= len ? ends[i] : want;
		store_file_model_init(&m, true, true);
		ck_assert_int_eq(store_file_scan(&m, b.data, len, STORE_FILE_LOG, 7, &sc), 0);
		if (sc.good != want && !(want == ends[0] && sc.good > ends[0] && sc.good < ends[1]))
			ck_abort_msg("prefix %zu: good %zu, want %zu", len, sc.good, want);
		ck_assert(sc.why == NULL || len != want);
		store_file_model_fini(&m);
	}
	store_file_model_init(&m, true, true); /* another generation's log is not this one */
	ck_assert_int_eq(store_file_scan(&m, b.data, b.len, STORE_FILE_LOG, 8, &sc), 0);
	ck_assert_uint_eq(sc.good, 0);
	store_file_model_fini(&m);
	store_file_ids_fini(&ids);
	sl_buf_fini(&b);
	sl_msg_unref(msg);
}
END_TEST

/* Random bytes behind a valid header, checksums made right: malformed records stop the
 * replay; nothing crashes or leaks. */
START_TEST(test_scan_random_records)
{
	struct store_file_model m;
	struct store_file_scan sc;
	struct sl_buf b = SL_BUF_INIT;
	uint8_t body[64];

	srand(1234);
	for (int round = 0; round < 2000; round++) {
		b.len = 0;
		ck_assert_int_eq(store_file_put_head(&b, STORE_FILE_SNAP, 1), 0);
		for (int r = 0; r < 4; r++) {
			size_t at = b.len, n = 1 + (size_t)rand() % sizeof(body);
			uint32_t crc;

			for (size_t i = 0; i < n; i++)
				body[i] = (uint8_t)rand();
			body[0] = (uint8_t)(1 + rand() % 16);
			ck_assert_int_eq(sl_buf_append(&b, "\0\0\0\0\0\0\0\0", 8), 0);
			ck_assert_int_eq(sl_buf_append(&b, body, n), 0);
			for (int i = 0; i < 4; i++)
				b.data[at + i] = (uint8_t)(n >> (8 * i));
			crc = store_file_crc(store_file_crc(0, b.data + at, 4), body, n);
			for (int i = 0; i < 4; i++)
				b.data[at + 4 + i] = (uint8_t)(crc >> (8 * i));
		}
		store_file_model_init(&m, true, true);
		ck_assert_int_eq(store_file_scan(&m, b.data, b.len, STORE_FILE_SNAP, 1, &sc), 0);
		ck_assert_uint_le(sc.good, b.len);
		store_file_model_fini(&m);
	}
	sl_buf_fini(&b);
}
END_TEST

Suite *
store_file_model_suite(void)
{
	Suite *s = suite_create("store_file_model");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_queue_order_and_holes);
	tcase_add_test(tc, test_many_sessions);
	tcase_add_loop_test(tc, test_kept_records, 0, 2);
	tcase_add_test(tc, test_snapshot_shares_messages);
	tcase_add_test(tc, test_crc32c);
	tcase_add_test(tc, test_scan_every_prefix);
	tcase_add_test(tc, test_scan_random_records);
	suite_add_tcase(s, tc);
	return s;
}
