/* tests/unit/broker/test_owner.c - the session registry (broker/core/owner.h): one owner per
 * client id, release only by that owner, many ids, and where `pack` and `hash` place a new
 * session by the workers' load. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "broker/conf/conf.h"
#include "broker/core/broker.h"
#include "broker/core/owner.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"

static int
claim(struct owner_table *t, const char *id, uint32_t want, uint32_t *owner)
{
	return owner_claim(t, id, strlen(id), want, owner);
}

START_TEST(test_one_owner_per_id)
{
	struct owner_table *t = owner_new();
	uint32_t o;

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(claim(t, "a", 2, &o), 1);
	ck_assert_uint_eq(o, 2);
	ck_assert_int_eq(claim(t, "a", 3, &o), 0); /* taken: its owner, not the wish */
	ck_assert_uint_eq(o, 2);
	o = 9;
	ck_assert(owner_find(t, "a", 1, &o));
	ck_assert_uint_eq(o, 2);
	ck_assert(!owner_find(t, "b", 1, &o));
	owner_release(t, "a", 1, 3); /* not the owner: nothing happens */
	ck_assert_int_eq(claim(t, "a", 3, &o), 0);
	ck_assert_uint_eq(o, 2);
	owner_release(t, "a", 1, 2);
	ck_assert_uint_eq(owner_count(t), 0);
	ck_assert_int_eq(claim(t, "a", 3, &o), 1);
	ck_assert_uint_eq(o, 3);
	/* Ids are bytes: a prefix or a longer id is another id. */
	ck_assert_int_eq(owner_claim(t, "ab", 1, 0, &o), 0); /* "a" */
	ck_assert_int_eq(claim(t, "ab", 0, &o), 1);
	owner_free(t);
}
END_TEST

START_TEST(test_many_ids_grow_and_empty)
{
	struct owner_table *t = owner_new();
	char id[32];
	uint32_t o, i;

	for (i = 0; i < 200000; i++) {
		snprintf(id, sizeof(id), "client-%u", i);
		ck_assert_int_eq(claim(t, id, i % 4, &o), 1);
	}
	ck_assert_uint_eq(owner_count(t), 200000);
	for (i = 0; i < 200000; i += 997) {
		snprintf(id, sizeof(id), "client-%u", i);
		ck_assert_int_eq(claim(t, id, 9, &o), 0);
		ck_assert_uint_eq(o, i % 4);
	}
	for (i = 0; i < 200000; i++) {
		snprintf(id, sizeof(id), "client-%u", i);
		owner_release(t, id, strlen(id), i % 4);
	}
	ck_assert_uint_eq(owner_count(t), 0);
	owner_free(t);
}
END_TEST

/* Three workers with the given busy shares (per mille) under placement p. */
static uint32_t
place(const char *p, unsigned b0, unsigned b1, unsigned b2, const char *id)
{
	static struct worker w[3];
	static struct broker b;
	static struct conf cf;

	memset(&b, 0, sizeof(b));
	memset(&cf, 0, sizeof(cf));
	cf.worker_placement = (char *)p;
	atomic_init(&b.conf, &cf);
	b.workers = w;
	b.n_workers = 3;
	for (int i = 0; i < 3; i++) /* started: placement only picks among them here */
		atomic_store(&w[i].active, true);
	atomic_store(&w[0].busy_permille, b0);
	atomic_store(&w[1].busy_permille, b1);
	atomic_store(&w[2].busy_permille, b2);
	return owner_place(&b, id, strlen(id));
}

START_TEST(test_pack_fills_in_order_hash_spreads)
{
	ck_assert_uint_eq(place("pack", 0, 0, 0, "x"), 0);
	ck_assert_uint_eq(place("pack", 300, 0, 0, "x"), 0);
	ck_assert_uint_eq(place("pack", 500, 0, 0, "x"), 1);
	ck_assert_uint_eq(place("pack", 500, 400, 100, "x"), 2);
	ck_assert_uint_eq(place("pack", 900, 700, 800, "x"), 1); /* all busy: the least */
	/* hash: by id whatever the load, the same as the store's reload (worker_owner). */
	ck_assert_uint_eq(place("hash", 0, 0, 0, "x"), sess_hash("x") % 3);
	ck_assert_uint_eq(place("hash", 900, 900, 900, "client-7"), sess_hash("client-7") % 3);
}
END_TEST

Suite *
owner_suite(void)
{
	Suite *s = suite_create("owner");
	TCase *tc = tcase_create("owner");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_one_owner_per_id);
	tcase_add_test(tc, test_many_ids_grow_and_empty);
	tcase_add_test(tc, test_pack_fills_in_order_hash_spreads);
	suite_add_tcase(s, tc);
	return s;
}
